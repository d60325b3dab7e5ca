/* alloc.c - the allocation entry points of sealdb; one place to plug an allocator or inject OOM. */
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
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

#define HUGE_SZ ((size_t)2 << 20)
static size_t huge_len(size_t n) { return n > SIZE_MAX - HUGE_SZ ? 0 : (n + HUGE_SZ - 1) & ~(HUGE_SZ - 1); }

void *sdb_map_huge(size_t n) {
    size_t len = huge_len(n ? n : 1);
    if (!len || len > SIZE_MAX - HUGE_SZ || should_fail()) return NULL;
    uint8_t *p = mmap(NULL, len + HUGE_SZ, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    /* keep the 2 MiB-aligned part: only aligned ranges can be huge pages */
    size_t head = (HUGE_SZ - ((uintptr_t)p & (HUGE_SZ - 1))) & (HUGE_SZ - 1);
    if (head) munmap(p, head);
    if (HUGE_SZ - head) munmap(p + head + len, HUGE_SZ - head);
    p += head;
#ifdef MADV_HUGEPAGE
    (void)madvise(p, len, MADV_HUGEPAGE);   /* a hint: refused (no THP) it is ordinary pages */
#endif
    return p;
}

void sdb_unmap_huge(void *p, size_t n) {
    if (p) munmap(p, huge_len(n ? n : 1));
}

char *sdb_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = sdb_malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}
