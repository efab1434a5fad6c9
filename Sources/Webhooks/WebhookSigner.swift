import Crypto
public import Foundation

/// Standard Webhooks signatures: `v1,` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")).
/// With several secrets (during a rotation grace period) the header carries one signature per
/// secret, space-separated; receivers accept a message if any of them verifies.
public enum WebhookSigner {
    /// A secret ready to sign: the HMAC state after absorbing the key, copied for each message
    /// (prepare once per secret, not per delivery).
    public struct Key: Sendable {
        fileprivate let keyed: HMAC<SHA256>

        public init(_ secret: WebhookSecret) {
            keyed = HMAC<SHA256>(key: SymmetricKey(data: secret.key))
        }

        /// `v1,` + base64(HMAC-SHA256("{id}.{timestamp}.{body}")), without copying the body.
        public func signature(id: String, timestamp: Int64, body: Data) -> String {
            var mac = keyed
            mac.update(data: Data("\(id).\(timestamp).".utf8))
            mac.update(data: body)
            return "v1," + Data(mac.finalize()).base64EncodedString()
        }
    }

    public static func signature(id: String, timestamp: Int64, body: Data, secret: WebhookSecret) -> String {
        Key(secret).signature(id: id, timestamp: timestamp, body: body)
    }

    /// The `webhook-signature` header value for every secret given, newest first.
    public static func header(id: String, timestamp: Int64, body: Data, secrets: [WebhookSecret]) -> String {
        header(id: id, timestamp: timestamp, body: body, keys: secrets.map(Key.init))
    }

    /// The `webhook-signature` header value for every prepared key given, newest first.
    public static func header(id: String, timestamp: Int64, body: Data, keys: [Key]) -> String {
        keys.map { $0.signature(id: id, timestamp: timestamp, body: body) }.joined(separator: " ")
    }

    /// Verifies like the official libraries: any `v1` signature in the header matching any secret, in
    /// constant time, with the timestamp within `tolerance` of `now`.
    public static func verify(
        id: String,
        timestamp: Int64,
        body: Data,
        header: String,
        secrets: [WebhookSecret],
        now: Date = Date(),
        tolerance: TimeInterval = 300
    ) -> Bool {
        guard abs(now.timeIntervalSince1970 - TimeInterval(timestamp)) <= tolerance else { return false }
        let offered = header.split(separator: " ").compactMap { part -> Data? in
            let pieces = part.split(separator: ",", maxSplits: 1)
            guard pieces.count == 2, pieces[0] == "v1" else { return nil }
            return Data(base64Encoded: String(pieces[1]))
        }
        for secret in secrets {
            var message = Data("\(id).\(timestamp).".utf8)
            message.append(body)
            let key = SymmetricKey(data: secret.key)
            for candidate in offered where HMAC<SHA256>.isValidAuthenticationCode(candidate, authenticating: message, using: key) {
                return true
            }
        }
        return false
    }
}
