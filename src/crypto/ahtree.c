/* ahtree.c - the appendable Merkle tree over tx Alh values (docs/format.md 5), in memory or backed by
 * an append-only node file.
 *
 * Layout: a 32-byte file header (magic "SDBAHT\0\1", u32 version, zero padding), then one record
 * per leaf n = 1, 2, ...: Alh(n), then the complete subtrees that end at leaf n, smallest first:
 * MTH[n-1,n) (the leaf hash), MTH[n-2,n), ..., MTH[n-2^z,n) where 2^z is the largest power of two
 * dividing n. Record n therefore holds 2+z hashes and starts at 32 + 32*(3(n-1) - popcount(n-1)),
 * so every complete aligned subtree the proofs need is found by arithmetic: one 32-byte read each.
 * A root or an incomplete range costs popcount(size) reads, a proof O(log^2 n) in the worst case.
 *
 * Concurrency: one appender (append, truncate, sync, close) and any number of reader threads
 * calling root_at, leaf_alh and the proof builders for sizes <= sdb_ahtree_size(). The size is published with a
 * release store after the record is in place. Appends go to a tail buffer; bytes below `flushed`
 * are in the file and read with pread, bytes above it are copied out of the buffer under `mu`,
 * which the appender also takes when it flushes (file) or grows (memory) the buffer. File bytes
 * are read through a read-only shared mapping of a large reserved range (see map_file), pread
 * only as a fallback. The right-border nodes of the last proven size are shared between readers
 * under `memo_mu` (see mth_memo); truncate clears them.
 *
 * Node cache (file mode): the nodes of level >= 8 (complete subtrees of 256+ leaves, about one
 * per 128 leaves) are also kept in memory, so a proof needs a pread only for the lower levels.
 * Cache chunks are allocated before the record that needs them is published and never move;
 * their pointers are published with release stores. */
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include "crypto/crypto.h"
#include "util/file.h"

#define AHT_HDR_LEN 32
#define AHT_VERSION 1
#define AHT_BUF_CAP (256u * 1024u)
static const uint8_t aht_magic[8] = { 'S', 'D', 'B', 'A', 'H', 'T', 0, 1 };

/* Incomplete ranges the proofs hash are suffixes [a, j) of the proven tree (its right border);
 * a memo keeps them for one j, so the proofs of one dual proof compute each border node once.
 * Keyed by the top bit of j - a (one suffix per key for a given j), `a` stored to be exact. */
typedef struct mth_memo {
    uint64_t j, have;
    uint64_t a[64];
    sdb_hash h[64];
} mth_memo;

struct sdb_ahtree {
    sdb_file *f;                 /* NULL: memory tree */
    uint64_t size;               /* published leaf count (atomic: release store, acquire load) */
    uint64_t flushed;            /* file offset where the buffer starts (atomic, changed under mu) */
    uint8_t *buf;                /* tail records not yet written to the file (all records in memory mode) */
    size_t buf_len, buf_cap;     /* appender-owned; buf pointer changes only under mu */
    pthread_mutex_t mu;
    sdb_hash frontier[64];       /* appender-owned: frontier[l] = subtree of 2^l leaves, for each set bit l of size */
    sdb_hash **cache;            /* file mode: CACHE_CHUNKS chunk pointers (atomic), see above */
    const uint8_t *map;          /* file mode: read-only shared mapping of the file's first map_len bytes, or NULL */
    size_t map_len;
    /* Border nodes of the last proven size (j = 0: none), shared by readers: proofs against the
     * same recent state (the common case) skip recomputing them. Cleared by truncate. */
    pthread_mutex_t memo_mu;
    mth_memo shared;
};

#define CACHE_MIN_LEVEL 8
#define CACHE_CHUNK 4096u        /* hashes per chunk (128 KiB) */
#define CACHE_CHUNKS 65536u      /* enough for 2^28 cached nodes, i.e. over 3e10 leaves */

static inline uint64_t rec_off(uint64_t n) {   /* start of leaf n's record, n >= 1 */
    uint64_t m = n - 1;
    return AHT_HDR_LEN + 32u * (3u * m - (uint64_t)__builtin_popcountll(m));
}
static inline unsigned tz(uint64_t n) { return (unsigned)__builtin_ctzll(n); }
static inline uint64_t ld_acq(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void st_rel(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

uint64_t sdb_ahtree_size(const sdb_ahtree *t) { return ld_acq(&t->size); }

/* Reads the 32 bytes at file offset off (which must be below the published end). */
static int read_hash(sdb_ahtree *t, uint64_t off, uint8_t out[SDB_HASH_LEN]) {
    if (t->f && off + 32 <= ld_acq(&t->flushed)) {
        /* Below `flushed` the bytes were written with pwrite before the release store, so the
         * shared mapping (same page cache) shows them; pages past EOF are never touched. */
        if (t->map && off + 32 <= t->map_len) { memcpy(out, t->map + off, 32); return SEALDB_OK; }
        return sdb_file_read_at(t->f, out, 32, off);
    }
    pthread_mutex_lock(&t->mu);
    uint64_t fl = t->flushed;
    if (off >= fl && off - fl + 32 <= t->buf_cap) {
        memcpy(out, t->buf + (off - fl), 32);
        pthread_mutex_unlock(&t->mu);
        return SEALDB_OK;
    }
    pthread_mutex_unlock(&t->mu);
    if (!t->f || off + 32 > fl) return SEALDB_CORRUPT;
    return sdb_file_read_at(t->f, out, 32, off);
}

/* Position of node (k, l), l >= CACHE_MIN_LEVEL, among all cached nodes: records k = 256m hold
 * tz(m)+1 of them, and the sum of tz(m')+1 over m' < m is 2(m-1) - popcount(m-1). */
static inline uint64_t cache_idx(uint64_t k, unsigned l) {
    uint64_t m = (k >> CACHE_MIN_LEVEL) - 1;
    return 2 * m - (uint64_t)__builtin_popcountll(m) + (l - CACHE_MIN_LEVEL);
}

static sdb_hash *cache_chunk(const sdb_ahtree *t, uint64_t idx) {
    if (!t->cache || idx / CACHE_CHUNK >= CACHE_CHUNKS) return NULL;
    return __atomic_load_n(&t->cache[idx / CACHE_CHUNK], __ATOMIC_ACQUIRE);
}

/* Appender: makes sure the chunks for the cached nodes of leaf k exist (before publishing k). */
static int cache_reserve(sdb_ahtree *t, uint64_t k) {
    if (!t->cache || (k & ((1u << CACHE_MIN_LEVEL) - 1))) return SEALDB_OK;
    uint64_t first = cache_idx(k, CACHE_MIN_LEVEL), last = cache_idx(k, tz(k));
    for (uint64_t c = first / CACHE_CHUNK; c <= last / CACHE_CHUNK && c < CACHE_CHUNKS; c++) {
        if (t->cache[c]) continue;
        sdb_hash *p = sdb_malloc(CACHE_CHUNK * sizeof(sdb_hash));
        if (!p) return SEALDB_NOMEM;
        __atomic_store_n(&t->cache[c], p, __ATOMIC_RELEASE);
    }
    return SEALDB_OK;
}

static void cache_put(sdb_ahtree *t, uint64_t k, unsigned l, const uint8_t h[SDB_HASH_LEN]) {
    uint64_t idx = cache_idx(k, l);
    sdb_hash *p = cache_chunk(t, idx);
    if (p) memcpy(p[idx % CACHE_CHUNK].b, h, SDB_HASH_LEN);
}

/* MTH[k-2^l, k): the complete subtree of 2^l leaves ending at leaf k (k a multiple of 2^l). */
static int node_at(sdb_ahtree *t, uint64_t k, unsigned l, uint8_t out[SDB_HASH_LEN]) {
    if (l >= CACHE_MIN_LEVEL && t->cache) {
        uint64_t idx = cache_idx(k, l);
        const sdb_hash *p = cache_chunk(t, idx);
        if (p) { memcpy(out, p[idx % CACHE_CHUNK].b, SDB_HASH_LEN); return SEALDB_OK; }
    }
    return read_hash(t, rec_off(k) + 32u * (1u + l), out);
}

/* Open: fills the cache from the file for leaves 1..n. */
static int cache_load(sdb_ahtree *t, uint64_t n) {
    uint8_t h[SDB_HASH_LEN];
    for (uint64_t k = 1u << CACHE_MIN_LEVEL; k <= n; k += 1u << CACHE_MIN_LEVEL) {
        int rc = cache_reserve(t, k);
        if (rc) return rc;
        for (unsigned l = CACHE_MIN_LEVEL; l <= tz(k); l++) {
            if ((rc = read_hash(t, rec_off(k) + 32u * (1u + l), h))) return rc;
            cache_put(t, k, l, h);
        }
    }
    return SEALDB_OK;
}

static inline uint64_t largest_pow2_below(uint64_t n) {   /* n >= 2 */
    return 1ull << (63 - __builtin_clzll(n - 1));
}


static void memo_init(mth_memo *m, uint64_t j) { m->j = j; m->have = 0; }

static void memo_copy(mth_memo *dst, const mth_memo *src) {
    dst->j = src->j;
    dst->have = src->have;
    for (uint64_t h = src->have; h; h &= h - 1) {
        unsigned k = (unsigned)__builtin_ctzll(h);
        dst->a[k] = src->a[k];
        dst->h[k] = src->h[k];
    }
}

/* Starts a memo for size j from the shared one when it is for the same j. */
static void memo_begin(sdb_ahtree *t, mth_memo *m, uint64_t j) {
    memo_init(m, j);
    pthread_mutex_lock(&t->memo_mu);
    if (t->shared.j == j) memo_copy(m, &t->shared);
    pthread_mutex_unlock(&t->memo_mu);
}

/* Publishes what a proof computed, unless the shared memo already has it all. */
static void memo_end(sdb_ahtree *t, const mth_memo *m) {
    pthread_mutex_lock(&t->memo_mu);
    if (t->shared.j != m->j || (m->have & ~t->shared.have)) {
        if (t->shared.j == m->j) {
            mth_memo merged;
            memo_copy(&merged, m);
            for (uint64_t h = t->shared.have & ~m->have; h; h &= h - 1) {
                unsigned k = (unsigned)__builtin_ctzll(h);
                merged.a[k] = t->shared.a[k];
                merged.h[k] = t->shared.h[k];
            }
            merged.have |= t->shared.have;
            memo_copy(&t->shared, &merged);
        } else {
            memo_copy(&t->shared, m);
        }
    }
    pthread_mutex_unlock(&t->memo_mu);
}

/* MTH[a, b) over 0-based leaf indexes, 0 <= a < b <= size. memo may be NULL. */
static int mth(sdb_ahtree *t, mth_memo *memo, uint64_t a, uint64_t b, uint8_t out[SDB_HASH_LEN]) {
    uint64_t n = b - a;
    if ((n & (n - 1)) == 0 && (a & (n - 1)) == 0) return node_at(t, b, tz(n), out);
    unsigned key = 63u - (unsigned)__builtin_clzll(n);
    if (memo && b == memo->j && (memo->have >> key & 1) && memo->a[key] == a) {
        memcpy(out, memo->h[key].b, SDB_HASH_LEN);
        return SEALDB_OK;
    }
    uint64_t k = largest_pow2_below(n);
    uint8_t l[SDB_HASH_LEN], r[SDB_HASH_LEN];
    int rc = mth(t, memo, a, a + k, l);
    if (!rc) rc = mth(t, memo, a + k, b, r);
    if (rc) return rc;
    sdb_hash_node(l, r, out);
    if (memo && b == memo->j) {
        memo->a[key] = a;
        memcpy(memo->h[key].b, out, SDB_HASH_LEN);
        memo->have |= 1ull << key;
    }
    return SEALDB_OK;
}

/* ---- open / close ---- */
static int aht_new(sdb_ahtree **out) {
    sdb_ahtree *t = sdb_calloc(1, sizeof *t);
    if (!t) return SEALDB_NOMEM;
    if (pthread_mutex_init(&t->mu, NULL)) { sdb_free(t); return SEALDB_NOMEM; }
    if (pthread_mutex_init(&t->memo_mu, NULL)) {
        pthread_mutex_destroy(&t->mu);
    pthread_mutex_destroy(&t->memo_mu);
        sdb_free(t);
        return SEALDB_NOMEM;
    }
    t->flushed = AHT_HDR_LEN;
    *out = t;
    return SEALDB_OK;
}

int sdb_ahtree_open_mem(sdb_ahtree **out) {
    if (!out) return SEALDB_INVALID;
    return aht_new(out);
}

/* Rebuilds the appender's frontier of size n from stored nodes. */
static int load_frontier(sdb_ahtree *t, uint64_t n) {
    uint64_t pos = 0;
    for (int l = 63; l >= 0; l--) {
        if (!(n >> l & 1)) continue;
        pos += 1ull << l;
        int rc = node_at(t, pos, (unsigned)l, t->frontier[l].b);
        if (rc) return rc;
    }
    return SEALDB_OK;
}

/* Recomputes the last AHT_TAIL_CHECK records from their Alh and left siblings. Appends are not
 * synced one by one, so after a crash the tail may hold zeros or stale bytes even though the
 * file is long enough; *n becomes the last leaf before the first inconsistent record. */
#define AHT_TAIL_CHECK 1024
static int check_tail(sdb_ahtree *t, uint64_t *n) {
    uint64_t size = *n, lo = size > AHT_TAIL_CHECK ? size - AHT_TAIL_CHECK + 1 : 1;
    uint8_t alh[SDB_HASH_LEN], h[SDB_HASH_LEN], got[SDB_HASH_LEN], left[SDB_HASH_LEN];
    int rc;
    for (uint64_t k = lo; k <= size; k++) {
        if ((rc = read_hash(t, rec_off(k), alh)) || (rc = read_hash(t, rec_off(k) + 32, got))) return rc;
        sdb_hash_leaf(alh, SDB_HASH_LEN, h);
        if (memcmp(h, got, 32) != 0) { *n = k - 1; return SEALDB_OK; }
        for (unsigned l = 1; l <= tz(k); l++) {
            /* MTH[k-2^l, k) = node(MTH[k-2^l, k-2^(l-1)), MTH[k-2^(l-1), k)) */
            if ((rc = node_at(t, k - (1ull << (l - 1)), l - 1, left)) || (rc = node_at(t, k, l, got))) return rc;
            sdb_hash_node(left, h, h);
            if (memcmp(h, got, 32) != 0) { *n = k - 1; return SEALDB_OK; }
        }
    }
    return SEALDB_OK;
}

static int write_header(sdb_file *f) {
    uint8_t h[AHT_HDR_LEN];
    memset(h, 0, sizeof h);
    memcpy(h, aht_magic, 8);
    sdb_put_u32be(h + 8, AHT_VERSION);
    int rc = sdb_file_truncate(f, 0);
    if (!rc) rc = sdb_file_write_at(f, h, sizeof h, 0);
    return rc;
}

/* Reserves address space for the node file once and never remaps: the mapping may be longer than
 * the file (pages past EOF are simply not read), so readers need no lock while the appender grows
 * the file, and the pointer never changes. Only with the POSIX vfs (a test vfs that injects read
 * faults keeps going through pread), and only as an optimisation: if no reservation succeeds, or
 * the file outgrows it, reads fall back to pread. Reading the map is safe while nobody shrinks the
 * file below a size readers use (the truncate rule in crypto.h); an external truncation of a live
 * node file is absorbed by the map guard (util.h): zeros, not SIGBUS. */
static void map_file(sdb_ahtree *t) {
    static const uint64_t sizes[] = { 1ull << 40, 1ull << 36, 1ull << 32, 1ull << 28 };
    if (sdb_vfs_default() != sdb_vfs_posix() || sizeof(size_t) < 8) return;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        void *p = mmap(NULL, (size_t)sizes[i], PROT_READ, MAP_SHARED | MAP_NORESERVE, sdb_file_fd(t->f), 0);
        if (p != MAP_FAILED) {
            /* guarded: a node file truncated by someone reads as zeros (wrong proofs, which
             * clients reject), not SIGBUS; unguarded (table full) it is not mapped at all */
            if (sdb_mapguard_add(p, (size_t)sizes[i])) { munmap(p, (size_t)sizes[i]); return; }
            t->map = p;
            t->map_len = (size_t)sizes[i];
            return;
        }
    }
}

int sdb_ahtree_open_file(const char *path, sdb_ahtree **out) {
    sdb_ahtree *t = NULL;
    uint64_t fs;
    int rc;
    if (!path || !out) return SEALDB_INVALID;
    if ((rc = aht_new(&t))) return rc;
    if ((rc = sdb_file_open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644, &t->f))) goto fail;
    if ((rc = sdb_file_size(t->f, &fs))) goto fail;
    if (fs < AHT_HDR_LEN) {
        /* New file, or a header torn at creation: the tree is derived data, start it empty. */
        if ((rc = write_header(t->f))) goto fail;
        fs = AHT_HDR_LEN;
    } else {
        uint8_t h[AHT_HDR_LEN];
        if ((rc = sdb_file_read_at(t->f, h, sizeof h, 0))) goto fail;
        if (memcmp(h, aht_magic, 8) != 0) { rc = SEALDB_CORRUPT; goto fail; }
        if (sdb_get_u32be(h + 8) != AHT_VERSION) { rc = SEALDB_UNSUPPORTED; goto fail; }
    }
    /* Leaf count: the largest n whose record ends inside the file; a torn tail record is cut. */
    uint64_t n = ((fs - AHT_HDR_LEN) / 32 + 64) / 3 + 1;
    while (n > 0 && rec_off(n + 1) > fs) n--;
    if (rec_off(n + 1) < fs && (rc = sdb_file_truncate(t->f, rec_off(n + 1)))) goto fail;
    t->flushed = rec_off(n + 1);
    t->size = n;
    if ((rc = check_tail(t, &n))) goto fail;
    if (n < t->size) {
        if ((rc = sdb_file_truncate(t->f, rec_off(n + 1)))) goto fail;
        t->flushed = rec_off(n + 1);
        t->size = n;
    }
    map_file(t);
    t->cache = sdb_calloc(CACHE_CHUNKS, sizeof *t->cache);
    if (!t->cache) { rc = SEALDB_NOMEM; goto fail; }
    if ((rc = cache_load(t, n))) goto fail;
    if ((rc = load_frontier(t, n))) goto fail;
    *out = t;
    return SEALDB_OK;
fail:
    sdb_ahtree_close(t);
    return rc;
}

/* Writes the tail buffer to the file (file mode). Appender only. */
static int flush_buf(sdb_ahtree *t) {
    if (!t->f || t->buf_len == 0) return SEALDB_OK;
    int rc = sdb_file_write_at(t->f, t->buf, t->buf_len, t->flushed);
    if (rc) return rc;
    pthread_mutex_lock(&t->mu);
    st_rel(&t->flushed, t->flushed + t->buf_len);
    t->buf_len = 0;
    pthread_mutex_unlock(&t->mu);
    return SEALDB_OK;
}

void sdb_ahtree_close(sdb_ahtree *t) {
    if (!t) return;
    (void)flush_buf(t);
    if (t->map) {
        sdb_mapguard_remove(t->map);
        munmap((void *)(uintptr_t)t->map, t->map_len);
    }
    sdb_file_close(t->f);
    pthread_mutex_destroy(&t->mu);
    pthread_mutex_destroy(&t->memo_mu);
    sdb_free(t->buf);
    if (t->cache) {
        for (size_t c = 0; c < CACHE_CHUNKS; c++) sdb_free(t->cache[c]);
        sdb_free(t->cache);
    }
    sdb_free(t);
}

int sdb_ahtree_sync(sdb_ahtree *t) {
    if (!t) return SEALDB_INVALID;
    if (!t->f) return SEALDB_OK;
    int rc = flush_buf(t);
    if (!rc) rc = sdb_file_sync(t->f);
    return rc;
}

/* Makes room for `need` more bytes in the tail buffer. */
static int reserve(sdb_ahtree *t, size_t need) {
    if (t->buf_len + need <= t->buf_cap) return SEALDB_OK;
    if (t->f) {
        int rc = flush_buf(t);
        if (rc) return rc;
        if (need <= t->buf_cap) return SEALDB_OK;
    }
    size_t ncap = t->buf_cap ? t->buf_cap : (t->f ? AHT_BUF_CAP : 4096);
    while (ncap < t->buf_len + need) {
        if (sdb_mul_size(ncap, 2, &ncap)) return SEALDB_TOOLARGE;
    }
    pthread_mutex_lock(&t->mu);
    uint8_t *nb = sdb_realloc(t->buf, ncap);
    if (nb) { t->buf = nb; t->buf_cap = ncap; }
    pthread_mutex_unlock(&t->mu);
    return nb ? SEALDB_OK : SEALDB_NOMEM;
}

int sdb_ahtree_append(sdb_ahtree *t, const uint8_t alh[SDB_HASH_LEN], uint8_t root_out[SDB_HASH_LEN]) {
    if (!t || !alh) return SEALDB_INVALID;
    uint64_t n = t->size + 1;
    if (n > (UINT64_MAX - AHT_HDR_LEN) / 96) return SEALDB_TOOLARGE;
    unsigned z = tz(n);
    size_t rec = 32u * (2u + z);
    int rc = reserve(t, rec);
    if (!rc) rc = cache_reserve(t, n);
    if (rc) return rc;
    uint8_t *p = t->buf + t->buf_len;   /* beyond the published end: no reader looks here */
    uint8_t h[SDB_HASH_LEN];
    memcpy(p, alh, 32);
    sdb_hash_leaf(alh, SDB_HASH_LEN, h);
    memcpy(p + 32, h, 32);
    for (unsigned l = 0; l < z; l++) {
        sdb_hash_node(t->frontier[l].b, h, h);
        memcpy(p + 64 + 32u * l, h, 32);
        if (l + 1 >= CACHE_MIN_LEVEL && t->cache) cache_put(t, n, l + 1, h);
    }
    memcpy(t->frontier[z].b, h, 32);
    t->buf_len += rec;
    st_rel(&t->size, n);
    if (root_out) {
        /* Fold the frontier from the smallest subtree (rightmost) to the biggest (leftmost). */
        memcpy(root_out, h, 32);
        for (unsigned l = z + 1; l < 64; l++)
            if (n >> l & 1) sdb_hash_node(t->frontier[l].b, root_out, root_out);
    }
    return SEALDB_OK;
}

int sdb_ahtree_root_at(sdb_ahtree *t, uint64_t n, uint8_t out[SDB_HASH_LEN]) {
    if (!t || n == 0 || n > ld_acq(&t->size)) return SEALDB_INVALID;
    return mth(t, NULL, 0, n, out);
}

int sdb_ahtree_leaf_alh(sdb_ahtree *t, uint64_t i, uint8_t out[SDB_HASH_LEN]) {
    if (!t || i == 0 || i > ld_acq(&t->size)) return SEALDB_INVALID;
    return read_hash(t, rec_off(i), out);
}

/* RFC 6962 audit path of leaf m in [a, b), nearest sibling first. */
static int path(sdb_ahtree *t, mth_memo *memo, uint64_t m, uint64_t a, uint64_t b, sdb_hashes *out) {
    uint8_t h[SDB_HASH_LEN];
    if (b - a == 1) return SEALDB_OK;
    uint64_t k = largest_pow2_below(b - a);
    int rc;
    if (m < k) {
        if ((rc = path(t, memo, m, a, a + k, out)) || (rc = mth(t, memo, a + k, b, h))) return rc;
    } else {
        if ((rc = path(t, memo, m - k, a + k, b, out)) || (rc = mth(t, memo, a, a + k, h))) return rc;
    }
    return sdb_hashes_push(out, h);
}

static int inclusion(sdb_ahtree *t, mth_memo *memo, uint64_t i, uint64_t j, sdb_hashes *out) {
    out->n = 0;
    return path(t, memo, i - 1, 0, j, out);
}

int sdb_ahtree_inclusion_proof(sdb_ahtree *t, uint64_t i, uint64_t j, sdb_hashes *out) {
    if (!t || !out || i == 0 || i > j || j > ld_acq(&t->size)) return SEALDB_INVALID;
    mth_memo memo;
    memo_begin(t, &memo, j);
    int rc = inclusion(t, &memo, i, j, out);
    if (!rc) memo_end(t, &memo);
    return rc;
}

/* docs/format.md 5.3 Sub(m, [a, b)): bottom-up, the old tree's rightmost complete subtree first. */
static int subproof(sdb_ahtree *t, mth_memo *memo, uint64_t m, uint64_t a, uint64_t b, sdb_hashes *out) {
    uint8_t h[SDB_HASH_LEN];
    int rc;
    if (m == b - a) {
        if ((rc = mth(t, memo, a, b, h))) return rc;
        return sdb_hashes_push(out, h);
    }
    uint64_t k = largest_pow2_below(b - a);
    if (m <= k) {
        if ((rc = subproof(t, memo, m, a, a + k, out)) || (rc = mth(t, memo, a + k, b, h))) return rc;
    } else {
        if ((rc = subproof(t, memo, m - k, a + k, b, out)) || (rc = mth(t, memo, a, a + k, h))) return rc;
    }
    return sdb_hashes_push(out, h);
}

static int consistency(sdb_ahtree *t, mth_memo *memo, uint64_t i, uint64_t j, sdb_hashes *out) {
    out->n = 0;
    if (i < j) return subproof(t, memo, i, 0, j, out);
    if (j == 1) return SEALDB_OK;
    uint64_t k = largest_pow2_below(j);
    uint8_t h[SDB_HASH_LEN];
    int rc;
    if ((rc = mth(t, memo, k, j, h)) || (rc = sdb_hashes_push(out, h))) return rc;
    if ((rc = mth(t, memo, 0, k, h)) || (rc = sdb_hashes_push(out, h))) return rc;
    return SEALDB_OK;
}

int sdb_ahtree_consistency_proof(sdb_ahtree *t, uint64_t i, uint64_t j, sdb_hashes *out) {
    if (!t || !out || i == 0 || i > j || j > ld_acq(&t->size)) return SEALDB_INVALID;
    mth_memo memo;
    memo_begin(t, &memo, j);
    int rc = consistency(t, &memo, i, j, out);
    if (!rc) memo_end(t, &memo);
    return rc;
}

int sdb_ahtree_proofs_at(sdb_ahtree *t, uint64_t j, uint64_t incl_i, sdb_hashes *incl,
                         uint64_t cons_i, sdb_hashes *cons, sdb_hashes *last) {
    if (!t || j == 0 || j > ld_acq(&t->size)) return SEALDB_INVALID;
    if ((incl && (incl_i == 0 || incl_i > j)) || (cons && (cons_i == 0 || cons_i > j))) return SEALDB_INVALID;
    mth_memo memo;
    memo_begin(t, &memo, j);
    int rc;
    if (incl && (rc = inclusion(t, &memo, incl_i, j, incl))) return rc;
    if (cons && (rc = consistency(t, &memo, cons_i, j, cons))) return rc;
    if (last && (rc = inclusion(t, &memo, j, j, last))) return rc;
    memo_end(t, &memo);
    return SEALDB_OK;
}

int sdb_ahtree_truncate(sdb_ahtree *t, uint64_t n) {
    if (!t || n > t->size) return SEALDB_INVALID;
    int rc;
    uint64_t end = rec_off(n + 1);
    if (t->f) {
        if ((rc = flush_buf(t)) || (rc = sdb_file_truncate(t->f, end))) return rc;
        pthread_mutex_lock(&t->mu);
        st_rel(&t->flushed, end);
        pthread_mutex_unlock(&t->mu);
    } else {
        t->buf_len = (size_t)(end - AHT_HDR_LEN);
    }
    st_rel(&t->size, n);
    pthread_mutex_lock(&t->memo_mu);
    t->shared.j = 0;   /* border nodes of sizes above n are about to change */
    t->shared.have = 0;
    pthread_mutex_unlock(&t->memo_mu);
    return load_frontier(t, n);
}

/* ---- verification (docs/format.md 5.2, 5.3): pure functions over untrusted proofs ---- */
int sdb_ahtree_verify_inclusion(const sdb_hashes *proof, uint64_t i, uint64_t j,
                                const uint8_t leaf_hash[SDB_HASH_LEN], const uint8_t root[SDB_HASH_LEN]) {
    if (!proof || !leaf_hash || !root) return SEALDB_INVALID;
    if (i > j || i == 0 || (i < j && proof->n == 0) || proof->n > 64) return SEALDB_TAMPERED;
    uint64_t a = i - 1, b = j - 1;
    uint8_t c[SDB_HASH_LEN];
    memcpy(c, leaf_hash, 32);
    for (size_t k = 0; k < proof->n; k++) {
        if ((a & 1) == 0 && a != b) sdb_hash_node(c, proof->h[k].b, c);
        else sdb_hash_node(proof->h[k].b, c, c);
        a >>= 1;
        b >>= 1;
    }
    return memcmp(c, root, 32) == 0 ? SEALDB_OK : SEALDB_TAMPERED;
}

/* One step of path p: its next term and c, in the order the path's position gives. */
static inline void mpath_step(sdb_mpath *p, size_t k, const uint8_t **l, const uint8_t **r) {
    if ((p->a & 1) == 0 && p->a != p->b) { *l = p->c; *r = p->terms->h[k].b; }
    else { *l = p->terms->h[k].b; *r = p->c; }
    p->a >>= 1;
    p->b >>= 1;
}

int sdb_mpaths_verify(sdb_mpath *p, size_t n) {
    if (n > 4) return SEALDB_INVALID;
    size_t most = 0;
    for (size_t i = 0; i < n; i++) {
        if (!p[i].terms || !p[i].root || p[i].terms->n > 64) return SEALDB_TAMPERED;
        if (p[i].terms->n > most) most = p[i].terms->n;
    }
    for (size_t k = 0; k < most; k++) {
        sdb_mpath *live[4];
        size_t m = 0;
        for (size_t i = 0; i < n; i++) if (k < p[i].terms->n) live[m++] = &p[i];
        size_t x = 0;
        for (; x + 1 < m; x += 2) {   /* distinct paths: their c are distinct buffers */
            const uint8_t *l0, *r0, *l1, *r1;
            mpath_step(live[x], k, &l0, &r0);
            mpath_step(live[x + 1], k, &l1, &r1);
            sdb_hash_node_x2(l0, r0, live[x]->c, l1, r1, live[x + 1]->c);
        }
        if (x < m) {
            const uint8_t *l, *r;
            mpath_step(live[x], k, &l, &r);
            sdb_hash_node(l, r, live[x]->c);
        }
    }
    int ok = 1;
    for (size_t i = 0; i < n; i++) ok &= (memcmp(p[i].c, p[i].root, 32) == 0) & (!p[i].exact || p[i].a == p[i].b);
    return ok ? SEALDB_OK : SEALDB_TAMPERED;
}

/* An ahtree inclusion proof of leaf i in the tree of size j as a path (shape checks first). */
static int incl_path(sdb_mpath *p, const sdb_hashes *proof, uint64_t i, uint64_t j, const uint8_t leaf[SDB_HASH_LEN],
                     const uint8_t root[SDB_HASH_LEN]) {
    if (i > j || i == 0 || (i < j && proof->n == 0) || proof->n > 64) return SEALDB_TAMPERED;
    p->terms = proof;
    p->a = i - 1;
    p->b = j - 1;
    memcpy(p->c, leaf, 32);
    p->root = root;
    p->exact = 0;
    return SEALDB_OK;
}

/* Two inclusion proofs checked in lockstep, so their hashes run two at a time. */
int sdb_ahtree_verify_inclusion2(const sdb_hashes *p0, uint64_t i0, uint64_t j0, const uint8_t leaf0[SDB_HASH_LEN],
                                 const uint8_t root0[SDB_HASH_LEN], const sdb_hashes *p1, uint64_t i1, uint64_t j1,
                                 const uint8_t leaf1[SDB_HASH_LEN], const uint8_t root1[SDB_HASH_LEN]) {
    return sdb_ahtree_verify_inclusion3(p0, i0, j0, leaf0, root0, p1, i1, j1, leaf1, root1, NULL);
}

int sdb_ahtree_verify_inclusion3(const sdb_hashes *p0, uint64_t i0, uint64_t j0, const uint8_t leaf0[SDB_HASH_LEN],
                                 const uint8_t root0[SDB_HASH_LEN], const sdb_hashes *p1, uint64_t i1, uint64_t j1,
                                 const uint8_t leaf1[SDB_HASH_LEN], const uint8_t root1[SDB_HASH_LEN], sdb_mpath *extra) {
    if (!p0 || !leaf0 || !root0 || !p1 || !leaf1 || !root1) return SEALDB_INVALID;
    sdb_mpath ps[3];
    if (incl_path(&ps[0], p0, i0, j0, leaf0, root0) || incl_path(&ps[1], p1, i1, j1, leaf1, root1)) return SEALDB_TAMPERED;
    size_t n = 2;
    if (extra) ps[n++] = *extra;
    return sdb_mpaths_verify(ps, n);
}

int sdb_ahtree_verify_last_inclusion(const sdb_hashes *proof, uint64_t j,
                                     const uint8_t leaf_hash[SDB_HASH_LEN], const uint8_t root[SDB_HASH_LEN]) {
    if (!proof || !leaf_hash || !root) return SEALDB_INVALID;
    if (j == 0 || proof->n > 64) return SEALDB_TAMPERED;
    uint8_t c[SDB_HASH_LEN];
    memcpy(c, leaf_hash, 32);
    for (size_t k = 0; k < proof->n; k++) sdb_hash_node(proof->h[k].b, c, c);
    return memcmp(c, root, 32) == 0 ? SEALDB_OK : SEALDB_TAMPERED;
}

int sdb_ahtree_verify_consistency(const sdb_hashes *proof, uint64_t i, uint64_t j,
                                  const uint8_t root_i[SDB_HASH_LEN], const uint8_t root_j[SDB_HASH_LEN]) {
    if (!proof || !root_i || !root_j) return SEALDB_INVALID;
    if (i > j || i == 0 || (i < j && proof->n == 0) || proof->n > 130) return SEALDB_TAMPERED;
    if (i == j && proof->n == 0) return memcmp(root_i, root_j, 32) == 0 ? SEALDB_OK : SEALDB_TAMPERED;
    uint64_t f = i - 1, s = j - 1;
    while (f & 1) { f >>= 1; s >>= 1; }
    uint8_t ci[SDB_HASH_LEN], cj[SDB_HASH_LEN];
    memcpy(ci, proof->h[0].b, 32);
    memcpy(cj, proof->h[0].b, 32);
    int same = 1;   /* ci == cj so far (they start equal): one hash serves both */
    for (size_t k = 1; k < proof->n; k++) {
        const uint8_t *t = proof->h[k].b;
        if ((f & 1) || f == s) {
            if (same) {
                sdb_hash_node(t, ci, ci);
                memcpy(cj, ci, 32);
            } else {
                sdb_hash_node_x2(t, ci, ci, t, cj, cj);
            }
            while ((f & 1) == 0 && f != 0) { f >>= 1; s >>= 1; }
        } else {
            sdb_hash_node(cj, t, cj);
            same = 0;
        }
        f >>= 1;
        s >>= 1;
    }
    if (memcmp(ci, root_i, 32) || memcmp(cj, root_j, 32)) return SEALDB_TAMPERED;
    return SEALDB_OK;
}
