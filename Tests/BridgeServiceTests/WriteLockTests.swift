import CurlHTTP
import Foundation
import Hummingbird
import Synchronization
import TestSupport
import Testing

/// Another process holds the SQLite write lock; requests that write wait on it (the busy timeout is
/// longer than the lock is held). Shown by order, not by timing: every read and `/healthz` is
/// answered while all the writes are still waiting, which is only possible if waiting writes hold
/// no thread that HTTP needs.
@Suite("An external write lock against the real binary", .serialized)
struct WriteLockTests {
    /// Another process takes the database's write lock (for at most 300 s); returns once it holds it.
    static func holdWriteLock(_ directory: TemporaryDirectory, scope: TestScope) async throws -> ChildProcess {
        let holder = try ChildProcess(
            executable: "/usr/bin/env",
            arguments: ["python3", repositoryRoot().appendingPathComponent("scripts/hold-write-lock.py").path,
                directory.path("bridge.sqlite"), "300"],
            environment: ProcessInfo.processInfo.environment, outputPath: directory.path("holder-\(UUID().uuidString.prefix(6)).log")
        )
        scope.onExit { await holder.kill9() }
        #expect(await eventually(within: .seconds(60)) { holder.output.contains("locked") }, "\(holder.output)")
        return holder
    }

    @Test("while writes wait on another process's lock, /healthz, /metrics and reads keep answering")
    func readsAnswerDuringAnExternalWriteLock() async throws {
        try await withScope { scope in
            let directory = try TemporaryDirectory("write-lock")
            scope.onExit { directory.remove() }
            let bridge = try await BinaryEndToEndTests.launch(
                directory, upstream: "http://127.0.0.1:9", extra: ["BRIDGE_DATABASE_BUSY_TIMEOUT": "300s"]
            )
            scope.onExit { await bridge.process.kill9() }
            let api = try BridgeAPIClient()
            scope.onExit { api.stop() }
            api.baseURL = bridge.baseURL
            try await api.subscribe(url: "https://hooks.example.com/before")

            let holder = try await Self.holdWriteLock(directory, scope: scope)

            // More waiting writes than the machine has threads; none can finish while the lock is held.
            let finished = FinishedCount()
            let writes = (0..<8).map { index in
                Task {
                    defer { finished.value.withLock { $0 += 1 } }
                    return try await api.call(
                        "POST", "/v1/subscriptions", ["url": "https://hooks.example.com/w\(index)"], timeout: .seconds(600)
                    ).status
                }
            }
            for path in ["/healthz", "/v1/subscriptions", "/v1/events", "/v1/videos", "/healthz", "/metrics"] {
                let (status, _) = try await api.call("GET", path, timeout: .seconds(60))
                #expect(status == 200, "\(path) → \(status)")
            }
            #expect(holder.poll() == nil, "the lock was still held while the reads were answered")
            #expect(finished.value.withLock { $0 } == 0, "and every write was still waiting on it")

            await holder.kill9()
            var statuses: [Int] = []
            for write in writes { statuses.append((try? await write.value) ?? -1) }
            #expect(statuses.allSatisfy { $0 == 201 }, "every waiting write went through once the lock was released: \(statuses)")
        }
    }
}


extension WriteLockTests {
    /// The upstream accepts a render while another process holds the write lock: the first request
    /// fails (503), the render is kept and recorded once the lock is gone, a retry meanwhile answers
    /// 409, afterwards the first response, and the upstream saw exactly one `video.generate`.
    /// Ordered by a gate the test opens: the upstream answers only once the lock is held.
    @Test("an accepted render is never submitted twice and is recorded once the store allows")
    func acceptedRenderSurvivesAnExternalWriteLock() async throws {
        try await withScope { scope in
            let directory = try TemporaryDirectory("idempotency-lock")
            scope.onExit { directory.remove() }
            let upstream = GatedUpstream()
            let server = try await LoopbackServer.start(router: upstream.router())
            scope.onExit { upstream.open(); await server.stop() }
            let bridge = try await BinaryEndToEndTests.launch(
                directory, upstream: server.baseURL,
                extra: ["BRIDGE_DATABASE_BUSY_TIMEOUT": "500ms", "BRIDGE_POLL_INTERVAL": "1h"]
            )
            scope.onExit { await bridge.process.kill9() }
            let transport = try CurlTransport()
            scope.onExit { transport.shutdown() }
            let generate: @Sendable () async throws -> OutboundResponse = {
                try await transport.send(
                    OutboundRequest(
                        method: "POST", url: bridge.baseURL + "/v1/v2v/video.generate",
                        headers: [
                            "Authorization": "Bearer \(BinaryEndToEndTests.key)", "Content-Type": "application/json",
                            "Idempotency-Key": "render-1",
                        ],
                        body: Data(#"{"audio_url":"https://cdn.example.com/a.mp3","image_url":"https://cdn.example.com/p.png"}"#.utf8),
                        timeout: .seconds(120)
                    )
                )
            }

            let first = Task { try await generate() }
            #expect(await eventually(within: .seconds(60)) { upstream.generates == 1 }, "the render reached the upstream")
            let holder = try await Self.holdWriteLock(directory, scope: scope)
            upstream.open()

            let refused = try await first.value
            let refusal = String(decoding: refused.body, as: UTF8.self)
            #expect(refused.status == 503, "\(refusal)")
            #expect(refusal.contains("50302") && refusal.contains(GatedUpstream.videoID), "\(refusal)")

            let retried = try await generate()
            #expect(retried.status == 409, "a retry while the render is not recorded yet: \(String(decoding: retried.body, as: UTF8.self))")
            #expect(holder.poll() == nil, "the lock was still held for the retry")

            await holder.kill9()
            let replayed = Mutex<OutboundResponse?>(nil)
            #expect(
                await eventually(within: .seconds(60), every: .milliseconds(200)) {
                    guard let answer = try? await generate() else { return false }
                    replayed.withLock { $0 = answer }
                    return answer.status != 409
                }
            )
            let answer = try #require(replayed.withLock { $0 })
            let text = String(decoding: answer.body, as: UTF8.self)
            #expect(answer.status == 200, "\(text)")
            #expect(answer.headers["Idempotent-Replayed"] == "true")
            #expect(text.contains(GatedUpstream.videoID), "\(text)")
            #expect(upstream.generates == 1, "the upstream saw one render, not one per retry")

            let api = try BridgeAPIClient()
            scope.onExit { api.stop() }
            api.baseURL = bridge.baseURL
            let (status, video) = try await api.call("GET", "/v1/videos/\(GatedUpstream.videoID)")
            #expect(status == 200 && video["video_id"] as? String == GatedUpstream.videoID, "the accepted render is tracked: \(video)")
            #expect(bridge.process.output.contains("kept in memory"), "the kept write is logged")
        }
    }
}

/// A stand-in upstream whose `video.generate` answers only after the test opens the gate.
private final class GatedUpstream: Sendable {
    static let videoID = "gated-render-1"
    private let state = Mutex((generates: 0, open: false))

    var generates: Int { state.withLock { $0.generates } }
    func open() { state.withLock { $0.open = true } }

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        let video = #"{"video_id":"\#(Self.videoID)","status":"pending","video_url":null}"#
        router.post("/v1/v2v/video.generate") { _, _ -> Response in
            self.state.withLock { $0.generates += 1 }
            // Bounded: the scope opens the gate on the way out, and the wait ends by itself after 120 s.
            var waited = 0
            while !self.state.withLock({ $0.open }), waited < 6_000 {
                waited += 1
                try await Task.sleep(for: .milliseconds(20))
            }
            return Self.json(#"{"code":0,"data":\#(video),"message":"success"}"#)
        }
        router.get("/v1/v2v/video.list") { _, _ in Self.json(#"{"code":0,"data":[\#(video)],"message":"success"}"#) }
        router.get("/v1/v2v/video.get") { _, _ in Self.json(#"{"code":0,"data":\#(video),"message":"success"}"#) }
        return router
    }

    private static func json(_ text: String) -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

private final class FinishedCount: Sendable {
    let value = Mutex(0)
}
