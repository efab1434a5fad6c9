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
                    let transition = StatusRules.apply(initial, to: state.tracking)
                    try await Self.record(transition, of: initial, row: state, sql, now: now, nextPollAt: nextPollAt, report: &report)
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
        fence: PollerTerm?
    ) async throws(StoreError) -> ObservationReport {
        guard !observations.isEmpty else { return ObservationReport() }
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
                SELECT id, video_id, observed_status, video_url, last_seen_at, poll_failures FROM videos
                WHERE NOT terminal AND video_id = ANY(\(ids)) ORDER BY id FOR UPDATE
                """
            )
            var repeats: [Int64] = []
            var changing: [(order: Int, rowID: Int64)] = []
            for row in rows {
                let (rowID, videoID, observed, url, lastSeen, failures) = try row.decode(
                    (Int64, String, String?, String?, Double?, Int64).self
                )
                guard let order = position[videoID] else { continue }
                let observation = batch[order]
                if let observed, KnownObservation(status: observed, videoURL: url).covers(status: observation.status, videoURL: observation.videoURL) {
                    if repeatWrites.rewrites(rowID: rowID, lastSeen: lastSeen, failures: failures, now: now) { repeats.append(rowID) }
                } else {
                    changing.append((order, rowID))
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
            changing.sort { ($0.order, $0.rowID) < ($1.order, $1.rowID) }
            for change in changing {
                guard let row = try await sql.rows("SELECT \(unescaped: StateRow.columns) FROM videos WHERE id = \(change.rowID)").first else { continue }
                let state = try StateRow(row)
                let observation = batch[change.order]
                let transition = StatusRules.apply(observation, to: state.tracking)
                try await Self.record(transition, of: observation, row: state, sql, now: now, nextPollAt: nextPollAt, report: &report)
            }
            return report
        }
        notifyCommitted(report)
        return report
    }

    public func backOffPolling(videoIDs: [String], now: Date, interval: Duration, maximum: Duration, fence: PollerTerm?)
        async throws(StoreError) -> [String: (failures: Int, delay: Duration)]
    {
        guard !videoIDs.isEmpty else { return [:] }
        let entries = try await transaction { sql -> [(String, Int, Duration)] in
            try await sql.checkFence(fence)
            var result: [(String, Int, Duration)] = []
            for id in videoIDs {
                let failures = 1 + (try await sql.one(
                    "SELECT MAX(poll_failures) FROM videos WHERE video_id = \(id) AND NOT terminal", as: Int.self
                ) ?? 0)
                let delay = min(interval * Double(1 << min(failures - 1, 30)), maximum)
                try await sql.run(
                    """
                    UPDATE videos SET poll_failures = \(failures), next_poll_at = \((now + delay).unixSeconds)
                    WHERE video_id = \(id) AND NOT terminal
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
            for row in rows {
                let state = try StateRow(row)
                try await sql.run("UPDATE videos SET terminal = true, expired = true, finished_at = \(now.unixSeconds) WHERE id = \(state.id)")
                let payload = EventPayload.video(
                    type: .trackingExpired, timestamp: now, videoID: state.videoID,
                    status: state.tracking.observedStatus ?? "unknown", previousStatus: state.tracking.notifiedStatus, videoURL: nil
                )
                let event = try await Self.appendEvent(
                    sql, tenant: state.tenant, type: .trackingExpired, videoID: state.videoID, payload: payload, now: now
                )
                report.events.append(event)
                report.deliveriesCreated += try await Self.fanOut(sql, event: event, now: now)
                report.videosUpdated += 1
            }
            return report
        }
        notifyCommitted(report)
        return report
    }

    /// Writes one row's transition: the video's new state and, for a change, its event and deliveries.
    private static func record(
        _ transition: Transition,
        of observation: Observation,
        row: StateRow,
        _ sql: SQL,
        now: Date,
        nextPollAt: Date,
        report: inout ObservationReport
    ) async throws {
        let state = transition.state
        let changed = transition.event != nil
        let at = now.unixSeconds
        try await sql.run(
            """
            UPDATE videos SET observed_status = \(state.observedStatus), notified_status = \(state.notifiedStatus),
                known_status = \(state.furthestKnownStatus), unknown_seen = \(state.unknownStatusesSeen),
                video_url = \(state.videoURL), terminal = \(state.isTerminal), first_seen_at = COALESCE(first_seen_at, \(at)),
                last_seen_at = \(at), last_changed_at = CASE WHEN \(changed) THEN \(at) ELSE last_changed_at END,
                next_poll_at = \(nextPollAt.unixSeconds), poll_failures = 0,
                finished_at = CASE WHEN \(state.isTerminal) THEN COALESCE(finished_at, \(at)) ELSE NULL END
            WHERE id = \(row.id)
            """
        )
        report.videosUpdated += 1
        if transition.wentBackwards { report.wentBackwards.append(observation.videoID) }
        guard let change = transition.event else { return }
        let payload = EventPayload.video(
            type: change.type, timestamp: now, videoID: observation.videoID, status: change.status,
            previousStatus: change.previousStatus, videoURL: change.videoURL
        )
        let event = try await appendEvent(sql, tenant: row.tenant, type: change.type, videoID: observation.videoID, payload: payload, now: now)
        report.events.append(event)
        report.deliveriesCreated += try await fanOut(sql, event: event, now: now)
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
    public func dueVideos(now: Date, limit: Int, repeats: RepeatWrites) async throws(StoreError) -> [DueVideo] {
        try await read { sql in
            let rows = try await sql.rows(
                """
                SELECT id, video_id, observed_status, video_url, last_seen_at, poll_failures FROM videos
                WHERE NOT terminal AND next_poll_at <= \(now.unixSeconds) ORDER BY next_poll_at LIMIT \(limit)
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

/// What the status rules need of a video row (`SELECT \(columns)`).
struct StateRow {
    static let columns = "id, tenant, video_id, observed_status, notified_status, known_status, unknown_seen, video_url, terminal"

    var id: Int64
    var tenant: String
    var videoID: String
    var tracking: TrackingState

    init(_ row: PostgresRow) throws {
        let (id, tenant, videoID, observed, notified, known, unknown, url, terminal) = try row.decode(
            (Int64, String, String, String?, String?, String?, [String], String?, Bool).self
        )
        self.id = id
        self.tenant = tenant
        self.videoID = videoID
        tracking = TrackingState(
            notifiedStatus: notified, furthestKnownStatus: known, unknownStatusesSeen: unknown, observedStatus: observed,
            videoURL: url, isTerminal: terminal
        )
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
