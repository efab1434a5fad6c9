import Foundation
import HTTPTypes
import Hummingbird

/// Gives the answers Hummingbird produces itself — no such route, a known route with the wrong
/// method, an unreadable request — the same JSON error body as every handler error: native routes
/// `{"error":{…}}`, the proxy's `/v1/v2v/…` paths the upstream envelope. A wrong method is `405`
/// with `Allow`, decided from the routes the spec declares.
struct FallbackErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let routes: RouteTable

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            let path = request.uri.path
            let bridgeError: BridgeError
            if error.status == .notFound {
                let allowed = routes.methods(forPath: path)
                bridgeError =
                    allowed.isEmpty || allowed.contains(request.method.rawValue)
                    ? .notFound("no route for \(path)") : .methodNotAllowed(allowed: allowed)
            } else if error.status == .contentTooLarge {
                bridgeError = .payloadTooLarge(limit: HTTPServer.bodyLimit)
            } else if error.status.code < 500 {
                bridgeError = .badRequest(error.body ?? "invalid request")
            } else {
                throw error
            }
            let (head, body) = ErrorMappingMiddleware.rendered(bridgeError, proxy: path.hasPrefix("/v1/v2v/"))
            return Response(status: head.status, headers: head.headerFields, body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
    }
}

/// The paths and methods the OpenAPI document declares (path templates with `{parameters}`).
struct RouteTable: Sendable {
    private var routes: [(segments: [String], methods: [String])] = []

    /// Reads `paths:` from the spec's YAML: two-space-indented `/path:` keys, each followed by
    /// four-space-indented method keys. A test checks that every operation of the spec is found.
    init(openAPIYAML yaml: String) {
        let methods: Set<String> = ["get", "put", "post", "delete", "patch", "head", "options"]
        var inPaths = false
        for line in yaml.split(separator: "\n", omittingEmptySubsequences: false) {
            if line == "paths:" {
                inPaths = true
                continue
            }
            guard inPaths else { continue }
            if let first = line.first, first != " " { break }
            if line.hasPrefix("  /"), !line.hasPrefix("   "), line.hasSuffix(":") {
                routes.append((Self.segments(String(line.dropFirst(2).dropLast())), []))
            } else if line.hasPrefix("    "), !line.hasPrefix("     "), line.hasSuffix(":"), !routes.isEmpty {
                let key = line.trimmingCharacters(in: .whitespaces).dropLast()
                if methods.contains(String(key)) { routes[routes.count - 1].methods.append(key.uppercased()) }
            }
        }
    }

    /// The methods declared for the route `path` matches, in spec order; empty when none matches.
    func methods(forPath path: String) -> [String] {
        let parts = Self.segments(path)
        let match = routes.first { route in
            route.segments.count == parts.count
                && zip(route.segments, parts).allSatisfy { template, part in template.hasPrefix("{") || template == part }
        }
        let order = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
        return (match?.methods ?? []).sorted { (order.firstIndex(of: $0) ?? 99) < (order.firstIndex(of: $1) ?? 99) }
    }

    var count: Int { routes.reduce(0) { $0 + $1.methods.count } }

    private static func segments(_ path: String) -> [String] { path.split(separator: "/").map(String.init) }
}
