import Simulator
import Synchronization

/// Something a test starts (a server, a harness of several) and must stop again.
public protocol TestResource: Sendable {
    func stop() async
}

/// Runs `body` with `resource` and stops the resource afterwards, also when `body` throws (a failed
/// `#require`) — so a failing test never leaves servers, transports or child processes behind.
public func withResource<Resource: TestResource, Result>(
    _ resource: Resource,
    _ body: (Resource) async throws -> Result
) async throws -> Result {
    try await withScope { scope in try await body(scope.adopt(resource)) }
}

extension LoopbackServer: TestResource {}
extension WebhookReceiver: TestResource {}

/// The things one test started, stopped in reverse order when the test's scope ends, whether it
/// returns or throws. For tests that start several servers and processes one after another.
public final class TestScope: Sendable {
    private let stops = Mutex<[@Sendable () async -> Void]>([])

    /// Registers `resource` to be stopped at the end of the scope; returns it.
    @discardableResult
    public func adopt<Resource: TestResource>(_ resource: Resource) -> Resource {
        stops.withLock { $0.append { await resource.stop() } }
        return resource
    }

    /// Runs `action` at the end of the scope.
    public func onExit(_ action: @escaping @Sendable () async -> Void) {
        stops.withLock { $0.append(action) }
    }

    fileprivate func close() async {
        let actions = stops.withLock { stops in
            defer { stops.removeAll() }
            return stops
        }
        for action in actions.reversed() { await action() }
    }
}

/// Runs `body` in a fresh ``TestScope`` and stops everything it adopted afterwards.
public func withScope<Result>(_ body: (TestScope) async throws -> Result) async throws -> Result {
    let scope = TestScope()
    let result: Result
    do {
        result = try await body(scope)
    } catch {
        await scope.close()
        throw error
    }
    await scope.close()
    return result
}

extension RunningSimulator: TestResource {}
