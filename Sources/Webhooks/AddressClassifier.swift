public import CurlHTTP

/// Which addresses a callback must never reach unless private destinations are allowed.
///
/// The tables are the IANA IPv4 and IPv6 Special-Purpose Address Registries
/// (https://www.iana.org/assignments/iana-ipv4-special-registry and
/// https://www.iana.org/assignments/iana-ipv6-special-registry, as of 2026-11), every entry with
/// its "Globally Reachable" column: an entry that is not `True` is blocked, a more specific `True`
/// entry inside a blocked block (PCP and TURN anycast, AS112, AMT, ORCHIDv2, DET) is allowed again —
/// the longest matching prefix decides. Added beside the registries, as the contract asks: multicast
/// (224.0.0.0/4, ff00::/8) and the deprecated IPv6 forms (IPv4-compatible ::/96, site-local
/// fec0::/10). IPv4 embedded in IPv6 (mapped, NAT64, 6to4, Teredo) is judged by the embedded address.
public enum AddressClassifier {
    /// Why `address` is blocked, or nil when it is a globally reachable unicast address.
    public static func blockReason(_ address: IPAddress) -> String? {
        address.isIPv4 ? v4Reason(address.bytes) : v6Reason(address.bytes)
    }

    /// One registry entry: a prefix, whether it is globally reachable, and its name.
    struct Entry: Sendable {
        let bytes: [UInt8]
        let length: Int
        let reachable: Bool
        let name: String

        init(_ prefix: String, _ length: Int, reachable: Bool = false, _ name: String) {
            self.bytes = IPAddress(prefix)?.bytes ?? []
            self.length = length
            self.reachable = reachable
            self.name = name
        }

        func contains(_ address: [UInt8]) -> Bool {
            guard address.count == bytes.count else { return false }
            let whole = length / 8
            guard address[..<whole] == bytes[..<whole] else { return false }
            let rest = length % 8
            guard rest > 0 else { return true }
            let mask = UInt8(0xFF) << (8 - rest)
            return address[whole] & mask == bytes[whole] & mask
        }
    }

    static let v4Table: [Entry] = [
        Entry("0.0.0.0", 8, "\"this network\" (0.0.0.0/8)"),
        Entry("10.0.0.0", 8, "private (10.0.0.0/8)"),
        Entry("100.64.0.0", 10, "shared address space / carrier-grade NAT (100.64.0.0/10)"),
        Entry("127.0.0.0", 8, "loopback (127.0.0.0/8)"),
        Entry("169.254.0.0", 16, "link-local / cloud metadata (169.254.0.0/16)"),
        Entry("172.16.0.0", 12, "private (172.16.0.0/12)"),
        Entry("192.0.0.0", 24, "IETF protocol assignments (192.0.0.0/24)"),
        Entry("192.0.0.0", 29, "IPv4 service continuity prefix (192.0.0.0/29)"),
        Entry("192.0.0.8", 32, "IPv4 dummy address (192.0.0.8/32)"),
        Entry("192.0.0.9", 32, reachable: true, "PCP anycast"),
        Entry("192.0.0.10", 32, reachable: true, "TURN anycast"),
        Entry("192.0.0.170", 32, "NAT64/DNS64 discovery (192.0.0.170/32)"),
        Entry("192.0.0.171", 32, "NAT64/DNS64 discovery (192.0.0.171/32)"),
        Entry("192.0.2.0", 24, "documentation (192.0.2.0/24)"),
        Entry("192.31.196.0", 24, reachable: true, "AS112-v4"),
        Entry("192.52.193.0", 24, reachable: true, "AMT"),
        Entry("192.88.99.0", 24, "deprecated 6to4 relay anycast (192.88.99.0/24)"),
        Entry("192.168.0.0", 16, "private (192.168.0.0/16)"),
        Entry("192.175.48.0", 24, reachable: true, "direct delegation AS112 service"),
        Entry("198.18.0.0", 15, "benchmarking (198.18.0.0/15)"),
        Entry("198.51.100.0", 24, "documentation (198.51.100.0/24)"),
        Entry("203.0.113.0", 24, "documentation (203.0.113.0/24)"),
        Entry("224.0.0.0", 4, "multicast (224.0.0.0/4)"),
        Entry("240.0.0.0", 4, "reserved (240.0.0.0/4)"),
        Entry("255.255.255.255", 32, "limited broadcast (255.255.255.255/32)"),
    ]

    static let v6Table: [Entry] = [
        Entry("::", 128, "unspecified (::)"),
        Entry("::1", 128, "loopback (::1)"),
        Entry("::", 96, "IPv4-compatible (::/96, deprecated)"),
        Entry("64:ff9b:1::", 48, "local-use IPv4/IPv6 translation (64:ff9b:1::/48)"),
        Entry("100::", 64, "discard-only (100::/64)"),
        Entry("100:0:0:1::", 64, "dummy IPv6 prefix (100:0:0:1::/64)"),
        Entry("2001::", 23, "IETF protocol assignments (2001::/23)"),
        Entry("2001:1::1", 128, reachable: true, "PCP anycast"),
        Entry("2001:1::2", 128, reachable: true, "TURN anycast"),
        Entry("2001:1::3", 128, reachable: true, "DNS-SD service registration protocol anycast"),
        Entry("2001:2::", 48, "benchmarking (2001:2::/48)"),
        Entry("2001:3::", 32, reachable: true, "AMT"),
        Entry("2001:4:112::", 48, reachable: true, "AS112-v6"),
        Entry("2001:10::", 28, "deprecated ORCHID (2001:10::/28)"),
        Entry("2001:20::", 28, reachable: true, "ORCHIDv2"),
        Entry("2001:30::", 28, reachable: true, "drone remote ID (DET)"),
        Entry("2001:db8::", 32, "documentation (2001:db8::/32)"),
        Entry("2620:4f:8000::", 48, reachable: true, "direct delegation AS112 service"),
        Entry("3fff::", 20, "documentation (3fff::/20)"),
        Entry("5f00::", 16, "segment routing SRv6 SIDs (5f00::/16)"),
        Entry("fc00::", 7, "unique local (fc00::/7)"),
        Entry("fe80::", 10, "link-local (fe80::/10)"),
        Entry("fec0::", 10, "site-local (fec0::/10, deprecated)"),
        Entry("ff00::", 8, "multicast (ff00::/8)"),
    ]

    /// The longest matching entry decides; nil when none matches (globally reachable).
    static func reason(_ bytes: [UInt8], in table: [Entry]) -> String? {
        let match = table.filter { $0.contains(bytes) }.max { $0.length < $1.length }
        guard let match, !match.reachable else { return nil }
        return match.name
    }

    private static func v4Reason(_ bytes: [UInt8]) -> String? {
        reason(Array(bytes.prefix(4)), in: v4Table)
    }

    private static func v6Reason(_ bytes: [UInt8]) -> String? {
        guard bytes.count == 16 else { return "not an address" }
        func zero(_ range: Range<Int>) -> Bool { bytes[range].allSatisfy { $0 == 0 } }
        func embedded(_ offset: Int, xor mask: UInt8 = 0) -> [UInt8] { bytes[offset..<offset + 4].map { $0 ^ mask } }
        func via(_ kind: String, _ v4: [UInt8]) -> String? { v4Reason(v4).map { "\(kind) embedding \($0)" } }

        // Forms that carry an IPv4 address are judged by it (and are otherwise as reachable as it is).
        if zero(0..<10), bytes[10] == 0xFF, bytes[11] == 0xFF { return via("IPv4-mapped", embedded(12)) }
        if bytes[0] == 0x00, bytes[1] == 0x64, bytes[2] == 0xFF, bytes[3] == 0x9B, zero(4..<12) {
            return via("NAT64", embedded(12))
        }
        if bytes[0] == 0x20, bytes[1] == 0x02 { return via("6to4", embedded(2)) }
        if bytes[0] == 0x20, bytes[1] == 0x01, bytes[2] == 0x00, bytes[3] == 0x00 {
            // Teredo: server IPv4 in bits 32–63, client IPv4 obfuscated (inverted) in the last 32 bits.
            return via("Teredo", embedded(4)) ?? via("Teredo", embedded(12, xor: 0xFF))
        }
        return reason(bytes, in: v6Table)
    }
}
