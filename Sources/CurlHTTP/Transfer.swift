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

    var status = 0
    var headers = HeaderFields()
    var body = Data()
    var bodyTooLarge = false
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
            bodyTooLarge = true
            return false
        }
        body.append(contentsOf: bytes)
        return true
    }

    /// Header lines arrive one by one; a status line starts a new response (after `100 Continue`).
    func receiveHeaderLine(_ line: String) {
        let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.hasPrefix("HTTP/") {
            headers = HeaderFields()
            let parts = trimmed.split(separator: " ", maxSplits: 2)
            if parts.count >= 2, let code = Int(parts[1]) { status = code }
            return
        }
        guard let colon = trimmed.firstIndex(of: ":") else { return }
        let name = String(trimmed[..<colon]).trimmingCharacters(in: .whitespaces)
        let value = String(trimmed[trimmed.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
        headers.add(name: name, value: value)
    }

    /// Whether the request may use `address`; remembers a veto so the failure is reported as such.
    func allows(_ address: IPAddress) -> Bool {
        remoteAddress = address
        guard let check = request.destinationCheck else { return true }
        if check(address) { return true }
        blockedAddress = address
        return false
    }
}
