import Foundation
import Simulator
import TestSupport
import Testing

@Suite struct RequestValidationTests {
    static let paths = [
        ("POST", "/v1/v2v/video.generate"),
        ("GET", "/v1/v2v/video.get?video_id=0123456789abcdef0123456789abcdef"),
        ("GET", "/v1/v2v/video.list"),
    ]

    @Test func missingOrWrongTokenIs401() async throws {
        try await withSimulator { simulator in
            let body = #"{"audio_url":"https://example.com/a.mp3","image_url":"https://example.com/f.jpg"}"#
            for (method, path) in Self.paths {
                for token in [nil, "wrong-token", "", testToken + "x"] as [String?] {
                    let answer = try await http(method, simulator.baseURL + path, token: token, body: method == "POST" ? body : nil)
                    #expect(answer.status == 401, "\(method) \(path) token \(token ?? "nil")")
                    #expect(answer.text == #"{"code":40100,"data":null,"message":"invalid token"}"#)
                    #expect(answer.headers["content-type"] == "application/json")
                }
            }
            // The right token with another scheme is refused too.
            let basic = try await runProcess("/usr/bin/curl", [
                "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Basic \(testToken)",
                simulator.baseURL + "/v1/v2v/video.list",
            ])
            #expect(String(decoding: basic.stdout, as: UTF8.self) == "401")
            #expect(simulator.control.videoCount == 0)
        }
    }

    static let badBodies: [(String, String)] = [
        ("", "request body must be a JSON object with audio_url and image_url"),
        ("{", "request body is not valid JSON"),
        ("not json", "request body is not valid JSON"),
        ("[]", "request body must be a JSON object with audio_url and image_url"),
        ("null", "request body"),
        (#"{"image_url":"https://example.com/f.jpg"}"#, "audio_url is required"),
        (#"{"audio_url":"https://example.com/a.mp3"}"#, "image_url is required"),
        (#"{"audio_url":null,"image_url":"https://example.com/f.jpg"}"#, "audio_url is required"),
        (#"{"audio_url":42,"image_url":"https://example.com/f.jpg"}"#, "audio_url must be a string"),
        (#"{"audio_url":"https://example.com/a.mp3","image_url":["x"]}"#, "image_url must be a string"),
        (#"{"audio_url":"","image_url":"https://example.com/f.jpg"}"#, "audio_url must not be empty"),
        (#"{"audio_url":"https://example.com/a.mp3","image_url":""}"#, "image_url must not be empty"),
        (#"{"audio_url":"ftp://example.com/a.mp3","image_url":"https://example.com/f.jpg"}"#, "audio_url must be an http or https URL"),
        (#"{"audio_url":"https://example.com/a.mp3","image_url":"face.jpg"}"#, "image_url must be an http or https URL"),
        (#"{"audio_url":"https://","image_url":"https://example.com/f.jpg"}"#, "audio_url must be an http or https URL"),
    ]

    @Test func badGenerateInputsAre400() async throws {
        try await withSimulator { simulator in
            for (body, message) in Self.badBodies {
                let answer = try await http("POST", simulator.baseURL + "/v1/v2v/video.generate", body: body)
                #expect(answer.status == 400, "body \(body)")
                let json = try #require(answer.json, "body \(body): \(answer.text)")
                #expect(json["code"] as? Int == 40001, "body \(body)")
                #expect(json["data"] is NSNull, "body \(body)")
                #expect((json["message"] as? String)?.hasPrefix(message) == true, "body \(body): \(answer.text)")
                #expect(answer.text.hasPrefix(#"{"code":40001,"data":null,"message":"#))
            }
            #expect(simulator.control.videoCount == 0)
        }
    }

    @Test func magicInputsMimicTheUpstreamLimits() async throws {
        try await withSimulator { simulator in
            let url = simulator.baseURL + "/v1/v2v/video.generate"
            let noFace = try await http("POST", url, body: #"{"audio_url":"https://example.com/a.mp3","image_url":"https://example.com/noface.jpg"}"#)
            #expect(noFace.status == 400)
            #expect(noFace.text == #"{"code":40002,"data":null,"message":"face area must be at least 160x160"}"#)
            let tooLong = try await http("POST", url, body: #"{"audio_url":"https://example.com/toolong.mp3","image_url":"https://example.com/f.jpg"}"#)
            #expect(tooLong.status == 400)
            #expect(tooLong.text == #"{"code":40003,"data":null,"message":"audio longer than 1 minute"}"#)
            #expect(simulator.control.videoCount == 0)
        }
    }

    @Test func oversizedBodyIs413() async throws {
        try await withSimulator { simulator in
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("sim-big-\(UUID().uuidString).json")
            defer { try? FileManager.default.removeItem(at: file) }
            try Data(repeating: UInt8(ascii: "a"), count: 2 << 20).write(to: file)
            let result = try await runProcess("/usr/bin/curl", [
                "-sS", "-w", "\n%{http_code}", "-X", "POST", "-H", "Authorization: Bearer \(testToken)",
                "--data-binary", "@\(file.path)", simulator.baseURL + "/v1/v2v/video.generate",
            ])
            let lines = String(decoding: result.stdout, as: UTF8.self).split(separator: "\n")
            #expect(lines.last == "413")
            #expect(lines.first == #"{"code":41300,"data":null,"message":"request body larger than 1 MiB"}"#)
            #expect(simulator.control.videoCount == 0)
        }
    }

    @Test func unknownAndMissingVideoID() async throws {
        try await withSimulator { simulator in
            let unknown = try await http("GET", simulator.baseURL + "/v1/v2v/video.get?video_id=0123456789abcdef0123456789abcdef")
            #expect(unknown.status == 404)
            #expect(unknown.text == #"{"code":40401,"data":null,"message":"video not found"}"#)
            for query in ["", "?video_id=", "?other=1"] {
                let missing = try await http("GET", simulator.baseURL + "/v1/v2v/video.get" + query)
                #expect(missing.status == 400, "query \(query)")
                #expect(missing.text == #"{"code":40001,"data":null,"message":"video_id is required"}"#)
            }
        }
    }

    @Test func emptyListIsAnEmptyArray() async throws {
        try await withSimulator { simulator in
            let answer = try await http("GET", simulator.baseURL + "/v1/v2v/video.list")
            #expect(answer.status == 200)
            #expect(answer.text == #"{"code":0,"data":[],"message":"success"}"#)
        }
    }
}
