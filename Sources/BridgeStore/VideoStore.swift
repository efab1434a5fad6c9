public import BridgeCore
public import Foundation

/// Videos a key tracks (submitted through the bridge or watched), as the API sees them.
public protocol VideoStore: Sendable {
    /// Starts tracking (idempotent per key and video); with `initial`, applies that first observation
    /// and with `subscription`, creates it, all in one transaction.
    @discardableResult
    func track(
        tenant: String,
        videoID: String,
        source: TrackingSource,
        initial: Observation?,
        subscription: NewSubscription?,
        limits: TenantLimits,
        now: Date,
        nextPollAt: Date
    ) async throws(StoreError) -> (video: TrackedVideo, created: Bool, report: ObservationReport)
    @discardableResult
    func untrack(tenant: String, videoID: String) async throws(StoreError) -> Bool
    func trackedVideo(tenant: String, videoID: String) async throws(StoreError) -> TrackedVideo?
    /// In tracking order after `cursor`.
    func trackedVideos(tenant: String, after cursor: Int64?, limit: Int) async throws(StoreError)
        -> [(cursor: Int64, video: TrackedVideo)]
    /// Whether another key submitted this video through the bridge (then it is not this key's to watch).
    func isSubmittedByAnotherTenant(videoID: String, tenant: String) async throws(StoreError) -> Bool
    /// Throws `limitExceeded` when adding this many subscriptions or live videos would pass `limits`.
    func checkLimits(tenant: String, addingSubscriptions subscriptions: Int, addingVideos videos: Int, limits: TenantLimits)
        async throws(StoreError)
}

extension VideoStore {
    @discardableResult
    public func track(
        tenant: String, videoID: String, source: TrackingSource, initial: Observation? = nil,
        subscription: NewSubscription? = nil, now: Date, nextPollAt: Date
    ) async throws(StoreError) -> (video: TrackedVideo, created: Bool, report: ObservationReport) {
        try await track(
            tenant: tenant, videoID: videoID, source: source, initial: initial, subscription: subscription, limits: .none,
            now: now, nextPollAt: nextPollAt
        )
    }

    /// From the first tracked.
    public func trackedVideos(tenant: String, limit: Int = 100) async throws(StoreError) -> [(cursor: Int64, video: TrackedVideo)] {
        try await trackedVideos(tenant: tenant, after: nil, limit: limit)
    }
}
