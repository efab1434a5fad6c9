public import Foundation

/// Resident memory of a process, in MB, from `/proc/<pid>/status`: now, its peak (VmHWM) and the
/// anonymous part (heap, stacks: what grows with load; the rest is the binary's and libraries' pages).
public struct ProcessMemory: Sendable {
    public var rss: Double
    public var peak: Double
    public var anonymous: Double

    public static func of(_ pid: pid_t) -> ProcessMemory {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        func field(_ name: String) -> Double {
            let line = status.split(separator: "\n").first { $0.hasPrefix(name + ":") } ?? ""
            let kilobytes = line.split(separator: " ").compactMap { Double($0) }.first ?? 0
            return kilobytes / 1024
        }
        return ProcessMemory(rss: field("VmRSS"), peak: field("VmHWM"), anonymous: field("RssAnon"))
    }
}

/// The sum of every sample of the Prometheus series `name` (all label sets) in an exposition text.
public func prometheusSum(_ text: String, _ name: String) -> Double {
    text.split(separator: "\n")
        .filter { $0.hasPrefix(name + "{") || $0.hasPrefix(name + " ") }
        .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }
        .reduce(0, +)
}

/// The `p` quantile (0…1, nearest rank) of `values`; NaN when empty.
public func percentile(_ values: [Double], _ p: Double) -> Double {
    guard !values.isEmpty else { return .nan }
    let sorted = values.sorted()
    return sorted[max(0, min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1))]
}

/// A loopback TCP port nothing listens on right now (bound and released; for servers that take a
/// port number rather than 0, such as nginx).
public func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw ChildProcessError.spawnFailed(errno: errno, executable: "socket") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
        }
    }
    guard bound else { throw ChildProcessError.spawnFailed(errno: errno, executable: "bind") }
    return Int(UInt16(bigEndian: address.sin_port))
}
