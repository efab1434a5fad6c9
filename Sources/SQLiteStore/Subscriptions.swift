public import BridgeCore
public import BridgeStore
public import Foundation
import GRDB

/// Subscriptions: create, read, change, enable and disable, rotate secrets.
extension SQLiteBridgeStore {
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
        let headers = try secrets.sealHeaders(new.headers, subscriptionID: new.id)
        try db.run(
            sql: """
                INSERT INTO subscriptions (id, tenant, url, event_types, video_id, description, enabled,
                                           headers, header_masks, rate_limit, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?)
                """,
            arguments: [
                new.id, new.tenant, new.url, try new.eventTypes.map { try Self.encodeList($0.map(\.rawValue)) },
                new.videoID, new.description, headers.sealed, headers.masks, new.rateLimit, now.unixSeconds, now.unixSeconds,
            ]
        )
        try db.run(
            sql: "INSERT INTO subscription_secrets (subscription_id, secret, created_at) VALUES (?, ?, ?)",
            arguments: [new.id, try sealSecret(new.secret, subscriptionID: new.id), now.unixSeconds]
        )
    }

    public func subscription(tenant: String, id: String) async throws(StoreError) -> Subscription? {
        try await read { db in try Self.fetchSubscription(db, tenant: tenant, id: id) }
    }

    public func subscriptions(tenant: String, after cursor: String?, limit: Int) async throws(StoreError) -> [Subscription] {
        try await read { db in
            try Row.fetchAll(cached: db, sql: Self.subscriptionSelect + " WHERE tenant = ? AND id > ? ORDER BY id LIMIT ?",
                arguments: [tenant, cursor ?? "", limit]
            ).map(Self.subscription(from:))
        }
    }

    /// Changes what `change` gives (nil leaves a field as it is); `eventTypes: []` means every type,
    /// `description: ""` removes it, `headers` replaces every custom header, `rateLimit: 0` removes the
    /// limit (any change of it starts the bucket afresh). Enabling or disabling goes
    /// through ``setSubscriptionEnabled``.
    public func updateSubscription(tenant: String, id: String, change: SubscriptionChange, now: Date) async throws(StoreError)
        -> Subscription?
    {
        try await write { db in
            guard try Self.fetchSubscription(db, tenant: tenant, id: id) != nil else { return nil }
            if let url = change.url {
                try db.run(sql: "UPDATE subscriptions SET url = ? WHERE id = ?", arguments: [url, id])
            }
            if let eventTypes = change.eventTypes {
                let encoded = eventTypes.isEmpty ? nil : try Self.encodeList(eventTypes.map(\.rawValue))
                try db.run(sql: "UPDATE subscriptions SET event_types = ? WHERE id = ?", arguments: [encoded, id])
            }
            if let description = change.description {
                try db.run(
                    sql: "UPDATE subscriptions SET description = ? WHERE id = ?",
                    arguments: [description.isEmpty ? nil : description, id]
                )
            }
            if let headers = change.headers {
                let stored = try self.secrets.sealHeaders(headers, subscriptionID: id)
                try db.run(
                    sql: "UPDATE subscriptions SET headers = ?, header_masks = ? WHERE id = ?", arguments: [stored.sealed, stored.masks, id]
                )
            }
            if let rateLimit = change.rateLimit {
                try db.run(sql: "UPDATE subscriptions SET rate_limit = ? WHERE id = ?", arguments: [rateLimit > 0 ? rateLimit : nil, id])
                try db.run(sql: "DELETE FROM rate_buckets WHERE subscription_id = ?", arguments: [id])
            }
            try db.run(sql: "UPDATE subscriptions SET updated_at = ? WHERE id = ?", arguments: [now.unixSeconds, id])
            return try Self.fetchSubscription(db, tenant: tenant, id: id)
        }
    }

    /// Deletes a subscription, its secrets, and its deliveries with their attempts.
    public func deleteSubscription(tenant: String, id: String) async throws(StoreError) -> Bool {
        try await write { db in
            try db.run(sql: "DELETE FROM subscriptions WHERE tenant = ? AND id = ?", arguments: [tenant, id])
            let deleted = db.changesCount > 0
            if deleted { try db.run(sql: "DELETE FROM rate_buckets WHERE subscription_id = ?", arguments: [id]) }
            return deleted
        }
    }

    /// Enables or disables a subscription. Disabling holds its open deliveries; enabling releases every
    /// held one for sending in order, with a fresh retry schedule.
    @discardableResult
    public func setSubscriptionEnabled(tenant: String, id: String, enabled: Bool, now: Date) async throws(StoreError) -> Bool {
        let (changed, announced) = try await write { db -> (Bool, Bool) in
            guard try Self.fetchSubscription(db, tenant: tenant, id: id) != nil else { return (false, false) }
            if enabled {
                try db.run(
                    sql: "UPDATE subscriptions SET enabled = 1, disabled_reason = NULL, failing_since = NULL, updated_at = ? WHERE id = ?",
                    arguments: [now.unixSeconds, id]
                )
                try db.run(
                    sql: """
                        UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = ?, updated_at = ?
                        WHERE subscription_id = ? AND state = 'held'
                        """,
                    arguments: [now.unixSeconds, now.unixSeconds, id]
                )
            } else if let (_, notice) = try Self.disable(db, subscriptionID: id, reason: .byRequest, now: now) {
                return (true, !(try Self.announce(db, [notice], now: now)).isEmpty)
            }
            return (true, false)
        }
        if changed && enabled || announced { notifyDeliveriesEnqueued() }
        if announced { eventsAppended.signal() }
        return changed
    }

    /// Starts signing with `newSecret`; the current secret keeps signing beside it until `now + grace`.
    public func rotateSecret(tenant: String, subscriptionID: String, newSecret: String, grace: Duration, now: Date)
        async throws(StoreError) -> Bool
    {
        try await write { db in
            guard try Self.fetchSubscription(db, tenant: tenant, id: subscriptionID) != nil else { return false }
            try db.run(sql: "DELETE FROM subscription_secrets WHERE expires_at IS NOT NULL AND expires_at <= ?", arguments: [now.unixSeconds])
            try db.run(
                sql: "UPDATE subscription_secrets SET expires_at = ? WHERE subscription_id = ? AND expires_at IS NULL",
                arguments: [(now + grace).unixSeconds, subscriptionID]
            )
            try db.run(
                sql: "INSERT INTO subscription_secrets (subscription_id, secret, created_at) VALUES (?, ?, ?)",
                arguments: [subscriptionID, try sealSecret(newSecret, subscriptionID: subscriptionID), now.unixSeconds]
            )
            return true
        }
    }

    /// The columns of ``subscriptionSelect``, in its order.
    enum SubscriptionColumn: Int, SelectedColumns {
        case id, tenant, url, eventTypes, videoID, description, enabled, disabledReason, failingSince, headerMasks, rateLimit, createdAt, updatedAt
    }

    static let subscriptionSelect = "SELECT \(SubscriptionColumn.list) FROM subscriptions"

    static func fetchSubscription(_ db: Database, tenant: String, id: String) throws -> Subscription? {
        try Row.fetchOne(cached: db, sql: subscriptionSelect + " WHERE tenant = ? AND id = ?", arguments: [tenant, id])
            .map(subscription(from:))
    }

    static func subscription(from row: Row) throws -> Subscription {
        typealias Column = SubscriptionColumn
        let types: [EventType]? = try (row[Column.eventTypes] as String?).map { text in
            try decodeList(text).map { raw in
                guard let type = EventType(rawValue: raw) else { throw StoreError.invalidData("event type \(raw)") }
                return type
            }
        }
        return Subscription(
            id: row[Column.id],
            tenant: row[Column.tenant],
            url: row[Column.url],
            eventTypes: types,
            videoID: row[Column.videoID],
            description: row[Column.description],
            isEnabled: row[Column.enabled],
            disabledReason: row[Column.disabledReason],
            failingSince: (row[Column.failingSince] as Double?).map(Date.init(unixSeconds:)),
            headers: try CustomHeader.decode(row[Column.headerMasks]),
            rateLimit: row[Column.rateLimit],
            createdAt: Date(unixSeconds: row[Column.createdAt]),
            updatedAt: Date(unixSeconds: row[Column.updatedAt])
        )
    }

}
