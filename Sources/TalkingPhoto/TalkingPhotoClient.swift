public import CurlHTTP
public import Foundation

/// The upstream API token. Its description is redacted so it cannot leak through logs or errors.
public struct UpstreamToken: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    let value: String
    public init(_ value: String) { self.value = value }
    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
    public var isEmpty: Bool { value.isEmpty }
}

/// Client for the three Talking Photo endpoints (`video.generate`, `video.get`, `video.list`).
public struct TalkingPhotoClient: Sendable {
    public struct Configuration: Sendable {
        /// e.g. `https://openapi.surreal-ai.com` (no trailing path).
        public var baseURL: String
        public var token: UpstreamToken
        public var timeout: Duration
        public var connectTimeout: Duration
        /// `video.list` returns the account's whole history, so its cap is generous.
        public var maxResponseBytes: Int

        public init(
            baseURL: String,
            token: UpstreamToken,
            timeout: Duration = .seconds(10),
            connectTimeout: Duration = .seconds(3),
            maxResponseBytes: Int = 64 << 20
        ) {
            self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
            self.token = token
            self.timeout = timeout
            self.connectTimeout = connectTimeout
            self.maxResponseBytes = maxResponseBytes
        }
    }

    public let configuration: Configuration
    public let transport: any HTTPTransport
    private let now: @Sendable () -> Date

    public init(
        configuration: Configuration,
        transport: any HTTPTransport,
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.configuration = configuration
        self.transport = transport
        self.now = now
    }

    /// Submits a render. The answer's status is normally `pending`.
    public func generate(audioURL: String, imageURL: String) async throws(UpstreamError) -> UpstreamVideo {
        let payload = ["audio_url": audioURL, "image_url": imageURL]
        guard let body = try? JSONSerialization.data(withJSONObject: payload, options: [.sortedKeys]) else {
            throw .malformed("could not encode the request")
        }
        let response = try await send(method: "POST", path: "/v1/v2v/video.generate", body: body)
        let decoder = EnvelopeDecoder(now: now())
        let data = try decoder.data(of: response)
        guard let video = decoder.video(from: data) else { throw .malformed("generate answer has no video") }
        return video
    }

    /// Reads a `video.generate` / `video.get` answer obtained through ``send(method:path:body:)``.
    public func decodeVideo(from response: OutboundResponse) throws(UpstreamError) -> UpstreamVideo {
        let decoder = EnvelopeDecoder(now: now())
        let data = try decoder.data(of: response)
        guard let video = decoder.video(from: data) else { throw .malformed("answer has no video") }
        return video
    }

    /// One video's current status.
    public func video(id: String) async throws(UpstreamError) -> UpstreamVideo {
        var query = URLComponents()
        query.queryItems = [URLQueryItem(name: "video_id", value: id)]
        let encoded = query.percentEncodedQuery ?? ""
        let response = try await send(method: "GET", path: "/v1/v2v/video.get?\(encoded)", body: nil)
        let decoder = EnvelopeDecoder(now: now())
        let data = try decoder.data(of: response)
        guard let video = decoder.video(from: data) else { throw .malformed("video item unreadable") }
        // An answer about another video must not be taken as this one's status.
        guard video.id == id else { throw .malformed("answer is about another video") }
        return video
    }

    /// Every video of the account, as the upstream lists them (unpaginated).
    public func listVideos() async throws(UpstreamError) -> UpstreamVideoList {
        let response = try await send(method: "GET", path: "/v1/v2v/video.list", body: nil)
        // A whole account's history can be tens of thousands of items: the common well-formed answer
        // is read in one pass straight into small structs (JSONSerialization's dictionaries would cost
        // ~3 KB per item at peak). Anything unusual takes the tolerant path, which names the problem.
        if (200..<300).contains(response.status), let list = FastVideoList.decode(response) { return list }
        return try Self.tolerantList(response, now: now())
    }

    /// Reads a `video.list` answer through JSONSerialization, tolerating numeric ids and odd items.
    static func tolerantList(_ response: OutboundResponse, now: Date) throws(UpstreamError) -> UpstreamVideoList {
        let decoder = EnvelopeDecoder(now: now)
        guard let items = try decoder.data(of: response) as? [Any] else { throw .malformed("list data is not an array") }
        var videos: [UpstreamVideo] = []
        videos.reserveCapacity(items.count)
        var unreadable = 0
        for item in items {
            if let video = decoder.video(from: item) { videos.append(video) } else { unreadable += 1 }
        }
        return UpstreamVideoList(videos: videos, unreadableItems: unreadable)
    }

    /// The raw exchange, for callers (the drop-in proxy) that pass upstream answers through unchanged.
    public func send(method: String, path: String, body: Data?) async throws(UpstreamError) -> OutboundResponse {
        var headers: HeaderFields = ["Authorization": "Bearer \(configuration.token.value)", "Accept": "application/json"]
        if body != nil { headers.add(name: "Content-Type", value: "application/json") }
        let request = OutboundRequest(
            method: method,
            url: configuration.baseURL + path,
            headers: headers,
            body: body,
            timeout: configuration.timeout,
            connectTimeout: configuration.connectTimeout,
            maxResponseBytes: configuration.maxResponseBytes
        )
        do {
            return try await transport.send(request)
        } catch {
            throw .unreachable(error)
        }
    }
}
