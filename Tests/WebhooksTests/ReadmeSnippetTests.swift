import Foundation
import TestSupport
import Testing
import Webhooks

/// The README's Python verification snippet, run as written (secret filled in) on a message signed by
/// the bridge's signer: it must accept it and read the event.
@Suite("README verification snippet")
struct ReadmeSnippetTests {
    @Test("the Python snippet verifies a bridge-signed callback with the official library")
    func pythonSnippet() async throws {
        guard let python = try readmeCodeBlock(after: "## Verifying callbacks", language: "python") else {
            Issue.record("README has no Python snippet under Verifying callbacks")
            return
        }
        let secret = WebhookSecret.generate()
        let body = #"{"type":"video.finished","timestamp":"2026-11-24T20:00:00.123Z","data":{"video_id":"v1","status":"finished","previous_status":"in_progressing","video_url":"https://cdn.example.com/v1.mp4"}}"#
        let timestamp = Int64(Date().timeIntervalSince1970)
        let signature = WebhookSigner.header(id: "evt_1", timestamp: timestamp, body: Data(body.utf8), secrets: [secret])
        let snippet = python.replacingOccurrences(of: "whsec_...", with: secret.text)
        let script = snippet + """

            event = handle(\(pythonBytes(body)), {"webhook-id": "evt_1", "webhook-timestamp": "\(timestamp)", "webhook-signature": "\(signature)"})
            assert event["data"]["video_id"] == "v1"
            try:
                handle(\(pythonBytes(body + " ")), {"webhook-id": "evt_1", "webhook-timestamp": "\(timestamp)", "webhook-signature": "\(signature)"})
                print("TAMPERED ACCEPTED")
            except Exception:
                print("TAMPERED REJECTED")
            """
        let (status, output) = try await runCommand("/usr/bin/env", ["python3", "-c", script])
        #expect(status == 0, "\(output)")
        #expect(output.contains("v1 https://cdn.example.com/v1.mp4"), "\(output)")
        #expect(output.contains("TAMPERED REJECTED"), "\(output)")
    }

    private func pythonBytes(_ text: String) -> String {
        "bytes.fromhex('" + Data(text.utf8).map { String(format: "%02x", $0) }.joined() + "')"
    }
}
