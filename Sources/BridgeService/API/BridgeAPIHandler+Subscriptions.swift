import BridgeAPI
import BridgeCore
import BridgeStore
import Foundation
import Webhooks

extension BridgeAPIHandler {
    func createSubscription(_ input: Operations.CreateSubscription.Input) async throws -> Operations.CreateSubscription.Output {
        let tenant = try Caller.required()
        guard case .json(let request) = input.body else { throw BridgeError.badRequest("expected a JSON body") }
        let url = try validatedCallback(request.url, field: "url")
        if let videoID = request.videoId { try Self.checkVideoID(videoID) }
        try Self.checkLength(request.description, "description", max: 500, allowEmpty: true)
        let headers = try Self.customHeaders(request.headers) ?? []
        let secret = WebhookSecret.generate()
        let types = try request.events.map { try Self.eventFilter($0) } ?? nil
        let created = try await store.createSubscription(
            NewSubscription(
                tenant: tenant, url: url, eventTypes: types, videoID: request.videoId,
                description: request.description.flatMap { $0.isEmpty ? nil : $0 }, secret: secret.text, headers: headers,
                rateLimit: try Self.rateLimit(request.rateLimit).flatMap { $0 > 0 ? $0 : nil }
            ),
            now: now,
            limits: dependencies.limits
        )
        return .created(.init(body: .json(.init(value1: Self.api(created), value2: .init(secret: secret.text)))))
    }

    func listSubscriptions(_ input: Operations.ListSubscriptions.Input) async throws -> Operations.ListSubscriptions.Output {
        let tenant = try Caller.required()
        let limit = try Self.pageSize(input.query.limit)
        if let cursor = input.query.cursor, !Identifier.isValid(cursor, prefix: "sub") {
            throw BridgeError.badRequest("invalid cursor")
        }
        let page = try await store.subscriptions(tenant: tenant, after: input.query.cursor, limit: limit)
        return .ok(.init(body: .json(.init(data: page.map(Self.api), nextCursor: page.count == limit ? page.last?.id : nil))))
    }

    func getSubscription(_ input: Operations.GetSubscription.Input) async throws -> Operations.GetSubscription.Output {
        await .ok(.init(body: .json(Self.api(try subscription(input.path.subscriptionId)))))
    }

    func updateSubscription(_ input: Operations.UpdateSubscription.Input) async throws -> Operations.UpdateSubscription.Output {
        let tenant = try Caller.required()
        let id = input.path.subscriptionId
        guard case .json(let change) = input.body else { throw BridgeError.badRequest("expected a JSON body") }
        _ = try await subscription(id)
        let url = try change.url.map { try validatedCallback($0, field: "url") }
        try Self.checkLength(change.description, "description", max: 500, allowEmpty: true)
        let types: [EventType]? = try change.events.map { try Self.eventFilter($0) ?? [] }
        let update = SubscriptionChange(
            url: url, eventTypes: types, description: change.description, headers: try Self.customHeaders(change.headers),
            rateLimit: try Self.rateLimit(change.rateLimit)
        )
        if !update.isEmpty {
            _ = try await store.updateSubscription(tenant: tenant, id: id, change: update, now: now)
        }
        if let enabled = change.enabled {
            try await store.setSubscriptionEnabled(tenant: tenant, id: id, enabled: enabled, now: now)
        }
        return await .ok(.init(body: .json(Self.api(try subscription(id)))))
    }

    func deleteSubscription(_ input: Operations.DeleteSubscription.Input) async throws -> Operations.DeleteSubscription.Output {
        let tenant = try Caller.required()
        try Self.checkSubscriptionID(input.path.subscriptionId)
        guard try await store.deleteSubscription(tenant: tenant, id: input.path.subscriptionId) else {
            throw BridgeError.notFound("no such subscription")
        }
        return .noContent(.init())
    }

    func rotateSubscriptionSecret(_ input: Operations.RotateSubscriptionSecret.Input) async throws
        -> Operations.RotateSubscriptionSecret.Output
    {
        let tenant = try Caller.required()
        let id = input.path.subscriptionId
        try Self.checkSubscriptionID(id)
        let secret = WebhookSecret.generate()
        guard try await store.rotateSecret(tenant: tenant, subscriptionID: id, newSecret: secret.text, grace: dependencies.secretGrace, now: now)
        else { throw BridgeError.notFound("no such subscription") }
        return await .ok(.init(body: .json(.init(value1: Self.api(try subscription(id)), value2: .init(secret: secret.text)))))
    }

    func testSubscription(_ input: Operations.TestSubscription.Input) async throws -> Operations.TestSubscription.Output {
        let tenant = try Caller.required()
        try Self.checkSubscriptionID(input.path.subscriptionId)
        guard let event = try await store.ping(tenant: tenant, subscriptionID: input.path.subscriptionId, now: now) else {
            throw BridgeError.notFound("no such subscription")
        }
        return .accepted(.init(body: .json(Self.api(event))))
    }

    func replaySubscription(_ input: Operations.ReplaySubscription.Input) async throws -> Operations.ReplaySubscription.Output {
        let tenant = try Caller.required()
        try Self.checkSubscriptionID(input.path.subscriptionId)
        guard case .json(let request) = input.body else { throw BridgeError.badRequest("expected a JSON body") }
        guard let replayed = try await store.replay(tenant: tenant, subscriptionID: input.path.subscriptionId, since: request.since, now: now)
        else { throw BridgeError.notFound("no such subscription") }
        return .accepted(.init(body: .json(.init(queued: replayed.queued, more: replayed.more))))
    }

    // MARK: - Helpers

    private func subscription(_ id: String) async throws -> Subscription {
        let tenant = try Caller.required()
        try Self.checkSubscriptionID(id)
        guard let found = try await store.subscription(tenant: tenant, id: id) else { throw BridgeError.notFound("no such subscription") }
        return found
    }

    /// Custom headers as given (in name order), or a 400 saying what is wrong with them.
    static func customHeaders(_ given: Components.Schemas.CustomHeaders?) throws -> [CustomHeader]? {
        guard let given else { return nil }
        let headers = given.additionalProperties.map { CustomHeader(name: $0.key, value: $0.value) }.sorted { $0.name < $1.name }
        if let problem = CustomHeader.problem(with: headers) { throw BridgeError.badRequest("headers: " + problem) }
        return headers
    }

    /// A `rate_limit` as given (0: none), or a 400 when out of range.
    static func rateLimit(_ given: Int?) throws -> Int? {
        guard let given else { return nil }
        guard given == 0 || RateLimit(perSecond: given) != nil else {
            throw BridgeError.badRequest("rate_limit must be 0 (no limit) to \(RateLimit.maximum) callbacks per second")
        }
        return given
    }

    /// An event filter: nil (every type) for an empty list; duplicates removed, order kept.
    static func eventFilter(_ types: [Components.Schemas.EventType]) throws -> [EventType]? {
        guard !types.isEmpty else { return nil }
        var seen = Set<EventType>()
        return try types.map(EventType.init).filter { seen.insert($0).inserted }
    }

    static func api(_ subscription: Subscription) -> Components.Schemas.Subscription {
        .init(
            id: subscription.id, url: subscription.url, events: subscription.eventTypes?.map(\.api),
            videoId: subscription.videoID, description: subscription.description, enabled: subscription.isEnabled,
            disabledReason: subscription.disabledReason, failingSince: subscription.failingSince,
            headers: subscription.headers.isEmpty
                ? nil : .init(additionalProperties: Dictionary(subscription.headers.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })),
            rateLimit: subscription.rateLimit, createdAt: subscription.createdAt,
            updatedAt: subscription.updatedAt
        )
    }

    static func api(_ event: StoredEvent) -> Components.Schemas.Event {
        .init(id: event.id, _type: event.type.api, videoId: event.videoID, createdAt: event.createdAt, payload: event.payload)
    }
}
