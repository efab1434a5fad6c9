public import Foundation

/// Stored `Idempotency-Key` responses, per key: claimed before the request runs, completed with its
/// first response (sealed at rest), released when the request failed before any side effect.
public protocol IdempotencyStore: Sendable {
    func claimIdempotencyKey(tenant: String, key: String, requestHash: String, ttl: Duration, now: Date)
        async throws(StoreError) -> IdempotencyClaim
    func completeIdempotencyKey(tenant: String, key: String, status: Int, contentType: String?, body: Data)
        async throws(StoreError)
    func releaseIdempotencyKey(tenant: String, key: String) async throws(StoreError)
}
