/* arena.c - request-scoped bump allocator: many small allocations, one free (h2o's mem pool idea). */
#include "util/util.h"

struct sdb_arena_block {
    sdb_arena_block *next;
    size_t used, cap;
    _Alignas(16) uint8_t data[];
};

void sdb_arena_init(sdb_arena *a, size_t block_size) {
    a->head = NULL;
    a->block_size = block_size ? block_size : 4096;
    a->huge = 0;
}

void sdb_arena_init_huge(sdb_arena *a) {
    sdb_arena_init(a, ((size_t)2 << 20) - sizeof(sdb_arena_block));
    a->huge = 1;
}

void *sdb_arena_alloc(sdb_arena *a, size_t n) {
    size_t need = (n + 15) & ~(size_t)15;
    if (need < n) return NULL;
    sdb_arena_block *b = a->head;
    if (!b || b->cap - b->used < need) {
        size_t cap = need > a->block_size ? need : a->block_size;
        size_t total;
        if (sdb_add_size(sizeof *b, cap, &total)) return NULL;
        b = a->huge ? sdb_map_huge(total) : sdb_malloc(total);
        if (!b) return NULL;
        b->cap = cap;
        b->used = 0;
        b->next = a->head;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += need;
    return p;
}

void *sdb_arena_dup(sdb_arena *a, const void *p, size_t n) {
    void *d = sdb_arena_alloc(a, n);
    if (d && n) memcpy(d, p, n);
    return d;
}

void sdb_arena_reset(sdb_arena *a) {
    sdb_arena_block *b = a->head;
    while (b) {
        sdb_arena_block *next = b->next;
        if (a->huge) sdb_unmap_huge(b, sizeof *b + b->cap);
        else sdb_free(b);
        b = next;
    }
    a->head = NULL;
}
