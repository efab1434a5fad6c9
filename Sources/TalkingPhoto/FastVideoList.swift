import CurlHTTP
import Foundation

/// The fast path for `video.list`: one pass over the bytes of a well-formed success envelope (`code`
/// 0 as an integer, `data` an array of objects, ids as strings), building only the three fields the
/// poller reads. Returns nil for anything else — error codes, HTML, truncation, invalid JSON, numeric
/// ids, a key written with escapes, a repeated key, a non-object item, nesting deeper than 64 — and the
/// caller falls back to ``EnvelopeDecoder``, whose results this path matches item for item whenever it
/// answers (the differential test in `DecodingTests` checks this): an item without a non-empty string
/// id or a non-empty string status is unreadable; a `video_url` that is not a string is ignored.
///
/// At 100,000 items (about 8 MB) `JSONDecoder` took 560–930 ms of a poll cycle here; this reads the
/// same answer in a small fraction of that.
enum FastVideoList {
    static func decode(_ response: OutboundResponse) -> UpstreamVideoList? {
        if let type = response.headers["content-type"], type.lowercased().contains("html") { return nil }
        return response.body.withUnsafeBytes { bytes -> UpstreamVideoList? in
            var scanner = Scanner(bytes: bytes)
            return scanner.envelope()
        }
    }

    /// A cursor over the body. Every method returns nil (or false) as soon as the input leaves the
    /// subset this path reads; nothing is thrown.
    private struct Scanner {
        let bytes: UnsafeRawBufferPointer
        var at = 0
        /// A byte ≥ 0x80 was skipped over inside a string: the body's UTF-8 is validated at the end, as
        /// JSONSerialization would reject an invalid sequence anywhere.
        var sawNonASCII = false

        init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

        mutating func envelope() -> UpstreamVideoList? {
            skipWhitespace()
            guard consume(UInt8(ascii: "{")) else { return nil }
            var code: Int?
            var list: UpstreamVideoList?
            var first = true
            while true {
                guard let member = nextMember(first: &first) else { return nil }
                guard case .key(let key) = member else { break }
                switch key {
                case .code:
                    guard code == nil, let value = integer() else { return nil }
                    code = value
                case .data:
                    guard list == nil, let items = items() else { return nil }
                    list = items
                default:
                    guard skipValue(depth: 0) else { return nil }
                }
            }
            skipWhitespace()
            guard at == bytes.count, code == 0, let list else { return nil }
            if sawNonASCII, String(validating: bytes, as: UTF8.self) == nil { return nil }
            return list
        }

        /// `data`: an array of item objects.
        mutating func items() -> UpstreamVideoList? {
            guard consume(UInt8(ascii: "[")) else { return nil }
            var videos: [UpstreamVideo] = []
            var unreadable = 0
            skipWhitespace()
            if consume(UInt8(ascii: "]")) { return UpstreamVideoList(videos: videos, unreadableItems: 0) }
            while true {
                skipWhitespace()
                switch item() {
                case .none: return nil
                case .some(.some(let video)): videos.append(video)
                case .some(.none): unreadable += 1
                }
                skipWhitespace()
                if consume(UInt8(ascii: "]")) { break }
                guard consume(UInt8(ascii: ",")) else { return nil }
            }
            return UpstreamVideoList(videos: videos, unreadableItems: unreadable)
        }

        /// One item: nil to give up, `.some(nil)` for an unreadable item, else the video.
        mutating func item() -> UpstreamVideo?? {
            guard consume(UInt8(ascii: "{")) else { return nil }
            var id: Field = .absent
            var status: Field = .absent
            var url: Field = .absent
            var first = true
            while true {
                guard let member = nextMember(first: &first) else { return nil }
                guard case .key(let key) = member else { break }
                switch key {
                case .videoID:
                    guard case .absent = id, let value = field() else { return nil }
                    // A number (or a boolean) is read as text by the tolerant path only.
                    if case .other = value { return nil }
                    id = value
                case .status:
                    guard case .absent = status, let value = field() else { return nil }
                    status = value
                case .videoURL:
                    guard case .absent = url, let value = field() else { return nil }
                    url = value
                default:
                    guard skipValue(depth: 1) else { return nil }
                }
            }
            guard case .text(let videoID) = id, !videoID.isEmpty, case .text(let state) = status, !state.isEmpty else {
                return .some(nil)
            }
            var link: String?
            if case .text(let text) = url { link = text }
            return .some(UpstreamVideo(id: videoID, status: VideoStatus(state), videoURL: link))
        }

        enum Field {
            case absent
            case text(String)
            /// `null`, a number, a boolean, an object or an array.
            case other
        }

        /// A member value the item rules read: a string's text, or `.other` for anything else.
        mutating func field() -> Field? {
            guard at < bytes.count else { return nil }
            if bytes[at] == UInt8(ascii: "\"") { return string().map(Field.text) }
            return skipValue(depth: 1) ? .other : nil
        }

        enum Key { case code, data, videoID, status, videoURL, other }

        enum Member {
            case key(Key)
            /// The object's closing brace.
            case end
        }

        /// Inside an object whose `{` was read: the next member's name (its colon read too), or the
        /// end of the object; nil to give up. `first` tells whether a comma must come before it.
        mutating func nextMember(first: inout Bool) -> Member? {
            skipWhitespace()
            if consume(UInt8(ascii: "}")) { return .end }
            if !first {
                guard consume(UInt8(ascii: ",")) else { return nil }
                skipWhitespace()
            }
            first = false
            return plainKey().map(Member.key)
        }

        /// A member name followed by its colon. A name written with escapes gives up (the tolerant
        /// path compares decoded names).
        mutating func plainKey() -> Key? {
            guard consume(UInt8(ascii: "\"")) else { return nil }
            let start = at
            while at < bytes.count {
                let byte = bytes[at]
                if byte == UInt8(ascii: "\"") { break }
                if byte == UInt8(ascii: "\\") || byte < 0x20 { return nil }
                if byte >= 0x80 { sawNonASCII = true }
                at += 1
            }
            guard at < bytes.count else { return nil }
            let key = Self.key(UnsafeRawBufferPointer(rebasing: bytes[start..<at]))
            at += 1
            skipWhitespace()
            guard consume(UInt8(ascii: ":")) else { return nil }
            skipWhitespace()
            return key
        }

        static func key(_ name: UnsafeRawBufferPointer) -> Key {
            switch name.count {
            case 4 where name.elementsEqual("code".utf8): .code
            case 4 where name.elementsEqual("data".utf8): .data
            case 6 where name.elementsEqual("status".utf8): .status
            case 8 where name.elementsEqual("video_id".utf8): .videoID
            case 9 where name.elementsEqual("video_url".utf8): .videoURL
            default: .other
            }
        }

        /// A string value, decoded (escapes included); nil when it is not valid JSON text.
        mutating func string() -> String? {
            guard consume(UInt8(ascii: "\"")) else { return nil }
            let start = at
            var nonASCII = false
            while at < bytes.count {
                let byte = bytes[at]
                if byte == UInt8(ascii: "\"") {
                    let text = UnsafeRawBufferPointer(rebasing: bytes[start..<at])
                    at += 1
                    return nonASCII ? String(validating: text, as: UTF8.self) : String(decoding: text, as: UTF8.self)
                }
                if byte == UInt8(ascii: "\\") { return escapedString(from: start) }
                if byte < 0x20 { return nil }
                if byte >= 0x80 { nonASCII = true }
                at += 1
            }
            return nil
        }

        /// The rest of a string that holds an escape, from its first byte `start`.
        mutating func escapedString(from start: Int) -> String? {
            var utf8: [UInt8] = Array(UnsafeRawBufferPointer(rebasing: bytes[start..<at]))
            while at < bytes.count {
                let byte = bytes[at]
                at += 1
                switch byte {
                case UInt8(ascii: "\""):
                    return String(validating: utf8, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    guard at < bytes.count else { return nil }
                    let escape = bytes[at]
                    at += 1
                    switch escape {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(escape)
                    case UInt8(ascii: "b"): utf8.append(0x08)
                    case UInt8(ascii: "f"): utf8.append(0x0C)
                    case UInt8(ascii: "n"): utf8.append(0x0A)
                    case UInt8(ascii: "r"): utf8.append(0x0D)
                    case UInt8(ascii: "t"): utf8.append(0x09)
                    case UInt8(ascii: "u"):
                        guard let scalar = unicodeEscape() else { return nil }
                        utf8.append(contentsOf: String(Character(scalar)).utf8)
                    default: return nil
                    }
                case 0..<0x20:
                    return nil
                default:
                    utf8.append(byte)
                }
            }
            return nil
        }

        /// The scalar of `\uXXXX` (the `\u` already read), pairing surrogates; nil for a lone one.
        mutating func unicodeEscape() -> Unicode.Scalar? {
            guard let high = hex4() else { return nil }
            switch high {
            case 0xD800..<0xDC00:
                guard consume(UInt8(ascii: "\\")), consume(UInt8(ascii: "u")), let low = hex4(), (0xDC00..<0xE000).contains(low)
                else { return nil }
                return Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
            case 0xDC00..<0xE000:
                return nil
            default:
                return Unicode.Scalar(high)
            }
        }

        mutating func hex4() -> UInt32? {
            guard at + 4 <= bytes.count else { return nil }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[at]
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
                default: return nil
                }
                value = value << 4 | UInt32(digit)
                at += 1
            }
            return value
        }

        /// An integer with no fraction or exponent that fits in `Int`.
        mutating func integer() -> Int? {
            let start = at
            guard let isInteger = number(), isInteger else { return nil }
            return Int(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<at]), as: UTF8.self))
        }

        /// Steps over a number in JSON's grammar; returns whether it was an integer, nil if malformed.
        mutating func number() -> Bool? {
            _ = consume(UInt8(ascii: "-"))
            guard at < bytes.count else { return nil }
            if bytes[at] == UInt8(ascii: "0") {
                at += 1
            } else {
                guard digits() else { return nil }
            }
            var isInteger = true
            if consume(UInt8(ascii: ".")) {
                guard digits() else { return nil }
                isInteger = false
            }
            if at < bytes.count, bytes[at] | 0x20 == UInt8(ascii: "e") {
                at += 1
                if !consume(UInt8(ascii: "+")) { _ = consume(UInt8(ascii: "-")) }
                guard digits() else { return nil }
                isInteger = false
            }
            return isInteger
        }

        /// One or more decimal digits.
        mutating func digits() -> Bool {
            let start = at
            while at < bytes.count, bytes[at] &- UInt8(ascii: "0") < 10 { at += 1 }
            return at > start
        }

        /// Steps over any JSON value, checking its grammar.
        mutating func skipValue(depth: Int) -> Bool {
            guard depth < 64, at < bytes.count else { return false }
            switch bytes[at] {
            case UInt8(ascii: "\""):
                return skipString()
            case UInt8(ascii: "{"):
                at += 1
                skipWhitespace()
                if consume(UInt8(ascii: "}")) { return true }
                while true {
                    skipWhitespace()
                    guard skipString() else { return false }
                    skipWhitespace()
                    guard consume(UInt8(ascii: ":")) else { return false }
                    skipWhitespace()
                    guard skipValue(depth: depth + 1) else { return false }
                    skipWhitespace()
                    if consume(UInt8(ascii: "}")) { return true }
                    guard consume(UInt8(ascii: ",")) else { return false }
                }
            case UInt8(ascii: "["):
                at += 1
                skipWhitespace()
                if consume(UInt8(ascii: "]")) { return true }
                while true {
                    skipWhitespace()
                    guard skipValue(depth: depth + 1) else { return false }
                    skipWhitespace()
                    if consume(UInt8(ascii: "]")) { return true }
                    guard consume(UInt8(ascii: ",")) else { return false }
                }
            case UInt8(ascii: "t"): return literal("true")
            case UInt8(ascii: "f"): return literal("false")
            case UInt8(ascii: "n"): return literal("null")
            default: return number() != nil
            }
        }

        /// Steps over a string, checking its escapes and that it holds no raw control character.
        mutating func skipString() -> Bool {
            guard consume(UInt8(ascii: "\"")) else { return false }
            while at < bytes.count {
                let byte = bytes[at]
                at += 1
                switch byte {
                case UInt8(ascii: "\""): return true
                case UInt8(ascii: "\\"):
                    guard at < bytes.count else { return false }
                    let escape = bytes[at]
                    at += 1
                    switch escape {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                        UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                        break
                    case UInt8(ascii: "u"):
                        guard unicodeEscape() != nil else { return false }
                    default: return false
                    }
                case 0..<0x20: return false
                case 0x80...: sawNonASCII = true
                default: break
                }
            }
            return false
        }

        mutating func literal(_ word: StaticString) -> Bool {
            let count = word.utf8CodeUnitCount
            guard at + count <= bytes.count else { return false }
            let text = UnsafeRawBufferPointer(start: word.utf8Start, count: count)
            guard UnsafeRawBufferPointer(rebasing: bytes[at..<at + count]).elementsEqual(text) else { return false }
            at += count
            return true
        }

        mutating func skipWhitespace() {
            while at < bytes.count, EnvelopeDecoder.isWhitespace(bytes[at]) { at += 1 }
        }

        mutating func consume(_ byte: UInt8) -> Bool {
            guard at < bytes.count, bytes[at] == byte else { return false }
            at += 1
            return true
        }
    }
}
