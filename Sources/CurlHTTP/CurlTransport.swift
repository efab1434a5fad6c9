import CCurl
public import Logging

/// The product's HTTP client: libcurl's multi interface on one dedicated thread.
///
/// Hundreds of requests can be in flight at once; connections are pooled and reused per host.
/// Each request carries its own total and connect timeouts, body cap and destination check.
/// Cancelling the calling task aborts the transfer at once.
public final class CurlTransport: HTTPTransport {
    public struct Configuration: Sendable {
        /// Idle connections kept for reuse across all hosts.
        public var maxCachedConnections: Int
        /// Open connections per host; further requests wait in curl's queue. 0 = no limit.
        public var maxConnectionsPerHost: Int
        /// Sent as `User-Agent` unless the request sets one.
        public var userAgent: String

        public init(maxCachedConnections: Int = 256, maxConnectionsPerHost: Int = 0, userAgent: String = "talking-photo-bridge") {
            self.maxCachedConnections = maxCachedConnections
            self.maxConnectionsPerHost = maxConnectionsPerHost
            self.userAgent = userAgent
        }
    }

    private let loop: CurlMultiLoop
    private let configuration: Configuration

    public init(configuration: Configuration = .init(), logger: Logger = Logger(label: "bridge.curl")) throws(CurlError) {
        CurlGlobal.ensureInitialized()
        self.configuration = configuration
        self.loop = try CurlMultiLoop(configuration: configuration, logger: logger)
    }

    deinit {
        loop.shutdown()
    }

    public func send(_ request: OutboundRequest) async throws(CurlError) -> OutboundResponse {
        var request = request
        if request.headers["User-Agent"] == nil {
            request.headers.add(name: "User-Agent", value: configuration.userAgent)
        }
        let transfer = Transfer(request: request)
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                transfer.continuation = continuation
                loop.submit(transfer)
            }
        } onCancel: {
            loop.cancel(transfer)
        }
        return try result.get()
    }

    /// Fails whatever is still in flight with ``CurlError/shutdown`` and stops the loop thread.
    public func shutdown() {
        loop.shutdown()
    }

    /// The libcurl version string, for start-up logs.
    public static var libcurlVersion: String { String(cString: curl_version()) }
}

/// `curl_global_init` must run once before any other curl call and is not thread-safe.
private enum CurlGlobal {
    static let initialized: Bool = {
        curl_global_init(Int(CURL_GLOBAL_ALL)) == CURLE_OK
    }()

    static func ensureInitialized() { _ = initialized }
}
