public import BridgeStore
public import Foundation
import PostgresNIO

/// The poller lease on PostgreSQL: one row, taken over with a new term once expired. A fenced write
/// reads the row `FOR SHARE` first, so a takeover (`UPDATE`, which needs the row exclusively) waits for
/// a poll cycle's transaction in flight to commit, and every transaction after the takeover sees the
/// new term and is refused: two terms never both write.
extension PostgresBridgeStore: PollerLeaseStore {
    public func acquirePollerLease(holder: String, now: Date, duration: Duration, lastCycle: Date?) async throws(StoreError)
        -> PollerTerm?
    {
        let expires = (now + duration.timeInterval).unixSeconds
        let term = try await transaction { sql in
            try await sql.one(
                """
                INSERT INTO poller_lease AS lease (name, holder, term, expires_at, last_cycle_at)
                VALUES ('poller', \(holder), 1, \(expires), \(lastCycle?.unixSeconds))
                ON CONFLICT (name) DO UPDATE SET
                    term = CASE WHEN lease.holder = excluded.holder THEN lease.term ELSE lease.term + 1 END,
                    holder = excluded.holder, expires_at = excluded.expires_at,
                    last_cycle_at = COALESCE(excluded.last_cycle_at, lease.last_cycle_at)
                WHERE lease.holder = excluded.holder OR lease.expires_at <= \(now.unixSeconds)
                RETURNING lease.term
                """,
                as: Int64.self
            )
        }
        return term.map { PollerTerm(holder: holder, term: $0) }
    }

    public func releasePollerLease(_ term: PollerTerm) async throws(StoreError) {
        try await transaction { sql in
            try await sql.run(
                "UPDATE poller_lease SET expires_at = 0 WHERE name = 'poller' AND holder = \(term.holder) AND term = \(term.term)"
            )
        }
    }

    public func pollerLease() async throws(StoreError) -> PollerLeaseState? {
        try await read { sql in
            guard
                let row = try await sql.rows("SELECT holder, term, expires_at, last_cycle_at FROM poller_lease WHERE name = 'poller'").first
            else { return nil }
            let (holder, term, expires, lastCycle) = try row.decode((String, Int64, Double, Double?).self)
            return PollerLeaseState(
                holder: holder, term: term, expiresAt: Date(timeIntervalSince1970: expires),
                lastCycleAt: lastCycle.map(Date.init(timeIntervalSince1970:))
            )
        }
    }
}

extension SQL {
    /// Throws ``StoreError/notLeader`` unless `fence` still holds the poller lease, and keeps the lease
    /// row shared-locked until this transaction ends (a takeover waits for it).
    func checkFence(_ fence: PollerTerm?) async throws {
        guard let fence else { return }
        let holds = try await run(
            "SELECT 1 FROM poller_lease WHERE name = 'poller' AND holder = \(fence.holder) AND term = \(fence.term) FOR SHARE"
        )
        guard holds > 0 else { throw StoreError.notLeader }
    }
}
