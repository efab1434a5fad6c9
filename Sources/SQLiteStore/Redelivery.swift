import BridgeCore
public import BridgeStore
public import Foundation
import GRDB

/// Sending again on request: ping, replay, retry.
extension SQLiteBridgeStore {
    /// Records a `ping` event for one subscription and queues its delivery.
    public func ping(tenant: String, subscriptionID: String, now: Date) async throws(StoreError) -> StoredEvent? {
        let event = try await write { db -> StoredEvent? in
            guard try Self.fetchSubscription(db, tenant: tenant, id: subscriptionID) != nil else { return nil }
            let payload = EventPayload.ping(timestamp: now, subscriptionID: subscriptionID)
            let event = try Self.appendEvent(db, tenant: tenant, type: .ping, videoID: nil, payload: payload, now: now)
            _ = try Self.enqueueDeliveries(
                db, pairs: "FROM events e JOIN subscriptions s ON s.id = ? WHERE e.seq = ?",
                arguments: [subscriptionID, event.sequence], now: now
            )
            return event
        }
        if event != nil {
            notifyDeliveriesEnqueued()
            eventsAppended.signal()
        }
        return event
    }

    /// Re-sends every event of the subscription's tenant since `since` that matches its filters, each
    /// as a new delivery of the same event (same `webhook-id`), oldest first, at most `limit` per call;
    /// pings count when they were sent to this subscription and its filter takes them. An event that
    /// already has a pending or held delivery to this subscription is not queued again, so repeating
    /// a replay queues nothing twice. nil when the subscription is unknown to this tenant; `more` when
    /// matching events are left for another call.
    public func replay(tenant: String, subscriptionID: String, since: Date, now: Date, limit: Int) async throws(StoreError)
        -> (queued: Int, more: Bool)?
    {
        let result = try await write { db -> (queued: Int, more: Bool)? in
            guard try Self.fetchSubscription(db, tenant: tenant, id: subscriptionID) != nil else { return nil }
            let queued = try Self.enqueueDeliveries(
                db, pairs: Self.replayMatch + " ORDER BY e.seq LIMIT ?",
                arguments: [subscriptionID, tenant, since.unixSeconds, limit], now: now
            )
            let more = try Bool.fetchOne(cached: db, sql: "SELECT EXISTS (SELECT 1 \(Self.replayMatch))", arguments: [subscriptionID, tenant, since.unixSeconds]
            ) ?? false
            return (queued, more)
        }
        if (result?.queued ?? 0) > 0 { notifyDeliveriesEnqueued() }
        return result
    }

    /// The events a replay to subscription `?` of tenant `?` since `?` takes (see ``replay``).
    static let replayMatch = """
        FROM events e JOIN subscriptions s ON s.id = ? AND s.tenant = e.tenant
        WHERE e.tenant = ? AND e.created_at >= ?
          AND (e.type != 'ping' OR EXISTS (SELECT 1 FROM deliveries p WHERE p.event_seq = e.seq AND p.subscription_id = s.id))
          AND \(subscriptionTakesEvent)
          AND NOT EXISTS (
              SELECT 1 FROM deliveries o
              WHERE o.event_seq = e.seq AND o.subscription_id = s.id AND o.state IN ('pending', 'held'))
        """

    /// Sends a delivery again now with a fresh schedule (held instead if its subscription is disabled).
    /// nil when unknown to this tenant; false when an attempt is in flight right now.
    public func retryDelivery(tenant: String, id: Int64, now: Date) async throws(StoreError) -> Bool? {
        let result = try await write { db -> Bool? in
            guard let row = try Row.fetchOne(cached: db, sql: "SELECT lease_owner, lease_expires_at FROM deliveries WHERE id = ? AND tenant = ?",
                arguments: [id, tenant]
            ) else { return nil }
            if (row["lease_owner"] as String?) != nil, let expires = row["lease_expires_at"] as Double?, expires > now.unixSeconds {
                return false
            }
            try db.run(
                sql: """
                    UPDATE deliveries SET state = CASE WHEN (SELECT enabled FROM subscriptions WHERE id = subscription_id)
                        THEN 'pending' ELSE 'held' END,
                        attempts = 0, next_attempt_at = ?, completed_at = NULL, updated_at = ?, lease_owner = NULL,
                        lease_expires_at = NULL
                    WHERE id = ?
                    """,
                arguments: [now.unixSeconds, now.unixSeconds, id]
            )
            return true
        }
        if result == true { notifyDeliveriesEnqueued() }
        return result
    }
}
