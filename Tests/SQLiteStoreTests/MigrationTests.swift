@testable import BridgeStore
import Foundation
import GRDB
@testable import SQLiteStore
import TestSupport
import Testing

@Suite("Migrations")
struct MigrationTests {
    @Test("an empty file migrates to the current schema, in WAL mode with foreign keys on")
    func fromEmpty() async throws {
        let fixture = try StoreFixture()
        await #expect(try await fixture.store.appliedMigrations() == Schema.migrator.migrations)
        let (journal, foreignKeys) = try await fixture.store.read { db in
            (try String.fetchOne(db, sql: "PRAGMA journal_mode"), try Int.fetchOne(db, sql: "PRAGMA foreign_keys"))
        }
        #expect(journal == "wal")
        #expect(foreignKeys == 1)
    }

    @Test("a database made by each earlier version opens and migrates, keeping its data")
    func fromEachEarlierVersion() async throws {
        let all = Schema.migrator.migrations
        for (index, migration) in all.enumerated() {
            let directory = try TemporaryDirectory("migrate")
            defer { directory.remove() }
            let path = directory.path("old.sqlite")
            let old = try DatabaseQueue(path: path)
            try Schema.migrator.migrate(old, upTo: migration)
            try await old.write { db in
                try db.execute(sql: "INSERT INTO tenants (name, created_at) VALUES ('acme', 0)")
            }
            try old.close()
            let store = try SQLiteBridgeStore(path: path)
            await #expect(try await store.appliedMigrations() == all, "from \(migration) (#\(index))")
            let tenants = try await store.read { db in try String.fetchAll(db, sql: "SELECT name FROM tenants") }
            #expect(tenants == ["acme"])
        }
    }

    @Test("a database from a newer version is refused with a clear error")
    func newerIsRefused() async throws {
        let fixture = try StoreFixture()
        try await fixture.store.write { db in
            try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v99-from-the-future')")
        }
        #expect(throws: StoreError.newerSchema(unknownMigrations: ["v99-from-the-future"])) {
            _ = try fixture.reopen()
        }
        let message = StoreError.newerSchema(unknownMigrations: ["v99-from-the-future"]).description
        #expect(message.contains("newer talking-photo-bridge") && message.contains("v99-from-the-future"))
    }

    @Test("a file that is not a database is reported, not crashed on")
    func notADatabase() throws {
        let directory = try TemporaryDirectory("garbage")
        defer { directory.remove() }
        let path = directory.path("bad.sqlite")
        try Data(repeating: 0x42, count: 8192).write(to: URL(fileURLWithPath: path))
        #expect(throws: StoreError.self) { _ = try SQLiteBridgeStore(path: path) }
    }

    @Test("the hot queries use their indexes")
    func queryPlans() async throws {
        let fixture = try StoreFixture()
        let plans = try await fixture.store.queryPlans()
        #expect(plans.dueVideos.contains("USING INDEX videos_due"), "\(plans.dueVideos)")
        #expect(!plans.dueVideos.contains("SCAN videos"), "\(plans.dueVideos)")
        #expect(plans.dueDeliveries.contains("USING INDEX deliveries_due"), "\(plans.dueDeliveries)")
        #expect(!plans.dueDeliveries.contains("TEMP B-TREE"), "no sort of the backlog: \(plans.dueDeliveries)")
        #expect(plans.dueDeliveries.contains("deliveries_open_by_stream"), "\(plans.dueDeliveries)")
        #expect(!plans.dueDeliveries.contains("SCAN d"), "\(plans.dueDeliveries)")
        // The claim statement runs that selection once (materialized, at most 2 × the free slots) and
        // fetches each candidate's delivery, event and subscription by key; only those few rows are sorted.
        #expect(plans.dueDeliveryDetails.contains("MATERIALIZE due"), "\(plans.dueDeliveryDetails)")
        #expect(plans.dueDeliveryDetails.contains("USING INDEX deliveries_due"), "\(plans.dueDeliveryDetails)")
        #expect(plans.dueDeliveryDetails.contains("SEARCH d USING INTEGER PRIMARY KEY"), "\(plans.dueDeliveryDetails)")
        #expect(plans.dueDeliveryDetails.contains("SEARCH e USING INTEGER PRIMARY KEY"), "\(plans.dueDeliveryDetails)")
        #expect(!plans.dueDeliveryDetails.split(separator: "\n").contains { $0 == "SCAN d" || $0.hasPrefix("SCAN d ") },
                "\(plans.dueDeliveryDetails)")
    }
}
