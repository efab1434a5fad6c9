public import BridgeCore
public import Foundation

/// How tracking of a video started.
public enum TrackingSource: String, Sendable, Codable {
    /// Submitted through the bridge's drop-in `video.generate`.
    case generate
    /// Made elsewhere and watched through `POST /v1/videos/{id}/watch`.
    case watch
}

public struct TrackedVideo: Sendable, Equatable {
    public var tenant: String
    public var videoID: String
    public var source: TrackingSource
    /// The latest status observed upstream (nil until the first readable answer).
    public var status: String?
    /// The status subscribers were last told of.
    public var notifiedStatus: String?
    public var videoURL: String?
    public var trackingStartedAt: Date
    public var firstSeenAt: Date?
    public var lastSeenAt: Date?
    public var lastChangedAt: Date?
    public var nextPollAt: Date
    /// Terminal status seen, or tracking expired: no longer polled.
    public var isTerminal: Bool
    public var isExpired: Bool

    public init(
        tenant: String,
        videoID: String,
        source: TrackingSource,
        status: String? = nil,
        notifiedStatus: String? = nil,
        videoURL: String? = nil,
        trackingStartedAt: Date,
        firstSeenAt: Date? = nil,
        lastSeenAt: Date? = nil,
        lastChangedAt: Date? = nil,
        nextPollAt: Date,
        isTerminal: Bool,
        isExpired: Bool
    ) {
        self.tenant = tenant
        self.videoID = videoID
        self.source = source
        self.status = status
        self.notifiedStatus = notifiedStatus
        self.videoURL = videoURL
        self.trackingStartedAt = trackingStartedAt
        self.firstSeenAt = firstSeenAt
        self.lastSeenAt = lastSeenAt
        self.lastChangedAt = lastChangedAt
        self.nextPollAt = nextPollAt
        self.isTerminal = isTerminal
        self.isExpired = isExpired
    }
}

public struct StoredEvent: Sendable, Equatable {
    /// Monotonic position in the log; the pull feed's cursor.
    public var sequence: Int64
    /// `evt_…`, sent as `webhook-id`.
    public var id: String
    public var tenant: String
    public var type: EventType
    public var videoID: String?
    /// The exact callback body.
    public var payload: String
    public var createdAt: Date

    public init(
        sequence: Int64,
        id: String,
        tenant: String,
        type: EventType,
        videoID: String? = nil,
        payload: String,
        createdAt: Date
    ) {
        self.sequence = sequence
        self.id = id
        self.tenant = tenant
        self.type = type
        self.videoID = videoID
        self.payload = payload
        self.createdAt = createdAt
    }
}

public struct NewSubscription: Sendable, Equatable {
    public var id: String
    public var tenant: String
    public var url: String
    /// nil = every event type.
    public var eventTypes: [EventType]?
    /// nil = every video of the tenant.
    public var videoID: String?
    public var description: String?
    public var secret: String

    public init(
        id: String = Identifier.make("sub"),
        tenant: String,
        url: String,
        eventTypes: [EventType]? = nil,
        videoID: String? = nil,
        description: String? = nil,
        secret: String
    ) {
        self.id = id
        self.tenant = tenant
        self.url = url
        self.eventTypes = eventTypes
        self.videoID = videoID
        self.description = description
        self.secret = secret
    }
}

public struct Subscription: Sendable, Equatable {
    public var id: String
    public var tenant: String
    public var url: String
    public var eventTypes: [EventType]?
    public var videoID: String?
    public var description: String?
    public var isEnabled: Bool
    public var disabledReason: String?
    /// When its receiver started failing (the first failed attempt since the last success); nil while healthy.
    public var failingSince: Date?
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        id: String,
        tenant: String,
        url: String,
        eventTypes: [EventType]? = nil,
        videoID: String? = nil,
        description: String? = nil,
        isEnabled: Bool,
        disabledReason: String? = nil,
        failingSince: Date? = nil,
        createdAt: Date,
        updatedAt: Date
    ) {
        self.id = id
        self.tenant = tenant
        self.url = url
        self.eventTypes = eventTypes
        self.videoID = videoID
        self.description = description
        self.isEnabled = isEnabled
        self.disabledReason = disabledReason
        self.failingSince = failingSince
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

public enum DeliveryState: String, Sendable, Codable, CaseIterable {
    /// Waiting for its next attempt (or for an earlier delivery of the same video to finish).
    case pending
    /// The subscription is disabled; sent once it is enabled again.
    case held
    case succeeded
    /// The retry schedule ran out.
    case failed
    case cancelled
}

/// What one batch of observations changed.
public struct ObservationReport: Sendable, Equatable {
    public var events: [StoredEvent] = []
    public var deliveriesCreated = 0
    /// Videos whose documented status stepped backwards (recorded, no event).
    public var wentBackwards: [String] = []
    public var videosUpdated = 0

    public init() {}

    /// Adds what another batch of the same cycle recorded.
    public mutating func merge(_ other: ObservationReport) {
        events += other.events
        deliveriesCreated += other.deliveriesCreated
        wentBackwards += other.wentBackwards
        videosUpdated += other.videosUpdated
    }
}

public struct PruneReport: Sendable, Equatable {
    public var deliveries = 0
    public var events = 0
    public var videos = 0
    public var idempotencyRecords = 0
    public init() {}
}
