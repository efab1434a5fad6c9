public import BridgeStore
import GRDB

extension SQLiteBridgeStore {
    /// Throws ``StoreError/limitExceeded(setting:)`` when adding `subscriptions` subscriptions or
    /// `videos` live videos for `tenant` would pass `limits`. A read, for checks before a side effect
    /// (an upstream submit); writes check again in their own transaction.
    public func checkLimits(tenant: String, addingSubscriptions subscriptions: Int, addingVideos videos: Int, limits: TenantLimits)
        async throws(StoreError)
    {
        try await read { db in try Self.checkLimits(db, tenant: tenant, subscriptions: subscriptions, videos: videos, limits: limits) }
    }

    static func checkLimits(_ db: Database, tenant: String, subscriptions: Int, videos: Int, limits: TenantLimits) throws {
        if subscriptions > 0, let maximum = limits.maxSubscriptions {
            let count = try Int.fetchOne(cached: db, sql: "SELECT COUNT(*) FROM subscriptions WHERE tenant = ?", arguments: [tenant]) ?? 0
            if count + subscriptions > maximum { throw StoreError.limitExceeded(setting: "BRIDGE_MAX_SUBSCRIPTIONS") }
        }
        if videos > 0, let maximum = limits.maxLiveVideos {
            let count = try Int.fetchOne(cached: db, sql: "SELECT COUNT(*) FROM videos WHERE tenant = ? AND terminal = 0", arguments: [tenant]) ?? 0
            if count + videos > maximum { throw StoreError.limitExceeded(setting: "BRIDGE_MAX_TRACKED_VIDEOS") }
        }
    }
}
