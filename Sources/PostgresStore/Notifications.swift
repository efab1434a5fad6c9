import BridgeCore
import BridgeStore
import Logging
import PostgresNIO
import Synchronization

/// Wake-ups between replicas: after a commit that appended events or queued deliveries, one `NOTIFY`
/// on the channel `bridge_wake` (debounced: at most one per kind every 20 ms); every replica `LISTEN`s
/// and signals its own dispatcher and pull-feed long-polls. A hint only: a lost notification (a
/// listener reconnecting) delays a delivery until the dispatcher's own timer, at most a second.
final class Notifications: Sendable {
    static let channel = "bridge_wake"

    private let client: PostgresClient
    private let logger: Logger
    /// This store's id in payloads, so it ignores its own notifications (it signalled itself already).
    private let origin = Identifier.random()
    private let pending = Mutex<(events: Bool, deliveries: Bool)>((false, false))
    private let publishWake = WakeSignal()
    private let tasks = Mutex<[Task<Void, Never>]>([])

    init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    func start(deliveries: WakeSignal, events: WakeSignal) {
        let client = client
        let logger = logger
        let origin = origin
        let wakes = publishWake.stream()
        let sender = Task { [self] in
            for await _ in wakes {
                let kinds = pending.withLock { state in
                    defer { state = (false, false) }
                    return (state.events ? "e" : "") + (state.deliveries ? "d" : "")
                }
                if kinds.isEmpty { continue }
                do {
                    try await client.query("SELECT pg_notify(\(Self.channel), \(origin + " " + kinds))", logger: logger)
                } catch {
                    logger.debug("NOTIFY failed; other replicas fall back to their timers", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
        let listener = Task {
            while !Task.isCancelled {
                do {
                    try await client.withConnection { connection in
                        try await connection.listen(on: Self.channel) { notifications in
                            // Something may have been missed while not listening.
                            deliveries.signal()
                            events.signal()
                            for try await notification in notifications {
                                let parts = notification.payload.split(separator: " ")
                                guard parts.count == 2, parts[0] != origin else { continue }
                                if parts[1].contains("e") { events.signal() }
                                if parts[1].contains("d") { deliveries.signal() }
                            }
                        }
                    }
                } catch {
                    if Task.isCancelled { return }
                    logger.debug("LISTEN connection lost; reconnecting", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: .seconds(1))
            }
        }
        tasks.withLock { $0 = [sender, listener] }
    }

    /// Schedules one NOTIFY for these kinds (coalesced with any not yet sent).
    func publish(events: Bool, deliveries: Bool) {
        guard events || deliveries else { return }
        pending.withLock { state in
            state.events = state.events || events
            state.deliveries = state.deliveries || deliveries
        }
        publishWake.signal()
    }

    func stop() {
        for task in tasks.withLock({ $0 }) { task.cancel() }
    }
}

extension Identifier {
    /// A short random id (no time part).
    fileprivate static func random() -> String {
        String((0..<12).map { _ in "abcdefghijklmnopqrstuvwxyz0123456789".randomElement()! })
    }
}
