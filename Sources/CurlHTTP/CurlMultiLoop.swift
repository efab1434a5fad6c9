import CCurl
import Foundation
import Logging
import Synchronization

/// Owns one curl multi handle and the thread that drives it with `curl_multi_poll`.
///
/// Callers never touch curl: they hand a ``Transfer`` over under `mutex` and wake the loop with
/// `curl_multi_wakeup` (the one multi call that is safe from any thread). Everything else on the multi
/// and easy handles happens on the loop thread, so no Swift task ever blocks on I/O.
final class CurlMultiLoop: @unchecked Sendable {
    private struct Inbox {
        var queued: [Transfer] = []
        var cancelled: [Transfer] = []
        var stopping = false
    }

    private let multi: UnsafeMutableRawPointer
    private let mutex = Mutex(Inbox())
    private let logger: Logger
    private var thread: Thread?
    private let stopped = DispatchSemaphore(value: 0)

    // Loop-thread state.
    private var running: [UnsafeMutableRawPointer: Transfer] = [:]
    private var spareHandles: [UnsafeMutableRawPointer] = []
    private let maxSpareHandles = 256

    init(configuration: CurlTransport.Configuration, logger: Logger) throws(CurlError) {
        guard let multi = curl_multi_init() else { throw .other(code: -1, message: "curl_multi_init failed") }
        self.multi = multi
        self.logger = logger
        _ = ccurl_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, configuration.maxCachedConnections)
        _ = ccurl_multi_setopt_long(multi, CURLMOPT_MAX_HOST_CONNECTIONS, configuration.maxConnectionsPerHost)
        _ = ccurl_multi_setopt_long(multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX)
        let thread = Thread { [unowned self] in self.run() }
        thread.name = "curl-multi"
        self.thread = thread
        thread.start()
    }

    // MARK: - Any thread

    func submit(_ transfer: Transfer) {
        // Only the submit that finds the inbox empty wakes the loop: whoever queued the others
        // already woke it (after queueing), and the loop takes the whole inbox at once.
        let (accepted, wake) = mutex.withLock { inbox -> (Bool, Bool) in
            guard !inbox.stopping, transfer.phase == .created else { return (false, false) }
            transfer.phase = .queued
            inbox.queued.append(transfer)
            return (true, inbox.queued.count == 1)
        }
        if accepted {
            if wake { curl_multi_wakeup(multi) }
        } else {
            let wasCancelled = mutex.withLock { _ in transfer.phase == .cancelRequested }
            transfer.complete(.failure(wasCancelled ? .cancelled : .shutdown))
        }
    }

    func cancel(_ transfer: Transfer) {
        let wake = mutex.withLock { inbox -> Bool in
            switch transfer.phase {
            case .created:
                transfer.phase = .cancelRequested  // submit() will see it
                return false
            case .queued, .running:
                transfer.phase = .cancelRequested
                inbox.cancelled.append(transfer)
                return true
            case .cancelRequested, .finished:
                return false
            }
        }
        if wake { curl_multi_wakeup(multi) }
    }

    /// Fails every transfer still in flight with ``CurlError/shutdown`` and stops the thread.
    func shutdown() {
        let first = mutex.withLock { inbox -> Bool in
            defer { inbox.stopping = true }
            return !inbox.stopping
        }
        guard first else { return }
        curl_multi_wakeup(multi)
        stopped.wait()
    }

    // MARK: - Loop thread

    private func run() {
        while true {
            let (queued, cancelled, stopping) = mutex.withLock { inbox in
                defer {
                    inbox.queued.removeAll(keepingCapacity: true)
                    inbox.cancelled.removeAll(keepingCapacity: true)
                }
                for transfer in inbox.queued where transfer.phase == .queued { transfer.phase = .running }
                return (inbox.queued, inbox.cancelled, inbox.stopping)
            }
            for transfer in cancelled { finish(transfer, with: .failure(.cancelled)) }
            if stopping {
                for transfer in queued { finish(transfer, with: .failure(.shutdown)) }
                for transfer in Array(running.values) { finish(transfer, with: .failure(.shutdown)) }
                break
            }
            for transfer in queued where transfer.phase == .running { start(transfer) }

            var stillRunning: Int32 = 0
            let performed = curl_multi_perform(multi, &stillRunning)
            if performed != CURLM_OK {
                logger.error("curl_multi_perform failed", metadata: ["curlm_code": "\(performed.rawValue)"])
            }
            collectFinished()
            let polled = curl_multi_poll(multi, nil, 0, 1000, nil)
            if polled != CURLM_OK {
                logger.error("curl_multi_poll failed", metadata: ["curlm_code": "\(polled.rawValue)"])
            }
        }
        for handle in spareHandles { curl_easy_cleanup(handle) }
        spareHandles.removeAll()
        curl_multi_cleanup(multi)
        stopped.signal()
    }

    private func start(_ transfer: Transfer) {
        guard let easy = spareHandles.popLast() ?? curl_easy_init() else {
            transfer.complete(.failure(.other(code: -1, message: "curl_easy_init failed")))
            return
        }
        transfer.easy = easy
        running[easy] = transfer
        if let error = EasyConfigurator(easy: easy, transfer: transfer).apply() {
            finish(transfer, with: .failure(error))
            return
        }
        let added = curl_multi_add_handle(multi, easy)
        if added != CURLM_OK {
            finish(transfer, with: .failure(.other(code: Int(added.rawValue), message: "curl_multi_add_handle failed")))
        }
    }

    private func collectFinished() {
        var remaining: Int32 = 0
        while let message = curl_multi_info_read(multi, &remaining) {
            var easy: UnsafeMutableRawPointer?
            var code = CURLE_OK
            guard ccurl_message_done(message, &easy, &code) == 1, let easy, let transfer = running[easy] else {
                continue
            }
            finish(transfer, with: CurlResultMapper(transfer: transfer, easy: easy, code: code).result())
        }
    }

    /// Detaches the easy handle, recycles it and resumes the caller. Idempotent per transfer.
    private func finish(_ transfer: Transfer, with result: Result<OutboundResponse, CurlError>) {
        mutex.withLock { _ in transfer.phase = .finished }
        if let easy = transfer.easy {
            transfer.easy = nil
            running[easy] = nil
            curl_multi_remove_handle(multi, easy)
            curl_easy_reset(easy)
            if spareHandles.count < maxSpareHandles {
                spareHandles.append(easy)
            } else {
                curl_easy_cleanup(easy)
            }
        }
        if let list = transfer.headerList {
            curl_slist_free_all(list)
            transfer.headerList = nil
        }
        if let list = transfer.resolveList {
            curl_slist_free_all(list)
            transfer.resolveList = nil
        }
        transfer.complete(result)
    }
}
