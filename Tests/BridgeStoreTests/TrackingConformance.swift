import BridgeCore
import BridgeStore
import Foundation
import Testing

/// Tracking rules, first-observed events and the fan-out, against every engine.
@Suite("Store conformance: tracking, events and fan-out")
struct TrackingConformance {
    @Test("tracking twice is idempotent; untracking removes it", arguments: StoreEngine.all)
    func idempotentTracking(engine: StoreEngine) async throws {
        try await withStore(engine) { fixture in
            let store = fixture.store
            let first = try await store.track(tenant: "acme", videoID: "v1", source: .watch, now: t0, nextPollAt: t0)
            let second = try await store.track(tenant: "acme", videoID: "v1", source: .generate, now: at(5), nextPollAt: at(5))
            #expect(first.created && !second.created)
            #expect(second.video == first.video)
            #expect(second.video.source == .watch)
            #expect(try await store.trackedVideos(tenant: "acme").count == 1)
            #expect(try await store.liveVideoCount() == 1)
            #expect(try await store.untrack(tenant: "acme", videoID: "v1"))
            #expect(try await !store.untrack(tenant: "acme", videoID: "v1"))
            #expect(try await store.trackedVideo(tenant: "acme", videoID: "v1") == nil)
        }
    }

    @Test("tracked videos page in tracking order by cursor", arguments: StoreEngine.all)
    func trackedVideoPages(engine: StoreEngine) async throws {
        try await withStore(engine) { fixture in
            for index in 0..<5 { try await fixture.watch("v\(index)", now: at(Double(index))) }
            let first = try await fixture.store.trackedVideos(tenant: "acme", after: nil, limit: 2)
            let second = try await fixture.store.trackedVideos(tenant: "acme", after: first.last?.cursor, limit: 2)
            let third = try await fixture.store.trackedVideos(tenant: "acme", after: second.last?.cursor, limit: 2)
            #expect((first + second + third).map(\.video.videoID) == ["v0", "v1", "v2", "v3", "v4"])
            #expect(third.count == 1)
            #expect(try await fixture.store.trackedVideos(tenant: "globex").isEmpty)
        }
    }

    @Test("a video submitted through the bridge belongs to its submitter: another key's watch is refused", arguments: StoreEngine.all)
    func submittedVideosAreOwned(engine: StoreEngine) async throws {
        try await withStore(engine) { fixture in
            let store = fixture.store
            try await store.track(tenant: "acme", videoID: "rendered", source: .generate, now: t0, nextPollAt: t0)
            await #expect(throws: StoreError.ownedByAnotherTenant) {
                try await store.track(tenant: "globex", videoID: "rendered", source: .watch, now: t0, nextPollAt: t0)
            }
            #expect(try await store.isSubmittedByAnotherTenant(videoID: "rendered", tenant: "globex"))
            #expect(try await !store.isSubmittedByAnotherTenant(videoID: "rendered", tenant: "acme"))
            #expect(try await store.trackedVideo(tenant: "globex", videoID: "rendered") == nil)
            // The owner may watch its own; a video made elsewhere is watched by any key, the first locks no one out.
            #expect(try await !store.track(tenant: "acme", videoID: "rendered", source: .watch, now: t0, nextPollAt: t0).created)
            try await store.track(tenant: "acme", videoID: "elsewhere", source: .watch, now: t0, nextPollAt: t0)
            #expect(try await store.track(tenant: "globex", videoID: "elsewhere", source: .watch, now: t0, nextPollAt: t0).created)
        }
    }

    @Test("an account's scope: its tenants' rows are due, moved and backed off; another account's rows never", arguments: StoreEngine.all)
    func accountScope(engine: StoreEngine) async throws {
        try await withStore(engine) { fixture in
            let store = fixture.store
            // acme has its own account; globex and initech share the default one. Both accounts happen
            // to hold a video "same" (the ids of different accounts need not differ).
            try await fixture.watch("own", "pending", tenant: "acme")
            try await fixture.watch("same", "pending", tenant: "acme")
            try await fixture.watch("same", "pending", tenant: "globex")
            try await fixture.watch("shared", "pending", tenant: "initech")
            let mine = TenantScope.only(["acme"])
            let shared = TenantScope.except(["acme"])
            #expect(try await store.dueVideos(now: at(1), limit: 10, repeats: .always, scope: mine).map(\.videoID).sorted() == ["own", "same"])
            #expect(try await store.dueVideos(now: at(1), limit: 10, repeats: .always, scope: shared).map(\.videoID).sorted() == ["same", "shared"])
            #expect(try await store.dueVideos(now: at(1), limit: 10, repeats: .always, scope: .all).count == 3)

            let report = try await store.recordObservations(
                [observe("same", "finished"), observe("own", "finished")], now: at(2), nextPollAt: at(3), repeats: .always, fence: nil,
                scope: shared
            )
            #expect(report.events.map(\.tenant) == ["globex"], "the shared account's answer moves globex's copy only; 'own' is not in its scope")
            #expect(try await store.trackedVideo(tenant: "acme", videoID: "same")?.status == "pending")
            #expect(try await store.trackedVideo(tenant: "acme", videoID: "own")?.status == "pending")
            #expect(try await store.trackedVideo(tenant: "globex", videoID: "same")?.status == "finished")

            let steps = try await store.backOffPolling(
                videoIDs: ["shared", "own"], now: at(4), interval: .seconds(2), maximum: .seconds(60), fence: nil, scope: shared
            )
            #expect(steps["shared"]?.failures == 1)
            #expect(try await store.dueVideos(now: at(4), limit: 10, repeats: .always, scope: mine).map(\.videoID).sorted() == ["own", "same"],
                "acme's rows were not backed off by the other account's failures")
        }
    }

    @Test("due videos come soonest first, once each, live ones only", arguments: StoreEngine.all)
    func dueVideos(engine: StoreEngine) async throws {
        try await withStore(engine) { fixture in
            let store = fixture.store
            try await store.track(tenant: "acme", videoID: "late", source: .watch, now: t0, nextPollAt: at(20))
            try await store.track(tenant: "acme", videoID: "soon", source: .watch, now: t0, nextPollAt: at(5))
            try await store.track(tenant: "globex", videoID: "soon", source: .watch, now: t0, nextPollAt: at(5))
            try await fixture.watch("done", "finished")
            #expect(try await store.dueVideoIDs(now: at(4), limit: 10).isEmpty)
            #expect(try await store.dueVideoIDs(now: at(5), limit: 10) == ["soon"])
            #expect(try await store.dueVideoIDs(now: at(30), limit: 10) == ["soon", "late"])
            #expect(try await store.nextPollTime() == at(5))
            #expect(try await store.liveVideoCount() == 3)
        }
    }

    @Test("per-video backoff doubles from the interval to its cap; an observation resets it", arguments: StoreEngine.all)
    func perVideoBackoff(engine: StoreEngine) async throws {
        try await withStore(engine) { fixture in
            let store = fixture.store
            try await fixture.watch("v1")
            var delays: [Duration] = []
            for _ in 0..<6 {
                let step = try await store.backOffPolling(videoIDs: ["v1"], now: t0, interval: .seconds(2), maximum: .seconds(30))
                delays.append(try #require(step["v1"]).delay)
            }
            #expect(delays == [2, 4, 8, 16, 30, 30].map { Duration.seconds($0) })
            #expect(try await store.trackedVideo(tenant: "acme", videoID: "v1")?.nextPollAt == at(30))
            #expect(try await store.dueVideoIDs(now: at(29), limit: 10).isEmpty)
            try await store.recordObservations([observe("v1", "pending")], now: at(31), nextPollAt: at(33))
            let reset = try await store.backOffPolling(videoIDs: ["v1"], now: at(33), interval: .seconds(2), maximum: .seconds(30))
            #expect(reset["v1"]?.failures == 1 && reset["v1"]?.delay == .seconds(2))
        }
    }

    @Test("two keys tracking one video each get their own events and deliveries", arguments: StoreEngine.all)
    func tenantSeparation(engine: StoreEngine) async throws {
        try await withStore(engine) { fixture in
            let store = fixture.store
            let acme = try await fixture.subscribe(tenant: "acme")
            let globex = try await fixture.subscribe(tenant: "globex")
            try await fixture.watch("v1", tenant: "acme")
            try await fixture.watch("v1", tenant: "globex")
            #expect(try await store.dueVideoIDs(now: t0, limit: 10) == ["v1"])

            let report = try await store.recordObservations([observe("v1", "pending")], now: at(1), nextPollAt: at(3))
            #expect(report.events.count == 2)
            #expect(Set(report.events.map(\.tenant)) == ["acme", "globex"])
            #expect(report.deliveriesCreated == 2)
            #expect(try await store.deliveries(tenant: "acme").map(\.subscriptionID) == [acme.id])
            #expect(try await store.deliveries(tenant: "globex").map(\.subscriptionID) == [globex.id])
            #expect(try await store.events(tenant: "acme").count == 1)
            #expect(try await store.subscription(tenant: "globex", id: acme.id) == nil)
            #expect(try await store.trackedVideo(tenant: "initech", videoID: "v1") == nil)
            let event = try #require(report.events.first { $0.tenant == "acme" })
            #expect(try await store.event(tenant: "acme", id: event.id) == event)
            #expect(try await store.event(tenant: "globex", id: event.id) == nil)
        }
    }

    @Test("a status change writes video, event and one delivery per matching subscription", arguments: StoreEngine.all)
    func fanOutMatchesFilters(engine: StoreEngine) async throws {
        try await withStore(engine) { fixture in
            let store = fixture.store
            let all = try await fixture.subscribe()
            let finishedOnly = try await fixture.subscribe(events: [.finished])
            let otherVideo = try await fixture.subscribe(videoID: "v2")
            let thisVideo = try await fixture.subscribe(videoID: "v1", url: "https://hooks.example.com/v1")
            try await store.track(tenant: "acme", videoID: "v1", source: .generate, initial: observe("v1", "pending"), now: t0, nextPollAt: at(2))

            try await store.recordObservations([observe("v1", "in_progressing")], now: at(2), nextPollAt: at(4))
            try await store.recordObservations([observe("v1", "finished", url: "https://cdn/v1.mp4")], now: at(4), nextPollAt: at(6))

            let events = try await store.events(tenant: "acme")
            #expect(events.map(\.type) == [.pending, .inProgressing, .finished])
            let deliveries = try await store.deliveries(tenant: "acme")
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
            let video = try #require(try await store.trackedVideo(tenant: "acme", videoID: "v1"))
            #expect(video.isTerminal && video.status == "finished" && video.videoURL == "https://cdn/v1.mp4")
            #expect(video.notifiedStatus == "finished")
            #expect(try await store.dueVideoIDs(now: at(100), limit: 10).isEmpty)
        }
    }

    @Test("the event log pages by sequence and filters by video and type", arguments: StoreEngine.all)
    func eventLogQueries(engine: StoreEngine) async throws {
        try await withStore(engine) { fixture in
            let store = fixture.store
            try await fixture.watch("a", "pending")
            try await fixture.watch("b", "pending")
            try await store.recordObservations([observe("a", "finished")], now: at(1), nextPollAt: at(2))
            let all = try await store.events(tenant: "acme")
            #expect(all.map(\.videoID) == ["a", "b", "a"])
            #expect(all.map(\.sequence) == all.map(\.sequence).sorted())
            #expect(try await store.events(tenant: "acme", after: all[0].sequence, videoID: nil, type: nil, limit: 1).map(\.id) == [all[1].id])
            #expect(try await store.events(tenant: "acme", videoID: "a").count == 2)
            #expect(try await store.events(tenant: "acme", type: .finished).map(\.videoID) == ["a"])
            #expect(try await store.lastEventSequence() == all[2].sequence)
        }
    }

    @Test("repeats, backwards steps and unreadable gaps emit nothing; unknown statuses once each", arguments: StoreEngine.all)
    func contractRules(engine: StoreEngine) async throws {
        try await withStore(engine) { fixture in
            let store = fixture.store
            try await fixture.watch("v1")
            let sequence = ["in_progressing", "in_progressing", "pending", "review", "in_progressing", "review", "finished", "pending"]
            var backwards = 0
            for (index, status) in sequence.enumerated() {
                let report = try await store.recordObservations(
                    [observe("v1", status)], now: at(Double(index)), nextPollAt: at(Double(index) + 1)
                )
                backwards += report.wentBackwards.count
            }
            let types = try await store.events(tenant: "acme").map(\.type)
            #expect(types == [.inProgressing, .statusChanged, .finished])
            #expect(backwards == 1)
            let video = try #require(try await store.trackedVideo(tenant: "acme", videoID: "v1"))
            #expect(video.status == "finished" && video.isTerminal)
        }
    }

    @Test("one observation moves every key's copy of the video; a batch moves many videos in one call", arguments: StoreEngine.all)
    func batchObservations(engine: StoreEngine) async throws {
        try await withStore(engine) { fixture in
            let store = fixture.store
            for index in 0..<20 { try await fixture.watch("v\(index)", "pending") }
            try await fixture.watch("v0", "pending", tenant: "globex")
            let subscription = try await fixture.subscribe(events: [.finished])
            let report = try await store.recordObservations(
                (0..<20).map { observe("v\($0)", $0.isMultiple(of: 2) ? "finished" : "pending") }, now: at(1), nextPollAt: at(3)
            )
            #expect(report.events.count == 11, "10 finished for acme, v0 for globex too")
            #expect(Set(report.events.map(\.type)) == [.finished])
            #expect(report.videosUpdated == 21)
            // Events stand in the order of the observations (a video's copies in tracking order), numbered so.
            #expect(report.events.map(\.videoID) == ["v0", "v0"] + stride(from: 2, to: 20, by: 2).map { "v\($0)" })
            #expect(report.events.map(\.tenant) == ["acme", "globex"] + Array(repeating: "acme", count: 9))
            #expect(report.events.map(\.sequence) == report.events.map(\.sequence).sorted())
            #expect(Set(report.events.map(\.sequence)).count == 11)
            #expect(report.events.allSatisfy { $0.payload.contains(#""video_id":"\#($0.videoID ?? "")""#) })
            #expect(report.deliveriesCreated == 10, "acme's subscription takes its 10 finished events; globex has none")
            let deliveries = try await store.deliveries(tenant: "acme", subscriptionID: subscription.id)
            #expect(deliveries.map(\.videoID) == report.events.filter { $0.tenant == "acme" }.map(\.videoID))
            #expect(deliveries.map(\.eventID) == report.events.filter { $0.tenant == "acme" }.map(\.id))
            let copy = try await store.trackedVideo(tenant: "globex", videoID: "v0")
            #expect(copy?.status == "finished")
            #expect(try await store.dueVideoIDs(now: at(3), limit: 100).count == 10)
        }
    }

    /// The event reaches the log once however the engine is restarted: the second store sees the
    /// first's commit and emits nothing for the repeat.
    @Test("a committed change survives reopening and is not emitted again", arguments: StoreEngine.all)
    func changesSurviveReopen(engine: StoreEngine) async throws {
        try await withStore(engine) { fixture in
            _ = try await fixture.subscribe()
            try await fixture.watch("v1")
            try await fixture.store.recordObservations([observe("v1", "pending")], now: at(1), nextPollAt: at(3))
            let restarted = try await fixture.reopen()
            let repeated = try await restarted.recordObservations([observe("v1", "pending")], now: at(3), nextPollAt: at(5))
            #expect(repeated.events.isEmpty)
            #expect(try await restarted.counts().events == 1)
            #expect(try await restarted.counts().deliveries == [.pending: 1])
        }
    }

    @Test("a repeated status only moves the poll times, and emits nothing", arguments: StoreEngine.all)
    func repeatsOnlyTouchPollTimes(engine: StoreEngine) async throws {
        try await withStore(engine) { fixture in
            let store = fixture.store
            try await store.track(tenant: "acme", videoID: "v1", source: .watch, initial: observe("v1", "pending"), now: t0, nextPollAt: at(2))
            let report = try await store.recordObservations([observe("v1", "pending")], now: at(10), nextPollAt: at(12))
            #expect(report.events.isEmpty && report.videosUpdated == 1)
            let video = try #require(try await store.trackedVideo(tenant: "acme", videoID: "v1"))
            #expect(video.lastSeenAt == at(10) && video.nextPollAt == at(12) && video.lastChangedAt == t0)
            #expect(video.firstSeenAt == t0)
        }
    }

    @Test("a repeat refreshes its last-seen time only past its age, or to reset poll failures", arguments: StoreEngine.all)
    func repeatsRefreshSparingly(engine: StoreEngine) async throws {
        try await withStore(engine) { fixture in
            let store = fixture.store
            let refresh = RepeatWrites.refreshAfter(.seconds(60))
            for index in 0..<40 {
                try await store.track(
                    tenant: "acme", videoID: "v\(index)", source: .watch, initial: observe("v\(index)", "pending"), now: t0, nextPollAt: at(1)
                )
            }
            let all = (0..<40).map { observe("v\($0)", "pending") }
            func seenAt() async throws -> [Date?] { try await store.trackedVideos(tenant: "acme").map(\.video.lastSeenAt) }
            #expect(try await seenAt() == Array(repeating: t0, count: 40))

            // Younger than half the age: nothing written, the schedule kept (every row stays due).
            let young = try await store.recordObservations(all, now: at(29), nextPollAt: at(31), repeats: refresh)
            #expect(young.videosUpdated == 0 && young.events.isEmpty)
            #expect(try await seenAt() == Array(repeating: t0, count: 40))
            #expect(try await store.dueVideoIDs(now: at(29), limit: 100).count == 40)
            // Between half and all of the age: some rows refresh, not all (thresholds spread by row).
            let middle = try await store.recordObservations(all, now: at(45), nextPollAt: at(47), repeats: refresh)
            #expect((1..<40).contains(middle.videosUpdated), "\(middle.videosUpdated) of 40 refreshed")
            // Past the age: every row not refreshed since.
            let old = try await store.recordObservations(all, now: at(61), nextPollAt: at(63), repeats: refresh)
            #expect(middle.videosUpdated + old.videosUpdated == 40)
            let rows = try await store.trackedVideos(tenant: "acme").map(\.video)
            #expect(rows.allSatisfy { ($0.lastSeenAt == at(45) && $0.nextPollAt == at(47)) || ($0.lastSeenAt == at(61) && $0.nextPollAt == at(63)) })

            // A row with poll failures is written at any age, so its failure count resets.
            _ = try await store.backOffPolling(videoIDs: ["v1"], now: at(62), interval: .seconds(2), maximum: .seconds(30))
            let reset = try await store.recordObservations([observe("v1", "pending")], now: at(64), nextPollAt: at(66), repeats: refresh)
            #expect(reset.videosUpdated == 1)
            let step = try await store.backOffPolling(videoIDs: ["v1"], now: at(66), interval: .seconds(2), maximum: .seconds(30))
            #expect(step["v1"]?.failures == 1)
            // A change is always written, whatever the policy.
            let change = try await store.recordObservations([observe("v2", "finished")], now: at(65), nextPollAt: at(67), repeats: refresh)
            #expect(change.events.count == 1 && change.videosUpdated == 1)
            // Written every time when asked.
            let always = try await store.recordObservations([observe("v3", "pending")], now: at(66), nextPollAt: at(68), repeats: .always)
            #expect(always.videosUpdated == 1)
            #expect(try await store.trackedVideo(tenant: "acme", videoID: "v3")?.lastSeenAt == at(66))
        }
    }

    @Test("due videos carry the answer that needs no write, only when every row of the video agrees", arguments: StoreEngine.all)
    func dueVideosKnowTheirQuietAnswer(engine: StoreEngine) async throws {
        try await withStore(engine) { fixture in
            let store = fixture.store
            let refresh = RepeatWrites.refreshAfter(.seconds(60))
            try await store.track(tenant: "acme", videoID: "done", source: .watch, initial: observe("done", "finished", url: "https://cdn/d.mp4"), now: t0, nextPollAt: t0)
            try await store.track(tenant: "acme", videoID: "quiet", source: .watch, initial: observe("quiet", "in_progressing"), now: t0, nextPollAt: t0)
            try await store.track(tenant: "acme", videoID: "new", source: .watch, now: t0, nextPollAt: t0)
            try await store.track(tenant: "acme", videoID: "shared", source: .watch, initial: observe("shared", "pending"), now: t0, nextPollAt: t0)
            try await store.track(tenant: "globex", videoID: "shared", source: .watch, initial: observe("shared", "pending"), now: t0, nextPollAt: t0)
            try await store.track(tenant: "acme", videoID: "split", source: .watch, initial: observe("split", "pending"), now: t0, nextPollAt: t0)
            try await store.track(tenant: "globex", videoID: "split", source: .watch, now: at(1), nextPollAt: t0)

            let due = try await store.dueVideos(now: at(10), limit: 100, repeats: refresh)
            let known = Dictionary(uniqueKeysWithValues: due.map { ($0.videoID, $0.unchanged) })
            #expect(due.count == 4 && known["done"] == nil, "terminal videos are not due; each video once")
            #expect(known["quiet"] == .some(KnownObservation(status: "in_progressing", videoURL: nil)))
            #expect(known["new"] == .some(nil), "never observed: any answer is recorded")
            #expect(known["shared"] == .some(KnownObservation(status: "pending", videoURL: nil)), "both keys' rows agree")
            #expect(known["split"] == .some(nil), "one key's row has never been observed")
            #expect(KnownObservation(status: "finished", videoURL: "https://x").covers(status: "finished", videoURL: nil))
            #expect(!KnownObservation(status: "finished", videoURL: "https://x").covers(status: "finished", videoURL: "https://y"))

            // Past the refresh age, or with poll failures, or when every repeat is written: nothing is quiet.
            #expect(try await store.dueVideos(now: at(61), limit: 100, repeats: refresh).allSatisfy { $0.unchanged == nil })
            #expect(try await store.dueVideos(now: at(10), limit: 100, repeats: .always).allSatisfy { $0.unchanged == nil })
            _ = try await store.backOffPolling(videoIDs: ["quiet"], now: t0, interval: .seconds(1), maximum: .seconds(1))
            #expect(try await store.dueVideos(now: at(10), limit: 100, repeats: refresh).first { $0.videoID == "quiet" }?.unchanged == nil)
        }
    }

    @Test("non-terminal videos past the tracking limit emit video.tracking_expired and stop", arguments: StoreEngine.all)
    func trackingExpiry(engine: StoreEngine) async throws {
        try await withStore(engine) { fixture in
            let store = fixture.store
            _ = try await fixture.subscribe()
            try await fixture.watch("old", "in_progressing")
            try await fixture.watch("new", now: at(3600))
            try await fixture.watch("done", "finished")

            let report = try await store.expireTracking(startedBefore: at(1800), now: at(7200))
            #expect(report.events.map(\.videoID) == ["old"])
            #expect(report.events.first?.type == .trackingExpired)
            #expect(report.deliveriesCreated == 1)
            #expect(report.events.first?.payload.contains(#""status":"in_progressing","previous_status":"in_progressing""#) == true)
            let old = try #require(try await store.trackedVideo(tenant: "acme", videoID: "old"))
            #expect(old.isTerminal && old.isExpired)
            #expect(try await store.dueVideoIDs(now: at(9999), limit: 10) == ["new"])
            #expect(try await store.expireTracking(startedBefore: at(1800), now: at(7300)).events.isEmpty)
        }
    }

    @Test("a commit that appends events or enqueues deliveries wakes its listeners", arguments: StoreEngine.all)
    func wakeUps(engine: StoreEngine) async throws {
        try await withStore(engine) { fixture in
            _ = try await fixture.subscribe()
            let deliveries = fixture.store.deliveryWakeUps()
            let events = fixture.store.eventWakeUps()
            try await fixture.watch("v1", "pending")
            #expect(await nextWakeUp(deliveries) != nil)
            #expect(await nextWakeUp(events) != nil)
        }
    }
}
