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
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased() else {
            return .failure(.invalid("not a valid URL"))
        }
        guard scheme == "http" || scheme == "https" else { return .failure(.invalid("only http and https URLs are allowed")) }
        guard components.user == nil, components.password == nil else {
            return .failure(.invalid("credentials in the URL are not allowed"))
        }
        guard var host = components.host?.lowercased(), !host.isEmpty else { return .failure(.invalid("URL has no host")) }
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
