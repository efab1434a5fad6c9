import BridgeCore
import BridgeStore
import Foundation
import GRDB

extension SQLiteBridgeStore {
    /// The one way rows enter the outbox: a delivery for each (event `e`, subscription `s`) pair that
    /// `pairs` selects, `pending` while the subscription is enabled and `held` while it is disabled,
    /// due now. Its ordering key is the event's video, so it waits behind earlier open deliveries of
    /// that video to that subscription; an operational event's is the subscription it is about (a key
    /// no video id can have: video ids hold no space), so one receiver's retrying notice about one
    /// subscription holds back neither its pings nor its notices about the others. `pairs` is a `FROM … WHERE …` clause over `events e` and
    /// `subscriptions s` (with any `ORDER BY` and `LIMIT`), `arguments` its parameters. Returns the rows made.
    static func enqueueDeliveries(_ db: Database, pairs: String, arguments: StatementArguments, now: Date) throws -> Int {
        let at = now.unixSeconds
        try db.run(
            sql: """
                INSERT INTO deliveries (event_seq, subscription_id, tenant, ordering_key, state, next_attempt_at,
                                        created_at, updated_at)
                SELECT e.seq, s.id, s.tenant, COALESCE(e.video_id, 'subscription ' || e.subject, ''), CASE WHEN s.enabled THEN 'pending' ELSE 'held' END,
                       ?, ?, ?
                \(pairs)
                """,
            arguments: [at, at, at] + arguments
        )
        return db.changesCount
    }

    /// Whether subscription `s` of the event's tenant takes event `e`: its video filter (a ping is
    /// addressed to one subscription, so no video filter stops it) and its event-type filter. An
    /// operational event (one with a `subject`) goes only to subscriptions that list its type, never to
    /// its subject, whatever their video filter.
    static let subscriptionTakesEvent = """
        ((e.subject IS NULL AND (s.video_id IS NULL OR s.video_id = e.video_id OR e.type = 'ping')
          AND (s.event_types IS NULL OR EXISTS (SELECT 1 FROM json_each(s.event_types) WHERE value = e.type)))
         OR (e.subject IS NOT NULL AND e.subject <> s.id
          AND EXISTS (SELECT 1 FROM json_each(s.event_types) WHERE value = e.type)))
        """

    /// Appends operational events and fans each out, inside the caller's transaction. One that none of
    /// the key's other subscriptions lists is not recorded at all (opt-in: nobody asked for it).
    static func announce(_ db: Database, _ notices: [OperationalNotice], now: Date) throws -> [StoredEvent] {
        try notices.filter { notice in
            try Bool.fetchOne(
                cached: db,
                sql: """
                    SELECT EXISTS (SELECT 1 FROM subscriptions s WHERE s.tenant = ? AND s.id <> ?
                      AND EXISTS (SELECT 1 FROM json_each(s.event_types) WHERE value = ?))
                    """,
                arguments: [notice.tenant, notice.subject, notice.type.rawValue]
            ) ?? false
        }.map { notice in
            let event = try appendEvent(
                db, tenant: notice.tenant, type: notice.type, videoID: nil, subject: notice.subject, payload: notice.payload, now: now
            )
            _ = try fanOut(db, event: event, now: now)
            return event
        }
    }

    /// A new event to every subscription of its tenant that takes it.
    /// Fans out events appended in this transaction, which have consecutive sequence numbers, a few
    /// statements for the lot: deliveries in event order, then subscription order, as one
    /// ``fanOut(_:event:now:)`` per event would make them (a poll batch of 1,000 changes was 1,000
    /// statements). Each statement makes about `rowsPerStatement` rows at most (see
    /// ``fanOutRowsPerStatement``).
    static func fanOut(_ db: Database, events: [StoredEvent], now: Date, rowsPerStatement: Int = fanOutRowsPerStatement) throws -> Int {
        guard let first = events.first?.sequence, let last = events.last?.sequence else { return 0 }
        // Appended one after another in one transaction they are consecutive; should they ever not be,
        // each is fanned out on its own.
        guard last - first + 1 == Int64(events.count) else {
            return try events.reduce(0) { count, event in count + (try fanOut(db, event: event, now: now)) }
        }
        // Events per statement: the most subscriptions any tenant has bounds the rows each event makes.
        let widest = try Int.fetchOne(
            cached: db, sql: "SELECT MAX(n) FROM (SELECT COUNT(*) AS n FROM subscriptions GROUP BY tenant)"
        ) ?? 0
        let step = max(1, rowsPerStatement / max(1, widest))
        var made = 0
        for start in stride(from: first, through: last, by: step) {
            made += try enqueueDeliveries(
                db,
                pairs: """
                    FROM events e JOIN subscriptions s ON s.tenant = e.tenant WHERE e.seq BETWEEN ? AND ? AND \(subscriptionTakesEvent)
                    ORDER BY e.seq, s.id
                    """,
                arguments: [start, min(start + Int64(step) - 1, last)],
                now: now
            )
        }
        return made
    }

    /// Outbox rows one fan-out statement makes at most (about). Inside a transaction, a statement that
    /// writes several rows keeps a statement journal so that it alone can be undone, and with
    /// `temp_store = MEMORY` that journal is in memory: each page the cache spills while the statement
    /// runs is copied into it. A 10,000-row statement (2,500 changes × 4 subscriptions) took SQLite's
    /// memory to 2.1 MB against 1.5 MB for statements of 1,000 rows (1.4 MB with the journal in a file);
    /// 40,000 rows to 5.4 MB (BENCHMARKS.md). Statements of ~1,000 rows keep it near the page cache's.
    static let fanOutRowsPerStatement = 1_024

    static func fanOut(_ db: Database, event: StoredEvent, now: Date) throws -> Int {
        try enqueueDeliveries(
            db,
            pairs: "FROM events e JOIN subscriptions s ON s.tenant = e.tenant WHERE e.seq = ? AND \(subscriptionTakesEvent)",
            arguments: [event.sequence],
            now: now
        )
    }
}
