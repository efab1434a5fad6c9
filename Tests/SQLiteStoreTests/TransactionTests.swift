import BridgeCore
import BridgeStore
import Foundation
@testable import SQLiteStore
import Testing

@Suite("SQLite: the status transaction")
struct TransactionTests {
    /// The fault is SQLite's own: a trigger aborts the fan-out's insert, which runs after the event's
    /// insert in the same transaction.
    @Test("a failure between the event insert and the commit leaves nothing behind; the next poll redoes it")
    func transactionBoundary() async throws {
        let directory: String
        do {
            let failing = try StoreFixture()
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
