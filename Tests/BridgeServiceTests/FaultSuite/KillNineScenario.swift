import BridgeCore
import BridgeStore
import Foundation
import Simulator
import SQLiteStore
import TestSupport
import Testing
import Webhooks

/// `kill -9` of the real binary at 20 random moments during 1,000 status changes across 200 videos
/// and 3 subscriptions, restarted each time on the same database.
///
/// The driver moves a video to its next status only after the bridge has recorded the previous one
/// (read from the database), so every change is observable and each must become exactly one event.
/// Kills are placed by progress (20 random change counts), then after a random 0–60 ms, so they land
/// in every phase: mid-cycle, mid-delivery, during start-up and migrations.
enum KillNineScenario {
    static let steps = ["pending", "in_progressing", "qc_review", "retouching", "publishing", "finished"]
    static let videoCount = 200
    static let killCount = 20

    static func run() async throws -> FaultFigures {
        try await withScope { scope in try await run(in: scope) }
    }

    static func run(in scope: TestScope) async throws -> FaultFigures {
        let directory = try TemporaryDirectory("fault-kill9")
        defer { directory.remove() }
        let simulator = scope.adopt(try await startFaultSimulator(seed: 81))
        let receiver = scope.adopt(try await WebhookReceiver.start())
        let api = try BridgeAPIClient()
        scope.onExit { api.stop() }
        let environment = [
            "BRIDGE_POLL_INTERVAL": "50ms", "BRIDGE_DELIVERY_TIMEOUT": "1s", "BRIDGE_LOG_LEVEL": "error",
            "BRIDGE_RETRY_SCHEDULE": "0s,100ms,500ms,1s,2s,5s,10s,30s",
        ]
        var bridge = try await BinaryEndToEndTests.launch(directory, upstream: simulator.baseURL, extra: environment)
        api.baseURL = bridge.baseURL
        var logs: [String] = []

        // Three subscriptions; the second only wants finished and undocumented-status events.
        let filters: [String: [String]?] = ["s0": nil, "s1": ["video.finished", "video.status_changed"], "s2": nil]
        var secrets: [String: WebhookSecret] = [:]
        for path in filters.keys.sorted() {
            secrets[path] = try await api.subscribe(url: receiver.url(path), events: filters[path] ?? nil).secret
        }
        let ids = simulator.control.createVideos(count: videoCount, pinnedStatus: "pending")
        for id in ids { try await api.watch(id) }
        let probe = ReadProbe(api)

        let reader = try SQLiteBridgeStore(path: directory.path("bridge.sqlite"))
        func notified() async -> [String: String] {
            let rows = (try? await reader.trackedVideos(tenant: "acme", limit: 10_000)) ?? []
            return Dictionary(uniqueKeysWithValues: rows.map { ($0.video.videoID, $0.video.notifiedStatus ?? "") })
        }

        var generator = SystemRandomNumberGenerator()
        var killAt = Set<Int>()
        while killAt.count < killCount { killAt.insert(Int.random(in: 10..<990, using: &generator)) }
        var thresholds = killAt.sorted()
        var stage = Dictionary(uniqueKeysWithValues: ids.map { ($0, 0) })
        var changes = 0
        var kills = 0
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(180)
        for _ in 0..<50_000 where clock.now < deadline {
            let seen = await notified()
            if changes == ids.count * (steps.count - 1) && ids.allSatisfy({ seen[$0] == "finished" }) { break }
            let ready = ids.filter { stage[$0]! < steps.count - 1 && seen[$0] == steps[stage[$0]!] }
            var killNow = false
            for id in ready.shuffled(using: &generator).prefix(Int.random(in: 5...40, using: &generator)) {
                stage[id]! += 1
                let status = steps[stage[id]!]
                _ = simulator.control.pin(videoID: id, status: status, videoURL: status == "finished" ? "https://cdn.example/\(id).mp4" : nil)
                changes += 1
                if let next = thresholds.first, changes >= next {
                    thresholds.removeFirst()
                    killNow = true
                    break
                }
            }
            if killNow {
                try await Task.sleep(for: .milliseconds(Int.random(in: 0...60, using: &generator)))
                await bridge.process.kill9()
                kills += 1
                logs.append(bridge.process.output)
                bridge = try await BinaryEndToEndTests.launch(directory, upstream: simulator.baseURL, extra: environment)
                api.baseURL = bridge.baseURL
            }
            try await Task.sleep(for: .milliseconds(10))
        }

        // The database must hold exactly the lifecycle of every video, once.
        let events = try await reader.events(tenant: "acme", limit: 1_000_000)
        var falseEvents = 0
        var eventProblems: [String] = []
        for (video, list) in Dictionary(grouping: events, by: { $0.videoID ?? "" }) {
            let statuses = list.map { payloadStatus($0) ?? "?" }
            if statuses != steps {
                falseEvents += max(0, statuses.count - Set(statuses).intersection(steps).count)
                if eventProblems.count < 5 { eventProblems.append("\(video): \(statuses)") }
            }
        }

        // Every event must reach every subscription whose filter matches it.
        let (expected, order) = expectations(events: events, filters: filters, steps: steps)
        let arrived = await receiver.awaitPairs(expected.keys, within: .seconds(60))
        let probed = await probe.finish()
        logs.append(bridge.process.output)
        await bridge.process.kill9()
        let received = receiver.received
        let check = ArrivalCheck(received: received, expected: expected, order: order)
        let badSignatures = countBadSignatures(received, secrets: secrets)

        #expect(kills == killCount, "\(kills) kills")
        #expect(changes == videoCount * (steps.count - 1), "only \(changes) changes were made before the deadline")
        #expect(events.count == videoCount * steps.count, "\(events.count) events; \(eventProblems)")
        #expect(eventProblems.isEmpty, "\(eventProblems)")
        #expect(expected.count == videoCount * (6 + 4 + 6))
        #expect(arrived && check.missing.isEmpty, "\(check.missing.count) pairs never arrived, e.g. \(check.missing.prefix(3))\n\(tail(logs.last ?? ""))")
        #expect(check.unexpected.isEmpty, "\(check.unexpected.prefix(5))")
        #expect(check.outOfOrder.isEmpty, "\(check.outOfOrder.prefix(5))")
        #expect(badSignatures == 0)
        #expect(probed.serverErrors == 0, "\(probed.samples)")
        return FaultFigures(
            scenario: "kill -9 × \(kills) during \(changes) changes (200 videos, 3 subs)", faultsInjected: kills,
            expected: expected.count, delivered: check.delivered, duplicates: check.duplicates,
            falseEvents: falseEvents + check.unexpected.count, serverErrors: probed.serverErrors,
            note: "\(events.count) events; \(check.outOfOrder.count) out of order; \(badSignatures) bad signatures"
        )
    }

}
