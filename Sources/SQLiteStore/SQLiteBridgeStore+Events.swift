public import BridgeCore
public import Foundation
public import BridgeStore
import GRDB

extension SQLiteBridgeStore {
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
            return try Row.fetchAll(db, sql: sql, arguments: arguments).map(Self.event(from:))
        }
    }

    /// Deliveries of one tenant in creation order, optionally for one subscription or state.
    public func deliveries(
        tenant: String,
        subscriptionID: String?,
        state: DeliveryState?,
        after cursor: Int64?,
        limit: Int
    ) async throws(StoreError) -> [DeliveryRecord] {
        try await read { db in
            var sql = Self.deliverySelect + " WHERE d.tenant = ? AND d.id > ?"
            var arguments: StatementArguments = [tenant, cursor ?? 0]
            if let subscriptionID {
                sql += " AND d.subscription_id = ?"
                arguments += [subscriptionID]
            }
            if let state {
                sql += " AND d.state = ?"
                arguments += [state.rawValue]
            }
            sql += " ORDER BY d.id LIMIT ?"
            arguments += [limit]
            return try Row.fetchAll(db, sql: sql, arguments: arguments).map(Self.delivery(from:))
        }
    }

    /// Counts for tests, metrics and the crash checks: events and deliveries by state.
    public func counts() async throws(StoreError) -> (events: Int, deliveries: [DeliveryState: Int]) {
        try await read { db in
            let events = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM events") ?? 0
            var byState: [DeliveryState: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT state, COUNT(*) AS n FROM deliveries GROUP BY state") {
                if let state = DeliveryState(rawValue: row["state"]) { byState[state] = row["n"] }
            }
            return (events, byState)
        }
    }

    // MARK: - Retention

    /// Deletes every record finished before `cutoff`: deliveries that succeeded, failed or were
    /// cancelled (with their attempts), then events with no delivery left, terminal or expired videos,
    /// and idempotency records — `batchSize` rows per transaction so writers never wait long. Held and
    /// pending deliveries, and their events, stay until sent or their subscription is deleted.
    @discardableResult
    public func prune(olderThan cutoff: Date, batchSize: Int) async throws(StoreError) -> PruneReport {
        var report = PruneReport()
        report.deliveries = try await deleteInBatches(
            """
            DELETE FROM deliveries WHERE id IN (
                SELECT id FROM deliveries
                WHERE state IN ('succeeded', 'failed', 'cancelled') AND completed_at < ? LIMIT ?)
            """, cutoff: cutoff, batchSize: batchSize
        )
        report.events = try await deleteInBatches(
            """
            DELETE FROM events WHERE seq IN (
                SELECT seq FROM events e
                WHERE e.created_at < ? AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_seq = e.seq)
                LIMIT ?)
            """, cutoff: cutoff, batchSize: batchSize
        )
        report.videos = try await deleteInBatches(
            "DELETE FROM videos WHERE id IN (SELECT id FROM videos WHERE terminal = 1 AND finished_at < ? LIMIT ?)",
            cutoff: cutoff, batchSize: batchSize
        )
        report.idempotencyRecords = try await deleteInBatches(
            """
            DELETE FROM idempotency_keys WHERE (tenant, key) IN (
                SELECT tenant, key FROM idempotency_keys WHERE created_at < ? LIMIT ?)
            """,
            cutoff: cutoff, batchSize: batchSize
        )
        return report
    }

    /// Runs `sql` (arguments: cutoff, limit) until it deletes fewer than `batchSize` rows.
    private func deleteInBatches(_ sql: String, cutoff: Date, batchSize: Int) async throws(StoreError) -> Int {
        var total = 0
        while true {
            let removed = try await write { db in
                try db.run(sql: sql, arguments: [cutoff.unixSeconds, batchSize])
                return db.changesCount
            }
            total += removed
            if removed < batchSize { return total }
        }
    }

    // MARK: - Rows

    static let deliverySelect = """
        SELECT d.id, e.id AS event_id, e.type AS event_type, d.subscription_id, d.tenant, e.video_id, d.state,
               d.attempts, d.next_attempt_at, d.created_at
        FROM deliveries d JOIN events e ON e.seq = d.event_seq
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
            createdAt: Date(unixSeconds: row["created_at"])
        )
    }
}

extension SQLiteBridgeStore {
    /// The dispatcher's hot query: pending deliveries whose time has come and whose lease (if any)
    /// has run out, skipping any delivery that has an earlier open one for the same subscription and
    /// video (per-video ordering) and the subscriptions given (at their in-flight cap), soonest first.
    /// Positional arguments: now, now, the excluded subscription ids as a JSON array, limit. One text
    /// for any number of exclusions, so the statement is prepared once per connection.
    static let dueDeliveriesSQL = """
        SELECT d.id FROM deliveries d
        WHERE d.state = 'pending' AND d.next_attempt_at <= ?
          AND (d.lease_expires_at IS NULL OR d.lease_expires_at <= ?)
          AND NOT EXISTS (
              SELECT 1 FROM deliveries p
              WHERE p.subscription_id = d.subscription_id AND p.ordering_key = d.ordering_key
                AND p.state IN ('pending', 'held') AND p.id < d.id)
          AND d.subscription_id NOT IN (SELECT value FROM json_each(?))
        ORDER BY d.next_attempt_at, d.id
        LIMIT ?
        """

    /// The due deliveries with what an attempt needs (event, payload, URL) in one statement.
    /// Same positional arguments as ``dueDeliveriesSQL``; rows come in the same order.
    static let dueDeliveryDetailsSQL = """
        SELECT d.id, d.subscription_id, d.tenant, d.attempts, e.id AS event_id, e.type, e.payload, e.video_id, s.url
        FROM (\(dueDeliveriesSQL)) AS due
        JOIN deliveries d ON d.id = due.id
        JOIN events e ON e.seq = d.event_seq
        JOIN subscriptions s ON s.id = d.subscription_id
        ORDER BY d.next_attempt_at, d.id
        """

    /// SQLite's plan for the two hot queries, for tests that pin index use.
    /// `dueDeliveries` is the candidate selection; `dueDeliveryDetails` the claim statement around it.
    public func queryPlans() async throws(StoreError) -> (dueVideos: String, dueDeliveries: String, dueDeliveryDetails: String) {
        try await read { db in
            func plan(_ sql: String, _ arguments: StatementArguments) throws -> String {
                try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql, arguments: arguments)
                    .map { $0["detail"] as String }
                    .joined(separator: "\n")
            }
            return (
                try plan(Self.dueVideosSQL, [0, 10]),
                try plan(Self.dueDeliveriesSQL, [0, 0, "[\"sub_x\"]", 10]),
                try plan(Self.dueDeliveryDetailsSQL, [0, 0, "[\"sub_x\"]", 10])
            )
        }
    }
}
