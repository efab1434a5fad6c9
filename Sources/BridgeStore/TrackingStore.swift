public import BridgeCore
public import Foundation

/// What the poller needs from storage: which videos are due, and one transaction per batch of
/// observations that moves each video's state, appends its events and fans them out to the outbox.
/// SQLite has one writer; an engine with several (PostgreSQL) claims due rows with `SKIP LOCKED`.
public protocol TrackingStore: Sendable {
    /// Ids of live videos whose next poll is due, soonest first.
    func dueVideoIDs(now: Date, limit: Int) async throws(StoreError) -> [String]
    /// Applies the status rules to each observation; changes, their events and their deliveries
    /// commit together. Every tracked copy of a video (one per key) moves.
    @discardableResult
    func recordObservations(_ observations: [Observation], now: Date, nextPollAt: Date) async throws(StoreError)
        -> ObservationReport
    /// Pushes the next poll of videos the upstream could not answer for back exponentially.
    func backOffPolling(videoIDs: [String], now: Date, interval: Duration, maximum: Duration) async throws(StoreError)
        -> [String: (failures: Int, delay: Duration)]
    /// Ends tracking of live videos started before `cutoff` with a `video.expired` event.
    @discardableResult
    func expireTracking(startedBefore cutoff: Date, now: Date, limit: Int) async throws(StoreError) -> ObservationReport
    /// Deletes finished deliveries, events and terminal videos older than `cutoff`, in batches.
    @discardableResult
    func prune(olderThan cutoff: Date, batchSize: Int) async throws(StoreError) -> PruneReport
    /// Live (non-terminal) tracked videos, all keys.
    func liveVideoCount() async throws(StoreError) -> Int
    /// The earliest next poll among live videos.
    func nextPollTime() async throws(StoreError) -> Date?
}

extension TrackingStore {
    @discardableResult
    public func expireTracking(startedBefore cutoff: Date, now: Date) async throws(StoreError) -> ObservationReport {
        try await expireTracking(startedBefore: cutoff, now: now, limit: 500)
    }

    @discardableResult
    public func prune(olderThan cutoff: Date) async throws(StoreError) -> PruneReport {
        try await prune(olderThan: cutoff, batchSize: 500)
    }
}
