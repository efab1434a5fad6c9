import CurlHTTP
import Foundation
import Synchronization
import TestSupport
import Testing

@Suite("CurlTransport against a loopback server")
struct CurlTransportTests {
    @Test("200 concurrent requests complete and share a few pooled connections")
    func concurrentRequestsReuseConnections() async throws {
        try await withTransport(configuration: .init(maxConnectionsPerHost: 8)) { server, transport in
            let url = server.baseURL + "/ok"

            let responses = try await withDeadline(.seconds(120)) {
                try await withThrowingTaskGroup(of: OutboundResponse.self) { group in
                    for _ in 0..<200 {
                        group.addTask { try await transport.send(OutboundRequest(url: url, timeout: .seconds(60))) }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
            }
            #expect(responses.count == 200)
            #expect(responses.allSatisfy { $0.status == 200 && $0.bodyText == "ok" })
            let opened = responses.filter(\.openedConnection).count
            #expect(opened >= 1 && opened <= 8, "opened \(opened) connections for 200 requests")

            // A second wave reuses the pool: no new connection at all.
            let again = try await withDeadline(.seconds(120)) {
                try await withThrowingTaskGroup(of: Bool.self) { group in
                    for _ in 0..<8 {
                        group.addTask { try await transport.send(OutboundRequest(url: url, timeout: .seconds(60))).openedConnection }
                    }
                    return try await group.reduce(into: 0) { $0 += $1 ? 1 : 0 }
                }
            }
            #expect(again == 0)
            #expect(server.hits.value == 208)
        }
    }

    /// The timeout under test is short and the server hangs for ten minutes: only the timeout can end
    /// the request within the test's generous deadline.
    @Test("a hanging server hits the request timeout")
    func hangingServerTimesOut() async throws {
        try await withTransport { server, transport in
            let started = ContinuousClock.now
            let task = Task {
                try await transport.send(OutboundRequest(url: server.baseURL + "/hang", timeout: .milliseconds(300)))
            }
            let result = try await withDeadline(.seconds(120)) { await task.result }
            #expect(throws: CurlError.timeout) { try result.get() }
            #expect(ContinuousClock.now - started >= .milliseconds(250), "not before the timeout")
        }
    }

    @Test("a 3xx comes back as is and is never followed")
    func redirectIsNotFollowed() async throws {
        try await withTransport { server, transport in
            let response = try await transport.send(OutboundRequest(url: server.baseURL + "/redirect"))
            #expect(response.status == 302)
            #expect(response.headers["location"] == "/ok")
            #expect(server.hits.value == 1)
        }
    }

    @Test("an oversized body is cut with a typed error", arguments: ["bytes", "stream"])
    func oversizedBodyIsCut(kind: String) async throws {
        try await withTransport { server, transport in
            await #expect(throws: CurlError.bodyTooLarge(limit: 1000)) {
                try await transport.send(OutboundRequest(url: "\(server.baseURL)/\(kind)/200000", maxResponseBytes: 1000))
            }
            let fits = try await transport.send(OutboundRequest(url: "\(server.baseURL)/\(kind)/1000", maxResponseBytes: 1000))
            #expect(fits.body.count == 1000)
        }
    }

    /// The transfer's own timeout and the server's hang are ten minutes; the deadline is two: only
    /// cancellation can end it in time.
    /// The receiver keeps the body open for ten minutes and the request's timeout is five: the transfer
    /// ends in time only because the transport stops reading once it has the part it keeps.
    @Test("with truncation, the transport keeps the first bytes and stops downloading")
    func truncationStopsTheDownload() async throws {
        try await withTransport { server, transport in
            let task = Task {
                try await transport.send(
                    OutboundRequest(url: server.baseURL + "/dribble", timeout: .seconds(300), maxResponseBytes: 1024, truncateLongBodies: true)
                )
            }
            let result = try await withDeadline(.seconds(120)) { await task.result }
            let response = try result.get()
            #expect(response.status == 200 && response.body.count == 1024)
        }
    }

    @Test("cancelling the task aborts its transfer at once")
    func cancellationAbortsTransfer() async throws {
        try await withTransport { server, transport in
            let task = Task {
                try await transport.send(OutboundRequest(url: server.baseURL + "/hang", timeout: .seconds(600)))
            }
            #expect(await eventually(within: .seconds(60)) { server.hits.value == 1 })
            task.cancel()
            let result = try await withDeadline(.seconds(120)) { await task.result }
            #expect(throws: CurlError.cancelled) { try result.get() }

            // Cancelled before it was ever handed to curl: no request reaches the server.
            let early = Task {
                withUnsafeCurrentTask { $0?.cancel() }
                return try await transport.send(OutboundRequest(url: server.baseURL + "/ok"))
            }
            await #expect(throws: CurlError.cancelled) { try await early.value }
            // The transport keeps working afterwards.
            #expect(try await transport.send(OutboundRequest(url: server.baseURL + "/ok")).status == 200)
            #expect(server.hits.value == 2)
        }
    }

    @Test("the connect hook sees the real peer address", arguments: ["127.0.0.1", "::1"])
    func connectHookSeesPeer(host: String) async throws {
        try await withTransport(host: host) { server, transport in
            let seen = Mutex<[String]>([])
            let response = try await transport.send(
                OutboundRequest(url: server.baseURL + "/ok") { address in
                    seen.withLock { $0.append(address.description) }
                    return true
                }
            )
            #expect(response.status == 200)
            #expect(response.remoteAddress?.description == host)
            let addresses = seen.withLock { $0 }
            #expect(!addresses.isEmpty && addresses.allSatisfy { $0 == host })
        }
    }

    @Test("a veto stops the connection before any request is sent")
    func vetoBlocksConnection() async throws {
        try await withTransport { server, transport in
            await #expect(throws: CurlError.blockedDestination(address: "127.0.0.1")) {
                try await transport.send(OutboundRequest(url: server.baseURL + "/ok") { _ in false })
            }
            // A pooled connection opened by an allowed request is vetted again when reused.
            _ = try await transport.send(OutboundRequest(url: server.baseURL + "/ok"))
            await #expect(throws: CurlError.blockedDestination(address: "127.0.0.1")) {
                try await transport.send(OutboundRequest(url: server.baseURL + "/ok") { _ in false })
            }
            #expect(server.hits.value == 1)
        }
    }

    /// A name with several addresses: curl tries the next after a vetoed one. The transfer that went
    /// out through an allowed address succeeds; only when every address is vetoed is it blocked.
    @Test("a vetoed address among several blocks only that connection, not the transfer")
    func vetoOfOneAddressAmongSeveral() async throws {
        try await withTransport { server, transport in
            let entry = "several.test:\(server.server.port):127.0.0.2,127.0.0.1"
            let seen = Mutex<[String]>([])
            var request = OutboundRequest(url: "http://several.test:\(server.server.port)/ok") { address in
                seen.withLock { $0.append(address.description) }
                return address.description == "127.0.0.1"
            }
            request.resolve = [entry]
            let response = try await transport.send(request)
            #expect(response.status == 200)
            #expect(response.remoteAddress?.description == "127.0.0.1")
            #expect(seen.withLock { $0 }.prefix(2) == ["127.0.0.2", "127.0.0.1"], "the first address was offered and vetoed")

            var refused = OutboundRequest(url: "http://several.test:\(server.server.port)/ok") { _ in false }
            refused.resolve = [entry]
            await #expect(throws: CurlError.blockedDestination(address: "127.0.0.1")) { try await transport.send(refused) }
            #expect(server.hits.value == 1)
        }
    }

    @Test("POST sends body and headers without waiting for 100-continue")
    func postEchoesBody() async throws {
        try await withTransport { server, transport in
            let payload = Data(String(repeating: "{\"a\":1}", count: 2000).utf8)
            let response = try await transport.send(
                OutboundRequest(
                    method: "POST",
                    url: server.baseURL + "/echo",
                    headers: ["Content-Type": "application/json", "X-Test": "42"],
                    body: payload,
                    timeout: .seconds(30)
                )
            )
            #expect(response.status == 200)
            #expect(response.body == payload)
            #expect(response.headers["x-test-echo"] == "42")
            #expect(response.headers["X-Method"] == "POST")
            // curl would add `Expect: 100-continue` for a body this size and wait up to 1 s for it.
            #expect(response.headers["x-expect"] == "none")
        }
    }

    @Test("failures are typed: refused, DNS, bad scheme")
    func typedFailures() async throws {
        let transport = try CurlTransport()
        defer { transport.shutdown() }
        // Port 9 (discard) on loopback has no listener here.
        await #expect(throws: CurlError.connectionRefused) {
            try await transport.send(OutboundRequest(url: "http://127.0.0.1:9/", timeout: .seconds(30)))
        }
        await #expect(throws: CurlError.dns(host: "no-such-host.invalid")) {
            try await transport.send(OutboundRequest(url: "http://no-such-host.invalid/", timeout: .seconds(30)))
        }
        await #expect(throws: CurlError.invalidURL("only http and https URLs are allowed")) {
            try await transport.send(OutboundRequest(url: "file:///etc/passwd"))
        }
        await #expect(throws: CurlError.invalidURL("only http and https URLs are allowed")) {
            try await transport.send(OutboundRequest(url: "gopher://127.0.0.1/"))
        }
    }

    @Test("shutdown fails in-flight transfers instead of leaving callers hanging")
    func shutdownFailsInFlight() async throws {
        try await withTransport { server, transport in
            let task = Task {
                try await transport.send(OutboundRequest(url: server.baseURL + "/hang", timeout: .seconds(600)))
            }
            #expect(await eventually(within: .seconds(60)) { server.hits.value == 1 })
            transport.shutdown()
            let result = try await withDeadline(.seconds(120)) { await task.result }
            #expect(throws: CurlError.shutdown) { try result.get() }
            await #expect(throws: CurlError.shutdown) {
                try await transport.send(OutboundRequest(url: server.baseURL + "/ok"))
            }
        }
    }
}

/// A test server and a transport for one test; both are stopped afterwards, also when the test throws.
func withTransport<T>(
    host: String = "127.0.0.1",
    configuration: CurlTransport.Configuration = .init(),
    _ body: (TransportTestServer, CurlTransport) async throws -> T
) async throws -> T {
    let server = try await TransportTestServer.start(host: host)
    let transport = try CurlTransport(configuration: configuration)
    defer { transport.shutdown() }
    return try await withResource(server) { try await body($0, transport) }
}
