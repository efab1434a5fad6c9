/// What the bridge remembers about one tracked video, as far as the event rules care.
public struct TrackingState: Sendable, Equatable {
    /// The status of the last event emitted for this video: what subscribers believe. nil = never observed.
    public var notifiedStatus: String?
    /// The furthest documented lifecycle status seen so far (pending < in_progressing < finished/error).
    public var furthestKnownStatus: String?
    /// Undocumented statuses already announced with `video.status_changed`.
    public var unknownStatusesSeen: [String]
    /// The latest status as observed, even when it emitted nothing (a step backwards, a repeat).
    public var observedStatus: String?
    public var videoURL: String?
    public var isTerminal: Bool

    public init(
        notifiedStatus: String? = nil,
        furthestKnownStatus: String? = nil,
        unknownStatusesSeen: [String] = [],
        observedStatus: String? = nil,
        videoURL: String? = nil,
        isTerminal: Bool = false
    ) {
        self.notifiedStatus = notifiedStatus
        self.furthestKnownStatus = furthestKnownStatus
        self.unknownStatusesSeen = unknownStatusesSeen
        self.observedStatus = observedStatus
        self.videoURL = videoURL
        self.isTerminal = isTerminal
    }
}

/// One readable upstream answer about one video.
public struct Observation: Sendable, Equatable {
    public var videoID: String
    public var status: String
    public var videoURL: String?

    public init(videoID: String, status: String, videoURL: String? = nil) {
        self.videoID = videoID
        self.status = status
        self.videoURL = videoURL
    }
}

/// The event an observation calls for.
public struct StatusEvent: Sendable, Equatable {
    public var type: EventType
    public var status: String
    public var previousStatus: String?
    public var videoURL: String?
}

/// The outcome of applying one observation to one video's state.
public struct Transition: Sendable, Equatable {
    public var state: TrackingState
    public var event: StatusEvent?
    /// A documented status earlier in the lifecycle than one already seen: recorded and logged, no event.
    public var wentBackwards: Bool
}

/// The contract's tracking rules, as one pure function.
///
/// - The first observation emits its status's event, so subscribers learn the starting state.
/// - A documented status further along the lifecycle emits exactly one event.
/// - The same status again, or a documented status earlier than the furthest seen, emits nothing
///   (the latter is flagged as going backwards), so a flapping upstream cannot repeat events.
/// - An undocumented status emits `video.status_changed` once per distinct value.
/// - `finished` and `error` are terminal.
public enum StatusRules {
    public static let terminalStatuses: Set<String> = ["finished", "error"]

    /// Lifecycle position of documented statuses; nil for anything else.
    public static func rank(of status: String) -> Int? {
        switch status {
        case "pending": 0
        case "in_progressing": 1
        case "finished", "error": 2
        default: nil
        }
    }

    public static func apply(_ observation: Observation, to current: TrackingState) -> Transition {
        var state = current
        state.observedStatus = observation.status
        if let url = observation.videoURL { state.videoURL = url }
        guard !current.isTerminal else { return Transition(state: current, event: nil, wentBackwards: false) }

        let status = observation.status
        var emit = false
        var backwards = false
        if let rank = rank(of: status) {
            let furthest = current.furthestKnownStatus.flatMap(rank(of:))
            if current.notifiedStatus == nil || furthest.map({ rank > $0 }) ?? true {
                emit = true
                state.furthestKnownStatus = status
            } else if let furthest, rank < furthest {
                backwards = true
            }
        } else if !current.unknownStatusesSeen.contains(status) {
            emit = true
            state.unknownStatusesSeen.append(status)
        }
        var event: StatusEvent?
        if emit {
            event = StatusEvent(
                type: .announcing(status),
                status: status,
                previousStatus: current.notifiedStatus,
                videoURL: status == "finished" ? state.videoURL : nil
            )
            state.notifiedStatus = status
        }
        state.isTerminal = terminalStatuses.contains(status) && !backwards
        return Transition(state: state, event: event, wentBackwards: backwards)
    }
}
