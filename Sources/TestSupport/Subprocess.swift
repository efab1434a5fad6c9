public import Foundation

/// Runs a short command to completion with input on stdin, bounded in time (SIGKILL on overrun).
public func runCommand(
    _ executable: String,
    _ arguments: [String],
    input: Data = Data(),
    timeout: Duration = .seconds(60)
) async throws -> (status: Int32, output: String) {
    let directory = try TemporaryDirectory("cmd")
    defer { directory.remove() }
    let inputPath = directory.path("stdin")
    try input.write(to: URL(fileURLWithPath: inputPath))
    let process = try ChildProcess(
        executable: "/bin/sh",
        arguments: ["-c", "exec \"$0\" \"$@\" < '\(inputPath)'", executable] + arguments,
        environment: ProcessInfo.processInfo.environment,
        outputPath: directory.path("out")
    )
    guard let status = await process.waitForExit(within: timeout) else {
        await process.kill9()
        throw DeadlineExceeded(limit: timeout)
    }
    return ((status >> 8) & 0xff, process.output)
}

/// The repository root (where Package.swift is), from a source file's path.
public func repositoryRoot(file: String = #filePath) -> URL {
    var root = URL(fileURLWithPath: file)
    while root.pathComponents.count > 1,
        !FileManager.default.fileExists(atPath: root.appendingPathComponent("Package.swift").path)
    {
        root.deleteLastPathComponent()
    }
    return root
}

/// Runs scripts/verify_standard_webhooks.py (the `standardwebhooks` package from PyPI): one verdict
/// per message, each a dictionary of `secret`, `id`, `timestamp`, `body` and `signature`.
public func verifyWithOfficialLibrary(_ messages: [[String: String]]) async throws -> [Bool] {
    let script = repositoryRoot().appendingPathComponent("scripts/verify_standard_webhooks.py").path
    let input = try JSONSerialization.data(withJSONObject: messages)
    let (status, output) = try await runCommand("/usr/bin/env", ["python3", script], input: input)
    guard status == 0 else {
        throw VerifierFailed(output: "verifier failed (is the standardwebhooks package installed? make test installs it): " + output)
    }
    let line = output.split(separator: "\n").last.map(String.init) ?? ""
    return (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [Bool]) ?? []
}

public struct VerifierFailed: Error, CustomStringConvertible {
    public var output: String
    public var description: String { output }
}
