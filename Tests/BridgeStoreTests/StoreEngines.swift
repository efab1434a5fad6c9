import BridgeCore
import BridgeStore
import Foundation
import PostgresStore
import SQLiteStore
import TestSupport
import Testing

/// One storage engine under test. The conformance suite is written once against the protocols in
/// `BridgeStore` and runs against every engine in ``all``, with a fresh database per test.
struct StoreEngine: Sendable, CustomTestStringConvertible {
    let name: String
    /// Creates a fresh, empty database; returns how to open a store on it and how to remove it.
    let create: @Sendable () async throws -> Database

    struct Database: Sendable {
        /// Opens a store on the database; called again, a second independent store (as after a restart).
        let open: @Sendable () async throws -> any BridgeStorage
        let remove: @Sendable () async -> Void
    }

    var testDescription: String { name }

    static let sqlite = StoreEngine(name: "SQLite") {
        let directory = try TemporaryDirectory("store")
        let path = directory.path("bridge.sqlite")
        return Database(open: { try SQLiteBridgeStore(path: path, configuration: .init()) }, remove: { directory.remove() })
    }

    /// A database of its own on the test process's private PostgreSQL cluster, dropped afterwards.
    static let postgres = StoreEngine(name: "PostgreSQL") {
        let server = try await PostgresServer.shared()
        let url = try await server.createDatabase()
        return Database(
            open: { try await PostgresBridgeStore(url: url, configuration: .init(encryptionKey: testKey, maximumConnections: 4)) },
            remove: { await server.dropDatabase(url) }
        )
    }

    /// Every engine the suite runs against.
    static let all: [StoreEngine] = [.sqlite, .postgres]
}

/// A store on a fresh database of one engine, with the set-up steps the tests share.
struct StoreUnderTest: Sendable {
    let store: any BridgeStorage
    let database: StoreEngine.Database

    /// A second, independent store on the same database, as after a restart.
    func reopen() async throws -> any BridgeStorage { try await database.open() }

    func subscribe(
        tenant: String = "acme",
        events: [EventType]? = nil,
        videoID: String? = nil,
        url: String = "https://hooks.example.com/in",
        secret: String = "whsec_test",
        now: Date = t0
    ) async throws -> Subscription {
        try await store.createSubscription(
            NewSubscription(tenant: tenant, url: url, eventTypes: events, videoID: videoID, secret: secret), now: now
        )
    }

    /// Starts watching a video with a first observed status.
    @discardableResult
    func watch(_ videoID: String, _ status: String? = nil, tenant: String = "acme", now: Date = t0) async throws -> ObservationReport {
        try await store.track(
            tenant: tenant, videoID: videoID, source: .watch, initial: status.map { observe(videoID, $0) }, now: now, nextPollAt: now
        ).report
    }

    /// Claims everything due (no cap that matters) for `owner`.
    func claimAll(now: Date = at(1), owner: String = "test", lease: Duration = .seconds(60), limit: Int = 1000)
        async throws -> [ClaimedDelivery]
    {
        try await store.claimDueDeliveries(
            now: now, limit: limit, leaseOwner: owner, leaseDuration: lease, cap: .unlimited
        )
    }

    /// Records one attempt at each claimed delivery with the same outcome.
    @discardableResult
    func complete(
        _ claimed: [ClaimedDelivery], _ disposition: CompletedAttempt.Disposition, status: Int? = 204, owner: String = "test",
        now: Date = at(2), disableAfter: Duration = .seconds(86_400 * 5)
    ) async throws -> [DisabledSubscription] {
        try await store.completeAttempts(
            claimed.map { attempt($0, disposition, status: status, owner: owner, now: now) }, now: now, disableAfter: disableAfter
        )
    }

    /// Claims and succeeds everything due, until nothing is (ordering releases one per stream at a time).
    func deliverEverything(now: Date = at(1)) async throws {
        for _ in 0..<100 {
            let claimed = try await claimAll(now: now)
            if claimed.isEmpty { return }
            try await complete(claimed, .succeeded, now: now)
        }
        Issue.record("deliveries kept coming after 100 rounds")
    }
}

func attempt(
    _ delivery: ClaimedDelivery, _ disposition: CompletedAttempt.Disposition, status: Int? = 204, owner: String = "test",
    now: Date = at(2), snippet: String? = nil
) -> CompletedAttempt {
    CompletedAttempt(
        deliveryID: delivery.id, subscriptionID: delivery.subscriptionID, leaseOwner: owner, attemptedAt: now,
        latency: .milliseconds(250), statusCode: status, errorKind: status == nil ? "timeout" : nil, responseSnippet: snippet,
        disposition: disposition
    )
}

/// Runs `body` on a store over a fresh database of `engine`; the database is removed afterwards,
/// also when an expectation failed or the body threw.
func withStore(_ engine: StoreEngine, _ body: (StoreUnderTest) async throws -> Void) async throws {
    let database = try await engine.create()
    do {
        let store = try await database.open()
        try await body(StoreUnderTest(store: store, database: database))
    } catch {
        await database.remove()
        throw error
    }
    await database.remove()
}

/// The PostgreSQL engine's secrets key in tests (it has no key file).
let testKey = Data(repeating: 7, count: 32)

let t0 = Date(timeIntervalSince1970: 1_800_000_000)

func at(_ seconds: Double) -> Date { t0.addingTimeInterval(seconds) }

func observe(_ id: String, _ status: String, url: String? = nil) -> Observation {
    Observation(videoID: id, status: status, videoURL: url)
}

/// The next element of a wake-up stream, or nil when none came within a generous bound (a missing
/// wake-up is then a failed expectation, never a hang).
func nextWakeUp(_ stream: AsyncStream<Void>) async -> Void? {
    try? await withDeadline(.seconds(20)) {
        var iterator = stream.makeAsyncIterator()
        return await iterator.next()
    }
}
