import ArgumentParser
import BridgeCore
import BridgeService
import CurlHTTP
import Foundation
import Logging
import Simulator

/// `talking-photo-bridge demo` — the embedded default: simulator + bridge + a verifying receiver,
/// wired together on loopback, printing each callback as it arrives.
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the upstream simulator, the bridge and a verifying receiver; print callbacks as they arrive.",
        discussion: """
            Starts everything in this process on loopback: the simulator (the Talking Photo API stand-in),
            the bridge (HTTP API, poller, dispatcher) on --listen, and a receiver that verifies every
            Standard Webhooks signature. It registers a subscription, submits --videos renders through the
            drop-in proxy, and prints each callback as it arrives. The receiver fails its first answer on
            purpose so a retry is visible. Afterwards it prints a summary and curl commands to try, and
            keeps running until Ctrl-C (or exits with --exit).
            """
    )

    @Option(help: "Where the bridge's HTTP API listens (host:port).")
    var listen = "127.0.0.1:8080"

    @Option(help: "SQLite file for the demo (default: a temporary file, removed at exit).")
    var database: String?

    @Option(help: "How many renders to submit (1-20).")
    var videos = 3

    @Option(help: "Simulated render time per video, e.g. 6s.")
    var renderTime = "6s"

    @Option(help: "Bridge poll interval, e.g. 1s.")
    var pollInterval = "1s"

    @Flag(help: "Exit after the summary instead of waiting for Ctrl-C.")
    var exit = false

    func validate() throws {
        guard (1...20).contains(videos) else { throw ValidationError("--videos must be between 1 and 20") }
        guard DurationText.parse(renderTime) != nil else { throw ValidationError("--render-time: not a duration") }
        _ = try bridgeSettings()
    }

    /// --listen, --database and --poll-interval are the bridge's own settings: checked by its table.
    private func bridgeSettings() throws -> BridgeConfiguration {
        var flags = ["BRIDGE_LISTEN": listen, "BRIDGE_POLL_INTERVAL": pollInterval]
        if let database { flags["BRIDGE_DATABASE"] = database }
        switch ConfigurationLoader(environment: [:], flags: flags).load(only: Set(flags.keys)) {
        case .success(let configuration): return configuration
        case .failure(let errors): throw ValidationError(errors.lines.joined(separator: "\n"))
        }
    }

    func run() async throws {
        guard let render = DurationText.parse(renderTime) else { throw ValidationError("--render-time: not a duration") }
        let settings = try bridgeSettings()
        var quiet = Logger(label: "demo")
        quiet.logLevel = .error
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .error
            return handler
        }
        let session = try await DemoSession.start(
            settings: settings, temporaryDatabase: database == nil, videos: videos, renderTime: render, logger: quiet
        )
        try await session.play()
        if exit {
            await session.stop()
            return
        }
        print("\nThe bridge keeps running; try the commands above. Ctrl-C to stop.")
        await session.waitForInterrupt()
        await session.stop()
    }
}
