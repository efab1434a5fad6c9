import BridgeCore
import BridgeStore
public import Foundation
import SQLiteStore
import TalkingPhoto

/// Every setting of the contract in one table: its variable, its flag, its default, its help text,
/// how a value is checked and applied, and how it is shown by `--print-config`. Parsing, defaults
/// (``BridgeConfiguration/init()``), the `serve` flags and help, redaction and the operator commands
/// all read this table; nothing else names a setting.
///
/// Resolution: `--flag` wins over `NAME`, which wins over `NAME_FILE` (secrets only), which wins over
/// the default. Secrets have no flag: a command line is visible to every user of the machine
/// (`ps`, `/proc/<pid>/cmdline`). One clear line per bad or missing value, naming the variable and
/// never echoing a secret.
///
/// apple/swift-configuration was considered and not adopted: its providers would read the same
/// variables, but this table would stay (flags and help text for `serve`, minimums, one-line errors,
/// the `NAME_FILE` convention, redaction), so it would add a dependency without removing code.
public struct ConfigurationLoader: Sendable {
    public struct Setting: Sendable {
        public let name: String
        /// `--flag` of `serve`; nil for secrets.
        public let flag: String?
        /// nil: required.
        public let defaultValue: String?
        public let help: String
        /// Never printed, and no flag.
        public let isSecret: Bool
        /// Read from `NAME_FILE` too (every secret, and the database, whose URL may hold a password).
        public let readsFile: Bool
        /// Checks `value` and stores it; returns the problem (without the value when secret).
        let apply: @Sendable (_ value: String, _ configuration: inout BridgeConfiguration) -> String?
        /// The effective value as `--print-config` shows it.
        let show: @Sendable (BridgeConfiguration) -> String

        init(
            name: String, flag: String?, defaultValue: String?, help: String, isSecret: Bool, readsFile: Bool? = nil,
            apply: @escaping @Sendable (String, inout BridgeConfiguration) -> String?,
            show: @escaping @Sendable (BridgeConfiguration) -> String
        ) {
            self.name = name
            self.flag = flag
            self.defaultValue = defaultValue
            self.help = help
            self.isSecret = isSecret
            self.readsFile = readsFile ?? isSecret
            self.apply = apply
            self.show = show
        }
    }

    public static let settings: [Setting] = [
        Setting(
            name: "BRIDGE_LISTEN", flag: "listen", defaultValue: "127.0.0.1:8080", help: "Address the HTTP API listens on (host:port).",
            isSecret: false,
            apply: { value, configuration in
                guard let (host, port) = hostPort(value) else { return "expected host:port, got \"\(value)\"" }
                configuration.listenHost = host
                configuration.listenPort = port
                return nil
            },
            show: { "\($0.listenHost.contains(":") ? "[\($0.listenHost)]" : $0.listenHost):\($0.listenPort)" }
        ),
        Setting(
            name: "BRIDGE_DATABASE", flag: "database", defaultValue: "bridge.sqlite",
            help: "SQLite file (created if missing), or postgres://user:password@host:port/db for several replicas (or BRIDGE_DATABASE_FILE; keep a password out of the command line).",
            isSecret: false, readsFile: true,
            apply: { value, configuration in
                guard !value.isEmpty else { return "must not be empty" }
                configuration.database = DatabaseLocation(value)
                return nil
            },
            show: { $0.database.description }
        ),
        Setting(
            name: "SURREAL_BASE_URL", flag: "upstream-base-url", defaultValue: "https://openapi.surreal-ai.com",
            help: "Base URL of the Talking Photo API.", isSecret: false,
            apply: { value, configuration in
                guard let url = URL(string: value), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme),
                    url.host?.isEmpty == false
                else { return "expected an http(s) URL, got \"\(URLText.redactingCredentials(value))\"" }
                configuration.upstreamBaseURL = value
                return nil
            },
            show: { URLText.redactingCredentials($0.upstreamBaseURL) }
        ),
        Setting(
            name: "SURREAL_API_TOKEN", flag: nil, defaultValue: "",
            help: "Bearer token for the Talking Photo API (or SURREAL_API_TOKEN_FILE): the account of every API key name without one of its own in BRIDGE_UPSTREAM_TOKENS; required unless every name has one.",
            isSecret: true,
            apply: { value, configuration in
                configuration.upstreamToken = UpstreamToken(value)
                return nil
            },
            show: { $0.upstreamToken.isEmpty ? "" : "<redacted>" }
        ),
        Setting(
            name: "BRIDGE_UPSTREAM_TOKENS", flag: nil, defaultValue: "",
            help: "Comma-separated name:token pairs (or BRIDGE_UPSTREAM_TOKENS_FILE): these API key names use a Talking Photo account of their own; the others share SURREAL_API_TOKEN.",
            isSecret: true,
            apply: { value, configuration in assign(upstreamTokens(value)) { configuration.upstreamTokens = $0 } },
            show: { $0.upstreamTokens.keys.sorted().map { "\($0):<redacted>" }.joined(separator: ",") }
        ),
        duration(
            "SURREAL_TIMEOUT", "upstream-timeout", "10s", minimum: .milliseconds(100), \.upstreamTimeout,
            "Time one upstream call may take; slower answers count as a failed cycle (the poller backs off)."
        ),
        Setting(
            name: "BRIDGE_API_KEYS", flag: nil, defaultValue: nil,
            help: "Comma-separated name:key pairs accepted as Bearer keys (or BRIDGE_API_KEYS_FILE).", isSecret: true,
            apply: { value, configuration in assign(apiKeys(value)) { configuration.apiKeys = $0 } },
            show: { $0.apiKeys.map { "\($0.name):<redacted>" }.joined(separator: ",") }
        ),
        Setting(
            name: "BRIDGE_ALLOW_PRIVATE_DESTINATIONS", flag: "allow-private-destinations", defaultValue: "false",
            help: "Allow callbacks to loopback/private/link-local addresses (true/false).", isSecret: false,
            apply: { value, configuration in
                switch value.lowercased() {
                case "true", "1", "yes": configuration.allowPrivateDestinations = true
                case "false", "0", "no": configuration.allowPrivateDestinations = false
                default: return "expected true or false, got \"\(value)\""
                }
                return nil
            },
            show: { "\($0.allowPrivateDestinations)" }
        ),
        duration("BRIDGE_POLL_INTERVAL", "poll-interval", "2s", minimum: .milliseconds(50), \.pollInterval, "Time from one upstream poll cycle's start to the next (a fixed rate)."),
        duration(
            "BRIDGE_TRACKING_LIMIT", "tracking-limit", "24h", minimum: .seconds(1), \.trackingLimit,
            "Videos not finished after this long emit video.tracking_expired and stop being polled."
        ),
        duration(
            "BRIDGE_DELIVERY_TIMEOUT", "delivery-timeout", "10s", minimum: .milliseconds(100), \.deliveryTimeout,
            "Time a receiver has to answer one callback."
        ),
        count("BRIDGE_DELIVERY_CONCURRENCY", "delivery-concurrency", "64", 1...4096, \.deliveryConcurrency, "Callbacks in flight at once."),
        Setting(
            name: "BRIDGE_RETRY_SCHEDULE", flag: "retry-schedule", defaultValue: "0s,5s,5m,30m,2h,5h,10h,10h",
            help: "Delays before each attempt (comma-separated); after the last, a delivery is failed.", isSecret: false,
            apply: { value, configuration in
                let parts = value.split(separator: ",", omittingEmptySubsequences: false).map { String($0) }
                let parsed = parts.map { DurationText.parse($0) }
                guard !parts.isEmpty, parts.count <= 50, parsed.allSatisfy({ $0 != nil }) else {
                    return "expected 1 to 50 comma-separated durations like 0s,5s,5m, got \"\(value)\""
                }
                configuration.retrySchedule = parsed.compactMap { $0 }
                return nil
            },
            show: { $0.retrySchedule.map(DurationText.format).joined(separator: ",") }
        ),
        duration(
            "BRIDGE_SECRET_GRACE", "secret-grace", "24h", minimum: .zero, \.secretGrace,
            "How long a rotated-out secret keeps signing beside the new one."
        ),
        duration(
            "BRIDGE_RETENTION", "retention", "30d", minimum: .seconds(1), \.retention,
            "Finished records (deliveries, their events, terminal videos, idempotency keys) are pruned this long after."
        ),
        duration("BRIDGE_PRUNE_INTERVAL", "prune-interval", "10m", minimum: .seconds(1), \.pruneInterval, "How often pruning runs."),
        duration(
            "BRIDGE_DISABLE_AFTER", "disable-after", "5d", minimum: .seconds(1), \.disableAfter,
            "A subscription failing without a success for this long is disabled."
        ),
        duration(
            "BRIDGE_HEADER_TIMEOUT", "header-timeout", "10s", minimum: .milliseconds(100), \.headerTimeout,
            "A connection that has not sent a complete request head within this is closed."
        ),
        duration(
            "BRIDGE_IDLE_TIMEOUT", "idle-timeout", "60s", minimum: .milliseconds(100), \.idleTimeout,
            "An idle keep-alive connection is closed after this."
        ),
        count(
            "BRIDGE_MAX_CONNECTIONS", "max-connections", "1000", 1...1_000_000, \.maxConnections,
            "HTTP connections open at once; more wait to be accepted."
        ),
        duration(
            "BRIDGE_DATABASE_BUSY_TIMEOUT", "database-busy-timeout", "5s", minimum: .milliseconds(10), \.databaseBusyTimeout,
            "How long a write waits for another connection's lock before it fails (503)."
        ),
        Setting(
            name: "BRIDGE_ENCRYPTION_KEY", flag: nil, defaultValue: "",
            help: "32-byte key (base64 or hex) sealing signing secrets at rest (or BRIDGE_ENCRYPTION_KEY_FILE); empty: <database>.key, generated 0600.",
            isSecret: true,
            apply: { value, configuration in assign(encryptionKey(value)) { configuration.encryptionKey = $0 } },
            show: { configuration in
                switch (configuration.encryptionKey, configuration.database) {
                case (.some, _): "<redacted>"
                case (nil, .sqlite(let path)): "(\(SQLiteBridgeStore.keyFilePath(forDatabase: path)))"
                case (nil, .postgres): "(missing: required with PostgreSQL)"
                }
            }
        ),
        count("BRIDGE_MAX_SUBSCRIPTIONS", "max-subscriptions", "1000", 1...10_000_000, \.maxSubscriptions, "Subscriptions per API key."),
        count(
            "BRIDGE_MAX_TRACKED_VIDEOS", "max-tracked-videos", "100000", 1...100_000_000, \.maxTrackedVideos,
            "Unfinished tracked videos per API key."
        ),
        count("BRIDGE_MAX_LONG_POLLS", "max-long-polls", "16", 1...100_000, \.maxLongPolls, "Concurrent GET /v1/events?wait= requests per API key."),
        Setting(
            name: "BRIDGE_LOG_FORMAT", flag: "log-format", defaultValue: "text", help: "Log line format: text or json.", isSecret: false,
            apply: { value, configuration in
                guard let format = BridgeConfiguration.LogFormat(rawValue: value.lowercased()) else {
                    return "expected text or json, got \"\(value)\""
                }
                configuration.logFormat = format
                return nil
            },
            show: { $0.logFormat.rawValue }
        ),
        Setting(
            name: "BRIDGE_LOG_LEVEL", flag: "log-level", defaultValue: "info", help: "Lowest log level written.", isSecret: false,
            apply: { value, configuration in
                let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
                guard levels.contains(value.lowercased()) else {
                    return "expected one of \(levels.joined(separator: ", ")), got \"\(value)\""
                }
                configuration.logLevel = value.lowercased()
                return nil
            },
            show: { $0.logLevel }
        ),
    ]

    /// Every setting at its default; the required ones (upstream token, API keys) empty.
    static let defaults: BridgeConfiguration = {
        var configuration = BridgeConfiguration(unset: ())
        for setting in settings {
            guard let value = setting.defaultValue else { continue }
            if let problem = setting.apply(value, &configuration) { preconditionFailure("default of \(setting.name): \(problem)") }
        }
        return configuration
    }()

    let environment: [String: String]
    let flags: [String: String]
    let readFile: @Sendable (String) throws -> String

    /// `flags` is keyed by setting name (`BRIDGE_LISTEN`), holding the raw flag text (see ``flagValues(_:)``).
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
    public func load() -> Result<BridgeConfiguration, ConfigurationErrors> { load(Self.settings) }

    /// Only the named settings resolved (the rest at their defaults, none required): for the operator
    /// commands, which need the database and its key but no upstream.
    public func load(only names: Set<String>) -> Result<BridgeConfiguration, ConfigurationErrors> {
        load(Self.settings.filter { names.contains($0.name) })
    }

    private func load(_ settings: [Setting]) -> Result<BridgeConfiguration, ConfigurationErrors> {
        var problems: [String] = []
        var configuration = Self.defaults
        for setting in settings {
            switch raw(setting) {
            case .success(let value?):
                if let problem = setting.apply(value, &configuration) { problems.append("\(setting.name): \(problem)") }
            case .success(nil): problems.append("\(setting.name) is required: \(setting.help)")
            case .failure(let problem): problems.append(problem.line)
            }
        }
        let names = Set(settings.map(\.name))
        // Which tenant reaches which account, once the tokens themselves could be read.
        if names.contains("SURREAL_API_TOKEN"), names.contains("BRIDGE_API_KEYS"),
            !problems.contains(where: { $0.hasPrefix("SURREAL_API_TOKEN") || $0.hasPrefix("BRIDGE_UPSTREAM_TOKENS") })
        {
            if !problems.contains(where: { $0.hasPrefix("BRIDGE_API_KEYS") }) {
                problems += Self.accountProblems(configuration)
            } else if configuration.upstreamToken.isEmpty, configuration.upstreamTokens.isEmpty {
                // The keys could not be read, but no tenant can have any account: say so too.
                problems.append("SURREAL_API_TOKEN is required: the Talking Photo token of every API key name without one in BRIDGE_UPSTREAM_TOKENS")
            }
        }
        if problems.isEmpty, names.contains("BRIDGE_ENCRYPTION_KEY"), configuration.database.isShared, configuration.encryptionKey == nil {
            problems.append(
                "BRIDGE_ENCRYPTION_KEY is required with a postgres:// BRIDGE_DATABASE: every replica seals and opens secrets with it (there is no key file)"
            )
        }
        return problems.isEmpty ? .success(configuration) : .failure(ConfigurationErrors(lines: problems))
    }

    // MARK: - Flags and help

    /// `--flag value` and `--flag=value` pairs of `serve`, keyed by setting name; unknown flags, a flag
    /// without a value and a secret given as a flag are problems.
    public static func flagValues(_ arguments: [String]) -> Result<[String: String], ConfigurationErrors> {
        var values: [String: String] = [:]
        var problems: [String] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            guard argument.hasPrefix("--") else {
                // Not echoed: a misplaced value may be a secret.
                problems.append("argument \(index) is not a --flag")
                continue
            }
            let body = argument.dropFirst(2)
            let name = body.split(separator: "=", maxSplits: 1).first.map(String.init) ?? ""
            guard let setting = settings.first(where: { $0.flag == name }) else {
                if let secretName = retiredSecretFlags[name], let secret = settings.first(where: { $0.name == secretName }) {
                    // Its value is skipped, never parsed or echoed.
                    if !body.contains("="), index < arguments.count, !arguments[index].hasPrefix("--") { index += 1 }
                    problems.append("--\(name): \(secret.name) is a secret; set it in the environment or \(secret.name)_FILE, not on the command line")
                } else {
                    problems.append("unknown option --\(name) (see serve --help)")
                }
                continue
            }
            if let equals = body.firstIndex(of: "=") {
                values[setting.name] = String(body[body.index(after: equals)...])
            } else if index < arguments.count {
                values[setting.name] = arguments[index]
                index += 1
            } else {
                problems.append("--\(name) needs a value")
            }
        }
        return problems.isEmpty ? .success(values) : .failure(ConfigurationErrors(lines: problems))
    }

    /// The settings as `serve --help` lists them.
    public static var helpText: String {
        settings.map { setting in
            let fallback = setting.defaultValue.map { $0.isEmpty ? "" : " (default \($0))" } ?? " (required)"
            let flag = setting.flag.map { ", --\($0)" } ?? " (environment or _FILE only)"
            return "  \(setting.name)\(flag)\(fallback)\n      \(setting.help)"
        }.joined(separator: "\n")
    }

    /// The flags the secrets had before they became environment-only, to explain why they are refused.
    private static let retiredSecretFlags = [
        "upstream-token": "SURREAL_API_TOKEN", "api-keys": "BRIDGE_API_KEYS", "encryption-key": "BRIDGE_ENCRYPTION_KEY",
        "upstream-tokens": "BRIDGE_UPSTREAM_TOKENS",
    ]

    // MARK: - Sources

    private struct Problem: Error { let line: String }

    /// flag > environment > NAME_FILE (secrets, the database) > default; nil when required and absent.
    private func raw(_ setting: Setting) -> Result<String?, Problem> {
        if let flag = flags[setting.name] { return .success(flag) }
        if let value = environment[setting.name] { return .success(value) }
        if setting.readsFile, let path = environment[setting.name + "_FILE"] {
            do {
                let contents = try readFile(path).trimmingCharacters(in: .whitespacesAndNewlines)
                return .success(contents)
            } catch {
                return .failure(Problem(line: "\(setting.name)_FILE: cannot read \"\(path)\""))
            }
        }
        return .success(setting.defaultValue)
    }

    // MARK: - Kinds

    private static func duration(
        _ name: String, _ flag: String, _ defaultValue: String, minimum: Duration,
        _ property: any WritableKeyPath<BridgeConfiguration, Duration> & Sendable, _ help: String
    ) -> Setting {
        Setting(
            name: name, flag: flag, defaultValue: defaultValue, help: help, isSecret: false,
            apply: { value, configuration in
                guard let parsed = DurationText.parse(value) else { return "expected a duration like 500ms, 5s, 10m, 24h, got \"\(value)\"" }
                guard parsed >= minimum else { return "must be at least \(DurationText.format(minimum))" }
                configuration[keyPath: property] = parsed
                return nil
            },
            show: { DurationText.format($0[keyPath: property]) }
        )
    }

    private static func count(
        _ name: String, _ flag: String, _ defaultValue: String, _ range: ClosedRange<Int>,
        _ property: any WritableKeyPath<BridgeConfiguration, Int> & Sendable, _ help: String
    ) -> Setting {
        Setting(
            name: name, flag: flag, defaultValue: defaultValue, help: help, isSecret: false,
            apply: { value, configuration in
                guard let parsed = Int(value), range.contains(parsed) else {
                    return "expected a whole number from \(range.lowerBound) to \(range.upperBound), got \"\(value)\""
                }
                configuration[keyPath: property] = parsed
                return nil
            },
            show: { "\($0[keyPath: property])" }
        )
    }

    /// Stores a parsed value, or returns its problem.
    private static func assign<T>(_ parsed: Result<T, Problem>, _ store: (T) -> Void) -> String? {
        switch parsed {
        case .success(let value):
            store(value)
            return nil
        case .failure(let problem):
            return problem.line
        }
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

    /// Empty: no key configured (`<database>.key`).
    private static func encryptionKey(_ value: String) -> Result<Data?, Problem> {
        guard !value.isEmpty else { return .success(nil) }
        guard let key = SecretBox.parseKey(value) else {
            return .failure(Problem(line: "expected 32 bytes as base64 (44 characters) or hex (64 characters)"))
        }
        return .success(key)
    }

    /// Every API key name must reach an upstream account: its own, or the shared token. A name in
    /// BRIDGE_UPSTREAM_TOKENS that is not an API key name is a typo that would leave a tenant on the
    /// shared account, so it is refused too.
    static func accountProblems(_ configuration: BridgeConfiguration) -> [String] {
        var problems: [String] = []
        let names = Set(configuration.apiKeys.map(\.name))
        let unknown = configuration.upstreamTokens.keys.filter { !names.contains($0) }.sorted()
        if !unknown.isEmpty {
            problems.append("BRIDGE_UPSTREAM_TOKENS: \(unknown.joined(separator: ", ")) \(unknown.count == 1 ? "is" : "are") not a name in BRIDGE_API_KEYS")
        }
        let without = names.filter { configuration.upstreamTokens[$0] == nil }.sorted()
        if configuration.upstreamToken.isEmpty, !without.isEmpty {
            problems.append(
                "SURREAL_API_TOKEN is required: \(without.joined(separator: ", ")) \(without.count == 1 ? "has" : "have") no token of \(without.count == 1 ? "its" : "their") own in BRIDGE_UPSTREAM_TOKENS (or set SURREAL_API_TOKEN_FILE)"
            )
        }
        return problems
    }

    /// `name:token,…`; empty: none.
    private static func upstreamTokens(_ text: String) -> Result<[String: UpstreamToken], Problem> {
        var tokens: [String: UpstreamToken] = [:]
        for (index, pair) in text.split(separator: ",").enumerated() {
            let parts = pair.trimmingCharacters(in: .whitespaces).split(separator: ":", maxSplits: 1)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                return .failure(Problem(line: "entry \(index + 1) is not name:token"))
            }
            let name = String(parts[0])
            guard tokens[name] == nil else { return .failure(Problem(line: "entry \(index + 1): duplicate name \(name)")) }
            tokens[name] = UpstreamToken(String(parts[1]))
        }
        return .success(tokens)
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
    /// `NAME = value` lines of the effective configuration, in table order; secrets redacted, API
    /// keys by name only.
    public var redactedLines: [String] {
        ConfigurationLoader.settings.map { "\($0.name) = \($0.show(self))" }
    }
}
