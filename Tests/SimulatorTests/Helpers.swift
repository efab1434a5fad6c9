import Foundation
import Logging
import Simulator
import Synchronization
import TestSupport
import Testing

let quietLogger: Logger = {
    var logger = Logger(label: "simulator-tests")
    logger.logLevel = .critical
    return logger
}()

let testToken = "test-token"

/// Starts a simulator on a free port, runs `body`, stops the simulator (also when `body` throws).
func withSimulator<T>(
    _ configuration: SimulatorConfiguration = SimulatorConfiguration(),
    clock: ManualClock? = nil,
    _ body: (RunningSimulator) async throws -> T
) async throws -> T {
    var configuration = configuration
    configuration.port = 0
    configuration.host = "127.0.0.1"
    if configuration.token == "sim-token" { configuration.token = testToken }
    let now: @Sendable () -> Date
    if let clock {
        now = clock.read
    } else {
        now = { Date() }
    }
    let simulator = try await UpstreamSimulator.start(configuration, now: now, logger: quietLogger)
    do {
        let result = try await body(simulator)
        await simulator.stop()
        return result
    } catch {
        await simulator.stop()
        throw error
    }
}

struct ProcessResult {
    var exitCode: Int32
    var stdout: Data
    var stderr: Data
    var timedOut: Bool
}

/// Runs a program with a bounded wait; on timeout it is killed with SIGKILL (children may inherit
/// blocked signals, so SIGTERM is not reliable). TestSupport's `ChildProcess` reaps it by polling
/// `waitpid`: Foundation's `Process` here sometimes never saw a child's exit (the child stayed a
/// zombie and the test waited forever on its termination handler).
func runProcess(_ executable: String, _ arguments: [String], timeout: Duration = .seconds(15)) async throws -> ProcessResult {
    let directory = try TemporaryDirectory("sim-test")
    defer { directory.remove() }
    let outPath = directory.path("stdout")
    let errPath = directory.path("stderr")
    let process = try ChildProcess(
        executable: executable, arguments: arguments, environment: ProcessInfo.processInfo.environment,
        outputPath: outPath, errorPath: errPath
    )
    var timedOut = false
    var status = await process.waitForExit(within: timeout)
    if status == nil {
        timedOut = true
        await process.kill9()
        status = process.poll()
    }
    let raw = status ?? 0
    return ProcessResult(
        exitCode: (raw & 0x7f) == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f),
        stdout: (try? Data(contentsOf: URL(fileURLWithPath: outPath))) ?? Data(),
        stderr: (try? Data(contentsOf: URL(fileURLWithPath: errPath))) ?? Data(),
        timedOut: timedOut
    )
}

/// Runs a shell command line (as a user would paste it) with `/bin/sh -c`.
func shell(_ commandLine: String) async throws -> ProcessResult {
    try await runProcess("/bin/sh", ["-c", commandLine])
}

struct HTTPResult {
    var status: Int
    /// Header names lowercased; the last header block (after any 100 Continue).
    var headers: [String: String]
    var body: Data
    var curlExitCode: Int32

    var text: String { String(decoding: body, as: UTF8.self) }

    var json: [String: Any]? {
        (try? JSONSerialization.jsonObject(with: body)) as? [String: Any]
    }
}

/// One HTTP exchange with the curl CLI.
func http(
    _ method: String,
    _ url: String,
    token: String? = testToken,
    body: String? = nil,
    maxTime: Double = 60
) async throws -> HTTPResult {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sim-http-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let headerPath = directory.appendingPathComponent("headers").path
    let bodyPath = directory.appendingPathComponent("body").path
    var arguments = [
        "-sS", "-X", method, "-D", headerPath, "-o", bodyPath, "-w", "%{http_code}",
        "--max-time", String(maxTime), url,
    ]
    if let token { arguments += ["-H", "Authorization: Bearer \(token)"] }
    if let body { arguments += ["-H", "Content-Type: application/json", "--data-binary", body] }
    let result = try await runProcess("/usr/bin/curl", arguments, timeout: .seconds(maxTime + 5))
    var headers: [String: String] = [:]
    let rawHeaders = (try? String(contentsOfFile: headerPath, encoding: .utf8)) ?? ""
    for line in rawHeaders.components(separatedBy: "\r\n") {
        if line.hasPrefix("HTTP/") {
            headers = [:]
        } else if let colon = line.firstIndex(of: ":") {
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            headers[name] = value
        }
    }
    return HTTPResult(
        status: Int(String(decoding: result.stdout, as: UTF8.self)) ?? 0,
        headers: headers,
        body: (try? Data(contentsOf: URL(fileURLWithPath: bodyPath))) ?? Data(),
        curlExitCode: result.exitCode
    )
}

/// Sets faults over the control API.
func putFaults(_ simulator: RunningSimulator, _ json: String) async throws {
    let answer = try await http("PUT", simulator.baseURL + "/_sim/faults", token: nil, body: json)
    #expect(answer.status == 200, "PUT /_sim/faults: \(answer.text)")
}

/// Submits one video and returns its id.
func generate(_ simulator: RunningSimulator) async throws -> String {
    let answer = try await http(
        "POST", simulator.baseURL + "/v1/v2v/video.generate",
        body: #"{"audio_url":"https://example.com/a.mp3","image_url":"https://example.com/face.jpg"}"#)
    let data = try #require(answer.json?["data"] as? [String: Any], "generate: \(answer.status) \(answer.text)")
    return try #require(data["video_id"] as? String)
}

/// `data` of `video.get` for an id.
func getVideo(_ simulator: RunningSimulator, _ id: String) async throws -> [String: Any] {
    let answer = try await http("GET", simulator.baseURL + "/v1/v2v/video.get?video_id=\(id)")
    #expect(answer.status == 200, "video.get: \(answer.text)")
    return try #require(answer.json?["data"] as? [String: Any], "video.get: \(answer.text)")
}

func isVideoID(_ text: String) -> Bool {
    text.count == 32 && text.allSatisfy { ("0"..."9").contains($0) || ("a"..."f").contains($0) }
}
