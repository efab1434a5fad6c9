/// The event types a subscriber can receive (contract §2 "Events and callbacks").
public enum EventType: String, CaseIterable, Sendable, Codable, Hashable {
    case pending = "video.pending"
    case inProgressing = "video.in_progressing"
    case finished = "video.finished"
    case error = "video.error"
    /// The upstream reported a status outside its documented four; once per distinct value.
    case statusChanged = "video.status_changed"
    /// The video stayed non-terminal for longer than the tracking limit; it is no longer polled.
    case trackingExpired = "video.tracking_expired"
    /// A test event sent on request to one subscription.
    case ping

    /// The event announcing that a video reached `status`.
    public static func announcing(_ status: String) -> EventType {
        switch status {
        case "pending": .pending
        case "in_progressing": .inProgressing
        case "finished": .finished
        case "error": .error
        default: .statusChanged
        }
    }
}
