import Logging
import Synchronization

/// Set once the simulator is being stopped.
final class StopFlag: Sendable {
    private let value = Atomic<Bool>(false)

    func set() { value.store(true, ordering: .relaxed) }

    var isSet: Bool { value.load(ordering: .relaxed) }
}

/// Forwards to another handler, but once the simulator is stopping drops the framework's
/// messages below `critical` (cancelling the server makes HummingbirdCore log the
/// CancellationError of its accept loop as an error, which is just noise here).
struct QuietWhenStoppingLogHandler: LogHandler {
    var base: any LogHandler
    let stopping: StopFlag

    func log(event: LogEvent) {
        if stopping.isSet, event.level < .critical, event.source != "Simulator" { return }
        base.log(event: event)
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { base[metadataKey: key] }
        set { base[metadataKey: key] = newValue }
    }

    var metadata: Logger.Metadata {
        get { base.metadata }
        set { base.metadata = newValue }
    }

    var logLevel: Logger.Level {
        get { base.logLevel }
        set { base.logLevel = newValue }
    }

    var metadataProvider: Logger.MetadataProvider? {
        get { base.metadataProvider }
        set { base.metadataProvider = newValue }
    }
}
