import BridgeCore
import BridgeStore
@testable import Delivery
import Testing

/// The choice a freed slot makes among the deliveries claimed ahead, on given times (no clock, no I/O).
@Suite("Dispatcher slots")
struct SlotsTests {
    func waiting(_ id: Int64, _ subscription: String, at claimedAt: Duration = .zero) -> Slots.Waiting {
        let delivery = ClaimedDelivery(
            id: id, eventID: "evt_\(id)", eventType: .finished, payload: "{}", subscriptionID: subscription, tenant: "acme",
            url: "https://hooks.example.com/\(subscription)", secrets: [], attemptNumber: 1, claimID: "c.1"
        )
        return Slots.Waiting(delivery: delivery, keys: [], claimedAt: claimedAt)
    }

    @Test("a free slot takes the first claimed delivery whose subscription has room on the wire, in claim order")
    func claimOrderWithinTheCap() {
        var slots = Slots(concurrency: 2, perSubscription: 1, longestWait: .seconds(20))
        for item in [waiting(1, "a"), waiting(2, "a"), waiting(3, "b"), waiting(4, "b")] { slots.enqueue(item) }
        var expired: [ClaimedDelivery] = []
        #expect(slots.next(now: .seconds(1), expired: &expired)?.delivery.id == 1)
        // "a" is at its cap on the wire: its second delivery waits, "b"'s first goes.
        #expect(slots.next(now: .seconds(1), expired: &expired)?.delivery.id == 3)
        #expect(slots.next(now: .seconds(1), expired: &expired) == nil, "both slots are busy")
        #expect(slots.running == 2 && slots.busy == 4)
        slots.finished("b")
        #expect(slots.next(now: .seconds(1), expired: &expired)?.delivery.id == 4, "b's slot goes to b's next; a is still full")
        #expect(slots.next(now: .seconds(1), expired: &expired) == nil, "both slots are busy again")
        slots.finished("a")
        #expect(slots.next(now: .seconds(1), expired: &expired)?.delivery.id == 2)
        #expect(slots.next(now: .seconds(1), expired: &expired) == nil, "nothing left")
        #expect(expired.isEmpty && slots.busy == 2)
    }

    @Test("a claimed delivery that waited longer than its lease allows is given back, not started")
    func waitedTooLong() {
        var slots = Slots(concurrency: 1, perSubscription: 8, longestWait: .seconds(20))
        slots.enqueue(waiting(1, "a", at: .zero))
        slots.enqueue(waiting(2, "a", at: .seconds(15)))
        var expired: [ClaimedDelivery] = []
        // At 20 s the first is just within its wait.
        let first = slots.next(now: .seconds(20), expired: &expired)
        #expect(first?.delivery.id == 1 && expired.isEmpty)
        slots.finished("a")
        slots.enqueue(waiting(3, "a", at: .seconds(30)))
        // At 36 s the second has waited 21 s: given back; the third starts.
        #expect(slots.next(now: .seconds(36), expired: &expired)?.delivery.id == 3)
        #expect(expired.map(\.id) == [2])
    }

    @Test("on shutdown every delivery not started is taken out to be given back")
    func drain() {
        var slots = Slots(concurrency: 1, perSubscription: 8, longestWait: .seconds(20))
        for item in [waiting(1, "a"), waiting(2, "b"), waiting(3, "a")] { slots.enqueue(item) }
        var expired: [ClaimedDelivery] = []
        _ = slots.next(now: .zero, expired: &expired)
        #expect(slots.drain().map(\.id) == [2, 3])
        #expect(slots.busy == 1, "the running attempt still holds its lease")
    }
}
