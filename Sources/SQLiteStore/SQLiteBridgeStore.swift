public import Foundation
public import BridgeStore
import GRDB

/// The bridge's state in one SQLite file (WAL mode): tenants, subscriptions, tracked videos, the event
/// log, the delivery outbox and attempts. Every write method is one transaction that keeps one
/// invariant; above all, a status change, its event and its outbox rows commit together or not at all.
///
/// Durability: WAL with `synchronous=NORMAL` — a committed transaction survives the process being
/// killed at any moment (`kill -9`); on an OS crash or power loss the last transactions may roll back.
public final class SQLiteBridgeStore: Sendable {
    public struct Configuration: Sendable {
        /// How long a writer waits for another connection's lock before failing with `busy`.
        public var busyTimeout: Duration
        /// Readers in the pool (the writer is separate).
        public var maximumReaderCount: Int
        /// The 32-byte key that seals secrets at rest; nil: the file `<database>.key`, generated with
        /// a new database (see `SQLiteBridgeStore+Encryption.swift`).
        public var encryptionKey: Data?

        public init(busyTimeout: Duration = .seconds(5), maximumReaderCount: Int = 4, encryptionKey: Data? = nil) {
            self.busyTimeout = busyTimeout
            self.maximumReaderCount = maximumReaderCount
            self.encryptionKey = encryptionKey
        }
    }

    let pool: DatabasePool
    public let path: String
    /// Seals signing secrets and stored responses.
    let secrets: SecretBox
    /// Called after a commit that created pending deliveries (the dispatcher's wake-up signal).
    private let deliveriesEnqueued: WakeSignal
    /// Signalled after a commit that appended events (the pull feed's wake-up).
    let eventsAppended: WakeSignal

    public init(path: String, configuration: Configuration = .init()) throws(StoreError) {
        self.path = path
        self.deliveriesEnqueued = WakeSignal()
        self.eventsAppended = WakeSignal()
        var config = GRDB.Configuration()
        config.busyMode = .timeout(TimeInterval(configuration.busyTimeout.components.seconds))
        config.maximumReaderCount = max(1, configuration.maximumReaderCount)
        config.foreignKeysEnabled = true
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            // Transient tables of the claim query (materialized candidates, exclusion lists) stay in
            // memory instead of an unlinked temporary file per statement.
            try db.execute(sql: "PRAGMA temp_store = MEMORY")
            // 1 MiB of page cache per connection (SQLite's default is 2 MiB): the kernel's page cache
            // holds the file anyway; at 10,000 tracked videos this keeps ~4 MB off the RSS with no
            // measurable change in delivery throughput (BENCHMARKS.md).
            try db.execute(sql: "PRAGMA cache_size = -1024")
        }
        try Self.ensurePrivateFiles(path)
        do {
            let opened = try DatabasePool(path: path, configuration: config)
            let storedKeyID = try opened.read { db in try Self.storedKeyID(db) }
            let box = try Self.resolveKey(databasePath: path, given: configuration.encryptionKey, storedKeyID: storedKeyID)
            let migrator = Schema.migrator(secrets: box)
            let applied = try opened.read { db in try migrator.appliedIdentifiers(db) }
            let unknown = applied.subtracting(Set(migrator.migrations))
            guard unknown.isEmpty else { throw StoreError.newerSchema(unknownMigrations: unknown.sorted()) }
            try migrator.migrate(opened)
            if storedKeyID == nil {
                try opened.write { db in
                    try db.execute(
                        sql: "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", arguments: [Self.keyIDMetaKey, box.keyID]
                    )
                }
            }
            pool = opened
            secrets = box
        } catch {
            throw Self.openFailure(error, path: path)
        }
    }

    private static func openFailure(_ error: any Error, path: String) -> StoreError {
        if let error = error as? StoreError { return error }
        switch StoreError(error) {
        case .cannotOpen(let message): return .cannotOpen(Self.explainOpenFailure(path: path) ?? message)
        case .readOnly: return .cannotOpen(Self.explainOpenFailure(path: path) ?? "\(path) is read-only")
        case let other: return other
        }
    }

    /// SQLite says only "unable to open database file"; name what is wrong with the path instead.
    /// WAL mode needs to create `-wal` and `-shm` files beside the database, so its directory must be
    /// writable too.
    static func explainOpenFailure(path: String) -> String? {
        let parent = (path as NSString).deletingLastPathComponent
        let directory = parent.isEmpty ? "." : parent
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            return "directory \(directory) does not exist"
        }
        if access(directory, W_OK) != 0 {
            return "directory \(directory) is not writable (\(String(cString: strerror(errno)))); "
                + "the database and its -wal/-shm files need a writable directory"
        }
        if FileManager.default.fileExists(atPath: path), access(path, R_OK | W_OK) != 0 {
            return "\(path) is not readable and writable (\(String(cString: strerror(errno))))"
        }
        return nil
    }

    /// Identifiers of the migrations this database has applied, oldest first.
    public func appliedMigrations() async throws(StoreError) -> [String] {
        try await read { db in try Schema.migrator(secrets: nil).completedMigrations(db) }
    }

    /// A stream that yields whenever a commit enqueued new pending deliveries.
    public func deliveryWakeUps() -> AsyncStream<Void> { deliveriesEnqueued.stream() }

    /// Signals the dispatcher (after a commit that created pending deliveries).
    func notifyDeliveriesEnqueued() { deliveriesEnqueued.signal() }

    /// Signals both listeners after a commit described by `report`.
    func notifyCommitted(_ report: ObservationReport) {
        if !report.events.isEmpty { eventsAppended.signal() }
        if report.deliveriesCreated > 0 { deliveriesEnqueued.signal() }
    }

    // MARK: - Access

    func read<T: Sendable>(_ body: @Sendable (Database) throws -> T) async throws(StoreError) -> T {
        do {
            return try await pool.read(body)
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(error)
        }
    }

    func write<T: Sendable>(_ body: @Sendable (Database) throws -> T) async throws(StoreError) -> T {
        do {
            return try await pool.write(body)
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(error)
        }
    }

    /// Whether a write transaction can commit right now (for readiness checks).
    public func checkWritable(now: Date) async throws(StoreError) {
        try await write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO meta(key, value) VALUES ('readiness_probe', ?)",
                arguments: [String(now.unixSeconds)]
            )
        }
    }

    /// An online, consistent copy of the database (`VACUUM INTO`), safe while the bridge runs.
    public func backup(to destination: String) async throws(StoreError) {
        do {
            // VACUUM INTO cannot run inside a transaction; a reader connection outside one copies a
            // consistent snapshot while the writer carries on.
            // An empty file is a valid target; creating it first makes the copy private (0600) like the
            // original. Its secrets stay sealed: the key is not in the copy.
            let descriptor = open(destination, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            guard descriptor >= 0 else { throw StoreError.cannotOpen("cannot create \(destination): \(String(cString: strerror(errno)))") }
            close(descriptor)
            do {
                try await pool.unsafeRead { db in try db.execute(sql: "VACUUM INTO ?", arguments: [destination]) }
            } catch {
                try? FileManager.default.removeItem(atPath: destination)
                throw error
            }
        } catch {
            throw StoreError(error)
        }
    }
}

extension StoreError {
    init(_ error: any Error) {
        guard let error = error as? DatabaseError else {
            self = .other(String(describing: error))
            return
        }
        let message = error.message ?? "\(error.resultCode)"
        switch error.resultCode {
        case .SQLITE_FULL: self = .diskFull
        case .SQLITE_READONLY: self = .readOnly
        case .SQLITE_BUSY, .SQLITE_LOCKED: self = .busy
        case .SQLITE_CONSTRAINT: self = .constraint(message)
        case .SQLITE_CORRUPT, .SQLITE_NOTADB: self = .corrupt(message)
        case .SQLITE_CANTOPEN, .SQLITE_PERM: self = .cannotOpen(message)
        case .SQLITE_IOERR:
            // A failed write on a full disk often surfaces as an I/O error.
            self = error.extendedResultCode == .SQLITE_IOERR_WRITE ? .diskFull : .other(message)
        default: self = .other(message)
        }
    }
}

extension Date {
    var unixSeconds: Double { timeIntervalSince1970 }
    init(unixSeconds: Double) { self.init(timeIntervalSince1970: unixSeconds) }
}

extension Database {
    /// Runs one statement through GRDB's per-connection statement cache: hot paths (fan-out, claims,
    /// attempt completion) then compile each SQL text once per connection instead of once per call.
    func run(sql: String, arguments: StatementArguments = StatementArguments()) throws {
        try cachedStatement(sql: sql).execute(arguments: arguments)
    }
}

extension SQLiteBridgeStore: TrackingStore, DeliveryStore, SubscriptionStore, VideoStore, EventLogStore, IdempotencyStore,
    MaintenanceStore
{}

// Reads through GRDB's per-connection statement cache: an API read then costs no SQL compilation
// (compiling, with GRDB's authorizer callback per column, was 4 % of an API read in api-bench).
extension Row {
    static func fetchAll(cached db: Database, sql: String, arguments: StatementArguments = StatementArguments()) throws -> [Row] {
        try fetchAll(db.cachedStatement(sql: sql), arguments: arguments)
    }

    static func fetchOne(cached db: Database, sql: String, arguments: StatementArguments = StatementArguments()) throws -> Row? {
        try fetchOne(db.cachedStatement(sql: sql), arguments: arguments)
    }
}

extension DatabaseValueConvertible where Self: StatementColumnConvertible {
    static func fetchAll(cached db: Database, sql: String, arguments: StatementArguments = StatementArguments()) throws -> [Self] {
        try fetchAll(db.cachedStatement(sql: sql), arguments: arguments)
    }

    static func fetchOne(cached db: Database, sql: String, arguments: StatementArguments = StatementArguments()) throws -> Self? {
        try fetchOne(db.cachedStatement(sql: sql), arguments: arguments)
    }
}

/// The columns a SELECT lists, as an enum whose case order is the SELECT's order: rows are read by
/// position (GRDB's by-name lookup lowercases the name on every access, 8 % of an API read in
/// api-bench), yet every read names its column and the SELECT list is generated from the cases.
protocol SelectedColumns: CaseIterable, RawRepresentable where RawValue == Int {}

extension SelectedColumns {
    /// The column's name in SQL: the case in snake case (`videoID` is `video_id`).
    var name: String {
        var out = ""
        var previousWasUpper = false
        for character in String(describing: self) {
            if character.isUppercase {
                if !previousWasUpper, !out.isEmpty { out += "_" }
                out += character.lowercased()
                previousWasUpper = true
            } else {
                out.append(character)
                previousWasUpper = false
            }
        }
        return out
    }

    /// `a, b, c`: the SELECT list, in case order.
    static var list: String { allCases.map(\.name).joined(separator: ", ") }
}

extension Row {
    subscript<Column: SelectedColumns, Value: DatabaseValueConvertible>(_ column: Column) -> Value {
        self[column.rawValue]
    }
}
