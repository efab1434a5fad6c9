public import Foundation

/// What the dispatcher needs from storage; SQLite today, a PostgreSQL store later.
public protocol DeliveryStore: Sendable {
    func claimDueDeliveries(
        now: Date,
        limit: Int,
        leaseOwner: String,
        leaseDuration: Duration,
        perSubscriptionLimit: Int,
        inFlight: [String: Int]
    ) async throws(StoreError) -> [ClaimedDelivery]
    @discardableResult
    func completeAttempts(_ attempts: [CompletedAttempt], now: Date, disableAfter: Duration) async throws(StoreError)
        -> [DisabledSubscription]
    func nextDeliveryWakeTime(now: Date, excludingSubscriptions excluded: [String]) async throws(StoreError) -> Date?
    /// Yields after commits that queued deliveries.
    func deliveryWakeUps() -> AsyncStream<Void>
}

extension SQLiteBridgeStore: DeliveryStore {}
