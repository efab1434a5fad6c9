@testable import BridgeService
import BridgeCore
import BridgeStore
import Foundation
import Simulator
import TestSupport
import Testing
import Webhooks

@Suite("HTTP API")
struct APITests {
    static var generate: [String: Any] { ["audio_url": "https://media.example.com/a.mp3", "image_url": "https://media.example.com/f.jpg"] }

    @Test("drop-in generate with callback_url: tracked, subscribed, and a signed video.finished arrives")
    func generateWithCallback() async throws {
        try await APIHarness.with(renderTime: .seconds(2)) { harness in
            var body = Self.generate
            body["callback_url"] = harness.receiver.url("cb")
            let reply = try await harness.call("POST", "/v1/v2v/video.generate", json: body)
            #expect(reply.status == 200, "\(reply.text)")
            #expect(reply.json["code"] as? Int == 0 && reply.json["message"] as? String == "success")
            let videoID = try #require(reply.data["video_id"] as? String)
            let secret = try #require(WebhookSecret(reply.data["subscription_secret"] as? String ?? ""))
            #expect((reply.data["subscription_id"] as? String)?.hasPrefix("sub_") == true)
            #expect(reply.data["status"] as? String == "pending")

            #expect(await eventually(within: .seconds(60)) { harness.receiver.received.contains { $0.type == "video.finished" } })
            // A poller may miss a short-lived status on a loaded machine; what it saw arrives in order.
            let statuses = harness.receiver.received.compactMap(\.status)
            #expect(statuses == ["pending", "in_progressing", "finished"] || statuses == ["pending", "finished"], "\(statuses)")
            for message in harness.receiver.received {
                #expect(message.videoID == videoID)
                #expect(WebhookSigner.verify(id: message.id, timestamp: Int64(message.timestamp) ?? 0, body: message.body, header: message.signature, secrets: [secret]))
            }
            let get = try await harness.call("GET", "/v1/v2v/video.get?video_id=\(videoID)")
            #expect(get.data["status"] as? String == "finished" && (get.data["video_url"] as? String)?.hasSuffix(".mp4") == true)
            let list = try await harness.call("GET", "/v1/v2v/video.list")
            #expect((list.json["data"] as? [[String: Any]])?.count == 1)
            // The poller's and the dispatcher's counters reach the registry `/metrics` renders (one
            // injected factory, none global).
            let metrics = try await harness.call("GET", "/metrics", as: nil).text
            for name in ["bridge_poll_cycles_total", "bridge_events_total", "bridge_delivery_attempts_total"] {
                #expect(metrics.contains(name), "\(name) missing")
            }
        }
    }

    @Test("watch a video made elsewhere: already finished sends video.finished at once")
    func watchFinished() async throws {
        try await APIHarness.with { harness in
            _ = try await harness.call("POST", "/v1/subscriptions", json: ["url": harness.receiver.url("w")])
            let id = harness.simulator.control.createVideos(count: 1, pinnedStatus: "finished")[0]
            let first = try await harness.call("POST", "/v1/videos/\(id)/watch")
            #expect(first.status == 201 && first.json["status"] as? String == "finished" && first.json["terminal"] as? Bool == true)
            let again = try await harness.call("POST", "/v1/videos/\(id)/watch")
            #expect(again.status == 200)
            #expect(await eventually { harness.receiver.received.count == 1 })
            #expect(harness.receiver.received.first?.type == "video.finished")
            #expect(try await harness.call("POST", "/v1/videos/not-upstream/watch").status == 404)
            #expect(try await harness.call("GET", "/v1/videos/\(id)").json["source"] as? String == "watch")
            #expect(try await harness.call("DELETE", "/v1/videos/\(id)/watch").status == 204)
            #expect(try await harness.call("DELETE", "/v1/videos/\(id)/watch").status == 404)
        }
    }

    @Test("proxy errors: own validation 400, upstream refusals pass through, unreachable upstream 502")
    func proxyErrors() async throws {
        try await RouterHarness.with { harness in
            let missing = try await harness.call("POST", "/v1/v2v/video.generate", json: ["audio_url": "https://a.example/x.mp3"])
            #expect(missing.status == 400 && missing.json["code"] as? Int != 0 && missing.json["data"] is NSNull)
            let notURL = try await harness.call("POST", "/v1/v2v/video.generate", json: ["audio_url": "ftp://x", "image_url": "https://a/f.jpg"])
            #expect(notURL.status == 400 && (notURL.json["message"] as? String)?.contains("audio_url") == true)
            let noFace = try await harness.call("POST", "/v1/v2v/video.generate", json: ["audio_url": "https://a/x.mp3", "image_url": "https://a/noface.jpg"])
            #expect(noFace.status == 400 && noFace.json["code"] as? Int == 40002)
            #expect(noFace.text.contains("160x160"))
            harness.simulator.control.setFaults(FaultSettings(rateLimitRatio: 1, retryAfterSeconds: 9))
            let limited = try await harness.call("POST", "/v1/v2v/video.generate", json: Self.generate)
            #expect(limited.status == 429 && limited.json["code"] as? Int == 42900)
            harness.simulator.control.setFaults(.none)
            #expect(try await harness.call("GET", "/v1/v2v/video.get?video_id=nope").status == 404)
            #expect(harness.simulator.control.videoCount == 0)
        }

        try await RouterHarness.with(upstreamURL: "http://127.0.0.1:9") { offline in
            let unreachable = try await offline.call("POST", "/v1/v2v/video.generate", json: Self.generate)
            #expect(unreachable.status == 502 && unreachable.json["code"] as? Int == 50201 && unreachable.json["data"] is NSNull)
            let ready = try await offline.call("GET", "/readyz", as: nil)
            #expect(ready.status == 503)
            #expect(((ready.json["checks"] as? [String: Any])?["upstream"] as? [String: Any])?["ok"] as? Bool == false)
            #expect(((ready.json["checks"] as? [String: Any])?["database"] as? [String: Any])?["ok"] as? Bool == true)
        }
    }

    @Test("subscriptions: create, list with cursor, read, patch, rotate, test, replay, delete")
    func subscriptionLifecycle() async throws {
        try await APIHarness.with { harness in
            var ids: [String] = []
            for index in 0..<3 {
                let created = try await harness.call("POST", "/v1/subscriptions", json: [
                    "url": harness.receiver.url("s\(index)"), "events": ["video.finished", "ping"], "description": "n\(index)",
                ])
                #expect(created.status == 201, "\(created.text)")
                #expect((created.json["secret"] as? String)?.hasPrefix("whsec_") == true)
                ids.append(try #require(created.json["id"] as? String))
            }
            let page1 = try await harness.call("GET", "/v1/subscriptions?limit=2")
            #expect((page1.json["data"] as? [[String: Any]])?.count == 2)
            let cursor = try #require(page1.json["next_cursor"] as? String)
            let page2 = try await harness.call("GET", "/v1/subscriptions?limit=2&cursor=\(cursor)")
            #expect((page2.json["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == [ids[2]])
            #expect(page2.json["next_cursor"] == nil)

            let read = try await harness.call("GET", "/v1/subscriptions/\(ids[0])")
            #expect(read.status == 200 && read.json["secret"] == nil && read.json["events"] as? [String] == ["video.finished", "ping"])
            let patched = try await harness.call("PATCH", "/v1/subscriptions/\(ids[0])", json: ["events": [], "enabled": false, "description": ""])
            #expect(patched.status == 200 && patched.json["events"] == nil && patched.json["enabled"] as? Bool == false)
            #expect(patched.json["description"] == nil)
            let withHeaders = try await harness.call("PATCH", "/v1/subscriptions/\(ids[0])", json: ["headers": ["X-Api-Key": "k-0123456789abcdef"]])
            #expect(withHeaders.status == 200 && withHeaders.json["headers"] as? [String: String] == ["X-Api-Key": "****cdef"], "\(withHeaders.text)")
            let reserved = try await harness.call("PATCH", "/v1/subscriptions/\(ids[0])", json: ["headers": ["webhook-id": "evt_x"]])
            #expect(reserved.status == 400 && reserved.text.contains("webhook-id"), "\(reserved.text)")
            #expect(try await harness.call("GET", "/v1/subscriptions/\(ids[0])").json["headers"] as? [String: String] == ["X-Api-Key": "****cdef"])
            let cleared = try await harness.call("PATCH", "/v1/subscriptions/\(ids[0])", json: ["headers": [String: String]()])
            #expect(cleared.status == 200 && cleared.json["headers"] == nil)

            let ping = try await harness.call("POST", "/v1/subscriptions/\(ids[1])/test")
            #expect(ping.status == 202 && ping.json["type"] as? String == "ping")
            #expect(await eventually { harness.receiver.received(path: "s1").count == 1 })
            let rotated = try await harness.call("POST", "/v1/subscriptions/\(ids[1])/rotate-secret")
            #expect(rotated.status == 200 && (rotated.json["secret"] as? String)?.hasPrefix("whsec_") == true)
            _ = try await harness.call("POST", "/v1/subscriptions/\(ids[1])/test")
            #expect(await eventually { harness.receiver.received(path: "s1").count == 2 })
            #expect(harness.receiver.received(path: "s1").last?.signature.split(separator: " ").count == 2)

            #expect(await eventually { (try? await harness.store.deliveries(tenant: "acme", state: .succeeded).count) == 2 })
            let replay = try await harness.call("POST", "/v1/subscriptions/\(ids[1])/replay", json: ["since": "2020-01-01T00:00:00Z"])
            #expect(replay.status == 202 && replay.json["queued"] as? Int == 2 && replay.json["more"] as? Bool == false, "its two pings")
            #expect(try await harness.call("DELETE", "/v1/subscriptions/\(ids[2])").status == 204)
            #expect(try await harness.call("GET", "/v1/subscriptions/\(ids[2])").status == 404)
        }
    }

    @Test("every route needs a key (401 with WWW-Authenticate); ops routes do not")
    func authentication() async throws {
        try await RouterHarness.with { harness in
            for (method, path) in [("GET", "/v1/subscriptions"), ("POST", "/v1/v2v/video.generate"), ("GET", "/v1/events"), ("GET", "/v1/v2v/video.list")] {
                let reply = try await harness.call(method, path, as: nil, json: method == "POST" ? Self.generate : nil)
                #expect(reply.status == 401)
                #expect(reply.headers["www-authenticate"]?.hasPrefix("Bearer") == true)
            }
            let wrong = try await harness.call("GET", "/v1/subscriptions", as: nil, headers: ["Authorization": "Bearer acme-key-0123456789abcdeX"])
            #expect(wrong.status == 401 && wrong.errorCode == "unauthorized")
            #expect(try await harness.call("GET", "/healthz", as: nil).status == 200)
            let spec = try await harness.call("GET", "/openapi.yaml", as: nil)
            let file = try String(contentsOf: repositoryRoot().appendingPathComponent("openapi/bridge.yaml"), encoding: .utf8)
            #expect(spec.status == 200 && spec.text == file, "the served spec is the file")
            let metrics = try await harness.call("GET", "/metrics", as: nil)
            #expect(metrics.status == 200 && metrics.text.contains("bridge_deliveries_queued"))
            #expect(!metrics.text.contains("api-token") && !spec.text.contains("api-token"))
        }
    }

    @Test("the console: page, scripts and style from the binary, no key needed, a strict CSP, an ETag that answers 304")
    func console() async throws {
        try await RouterHarness.with { harness in
            let page = try await harness.call("GET", "/console", as: nil)
            #expect(page.status == 200 && page.headers["content-type"]?.hasPrefix("text/html") == true)
            let policy = try #require(page.headers["content-security-policy"])
            for directive in ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"] {
                #expect(policy.contains(directive), "\(policy)")
            }
            #expect(!policy.contains("unsafe-inline") && !policy.contains("unsafe-eval"))
            #expect(page.headers["x-content-type-options"] == "nosniff" && page.headers["cache-control"] == "no-cache")
            // Everything the page loads is the bridge's own: no scheme or host in any src or href.
            let references = page.text.matches(of: /(?:src|href)="([^"]*)"/).map { String($0.1) }
            #expect(references.contains("/console/app.js") && references.contains("/console/console.css"))
            #expect(references.allSatisfy { $0.hasPrefix("/console/") || $0.hasPrefix("#") || $0 == "data:," }, "\(references)")
            let tag = try #require(page.headers["etag"])
            let again = try await harness.call("GET", "/console", as: nil, headers: ["If-None-Match": "\"other\", \(tag)"])
            #expect(again.status == 304 && again.body.isEmpty && again.headers["etag"] == tag)

            for (file, type) in [("app.js", "text/javascript"), ("api.js", "text/javascript"), ("views.js", "text/javascript"), ("console.css", "text/css")] {
                let asset = try await harness.call("GET", "/console/\(file)", as: nil)
                #expect(asset.status == 200 && asset.headers["content-type"]?.hasPrefix(type) == true, "\(file)")
                #expect(asset.headers["content-security-policy"] == policy && asset.headers["etag"] != tag && !asset.body.isEmpty)
                let cached = try await harness.call("GET", "/console/\(file)", as: nil, headers: ["If-None-Match": asset.headers["etag"] ?? ""])
                #expect(cached.status == 304)
            }
            #expect(try await harness.call("GET", "/console/evil.js", as: nil).status == 400)
            #expect(try await harness.call("GET", "/console/../openapi.yaml", as: nil).status != 200)
        }
    }

    /// Hummingbird's own answers (no route, wrong method) carry the contract's JSON error like any other.
    @Test("unknown paths are a JSON 404; a known path with the wrong method is a JSON 405 with Allow")
    func fallbackErrors() async throws {
        try await RouterHarness.with { harness in
            let cases: [(String, String, String)] = [
                ("PUT", "/v1/subscriptions", "GET, POST"), ("DELETE", "/v1/subscriptions", "GET, POST"),
                ("POST", "/v1/subscriptions/sub_01JDQ4X7W5KQ0000000000000A", "GET, PATCH, DELETE"),
                ("GET", "/v1/deliveries/dlv_1/retry", "POST"), ("PUT", "/v1/videos/v1/watch", "POST, DELETE"),
                ("POST", "/healthz", "GET"), ("DELETE", "/v1/events", "GET"),
            ]
            for (method, path, allow) in cases {
                let reply = try await harness.call(method, path, json: method == "GET" || method == "DELETE" ? nil : [:] as [String: String])
                #expect(reply.status == 405 && reply.headers["allow"] == allow, "\(method) \(path): \(reply.status) \(reply.headers["allow"] ?? "")")
                #expect(reply.errorCode == "method_not_allowed", "\(method) \(path): \(reply.text)")
            }
            let proxy = try await harness.call("DELETE", "/v1/v2v/video.list")
            #expect(proxy.status == 405 && proxy.json["code"] as? Int == 40501 && proxy.json["data"] is NSNull, "\(proxy.text)")
            for path in ["/v1/nothing", "/v1/subscriptions/sub_x/unknown", "/favicon.ico", "/v1/v2v/video.delete"] {
                let reply = try await harness.call("GET", path)
                #expect(reply.status == 404 && reply.headers["content-type"] == "application/json", "\(path): \(reply.status)")
                #expect(reply.errorCode == "not_found" || reply.json["code"] as? Int == 40401, "\(path): \(reply.text)")
            }
        }
    }

    /// The contract's limits per key: 429 `limit_exceeded` naming the variable, nothing changed, no
    /// upstream call, other keys unaffected.
    @Test("per-key limits: subscriptions, tracked videos and long polls answer 429 limit_exceeded and change nothing")
    func perKeyLimits() async throws {
        try await APIHarness.with(renderTime: .seconds(3600), configure: {
            $0.maxSubscriptions = 2
            $0.maxTrackedVideos = 2
            $0.maxLongPolls = 1
        }) { harness in
            for index in 0..<2 {
                #expect(try await harness.call("POST", "/v1/subscriptions", json: ["url": harness.receiver.url("s\(index)")]).status == 201)
            }
            let third = try await harness.call("POST", "/v1/subscriptions", json: ["url": harness.receiver.url("s2")])
            #expect(third.status == 429 && third.errorCode == "limit_exceeded", "\(third.text)")
            #expect(third.text.contains("BRIDGE_MAX_SUBSCRIPTIONS"), "\(third.text)")
            #expect(try await harness.store.tableCounts()["subscriptions"] == 2)
            var withCallback = Self.generate
            withCallback["callback_url"] = harness.receiver.url("cb")
            let refusedGenerate = try await harness.call("POST", "/v1/v2v/video.generate", json: withCallback)
            #expect(refusedGenerate.status == 429 && refusedGenerate.json["code"] as? Int == 42901, "\(refusedGenerate.text)")
            #expect(harness.simulator.control.callCounts().generate == 0, "refused before the upstream was called")
            #expect(try await harness.call("POST", "/v1/subscriptions", as: "globex", json: ["url": harness.receiver.url("g")]).status == 201)

            // Long polls: of two at once, one holds and the other is refused at once; an event ends the
            // one that holds; then another is admitted.
            let cursor = try #require(try await harness.call("GET", "/v1/events").json["next_cursor"] as? String)
            let sub = try await harness.call("GET", "/v1/subscriptions")
            let first = try #require((sub.json["data"] as? [[String: Any]])?.first?["id"] as? String)
            let (refused, held) = try await withThrowingTaskGroup(of: APIHarness.Reply.self) { group in
                for _ in 0..<2 { group.addTask { try await harness.call("GET", "/v1/events?after=\(cursor)&wait=30") } }
                let early = try #require(try await group.next())
                _ = try await harness.call("POST", "/v1/subscriptions/\(first)/test")  // an event ends the held poll
                let late = try #require(try await group.next())
                return (early, late)
            }
            #expect(refused.status == 429 && refused.errorCode == "limit_exceeded", "\(refused.text)")
            #expect(refused.text.contains("BRIDGE_MAX_LONG_POLLS"), "\(refused.text)")
            #expect(held.status == 200 && (held.json["data"] as? [Any])?.count == 1, "\(held.text)")
            #expect(try await harness.call("GET", "/v1/events?after=\(cursor)&wait=1").status == 200)

            // Unfinished tracked videos: two, then watch and generate are refused.
            let ids = harness.simulator.control.createVideos(count: 3, pinnedStatus: "in_progressing")
            for id in ids.prefix(2) { #expect(try await harness.call("POST", "/v1/videos/\(id)/watch").status == 201) }
            let gets = harness.simulator.control.callCounts().get
            let refusedWatch = try await harness.call("POST", "/v1/videos/\(ids[2])/watch")
            #expect(refusedWatch.status == 429 && refusedWatch.text.contains("BRIDGE_MAX_TRACKED_VIDEOS"), "\(refusedWatch.text)")
            #expect(harness.simulator.control.callCounts().get == gets, "no upstream lookup for a refused watch")
            let refusedRender = try await harness.call("POST", "/v1/v2v/video.generate", json: Self.generate)
            #expect(refusedRender.status == 429 && harness.simulator.control.callCounts().generate == 0, "\(refusedRender.text)")
            #expect(try await harness.store.trackedVideo(tenant: "acme", videoID: ids[2]) == nil)
        }
    }

    @Test("the route table behind 405 knows every operation of the spec")
    func routeTableCoversSpec() throws {
        let yaml = try String(contentsOf: repositoryRoot().appendingPathComponent("openapi/bridge.yaml"), encoding: .utf8)
        // The operations under `paths:` (the `webhooks:` section after it describes callbacks, not routes).
        let paths = yaml.components(separatedBy: "\nwebhooks:")[0]
        let operations = paths.components(separatedBy: "operationId:").count - 1
        #expect(operations >= 20)
        #expect(RouteTable(openAPIYAML: yaml).count == operations)
        #expect(RouteTable(openAPIYAML: yaml).methods(forPath: "/v1/subscriptions/sub_1/replay") == ["POST"])
    }

    @Test("tenants are isolated: every route with another tenant's ids answers 404")
    func crossTenantIsolation() async throws {
        try await APIHarness.with { harness in
            let sub = try #require(try await harness.call("POST", "/v1/subscriptions", json: ["url": harness.receiver.url("x")]).json["id"] as? String)
            let generated = try await harness.call("POST", "/v1/v2v/video.generate", json: Self.generate)
            let video = try #require(generated.data["video_id"] as? String)
            _ = try await harness.call("POST", "/v1/subscriptions/\(sub)/test")
            #expect(await eventually { (try? await harness.store.deliveries(tenant: "acme").isEmpty) == false })
            let event = try #require(try await harness.store.events(tenant: "acme").first?.id)
            let delivery = try #require(try await harness.store.deliveries(tenant: "acme").first?.id)

            let routes: [(String, String, Any?)] = [
                ("GET", "/v1/subscriptions/\(sub)", nil), ("PATCH", "/v1/subscriptions/\(sub)", ["enabled": false]),
                ("DELETE", "/v1/subscriptions/\(sub)", nil), ("POST", "/v1/subscriptions/\(sub)/rotate-secret", nil),
                ("POST", "/v1/subscriptions/\(sub)/test", nil), ("POST", "/v1/subscriptions/\(sub)/replay", ["since": "2020-01-01T00:00:00Z"]),
                ("GET", "/v1/videos/\(video)", nil), ("DELETE", "/v1/videos/\(video)/watch", nil),
                ("GET", "/v1/v2v/video.get?video_id=\(video)", nil), ("GET", "/v1/events/\(event)", nil),
                ("GET", "/v1/deliveries/dlv_\(delivery)", nil), ("POST", "/v1/deliveries/dlv_\(delivery)/retry", nil),
                ("POST", "/v1/videos/\(video)/watch", nil),
            ]
            // A subscription naming acme's video is accepted like any id and never receives its events.
            let spy = try await harness.call("POST", "/v1/subscriptions", as: "globex", json: ["url": harness.receiver.url("spy"), "video_id": video])
            #expect(spy.status == 201)
            for (method, path, body) in routes {
                let reply = try await harness.call(method, path, as: "globex", json: body)
                #expect(reply.status == 404, "\(method) \(path) → \(reply.status)")
            }
            let upstreamGets = harness.simulator.control.callCounts().get
            // watch tells globex nothing: the same answer as for an id nobody has, and no upstream call.
            let owned = try await harness.call("POST", "/v1/videos/\(video)/watch", as: "globex")
            let unknown = try await harness.call("POST", "/v1/videos/0123456789abcdef0123456789abcdef/watch", as: "globex")
            #expect(owned.status == 404 && owned.body == unknown.body, "\(owned.text) vs \(unknown.text)")
            #expect(harness.simulator.control.callCounts().get == upstreamGets + 1, "only the unknown id was looked up")
            #expect(await eventually { harness.receiver.received(path: "x").contains { $0.type == "video.finished" } })
            #expect(harness.receiver.received(path: "spy").isEmpty)
            let lists = ["/v1/videos", "/v1/events", "/v1/deliveries"]
            let globexSubscriptions = try await harness.call("GET", "/v1/subscriptions", as: "globex").json["data"] as? [[String: Any]]
            #expect(globexSubscriptions?.map { $0["id"] as? String } == [spy.json["id"] as? String], "only its own")
            for path in lists {
                #expect((try await harness.call("GET", path, as: "globex").json["data"] as? [Any])?.isEmpty == true, "\(path)")
            }
            #expect((try await harness.call("GET", "/v1/v2v/video.list", as: "globex").json["data"] as? [Any])?.isEmpty == true)
            // Nothing of acme's changed.
            #expect(try await harness.call("GET", "/v1/subscriptions/\(sub)").json["enabled"] as? Bool == true)
            #expect(try await harness.call("GET", "/v1/videos/\(video)").status == 200)
        }
    }

    @Test("Idempotency-Key: a retried generate submits once upstream; another body is 422")
    func idempotency() async throws {
        try await APIHarness.with { harness in
            let first = try await harness.call("POST", "/v1/v2v/video.generate", json: Self.generate, headers: ["Idempotency-Key": "k-1"])
            let second = try await harness.call("POST", "/v1/v2v/video.generate", json: Self.generate, headers: ["Idempotency-Key": "k-1"])
            #expect(first.status == 200 && second.status == 200)
            #expect(first.body == second.body)
            #expect(second.headers["idempotent-replayed"] == "true")
            #expect(harness.simulator.control.callCounts().generate == 1)
            var other = Self.generate
            other["image_url"] = "https://media.example.com/other.jpg"
            let mismatch = try await harness.call("POST", "/v1/v2v/video.generate", json: other, headers: ["Idempotency-Key": "k-1"])
            #expect(mismatch.status == 422 && mismatch.json["code"] as? Int == 42201)
            let globex = try await harness.call("POST", "/v1/v2v/video.generate", as: "globex", json: Self.generate, headers: ["Idempotency-Key": "k-1"])
            #expect(globex.status == 200 && harness.simulator.control.callCounts().generate == 2, "keys are per API key")
            let badKey = try await harness.call("POST", "/v1/subscriptions", json: ["url": harness.receiver.url("x")], headers: ["Idempotency-Key": "has space"])
            #expect(badKey.status == 400)
        }
    }

    @Test("events: filters, cursor, and the long-poll pull feed")
    func eventFeed() async throws {
        try await APIHarness.with(renderTime: .seconds(3600)) { harness in
            let empty = try await harness.call("GET", "/v1/events")
            #expect((empty.json["data"] as? [Any])?.isEmpty == true)
            let cursor = try #require(empty.json["next_cursor"] as? String)
            // A held poll that is not woken ends empty when its wait runs out (it does not look again),
            // so the event in its answer shows the wake-up itself, with no clock involved.
            async let waited = harness.call("GET", "/v1/events?after=\(cursor)&wait=30")
            try await Task.sleep(for: .milliseconds(300))
            let id = harness.simulator.control.createVideos(count: 1, pinnedStatus: "in_progressing")[0]
            _ = try await harness.call("POST", "/v1/videos/\(id)/watch")
            let feed = try await waited
            let events = feed.json["data"] as? [[String: Any]] ?? []
            #expect(events.map { $0["type"] as? String } == ["video.in_progressing"])
            // The contract's `after`: the next call after the last event waits and comes back empty,
            // `after` wins over `cursor`, and `cursor` alone still pages.
            let next = try #require(feed.json["next_cursor"] as? String)
            let timeout = try await harness.call("GET", "/v1/events?after=\(next)&wait=1")
            #expect((timeout.json["data"] as? [Any])?.isEmpty == true && timeout.json["next_cursor"] as? String == next)
            let both = try await harness.call("GET", "/v1/events?after=\(next)&cursor=0")
            #expect((both.json["data"] as? [Any])?.isEmpty == true)
            let synonym = try await harness.call("GET", "/v1/events?cursor=0")
            #expect((synonym.json["data"] as? [Any])?.count == 1)
            let filtered = try await harness.call("GET", "/v1/events?type=video.finished")
            #expect((filtered.json["data"] as? [Any])?.isEmpty == true)
            let byVideo = try await harness.call("GET", "/v1/events?video_id=\(id)")
            #expect((byVideo.json["data"] as? [Any])?.count == 1)
        }
    }

    @Test("deliveries: list by subscription and status, detail with attempts, retry")
    func deliveries() async throws {
        try await APIHarness.with(script: { path, index in path == "fails" && index < 3 ? .status(500) : .status(200) }) { harness in
            let sub = try #require(try await harness.call("POST", "/v1/subscriptions", json: ["url": harness.receiver.url("fails")]).json["id"] as? String)
            _ = try await harness.call("POST", "/v1/subscriptions/\(sub)/test")
            #expect(await eventually { (try? await harness.store.deliveries(tenant: "acme", state: .failed).count) == 1 })
            let failed = try await harness.call("GET", "/v1/deliveries?status=failed&subscription_id=\(sub)")
            let entry = try #require((failed.json["data"] as? [[String: Any]])?.first)
            let id = try #require(entry["id"] as? String)
            #expect((entry["last_attempt"] as? [String: Any])?["status_code"] as? Int == 500, "a list entry carries its newest attempt")
            let detail = try await harness.call("GET", "/v1/deliveries/\(id)")
            #expect((detail.json["attempt_log"] as? [[String: Any]])?.compactMap { $0["status_code"] as? Int } == [500, 500, 500])
            let retried = try await harness.call("POST", "/v1/deliveries/\(id)/retry")
            #expect(retried.status == 202)
            #expect(await eventually { (try? await harness.store.deliveries(tenant: "acme", state: .succeeded).count) == 1 })

            // Newest first, and the key's health: 5 attempts in the last hour (3 failed, the retry, a second ping), 2 answered 2xx.
            _ = try await harness.call("POST", "/v1/subscriptions/\(sub)/test")
            #expect(await eventually { (try? await harness.store.deliveries(tenant: "acme", state: .succeeded).count) == 2 })
            let newest = try await harness.call("GET", "/v1/deliveries?order=newest&limit=1")
            let top = try #require((newest.json["data"] as? [[String: Any]])?.first)
            #expect(top["id"] as? String != id && top["status"] as? String == "succeeded")
            let older = try await harness.call("GET", "/v1/deliveries?order=newest&cursor=\(try #require(newest.json["next_cursor"] as? String))")
            #expect((older.json["data"] as? [[String: Any]])?.map { $0["id"] as? String } == [id])
            #expect(try await harness.call("GET", "/v1/deliveries?order=sideways").status == 400)
            #expect(try await harness.call("GET", "/v1/deliveries?video_id=").status == 400, "an empty video id is refused, not an empty page")
            let health = try await harness.call("GET", "/v1/health")
            #expect(health.status == 200)
            let queue = try #require(health.json["queue"] as? [String: Any])
            #expect(queue["pending"] as? Int == 0 && queue["held"] as? Int == 0 && queue["oldest_pending_age_seconds"] == nil)
            #expect(health.json["window_seconds"] as? Int == 3600 && health.json["poller"] is [String: Any])
            let row = try #require((health.json["subscriptions"] as? [[String: Any]])?.first)
            #expect(row["id"] as? String == sub && row["attempts"] as? Int == 5 && row["succeeded"] as? Int == 2, "\(row)")
            #expect(row["success_rate"] as? Double == 0.4)
            #expect(try await harness.call("GET", "/v1/health", as: nil).status == 401)
            #expect(try await harness.call("GET", "/v1/deliveries/dlv_999999").status == 404)
            #expect(try await harness.call("GET", "/v1/deliveries/nonsense").status == 404)
        }
    }

    @Test("destination rules apply at registration when private destinations are off")
    func registrationRules() async throws {
        try await RouterHarness.with { harness in
            for url in ["http://localhost/x", "http://127.0.0.1/x", "http://169.254.169.254/", "ftp://example.com/", "http://u:p@example.com/"] {
                let reply = try await harness.call("POST", "/v1/subscriptions", json: ["url": url])
                #expect(reply.status == 400 && reply.errorCode == "bad_request", "\(url)")
            }
            var body = Self.generate
            body["callback_url"] = "http://10.0.0.1/cb"
            #expect(try await harness.call("POST", "/v1/v2v/video.generate", json: body).status == 400)
            #expect(harness.simulator.control.callCounts().generate == 0, "refused before anything was submitted")
            #expect(try await harness.call("POST", "/v1/subscriptions", json: ["url": "https://hooks.example.com/x"]).status == 201)
        }
    }
}
