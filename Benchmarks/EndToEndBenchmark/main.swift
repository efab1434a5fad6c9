// Delivery end to end, the way a platform team sizes a webhook sender: the real release binary
// (`serve`, SQLite, poll interval 500 ms) and the upstream simulator each in their own process,
// nginx as the receiver (one worker, `return 204`, keep-alive, every arrival in its access log), and
// wrk's ceiling against the same nginx location measured in the same run. Sections
// (E2E_BENCH=burst,latency,cycle; all by default):
//   - burst:   V videos × N subscriptions finish at one instant; deliveries/s, ratio to the ceiling,
//              first/last arrival after the poll that observed the change, p50/p99, duplicates, RSS peak;
//   - latency: 1,000 tracked, one change every 10 ms; upstream change → callback arrival, p50/p99;
//   - cycle:   100,000 tracked, nothing changing; the poll cycle's own duration;
//   - engines: the burst (E2E_BENCH_ENGINE_BURST, 2500x4) and notify latency on SQLite and on
//              PostgreSQL (the test cluster of TestSupport) with 1, 2 and 3 replicas (E2E_BENCH_ENGINES).
// Medians of E2E_BENCH_RUNS runs (default 3). Prints figures; asserts nothing. Run: make bench-e2e.
import BridgeCore
import BridgeStore
import CurlHTTP
import Foundation
import PostgresStore
import SQLiteStore
import TestSupport

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

let environment = ProcessInfo.processInfo.environment
// E2E_BRIDGE=/path/to/talking-photo-bridge measures another build (a before/after pair, alternating).
let binary = environment["E2E_BRIDGE"]
    ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("talking-photo-bridge").path
let nginxBinary = environment["E2E_NGINX"] ?? "/usr/sbin/nginx"
let wrkBinary = environment["E2E_WRK"] ?? "/usr/bin/wrk"
for (path, hint) in [(binary, "swift build -c release"), (nginxBinary, "apt-get install nginx-light"), (wrkBinary, "apt-get install wrk")]
where !FileManager.default.isExecutableFile(atPath: path) {
    FileHandle.standardError.write(Data("e2e-bench: \(path) not found; \(hint) (make bench-e2e does both)\n".utf8))
    exit(1)
}
let runs = max(1, Int(environment["E2E_BENCH_RUNS"] ?? "") ?? 3)
let sections = environment["E2E_BENCH"].map { Set($0.split(separator: ",").map(String.init)) }
func wanted(_ section: String) -> Bool { sections?.contains(section) ?? true }
let workDirectory = try TemporaryDirectory("e2e-bench")
// E2E_BENCH_KEEP=1 keeps the databases and the processes' logs (BRIDGE_LOG_LEVEL from E2E_BENCH_LOG_LEVEL).
defer {
    if environment["E2E_BENCH_KEEP"] == nil { workDirectory.remove() } else { print("kept \(workDirectory.path(""))") }
}
let transport = try CurlTransport(configuration: .init(maxConnectionsPerHost: 64))
let token = "bench-token"
let apiKey = "bench-key-0123456789abcdef"
let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func median(_ values: [Double]) -> Double { values.isEmpty ? .nan : values.sorted()[values.count / 2] }

// MARK: The processes

/// `talking-photo-bridge simulate` in its own process; every video it makes stays pinned until told.
func startSimulator(_ name: String) async throws -> (process: ChildProcess, baseURL: String) {
    let process = try ChildProcess(
        executable: binary,
        arguments: ["simulate", "--listen", "127.0.0.1:0", "--token", token, "--render-time", "86400s", "--seed", "7", "--log-level", "error"],
        environment: [:], outputPath: workDirectory.path("\(name)-simulator.log")
    )
    guard let url = await process.announcedBaseURL(within: .seconds(30)) else { throw BenchError("simulator did not start:\n\(process.output)") }
    return (process, url)
}

/// Where the bridges of one run keep their state: a SQLite file, or one PostgreSQL database that
/// `replicas` bridges share.
enum Engine: CustomStringConvertible {
    case sqlite
    case postgres(replicas: Int)

    init?(_ text: Substring) {
        if text == "sqlite" { self = .sqlite; return }
        guard text.hasPrefix("pg"), let count = Int(text.dropFirst(2)), count >= 1 else { return nil }
        self = .postgres(replicas: count)
    }

    var replicas: Int {
        if case .postgres(let count) = self { return count }
        return 1
    }

    var description: String {
        switch self {
        case .sqlite: "SQLite"
        case .postgres(let count): "PostgreSQL × \(count)"
        }
    }
}

let postgresKey = String(repeating: "3c", count: 32)

/// A fresh database of `engine` with `ids` tracked and `subscriptions` subscriptions (see ``seed``).
func makeDatabase(_ engine: Engine, name: String, ids: [String], subscriptions: Int, hook: String) async throws -> String {
    switch engine {
    case .sqlite:
        let path = workDirectory.path("\(name).sqlite")
        try await seed(try SQLiteBridgeStore(path: path), ids: ids, subscriptions: subscriptions, hook: hook)
        return path
    case .postgres:
        let url = try await PostgresServer.shared().createDatabase()
        guard let key = SecretBox.parseKey(postgresKey) else { throw BenchError("the benchmark's key is not 32 bytes") }
        try await seed(try await PostgresBridgeStore(url: url, configuration: .init(encryptionKey: key)), ids: ids, subscriptions: subscriptions, hook: hook)
        return url
    }
}

/// The bridges of one run: one on SQLite, `replicas` on one PostgreSQL database.
func startBridges(_ name: String, engine: Engine, database: String, upstream: String) async throws -> [ServeProcess] {
    var bridges: [ServeProcess] = []
    for index in 0..<engine.replicas {
        bridges.append(try await startBridge("\(name)-\(index)", database: database, upstream: upstream))
    }
    return bridges
}

/// `talking-photo-bridge serve` on `database`; returns once it printed its address.
func startBridge(_ name: String, database: String, upstream: String) async throws -> ServeProcess {
    var settings = ServeProcess.settings(
        database: database, upstream: upstream, token: token, apiKeys: "bench:\(apiKey)",
        logLevel: environment["E2E_BENCH_LOG_LEVEL"] ?? "error"
    )
    settings["BRIDGE_POLL_INTERVAL"] = "500ms"
    if database.hasPrefix("postgres://") { settings["BRIDGE_ENCRYPTION_KEY"] = postgresKey }
    for key in ["MALLOC_ARENA_MAX", "PATH"] { settings[key] = environment[key] }
    // E2E_SETTING_BRIDGE_DELIVERY_CONCURRENCY=128 and the like: a bridge setting changed for one run.
    for (key, value) in environment where key.hasPrefix("E2E_SETTING_BRIDGE_") { settings[String(key.dropFirst(12))] = value }
    // E2E_BENCH_WRAPPER="perf record -g -o /tmp/bridge.data" runs the bridge under a profiler.
    let wrapper = environment["E2E_BENCH_WRAPPER"].map { $0.split(separator: " ").map(String.init) } ?? []
    return try await ServeProcess.start(binary: binary, settings: settings, log: workDirectory.path("\(name)-bridge.log"), wrapper: wrapper)
}

/// Kills a child that is still running (the clean-up when a run fails half-way).
func reap(_ process: ChildProcess) {
    if process.poll() == nil { process.signal(SIGKILL) }
}

/// Stops a child gently (SIGTERM, so a profiler wrapper can write its data), then for sure.
func stop(_ process: ChildProcess) async {
    process.signal(SIGTERM)
    if await process.waitForExit(within: .seconds(20)) == nil { await process.kill9() }
}

/// nginx with a private configuration: one worker, `return 204`, keep-alive, each request's arrival
/// time (`$msec`), path, `webhook-id` and `webhook-signature` in an access log.
struct Nginx {
    let process: ChildProcess
    let port: Int
    let log: String

    static func start(_ name: String) async throws -> Nginx {
        let directory = workDirectory.path("nginx-\(name)")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let port = try freeLoopbackPort()
        let log = directory + "/arrivals.log"
        let temp = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map { "\($0)_temp_path \(directory)/\($0);" }.joined(separator: " ")
        let configuration = """
            worker_processes 1;
            pid \(directory)/nginx.pid;
            error_log \(directory)/error.log warn;
            events { worker_connections 4096; }
            http {
                log_format arrivals '$msec $request_uri $http_webhook_id $http_webhook_signature';
                access_log \(log) arrivals buffer=256k flush=1s;
                keepalive_requests 10000000;
                keepalive_timeout 120s;
                \(temp)
                server {
                    listen 127.0.0.1:\(port);
                    location / { return 204; }
                }
            }
            """
        try configuration.write(toFile: directory + "/nginx.conf", atomically: true, encoding: .utf8)
        let process = try ChildProcess(
            executable: nginxBinary, arguments: ["-p", directory, "-c", directory + "/nginx.conf", "-g", "daemon off;"],
            environment: [:], outputPath: directory + "/stdout.log"
        )
        let up = await eventually(within: .seconds(20)) {
            (try? await transport.send(OutboundRequest(method: "GET", url: "http://127.0.0.1:\(port)/up")))?.status == 204
        }
        guard up else { throw BenchError("nginx did not start:\n\(process.output)") }
        return Nginx(process: process, port: port, log: log)
    }

    /// wrk against the same location with a callback-sized POST: the receiver's ceiling here.
    func ceiling() async throws -> Double {
        let script = workDirectory.path("post-\(port).lua")
        try """
            wrk.method = "POST"
            wrk.body = '{"type":"video.finished","timestamp":"2026-12-02T07:00:00.000Z","data":{"video_id":"\(String(repeating: "a", count: 32))","status":"finished","video_url":"https://cdn.example.com/videos/\(String(repeating: "a", count: 32)).mp4","previous_status":"in_progressing","source":"watch"}}'
            wrk.headers["Content-Type"] = "application/json"
            wrk.headers["webhook-id"] = "msg_ceiling"
            wrk.headers["webhook-timestamp"] = "1795000000"
            wrk.headers["webhook-signature"] = "v1,\(String(repeating: "A", count: 43))="
            """.write(toFile: script, atomically: true, encoding: .utf8)
        let output = workDirectory.path("wrk-\(port).txt")
        let wrk = try ChildProcess(
            executable: wrkBinary, arguments: ["-t1", "-c64", "-d5s", "-s", script, "http://127.0.0.1:\(port)/ceiling"],
            environment: [:], outputPath: output
        )
        guard let status = await wrk.waitForExit(within: .seconds(60)), ChildProcess.exitedNormally(status) else {
            await wrk.kill9()
            throw BenchError("wrk failed:\n\(wrk.output)")
        }
        let line = wrk.output.split(separator: "\n").first { $0.hasPrefix("Requests/sec:") } ?? ""
        guard let rate = line.split(separator: " ").last.flatMap({ Double($0) }) else { throw BenchError("no rate in wrk's output:\n\(wrk.output)") }
        return rate
    }

    struct Arrival {
        var at: Double
        var path: Substring
        var id: Substring
        var signature: Substring
    }

    /// Arrivals at `/hooks/…` logged after byte `offset` (nginx flushes its log at least every second).
    func arrivals(after offset: UInt64) -> [Arrival] {
        guard let handle = FileHandle(forReadingAtPath: log) else { return [] }
        defer { try? handle.close() }
        try? handle.seek(toOffset: offset)
        let text = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
        return text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count == 4, fields[1].hasPrefix("/hooks/"), let at = Double(fields[0]) else { return nil }
            return Arrival(at: at, path: fields[1], id: fields[2], signature: fields[3])
        }
    }

    var logSize: UInt64 { ((try? FileManager.default.attributesOfItem(atPath: log))?[.size] as? UInt64) ?? 0 }
}

// MARK: Helpers

func simulatorVideos(_ simulator: String, count: Int) async throws -> [String] {
    var ids: [String] = []
    while ids.count < count {
        let batch = min(count - ids.count, 100_000)
        var request = OutboundRequest(method: "POST", url: simulator + "/_sim/videos", body: Data(#"{"count":\#(batch),"status":"in_progressing"}"#.utf8))
        request.maxResponseBytes = 16 << 20  // 100,000 ids are 3.5 MB
        let response = try await transport.send(request)
        let json = try JSONSerialization.jsonObject(with: response.body) as? [String: Any]
        guard let made = json?["video_ids"] as? [String] else { throw BenchError("simulator refused the videos: \(response.bodyText)") }
        ids += made
    }
    return ids
}

/// A database with `ids` tracked (observed `in_progressing`) and then `subscriptions` tenant-wide
/// subscriptions to `hook/s<i>` (after, so the first observations queue nothing), written before the
/// bridge starts.
func seed(_ store: any BridgeStorage, ids: [String], subscriptions: Int, hook: String) async throws {
    let now = Date()
    for id in ids {
        try await store.track(tenant: "bench", videoID: id, source: .watch, initial: Observation(videoID: id, status: "in_progressing"), now: now, nextPollAt: now)
    }
    for index in 0..<subscriptions {
        _ = try await store.createSubscription(NewSubscription(tenant: "bench", url: "\(hook)/s\(index)", secret: secret), now: Date())
    }
}

func metrics(_ bridge: String) async throws -> String {
    try await transport.send(OutboundRequest(method: "GET", url: bridge + "/metrics")).bodyText
}

/// Waits until a poll cycle has just completed (the counter moved), at most `limit`; of several
/// replicas only the leader cycles, so their counters are summed.
func afterCycle(_ bridge: String, within limit: Duration = .seconds(60)) async throws {
    try await afterCycle([bridge], within: limit)
}

func afterCycle(_ bridges: [String], within limit: Duration = .seconds(60)) async throws {
    @Sendable func cycles() async -> Double {
        var total = 0.0
        for bridge in bridges { total += prometheusSum((try? await metrics(bridge)) ?? "", "bridge_poll_cycles_total") }
        return total
    }
    let start = await cycles()
    let moved = await eventually(within: limit, every: .milliseconds(5)) { await cycles() > start }
    guard moved else { throw BenchError("no poll cycle completed within \(limit)") }
}

func recentListCalls(_ simulator: String) async throws -> [Double] {
    let response = try await transport.send(OutboundRequest(method: "GET", url: simulator + "/_sim/calls"))
    let json = try JSONSerialization.jsonObject(with: response.body) as? [String: Any]
    return ((json?["calls"] as? [String: Any])?["video.list"] as? [Double]) ?? []
}

print("e2e-bench: \(binary), \(ProcessInfo.processInfo.activeProcessorCount) cores, \(runs) runs per figure (median printed, runs in brackets)")

// MARK: Burst

struct BurstRun {
    var deliveries = 0
    var duplicates = 0
    var unsigned = 0
    var rate = 0.0
    var ceiling = 0.0
    var first = 0.0
    var last = 0.0
    var p50 = 0.0
    var p99 = 0.0
    var rssPeak = 0.0
}

func burst(videos: Int, subscriptions: Int, run: Int, engine: Engine = .sqlite) async throws -> BurstRun {
    let name = "burst-\(videos)x\(subscriptions)-\(run)-\(engine.replicas)"
    let nginx = try await Nginx.start(name)
    defer { reap(nginx.process) }
    var result = BurstRun()
    result.ceiling = try await nginx.ceiling()
    try await Task.sleep(for: .milliseconds(1_500))  // wrk's lines flushed: the burst's start after them
    let offset = nginx.logSize

    let simulator = try await startSimulator(name)
    defer { reap(simulator.process) }
    let ids = try await simulatorVideos(simulator.baseURL, count: videos)
    let database = try await makeDatabase(
        engine, name: name, ids: ids, subscriptions: subscriptions, hook: "http://127.0.0.1:\(nginx.port)/hooks"
    )
    let bridges = try await startBridges(name, engine: engine, database: database, upstream: simulator.baseURL)
    defer { for bridge in bridges { reap(bridge.process) } }
    try await afterCycle(bridges.map(\.baseURL))
    try await afterCycle(bridges.map(\.baseURL))
    try await Task.sleep(for: .milliseconds(150))  // the change lands between two polls, not on one

    let changedAt = Date().timeIntervalSince1970
    _ = try await transport.send(OutboundRequest(method: "PUT", url: simulator.baseURL + "/_sim/videos", body: Data(#"{"status":"finished"}"#.utf8)))
    let expected = videos * subscriptions
    var arrivals: [Nginx.Arrival] = []
    let clock = ContinuousClock()
    let deadline = clock.now + .seconds(180)
    while clock.now < deadline {
        for bridge in bridges { result.rssPeak = max(result.rssPeak, ProcessMemory.of(bridge.process.pid).rss) }
        try await Task.sleep(for: .milliseconds(100))
        if nginx.logSize > offset, (nginx.logSize - offset) / 60 >= UInt64(expected) {  // cheap before parsing
            arrivals = nginx.arrivals(after: offset)
            if arrivals.count >= expected { break }
        }
    }
    try await Task.sleep(for: .milliseconds(1_500))  // stragglers and duplicates flushed too
    arrivals = nginx.arrivals(after: offset)
    for bridge in bridges { result.rssPeak = max(result.rssPeak, ProcessMemory.of(bridge.process.pid).peak) }
    let observedAt = try await recentListCalls(simulator.baseURL).first { $0 >= changedAt } ?? changedAt

    result.deliveries = arrivals.count
    // One event has one webhook-id at every subscription: a duplicate is the same id twice at one path.
    result.duplicates = arrivals.count - Set(arrivals.map { "\($0.path) \($0.id)" }).count
    result.unsigned = arrivals.filter { !$0.signature.hasPrefix("v1,") || $0.id == "-" }.count
    let times = arrivals.map { $0.at - observedAt }.sorted()
    result.first = times.first ?? .nan
    result.last = times.last ?? .nan
    result.rate = times.count > 1 ? Double(times.count) / max(result.last - result.first, 0.001) : .nan
    result.p50 = percentile(times, 0.5)
    result.p99 = percentile(times, 0.99)
    for bridge in bridges { await stop(bridge.process) }
    await stop(simulator.process)
    await stop(nginx.process)
    if result.deliveries < expected {
        print("  run \(run): only \(result.deliveries) of \(expected) deliveries arrived within 180 s")
    }
    return result
}

let bursts = (environment["E2E_BENCH_BURSTS"] ?? "2500x4,10000x4").split(separator: ",").compactMap { text -> (Int, Int)? in
    let parts = text.split(separator: "x").compactMap { Int($0) }
    return parts.count == 2 ? (parts[0], parts[1]) : nil
}
if wanted("burst") {
    print("\nburst: V videos × N subscriptions finish at one instant; times after the poll that observed the change")
    print("  burst          deliveries   deliveries/s   nginx ceiling   ratio   first      last       p50        p99        duplicates   unsigned   RSS peak")
    for (videos, subscriptions) in bursts {
        var results: [BurstRun] = []
        for run in 1...runs { results.append(try await burst(videos: videos, subscriptions: subscriptions, run: run)) }
        func figure(_ values: [Double], _ format: String) -> String {
            String(format: format, median(values)) + " [" + values.map { String(format: format, $0) }.joined(separator: " ") + "]"
        }
        let ratios = results.map { $0.rate / $0.ceiling }
        print(String(
            format: "  %5d × %d     %6d       %@   %@   %.2f [%@]   %@ s   %@ s   %@ s   %@ s   %d   %d   %@ MB",
            videos, subscriptions, results.map(\.deliveries).min() ?? 0,
            figure(results.map(\.rate), "%.0f") as NSString, figure(results.map(\.ceiling), "%.0f") as NSString,
            median(ratios), ratios.map { String(format: "%.2f", $0) }.joined(separator: " ") as NSString,
            figure(results.map(\.first), "%.2f") as NSString, figure(results.map(\.last), "%.2f") as NSString,
            figure(results.map(\.p50), "%.2f") as NSString, figure(results.map(\.p99), "%.2f") as NSString,
            results.map(\.duplicates).reduce(0, +), results.map(\.unsigned).reduce(0, +), figure(results.map(\.rssPeak), "%.1f") as NSString
        ))
    }
}

// MARK: Notify latency

/// One notify-latency run: upstream change → callback arrival (ms) for 500 changes, one every 10 ms.
func latencyRun(_ run: Int, engine: Engine = .sqlite) async throws -> [Double] {
    let name = "latency-\(run)-\(engine.replicas)"
    let simulator = try await startSimulator(name)
    defer { reap(simulator.process) }
    let receiver = try await WebhookReceiver.start { _, _ in .status(204) }
    let ids = try await simulatorVideos(simulator.baseURL, count: 1_000)
    let database = try await makeDatabase(engine, name: name, ids: ids, subscriptions: 1, hook: receiver.baseURL)
    let bridges = try await startBridges(name, engine: engine, database: database, upstream: simulator.baseURL)
    defer { for bridge in bridges { reap(bridge.process) } }
    try await afterCycle(bridges.map(\.baseURL))
    // One video finishes every 10 ms, at moments unrelated to the poll schedule.
    var changedAt: [String: Date] = [:]
    let clock = ContinuousClock()
    var next = clock.now
    for id in ids.shuffled().prefix(500) {
        next += .milliseconds(10)
        try await clock.sleep(until: next)
        changedAt[id] = Date()
        _ = try await transport.send(OutboundRequest(method: "PUT", url: simulator.baseURL + "/_sim/videos/\(id)", body: Data(#"{"status":"finished"}"#.utf8)))
    }
    let wantedIDs = Set(changedAt.keys)
    _ = await eventually(within: .seconds(60)) {
        Set(receiver.received.filter { $0.type == "video.finished" }.compactMap(\.videoID)).isSuperset(of: wantedIDs)
    }
    let latencies = receiver.received.compactMap { message -> Double? in
        guard message.type == "video.finished", let id = message.videoID, let start = changedAt[id] else { return nil }
        return message.arrivedAt.timeIntervalSince(start) * 1000
    }
    if latencies.count < wantedIDs.count { print("  run \(run): \(latencies.count) of \(wantedIDs.count) changes arrived") }
    for bridge in bridges { await stop(bridge.process) }
    await receiver.stop()
    await stop(simulator.process)
    return latencies
}

if wanted("latency") {
    var p50s: [Double] = [], p99s: [Double] = [], maxima: [Double] = []
    for run in 1...runs {
        let latencies = try await latencyRun(run)
        p50s.append(percentile(latencies, 0.5))
        p99s.append(percentile(latencies, 0.99))
        maxima.append(latencies.max() ?? .nan)
    }
    func list(_ values: [Double]) -> String { values.map { String(format: "%.0f", $0) }.joined(separator: " ") }
    print(String(
        format: "\nnotify latency, upstream change → callback arrival, poll interval 500 ms, 1,000 tracked, one change every 10 ms (500 per run), simulator in its own process:\n  p50 %.0f ms [%@], p99 %.0f ms [%@], max %.0f ms [%@]   (target p99 ≤ 600 ms)",
        median(p50s), list(p50s) as NSString, median(p99s), list(p99s) as NSString, median(maxima), list(maxima) as NSString
    ))
}

// MARK: Engines and replicas

if wanted("engines") {
    let engines = (environment["E2E_BENCH_ENGINES"] ?? "sqlite,pg1,pg2,pg3").split(separator: ",").compactMap(Engine.init)
    let shape = (environment["E2E_BENCH_ENGINE_BURST"] ?? "2500x4").split(separator: "x").compactMap { Int($0) }
    let (videos, subscriptions) = shape.count == 2 ? (shape[0], shape[1]) : (2_500, 4)
    print("\nengines: burst \(videos) × \(subscriptions) and notify latency (as above) per engine; one run each, alternating nothing (read as a ratio to the ceiling of its own run)")
    print("  engine            deliveries/s   nginx ceiling   ratio   first     last      duplicates   notify p50   notify p99")
    for engine in engines {
        let result = try await burst(videos: videos, subscriptions: subscriptions, run: 1, engine: engine)
        let latencies = try await latencyRun(1, engine: engine)
        print(String(
            format: "  %-16@  %8.0f       %8.0f        %.2f    %.2f s    %.2f s    %d            %.0f ms       %.0f ms",
            engine.description as NSString, result.rate, result.ceiling, result.rate / result.ceiling, result.first, result.last,
            result.duplicates, percentile(latencies, 0.5), percentile(latencies, 0.99)
        ))
    }
}

// MARK: Poll cycle at 100,000 tracked

if wanted("cycle") {
    let count = Int(environment["E2E_BENCH_CYCLE_VIDEOS"] ?? "") ?? 100_000
    let name = "cycle"
    let simulator = try await startSimulator(name)
    defer { reap(simulator.process) }
    let ids = try await simulatorVideos(simulator.baseURL, count: count)
    let database = try await makeDatabase(.sqlite, name: name, ids: ids, subscriptions: 1, hook: "http://127.0.0.1:9/hooks")
    let bridge = try await startBridge(name, database: database, upstream: simulator.baseURL)
    defer { reap(bridge.process) }
    try await afterCycle(bridge.baseURL, within: .seconds(120))
    // Each cycle's duration from the bridge's own histogram: the growth of its sum over its count.
    var durations: [Double] = []
    for _ in 0..<max(runs, 3) {
        let before = try await metrics(bridge.baseURL)
        try await afterCycle(bridge.baseURL, within: .seconds(120))
        let after = try await metrics(bridge.baseURL)
        let cycles = prometheusSum(after, "bridge_poll_cycle_duration_seconds_count") - prometheusSum(before, "bridge_poll_cycle_duration_seconds_count")
        let total = prometheusSum(after, "bridge_poll_cycle_duration_seconds_sum") - prometheusSum(before, "bridge_poll_cycle_duration_seconds_sum")
        if cycles > 0 { durations.append(total / cycles) }
    }
    let rss = ProcessMemory.of(bridge.process.pid)
    print(String(
        format: "\npoll cycle with %d tracked videos, nothing changing (one video.list of %d items): %.0f ms [%@]   (target ≤ 1,000 ms); RSS %.1f MB, peak %.1f MB",
        count, count, median(durations) * 1000, durations.map { String(format: "%.0f", $0 * 1000) }.joined(separator: " ") as NSString, rss.rss, rss.peak
    ))
    await stop(bridge.process)
    await stop(simulator.process)
}
transport.shutdown()
