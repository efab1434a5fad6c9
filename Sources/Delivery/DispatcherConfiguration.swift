public import Webhooks

/// Tuning of the dispatcher; defaults follow the contract.
public struct DispatcherConfiguration: Sendable {
    /// Attempts in flight at once (`BRIDGE_DELIVERY_CONCURRENCY`).
    public var concurrency: Int
    /// In-flight cap per subscription, so one slow receiver cannot occupy every slot.
    public var perSubscriptionLimit: Int
    /// Time a receiver has to answer (`BRIDGE_DELIVERY_TIMEOUT`).
    public var timeout: Duration
    public var retrySchedule: RetrySchedule
    /// Failing without a success this long disables the subscription (`BRIDGE_DISABLE_AFTER`).
    public var disableAfter: Duration
    /// Upper bound on a receiver's `Retry-After`.
    public var maxRetryAfter: Duration
    public var destinations: DestinationPolicy
    /// Longest sleep with nothing due, as a safety net next to the wake-up signal and the due-row timer.
    public var maxIdleWait: Duration
    /// Bytes of each response kept with the attempt.
    public var responseSnippetBytes: Int

    public init(
        concurrency: Int = 64,
        perSubscriptionLimit: Int? = nil,
        timeout: Duration = .seconds(10),
        retrySchedule: RetrySchedule = RetrySchedule([0, 5, 300, 1800, 7200, 18_000, 36_000, 36_000].map { .seconds($0) }),
        disableAfter: Duration = .seconds(5 * 86_400),
        maxRetryAfter: Duration = .seconds(3600),
        destinations: DestinationPolicy = DestinationPolicy(allowPrivate: false),
        maxIdleWait: Duration = .seconds(60),
        responseSnippetBytes: Int = 1024
    ) {
        self.concurrency = max(1, concurrency)
        self.perSubscriptionLimit = perSubscriptionLimit ?? max(8, concurrency / 4)
        self.timeout = timeout
        self.retrySchedule = retrySchedule
        self.disableAfter = disableAfter
        self.maxRetryAfter = maxRetryAfter
        self.destinations = destinations
        self.maxIdleWait = maxIdleWait
        self.responseSnippetBytes = responseSnippetBytes
    }

    /// Free leases that trigger a claim while deliveries are leased.
    var claimBatch: Int { max(1, min(16, concurrency / 4)) }

    /// Deliveries leased at once: the slots' attempts plus three times as many claimed ahead, so a slot
    /// whose attempt ends starts the next delivery without waiting for the store's writer, and one
    /// writer transaction records and claims whatever finished while the previous one ran. Against
    /// one as many again (twice the slots), 10,000 × 4 to nginx went from 9,685–10,315 to
    /// 10,920–11,386 deliveries/s (3 paired runs, BENCHMARKS.md); a claimed delivery is a few
    /// hundred bytes.
    var leaseCapacity: Int { concurrency * 4 }

    /// Leases per subscription, on the wire or claimed ahead (the cap the claim enforces, across
    /// replicas); at most `perSubscriptionLimit` of them are on the wire in one process. Four times, as
    /// the slots: with fewer (three times: 5,237 / 5,222 deliveries/s against 9,339 / 9,268 for
    /// 10,000 × 4) the subscriptions' caps add up to less than `leaseCapacity`, free capacity never
    /// runs out, and every finished attempt makes a turn of its own. The cost: claimed deliveries start
    /// in up to three waves behind their subscription's attempts, so for a receiver slower than ⅔ of
    /// the timeout the last wave waits past ``longestQueueWait`` and is given back and claimed again.
    var leasesPerSubscription: Int { perSubscriptionLimit * 4 }

    /// How long a claimed delivery may wait for a slot: any longer and its lease could run out before
    /// its attempt times out, so it is released instead (only behind a subscription's own slow attempts).
    var longestQueueWait: Duration { leaseDuration - timeout - .seconds(5) }

    /// A lease outlives the longest possible attempt three times over, so it only runs out when its
    /// holder died (a queue whose visibility timeout is shorter than the HTTP timeout sends twice).
    var leaseDuration: Duration { timeout * 3 + .seconds(5) }
}
