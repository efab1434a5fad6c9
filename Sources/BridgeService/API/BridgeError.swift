import Foundation

/// Every failure a handler reports. How each becomes an HTTP answer (status, native JSON or the
/// upstream envelope) is decided in one place, `BridgeError+HTTP.swift`; handlers only throw.
enum BridgeError: Error, Sendable {
    case badRequest(String)
    case unauthorized
    case notFound(String)
    /// The path exists with other methods (405 with `Allow`).
    case methodNotAllowed(allowed: [String])
    case conflict(String)
    case payloadTooLarge(limit: Int)
    /// A per-key limit (429 `limit_exceeded`); `setting` names the variable that sets it.
    case limitExceeded(setting: String, what: String)
    case unprocessable(String)
    /// The upstream could not be reached (proxy: 502).
    case upstreamUnreachable(String)
    /// The upstream refused: its status and body pass through unchanged (proxy routes).
    case upstreamAnswered(status: Int, contentType: String?, body: Data)
    /// The database cannot take writes right now (disk full, read-only, busy).
    case unavailable(String)
    /// The upstream accepted a render that the database could not record yet; it is kept in memory
    /// and recorded as soon as the store allows (503; the `Idempotency-Key` stays claimed).
    case acceptedNotRecorded(videoID: String)
    case internalFailure

    /// The one answer for a video this key may not see: never tracked, unknown upstream, or another
    /// key's render all read the same.
    static let noSuchVideo = "no such video"

    static func acceptedNotRecordedMessage(_ videoID: String) -> String {
        let first = "the upstream accepted the render as video " + videoID
        return first + "; the database cannot record it yet, it is tracked as soon as it can. Retry with the same Idempotency-Key for the response"
    }

    /// What each per-key limit's error says, by its setting.
    static func limitDescription(_ setting: String) -> String {
        switch setting {
        case "BRIDGE_MAX_SUBSCRIPTIONS": "this key has as many subscriptions as it may have; delete one first"
        case "BRIDGE_MAX_TRACKED_VIDEOS": "this key tracks as many unfinished videos as it may"
        case "BRIDGE_MAX_LONG_POLLS": "this key has as many long polls open as it may; wait for one to return"
        default: "limit reached"
        }
    }
}
