import CurlHTTP
import Foundation
import TalkingPhoto
import Testing

/// Decoding edge cases that the simulator does not produce, fed through a transport that
/// replays a fixed answer (the transport is the injected dependency; no curl or network here).
@Suite("Tolerant decoding")
struct DecodingTests {
    struct Replay: HTTPTransport {
        let response: OutboundResponse
        func send(_ request: OutboundRequest) async throws(CurlError) -> OutboundResponse { response }
    }

    func client(status: Int = 200, body: String, headers: HeaderFields = ["Content-Type": "application/json"])
        -> TalkingPhotoClient
    {
        TalkingPhotoClient(
            configuration: .init(baseURL: "http://upstream.test", token: UpstreamToken("t")),
            transport: Replay(response: OutboundResponse(status: status, headers: headers, body: Data(body.utf8)))
        )
    }

    @Test("numeric ids, extra fields and unreadable list items")
    func tolerantList() async throws {
        let body = """
            {"code":0,"message":"success","extra":{"x":1},"data":[
              {"video_id":123,"status":"finished","video_url":"https://cdn/x.mp4","duration":3.2},
              {"video_id":"b","status":"in_progressing"},
              {"video_id":"c"},
              {"status":"finished"},
              "garbage"
            ]}
            """
        let list = try await client(body: body).listVideos()
        #expect(list.videos == [
            UpstreamVideo(id: "123", status: .finished, videoURL: "https://cdn/x.mp4"),
            UpstreamVideo(id: "b", status: .inProgressing),
        ])
        #expect(list.unreadableItems == 3)
    }

    /// A well-formed list takes the JSONDecoder fast path; its item rules must be the tolerant path's.
    @Test("string ids: unreadable items, non-string URLs and empty statuses read as on the tolerant path")
    func fastList() async throws {
        let body = """
            {"code":0,"message":"success","data":[
              {"video_id":"a","status":"finished","video_url":"https://cdn/a.mp4","duration":3.2},
              {"video_id":"b","status":"in_progressing","video_url":7},
              {"video_id":"c","status":""},
              {"video_id":"","status":"pending"},
              {"video_id":null,"status":"pending"},
              {"video_id":"d","status":5},
              {"video_id":"e","status":"queued_for_review","video_url":null},
              ["not", "an", "object"],
              "garbage"
            ]}
            """
        let list = try await client(body: body).listVideos()
        #expect(list.videos == [
            UpstreamVideo(id: "a", status: .finished, videoURL: "https://cdn/a.mp4"),
            UpstreamVideo(id: "b", status: .inProgressing),
            UpstreamVideo(id: "e", status: VideoStatus("queued_for_review")),
        ])
        #expect(list.unreadableItems == 6)
        let items = (0..<10_000).map { #"{"video_id":"v\#($0)","status":"pending"}"# }
        let many = try await client(body: #"{"code":0,"data":["# + items.joined(separator: ",") + "]}").listVideos()
        #expect(many.videos.count == 10_000 && many.videos.last?.id == "v9999" && many.unreadableItems == 0)
        // A non-zero code is an error on either path.
        await #expect(throws: UpstreamError.apiError(code: 50001, message: "busy")) {
            try await client(body: #"{"code":50001,"message":"busy","data":[]}"#).listVideos()
        }
    }

    @Test("malformed answers never become a status", arguments: [
        (#"{"code":0,"data":null,"message":"success"}"#, UpstreamError.malformed("envelope has no data")),
        (#"{"data":{"video_id":"a","status":"finished"}}"#, .malformed("envelope has no numeric code")),
        (#"[1,2,3]"#, .malformed("envelope is not a JSON object")),
        (#"{"code":0,"data":{"video_id":"a","status":"finished"},"message":"success""#, .truncated),
        (#"{"code":0,"data":{"video_id":"a","sta"#, .truncated),
        (#"{"code":0,"data":{"video_id":"a","status":"finished"}}}"#, .malformed("body is not valid JSON")),
        (#"not json at all"#, .malformed("body is not valid JSON")),
        (#""#, .malformed("body is not valid JSON")),
        (#"{"code":"7","data":null,"message":"busy"}"#, .apiError(code: 7, message: "busy")),
        (#"{"code":0,"data":{"video_id":"other","status":"finished"},"message":"success"}"#,
         .malformed("answer is about another video")),
        (#"{"code":0,"data":{"video_id":"a"},"message":"success"}"#, .malformed("video item unreadable")),
    ])
    func malformed(body: String, expected: UpstreamError) async {
        await #expect(throws: expected) { try await client(body: body).video(id: "a") }
    }

    @Test("HTML is recognised by content type or by its first byte")
    func html() async {
        await #expect(throws: UpstreamError.notJSON(contentType: "text/html; charset=utf-8")) {
            try await client(body: "<html>502</html>", headers: ["Content-Type": "text/html; charset=utf-8"]).listVideos()
        }
        await #expect(throws: UpstreamError.notJSON(contentType: "application/json")) {
            try await client(body: "  <!doctype html><html></html>").listVideos()
        }
    }

    @Test("status classes: 3xx unexpected, 5xx with Retry-After, 429 with a date")
    func statusClasses() async {
        await #expect(throws: UpstreamError.unexpectedStatus(302)) {
            try await client(status: 302, body: "").listVideos()
        }
        await #expect(throws: UpstreamError.serverError(status: 503, retryAfter: .seconds(12))) {
            try await client(status: 503, body: "", headers: ["Retry-After": "12"]).listVideos()
        }
        await #expect(throws: UpstreamError.rateLimited(retryAfter: .zero)) {
            try await client(status: 429, body: "", headers: ["Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"]).listVideos()
        }
    }

    @Test("Retry-After parses seconds and every HTTP date form")
    func retryAfter() {
        let now = Date(timeIntervalSince1970: 1_445_412_470)  // 2015-10-21 07:27:50 GMT
        #expect(RetryAfter.parse("120", now: now) == .seconds(120))
        #expect(RetryAfter.parse("Wed, 21 Oct 2015 07:28:00 GMT", now: now) == .seconds(10))
        #expect(RetryAfter.parse("Wednesday, 21-Oct-15 07:28:00 GMT", now: now) == .seconds(10))
        #expect(RetryAfter.parse("Wed Oct 21 07:28:00 2015", now: now) == .seconds(10))
        #expect(RetryAfter.parse("-5", now: now) == nil)
        #expect(RetryAfter.parse("soon", now: now) == nil)
        #expect(RetryAfter.parse(nil, now: now) == nil)
    }
}
