/// Durations as operators write them: `500ms`, `5s`, `10m`, `24h`, `7d`, or a sum like `1h30m`.
/// (The simulator has its own parser on purpose: it imports no bridge module.)
public enum DurationText {
    public static func parse(_ text: String) -> Duration? {
        var rest = Substring(text.trimmingCharacters(in: .whitespaces))
        guard !rest.isEmpty else { return nil }
        if rest == "0" { return .zero }
        var total = Duration.zero
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            guard !number.isEmpty, let value = Double(number), value >= 0 else { return nil }
            rest = rest.dropFirst(number.count)
            let unit = rest.prefix { $0.isLetter }
            rest = rest.dropFirst(unit.count)
            let seconds: Double
            switch unit {
            case "ms": seconds = value / 1000
            case "s": seconds = value
            case "m": seconds = value * 60
            case "h": seconds = value * 3600
            case "d": seconds = value * 86_400
            default: return nil
            }
            // A value past any sensible setting (or past Int64 milliseconds) is a bad value, not a trap.
            guard seconds.isFinite, seconds <= maximumSeconds else { return nil }
            total += .milliseconds(Int64((seconds * 1000).rounded()))
            guard total <= .seconds(Int64(maximumSeconds)) else { return nil }
        }
        return total
    }

    /// The longest duration any setting takes: 100 years.
    public static let maximumSeconds: Double = 100 * 365 * 86_400

    /// The shortest exact form: `2s`, `500ms`, `24h`.
    public static func format(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let milliseconds = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        if milliseconds % 1000 != 0 { return "\(milliseconds)ms" }
        let whole = milliseconds / 1000
        if whole >= 172_800, whole % 86_400 == 0 { return "\(whole / 86_400)d" }
        if whole != 0, whole % 3600 == 0 { return "\(whole / 3600)h" }
        if whole != 0, whole % 60 == 0 { return "\(whole / 60)m" }
        return "\(whole)s"
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: Set<Character>) -> String {
        String(drop { set.contains($0) }.reversed().drop { set.contains($0) }.reversed())
    }
}

extension Set where Element == Character {
    fileprivate static let whitespaces: Set<Character> = [" ", "\t", "\n", "\r"]
}
