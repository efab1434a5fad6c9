public import Foundation
public import BridgeStore
import GRDB

#if canImport(Glibc)
    import Glibc
#endif

/// Where the secrets' key comes from and how the files stay private.
///
/// - The database and its `-wal`/`-shm` files are created `0600` (SQLite gives the side files the
///   database's mode); an existing database that others can read is tightened to `0600` on open.
/// - The key is `Configuration.encryptionKey` (from `BRIDGE_ENCRYPTION_KEY`/`_FILE`) or else the
///   file `<database>.key`, generated (`0600`) the first time a database is created. The database
///   records the key's id (`meta.encryption_key_id`), so opening it with another key, or after
///   `<database>.key` was lost, is refused with a message naming both ids instead of failing later
///   on each delivery.
/// - `rekey` writes the new key to `<database>.key.next`, re-encrypts in one transaction, then
///   renames it over `<database>.key`; a crash between the commit and the rename is finished on the
///   next open (the id recorded in the database says which file holds the right key).
extension SQLiteBridgeStore {
    static let keyIDMetaKey = "encryption_key_id"

    public static func keyFilePath(forDatabase path: String) -> String { path + ".key" }

    /// Creates the database file `0600` when it does not exist; tightens it and its side files when
    /// group or others may read them.
    static func ensurePrivateFiles(_ path: String) throws(StoreError) {
        let descriptor = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if descriptor >= 0 {
            close(descriptor)
            return
        }
        guard errno == EEXIST else { return }  // Missing directory and the like: SQLite's open explains it.
        for file in [path, path + "-wal", path + "-shm"] {
            var info = stat()
            if stat(file, &info) == 0, info.st_mode & 0o077 != 0 {
                _ = chmod(file, 0o600)
            }
        }
    }

    static func storedKeyID(_ db: Database) throws -> String? {
        guard try db.tableExists("meta") else { return nil }
        return try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [keyIDMetaKey])
    }

    /// The key to use for the database at `path`, checked against the id it recorded.
    static func resolveKey(databasePath path: String, given: Data?, storedKeyID: String?) throws(StoreError) -> SecretBox {
        if let given {
            guard let box = SecretBox(keyMaterial: given) else { throw .cannotOpen("the encryption key must be 32 bytes") }
            try check(box, against: storedKeyID, origin: "BRIDGE_ENCRYPTION_KEY")
            return box
        }
        let keyPath = keyFilePath(forDatabase: path)
        let nextPath = keyPath + ".next"
        if let box = try readKeyFile(keyPath) {
            if let storedKeyID, box.keyID != storedKeyID, let next = try readKeyFile(nextPath), next.keyID == storedKeyID {
                // A rekey committed but was stopped before it renamed the new key into place.
                guard rename(nextPath, keyPath) == 0 else { throw .cannotOpen("cannot rename \(nextPath): \(errnoText())") }
                return next
            }
            if FileManager.default.fileExists(atPath: nextPath) { try? FileManager.default.removeItem(atPath: nextPath) }
            try check(box, against: storedKeyID, origin: keyPath)
            return box
        }
        if let storedKeyID {
            throw .cannotOpen(
                "the database's secrets are encrypted under key \(storedKeyID), but \(keyPath) does not exist; "
                    + "restore it or set BRIDGE_ENCRYPTION_KEY_FILE to the key"
            )
        }
        let material = SecretBox.generateKeyMaterial()
        try writeKeyFile(keyPath, material, exclusive: true)
        guard let box = SecretBox(keyMaterial: material) else { throw .other("generated key has the wrong size") }
        return box
    }

    private static func check(_ box: SecretBox, against stored: String?, origin: String) throws(StoreError) {
        guard let stored, stored != box.keyID else { return }
        throw .cannotOpen(
            "the database's secrets are encrypted under key \(stored), but \(origin) is key \(box.keyID); "
                + "use the key the database was created or re-keyed with"
        )
    }

    static func readKeyFile(_ path: String) throws(StoreError) -> SecretBox? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw .cannotOpen("cannot read the key file \(path): \(errnoText())")
        }
        guard let material = SecretBox.parseKey(text), let box = SecretBox(keyMaterial: material) else {
            throw .cannotOpen("\(path) does not hold a 32-byte key (base64 or hex)")
        }
        return box
    }

    /// Writes a key file `0600` and flushes it to disk before returning.
    static func writeKeyFile(_ path: String, _ material: Data, exclusive: Bool) throws(StoreError) {
        let flags = O_WRONLY | O_CREAT | O_CLOEXEC | (exclusive ? O_EXCL : O_TRUNC)
        let descriptor = open(path, flags, 0o600)
        guard descriptor >= 0 else { throw .cannotOpen("cannot create the key file \(path): \(errnoText())") }
        defer { close(descriptor) }
        let bytes = Array(SecretBox.encodeKey(material).utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
        guard written == bytes.count, fsync(descriptor) == 0 else {
            throw .cannotOpen("cannot write the key file \(path): \(errnoText())")
        }
    }

    private static func errnoText() -> String { String(cString: strerror(errno)) }

    /// Seals every secret and stored response still in clear (databases from before encryption).
    static func sealPlaintext(_ db: Database, with box: SecretBox?) throws {
        let sealedPrefix = Data(SecretBox.prefix.utf8)
        // The clear values' bytes are zeroed where they lay, not left in the pages' free space.
        try db.execute(sql: "PRAGMA secure_delete = ON")
        defer { try? db.execute(sql: "PRAGMA secure_delete = OFF") }
        // Custom headers came after encryption (v11): they were never stored in clear, and v7 must not
        // read a column that does not exist yet.
        _ = try reseal(db, with: box, headers: false) { stored, _ in stored.starts(with: sealedPrefix) ? nil : stored }
    }

    /// Rewrites every stored secret (signing secrets and custom headers) and response as `box` seals it. `clear` gives a stored value's
    /// clear bytes (given its authenticated context), or nil to leave that row as it is; `box` may
    /// be nil only when no row needs it; `headers`: custom headers too. Returns how many secrets and
    /// responses were rewritten.
    static func reseal(_ db: Database, with box: SecretBox?, headers: Bool, clear: (Data, String) throws -> Data?) throws
        -> (secrets: Int, responses: Int)
    {
        func seal(_ plain: Data, _ context: String) throws -> String {
            guard let box else { throw StoreError.other("sealing the stored secrets needs the encryption key") }
            return try box.seal(plain, context: context)
        }
        var counts = (secrets: 0, responses: 0)
        for row in try Row.fetchAll(db, sql: "SELECT id, subscription_id, secret FROM subscription_secrets") {
            let context = SecretBox.secretContext(subscriptionID: row["subscription_id"])
            guard let plain = try clear(Data((row["secret"] as String).utf8), context) else { continue }
            try db.execute(
                sql: "UPDATE subscription_secrets SET secret = ? WHERE id = ?", arguments: [try seal(plain, context), row["id"] as Int64]
            )
            counts.secrets += 1
        }
        for row in try headers ? Row.fetchAll(db, sql: "SELECT id, headers FROM subscriptions WHERE headers IS NOT NULL") : [] {
            let context = SecretBox.headersContext(subscriptionID: row["id"])
            guard let plain = try clear(Data((row["headers"] as String).utf8), context) else { continue }
            try db.execute(sql: "UPDATE subscriptions SET headers = ? WHERE id = ?", arguments: [try seal(plain, context), row["id"] as String])
            counts.secrets += 1
        }
        for row in try Row.fetchAll(db, sql: "SELECT tenant, key, body FROM idempotency_keys WHERE body IS NOT NULL") {
            let (tenant, key): (String, String) = (row["tenant"], row["key"])
            let context = SecretBox.responseContext(tenant: tenant, key: key)
            guard let plain = try clear(row["body"], context) else { continue }
            try db.execute(
                sql: "UPDATE idempotency_keys SET body = ? WHERE tenant = ? AND key = ?",
                arguments: [Data(try seal(plain, context).utf8), tenant, key]
            )
            counts.responses += 1
        }
        return counts
    }

    /// Seals a response body for `idempotency_keys.body`.
    func sealResponse(_ body: Data, tenant: String, key: String) throws(StoreError) -> Data {
        Data(try secrets.seal(body, context: SecretBox.responseContext(tenant: tenant, key: key)).utf8)
    }

    static func openResponse(_ stored: Data, tenant: String, key: String, with box: SecretBox) throws(StoreError) -> Data {
        try box.open(String(decoding: stored, as: UTF8.self), context: SecretBox.responseContext(tenant: tenant, key: key))
    }

    func sealSecret(_ secret: String, subscriptionID: String) throws(StoreError) -> String {
        try secrets.seal(secret, context: SecretBox.secretContext(subscriptionID: subscriptionID))
    }

    func openSecret(_ sealed: String, subscriptionID: String) throws(StoreError) -> String {
        try secrets.openText(sealed, context: SecretBox.secretContext(subscriptionID: subscriptionID))
    }
}

extension SQLiteBridgeStore {
    /// Re-encrypts every secret and stored response under `newKey` (generated when nil) in one
    /// transaction. With no configured key (`<database>.key` mode) the new key replaces that file;
    /// with a configured key the caller must switch the configuration to `newKey` afterwards.
    /// Run it with the bridge stopped: a running bridge keeps sealing with the old key.
    public static func rekey(path: String, currentKey: Data?, newKey: Data?) throws(StoreError) -> RekeyReport {
        if currentKey != nil, newKey == nil {
            throw .other("with BRIDGE_ENCRYPTION_KEY or _FILE set, give the new key (--new-key-file)")
        }
        let store = try SQLiteBridgeStore(path: path, configuration: .init(encryptionKey: currentKey))
        let old = store.secrets
        let material = newKey ?? SecretBox.generateKeyMaterial()
        guard let new = SecretBox(keyMaterial: material) else { throw .other("the new key must be 32 bytes") }
        guard new.keyID != old.keyID else { throw .other("the new key is the current key") }
        let keyPath = keyFilePath(forDatabase: path)
        let nextPath = keyPath + ".next"
        if currentKey == nil { try writeKeyFile(nextPath, material, exclusive: false) }
        let counts: (secrets: Int, responses: Int)
        do {
            counts = try store.pool.write { db in
                let counts = try reseal(db, with: new, headers: true) { stored, context in
                    try old.open(String(decoding: stored, as: UTF8.self), context: context)
                }
                try db.execute(
                    sql: "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", arguments: [keyIDMetaKey, new.keyID]
                )
                return counts
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(error)
        }
        if currentKey == nil {
            guard rename(nextPath, keyPath) == 0 else {
                throw .other("re-encrypted, but cannot rename \(nextPath) to \(keyPath): the next start finishes it")
            }
        }
        return RekeyReport(
            oldKeyID: old.keyID, newKeyID: new.keyID, secrets: counts.secrets, responses: counts.responses,
            keyFile: currentKey == nil ? keyPath : nil
        )
    }
}
