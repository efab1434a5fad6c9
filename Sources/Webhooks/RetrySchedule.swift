/// When to try a delivery again. `delays[0]` is the wait before the first attempt, `delays[n]` the
/// wait after the n-th failure; after `delays.count` attempts the delivery is failed.
/// Jitter spreads retries (±20 %) so a recovering receiver is not hit by a synchronized wave.
public struct RetrySchedule: Sendable, Equatable {
    public let delays: [Duration]

    public init(_ delays: [Duration]) { self.delays = delays.isEmpty ? [.zero] : delays }

    public var maxAttempts: Int { delays.count }

    /// The wait before the next attempt, after `attempts` attempts have failed; nil when exhausted.
    /// `random` is in [0, 1).
    public func delay(afterFailedAttempts attempts: Int, random: Double) -> Duration? {
        guard attempts < delays.count else { return nil }
        let base = delays[max(0, attempts)]
        guard base > .zero else { return .zero }
        return base * (0.8 + 0.4 * random)
    }
}
