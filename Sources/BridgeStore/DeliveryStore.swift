public import Foundation

/// What the dispatcher needs from storage: the outbox. Claims carry a lease so a crashed sender's
/// rows come back; completion compares the lease owner so a stale sender cannot overwrite a newer claim.
public protocol DeliveryStore: Sendable {
    /// Claims due deliveries in per-(subscription, video) order, at most `perSubscriptionLimit` per
    /// subscription counting `inFlight` (already sending), and leases them to `leaseOwner`.
    func claimDueDeliveries(
        now: Date,
        limit: Int,
        leaseOwner: String,
        leaseDuration: Duration,
        perSubscriptionLimit: Int,
        inFlight: [String: Int]
    ) async throws(StoreError) -> [ClaimedDelivery]
    /// Records attempts and their outcomes in one transaction; returns subscriptions this disabled.
    @discardableResult
    func completeAttempts(_ attempts: [CompletedAttempt], now: Date, disableAfter: Duration) async throws(StoreError)
        -> [DisabledSubscription]
    /// When the next pending delivery falls due (nil: none), ignoring subscriptions at their cap.
    func nextDeliveryWakeTime(now: Date, excludingSubscriptions excluded: [String]) async throws(StoreError) -> Date?
    /// Yields after commits that queued deliveries.
    func deliveryWakeUps() -> AsyncStream<Void>
}

extension DeliveryStore {
    /// With nothing already in flight.
    public func claimDueDeliveries(now: Date, limit: Int, leaseOwner: String, leaseDuration: Duration, perSubscriptionLimit: Int)
        async throws(StoreError) -> [ClaimedDelivery]
    {
        try await claimDueDeliveries(
            now: now, limit: limit, leaseOwner: leaseOwner, leaseDuration: leaseDuration, perSubscriptionLimit: perSubscriptionLimit,
            inFlight: [:]
        )
    }
}
