// Generated from openapi/bridge.yaml by swift-openapi-generator (build plugin); nothing hand-written
// lives here beyond this note. Handlers implementing `APIProtocol` are in BridgeService.

/// The spec the API is generated from, as compiled in (SwiftPM `embedInCode`).
public enum OpenAPISpec {
    public static var yaml: String { String(decoding: PackageResources.openapi_yaml, as: UTF8.self) }
}
