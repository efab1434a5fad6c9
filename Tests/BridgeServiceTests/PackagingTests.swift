import Foundation
import TestSupport
import Testing

/// What can be checked about the container without a Docker engine (CI has none).
@Suite("Packaging")
struct PackagingTests {
    @Test("the Dockerfile passes hadolint")
    func dockerfileLints() async throws {
        let root = repositoryRoot()
        let (status, output) = try await runCommand(
            "/usr/bin/env",
            ["hadolint", "--config", root.appendingPathComponent(".hadolint.yaml").path, root.appendingPathComponent("Dockerfile").path]
        )
        #expect(status == 0, "\(output)")
    }

    @Test("compose.yaml passes its lint: services, secrets and volumes resolve; two replicas share one PostgreSQL database and key")
    func composeLints() async throws {
        let script = repositoryRoot().appendingPathComponent("scripts/lint_compose.py").path
        let (status, output) = try await runCommand("/usr/bin/env", ["python3", script])
        #expect(status == 0, "\(output)")
    }

    @Test("the Dockerfile runs the binary as non-root with a /data volume, a health check and a static stdlib")
    func dockerfileShape() throws {
        let text = try String(contentsOf: repositoryRoot().appendingPathComponent("Dockerfile"), encoding: .utf8)
        #expect(text.contains("--static-swift-stdlib"))
        #expect(text.contains("USER 10001") && text.contains("VOLUME [\"/data\"]") && text.contains("EXPOSE 8080"))
        #expect(text.contains("HEALTHCHECK") && text.contains("healthcheck"))
        #expect(text.contains("libcurl4 libsqlite3-0 ca-certificates"))
    }
}
