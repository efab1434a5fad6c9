public import BridgeStore
import CurlHTTP
public import Logging
public import ServiceLifecycle
import TalkingPhoto
import Webhooks

/// The running bridge: opens the database, wires the upstream client, and runs every long-lived
/// piece as a service in one group (shut down in reverse on SIGTERM/SIGINT).
public struct BridgeRuntime: Sendable {
    public let configuration: BridgeConfiguration
    public let store: SQLiteBridgeStore
    public let services: [any Service]
    /// Upstream calls and callbacks use separate connection pools.
    private let upstreamTransport: CurlTransport
    private let callbackTransport: CurlTransport
    private let logger: Logger

    public init(configuration: BridgeConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        store = try SQLiteBridgeStore(path: configuration.databasePath)
        upstreamTransport = try CurlTransport()
        callbackTransport = try CurlTransport(configuration: .init(maxCachedConnections: max(256, configuration.deliveryConcurrency)))
        let client = TalkingPhotoClient(
            configuration: .init(baseURL: configuration.upstreamBaseURL, token: configuration.upstreamToken),
            transport: upstreamTransport
        )
        let poller = Poller(
            store: store,
            client: client,
            configuration: configuration.pollerConfiguration,
            logger: logger.labelled("bridge.poller")
        )
        let dispatcher = Dispatcher(
            store: store,
            transport: callbackTransport,
            configuration: configuration.dispatcherConfiguration,
            logger: logger.labelled("bridge.dispatcher")
        )
        services = [poller, dispatcher]
    }

    /// Runs until SIGTERM/SIGINT (graceful) or cancellation.
    public func run() async throws {
        logger.info(
            "talking-photo-bridge starting",
            metadata: [
                "database": "\(configuration.databasePath)", "upstream": "\(configuration.upstreamBaseURL)",
                "libcurl": "\(CurlTransport.libcurlVersion)",
            ]
        )
        let group = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
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
