import BridgeStore
import Logging
import ServiceLifecycle
import Synchronization

/// Writes that must happen but could not when first tried, because the database was busy, locked,
/// read-only or full: above all, a render the upstream already accepted. They are kept in memory and
/// retried every `retryInterval` until they succeed; each job's steps run in order and a step that
/// succeeded is not repeated. Nothing else waits for them.
///
/// Runs first in the service group, so it stops last: after the HTTP server, it gets one more try.
/// What is still pending when the process ends is logged as lost; a `kill -9` while the database
/// refuses writes loses it too (its `Idempotency-Key` stays claimed, so a retry still answers `409`
/// and never submits a second render).
final class DeferredWrites: Service, Sendable {
    /// Untyped on purpose: an `async throws(StoreError)` closure crashed Swift 6.3.1's IRGen (signal 11).
    typealias Step = @Sendable () async throws -> Void

    private struct Job: Sendable {
        let name: String
        var steps: [Step]
        var tries: Int
    }

    private let jobs = Mutex<[Job]>([])
    private let retryInterval: Duration
    private let logger: Logger

    init(retryInterval: Duration = .seconds(1), logger: Logger) {
        self.retryInterval = retryInterval
        self.logger = logger
    }

    var pending: Int { jobs.withLock { $0.count } }

    /// Keeps `steps` until they all succeeded; `name` identifies the job in the log.
    func enqueue(_ name: String, steps: [Step]) {
        jobs.withLock { $0.append(Job(name: name, steps: steps, tries: 0)) }
        logger.warning("kept in memory until the database takes writes", metadata: ["job": "\(name)"])
    }

    /// Tries every pending job once; returns how many are still pending.
    @discardableResult
    func retryPending() async -> Int {
        let batch = jobs.withLock { jobs in
            let taken = jobs
            jobs.removeAll()
            return taken
        }
        var unfinished: [Job] = []
        for var job in batch {
            job.tries += 1
            do {
                while let step = job.steps.first {
                    try await step()
                    job.steps.removeFirst()
                }
                logger.info("recorded after the database recovered", metadata: ["job": "\(job.name)", "tries": "\(job.tries)"])
            } catch let error as StoreError where error.isTransient {
                unfinished.append(job)
            } catch {
                logger.error("a kept write failed for good", metadata: ["job": "\(job.name)", "error": "\(error)"])
            }
        }
        return jobs.withLock { jobs in
            jobs.insert(contentsOf: unfinished, at: 0)
            return jobs.count
        }
    }

    func run() async throws {
        try? await cancelWhenGracefulShutdown { [retryInterval] in
            while !Task.isCancelled {
                try await Task.sleep(for: retryInterval)
                await self.retryPending()
            }
        }
        let left = await retryPending()
        if left > 0 {
            logger.error("writes still pending at shutdown are lost", metadata: ["count": "\(left)"])
        }
    }
}
