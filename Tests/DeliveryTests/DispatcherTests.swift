import BridgeCore
import BridgeStore
import CurlHTTP
import Delivery
import Foundation
import Logging
import MetricsTestKit
import SQLiteStore
import TestSupport
import Testing
import Synchronization
import Webhooks

/// The dispatcher against a real loopback receiver, through real curl, on a real SQLite file.
final class DeliveryHarness: TestResource {
    let directory: TemporaryDirectory
    let store: SQLiteBridgeStore
    let receiver: WebhookReceiver
    let transport: CurlTransport
    let task: Task<Void, any Error>
    let metrics = TestMetrics()
    /// When set, the dispatcher's clock and wall clock: time moves only when the test advances it.
    let clock: ManualClock?

    /// A delivery timeout far above anything a loaded machine adds to a loopback answer; tests of
    /// the timeout itself pass a short one and make the receiver hang far longer.
    init(
        schedule: [Duration] = [.zero, .milliseconds(50), .milliseconds(50), .milliseconds(50)],
        timeout: Duration = .seconds(30),
        concurrency: Int = 16,
        allowPrivate: Bool = true,
        disableAfter: Duration = .seconds(3600),
        clock: ManualClock? = nil,
        wrap: (SQLiteBridgeStore) -> any DeliveryStore = { $0 },
        script: @escaping WebhookReceiver.Script = { _, _ in .status(200) }
    ) async throws {
        self.clock = clock
        directory = try TemporaryDirectory("dispatch")
        store = try SQLiteBridgeStore(path: directory.path("bridge.sqlite"))
        receiver = try await WebhookReceiver.start(script: script)
        transport = try CurlTransport()
        var logger = Logger(label: "test.dispatcher")
        logger.logLevel = .critical
        let configuration = DispatcherConfiguration(
            concurrency: concurrency, timeout: timeout, retrySchedule: RetrySchedule(schedule),
            disableAfter: disableAfter, destinations: DestinationPolicy(allowPrivate: allowPrivate)
        )
        let dispatcher =
            if let clock {
                Dispatcher(
                    store: wrap(store), transport: transport, configuration: configuration,
                    clock: clock, now: clock.read, random: { 0.5 },
                    logger: logger, metrics: DeliveryMetrics(factory: metrics)
                )
            } else {
                Dispatcher(
                    store: wrap(store), transport: transport, configuration: configuration,
                    logger: logger, metrics: DeliveryMetrics(factory: metrics)
                )
            }
        task = Task { try await dispatcher.run() }
    }

    @discardableResult
    func subscribe(
        _ path: String,
        tenant: String = "acme",
        events: [EventType]? = nil,
        videoID: String? = nil,
        secret: WebhookSecret = .generate()
    ) async throws -> (subscription: Subscription, secret: WebhookSecret) {
        let subscription = try await store.createSubscription(
            NewSubscription(tenant: tenant, url: receiver.url(path), eventTypes: events, videoID: videoID, secret: secret.text),
            now: now
        )
        return (subscription, secret)
    }

    /// Records `statuses` for a video as successive observations (the first one starts tracking).
    func observe(_ videoID: String, _ statuses: [String], tenant: String = "acme") async throws {
        for (index, status) in statuses.enumerated() {
            let observation = Observation(videoID: videoID, status: status, videoURL: status == "finished" ? "https://cdn/\(videoID).mp4" : nil)
            if index == 0 {
                try await store.track(tenant: tenant, videoID: videoID, source: .watch, initial: observation, now: now, nextPollAt: now)
            } else {
                try await store.recordObservations([observation], now: now, nextPollAt: now)
            }
        }
    }

    func deliveries(_ state: DeliveryState? = nil, tenant: String = "acme") async throws -> [DeliveryRecord] {
        try await store.deliveries(tenant: tenant, state: state, limit: 100_000)
    }

    /// The dispatcher's notion of now: the manual clock's date, or the real one.
    var now: Date { clock?.date ?? Date() }

    func waitFor(_ limit: Duration = .seconds(30), _ condition: @Sendable () async throws -> Bool) async -> Bool {
        await eventually(within: limit) { (try? await condition()) ?? false }
    }

    /// Runs `body` with a fresh harness and stops it afterwards, also when `body` throws.
    static func with<T>(
        schedule: [Duration] = [.zero, .milliseconds(50), .milliseconds(50), .milliseconds(50)],
        timeout: Duration = .seconds(30),
        concurrency: Int = 16,
        allowPrivate: Bool = true,
        disableAfter: Duration = .seconds(3600),
        clock: ManualClock? = nil,
        wrap: (SQLiteBridgeStore) -> any DeliveryStore = { $0 },
        script: @escaping WebhookReceiver.Script = { _, _ in .status(200) },
        _ body: (DeliveryHarness) async throws -> T
    ) async throws -> T {
        let harness = try await DeliveryHarness(
            schedule: schedule, timeout: timeout, concurrency: concurrency, allowPrivate: allowPrivate,
            disableAfter: disableAfter, clock: clock, wrap: wrap, script: script
        )
        return try await withResource(harness, body)
    }

    func stop() async {
        task.cancel()
        _ = await task.result
        transport.shutdown()
        await receiver.stop()
        directory.remove()
    }
}

/// The real store, except that claims fail while `failing` is set (a database that refuses the
/// claim's statements); recording outcomes still works.
final class FlakyClaims: DeliveryStore {
    let store: SQLiteBridgeStore
    let failing = Mutex(false)

    init(_ store: SQLiteBridgeStore) { self.store = store }

    func completeAttempts(_ attempts: [CompletedAttempt], thenClaim claim: ClaimRequest, now: Date, disableAfter: Duration)
        async throws(StoreError) -> OutboxTurn
    {
        if claim.limit > 0, failing.withLock({ $0 }) { throw StoreError.busy }
        return try await store.completeAttempts(attempts, thenClaim: claim, now: now, disableAfter: disableAfter)
    }

    func nextDeliveryWakeTime(now: Date, cap: InFlightCap) async throws(StoreError) -> Date? {
        try await store.nextDeliveryWakeTime(now: now, cap: cap)
    }

    func deliveryWakeUps() -> AsyncStream<Void> { store.deliveryWakeUps() }
}

/// The real store, noting what the dispatcher claims and the outcomes it hands back.
final class OutcomeLog: DeliveryStore {
    let store: SQLiteBridgeStore
    let claimed = Mutex<[Int64]>([])
    let outcomes = Mutex<[CompletedAttempt]>([])

    init(_ store: SQLiteBridgeStore) { self.store = store }

    func completeAttempts(_ attempts: [CompletedAttempt], thenClaim claim: ClaimRequest, now: Date, disableAfter: Duration)
        async throws(StoreError) -> OutboxTurn
    {
        let turn = try await store.completeAttempts(attempts, thenClaim: claim, now: now, disableAfter: disableAfter)
        outcomes.withLock { $0 += attempts }
        claimed.withLock { $0 += turn.claimed.map(\.id) }
        return turn
    }

    func nextDeliveryWakeTime(now: Date, cap: InFlightCap) async throws(StoreError) -> Date? {
        try await store.nextDeliveryWakeTime(now: now, cap: cap)
    }

    func deliveryWakeUps() -> AsyncStream<Void> { store.deliveryWakeUps() }
}

/// The real store, except that a turn with outcomes to record waits while `holding` is set (a
/// writer busy for as long as the test likes); claim-only turns go through.
final class HeldRecords: DeliveryStore {
    let store: SQLiteBridgeStore
    let holding = Mutex(true)
    /// Turns with outcomes that have started waiting.
    let waiting = Mutex(0)

    init(_ store: SQLiteBridgeStore) { self.store = store }

    func completeAttempts(_ attempts: [CompletedAttempt], thenClaim claim: ClaimRequest, now: Date, disableAfter: Duration)
        async throws(StoreError) -> OutboxTurn
    {
        if !attempts.isEmpty {
            waiting.withLock { $0 += 1 }
            // Bounded by the test: it opens the gate, or its harness cancels the dispatcher.
            while holding.withLock({ $0 }), !Task.isCancelled { try? await Task.sleep(for: .milliseconds(5)) }
        }
        return try await store.completeAttempts(attempts, thenClaim: claim, now: now, disableAfter: disableAfter)
    }

    func nextDeliveryWakeTime(now: Date, cap: InFlightCap) async throws(StoreError) -> Date? {
        try await store.nextDeliveryWakeTime(now: now, cap: cap)
    }

    func deliveryWakeUps() -> AsyncStream<Void> { store.deliveryWakeUps() }
}

@Suite("Dispatcher")
struct DispatcherTests {
    /// Claiming ahead: 2 slots lease all 4 deliveries (up to 8), so when the first two attempts end their slots
    /// send the other two at once, while the store has not even recorded the first outcomes (it is
    /// held here). Without deliveries claimed ahead, only 2 callbacks could arrive until it records.
    @Test("a slot whose attempt ended sends the next claimed delivery without waiting for the store to record")
    func slotsDoNotWaitForTheWriter() async throws {
        let held = Mutex<HeldRecords?>(nil)
        try await DeliveryHarness.with(concurrency: 2, wrap: { store in
            let wrapper = HeldRecords(store)
            held.withLock { $0 = wrapper }
            return wrapper
        }) { harness in
            let gate = try #require(held.withLock { $0 })
            try await harness.subscribe("hook", events: [.finished])
            let videos = (0..<4).map { "v\($0)" }
            for video in videos { try await harness.observe(video, ["in_progressing"]) }
            // One commit queues all four: one claim leases them.
            try await harness.store.recordObservations(videos.map { Observation(videoID: $0, status: "finished") }, now: Date(), nextPollAt: Date())
            #expect(await harness.waitFor(.seconds(60)) { harness.receiver.received(path: "hook").count == 4 })
            #expect(gate.waiting.withLock { $0 } >= 1, "a turn with outcomes is waiting for the store")
            #expect(try await harness.deliveries(.succeeded).isEmpty, "no outcome recorded while the store is held")
            gate.holding.withLock { $0 = false }
            #expect(await harness.waitFor(.seconds(60)) { try await harness.deliveries(.succeeded).count == 4 })
            #expect(harness.receiver.received(path: "hook").count == 4, "each sent once")
        }
    }

    /// A claimed delivery that waited longer than twice the delivery timeout behind its own
    /// subscription's slow attempts is given back unsent (its lease could otherwise run out under an
    /// attempt) and sent under a claim of its own. 9 slots, 8 per subscription on the wire: the ninth
    /// waits for room within its subscription. On a manual clock the wait passes at once; the ninth is
    /// given back at the next look at the queue (a timer's turn, or the gated first attempt ending).
    @Test("a claimed delivery that waited too long for a slot is given back unsent, then claimed and sent again")
    func longWaitersAreGivenBack() async throws {
        let clock = ManualClock()
        let gate = WebhookReceiver.Gate()
        defer { gate.open() }
        let log = Mutex<OutcomeLog?>(nil)
        let script: WebhookReceiver.Script = { path, index in index == 0 ? .gated(gate) : .hang(.seconds(600)) }
        try await DeliveryHarness.with(timeout: .seconds(300), concurrency: 9, clock: clock, wrap: { store in
            let wrapper = OutcomeLog(store)
            log.withLock { $0 = wrapper }
            return wrapper
        }, script: script) { harness in
            let store = try #require(log.withLock { $0 })
            try await harness.subscribe("slow")
            for index in 0..<9 { try await harness.observe("v\(index)", ["pending"]) }
            #expect(await harness.waitFor(.seconds(60)) { harness.receiver.received(path: "slow").count == 8 })
            #expect(await harness.waitFor(.seconds(60)) { store.claimed.withLock { $0.count } == 9 }, "the ninth is claimed ahead")
            // Longer than 2 × the timeout (lease 3 × 300 s + 5 s − the timeout − 5 s = 600 s).
            clock.advance(by: .seconds(601))
            gate.open()
            #expect(await harness.waitFor(.seconds(60)) { store.outcomes.withLock { $0.contains { $0.disposition == .released } } })
            let released = store.outcomes.withLock { $0.filter { $0.disposition == .released } }
            let givenBack = try #require(released.first)
            #expect(released.count == 1 && givenBack.latency == .zero, "given back without an attempt: \(released)")
            #expect(await harness.waitFor(.seconds(60)) { harness.receiver.received(path: "slow").count == 9 })
            #expect(Set(harness.receiver.received(path: "slow").map(\.id)).count == 9, "each sent once")
            #expect(store.claimed.withLock { $0.filter { $0 == givenBack.deliveryID }.count } == 2, "claimed again after the give-back")
            let given = try #require(try await harness.deliveries().first { $0.id == givenBack.deliveryID })
            #expect(given.lastAttempt == nil, "the give-back recorded no attempt")
        }
    }

    @Test("a callback arrives signed; the official library and our verifier accept it")
    func success() async throws {
        try await DeliveryHarness.with { harness in
            let (subscription, secret) = try await harness.subscribe("hook")
            try await harness.observe("v1", ["finished"])
            #expect(await harness.waitFor { try await harness.deliveries(.succeeded).count == 1 })
            let received = try #require(harness.receiver.received.first)
            let event = try await #require(try await harness.store.events(tenant: "acme").first)
            #expect(received.id == event.id)
            #expect(received.body == Data(event.payload.utf8))
            #expect(received.type == "video.finished" && received.videoID == "v1")
            let timestamp = try #require(Int64(received.timestamp))
            #expect(abs(Double(timestamp) - Date().timeIntervalSince1970) < 300)
            #expect(WebhookSigner.verify(id: received.id, timestamp: timestamp, body: received.body, header: received.signature, secrets: [secret]))
            let verified = try await verifyWithOfficialLibrary([[
                "secret": secret.text, "id": received.id, "timestamp": received.timestamp, "signature": received.signature,
                "body": String(decoding: received.body, as: UTF8.self),
            ]])
            #expect(verified == [true])
            let (delivery, attempts) = try await #require(try await harness.store.delivery(tenant: "acme", id: harness.deliveries()[0].id))
            #expect(delivery.subscriptionID == subscription.id && delivery.state == .succeeded && delivery.attempts == 1)
            #expect(attempts.map(\.statusCode) == [200])
        }
    }

    @Test("retries after failures keep the webhook-id; each attempt's error is recorded")
    func retriesKeepID() async throws {
        try await DeliveryHarness.with(script: { _, index in index < 2 ? .status(500, body: "oops") : .status(204) }) { harness in
            try await harness.subscribe("flaky")
            try await harness.observe("v1", ["pending"])
            #expect(await harness.waitFor { try await harness.deliveries(.succeeded).count == 1 })
            let received = harness.receiver.received
            #expect(received.count == 3)
            #expect(Set(received.map(\.id)).count == 1)
            let (_, attempts) = try await #require(try await harness.store.delivery(tenant: "acme", id: harness.deliveries()[0].id))
            #expect(attempts.map(\.statusCode) == [500, 500, 204])
            #expect(try harness.metrics.expectCounter("bridge_delivery_attempts_total", [("outcome", "retry")]).totalValue == 2)
            #expect(try harness.metrics.expectCounter("bridge_delivery_attempts_total", [("outcome", "succeeded")]).totalValue == 1)
            #expect(attempts.first?.responseSnippet == "oops")
        }
    }

    /// On a manual clock: a claim that keeps failing is retried after 200 ms, 400 ms, 800 ms (the
    /// backoff grows; no turn in between resets it), and delivery resumes once claims work again.
    @Test("claims that keep failing back off, doubling each time; delivery resumes when the store recovers")
    func claimFailuresBackOff() async throws {
        let clock = ManualClock()
        var flaky: FlakyClaims?
        // A 15 s timeout makes v1's lease 50 s: while v1 is in flight the dispatcher sleeps at most
        // that long, so a 60 s sleeper (its idle maximum) only exists once the recording turn is over.
        try await DeliveryHarness.with(timeout: .seconds(15), clock: clock, wrap: { store in
            let wrapped = FlakyClaims(store)
            flaky = wrapped
            return wrapped
        }) { harness in
            let store = try #require(flaky)
            try await harness.subscribe("hook")
            try await harness.observe("v1", ["pending"])
            #expect(await harness.waitFor { try await harness.deliveries(.succeeded).count == 1 })
            // Idle (asleep for its longest wait, so the turn that recorded v1 has ended) before claims
            // start failing: a turn still under way could otherwise see v2's commit as a second wake-up
            // and fail twice before the first backoff.
            #expect(await clock.waitForSleeper(remaining: .seconds(60)), "idle: \(clock.pendingSleeps)")
            store.failing.withLock { $0 = true }
            try await harness.observe("v2", ["pending"])
            for delay in [200, 400, 800] as [Int64] {
                #expect(await clock.waitForSleeper(remaining: .milliseconds(delay)), "backoff \(delay) ms: \(clock.pendingSleeps)")
                if delay < 800 { clock.advance(by: .milliseconds(delay)) }
            }
            #expect(harness.receiver.received.count == 1, "nothing claimed while claims fail")
            store.failing.withLock { $0 = false }
            clock.advance(by: .milliseconds(800))
            #expect(await harness.waitFor { try await harness.deliveries(.succeeded).count == 2 })
            #expect(harness.receiver.received.count == 2)
        }
    }

    /// Stepped on a manual clock: each retry waits exactly its scheduled delay (jitter fixed at the
    /// middle), and after the last one the delivery is failed and nothing more is sent.
    @Test("the retry schedule is followed step by step; an exhausted schedule marks the delivery failed")
    func exhausted() async throws {
        let clock = ManualClock()
        try await DeliveryHarness.with(schedule: [.zero, .seconds(5), .seconds(300)], clock: clock, script: { _, _ in .status(503) }) { harness in
            try await harness.subscribe("down")
            try await harness.observe("v1", ["pending"])
            let created = harness.now
            #expect(await harness.waitFor { try await harness.deliveries()[0].attempts == 1 })
            await #expect(try await harness.deliveries()[0].nextAttemptAt == created + .seconds(5))
            await #expect(try await harness.deliveries(.pending).count == 1)
            #expect(await clock.waitForSleeper(remaining: .seconds(5)), "asleep until the retry: \(clock.pendingSleeps)")

            clock.advance(by: .seconds(5))
            #expect(await harness.waitFor { try await harness.deliveries()[0].attempts == 2 })
            await #expect(try await harness.deliveries()[0].nextAttemptAt == created + .seconds(305))
            #expect(harness.receiver.received.count == 2)
            // 300 s away: the dispatcher wakes at least once a minute (its idle maximum) and checks.
            #expect(await clock.waitForSleeper(remaining: .seconds(60)), "\(clock.pendingSleeps)")

            clock.advance(by: .seconds(300))
            #expect(await harness.waitFor { try await harness.deliveries(.failed).count == 1 })
            // Nothing is due any more: the dispatcher only waits its idle maximum.
            #expect(await clock.waitForSleeper(remaining: .seconds(60)), "\(clock.pendingSleeps)")
            clock.advance(by: .seconds(60))
            #expect(await clock.waitForSleeper(remaining: .seconds(60)), "\(clock.pendingSleeps)")
            #expect(harness.receiver.received.count == 3)
            await #expect(try await harness.deliveries()[0].attempts == 3)
        }
    }

    @Test("410 disables the subscription; later events are held; re-enabling delivers them in order")
    func goneHoldsThenReleasesInOrder() async throws {
        try await DeliveryHarness.with(script: { _, index in index == 0 ? .status(410) : .status(200) }) { harness in
            let (subscription, _) = try await harness.subscribe("gone")
            try await harness.observe("v1", ["pending"])
            #expect(await harness.waitFor { try await harness.store.subscription(tenant: "acme", id: subscription.id)?.isEnabled == false })
            await #expect(try await harness.store.subscription(tenant: "acme", id: subscription.id)?.disabledReason?.contains("410") == true)
            #expect(await harness.waitFor { try harness.metrics.expectCounter("bridge_subscriptions_disabled_total", [("reason", "gone")]).totalValue == 1 })
            try await harness.observe("v2", ["pending", "in_progressing", "finished"])
            try await harness.store.recordObservations([Observation(videoID: "v1", status: "finished")], now: Date(), nextPollAt: Date())
            // Held at insert time: nothing is due, so nothing is sent.
            await #expect(try await harness.deliveries(.held).count == 5)
            #expect(harness.receiver.received.count == 1)

            try await harness.store.setSubscriptionEnabled(tenant: "acme", id: subscription.id, enabled: true, now: Date())
            #expect(await harness.waitFor { try await harness.deliveries(.succeeded).count == 5 })
            let delivered = harness.receiver.received.dropFirst()
            #expect(delivered.filter { $0.videoID == "v2" }.map(\.status) == ["pending", "in_progressing", "finished"])
            #expect(delivered.filter { $0.videoID == "v1" }.map(\.status) == ["pending", "finished"])
        }
    }

    @Test("replay re-sends every matching event since a time with the same webhook-id")
    func replay() async throws {
        try await DeliveryHarness.with { harness in
            let (subscription, _) = try await harness.subscribe("replay", events: [.finished, .pending])
            try await harness.observe("v1", ["pending", "in_progressing", "finished"])
            #expect(await harness.waitFor { try await harness.deliveries(.succeeded).count == 2 })
            let firstIDs = harness.receiver.received.map(\.id)
            let queued = try await harness.store.replay(tenant: "acme", subscriptionID: subscription.id, since: Date().addingTimeInterval(-60), now: Date())
            #expect(queued?.queued == 2 && queued?.more == false)
            await #expect(try await harness.store.replay(tenant: "globex", subscriptionID: subscription.id, since: .distantPast, now: Date()) == nil)
            #expect(await harness.waitFor { try await harness.deliveries(.succeeded).count == 4 })
            #expect(harness.receiver.received.map(\.id) == firstIDs + firstIDs)
            let none = try await harness.store.replay(tenant: "acme", subscriptionID: subscription.id, since: Date().addingTimeInterval(60), now: Date())
            #expect(none?.queued == 0)
        }
    }

    /// On a manual clock: the dispatcher schedules the next attempt at Retry-After (10 s), not at the
    /// schedule's 50 ms, sleeps exactly until then, and sends it once the clock gets there.
    @Test("429 with Retry-After pushes the next attempt out")
    func retryAfter() async throws {
        let clock = ManualClock()
        let script: WebhookReceiver.Script = { _, index in index == 0 ? .status(429, headers: ["Retry-After": "10"]) : .status(200) }
        try await DeliveryHarness.with(clock: clock, script: script) { harness in
            try await harness.subscribe("busy")
            try await harness.observe("v1", ["pending"])
            let created = harness.now
            #expect(await harness.waitFor { try await harness.deliveries()[0].attempts == 1 })
            await #expect(try await harness.deliveries()[0].nextAttemptAt == created + .seconds(10))
            #expect(await clock.waitForSleeper(remaining: .seconds(10)), "asleep until Retry-After: \(clock.pendingSleeps)")

            clock.advance(by: .seconds(9))
            #expect(await clock.waitForSleeper(remaining: .seconds(1)), "\(clock.pendingSleeps)")
            await #expect(try await harness.deliveries()[0].attempts == 1 && harness.receiver.received.count == 1)
            clock.advance(by: .seconds(1))
            #expect(await harness.waitFor { try await harness.deliveries(.succeeded).count == 1 })
            #expect(harness.receiver.received.count == 2)
        }
    }

    @Test("a 3xx is a failure and is not followed")
    func redirectNotFollowed() async throws {
        let script: WebhookReceiver.Script = { path, _ in path == "moved" ? .status(302, headers: ["Location": "/elsewhere"]) : .status(200) }
        try await DeliveryHarness.with(schedule: [.zero], script: script) { harness in
            try await harness.subscribe("moved")
            try await harness.observe("v1", ["pending"])
            #expect(await harness.waitFor { try await harness.deliveries(.failed).count == 1 })
            #expect(harness.receiver.received(path: "elsewhere").isEmpty)
            let (_, attempts) = try await #require(try await harness.store.delivery(tenant: "acme", id: harness.deliveries()[0].id))
            #expect(attempts.map(\.statusCode) == [302])
        }
    }

    /// The timeout under test is short; the receiver hangs far longer, so only the timeout can end it.
    @Test("a receiver that does not answer in time is a timeout, recorded as such")
    func timeout() async throws {
        try await DeliveryHarness.with(schedule: [.zero], timeout: .milliseconds(300), script: { _, _ in .hang(.seconds(600)) }) { harness in
            try await harness.subscribe("slow")
            try await harness.observe("v1", ["pending"])
            #expect(await harness.waitFor(.seconds(120)) { try await harness.deliveries(.failed).count == 1 })
            let (_, attempts) = try await #require(try await harness.store.delivery(tenant: "acme", id: harness.deliveries()[0].id))
            // Normally one attempt. Under the whole suite's load the process can stall past the lease
            // (3 × timeout + 5 s) before the outcome is written, and the row is then claimed again,
            // as at-least-once allows: every attempt recorded must still be a timeout.
            #expect(!attempts.isEmpty && attempts.allSatisfy { $0.errorKind == "timeout" }, "\(attempts)")
            #expect(attempts.first.map { $0.latencyMilliseconds >= 250 } == true)
        }
    }

    /// The property itself: every fast callback arrives while the hanging attempts are still open
    /// (they hang far longer than the test waits, so no timing can make this pass by accident).
    @Test("a hanging receiver does not delay another subscription")
    func noHeadOfLineBlocking() async throws {
        let script: WebhookReceiver.Script = { path, _ in path == "hang" ? .hang(.seconds(600)) : .status(200) }
        try await DeliveryHarness.with(timeout: .seconds(300), concurrency: 16, script: script) { harness in
            let (hanging, _) = try await harness.subscribe("hang")
            try await harness.subscribe("fast")
            for index in 0..<40 { try await harness.observe("v\(index)", ["pending"]) }
            #expect(await harness.waitFor(.seconds(60)) { harness.receiver.received(path: "fast").count == 40 })
            #expect(await harness.waitFor(.seconds(60)) { try await harness.deliveries(.succeeded).count == 40 })
            let stuck = try await harness.deliveries().filter { $0.subscriptionID == hanging.id }
            #expect(stuck.count == 40 && stuck.allSatisfy { $0.attempts == 0 }, "no hanging attempt has ended yet")
            #expect(harness.receiver.received(path: "hang").count <= 8, "the hanging receiver holds at most its own slots")
        }
    }

    /// Under load the dispatcher records outcomes and refills slots in batches; a batch must not wait
    /// for hanging attempts to time out when they hold nearly every slot. The hanging attempts'
    /// timeout is far beyond the test's wait, so the healthy callbacks can only arrive through the
    /// batch window.
    @Test("hanging attempts holding all but one slot: the free slot is used and outcomes recorded while they hang")
    func nearSaturationByHangingAttempts() async throws {
        // 9 slots, refill batch 2, 8 per subscription: the hanging subscription holds 8 of 9.
        let script: WebhookReceiver.Script = { path, _ in path == "hang" ? .hang(.seconds(600)) : .status(200) }
        try await DeliveryHarness.with(timeout: .seconds(300), concurrency: 9, script: script) { harness in
            let (hanging, _) = try await harness.subscribe("hang", events: [.pending])
            for index in 0..<8 { try await harness.observe("a\(index)", ["pending"]) }
            #expect(await harness.waitFor(.seconds(60)) { harness.receiver.received(path: "hang").count == 8 })
            try await harness.subscribe("fast", videoID: "vb")
            try await harness.observe("vb", ["pending", "in_progressing"])
            // Two callbacks in order, the second only after the first is recorded.
            #expect(await harness.waitFor(.seconds(60)) { harness.receiver.received(path: "fast").count == 2 })
            #expect(harness.receiver.received(path: "fast").map(\.status) == ["pending", "in_progressing"])
            #expect(await harness.waitFor(.seconds(60)) { try await harness.deliveries(.succeeded).count == 2 })
            let stuck = try await harness.deliveries().filter { $0.subscriptionID == hanging.id }
            // 8 in flight, the ninth (vb's pending) waiting for one of the subscription's slots.
            #expect(stuck.count == 9 && stuck.allSatisfy { $0.attempts == 0 }, "the hanging attempts are all still open")
        }
    }

    @Test("per subscription and video, callbacks arrive in observation order under concurrency and failures")
    func orderingUnderConcurrency() async throws {
        let script: WebhookReceiver.Script = { _, index in
            // One request in five fails; answers take a varying time.
            index % 5 == 1 ? .status(500) : .delayThen(.milliseconds(Int64(index % 7)), 200)
        }
        try await DeliveryHarness.with(schedule: Array(repeating: .milliseconds(20), count: 12), concurrency: 32, script: script) { harness in
            try await harness.subscribe("a")
            try await harness.subscribe("b")
            let videos = (0..<30).map { "video-\($0)" }
            for video in videos { try await harness.observe(video, ["pending"]) }
            for status in ["in_progressing", "finished"] {
                try await harness.store.recordObservations(videos.map { Observation(videoID: $0, status: status) }, now: Date(), nextPollAt: Date())
            }
            let allSucceeded = await harness.waitFor(.seconds(120)) { try await harness.deliveries(.succeeded).count == 30 * 3 * 2 }
            let counts = String(describing: try? await harness.store.counts().deliveries)
            #expect(allSucceeded, "\(counts)")
            for path in ["a", "b"] {
                let received = harness.receiver.received(path: path)
                var firstDelivery: [String: [String]] = [:]
                var seen = Set<String>()
                for message in received where seen.insert(message.id).inserted {
                    firstDelivery[message.videoID ?? "", default: []].append(message.status ?? "")
                }
                for video in videos {
                    #expect(firstDelivery[video] == ["pending", "in_progressing", "finished"], "\(path)/\(video)")
                }
            }
        }
    }

    @Test("with private destinations disallowed, a loopback receiver is never connected to")
    func ssrfBlockedAtConnect() async throws {
        try await DeliveryHarness.with(schedule: [.zero], allowPrivate: false) { harness in
            try await harness.subscribe("internal")
            try await harness.observe("v1", ["pending"])
            #expect(await harness.waitFor { try await harness.deliveries(.failed).count == 1 })
            #expect(harness.receiver.received.isEmpty)
            let (_, attempts) = try #require(try await harness.store.delivery(tenant: "acme", id: harness.deliveries()[0].id))
            #expect(attempts.map(\.errorKind) == ["blocked_destination"])
        }
    }

    @Test("ping and secret rotation: both signatures during the grace period, each verifies")
    func pingAndRotation() async throws {
        try await DeliveryHarness.with { harness in
            let (subscription, old) = try await harness.subscribe("rotate")
            #expect(try await harness.store.ping(tenant: "acme", subscriptionID: subscription.id, now: Date()) != nil)
            #expect(await harness.waitFor { harness.receiver.received.count == 1 })
            let new = WebhookSecret.generate()
            #expect(try await harness.store.rotateSecret(tenant: "acme", subscriptionID: subscription.id, newSecret: new.text, grace: .seconds(3600), now: Date()))
            _ = try await harness.store.ping(tenant: "acme", subscriptionID: subscription.id, now: Date())
            #expect(await harness.waitFor { harness.receiver.received.count == 2 })
            let (first, second) = (harness.receiver.received[0], harness.receiver.received[1])
            #expect(first.type == "ping" && first.signature.split(separator: " ").count == 1)
            #expect(second.signature.split(separator: " ").count == 2)
            let body = String(decoding: second.body, as: UTF8.self)
            let verified = try await verifyWithOfficialLibrary([old, new].map {
                ["secret": $0.text, "id": second.id, "timestamp": second.timestamp, "signature": second.signature, "body": body]
            } + [[
                "secret": new.text, "id": first.id, "timestamp": first.timestamp, "signature": first.signature,
                "body": String(decoding: first.body, as: UTF8.self),
            ]])
            #expect(verified == [true, true, false])
            // After the grace period only the new secret signs.
            #expect(try await harness.store.rotateSecret(tenant: "acme", subscriptionID: subscription.id, newSecret: WebhookSecret.generate().text, grace: .zero, now: Date()))
        }
    }

    /// On a manual clock: failing since t = 0, still enabled after the failure at t = 10 s, disabled by
    /// the failure at t = 20 s (past the 15 s limit), and its delivery held rather than retried.
    @Test("a subscription failing for longer than the limit is disabled and its deliveries held")
    func disabledAfterFailingTooLong() async throws {
        let clock = ManualClock()
        let schedule: [Duration] = [.zero, .seconds(10), .seconds(10), .seconds(10), .seconds(10)]
        try await DeliveryHarness.with(schedule: schedule, disableAfter: .seconds(15), clock: clock, script: { _, _ in .status(500) }) { harness in
            let (subscription, _) = try await harness.subscribe("dying")
            try await harness.observe("v1", ["pending"])
            #expect(await harness.waitFor { try await harness.deliveries()[0].attempts == 1 })
            #expect(await clock.waitForSleeper(remaining: .seconds(10)), "\(clock.pendingSleeps)")
            clock.advance(by: .seconds(10))
            #expect(await harness.waitFor { try await harness.deliveries()[0].attempts == 2 })
            #expect(try await harness.store.subscription(tenant: "acme", id: subscription.id)?.isEnabled == true, "failing 10 s < 15 s")
            #expect(await clock.waitForSleeper(remaining: .seconds(10)), "\(clock.pendingSleeps)")
            clock.advance(by: .seconds(10))
            #expect(await harness.waitFor { try await harness.deliveries()[0].attempts == 3 })
            let disabled = try await harness.store.subscription(tenant: "acme", id: subscription.id)
            #expect(disabled?.isEnabled == false && disabled?.disabledReason?.contains("failing") == true)
            #expect(try harness.metrics.expectCounter("bridge_subscriptions_disabled_total", [("reason", "failing")]).totalValue == 1)
            #expect(try await harness.deliveries(.held).count == 1)
            #expect(await clock.waitForSleeper(remaining: .seconds(60)), "only the idle wait: \(clock.pendingSleeps)")
            clock.advance(by: .seconds(60))
            #expect(await clock.waitForSleeper(remaining: .seconds(60)), "\(clock.pendingSleeps)")
            #expect(harness.receiver.received.count == 3)
        }
    }
}
