import CCurl
import Foundation

#if canImport(Glibc)
import Glibc
#endif

// libcurl callbacks. They must be capture-free C functions: the transfer travels through `void *`
// as an unretained reference (the loop keeps the Transfer alive while its easy handle exists).

private func transfer(_ pointer: UnsafeMutableRawPointer?) -> Transfer? {
    guard let pointer else { return nil }
    return Unmanaged<Transfer>.fromOpaque(pointer).takeUnretainedValue()
}

let curlWriteBody: curl_write_callback = { data, size, count, context in
    guard let transfer = transfer(context) else { return 0 }
    let length = size * count
    guard let data else { return length }
    let accepted = transfer.receiveBody(UnsafeRawBufferPointer(start: data, count: length))
    return accepted ? length : 0  // a short count aborts the transfer (CURLE_WRITE_ERROR)
}

let curlWriteHeader: curl_write_callback = { data, size, count, context in
    guard let transfer = transfer(context) else { return 0 }
    let length = size * count
    guard let data else { return length }
    transfer.receiveHeaderLine(UnsafeRawBufferPointer(start: data, count: length))
    return length
}

/// Runs before curl opens each new socket, with the exact address it will connect to (after DNS):
/// this is where a destination check cannot be fooled by what a host name resolved to earlier.
let curlOpenSocket: curl_opensocket_callback = { context, purpose, address in
    guard let transfer = transfer(context), let address else { return ccurl_socket_bad() }
    let length = Int(address.pointee.addrlen)
    let offset = MemoryLayout<curl_sockaddr>.offset(of: \.addr) ?? 16
    let raw = UnsafeRawBufferPointer(start: UnsafeRawPointer(address).advanced(by: offset), count: length)
    guard let ip = IPAddress(sockaddr: raw), transfer.allows(ip) else { return ccurl_socket_bad() }
    transfer.openedConnection = true
    return socket(address.pointee.family, address.pointee.socktype, address.pointee.protocol)
}

/// Runs before every request, on new and reused connections alike, with the connected peer's IP:
/// a pooled connection opened for another request is vetted again for this one.
let curlPrerequest: curl_prereq_callback = { context, primaryIP, _, _, _ in
    guard let transfer = transfer(context) else { return Int32(CURL_PREREQFUNC_ABORT) }
    guard let primaryIP, let ip = IPAddress(String(cString: primaryIP)) else {
        return Int32(CURL_PREREQFUNC_ABORT)
    }
    return transfer.allows(ip) ? Int32(CURL_PREREQFUNC_OK) : Int32(CURL_PREREQFUNC_ABORT)
}
