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
