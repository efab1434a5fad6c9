public import Hummingbird
import Logging
import Synchronization

/// A Hummingbird server on a loopback address and a free port, for tests and benchmarks.
/// `stop()` returns within a bounded time even if a handler is still sleeping.
public final class LoopbackServer: Sendable {
    public let host: String
    public let port: Int
    private let task: Task<Void, any Error>

    public var baseURL: String {
        host.contains(":") ? "http://[\(host)]:\(port)" : "http://\(host):\(port)"
    }

    private init(host: String, port: Int, task: Task<Void, any Error>) {
        self.host = host
        self.port = port
        self.task = task
    }

    public static func start(
        host: String = "127.0.0.1",
        router: Router<BasicRequestContext>
    ) async throws -> LoopbackServer {
        var logger = Logger(label: "test.server")
        logger.logLevel = .critical
        let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(host, port: 0), serverName: "loopback-test"),
            onServerRunning: { channel in
                portSink.yield(channel.localAddress?.port ?? 0)
                portSink.finish()
            },
            logger: logger
        )
        let task = Task { try await app.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else {
            task.cancel()
            throw LoopbackServerError.didNotStart
        }
        return LoopbackServer(host: host, port: port, task: task)
    }

    /// Cancels the server and waits for it, at most a few seconds (handlers that hang are left behind).
    public func stop() async { await stop(grace: .seconds(3)) }

    /// Cancels the server and waits for it, at most `grace`.
    public func stop(grace: Duration) async {
        task.cancel()
        let finished = Task { _ = await task.result }
        _ = await withTaskGroup(of: Void.self) { group in
            group.addTask { await finished.value }
            group.addTask { try? await Task.sleep(for: grace) }
            await group.next()
            group.cancelAll()
        }
    }
}

public enum LoopbackServerError: Error {
    case didNotStart
}
