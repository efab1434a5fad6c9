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
    /// Operational: one of the key's subscriptions was disabled (410, failing too long, by request).
    case subscriptionDisabled = "subscription.disabled"
    /// Operational: a delivery ran out of retries.
    case deliveryFailed = "delivery.failed"
    /// Operational: a subscription that was failing had a success.
    case subscriptionRecovered = "subscription.recovered"

    /// Operational events are about one subscription and go to the key's other subscriptions that
    /// list their type; a subscription without a filter does not get them.
    public var isOperational: Bool {
        switch self {
        case .subscriptionDisabled, .deliveryFailed, .subscriptionRecovered: true
        default: false
        }
    }

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
