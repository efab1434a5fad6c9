import BridgeCore
public import BridgeStore
public import Foundation
import GRDB

/// Health and operator reads, retention, and the query plans tests pin.
extension SQLiteBridgeStore {
    /// Deliveries waiting (pending) and the age of the oldest, for metrics.
    public func queueDepth(now: Date) async throws(StoreError) -> (pending: Int, held: Int, oldestPendingAge: TimeInterval) {
        try await read { db in
            let pending = try Int.fetchOne(cached: db, sql: "SELECT COUNT(*) FROM deliveries WHERE state = 'pending'") ?? 0
            let held = try Int.fetchOne(cached: db, sql: "SELECT COUNT(*) FROM deliveries WHERE state = 'held'") ?? 0
            let oldest = try Double.fetchOne(cached: db, sql: "SELECT MIN(created_at) FROM deliveries WHERE state = 'pending'")
            return (pending, held, oldest.map { max(0, now.unixSeconds - $0) } ?? 0)
        }
    }

    public func disabledSubscriptionCount() async throws(StoreError) -> Int {
        try await read { db in try Int.fetchOne(cached: db, sql: "SELECT COUNT(*) FROM subscriptions WHERE enabled = 0") ?? 0 }
    }

    /// Counts for tests, metrics and the crash checks: events and deliveries by state.
    public func counts() async throws(StoreError) -> (events: Int, deliveries: [DeliveryState: Int]) {
        try await read { db in
            let events = try Int.fetchOne(cached: db, sql: "SELECT COUNT(*) FROM events") ?? 0
            var byState: [DeliveryState: Int] = [:]
            for row in try Row.fetchAll(cached: db, sql: "SELECT state, COUNT(*) AS n FROM deliveries GROUP BY state") {
                if let state = DeliveryState(rawValue: row["state"]) { byState[state] = row["n"] }
            }
            return (events, byState)
        }
    }

    /// Row counts of every table, for tests that assert "nothing changed" and for diagnostics.
    public func tableCounts() async throws(StoreError) -> [String: Int] {
        try await read { db in
            var counts: [String: Int] = [:]
            for table in ["tenants", "subscriptions", "subscription_secrets", "videos", "events", "deliveries", "attempts", "idempotency_keys"] {
                counts[table] = try Int.fetchOne(cached: db, sql: "SELECT COUNT(*) FROM \(table)") ?? 0
            }
            return counts
        }
    }

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

    /// SQLite's plan for the two hot queries, for tests that pin index use.
    /// `dueDeliveries` is the candidate selection; `dueDeliveryDetails` the claim statement around it.
    public func queryPlans() async throws(StoreError) -> (dueVideos: String, dueDeliveries: String, dueDeliveryDetails: String) {
        try await read { db in
            func plan(_ sql: String, _ arguments: StatementArguments) throws -> String {
                try Row.fetchAll(cached: db, sql: "EXPLAIN QUERY PLAN " + sql, arguments: arguments)
                    .map { $0["detail"] as String }
                    .joined(separator: "\n")
            }
            return (
                try plan(Self.dueVideosSQL, [0] + Self.scopeArguments(.all) + [10]),
                try plan(Self.dueDeliveriesSQL, [0, 0, "[\"sub_x\"]", 10]),
                try plan(Self.dueDeliveryDetailsSQL, [0, 0, "[\"sub_x\"]", 10])
            )
        }
    }
}
