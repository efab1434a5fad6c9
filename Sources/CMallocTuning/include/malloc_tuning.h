#ifndef MALLOC_TUNING_H
#define MALLOC_TUNING_H

/// Caps glibc's malloc at `arenas` arenas (`mallopt(M_ARENA_MAX, arenas)`): 1 when glibc took it,
/// 0 when it refused or the C library is not glibc.
int bridge_limit_malloc_arenas(int arenas);

#endif
