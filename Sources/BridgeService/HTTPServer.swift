import BridgeAPI
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import OpenAPIHummingbird
import OpenAPIRuntime

/// Builds the HTTP application: the generated OpenAPI routes with the bridge's handlers behind three
/// middlewares (error mapping outermost, then API-key auth, then body limit + idempotency), plus
/// request logging with a request id.
enum HTTPServer {
    static let bodyLimit = 64 * 1024

    static func makeApplication(
        dependencies: BridgeAPIHandler.Dependencies,
        apiKeys: [BridgeConfiguration.APIKey],
        host: String,
        port: Int,
        limits: ConnectionLimits = .init(),
        onListening: @escaping @Sendable (Int) -> Void
    ) throws -> Application<RouterResponder<BasicRequestContext>> {
        let router = Router()
        router.middlewares.add(LogRequestsMiddleware(.info))
        router.middlewares.add(FallbackErrorMiddleware(routes: RouteTable(openAPIYAML: OpenAPISpec.yaml)))
        router.middlewares.add(ConsoleHeadersMiddleware())
        let handler = BridgeAPIHandler(dependencies: dependencies)
        guard let root = URL(string: "/") else { throw BridgeError.internalFailure }
        try handler.registerHandlers(
            on: router,
            serverURL: root,
            configuration: Configuration(
                dateTranscoder: RFC3339DateTranscoder(),
                jsonEncodingOptions: [.sortedKeys, .withoutEscapingSlashes]
            ),
            middlewares: [
                ErrorMappingMiddleware(logger: dependencies.logger),
                AuthMiddleware(keys: apiKeys),
                RequestBodyMiddleware(
                    store: dependencies.store, deferred: dependencies.deferred, limit: bodyLimit, ttl: .seconds(86_400), now: dependencies.now,
                    logger: dependencies.logger
                ),
            ]
        )
        return Application(
            router: router,
            server: .http1(
                configuration: .init(additionalChannelHandlers: [
                    RequestHeadDeadlineHandler(headerTimeout: limits.headerTimeout, idleTimeout: limits.idleTimeout)
                ])
            ),
            configuration: .init(
                address: .hostname(host, port: port), serverName: "talking-photo-bridge",
                availableConnectionsDelegate: MaximumAvailableConnections(limits.maxConnections)
            ),
            onServerRunning: { channel in onListening(channel.localAddress?.port ?? port) },
            logger: dependencies.logger
        )
    }
}
