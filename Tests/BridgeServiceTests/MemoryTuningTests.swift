import BridgeService
import Testing

@Suite("Memory tuning")
struct MemoryTuningTests {
    @Test("serve leaves the malloc arenas alone when the operator chose, by variable or glibc tunable")
    func operatorsChoiceWins() {
        #expect(MemoryTuning.operatorChoseArenas(["MALLOC_ARENA_MAX": "8"]))
        #expect(MemoryTuning.operatorChoseArenas(["GLIBC_TUNABLES": "glibc.malloc.tcache_count=0:glibc.malloc.arena_max=4"]))
        #expect(!MemoryTuning.operatorChoseArenas(["GLIBC_TUNABLES": "glibc.malloc.tcache_count=0"]))
        #expect(!MemoryTuning.operatorChoseArenas([:]))
        #expect(!MemoryTuning.limitMallocArenas(environment: ["MALLOC_ARENA_MAX": "8"]), "nothing asked of glibc")
    }

    #if canImport(Glibc)
    @Test("on glibc, the cap is taken (mallopt with M_ARENA_MAX from <malloc.h>)")
    func capTaken() {
        #expect(MemoryTuning.limitMallocArenas(environment: [:]))
        #expect(MemoryTuning.arenas == 2)
    }
    #endif
}
