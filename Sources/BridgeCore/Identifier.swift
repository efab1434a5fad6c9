public import Foundation

/// Prefixed, time-sortable identifiers (`evt_01JD…`): 48 bits of milliseconds then 80 random bits
/// from the system CSPRNG, in Crockford base32 (the ULID layout). Sortable by creation time,
/// unguessable, and safe in URLs.
public enum Identifier {
    private static let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)

    public static func make(_ prefix: String, now: Date = Date()) -> String {
        var generator = SystemRandomNumberGenerator()
        let milliseconds = UInt64(max(0, now.timeIntervalSince1970 * 1000))
        var bytes = [UInt8](repeating: 0, count: 16)
        for index in 0..<6 { bytes[index] = UInt8(truncatingIfNeeded: milliseconds >> (8 * (5 - index))) }
        for index in 6..<16 { bytes[index] = generator.next() }
        return prefix + "_" + base32(bytes)
    }

    /// 128 bits → 26 characters, most significant first.
    private static func base32(_ bytes: [UInt8]) -> String {
        var high: UInt64 = 0
        var low: UInt64 = 0
        for index in 0..<8 { high = high << 8 | UInt64(bytes[index]) }
        for index in 8..<16 { low = low << 8 | UInt64(bytes[index]) }
        var characters = [UInt8](repeating: 0, count: 26)
        for index in (0..<26).reversed() {
            characters[index] = alphabet[Int(low & 31)]
            low = (low >> 5) | (high << 59)
            high >>= 5
        }
        return String(decoding: characters, as: UTF8.self)
    }

    /// Whether `text` looks like an identifier with this prefix (for rejecting bad path ids early).
    public static func isValid(_ text: String, prefix: String) -> Bool {
        guard text.hasPrefix(prefix + "_") else { return false }
        let body = text.utf8.dropFirst(prefix.utf8.count + 1)
        return body.count == 26 && body.allSatisfy { alphabet.contains($0) }
    }
}
