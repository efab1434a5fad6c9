public import BridgeStore
public import Foundation
public import Logging
public import Metrics
public import ServiceLifecycle
import Synchronization

/// Keeps this process's claim on the poller lease (see ``PollerLeaseStore``): a service that tries to
/// take or renew the lease every ``renewEvery`` and gives it up on shutdown. The ``Poller`` polls only
/// while ``current`` holds a term, and carries it on its writes, which the store refuses once another
/// replica has taken over.
///
/// Timing: the lease runs ``leaseDuration`` (2 × the poll interval + 5 s) from each renewal, renewals
/// come every ``renewEvery`` (the interval, at most 1 s), and a standby poller looks at ``current``
/// as often. When the leader dies, its lease runs out within `leaseDuration`, a standby takes it at its
/// next attempt and polls at its next look: within `2 × interval + 7 s`, inside the contract's
/// `3 × interval + 10 s` with 3 s to spare for a loaded machine. One SQLite file has one process in practice and holds the lease throughout.
public final class PollerLeadership: Service, Sendable {
    public let holder: String
    public let leaseDuration: Duration
    public let renewEvery: Duration
    private let store: any PollerLeaseStore
    private let clock: any Clock<Duration>
    private let now: @Sendable () -> Date
    private let logger: Logger
    private let leaderGauge: Gauge
    private let state = Mutex<PollerTerm?>(nil)
    private let lastCycle = Mutex<Date?>(nil)

    public init(
        store: any PollerLeaseStore,
        pollInterval: Duration,
        holder: String = PollerLeadership.processHolder(),
        clock: any Clock<Duration> = ContinuousClock(),
        now: @escaping @Sendable () -> Date = { Date() },
        logger: Logger,
        metrics: any MetricsFactory = MetricsSystem.factory
    ) {
        self.store = store
        self.holder = holder
        self.leaseDuration = pollInterval * 2 + .seconds(5)
        self.renewEvery = min(pollInterval, .seconds(1))
        self.clock = clock
        self.now = now
        self.logger = logger
        self.leaderGauge = Gauge(label: "bridge_poller_leader", dimensions: [], factory: metrics)
        leaderGauge.record(0)
    }

    /// The term this process polls under; nil while another replica holds the lease.
    public var current: PollerTerm? { state.withLock { $0 } }

    /// `host:pid:random`: unique for every start of a process, so a restarted replica takes a new term.
    /// (`gethostname`, not `ProcessInfo.hostName`, which may wait on a DNS lookup.)
    public static func processHolder() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        let host = gethostname(&buffer, buffer.count) == 0 ? String(cString: buffer) : "host"
        return "\(host.replacingOccurrences(of: ":", with: "_")):\(getpid()):\(UUID().uuidString.prefix(8).lowercased())"
    }

    public func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                while !Task.isCancelled {
                    await self.attempt()
                    try await self.clock.sleep(for: self.renewEvery)
                }
            }
        } catch is CancellationError {
            // Graceful shutdown cuts the sleep short.
        }
        await release()
    }

    /// One try to take or renew the lease. A store error keeps what this process believed: if the lease
    /// was lost meanwhile, the store refuses the old term's writes anyway.
    public func attempt() async {
        do {
            let term = try await store.acquirePollerLease(
                holder: holder, now: now(), duration: leaseDuration, lastCycle: lastCycle.withLock { $0 }
            )
            update(term)
        } catch {
            logger.warning("could not renew the poller lease; retrying", metadata: ["error": "\(error)"])
        }
    }

    /// Called by the poller after each cycle it finished as leader under `term`; the next renewal records
    /// the time in the lease row, where every replica's health read finds it (at most ``renewEvery``
    /// old). A cycle of a term this replica no longer holds is not noted (another account's loop may
    /// finish after one of them learned the lease was lost), and the time never moves back.
    public func noteCycle(at time: Date, term: PollerTerm) {
        state.withLock { current in
            guard current == term else { return }
            lastCycle.withLock { $0 = max($0 ?? time, time) }
        }
    }

    /// Called by the poller when the store refused `term`: another replica took over.
    public func lost(_ term: PollerTerm) {
        let dropped = state.withLock { current -> Bool in
            guard current == term else { return false }
            current = nil
            return true
        }
        if dropped {
            lastCycle.withLock { $0 = nil }
            leaderGauge.record(0)
            logger.notice("another replica took over the poller lease; polling stopped here", metadata: ["term": "\(term.term)"])
        }
    }

    /// Gives the lease up so a standby replica takes over at its next attempt instead of after expiry.
    public func release() async {
        guard let term = state.withLock({ current -> PollerTerm? in defer { current = nil }; return current }) else { return }
        leaderGauge.record(0)
        do {
            try await store.releasePollerLease(term)
            logger.info("poller lease released", metadata: ["term": "\(term.term)"])
        } catch {
            logger.warning("could not release the poller lease; it expires on its own", metadata: ["error": "\(error)"])
        }
    }

    private func update(_ term: PollerTerm?) {
        let previous = state.withLock { current -> PollerTerm? in defer { current = term }; return current }
        guard previous != term else { return }
        // A cycle noted under an earlier term is not this term's: never write it over the newer
        // leader's time in the lease row.
        if previous != nil { lastCycle.withLock { $0 = nil } }
        leaderGauge.record(term == nil ? 0 : 1)
        if let term {
            logger.notice("this replica polls the upstream now", metadata: ["term": "\(term.term)", "holder": "\(holder)"])
        } else if let previous {
            logger.notice("another replica holds the poller lease; polling stopped here", metadata: ["term": "\(previous.term)"])
        }
    }
}
