import Foundation
import TestSupport
import Testing

/// The operator console in a real headless Chromium, driven by Selenium (`Tests/Console/console_test.py`)
/// against the real binary and the simulator; the script runs its own receiver so it can break and fix
/// it. It signs in, creates a subscription, pings, sees a failing receiver's status code, retries after
/// the fix, disables and enables, rotates the secret, edits, deletes after confirming, reads the event
/// log and health, checks 360 px, signs in with another key and sees none of the first key's things;
/// then it checks the browser's network log (nothing leaves the bridge's origin) and console (no CSP
/// violation). Screenshots land in `.build/console-screenshots/`.
@Suite("Operator console in a real browser")
struct ConsoleBrowserTests {
    static let keyA = "console-key-a-0123456789abcdef"
    static let keyB = "console-key-b-0123456789abcdef"

    @Test("the console end to end in headless Chromium: every view and action, offline, inside its CSP, tenants apart")
    func browser() async throws {
        try await withScope { scope in
            let directory = try TemporaryDirectory("console")
            defer { directory.remove() }
            let simulator = scope.adopt(try await startFaultSimulator(seed: 17))
            var settings = ServeProcess.settings(
                database: directory.path("bridge.sqlite"), upstream: simulator.baseURL, token: "e2e-token",
                apiKeys: "alice:\(Self.keyA),bob:\(Self.keyB)", logLevel: "info"
            )
            settings["BRIDGE_POLL_INTERVAL"] = "500ms"
            // bob has an upstream account of its own (the health view says which one a key uses).
            settings["BRIDGE_UPSTREAM_TOKENS"] = "bob:bob-own-upstream-token"
            let bridge = try await ServeProcess.start(binary: try bridgeBinaryPath(), settings: settings, log: directory.path("serve.log"))
            scope.onExit { await bridge.process.kill9() }

            let root = repositoryRoot()
            let screenshots = root.appendingPathComponent(".build/console-screenshots").path
            // The python3 on PATH, the one `make test-deps` installed Selenium and standardwebhooks into.
            var environment = ProcessInfo.processInfo.environment
            for (name, value) in ["CONSOLE_URL": bridge.baseURL, "KEY_A": Self.keyA, "KEY_B": Self.keyB, "SCREENSHOTS": screenshots] {
                environment[name] = value
            }
            let browser = try ChildProcess(
                executable: "/usr/bin/env",
                arguments: ["python3", "-u", root.appendingPathComponent("Tests/Console/console_test.py").path],
                environment: environment, outputPath: directory.path("browser.log")
            )
            // The script quits its browser on SIGTERM; -9 only if it does not end by itself.
            scope.onExit {
                guard browser.poll() == nil else { return }
                browser.signal(SIGTERM)
                if await browser.waitForExit(within: .seconds(30)) == nil { await browser.kill9() }
            }
            let status = await browser.waitForExit(within: .seconds(600))
            let output = browser.output
            print(output.split(separator: "\n").filter { $0.hasPrefix("[console] ok") || $0.hasPrefix("[console] PASS") }.joined(separator: "\n"))
            #expect(status != nil, "the browser test did not finish in 600 s:\n\(tail(output))")
            if let status {
                #expect(ChildProcess.exitedNormally(status), "\(tail(output, lines: 60))\n--- serve ---\n\(tail(bridge.process.output))")
            }
            #expect(output.contains("[console] PASS"))
        }
    }
}
