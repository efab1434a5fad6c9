import CurlHTTP
import Foundation
import Logging
import Simulator
import TestSupport
import Testing

/// Per-tenant upstream accounts through the real binary: two tenants, each with a token of its own
/// on two accounts of one simulator, and no shared token at all.
@Suite("Upstream accounts per tenant", .serialized)
struct UpstreamAccountsTests {
    static let keys = ["acme": "acme-key-0123456789abcdef", "globex": "globex-key-0123456789abcdef"]

    static func call(
        _ transport: CurlTransport, _ method: String, _ url: String, tenant: String, _ json: [String: Any]? = nil
    ) async throws -> (status: Int, json: [String: Any]) {
        var headers: HeaderFields = ["Authorization": "Bearer \(keys[tenant] ?? "")"]
        if json != nil { headers.add(name: "Content-Type", value: "application/json") }
        let response = try await transport.send(
            OutboundRequest(method: method, url: url, headers: headers, body: try json.map { try JSONSerialization.data(withJSONObject: $0) })
        )
        return (response.status, (try? JSONSerialization.jsonObject(with: response.body) as? [String: Any]) ?? [:])
    }

    @Test("each tenant's generate, watch and polling use its own account: one video.list per account per cycle, no cross-account call")
    func twoAccounts() async throws {
        try await withScope { scope in
            let directory = try TemporaryDirectory("accounts")
            defer { directory.remove() }
            // The default account's token is given to nobody: a call reaching it would be a bug.
            let simulator = try await startQuietSimulator(
                SimulatorConfiguration(
                    port: 0, token: "nobody-has-this-token", renderTime: .milliseconds(400), pendingTime: .milliseconds(100), seed: 11,
                    otherAccounts: ["acme-upstream-token", "globex-upstream-token"]
                )
            )
            scope.adopt(simulator)
            let accountA = try #require(simulator.account("acme-upstream-token"))
            let accountB = try #require(simulator.account("globex-upstream-token"))
            let receiver = scope.adopt(try await WebhookReceiver.start())
            let transport = try CurlTransport()
            defer { transport.shutdown() }

            var settings = ServeProcess.settings(
                database: directory.path("bridge.sqlite"), upstream: simulator.baseURL, token: "",
                apiKeys: Self.keys.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: ","), logLevel: "debug"
            )
            settings["SURREAL_API_TOKEN"] = nil
            settings["BRIDGE_UPSTREAM_TOKENS"] = "acme:acme-upstream-token,globex:globex-upstream-token"
            settings["BRIDGE_POLL_INTERVAL"] = "100ms"
            settings["BRIDGE_LOG_FORMAT"] = "json"
            let bridge = try await ServeProcess.start(binary: try bridgeBinaryPath(), settings: settings, log: directory.path("serve.log"))
            defer { bridge.process.signal(SIGKILL) }

            // Each tenant renders through the proxy: on its own account only.
            for tenant in ["acme", "globex"] {
                let generated = try await Self.call(transport, "POST", bridge.baseURL + "/v1/v2v/video.generate", tenant: tenant, [
                    "audio_url": "https://media.example.com/a.mp3", "image_url": "https://media.example.com/f.jpg",
                    "callback_url": receiver.url(tenant), "events": ["video.finished"],
                ])
                #expect(generated.status == 200, "\(generated.json)")
            }
            #expect(accountA.callCounts().generate == 1 && accountB.callCounts().generate == 1)

            // A video made elsewhere on globex's account: acme's key cannot watch it (its account does
            // not hold it), globex's can; each lookup goes to the caller's account.
            let elsewhere = accountB.createVideos(count: 1, pinnedStatus: "in_progressing")[0]
            let getsBefore = (accountA.callCounts().get, accountB.callCounts().get)
            let refused = try await Self.call(transport, "POST", bridge.baseURL + "/v1/videos/\(elsewhere)/watch", tenant: "acme")
            #expect(refused.status == 404, "\(refused.json)")
            #expect(accountA.callCounts().get == getsBefore.0 + 1 && accountB.callCounts().get == getsBefore.1, "acme's lookup used acme's account")
            let watched = try await Self.call(transport, "POST", bridge.baseURL + "/v1/videos/\(elsewhere)/watch", tenant: "globex")
            #expect((200..<300).contains(watched.status), "\(watched.json)")
            // A video that stays in progress on each account, so both have something due every cycle.
            let lingering = accountA.createVideos(count: 1, pinnedStatus: "in_progressing")[0]
            #expect((200..<300).contains(try await Self.call(transport, "POST", bridge.baseURL + "/v1/videos/\(lingering)/watch", tenant: "acme").status))

            let finished = await eventually(within: .seconds(60)) {
                receiver.received(path: "acme").contains { $0.type == "video.finished" }
                    && receiver.received(path: "globex").contains { $0.type == "video.finished" }
            }
            #expect(finished, "\(bridge.process.output.suffix(2000))")
            // From here both accounts have a video due in every cycle: let several cycles pass, stop, count.
            let offset = bridge.process.output.utf8.count
            let before = ["acme": accountA.callCounts().list, "globex": accountB.callCounts().list]
            @Sendable func cyclesSince() -> [(account: String, lists: Int)] {
                Self.listCycles(String(decoding: bridge.process.output.utf8.dropFirst(offset), as: UTF8.self))
            }
            let cyclesSeen = await eventually(within: .seconds(60)) {
                let cycles = cyclesSince()
                return ["acme", "globex"].allSatisfy { name in cycles.filter { $0.account == name }.count >= 10 }
            }
            #expect(cyclesSeen)
            bridge.process.signal(SIGTERM)
            _ = await bridge.process.waitForExit(within: .seconds(30))

            // Each account's own loop: every one of its cycles listed it once, and the simulator saw as many
            // lists on that account (give or take the cycles cut at the mark and at the stop).
            for (name, account) in [("acme", accountA), ("globex", accountB)] {
                let cycles = cyclesSince().filter { $0.account == name }
                #expect(cycles.count >= 10 && cycles.allSatisfy { $0.lists == 1 }, "\(name): \(cycles)")
                let seen = account.callCounts().list - (before[name] ?? 0)
                #expect(abs(seen - cycles.count) <= 2, "\(name): the simulator saw \(seen) lists, the poller logged \(cycles.count)")
            }
            #expect(simulator.control.callCounts().total == 0, "no call with a token of neither tenant")
            #expect(!bridge.process.output.contains("acme-upstream-token") && !bridge.process.output.contains("globex-upstream-token"))
        }
    }

    /// The account and `list_calls` of each poll cycle that listed (the poller's debug line, JSON).
    static func listCycles(_ log: String) -> [(account: String, lists: Int)] {
        log.split(separator: "\n").compactMap { line in
            guard line.contains("\"msg\":\"poll cycle\""), line.contains("\"mode\":\"list\""),
                let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let lists = Int(object["list_calls"] as? String ?? "")
            else { return nil }
            return (object["accounts"] as? String ?? "", lists)
        }
    }
}
