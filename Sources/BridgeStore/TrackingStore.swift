public import BridgeCore
public import Foundation

/// What the poller needs from storage. SQLite implements it today; a PostgreSQL store for several
/// replicas would implement the same calls (with `FOR UPDATE SKIP LOCKED` where SQLite has one writer).
public protocol TrackingStore: Sendable {
    func dueVideoIDs(now: Date, limit: Int) async throws(StoreError) -> [String]
    @discardableResult
    func recordObservations(_ observations: [Observation], now: Date, nextPollAt: Date) async throws(StoreError)
        -> ObservationReport
    func backOffPolling(videoIDs: [String], now: Date, interval: Duration, maximum: Duration) async throws(StoreError)
        -> [String: (failures: Int, delay: Duration)]
    @discardableResult
    func expireTracking(startedBefore cutoff: Date, now: Date, limit: Int) async throws(StoreError) -> ObservationReport
    @discardableResult
    func prune(olderThan cutoff: Date, batchSize: Int) async throws(StoreError) -> PruneReport
}

extension SQLiteBridgeStore: TrackingStore {}
