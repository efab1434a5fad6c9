// Parsers shared by the `simulate` command and by anyone configuring a simulator from text.

/// Parses a duration such as `500ms`, `5s`, `1.5s`, `10m`, `1h` or `1h30m`.
///
/// Units: `ms`, `s`, `m`, `h`. A bare `0` is accepted. Negative values, missing units,
/// and anything else return `nil`.
public func parseSimulatorDuration(_ text: String) -> Duration? {
    let trimmed = text.trimmingSpaces()
    if trimmed == "0" { return .zero }
    guard !trimmed.isEmpty else { return nil }
    var total = Duration.zero
    var rest = Substring(trimmed)
    while !rest.isEmpty {
        let number = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
        guard !number.isEmpty, number.first != ".", number.last != ".",
              number.filter({ $0 == "." }).count <= 1,
              let value = Double(number)
        else { return nil }
        rest = rest.dropFirst(number.count)
        let unit = rest.prefix { $0.isASCII && $0.isLetter }
        rest = rest.dropFirst(unit.count)
        let milliseconds: Double
        switch unit {
        case "ms": milliseconds = value
        case "s": milliseconds = value * 1000
        case "m": milliseconds = value * 60_000
        case "h": milliseconds = value * 3_600_000
        default: return nil
        }
        guard milliseconds.isFinite, milliseconds < 1e15 else { return nil }
        total += .microseconds(Int64((milliseconds * 1000).rounded()))
    }
    return total
}

/// Formats a duration the way ``parseSimulatorDuration(_:)`` reads it (`0`, `250ms`, `5s`, `1.5s`).
public func formatSimulatorDuration(_ duration: Duration) -> String {
    let ms = duration.simulatorMilliseconds
    if ms == 0 { return "0" }
    if ms % 3_600_000 == 0 { return "\(ms / 3_600_000)h" }
    if ms % 60_000 == 0 { return "\(ms / 60_000)m" }
    if ms % 1000 == 0 { return "\(ms / 1000)s" }
    return "\(ms)ms"
}

/// Parses a listen address `host:port`, `[ipv6]:port` or `:port` (host `127.0.0.1`).
/// The port must be 0…65535 (0 = any free port). Returns `nil` when malformed.
public func parseSimulatorListenAddress(_ text: String) -> (host: String, port: Int)? {
    let trimmed = text.trimmingSpaces()
    let host: String
    let portText: Substring
    if trimmed.hasPrefix("[") {
        guard let close = trimmed.firstIndex(of: "]") else { return nil }
        host = String(trimmed[trimmed.index(after: trimmed.startIndex)..<close])
        let after = trimmed[trimmed.index(after: close)...]
        guard after.hasPrefix(":") else { return nil }
        portText = after.dropFirst()
    } else {
        guard let colon = trimmed.lastIndex(of: ":") else { return nil }
        let hostPart = trimmed[..<colon]
        guard !hostPart.contains(":") else { return nil }
        host = hostPart.isEmpty ? "127.0.0.1" : String(hostPart)
        portText = trimmed[trimmed.index(after: colon)...]
    }
    guard !host.isEmpty, !portText.isEmpty, portText.allSatisfy({ $0.isASCII && $0.isNumber }),
          let port = Int(portText), (0...65535).contains(port)
    else { return nil }
    return (host, port)
}

extension Duration {
    /// Whole milliseconds (rounded down), as used in the simulator's JSON.
    var simulatorMilliseconds: Int64 {
        let parts = self.components
        return parts.seconds * 1000 + parts.attoseconds / 1_000_000_000_000_000
    }

    /// Seconds as a floating point value.
    var simulatorSeconds: Double {
        let parts = self.components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}

extension String {
    func trimmingSpaces() -> String {
        var text = Substring(self)
        while let first = text.first, first.isWhitespace { text = text.dropFirst() }
        while let last = text.last, last.isWhitespace { text = text.dropLast() }
        return String(text)
    }
}
