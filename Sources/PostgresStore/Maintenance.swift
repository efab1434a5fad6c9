public import BridgeStore
public import Foundation
import PostgresNIO

/// Idempotency records, per-key limits, health and operator reads, retention.
extension PostgresBridgeStore {
    public func claimIdempotencyKey(tenant: String, key: String, requestHash: String, ttl: Duration, now: Date)
        async throws(StoreError) -> IdempotencyClaim
    {
        let oldest = now.unixSeconds - ttl.timeInterval
        let box = secrets
        return try await transaction { sql in
            // The row lock (or the insert's conflict) orders two first uses of one key.
            let rows = try await sql.rows(
                """
                SELECT request_hash, status, content_type, body, created_at >= \(oldest) FROM idempotency_keys
                WHERE tenant = \(tenant) AND key = \(key) FOR UPDATE
                """
            )
            if let row = rows.first {
                let (hash, status, contentType, body, live) = try row.decode((String, Int?, String?, Data?, Bool).self)
                if live {
                    guard hash == requestHash else { return .mismatch }
                    guard let status else { return .inProgress }
                    let clear = try body.map {
                        try box.open(String(decoding: $0, as: UTF8.self), context: SecretBox.responseContext(tenant: tenant, key: key))
                    }
                    return .completed(status: status, contentType: contentType, body: clear ?? Data())
                }
                try await sql.run("DELETE FROM idempotency_keys WHERE tenant = \(tenant) AND key = \(key)")
            }
            let inserted = try await sql.run(
                """
                INSERT INTO idempotency_keys (tenant, key, request_hash, created_at)
                VALUES (\(tenant), \(key), \(requestHash), \(now.unixSeconds)) ON CONFLICT DO NOTHING RETURNING 1
                """
            )
            // Another replica inserted it between our read and our insert: its request is running.
            return inserted > 0 ? .new : .inProgress
        }
    }

    public func completeIdempotencyKey(tenant: String, key: String, status: Int, contentType: String?, body: Data)
        async throws(StoreError)
    {
        let sealed = Data(try secrets.seal(body, context: SecretBox.responseContext(tenant: tenant, key: key)).utf8)
        try await transaction { sql in
            try await sql.run(
                """
                UPDATE idempotency_keys SET status = \(status), content_type = \(contentType), body = \(sealed)
                WHERE tenant = \(tenant) AND key = \(key)
                """
            )
        }
    }

    public func releaseIdempotencyKey(tenant: String, key: String) async throws(StoreError) {
        try await transaction { sql in
            try await sql.run("DELETE FROM idempotency_keys WHERE tenant = \(tenant) AND key = \(key) AND status IS NULL")
        }
    }

    public func checkLimits(tenant: String, addingSubscriptions subscriptions: Int, addingVideos videos: Int, limits: TenantLimits)
        async throws(StoreError)
    {
        try await read { sql in try await Self.checkLimits(sql, tenant: tenant, subscriptions: subscriptions, videos: videos, limits: limits) }
    }

    /// Inside a write, the tenant's row is locked first, so two replicas adding at once count in turn.
    static func checkLimits(_ sql: SQL, tenant: String, subscriptions: Int, videos: Int, limits: TenantLimits) async throws {
        guard (subscriptions > 0 && limits.maxSubscriptions != nil) || (videos > 0 && limits.maxLiveVideos != nil) else { return }
        try await sql.run("SELECT pg_advisory_xact_lock(hashtextextended(\("limits:" + tenant), 0))")
        if subscriptions > 0, let maximum = limits.maxSubscriptions {
            let count = try await sql.one("SELECT COUNT(*) FROM subscriptions WHERE tenant = \(tenant)", as: Int.self) ?? 0
            if count + subscriptions > maximum { throw StoreError.limitExceeded(setting: "BRIDGE_MAX_SUBSCRIPTIONS") }
        }
        if videos > 0, let maximum = limits.maxLiveVideos {
            let count = try await sql.one("SELECT COUNT(*) FROM videos WHERE tenant = \(tenant) AND NOT terminal", as: Int.self) ?? 0
            if count + videos > maximum { throw StoreError.limitExceeded(setting: "BRIDGE_MAX_TRACKED_VIDEOS") }
        }
    }

    public func checkWritable(now: Date) async throws(StoreError) {
        try await transaction { sql in
            try await sql.run(
                """
                INSERT INTO meta (key, value) VALUES ('readiness_probe', \(String(now.unixSeconds)))
                ON CONFLICT (key) DO UPDATE SET value = excluded.value
                """
            )
        }
    }

    public func queueDepth(now: Date) async throws(StoreError) -> (pending: Int, held: Int, oldestPendingAge: TimeInterval) {
        try await read { sql in
            guard
                let row = try await sql.rows(
                    """
                    SELECT COUNT(*) FILTER (WHERE state = 'pending'), COUNT(*) FILTER (WHERE state = 'held'),
                           MIN(created_at) FILTER (WHERE state = 'pending')
                    FROM deliveries WHERE state IN ('pending', 'held')
                    """
                ).first
            else { return (0, 0, 0) }
            let (pending, held, oldest) = try row.decode((Int, Int, Double?).self)
            return (pending, held, oldest.map { max(0, now.unixSeconds - $0) } ?? 0)
        }
    }

    public func disabledSubscriptionCount() async throws(StoreError) -> Int {
        try await read { sql in try await sql.one("SELECT COUNT(*) FROM subscriptions WHERE NOT enabled", as: Int.self) ?? 0 }
    }

    public func counts() async throws(StoreError) -> (events: Int, deliveries: [DeliveryState: Int]) {
        try await read { sql in
            let events = try await sql.one("SELECT COUNT(*) FROM events", as: Int.self) ?? 0
            var byState: [DeliveryState: Int] = [:]
            for row in try await sql.rows("SELECT state, COUNT(*) FROM deliveries GROUP BY state") {
                let (state, count) = try row.decode((String, Int).self)
                if let state = DeliveryState(rawValue: state) { byState[state] = count }
            }
            return (events, byState)
        }
    }

    /// The tables a copy must carry, in an order where every row's references come first.
    static let tables = ["tenants", "subscriptions", "subscription_secrets", "videos", "events", "deliveries", "attempts", "idempotency_keys"]

    public func tableCounts() async throws(StoreError) -> [String: Int] {
        try await read { sql in
            var counts: [String: Int] = [:]
            for table in Self.tables {
                counts[table] = try await sql.one("SELECT COUNT(*) FROM \(unescaped: table)", as: Int.self) ?? 0
            }
            return counts
        }
    }

    public func appliedMigrations() async throws(StoreError) -> [String] {
        try await read { sql in try await sql.column("SELECT id FROM schema_migrations ORDER BY applied_at, id", as: String.self) }
    }

    /// PostgreSQL has its own online backups (`pg_dump`, base backups with WAL archiving); the bridge
    /// does not write one itself.
    public func backup(to destination: String) async throws(StoreError) {
        throw .other("backup of a PostgreSQL store is pg_dump's job: pg_dump '\(location)' > \(destination)")
    }

    /// Deletes finished records older than `cutoff`, `batchSize` rows per transaction (see SQLite's).
    @discardableResult
    public func prune(olderThan cutoff: Date, batchSize: Int) async throws(StoreError) -> PruneReport {
        var report = PruneReport()
        let at = cutoff.unixSeconds
        report.deliveries = try await deleteInBatches(batchSize) { sql in
            try await sql.run(
                """
                DELETE FROM deliveries WHERE id IN (
                    SELECT id FROM deliveries WHERE state IN ('succeeded', 'failed', 'cancelled') AND completed_at < \(at)
                    LIMIT \(batchSize)) RETURNING 1
                """
            )
        }
        report.events = try await deleteInBatches(batchSize) { sql in
            try await sql.run(
                """
                DELETE FROM events WHERE seq IN (
                    SELECT seq FROM events e
                    WHERE e.created_at < \(at) AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_seq = e.seq)
                    LIMIT \(batchSize)) RETURNING 1
                """
            )
        }
        report.videos = try await deleteInBatches(batchSize) { sql in
            try await sql.run(
                """
                DELETE FROM videos WHERE id IN (SELECT id FROM videos WHERE terminal AND finished_at < \(at) LIMIT \(batchSize))
                RETURNING 1
                """
            )
        }
        report.idempotencyRecords = try await deleteInBatches(batchSize) { sql in
            try await sql.run(
                """
                DELETE FROM idempotency_keys WHERE (tenant, key) IN (
                    SELECT tenant, key FROM idempotency_keys WHERE created_at < \(at) LIMIT \(batchSize)) RETURNING 1
                """
            )
        }
        return report
    }

    private func deleteInBatches(_ batchSize: Int, _ batch: @escaping @Sendable (SQL) async throws -> Int) async throws(StoreError) -> Int {
        var total = 0
        while true {
            let removed = try await transaction(batch)
            total += removed
            if removed < batchSize { return total }
        }
    }
}
