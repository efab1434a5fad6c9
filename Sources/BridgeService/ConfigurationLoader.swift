import BridgeCore
import BridgeStore
public import Foundation
import SQLiteStore
import TalkingPhoto

/// Resolves every setting of the contract in one place: `--flag` wins over `NAME`, which wins over
/// `NAME_FILE` (secrets only), which wins over the default. Collects one clear line per bad or
/// missing value, naming the variable and never echoing a secret.
public struct ConfigurationLoader: Sendable {
    public struct Setting: Sendable {
        public enum Kind: Sendable { case text, secret, duration, count, flag, hostPort, url, durations, keys, choice([String]) }
        public let name: String
        public let flag: String
        public let kind: Kind
        public let defaultValue: String?
        public let help: String
    }

    public static let settings: [Setting] = [
        Setting(name: "BRIDGE_LISTEN", flag: "listen", kind: .hostPort, defaultValue: "127.0.0.1:8080",
                help: "Address the HTTP API listens on (host:port)."),
        Setting(name: "BRIDGE_DATABASE", flag: "database", kind: .text, defaultValue: "bridge.sqlite",
                help: "Path of the SQLite database file (created if missing)."),
        Setting(name: "SURREAL_BASE_URL", flag: "upstream-base-url", kind: .url, defaultValue: "https://openapi.surreal-ai.com",
                help: "Base URL of the Talking Photo API."),
        Setting(name: "SURREAL_API_TOKEN", flag: "upstream-token", kind: .secret, defaultValue: nil,
                help: "Bearer token for the Talking Photo API (or SURREAL_API_TOKEN_FILE)."),
        Setting(name: "SURREAL_TIMEOUT", flag: "upstream-timeout", kind: .duration, defaultValue: "10s",
                help: "Time one upstream call may take; slower answers count as a failed cycle (the poller backs off)."),
        Setting(name: "BRIDGE_API_KEYS", flag: "api-keys", kind: .keys, defaultValue: nil,
                help: "Comma-separated name:key pairs accepted as Bearer keys (or BRIDGE_API_KEYS_FILE)."),
        Setting(name: "BRIDGE_ALLOW_PRIVATE_DESTINATIONS", flag: "allow-private-destinations", kind: .flag, defaultValue: "false",
                help: "Allow callbacks to loopback/private/link-local addresses (true/false)."),
        Setting(name: "BRIDGE_POLL_INTERVAL", flag: "poll-interval", kind: .duration, defaultValue: "2s",
                help: "Time between upstream poll cycles."),
        Setting(name: "BRIDGE_TRACKING_LIMIT", flag: "tracking-limit", kind: .duration, defaultValue: "24h",
                help: "Videos not finished after this long emit video.tracking_expired and stop being polled."),
        Setting(name: "BRIDGE_DELIVERY_TIMEOUT", flag: "delivery-timeout", kind: .duration, defaultValue: "10s",
                help: "Time a receiver has to answer one callback."),
        Setting(name: "BRIDGE_DELIVERY_CONCURRENCY", flag: "delivery-concurrency", kind: .count, defaultValue: "64",
                help: "Callbacks in flight at once."),
        Setting(name: "BRIDGE_RETRY_SCHEDULE", flag: "retry-schedule", kind: .durations, defaultValue: "0s,5s,5m,30m,2h,5h,10h,10h",
                help: "Delays before each attempt (comma-separated); after the last, a delivery is failed."),
        Setting(name: "BRIDGE_SECRET_GRACE", flag: "secret-grace", kind: .duration, defaultValue: "24h",
                help: "How long a rotated-out secret keeps signing beside the new one."),
        Setting(name: "BRIDGE_RETENTION", flag: "retention", kind: .duration, defaultValue: "30d",
                help: "Finished records (deliveries, their events, terminal videos, idempotency keys) are pruned this long after."),
        Setting(name: "BRIDGE_PRUNE_INTERVAL", flag: "prune-interval", kind: .duration, defaultValue: "10m",
                help: "How often pruning runs."),
        Setting(name: "BRIDGE_DISABLE_AFTER", flag: "disable-after", kind: .duration, defaultValue: "5d",
                help: "A subscription failing without a success for this long is disabled."),
        Setting(name: "BRIDGE_HEADER_TIMEOUT", flag: "header-timeout", kind: .duration, defaultValue: "10s",
                help: "A connection that has not sent a complete request head within this is closed."),
        Setting(name: "BRIDGE_IDLE_TIMEOUT", flag: "idle-timeout", kind: .duration, defaultValue: "60s",
                help: "An idle keep-alive connection is closed after this."),
        Setting(name: "BRIDGE_MAX_CONNECTIONS", flag: "max-connections", kind: .count, defaultValue: "1000",
                help: "HTTP connections open at once; more wait to be accepted."),
        Setting(name: "BRIDGE_DATABASE_BUSY_TIMEOUT", flag: "database-busy-timeout", kind: .duration, defaultValue: "5s",
                help: "How long a write waits for another connection's lock before it fails (503)."),
        Setting(name: "BRIDGE_ENCRYPTION_KEY", flag: "encryption-key", kind: .secret, defaultValue: "",
                help: "32-byte key (base64 or hex) sealing signing secrets at rest (or BRIDGE_ENCRYPTION_KEY_FILE); empty: <database>.key, generated 0600."),
        Setting(name: "BRIDGE_MAX_SUBSCRIPTIONS", flag: "max-subscriptions", kind: .count, defaultValue: "1000",
                help: "Subscriptions per API key."),
        Setting(name: "BRIDGE_MAX_TRACKED_VIDEOS", flag: "max-tracked-videos", kind: .count, defaultValue: "100000",
                help: "Unfinished tracked videos per API key."),
        Setting(name: "BRIDGE_MAX_LONG_POLLS", flag: "max-long-polls", kind: .count, defaultValue: "16",
                help: "Concurrent GET /v1/events?wait= requests per API key."),
        Setting(name: "BRIDGE_LOG_FORMAT", flag: "log-format", kind: .choice(["text", "json"]), defaultValue: "text",
                help: "Log line format: text or json."),
        Setting(name: "BRIDGE_LOG_LEVEL", flag: "log-level", kind: .choice(["trace", "debug", "info", "notice", "warning", "error", "critical"]),
                defaultValue: "info", help: "Lowest log level written."),
    ]

    let environment: [String: String]
    let flags: [String: String]
    let readFile: @Sendable (String) throws -> String

    /// `flags` is keyed by setting name (`BRIDGE_LISTEN`), holding the raw flag text.
    public init(
        environment: [String: String],
        flags: [String: String] = [:],
        readFile: @escaping @Sendable (String) throws -> String = { try String(contentsOfFile: $0, encoding: .utf8) }
    ) {
        self.environment = environment
        self.flags = flags
        self.readFile = readFile
    }

    /// The configuration, or every problem found (one line each).
    public func load() -> Result<BridgeConfiguration, ConfigurationErrors> {
        var problems: [String] = []
        var values: [String: String] = [:]
        for setting in Self.settings {
            switch raw(setting) {
            case .success(let value?): values[setting.name] = value
            case .success(nil): problems.append("\(setting.name) is required: \(setting.help)")
            case .failure(let problem): problems.append(problem.line)
            }
        }
        var configuration = BridgeConfiguration(upstreamBaseURL: "", upstreamToken: UpstreamToken(""))
        func check(_ name: String, _ apply: (String) -> String?) {
            guard let value = values[name] else { return }
            if let problem = apply(value) { problems.append("\(name): \(problem)") }
        }
        check("BRIDGE_LISTEN") { value in
            guard let (host, port) = Self.hostPort(value) else { return "expected host:port, got \"\(value)\"" }
            configuration.listenHost = host
            configuration.listenPort = port
            return nil
        }
        check("BRIDGE_DATABASE") { value in
            guard !value.isEmpty else { return "must not be empty" }
            configuration.databasePath = value
            return nil
        }
        check("SURREAL_BASE_URL") { value in
            guard let url = URL(string: value), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme),
                url.host?.isEmpty == false
            else { return "expected an http(s) URL, got \"\(URLText.redactingCredentials(value))\"" }
            configuration.upstreamBaseURL = value
            return nil
        }
        check("SURREAL_API_TOKEN") { value in
            guard !value.isEmpty else { return "must not be empty" }
            configuration.upstreamToken = UpstreamToken(value)
            return nil
        }
        check("BRIDGE_ENCRYPTION_KEY") { value in
            switch Self.encryptionKey(value) {
            case .success(let key):
                configuration.encryptionKey = key
                return nil
            case .failure(let problem):
                return problem.line
            }
        }
        check("BRIDGE_API_KEYS") { value in
            switch Self.apiKeys(value) {
            case .success(let keys):
                configuration.apiKeys = keys
                return nil
            case .failure(let problem):
                return problem.line
            }
        }
        check("BRIDGE_ALLOW_PRIVATE_DESTINATIONS") { value in
            switch value.lowercased() {
            case "true", "1", "yes": configuration.allowPrivateDestinations = true
            case "false", "0", "no": configuration.allowPrivateDestinations = false
            default: return "expected true or false, got \"\(value)\""
            }
            return nil
        }
        func duration(_ name: String, minimum: Duration = .milliseconds(1), _ assign: (Duration) -> Void) {
            check(name) { value in
                guard let parsed = DurationText.parse(value) else {
                    return "expected a duration like 500ms, 5s, 10m, 24h, got \"\(value)\""
                }
                guard parsed >= minimum else { return "must be at least \(DurationText.format(minimum))" }
                assign(parsed)
                return nil
            }
        }
        duration("SURREAL_TIMEOUT", minimum: .milliseconds(100)) { configuration.upstreamTimeout = $0 }
        duration("BRIDGE_POLL_INTERVAL", minimum: .milliseconds(50)) { configuration.pollInterval = $0 }
        duration("BRIDGE_TRACKING_LIMIT", minimum: .seconds(1)) { configuration.trackingLimit = $0 }
        duration("BRIDGE_DELIVERY_TIMEOUT", minimum: .milliseconds(100)) { configuration.deliveryTimeout = $0 }
        duration("BRIDGE_SECRET_GRACE", minimum: .zero) { configuration.secretGrace = $0 }
        duration("BRIDGE_RETENTION", minimum: .seconds(1)) { configuration.retention = $0 }
        duration("BRIDGE_PRUNE_INTERVAL", minimum: .seconds(1)) { configuration.pruneInterval = $0 }
        duration("BRIDGE_DISABLE_AFTER", minimum: .seconds(1)) { configuration.disableAfter = $0 }
        duration("BRIDGE_HEADER_TIMEOUT", minimum: .milliseconds(100)) { configuration.headerTimeout = $0 }
        duration("BRIDGE_DATABASE_BUSY_TIMEOUT", minimum: .milliseconds(10)) { configuration.databaseBusyTimeout = $0 }
        duration("BRIDGE_IDLE_TIMEOUT", minimum: .milliseconds(100)) { configuration.idleTimeout = $0 }
        func count(_ name: String, _ range: ClosedRange<Int>, _ assign: (Int) -> Void) {
            check(name) { value in
                guard let parsed = Int(value), range.contains(parsed) else {
                    return "expected a whole number from \(range.lowerBound) to \(range.upperBound), got \"\(value)\""
                }
                assign(parsed)
                return nil
            }
        }
        count("BRIDGE_MAX_SUBSCRIPTIONS", 1...10_000_000) { configuration.maxSubscriptions = $0 }
        count("BRIDGE_MAX_TRACKED_VIDEOS", 1...100_000_000) { configuration.maxTrackedVideos = $0 }
        count("BRIDGE_MAX_LONG_POLLS", 1...100_000) { configuration.maxLongPolls = $0 }
        check("BRIDGE_MAX_CONNECTIONS") { value in
            guard let count = Int(value), (1...1_000_000).contains(count) else {
                return "expected a whole number from 1 to 1000000, got \"\(value)\""
            }
            configuration.maxConnections = count
            return nil
        }
        check("BRIDGE_DELIVERY_CONCURRENCY") { value in
            guard let count = Int(value), (1...4096).contains(count) else {
                return "expected a whole number from 1 to 4096, got \"\(value)\""
            }
            configuration.deliveryConcurrency = count
            return nil
        }
        check("BRIDGE_RETRY_SCHEDULE") { value in
            let parts = value.split(separator: ",", omittingEmptySubsequences: false).map { String($0) }
            let parsed = parts.map { DurationText.parse($0) }
            guard !parts.isEmpty, parts.count <= 50, parsed.allSatisfy({ $0 != nil }) else {
                return "expected 1 to 50 comma-separated durations like 0s,5s,5m, got \"\(value)\""
            }
            configuration.retrySchedule = parsed.compactMap { $0 }
            return nil
        }
        check("BRIDGE_LOG_FORMAT") { value in
            guard let format = BridgeConfiguration.LogFormat(rawValue: value.lowercased()) else {
                return "expected text or json, got \"\(value)\""
            }
            configuration.logFormat = format
            return nil
        }
        check("BRIDGE_LOG_LEVEL") { value in
            let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
            guard levels.contains(value.lowercased()) else {
                return "expected one of \(levels.joined(separator: ", ")), got \"\(value)\""
            }
            configuration.logLevel = value.lowercased()
            return nil
        }
        return problems.isEmpty ? .success(configuration) : .failure(ConfigurationErrors(lines: problems))
    }

    /// `BRIDGE_ENCRYPTION_KEY` (or `_FILE`) alone, for the operator commands that open the database
    /// without the rest of the configuration; nil: `<database>.key`.
    public func encryptionKey() -> Result<Data?, ConfigurationErrors> {
        guard let setting = Self.settings.first(where: { $0.name == "BRIDGE_ENCRYPTION_KEY" }) else { return .success(nil) }
        switch raw(setting).flatMap({ value in Self.encryptionKey(value ?? "").mapError { Problem(line: "\(setting.name): \($0.line)") } }) {
        case .success(let key): return .success(key)
        case .failure(let problem): return .failure(ConfigurationErrors(lines: [problem.line]))
        }
    }

    /// Empty: no key configured (`<database>.key`).
    private static func encryptionKey(_ value: String) -> Result<Data?, Problem> {
        guard !value.isEmpty else { return .success(nil) }
        guard let key = SecretBox.parseKey(value) else {
            return .failure(Problem(line: "expected 32 bytes as base64 (44 characters) or hex (64 characters)"))
        }
        return .success(key)
    }

    // MARK: - Sources

    private struct Problem: Error { let line: String }

    /// flag > environment > NAME_FILE (secrets) > default; nil when required and absent.
    private func raw(_ setting: Setting) -> Result<String?, Problem> {
        if let flag = flags[setting.name] { return .success(flag) }
        if let value = environment[setting.name] { return .success(value) }
        let isSecret: Bool
        switch setting.kind {
        case .secret, .keys: isSecret = true
        default: isSecret = false
        }
        if isSecret, let path = environment[setting.name + "_FILE"] {
            do {
                let contents = try readFile(path).trimmingCharacters(in: .whitespacesAndNewlines)
                return .success(contents)
            } catch {
                return .failure(Problem(line: "\(setting.name)_FILE: cannot read \"\(path)\""))
            }
        }
        return .success(setting.defaultValue)
    }

    static func hostPort(_ text: String) -> (String, Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65535).contains(port)
        else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        return (host, port)
    }

    private static func apiKeys(_ text: String) -> Result<[BridgeConfiguration.APIKey], Problem> {
        var keys: [BridgeConfiguration.APIKey] = []
        for (index, pair) in text.split(separator: ",").enumerated() {
            let parts = pair.trimmingCharacters(in: .whitespaces).split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else {
                return .failure(Problem(line: "entry \(index + 1) is not name:key"))
            }
            let name = String(parts[0])
            let key = String(parts[1])
            guard !name.isEmpty, name.count <= 64,
                name.unicodeScalars.allSatisfy({ CharacterSet.alphanumerics.contains($0) || $0 == "-" || $0 == "_" || $0 == "." })
            else {
                return .failure(Problem(line: "entry \(index + 1): name must be 1-64 letters, digits, '-', '_' or '.'"))
            }
            guard key.count >= 16 else {
                return .failure(Problem(line: "entry \(index + 1) (\(name)): key must be at least 16 characters"))
            }
            guard !keys.contains(where: { $0.name == name }) else {
                return .failure(Problem(line: "entry \(index + 1): duplicate name \(name)"))
            }
            guard !keys.contains(where: { $0.key == key }) else {
                return .failure(Problem(line: "entry \(index + 1) (\(name)): key already used by another name"))
            }
            keys.append(.init(name: name, key: key))
        }
        guard !keys.isEmpty else { return .failure(Problem(line: "at least one name:key pair is required")) }
        return .success(keys)
    }
}

public struct ConfigurationErrors: Error, Sendable, CustomStringConvertible {
    public let lines: [String]
    public var description: String { lines.joined(separator: "\n") }
}

extension BridgeConfiguration {
    /// `NAME = value` lines of the effective configuration; secrets redacted, API keys by name only.
    public var redactedLines: [String] {
        [
            "BRIDGE_LISTEN = \(listenHost.contains(":") ? "[\(listenHost)]" : listenHost):\(listenPort)",
            "BRIDGE_DATABASE = \(databasePath)",
            "SURREAL_BASE_URL = \(URLText.redactingCredentials(upstreamBaseURL))",
            "SURREAL_API_TOKEN = <redacted>",
            "SURREAL_TIMEOUT = \(DurationText.format(upstreamTimeout))",
            "BRIDGE_API_KEYS = " + apiKeys.map { "\($0.name):<redacted>" }.joined(separator: ","),
            "BRIDGE_ALLOW_PRIVATE_DESTINATIONS = \(allowPrivateDestinations)",
            "BRIDGE_POLL_INTERVAL = \(DurationText.format(pollInterval))",
            "BRIDGE_TRACKING_LIMIT = \(DurationText.format(trackingLimit))",
            "BRIDGE_DELIVERY_TIMEOUT = \(DurationText.format(deliveryTimeout))",
            "BRIDGE_DELIVERY_CONCURRENCY = \(deliveryConcurrency)",
            "BRIDGE_RETRY_SCHEDULE = " + retrySchedule.map(DurationText.format).joined(separator: ","),
            "BRIDGE_SECRET_GRACE = \(DurationText.format(secretGrace))",
            "BRIDGE_RETENTION = \(DurationText.format(retention))",
            "BRIDGE_PRUNE_INTERVAL = \(DurationText.format(pruneInterval))",
            "BRIDGE_DISABLE_AFTER = \(DurationText.format(disableAfter))",
            "BRIDGE_HEADER_TIMEOUT = \(DurationText.format(headerTimeout))",
            "BRIDGE_IDLE_TIMEOUT = \(DurationText.format(idleTimeout))",
            "BRIDGE_MAX_CONNECTIONS = \(maxConnections)",
            "BRIDGE_MAX_SUBSCRIPTIONS = \(maxSubscriptions)",
            "BRIDGE_MAX_TRACKED_VIDEOS = \(maxTrackedVideos)",
            "BRIDGE_MAX_LONG_POLLS = \(maxLongPolls)",
            "BRIDGE_DATABASE_BUSY_TIMEOUT = \(DurationText.format(databaseBusyTimeout))",
            "BRIDGE_ENCRYPTION_KEY = " + (encryptionKey == nil ? "(\(SQLiteBridgeStore.keyFilePath(forDatabase: databasePath)))" : "<redacted>"),
            "BRIDGE_LOG_FORMAT = \(logFormat.rawValue)",
            "BRIDGE_LOG_LEVEL = \(logLevel)",
        ]
    }
}
