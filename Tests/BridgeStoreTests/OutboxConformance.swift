import BridgeCore
import BridgeStore
import Foundation
import Testing

/// The outbox as the dispatcher uses it: claims and leases, per-video order, per-subscription caps,
/// attempt outcomes and auto-disable, against every engine.
@Suite("Store conformance: the outbox")
struct OutboxConformance {
    @Test("a claim carries what sending needs and leases the row: nobody else gets it until the lease ends", arguments: StoreEngine.all)
    func claimsAndLeases(engine: StoreEngine) async throws {
        try await withStore(engine) { fixture in
            let subscription = try await fixture.subscribe(secret: "whsec_one")
            try await fixture.watch("v1", "pending")
            let claimed = try await fixture.claimAll(now: at(1), owner: "a", lease: .seconds(60))
            let delivery = try #require(claimed.first)
            #expect(claimed.count == 1)
            #expect(delivery.subscriptionID == subscription.id && delivery.tenant == "acme" && delivery.videoID == "v1")
            #expect(delivery.eventType == .pending && delivery.url == subscription.url && delivery.attemptNumber == 1)
            #expect(delivery.secrets == ["whsec_one"] && delivery.claimID == "a")
            #expect(delivery.payload.contains(#""video_id":"v1""#))
            #expect(try await fixture.claimAll(now: at(30), owner: "b").isEmpty, "leased to a")
            // a's process died: the lease runs out and b takes the row, still its first attempt.
            let reclaimed = try await fixture.claimAll(now: at(61), owner: "b")
            #expect(reclaimed.map(\.id) == [delivery.id] && reclaimed.first?.attemptNumber == 1 && reclaimed.first?.claimID == "b")
            // a comes back and reports; it no longer holds the lease, so nothing changes.
            try await fixture.complete(claimed, .failed, status: 500, owner: "a", now: at(62))
            let (record, _) = try #require(try await fixture.store.delivery(tenant: "acme", id: delivery.id))
            #expect(record.state == .pending && record.attempts == 0)
            try await fixture.complete(reclaimed, .succeeded, owner: "b", now: at(63))
            let (done, attempts) = try #require(try await fixture.store.delivery(tenant: "acme", id: delivery.id))
            #expect(done.state == .succeeded && done.attempts == 1)
            #expect(attempts.count == 2, "both reports are attempts that happened: \(attempts)")
            #expect(try await fixture.store.delivery(tenant: "globex", id: delivery.id) == nil)
        }
    }

    @Test("one subscription's deliveries of one video go one at a time, in order; other videos do not wait", arguments: StoreEngine.all)
    func perVideoOrder(engine: StoreEngine) async throws {
        try await withStore(engine) { fixture in
            _ = try await fixture.subscribe()
            try await fixture.watch("v1", "pending")
            try await fixture.store.recordObservations([observe("v1", "in_progressing")], now: at(0.5), nextPollAt: at(1))
            try await fixture.watch("v2", "pending")
            let first = try await fixture.claimAll(now: at(1))
            #expect(first.map(\.videoID) == ["v1", "v2"] && first.first?.eventType == .pending)
            // v1's head fails and waits for a retry: its second event waits behind it.
            let v1Head = first.filter { $0.videoID == "v1" }
            try await fixture.complete(v1Head, .retry(at: at(30)), status: 500, now: at(2))
            try await fixture.complete(first.filter { $0.videoID == "v2" }, .succeeded, now: at(2))
            #expect(try await fixture.claimAll(now: at(10)).isEmpty)
            #expect(try await fixture.store.nextDeliveryWakeTime(now: at(10), cap: .unlimited) == at(30))
            let retried = try await fixture.claimAll(now: at(30))
            #expect(retried.map(\.id) == v1Head.map(\.id) && retried.first?.attemptNumber == 2)
            try await fixture.complete(retried, .succeeded, now: at(31))
            let next = try await fixture.claimAll(now: at(31))
            #expect(next.map(\.eventType) == [.inProgressing])
        }
    }

    @Test("one turn records outcomes, then claims: a finished head's successor and the slots it freed go out in the same turn", arguments: StoreEngine.all)
    func recordThenClaimInOneTurn(engine: StoreEngine) async throws {
        try await withStore(engine) { fixture in
            let subscription = try await fixture.subscribe()
            try await fixture.watch("v1", "pending")
            try await fixture.store.recordObservations([observe("v1", "in_progressing")], now: at(0.5), nextPollAt: at(1))
            try await fixture.watch("v2", "pending")
            try await fixture.watch("v3", "pending")
            let cap = InFlightCap(limit: 2)
            let first = try await fixture.store.claimDueDeliveries(now: at(1), limit: 10, leaseOwner: "turn-1", leaseDuration: .seconds(60), cap: cap)
            #expect(first.map(\.videoID) == ["v1", "v2"], "two heads, then the subscription is at its cap")
            // v1's head succeeded, v2's failed: both slots are free once recorded, and v1's second event
            // is its stream's head from then on, so the same turn claims it (and v3, the other slot).
            let outcomes = [
                attempt(first[0], .succeeded, owner: "turn-1", now: at(2)),
                attempt(first[1], .retry(at: at(30)), status: 500, owner: "turn-1", now: at(2)),
            ]
            let request = ClaimRequest(limit: 10, leaseOwner: "turn-2", leaseDuration: .seconds(60), cap: cap)
            let turn = try await fixture.store.completeAttempts(outcomes, thenClaim: request, now: at(2), disableAfter: .seconds(86_400))
            #expect(turn.disabled.isEmpty)
            #expect(turn.claimed.compactMap(\.videoID).sorted() == ["v1", "v3"])
            #expect(turn.claimed.first { $0.videoID == "v1" }?.eventType == .inProgressing)
            #expect(turn.claimed.allSatisfy { $0.claimID == "turn-2" && $0.subscriptionID == subscription.id })
            let (head, headAttempts) = try #require(try await fixture.store.delivery(tenant: "acme", id: first[0].id))
            #expect(head.state == .succeeded && headAttempts.count == 1)
            let (retrying, _) = try #require(try await fixture.store.delivery(tenant: "acme", id: first[1].id))
            #expect(retrying.state == .pending && retrying.attempts == 1)
            // Recording alone, and claiming alone, are the two halves of the same call.
            let nothing = try await fixture.store.completeAttempts([], thenClaim: .none, now: at(3), disableAfter: .seconds(86_400))
            #expect(nothing.claimed.isEmpty && nothing.disabled.isEmpty)
            let recordOnly = try await fixture.store.completeAttempts(
                turn.claimed.map { attempt($0, .succeeded, owner: "turn-2", now: at(3)) }, thenClaim: .none, now: at(3),
                disableAfter: .seconds(86_400)
            )
            #expect(recordOnly.claimed.isEmpty)
            #expect(try await fixture.claimAll(now: at(4)).isEmpty, "v2 waits for its retry; nothing else is open")
            #expect(try await fixture.claimAll(now: at(30)).map(\.id) == [first[1].id])
        }
    }

    @Test("at most the cap per subscription is in flight, counting what is already sending; a capped receiver starves no one", arguments: StoreEngine.all)
    func perSubscriptionCap(engine: StoreEngine) async throws {
        try await withStore(engine) { fixture in
            let busy = try await fixture.subscribe(videoID: nil, url: "https://busy.example.com/in")
            for index in 0..<30 { try await fixture.watch("v\(index)", "pending") }
            let quiet = try await fixture.subscribe(url: "https://quiet.example.com/in", now: at(1))
            try await fixture.store.recordObservations([observe("v0", "finished")], now: at(1), nextPollAt: at(2))
            func claim(_ inFlight: [String: Int]) async throws -> [ClaimedDelivery] {
                try await fixture.store.claimDueDeliveries(
                    now: at(2), limit: 4, leaseOwner: "test", leaseDuration: .seconds(60), cap: InFlightCap(limit: 2, counts: inFlight)
                )
            }
            // One of busy's is already sending elsewhere: one more slot. busy's backlog of 30 comes first
            // in the outbox, yet quiet's one delivery is claimed in the same call.
            let first = try await claim([busy.id: 1])
            #expect(first.filter { $0.subscriptionID == busy.id }.count == 1)
            #expect(first.filter { $0.subscriptionID == quiet.id }.map(\.eventType) == [.finished])
            // Those finished: nothing in flight, so busy gets its full cap, no row twice.
            try await fixture.complete(first, .succeeded, now: at(2))
            let second = try await claim([:])
            #expect(second.count == 2 && second.allSatisfy { $0.subscriptionID == busy.id })
            #expect(Set(first.map(\.id)).isDisjoint(with: second.map(\.id)))
        }
    }

    @Test("the cap counts live leases in the store too: another process's attempts in flight take slots", arguments: StoreEngine.all)
    func capCountsLeasesOfOtherProcesses(engine: StoreEngine) async throws {
        try await withStore(engine) { fixture in
            let subscription = try await fixture.subscribe(videoID: nil)
            for index in 0..<6 { try await fixture.watch("v\(index)", "pending") }
            func claim(_ owner: String, now: Date = at(2)) async throws -> [ClaimedDelivery] {
                try await fixture.store.claimDueDeliveries(
                    now: now, limit: 4, leaseOwner: owner, leaseDuration: .seconds(60), cap: InFlightCap(limit: 3)
                )
            }
            // Replica A takes the whole cap; replica B, knowing of nothing in flight itself, gets none
            // while A's leases live, and A's slots once they have run out.
            let first = try await claim("replica-a")
            #expect(first.count == 3 && first.allSatisfy { $0.subscriptionID == subscription.id })
            let second = try await claim("replica-b")
            #expect(second.isEmpty)
            let afterLeases = try await claim("replica-b", now: at(63))
            #expect(afterLeases.count == 3)
        }
    }

    @Test("a receiver's 410 disables its subscription and holds its open deliveries", arguments: StoreEngine.all)
    func goneDisables(engine: StoreEngine) async throws {
        try await withStore(engine) { fixture in
            let subscription = try await fixture.subscribe()
            try await fixture.watch("a", "pending")
            try await fixture.watch("b", "pending")
            let claimed = try await fixture.claimAll(limit: 1)
            let disabled = try await fixture.complete(claimed, .gone, status: 410)
            #expect(disabled == [DisabledSubscription(id: subscription.id, tenant: "acme", reason: .gone)])
            let now = try #require(try await fixture.store.subscription(tenant: "acme", id: subscription.id))
            #expect(!now.isEnabled && now.disabledReason == DisableReason.gone.text)
            #expect(try await fixture.store.deliveries(tenant: "acme").map(\.state) == [.held, .held])
            #expect(try await fixture.claimAll(now: at(100)).isEmpty)
            #expect(try await fixture.store.disabledSubscriptionCount() == 1)
        }
    }

    @Test("failing without a success for the disable window disables with the time it started; a success resets it", arguments: StoreEngine.all)
    func failingDisables(engine: StoreEngine) async throws {
        try await withStore(engine) { fixture in
            let subscription = try await fixture.subscribe()
            let window = Duration.seconds(3600)
            for index in 0..<5 { try await fixture.watch("v\(index)", "pending") }
            var claimed = try await fixture.claimAll(now: at(1), limit: 1)
            #expect(try await fixture.complete(claimed, .retry(at: at(5000)), status: 500, now: at(10), disableAfter: window).isEmpty)
            #expect(try await fixture.store.subscription(tenant: "acme", id: subscription.id)?.failingSince == at(10))
            claimed = try await fixture.claimAll(now: at(20), limit: 1)
            #expect(try await fixture.complete(claimed, .succeeded, now: at(20), disableAfter: window).isEmpty)
            #expect(try await fixture.store.subscription(tenant: "acme", id: subscription.id)?.failingSince == nil, "a success clears it")
            // The failing clock restarted at the success: 3,000 s later is inside the window again.
            claimed = try await fixture.claimAll(now: at(30), limit: 1)
            #expect(try await fixture.complete(claimed, .failed, status: 500, now: at(30), disableAfter: window).isEmpty)
            claimed = try await fixture.claimAll(now: at(3000), limit: 1)
            #expect(try await fixture.complete(claimed, .failed, status: 500, now: at(3000), disableAfter: window).isEmpty)
            claimed = try await fixture.claimAll(now: at(3630), limit: 1)
            let disabled = try await fixture.complete(claimed, .retry(at: at(9000)), status: 500, now: at(3630), disableAfter: window)
            #expect(disabled == [DisabledSubscription(id: subscription.id, tenant: "acme", reason: .failing(since: at(30)))])
            #expect(try await fixture.store.subscription(tenant: "acme", id: subscription.id)?.isEnabled == false)
            #expect(try await fixture.store.deliveries(tenant: "acme", state: .pending).isEmpty, "the retried one is held too")
        }
    }

    @Test("a throttled receiver's other deliveries wait as long; a released claim is due again with no attempt recorded", arguments: StoreEngine.all)
    func throttledAndReleased(engine: StoreEngine) async throws {
        try await withStore(engine) { fixture in
            _ = try await fixture.subscribe()
            for index in 0..<3 { try await fixture.watch("v\(index)", "pending") }
            let first = try await fixture.claimAll(now: at(1), limit: 1)
            try await fixture.complete(first, .throttled(until: at(120)), status: 429, now: at(2))
            #expect(try await fixture.claimAll(now: at(60)).isEmpty, "the receiver asked for two minutes")
            #expect(try await fixture.store.nextDeliveryWakeTime(now: at(60), cap: .unlimited) == at(120))
            let later = try await fixture.claimAll(now: at(120))
            #expect(later.count == 3)
            try await fixture.complete(later, .released, status: nil, now: at(121))
            let again = try await fixture.claimAll(now: at(121))
            #expect(Set(again.map(\.id)) == Set(later.map(\.id)))
            #expect(again.first { $0.id == first[0].id }?.attemptNumber == 2, "throttled counts as an attempt, released does not")
            let (_, attempts) = try #require(try await fixture.store.delivery(tenant: "acme", id: first[0].id))
            #expect(attempts.map(\.statusCode) == [429])
        }
    }

    @Test("attempts are recorded with status, error kind, latency and response excerpt", arguments: StoreEngine.all)
    func attemptRecords(engine: StoreEngine) async throws {
        try await withStore(engine) { fixture in
            _ = try await fixture.subscribe()
            try await fixture.watch("v1", "pending")
            let claimed = try await fixture.claimAll()
            let failure = attempt(claimed[0], .retry(at: at(10)), status: 503, now: at(2), snippet: "upstream down")
            var timeout = attempt(claimed[0], .failed, status: nil, now: at(11))
            timeout.errorKind = "timeout"
            try await fixture.store.completeAttempts([failure], now: at(2), disableAfter: .seconds(86_400))
            let retried = try await fixture.claimAll(now: at(10))
            timeout.deliveryID = retried[0].id
            try await fixture.store.completeAttempts([timeout], now: at(11), disableAfter: .seconds(86_400))
            let (record, attempts) = try #require(try await fixture.store.delivery(tenant: "acme", id: claimed[0].id))
            #expect(record.state == .failed && record.attempts == 2)
            #expect(attempts.map(\.statusCode) == [503, nil])
            #expect(attempts.map(\.errorKind) == [nil, "timeout"])
            #expect(attempts.map(\.responseSnippet) == ["upstream down", nil])
            #expect(attempts.map(\.attemptedAt) == [at(2), at(11)])
            #expect(attempts.map(\.latencyMilliseconds) == [250, 250], "the recorded figure, not a measurement")
            #expect(try await fixture.store.deliveries(tenant: "acme", state: .failed).count == 1)
        }
    }

    @Test("a batch of outcomes is recorded whole, whatever the receivers answered: quotes, non-ASCII, a NUL byte", arguments: StoreEngine.all)
    func attemptBatchWithAwkwardBodies(engine: StoreEngine) async throws {
        try await withStore(engine) { fixture in
            _ = try await fixture.subscribe()
            let bodies = [#"say "hi" \ {"json":[1]}"#, "naïve — ✓ 日本", "before\u{0}after", ""]
            for index in bodies.indices { try await fixture.watch("v\(index)", "pending") }
            let claimed = try await fixture.claimAll()
            try #require(claimed.count == bodies.count)
            try await fixture.store.completeAttempts(
                zip(claimed, bodies).map { claim, body in
                    var outcome = attempt(claim, .succeeded, status: 200)
                    outcome.responseSnippet = body  // as the dispatcher sets it
                    return outcome
                },
                now: at(2), disableAfter: .seconds(86_400)
            )
            for (delivery, body) in zip(claimed, bodies) {
                let (record, attempts) = try #require(try await fixture.store.delivery(tenant: "acme", id: delivery.id))
                #expect(record.state == .succeeded && record.attempts == 1)
                let stored = try #require(attempts.first?.responseSnippet)
                // No engine stores U+0000 (PostgreSQL refuses it, SQLite's C strings end there): it reads as U+FFFD.
                #expect(stored == body.replacingOccurrences(of: "\u{0}", with: "\u{FFFD}"), "\(stored.debugDescription)")
            }
        }
    }

    @Test("the next wake-up is the earliest due head or lease end, leaving out capped subscriptions", arguments: StoreEngine.all)
    func nextWakeTime(engine: StoreEngine) async throws {
        try await withStore(engine) { fixture in
            let subscription = try await fixture.subscribe()
            #expect(try await fixture.store.nextDeliveryWakeTime(now: t0, cap: .unlimited) == nil)
            try await fixture.watch("v1", "pending", now: at(5))
            #expect(try await fixture.store.nextDeliveryWakeTime(now: at(5), cap: .unlimited) == at(5))
            #expect(try await fixture.store.nextDeliveryWakeTime(now: at(5), cap: InFlightCap(limit: 1, counts: [subscription.id: 1])) == nil)
            _ = try await fixture.claimAll(now: at(6), lease: .seconds(60))
            #expect(try await fixture.store.nextDeliveryWakeTime(now: at(6), cap: .unlimited) == at(66), "the lease's end")
        }
    }

    @Test("a rate limit spaces a subscription's claims, shared by every store on the database, in order; others are unaffected", arguments: StoreEngine.all)
    func rateLimit(engine: StoreEngine) async throws {
        try await withStore(engine) { fixture in
            let store = fixture.store
            let limited = try await store.createSubscription(
                NewSubscription(tenant: "acme", url: "https://hooks.example.com/slow", secret: "whsec_test", rateLimit: 5), now: t0
            )
            #expect(limited.rateLimit == 5)
            let free = try await fixture.subscribe()
            for index in 0..<6 { try await fixture.watch("v\(index)", "pending", now: at(1)) }
            func limitedOf(_ claimed: [ClaimedDelivery]) -> [String] { claimed.filter { $0.subscriptionID == limited.id }.compactMap(\.videoID) }

            let first = try await fixture.claimAll(now: at(1))
            #expect(first.filter { $0.subscriptionID == free.id }.count == 6, "the other subscription is not held back")
            #expect(limitedOf(first) == ["v0"], "5/s lets one leave at a time")
            #expect(try await fixture.claimAll(now: at(1.1)).isEmpty)
            let replica = try await fixture.reopen()
            let elsewhere = try await replica.claimDueDeliveries(
                now: at(1.1), limit: 10, leaseOwner: "replica", leaseDuration: .seconds(60), cap: .unlimited
            )
            #expect(elsewhere.isEmpty, "another store on the database shares the limit")
            // Nothing else is due: the loop wakes when the limit lets the next one go, not before.
            let wake = try #require(try await store.nextDeliveryWakeTime(now: at(1.1), cap: .unlimited))
            #expect(Int((wake.timeIntervalSince(t0) * 1000).rounded()) == 1200, "in ms after t0, on the store's own times")

            #expect(limitedOf(try await fixture.claimAll(now: at(1.21))) == ["v1"])
            #expect(limitedOf(try await replica.claimDueDeliveries(
                now: at(3), limit: 10, leaseOwner: "replica", leaseDuration: .seconds(60), cap: .unlimited
            )) == ["v2"], "a second's idleness does not save up more than the burst")
            #expect(try await fixture.claimAll(now: at(3.1)).isEmpty)

            let lifted = try await store.updateSubscription(tenant: "acme", id: limited.id, change: .init(rateLimit: 0), now: at(3.1))
            #expect(lifted?.rateLimit == nil)
            #expect(limitedOf(try await fixture.claimAll(now: at(3.1))) == ["v3", "v4", "v5"], "0 lifts the limit; order kept")
            #expect(try await store.subscription(tenant: "acme", id: free.id)?.rateLimit == nil)
        }
    }

    @Test("operational events: recovered, failed, disabled (410 and by request) go in the same turn to the key's subscriptions listing them, never to their subject", arguments: StoreEngine.all)
    func operationalEvents(engine: StoreEngine) async throws {
        try await withStore(engine) { fixture in
            let store = fixture.store
            let operational: [EventType] = [.subscriptionDisabled, .deliveryFailed, .subscriptionRecovered]
            // The subject lists the operational types too: it must still never hear about itself.
            let subject = try await fixture.subscribe(events: [.pending] + operational)
            let watcher = try await fixture.subscribe(events: operational)
            let everything = try await fixture.subscribe()
            let otherKey = try await fixture.subscribe(tenant: "globex", events: operational)
            func operationalDeliveries() async throws -> [(to: String, type: String, data: [String: Any])] {
                var found: [(to: String, type: String, data: [String: Any])] = []
                for delivery in try await store.deliveries(tenant: "acme") where delivery.eventType.isOperational {
                    let event = try #require(try await store.event(tenant: "acme", id: delivery.eventID))
                    let json = try JSONSerialization.jsonObject(with: Data(event.payload.utf8)) as? [String: Any]
                    found.append((delivery.subscriptionID, event.type.rawValue, json?["data"] as? [String: Any] ?? [:]))
                }
                return found
            }

            try await fixture.watch("v1", "pending", now: at(1))
            let first = try await fixture.claimAll(now: at(1))
            #expect(Set(first.map(\.subscriptionID)) == [subject.id, everything.id], "no video event for an operational-only filter")
            // The subject fails once (now failing), then succeeds: recovered, with when it started failing.
            let toSubject = try #require(first.first { $0.subscriptionID == subject.id })
            try await fixture.complete([toSubject], .retry(at: at(3)), status: 500, now: at(2))
            #expect(try await operationalDeliveries().isEmpty, "a retry is not an operational event")
            let retried = try await fixture.claimAll(now: at(3))
            let turn = try await store.completeAttempts(
                [attempt(try #require(retried.first), .succeeded, now: at(4))],
                thenClaim: ClaimRequest(limit: 10, leaseOwner: "test", leaseDuration: .seconds(60), cap: .unlimited),
                now: at(4), disableAfter: .seconds(86_400)
            )
            #expect(turn.events.map(\.type) == [.subscriptionRecovered])
            #expect(turn.claimed.map(\.subscriptionID) == [watcher.id], "claimed in the same turn, by the watcher only")
            let recovered = try #require(turn.claimed.first)
            let recoveredData = try #require(
                try JSONSerialization.jsonObject(with: Data(recovered.payload.utf8)) as? [String: Any]
            )["data"] as? [String: Any]
            #expect(recoveredData?["subscription_id"] as? String == subject.id && recoveredData?["failing_since"] as? String == Timestamp.iso8601(at(2)))
            try await fixture.complete(turn.claimed, .succeeded, now: at(5))

            // Retries run out: delivery.failed with the last attempt.
            try await fixture.watch("v2", "pending", now: at(6))
            let second = try await fixture.claimAll(now: at(6)).filter { $0.subscriptionID == subject.id }
            try await store.completeAttempts(
                second.map { attempt($0, .failed, status: 503, now: at(7), snippet: "down for \"maintenance\"") }, now: at(7),
                disableAfter: .seconds(86_400)
            )
            let failed = try await operationalDeliveries().filter { $0.type == "delivery.failed" }
            #expect(failed.map(\.to) == [watcher.id])
            let failedData = try #require(failed.first?.data)
            #expect(failedData["subscription_id"] as? String == subject.id && failedData["delivery_id"] as? String == "dlv_\(second.first?.id ?? 0)")
            #expect(failedData["event_type"] as? String == "video.pending" && failedData["video_id"] as? String == "v2" && failedData["attempts"] as? Int == 1)
            let last = failedData["last_attempt"] as? [String: Any]
            #expect(last?["status_code"] as? Int == 503 && last?["error"] as? String == "http_503" && last?["response"] as? String == "down for \"maintenance\"")

            // A 410 disables it: subscription.disabled, reason gone.
            try await fixture.deliverEverything(now: at(8))
            try await fixture.watch("v3", "pending", now: at(9))
            let third = try await fixture.claimAll(now: at(9)).filter { $0.subscriptionID == subject.id }
            let disabled = try await fixture.complete(third, .gone, status: 410, now: at(10))
            #expect(disabled.map(\.id) == [subject.id])
            let gone = try await operationalDeliveries().filter { $0.type == "subscription.disabled" }
            #expect(gone.map(\.to) == [watcher.id] && gone.first?.data["reason"] as? String == "gone")

            // Disabled by request: the watcher itself now, so the subject (listing the type) hears of it.
            #expect(try await store.setSubscriptionEnabled(tenant: "acme", id: watcher.id, enabled: false, now: at(11)))
            let byRequest = try await operationalDeliveries().filter { $0.type == "subscription.disabled" && $0.data["reason"] as? String == "request" }
            #expect(byRequest.map(\.to) == [subject.id], "to the subject (held: it is disabled), not the watcher")

            let all = try await operationalDeliveries()
            #expect(!all.contains { $0.to == everything.id }, "a subscription without a filter gets no operational events")
            #expect(!all.contains { $0.to == $0.data["subscription_id"] as? String }, "never to the subscription it is about")
            #expect(try await store.deliveries(tenant: "globex").isEmpty, "never to another key")
            #expect(try await store.events(tenant: "acme", after: nil, videoID: nil, type: .deliveryFailed, limit: 10).count == 1)

            // A replay never sends a subscription an event about itself.
            #expect(try await store.setSubscriptionEnabled(tenant: "acme", id: subject.id, enabled: true, now: at(12)))
            try await fixture.deliverEverything(now: at(12))
            _ = try await store.replay(tenant: "acme", subscriptionID: subject.id, since: t0, now: at(13))
            let replayed = try await operationalDeliveries().filter { $0.to == subject.id }
            #expect(!replayed.isEmpty && replayed.allSatisfy { $0.data["subscription_id"] as? String == watcher.id })
            _ = otherKey
        }
    }

    @Test("a failed delivery of an operational event does not announce itself again", arguments: StoreEngine.all)
    func noCascade(engine: StoreEngine) async throws {
        try await withStore(engine) { fixture in
            let store = fixture.store
            let subject = try await fixture.subscribe()
            let watcher = try await fixture.subscribe(events: [.deliveryFailed, .subscriptionDisabled])
            let watcher2 = try await fixture.subscribe(events: [.deliveryFailed])
            try await fixture.watch("v1", "pending", now: at(1))
            try await fixture.complete(try await fixture.claimAll(now: at(1)), .failed, status: 500, now: at(2))
            let notices = try await fixture.claimAll(now: at(3))
            #expect(Set(notices.map(\.subscriptionID)) == [watcher.id, watcher2.id] && notices.allSatisfy { $0.eventType == .deliveryFailed })
            try await fixture.complete(notices, .failed, status: 500, now: at(4))
            #expect(try await store.events(tenant: "acme", after: nil, videoID: nil, type: .deliveryFailed, limit: 10).count == 1)
            #expect(try await fixture.claimAll(now: at(5)).isEmpty)
        }
    }

    @Test("queue depth counts pending and held deliveries and the oldest pending one's age", arguments: StoreEngine.all)
    func queueDepth(engine: StoreEngine) async throws {
        try await withStore(engine) { fixture in
            let subscription = try await fixture.subscribe()
            try await fixture.watch("a", "pending", now: at(10))
            try await fixture.watch("b", "pending", now: at(20))
            var depth = try await fixture.store.queueDepth(now: at(30))
            #expect(depth.pending == 2 && depth.held == 0 && depth.oldestPendingAge == 20)
            try await fixture.store.setSubscriptionEnabled(tenant: "acme", id: subscription.id, enabled: false, now: at(30))
            depth = try await fixture.store.queueDepth(now: at(30))
            #expect(depth.pending == 0 && depth.held == 2 && depth.oldestPendingAge == 0)
        }
    }
}
