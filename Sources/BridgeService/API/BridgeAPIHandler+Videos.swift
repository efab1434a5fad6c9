import BridgeAPI
import BridgeCore
import BridgeStore
import Foundation
import TalkingPhoto

extension BridgeAPIHandler {
    func listVideos(_ input: Operations.ListVideos.Input) async throws -> Operations.ListVideos.Output {
        let tenant = try Caller.required()
        let limit = try Self.pageSize(input.query.limit)
        let cursor = try Self.numericCursor(input.query.cursor)
        let page = try await store.trackedVideos(tenant: tenant, after: cursor, limit: limit)
        return .ok(
            .init(
                body: .json(
                    .init(data: page.map { Self.api($0.video) }, nextCursor: page.count == limit ? page.last.map { String($0.cursor) } : nil)
                )
            )
        )
    }

    func getVideo(_ input: Operations.GetVideo.Input) async throws -> Operations.GetVideo.Output {
        let tenant = try Caller.required()
        try Self.checkVideoID(input.path.videoId)
        guard let video = try await store.trackedVideo(tenant: tenant, videoID: input.path.videoId) else {
            throw BridgeError.notFound(BridgeError.noSuchVideo)
        }
        return .ok(.init(body: .json(Self.api(video))))
    }

    func watchVideo(_ input: Operations.WatchVideo.Input) async throws -> Operations.WatchVideo.Output {
        let tenant = try Caller.required()
        let id = input.path.videoId
        try Self.checkVideoID(id)
        if let existing = try await store.trackedVideo(tenant: tenant, videoID: id) {
            return .ok(.init(body: .json(Self.api(existing))))
        }
        // Another key's render: the same answer as for an id nobody knows, before any upstream call,
        // so neither the body nor the timing tells this key it exists.
        if try await store.isSubmittedByAnotherTenant(videoID: id, tenant: tenant) { throw BridgeError.notFound(BridgeError.noSuchVideo) }
        try await store.checkLimits(tenant: tenant, addingSubscriptions: 0, addingVideos: 1, limits: dependencies.limits)
        // The status seen now is the first observation; it emits its event (finished → video.finished).
        let client = try upstream(for: tenant)
        var initial: Observation?
        do {
            let video = try await client.video(id: id)
            initial = Observation(videoID: video.id, status: video.status.rawValue, videoURL: video.videoURL)
        } catch {
            if case .rejected(let status, _, _, _) = error, status == 404 || status == 400 {
                throw BridgeError.notFound(BridgeError.noSuchVideo)
            }
            dependencies.logger.warning(
                "watch: upstream lookup failed; the poller will observe the video",
                metadata: ["video_id": "\(id)", "error_kind": "\(error.kind)"]
            )
        }
        let moment = now
        let result = try await store.track(
            tenant: tenant, videoID: id, source: .watch, initial: initial, subscription: nil, limits: dependencies.limits, now: moment,
            nextPollAt: moment + dependencies.pollInterval
        )
        let body = Self.api(result.video)
        return result.created ? .created(.init(body: .json(body))) : .ok(.init(body: .json(body)))
    }

    func unwatchVideo(_ input: Operations.UnwatchVideo.Input) async throws -> Operations.UnwatchVideo.Output {
        let tenant = try Caller.required()
        try Self.checkVideoID(input.path.videoId)
        guard try await store.untrack(tenant: tenant, videoID: input.path.videoId) else { throw BridgeError.notFound(BridgeError.noSuchVideo) }
        return .noContent(.init())
    }

    static func numericCursor(_ cursor: String?) throws -> Int64? {
        guard let cursor else { return nil }
        guard let value = Int64(cursor), value >= 0 else { throw BridgeError.badRequest("invalid cursor") }
        return value
    }

    static func api(_ video: TrackedVideo) -> Components.Schemas.Video {
        .init(
            videoId: video.videoID, status: video.status, videoUrl: video.videoURL,
            source: video.source == .generate ? .generate : .watch, terminal: video.isTerminal, expired: video.isExpired,
            trackingStartedAt: video.trackingStartedAt, lastSeenAt: video.lastSeenAt, lastChangedAt: video.lastChangedAt
        )
    }
}
