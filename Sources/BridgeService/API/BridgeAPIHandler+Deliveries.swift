import BridgeAPI
import BridgeCore
import BridgeStore
import Foundation

extension BridgeAPIHandler {
    func listDeliveries(_ input: Operations.ListDeliveries.Input) async throws -> Operations.ListDeliveries.Output {
        let tenant = try Caller.required()
        let limit = try Self.pageSize(input.query.limit)
        let cursor = try Self.numericCursor(input.query.cursor)
        if let subscription = input.query.subscriptionId, !Identifier.isValid(subscription, prefix: "sub") {
            throw BridgeError.badRequest("invalid subscription_id")
        }
        let state = input.query.status.flatMap { DeliveryState(rawValue: $0.rawValue) }
        let page = try await store.deliveries(
            tenant: tenant, subscriptionID: input.query.subscriptionId, state: state, after: cursor, limit: limit
        )
        return .ok(
            .init(body: .json(.init(data: page.map(Self.api), nextCursor: page.count == limit ? page.last.map { String($0.id) } : nil)))
        )
    }

    func getDelivery(_ input: Operations.GetDelivery.Input) async throws -> Operations.GetDelivery.Output {
        let tenant = try Caller.required()
        let id = try Self.deliveryID(input.path.deliveryId)
        guard let (delivery, attempts) = try await store.delivery(tenant: tenant, id: id) else {
            throw BridgeError.notFound("no such delivery")
        }
        let log = attempts.map {
            Components.Schemas.Attempt(
                attemptedAt: $0.attemptedAt, statusCode: $0.statusCode, error: $0.errorKind,
                latencyMs: ($0.latencyMilliseconds * 10).rounded() / 10, response: $0.responseSnippet
            )
        }
        return .ok(.init(body: .json(.init(value1: Self.api(delivery), value2: .init(attemptLog: log)))))
    }

    func retryDelivery(_ input: Operations.RetryDelivery.Input) async throws -> Operations.RetryDelivery.Output {
        let tenant = try Caller.required()
        let id = try Self.deliveryID(input.path.deliveryId)
        switch try await store.retryDelivery(tenant: tenant, id: id, now: now) {
        case nil: throw BridgeError.notFound("no such delivery")
        case false?: throw BridgeError.conflict("an attempt of this delivery is in flight right now")
        case true?: break
        }
        guard let (delivery, _) = try await store.delivery(tenant: tenant, id: id) else { throw BridgeError.notFound("no such delivery") }
        return .accepted(.init(body: .json(Self.api(delivery))))
    }

    /// `dlv_<number>`; anything else is a delivery that cannot exist (404, like another tenant's).
    static func deliveryID(_ text: String) throws -> Int64 {
        guard text.hasPrefix("dlv_"), let id = Int64(text.dropFirst(4)), id > 0 else {
            throw BridgeError.notFound("no such delivery")
        }
        return id
    }

    static func api(_ delivery: DeliveryRecord) -> Components.Schemas.Delivery {
        .init(
            id: "dlv_\(delivery.id)", eventId: delivery.eventID, eventType: delivery.eventType.api,
            subscriptionId: delivery.subscriptionID, videoId: delivery.videoID,
            status: Components.Schemas.DeliveryStatus(rawValue: delivery.state.rawValue) ?? .pending,
            attempts: delivery.attempts, nextAttemptAt: delivery.nextAttemptAt, createdAt: delivery.createdAt
        )
    }
}
