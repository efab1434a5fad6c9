public import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A private PostgreSQL cluster for the tests: Debian's `initdb` and `pg_ctl` in a temporary
/// directory, on a free loopback port, with `fsync` off (nothing here must survive a power cut).
/// One per test process, started on first use and stopped (`pg_ctl stop -m immediate`, directory
/// removed) when the process exits; a cluster left by a test process that was killed is stopped by
/// the next one. As root the cluster runs as the `postgres` user (`initdb` refuses root).
/// Each test gets a database of its own (``createDatabase()``), dropped by ``dropDatabase(_:)``.
public final class PostgresServer: Sendable {
    public let port: Int
    public let directory: String
    private let binaries: String
    private let runAs: [String]

    private static let starting = StartOnce()

    /// The process's cluster, started the first time it is asked for.
    public static func shared() async throws -> PostgresServer {
        try await starting.value()
    }

    private init(port: Int, directory: String, binaries: String, runAs: [String]) {
        self.port = port
        self.directory = directory
        self.binaries = binaries
        self.runAs = runAs
    }

    /// A new empty database; returns its `postgres://` URL.
    public func createDatabase() async throws -> String {
        let name = "t_" + UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: "")
        try await psql("CREATE DATABASE \(name)")
        return url(database: name)
    }

    /// Drops a database made by ``createDatabase()`` (connections still open are closed).
    public func dropDatabase(_ url: String) async {
        guard let name = url.split(separator: "/").last else { return }
        try? await psql("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }

    public func url(database: String) -> String {
        "postgres://postgres@127.0.0.1:\(port)/\(database)?sslmode=disable"
    }

    /// Runs one SQL command as the superuser on the `postgres` database.
    @discardableResult
    public func psql(_ command: String, database: String = "postgres") async throws -> String {
        let (status, output) = try await runCommand(
            binaries + "/psql",
            ["-X", "-q", "-t", "-A", "-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "-d", database, "-v", "ON_ERROR_STOP=1",
             "-c", command],
            timeout: .seconds(60)
        )
        guard status == 0 else { throw PostgresServerError.commandFailed("psql -c \(command): \(output)") }
        return output
    }

    // MARK: - Start and stop

    /// `/usr/lib/postgresql/<newest>/bin`.
    static func findBinaries() throws -> String {
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [])
            .compactMap(Int.init)
            .sorted(by: >)
        for version in versions where FileManager.default.isExecutableFile(atPath: "\(root)/\(version)/bin/initdb") {
            return "\(root)/\(version)/bin"
        }
        throw PostgresServerError.notInstalled
    }

    fileprivate static func start() async throws -> PostgresServer {
        let binaries = try findBinaries()
        let asRoot = getuid() == 0
        let runAs = asRoot ? ["/usr/sbin/runuser", "-u", "postgres", "--"] : []
        reapStaleClusters(binaries: binaries, runAs: runAs)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tpb-pgcluster-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        try String(getpid()).write(toFile: directory + "/owner.pid", atomically: true, encoding: .utf8)
        if asRoot {
            guard let user = getpwnam("postgres") else { throw PostgresServerError.notInstalled }
            guard chown(directory, user.pointee.pw_uid, user.pointee.pw_gid) == 0 else {
                throw PostgresServerError.commandFailed("chown \(directory) to postgres failed")
            }
        }
        let data = directory + "/data"
        try await run(runAs, binaries + "/initdb", ["-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"])
        registerStopAtExit(binaries: binaries, data: data, directory: directory, runAs: runAs)
        var lastFailure = ""
        // A free port is chosen by binding port 0; another process may take it before the server
        // does, so a failed start tries another.
        for _ in 0..<3 {
            let port = try freeLoopbackPort()
            let options = [
                "-c listen_addresses=127.0.0.1", "-p \(port)", "-k \(directory)", "-c fsync=off", "-c synchronous_commit=off",
                "-c full_page_writes=off", "-c max_connections=400", "-c shared_buffers=32MB",
            ].joined(separator: " ")
            do {
                try await run(runAs, binaries + "/pg_ctl", ["-D", data, "-l", directory + "/server.log", "-w", "-t", "60", "-o", options, "start"])
                return PostgresServer(port: port, directory: directory, binaries: binaries, runAs: runAs)
            } catch {
                lastFailure = "\(error)\n" + ((try? String(contentsOfFile: directory + "/server.log", encoding: .utf8)) ?? "")
            }
        }
        throw PostgresServerError.commandFailed("the test cluster did not start: \(lastFailure)")
    }

    private static func run(_ runAs: [String], _ executable: String, _ arguments: [String]) async throws {
        let command = runAs + [executable] + arguments
        let (status, output) = try await runCommand(command[0], Array(command.dropFirst()), timeout: .seconds(120))
        guard status == 0 else { throw PostgresServerError.commandFailed("\(executable) failed (\(status)): \(output)") }
    }

    /// Clusters whose test process is gone (killed before its exit handler ran).
    private static func reapStaleClusters(binaries: String, runAs: [String]) {
        let temporary = FileManager.default.temporaryDirectory.path
        for name in (try? FileManager.default.contentsOfDirectory(atPath: temporary)) ?? [] where name.hasPrefix("tpb-pgcluster-") {
            let directory = temporary + "/" + name
            let owner = (try? String(contentsOfFile: directory + "/owner.pid", encoding: .utf8)).flatMap { Int32($0) }
            if let owner, kill(owner, 0) == 0 || errno == EPERM { continue }
            _ = system(stopCommand(binaries: binaries, data: directory + "/data", directory: directory, runAs: runAs))
        }
    }

    static func stopCommand(binaries: String, data: String, directory: String, runAs: [String]) -> String {
        let prefix = runAs.joined(separator: " ")
        return "\(prefix) '\(binaries)/pg_ctl' -D '\(data)' -m immediate -w -t 30 stop >/dev/null 2>&1; rm -rf '\(directory)'"
    }

    private static func registerStopAtExit(binaries: String, data: String, directory: String, runAs: [String]) {
        atExit.withLock { $0 = stopCommand(binaries: binaries, data: data, directory: directory, runAs: runAs) }
        atexit {
            if let command = PostgresServer.atExit.withLock({ $0 }) { _ = system(command) }
        }
    }

    private static let atExit = LockedValue<String?>(nil)
}

public enum PostgresServerError: Error, CustomStringConvertible {
    case notInstalled
    case commandFailed(String)

    public var description: String {
        switch self {
        case .notInstalled:
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb, or no postgres user): "
                + "`make test` installs Debian's postgresql"
        case .commandFailed(let message): message
        }
    }
}

/// Starts the cluster once however many tests ask at the same moment.
private actor StartOnce {
    private var task: Task<PostgresServer, any Error>?

    func value() async throws -> PostgresServer {
        if let task { return try await task.value }
        let task = Task { try await PostgresServer.start() }
        self.task = task
        return try await task.value
    }
}

/// A value behind a lock, for the exit handler (which cannot capture).
final class LockedValue<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func withLock<T>(_ body: (inout Value) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}
