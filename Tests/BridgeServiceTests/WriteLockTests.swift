import Foundation
import Synchronization
import TestSupport
import Testing

/// Another process holds the SQLite write lock; requests that write wait on it (the busy timeout is
/// longer than the lock is held). Shown by order, not by timing: every read and `/healthz` is
/// answered while all the writes are still waiting, which is only possible if waiting writes hold
/// no thread that HTTP needs.
@Suite("An external write lock against the real binary", .serialized)
struct WriteLockTests {
    @Test("while writes wait on another process's lock, /healthz, /metrics and reads keep answering")
    func readsAnswerDuringAnExternalWriteLock() async throws {
        try await withScope { scope in
            let directory = try TemporaryDirectory("write-lock")
            scope.onExit { directory.remove() }
            let bridge = try await BinaryEndToEndTests.launch(
                directory, upstream: "http://127.0.0.1:9", extra: ["BRIDGE_DATABASE_BUSY_TIMEOUT": "300s"]
            )
            scope.onExit { await bridge.process.kill9() }
            let api = try BridgeAPIClient()
            scope.onExit { api.stop() }
            api.baseURL = bridge.baseURL
            try await api.subscribe(url: "https://hooks.example.com/before")

            let holder = try ChildProcess(
                executable: "/usr/bin/env",
                arguments: ["python3", repositoryRoot().appendingPathComponent("scripts/hold-write-lock.py").path,
                    directory.path("bridge.sqlite"), "300"],
                environment: ProcessInfo.processInfo.environment, outputPath: directory.path("holder.log")
            )
            scope.onExit { await holder.kill9() }
            #expect(await eventually(within: .seconds(60)) { holder.output.contains("locked") }, "\(holder.output)")

            // More waiting writes than the machine has threads; none can finish while the lock is held.
            let finished = FinishedCount()
            let writes = (0..<8).map { index in
                Task {
                    defer { finished.value.withLock { $0 += 1 } }
                    return try await api.call(
                        "POST", "/v1/subscriptions", ["url": "https://hooks.example.com/w\(index)"], timeout: .seconds(600)
                    ).status
                }
            }
            for path in ["/healthz", "/v1/subscriptions", "/v1/events", "/v1/videos", "/healthz", "/metrics"] {
                let (status, _) = try await api.call("GET", path, timeout: .seconds(60))
                #expect(status == 200, "\(path) → \(status)")
            }
            #expect(holder.poll() == nil, "the lock was still held while the reads were answered")
            #expect(finished.value.withLock { $0 } == 0, "and every write was still waiting on it")

            await holder.kill9()
            var statuses: [Int] = []
            for write in writes { statuses.append((try? await write.value) ?? -1) }
            #expect(statuses.allSatisfy { $0 == 201 }, "every waiting write went through once the lock was released: \(statuses)")
        }
    }
}

private final class FinishedCount: Sendable {
    let value = Mutex(0)
}
