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
        createdAt: Date
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

