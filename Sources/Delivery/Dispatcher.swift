import BridgeCore
public import BridgeStore
public import CurlHTTP
public import Foundation
public import Logging
import Webhooks
public import ServiceLifecycle
import Synchronization

/// Sends due deliveries: claims them with a lease, signs and posts each through the curl transport,
/// and records every attempt. A long-running service.
///
/// Attempts on the wire and the store's writer work side by side: the dispatcher leases up to four times
/// as many deliveries as it has slots (``DispatcherConfiguration/leaseCapacity``), so a finished
/// attempt's slot takes the next claimed delivery at once, while one store transaction records a
/// batch of outcomes and claims the leases they free. A slot is never idle waiting for the writer.
///
/// It sleeps while nothing is due: a commit that queues deliveries wakes it at once, a timer wakes
/// it for the next scheduled retry, and finished attempts wake it to record them and claim again:
/// at once when lightly loaded, once per claim batch under load. On graceful shutdown it stops
/// claiming, releases the claimed deliveries not started yet, and lets attempts in flight finish
/// (each is bounded by the delivery timeout).
public final class Dispatcher: Service {
    private struct State {
        /// Attempts on the wire and the deliveries claimed ahead of them (leased to this dispatcher).
        var slots: Slots
        /// Leases a subscription may hold (the cap the store's claim enforces).
        let leasesPerSubscription: Int
        /// Claims made so far (each claim's id ends in its number).
        var claims = 0
        var finished: [CompletedAttempt] = []
        var stopping = false
        /// When the oldest outcome in `finished` came in (the batch window runs from it).
        var oldestUnrecorded: Duration?
        /// A batch-window wake-up is pending (at most one at a time, so a busy loop creates at most
        /// one timer task per window rather than one per batch).
        var batchTimerArmed = false
        /// Signing keys by secret text, prepared once (the loop drops them when secrets change a lot).
        var keys: [String: WebhookSigner.Key] = [:]

        /// Leases that stay held once `finished` is recorded.
        var busy: Int { slots.busy }

        /// Leases this dispatcher holds per subscription: on the wire, waiting for a slot, and finished
        /// but not yet recorded. Counted from those, so it cannot drift from them.
        var leased: InFlightCap {
            var cap = InFlightCap(limit: leasesPerSubscription, counts: slots.onWire.counts)
            for item in slots.waiting { cap.add(item.delivery.subscriptionID) }
            for outcome in finished { cap.add(outcome.subscriptionID) }
            return cap
        }

        /// Files outcomes to record; the batch window runs from the first one waiting.
        mutating func file(_ outcomes: [CompletedAttempt], at now: Duration) {
            guard !outcomes.isEmpty else { return }
            if finished.isEmpty { oldestUnrecorded = now }
            finished += outcomes
        }
    }

    private let store: any DeliveryStore
    private let transport: any HTTPTransport
    private let configuration: DispatcherConfiguration
    private let clock: any Clock<Duration>
    /// Time on `clock` since the dispatcher was made: batch windows and attempt latency.
    private let uptime: @Sendable () -> Duration
    private let now: @Sendable () -> Date
    private let random: @Sendable () -> Double
    private let logger: Logger
    private let leaseOwner: String
    private let state: Mutex<State>
    private let wake: AsyncStream<Void>.Continuation
    private let wakes: AsyncStream<Void>
    /// Told about each attempt (the demo's output).
    private let observer: (@Sendable (ClaimedDelivery, CompletedAttempt) -> Void)?
    private let metrics: DeliveryMetrics

    public init(
        store: any DeliveryStore,
        transport: any HTTPTransport,
        configuration: DispatcherConfiguration,
        clock: any Clock<Duration> = ContinuousClock(),
        now: @escaping @Sendable () -> Date = { Date() },
        random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) },
        logger: Logger,
        leaseOwner: String? = nil,
        metrics: DeliveryMetrics = DeliveryMetrics(),
        observer: (@Sendable (ClaimedDelivery, CompletedAttempt) -> Void)? = nil
    ) {
        self.metrics = metrics
        self.store = store
        self.transport = transport
        self.configuration = configuration
        state = Mutex(
            State(
                slots: Slots(
                    concurrency: configuration.concurrency, perSubscription: configuration.perSubscriptionLimit,
                    longestWait: configuration.longestQueueWait
                ),
                leasesPerSubscription: configuration.leasesPerSubscription
            )
        )
        self.clock = clock
        self.uptime = clock.stopwatch()
        self.now = now
        self.random = random
        self.logger = logger
        self.leaseOwner = leaseOwner ?? Identifier.make("lease")
        self.observer = observer
        (wakes, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    public func run() async throws {
        logger.info("dispatcher started", metadata: ["concurrency": "\(configuration.concurrency)"])
        await withGracefulShutdownHandler {
            await self.loop()
        } onGracefulShutdown: {
            self.state.withLock { $0.stopping = true }
            self.wake.yield()
        }
        logger.info("dispatcher stopped")
    }

    private func loop() async {
        let storeWakeUps = store.deliveryWakeUps()
        await withDiscardingTaskGroup { group in
            group.addTask { [wake] in
                for await _ in storeWakeUps { wake.yield() }
            }
            var wakeIterator = wakes.makeAsyncIterator()
            var timer: Task<Void, Never>?
            var failures = 0
            /// Since when free slots have waited for a full refill batch.
            var slotsWaitingSince: Duration?
            while !Task.isCancelled {
                let waited = slotsWaitingSince.map { uptime() - $0 >= Self.batchWindow } ?? false
                // After a failed turn, outcomes are written on their own first: a claim that keeps
                // failing must not keep finished attempts from being recorded.
                let turn = state.withLock { self.plan(&$0, anySlot: waited, recordFirst: failures > 0) }
                do {
                    let refill = try await take(turn)
                    startQueued(in: &group)
                    // Only a claim that went through ends the backoff (a record-only turn proves nothing
                    // about the claim that failed).
                    if turn.claim > 0 { failures = 0 }
                    timer?.cancel()
                    timer = nil
                    slotsWaitingSince = refill == .waitingForBatch ? (slotsWaitingSince ?? uptime()) : nil
                    if refill == .waitingForBatch {
                        // Hanging attempts may hold the other slots for a whole timeout: use these soon anyway.
                        armBatchTimer()
                    } else if refill == .idle {
                        timer = await idleTimer()
                    }
                } catch {
                    failures += 1
                    let delay = Duration.milliseconds(min(30_000, 100 << min(failures, 8)))
                    logger.error(
                        "could not record attempts or claim deliveries; will retry",
                        metadata: ["error": "\(error)", "outcomes": "\(turn.outcomes.count)", "retry_in": "\(delay)"]
                    )
                    timer?.cancel()
                    timer = startTimer(after: delay)
                }
                if turn.stopping, state.withLock({ $0.busy == 0 && $0.finished.isEmpty }) { break }
                guard await wakeIterator.next() != nil else { break }
            }
            timer?.cancel()
            group.cancelAll()
        }
        // Whatever finished after the loop stopped, and the claimed deliveries never started (given back).
        let left = state.withLock { state in
            state.stopping = true
            return self.plan(&state, anySlot: false, recordFirst: true)
        }
        _ = try? await take(left)
    }

    /// With slots free and nothing more due: a timer for the next due row (or lease running out).
    private func idleTimer() async -> Task<Void, Never>? {
        let cap = state.withLock { $0.leased }
        do {
            return startTimer(until: try await store.nextDeliveryWakeTime(now: now(), cap: cap))
        } catch {
            logger.error("could not read when the next delivery is due; looking again shortly", metadata: ["error": "\(error)"])
            return startTimer(after: .seconds(1))
        }
    }

    /// How long outcomes and free slots may wait for a full batch under load. Bounds the extra latency
    /// when hanging attempts hold most slots (they could otherwise hold a batch for a whole timeout).
    /// 20 ms cost ~15 % more CPU per delivery in delivery-bench (a busy loop lags that much, so the
    /// bound fired under plain load); 100 ms costs nothing measurable.
    static let batchWindow = Duration.milliseconds(100)

    enum Refill { case full, idle, waitingForBatch }

    /// One turn of the loop: the outcomes to record and how many deliveries to claim, written in one
    /// store transaction.
    struct Turn {
        var outcomes: [CompletedAttempt]
        var claim: Int
        var cap: InFlightCap
        var stopping: Bool
        var refillWithoutClaim: Refill
    }

    /// Decides a turn and takes its outcomes out of `finished` (``take(_:)`` puts them back if the
    /// store refuses them). Under load, outcomes wait for a claim batch (one transaction for many
    /// attempts) and free leases are claimed in batches: one claim for many instead of one per
    /// finished attempt; the claimed deliveries queued meanwhile keep every slot busy. With nothing
    /// leased, any free lease claims at once (no added latency when idle), and so does one that has
    /// waited `batchWindow`. `recordFirst`: outcomes to record are recorded without a claim (after a
    /// failed turn, and once the loop has stopped). Once stopping, the queued deliveries are released.
    private func plan(_ state: inout State, anySlot: Bool, recordFirst: Bool) -> Turn {
        if state.stopping { releaseQueued(&state) }
        var outcomes: [CompletedAttempt] = []
        if outcomesDue(state) {
            outcomes = state.finished
            state.finished.removeAll(keepingCapacity: true)
            state.oldestUnrecorded = nil
        }
        // Taken out of `finished` above: the leases this turn's outcomes free are no longer counted.
        let cap = state.leased
        // Leased once these outcomes are recorded (finished ones still waiting count as leased).
        let busy = state.busy + state.finished.count
        let free = state.stopping ? 0 : configuration.leaseCapacity - busy
        let refill: Refill = free <= 0 ? .full : .waitingForBatch
        let claiming = !(recordFirst && !outcomes.isEmpty)
        let claimNow = claiming && free > 0 && (busy == 0 || anySlot || free >= configuration.claimBatch)
        return Turn(outcomes: outcomes, claim: claimNow ? free : 0, cap: cap, stopping: state.stopping, refillWithoutClaim: refill)
    }

    /// Records the turn's outcomes and claims in one transaction, and queues the claimed deliveries
    /// (queued, they count as leased). On failure the outcomes go back to `finished` (they are
    /// retried; nothing was claimed).
    private func take(_ turn: Turn) async throws -> Refill {
        guard !turn.outcomes.isEmpty || turn.claim > 0 else { return turn.refillWithoutClaim }
        // Every claim has an id of its own (this dispatcher's, plus a count): an attempt is recorded only
        // while its own claim holds the lease, never over a later claim of the same row.
        let claimID = turn.claim == 0 ? "" : state.withLock { state -> String in
            state.claims += 1
            return "\(leaseOwner).\(state.claims)"
        }
        let request = ClaimRequest(limit: turn.claim, leaseOwner: claimID, leaseDuration: configuration.leaseDuration, cap: turn.cap)
        // Before the claim: a queued delivery's lease is never older than this says.
        let claimedAt = uptime()
        let result: OutboxTurn
        do {
            result = try await store.completeAttempts(turn.outcomes, thenClaim: request, now: now(), disableAfter: configuration.disableAfter)
        } catch {
            if !turn.outcomes.isEmpty {
                state.withLock { state in
                    state.finished.insert(contentsOf: turn.outcomes, at: 0)
                    state.oldestUnrecorded = state.oldestUnrecorded ?? uptime()
                }
            }
            throw error
        }
        for subscription in result.disabled {
            metrics.subscriptionDisabled(reason: subscription.reason.label)
            logger.warning(
                "subscription disabled; its deliveries are held until it is enabled again",
                metadata: ["subscription_id": "\(subscription.id)", "reason": "\(subscription.reason.text)"]
            )
        }
        let keys = signingKeys(for: result.claimed)
        state.withLock { state in
            for (delivery, keys) in zip(result.claimed, keys) {
                state.slots.enqueue(Slots.Waiting(delivery: delivery, keys: keys, claimedAt: claimedAt))
            }
        }
        guard turn.claim > 0 else { return turn.refillWithoutClaim }
        return result.claimed.count < turn.claim ? .idle : .full
    }

    /// Starts queued deliveries on free slots, one task per slot; each task goes on with the next
    /// queued delivery when its attempt ends.
    private func startQueued(in group: inout DiscardingTaskGroup) {
        let ready = state.withLock { state -> [Slots.Waiting] in
            var ready: [Slots.Waiting] = []
            while let next = self.nextStartable(&state) { ready.append(next) }
            return ready
        }
        for first in ready {
            group.addTask { await self.work(from: first) }
        }
    }

    /// One slot: attempts `first`, files its outcome in `finished`, and goes on with the next queued
    /// delivery that may start, until none is left; wakes the loop when a batch is due.
    private func work(from first: Slots.Waiting) async {
        var next: Slots.Waiting? = first
        while let item = next {
            let outcome = await self.attempt(item.delivery, keys: item.keys)
            metrics.attempt(outcome: outcome.disposition.label, latency: outcome.latency)
            observer?(item.delivery, outcome)
            let (following, wakeLoop, firstOfBatch) = state.withLock { state in
                state.slots.finished(outcome.subscriptionID)
                state.file([outcome], at: self.uptime())
                let following = state.stopping ? nil : self.nextStartable(&state)
                return (following, self.outcomesDue(state), state.finished.count == 1)
            }
            if wakeLoop {
                wake.yield()
            } else if firstOfBatch {
                // Record it within the batch window even if the rest of the batch hangs.
                armBatchTimer()
            }
            next = following
        }
    }

    /// The next claimed delivery to start on a free slot (see ``Slots/next(now:expired:)``); the ones
    /// that waited too long behind their subscription's own slow attempts are filed as `released`
    /// outcomes: another claim will send them, before their lease could run out under an attempt.
    private func nextStartable(_ state: inout State) -> Slots.Waiting? {
        var expired: [ClaimedDelivery] = []
        let now = uptime()
        let next = state.slots.next(now: now, expired: &expired)
        state.file(expired.map(released), at: now)
        return next
    }

    /// Files every claimed delivery not started yet as released (shutdown): nothing was sent, the
    /// lease is given back.
    private func releaseQueued(_ state: inout State) {
        state.file(state.slots.drain().map(released), at: uptime())
    }

    /// The outcome of a claimed delivery given back unsent.
    private func released(_ delivery: ClaimedDelivery) -> CompletedAttempt {
        CompletedAttempt(
            deliveryID: delivery.id, subscriptionID: delivery.subscriptionID, leaseOwner: delivery.claimID,
            attemptedAt: now(), latency: .zero, statusCode: nil, errorKind: nil, responseSnippet: nil, disposition: .released
        )
    }

    /// Each delivery's signing keys (valid secrets only), from the cache of prepared keys.
    private func signingKeys(for claimed: [ClaimedDelivery]) -> [[WebhookSigner.Key]] {
        state.withLock { state in
            if state.keys.count > 4096 { state.keys.removeAll() }
            return claimed.map { delivery in
                delivery.secrets.compactMap { text in
                    if let key = state.keys[text] { return key }
                    guard let secret = WebhookSecret(text) else { return nil }
                    let key = WebhookSigner.Key(secret)
                    state.keys[text] = key
                    return key
                }
            }
        }
    }

    /// Whether finished outcomes should be written now. Under load they are written (and the leases
    /// they free claimed again) once a claim batch has finished, not one transaction per attempt;
    /// when nothing else is leased, or on shutdown, at once. The finishing attempts only wake the
    /// loop when this holds, so a busy loop wakes once per batch.
    private func outcomesDue(_ state: State) -> Bool {
        guard !state.finished.isEmpty else { return false }
        return state.stopping || state.busy == 0 || configuration.leaseCapacity - state.busy >= configuration.claimBatch
            || state.oldestUnrecorded.map { uptime() - $0 >= Self.batchWindow } ?? false
    }

    /// Wakes the loop once the batch window has passed, unless such a wake-up is already pending.
    private func armBatchTimer() {
        let arm = state.withLock { state -> Bool in
            defer { state.batchTimerArmed = true }
            return !state.batchTimerArmed
        }
        guard arm else { return }
        _ = clock.timer(after: Self.batchWindow) { [self] in
            state.withLock { $0.batchTimerArmed = false }
            wake.yield()
        }
    }

    /// Arms the timer for the next due row; wakes the loop at once if it came due since the claim.
    private func startTimer(until date: Date?) -> Task<Void, Never>? {
        guard let date else { return startTimer(after: configuration.maxIdleWait) }
        let seconds = date.timeIntervalSince(now())
        guard seconds > 0 else {
            wake.yield()
            return nil
        }
        // Rounded up, so the loop never wakes a moment before the row is due and sleeps again.
        let delay = Duration.milliseconds(Int64((seconds * 1000).rounded(.up)))
        return startTimer(after: min(delay, configuration.maxIdleWait))
    }

    private func startTimer(after delay: Duration) -> Task<Void, Never> {
        clock.timer(after: delay) { [wake] in wake.yield() }
    }

    // MARK: - One attempt

    func attempt(_ delivery: ClaimedDelivery) async -> CompletedAttempt {
        await attempt(delivery, keys: delivery.secrets.compactMap(WebhookSecret.init).map(WebhookSigner.Key.init))
    }

    func attempt(_ delivery: ClaimedDelivery, keys: [WebhookSigner.Key]) async -> CompletedAttempt {
        let body = Data(delivery.payload.utf8)
        let started = now()
        let timestamp = Int64(started.timeIntervalSince1970)
        // The subscription's own headers first; the bridge's cannot be overridden (the API refuses
        // their names, and a stored one is skipped all the same).
        var headers = HeaderFields()
        for header in delivery.headers where !CustomHeader.isReserved(header.name) {
            headers.add(name: header.name, value: header.value)
        }
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "webhook-id", value: delivery.eventID)
        headers.add(name: "webhook-timestamp", value: String(timestamp))
        headers.add(name: "webhook-signature", value: WebhookSigner.header(id: delivery.eventID, timestamp: timestamp, body: body, keys: keys))
        let request = OutboundRequest(
            method: "POST",
            url: delivery.url,
            headers: headers,
            body: body,
            timeout: configuration.timeout,
            connectTimeout: min(configuration.timeout, .seconds(5)),
            maxResponseBytes: configuration.responseSnippetBytes,
            truncateLongBodies: true,
            destinationCheck: configuration.destinations.connectCheck
        )
        let clockStart = uptime()
        let result: Result<OutboundResponse, CurlError>
        do {
            result = .success(try await transport.send(request))
        } catch {
            result = .failure(error)
        }
        let latency = uptime() - clockStart
        let finished = now()
        var outcome = CompletedAttempt(
            deliveryID: delivery.id, subscriptionID: delivery.subscriptionID, leaseOwner: delivery.claimID,
            attemptedAt: started, latency: latency, statusCode: nil, errorKind: nil, responseSnippet: nil,
            disposition: .succeeded
        )
        switch result {
        case .success(let response):
            outcome.statusCode = response.status
            outcome.responseSnippet = String(decoding: response.body.prefix(configuration.responseSnippetBytes), as: UTF8.self)
            switch response.status {
            case 200..<300:
                outcome.disposition = .succeeded
            case 410:
                outcome.disposition = .gone
            case 429, 503:
                if let retryAfter = RetryAfter.parse(response.headers["retry-after"], now: finished) {
                    let scheduled = nextRetry(after: delivery.attemptNumber, at: finished)
                    let asked = finished + min(retryAfter, configuration.maxRetryAfter)
                    switch scheduled {
                    case .retry(let at): outcome.disposition = .throttled(until: max(at, asked))
                    default: outcome.disposition = scheduled
                    }
                } else {
                    outcome.disposition = nextRetry(after: delivery.attemptNumber, at: finished)
                }
            default:
                outcome.disposition = nextRetry(after: delivery.attemptNumber, at: finished)
            }
        case .failure(let error):
            outcome.errorKind = error.kind
            if error == .cancelled || error == .shutdown {
                outcome.disposition = .released
            } else {
                outcome.disposition = nextRetry(after: delivery.attemptNumber, at: finished)
            }
        }
        logger.debug(
            "delivery attempt",
            metadata: [
                "delivery_id": "\(delivery.id)", "event_id": "\(delivery.eventID)", "subscription_id": "\(delivery.subscriptionID)",
                "attempt": "\(delivery.attemptNumber)", "status": "\(outcome.statusCode.map(String.init) ?? outcome.errorKind ?? "")",
                "latency_ms": "\(Int(latency.components.attoseconds / 1_000_000_000_000_000 + latency.components.seconds * 1000))",
            ]
        )
        if outcome.disposition == .failed {
            logger.warning(
                "delivery failed after its last attempt",
                metadata: ["delivery_id": "\(delivery.id)", "event_id": "\(delivery.eventID)", "subscription_id": "\(delivery.subscriptionID)"]
            )
        }
        return outcome
    }

    private func nextRetry(after attempts: Int, at moment: Date) -> CompletedAttempt.Disposition {
        guard let delay = configuration.retrySchedule.delay(afterFailedAttempts: attempts, random: random()) else { return .failed }
        return .retry(at: moment + delay)
    }
}

extension CompletedAttempt.Disposition {
    var label: String {
        switch self {
        case .succeeded: "succeeded"
        case .retry: "retry"
        case .failed: "failed"
        case .gone: "gone"
        case .throttled: "throttled"
        case .released: "released"
        }
    }
}
