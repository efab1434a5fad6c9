import Logging
import PostgresNIO
import Synchronization

/// Keeps the planner's statistics up with bursts. Autovacuum analyzes a table once it has changed by
/// a tenth (and looks only once a minute), so a burst that takes `deliveries` from 10 rows to 10,000
/// leaves the planner believing it holds 10: it then sorts every due row on each claim instead of
/// walking the due index (measured in a 10,000-delivery burst: 29 ms per claim, 13 ms per
/// completion; 929 deliveries/s). After a commit that queued many deliveries (at least 1,000, and at
/// least half the rows the table had at its last analysis), this runs `ANALYZE` on the outbox tables
/// at once, in the background, at most once every 10 s per process.
final class StatisticsRefresh: Sendable {
    static let minimumRows = 1_000
    static let spacing: Duration = .seconds(10)

    private struct State {
        var insertedSince = 0
        var tableRows = 0.0
        var last: ContinuousClock.Instant?
        var running = false
    }

    private let client: PostgresClient
    private let logger: Logger
    private let state = Mutex(State())

    init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Counts rows a commit added to the outbox; starts an `ANALYZE` when they are many.
    func noteInserted(_ rows: Int) {
        guard rows > 0 else { return }
        let now = ContinuousClock.now
        let start = state.withLock { state -> Bool in
            state.insertedSince += rows
            guard !state.running, Double(state.insertedSince) >= max(Double(Self.minimumRows), state.tableRows / 2),
                state.last.map({ now - $0 >= Self.spacing }) ?? true
            else { return false }
            state.running = true
            state.insertedSince = 0
            state.last = now
            return true
        }
        if start { Task { await self.analyze() } }
    }

    private func analyze() async {
        var rows: Double?
        do {
            try await client.query("ANALYZE deliveries, attempts, events", logger: logger)
            rows = try await client.query("SELECT reltuples::float8 FROM pg_class WHERE relname = 'deliveries'", logger: logger)
                .collect().first?.decode(Double.self)
            logger.debug("outbox statistics refreshed after a burst", metadata: ["deliveries_rows": "\(rows ?? -1)"])
        } catch {
            logger.debug("ANALYZE after a burst failed; autovacuum will catch up", metadata: ["error": "\(error)"])
        }
        state.withLock { state in
            if let rows { state.tableRows = rows }
            state.running = false
        }
    }
}
