import BridgeCore
public import BridgeStore
public import Foundation
import GRDB

/// Stored Idempotency-Key responses.
extension SQLiteBridgeStore {
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
            let row = try Row.fetchOne(cached: db, sql: "SELECT request_hash, status, content_type, body FROM idempotency_keys WHERE tenant = ? AND key = ? AND created_at >= ?",
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
