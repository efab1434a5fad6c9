import ArgumentParser
import BridgeService
import BridgeStore
import CurlHTTP
import Foundation
import Logging
import SQLiteStore

/// `migrate`: apply database migrations and exit (e.g. before rolling out a new version).
struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply the database migrations and exit.",
        discussion: "Opens the database (an SQLite file is created if missing), applies every pending migration and lists them. A database written by a newer version is refused. On PostgreSQL an advisory lock makes replicas starting at once migrate once."
    )

    @Option(help: "SQLite file or postgres:// URL. Default: $BRIDGE_DATABASE (or _FILE), else bridge.sqlite.")
    var database: String?

    func run() async throws {
        let configuration = try operatorDatabase(database, command: "migrate", mustExist: false)
        do {
            let store = try await configuration.openStore(logger: Logger(label: "migrate", factory: { _ in SwiftLogNoOpLogHandler() }))
            let applied = try await store.appliedMigrations()
            print("\(configuration.database): schema up to date (\(applied.count) migrations: \(applied.joined(separator: ", ")))")
        } catch {
            printError("talking-photo-bridge migrate: \(error)")
            throw ExitCode(1)
        }
    }
}

/// `backup PATH`: a consistent copy of the live database (`VACUUM INTO`), safe while `serve` runs.
struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a consistent copy of the database to PATH while the bridge keeps running.",
        discussion: "Uses SQLite's VACUUM INTO: readers and the running bridge are not blocked, and PATH is a compact, self-contained database. PATH must not exist."
    )

    @Argument(help: "Where to write the copy (must not exist).")
    var path: String

    @Option(help: "SQLite file. Default: $BRIDGE_DATABASE, else its default (bridge.sqlite).")
    var database: String?

    func validate() throws {
        guard !FileManager.default.fileExists(atPath: path) else { throw ValidationError("\(path) already exists") }
    }

    func run() async throws {
        let configuration = try operatorDatabase(database, command: "backup")
        let source = try sqliteOnly(configuration, command: "backup", instead: "use pg_dump, which is consistent while replicas run")
        do {
            try await SQLiteBridgeStore(path: source, configuration: .init(encryptionKey: configuration.encryptionKey)).backup(to: path)
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
            print("backed up \(source) to \(path) (\(size) bytes); its secrets are sealed, keep the key apart from it")
        } catch {
            printError("talking-photo-bridge backup: \(error)")
            throw ExitCode(1)
        }
    }
}

/// `keys generate`: a random API key, printed as a `name:key` pair for BRIDGE_API_KEYS.
struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "API key helpers.",
        subcommands: [Generate.self]
    )

    struct Generate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a new random API key (32 bytes from the system CSPRNG, base64url) as name:key."
        )

        @Option(help: "The key's name: everything created with the key belongs to it.")
        var name = "default"

        func validate() throws {
            guard !name.isEmpty, name.count <= 64,
                name.unicodeScalars.allSatisfy({ CharacterSet.alphanumerics.contains($0) || "-_.".unicodeScalars.contains($0) })
            else { throw ValidationError("--name must be 1-64 letters, digits, '-', '_' or '.'") }
        }

        func run() async throws {
            var generator = SystemRandomNumberGenerator()
            let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
            let key = Data(bytes).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
            print("\(name):\(key)")
        }
    }
}

/// `healthcheck`: asks the local bridge's `/healthz` (for container HEALTHCHECK, where no curl exists).
struct Healthcheck: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Exit 0 when the local bridge answers GET /healthz, 1 otherwise (for container health checks)."
    )

    @Option(help: "Address of the bridge. Default: $BRIDGE_LISTEN (0.0.0.0 is asked on 127.0.0.1), else its default (127.0.0.1:8080).")
    var listen: String?

    func run() async throws {
        let loader = ConfigurationLoader(environment: ProcessInfo.processInfo.environment, flags: listen.map { ["BRIDGE_LISTEN": $0] } ?? [:])
        guard case .success(let configuration) = loader.load(only: ["BRIDGE_LISTEN"]) else {
            printError("healthcheck: BRIDGE_LISTEN is not host:port")
            throw ExitCode(1)
        }
        let host = switch configuration.listenHost {
        case "0.0.0.0": "127.0.0.1"
        case "::": "[::1]"
        case let other where other.contains(":"): "[\(other)]"
        case let other: other
        }
        let address = "\(host):\(configuration.listenPort)"
        let transport = try CurlTransport()
        defer { transport.shutdown() }
        do {
            let response = try await transport.send(OutboundRequest(url: "http://\(address)/healthz", timeout: .seconds(2)))
            guard response.status == 200 else { throw ExitCode(1) }
            print("ok")
        } catch let exit as ExitCode {
            throw exit
        } catch {
            printError("healthcheck: \(error)")
            throw ExitCode(1)
        }
    }
}

/// The database an operator command works on and its secrets key, from the same settings table as
/// `serve`: `--database`, else `BRIDGE_DATABASE` (or `_FILE`), else its default; the key from
/// `BRIDGE_ENCRYPTION_KEY` or `_FILE` (nil: `<database>.key`, SQLite only). A bad setting exits 78;
/// with `mustExist`, a missing SQLite file exits 1.
func operatorDatabase(_ option: String?, command: String, mustExist: Bool = true) throws -> BridgeConfiguration {
    let loader = ConfigurationLoader(
        environment: ProcessInfo.processInfo.environment, flags: option.map { ["BRIDGE_DATABASE": $0] } ?? [:]
    )
    switch loader.load(only: ["BRIDGE_DATABASE", "BRIDGE_ENCRYPTION_KEY"]) {
    case .success(let configuration):
        if mustExist, case .sqlite(let path) = configuration.database, !FileManager.default.fileExists(atPath: path) {
            printError("talking-photo-bridge \(command): no database at \(path)")
            throw ExitCode(1)
        }
        return configuration
    case .failure(let errors):
        for line in errors.lines { printError("talking-photo-bridge \(command): \(line)") }
        throw ExitCode(78)
    }
}

/// The SQLite file of an operator command that only SQLite has (backup, rekey); PostgreSQL exits 64
/// naming the server's own tool.
func sqliteOnly(_ configuration: BridgeConfiguration, command: String, instead: String) throws -> String {
    guard case .sqlite(let path) = configuration.database else {
        printError("talking-photo-bridge \(command): works on an SQLite file; for PostgreSQL \(instead)")
        throw ExitCode(64)
    }
    return path
}

/// `rekey`: seal every stored secret under a new key, in one transaction.
struct Rekey: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Re-encrypt the stored secrets under a new key (stop the bridge first).",
        discussion: """
            With the generated key file (<database>.key), a new key is generated and replaces the file \
            once the database is re-encrypted. With BRIDGE_ENCRYPTION_KEY or BRIDGE_ENCRYPTION_KEY_FILE \
            set, give the new key with --new-key-file and switch the setting to it afterwards. \
            A bridge still running keeps sealing with the old key: stop it first.
            """
    )

    @Option(help: "SQLite file. Default: $BRIDGE_DATABASE, else its default (bridge.sqlite).")
    var database: String?

    @Option(help: "File holding the new 32-byte key (base64 or hex). Default: generate one (key-file mode only).")
    var newKeyFile: String?

    func run() async throws {
        let configuration = try operatorDatabase(database, command: "rekey")
        let path = try sqliteOnly(configuration, command: "rekey", instead: "re-encrypting is not supported yet; keep the key (see README)")
        let current = configuration.encryptionKey
        var newKey: Data?
        if let newKeyFile {
            guard let text = try? String(contentsOfFile: newKeyFile, encoding: .utf8), let key = SecretBox.parseKey(text) else {
                printError("talking-photo-bridge rekey: \(newKeyFile) does not hold a 32-byte key (base64 or hex)")
                throw ExitCode(78)
            }
            newKey = key
        }
        do {
            let report = try SQLiteBridgeStore.rekey(path: path, currentKey: current, newKey: newKey)
            print("re-encrypted \(report.secrets) secrets (signing secrets and custom header sets) and \(report.responses) stored responses: key \(report.oldKeyID) → \(report.newKeyID)")
            if let file = report.keyFile {
                print("the new key is in \(file)")
            } else {
                print("now set BRIDGE_ENCRYPTION_KEY_FILE to \(newKeyFile ?? "the new key") before starting the bridge")
            }
        } catch {
            printError("talking-photo-bridge rekey: \(error)")
            throw ExitCode(1)
        }
    }
}
