import BridgeCore
import BridgeStore
import Foundation
import Simulator
import SQLiteStore
import TestSupport
import Testing

/// Every upstream fault knob alone, then all of them mixed, over a long window while videos move
/// through their lifecycle: the binary never exits, and every event it writes is a status the upstream
/// really reported, in lifecycle order, once. The knobs' own figures come from the simulator's counters.
enum UpstreamFaultScenario {
    static let videoCount = 60
    static let unknownStatus = "queued_for_review"

    /// (name, faults, how long they stay on).
    static var phases: [(String, FaultSettings, Duration)] {
        [
            ("latency", FaultSettings(latency: .milliseconds(300)), .seconds(2)),
            ("hang", FaultSettings(hangRatio: 0.5, hangTime: .milliseconds(1500)), .seconds(3)),
            ("429 + Retry-After seconds", FaultSettings(rateLimitRatio: 0.5, retryAfterSeconds: 1), .seconds(2)),
            ("429 + Retry-After date", FaultSettings(rateLimitRatio: 0.5, retryAfterSeconds: 1, retryAfterHTTPDate: true), .seconds(2)),
            ("429 without Retry-After", FaultSettings(rateLimitRatio: 0.5, omitRetryAfter: true), .seconds(2)),
            ("500 JSON", FaultSettings(serverErrorRatio: 0.5), .seconds(2)),
            ("503 text", FaultSettings(serverErrorRatio: 0.5, serverErrorStatus: 503), .seconds(2)),
            ("HTML page", FaultSettings(htmlRatio: 0.5), .seconds(2)),
            ("truncated JSON", FaultSettings(truncatedRatio: 0.5), .seconds(2)),
            ("non-zero code", FaultSettings(nonzeroCodeRatio: 0.5), .seconds(2)),
            ("unknown status", FaultSettings(unknownStatusRatio: 0.3, unknownStatus: unknownStatus), .seconds(2)),
            ("backwards", FaultSettings(backwardsRatio: 0.5), .seconds(2)),
            ("all mixed", FaultSettings(
                latency: .milliseconds(20), hangRatio: 0.05, hangTime: .milliseconds(1500), rateLimitRatio: 0.08,
                retryAfterSeconds: 1, serverErrorRatio: 0.08, htmlRatio: 0.08, truncatedRatio: 0.08, nonzeroCodeRatio: 0.08,
                unknownStatusRatio: 0.05, unknownStatus: unknownStatus, backwardsRatio: 0.1
            ), .seconds(12)),
        ]
    }

    /// The knobs a setting turns on.
    static func knobs(enabledBy faults: FaultSettings) -> [InjectedFault] {
        var knobs: [InjectedFault] = []
        if faults.latency > .zero { knobs.append(.latency) }
        if faults.hangRatio > 0 { knobs.append(.hang) }
        if faults.rateLimitRatio > 0 { knobs.append(.rateLimit) }
        if faults.serverErrorRatio > 0 { knobs.append(.serverError) }
        if faults.htmlRatio > 0 { knobs.append(.html) }
        if faults.truncatedRatio > 0 { knobs.append(.truncated) }
        if faults.nonzeroCodeRatio > 0 { knobs.append(.nonzeroCode) }
        if faults.unknownStatusRatio > 0 { knobs.append(.unknownStatus) }
        if faults.backwardsRatio > 0 { knobs.append(.backwards) }
        return knobs
    }

    static func run() async throws -> FaultFigures {
        try await withScope { scope in try await run(in: scope) }
    }

    static func run(in scope: TestScope) async throws -> FaultFigures {
        let directory = try TemporaryDirectory("fault-upstream")
        defer { directory.remove() }
        let simulator = scope.adopt(try await startFaultSimulator(seed: 82))
        let receiver = scope.adopt(try await WebhookReceiver.start())
        let api = try BridgeAPIClient()
        scope.onExit { api.stop() }
        let bridge = try await BinaryEndToEndTests.launch(
            directory, upstream: simulator.baseURL,
            extra: ["BRIDGE_POLL_INTERVAL": "100ms", "SURREAL_TIMEOUT": "1s", "BRIDGE_LOG_LEVEL": "error"]
        )
        api.baseURL = bridge.baseURL
        try await api.subscribe(url: receiver.url("all"))
        let ids = simulator.control.createVideos(count: videoCount, pinnedStatus: "pending")
        for id in ids { try await api.watch(id) }
        let probe = ReadProbe(api)

        // Each video walks pending → in_progressing → finished (every fourth ends in error); a step is
        // taken at random moments while the faults are on, so some steps are seen only after a fault.
        var history = Dictionary(uniqueKeysWithValues: ids.map { ($0, ["pending"]) })
        var generator = SystemRandomNumberGenerator()
        func advance(_ count: Int) {
            let movable = ids.filter { history[$0]!.count < 3 }.shuffled(using: &generator).prefix(count)
            for id in movable {
                let next = history[id]!.count == 1 ? "in_progressing" : (ids.firstIndex(of: id)! % 4 == 0 ? "error" : "finished")
                history[id]!.append(next)
                _ = simulator.control.pin(videoID: id, status: next, videoURL: next == "finished" ? "https://cdn.example/\(id).mp4" : nil)
            }
        }
        simulator.control.resetInjectedFaults()
        for (_, faults, duration) in phases {
            let before = simulator.control.injectedFaults()
            simulator.control.setFaults(faults)
            let slices = max(1, Int(duration / .milliseconds(500)))
            for _ in 0..<slices {
                advance(2)
                try await Task.sleep(for: .milliseconds(500))
            }
            // A loaded machine polls less often (and the bridge backs off): a phase of one knob lasts
            // until that knob has fired at least once, by count, within a generous bound. (The mixed
            // phase is about their interplay; by its end most videos are terminal and polled no more.)
            let wanted = knobs(enabledBy: faults)
            for _ in 0..<(wanted.count == 1 ? 240 : 0) {
                let now = simulator.control.injectedFaults()
                if wanted.allSatisfy({ (now[$0] ?? 0) > (before[$0] ?? 0) }) { break }
                try await Task.sleep(for: .milliseconds(250))
            }
        }
        let injected = simulator.control.injectedFaults()
        simulator.control.setFaults(.none)
        advance(videoCount * 2)
        advance(videoCount * 2)
        let reader = try SQLiteBridgeStore(path: directory.path("bridge.sqlite"))
        let settled = await eventually(within: .seconds(90), every: .milliseconds(100)) {
            let rows = (try? await reader.trackedVideos(tenant: "acme", limit: 1000)) ?? []
            return rows.count == videoCount && rows.allSatisfy { ["finished", "error"].contains($0.video.notifiedStatus ?? "") }
        }
        let alive = bridge.process.poll() == nil

        // Every event must be a status the video really had, in lifecycle order, once — or the one
        // `video.status_changed` the contract asks for when the upstream reports an undocumented status.
        let events = try await reader.events(tenant: "acme", limit: 100_000)
        var falseEvents: [String] = []
        var contractUnknown = 0
        for id in ids {
            let statuses = events.filter { $0.videoID == id }.map { payloadStatus($0) ?? "?" }
            let documented = statuses.filter { $0 != unknownStatus }
            let unknown = statuses.count - documented.count
            contractUnknown += unknown
            if !isOrderedSubsequence(documented, of: history[id]!) || unknown > 1
                || documented.first != "pending" || documented.last != history[id]!.last
            {
                falseEvents.append("\(id): \(statuses) for \(history[id]!)")
            }
        }
        let expected = pairs(of: events, to: "all")
        _ = await receiver.awaitPairs(expected.keys, within: .seconds(30))
        let probed = await probe.finish()
        let log = bridge.process.output
        await bridge.process.kill9()
        let check = ArrivalCheck(received: receiver.received, expected: expected, order: [:])

        let knobs = InjectedFault.allCases.filter { $0 != .latency }
        #expect(knobs.allSatisfy { (injected[$0] ?? 0) > 0 }, "knobs that never fired: \(knobs.filter { (injected[$0] ?? 0) == 0 })")
        #expect(alive, "the bridge exited under upstream faults\n\(tail(log))")
        #expect(settled, "not every video reached its final status\n\(tail(log))")
        #expect(falseEvents.isEmpty, "\(falseEvents.prefix(5))")
        #expect(check.missing.isEmpty && check.unexpected.isEmpty, "missing \(check.missing.prefix(3)), unexpected \(check.unexpected.prefix(3))")
        #expect(probed.serverErrors == 0, "\(probed.samples)")
        let summary = injected.sorted { $0.key < $1.key }.map { "\($0.key.rawValue) \($0.value)" }.joined(separator: ", ")
        return FaultFigures(
            scenario: "upstream knobs alone then mixed (\(phases.count) phases, 60 videos)",
            faultsInjected: injected.values.reduce(0, +), expected: expected.count, delivered: check.delivered,
            duplicates: check.duplicates, falseEvents: falseEvents.count + check.unexpected.count, serverErrors: probed.serverErrors,
            note: "\(contractUnknown) status_changed for the injected unknown status (contract)", details: summary
        )
    }

    static func isOrderedSubsequence(_ list: [String], of sequence: [String]) -> Bool {
        var remaining = sequence[...]
        for item in list {
            guard let index = remaining.firstIndex(of: item) else { return false }
            remaining = remaining[(index + 1)...]
        }
        return true
    }
}
