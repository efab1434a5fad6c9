import BridgeCore
import BridgeStore
import Foundation
import Testing

/// What operators read (the console and `GET /v1/health`): delivery lists by video, newest first with
/// their last attempt, a key's queue and recent success per subscription, the poller's last cycle.
@Suite("Store conformance: operator reads")
struct HealthConformance {
    @Test("deliveries filter by video, page newest first by cursor, and carry their newest attempt", arguments: StoreEngine.all)
    func deliveryQueries(engine: StoreEngine) async throws {
        try await withStore(engine) { fixture in
            let subscription = try await fixture.subscribe()
            for id in ["a", "b", "c"] { try await fixture.watch(id, "pending") }
            try await fixture.watch("a", "pending", tenant: "globex")
            _ = try await fixture.subscribe(tenant: "globex")
            try await fixture.store.recordObservations([observe("a", "finished")], now: at(1), nextPollAt: at(2))
            let store = fixture.store

            let oldest = try await store.deliveries(tenant: "acme", matching: DeliveryQuery(), after: nil, limit: 10)
            #expect(oldest.map(\.videoID) == ["a", "b", "c", "a"])
            let newest = try await store.deliveries(tenant: "acme", matching: DeliveryQuery(newestFirst: true), after: nil, limit: 2)
            #expect(newest.map(\.id) == oldest.reversed().prefix(2).map(\.id))
            let older = try await store.deliveries(tenant: "acme", matching: DeliveryQuery(newestFirst: true), after: newest.last?.id, limit: 10)
            #expect(older.map(\.id) == oldest.reversed().dropFirst(2).map(\.id), "the cursor pages towards older ones")

            let ofA = try await store.deliveries(tenant: "acme", matching: DeliveryQuery(videoID: "a"), after: nil, limit: 10)
            #expect(ofA.map(\.eventType) == [.pending, .finished] && ofA.allSatisfy { $0.tenant == "acme" }, "globex's copy of a is not acme's")
            let both = DeliveryQuery(subscriptionID: subscription.id, state: .pending, videoID: "b")
            #expect(try await store.deliveries(tenant: "acme", matching: both, after: nil, limit: 10).map(\.videoID) == ["b"])
            #expect(try await store.deliveries(tenant: "acme", matching: DeliveryQuery(videoID: "zzz"), after: nil, limit: 10).isEmpty)

            // The newest attempt comes with the row; none before the first.
            #expect(oldest.allSatisfy { $0.lastAttempt == nil })
            let claimed = try await fixture.claimAll(now: at(2))
            let first = try #require(claimed.first { $0.videoID == "b" })
            try await store.completeAttempts(
                [attempt(first, .retry(at: at(3)), status: 503, now: at(2), snippet: "busy")], now: at(2), disableAfter: .seconds(86_400)
            )
            let again = try #require(try await fixture.claimAll(now: at(3)).first { $0.id == first.id })
            try await store.completeAttempts(
                [attempt(again, .succeeded, status: 204, now: at(4), snippet: "")], now: at(4), disableAfter: .seconds(86_400)
            )
            let listed = try #require(
                try await store.deliveries(tenant: "acme", matching: DeliveryQuery(videoID: "b"), after: nil, limit: 1).first
            )
            #expect(listed.lastAttempt?.statusCode == 204 && listed.lastAttempt?.attemptedAt == at(4))
            let (detail, attempts) = try #require(try await store.delivery(tenant: "acme", id: first.id))
            #expect(detail.lastAttempt == attempts.last && attempts.count == 2)
        }
    }

    @Test("a key's health: its open deliveries, the oldest pending one, attempts and 2xx per subscription in the window", arguments: StoreEngine.all)
    func tenantHealth(engine: StoreEngine) async throws {
        try await withStore(engine) { fixture in
            let store = fixture.store
            let good = try await fixture.subscribe(url: "https://hooks.example.com/good")
            let flaky = try await fixture.subscribe(url: "https://hooks.example.com/flaky")
            _ = try await fixture.subscribe(tenant: "globex")
            try await fixture.watch("v1", "pending", now: at(0))
            try await fixture.watch("v2", "pending", now: at(5))
            try await fixture.watch("other", "pending", tenant: "globex", now: at(0))

            var health = try await store.health(tenant: "acme", since: at(-3600))
            #expect(health.pending == 4 && health.held == 0, "2 videos × 2 subscriptions; globex's are not counted")
            #expect(health.oldestPendingAt == at(0))
            #expect(health.activity.isEmpty)

            // Old attempts fall out of the window; 2xx count as succeeded, anything else does not.
            let claimed = try await fixture.claimAll(now: at(10))
            let outcomes = claimed.map { delivery -> CompletedAttempt in
                if delivery.subscriptionID == good.id { return attempt(delivery, .succeeded, status: 200, now: at(10)) }
                return delivery.videoID == "v1"
                    ? attempt(delivery, .retry(at: at(20)), status: 500, now: at(10))
                    : attempt(delivery, .succeeded, status: 204, now: at(10))
            }
            try await store.completeAttempts(outcomes, now: at(10), disableAfter: .seconds(86_400))
            let earlier = try await fixture.claimAll(now: at(20))
            try await store.completeAttempts(
                earlier.map { attempt($0, .retry(at: at(100)), status: nil, now: at(20)) }, now: at(20), disableAfter: .seconds(86_400)
            )
            health = try await store.health(tenant: "acme", since: at(0))
            #expect(health.activity[good.id] == SubscriptionActivity(attempts: 2, succeeded: 2, lastAttemptAt: at(10)))
            #expect(health.activity[flaky.id] == SubscriptionActivity(attempts: 3, succeeded: 1, lastAttemptAt: at(20)))
            #expect(health.pending == 1, "flaky's v1 is still pending")
            #expect(health.oldestPendingAt == at(0))
            let later = try await store.health(tenant: "acme", since: at(15))
            #expect(later.activity[flaky.id] == SubscriptionActivity(attempts: 1, succeeded: 0, lastAttemptAt: at(20)))
            #expect(later.activity[good.id] == nil)

            try await store.setSubscriptionEnabled(tenant: "acme", id: flaky.id, enabled: false, now: at(30))
            health = try await store.health(tenant: "acme", since: at(0))
            #expect(health.pending == 0 && health.held == 1)
        }
    }

    @Test("the poller's last cycle is recorded with its lease and kept by renewals that carry none", arguments: StoreEngine.all)
    func lastPollCycle(engine: StoreEngine) async throws {
        try await withStore(engine) { fixture in
            let store = fixture.store
            #expect(try await store.health(tenant: "acme", since: t0).lastPollCycleAt == nil)
            _ = try #require(try await store.acquirePollerLease(holder: "a", now: at(0), duration: .seconds(10), lastCycle: nil))
            #expect(try await store.health(tenant: "acme", since: t0).lastPollCycleAt == nil)
            _ = try #require(try await store.acquirePollerLease(holder: "a", now: at(1), duration: .seconds(10), lastCycle: at(0.5)))
            #expect(try await store.health(tenant: "acme", since: t0).lastPollCycleAt == at(0.5))
            #expect(try await store.pollerLease()?.lastCycleAt == at(0.5))
            _ = try #require(try await store.acquirePollerLease(holder: "a", now: at(2), duration: .seconds(10), lastCycle: nil))
            #expect(try await store.pollerLease()?.lastCycleAt == at(0.5), "a renewal without a cycle keeps the time")
            // Another holder may not write it while the lease is live.
            #expect(try await store.acquirePollerLease(holder: "b", now: at(3), duration: .seconds(10), lastCycle: at(3)) == nil)
            #expect(try await store.pollerLease()?.lastCycleAt == at(0.5))
        }
    }
}
