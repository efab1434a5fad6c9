import Foundation
import TestSupport
import Testing

/// The suite must pass on a loaded machine: no test may race the wall clock.
// timing-lint: examples of bad lines follow
@Suite("Timing lint")
struct TimingLintTests {
    @Test("no test compares elapsed wall-clock time against a short bound or waits briefly")
    func repositoryIsClean() throws {
        let violations = try TimingLint.violations(under: repositoryRoot().appendingPathComponent("Tests"))
        #expect(violations.isEmpty, "\(violations.map(\.description).joined(separator: "\n"))")
    }

    @Test("the check flags the patterns that flaked", arguments: [
        "#expect(Date().timeIntervalSince(started) < 5)",
        "#expect(elapsed < 2.5, \"waited\")",
        "#expect(ContinuousClock.now - started < .seconds(2))",
        "#expect(clock.now - controlStart < .milliseconds(950))",
        "#expect(attempts[0].latencyMilliseconds >= 250 && attempts[0].latencyMilliseconds < 5000)",
        "let stoppedIn = clock.now - start\n#expect(stoppedIn < .seconds(10))",
        "#expect(await eventually(within: .seconds(5)) { done })",
        "let result = try await withDeadline(.seconds(5)) { await task.result }",
        "#expect(await harness.waitFor(.milliseconds(500)) { ready })",
    ])
    func flagsBadLines(source: String) {
        #expect(TimingLint.violations(in: source).count == 1, "\(source)")
    }

    @Test("the check leaves lower bounds, generous bounds and non-time comparisons alone", arguments: [
        "#expect(elapsed >= .milliseconds(980))",
        "#expect(gap >= 0.95)",
        "#expect(ContinuousClock.now - started < .seconds(60))",
        "#expect(opened >= 1 && opened <= 8)",
        "#expect(await eventually(within: .seconds(30)) { done })",
        "#expect(report.delay == .seconds(7))",
        "// #expect(elapsed < 1) in a comment",
    ])
    func leavesGoodLines(source: String) {
        #expect(TimingLint.violations(in: source).isEmpty, "\(source)")
    }
}
