import CurlHTTP
import Foundation
import Logging
import Simulator
import TalkingPhoto
import TestSupport
import Testing

/// The upstream client against the real simulator over real curl, one fault knob at a time.
@Suite("TalkingPhotoClient against the simulator")
struct UpstreamClientTests {
    static let token = "test-token-\(UUID().uuidString)"

    /// Simulator and client share one manual wall clock, so dates the simulator writes (Retry-After
    /// as an HTTP date) are read against exactly the same time.
    struct Harness: TestResource {
        let simulator: RunningSimulator
        let transport: CurlTransport
        let client: TalkingPhotoClient

        static func with<T>(timeout: Duration = .seconds(30), _ body: (Harness) async throws -> T) async throws -> T {
            var logger = Logger(label: "test.simulator")
            logger.logLevel = .critical
            let clock = ManualClock(start: Date(timeIntervalSince1970: 1_800_000_000))
            let simulator = try await UpstreamSimulator.start(
                SimulatorConfiguration(port: 0, token: token, renderTime: .zero, seed: 7),
                now: clock.read,
                logger: logger
            )
            let transport = try CurlTransport()
            let client = TalkingPhotoClient(
                configuration: .init(baseURL: simulator.baseURL, token: UpstreamToken(token), timeout: timeout),
                transport: transport,
                now: clock.read
            )
            return try await withResource(Harness(simulator: simulator, transport: transport, client: client), body)
        }

        func faults(_ change: (inout FaultSettings) -> Void) {
            var faults = FaultSettings.none
            change(&faults)
            simulator.control.setFaults(faults)
        }

        func stop() async {
            transport.shutdown()
            await simulator.stop()
        }
    }

    @Test("generate, get and list decode the seed's envelopes")
    func happyPath() async throws {
        try await Harness.with { harness in
            let submitted = try await harness.client.generate(audioURL: "https://a.example/v.mp3", imageURL: "https://a.example/f.jpg")
            #expect(submitted.status == .pending)
            #expect(submitted.id.count == 32)
            let video = try await harness.client.video(id: submitted.id)
            #expect(video.id == submitted.id)
            #expect(video.status == .finished)
            #expect(video.videoURL?.hasSuffix("\(submitted.id).mp4") == true)
            let list = try await harness.client.listVideos()
            #expect(list.videos.map(\.id) == [submitted.id])
            #expect(list.unreadableItems == 0)
            #expect(harness.simulator.control.callCounts() == SimulatorCallCounts(generate: 1, get: 1, list: 1))
        }
    }

    @Test("an unknown status survives decoding as a value")
    func unknownStatusSurvives() async throws {
        try await Harness.with { harness in
            let id = harness.simulator.control.createVideos(count: 1, pinnedStatus: "awaiting_moderation")[0]
            let video = try await harness.client.video(id: id)
            #expect(video.status == VideoStatus("awaiting_moderation"))
            #expect(!video.status.isKnown && !video.status.isTerminal)

            harness.faults { $0.unknownStatusRatio = 1; $0.unknownStatus = "queued_for_review" }
            let list = try await harness.client.listVideos()
            #expect(list.videos.map(\.status) == [VideoStatus("queued_for_review")])
        }
    }

    @Test("a status going backwards is reported as observed")
    func backwardsStatus() async throws {
        try await Harness.with { harness in
            let id = harness.simulator.control.createVideos(count: 1, pinnedStatus: "in_progressing")[0]
            harness.faults { $0.backwardsRatio = 1 }
            let reported = try await harness.client.video(id: id)
            #expect(reported.status == .pending)
        }
    }

    @Test("429 with Retry-After in seconds, as a date, and without")
    func rateLimited() async throws {
        try await Harness.with { harness in
            harness.faults { $0.rateLimitRatio = 1; $0.retryAfterSeconds = 7 }
            await #expect(throws: UpstreamError.rateLimited(retryAfter: .seconds(7))) {
                try await harness.client.listVideos()
            }

            harness.faults { $0.rateLimitRatio = 1; $0.retryAfterSeconds = 30; $0.retryAfterHTTPDate = true }
            do {
                _ = try await harness.client.listVideos()
                Issue.record("expected a rate limit")
            } catch {
                guard case .rateLimited(let delay?) = error as? UpstreamError else {
                    Issue.record("unexpected \(error)")
                    return
                }
                // Both sides read the same manual clock: exactly the 30 s the simulator asked for.
                #expect(delay == .seconds(30))
            }

            harness.faults { $0.rateLimitRatio = 1; $0.omitRetryAfter = true }
            await #expect(throws: UpstreamError.rateLimited(retryAfter: nil)) {
                try await harness.client.video(id: "abc")
            }
        }
    }

    @Test("5xx, HTML, truncated JSON and code != 0 each map to their own case")
    func garbageAnswers() async throws {
        try await Harness.with { harness in
            harness.faults { $0.serverErrorRatio = 1; $0.serverErrorStatus = 503 }
            await #expect(throws: UpstreamError.serverError(status: 503, retryAfter: nil)) {
                try await harness.client.listVideos()
            }
            harness.faults { $0.htmlRatio = 1 }
            do {
                _ = try await harness.client.listVideos()
                Issue.record("expected notJSON")
            } catch {
                guard case .notJSON(let type) = error as? UpstreamError else {
                    Issue.record("unexpected \(error)")
                    return
                }
                #expect(type?.contains("text/html") == true)
            }
            harness.faults { $0.truncatedRatio = 1 }
            await #expect(throws: UpstreamError.truncated) { try await harness.client.listVideos() }
            await #expect(throws: UpstreamError.truncated) {
                try await harness.client.generate(audioURL: "https://a.example/v.mp3", imageURL: "https://a.example/f.jpg")
            }
            harness.faults { $0.nonzeroCodeRatio = 1 }
            await #expect(throws: UpstreamError.apiError(code: 50001, message: "internal error, please retry")) {
                try await harness.client.listVideos()
            }
            // Faulted submits created nothing upstream.
            #expect(harness.simulator.control.videoCount == 0)
        }
    }

    /// The timeout under test is 400 ms against a ten-minute hang; the patient client's is generous.
    @Test("a hanging upstream is a timeout; added latency is waited out")
    func hangAndLatency() async throws {
        try await Harness.with(timeout: .milliseconds(400)) { harness in
            harness.faults { $0.hangRatio = 1; $0.hangTime = .seconds(600) }
            await #expect(throws: UpstreamError.unreachable(.timeout)) { try await harness.client.listVideos() }
            harness.faults { $0.latency = .milliseconds(150) }
            let patient = TalkingPhotoClient(
                configuration: .init(baseURL: harness.simulator.baseURL, token: UpstreamToken(Self.token), timeout: .seconds(60)),
                transport: harness.transport
            )
            let started = ContinuousClock.now
            _ = try await patient.listVideos()
            #expect(ContinuousClock.now - started >= .milliseconds(150))
        }
    }

    @Test("4xx carries the upstream's message and body; the token never shows")
    func rejected() async throws {
        try await Harness.with { harness in
            do {
                _ = try await harness.client.generate(audioURL: "https://a.example/v.mp3", imageURL: "https://a.example/noface.jpg")
                Issue.record("expected a rejection")
            } catch {
                guard case .rejected(let status, let code, let message, let body) = error as? UpstreamError else {
                    Issue.record("unexpected \(error)")
                    return
                }
                #expect(status == 400)
                #expect(code != nil && code != 0)
                #expect(message?.contains("160") == true)
                #expect(String(decoding: body, as: UTF8.self).contains("\"data\":null"))
            }
            await #expect(throws: UpstreamError.rejected(status: 404, code: 40401, message: "video not found", body: Data(
                #"{"code":40401,"data":null,"message":"video not found"}"#.utf8))) {
                try await harness.client.video(id: "does-not-exist")
            }

            let wrongToken = TalkingPhotoClient(
                configuration: .init(baseURL: harness.simulator.baseURL, token: UpstreamToken("wrong-secret-token")),
                transport: harness.transport
            )
            do {
                _ = try await wrongToken.listVideos()
                Issue.record("expected 401")
            } catch {
                guard case .rejected(401, _, _, _) = error as? UpstreamError else {
                    Issue.record("unexpected \(error)")
                    return
                }
                #expect(!"\(error)".contains("wrong-secret-token"))
                #expect(!String(reflecting: error).contains("wrong-secret-token"))
            }
            #expect(!"\(wrongToken.configuration)".contains("wrong-secret-token"))
            #expect(!String(reflecting: wrongToken.configuration).contains("wrong-secret-token"))
        }
    }

    @Test("an unreachable upstream is a transport error, not a status")
    func unreachable() async throws {
        let transport = try CurlTransport()
        defer { transport.shutdown() }
        let client = TalkingPhotoClient(
            configuration: .init(baseURL: "http://127.0.0.1:9", token: UpstreamToken("t")),
            transport: transport
        )
        await #expect(throws: UpstreamError.unreachable(.connectionRefused)) { try await client.listVideos() }
    }
}
