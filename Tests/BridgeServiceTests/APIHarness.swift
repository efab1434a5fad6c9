import BridgeService
import BridgeStore
import CurlHTTP
import Foundation
import Logging
import Simulator
import SQLiteStore
import Synchronization
import TestSupport

/// The whole bridge in-process (HTTP API, poller, dispatcher) on a temp SQLite file, against the
/// simulator and a loopback receiver, driven over real HTTP through the curl transport.
final class APIHarness: TestResource {
    static let keys = ["acme": "acme-key-0123456789abcdef", "globex": "globex-key-0123456789abcdef"]

    let directory: TemporaryDirectory
    let simulator: RunningSimulator
    let receiver: WebhookReceiver
    let transport: CurlTransport
    let bridge: RunningBridge
    var port: Int { bridge.port }

    var baseURL: String { "http://127.0.0.1:\(port)" }
    var store: any BridgeStorage { bridge.runtime.store }

    struct Reply: Sendable {
        var status: Int
        var headers: HeaderFields
        var body: Data
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body) as? [String: Any]) ?? [:] }
        var text: String { String(decoding: body, as: UTF8.self) }
        var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }
        var data: [String: Any] { json["data"] as? [String: Any] ?? [:] }
    }

    init(
        allowPrivate: Bool = true,
        upstreamURL: String? = nil,
        renderTime: Duration = .milliseconds(300),
        configure: (inout BridgeConfiguration) -> Void = { _ in },
        script: @escaping WebhookReceiver.Script = { _, _ in .status(200) }
    ) async throws {
        directory = try TemporaryDirectory("api")
        var quiet = Logger(label: "test")
        quiet.logLevel = .critical
        simulator = try await UpstreamSimulator.start(
            SimulatorConfiguration(port: 0, token: "api-token", renderTime: renderTime, pendingTime: .milliseconds(100), seed: 5),
            logger: quiet
        )
        receiver = try await WebhookReceiver.start(script: script)
        transport = try CurlTransport()
        var configuration = Self.configuration(directory: directory, upstreamURL: upstreamURL ?? simulator.baseURL)
        configuration.allowPrivateDestinations = allowPrivate
        configuration.pollInterval = .milliseconds(100)
        configuration.retrySchedule = [.zero, .milliseconds(50), .milliseconds(50)]
        configure(&configuration)
        bridge = try await BridgeRuntime.start(configuration: configuration, logger: quiet)
    }

    @discardableResult
    func call(
        _ method: String,
        _ path: String,
        as tenant: String? = "acme",
        json: Any? = nil,
        raw: Data? = nil,
        headers extra: [String: String] = [:]
    ) async throws -> Reply {
        var headers = HeaderFields()
        if let tenant, let key = Self.keys[tenant] { headers.add(name: "Authorization", value: "Bearer \(key)") }
        var body = raw
        if let json { body = try JSONSerialization.data(withJSONObject: json) }
        if body != nil { headers.add(name: "Content-Type", value: "application/json") }
        for (name, value) in extra { headers.add(name: name, value: value) }
        let response = try await transport.send(
            OutboundRequest(method: method, url: baseURL + path, headers: headers, body: body, timeout: .seconds(40))
        )
        return Reply(status: response.status, headers: response.headers, body: response.body)
    }

    /// The settings both harnesses share: a free port, the temp database, the upstream, both keys.
    static func configuration(directory: TemporaryDirectory, upstreamURL: String) -> BridgeConfiguration {
        var configuration = BridgeConfiguration()
        configuration.listenPort = 0
        configuration.database = .sqlite(path: directory.path("bridge.sqlite"))
        configuration.upstreamBaseURL = upstreamURL
        configuration.upstreamToken = .init("api-token")
        configuration.apiKeys = keys.map { .init(name: $0.key, key: $0.value) }
        return configuration
    }

    /// Runs `body` with a fresh bridge and stops everything afterwards, also when `body` throws.
    static func with<T>(
        allowPrivate: Bool = true,
        upstreamURL: String? = nil,
        renderTime: Duration = .milliseconds(300),
        configure: (inout BridgeConfiguration) -> Void = { _ in },
        script: @escaping WebhookReceiver.Script = { _, _ in .status(200) },
        _ body: (APIHarness) async throws -> T
    ) async throws -> T {
        let harness = try await APIHarness(
            allowPrivate: allowPrivate, upstreamURL: upstreamURL, renderTime: renderTime, configure: configure, script: script
        )
        return try await withResource(harness, body)
    }

    func stop() async {
        _ = try? await withDeadline(.seconds(60)) { [bridge] in await bridge.stop() }
        transport.shutdown()
        await receiver.stop()
        await simulator.stop()
        directory.remove()
    }
}
