// Hand-built JSON so the key order matches the upstream's (`code`, `data`, `message`;
// `video_id`, `status`, `video_url`) and large lists stay cheap.

enum JSONText {
    /// A JSON string literal, quotes included.
    static func string(_ value: String) -> String {
        var out = "\""
        out.reserveCapacity(value.utf8.count + 2)
        append(value, to: &out)
        out += "\""
        return out
    }

    /// Appends `value` as a JSON string literal's contents (no quotes). Text with nothing to escape
    /// (ids, statuses, URLs: nearly everything) is appended as it is.
    static func append(_ value: String, to out: inout String) {
        if !value.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            out += value
            return
        }
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let s where s.value < 0x20:
                let hex = String(s.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
    }

    static func video(_ video: VideoView) -> String {
        var out = ""
        append(video, to: &out)
        return out
    }

    static func append(_ video: VideoView, to out: inout String) {
        out += "{\"video_id\":\""
        append(video.id, to: &out)
        out += "\",\"status\":\""
        append(video.status, to: &out)
        if let url = video.videoURL {
            out += "\",\"video_url\":\""
            append(url, to: &out)
        }
        out += "\"}"
    }

    /// `{"code":0,"data":<data>,"message":"success"}`
    static func success(data: String) -> String {
        "{\"code\":0,\"data\":" + data + ",\"message\":\"success\"}"
    }

    /// `{"code":<code>,"data":null,"message":<message>}`
    static func failure(code: Int, message: String) -> String {
        "{\"code\":\(code),\"data\":null,\"message\":" + string(message) + "}"
    }

    static func videoList(_ videos: [VideoView]) -> String {
        var out = "["
        out.reserveCapacity(videos.count * 80 + 2)
        for (position, video) in videos.enumerated() {
            if position > 0 { out += "," }
            append(video, to: &out)
        }
        return out + "]"
    }
}

/// The `code` values the simulator answers with (documented in `docs/simulator.md`).
public enum SimulatorErrorCode {
    /// Malformed JSON, or a missing / non-string / empty / non-http(s) `audio_url` or `image_url`;
    /// a missing `video_id` on `video.get`.
    public static let invalidRequest = 40001
    /// `image_url` contains `noface`: "face area must be at least 160x160".
    public static let faceTooSmall = 40002
    /// `audio_url` contains `toolong`: "audio longer than 1 minute".
    public static let audioTooLong = 40003
    /// Missing or wrong Bearer token (HTTP 401).
    public static let invalidToken = 40100
    /// Unknown `video_id` (HTTP 404).
    public static let videoNotFound = 40401
    /// Request body over 1 MiB (HTTP 413).
    public static let bodyTooLarge = 41300
    /// Rate-limit fault (HTTP 429).
    public static let rateLimited = 42900
    /// Server-error fault with status 500.
    public static let serverError = 50000
    /// Non-zero-code fault (HTTP 200).
    public static let internalError = 50001
}
