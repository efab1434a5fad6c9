public import BridgeCore
public import Foundation

/// What the poller needs from storage: which videos are due, and one transaction per batch of
/// observations that moves each video's state, appends its events and fans them out to the outbox.
/// SQLite has one writer; an engine with several (PostgreSQL) claims due rows with `SKIP LOCKED`.
public protocol TrackingStore: Sendable {
    /// Ids of live videos whose next poll is due, soonest first.
    func dueVideoIDs(now: Date, limit: Int) async throws(StoreError) -> [String]
    /// Applies the status rules to each observation; changes, their events and their deliveries
    /// commit together. Every tracked copy of a video (one per key) moves. A changed row is next
    /// polled at `nextPollAt`; a repeat is written as `repeats` says.
    @discardableResult
    func recordObservations(_ observations: [Observation], now: Date, nextPollAt: Date, repeats: RepeatWrites)
        async throws(StoreError) -> ObservationReport
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

/// How ``TrackingStore/recordObservations(_:now:nextPollAt:repeats:)`` writes an observation that
/// repeats what the row knows (the same status, and the same link or none): nothing about the video
/// changed, so only its last-seen time, its next poll and its failure count could move.
public enum RepeatWrites: Sendable, Equatable {
    /// Every repeat moves the row's last-seen time and next poll (`video.get` answers: a few per cycle,
    /// and the next poll time rotates the due queue among them).
    case always
    /// A repeat is written only once the row was last seen `age` ago or more (each row's threshold is
    /// spread between half and all of `age`, so a large account's refreshes do not fall in one cycle),
    /// or when it has poll failures to reset. Otherwise nothing is written and the row stays due; the
    /// next `video.list` shows it again. Rewriting 100,000 unchanged rows every cycle cost ~460 ms and
    /// ~60 MB of WAL per cycle here.
    case refreshAfter(Duration)
}

extension TrackingStore {
    /// Records observations, writing every repeat (``RepeatWrites/always``).
    @discardableResult
    public func recordObservations(_ observations: [Observation], now: Date, nextPollAt: Date) async throws(StoreError)
        -> ObservationReport
    {
        try await recordObservations(observations, now: now, nextPollAt: nextPollAt, repeats: .always)
    }

    @discardableResult
    public func expireTracking(startedBefore cutoff: Date, now: Date) async throws(StoreError) -> ObservationReport {
        try await expireTracking(startedBefore: cutoff, now: now, limit: 500)
    }

    @discardableResult
    public func prune(olderThan cutoff: Date) async throws(StoreError) -> PruneReport {
        try await prune(olderThan: cutoff, batchSize: 500)
    }
}
