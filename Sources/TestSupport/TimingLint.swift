public import Foundation

/// Finds test assertions that race the wall clock: an elapsed time compared against an upper bound
/// below ``floor``, and waits bounded below ``waitFloor``. On a loaded 2-core machine such bounds
/// fail at random; time-dependent behaviour is tested with ``ManualClock``, or by order and counts.
///
/// A heuristic over source text, run by a test over `Tests/` (so the pattern cannot come back) and
/// by a test of its own on known good and bad lines (so the check itself is known to work).
public enum TimingLint {
    /// An upper bound on elapsed wall-clock time below this is a violation.
    public static let floor: Double = 30
    /// A wait (`eventually(within:)`, `waitFor(…)`, `withDeadline(…)`) bounded below this is a violation.
    public static let waitFloor: Double = 20

    public struct Violation: Sendable, Equatable, CustomStringConvertible {
        public var file: String
        public var line: Int
        public var text: String
        public var reason: String
        public var description: String { "\(file):\(line): \(reason): \(text)" }
    }

    /// A file holding this line is a file of examples for the check itself and is not checked.
    public static let exampleMarker = "timing-lint: examples of bad lines follow"

    /// Words that mark an expression as elapsed time.
    static let timeWords = [
        "elapsed", "timeIntervalSince", ".now -", ".now-", "ContinuousClock.now", "latency", "took", "stoppedIn",
    ]

    public static func violations(in source: String, file: String = "<source>") -> [Violation] {
        let lines = source.components(separatedBy: "\n")
        // Names bound to a clock difference (`let stoppedIn = clock.now - start`) count as elapsed time.
        var names = Set<String>()
        let binding = try? NSRegularExpression(pattern: #"\b(?:let|var)\s+(\w+)\s*=\s*(.*)$"#)
        for line in lines {
            let range = NSRange(line.startIndex..., in: line)
            guard let match = binding?.firstMatch(in: line, range: range),
                let name = Range(match.range(at: 1), in: line), let value = Range(match.range(at: 2), in: line)
            else { continue }
            if timeWords.contains(where: { line[value].contains($0) }) { names.insert(String(line[name])) }
        }
        var found: [Violation] = []
        for (index, line) in lines.enumerated() {
            let code = line.components(separatedBy: "//")[0]
            if code.contains("#expect(") || code.contains("#require(") || code.contains("XCTAssert") {
                let mentionsTime = timeWords.contains { code.contains($0) }
                    || names.contains { code.range(of: #"\b\#($0)\b"#, options: .regularExpression) != nil }
                if mentionsTime, let bound = upperBound(in: code), bound < floor {
                    found.append(Violation(file: file, line: index + 1, text: line.trimmed, reason: "elapsed time bounded by \(bound) s (< \(floor) s)"))
                }
            }
            if let wait = waitBound(in: code), wait < waitFloor {
                found.append(Violation(file: file, line: index + 1, text: line.trimmed, reason: "wait bounded by \(wait) s (< \(waitFloor) s)"))
            }
        }
        return found
    }

    /// Every violation in the Swift files under `directory`.
    public static func violations(under directory: URL) throws -> [Violation] {
        let files = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: nil)?
            .compactMap { $0 as? URL }.filter { $0.pathExtension == "swift" } ?? []
        return try files.sorted { $0.path < $1.path }.flatMap { url -> [Violation] in
            let source = try String(contentsOf: url, encoding: .utf8)
            // The check's own tests hold the bad lines as examples.
            return source.contains(exampleMarker) ? [] : violations(in: source, file: url.lastPathComponent)
        }
    }

    /// The smallest upper bound (`< x`, `<= x`) in a line, in seconds.
    static func upperBound(in code: String) -> Double? {
        let pattern = #"<=?\s*(\.seconds\(([\d_.]+)\)|\.milliseconds\(([\d_]+)\)|([\d_.]+))"#
        return seconds(matching: pattern, in: code, millisecondsIf: { code.lowercased().contains("milliseconds") && !code.contains(".milliseconds(") })
    }

    /// The bound of a wait helper called on this line, in seconds.
    static func waitBound(in code: String) -> Double? {
        let pattern = #"(?:eventually\(within:|waitFor\(|withDeadline\(|waitForExit\(within:|announcedBaseURL\(within:)\s*(\.seconds\(([\d_.]+)\)|\.milliseconds\(([\d_]+)\)|([\d_.]+))"#
        return seconds(matching: pattern, in: code, millisecondsIf: { false })
    }

    private static func seconds(matching pattern: String, in code: String, millisecondsIf: () -> Bool) -> Double? {
        guard let regex = try? NSRegularExpression(pattern: pattern) else { return nil }
        let matches = regex.matches(in: code, range: NSRange(code.startIndex..., in: code))
        let values = matches.compactMap { match -> Double? in
            func group(_ index: Int) -> Double? {
                Range(match.range(at: index), in: code).flatMap { Double(code[$0].replacingOccurrences(of: "_", with: "")) }
            }
            if let seconds = group(2) { return seconds }
            if let milliseconds = group(3) { return milliseconds / 1000 }
            if let bare = group(4) { return millisecondsIf() ? bare / 1000 : bare }
            return nil
        }
        return values.min()
    }
}

extension String {
    fileprivate var trimmed: String { trimmingCharacters(in: .whitespaces) }
}
