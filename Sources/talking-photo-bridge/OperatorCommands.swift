import ArgumentParser
import BridgeStore
import CurlHTTP
import Foundation

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
        do {
            let store = try SQLiteBridgeStore(path: path)
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
        let source = database ?? ProcessInfo.processInfo.environment["BRIDGE_DATABASE"] ?? "bridge.sqlite"
        guard FileManager.default.fileExists(atPath: source) else {
            printError("talking-photo-bridge backup: no database at \(source)")
            throw ExitCode(1)
        }
        do {
            try await SQLiteBridgeStore(path: source).backup(to: path)
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
            print("backed up \(source) to \(path) (\(size) bytes)")
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
