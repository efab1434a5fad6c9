import BridgeCore
import BridgeStore
import Foundation
import Testing

/// Idempotency records, per-key limits and retention, against every engine.
@Suite("Store conformance: idempotency, limits and retention")
struct RecordsConformance {
    @Test("an idempotency key is new once, in progress until completed, then its response; another request is a mismatch", arguments: StoreEngine.all)
    func idempotencyRecords(engine: StoreEngine) async throws {
        try await withStore(engine) { fixture in
            let store = fixture.store
            let day = Duration.seconds(86_400)
            #expect(try await store.claimIdempotencyKey(tenant: "acme", key: "k1", requestHash: "h1", ttl: day, now: t0) == .new)
            #expect(try await store.claimIdempotencyKey(tenant: "acme", key: "k1", requestHash: "h1", ttl: day, now: at(1)) == .inProgress)
            #expect(try await store.claimIdempotencyKey(tenant: "acme", key: "k1", requestHash: "h2", ttl: day, now: at(1)) == .mismatch)
            #expect(try await store.claimIdempotencyKey(tenant: "globex", key: "k1", requestHash: "h2", ttl: day, now: at(1)) == .new, "keys are per caller")
            let body = Data(#"{"data":{"video_id":"v1"}}"#.utf8)
            try await store.completeIdempotencyKey(tenant: "acme", key: "k1", status: 200, contentType: "application/json", body: body)
            #expect(
                try await store.claimIdempotencyKey(tenant: "acme", key: "k1", requestHash: "h1", ttl: day, now: at(2))
                    == .completed(status: 200, contentType: "application/json", body: body)
            )
            // Read back by a second store too (what was sealed opens again), and expired after the ttl.
            let restarted = try await fixture.reopen()
            #expect(
                try await restarted.claimIdempotencyKey(tenant: "acme", key: "k1", requestHash: "h1", ttl: day, now: at(3))
                    == .completed(status: 200, contentType: "application/json", body: body)
            )
            #expect(try await restarted.claimIdempotencyKey(tenant: "acme", key: "k1", requestHash: "h9", ttl: day, now: at(86_401)) == .new)
        }
    }

    @Test("releasing an unfinished key lets a retry run; a completed key is kept", arguments: StoreEngine.all)
    func idempotencyRelease(engine: StoreEngine) async throws {
        try await withStore(engine) { fixture in
            let store = fixture.store
            let day = Duration.seconds(86_400)
            _ = try await store.claimIdempotencyKey(tenant: "acme", key: "k1", requestHash: "h", ttl: day, now: t0)
            try await store.releaseIdempotencyKey(tenant: "acme", key: "k1")
            #expect(try await store.claimIdempotencyKey(tenant: "acme", key: "k1", requestHash: "h", ttl: day, now: at(1)) == .new)
            try await store.completeIdempotencyKey(tenant: "acme", key: "k1", status: 201, contentType: nil, body: Data())
            try await store.releaseIdempotencyKey(tenant: "acme", key: "k1")
            #expect(
                try await store.claimIdempotencyKey(tenant: "acme", key: "k1", requestHash: "h", ttl: day, now: at(2))
                    == .completed(status: 201, contentType: nil, body: Data())
            )
        }
    }

    @Test("per-key limits refuse the subscription or video that would pass them, and change nothing", arguments: StoreEngine.all)
    func limits(engine: StoreEngine) async throws {
        try await withStore(engine) { fixture in
            let store = fixture.store
            let limits = TenantLimits(maxSubscriptions: 2, maxLiveVideos: 2)
            for _ in 0..<2 {
                _ = try await store.createSubscription(NewSubscription(tenant: "acme", url: "https://h.example.com/", secret: "s"), now: t0, limits: limits)
            }
            await #expect(throws: StoreError.limitExceeded(setting: "BRIDGE_MAX_SUBSCRIPTIONS")) {
                try await store.createSubscription(NewSubscription(tenant: "acme", url: "https://h.example.com/", secret: "s"), now: t0, limits: limits)
            }
            #expect(try await store.subscriptions(tenant: "acme", after: nil, limit: 10).count == 2)
            _ = try await store.createSubscription(NewSubscription(tenant: "globex", url: "https://h.example.com/", secret: "s"), now: t0, limits: limits)

            func track(_ id: String) async throws {
                _ = try await store.track(
                    tenant: "acme", videoID: id, source: .watch, initial: nil, subscription: nil, limits: limits, now: t0, nextPollAt: t0
                )
            }
            try await track("a")
            try await fixture.watch("done", "finished")
            try await track("b")
            await #expect(throws: StoreError.limitExceeded(setting: "BRIDGE_MAX_TRACKED_VIDEOS")) { try await track("c") }
            #expect(try await store.trackedVideo(tenant: "acme", videoID: "c") == nil)
            try await track("a")  // tracking again is not another video
            await #expect(throws: StoreError.limitExceeded(setting: "BRIDGE_MAX_TRACKED_VIDEOS")) {
                try await store.checkLimits(tenant: "acme", addingSubscriptions: 0, addingVideos: 1, limits: limits)
            }
            try await store.checkLimits(tenant: "globex", addingSubscriptions: 1, addingVideos: 2, limits: limits)
        }
    }

    @Test("tracking with a subscription creates both in one step, and neither when the limit refuses", arguments: StoreEngine.all)
    func trackWithSubscription(engine: StoreEngine) async throws {
        try await withStore(engine) { fixture in
            let store = fixture.store
            let new = NewSubscription(tenant: "acme", url: "https://h.example.com/", videoID: "v1", secret: "s")
            let result = try await store.track(
                tenant: "acme", videoID: "v1", source: .generate, initial: observe("v1", "pending"), subscription: new, limits: .none,
                now: t0, nextPollAt: at(2)
            )
            #expect(result.created && result.report.deliveriesCreated == 1, "the first event already goes to the new subscription")
            #expect(try await store.subscription(tenant: "acme", id: new.id)?.videoID == "v1")
            let refused = NewSubscription(tenant: "acme", url: "https://h.example.com/", videoID: "v2", secret: "s")
            await #expect(throws: StoreError.limitExceeded(setting: "BRIDGE_MAX_SUBSCRIPTIONS")) {
                try await store.track(
                    tenant: "acme", videoID: "v2", source: .generate, initial: nil, subscription: refused,
                    limits: TenantLimits(maxSubscriptions: 1), now: t0, nextPollAt: at(2)
                )
            }
            #expect(try await store.trackedVideo(tenant: "acme", videoID: "v2") == nil)
            #expect(try await store.subscription(tenant: "acme", id: refused.id) == nil)
        }
    }

    /// The contract's retention: every finished record goes `BRIDGE_RETENTION` after it finished;
    /// held and pending deliveries (and their events) stay.
    @Test("retention prunes finished deliveries with their attempts, then their events, terminal videos and idempotency records", arguments: StoreEngine.all)
    func retention(engine: StoreEngine) async throws {
        try await withStore(engine) { fixture in
            let store = fixture.store
            let subscription = try await fixture.subscribe()
            for index in 0..<25 { try await fixture.watch("v\(index)", "finished") }
            try await fixture.watch("live", "pending")
            try await fixture.watch("old", "pending")
            try await store.expireTracking(startedBefore: at(1), now: at(10), limit: 1)  // "live" or "old": one expires
            _ = try await store.claimIdempotencyKey(tenant: "acme", key: "k1", requestHash: "h", ttl: .seconds(86_400), now: t0)
            // 28 deliveries: 15 succeed and 5 fail at t0 + 20 s, 3 stay pending, 5 are held by disabling.
            let claimed = try await fixture.claimAll(now: at(20), limit: 20)
            #expect(claimed.count == 20)
            try await fixture.complete(Array(claimed.prefix(15)), .succeeded, now: at(20))
            try await fixture.complete(Array(claimed.suffix(5)), .failed, status: 500, now: at(20))
            let pendingLeft = try await fixture.claimAll(now: at(21), limit: 3)
            try await fixture.complete(pendingLeft, .released, status: nil, now: at(21))
            #expect(try await store.prune(olderThan: t0, batchSize: 7) == PruneReport(), "nothing finished before the cutoff")
            try await store.setSubscriptionEnabled(tenant: "acme", id: subscription.id, enabled: false, now: at(22))
            try await store.setSubscriptionEnabled(tenant: "acme", id: subscription.id, enabled: true, now: at(23))
            try await store.setSubscriptionEnabled(tenant: "acme", id: subscription.id, enabled: false, now: at(24))

            let report = try await store.prune(olderThan: at(86_400 * 31), batchSize: 7)
            #expect(report.deliveries == 20 && report.events == 20, "\(report)")
            #expect(report.videos == 26 && report.idempotencyRecords == 1, "25 finished and one expired video: \(report)")
            let (events, deliveries) = try await store.counts()
            #expect(events == 8, "every event with a held delivery stays")
            #expect(deliveries == [.held: 8], "\(deliveries)")
            let tables = try await store.tableCounts()
            #expect(tables["attempts"] == 0, "attempts went with their deliveries: \(tables)")
            #expect(tables["videos"] == 1 && tables["idempotency_keys"] == 0, "\(tables)")
            #expect(try await store.subscription(tenant: "acme", id: subscription.id) != nil)
            #expect(try await store.prune(olderThan: at(86_400 * 31)) == PruneReport(), "nothing left to prune")
        }
    }
}
