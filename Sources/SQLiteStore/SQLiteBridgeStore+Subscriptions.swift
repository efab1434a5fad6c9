import BridgeCore
public import Foundation
public import BridgeStore
import GRDB

extension SQLiteBridgeStore {
    // MARK: - Writes

    /// Creates a subscription with its first signing secret.
    @discardableResult
    public func createSubscription(_ new: NewSubscription, now: Date, limits: TenantLimits) async throws(StoreError)
        -> Subscription
    {
        try await write { db in
            try Self.checkLimits(db, tenant: new.tenant, subscriptions: 1, videos: 0, limits: limits)
            try Self.ensureTenant(db, new.tenant, now: now)
            try self.insertSubscription(db, new, now: now)
            guard let created = try Self.fetchSubscription(db, tenant: new.tenant, id: new.id) else {
                throw StoreError.invalidData("subscription vanished")
            }
            return created
        }
    }

    func insertSubscription(_ db: Database, _ new: NewSubscription, now: Date) throws {
        try db.run(
            sql: """
                INSERT INTO subscriptions (id, tenant, url, event_types, video_id, description, enabled,
                                           created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)
                """,
            arguments: [
                new.id, new.tenant, new.url, try new.eventTypes.map { try Self.encodeList($0.map(\.rawValue)) },
                new.videoID, new.description, now.unixSeconds, now.unixSeconds,
            ]
        )
        try db.run(
            sql: "INSERT INTO subscription_secrets (subscription_id, secret, created_at) VALUES (?, ?, ?)",
            arguments: [new.id, try sealSecret(new.secret, subscriptionID: new.id), now.unixSeconds]
        )
    }

    // MARK: - Reads

    public func subscription(tenant: String, id: String) async throws(StoreError) -> Subscription? {
        try await read { db in try Self.fetchSubscription(db, tenant: tenant, id: id) }
    }

    static let subscriptionSelect = """
        SELECT id, tenant, url, event_types, video_id, description, enabled, disabled_reason, created_at, updated_at
        FROM subscriptions
        """

    static func fetchSubscription(_ db: Database, tenant: String, id: String) throws -> Subscription? {
        try Row.fetchOne(db, sql: subscriptionSelect + " WHERE tenant = ? AND id = ?", arguments: [tenant, id])
            .map(subscription(from:))
    }

    static func subscription(from row: Row) throws -> Subscription {
        let types: [EventType]? = try (row["event_types"] as String?).map { text in
            try decodeList(text).map { raw in
                guard let type = EventType(rawValue: raw) else { throw StoreError.invalidData("event type \(raw)") }
                return type
            }
        }
        return Subscription(
            id: row["id"],
            tenant: row["tenant"],
            url: row["url"],
            eventTypes: types,
            videoID: row["video_id"],
            description: row["description"],
            isEnabled: row["enabled"],
            disabledReason: row["disabled_reason"],
            createdAt: Date(unixSeconds: row["created_at"]),
            updatedAt: Date(unixSeconds: row["updated_at"])
        )
    }
}
