import Foundation
import HTTPTypes
import Hummingbird
import Synchronization
import TestSupport

/// A loopback server with the behaviours the transport must cope with.
final class TransportTestServer: TestResource {
    let server: LoopbackServer
    let hits: Counter

    var baseURL: String { server.baseURL }

    private init(server: LoopbackServer, hits: Counter) {
        self.server = server
        self.hits = hits
    }

    static func start(host: String = "127.0.0.1") async throws -> TransportTestServer {
        let hits = Counter()
        let counter = HitCounter(hits: hits)
        let router = Router()
        router.middlewares.add(counter)
        router.get("ok") { _, _ in "ok" }
        router.get("slow/:ms") { _, context in
            let ms = try context.parameters.require("ms", as: Int.self)
            try await Task.sleep(for: .milliseconds(ms))
            return "slow"
        }
        // Far longer than any test waits: only a timeout, cancellation or shutdown ends it.
        router.get("hang") { _, _ in
            try await Task.sleep(for: .seconds(600))
            return "woke"
        }
        // 4 KiB of body at once, then nothing for ten minutes: only a client that stops reading after
        // the part it keeps is done before its timeout.
        router.get("dribble") { _, _ in
            Response(
                status: .ok,
                body: ResponseBody { writer in
                    try await writer.write(ByteBuffer(repeating: UInt8(ascii: "z"), count: 4096))
                    try await Task.sleep(for: .seconds(600))
                    try await writer.finish(nil)
                }
            )
        }
        router.get("redirect") { _, _ in
            Response(status: .found, headers: [.location: "/ok"])
        }
        router.get("bytes/:count") { _, context in
            let count = try context.parameters.require("count", as: Int.self)
            return ByteBuffer(repeating: UInt8(ascii: "x"), count: count)
        }
        router.get("stream/:count") { _, context in
            let count = try context.parameters.require("count", as: Int.self)
            return Response(
                status: .ok,
                body: ResponseBody { writer in
                    var left = count
                    while left > 0 {
                        let chunk = min(left, 16_384)
                        try await writer.write(ByteBuffer(repeating: UInt8(ascii: "y"), count: chunk))
                        left -= chunk
                    }
                    try await writer.finish(nil)
                }
            )
        }
        router.post("echo") { request, _ in
            let body = try await request.body.collect(upTo: 1 << 22)
            var headers = HTTPFields()
            headers[.contentType] = request.headers[.contentType] ?? "application/octet-stream"
            if let value = request.headers[xTest] {
                headers[xTestEcho] = value
            }
            headers[xMethod] = request.method.rawValue
            headers[xExpect] = request.headers[.expect] ?? "none"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: body))
        }
        let server = try await LoopbackServer.start(host: host, router: router)
        return TransportTestServer(server: server, hits: hits)
    }

    func stop() async { await server.stop() }
}

final class Counter: Sendable {
    private let count = Atomic<Int>(0)
    var value: Int { count.load(ordering: .relaxed) }
    func increment() { count.add(1, ordering: .relaxed) }
}

private let xTest = HTTPField.Name("x-test") ?? .contentLocation
private let xTestEcho = HTTPField.Name("x-test-echo") ?? .contentLocation
private let xMethod = HTTPField.Name("x-method") ?? .contentLocation
private let xExpect = HTTPField.Name("x-expect") ?? .contentLocation

private struct HitCounter: RouterMiddleware {
    let hits: Counter
    func handle(
        _ request: Request,
        context: BasicRequestContext,
        next: (Request, BasicRequestContext) async throws -> Response
    ) async throws -> Response {
        hits.increment()
        return try await next(request, context)
    }
}
