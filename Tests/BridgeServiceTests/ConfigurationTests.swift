import BridgeService
import Foundation
import TestSupport
import Testing

@Suite("Configuration")
struct ConfigurationTests {
    static let minimal = ["SURREAL_API_TOKEN": "tok-secret-value", "BRIDGE_API_KEYS": "acme:acme-key-0123456789abcdef"]

    func load(_ environment: [String: String], flags: [String: String] = [:], files: [String: String] = [:])
        -> Result<BridgeConfiguration, ConfigurationErrors>
    {
        ConfigurationLoader(environment: environment, flags: flags) { path in
            guard let contents = files[path] else { throw CocoaError(.fileNoSuchFile) }
            return contents
        }.load()
    }

    @Test("defaults follow the contract")
    func defaults() throws {
        let configuration = try load(Self.minimal).get()
        #expect(configuration.listenHost == "127.0.0.1" && configuration.listenPort == 8080)
        #expect(configuration.pollInterval == .seconds(2) && configuration.trackingLimit == .seconds(86_400))
        #expect(configuration.deliveryTimeout == .seconds(10) && configuration.deliveryConcurrency == 64)
        #expect(configuration.upstreamTimeout == .seconds(10))
        #expect(configuration.retrySchedule == [0, 5, 300, 1800, 7200, 18_000, 36_000, 36_000].map { Duration.seconds($0) })
        #expect(configuration.secretGrace == .seconds(86_400) && !configuration.allowPrivateDestinations)
        #expect(configuration.apiKeys == [.init(name: "acme", key: "acme-key-0123456789abcdef")])
    }

    @Test("flags win over the environment, which wins over _FILE")
    func precedence() throws {
        var environment = Self.minimal
        environment["BRIDGE_POLL_INTERVAL"] = "5s"
        environment["SURREAL_API_TOKEN_FILE"] = "/run/secrets/token"
        let configuration = try load(environment, flags: ["BRIDGE_POLL_INTERVAL": "750ms", "BRIDGE_LISTEN": "[::1]:9000"]).get()
        #expect(configuration.pollInterval == .milliseconds(750))
        #expect(configuration.listenHost == "::1" && configuration.listenPort == 9000)
        #expect(configuration.upstreamToken == .init("tok-secret-value"), "the variable beats the file")
    }

    @Test("secrets from NAME_FILE, trimmed")
    func secretFiles() throws {
        let environment = ["SURREAL_API_TOKEN_FILE": "/run/secrets/token", "BRIDGE_API_KEYS_FILE": "/run/secrets/keys"]
        let files = ["/run/secrets/token": "from-file-token\n", "/run/secrets/keys": "ops:ops-key-0123456789abcdef\n"]
        let configuration = try load(environment, files: files).get()
        #expect(configuration.upstreamToken == .init("from-file-token"))
        #expect(configuration.apiKeys.map(\.name) == ["ops"])
        guard case .failure(let errors) = load(["SURREAL_API_TOKEN_FILE": "/missing", "BRIDGE_API_KEYS": "a:0123456789abcdef0"]) else {
            Issue.record("a missing secret file must fail")
            return
        }
        #expect(errors.lines == [#"SURREAL_API_TOKEN_FILE: cannot read "/missing""#])
    }

    @Test("each bad value gives one line naming the variable, never a secret", arguments: [
        ("BRIDGE_LISTEN", "8080"), ("BRIDGE_LISTEN", "host:99999"), ("BRIDGE_DATABASE", ""),
        ("SURREAL_BASE_URL", "ftp://upstream"), ("SURREAL_BASE_URL", "not a url"), ("SURREAL_API_TOKEN", ""),
        ("BRIDGE_API_KEYS", "nocolon"), ("BRIDGE_API_KEYS", "acme:short"), ("BRIDGE_API_KEYS", "a:0123456789abcdefX,a:0123456789abcdefY"),
        ("BRIDGE_ALLOW_PRIVATE_DESTINATIONS", "maybe"), ("BRIDGE_POLL_INTERVAL", "fast"), ("BRIDGE_POLL_INTERVAL", "1ms"),
        ("BRIDGE_TRACKING_LIMIT", "-5s"), ("SURREAL_TIMEOUT", "50ms"), ("BRIDGE_DELIVERY_TIMEOUT", "10"), ("BRIDGE_DELIVERY_CONCURRENCY", "0"),
        ("BRIDGE_DELIVERY_CONCURRENCY", "lots"), ("BRIDGE_RETRY_SCHEDULE", "0s,,5s"), ("BRIDGE_RETRY_SCHEDULE", "soon"),
        ("BRIDGE_SECRET_GRACE", "1 day"), ("BRIDGE_LOG_FORMAT", "xml"), ("BRIDGE_LOG_LEVEL", "loud"),
        // Too large for its type: a bad value, never a trap.
        ("BRIDGE_POLL_INTERVAL", "99999999999999999999d"), ("BRIDGE_TRACKING_LIMIT", "1e300s"),
        ("BRIDGE_RETRY_SCHEDULE", "0s,99999999999999999999h"), ("BRIDGE_SECRET_GRACE", "36500d36500d"),
        ("SURREAL_BASE_URL", "gopher://user:tok-secret-value@upstream"),
        ("BRIDGE_RETENTION", "500ms"), ("BRIDGE_PRUNE_INTERVAL", "0s"), ("BRIDGE_HEADER_TIMEOUT", "soon"),
        ("BRIDGE_MAX_CONNECTIONS", "0"), ("BRIDGE_DATABASE_BUSY_TIMEOUT", "-1s"),
    ])
    func badValue(name: String, value: String) {
        var environment = Self.minimal
        environment[name] = value
        guard case .failure(let errors) = load(environment) else {
            Issue.record("\(name)=\(value) was accepted")
            return
        }
        #expect(errors.lines.count == 1, "\(errors.lines)")
        #expect(errors.lines.first?.hasPrefix(name) == true, "\(errors.lines)")
        #expect(!errors.description.contains("0123456789abcdef") && !errors.description.contains("tok-secret-value"))
    }

    @Test("retention and pruning go down to one second")
    func shortRetention() throws {
        var environment = Self.minimal
        environment["BRIDGE_RETENTION"] = "1s"
        environment["BRIDGE_PRUNE_INTERVAL"] = "1s"
        let configuration = try load(environment).get()
        #expect(configuration.retention == .seconds(1) && configuration.pollerConfiguration.pruneInterval == .seconds(1))
    }

    @Test("missing required settings are each reported")
    func missing() {
        guard case .failure(let errors) = load([:]) else {
            Issue.record("accepted an empty environment")
            return
        }
        #expect(errors.lines.count == 2)
        #expect(errors.lines.contains { $0.hasPrefix("SURREAL_API_TOKEN is required") })
        #expect(errors.lines.contains { $0.hasPrefix("BRIDGE_API_KEYS is required") })
    }

    @Test("--print-config redacts every secret")
    func redaction() throws {
        let configuration = try load(Self.minimal).get()
        let text = configuration.redactedLines.joined(separator: "\n")
        #expect(text.contains("SURREAL_API_TOKEN = <redacted>") && text.contains("BRIDGE_API_KEYS = acme:<redacted>"))
        #expect(!text.contains("tok-secret-value") && !text.contains("acme-key-0123456789abcdef"))
        #expect(text.contains("BRIDGE_RETRY_SCHEDULE = 0s,5s,5m,30m,2h,5h,10h,10h"))
        #expect(text.contains("BRIDGE_TRACKING_LIMIT = 24h"))
    }

    @Test("BRIDGE_UPSTREAM_TOKENS: own accounts for named keys; the shared token is needed only by the others; typos are refused")
    func upstreamTokens() throws {
        let keys = "acme:acme-key-0123456789abcdef,globex:globex-key-0123456789abcdef"
        let own = try load(["BRIDGE_API_KEYS": keys, "BRIDGE_UPSTREAM_TOKENS": "acme:tok-acme-own,globex:tok-globex-own"]).get()
        #expect(own.upstreamToken.isEmpty && own.upstreamTokens.keys.sorted() == ["acme", "globex"], "no shared token needed")
        let text = own.redactedLines.joined(separator: "\n")
        #expect(text.contains("BRIDGE_UPSTREAM_TOKENS = acme:<redacted>,globex:<redacted>") && !text.contains("tok-acme-own"))

        let fromFile = try load(
            ["BRIDGE_API_KEYS": keys, "SURREAL_API_TOKEN": "tok-shared", "BRIDGE_UPSTREAM_TOKENS_FILE": "/run/secrets/tokens"],
            files: ["/run/secrets/tokens": "acme:tok-acme-own\n"]
        ).get()
        #expect(fromFile.upstreamTokens.keys.sorted() == ["acme"], "the file form, trimmed")

        guard case .failure(let missing) = load(["BRIDGE_API_KEYS": keys, "BRIDGE_UPSTREAM_TOKENS": "acme:tok-acme-own"]) else {
            Issue.record("accepted globex without any account")
            return
        }
        #expect(missing.lines == [
            "SURREAL_API_TOKEN is required: globex has no token of its own in BRIDGE_UPSTREAM_TOKENS (or set SURREAL_API_TOKEN_FILE)"
        ])
        guard case .failure(let typo) = load(Self.minimal.merging(["BRIDGE_UPSTREAM_TOKENS": "acmee:tok-x"]) { $1 }) else {
            Issue.record("accepted a name that is not an API key name")
            return
        }
        #expect(typo.lines == ["BRIDGE_UPSTREAM_TOKENS: acmee is not a name in BRIDGE_API_KEYS"])
        guard case .failure(let malformed) = load(Self.minimal.merging(["BRIDGE_UPSTREAM_TOKENS": "acme"]) { $1 }) else {
            Issue.record("accepted an entry without a token")
            return
        }
        #expect(malformed.lines.count == 1 && malformed.lines[0].hasPrefix("BRIDGE_UPSTREAM_TOKENS: entry 1 is not name:token"))
        #expect(!malformed.lines[0].contains("acme:"), "the value is not echoed")
        guard case .failure(let badKeys) = load(["BRIDGE_API_KEYS": "acme:short", "BRIDGE_UPSTREAM_TOKENS": "acme:tok-acme-own"]) else {
            Issue.record("accepted a short API key")
            return
        }
        #expect(badKeys.lines.count == 1 && badKeys.lines[0].hasPrefix("BRIDGE_API_KEYS:"), "one line for one bad value: \(badKeys.lines)")
    }

    @Test("credentials inside the upstream URL are redacted in --print-config")
    func urlCredentialsRedacted() throws {
        var environment = Self.minimal
        environment["SURREAL_BASE_URL"] = "https://svc:tok-secret-value@upstream.example.com:8443/api"
        let text = try load(environment).get().redactedLines.joined(separator: "\n")
        #expect(text.contains("SURREAL_BASE_URL = https://<redacted>@upstream.example.com:8443/api"))
        #expect(!text.contains("tok-secret-value") && !text.contains("svc:"))
    }

    @Test("a postgres:// BRIDGE_DATABASE (or _FILE) selects PostgreSQL, needs the encryption key, and never shows its password")
    func postgresDatabase() throws {
        let url = "postgres://bridge:pg-password-0123@db.internal:5432/bridge?sslmode=require"
        let key = String(repeating: "ab", count: 32)
        var environment = Self.minimal
        environment["BRIDGE_DATABASE_FILE"] = "/run/secrets/database"
        environment["BRIDGE_ENCRYPTION_KEY"] = key
        let configuration = try load(environment, files: ["/run/secrets/database": url + "\n"]).get()
        #expect(configuration.database == .postgres(url: url))
        let printed = configuration.redactedLines.joined(separator: "\n")
        #expect(printed.contains("BRIDGE_DATABASE = postgres://<redacted>@db.internal:5432/bridge?sslmode=require"))
        #expect(!printed.contains("pg-password-0123"))
        // The variable wins over the file, as for secrets; any other text is a file path.
        environment["BRIDGE_DATABASE"] = "/data/bridge.sqlite"
        #expect(try load(environment, files: ["/run/secrets/database": url]).get().database == .sqlite(path: "/data/bridge.sqlite"))
        // Without a key there is no key file to fall back to: one line, naming the setting, no password.
        environment["BRIDGE_DATABASE"] = url
        environment["BRIDGE_ENCRYPTION_KEY"] = nil
        guard case .failure(let errors) = load(environment) else {
            Issue.record("PostgreSQL without BRIDGE_ENCRYPTION_KEY loaded")
            return
        }
        #expect(errors.lines.count == 1 && errors.lines[0].hasPrefix("BRIDGE_ENCRYPTION_KEY is required with a postgres://"))
        #expect(!errors.description.contains("pg-password-0123"))
        environment["BRIDGE_DATABASE_FILE"] = nil
        environment["BRIDGE_DATABASE"] = nil
        #expect(try load(environment).get().database == .sqlite(path: "bridge.sqlite"), "a key file beside SQLite needs no key")
    }
}

@Suite("Configuration: the one settings table")
struct SettingsTableTests {
    @Test("every default in the table applies, and BridgeConfiguration() is exactly those defaults")
    func defaultsComeFromTheTable() throws {
        let loaded = try ConfigurationLoader(environment: ConfigurationTests.minimal).load().get()
        var expected = BridgeConfiguration()
        expected.upstreamToken = loaded.upstreamToken
        expected.apiKeys = loaded.apiKeys
        #expect(expected.redactedLines == loaded.redactedLines)
        #expect(BridgeConfiguration().pollInterval == .seconds(2) && BridgeConfiguration().database == .sqlite(path: "bridge.sqlite"))
    }

    @Test("--print-config shows every setting once, in table order")
    func printConfigCoversTheTable() throws {
        let lines = try ConfigurationLoader(environment: ConfigurationTests.minimal).load().get().redactedLines
        #expect(lines.map { String($0.prefix { $0 != " " }) } == ConfigurationLoader.settings.map(\.name))
    }

    @Test("serve flags: --flag value and --flag=value by the table; unknown flags and secrets on the command line refused, never echoed")
    func flags() throws {
        let values = try ConfigurationLoader.flagValues(["--listen", "[::1]:9000", "--poll-interval=750ms"]).get()
        #expect(values == ["BRIDGE_LISTEN": "[::1]:9000", "BRIDGE_POLL_INTERVAL": "750ms"])
        guard case .failure(let errors) = ConfigurationLoader.flagValues(
            ["--upstream-token", "tok-secret-value", "--api-keys=a:0123456789abcdef0", "--bogus", "stray-secret", "--retention"]
        ) else {
            Issue.record("bad flags were accepted")
            return
        }
        #expect(errors.lines.count == 5, "\(errors.lines)")
        #expect(errors.lines[0].hasPrefix("--upstream-token: SURREAL_API_TOKEN is a secret"))
        #expect(errors.lines[1].hasPrefix("--api-keys: BRIDGE_API_KEYS is a secret"))
        #expect(errors.lines[2].hasPrefix("unknown option --bogus"))
        #expect(errors.lines[4] == "--retention needs a value")
        #expect(!errors.description.contains("tok-secret-value") && !errors.description.contains("stray-secret"))
        #expect(!errors.description.contains("0123456789abcdef0"))
        #expect(ConfigurationLoader.settings.filter(\.isSecret).allSatisfy { $0.flag == nil })
    }

    @Test("only the named settings are resolved for the operator commands; no upstream is required")
    func partialLoad() throws {
        let loader = ConfigurationLoader(environment: ["BRIDGE_DATABASE": "/data/b.sqlite", "BRIDGE_POLL_INTERVAL": "fast"])
        let configuration = try loader.load(only: ["BRIDGE_DATABASE", "BRIDGE_ENCRYPTION_KEY"]).get()
        #expect(configuration.database == .sqlite(path: "/data/b.sqlite") && configuration.encryptionKey == nil)
        let bad = ConfigurationLoader(environment: ["BRIDGE_ENCRYPTION_KEY": "short"]).load(only: ["BRIDGE_ENCRYPTION_KEY"])
        #expect(throws: ConfigurationErrors.self) { try bad.get() }
    }

    @Test("serve --help and the README table list every setting with its flag and default")
    func documentation() throws {
        let help = ConfigurationLoader.helpText
        let readme = try String(contentsOf: repositoryRoot().appendingPathComponent("README.md"), encoding: .utf8)
        let rows = readme.split(separator: "\n").filter { $0.hasPrefix("| `") }
        for setting in ConfigurationLoader.settings {
            #expect(help.contains(setting.name) && help.contains(setting.help), "help lacks \(setting.name)")
            guard let row = rows.first(where: { $0.hasPrefix("| `\(setting.name)`") }) else {
                Issue.record("README configuration table lacks \(setting.name)")
                continue
            }
            if let flag = setting.flag { #expect(row.contains("`--\(flag)`"), "README row of \(setting.name): \(row)") }
            if let value = setting.defaultValue, !value.isEmpty {
                #expect(row.contains("`\(value)`"), "README default of \(setting.name): \(row)")
            }
        }
    }
}
