// Generated from openapi/bridge.yaml by swift-openapi-generator (build plugin); nothing hand-written
// lives here beyond this note. Handlers implementing `APIProtocol` are in BridgeService.
