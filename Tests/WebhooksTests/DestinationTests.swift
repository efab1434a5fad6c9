import CurlHTTP
import Foundation
import Testing
@testable import Webhooks

@Suite("SSRF protection")
struct DestinationTests {
    static let blocked: [String] = [
        "0.0.0.0", "0.1.2.3", "10.0.0.1", "10.255.255.255", "100.64.0.1", "100.127.255.254", "127.0.0.1", "127.255.0.1",
        "169.254.169.254", "169.254.0.1", "172.16.0.1", "172.31.255.255", "192.0.0.8", "192.0.2.10", "192.168.1.1",
        "198.18.0.1", "198.19.255.255", "198.51.100.7", "203.0.113.9", "224.0.0.1", "239.255.255.250", "240.0.0.1",
        "255.255.255.255",
        "::", "::1", "fc00::1", "fd12:3456::1", "fe80::1", "febf::1", "ff02::1", "ff05::2",
        "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::127.0.0.1", "::8.8.8.8",
        "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b:1::1", "2002:7f00:1::", "2002:a9fe:a9fe::1",
        "2001:0:7f00:1::", "2001:0:4136:e378:8000:63bf:f5ff:fffe", "100::1", "100::ffff:ffff:ffff:ffff", "2001:db8::1",
        // The rest of the IANA special-purpose registries (Globally Reachable not True).
        "2001:2::1", "2001:2:0:ffff::1", "2001:10::1", "2001:1f::1", "3fff::1", "3fff:fff:ffff::1", "5f00::1", "5f00:ffff::1",
        "100:0:0:1::1", "2001:100::1", "2001:1::4", "fec0::1", "192.0.0.170", "192.0.0.171", "192.0.0.1", "192.88.99.1",
    ]
    static let allowed: [String] = [
        "8.8.8.8", "1.1.1.1", "93.184.216.34", "100.63.255.255", "100.128.0.1", "172.15.255.255", "172.32.0.1",
        "192.0.1.1", "198.17.255.255", "198.20.0.1", "223.255.255.255",
        "2606:4700:4700::1111", "2001:4860:4860::8888", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1",
        "2001:0:808:808:8000:63bf:f7f7:f7f7",
        // Globally reachable entries inside blocked blocks, and neighbours of the new blocks.
        "192.0.0.9", "192.0.0.10", "192.31.196.1", "192.52.193.1", "192.175.48.1", "2001:1::1", "2001:1::2", "2001:1::3",
        "2001:3::1", "2001:4:112::1", "2001:20::1", "2001:30::1", "2620:4f:8000::1", "3fff:1000::1", "5eff::1", "5f01::1",
        "2001:200::1",
    ]

    @Test("blocked address forms", arguments: blocked)
    func blockedForms(text: String) throws {
        let address = try #require(IPAddress(text))
        #expect(AddressClassifier.blockReason(address) != nil, "\(text) should be blocked")
        #expect(DestinationPolicy(allowPrivate: false).connectCheck?(address) == false)
        #expect(DestinationPolicy(allowPrivate: true).connectCheck == nil)
    }

    @Test("public unicast addresses pass", arguments: allowed)
    func allowedForms(text: String) throws {
        let address = try #require(IPAddress(text))
        #expect(AddressClassifier.blockReason(address) == nil, "\(text): \(AddressClassifier.blockReason(address) ?? "")")
    }

    @Test("registration rejects what is knowable early", arguments: [
        "ftp://example.com/hook", "file:///etc/passwd", "gopher://example.com", "javascript:alert(1)", "example.com/hook",
        "http://user:pass@example.com/hook", "http://localhost/hook", "http://LOCALHOST./hook", "http://api.localhost/x",
        "http://127.0.0.1/hook", "http://[::1]/hook", "http://169.254.169.254/latest/meta-data", "http://2130706433/",
        "http://0x7f000001/", "http://0177.0.0.1/", "http://127.1/", "http://[::ffff:127.0.0.1]/", "http://10.1.2.3:8080/x",
        "http:///nohost", "",
        // Ports outside 1–65535, whitespace and control characters anywhere, zone ids.
        "https://example.com:0/x", "https://example.com:99999/x", "https://example.com:65536/x",
        "https://example.com/x\t", "https://example.com/x ", " https://example.com/x", "https://exa mple.com/x",
        "https://example.com/a\u{0B}b", "https://example.com/a\u{7F}", "https://example.com/\u{00A0}",
        "http://[fe80::1%25lo]/x", "http://[fe80::1%lo]/x", "http://[fe80::1%25eth0]:8080/",
    ])
    func registrationRejects(url: String) {
        guard case .failure = DestinationPolicy(allowPrivate: false).validate(url) else {
            Issue.record("\(url) was accepted")
            return
        }
    }

    @Test("port, whitespace and zone-id rules hold with private destinations allowed too")
    func hygieneRulesAlways() {
        let lenient = DestinationPolicy(allowPrivate: true)
        for url in ["http://127.0.0.1:0/x", "http://127.0.0.1:99999/", "http://127.0.0.1/x\n", "http://[fe80::1%25lo]/"] {
            #expect((try? lenient.validate(url).get()) == nil, "\(url)")
        }
    }

    @Test("every registry entry parses to a prefix of its family")
    func tablesParse() {
        for entry in AddressClassifier.v4Table { #expect(entry.bytes.count == 4 && entry.length <= 32, "\(entry.name)") }
        for entry in AddressClassifier.v6Table { #expect(entry.bytes.count == 16 && entry.length <= 128, "\(entry.name)") }
    }

    @Test("registration accepts public http(s) URLs, and private ones when allowed")
    func registrationAccepts() {
        let strict = DestinationPolicy(allowPrivate: false)
        for url in ["https://hooks.example.com/in?x=1", "http://example.com:8080/cb", "https://93.184.216.34/cb", "https://[2606:4700::1]/x"] {
            #expect((try? strict.validate(url).get()) == url, "\(url)")
        }
        let lenient = DestinationPolicy(allowPrivate: true)
        #expect((try? lenient.validate("http://127.0.0.1:9000/x").get()) != nil)
        #expect((try? lenient.validate("ftp://127.0.0.1/").get()) == nil)
    }

    @Test("the check runs on the address actually dialled: a loopback connection is refused before any byte")
    func connectTimeCheck() async throws {
        let transport = try CurlTransport()
        defer { transport.shutdown() }
        // "localhost" passes no registration check here; only the connect hook stands in the way.
        let check = DestinationPolicy(allowPrivate: false).connectCheck
        for url in ["http://localhost:9/", "http://127.0.0.1:9/", "http://[::1]:9/"] {
            do {
                _ = try await transport.send(OutboundRequest(url: url, timeout: .seconds(5), destinationCheck: check))
                Issue.record("\(url) connected")
            } catch {
                guard case .blockedDestination = error else {
                    Issue.record("\(url): \(error)")
                    continue
                }
            }
        }
    }
}
