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
    /// Sent with each of its callbacks; stored sealed.
    public var headers: [CustomHeader]
    /// Callbacks per second at most (nil: no limit).
    public var rateLimit: Int?

    public init(
        id: String = Identifier.make("sub"),
        tenant: String,
        url: String,
        eventTypes: [EventType]? = nil,
        videoID: String? = nil,
        description: String? = nil,
        secret: String,
        headers: [CustomHeader] = [],
        rateLimit: Int? = nil
    ) {
        self.id = id
        self.tenant = tenant
        self.url = url
        self.eventTypes = eventTypes
        self.videoID = videoID
        self.description = description
        self.secret = secret
        self.headers = headers
        self.rateLimit = rateLimit
    }
}

/// What a `PATCH` of a subscription changes (nil: unchanged).
public struct SubscriptionChange: Sendable, Equatable {
    public var url: String?
    /// `[]`: every event type again.
    public var eventTypes: [EventType]?
    /// `""`: removes the description.
    public var description: String?
    /// Replaces the whole set; `[]` removes every custom header.
    public var headers: [CustomHeader]?
    /// Callbacks per second at most; `0` removes the limit. A change starts the limit afresh.
    public var rateLimit: Int?

    public init(
        url: String? = nil, eventTypes: [EventType]? = nil, description: String? = nil, headers: [CustomHeader]? = nil,
        rateLimit: Int? = nil
    ) {
        self.url = url
        self.eventTypes = eventTypes
        self.description = description
        self.headers = headers
        self.rateLimit = rateLimit
    }

    public var isEmpty: Bool { self == SubscriptionChange() }
}

/// A header a subscription adds to each of its callbacks, for a receiver behind a gateway that wants
/// a token of its own. The API validates names and values; the store seals the values.
public struct CustomHeader: Sendable, Equatable, Codable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }

    /// As shown back: the name, and the value masked (its last four characters only when it is long
    /// enough that they give nothing away).
    public var masked: CustomHeader {
        CustomHeader(name: name, value: value.count >= 16 ? "****" + String(value.suffix(4)) : "****")
    }

    /// At most this many per subscription, names and values together at most `maxTotalBytes`.
    public static let maxCount = 20
    public static let maxNameLength = 64
    public static let maxValueLength = 4096
    public static let maxTotalBytes = 8192

    /// Names the bridge sets itself or that frame the request: a subscription cannot set them.
    static let reservedNames: Set<String> = [
        "content-type", "content-length", "content-encoding", "transfer-encoding", "host", "connection", "keep-alive",
        "te", "trailer", "upgrade", "expect",
    ]

    public static func isReserved(_ name: String) -> Bool {
        let lower = name.lowercased()
        return reservedNames.contains(lower) || lower.hasPrefix("webhook-") || lower.hasPrefix("proxy-")
    }

    /// What is wrong with a set of headers as a subscription would send them, nil when nothing: names
    /// are HTTP tokens, not the bridge's own or framing headers, each once (in any case); values are
    /// visible ASCII with inner spaces, no CR, LF or other control character; sizes bounded.
    public static func problem(with headers: [CustomHeader]) -> String? {
        if headers.count > maxCount { return "at most \(maxCount) headers" }
        var seen = Set<String>()
        var total = 0
        for header in headers {
            let name = header.name
            guard (1...maxNameLength).contains(name.utf8.count), name.utf8.allSatisfy(isTokenByte) else {
                return "header name \(JSONString.quote(String(name.prefix(maxNameLength)))) is not an HTTP token of 1-\(maxNameLength) characters"
            }
            if isReserved(name) { return "header \(name) is set by the bridge and cannot be overridden" }
            guard seen.insert(name.lowercased()).inserted else { return "header \(name) is given twice" }
            let value = header.value.utf8
            guard (1...maxValueLength).contains(value.count) else { return "header \(name) needs a value of 1-\(maxValueLength) bytes" }
            guard value.allSatisfy({ $0 == 0x09 || (0x20...0x7E).contains($0) }) else {
                return "header \(name) has a value with a control or non-ASCII character (CR and LF included)"
            }
            guard value.first != 0x20, value.first != 0x09, value.last != 0x20, value.last != 0x09 else {
                return "header \(name) has a value with leading or trailing whitespace"
            }
            total += name.utf8.count + value.count
        }
        if total > maxTotalBytes { return "headers may hold at most \(maxTotalBytes) bytes of names and values together" }
        return nil
    }

    /// RFC 9110 `tchar`.
    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
        default: "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }

    /// The stored forms: the sealed JSON of every header, and the masked JSON shown back (nil without headers).
    public static func encode(_ headers: [CustomHeader]) -> String? {
        guard !headers.isEmpty, let data = try? JSONEncoder().encode(headers) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    public static func decode(_ text: String?) throws(StoreError) -> [CustomHeader] {
        guard let text else { return [] }
        do {
            return try JSONDecoder().decode([CustomHeader].self, from: Data(text.utf8))
        } catch {
            throw .invalidData("stored custom headers are not readable")
        }
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
    /// Custom headers, values masked.
    public var headers: [CustomHeader]
    /// Callbacks per second at most (nil: no limit).
    public var rateLimit: Int?
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
        headers: [CustomHeader] = [],
        rateLimit: Int? = nil,
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
        self.headers = headers
        self.rateLimit = rateLimit
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
