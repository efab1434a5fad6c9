public import CurlHTTP

/// Which addresses a callback must never reach unless private destinations are allowed:
/// everything that is not globally routable unicast, for IPv4 and IPv6 alike, including IPv4
/// addresses embedded in IPv6 (mapped, compatible, NAT64, 6to4, Teredo).
public enum AddressClassifier {
    /// Why `address` is blocked, or nil when it is a public unicast address.
    public static func blockReason(_ address: IPAddress) -> String? {
        address.isIPv4 ? v4Reason(address.bytes) : v6Reason(address.bytes)
    }

    private struct V4Range {
        let base: UInt32
        let prefix: Int
        let reason: String

        func contains(_ value: UInt32) -> Bool {
            prefix == 0 || (value ^ base) >> (32 - prefix) == 0
        }
    }

    private static let v4Ranges: [V4Range] = [
        V4Range(base: 0x0000_0000, prefix: 8, reason: "unspecified (0.0.0.0/8)"),
        V4Range(base: 0x0A00_0000, prefix: 8, reason: "private (10.0.0.0/8)"),
        V4Range(base: 0x6440_0000, prefix: 10, reason: "carrier-grade NAT (100.64.0.0/10)"),
        V4Range(base: 0x7F00_0000, prefix: 8, reason: "loopback (127.0.0.0/8)"),
        V4Range(base: 0xA9FE_0000, prefix: 16, reason: "link-local / cloud metadata (169.254.0.0/16)"),
        V4Range(base: 0xAC10_0000, prefix: 12, reason: "private (172.16.0.0/12)"),
        V4Range(base: 0xC000_0000, prefix: 24, reason: "IETF protocol assignments (192.0.0.0/24)"),
        V4Range(base: 0xC000_0200, prefix: 24, reason: "documentation (192.0.2.0/24)"),
        V4Range(base: 0xC058_6300, prefix: 24, reason: "6to4 relay anycast (192.88.99.0/24)"),
        V4Range(base: 0xC0A8_0000, prefix: 16, reason: "private (192.168.0.0/16)"),
        V4Range(base: 0xC612_0000, prefix: 15, reason: "benchmarking (198.18.0.0/15)"),
        V4Range(base: 0xC633_6400, prefix: 24, reason: "documentation (198.51.100.0/24)"),
        V4Range(base: 0xCB00_7100, prefix: 24, reason: "documentation (203.0.113.0/24)"),
        V4Range(base: 0xE000_0000, prefix: 4, reason: "multicast (224.0.0.0/4)"),
        V4Range(base: 0xF000_0000, prefix: 4, reason: "reserved or broadcast (240.0.0.0/4)"),
    ]

    private static func v4Reason(_ bytes: [UInt8]) -> String? {
        let value = bytes.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        return v4Ranges.first { $0.contains(value) }?.reason
    }

    private static func v6Reason(_ bytes: [UInt8]) -> String? {
        guard bytes.count == 16 else { return "not an address" }
        func zero(_ range: Range<Int>) -> Bool { bytes[range].allSatisfy { $0 == 0 } }
        func embedded(_ offset: Int, xor mask: UInt8 = 0) -> [UInt8] { bytes[offset..<offset + 4].map { $0 ^ mask } }
        func via(_ kind: String, _ v4: [UInt8]) -> String? { v4Reason(v4).map { "\(kind) embedding \($0)" } }

        if zero(0..<16) { return "unspecified (::)" }
        if zero(0..<15), bytes[15] == 1 { return "loopback (::1)" }
        if zero(0..<10), bytes[10] == 0xFF, bytes[11] == 0xFF { return via("IPv4-mapped", embedded(12)) }
        if zero(0..<12) { return "IPv4-compatible (::/96, deprecated)" }
        if bytes[0] == 0x00, bytes[1] == 0x64, bytes[2] == 0xFF, bytes[3] == 0x9B {
            if zero(4..<12) { return via("NAT64", embedded(12)) }
            if bytes[4] == 0x00, bytes[5] == 0x01 { return "local-use NAT64 (64:ff9b:1::/48)" }
        }
        if bytes[0] == 0x01, zero(1..<8) { return "discard-only (100::/64)" }
        if bytes[0] == 0x20, bytes[1] == 0x01, bytes[2] == 0x00, bytes[3] == 0x00 {
            // Teredo: server IPv4 in bits 32–63, client IPv4 obfuscated (inverted) in the last 32 bits.
            return via("Teredo", embedded(4)) ?? via("Teredo", embedded(12, xor: 0xFF))
        }
        if bytes[0] == 0x20, bytes[1] == 0x01, bytes[2] == 0x0D, bytes[3] == 0xB8 { return "documentation (2001:db8::/32)" }
        if bytes[0] == 0x20, bytes[1] == 0x02 { return via("6to4", embedded(2)) }
        if bytes[0] & 0xFE == 0xFC { return "unique local (fc00::/7)" }
        if bytes[0] == 0xFE, bytes[1] & 0xC0 == 0x80 { return "link-local (fe80::/10)" }
        if bytes[0] == 0xFE, bytes[1] & 0xC0 == 0xC0 { return "site-local (fec0::/10, deprecated)" }
        if bytes[0] == 0xFF { return "multicast (ff00::/8)" }
        return nil
    }
}
