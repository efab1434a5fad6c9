import BridgeService
import BridgeStore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Simulator
import SQLiteStore
import TalkingPhoto
import CurlHTTP
import TestSupport

/// The bridge's HTTP application built by ``buildApplication(configuration:dependencies:)`` over a
/// temp SQLite store and the simulator, driven through its router in-process (HummingbirdTesting's
/// `.router` mode): no socket, no poller, no dispatcher. For API behaviour; what needs deliveries
/// or real connections uses ``APIHarness``.
struct RouterHarness: Sendable {
    let client: any TestClientProtocol
    let store: any BridgeStorage
    let simulator: RunningSimulator

    typealias Reply = APIHarness.Reply

    /// Builds the application for `body` and removes everything afterwards, also when `body` throws.
    static func with<T: Sendable>(
        upstreamURL: String? = nil,
        configure: (inout BridgeConfiguration) -> Void = { _ in },
        _ body: @Sendable (RouterHarness) async throws -> T
    ) async throws -> T {
        let directory = try TemporaryDirectory("router")
        defer { directory.remove() }
        var quiet = Logger(label: "test")
        quiet.logLevel = .critical
        let simulator = try await UpstreamSimulator.start(
            SimulatorConfiguration(port: 0, token: "api-token", renderTime: .seconds(3600), seed: 5), logger: quiet
        )
        let transport: CurlTransport
        do { transport = try CurlTransport() } catch {
            await simulator.stop()
            throw error
        }
        do {
            var configuration = APIHarness.configuration(directory: directory, upstreamURL: upstreamURL ?? simulator.baseURL)
            configure(&configuration)
            let store = try await configuration.openStore(logger: quiet)
            let client = TalkingPhotoClient(
                configuration: .init(baseURL: configuration.upstreamBaseURL, token: configuration.upstreamToken, timeout: .seconds(30)),
                transport: transport
            )
            let application = try buildApplication(
                configuration: configuration, dependencies: BridgeDependencies(store: store, client: client, logger: quiet)
            )
            let result = try await application.test(.router) { client in
                try await body(RouterHarness(client: client, store: store, simulator: simulator))
            }
            transport.shutdown()
            await simulator.stop()
            return result
        } catch {
            transport.shutdown()
            await simulator.stop()
            throw error
        }
    }

    /// One request through the router, as `tenant` (nil: no key).
    @discardableResult
    func call(
        _ method: String, _ path: String, as tenant: String? = "acme", json: Any? = nil, headers extra: [String: String] = [:]
    ) async throws -> Reply {
        var headers = HTTPFields()
        if let tenant, let key = APIHarness.keys[tenant] { headers[.authorization] = "Bearer \(key)" }
        var body: ByteBuffer?
        if let json {
            body = ByteBuffer(data: try JSONSerialization.data(withJSONObject: json))
            headers[.contentType] = "application/json"
        }
        for (name, value) in extra {
            guard let field = HTTPField.Name(name) else { continue }
            headers[field] = value
        }
        let response = try await client.execute(uri: path, method: HTTPRequest.Method(method) ?? .get, headers: headers, body: body)
        var fields = HeaderFields()
        for field in response.headers { fields.add(name: field.name.canonicalName, value: field.value) }
        return Reply(status: response.status.code, headers: fields, body: Data(buffer: response.body))
    }
}
