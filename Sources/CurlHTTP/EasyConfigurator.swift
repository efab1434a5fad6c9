import CCurl
import Foundation

/// Sets one easy handle up for one request. Options that the product relies on for safety
/// (no redirects, no proxies from the environment, http/https only, no signals) are always set.
struct EasyConfigurator {
    let easy: UnsafeMutableRawPointer
    let transfer: Transfer

    func apply() -> CurlError? {
        let request = transfer.request
        guard let scheme = request.url.split(separator: ":", maxSplits: 1).first?.lowercased(),
            scheme == "http" || scheme == "https"
        else {
            return .invalidURL("only http and https URLs are allowed")
        }
        let context = Unmanaged.passUnretained(transfer).toOpaque()
        var failures = [CURLcode]()
        func check(_ code: CURLcode) { if code != CURLE_OK { failures.append(code) } }

        check(ccurl_easy_setopt_string(easy, CURLOPT_URL, request.url))
        if failures.first != nil { return .invalidURL("curl rejected the URL") }
        check(ccurl_easy_setopt_pointer(easy, CURLOPT_PRIVATE, context))
        check(ccurl_easy_setopt_long(easy, CURLOPT_NOSIGNAL, 1))
        check(ccurl_easy_setopt_long(easy, CURLOPT_FOLLOWLOCATION, 0))
        check(ccurl_easy_setopt_string(easy, CURLOPT_PROTOCOLS_STR, "http,https"))
        check(ccurl_easy_setopt_string(easy, CURLOPT_PROXY, ""))
        check(ccurl_easy_setopt_long(easy, CURLOPT_TIMEOUT_MS, request.timeout.milliseconds))
        check(ccurl_easy_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, request.connectTimeout.milliseconds))
        if !request.truncateLongBodies {
            check(ccurl_easy_setopt_off(easy, CURLOPT_MAXFILESIZE_LARGE, curl_off_t(request.maxResponseBytes)))
        }
        check(ccurl_easy_setopt_write_function(easy, CURLOPT_WRITEFUNCTION, curlWriteBody))
        check(ccurl_easy_setopt_pointer(easy, CURLOPT_WRITEDATA, context))
        check(ccurl_easy_setopt_write_function(easy, CURLOPT_HEADERFUNCTION, curlWriteHeader))
        check(ccurl_easy_setopt_pointer(easy, CURLOPT_HEADERDATA, context))
        check(ccurl_easy_setopt_opensocket_function(easy, curlOpenSocket))
        check(ccurl_easy_setopt_pointer(easy, CURLOPT_OPENSOCKETDATA, context))
        check(ccurl_easy_setopt_prereq_function(easy, curlPrerequest))
        check(ccurl_easy_setopt_pointer(easy, CURLOPT_PREREQDATA, context))

        let method = request.method.uppercased()
        switch method {
        case "GET":
            check(ccurl_easy_setopt_long(easy, CURLOPT_HTTPGET, 1))
        case "HEAD":
            check(ccurl_easy_setopt_long(easy, CURLOPT_NOBODY, 1))
        default:
            check(ccurl_easy_setopt_string(easy, CURLOPT_CUSTOMREQUEST, method))
        }
        if let body = request.body {
            check(ccurl_easy_setopt_long(easy, CURLOPT_POST, 1))
            check(ccurl_easy_setopt_off(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count)))
            // COPYPOSTFIELDS copies, so the bytes may go away after this call.
            if body.isEmpty {
                check(ccurl_easy_setopt_string(easy, CURLOPT_COPYPOSTFIELDS, ""))
            } else {
                body.withUnsafeBytes { raw in
                    if let pointer = raw.baseAddress?.assumingMemoryBound(to: CChar.self) {
                        check(ccurl_easy_setopt_string(easy, CURLOPT_COPYPOSTFIELDS, pointer))
                    }
                }
            }
        }

        var list: UnsafeMutablePointer<curl_slist>?
        for field in request.headers {
            list = curl_slist_append(list, "\(field.name): \(field.value)")
        }
        // Never wait for `100 Continue`: receivers rarely send it and it costs a round trip.
        list = curl_slist_append(list, "Expect:")
        transfer.headerList = list
        check(ccurl_easy_setopt_slist(easy, CURLOPT_HTTPHEADER, list))
        if !request.resolve.isEmpty {
            var pinned: UnsafeMutablePointer<curl_slist>?
            for entry in request.resolve { pinned = curl_slist_append(pinned, entry) }
            transfer.resolveList = pinned
            check(ccurl_easy_setopt_slist(easy, CURLOPT_RESOLVE, pinned))
        }

        if let failure = failures.first {
            return .other(code: Int(failure.rawValue), message: String(cString: curl_easy_strerror(failure)))
        }
        return nil
    }
}

extension Duration {
    /// Whole milliseconds, at least 1 for any positive duration (curl treats 0 as "no timeout").
    var milliseconds: Int {
        let (seconds, attoseconds) = components
        let ms = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        if ms <= 0 { return self > .zero ? 1 : 0 }
        return Int(ms)
    }
}
