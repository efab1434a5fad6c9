public import BridgeStore
import Foundation
import GRDB

/// `copy-store` on SQLite: booleans are 0/1, lists JSON text, bodies BLOBs.
extension SQLiteBridgeStore: StoreTransfer {
    public func exportRows(_ table: TransferTable, after: Int64?, limit: Int) async throws(StoreError) -> [[TransferValue]] {
        let columns = table.columns.map(\.name).joined(separator: ", ")
        let sql = table.key.map { "SELECT \(columns) FROM \(table.name) WHERE \($0) > ? ORDER BY \($0) LIMIT ?" }
            ?? "SELECT \(columns) FROM \(table.name)"
        let arguments: StatementArguments = table.key == nil ? [] : [after ?? Int64.min, limit]
        return try await read { db in
            try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in
                try table.columns.enumerated().map { index, column in try Self.transferValue(row, index, column.kind) }
            }
        }
    }

    public func importRows(_ table: TransferTable, _ rows: [[TransferValue]]) async throws(StoreError) {
        guard !rows.isEmpty else { return }
        let sql = "INSERT INTO \(table.name) (\(table.columns.map(\.name).joined(separator: ", "))) VALUES ("
            + Array(repeating: "?", count: table.columns.count).joined(separator: ", ") + ")"
        try await write { db in
            let statement = try db.makeStatement(sql: sql)
            for row in rows {
                try statement.execute(arguments: StatementArguments(row.map(Self.databaseValue)))
            }
        }
    }

    /// AUTOINCREMENT keys continue after the largest inserted one by themselves.
    public func finishImport() async throws(StoreError) {}

    private static func transferValue(_ row: Row, _ index: Int, _ kind: TransferTable.Kind) throws -> TransferValue {
        let value: DatabaseValue = row[index]
        if value.isNull { return .null }
        switch kind {
        case .integer: return .integer(Int64.fromDatabaseValue(value) ?? 0)
        case .real: return .real(Double.fromDatabaseValue(value) ?? 0)
        case .boolean: return .boolean((Int64.fromDatabaseValue(value) ?? 0) != 0)
        case .text: return .text(String.fromDatabaseValue(value) ?? "")
        case .bytes: return .bytes(Data.fromDatabaseValue(value) ?? Data())
        case .texts:
            let text = String.fromDatabaseValue(value) ?? "[]"
            guard let list = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String] else {
                throw StoreError.invalidData("a list column does not hold a JSON list of strings")
            }
            return .texts(list)
        }
    }

    private static func databaseValue(_ value: TransferValue) -> (any DatabaseValueConvertible)? {
        switch value {
        case .null: nil
        case .integer(let number): number
        case .real(let number): number
        case .boolean(let flag): flag ? 1 : 0
        case .text(let text): text
        case .texts(let list): jsonArray(list)
        case .bytes(let data): data
        }
    }
}
