import Foundation
@testable import Simulator
import TestSupport
import Testing

@Suite struct ControlEndpointTests {
    @Test func healthz() async throws {
        try await withSimulator { simulator in
            let answer = try await http("GET", simulator.baseURL + "/_sim/healthz", token: nil)
            #expect(answer.status == 200)
        }
    }

    @Test func faultsOverHTTP() async throws {
        try await withSimulator { simulator in
            let url = simulator.baseURL + "/_sim/faults"
            let initial = try await http("GET", url, token: nil)
            #expect(initial.status == 200)
            #expect(try JSONDecoder().decode(FaultSettings.self, from: initial.body) == .none)
            #expect(initial.json?["hang_ms"] as? Int == 60000)
            #expect(initial.json?["latency_ms"] as? Int == 0)

            let put = try await http("PUT", url, token: nil, body: #"{"latency_ms":250,"rate_limit_ratio":0.25,"endpoints":["video.get"]}"#)
            #expect(put.status == 200)
            let expected = FaultSettings(latency: .milliseconds(250), rateLimitRatio: 0.25, endpoints: [.get])
            #expect(try JSONDecoder().decode(FaultSettings.self, from: put.body) == expected)
            #expect(simulator.control.faults() == expected)
            let read = try await http("GET", url, token: nil)
            #expect(try JSONDecoder().decode(FaultSettings.self, from: read.body) == expected)
            #expect(read.json?["latency_ms"] as? Int == 250)

            // A PUT replaces everything: absent keys go back to defaults.
            _ = try await http("PUT", url, token: nil, body: #"{"html_ratio":1}"#)
            #expect(simulator.control.faults() == FaultSettings(htmlRatio: 1))

            for bad in ["{", #"{"rate_limit_ratio":2}"#, #"{"hang_ratio":-0.1}"#, #"{"rate_limit":1}"#,
                        #"{"latency_ms":"fast"}"#, #"{"endpoints":["video.delete"]}"#, #"{"server_error_status":404}"#] {
                let answer = try await http("PUT", url, token: nil, body: bad)
                #expect(answer.status == 400, "body \(bad)")
                #expect((answer.json?["error"] as? String)?.isEmpty == false, "body \(bad): \(answer.text)")
            }
            #expect(simulator.control.faults() == FaultSettings(htmlRatio: 1), "a bad PUT changes nothing")

            let deleted = try await http("DELETE", url, token: nil)
            #expect(deleted.status == 200)
            #expect(simulator.control.faults() == .none)
        }
    }

    @Test func controlEndpointsAreNeverFaulted() async throws {
        // A ten-minute latency and hangs: a control call that were delayed could not answer in time.
        let everything = FaultSettings(
            latency: .seconds(600), hangRatio: 1, rateLimitRatio: 1, serverErrorRatio: 1, htmlRatio: 1,
            truncatedRatio: 1, nonzeroCodeRatio: 1)
        try await withSimulator(SimulatorConfiguration(faults: everything)) { simulator in
            for path in ["/_sim/healthz", "/_sim/faults", "/_sim/stats"] {
                let answer = try await http("GET", simulator.baseURL + path, token: nil, maxTime: 60)
                #expect(answer.status == 200, "\(path)")
            }
        }
    }

    @Test func statsCountEveryCall() async throws {
        try await withSimulator { simulator in
            let base = simulator.baseURL
            let id = try await generate(simulator)
            _ = try await http("GET", base + "/v1/v2v/video.get?video_id=\(id)")
            _ = try await http("GET", base + "/v1/v2v/video.get?video_id=\(id)", token: "wrong")
            _ = try await http("GET", base + "/v1/v2v/video.get")
            try await putFaults(simulator, #"{"rate_limit_ratio":1}"#)
            _ = try await http("GET", base + "/v1/v2v/video.list")
            _ = try await http("GET", base + "/v1/v2v/video.list")

            let stats = try await http("GET", base + "/_sim/stats", token: nil)
            #expect(stats.status == 200)
            #expect(stats.text == #"{"calls":{"video.generate":1,"video.get":3,"video.list":2},"videos":1}"#)
            #expect(simulator.control.callCounts() == SimulatorCallCounts(generate: 1, get: 3, list: 2))
            #expect(simulator.control.callCounts().total == 6)

            let reset = try await http("DELETE", base + "/_sim/stats", token: nil)
            #expect(reset.status == 200)
            #expect(simulator.control.callCounts() == SimulatorCallCounts())
            #expect(simulator.control.videoCount == 1, "resetting counters keeps the videos")
        }
    }

    @Test func bulkCreateTenThousandAndListThemAll() async throws {
        try await withSimulator { simulator in
            let base = simulator.baseURL
            let created = try await http("POST", base + "/_sim/videos", token: nil, body: #"{"count":10000}"#)
            #expect(created.status == 200)
            let ids = try #require(created.json?["video_ids"] as? [String])
            #expect(ids.count == 10_000)
            #expect(Set(ids).count == 10_000)
            #expect(ids.allSatisfy(isVideoID))

            let pinned = try await http("POST", base + "/_sim/videos", token: nil, body: #"{"count":5,"status":"in_progressing"}"#)
            let pinnedIDs = try #require(pinned.json?["video_ids"] as? [String])
            #expect(pinnedIDs.count == 5)

            let list = try await http("GET", base + "/v1/v2v/video.list")
            #expect(list.status == 200)
            let items = try #require(list.json?["data"] as? [[String: Any]])
            #expect(items.count == 10_005)
            #expect(items.compactMap { $0["video_id"] as? String } == ids + pinnedIDs, "oldest first")
            #expect(items.suffix(5).allSatisfy { $0["status"] as? String == "in_progressing" })
            #expect(simulator.control.videoCount == 10_005)

            for bad in [#"{"count":0}"#, #"{"count":100001}"#, #"{"count":"x"}"#, "{", #"{"count":1,"status":""}"#] {
                let answer = try await http("POST", base + "/_sim/videos", token: nil, body: bad)
                #expect(answer.status == 400, "body \(bad)")
            }
            let cleared = try await http("DELETE", base + "/_sim/videos", token: nil)
            #expect(cleared.status == 200)
            #expect(simulator.control.videoCount == 0)
        }
    }

    @Test func pinOverHTTP() async throws {
        try await withSimulator(SimulatorConfiguration(renderTime: .seconds(600))) { simulator in
            let base = simulator.baseURL
            let id = try await generate(simulator)
            let pinned = try await http("PUT", base + "/_sim/videos/\(id)", token: nil, body: #"{"status":"queued"}"#)
            #expect(pinned.status == 200)
            #expect(pinned.text == #"{"video_id":"\#(id)","status":"queued"}"#)
            #expect(try await getVideo(simulator, id)["status"] as? String == "queued")

            let finished = try await http("PUT", base + "/_sim/videos/\(id)", token: nil, body: #"{"status":"finished"}"#)
            #expect(finished.json?["video_url"] as? String == "\(base)/videos/\(id).mp4")
            _ = try await http("PUT", base + "/_sim/videos/\(id)", token: nil,
                               body: #"{"status":"finished","video_url":"https://cdn.example.com/x.mp4"}"#)
            #expect(try await getVideo(simulator, id)["video_url"] as? String == "https://cdn.example.com/x.mp4")

            let shown = try await http("GET", base + "/_sim/videos/\(id)", token: nil)
            #expect(shown.json?["status"] as? String == "finished")

            let unpinned = try await http("DELETE", base + "/_sim/videos/\(id)/pin", token: nil)
            #expect(unpinned.status == 200)
            #expect(try await getVideo(simulator, id)["status"] as? String == "pending")

            let unknown = "0123456789abcdef0123456789abcdef"
            #expect(try await http("PUT", base + "/_sim/videos/\(unknown)", token: nil, body: #"{"status":"x"}"#).status == 404)
            #expect(try await http("DELETE", base + "/_sim/videos/\(unknown)/pin", token: nil).status == 404)
            #expect(try await http("GET", base + "/_sim/videos/\(unknown)", token: nil).status == 404)
            #expect(try await http("PUT", base + "/_sim/videos/\(id)", token: nil, body: #"{"video_url":"x"}"#).status == 400)
            #expect(try await http("GET", base + "/videos/\(unknown).mp4", token: nil).status == 404)
        }
    }

    @Test func pinEveryVideoAtOnce() async throws {
        try await withSimulator(SimulatorConfiguration(renderTime: .seconds(600))) { simulator in
            let base = simulator.baseURL
            let created = try await http("POST", base + "/_sim/videos", token: nil, body: #"{"count":300,"status":"in_progressing"}"#)
            let ids = try #require(created.json?["video_ids"] as? [String])
            let pinned = try await http("PUT", base + "/_sim/videos", token: nil, body: #"{"status":"finished"}"#)
            #expect(pinned.status == 200)
            #expect(pinned.text == #"{"pinned":300}"#)
            let items = try #require(try await http("GET", base + "/v1/v2v/video.list").json?["data"] as? [[String: Any]])
            #expect(items.count == 300)
            #expect(items.allSatisfy { $0["status"] as? String == "finished" })
            #expect(items.compactMap { $0["video_url"] as? String } == ids.map { "\(base)/videos/\($0).mp4" })

            _ = try await http("PUT", base + "/_sim/videos", token: nil, body: #"{"status":"finished","video_url":"https://cdn.example.com/all.mp4"}"#)
            #expect(try await getVideo(simulator, ids[7])["video_url"] as? String == "https://cdn.example.com/all.mp4")
            for bad in [#"{"status":""}"#, #"{"video_url":"x"}"#, "{"] {
                #expect(try await http("PUT", base + "/_sim/videos", token: nil, body: bad).status == 400, "body \(bad)")
            }
            #expect(try await getVideo(simulator, ids[0])["status"] as? String == "finished", "a refused pin changes nothing")
        }
    }

    @Test func recentCallTimesOverHTTP() async throws {
        let clock = ManualClock()
        try await withSimulator(clock: clock) { simulator in
            let base = simulator.baseURL
            _ = try await http("GET", base + "/v1/v2v/video.list")
            clock.advance(by: .milliseconds(1_500))
            _ = try await http("GET", base + "/v1/v2v/video.list")
            _ = try await http("GET", base + "/v1/v2v/video.get?video_id=0123456789abcdef0123456789abcdef")
            let start = clock.start.timeIntervalSince1970
            #expect(simulator.control.recentCalls(to: .list).map { $0.timeIntervalSince1970 - start } == [0, 1.5])
            let calls = try #require(try await http("GET", base + "/_sim/calls", token: nil).json?["calls"] as? [String: [Double]])
            #expect(calls["video.list"]?.map { $0 - start } == [0, 1.5])
            #expect(calls["video.get"]?.map { $0 - start } == [1.5])
            #expect(calls["video.generate"] == [])
            _ = try await http("DELETE", base + "/_sim/stats", token: nil)
            #expect(simulator.control.recentCalls(to: .list).isEmpty, "reset with the counters")

            for _ in 0..<(SimulatorControl.recentCallLimit + 5) { simulator.control.recordCall(.get) }
            #expect(simulator.control.recentCalls(to: .get).count == SimulatorControl.recentCallLimit, "bounded")
        }
    }

    @Test func faultedGenerateCreatesNoVideo() async throws {
        try await withSimulator { simulator in
            let url = simulator.baseURL + "/v1/v2v/video.generate"
            let body = FaultTests.generateBody
            for fault in [#"{"rate_limit_ratio":1}"#, #"{"server_error_ratio":1}"#, #"{"html_ratio":1}"#,
                          #"{"truncated_ratio":1}"#, #"{"nonzero_code_ratio":1}"#] {
                try await putFaults(simulator, fault)
                _ = try await http("POST", url, body: body)
                #expect(simulator.control.videoCount == 0, "fault \(fault)")
            }
            try await putFaults(simulator, "{}")
            #expect(try await http("POST", url, body: body).status == 200)
            #expect(simulator.control.videoCount == 1)
            #expect(simulator.control.callCounts().generate == 6)
        }
    }
}
