import BridgeStore
import Crypto
import Foundation
import HTTPTypes
import Logging
import OpenAPIRuntime

/// Buffers request bodies up to a limit (larger: 413, nothing done) and implements `Idempotency-Key`
/// on POST: the first response for a (caller, key) is stored and returned again for 24 h; the same
/// key with another request is a 422, and a retry while the first is still running a 409. The key is
/// claimed in SQLite before the handler runs, so a retried `video.generate` can never reach the
/// upstream twice, even across a crash in between (that retry gets 409 until the key expires).
/// A response that cannot be recorded at once (database busy) is kept and recorded later; until
/// then retries answer 409.
struct RequestBodyMiddleware: ServerMiddleware {
    /// The key a request runs under, for a handler that must finish it later itself (an accepted
    /// render whose recording waits for the database).
    struct Claim: Sendable {
        let tenant: String
        let key: String
    }

    @TaskLocal static var claim: Claim?

    /// JSON bodies compare by meaning (key order and whitespace do not matter); others byte for byte.
    static func canonical(_ bytes: [UInt8]) -> Data {
        let data = Data(bytes)
        guard let parsed = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]),
            let normalised = try? JSONSerialization.data(withJSONObject: parsed, options: [.sortedKeys, .fragmentsAllowed])
        else { return data }
        return normalised
    }

    static let idempotencyKey = HTTPField.Name("Idempotency-Key")
    static let replayed = HTTPField.Name("Idempotent-Replayed")

    let store: any IdempotencyStore
    let deferred: DeferredWrites
    let limit: Int
    let ttl: Duration
    let now: @Sendable () -> Date
    let logger: Logger

    func intercept(
        _ request: HTTPRequest,
        body: HTTPBody?,
        metadata: ServerRequestMetadata,
        operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        var bytes: [UInt8] = []
        if let body {
            do {
                bytes = Array(try await ArraySlice<UInt8>(collecting: body, upTo: limit))
            } catch {
                throw BridgeError.payloadTooLarge(limit: limit)
            }
        }
        let buffered: HTTPBody? = body == nil ? nil : HTTPBody(bytes)
        guard request.method == .post, let name = Self.idempotencyKey, let key = request.headerFields[name] else {
            return try await next(request, buffered, metadata)
        }
        guard (1...255).contains(key.utf8.count), key.utf8.allSatisfy({ $0 >= 0x21 && $0 <= 0x7E }) else {
            throw BridgeError.badRequest("Idempotency-Key must be 1-255 printable ASCII characters")
        }
        let tenant = try Caller.required()
        var hasher = SHA256()
        hasher.update(data: Data("\(request.method.rawValue) \(request.path ?? "")\n".utf8))
        hasher.update(data: Self.canonical(bytes))
        let hash = hasher.finalize().map { String(format: "%02x", $0) }.joined()

        switch try await store.claimIdempotencyKey(tenant: tenant, key: key, requestHash: hash, ttl: ttl, now: now()) {
        case .completed(let status, let contentType, let stored):
            var fields = HTTPFields()
            if let contentType { fields[.contentType] = contentType }
            if let replayed = Self.replayed { fields[replayed] = "true" }
            return (HTTPResponse(status: .init(code: status), headerFields: fields), HTTPBody(stored))
        case .inProgress:
            throw BridgeError.conflict("a request with this Idempotency-Key is still being processed")
        case .mismatch:
            throw BridgeError.unprocessable("this Idempotency-Key was used with a different request")
        case .new:
            break
        }
        let (response, responseBody): (HTTPResponse, HTTPBody?)
        do {
            (response, responseBody) = try await Self.$claim.withValue(Claim(tenant: tenant, key: key)) {
                try await next(request, buffered, metadata)
            }
        } catch {
            // The answer is decided now; record it like any other so a retry gets the same one.
            let mapped = ErrorMappingMiddleware.classify(error, logger: logger, operationID: operationID)
            if case .acceptedNotRecorded = mapped {
                // Done upstream: the key stays claimed (retries answer 409) until the kept write
                // records the video and this key's response.
                throw mapped
            }
            if case .unavailable = mapped {
                try? await store.releaseIdempotencyKey(tenant: tenant, key: key)
                throw mapped
            }
            (response, responseBody) = ErrorMappingMiddleware.response(for: mapped, proxy: operationID.hasPrefix("proxy"))
        }
        var stored = Data()
        if let responseBody { stored = try await Data(collecting: responseBody, upTo: 1 << 20) }
        do throws(StoreError) {
            try await store.completeIdempotencyKey(
                tenant: tenant, key: key, status: response.status.code,
                contentType: response.headerFields[.contentType], body: stored
            )
        } catch where error.isTransient {
            let (status, contentType) = (response.status.code, response.headerFields[.contentType])
            deferred.enqueue(
                "idempotent response",
                steps: [{ [store, stored] in
                    try await store.completeIdempotencyKey(tenant: tenant, key: key, status: status, contentType: contentType, body: stored)
                }]
            )
        } catch {
            logger.error("could not record an idempotent response", metadata: ["error": "\(error)"])
        }
        return (response, HTTPBody(stored))
    }
}
