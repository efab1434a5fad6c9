import BridgeAPI
import BridgeCore
import BridgeStore
import Foundation
import Logging
import TalkingPhoto
import Webhooks

/// Implements the generated `APIProtocol`; one extension per tag. Handlers validate what the
/// generated decoding cannot (lengths, URL rules, id formats), call the store or the upstream, and
/// throw ``BridgeError`` for everything else; they never build error bodies.
struct BridgeAPIHandler: APIProtocol {
    struct Dependencies: Sendable {
        var store: any APIStore
        var accounts: UpstreamAccounts
        var destinations: DestinationPolicy
        var pollInterval: Duration
        var secretGrace: Duration
        var readiness: ReadinessProbe
        var metrics: MetricsEndpoint
        var now: @Sendable () -> Date
        var logger: Logger
        var limits: TenantLimits = .none
        var longPolls = LongPollGate(maximum: 16)
        /// Writes kept in memory while the database refuses them (an accepted render).
        var deferred: DeferredWrites
    }

    let dependencies: Dependencies
    var store: any APIStore { dependencies.store }

    /// The upstream client of the calling key's account (its own token, or the shared one).
    func upstream(for tenant: String) throws -> TalkingPhotoClient {
        guard let account = dependencies.accounts.account(for: tenant) else {
            throw BridgeError.upstreamUnreachable("no upstream account is configured for this key")
        }
        return account.client
    }
    var now: Date { dependencies.now() }

    /// Page sizes: default 100, at most 500 (the spec's bounds, checked here because generated
    /// decoding does not enforce minimum/maximum).
    static func pageSize(_ limit: Int?) throws -> Int {
        guard let limit else { return 100 }
        guard (1...500).contains(limit) else { throw BridgeError.badRequest("limit must be between 1 and 500") }
        return limit
    }

    static func checkLength(_ value: String?, _ name: String, max: Int, allowEmpty: Bool = false) throws {
        guard let value else { return }
        if !allowEmpty, value.isEmpty { throw BridgeError.badRequest("\(name) must not be empty") }
        if value.count > max { throw BridgeError.badRequest("\(name) is longer than \(max) characters") }
    }

    static func checkVideoID(_ id: String) throws {
        try checkLength(id, "video_id", max: 128)
        guard id.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) else {
            throw BridgeError.badRequest("video_id must be printable ASCII without spaces")
        }
    }

    static func checkSubscriptionID(_ id: String) throws {
        guard Identifier.isValid(id, prefix: "sub") else { throw BridgeError.notFound("no such subscription") }
    }
}

extension BridgeCore.EventType {
    init(_ type: Components.Schemas.EventType) throws {
        guard let value = BridgeCore.EventType(rawValue: type.rawValue) else { throw BridgeError.badRequest("unknown event type") }
        self = value
    }

    var api: Components.Schemas.EventType {
        Components.Schemas.EventType(rawValue: rawValue) ?? .ping  // every case is in the spec (a test checks)
    }
}
