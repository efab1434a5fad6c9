import BridgeCore
import Foundation
import Testing

@Suite("JSON string quoting")
struct JSONStringTests {
    /// Whatever the text, the quoted form is one JSON string that reads back as the text.
    @Test(arguments: [
        "", "0123456789abcdef0123456789abcdef", "https://cdn.example.com/v.mp4?a=1&b=2", "in_progressing",
        "say \"hi\"", #"back\slash"#, "line\nbreak\r\ttab", "\u{01}\u{1f}", "ünïcödé ✓ 🎬", "/slash/ stays",
    ])
    func roundTrips(_ text: String) throws {
        let quoted = JSONString.quote(text)
        let decoded = try JSONDecoder().decode([String].self, from: Data("[\(quoted)]".utf8))
        #expect(decoded == [text])
    }

    @Test func escapesOnlyWhatJSONRequires() {
        #expect(JSONString.quote("plain") == #""plain""#)
        #expect(JSONString.quote("a\"b\\c\nd\u{02}") == #""a\"b\\c\nd\u0002""#)
        #expect(JSONString.quote("✓/") == "\"✓/\"")
    }
}
