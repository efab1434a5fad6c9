#include "malloc_tuning.h"

#include <stdlib.h>  // on glibc, defines __GLIBC__ (through <features.h>)

#if defined(__GLIBC__)
#include <malloc.h>

int bridge_limit_malloc_arenas(int arenas) { return mallopt(M_ARENA_MAX, arenas); }
#else
int bridge_limit_malloc_arenas(int arenas) {
    (void)arenas;
    return 0;
}
#endif
