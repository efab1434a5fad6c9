public import Foundation
import HTTPTypes
import Hummingbird
import Synchronization

/// A loopback webhook receiver for tests: records every request and answers as scripted per path.
public final class WebhookReceiver: Sendable {
    public struct Received: Sendable {
        public var path: String
        public var id: String
        public var timestamp: String
        public var signature: String
        public var body: Data
        public var arrivedAt: Date
        /// Every request header, by lowercased name, values in the order sent.
        public var headers: [String: [String]] = [:]

        public var json: [String: Any]? { try? JSONSerialization.jsonObject(with: body) as? [String: Any] }
        public var type: String? { json?["type"] as? String }
        public var videoID: String? { (json?["data"] as? [String: Any])?["video_id"] as? String }
        public var status: String? { (json?["data"] as? [String: Any])?["status"] as? String }
    }

    /// How to answer the n-th request (0-based) to a path.
    public enum Reply: Sendable {
        case status(Int, headers: [String: String] = [:], body: String = "")
        case hang(Duration)
        case delayThen(Duration, Int)
        /// Sends `200` headers announcing a 1 KiB body, a few bytes of it, then drops the connection.
        case closeMidResponse
        /// Answers `200` once the test opens `gate` (or the receiver stops).
        case gated(Gate)
    }

    /// Holds a reply until the test opens it.
    public final class Gate: Sendable {
        private let isOpen = Mutex(false)

        public init() {}

        public func open() { isOpen.withLock { $0 = true } }

        /// Returns once the gate is open; throws when the task is cancelled (the receiver stopping).
        func wait() async throws {
            while !isOpen.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(5)) }
        }
    }

    public typealias Script = @Sendable (_ path: String, _ index: Int) -> Reply

    private let server: LoopbackServer
    private let shared: ReceiverLog

    public var baseURL: String { server.baseURL }
    public func url(_ path: String) -> String { server.baseURL + "/" + path }

    private init(server: LoopbackServer, shared: ReceiverLog) {
        self.server = server
        self.shared = shared
    }

    public static func start(host: String = "127.0.0.1", script: @escaping Script = { _, _ in .status(200) }) async throws
        -> WebhookReceiver
    {
        let shared = ReceiverLog()
        let router = Router()
        router.post("**") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            let path = String(request.uri.path.dropFirst())
            let index = shared.counts.withLock { counts -> Int in
                defer { counts[path, default: 0] += 1 }
                return counts[path, default: 0]
            }
            func header(_ name: String) -> String {
                HTTPField.Name(name).flatMap { request.headers[$0] } ?? ""
            }
            var all: [String: [String]] = [:]
            for field in request.headers { all[field.name.canonicalName, default: []].append(field.value) }
            shared.log.withLock {
                $0.append(
                    Received(
                        path: path, id: header("webhook-id"), timestamp: header("webhook-timestamp"),
                        signature: header("webhook-signature"), body: Data(buffer: body), arrivedAt: Date(), headers: all
                    )
                )
            }
            switch script(path, index) {
            case .status(let code, let headers, let text):
                var fields = HTTPFields()
                for (name, value) in headers { if let name = HTTPField.Name(name) { fields[name] = value } }
                return Response(status: .init(code: code), headers: fields, body: .init(byteBuffer: ByteBuffer(string: text)))
            case .hang(let duration):
                try await Task.sleep(for: duration)
                return Response(status: .ok)
            case .delayThen(let duration, let code):
                try await Task.sleep(for: duration)
                return Response(status: .init(code: code))
            case .gated(let gate):
                try await gate.wait()
                return Response(status: .ok)
            case .closeMidResponse:
                return Response(
                    status: .ok, headers: [.contentLength: "1024"],
                    body: ResponseBody { writer in
                        try await writer.write(ByteBuffer(string: "{\"ok\":"))
                        throw ReceiverDroppedConnection()
                    }
                )
            }
        }
        let server = try await LoopbackServer.start(host: host, router: router)
        return WebhookReceiver(server: server, shared: shared)
    }

    /// Everything received so far, in arrival order.
    public var received: [Received] { shared.log.withLock { $0 } }

    public func received(path: String) -> [Received] { received.filter { $0.path == path } }

    public func stop() async { await server.stop() }
}

/// Storage shared between the route closure and the receiver.
private final class ReceiverLog: Sendable {
    let log = Mutex<[WebhookReceiver.Received]>([])
    let counts = Mutex<[String: Int]>([:])
}

/// Thrown inside a response body to make the server drop the connection mid-response.
private struct ReceiverDroppedConnection: Error {}
