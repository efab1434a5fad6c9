public import BridgeCore
public import BridgeStore
public import Foundation
import GRDB
import GRDBSQLite

/// Tracking: what the poller and the watch API write — videos, their observed states, and the
/// events each change appends (fanned out by ``enqueueDeliveries``) in the same transaction.
extension SQLiteBridgeStore {
    /// Starts tracking `videoID` for `tenant`; tracking it again is a no-op that returns the same video.
    /// With `initial` (the status the submit answer or a first `video.get` showed), the first observation
    /// is recorded in the same transaction, so its event and outbox rows exist as soon as tracking does.
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
        let result = try await write { db -> (TrackedVideo, Bool, ObservationReport) in
            // Checked in the same transaction as the insert, so no watch can slip in beside an owner.
            if source == .watch, try Self.isSubmitted(db, videoID: videoID, byAnotherThan: tenant) {
                throw StoreError.ownedByAnotherTenant
            }
            let isNew = try Bool.fetchOne(cached: db, sql: "SELECT NOT EXISTS (SELECT 1 FROM videos WHERE tenant = ? AND video_id = ?)", arguments: [tenant, videoID]
            ) ?? true
            try Self.checkLimits(
                db, tenant: tenant, subscriptions: subscription == nil ? 0 : 1, videos: isNew ? 1 : 0, limits: limits
            )
            try Self.ensureTenant(db, tenant, now: now)
            // A per-video subscription made with the submit exists before the first event fans out.
            if let subscription { try self.insertSubscription(db, subscription, now: now) }
            try db.run(
                sql: """
                    INSERT INTO videos (tenant, video_id, source, tracking_started_at, next_poll_at)
                    VALUES (?, ?, ?, ?, ?) ON CONFLICT (tenant, video_id) DO NOTHING
                    """,
                arguments: [tenant, videoID, source.rawValue, now.unixSeconds, nextPollAt.unixSeconds]
            )
            let created = db.changesCount > 0
            var report = ObservationReport()
            if let initial, initial.videoID == videoID,
                let row = try Row.fetchOne(cached: db, sql: Self.stateSelect + " WHERE tenant = ? AND video_id = ?", arguments: [tenant, videoID]),
                (row[StateColumn.notifiedStatus] as String?) == nil
            {
                let transition = StatusRules.apply(initial, to: try Self.trackingState(from: row))
                try self.record(transition, of: initial, toRow: row, in: db, now: now, nextPollAt: nextPollAt, report: &report)
                report.deliveriesCreated += try Self.fanOut(db, events: report.events, now: now)
            }
            guard let video = try Self.fetchVideo(db, tenant: tenant, videoID: videoID) else {
                throw StoreError.invalidData("tracked video vanished")
            }
            return (video, created, report)
        }
        notifyCommitted(result.2)
        return (video: result.0, created: result.1, report: result.2)
    }

    /// Whether another key submitted `videoID` through the bridge (then this key must get a 404 for it
    /// everywhere, `watch` included, and learn nothing about it).
    public func isSubmittedByAnotherTenant(videoID: String, tenant: String) async throws(StoreError) -> Bool {
        try await read { db in try Self.isSubmitted(db, videoID: videoID, byAnotherThan: tenant) }
    }

    static func isSubmitted(_ db: Database, videoID: String, byAnotherThan tenant: String) throws -> Bool {
        try Bool.fetchOne(cached: db, sql: "SELECT EXISTS (SELECT 1 FROM videos WHERE video_id = ? AND source = 'generate' AND tenant <> ?)",
            arguments: [videoID, tenant]
        ) ?? false
    }

    /// Stops tracking; events and deliveries already recorded stay. Returns whether it was tracked.
    @discardableResult
    public func untrack(tenant: String, videoID: String) async throws(StoreError) -> Bool {
        try await write { db in
            try db.run(sql: "DELETE FROM videos WHERE tenant = ? AND video_id = ?", arguments: [tenant, videoID])
            return db.changesCount > 0
        }
    }

    /// Applies readable upstream answers to every tenant's live row for each video, in one transaction:
    /// each status change updates the video, appends its event and fans it out to matching subscriptions.
    /// Rows not mentioned keep their schedule; changed rows are next polled at `nextPollAt`, repeats as
    /// `repeats` says.
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
        var seen = Set<String>()
        let batch = observations.filter { seen.insert($0.videoID).inserted }
        let ids = Self.jsonArray(batch.map(\.videoID))
        let report = try await write { db in
            try Self.checkFence(db, fence)
            var report = ObservationReport()
            var position: [String: Int] = [:]
            position.reserveCapacity(batch.count)
            for (index, observation) in batch.enumerated() { position[observation.videoID] = index }
            // Most answers repeat what the row knows: the same status, and the same link or none. Since
            // every stored state is StatusRules' answer to its last observation, and the rules change
            // nothing on a repeat (StatusRulesTests checks this), those rows only get their poll times.
            // They are found by reading six columns with SQLite's C API, without decoding whole rows, and
            // written only when `repeats` asks for it.
            var repeats: [Int64] = []
            var changing: [(order: Int, rowID: Int64)] = []
            let scan = try db.cachedStatement(
                sql: """
                    SELECT id, video_id, observed_status, video_url, last_seen_at, poll_failures FROM videos
                    WHERE terminal = 0 AND video_id IN (SELECT value FROM json_each(?)) AND \(Self.inScope)
                    """
            )
            try Self.forEachRow(db, scan, arguments: [ids] + Self.scopeArguments(scope)) { handle in
                let rowID = sqlite3_column_int64(handle, 0)
                guard let videoID = Self.text(handle, 1), let order = position[videoID] else { return }
                let observation = batch[order]
                // The same test the poller applies to a due video's known answer (one definition of a repeat).
                if let observed = Self.text(handle, 2),
                    KnownObservation(status: observed, videoURL: Self.text(handle, 3))
                        .covers(status: observation.status, videoURL: observation.videoURL)
                {
                    let lastSeen = sqlite3_column_type(handle, 4) == SQLITE_NULL ? nil : sqlite3_column_double(handle, 4)
                    if repeatWrites.rewrites(rowID: rowID, lastSeen: lastSeen, failures: sqlite3_column_int64(handle, 5), now: now) {
                        repeats.append(rowID)
                    }
                } else {
                    changing.append((order, rowID))
                }
            }
            if !repeats.isEmpty {
                try db.run(
                    sql: "UPDATE videos SET last_seen_at = ?, next_poll_at = ?, poll_failures = 0 WHERE id IN (SELECT value FROM json_each(?))",
                    arguments: [now.unixSeconds, nextPollAt.unixSeconds, "[" + repeats.map(String.init).joined(separator: ",") + "]"]
                )
                report.videosUpdated += repeats.count
            }
            // The rest go through StatusRules, in the order the upstream answered (by row within a video).
            changing.sort { ($0.order, $0.rowID) < ($1.order, $1.rowID) }
            for change in changing {
                guard let row = try Row.fetchOne(cached: db, sql: Self.stateSelect + " WHERE id = ?", arguments: [change.rowID]) else { continue }
                let observation = batch[change.order]
                let transition = StatusRules.apply(observation, to: try Self.trackingState(from: row))
                try self.record(transition, of: observation, toRow: row, in: db, now: now, nextPollAt: nextPollAt, report: &report)
            }
            // The batch's events fanned out in event order, ~1,024 outbox rows per statement.
            report.deliveriesCreated += try Self.fanOut(db, events: report.events, now: now)
            return report
        }
        notifyCommitted(report)
        return report
    }

    /// Videos the upstream would not show this cycle (missing from the list and `video.get` failed)
    /// wait on their own growing delay: `interval × 2^(failures − 1)`, at most `maximum`, so they never
    /// hold the head of the due queue. Returns each video's consecutive failures and its next delay.
    /// An observation resets the count.
    public func backOffPolling(videoIDs: [String], now: Date, interval: Duration, maximum: Duration, fence: PollerTerm?, scope: TenantScope)
        async throws(StoreError) -> [String: (failures: Int, delay: Duration)]
    {
        guard !videoIDs.isEmpty else { return [:] }
        return try await write { db in
            try Self.checkFence(db, fence)
            var result: [String: (failures: Int, delay: Duration)] = [:]
            for id in videoIDs {
                let failures = 1 + (try Int.fetchOne(
                    cached: db, sql: "SELECT MAX(poll_failures) FROM videos WHERE video_id = ? AND terminal = 0 AND \(Self.inScope)",
                    arguments: [id] + Self.scopeArguments(scope)
                ) ?? 0)
                let delay = min(interval * Double(1 << min(failures - 1, 30)), maximum)
                try db.run(
                    sql: "UPDATE videos SET poll_failures = ?, next_poll_at = ? WHERE video_id = ? AND terminal = 0 AND \(Self.inScope)",
                    arguments: [failures, (now + delay).unixSeconds, id] + Self.scopeArguments(scope)
                )
                result[id] = (failures, delay)
            }
            return result
        }
    }

    /// Ends tracking of videos still not terminal after the tracking limit: each emits
    /// `video.tracking_expired` (with its outbox rows) and is no longer polled.
    @discardableResult
    public func expireTracking(startedBefore cutoff: Date, now: Date, limit: Int, fence: PollerTerm?) async throws(StoreError)
        -> ObservationReport
    {
        let report = try await write { db in
            try Self.checkFence(db, fence)
            var report = ObservationReport()
            let rows = try Row.fetchAll(cached: db, sql: Self.stateSelect + " WHERE terminal = 0 AND tracking_started_at <= ? ORDER BY tracking_started_at LIMIT ?",
                arguments: [cutoff.unixSeconds, limit]
            )
            for row in rows {
                let tenant: String = row[StateColumn.tenant]
                let videoID: String = row[StateColumn.videoID]
                let status: String? = row[StateColumn.observedStatus]
                try db.run(
                    sql: "UPDATE videos SET terminal = 1, expired = 1, finished_at = ? WHERE id = ?",
                    arguments: [now.unixSeconds, row[StateColumn.id] as Int64]
                )
                let payload = EventPayload.video(
                    type: .trackingExpired, timestamp: now, videoID: videoID,
                    status: status ?? "unknown", previousStatus: row[StateColumn.notifiedStatus], videoURL: nil
                )
                let event = try Self.appendEvent(db, tenant: tenant, type: .trackingExpired, videoID: videoID, payload: payload, now: now)
                report.events.append(event)
                report.deliveriesCreated += try Self.fanOut(db, event: event, now: now)
                report.videosUpdated += 1
            }
            return report
        }
        notifyCommitted(report)
        return report
    }

    /// Writes one row's transition (computed once by the caller): the video's new state and, for a
    /// change, its event (appended to `report.events`; the caller fans the new events out).
    private func record(
        _ transition: Transition,
        of observation: Observation,
        toRow row: Row,
        in db: Database,
        now: Date,
        nextPollAt: Date,
        report: inout ObservationReport
    ) throws {
        let tenant: String = row[StateColumn.tenant]
        let changed = transition.event != nil
        try db.run(
            sql: """
                UPDATE videos SET observed_status = ?, notified_status = ?, known_status = ?, unknown_seen = ?,
                    video_url = ?, terminal = ?, first_seen_at = COALESCE(first_seen_at, ?), last_seen_at = ?,
                    last_changed_at = CASE WHEN ? THEN ? ELSE last_changed_at END, next_poll_at = ?, poll_failures = 0,
                    finished_at = CASE WHEN ? THEN COALESCE(finished_at, ?) ELSE NULL END
                WHERE id = ?
                """,
            arguments: [
                transition.state.observedStatus, transition.state.notifiedStatus, transition.state.furthestKnownStatus,
                try Self.encodeList(transition.state.unknownStatusesSeen), transition.state.videoURL,
                transition.state.isTerminal, now.unixSeconds, now.unixSeconds, changed, now.unixSeconds,
                nextPollAt.unixSeconds, transition.state.isTerminal, now.unixSeconds, row[StateColumn.id] as Int64,
            ]
        )
        report.videosUpdated += 1
        if transition.wentBackwards { report.wentBackwards.append(observation.videoID) }
        guard let change = transition.event else { return }
        let payload = EventPayload.video(
            type: change.type, timestamp: now, videoID: observation.videoID, status: change.status,
            previousStatus: change.previousStatus, videoURL: change.videoURL
        )
        report.events.append(try Self.appendEvent(db, tenant: tenant, type: change.type, videoID: observation.videoID, payload: payload, now: now))
    }

    static func ensureTenant(_ db: Database, _ tenant: String, now: Date) throws {
        try db.run(
            sql: "INSERT INTO tenants (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
            arguments: [tenant, now.unixSeconds]
        )
    }

    public func trackedVideo(tenant: String, videoID: String) async throws(StoreError) -> TrackedVideo? {
        try await read { db in try Self.fetchVideo(db, tenant: tenant, videoID: videoID) }
    }

    /// A tenant's videos in tracking order, after the row `afterID` (keyset pagination).
    public func trackedVideos(tenant: String, after cursor: Int64?, limit: Int) async throws(StoreError)
        -> [(cursor: Int64, video: TrackedVideo)]
    {
        try await read { db in
            let rows = try Row.fetchAll(cached: db, sql: Self.videoSelect + " WHERE tenant = ? AND id > ? ORDER BY id LIMIT ?",
                arguments: [tenant, cursor ?? 0, limit]
            )
            return try rows.map { (cursor: $0[VideoColumn.id] as Int64, video: try Self.video(from: $0)) }
        }
    }

    /// Live videos whose next poll is due, most overdue first, without duplicates (two tenants tracking
    /// one video poll it once), each with the answer that would need no write. One pass over the due
    /// index, read with SQLite's C API: at 100,000 due videos this replaces a second lookup per video
    /// when the list is recorded.
    public func dueVideos(now: Date, limit: Int, repeats: RepeatWrites, scope: TenantScope) async throws(StoreError) -> [DueVideo] {
        try await read { db in
            // Sized for the table's live rows up front: growing a 100,000-entry map rehashes every key.
            let live = min(limit, try Int.fetchOne(cached: db, sql: "SELECT COUNT(*) FROM videos WHERE terminal = 0") ?? 0)
            var due = DueList(capacity: live)
            let statement = try db.cachedStatement(sql: Self.dueVideosSQL)
            try Self.forEachRow(db, statement, arguments: [now.unixSeconds] + Self.scopeArguments(scope) + [limit]) { handle in
                guard let videoID = Self.text(handle, 1) else { return }
                var unchanged: KnownObservation?
                if let status = Self.text(handle, 2) {
                    let lastSeen = sqlite3_column_type(handle, 4) == SQLITE_NULL ? nil : sqlite3_column_double(handle, 4)
                    let rowID = sqlite3_column_int64(handle, 0)
                    if !repeats.rewrites(rowID: rowID, lastSeen: lastSeen, failures: sqlite3_column_int64(handle, 5), now: now) {
                        unchanged = KnownObservation(status: status, videoURL: Self.text(handle, 3))
                    }
                }
                due.add(videoID: videoID, unchanged: unchanged)
            }
            return due.videos
        }
    }

    /// Live (non-terminal) tracked rows, all tenants.
    public func liveVideoCount() async throws(StoreError) -> Int {
        try await read { db in try Int.fetchOne(cached: db, sql: "SELECT COUNT(*) FROM videos WHERE terminal = 0") ?? 0 }
    }

    /// The earliest next poll among live videos, to sleep exactly until then.
    public func nextPollTime() async throws(StoreError) -> Date? {
        try await read { db in
            try Double.fetchOne(cached: db, sql: "SELECT MIN(next_poll_at) FROM videos WHERE terminal = 0").map(Date.init(unixSeconds:))
        }
    }

    static let dueVideosSQL = """
        SELECT id, video_id, observed_status, video_url, last_seen_at, poll_failures FROM videos
        WHERE terminal = 0 AND next_poll_at <= ? AND \(inScope) ORDER BY next_poll_at LIMIT ?
        """

    /// A row's tenant is in a ``TenantScope``; its arguments are ``scopeArguments(_:)``. One statement
    /// text for every scope, so it is prepared once.
    static let inScope = "(? = 0 OR (? = 1) = (tenant IN (SELECT value FROM json_each(?))))"

    static func scopeArguments(_ scope: TenantScope) -> StatementArguments {
        [scope.mode, scope.mode, jsonArray(scope.tenants)]
    }

    /// The columns of ``stateSelect``, in its order: what the status rules need of a row.
    enum StateColumn: Int, SelectedColumns {
        case id, tenant, videoID, observedStatus, notifiedStatus, knownStatus, unknownSeen, videoURL, terminal
    }

    static let stateSelect = "SELECT \(StateColumn.list) FROM videos"

    /// The columns of ``videoSelect``, in its order.
    enum VideoColumn: Int, SelectedColumns {
        case id, tenant, videoID, source, observedStatus, notifiedStatus, videoURL, trackingStartedAt, firstSeenAt, lastSeenAt,
            lastChangedAt, nextPollAt, terminal, expired
    }

    static let videoSelect = "SELECT \(VideoColumn.list) FROM videos"

    static func fetchVideo(_ db: Database, tenant: String, videoID: String) throws -> TrackedVideo? {
        try Row.fetchOne(cached: db, sql: videoSelect + " WHERE tenant = ? AND video_id = ?", arguments: [tenant, videoID])
            .map(video(from:))
    }

    static func video(from row: Row) throws -> TrackedVideo {
        guard let source = TrackingSource(rawValue: row[VideoColumn.source]) else { throw StoreError.invalidData("video source") }
        return TrackedVideo(
            tenant: row[VideoColumn.tenant],
            videoID: row[VideoColumn.videoID],
            source: source,
            status: row[VideoColumn.observedStatus],
            notifiedStatus: row[VideoColumn.notifiedStatus],
            videoURL: row[VideoColumn.videoURL],
            trackingStartedAt: Date(unixSeconds: row[VideoColumn.trackingStartedAt]),
            firstSeenAt: (row[VideoColumn.firstSeenAt] as Double?).map(Date.init(unixSeconds:)),
            lastSeenAt: (row[VideoColumn.lastSeenAt] as Double?).map(Date.init(unixSeconds:)),
            lastChangedAt: (row[VideoColumn.lastChangedAt] as Double?).map(Date.init(unixSeconds:)),
            nextPollAt: Date(unixSeconds: row[VideoColumn.nextPollAt]),
            isTerminal: row[VideoColumn.terminal],
            isExpired: row[VideoColumn.expired]
        )
    }

    static func trackingState(from row: Row) throws -> TrackingState {
        TrackingState(
            notifiedStatus: row[StateColumn.notifiedStatus],
            furthestKnownStatus: row[StateColumn.knownStatus],
            unknownStatusesSeen: try decodeList(row[StateColumn.unknownSeen]),
            observedStatus: row[StateColumn.observedStatus],
            videoURL: row[StateColumn.videoURL],
            isTerminal: row[StateColumn.terminal]
        )
    }

    static func encodeList(_ values: [String]) throws -> String { jsonArray(values) }

    /// Reads a list ``encodeList`` wrote. Without a backslash no element holds a quote, so `","`
    /// separates elements exactly: the common case skips JSONSerialization (4 % of a
    /// `GET /v1/subscriptions` in api-bench); anything else takes the full parser.
    static func decodeList(_ text: String?) throws -> [String] {
        guard let text else { return [] }
        if text == "[]" { return [] }
        if !text.contains("\\"), text.hasPrefix("[\""), text.hasSuffix("\"]"), text.utf8.count >= 4 {
            return text.dropFirst(2).dropLast(2).components(separatedBy: "\",\"")
        }
        guard let data = text.data(using: .utf8) else { return [] }
        guard let values = try JSONSerialization.jsonObject(with: data) as? [String] else {
            throw StoreError.invalidData("expected a JSON array of strings")
        }
        return values
    }
}
