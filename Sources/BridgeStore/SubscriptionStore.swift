public import BridgeCore
public import Foundation

/// Subscriptions and the commands on them, always scoped to the calling key (`tenant`): another
/// key's subscription reads as absent (nil / false).
public protocol SubscriptionStore: Sendable {
    @discardableResult
    func createSubscription(_ new: NewSubscription, now: Date, limits: TenantLimits) async throws(StoreError) -> Subscription
    func subscription(tenant: String, id: String) async throws(StoreError) -> Subscription?
    /// In id order after `cursor`.
    func subscriptions(tenant: String, after cursor: String?, limit: Int) async throws(StoreError) -> [Subscription]
    /// Changes what `change` gives; nil when there is no such subscription.
    func updateSubscription(tenant: String, id: String, change: SubscriptionChange, now: Date) async throws(StoreError) -> Subscription?
    @discardableResult
    func deleteSubscription(tenant: String, id: String) async throws(StoreError) -> Bool
    /// Disabling holds its pending deliveries; enabling releases them, due now, in their order.
    @discardableResult
    func setSubscriptionEnabled(tenant: String, id: String, enabled: Bool, now: Date) async throws(StoreError) -> Bool
    /// Signs with `newSecret` from now on; the previous secret keeps signing beside it for `grace`.
    @discardableResult
    func rotateSecret(tenant: String, subscriptionID: String, newSecret: String, grace: Duration, now: Date)
        async throws(StoreError) -> Bool
    /// Appends a `ping` event for this subscription only and queues its delivery.
    func ping(tenant: String, subscriptionID: String, now: Date) async throws(StoreError) -> StoredEvent?
    /// Queues the key's events since `since` again for this subscription (new deliveries, in log order).
    func replay(tenant: String, subscriptionID: String, since: Date, now: Date, limit: Int) async throws(StoreError)
        -> (queued: Int, more: Bool)?
}

extension SubscriptionStore {
    @discardableResult
    public func createSubscription(_ new: NewSubscription, now: Date) async throws(StoreError) -> Subscription {
        try await createSubscription(new, now: now, limits: .none)
    }

    public func replay(tenant: String, subscriptionID: String, since: Date, now: Date) async throws(StoreError)
        -> (queued: Int, more: Bool)?
    {
        try await replay(tenant: tenant, subscriptionID: subscriptionID, since: since, now: now, limit: 10_000)
    }
}
