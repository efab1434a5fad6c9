public import BridgeCore
public import Foundation

/// The event log and the outbox as a key reads them, plus re-sending one delivery.
public protocol EventLogStore: Sendable {
    /// A key's events in log order after `cursor` (a sequence number), optionally for one video or type.
    func events(tenant: String, after cursor: Int64?, videoID: String?, type: EventType?, limit: Int) async throws(StoreError)
        -> [StoredEvent]
    func event(tenant: String, id: String) async throws(StoreError) -> StoredEvent?
    /// The newest sequence number in the log, all keys (0 when empty).
    func lastEventSequence() async throws(StoreError) -> Int64
    /// Yields after commits that appended events (the pull feed's long-polls wait on it).
    func eventWakeUps() -> AsyncStream<Void>
    /// A key's deliveries that `query` matches, in creation order (or newest first) past `cursor`,
    /// each with its newest attempt.
    func deliveries(tenant: String, matching query: DeliveryQuery, after cursor: Int64?, limit: Int)
        async throws(StoreError) -> [DeliveryRecord]
    /// One delivery and every attempt at it.
    func delivery(tenant: String, id: Int64) async throws(StoreError) -> (DeliveryRecord, [AttemptRecord])?
    /// Makes a finished or waiting delivery due now; nil: no such delivery, false: it is being sent.
    func retryDelivery(tenant: String, id: Int64, now: Date) async throws(StoreError) -> Bool?
    /// A key's open deliveries, the last poll cycle, and each subscription's attempts since `since`.
    func health(tenant: String, since: Date) async throws(StoreError) -> TenantHealth
}

extension EventLogStore {
    /// From the start of the log.
    public func events(tenant: String, videoID: String? = nil, type: EventType? = nil, limit: Int = 100)
        async throws(StoreError) -> [StoredEvent]
    {
        try await events(tenant: tenant, after: nil, videoID: videoID, type: type, limit: limit)
    }

    /// From the oldest.
    public func deliveries(tenant: String, subscriptionID: String? = nil, state: DeliveryState? = nil, limit: Int = 100)
        async throws(StoreError) -> [DeliveryRecord]
    {
        try await deliveries(tenant: tenant, matching: DeliveryQuery(subscriptionID: subscriptionID, state: state), after: nil, limit: limit)
    }
}
