import BridgeStore
import CurlHTTP
import Foundation
import Simulator
import TestSupport
import Testing

/// Thousands of generated bad requests: each must get a clear 4xx in the right error shape, and the
/// database must be exactly as before. Deterministic (seeded), bounded in count and time.
@Suite("Bad input")
struct BadInputTests {
    static let long = "\"" + String(repeating: "a", count: 3000) + "\""
    /// Values that are wrong for each field: wrong JSON types, over-long strings, bad URLs, unknown
    /// enum values, impossible dates. (JSON null is read as "absent", like a missing optional field.)
    static let junk: [String: [String]] = [
        "url": ["true", "0", "[]", "{}", long, "\"ftp://example.com\"", "\"javascript:alert(1)\"", "\"http://\"", "\"not a url\""],
        "audio_url": ["true", "0", "[]", long, "\"ftp://example.com\"", "\"http://\"", "\"\""],
        "image_url": ["true", "0", "{}", long, "\"file:///etc/passwd\"", "\"//x\"", "\"\""],
        "callback_url": ["1", "[]", long, "\"gopher://x\"", "\"http://localhost/x\"", "\"http://10.0.0.1/\""],
        "events": ["\"video.finished\"", "0", "{}", "[\"video.nope\"]", "[\"video.finished\", 3]", "[null]", "[[]]"],
        "video_id": ["1", "[]", "{}", long, "\"\""],
        "description": ["1", "[]", "{}", "true", "\"" + String(repeating: "d", count: 501) + "\""],
        "enabled": ["1", "\"true\"", "[]", "{}", "\"yes\""],
        "headers": [
            "1", "[]", "\"Authorization: x\"", "{\"X-A\":1}", "{\"X-A\":\"\"}", "{\"X-A\":null}", "{\"Content-Type\":\"text/plain\"}",
            "{\"webhook-id\":\"evt_forged\"}", "{\"Webhook-Signature\":\"v1,x\"}", "{\"Host\":\"evil.example\"}",
            "{\"Transfer-Encoding\":\"chunked\"}", "{\"X-A\":\"a\\r\\nInjected: 1\"}", "{\"X-A\":\"a\\nb\"}", "{\"X-A\":\"nul\\u0000\"}",
            "{\"bad name\":\"v\"}", "{\"X-\\u00e9\":\"v\"}", "{\"\":\"v\"}", "{\"X-A\":\" padded\"}", "{\"X-A\":\"caf\\u00e9\"}",
            "{\"X-A\":\"1\",\"x-a\":\"2\"}", "{\"X-A\":\"" + String(repeating: "v", count: 4097) + "\"}",
            "{" + (0..<21).map { "\"X-\($0)\":\"v\"" }.joined(separator: ",") + "}",
            "{" + (0..<3).map { "\"X-\($0)\":\"" + String(repeating: "v", count: 4000) + "\"" }.joined(separator: ",") + "}",
        ],
        "rate_limit": ["-1", "10001", "\"5\"", "1.5", "1e30", "true", "[]", "{}", "99999999999999999999"],
        "since": ["1", "true", "\"yesterday\"", "\"2020-13-45T99:99:99Z\"", "\"\"", "[]", "\"2020-01-01\""],
    ]

    static func bodies(_ fields: [String], required: [String] = [], using random: inout SplitMix64) -> [String] {
        var bodies = ["", "{", "{\"a\":", "[]", "null", "\"str\"", "{\"unknown_field\":1}", "{}}", "\u{FFFD}\u{0000}", "{\"x\":1,}"]
        for field in fields {
            for value in junk[field] ?? [] {
                // Keep the other required fields valid so the one bad field is what gets judged.
                var members = ["\"\(field)\":\(value)"]
                for other in required where other != field { members.append("\"\(other)\":\"https://media.example.com/ok\"") }
                bodies.append("{" + members.joined(separator: ",") + "}")
            }
            var unknown = ["\"\(field)_typo\":1"]
            for other in required { unknown.append("\"\(other)\":\"https://media.example.com/ok\"") }
            bodies.append("{" + unknown.joined(separator: ",") + "}")
        }
        for _ in 0..<150 {
            let bytes = (0..<Int.random(in: 1...200, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            bodies.append(String(decoding: bytes, as: UTF8.self))
        }
        return bodies
    }

    @Test("thousands of bad requests: never a 5xx, always the right error shape, nothing changes")
    func fuzz() async throws {
        try await APIHarness.with(allowPrivate: false) { harness in
            let sub = try #require(try await harness.call("POST", "/v1/subscriptions", json: ["url": "https://hooks.example.com/x"]).json["id"] as? String)
            let before = try await harness.store.tableCounts()
            var random = SplitMix64(seed: 20261125)
            var requests: [(String, String, Data?, [String: String])] = []

            let posts: [(String, [String], [String])] = [
                ("/v1/v2v/video.generate", ["audio_url", "image_url", "callback_url", "events"], ["audio_url", "image_url"]),
                ("/v1/subscriptions", ["url", "events", "video_id", "description", "headers", "rate_limit"], []),
                ("/v1/subscriptions/\(sub)/replay", ["since"], []),
            ]
            for (path, fields, required) in posts {
                for body in Self.bodies(fields, required: required, using: &random) { requests.append(("POST", path, Data(body.utf8), [:])) }
            }
            for body in Self.bodies(["url", "events", "enabled", "description", "headers", "rate_limit"], using: &random) {
                requests.append(("PATCH", "/v1/subscriptions/\(sub)", Data(body.utf8), [:]))
            }
            let oversized = Data(("{\"url\":\"https://hooks.example.com/" + String(repeating: "a", count: 70_000) + "\"}").utf8)
            requests.append(("POST", "/v1/subscriptions", oversized, [:]))
            requests.append(("POST", "/v1/v2v/video.generate", oversized, [:]))

            let badIDs = ["x", "sub_", "sub_123", "dlv_abc", "dlv_-1", "evt_lower", String(repeating: "z", count: 300), "%00", "..%2F..%2Fetc", "%E2%9C%93"]
            for id in badIDs {
                for (method, template) in [
                    ("GET", "/v1/subscriptions/ID"), ("PATCH", "/v1/subscriptions/ID"), ("DELETE", "/v1/subscriptions/ID"),
                    ("POST", "/v1/subscriptions/ID/rotate-secret"), ("POST", "/v1/subscriptions/ID/test"),
                    ("GET", "/v1/events/ID"), ("GET", "/v1/deliveries/ID"), ("POST", "/v1/deliveries/ID/retry"),
                    ("GET", "/v1/videos/ID"), ("DELETE", "/v1/videos/ID/watch"),
                ] {
                    let body = method == "PATCH" ? Data("{\"enabled\":false}".utf8) : nil
                    requests.append((method, template.replacingOccurrences(of: "ID", with: id), body, [:]))
                }
            }
            let common = ["limit=0", "limit=501", "limit=-3", "limit=abc", "limit=99999999999999999999", "cursor=abc", "cursor=-1", "cursor=sub_bad"]
            let queries: [String: [String]] = [
                "/v1/subscriptions": common,
                "/v1/videos": common,
                "/v1/events": common + ["wait=31", "wait=-1", "wait=x", "type=video.nope", "type=", "video_id=" + String(repeating: "v", count: 200)],
                "/v1/deliveries": common + ["status=lost", "status=", "subscription_id=nope", "subscription_id=sub_x"],
            ]
            for (path, list) in queries {
                for query in list { requests.append(("GET", "\(path)?\(query)", nil, [:])) }
            }
            requests.append(("GET", "/v1/v2v/video.get", nil, [:]))
            requests.append(("GET", "/v1/v2v/video.get?video_id=", nil, [:]))
            for key in [String(repeating: "k", count: 300), "with space", "tab\tkey"] {
                requests.append(("POST", "/v1/subscriptions", Data("{\"url\":\"https://hooks.example.com/y\"}".utf8), ["Idempotency-Key": key]))
            }
            // Repeat the whole set with random junk headers and content types to pass a few thousand.
            let base = requests
            for contentType in ["text/plain", "application/xml"] {
                for request in base where request.2 != nil {
                    requests.append((request.0, request.1, request.2, request.3.merging(["Content-Type": contentType]) { $1 }))
                }
            }
            #expect(requests.count >= 2000, "\(requests.count) requests")

            let results = try await withThrowingTaskGroup(of: (String, Int, String).self) { group in
                var iterator = requests.makeIterator()
                var collected: [(String, Int, String)] = []
                for _ in 0..<16 {
                    guard let next = iterator.next() else { break }
                    group.addTask { try await Self.send(harness, next) }
                }
                while let result = try await group.next() {
                    collected.append(result)
                    if let next = iterator.next() { group.addTask { try await Self.send(harness, next) } }
                }
                return collected
            }
            var failures: [String] = []
            for (label, status, body) in results {
                let proxy = label.contains("/v1/v2v/")
                let shaped = proxy ? body.contains("\"code\":") && body.contains("\"data\":null") : body.contains("{\"error\":{\"code\":")
                if !(400..<500).contains(status) || !shaped {
                    failures.append("\(label) → \(status) \(body.prefix(160))")
                }
            }
            #expect(failures.isEmpty, "\(failures.count) bad answers, e.g.\n\(failures.prefix(15).joined(separator: "\n"))")
            #expect(try await harness.store.tableCounts() == before, "the database changed")
            #expect(harness.simulator.control.callCounts().generate == 0)
        }
    }

    static func send(_ harness: APIHarness, _ request: (String, String, Data?, [String: String])) async throws -> (String, Int, String) {
        var headers = HeaderFields()
        headers.add(name: "Authorization", value: "Bearer \(APIHarness.keys["acme"] ?? "")")
        if request.3["Content-Type"] == nil, request.2 != nil { headers.add(name: "Content-Type", value: "application/json") }
        for (name, value) in request.3 { headers.add(name: name, value: value) }
        let response = try await harness.transport.send(
            OutboundRequest(method: request.0, url: harness.baseURL + request.1, headers: headers, body: request.2, timeout: .seconds(30))
        )
        let label = "\(request.0) \(request.1.prefix(80)) [\(String(decoding: (request.2 ?? Data()).prefix(60), as: UTF8.self))]"
        return (label, response.status, response.bodyText)
    }
}
