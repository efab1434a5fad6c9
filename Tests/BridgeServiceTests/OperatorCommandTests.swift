import BridgeStore
import Foundation
import SQLiteStore
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
        #expect(backupOutput.contains("keep the key apart"), "\(backupOutput)")
        #expect(throws: StoreError.self, "the copy does not open without the key") { _ = try SQLiteBridgeStore(path: copy) }
        let key = try #require(SecretBox.parseKey(try String(contentsOfFile: database + ".key", encoding: .utf8)))
        let attributes = try FileManager.default.attributesOfItem(atPath: copy)
        #expect(attributes[.posixPermissions] as? Int == 0o600, "the copy is private like the original")
        await #expect(try SQLiteBridgeStore(path: copy, configuration: .init(encryptionKey: key)).tableCounts()["subscriptions"] == 1)
        let (again, againOutput) = try await run(["backup", copy, "--database", database], in: directory)
        #expect(again != 0 && againOutput.contains("already exists"))
        let (missing, _) = try await run(["backup", directory.path("x.sqlite"), "--database", directory.path("none.sqlite")], in: directory)
        #expect(missing != 0)
    }

    @Test("rekey re-encrypts under a new key; with a configured key it needs the new one; print-config never shows a key")
    func rekeyCommand() async throws {
        let directory = try TemporaryDirectory("rekey")
        defer { directory.remove() }
        let database = directory.path("bridge.sqlite")
        let store = try SQLiteBridgeStore(path: database)
        try await store.createSubscription(NewSubscription(tenant: "acme", url: "https://hooks.example.com/x", secret: "whsec_x"), now: Date())
        let before = try String(contentsOfFile: database + ".key", encoding: .utf8)

        let (status, output) = try await run(["rekey", "--database", database], in: directory)
        #expect(status == 0 && output.contains("re-encrypted 1 secrets"), "\(output)")
        let after = try String(contentsOfFile: database + ".key", encoding: .utf8)
        #expect(after != before)
        let key = try #require(SecretBox.parseKey(after))
        #expect(await (try? SQLiteBridgeStore(path: database).tableCounts()["subscriptions"]) == 1)

        let environment = ["BRIDGE_ENCRYPTION_KEY": key.base64EncodedString()]
        let (refused, refusal) = try await run(["rekey", "--database", database], in: directory, environment: environment)
        #expect(refused != 0 && refusal.contains("--new-key-file"), "\(refusal)")
        let newKeyFile = directory.path("new.key")
        try SecretBox.encodeKey(SecretBox.generateKeyMaterial()).write(toFile: newKeyFile, atomically: true, encoding: .utf8)
        let (switched, switchOutput) = try await run(
            ["rekey", "--database", database, "--new-key-file", newKeyFile], in: directory, environment: environment
        )
        #expect(switched == 0 && switchOutput.contains("BRIDGE_ENCRYPTION_KEY_FILE"), "\(switchOutput)")
        let (badKey, badKeyOutput) = try await run(
            ["serve", "--print-config"], in: directory,
            environment: ["BRIDGE_ENCRYPTION_KEY": "short", "SURREAL_API_TOKEN": "t", "BRIDGE_API_KEYS": "acme:0123456789abcdef"]
        )
        #expect(badKey == 78 && badKeyOutput.contains("BRIDGE_ENCRYPTION_KEY") && !badKeyOutput.contains("short"), "\(badKeyOutput)")
        let (printed, config) = try await run(
            ["serve", "--print-config"], in: directory,
            environment: ["BRIDGE_ENCRYPTION_KEY_FILE": newKeyFile, "SURREAL_API_TOKEN": "t", "BRIDGE_API_KEYS": "acme:0123456789abcdef"]
        )
        let newKey = try String(contentsOfFile: newKeyFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(printed == 0 && config.contains("BRIDGE_ENCRYPTION_KEY = <redacted>") && !config.contains(newKey), "\(config)")
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
        for command in ["serve", "simulate", "demo", "migrate", "backup", "rekey", "keys", "healthcheck"] {
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
