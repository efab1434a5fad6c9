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
configuration.database = .sqlite(path: directory.path("api.sqlite"))
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

/// CPU seconds this process has used (user + system): every thread, client and server alike.
func processCPU() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

struct Round {
    var rate: Double
    var cpuPerRequest: Double
    var failures: Int
}

func measure(_ url: String, authorized: Bool) async throws -> Round {
    let headers: HeaderFields = authorized ? ["Authorization": "Bearer \(key)"] : [:]
    _ = try await transport.send(OutboundRequest(url: url, headers: headers))
    let cpuBefore = processCPU()
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
    let sent = Double(requests / concurrency * concurrency)
    return Round(rate: sent / seconds(ContinuousClock.now - started), cpuPerRequest: (processCPU() - cpuBefore) / sent, failures: failures)
}

func median(_ values: [Double]) -> Double { values.isEmpty ? .nan : values.sorted()[values.count / 2] }

// Alternating rounds (trivial, then each route) so a drift in the machine's speed hits all alike;
// ratios are taken within a round and the median of the rounds is printed.
let rounds = 3
print("API benchmark: \(requests) GETs per route and round, \(rounds) alternating rounds, \(concurrency) in flight, curl transport, one process")
var results: [String: [Round]] = [:]
let routes: [(String, String, Bool)] = [
    ("trivial Hummingbird route", trivial.baseURL + "/trivial", false),
    ("GET /healthz (OpenAPI layer, no key, no database)", base + "/healthz", false),
    ("GET /v1/subscriptions (20 items)", base + "/v1/subscriptions", true),
    ("GET /v1/v2v/video.get (proxy)", base + "/v1/v2v/video.get?video_id=\(video)", true),
]
// API_BENCH_ONLY=<part of a route name> measures that route alone (to profile it; no ratios then).
let only = ProcessInfo.processInfo.environment["API_BENCH_ONLY"]
for _ in 0..<rounds {
    for (name, url, authorized) in routes where only.map({ name.contains($0) }) ?? true {
        results[name, default: []].append(try await measure(url, authorized: authorized))
    }
}
let baselineRounds = results[routes[0].0] ?? []
for (name, _, _) in routes {
    let own = results[name] ?? []
    guard !own.isEmpty else { continue }
    let ratios = zip(own, baselineRounds).map { $0.rate / $1.rate }
    let cpuRatios = zip(own, baselineRounds).map { $0.cpuPerRequest / $1.cpuPerRequest }
    print(
        String(
            format: "  %-50@ %8.0f req/s  ratio %.2f (rounds %@)  CPU %5.0f µs/request (%.1f× trivial)  failures %d",
            name as NSString, median(own.map(\.rate)), median(ratios),
            ratios.map { String(format: "%.2f", $0) }.joined(separator: " ") as NSString,
            median(own.map(\.cpuPerRequest)) * 1e6, median(cpuRatios), own.map(\.failures).reduce(0, +)
        )
    )
}
transport.shutdown()
await bridge.stop()
await trivial.stop()
await simulator.stop()
