public import BridgeCore
public import BridgeStore
public import Foundation
import PostgresNIO

/// Tracking: videos, their observed states, and the events each change appends (fanned out by
/// ``enqueueDeliveries``) in the same transaction.
extension PostgresBridgeStore {
    @discardableResult
    public func track(
        tenant: String,
        videoID: String,
        source: TrackingSource,
        initial: Observation?,
        subscription: NewSubscription?,
        limits: TenantLimits,
        now: Date,
        nextPollAt: Date
    ) async throws(StoreError) -> (video: TrackedVideo, created: Bool, report: ObservationReport) {
        let box = secrets
        let result = try await transaction { sql -> (TrackedVideo, Bool, ObservationReport) in
            // Two keys racing for one video: the lock on the id makes the ownership check and the insert one step.
            try await sql.run("SELECT pg_advisory_xact_lock(hashtextextended(\(videoID), 0))")
            if source == .watch, try await Self.isSubmitted(sql, videoID: videoID, byAnotherThan: tenant) {
                throw StoreError.ownedByAnotherTenant
            }
            let exists = try await sql.one(
                "SELECT EXISTS (SELECT 1 FROM videos WHERE tenant = \(tenant) AND video_id = \(videoID))", as: Bool.self
            ) ?? false
            try await Self.checkLimits(sql, tenant: tenant, subscriptions: subscription == nil ? 0 : 1, videos: exists ? 0 : 1, limits: limits)
            try await Self.ensureTenant(sql, tenant, now: now)
            if let subscription { try await Self.insertSubscription(sql, subscription, now: now, secrets: box) }
            let created = try await sql.run(
                """
                INSERT INTO videos (tenant, video_id, source, tracking_started_at, next_poll_at)
                VALUES (\(tenant), \(videoID), \(source.rawValue), \(now.unixSeconds), \(nextPollAt.unixSeconds))
                ON CONFLICT (tenant, video_id) DO NOTHING RETURNING 1
                """
            ) > 0
            var report = ObservationReport()
            if let initial, initial.videoID == videoID,
                let row = try await sql.rows("SELECT \(unescaped: StateRow.columns) FROM videos WHERE tenant = \(tenant) AND video_id = \(videoID) FOR UPDATE").first
            {
                let state = try StateRow(row)
                if state.tracking.notifiedStatus == nil {
                    let change = Change(row: state, observation: initial, transition: StatusRules.apply(initial, to: state.tracking))
                    try await Self.record([change], sql, now: now, nextPollAt: nextPollAt, report: &report)
                }
            }
            guard let video = try await Self.fetchVideo(sql, tenant: tenant, videoID: videoID) else {
                throw StoreError.invalidData("tracked video vanished")
            }
            return (video, created, report)
        }
        notifyCommitted(result.2)
        return (video: result.0, created: result.1, report: result.2)
    }

    public func isSubmittedByAnotherTenant(videoID: String, tenant: String) async throws(StoreError) -> Bool {
        try await read { sql in try await Self.isSubmitted(sql, videoID: videoID, byAnotherThan: tenant) }
    }

    static func isSubmitted(_ sql: SQL, videoID: String, byAnotherThan tenant: String) async throws -> Bool {
        try await sql.one(
            "SELECT EXISTS (SELECT 1 FROM videos WHERE video_id = \(videoID) AND source = 'generate' AND tenant <> \(tenant))",
            as: Bool.self
        ) ?? false
    }

    @discardableResult
    public func untrack(tenant: String, videoID: String) async throws(StoreError) -> Bool {
        try await transaction { sql in
            try await sql.run("DELETE FROM videos WHERE tenant = \(tenant) AND video_id = \(videoID) RETURNING 1") > 0
        }
    }

    @discardableResult
    public func recordObservations(
        _ observations: [Observation],
        now: Date,
        nextPollAt: Date,
        repeats repeatWrites: RepeatWrites,
        fence: PollerTerm?,
        scope: TenantScope
    ) async throws(StoreError) -> ObservationReport {
        guard !observations.isEmpty else { return ObservationReport() }
        let (mode, tenants) = (scope.mode, scope.tenants)
        var seen = Set<String>()
        let batch = observations.filter { seen.insert($0.videoID).inserted }
        let ids = batch.map(\.videoID)
        let report = try await transaction { sql in
            try await sql.checkFence(fence)
            var report = ObservationReport()
            var position: [String: Int] = [:]
            position.reserveCapacity(batch.count)
            for (index, observation) in batch.enumerated() { position[observation.videoID] = index }
            // As in SQLite: repeats only get their poll times (when `repeats` asks), changes go through
            // StatusRules. Rows are locked in id order, so two writers never deadlock on them.
            let rows = try await sql.rows(
                """
                SELECT \(unescaped: StateRow.columns) FROM videos WHERE NOT terminal AND video_id = ANY(\(ids))
                  AND (\(mode) = 0 OR (\(mode) = 1) = (tenant = ANY(\(tenants)))) ORDER BY id FOR UPDATE
                """
            )
            var repeats: [Int64] = []
            var changing: [(order: Int, row: StateRow)] = []
            for row in rows {
                let state = try StateRow(row)
                guard let order = position[state.videoID] else { continue }
                let observation = batch[order]
                if let observed = state.tracking.observedStatus,
                    KnownObservation(status: observed, videoURL: state.tracking.videoURL).covers(
                        status: observation.status, videoURL: observation.videoURL
                    )
                {
                    if repeatWrites.rewrites(rowID: state.id, lastSeen: state.lastSeen, failures: state.failures, now: now) {
                        repeats.append(state.id)
                    }
                } else {
                    changing.append((order, state))
                }
            }
            if !repeats.isEmpty {
                try await sql.run(
                    """
                    UPDATE videos SET last_seen_at = \(now.unixSeconds), next_poll_at = \(nextPollAt.unixSeconds), poll_failures = 0
                    WHERE id = ANY(\(repeats))
                    """
                )
                report.videosUpdated += repeats.count
            }
            // Events in the order of the observations (the upstream's list order), as SQLite writes them.
            changing.sort { ($0.order, $0.row.id) < ($1.order, $1.row.id) }
            let changes = changing.map { order, row in
                Change(row: row, observation: batch[order], transition: StatusRules.apply(batch[order], to: row.tracking))
            }
            try await Self.record(changes, sql, now: now, nextPollAt: nextPollAt, report: &report)
            return report
        }
        notifyCommitted(report)
        return report
    }

    public func backOffPolling(videoIDs: [String], now: Date, interval: Duration, maximum: Duration, fence: PollerTerm?, scope: TenantScope)
        async throws(StoreError) -> [String: (failures: Int, delay: Duration)]
    {
        guard !videoIDs.isEmpty else { return [:] }
        let (mode, tenants) = (scope.mode, scope.tenants)
        let entries = try await transaction { sql -> [(String, Int, Duration)] in
            try await sql.checkFence(fence)
            var result: [(String, Int, Duration)] = []
            for id in videoIDs {
                let failures = 1 + (try await sql.one(
                    """
                    SELECT MAX(poll_failures) FROM videos WHERE video_id = \(id) AND NOT terminal
                      AND (\(mode) = 0 OR (\(mode) = 1) = (tenant = ANY(\(tenants))))
                    """,
                    as: Int.self
                ) ?? 0)
                let delay = min(interval * Double(1 << min(failures - 1, 30)), maximum)
                try await sql.run(
                    """
                    UPDATE videos SET poll_failures = \(failures), next_poll_at = \((now + delay).unixSeconds)
                    WHERE video_id = \(id) AND NOT terminal AND (\(mode) = 0 OR (\(mode) = 1) = (tenant = ANY(\(tenants))))
                    """
                )
                result.append((id, failures, delay))
            }
            return result
        }
        var result: [String: (failures: Int, delay: Duration)] = [:]
        for (id, failures, delay) in entries { result[id] = (failures, delay) }
        return result
    }

    @discardableResult
    public func expireTracking(startedBefore cutoff: Date, now: Date, limit: Int, fence: PollerTerm?) async throws(StoreError)
        -> ObservationReport
    {
        let report = try await transaction { sql in
            try await sql.checkFence(fence)
            var report = ObservationReport()
            let rows = try await sql.rows(
                "SELECT \(unescaped: StateRow.columns) FROM videos WHERE NOT terminal AND tracking_started_at <= \(cutoff.unixSeconds) ORDER BY tracking_started_at LIMIT \(limit) FOR UPDATE SKIP LOCKED"
            )
            let states = try rows.map(StateRow.init)
            guard !states.isEmpty else { return report }
            try await sql.run(
                "UPDATE videos SET terminal = true, expired = true, finished_at = \(now.unixSeconds) WHERE id = ANY(\(states.map(\.id)))"
            )
            let events = try await Self.appendEvents(
                sql,
                states.map { state in
                    NewEvent(
                        tenant: state.tenant, type: .trackingExpired, videoID: state.videoID,
                        payload: EventPayload.video(
                            type: .trackingExpired, timestamp: now, videoID: state.videoID,
                            status: state.tracking.observedStatus ?? "unknown", previousStatus: state.tracking.notifiedStatus, videoURL: nil
                        )
                    )
                },
                now: now
            )
            report.events += events
            report.deliveriesCreated += try await Self.fanOut(sql, sequences: events.map(\.sequence), now: now)
            report.videosUpdated += states.count
            return report
        }
        notifyCommitted(report)
        return report
    }

    /// One row's transition, computed by the status rules before anything is written.
    struct Change {
        var row: StateRow
        var observation: Observation
        var transition: Transition
    }

    /// A video row's new state, as one element of the JSON document a batched UPDATE reads.
    private struct VideoWrite: Encodable {
        var id: Int64
        var observed: String?
        var notified: String?
        var known: String?
        var unknown: [String]
        var url: String?
        var terminal: Bool
        var changed: Bool
    }

    /// Writes a batch of transitions in three statements whatever its size: every row's new state
    /// (one UPDATE over the rows as a JSON document), the events of the rows that changed (one
    /// INSERT), and their deliveries (one fan-out).
    static func record(_ changes: [Change], _ sql: SQL, now: Date, nextPollAt: Date, report: inout ObservationReport) async throws {
        guard !changes.isEmpty else { return }
        let at = now.unixSeconds
        var writes: [VideoWrite] = []
        var events: [NewEvent] = []
        writes.reserveCapacity(changes.count)
        for change in changes {
            let state = change.transition.state
            writes.append(
                VideoWrite(
                    id: change.row.id, observed: state.observedStatus, notified: state.notifiedStatus, known: state.furthestKnownStatus,
                    unknown: state.unknownStatusesSeen, url: state.videoURL, terminal: state.isTerminal,
                    changed: change.transition.event != nil
                )
            )
            if change.transition.wentBackwards { report.wentBackwards.append(change.observation.videoID) }
            if let event = change.transition.event {
                let videoID = change.observation.videoID
                events.append(
                    NewEvent(
                        tenant: change.row.tenant, type: event.type, videoID: videoID,
                        payload: EventPayload.video(
                            type: event.type, timestamp: now, videoID: videoID, status: event.status,
                            previousStatus: event.previousStatus, videoURL: event.videoURL
                        )
                    )
                )
            }
        }
        try await sql.run(
            """
            UPDATE videos v SET observed_status = x.observed, notified_status = x.notified, known_status = x.known,
                unknown_seen = x.unknown, video_url = x.url, terminal = x.terminal, first_seen_at = COALESCE(v.first_seen_at, \(at)),
                last_seen_at = \(at), last_changed_at = CASE WHEN x.changed THEN \(at) ELSE v.last_changed_at END,
                next_poll_at = \(nextPollAt.unixSeconds), poll_failures = 0,
                finished_at = CASE WHEN x.terminal THEN COALESCE(v.finished_at, \(at)) ELSE NULL END
            FROM jsonb_to_recordset(\(try SQL.document(writes))::jsonb)
                AS x(id bigint, observed text, notified text, known text, unknown text[], url text, terminal boolean, changed boolean)
            WHERE v.id = x.id
            """
        )
        report.videosUpdated += writes.count
        let stored = try await appendEvents(sql, events, now: now)
        report.events += stored
        report.deliveriesCreated += try await fanOut(sql, sequences: stored.map(\.sequence), now: now)
    }

    static func ensureTenant(_ sql: SQL, _ tenant: String, now: Date) async throws {
        try await sql.run("INSERT INTO tenants (name, created_at) VALUES (\(tenant), \(now.unixSeconds)) ON CONFLICT (name) DO NOTHING")
    }

    public func trackedVideo(tenant: String, videoID: String) async throws(StoreError) -> TrackedVideo? {
        try await read { sql in try await Self.fetchVideo(sql, tenant: tenant, videoID: videoID) }
    }

    public func trackedVideos(tenant: String, after cursor: Int64?, limit: Int) async throws(StoreError)
        -> [(cursor: Int64, video: TrackedVideo)]
    {
        let rows = try await read { sql in
            try await sql.rows("SELECT \(unescaped: VideoRow.columns) FROM videos WHERE tenant = \(tenant) AND id > \(cursor ?? 0) ORDER BY id LIMIT \(limit)")
                .map { try VideoRow($0) }
        }
        return rows.map { (cursor: $0.id, video: $0.video) }
    }

    /// Live videos whose next poll is due, most overdue first, once each, with the answer that would
    /// need no write (see the protocol; the same rule as SQLite's).
    public func dueVideos(now: Date, limit: Int, repeats: RepeatWrites, scope: TenantScope) async throws(StoreError) -> [DueVideo] {
        let (mode, tenants) = (scope.mode, scope.tenants)
        return try await read { sql in
            let rows = try await sql.rows(
                """
                SELECT id, video_id, observed_status, video_url, last_seen_at, poll_failures FROM videos
                WHERE NOT terminal AND next_poll_at <= \(now.unixSeconds) AND (\(mode) = 0 OR (\(mode) = 1) = (tenant = ANY(\(tenants))))
                ORDER BY next_poll_at LIMIT \(limit)
                """
            )
            var due = DueList(capacity: rows.count)
            for row in rows {
                let (rowID, videoID, observed, url, lastSeen, failures) = try row.decode(
                    (Int64, String, String?, String?, Double?, Int64).self
                )
                var unchanged: KnownObservation?
                if let observed, !repeats.rewrites(rowID: rowID, lastSeen: lastSeen, failures: failures, now: now) {
                    unchanged = KnownObservation(status: observed, videoURL: url)
                }
                due.add(videoID: videoID, unchanged: unchanged)
            }
            return due.videos
        }
    }

    public func liveVideoCount() async throws(StoreError) -> Int {
        try await read { sql in try await sql.one("SELECT COUNT(*) FROM videos WHERE NOT terminal", as: Int.self) ?? 0 }
    }

    public func nextPollTime() async throws(StoreError) -> Date? {
        try await read { sql in
            try await sql.one("SELECT MIN(next_poll_at) FROM videos WHERE NOT terminal", as: Double.self).map(Date.init(unixSeconds:))
        }
    }

    static func fetchVideo(_ sql: SQL, tenant: String, videoID: String) async throws -> TrackedVideo? {
        try await sql.rows("SELECT \(unescaped: VideoRow.columns) FROM videos WHERE tenant = \(tenant) AND video_id = \(videoID)").first.map { try VideoRow($0).video }
    }
}

/// What the status rules and the repeat-write rule need of a video row (`SELECT \(columns)`).
struct StateRow {
    static let columns =
        "id, tenant, video_id, observed_status, notified_status, known_status, unknown_seen, video_url, terminal, last_seen_at, poll_failures"

    var id: Int64
    var tenant: String
    var videoID: String
    var tracking: TrackingState
    var lastSeen: Double?
    var failures: Int64

    init(_ row: PostgresRow) throws {
        let (id, tenant, videoID, observed, notified, known, unknown, url, terminal, lastSeen, failures) = try row.decode(
            (Int64, String, String, String?, String?, String?, [String], String?, Bool, Double?, Int64).self
        )
        self.id = id
        self.tenant = tenant
        self.videoID = videoID
        tracking = TrackingState(
            notifiedStatus: notified, furthestKnownStatus: known, unknownStatusesSeen: unknown, observedStatus: observed,
            videoURL: url, isTerminal: terminal
        )
        self.lastSeen = lastSeen
        self.failures = failures
    }
}

/// A video row as the API shows it (`SELECT \(columns)`).
struct VideoRow {
    static let columns = """
        id, tenant, video_id, source, observed_status, notified_status, video_url, tracking_started_at, first_seen_at,
        last_seen_at, last_changed_at, next_poll_at, terminal, expired
        """

    var id: Int64
    var video: TrackedVideo

    init(_ row: PostgresRow) throws {
        let (id, tenant, videoID, source, observed, notified, url, started, firstSeen, lastSeen, lastChanged, nextPoll, terminal, expired) =
            try row.decode(
                (Int64, String, String, String, String?, String?, String?, Double, Double?, Double?, Double?, Double, Bool, Bool).self
            )
        guard let source = TrackingSource(rawValue: source) else { throw StoreError.invalidData("video source") }
        self.id = id
        video = TrackedVideo(
            tenant: tenant, videoID: videoID, source: source, status: observed, notifiedStatus: notified, videoURL: url,
            trackingStartedAt: Date(unixSeconds: started), firstSeenAt: firstSeen.map(Date.init(unixSeconds:)),
            lastSeenAt: lastSeen.map(Date.init(unixSeconds:)), lastChangedAt: lastChanged.map(Date.init(unixSeconds:)),
            nextPollAt: Date(unixSeconds: nextPoll), isTerminal: terminal, isExpired: expired
        )
    }
}

extension Date {
    var unixSeconds: Double { timeIntervalSince1970 }
    init(unixSeconds: Double) { self.init(timeIntervalSince1970: unixSeconds) }
}
