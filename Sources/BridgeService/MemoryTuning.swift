#if canImport(Glibc)
import Glibc
#endif

/// How the process asks the C allocator to behave.
///
/// glibc's malloc gives threads that allocate at the same time arenas of their own (up to eight per
/// core) and keeps what they free in them. The bridge allocates on many threads at once (NIO, the
/// concurrency pool, GRDB's queues, the curl loop), so after a burst the freed memory sits in several
/// arenas. Two arenas took ~4 MB off the peak RSS of a 40,000-delivery burst (64.7–65.1 MB vs
/// 68.2–70.0 MB, three paired runs) at no loss in rate (BENCHMARKS.md). An operator's own
/// `MALLOC_ARENA_MAX` is left as it is.
public enum MemoryTuning {
    /// Arenas the bridge asks for.
    public static let arenas: Int32 = 2

    /// Caps glibc's malloc arenas unless `MALLOC_ARENA_MAX` is set; true when the cap was applied.
    /// Call it first thing, before the threads it is about start.
    @discardableResult
    public static func limitMallocArenas(environment: [String: String]) -> Bool {
        guard environment["MALLOC_ARENA_MAX"] == nil else { return false }
        #if canImport(Glibc)
        // `mallopt` and `M_ARENA_MAX` live in <malloc.h>, which Swift's Glibc module does not import:
        // the function is looked up in the process (libc is loaded) and called with C's convention.
        guard let process = dlopen(nil, RTLD_NOW), let symbol = dlsym(process, "mallopt") else { return false }
        let mallopt = unsafeBitCast(symbol, to: (@convention(c) (Int32, Int32) -> Int32).self)
        return mallopt(Self.mArenaMax, arenas) == 1
        #else
        return false
        #endif
    }

    /// `M_ARENA_MAX` of glibc's <malloc.h>.
    static let mArenaMax: Int32 = -8
}
