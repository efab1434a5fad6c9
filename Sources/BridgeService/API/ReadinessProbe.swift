import BridgeStore
import Foundation
import Synchronization
import TalkingPhoto

/// `/readyz`: the database takes a write, and the upstream answers within a short budget. The upstream
/// check asks `video.get` for an id that cannot exist: any HTTP answer but 401/403 and 5xx proves the
/// upstream is reachable and the token accepted, without listing the whole account. Results are
/// cached briefly so frequent probes do not hammer the upstream.
final class ReadinessProbe: Sendable {
    struct Report: Sendable {
        var database: String?
        var upstream: String?
        var ready: Bool { database == nil && upstream == nil }
    }

    private let store: SQLiteBridgeStore
    private let client: TalkingPhotoClient
    private let cacheFor: Duration
    private let cached = Mutex<(at: ContinuousClock.Instant, upstream: String?)?>(nil)

    init(store: SQLiteBridgeStore, client: TalkingPhotoClient, budget: Duration = .seconds(2), cacheFor: Duration = .seconds(5)) {
        self.store = store
        var configuration = client.configuration
        configuration.timeout = budget
        configuration.connectTimeout = budget
        self.client = TalkingPhotoClient(configuration: configuration, transport: client.transport)
        self.cacheFor = cacheFor
    }

    func check() async -> Report {
        var report = Report()
        do {
            try store.checkWritable()
        } catch {
            report.database = "\(error)"
        }
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
