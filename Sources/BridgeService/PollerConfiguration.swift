/// Tuning of the poller. Defaults suit the contract; tests shorten them.
public struct PollerConfiguration: Sendable {
    /// Time between cycles (`BRIDGE_POLL_INTERVAL`).
    public var interval: Duration
    /// Non-terminal videos older than this expire (`BRIDGE_TRACKING_LIMIT`).
    public var trackingLimit: Duration
    /// Upper bound on `video.get` calls in one cycle (videos missing from the list, or get mode).
    public var maxGetsPerCycle: Int
    /// One `video.get` is worth this many `video.list` items: with few due videos and a list longer
    /// than `due × this`, a cycle asks for each due video instead of listing the whole account.
    public var listItemsPerGet: Int
    /// Cap of the exponential backoff after errors.
    public var maxBackoff: Duration
    /// The longest a video that cannot be observed waits between looks (the contract: 10 min).
    public var maxVideoBackoff: Duration
    /// Cap on how long a `Retry-After` can pause polling.
    public var maxRetryAfter: Duration
    /// Succeeded deliveries and delivered events older than this are pruned.
    public var retention: Duration
    /// How often retention runs.
    public var pruneInterval: Duration
    /// Observations recorded per transaction. A burst of changes commits (and wakes the dispatcher)
    /// chunk by chunk, so the first callbacks leave while the rest is still being written; each
    /// change's event and outbox rows are still one transaction. 1,000 rather than 2,500: a batch's
    /// observations, events with their payloads and SQLite's dirty pages are held until it commits
    /// (heap peak of a 10,000 × 4 burst 9.2 MB against 10.4 MB), at no cost in deliveries/s.
    public var recordBatch: Int
    /// A video the list shows unchanged has its last-seen time written at most this often (spread
    /// over the second half of it per video), not every cycle; see ``RepeatWrites``.
    public var lastSeenRefresh: Duration

    public init(
        interval: Duration = .seconds(2),
        trackingLimit: Duration = .seconds(24 * 3600),
        maxGetsPerCycle: Int = 20,
        listItemsPerGet: Int = 50,
        maxBackoff: Duration = .seconds(60),
        maxVideoBackoff: Duration = .seconds(600),
        maxRetryAfter: Duration = .seconds(600),
        retention: Duration = .seconds(30 * 24 * 3600),
        pruneInterval: Duration = .seconds(600),
        recordBatch: Int = 1_000,
        lastSeenRefresh: Duration = .seconds(60)
    ) {
        self.interval = interval
        self.trackingLimit = trackingLimit
        self.maxGetsPerCycle = maxGetsPerCycle
        self.listItemsPerGet = listItemsPerGet
        self.maxBackoff = maxBackoff
        self.maxVideoBackoff = maxVideoBackoff
        self.maxRetryAfter = maxRetryAfter
        self.retention = retention
        self.pruneInterval = pruneInterval
        self.recordBatch = max(1, recordBatch)
        self.lastSeenRefresh = lastSeenRefresh
    }
}
