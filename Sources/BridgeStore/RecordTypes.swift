public import BridgeCore
public import Foundation

/// What a stored Idempotency-Key says about a new request carrying it.
public enum IdempotencyClaim: Sendable, Equatable {
    /// First use: the caller runs the request and then records its response.
    case new
    /// The first request with this key is still running.
    case inProgress
    /// The same key with a different request.
    case mismatch
    /// The first response, to be returned again as is.
    case completed(status: Int, contentType: String?, body: Data)
}

/// An outbox row joined with what sending it needs. Read side only for now; the dispatcher's
/// claim/complete writes live with the delivery engine.
public struct DeliveryRecord: Sendable, Equatable {
    public var id: Int64
    public var eventID: String
    public var eventType: EventType
    public var subscriptionID: String
    public var tenant: String
    public var videoID: String?
    public var state: DeliveryState
    public var attempts: Int
    public var nextAttemptAt: Date
    public var createdAt: Date
    /// The newest attempt, if any (lists show it without reading every attempt).
    public var lastAttempt: AttemptRecord?

    public init(
        id: Int64,
        eventID: String,
        eventType: EventType,
        subscriptionID: String,
        tenant: String,
        videoID: String? = nil,
        state: DeliveryState,
        attempts: Int,
        nextAttemptAt: Date,
        createdAt: Date,
        lastAttempt: AttemptRecord? = nil
    ) {
        self.id = id
        self.eventID = eventID
        self.eventType = eventType
        self.subscriptionID = subscriptionID
        self.tenant = tenant
        self.videoID = videoID
        self.state = state
        self.attempts = attempts
        self.nextAttemptAt = nextAttemptAt
        self.createdAt = createdAt
        self.lastAttempt = lastAttempt
    }
}

/// Which of a key's deliveries a list shows.
public struct DeliveryQuery: Sendable, Equatable {
    public var subscriptionID: String?
    public var state: DeliveryState?
    public var videoID: String?
    /// Newest first (the cursor then pages towards older ones); oldest first otherwise.
    public var newestFirst: Bool

    public init(subscriptionID: String? = nil, state: DeliveryState? = nil, videoID: String? = nil, newestFirst: Bool = false) {
        self.subscriptionID = subscriptionID
        self.state = state
        self.videoID = videoID
        self.newestFirst = newestFirst
    }
}

/// A key's delivery health, for operators: its queue, the poller, and each subscription's recent attempts.
public struct TenantHealth: Sendable, Equatable {
    public var pending: Int
    public var held: Int
    /// Creation time of the oldest pending delivery.
    public var oldestPendingAt: Date?
    /// When the poller (of whichever replica leads) last finished a cycle; nil before the first.
    public var lastPollCycleAt: Date?
    /// Subscriptions with attempts in the window, by id.
    public var activity: [String: SubscriptionActivity]

    public init(pending: Int = 0, held: Int = 0, oldestPendingAt: Date? = nil, lastPollCycleAt: Date? = nil, activity: [String: SubscriptionActivity] = [:]) {
        self.pending = pending
        self.held = held
        self.oldestPendingAt = oldestPendingAt
        self.lastPollCycleAt = lastPollCycleAt
        self.activity = activity
    }
}

/// One subscription's attempts in a window.
public struct SubscriptionActivity: Sendable, Equatable {
    public var attempts: Int
    /// Attempts the receiver answered with 2xx.
    public var succeeded: Int
    public var lastAttemptAt: Date?

    public init(attempts: Int, succeeded: Int, lastAttemptAt: Date?) {
        self.attempts = attempts
        self.succeeded = succeeded
        self.lastAttemptAt = lastAttemptAt
    }
}

/// What `rekey` changed.
public struct RekeyReport: Sendable, Equatable {
    public var oldKeyID: String
    public var newKeyID: String
    public var secrets: Int
    public var responses: Int
    /// Where the new key was written (key-file mode), nil when the caller supplied it.
    public var keyFile: String?

    public init(
        oldKeyID: String,
        newKeyID: String,
        secrets: Int,
        responses: Int,
        keyFile: String? = nil
    ) {
        self.oldKeyID = oldKeyID
        self.newKeyID = newKeyID
        self.secrets = secrets
        self.responses = responses
        self.keyFile = keyFile
    }
}

