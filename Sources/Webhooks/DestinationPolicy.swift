public import CurlHTTP
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Where callbacks may go. With private destinations disallowed, the transport's connect hook
/// checks the address curl actually dials (every attempt, new or pooled connection), so DNS answers
/// that change between validation and connection do not help; registration rejects what is knowable
/// early (scheme, userinfo, literal addresses, `localhost`).
public struct DestinationPolicy: Sendable {
    public let allowPrivate: Bool

    public init(allowPrivate: Bool) { self.allowPrivate = allowPrivate }

    /// The hook handed to the transport; nil when everything is allowed.
    public var connectCheck: (@Sendable (IPAddress) -> Bool)? {
        if allowPrivate { return nil }
        return { @Sendable address in AddressClassifier.blockReason(address) == nil }
    }

    /// Validates a callback URL at registration. Returns the normalised URL text or a reason.
    public func validate(_ text: String) -> Result<String, DestinationError> {
        guard text.count <= 2048 else { return .failure(.invalid("URL longer than 2048 characters")) }
        // Anywhere in the text, also trailing: what a receiver would never see the same way twice.
        if text.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7F }) {
            return .failure(.invalid("URL contains whitespace or control characters"))
        }
        // A zone id (`[fe80::1%25eth0]`) names an interface of this machine, never a receiver.
        if let open = text.firstIndex(of: "["), let close = text[open...].firstIndex(of: "]"), text[open..<close].contains("%") {
            return .failure(.invalid("IPv6 zone ids are not allowed"))
        }
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased() else {
            return .failure(.invalid("not a valid URL"))
        }
        guard scheme == "http" || scheme == "https" else { return .failure(.invalid("only http and https URLs are allowed")) }
        guard components.user == nil, components.password == nil else {
            return .failure(.invalid("credentials in the URL are not allowed"))
        }
        guard var host = components.host?.lowercased(), !host.isEmpty else { return .failure(.invalid("URL has no host")) }
        if let port = components.port, !(1...65535).contains(port) { return .failure(.invalid("port must be 1 to 65535")) }
        if host.contains("%") { return .failure(.invalid("IPv6 zone ids are not allowed")) }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !allowPrivate else { return .success(text) }
        let bare = host.hasSuffix(".") ? String(host.dropLast()) : host
        if bare == "localhost" || bare.hasSuffix(".localhost") {
            return .failure(.blocked("localhost is not an allowed destination"))
        }
        if let literal = Self.literalAddress(bare), let reason = AddressClassifier.blockReason(literal) {
            return .failure(.blocked("\(literal) is \(reason)"))
        }
        return .success(text)
    }

    /// Host text that curl would treat as an address: dotted quads, but also the shorthand, octal,
    /// hex and single-number forms `inet_aton` accepts (`127.1`, `0x7f000001`, `2130706433`).
    static func literalAddress(_ host: String) -> IPAddress? {
        if let address = IPAddress(host) { return address }
        var v4 = in_addr()
        guard inet_aton(host, &v4) != 0 else { return nil }
        return IPAddress(bytes: withUnsafeBytes(of: &v4) { Array($0) })
    }
}

public enum DestinationError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalid(String)
    case blocked(String)

    public var description: String {
        switch self {
        case .invalid(let reason), .blocked(let reason): reason
        }
    }
}
