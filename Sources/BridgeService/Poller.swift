import BridgeCore
public import BridgeStore
public import Foundation
public import Logging
public import ServiceLifecycle
public import TalkingPhoto
import Synchronization
public import Metrics

/// Watches every tracked, non-terminal video with as few upstream calls as possible and records
/// what it sees. A long-running service: `run()` returns on graceful shutdown or cancellation.
///
/// Per cycle and upstream account (``UpstreamAccounts``): one `video.list` answers every due video of
/// the account's tenants (plus a bounded number of `video.get` for due videos the list left out), or,
/// when a handful of videos face a huge account history, one `video.get` each — chosen per account.
/// An account is never asked about another account's videos, and its answers move only its tenants'
/// rows. Nothing is called for an account with nothing due. Errors, 5xx and unreadable answers never
/// become a status: that account records nothing and backs off on its own (honouring `Retry-After`)
/// while the others keep their rate.
public final class Poller: Service {
    /// What one cycle did; returned for tests and logs.
    public struct CycleReport: Sendable, Equatable {
        /// `standby`: another replica holds the poller lease; nothing was called or written.
        public enum Mode: String, Sendable { case idle, list, get, standby }
        public var mode: Mode = .idle
        public var due = 0
        public var listCalls = 0
        public var getCalls = 0
        public var observations = 0
        public var events = 0
        /// Due videos that neither the list nor `video.get` could show this cycle (each backs off).
        public var unobservable = 0
        public var failure: String?
        /// Where the cycle's time went, in milliseconds of the `now` clock (for the debug log).
        public var phases: [String] = []
        /// How long until the next cycle.
        public var delay: Duration = .zero

        /// Adds another account's part of the same cycle.
        mutating func merge(_ other: CycleReport) {
            if other.mode == .list || (other.mode == .get && mode == .idle) { mode = other.mode }
            due += other.due
            listCalls += other.listCalls
            getCalls += other.getCalls
            observations += other.observations
            events += other.events
            unobservable += other.unobservable
            phases += other.phases
        }

        /// Notes a phase that ran from `mark` to `at`, and moves the mark.
        mutating func phase(_ name: String, at: Date, since mark: inout Date) {
            phases.append("\(name)=\(Int((at.timeIntervalSince(mark) * 1000).rounded()))")
            mark = at
        }
    }

    private struct State {
        /// By the account's place in ``UpstreamAccounts/accounts``.
        var accounts: [Int: AccountState] = [:]
        var lastPrune: Date?
    }

    private struct AccountState {
        var lastListSize: Int?
        var consecutiveFailures = 0
        /// Cycles in a row the store refused, in the loop this account leads (loops back off apart).
        var storeFailures = 0
        /// Backing off: the account is not called before this.
        var notBefore: Date?
    }

    private let store: any TrackingStore
    private let accounts: UpstreamAccounts
    private let configuration: PollerConfiguration
    private let clock: any Clock<Duration>
    private let now: @Sendable () -> Date
    private let random: @Sendable () -> Double
    private let logger: Logger
    private let metrics: any MetricsFactory
    private let leadership: PollerLeadership?
    private let state = Mutex(State())

    public init(
        store: any TrackingStore,
        accounts: UpstreamAccounts,
        configuration: PollerConfiguration,
        clock: any Clock<Duration> = ContinuousClock(),
        now: @escaping @Sendable () -> Date = { Date() },
        random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) },
        logger: Logger,
        metrics: any MetricsFactory = MetricsSystem.factory,
        leadership: PollerLeadership? = nil
    ) {
        self.metrics = metrics
        self.leadership = leadership
        self.store = store
        self.accounts = accounts
        self.configuration = configuration
        self.clock = clock
        self.now = now
        self.random = random
        self.logger = logger
    }

    /// One loop per upstream account, each on its own rate: an account whose calls hang until
    /// `SURREAL_TIMEOUT`, or that backs off, never delays the others' next cycle. With several accounts,
    /// expiry and pruning run in a loop of their own at the same interval.
    public func run() async throws {
        logger.info("poller started", metadata: ["interval": "\(configuration.interval)", "accounts": "\(accounts.accounts.count)"])
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                // One account: expiry and retention ride in its loop (nothing to keep apart).
                let accounts = self.accounts.accounts.indices
                let loops: [(accounts: [Int], maintenance: Bool)] =
                    accounts.count == 1 ? [([0], true)] : [([], true)] + accounts.map { ([$0], false) }
                for loop in loops {
                    group.addTask {
                        while !Task.isCancelled {
                            let report = await self.cycle(accounts: loop.accounts, maintenance: loop.maintenance)
                            // Graceful shutdown cuts the sleep short: a normal end, not a failure.
                            do { try await self.clock.sleep(for: report.delay) } catch { return }
                        }
                    }
                }
            }
        }
        logger.info("poller stopped")
    }

    /// One polling cycle. Never throws: failures are logged and turn into a longer delay.
    ///
    /// Cycles keep a fixed start-to-start rate: after a good cycle the delay is the interval minus
    /// the cycle's own duration (zero when it took longer), so a change waits at most one interval to
    /// be seen however long listing a large account takes. After a failure the backoff counts from the
    /// cycle's end.
    ///
    /// With a ``PollerLeadership``, a cycle runs only while it holds the poller lease, and its writes
    /// carry the term; a standby replica's cycle only waits for its next look at the lease. Without
    /// one (a single process, the tests) every cycle polls and writes unfenced.
    ///
    /// This one covers every account at once (their calls concurrent) and expires and prunes; ``run()``
    /// gives each account a loop of its own.
    public func cycle() async -> CycleReport {
        await cycle(accounts: Array(accounts.accounts.indices), maintenance: true)
    }

    private func cycle(accounts chosen: [Int], maintenance: Bool) async -> CycleReport {
        var fence: PollerTerm?
        if let leadership {
            guard let term = leadership.current else {
                var standby = CycleReport()
                standby.mode = .standby
                standby.delay = leadership.renewEvery
                return standby
            }
            fence = term
        }
        let started = now()
        var report = await observeAndRecord(started: started, fence: fence, accounts: chosen, maintenance: maintenance)
        // Whole milliseconds: Date arithmetic carries float noise that would leak into the delay.
        let elapsed = Duration.milliseconds(Int64((min(max(now().timeIntervalSince(started), 0), 86_400) * 1000).rounded()))
        if !chosen.isEmpty { Timer(label: "bridge_poll_cycle_duration_seconds", dimensions: [], factory: metrics).record(duration: elapsed) }
        if report.failure == nil {
            report.delay = max(.zero, report.delay - elapsed)
            if report.mode != .standby, let fence { leadership?.noteCycle(at: now(), term: fence) }
        }
        return report
    }

    private func observeAndRecord(started: Date, fence: PollerTerm?, accounts chosen: [Int], maintenance: Bool) async -> CycleReport {
        var report = CycleReport()
        // Whose store backoff this is: the loop's first account (-1: the maintenance loop).
        let loop = chosen.first ?? -1
        do {
            if maintenance { try await expireAndPrune(at: started, fence: fence) }
            // The accounts are polled at once: one that hangs until SURREAL_TIMEOUT holds up none of
            // the others. Each records within its own tenants' scope.
            let due = chosen.map { ($0, accounts.accounts[$0]) }.filter { index, _ in
                state.withLock { $0.accounts[index]?.notBefore }.map { $0 <= started + configuration.interval * 0.1 } ?? true
            }
            let outcomes = await withTaskGroup(of: AccountOutcome.self) { group in
                for (index, account) in due {
                    group.addTask { await self.pollCatching(account, index: index, started: started, fence: fence) }
                }
                var outcomes: [AccountOutcome] = []
                for await outcome in group { outcomes.append(outcome) }
                return outcomes
            }
            // A lost lease wins over any other store error: it puts this replica in standby.
            if outcomes.contains(where: { $0.storeError == .notLeader }) { throw StoreError.notLeader }
            var failed = 0
            for outcome in outcomes {
                if let storeError = outcome.storeError { throw storeError }
                report.merge(outcome.report)
                if let problem = outcome.problem {
                    failed += 1
                    report.failure = report.failure ?? problem
                }
            }
            state.withLock { $0.accounts[loop, default: AccountState()].storeFailures = 0 }
            // Every account that was called failed: the cycle failed, and waits for the first account
            // whose backoff ends. Otherwise the healthy accounts keep the interval (the cycle's own time
            // is taken off by `cycle()`), and one backing off is skipped until its time comes.
            if !due.isEmpty, failed == due.count {
                let next = state.withLock { state in
                    chosen.map { state.accounts[$0]?.notBefore ?? started + configuration.interval }.min()
                } ?? started + configuration.interval
                report.delay = .milliseconds(Int64((max(0, next.timeIntervalSince(now())) * 1000).rounded(.up)))
            } else {
                report.failure = nil
                report.delay = configuration.interval
            }
        } catch StoreError.notLeader {
            // Another replica took the lease while this cycle ran: the writes that would have followed
            // were refused, and the new leader polls from here. Not a failure, and no backoff.
            if let fence { leadership?.lost(fence) }
            report.mode = .standby
            report.delay = leadership?.renewEvery ?? configuration.interval
            return report
        } catch {
            report.failure = "store"
            let failures = state.withLock { state -> Int in
                state.accounts[loop, default: AccountState()].storeFailures += 1
                return state.accounts[loop]?.storeFailures ?? 1
            }
            report.delay = backoff(failures: failures, retryAfter: nil)
            logger.error("poll cycle could not be recorded", metadata: ["error": "\(error)", "retry_in": "\(report.delay)"])
        }
        // The maintenance loop's cycles poll nothing: they are not poll cycles.
        if !chosen.isEmpty {
            Counter(label: "bridge_poll_cycles_total", dimensions: [("mode", report.mode.rawValue)], factory: metrics).increment()
        }
        if report.failure == "store" {
            Counter(label: "bridge_upstream_errors_total", dimensions: [("kind", "store")], factory: metrics).increment()
        }
        logger.debug(
            "poll cycle",
            metadata: [
                "accounts": "\(chosen.map { accounts.accounts[$0].name }.joined(separator: ","))",
                "mode": "\(report.mode.rawValue)", "due": "\(report.due)", "list_calls": "\(report.listCalls)",
                "get_calls": "\(report.getCalls)", "events": "\(report.events)",
                "phases_ms": "\(report.phases.joined(separator: " "))",
            ]
        )
        return report
    }

    /// What one account's part of a cycle came to: its counts, the kind of its upstream failure (nil
    /// when it went through), or the store error that ends the whole cycle.
    private struct AccountOutcome: Sendable {
        var report = CycleReport()
        var problem: String?
        var storeError: StoreError?
    }

    /// ``poll(_:index:started:fence:report:mark:)`` with its failures sorted: an upstream one backs this
    /// account off and is counted and logged here; a store one is handed back to end the cycle.
    private func pollCatching(_ account: UpstreamAccounts.Account, index: Int, started: Date, fence: PollerTerm?) async -> AccountOutcome {
        var outcome = AccountOutcome()
        var mark = started
        do {
            outcome.problem = try await poll(account, index: index, started: started, fence: fence, report: &outcome.report, mark: &mark)
        } catch let failure as AccountFailure {
            let error = failure.error
            outcome.problem = error.kind
            let delay = backOff(index, after: error)
            logger.warning(
                "upstream poll failed; nothing recorded for this account",
                metadata: ["account": "\(account.name)", "error_kind": "\(error.kind)", "error": "\(error)", "retry_in": "\(delay)"]
            )
        } catch let error as StoreError {
            outcome.storeError = error
        } catch {
            outcome.storeError = .other("\(error)")
        }
        if let problem = outcome.problem {
            Counter(label: "bridge_upstream_errors_total", dimensions: [("kind", problem)], factory: metrics).increment()
        }
        return outcome
    }

    /// One account's part of a cycle: its due videos, looked up with its client, recorded within its
    /// scope. Returns the kind of the rate limit that cut its `video.get` calls short (what was seen
    /// is recorded, the account backs off), nil when it went through. Upstream errors throw (nothing
    /// of the account is recorded); store errors throw and end the whole cycle.
    private func poll(
        _ account: UpstreamAccounts.Account, index: Int, started: Date, fence: PollerTerm?, report: inout CycleReport, mark: inout Date
    ) async throws -> String? {
        var seen: Seen
        do {
            let due = try await store.dueVideos(now: started, limit: 200_000, repeats: listRepeats, scope: account.scope)
            report.phase("due", at: now(), since: &mark)
            report.due += due.count
            guard !due.isEmpty else {
                resetFailures(of: index)
                return nil
            }
            do {
                seen = try await observe(due, account: account, index: index, report: &report)
            } catch {
                throw AccountFailure(error: error)
            }
        }  // The due list (one entry per live video) is let go here, before the writes.
        report.phase("observe", at: now(), since: &mark)
        // Due again when the next cycle starts, one interval after this one started (a tenth early, so
        // clock jitter between the sleep and the wall clock never skips a cycle). What the list shows
        // unchanged is shown again by the next list: it is not rewritten every cycle.
        let nextPollAt = started + configuration.interval * 0.9
        let observed = seen.listed.count + seen.fetched.count
        // Recorded batch by batch, each batch's observations let go once written: a burst's
        // observations are not all held until its last batch commits.
        var batches = seen.batches(of: configuration.recordBatch, listed: listRepeats)
        for position in batches.indices {
            let (chunk, repeats) = batches[position]
            batches[position].observations = []
            let recorded = try await store.recordObservations(
                chunk, now: now(), nextPollAt: nextPollAt, repeats: repeats, fence: fence, scope: account.scope
            )
            // Counted and logged per batch: a burst's events (each with its payload) are not all
            // held until the cycle ends.
            report.events += recorded.events.count
            note(recorded)
        }
        report.phase("record", at: now(), since: &mark)
        try await backOff(seen.failed, scope: account.scope, fence: fence)
        report.observations += seen.unchanged + observed
        report.unobservable += seen.failed.count
        if let throttled = seen.throttled {
            _ = backOff(index, after: throttled)
            return throttled.kind
        }
        resetFailures(of: index)
        return nil
    }

    /// Metrics and logs for one recorded batch.
    private func note(_ recorded: ObservationReport) {
        for id in recorded.wentBackwards {
            logger.info("status went backwards; recorded without an event", metadata: ["video_id": "\(id)"])
        }
        for event in recorded.events {
            Counter(label: "bridge_events_total", dimensions: [("type", event.type.rawValue)], factory: metrics).increment()
            logger.info(
                "status changed",
                metadata: ["video_id": "\(event.videoID ?? "")", "event_id": "\(event.id)", "type": "\(event.type.rawValue)"]
            )
        }
    }

    // MARK: - Steps

    /// What one cycle saw: observations, videos that could not be observed (with why), and the rate
    /// limit that cut the `video.get` calls short, if one did.
    private struct Seen {
        /// From `video.list`, except those that repeat what their rows know and need no write.
        var listed: [Observation] = []
        /// Listed videos that repeat what their rows know, not recorded (see ``RepeatWrites``).
        var unchanged = 0
        /// From `video.get`.
        var fetched: [Observation] = []
        var failed: [(id: String, kind: String)] = []
        var throttled: UpstreamError?

        /// The observations to record, `size` per batch, listed ones first (with `listed` as their
        /// repeat policy; fetched ones are always written). Takes them out of `listed` and `fetched`.
        mutating func batches(of size: Int, listed policy: RepeatWrites) -> [(observations: [Observation], repeats: RepeatWrites)] {
            var batches: [(observations: [Observation], repeats: RepeatWrites)] = []
            for (observations, repeats) in [(listed, policy), (fetched, RepeatWrites.always)] {
                for start in stride(from: 0, to: observations.count, by: size) {
                    batches.append((Array(observations[start..<min(start + size, observations.count)]), repeats))
                }
            }
            listed = []
            fetched = []
            return batches
        }
    }

    /// How list answers that repeat a row are written: refreshed about once a minute, not every cycle.
    private var listRepeats: RepeatWrites { .refreshAfter(configuration.lastSeenRefresh) }

    private func observe(_ due: [DueVideo], account: UpstreamAccounts.Account, index: Int, report: inout CycleReport)
        async throws(UpstreamError) -> Seen
    {
        let client = account.client
        let lastListSize = state.withLock { $0.accounts[index]?.lastListSize }
        let cheaperOneByOne =
            due.count <= configuration.maxGetsPerCycle
            && lastListSize.map { $0 >= due.count * configuration.listItemsPerGet } ?? false
        if cheaperOneByOne {
            if report.mode != .list { report.mode = .get }
            let fetched = await fetchEach(due.map(\.videoID), client: client, report: &report)
            // Every call failed for want of an upstream (unreachable, 5xx): the upstream is down, not
            // these videos. The cycle backs off as a whole, as a failed list would.
            if fetched.observations.isEmpty, fetched.throttled == nil, fetched.outagesOnly, let error = fetched.lastError {
                throw error
            }
            return Seen(fetched: fetched.observations, failed: fetched.failed, throttled: fetched.throttled)
        }
        report.mode = .list
        report.listCalls += 1
        let list = try await client.listVideos()
        state.withLock { $0.accounts[index, default: AccountState()].lastListSize = list.videos.count + list.unreadableItems }
        // Each due video is taken from the map once (a repeated list item is ignored); what is left
        // is missing from the list. An answer its rows already hold, needing no refresh, is not recorded.
        var unseen = [String: KnownObservation?](minimumCapacity: due.count)
        for video in due { unseen.updateValue(video.unchanged, forKey: video.videoID) }
        var seen = Seen()
        seen.listed.reserveCapacity(min(due.count, list.videos.count))
        for video in list.videos {
            guard let known = unseen.removeValue(forKey: video.id) else { continue }
            if let known, known.covers(status: video.status.rawValue, videoURL: video.videoURL) {
                seen.unchanged += 1
            } else {
                seen.listed.append(Observation(videoID: video.id, status: video.status.rawValue, videoURL: video.videoURL))
            }
        }
        // Missing from the list: one `video.get` each, within the budget, the longest-due first (the
        // due list's order). One that fails backs off on its own and fails nothing else.
        let missing = unseen.isEmpty ? [] : due.map(\.videoID).filter { unseen.index(forKey: $0) != nil }
        if !missing.isEmpty {
            let fetched = await fetchEach(missing, client: client, report: &report)
            seen.fetched = fetched.observations
            seen.failed = fetched.failed
            seen.throttled = fetched.throttled
        }
        return seen
    }

    private struct Fetched {
        var observations: [Observation] = []
        var failed: [(id: String, kind: String)] = []
        var throttled: UpstreamError?
        var lastError: UpstreamError?
        /// Whether every failure was the upstream's, not the video's.
        var outagesOnly = true
    }

    /// `video.get` for up to `maxGetsPerCycle` videos. Any failure (the upstream does not know it,
    /// 5xx, timeout, an unreadable answer) is that video's alone; a rate limit stops the calls.
    private func fetchEach(_ ids: [String], client: TalkingPhotoClient, report: inout CycleReport) async -> Fetched {
        var fetched = Fetched()
        for id in ids.prefix(configuration.maxGetsPerCycle) {
            // Shutting down: the calls left would only fail as cancelled and back their videos off.
            if Task.isCancelled { break }
            report.getCalls += 1
            do {
                let video = try await client.video(id: id)
                fetched.observations.append(Observation(videoID: video.id, status: video.status.rawValue, videoURL: video.videoURL))
            } catch {
                if case .rateLimited = error {
                    fetched.throttled = error
                    break
                }
                fetched.failed.append((id, error.kind))
                fetched.lastError = error
                switch error {
                case .unreachable, .serverError: break
                default: fetched.outagesOnly = false
                }
            }
        }
        return fetched
    }

    /// Puts each unobservable video on its own growing delay and logs it once per step (each step
    /// doubles the delay, so a video that never becomes observable is logged about ten times, then
    /// every `maxVideoBackoff`).
    private func backOff(_ failed: [(id: String, kind: String)], scope: TenantScope, fence: PollerTerm?) async throws(StoreError) {
        guard !failed.isEmpty else { return }
        let steps = try await store.backOffPolling(
            videoIDs: failed.map(\.id), now: now(), interval: configuration.interval, maximum: configuration.maxVideoBackoff, fence: fence,
            scope: scope
        )
        for (id, kind) in failed {
            guard let step = steps[id] else { continue }
            logger.warning(
                "video could not be observed; it is retried on its own delay",
                metadata: [
                    "video_id": "\(id)", "error_kind": "\(kind)", "failures": "\(step.failures)",
                    "retry_in": "\(DurationText.format(step.delay))",
                ]
            )
        }
    }

    private func expireAndPrune(at moment: Date, fence: PollerTerm?) async throws(StoreError) {
        let cutoff = moment - configuration.trackingLimit.timeInterval
        let expired = try await store.expireTracking(startedBefore: cutoff, now: moment, limit: 500, fence: fence)
        for event in expired.events {
            logger.info("tracking expired", metadata: ["video_id": "\(event.videoID ?? "")", "event_id": "\(event.id)"])
        }
        let due = state.withLock { state -> Bool in
            guard let last = state.lastPrune, moment.timeIntervalSince(last) < configuration.pruneInterval.timeInterval else {
                state.lastPrune = moment
                return true
            }
            return false
        }
        if due {
            let pruned = try await store.prune(olderThan: moment - configuration.retention.timeInterval, batchSize: 500)
            if pruned.events + pruned.deliveries + pruned.videos + pruned.idempotencyRecords > 0 {
                logger.info(
                    "retention pruned",
                    metadata: [
                        "events": "\(pruned.events)", "deliveries": "\(pruned.deliveries)", "videos": "\(pruned.videos)",
                        "idempotency_records": "\(pruned.idempotencyRecords)",
                    ]
                )
            }
        }
    }

    /// An account failed (or was throttled): it is not called again before its backoff ends.
    private func backOff(_ account: Int, after error: UpstreamError) -> Duration {
        let failures = state.withLock { state -> Int in
            state.accounts[account, default: AccountState()].consecutiveFailures += 1
            return state.accounts[account]?.consecutiveFailures ?? 1
        }
        let delay = backoff(failures: failures, retryAfter: error.retryAfter)
        let until = now() + delay
        state.withLock { $0.accounts[account, default: AccountState()].notBefore = until }
        return delay
    }

    private func resetFailures(of account: Int) {
        state.withLock { state in
            state.accounts[account, default: AccountState()].consecutiveFailures = 0
            state.accounts[account]?.notBefore = nil
        }
    }

    /// `Retry-After` when the upstream gave one (capped), else exponential backoff from the poll
    /// interval with jitter (50–100 % of the step), capped.
    private func backoff(failures: Int, retryAfter: Duration?) -> Duration {
        if let retryAfter {
            return max(configuration.interval, min(retryAfter, configuration.maxRetryAfter))
        }
        let step = configuration.interval * Double(1 << min(failures, 16))
        let capped = min(step, configuration.maxBackoff)
        return capped * (0.5 + 0.5 * random())
    }
}

/// An account's upstream call failed: only that account backs off; the cycle goes on with the others.
private struct AccountFailure: Error {
    let error: UpstreamError
}
