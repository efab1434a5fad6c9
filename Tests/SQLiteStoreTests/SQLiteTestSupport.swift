import BridgeCore
@testable import BridgeStore
import Foundation
@testable import SQLiteStore
import TestSupport

/// A store on a real SQLite file in the test's own temp directory, for the engine's own specifics
/// (migrations, file modes, encryption on disk, query plans); behaviour is in the conformance suite.
/// The directory goes with the fixture, unless the test gave its own.
final class StoreFixture: Sendable {
    let directory: TemporaryDirectory
    let store: SQLiteBridgeStore
    private let ownsDirectory: Bool
    var path: String { store.path }

    convenience init() throws {
        try self.init(in: TemporaryDirectory("store"), owned: true)
    }

    /// A store in `directory`, which outlives the fixture (the caller removes it).
    convenience init(in directory: TemporaryDirectory) throws {
        try self.init(in: directory, owned: false)
    }

    private init(in directory: TemporaryDirectory, owned: Bool) throws {
        self.directory = directory
        ownsDirectory = owned
        store = try SQLiteBridgeStore(path: directory.path("bridge.sqlite"))
    }

    deinit {
        if ownsDirectory { directory.remove() }
    }

    /// A second, independent connection to the same file, as after a restart.
    func reopen() throws -> SQLiteBridgeStore { try SQLiteBridgeStore(path: path) }

    func subscribe(
        tenant: String = "acme",
        events: [EventType]? = nil,
        videoID: String? = nil,
        url: String = "https://hooks.example.com/in"
    ) async throws -> Subscription {
        try await store.createSubscription(
            NewSubscription(tenant: tenant, url: url, eventTypes: events, videoID: videoID, secret: "whsec_test"),
            now: t0
        )
    }
}

let t0 = Date(timeIntervalSince1970: 1_800_000_000)

func at(_ seconds: Double) -> Date { t0.addingTimeInterval(seconds) }

func observe(_ id: String, _ status: String, url: String? = nil) -> Observation {
    Observation(videoID: id, status: status, videoURL: url)
}
