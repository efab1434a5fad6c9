import CCurl
import Foundation

/// Turns a finished transfer's curl code into a response or a typed error.
struct CurlResultMapper {
    let transfer: Transfer
    let easy: UnsafeMutableRawPointer
    let code: CURLcode

    func result() -> Result<OutboundResponse, CurlError> {
        // A transfer that went through used an allowed address, whatever else was vetoed on the way.
        if code != CURLE_OK, let blocked = transfer.blockedAddress {
            return .failure(.blockedDestination(address: blocked.description))
        }
        if transfer.bodyTooLarge || code == CURLE_FILESIZE_EXCEEDED {
            return .failure(.bodyTooLarge(limit: transfer.request.maxResponseBytes))
        }
        // Stopped on purpose once the kept prefix was complete: the response is what was kept.
        let stoppedAfterPrefix = code == CURLE_WRITE_ERROR && transfer.truncated
        guard code == CURLE_OK || stoppedAfterPrefix else { return .failure(error()) }
        if transfer.status == 0 {
            var status = 0
            _ = ccurl_easy_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &status)
            transfer.status = status
        }
        return .success(transfer.response())
    }

    private func error() -> CurlError {
        switch code {
        case CURLE_OPERATION_TIMEDOUT:
            var connectTime: curl_off_t = 0
            _ = ccurl_easy_getinfo_off(easy, CURLINFO_CONNECT_TIME_T, &connectTime)
            return connectTime == 0 && transfer.remoteAddress == nil ? .connectTimeout : .timeout
        case CURLE_COULDNT_RESOLVE_HOST:
            return .dns(host: host())
        case CURLE_COULDNT_CONNECT:
            return .connectionRefused
        case CURLE_GOT_NOTHING, CURLE_RECV_ERROR, CURLE_SEND_ERROR, CURLE_PARTIAL_FILE, CURLE_HTTP2,
            CURLE_HTTP2_STREAM:
            return .connectionReset
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM,
            CURLE_SSL_CIPHER, CURLE_SSL_CACERT_BADFILE, CURLE_SSL_ISSUER_ERROR, CURLE_SSL_PINNEDPUBKEYNOTMATCH,
            CURLE_SSL_INVALIDCERTSTATUS, CURLE_SSL_CLIENTCERT:
            return .tls(message())
        case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL:
            return .invalidURL(message())
        case CURLE_ABORTED_BY_CALLBACK:
            return .blockedDestination(address: (transfer.blockedAddress ?? transfer.remoteAddress)?.description ?? "unknown")
        default:
            return .other(code: Int(code.rawValue), message: message())
        }
    }

    private func message() -> String { String(cString: curl_easy_strerror(code)) }

    private func host() -> String {
        URLComponents(string: transfer.request.url)?.host ?? "unknown"
    }
}
