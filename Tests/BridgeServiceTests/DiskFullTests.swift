import CurlHTTP
import Foundation
import Logging
import Simulator
import TestSupport
import Testing

/// The database's file system runs out of space under the real binary: writes answer 503 (not 500),
/// readiness says the database failed, reads keep working, nothing accepted is lost, and everything
/// recovers when space returns. Needs root to mount a small tmpfs (CI runs as root).
@Suite("Disk full", .serialized)
struct DiskFullTests {
    static func sh(_ command: String) async throws -> Int32 {
        try await runCommand("/bin/sh", ["-c", command], timeout: .seconds(30)).status
    }

    @Test("writes answer 503 while the disk is full, readiness fails, and both recover")
    func diskFull() async throws {
        let directory = try TemporaryDirectory("diskfull")
        defer { directory.remove() }
        let mountPoint = directory.path("tiny")
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        guard try await Self.sh("mount -t tmpfs -o size=2m tmpfs '\(mountPoint)'") == 0 else {
            Issue.record("could not mount a tmpfs (the disk-full test needs root, as in CI)")
            return
        }
        defer { _ = try? FileManager.default.removeItem(atPath: mountPoint + "/filler") }
        var quiet = Logger(label: "test")
        quiet.logLevel = .critical
        let simulator = try await UpstreamSimulator.start(SimulatorConfiguration(port: 0, token: "e2e-token"), logger: quiet)
        let bridge = try await BinaryEndToEndTests.launch(
            directory, upstream: simulator.baseURL,
            extra: ["BRIDGE_DATABASE": mountPoint + "/bridge.sqlite", "BRIDGE_LOG_LEVEL": "critical"]
        )
        let transport = try CurlTransport()
        @Sendable func call(_ method: String, _ path: String, _ body: String? = nil) async throws -> (Int, String) {
            let response = try await transport.send(
                OutboundRequest(
                    method: method, url: bridge.baseURL + path,
                    headers: ["Authorization": "Bearer \(BinaryEndToEndTests.key)", "Content-Type": "application/json"],
                    body: body.map { Data($0.utf8) }, timeout: .seconds(20)
                )
            )
            return (response.status, response.bodyText)
        }
        let accepted = try await call("POST", "/v1/subscriptions", #"{"url":"https://hooks.example.com/before"}"#)
        #expect(accepted.0 == 201)

        // Fill the file system; then writes must fail cleanly.
        _ = try await Self.sh("dd if=/dev/zero of='\(mountPoint)/filler' bs=4k 2>/dev/null; sync")
        var statuses: [Int] = []
        for index in 0..<40 {
            let description = String(repeating: "x", count: 400)
            let (status, body) = try await call("POST", "/v1/subscriptions", #"{"url":"https://hooks.example.com/\#(index)","description":"\#(description)"}"#)
            statuses.append(status)
            if status == 503 { #expect(body.contains("\"unavailable\"")) }
        }
        #expect(statuses.contains(503), "no write was refused: \(statuses)")
        #expect(statuses.allSatisfy { $0 == 201 || $0 == 503 }, "\(statuses)")
        let (ready, readyBody) = try await call("GET", "/readyz")
        #expect(ready == 503 && readyBody.contains("\"database\":{\"error\""), "\(readyBody)")
        let (listed, _) = try await call("GET", "/v1/subscriptions")
        #expect(listed == 200, "reads keep working")
        #expect(bridge.process.poll() == nil, "the bridge is still running")

        // Space returns: writes and readiness recover; what was accepted is still there.
        try FileManager.default.removeItem(atPath: mountPoint + "/filler")
        let recovered = await eventually(within: .seconds(10)) {
            (try? await call("POST", "/v1/subscriptions", #"{"url":"https://hooks.example.com/after"}"#).0) == 201
        }
        #expect(recovered)
        #expect(try await call("GET", "/readyz").0 == 200)
        let (_, list) = try await call("GET", "/v1/subscriptions?limit=500")
        #expect(list.contains("hooks.example.com/before") && list.contains("hooks.example.com/after"))
        let created = statuses.filter { $0 == 201 }.count
        #expect(list.components(separatedBy: "\"id\":").count - 1 == created + 2, "every 201 is still there")

        await bridge.process.kill9()
        transport.shutdown()
        await simulator.stop()
        _ = try await Self.sh("umount '\(mountPoint)'")
    }
}
