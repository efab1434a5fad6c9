import BridgeCore
public import BridgeStore
public import Foundation
public import Logging
import PostgresStore
import SQLiteStore

/// Where the bridge keeps its state: an SQLite file (the embedded default, one process) or a
/// PostgreSQL database that any number of replicas share. `BRIDGE_DATABASE` holds either.
public enum DatabaseLocation: Sendable, Equatable, CustomStringConvertible {
    case sqlite(path: String)
    /// `postgres://user:password@host:port/database?sslmode=disable|prefer|require`.
    case postgres(url: String)

    /// A `postgres://` or `postgresql://` URL selects PostgreSQL; anything else is a file path.
    public init(_ text: String) {
        let lowered = text.lowercased()
        self = lowered.hasPrefix("postgres://") || lowered.hasPrefix("postgresql://") ? .postgres(url: text) : .sqlite(path: text)
    }

    /// As written, without a password: for logs, errors and `--print-config`.
    public var description: String {
        switch self {
        case .sqlite(let path): path
        case .postgres(let url): URLText.redactingCredentials(url)
        }
    }

    public var isShared: Bool {
        if case .postgres = self { return true }
        return false
    }
}

extension BridgeConfiguration {
    /// Opens (creating and migrating as needed) the configured store. PostgreSQL needs
    /// `BRIDGE_ENCRYPTION_KEY`: replicas share one key, there is no key file beside a server database.
    public func openStore(logger: Logger) async throws(StoreError) -> any BridgeStorage {
        switch database {
        case .sqlite(let path):
            return try SQLiteBridgeStore(path: path, configuration: .init(busyTimeout: databaseBusyTimeout, encryptionKey: encryptionKey))
        case .postgres(let url):
            guard let encryptionKey else {
                throw .cannotOpen("a postgres:// BRIDGE_DATABASE needs BRIDGE_ENCRYPTION_KEY (or _FILE): every replica seals secrets with it")
            }
            return try await PostgresBridgeStore(
                url: url, configuration: .init(encryptionKey: encryptionKey), logger: logger.labelled("bridge.postgres")
            )
        }
    }
}
