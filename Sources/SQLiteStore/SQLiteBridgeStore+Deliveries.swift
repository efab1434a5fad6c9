import BridgeCore
public import Foundation
public import BridgeStore
import GRDB

extension SQLiteBridgeStore {
    // MARK: - Dispatcher

    /// Leases up to `limit` due deliveries to `leaseOwner` until `now + leaseDuration`.
    ///
    /// A delivery is due when pending, its time has come, no live lease holds it, and no earlier
    /// delivery for the same subscription and video is still open (callbacks keep observation order).
    /// At most `perSubscriptionLimit` deliveries per subscription are in flight, counting `inFlight`,
    /// so one slow receiver cannot take every slot. Leases make a crash mid-attempt safe: the row
    /// becomes due again when the lease runs out, and no second process can claim it before.
    public func claimDueDeliveries(
        now: Date,
        limit: Int,
        leaseOwner: String,
        leaseDuration: Duration,
        perSubscriptionLimit: Int,
        inFlight: [String: Int]
    ) async throws(StoreError) -> [ClaimedDelivery] {
        guard limit > 0 else { return [] }
        return try await write { db in
            var perSubscription = inFlight
            var claimed: [ClaimedDelivery] = []
            var secrets: [String: [String]] = [:]
            let due = try db.cachedStatement(sql: Self.dueDeliveryDetailsSQL)
            let lease = try db.cachedStatement(
                sql: """
                    UPDATE deliveries SET lease_owner = ?, lease_expires_at = ?, updated_at = ?
                    WHERE id = ? AND state = 'pending' AND (lease_expires_at IS NULL OR lease_expires_at <= ?)
                    """
            )
            let secretsOf = try db.cachedStatement(sql: Self.activeSecretsSQL)
            let nowSeconds = now.unixSeconds
            let expiry = (now + leaseDuration).unixSeconds
            // Subscriptions at their cap are left out of the query itself, so a backlog for one busy
            // receiver can never fill the candidate window and starve the others.
            for _ in 0..<4 where claimed.count < limit {
                let capped = perSubscription.filter { $0.value >= perSubscriptionLimit }.map(\.key).sorted()
                let rows = try Row.fetchAll(
                    due, arguments: [nowSeconds, nowSeconds, Self.jsonArray(capped), (limit - claimed.count) * 2]
                )
                guard !rows.isEmpty else { break }
                var skipped = false
                for row in rows where claimed.count < limit {
                    let subscription: String = row[1]
                    guard perSubscription[subscription, default: 0] < perSubscriptionLimit else {
                        skipped = true
                        continue
                    }
                    let id: Int64 = row[0]
                    try lease.execute(arguments: [leaseOwner, expiry, nowSeconds, id, nowSeconds])
                    guard db.changesCount == 1, let type = EventType(rawValue: row[5]) else { continue }
                    perSubscription[subscription, default: 0] += 1
                    claimed.append(
                        ClaimedDelivery(
                            id: id, eventID: row[4], eventType: type, payload: row[6],
                            subscriptionID: subscription, tenant: row[2], videoID: row[7], url: row[8],
                            secrets: try secrets[subscription] ?? {
                                let active = try String.fetchAll(secretsOf, arguments: [subscription, nowSeconds]).map {
                                    try self.openSecret($0, subscriptionID: subscription)
                                }
                                secrets[subscription] = active
                                return active
                            }(),
                            attemptNumber: (row[3] as Int) + 1
                        )
                    )
                }
                if !skipped { break }
            }
            return claimed
        }
    }

    /// `["a","b"]`: a JSON array of strings, for `json_each` and the list columns.
    static func jsonArray(_ values: [String]) -> String {
        "[" + values.map(JSONString.quote).joined(separator: ",") + "]"
    }

    /// Records attempts and moves each delivery on, in one transaction for the whole batch.
    /// A subscription that answered 410, or has failed without a success for `disableAfter`, is
    /// disabled and its open deliveries held. Returns the subscriptions disabled by this batch.
    @discardableResult
    public func completeAttempts(
        _ attempts: [CompletedAttempt],
        now: Date,
        disableAfter: Duration
    ) async throws(StoreError) -> [DisabledSubscription] {
        guard !attempts.isEmpty else { return [] }
        let disabled = try await write { db -> [DisabledSubscription] in
            var failing = Set<String>()
            var toDisable: [String: DisableReason] = [:]
            var touched = Set<String>()
            // Attempt rows, in batch order, several per INSERT.
            let recorded = attempts.filter { $0.disposition != .released }
            var start = 0
            while start < recorded.count {
                let chunk = recorded[start..<min(start + Self.attemptRowsPerInsert, recorded.count)]
                var values: [(any DatabaseValueConvertible)?] = []
                values.reserveCapacity(chunk.count * 6)
                for attempt in chunk {
                    values += [
                        attempt.deliveryID, attempt.attemptedAt.unixSeconds, attempt.statusCode, attempt.errorKind,
                        attempt.latency.timeInterval * 1000, attempt.responseSnippet,
                    ] as [(any DatabaseValueConvertible)?]
                }
                try db.run(sql: Self.insertAttemptsSQL(rows: chunk.count), arguments: StatementArguments(values))
                start += chunk.count
            }
            // Successes (the common case) move on with one UPDATE per lease owner.
            var succeeded: [String: [Int64]] = [:]
            var succeededSubscriptions: [String] = []
            for attempt in attempts where attempt.disposition == .succeeded {
                succeeded[attempt.leaseOwner, default: []].append(attempt.deliveryID)
                if !succeededSubscriptions.contains(attempt.subscriptionID) { succeededSubscriptions.append(attempt.subscriptionID) }
            }
            for (owner, ids) in succeeded.sorted(by: { $0.key < $1.key }) {
                try db.run(
                    sql: """
                        UPDATE deliveries SET state = 'succeeded', attempts = attempts + 1, completed_at = ?, updated_at = ?,
                            last_error = NULL, lease_owner = NULL, lease_expires_at = NULL
                        WHERE id IN (SELECT value FROM json_each(?)) AND lease_owner = ?
                        """,
                    arguments: [now.unixSeconds, now.unixSeconds, "[" + ids.map(String.init).joined(separator: ",") + "]", owner]
                )
            }
            for subscription in succeededSubscriptions {
                try db.run(
                    sql: "UPDATE subscriptions SET failing_since = NULL WHERE id = ? AND failing_since IS NOT NULL",
                    arguments: [subscription]
                )
            }
            for attempt in attempts {
                touched.insert(attempt.subscriptionID)
                let error = attempt.errorKind ?? attempt.statusCode.map { "http_\($0)" }
                let leaseHeld = "id = ? AND lease_owner = ?"
                let ids: StatementArguments = [attempt.deliveryID, attempt.leaseOwner]
                switch attempt.disposition {
                case .succeeded:
                    // Written above, with the batch's other successes.
                    failing.remove(attempt.subscriptionID)
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
                    failing.insert(attempt.subscriptionID)
                case .failed:
                    try db.run(
                        sql: """
                            UPDATE deliveries SET state = 'failed', attempts = attempts + 1, completed_at = ?, updated_at = ?,
                                last_error = ?, lease_owner = NULL, lease_expires_at = NULL WHERE \(leaseHeld)
                            """,
                        arguments: [now.unixSeconds, now.unixSeconds, error] + ids
                    )
                    failing.insert(attempt.subscriptionID)
                case .gone:
                    try db.run(
                        sql: """
                            UPDATE deliveries SET state = 'held', attempts = attempts + 1, updated_at = ?, last_error = ?,
                                lease_owner = NULL, lease_expires_at = NULL WHERE \(leaseHeld)
                            """,
                        arguments: [now.unixSeconds, error] + ids
                    )
                    toDisable[attempt.subscriptionID] = .gone
                case .released:
                    try db.run(
                        sql: "UPDATE deliveries SET lease_owner = NULL, lease_expires_at = NULL WHERE \(leaseHeld)",
                        arguments: ids
                    )
                }
            }
            for id in failing {
                try db.run(
                    sql: "UPDATE subscriptions SET failing_since = COALESCE(failing_since, ?) WHERE id = ?",
                    arguments: [now.unixSeconds, id]
                )
                let since = try Double.fetchOne(db, sql: "SELECT failing_since FROM subscriptions WHERE id = ? AND enabled = 1", arguments: [id])
                if let since, now.unixSeconds - since >= disableAfter.timeInterval {
                    toDisable[id] = toDisable[id] ?? .failing(since: Date(unixSeconds: since))
                }
            }
            var disabled: [DisabledSubscription] = []
            for (id, reason) in toDisable.sorted(by: { $0.key < $1.key }) {
                if let tenant = try Self.disable(db, subscriptionID: id, reason: reason.text, now: now) {
                    disabled.append(DisabledSubscription(id: id, tenant: tenant, reason: reason))
                }
            }
            // A delivery of a disabled subscription that just failed stays held, not pending. Only
            // subscriptions disabled right now can have such rows: checking that first (a primary-key
            // lookup) spares a scan of every pending delivery per enabled subscription.
            let disabledNow = try String.fetchAll(
                db.cachedStatement(sql: "SELECT id FROM subscriptions WHERE enabled = 0 AND id IN (SELECT value FROM json_each(?))"),
                arguments: [Self.jsonArray(touched.sorted())]
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
            return disabled
        }
        // No wake-up here: the dispatcher that wrote these claims again right after.
        return disabled
    }

    /// Attempt rows written by one INSERT (at most this many distinct statements get cached).
    static let attemptRowsPerInsert = 16

    static func insertAttemptsSQL(rows: Int) -> String {
        "INSERT INTO attempts (delivery_id, attempted_at, status_code, error_kind, latency_ms, response_snippet) VALUES "
            + Array(repeating: "(?, ?, ?, ?, ?, ?)", count: rows).joined(separator: ", ")
    }

    /// When the dispatcher should look again if nothing wakes it: the earliest next attempt of a
    /// delivery at the head of its stream (leaving out subscriptions at their in-flight cap, which a
    /// finishing attempt will wake for), or the earliest lease to run out.
    public func nextDeliveryWakeTime(now: Date, excludingSubscriptions excluded: [String]) async throws(StoreError) -> Date? {
        try await read { db in
            let exclusion = excluded.isEmpty ? "" : "AND d.subscription_id NOT IN (\(Array(repeating: "?", count: excluded.count).joined(separator: ", ")))"
            let head = try Double.fetchOne(
                db,
                sql: """
                    SELECT d.next_attempt_at FROM deliveries d
                    WHERE d.state = 'pending' AND d.lease_owner IS NULL
                      AND NOT EXISTS (
                          SELECT 1 FROM deliveries p
                          WHERE p.subscription_id = d.subscription_id AND p.ordering_key = d.ordering_key
                            AND p.state IN ('pending', 'held') AND p.id < d.id)
                      \(exclusion)
                    ORDER BY d.next_attempt_at LIMIT 1
                    """,
                arguments: StatementArguments(excluded)
            )
            let lease = try Double.fetchOne(
                db,
                sql: "SELECT MIN(lease_expires_at) FROM deliveries WHERE state = 'pending' AND lease_owner IS NOT NULL"
            )
            return [head, lease].compactMap { $0 }.min().map(Date.init(unixSeconds:))
        }
    }

    /// Deliveries waiting (pending) and the age of the oldest, for metrics.
    public func queueDepth(now: Date) async throws(StoreError) -> (pending: Int, held: Int, oldestPendingAge: TimeInterval) {
        try await read { db in
            let pending = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM deliveries WHERE state = 'pending'") ?? 0
            let held = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM deliveries WHERE state = 'held'") ?? 0
            let oldest = try Double.fetchOne(db, sql: "SELECT MIN(created_at) FROM deliveries WHERE state = 'pending'")
            return (pending, held, oldest.map { max(0, now.unixSeconds - $0) } ?? 0)
        }
    }

    // MARK: - Operator actions

    /// Enables or disables a subscription. Disabling holds its open deliveries; enabling releases every
    /// held one for sending in order, with a fresh retry schedule.
    @discardableResult
    public func setSubscriptionEnabled(tenant: String, id: String, enabled: Bool, now: Date) async throws(StoreError) -> Bool {
        let changed = try await write { db -> Bool in
            guard try Self.fetchSubscription(db, tenant: tenant, id: id) != nil else { return false }
            if enabled {
                try db.run(
                    sql: "UPDATE subscriptions SET enabled = 1, disabled_reason = NULL, failing_since = NULL, updated_at = ? WHERE id = ?",
                    arguments: [now.unixSeconds, id]
                )
                try db.run(
                    sql: """
                        UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = ?, updated_at = ?
                        WHERE subscription_id = ? AND state = 'held'
                        """,
                    arguments: [now.unixSeconds, now.unixSeconds, id]
                )
            } else {
                _ = try Self.disable(db, subscriptionID: id, reason: "disabled by request", now: now)
            }
            return true
        }
        if changed && enabled { notifyDeliveriesEnqueued() }
        return changed
    }

    /// Re-sends every event of the subscription's tenant since `since` that matches its filters, each
    /// as a new delivery of the same event (same `webhook-id`), oldest first, at most `limit` per call;
    /// pings count when they were sent to this subscription and its filter takes them. An event that
    /// already has a pending or held delivery to this subscription is not queued again, so repeating
    /// a replay queues nothing twice. nil when the subscription is unknown to this tenant; `more` when
    /// matching events are left for another call.
    public func replay(tenant: String, subscriptionID: String, since: Date, now: Date, limit: Int) async throws(StoreError)
        -> (queued: Int, more: Bool)?
    {
        let result = try await write { db -> (queued: Int, more: Bool)? in
            guard try Self.fetchSubscription(db, tenant: tenant, id: subscriptionID) != nil else { return nil }
            try db.run(
                sql: """
                    INSERT INTO deliveries (event_seq, subscription_id, tenant, ordering_key, state, next_attempt_at,
                                            created_at, updated_at)
                    SELECT e.seq, s.id, s.tenant, COALESCE(e.video_id, ''), CASE WHEN s.enabled THEN 'pending' ELSE 'held' END,
                           ?, ?, ?
                    \(Self.replayMatch)
                    ORDER BY e.seq LIMIT ?
                    """,
                arguments: [now.unixSeconds, now.unixSeconds, now.unixSeconds, subscriptionID, tenant, since.unixSeconds, limit]
            )
            let queued = db.changesCount
            let more = try Bool.fetchOne(
                db, sql: "SELECT EXISTS (SELECT 1 \(Self.replayMatch))", arguments: [subscriptionID, tenant, since.unixSeconds]
            ) ?? false
            return (queued, more)
        }
        if (result?.queued ?? 0) > 0 { notifyDeliveriesEnqueued() }
        return result
    }

    /// The events a replay to subscription `?` of tenant `?` since `?` takes (see ``replay``).
    static let replayMatch = """
        FROM events e JOIN subscriptions s ON s.id = ? AND s.tenant = e.tenant
        WHERE e.tenant = ? AND e.created_at >= ?
          AND (e.type != 'ping' OR EXISTS (SELECT 1 FROM deliveries p WHERE p.event_seq = e.seq AND p.subscription_id = s.id))
          AND (s.video_id IS NULL OR s.video_id = e.video_id OR e.type = 'ping')
          AND (s.event_types IS NULL OR EXISTS (SELECT 1 FROM json_each(s.event_types) WHERE value = e.type))
          AND NOT EXISTS (
              SELECT 1 FROM deliveries o
              WHERE o.event_seq = e.seq AND o.subscription_id = s.id AND o.state IN ('pending', 'held'))
        """

    /// Sends a delivery again now with a fresh schedule (held instead if its subscription is disabled).
    /// nil when unknown to this tenant; false when an attempt is in flight right now.
    public func retryDelivery(tenant: String, id: Int64, now: Date) async throws(StoreError) -> Bool? {
        let result = try await write { db -> Bool? in
            guard let row = try Row.fetchOne(
                db,
                sql: "SELECT lease_owner, lease_expires_at FROM deliveries WHERE id = ? AND tenant = ?",
                arguments: [id, tenant]
            ) else { return nil }
            if (row["lease_owner"] as String?) != nil, let expires = row["lease_expires_at"] as Double?, expires > now.unixSeconds {
                return false
            }
            try db.run(
                sql: """
                    UPDATE deliveries SET state = CASE WHEN (SELECT enabled FROM subscriptions WHERE id = subscription_id)
                        THEN 'pending' ELSE 'held' END,
                        attempts = 0, next_attempt_at = ?, completed_at = NULL, updated_at = ?, lease_owner = NULL,
                        lease_expires_at = NULL
                    WHERE id = ?
                    """,
                arguments: [now.unixSeconds, now.unixSeconds, id]
            )
            return true
        }
        if result == true { notifyDeliveriesEnqueued() }
        return result
    }

    /// Records a `ping` event for one subscription and queues its delivery.
    public func ping(tenant: String, subscriptionID: String, now: Date) async throws(StoreError) -> StoredEvent? {
        let event = try await write { db -> StoredEvent? in
            guard try Self.fetchSubscription(db, tenant: tenant, id: subscriptionID) != nil else { return nil }
            let payload = EventPayload.ping(timestamp: now, subscriptionID: subscriptionID)
            let event = try self.appendEvent(db, tenant: tenant, type: .ping, videoID: nil, payload: payload, now: now)
            try db.run(
                sql: """
                    INSERT INTO deliveries (event_seq, subscription_id, tenant, ordering_key, state, next_attempt_at,
                                            created_at, updated_at)
                    SELECT ?, id, tenant, '', CASE WHEN enabled THEN 'pending' ELSE 'held' END, ?, ?, ?
                    FROM subscriptions WHERE id = ?
                    """,
                arguments: [event.sequence, now.unixSeconds, now.unixSeconds, now.unixSeconds, subscriptionID]
            )
            return event
        }
        if event != nil {
            notifyDeliveriesEnqueued()
            eventsAppended.signal()
        }
        return event
    }

    /// Starts signing with `newSecret`; the current secret keeps signing beside it until `now + grace`.
    public func rotateSecret(tenant: String, subscriptionID: String, newSecret: String, grace: Duration, now: Date)
        async throws(StoreError) -> Bool
    {
        try await write { db in
            guard try Self.fetchSubscription(db, tenant: tenant, id: subscriptionID) != nil else { return false }
            try db.run(sql: "DELETE FROM subscription_secrets WHERE expires_at IS NOT NULL AND expires_at <= ?", arguments: [now.unixSeconds])
            try db.run(
                sql: "UPDATE subscription_secrets SET expires_at = ? WHERE subscription_id = ? AND expires_at IS NULL",
                arguments: [(now + grace).unixSeconds, subscriptionID]
            )
            try db.run(
                sql: "INSERT INTO subscription_secrets (subscription_id, secret, created_at) VALUES (?, ?, ?)",
                arguments: [subscriptionID, try sealSecret(newSecret, subscriptionID: subscriptionID), now.unixSeconds]
            )
            return true
        }
    }

    /// A delivery with its attempts, oldest attempt first.
    public func delivery(tenant: String, id: Int64) async throws(StoreError) -> (DeliveryRecord, [AttemptRecord])? {
        try await read { db in
            guard let row = try Row.fetchOne(db, sql: Self.deliverySelect + " WHERE d.id = ? AND d.tenant = ?", arguments: [id, tenant]) else {
                return nil
            }
            let attempts = try Row.fetchAll(
                db,
                sql: "SELECT attempted_at, status_code, error_kind, latency_ms, response_snippet FROM attempts WHERE delivery_id = ? ORDER BY id",
                arguments: [id]
            ).map {
                AttemptRecord(
                    attemptedAt: Date(unixSeconds: $0["attempted_at"]), statusCode: $0["status_code"],
                    errorKind: $0["error_kind"], latencyMilliseconds: $0["latency_ms"], responseSnippet: $0["response_snippet"]
                )
            }
            return (try Self.delivery(from: row), attempts)
        }
    }

    // MARK: - Inside transactions

    static let activeSecretsSQL = """
        SELECT secret FROM subscription_secrets
        WHERE subscription_id = ? AND (expires_at IS NULL OR expires_at > ?) ORDER BY id DESC
        """


    /// Disables a subscription and holds its open, unleased deliveries; returns its tenant when it was enabled.
    static func disable(_ db: Database, subscriptionID: String, reason: String, now: Date) throws -> String? {
        guard let tenant = try String.fetchOne(
            db, sql: "SELECT tenant FROM subscriptions WHERE id = ? AND enabled = 1", arguments: [subscriptionID]
        ) else { return nil }
        try db.run(
            sql: "UPDATE subscriptions SET enabled = 0, disabled_reason = ?, updated_at = ? WHERE id = ?",
            arguments: [reason, now.unixSeconds, subscriptionID]
        )
        try db.run(
            sql: """
                UPDATE deliveries SET state = 'held', updated_at = ?
                WHERE subscription_id = ? AND state = 'pending' AND (lease_owner IS NULL OR lease_expires_at <= ?)
                """,
            arguments: [now.unixSeconds, subscriptionID, now.unixSeconds]
        )
        return tenant
    }
}
