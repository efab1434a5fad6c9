public import Foundation

/// The poller lease: which process polls the upstream. Any number of replicas may share one store;
/// one of them holds the lease, renews it well inside its expiry, and carries its term on every
/// write of its poll cycle. Another takes over once the lease has expired, with the next term, and
/// from then on the store refuses the writes of the old term: an ex-leader that was paused (a GC, a
/// stopped VM, a partition) and wakes up mid-cycle cannot record an observation or emit an event
/// twice. River's and Oban's leader election, plus a fencing token.
public struct PollerTerm: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// The process that holds it (unique per process start).
    public var holder: String
    /// Grows by one at every takeover; a renewal keeps it.
    public var term: Int64

    public init(holder: String, term: Int64) {
        self.holder = holder
        self.term = term
    }

    public var description: String { "term \(term) (\(holder))" }
}

/// The lease as stored, for health reads.
public struct PollerLeaseState: Sendable, Equatable {
    public var holder: String
    public var term: Int64
    public var expiresAt: Date
    /// When the holder last finished a poll cycle (recorded with its renewals).
    public var lastCycleAt: Date?

    public init(holder: String, term: Int64, expiresAt: Date, lastCycleAt: Date? = nil) {
        self.holder = holder
        self.term = term
        self.expiresAt = expiresAt
        self.lastCycleAt = lastCycleAt
    }
}

public protocol PollerLeaseStore: Sendable {
    /// Takes the lease for `holder` when nobody holds it or its holder's lease expired before `now`
    /// (a new term), or renews it when `holder` holds it (the same term); either way it then runs
    /// until `now + duration`. Nil while another holder's lease is live. Times are the callers'
    /// clocks: replicas' clocks are assumed to agree within a second (NTP); a skew can only delay or
    /// hasten a takeover, never let two terms write.
    /// `lastCycle`, when given, is recorded as the holder's last finished poll cycle (health reads show it).
    func acquirePollerLease(holder: String, now: Date, duration: Duration, lastCycle: Date?) async throws(StoreError) -> PollerTerm?
    /// Gives the lease up (graceful shutdown) so another replica takes over at its next attempt.
    func releasePollerLease(_ term: PollerTerm) async throws(StoreError)
    /// The lease as stored; nil before anyone took it.
    func pollerLease() async throws(StoreError) -> PollerLeaseState?
}

extension PollerLeaseStore {
    public func acquirePollerLease(holder: String, now: Date, duration: Duration) async throws(StoreError) -> PollerTerm? {
        try await acquirePollerLease(holder: holder, now: now, duration: duration, lastCycle: nil)
    }
}
