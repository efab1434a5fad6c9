import BridgeCore
public import BridgeStore
public import Foundation
public import Logging
public import ServiceLifecycle
public import TalkingPhoto
import Synchronization
import Metrics

/// Watches every tracked, non-terminal video with as few upstream calls as possible and records
/// what it sees. A long-running service: `run()` returns on graceful shutdown or cancellation.
///
/// Per cycle: one `video.list` answers every due video (plus a bounded number of `video.get` for
/// due videos the list left out), or, when a handful of videos face a huge account history, one
/// `video.get` each. Nothing is called while nothing is due. Errors, 5xx and unreadable answers
/// never become a status: the cycle records nothing and backs off (honouring `Retry-After`).
public final class Poller: Service {
    /// What one cycle did; returned for tests and logs.
    public struct CycleReport: Sendable, Equatable {
        public enum Mode: String, Sendable { case idle, list, get }
        public var mode: Mode = .idle
        public var due = 0
        public var listCalls = 0
        public var getCalls = 0
        public var observations = 0
        public var events = 0
        public var failure: String?
        /// How long until the next cycle.
        public var delay: Duration = .zero
    }

    private struct State {
        var lastListSize: Int?
        var consecutiveFailures = 0
        var lastPrune: Date?
    }

    private let store: any TrackingStore
    private let client: TalkingPhotoClient
    private let configuration: PollerConfiguration
    private let clock: any Clock<Duration>
    private let now: @Sendable () -> Date
    private let random: @Sendable () -> Double
    private let logger: Logger
    private let state = Mutex(State())

    public init(
        store: any TrackingStore,
        client: TalkingPhotoClient,
        configuration: PollerConfiguration,
        clock: any Clock<Duration> = ContinuousClock(),
        now: @escaping @Sendable () -> Date = { Date() },
        random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) },
        logger: Logger
    ) {
        self.store = store
        self.client = client
        self.configuration = configuration
        self.clock = clock
        self.now = now
        self.random = random
        self.logger = logger
    }

    public func run() async throws {
        logger.info("poller started", metadata: ["interval": "\(configuration.interval)"])
        do {
            try await cancelWhenGracefulShutdown {
                while !Task.isCancelled {
                    let report = await self.cycle()
                    try await self.clock.sleep(for: report.delay)
                }
            }
        } catch is CancellationError {
            // Graceful shutdown cuts the sleep short: a normal end, not a failure.
        }
        logger.info("poller stopped")
    }

    /// One polling cycle. Never throws: failures are logged and turn into a longer delay.
    public func cycle() async -> CycleReport {
        var report = CycleReport()
        let started = now()
        do {
            try await expireAndPrune(at: started)
            let due = try await store.dueVideoIDs(now: started, limit: 200_000)
            report.due = due.count
            guard !due.isEmpty else {
                report.delay = configuration.interval
                return report
            }
            let observations = try await observe(due, report: &report)
            let recorded = try await store.recordObservations(observations, now: now(), nextPollAt: now() + configuration.interval)
            report.observations = observations.count
            report.events = recorded.events.count
            for id in recorded.wentBackwards {
                logger.info("status went backwards; recorded without an event", metadata: ["video_id": "\(id)"])
            }
            for event in recorded.events {
                Counter(label: "bridge_events_total", dimensions: [("type", event.type.rawValue)]).increment()
                logger.info(
                    "status changed",
                    metadata: ["video_id": "\(event.videoID ?? "")", "event_id": "\(event.id)", "type": "\(event.type.rawValue)"]
                )
            }
            state.withLock { $0.consecutiveFailures = 0 }
            report.delay = configuration.interval
        } catch let error as UpstreamError {
            report.failure = error.kind
            report.delay = backoff(after: error)
            logger.warning(
                "upstream poll failed; nothing recorded",
                metadata: ["error_kind": "\(error.kind)", "error": "\(error)", "retry_in": "\(report.delay)"]
            )
        } catch {
            report.failure = "store"
            report.delay = backoff(after: nil)
            logger.error("poll cycle could not be recorded", metadata: ["error": "\(error)", "retry_in": "\(report.delay)"])
        }
        Counter(label: "bridge_poll_cycles_total", dimensions: [("mode", report.mode.rawValue)]).increment()
        if let failure = report.failure {
            Counter(label: "bridge_upstream_errors_total", dimensions: [("kind", failure)]).increment()
        }
        logger.debug(
            "poll cycle",
            metadata: [
                "mode": "\(report.mode.rawValue)", "due": "\(report.due)", "list_calls": "\(report.listCalls)",
                "get_calls": "\(report.getCalls)", "events": "\(report.events)",
            ]
        )
        return report
    }

    // MARK: - Steps

    private func observe(_ due: [String], report: inout CycleReport) async throws(UpstreamError) -> [Observation] {
        let lastListSize = state.withLock { $0.lastListSize }
        let cheaperOneByOne =
            due.count <= configuration.maxGetsPerCycle
            && lastListSize.map { $0 >= due.count * configuration.listItemsPerGet } ?? false
        if cheaperOneByOne {
            report.mode = .get
            return try await fetchEach(due, report: &report)
        }
        report.mode = .list
        report.listCalls += 1
        let list = try await client.listVideos()
        state.withLock { $0.lastListSize = list.videos.count + list.unreadableItems }
        let wanted = Set(due)
        var observations: [Observation] = []
        var listed = Set<String>()
        for video in list.videos where wanted.contains(video.id) && listed.insert(video.id).inserted {
            observations.append(Observation(videoID: video.id, status: video.status.rawValue, videoURL: video.videoURL))
        }
        let missing = due.filter { !listed.contains($0) }
        if !missing.isEmpty {
            observations += try await fetchEach(missing, report: &report)
        }
        return observations
    }

    /// `video.get` for up to `maxGetsPerCycle` videos. A video the upstream says it does not know
    /// (4xx) is skipped for this cycle; rate limits and outages end the cycle.
    private func fetchEach(_ ids: [String], report: inout CycleReport) async throws(UpstreamError) -> [Observation] {
        var observations: [Observation] = []
        for id in ids.prefix(configuration.maxGetsPerCycle) {
            report.getCalls += 1
            do {
                let video = try await client.video(id: id)
                observations.append(Observation(videoID: video.id, status: video.status.rawValue, videoURL: video.videoURL))
            } catch {
                switch error {
                case .rejected(let status, _, let message, _):
                    logger.warning(
                        "upstream refused video.get; will retry next cycle",
                        metadata: ["video_id": "\(id)", "status": "\(status)", "message": "\(message ?? "")"]
                    )
                case .malformed, .truncated, .notJSON, .apiError:
                    logger.warning("unreadable video.get answer; nothing recorded", metadata: ["video_id": "\(id)", "error_kind": "\(error.kind)"])
                default:
                    throw error
                }
            }
        }
        return observations
    }

    private func expireAndPrune(at moment: Date) async throws(StoreError) {
        let cutoff = moment - configuration.trackingLimit.timeInterval
        let expired = try await store.expireTracking(startedBefore: cutoff, now: moment, limit: 500)
        for event in expired.events {
            logger.info("tracking expired", metadata: ["video_id": "\(event.videoID ?? "")", "event_id": "\(event.id)"])
        }
        let due = state.withLock { state -> Bool in
            guard let last = state.lastPrune, moment.timeIntervalSince(last) < configuration.pruneInterval.timeInterval else {
                state.lastPrune = moment
                return true
            }
            return false
        }
        if due {
            let pruned = try await store.prune(olderThan: moment - configuration.retention.timeInterval, batchSize: 500)
            if pruned.events + pruned.deliveries > 0 {
                logger.info("retention pruned", metadata: ["events": "\(pruned.events)", "deliveries": "\(pruned.deliveries)"])
            }
        }
    }

    /// `Retry-After` when the upstream gave one (capped), else exponential backoff from the poll
    /// interval with jitter (50–100 % of the step), capped.
    private func backoff(after error: UpstreamError?) -> Duration {
        let failures = state.withLock { state -> Int in
            state.consecutiveFailures += 1
            return state.consecutiveFailures
        }
        if let retryAfter = error?.retryAfter {
            return max(configuration.interval, min(retryAfter, configuration.maxRetryAfter))
        }
        let step = configuration.interval * Double(1 << min(failures, 16))
        let capped = min(step, configuration.maxBackoff)
        return capped * (0.5 + 0.5 * random())
    }
}

