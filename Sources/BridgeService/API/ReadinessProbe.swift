import BridgeStore
import Foundation
import Synchronization
import TalkingPhoto

/// `/readyz`: the database takes a write, and the upstream answers within a short budget. The upstream
/// check asks `video.get` for an id that cannot exist: any HTTP answer but 401/403 and 5xx proves the
/// upstream is reachable and the token accepted, without listing the whole account.
///
/// Cheap under a flood: a passing check is reused for `cacheFor`, and at most one probe of each kind
/// runs at a time (callers meanwhile get the last result), so a burst of probes costs one database
/// write and one upstream call, not one per request. A failing database check is not reused: the
/// next probe after the disk frees up reports ready.
final class ReadinessProbe: Sendable {
    struct Report: Sendable {
        var database: String?
        var upstream: String?
        var ready: Bool { database == nil && upstream == nil }
    }

    private let store: any MaintenanceStore
    private let client: TalkingPhotoClient
    private let cacheFor: Duration
    private let cached = Mutex<(at: ContinuousClock.Instant, upstream: String?)?>(nil)
    private let database: SingleFlight

    init(store: any MaintenanceStore, client: TalkingPhotoClient, budget: Duration = .seconds(2), cacheFor: Duration = .seconds(5)) {
        self.store = store
        var configuration = client.configuration
        configuration.timeout = budget
        configuration.connectTimeout = budget
        self.client = TalkingPhotoClient(configuration: configuration, transport: client.transport)
        self.cacheFor = cacheFor
        self.database = SingleFlight(reuseSuccessFor: cacheFor) {
            do {
                try await store.checkWritable()
                return nil
            } catch {
                return "\(error)"
            }
        }
    }

    func check() async -> Report {
        var report = Report()
        report.database = await database.run()
        report.upstream = await upstreamFailure()
        return report
    }

    private func upstreamFailure() async -> String? {
        if let hit = cached.withLock({ $0 }), ContinuousClock.now - hit.at < cacheFor { return hit.upstream }
        var failure: String?
        do {
            _ = try await client.video(id: "readiness-probe-0000")
        } catch {
            switch error {
            case .rejected(let status, _, _, _) where status == 401 || status == 403:
                failure = "upstream rejected the API token (HTTP \(status))"
            case .rejected, .malformed, .apiError:
                failure = nil  // reachable and answering for this token
            default:
                failure = error.description
            }
        }
        cached.withLock { $0 = (ContinuousClock.now, failure) }
        return failure
    }
}

/// One probe at a time: concurrent callers get the last result instead of starting another; a
/// success (nil) is reused for a while, a failure only while the next probe runs.
final class SingleFlight: Sendable {
    private struct State {
        var last: (at: ContinuousClock.Instant, failure: String?)?
        var running = false
    }

    private let state = Mutex(State())
    private let reuseSuccessFor: Duration
    private let probe: @Sendable () async -> String?

    init(reuseSuccessFor: Duration, probe: @escaping @Sendable () async -> String?) {
        self.reuseSuccessFor = reuseSuccessFor
        self.probe = probe
    }

    /// The failure, or nil when the probe passed.
    func run() async -> String? {
        enum Decision { case reuse(String?), probe }
        let decision = state.withLock { state -> Decision in
            if let last = state.last, last.failure == nil, ContinuousClock.now - last.at < reuseSuccessFor { return .reuse(nil) }
            if state.running, let last = state.last { return .reuse(last.failure) }
            state.running = true
            return .probe
        }
        if case .reuse(let failure) = decision { return failure }
        let failure = await probe()
        state.withLock { state in
            state.last = (ContinuousClock.now, failure)
            state.running = false
        }
        return failure
    }
}
