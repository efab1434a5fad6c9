import ArgumentParser
import BridgeService
import BridgeStore
import Foundation
import Logging
import Prometheus

/// `talking-photo-bridge serve`: the service. Every setting is an environment variable and (except
/// secrets) a flag, flags winning; names, help, resolution and validation live in `ConfigurationLoader`.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the bridge: poll the upstream, record events, deliver signed callbacks.",
        discussion: """
            Each setting is an environment variable (shown in brackets) and, except secrets, a flag; a flag \
            wins over the variable. Secrets come from the environment or a file named by NAME_FILE \
            (SURREAL_API_TOKEN_FILE, BRIDGE_API_KEYS_FILE, BRIDGE_ENCRYPTION_KEY_FILE), never from the \
            command line. Durations look like 500ms, 5s, 10m, 24h, 7d. A bad value stops start-up with one \
            line naming it.

            SETTINGS:
            """ + "\n" + ConfigurationLoader.helpText
    )

    @Flag(help: "Print the effective configuration (secrets redacted) and exit.")
    var printConfig = false

    /// The setting flags (`--listen 0.0.0.0:8080`, `--poll-interval=1s`); their names, help and
    /// defaults come from the one settings table, so they are not declared again here.
    @Argument(parsing: .allUnrecognized, help: .hidden)
    var settings: [String] = []

    func run() async throws {
        MemoryTuning.limitMallocArenas(environment: ProcessInfo.processInfo.environment)
        let flags: [String: String]
        switch ConfigurationLoader.flagValues(settings) {
        case .success(let values): flags = values
        case .failure(let errors):
            for line in errors.lines { printError("talking-photo-bridge serve: \(line)") }
            throw ExitCode(64)  // EX_USAGE
        }
        let loader = ConfigurationLoader(environment: ProcessInfo.processInfo.environment, flags: flags)
        let configuration: BridgeConfiguration
        switch loader.load() {
        case .success(let loaded): configuration = loaded
        case .failure(let errors):
            for line in errors.lines { printError("talking-photo-bridge: \(line)") }
            throw ExitCode(78)  // EX_CONFIG
        }
        if printConfig {
            configuration.redactedLines.forEach { print($0) }
            return
        }
        let logger = bootstrapLogging(configuration)
        let registry = PrometheusCollectorRegistry()
        let runtime: BridgeRuntime
        let host = configuration.listenHost.contains(":") ? "[\(configuration.listenHost)]" : configuration.listenHost
        do {
            runtime = try await BridgeRuntime(configuration: configuration, logger: logger, metricsRegistry: registry) { port in
                FileHandle.standardOutput.write(Data("talking-photo-bridge listening on http://\(host):\(port)\n".utf8))
            }
        } catch {
            printError("talking-photo-bridge: cannot start: \(error)")
            throw ExitCode(1)
        }
        try await runtime.run()
    }
}

func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

func bootstrapLogging(_ configuration: BridgeConfiguration) -> Logger {
    let level = Logger.Level(rawValue: configuration.logLevel) ?? .info
    switch configuration.logFormat {
    case .json:
        LoggingSystem.bootstrap { label in
            var handler = JSONLogHandler(label: label)
            handler.logLevel = level
            return handler
        }
    case .text:
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
    var logger = Logger(label: "bridge")
    logger.logLevel = level
    return logger
}
