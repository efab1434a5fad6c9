import Crypto
public import Foundation

/// Standard Webhooks signatures: `v1,` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")).
/// With several secrets (during a rotation grace period) the header carries one signature per
/// secret, space-separated; receivers accept a message if any of them verifies.
public enum WebhookSigner {
    public static func signature(id: String, timestamp: Int64, body: Data, secret: WebhookSecret) -> String {
        var message = Data("\(id).\(timestamp).".utf8)
        message.append(body)
        let mac = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: secret.key))
        return "v1," + Data(mac).base64EncodedString()
    }

    /// The `webhook-signature` header value for every secret given, newest first.
    public static func header(id: String, timestamp: Int64, body: Data, secrets: [WebhookSecret]) -> String {
        secrets.map { signature(id: id, timestamp: timestamp, body: body, secret: $0) }.joined(separator: " ")
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
