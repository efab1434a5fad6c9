import Synchronization

/// SplitMix64: tiny, fast, and good enough for fault dice and ids; reproducible for a given seed.
/// Public so integration tests can generate their own inputs from a seed the same way.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { self.state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform value in [0, 1).
    mutating func nextUnit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }
}

/// A SplitMix64 behind a lock, so concurrent requests draw from one reproducible sequence.
final class LockedRandom: Sendable {
    private let generator: Mutex<SplitMix64>

    init(seed: UInt64) { self.generator = Mutex(SplitMix64(seed: seed)) }

    /// True with probability `ratio` (0 never draws and is false; ≥ 1 never draws and is true).
    func chance(_ ratio: Double) -> Bool {
        if !(ratio > 0) { return false }
        if ratio >= 1 { return true }
        return generator.withLock { $0.nextUnit() } < ratio
    }

    /// 32 lowercase hex characters.
    func hexID() -> String {
        let (a, b) = generator.withLock { ($0.next(), $0.next()) }
        return Self.hex16(a) + Self.hex16(b)
    }

    private static func hex16(_ value: UInt64) -> String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: 16 - text.count) + text
    }
}
