import BridgeCore
public import BridgeStore
import CurlHTTP
import Delivery
import Foundation
import Metrics
public import Prometheus
public import Logging
public import ServiceLifecycle
import TalkingPhoto
import Webhooks

/// The running bridge: opens the database, wires the upstream client, and runs every long-lived
/// piece as a service in one group (shut down in reverse on SIGTERM/SIGINT).
public struct BridgeRuntime: Sendable {
    public let configuration: BridgeConfiguration
    public let store: any BridgeStorage
    public let services: [any Service]
    /// Upstream calls and callbacks use separate connection pools.
    private let upstreamTransport: CurlTransport
    private let callbackTransport: CurlTransport
    /// The upstream accounts by name (`shared`, or the tenants of an own token), for the start-up log.
    private let accountNames: [String]
    private let logger: Logger

    /// - Parameters:
    ///   - metricsRegistry: where the bridge's metrics land for `/metrics` (one factory over it is
    ///     injected into the poller and the dispatcher; nothing uses the global metrics system).
    ///   - onListening: called with the bound port once the HTTP server accepts connections.
    public init(
        configuration: BridgeConfiguration,
        logger: Logger,
        metricsRegistry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
        onListening: @escaping @Sendable (Int) -> Void = { _ in }
    ) async throws {
        self.configuration = configuration
        self.logger = logger
        store = try await configuration.openStore(logger: logger)
        upstreamTransport = try CurlTransport()
        callbackTransport = try CurlTransport(configuration: .init(maxCachedConnections: max(256, configuration.deliveryConcurrency)))
        // The shared token's account and one per tenant token: each tenant's calls use only its own.
        let accounts = UpstreamAccounts(configuration: configuration, transport: upstreamTransport)
        accountNames = accounts.accounts.map(\.name)
        // The one metrics factory: every counter lands in the registry `/metrics` renders.
        let metricsFactory = PrometheusMetricsFactory(registry: metricsRegistry)
        // One replica polls at a time (a lease with a term in the store); on SQLite it is this process.
        let leadership = PollerLeadership(
            store: store, pollInterval: configuration.pollInterval, logger: logger.labelled("bridge.poller"), metrics: metricsFactory
        )
        let poller = Poller(
            store: store,
            accounts: accounts,
            configuration: configuration.pollerConfiguration,
            logger: logger.labelled("bridge.poller"),
            metrics: metricsFactory,
            leadership: leadership
        )
        let dispatcher = Dispatcher(
            store: store,
            transport: callbackTransport,
            configuration: configuration.dispatcherConfiguration,
            logger: logger.labelled("bridge.dispatcher"),
            metrics: DeliveryMetrics(factory: metricsFactory)
        )
        let dependencies = BridgeDependencies(
            store: store, accounts: accounts, metricsRegistry: metricsRegistry, logger: logger, onListening: onListening
        )
        let application = try buildApplication(configuration: configuration, dependencies: dependencies)
        let deferred = dependencies.deferred
        // Shut down in reverse: stop accepting requests first, then drain deliveries, then stop
        // polling and hand the poller lease over; kept writes get their last try after everything else.
        services = [deferred, leadership, poller, dispatcher, application]
    }

    /// Runs until SIGTERM/SIGINT (graceful; `handleSignals: false` for tests) or cancellation.
    public func run(handleSignals: Bool = true) async throws {
        logger.info(
            "talking-photo-bridge starting",
            metadata: [
                "database": "\(configuration.database)", "upstream": "\(URLText.redactingCredentials(configuration.upstreamBaseURL))",
                "libcurl": "\(CurlTransport.libcurlVersion)",
                "upstream_accounts": "\(accountNames.joined(separator: ","))",
            ]
        )
        let group = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: handleSignals ? [.sigterm, .sigint] : [], logger: logger)
        )
        try await group.run()
        upstreamTransport.shutdown()
        callbackTransport.shutdown()
        logger.info("talking-photo-bridge stopped")
    }
}

extension Logger {
    func labelled(_ label: String) -> Logger {
        var copy = Logger(label: label)
        copy.logLevel = logLevel
        return copy
    }
}

/// A bridge started in this process by ``BridgeRuntime/start(configuration:logger:metricsRegistry:)``.
public struct RunningBridge: Sendable {
    public let runtime: BridgeRuntime
    /// The bound port (configuration port 0 picks a free one).
    public let port: Int
    let task: Task<Void, any Error>

    /// Shuts everything down (gracefully, like SIGTERM) and waits for it.
    public func stop() async {
        task.cancel()
        _ = await task.result
    }
}

extension BridgeRuntime {
    /// Builds and runs the bridge in this process without signal handling, returning once its HTTP
    /// server listens: the one start-up path of the demo, the API tests and the benchmarks. A start
    /// that fails (the port is taken, the database cannot open) throws instead of waiting.
    public static func start(
        configuration: BridgeConfiguration,
        logger: Logger,
        metricsRegistry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()
    ) async throws -> RunningBridge {
        let ports = AsyncStream.makeStream(of: Int.self)
        let runtime = try await BridgeRuntime(configuration: configuration, logger: logger, metricsRegistry: metricsRegistry) { port in
            ports.continuation.yield(port)
        }
        let task = Task {
            defer { ports.continuation.finish() }
            try await runtime.run(handleSignals: false)
        }
        var iterator = ports.stream.makeAsyncIterator()
        guard let port = await iterator.next() else {
            if case .failure(let error) = await task.result { throw error }
            throw BridgeStartFailure(description: "the bridge stopped before it listened on port \(configuration.listenPort)")
        }
        return RunningBridge(runtime: runtime, port: port, task: task)
    }
}

public struct BridgeStartFailure: Error, CustomStringConvertible {
    public let description: String
}
