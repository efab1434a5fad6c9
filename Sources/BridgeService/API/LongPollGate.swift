import Synchronization

/// Counts each key's long polls in flight (`GET /v1/events?wait=`), so one key cannot hold every
/// connection and task with waiting requests (`BRIDGE_MAX_LONG_POLLS`).
final class LongPollGate: Sendable {
    private let open = Mutex<[String: Int]>([:])
    let maximum: Int

    init(maximum: Int) { self.maximum = maximum }

    /// Runs `body` as one of `tenant`'s long polls, or throws `limitExceeded` when it has `maximum` open.
    func run<T>(tenant: String, _ body: () async throws -> T) async throws -> T {
        let admitted = open.withLock { open -> Bool in
            guard open[tenant, default: 0] < maximum else { return false }
            open[tenant, default: 0] += 1
            return true
        }
        guard admitted else {
            throw BridgeError.limitExceeded(setting: "BRIDGE_MAX_LONG_POLLS", what: BridgeError.limitDescription("BRIDGE_MAX_LONG_POLLS"))
        }
        defer {
            open.withLock { open in
                let left = open[tenant, default: 1] - 1
                open[tenant] = left > 0 ? left : nil
            }
        }
        return try await body()
    }
}
