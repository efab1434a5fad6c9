public import BridgeCore
public import BridgeStore
public import Foundation
import PostgresNIO

/// The event log and the outbox as a key reads them.
extension PostgresBridgeStore {
    /// Appends events in one statement, their sequence numbers drawn in the order given. The
    /// transaction first takes the event-append lock (held to its commit), so events commit in
    /// sequence order across replicas: a reader paging by sequence number never passes an event that
    /// commits later with a smaller one.
    static func appendEvents(_ sql: SQL, _ events: [NewEvent], now: Date) async throws -> [StoredEvent] {
        guard !events.isEmpty else { return [] }
        try await sql.run("SELECT pg_advisory_xact_lock(\(Schema.eventLock))")
        let rows = events.enumerated().map { index, event in
            EventRow(n: index, id: Identifier.make("evt", now: now), tenant: event.tenant, type: event.type.rawValue, video_id: event.videoID,
                payload: event.payload, subject: event.subject)
        }
        let sequences = try await sql.rows(
            """
            INSERT INTO events (id, tenant, type, video_id, subject, payload, created_at)
            SELECT x.id, x.tenant, x.type, x.video_id, x.subject, x.payload, \(now.unixSeconds)
            FROM jsonb_to_recordset(\(try SQL.document(rows))::jsonb)
                AS x(n integer, id text, tenant text, type text, video_id text, subject text, payload text)
            ORDER BY x.n
            RETURNING id, seq
            """
        )
        var sequenceOf: [String: Int64] = [:]
        sequenceOf.reserveCapacity(rows.count)
        for row in sequences {
            let (id, sequence) = try row.decode((String, Int64).self)
            sequenceOf[id] = sequence
        }
        return try rows.map { row in
            guard let sequence = sequenceOf[row.id] else { throw StoreError.invalidData("event insert returned no sequence") }
            return StoredEvent(
                sequence: sequence, id: row.id, tenant: row.tenant, type: events[row.n].type, videoID: row.video_id,
                payload: row.payload, createdAt: now
            )
        }
    }

    /// One event of a batched insert, as an element of its JSON document.
    private struct EventRow: Encodable {
        var n: Int
        var id: String
        var tenant: String
        var type: String
        var video_id: String?
        var payload: String
        var subject: String?
    }

    public func events(tenant: String, after cursor: Int64?, videoID: String?, type: EventType?, limit: Int) async throws(StoreError)
        -> [StoredEvent]
    {
        try await read { sql in
            try await sql.rows(
                """
                SELECT seq, id, tenant, type, video_id, payload, created_at FROM events
                WHERE tenant = \(tenant) AND seq > \(cursor ?? 0)
                  AND (\(videoID)::text IS NULL OR video_id = \(videoID)) AND (\(type?.rawValue)::text IS NULL OR type = \(type?.rawValue))
                ORDER BY seq LIMIT \(limit)
                """
            ).map(Self.event(from:))
        }
    }

    public func event(tenant: String, id: String) async throws(StoreError) -> StoredEvent? {
        try await read { sql in
            try await sql.rows(
                "SELECT seq, id, tenant, type, video_id, payload, created_at FROM events WHERE tenant = \(tenant) AND id = \(id)"
            ).first.map(Self.event(from:))
        }
    }

    public func lastEventSequence() async throws(StoreError) -> Int64 {
        try await read { sql in try await sql.one("SELECT MAX(seq) FROM events", as: Int64.self) ?? 0 }
    }

    public func deliveries(tenant: String, matching query: DeliveryQuery, after cursor: Int64?, limit: Int)
        async throws(StoreError) -> [DeliveryRecord]
    {
        try await read { sql in
            let newest = query.newestFirst
            return try await sql.rows(
                """
                SELECT \(unescaped: Self.deliveryColumns) FROM \(unescaped: Self.deliverySource)
                WHERE d.tenant = \(tenant) AND d.id \(unescaped: newest ? "<" : ">") \(cursor ?? (newest ? Int64.max : 0))
                  AND (\(query.subscriptionID)::text IS NULL OR d.subscription_id = \(query.subscriptionID))
                  AND (\(query.state?.rawValue)::text IS NULL OR d.state = \(query.state?.rawValue))
                  AND (\(query.videoID)::text IS NULL
                       OR d.event_seq IN (SELECT seq FROM events WHERE tenant = \(tenant) AND video_id = \(query.videoID)))
                ORDER BY \(unescaped: newest ? "d.id DESC" : "d.id") LIMIT \(limit)
                """
            ).map(Self.delivery(from:))
        }
    }

    public func health(tenant: String, since: Date) async throws(StoreError) -> TenantHealth {
        try await read { sql in
            var health = TenantHealth()
            for row in try await sql.rows(
                """
                SELECT d.state, COUNT(*), MIN(d.created_at) FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id
                WHERE s.tenant = \(tenant) AND d.state IN ('pending', 'held') GROUP BY d.state
                """
            ) {
                let (state, count, oldest) = try row.decode((String, Int, Double?).self)
                if state == "pending" {
                    health.pending = count
                    health.oldestPendingAt = oldest.map(Date.init(unixSeconds:))
                } else {
                    health.held = count
                }
            }
            health.lastPollCycleAt = try await sql.one("SELECT last_cycle_at FROM poller_lease WHERE name = 'poller'", as: Double.self)
                .map(Date.init(unixSeconds:))
            for row in try await sql.rows(
                """
                SELECT d.subscription_id, COUNT(*), COUNT(*) FILTER (WHERE a.status_code BETWEEN 200 AND 299), MAX(a.attempted_at)
                FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
                WHERE a.attempted_at >= \(since.unixSeconds) AND d.tenant = \(tenant) GROUP BY d.subscription_id
                """
            ) {
                let (id, attempts, succeeded, last) = try row.decode((String, Int, Int, Double?).self)
                health.activity[id] = SubscriptionActivity(
                    attempts: attempts, succeeded: succeeded, lastAttemptAt: last.map(Date.init(unixSeconds:))
                )
            }
            return health
        }
    }

    public func delivery(tenant: String, id: Int64) async throws(StoreError) -> (DeliveryRecord, [AttemptRecord])? {
        try await read { sql -> (DeliveryRecord, [AttemptRecord])? in
            guard
                let row = try await sql.rows(
                    """
                    SELECT \(unescaped: Self.deliveryColumns) FROM \(unescaped: Self.deliverySource)
                    WHERE d.id = \(id) AND d.tenant = \(tenant)
                    """
                ).first
            else { return nil }
            let attempts = try await sql.rows(
                """
                SELECT attempted_at, status_code, error_kind, latency_ms, response_snippet FROM attempts
                WHERE delivery_id = \(id) ORDER BY id
                """
            ).map { row in
                let (at, status, kind, latency, snippet) = try row.decode((Double, Int?, String?, Double, String?).self)
                return AttemptRecord(
                    attemptedAt: Date(unixSeconds: at), statusCode: status, errorKind: kind, latencyMilliseconds: latency,
                    responseSnippet: snippet
                )
            }
            return (try Self.delivery(from: row), attempts)
        }
    }

    static let deliveryColumns = """
        d.id, e.id, e.type, d.subscription_id, d.tenant, e.video_id, d.state, d.attempts, d.next_attempt_at, d.created_at,
        a.attempted_at, a.status_code, a.error_kind, a.latency_ms, a.response_snippet
        """

    /// A delivery with its event and its newest attempt (`a`, absent before the first).
    static let deliverySource = """
        deliveries d JOIN events e ON e.seq = d.event_seq
        LEFT JOIN attempts a ON a.id = (SELECT MAX(id) FROM attempts WHERE delivery_id = d.id)
        """

    static func event(from row: PostgresRow) throws -> StoredEvent {
        let (sequence, id, tenant, type, videoID, payload, createdAt) = try row.decode(
            (Int64, String, String, String, String?, String, Double).self
        )
        guard let type = EventType(rawValue: type) else { throw StoreError.invalidData("event type") }
        return StoredEvent(
            sequence: sequence, id: id, tenant: tenant, type: type, videoID: videoID, payload: payload,
            createdAt: Date(unixSeconds: createdAt)
        )
    }

    static func delivery(from row: PostgresRow) throws -> DeliveryRecord {
        let columns = row.makeRandomAccess()
        let (id, eventID, type, subscriptionID, tenant, videoID, state, attempts, next, created) = try (
            columns[0].decode(Int64.self), columns[1].decode(String.self), columns[2].decode(String.self),
            columns[3].decode(String.self), columns[4].decode(String.self), columns[5].decode(String?.self),
            columns[6].decode(String.self), columns[7].decode(Int.self), columns[8].decode(Double.self), columns[9].decode(Double.self)
        )
        let last = try columns[10].decode(Double?.self).map { at in
            AttemptRecord(
                attemptedAt: Date(unixSeconds: at), statusCode: try columns[11].decode(Int?.self),
                errorKind: try columns[12].decode(String?.self), latencyMilliseconds: try columns[13].decode(Double.self),
                responseSnippet: try columns[14].decode(String?.self)
            )
        }
        guard let eventType = EventType(rawValue: type), let state = DeliveryState(rawValue: state) else {
            throw StoreError.invalidData("delivery row")
        }
        return DeliveryRecord(
            id: id, eventID: eventID, eventType: eventType, subscriptionID: subscriptionID, tenant: tenant, videoID: videoID,
            state: state, attempts: attempts, nextAttemptAt: Date(unixSeconds: next), createdAt: Date(unixSeconds: created),
            lastAttempt: last
        )
    }
}
