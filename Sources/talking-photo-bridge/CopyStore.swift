import ArgumentParser
import BridgeService
import BridgeStore
import Foundation
import Logging
import SQLiteStore

/// `copy-store --from A --to B`: every record of one store into another, empty one (SQLite →
/// PostgreSQL for a bridge that outgrew one machine). Secrets stay sealed under the same key.
struct CopyStore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "copy-store",
        abstract: "Copy every record of one database into another, empty one (e.g. SQLite → PostgreSQL).",
        discussion: """
            Stop the bridge first. Each database is an SQLite file or a postgres:// URL. The target is \
            created and migrated if needed and must hold no records. Subscriptions, their sealed secrets, \
            tracked videos, events, deliveries (held and pending included) with their attempts and \
            idempotency records are copied as they are, then checked: row counts per table and the first row \
            of each (every row of the small tables) compared. The secrets key is BRIDGE_ENCRYPTION_KEY (or _FILE), else the \
            SQLite source's key file; the target uses the same key, so set BRIDGE_ENCRYPTION_KEY to it on \
            every replica.
            """
    )

    @Option(help: "The database to copy from (SQLite file or postgres:// URL).")
    var from: String

    @Option(help: "The empty database to copy into (SQLite file or postgres:// URL).")
    var to: String

    func run() async throws {
        let source = DatabaseLocation(from)
        let target = DatabaseLocation(to)
        guard source != target else {
            printError("talking-photo-bridge copy-store: --from and --to name the same database")
            throw ExitCode(64)
        }
        var configuration = try operatorDatabase(from, command: "copy-store")
        if configuration.encryptionKey == nil, case .sqlite(let path) = source {
            let keyFile = SQLiteBridgeStore.keyFilePath(forDatabase: path)
            guard let text = try? String(contentsOfFile: keyFile, encoding: .utf8), let key = SecretBox.parseKey(text) else {
                printError("talking-photo-bridge copy-store: no BRIDGE_ENCRYPTION_KEY and no readable key file \(keyFile)")
                throw ExitCode(78)
            }
            configuration.encryptionKey = key
        }
        let quiet = Logger(label: "copy-store", factory: { _ in SwiftLogNoOpLogHandler() })
        do {
            let from = try await configuration.openStore(logger: quiet)
            var targetConfiguration = configuration
            targetConfiguration.database = target
            let into = try await targetConfiguration.openStore(logger: quiet)
            let report = try await Self.copy(from: from, into: into)
            for line in report { print(line) }
            print("copied \(source) to \(target); its secrets are sealed under the key the source used: give every bridge on \(target) that key as BRIDGE_ENCRYPTION_KEY")
        } catch let failure as CopyFailure {
            printError("talking-photo-bridge copy-store: \(failure.message)")
            throw ExitCode(1)
        } catch {
            printError("talking-photo-bridge copy-store: \(error)")
            throw ExitCode(1)
        }
    }

    struct CopyFailure: Error { let message: String }

    /// Copies every table in pages, then compares counts, the first row of each keyed table and every
    /// row of the others.
    static func copy(from source: any BridgeStorage, into target: any BridgeStorage) async throws -> [String] {
        let names = Set(TransferTable.all.map(\.name))
        let occupied = try await target.tableCounts().filter { names.contains($0.key) && $0.value > 0 }
        guard occupied.isEmpty else {
            throw CopyFailure(message: "the target is not empty (\(occupied.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", "))); copy into an empty database")
        }
        var lines: [String] = []
        for table in TransferTable.all {
            var copied = 0
            var after: Int64?
            let keyIndex = table.key.flatMap { key in table.columns.firstIndex { $0.name == key } }
            for _ in 0..<10_000_000 {
                let rows = try await source.exportRows(table, after: after, limit: 1_000)
                try await target.importRows(table, rows)
                copied += rows.count
                guard let keyIndex, rows.count == 1_000, case .integer(let last) = rows[rows.count - 1][keyIndex] else { break }
                after = last
            }
            lines.append("\(table.name): \(copied) rows")
        }
        try await target.finishImport()
        // Verified: the same counts, and the same rows where compared.
        let sourceCounts = try await source.tableCounts()
        let targetCounts = try await target.tableCounts()
        for table in TransferTable.all where sourceCounts[table.name] != targetCounts[table.name] {
            throw CopyFailure(message: "\(table.name): \(sourceCounts[table.name] ?? 0) rows in the source, \(targetCounts[table.name] ?? 0) copied")
        }
        for table in TransferTable.all {
            // Keyed tables: their first row; the small unkeyed ones: every row (in any order).
            let copiedRows = try await target.exportRows(table, after: nil, limit: 1)
            let sourceRows = try await source.exportRows(table, after: nil, limit: 1)
            guard Set(copiedRows) == Set(sourceRows) else {
                throw CopyFailure(message: "\(table.name): rows differ after the copy")
            }
        }
        return lines
    }
}
