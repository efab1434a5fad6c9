// Requests per second of CurlTransport against a loopback server, next to baselines measured in
// the same run against the same server: the curl CLI (`--parallel`, same libcurl) and wrk if present.
// Prints figures; asserts nothing. Run: make bench-transport (release build).
import CurlHTTP
import Foundation
import Hummingbird
import TestSupport

struct Options {
    var requests = 20_000
    var concurrency = 64
    var rounds = 3

    init(arguments: [String]) {
        var iterator = arguments.dropFirst().makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--requests": requests = iterator.next().flatMap(Int.init) ?? requests
            case "--concurrency": concurrency = iterator.next().flatMap(Int.init) ?? concurrency
            case "--rounds": rounds = max(1, iterator.next().flatMap(Int.init) ?? rounds)
            default: break
            }
        }
    }
}

func measureTransport(url: String, options: Options) async throws -> (Double, Int) {
    let transport = try CurlTransport(configuration: .init(maxConnectionsPerHost: options.concurrency))
    defer { transport.shutdown() }
    // Warm the connection pool so both sides start with open connections.
    _ = try await transport.send(OutboundRequest(url: url))
    let clock = ContinuousClock()
    let started = clock.now
    let failures = try await withThrowingTaskGroup(of: Int.self) { group in
        let perWorker = options.requests / options.concurrency
        for _ in 0..<options.concurrency {
            group.addTask {
                var failed = 0
                for _ in 0..<perWorker {
                    do {
                        let response = try await transport.send(OutboundRequest(url: url, timeout: .seconds(10)))
                        if response.status != 200 { failed += 1 }
                    } catch {
                        failed += 1
                    }
                }
                return failed
            }
        }
        return try await group.reduce(0, +)
    }
    let elapsed = clock.now - started
    let done = (options.requests / options.concurrency) * options.concurrency
    return (Double(done) / elapsed.seconds, failures)
}

func measureCurlCLI(url: String, options: Options) throws -> Double? {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("transport-bench-\(getpid())")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let config = directory.appendingPathComponent("urls.conf")
    var text = ""
    text.reserveCapacity(options.requests * (url.count + 30))
    for _ in 0..<options.requests { text += "url = \"\(url)\"\noutput = \"/dev/null\"\n" }
    try text.write(to: config, atomically: true, encoding: .utf8)
    return try timed(
        "/usr/bin/curl",
        ["--silent", "--parallel", "--parallel-immediate", "--parallel-max", "\(options.concurrency)", "-K", config.path]
    ).map { Double(options.requests) / $0 }
}

func measureWrk(url: String, options: Options) throws -> Double? {
    let path = "/usr/bin/wrk"
    guard FileManager.default.isExecutableFile(atPath: path) else { return nil }
    let output = try run(path, ["-t2", "-c\(options.concurrency)", "-d5s", url])
    guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix("Requests/sec:") }) else { return nil }
    return Double(line.split(separator: " ").last ?? "")
}

func timed(_ path: String, _ arguments: [String]) throws -> Double? {
    guard FileManager.default.isExecutableFile(atPath: path) else { return nil }
    let clock = ContinuousClock()
    let started = clock.now
    _ = try run(path, arguments)
    return (clock.now - started).seconds
}

func run(_ path: String, _ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self)
}

extension Duration {
    var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }
}

let options = Options(arguments: CommandLine.arguments)
let router = Router()
router.get("ok") { _, _ in "ok" }
let server = try await LoopbackServer.start(router: router)
let url = server.baseURL + "/ok"
print("transport benchmark: \(options.requests) GETs, \(options.concurrency) in flight, loopback Hummingbird server")
print("libcurl: \(CurlTransport.libcurlVersion)")

// Alternate the contenders over several rounds and keep medians: one noisy round on a shared
// 2-core machine must not decide the ratio.
var transportRates: [Double] = []
var curlRates: [Double] = []
var failures = 0
for _ in 0..<options.rounds {
    let (rate, failed) = try await measureTransport(url: url, options: options)
    transportRates.append(rate)
    failures += failed
    if let rate = try measureCurlCLI(url: url, options: options) { curlRates.append(rate) }
}
func median(_ values: [Double]) -> Double? {
    guard !values.isEmpty else { return nil }
    return values.sorted()[values.count / 2]
}
let transportRate = median(transportRates) ?? 0
let curlRate = median(curlRates)
let wrkRate = try measureWrk(url: url, options: options)
print("rounds: \(options.rounds); medians below")

func row(_ name: String, _ rate: Double?) -> String {
    let figure = rate.map { String(format: "%10.0f req/s", $0) } ?? "       n/a"
    let ratio = rate.map { String(format: "  transport/this = %.2f", transportRate / $0) } ?? ""
    return "  \(name.padding(toLength: 28, withPad: " ", startingAt: 0))\(figure)\(ratio)"
}
print(row("CurlTransport (this)", transportRate) + "  failures=\(failures)")
print(row("curl CLI --parallel", curlRate))
print(row("wrk -t2", wrkRate))
await server.stop()
