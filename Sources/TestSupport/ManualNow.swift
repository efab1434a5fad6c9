public import Foundation
import Synchronization

/// A wall clock that only moves when a test says so; inject `read` wherever code takes `now`.
public final class ManualNow: Sendable {
    private let value: Mutex<Date>

    public init(_ start: Date = Date()) { value = Mutex(start) }

    public var date: Date { value.withLock { $0 } }

    public func advance(seconds: Double) { value.withLock { $0 = $0.addingTimeInterval(seconds) } }

    public var read: @Sendable () -> Date { { [self] in date } }
}
