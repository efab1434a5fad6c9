public import BridgeCore
public import Foundation

/// What the poller needs from storage: which videos are due, and one transaction per batch of
/// observations that moves each video's state, appends its events and fans them out to the outbox.
/// SQLite has one writer; an engine with several (PostgreSQL) claims due rows with `SKIP LOCKED`.
///
/// The writes of a poll cycle take the poller's `fence`: with one, the store commits them only while
/// that term still holds the poller lease, else throws ``StoreError/notLeader`` and writes nothing.
/// Nil (one process, tests) writes unconditionally.
public protocol TrackingStore: PollerLeaseStore {
    /// Live videos whose next poll is due, soonest first, once each, with what their rows know: an
    /// observation that ``DueVideo/unchanged`` covers would write nothing under `repeats`.
    /// `scope`: the tenants of one upstream account (rows of other tenants are not due here).
    func dueVideos(now: Date, limit: Int, repeats: RepeatWrites, scope: TenantScope) async throws(StoreError) -> [DueVideo]
    /// Applies the status rules to each observation; changes, their events and their deliveries
    /// commit together. Every tracked copy of a video (one per key) in `scope` moves: an account's
    /// answers never move another account's rows. A changed row is next polled at `nextPollAt`; a
    /// repeat is written as `repeats` says.
    @discardableResult
    func recordObservations(
        _ observations: [Observation], now: Date, nextPollAt: Date, repeats: RepeatWrites, fence: PollerTerm?, scope: TenantScope
    ) async throws(StoreError) -> ObservationReport
    /// Pushes the next poll of videos (of the tenants in `scope`) the upstream could not answer for
    /// back exponentially.
    func backOffPolling(videoIDs: [String], now: Date, interval: Duration, maximum: Duration, fence: PollerTerm?, scope: TenantScope)
        async throws(StoreError) -> [String: (failures: Int, delay: Duration)]
    /// Ends tracking of live videos started before `cutoff` with a `video.expired` event.
    @discardableResult
    func expireTracking(startedBefore cutoff: Date, now: Date, limit: Int, fence: PollerTerm?) async throws(StoreError)
        -> ObservationReport
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

extension RepeatWrites {
    /// Whether a repeat on row `rowID` is written: always under ``always`` or with poll failures to
    /// reset; under ``refreshAfter(_:)`` once the row was last seen its threshold ago, which lies between
    /// half and all of the age by its id, so rows tracked together refresh in different cycles.
    public func rewrites(rowID: Int64, lastSeen: Double?, failures: Int64, now: Date) -> Bool {
        guard case .refreshAfter(let age) = self, failures == 0, let lastSeen else { return true }
        let threshold = age.timeInterval * (0.5 + Double(rowID & 31) / 64)
        return now.timeIntervalSince1970 - lastSeen >= threshold
    }
}

/// A due video, and the answer that would change nothing about it.
public struct DueVideo: Sendable, Equatable {
    public var videoID: String
    /// Set when every live row of the video holds this status and link, has no poll failures and needs
    /// no refresh under the `repeats` policy asked for: an observation with this status and this link
    /// (or none) need not be recorded at all. Nil when any row would be written.
    public var unchanged: KnownObservation?

    public init(videoID: String, unchanged: KnownObservation? = nil) {
        self.videoID = videoID
        self.unchanged = unchanged
    }
}

/// Builds ``TrackingStore/dueVideos(now:limit:repeats:)``'s answer from due rows in order: one
/// entry per video, first row's place; a video several keys track is quiet only when every row is,
/// alike. Each engine feeds it the rows its query returned.
public struct DueList: Sendable {
    public private(set) var videos: [DueVideo] = []
    private var position: [String: Int] = [:]

    public init(capacity: Int) {
        videos.reserveCapacity(capacity)
        position.reserveCapacity(capacity)
    }

    /// One due row of `videoID`: `unchanged` is what an observation repeating the row would be
    /// (nil when the row would be written anyway).
    public mutating func add(videoID: String, unchanged: KnownObservation?) {
        if let index = position[videoID] {
            if videos[index].unchanged != unchanged { videos[index].unchanged = nil }
        } else {
            position[videoID] = videos.count
            videos.append(DueVideo(videoID: videoID, unchanged: unchanged))
        }
    }
}

/// The status and link the rows of a video last recorded.
public struct KnownObservation: Sendable, Equatable {
    public var status: String
    public var videoURL: String?

    public init(status: String, videoURL: String?) {
        self.status = status
        self.videoURL = videoURL
    }

    /// Whether an answer showing `status` and `videoURL` repeats this (a missing link repeats any).
    public func covers(status: String, videoURL: String?) -> Bool {
        status == self.status && (videoURL == nil || videoURL == self.videoURL)
    }
}

/// The tenants one upstream account serves: every tenant, the named ones (their own token), or every
/// tenant but the named ones (the shared token). The one place "this row is this account's" is decided.
public enum TenantScope: Sendable, Equatable, Hashable {
    case all
    case only([String])
    case except([String])

    public func contains(_ tenant: String) -> Bool {
        switch self {
        case .all: true
        case .only(let tenants): tenants.contains(tenant)
        case .except(let tenants): !tenants.contains(tenant)
        }
    }

    /// As statement arguments: a mode (0 every tenant, 1 only the list, 2 all but the list) and the
    /// sorted tenant list. Engines test `(mode = 0 OR (mode = 1) = (tenant IN list))`.
    public var mode: Int {
        switch self {
        case .all: 0
        case .only: 1
        case .except: 2
        }
    }

    public var tenants: [String] {
        switch self {
        case .all: []
        case .only(let tenants), .except(let tenants): tenants.sorted()
        }
    }
}

extension TrackingStore {
    /// Ids of live videos whose next poll is due, soonest first, once each.
    public func dueVideoIDs(now: Date, limit: Int) async throws(StoreError) -> [String] {
        try await dueVideos(now: now, limit: limit, repeats: .always).map(\.videoID)
    }

    /// Every tenant's due videos.
    public func dueVideos(now: Date, limit: Int, repeats: RepeatWrites) async throws(StoreError) -> [DueVideo] {
        try await dueVideos(now: now, limit: limit, repeats: repeats, scope: .all)
    }

    /// Records observations for every tenant.
    @discardableResult
    public func recordObservations(_ observations: [Observation], now: Date, nextPollAt: Date, repeats: RepeatWrites, fence: PollerTerm?)
        async throws(StoreError) -> ObservationReport
    {
        try await recordObservations(observations, now: now, nextPollAt: nextPollAt, repeats: repeats, fence: fence, scope: .all)
    }

    public func backOffPolling(videoIDs: [String], now: Date, interval: Duration, maximum: Duration, fence: PollerTerm?)
        async throws(StoreError) -> [String: (failures: Int, delay: Duration)]
    {
        try await backOffPolling(videoIDs: videoIDs, now: now, interval: interval, maximum: maximum, fence: fence, scope: .all)
    }

    /// Records observations, writing every repeat (``RepeatWrites/always``), unfenced.
    @discardableResult
    public func recordObservations(_ observations: [Observation], now: Date, nextPollAt: Date) async throws(StoreError)
        -> ObservationReport
    {
        try await recordObservations(observations, now: now, nextPollAt: nextPollAt, repeats: .always, fence: nil)
    }

    @discardableResult
    public func recordObservations(_ observations: [Observation], now: Date, nextPollAt: Date, repeats: RepeatWrites)
        async throws(StoreError) -> ObservationReport
    {
        try await recordObservations(observations, now: now, nextPollAt: nextPollAt, repeats: repeats, fence: nil)
    }

    public func backOffPolling(videoIDs: [String], now: Date, interval: Duration, maximum: Duration) async throws(StoreError)
        -> [String: (failures: Int, delay: Duration)]
    {
        try await backOffPolling(videoIDs: videoIDs, now: now, interval: interval, maximum: maximum, fence: nil)
    }

    @discardableResult
    public func expireTracking(startedBefore cutoff: Date, now: Date, limit: Int = 500) async throws(StoreError) -> ObservationReport {
        try await expireTracking(startedBefore: cutoff, now: now, limit: limit, fence: nil)
    }

    @discardableResult
    public func prune(olderThan cutoff: Date) async throws(StoreError) -> PruneReport {
        try await prune(olderThan: cutoff, batchSize: 500)
    }
}
