import Foundation
import Simulator
import TestSupport
import Testing

@Suite struct ParsingTests {
    @Test(arguments: [
        ("500ms", Duration.milliseconds(500)), ("5s", .seconds(5)), ("10m", .seconds(600)),
        ("1h", .seconds(3600)), ("1.5s", .milliseconds(1500)), ("0", .zero), ("0s", .zero),
        ("1h30m", .seconds(5400)), (" 2s ", .seconds(2)),
    ])
    func durations(_ text: String, _ expected: Duration) {
        #expect(parseSimulatorDuration(text) == expected)
    }

    @Test(arguments: ["", "5", "-5s", "5x", "s", "1.s", ".5s", "5 s", "1e3s", "ms", "1..2s"])
    func badDurations(_ text: String) {
        #expect(parseSimulatorDuration(text) == nil)
    }

    @Test func formatting() {
        #expect(formatSimulatorDuration(.zero) == "0")
        #expect(formatSimulatorDuration(.milliseconds(250)) == "250ms")
        #expect(formatSimulatorDuration(.seconds(10)) == "10s")
        #expect(formatSimulatorDuration(.seconds(120)) == "2m")
        #expect(formatSimulatorDuration(.seconds(7200)) == "2h")
    }

    @Test func listenAddresses() {
        #expect(parseSimulatorListenAddress("127.0.0.1:8090").map { "\($0.host)|\($0.port)" } == "127.0.0.1|8090")
        #expect(parseSimulatorListenAddress("0.0.0.0:0").map { "\($0.host)|\($0.port)" } == "0.0.0.0|0")
        #expect(parseSimulatorListenAddress("[::1]:9000").map { "\($0.host)|\($0.port)" } == "::1|9000")
        #expect(parseSimulatorListenAddress(":9000").map { "\($0.host)|\($0.port)" } == "127.0.0.1|9000")
        #expect(parseSimulatorListenAddress("localhost:80").map { "\($0.host)|\($0.port)" } == "localhost|80")
        for bad in ["", "8090", "host:", "host:65536", "host:-1", "::1:80", "[::1]80", "host:8o"] {
            #expect(parseSimulatorListenAddress(bad) == nil, "\(bad)")
        }
    }

    @Test func faultSettingsJSON() throws {
        let settings = FaultSettings(
            latency: .milliseconds(1500), hangRatio: 0.5, hangTime: .seconds(2), retryAfterHTTPDate: true,
            unknownStatus: "x", endpoints: [.generate, .list])
        let data = try JSONEncoder().encode(settings)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["latency_ms"] as? Int == 1500)
        #expect(object["hang_ms"] as? Int == 2000)
        #expect(object["retry_after_http_date"] as? Bool == true)
        #expect(object["endpoints"] as? [String] == ["video.generate", "video.list"])
        #expect(try JSONDecoder().decode(FaultSettings.self, from: data) == settings)
        #expect(try JSONDecoder().decode(FaultSettings.self, from: Data("{}".utf8)) == .none)
        #expect(try JSONDecoder().decode(FaultSettings.self, from: Data(#"{"endpoints":null}"#.utf8)) == .none)
        #expect(FaultSettings.none.validationError == nil)
        #expect(FaultSettings(htmlRatio: 1.5).validationError != nil)
    }
}
