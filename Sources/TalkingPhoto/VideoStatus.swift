/// An upstream video status. The upstream documents four values and says "etc.": any other string
/// is kept as it came, never an error, so callers can report it rather than lose it.
public struct VideoStatus: RawRepresentable, Hashable, Sendable, Codable, ExpressibleByStringLiteral,
    CustomStringConvertible
{
    public let rawValue: String

    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }

    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(String.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    public static let pending: VideoStatus = "pending"
    public static let inProgressing: VideoStatus = "in_progressing"
    public static let finished: VideoStatus = "finished"
    public static let error: VideoStatus = "error"

    public static let known: [VideoStatus] = [.pending, .inProgressing, .finished, .error]

    public var isKnown: Bool { Self.known.contains(self) }

    /// `finished` and `error` end a video's life: it is not polled after one is seen.
    public var isTerminal: Bool { self == .finished || self == .error }

    /// Position in the documented lifecycle (pending < in_progressing < finished/error); nil when unknown.
    /// Lets callers tell a status going backwards from a real change.
    public var lifecycleRank: Int? {
        switch self {
        case .pending: 0
        case .inProgressing: 1
        case .finished, .error: 2
        default: nil
        }
    }

    public var description: String { rawValue }
}

/// One video as the upstream reports it.
public struct UpstreamVideo: Sendable, Equatable {
    public var id: String
    public var status: VideoStatus
    /// Present once the video is `finished`.
    public var videoURL: String?

    public init(id: String, status: VideoStatus, videoURL: String? = nil) {
        self.id = id
        self.status = status
        self.videoURL = videoURL
    }
}

/// The answer to `video.list`: every readable item, and how many items could not be read
/// (those are skipped, never guessed at).
public struct UpstreamVideoList: Sendable, Equatable {
    public var videos: [UpstreamVideo]
    public var unreadableItems: Int

    public init(videos: [UpstreamVideo], unreadableItems: Int = 0) {
        self.videos = videos
        self.unreadableItems = unreadableItems
    }
}
