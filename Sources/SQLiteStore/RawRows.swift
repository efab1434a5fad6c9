import GRDB
import GRDBSQLite

/// Rows read with SQLite's C API, for the hot statements where GRDB's generic row decoding costs more
/// than the query (the claim's candidates, the poller's due list and its scan of a batch).
extension SQLiteBridgeStore {
    /// Runs `statement` with `arguments` and calls `body` with the statement's handle on each row;
    /// the statement is reset afterwards, also when `body` throws.
    static func forEachRow(
        _ db: Database, _ statement: Statement, arguments: StatementArguments, _ body: (SQLiteStatement) throws -> Void
    ) throws {
        try statement.setArguments(arguments)
        let handle = statement.sqliteStatement
        defer { sqlite3_reset(handle) }
        while true {
            let step = sqlite3_step(handle)
            if step == SQLITE_DONE { return }
            guard step == SQLITE_ROW else { throw DatabaseError(resultCode: ResultCode(rawValue: step), message: db.lastErrorMessage) }
            try body(handle)
        }
    }

    /// Column `index` of the statement's current row as text; nil for NULL.
    static func text(_ handle: SQLiteStatement, _ index: Int32) -> String? {
        guard let bytes = sqlite3_column_text(handle, index) else { return nil }
        return String(cString: bytes)
    }
}
