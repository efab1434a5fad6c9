public import Foundation
import Synchronization

/// A clock that only moves when a test says so. It is a real `Clock`, so code that takes
/// `clock: any Clock<Duration>` sleeps on it, and its `read` closure is the matching wall clock for
/// code that takes `now: () -> Date`: both move together, by exactly what the test advances.
///
/// Time-dependent behaviour (retry schedules, backoff, batch windows, expiry) is tested by stepping
/// this clock, never by racing a wall-clock bound on a loaded machine.
public final class ManualClock: Clock, Sendable {
    public struct Instant: InstantProtocol, CustomStringConvertible {
        /// Time since the clock was made.
        public var offset: Duration

        public func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        public func duration(to other: Instant) -> Duration { other.offset - offset }
        public static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.offset < rhs.offset }
        public var description: String { "ManualClock+\(offset)" }
    }

    private struct Sleeper {
        var deadline: Instant
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now = Instant(offset: .zero)
        var sleepers: [UInt64: Sleeper] = [:]
        var nextID: UInt64 = 0
        /// Every deadline a sleeper asked for, in order (tests read what the code under test waited for).
        var requested: [Duration] = []
    }

    private let state = Mutex(State())
    /// The wall-clock date at offset zero.
    public let start: Date

    public init(start: Date = Date(timeIntervalSince1970: 1_800_000_000)) { self.start = start }

    public var now: Instant { state.withLock { $0.now } }
    public var minimumResolution: Duration { .nanoseconds(1) }

    /// The wall-clock date that goes with `now`.
    public var date: Date { start.addingTimeInterval(Self.seconds(now.offset)) }

    /// `date` as a closure, for code that takes `now: @Sendable () -> Date`.
    public var read: @Sendable () -> Date { { [self] in date } }

    /// How many tasks are asleep on this clock right now.
    public var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    /// The durations sleepers asked for so far (deadline minus the time they went to sleep), in order.
    public var requestedSleeps: [Duration] { state.withLock { $0.requested } }

    public func sleep(until deadline: Instant, tolerance: Duration? = nil) async throws {
        try Task.checkCancellation()
        let id = state.withLock { state -> UInt64 in
            defer { state.nextID += 1 }
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                // Cancelled before it could register (the handler found no sleeper): never wait. The
                // flag is set before the handler runs, and both run under the lock, so one of them sees it.
                let outcome = state.withLock { state -> Result<Bool, CancellationError> in
                    if Task.isCancelled { return .failure(CancellationError()) }
                    state.requested.append(state.now.duration(to: deadline))
                    if deadline <= state.now { return .success(true) }
                    state.sleepers[id] = Sleeper(deadline: deadline, continuation: continuation)
                    return .success(false)
                }
                switch outcome {
                case .failure(let error): continuation.resume(throwing: error)
                case .success(true): continuation.resume()
                case .success(false): break
                }
            }
        } onCancel: {
            let sleeper = state.withLock { $0.sleepers.removeValue(forKey: id) }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves the clock on and wakes every sleeper whose deadline has come, earliest first.
    public func advance(by duration: Duration) {
        let woken = state.withLock { state -> [Sleeper] in
            state.now = state.now.advanced(by: duration)
            let due = state.sleepers.filter { $0.value.deadline <= state.now }
            for id in due.keys { state.sleepers.removeValue(forKey: id) }
            return due.values.sorted { $0.deadline < $1.deadline }
        }
        for sleeper in woken { sleeper.continuation.resume() }
    }

    public func advance(seconds: Double) { advance(by: .milliseconds(Int64((seconds * 1000).rounded()))) }

    /// How long each current sleeper has left, shortest first.
    public var pendingSleeps: [Duration] {
        state.withLock { state in state.sleepers.values.map { state.now.duration(to: $0.deadline) }.sorted() }
    }

    /// Waits (bounded, in real time) until at least `count` tasks sleep on this clock: the code under
    /// test has done its work for now and is waiting for time to pass.
    public func waitForSleepers(_ count: Int = 1, within limit: Duration = .seconds(30)) async -> Bool {
        await eventually(within: limit, every: .milliseconds(2)) { self.sleeperCount >= count }
    }

    /// Waits (bounded, in real time) until some task sleeps with exactly `remaining` left. Advance
    /// only after this: a test that moves the clock before the code under test went to sleep races it.
    public func waitForSleeper(remaining: Duration, within limit: Duration = .seconds(30)) async -> Bool {
        await eventually(within: limit, every: .milliseconds(2)) { self.pendingSleeps.contains(remaining) }
    }

    private static func seconds(_ duration: Duration) -> TimeInterval {
        let (seconds, attoseconds) = duration.components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}
