public import BridgeStore
public import Foundation
public import Hummingbird
public import Logging
public import Prometheus
public import TalkingPhoto
import Webhooks

/// What the HTTP side of the bridge is built from, besides its configuration: every collaborator is
/// passed in, so tests build the application over a store and an upstream client of their own and
/// drive its router in-process.
public struct BridgeDependencies: Sendable {
    public var store: any APIStore
    /// The upstream accounts, each tenant's calls on its own.
    public var accounts: UpstreamAccounts
    /// Where `/metrics` reads from (the poller's and the dispatcher's metrics land here too).
    public var metricsRegistry: PrometheusCollectorRegistry
    public var now: @Sendable () -> Date
    public var logger: Logger
    /// Called with the bound port once the server accepts connections.
    public var onListening: @Sendable (Int) -> Void
    /// Writes kept in memory while the database refuses them; run it as a service beside the app.
    let deferred: DeferredWrites

    /// Every tenant on one upstream account, `client`'s.
    public init(
        store: any APIStore,
        client: TalkingPhotoClient,
        metricsRegistry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
        now: @escaping @Sendable () -> Date = { Date() },
        logger: Logger,
        onListening: @escaping @Sendable (Int) -> Void = { _ in }
    ) {
        self.init(
            store: store, accounts: UpstreamAccounts(shared: client), metricsRegistry: metricsRegistry, now: now, logger: logger,
            onListening: onListening
        )
    }

    public init(
        store: any APIStore,
        accounts: UpstreamAccounts,
        metricsRegistry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
        now: @escaping @Sendable () -> Date = { Date() },
        logger: Logger,
        onListening: @escaping @Sendable (Int) -> Void = { _ in }
    ) {
        self.store = store
        self.accounts = accounts
        self.metricsRegistry = metricsRegistry
        self.now = now
        self.logger = logger
        self.onListening = onListening
        deferred = DeferredWrites(logger: logger.labelled("bridge.store"))
    }
}

/// The bridge's HTTP application (the hummingbird-examples shape): the generated OpenAPI routes,
/// their middlewares, health, metrics and the spec, listening where `configuration` says.
public func buildApplication(configuration: BridgeConfiguration, dependencies: BridgeDependencies) throws
    -> Application<RouterResponder<BasicRequestContext>>
{
    let handler = BridgeAPIHandler.Dependencies(
        store: dependencies.store,
        accounts: dependencies.accounts,
        destinations: DestinationPolicy(allowPrivate: configuration.allowPrivateDestinations),
        pollInterval: configuration.pollInterval,
        secretGrace: configuration.secretGrace,
        readiness: ReadinessProbe(store: dependencies.store, client: dependencies.accounts.anyClient),
        metrics: MetricsEndpoint(registry: dependencies.metricsRegistry, store: dependencies.store),
        now: dependencies.now,
        logger: dependencies.logger.labelled("bridge.api"),
        limits: TenantLimits(maxSubscriptions: configuration.maxSubscriptions, maxLiveVideos: configuration.maxTrackedVideos),
        longPolls: LongPollGate(maximum: configuration.maxLongPolls),
        deferred: dependencies.deferred
    )
    return try HTTPServer.makeApplication(
        dependencies: handler,
        apiKeys: configuration.apiKeys,
        host: configuration.listenHost,
        port: configuration.listenPort,
        limits: .init(
            headerTimeout: configuration.headerTimeout, idleTimeout: configuration.idleTimeout,
            maxConnections: configuration.maxConnections
        ),
        onListening: dependencies.onListening
    )
}
