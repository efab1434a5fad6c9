/// Why a store operation failed. Callers map these to HTTP (503 for full/read-only/busy) and to retries.
public enum StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The disk (or the file size limit) is full: writes fail until space returns.
    case diskFull
    /// The file or its directory cannot be written.
    case readOnly
    /// Another connection held the lock past the busy timeout.
    case busy
    /// A uniqueness or foreign-key rule refused the write (e.g. an unknown subscription).
    case constraint(String)
    /// The file is not a database or is damaged.
    case corrupt(String)
    /// The file could not be opened (missing directory, permissions).
    case cannotOpen(String)
    /// The file was migrated by a newer version of the bridge; this version refuses to touch it.
    case newerSchema(unknownMigrations: [String])
    /// A value read back did not make sense (a bug or a hand-edited file).
    case invalidData(String)
    /// The video was submitted through the bridge by another key: to this key it does not exist.
    case ownedByAnotherTenant
    /// A per-key limit would be passed; `setting` names its variable.
    case limitExceeded(setting: String)
    /// A poll-cycle write carried a term that is no longer the poller lease's: another replica took
    /// over, and this one must stop polling (see ``PollerLeaseStore``).
    case notLeader
    case other(String)

    public var description: String {
        switch self {
        case .diskFull: "database or disk is full"
        case .readOnly: "database is read-only"
        case .busy: "database is busy"
        case .constraint(let message): "constraint failed: \(message)"
        case .corrupt(let message): "database file is damaged: \(message)"
        case .cannotOpen(let message): "cannot open database: \(message)"
        case .newerSchema(let migrations):
            "database was created by a newer talking-photo-bridge (unknown migrations: "
                + migrations.joined(separator: ", ") + "); upgrade the binary or restore a backup"
        case .invalidData(let message): "invalid stored data: \(message)"
        case .ownedByAnotherTenant: "the video belongs to another key"
        case .limitExceeded(let setting): "limit reached (\(setting))"
        case .notLeader: "another replica holds the poller lease now; this poll cycle's writes were refused"
        case .other(let message): "database error: \(message)"
        }
    }

    /// Whether waiting and retrying may help (space may return, locks are released).
    public var isTransient: Bool {
        switch self {
        case .diskFull, .readOnly, .busy: true
        default: false
        }
    }
}
