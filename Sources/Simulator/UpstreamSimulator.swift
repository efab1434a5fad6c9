public import Foundation
import Hummingbird
public import Logging
import Synchronization

/// A stand-in for the upstream Talking Photo API (`/v1/v2v/video.*`) with fault knobs and
/// control endpoints under `/_sim/`. See `docs/simulator.md`.
public struct UpstreamSimulator: Sendable {
    public let configuration: SimulatorConfiguration
    private let logger: Logger
    /// Shared state of this simulator: videos, faults, counters (of the default account).
    public let control: SimulatorControl
    /// Every account by token, the default one included.
    let accounts: [String: SimulatorControl]

    /// - Parameters:
    ///   - configuration: address, token, render times, initial faults, seed.
    ///   - now: the clock that drives video progress (tests inject a manual one).
    ///   - logger: where the server and each upstream call are logged (calls at `debug`).
    public init(
        configuration: SimulatorConfiguration,
        now: @escaping @Sendable () -> Date = { Date() },
        logger: Logger
    ) {
        self.configuration = configuration
        self.logger = logger
        self.control = SimulatorControl(configuration: configuration, now: now)
        var accounts = [configuration.token: control]
        for (index, token) in configuration.otherAccounts.enumerated() where accounts[token] == nil {
            // Seeded apart, so two accounts never draw the same video ids.
            var own = configuration
            own.seed = configuration.seed.map { $0 &+ UInt64(index + 1) &* 0x9E37_79B9_7F4A_7C15 }
            accounts[token] = SimulatorControl(configuration: own, now: now)
        }
        self.accounts = accounts
    }

    /// Serves until the calling task is cancelled (or, when run inside a ServiceLifecycle
    /// `ServiceGroup`, until its graceful shutdown). `onListening` gets the bound port.
    /// Throws when the address cannot be bound.
    public func run(onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let control = self.control
        let accounts = self.accounts
        let fallbackPort = configuration.port
        let stopping = StopFlag()
        var logger = self.logger
        logger.handler = QuietWhenStoppingLogHandler(base: logger.handler, stopping: stopping)
        let routes = SimulatorRoutes(control: control, accounts: accounts, logger: logger)
        let router = Router()
        routes.register(on: router)
        let app = Application(
            router: router,
            configuration: .init(
                address: .hostname(configuration.host, port: configuration.port),
                serverName: "talking-photo-simulator"
            ),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? fallbackPort
                for account in accounts.values { account.setBoundPort(port) }
                await onListening(port)
            },
            logger: logger
        )
        try await withTaskCancellationHandler {
            try await app.run()
        } onCancel: {
            stopping.set()
        }
    }

    /// Starts serving on a background task and returns once listening (port 0 picks a free port).
    /// Throws when the address cannot be bound.
    public static func start(
        _ configuration: SimulatorConfiguration,
        now: @escaping @Sendable () -> Date = { Date() },
        logger: Logger
    ) async throws -> RunningSimulator {
        let simulator = UpstreamSimulator(configuration: configuration, now: now, logger: logger)
        let (events, continuation) = AsyncStream<Result<Int, any Error>>.makeStream()
        let task = Task {
            do {
                try await simulator.run(onListening: { port in continuation.yield(.success(port)) })
                continuation.yield(.failure(SimulatorError.stoppedBeforeListening))
            } catch {
                continuation.yield(.failure(error))
            }
            continuation.finish()
        }
        for await event in events {
            switch event {
            case .success(let port):
                return RunningSimulator(
                    host: configuration.host, port: port, control: simulator.control, accounts: simulator.accounts, task: task)
            case .failure(let error):
                task.cancel()
                throw error
            }
        }
        task.cancel()
        throw CancellationError()
    }
}

/// Errors of starting a simulator.
public enum SimulatorError: Error, Sendable, CustomStringConvertible {
    /// The server stopped before it was listening.
    case stoppedBeforeListening

    public var description: String {
        switch self {
        case .stoppedBeforeListening: "the simulator stopped before it was listening"
        }
    }
}

/// A simulator serving on a background task; call ``stop()`` when done.
public final class RunningSimulator: Sendable {
    /// The bound port (the real one when configured with 0).
    public let port: Int
    /// The configured host.
    public let host: String
    /// Shared state of the simulator (its default account).
    public let control: SimulatorControl
    private let accounts: [String: SimulatorControl]
    private let task: Task<Void, Never>

    /// How long ``stop()`` waits for the server to wind down before returning anyway.
    public static let stopTimeout: Duration = .seconds(5)

    init(host: String, port: Int, control: SimulatorControl, accounts: [String: SimulatorControl], task: Task<Void, Never>) {
        self.host = host
        self.port = port
        self.control = control
        self.accounts = accounts
        self.task = task
    }

    /// The account a token opens (its videos and call counts); nil for a token it does not know.
    public func account(_ token: String) -> SimulatorControl? { accounts[token] }

    /// `http://host:port` (IPv6 hosts in brackets; `0.0.0.0`/`::` replaced by loopback).
    public var baseURL: String {
        let reachable: String
        switch host {
        case "0.0.0.0", "": reachable = "127.0.0.1"
        case "::": reachable = "[::1]"
        default: reachable = host.contains(":") ? "[\(host)]" : host
        }
        return "http://\(reachable):\(port)"
    }

    /// Stops serving (in-flight requests, hung ones included, are cancelled) and waits for
    /// the server to finish, at most ``stopTimeout``.
    public func stop() async {
        task.cancel()
        let task = self.task
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let once = ResumeOnce(continuation)
            let timer = Task {
                try? await Task.sleep(for: Self.stopTimeout)
                once.resume()
            }
            Task {
                await task.value
                timer.cancel()
                once.resume()
            }
        }
    }
}

/// Resumes a continuation at most once.
final class ResumeOnce: Sendable {
    private let continuation: Mutex<CheckedContinuation<Void, Never>?>

    init(_ continuation: CheckedContinuation<Void, Never>) {
        self.continuation = Mutex(continuation)
    }

    func resume() {
        let pending = continuation.withLock { value -> CheckedContinuation<Void, Never>? in
            defer { value = nil }
            return value
        }
        pending?.resume()
    }
}
