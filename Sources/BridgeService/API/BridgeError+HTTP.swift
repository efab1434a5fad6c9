import BridgeCore
import BridgeStore
import Foundation
import HTTPTypes
import Logging
import OpenAPIRuntime

/// The one place that turns errors into HTTP answers.
///
/// Native routes answer `{"error":{"code","message"}}`; the drop-in proxy answers the upstream's own
/// envelope `{"code":<non-zero>,"data":null,"message"}`, and passes upstream refusals through as they
/// came. Request decoding failures (malformed JSON, wrong types, unknown fields, bad parameters) are
/// 400s. Anything unmapped is a 500 whose body says nothing about internals; the log line has them.
struct ErrorMappingMiddleware: ServerMiddleware {
    let logger: Logger

    func intercept(
        _ request: HTTPRequest,
        body: HTTPBody?,
        metadata: ServerRequestMetadata,
        operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        do {
            return try await next(request, body, metadata)
        } catch {
            let bridgeError = Self.classify(error, logger: logger, operationID: operationID)
            return Self.response(for: bridgeError, proxy: operationID.hasPrefix("proxy"))
        }
    }

    static func classify(_ error: any Error, logger: Logger, operationID: String) -> BridgeError {
        var current: any Error = error
        // Unwrap the runtime's ServerError to what the handler or the decoder threw.
        while let serverError = current as? ServerError {
            if let underlying = serverError.underlyingError as? BridgeError { return underlying }
            if serverError.underlyingError is ServerError {
                current = serverError.underlyingError
                continue
            }
            // No operation input yet: the generated code failed while reading the request, so the
            // request is at fault (malformed JSON, wrong types, unknown fields, bad parameters).
            if serverError.operationInput == nil {
                return .badRequest(Self.describe(serverError.underlyingError))
            }
            current = serverError.underlyingError
        }
        if let error = current as? BridgeError { return error }
        if let error = current as? StoreError { return map(error, logger: logger, operationID: operationID) }
        if current is DecodingError { return .badRequest(describe(current)) }
        logger.error("unhandled error", metadata: ["operation": "\(operationID)", "error": "\(String(reflecting: current))"])
        return .internalFailure
    }

    static func map(_ error: StoreError, logger: Logger, operationID: String) -> BridgeError {
        if error == .ownedByAnotherTenant { return .notFound(BridgeError.noSuchVideo) }
        if case .limitExceeded(let setting) = error { return .limitExceeded(setting: setting, what: BridgeError.limitDescription(setting)) }
        if error.isTransient {
            logger.warning("database unavailable", metadata: ["operation": "\(operationID)", "error": "\(error)"])
            return .unavailable("the database cannot take writes right now (\(error)); retry later")
        }
        logger.error("database error", metadata: ["operation": "\(operationID)", "error": "\(error)"])
        return .internalFailure
    }

    /// A short, client-facing reason from a decoding failure (no type names, no internals).
    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _):
            return "missing field \"\(key.stringValue)\""
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            let path = context.codingPath.map(\.stringValue).filter { !$0.isEmpty }.joined(separator: ".")
            return path.isEmpty ? "wrong type in the request body" : "wrong type for \"\(path)\""
        case DecodingError.dataCorrupted(let context):
            let path = context.codingPath.map(\.stringValue).filter { !$0.isEmpty }.joined(separator: ".")
            if context.debugDescription.contains("Unexpected keys") || context.debugDescription.contains("additional") {
                return "unknown field in the request body"
            }
            return path.isEmpty ? "the request body is not valid JSON" : "invalid value for \"\(path)\""
        default:
            let text = "\(error)"
            if text.contains("Unexpected") && text.contains("key") { return "unknown field in the request body" }
            if text.contains("query") || text.contains("path") || text.contains("header") {
                return "invalid or missing request parameter"
            }
            return "invalid request"
        }
    }

    static func response(for error: BridgeError, proxy: Bool) -> (HTTPResponse, HTTPBody?) {
        let (head, body) = rendered(error, proxy: proxy)
        return (head, HTTPBody(body))
    }

    /// Status, headers and body bytes for `error`: also used for the answers Hummingbird itself gives
    /// (no such route, wrong method), so every error carries the same JSON.
    static func rendered(_ error: BridgeError, proxy: Bool) -> (HTTPResponse, Data) {
        let (status, code, envelopeCode, message): (HTTPResponse.Status, String, Int, String)
        switch error {
        case .badRequest(let reason): (status, code, envelopeCode, message) = (.badRequest, "bad_request", 40001, reason)
        case .unauthorized:
            (status, code, envelopeCode, message) = (.unauthorized, "unauthorized", 40100, "missing or invalid API key")
        case .notFound(let what): (status, code, envelopeCode, message) = (.notFound, "not_found", 40401, what)
        case .methodNotAllowed(let allowed):
            (status, code, envelopeCode, message) =
                (.methodNotAllowed, "method_not_allowed", 40501, "this route takes " + allowed.joined(separator: ", "))
        case .conflict(let reason): (status, code, envelopeCode, message) = (.conflict, "conflict", 40901, reason)
        case .payloadTooLarge(let limit):
            (status, code, envelopeCode, message) = (.contentTooLarge, "payload_too_large", 41301, "request body larger than \(limit) bytes")
        case .limitExceeded(let setting, let what):
            (status, code, envelopeCode, message) = (.tooManyRequests, "limit_exceeded", 42901, "\(what) (\(setting))")
        case .unprocessable(let reason):
            (status, code, envelopeCode, message) = (.unprocessableContent, "unprocessable", 42201, reason)
        case .upstreamUnreachable(let reason):
            (status, code, envelopeCode, message) = (.badGateway, "upstream_unreachable", 50201, "upstream unreachable: \(reason)")
        case .upstreamAnswered(let upstreamStatus, let contentType, let body):
            var fields = HTTPFields()
            fields[.contentType] = contentType ?? "application/json"
            return (HTTPResponse(status: .init(code: upstreamStatus), headerFields: fields), body)
        case .unavailable(let reason):
            (status, code, envelopeCode, message) = (.serviceUnavailable, "unavailable", 50301, reason)
        case .acceptedNotRecorded(let videoID):
            status = .serviceUnavailable
            code = "unavailable"
            envelopeCode = 50302
            message = BridgeError.acceptedNotRecordedMessage(videoID)
        case .internalFailure:
            (status, code, envelopeCode, message) = (.internalServerError, "internal", 50001, "internal error")
        }
        var fields = HTTPFields()
        fields[.contentType] = "application/json"
        if case .unauthorized = error { fields[.wwwAuthenticate] = #"Bearer realm="talking-photo-bridge""# }
        if case .unavailable = error { fields[.retryAfter] = "5" }
        if case .acceptedNotRecorded = error { fields[.retryAfter] = "5" }
        if case .methodNotAllowed(let allowed) = error { fields[.allow] = allowed.joined(separator: ", ") }
        let body =
            proxy
            ? #"{"code":\#(envelopeCode),"data":null,"message":\#(JSONString.quote(message))}"#
            : #"{"error":{"code":\#(JSONString.quote(code)),"message":\#(JSONString.quote(message))}}"#
        return (HTTPResponse(status: status, headerFields: fields), Data(body.utf8))
    }
}
