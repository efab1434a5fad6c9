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

    /// `subscription.disabled`: which subscription, and why (`gone`, `failing`, `request`, with the
    /// words the subscription's `disabled_reason` holds).
    public static func subscriptionDisabled(
        timestamp: Date, subscriptionID: String, url: String, reason: String, message: String, failingSince: Date?
    ) -> String {
        var data = subscription(subscriptionID, url)
        data += ",\"reason\":\(JSONString.quote(reason)),\"message\":\(JSONString.quote(message))"
        if let failingSince { data += ",\"failing_since\":\"\(Timestamp.iso8601(failingSince))\"" }
        return envelope(type: .subscriptionDisabled, timestamp: timestamp, data: data + "}")
    }

    /// `subscription.recovered`: its first success since it started failing at `failingSince`.
    public static func subscriptionRecovered(timestamp: Date, subscriptionID: String, url: String, failingSince: Date) -> String {
        let data = subscription(subscriptionID, url) + ",\"failing_since\":\"\(Timestamp.iso8601(failingSince))\"}"
        return envelope(type: .subscriptionRecovered, timestamp: timestamp, data: data)
    }

    /// The last attempt of a delivery, as `delivery.failed` reports it.
    public struct LastAttempt: Sendable {
        public var attemptedAt: Date
        public var statusCode: Int?
        public var error: String?
        public var response: String?

        public init(attemptedAt: Date, statusCode: Int?, error: String?, response: String?) {
            self.attemptedAt = attemptedAt
            self.statusCode = statusCode
            self.error = error
            self.response = response
        }
    }

    /// `delivery.failed`: a delivery of `eventID` to the subscription ran out of retries.
    public static func deliveryFailed(
        timestamp: Date, subscriptionID: String, url: String, deliveryID: Int64, eventID: String, eventType: String, videoID: String?,
        attempts: Int, last: LastAttempt
    ) -> String {
        var data = subscription(subscriptionID, url)
        data += ",\"delivery_id\":\"dlv_\(deliveryID)\",\"event_id\":\(JSONString.quote(eventID))"
        data += ",\"event_type\":\(JSONString.quote(eventType)),\"video_id\":\(videoID.map(JSONString.quote) ?? "null")"
        data += ",\"attempts\":\(attempts),\"last_attempt\":{\"attempted_at\":\"\(Timestamp.iso8601(last.attemptedAt))\""
        data += ",\"status_code\":\(last.statusCode.map(String.init) ?? "null"),\"error\":\(last.error.map(JSONString.quote) ?? "null")"
        data += ",\"response\":\(last.response.map(JSONString.quote) ?? "null")}}"
        return envelope(type: .deliveryFailed, timestamp: timestamp, data: data)
    }

    private static func subscription(_ id: String, _ url: String) -> String {
        "{\"subscription_id\":\(JSONString.quote(id)),\"url\":\(JSONString.quote(url))"
    }

    private static func envelope(type: EventType, timestamp: Date, data: String) -> String {
        "{\"type\":\(JSONString.quote(type.rawValue)),\"timestamp\":\"\(Timestamp.iso8601(timestamp))\",\"data\":\(data)}"
    }
}

/// RFC 3339 UTC timestamps with milliseconds, as the contract's examples show.
public enum Timestamp {
    /// `2026-12-02T04:05:06.789Z`: UTC, milliseconds, truncated toward the past. Written digit by digit
    /// into a 24-byte string: `String(format:)` cost 11 % of the CPU of an API read in api-bench (every
    /// date of every response and callback payload goes through here).
    public static func iso8601(_ date: Date) -> String {
        // To the nearest microsecond first, so a date made from whole milliseconds (x.913 is not exact
        // in binary) keeps its millisecond, then truncated.
        let microseconds = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
        let (days, millisecondOfDay) = microseconds.floorDivided(by: 1000).0.floorDivided(by: 86_400_000)
        let (year, month, day) = civil(fromDays: days)
        let secondOfDay = Int(millisecondOfDay / 1000)
        return String(unsafeUninitializedCapacity: 24) { buffer in
            var index = 0
            func put(_ value: Int, width: Int, then separator: Unicode.Scalar) {
                var rest = max(0, value)
                for position in stride(from: index + width - 1, through: index, by: -1) {
                    buffer[position] = UInt8(ascii: "0") + UInt8(rest % 10)
                    rest /= 10
                }
                buffer[index + width] = UInt8(ascii: separator)
                index += width + 1
            }
            put(Int(year), width: 4, then: "-")
            put(month, width: 2, then: "-")
            put(day, width: 2, then: "T")
            put(secondOfDay / 3600, width: 2, then: ":")
            put(secondOfDay / 60 % 60, width: 2, then: ":")
            put(secondOfDay % 60, width: 2, then: ".")
            put(Int(millisecondOfDay % 1000), width: 3, then: "Z")
            return index
        }
    }

    /// Year, month (1-12) and day (1-31) of a day count since 1970-01-01 in the proleptic Gregorian
    /// calendar (Howard Hinnant's `civil_from_days`).
    static func civil(fromDays days: Int64) -> (year: Int64, month: Int, day: Int) {
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = Int(dayOfYear - (153 * monthIndex + 2) / 5 + 1)
        let month = Int(monthIndex < 10 ? monthIndex + 3 : monthIndex - 9)
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

extension Int64 {
    /// Quotient rounded toward negative infinity and a remainder in `0..<divisor`.
    fileprivate func floorDivided(by divisor: Int64) -> (Int64, Int64) {
        let remainder = self % divisor
        return remainder < 0 ? (self / divisor - 1, remainder + divisor) : (self / divisor, remainder)
    }
}

/// Minimal JSON string quoting (RFC 8259 §7).
public enum JSONString {
    public static func quote(_ text: String) -> String {
        // Most text (ids, statuses, URLs) needs no escape: copied whole.
        if !text.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            return "\"" + text + "\""
        }
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
