import BridgeCore
public import Delivery
import Webhooks
public import Foundation
public import TalkingPhoto

/// Everything `serve` needs, validated. Built by ``ConfigurationLoader`` from flags, environment
/// variables and `NAME_FILE` secrets over the defaults of its one settings table.
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

    public var listenHost: String = ""
    public var listenPort: Int = 0
    public var database: DatabaseLocation = .sqlite(path: "")
    public var upstreamBaseURL: String = ""
    /// The shared account's token (empty when every tenant has its own).
    public var upstreamToken: UpstreamToken = UpstreamToken("")
    /// Tenants (API key names) with an upstream account of their own, by name.
    public var upstreamTokens: [String: UpstreamToken] = [:]
    /// Total time one upstream call may take before it counts as a failure (the poller backs off).
    public var upstreamTimeout: Duration = .zero
    public var apiKeys: [APIKey] = []
    public var allowPrivateDestinations: Bool = false
    public var pollInterval: Duration = .zero
    public var trackingLimit: Duration = .zero
    public var deliveryTimeout: Duration = .zero
    public var deliveryConcurrency: Int = 0
    public var retrySchedule: [Duration] = []
    public var secretGrace: Duration = .zero
    public var retention: Duration = .zero
    /// How often pruning runs.
    public var pruneInterval: Duration = .zero
    public var disableAfter: Duration = .zero
    /// A connection that has not sent a complete request head within this is closed.
    public var headerTimeout: Duration = .zero
    /// An idle keep-alive connection is closed after this.
    public var idleTimeout: Duration = .zero
    /// HTTP connections open at once.
    public var maxConnections: Int = 0
    /// How long a write waits for another connection's lock.
    public var databaseBusyTimeout: Duration = .zero
    /// Seals secrets at rest; nil: `<database>.key` (SQLite only; PostgreSQL requires a key).
    public var encryptionKey: Data? = nil
    /// Subscriptions per key.
    public var maxSubscriptions: Int = 0
    /// Unfinished tracked videos per key.
    public var maxTrackedVideos: Int = 0
    /// Concurrent long polls per key.
    public var maxLongPolls: Int = 0
    public var logFormat: LogFormat = .text
    public var logLevel: String = ""

    /// Every setting at its default (``ConfigurationLoader/settings``); the upstream token and the API
    /// keys, which have none, empty. Tests and the demo start here and change what they need.
    public init() { self = ConfigurationLoader.defaults }

    /// Nothing set: where ``ConfigurationLoader`` starts applying the defaults.
    init(unset: Void) {}

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
