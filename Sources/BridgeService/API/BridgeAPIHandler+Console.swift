import BridgeAPI
import Foundation
import HTTPTypes
import Hummingbird
import OpenAPIRuntime

/// The operator console: a page, its scripts and its style sheet, compiled into the binary (SwiftPM
/// `embedInCode`) and served with a strict Content-Security-Policy and an ETag.
enum ConsoleAssets {
    struct File: Sendable {
        let bytes: [UInt8]
        /// `"<fnv-1a 64 of the bytes>"`: the same bytes always have the same tag.
        let etag: String

        init(_ bytes: [UInt8]) {
            self.bytes = bytes
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in bytes {
                hash ^= UInt64(byte)
                hash = hash &* 0x0000_0100_0000_01b3
            }
            etag = "\"\(String(hash, radix: 16))-\(bytes.count)\""
        }

        /// Whether an `If-None-Match` value names this file's tag (a list, weak tags, or `*`).
        func matches(_ ifNoneMatch: String) -> Bool {
            ifNoneMatch.split(separator: ",").contains { candidate in
                var tag = candidate.trimmingCharacters(in: .whitespaces)
                if tag.hasPrefix("W/") { tag.removeFirst(2) }
                return tag == "*" || tag == etag
            }
        }
    }

    static let page = File(PackageResources.index_html)
    /// `/console/<name>`: the scripts and the style sheet (the spec's `asset` enum).
    static let assets: [String: File] = [
        "app.js": File(PackageResources.app_js), "api.js": File(PackageResources.api_js), "views.js": File(PackageResources.views_js),
        "console.css": File(PackageResources.console_css),
    ]

    /// Only this origin: no inline script or style, no frames, no form posts, fetches to the bridge alone.
    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        + "form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
    /// Kept by the browser, revalidated on every load: a new binary's console shows at once, an
    /// unchanged one costs a 304.
    static let cacheControl = "no-cache"
}

extension ConsoleAssets {
    /// The file a console path names (`/console`, `/console/<asset>`), if any.
    static func file(forPath path: String) -> File? {
        if path == "/console" { return page }
        guard path.hasPrefix("/console/") else { return nil }
        return assets[String(path.dropFirst("/console/".count))]
    }
}

/// The console's response headers, and its `304`s. The generated handlers return the bytes; this
/// router middleware sets the headers itself, because the OpenAPI runtime percent-encodes response
/// header values (a CSP or an ETag with quotes would arrive mangled and be ignored by the browser).
struct ConsoleHeadersMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.method == .get || request.method == .head, let file = ConsoleAssets.file(forPath: request.uri.path) else {
            return try await next(request, context)
        }
        var headers = HTTPFields()
        headers[.eTag] = file.etag
        if let tag = request.headers[.ifNoneMatch], file.matches(tag) {
            return Response(status: .notModified, headers: headers)
        }
        var response = try await next(request, context)
        guard response.status == .ok else { return response }
        response.headers[.eTag] = file.etag
        response.headers[.cacheControl] = ConsoleAssets.cacheControl
        response.headers[.contentSecurityPolicy] = ConsoleAssets.contentSecurityPolicy
        response.headers[.xContentTypeOptions] = "nosniff"
        if let name = HTTPField.Name("Referrer-Policy") { response.headers[name] = "no-referrer" }
        return response
    }
}

extension BridgeAPIHandler {
    /// The page; its headers and `304`s come from ``ConsoleHeadersMiddleware``.
    func getConsole(_ input: Operations.GetConsole.Input) async throws -> Operations.GetConsole.Output {
        .ok(.init(body: .html(HTTPBody(ConsoleAssets.page.bytes))))
    }

    func getConsoleAsset(_ input: Operations.GetConsoleAsset.Input) async throws -> Operations.GetConsoleAsset.Output {
        let name = input.path.asset.rawValue
        guard let file = ConsoleAssets.assets[name] else { throw BridgeError.notFound("no such console file") }
        let body = HTTPBody(file.bytes)
        return .ok(.init(body: name.hasSuffix(".css") ? .textCss(body) : .textJavascript(body)))
    }
}
