public import Foundation

/// `talking-photo-bridge serve` as a child process, and the address it announced: the one start-up
/// helper the real-binary tests and benchmarks share (several replicas on one database start the
/// same way).
public struct ServeProcess: Sendable {
    public let process: ChildProcess
    public let baseURL: String

    /// The settings every harness starts from: its database, the upstream and its token, API keys
    /// (`tenant:key`), private destinations allowed (receivers are on loopback), any free port.
    public static func settings(
        database: String, upstream: String, token: String, apiKeys: String, logLevel: String = "error"
    ) -> [String: String] {
        [
            "BRIDGE_DATABASE": database, "SURREAL_BASE_URL": upstream, "SURREAL_API_TOKEN": token,
            "BRIDGE_API_KEYS": apiKeys, "BRIDGE_ALLOW_PRIVATE_DESTINATIONS": "true",
            "BRIDGE_LISTEN": "127.0.0.1:0", "BRIDGE_LOG_LEVEL": logLevel,
        ]
    }

    /// Starts `serve` with exactly `settings` as its environment, its output in `log`, optionally
    /// under `wrapper` (`["perf", "record", …]`: the program is looked up on `PATH`), and returns once
    /// it printed its address. A bridge that does not announce one within `limit` is killed, and the
    /// error carries what it printed.
    public static func start(
        binary: String, settings: [String: String], log: String, wrapper: [String] = [], within limit: Duration = .seconds(60)
    ) async throws -> ServeProcess {
        let executable = wrapper.first.map { which($0, path: settings["PATH"]) } ?? binary
        let arguments = Array(wrapper.dropFirst()) + (wrapper.isEmpty ? [] : [binary]) + ["serve"]
        let process = try ChildProcess(executable: executable, arguments: arguments, environment: settings, outputPath: log)
        guard let baseURL = await process.announcedBaseURL(within: limit) else {
            await process.kill9()
            throw ServeProcessError.didNotAnnounce(output: process.output)
        }
        return ServeProcess(process: process, baseURL: baseURL)
    }

    /// `name` resolved against `path` (or this process's `PATH`); unchanged when it holds a slash.
    static func which(_ name: String, path: String?) -> String {
        guard !name.contains("/") else { return name }
        let directories = (path ?? ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":")
        for directory in directories where FileManager.default.isExecutableFile(atPath: "\(directory)/\(name)") {
            return "\(directory)/\(name)"
        }
        return name
    }
}

public enum ServeProcessError: Error, CustomStringConvertible {
    case didNotAnnounce(output: String)

    public var description: String {
        switch self {
        case .didNotAnnounce(let output): "the bridge did not print its address:\n\(output)"
        }
    }
}
