import CurlHTTP
import Foundation
import Simulator
@testable import TalkingPhoto
import Testing

/// The one-pass `video.list` reader against the tolerant JSONSerialization path: on every input the
/// fast path answers, the tolerant path must give the same videos and the same unreadable count. The
/// inputs are generated (seeded, so a failure reproduces): shuffled keys, whitespace, escapes,
/// non-ASCII text, nested unknown fields, odd item shapes, then truncated or with one byte changed.
@Suite("Fast list reader")
struct FastListTests {
    /// Seeded, so every run checks the same inputs.
    typealias Seeded = SplitMix64

    static func response(_ body: [UInt8]) -> OutboundResponse {
        OutboundResponse(status: 200, headers: ["Content-Type": "application/json"], body: Data(body))
    }

    static func tolerant(_ body: [UInt8]) -> UpstreamVideoList? {
        try? TalkingPhotoClient.tolerantList(response(body), now: Date(timeIntervalSince1970: 0))
    }

    @Test("the simulator's own answer is read on the fast path, as the tolerant path reads it")
    func canonical() throws {
        let items = (0..<2_000).map { index in
            index % 3 == 0
                ? #"{"video_id":"vid_\#(index)","status":"finished","video_url":"https://cdn.example/\#(index).mp4"}"#
                : #"{"video_id":"vid_\#(index)","status":"in_progressing"}"#
        }
        let body = Array((#"{"code":0,"data":["# + items.joined(separator: ",") + #"],"message":"success"}"#).utf8)
        let fast = try #require(FastVideoList.decode(Self.response(body)))
        #expect(fast == Self.tolerant(body))
        #expect(fast.videos.count == 2_000 && fast.unreadableItems == 0)
        #expect(fast.videos[3] == UpstreamVideo(id: "vid_3", status: .finished, videoURL: "https://cdn.example/3.mp4"))
    }

    @Test("escapes, non-ASCII text and whitespace decode as JSONSerialization decodes them")
    func escapes() throws {
        let body = Array("""
             \r\n{ "message" : "ok" , "data" : [ { "status" : "fini\\u0073hed" , "video_id" : "caf\\u00e9-\u{00e9}-\\ud83d\\ude00" ,
            "video_url" : "https:\\/\\/cdn\\/a \\"b\\" \\\\ \\t.mp4" } ] , "code" : 0 }\t
            """.utf8)
        let fast = try #require(FastVideoList.decode(Self.response(body)))
        #expect(fast.videos == [UpstreamVideo(id: "café-é-😀", status: .finished, videoURL: "https://cdn/a \"b\" \\ \t.mp4")])
        #expect(fast == Self.tolerant(body))
    }

    @Test("inputs outside the subset go to the tolerant path", arguments: [
        #"{"code":0,"data":[{"video_id":12,"status":"pending"}]}"#,  // numeric id
        #"{"code":0,"data":[{"video_id":true,"status":"pending"}]}"#,  // boolean id (read as "1" there)
        #"{"code":0.0,"data":[]}"#,  // a code that is not an integer literal
        #"{"code":"0","data":[]}"#,
        #"{"code":0,"data":["garbage"]}"#,  // a non-object item
        #"{"code":0,"data":[{"video_\u0069d":"a","status":"pending"}]}"#,  // an escaped key
        #"{"code":0,"data":[{"video_id":"a","video_id":"b","status":"pending"}]}"#,  // a repeated key
        #"{"code":0,"data":[{"video_id":"a","status":"pending"}]} x"#,  // trailing text
        #"{"code":0,"data":[{"video_id":"a","status":"pend"#,  // truncated
        #"{"code":0,"data":[{"video_id":"\ud800","status":"pending"}]}"#,  // a lone surrogate
        #"{"code":0,"data":[{"video_id":"a","status":"pending","n":01}]}"#,  // a number JSON forbids
        #"{"code":0,"data":null}"#,
        #"{"code":1,"data":[]}"#,
        #"[{"code":0}]"#,
    ])
    func outsideTheSubset(body: String) {
        #expect(FastVideoList.decode(Self.response(Array(body.utf8))) == nil)
    }

    @Test("generated and mutated lists: wherever the fast path answers, the tolerant path agrees")
    func differential() {
        var random = Seeded(seed: 20_261_202)
        var answered = 0
        var compared = 0
        for round in 0..<1_500 {
            let document = Self.document(&random)
            var body = Array(document.utf8)
            switch round % 3 {
            case 1 where !body.isEmpty: body.removeLast(Int.random(in: 1...body.count, using: &random))
            case 2 where !body.isEmpty:
                body[Int.random(in: 0..<body.count, using: &random)] = Self.noise.randomElement(using: &random)!
            default: break
            }
            compared += 1
            guard let fast = FastVideoList.decode(Self.response(body)) else { continue }
            answered += 1
            let tolerant = Self.tolerant(body)
            #expect(fast == tolerant, "input \(round): \(String(decoding: body, as: UTF8.self))")
        }
        // Most unmutated documents are in the subset: a fast path that always gave up would fail here.
        #expect(compared == 1_500 && answered >= 300, "fast path answered \(answered) of \(compared)")
    }

    static let noise: [UInt8] = Array(#"{}[]:,"\ 0-9aeu.nt"#.utf8) + [0x00, 0x0A, 0xC3, 0xFF]

    static func document(_ random: inout Seeded) -> String {
        let count = Int.random(in: 0...6, using: &random)
        let items = (0..<count).map { _ in item(&random) }
        var members = [
            #""code":"# + (Int.random(in: 0..<10, using: &random) == 0 ? "50001" : "0"),
            #""data":"# + space(&random) + "[" + items.joined(separator: "," + space(&random)) + "]",
            #""message":"success""#,
        ]
        if Bool.random(using: &random) { members.append(#""extra":"# + unknownValue(&random, depth: 0)) }
        members.shuffle(using: &random)
        return space(&random) + "{" + members.joined(separator: "," + space(&random)) + "}" + space(&random)
    }

    static func item(_ random: inout Seeded) -> String {
        var members: [String] = []
        let ids = [#""a""#, #""vid_\u0031""#, #""é-ü""#, #""""#, "null", "7", #""\ud83d\ude00""#]
        let statuses = [#""pending""#, #""in_progressing""#, #""finished""#, #""error""#, #""queued""#, #""""#, "5", "null", #""fin\u0069shed""#]
        let urls = [#""https://cdn/x.mp4""#, #""https:\/\/cdn\/y.mp4""#, "null", "7", "{}", #""a\"b""#]
        if Int.random(in: 0..<8, using: &random) > 0 { members.append(#""video_id":"# + ids.randomElement(using: &random)!) }
        if Int.random(in: 0..<8, using: &random) > 0 { members.append(#""status":"# + statuses.randomElement(using: &random)!) }
        if Bool.random(using: &random) { members.append(#""video_url":"# + urls.randomElement(using: &random)!) }
        if Bool.random(using: &random) { members.append(#""duration":"# + unknownValue(&random, depth: 0)) }
        members.shuffle(using: &random)
        return "{" + space(&random) + members.joined(separator: space(&random) + "," + space(&random)) + space(&random) + "}"
    }

    static func unknownValue(_ random: inout Seeded, depth: Int) -> String {
        switch Int.random(in: 0..<(depth > 2 ? 6 : 8), using: &random) {
        case 0: return "3.25"
        case 1: return "-12e+3"
        case 2: return "true"
        case 3: return "null"
        case 4: return #""t\u00e9xt \"q\" \n""#
        case 5: return "0"
        case 6: return "[" + (0..<2).map { _ in unknownValue(&random, depth: depth + 1) }.joined(separator: ",") + "]"
        default: return #"{"k":"# + unknownValue(&random, depth: depth + 1) + #","video_id":"nested"}"#
        }
    }

    static func space(_ random: inout Seeded) -> String {
        ["", "", "", " ", "\n  ", "\t"].randomElement(using: &random)!
    }
}
