import BridgeCore
import BridgeStore
import Foundation
import Logging
import Simulator
import SQLiteStore
import TestSupport
import Testing
import Webhooks

/// `kill -9` of the real binary in the middle of bursts of status changes, restarted on the same
/// file each time: every change must produce exactly one event, each with its outbox rows.
@Suite("Crash recovery with the real binary", .serialized)
struct CrashRecoveryTests {
    @Test("kill -9 mid-burst loses no event and doubles none")
    func killNineDuringBursts() async throws {
        try await withScope { scope in
            let directory = try TemporaryDirectory("crash")
            defer { directory.remove() }
            var quiet = Logger(label: "test")
            quiet.logLevel = .critical
            let simulator = try await UpstreamSimulator.start(
                SimulatorConfiguration(port: 0, token: "crash-token", renderTime: .seconds(3600), seed: 3),
                logger: quiet
            )
            scope.adopt(simulator)
            let databasePath = directory.path("bridge.sqlite")
            let videoCount = 200
            let subscriptionCount = 3

            // Seed through the store module, as an earlier run of the bridge would have.
            let ids = simulator.control.createVideos(count: videoCount, pinnedStatus: "pending")
            do {
                let seed = try SQLiteBridgeStore(path: databasePath)
                for index in 0..<subscriptionCount {
                    try await seed.createSubscription(
                        NewSubscription(tenant: "acme", url: "https://hooks.example.com/\(index)", secret: "whsec_seed"),
                        now: Date()
                    )
                }
                for id in ids {
                    try await seed.track(
                        tenant: "acme", videoID: id, source: .watch, initial: Observation(videoID: id, status: "pending"),
                        now: Date(), nextPollAt: Date()
                    )
                }
            }

            let binary = try bridgeBinaryPath()
            let environment = [
                "BRIDGE_DATABASE": databasePath,
                "SURREAL_BASE_URL": simulator.baseURL,
                "SURREAL_API_TOKEN": "crash-token",
                "BRIDGE_API_KEYS": "acme:crash-test-key-0123456789",
                "BRIDGE_POLL_INTERVAL": "50ms",
                "BRIDGE_LISTEN": "127.0.0.1:0",
                "BRIDGE_LOG_LEVEL": "warning",
            ]
            func launch(_ round: Int) throws -> ChildProcess {
                try ChildProcess(
                    executable: binary, arguments: ["serve"], environment: environment,
                    outputPath: directory.path("serve-\(round).log")
                )
            }
            let reader = try SQLiteBridgeStore(path: databasePath)
            @Sendable func notified(_ status: String) async -> Int {
                ((try? await reader.trackedVideos(tenant: "acme", limit: 10_000)) ?? []).filter { $0.video.notifiedStatus == status }.count
            }

            var kills = 0
            var generator = SystemRandomNumberGenerator()
            let steps: [(status: String, url: Bool)] = [("in_progressing", false), ("moderation_review", false), ("finished", true)]
            for (round, step) in steps.enumerated() {
                var process = try launch(round * 2)
                try await Task.sleep(for: .milliseconds(300))  // up and polling
                for id in ids {
                    _ = simulator.control.pin(videoID: id, status: step.status, videoURL: step.url ? "https://cdn/\(id).mp4" : nil)
                }
                // Kill somewhere inside the burst: before, during or just after the cycle that records it.
                try await Task.sleep(for: .milliseconds(Int.random(in: 0...120, using: &generator)))
                await process.kill9()
                kills += 1
                process = try launch(round * 2 + 1)
                let caughtUp = await eventually(within: .seconds(60)) { await notified(step.status) == videoCount }
                let notifiedCount = await notified(step.status)
                #expect(caughtUp, "round \(round): \(notifiedCount) of \(videoCount) caught up\n\(process.output)")
                await process.kill9()
                kills += 1
            }

            // Exactly one event per change per video, in order, each fanned out to every subscription.
            let events = try await reader.events(tenant: "acme", limit: 100_000)
            let byVideo = Dictionary(grouping: events, by: { $0.videoID ?? "" })
            #expect(byVideo.count == videoCount)
            for (video, list) in byVideo {
                #expect(
                    list.map(\.type) == [.pending, .inProgressing, .statusChanged, .finished],
                    "video \(video): \(list.map(\.type.rawValue))"
                )
            }
            let (eventCount, deliveries) = try await reader.counts()
            #expect(eventCount == videoCount * 4)
            #expect(deliveries[.pending] == videoCount * 4 * subscriptionCount)
            #expect(kills == 6)
        }
    }
}

@Suite("Delivery crash recovery with the real binary", .serialized)
struct DeliveryCrashTests {
    @Test("kill -9 with 1,000 deliveries in flight: all arrive after restart, duplicates only with the same webhook-id")
    func killNineWithDeliveriesInFlight() async throws {
        try await withScope { scope in
            let directory = try TemporaryDirectory("delivery-crash")
            defer { directory.remove() }
            let receiver = scope.adopt(try await WebhookReceiver.start { _, _ in .delayThen(.milliseconds(1500), 200) })
            let databasePath = directory.path("bridge.sqlite")
            let subscriptions = 4
            let videos = 250
            var expected = Set<String>()
            do {
                let seed = try SQLiteBridgeStore(path: databasePath)
                for index in 0..<subscriptions {
                    try await seed.createSubscription(
                        NewSubscription(tenant: "acme", url: receiver.url("s\(index)"), secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
                        now: Date()
                    )
                }
                for index in 0..<videos {
                    let report = try await seed.track(
                        tenant: "acme", videoID: "v\(index)", source: .watch,
                        initial: Observation(videoID: "v\(index)", status: "finished"), now: Date(),
                        nextPollAt: Date().addingTimeInterval(86_400)
                    )
                    for event in report.report.events {
                        for sub in 0..<subscriptions { expected.insert("s\(sub)/\(event.id)") }
                    }
                }
            }
            #expect(expected.count == 1000)
            let environment = [
                "BRIDGE_DATABASE": databasePath,
                "SURREAL_BASE_URL": "http://127.0.0.1:9",
                "SURREAL_API_TOKEN": "unused",
                "BRIDGE_API_KEYS": "acme:crash-test-key-0123456789",
                "BRIDGE_ALLOW_PRIVATE_DESTINATIONS": "true",
                "BRIDGE_DELIVERY_CONCURRENCY": "1000",
                "BRIDGE_DELIVERY_TIMEOUT": "5s",
                // Retries soon after a timeout on a loaded machine, so recovery waits on the lease, not on backoff.
                "BRIDGE_RETRY_SCHEDULE": "0s,100ms,500ms,1s,2s,5s,10s,30s",
                "BRIDGE_LISTEN": "127.0.0.1:0",
                "BRIDGE_LOG_LEVEL": "error",
            ]
            let binary = try bridgeBinaryPath()
            let first = try ChildProcess(executable: binary, arguments: ["serve"], environment: environment, outputPath: directory.path("1.log"))
            // Wait until the receiver holds (nearly) all 1,000 requests open, then kill.
            let inFlight = await eventually(within: .seconds(60)) { receiver.received.count >= 950 }
            #expect(inFlight, "only \(receiver.received.count) requests reached the receiver\n\(first.output)")
            await first.kill9()
            try await Task.sleep(for: .milliseconds(300))  // requests already on the wire still land
            let beforeRestart = receiver.received.count

            let second = try ChildProcess(executable: binary, arguments: ["serve"], environment: environment, outputPath: directory.path("2.log"))
            let reader = try SQLiteBridgeStore(path: databasePath)
            // The attempts in flight at the kill are re-sent once their lease (3 × timeout + 5 s = 20 s)
            // has run out; on a loaded machine that and the re-sends take a while: wait generously.
            let done = await eventually(within: .seconds(240)) {
                ((try? await reader.counts().deliveries[.succeeded]) ?? 0) == 1000
            }
            let counts = String(describing: try? await reader.counts().deliveries)
            #expect(done, "\(counts)\n\(second.output)")
            await second.kill9()

            let received = receiver.received
            let keys = received.map { "\($0.path)/\($0.id)" }
            // Every event reached every subscription at least once, and nothing else arrived: any duplicate
            // repeats an expected (subscription, webhook-id) pair — an attempt in flight at the kill, or one
            // that timed out on a loaded machine and was retried.
            #expect(Set(keys) == expected, "\(keys.count - Set(keys).count) duplicates; \(beforeRestart) requests before the restart")
            let secret = try #require(WebhookSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"))
            #expect(received.allSatisfy { message in
                WebhookSigner.verify(
                    id: message.id, timestamp: Int64(message.timestamp) ?? 0, body: message.body,
                    header: message.signature, secrets: [secret]
                )
            })
        }
    }
}
