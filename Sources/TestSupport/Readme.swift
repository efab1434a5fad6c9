import Foundation

/// The first fenced code block of `language` after `heading` in the repository's README, or nil.
/// Tests run the README's examples as written, so documentation cannot drift from behaviour.
public func readmeCodeBlock(after heading: String, language: String, file: String = #filePath) throws -> String? {
    let readme = try String(contentsOf: repositoryRoot(file: file).appendingPathComponent("README.md"), encoding: .utf8)
    guard let section = readme.range(of: heading),
        let start = readme.range(of: "```\(language)\n", range: section.upperBound..<readme.endIndex),
        let end = readme.range(of: "```", range: start.upperBound..<readme.endIndex)
    else { return nil }
    return String(readme[start.upperBound..<end.lowerBound])
}
