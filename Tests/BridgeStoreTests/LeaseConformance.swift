import BridgeCore
import BridgeStore
import Foundation
import Testing

/// The poller lease and the fencing of poll-cycle writes, on every engine.
@Suite("Store conformance: the poller lease")
struct LeaseConformance {
    @Test("one holder at a time: renewals keep the term, a takeover after expiry takes the next", arguments: StoreEngine.all)
    func oneHolderAtATime(engine: StoreEngine) async throws {
        try await withStore(engine) { fixture in
            let store = fixture.store
            #expect(try await store.pollerLease() == nil)
            let first = try #require(try await store.acquirePollerLease(holder: "a", now: t0, duration: .seconds(10)))
            #expect(first == PollerTerm(holder: "a", term: 1))
            // Another replica, while the lease lives: nothing, however often it asks.
            #expect(try await store.acquirePollerLease(holder: "b", now: at(5), duration: .seconds(10)) == nil)
            // The holder renews: same term, the lease runs from the renewal.
            #expect(try await store.acquirePollerLease(holder: "a", now: at(8), duration: .seconds(10)) == first)
            #expect(try await store.pollerLease() == PollerLeaseState(holder: "a", term: 1, expiresAt: at(18)))
            #expect(try await store.acquirePollerLease(holder: "b", now: at(17.9), duration: .seconds(10)) == nil)
            // Once it has run out, the other takes it with the next term, and the old holder is out.
            let second = try #require(try await store.acquirePollerLease(holder: "b", now: at(18), duration: .seconds(10)))
            #expect(second == PollerTerm(holder: "b", term: 2))
            #expect(try await store.acquirePollerLease(holder: "a", now: at(19), duration: .seconds(10)) == nil)
            // A release hands it over at once.
            try await store.releasePollerLease(second)
            #expect(try await store.acquirePollerLease(holder: "a", now: at(20), duration: .seconds(10)) == PollerTerm(holder: "a", term: 3))
            // Releasing a term that is not the current one changes nothing.
            try await store.releasePollerLease(second)
            #expect(try await store.acquirePollerLease(holder: "b", now: at(21), duration: .seconds(10)) == nil)
        }
    }

    @Test("a poll cycle's writes under a stale term are refused and write nothing; the current term's commit", arguments: StoreEngine.all)
    func staleTermIsFenced(engine: StoreEngine) async throws {
        try await withStore(engine) { fixture in
            let store = fixture.store
            _ = try await fixture.subscribe()
            try await fixture.watch("v1", "pending")
            try await fixture.watch("v2", "pending", now: at(-86_400))
            let eventsBefore = try await store.counts().events
            let old = try #require(try await store.acquirePollerLease(holder: "old", now: t0, duration: .seconds(10)))
            let new = try #require(try await store.acquirePollerLease(holder: "new", now: at(10), duration: .seconds(10)))
            #expect(new.term == old.term + 1)

            // The paused ex-leader wakes up mid-cycle: every write of its cycle is refused.
            await #expect(throws: StoreError.notLeader) {
                try await store.recordObservations([observe("v1", "finished")], now: at(11), nextPollAt: at(12), repeats: .always, fence: old)
            }
            await #expect(throws: StoreError.notLeader) {
                try await store.backOffPolling(videoIDs: ["v1"], now: at(11), interval: .seconds(1), maximum: .seconds(60), fence: old)
            }
            await #expect(throws: StoreError.notLeader) {
                try await store.expireTracking(startedBefore: at(-3600), now: at(11), limit: 10, fence: old)
            }
            #expect(try await store.counts().events == eventsBefore, "no event from the stale term")
            #expect(try await store.dueVideoIDs(now: at(11), limit: 10).sorted() == ["v1", "v2"], "nothing moved")

            // The leader's writes commit: one change, one expiry.
            let changed = try await store.recordObservations(
                [observe("v1", "finished")], now: at(11), nextPollAt: at(12), repeats: .always, fence: new
            )
            #expect(changed.events.map(\.type) == [.finished])
            let expired = try await store.expireTracking(startedBefore: at(-3600), now: at(11), limit: 10, fence: new)
            #expect(expired.events.map(\.videoID) == ["v2"])
            #expect(try await store.counts().events == eventsBefore + 2)
        }
    }

    @Test("a second store on the same database sees the same lease (a second replica or process)", arguments: StoreEngine.all)
    func leaseIsShared(engine: StoreEngine) async throws {
        try await withStore(engine) { fixture in
            try await fixture.watch("v1", "pending")
            let other = try await fixture.reopen()
            let term = try #require(try await fixture.store.acquirePollerLease(holder: "a", now: t0, duration: .seconds(10)))
            #expect(try await other.acquirePollerLease(holder: "b", now: at(1), duration: .seconds(10)) == nil)
            let taken = try #require(try await other.acquirePollerLease(holder: "b", now: at(10), duration: .seconds(10)))
            #expect(taken.term == term.term + 1)
            await #expect(throws: StoreError.notLeader) {
                try await fixture.store.recordObservations(
                    [observe("v1", "finished")], now: at(11), nextPollAt: at(12), repeats: .always, fence: term
                )
            }
            let report = try await other.recordObservations(
                [observe("v1", "finished")], now: at(11), nextPollAt: at(12), repeats: .always, fence: taken
            )
            #expect(report.events.count == 1, "exactly one replica's change became an event")
        }
    }
}
