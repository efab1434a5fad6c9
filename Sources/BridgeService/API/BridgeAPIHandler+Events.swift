import BridgeAPI
import BridgeCore
import BridgeStore
import Foundation

extension BridgeAPIHandler {
    func listEvents(_ input: Operations.ListEvents.Input) async throws -> Operations.ListEvents.Output {
        let tenant = try Caller.required()
        let limit = try Self.pageSize(input.query.limit)
        // The contract's pull feed passes `after`; `cursor` is the list routes' name for the same thing.
        let cursor = try Self.numericCursor(input.query.after ?? input.query.cursor) ?? 0
        if let videoID = input.query.videoId { try Self.checkVideoID(videoID) }
        let type = try input.query._type.map(EventType.init)
        let wait = input.query.wait ?? 0
        guard (0...30).contains(wait) else { throw BridgeError.badRequest("wait must be between 0 and 30 seconds") }

        func page() async throws -> [StoredEvent] {
            try await store.events(tenant: tenant, after: cursor, videoID: input.query.videoId, type: type, limit: limit)
        }
        var events = try await page()
        if events.isEmpty, wait > 0 {
            events = try await dependencies.longPolls.run(tenant: tenant) { try await longPoll(seconds: wait, page: page) }
        }
        let next = events.last.map { String($0.sequence) } ?? String(cursor)
        return .ok(.init(body: .json(.init(data: events.map(Self.api), nextCursor: next))))
    }

    /// Holds the request until `page` finds an event or `seconds` pass.
    private func longPoll(seconds wait: Int, page: () async throws -> [StoredEvent]) async throws -> [StoredEvent] {
        // Listen before re-checking, so an event committed in between is not missed.
        let wakeUps = store.eventWakeUps()
        var events = try await page()
        if events.isEmpty {
            let (signals, signal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
            let forward = Task {
                for await _ in wakeUps { signal.yield() }
            }
            let timer = Task {
                try? await Task.sleep(for: .seconds(wait))
                signal.finish()
            }
            defer {
                forward.cancel()
                timer.cancel()
                signal.finish()
            }
            for await _ in signals {
                events = try await page()
                if !events.isEmpty { break }
            }
        }
        return events
    }

    func getEvent(_ input: Operations.GetEvent.Input) async throws -> Operations.GetEvent.Output {
        let tenant = try Caller.required()
        guard Identifier.isValid(input.path.eventId, prefix: "evt"),
            let event = try await store.event(tenant: tenant, id: input.path.eventId)
        else { throw BridgeError.notFound("no such event") }
        return .ok(.init(body: .json(Self.api(event))))
    }
}
