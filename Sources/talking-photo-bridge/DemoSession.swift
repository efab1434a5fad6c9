import ArgumentParser
import BridgeService
import CurlHTTP
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Simulator
import Synchronization
import Webhooks

/// The pieces of the demo and the script it plays. Output is for people: one line per callback,
/// a progress line while waiting, a summary, and commands to try.
final class DemoSession: Sendable {
    static let apiKey = "demo-key-0123456789abcdef"

    struct Callback: Sendable {
        var type: String
        var videoID: String
        var status: String
        var verified: Bool
        var latency: Double
        var attemptFailed: Bool
    }

    let simulator: RunningSimulator
    let receiver: LoopbackReceiver
    let bridge: RunningBridge
    let baseURL: String
    let transport: CurlTransport
    let temporaryDatabase: String?
    let videos: Int
    let renderTime: Duration
    let pollInterval: Duration

    private init(
        simulator: RunningSimulator, receiver: LoopbackReceiver, bridge: RunningBridge,
        baseURL: String, transport: CurlTransport, temporaryDatabase: String?, videos: Int, renderTime: Duration,
        pollInterval: Duration
    ) {
        self.simulator = simulator
        self.receiver = receiver
        self.bridge = bridge
        self.baseURL = baseURL
        self.transport = transport
        self.temporaryDatabase = temporaryDatabase
        self.videos = videos
        self.renderTime = renderTime
        self.pollInterval = pollInterval
    }

    /// `settings`: the bridge's listen address, database and poll interval, already checked; with
    /// `temporaryDatabase` a file in the temp directory, removed at exit, is used instead.
    static func start(
        settings: BridgeConfiguration, temporaryDatabase: Bool, videos: Int, renderTime: Duration, logger: Logger
    ) async throws -> DemoSession {
        let host = settings.listenHost
        let pollInterval = settings.pollInterval
        let simulator = try await UpstreamSimulator.start(
            SimulatorConfiguration(port: 0, token: "sim-token", renderTime: renderTime, pendingTime: renderTime / 3, errorRatio: 0.2, seed: 42),
            logger: logger
        )
        let receiver = try await LoopbackReceiver.start()
        let temporary = temporaryDatabase
            ? FileManager.default.temporaryDirectory.appendingPathComponent("talking-photo-demo-\(getpid()).sqlite").path : nil
        var configuration = settings
        if let temporary { configuration.database = .sqlite(path: temporary) }
        configuration.upstreamBaseURL = simulator.baseURL
        configuration.upstreamToken = .init("sim-token")
        configuration.apiKeys = [.init(name: "demo", key: apiKey)]
        configuration.allowPrivateDestinations = true
        configuration.pollInterval = pollInterval
        configuration.retrySchedule = [.zero, .seconds(2), .seconds(5), .seconds(30)]
        configuration.logLevel = "error"
        let bridge: RunningBridge
        do {
            bridge = try await BridgeRuntime.start(configuration: configuration, logger: logger)
        } catch {
            throw ValidationError("the bridge did not start on \(host):\(settings.listenPort): \(error)")
        }
        let bound = bridge.port
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return DemoSession(
            simulator: simulator, receiver: receiver, bridge: bridge,
            baseURL: "http://\(shownHost):\(bound)", transport: try CurlTransport(), temporaryDatabase: temporary,
            videos: videos, renderTime: renderTime, pollInterval: pollInterval
        )
    }

    func play() async throws {
        print("""
            Talking Photo Bridge demo
              upstream simulator  \(simulator.baseURL)   (render time \(renderTime), 1 in 5 renders fails)
              bridge              \(baseURL)   (API key: \(Self.apiKey))
              console             \(baseURL)/console   (open it in a browser; sign in with the API key)
              receiver            \(receiver.url)   (verifies every signature; fails its first answer on purpose)

            """)
        let subscription = try await call("POST", "/v1/subscriptions", ["url": receiver.url, "description": "demo receiver"])
        guard let secretText = subscription["secret"] as? String, let secret = WebhookSecret(secretText),
            let subscriptionID = subscription["id"] as? String
        else { throw ValidationError("could not create the subscription: \(subscription)") }
        receiver.trust(secret)
        print("registered subscription \(subscriptionID) → \(receiver.url)")

        var submitted: [String] = []
        for index in 1...videos {
            let reply = try await call("POST", "/v1/v2v/video.generate", [
                "audio_url": "https://media.example.com/voice-\(index).mp3",
                "image_url": "https://media.example.com/face-\(index).jpg",
            ])
            let id = (reply["data"] as? [String: Any])?["video_id"] as? String ?? "?"
            submitted.append(id)
            print("submitted video \(id) through the drop-in proxy (POST /v1/v2v/video.generate)")
        }
        print("\nwaiting for callbacks (each line: type, video, status, signature check, commit→receipt latency)\n")

        let started = ContinuousClock.now
        var printed = 0
        var lastProgress = ContinuousClock.now
        let expectedTerminal = Set(submitted)
        while ContinuousClock.now - started < .seconds(120) {
            let callbacks = receiver.callbacks
            for callback in callbacks.dropFirst(printed) {
                let mark = callback.verified ? "verified ✓" : "SIGNATURE INVALID ✗"
                let retry = callback.attemptFailed ? "  (receiver answered 503 on purpose → the bridge will retry)" : ""
                let latency = String(format: "%6.0f ms", callback.latency)
                print("  \(callback.type.padded(22)) \(callback.videoID)  \(callback.status.padded(15)) \(mark)  \(latency)\(retry)")
            }
            printed = callbacks.count
            let done = Set(callbacks.filter { !$0.attemptFailed && ["finished", "error"].contains($0.status) }.map(\.videoID))
            if expectedTerminal.isSubset(of: done) { break }
            if ContinuousClock.now - lastProgress > .seconds(3) {
                let rendering = expectedTerminal.subtracting(done).count
                print("  … \(rendering) video(s) still rendering upstream; the bridge polls video.list every \(pollInterval)")
                lastProgress = ContinuousClock.now
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        let callbacks = receiver.callbacks
        let calls = simulator.control.callCounts()
        let delivered = callbacks.filter { !$0.attemptFailed }
        let latencies = delivered.map(\.latency).sorted()
        print("""

            summary
              callbacks received   \(callbacks.count) (\(delivered.count) accepted, \(callbacks.count - delivered.count) failed on purpose and retried)
              signatures verified  \(callbacks.filter(\.verified).count) of \(callbacks.count)
              commit → receipt     median \(Int(latencies.isEmpty ? 0 : latencies[latencies.count / 2])) ms
              upstream calls       video.generate \(calls.generate), video.list \(calls.list), video.get \(calls.get)

            see it in the browser: \(baseURL)/console   (sign in with \(Self.apiKey))

            try it (API key \(Self.apiKey)):
              curl -s \(baseURL)/v1/videos -H 'Authorization: Bearer \(Self.apiKey)'
              curl -s '\(baseURL)/v1/events?limit=5' -H 'Authorization: Bearer \(Self.apiKey)'
              curl -s '\(baseURL)/v1/deliveries?subscription_id=\(subscriptionID)' -H 'Authorization: Bearer \(Self.apiKey)'
              curl -s -X POST \(baseURL)/v1/subscriptions/\(subscriptionID)/test -H 'Authorization: Bearer \(Self.apiKey)'
              curl -s -X POST \(baseURL)/v1/v2v/video.generate -H 'Authorization: Bearer \(Self.apiKey)' \\
                   -H 'Content-Type: application/json' \\
                   -d '{"audio_url":"https://media.example.com/a.mp3","image_url":"https://media.example.com/f.jpg"}'
              curl -s \(baseURL)/metrics
            """)
    }

    func waitForInterrupt() async {
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self)
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let sources = [SIGINT, SIGTERM].map { number in
            let source = DispatchSource.makeSignalSource(signal: number)
            source.setEventHandler { continuation.yield() }
            source.resume()
            return source
        }
        var iterator = stream.makeAsyncIterator()
        _ = await iterator.next()
        sources.forEach { $0.cancel() }
    }

    func stop() async {
        await bridge.stop()
        transport.shutdown()
        await receiver.stop()
        await simulator.stop()
        if let temporaryDatabase {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: temporaryDatabase + suffix) }
        }
    }

    private func call(_ method: String, _ path: String, _ json: [String: Any]) async throws -> [String: Any] {
        let response = try await transport.send(
            OutboundRequest(
                method: method, url: baseURL + path,
                headers: ["Authorization": "Bearer \(Self.apiKey)", "Content-Type": "application/json"],
                body: try JSONSerialization.data(withJSONObject: json), timeout: .seconds(30)
            )
        )
        return (try? JSONSerialization.jsonObject(with: response.body) as? [String: Any]) ?? [:]
    }
}

/// The demo's receiver: verifies each callback with the subscription's secret, fails its very first
/// answer (503) so the retry is visible, and remembers what it saw.
final class LoopbackReceiver: Sendable {
    private let state = Mutex<(secret: WebhookSecret?, callbacks: [DemoSession.Callback])>((nil, []))
    private let task: Task<Void, any Error>
    let url: String

    private init(task: Task<Void, any Error>, url: String) {
        self.task = task
        self.url = url
    }

    static func start() async throws -> LoopbackReceiver {
        let holder = ReceiverBox()
        let router = Router()
        router.post("hooks") { request, _ -> Response in
            let body = Data(buffer: try await request.body.collect(upTo: 1 << 20))
            func header(_ name: String) -> String { HTTPField.Name(name).flatMap { request.headers[$0] } ?? "" }
            let accepted = holder.receiver?.record(
                id: header("webhook-id"), timestamp: header("webhook-timestamp"), signature: header("webhook-signature"), body: body
            ) ?? false
            return Response(status: accepted ? .noContent : .serviceUnavailable)
        }
        let ports = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "demo-receiver"),
            onServerRunning: { channel in
                ports.continuation.yield(channel.localAddress?.port ?? 0)
                ports.continuation.finish()
            },
            logger: {
                var logger = Logger(label: "demo.receiver")
                logger.logLevel = .critical
                return logger
            }()
        )
        let task = Task { try await app.run() }
        var iterator = ports.stream.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else { throw ValidationError("the demo receiver did not start") }
        let receiver = LoopbackReceiver(task: task, url: "http://127.0.0.1:\(port)/hooks")
        holder.receiver = receiver
        return receiver
    }

    func trust(_ secret: WebhookSecret) { state.withLock { $0.secret = secret } }

    var callbacks: [DemoSession.Callback] { state.withLock { $0.callbacks } }

    /// Records one callback; returns whether to accept it (the first one is refused on purpose).
    func record(id: String, timestamp: String, signature: String, body: Data) -> Bool {
        let json = (try? JSONSerialization.jsonObject(with: body) as? [String: Any]) ?? [:]
        let data = json["data"] as? [String: Any] ?? [:]
        let sent = (json["timestamp"] as? String).flatMap { text -> Date? in
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            return formatter.date(from: text)
        }
        return state.withLock { state in
            let verified = state.secret.map {
                WebhookSigner.verify(id: id, timestamp: Int64(timestamp) ?? 0, body: body, header: signature, secrets: [$0])
            } ?? false
            let refuse = state.callbacks.isEmpty
            state.callbacks.append(
                DemoSession.Callback(
                    type: json["type"] as? String ?? "?", videoID: data["video_id"] as? String ?? "-",
                    status: data["status"] as? String ?? "-", verified: verified,
                    latency: sent.map { Date().timeIntervalSince($0) * 1000 } ?? 0, attemptFailed: refuse
                )
            )
            return !refuse
        }
    }

    func stop() async {
        task.cancel()
        _ = await task.result
    }
}

/// Lets the route closure reach the receiver created after the router.
private final class ReceiverBox: @unchecked Sendable {
    // Written once before the server accepts its first request; read-only afterwards.
    nonisolated(unsafe) var receiver: LoopbackReceiver?
}

extension String {
    fileprivate func padded(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
