import Foundation
import TestSupport
import Testing

/// Every curl command in the README's "API at a glance" block, run against a live bridge with the
/// placeholders filled in: each must answer 2xx.
@Suite("README curl examples")
struct ReadmeExamplesTests {
    @Test("every curl example of the README works")
    func examples() async throws {
        guard let raw = try readmeCodeBlock(after: "## The API at a glance", language: "sh") else {
            Issue.record("README has no API block")
            return
        }
        // Join continuation lines, drop comments and the variable line (the test sets those).
        let block = raw.replacingOccurrences(of: "\\\n", with: " ")
        let commands = block.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .flatMap { $0.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) } }
            .filter { $0.hasPrefix("curl ") }
        #expect(commands.count >= 12, "\(commands.count) curl commands found")

        try await APIHarness.with { harness in
            let video = harness.simulator.control.createVideos(count: 1, pinnedStatus: "in_progressing")[0]
            _ = try await harness.call("POST", "/v1/videos/\(video)/watch")
            let subscription = try #require(try await harness.call("POST", "/v1/subscriptions", json: ["url": harness.receiver.url("r")]).json["id"] as? String)
            _ = try await harness.call("POST", "/v1/subscriptions/\(subscription)/test")
            #expect(await eventually { ((try? await harness.store.deliveries(tenant: "acme").first?.id) ?? nil) != nil })
            let delivery = try #require(try await harness.store.deliveries(tenant: "acme").first?.id)

            for command in commands {
                let filled = command
                    .replacingOccurrences(of: "VIDEO_ID", with: video)
                    .replacingOccurrences(of: "SUB_ID", with: subscription)
                    .replacingOccurrences(of: "dlv_12", with: "dlv_\(delivery)")
                let script = "KEY='\(APIHarness.keys["acme"] ?? "")'; BRIDGE='\(harness.baseURL)'; " + filled
                    + " -o /dev/null -w '%{http_code}'"
                let (status, output) = try await runCommand("/bin/sh", ["-c", script], timeout: .seconds(60))
                let code = Int(output.trimmingCharacters(in: .whitespacesAndNewlines).suffix(3)) ?? 0
                #expect(status == 0 && (200..<300).contains(code), "\(command)\n→ HTTP \(code) (\(output))")
            }
        }
    }
}
