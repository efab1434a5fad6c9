import BridgeCore
import BridgeStore
import Foundation
import GRDB
import Synchronization
@testable import SQLiteStore
import Testing

@Suite("SQLite: fan-out")
struct FanOutTests {
    /// Seven events, three subscriptions (one for v2 only): at most six rows per statement is two
    /// events per statement, four statements. The deliveries come out as one statement per event would
    /// make them: event order, then subscription order, filters applied.
    @Test("a batch's events fan out a few events per statement, in event order, then subscription order")
    func chunkedInOrder() async throws {
        let fixture = try StoreFixture()
        var subscriptions = [
            try await fixture.subscribe().id, try await fixture.subscribe().id, try await fixture.subscribe(videoID: "v2").id,
        ]
        let onlyV2 = subscriptions[2]
        subscriptions.sort()
        let (made, statements, events) = try await fixture.store.write { db in
            let events = try (1...7).map { index in
                try SQLiteBridgeStore.appendEvent(
                    db, tenant: "acme", type: .finished, videoID: "v\(index)", payload: "{}", now: at(Double(index))
                )
            }
            let statements = Mutex(0)
            db.trace(options: .statement) { event in
                if case .statement(let statement) = event, statement.sql.contains("INSERT INTO deliveries") { statements.withLock { $0 += 1 } }
            }
            let made = try SQLiteBridgeStore.fanOut(db, events: events, now: at(8), rowsPerStatement: 6)
            db.trace(options: [], nil)
            return (made, statements.withLock { $0 }, events)
        }
        #expect(statements == 4, "7 events, 2 per statement")
        let pairs = try await fixture.store.read { db in
            try Row.fetchAll(db, sql: "SELECT event_seq, subscription_id FROM deliveries ORDER BY id").map { "\($0[0] as Int64) \($0[1] as String)" }
        }
        let expected = events.flatMap { event in
            subscriptions.filter { $0 != onlyV2 || event.videoID == "v2" }.map { "\(event.sequence) \($0)" }
        }
        #expect(made == 15 && pairs == expected, "\(pairs)")
    }
}

