import BridgeCore
import BridgeStore
import Foundation
import GRDB

/// The one way rows enter the outbox.
extension SQLiteBridgeStore {
    /// One delivery per subscription of the event's tenant whose filters match: `pending` when the
    /// subscription is enabled, `held` while it is disabled. Returns how many pending rows it made.
    static func fanOut(_ db: Database, event: StoredEvent, now: Date) throws -> Int {
        try db.run(
            sql: """
                INSERT INTO deliveries (event_seq, subscription_id, tenant, ordering_key, state, next_attempt_at,
                                        created_at, updated_at)
                SELECT ?, s.id, s.tenant, ?, CASE WHEN s.enabled THEN 'pending' ELSE 'held' END, ?, ?, ?
                FROM subscriptions s
                WHERE s.tenant = ?
                  AND (s.video_id IS NULL OR s.video_id = ?)
                  AND (s.event_types IS NULL OR EXISTS (SELECT 1 FROM json_each(s.event_types) WHERE value = ?))
                """,
            arguments: [
                event.sequence, event.videoID ?? "", now.unixSeconds, now.unixSeconds, now.unixSeconds,
                event.tenant, event.videoID, event.type.rawValue,
            ]
        )
        return db.changesCount
    }
}
