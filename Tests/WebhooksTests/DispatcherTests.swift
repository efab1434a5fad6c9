import BridgeCore
import BridgeStore
import CurlHTTP
import Foundation
import Logging
import MetricsTestKit
import TestSupport
import Testing
import Webhooks

/// The dispatcher against a real loopback receiver, through real curl, on a real SQLite file.
final class DeliveryHarness: Sendable {
    let directory: TemporaryDirectory
    let store: SQLiteBridgeStore
    let receiver: WebhookReceiver
    let transport: CurlTransport
    let task: Task<Void, any Error>
    let metrics = TestMetrics()

    init(
        schedule: [Duration] = [.zero, .milliseconds(50), .milliseconds(50), .milliseconds(50)],
        timeout: Duration = .seconds(3),
        concurrency: Int = 16,
        allowPrivate: Bool = true,
        disableAfter: Duration = .seconds(3600),
        script: @escaping WebhookReceiver.Script = { _, _ in .status(200) }
    ) async throws {
        directory = try TemporaryDirectory("dispatch")
        store = try SQLiteBridgeStore(path: directory.path("bridge.sqlite"))
        receiver = try await WebhookReceiver.start(script: script)
        transport = try CurlTransport()
        var logger = Logger(label: "test.dispatcher")
        logger.logLevel = .critical
        let dispatcher = Dispatcher(
            store: store,
            transport: transport,
            configuration: DispatcherConfiguration(
                concurrency: concurrency, timeout: timeout, retrySchedule: RetrySchedule(schedule),
                disableAfter: disableAfter, destinations: DestinationPolicy(allowPrivate: allowPrivate)
            ),
            logger: logger,
            metrics: DeliveryMetrics(factory: metrics)
        )
        task = Task { try await dispatcher.run() }
    }

    @discardableResult
    func subscribe(
        _ path: String,
        tenant: String = "acme",
        events: [EventType]? = nil,
        videoID: String? = nil,
        secret: WebhookSecret = .generate()
    ) throws -> (subscription: Subscription, secret: WebhookSecret) {
        let subscription = try store.createSubscription(
            NewSubscription(tenant: tenant, url: receiver.url(path), eventTypes: events, videoID: videoID, secret: secret.text),
            now: Date()
        )
        return (subscription, secret)
    }

    /// Records `statuses` for a video as successive observations (the first one starts tracking).
    func observe(_ videoID: String, _ statuses: [String], tenant: String = "acme") throws {
        for (index, status) in statuses.enumerated() {
            let observation = Observation(videoID: videoID, status: status, videoURL: status == "finished" ? "https://cdn/\(videoID).mp4" : nil)
            if index == 0 {
                try store.track(tenant: tenant, videoID: videoID, source: .watch, initial: observation, now: Date(), nextPollAt: Date())
            } else {
                try store.recordObservations([observation], now: Date(), nextPollAt: Date())
            }
        }
    }

    func deliveries(_ state: DeliveryState? = nil, tenant: String = "acme") throws -> [DeliveryRecord] {
        try store.deliveries(tenant: tenant, state: state, limit: 100_000)
    }

    func waitFor(_ limit: Duration = .seconds(15), _ condition: @Sendable () throws -> Bool) async -> Bool {
        await eventually(within: limit) { (try? condition()) ?? false }
    }

    func stop() async {
        task.cancel()
        _ = await task.result
        transport.shutdown()
        await receiver.stop()
        directory.remove()
    }
}

@Suite("Dispatcher")
struct DispatcherTests {
    @Test("a callback arrives signed; the official library and our verifier accept it")
    func success() async throws {
        let harness = try await DeliveryHarness()
        let (subscription, secret) = try harness.subscribe("hook")
        try harness.observe("v1", ["finished"])
        #expect(await harness.waitFor { try harness.deliveries(.succeeded).count == 1 })
        let received = try #require(harness.receiver.received.first)
        let event = try #require(try harness.store.events(tenant: "acme").first)
        #expect(received.id == event.id)
        #expect(received.body == Data(event.payload.utf8))
        #expect(received.type == "video.finished" && received.videoID == "v1")
        let timestamp = try #require(Int64(received.timestamp))
        #expect(abs(Double(timestamp) - Date().timeIntervalSince1970) < 30)
        #expect(WebhookSigner.verify(id: received.id, timestamp: timestamp, body: received.body, header: received.signature, secrets: [secret]))
        let verified = try await verifyWithOfficialLibrary([[
            "secret": secret.text, "id": received.id, "timestamp": received.timestamp, "signature": received.signature,
            "body": String(decoding: received.body, as: UTF8.self),
        ]])
        #expect(verified == [true])
        let (delivery, attempts) = try #require(try harness.store.delivery(tenant: "acme", id: harness.deliveries()[0].id))
        #expect(delivery.subscriptionID == subscription.id && delivery.state == .succeeded && delivery.attempts == 1)
        #expect(attempts.map(\.statusCode) == [200])
        await harness.stop()
    }

    @Test("retries after failures keep the webhook-id; each attempt's error is recorded")
    func retriesKeepID() async throws {
        let harness = try await DeliveryHarness { _, index in index < 2 ? .status(500, body: "oops") : .status(204) }
        try harness.subscribe("flaky")
        try harness.observe("v1", ["pending"])
        #expect(await harness.waitFor { try harness.deliveries(.succeeded).count == 1 })
        let received = harness.receiver.received
        #expect(received.count == 3)
        #expect(Set(received.map(\.id)).count == 1)
        let (_, attempts) = try #require(try harness.store.delivery(tenant: "acme", id: harness.deliveries()[0].id))
        #expect(attempts.map(\.statusCode) == [500, 500, 204])
        #expect(try harness.metrics.expectCounter("bridge_delivery_attempts_total", [("outcome", "retry")]).totalValue == 2)
        #expect(try harness.metrics.expectCounter("bridge_delivery_attempts_total", [("outcome", "succeeded")]).totalValue == 1)
        #expect(attempts.first?.responseSnippet == "oops")
        await harness.stop()
    }

    @Test("an exhausted schedule marks the delivery failed")
    func exhausted() async throws {
        let harness = try await DeliveryHarness(schedule: [.zero, .milliseconds(20), .milliseconds(20)]) { _, _ in .status(503) }
        try harness.subscribe("down")
        try harness.observe("v1", ["pending"])
        #expect(await harness.waitFor { try harness.deliveries(.failed).count == 1 })
        try await Task.sleep(for: .milliseconds(200))
        #expect(harness.receiver.received.count == 3)
        #expect(try harness.deliveries()[0].attempts == 3)
        await harness.stop()
    }

    @Test("410 disables the subscription; later events are held; re-enabling delivers them in order")
    func goneHoldsThenReleasesInOrder() async throws {
        let harness = try await DeliveryHarness { _, index in index == 0 ? .status(410) : .status(200) }
        let (subscription, _) = try harness.subscribe("gone")
        try harness.observe("v1", ["pending"])
        #expect(await harness.waitFor { try harness.store.subscription(tenant: "acme", id: subscription.id)?.isEnabled == false })
        #expect(try harness.store.subscription(tenant: "acme", id: subscription.id)?.disabledReason?.contains("410") == true)
        #expect(await harness.waitFor { try harness.metrics.expectCounter("bridge_subscriptions_disabled_total", [("reason", "gone")]).totalValue == 1 })
        try harness.observe("v2", ["pending", "in_progressing", "finished"])
        try harness.store.recordObservations([Observation(videoID: "v1", status: "finished")], now: Date(), nextPollAt: Date())
        try await Task.sleep(for: .milliseconds(200))
        #expect(harness.receiver.received.count == 1)
        #expect(try harness.deliveries(.held).count == 5)

        try harness.store.setSubscriptionEnabled(tenant: "acme", id: subscription.id, enabled: true, now: Date())
        #expect(await harness.waitFor { try harness.deliveries(.succeeded).count == 5 })
        let delivered = harness.receiver.received.dropFirst()
        #expect(delivered.filter { $0.videoID == "v2" }.map(\.status) == ["pending", "in_progressing", "finished"])
        #expect(delivered.filter { $0.videoID == "v1" }.map(\.status) == ["pending", "finished"])
        await harness.stop()
    }

    @Test("replay re-sends every matching event since a time with the same webhook-id")
    func replay() async throws {
        let harness = try await DeliveryHarness()
        let (subscription, _) = try harness.subscribe("replay", events: [.finished, .pending])
        try harness.observe("v1", ["pending", "in_progressing", "finished"])
        #expect(await harness.waitFor { try harness.deliveries(.succeeded).count == 2 })
        let firstIDs = harness.receiver.received.map(\.id)
        let queued = try harness.store.replay(tenant: "acme", subscriptionID: subscription.id, since: Date().addingTimeInterval(-60), now: Date())
        #expect(queued == 2)
        #expect(try harness.store.replay(tenant: "globex", subscriptionID: subscription.id, since: .distantPast, now: Date()) == nil)
        #expect(await harness.waitFor { try harness.deliveries(.succeeded).count == 4 })
        #expect(harness.receiver.received.map(\.id) == firstIDs + firstIDs)
        let none = try harness.store.replay(tenant: "acme", subscriptionID: subscription.id, since: Date().addingTimeInterval(60), now: Date())
        #expect(none == 0)
        await harness.stop()
    }

    @Test("429 with Retry-After pushes the next attempt out")
    func retryAfter() async throws {
        let harness = try await DeliveryHarness { _, index in
            index == 0 ? .status(429, headers: ["Retry-After": "1"]) : .status(200)
        }
        try harness.subscribe("busy")
        try harness.observe("v1", ["pending"])
        #expect(await harness.waitFor { try harness.deliveries(.succeeded).count == 1 })
        let received = harness.receiver.received
        #expect(received.count == 2)
        let gap = received[1].arrivedAt.timeIntervalSince(received[0].arrivedAt)
        #expect(gap >= 0.95, "second attempt after \(gap) s; the schedule alone says 50 ms")
        await harness.stop()
    }

    @Test("a 3xx is a failure and is not followed")
    func redirectNotFollowed() async throws {
        let harness = try await DeliveryHarness(schedule: [.zero]) { path, _ in
            path == "moved" ? .status(302, headers: ["Location": "/elsewhere"]) : .status(200)
        }
        try harness.subscribe("moved")
        try harness.observe("v1", ["pending"])
        #expect(await harness.waitFor { try harness.deliveries(.failed).count == 1 })
        #expect(harness.receiver.received(path: "elsewhere").isEmpty)
        let (_, attempts) = try #require(try harness.store.delivery(tenant: "acme", id: harness.deliveries()[0].id))
        #expect(attempts.map(\.statusCode) == [302])
        await harness.stop()
    }

    @Test("a receiver that does not answer in time is a timeout, recorded as such")
    func timeout() async throws {
        let harness = try await DeliveryHarness(schedule: [.zero], timeout: .milliseconds(300)) { _, _ in .hang(.seconds(10)) }
        try harness.subscribe("slow")
        try harness.observe("v1", ["pending"])
        #expect(await harness.waitFor { try harness.deliveries(.failed).count == 1 })
        let (_, attempts) = try #require(try harness.store.delivery(tenant: "acme", id: harness.deliveries()[0].id))
        #expect(attempts.map(\.errorKind) == ["timeout"])
        #expect(attempts[0].latencyMilliseconds >= 250 && attempts[0].latencyMilliseconds < 5000)
        await harness.stop()
    }

    @Test("a hanging receiver does not delay another subscription")
    func noHeadOfLineBlocking() async throws {
        let harness = try await DeliveryHarness(timeout: .seconds(20), concurrency: 16) { path, _ in
            path == "hang" ? .hang(.seconds(20)) : .status(200)
        }
        try harness.subscribe("hang")
        try harness.subscribe("fast")
        for index in 0..<40 { try harness.observe("v\(index)", ["pending"]) }
        let started = Date()
        #expect(await harness.waitFor(.seconds(10)) { harness.receiver.received(path: "fast").count == 40 })
        #expect(Date().timeIntervalSince(started) < 5)
        #expect(harness.receiver.received(path: "hang").count <= 8, "the hanging receiver holds at most its own slots")
        await harness.stop()
    }

    /// Under load the dispatcher records outcomes and refills slots in batches; a batch must not wait
    /// for hanging attempts to time out when they hold nearly every slot.
    @Test("hanging attempts holding all but one slot: the free slot is used and outcomes recorded within a short bound")
    func nearSaturationByHangingAttempts() async throws {
        // 9 slots, refill batch 2, 8 per subscription: the hanging subscription holds 8 of 9.
        let harness = try await DeliveryHarness(timeout: .seconds(5), concurrency: 9) { path, _ in
            path == "hang" ? .hang(.seconds(8)) : .status(200)
        }
        try harness.subscribe("hang", events: [.pending])
        for index in 0..<8 { try harness.observe("a\(index)", ["pending"]) }
        #expect(await harness.waitFor(.seconds(10)) { harness.receiver.received(path: "hang").count == 8 })
        try harness.subscribe("fast", videoID: "vb")
        let started = Date()
        try harness.observe("vb", ["pending", "in_progressing"])
        // Two callbacks in order, the second only after the first is recorded: both well before the
        // hanging attempts time out (5 s).
        #expect(await harness.waitFor(.seconds(10)) { harness.receiver.received(path: "fast").count == 2 })
        let fast = harness.receiver.received(path: "fast")
        #expect(fast.map(\.status) == ["pending", "in_progressing"])
        let elapsed = (fast.last?.arrivedAt ?? .distantFuture).timeIntervalSince(started)
        #expect(elapsed < 2.5, "the healthy subscription waited \(elapsed) s for the hanging attempts")
        await harness.stop()
    }

    @Test("per subscription and video, callbacks arrive in observation order under concurrency and failures")
    func orderingUnderConcurrency() async throws {
        let harness = try await DeliveryHarness(
            schedule: Array(repeating: .milliseconds(20), count: 12),
            concurrency: 32
        ) { _, index in
            // One request in five fails; answers take a varying time.
            index % 5 == 1 ? .status(500) : .delayThen(.milliseconds(Int64(index % 7)), 200)
        }
        try harness.subscribe("a")
        try harness.subscribe("b")
        let videos = (0..<30).map { "video-\($0)" }
        for video in videos { try harness.observe(video, ["pending"]) }
        for status in ["in_progressing", "finished"] {
            try harness.store.recordObservations(videos.map { Observation(videoID: $0, status: status) }, now: Date(), nextPollAt: Date())
        }
        #expect(
            await harness.waitFor(.seconds(30)) { try harness.deliveries(.succeeded).count == 30 * 3 * 2 },
            "\(String(describing: try? harness.store.counts().deliveries))"
        )
        for path in ["a", "b"] {
            let received = harness.receiver.received(path: path)
            var firstDelivery: [String: [String]] = [:]
            var seen = Set<String>()
            for message in received where seen.insert(message.id).inserted {
                firstDelivery[message.videoID ?? "", default: []].append(message.status ?? "")
            }
            for video in videos {
                #expect(firstDelivery[video] == ["pending", "in_progressing", "finished"], "\(path)/\(video)")
            }
        }
        await harness.stop()
    }

    @Test("with private destinations disallowed, a loopback receiver is never connected to")
    func ssrfBlockedAtConnect() async throws {
        let harness = try await DeliveryHarness(schedule: [.zero], allowPrivate: false)
        try harness.subscribe("internal")
        try harness.observe("v1", ["pending"])
        #expect(await harness.waitFor { try harness.deliveries(.failed).count == 1 })
        #expect(harness.receiver.received.isEmpty)
        let (_, attempts) = try #require(try harness.store.delivery(tenant: "acme", id: harness.deliveries()[0].id))
        #expect(attempts.map(\.errorKind) == ["blocked_destination"])
        await harness.stop()
    }

    @Test("ping and secret rotation: both signatures during the grace period, each verifies")
    func pingAndRotation() async throws {
        let harness = try await DeliveryHarness()
        let (subscription, old) = try harness.subscribe("rotate")
        #expect(try harness.store.ping(tenant: "acme", subscriptionID: subscription.id, now: Date()) != nil)
        #expect(await harness.waitFor { harness.receiver.received.count == 1 })
        let new = WebhookSecret.generate()
        #expect(try harness.store.rotateSecret(tenant: "acme", subscriptionID: subscription.id, newSecret: new.text, grace: .seconds(3600), now: Date()))
        _ = try harness.store.ping(tenant: "acme", subscriptionID: subscription.id, now: Date())
        #expect(await harness.waitFor { harness.receiver.received.count == 2 })
        let (first, second) = (harness.receiver.received[0], harness.receiver.received[1])
        #expect(first.type == "ping" && first.signature.split(separator: " ").count == 1)
        #expect(second.signature.split(separator: " ").count == 2)
        let body = String(decoding: second.body, as: UTF8.self)
        let verified = try await verifyWithOfficialLibrary([old, new].map {
            ["secret": $0.text, "id": second.id, "timestamp": second.timestamp, "signature": second.signature, "body": body]
        } + [[
            "secret": new.text, "id": first.id, "timestamp": first.timestamp, "signature": first.signature,
            "body": String(decoding: first.body, as: UTF8.self),
        ]])
        #expect(verified == [true, true, false])
        // After the grace period only the new secret signs.
        #expect(try harness.store.rotateSecret(tenant: "acme", subscriptionID: subscription.id, newSecret: WebhookSecret.generate().text, grace: .zero, now: Date()))
        await harness.stop()
    }

    @Test("a subscription failing for longer than the limit is disabled and its deliveries held")
    func disabledAfterFailingTooLong() async throws {
        let harness = try await DeliveryHarness(
            schedule: [.zero, .milliseconds(100), .milliseconds(100), .milliseconds(100), .milliseconds(100)],
            disableAfter: .milliseconds(150)
        ) { _, _ in .status(500) }
        let (subscription, _) = try harness.subscribe("dying")
        try harness.observe("v1", ["pending"])
        #expect(await harness.waitFor { try harness.store.subscription(tenant: "acme", id: subscription.id)?.isEnabled == false })
        #expect(try harness.store.subscription(tenant: "acme", id: subscription.id)?.disabledReason?.contains("failing") == true)
        #expect(await harness.waitFor { try harness.metrics.expectCounter("bridge_subscriptions_disabled_total", [("reason", "failing")]).totalValue == 1 })
        #expect(await harness.waitFor { try harness.deliveries(.held).count == 1 })
        await harness.stop()
    }
}
