public import BridgeCore
public import Foundation

/// A delivery leased to this process for one attempt, with everything sending it needs.
public struct ClaimedDelivery: Sendable, Equatable {
    public var id: Int64
    public var eventID: String
    public var eventType: EventType
    public var payload: String
    public var subscriptionID: String
    public var tenant: String
    public var videoID: String?
    public var url: String
    /// Secrets that sign this attempt, newest first (two during a rotation grace period).
    public var secrets: [String]
    /// The subscription's custom headers, in clear (sent before the bridge's own).
    public var headers: [CustomHeader]
    /// 1 for the first attempt.
    public var attemptNumber: Int
    /// The claim that leased it (the `leaseOwner` the claim was made with, unique per claim): its
    /// attempt is recorded only while this claim still holds the lease.
    public var claimID: String

    public init(
        id: Int64,
        eventID: String,
        eventType: EventType,
        payload: String,
        subscriptionID: String,
        tenant: String,
        videoID: String? = nil,
        url: String,
        secrets: [String],
        headers: [CustomHeader] = [],
        attemptNumber: Int,
        claimID: String = ""
    ) {
        self.id = id
        self.eventID = eventID
        self.eventType = eventType
        self.payload = payload
        self.subscriptionID = subscriptionID
        self.tenant = tenant
        self.videoID = videoID
        self.url = url
        self.secrets = secrets
        self.headers = headers
        self.attemptNumber = attemptNumber
        self.claimID = claimID
    }
}

/// The result of one attempt, decided by the delivery engine, applied by the store.
public struct CompletedAttempt: Sendable, Equatable {
    public enum Disposition: Sendable, Equatable {
        /// 2xx: done.
        case succeeded
        /// Failed; try again at this time.
        case retry(at: Date)
        /// Failed and the schedule is exhausted.
        case failed
        /// 410 Gone: the subscription is disabled, this delivery and its siblings held.
        case gone
        /// 429/503 with Retry-After: this subscription's pending deliveries wait until then.
        case throttled(until: Date)
        /// Not attempted after all (shutdown): the lease is released, no attempt is counted.
        case released
    }

    public var deliveryID: Int64
    public var subscriptionID: String
    public var leaseOwner: String
    public var attemptedAt: Date
    public var latency: Duration
    public var statusCode: Int?
    public var errorKind: String?
    /// The start of the receiver's answer, as text. A receiver may answer with any bytes; U+0000 is
    /// kept as U+FFFD, because neither engine stores it (PostgreSQL's `text` refuses it, SQLite's C
    /// strings end there), so every engine records the same excerpt.
    public var responseSnippet: String? {
        didSet { if let text = responseSnippet, text.contains("\u{0}") { responseSnippet = Self.storable(text) } }
    }
    public var disposition: Disposition

    static func storable(_ text: String) -> String {
        text.contains("\u{0}") ? text.replacingOccurrences(of: "\u{0}", with: "\u{FFFD}") : text
    }

    public init(
        deliveryID: Int64,
        subscriptionID: String,
        leaseOwner: String,
        attemptedAt: Date,
        latency: Duration,
        statusCode: Int?,
        errorKind: String?,
        responseSnippet: String?,
        disposition: Disposition
    ) {
        self.deliveryID = deliveryID
        self.subscriptionID = subscriptionID
        self.leaseOwner = leaseOwner
        self.attemptedAt = attemptedAt
        self.latency = latency
        self.statusCode = statusCode
        self.errorKind = errorKind
        self.responseSnippet = responseSnippet.map(Self.storable)
        self.disposition = disposition
    }
}

/// Subscriptions the store disabled while applying attempts (410, or failing for too long).
public struct DisabledSubscription: Sendable, Equatable {
    public var id: String
    public var tenant: String
    public var reason: DisableReason

    public init(
        id: String,
        tenant: String,
        reason: DisableReason
    ) {
        self.id = id
        self.tenant = tenant
        self.reason = reason
    }
}

/// Why the bridge disabled a subscription by itself.
public enum DisableReason: Sendable, Equatable {
    /// The receiver answered `410 Gone`.
    case gone
    /// No attempt succeeded since `since`, for at least `BRIDGE_DISABLE_AFTER`.
    case failing(since: Date)
    /// Disabled through the API (`PATCH` with `enabled: false`).
    case byRequest

    /// The metric label (`bridge_subscriptions_disabled_total{reason}`).
    public var label: String {
        switch self {
        case .gone: "gone"
        case .failing: "failing"
        case .byRequest: "request"
        }
    }

    /// What the subscription's `disabled_reason` says.
    public var text: String {
        switch self {
        case .gone: "receiver answered 410 Gone"
        case .failing(let since): "failing without a success since " + Timestamp.iso8601(since)
        case .byRequest: "disabled by request"
        }
    }
}

public struct AttemptRecord: Sendable, Equatable {
    public var attemptedAt: Date
    public var statusCode: Int?
    public var errorKind: String?
    public var latencyMilliseconds: Double
    public var responseSnippet: String?

    public init(
        attemptedAt: Date,
        statusCode: Int? = nil,
        errorKind: String? = nil,
        latencyMilliseconds: Double,
        responseSnippet: String? = nil
    ) {
        self.attemptedAt = attemptedAt
        self.statusCode = statusCode
        self.errorKind = errorKind
        self.latencyMilliseconds = latencyMilliseconds
        self.responseSnippet = responseSnippet
    }
}

/// An operational event a turn or a command produced, to append and fan out in the same transaction:
/// about one subscription (`subject`), for the tenant's other subscriptions that list its type.
public struct OperationalNotice: Sendable, Equatable {
    public var type: EventType
    public var tenant: String
    public var subject: String
    public var payload: String

    public init(type: EventType, tenant: String, subject: String, payload: String) {
        self.type = type
        self.tenant = tenant
        self.subject = subject
        self.payload = payload
    }

    public static func disabled(_ subscription: DisabledSubscription, url: String, now: Date) -> OperationalNotice {
        let since: Date? = if case .failing(let since) = subscription.reason { since } else { nil }
        return OperationalNotice(
            type: .subscriptionDisabled, tenant: subscription.tenant, subject: subscription.id,
            payload: EventPayload.subscriptionDisabled(
                timestamp: now, subscriptionID: subscription.id, url: url, reason: subscription.reason.label,
                message: subscription.reason.text, failingSince: since
            )
        )
    }

    public static func recovered(subscriptionID: String, tenant: String, url: String, failingSince: Date, now: Date) -> OperationalNotice {
        OperationalNotice(
            type: .subscriptionRecovered, tenant: tenant, subject: subscriptionID,
            payload: EventPayload.subscriptionRecovered(timestamp: now, subscriptionID: subscriptionID, url: url, failingSince: failingSince)
        )
    }

    /// A delivery that ran out of retries, with its last attempt (`attempt`). Nil for a delivery of an
    /// operational event: a failure to tell of a failure is not told again (no cascades between
    /// receivers that are both down).
    public static func deliveryFailed(
        _ attempt: CompletedAttempt, tenant: String, url: String, eventID: String, eventType: String, videoID: String?, attempts: Int,
        now: Date
    ) -> OperationalNotice? {
        guard let type = EventType(rawValue: eventType), !type.isOperational else { return nil }
        return OperationalNotice(
            type: .deliveryFailed, tenant: tenant, subject: attempt.subscriptionID,
            payload: EventPayload.deliveryFailed(
                timestamp: now, subscriptionID: attempt.subscriptionID, url: url, deliveryID: attempt.deliveryID, eventID: eventID,
                eventType: eventType, videoID: videoID, attempts: attempts,
                last: .init(
                    attemptedAt: attempt.attemptedAt, statusCode: attempt.statusCode, error: attempt.errorKind ?? attempt.statusCode.map { "http_\($0)" },
                    response: attempt.responseSnippet
                )
            )
        )
    }
}
