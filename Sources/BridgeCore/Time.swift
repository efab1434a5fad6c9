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

extension Clock where Duration == Swift.Duration {
    /// A reader of the time passed on this clock since the call: monotonic, and as injectable as the
    /// clock itself (a test's manual clock moves it only when the test advances).
    public func stopwatch() -> @Sendable () -> Swift.Duration {
        let start = now
        return { start.duration(to: self.now) }
    }
}

extension Clock where Duration == Swift.Duration {
    /// A task that runs `action` once `delay` has passed on this clock, measured from this call, not
    /// from whenever the task first runs (a loaded machine may start it late). Cancelling the task
    /// cancels the action.
    public func timer(after delay: Swift.Duration, _ action: @escaping @Sendable () -> Void) -> Task<Void, Never> {
        let deadline = now.advanced(by: delay)
        return Task {
            do {
                try await sleep(until: deadline, tolerance: nil)
                action()
            } catch {}
        }
    }
}
