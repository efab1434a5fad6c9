import BridgeCore
import BridgeStore
import Foundation
@testable import SQLiteStore
import TestSupport
import Testing

@Suite("SQLite: the status transaction")
struct TransactionTests {
    /// The fault is SQLite's own: a trigger aborts the fan-out's insert, which runs after the event's
    /// insert in the same transaction.
    @Test("a failure between the event insert and the commit leaves nothing behind; the next poll redoes it")
    func transactionBoundary() async throws {
        let files = try TemporaryDirectory("store")
        defer { files.remove() }
        let directory: String
        do {
            let failing = try StoreFixture(in: files)
            directory = failing.path
            _ = try await failing.subscribe()
            try await failing.store.track(tenant: "acme", videoID: "v1", source: .watch, now: t0, nextPollAt: t0)
            try await failing.store.write { db in
                try db.execute(
                    sql: "CREATE TRIGGER injected_fault BEFORE INSERT ON deliveries BEGIN SELECT RAISE(ABORT, 'injected fault'); END"
                )
            }
            await #expect(throws: StoreError.self) {
                try await failing.store.recordObservations([observe("v1", "pending")], now: at(1), nextPollAt: at(3))
            }
            await #expect(try await failing.store.counts().events == 0)
            await #expect(try await failing.store.counts().deliveries.isEmpty)
            let video = try await #require(try await failing.store.trackedVideo(tenant: "acme", videoID: "v1"))
            #expect(video.status == nil && video.lastSeenAt == nil)
            try await failing.store.write { db in try db.execute(sql: "DROP TRIGGER injected_fault") }
        }
        // A fresh process on the same file sees the same nothing, and the retried poll emits exactly once.
        let restarted = try SQLiteBridgeStore(path: directory)
        await #expect(try restarted.counts().events == 0)
        let report = try await restarted.recordObservations([observe("v1", "pending")], now: at(2), nextPollAt: at(4))
        #expect(report.events.count == 1 && report.deliveriesCreated == 1)
        _ = try await restarted.recordObservations([observe("v1", "pending")], now: at(4), nextPollAt: at(6))
        await #expect(try restarted.counts().events == 1)
    }
}

@Suite("SQLite: list columns")
struct ListColumnTests {
    @Test("a list round-trips through its JSON column, whatever its strings hold", arguments: [
        [], ["video.finished"], ["video.finished", "ping"], ["a,b", "c\",\"d", "back\\slash", "new\nline", "", "ünï", "\u{1}"],
        ["\",\""], [","],
    ])
    func roundTrip(values: [String]) throws {
        let text = try SQLiteBridgeStore.encodeList(values)
        #expect(try SQLiteBridgeStore.decodeList(text) == values, "\(text)")
        let parsed = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String]
        #expect(parsed == values, "the column is valid JSON for json_each: \(text)")
    }
}

@Suite("SQLite: positional columns")
struct SelectedColumnTests {
    @Test("records read by position name the statement's columns in its order")
    func columnsMatchStatements() async throws {
        let fixture = try StoreFixture()
        let names = try await fixture.store.read { db in
            (
                try db.cachedStatement(sql: SQLiteBridgeStore.dueDeliveryDetailsSQL).columnNames,
                try db.cachedStatement(sql: SQLiteBridgeStore.subscriptionSelect).columnNames,
                try db.cachedStatement(sql: SQLiteBridgeStore.videoSelect).columnNames,
                try db.cachedStatement(sql: SQLiteBridgeStore.stateSelect).columnNames
            )
        }
        #expect(names.2 == SQLiteBridgeStore.VideoColumn.allCases.map(\.name))
        #expect(names.3 == SQLiteBridgeStore.StateColumn.allCases.map(\.name))
        #expect(names.2.contains("tracking_started_at") && names.3.contains("unknown_seen"))
        #expect(names.0 == DueDelivery.Columns.allCases.map(\.name))
        #expect(names.1 == SQLiteBridgeStore.SubscriptionColumn.allCases.map(\.name))
        #expect(SQLiteBridgeStore.SubscriptionColumn.videoID.name == "video_id")
    }
}
