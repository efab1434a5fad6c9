import BridgeAPI
import BridgeCore
import BridgeStore
import CurlHTTP
import Foundation
import TalkingPhoto
import Webhooks

extension BridgeAPIHandler {
    func proxyGenerate(_ input: Operations.ProxyGenerate.Input) async throws -> Operations.ProxyGenerate.Output {
        let tenant = try Caller.required()
        guard case .json(let request) = input.body else { throw BridgeError.badRequest("expected a JSON body") }
        try Self.checkUpstreamURL(request.audioUrl, "audio_url")
        try Self.checkUpstreamURL(request.imageUrl, "image_url")
        var subscription: NewSubscription?
        let secret = WebhookSecret.generate()
        if let callback = request.callbackUrl {
            let url = try validatedCallback(callback, field: "callback_url")
            subscription = NewSubscription(
                tenant: tenant, url: url, eventTypes: try request.events.map { try $0.map(EventType.init) },
                description: "created by video.generate", secret: secret.text
            )
        } else if request.events != nil {
            throw BridgeError.badRequest("events needs a callback_url")
        }
        // Refuse before submitting anything when the submit could not be recorded or would pass a limit.
        try await store.checkLimits(
            tenant: tenant, addingSubscriptions: subscription == nil ? 0 : 1, addingVideos: 1, limits: dependencies.limits
        )
        try await store.checkWritable(now: now)

        let payload = ["audio_url": request.audioUrl, "image_url": request.imageUrl]
        let body = try JSONSerialization.data(withJSONObject: payload, options: [.sortedKeys])
        let client = try upstream(for: tenant)
        let response: OutboundResponse
        do {
            response = try await client.send(method: "POST", path: "/v1/v2v/video.generate", body: body)
        } catch {
            throw BridgeError.upstreamUnreachable(error.description)
        }
        let video: UpstreamVideo
        do {
            video = try client.decodeVideo(from: response)
        } catch {
            switch error {
            case .rejected, .rateLimited, .serverError, .apiError, .unexpectedStatus:
                // The upstream's own answer, passed through unchanged.
                throw BridgeError.upstreamAnswered(
                    status: response.status, contentType: response.headers["content-type"], body: response.body
                )
            default:
                throw BridgeError.upstreamUnreachable("unreadable answer (\(error.kind))")
            }
        }
        subscription?.videoID = video.id
        let answer = Self.generateAnswer(video, subscription: subscription, secret: secret)
        let recorded = subscription
        let record: DeferredWrites.Step = { [self] in
            try await self.recordGenerated(video, tenant: tenant, subscription: recorded)
        }
        do {
            try await record()
        } catch let error as StoreError where error.isTransient {
            throw keepAcceptedRender(video.id, record: record, answer: answer)
        }
        dependencies.logger.info(
            "video submitted and tracked",
            metadata: ["video_id": "\(video.id)", "subscription_id": "\(subscription?.id ?? "")"]
        )
        return .ok(.init(body: .json(answer)))
    }

    private static func generateAnswer(
        _ video: UpstreamVideo, subscription: NewSubscription?, secret: WebhookSecret
    ) -> Components.Schemas.GenerateEnvelope {
        let shownSecret: String? = subscription == nil ? nil : secret.text
        let data = Components.Schemas.GenerateEnvelope.DataPayload(
            videoId: video.id, status: video.status.rawValue, subscriptionId: subscription?.id, subscriptionSecret: shownSecret
        )
        return Components.Schemas.GenerateEnvelope(code: 0, data: data, message: "success")
    }

    private func recordGenerated(_ video: UpstreamVideo, tenant: String, subscription: NewSubscription?) async throws(StoreError) {
        let moment = now
        let initial = Observation(videoID: video.id, status: video.status.rawValue, videoURL: video.videoURL)
        let due = moment + dependencies.pollInterval
        try await store.track(
            tenant: tenant, videoID: video.id, source: .generate, initial: initial, subscription: subscription,
            now: moment, nextPollAt: due
        )
    }

    /// The upstream accepted the render but the database refuses the write: never lose the video
    /// nor release the `Idempotency-Key`. Recording it, and then the key's response, is kept in
    /// memory and retried; meanwhile the caller gets 503 and its retries 409.
    private func keepAcceptedRender(
        _ videoID: String, record: @escaping DeferredWrites.Step, answer: Components.Schemas.GenerateEnvelope
    ) -> BridgeError {
        var steps = [record]
        if let claim = RequestBodyMiddleware.claim {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let body = (try? encoder.encode(answer)) ?? Data()
            steps.append({ [store] in
                try await store.completeIdempotencyKey(
                    tenant: claim.tenant, key: claim.key, status: 200, contentType: "application/json; charset=utf-8", body: body
                )
            })
        }
        dependencies.deferred.enqueue("accepted render " + videoID, steps: steps)
        return BridgeError.acceptedNotRecorded(videoID: videoID)
    }


    func proxyGet(_ input: Operations.ProxyGet.Input) async throws -> Operations.ProxyGet.Output {
        let tenant = try Caller.required()
        try Self.checkVideoID(input.query.videoId)
        guard let video = try await store.trackedVideo(tenant: tenant, videoID: input.query.videoId) else {
            throw BridgeError.notFound("video not found")
        }
        return .ok(.init(body: .json(.init(code: 0, data: try await upstreamShape(video), message: "success"))))
    }

    func proxyList(_ input: Operations.ProxyList.Input) async throws -> Operations.ProxyList.Output {
        let tenant = try Caller.required()
        var videos: [Components.Schemas.UpstreamVideo] = []
        var cursor: Int64?
        while true {
            let page = try await store.trackedVideos(tenant: tenant, after: cursor, limit: 1000)
            for (_, video) in page {
                videos.append(.init(videoId: video.videoID, status: video.status ?? "pending", videoUrl: video.videoURL))
            }
            guard page.count == 1000, let last = page.last else { break }
            cursor = last.cursor
        }
        return .ok(.init(body: .json(.init(code: 0, data: videos, message: "success"))))
    }

    /// The upstream's shape for a tracked video; asks the upstream when nothing was observed yet.
    private func upstreamShape(_ video: TrackedVideo) async throws -> Components.Schemas.UpstreamVideo {
        if let status = video.status {
            return .init(videoId: video.videoID, status: status, videoUrl: video.videoURL)
        }
        let client = try upstream(for: video.tenant)
        do {
            let live = try await client.video(id: video.videoID)
            return .init(videoId: live.id, status: live.status.rawValue, videoUrl: live.videoURL)
        } catch {
            throw BridgeError.upstreamUnreachable(error.description)
        }
    }

    static func checkUpstreamURL(_ value: String, _ name: String) throws {
        try checkLength(value, name, max: 2048)
        guard let components = URLComponents(string: value), let scheme = components.scheme?.lowercased(),
            scheme == "http" || scheme == "https", components.host?.isEmpty == false
        else { throw BridgeError.badRequest("\(name) must be an http(s) URL") }
    }

    func validatedCallback(_ url: String, field: String) throws -> String {
        switch dependencies.destinations.validate(url) {
        case .success(let valid): return valid
        case .failure(let reason): throw BridgeError.badRequest("\(field): \(reason)")
        }
    }
}
