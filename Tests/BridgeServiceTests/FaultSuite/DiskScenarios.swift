import BridgeCore
import BridgeStore
import CurlHTTP
import Foundation
import Simulator
import SQLiteStore
import TestSupport
import Testing

func shell(_ command: String) async throws -> Int32 {
    try await runCommand("/bin/sh", ["-c", command], timeout: .seconds(30)).status
}

/// Runs `body` with `mountPoint` mounted by `mount`, unmounting it afterwards whatever happens.
func withMount<T>(_ mount: String, at mountPoint: String, _ body: () async throws -> T) async throws -> T {
    guard try await shell(mount) == 0 else {
        throw ScenarioFailure("`\(mount)` failed (this scenario needs root, as in CI)")
    }
    do {
        let result = try await body()
        _ = try await shell("umount '\(mountPoint)'")
        return result
    } catch {
        _ = try? await shell("umount '\(mountPoint)'")
        throw error
    }
}

/// The database's file system runs out of space under the real binary while videos change status:
/// writes answer 503 (not 500), readiness names the database, reads keep working, nothing accepted is
/// lost, and when space returns the changes that happened meanwhile become events and are delivered.
/// Needs root to mount a small tmpfs (CI runs as root).
enum DiskFullScenario {
    static func run() async throws -> FaultFigures {
        let directory = try TemporaryDirectory("fault-diskfull")
        defer { directory.remove() }
        let mountPoint = directory.path("tiny")
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        return try await withMount("mount -t tmpfs -o size=16m tmpfs '\(mountPoint)'", at: mountPoint) {
            try await fillAndRecover(directory: directory, mountPoint: mountPoint)
        }
    }

    static func fillAndRecover(directory: TemporaryDirectory, mountPoint: String) async throws -> FaultFigures {
        try await withScope { scope in try await fillAndRecover(directory: directory, mountPoint: mountPoint, scope: scope) }
    }

    static func fillAndRecover(directory: TemporaryDirectory, mountPoint: String, scope: TestScope) async throws -> FaultFigures {
        let simulator = scope.adopt(try await startFaultSimulator(seed: 84))
        let receiver = scope.adopt(try await WebhookReceiver.start())
        let api = try BridgeAPIClient()
        scope.onExit { api.stop() }
        let bridge = try await BinaryEndToEndTests.launch(
            directory, upstream: simulator.baseURL,
            extra: ["BRIDGE_DATABASE": mountPoint + "/bridge.sqlite", "BRIDGE_LOG_LEVEL": "critical"]
        )
        api.baseURL = bridge.baseURL
        try await api.subscribe(url: receiver.url("hook"))
        let ids = simulator.control.createVideos(count: 20, pinnedStatus: "pending")
        for id in ids { try await api.watch(id) }
        let probe = ReadProbe(api)

        // Fill the file system; then writes must fail cleanly while the upstream keeps changing.
        _ = try await shell("dd if=/dev/zero of='\(mountPoint)/filler' bs=4k 2>/dev/null; sync")
        for id in ids { _ = simulator.control.pin(videoID: id, status: "in_progressing") }
        var statuses: [Int] = []
        for index in 0..<40 {
            let description = String(repeating: "x", count: 400)
            let (status, json) = try await api.call(
                "POST", "/v1/subscriptions", ["url": "https://hooks.example.com/\(index)", "description": description]
            )
            statuses.append(status)
            if status == 503 { #expect((json["error"] as? [String: Any])?["code"] as? String == "unavailable", "\(json)") }
        }
        let refused = statuses.filter { $0 == 503 }.count
        #expect(refused > 0, "no write was refused: \(statuses)")
        #expect(statuses.allSatisfy { $0 == 201 || $0 == 503 }, "\(statuses)")
        let (ready, readyBody) = try await api.call("GET", "/readyz")
        #expect(ready == 503 && (readyBody["checks"] as? [String: Any])?["database"] as? [String: Any] != nil, "\(readyBody)")
        #expect(try await api.call("GET", "/v1/subscriptions").status == 200, "reads keep working")
        try await Task.sleep(for: .milliseconds(500))  // several poll cycles against a full disk
        #expect(bridge.process.poll() == nil, "the bridge is still running")

        // Space returns: writes, readiness and polling recover; what was accepted is still there.
        try FileManager.default.removeItem(atPath: mountPoint + "/filler")
        let recovered = await eventually(within: .seconds(60)) {
            (try? await api.call("POST", "/v1/subscriptions", ["url": "https://hooks.example.com/after"]).status) == 201
        }
        #expect(recovered)
        #expect(try await api.call("GET", "/readyz").status == 200)
        let (_, list) = try await api.call("GET", "/v1/subscriptions?limit=500")
        let urls = ((list["data"] as? [[String: Any]]) ?? []).compactMap { $0["url"] as? String }
        let created = statuses.filter { $0 == 201 }.count
        #expect(urls.count == created + 2, "every 201 is still there: \(urls.count) of \(created + 2)")

        let reader = try SQLiteBridgeStore(path: mountPoint + "/bridge.sqlite")
        let caughtUp = await eventually(within: .seconds(20)) {
            ((try? await reader.trackedVideos(tenant: "acme", limit: 100)) ?? []).allSatisfy { $0.video.notifiedStatus == "in_progressing" }
        }
        #expect(caughtUp, "changes made while the disk was full were not recorded after it recovered")
        let events = try await reader.events(tenant: "acme", limit: 1000)
        let expected = pairs(of: events, to: "hook")
        _ = await receiver.awaitPairs(expected.keys, within: .seconds(20))
        let probed = await probe.finish()
        await bridge.process.kill9()
        let check = ArrivalCheck(received: receiver.received, expected: expected, order: ["hook": ["pending", "in_progressing"]])
        #expect(events.count == ids.count * 2, "\(events.count) events")
        #expect(check.missing.isEmpty && check.unexpected.isEmpty && check.outOfOrder.isEmpty)
        #expect(probed.serverErrors == 0, "\(probed.samples)")
        return FaultFigures(
            scenario: "disk full (16 MiB tmpfs) while videos change",
            faultsInjected: refused, expected: expected.count, delivered: check.delivered, duplicates: check.duplicates,
            falseEvents: check.unexpected.count, serverErrors: probed.serverErrors + statuses.filter { $0 >= 500 && $0 != 503 }.count,
            note: "\(refused) writes refused with 503, \(created) accepted and kept"
        )
    }
}

/// The database's directory is on a read-only mount: `serve` refuses to start with one line saying
/// which directory and why (exit 1), and the file is left exactly as it was.
enum ReadOnlyScenario {
    static func run() async throws -> FaultFigures {
        let directory = try TemporaryDirectory("fault-readonly")
        defer { directory.remove() }
        let data = directory.path("data")
        let readOnly = directory.path("ro")
        for path in [data, readOnly] { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
        var accepted = 0
        var subscriptionID = ""
        do {
            let seed = try SQLiteBridgeStore(path: data + "/bridge.sqlite")
            subscriptionID = try await seed.createSubscription(
                NewSubscription(tenant: "acme", url: "https://hooks.example.com/a", secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
                now: Date()
            ).id
            let report = try await seed.track(
                tenant: "acme", videoID: "v1", source: .watch, initial: Observation(videoID: "v1", status: "pending"),
                now: Date(), nextPollAt: Date()
            )
            accepted = report.report.events.count + 1
        }
        let before = try Data(contentsOf: URL(fileURLWithPath: data + "/bridge.sqlite"))
        let mount = "mount --bind '\(data)' '\(readOnly)' && mount -o remount,bind,ro '\(readOnly)'"
        let (status, output) = try await withMount(mount, at: readOnly) {
            try await serve(databaseDirectory: readOnly, log: directory.path("serve.log"))
        }
        let after = try Data(contentsOf: URL(fileURLWithPath: data + "/bridge.sqlite"))
        let reopened = try SQLiteBridgeStore(path: data + "/bridge.sqlite")
        let kept = try await reopened.counts().events + (try await reopened.subscription(tenant: "acme", id: subscriptionID) == nil ? 0 : 1)

        #expect(status.map { ChildProcess.exitedNormally($0, code: 1) } == true, "serve on a read-only directory: \(String(describing: status))")
        #expect(output.contains("not writable") && output.contains("Read-only file system"), "\(output)")
        #expect(!output.contains("Fatal error"), "\(output)")
        #expect(before == after, "the database file changed")
        #expect(kept == accepted)
        return FaultFigures(
            scenario: "database directory read-only at start", faultsInjected: 1, expected: accepted, delivered: kept,
            duplicates: 0, falseEvents: 0, serverErrors: 0, note: "exit 1 naming the directory; file byte-identical"
        )
    }

    /// Runs `serve` on the database in `databaseDirectory`; its exit status (nil if it kept running) and output.
    static func serve(databaseDirectory: String, log: String) async throws -> (Int32?, String) {
        let process = try ChildProcess(
            executable: try bridgeBinaryPath(), arguments: ["serve"],
            environment: [
                "BRIDGE_DATABASE": databaseDirectory + "/bridge.sqlite", "SURREAL_BASE_URL": "http://127.0.0.1:9",
                "SURREAL_API_TOKEN": "unused", "BRIDGE_API_KEYS": "acme:\(BinaryEndToEndTests.key)", "BRIDGE_LISTEN": "127.0.0.1:0",
            ],
            outputPath: log
        )
        let status = await process.waitForExit(within: .seconds(20))
        if status == nil { await process.kill9() }
        return (status, process.output)
    }
}
