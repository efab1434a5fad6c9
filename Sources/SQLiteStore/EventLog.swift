public import BridgeCore
public import BridgeStore
public import Foundation
import GRDB

/// The event log and the outbox as a key reads them.
extension SQLiteBridgeStore {
    /// `subject`: the subscription an operational event is about (it never goes to that one).
    static func appendEvent(
        _ db: Database,
        tenant: String,
        type: EventType,
        videoID: String?,
        subject: String? = nil,
        payload: String,
        now: Date
    ) throws -> StoredEvent {
        let id = Identifier.make("evt", now: now)
        try db.run(
            sql: "INSERT INTO events (id, tenant, type, video_id, subject, payload, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            arguments: [id, tenant, type.rawValue, videoID, subject, payload, now.unixSeconds]
        )
        return StoredEvent(
            sequence: db.lastInsertedRowID, id: id, tenant: tenant, type: type, videoID: videoID,
            payload: payload, createdAt: now
        )
    }

    /// A tenant's events in log order after `cursor` (a sequence number), optionally for one video or type.
    public func events(
        tenant: String,
        after cursor: Int64?,
        videoID: String?,
        type: EventType?,
        limit: Int
    ) async throws(StoreError) -> [StoredEvent] {
        try await read { db in
            var sql = "SELECT seq, id, tenant, type, video_id, payload, created_at FROM events WHERE tenant = ? AND seq > ?"
            var arguments: StatementArguments = [tenant, cursor ?? 0]
            if let videoID {
                sql += " AND video_id = ?"
                arguments += [videoID]
            }
            if let type {
                sql += " AND type = ?"
                arguments += [type.rawValue]
            }
            sql += " ORDER BY seq LIMIT ?"
            arguments += [limit]
            return try Row.fetchAll(cached: db, sql: sql, arguments: arguments).map(Self.event(from:))
        }
    }

    public func event(tenant: String, id: String) async throws(StoreError) -> StoredEvent? {
        try await read { db in
            try Row.fetchOne(cached: db, sql: "SELECT seq, id, tenant, type, video_id, payload, created_at FROM events WHERE tenant = ? AND id = ?",
                arguments: [tenant, id]
            ).map(Self.event(from:))
        }
    }

    /// The newest event sequence number (0 when the log is empty).
    public func lastEventSequence() async throws(StoreError) -> Int64 {
        try await read { db in try Int64.fetchOne(cached: db, sql: "SELECT MAX(seq) FROM events") ?? 0 }
    }

    /// A stream that yields after every commit that appended events (the long-poll feed's wake-up).
    public func eventWakeUps() -> AsyncStream<Void> { eventsAppended.stream() }

    /// Deliveries of one tenant that `query` matches, oldest or newest first, each with its newest attempt.
    public func deliveries(
        tenant: String,
        matching query: DeliveryQuery,
        after cursor: Int64?,
        limit: Int
    ) async throws(StoreError) -> [DeliveryRecord] {
        try await read { db in
            var sql = Self.deliverySelect + " WHERE d.tenant = ?"
            var arguments: StatementArguments = [tenant]
            if let cursor {
                sql += query.newestFirst ? " AND d.id < ?" : " AND d.id > ?"
                arguments += [cursor]
            }
            if let subscriptionID = query.subscriptionID {
                sql += " AND d.subscription_id = ?"
                arguments += [subscriptionID]
            }
            if let state = query.state {
                sql += " AND d.state = ?"
                arguments += [state.rawValue]
            }
            if let videoID = query.videoID {
                sql += " AND d.event_seq IN (SELECT seq FROM events WHERE tenant = ? AND video_id = ?)"
                arguments += [tenant, videoID]
            }
            sql += query.newestFirst ? " ORDER BY d.id DESC LIMIT ?" : " ORDER BY d.id LIMIT ?"
            arguments += [limit]
            return try Row.fetchAll(cached: db, sql: sql, arguments: arguments).map(Self.delivery(from:))
        }
    }

    /// A key's open deliveries, the last poll cycle and each subscription's attempts since `since`.
    public func health(tenant: String, since: Date) async throws(StoreError) -> TenantHealth {
        try await read { db in
            var health = TenantHealth()
            for row in try Row.fetchAll(
                cached: db,
                sql: """
                    SELECT d.state, COUNT(*), MIN(d.created_at) FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id
                    WHERE s.tenant = ? AND d.state IN ('pending', 'held') GROUP BY d.state
                    """,
                arguments: [tenant]
            ) {
                let state: String = row[0]
                let count: Int = row[1]
                if state == "pending" {
                    health.pending = count
                    health.oldestPendingAt = (row[2] as Double?).map(Date.init(unixSeconds:))
                } else {
                    health.held = count
                }
            }
            health.lastPollCycleAt = try Double.fetchOne(cached: db, sql: "SELECT last_cycle_at FROM poller_lease WHERE name = 'poller'")
                .map(Date.init(unixSeconds:))
            for row in try Row.fetchAll(
                cached: db,
                sql: """
                    SELECT d.subscription_id, COUNT(*), SUM(a.status_code BETWEEN 200 AND 299), MAX(a.attempted_at)
                    FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
                    WHERE a.attempted_at >= ? AND d.tenant = ? GROUP BY d.subscription_id
                    """,
                arguments: [since.unixSeconds, tenant]
            ) {
                health.activity[row[0]] = SubscriptionActivity(
                    attempts: row[1], succeeded: row[2] ?? 0, lastAttemptAt: (row[3] as Double?).map(Date.init(unixSeconds:))
                )
            }
            return health
        }
    }

    /// A delivery with its attempts, oldest attempt first.
    public func delivery(tenant: String, id: Int64) async throws(StoreError) -> (DeliveryRecord, [AttemptRecord])? {
        try await read { db in
            guard let row = try Row.fetchOne(cached: db, sql: Self.deliverySelect + " WHERE d.id = ? AND d.tenant = ?", arguments: [id, tenant]) else {
                return nil
            }
            let attempts = try Row.fetchAll(cached: db, sql: "SELECT attempted_at, status_code, error_kind, latency_ms, response_snippet FROM attempts WHERE delivery_id = ? ORDER BY id",
                arguments: [id]
            ).map {
                AttemptRecord(
                    attemptedAt: Date(unixSeconds: $0["attempted_at"]), statusCode: $0["status_code"],
                    errorKind: $0["error_kind"], latencyMilliseconds: $0["latency_ms"], responseSnippet: $0["response_snippet"]
                )
            }
            return (try Self.delivery(from: row), attempts)
        }
    }

    /// A delivery with its event and its newest attempt (`a`, absent before the first).
    static let deliverySelect = """
        SELECT d.id, e.id AS event_id, e.type AS event_type, d.subscription_id, d.tenant, e.video_id, d.state,
               d.attempts, d.next_attempt_at, d.created_at, a.attempted_at, a.status_code, a.error_kind, a.latency_ms,
               a.response_snippet
        FROM deliveries d JOIN events e ON e.seq = d.event_seq
        LEFT JOIN attempts a ON a.id = (SELECT MAX(id) FROM attempts WHERE delivery_id = d.id)
        """

    static func event(from row: Row) throws -> StoredEvent {
        guard let type = EventType(rawValue: row["type"]) else { throw StoreError.invalidData("event type") }
        return StoredEvent(
            sequence: row["seq"],
            id: row["id"],
            tenant: row["tenant"],
            type: type,
            videoID: row["video_id"],
            payload: row["payload"],
            createdAt: Date(unixSeconds: row["created_at"])
        )
    }

    static func delivery(from row: Row) throws -> DeliveryRecord {
        guard let type = EventType(rawValue: row["event_type"]), let state = DeliveryState(rawValue: row["state"]) else {
            throw StoreError.invalidData("delivery row")
        }
        return DeliveryRecord(
            id: row["id"],
            eventID: row["event_id"],
            eventType: type,
            subscriptionID: row["subscription_id"],
            tenant: row["tenant"],
            videoID: row["video_id"],
            state: state,
            attempts: row["attempts"],
            nextAttemptAt: Date(unixSeconds: row["next_attempt_at"]),
            createdAt: Date(unixSeconds: row["created_at"]),
            lastAttempt: (row["attempted_at"] as Double?).map { at in
                AttemptRecord(
                    attemptedAt: Date(unixSeconds: at), statusCode: row["status_code"], errorKind: row["error_kind"],
                    latencyMilliseconds: row["latency_ms"], responseSnippet: row["response_snippet"]
                )
            }
        )
    }
}
