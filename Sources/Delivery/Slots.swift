import BridgeStore
import Webhooks

/// The dispatcher's slots and the deliveries it claimed ahead of them: which claimed delivery starts
/// when a slot frees, within the per-subscription cap on the wire, and which ones waited so long
/// that their lease could run out under an attempt (they are given back instead).
struct Slots {
    /// A claimed delivery waiting for a slot: its signing keys, and when it was claimed (dispatcher
    /// uptime).
    struct Waiting {
        var delivery: ClaimedDelivery
        var keys: [WebhookSigner.Key]
        var claimedAt: Duration
    }

    /// Attempts on the wire at once.
    let concurrency: Int
    /// How long a claimed delivery may wait for a slot (see ``DispatcherConfiguration/longestQueueWait``).
    let longestWait: Duration
    /// Claimed and not started, in claim order.
    private(set) var waiting: [Waiting] = []
    /// Attempts on the wire.
    private(set) var running = 0
    /// Attempts on the wire per subscription, against the per-subscription limit.
    private(set) var onWire: InFlightCap

    init(concurrency: Int, perSubscription: Int, longestWait: Duration) {
        self.concurrency = concurrency
        self.longestWait = longestWait
        onWire = InFlightCap(limit: perSubscription)
    }

    /// Leases held by claimed deliveries: on the wire or waiting.
    var busy: Int { running + waiting.count }

    mutating func enqueue(_ item: Waiting) { waiting.append(item) }

    /// Takes the first waiting delivery whose subscription has room on the wire, if a slot is free, and
    /// counts it as running. Those passed on the way that waited longer than `longestWait` (at `now`)
    /// are taken out into `expired`.
    mutating func next(now: Duration, expired: inout [ClaimedDelivery]) -> Waiting? {
        guard running < concurrency else { return nil }
        var index = 0
        while index < waiting.count {
            let item = waiting[index]
            if now - item.claimedAt > longestWait {
                waiting.remove(at: index)
                expired.append(item.delivery)
                continue
            }
            if onWire.hasRoom(for: item.delivery.subscriptionID) {
                waiting.remove(at: index)
                running += 1
                onWire.add(item.delivery.subscriptionID)
                return item
            }
            index += 1
        }
        return nil
    }

    /// An attempt of `subscriptionID` has ended: its slot is free.
    mutating func finished(_ subscriptionID: String) {
        running -= 1
        onWire.remove(subscriptionID)
    }

    /// Takes out every waiting delivery (shutdown: they are given back unsent).
    mutating func drain() -> [ClaimedDelivery] {
        defer { waiting.removeAll() }
        return waiting.map(\.delivery)
    }
}
