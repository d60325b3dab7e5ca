/* alloc.c - the allocation entry points of sealdb; one place to plug an allocator or inject OOM. */
#include <stdatomic.h>
#include <stdlib.h>
#include "util/util.h"

static _Atomic uint64_t fail_countdown;   /* 0: never fail; n: the nth allocation from now fails */

void sdb_alloc_fail_after(uint64_t n) { atomic_store(&fail_countdown, n); }

static int should_fail(void) {
    uint64_t c = atomic_load_explicit(&fail_countdown, memory_order_relaxed);
    if (c == 0) return 0;
    return atomic_fetch_sub(&fail_countdown, 1) == 1;
}

void *sdb_malloc(size_t n) { return should_fail() ? NULL : malloc(n ? n : 1); }
void *sdb_calloc(size_t n, size_t size) { return should_fail() ? NULL : calloc(n ? n : 1, size ? size : 1); }
void *sdb_realloc(void *p, size_t n) { return should_fail() ? NULL : realloc(p, n ? n : 1); }
void sdb_free(void *p) { free(p); }

char *sdb_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = sdb_malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}
