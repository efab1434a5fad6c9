import BridgeCore
import BridgeService
import BridgeStore
import CurlHTTP
import Foundation
import Logging
import Simulator
import SQLiteStore
import Synchronization
import TalkingPhoto
import TestSupport
import Testing

/// The poller against the real simulator through real curl, on a real SQLite file.
@Suite("Poller")
struct PollerTests {
    final class Harness: TestResource {
        let directory: TemporaryDirectory
        let store: SQLiteBridgeStore
        let simulator: RunningSimulator
        let transport: CurlTransport
        let poller: Poller
        let clock: ManualClock
        let trackingLimit: Duration

        /// The upstream timeout is far above what a loaded machine adds to a loopback call (listing
        /// 2,000 videos included); the hang test makes a poller with a short one of its own.
        init(trackingLimit: Duration = .seconds(3600), timeout: Duration = .seconds(30)) async throws {
            self.trackingLimit = trackingLimit
            directory = try TemporaryDirectory("poller")
            store = try SQLiteBridgeStore(path: directory.path("bridge.sqlite"))
            var quiet = Logger(label: "test")
            quiet.logLevel = .critical
            simulator = try await UpstreamSimulator.start(
                SimulatorConfiguration(port: 0, token: "poll-token", renderTime: .seconds(3600), seed: 1),
                logger: quiet
            )
            transport = try CurlTransport()
            clock = ManualClock()
            poller = Self.makePoller(
                store: store, simulator: simulator, transport: transport, clock: clock, timeout: timeout, trackingLimit: trackingLimit
            )
        }

        /// A second poller on the same store and clock with another upstream timeout.
        func poller(timeout: Duration) -> Poller {
            Self.makePoller(store: store, simulator: simulator, transport: transport, clock: clock, timeout: timeout, trackingLimit: trackingLimit)
        }

        /// A second poller on the same store and clock whose upstream calls go through `transport`.
        func poller(transport: any HTTPTransport) -> Poller {
            Self.makePoller(store: store, simulator: simulator, transport: transport, clock: clock, timeout: .seconds(30), trackingLimit: trackingLimit)
        }

        /// A second poller on the same clock recording through `store`, `recordBatch` observations per transaction.
        func poller(store: any TrackingStore, recordBatch: Int) -> Poller {
            Self.makePoller(
                store: store, simulator: simulator, transport: transport, clock: clock, timeout: .seconds(30), trackingLimit: trackingLimit,
                recordBatch: recordBatch
            )
        }

        /// A replica's poller on the same store and clock that polls only while `leadership` holds the lease.
        func poller(leadership: PollerLeadership) -> Poller {
            Self.makePoller(
                store: store, simulator: simulator, transport: transport, clock: clock, timeout: .seconds(30), trackingLimit: trackingLimit,
                leadership: leadership
            )
        }

        /// A lease keeper for `holder` on the harness's store and clock (poll interval 1 s: lease 10 s).
        func leadership(_ holder: String) -> PollerLeadership {
            var quiet = Logger(label: "test")
            quiet.logLevel = .critical
            return PollerLeadership(store: store, pollInterval: .seconds(1), holder: holder, clock: clock, now: clock.read, logger: quiet)
        }

        private static func makePoller(
            store: any TrackingStore, simulator: RunningSimulator, transport: any HTTPTransport, clock: ManualClock,
            timeout: Duration, trackingLimit: Duration, recordBatch: Int = 2_500, leadership: PollerLeadership? = nil
        ) -> Poller {
            var quiet = Logger(label: "test")
            quiet.logLevel = .critical
            let client = TalkingPhotoClient(
                configuration: .init(baseURL: simulator.baseURL, token: UpstreamToken("poll-token"), timeout: timeout),
                transport: transport
            )
            return Poller(
                store: store,
                accounts: UpstreamAccounts(shared: client),
                configuration: PollerConfiguration(interval: .seconds(1), trackingLimit: trackingLimit, recordBatch: recordBatch),
                clock: clock,
                now: clock.read,
                random: { 0.5 },
                logger: quiet,
                leadership: leadership
            )
        }

        static func with<T>(trackingLimit: Duration = .seconds(3600), _ body: (Harness) async throws -> T) async throws -> T {
            try await withResource(try await Harness(trackingLimit: trackingLimit), body)
        }

        var now: Date { clock.date }

        /// Moves the injected clock past the poll interval so every tracked video is due again.
        func advance(_ seconds: Double = 1.5) { clock.advance(seconds: seconds) }

        /// Tracks upstream videos pinned to `status`, as if watched, with the first observation recorded.
        @discardableResult
        func trackPinned(_ count: Int, status: String, tenant: String = "acme") async throws -> [String] {
            let ids = simulator.control.createVideos(count: count, pinnedStatus: status)
            for id in ids {
                try await store.track(
                    tenant: tenant, videoID: id, source: .watch,
                    initial: Observation(videoID: id, status: status), now: now, nextPollAt: now
                )
            }
            return ids
        }

        func subscribe(tenant: String = "acme") async throws {
            try await store.createSubscription(
                NewSubscription(tenant: tenant, url: "https://hooks.example.com/x", secret: "whsec_x"),
                now: now
            )
        }

        func eventTypes(tenant: String = "acme") async throws -> [EventType] {
            try await store.events(tenant: tenant, limit: 100_000).map(\.type)
        }

        func stop() async {
            transport.shutdown()
            await simulator.stop()
            directory.remove()
        }
    }

    @Test("accounts back off on their own: a failing account is skipped until its backoff ends, the other keeps the interval")
    func accountsBackOffApart() async throws {
        try await Harness.with { harness in
            // globex's token opens an account of the simulator; acme's opens none (every call of it is
            // refused, and the simulator counts refused calls on its default account).
            let simulator = try await startQuietSimulator(
                SimulatorConfiguration(port: 0, token: "sim-default", renderTime: .seconds(3600), seed: 4, otherAccounts: ["globex-token"])
            )
            defer { Task { await simulator.stop() } }
            let globexAccount = try #require(simulator.account("globex-token"))
            var configuration = BridgeConfiguration()
            configuration.upstreamBaseURL = simulator.baseURL
            configuration.upstreamToken = UpstreamToken("globex-token")
            configuration.upstreamTokens = ["acme": UpstreamToken("revoked-token")]
            configuration.upstreamTimeout = .seconds(30)
            let accounts = UpstreamAccounts(configuration: configuration, transport: harness.transport)
            #expect(accounts.accounts.map(\.name) == ["shared", "acme"])
            var quiet = Logger(label: "test")
            quiet.logLevel = .critical
            let poller = Poller(
                store: harness.store, accounts: accounts, configuration: PollerConfiguration(interval: .seconds(1)),
                clock: harness.clock, now: harness.clock.read, random: { 0.5 }, logger: quiet
            )
            let shared = globexAccount.createVideos(count: 2, pinnedStatus: "in_progressing")
            for id in shared + ["acme-video"] {
                try await harness.store.track(
                    tenant: id == "acme-video" ? "acme" : "globex", videoID: id, source: .watch,
                    initial: Observation(videoID: id, status: "in_progressing"), now: harness.now, nextPollAt: harness.now
                )
            }

            let first = await poller.cycle()
            #expect(first.failure == nil && first.delay == .seconds(1), "one account failing is not a failed cycle: \(first)")
            #expect(first.listCalls == 2 && globexAccount.callCounts().list == 1 && simulator.control.callCounts().list == 1)
            // Within acme's backoff (2 s at the first failure, × 0.75 with this jitter: 1.5 s), only globex
            // is listed.
            harness.advance(1)
            let second = await poller.cycle()
            #expect(second.listCalls == 1 && globexAccount.callCounts().list == 2 && simulator.control.callCounts().list == 1, "\(second)")
            #expect(second.failure == nil && second.delay == .seconds(1))
            // Its backoff over, acme is asked again (and fails again, backing off longer).
            harness.advance(10)
            let third = await poller.cycle()
            #expect(third.listCalls == 2 && simulator.control.callCounts().list == 2, "\(third)")

            // Both failing: the cycle fails and waits for the account whose backoff ends first.
            configuration.upstreamToken = UpstreamToken("also-revoked")
            let failing = Poller(
                store: harness.store, accounts: UpstreamAccounts(configuration: configuration, transport: harness.transport),
                configuration: PollerConfiguration(interval: .seconds(1)), clock: harness.clock, now: harness.clock.read, random: { 0.5 },
                logger: quiet
            )
            harness.advance(2)
            let bothFail = await failing.cycle()
            #expect(bothFail.failure != nil && bothFail.listCalls == 2, "\(bothFail)")
            #expect(bothFail.delay == .milliseconds(1500), "both back off 1.5 s; the cycle waits for the first: \(bothFail.delay)")
        }
    }

    @Test("each account polls in a loop of its own: one whose list hangs delays none of the other's cycles")
    func accountsRunApart() async throws {
        try await Harness.with { harness in
            let simulator = try await startQuietSimulator(
                SimulatorConfiguration(
                    port: 0, token: "sim-default", renderTime: .seconds(3600), seed: 6, otherAccounts: ["fast-token", "slow-token"]
                )
            )
            defer { Task { await simulator.stop() } }
            let fast = try #require(simulator.account("fast-token"))
            let slow = try #require(simulator.account("slow-token"))
            let gate = Gate()
            defer { gate.open() }
            var configuration = BridgeConfiguration()
            configuration.upstreamBaseURL = simulator.baseURL
            configuration.upstreamToken = UpstreamToken("fast-token")
            configuration.upstreamTokens = ["acme": UpstreamToken("slow-token")]
            configuration.upstreamTimeout = .seconds(60)
            var quiet = Logger(label: "test")
            quiet.logLevel = .critical
            let poller = Poller(
                store: harness.store,
                accounts: UpstreamAccounts(
                    configuration: configuration, transport: GatedTransport(inner: harness.transport, token: "slow-token", gate: gate)
                ),
                configuration: PollerConfiguration(interval: .seconds(1)), clock: harness.clock, now: harness.clock.read, random: { 0.5 },
                logger: quiet
            )
            for (tenant, account) in [("globex", fast), ("acme", slow)] {
                let id = account.createVideos(count: 1, pinnedStatus: "in_progressing")[0]
                try await harness.store.track(
                    tenant: tenant, videoID: id, source: .watch, initial: Observation(videoID: id, status: "in_progressing"),
                    now: harness.now, nextPollAt: harness.now
                )
            }
            let running = Task { try await poller.run() }
            defer { running.cancel() }
            // The maintenance loop, plus one loop per account. The slow account's list waits at the gate;
            // the fast account's loop (and the maintenance loop) cycle every interval.
            #expect(await eventually(within: .seconds(30)) { fast.callCounts().list == 1 && gate.waiting == 1 && harness.clock.sleeperCount == 2 })
            for cycle in 2...4 {
                harness.clock.advance(by: .seconds(1))
                #expect(await eventually(within: .seconds(30)) { fast.callCounts().list == cycle && harness.clock.sleeperCount == 2 })
            }
            #expect(slow.callCounts().list == 0 && gate.waiting == 1, "the slow account's one list is still held")
            gate.open()
            // Released (three intervals late), it lists, catches up and sleeps beside the other.
            #expect(await eventually(within: .seconds(30)) { slow.callCounts().list >= 1 && harness.clock.sleeperCount == 3 })
            // Cancelled (as a graceful shutdown does), every loop ends and run() returns.
            running.cancel()
            let ended = await eventually(within: .seconds(30)) { harness.clock.sleeperCount == 0 }
            #expect(ended)
            if ended { _ = await running.result }
        }
    }

    @Test("nothing tracked: no upstream call at all")
    func idleMakesNoCalls() async throws {
        try await Harness.with { harness in
            for _ in 0..<3 {
                let report = await harness.poller.cycle()
                #expect(report.mode == .idle && report.delay == .seconds(1))
                harness.advance()
            }
            #expect(harness.simulator.control.callCounts().total == 0)
        }
    }

    @Test("1,000 tracked videos cost exactly one video.list per cycle")
    func oneListPerCycle() async throws {
        try await Harness.with { harness in
            try await harness.subscribe()
            let ids = try await harness.trackPinned(1000, status: "in_progressing")
            await #expect(try harness.eventTypes().count == 1000)

            let quiet = await harness.poller.cycle()
            #expect(quiet.mode == .list && quiet.due == 1000 && quiet.events == 0 && quiet.failure == nil)
            #expect(harness.simulator.control.callCounts() == SimulatorCallCounts(list: 1))

            for id in ids.prefix(10) { _ = harness.simulator.control.pin(videoID: id, status: "finished", videoURL: "https://cdn/\(id).mp4") }
            harness.advance()
            let changed = await harness.poller.cycle()
            #expect(changed.events == 10 && changed.listCalls == 1 && changed.getCalls == 0)
            #expect(harness.simulator.control.callCounts() == SimulatorCallCounts(list: 2))
            await #expect(try harness.eventTypes().filter { $0 == .finished }.count == 10)
            // Terminal videos are no longer due.
            harness.advance()
            #expect(await harness.poller.cycle().due == 990)
        }
    }

    @Test("a few videos against a long account history are fetched one by one")
    func getModeForFewVideos() async throws {
        try await Harness.with { harness in
            harness.simulator.control.createVideos(count: 2000, pinnedStatus: "finished")
            try await harness.trackPinned(3, status: "pending")
            let first = await harness.poller.cycle()
            #expect(first.mode == .list)
            harness.advance()
            let second = await harness.poller.cycle()
            #expect(second.mode == .get && second.getCalls == 3 && second.listCalls == 0)
            #expect(harness.simulator.control.callCounts() == SimulatorCallCounts(get: 3, list: 1))
        }
    }

    @Test("a tracked video missing from the list gets one video.get; an unknown one emits nothing")
    func missingFromList() async throws {
        try await Harness.with { harness in
            try await harness.subscribe()
            try await harness.trackPinned(2, status: "pending")
            try await harness.store.track(tenant: "acme", videoID: "not-upstream", source: .watch, now: harness.now, nextPollAt: harness.now)
            let report = await harness.poller.cycle()
            #expect(report.listCalls == 1 && report.getCalls == 1)
            #expect(report.events == 0 && report.failure == nil)
            #expect(try await harness.store.trackedVideo(tenant: "acme", videoID: "not-upstream")?.status == nil)
        }
    }

    /// Each fault alone: the cycle survives, records nothing, then the right events once it clears.
    /// The hang is ten minutes against a 1 s timeout (only the timeout can end those cycles); every
    /// other call, the recovery included, has the harness's generous timeout.
    @Test("upstream faults never produce events", arguments: [
        "hang", "rate_limit", "server_error", "html", "truncated", "nonzero_code", "backwards",
    ])
    func faultsProduceNoEvents(fault: String) async throws {
        try await Harness.with { harness in
            try await harness.subscribe()
            let ids = try await harness.trackPinned(5, status: "in_progressing")
            var faults = FaultSettings.none
            switch fault {
            case "hang": faults.hangRatio = 1; faults.hangTime = .seconds(600)
            case "rate_limit": faults.rateLimitRatio = 1; faults.retryAfterSeconds = 7
            case "server_error": faults.serverErrorRatio = 1
            case "html": faults.htmlRatio = 1
            case "truncated": faults.truncatedRatio = 1
            case "nonzero_code": faults.nonzeroCodeRatio = 1
            default: faults.backwardsRatio = 1
            }
            harness.simulator.control.setFaults(faults)
            let faulty = fault == "hang" ? harness.poller(timeout: .seconds(1)) : harness.poller
            let before = try await harness.eventTypes()
            for _ in 0..<3 {
                harness.advance(30)
                let report = await faulty.cycle()
                #expect(report.events == 0)
                if fault == "rate_limit" { #expect(report.delay == .seconds(7)) }
                if fault == "hang" { #expect(report.failure == "unreachable_timeout") }
                if fault != "backwards" { #expect(report.failure != nil) }
            }
            await #expect(try harness.eventTypes() == before)

            harness.simulator.control.setFaults(.none)
            for id in ids { _ = harness.simulator.control.pin(videoID: id, status: "finished", videoURL: "https://cdn/\(id).mp4") }
            harness.advance(30)
            let recovered = await harness.poller.cycle()
            #expect(recovered.failure == nil && recovered.events == 5)
            await #expect(try harness.eventTypes().filter { $0 == .finished }.count == 5)
            await #expect(try harness.eventTypes().count == before.count + 5)
        }
    }

    /// Cycles keep a fixed start-to-start rate: the wait after a cycle is the interval minus the
    /// cycle's own duration, and what a cycle observed is due again when the next one starts, so a
    /// slow `video.list` (a large account) never stretches the time a change waits to be seen.
    @Test func cyclesStartOneIntervalApartHoweverLongTheyTake() async throws {
        try await Harness.with { harness in
            try await harness.trackPinned(3, status: "in_progressing")
            let slow = harness.poller(transport: AdvancingTransport(inner: harness.transport, clock: harness.clock, by: .milliseconds(300)))
            let first = await slow.cycle()
            #expect(first.mode == .list && first.observations == 3)
            #expect(first.delay == .milliseconds(700), "interval 1 s minus the 300 ms the list took")

            harness.clock.advance(by: first.delay)
            let second = await slow.cycle()
            #expect(second.listCalls == 1 && second.observations == 3, "due again at the next start, not 300 ms later")
            #expect(second.delay == .milliseconds(700))

            // A cycle longer than the interval: the next one starts at once.
            harness.clock.advance(by: second.delay)
            let slower = harness.poller(transport: AdvancingTransport(inner: harness.transport, clock: harness.clock, by: .milliseconds(1_400)))
            let third = await slower.cycle()
            #expect(third.observations == 3 && third.delay == .zero)

            // After a failure the backoff counts from the cycle's end, untouched by its duration.
            harness.simulator.control.setFaults(FaultSettings(serverErrorRatio: 1))
            let failed = await slow.cycle()
            #expect(failed.failure != nil && failed.delay == .milliseconds(1_500))
        }
    }

    /// A burst of changes is written chunk by chunk (each chunk one transaction that wakes the
    /// dispatcher), in the order the upstream listed them, every change with its event.
    @Test func aBurstIsRecordedInChunks() async throws {
        try await Harness.with { harness in
            let ids = try await harness.trackPinned(25, status: "in_progressing")
            try await harness.subscribe()
            let counting = CountingTrackingStore(inner: harness.store)
            let poller = harness.poller(store: counting, recordBatch: 10)
            _ = harness.simulator.control.pinAll(status: "finished")
            harness.advance()
            let report = await poller.cycle()
            #expect(report.failure == nil && report.observations == 25 && report.events == 25)
            #expect(counting.recordSizes == [10, 10, 5])
            let finished = try await harness.store.events(tenant: "acme", limit: 1_000).filter { $0.type == .finished }
            #expect(finished.compactMap(\.videoID) == ids, "events in the list's order")
            #expect(try await harness.store.counts().deliveries[.pending] == 25, "each change with its outbox row")
        }
    }

    /// A list shows every tracked video each cycle: rewriting the unchanged ones every time is what cost
    /// a 100,000-video cycle half its time. They are refreshed about once a minute; `video.get` answers
    /// (a few per cycle) move their rows each time.
    @Test func unchangedListItemsAreRewrittenAboutOnceAMinute() async throws {
        try await Harness.with { harness in
            let ids = try await harness.trackPinned(3, status: "pending")
            let tracked = harness.now
            let counting = CountingTrackingStore(inner: harness.store)
            let poller = harness.poller(store: counting, recordBatch: 2_500)
            func lastSeen() async throws -> [Date?] {
                var seen: [Date?] = []
                for id in ids { seen.append(try await harness.store.trackedVideo(tenant: "acme", videoID: id)?.lastSeenAt) }
                return seen
            }
            for _ in 0..<5 {
                let report = await poller.cycle()
                #expect(report.mode == .list && report.observations == 3 && report.failure == nil)
                harness.advance(5)
            }
            #expect(try await lastSeen() == [tracked, tracked, tracked], "20 s after tracking: not rewritten")
            #expect(counting.recordCalls.isEmpty, "answers the rows already hold are not even sent to the store")
            harness.advance(40)
            #expect(await poller.cycle().observations == 3)
            #expect(try await lastSeen() == [harness.now, harness.now, harness.now], "past a minute: refreshed")
            #expect(counting.recordCalls.map(\.count) == [3] && counting.recordCalls.last?.repeats == .refreshAfter(.seconds(60)))

            // A change among unchanged ones: only the change is recorded, at once.
            _ = harness.simulator.control.pin(videoID: ids[1], status: "in_progressing")
            harness.advance()
            let changed = await poller.cycle()
            #expect(changed.events == 1 && changed.observations == 3)
            #expect(counting.recordCalls.map(\.count) == [3, 1])

            // A long account history: the same three are fetched one by one, and written every cycle.
            harness.simulator.control.createVideos(count: 200, pinnedStatus: "finished")
            harness.advance()
            #expect(await poller.cycle().mode == .list)
            harness.advance()
            let fetched = await poller.cycle()
            #expect(fetched.mode == .get && fetched.getCalls == 3)
            #expect(counting.recordCalls.last.map { $0.count == 3 && $0.repeats == .always } == true)
            #expect(try await lastSeen() == [harness.now, harness.now, harness.now])
        }
    }

    /// Two replicas on one store, stepped by the test's clock: only the lease holder calls the
    /// upstream; the standby takes over once the holder stops renewing and its lease runs out; the
    /// ex-leader, waking up with its old term, records nothing and stands by.
    @Test("one poller at a time: the lease holder polls, a standby takes over after expiry, the ex-leader's writes are refused")
    func onePollerAtATime() async throws {
        try await Harness.with { harness in
            try await harness.subscribe()
            let ids = try await harness.trackPinned(2, status: "pending")
            let calls: @Sendable () -> Int = { harness.simulator.control.callCounts().total }
            let first = harness.leadership("replica-a")
            let second = harness.leadership("replica-b")
            let pollerA = harness.poller(leadership: first)
            let pollerB = harness.poller(leadership: second)
            #expect(first.leaseDuration == .seconds(7) && first.renewEvery == .seconds(1))

            await first.attempt()
            await second.attempt()
            let term = try #require(first.current)
            #expect(second.current == nil)
            harness.advance()
            #expect(await pollerB.cycle().mode == .standby)
            #expect(calls() == 0, "a standby calls nothing")
            #expect(await pollerA.cycle().mode == .list)
            #expect(calls() == 1)

            // A stops renewing (paused). Until its lease has run out (7 s after A's attempt) B stays
            // standby; then B takes over.
            harness.clock.advance(seconds: 5)
            await second.attempt()
            #expect(second.current == nil)
            harness.clock.advance(seconds: 1)
            await second.attempt()
            #expect(second.current?.term == term.term + 1)
            _ = harness.simulator.control.pin(videoID: ids[0], status: "finished", videoURL: "https://cdn/a.mp4")
            let taken = await pollerB.cycle()
            #expect(taken.mode == .list && taken.events == 1)

            // A wakes up believing it still leads: its cycle calls the upstream, but the store refuses
            // its term, nothing is recorded twice, and A stands by from then on.
            _ = harness.simulator.control.pin(videoID: ids[1], status: "finished", videoURL: "https://cdn/b.mp4")
            harness.advance()
            let stale = await pollerA.cycle()
            #expect(stale.mode == .standby && stale.events == 0 && stale.failure == nil)
            #expect(first.current == nil)
            #expect(try await harness.store.events(tenant: "acme", type: .finished).map(\.videoID) == [ids[0]])
            let callsBefore = calls()
            #expect(await pollerA.cycle().mode == .standby && calls() == callsBefore)
            // B, the leader, sees the second change.
            let next = await pollerB.cycle()
            #expect(next.events == 1)
        }
    }

    /// `run()` sleeps on the injected clock: a cycle per interval, the backoff delay after a failure,
    /// and nothing in between, all stepped by the test.
    @Test("the running poller waits on its clock: one cycle per interval, backoff after a failure")
    func runSleepsOnTheClock() async throws {
        try await Harness.with { harness in
            try await harness.trackPinned(1, status: "pending")
            let calls: @Sendable () -> Int = { harness.simulator.control.callCounts().total }
            let running = Task { try await harness.poller.run() }
            defer { running.cancel() }
            #expect(await eventually(within: .seconds(30)) { calls() == 1 && harness.clock.sleeperCount == 1 })
            #expect(harness.clock.requestedSleeps.last == .seconds(1))

            harness.clock.advance(by: .seconds(1))
            #expect(await eventually(within: .seconds(30)) { calls() == 2 && harness.clock.sleeperCount == 1 })

            harness.simulator.control.setFaults(FaultSettings(serverErrorRatio: 1))
            harness.clock.advance(by: .seconds(1))
            #expect(await eventually(within: .seconds(30)) { calls() == 3 && harness.clock.requestedSleeps.count == 3 })
            // First failure: interval × 2 × 0.75 (jitter fixed at the middle).
            #expect(harness.clock.requestedSleeps.last == .milliseconds(1500))
            harness.clock.advance(by: .seconds(1))
            #expect(harness.clock.sleeperCount == 1 && calls() == 3, "still backing off")
            harness.clock.advance(by: .milliseconds(500))
            #expect(await eventually(within: .seconds(30)) { calls() == 4 })
        }
    }

    /// The contract's unobservable video: missing from the list, its `video.get` failing (unknown to the
    /// upstream, or a 5xx). It waits on its own delay — the interval, doubling, at most 10 min — while a
    /// readable video's changes are still seen every cycle, and no cycle counts as failed.
    @Test("a video neither list nor get can show backs off on its own and stalls nothing", arguments: ["unknown", "server_error"])
    func unobservableVideoBacksOffAlone(fault: String) async throws {
        try await Harness.with { harness in
            try await harness.subscribe()
            let readable = try await harness.trackPinned(1, status: "pending")[0]
            try await harness.store.track(tenant: "acme", videoID: "ghost", source: .watch, now: harness.now, nextPollAt: harness.now)
            if fault == "server_error" { harness.simulator.control.setFaults(FaultSettings(serverErrorRatio: 1, endpoints: [.get])) }
            var expectedDelays: [Duration] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600].map { .seconds($0) }
            var step = 0
            // Cycle by cycle, jumping straight to the ghost's next look; on the way, extra cycles where
            // only the readable video is due.
            while !expectedDelays.isEmpty {
                // A new (undocumented) status each time: each distinct one is an event.
                _ = harness.simulator.control.pin(videoID: readable, status: "stage-\(step)")
                let before = try await harness.eventTypes().count
                let report = await harness.poller.cycle()
                #expect(report.failure == nil && report.getCalls == 1 && report.unobservable == 1, "\(report)")
                #expect(try await harness.eventTypes().count == before + 1, "the readable video's change was seen")
                let ghost = try #require(try await harness.store.trackedVideo(tenant: "acme", videoID: "ghost"))
                let delay = expectedDelays.removeFirst()
                #expect(ghost.nextPollAt == harness.now + delay, "failure \(step + 1): next look after \(delay)")
                if delay >= .seconds(4) {
                    // Half-way there: the ghost is not due, so no get call at all.
                    harness.advance(delay.timeInterval / 2)
                    let between = await harness.poller.cycle()
                    #expect(between.getCalls == 0 && between.failure == nil, "\(between)")
                    harness.advance(delay.timeInterval / 2)
                } else {
                    harness.advance(delay.timeInterval)
                }
                step += 1
            }
        }
    }

    @Test("an unknown upstream status emits video.status_changed once")
    func unknownStatusOnce() async throws {
        try await Harness.with { harness in
            try await harness.trackPinned(1, status: "pending")
            harness.simulator.control.setFaults(FaultSettings(unknownStatusRatio: 1, unknownStatus: "moderation"))
            for _ in 0..<3 {
                harness.advance()
                _ = await harness.poller.cycle()
            }
            await #expect(try harness.eventTypes() == [.pending, .statusChanged])
        }
    }

    @Test("errors back off exponentially with jitter, capped; success resets")
    func backoff() async throws {
        try await Harness.with { harness in
            try await harness.trackPinned(1, status: "pending")
            harness.simulator.control.setFaults(FaultSettings(serverErrorRatio: 1))
            var delays: [Duration] = []
            for _ in 0..<8 {
                harness.advance(120)
                delays.append(await harness.poller.cycle().delay)
            }
            // interval 1 s × 2^n × 0.75 (jitter fixed at 0.5), capped at 60 s × 0.75.
            #expect(delays == [1.5, 3, 6, 12, 24, 45, 45, 45].map { Duration.milliseconds(Int($0 * 1000)) })
            harness.simulator.control.setFaults(.none)
            harness.advance(120)
            #expect(await harness.poller.cycle().delay == .seconds(1))
        }
    }

    @Test("videos non-terminal past the tracking limit expire once and stop being polled")
    func expiry() async throws {
        try await Harness.with(trackingLimit: .seconds(60)) { harness in
            try await harness.subscribe()
            try await harness.trackPinned(2, status: "in_progressing")
            harness.advance(61)
            let report = await harness.poller.cycle()
            #expect(report.mode == .idle)
            await #expect(try harness.eventTypes().filter { $0 == .trackingExpired }.count == 2)
            harness.advance(61)
            _ = await harness.poller.cycle()
            await #expect(try harness.eventTypes().filter { $0 == .trackingExpired }.count == 2)
            #expect(harness.simulator.control.callCounts().total == 0)
        }
    }
}

/// Holds the requests that carry `token` until the test opens `gate`: an account whose upstream hangs.
struct GatedTransport: HTTPTransport {
    let inner: any HTTPTransport
    let token: String
    let gate: Gate

    func send(_ request: OutboundRequest) async throws(CurlError) -> OutboundResponse {
        if request.headers["Authorization"]?.hasSuffix(token) == true { await gate.pass() }
        return try await inner.send(request)
    }
}

/// Closed until ``open()``; ``pass()`` waits at it (at most ten minutes, far beyond any test's own waits,
/// polling every 10 ms; ends at once when its task is cancelled).
final class Gate: Sendable {
    private let state = Mutex<(open: Bool, waiting: Int)>((false, 0))

    var waiting: Int { state.withLock { $0.waiting } }

    func open() { state.withLock { $0.open = true } }

    func pass() async {
        state.withLock { $0.waiting += 1 }
        defer { state.withLock { $0.waiting -= 1 } }
        for _ in 0..<60_000 where !state.withLock({ $0.open }) && !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }
}

/// Passes requests on and moves the test's clock by `by` for each: an upstream that takes that long.
struct AdvancingTransport: HTTPTransport {
    let inner: any HTTPTransport
    let clock: ManualClock
    let by: Duration

    func send(_ request: OutboundRequest) async throws(CurlError) -> OutboundResponse {
        let response = try await inner.send(request)
        clock.advance(by: by)
        return response
    }
}

/// Forwards to a real store and remembers how many observations each `recordObservations` carried,
/// and how it was asked to write repeats.
final class CountingTrackingStore: TrackingStore {
    let inner: any TrackingStore
    private let records = Mutex<[(count: Int, repeats: RepeatWrites)]>([])
    init(inner: any TrackingStore) { self.inner = inner }
    var recordSizes: [Int] { records.withLock { $0.map(\.count) } }
    var recordCalls: [(count: Int, repeats: RepeatWrites)] { records.withLock { $0 } }

    func dueVideos(now: Date, limit: Int, repeats: RepeatWrites, scope: TenantScope) async throws(StoreError) -> [DueVideo] {
        try await inner.dueVideos(now: now, limit: limit, repeats: repeats, scope: scope)
    }
    func recordObservations(
        _ observations: [Observation], now: Date, nextPollAt: Date, repeats: RepeatWrites, fence: PollerTerm?, scope: TenantScope
    ) async throws(StoreError) -> ObservationReport {
        records.withLock { $0.append((observations.count, repeats)) }
        return try await inner.recordObservations(observations, now: now, nextPollAt: nextPollAt, repeats: repeats, fence: fence, scope: scope)
    }
    func backOffPolling(videoIDs: [String], now: Date, interval: Duration, maximum: Duration, fence: PollerTerm?, scope: TenantScope)
        async throws(StoreError) -> [String: (failures: Int, delay: Duration)]
    {
        try await inner.backOffPolling(videoIDs: videoIDs, now: now, interval: interval, maximum: maximum, fence: fence, scope: scope)
    }
    func expireTracking(startedBefore cutoff: Date, now: Date, limit: Int, fence: PollerTerm?) async throws(StoreError) -> ObservationReport {
        try await inner.expireTracking(startedBefore: cutoff, now: now, limit: limit, fence: fence)
    }
    func acquirePollerLease(holder: String, now: Date, duration: Duration, lastCycle: Date?) async throws(StoreError) -> PollerTerm? {
        try await inner.acquirePollerLease(holder: holder, now: now, duration: duration, lastCycle: lastCycle)
    }
    func releasePollerLease(_ term: PollerTerm) async throws(StoreError) { try await inner.releasePollerLease(term) }
    func pollerLease() async throws(StoreError) -> PollerLeaseState? { try await inner.pollerLease() }
    func prune(olderThan cutoff: Date, batchSize: Int) async throws(StoreError) -> PruneReport {
        try await inner.prune(olderThan: cutoff, batchSize: batchSize)
    }
    func liveVideoCount() async throws(StoreError) -> Int { try await inner.liveVideoCount() }
    func nextPollTime() async throws(StoreError) -> Date? { try await inner.nextPollTime() }
}
