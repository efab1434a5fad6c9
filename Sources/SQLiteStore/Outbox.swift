import BridgeCore
public import BridgeStore
public import Foundation
import GRDB
import GRDBSQLite

/// The outbox as the dispatcher works it: claims with leases, attempt outcomes, auto-disable.
extension SQLiteBridgeStore {
    /// Records attempts, then claims, in one write transaction (see ``DeliveryStore``).
    public func completeAttempts(_ attempts: [CompletedAttempt], thenClaim claim: ClaimRequest, now: Date, disableAfter: Duration)
        async throws(StoreError) -> OutboxTurn
    {
        guard !attempts.isEmpty || claim.limit > 0 else { return OutboxTurn() }
        // No wake-up after it: outcomes only free slots of the dispatcher that wrote them, which
        // claims in this same transaction.
        let turn = try await write { db in
            let recorded = try Self.record(db, attempts, now: now, disableAfter: disableAfter)
            // Operational events join the outbox before the claim, so this very claim may send them.
            let events = try Self.announce(db, recorded.notices, now: now)
            return OutboxTurn(disabled: recorded.disabled, claimed: try self.claim(db, claim, now: now), events: events)
        }
        if !turn.events.isEmpty {
            eventsAppended.signal()
            notifyDeliveriesEnqueued()
        }
        return turn
    }

    /// The claim half of a turn, inside the caller's transaction: leases up to `limit` due deliveries
    /// to `leaseOwner` until `now + leaseDuration`.
    ///
    /// A delivery is due when pending, its time has come, no live lease holds it, and no earlier
    /// delivery for the same subscription and video is still open (callbacks keep observation order).
    /// None is claimed for a subscription `cap` has no room for, counting this call's claims, so one
    /// slow receiver cannot take every slot, nor beyond a subscription's rate limit. Leases make a crash mid-attempt safe: the row becomes due
    /// again when the lease runs out, and no second process can claim it before.
    private func claim(_ db: Database, _ request: ClaimRequest, now: Date) throws -> [ClaimedDelivery] {
        let limit = request.limit
        guard limit > 0 else { return [] }
        var cap = request.cap
        cap.include(leases: try Self.liveLeases(db, now: now))
        // Rate-limited subscriptions whose next callback may not leave yet are left out of the query,
        // like full ones; the others' buckets are read from the candidate rows.
        let waiting = try Self.rateLimitedUntil(db, now: now).map(\.subscriptionID)
        var budgets = RateBudgets(now: now)
        var claimed: [ClaimedDelivery] = []
        var sending: [String: (secrets: [String], headers: [CustomHeader])] = [:]
        let due = try db.cachedStatement(sql: Self.dueDeliveryDetailsSQL)
        // One statement leases a whole window's choice (the rows were just read in this transaction,
        // so all of them are leased; the condition is the claim's rule all the same).
        let lease = try db.cachedStatement(
            sql: """
                UPDATE deliveries SET lease_owner = ?, lease_expires_at = ?, updated_at = ?
                WHERE id IN (SELECT value FROM json_each(?)) AND state = 'pending'
                  AND (lease_expires_at IS NULL OR lease_expires_at <= ?)
                RETURNING id
                """
        )
        let secretsOf = try db.cachedStatement(sql: Self.activeSecretsSQL)
        let nowSeconds = now.unixSeconds
        let expiry = (now + request.leaseDuration).unixSeconds
        // Subscriptions at their cap are left out of the query itself, so a backlog for one busy
        // receiver can never fill the candidate window and starve the others.
        for _ in 0..<4 where claimed.count < limit {
            let excluded = cap.full + budgets.exhausted + waiting
            let rows = try Self.dueDeliveries(
                db, due, arguments: [nowSeconds, nowSeconds, Self.jsonArray(excluded), limit - claimed.count + Self.claimSlack]
            )
            guard !rows.isEmpty else { break }
            var skipped = false
            var chosen: [DueDelivery] = []
            for row in rows where claimed.count + chosen.count < limit {
                guard cap.hasRoom(for: row.subscriptionID),
                    budgets.take(row.subscriptionID, perSecond: row.rateLimit, readyAt: row.rateReadyAt)
                else {
                    skipped = true
                    continue
                }
                cap.add(row.subscriptionID)
                chosen.append(row)
            }
            let ids = "[" + chosen.map { String($0.id) }.joined(separator: ",") + "]"
            let leased = chosen.isEmpty
                ? [] : Set(try Int64.fetchAll(lease, arguments: [request.leaseOwner, expiry, nowSeconds, ids, nowSeconds]))
            for row in chosen {
                guard leased.contains(row.id) else {
                    cap.remove(row.subscriptionID)
                    budgets.giveBack(row.subscriptionID)
                    continue
                }
                let subscription = try sending[row.subscriptionID] ?? {
                    let active = try String.fetchAll(secretsOf, arguments: [row.subscriptionID, nowSeconds]).map {
                        try self.openSecret($0, subscriptionID: row.subscriptionID)
                    }
                    let opened = (secrets: active, headers: try self.secrets.openHeaders(row.headers, subscriptionID: row.subscriptionID))
                    sending[row.subscriptionID] = opened
                    return opened
                }()
                claimed.append(row.claimed(secrets: subscription.secrets, headers: subscription.headers, claimID: request.leaseOwner))
            }
            if !skipped && leased.count == chosen.count { break }
        }
        for (subscription, readyAt) in budgets.updates {
            try db.run(
                sql: "INSERT INTO rate_buckets (subscription_id, ready_at) VALUES (?, ?) ON CONFLICT (subscription_id) DO UPDATE SET ready_at = excluded.ready_at",
                arguments: [subscription, readyAt.unixSeconds]
            )
        }
        return claimed
    }

    /// The rows of ``dueDeliveryDetailsSQL``, read with SQLite's C API: the claim's candidates
    /// (decoding them through GRDB's generic row access took a quarter of a claim's time).
    static func dueDeliveries(_ db: Database, _ statement: Statement, arguments: StatementArguments) throws -> [DueDelivery] {
        var rows: [DueDelivery] = []
        try forEachRow(db, statement, arguments: arguments) { rows.append(try DueDelivery($0)) }
        return rows
    }

    /// Candidates read beyond what a claim still needs, for the ones a subscription's cap or rate
    /// budget turns away within the window (another window is read when more were turned away). Each
    /// candidate costs a read of its event's payload, so the window stays close to the need.
    static let claimSlack = 8

    /// Rate-limited subscriptions with a pending delivery whose next callback may not leave before
    /// `readyAt` (after `now`), from the buckets' time index.
    static func rateLimitedUntil(_ db: Database, now: Date) throws -> [(subscriptionID: String, readyAt: Date)] {
        try Row.fetchAll(
            cached: db,
            sql: """
                SELECT b.subscription_id, b.ready_at FROM rate_buckets b JOIN subscriptions s ON s.id = b.subscription_id
                WHERE b.ready_at > ? AND s.rate_limit IS NOT NULL
                  AND EXISTS (SELECT 1 FROM deliveries d WHERE d.subscription_id = s.id AND d.state = 'pending')
                """,
            arguments: [now.unixSeconds]
        ).map { ($0[0], Date(unixSeconds: $0[1])) }
    }

    /// Live leases by subscription (attempts in flight, whoever holds them), from a partial index.
    static func liveLeases(_ db: Database, now: Date) throws -> [String: Int] {
        var leases: [String: Int] = [:]
        for row in try Row.fetchAll(
            cached: db,
            sql: """
                SELECT subscription_id, COUNT(*) FROM deliveries INDEXED BY deliveries_leased
                WHERE lease_owner IS NOT NULL AND state = 'pending' AND lease_expires_at > ? GROUP BY subscription_id
                """,
            arguments: [now.unixSeconds]
        ) {
            leases[row[0]] = row[1]
        }
        return leases
    }

    /// `["a","b"]`: a JSON array of strings, for `json_each` and the list columns.
    static func jsonArray(_ values: [String]) -> String {
        "[" + values.map(JSONString.quote).joined(separator: ",") + "]"
    }

    /// The recording half of a turn, inside the caller's transaction: records attempts and moves each
    /// delivery on.
    /// A subscription that answered 410, or has failed without a success for `disableAfter`, is
    /// disabled and its open deliveries held. Returns the subscriptions disabled by this batch.
    static func record(_ db: Database, _ attempts: [CompletedAttempt], now: Date, disableAfter: Duration) throws
        -> (disabled: [DisabledSubscription], notices: [OperationalNotice])
    {
        guard !attempts.isEmpty else { return ([], []) }
        try insertAttempts(db, attempts.filter { $0.disposition != .released })
        var notices = try settleSuccesses(db, attempts.filter { $0.disposition == .succeeded }, now: now)
        var failing = Set<String>()
        var toDisable: [String: DisableReason] = [:]
        for attempt in attempts {
            switch try settle(db, attempt, now: now) {
            case .recovered: failing.remove(attempt.subscriptionID)
            case .failing: failing.insert(attempt.subscriptionID)
            case .gone: toDisable[attempt.subscriptionID] = .gone
            case .released: break
            }
            if attempt.disposition == .failed, let notice = try deliveryFailed(db, attempt, now: now) { notices.append(notice) }
        }
        for (id, since) in try markFailing(db, failing, now: now) where now.unixSeconds - since.unixSeconds >= disableAfter.timeInterval {
            toDisable[id] = toDisable[id] ?? .failing(since: since)
        }
        var disabled: [DisabledSubscription] = []
        for (id, reason) in toDisable.sorted(by: { $0.key < $1.key }) {
            if let (subscription, notice) = try disable(db, subscriptionID: id, reason: reason, now: now) {
                disabled.append(subscription)
                notices.append(notice)
            }
        }
        try holdPendingOfDisabled(db, among: Set(attempts.map(\.subscriptionID)))
        return (disabled, notices)
    }

    /// `delivery.failed` for a delivery this attempt just marked failed (nil when the lease had moved
    /// on, or the delivery was of an operational event).
    static func deliveryFailed(_ db: Database, _ attempt: CompletedAttempt, now: Date) throws -> OperationalNotice? {
        guard db.changesCount > 0,
            let row = try Row.fetchOne(
                cached: db,
                sql: """
                    SELECT d.tenant, d.attempts, e.id, e.type, e.video_id, s.url FROM deliveries d
                    JOIN events e ON e.seq = d.event_seq JOIN subscriptions s ON s.id = d.subscription_id
                    WHERE d.id = ? AND d.state = 'failed'
                    """,
                arguments: [attempt.deliveryID]
            )
        else { return nil }
        return .deliveryFailed(
            attempt, tenant: row[0], url: row[5], eventID: row[2], eventType: row[3], videoID: row[4], attempts: row[1], now: now
        )
    }

    /// Attempt rows in batch order, several per INSERT.
    static func insertAttempts(_ db: Database, _ attempts: [CompletedAttempt]) throws {
        var start = 0
        while start < attempts.count {
            let chunk = attempts[start..<min(start + attemptRowsPerInsert, attempts.count)]
            var values: [(any DatabaseValueConvertible)?] = []
            values.reserveCapacity(chunk.count * 6)
            for attempt in chunk {
                values += [
                    attempt.deliveryID, attempt.attemptedAt.unixSeconds, attempt.statusCode, attempt.errorKind,
                    attempt.latency.timeInterval * 1000, attempt.responseSnippet,
                ] as [(any DatabaseValueConvertible)?]
            }
            try db.run(sql: insertAttemptsSQL(rows: chunk.count), arguments: StatementArguments(values))
            start += chunk.count
        }
    }

    /// Successes (the common case) move on with one UPDATE per lease owner; their subscriptions are no
    /// longer failing, and each that was says so (`subscription.recovered`).
    static func settleSuccesses(_ db: Database, _ successes: [CompletedAttempt], now: Date) throws -> [OperationalNotice] {
        var byOwner: [String: [Int64]] = [:]
        var subscriptions: [String] = []
        for attempt in successes {
            byOwner[attempt.leaseOwner, default: []].append(attempt.deliveryID)
            if !subscriptions.contains(attempt.subscriptionID) { subscriptions.append(attempt.subscriptionID) }
        }
        for (owner, ids) in byOwner.sorted(by: { $0.key < $1.key }) {
            try db.run(
                sql: """
                    UPDATE deliveries SET state = 'succeeded', attempts = attempts + 1, completed_at = ?, updated_at = ?,
                        last_error = NULL, lease_owner = NULL, lease_expires_at = NULL
                    WHERE id IN (SELECT value FROM json_each(?)) AND lease_owner = ?
                    """,
                arguments: [now.unixSeconds, now.unixSeconds, "[" + ids.map(String.init).joined(separator: ",") + "]", owner]
            )
        }
        var notices: [OperationalNotice] = []
        for subscription in subscriptions {
            guard
                let row = try Row.fetchOne(
                    cached: db, sql: "SELECT tenant, url, failing_since FROM subscriptions WHERE id = ? AND failing_since IS NOT NULL",
                    arguments: [subscription]
                )
            else { continue }
            try db.run(sql: "UPDATE subscriptions SET failing_since = NULL WHERE id = ?", arguments: [subscription])
            notices.append(
                .recovered(subscriptionID: subscription, tenant: row[0], url: row[1], failingSince: Date(unixSeconds: row[2]), now: now)
            )
        }
        return notices
    }

    /// What one attempt says about its subscription's health.
    enum Verdict { case recovered, failing, gone, released }

    /// Moves one delivery on by its outcome, only while `attempt.leaseOwner` still holds its lease
    /// (a stale sender changes nothing). Successes were written in bulk by ``settleSuccesses``.
    static func settle(_ db: Database, _ attempt: CompletedAttempt, now: Date) throws -> Verdict {
        let error = attempt.errorKind ?? attempt.statusCode.map { "http_\($0)" }
        let leaseHeld = "id = ? AND lease_owner = ?"
        let ids: StatementArguments = [attempt.deliveryID, attempt.leaseOwner]
        switch attempt.disposition {
        case .succeeded:
            return .recovered
        case .retry(let at), .throttled(until: let at):
            try db.run(
                sql: """
                    UPDATE deliveries SET attempts = attempts + 1, next_attempt_at = ?, updated_at = ?, last_error = ?,
                        lease_owner = NULL, lease_expires_at = NULL WHERE \(leaseHeld)
                    """,
                arguments: [at.unixSeconds, now.unixSeconds, error] + ids
            )
            if case .throttled = attempt.disposition {
                // The receiver asked for a pause: its other pending deliveries wait as long.
                try db.run(
                    sql: """
                        UPDATE deliveries SET next_attempt_at = MAX(next_attempt_at, ?)
                        WHERE subscription_id = ? AND state = 'pending' AND lease_owner IS NULL
                        """,
                    arguments: [at.unixSeconds, attempt.subscriptionID]
                )
            }
            return .failing
        case .failed:
            try db.run(
                sql: """
                    UPDATE deliveries SET state = 'failed', attempts = attempts + 1, completed_at = ?, updated_at = ?,
                        last_error = ?, lease_owner = NULL, lease_expires_at = NULL WHERE \(leaseHeld)
                    """,
                arguments: [now.unixSeconds, now.unixSeconds, error] + ids
            )
            return .failing
        case .gone:
            try db.run(
                sql: """
                    UPDATE deliveries SET state = 'held', attempts = attempts + 1, updated_at = ?, last_error = ?,
                        lease_owner = NULL, lease_expires_at = NULL WHERE \(leaseHeld)
                    """,
                arguments: [now.unixSeconds, error] + ids
            )
            return .gone
        case .released:
            try db.run(sql: "UPDATE deliveries SET lease_owner = NULL, lease_expires_at = NULL WHERE \(leaseHeld)", arguments: ids)
            return .released
        }
    }

    /// Starts the failing window of each subscription not already failing; returns when each enabled
    /// one started failing.
    static func markFailing(_ db: Database, _ subscriptions: Set<String>, now: Date) throws -> [(String, Date)] {
        var since: [(String, Date)] = []
        for id in subscriptions.sorted() {
            try db.run(
                sql: "UPDATE subscriptions SET failing_since = COALESCE(failing_since, ?) WHERE id = ?",
                arguments: [now.unixSeconds, id]
            )
            if let started = try Double.fetchOne(cached: db, sql: "SELECT failing_since FROM subscriptions WHERE id = ? AND enabled = 1", arguments: [id]
            ) {
                since.append((id, Date(unixSeconds: started)))
            }
        }
        return since
    }

    /// A delivery of a disabled subscription that just failed stays held, not pending. Only
    /// subscriptions disabled right now can have such rows: checking that first (a primary-key lookup)
    /// spares a scan of every pending delivery per enabled subscription.
    static func holdPendingOfDisabled(_ db: Database, among subscriptions: Set<String>) throws {
        let disabledNow = try String.fetchAll(
            db.cachedStatement(sql: "SELECT id FROM subscriptions WHERE enabled = 0 AND id IN (SELECT value FROM json_each(?))"),
            arguments: [jsonArray(subscriptions.sorted())]
        )
        for id in disabledNow {
            try db.run(
                sql: """
                    UPDATE deliveries SET state = 'held' WHERE subscription_id = ? AND state = 'pending'
                      AND lease_owner IS NULL AND EXISTS (SELECT 1 FROM subscriptions WHERE id = ? AND enabled = 0)
                    """,
                arguments: [id, id]
            )
        }
    }

    /// Attempt rows written by one INSERT (at most this many distinct statements get cached).
    static let attemptRowsPerInsert = 16

    static func insertAttemptsSQL(rows: Int) -> String {
        "INSERT INTO attempts (delivery_id, attempted_at, status_code, error_kind, latency_ms, response_snippet) VALUES "
            + Array(repeating: "(?, ?, ?, ?, ?, ?)", count: rows).joined(separator: ", ")
    }

    /// When the dispatcher should look again if nothing wakes it: the earliest next attempt of a
    /// delivery at the head of its stream (leaving out subscriptions at their in-flight cap, which a
    /// finishing attempt will wake for, and rate-limited ones until they may send), the earliest time a
    /// rate-limited subscription may send again, or the earliest lease to run out.
    public func nextDeliveryWakeTime(now: Date, cap: InFlightCap) async throws(StoreError) -> Date? {
        try await read { db in
            // A rate-limited subscription that may not send yet wakes the loop when it may.
            let waiting = try Self.rateLimitedUntil(db, now: now)
            let excluded = Self.jsonArray(cap.full + waiting.map(\.subscriptionID))
            // One statement text for any number of exclusions (json_each), so it is compiled once.
            let head = try Double.fetchOne(
                cached: db,
                sql: """
                    SELECT d.next_attempt_at FROM deliveries d
                    WHERE d.state = 'pending' AND d.lease_owner IS NULL
                      AND NOT EXISTS (
                          SELECT 1 FROM deliveries p
                          WHERE p.subscription_id = d.subscription_id AND p.ordering_key = d.ordering_key
                            AND p.state IN ('pending', 'held') AND p.id < d.id)
                      AND d.subscription_id NOT IN (SELECT value FROM json_each(?))
                    ORDER BY d.next_attempt_at LIMIT 1
                    """,
                arguments: [excluded]
            )
            let lease = try Double.fetchOne(
                cached: db, sql: "SELECT MIN(lease_expires_at) FROM deliveries WHERE state = 'pending' AND lease_owner IS NOT NULL"
            )
            let ready = waiting.map(\.readyAt.unixSeconds).min()
            return [head, lease, ready].compactMap { $0 }.min().map(Date.init(unixSeconds:))
        }
    }

    /// The dispatcher's hot query: pending deliveries whose time has come and whose lease (if any)
    /// has run out, skipping any delivery that has an earlier open one for the same subscription and
    /// video (per-video ordering) and the subscriptions given (at their in-flight cap), soonest first.
    /// Positional arguments: now, now, the excluded subscription ids as a JSON array, limit. One text
    /// for any number of exclusions, so the statement is prepared once per connection.
    static let dueDeliveriesSQL = """
        SELECT d.id FROM deliveries d
        WHERE d.state = 'pending' AND d.next_attempt_at <= ?
          AND (d.lease_expires_at IS NULL OR d.lease_expires_at <= ?)
          AND NOT EXISTS (
              SELECT 1 FROM deliveries p
              WHERE p.subscription_id = d.subscription_id AND p.ordering_key = d.ordering_key
                AND p.state IN ('pending', 'held') AND p.id < d.id)
          AND d.subscription_id NOT IN (SELECT value FROM json_each(?))
        ORDER BY d.next_attempt_at, d.id
        LIMIT ?
        """

    /// The due deliveries with what an attempt needs (event, payload, URL) in one statement.
    /// Same positional arguments as ``dueDeliveriesSQL``; rows come in the same order.
    static let dueDeliveryDetailsSQL = """
        SELECT d.id, d.subscription_id, d.tenant, d.attempts, e.id AS event_id, e.type, e.payload, e.video_id, s.url, s.headers,
               s.rate_limit, (SELECT b.ready_at FROM rate_buckets b WHERE b.subscription_id = d.subscription_id) AS rate_ready_at
        FROM (\(dueDeliveriesSQL)) AS due
        JOIN deliveries d ON d.id = due.id
        JOIN events e ON e.seq = d.event_seq
        JOIN subscriptions s ON s.id = d.subscription_id
        ORDER BY d.next_attempt_at, d.id
        """

    static let activeSecretsSQL = """
        SELECT secret FROM subscription_secrets
        WHERE subscription_id = ? AND (expires_at IS NULL OR expires_at > ?) ORDER BY id DESC
        """

    /// Disables a subscription and holds its open, unleased deliveries; when it was enabled, returns it
    /// with the `subscription.disabled` event to announce.
    static func disable(_ db: Database, subscriptionID: String, reason: DisableReason, now: Date) throws
        -> (DisabledSubscription, OperationalNotice)?
    {
        guard
            let row = try Row.fetchOne(
                cached: db, sql: "SELECT tenant, url FROM subscriptions WHERE id = ? AND enabled = 1", arguments: [subscriptionID]
            )
        else { return nil }
        try db.run(
            sql: "UPDATE subscriptions SET enabled = 0, disabled_reason = ?, updated_at = ? WHERE id = ?",
            arguments: [reason.text, now.unixSeconds, subscriptionID]
        )
        try db.run(
            sql: """
                UPDATE deliveries SET state = 'held', updated_at = ?
                WHERE subscription_id = ? AND state = 'pending' AND (lease_owner IS NULL OR lease_expires_at <= ?)
                """,
            arguments: [now.unixSeconds, subscriptionID, now.unixSeconds]
        )
        let subscription = DisabledSubscription(id: subscriptionID, tenant: row[0], reason: reason)
        return (subscription, .disabled(subscription, url: row[1], now: now))
    }
}

/// One row of ``SQLiteBridgeStore/dueDeliveryDetailsSQL``: a due delivery with what an attempt needs.
struct DueDelivery {
    /// The statement's columns, in its order (a test compares them with the statement's own names).
    enum Columns: Int, SelectedColumns {
        case id, subscriptionID, tenant, attempts, eventID, type, payload, videoID, url, headers, rateLimit, rateReadyAt
    }

    var id: Int64
    var subscriptionID: String
    var tenant: String
    var attempts: Int
    var eventID: String
    var eventType: EventType
    var payload: String
    var videoID: String?
    var url: String
    /// Sealed.
    var headers: String?
    var rateLimit: Int?
    var rateReadyAt: Date?

    /// The statement's current row.
    init(_ handle: SQLiteStatement) throws {
        func text(_ column: Columns) -> String? { SQLiteBridgeStore.text(handle, Int32(column.rawValue)) }
        func isNull(_ column: Columns) -> Bool { sqlite3_column_type(handle, Int32(column.rawValue)) == SQLITE_NULL }
        guard let subscriptionID = text(.subscriptionID), let tenant = text(.tenant), let eventID = text(.eventID),
            let type = text(.type).flatMap(EventType.init(rawValue:)), let payload = text(.payload), let url = text(.url)
        else { throw StoreError.invalidData("due delivery") }
        id = sqlite3_column_int64(handle, Int32(Columns.id.rawValue))
        self.subscriptionID = subscriptionID
        self.tenant = tenant
        attempts = Int(sqlite3_column_int64(handle, Int32(Columns.attempts.rawValue)))
        self.eventID = eventID
        eventType = type
        self.payload = payload
        videoID = text(.videoID)
        self.url = url
        headers = text(.headers)
        rateLimit = isNull(.rateLimit) ? nil : Int(sqlite3_column_int64(handle, Int32(Columns.rateLimit.rawValue)))
        rateReadyAt = isNull(.rateReadyAt) ? nil : Date(unixSeconds: sqlite3_column_double(handle, Int32(Columns.rateReadyAt.rawValue)))
    }

    func claimed(secrets: [String], headers: [CustomHeader], claimID: String) -> ClaimedDelivery {
        ClaimedDelivery(
            id: id, eventID: eventID, eventType: eventType, payload: payload, subscriptionID: subscriptionID, tenant: tenant,
            videoID: videoID, url: url, secrets: secrets, headers: headers, attemptNumber: attempts + 1, claimID: claimID
        )
    }
}
