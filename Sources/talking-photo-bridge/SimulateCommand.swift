import ArgumentParser
import Foundation
import Logging
import Simulator

/// `talking-photo-bridge simulate`: a stand-in for the upstream Talking Photo API.
struct Simulate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Run a stand-in for the upstream Talking Photo API, with fault knobs.",
        discussion: """
            Serves POST /v1/v2v/video.generate, GET /v1/v2v/video.get and GET /v1/v2v/video.list \
            with the upstream's envelopes and Bearer auth. A video is 'pending' for --pending-time, \
            then 'in_progressing' until --render-time, then 'finished' (with a video_url served by \
            the simulator) or, with probability --error-ratio, 'error'.

            Magic inputs: an image_url containing 'noface' fails with 400 "face area must be at \
            least 160x160"; an audio_url containing 'toolong' fails with 400 "audio longer than 1 minute".

            The fault flags set the starting faults. Each ratio is a probability from 0 to 1 \
            (1 = every request), evaluated in this order: latency, hang, 429, 5xx, HTML, truncated, \
            non-zero code; then per video in get/list answers: unknown status, backwards status. \
            Faults only touch the three upstream endpoints.

            Control API (no auth, never faulted):
              GET|PUT|DELETE /_sim/faults       read, replace, clear the faults
              GET|DELETE     /_sim/stats        call counters and video count; reset
              GET            /_sim/calls        arrival times of recent upstream calls
              POST           /_sim/videos       {"count":N,"status":"…"?} bulk-create
              PUT            /_sim/videos       {"status":"…","video_url":"…"?} pin every video at once
              DELETE         /_sim/videos       remove every video
              GET|PUT        /_sim/videos/ID    show; pin {"status":"…","video_url":"…"?}
              DELETE         /_sim/videos/ID/pin  back to time-driven progress
              GET            /_sim/healthz      200 when up

            See docs/simulator.md. Stops on SIGINT or SIGTERM.
            """
    )

    @Option(help: ArgumentHelp("Address to listen on (host:port; port 0 = any free port).", valueName: "host:port"))
    var listen = "127.0.0.1:8090"

    @Option(help: "The Bearer token the upstream endpoints accept.")
    var token = "sim-token"

    @Option(help: ArgumentHelp("Time from submit to finished/error, e.g. 500ms, 5s, 10m, 1h (0 = finished at once).", valueName: "duration"))
    var renderTime = "10s"

    @Option(help: ArgumentHelp("Time a video stays pending before in_progressing (default: a quarter of --render-time).", valueName: "duration"))
    var pendingTime: String?

    @Option(help: ArgumentHelp("Probability (0…1) that a submitted video ends in error instead of finished.", valueName: "ratio"))
    var errorRatio = 0.0

    @Option(help: ArgumentHelp("Seed for fault decisions, error outcomes and video ids, for reproducible runs (default: random).", valueName: "n"))
    var seed: UInt64?

    @Option(help: ArgumentHelp("Delay added before answering every upstream request.", valueName: "duration"))
    var latency = "0"

    @Option(help: ArgumentHelp("Probability (0…1) that a request sleeps --hang-time before answering (clients time out).", valueName: "ratio"))
    var hangRatio = 0.0

    @Option(help: ArgumentHelp("How long a hung request sleeps.", valueName: "duration"))
    var hangTime = "60s"

    @Option(help: ArgumentHelp("Probability (0…1) of a 429 answer with code 42900.", valueName: "ratio"))
    var rateLimitRatio = 0.0

    @Option(help: ArgumentHelp("Retry-After of a 429, in seconds.", valueName: "seconds"))
    var retryAfter = 1

    @Flag(help: "Send Retry-After as an HTTP date (IMF-fixdate) --retry-after seconds ahead instead of seconds.")
    var retryAfterHttpDate = false

    @Flag(help: "Send 429 answers without a Retry-After header.")
    var noRetryAfter = false

    @Option(help: ArgumentHelp("Probability (0…1) of a server error answer.", valueName: "ratio"))
    var serverErrorRatio = 0.0

    @Option(help: ArgumentHelp("Status of a server error (500…599); 500 carries a JSON envelope with code 50000, others a plain-text body.", valueName: "status"))
    var serverErrorStatus = 500

    @Option(help: ArgumentHelp("Probability (0…1) of a 200 answer with an HTML error page instead of JSON.", valueName: "ratio"))
    var htmlRatio = 0.0

    @Option(help: ArgumentHelp("Probability (0…1) of a 200 answer whose JSON is cut in half.", valueName: "ratio"))
    var truncatedRatio = 0.0

    @Option(help: ArgumentHelp("Probability (0…1) of a 200 answer with code 50001 \"internal error, please retry\".", valueName: "ratio"))
    var nonzeroCodeRatio = 0.0

    @Option(help: ArgumentHelp("Probability (0…1), per video in get/list answers, of reporting --unknown-status instead of the real status.", valueName: "ratio"))
    var unknownStatusRatio = 0.0

    @Option(help: ArgumentHelp("The status reported by --unknown-status-ratio.", valueName: "status"))
    var unknownStatus = "queued_for_review"

    @Option(help: ArgumentHelp("Probability (0…1), per video in get/list answers, of reporting the status one step back (in_progressing → pending, finished/error → in_progressing).", valueName: "ratio"))
    var backwardsRatio = 0.0

    @Option(help: ArgumentHelp("Comma-separated endpoints the faults apply to: video.generate, video.get, video.list (default: all).", valueName: "list"))
    var faultEndpoints: String?

    @Option(help: ArgumentHelp("Log level: trace, debug (one line per upstream call), info, notice, warning, error, critical.", valueName: "level"))
    var logLevel = "warning"

    func validate() throws {
        _ = try makeConfiguration()
    }

    /// Turns the flags into a configuration; every problem is a `ValidationError` naming the flag.
    func makeConfiguration() throws -> SimulatorConfiguration {
        guard let address = parseSimulatorListenAddress(listen) else {
            throw ValidationError("--listen must be host:port (port 0…65535), got '\(listen)'")
        }
        guard !token.isEmpty, !token.contains(where: \.isWhitespace) else {
            throw ValidationError("--token must be non-empty and without spaces")
        }
        func duration(_ text: String, _ flag: String) throws -> Duration {
            guard let value = parseSimulatorDuration(text) else {
                throw ValidationError("\(flag) must be a duration like 500ms, 5s, 10m or 1h, got '\(text)'")
            }
            return value
        }
        func ratio(_ value: Double, _ flag: String) throws -> Double {
            guard value >= 0, value <= 1 else {
                throw ValidationError("\(flag) must be between 0 and 1, got \(value)")
            }
            return value
        }
        guard retryAfter >= 0 else { throw ValidationError("--retry-after must not be negative") }
        guard (500...599).contains(serverErrorStatus) else {
            throw ValidationError("--server-error-status must be 500…599, got \(serverErrorStatus)")
        }
        guard !unknownStatus.isEmpty else { throw ValidationError("--unknown-status must not be empty") }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
        var endpoints: [SimulatorEndpoint]?
        if let faultEndpoints {
            endpoints = try faultEndpoints.split(separator: ",").map { name in
                let trimmed = name.trimmingCharacters(in: .whitespaces)
                guard let endpoint = SimulatorEndpoint(rawValue: trimmed) else {
                    throw ValidationError("--fault-endpoints: unknown endpoint '\(trimmed)' (video.generate, video.get, video.list)")
                }
                return endpoint
            }
        }
        let faults = FaultSettings(
            latency: try duration(latency, "--latency"),
            hangRatio: try ratio(hangRatio, "--hang-ratio"),
            hangTime: try duration(hangTime, "--hang-time"),
            rateLimitRatio: try ratio(rateLimitRatio, "--rate-limit-ratio"),
            retryAfterSeconds: retryAfter,
            retryAfterHTTPDate: retryAfterHttpDate,
            omitRetryAfter: noRetryAfter,
            serverErrorRatio: try ratio(serverErrorRatio, "--server-error-ratio"),
            serverErrorStatus: serverErrorStatus,
            htmlRatio: try ratio(htmlRatio, "--html-ratio"),
            truncatedRatio: try ratio(truncatedRatio, "--truncated-ratio"),
            nonzeroCodeRatio: try ratio(nonzeroCodeRatio, "--nonzero-code-ratio"),
            unknownStatusRatio: try ratio(unknownStatusRatio, "--unknown-status-ratio"),
            unknownStatus: unknownStatus,
            backwardsRatio: try ratio(backwardsRatio, "--backwards-ratio"),
            endpoints: endpoints
        )
        return SimulatorConfiguration(
            host: address.host,
            port: address.port,
            token: token,
            renderTime: try duration(renderTime, "--render-time"),
            pendingTime: try pendingTime.map { try duration($0, "--pending-time") },
            errorRatio: try ratio(errorRatio, "--error-ratio"),
            faults: faults,
            seed: seed
        )
    }

    func run() async throws {
        let configuration = try makeConfiguration()
        var logger = Logger(label: "talking-photo-bridge.simulate")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .warning
        let simulator = UpstreamSimulator(configuration: configuration, logger: logger)
        let token = configuration.token
        let host = configuration.host.contains(":") ? "[\(configuration.host)]" : configuration.host
        let faultsNote = configuration.faults == .none ? "no faults" : "faults on (GET /_sim/faults)"
        let renderNote = formatSimulatorDuration(configuration.renderTime)

        let serving = Task {
            try await simulator.run(onListening: { port in
                let line = "simulator listening on http://\(host):\(port) (token: \(token), render time \(renderNote), "
                    + "\(faultsNote); control API under /_sim/; Ctrl-C to stop)\n"
                FileHandle.standardOutput.write(Data(line.utf8))
            })
        }
        // SIGINT/SIGTERM cancel the server task: in-flight requests (hung ones too) end at once.
        let signals = [SIGINT, SIGTERM].map { number -> any DispatchSourceSignal in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { serving.cancel() }
            source.resume()
            return source
        }
        defer { signals.forEach { $0.cancel() } }
        do {
            try await serving.value
        } catch is CancellationError {
            return
        } catch {
            if serving.isCancelled { return }
            throw SimulateError(message: "cannot serve on \(listen): \(error)")
        }
    }
}

private struct SimulateError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
