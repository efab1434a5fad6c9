import BridgeCore
public import BridgeStore
public import Foundation
public import Logging
import NIOPosix
import PostgresNIO

/// The bridge's state in one PostgreSQL database, shared by any number of `serve` replicas: the same
/// records, rules and transactions as the embedded SQLite engine, behind the same protocols and
/// pinned by the same conformance suite.
///
/// What differs because several processes write at once:
/// - Deliveries are claimed with `FOR UPDATE SKIP LOCKED` in one statement that also sets the lease,
///   so two replicas never claim one row; claims take a short advisory lock so the per-subscription
///   cap counts every replica's leases.
/// - Event appends take a transaction-scoped advisory lock before drawing their sequence number, so
///   events commit in sequence order and a reader paging by sequence never skips one that commits late.
/// - Migrations run under an advisory lock: replicas starting at once migrate once.
/// - Wake-ups: a local commit signals this process at once; other replicas learn of it through
///   `NOTIFY` (see `Notifications.swift`), and their dispatchers' timers are the fallback.
///
/// Times are stored as unix seconds (`double precision`), as in SQLite, so a copy between the engines
/// is exact; `to_timestamp(column)` shows one as a time in `psql`.
public final class PostgresBridgeStore: Sendable {
    public struct Configuration: Sendable {
        /// The 32-byte key that seals secrets at rest. Required: every replica must seal and open with
        /// the same key, so there is no key file beside the database as with SQLite.
        public var encryptionKey: Data
        /// Connections in this process's pool.
        public var maximumConnections: Int

        public init(encryptionKey: Data, maximumConnections: Int = 10) {
            self.encryptionKey = encryptionKey
            self.maximumConnections = maximumConnections
        }
    }

    let client: PostgresClient
    let logger: Logger
    let secrets: SecretBox
    /// The database, as the operator wrote it but without its password (for messages).
    public let location: String
    private let running: Task<Void, Never>
    let deliveriesEnqueued = WakeSignal()
    let eventsAppended = WakeSignal()
    let notifications: Notifications
    let statistics: StatisticsRefresh

    /// Connects to `url` (`postgres://user:password@host:port/database?sslmode=…`), migrates the schema
    /// under an advisory lock, and checks the encryption key against the one the database records.
    public init(url: String, configuration: Configuration, logger: Logger? = nil) async throws(StoreError) {
        let target = try PostgresURL(url)
        guard let box = SecretBox(keyMaterial: configuration.encryptionKey) else {
            throw .cannotOpen("the encryption key must be 32 bytes")
        }
        var clientConfiguration = PostgresClient.Configuration(
            host: target.host, port: target.port, username: target.user, password: target.password,
            database: target.database, tls: target.tls
        )
        clientConfiguration.options.maximumConnections = max(2, configuration.maximumConnections)
        clientConfiguration.options.connectTimeout = .seconds(10)
        let logger = logger ?? Logger(label: "bridge.postgres", factory: { _ in SwiftLogNoOpLogHandler() })
        let client = PostgresClient(configuration: clientConfiguration, eventLoopGroup: Self.eventLoops, backgroundLogger: logger)
        self.client = client
        self.logger = logger
        self.secrets = box
        self.location = target.redacted
        self.running = Task { await client.run() }
        self.notifications = Notifications(client: client, logger: logger)
        self.statistics = StatisticsRefresh(client: client, logger: logger)
        do {
            try await Schema.migrate(client, logger: logger)
            try await checkKey(box)
        } catch {
            running.cancel()
            throw error
        }
        notifications.start(deliveries: deliveriesEnqueued, events: eventsAppended)
    }

    /// The database connections' own event loop, apart from the HTTP servers' (NIO's singleton group):
    /// database I/O and request handling never wait for each other's threads.
    static let eventLoops = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    deinit {
        notifications.stop()
        running.cancel()
    }

    /// Records the key's id in a new database; refuses a key other than the recorded one.
    private func checkKey(_ box: SecretBox) async throws(StoreError) {
        let stored = try await transaction { sql in
            try await sql.run("INSERT INTO meta (key, value) VALUES ('encryption_key_id', \(box.keyID)) ON CONFLICT (key) DO NOTHING")
            return try await sql.one("SELECT value FROM meta WHERE key = 'encryption_key_id'", as: String.self)
        }
        if let stored, stored != box.keyID {
            throw .cannotOpen(
                "the database's secrets are encrypted under key \(stored), but BRIDGE_ENCRYPTION_KEY is key \(box.keyID); "
                    + "use the key the database was created with"
            )
        }
    }

    // MARK: - Access

    /// Runs `body` in one transaction (READ COMMITTED); any error rolls it back.
    func transaction<T: Sendable>(_ body: @Sendable (SQL) async throws -> T) async throws(StoreError) -> T {
        do {
            return try await client.withTransaction(logger: logger) { connection in
                try await body(SQL(connection: connection, logger: logger))
            }
        } catch {
            throw StoreError(postgres: error)
        }
    }

    /// Runs `body` on one pooled connection outside a transaction (single-statement reads).
    func read<T: Sendable>(_ body: @Sendable (SQL) async throws -> T) async throws(StoreError) -> T {
        do {
            return try await client.withConnection { connection in
                try await body(SQL(connection: connection, logger: logger))
            }
        } catch {
            throw StoreError(postgres: error)
        }
    }

    /// Signals after a commit described by `report`: this process at once, other replicas by NOTIFY.
    func notifyCommitted(_ report: ObservationReport) {
        notifyCommitted(events: !report.events.isEmpty, deliveries: report.deliveriesCreated > 0)
        statistics.noteInserted(report.deliveriesCreated)
    }

    func notifyCommitted(events: Bool, deliveries: Bool) {
        if events { eventsAppended.signal() }
        if deliveries { deliveriesEnqueued.signal() }
        notifications.publish(events: events, deliveries: deliveries)
    }

    public func deliveryWakeUps() -> AsyncStream<Void> { deliveriesEnqueued.stream() }
    public func eventWakeUps() -> AsyncStream<Void> { eventsAppended.stream() }
}

/// An event to append: its id and sequence number are drawn when it is inserted.
struct NewEvent {
    var tenant: String
    var type: EventType
    var videoID: String?
    var payload: String
    /// The subscription an operational event is about (it never goes to that one).
    var subject: String? = nil
}

extension PostgresBridgeStore: TrackingStore, DeliveryStore, SubscriptionStore, VideoStore, EventLogStore, IdempotencyStore,
    MaintenanceStore
{}

/// One connection in use, inside or outside a transaction.
struct SQL: Sendable {
    let connection: PostgresConnection
    let logger: Logger

    func rows(_ query: PostgresQuery) async throws -> [PostgresRow] {
        try await connection.query(query, logger: logger).collect()
    }

    /// Runs a statement; returns the rows it answered (with `RETURNING 1`, the rows it changed).
    @discardableResult
    func run(_ query: PostgresQuery) async throws -> Int {
        try await rows(query).count
    }

    /// The first column of the first row; nil without a row or for NULL.
    func one<T: PostgresDecodable>(_ query: PostgresQuery, as type: T.Type) async throws -> T? where T._DecodableType == T {
        guard let row = try await rows(query).first else { return nil }
        return try row.decode(T?.self)
    }

    /// Rows as one JSON document, for a statement that reads a whole batch with
    /// `jsonb_to_recordset(\(document)::jsonb) AS x(column type, …)`: one parameter however many rows,
    /// nullable columns included (PostgreSQL's array parameters cannot carry NULLs through PostgresNIO).
    static func document<Row: Encodable>(_ rows: [Row]) throws -> String {
        String(decoding: try JSONEncoder().encode(rows), as: UTF8.self)
    }

    /// The first column of every row.
    func column<T: PostgresDecodable>(_ query: PostgresQuery, as type: T.Type) async throws -> [T] {
        try await rows(query).map { try $0.decode(T.self) }
    }
}

/// `postgres://user:password@host:port/database?sslmode=disable|prefer|require`.
struct PostgresURL {
    var user: String
    var password: String?
    var host: String
    var port: Int
    var database: String
    var tls: PostgresClient.Configuration.TLS
    var redacted: String

    init(_ text: String) throws(StoreError) {
        guard let components = URLComponents(string: text), let scheme = components.scheme,
            scheme == "postgres" || scheme == "postgresql"
        else {
            throw .cannotOpen("BRIDGE_DATABASE is not a postgres:// URL")
        }
        guard let host = components.host, !host.isEmpty else { throw .cannotOpen("the postgres:// URL has no host") }
        let database = String(components.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty else { throw .cannotOpen("the postgres:// URL names no database (…/DATABASE)") }
        self.user = components.user.flatMap { $0.removingPercentEncoding } ?? "postgres"
        self.password = components.password.flatMap { $0.removingPercentEncoding }
        self.host = host
        self.port = components.port ?? 5432
        self.database = database.removingPercentEncoding ?? database
        let mode = components.queryItems?.first(where: { $0.name == "sslmode" })?.value ?? "prefer"
        switch mode {
        case "disable": tls = .disable
        case "prefer", "allow": tls = .prefer(.makeClientConfiguration())
        case "require", "verify-ca", "verify-full": tls = .require(.makeClientConfiguration())
        default: throw .cannotOpen("sslmode=\(mode) is not one of disable, prefer, require")
        }
        redacted = "postgres://\(user)@\(host):\(port)/\(self.database)"
    }
}

extension StoreError {
    /// What a PostgresNIO error means to the bridge: transient (busy, full, read-only) or not.
    init(postgres error: any Error) {
        if let error = error as? StoreError {
            self = error
            return
        }
        if let transaction = error as? PostgresTransactionError {
            let inner = transaction.closureError ?? transaction.beginError ?? transaction.commitError ?? transaction.rollbackError
            self = inner.map { StoreError(postgres: $0) } ?? .other("transaction failed")
            return
        }
        guard let error = error as? PSQLError else {
            self = .other(String(describing: error))
            return
        }
        let state = error.serverInfo?[.sqlState] ?? ""
        let message = error.serverInfo?[.message] ?? "\(error.code)"
        switch state {
        case "53100": self = .diskFull
        case "25006": self = .readOnly
        case "40001", "40P01", "55P03", "57014", "53300": self = .busy
        case "3D000", "28000", "28P01": self = .cannotOpen(message)
        case "XX001", "XX002": self = .corrupt(message)
        case _ where state.hasPrefix("23"): self = .constraint(message)
        case _ where state.hasPrefix("08") || state.hasPrefix("57P"): self = .busy
        case "":
            // No server answer: the connection failed or closed. Waiting may help.
            switch error.code {
            case .connectionError, .serverClosedConnection, .clientClosedConnection, .poolClosed, .uncleanShutdown:
                self = .busy
            default: self = .other(message)
            }
        default: self = .other(message)
        }
    }
}
