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
        if let videoID = input.query.videoId { try Self.checkVideoID(videoID) }
        let state = input.query.status.flatMap { DeliveryState(rawValue: $0.rawValue) }
        let query = DeliveryQuery(
            subscriptionID: input.query.subscriptionId, state: state, videoID: input.query.videoId, newestFirst: input.query.order == .newest
        )
        let page = try await store.deliveries(tenant: tenant, matching: query, after: cursor, limit: limit)
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
        return .ok(.init(body: .json(.init(value1: Self.api(delivery), value2: .init(attemptLog: attempts.map(Self.api))))))
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
            attempts: delivery.attempts, nextAttemptAt: delivery.nextAttemptAt, createdAt: delivery.createdAt,
            lastAttempt: delivery.lastAttempt.map(Self.api)
        )
    }

    static func api(_ attempt: AttemptRecord) -> Components.Schemas.Attempt {
        .init(
            attemptedAt: attempt.attemptedAt, statusCode: attempt.statusCode, error: attempt.errorKind,
            latencyMs: (attempt.latencyMilliseconds * 10).rounded() / 10, response: attempt.responseSnippet
        )
    }

    /// The window of the per-subscription attempt counts in `GET /v1/health`.
    static let healthWindow: TimeInterval = 3600

    func getKeyHealth(_ input: Operations.GetKeyHealth.Input) async throws -> Operations.GetKeyHealth.Output {
        let tenant = try Caller.required()
        let at = now
        let health = try await store.health(tenant: tenant, since: at - Self.healthWindow)
        let subscriptions = try await store.subscriptions(tenant: tenant, after: nil, limit: 1000)
        func seconds(since date: Date?) -> Double? { date.map { (max(0, at.timeIntervalSince($0)) * 10).rounded() / 10 } }
        return .ok(
            .init(
                body: .json(
                    .init(
                        upstreamAccount: dependencies.accounts.hasOwnAccount(tenant) ? .own : .shared,
                        queue: .init(pending: health.pending, held: health.held, oldestPendingAgeSeconds: seconds(since: health.oldestPendingAt)),
                        poller: .init(lastCycleAt: health.lastPollCycleAt, secondsSinceLastCycle: seconds(since: health.lastPollCycleAt)),
                        windowSeconds: Int(Self.healthWindow),
                        subscriptions: subscriptions.map { subscription in
                            let activity = health.activity[subscription.id]
                            let attempts = activity?.attempts ?? 0
                            let succeeded = activity?.succeeded ?? 0
                            return .init(
                                id: subscription.id, url: subscription.url, enabled: subscription.isEnabled,
                                disabledReason: subscription.disabledReason, failingSince: subscription.failingSince, attempts: attempts,
                                succeeded: succeeded, successRate: attempts > 0 ? Double(succeeded) / Double(attempts) : nil,
                                lastAttemptAt: activity?.lastAttemptAt
                            )
                        }
                    )
                )
            )
        )
    }
}
