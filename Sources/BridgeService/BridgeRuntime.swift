import BridgeCore
public import BridgeStore
import CurlHTTP
import Delivery
import Foundation
import Metrics
public import Prometheus
public import Logging
public import ServiceLifecycle
import SQLiteStore
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
    ) throws {
        self.configuration = configuration
        self.logger = logger
        store = try SQLiteBridgeStore(
            path: configuration.databasePath,
            configuration: .init(busyTimeout: configuration.databaseBusyTimeout, encryptionKey: configuration.encryptionKey)
        )
        upstreamTransport = try CurlTransport()
        callbackTransport = try CurlTransport(configuration: .init(maxCachedConnections: max(256, configuration.deliveryConcurrency)))
        let client = TalkingPhotoClient(
            configuration: .init(
                baseURL: configuration.upstreamBaseURL, token: configuration.upstreamToken, timeout: configuration.upstreamTimeout
            ),
            transport: upstreamTransport
        )
        // The one metrics factory: every counter lands in the registry `/metrics` renders.
        let metricsFactory = PrometheusMetricsFactory(registry: metricsRegistry)
        let poller = Poller(
            store: store,
            client: client,
            configuration: configuration.pollerConfiguration,
            logger: logger.labelled("bridge.poller"),
            metrics: metricsFactory
        )
        let dispatcher = Dispatcher(
            store: store,
            transport: callbackTransport,
            configuration: configuration.dispatcherConfiguration,
            logger: logger.labelled("bridge.dispatcher"),
            metrics: DeliveryMetrics(factory: metricsFactory)
        )
        let deferred = DeferredWrites(logger: logger.labelled("bridge.store"))
        let dependencies = BridgeAPIHandler.Dependencies(
            store: store,
            client: client,
            destinations: DestinationPolicy(allowPrivate: configuration.allowPrivateDestinations),
            pollInterval: configuration.pollInterval,
            secretGrace: configuration.secretGrace,
            readiness: ReadinessProbe(store: store, client: client),
            metrics: MetricsEndpoint(registry: metricsRegistry, store: store),
            now: { Date() },
            logger: logger.labelled("bridge.api"),
            limits: TenantLimits(maxSubscriptions: configuration.maxSubscriptions, maxLiveVideos: configuration.maxTrackedVideos),
            longPolls: LongPollGate(maximum: configuration.maxLongPolls),
            deferred: deferred
        )
        let application = try HTTPServer.makeApplication(
            dependencies: dependencies,
            apiKeys: configuration.apiKeys,
            host: configuration.listenHost,
            port: configuration.listenPort,
            limits: .init(
                headerTimeout: configuration.headerTimeout, idleTimeout: configuration.idleTimeout,
                maxConnections: configuration.maxConnections
            ),
            onListening: onListening
        )
        // Shut down in reverse: stop accepting requests first, then drain deliveries, then stop
        // polling; kept writes get their last try after everything else stopped.
        services = [deferred, poller, dispatcher, application]
    }

    /// Runs until SIGTERM/SIGINT (graceful; `handleSignals: false` for tests) or cancellation.
    public func run(handleSignals: Bool = true) async throws {
        logger.info(
            "talking-photo-bridge starting",
            metadata: [
                "database": "\(configuration.databasePath)", "upstream": "\(URLText.redactingCredentials(configuration.upstreamBaseURL))",
                "libcurl": "\(CurlTransport.libcurlVersion)",
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
