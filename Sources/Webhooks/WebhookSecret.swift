import Foundation

/// A Standard Webhooks signing secret: `whsec_` + base64 of 24–64 random bytes.
/// The HMAC key is the decoded bytes, not the text.
public struct WebhookSecret: Sendable, Equatable, CustomStringConvertible {
    public static let prefix = "whsec_"
    public let text: String
    public let key: [UInt8]

    /// Parses `whsec_…`; nil unless the base64 part decodes to 24–64 bytes.
    public init?(_ text: String) {
        guard text.hasPrefix(Self.prefix), let data = Data(base64Encoded: String(text.dropFirst(Self.prefix.count))),
            (24...64).contains(data.count)
        else { return nil }
        self.text = text
        self.key = Array(data)
    }

    /// A new secret of `byteCount` bytes from the system CSPRNG.
    public static func generate(byteCount: Int = 32) -> WebhookSecret {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<min(max(byteCount, 24), 64)).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        let text = prefix + Data(bytes).base64EncodedString()
        // A freshly encoded secret always parses; the fallback keeps this total without a trap.
        return WebhookSecret(text) ?? WebhookSecret(unchecked: text, key: bytes)
    }

    private init(unchecked text: String, key: [UInt8]) {
        self.text = text
        self.key = key
    }

    public var description: String { "whsec_<redacted>" }
}
