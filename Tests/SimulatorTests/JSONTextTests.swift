import Foundation
@testable import Simulator
import Testing

/// The simulator writes its answers by hand: plain text is copied as it is, anything JSON must
/// escape is escaped, and the result parses back to the same values.
@Suite("Simulator JSON text")
struct JSONTextTests {
    @Test("strings with and without characters to escape", arguments: [
        ("vid_0a1b", #""vid_0a1b""#),
        ("café 😀", #""café 😀""#),
        (#"say "hi" \ bye"#, #""say \"hi\" \\ bye""#),
        ("tab\tnew\nline\r\u{01}", #""tab\tnew\nline\r\u0001""#),
    ])
    func strings(value: String, literal: String) throws {
        #expect(JSONText.string(value) == literal)
        let parsed = try JSONSerialization.jsonObject(with: Data(literal.utf8), options: [.fragmentsAllowed]) as? String
        #expect(parsed == value)
    }

    @Test("a list in the upstream's key order parses back item for item")
    func list() throws {
        let videos = [
            VideoView(id: "a", status: "finished", videoURL: "http://127.0.0.1:1/videos/a.mp4"),
            VideoView(id: "b\"q", status: "in_progressing"),
        ]
        let text = JSONText.success(data: JSONText.videoList(videos))
        #expect(text.hasPrefix(#"{"code":0,"data":[{"video_id":"a","status":"finished","video_url":"http://127.0.0.1:1/videos/a.mp4"},"#))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        let items = try #require(object["data"] as? [[String: String]])
        #expect(items == [
            ["video_id": "a", "status": "finished", "video_url": "http://127.0.0.1:1/videos/a.mp4"],
            ["video_id": "b\"q", "status": "in_progressing"],
        ])
    }
}
