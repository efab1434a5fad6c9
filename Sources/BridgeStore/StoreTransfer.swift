public import Foundation

/// A value of a copied row, independent of how an engine stores it (SQLite keeps booleans as 0/1
/// and lists as JSON text; PostgreSQL has `boolean` and `text[]`).
public enum TransferValue: Sendable, Hashable {
    case null
    case integer(Int64)
    case real(Double)
    case boolean(Bool)
    case text(String)
    case texts([String])
    case bytes(Data)
}

/// One table as `copy-store` moves it: every column, in the order rows carry them, and the integer
/// key rows are paged by. Sealed secrets and stored responses move as they are: the target opens them
/// with the same key.
public struct TransferTable: Sendable, Equatable {
    public enum Kind: Sendable, Equatable { case integer, real, boolean, text, texts, bytes }

    public var name: String
    public var columns: [(name: String, kind: Kind)]
    /// The integer primary key rows are read in order of (nil: read whole, for small tables).
    public var key: String?

    public static func == (lhs: TransferTable, rhs: TransferTable) -> Bool { lhs.name == rhs.name }

    /// Every table with records, parents before children. The poller lease and the migration log are
    /// not copied: the target has its own; nor the rate buckets (a copied limit starts afresh).
    public static let all: [TransferTable] = [
        TransferTable(name: "tenants", columns: [("name", .text), ("created_at", .real)], key: nil),
        TransferTable(
            name: "subscriptions",
            columns: [
                ("id", .text), ("tenant", .text), ("url", .text), ("event_types", .texts), ("video_id", .text),
                ("description", .text), ("enabled", .boolean), ("disabled_reason", .text), ("failing_since", .real),
                ("paused_until", .real), ("created_at", .real), ("updated_at", .real), ("headers", .text), ("header_masks", .text),
                ("rate_limit", .integer),
            ],
            key: nil
        ),
        TransferTable(
            name: "subscription_secrets",
            columns: [("id", .integer), ("subscription_id", .text), ("secret", .text), ("created_at", .real), ("expires_at", .real)],
            key: "id"
        ),
        TransferTable(
            name: "videos",
            columns: [
                ("id", .integer), ("tenant", .text), ("video_id", .text), ("source", .text), ("observed_status", .text),
                ("notified_status", .text), ("known_status", .text), ("unknown_seen", .texts), ("video_url", .text),
                ("tracking_started_at", .real), ("first_seen_at", .real), ("last_seen_at", .real), ("last_changed_at", .real),
                ("next_poll_at", .real), ("terminal", .boolean), ("expired", .boolean), ("poll_failures", .integer),
                ("finished_at", .real),
            ],
            key: "id"
        ),
        TransferTable(
            name: "events",
            columns: [
                ("seq", .integer), ("id", .text), ("tenant", .text), ("type", .text), ("video_id", .text), ("payload", .text),
                ("created_at", .real), ("subject", .text),
            ],
            key: "seq"
        ),
        TransferTable(
            name: "deliveries",
            columns: [
                ("id", .integer), ("event_seq", .integer), ("subscription_id", .text), ("tenant", .text), ("ordering_key", .text),
                ("state", .text), ("attempts", .integer), ("next_attempt_at", .real), ("lease_owner", .text),
                ("lease_expires_at", .real), ("last_error", .text), ("created_at", .real), ("updated_at", .real),
                ("completed_at", .real),
            ],
            key: "id"
        ),
        TransferTable(
            name: "attempts",
            columns: [
                ("id", .integer), ("delivery_id", .integer), ("attempted_at", .real), ("status_code", .integer), ("error_kind", .text),
                ("latency_ms", .real), ("response_snippet", .text),
            ],
            key: "id"
        ),
        TransferTable(
            name: "idempotency_keys",
            columns: [
                ("tenant", .text), ("key", .text), ("request_hash", .text), ("status", .integer), ("content_type", .text),
                ("body", .bytes), ("created_at", .real),
            ],
            key: nil
        ),
    ]
}

/// Whole-store copy between engines (`copy-store`): rows out of one, into another, unchanged.
public protocol StoreTransfer: Sendable {
    /// Up to `limit` rows of `table` with a key above `after` (all rows when the table has no key),
    /// in key order.
    func exportRows(_ table: TransferTable, after: Int64?, limit: Int) async throws(StoreError) -> [[TransferValue]]
    /// Inserts rows as they are, keys included, in one transaction.
    func importRows(_ table: TransferTable, _ rows: [[TransferValue]]) async throws(StoreError)
    /// After the last import: key sequences continue after the copied keys.
    func finishImport() async throws(StoreError)
}
