import CurlHTTP
import Foundation

/// Reads the upstream's `{"code","data","message"}` envelope out of an HTTP response, tolerantly:
/// unknown fields are ignored, ids may be numbers, and anything unreadable becomes a typed error,
/// never a guessed value.
struct EnvelopeDecoder {
    let now: Date

    /// The envelope's `data` member of a successful answer.
    func data(of response: OutboundResponse) throws(UpstreamError) -> Any {
        let contentType = response.headers["content-type"]
        switch response.status {
        case 200..<300:
            break
        case 429:
            throw .rateLimited(retryAfter: RetryAfter.parse(response.headers["retry-after"], now: now))
        case 400..<500:
            let envelope = try? jsonObject(response.body) as? [String: Any]
            throw .rejected(
                status: response.status,
                code: envelope.flatMap { integer($0["code"]) },
                message: (envelope?["message"] as? String).map { String($0.prefix(500)) },
                body: response.body
            )
        case 500..<600:
            throw .serverError(
                status: response.status,
                retryAfter: RetryAfter.parse(response.headers["retry-after"], now: now)
            )
        default:
            throw .unexpectedStatus(response.status)
        }
        if let contentType, contentType.lowercased().contains("html") { throw .notJSON(contentType: contentType) }
        if response.body.first(where: { !Self.isWhitespace($0) }) == UInt8(ascii: "<") {
            throw .notJSON(contentType: contentType)
        }
        let parsed: Any
        do {
            parsed = try jsonObject(response.body)
        } catch {
            throw JSONPrefix.isTruncated(response.body) ? .truncated : .malformed("body is not valid JSON")
        }
        guard let envelope = parsed as? [String: Any] else { throw .malformed("envelope is not a JSON object") }
        guard let code = integer(envelope["code"]) else { throw .malformed("envelope has no numeric code") }
        guard code == 0 else {
            throw .apiError(code: code, message: String((envelope["message"] as? String ?? "").prefix(500)))
        }
        guard let data = envelope["data"], !(data is NSNull) else { throw .malformed("envelope has no data") }
        return data
    }

    /// One video item; nil when it lacks a readable id or status.
    func video(from item: Any) -> UpstreamVideo? {
        guard let object = item as? [String: Any], let id = string(object["video_id"]), !id.isEmpty,
            let status = object["status"] as? String, !status.isEmpty
        else { return nil }
        return UpstreamVideo(id: id, status: VideoStatus(status), videoURL: object["video_url"] as? String)
    }

    private func jsonObject(_ body: Data) throws -> Any {
        try JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed])
    }

    private func integer(_ value: Any?) -> Int? {
        switch value {
        case let number as Int: number
        case let number as NSNumber: Int(exactly: number.doubleValue)
        case let text as String: Int(text)
        default: nil
        }
    }

    private func string(_ value: Any?) -> String? {
        switch value {
        case let text as String: text
        case let number as NSNumber: number.stringValue
        default: nil
        }
    }

    static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }
}

/// Tells JSON that was cut short from JSON that is simply wrong: a body that opens a container and
/// ends with brackets or a string still open is a truncation.
enum JSONPrefix {
    static func isTruncated(_ body: Data) -> Bool {
        var depth = 0
        var inString = false
        var escaped = false
        var sawContainer = false
        for byte in body {
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                sawContainer = true
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                if depth < 0 { return false }
            default: break
            }
        }
        return sawContainer && (depth > 0 || inString)
    }
}
