import BridgeCore
import BridgeStore
import CurlHTTP
import Foundation
import Logging
import Simulator
import Synchronization
import TestSupport
import Testing
import Webhooks

/// One row of the fault suite's table.
struct FaultFigures: Sendable {
    var scenario: String
    /// Faults the scenario injected: kills, signals, simulator knobs that fired, receiver misbehaviours.
    var faultsInjected: Int
    /// (subscription, event) pairs that had to arrive.
    var expected: Int
    /// Distinct expected pairs that arrived.
    var delivered: Int
    /// Arrivals beyond the first of a pair (each repeats an already-seen webhook-id).
    var duplicates: Int
    /// Events or arrivals that should not exist: a status never reported, a repeat with a new id, …
    var falseEvents: Int
    /// 5xx answers from the bridge's own read routes while faults were on.
    var serverErrors: Int
    var note: String = ""
    /// Printed under the table (per-knob counts and the like).
    var details: String = ""

    var lost: Int { expected - delivered }

    static func table(_ rows: [FaultFigures]) -> String {
        let header = ["scenario", "faults injected", "expected", "delivered", "lost", "duplicates", "false events", "5xx", "note"]
        let cells = rows.map {
            [$0.scenario, "\($0.faultsInjected)", "\($0.expected)", "\($0.delivered)", "\($0.lost)", "\($0.duplicates)",
             "\($0.falseEvents)", "\($0.serverErrors)", $0.note]
        }
        let widths = header.indices.map { column in ([header] + cells).map { $0[column].count }.max() ?? 0 }
        func line(_ row: [String]) -> String {
            "| " + row.indices.map { row[$0].padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: " | ") + " |"
        }
        let rule = "|" + widths.map { String(repeating: "-", count: $0 + 2) }.joined(separator: "|") + "|"
        return ([line(header), rule] + cells.map(line)).joined(separator: "\n")
    }
}

/// A JSON client for the bridge's API, for scenarios that restart the bridge on another port.
final class BridgeAPIClient: Sendable {
    private let transport: CurlTransport
    private let base = Mutex<String>("")

    init() throws { transport = try CurlTransport() }

    var baseURL: String {
        get { base.withLock { $0 } }
        set { base.withLock { $0 = newValue } }
    }

    /// Sends one request with the test key; the status and the decoded JSON body (if any).
    func call(_ method: String, _ path: String, _ body: [String: Any]? = nil, timeout: Duration = .seconds(20))
        async throws -> (status: Int, json: [String: Any])
    {
        let response = try await transport.send(
            OutboundRequest(
                method: method, url: baseURL + path,
                headers: ["Authorization": "Bearer \(BinaryEndToEndTests.key)", "Content-Type": "application/json"],
                body: try body.map { try JSONSerialization.data(withJSONObject: $0) }, timeout: timeout
            )
        )
        let json = (try? JSONSerialization.jsonObject(with: response.body) as? [String: Any]) ?? [:]
        return (response.status, json)
    }

    /// Creates a subscription; its id and signing secret.
    @discardableResult
    func subscribe(url: String, events: [String]? = nil) async throws -> (id: String, secret: WebhookSecret) {
        var body: [String: Any] = ["url": url]
        if let events { body["events"] = events }
        let (status, json) = try await call("POST", "/v1/subscriptions", body)
        guard status == 201, let id = json["id"] as? String, let secret = (json["secret"] as? String).flatMap(WebhookSecret.init) else {
            throw ScenarioFailure("POST /v1/subscriptions answered \(status): \(json)")
        }
        return (id, secret)
    }

    /// Starts watching a video; fails unless the bridge answers 201.
    func watch(_ videoID: String) async throws {
        let (status, json) = try await call("POST", "/v1/videos/\(videoID)/watch")
        guard status == 201 else { throw ScenarioFailure("watch \(videoID) answered \(status): \(json)") }
    }

    func stop() { transport.shutdown() }
}

struct ScenarioFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Reads the bridge's own read routes in the background while a scenario runs and counts 5xx answers.
/// Refused connections (the bridge is down between a kill and its restart) are not counted.
final class ReadProbe: Sendable {
    private final class Tally: Sendable {
        let counts = Mutex<(requests: Int, serverErrors: Int, samples: [String])>((0, 0, []))
    }

    private let tally = Tally()
    private let task: Task<Void, Never>

    init(_ client: BridgeAPIClient, every interval: Duration = .milliseconds(100), maximum: Int = 20_000) {
        let tally = self.tally
        task = Task {
            for round in 0..<maximum where !Task.isCancelled {
                let path = ["/v1/events?limit=5", "/v1/subscriptions?limit=5", "/v1/videos?limit=5", "/healthz"][round % 4]
                if let (status, json) = try? await client.call("GET", path, timeout: .seconds(5)) {
                    tally.counts.withLock {
                        $0.requests += 1
                        if status >= 500 {
                            $0.serverErrors += 1
                            if $0.samples.count < 5 { $0.samples.append("\(path) → \(status) \(json)") }
                        }
                    }
                }
                try? await Task.sleep(for: interval)
            }
        }
    }

    /// Stops probing; the number of 5xx answers seen and a few examples.
    func finish() async -> (requests: Int, serverErrors: Int, samples: [String]) {
        task.cancel()
        await task.value
        return tally.counts.withLock { $0 }
    }
}

extension WebhookReceiver.Received {
    /// "subscription path/webhook-id": the identity of one (subscription, event) pair.
    var key: String { "\(path)/\(id)" }
}

/// What arrived at a receiver compared with the (subscription, event) pairs that had to.
struct ArrivalCheck {
    var delivered: Int
    var duplicates: Int
    /// Arrivals whose pair was not expected, or pairs of one (subscription, video, status) under two ids.
    var unexpected: [String]
    var missing: [String]
    /// (subscription, video) pairs whose first deliveries came out of order.
    var outOfOrder: [String]

    /// `expected` maps each pair key to its video and the status its event announced;
    /// `order` gives, per subscription path, the status order each video's first deliveries must follow.
    init(received: [WebhookReceiver.Received], expected: ExpectedPairs, order: [String: [String]]) {
        let keys = received.map(\.key)
        let unique = Set(keys)
        delivered = unique.intersection(expected.keys).count
        duplicates = keys.count - unique.count
        unexpected = unique.subtracting(expected.keys).sorted()
        missing = Set(expected.keys).subtracting(unique).sorted()
        var firstSeen = Set<String>()
        var sequences: [String: [String]] = [:]  // "path|video" → statuses of first deliveries in arrival order
        var idsByStatus: [String: Set<String>] = [:]  // "path|video|status" → webhook-ids
        for message in received {
            guard let video = message.videoID, let status = message.status else {
                unexpected.append("\(message.key) without video_id/status")
                continue
            }
            idsByStatus["\(message.path)|\(video)|\(status)", default: []].insert(message.id)
            if firstSeen.insert(message.key).inserted { sequences["\(message.path)|\(video)", default: []].append(status) }
        }
        for (pair, ids) in idsByStatus where ids.count > 1 { unexpected.append("\(pair) under \(ids.count) webhook-ids") }
        outOfOrder = []
        for (pair, statuses) in sequences {
            guard let path = pair.split(separator: "|").first.map(String.init), let wanted = order[path] else { continue }
            let ranks = statuses.compactMap { wanted.firstIndex(of: $0) }
            if ranks != ranks.sorted() || ranks.count != statuses.count { outOfOrder.append("\(pair): \(statuses)") }
        }
    }
}

/// (subscription path, event) pair keys ("path/webhook-id") with the video and status each announces.
typealias ExpectedPairs = [String: (video: String, status: String)]

/// What must arrive when `events` go to receiver paths with event-type `filters` (nil: every type):
/// every matching (path, event) pair, and each path's status order for a video's `steps`.
func expectations(events: [StoredEvent], filters: [String: [String]?], steps: [String]) -> (ExpectedPairs, [String: [String]]) {
    var expected: ExpectedPairs = [:]
    var order: [String: [String]] = [:]
    for (path, types) in filters {
        order[path] = steps.filter { step in types.map { $0.contains(EventType.announcing(step).rawValue) } ?? true }
        let matching = events.filter { event in types.map { $0.contains(event.type.rawValue) } ?? true }
        expected.merge(pairs(of: matching, to: path)) { $1 }
    }
    return (expected, order)
}

/// The pairs `events` make when each is sent to the receiver path `path`.
func pairs(of events: some Sequence<StoredEvent>, to path: String) -> ExpectedPairs {
    var pairs: ExpectedPairs = [:]
    for event in events { pairs["\(path)/\(event.id)"] = (event.videoID ?? "", payloadStatus(event) ?? "") }
    return pairs
}

extension WebhookReceiver {
    /// Waits until every pair in `keys` has arrived at least once; whether they all did in time.
    func awaitPairs(_ keys: some Collection<String>, within limit: Duration) async -> Bool {
        let wanted = Set(keys)
        return await eventually(within: limit, every: .milliseconds(100)) {
            Set(self.received.map(\.key)).isSuperset(of: wanted)
        }
    }
}

/// How many arrivals do not verify with their subscription's secret (keyed by receiver path).
func countBadSignatures(_ received: [WebhookReceiver.Received], secrets: [String: WebhookSecret]) -> Int {
    received.filter { message in
        !WebhookSigner.verify(
            id: message.id, timestamp: Int64(message.timestamp) ?? 0, body: message.body,
            header: message.signature, secrets: secrets[message.path].map { [$0] } ?? []
        )
    }.count
}

/// The `data.status` of a stored event's payload.
func payloadStatus(_ event: StoredEvent) -> String? {
    guard let object = try? JSONSerialization.jsonObject(with: Data(event.payload.utf8)) as? [String: Any] else { return nil }
    return (object["data"] as? [String: Any])?["status"] as? String
}

/// A quiet in-process simulator with the token `BinaryEndToEndTests.launch` gives the bridge.
func startFaultSimulator(seed: UInt64, renderTime: Duration = .seconds(3600)) async throws -> RunningSimulator {
    try await startQuietSimulator(SimulatorConfiguration(port: 0, token: "e2e-token", renderTime: renderTime, seed: seed))
}

/// A simulator in this process that logs nothing below critical.
func startQuietSimulator(_ configuration: SimulatorConfiguration) async throws -> RunningSimulator {
    var quiet = Logger(label: "simulator")
    quiet.logLevel = .critical
    return try await UpstreamSimulator.start(configuration, logger: quiet)
}

/// The last lines of a log, for failure messages.
func tail(_ text: String, lines: Int = 30) -> String {
    text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
}
