import Synchronization

/// A level-triggered wake-up for any number of listeners: `signal()` never blocks and coalesces,
/// so a burst of commits wakes an idle dispatcher once instead of queueing a wake per row.
public final class WakeSignal: Sendable {
    private let continuations = Mutex<[Int: AsyncStream<Void>.Continuation]>([:])
    private let nextID = Atomic<Int>(0)

    public init() {}

    public func stream() -> AsyncStream<Void> {
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let id = nextID.add(1, ordering: .relaxed).newValue
        continuations.withLock { $0[id] = continuation }
        continuation.onTermination = { [weak self] _ in
            _ = self?.continuations.withLock { $0.removeValue(forKey: id) }
        }
        return stream
    }

    public func signal() {
        continuations.withLock { all in
            for continuation in all.values { continuation.yield() }
        }
    }
}
