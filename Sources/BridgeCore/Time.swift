public import Foundation

extension Duration {
    /// The duration in (fractional) seconds, for `Date` arithmetic and SQLite's REAL timestamps.
    public var timeInterval: TimeInterval {
        let (seconds, attoseconds) = components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}

extension Date {
    /// `now + configuration.pollInterval`: wall-clock dates offset by monotonic durations.
    public static func + (date: Date, duration: Duration) -> Date {
        date.addingTimeInterval(duration.timeInterval)
    }
}
