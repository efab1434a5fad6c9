import BridgeCore
public import BridgeStore
public import Foundation
import PostgresNIO

/// The outbox as dispatchers on any number of replicas work it: claims with leases, outcomes,
/// auto-disable. The rules are SQLite's (see `SQLiteStore/Outbox.swift`); what differs is how
/// several writers share the rows.
extension PostgresBridgeStore {
    /// Records attempts, then claims, in one transaction (see ``DeliveryStore``). The claim's advisory
    /// lock is taken after the outcomes are written, so it is held only for the claim and the commit.
    public func completeAttempts(_ attempts: [CompletedAttempt], thenClaim claim: ClaimRequest, now: Date, disableAfter: Duration)
        async throws(StoreError) -> OutboxTurn
    {
        guard !attempts.isEmpty || claim.limit > 0 else { return OutboxTurn() }
        let box = secrets
        let turn = try await transaction { sql in
            let recorded = try await Self.record(sql, attempts, now: now, disableAfter: disableAfter)
            // Operational events join the outbox before the claim, so this very claim may send them.
            let events = try await Self.announce(sql, recorded.notices, now: now)
            return OutboxTurn(disabled: recorded.disabled, claimed: try await Self.claim(sql, claim, now: now, secrets: box), events: events)
        }
        if !turn.events.isEmpty { notifyCommitted(events: true, deliveries: true) }
        return turn
    }

    /// Appends operational events and fans them out, inside the caller's transaction. One that none of
    /// the key's other subscriptions lists is not recorded at all (opt-in: nobody asked for it).
    static func announce(_ sql: SQL, _ notices: [OperationalNotice], now: Date) async throws -> [StoredEvent] {
        var wanted: [OperationalNotice] = []
        for notice in notices {
            let listened = try await sql.one(
                """
                SELECT EXISTS (SELECT 1 FROM subscriptions WHERE tenant = \(notice.tenant) AND id <> \(notice.subject)
                  AND \(notice.type.rawValue) = ANY(event_types))
                """,
                as: Bool.self
            )
            if listened == true { wanted.append(notice) }
        }
        guard !wanted.isEmpty else { return [] }
        let events = try await appendEvents(
            sql, wanted.map { NewEvent(tenant: $0.tenant, type: $0.type, videoID: nil, payload: $0.payload, subject: $0.subject) }, now: now
        )
        _ = try await fanOut(sql, sequences: events.map(\.sequence), now: now)
        return events
    }

    /// The claim half of a turn, inside the caller's transaction: leases up to `limit` due deliveries
    /// to `leaseOwner`. Candidates are read `FOR UPDATE SKIP LOCKED`
    /// (rows another transaction is completing are passed over, never waited for) and leased in the same
    /// transaction. Claims take an advisory lock for their short transaction, so the per-subscription
    /// cap counts the live leases of every replica (read from the table) and two claims never both
    /// take a subscription's last slot. Per-video order needs nothing more: a leased delivery is still
    /// open, so the next one of its stream is not a candidate until it is settled.
    static func claim(_ sql: SQL, _ request: ClaimRequest, now: Date, secrets box: SecretBox) async throws -> [ClaimedDelivery] {
        let (limit, leaseOwner) = (request.limit, request.leaseOwner)
        guard limit > 0 else { return [] }
        let at = now.unixSeconds
        try await sql.run("SELECT pg_advisory_xact_lock(\(Schema.claimLock))")
        var room = request.cap
        var leases: [String: Int] = [:]
        for row in try await sql.rows(
            """
            SELECT subscription_id, COUNT(*) FROM deliveries
            WHERE lease_owner IS NOT NULL AND state = 'pending' AND lease_expires_at > \(at) GROUP BY subscription_id
            """
        ) {
            let (id, leased) = try row.decode((String, Int).self)
            leases[id] = leased
        }
        room.include(leases: leases)
        // Under the claim lock, so every replica's claims share each subscription's rate bucket.
        let waiting = try await Self.rateLimitedUntil(sql, now: now).map(\.subscriptionID)
        var budgets = RateBudgets(now: now)
        var chosen: [Int64] = []
        for _ in 0..<4 where chosen.count < limit {
            let excluded = room.full + budgets.exhausted + waiting
            let candidates = try await sql.rows(
                """
                SELECT d.id, d.subscription_id, s.rate_limit, b.ready_at
                FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id
                LEFT JOIN rate_buckets b ON b.subscription_id = d.subscription_id
                WHERE d.state = 'pending' AND d.next_attempt_at <= \(at)
                  AND (d.lease_expires_at IS NULL OR d.lease_expires_at <= \(at))
                  AND NOT EXISTS (
                      SELECT 1 FROM deliveries p
                      WHERE p.subscription_id = d.subscription_id AND p.ordering_key = d.ordering_key
                        AND p.state IN ('pending', 'held') AND p.id < d.id)
                  AND d.subscription_id <> ALL(\(excluded))
                  AND d.id <> ALL(\(chosen))
                ORDER BY d.next_attempt_at, d.id
                LIMIT \((limit - chosen.count) * 2)
                FOR UPDATE OF d SKIP LOCKED
                """
            )
            guard !candidates.isEmpty else { break }
            var skipped = false
            for row in candidates where chosen.count < limit {
                let (id, subscription, rateLimit, readyAt) = try row.decode((Int64, String, Int?, Double?).self)
                guard room.hasRoom(for: subscription),
                    budgets.take(subscription, perSecond: rateLimit, readyAt: readyAt.map(Date.init(unixSeconds:)))
                else {
                    skipped = true
                    continue
                }
                room.add(subscription)
                chosen.append(id)
            }
            if !skipped { break }
        }
        guard !chosen.isEmpty else { return [] }
        for (subscription, readyAt) in budgets.updates {
            try await sql.run(
                """
                INSERT INTO rate_buckets (subscription_id, ready_at) VALUES (\(subscription), \(readyAt.unixSeconds))
                ON CONFLICT (subscription_id) DO UPDATE SET ready_at = EXCLUDED.ready_at
                """
            )
        }
        try await sql.run(
            """
            UPDATE deliveries SET lease_owner = \(leaseOwner), lease_expires_at = \((now + request.leaseDuration).unixSeconds),
                updated_at = \(at)
            WHERE id = ANY(\(chosen))
            """
        )
        let rows = try await sql.rows(
            """
            SELECT d.id, d.subscription_id, d.tenant, d.attempts, e.id, e.type, e.payload, e.video_id, s.url, s.headers
            FROM deliveries d JOIN events e ON e.seq = d.event_seq JOIN subscriptions s ON s.id = d.subscription_id
            WHERE d.id = ANY(\(chosen))
            ORDER BY d.next_attempt_at, d.id
            """
        )
        var signing: [String: [String]] = [:]
        var headers: [String: [CustomHeader]] = [:]
        var claimed: [ClaimedDelivery] = []
        for row in rows {
            let (id, subscription, tenant, attempts, eventID, type, payload, videoID, url, sealedHeaders) = try row.decode(
                (Int64, String, String, Int, String, String, String, String?, String, String?).self
            )
            guard let eventType = EventType(rawValue: type) else { throw StoreError.invalidData("event type") }
            if signing[subscription] == nil {
                signing[subscription] = try await sql.column(
                    """
                    SELECT secret FROM subscription_secrets
                    WHERE subscription_id = \(subscription) AND (expires_at IS NULL OR expires_at > \(at)) ORDER BY id DESC
                    """,
                    as: String.self
                ).map { try box.openText($0, context: SecretBox.secretContext(subscriptionID: subscription)) }
                headers[subscription] = try box.openHeaders(sealedHeaders, subscriptionID: subscription)
            }
            claimed.append(
                ClaimedDelivery(
                    id: id, eventID: eventID, eventType: eventType, payload: payload, subscriptionID: subscription, tenant: tenant,
                    videoID: videoID, url: url, secrets: signing[subscription] ?? [], headers: headers[subscription] ?? [], attemptNumber: attempts + 1,
                    claimID: leaseOwner
                )
            )
        }
        return claimed
    }

    /// Records attempts and moves each delivery on, in one transaction for the batch; every change
    /// compares the lease owner, so a replica whose lease ran out changes nothing.
    /// The recording half of a turn, inside the caller's transaction: every change compares the lease
    /// owner, so a replica whose lease ran out changes nothing.
    static func record(_ sql: SQL, _ attempts: [CompletedAttempt], now: Date, disableAfter: Duration) async throws
        -> (disabled: [DisabledSubscription], notices: [OperationalNotice])
    {
        guard !attempts.isEmpty else { return ([], []) }
        let at = now.unixSeconds
        let recorded = attempts.filter { $0.disposition != .released }.enumerated().map { index, attempt in
            AttemptRow(
                n: index, delivery: attempt.deliveryID, at: attempt.attemptedAt.unixSeconds, status: attempt.statusCode,
                kind: attempt.errorKind, latency: attempt.latency.timeInterval * 1000,
                snippet: attempt.responseSnippet
            )
        }
        if !recorded.isEmpty {
            try await sql.run(
                """
                INSERT INTO attempts (delivery_id, attempted_at, status_code, error_kind, latency_ms, response_snippet)
                SELECT x.delivery, x.at, x.status, x.kind, x.latency, x.snippet
                FROM jsonb_to_recordset(\(try SQL.document(recorded))::jsonb)
                    AS x(n integer, delivery bigint, at double precision, status integer, kind text, latency double precision, snippet text)
                WHERE EXISTS (SELECT 1 FROM deliveries d WHERE d.id = x.delivery)
                ORDER BY x.n
                """
            )
        }
        var successes: [String: [Int64]] = [:]
        var succeeded: [String] = []
        for attempt in attempts where attempt.disposition == .succeeded {
            successes[attempt.leaseOwner, default: []].append(attempt.deliveryID)
            if !succeeded.contains(attempt.subscriptionID) { succeeded.append(attempt.subscriptionID) }
        }
        for (owner, ids) in successes.sorted(by: { $0.key < $1.key }) {
            try await sql.run(
                """
                UPDATE deliveries SET state = 'succeeded', attempts = attempts + 1, completed_at = \(at), updated_at = \(at),
                    last_error = NULL, lease_owner = NULL, lease_expires_at = NULL
                WHERE id = ANY(\(ids)) AND lease_owner = \(owner)
                """
            )
        }
        var notices: [OperationalNotice] = []
        if !succeeded.isEmpty {
            // Each subscription that was failing says it recovered (the old failing_since, from a self-join).
            for row in try await sql.rows(
                """
                UPDATE subscriptions s SET failing_since = NULL FROM subscriptions prior
                WHERE s.id = prior.id AND s.id = ANY(\(succeeded.sorted())) AND s.failing_since IS NOT NULL
                RETURNING s.id, s.tenant, s.url, prior.failing_since
                """
            ) {
                let (id, tenant, url, since) = try row.decode((String, String, String, Double).self)
                notices.append(.recovered(subscriptionID: id, tenant: tenant, url: url, failingSince: Date(unixSeconds: since), now: now))
            }
            notices.sort { $0.subject < $1.subject }
        }
        var failing = Set<String>()
        var toDisable: [String: DisableReason] = [:]
        for attempt in attempts {
            switch try await Self.settle(sql, attempt, now: now) {
            case .recovered: failing.remove(attempt.subscriptionID)
            case .failing: failing.insert(attempt.subscriptionID)
            case .gone: toDisable[attempt.subscriptionID] = .gone
            case .released: break
            }
            if attempt.disposition == .failed, let notice = try await Self.deliveryFailed(sql, attempt, now: now) { notices.append(notice) }
        }
        for id in failing.sorted() {
            try await sql.run("UPDATE subscriptions SET failing_since = COALESCE(failing_since, \(at)) WHERE id = \(id)")
            if let started = try await sql.one("SELECT failing_since FROM subscriptions WHERE id = \(id) AND enabled", as: Double.self),
                at - started >= disableAfter.timeInterval
            {
                toDisable[id] = toDisable[id] ?? .failing(since: Date(unixSeconds: started))
            }
        }
        var disabled: [DisabledSubscription] = []
        for (id, reason) in toDisable.sorted(by: { $0.key < $1.key }) {
            if let (subscription, notice) = try await Self.disable(sql, subscriptionID: id, reason: reason, now: now) {
                disabled.append(subscription)
                notices.append(notice)
            }
        }
        // A delivery of a disabled subscription that just failed stays held, not pending (looked up
        // first: almost always none is disabled, and then nothing is written).
        let stopped = try await sql.column(
            "SELECT id FROM subscriptions WHERE id = ANY(\(Set(attempts.map(\.subscriptionID)).sorted())) AND NOT enabled ORDER BY id",
            as: String.self
        )
        if !stopped.isEmpty {
            try await sql.run(
                "UPDATE deliveries SET state = 'held' WHERE subscription_id = ANY(\(stopped)) AND state = 'pending' AND lease_owner IS NULL"
            )
        }
        return (disabled, notices)
    }

    /// `delivery.failed` for a delivery this attempt marked failed (nil when the lease had moved on, or
    /// the delivery was of an operational event).
    static func deliveryFailed(_ sql: SQL, _ attempt: CompletedAttempt, now: Date) async throws -> OperationalNotice? {
        guard
            let row = try await sql.rows(
                """
                SELECT d.tenant, d.attempts, e.id, e.type, e.video_id, s.url FROM deliveries d
                JOIN events e ON e.seq = d.event_seq JOIN subscriptions s ON s.id = d.subscription_id
                WHERE d.id = \(attempt.deliveryID) AND d.state = 'failed' AND d.completed_at = \(now.unixSeconds)
                """
            ).first
        else { return nil }
        let (tenant, attempts, eventID, type, videoID, url) = try row.decode((String, Int, String, String, String?, String).self)
        return .deliveryFailed(
            attempt, tenant: tenant, url: url, eventID: eventID, eventType: type, videoID: videoID, attempts: attempts, now: now
        )
    }

    /// One attempt of a batched insert, as an element of its JSON document.
    private struct AttemptRow: Encodable {
        var n: Int
        var delivery: Int64
        var at: Double
        var status: Int?
        var kind: String?
        var latency: Double
        var snippet: String?
    }

    /// What one attempt says about its subscription's health.
    enum Verdict { case recovered, failing, gone, released }

    /// Moves one delivery on by its outcome while `attempt.leaseOwner` still holds its lease.
    static func settle(_ sql: SQL, _ attempt: CompletedAttempt, now: Date) async throws -> Verdict {
        let error = attempt.errorKind ?? attempt.statusCode.map { "http_\($0)" }
        let at = now.unixSeconds
        let (id, owner) = (attempt.deliveryID, attempt.leaseOwner)
        switch attempt.disposition {
        case .succeeded:
            return .recovered
        case .retry(let next), .throttled(until: let next):
            try await sql.run(
                """
                UPDATE deliveries SET attempts = attempts + 1, next_attempt_at = \(next.unixSeconds), updated_at = \(at),
                    last_error = \(error), lease_owner = NULL, lease_expires_at = NULL
                WHERE id = \(id) AND lease_owner = \(owner)
                """
            )
            if case .throttled = attempt.disposition {
                try await sql.run(
                    """
                    UPDATE deliveries SET next_attempt_at = GREATEST(next_attempt_at, \(next.unixSeconds))
                    WHERE subscription_id = \(attempt.subscriptionID) AND state = 'pending' AND lease_owner IS NULL
                    """
                )
            }
            return .failing
        case .failed:
            try await sql.run(
                """
                UPDATE deliveries SET state = 'failed', attempts = attempts + 1, completed_at = \(at), updated_at = \(at),
                    last_error = \(error), lease_owner = NULL, lease_expires_at = NULL
                WHERE id = \(id) AND lease_owner = \(owner)
                """
            )
            return .failing
        case .gone:
            try await sql.run(
                """
                UPDATE deliveries SET state = 'held', attempts = attempts + 1, updated_at = \(at), last_error = \(error),
                    lease_owner = NULL, lease_expires_at = NULL
                WHERE id = \(id) AND lease_owner = \(owner)
                """
            )
            return .gone
        case .released:
            try await sql.run(
                "UPDATE deliveries SET lease_owner = NULL, lease_expires_at = NULL WHERE id = \(id) AND lease_owner = \(owner)"
            )
            return .released
        }
    }

    /// Disables a subscription and holds its open, unleased deliveries; returns its tenant when it was enabled.
    static func disable(_ sql: SQL, subscriptionID: String, reason: DisableReason, now: Date) async throws
        -> (DisabledSubscription, OperationalNotice)?
    {
        let at = now.unixSeconds
        guard
            let row = try await sql.rows(
                """
                UPDATE subscriptions SET enabled = false, disabled_reason = \(reason.text), updated_at = \(at)
                WHERE id = \(subscriptionID) AND enabled RETURNING tenant, url
                """
            ).first
        else { return nil }
        let (tenant, url) = try row.decode((String, String).self)
        try await sql.run(
            """
            UPDATE deliveries SET state = 'held', updated_at = \(at)
            WHERE subscription_id = \(subscriptionID) AND state = 'pending' AND (lease_owner IS NULL OR lease_expires_at <= \(at))
            """
        )
        let subscription = DisabledSubscription(id: subscriptionID, tenant: tenant, reason: reason)
        return (subscription, .disabled(subscription, url: url, now: now))
    }

    /// Rate-limited subscriptions with a pending delivery whose next callback may not leave before
    /// `readyAt` (after `now`).
    static func rateLimitedUntil(_ sql: SQL, now: Date) async throws -> [(subscriptionID: String, readyAt: Date)] {
        try await sql.rows(
            """
            SELECT b.subscription_id, b.ready_at FROM rate_buckets b JOIN subscriptions s ON s.id = b.subscription_id
            WHERE b.ready_at > \(now.unixSeconds) AND s.rate_limit IS NOT NULL
              AND EXISTS (SELECT 1 FROM deliveries d WHERE d.subscription_id = s.id AND d.state = 'pending')
            """
        ).map { row in
            let (id, readyAt) = try row.decode((String, Double).self)
            return (id, Date(unixSeconds: readyAt))
        }
    }

    public func nextDeliveryWakeTime(now: Date, cap: InFlightCap) async throws(StoreError) -> Date? {
        try await read { sql in
            let waiting = try await Self.rateLimitedUntil(sql, now: now)
            let excluded = cap.full + waiting.map(\.subscriptionID)
            let head = try await sql.one(
                """
                SELECT d.next_attempt_at FROM deliveries d
                WHERE d.state = 'pending' AND d.lease_owner IS NULL
                  AND NOT EXISTS (
                      SELECT 1 FROM deliveries p
                      WHERE p.subscription_id = d.subscription_id AND p.ordering_key = d.ordering_key
                        AND p.state IN ('pending', 'held') AND p.id < d.id)
                  AND d.subscription_id <> ALL(\(excluded))
                ORDER BY d.next_attempt_at LIMIT 1
                """,
                as: Double.self
            )
            let lease = try await sql.one(
                "SELECT MIN(lease_expires_at) FROM deliveries WHERE state = 'pending' AND lease_owner IS NOT NULL", as: Double.self
            )
            let ready = waiting.map(\.readyAt.unixSeconds).min()
            return [head, lease, ready].compactMap { $0 }.min().map(Date.init(unixSeconds:))
        }
    }

    // MARK: - Fan-out

    /// The one way rows enter the outbox, as in SQLite: `INSERT INTO deliveries … SELECT` over pairs of
    /// event `e` and subscription `s`, pending while the subscription is enabled and held while not,
    /// due now, ordered behind earlier open deliveries of the same video. Callers write
    /// `\(unescaped: enqueue) <now>, <now>, <now> FROM … WHERE … RETURNING 1`.
    static let enqueue = """
        INSERT INTO deliveries (event_seq, subscription_id, tenant, ordering_key, state, next_attempt_at, created_at, updated_at)
        SELECT e.seq, s.id, s.tenant, COALESCE(e.video_id, 'subscription ' || e.subject, ''), CASE WHEN s.enabled THEN 'pending' ELSE 'held' END,
        """

    /// Whether subscription `s` of the event's tenant takes event `e` (its video and type filters;
    /// a ping is addressed to one subscription, so no video filter stops it). An operational event
    /// (with a `subject`) goes only to subscriptions that list its type, never to its subject.
    static let subscriptionTakesEvent = """
        ((e.subject IS NULL AND (s.video_id IS NULL OR s.video_id = e.video_id OR e.type = 'ping')
          AND (s.event_types IS NULL OR e.type = ANY(s.event_types)))
         OR (e.subject IS NOT NULL AND e.subject <> s.id AND e.type = ANY(s.event_types)))
        """

    /// New events to every subscription of their tenant that takes them, in one statement; rows are
    /// numbered event by event, so each stream's deliveries stand in their events' order.
    static func fanOut(_ sql: SQL, sequences: [Int64], now: Date) async throws -> Int {
        guard !sequences.isEmpty else { return 0 }
        let at = now.unixSeconds
        return try await sql.run(
            """
            \(unescaped: enqueue) \(at), \(at), \(at)
            FROM events e JOIN subscriptions s ON s.tenant = e.tenant
            WHERE e.seq = ANY(\(sequences)) AND \(unescaped: subscriptionTakesEvent)
            ORDER BY e.seq, s.id
            RETURNING 1
            """
        )
    }
}
