public import Foundation

/// What the dispatcher needs from storage: the outbox. Claims carry a lease so a crashed sender's
/// rows come back; completion compares the lease owner so a stale sender cannot overwrite a newer claim.
public protocol DeliveryStore: Sendable {
    /// One turn of the outbox, in one transaction: records `attempts` and their outcomes (returning
    /// the subscriptions this disabled), then claims due deliveries in per-(subscription, video) order,
    /// none for a subscription `claim.cap` has no room for (counting the ones this call claims), leased
    /// to `claim.leaseOwner`. `claim.cap` holds the caller's own attempts in flight with these attempts
    /// already taken out; an engine that several processes share counts every live lease in the store
    /// as well (the larger of the two), so the cap holds across replicas. A subscription with a
    /// `rate_limit` gets no more than its bucket allows (``RateLimit``), the bucket advanced in the
    /// same transaction, so every store on the database shares it. This is the dispatcher's turn
    /// under load: the slots the outcomes free are refilled without a second trip to the writer.
    /// Either half may be empty.
    func completeAttempts(_ attempts: [CompletedAttempt], thenClaim claim: ClaimRequest, now: Date, disableAfter: Duration)
        async throws(StoreError) -> OutboxTurn
    /// When the next pending delivery falls due (nil: none), ignoring subscriptions `cap` has no room
    /// for (a finishing attempt wakes the dispatcher for those) and rate-limited ones until their
    /// bucket allows the next callback (that time counts instead), or the earliest lease to run out.
    func nextDeliveryWakeTime(now: Date, cap: InFlightCap) async throws(StoreError) -> Date?
    /// Yields after commits that queued deliveries.
    func deliveryWakeUps() -> AsyncStream<Void>
}

extension DeliveryStore {
    /// Claims only: the claim half of a turn.
    public func claimDueDeliveries(now: Date, limit: Int, leaseOwner: String, leaseDuration: Duration, cap: InFlightCap)
        async throws(StoreError) -> [ClaimedDelivery]
    {
        let claim = ClaimRequest(limit: limit, leaseOwner: leaseOwner, leaseDuration: leaseDuration, cap: cap)
        return try await completeAttempts([], thenClaim: claim, now: now, disableAfter: .zero).claimed
    }

    /// Records only: the recording half of a turn; returns the subscriptions it disabled.
    @discardableResult
    public func completeAttempts(_ attempts: [CompletedAttempt], now: Date, disableAfter: Duration) async throws(StoreError)
        -> [DisabledSubscription]
    {
        try await completeAttempts(attempts, thenClaim: .none, now: now, disableAfter: disableAfter).disabled
    }
}

/// What a dispatcher asks to claim: up to `limit` deliveries leased to `leaseOwner` for
/// `leaseDuration`, none for a subscription `cap` has no room for.
public struct ClaimRequest: Sendable {
    public var limit: Int
    public var leaseOwner: String
    public var leaseDuration: Duration
    public var cap: InFlightCap

    public init(limit: Int, leaseOwner: String, leaseDuration: Duration, cap: InFlightCap) {
        self.limit = limit
        self.leaseOwner = leaseOwner
        self.leaseDuration = leaseDuration
        self.cap = cap
    }

    /// Records outcomes and claims nothing.
    public static let none = ClaimRequest(limit: 0, leaseOwner: "", leaseDuration: .zero, cap: .unlimited)
}

/// One turn of the outbox: the subscriptions the recorded outcomes disabled, the new claims, and the
/// operational events the outcomes produced (appended and fanned out in the same transaction).
public struct OutboxTurn: Sendable {
    public var disabled: [DisabledSubscription]
    public var claimed: [ClaimedDelivery]
    public var events: [StoredEvent]

    public init(disabled: [DisabledSubscription] = [], claimed: [ClaimedDelivery] = [], events: [StoredEvent] = []) {
        self.disabled = disabled
        self.claimed = claimed
        self.events = events
    }
}

/// Attempts in flight per subscription against the per-subscription cap: the one place "at its cap"
/// is decided, for the dispatcher and every engine alike.
public struct InFlightCap: Sendable, Equatable {
    /// Attempts in flight at once per subscription (`BRIDGE_PER_SUBSCRIPTION_CONCURRENCY`).
    public let limit: Int
    /// Attempts in flight now, by subscription id (absent: none).
    public private(set) var counts: [String: Int]

    public init(limit: Int, counts: [String: Int] = [:]) {
        self.limit = limit
        self.counts = counts.filter { $0.value > 0 }
    }

    /// No cap that matters: for operator tools and tests.
    public static let unlimited = InFlightCap(limit: .max)

    public func hasRoom(for subscriptionID: String) -> Bool { counts[subscriptionID, default: 0] < limit }

    /// Subscriptions at their cap, sorted (a stable statement argument).
    public var full: [String] { counts.filter { $0.value >= limit }.map(\.key).sorted() }

    public mutating func add(_ subscriptionID: String) { counts[subscriptionID, default: 0] += 1 }

    /// Counts the store's live leases by subscription as well: whichever is larger, the caller's own
    /// count or the store's (which includes other processes' attempts), is what is in flight.
    public mutating func include(leases: [String: Int]) {
        for (id, leased) in leases where leased > counts[id, default: 0] { counts[id] = leased }
    }

    public mutating func remove(_ subscriptionID: String) {
        let left = counts[subscriptionID, default: 0] - 1
        counts[subscriptionID] = left > 0 ? left : nil
    }

}
