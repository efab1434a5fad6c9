import BridgeService
import Testing

@Suite("Memory tuning")
struct MemoryTuningTests {
    @Test("serve caps glibc's malloc arenas, unless the operator set MALLOC_ARENA_MAX")
    func arenaCap() {
        #expect(!MemoryTuning.limitMallocArenas(environment: ["MALLOC_ARENA_MAX": "8"]), "the operator's setting wins")
        #expect(MemoryTuning.limitMallocArenas(environment: [:]), "mallopt accepted the cap")
        #expect(MemoryTuning.arenas == 2)
    }
}
