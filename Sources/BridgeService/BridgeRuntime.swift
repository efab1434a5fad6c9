public import BridgeStore
import CurlHTTP
public import Logging
public import ServiceLifecycle
import TalkingPhoto

/// The running bridge: opens the database, wires the upstream client, and runs every long-lived
/// piece as a service in one group (shut down in reverse on SIGTERM/SIGINT).
public struct BridgeRuntime: Sendable {
    public let configuration: BridgeConfiguration
    public let store: SQLiteBridgeStore
    public let services: [any Service]
    private let transport: CurlTransport
    private let logger: Logger

    public init(configuration: BridgeConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        store = try SQLiteBridgeStore(path: configuration.databasePath)
        transport = try CurlTransport()
        let client = TalkingPhotoClient(
            configuration: .init(baseURL: configuration.upstreamBaseURL, token: configuration.upstreamToken),
            transport: transport
        )
        let poller = Poller(
            store: store,
            client: client,
            configuration: configuration.pollerConfiguration,
            logger: logger.labelled("bridge.poller")
        )
        services = [poller]
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
        transport.shutdown()
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
