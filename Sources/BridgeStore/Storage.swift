public import Foundation

/// Health and operator reads: readiness, queue depth, what a backup or a migration touches.
public protocol MaintenanceStore: Sendable {
    /// Whether a write transaction can commit right now (readiness).
    func checkWritable(now: Date) async throws(StoreError)
    func queueDepth(now: Date) async throws(StoreError) -> (pending: Int, held: Int, oldestPendingAge: TimeInterval)
    func disabledSubscriptionCount() async throws(StoreError) -> Int
    /// Events in the log and deliveries by state, all keys.
    func counts() async throws(StoreError) -> (events: Int, deliveries: [DeliveryState: Int])
    /// Rows per table (operator output and copy checks).
    func tableCounts() async throws(StoreError) -> [String: Int]
    /// Identifiers of the migrations this database has applied, oldest first.
    func appliedMigrations() async throws(StoreError) -> [String]
    /// An online, consistent copy of the database; the copy's secrets stay sealed.
    func backup(to destination: String) async throws(StoreError)
}

extension MaintenanceStore {
    public func checkWritable() async throws(StoreError) { try await checkWritable(now: Date()) }
}

/// What the HTTP API needs: its reads and commands, all scoped to the calling key.
public typealias APIStore = SubscriptionStore & VideoStore & EventLogStore & IdempotencyStore & MaintenanceStore

/// One storage engine: everything the poller, the dispatcher and the API need. SQLite
/// (`SQLiteStore`) implements it today; every behaviour is pinned by the store conformance suite.
public typealias BridgeStorage = TrackingStore & DeliveryStore & APIStore & StoreTransfer
