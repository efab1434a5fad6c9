import BridgeCore
@testable import BridgeStore
import Foundation
import GRDB
@testable import SQLiteStore
import TestSupport
import Testing

/// Secrets at rest, against real SQLite files: what is on disk, which key opens it, and how the key
/// is changed.
@Suite("Secrets at rest")
struct EncryptionTests {
    static let secret = "whsec_c2VjcmV0LXRoYXQtbXVzdC1uZXZlci1iZS1vbi1kaXNr"
    /// A custom header value: sealed like the secret.
    static let headerValue = "Bearer gateway-token-that-must-never-be-on-disk"

    /// Every byte the database keeps on disk (main file, WAL, shared memory).
    static func bytesOnDisk(_ path: String) -> Data {
        var all = Data()
        for file in [path, path + "-wal", path + "-shm"] {
            if let data = FileManager.default.contents(atPath: file) { all.append(data) }
        }
        return all
    }

    static func mode(_ path: String) -> Int? {
        (try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? nil
    }

    /// A subscription with `secret` and a custom header, a pending delivery for it, and an idempotent
    /// response carrying the secret.
    static func seed(_ store: SQLiteBridgeStore) async throws -> String {
        let subscription = try await store.createSubscription(
            NewSubscription(
                tenant: "acme", url: "https://hooks.example.com/in", secret: secret,
                headers: [CustomHeader(name: "Authorization", value: headerValue)]
            ),
            now: t0
        )
        _ = try await store.ping(tenant: "acme", subscriptionID: subscription.id, now: t0)
        _ = try await store.claimIdempotencyKey(tenant: "acme", key: "k1", requestHash: "h", ttl: .seconds(86_400), now: t0)
        let body = Data(#"{"id":"\#(subscription.id)","secret":"\#(secret)"}"#.utf8)
        try await store.completeIdempotencyKey(tenant: "acme", key: "k1", status: 201, contentType: "application/json", body: body)
        return subscription.id
    }

    static func claimedSecrets(_ store: SQLiteBridgeStore) async throws -> [String] {
        let claimed = try await store.claimDueDeliveries(
            now: at(1), limit: 10, leaseOwner: "test", leaseDuration: .seconds(60), cap: .unlimited
        )
        return claimed.flatMap(\.secrets) + claimed.flatMap(\.headers).map(\.value)
    }

    static func storedResponse(_ store: SQLiteBridgeStore) async throws -> Data? {
        let claim = try await store.claimIdempotencyKey(tenant: "acme", key: "k1", requestHash: "h", ttl: .seconds(86_400), now: at(2))
        guard case .completed(_, _, let body) = claim else { return nil }
        return body
    }

    @Test("no secret reaches the disk in clear; the store reads them back; files are 0600")
    func sealedOnDisk() async throws {
        let fixture = try StoreFixture()
        _ = try await Self.seed(fixture.store)

        let disk = Self.bytesOnDisk(fixture.path)
        #expect(disk.count > 0)
        #expect(disk.range(of: Data(Self.secret.utf8)) == nil, "the secret is nowhere in the database, WAL or shm files")
        #expect(disk.range(of: Data("gateway-token".utf8)) == nil, "nor the custom header's value")
        let raw = try await fixture.store.read { db in try String.fetchOne(db, sql: "SELECT secret FROM subscription_secrets") }
        #expect(raw?.hasPrefix("enc1:") == true)
        let rawHeaders = try await fixture.store.read { db in try String.fetchOne(db, sql: "SELECT headers FROM subscriptions") }
        #expect(rawHeaders?.hasPrefix("enc1:") == true)
        #expect(
            try await Self.claimedSecrets(fixture.store) == [Self.secret, Self.headerValue],
            "the dispatcher signs with the clear secret and sends the clear header"
        )
        let response = try #require(try await Self.storedResponse(fixture.store))
        #expect(String(decoding: response, as: UTF8.self).contains(Self.secret), "the replayed response is the original")

        for file in [fixture.path, fixture.path + "-wal", fixture.path + "-shm", fixture.path + ".key"] {
            #expect(Self.mode(file) == 0o600, "\(file) is \(String(Self.mode(file) ?? 0, radix: 8))")
        }
    }

    @Test("a value moved onto another row does not open")
    func boundToItsRow() async throws {
        let fixture = try StoreFixture()
        let first = try await Self.seed(fixture.store)
        let second = try await fixture.store.createSubscription(
            NewSubscription(tenant: "acme", url: "https://hooks.example.com/other", secret: "whsec_b3RoZXI="), now: t0
        )
        try await fixture.store.write { db in
            let sealed = try String.fetchOne(db, sql: "SELECT secret FROM subscription_secrets WHERE subscription_id = ?", arguments: [first])
            try db.execute(sql: "UPDATE subscription_secrets SET secret = ? WHERE subscription_id = ?", arguments: [sealed, second.id])
        }
        let moved = try await fixture.store.read { db in
            try String.fetchOne(db, sql: "SELECT secret FROM subscription_secrets WHERE subscription_id = ?", arguments: [second.id])
        }
        #expect(throws: StoreError.self) { try fixture.store.openSecret(moved ?? "", subscriptionID: second.id) }
        #expect(try fixture.store.openSecret(moved ?? "", subscriptionID: first) == Self.secret)
    }

    @Test("opening with another key, or without the key file, is refused naming the key ids")
    func wrongOrMissingKey() async throws {
        let fixture = try StoreFixture()
        _ = try await Self.seed(fixture.store)
        let other = SecretBox.generateKeyMaterial()
        #expect {
            _ = try SQLiteBridgeStore(path: fixture.path, configuration: .init(encryptionKey: other))
        } throws: { error in
            "\(error)".contains(fixture.store.secrets.keyID) && "\(error)".contains(SecretBox.keyID(of: other))
        }
        try FileManager.default.removeItem(atPath: fixture.path + ".key")
        #expect {
            _ = try SQLiteBridgeStore(path: fixture.path)
        } throws: { error in
            "\(error)".contains(".key does not exist") && "\(error)".contains(fixture.store.secrets.keyID)
        }
        #expect(!FileManager.default.fileExists(atPath: fixture.path + ".key"), "no new key is made for a database that has one")
    }

    @Test("an existing database with secrets in clear is sealed by the migration and tightened to 0600")
    func migrationSealsPlaintext() async throws {
        let directory = try TemporaryDirectory("seal-migration")
        defer { directory.remove() }
        let path = directory.path("old.sqlite")
        let old = try DatabaseQueue(path: path)
        try Schema.migrator.migrate(old, upTo: "v6-retention-of-finished-records")
        try await old.write { db in
            try db.execute(sql: "INSERT INTO tenants (name, created_at) VALUES ('acme', 0)")
            try db.execute(
                sql: """
                    INSERT INTO subscriptions (id, tenant, url, enabled, created_at, updated_at)
                    VALUES ('sub_old', 'acme', 'https://hooks.example.com/in', 1, 0, 0)
                    """
            )
            try db.execute(
                sql: "INSERT INTO subscription_secrets (subscription_id, secret, created_at) VALUES ('sub_old', ?, 0)",
                arguments: [Self.secret]
            )
            try db.execute(
                sql: "INSERT INTO idempotency_keys (tenant, key, request_hash, status, body, created_at) VALUES ('acme', 'k1', 'h', 201, ?, ?)",
                arguments: [Data(Self.secret.utf8), at(0).timeIntervalSince1970]
            )
        }
        try old.close()
        _ = chmod(path, 0o644)

        try await Self.checkSealedMigration(path)
        // Checkpointed by a fresh connection once the store is gone: what the main file keeps.
        let after = try DatabaseQueue(path: path)
        try await after.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        try after.close()
        #expect(Self.bytesOnDisk(path).range(of: Data(Self.secret.utf8)) == nil, "no clear copy is left in free space")
    }

    static func checkSealedMigration(_ path: String) async throws {
        let store = try SQLiteBridgeStore(path: path)
        #expect(Self.mode(path) == 0o600)
        let raw = try await store.read { db in
            (try String.fetchOne(db, sql: "SELECT secret FROM subscription_secrets"), try Data.fetchOne(db, sql: "SELECT body FROM idempotency_keys"))
        }
        #expect(raw.0?.hasPrefix("enc1:") == true)
        #expect(raw.1.map { String(decoding: $0, as: UTF8.self).hasPrefix("enc1:") } == true)
        #expect(try store.openSecret(raw.0 ?? "", subscriptionID: "sub_old") == Self.secret)
        #expect(try await Self.storedResponse(store) == Data(Self.secret.utf8))
    }

    @Test("rekey re-seals everything under a new key file; a rekey stopped before its rename is finished on open")
    func rekey() async throws {
        let fixture = try StoreFixture()
        _ = try await Self.seed(fixture.store)
        let keyPath = fixture.path + ".key"
        let oldKey = try String(contentsOfFile: keyPath, encoding: .utf8)
        let oldID = fixture.store.secrets.keyID

        let report = try SQLiteBridgeStore.rekey(path: fixture.path, currentKey: nil, newKey: nil)
        #expect(report.oldKeyID == oldID && report.newKeyID != oldID)
        #expect(report.secrets == 2 && report.responses == 1, "the signing secret and the custom headers")
        #expect(try String(contentsOfFile: keyPath, encoding: .utf8) != oldKey)
        #expect(Self.mode(keyPath) == 0o600)
        let reopened = try SQLiteBridgeStore(path: fixture.path)
        #expect(reopened.secrets.keyID == report.newKeyID)
        #expect(try await Self.storedResponse(reopened).map { String(decoding: $0, as: UTF8.self).contains(Self.secret) } == true)
        #expect(try await Self.claimedSecrets(reopened) == [Self.secret, Self.headerValue])

        // As if the process died after the commit and before renaming the new key into place.
        try FileManager.default.moveItem(atPath: keyPath, toPath: keyPath + ".next")
        try oldKey.write(toFile: keyPath, atomically: true, encoding: .utf8)
        let recovered = try SQLiteBridgeStore(path: fixture.path)
        #expect(recovered.secrets.keyID == report.newKeyID)
        #expect(!FileManager.default.fileExists(atPath: keyPath + ".next"))

        // With a configured key, the new one must be given, and the old one stops opening the database.
        let given = SecretBox.generateKeyMaterial()
        let current = try #require(SecretBox.parseKey(try String(contentsOfFile: keyPath, encoding: .utf8)))
        #expect(throws: StoreError.self) { _ = try SQLiteBridgeStore.rekey(path: fixture.path, currentKey: current, newKey: nil) }
        let explicit = try SQLiteBridgeStore.rekey(path: fixture.path, currentKey: current, newKey: given)
        #expect(explicit.newKeyID == SecretBox.keyID(of: given) && explicit.keyFile == nil)
        #expect(throws: StoreError.self) { _ = try SQLiteBridgeStore(path: fixture.path) }
        let withGiven = try SQLiteBridgeStore(path: fixture.path, configuration: .init(encryptionKey: given))
        #expect(try await Self.storedResponse(withGiven).map { String(decoding: $0, as: UTF8.self).contains(Self.secret) } == true)
    }

    @Test("keys parse as base64 or hex of exactly 32 bytes")
    func keyText() {
        let key = SecretBox.generateKeyMaterial()
        #expect(SecretBox.parseKey(key.base64EncodedString()) == key)
        #expect(SecretBox.parseKey(" " + key.map { String(format: "%02x", $0) }.joined() + "\n") == key)
        #expect(SecretBox.parseKey(Data(repeating: 1, count: 16).base64EncodedString()) == nil)
        #expect(SecretBox.parseKey("not a key") == nil)
    }
}
