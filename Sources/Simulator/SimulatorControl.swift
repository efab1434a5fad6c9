public import Foundation
import Synchronization

/// One video as the simulator stores it.
struct SimulatedVideo: Sendable {
    let id: String
    let submittedAt: Date
    /// Decided at submit with probability `errorRatio`: ends in `error` instead of `finished`.
    let endsInError: Bool
    var pinnedStatus: String?
    var pinnedURL: String?
}

/// A video as an answer reports it.
struct VideoView: Sendable, Equatable {
    var id: String
    var status: String
    var videoURL: String?
}

/// Shared mutable state of a running simulator: videos, faults and call counters.
///
/// Everything here is also reachable over HTTP under `/_sim/` (see `docs/simulator.md`).
public final class SimulatorControl: Sendable {
    private struct State {
        var videos: [SimulatedVideo] = []
        var index: [String: Int] = [:]
        var faults: FaultSettings
        var counts = SimulatorCallCounts()
        var recentCalls: [SimulatorEndpoint: [Date]] = [:]
        var injected: [InjectedFault: Int] = [:]
        var boundPort: Int?
    }

    /// Largest number of videos one ``createVideos(count:pinnedStatus:)`` call makes.
    public static let maximumBulkCount = 100_000

    let configuration: SimulatorConfiguration
    let now: @Sendable () -> Date
    private let state: Mutex<State>
    let faultRandom: LockedRandom
    private let outcomeRandom: LockedRandom
    private let idRandom: LockedRandom

    init(configuration: SimulatorConfiguration, now: @escaping @Sendable () -> Date) {
        self.configuration = configuration
        self.now = now
        self.state = Mutex(State(faults: configuration.faults))
        var seeder = SplitMix64(seed: configuration.seed ?? UInt64.random(in: .min ... .max))
        self.faultRandom = LockedRandom(seed: seeder.next())
        self.outcomeRandom = LockedRandom(seed: seeder.next())
        self.idRandom = LockedRandom(seed: seeder.next())
    }

    // MARK: Faults

    /// The faults currently applied to the upstream endpoints.
    public func faults() -> FaultSettings {
        state.withLock { $0.faults }
    }

    /// Replaces the faults applied to the upstream endpoints (``FaultSettings/none`` turns them off).
    public func setFaults(_ faults: FaultSettings) {
        state.withLock { $0.faults = faults }
    }

    // MARK: Counters

    /// Requests that reached each upstream endpoint since start or the last reset.
    public func callCounts() -> SimulatorCallCounts {
        state.withLock { $0.counts }
    }

    /// Sets every call counter to zero.
    public func resetCallCounts() {
        state.withLock { state in
            state.counts = SimulatorCallCounts()
            state.recentCalls = [:]
        }
    }

    /// How many times each fault has been applied since start or the last reset (a status fault
    /// counts once per video item it changed). Test suites print these beside their results.
    public func injectedFaults() -> [InjectedFault: Int] {
        state.withLock { $0.injected }
    }

    /// Sets every injected-fault counter to zero.
    public func resetInjectedFaults() {
        state.withLock { $0.injected = [:] }
    }

    func recordFault(_ fault: InjectedFault) {
        state.withLock { $0.injected[fault, default: 0] += 1 }
    }

    /// How many arrival times ``recentCalls(to:)`` keeps per endpoint.
    public static let recentCallLimit = 1_000

    func recordCall(_ endpoint: SimulatorEndpoint) {
        let at = now()
        state.withLock { state in
            state.counts[endpoint] += 1
            var times = state.recentCalls[endpoint, default: []]
            if times.count >= Self.recentCallLimit { times.removeFirst(times.count - Self.recentCallLimit + 1) }
            times.append(at)
            state.recentCalls[endpoint] = times
        }
    }

    /// When the last ``recentCallLimit`` requests to `endpoint` arrived, oldest first (reset with the
    /// counters). Benchmarks use it to find the poll that observed a change.
    public func recentCalls(to endpoint: SimulatorEndpoint) -> [Date] {
        state.withLock { $0.recentCalls[endpoint] ?? [] }
    }

    // MARK: Videos

    /// Number of videos the account holds.
    public var videoCount: Int {
        state.withLock { $0.videos.count }
    }

    /// Creates `count` videos at once (at most ``maximumBulkCount``), submitted now.
    /// With `pinnedStatus` they stay in that status; without, they progress like submitted ones.
    /// Returns their ids, oldest first.
    @discardableResult
    public func createVideos(count: Int, pinnedStatus: String? = nil) -> [String] {
        let count = min(max(count, 0), Self.maximumBulkCount)
        let submittedAt = now()
        var made: [SimulatedVideo] = []
        made.reserveCapacity(count)
        for _ in 0..<count {
            made.append(SimulatedVideo(
                id: idRandom.hexID(),
                submittedAt: submittedAt,
                endsInError: outcomeRandom.chance(configuration.errorRatio),
                pinnedStatus: pinnedStatus,
                pinnedURL: nil
            ))
        }
        state.withLock { state in
            for video in made where state.index[video.id] == nil {
                state.index[video.id] = state.videos.count
                state.videos.append(video)
            }
        }
        return made.map(\.id)
    }

    /// Submits one video as `video.generate` does; returns its id.
    func submit() -> String {
        createVideos(count: 1, pinnedStatus: nil).first ?? idRandom.hexID()
    }

    /// A fresh id that belongs to no video (for faulted answers that must not create one).
    func unsavedID() -> String { idRandom.hexID() }

    /// Pins a video to `status` (any string) and optionally a `video_url`, until ``unpin(videoID:)``.
    /// A pinned `finished` video without `videoURL` gets the simulator's own URL.
    /// Returns false when the id is unknown.
    @discardableResult
    public func pin(videoID: String, status: String, videoURL: String? = nil) -> Bool {
        state.withLock { state in
            guard let position = state.index[videoID] else { return false }
            state.videos[position].pinnedStatus = status
            state.videos[position].pinnedURL = videoURL
            return true
        }
    }

    /// Pins every video of the account to `status` at one instant (a burst of renders finishing
    /// together). Returns how many were pinned.
    @discardableResult
    public func pinAll(status: String, videoURL: String? = nil) -> Int {
        state.withLock { state in
            for position in state.videos.indices {
                state.videos[position].pinnedStatus = status
                state.videos[position].pinnedURL = videoURL
            }
            return state.videos.count
        }
    }

    /// Returns a pinned video to time-driven progress. Returns false when the id is unknown.
    @discardableResult
    public func unpin(videoID: String) -> Bool {
        state.withLock { state in
            guard let position = state.index[videoID] else { return false }
            state.videos[position].pinnedStatus = nil
            state.videos[position].pinnedURL = nil
            return true
        }
    }

    /// The true current status of a video (no faults applied), or `nil` for an unknown id.
    public func status(ofVideo videoID: String) -> String? {
        let at = now()
        return state.withLock { state in
            state.index[videoID].map { view(of: state.videos[$0], at: at, authority: "").status }
        }
    }

    /// Removes every video.
    public func removeAllVideos() {
        state.withLock { state in
            state.videos.removeAll()
            state.index.removeAll()
        }
    }

    /// Whether a video with this id exists.
    func contains(_ videoID: String) -> Bool {
        state.withLock { $0.index[videoID] != nil }
    }

    func video(_ videoID: String, authority: String) -> VideoView? {
        let at = now()
        return state.withLock { state in
            state.index[videoID].map { view(of: state.videos[$0], at: at, authority: authority) }
        }
    }

    func allVideos(authority: String) -> [VideoView] {
        let at = now()
        return state.withLock { state in
            state.videos.map { view(of: $0, at: at, authority: authority) }
        }
    }

    // MARK: Listening address

    func setBoundPort(_ port: Int) {
        state.withLock { $0.boundPort = port }
    }

    var defaultAuthority: String {
        let port = state.withLock { $0.boundPort } ?? configuration.port
        let host = configuration.host.contains(":") ? "[\(configuration.host)]" : configuration.host
        return "\(host):\(port)"
    }

    // MARK: Lifecycle

    private func view(of video: SimulatedVideo, at now: Date, authority: String) -> VideoView {
        // Built only for the answers that carry it: a 100,000-video list mostly does not.
        var url: String { "http://\(authority)/videos/\(video.id).mp4" }
        if let pinned = video.pinnedStatus {
            let pinnedURL = video.pinnedURL ?? (pinned == VideoStatus.finished ? url : nil)
            return VideoView(id: video.id, status: pinned, videoURL: pinnedURL)
        }
        let elapsed = now.timeIntervalSince(video.submittedAt)
        let render = configuration.renderTime.simulatorSeconds
        let pending = configuration.effectivePendingTime.simulatorSeconds
        if render <= 0 || elapsed >= render {
            return video.endsInError
                ? VideoView(id: video.id, status: VideoStatus.error)
                : VideoView(id: video.id, status: VideoStatus.finished, videoURL: url)
        }
        if elapsed < pending {
            return VideoView(id: video.id, status: VideoStatus.pending)
        }
        return VideoView(id: video.id, status: VideoStatus.inProgressing)
    }
}

/// The statuses the upstream documents.
enum VideoStatus {
    static let pending = "pending"
    static let inProgressing = "in_progressing"
    static let finished = "finished"
    static let error = "error"
}

/// One kind of misbehaviour the simulator applied, as counted by ``SimulatorControl/injectedFaults()``.
public enum InjectedFault: String, Sendable, Hashable, CaseIterable, Comparable {
    case latency, hang
    case rateLimit = "rate_limit"
    case serverError = "server_error"
    case html, truncated
    case nonzeroCode = "nonzero_code"
    case unknownStatus = "unknown_status"
    case backwards

    public static func < (lhs: Self, rhs: Self) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}
