import ArgumentParser
import BridgeService
import BridgeStore
import Foundation
import Logging
import Prometheus

/// `talking-photo-bridge serve`: the service. Every setting is an environment variable and a flag
/// (flags win); resolution and validation live in `ConfigurationLoader`, not here.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the bridge: poll the upstream, record events, deliver signed callbacks.",
        discussion: """
            Each option is also an environment variable (shown in brackets); a flag wins over the variable.
            Secrets may come from a file: SURREAL_API_TOKEN_FILE, BRIDGE_API_KEYS_FILE, BRIDGE_ENCRYPTION_KEY_FILE.
            Durations look like 500ms, 5s, 10m, 24h, 7d. A bad value stops start-up with one line naming it.
            """
    )

    @Option(name: .customLong("listen"), help: help("BRIDGE_LISTEN")) var listen: String?
    @Option(name: .customLong("database"), help: help("BRIDGE_DATABASE")) var database: String?
    @Option(name: .customLong("upstream-base-url"), help: help("SURREAL_BASE_URL")) var upstreamBaseURL: String?
    @Option(name: .customLong("upstream-token"), help: help("SURREAL_API_TOKEN")) var upstreamToken: String?
    @Option(name: .customLong("upstream-timeout"), help: help("SURREAL_TIMEOUT")) var upstreamTimeout: String?
    @Option(name: .customLong("api-keys"), help: help("BRIDGE_API_KEYS")) var apiKeys: String?
    @Option(name: .customLong("allow-private-destinations"), help: help("BRIDGE_ALLOW_PRIVATE_DESTINATIONS"))
    var allowPrivateDestinations: String?
    @Option(name: .customLong("poll-interval"), help: help("BRIDGE_POLL_INTERVAL")) var pollInterval: String?
    @Option(name: .customLong("tracking-limit"), help: help("BRIDGE_TRACKING_LIMIT")) var trackingLimit: String?
    @Option(name: .customLong("delivery-timeout"), help: help("BRIDGE_DELIVERY_TIMEOUT")) var deliveryTimeout: String?
    @Option(name: .customLong("delivery-concurrency"), help: help("BRIDGE_DELIVERY_CONCURRENCY"))
    var deliveryConcurrency: String?
    @Option(name: .customLong("retry-schedule"), help: help("BRIDGE_RETRY_SCHEDULE")) var retrySchedule: String?
    @Option(name: .customLong("secret-grace"), help: help("BRIDGE_SECRET_GRACE")) var secretGrace: String?
    @Option(name: .customLong("retention"), help: help("BRIDGE_RETENTION")) var retention: String?
    @Option(name: .customLong("prune-interval"), help: help("BRIDGE_PRUNE_INTERVAL")) var pruneInterval: String?
    @Option(name: .customLong("disable-after"), help: help("BRIDGE_DISABLE_AFTER")) var disableAfter: String?
    @Option(name: .customLong("header-timeout"), help: help("BRIDGE_HEADER_TIMEOUT")) var headerTimeout: String?
    @Option(name: .customLong("idle-timeout"), help: help("BRIDGE_IDLE_TIMEOUT")) var idleTimeout: String?
    @Option(name: .customLong("max-connections"), help: help("BRIDGE_MAX_CONNECTIONS")) var maxConnections: String?
    @Option(name: .customLong("database-busy-timeout"), help: help("BRIDGE_DATABASE_BUSY_TIMEOUT"))
    var databaseBusyTimeout: String?
    @Option(name: .customLong("encryption-key"), help: help("BRIDGE_ENCRYPTION_KEY")) var encryptionKey: String?
    @Option(name: .customLong("max-subscriptions"), help: help("BRIDGE_MAX_SUBSCRIPTIONS")) var maxSubscriptions: String?
    @Option(name: .customLong("max-tracked-videos"), help: help("BRIDGE_MAX_TRACKED_VIDEOS")) var maxTrackedVideos: String?
    @Option(name: .customLong("max-long-polls"), help: help("BRIDGE_MAX_LONG_POLLS")) var maxLongPolls: String?
    @Option(name: .customLong("log-format"), help: help("BRIDGE_LOG_FORMAT")) var logFormat: String?
    @Option(name: .customLong("log-level"), help: help("BRIDGE_LOG_LEVEL")) var logLevel: String?

    @Flag(help: "Print the effective configuration (secrets redacted) and exit.")
    var printConfig = false

    private var flagValues: [String: String] {
        let pairs: [(String, String?)] = [
            ("BRIDGE_LISTEN", listen), ("BRIDGE_DATABASE", database), ("SURREAL_BASE_URL", upstreamBaseURL),
            ("SURREAL_API_TOKEN", upstreamToken), ("SURREAL_TIMEOUT", upstreamTimeout), ("BRIDGE_API_KEYS", apiKeys),
            ("BRIDGE_ALLOW_PRIVATE_DESTINATIONS", allowPrivateDestinations), ("BRIDGE_POLL_INTERVAL", pollInterval),
            ("BRIDGE_TRACKING_LIMIT", trackingLimit), ("BRIDGE_DELIVERY_TIMEOUT", deliveryTimeout),
            ("BRIDGE_DELIVERY_CONCURRENCY", deliveryConcurrency), ("BRIDGE_RETRY_SCHEDULE", retrySchedule),
            ("BRIDGE_SECRET_GRACE", secretGrace), ("BRIDGE_RETENTION", retention), ("BRIDGE_PRUNE_INTERVAL", pruneInterval), ("BRIDGE_DISABLE_AFTER", disableAfter),
            ("BRIDGE_HEADER_TIMEOUT", headerTimeout), ("BRIDGE_IDLE_TIMEOUT", idleTimeout), ("BRIDGE_MAX_CONNECTIONS", maxConnections),
            ("BRIDGE_DATABASE_BUSY_TIMEOUT", databaseBusyTimeout), ("BRIDGE_ENCRYPTION_KEY", encryptionKey),
            ("BRIDGE_MAX_SUBSCRIPTIONS", maxSubscriptions),
            ("BRIDGE_MAX_TRACKED_VIDEOS", maxTrackedVideos), ("BRIDGE_MAX_LONG_POLLS", maxLongPolls), ("BRIDGE_LOG_FORMAT", logFormat), ("BRIDGE_LOG_LEVEL", logLevel),
        ]
        return Dictionary(uniqueKeysWithValues: pairs.compactMap { name, value in value.map { (name, $0) } })
    }

    func run() async throws {
        let loader = ConfigurationLoader(environment: ProcessInfo.processInfo.environment, flags: flagValues)
        let configuration: BridgeConfiguration
        switch loader.load() {
        case .success(let loaded): configuration = loaded
        case .failure(let errors):
            for line in errors.lines { printError("talking-photo-bridge: \(line)") }
            throw ExitCode(78)  // EX_CONFIG
        }
        if printConfig {
            configuration.redactedLines.forEach { print($0) }
            return
        }
        let logger = bootstrapLogging(configuration)
        let registry = PrometheusCollectorRegistry()
        let runtime: BridgeRuntime
        let host = configuration.listenHost.contains(":") ? "[\(configuration.listenHost)]" : configuration.listenHost
        do {
            runtime = try BridgeRuntime(configuration: configuration, logger: logger, metricsRegistry: registry) { port in
                FileHandle.standardOutput.write(Data("talking-photo-bridge listening on http://\(host):\(port)\n".utf8))
            }
        } catch {
            printError("talking-photo-bridge: cannot start: \(error)")
            throw ExitCode(1)
        }
        try await runtime.run()
    }
}

private func help(_ name: String) -> ArgumentHelp {
    let setting = ConfigurationLoader.settings.first { $0.name == name }
    let fallback = setting?.defaultValue.map { " Default: \($0)." } ?? ""
    return ArgumentHelp("\(setting?.help ?? "")\(fallback) [\(name)]")
}

func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

func bootstrapLogging(_ configuration: BridgeConfiguration) -> Logger {
    let level = Logger.Level(rawValue: configuration.logLevel) ?? .info
    switch configuration.logFormat {
    case .json:
        LoggingSystem.bootstrap { label in
            var handler = JSONLogHandler(label: label)
            handler.logLevel = level
            return handler
        }
    case .text:
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
    var logger = Logger(label: "bridge")
    logger.logLevel = level
    return logger
}
