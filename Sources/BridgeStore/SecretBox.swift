import Crypto
public import Foundation

/// AES-256-GCM for what the database must keep but nobody may read from a copy of it: signing
/// secrets and stored idempotent responses (which may carry a secret).
///
/// A sealed value is text: `enc1:<key id>:<base64 of nonce ‖ ciphertext ‖ tag>`. The key id is the
/// first 8 hex digits of SHA-256 of the key, so a value names the key it needs without revealing
/// it. Each value is bound to where it is stored (`context`, as authenticated data): a secret
/// copied onto another subscription's row does not open.
public struct SecretBox: Sendable {
    public static let prefix = "enc1:"

    public let keyID: String
    private let key: SymmetricKey

    /// - Parameter keyMaterial: exactly 32 bytes.
    public init?(keyMaterial: Data) {
        guard keyMaterial.count == 32 else { return nil }
        key = SymmetricKey(data: keyMaterial)
        keyID = Self.keyID(of: keyMaterial)
    }

    public static func keyID(of keyMaterial: Data) -> String {
        SHA256.hash(data: keyMaterial).prefix(4).map { String(format: "%02x", $0) }.joined()
    }

    /// 32 random bytes from the system's generator.
    public static func generateKeyMaterial() -> Data {
        SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
    }

    /// A key as written in `BRIDGE_ENCRYPTION_KEY` or a key file: base64 (44 characters) or hex (64),
    /// surrounding whitespace ignored. Nil unless it is exactly 32 bytes.
    public static func parseKey(_ text: String) -> Data? {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.count == 64, let hex = Self.hexBytes(trimmed) { return hex }
        guard let data = Data(base64Encoded: trimmed), data.count == 32 else { return nil }
        return data
    }

    /// How a key is written to a key file.
    public static func encodeKey(_ keyMaterial: Data) -> String { keyMaterial.base64EncodedString() + "\n" }

    public static func isSealed(_ text: String) -> Bool { text.hasPrefix(prefix) }

    public func seal(_ plaintext: Data, context: String) throws(StoreError) -> String {
        do {
            let box = try AES.GCM.seal(plaintext, using: key, authenticating: Data(context.utf8))
            guard let combined = box.combined else { throw StoreError.other("AES-GCM produced no combined form") }
            return Self.prefix + keyID + ":" + combined.base64EncodedString()
        } catch let error as StoreError {
            throw error
        } catch {
            throw .other("cannot encrypt: \(error)")
        }
    }

    public func seal(_ plaintext: String, context: String) throws(StoreError) -> String {
        try seal(Data(plaintext.utf8), context: context)
    }

    public func open(_ sealed: String, context: String) throws(StoreError) -> Data {
        let parts = sealed.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "enc1", let combined = Data(base64Encoded: String(parts[2])) else {
            throw .invalidData("a stored secret is not in the sealed form")
        }
        guard parts[1] == keyID else {
            throw .invalidData("a stored secret is sealed under key \(parts[1]), not the configured key \(keyID)")
        }
        do {
            return try AES.GCM.open(AES.GCM.SealedBox(combined: combined), using: key, authenticating: Data(context.utf8))
        } catch {
            throw .invalidData("a stored secret does not open under key \(keyID) (altered or moved)")
        }
    }

    public func openText(_ sealed: String, context: String) throws(StoreError) -> String {
        String(decoding: try open(sealed, context: context), as: UTF8.self)
    }

    /// Authenticated data for a subscription's signing secret.
    public static func secretContext(subscriptionID: String) -> String { "subscription-secret\u{0}" + subscriptionID }

    /// Authenticated data for a subscription's custom headers.
    public static func headersContext(subscriptionID: String) -> String { "subscription-headers\u{0}" + subscriptionID }

    /// Authenticated data for a stored idempotent response.
    public static func responseContext(tenant: String, key: String) -> String { "idempotent-response\u{0}" + tenant + "\u{0}" + key }

    private static func hexBytes(_ text: String) -> Data? {
        var bytes = Data()
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            guard let byte = UInt8(text[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        return bytes
    }
}

extension SecretBox {
    /// A subscription's custom headers as stored: the sealed JSON of all of them, and the masked JSON
    /// shown back (nil, nil without any).
    public func sealHeaders(_ headers: [CustomHeader], subscriptionID: String) throws(StoreError) -> (sealed: String?, masks: String?) {
        guard let clear = CustomHeader.encode(headers) else { return (nil, nil) }
        return (try seal(clear, context: Self.headersContext(subscriptionID: subscriptionID)), CustomHeader.encode(headers.map(\.masked)))
    }

    public func openHeaders(_ sealed: String?, subscriptionID: String) throws(StoreError) -> [CustomHeader] {
        guard let sealed else { return [] }
        return try CustomHeader.decode(openText(sealed, context: Self.headersContext(subscriptionID: subscriptionID)))
    }
}
