import BridgeCore
import BridgeStore
import Foundation
import PostgresStore
import Simulator
import TestSupport
import Testing
import Webhooks

/// Three real `serve` processes on one PostgreSQL database (the test's private cluster), the
/// simulator and a verifying receiver: 1,000 status changes across 200 videos and 3 subscriptions,
/// with `kill -9` of the poller leader and, later, of a replica busy delivering, each restarted.
///
/// The driver moves a video on only after the bridge recorded its previous status (read from the
/// database), so every change is observable and must become exactly one event and one callback per
/// matching subscription, in order; duplicates may only repeat a `webhook-id`.
@Suite("Several replicas on PostgreSQL")
struct ReplicaTests {
    static let steps = ["pending", "in_progressing", "qc_review", "retouching", "publishing", "finished"]
    static let videoCount = 200
    static let replicaCount = 3
    static let pollInterval: Duration = .milliseconds(100)
    static let key = String(repeating: "5a", count: 32)

    @Test("3 replicas, kill -9 of the leader and of a busy replica: every event once per subscription, in order, one poller at a time")
    func replicasSurviveKills() async throws {
        try await withScope { scope in try await Self.run(in: scope) }
    }

    static func run(in scope: TestScope) async throws {
        let server = try await PostgresServer.shared()
        let url = try await server.createDatabase()
        scope.onExit { await server.dropDatabase(url) }
        let directory = try TemporaryDirectory("replicas")
        defer { directory.remove() }
        let simulator = scope.adopt(try await startFaultSimulator(seed: 83))
        let receiver = scope.adopt(try await WebhookReceiver.start())
        let api = try BridgeAPIClient()
        scope.onExit { api.stop() }
        var settings = ServeProcess.settings(
            database: url, upstream: simulator.baseURL, token: "e2e-token", apiKeys: "acme:\(BinaryEndToEndTests.key)", logLevel: "notice"
        )
        settings["BRIDGE_ENCRYPTION_KEY"] = key
        settings["BRIDGE_POLL_INTERVAL"] = "\(pollInterval.components.seconds * 1000 + pollInterval.components.attoseconds / 1_000_000_000_000_000)ms"
        settings["BRIDGE_DELIVERY_TIMEOUT"] = "2s"
        settings["BRIDGE_RETRY_SCHEDULE"] = "0s,100ms,500ms,1s,2s,5s,10s,30s"
        let binary = try bridgeBinaryPath()
        var logs: [String] = []
        func launch(_ index: Int) async throws -> ServeProcess {
            try await ServeProcess.start(binary: binary, settings: settings, log: directory.path("replica-\(index)-\(UUID().uuidString.prefix(4)).log"))
        }
        var replicas: [ServeProcess] = []
        for index in 0..<replicaCount { replicas.append(try await launch(index)) }
        scope.onExit { [replicas] in for replica in replicas { await replica.process.kill9() } }
        api.baseURL = replicas[0].baseURL

        let filters: [String: [String]?] = ["s0": nil, "s1": ["video.finished", "video.status_changed"], "s2": nil]
        var secrets: [String: WebhookSecret] = [:]
        for path in filters.keys.sorted() {
            secrets[path] = try await api.subscribe(url: receiver.url(path), events: filters[path] ?? nil).secret
        }
        let ids = simulator.control.createVideos(count: videoCount, pinnedStatus: "pending")
        // Registrations go to every replica: each serves the whole API.
        for (index, id) in ids.enumerated() {
            api.baseURL = replicas[index % replicaCount].baseURL
            try await api.watch(id)
        }

        // From here on the upstream sees only the poller (watch registration asked `video.get` once each).
        simulator.control.resetCallCounts()
        let reader = try await PostgresBridgeStore(url: url, configuration: .init(encryptionKey: try #require(SecretBox.parseKey(key)), maximumConnections: 2))
        func notified() async -> [String: String] {
            let rows = (try? await reader.trackedVideos(tenant: "acme", limit: 10_000)) ?? []
            return Dictionary(uniqueKeysWithValues: rows.map { ($0.video.videoID, $0.video.notifiedStatus ?? "") })
        }
        /// The replica whose process holds the poller lease (its holder is `host:pid:random`).
        func leaderIndex() async -> Int? {
            guard let lease = try? await reader.pollerLease(), lease.expiresAt > Date() else { return nil }
            let pid = lease.holder.split(separator: ":").dropFirst().first.flatMap { Int32($0) }
            return replicas.firstIndex { $0.process.pid == pid }
        }

        let totalChanges = videoCount * (steps.count - 1)
        var stage = Dictionary(uniqueKeysWithValues: ids.map { ($0, 0) })
        var changes = 0
        var failovers: [Duration] = []
        var killedLeader = false
        var killedWorker = false
        var generator = SystemRandomNumberGenerator()
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(300)
        for _ in 0..<50_000 where clock.now < deadline {
            let seen = await notified()
            if changes == totalChanges && ids.allSatisfy({ seen[$0] == "finished" }) { break }
            if !killedLeader, changes >= totalChanges / 3, let leader = await leaderIndex() {
                // kill -9 the poller leader; a standby must take the lease with the next term.
                let before = try await reader.pollerLease()
                let killed = clock.now
                await replicas[leader].process.kill9()
                logs.append(replicas[leader].process.output)
                killedLeader = true
                for _ in 0..<2_000 where clock.now < killed + .seconds(60) {
                    if let lease = try? await reader.pollerLease(), lease.term > (before?.term ?? 0) { break }
                    try await Task.sleep(for: .milliseconds(10))
                }
                failovers.append(clock.now - killed)
                replicas[leader] = try await launch(leader)
                api.baseURL = replicas[(leader + 1) % replicaCount].baseURL
            }
            if !killedWorker, changes >= 2 * totalChanges / 3 {
                // kill -9 a replica that is not the leader, while callbacks are in flight.
                let leader = await leaderIndex() ?? 0
                let victim = (leader + 1) % replicaCount
                await replicas[victim].process.kill9()
                logs.append(replicas[victim].process.output)
                killedWorker = true
                replicas[victim] = try await launch(victim)
            }
            let ready = ids.filter { stage[$0]! < steps.count - 1 && seen[$0] == steps[stage[$0]!] }
            for id in ready.shuffled(using: &generator).prefix(Int.random(in: 5...40, using: &generator)) {
                stage[id]! += 1
                let status = steps[stage[id]!]
                _ = simulator.control.pin(videoID: id, status: status, videoURL: status == "finished" ? "https://cdn.example/\(id).mp4" : nil)
                changes += 1
            }
            try await Task.sleep(for: .milliseconds(10))
        }

        let events = try await reader.events(tenant: "acme", limit: 1_000_000)
        var eventProblems: [String] = []
        for (video, list) in Dictionary(grouping: events, by: { $0.videoID ?? "" }) {
            let statuses = list.map { payloadStatus($0) ?? "?" }
            if statuses != steps, eventProblems.count < 5 { eventProblems.append("\(video): \(statuses)") }
        }
        let (expected, order) = expectations(events: events, filters: filters, steps: steps)
        let arrived = await receiver.awaitPairs(expected.keys, within: .seconds(90))
        let received = receiver.received
        let check = ArrivalCheck(received: received, expected: expected, order: order)
        let badSignatures = countBadSignatures(received, secrets: secrets)
        // One poller at a time, counted by the simulator across every replica (its last 1,000 calls of
        // each endpoint). A poller's cycles start at least one interval apart, so within any 20
        // intervals it lists at most 21 times, plus a few when load delays one cycle's list and not the
        // next's; two pollers at once list about twice as often. (A window of one interval is not
        // used: a delayed list and the next cycle's on-time one can share it with a single poller.)
        let lists = simulator.control.recentCalls(to: .list).sorted()
        let window = pollInterval.timeInterval * 20
        var busiestWindow = 0
        var start = 0
        for (end, time) in lists.enumerated() {
            while time.timeIntervalSince(lists[start]) >= window { start += 1 }
            busiestWindow = max(busiestWindow, end - start + 1)
        }
        let counts = simulator.control.callCounts()
        let callsPerCycle = Double(counts.list + counts.get) / Double(max(counts.list, 1))
        for replica in replicas { logs.append(replica.process.output) }
        let bound = pollInterval * 3 + .seconds(10)

        let table = FaultFigures.table([
            FaultFigures(
                scenario: "3 replicas on PostgreSQL, kill -9 of the leader and of a busy replica", faultsInjected: 2,
                expected: expected.count, delivered: check.delivered, duplicates: check.duplicates,
                falseEvents: check.unexpected.count + eventProblems.count, serverErrors: 0,
                note: "failover \(failovers.map { DurationText.format($0) }) (bound \(DurationText.format(bound))); at most \(busiestWindow) lists in 20 intervals; \(String(format: "%.2f", callsPerCycle)) upstream calls per list cycle; \(check.outOfOrder.count) out of order"
            )
        ])
        print("Replica figures\n" + table)
        #expect(killedLeader && killedWorker)
        #expect(changes == totalChanges, "only \(changes) changes were made before the deadline")
        #expect(events.count == videoCount * steps.count && eventProblems.isEmpty, "\(events.count) events; \(eventProblems)")
        #expect(arrived && check.missing.isEmpty, "\(check.missing.count) pairs never arrived, e.g. \(check.missing.prefix(3))\n\(tail(logs.joined(separator: "\n")))")
        #expect(check.unexpected.isEmpty, "\(check.unexpected.prefix(5))")
        #expect(check.outOfOrder.isEmpty, "\(check.outOfOrder.prefix(5))")
        #expect(badSignatures == 0)
        #expect(busiestWindow <= 24, "\(busiestWindow) video.list calls within 20 poll intervals: two pollers at once?")
        #expect(callsPerCycle <= 2, "\(callsPerCycle) upstream calls per cycle")
        #expect(failovers.count == 1 && failovers.allSatisfy { $0 <= bound }, "failover took \(failovers), bound \(bound)")
    }
}
