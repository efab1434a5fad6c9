/// Why a transfer produced no response. Stable and small on purpose: callers record
/// ``kind`` next to delivery attempts and metrics, and choose retries from it.
public enum CurlError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The whole-transfer budget ran out.
    case timeout
    /// The TCP (or TLS) connection could not be made within the connect budget.
    case connectTimeout
    /// The host name did not resolve.
    case dns(host: String)
    /// Nothing listened on the address, or the route was refused.
    case connectionRefused
    /// The peer closed or reset the connection mid-exchange, or sent nothing.
    case connectionReset
    /// TLS handshake or certificate verification failed.
    case tls(String)
    /// The response body passed the request's byte cap; the transfer was cut.
    case bodyTooLarge(limit: Int)
    /// The destination check vetoed the address curl was about to use.
    case blockedDestination(address: String)
    /// The URL is malformed or uses a scheme other than http/https.
    case invalidURL(String)
    /// The caller's task was cancelled; the transfer was aborted.
    case cancelled
    /// The transport was shut down before the transfer finished.
    case shutdown
    /// Any other libcurl failure, with curl's own code and text.
    case other(code: Int, message: String)

    /// A short snake_case label for logs, metrics and stored attempts.
    public var kind: String {
        switch self {
        case .timeout: "timeout"
        case .connectTimeout: "connect_timeout"
        case .dns: "dns"
        case .connectionRefused: "connection_refused"
        case .connectionReset: "connection_reset"
        case .tls: "tls"
        case .bodyTooLarge: "body_too_large"
        case .blockedDestination: "blocked_destination"
        case .invalidURL: "invalid_url"
        case .cancelled: "cancelled"
        case .shutdown: "shutdown"
        case .other: "transport"
        }
    }

    public var description: String {
        switch self {
        case .timeout: "request timed out"
        case .connectTimeout: "connect timed out"
        case .dns(let host): "could not resolve host \(host)"
        case .connectionRefused: "connection refused"
        case .connectionReset: "connection closed or reset by peer"
        case .tls(let message): "TLS failure: \(message)"
        case .bodyTooLarge(let limit): "response body larger than \(limit) bytes"
        case .blockedDestination(let address): "destination \(address) is not allowed"
        case .invalidURL(let reason): "invalid URL: \(reason)"
        case .cancelled: "request cancelled"
        case .shutdown: "transport shut down"
        case .other(let code, let message): "curl error \(code): \(message)"
        }
    }
}
