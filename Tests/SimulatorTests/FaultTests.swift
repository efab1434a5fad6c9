import Foundation
import Simulator
import TestSupport
import Testing

@Suite struct FaultTests {
    static let generateBody = #"{"audio_url":"https://example.com/a.mp3","image_url":"https://example.com/face.jpg"}"#

    /// Calls all three upstream endpoints (generate with a valid body).
    static func callAll(_ simulator: RunningSimulator) async throws -> [HTTPResult] {
        let base = simulator.baseURL
        return [
            try await http("POST", base + "/v1/v2v/video.generate", body: generateBody),
            try await http("GET", base + "/v1/v2v/video.get?video_id=0123456789abcdef0123456789abcdef"),
            try await http("GET", base + "/v1/v2v/video.list"),
        ]
    }

    @Test func rateLimitWithRetryAfterSeconds() async throws {
        try await withSimulator(SimulatorConfiguration(faults: FaultSettings(rateLimitRatio: 1, retryAfterSeconds: 7))) { simulator in
            for answer in try await Self.callAll(simulator) {
                #expect(answer.status == 429)
                #expect(answer.headers["retry-after"] == "7")
                #expect(answer.text == #"{"code":42900,"data":null,"message":"rate limited"}"#)
            }
            #expect(simulator.control.videoCount == 0)
        }
    }

    @Test func rateLimitWithRetryAfterHTTPDate() async throws {
        let clock = ManualClock(start: Date(timeIntervalSince1970: 784_111_777))  // Sun, 06 Nov 1994 08:49:37 GMT
        let faults = FaultSettings(rateLimitRatio: 1, retryAfterSeconds: 30, retryAfterHTTPDate: true)
        try await withSimulator(SimulatorConfiguration(faults: faults), clock: clock) { simulator in
            let answer = try await http("GET", simulator.baseURL + "/v1/v2v/video.list")
            #expect(answer.status == 429)
            #expect(answer.headers["retry-after"] == "Sun, 06 Nov 1994 08:50:07 GMT")
        }
    }

    @Test func rateLimitWithoutRetryAfter() async throws {
        try await withSimulator(SimulatorConfiguration(faults: FaultSettings(rateLimitRatio: 1, omitRetryAfter: true))) { simulator in
            let answer = try await http("GET", simulator.baseURL + "/v1/v2v/video.list")
            #expect(answer.status == 429)
            #expect(answer.headers["retry-after"] == nil)
        }
    }

    @Test func serverErrors() async throws {
        try await withSimulator(SimulatorConfiguration(faults: FaultSettings(serverErrorRatio: 1))) { simulator in
            for answer in try await Self.callAll(simulator) {
                #expect(answer.status == 500)
                #expect(answer.text == #"{"code":50000,"data":null,"message":"internal server error"}"#)
            }
            try await putFaults(simulator, #"{"server_error_ratio":1,"server_error_status":503}"#)
            for answer in try await Self.callAll(simulator) {
                #expect(answer.status == 503)
                #expect(answer.headers["content-type"]?.hasPrefix("text/plain") == true)
                #expect(answer.text == "503 Service Unavailable\n")
            }
            #expect(simulator.control.videoCount == 0)
        }
    }

    @Test func htmlInsteadOfJSON() async throws {
        try await withSimulator(SimulatorConfiguration(faults: FaultSettings(htmlRatio: 1))) { simulator in
            for answer in try await Self.callAll(simulator) {
                #expect(answer.status == 200)
                #expect(answer.headers["content-type"]?.hasPrefix("text/html") == true)
                #expect(answer.text.contains("<html>"))
                #expect(answer.json == nil)
            }
            #expect(simulator.control.videoCount == 0)
        }
    }

    @Test func truncatedJSON() async throws {
        try await withSimulator(SimulatorConfiguration(renderTime: .zero)) { simulator in
            let ids = simulator.control.createVideos(count: 3, pinnedStatus: nil)
            let base = simulator.baseURL
            let urls = [base + "/v1/v2v/video.get?video_id=\(ids[0])", base + "/v1/v2v/video.list"]
            var whole: [String] = []
            for url in urls { whole.append(try await http("GET", url).text) }

            try await putFaults(simulator, #"{"truncated_ratio":1}"#)
            for (url, full) in zip(urls, whole) {
                let answer = try await http("GET", url)
                #expect(answer.status == 200)
                #expect(answer.curlExitCode == 0, "the HTTP exchange itself completes")
                #expect(answer.headers["content-type"] == "application/json")
                #expect(answer.headers["content-length"] == String(answer.body.count))
                #expect(!answer.body.isEmpty)
                #expect(answer.body.count == full.utf8.count / 2)
                #expect(full.hasPrefix(answer.text) && answer.text != full)
                #expect((try? JSONSerialization.jsonObject(with: answer.body)) == nil)
            }
            let submitted = try await http("POST", base + "/v1/v2v/video.generate", body: Self.generateBody)
            #expect(submitted.status == 200)
            #expect(submitted.text.hasPrefix(#"{"code":0,"data":{"video_id":""#))
            #expect(submitted.json == nil)
            #expect(simulator.control.videoCount == 3, "a truncated generate creates no video")
        }
    }

    @Test func nonZeroCode() async throws {
        try await withSimulator(SimulatorConfiguration(faults: FaultSettings(nonzeroCodeRatio: 1))) { simulator in
            for answer in try await Self.callAll(simulator) {
                #expect(answer.status == 200)
                #expect(answer.text == #"{"code":50001,"data":null,"message":"internal error, please retry"}"#)
            }
            #expect(simulator.control.videoCount == 0)
        }
    }

    @Test func unknownStatus() async throws {
        try await withSimulator(SimulatorConfiguration(renderTime: .zero)) { simulator in
            let ids = simulator.control.createVideos(count: 2, pinnedStatus: nil)
            try await putFaults(simulator, #"{"unknown_status_ratio":1}"#)
            let video = try await getVideo(simulator, ids[0])
            #expect(video["status"] as? String == "queued_for_review")
            #expect(video["video_url"] == nil)
            try await putFaults(simulator, #"{"unknown_status_ratio":1,"unknown_status":"moderating"}"#)
            let list = try await http("GET", simulator.baseURL + "/v1/v2v/video.list")
            let items = try #require(list.json?["data"] as? [[String: Any]])
            #expect(items.map { $0["status"] as? String } == ["moderating", "moderating"])
            #expect(items.map { $0["video_id"] as? String } == ids)
        }
    }

    @Test func backwardsStatus() async throws {
        try await withSimulator { simulator in
            let control = simulator.control
            let pending = control.createVideos(count: 1, pinnedStatus: "pending")[0]
            let inProgressing = control.createVideos(count: 1, pinnedStatus: "in_progressing")[0]
            let finished = control.createVideos(count: 1, pinnedStatus: "finished")[0]
            let error = control.createVideos(count: 1, pinnedStatus: "error")[0]
            try await putFaults(simulator, #"{"backwards_ratio":1}"#)
            #expect(try await getVideo(simulator, pending)["status"] as? String == "pending")
            #expect(try await getVideo(simulator, inProgressing)["status"] as? String == "pending")
            let wasFinished = try await getVideo(simulator, finished)
            #expect(wasFinished["status"] as? String == "in_progressing")
            #expect(wasFinished["video_url"] == nil)
            #expect(try await getVideo(simulator, error)["status"] as? String == "in_progressing")
            let list = try await http("GET", simulator.baseURL + "/v1/v2v/video.list")
            let items = try #require(list.json?["data"] as? [[String: Any]])
            #expect(items.map { $0["status"] as? String } == ["pending", "pending", "in_progressing", "in_progressing"])
        }
    }

    @Test func latency() async throws {
        try await withSimulator(SimulatorConfiguration(faults: FaultSettings(latency: .seconds(1)))) { simulator in
            let clock = ContinuousClock()
            let started = clock.now
            let answer = try await http("GET", simulator.baseURL + "/v1/v2v/video.list")
            #expect(answer.status == 200)
            #expect(clock.now - started >= .milliseconds(980))
        }
    }

    /// Shown by order: with a ten-minute latency on the API, a control call answers while an API call
    /// made before it is still waiting.
    @Test func controlEndpointsAreNeverDelayed() async throws {
        try await withSimulator(SimulatorConfiguration(faults: FaultSettings(latency: .seconds(600)))) { simulator in
            let delayed = Task { try await http("GET", simulator.baseURL + "/v1/v2v/video.list", maxTime: 600) }
            defer { delayed.cancel() }
            #expect(await eventually(within: .seconds(60)) { simulator.control.injectedFaults()[.latency, default: 0] == 1 })
            let control = try await http("GET", simulator.baseURL + "/_sim/healthz", token: nil)
            #expect(control.status == 200)
            #expect(simulator.control.injectedFaults()[.latency, default: 0] == 1, "the control call was not delayed")
        }
    }

    /// The hang (ten minutes) is far longer than the client's 1 s limit and the stop's own bound: a
    /// stuck request ends only through the client's timeout or the stop.
    @Test func hangMakesClientsTimeOutAndStopStillReturns() async throws {
        let faults = FaultSettings(hangRatio: 1, hangTime: .seconds(600))
        let simulator = try await UpstreamSimulator.start(
            SimulatorConfiguration(port: 0, token: testToken, faults: faults), logger: quietLogger)
        let answer = try await http("GET", simulator.baseURL + "/v1/v2v/video.list", maxTime: 1)
        #expect(answer.curlExitCode == 28, "curl reports a timeout")
        // A second hung request is still in flight while stopping.
        let inFlight = Task { try await http("GET", simulator.baseURL + "/v1/v2v/video.list", maxTime: 300) }
        #expect(await eventually(within: .seconds(60)) { simulator.control.injectedFaults()[.hang, default: 0] == 2 })
        try await withDeadline(.seconds(120)) { await simulator.stop() }
        let cut = try await withDeadline(.seconds(120)) { try await inFlight.value }
        #expect(cut.status != 200)
    }

    @Test func endpointFilter() async throws {
        let faults = FaultSettings(rateLimitRatio: 1, endpoints: [.list])
        try await withSimulator(SimulatorConfiguration(faults: faults)) { simulator in
            let answers = try await Self.callAll(simulator)
            #expect(answers.map(\.status) == [200, 404, 429])
            #expect(simulator.control.videoCount == 1)
        }
    }

    @Test func faultsBeforeAuth() async throws {
        // Faults come from the edge in front of the API: even an unauthorized call is rate limited.
        try await withSimulator(SimulatorConfiguration(faults: FaultSettings(rateLimitRatio: 1))) { simulator in
            let answer = try await http("GET", simulator.baseURL + "/v1/v2v/video.list", token: "wrong")
            #expect(answer.status == 429)
        }
    }

    @Test func faultDecisionsAreReproducibleWithASeed() async throws {
        func statuses() async throws -> [Int] {
            let configuration = SimulatorConfiguration(faults: FaultSettings(rateLimitRatio: 0.5), seed: 7)
            return try await withSimulator(configuration) { simulator in
                var statuses: [Int] = []
                for _ in 0..<16 {
                    statuses.append(try await http("GET", simulator.baseURL + "/v1/v2v/video.list").status)
                }
                return statuses
            }
        }
        let first = try await statuses()
        #expect(first == (try await statuses()))
        #expect(first.contains(200) && first.contains(429))
    }
}
