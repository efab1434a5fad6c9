// API throughput: GET /v1/subscriptions and the proxy's video.get through the full bridge (auth,
// generated OpenAPI layer, SQLite read), next to a trivial Hummingbird route in the same process,
// all driven by the same curl transport with the same concurrency. Prints figures; asserts nothing.
import BridgeService
import BridgeStore
import CurlHTTP
import Foundation
import Hummingbird
import Logging
import Simulator
import TestSupport

func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }

let requests = 10_000
let concurrency = 32
let quiet: Logger = {
    var logger = Logger(label: "bench")
    logger.logLevel = .critical
    return logger
}()
let key = "bench-key-0123456789abcdef"
let directory = try TemporaryDirectory("api-bench")
defer { directory.remove() }

let simulator = try await UpstreamSimulator.start(SimulatorConfiguration(port: 0, token: "t", renderTime: .seconds(3600)), logger: quiet)
let ports = AsyncStream.makeStream(of: Int.self)
var configuration = BridgeConfiguration()
configuration.listenPort = 0
configuration.databasePath = directory.path("api.sqlite")
configuration.upstreamBaseURL = simulator.baseURL
configuration.upstreamToken = .init("t")
configuration.apiKeys = [.init(name: "bench", key: key)]
configuration.logLevel = "critical"
let bridge = try await BridgeRuntime.start(configuration: configuration, logger: quiet)
let port = bridge.port
let base = "http://127.0.0.1:\(port)"

for index in 0..<20 {
    try await bridge.runtime.store.createSubscription(NewSubscription(tenant: "bench", url: "https://hooks.example.com/\(index)", secret: "whsec_x"), now: Date())
}
let video = simulator.control.createVideos(count: 1, pinnedStatus: "in_progressing")[0]
try await bridge.runtime.store.track(tenant: "bench", videoID: video, source: .watch, initial: .init(videoID: video, status: "in_progressing"),
                        now: Date(), nextPollAt: Date().addingTimeInterval(86_400))

let router = Router()
router.get("trivial") { _, _ in "ok" }
let trivial = try await LoopbackServer.start(router: router)
let transport = try CurlTransport(configuration: .init(maxConnectionsPerHost: concurrency))

func measure(_ url: String, authorized: Bool) async throws -> (Double, Int) {
    let headers: HeaderFields = authorized ? ["Authorization": "Bearer \(key)"] : [:]
    _ = try await transport.send(OutboundRequest(url: url, headers: headers))
    let started = ContinuousClock.now
    let failures = try await withThrowingTaskGroup(of: Int.self) { group in
        for _ in 0..<concurrency {
            group.addTask {
                var failed = 0
                for _ in 0..<(requests / concurrency) {
                    let response = try? await transport.send(OutboundRequest(url: url, headers: headers))
                    if response?.status != 200 { failed += 1 }
                }
                return failed
            }
        }
        return try await group.reduce(0, +)
    }
    return (Double(requests / concurrency * concurrency) / seconds(ContinuousClock.now - started), failures)
}

print("API benchmark: \(requests) GETs per route, \(concurrency) in flight, curl transport, everything in one process")
let (baseline, baselineFailures) = try await measure(trivial.baseURL + "/trivial", authorized: false)
let (subscriptions, subscriptionFailures) = try await measure(base + "/v1/subscriptions", authorized: true)
let (proxyGet, proxyFailures) = try await measure(base + "/v1/v2v/video.get?video_id=\(video)", authorized: true)
print(String(format: "  trivial Hummingbird route           %8.0f req/s  (failures %d)", baseline, baselineFailures))
print(String(format: "  GET /v1/subscriptions (20 items)    %8.0f req/s  ratio %.2f  (failures %d)", subscriptions, subscriptions / baseline, subscriptionFailures))
print(String(format: "  GET /v1/v2v/video.get (proxy)       %8.0f req/s  ratio %.2f  (failures %d)", proxyGet, proxyGet / baseline, proxyFailures))
transport.shutdown()
await bridge.stop()
await trivial.stop()
await simulator.stop()
