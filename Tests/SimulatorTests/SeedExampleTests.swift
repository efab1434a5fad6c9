import Foundation
import Simulator
import TestSupport
import Testing

/// The curl lines of the upstream docs (`seed/talking-photo.md`), run as written with the
/// base URL, token and placeholders substituted.
@Suite struct SeedExampleTests {
    static func generateLine(base: String, token: String) -> String {
        """
        curl -X POST \\
        \(base)/v1/v2v/video.generate \\
        -H 'Authorization: Bearer \(token)' \\
        -H 'Content-Type: application/json' \\
        -d '{"audio_url": "https://example.com/voice.mp3", "image_url": "https://example.com/face.jpg"}'
        """
    }

    static func getLine(base: String, token: String, id: String) -> String {
        """
        curl -X GET \\
        \(base)/v1/v2v/video.get?video_id=\(id) \\
        -H 'Authorization: Bearer \(token)'
        """
    }

    static func listLine(base: String, token: String) -> String {
        """
        curl -X GET \\
        \(base)/v1/v2v/video.list \\
        -H 'Authorization: Bearer \(token)'
        """
    }

    /// Parses an envelope and checks `code` 0 and `message` "success", and the key order.
    static func envelope(_ result: ProcessResult) throws -> Any {
        #expect(result.exitCode == 0, "curl failed: \(String(decoding: result.stderr, as: UTF8.self))")
        let text = String(decoding: result.stdout, as: UTF8.self)
        let object = try #require(try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any], "\(text)")
        #expect(Set(object.keys) == ["code", "data", "message"])
        #expect(object["code"] as? Int == 0)
        #expect(object["message"] as? String == "success")
        #expect(text.hasPrefix(#"{"code":0,"data":"#), "key order: \(text)")
        #expect(text.hasSuffix(#","message":"success"}"#), "key order: \(text)")
        return try #require(object["data"])
    }

    static func checkVideo(_ data: Any, id: String? = nil, status: String, url: String? = nil) throws {
        let video = try #require(data as? [String: Any])
        let videoID = try #require(video["video_id"] as? String)
        #expect(isVideoID(videoID))
        if let id { #expect(videoID == id) }
        #expect(video["status"] as? String == status)
        if let url {
            #expect(Set(video.keys) == ["video_id", "status", "video_url"])
            #expect(video["video_url"] as? String == url)
        } else {
            #expect(Set(video.keys) == ["video_id", "status"])
        }
    }

    @Test func generateAndGetInEveryState() async throws {
        let clock = ManualClock()
        let configuration = SimulatorConfiguration(renderTime: .seconds(600), pendingTime: .seconds(60))
        try await withSimulator(configuration, clock: clock) { simulator in
            let base = simulator.baseURL
            let submitted = try await shell(Self.generateLine(base: base, token: testToken))
            let raw = String(decoding: submitted.stdout, as: UTF8.self)
            try Self.checkVideo(try Self.envelope(submitted), status: "pending")
            #expect(raw.contains(#""data":{"video_id":""#) && raw.contains(#"","status":"pending"}"#), "\(raw)")
            let data = try #require(try JSONSerialization.jsonObject(with: submitted.stdout) as? [String: Any])
            let id = try #require((data["data"] as? [String: Any])?["video_id"] as? String)

            let getLine = Self.getLine(base: base, token: testToken, id: id)
            try Self.checkVideo(try Self.envelope(try await shell(getLine)), id: id, status: "pending")

            clock.advance(seconds: 61)
            try Self.checkVideo(try Self.envelope(try await shell(getLine)), id: id, status: "in_progressing")

            clock.advance(seconds: 600)
            let finished = try await shell(getLine)
            try Self.checkVideo(try Self.envelope(finished), id: id, status: "finished", url: "\(base)/videos/\(id).mp4")
            let finishedText = String(decoding: finished.stdout, as: UTF8.self)
            #expect(finishedText.contains(#"","status":"finished","video_url":""#), "\(finishedText)")

            // The video URL serves something that looks like an mp4.
            let file = try await http("GET", "\(base)/videos/\(id).mp4", token: nil)
            #expect(file.status == 200)
            #expect(file.headers["content-type"] == "video/mp4")
            #expect(file.body.count > 8 && file.text.contains("ftyp"))

            // Error: pinned, then time-driven with errorRatio in LifecycleTests.
            #expect(simulator.control.pin(videoID: id, status: "error", videoURL: nil))
            try Self.checkVideo(try Self.envelope(try await shell(getLine)), id: id, status: "error")
        }
    }

    @Test func listWithVideosOfVariousStatuses() async throws {
        let clock = ManualClock()
        let configuration = SimulatorConfiguration(renderTime: .seconds(100), pendingTime: .seconds(10))
        try await withSimulator(configuration, clock: clock) { simulator in
            let base = simulator.baseURL
            var ids: [String] = []
            for _ in 0..<4 {
                let result = try await shell(Self.generateLine(base: base, token: testToken))
                let data = try #require(try Self.envelope(result) as? [String: Any])
                ids.append(try #require(data["video_id"] as? String))
                clock.advance(seconds: 30)
            }
            // Ages now: 120 s, 90 s, 60 s, 30 s → finished, in_progressing ×3; pin one to error, one to pending.
            #expect(simulator.control.pin(videoID: ids[1], status: "error", videoURL: nil))
            #expect(simulator.control.pin(videoID: ids[3], status: "pending", videoURL: nil))

            let listResult = try await shell(Self.listLine(base: base, token: testToken))
            let listed = try #require(try Self.envelope(listResult) as? [Any])
            #expect(listed.count == 4)
            guard listed.count == 4 else { return }
            try Self.checkVideo(listed[0], id: ids[0], status: "finished", url: "\(base)/videos/\(ids[0]).mp4")
            try Self.checkVideo(listed[1], id: ids[1], status: "error")
            try Self.checkVideo(listed[2], id: ids[2], status: "in_progressing")
            try Self.checkVideo(listed[3], id: ids[3], status: "pending")
        }
    }
}
