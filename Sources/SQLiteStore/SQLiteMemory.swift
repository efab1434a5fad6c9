import GRDBSQLite

/// SQLite's own heap across the process: page caches, statement journals kept in memory, prepared
/// statements. What `core-bench` reports for a burst's writes.
public enum SQLiteMemory {
    /// The most SQLite has held since the last reset (`sqlite3_memory_highwater`); `reset` starts the
    /// next interval from what it holds now.
    public static func highWater(reset: Bool = false) -> Int64 { sqlite3_memory_highwater(reset ? 1 : 0) }
}
