// Delivery-engine figures, each next to a baseline from the same run:
//  - signed deliveries/s through the dispatcher vs bare `curl --parallel` POSTs to the same receiver;
//  - time from an outbox commit to receipt, p50/p99, with the dispatcher idle (wake-up path);
//  - resident memory with 0 and with 100,000 queued deliveries (it must not grow with the queue).
// Prints figures; asserts nothing. Run: make bench (release).
import BridgeCore
import BridgeStore
import CurlHTTP
import Delivery
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import SQLiteStore
import Synchronization
import TestSupport
import Webhooks

func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }

func residentMB() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
        let kb = Double(line.split(separator: " ").dropFirst().first ?? "")
    else { return 0 }
    return kb / 1024
}

/// CPU seconds (user + system) used so far by this process, or by its waited-for children.
func cpuSeconds(_ who: Int32) -> Double {
    var usage = rusage()
    guard getrusage(who, &usage) == 0 else { return .nan }
    func value(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
    return value(usage.ru_utime) + value(usage.ru_stime)
}
let selfCPU = RUSAGE_SELF.rawValue
let childrenCPU = RUSAGE_CHILDREN.rawValue

/// A fast receiver that counts requests and timestamps arrivals by webhook-id.
final class FastReceiver: Sendable {
    let count = Atomic<Int>(0)
    let arrivals = Mutex<[String: ContinuousClock.Instant]>([:])
    let recordArrivals = Atomic<Bool>(false)
}

let arguments = CommandLine.arguments
let total = arguments.firstIndex(of: "--deliveries").flatMap { Int(arguments[$0 + 1]) } ?? 20_000
let queued = arguments.firstIndex(of: "--queued").flatMap { Int(arguments[$0 + 1]) } ?? 100_000
let quiet: Logger = {
    var logger = Logger(label: "bench")
    logger.logLevel = .critical
    return logger
}()
let webhookID = HTTPField.Name("webhook-id")

let fast = FastReceiver()
let router = Router()
router.post("hook/:n") { request, _ -> HTTPResponse.Status in
    fast.count.add(1, ordering: .relaxed)
    if fast.recordArrivals.load(ordering: .relaxed), let name = webhookID, let id = request.headers[name] {
        let now = ContinuousClock.now
        fast.arrivals.withLock { $0[id] = now }
    }
    return .noContent
}
let server = try await LoopbackServer.start(router: router)
let directory = try TemporaryDirectory("delivery-bench")
defer { directory.remove() }

func makeStore(_ name: String, subscriptions: Int) async throws -> SQLiteBridgeStore {
    let store = try SQLiteBridgeStore(path: directory.path(name))
    for index in 0..<subscriptions {
        try await store.createSubscription(
            NewSubscription(tenant: "bench", url: "\(server.baseURL)/hook/\(index)", secret: WebhookSecret.generate().text),
            now: Date()
        )
    }
    return store
}

/// Queues `count` video events; each fans out to every subscription.
func queueEvents(_ store: SQLiteBridgeStore, count: Int, prefix: String) async throws {
    let now = Date()
    var batch: [Observation] = []
    for index in 0..<count {
        try await store.track(tenant: "bench", videoID: "\(prefix)\(index)", source: .watch, now: now, nextPollAt: now.addingTimeInterval(86_400))
        batch.append(Observation(videoID: "\(prefix)\(index)", status: "finished", videoURL: "https://cdn.example.com/\(index).mp4"))
        if batch.count == 5_000 {
            try await store.recordObservations(batch, now: now, nextPollAt: now.addingTimeInterval(86_400))
            batch.removeAll()
        }
    }
    try await store.recordObservations(batch, now: now, nextPollAt: now.addingTimeInterval(86_400))
}

func startDispatcher(_ store: SQLiteBridgeStore, transport: CurlTransport) -> Task<Void, any Error> {
    let dispatcher = Dispatcher(
        store: store, transport: transport,
        configuration: DispatcherConfiguration(concurrency: 64, destinations: DestinationPolicy(allowPrivate: true)),
        logger: quiet
    )
    return Task { try await dispatcher.run() }
}

func waitUntil(_ limit: Duration, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let end = ContinuousClock.now + limit
    while ContinuousClock.now < end {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(5))
    }
    return try await condition()
}

print("delivery benchmark: \(total) deliveries, fast loopback receiver (204), 64 in flight")
print(String(format: "RSS at start: %.1f MB", residentMB()))
let transport = try CurlTransport()

// MARK: Throughput
let subscriptions = 8
let store = try await makeStore("throughput.sqlite", subscriptions: subscriptions)
try await queueEvents(store, count: total / subscriptions, prefix: "t")
let startCount = fast.count.load(ordering: .relaxed)
let clock = ContinuousClock()
let started = clock.now
let cpuBefore = cpuSeconds(selfCPU)
let dispatcher = startDispatcher(store, transport: transport)
// Watch the receiver's counter (an atomic) while deliveries arrive and ask the store only once all of
// them have: `counts()` scans the whole deliveries table, and doing that every 5 ms would take a
// good share of the 2 cores away from the dispatcher (the curl baseline pays no such cost).
let finished = try await waitUntil(.seconds(300)) {
    guard fast.count.load(ordering: .relaxed) - startCount >= total else { return false }
    return try await store.counts().deliveries[.succeeded] == total
}
let elapsed = seconds(clock.now - started)
let dispatcherCPU = cpuSeconds(selfCPU) - cpuBefore
print(String(format: "RSS after the throughput run: %.1f MB", residentMB()))
dispatcher.cancel()
_ = await dispatcher.result
let delivered = fast.count.load(ordering: .relaxed) - startCount
let dispatcherRate = Double(total) / elapsed

// Baseline: the same number of POSTs of the same body, bare curl CLI, same receiver, same parallelism.
let body = try await store.events(tenant: "bench", limit: 1).first?.payload ?? "{}"
let bodyPath = directory.path("body.json")
try body.write(toFile: bodyPath, atomically: true, encoding: .utf8)
let configPath = directory.path("curl.conf")
var config = ""
for index in 0..<total {
    // Only url/output pairs go in the file: other options there would be global and repeat.
    config += "url = \"\(server.baseURL)/hook/\(index % subscriptions)\"\noutput = \"/dev/null\"\n"
}
try config.write(toFile: configPath, atomically: true, encoding: .utf8)
let curlStarted = clock.now
let (curlSelfBefore, curlChildrenBefore) = (cpuSeconds(selfCPU), cpuSeconds(childrenCPU))
let curl = try await runCommand(
    "/usr/bin/curl",
    ["--silent", "--parallel", "--parallel-immediate", "--parallel-max", "64", "--data-binary", "@\(bodyPath)",
     "-H", "content-type: application/json", "-K", configPath],
    timeout: .seconds(300)
)
let curlRate = Double(total) / seconds(clock.now - curlStarted)
let curlCPU = (cpuSeconds(selfCPU) - curlSelfBefore) + (cpuSeconds(childrenCPU) - curlChildrenBefore)
print(String(format: "  dispatcher (sign + send + record) %8.0f deliveries/s  (%d received, all succeeded: %@)", dispatcherRate, delivered, finished ? "yes" : "NO"))
print(String(format: "  bare curl CLI --parallel           %8.0f POSTs/s       (exit %d)", curlRate, curl.status))
print(String(format: "  ratio                              %8.0f %%", 100 * dispatcherRate / curlRate))
// CPU per request (the receiver's share included on both sides) does not depend on what else runs
// on the machine, unlike the rates above.
print(String(format: "  CPU per request: dispatcher %.0f µs, bare curl %.0f µs (ratio %.0f %%)",
             1e6 * dispatcherCPU / Double(total), 1e6 * curlCPU / Double(total), 100 * curlCPU / dispatcherCPU))

// MARK: Commit → receipt latency, dispatcher idle between events
let latencyStore = try await makeStore("latency.sqlite", subscriptions: 1)
let latencyDispatcher = startDispatcher(latencyStore, transport: transport)
try await Task.sleep(for: .milliseconds(200))
fast.recordArrivals.store(true, ordering: .relaxed)
var commits: [String: ContinuousClock.Instant] = [:]
for index in 0..<300 {
    let now = Date()
    let beforeCommit = clock.now
    let report = try await latencyStore.track(
        tenant: "bench", videoID: "l\(index)", source: .watch,
        initial: Observation(videoID: "l\(index)", status: "pending"), now: now, nextPollAt: now.addingTimeInterval(86_400)
    )
    // Measured from before the write: includes the commit itself, never ahead of it.
    for event in report.report.events { commits[event.id] = beforeCommit }
    try await Task.sleep(for: .milliseconds(10))
}
_ = try await waitUntil(.seconds(30)) { try await latencyStore.counts().deliveries[.succeeded] == 300 }
let latencies = fast.arrivals.withLock { arrivals in
    commits.compactMap { id, committed in arrivals[id].map { seconds($0 - committed) * 1000 } }
}
latencyDispatcher.cancel()
_ = await latencyDispatcher.result
print(String(format: "commit → receipt (idle dispatcher, wake-up signal): min %.2f ms  p50 %.2f ms  p99 %.2f ms  max %.2f ms  (n=%d)",
             latencies.min() ?? .nan, percentile(latencies, 0.5), percentile(latencies, 0.99), latencies.max() ?? .nan, latencies.count))

// MARK: Memory with a deep queue
let memoryStore = try await makeStore("memory.sqlite", subscriptions: 4)
let idleRSS = residentMB()
try await queueEvents(memoryStore, count: queued / 4, prefix: "m")
let queuedRSS = residentMB()
let memoryDispatcher = startDispatcher(memoryStore, transport: transport)
var peak = queuedRSS
let drainStart = clock.now
while clock.now - drainStart < .seconds(20) {
    try await Task.sleep(for: .milliseconds(250))
    peak = max(peak, residentMB())
}
let depth = try await memoryStore.queueDepth(now: Date())
memoryDispatcher.cancel()
_ = await memoryDispatcher.result
print(String(format: "RSS: %.1f MB before queueing, %.1f MB with %d deliveries queued, peak %.1f MB while draining (%d still pending after 20 s)",
             idleRSS, queuedRSS, queued, peak, depth.pending))
transport.shutdown()
await server.stop()
