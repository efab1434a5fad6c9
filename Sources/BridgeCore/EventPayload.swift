public import Foundation

/// The body of a callback, built once when the event is recorded and sent byte for byte on every
/// attempt (the signature covers these exact bytes).
///
/// `{"type":"video.finished","timestamp":"2026-11-24T20:00:00.123Z",
///   "data":{"video_id":"…","status":"finished","previous_status":"in_progressing","video_url":"…"}}`
public enum EventPayload {
    public static func video(
        type: EventType,
        timestamp: Date,
        videoID: String,
        status: String,
        previousStatus: String?,
        videoURL: String?
    ) -> String {
        var data = "{\"video_id\":\(JSONString.quote(videoID)),\"status\":\(JSONString.quote(status))"
        data += ",\"previous_status\":\(previousStatus.map(JSONString.quote) ?? "null")"
        if let videoURL { data += ",\"video_url\":\(JSONString.quote(videoURL))" }
        data += "}"
        return envelope(type: type, timestamp: timestamp, data: data)
    }

    public static func ping(timestamp: Date, subscriptionID: String) -> String {
        envelope(type: .ping, timestamp: timestamp, data: "{\"subscription_id\":\(JSONString.quote(subscriptionID))}")
    }

    private static func envelope(type: EventType, timestamp: Date, data: String) -> String {
        "{\"type\":\(JSONString.quote(type.rawValue)),\"timestamp\":\"\(Timestamp.iso8601(timestamp))\",\"data\":\(data)}"
    }
}

/// RFC 3339 UTC timestamps with milliseconds, as the contract's examples show.
public enum Timestamp {
    public static func iso8601(_ date: Date) -> String {
        let millisecondsSinceEpoch = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        var seconds = time_t(millisecondsSinceEpoch / 1000)
        let milliseconds = Int(millisecondsSinceEpoch % 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
            Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
            Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), milliseconds
        )
    }
}

/// Minimal JSON string quoting (RFC 8259 §7).
public enum JSONString {
    public static func quote(_ text: String) -> String {
        var out = "\""
        out.reserveCapacity(text.utf8.count + 2)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let s where s.value < 0x20:
                out += String(format: "\\u%04x", s.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
        return out
    }
}
