import BridgeCore
public import Delivery
public import Webhooks
public import Foundation
public import TalkingPhoto

/// Everything `serve` needs, validated. Built by ``ConfigurationLoader`` from flags, environment
/// variables and `NAME_FILE` secrets; tests build it directly.
public struct BridgeConfiguration: Sendable {
    public struct APIKey: Sendable, Equatable {
        public var name: String
        public var key: String
        public init(name: String, key: String) {
            self.name = name
            self.key = key
        }
    }

    public enum LogFormat: String, Sendable { case text, json }

    public var listenHost: String
    public var listenPort: Int
    public var databasePath: String
    public var upstreamBaseURL: String
    public var upstreamToken: UpstreamToken
    /// Total time one upstream call may take before it counts as a failure (the poller backs off).
    public var upstreamTimeout: Duration
    public var apiKeys: [APIKey]
    public var allowPrivateDestinations: Bool
    public var pollInterval: Duration
    public var trackingLimit: Duration
    public var deliveryTimeout: Duration
    public var deliveryConcurrency: Int
    public var retrySchedule: [Duration]
    public var secretGrace: Duration
    public var retention: Duration
    /// How often pruning runs.
    public var pruneInterval: Duration
    public var disableAfter: Duration
    /// A connection that has not sent a complete request head within this is closed.
    public var headerTimeout: Duration
    /// An idle keep-alive connection is closed after this.
    public var idleTimeout: Duration
    /// HTTP connections open at once.
    public var maxConnections: Int
    /// How long a write waits for another connection's lock.
    public var databaseBusyTimeout: Duration
    /// Seals secrets at rest; nil: `<database>.key`.
    public var encryptionKey: Data?
    /// Subscriptions per key.
    public var maxSubscriptions: Int
    /// Unfinished tracked videos per key.
    public var maxTrackedVideos: Int
    /// Concurrent long polls per key.
    public var maxLongPolls: Int
    public var logFormat: LogFormat
    public var logLevel: String

    public init(
        listenHost: String = "127.0.0.1",
        listenPort: Int = 8080,
        databasePath: String = "bridge.sqlite",
        upstreamBaseURL: String,
        upstreamToken: UpstreamToken,
        upstreamTimeout: Duration = .seconds(10),
        apiKeys: [APIKey] = [],
        allowPrivateDestinations: Bool = false,
        pollInterval: Duration = .seconds(2),
        trackingLimit: Duration = .seconds(86_400),
        deliveryTimeout: Duration = .seconds(10),
        deliveryConcurrency: Int = 64,
        retrySchedule: [Duration] = BridgeConfiguration.defaultRetrySchedule,
        secretGrace: Duration = .seconds(86_400),
        retention: Duration = .seconds(30 * 86_400),
        pruneInterval: Duration = .seconds(600),
        disableAfter: Duration = .seconds(5 * 86_400),
        headerTimeout: Duration = .seconds(10),
        idleTimeout: Duration = .seconds(60),
        maxConnections: Int = 1000,
        databaseBusyTimeout: Duration = .seconds(5),
        maxSubscriptions: Int = 1000,
        maxTrackedVideos: Int = 100_000,
        maxLongPolls: Int = 16,
        logFormat: LogFormat = .text,
        logLevel: String = "info"
    ) {
        self.listenHost = listenHost
        self.listenPort = listenPort
        self.databasePath = databasePath
        self.upstreamBaseURL = upstreamBaseURL
        self.upstreamToken = upstreamToken
        self.upstreamTimeout = upstreamTimeout
        self.apiKeys = apiKeys
        self.allowPrivateDestinations = allowPrivateDestinations
        self.pollInterval = pollInterval
        self.trackingLimit = trackingLimit
        self.deliveryTimeout = deliveryTimeout
        self.deliveryConcurrency = deliveryConcurrency
        self.retrySchedule = retrySchedule
        self.secretGrace = secretGrace
        self.retention = retention
        self.pruneInterval = pruneInterval
        self.disableAfter = disableAfter
        self.headerTimeout = headerTimeout
        self.idleTimeout = idleTimeout
        self.maxConnections = maxConnections
        self.databaseBusyTimeout = databaseBusyTimeout
        self.maxSubscriptions = maxSubscriptions
        self.maxTrackedVideos = maxTrackedVideos
        self.maxLongPolls = maxLongPolls
        self.logFormat = logFormat
        self.logLevel = logLevel
    }

    /// Immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
    public static let defaultRetrySchedule: [Duration] = [0, 5, 300, 1800, 7200, 18_000, 36_000, 36_000]
        .map { Duration.seconds($0) }

    public var dispatcherConfiguration: DispatcherConfiguration {
        DispatcherConfiguration(
            concurrency: deliveryConcurrency,
            timeout: deliveryTimeout,
            retrySchedule: RetrySchedule(retrySchedule),
            disableAfter: disableAfter,
            destinations: DestinationPolicy(allowPrivate: allowPrivateDestinations)
        )
    }

    public var pollerConfiguration: PollerConfiguration {
        PollerConfiguration(interval: pollInterval, trackingLimit: trackingLimit, retention: retention, pruneInterval: pruneInterval)
    }
}
