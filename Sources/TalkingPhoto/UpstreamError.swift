public import CurlHTTP
public import Foundation

/// Everything that can go wrong talking to the upstream, one case per thing a caller treats
/// differently. None of them carries the API token.
public enum UpstreamError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No HTTP answer at all (timeout, DNS, refused, reset, TLS…).
    case unreachable(CurlError)
    /// HTTP 429; `retryAfter` from the `Retry-After` header (seconds or HTTP date) when present.
    case rateLimited(retryAfter: Duration?)
    /// HTTP 5xx; `retryAfter` when the server sent one (typical with 503).
    case serverError(status: Int, retryAfter: Duration?)
    /// HTTP 4xx other than 429: the upstream refused the request. `body` is the upstream's answer
    /// as received, so a proxy can pass it through unchanged.
    case rejected(status: Int, code: Int?, message: String?, body: Data)
    /// HTTP 200 whose envelope has `code != 0`.
    case apiError(code: Int, message: String)
    /// HTTP 200 that is not JSON (an HTML error page from a proxy, say).
    case notJSON(contentType: String?)
    /// JSON cut off before its end.
    case truncated
    /// JSON that parses but is not the documented shape, or does not parse at all.
    case malformed(String)
    /// An HTTP status outside 2xx/4xx/5xx (1xx, 3xx: redirects are not followed).
    case unexpectedStatus(Int)

    /// A short snake_case label for logs and metrics.
    public var kind: String {
        switch self {
        case .unreachable(let error): "unreachable_\(error.kind)"
        case .rateLimited: "rate_limited"
        case .serverError: "server_error"
        case .rejected: "rejected"
        case .apiError: "api_error"
        case .notJSON: "not_json"
        case .truncated: "truncated"
        case .malformed: "malformed"
        case .unexpectedStatus: "unexpected_status"
        }
    }

    /// How long the upstream asked us to wait, if it did.
    public var retryAfter: Duration? {
        switch self {
        case .rateLimited(let delay), .serverError(_, let delay): delay
        default: nil
        }
    }

    public var description: String {
        switch self {
        case .unreachable(let error): "upstream unreachable: \(error)"
        case .rateLimited(let delay): "upstream rate limited (retry after \(delay.map { "\($0)" } ?? "unspecified"))"
        case .serverError(let status, _): "upstream server error \(status)"
        case .rejected(let status, let code, let message, _):
            "upstream rejected the request: HTTP \(status), code \(code.map(String.init) ?? "-"): \(message ?? "")"
        case .apiError(let code, let message): "upstream error code \(code): \(message)"
        case .notJSON(let contentType): "upstream answered non-JSON (\(contentType ?? "no content type"))"
        case .truncated: "upstream answer was truncated JSON"
        case .malformed(let reason): "upstream answer malformed: \(reason)"
        case .unexpectedStatus(let status): "upstream answered unexpected HTTP \(status)"
        }
    }
}
