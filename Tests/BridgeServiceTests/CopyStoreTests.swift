import BridgeCore
import BridgeStore
import CurlHTTP
import Foundation
import SQLiteStore
import TestSupport
import Testing
import Webhooks

/// `copy-store` with the real binary: a populated SQLite database copied into PostgreSQL, then
/// served there by the real binary.
@Suite("copy-store")
struct CopyStoreTests {
    @Test("SQLite → PostgreSQL: subscriptions, sealed secrets (still verifying), held deliveries and tracked videos carry over; a second copy is refused")
    func sqliteToPostgres() async throws {
        try await withScope { scope in
            let directory = try TemporaryDirectory("copy-store")
            defer { directory.remove() }
            let server = try await PostgresServer.shared()
            let url = try await server.createDatabase()
            scope.onExit { await server.dropDatabase(url) }
            let receiver = scope.adopt(try await WebhookReceiver.start())
            let simulator = scope.adopt(try await startFaultSimulator(seed: 85))

            // The source: an active and a disabled subscription, three tracked videos, held deliveries.
            let path = directory.path("bridge.sqlite")
            let secret = WebhookSecret.generate()
            let now = Date()
            let active: Subscription
            let disabled: Subscription
            do {
                let source = try SQLiteBridgeStore(path: path)
                active = try await source.createSubscription(
                    NewSubscription(tenant: "acme", url: receiver.url("active"), secret: secret.text), now: now
                )
                disabled = try await source.createSubscription(
                    NewSubscription(tenant: "acme", url: receiver.url("disabled"), secret: WebhookSecret.generate().text), now: now
                )
                try await source.setSubscriptionEnabled(tenant: "acme", id: disabled.id, enabled: false, now: now)
                for id in simulator.control.createVideos(count: 3, pinnedStatus: "in_progressing") {
                    try await source.track(
                        tenant: "acme", videoID: id, source: .watch, initial: Observation(videoID: id, status: "in_progressing"),
                        now: now, nextPollAt: now + 3600
                    )
                }
            }
            let key = try String(contentsOfFile: SQLiteBridgeStore.keyFilePath(forDatabase: path), encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)

            let binary = try bridgeBinaryPath()
            let environment = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]
            let copy = try ChildProcess(
                executable: binary, arguments: ["copy-store", "--from", path, "--to", url], environment: environment,
                outputPath: directory.path("copy.log")
            )
            let status = try #require(await copy.waitForExit(within: .seconds(120)))
            #expect(ChildProcess.exitedNormally(status), "\(copy.output)")
            #expect(copy.output.contains("subscriptions: 2 rows") && copy.output.contains("videos: 3 rows"), "\(copy.output)")
            #expect(!copy.output.contains(key), "the key is never printed")

            // A second copy into the now non-empty target changes nothing and says why.
            let again = try ChildProcess(
                executable: binary, arguments: ["copy-store", "--from", path, "--to", url], environment: environment,
                outputPath: directory.path("again.log")
            )
            let againStatus = try #require(await again.waitForExit(within: .seconds(120)))
            #expect(ChildProcess.exitedNormally(againStatus, code: 1) && again.output.contains("not empty"), "\(again.output)")

            // Served from PostgreSQL with the source's key: everything is there, and the copied secret signs.
            var settings = ServeProcess.settings(
                database: url, upstream: simulator.baseURL, token: "e2e-token", apiKeys: "acme:\(BinaryEndToEndTests.key)"
            )
            settings["BRIDGE_ENCRYPTION_KEY"] = key
            let bridge = try await ServeProcess.start(binary: binary, settings: settings, log: directory.path("serve.log"))
            scope.onExit { await bridge.process.kill9() }
            let transport = try CurlTransport()
            scope.onExit { transport.shutdown() }
            func get(_ route: String) async throws -> [String: Any] {
                let response = try await transport.send(
                    OutboundRequest(url: bridge.baseURL + route, headers: ["Authorization": "Bearer \(BinaryEndToEndTests.key)"])
                )
                return (try JSONSerialization.jsonObject(with: response.body) as? [String: Any]) ?? [:]
            }
            let subscriptions = try #require(try await get("/v1/subscriptions")["data"] as? [[String: Any]])
            #expect(Set(subscriptions.compactMap { $0["id"] as? String }) == [active.id, disabled.id])
            #expect(subscriptions.first { $0["id"] as? String == disabled.id }?["enabled"] as? Bool == false)
            let videos = try #require(try await get("/v1/videos")["data"] as? [[String: Any]])
            #expect(videos.count == 3)
            let held = try #require(try await get("/v1/deliveries?status=held")["data"] as? [[String: Any]])
            #expect(held.count == 3 && held.allSatisfy { $0["subscription_id"] as? String == disabled.id }, "\(held)")
            _ = try await BinaryEndToEndTests.post(transport, bridge.baseURL + "/v1/subscriptions/\(active.id)/test", [:])
            #expect(await eventually(within: .seconds(60)) { receiver.received(path: "active").contains { $0.body.contains(Data("ping".utf8)) } })
            let ping = try #require(receiver.received(path: "active").last { $0.body.contains(Data("ping".utf8)) })
            #expect(WebhookSigner.verify(id: ping.id, timestamp: Int64(ping.timestamp) ?? 0, body: ping.body, header: ping.signature, secrets: [secret]))
        }
    }
}
