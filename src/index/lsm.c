/* lsm.c - the key index as a log-structured merge tree (engine layer; API and semantics in index.h).
 *
 * Writes go to a memtable: a skiplist of keys (ordered reads) with a hash table beside it (point
 * lookups), each key holding its versions in an array; all of it lives in an arena, so a put does
 * no malloc. A full memtable becomes immutable and a flusher thread writes it as a sorted run file;
 * a merger thread merges runs of similar size (size-tiered). The journal is the only write-ahead
 * log: the manifest names the runs and the last tx they cover, and open replays the journal past it.
 *
 * Revisions are global per key: a memtable key starts at base_rev (the versions of the key already
 * in older memtables and runs), and a run stores each key as groups (key, first_rev, versions), so
 * ordering groups by (key, first_rev) is the same in every run and merging is a copy of groups.
 *
 * Run file (integers big-endian, varints LEB128):
 *   "SDBLSM01" u64 id | blocks | fence section | bloom section | footer (64 bytes)
 *   block   = u32 len | u32 crc32c(payload) | payload: groups until ~4 KiB | u32 restart offsets
 *             (every RESTART_EVERY-th group, from the first) | u32 their count
 *   group   = varint klen | key | varint first_rev | varint n (1..GROUP_MAX) | varint body len | n records
 *   record  = varint tx | varint entry_idx | u8 flags | [i64 expires_at] | varint val_off | varint val_len
 *   fence   = per block: u64 off | u32 len | varint klen | key | varint first_rev; then u32 crc32c
 *   bloom   = u8 k | bits; then u32 crc32c
 *   footer  = u64 fence_off, fence_len, bloom_off, bloom_len, nkeys, nvers, max_tx | u32 crc | "SDBF"
 * A block's CRC is checked on its first use (a bit per block), so opening a run reads only its
 * fence and bloom sections. Concurrency: one writer; readers are lock-free on the memtable
 * (release/acquire publication) and hold a refcounted view (memtables + runs) for a snapshot. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "index/index.h"
#include "storage/crc32c.h"
#include "util/file.h"

#define RUN_MAGIC "SDBLSM01"
#define MAN_MAGIC 0x53444d31u          /* "SDM1": manifest format 1 */
#define FOOTER_LEN 64u
#define BLOCK_TARGET 4096u
#define GROUP_MAX 128u                 /* versions per group: bounds a group's decode */
#define RESTART_EVERY 16u             /* a point read binary-searches these, then scans <= 16 groups */
#define MAX_H 12
#define BLOOM_BITS_PER_KEY 10u
#define BLOOM_K 7u
#define MERGE_MIN 4u                   /* runs of similar size merged together */
#define WBUF (256u << 10)

/* ---- small helpers ---- */

/* 64-bit hash of a key (hash table, Bloom filters: stored on disk, see sdb_hash64) */
static uint64_t key_hash(const uint8_t *p, size_t n) { return sdb_hash64(p, n); }

static int kcmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn) {
    size_t m = an < bn ? an : bn;
    int c = m ? memcmp(a, b, m) : 0;
    return c ? c : (an < bn ? -1 : an > bn);
}
static int starts_with(sdb_slice k, sdb_slice p) { return !p.len || (k.len >= p.len && !memcmp(k.ptr, p.ptr, p.len)); }

static int get_var(const uint8_t **pp, const uint8_t *end, uint64_t *out) {
    const uint8_t *p = *pp;
    uint64_t v = 0;
    for (unsigned s = 0; s < 64; s += 7) {
        if (p >= end) return SEALDB_CORRUPT;
        uint8_t b = *p++;
        v |= (uint64_t)(b & 0x7f) << s;
        if (!(b & 0x80)) { *pp = p; *out = v; return SEALDB_OK; }
    }
    return SEALDB_CORRUPT;
}

/* ---- memtable ---- */

/* A key's first 8 bytes, zero-padded, big-endian: ordering by it agrees with kcmp except on ties. */
static inline uint64_t key_prefix(const uint8_t *k, size_t kn) {
    if (kn >= 8) return sdb_get_u64be(k);
    uint8_t b[8] = { 0 };
    memcpy(b, k, kn);
    return sdb_get_u64be(b);
}

typedef struct mver {                  /* one version in the memtable */
    _Atomic uint64_t tx;               /* written last by the writer; readers check it first */
    uint64_t val_off;
    int64_t expires_at;
    uint32_t val_len, entry_idx, flags;
} mver;

typedef struct mnode {
    _Atomic(struct mnode *) hnext;     /* hash chain */
    _Atomic(mver *) vers;
    _Atomic uint32_t n;                /* versions stored (some may be past a snapshot's upto) */
    uint32_t cap;
    uint64_t base_rev;                 /* versions of the key before this memtable */
    uint64_t base_tx;                  /* tx of the key's latest version before it (0: none) */
    uint64_t hash;
    uint64_t batch_seq;                /* the batch that last touched it (abort bookkeeping) */
    uint16_t height;
    uint16_t linked;                   /* in the skiplist (done at commit, in key order) */
    uint32_t klen;
    uint64_t pfx;                      /* key_prefix(key): most comparisons stop here, next to the links */
    const uint8_t *key;
    _Atomic(struct mnode *) next[];    /* height links */
} mnode;

/* kcmp(x's key, y's key), by the prefixes first. */
static inline int ncmp(const mnode *x, const mnode *y) {
    if (x->pfx != y->pfx) return x->pfx < y->pfx ? -1 : 1;
    return kcmp(x->key, x->klen, y->key, y->klen);
}
/* kcmp(x's key, k), p = key_prefix(k). */
static inline int ncmp_key(const mnode *x, const uint8_t *k, size_t kn, uint64_t p) {
    if (x->pfx != p) return x->pfx < p ? -1 : 1;
    return kcmp(x->key, x->klen, k, kn);
}

typedef struct memtable {
    _Atomic int refs;
    sdb_arena arena;
    size_t bytes;                      /* arena bytes used (the size limit counts this) */
    _Atomic(mnode *) *buckets;
    size_t mask;
    _Atomic int height;
    uint64_t nkeys, nvers, upto;       /* upto: last tx when it became immutable */
    mnode *head;
} memtable;

static void *mt_alloc(memtable *m, size_t n) {
    void *p = sdb_arena_alloc(&m->arena, n);
    if (p) m->bytes += (n + 15) & ~(size_t)15;
    return p;
}

static memtable *mt_new(size_t limit) {
    memtable *m = sdb_calloc(1, sizeof *m);
    if (!m) return NULL;
    atomic_init(&m->refs, 1);
    /* nodes and buckets are touched at random: huge pages (when the kernel gives them) take the
     * page faults and most TLB misses off the indexing thread */
    sdb_arena_init_huge(&m->arena);
    size_t nb = 1024;
    while (nb < limit / 64 && nb < ((size_t)1 << 26)) nb <<= 1;
    m->buckets = sdb_map_huge(nb * sizeof *m->buckets);
    m->head = sdb_calloc(1, sizeof(mnode) + MAX_H * sizeof(_Atomic(mnode *)));
    if (!m->buckets || !m->head) {
        sdb_unmap_huge(m->buckets, nb * sizeof *m->buckets);
        sdb_free(m->head);
        sdb_free(m);
        return NULL;
    }
    m->mask = nb - 1;
    m->head->height = MAX_H;
    atomic_init(&m->height, 1);
    m->bytes = nb * sizeof *m->buckets;
    return m;
}
static void mt_unref(memtable *m) {
    if (!m || atomic_fetch_sub(&m->refs, 1) != 1) return;
    sdb_arena_reset(&m->arena);
    sdb_unmap_huge(m->buckets, (m->mask + 1) * sizeof *m->buckets);
    sdb_free(m->head);
    sdb_free(m);
}

static mnode *mt_find(memtable *m, const uint8_t *k, size_t kn, uint64_t h) {
    for (mnode *x = atomic_load_explicit(&m->buckets[h & m->mask], memory_order_acquire); x;
         x = atomic_load_explicit(&x->hnext, memory_order_acquire))
        if (x->hash == h && x->klen == kn && !memcmp(x->key, k, kn)) return x;
    return NULL;
}

/* Last node < key (or <= with incl), the head when none. */
static mnode *mt_before(memtable *m, const uint8_t *k, size_t kn, int incl, mnode **prev) {
    mnode *x = m->head;
    uint64_t p = key_prefix(k, kn);
    for (int l = atomic_load_explicit(&m->height, memory_order_acquire) - 1; l >= 0; l--) {
        for (;;) {
            mnode *nx = atomic_load_explicit(&x->next[l], memory_order_acquire);
            if (!nx) break;
            int c = ncmp_key(nx, k, kn, p);
            if (c < 0 || (incl && c == 0)) x = nx;
            else break;
        }
        if (prev) prev[l] = x;
    }
    return x;
}

static uint32_t rand_height(uint64_t *st) {
    uint64_t x = *st;
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    *st = x;
    uint32_t h = 1;
    while (h < MAX_H && (x & 3) == 0) { h++; x >>= 2; }
    return h;
}

/* A new key node, published in the hash table only: a batch links its new nodes into the skiplist
 * at commit, sorted, so each insertion starts from the previous one's predecessors (a finger
 * search over nearby nodes instead of a search from the head through cold memory). Until then
 * the node has no version any snapshot can see. */
static mnode *mt_node_new(memtable *m, const uint8_t *k, size_t kn, uint64_t h, uint64_t *rnd) {
    uint32_t ht = rand_height(rnd);
    mnode *x = mt_alloc(m, sizeof(mnode) + ht * sizeof(_Atomic(mnode *)) + kn);
    if (!x) return NULL;
    memset(x, 0, sizeof(mnode));
    x->height = (uint16_t)ht;
    x->klen = (uint32_t)kn;
    x->hash = h;
    x->pfx = key_prefix(k, kn);
    uint8_t *kp = (uint8_t *)&x->next[ht];
    memcpy(kp, k, kn);
    x->key = kp;
    for (uint32_t l = 0; l < ht; l++) atomic_init(&x->next[l], NULL);
    atomic_store_explicit(&x->hnext, atomic_load_explicit(&m->buckets[h & m->mask], memory_order_relaxed),
                          memory_order_relaxed);
    atomic_store_explicit(&m->buckets[h & m->mask], x, memory_order_release);
    return x;
}

typedef struct pnode { uint64_t p; mnode *x; } pnode;

/* Bytes [off, off + 8) of x's key, big-endian, zero-padded past its end: ordering keys by these
 * words is kcmp's order except between keys equal up to the shorter one's end (kcmp breaks that). */
static inline uint64_t key_word(const mnode *x, size_t off) {
    return off ? (x->klen > off ? key_prefix(x->key + off, x->klen - off) : 0) : x->pfx;
}

/* An LSD radix sort of a[0..n) by their p words (b: n pairs of scratch); byte passes whose digit is
 * the same for every word are skipped. Returns the array that holds the result (a or b). */
static pnode *radix_words(pnode *a, pnode *b, size_t n) {
    size_t cnt[8][256];   /* every pass's counts from one read (a pass only permutes) */
    memset(cnt, 0, sizeof cnt);
    for (size_t i = 0; i < n; i++)
        for (unsigned d = 0; d < 8; d++) cnt[d][(a[i].p >> (8 * d)) & 0xff]++;
    for (unsigned d = 0; d < 8; d++) {
        unsigned sh = 8 * d;
        size_t *c = cnt[d];
        if (c[(a[0].p >> sh) & 0xff] == n) continue;   /* one digit for all: nothing moves */
        size_t sum = 0;
        for (unsigned v = 0; v < 256; v++) { size_t k = c[v]; c[v] = sum; sum += k; }
        for (size_t i = 0; i < n; i++) b[c[(a[i].p >> sh) & 0xff]++] = a[i];
        pnode *t = a; a = b; b = t;
    }
    return a;
}

#define SORT_TIE_SMALL 16   /* ties up to this size: insertion sort by the whole key */

/* Sorts a[0..n), whose keys are equal in their first off bytes, into a (b: n pairs of scratch):
 * radix by the 8 bytes at off, then each run of equal words by the next 8 (MSD). Only short ties,
 * or keys that end within the word, go to an insertion sort by the whole key: a large tie (keys
 * sharing their first 8 bytes, such as "fill-000000123456", and a batch holding many txs whose
 * key ranges interleave) made that insertion sort quadratic (the replica's indexer spent most of
 * a catch-up in it). */
static void sort_tie(pnode *a, pnode *b, size_t n, size_t off) {
    int longer = 0;   /* some key goes on past this word: a further word can split a tie */
    if (n > SORT_TIE_SMALL) {
        for (size_t i = 0; i < n; i++) {
            a[i].p = key_word(a[i].x, off);
            longer |= a[i].x->klen > off + 8;
        }
        pnode *r = radix_words(a, b, n);
        if (r != a) memcpy(a, r, n * sizeof *a);
    }
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && a[j].p == a[i].p) j++;
        if (j - i > SORT_TIE_SMALL && longer) sort_tie(a + i, b, j - i, off + 8);
        else
            for (size_t k = i + 1; k < j; k++) {   /* insertion sort of a short tie */
                pnode v = a[k];
                size_t q = k;
                while (q > i && kcmp(a[q - 1].x->key, a[q - 1].x->klen, v.x->key, v.x->klen) > 0) { a[q] = a[q - 1]; q--; }
                a[q] = v;
            }
        i = j;
    }
}

/* Sorts xs[0..n) by key: an LSD radix sort of (prefix, node) pairs, then ties of equal prefixes
 * by the next key bytes (sort_tie). qsort on the nodes (a comparison through two pointers into
 * cold memory, n log n times) was ~20% of the engine's CPU on batched writes. tmp holds 2n pairs. */
static void sort_nodes(mnode **xs, size_t n, pnode *tmp) {
    pnode *a = tmp, *b = tmp + n;
    for (size_t i = 0; i < n; i++) a[i] = (pnode){ xs[i]->pfx, xs[i] };
    a = radix_words(a, b, n);
    b = a == tmp ? tmp + n : tmp;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && a[j].p == a[i].p) j++;
        if (j - i > 1) sort_tie(a + i, b, j - i, 8);
        i = j;
    }
    for (size_t i = 0; i < n; i++) xs[i] = a[i].x;
}

/* Links xs[0..n) (distinct keys, not linked yet) into the skiplist; sorts xs (tmp: 2n pairs).
 * A finger search from the previous insertion: prev[l] is the last node before the previous key
 * at level l, so before x too. If level l has a node between prev[l] and x, every lower level has
 * one, so the levels to advance are 0..h for the first h from the bottom whose finger's successor
 * is still >= x; the walk then goes down from h, and every node it reaches at level h is past all
 * lower fingers. A batch's keys are dense among the memtable's, so h is small: a few comparisons
 * per key instead of one or more per level from the top (each a cache miss in a large memtable). */
static void mt_link_sorted(memtable *m, mnode **xs, size_t n, pnode *tmp) {
    if (n > 1) sort_nodes(xs, n, tmp);
    mnode *prev[MAX_H];
    for (int l = 0; l < MAX_H; l++) prev[l] = m->head;
    for (size_t i = 0; i < n; i++) {
        mnode *x = xs[i];
        int cur = atomic_load_explicit(&m->height, memory_order_relaxed);
        if ((int)x->height > cur) {
            atomic_store_explicit(&m->height, (int)x->height, memory_order_release);
            cur = x->height;
        }
        int h = 0;
        for (; h < cur; h++) {
            mnode *nx = atomic_load_explicit(&prev[h]->next[h], memory_order_relaxed);
            if (!nx || ncmp(nx, x) >= 0) break;
        }
        /* levels 0..h-1 advance; from the top one down, each starts where the one above ended */
        mnode *y = h ? prev[h - 1] : NULL;
        for (int l = h - 1; l >= 0; l--) {
            for (;;) {
                mnode *nx = atomic_load_explicit(&y->next[l], memory_order_relaxed);
                if (!nx || ncmp(nx, x) >= 0) break;
                y = nx;
            }
            prev[l] = y;
        }
        for (uint32_t l = 0; l < x->height; l++) {
            atomic_store_explicit(&x->next[l], atomic_load_explicit(&prev[l]->next[l], memory_order_relaxed),
                                  memory_order_relaxed);
            atomic_store_explicit(&prev[l]->next[l], x, memory_order_release);
            prev[l] = x;
        }
        x->linked = 1;
        m->nkeys++;
    }
}

/* Versions of x visible at upto: versions are in tx order, so drop the tail past upto. */
static uint32_t mn_visible(mnode *x, uint64_t upto, mver **vs) {
    uint32_t n = atomic_load_explicit(&x->n, memory_order_acquire);
    mver *v = atomic_load_explicit(&x->vers, memory_order_acquire);
    while (n && atomic_load_explicit(&v[n - 1].tx, memory_order_relaxed) > upto) n--;
    *vs = v;
    return n;
}

static void mver_out(const mver *m, uint64_t rev, sdb_index_ver *o) {
    o->tx_id = atomic_load_explicit(&m->tx, memory_order_relaxed);
    o->revision = rev;
    o->entry_idx = m->entry_idx;
    o->flags = m->flags;
    o->expires_at = m->expires_at;
    o->val_off = m->val_off;
    o->val_len = m->val_len;
}

/* ---- runs ---- */

typedef struct fence { uint64_t off; uint32_t len; uint32_t klen; const uint8_t *key; uint64_t rev; } fence;

typedef struct run {
    _Atomic int refs;
    uint64_t id;
    char *path;
    uint8_t *map;
    size_t size;
    uint32_t nblocks;
    fence *f;
    uint8_t *bloom;                    /* bloom and fence keys are copied out of the map: a file */
    uint8_t *fkeys;                    /* truncated under us must not turn into "no such key" */
    uint64_t bloom_bits;
    unsigned bloom_k;
    _Atomic uint8_t *checked;          /* per block: CRC verified */
    uint64_t nkeys, nvers, max_tx;
    int obsolete;                      /* merged away: unlink on the last unref */
    int guarded, mapped;
} run;

static void run_unref(run *r) {
    if (!r || atomic_fetch_sub(&r->refs, 1) != 1) return;
    if (r->map && r->mapped) {
        if (r->guarded) sdb_mapguard_remove(r->map);
        munmap(r->map, r->size);
    }
    if (r->obsolete && r->path) unlink(r->path);
    sdb_free(r->path);
    sdb_free(r->f);
    sdb_free(r->bloom);
    sdb_free(r->fkeys);
    sdb_free((void *)r->checked);
    sdb_free(r);
}

/* Blocked Bloom filter: all probes of a key fall in one 512-bit line (one cache miss per run,
 * not one per probe); the line from the hash's high half, the bits from its low half. */
static uint64_t bloom_bit(uint64_t h, uint64_t nbits, unsigned i) {
    uint64_t line = ((h >> 32) * (nbits / 512)) >> 32;
    uint32_t h1 = (uint32_t)h, h2 = (uint32_t)(h >> 17) | 1;
    return line * 512 + ((h1 + i * h2) & 511);
}
static int bloom_may(const run *r, uint64_t h) {
    if (r->bloom_bits < 512) return 1;
    for (unsigned i = 0; i < r->bloom_k; i++) {
        uint64_t b = bloom_bit(h, r->bloom_bits, i);
        if (!(r->bloom[b >> 3] & (1u << (b & 7)))) return 0;
    }
    return 1;
}

/* The groups of block b (p..end) and its restart offsets (rs, nrs; may be NULL), CRC-checked on
 * first use. */
static int run_block2(run *r, uint32_t b, const uint8_t **p, const uint8_t **end, const uint8_t **rs, uint32_t *nrs) {
    const fence *f = &r->f[b];
    const uint8_t *h = r->map + f->off;
    uint32_t len = sdb_get_u32be(h);
    if (len + 8u != f->len || len < 8) return SEALDB_CORRUPT;
    if (!(atomic_load_explicit(&r->checked[b >> 3], memory_order_relaxed) & (1u << (b & 7)))) {
        if (sdb_crc32c(0, h + 8, len) != sdb_get_u32be(h + 4)) return SEALDB_CORRUPT;
        atomic_fetch_or_explicit(&r->checked[b >> 3], (uint8_t)(1u << (b & 7)), memory_order_relaxed);
    }
    uint32_t n = sdb_get_u32be(h + 8 + len - 4);
    if (n == 0 || n > (len - 4) / 4 - 1) return SEALDB_CORRUPT;   /* leaves room for a group */
    *p = h + 8;
    *end = h + 8 + len - 4 - 4 * n;
    if (rs) { *rs = *end; *nrs = n; }
    return SEALDB_OK;
}
static int run_block(run *r, uint32_t b, const uint8_t **p, const uint8_t **end) {
    return run_block2(r, b, p, end, NULL, NULL);
}

typedef struct grp {                   /* a decoded group header */
    const uint8_t *key;
    uint32_t klen, n;
    uint64_t first_rev;
    const uint8_t *recs, *end;         /* records; end = the group's end once skipped */
} grp;

static int rec_decode(const uint8_t **p, const uint8_t *end, sdb_index_ver *v) {
    uint64_t tx, ei, vo, vl;
    int rc;
    if ((rc = get_var(p, end, &tx)) || (rc = get_var(p, end, &ei))) return rc;
    if (*p >= end || ei > UINT32_MAX || tx == 0) return SEALDB_CORRUPT;
    uint8_t fl = *(*p)++;
    if (fl & ~(SDB_INDEX_DELETED | SDB_INDEX_HAS_EXPIRY)) return SEALDB_CORRUPT;
    int64_t exp = 0;
    if (fl & SDB_INDEX_HAS_EXPIRY) {
        if (end - *p < 8) return SEALDB_CORRUPT;
        exp = (int64_t)sdb_get_u64be(*p);
        *p += 8;
    }
    if ((rc = get_var(p, end, &vo)) || (rc = get_var(p, end, &vl))) return rc;
    if (vl > UINT32_MAX) return SEALDB_CORRUPT;
    if (v) {
        v->tx_id = tx;
        v->entry_idx = (uint32_t)ei;
        v->flags = fl;
        v->expires_at = exp;
        v->val_off = vo;
        v->val_len = (uint32_t)vl;
    }
    return SEALDB_OK;
}

/* Decodes the group header at *p and moves *p past the group (its body length says where). */
static int grp_head(const uint8_t **p, const uint8_t *end, grp *g, int skip) {
    uint64_t kl, fr, n, bl;
    (void)skip;
    int rc;
    if ((rc = get_var(p, end, &kl))) return rc;
    if (kl == 0 || kl > SDB_INDEX_MAX_KEY_LEN || (uint64_t)(end - *p) < kl) return SEALDB_CORRUPT;
    g->key = *p;
    g->klen = (uint32_t)kl;
    *p += kl;
    if ((rc = get_var(p, end, &fr)) || (rc = get_var(p, end, &n))) return rc;
    if (fr == 0 || n == 0 || n > GROUP_MAX || fr > UINT64_MAX - n) return SEALDB_CORRUPT;
    if ((rc = get_var(p, end, &bl))) return rc;
    if (bl < 3 * n || bl > (uint64_t)(end - *p)) return SEALDB_CORRUPT;
    g->first_rev = fr;
    g->n = (uint32_t)n;
    g->recs = *p;
    g->end = *p + bl;
    *p = g->end;
    return SEALDB_OK;
}

/* Decodes every version of g into out[0..n) (revisions filled), checking tx order. */
static int grp_versions(const grp *g, const uint8_t *end, sdb_index_ver *out) {
    const uint8_t *p = g->recs;
    (void)end;
    for (uint32_t i = 0; i < g->n; i++) {
        int rc = rec_decode(&p, g->end, &out[i]);
        if (rc) return rc;
        if (i && out[i].tx_id <= out[i - 1].tx_id) return SEALDB_CORRUPT;
        out[i].revision = g->first_rev + i;
    }
    return p == g->end ? SEALDB_OK : SEALDB_CORRUPT;
}

/* Index of the last block whose fence (key, rev) is < (k, rev) (or <= with incl); -1 when none. */
static long fence_find(const run *r, const uint8_t *k, size_t kn, uint64_t rev, int incl) {
    long lo = 0, hi = (long)r->nblocks - 1, ans = -1;
    while (lo <= hi) {
        long mid = lo + (hi - lo) / 2;
        const fence *f = &r->f[mid];
        int c = kcmp(f->key, f->klen, k, kn);
        if (c == 0) c = f->rev < rev ? -1 : f->rev > rev;
        if (c < 0 || (incl && c == 0)) { ans = mid; lo = mid + 1; }
        else hi = mid - 1;
    }
    return ans;
}

/* The group of key k in run r holding revision rev (rev = UINT64_MAX: the key's last group).
 * SEALDB_NOTFOUND when the run has no such group. */
static int run_group(run *r, const uint8_t *k, size_t kn, uint64_t rev, grp *out, const uint8_t **bend) {
    long b = fence_find(r, k, kn, rev, 1);
    if (b < 0) return SEALDB_NOTFOUND;
    const uint8_t *p, *end, *rs;
    uint32_t nrs;
    int rc = run_block2(r, (uint32_t)b, &p, &end, &rs, &nrs);
    if (rc) return rc;
    /* the last restart group at or before (k, rev), then a short scan */
    const uint8_t *base = p;
    uint32_t lo = 0, hi = nrs;
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        uint32_t off = sdb_get_u32be(rs + 4 * mid);
        if (off >= (size_t)(end - base)) return SEALDB_CORRUPT;
        const uint8_t *q = base + off;
        grp g;
        if ((rc = grp_head(&q, end, &g, 0))) return rc;
        int c = kcmp(g.key, g.klen, k, kn);
        if (c < 0 || (c == 0 && g.first_rev <= rev)) lo = mid;
        else hi = mid;
    }
    uint32_t off0 = sdb_get_u32be(rs + 4 * lo);
    if (off0 >= (size_t)(end - base)) return SEALDB_CORRUPT;
    p = base + off0;
    int found = 0;
    while (p < end) {
        grp g;
        if ((rc = grp_head(&p, end, &g, 1))) return rc;
        int c = kcmp(g.key, g.klen, k, kn);
        if (c > 0) break;
        if (c == 0) {
            if (g.first_rev > rev) break;
            *out = g;
            found = 1;
            if (rev != UINT64_MAX && rev < g.first_rev + g.n) break;
        }
    }
    if (!found) return SEALDB_NOTFOUND;
    if (rev != UINT64_MAX && rev >= out->first_rev + out->n) return SEALDB_NOTFOUND;
    *bend = end;
    return SEALDB_OK;
}

/* ---- views and the index ---- */

typedef struct view {
    _Atomic int refs;
    memtable *mem, *imm;
    size_t nruns;
    run **runs;                        /* newest first */
} view;

static void view_unref(view *v) {
    if (!v || atomic_fetch_sub(&v->refs, 1) != 1) return;
    mt_unref(v->mem);
    mt_unref(v->imm);
    for (size_t i = 0; i < v->nruns; i++) run_unref(v->runs[i]);
    sdb_free(v->runs);
    sdb_free(v);
}

static view *view_new(memtable *mem, memtable *imm, run **runs, size_t n) {
    view *v = sdb_calloc(1, sizeof *v);
    if (!v) return NULL;
    v->runs = n ? sdb_calloc(n, sizeof *runs) : NULL;
    if (n && !v->runs) { sdb_free(v); return NULL; }
    atomic_init(&v->refs, 1);
    v->mem = mem;
    v->imm = imm;
    if (mem) atomic_fetch_add(&mem->refs, 1);
    if (imm) atomic_fetch_add(&imm->refs, 1);
    for (size_t i = 0; i < n; i++) { v->runs[i] = runs[i]; atomic_fetch_add(&runs[i]->refs, 1); }
    v->nruns = n;
    return v;
}

struct sdb_index {
    char *dir;
    pthread_mutex_t mu;                /* cur, imm state, upto, flags */
    pthread_cond_t cv;                 /* background work / done */
    pthread_mutex_t man_mu;            /* orders manifest writes */
    view *cur;
    _Atomic uint64_t upto;
    uint64_t flushed_upto;             /* covered by the runs (the manifest) */
    uint64_t next_id;
    size_t mem_limit;
    int batch_open, read_only, stop, bg_rc, merging;
    pthread_t flusher, merger;
    int threads;
    uint64_t rnd, batch_seq;
    sdb_index_batch *batch;            /* reused */
};

struct sdb_index_snap {
    sdb_index *ix;
    view *v;
    uint64_t upto;
};

struct sdb_index_batch {
    sdb_index *ix;
    view *v;                           /* runs/imm for base revisions */
    size_t n;
    struct touched { mnode *x; uint32_t n; } *t;
    size_t nt, capt;
    mnode **link;                      /* commit: touched nodes not in the skiplist yet */
    pnode *sortbuf;                    /* commit: 2 * clink pairs for sort_nodes */
    size_t clink;
};

void sdb_index_opts_default(sdb_index_opts *o) {
    memset(o, 0, sizeof *o);
    o->memtable_bytes = SDB_INDEX_MEMTABLE_DEFAULT;
    o->create = 1;
}

static view *cur_view(sdb_index *ix, uint64_t *upto) {
    pthread_mutex_lock(&ix->mu);
    view *v = ix->cur;
    atomic_fetch_add(&v->refs, 1);
    if (upto) *upto = atomic_load(&ix->upto);
    pthread_mutex_unlock(&ix->mu);
    return v;
}

/* ---- files ---- */

static int path_of(const sdb_index *ix, char *buf, size_t n, const char *name) {
    int w = snprintf(buf, n, "%s/%s", ix->dir, name);
    return w < 0 || (size_t)w >= n ? SEALDB_TOOLARGE : SEALDB_OK;
}
static void run_name(uint64_t id, char *buf, size_t n) { snprintf(buf, n, "run-%016llx.sst", (unsigned long long)id); }

static int run_parse(run *r, uint64_t id, int crcs);

static int run_open(sdb_index *ix, uint64_t id, run **out) {
    char name[64], p[4200];
    run_name(id, name, sizeof name);
    int rc = path_of(ix, p, sizeof p, name);
    if (rc) return rc;
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? SEALDB_CORRUPT : sdb_err_from_errno(errno);
    struct stat st;
    if (fstat(fd, &st)) { rc = sdb_err_from_errno(errno); close(fd); return rc; }
    if ((uint64_t)st.st_size < 16 + FOOTER_LEN || (uint64_t)st.st_size > SIZE_MAX) { close(fd); return SEALDB_CORRUPT; }
    run *r = sdb_calloc(1, sizeof *r);
    if (!r) { close(fd); return SEALDB_NOMEM; }
    atomic_init(&r->refs, 1);
    r->id = id;
    r->size = (size_t)st.st_size;
    r->path = sdb_malloc(strlen(p) + 1);
    void *m = mmap(NULL, r->size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED || !r->path) {
        if (m != MAP_FAILED) munmap(m, r->size);
        sdb_free(r->path);
        sdb_free(r);
        return SEALDB_NOMEM;
    }
    strcpy(r->path, p);
    r->map = m;
    r->mapped = 1;
    r->guarded = sdb_mapguard_add(m, r->size) == SEALDB_OK;
    if ((rc = run_parse(r, id, 1))) { run_unref(r); return rc; }
    *out = r;
    return SEALDB_OK;
}

/* Checks and parses the footer, fences and bloom of r->map (r->size bytes); with crcs 0 (the fuzz
 * target) their checksums are not checked and every block counts as checked. */
static int run_parse(run *r, uint64_t id, int crcs) {
    int rc = SEALDB_CORRUPT;
    if (r->size < 16 + FOOTER_LEN) return SEALDB_CORRUPT;
    const uint8_t *ft = r->map + r->size - FOOTER_LEN;
    if (memcmp(r->map, RUN_MAGIC, 8) || sdb_get_u64be(r->map + 8) != id) goto fail;
    if (memcmp(ft + 60, "SDBF", 4) || (crcs && sdb_crc32c(0, ft, 56) != sdb_get_u32be(ft + 56))) goto fail;
    uint64_t foff = sdb_get_u64be(ft), flen = sdb_get_u64be(ft + 8), boff = sdb_get_u64be(ft + 16),
             blen = sdb_get_u64be(ft + 24);
    r->nkeys = sdb_get_u64be(ft + 32);
    r->nvers = sdb_get_u64be(ft + 40);
    r->max_tx = sdb_get_u64be(ft + 48);
    uint64_t body = r->size - FOOTER_LEN;
    if (foff < 16 || flen < 4 || foff > body || flen > body - foff || boff != foff + flen || blen < 5 ||
        blen > body - boff || boff + blen != body)
        goto fail;
    const uint8_t *fp = r->map + foff, *fe = fp + flen - 4;
    if (crcs && sdb_crc32c(0, fp, flen - 4) != sdb_get_u32be(fe)) goto fail;
    const uint8_t *bp = r->map + boff;
    if (crcs && sdb_crc32c(0, bp, blen - 4) != sdb_get_u32be(bp + blen - 4)) goto fail;
    r->bloom_k = bp[0];
    r->bloom_bits = (blen - 5) * 8;
    if (r->bloom_k == 0 || r->bloom_k > 16) goto fail;
    r->bloom = sdb_malloc(blen - 5 + 1);
    r->fkeys = sdb_malloc(flen);
    if (!r->bloom || !r->fkeys) { rc = SEALDB_NOMEM; goto fail; }
    memcpy(r->bloom, bp + 1, blen - 5);
    size_t fk = 0;
    /* fences: count first (each is at least 14 bytes) */
    size_t cap = (size_t)(flen / 14) + 1, n = 0;
    r->f = sdb_calloc(cap, sizeof *r->f);
    if (!r->f) { rc = SEALDB_NOMEM; goto fail; }
    uint64_t prev_end = 16;
    while (fp < fe) {
        fence *f = &r->f[n];
        uint64_t kl;
        if (fe - fp < 12 || n == cap) goto fail;
        f->off = sdb_get_u64be(fp);
        f->len = sdb_get_u32be(fp + 8);
        fp += 12;
        if (f->off != prev_end || f->len < 8 || f->len > foff - f->off) goto fail;
        prev_end = f->off + f->len;
        if (get_var(&fp, fe, &kl) || kl == 0 || kl > SDB_INDEX_MAX_KEY_LEN || (uint64_t)(fe - fp) < kl) goto fail;
        memcpy(r->fkeys + fk, fp, kl);
        f->key = r->fkeys + fk;
        fk += kl;
        f->klen = (uint32_t)kl;
        fp += kl;
        if (get_var(&fp, fe, &f->rev) || f->rev == 0) goto fail;
        if (n && kcmp(r->f[n - 1].key, r->f[n - 1].klen, f->key, f->klen) > 0) goto fail;
        n++;
    }
    if (prev_end != foff) goto fail;
    r->nblocks = (uint32_t)n;
    r->checked = sdb_calloc(n / 8 + 1, 1);
    if (!r->checked) { rc = SEALDB_NOMEM; goto fail; }
    if (!crcs) memset((void *)r->checked, 0xff, n / 8 + 1);
    return SEALDB_OK;
fail:
    return rc;
}

/* Buffered writer of a run file. */
typedef struct rwriter {
    sdb_file *f;
    uint64_t id, off;
    uint8_t *buf;
    size_t blen;
    uint8_t *blk;                      /* current block payload */
    size_t bl, bcap;
    sdb_buf fences;
    uint8_t *bloom;
    uint64_t bloom_bits;
    uint64_t nkeys, nvers, max_tx;
    const uint8_t *lastk;              /* last key added (for the bloom's distinct count) */
    size_t lastkn;
    sdb_buf lastkey;
    uint32_t ng;                       /* groups in the current block */
    uint32_t *rst;                     /* their restart offsets */
    size_t nrst, crst;
} rwriter;

static int rw_out(rwriter *w, const void *p, size_t n) {
    const uint8_t *s = p;
    while (n) {
        if (w->blen == WBUF) {
            int rc = sdb_file_write_at(w->f, w->buf, w->blen, w->off);
            if (rc) return rc;
            w->off += w->blen;
            w->blen = 0;
        }
        size_t c = WBUF - w->blen < n ? WBUF - w->blen : n;
        memcpy(w->buf + w->blen, s, c);
        w->blen += c;
        s += c;
        n -= c;
    }
    return SEALDB_OK;
}
static uint64_t rw_pos(const rwriter *w) { return w->off + w->blen; }

static int rw_end_block(rwriter *w) {
    if (!w->bl) return SEALDB_OK;
    size_t need = w->bl + 4 * w->nrst + 4;
    if (need > w->bcap) {
        uint8_t *nb = sdb_realloc(w->blk, need);
        if (!nb) return SEALDB_NOMEM;
        w->blk = nb;
        w->bcap = need;
    }
    for (size_t i = 0; i < w->nrst; i++) sdb_put_u32be(w->blk + w->bl + 4 * i, w->rst[i]);
    sdb_put_u32be(w->blk + w->bl + 4 * w->nrst, (uint32_t)w->nrst);
    w->bl = need;
    w->nrst = 0;
    w->ng = 0;
    uint8_t h[8];
    sdb_put_u32be(h, (uint32_t)w->bl);
    sdb_put_u32be(h + 4, sdb_crc32c(0, w->blk, w->bl));
    int rc;
    if ((rc = rw_out(w, h, 8)) || (rc = rw_out(w, w->blk, w->bl))) return rc;
    w->bl = 0;
    return SEALDB_OK;
}

static int rw_begin(sdb_index *ix, uint64_t id, uint64_t nkeys_hint, rwriter *w, char *tmp, size_t tn) {
    memset(w, 0, sizeof *w);
    char name[64];
    run_name(id, name, sizeof name);
    strcat(name, ".tmp");
    int rc = path_of(ix, tmp, tn, name);
    if (rc) return rc;
    w->id = id;
    w->buf = sdb_malloc(WBUF);
    w->bcap = 2 * BLOCK_TARGET;
    w->blk = sdb_malloc(w->bcap);
    w->bloom_bits = (nkeys_hint ? nkeys_hint : 1) * BLOOM_BITS_PER_KEY;
    w->bloom_bits = (w->bloom_bits + 511) & ~(uint64_t)511;   /* whole lines */
    w->bloom = sdb_calloc(w->bloom_bits / 8, 1);
    sdb_buf_init(&w->fences);
    sdb_buf_init(&w->lastkey);
    if (!w->buf || !w->blk || !w->bloom) return SEALDB_NOMEM;
    if ((rc = sdb_file_open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644, &w->f))) return rc;
    uint8_t h[16];
    memcpy(h, RUN_MAGIC, 8);
    sdb_put_u64be(h + 8, id);
    return rw_out(w, h, 16);
}

static void rw_free(rwriter *w) {
    sdb_file_close(w->f);
    sdb_free(w->buf);
    sdb_free(w->blk);
    sdb_free(w->rst);
    sdb_free(w->bloom);
    sdb_buf_deinit(&w->fences);
    sdb_buf_deinit(&w->lastkey);
}

/* Appends an encoded group (its bytes in g: key.. end); starts a new block past the target. */
static int rw_group(rwriter *w, const uint8_t *k, size_t kn, uint64_t first_rev, uint32_t n,
                    const uint8_t *gbytes, size_t glen, uint64_t max_tx) {
    int rc;
    if (w->bl >= BLOCK_TARGET && (rc = rw_end_block(w))) return rc;
    if (w->bl == 0) {   /* fence for the new block: offset, length (patched at close), key, rev */
        uint8_t fb[12 + 10 + 10];
        sdb_put_u64be(fb, rw_pos(w));
        sdb_put_u32be(fb + 8, 0);
        uint8_t *e = sdb_put_varint(fb + 12, kn);
        if ((rc = sdb_buf_append(&w->fences, fb, (size_t)(e - fb))) ||
            (rc = sdb_buf_append(&w->fences, k, kn)))
            return rc;
        e = sdb_put_varint(fb, first_rev);
        if ((rc = sdb_buf_append(&w->fences, fb, (size_t)(e - fb)))) return rc;
    }
    if (w->ng % RESTART_EVERY == 0) {
        if (w->nrst == w->crst) {
            size_t nc = w->crst ? w->crst * 2 : 64;
            uint32_t *nr = sdb_realloc(w->rst, nc * sizeof *nr);
            if (!nr) return SEALDB_NOMEM;
            w->rst = nr;
            w->crst = nc;
        }
        if (w->bl > UINT32_MAX) return SEALDB_TOOLARGE;
        w->rst[w->nrst++] = (uint32_t)w->bl;
    }
    w->ng++;
    if (w->bl + glen > w->bcap) {
        size_t nc = w->bcap;
        while (nc < w->bl + glen) nc *= 2;
        uint8_t *nb = sdb_realloc(w->blk, nc);
        if (!nb) return SEALDB_NOMEM;
        w->blk = nb;
        w->bcap = nc;
    }
    memcpy(w->blk + w->bl, gbytes, glen);
    w->bl += glen;
    w->nvers += n;
    if (max_tx > w->max_tx) w->max_tx = max_tx;
    if (w->lastkey.len != kn || memcmp(w->lastkey.ptr, k, kn)) {
        w->nkeys++;
        uint64_t h = key_hash(k, kn);
        for (unsigned i = 0; i < BLOOM_K; i++) {
            uint64_t b = bloom_bit(h, w->bloom_bits, i);
            w->bloom[b >> 3] |= (uint8_t)(1u << (b & 7));
        }
        sdb_buf_reset(&w->lastkey);
        if ((rc = sdb_buf_append(&w->lastkey, k, kn))) return rc;
    }
    return SEALDB_OK;
}

/* Finishes: fences (lengths filled), bloom, footer, fsync, rename to its final name. */
static int rw_finish(sdb_index *ix, rwriter *w, const char *tmp) {
    int rc;
    if ((rc = rw_end_block(w))) return rc;
    /* patch each fence's block length: walk the fences and the block offsets */
    uint8_t *fp = w->fences.ptr, *fe = fp + w->fences.len;
    uint64_t fence_off = rw_pos(w);
    while (fp < fe) {
        uint64_t off = sdb_get_u64be(fp), kl = 0, rv = 0;
        const uint8_t *q = fp + 12;
        get_var(&q, fe, &kl);
        q += kl;
        get_var(&q, fe, &rv);
        uint64_t next = q < fe ? sdb_get_u64be(q) : fence_off;
        sdb_put_u32be(fp + 8, (uint32_t)(next - off));
        fp = (uint8_t *)q;
    }
    uint8_t c[4], ft[FOOTER_LEN];
    sdb_put_u32be(c, sdb_crc32c(0, w->fences.ptr, w->fences.len));
    if ((rc = rw_out(w, w->fences.ptr, w->fences.len)) || (rc = rw_out(w, c, 4))) return rc;
    uint64_t bloom_off = rw_pos(w);
    uint8_t k = BLOOM_K;
    uint32_t bc = sdb_crc32c(sdb_crc32c(0, &k, 1), w->bloom, w->bloom_bits / 8);
    sdb_put_u32be(c, bc);
    if ((rc = rw_out(w, &k, 1)) || (rc = rw_out(w, w->bloom, w->bloom_bits / 8)) || (rc = rw_out(w, c, 4))) return rc;
    uint64_t end = rw_pos(w);
    sdb_put_u64be(ft, fence_off);
    sdb_put_u64be(ft + 8, bloom_off - fence_off);
    sdb_put_u64be(ft + 16, bloom_off);
    sdb_put_u64be(ft + 24, end - bloom_off);
    sdb_put_u64be(ft + 32, w->nkeys);
    sdb_put_u64be(ft + 40, w->nvers);
    sdb_put_u64be(ft + 48, w->max_tx);
    sdb_put_u32be(ft + 56, sdb_crc32c(0, ft, 56));
    memcpy(ft + 60, "SDBF", 4);
    if ((rc = rw_out(w, ft, FOOTER_LEN))) return rc;
    if (w->blen && (rc = sdb_file_write_at(w->f, w->buf, w->blen, w->off))) return rc;
    w->off += w->blen;
    w->blen = 0;
    if ((rc = sdb_file_sync(w->f))) return rc;
    char name[64], p[4200];
    run_name(w->id, name, sizeof name);
    if ((rc = path_of(ix, p, sizeof p, name))) return rc;
    if (rename(tmp, p)) return sdb_err_from_errno(errno);
    return SEALDB_OK;
}

/* Encodes a group of memtable versions into buf (large enough: n * 48 + key + 40). */
static size_t enc_group(uint8_t *buf, const uint8_t *k, size_t kn, uint64_t first_rev, const mver *v, uint32_t n) {
    uint8_t *p = sdb_put_varint(buf, kn);
    memcpy(p, k, kn);
    p = sdb_put_varint(p + kn, first_rev);
    p = sdb_put_varint(p, n);
    uint8_t *hdr_end = p;
    p += 10;   /* the records first, then their length goes in front of them */
    uint8_t *recs = p;
    for (uint32_t i = 0; i < n; i++) {
        p = sdb_put_varint(p, atomic_load_explicit(&v[i].tx, memory_order_relaxed));
        p = sdb_put_varint(p, v[i].entry_idx);
        *p++ = (uint8_t)v[i].flags;
        if (v[i].flags & SDB_INDEX_HAS_EXPIRY) { sdb_put_u64be(p, (uint64_t)v[i].expires_at); p += 8; }
        p = sdb_put_varint(p, v[i].val_off);
        p = sdb_put_varint(p, v[i].val_len);
    }
    size_t bl = (size_t)(p - recs);
    uint8_t *q = sdb_put_varint(hdr_end, bl);
    memmove(q, recs, bl);
    return (size_t)(q + bl - buf);
}

static int write_manifest(sdb_index *ix, uint64_t upto, uint64_t next_id, run **runs, size_t n) {
    sdb_buf b;
    sdb_buf_init(&b);
    uint8_t h[28];
    sdb_put_u32be(h, MAN_MAGIC);
    sdb_put_u64be(h + 4, upto);
    sdb_put_u64be(h + 12, next_id);
    sdb_put_u64be(h + 20, n);
    int rc = sdb_buf_append(&b, h, 28);
    for (size_t i = 0; !rc && i < n; i++) {   /* newest first */
        uint8_t id[8];
        sdb_put_u64be(id, runs[i]->id);
        rc = sdb_buf_append(&b, id, 8);
    }
    uint8_t c[4];
    sdb_put_u32be(c, sdb_crc32c(0, b.ptr, b.len));
    if (!rc) rc = sdb_buf_append(&b, c, 4);
    char tmp[4200], p[4200];
    if (!rc) rc = path_of(ix, tmp, sizeof tmp, "MANIFEST.tmp");
    if (!rc) rc = path_of(ix, p, sizeof p, "MANIFEST");
    sdb_file *f = NULL;
    if (!rc) rc = sdb_file_open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644, &f);
    if (!rc) rc = sdb_file_write_at(f, b.ptr, b.len, 0);
    if (!rc) rc = sdb_file_sync(f);
    sdb_file_close(f);
    if (!rc && rename(tmp, p)) rc = sdb_err_from_errno(errno);
    if (!rc) rc = sdb_fsync_dir(ix->dir);
    sdb_buf_deinit(&b);
    return rc;
}

/* Reads the manifest; SEALDB_NOTFOUND when there is none. */
static int read_manifest(sdb_index *ix, uint64_t *upto, uint64_t *next_id, uint64_t **ids, size_t *n) {
    char p[4200];
    int rc = path_of(ix, p, sizeof p, "MANIFEST");
    if (rc) return rc;
    FILE *fp = fopen(p, "rb");
    if (!fp) return errno == ENOENT ? SEALDB_NOTFOUND : sdb_err_from_errno(errno);
    uint8_t *buf = sdb_malloc(1u << 20);
    size_t len = buf ? fread(buf, 1, 1u << 20, fp) : 0;
    fclose(fp);
    if (!buf) return SEALDB_NOMEM;
    rc = SEALDB_CORRUPT;
    if (len >= 4 && sdb_get_u32be(buf) != MAN_MAGIC) { rc = SEALDB_UNSUPPORTED; goto done; }
    if (len < 32 || sdb_crc32c(0, buf, len - 4) != sdb_get_u32be(buf + len - 4)) goto done;
    *upto = sdb_get_u64be(buf + 4);
    *next_id = sdb_get_u64be(buf + 12);
    uint64_t cnt = sdb_get_u64be(buf + 20);
    if (cnt != (len - 32) / 8 || (len - 32) % 8) goto done;
    *ids = sdb_calloc(cnt + 1, sizeof **ids);
    if (!*ids) { rc = SEALDB_NOMEM; goto done; }
    for (uint64_t i = 0; i < cnt; i++) (*ids)[i] = sdb_get_u64be(buf + 28 + 8 * i);
    *n = (size_t)cnt;
    rc = SEALDB_OK;
done:
    sdb_free(buf);
    return rc;
}

/* ---- flush and merge ---- */

static int flush_mem(sdb_index *ix, memtable *m, uint64_t id, run **out) {
    rwriter w;
    char tmp[4200];
    uint8_t *gb = NULL;
    int rc = rw_begin(ix, id, m->nkeys, &w, tmp, sizeof tmp);
    size_t gcap = 0;
    for (mnode *x = atomic_load(&m->head->next[0]); !rc && x; x = atomic_load(&x->next[0])) {
        /* nodes sit in insertion order, so each step is a cache miss: start the next one's now,
         * to overlap with encoding this one */
        mnode *nx = atomic_load_explicit(&x->next[0], memory_order_relaxed);
        if (nx) { __builtin_prefetch(nx); __builtin_prefetch((const char *)nx + 64); }
        mver *vs;
        uint32_t n = mn_visible(x, m->upto, &vs);
        for (uint32_t i = 0; !rc && i < n; i += GROUP_MAX) {
            uint32_t c = n - i < GROUP_MAX ? n - i : GROUP_MAX;
            size_t need = (size_t)c * 48 + x->klen + 40;
            if (need > gcap) {
                uint8_t *nb = sdb_realloc(gb, need);
                if (!nb) { rc = SEALDB_NOMEM; break; }
                gb = nb;
                gcap = need;
            }
            size_t gl = enc_group(gb, x->key, x->klen, x->base_rev + i + 1, vs + i, c);
            rc = rw_group(&w, x->key, x->klen, x->base_rev + i + 1, c, gb, gl,
                          atomic_load_explicit(&vs[i + c - 1].tx, memory_order_relaxed));
        }
    }
    sdb_free(gb);
    if (!rc) rc = rw_finish(ix, &w, tmp);
    rw_free(&w);
    if (rc) { unlink(tmp); return rc; }
    return run_open(ix, id, out);
}

typedef struct rcur {                  /* ascending group cursor over one run (merge input) */
    run *r;
    uint32_t b;
    const uint8_t *p, *end;
    grp g;
    const uint8_t *gstart;
    int valid;
} rcur;

static int rcur_next(rcur *c) {
    while (c->p >= c->end) {
        if (c->b + 1 >= c->r->nblocks || !c->valid) { c->valid = 0; return SEALDB_OK; }
        c->b++;
        int rc = run_block(c->r, c->b, &c->p, &c->end);
        if (rc) return rc;
    }
    c->gstart = c->p;
    return grp_head(&c->p, c->end, &c->g, 1);
}

static int merge_runs(sdb_index *ix, run **in, size_t n, uint64_t id, run **out) {
    uint64_t keys = 0;
    for (size_t i = 0; i < n; i++) keys += in[i]->nkeys;
    rwriter w;
    char tmp[4200];
    int rc = rw_begin(ix, id, keys, &w, tmp, sizeof tmp);
    rcur *c = sdb_calloc(n, sizeof *c);
    if (!c && !rc) rc = SEALDB_NOMEM;
    for (size_t i = 0; !rc && i < n; i++) {
        c[i].r = in[i];
        c[i].valid = in[i]->nblocks > 0;
        if (c[i].valid && !(rc = run_block(in[i], 0, &c[i].p, &c[i].end))) rc = rcur_next(&c[i]);
    }
    while (!rc) {
        ssize_t best = -1;
        for (size_t i = 0; i < n; i++) {
            if (!c[i].valid) continue;
            if (best < 0) { best = (ssize_t)i; continue; }
            grp *a = &c[i].g, *b = &c[best].g;
            int k = kcmp(a->key, a->klen, b->key, b->klen);
            if (k < 0 || (k == 0 && a->first_rev < b->first_rev)) best = (ssize_t)i;
        }
        if (best < 0) break;
        rcur *b = &c[best];
        const uint8_t *lp = b->g.recs;   /* the last record's tx: decode up to it */
        sdb_index_ver v = { 0 };
        for (uint32_t j = 0; !rc && j < b->g.n; j++) rc = rec_decode(&lp, b->g.end, &v);
        if (!rc) rc = rw_group(&w, b->g.key, b->g.klen, b->g.first_rev, b->g.n, b->gstart,
                               (size_t)(b->g.end - b->gstart), v.tx_id);
        if (!rc) rc = rcur_next(b);
    }
    sdb_free(c);
    if (!rc) rc = rw_finish(ix, &w, tmp);
    rw_free(&w);
    if (rc) { unlink(tmp); return rc; }
    return run_open(ix, id, out);
}

static void sleep_ms(long ms) {
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static void *flusher_main(void *arg) {
    sdb_thread_name("sdb-ix-flush");
    sdb_index *ix = arg;
    long backoff = 0;
    pthread_mutex_lock(&ix->mu);
    for (;;) {
        while (!ix->stop && !ix->cur->imm) pthread_cond_wait(&ix->cv, &ix->mu);
        if (!ix->cur->imm) break;   /* stop with nothing pending */
        memtable *imm = ix->cur->imm;
        atomic_fetch_add(&imm->refs, 1);
        uint64_t id = ix->next_id++;
        pthread_mutex_unlock(&ix->mu);
        run *r = NULL;
        int rc = flush_mem(ix, imm, id, &r);
        if (!rc) {
            pthread_mutex_lock(&ix->man_mu);
            pthread_mutex_lock(&ix->mu);
            view *o = ix->cur;
            run **rs = sdb_calloc(o->nruns + 1, sizeof *rs);
            view *nv = NULL;
            if (rs) {
                rs[0] = r;
                if (o->nruns) memcpy(rs + 1, o->runs, o->nruns * sizeof *rs);
                nv = view_new(o->mem, NULL, rs, o->nruns + 1);
            }
            if (!nv) rc = SEALDB_NOMEM;
            else {
                ix->cur = nv;
                ix->flushed_upto = imm->upto;
                view_unref(o);
            }
            uint64_t upto = ix->flushed_upto, next = ix->next_id;
            view *mv = ix->cur;
            atomic_fetch_add(&mv->refs, 1);
            pthread_mutex_unlock(&ix->mu);
            if (!rc) rc = write_manifest(ix, upto, next, mv->runs, mv->nruns);
            view_unref(mv);
            pthread_mutex_unlock(&ix->man_mu);
            sdb_free(rs);
            run_unref(r);   /* the view holds it */
        }
        mt_unref(imm);
        pthread_mutex_lock(&ix->mu);
        ix->bg_rc = rc;
        pthread_cond_broadcast(&ix->cv);
        if (rc) {   /* full disk or I/O: retry, the memtable stays readable meanwhile */
            backoff = backoff ? (backoff * 2 > 2000 ? 2000 : backoff * 2) : 100;
            pthread_mutex_unlock(&ix->mu);
            sleep_ms(backoff);
            pthread_mutex_lock(&ix->mu);
            if (ix->stop) break;
        } else backoff = 0;
    }
    pthread_mutex_unlock(&ix->mu);
    return NULL;
}

/* Picks the newest runs of similar size (each at most twice the largest newer one); mu held. */
static size_t merge_pick(const view *v) {
    if (v->nruns < MERGE_MIN) return 0;
    size_t n = 1;
    uint64_t mx = v->runs[0]->size;
    while (n < v->nruns && v->runs[n]->size <= 2 * mx) {
        if (v->runs[n]->size > mx) mx = v->runs[n]->size;
        n++;
    }
    return n >= MERGE_MIN ? n : (v->nruns > 3 * MERGE_MIN ? MERGE_MIN : 0);
}

static void *merger_main(void *arg) {
    sdb_thread_name("sdb-ix-merge");
    sdb_index *ix = arg;
    pthread_mutex_lock(&ix->mu);
    for (;;) {
        size_t n = 0;
        while (!ix->stop && !(n = merge_pick(ix->cur))) pthread_cond_wait(&ix->cv, &ix->mu);
        if (ix->stop) break;
        /* the inputs only: a view of the memtables would keep them in memory for the whole merge */
        view *v = view_new(NULL, NULL, ix->cur->runs, n);
        if (!v) {
            pthread_mutex_unlock(&ix->mu);
            sleep_ms(1000);
            pthread_mutex_lock(&ix->mu);
            continue;
        }
        uint64_t id = ix->next_id++;
        ix->merging = 1;
        pthread_mutex_unlock(&ix->mu);
        run *r = NULL;
        int rc = merge_runs(ix, v->runs, n, id, &r);
        pthread_mutex_lock(&ix->man_mu);
        pthread_mutex_lock(&ix->mu);
        if (!rc) {
            /* the merged runs are still contiguous and in order in the current view (only this
             * thread removes runs; the flusher adds newer ones in front) */
            view *o = ix->cur;
            size_t at = 0;
            while (at < o->nruns && o->runs[at] != v->runs[0]) at++;
            run **rs = sdb_calloc(o->nruns, sizeof *rs);
            view *nv = NULL;
            if (rs && at + n <= o->nruns) {
                if (at) memcpy(rs, o->runs, at * sizeof *rs);
                rs[at] = r;
                if (o->nruns > at + n) memcpy(rs + at + 1, o->runs + at + n, (o->nruns - at - n) * sizeof *rs);
                nv = view_new(o->mem, o->imm, rs, o->nruns - n + 1);
            }
            sdb_free(rs);
            if (!nv) rc = SEALDB_NOMEM;
            else {
                ix->cur = nv;
                view_unref(o);
                uint64_t upto = ix->flushed_upto, next = ix->next_id;
                atomic_fetch_add(&nv->refs, 1);
                pthread_mutex_unlock(&ix->mu);
                rc = write_manifest(ix, upto, next, nv->runs, nv->nruns);
                view_unref(nv);
                pthread_mutex_lock(&ix->mu);
                if (!rc) for (size_t i = 0; i < n; i++) v->runs[i]->obsolete = 1;   /* unlinked when unused */
            }
            run_unref(r);
        }
        ix->merging = 0;
        pthread_mutex_unlock(&ix->mu);
        pthread_mutex_unlock(&ix->man_mu);
        view_unref(v);
        if (rc) sleep_ms(1000);
        pthread_mutex_lock(&ix->mu);
        pthread_cond_broadcast(&ix->cv);
    }
    pthread_mutex_unlock(&ix->mu);
    return NULL;
}

/* ---- open / close ---- */

static int ensure_dir(const char *dir, int create) {
    struct stat st;
    if (!stat(dir, &st)) return S_ISDIR(st.st_mode) ? SEALDB_OK : SEALDB_INVALID;
    if (errno != ENOENT) return sdb_err_from_errno(errno);
    if (!create) return SEALDB_NOTFOUND;
    if (mkdir(dir, 0755) && errno != EEXIST) return sdb_err_from_errno(errno);
    return SEALDB_OK;
}

/* Removes run files the manifest does not name (a flush or merge cut short) and temp files. */
static void remove_strays(sdb_index *ix, const uint64_t *ids, size_t n) {
    DIR *d = opendir(ix->dir);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d))) {
        unsigned long long id;
        int stray = strstr(de->d_name, ".tmp") != NULL;
        if (!stray && sscanf(de->d_name, "run-%16llx.sst", &id) == 1) {
            stray = 1;
            for (size_t i = 0; i < n; i++) if (ids[i] == id) stray = 0;
        }
        char p[4200];
        if (stray && !path_of(ix, p, sizeof p, de->d_name)) unlink(p);
    }
    closedir(d);
}

static int has_other_files(const char *dir) {   /* an index of another format (LMDB's data.mdb) */
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *de;
    int other = 0;
    while ((de = readdir(d)))
        if (!strcmp(de->d_name, "data.mdb")) other = 1;
    closedir(d);
    return other;
}

static int start_threads(sdb_index *ix) {
    if (pthread_create(&ix->flusher, NULL, flusher_main, ix)) return SEALDB_NOMEM;
    if (pthread_create(&ix->merger, NULL, merger_main, ix)) {
        pthread_mutex_lock(&ix->mu);
        ix->stop = 1;
        pthread_cond_broadcast(&ix->cv);
        pthread_mutex_unlock(&ix->mu);
        pthread_join(ix->flusher, NULL);
        return SEALDB_NOMEM;
    }
    ix->threads = 1;
    return SEALDB_OK;
}

int sdb_index_open(const char *dir, const sdb_index_opts *o, sdb_index **out) {
    sdb_index_opts d;
    if (!o) { sdb_index_opts_default(&d); o = &d; }
    if (o->memtable_bytes && (o->memtable_bytes < SDB_INDEX_MEMTABLE_MIN || o->memtable_bytes > SDB_INDEX_MEMTABLE_MAX))
        return SEALDB_INVALID;
    int rc = ensure_dir(dir, o->create && !o->read_only);
    if (rc) return rc;
    sdb_index *ix = sdb_calloc(1, sizeof *ix);
    if (!ix) return SEALDB_NOMEM;
    ix->dir = sdb_malloc(strlen(dir) + 1);
    if (!ix->dir) { sdb_free(ix); return SEALDB_NOMEM; }
    strcpy(ix->dir, dir);
    pthread_mutex_init(&ix->mu, NULL);
    pthread_mutex_init(&ix->man_mu, NULL);
    pthread_cond_init(&ix->cv, NULL);
    ix->read_only = o->read_only;
    ix->mem_limit = o->memtable_bytes ? o->memtable_bytes : SDB_INDEX_MEMTABLE_DEFAULT;
    ix->rnd = 0x2545f4914f6cdd1dull ^ (uint64_t)(uintptr_t)ix;
    uint64_t upto = 0, next = 1, *ids = NULL;
    size_t n = 0;
    run **rs = NULL;
    rc = read_manifest(ix, &upto, &next, &ids, &n);
    if (rc == SEALDB_NOTFOUND) {
        if (has_other_files(dir)) rc = SEALDB_UNSUPPORTED;
        else if (o->read_only) rc = SEALDB_NOTFOUND;
        else rc = write_manifest(ix, 0, 1, NULL, 0);
    }
    if (!rc) {
        rs = sdb_calloc(n + 1, sizeof *rs);
        if (!rs) rc = SEALDB_NOMEM;
    }
    size_t opened = 0;
    for (; !rc && opened < n; opened++) {
        if (ids[opened] >= next) { rc = SEALDB_CORRUPT; break; }
        rc = run_open(ix, ids[opened], &rs[opened]);
        if (rc) break;
    }
    if (!rc && !o->read_only) remove_strays(ix, ids, n);
    memtable *m = rc ? NULL : mt_new(ix->mem_limit);
    if (!rc && !m) rc = SEALDB_NOMEM;
    if (!rc && !(ix->cur = view_new(m, NULL, rs, n))) rc = SEALDB_NOMEM;
    mt_unref(m);
    for (size_t i = 0; i < opened; i++) run_unref(rs[i]);
    sdb_free(rs);
    sdb_free(ids);
    if (!rc) {
        atomic_store(&ix->upto, upto);
        ix->flushed_upto = upto;
        ix->next_id = next;
        if (!o->read_only) rc = start_threads(ix);
    }
    if (rc) {
        view_unref(ix->cur);
        sdb_free(ix->dir);
        sdb_free(ix);
        return rc;
    }
    *out = ix;
    return SEALDB_OK;
}

/* Makes the memtable immutable (waiting for an earlier one to be flushed); mu held. */
static int swap_mem(sdb_index *ix, int wait) {
    while (ix->cur->imm) {
        if (!wait) return SEALDB_BUSY;
        pthread_cond_wait(&ix->cv, &ix->mu);
    }
    view *o = ix->cur;
    memtable *nm = mt_new(ix->mem_limit);
    if (!nm) return SEALDB_NOMEM;
    o->mem->upto = atomic_load(&ix->upto);
    view *nv = view_new(nm, o->mem, o->runs, o->nruns);
    mt_unref(nm);
    if (!nv) return SEALDB_NOMEM;
    ix->cur = nv;
    view_unref(o);
    pthread_cond_broadcast(&ix->cv);
    return SEALDB_OK;
}

/* Flushes everything committed and waits until the manifest covers it. */
static int flush_all(sdb_index *ix) {
    pthread_mutex_lock(&ix->mu);
    int rc = ix->batch_open ? SEALDB_BUSY : SEALDB_OK;   /* the batch's puts go to the memtable it began on */
    if (ix->cur->mem->nvers) rc = swap_mem(ix, 1);
    while (!rc && ix->cur->imm) {
        pthread_cond_wait(&ix->cv, &ix->mu);
        if (ix->cur->imm && ix->bg_rc) rc = ix->bg_rc;
    }
    if (!rc && ix->flushed_upto != atomic_load(&ix->upto)) {
        /* nothing in memory but a newer upto (batches without puts): record it */
        uint64_t upto = atomic_load(&ix->upto), next = ix->next_id;
        view *v = ix->cur;
        atomic_fetch_add(&v->refs, 1);
        pthread_mutex_unlock(&ix->mu);
        pthread_mutex_lock(&ix->man_mu);
        rc = write_manifest(ix, upto, next, v->runs, v->nruns);
        pthread_mutex_unlock(&ix->man_mu);
        view_unref(v);
        pthread_mutex_lock(&ix->mu);
        if (!rc && upto > ix->flushed_upto) ix->flushed_upto = upto;
    }
    pthread_mutex_unlock(&ix->mu);
    return rc;
}

void sdb_index_close(sdb_index *ix) {
    if (!ix) return;
    if (!ix->read_only) flush_all(ix);   /* a failure leaves the journal tail to replay */
    if (ix->threads) {
        pthread_mutex_lock(&ix->mu);
        ix->stop = 1;
        pthread_cond_broadcast(&ix->cv);
        pthread_mutex_unlock(&ix->mu);
        pthread_join(ix->flusher, NULL);
        pthread_join(ix->merger, NULL);
    }
    view_unref(ix->cur);
    if (ix->batch) { sdb_free(ix->batch->t); sdb_free(ix->batch->link); sdb_free(ix->batch->sortbuf); sdb_free(ix->batch); }
    pthread_mutex_destroy(&ix->mu);
    pthread_mutex_destroy(&ix->man_mu);
    pthread_cond_destroy(&ix->cv);
    sdb_free(ix->dir);
    sdb_free(ix);
}

int sdb_index_destroy(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? SEALDB_OK : sdb_err_from_errno(errno);
    struct dirent *de;
    int rc = SEALDB_OK;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char p[4200];
        int w = snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        if (w < 0 || (size_t)w >= sizeof p) { rc = SEALDB_TOOLARGE; continue; }
        if (unlink(p) && errno != ENOENT) rc = sdb_err_from_errno(errno);
    }
    closedir(d);
    if (!rc && rmdir(dir) && errno != ENOENT && errno != ENOTEMPTY) rc = sdb_err_from_errno(errno);
    return rc;
}

int sdb_index_clear(sdb_index *ix) {
    if (ix->read_only) return SEALDB_PERMISSION;
    for (;;) {   /* wait for the background threads to be idle (man_mu before mu, as they take them) */
        pthread_mutex_lock(&ix->man_mu);
        pthread_mutex_lock(&ix->mu);
        if (ix->batch_open) {
            pthread_mutex_unlock(&ix->mu);
            pthread_mutex_unlock(&ix->man_mu);
            return SEALDB_BUSY;
        }
        if (!ix->cur->imm && !ix->merging) break;
        pthread_mutex_unlock(&ix->mu);
        pthread_mutex_unlock(&ix->man_mu);
        sleep_ms(5);
    }
    memtable *m = mt_new(ix->mem_limit);
    view *nv = m ? view_new(m, NULL, NULL, 0) : NULL;
    mt_unref(m);
    if (!nv) {
        pthread_mutex_unlock(&ix->mu);
        pthread_mutex_unlock(&ix->man_mu);
        return SEALDB_NOMEM;
    }
    view *o = ix->cur;
    ix->cur = nv;
    atomic_store(&ix->upto, 0);
    ix->flushed_upto = 0;
    uint64_t next = ix->next_id;
    pthread_mutex_unlock(&ix->mu);
    int rc = write_manifest(ix, 0, next, NULL, 0);
    pthread_mutex_unlock(&ix->man_mu);
    for (size_t i = 0; !rc && i < o->nruns; i++) o->runs[i]->obsolete = 1;
    view_unref(o);   /* snapshots still open keep their view */
    return rc;
}

int sdb_index_was_reset(const sdb_index *ix) { (void)ix; return 0; }

int sdb_index_sync(sdb_index *ix) {
    if (ix->read_only) return SEALDB_OK;
    return flush_all(ix);
}

int sdb_index_indexed_upto(sdb_index *ix, uint64_t *out) {
    *out = atomic_load(&ix->upto);
    return SEALDB_OK;
}

/* ---- writing ---- */

/* Decodes g's versions and returns its last. */
static int grp_last(const grp *g, const uint8_t *end, sdb_index_ver *last) {
    sdb_index_ver vs[GROUP_MAX];
    int rc = grp_versions(g, end, vs);
    if (!rc) *last = vs[g->n - 1];
    return rc;
}

/* The key's version count and latest tx in the immutable memtable and the runs of view v. */
static int base_of(view *v, sdb_slice key, uint64_t h, uint64_t *rev, uint64_t *tx) {
    *rev = *tx = 0;
    if (v->imm) {
        mnode *x = mt_find(v->imm, key.ptr, key.len, h);
        if (x) {
            mver *vs;
            uint32_t n = mn_visible(x, UINT64_MAX, &vs);
            *rev = x->base_rev + n;
            *tx = n ? atomic_load_explicit(&vs[n - 1].tx, memory_order_relaxed) : x->base_tx;
            return SEALDB_OK;
        }
    }
    for (size_t i = 0; i < v->nruns; i++) {
        run *r = v->runs[i];
        if (!bloom_may(r, h)) continue;
        grp g;
        const uint8_t *end;
        int rc = run_group(r, key.ptr, key.len, UINT64_MAX, &g, &end);
        if (rc == SEALDB_NOTFOUND) continue;
        sdb_index_ver last;
        if (rc || (rc = grp_last(&g, end, &last))) return rc;
        *rev = last.revision;
        *tx = last.tx_id;
        return SEALDB_OK;
    }
    return SEALDB_OK;
}

int sdb_index_batch_begin(sdb_index *ix, sdb_index_batch **out) {
    if (ix->read_only) return SEALDB_PERMISSION;
    pthread_mutex_lock(&ix->mu);
    if (ix->batch_open) { pthread_mutex_unlock(&ix->mu); return SEALDB_BUSY; }
    /* back-pressure: a memtable twice its size while the previous one is still being flushed */
    while (ix->cur->imm && ix->cur->mem->bytes >= 2 * ix->mem_limit) {
        if (ix->bg_rc) { int rc = ix->bg_rc; pthread_mutex_unlock(&ix->mu); return rc; }
        pthread_cond_wait(&ix->cv, &ix->mu);
    }
    sdb_index_batch *b = ix->batch;
    if (!b && !(b = ix->batch = sdb_calloc(1, sizeof *b))) { pthread_mutex_unlock(&ix->mu); return SEALDB_NOMEM; }
    b->ix = ix;
    b->v = ix->cur;
    atomic_fetch_add(&b->v->refs, 1);
    b->n = 0;
    b->nt = 0;
    ix->batch_open = 1;
    ix->batch_seq++;
    pthread_mutex_unlock(&ix->mu);
    *out = b;
    return SEALDB_OK;
}

int sdb_index_batch_put(sdb_index_batch *b, sdb_slice key, const sdb_index_ver *v) {
    sdb_index *ix = b->ix;
    if (key.len == 0 || key.len > SDB_INDEX_MAX_KEY_LEN || v->tx_id == 0) return SEALDB_INVALID;
    if (v->flags & ~(SDB_INDEX_DELETED | SDB_INDEX_HAS_EXPIRY)) return SEALDB_INVALID;
    memtable *m = b->v->mem;
    uint64_t h = key_hash(key.ptr, key.len);
    mnode *x = mt_find(m, key.ptr, key.len, h);
    int rc;
    if (!x) {
        uint64_t base, btx;
        if ((rc = base_of(b->v, key, h, &base, &btx))) return rc;
        if (v->tx_id <= btx) return SEALDB_INVALID;
        if (!(x = mt_node_new(m, key.ptr, key.len, h, &ix->rnd))) return SEALDB_NOMEM;
        x->base_rev = base;
        x->base_tx = btx;
    }
    uint32_t n = atomic_load_explicit(&x->n, memory_order_relaxed);
    mver *vs = atomic_load_explicit(&x->vers, memory_order_relaxed);
    uint64_t last = n ? atomic_load_explicit(&vs[n - 1].tx, memory_order_relaxed) : x->base_tx;
    if (v->tx_id <= last) return SEALDB_INVALID;   /* replay or disorder */
    if (x->batch_seq != ix->batch_seq) {            /* first touch in this batch: remember for abort */
        if (b->nt == b->capt) {
            size_t nc = b->capt ? b->capt * 2 : 256;
            struct touched *nt = sdb_realloc(b->t, nc * sizeof *nt);
            if (!nt) return SEALDB_NOMEM;
            b->t = nt;
            b->capt = nc;
        }
        b->t[b->nt++] = (struct touched){ x, n };
        x->batch_seq = ix->batch_seq;
    }
    if (n == x->cap) {   /* grow: copy, publish the new array, then the count */
        if (n >= UINT32_MAX / 2) return SEALDB_TOOLARGE;
        uint32_t nc = x->cap ? x->cap * 2 : 1;
        mver *nv = mt_alloc(m, (size_t)nc * sizeof *nv);
        if (!nv) return SEALDB_NOMEM;
        if (n) memcpy(nv, vs, (size_t)n * sizeof *nv);
        atomic_store_explicit(&x->vers, nv, memory_order_release);
        x->cap = nc;
        vs = nv;
    }
    mver *d = &vs[n];
    d->val_off = v->val_off;
    d->expires_at = (v->flags & SDB_INDEX_HAS_EXPIRY) ? v->expires_at : 0;
    d->val_len = v->val_len;
    d->entry_idx = v->entry_idx;
    d->flags = v->flags;
    atomic_store_explicit(&d->tx, v->tx_id, memory_order_relaxed);
    atomic_store_explicit(&x->n, n + 1, memory_order_release);
    m->nvers++;
    b->n++;
    return SEALDB_OK;
}

void sdb_index_batch_prefetch(sdb_index_batch *b, sdb_slice key, int node) {
    memtable *m = b->v->mem;
    uint64_t h = key_hash(key.ptr, key.len);
    _Atomic(mnode *) *bk = &m->buckets[h & m->mask];
    if (!node) {
        __builtin_prefetch(bk);
        /* a new key asks every run's Bloom filter (base_of): one line each */
        for (size_t i = 0; i < b->v->nruns; i++) {
            const run *r = b->v->runs[i];
            if (r->bloom_bits >= 512) __builtin_prefetch(&r->bloom[bloom_bit(h, r->bloom_bits, 0) >> 3]);
        }
        return;
    }
    mnode *x = atomic_load_explicit(bk, memory_order_relaxed);   /* only the batch's writer links here */
    if (x) __builtin_prefetch(x);
}

size_t sdb_index_batch_count(const sdb_index_batch *b) { return b->n; }

static void batch_end(sdb_index_batch *b, int undo) {
    sdb_index *ix = b->ix;
    if (undo)   /* readers skip these versions anyway: their tx is past every snapshot's upto */
        for (size_t i = 0; i < b->nt; i++) {
            b->v->mem->nvers -= atomic_load_explicit(&b->t[i].x->n, memory_order_relaxed) - b->t[i].n;
            atomic_store_explicit(&b->t[i].x->n, b->t[i].n, memory_order_release);
        }
    view_unref(b->v);
    b->v = NULL;
    ix->batch_open = 0;
}

int sdb_index_batch_commit(sdb_index_batch *b, uint64_t indexed_upto) {
    sdb_index *ix = b->ix;
    if (indexed_upto < atomic_load(&ix->upto)) {
        pthread_mutex_lock(&ix->mu);
        batch_end(b, 1);
        pthread_mutex_unlock(&ix->mu);
        return SEALDB_INVALID;
    }
    /* new keys into the skiplist, in key order, before their versions become visible */
    if (b->nt > b->clink) {
        mnode **nl = sdb_realloc(b->link, b->nt * sizeof *nl);
        if (nl) b->link = nl;
        pnode *sb = nl ? sdb_realloc(b->sortbuf, 2 * b->nt * sizeof *sb) : NULL;
        if (!sb) {
            pthread_mutex_lock(&ix->mu);
            batch_end(b, 1);
            pthread_mutex_unlock(&ix->mu);
            return SEALDB_NOMEM;
        }
        b->sortbuf = sb;
        b->clink = b->nt;
    }
    size_t nl = 0;
    for (size_t i = 0; i < b->nt; i++)
        if (!b->t[i].x->linked) b->link[nl++] = b->t[i].x;
    mt_link_sorted(b->v->mem, b->link, nl, b->sortbuf);
    pthread_mutex_lock(&ix->mu);
    atomic_store(&ix->upto, indexed_upto);
    if (ix->cur->mem->bytes >= ix->mem_limit && !ix->cur->imm) (void)swap_mem(ix, 0);
    batch_end(b, 0);
    pthread_mutex_unlock(&ix->mu);
    return SEALDB_OK;
}

void sdb_index_batch_abort(sdb_index_batch *b) {
    if (!b) return;
    pthread_mutex_lock(&b->ix->mu);
    batch_end(b, 1);
    pthread_mutex_unlock(&b->ix->mu);
}

/* ---- snapshots and point reads ---- */

int sdb_index_snap_begin(sdb_index *ix, sdb_index_snap **out) {
    sdb_index_snap *s = sdb_malloc(sizeof *s);
    if (!s) return SEALDB_NOMEM;
    s->ix = ix;
    s->v = cur_view(ix, &s->upto);
    *out = s;
    return SEALDB_OK;
}

void sdb_index_snap_end(sdb_index_snap *s) {
    if (!s) return;
    view_unref(s->v);
    sdb_free(s);
}

uint64_t sdb_index_snap_upto(const sdb_index_snap *s) { return s->upto; }

typedef struct vgroup { uint64_t first_rev; uint32_t n; sdb_index_ver v[GROUP_MAX]; } vgroup;

/* Fills g with versions from memtable node x (visible n) around revision rev. */
static void mem_group(mnode *x, mver *vs, uint32_t n, uint64_t rev, vgroup *g) {
    uint64_t i0 = rev - x->base_rev - 1;
    i0 -= i0 % GROUP_MAX;
    g->first_rev = x->base_rev + i0 + 1;
    g->n = (uint32_t)(n - i0 < GROUP_MAX ? n - i0 : GROUP_MAX);
    for (uint32_t i = 0; i < g->n; i++) mver_out(&vs[i0 + i], g->first_rev + i, &g->v[i]);
}

/* The key's latest visible version and its count; SEALDB_NOTFOUND when it has none. */
static int locate(sdb_index_snap *s, const uint8_t *k, size_t kn, uint64_t h, sdb_index_ver *last) {
    view *v = s->v;
    memtable *ms[2] = { v->mem, v->imm };
    for (int i = 0; i < 2; i++) {
        if (!ms[i]) continue;
        mnode *x = mt_find(ms[i], k, kn, h);
        if (!x) continue;
        mver *vs;
        uint32_t n = mn_visible(x, s->upto, &vs);
        if (n) { mver_out(&vs[n - 1], x->base_rev + n, last); return SEALDB_OK; }
        if (!x->base_rev) return SEALDB_NOTFOUND;   /* nothing older either */
    }
    for (size_t i = 0; i < v->nruns; i++) {
        run *r = v->runs[i];
        if (!bloom_may(r, h)) continue;
        grp g;
        const uint8_t *end;
        int rc = run_group(r, k, kn, UINT64_MAX, &g, &end);
        if (rc == SEALDB_NOTFOUND) continue;
        if (rc) return rc;
        return grp_last(&g, end, last);
    }
    return SEALDB_NOTFOUND;
}

/* The group of versions holding revision rev (1..count) of the key. */
static int get_group(sdb_index_snap *s, const uint8_t *k, size_t kn, uint64_t h, uint64_t rev, vgroup *out) {
    view *v = s->v;
    memtable *ms[2] = { v->mem, v->imm };
    for (int i = 0; i < 2; i++) {
        if (!ms[i]) continue;
        mnode *x = mt_find(ms[i], k, kn, h);
        if (!x) continue;
        mver *vs;
        uint32_t n = mn_visible(x, s->upto, &vs);
        if (rev > x->base_rev + n) return SEALDB_CORRUPT;
        if (rev > x->base_rev) { mem_group(x, vs, n, rev, out); return SEALDB_OK; }
    }
    for (size_t i = 0; i < v->nruns; i++) {
        run *r = v->runs[i];
        if (!bloom_may(r, h)) continue;
        grp g;
        const uint8_t *end;
        int rc = run_group(r, k, kn, rev, &g, &end);
        if (rc == SEALDB_NOTFOUND) continue;
        if (rc || (rc = grp_versions(&g, end, out->v))) return rc;
        out->first_rev = g.first_rev;
        out->n = g.n;
        return SEALDB_OK;
    }
    return SEALDB_CORRUPT;   /* revisions are dense: a missing one is damage */
}

static int get_rev(sdb_index_snap *s, const uint8_t *k, size_t kn, uint64_t h, uint64_t rev, sdb_index_ver *out) {
    vgroup g;
    int rc = get_group(s, k, kn, h, rev, &g);
    if (rc) return rc;
    *out = g.v[rev - g.first_rev];
    return out->revision == rev ? SEALDB_OK : SEALDB_CORRUPT;
}

/* Latest version with tx_id <= max_tx given the key's last (binary search: revisions and txs rise together). */
static int latest_at(sdb_index_snap *s, const uint8_t *k, size_t kn, uint64_t h, const sdb_index_ver *last,
                     uint64_t max_tx, sdb_index_ver *out) {
    if (!max_tx || last->tx_id <= max_tx) { *out = *last; return SEALDB_OK; }
    uint64_t lo = 1, hi = last->revision - 1;
    int found = 0;
    sdb_index_ver v;
    while (lo <= hi && hi > 0) {
        uint64_t mid = lo + (hi - lo) / 2;
        int rc = get_rev(s, k, kn, h, mid, &v);
        if (rc) return rc;
        if (v.tx_id <= max_tx) { *out = v; found = 1; lo = mid + 1; }
        else hi = mid - 1;
    }
    return found ? SEALDB_OK : SEALDB_NOTFOUND;
}

int sdb_index_get_latest(sdb_index_snap *s, sdb_slice key, uint64_t max_tx, sdb_index_ver *out, uint64_t *count) {
    if (key.len == 0 || key.len > SDB_INDEX_MAX_KEY_LEN) return SEALDB_NOTFOUND;
    uint64_t h = key_hash(key.ptr, key.len);
    sdb_index_ver last, v;
    int rc = locate(s, key.ptr, key.len, h, &last);
    if (rc || (rc = latest_at(s, key.ptr, key.len, h, &last, max_tx, &v))) return rc;
    *out = v;
    if (count) *count = last.revision;
    return SEALDB_OK;
}

int sdb_index_get_revision(sdb_index_snap *s, sdb_slice key, int64_t rev, sdb_index_ver *out) {
    if (key.len == 0 || key.len > SDB_INDEX_MAX_KEY_LEN) return SEALDB_NOTFOUND;
    uint64_t h = key_hash(key.ptr, key.len);
    sdb_index_ver last;
    int rc = locate(s, key.ptr, key.len, h, &last);
    if (rc) return rc;
    uint64_t n = last.revision, want;
    if (rev > 0) {
        if ((uint64_t)rev > n) return SEALDB_RANGE;
        want = (uint64_t)rev;
    } else {
        uint64_t back = rev == INT64_MIN ? (uint64_t)INT64_MAX + 1 : (uint64_t)(-rev);
        if (back >= n) return SEALDB_RANGE;
        want = n - back;
    }
    if (want == n) { *out = last; return SEALDB_OK; }
    return get_rev(s, key.ptr, key.len, h, want, out);
}

int sdb_index_version_count(sdb_index_snap *s, sdb_slice key, uint64_t *out) {
    sdb_index_ver last;
    *out = 0;
    if (key.len == 0 || key.len > SDB_INDEX_MAX_KEY_LEN) return SEALDB_OK;
    int rc = locate(s, key.ptr, key.len, key_hash(key.ptr, key.len), &last);
    if (rc == SEALDB_NOTFOUND) return SEALDB_OK;
    if (!rc) *out = last.revision;
    return rc;
}

int sdb_index_history(sdb_index_snap *s, sdb_slice key, uint64_t offset, uint64_t limit, int desc,
                      sdb_index_ver_fn fn, void *arg, uint64_t *count) {
    if (key.len == 0 || key.len > SDB_INDEX_MAX_KEY_LEN) return SEALDB_NOTFOUND;
    uint64_t h = key_hash(key.ptr, key.len);
    sdb_index_ver last;
    int rc = locate(s, key.ptr, key.len, h, &last);
    if (rc) return rc;
    uint64_t n = last.revision;
    if (count) *count = n;
    if (offset >= n) return SEALDB_OK;
    uint64_t todo = n - offset;
    if (limit && limit < todo) todo = limit;
    uint64_t rev = desc ? n - offset : offset + 1;
    vgroup *g = sdb_malloc(sizeof *g);
    if (!g) return SEALDB_NOMEM;
    g->n = 0;
    g->first_rev = 0;
    for (uint64_t i = 0; i < todo; i++, rev = desc ? rev - 1 : rev + 1) {
        if (rev < g->first_rev || rev >= g->first_rev + g->n) {
            if ((rc = get_group(s, key.ptr, key.len, h, rev, g))) break;
        }
        const sdb_index_ver *v = &g->v[rev - g->first_rev];
        if (v->revision != rev) { rc = SEALDB_CORRUPT; break; }
        if ((rc = fn(arg, v))) break;
    }
    sdb_free(g);
    return rc;
}

/* ---- ordered iteration: one cursor per source, merged by key ---- */

typedef struct cur {
    memtable *m;                       /* a memtable source, or */
    run *r;                            /* a run source */
    uint64_t upto;
    mnode *x;
    uint32_t b;                        /* run: block, decoded group starts, position */
    const uint8_t *end;
    const uint8_t **gs;
    size_t ng, cg, gi;
    const uint8_t *key;
    uint32_t klen;
    int valid;
} cur;

static int mn_live(mnode *x, uint64_t upto) { mver *vs; return mn_visible(x, upto, &vs) > 0; }

/* Loads block b's group starts into c->gs. */
static int cur_load(cur *c, uint32_t b) {
    const uint8_t *p, *end;
    int rc = run_block(c->r, b, &p, &end);
    if (rc) return rc;
    c->b = b;
    c->end = end;
    c->ng = 0;
    while (p < end) {
        if (c->ng == c->cg) {
            size_t nc = c->cg ? c->cg * 2 : 64;
            const uint8_t **ng = sdb_realloc(c->gs, nc * sizeof *ng);
            if (!ng) return SEALDB_NOMEM;
            c->gs = ng;
            c->cg = nc;
        }
        c->gs[c->ng++] = p;
        grp g;
        if ((rc = grp_head(&p, end, &g, 1))) return rc;
    }
    return c->ng ? SEALDB_OK : SEALDB_CORRUPT;
}

static int cur_key(cur *c) {   /* c->key from the group at c->gi */
    const uint8_t *p = c->gs[c->gi];
    grp g;
    int rc = grp_head(&p, c->end, &g, 0);
    if (rc) return rc;
    c->key = g.key;
    c->klen = g.klen;
    c->valid = 1;
    return SEALDB_OK;
}

/* Ascending: first key >= k (all when kn == 0). */
static int cur_seek_ge(cur *c, const uint8_t *k, size_t kn) {
    c->valid = 0;
    if (c->m) {
        mnode *x = kn ? mt_before(c->m, k, kn, 0, NULL) : c->m->head;
        for (x = atomic_load_explicit(&x->next[0], memory_order_acquire); x && !mn_live(x, c->upto);
             x = atomic_load_explicit(&x->next[0], memory_order_acquire)) {}
        if (x) { c->x = x; c->key = x->key; c->klen = x->klen; c->valid = 1; }
        return SEALDB_OK;
    }
    if (!c->r->nblocks) return SEALDB_OK;
    long b = kn ? fence_find(c->r, k, kn, 0, 0) : 0;
    if (b < 0) b = 0;
    int rc = cur_load(c, (uint32_t)b);
    for (c->gi = 0; !rc;) {
        if (c->gi == c->ng) {
            if (c->b + 1 >= c->r->nblocks) { c->valid = 0; return SEALDB_OK; }
            if ((rc = cur_load(c, c->b + 1))) return rc;
            c->gi = 0;
        }
        if ((rc = cur_key(c))) return rc;
        if (kcmp(c->key, c->klen, k, kn) >= 0) return SEALDB_OK;
        c->gi++;
    }
    return rc;
}

/* Ascending: the next key. */
static int cur_next(cur *c) {
    if (c->m) {
        mnode *x = c->x;
        for (x = atomic_load_explicit(&x->next[0], memory_order_acquire); x && !mn_live(x, c->upto);
             x = atomic_load_explicit(&x->next[0], memory_order_acquire)) {}
        c->valid = x != NULL;
        if (x) { c->x = x; c->key = x->key; c->klen = x->klen; }
        return SEALDB_OK;
    }
    const uint8_t *k = c->key;
    uint32_t kn = c->klen;
    for (;;) {
        if (++c->gi >= c->ng) {
            if (c->b + 1 >= c->r->nblocks) { c->valid = 0; return SEALDB_OK; }
            int rc = cur_load(c, c->b + 1);
            if (rc) return rc;
            c->gi = 0;
        }
        int rc = cur_key(c);
        if (rc) return rc;
        int cmp = kcmp(c->key, c->klen, k, kn);
        if (cmp < 0) return SEALDB_CORRUPT;
        if (cmp > 0) return SEALDB_OK;
    }
}

static mnode *mt_prev_live(cur *c, const uint8_t *k, size_t kn, int incl) {
    for (;;) {
        mnode *x;
        if (k) x = mt_before(c->m, k, kn, incl, NULL);
        else {   /* the last node */
            x = c->m->head;
            for (int l = atomic_load_explicit(&c->m->height, memory_order_acquire) - 1; l >= 0; l--)
                for (mnode *nx; (nx = atomic_load_explicit(&x->next[l], memory_order_acquire));) x = nx;
        }
        if (x == c->m->head) return NULL;
        if (mn_live(x, c->upto)) return x;
        k = x->key;
        kn = x->klen;
        incl = 0;
    }
}

/* Descending: last key <= k (< k without incl); the last key when k is NULL. */
static int cur_seek_le(cur *c, const uint8_t *k, size_t kn, int incl) {
    c->valid = 0;
    if (c->m) {
        mnode *x = mt_prev_live(c, k, kn, incl);
        if (x) { c->x = x; c->key = x->key; c->klen = x->klen; c->valid = 1; }
        return SEALDB_OK;
    }
    if (!c->r->nblocks) return SEALDB_OK;
    long b = k ? fence_find(c->r, k, kn, incl ? UINT64_MAX : 0, incl) : (long)c->r->nblocks - 1;
    if (b < 0) return SEALDB_OK;
    int rc = cur_load(c, (uint32_t)b);
    if (rc) return rc;
    for (c->gi = c->ng; c->gi-- > 0;) {
        if ((rc = cur_key(c))) return rc;
        int cmp = k ? kcmp(c->key, c->klen, k, kn) : -1;
        if (cmp < 0 || (incl && cmp == 0)) return SEALDB_OK;
    }
    c->valid = 0;
    return SEALDB_CORRUPT;   /* the fence promised a smaller key in this block */
}

/* Descending: the previous key. */
static int cur_prev(cur *c) {
    if (c->m) {
        mnode *x = mt_prev_live(c, c->key, c->klen, 0);
        c->valid = x != NULL;
        if (x) { c->x = x; c->key = x->key; c->klen = x->klen; }
        return SEALDB_OK;
    }
    const uint8_t *k = c->key;
    uint32_t kn = c->klen;
    for (;;) {
        if (c->gi == 0) {
            if (c->b == 0) { c->valid = 0; return SEALDB_OK; }
            int rc = cur_load(c, c->b - 1);
            if (rc) return rc;
            c->gi = c->ng;
        }
        c->gi--;
        int rc = cur_key(c);
        if (rc) return rc;
        int cmp = kcmp(c->key, c->klen, k, kn);
        if (cmp > 0) return SEALDB_CORRUPT;
        if (cmp < 0) return SEALDB_OK;
    }
}

typedef struct merge {
    cur *c;
    size_t n;
    int desc;
} merge;

static int merge_init(merge *mg, sdb_index_snap *s, int desc) {
    view *v = s->v;
    mg->c = sdb_calloc(v->nruns + 2, sizeof *mg->c);
    if (!mg->c) return SEALDB_NOMEM;
    mg->n = 0;
    mg->desc = desc;
    if (v->mem) mg->c[mg->n++].m = v->mem;
    if (v->imm) mg->c[mg->n++].m = v->imm;
    for (size_t i = 0; i < v->nruns; i++) mg->c[mg->n++].r = v->runs[i];
    for (size_t i = 0; i < mg->n; i++) mg->c[i].upto = s->upto;
    return SEALDB_OK;
}
static void merge_free(merge *mg) {
    for (size_t i = 0; i < mg->n; i++) sdb_free(mg->c[i].gs);
    sdb_free(mg->c);
}
/* The current key (smallest ascending, greatest descending); 0 when every source is done. */
static int merge_top(merge *mg, const uint8_t **k, uint32_t *kn) {
    int any = 0;
    for (size_t i = 0; i < mg->n; i++) {
        cur *c = &mg->c[i];
        if (!c->valid) continue;
        if (!any) { *k = c->key; *kn = c->klen; any = 1; continue; }
        int cmp = kcmp(c->key, c->klen, *k, *kn);
        if (mg->desc ? cmp > 0 : cmp < 0) { *k = c->key; *kn = c->klen; }
    }
    return any;
}
/* Moves every source at key k to its next key. */
static int merge_step(merge *mg, const uint8_t *k, uint32_t kn) {
    /* k points into a source: compare against a stable copy of its identity */
    for (size_t i = 0; i < mg->n; i++) {
        cur *c = &mg->c[i];
        if (!c->valid || c->klen != kn || (c->key != k && memcmp(c->key, k, kn))) continue;
        int rc = mg->desc ? cur_prev(c) : cur_next(c);
        if (rc) return rc;
    }
    return SEALDB_OK;
}

/* Smallest byte string above every string starting with p, in a new buffer; *n = 0 when none. */
static uint8_t *prefix_succ(sdb_slice p, size_t *n) {
    size_t m = p.len;
    while (m > 0 && p.ptr[m - 1] == 0xff) m--;
    *n = m;
    if (!m) return NULL;
    uint8_t *b = sdb_malloc(m);
    if (!b) return NULL;
    memcpy(b, p.ptr, m);
    b[m - 1]++;
    return b;
}

int sdb_index_scan(sdb_index_snap *s, const sdb_index_scan_opts *o, sdb_index_scan_fn fn, void *arg) {
    sdb_slice prefix = o->prefix, seek = o->seek, end = o->end;
    merge mg;
    int rc = merge_init(&mg, s, o->desc);
    if (rc) return rc;
    sdb_slice lo = prefix, hi = { NULL, 0 };
    int incl_lo = 1, incl_hi = 1;
    uint8_t *succ = NULL;
    size_t succ_len = 0;
    if (!o->desc) {
        if (seek.len && sdb_slice_cmp(seek, prefix) >= 0) { lo = seek; incl_lo = o->inclusive_seek; }
        for (size_t i = 0; !rc && i < mg.n; i++) rc = cur_seek_ge(&mg.c[i], lo.ptr, lo.len);
    } else {
        const uint8_t *start = NULL;
        size_t sl = 0;
        int sincl = 0;
        if (seek.len && prefix.len && !starts_with(seek, prefix) && sdb_slice_cmp(seek, prefix) < 0) goto done;
        if (seek.len && !(prefix.len && !starts_with(seek, prefix))) {
            hi = seek;
            incl_hi = o->inclusive_seek;
            start = seek.ptr;
            sl = seek.len;
            sincl = 1;
        } else if (prefix.len) {
            succ = prefix_succ(prefix, &succ_len);
            if (succ_len && !succ) { rc = SEALDB_NOMEM; goto done; }
            start = succ;
            sl = succ_len;
        }
        for (size_t i = 0; !rc && i < mg.n; i++) rc = cur_seek_le(&mg.c[i], start, sl, sincl);
    }
    uint64_t skipped = 0, emitted = 0;
    const uint8_t *kp;
    uint32_t kn;
    while (!rc && merge_top(&mg, &kp, &kn)) {
        sdb_slice key = { kp, kn };
        int stop = 0, skip = 0;
        if (!o->desc) {
            if (!starts_with(key, prefix)) { if (sdb_slice_cmp(key, prefix) > 0) stop = 1; else skip = 1; }
            int c = sdb_slice_cmp(key, lo);
            if (c < 0 || (c == 0 && !incl_lo)) skip = 1;
            if (!stop && !skip && end.len) {
                c = sdb_slice_cmp(key, end);
                if (c > 0 || (c == 0 && !o->inclusive_end)) stop = 1;
            }
        } else {
            if (hi.ptr) {
                int c = sdb_slice_cmp(key, hi);
                if (c > 0 || (c == 0 && !incl_hi)) skip = 1;
            }
            if (!skip && !starts_with(key, prefix)) { if (sdb_slice_cmp(key, prefix) < 0) stop = 1; else skip = 1; }
            if (!stop && !skip && end.len) {
                int c = sdb_slice_cmp(key, end);
                if (c < 0 || (c == 0 && !o->inclusive_end)) stop = 1;
            }
        }
        if (stop) break;
        if (!skip) {
            uint64_t h = key_hash(kp, kn);
            sdb_index_ver last, v;
            rc = locate(s, kp, kn, h, &last);
            if (rc == SEALDB_NOTFOUND) rc = SEALDB_CORRUPT;   /* a source listed it */
            if (!rc) rc = latest_at(s, kp, kn, h, &last, o->max_tx, &v);
            if (rc == SEALDB_NOTFOUND) rc = SEALDB_OK;
            else if (!rc && (o->include_dead || !sdb_index_ver_dead(&v, o->now))) {
                if (skipped < o->offset) skipped++;
                else {
                    if ((rc = fn(arg, key, &v, v.revision))) break;
                    if (o->limit && ++emitted >= o->limit) break;
                }
            }
            if (rc) break;
        }
        rc = merge_step(&mg, kp, kn);
    }
done:
    sdb_free(succ);
    merge_free(&mg);
    return rc;
}

int sdb_index_count(sdb_index_snap *s, sdb_slice prefix, uint64_t *out) {
    return sdb_index_count_at(s, prefix, 0, out);
}

int sdb_index_count_at(sdb_index_snap *s, sdb_slice prefix, uint64_t max_tx, uint64_t *out) {
    merge mg;
    int rc = merge_init(&mg, s, 0);
    if (rc) return rc;
    for (size_t i = 0; !rc && i < mg.n; i++) rc = cur_seek_ge(&mg.c[i], prefix.ptr, prefix.len);
    uint64_t n = 0;
    const uint8_t *kp;
    uint32_t kn;
    while (!rc && merge_top(&mg, &kp, &kn)) {
        if (!starts_with((sdb_slice){ kp, kn }, prefix)) break;
        if (max_tx && max_tx != UINT64_MAX) {
            /* a key whose every version is above max_tx is not counted (its first one decides) */
            uint64_t h = key_hash(kp, kn);
            sdb_index_ver last, v;
            int hidden = 0;
            rc = locate(s, kp, kn, h, &last);
            if (rc == SEALDB_NOTFOUND) rc = SEALDB_CORRUPT;   /* a source listed it */
            if (!rc && last.tx_id > max_tx && (rc = latest_at(s, kp, kn, h, &last, max_tx, &v)) == SEALDB_NOTFOUND) {
                rc = SEALDB_OK;
                hidden = 1;
            }
            if (rc) break;
            if (hidden) { rc = merge_step(&mg, kp, kn); continue; }
        }
        n++;
        rc = merge_step(&mg, kp, kn);
    }
    merge_free(&mg);
    if (!rc) *out = n;
    return rc;
}

int sdb_index_pre_check(sdb_index_snap *s, int kind, sdb_slice key, uint64_t tx_id, int64_t now, int *holds) {
    sdb_index_ver v;
    int rc = sdb_index_get_latest(s, key, 0, &v, NULL);
    if (rc && rc != SEALDB_NOTFOUND) return rc;
    int live = rc == SEALDB_OK && !sdb_index_ver_dead(&v, now);
    switch (kind) {
    case SDB_INDEX_PRE_MUST_EXIST: *holds = live; break;
    case SDB_INDEX_PRE_MUST_NOT_EXIST: *holds = !live; break;
    case SDB_INDEX_PRE_NOT_MODIFIED_AFTER: *holds = rc == SEALDB_NOTFOUND || v.tx_id <= tx_id; break;
    default: return SEALDB_INVALID;
    }
    return SEALDB_OK;
}

void sdb_index_stats_get(sdb_index *ix, sdb_index_stats *st) {
    memset(st, 0, sizeof *st);
    view *v = cur_view(ix, NULL);
    for (size_t i = 0; i < v->nruns; i++) {
        st->runs++;
        st->disk_bytes += v->runs[i]->size;
        st->disk_versions += v->runs[i]->nvers;
    }
    st->mem_bytes = v->mem->bytes + (v->imm ? v->imm->bytes : 0);
    st->mem_versions = v->mem->nvers + (v->imm ? v->imm->nvers : 0);
    view_unref(v);
}

/* Reads every group of run r: block CRCs, key order, continuous revisions, versions decoded. */
static int run_check(run *r, uint64_t *versions) {
    const uint8_t *pk = NULL;
    uint32_t pkn = 0;
    uint64_t prev_last = 0, rn = 0;
    int rc = SEALDB_OK;
    for (uint32_t b = 0; !rc && b < r->nblocks; b++) {
        const uint8_t *p, *end;
        if ((rc = run_block(r, b, &p, &end))) break;
        while (!rc && p < end) {
            grp g;
            if ((rc = grp_head(&p, end, &g, 1))) break;
            int c = pk ? kcmp(pk, pkn, g.key, g.klen) : -1;
            if (c > 0 || (c == 0 && g.first_rev != prev_last + 1)) { rc = SEALDB_CORRUPT; break; }
            sdb_index_ver vs[GROUP_MAX];
            if ((rc = grp_versions(&g, g.end, vs))) break;
            pk = g.key;
            pkn = g.klen;
            prev_last = g.first_rev + g.n - 1;
            rn += g.n;
        }
    }
    if (!rc && rn != r->nvers) rc = SEALDB_CORRUPT;
    *versions = rn;
    return rc;
}

int sdb_index_fuzz_run(const uint8_t *data, size_t size) {
    if (size < 16) return SEALDB_CORRUPT;
    run *r = sdb_calloc(1, sizeof *r);
    if (!r) return SEALDB_NOMEM;
    atomic_init(&r->refs, 1);
    r->map = (uint8_t *)data;   /* read only: mapped stays 0 */
    r->size = size;
    int rc = run_parse(r, sdb_get_u64be(data + 8), 0);
    uint64_t n = 0;
    if (!rc) rc = run_check(r, &n);
    for (uint32_t b = 0; b < r->nblocks && b < 64; b++) {   /* point reads at every fence */
        grp g;
        const uint8_t *end;
        sdb_index_ver last;
        if (!run_group(r, r->f[b].key, r->f[b].klen, UINT64_MAX, &g, &end)) (void)grp_last(&g, end, &last);
        if (!run_group(r, r->f[b].key, r->f[b].klen, r->f[b].rev, &g, &end)) (void)grp_last(&g, end, &last);
        (void)bloom_may(r, key_hash(r->f[b].key, r->f[b].klen));
    }
    run_unref(r);
    return rc;
}

/* Every level of the memtable's skiplist in strictly ascending key order, each node tall enough
 * for the levels it is on (links are published in order, so this holds while a writer links). */
static int mt_check(memtable *m) {
    if (!m) return SEALDB_OK;
    int ht = atomic_load_explicit(&m->height, memory_order_acquire);
    for (int l = 0; l < ht; l++) {
        mnode *p = NULL;
        for (mnode *x = atomic_load_explicit(&m->head->next[l], memory_order_acquire); x;
             p = x, x = atomic_load_explicit(&x->next[l], memory_order_acquire))
            if (x->height <= l || (p && ncmp(p, x) >= 0)) return SEALDB_CORRUPT;
    }
    return SEALDB_OK;
}

/* Checks every block's CRC and group order of every run (sealdb verify), and the memtables'
 * skiplist order. */
int sdb_index_check(sdb_index *ix, uint64_t *versions) {
    view *v = cur_view(ix, NULL);
    int rc = mt_check(v->mem);
    if (!rc) rc = mt_check(v->imm);
    uint64_t n = 0;
    for (size_t i = 0; !rc && i < v->nruns; i++) {
        uint64_t rn = 0;
        rc = run_check(v->runs[i], &rn);
        n += rn;
    }
    view_unref(v);
    if (versions) *versions = n;
    return rc;
}
