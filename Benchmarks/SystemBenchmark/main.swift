// End-to-end figures of the real binary (the release `talking-photo-bridge` next to this executable,
// started as a child process the way production starts it) against the in-process simulator and a
// loopback receiver:
//   - upstream calls per poll cycle at 100 / 1,000 / 10,000 tracked videos, next to the naive count;
//   - notify latency, upstream status change → receiver, next to the poll interval;
//   - RSS idle, at 10,000 tracked videos, and with 100,000 deliveries queued.
// Prints figures and writes them as CSV (SYSTEM_BENCH_CSV, default system-bench.csv); asserts nothing.
// Run: make bench-system (release).
import BridgeCore
import BridgeStore
import CurlHTTP
import Foundation
import Logging
import Simulator
import SQLiteStore
import TestSupport

let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    .appendingPathComponent("talking-photo-bridge").path
guard FileManager.default.isExecutableFile(atPath: binary) else {
    FileHandle.standardError.write(Data("system-bench: \(binary) not found; run `swift build -c release` first\n".utf8))
    exit(1)
}
let workDirectory = try TemporaryDirectory("system-bench")
defer { workDirectory.remove() }
var quiet = Logger(label: "bench")
quiet.logLevel = .critical
let transport = try CurlTransport()
let apiKey = "bench-key-0123456789abcdef"
var csv = ["measurement,value,unit,baseline,baseline_unit"]

typealias RunningBridge = ServeProcess

/// Starts `serve` on `database`; returns once it printed its address.
func startBridge(_ name: String, database: String, upstream: String, extra: [String: String] = [:]) async throws -> RunningBridge {
    var environment = ServeProcess.settings(database: database, upstream: upstream, token: "bench-token", apiKeys: "bench:\(apiKey)")
    environment.merge(extra) { $1 }
    for name in ["MALLOC_ARENA_MAX", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_"] {
        if let value = ProcessInfo.processInfo.environment[name] { environment[name] = value }
    }
    // SYSTEM_BENCH_WRAPPER=/usr/bin/heaptrack (or perf …) runs the bridge under a profiler.
    let wrapper = ProcessInfo.processInfo.environment["SYSTEM_BENCH_WRAPPER"].map { $0.split(separator: " ").map(String.init) } ?? []
    return try await ServeProcess.start(binary: binary, settings: environment, log: workDirectory.path("\(name).log"), wrapper: wrapper)
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Sum of a Prometheus counter's samples on the bridge's /metrics.
func metric(_ bridge: RunningBridge, _ name: String) async throws -> Double {
    let response = try await transport.send(OutboundRequest(method: "GET", url: bridge.baseURL + "/metrics"))
    return prometheusSum(response.bodyText, name)
}

func startSimulator() async throws -> RunningSimulator {
    try await UpstreamSimulator.start(
        SimulatorConfiguration(port: 0, token: "bench-token", renderTime: .seconds(86_400), seed: 7), logger: quiet
    )
}

/// A database with `count` videos tracked (already observed `in_progressing`) and `subscriptions`
/// tenant-wide subscriptions to `hook`.
func seed(_ path: String, ids: [String], status: String, subscriptions: Int = 0, hook: String = "") async throws {
    let store = try SQLiteBridgeStore(path: path)
    for index in 0..<subscriptions {
        try await store.createSubscription(
            NewSubscription(tenant: "bench", url: hook + "/s\(index)", secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), now: Date()
        )
    }
    let now = Date()
    for id in ids {
        try await store.track(
            tenant: "bench", videoID: id, source: .watch, initial: Observation(videoID: id, status: status),
            now: now, nextPollAt: now
        )
    }
}

/// SYSTEM_BENCH=calls,latency runs only some sections (idle, calls, latency, queued).
let sections = ProcessInfo.processInfo.environment["SYSTEM_BENCH"].map { Set($0.split(separator: ",").map(String.init)) }
func wanted(_ section: String) -> Bool { sections?.contains(section) ?? true }

print("system-bench: \(binary)")

// MARK: RSS idle
if wanted("idle") {
    let simulator = try await startSimulator()
    let bridge = try await startBridge("idle", database: workDirectory.path("idle.sqlite"), upstream: simulator.baseURL)
    try await Task.sleep(for: .seconds(3))
    let idle = ProcessMemory.of(bridge.process.pid)
    print(String(format: "RSS idle (empty database, nothing tracked, 3 s after start): %.1f MB (anonymous %.1f MB)", idle.rss, idle.anonymous))
    csv.append(String(format: "rss_idle,%.1f,MB,,", idle.rss))
    await bridge.process.kill9()
    await simulator.stop()
}

// MARK: Upstream calls per poll cycle
if wanted("calls") {
print("\nupstream calls per poll cycle (poll interval 500ms, every tracked video in_progressing, ~8 s window between two cycle ends):")
print("  tracked   calls/cycle   naive calls/cycle   cycles   RSS")
var rssAt10k = 0.0
for count in [100, 1_000, 10_000] {
    let simulator = try await startSimulator()
    let ids = simulator.control.createVideos(count: count, pinnedStatus: "in_progressing")
    let database = workDirectory.path("calls-\(count).sqlite")
    try await seed(database, ids: ids, status: "in_progressing")
    let bridge = try await startBridge("calls-\(count)", database: database, upstream: simulator.baseURL, extra: ["BRIDGE_POLL_INTERVAL": "500ms"])
    try await Task.sleep(for: .seconds(2))
    // Both ends of the window sit just after a cycle completed (the next one starts 500 ms later),
    // so every call counted belongs to a cycle counted.
    func cycleBoundary() async throws -> (cycles: Double, calls: Int) {
        let start = try await metric(bridge, "bridge_poll_cycles_total")
        for _ in 0..<500 {
            let now = try await metric(bridge, "bridge_poll_cycles_total")
            if now > start { return (now, simulator.control.callCounts().total) }
            try await Task.sleep(for: .milliseconds(5))
        }
        throw BenchError("no poll cycle completed within 2.5 s")
    }
    let before = try await cycleBoundary()
    try await Task.sleep(for: .seconds(8))
    let after = try await cycleBoundary()
    let calls = after.calls - before.calls
    let cycles = after.cycles - before.cycles
    // RSS sampled every 100 ms across one more second of polling: the median and the peak.
    var rssSamples: [Double] = []
    for _ in 0..<10 {
        rssSamples.append(ProcessMemory.of(bridge.process.pid).rss)
        try await Task.sleep(for: .milliseconds(100))
    }
    rssSamples.sort()
    let rss = rssSamples[rssSamples.count / 2]
    let probe = ProcessMemory.of(bridge.process.pid)
    let (peak, anonymous) = (probe.peak, probe.anonymous)
    if count == 10_000 { rssAt10k = rss }
    let perCycle = Double(calls) / max(cycles, 1)
    print(String(format: "  %7d   %11.2f   %17d   %6.0f   %.1f MB (peak %.1f, anonymous %.1f)", count, perCycle, count, cycles, rss, peak, anonymous))
    csv.append(String(format: "calls_per_cycle_%d,%.2f,calls,%d,calls", count, perCycle, count))
    await bridge.process.kill9()
    await simulator.stop()
}
print(String(format: "RSS at 10,000 tracked videos (polling every 500ms): %.1f MB", rssAt10k))
csv.append(String(format: "rss_10k_tracked,%.1f,MB,,", rssAt10k))
}

// MARK: Notify latency
for interval in [1, 2] where wanted("latency") {
    let simulator = try await startSimulator()
    let receiver = try await WebhookReceiver.start { _, _ in .status(204) }
    let ids = simulator.control.createVideos(count: 1_000, pinnedStatus: "in_progressing")
    let database = workDirectory.path("latency-\(interval).sqlite")
    try await seed(database, ids: ids, status: "in_progressing", subscriptions: 1, hook: receiver.baseURL)
    let bridge = try await startBridge(
        "latency-\(interval)", database: database, upstream: simulator.baseURL, extra: ["BRIDGE_POLL_INTERVAL": "\(interval)s"]
    )
    try await Task.sleep(for: .seconds(2))
    // One video finishes every 97 ms at a moment unrelated to the poll schedule.
    var pinnedAt: [String: Date] = [:]
    let samples = 150 * interval
    for id in ids.shuffled().prefix(samples) {
        pinnedAt[id] = Date()
        _ = simulator.control.pin(videoID: id, status: "finished", videoURL: "https://cdn.example/\(id).mp4")
        try await Task.sleep(for: .milliseconds(97))
    }
    let wanted = Set(pinnedAt.keys)
    _ = await eventually(within: .seconds(30)) {
        Set(receiver.received.filter { $0.type == "video.finished" }.compactMap(\.videoID)).isSuperset(of: wanted)
    }
    var latencies: [Double] = []
    for message in receiver.received where message.type == "video.finished" {
        if let id = message.videoID, let start = pinnedAt[id] { latencies.append(message.arrivedAt.timeIntervalSince(start) * 1000) }
    }
    latencies.sort()
    let p50 = percentile(latencies, 0.5), p99 = percentile(latencies, 0.99)
    print(String(
        format: "\nnotify latency, upstream change → receiver, poll interval %d s, 1,000 tracked, %d changes: p50 %.0f ms, p99 %.0f ms, max %.0f ms (target p99 ≤ %d ms)",
        interval, latencies.count, p50, p99, latencies.last ?? .nan, interval * 1000 + 100
    ))
    csv.append(String(format: "notify_p50_interval_%ds,%.0f,ms,%d,ms", interval, p50, interval * 1000))
    csv.append(String(format: "notify_p99_interval_%ds,%.0f,ms,%d,ms", interval, p99, interval * 1000 + 100))
    await bridge.process.kill9()
    await receiver.stop()
    await simulator.stop()
}

// MARK: RSS with 100,000 deliveries queued
if wanted("queued") {
    // 25,000 finished videos × 4 subscriptions; the receiver takes 200 ms per callback, so the
    // queue drains slowly (≈ 64 in flight) and stays near 100,000 while we watch.
    let receiver = try await WebhookReceiver.start { _, _ in .delayThen(.milliseconds(200), 204) }
    let database = workDirectory.path("queued.sqlite")
    let ids = (0..<25_000).map { String(format: "%032x", $0) }
    try await seed(database, ids: ids, status: "finished", subscriptions: 4, hook: receiver.baseURL)
    let simulator = try await startSimulator()
    let bridge = try await startBridge("queued", database: database, upstream: simulator.baseURL)
    let reader = try SQLiteBridgeStore(path: database)
    var samples: [(Double, Int)] = []
    for _ in 0..<20 {
        try await Task.sleep(for: .milliseconds(500))
        let pending = await (try? await reader.counts().deliveries[.pending]) ?? 0
        samples.append((ProcessMemory.of(bridge.process.pid).rss, pending))
    }
    let probe = ProcessMemory.of(bridge.process.pid)
    let (rss, peak, anonymous) = (probe.rss, probe.peak, probe.anonymous)
    let queued = samples.last?.1 ?? 0
    print(String(format: "\nRSS with 100,000 deliveries queued (slow receiver, 64 in flight): %.1f MB after 10 s with %d still queued; peak %.1f MB, anonymous %.1f MB",
                 rss, queued, peak, anonymous))
    csv.append(String(format: "rss_100k_queued,%.1f,MB,,", rss))
    csv.append(String(format: "rss_100k_queued_peak,%.1f,MB,,", peak))
    await bridge.process.kill9()
    await receiver.stop()
    await simulator.stop()
}

transport.shutdown()
let csvPath = ProcessInfo.processInfo.environment["SYSTEM_BENCH_CSV"] ?? "system-bench.csv"
try csv.joined(separator: "\n").appending("\n").write(toFile: csvPath, atomically: true, encoding: .utf8)
print("\nCSV: \(csvPath)")
