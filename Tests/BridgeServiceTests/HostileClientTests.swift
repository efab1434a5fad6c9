import Foundation
import TestSupport
import Testing

/// The real binary against clients that try to hold its connections (scripts/hostile-clients.py,
/// loopback only). Each timeout under test is short and the hostile client would go on for two
/// minutes: only the bridge closing the connection ends a scenario early.
@Suite("Hostile clients against the real binary", .serialized)
struct HostileClientTests {
    static func hostile(_ baseURL: String, _ arguments: [String]) async throws -> [String: Any] {
        let port = try #require(baseURL.split(separator: ":").last.map(String.init))
        let script = repositoryRoot().appendingPathComponent("scripts/hostile-clients.py").path
        let (status, output) = try await runCommand("/usr/bin/env", ["python3", script, port] + arguments, timeout: .seconds(300))
        #expect(status == 0, "\(output)")
        let line = output.split(separator: "\n").last.map(String.init) ?? ""
        return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(output)")
    }

    @Test("a dribbled request head is cut at the header timeout, an idle keep-alive at the idle timeout; a long poll is not")
    func slowAndIdleConnectionsAreClosed() async throws {
        let directory = try TemporaryDirectory("hostile")
        defer { directory.remove() }
        let bridge = try await BinaryEndToEndTests.launch(
            directory, upstream: "http://127.0.0.1:9", extra: ["BRIDGE_HEADER_TIMEOUT": "1s", "BRIDGE_IDLE_TIMEOUT": "2s"]
        )
        defer { bridge.process.signal(SIGKILL) }
        let slow = try await Self.hostile(bridge.baseURL, ["slowloris"])
        #expect(slow["closed"] as? Bool == true, "\(slow)")
        let idle = try await Self.hostile(bridge.baseURL, ["idle"])
        #expect(idle["answered"] as? Bool == true && idle["closed"] as? Bool == true, "\(idle)")
        // A request being handled has no deadline: a 3 s long poll outlives both timeouts.
        let (status, output) = try await runCommand(
            "/usr/bin/curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "60",
                "-H", "Authorization: Bearer \(BinaryEndToEndTests.key)", bridge.baseURL + "/v1/events?after=0&wait=3"]
        )
        #expect(status == 0 && output == "200", "\(output)")
    }

    @Test("at most BRIDGE_MAX_CONNECTIONS are served at once; the next is served once one closes")
    func connectionCap() async throws {
        let directory = try TemporaryDirectory("hostile-cap")
        defer { directory.remove() }
        let bridge = try await BinaryEndToEndTests.launch(
            directory, upstream: "http://127.0.0.1:9", extra: ["BRIDGE_HEADER_TIMEOUT": "120s", "BRIDGE_MAX_CONNECTIONS": "20"]
        )
        defer { bridge.process.signal(SIGKILL) }
        let cap = try await Self.hostile(bridge.baseURL, ["cap", "20"])
        #expect(cap["answered_while_held"] as? Bool == false, "\(cap)")
        #expect(cap["answered_after_release"] as? Bool == true, "\(cap)")
    }
}
