import BridgeCore
import BridgeStore
import Foundation
import Testing

/// Subscriptions and the commands on them: scoping, hold and release, secrets and rotation, ping,
/// replay and retry, against every engine.
@Suite("Store conformance: subscriptions and commands")
struct SubscriptionConformance {
    @Test("create, read, page, update and delete, each scoped to its key", arguments: StoreEngine.all)
    func lifecycle(engine: StoreEngine) async throws {
        try await withStore(engine) { fixture in
            let store = fixture.store
            let created = try await fixture.subscribe(events: [.finished, .error], videoID: "v1")
            #expect(created.isEnabled && created.disabledReason == nil && created.createdAt == t0)
            #expect(created.eventTypes == [.finished, .error] && created.videoID == "v1")
            #expect(try await store.subscription(tenant: "acme", id: created.id) == created)
            #expect(try await store.subscription(tenant: "globex", id: created.id) == nil)
            for _ in 0..<4 { _ = try await fixture.subscribe() }
            let page1 = try await store.subscriptions(tenant: "acme", after: nil, limit: 3)
            let page2 = try await store.subscriptions(tenant: "acme", after: page1.last?.id, limit: 3)
            #expect(page1.count == 3 && page2.count == 2)
            #expect((page1 + page2).map(\.id) == (page1 + page2).map(\.id).sorted())
            #expect(try await store.subscriptions(tenant: "globex", after: nil, limit: 10).isEmpty)

            let updated = try #require(
                try await store.updateSubscription(
                    tenant: "acme", id: created.id, change: .init(url: "https://hooks.example.com/new", description: "renamed"), now: at(5)
                )
            )
            #expect(updated.url == "https://hooks.example.com/new" && updated.description == "renamed")
            #expect(updated.eventTypes == [.finished, .error], "nil leaves a field unchanged")
            #expect(updated.updatedAt == at(5) && updated.createdAt == t0)
            #expect(
                try await store.updateSubscription(tenant: "globex", id: created.id, change: .init(description: "x"), now: at(6)) == nil
            )
            #expect(try await !store.deleteSubscription(tenant: "globex", id: created.id))
            #expect(try await store.deleteSubscription(tenant: "acme", id: created.id))
            #expect(try await store.subscription(tenant: "acme", id: created.id) == nil)
            #expect(try await !store.deleteSubscription(tenant: "acme", id: created.id))
        }
    }

    @Test("deleting a subscription removes its deliveries, not the events", arguments: StoreEngine.all)
    func deleteRemovesDeliveries(engine: StoreEngine) async throws {
        try await withStore(engine) { fixture in
            let gone = try await fixture.subscribe()
            let kept = try await fixture.subscribe()
            try await fixture.watch("v1", "pending")
            try await fixture.store.deleteSubscription(tenant: "acme", id: gone.id)
            #expect(try await fixture.store.deliveries(tenant: "acme").map(\.subscriptionID) == [kept.id])
            #expect(try await fixture.store.events(tenant: "acme").count == 1)
        }
    }

    @Test("a disabled subscription's deliveries are held, never dropped; enabling releases them in order", arguments: StoreEngine.all)
    func holdAndRelease(engine: StoreEngine) async throws {
        try await withStore(engine) { fixture in
            let store = fixture.store
            let subscription = try await fixture.subscribe()
            #expect(try await store.setSubscriptionEnabled(tenant: "acme", id: subscription.id, enabled: false, now: at(1)))
            #expect(try await !store.setSubscriptionEnabled(tenant: "globex", id: subscription.id, enabled: true, now: at(1)))
            let disabled = try #require(try await store.subscription(tenant: "acme", id: subscription.id))
            #expect(!disabled.isEnabled && disabled.disabledReason == "disabled by request")
            try await fixture.watch("v1", "pending", now: at(2))
            try await store.recordObservations([observe("v1", "finished")], now: at(3), nextPollAt: at(4))
            #expect(try await store.deliveries(tenant: "acme").map(\.state) == [.held, .held])
            #expect(try await fixture.claimAll(now: at(10)).isEmpty)

            let wakeUps = store.deliveryWakeUps()
            #expect(try await store.setSubscriptionEnabled(tenant: "acme", id: subscription.id, enabled: true, now: at(20)))
            #expect(await nextWakeUp(wakeUps) != nil)
            #expect(try await store.subscription(tenant: "acme", id: subscription.id)?.disabledReason == nil)
            let first = try await fixture.claimAll(now: at(20))
            #expect(first.map(\.eventType) == [.pending], "in their order: the second waits behind the first")
            try await fixture.complete(first, .succeeded, now: at(21))
            #expect(try await fixture.claimAll(now: at(21)).map(\.eventType) == [.finished])
        }
    }

    @Test("secrets come back in claims; a rotation signs with both, newest first, until the grace ends", arguments: StoreEngine.all)
    func secretRotation(engine: StoreEngine) async throws {
        try await withStore(engine) { fixture in
            let store = fixture.store
            let subscription = try await fixture.subscribe(secret: "whsec_old")
            #expect(try await store.rotateSecret(tenant: "acme", subscriptionID: subscription.id, newSecret: "whsec_new", grace: .seconds(3600), now: at(10)))
            #expect(try await !store.rotateSecret(tenant: "globex", subscriptionID: subscription.id, newSecret: "whsec_x", grace: .zero, now: at(10)))
            try await fixture.watch("a", "pending", now: at(20))
            let during = try await fixture.claimAll(now: at(20))
            #expect(during.first?.secrets == ["whsec_new", "whsec_old"])
            try await fixture.complete(during, .succeeded, now: at(21))
            try await fixture.watch("b", "pending", now: at(3611))
            let after = try await fixture.claimAll(now: at(3611))
            #expect(after.first?.secrets == ["whsec_new"])
            // A second rotation: the expired secret is gone, the replaced one signs beside the newest for its grace.
            #expect(try await store.rotateSecret(tenant: "acme", subscriptionID: subscription.id, newSecret: "whsec_3", grace: .seconds(60), now: at(3700)))
            try await fixture.complete(after, .succeeded, now: at(3700))
            try await fixture.watch("c", "pending", now: at(3701))
            #expect(try await fixture.claimAll(now: at(3701)).first?.secrets == ["whsec_3", "whsec_new"])
        }
    }

    @Test("custom headers come back in clear in claims only: masked on reads, replaced whole by a change", arguments: StoreEngine.all)
    func customHeaders(engine: StoreEngine) async throws {
        try await withStore(engine) { fixture in
            let store = fixture.store
            let token = CustomHeader(name: "Authorization", value: "Bearer gateway-token-0123456789")
            let short = CustomHeader(name: "X-Tenant", value: "blue")
            let created = try await store.createSubscription(
                NewSubscription(tenant: "acme", url: "https://hooks.example.com/in", secret: "whsec_test", headers: [token, short]), now: t0
            )
            let masked = [CustomHeader(name: "Authorization", value: "****6789"), CustomHeader(name: "X-Tenant", value: "****")]
            #expect(created.headers == masked)
            #expect(try await store.subscription(tenant: "acme", id: created.id)?.headers == masked)
            #expect(try await store.subscriptions(tenant: "acme", after: nil, limit: 10).first?.headers == masked)
            let plain = try await fixture.subscribe()
            #expect(plain.headers.isEmpty)

            try await fixture.watch("v1", "pending", now: at(1))
            let claimed = try await fixture.claimAll(now: at(1))
            #expect(claimed.first { $0.subscriptionID == created.id }?.headers == [token, short])
            #expect(claimed.first { $0.subscriptionID == plain.id }?.headers == [])
            try await fixture.complete(claimed, .succeeded, now: at(2))

            let other = CustomHeader(name: "X-Other", value: "1")
            let changed = try await store.updateSubscription(tenant: "acme", id: created.id, change: .init(headers: [other]), now: at(3))
            #expect(changed?.headers == [other.masked])
            let kept = try await store.updateSubscription(tenant: "acme", id: created.id, change: .init(description: "d"), now: at(4))
            #expect(kept?.headers == [other.masked], "a change without headers keeps them")
            try await fixture.watch("v2", "pending", now: at(5))
            let next = try await fixture.claimAll(now: at(5))
            #expect(next.first { $0.subscriptionID == created.id }?.headers == [other])
            try await fixture.complete(next, .succeeded, now: at(6))

            _ = try await store.updateSubscription(tenant: "acme", id: created.id, change: .init(headers: []), now: at(7))
            #expect(try await store.subscription(tenant: "acme", id: created.id)?.headers == [])
            try await fixture.watch("v3", "pending", now: at(8))
            #expect(try await fixture.claimAll(now: at(8)).first { $0.subscriptionID == created.id }?.headers == [])
        }
    }

    @Test("a ping is an event of its subscription only, queued at once, held when disabled", arguments: StoreEngine.all)
    func ping(engine: StoreEngine) async throws {
        try await withStore(engine) { fixture in
            let store = fixture.store
            let target = try await fixture.subscribe()
            let other = try await fixture.subscribe()
            let events = store.eventWakeUps()
            let event = try #require(try await store.ping(tenant: "acme", subscriptionID: target.id, now: at(5)))
            #expect(await nextWakeUp(events) != nil)
            #expect(event.type == .ping && event.videoID == nil && event.tenant == "acme")
            #expect(event.payload.contains(target.id))
            #expect(try await store.deliveries(tenant: "acme").map(\.subscriptionID) == [target.id])
            #expect(try await store.ping(tenant: "globex", subscriptionID: target.id, now: at(5)) == nil)
            try await store.setSubscriptionEnabled(tenant: "acme", id: other.id, enabled: false, now: at(6))
            _ = try await store.ping(tenant: "acme", subscriptionID: other.id, now: at(7))
            #expect(try await store.deliveries(tenant: "acme", subscriptionID: other.id).map(\.state) == [.held])
        }
    }

    /// The contract's bounded replay: at most `limit` per call, `more` while matching events are left,
    /// never a second open delivery of one event to one subscription, pings only its own.
    @Test("replay is bounded per call, says when more is left, and never queues an event twice", arguments: StoreEngine.all)
    func boundedReplay(engine: StoreEngine) async throws {
        try await withStore(engine) { fixture in
            let store = fixture.store
            let subscription = try await fixture.subscribe(url: "https://hooks.example.com/a")
            let other = try await fixture.subscribe(url: "https://hooks.example.com/b")
            for index in 0..<24 { try await fixture.watch("v\(index)", "finished") }
            _ = try await store.ping(tenant: "acme", subscriptionID: subscription.id, now: t0)
            _ = try await store.ping(tenant: "acme", subscriptionID: other.id, now: t0)
            // Everything delivered once: nothing open, so all 24 events and this subscription's ping match.
            try await fixture.deliverEverything(now: at(1))
            var rounds: [(Int, Bool)] = []
            for _ in 0..<4 {
                let round = try #require(try await store.replay(tenant: "acme", subscriptionID: subscription.id, since: t0, now: at(2), limit: 10))
                rounds.append((round.queued, round.more))
            }
            #expect(rounds.map(\.0) == [10, 10, 5, 0] && rounds.map(\.1) == [true, true, false, false], "\(rounds)")
            let open = try await store.deliveries(tenant: "acme", subscriptionID: subscription.id, state: .pending, limit: 1000)
            #expect(open.count == 25 && Set(open.map(\.eventID)).count == 25, "each event once")
            #expect(open.filter { $0.eventType == .ping }.count == 1, "its own ping, not the other subscription's")
            #expect(try await store.replay(tenant: "globex", subscriptionID: subscription.id, since: t0, now: at(2), limit: 10) == nil)
        }
    }

    @Test("replay takes only events since the time and the subscription's filters", arguments: StoreEngine.all)
    func replayFilters(engine: StoreEngine) async throws {
        try await withStore(engine) { fixture in
            let store = fixture.store
            let finishedOfA = try await fixture.subscribe(events: [.finished], videoID: "a")
            try await fixture.watch("a", "pending", now: at(1))
            try await store.recordObservations([observe("a", "finished")], now: at(100), nextPollAt: at(101))
            try await fixture.watch("b", "finished", now: at(100))
            try await fixture.deliverEverything(now: at(200))
            let replayed = try #require(try await store.replay(tenant: "acme", subscriptionID: finishedOfA.id, since: at(50), now: at(300), limit: 100))
            #expect(replayed.queued == 1 && !replayed.more)
            let open = try await store.deliveries(tenant: "acme", state: .pending)
            #expect(open.map(\.videoID) == ["a"] && open.map(\.eventType) == [.finished])
        }
    }

    @Test("retry makes a finished delivery due now with a fresh schedule; not while it is being sent", arguments: StoreEngine.all)
    func retryDelivery(engine: StoreEngine) async throws {
        try await withStore(engine) { fixture in
            let store = fixture.store
            _ = try await fixture.subscribe()
            try await fixture.watch("v1", "pending")
            let claimed = try await fixture.claimAll(now: at(1), lease: .seconds(60))
            let id = try #require(claimed.first).id
            #expect(try await store.retryDelivery(tenant: "acme", id: id, now: at(2)) == false, "in flight")
            try await fixture.complete(claimed, .failed, status: 500, now: at(3))
            #expect(try await store.retryDelivery(tenant: "globex", id: id, now: at(4)) == nil)
            let wakeUps = store.deliveryWakeUps()
            #expect(try await store.retryDelivery(tenant: "acme", id: id, now: at(4)) == true)
            #expect(await nextWakeUp(wakeUps) != nil)
            let again = try await fixture.claimAll(now: at(4))
            #expect(again.map(\.id) == [id] && again.first?.attemptNumber == 1)
        }
    }
}
