public import BridgeStore
public import Foundation
import GRDB

/// The poller lease in SQLite: the same row and rules as on PostgreSQL. One file has one writer at a
/// time, so the takeover and a fenced write never interleave; two `serve` processes on one file still
/// poll one at a time.
extension SQLiteBridgeStore: PollerLeaseStore {
    public func acquirePollerLease(holder: String, now: Date, duration: Duration, lastCycle: Date?) async throws(StoreError)
        -> PollerTerm?
    {
        let expires = (now + duration.timeInterval).unixSeconds
        return try await write { db in
            let term = try Int64.fetchOne(
                db,
                sql: """
                    INSERT INTO poller_lease (name, holder, term, expires_at, last_cycle_at) VALUES ('poller', ?, 1, ?, ?)
                    ON CONFLICT (name) DO UPDATE SET
                        term = CASE WHEN holder = excluded.holder THEN term ELSE term + 1 END,
                        holder = excluded.holder, expires_at = excluded.expires_at,
                        last_cycle_at = COALESCE(excluded.last_cycle_at, last_cycle_at)
                    WHERE holder = excluded.holder OR expires_at <= ?
                    RETURNING term
                    """,
                arguments: [holder, expires, lastCycle?.unixSeconds, now.unixSeconds]
            )
            return term.map { PollerTerm(holder: holder, term: $0) }
        }
    }

    public func releasePollerLease(_ term: PollerTerm) async throws(StoreError) {
        try await write { db in
            try db.execute(
                sql: "UPDATE poller_lease SET expires_at = 0 WHERE name = 'poller' AND holder = ? AND term = ?",
                arguments: [term.holder, term.term]
            )
        }
    }

    public func pollerLease() async throws(StoreError) -> PollerLeaseState? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT holder, term, expires_at, last_cycle_at FROM poller_lease WHERE name = 'poller'").map {
                PollerLeaseState(
                    holder: $0[0], term: $0[1], expiresAt: Date(timeIntervalSince1970: $0[2]),
                    lastCycleAt: ($0[3] as Double?).map(Date.init(timeIntervalSince1970:))
                )
            }
        }
    }

    /// Throws ``StoreError/notLeader`` inside a poll cycle's write unless `fence` still holds the lease.
    static func checkFence(_ db: Database, _ fence: PollerTerm?) throws {
        guard let fence else { return }
        let holds = try Bool.fetchOne(
            db, sql: "SELECT 1 FROM poller_lease WHERE name = 'poller' AND holder = ? AND term = ?", arguments: [fence.holder, fence.term]
        )
        guard holds == true else { throw StoreError.notLeader }
    }
}
