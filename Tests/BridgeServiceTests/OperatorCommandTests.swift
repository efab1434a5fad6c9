import BridgeStore
import Foundation
import TestSupport
import Testing

@Suite("Operator subcommands of the real binary", .serialized)
struct OperatorCommandTests {
    func run(_ arguments: [String], in directory: TemporaryDirectory, environment: [String: String] = [:]) async throws -> (Int32, String) {
        let process = try ChildProcess(
            executable: try bridgeBinaryPath(), arguments: arguments, environment: environment,
            outputPath: directory.path("out-\(UUID().uuidString.prefix(6)).log")
        )
        guard let status = await process.waitForExit(within: .seconds(30)) else {
            await process.kill9()
            throw DeadlineExceeded(limit: .seconds(30))
        }
        return ((status >> 8) & 0xff, process.output)
    }

    @Test("migrate, then backup a live database, then the copy opens with the same data")
    func migrateAndBackup() async throws {
        let directory = try TemporaryDirectory("ops")
        defer { directory.remove() }
        let database = directory.path("bridge.sqlite")
        let (migrated, output) = try await run(["migrate", "--database", database], in: directory)
        #expect(migrated == 0 && output.contains("schema up to date"), "\(output)")
        let store = try SQLiteBridgeStore(path: database)
        try await store.createSubscription(NewSubscription(tenant: "acme", url: "https://hooks.example.com/x", secret: "whsec_x"), now: Date())

        let copy = directory.path("copy.sqlite")
        let (backedUp, backupOutput) = try await run(["backup", copy], in: directory, environment: ["BRIDGE_DATABASE": database])
        #expect(backedUp == 0, "\(backupOutput)")
        await #expect(try SQLiteBridgeStore(path: copy).tableCounts()["subscriptions"] == 1)
        let (again, againOutput) = try await run(["backup", copy, "--database", database], in: directory)
        #expect(again != 0 && againOutput.contains("already exists"))
        let (missing, _) = try await run(["backup", directory.path("x.sqlite"), "--database", directory.path("none.sqlite")], in: directory)
        #expect(missing != 0)
    }

    @Test("keys generate prints a usable name:key; --help explains every subcommand")
    func keysAndHelp() async throws {
        let directory = try TemporaryDirectory("keys")
        defer { directory.remove() }
        let (status, output) = try await run(["keys", "generate", "--name", "acme"], in: directory)
        let line = output.split(separator: "\n").first.map(String.init) ?? ""
        #expect(status == 0 && line.hasPrefix("acme:") && line.count >= 5 + 43)
        let (other, second) = try await run(["keys", "generate", "--name", "acme"], in: directory)
        #expect(other == 0 && second != output, "keys are random")
        #expect(try await run(["keys", "generate", "--name", "bad name"], in: directory).0 != 0)
        let (_, help) = try await run(["--help"], in: directory)
        for command in ["serve", "simulate", "demo", "migrate", "backup", "keys", "healthcheck"] {
            #expect(help.contains(command), "\(command) missing from --help")
        }
        let (_, serveHelp) = try await run(["serve", "--help"], in: directory)
        for variable in ["BRIDGE_LISTEN", "SURREAL_API_TOKEN", "BRIDGE_RETRY_SCHEDULE", "BRIDGE_ALLOW_PRIVATE_DESTINATIONS"] {
            #expect(serveHelp.contains(variable))
        }
        let (unhealthy, _) = try await run(["healthcheck", "--listen", "127.0.0.1:9"], in: directory)
        #expect(unhealthy == 1)
    }
}
