/* util.h - the util layer's whole interface: byte slices and buffers, allocation, big-endian
 * helpers, overflow-checked arithmetic, errno mapping and a per-request arena. */
#ifndef SDB_UTIL_H
#define SDB_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "sealdb_err.h"

/* ---- allocation: everything goes through these so tests can inject OOM ---- */
void *sdb_malloc(size_t n);
void *sdb_calloc(size_t n, size_t size);
void *sdb_realloc(void *p, size_t n);
void  sdb_free(void *p);
/* Zeroed memory in 2 MiB-aligned pieces the kernel may back with transparent huge pages: one page
 * fault per 2 MiB instead of 512, and fewer TLB misses where data is read at random (the key
 * index's memtable). Freed by sdb_unmap_huge with the same n. */
void *sdb_map_huge(size_t n);
void  sdb_unmap_huge(void *p, size_t n);
char *sdb_strdup(const char *s);
/* Test hook: make the nth allocation from now fail (0 disables). */
void  sdb_alloc_fail_after(uint64_t n);

/* ---- bytes ---- */
typedef struct sdb_slice { const uint8_t *ptr; size_t len; } sdb_slice;   /* borrowed */
typedef struct sdb_buf { uint8_t *ptr; size_t len, cap; } sdb_buf;        /* owned, growable */

static inline sdb_slice sdb_slice_of(const void *p, size_t n) { return (sdb_slice){ (const uint8_t *)p, n }; }
static inline sdb_slice sdb_slice_str(const char *s) { return (sdb_slice){ (const uint8_t *)s, strlen(s) }; }
static inline int sdb_slice_eq(sdb_slice a, sdb_slice b) {
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}
/* memcmp-order comparison, shorter prefix first. */
int sdb_slice_cmp(sdb_slice a, sdb_slice b);

void sdb_buf_init(sdb_buf *b);
void sdb_buf_deinit(sdb_buf *b);                 /* frees and zeroes */
int  sdb_buf_reserve(sdb_buf *b, size_t extra);  /* room for len+extra */
int  sdb_buf_append(sdb_buf *b, const void *p, size_t n);
int  sdb_buf_append_u8(sdb_buf *b, uint8_t v);
int  sdb_buf_append_u16be(sdb_buf *b, uint16_t v);
int  sdb_buf_append_u32be(sdb_buf *b, uint32_t v);
int  sdb_buf_append_u64be(sdb_buf *b, uint64_t v);
static inline void sdb_buf_reset(sdb_buf *b) { b->len = 0; }
static inline sdb_slice sdb_buf_slice(const sdb_buf *b) { return (sdb_slice){ b->ptr, b->len }; }

/* ---- big-endian integers (every on-disk and hashed integer is big-endian) ---- */
static inline void sdb_put_u16be(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void sdb_put_u32be(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static inline void sdb_put_u64be(uint8_t *p, uint64_t v) {
    for (int i = 7; i >= 0; i--) { p[i] = (uint8_t)v; v >>= 8; }
}
/* LEB128 / protobuf varint: at most 10 bytes; returns the end */
static inline uint8_t *sdb_put_varint(uint8_t *p, uint64_t v) {
    while (v >= 0x80) { *p++ = (uint8_t)(v | 0x80); v >>= 7; }
    *p++ = (uint8_t)v;
    return p;
}
static inline uint16_t sdb_get_u16be(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t sdb_get_u32be(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint64_t sdb_get_u64be(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = (v << 8) | p[i];
    return v;
}

/* ---- a fast 64-bit hash of bytes (hash tables; the key index's Bloom filters store its bits on
 * disk, so it must never change) ---- */
static inline uint64_t sdb_hash64(const uint8_t *p, size_t n) {
    uint64_t h = 0x9e3779b97f4a7c15ull ^ (n * 0xff51afd7ed558ccdull);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ (w * 0xc4ceb9fe1a85ec53ull)) * 0x100000001b3ull;
        h ^= h >> 29;
        p += 8;
        n -= 8;
    }
    uint64_t w = 0;
    if (n) memcpy(&w, p, n);   /* an empty key may come as NULL */
    h = (h ^ (w * 0xc4ceb9fe1a85ec53ull)) * 0xff51afd7ed558ccdull;
    h ^= h >> 32;
    h *= 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 29);
}

/* ---- overflow-checked arithmetic: return SEALDB_TOOLARGE on overflow ---- */
static inline int sdb_add_u64(uint64_t a, uint64_t b, uint64_t *out) {
    return __builtin_add_overflow(a, b, out) ? SEALDB_TOOLARGE : SEALDB_OK;
}
static inline int sdb_mul_u64(uint64_t a, uint64_t b, uint64_t *out) {
    return __builtin_mul_overflow(a, b, out) ? SEALDB_TOOLARGE : SEALDB_OK;
}
static inline int sdb_add_size(size_t a, size_t b, size_t *out) {
    return __builtin_add_overflow(a, b, out) ? SEALDB_TOOLARGE : SEALDB_OK;
}
static inline int sdb_mul_size(size_t a, size_t b, size_t *out) {
    return __builtin_mul_overflow(a, b, out) ? SEALDB_TOOLARGE : SEALDB_OK;
}

/* ---- bounds-checked reader over untrusted bytes: every get fails with SEALDB_CORRUPT past the end ---- */
typedef struct sdb_reader { const uint8_t *p, *end; } sdb_reader;
static inline sdb_reader sdb_reader_of(sdb_slice s) { return (sdb_reader){ s.ptr, s.ptr + s.len }; }
static inline size_t sdb_reader_left(const sdb_reader *r) { return (size_t)(r->end - r->p); }
int sdb_rd_u8(sdb_reader *r, uint8_t *v);
int sdb_rd_u16be(sdb_reader *r, uint16_t *v);
int sdb_rd_u32be(sdb_reader *r, uint32_t *v);
int sdb_rd_u64be(sdb_reader *r, uint64_t *v);
int sdb_rd_bytes(sdb_reader *r, size_t len, sdb_slice *out);   /* borrowed from the input */

/* ---- errors ---- */
int sdb_err_from_errno(int e);   /* maps an errno value to a sealdb status code */
int sdb_last_errno(void);        /* this thread's errno behind the last sdb_err_from_errno, 0 if cleared */
void sdb_clear_errno(void);

/* Mapped-file guard (util/mapguard.c): a SIGBUS inside a registered mapping (a page past the end of
 * a file someone truncated) maps a zero page there instead of killing the process; readers then
 * see zeros, which their checks reject. add: SEALDB_BUSY when the table is full (do not map, or
 * map unguarded at your own risk). Remove before munmap. */
int  sdb_mapguard_add(const void *addr, size_t len);
void sdb_mapguard_remove(const void *addr);
uint64_t sdb_mapguard_faults(void);   /* faults absorbed so far (tests read it) */

/* ---- hex (tests, CLI, logs) ---- */
void sdb_hex_encode(const uint8_t *p, size_t n, char *out);        /* out has 2n+1 bytes */
int  sdb_hex_decode(const char *hex, size_t hex_len, sdb_buf *out); /* appends; SEALDB_INVALID on bad hex */

/* ---- arena: request-scoped memory freed once ---- */
typedef struct sdb_arena_block sdb_arena_block;
typedef struct sdb_arena { sdb_arena_block *head; size_t block_size; int huge; } sdb_arena;
void  sdb_arena_init(sdb_arena *a, size_t block_size);
void  sdb_arena_init_huge(sdb_arena *a);                /* 2 MiB blocks from sdb_map_huge */
void *sdb_arena_alloc(sdb_arena *a, size_t n);          /* 16-byte aligned, NULL on OOM */
void *sdb_arena_dup(sdb_arena *a, const void *p, size_t n);
void  sdb_arena_reset(sdb_arena *a);                    /* frees all but keeps nothing */
static inline void sdb_arena_deinit(sdb_arena *a) { sdb_arena_reset(a); }

/* ---- time ---- */
uint64_t sdb_now_ns(void);   /* CLOCK_MONOTONIC */
int64_t  sdb_unix_s(void);   /* CLOCK_REALTIME seconds */
int64_t  sdb_unix_ms(void);  /* CLOCK_REALTIME milliseconds */
/* Names the calling thread as top -H, perf and gdb show it (at most 15 characters). */
void sdb_thread_name(const char *name);

#endif
