import BridgeCore
import BridgeStore
import Foundation
import SQLiteStore
import Synchronization
import TestSupport
import Testing

/// SIGTERM while 600 deliveries are being sent to a slow receiver: the binary stops claiming, lets
/// in-flight attempts finish within the grace time and exits 0; a restart delivers the rest, every
/// event to every subscription, duplicates only under the same webhook-id.
///
/// Shown by counts, not by racing a clock: while the receiver is slow, draining everything would
/// take a minute, yet after the signal at most the attempts already in flight arrive.
enum SigtermScenario {
    static func run() async throws -> FaultFigures {
        try await withScope { scope in
            let directory = try TemporaryDirectory("fault-sigterm")
            defer { directory.remove() }
            let slow = Atomic<Bool>(true)
            let receiver = scope.adopt(try await WebhookReceiver.start { _, _ in slow.load(ordering: .relaxed) ? .delayThen(.seconds(3), 200) : .status(200) })
            let databasePath = directory.path("bridge.sqlite")
            var expected: ExpectedPairs = [:]
            do {
                let seed = try SQLiteBridgeStore(path: databasePath)
                for index in 0..<2 {
                    try await seed.createSubscription(
                        NewSubscription(tenant: "acme", url: receiver.url("s\(index)"), secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), now: Date()
                    )
                }
                for index in 0..<300 {
                    let report = try await seed.track(
                        tenant: "acme", videoID: "v\(index)", source: .watch,
                        initial: Observation(videoID: "v\(index)", status: "finished"), now: Date(), nextPollAt: Date().addingTimeInterval(86_400)
                    )
                    for sub in 0..<2 { expected.merge(pairs(of: report.report.events, to: "s\(sub)")) { $1 } }
                }
            }
            let environment = [
                "BRIDGE_DATABASE": databasePath, "SURREAL_BASE_URL": "http://127.0.0.1:9", "SURREAL_API_TOKEN": "unused",
                "BRIDGE_API_KEYS": "acme:\(BinaryEndToEndTests.key)", "BRIDGE_ALLOW_PRIVATE_DESTINATIONS": "true",
                "BRIDGE_DELIVERY_CONCURRENCY": "32", "BRIDGE_DELIVERY_TIMEOUT": "30s", "BRIDGE_LISTEN": "127.0.0.1:0", "BRIDGE_LOG_LEVEL": "error",
            ]
            let binary = try bridgeBinaryPath()
            let first = try ChildProcess(executable: binary, arguments: ["serve"], environment: environment, outputPath: directory.path("1.log"))
            #expect(await eventually(within: .seconds(60)) { receiver.received.count >= 32 })
            let signalled = ContinuousClock.now
            let arrivedBefore = receiver.received.count
            first.signal(SIGTERM)
            let status = await first.waitForExit(within: .seconds(120))
            let stoppedIn = ContinuousClock.now - signalled
            #expect(status.map { ChildProcess.exitedNormally($0) } == true, "exit status \(String(describing: status))\n\(first.output)")
            if status == nil { await first.kill9() }
            let arrivedAfter = receiver.received.count - arrivedBefore
            #expect(arrivedAfter <= 32, "after SIGTERM only attempts already in flight may arrive: \(arrivedAfter)")
            let reader = try SQLiteBridgeStore(path: databasePath)
            let leftover = (try await reader.counts().deliveries[.succeeded]) ?? 0
            #expect(leftover < 600, "the shutdown came while work was left: \(leftover) already done")
            slow.store(false, ordering: .relaxed)

            let second = try ChildProcess(executable: binary, arguments: ["serve"], environment: environment, outputPath: directory.path("2.log"))
            let done = await eventually(within: .seconds(60)) { ((try? await reader.counts().deliveries[.succeeded]) ?? 0) == 600 }
            let counts = String(describing: try? await reader.counts().deliveries)
            #expect(done, "\(counts)\n\(second.output)")
            await second.kill9()
            let check = ArrivalCheck(received: receiver.received, expected: expected, order: [:])
            #expect(check.missing.isEmpty && check.unexpected.isEmpty, "\(check.missing.prefix(3)) \(check.unexpected.prefix(3))")
            return FaultFigures(
                scenario: "SIGTERM during 600 slow deliveries, then restart", faultsInjected: 1, expected: expected.count,
                delivered: check.delivered, duplicates: check.duplicates, falseEvents: check.unexpected.count, serverErrors: 0,
                note: "exit 0 after \(stoppedIn.formatted(.units(allowed: [.milliseconds], width: .narrow))); \(leftover) sent before it"
            )
        }
    }
}
