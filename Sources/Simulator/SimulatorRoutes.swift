import Foundation
import Hummingbird
import Logging

/// The HTTP surface: upstream endpoints (with faults), control endpoints, fake video files.
struct SimulatorRoutes: Sendable {
    /// The default account: control endpoints, faults, and calls without a known token.
    let control: SimulatorControl
    /// Every account by token.
    let accounts: [String: SimulatorControl]
    let logger: Logger

    static let maximumBodySize = 1 << 20

    func register(on router: Router<BasicRequestContext>) {
        // Upstream API.
        router.post("/v1/v2v/video.generate") { request, _ in
            try await self.upstream(.generate, request)
        }
        router.get("/v1/v2v/video.get") { request, _ in
            try await self.upstream(.get, request)
        }
        router.get("/v1/v2v/video.list") { request, _ in
            try await self.upstream(.list, request)
        }
        // Rendered "videos".
        router.get("/videos/:file") { _, context in
            self.videoFile(context.parameters.get("file") ?? "")
        }
        // Control API, never faulted, no auth.
        router.get("/_sim/healthz") { _, _ in
            Self.json(.ok, "{\"status\":\"ok\"}")
        }
        router.get("/_sim/faults") { _, _ in
            Self.encoded(self.control.faults())
        }
        router.put("/_sim/faults") { request, _ in
            await self.putFaults(request)
        }
        router.delete("/_sim/faults") { _, _ in
            self.control.setFaults(.none)
            return Self.encoded(FaultSettings.none)
        }
        router.get("/_sim/stats") { _, _ in
            self.stats()
        }
        router.delete("/_sim/stats") { _, _ in
            self.control.resetCallCounts()
            return self.stats()
        }
        router.post("/_sim/videos") { request, _ in
            await self.createVideos(request)
        }
        router.put("/_sim/videos") { request, _ in
            await self.pinAll(request)
        }
        router.get("/_sim/calls") { _, _ in
            self.recentCalls()
        }
        router.delete("/_sim/videos") { _, _ in
            self.control.removeAllVideos()
            return self.stats()
        }
        router.get("/_sim/videos/:id") { request, context in
            self.showVideo(context.parameters.get("id") ?? "", request)
        }
        router.put("/_sim/videos/:id") { request, context in
            await self.pinVideo(context.parameters.get("id") ?? "", request)
        }
        router.delete("/_sim/videos/:id/pin") { request, context in
            let id = context.parameters.get("id") ?? ""
            guard self.control.unpin(videoID: id) else { return Self.controlError(.notFound, "video not found") }
            return self.showVideo(id, request)
        }
    }

    // MARK: Upstream

    private func upstream(_ endpoint: SimulatorEndpoint, _ request: Request) async throws -> Response {
        // A call counts on the account its token opens (on the default one when it opens none).
        let account = self.account(of: request)
        let control = account ?? self.control
        control.recordCall(endpoint)
        let faults = self.control.faults()
        let faulted = faults.applies(to: endpoint) && faults != .none
        let dice = control.faultRandom
        var truncate = false
        if faulted {
            if faults.latency > .zero {
                control.recordFault(.latency)
                try await Task.sleep(for: faults.latency)
            }
            if dice.chance(faults.hangRatio) {
                control.recordFault(.hang)
                logger.debug("simulated hang", metadata: ["endpoint": "\(endpoint.rawValue)"])
                try await Task.sleep(for: faults.hangTime)
            }
            if dice.chance(faults.rateLimitRatio) {
                control.recordFault(.rateLimit)
                return rateLimited(faults)
            }
            if dice.chance(faults.serverErrorRatio) {
                control.recordFault(.serverError)
                return Self.serverError(faults.serverErrorStatus)
            }
            if dice.chance(faults.htmlRatio) {
                control.recordFault(.html)
                return Self.htmlPage()
            }
            if dice.chance(faults.truncatedRatio) {
                control.recordFault(.truncated)
                truncate = true
            } else if dice.chance(faults.nonzeroCodeRatio) {
                control.recordFault(.nonzeroCode)
                return Self.json(.ok, JSONText.failure(
                    code: SimulatorErrorCode.internalError, message: "internal error, please retry"))
            }
        }

        var answer: (status: HTTPResponse.Status, body: String)
        if account == nil {
            answer = (.unauthorized, JSONText.failure(code: SimulatorErrorCode.invalidToken, message: "invalid token"))
        } else {
            let authority = request.head.authority.flatMap { $0.isEmpty ? nil : $0 } ?? control.defaultAuthority
            switch endpoint {
            case .generate:
                answer = await generate(request, createVideo: !truncate, in: control)
            case .get:
                answer = getVideo(request, authority: authority, faults: faulted ? faults : nil, in: control)
            case .list:
                var videos = control.allVideos(authority: authority)
                if faulted { videos = videos.map { itemFaults($0, faults) } }
                answer = (.ok, JSONText.success(data: JSONText.videoList(videos)))
            }
        }
        logger.debug("upstream call", metadata: [
            "endpoint": "\(endpoint.rawValue)", "status": "\(answer.status.code)", "truncated": "\(truncate)",
        ])
        if truncate {
            let bytes = Array(answer.body.utf8)
            return Self.response(answer.status, contentType: "application/json", bytes: bytes.prefix(bytes.count / 2))
        }
        return Self.json(answer.status, answer.body)
    }

    /// The account whose token the request carries (compared in constant time); nil when none.
    private func account(of request: Request) -> SimulatorControl? {
        guard let header = request.headers[.authorization] else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let given = Array(parts[1].trimmingCharacters(in: .whitespaces).utf8)
        var found: SimulatorControl?
        for (token, account) in accounts {
            let expected = Array(token.utf8)
            guard given.count == expected.count else { continue }
            var difference: UInt8 = 0
            for (a, b) in zip(given, expected) { difference |= a ^ b }
            if difference == 0 { found = account }
        }
        return found
    }

    private func generate(_ request: Request, createVideo: Bool, in control: SimulatorControl) async -> (status: HTTPResponse.Status, body: String) {
        func invalid(_ message: String, _ code: Int = SimulatorErrorCode.invalidRequest) -> (HTTPResponse.Status, String) {
            (.badRequest, JSONText.failure(code: code, message: message))
        }
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: Self.maximumBodySize)
        } catch {
            return (.contentTooLarge, JSONText.failure(
                code: SimulatorErrorCode.bodyTooLarge, message: "request body larger than 1 MiB"))
        }
        let bytes = buffer.getBytes(at: buffer.readerIndex, length: buffer.readableBytes) ?? []
        guard !bytes.isEmpty else { return invalid("request body must be a JSON object with audio_url and image_url") }
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) else {
            return invalid("request body is not valid JSON")
        }
        guard let fields = object as? [String: Any] else {
            return invalid("request body must be a JSON object with audio_url and image_url")
        }
        var urls: [String: String] = [:]
        for name in ["audio_url", "image_url"] {
            guard let raw = fields[name], !(raw is NSNull) else { return invalid("\(name) is required") }
            guard let text = raw as? String else { return invalid("\(name) must be a string") }
            guard !text.isEmpty else { return invalid("\(name) must not be empty") }
            guard Self.isDownloadableURL(text) else { return invalid("\(name) must be an http or https URL") }
            urls[name] = text
        }
        if urls["image_url", default: ""].lowercased().contains("noface") {
            return invalid("face area must be at least 160x160", SimulatorErrorCode.faceTooSmall)
        }
        if urls["audio_url", default: ""].lowercased().contains("toolong") {
            return invalid("audio longer than 1 minute", SimulatorErrorCode.audioTooLong)
        }
        let id = createVideo ? control.submit() : control.unsavedID()
        return (.ok, JSONText.success(data: JSONText.video(VideoView(id: id, status: VideoStatus.pending))))
    }

    static func isDownloadableURL(_ text: String) -> Bool {
        guard let components = URLComponents(string: text),
              let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = components.host, !host.isEmpty
        else { return false }
        return true
    }

    private func getVideo(_ request: Request, authority: String, faults: FaultSettings?, in control: SimulatorControl)
        -> (status: HTTPResponse.Status, body: String)
    {
        guard let id = request.uri.queryParameters["video_id"].map(String.init), !id.isEmpty else {
            return (.badRequest, JSONText.failure(code: SimulatorErrorCode.invalidRequest, message: "video_id is required"))
        }
        guard var video = control.video(id, authority: authority) else {
            return (.notFound, JSONText.failure(code: SimulatorErrorCode.videoNotFound, message: "video not found"))
        }
        if let faults { video = itemFaults(video, faults) }
        return (.ok, JSONText.success(data: JSONText.video(video)))
    }

    /// Unknown status first; when it does not hit, backwards status.
    private func itemFaults(_ video: VideoView, _ faults: FaultSettings) -> VideoView {
        let dice = control.faultRandom
        if dice.chance(faults.unknownStatusRatio) {
            control.recordFault(.unknownStatus)
            return VideoView(id: video.id, status: faults.unknownStatus)
        }
        if dice.chance(faults.backwardsRatio) {
            switch video.status {
            case VideoStatus.inProgressing:
                control.recordFault(.backwards)
                return VideoView(id: video.id, status: VideoStatus.pending)
            case VideoStatus.finished, VideoStatus.error:
                control.recordFault(.backwards)
                return VideoView(id: video.id, status: VideoStatus.inProgressing)
            default:
                return video
            }
        }
        return video
    }

    // MARK: Fault answers

    private func rateLimited(_ faults: FaultSettings) -> Response {
        var response = Self.json(.tooManyRequests, JSONText.failure(code: SimulatorErrorCode.rateLimited, message: "rate limited"))
        if !faults.omitRetryAfter {
            let seconds = max(faults.retryAfterSeconds, 0)
            response.headers[.retryAfter] = faults.retryAfterHTTPDate
                ? Self.httpDate(control.now().addingTimeInterval(TimeInterval(seconds)))
                : String(seconds)
        }
        return response
    }

    static func serverError(_ code: Int) -> Response {
        let code = (500...599).contains(code) ? code : 500
        let reasons = [
            500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway",
            503: "Service Unavailable", 504: "Gateway Timeout",
        ]
        let reason = reasons[code] ?? "Server Error"
        let status = HTTPResponse.Status(code: code, reasonPhrase: reason)
        if code == 500 {
            return json(status, JSONText.failure(code: SimulatorErrorCode.serverError, message: "internal server error"))
        }
        return response(status, contentType: "text/plain; charset=utf-8", bytes: Array("\(code) \(reason)\n".utf8)[...])
    }

    static func htmlPage() -> Response {
        let page = """
            <html>
            <head><title>502 Bad Gateway</title></head>
            <body>
            <center><h1>502 Bad Gateway</h1></center>
            <hr><center>nginx</center>
            </body>
            </html>

            """
        return response(.ok, contentType: "text/html; charset=utf-8", bytes: Array(page.utf8)[...])
    }

    /// IMF-fixdate (RFC 9110 §5.6.7), e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
    /// Fractions of a second are rounded up, so the date is never earlier than asked for.
    static func httpDate(_ date: Date) -> String {
        let date = Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.up))
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "GMT") ?? TimeZone(secondsFromGMT: 0) ?? calendar.timeZone
        let parts = calendar.dateComponents([.weekday, .day, .month, .year, .hour, .minute, .second], from: date)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int?) -> String {
            let value = value ?? 0
            return value < 10 ? "0\(value)" : "\(value)"
        }
        let day = days[((parts.weekday ?? 1) - 1 + 7) % 7]
        let month = months[((parts.month ?? 1) - 1 + 12) % 12]
        let year = String(parts.year ?? 1970)
        return "\(day), \(two(parts.day)) \(month) \(year) \(two(parts.hour)):\(two(parts.minute)):\(two(parts.second)) GMT"
    }

    // MARK: Control

    private struct Stats: Encodable {
        var calls: SimulatorCallCounts
        var videos: Int
    }

    private func stats() -> Response {
        Self.encoded(Stats(calls: control.callCounts(), videos: control.videoCount))
    }

    private func putFaults(_ request: Request) async -> Response {
        guard let data = await Self.body(request) else {
            return Self.controlError(.contentTooLarge, "request body larger than 1 MiB")
        }
        do {
            let faults = try JSONDecoder().decode(FaultSettings.self, from: data.isEmpty ? Data("{}".utf8) : data)
            control.setFaults(faults)
            return Self.encoded(faults)
        } catch {
            return Self.controlError(.badRequest, "invalid fault settings: \(Self.describe(error))")
        }
    }

    private struct CreateVideos: Decodable {
        var count: Int
        var status: String?
    }

    private struct CreatedVideos: Encodable {
        var videoIDs: [String]
        enum CodingKeys: String, CodingKey { case videoIDs = "video_ids" }
    }

    private func createVideos(_ request: Request) async -> Response {
        guard let data = await Self.body(request) else {
            return Self.controlError(.contentTooLarge, "request body larger than 1 MiB")
        }
        let body: CreateVideos
        do {
            body = try JSONDecoder().decode(CreateVideos.self, from: data)
        } catch {
            return Self.controlError(.badRequest, "expected {\"count\":N,\"status\":\"…\"?}: \(Self.describe(error))")
        }
        guard (1...SimulatorControl.maximumBulkCount).contains(body.count) else {
            return Self.controlError(.badRequest, "count must be 1…\(SimulatorControl.maximumBulkCount)")
        }
        if let status = body.status, status.isEmpty {
            return Self.controlError(.badRequest, "status must not be empty")
        }
        let ids = control.createVideos(count: body.count, pinnedStatus: body.status)
        return Self.encoded(CreatedVideos(videoIDs: ids))
    }

    private struct PinVideo: Decodable {
        var status: String
        var videoURL: String?
        enum CodingKeys: String, CodingKey {
            case status
            case videoURL = "video_url"
        }
    }

    /// A pin request's body, or the error answer for it.
    private static func pinBody(_ request: Request) async -> Result<PinVideo, ControlRefusal> {
        guard let data = await body(request) else {
            return .failure(ControlRefusal(controlError(.contentTooLarge, "request body larger than 1 MiB")))
        }
        let pin: PinVideo
        do {
            pin = try JSONDecoder().decode(PinVideo.self, from: data)
        } catch {
            return .failure(ControlRefusal(controlError(.badRequest, "expected {\"status\":\"…\",\"video_url\":\"…\"?}: \(describe(error))")))
        }
        guard !pin.status.isEmpty else { return .failure(ControlRefusal(controlError(.badRequest, "status must not be empty"))) }
        return .success(pin)
    }

    private struct ControlRefusal: Error {
        let response: Response
        init(_ response: Response) { self.response = response }
    }

    private func pinVideo(_ id: String, _ request: Request) async -> Response {
        guard control.contains(id) else { return Self.controlError(.notFound, "video not found") }
        let body: PinVideo
        switch await Self.pinBody(request) {
        case .success(let pin): body = pin
        case .failure(let refusal): return refusal.response
        }
        guard control.pin(videoID: id, status: body.status, videoURL: body.videoURL) else {
            return Self.controlError(.notFound, "video not found")
        }
        return showVideo(id, request)
    }

    private struct Pinned: Encodable {
        var pinned: Int
    }

    private func pinAll(_ request: Request) async -> Response {
        switch await Self.pinBody(request) {
        case .success(let pin): return Self.encoded(Pinned(pinned: control.pinAll(status: pin.status, videoURL: pin.videoURL)))
        case .failure(let refusal): return refusal.response
        }
    }

    /// Arrival times (seconds since 1970) of the most recent calls per upstream endpoint.
    private func recentCalls() -> Response {
        var calls: [String: [Double]] = [:]
        for endpoint in SimulatorEndpoint.allCases {
            calls[endpoint.rawValue] = control.recentCalls(to: endpoint).map(\.timeIntervalSince1970)
        }
        return Self.encoded(["calls": calls])
    }

    private func showVideo(_ id: String, _ request: Request) -> Response {
        let authority = request.head.authority.flatMap { $0.isEmpty ? nil : $0 } ?? control.defaultAuthority
        guard let video = control.video(id, authority: authority) else {
            return Self.controlError(.notFound, "video not found")
        }
        return Self.json(.ok, JSONText.video(video))
    }

    private func videoFile(_ file: String) -> Response {
        guard file.hasSuffix(".mp4"), control.contains(String(file.dropLast(4))) else {
            return Self.response(.notFound, contentType: "text/plain; charset=utf-8", bytes: Array("not found\n".utf8)[...])
        }
        // A minimal ISO base media header: enough for "is it an mp4?" checks, not playable.
        let bytes: [UInt8] = [0, 0, 0, 24] + Array("ftypisom".utf8) + [0, 0, 2, 0] + Array("isommp41".utf8)
        return Self.response(.ok, contentType: "video/mp4", bytes: bytes[...])
    }

    // MARK: Helpers

    /// The request body, or `nil` when it is over the limit.
    private static func body(_ request: Request) async -> Data? {
        var request = request
        guard let buffer = try? await request.collectBody(upTo: maximumBodySize) else { return nil }
        return Data(buffer.getBytes(at: buffer.readerIndex, length: buffer.readableBytes) ?? [])
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let context):
            return context.underlyingError == nil ? context.debugDescription : "malformed JSON"
        case DecodingError.keyNotFound(let key, _):
            return "missing \(key.stringValue)"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? context.debugDescription : "wrong type for \(path)"
        default:
            return "\(error)"
        }
    }

    static func json(_ status: HTTPResponse.Status, _ text: String) -> Response {
        response(status, contentType: "application/json", bytes: Array(text.utf8)[...])
    }

    static func response(_ status: HTTPResponse.Status, contentType: String, bytes: ArraySlice<UInt8>) -> Response {
        Response(
            status: status,
            headers: [.contentType: contentType],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes))
        )
    }

    private static func encoded(_ value: some Encodable) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(value) else {
            return controlError(.internalServerError, "could not encode the answer")
        }
        return response(.ok, contentType: "application/json", bytes: Array(data)[...])
    }

    private static func controlError(_ status: HTTPResponse.Status, _ message: String) -> Response {
        json(status, "{\"error\":" + JSONText.string(message) + "}")
    }
}
