import BridgeStore
import Foundation
import SQLiteStore
import Synchronization
import TestSupport
import Testing
import Webhooks

/// Receivers that fail, hang past the delivery timeout, drop the connection mid-response, redirect,
/// answer slowly, or answer 410 Gone — each on its own subscription, all at once. Every event must
/// reach every receiver (the 410 one after it is re-enabled), in order per video, with duplicates only
/// under the same webhook-id; redirects must never be followed; a slow or broken receiver must not
/// hold up the others.
enum ReceiverFaultScenario {
    static let videoCount = 30
    static let steps = ["pending", "in_progressing", "finished"]

    /// Misbehaviour decided per request, counted as it happens; the 410 receiver recovers on demand.
    final class Behaviour: Sendable {
        let injected = Mutex<[String: Int]>([:])
        let goneRecovered = Atomic<Bool>(false)

        func reply(path: String, index: Int) -> WebhookReceiver.Reply {
            var generator = SystemRandomNumberGenerator()
            let roll = Double.random(in: 0..<1, using: &generator)
            let reply: WebhookReceiver.Reply
            let fault: String?
            switch path {
            case "fails" where roll < 0.5:
                (reply, fault) = (.status(roll < 0.25 ? 500 : 503), "5xx")
            case "hangs" where roll < 0.3:
                (reply, fault) = (.hang(.seconds(3)), "hang past timeout")
            case "closes" where roll < 0.4:
                (reply, fault) = (.closeMidResponse, "close mid-response")
            case "redirects" where roll < 0.4:
                (reply, fault) = (.status(302, headers: ["Location": "/elsewhere"]), "302")
            case "slow":
                (reply, fault) = (.delayThen(.milliseconds(300), 200), nil)
            case "gone" where !goneRecovered.load(ordering: .relaxed):
                (reply, fault) = (.status(410), "410")
            default:
                (reply, fault) = (.status(204), nil)
            }
            if let fault { injected.withLock { $0[fault, default: 0] += 1 } }
            return reply
        }
    }

    static func run() async throws -> FaultFigures {
        try await withScope { scope in try await run(in: scope) }
    }

    static func run(in scope: TestScope) async throws -> FaultFigures {
        let directory = try TemporaryDirectory("fault-receivers")
        defer { directory.remove() }
        let simulator = scope.adopt(try await startFaultSimulator(seed: 83))
        let behaviour = Behaviour()
        let receiver = scope.adopt(try await WebhookReceiver.start { path, index in behaviour.reply(path: path, index: index) })
        let api = try BridgeAPIClient()
        scope.onExit { api.stop() }
        let bridge = try await BinaryEndToEndTests.launch(
            directory, upstream: simulator.baseURL,
            extra: [
                "BRIDGE_POLL_INTERVAL": "100ms", "BRIDGE_DELIVERY_TIMEOUT": "1s", "BRIDGE_LOG_LEVEL": "error",
                "BRIDGE_RETRY_SCHEDULE": "0s" + String(repeating: ",100ms,200ms,400ms,800ms", count: 6),
            ]
        )
        api.baseURL = bridge.baseURL
        let paths = ["fails", "hangs", "closes", "redirects", "slow", "gone"]
        var subscriptionIDs: [String: String] = [:]
        var secrets: [String: WebhookSecret] = [:]
        for path in paths {
            let (id, secret) = try await api.subscribe(url: receiver.url(path))
            subscriptionIDs[path] = id
            secrets[path] = secret
        }
        let probe = ReadProbe(api)
        let ids = simulator.control.createVideos(count: videoCount, pinnedStatus: "pending")
        for id in ids { try await api.watch(id) }
        let reader = try SQLiteBridgeStore(path: directory.path("bridge.sqlite"))
        @Sendable func allRecorded(_ status: String) async -> Bool {
            await eventually(within: .seconds(20)) {
                ((try? await reader.trackedVideos(tenant: "acme", limit: 1000)) ?? []).allSatisfy { $0.video.notifiedStatus == status }
            }
        }
        for (previous, status) in zip(steps, steps.dropFirst()) {
            // Move every video on once the bridge has recorded its previous status.
            _ = await allRecorded(previous)
            for id in ids {
                _ = simulator.control.pin(videoID: id, status: status, videoURL: status == "finished" ? "https://cdn.example/\(id).mp4" : nil)
            }
        }
        #expect(await allRecorded(steps.last!))

        // The 410 receiver's subscription is disabled at its first answer; everything for it is held.
        let goneID = subscriptionIDs["gone"]!
        let disabled = await eventually(within: .seconds(20)) {
            (try? await reader.subscription(tenant: "acme", id: goneID))?.isEnabled == false
        }
        let goneBeforeRecovery = receiver.received(path: "gone").count
        // The others finish while it stays disabled: a dead receiver holds up nobody.
        let events = try await reader.events(tenant: "acme", limit: 10_000)
        var expected: ExpectedPairs = [:]
        for path in paths { expected.merge(pairs(of: events, to: path)) { $1 } }
        let othersDone = await receiver.awaitPairs(expected.keys.filter { !$0.hasPrefix("gone/") }, within: .seconds(60))
        let goneWhileDisabled = receiver.received(path: "gone").count
        behaviour.goneRecovered.store(true, ordering: .relaxed)
        let (patched, _) = try await api.call("PATCH", "/v1/subscriptions/\(goneID)", ["enabled": true])
        _ = await receiver.awaitPairs(expected.keys, within: .seconds(30))
        let probed = await probe.finish()
        let log = bridge.process.output
        await bridge.process.kill9()
        let received = receiver.received
        let check = ArrivalCheck(received: received, expected: expected, order: Dictionary(uniqueKeysWithValues: paths.map { ($0, steps) }))
        let badSignatures = countBadSignatures(received, secrets: secrets)
        let injected = behaviour.injected.withLock { $0 }

        #expect(events.count == videoCount * steps.count)
        #expect(disabled, "410 did not disable the subscription")
        // Attempts already in flight when the first 410 came back may still land; nothing after.
        #expect(goneBeforeRecovery >= 1 && goneWhileDisabled == goneBeforeRecovery, "a disabled subscription was still sent to: \(goneBeforeRecovery) → \(goneWhileDisabled)")
        #expect(othersDone, "healthy and flaky receivers were held up\n\(tail(log))")
        #expect(patched == 200)
        #expect(check.missing.isEmpty, "\(check.missing.count) never arrived, e.g. \(check.missing.prefix(3))\n\(tail(log))")
        #expect(check.unexpected.isEmpty, "\(check.unexpected.prefix(5))")
        #expect(check.outOfOrder.isEmpty, "\(check.outOfOrder.prefix(5))")
        #expect(receiver.received(path: "elsewhere").isEmpty, "a redirect was followed")
        #expect(badSignatures == 0)
        #expect(probed.serverErrors == 0, "\(probed.samples)")
        let summary = injected.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        return FaultFigures(
            scenario: "receivers: 5xx, hang, close mid-response, 302, slow, 410",
            faultsInjected: injected.values.reduce(0, +), expected: expected.count, delivered: check.delivered,
            duplicates: check.duplicates, falseEvents: check.unexpected.count, serverErrors: probed.serverErrors,
            note: "\(check.outOfOrder.count) out of order; \(badSignatures) bad signatures",
            details: summary
        )
    }
}
