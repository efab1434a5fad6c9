// Durable-core figures: events + outbox rows committed per second, one poll cycle at 10,000 tracked
// videos next to the naive one-video.get-per-video approach, measured in the same run against the
// same simulator, and the store's writer cost per delivery in the dispatcher's turns (a burst of
// 10,000 finished videos × 4 subscriptions written as the poller writes it, then drained as the
// dispatcher drains it, without HTTP). Sections: CORE_BENCH=store,cycle,outbox (all by default).
// Prints figures; asserts nothing. Run: make bench-core (release).
import BridgeCore
import BridgeService
import BridgeStore
import CurlHTTP
import Foundation
import Logging
import Simulator
import SQLiteStore
import TalkingPhoto

func seconds(_ duration: Duration) -> Double {
    let (s, atto) = duration.components
    return Double(s) + Double(atto) / 1e18
}

func measure<T>(_ body: () async throws -> T) async rethrows -> (T, Double) {
    let clock = ContinuousClock()
    let start = clock.now
    let value = try await body()
    return (value, seconds(clock.now - start))
}

let directory = FileManager.default.temporaryDirectory.appendingPathComponent("core-bench-\(getpid())")
try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(at: directory) }
var quiet = Logger(label: "bench")
quiet.logLevel = .critical
let videos = 10_000
let subscriptions = 3
let environment = ProcessInfo.processInfo.environment
let sections = environment["CORE_BENCH"].map { Set($0.split(separator: ",").map(String.init)) }
func wanted(_ section: String) -> Bool { sections?.contains(section) ?? true }
let now = Date()

// MARK: Store throughput
if wanted("store") {
    let store = try SQLiteBridgeStore(path: directory.appendingPathComponent("bench.sqlite").path)
    for index in 0..<subscriptions {
        try await store.createSubscription(NewSubscription(tenant: "acme", url: "https://hooks.example.com/\(index)", secret: "whsec_b"), now: now)
    }
    let ids = (0..<videos).map { String(format: "%032x", $0) }
    let (_, trackTime) = try await measure {
        for id in ids { try await store.track(tenant: "acme", videoID: id, source: .watch, now: now, nextPollAt: now) }
    }
    // One cycle's worth of changes in one transaction (what the poller does).
    let (batch, batchTime) = try await measure {
        try await store.recordObservations(ids.map { Observation(videoID: $0, status: "pending") }, now: now, nextPollAt: now)
    }
    // One change per transaction (worst case: a trickle of changes).
    let single = 2_000
    let (_, singleTime) = try await measure {
        for id in ids.prefix(single) {
            try await store.recordObservations([Observation(videoID: id, status: "in_progressing")], now: now, nextPollAt: now)
        }
    }
    print("store (SQLite WAL, synchronous=NORMAL, \(subscriptions) subscriptions):")
    print(String(format: "  track one video per transaction     %8.0f videos/s", Double(videos) / trackTime))
    print(String(format: "  changes batched in one transaction  %8.0f events/s  %8.0f outbox rows/s", Double(batch.events.count) / batchTime, Double(batch.deliveriesCreated) / batchTime))
    print(String(format: "  one change per transaction          %8.0f events/s  %8.0f outbox rows/s", Double(single) / singleTime, Double(single * subscriptions) / singleTime))
}

// MARK: Poll cycle at 10,000 tracked videos
if wanted("cycle") {
    let simulator = try await UpstreamSimulator.start(
        SimulatorConfiguration(port: 0, token: "bench", renderTime: .seconds(3600), seed: 1),
        logger: quiet
    )
    let upstreamIDs = simulator.control.createVideos(count: videos, pinnedStatus: "in_progressing")
    let pollStore = try SQLiteBridgeStore(path: directory.appendingPathComponent("poll.sqlite").path)
    for id in upstreamIDs { try await pollStore.track(tenant: "acme", videoID: id, source: .watch, now: now, nextPollAt: now) }
    let transport = try CurlTransport()
    let client = TalkingPhotoClient(
        configuration: .init(baseURL: simulator.baseURL, token: UpstreamToken("bench"), timeout: .seconds(30)),
        transport: transport
    )
    // A 1 ms interval so the second cycle finds every live video due again right away.
    let poller = Poller(store: pollStore, accounts: UpstreamAccounts(shared: client), configuration: PollerConfiguration(interval: .milliseconds(1)), logger: quiet)
    simulator.control.resetCallCounts()
    let (firstCycle, firstTime) = await measure { await poller.cycle() }
    let firstCalls = simulator.control.callCounts().total
    for id in upstreamIDs.prefix(100) { _ = simulator.control.pin(videoID: id, status: "finished", videoURL: "https://cdn/\(id).mp4") }
    simulator.control.resetCallCounts()
    try await Task.sleep(for: .milliseconds(5))
    let (steadyCycle, steadyTime) = await measure { await poller.cycle() }
    let steadyCalls = simulator.control.callCounts().total

    // The naive way: one video.get per tracked video, 64 in flight.
    simulator.control.resetCallCounts()
    let (_, naiveTime) = try await measure {
        try await withThrowingTaskGroup(of: Void.self) { group in
            var iterator = upstreamIDs.makeIterator()
            for _ in 0..<64 {
                group.addTask {}
            }
            while try await group.next() != nil {
                guard let id = iterator.next() else { continue }
                group.addTask { _ = try? await client.video(id: id) }
            }
        }
    }
    let naiveCalls = simulator.control.callCounts().total
    print("poll cycle at \(videos) tracked videos (simulator on loopback, one transaction per cycle):")
    print(String(format: "  bridge, first cycle    %6d upstream calls  %7.3f s  (%d observations, %d events)", firstCalls, firstTime, firstCycle.observations, firstCycle.events))
    print(String(format: "  bridge, steady cycle   %6d upstream calls  %7.3f s  (%d events)", steadyCalls, steadyTime, steadyCycle.events))
    print(String(format: "  naive video.get each   %6d upstream calls  %7.3f s  (64 in flight)", naiveCalls, naiveTime))
    print(String(format: "  ratio                  %6.0fx fewer calls   %6.1fx faster", Double(naiveCalls) / Double(max(steadyCalls, 1)), naiveTime / steadyTime))
    transport.shutdown()
    await simulator.stop()
}

// MARK: Outbox turns: the writer's cost per delivery

/// One burst on a fresh file: written as the poller writes it, then drained in turns of `perTurn`
/// (each records the previous turn's claims as successes and claims as many again, at most 4 × 16
/// leases per subscription, as the dispatcher does under load). Returns (outbox rows, write
/// seconds, SQLite's peak memory while writing in bytes, deliveries, drain seconds, turns).
func outboxRun(_ name: String, perTurn: Int) async throws -> (Int, Double, Int64, Int, Double, Int) {
    let burstVideos = 10_000
    let outbox = try SQLiteBridgeStore(path: directory.appendingPathComponent("\(name).sqlite").path)
    let burstIDs = (0..<burstVideos).map { String(format: "b%031x", $0) }
    for id in burstIDs {
        try await outbox.track(
            tenant: "acme", videoID: id, source: .watch, initial: Observation(videoID: id, status: "in_progressing"), now: now, nextPollAt: now
        )
    }
    // Subscriptions after tracking, so the first observations queued nothing (as in e2e-bench).
    for index in 0..<4 {
        try await outbox.createSubscription(NewSubscription(tenant: "acme", url: "https://hooks.example.com/s\(index)", secret: "whsec_b"), now: now)
    }
    _ = SQLiteMemory.highWater(reset: true)
    let (rows, writeTime) = try await measure {
        var rows = 0
        for start in stride(from: 0, to: burstIDs.count, by: PollerConfiguration().recordBatch) {
            let chunk = burstIDs[start..<min(start + PollerConfiguration().recordBatch, burstIDs.count)]
            let observations = chunk.map { Observation(videoID: $0, status: "finished", videoURL: "https://cdn.example.com/\($0).mp4") }
            rows += try await outbox.recordObservations(observations, now: Date(), nextPollAt: Date()).deliveriesCreated
        }
        return rows
    }
    let writeMemory = SQLiteMemory.highWater(reset: true)
    let ((turns, delivered), drainTime) = try await measure {
        var outcomes: [CompletedAttempt] = []
        var turns = 0
        var delivered = 0
        repeat {
            turns += 1
            let request = ClaimRequest(limit: perTurn, leaseOwner: "bench.\(turns)", leaseDuration: .seconds(35), cap: InFlightCap(limit: 64))
            let turn = try await outbox.completeAttempts(outcomes, thenClaim: request, now: Date(), disableAfter: .seconds(86_400))
            delivered += outcomes.count
            outcomes = turn.claimed.map { delivery in
                CompletedAttempt(
                    deliveryID: delivery.id, subscriptionID: delivery.subscriptionID, leaseOwner: delivery.claimID, attemptedAt: Date(),
                    latency: .microseconds(300), statusCode: 204, errorKind: nil, responseSnippet: "", disposition: .succeeded
                )
            }
        } while !outcomes.isEmpty
        return (turns, delivered)
    }
    return (rows, writeTime, writeMemory, delivered, drainTime, turns)
}

if wanted("outbox") {
    // Turns of 32 (about what a dispatcher turn held when every slot waited for its outcome to be
    // recorded) against turns of 64 (claiming ahead), alternating, each on a fresh file.
    let sizes = (environment["CORE_BENCH_TURNS"] ?? "32,64").split(separator: ",").compactMap { Int($0) }
    print("outbox turns (SQLite, 10,000 videos × 4 subscriptions, no HTTP; alternating runs):")
    for round in 1...2 {
        for size in sizes {
            let (rows, writeTime, writeMemory, delivered, drainTime, turns) = try await outboxRun("outbox-\(round)-\(size)", perTurn: size)
            print(String(
                format: "  burst written (%d changes per transaction) %5.1f µs per row, SQLite memory peak %4.2f MB; drained %3d per turn: %5.1f µs per delivery, %6.0f deliveries/s (%d turns)",
                PollerConfiguration().recordBatch, writeTime / Double(rows) * 1e6, Double(writeMemory) / 1e6, size, drainTime / Double(max(delivered, 1)) * 1e6, Double(delivered) / drainTime, turns
            ))
        }
    }
}
