import CCurl
import Foundation

/// One request's life inside the curl loop: the easy handle's context, buffers and the caller's continuation.
///
/// `@unchecked Sendable`: `phase` is only read or written under ``CurlMultiLoop``'s mutex; everything else
/// is touched only by the loop thread (curl calls every callback from inside `curl_multi_perform`).
final class Transfer: @unchecked Sendable {
    enum Phase {
        case created, queued, running, cancelRequested, finished
    }

    let request: OutboundRequest
    let started = ContinuousClock.now
    var phase: Phase = .created
    var continuation: CheckedContinuation<Result<OutboundResponse, CurlError>, Never>?

    var easy: UnsafeMutableRawPointer?
    var headerList: UnsafeMutablePointer<curl_slist>?
    var resolveList: UnsafeMutablePointer<curl_slist>?

    var status = 0
    var headers = HeaderFields()
    var body = Data()
    var bodyTooLarge = false
    /// The kept prefix is complete and the rest was not downloaded (`truncateLongBodies`).
    var truncated = false
    var blockedAddress: IPAddress?
    var remoteAddress: IPAddress?
    var openedConnection = false

    init(request: OutboundRequest) {
        self.request = request
    }

    /// Resumes the caller exactly once.
    func complete(_ result: Result<OutboundResponse, CurlError>) {
        guard let continuation else { return }
        self.continuation = nil
        continuation.resume(returning: result)
    }

    func response() -> OutboundResponse {
        OutboundResponse(
            status: status,
            headers: headers,
            body: body,
            remoteAddress: remoteAddress,
            duration: ContinuousClock.now - started,
            openedConnection: openedConnection
        )
    }

    // MARK: - Called from curl callbacks

    func receiveBody(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard body.count + bytes.count <= request.maxResponseBytes else {
            if request.truncateLongBodies {
                // Keep the prefix and stop: the rest is not downloaded (a receiver streaming a huge or
                // endless body must not hold the attempt until its timeout).
                body.append(contentsOf: bytes.prefix(max(0, request.maxResponseBytes - body.count)))
                truncated = true
                return false
            }
            bodyTooLarge = true
            return false
        }
        body.append(contentsOf: bytes)
        return true
    }

    /// Header lines arrive one by one; a status line starts a new response (after `100 Continue`).
    func receiveHeaderLine(_ line: UnsafeRawBufferPointer) {
        var bytes = line[...]
        while let last = bytes.last, last == 0x0A || last == 0x0D || last == 0x20 || last == 0x09 { bytes.removeLast() }
        guard !bytes.isEmpty else { return }
        if bytes.starts(with: "HTTP/".utf8) {
            headers = HeaderFields()
            let parts = bytes.split(separator: 0x20, maxSplits: 2)
            if parts.count >= 2, let code = Int(String(decoding: parts[1], as: UTF8.self)) { status = code }
            return
        }
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")) else { return }
        var value = bytes[(colon + 1)...]
        while let first = value.first, first == 0x20 || first == 0x09 { value.removeFirst() }
        headers.add(name: String(decoding: bytes[..<colon], as: UTF8.self), value: String(decoding: value, as: UTF8.self))
    }

    /// Whether the request may use `address`; remembers a veto so that, if the transfer fails, the
    /// failure is reported as a blocked destination (with several addresses, curl may still succeed
    /// through an allowed one: then the veto of another is no failure at all).
    func allows(_ address: IPAddress) -> Bool {
        if let check = request.destinationCheck, !check(address) {
            blockedAddress = address
            return false
        }
        remoteAddress = address
        return true
    }
}
