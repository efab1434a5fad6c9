import Crypto
import Foundation
import HTTPTypes
import OpenAPIRuntime

/// Bearer API keys from `BRIDGE_API_KEYS`. Every key is compared (in constant time) on every request,
/// so neither the comparison nor the number of keys tried leaks which prefix matched.
struct AuthMiddleware: ServerMiddleware {
    /// Operations that need no key: liveness, readiness, metrics, the spec, the console page (which asks for a key itself).
    static let open: Set<String> = ["getHealth", "getReadiness", "getMetrics", "getOpenAPIDocument", "getConsole", "getConsoleAsset"]

    private let keys: [(name: String, digest: [UInt8])]

    init(keys: [BridgeConfiguration.APIKey]) {
        self.keys = keys.map { ($0.name, Array(SHA256.hash(data: Data($0.key.utf8)))) }
    }

    func tenant(for authorization: String?) -> String? {
        guard let authorization, authorization.count > 7,
            authorization.prefix(7).lowercased() == "bearer "
        else { return nil }
        let presented = Array(SHA256.hash(data: Data(authorization.dropFirst(7).utf8)))
        var match: String?
        for key in keys {
            var difference: UInt8 = 0
            for (a, b) in zip(key.digest, presented) { difference |= a ^ b }
            if difference == 0 { match = key.name }
        }
        return match
    }

    func intercept(
        _ request: HTTPRequest,
        body: HTTPBody?,
        metadata: ServerRequestMetadata,
        operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        if Self.open.contains(operationID) { return try await next(request, body, metadata) }
        guard let tenant = tenant(for: request.headerFields[.authorization]) else { throw BridgeError.unauthorized }
        return try await Caller.$tenant.withValue(tenant) { try await next(request, body, metadata) }
    }
}
