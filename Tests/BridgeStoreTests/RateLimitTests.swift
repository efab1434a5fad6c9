import BridgeStore
import Foundation
import Testing

/// The token bucket behind `rate_limit`, on times the test gives.
@Suite("Rate limit bucket")
struct RateLimitTests {
    /// The offset between two of the test's own instants, in whole milliseconds.
    static func millisecondsAfter(_ start: Date, _ instant: Date) -> Int {
        Int(((instant.timeIntervalSince1970 - start.timeIntervalSince1970) * 1000).rounded())
    }

    @Test("limits outside 1...10000 are refused; the burst is a tenth of a second's worth, at least one")
    func bounds() {
        #expect(RateLimit(perSecond: 0) == nil && RateLimit(perSecond: 10_001) == nil && RateLimit(perSecond: -1) == nil)
        #expect(RateLimit(perSecond: 1)?.burst == 1 && RateLimit(perSecond: 5)?.burst == 1)
        #expect(RateLimit(perSecond: 50)?.burst == 5 && RateLimit(perSecond: 10_000)?.burst == 1000)
    }

    @Test("a full bucket gives its burst at once, then one per interval; idle time saves up no more than the burst")
    func spacing() throws {
        let limit = try #require(RateLimit(perSecond: 50))
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let burst = limit.take(100, readyAt: nil, now: start)
        #expect(burst.granted == 5)
        let ready = try #require(burst.readyAt)
        #expect(Self.millisecondsAfter(start, ready) == 20, "the next may leave 20 ms later")
        #expect(limit.take(100, readyAt: ready, now: start.addingTimeInterval(0.019)).granted == 0)
        #expect(limit.take(100, readyAt: ready, now: start.addingTimeInterval(0.021)).granted == 1)
        #expect(limit.take(100, readyAt: ready, now: start.addingTimeInterval(60)).granted == 5, "at most the burst after a long wait")
        #expect(limit.take(2, readyAt: nil, now: start).granted == 2, "never more than asked")

        // Over one simulated second, taking at every millisecond: the burst plus the rate.
        var readyAt: Date?
        var sent = 0
        for millisecond in 0..<1000 {
            let now = start.addingTimeInterval(Double(millisecond) / 1000)
            let turn = limit.take(100, readyAt: readyAt, now: now)
            sent += turn.granted
            readyAt = turn.readyAt
        }
        #expect((54...55).contains(sent), "\(sent)")
    }

    @Test("one claim's budgets: limited subscriptions take from their bucket, others are never held, give-backs return a slot")
    func budgets() {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        var budgets = RateBudgets(now: now)
        var freeTaken = 0
        for _ in 0..<20 where budgets.take("free", perSecond: nil, readyAt: nil) { freeTaken += 1 }
        #expect(freeTaken == 20)
        let twice = [budgets.take("slow", perSecond: 20, readyAt: nil), budgets.take("slow", perSecond: 20, readyAt: nil)]
        let third = budgets.take("slow", perSecond: 20, readyAt: nil)
        #expect(twice == [true, true] && !third, "a burst of two at 20/s")
        #expect(budgets.exhausted == ["slow"])
        budgets.giveBack("slow")
        #expect(budgets.exhausted.isEmpty)
        let again = budgets.take("slow", perSecond: 20, readyAt: nil)
        #expect(again, "the slot given back")
        let early = budgets.take("later", perSecond: 20, readyAt: now.addingTimeInterval(1))
        #expect(!early, "not ready yet")
        #expect(budgets.updates.map(\.subscriptionID) == ["slow"], "only subscriptions that sent get a new ready time")
        #expect(budgets.updates.first.map { Self.millisecondsAfter(now, $0.readyAt) } == 50, "two sent at 20/s: the next in 50 ms")
    }
}
