import Foundation
import TestSupport
import Testing
import Webhooks

@Suite("Standard Webhooks signing")
struct SigningTests {
    /// The example from the Standard Webhooks specification.
    @Test("the spec's published test vector")
    func specVector() throws {
        let secret = try #require(WebhookSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"))
        let signature = WebhookSigner.signature(
            id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
            timestamp: 1_614_265_330,
            body: Data(#"{"test": 2432232314}"#.utf8),
            secret: secret
        )
        #expect(signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
    }

    @Test("generated secrets are whsec_ + base64 of 24-64 CSPRNG bytes, all different")
    func secrets() throws {
        let secrets = (0..<200).map { _ in WebhookSecret.generate() }
        #expect(Set(secrets.map(\.text)).count == 200)
        for secret in secrets {
            #expect(secret.text.hasPrefix("whsec_"))
            #expect(secret.key.count == 32)
            #expect(WebhookSecret(secret.text)?.key == secret.key)
        }
        #expect(WebhookSecret("whsec_dG9vc2hvcnQ=") == nil)  // 8 bytes: too short
        #expect(WebhookSecret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") == nil)
        #expect("\(secrets[0])" == "whsec_<redacted>")
    }

    @Test("during rotation both signatures are sent and each verifies on its own")
    func rotation() throws {
        let old = WebhookSecret.generate()
        let new = WebhookSecret.generate()
        let body = Data(#"{"type":"ping"}"#.utf8)
        let now = Int64(Date().timeIntervalSince1970)
        let header = WebhookSigner.header(id: "evt_1", timestamp: now, body: body, secrets: [new, old])
        #expect(header.split(separator: " ").count == 2)
        #expect(WebhookSigner.verify(id: "evt_1", timestamp: now, body: body, header: header, secrets: [old]))
        #expect(WebhookSigner.verify(id: "evt_1", timestamp: now, body: body, header: header, secrets: [new]))
        #expect(!WebhookSigner.verify(id: "evt_1", timestamp: now, body: body, header: header, secrets: [WebhookSecret.generate()]))
        #expect(!WebhookSigner.verify(id: "evt_2", timestamp: now, body: body, header: header, secrets: [new]))
        #expect(!WebhookSigner.verify(id: "evt_1", timestamp: now - 3600, body: body, header: header, secrets: [new]))
    }

    @Test("the official Python library verifies our signatures, both during rotation")
    func officialLibraryVerifies() async throws {
        let old = WebhookSecret.generate()
        let new = WebhookSecret.generate()
        let now = Int64(Date().timeIntervalSince1970)
        var messages: [[String: String]] = []
        for (index, body) in [#"{"type":"video.finished","data":{"video_id":"v\"1"}}"#, #"{"type":"ping"}"#, #"{"text":"ünïcödé ✓"}"#].enumerated() {
            let header = WebhookSigner.header(id: "evt_\(index)", timestamp: now, body: Data(body.utf8), secrets: [new, old])
            for secret in [old, new] {
                messages.append(["secret": secret.text, "id": "evt_\(index)", "timestamp": "\(now)", "signature": header, "body": body])
            }
            // A tampered body must fail with the library too, or the check proves nothing.
            messages.append(["secret": new.text, "id": "evt_\(index)", "timestamp": "\(now)", "signature": header, "body": body + "\n"])
        }
        let results = try await verifyWithOfficialLibrary(messages)
        #expect(results == [true, true, false, true, true, false, true, true, false])
    }

    @Test("retry schedule: first delay, jitter within ±20 %, exhaustion")
    func schedule() {
        let schedule = RetrySchedule([.zero, .seconds(5), .seconds(300)])
        #expect(schedule.delay(afterFailedAttempts: 0, random: 0.9) == .zero)
        #expect(schedule.delay(afterFailedAttempts: 1, random: 0) == .seconds(4))
        #expect(schedule.delay(afterFailedAttempts: 1, random: 0.5) == .seconds(5))
        #expect(schedule.delay(afterFailedAttempts: 2, random: 0.999)! < .seconds(360))
        #expect(schedule.delay(afterFailedAttempts: 3, random: 0.5) == nil)
        #expect(schedule.maxAttempts == 3)
    }
}
