import BridgeCore
@testable import BridgeStore
import Foundation
@testable import SQLiteStore
import Testing

@Suite("Tracking, events and the outbox")
struct TrackingTests {
    @Test("tracking twice is idempotent; untracking removes it")
    func idempotentTracking() async throws {
        let fixture = try StoreFixture()
        defer { fixture.directory.remove() }
        let first = try await fixture.store.track(tenant: "acme", videoID: "v1", source: .watch, now: t0, nextPollAt: t0)
        let second = try await fixture.store.track(tenant: "acme", videoID: "v1", source: .generate, now: at(5), nextPollAt: at(5))
        #expect(first.created && !second.created)
        #expect(second.video == first.video)
        #expect(second.video.source == .watch)
        await #expect(try await fixture.store.trackedVideos(tenant: "acme").count == 1)
        await #expect(try await fixture.store.untrack(tenant: "acme", videoID: "v1"))
        await #expect(try !fixture.store.untrack(tenant: "acme", videoID: "v1"))
        await #expect(try await fixture.store.trackedVideo(tenant: "acme", videoID: "v1") == nil)
    }

    @Test("a video submitted through the bridge belongs to its submitter: another key's watch is refused")
    func submittedVideosAreOwned() async throws {
        let fixture = try StoreFixture()
        defer { fixture.directory.remove() }
        try await fixture.store.track(tenant: "acme", videoID: "rendered", source: .generate, now: t0, nextPollAt: t0)
        await #expect(throws: StoreError.ownedByAnotherTenant) {
            try await fixture.store.track(tenant: "globex", videoID: "rendered", source: .watch, now: t0, nextPollAt: t0)
        }
        await #expect(try await fixture.store.isSubmittedByAnotherTenant(videoID: "rendered", tenant: "globex"))
        await #expect(try !fixture.store.isSubmittedByAnotherTenant(videoID: "rendered", tenant: "acme"))
        await #expect(try await fixture.store.trackedVideo(tenant: "globex", videoID: "rendered") == nil)
        // The owner may watch its own; a video made elsewhere is watched by any key, the first locks no one out.
        await #expect(try !fixture.store.track(tenant: "acme", videoID: "rendered", source: .watch, now: t0, nextPollAt: t0).created)
        try await fixture.store.track(tenant: "acme", videoID: "elsewhere", source: .watch, now: t0, nextPollAt: t0)
        await #expect(try await fixture.store.track(tenant: "globex", videoID: "elsewhere", source: .watch, now: t0, nextPollAt: t0).created)
    }

    @Test("per-video backoff doubles from the interval to its cap; an observation resets it")
    func perVideoBackoff() async throws {
        let fixture = try StoreFixture()
        defer { fixture.directory.remove() }
        try await fixture.store.track(tenant: "acme", videoID: "v1", source: .watch, now: t0, nextPollAt: t0)
        var delays: [Duration] = []
        for _ in 0..<6 {
            let step = try await fixture.store.backOffPolling(videoIDs: ["v1"], now: t0, interval: .seconds(2), maximum: .seconds(30))
            delays.append(try #require(step["v1"]).delay)
        }
        #expect(delays == [2, 4, 8, 16, 30, 30].map { Duration.seconds($0) })
        #expect(try await fixture.store.trackedVideo(tenant: "acme", videoID: "v1")?.nextPollAt == at(30))
        #expect(try await fixture.store.dueVideoIDs(now: at(29), limit: 10).isEmpty)
        try await fixture.store.recordObservations([observe("v1", "pending")], now: at(31), nextPollAt: at(33))
        let reset = try await fixture.store.backOffPolling(videoIDs: ["v1"], now: at(33), interval: .seconds(2), maximum: .seconds(30))
        #expect(reset["v1"]?.failures == 1 && reset["v1"]?.delay == .seconds(2))
    }

    @Test("two tenants tracking one video each get their own events and deliveries")
    func tenantSeparation() async throws {
        let fixture = try StoreFixture()
        defer { fixture.directory.remove() }
        let acme = try await fixture.subscribe(tenant: "acme")
        let globex = try await fixture.subscribe(tenant: "globex")
        try await fixture.store.track(tenant: "acme", videoID: "v1", source: .watch, now: t0, nextPollAt: t0)
        try await fixture.store.track(tenant: "globex", videoID: "v1", source: .watch, now: t0, nextPollAt: t0)
        await #expect(try await fixture.store.dueVideoIDs(now: t0, limit: 10) == ["v1"])

        let report = try await fixture.store.recordObservations([observe("v1", "pending")], now: at(1), nextPollAt: at(3))
        #expect(report.events.count == 2)
        #expect(Set(report.events.map(\.tenant)) == ["acme", "globex"])
        #expect(report.deliveriesCreated == 2)
        let acmeDeliveries = try await fixture.store.deliveries(tenant: "acme")
        let globexDeliveries = try await fixture.store.deliveries(tenant: "globex")
        #expect(acmeDeliveries.map(\.subscriptionID) == [acme.id])
        #expect(globexDeliveries.map(\.subscriptionID) == [globex.id])
        await #expect(try await fixture.store.events(tenant: "acme").count == 1)
        await #expect(try await fixture.store.subscription(tenant: "globex", id: acme.id) == nil)
        await #expect(try await fixture.store.trackedVideo(tenant: "initech", videoID: "v1") == nil)
    }

    @Test("a status change writes video, event and one delivery per matching subscription")
    func fanOutMatchesFilters() async throws {
        let fixture = try StoreFixture()
        defer { fixture.directory.remove() }
        let all = try await fixture.subscribe()
        let finishedOnly = try await fixture.subscribe(events: [.finished])
        let otherVideo = try await fixture.subscribe(videoID: "v2")
        let thisVideo = try await fixture.subscribe(videoID: "v1", url: "https://hooks.example.com/v1")
        try await fixture.store.track(tenant: "acme", videoID: "v1", source: .generate, initial: observe("v1", "pending"), now: t0, nextPollAt: at(2))

        try await fixture.store.recordObservations([observe("v1", "in_progressing")], now: at(2), nextPollAt: at(4))
        try await fixture.store.recordObservations([observe("v1", "finished", url: "https://cdn/v1.mp4")], now: at(4), nextPollAt: at(6))

        let events = try await fixture.store.events(tenant: "acme")
        #expect(events.map(\.type) == [.pending, .inProgressing, .finished])
        let deliveries = try await fixture.store.deliveries(tenant: "acme")
        func targets(_ type: EventType) -> Set<String> {
            Set(deliveries.filter { $0.eventType == type }.map(\.subscriptionID))
        }
        #expect(targets(.pending) == [all.id, thisVideo.id])
        #expect(targets(.finished) == [all.id, finishedOnly.id, thisVideo.id])
        #expect(!deliveries.contains { $0.subscriptionID == otherVideo.id })
        #expect(deliveries.allSatisfy { $0.state == .pending && $0.attempts == 0 })

        let finished = try #require(events.last)
        #expect(finished.payload.hasPrefix(#"{"type":"video.finished","timestamp":""#))
        #expect(finished.payload.hasSuffix(#""data":{"video_id":"v1","status":"finished","previous_status":"in_progressing","video_url":"https://cdn/v1.mp4"}}"#))
        let video = try await #require(try await fixture.store.trackedVideo(tenant: "acme", videoID: "v1"))
        #expect(video.isTerminal && video.status == "finished" && video.videoURL == "https://cdn/v1.mp4")
        await #expect(try await fixture.store.dueVideoIDs(now: at(100), limit: 10).isEmpty)
    }

    @Test("repeats, backwards steps and unreadable gaps emit nothing; unknown statuses once each")
    func contractRules() async throws {
        let fixture = try StoreFixture()
        defer { fixture.directory.remove() }
        try await fixture.store.track(tenant: "acme", videoID: "v1", source: .watch, now: t0, nextPollAt: t0)
        let sequence = ["in_progressing", "in_progressing", "pending", "review", "in_progressing", "review", "finished", "pending"]
        var backwards = 0
        for (index, status) in sequence.enumerated() {
            let report = try await fixture.store.recordObservations([observe("v1", status)], now: at(Double(index)), nextPollAt: at(Double(index) + 1))
            backwards += report.wentBackwards.count
        }
        let types = try await fixture.store.events(tenant: "acme").map(\.type)
        #expect(types == [.inProgressing, .statusChanged, .finished])
        #expect(backwards == 1)
        let video = try await #require(try await fixture.store.trackedVideo(tenant: "acme", videoID: "v1"))
        #expect(video.status == "finished" && video.isTerminal)
    }

    /// The fault is SQLite's own: a trigger aborts the fan-out's insert, which runs after the event's
    /// insert in the same transaction.
    @Test("a failure between the event insert and the commit leaves nothing behind; the next poll redoes it")
    func transactionBoundary() async throws {
        let directory: String
        do {
            let failing = try StoreFixture()
            directory = failing.path
            _ = try await failing.subscribe()
            try await failing.store.track(tenant: "acme", videoID: "v1", source: .watch, now: t0, nextPollAt: t0)
            try await failing.store.write { db in
                try db.execute(
                    sql: "CREATE TRIGGER injected_fault BEFORE INSERT ON deliveries BEGIN SELECT RAISE(ABORT, 'injected fault'); END"
                )
            }
            await #expect(throws: StoreError.self) {
                try await failing.store.recordObservations([observe("v1", "pending")], now: at(1), nextPollAt: at(3))
            }
            await #expect(try await failing.store.counts().events == 0)
            await #expect(try await failing.store.counts().deliveries.isEmpty)
            let video = try await #require(try await failing.store.trackedVideo(tenant: "acme", videoID: "v1"))
            #expect(video.status == nil && video.lastSeenAt == nil)
            try await failing.store.write { db in try db.execute(sql: "DROP TRIGGER injected_fault") }
        }
        // A fresh process on the same file sees the same nothing, and the retried poll emits exactly once.
        let restarted = try SQLiteBridgeStore(path: directory)
        await #expect(try restarted.counts().events == 0)
        let report = try await restarted.recordObservations([observe("v1", "pending")], now: at(2), nextPollAt: at(4))
        #expect(report.events.count == 1 && report.deliveriesCreated == 1)
        _ = try await restarted.recordObservations([observe("v1", "pending")], now: at(4), nextPollAt: at(6))
        await #expect(try restarted.counts().events == 1)
    }

    @Test("a repeated status only moves the poll times (in bulk), and emits nothing")
    func repeatsOnlyTouchPollTimes() async throws {
        let fixture = try StoreFixture()
        defer { fixture.directory.remove() }
        try await fixture.store.track(tenant: "acme", videoID: "v1", source: .watch, initial: observe("v1", "pending"), now: t0, nextPollAt: at(2))
        let report = try await fixture.store.recordObservations([observe("v1", "pending")], now: at(10), nextPollAt: at(12))
        #expect(report.events.isEmpty && report.videosUpdated == 1)
        let video = try await #require(try await fixture.store.trackedVideo(tenant: "acme", videoID: "v1"))
        #expect(video.lastSeenAt == at(10) && video.nextPollAt == at(12) && video.lastChangedAt == t0)
    }

    @Test("non-terminal videos past the tracking limit emit video.tracking_expired and stop")
    func trackingExpiry() async throws {
        let fixture = try StoreFixture()
        defer { fixture.directory.remove() }
        _ = try await fixture.subscribe()
        try await fixture.store.track(tenant: "acme", videoID: "old", source: .watch, initial: observe("old", "in_progressing"), now: t0, nextPollAt: t0)
        try await fixture.store.track(tenant: "acme", videoID: "new", source: .watch, now: at(3600), nextPollAt: at(3600))
        try await fixture.store.track(tenant: "acme", videoID: "done", source: .watch, initial: observe("done", "finished"), now: t0, nextPollAt: t0)

        let report = try await fixture.store.expireTracking(startedBefore: at(1800), now: at(7200))
        #expect(report.events.map(\.videoID) == ["old"])
        #expect(report.events.first?.type == .trackingExpired)
        #expect(report.deliveriesCreated == 1)
        #expect(report.events.first?.payload.contains(#""status":"in_progressing","previous_status":"in_progressing""#) == true)
        let old = try await #require(try await fixture.store.trackedVideo(tenant: "acme", videoID: "old"))
        #expect(old.isTerminal && old.isExpired)
        await #expect(try await fixture.store.dueVideoIDs(now: at(9999), limit: 10) == ["new"])
        await #expect(try await fixture.store.expireTracking(startedBefore: at(1800), now: at(7300)).events.isEmpty)
    }

    @Test("a disabled subscription's deliveries are held, never dropped")
    func heldWhileDisabled() async throws {
        let fixture = try StoreFixture()
        defer { fixture.directory.remove() }
        let subscription = try await fixture.subscribe()
        try await fixture.store.write { db in
            try db.execute(sql: "UPDATE subscriptions SET enabled = 0 WHERE id = ?", arguments: [subscription.id])
        }
        try await fixture.store.track(tenant: "acme", videoID: "v1", source: .watch, initial: observe("v1", "pending"), now: t0, nextPollAt: t0)
        await #expect(try await fixture.store.deliveries(tenant: "acme").map(\.state) == [.held])
    }

    /// The contract's retention: every finished record goes `BRIDGE_RETENTION` after it finished;
    /// held and pending deliveries (and their events) stay.
    @Test("retention prunes finished deliveries with their attempts, then their events, terminal videos and idempotency records")
    func retention() async throws {
        let fixture = try StoreFixture()
        defer { fixture.directory.remove() }
        let subscription = try await fixture.subscribe()
        for index in 0..<25 {
            try await fixture.store.track(tenant: "acme", videoID: "v\(index)", source: .watch, initial: observe("v\(index)", "finished"), now: t0, nextPollAt: t0)
        }
        try await fixture.store.track(tenant: "acme", videoID: "live", source: .watch, initial: observe("live", "pending"), now: t0, nextPollAt: t0)
        try await fixture.store.track(tenant: "acme", videoID: "old", source: .watch, initial: observe("old", "pending"), now: t0, nextPollAt: t0)
        try await fixture.store.expireTracking(startedBefore: at(1), now: at(10), limit: 1)  // "live" or "old": one expires
        _ = try await fixture.store.claimIdempotencyKey(tenant: "acme", key: "k1", requestHash: "h", ttl: .seconds(86_400), now: t0)
        try await fixture.store.write { db in
            try db.execute(sql: "UPDATE deliveries SET state = 'succeeded', completed_at = ? WHERE id <= 15", arguments: [t0.timeIntervalSince1970])
            try db.execute(sql: "UPDATE deliveries SET state = 'failed', completed_at = ? WHERE id > 15 AND id <= 20", arguments: [t0.timeIntervalSince1970])
            try db.execute(sql: "UPDATE deliveries SET state = 'held' WHERE id > 20 AND id <= 23")
            try db.execute(
                sql: "INSERT INTO attempts (delivery_id, attempted_at, status_code, latency_ms) SELECT id, ?, 500, 1 FROM deliveries",
                arguments: [t0.timeIntervalSince1970]
            )
        }
        #expect(try await fixture.store.prune(olderThan: t0, batchSize: 7) == PruneReport(), "nothing finished before the cutoff")

        let report = try await fixture.store.prune(olderThan: at(86_400 * 31), batchSize: 7)
        #expect(report.deliveries == 20 && report.events == 20, "\(report)")
        #expect(report.videos == 26 && report.idempotencyRecords == 1, "25 finished and one expired video: \(report)")
        let (events, deliveries) = try await fixture.store.counts()
        #expect(events == 8, "5 finished videos' with a held or pending delivery, two first events, the expiry's")
        #expect(deliveries[.held] == 3 && deliveries[.pending] == 5 && deliveries[.succeeded] == nil && deliveries[.failed] == nil)
        let tables = try await fixture.store.tableCounts()
        #expect(tables["attempts"] == 8, "attempts went with their deliveries: \(tables)")
        #expect(tables["videos"] == 1 && tables["idempotency_keys"] == 0, "\(tables)")
        #expect(try await fixture.store.subscription(tenant: "acme", id: subscription.id) != nil)
        #expect(try await fixture.store.prune(olderThan: at(86_400 * 31)) == PruneReport(), "nothing left to prune")
    }

    /// The contract's bounded replay: at most `limit` per call, `more` while matching events are left,
    /// never a second open delivery of one event to one subscription, pings only its own.
    @Test("replay is bounded per call, says when more is left, and never queues an event twice")
    func boundedReplay() async throws {
        let fixture = try StoreFixture()
        defer { fixture.directory.remove() }
        let subscription = try await fixture.subscribe(url: "https://hooks.example.com/a")
        let other = try await fixture.subscribe(url: "https://hooks.example.com/b")
        for index in 0..<24 {
            try await fixture.store.track(tenant: "acme", videoID: "v\(index)", source: .watch, initial: observe("v\(index)", "finished"), now: t0, nextPollAt: t0)
        }
        _ = try await fixture.store.ping(tenant: "acme", subscriptionID: subscription.id, now: t0)
        _ = try await fixture.store.ping(tenant: "acme", subscriptionID: other.id, now: t0)
        // Everything delivered once: nothing open, so all 24 events and this subscription's ping match.
        try await fixture.store.write { db in
            try db.execute(sql: "UPDATE deliveries SET state = 'succeeded', completed_at = ?", arguments: [t0.timeIntervalSince1970])
        }
        var rounds: [(Int, Bool)] = []
        for _ in 0..<4 {
            let round = try #require(try await fixture.store.replay(tenant: "acme", subscriptionID: subscription.id, since: t0, now: at(1), limit: 10))
            rounds.append((round.queued, round.more))
        }
        #expect(rounds.map(\.0) == [10, 10, 5, 0] && rounds.map(\.1) == [true, true, false, false], "\(rounds)")
        let open = try await fixture.store.deliveries(tenant: "acme", state: .pending, limit: 1000).filter { $0.subscriptionID == subscription.id }
        #expect(open.count == 25 && Set(open.map(\.eventID)).count == 25, "each event once")
        #expect(open.filter { $0.eventType == .ping }.count == 1, "its own ping, not the other subscription's")
    }

    @Test("a commit that enqueues deliveries wakes listeners")
    func wakeUps() async throws {
        let fixture = try StoreFixture()
        defer { fixture.directory.remove() }
        _ = try await fixture.subscribe()
        var wakeUps = fixture.store.deliveryWakeUps().makeAsyncIterator()
        try await fixture.store.track(tenant: "acme", videoID: "v1", source: .watch, initial: observe("v1", "pending"), now: t0, nextPollAt: t0)
        let woke: Void? = await wakeUps.next()
        #expect(woke != nil)
    }
}
