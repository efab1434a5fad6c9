public import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A child process for tests (the real binary under test), started with `posix_spawn` and a clean
/// signal mask: children of the test runner otherwise inherit its blocked signals and ignore SIGTERM.
/// Output goes to a file so a chatty child never blocks on a full pipe.
public final class ChildProcess: @unchecked Sendable {
    public let pid: pid_t
    public let outputPath: String
    private let lock = NSLock()
    private var exitStatus: Int32?

    /// Standard output goes to `outputPath`, standard error too unless `errorPath` names its own file.
    public init(executable: String, arguments: [String], environment: [String: String], outputPath: String, errorPath: String? = nil) throws {
        self.outputPath = outputPath
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_APPEND, 0o644)
        if let errorPath {
            _ = FileManager.default.createFile(atPath: errorPath, contents: nil)
            posix_spawn_file_actions_addopen(&actions, 2, errorPath, O_WRONLY | O_APPEND, 0o644)
        } else {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        // Nothing else of this process's is inherited: a long-lived child (the test PostgreSQL server)
        // holding a copy of a test's socket keeps that connection open after the test closed it, and
        // its peer waits for an end that never comes.
        closeInheritedDescriptors(&actions)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard result == 0 else { throw ChildProcessError.spawnFailed(errno: result, executable: executable) }
        self.pid = pid
    }

    /// A test that fails half-way must not leave the binary running (holding ports, mounts, files).
    deinit {
        if poll() == nil {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            _ = waitpid(pid, &status, 0)
        }
    }

    public func signal(_ signal: Int32) { kill(pid, signal) }

    /// The exit status once the child has ended (reaps it); nil while it runs.
    public func poll() -> Int32? {
        lock.lock()
        defer { lock.unlock() }
        if let exitStatus { return exitStatus }
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        guard result == pid else { return nil }
        exitStatus = status
        return status
    }

    /// Waits for the child to end, at most `limit`; returns its raw wait status or nil on timeout.
    public func waitForExit(within limit: Duration) async -> Int32? {
        let clock = ContinuousClock()
        let end = clock.now + limit
        while clock.now < end {
            if let status = poll() { return status }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return poll()
    }

    /// SIGKILL and reap; never hangs.
    public func kill9() async {
        signal(SIGKILL)
        _ = await waitForExit(within: .seconds(10))
    }

    public var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }

    /// The base URL `serve` or `simulate` prints once it listens ("… listening on http://host:port …"), waiting at
    /// most `limit` for it; nil if it never came.
    public func announcedBaseURL(within limit: Duration) async -> String? {
        @Sendable func announced() -> String? {
            let line = output.split(separator: "\n").first { $0.contains("listening on http://") }
            guard let line, let start = line.range(of: "http://")?.lowerBound else { return nil }
            return String(line[start...].prefix { !$0.isWhitespace })
        }
        _ = await eventually(within: limit) { announced() != nil }
        return announced()
    }

    /// Whether the raw wait status means a normal exit with code `code`.
    public static func exitedNormally(_ status: Int32, code: Int32 = 0) -> Bool {
        (status & 0x7f) == 0 && ((status >> 8) & 0xff) == code
    }
}

public enum ChildProcessError: Error {
    case spawnFailed(errno: Int32, executable: String)
    case binaryNotFound(String)
}

/// The `talking-photo-bridge` binary built for this test run (`BRIDGE_BINARY` overrides).
public func bridgeBinaryPath(file: String = #filePath) throws -> String {
    if let override = ProcessInfo.processInfo.environment["BRIDGE_BINARY"] { return override }
    let root = repositoryRoot(file: file)
    for candidate in [".build/debug/talking-photo-bridge", ".build/release/talking-photo-bridge"] {
        let path = root.appendingPathComponent(candidate).path
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    throw ChildProcessError.binaryNotFound(root.path)
}

/// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34+, not exposed to Swift's Glibc module):
/// the child starts with only 0, 1 and 2. Where it is missing, each descriptor open now is closed.
private func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) {
    typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    if let symbol = closeFromSymbol {
        _ = unsafeBitCast(symbol, to: CloseFrom.self)(&actions, 3)
        return
    }
    let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd"))?.compactMap { Int32($0) } ?? []
    for descriptor in open where descriptor > 2 { posix_spawn_file_actions_addclose(&actions, descriptor) }
}

private nonisolated(unsafe) let closeFromSymbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np")
