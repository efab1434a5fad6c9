import CMallocTuning

/// How the process asks the C allocator to behave.
///
/// glibc's malloc gives threads that allocate at the same time arenas of their own (up to eight per
/// core) and keeps what they free in them. The bridge allocates on many threads at once (NIO, the
/// concurrency pool, GRDB's queues, the curl loop), so after a burst the freed memory sits in several
/// arenas. Two arenas, asked for at the start of `serve`, took 3.4–4.6 MB off the peak RSS of a
/// 40,000-delivery burst (65.6–66.6 MB vs 69.0–70.8 MB, three paired runs) with the rate within the
/// machine's noise (BENCHMARKS.md). An operator's own setting — `MALLOC_ARENA_MAX`, or
/// `glibc.malloc.arena_max` in `GLIBC_TUNABLES` — is left as it is.
public enum MemoryTuning {
    /// Arenas the bridge asks for.
    public static let arenas: Int32 = 2

    /// Whether the environment already says how many arenas glibc should use.
    public static func operatorChoseArenas(_ environment: [String: String]) -> Bool {
        environment["MALLOC_ARENA_MAX"] != nil || environment["GLIBC_TUNABLES"]?.contains("glibc.malloc.arena_max") == true
    }

    /// Caps glibc's malloc arenas unless the operator chose; true when glibc took the cap (false also
    /// on a C library other than glibc). Call it first thing, before the threads it is about start.
    @discardableResult
    public static func limitMallocArenas(environment: [String: String]) -> Bool {
        guard !operatorChoseArenas(environment) else { return false }
        return bridge_limit_malloc_arenas(arenas) == 1
    }
}
