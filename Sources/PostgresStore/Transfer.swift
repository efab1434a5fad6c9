public import BridgeStore
import Foundation
import PostgresNIO

/// `copy-store` on PostgreSQL: native booleans, `text[]` and `bytea`; bigserial sequences are moved
/// past the copied keys at the end.
extension PostgresBridgeStore: StoreTransfer {
    public func exportRows(_ table: TransferTable, after: Int64?, limit: Int) async throws(StoreError) -> [[TransferValue]] {
        let columns = table.columns.map(\.name).joined(separator: ", ")
        return try await read { sql in
            let rows: [PostgresRow]
            if let key = table.key {
                rows = try await sql.rows(
                    "SELECT \(unescaped: columns) FROM \(unescaped: table.name) WHERE \(unescaped: key) > \(after ?? Int64.min) ORDER BY \(unescaped: key) LIMIT \(limit)"
                )
            } else {
                rows = try await sql.rows("SELECT \(unescaped: columns) FROM \(unescaped: table.name)")
            }
            return try rows.map { row in
                let cells = row.makeRandomAccess()
                return try table.columns.enumerated().map { index, column in try Self.transferValue(cells[index], column.kind) }
            }
        }
    }

    public func importRows(_ table: TransferTable, _ rows: [[TransferValue]]) async throws(StoreError) {
        guard !rows.isEmpty else { return }
        let placeholders = (1...table.columns.count).map { "$\($0)" }.joined(separator: ", ")
        let text = "INSERT INTO \(table.name) (\(table.columns.map(\.name).joined(separator: ", "))) VALUES (\(placeholders))"
        try await transaction { sql in
            for row in rows {
                var bindings = PostgresBindings(capacity: row.count)
                for value in row {
                    switch value {
                    case .null: bindings.appendNull()
                    case .integer(let number): bindings.append(number)
                    case .real(let number): bindings.append(number)
                    case .boolean(let flag): bindings.append(flag)
                    case .text(let string): bindings.append(string)
                    case .texts(let list): bindings.append(list)
                    case .bytes(let data): try bindings.append(data)
                    }
                }
                try await sql.run(PostgresQuery(unsafeSQL: text, binds: bindings))
            }
        }
    }

    public func finishImport() async throws(StoreError) {
        try await transaction { sql in
            for table in TransferTable.all {
                guard let key = table.key else { continue }
                try await sql.run(
                    """
                    SELECT setval(pg_get_serial_sequence('\(unescaped: table.name)', '\(unescaped: key)'),
                        COALESCE((SELECT MAX(\(unescaped: key)) FROM \(unescaped: table.name)), 0) + 1, false)
                    """
                )
            }
        }
    }

    private static func transferValue(_ cell: PostgresCell, _ kind: TransferTable.Kind) throws -> TransferValue {
        guard cell.bytes != nil else { return .null }
        switch kind {
        case .integer: return .integer(try cell.decode(Int64.self))
        case .real: return .real(try cell.decode(Double.self))
        case .boolean: return .boolean(try cell.decode(Bool.self))
        case .text: return .text(try cell.decode(String.self))
        case .texts: return .texts(try cell.decode([String].self))
        case .bytes: return .bytes(try cell.decode(Data.self))
        }
    }
}
