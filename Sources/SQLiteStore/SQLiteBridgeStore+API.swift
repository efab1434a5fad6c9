public import BridgeCore
public import Foundation
public import BridgeStore
import GRDB

extension SQLiteBridgeStore {
    // MARK: - Subscriptions

    public func subscriptions(tenant: String, after cursor: String?, limit: Int) async throws(StoreError) -> [Subscription] {
        try await read { db in
            try Row.fetchAll(
                db,
                sql: Self.subscriptionSelect + " WHERE tenant = ? AND id > ? ORDER BY id LIMIT ?",
                arguments: [tenant, cursor ?? "", limit]
            ).map(Self.subscription(from:))
        }
    }

    /// Changes what is given (nil leaves a field as it is); `eventTypes: []` means every type and
    /// `description: ""` removes it. Enabling or disabling goes through ``setSubscriptionEnabled``.
    public func updateSubscription(
        tenant: String,
        id: String,
        url: String?,
        eventTypes: [EventType]?,
        description: String?,
        now: Date
    ) async throws(StoreError) -> Subscription? {
        try await write { db in
            guard try Self.fetchSubscription(db, tenant: tenant, id: id) != nil else { return nil }
            if let url {
                try db.run(sql: "UPDATE subscriptions SET url = ? WHERE id = ?", arguments: [url, id])
            }
            if let eventTypes {
                let encoded = eventTypes.isEmpty ? nil : try Self.encodeList(eventTypes.map(\.rawValue))
                try db.run(sql: "UPDATE subscriptions SET event_types = ? WHERE id = ?", arguments: [encoded, id])
            }
            if let description {
                try db.run(
                    sql: "UPDATE subscriptions SET description = ? WHERE id = ?",
                    arguments: [description.isEmpty ? nil : description, id]
                )
            }
            try db.run(sql: "UPDATE subscriptions SET updated_at = ? WHERE id = ?", arguments: [now.unixSeconds, id])
            return try Self.fetchSubscription(db, tenant: tenant, id: id)
        }
    }

    /// Deletes a subscription, its secrets, and its deliveries with their attempts.
    public func deleteSubscription(tenant: String, id: String) async throws(StoreError) -> Bool {
        try await write { db in
            try db.run(sql: "DELETE FROM subscriptions WHERE tenant = ? AND id = ?", arguments: [tenant, id])
            return db.changesCount > 0
        }
    }

    // MARK: - Events

    public func event(tenant: String, id: String) async throws(StoreError) -> StoredEvent? {
        try await read { db in
            try Row.fetchOne(
                db,
                sql: "SELECT seq, id, tenant, type, video_id, payload, created_at FROM events WHERE tenant = ? AND id = ?",
                arguments: [tenant, id]
            ).map(Self.event(from:))
        }
    }

    /// The newest event sequence number (0 when the log is empty).
    public func lastEventSequence() async throws(StoreError) -> Int64 {
        try await read { db in try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM events") ?? 0 }
    }

    /// A stream that yields after every commit that appended events (the long-poll feed's wake-up).
    public func eventWakeUps() -> AsyncStream<Void> { eventsAppended.stream() }

    // MARK: - Idempotency keys

    /// Records the first use of `key` for `tenant`, or says what an earlier use decided.
    /// Keys older than `ttl` are forgotten.
    ///
    /// An earlier use is decided from a read, so retries get their answer (`409` while the first is
    /// unfinished, then its response) also while another writer holds the database.
    public func claimIdempotencyKey(tenant: String, key: String, requestHash: String, ttl: Duration, now: Date)
        async throws(StoreError) -> IdempotencyClaim
    {
        let oldest = now.unixSeconds - ttl.timeInterval
        let box = secrets
        if let earlier = try await read({ db in
            try Self.idempotencyDecision(db, tenant: tenant, key: key, hash: requestHash, oldest: oldest, box: box)
        }) {
            return earlier
        }
        return try await write { db in
            if let earlier = try Self.idempotencyDecision(db, tenant: tenant, key: key, hash: requestHash, oldest: oldest, box: box) {
                return earlier
            }
            try db.run(
                sql: "DELETE FROM idempotency_keys WHERE tenant = ? AND key = ?",
                arguments: [tenant, key]
            )
            try db.run(
                sql: "INSERT INTO idempotency_keys (tenant, key, request_hash, created_at) VALUES (?, ?, ?, ?)",
                arguments: [tenant, key, requestHash, now.unixSeconds]
            )
            return .new
        }
    }

    /// What a live (not expired) record for the key decides; nil when there is none.
    private static func idempotencyDecision(
        _ db: Database, tenant: String, key: String, hash: String, oldest: Double, box: SecretBox
    )
        throws -> IdempotencyClaim?
    {
        guard
            let row = try Row.fetchOne(
                db,
                sql: "SELECT request_hash, status, content_type, body FROM idempotency_keys WHERE tenant = ? AND key = ? AND created_at >= ?",
                arguments: [tenant, key, oldest]
            )
        else { return nil }
        guard (row["request_hash"] as String) == hash else { return .mismatch }
        guard let status = row["status"] as Int? else { return .inProgress }
        let body = try (row["body"] as Data?).map { try openResponse($0, tenant: tenant, key: key, with: box) } ?? Data()
        return .completed(status: status, contentType: row["content_type"], body: body)
    }

    public func completeIdempotencyKey(tenant: String, key: String, status: Int, contentType: String?, body: Data)
        async throws(StoreError)
    {
        let sealed = try sealResponse(body, tenant: tenant, key: key)
        try await write { db in
            try db.run(
                sql: "UPDATE idempotency_keys SET status = ?, content_type = ?, body = ? WHERE tenant = ? AND key = ?",
                arguments: [status, contentType, sealed, tenant, key]
            )
        }
    }

    /// Forgets an unfinished key (the request failed before doing anything), so a retry may run.
    public func releaseIdempotencyKey(tenant: String, key: String) async throws(StoreError) {
        try await write { db in
            try db.run(
                sql: "DELETE FROM idempotency_keys WHERE tenant = ? AND key = ? AND status IS NULL",
                arguments: [tenant, key]
            )
        }
    }
}

extension SQLiteBridgeStore {
    public func disabledSubscriptionCount() async throws(StoreError) -> Int {
        try await read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM subscriptions WHERE enabled = 0") ?? 0 }
    }
}

extension SQLiteBridgeStore {
    /// Row counts of every table, for tests that assert "nothing changed" and for diagnostics.
    public func tableCounts() async throws(StoreError) -> [String: Int] {
        try await read { db in
            var counts: [String: Int] = [:]
            for table in ["tenants", "subscriptions", "subscription_secrets", "videos", "events", "deliveries", "attempts", "idempotency_keys"] {
                counts[table] = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(table)") ?? 0
            }
            return counts
        }
    }
}
