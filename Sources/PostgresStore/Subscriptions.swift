public import BridgeCore
public import BridgeStore
public import Foundation
import PostgresNIO

/// Subscriptions: create, read, change, enable and disable, rotate secrets; ping, replay and retry.
extension PostgresBridgeStore {
    @discardableResult
    public func createSubscription(_ new: NewSubscription, now: Date, limits: TenantLimits) async throws(StoreError) -> Subscription {
        let box = secrets
        return try await transaction { sql in
            try await Self.checkLimits(sql, tenant: new.tenant, subscriptions: 1, videos: 0, limits: limits)
            try await Self.ensureTenant(sql, new.tenant, now: now)
            try await Self.insertSubscription(sql, new, now: now, secrets: box)
            guard let created = try await Self.fetchSubscription(sql, tenant: new.tenant, id: new.id) else {
                throw StoreError.invalidData("subscription vanished")
            }
            return created
        }
    }

    static func insertSubscription(_ sql: SQL, _ new: NewSubscription, now: Date, secrets: SecretBox) async throws {
        let at = now.unixSeconds
        let headers = try secrets.sealHeaders(new.headers, subscriptionID: new.id)
        try await sql.run(
            """
            INSERT INTO subscriptions (id, tenant, url, event_types, video_id, description, enabled, headers, header_masks,
                                       rate_limit, created_at, updated_at)
            VALUES (\(new.id), \(new.tenant), \(new.url), \(new.eventTypes?.map(\.rawValue)), \(new.videoID), \(new.description),
                    true, \(headers.sealed), \(headers.masks), \(new.rateLimit), \(at), \(at))
            """
        )
        let sealed = try secrets.seal(new.secret, context: SecretBox.secretContext(subscriptionID: new.id))
        try await sql.run(
            "INSERT INTO subscription_secrets (subscription_id, secret, created_at) VALUES (\(new.id), \(sealed), \(at))"
        )
    }

    public func subscription(tenant: String, id: String) async throws(StoreError) -> Subscription? {
        try await read { sql in try await Self.fetchSubscription(sql, tenant: tenant, id: id) }
    }

    public func subscriptions(tenant: String, after cursor: String?, limit: Int) async throws(StoreError) -> [Subscription] {
        try await read { sql in
            try await sql.rows(
                """
                SELECT \(unescaped: Self.subscriptionColumns) FROM subscriptions
                WHERE tenant = \(tenant) AND id > \(cursor ?? "") ORDER BY id LIMIT \(limit)
                """
            ).map(Self.subscription(from:))
        }
    }

    public func updateSubscription(tenant: String, id: String, change: SubscriptionChange, now: Date) async throws(StoreError)
        -> Subscription?
    {
        let box = secrets
        return try await transaction { sql in
            guard try await Self.fetchSubscription(sql, tenant: tenant, id: id) != nil else { return nil }
            if let url = change.url { try await sql.run("UPDATE subscriptions SET url = \(url) WHERE id = \(id)") }
            if let eventTypes = change.eventTypes {
                let types: [String]? = eventTypes.isEmpty ? nil : eventTypes.map(\.rawValue)
                try await sql.run("UPDATE subscriptions SET event_types = \(types) WHERE id = \(id)")
            }
            if let description = change.description {
                let text: String? = description.isEmpty ? nil : description
                try await sql.run("UPDATE subscriptions SET description = \(text) WHERE id = \(id)")
            }
            if let headers = change.headers {
                let stored = try box.sealHeaders(headers, subscriptionID: id)
                try await sql.run("UPDATE subscriptions SET headers = \(stored.sealed), header_masks = \(stored.masks) WHERE id = \(id)")
            }
            if let rateLimit = change.rateLimit {
                let limit: Int? = rateLimit > 0 ? rateLimit : nil
                try await sql.run("UPDATE subscriptions SET rate_limit = \(limit) WHERE id = \(id)")
                try await sql.run("DELETE FROM rate_buckets WHERE subscription_id = \(id)")
            }
            try await sql.run("UPDATE subscriptions SET updated_at = \(now.unixSeconds) WHERE id = \(id)")
            return try await Self.fetchSubscription(sql, tenant: tenant, id: id)
        }
    }

    public func deleteSubscription(tenant: String, id: String) async throws(StoreError) -> Bool {
        try await transaction { sql in
            // The subscription first: its cascade waits for any claim holding its deliveries, which may be
            // advancing its bucket; the bucket row goes after.
            let deleted = try await sql.run("DELETE FROM subscriptions WHERE tenant = \(tenant) AND id = \(id) RETURNING 1") > 0
            if deleted { try await sql.run("DELETE FROM rate_buckets WHERE subscription_id = \(id)") }
            return deleted
        }
    }

    @discardableResult
    public func setSubscriptionEnabled(tenant: String, id: String, enabled: Bool, now: Date) async throws(StoreError) -> Bool {
        let (changed, announced) = try await transaction { sql -> (Bool, Bool) in
            guard try await Self.fetchSubscription(sql, tenant: tenant, id: id) != nil else { return (false, false) }
            let at = now.unixSeconds
            if enabled {
                try await sql.run(
                    """
                    UPDATE subscriptions SET enabled = true, disabled_reason = NULL, failing_since = NULL, updated_at = \(at)
                    WHERE id = \(id)
                    """
                )
                try await sql.run(
                    """
                    UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = \(at), updated_at = \(at)
                    WHERE subscription_id = \(id) AND state = 'held'
                    """
                )
            } else if let (_, notice) = try await Self.disable(sql, subscriptionID: id, reason: .byRequest, now: now) {
                return (true, !(try await Self.announce(sql, [notice], now: now)).isEmpty)
            }
            return (true, false)
        }
        if changed && enabled || announced { notifyCommitted(events: announced, deliveries: true) }
        return changed
    }

    @discardableResult
    public func rotateSecret(tenant: String, subscriptionID: String, newSecret: String, grace: Duration, now: Date)
        async throws(StoreError) -> Bool
    {
        let box = secrets
        return try await transaction { sql in
            guard try await Self.fetchSubscription(sql, tenant: tenant, id: subscriptionID) != nil else { return false }
            let at = now.unixSeconds
            try await sql.run("DELETE FROM subscription_secrets WHERE expires_at IS NOT NULL AND expires_at <= \(at)")
            try await sql.run(
                """
                UPDATE subscription_secrets SET expires_at = \((now + grace).unixSeconds)
                WHERE subscription_id = \(subscriptionID) AND expires_at IS NULL
                """
            )
            let sealed = try box.seal(newSecret, context: SecretBox.secretContext(subscriptionID: subscriptionID))
            try await sql.run(
                "INSERT INTO subscription_secrets (subscription_id, secret, created_at) VALUES (\(subscriptionID), \(sealed), \(at))"
            )
            return true
        }
    }

    public func ping(tenant: String, subscriptionID: String, now: Date) async throws(StoreError) -> StoredEvent? {
        let event = try await transaction { sql -> StoredEvent? in
            guard try await Self.fetchSubscription(sql, tenant: tenant, id: subscriptionID) != nil else { return nil }
            let payload = EventPayload.ping(timestamp: now, subscriptionID: subscriptionID)
            guard let event = try await Self.appendEvents(sql, [NewEvent(tenant: tenant, type: .ping, videoID: nil, payload: payload)], now: now).first
            else { throw StoreError.invalidData("event insert returned no event") }
            let at = now.unixSeconds
            try await sql.run(
                """
                \(unescaped: Self.enqueue) \(at), \(at), \(at)
                FROM events e JOIN subscriptions s ON s.id = \(subscriptionID) WHERE e.seq = \(event.sequence)
                """
            )
            return event
        }
        if event != nil { notifyCommitted(events: true, deliveries: true) }
        return event
    }

    /// The same rules as SQLite's replay: the key's events since `since` that the subscription's
    /// filters take (pings only when they were sent to it), each at most once open, oldest first.
    public func replay(tenant: String, subscriptionID: String, since: Date, now: Date, limit: Int) async throws(StoreError)
        -> (queued: Int, more: Bool)?
    {
        let result = try await transaction { sql -> (queued: Int, more: Bool)? in
            guard try await Self.fetchSubscription(sql, tenant: tenant, id: subscriptionID) != nil else { return nil }
            let at = now.unixSeconds
            let queued = try await sql.run(
                """
                \(unescaped: Self.enqueue) \(at), \(at), \(at)
                FROM events e JOIN subscriptions s ON s.id = \(subscriptionID) AND s.tenant = e.tenant
                WHERE e.tenant = \(tenant) AND e.created_at >= \(since.unixSeconds) AND \(unescaped: Self.replayMatch)
                ORDER BY e.seq LIMIT \(limit)
                RETURNING 1
                """
            )
            let more = try await sql.one(
                """
                SELECT EXISTS (SELECT 1 FROM events e JOIN subscriptions s ON s.id = \(subscriptionID) AND s.tenant = e.tenant
                WHERE e.tenant = \(tenant) AND e.created_at >= \(since.unixSeconds) AND \(unescaped: Self.replayMatch))
                """,
                as: Bool.self
            ) ?? false
            return (queued, more)
        }
        if let queued = result?.queued, queued > 0 {
            notifyCommitted(events: false, deliveries: true)
            statistics.noteInserted(queued)
        }
        return result
    }

    static let replayMatch = """
        (e.type != 'ping' OR EXISTS (SELECT 1 FROM deliveries p WHERE p.event_seq = e.seq AND p.subscription_id = s.id))
          AND \(subscriptionTakesEvent)
          AND NOT EXISTS (
              SELECT 1 FROM deliveries o
              WHERE o.event_seq = e.seq AND o.subscription_id = s.id AND o.state IN ('pending', 'held'))
        """

    public func retryDelivery(tenant: String, id: Int64, now: Date) async throws(StoreError) -> Bool? {
        let result = try await transaction { sql -> Bool? in
            guard
                let row = try await sql.rows(
                    "SELECT lease_owner, lease_expires_at FROM deliveries WHERE id = \(id) AND tenant = \(tenant) FOR UPDATE"
                ).first
            else { return nil }
            let (owner, expires) = try row.decode((String?, Double?).self)
            if owner != nil, let expires, expires > now.unixSeconds { return false }
            let at = now.unixSeconds
            try await sql.run(
                """
                UPDATE deliveries SET state = CASE WHEN (SELECT enabled FROM subscriptions WHERE id = subscription_id)
                    THEN 'pending' ELSE 'held' END,
                    attempts = 0, next_attempt_at = \(at), completed_at = NULL, updated_at = \(at), lease_owner = NULL,
                    lease_expires_at = NULL
                WHERE id = \(id)
                """
            )
            return true
        }
        if result == true { notifyCommitted(events: false, deliveries: true) }
        return result
    }

    static let subscriptionColumns =
        "id, tenant, url, event_types, video_id, description, enabled, disabled_reason, failing_since, header_masks, rate_limit, created_at, updated_at"

    static func fetchSubscription(_ sql: SQL, tenant: String, id: String) async throws -> Subscription? {
        try await sql.rows(
            "SELECT \(unescaped: subscriptionColumns) FROM subscriptions WHERE tenant = \(tenant) AND id = \(id)"
        ).first.map(subscription(from:))
    }

    static func subscription(from row: PostgresRow) throws -> Subscription {
        let (id, tenant, url, types, videoID, description, enabled, reason, failingSince, masks, rateLimit, created, updated) =
            try row.decode((String, String, String, [String]?, String?, String?, Bool, String?, Double?, String?, Int?, Double, Double).self)
        let eventTypes: [EventType]? = try types.map { raw in
            try raw.map { name in
                guard let type = EventType(rawValue: name) else { throw StoreError.invalidData("event type \(name)") }
                return type
            }
        }
        return Subscription(
            id: id, tenant: tenant, url: url, eventTypes: eventTypes, videoID: videoID, description: description,
            isEnabled: enabled, disabledReason: reason, failingSince: failingSince.map(Date.init(unixSeconds:)),
            headers: try CustomHeader.decode(masks), rateLimit: rateLimit, createdAt: Date(unixSeconds: created), updatedAt: Date(unixSeconds: updated)
        )
    }
}
