
/// Per-key limits a write must not pass (nil: no limit). Checked inside the write's transaction.
public struct TenantLimits: Sendable, Equatable {
    /// Subscriptions per key (`BRIDGE_MAX_SUBSCRIPTIONS`).
    public var maxSubscriptions: Int?
    /// Non-terminal tracked videos per key (`BRIDGE_MAX_TRACKED_VIDEOS`).
    public var maxLiveVideos: Int?

    public init(maxSubscriptions: Int? = nil, maxLiveVideos: Int? = nil) {
        self.maxSubscriptions = maxSubscriptions
        self.maxLiveVideos = maxLiveVideos
    }

    public static let none = TenantLimits()
}
