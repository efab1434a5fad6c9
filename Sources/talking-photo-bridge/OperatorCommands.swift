import ArgumentParser
import BridgeService
import BridgeStore
import CurlHTTP
import Foundation
import SQLiteStore

/// `migrate`: apply database migrations and exit (e.g. before rolling out a new version).
struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply the database migrations and exit.",
        discussion: "Opens the SQLite file (creating it if missing), applies every pending migration and lists them. A file written by a newer version is refused."
    )

    @Option(help: "SQLite file. Default: $BRIDGE_DATABASE, else bridge.sqlite.")
    var database: String?

    func run() async throws {
        let path = database ?? ProcessInfo.processInfo.environment["BRIDGE_DATABASE"] ?? "bridge.sqlite"
        let key = try operatorEncryptionKey("migrate")
        do {
            let store = try SQLiteBridgeStore(path: path, configuration: .init(encryptionKey: key))
            let applied = try await store.appliedMigrations()
            print("\(path): schema up to date (\(applied.count) migrations: \(applied.joined(separator: ", ")))")
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

    @Option(help: "SQLite file. Default: $BRIDGE_DATABASE, else bridge.sqlite.")
    var database: String?

    func validate() throws {
        guard !FileManager.default.fileExists(atPath: path) else { throw ValidationError("\(path) already exists") }
    }

    func run() async throws {
        let source = try existingDatabase(database, command: "backup")
        let key = try operatorEncryptionKey("backup")
        do {
            try await SQLiteBridgeStore(path: source, configuration: .init(encryptionKey: key)).backup(to: path)
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

    @Option(help: "Address of the bridge. Default: $BRIDGE_LISTEN (0.0.0.0 is asked on 127.0.0.1), else 127.0.0.1:8080.")
    var listen: String?

    func run() async throws {
        var address = listen ?? ProcessInfo.processInfo.environment["BRIDGE_LISTEN"] ?? "127.0.0.1:8080"
        if address.hasPrefix("0.0.0.0:") { address = "127.0.0.1:" + address.dropFirst(8) }
        if address.hasPrefix("[::]:") { address = "[::1]:" + address.dropFirst(5) }
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

/// `--database`, else `$BRIDGE_DATABASE`, else `bridge.sqlite`; exit 1 when no such file exists.
func existingDatabase(_ option: String?, command: String) throws -> String {
    let path = option ?? ProcessInfo.processInfo.environment["BRIDGE_DATABASE"] ?? "bridge.sqlite"
    guard FileManager.default.fileExists(atPath: path) else {
        printError("talking-photo-bridge \(command): no database at \(path)")
        throw ExitCode(1)
    }
    return path
}

/// The configured secrets key for an operator command (exit 78 on a bad one); nil: `<database>.key`.
func operatorEncryptionKey(_ command: String) throws -> Data? {
    switch ConfigurationLoader(environment: ProcessInfo.processInfo.environment).encryptionKey() {
    case .success(let key): return key
    case .failure(let errors):
        for line in errors.lines { printError("talking-photo-bridge \(command): \(line)") }
        throw ExitCode(78)
    }
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

    @Option(help: "SQLite file. Default: $BRIDGE_DATABASE, else bridge.sqlite.")
    var database: String?

    @Option(help: "File holding the new 32-byte key (base64 or hex). Default: generate one (key-file mode only).")
    var newKeyFile: String?

    func run() async throws {
        let path = try existingDatabase(database, command: "rekey")
        let current = try operatorEncryptionKey("rekey")
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
            print("re-encrypted \(report.secrets) secrets and \(report.responses) stored responses: key \(report.oldKeyID) → \(report.newKeyID)")
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
