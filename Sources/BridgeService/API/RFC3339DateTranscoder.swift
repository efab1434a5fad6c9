import BridgeCore
import Foundation
import OpenAPIRuntime

/// Dates in responses: RFC 3339 UTC with milliseconds (like the callback payloads). Dates in
/// requests: RFC 3339 with or without fractional seconds, any offset.
struct RFC3339DateTranscoder: DateTranscoder {
    struct InvalidDate: Error, CustomStringConvertible {
        let text: String
        var description: String { "not an RFC 3339 date-time: \(text)" }
    }

    func encode(_ date: Date) throws -> String { Timestamp.iso8601(date) }

    func decode(_ text: String) throws -> Date {
        for options: ISO8601DateFormatter.Options in [[.withInternetDateTime, .withFractionalSeconds], [.withInternetDateTime]] {
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = options
            if let date = formatter.date(from: text) { return date }
        }
        throw InvalidDate(text: text)
    }
}
