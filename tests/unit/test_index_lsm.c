/* test_index_lsm.c - unit tests of the LSM key index's own structure: memtable flushes to runs,
 * size-tiered merges, reopen from the manifest, concurrent readers, hot keys split in groups,
 * corrupted blocks and footers detected, stray and missing run files, memtable size limits. */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <stdio.h>
#include <unistd.h>
#include "testlib.h"
#include "index/index.h"

static char *ixdir(void) {
    static char p[4096];
    snprintf(p, sizeof p, "%s/index", sdb_test_tmpdir());
    return p;
}

static sdb_index *open_small(void) {   /* the smallest memtable: many flushes and merges */
    sdb_index_opts o;
    sdb_index_opts_default(&o);
    o.memtable_bytes = SDB_INDEX_MEMTABLE_MIN;
    sdb_index *ix = NULL;
    CHECK_OK(sdb_index_open(ixdir(), &o, &ix));
    return ix;
}

#define NK 3000
#define NB 150
static uint16_t mtx[NK][NB];   /* model: txs of each key's versions */
static uint32_t mn[NK];
static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }
static void kname(char *b, size_t i) { snprintf(b, 16, "key%05zu", i); }

typedef struct { sdb_index *ix; volatile int stop; int errors; uint64_t reads; } reader;
static void *read_loop(void *p) {
    reader *r = p;
    char k[16];
    while (!r->stop) {
        sdb_index_snap *s;
        if (sdb_index_snap_begin(r->ix, &s)) { r->errors++; continue; }
        uint64_t upto = sdb_index_snap_upto(s);
        for (int i = 0; i < 50; i++) {
            sdb_index_ver v;
            uint64_t n;
            size_t ki = (size_t)(rnd() % NK);
            kname(k, ki);
            int rc = sdb_index_get_latest(s, sdb_slice_str(k), 0, &v, &n);
            if (rc == SEALDB_NOTFOUND) continue;
            if (rc || v.tx_id > upto || v.revision != n) r->errors++;
            /* the first version is always at the lowest tx */
            sdb_index_ver f;
            if (sdb_index_get_revision(s, sdb_slice_str(k), 1, &f) || f.tx_id > v.tx_id) r->errors++;
        }
        sdb_index_snap_end(s);
        r->reads++;
    }
    return NULL;
}

typedef struct { uint64_t tx[NB + 1]; uint64_t rev[NB + 1]; size_t n; } hist;
static int hist_fn(void *arg, const sdb_index_ver *v) {
    hist *h = arg;
    if (h->n > NB) return SEALDB_TOOLARGE;
    h->tx[h->n] = v->tx_id;
    h->rev[h->n++] = v->revision;
    return 0;
}
typedef struct { size_t n; char last[16]; int order_bad; } scanned;
static int scan_fn(void *arg, sdb_slice key, const sdb_index_ver *v, uint64_t count) {
    scanned *s = arg;
    char k[16] = { 0 };
    if (key.len >= sizeof k) return SEALDB_CORRUPT;
    memcpy(k, key.ptr, key.len);
    if (s->n && strcmp(s->last, k) >= 0) s->order_bad = 1;
    memcpy(s->last, k, sizeof k);
    size_t i = (size_t)atoi(k + 3);
    if (i >= NK || count != mn[i] || v->tx_id != mtx[i][mn[i] - 1]) return SEALDB_CORRUPT;
    s->n++;
    return 0;
}

static void check_model(sdb_index *ix) {
    sdb_index_snap *s;
    CHECK_OK(sdb_index_snap_begin(ix, &s));
    size_t present = 0;
    char k[16];
    for (size_t i = 0; i < NK; i++) {
        kname(k, i);
        sdb_index_ver v;
        uint64_t n;
        if (!mn[i]) { CHECK_RC(sdb_index_get_latest(s, sdb_slice_str(k), 0, &v, &n), SEALDB_NOTFOUND); continue; }
        present++;
        CHECK_OK(sdb_index_get_latest(s, sdb_slice_str(k), 0, &v, &n));
        CHECK_EQ_U64(n, mn[i]);
        CHECK_EQ_U64(v.tx_id, mtx[i][mn[i] - 1]);
        CHECK_EQ_U64(v.entry_idx, i);
        uint32_t r = (uint32_t)(rnd() % mn[i]);
        CHECK_OK(sdb_index_get_revision(s, sdb_slice_str(k), r + 1, &v));
        CHECK_EQ_U64(v.tx_id, mtx[i][r]);
        CHECK_EQ_U64(v.val_off, (uint64_t)mtx[i][r] * 7 + i);
        /* at tx: the version of revision r is the latest at its own tx */
        CHECK_OK(sdb_index_get_latest(s, sdb_slice_str(k), mtx[i][r], &v, NULL));
        CHECK_EQ_U64(v.revision, r + 1);
        if (i % 10 == 0) {
            hist h = { 0 };
            CHECK_OK(sdb_index_history(s, sdb_slice_str(k), 0, 0, 0, hist_fn, &h, &n));
            CHECK_EQ_U64(h.n, mn[i]);
            for (size_t j = 0; j < h.n; j++) { CHECK_EQ_U64(h.tx[j], mtx[i][j]); CHECK_EQ_U64(h.rev[j], j + 1); }
            memset(&h, 0, sizeof h);
            CHECK_OK(sdb_index_history(s, sdb_slice_str(k), 1, 3, 1, hist_fn, &h, NULL));
            for (size_t j = 0; j < h.n; j++) CHECK_EQ_U64(h.rev[j], mn[i] - 1 - j);
        }
    }
    uint64_t cnt;
    CHECK_OK(sdb_index_count(s, sdb_slice_str(""), &cnt));
    CHECK_EQ_U64(cnt, present);
    CHECK_OK(sdb_index_count(s, sdb_slice_str("key01"), &cnt));
    size_t want = 0;
    for (size_t i = 1000; i < 2000; i++) want += mn[i] > 0;
    CHECK_EQ_U64(cnt, want);
    sdb_index_scan_opts o = { 0 };
    o.include_dead = 1;
    scanned sc = { 0 };
    CHECK_OK(sdb_index_scan(s, &o, scan_fn, &sc));
    CHECK_EQ_U64(sc.n, present);
    CHECK(!sc.order_bad);
    o.desc = 1;
    memset(&sc, 0, sizeof sc);
    CHECK_OK(sdb_index_scan(s, &o, scan_fn, &sc));
    CHECK_EQ_U64(sc.n, present);
    CHECK(sc.order_bad || present < 2);   /* descending: every step "goes back" */
    sdb_index_snap_end(s);
}

TEST(lsm_runs_merge_reopen_model) {
    memset(mn, 0, sizeof mn);
    sdb_index *ix = open_small();
    reader rd = { ix, 0, 0, 0 };
    pthread_t th;
    CHECK(pthread_create(&th, NULL, read_loop, &rd) == 0);
    char k[16];
    uint64_t total = 0;
    for (uint64_t tx = 1; tx <= NB; tx++) {
        sdb_index_batch *b;
        CHECK_OK(sdb_index_batch_begin(ix, &b));
        for (int j = 0; j < 1000; j++) {
            size_t i = (size_t)(rnd() % NK);
            if (mn[i] && mtx[i][mn[i] - 1] == tx) continue;   /* one version per key per tx */
            kname(k, i);
            sdb_index_ver v = { .tx_id = tx, .entry_idx = (uint32_t)i, .val_off = tx * 7 + i, .val_len = 3 };
            CHECK_OK(sdb_index_batch_put(b, sdb_slice_str(k), &v));
            mtx[i][mn[i]++] = (uint16_t)tx;
            total++;
        }
        CHECK_OK(sdb_index_batch_commit(b, tx));
    }
    rd.stop = 1;
    pthread_join(th, NULL);
    CHECK_EQ_U64(rd.errors, 0);
    CHECK(rd.reads > 0);
    sdb_index_stats st;
    sdb_index_stats_get(ix, &st);
    CHECK(st.runs >= 1);
    CHECK_EQ_U64(st.disk_versions + st.mem_versions, total);
    check_model(ix);
    sdb_index_close(ix);
    /* reopened from the manifest: everything flushed, merged into fewer runs than flushes */
    ix = open_small();
    uint64_t upto;
    CHECK_OK(sdb_index_indexed_upto(ix, &upto));
    CHECK_EQ_U64(upto, NB);
    sdb_index_stats_get(ix, &st);
    CHECK_EQ_U64(st.disk_versions, total);
    CHECK_EQ_U64(st.mem_versions, 0);
    CHECK(st.runs < 10);
    uint64_t checked;
    CHECK_OK(sdb_index_check(ix, &checked));
    CHECK_EQ_U64(checked, total);
    CHECK(st.disk_bytes / total < 40);   /* compact records: ~10-20 bytes per version plus the key */
    check_model(ix);
    sdb_index_close(ix);
}

TEST(lsm_hot_key_groups) {
    sdb_index *ix = open_small();
    for (uint64_t tx = 1; tx <= 1000; tx++) {
        sdb_index_batch *b;
        CHECK_OK(sdb_index_batch_begin(ix, &b));
        sdb_index_ver v = { .tx_id = tx * 2, .val_off = tx, .val_len = 1,
                            .flags = tx % 3 ? 0 : SDB_INDEX_HAS_EXPIRY, .expires_at = (int64_t)tx };
        CHECK_OK(sdb_index_batch_put(b, sdb_slice_str("hot"), &v));
        CHECK_OK(sdb_index_batch_commit(b, tx * 2));
        if (tx % 333 == 0) CHECK_OK(sdb_index_sync(ix));
    }
    for (int pass = 0; pass < 2; pass++) {
        sdb_index_snap *s;
        CHECK_OK(sdb_index_snap_begin(ix, &s));
        static hist h;
        uint64_t n;
        for (uint64_t off = 0; off < 1000; off += 97) {
            memset(&h, 0, sizeof h);
            CHECK_OK(sdb_index_history(s, sdb_slice_str("hot"), off, 100, pass, hist_fn, &h, &n));
            CHECK_EQ_U64(n, 1000);
            for (size_t j = 0; j < h.n; j++) {
                uint64_t rev = pass ? 1000 - off - j : off + j + 1;
                CHECK_EQ_U64(h.rev[j], rev);
                CHECK_EQ_U64(h.tx[j], rev * 2);
            }
        }
        sdb_index_ver v;
        CHECK_OK(sdb_index_get_revision(s, sdb_slice_str("hot"), -1, &v));
        CHECK_EQ_U64(v.revision, 999);
        CHECK_OK(sdb_index_get_revision(s, sdb_slice_str("hot"), 3, &v));
        CHECK(v.flags & SDB_INDEX_HAS_EXPIRY);
        CHECK_EQ_I64(v.expires_at, 3);
        CHECK_RC(sdb_index_get_revision(s, sdb_slice_str("hot"), 1001, &v), SEALDB_RANGE);
        for (uint64_t t = 1; t < 2000; t += 131) {
            CHECK_OK(sdb_index_get_latest(s, sdb_slice_str("hot"), t + 1, &v, &n));
            CHECK_EQ_U64(v.revision, (t + 1) / 2);
        }
        sdb_index_snap_end(s);
        sdb_index_close(ix);
        ix = open_small();
    }
    sdb_index_close(ix);
}

static void put_keys(sdb_index *ix, int n, uint64_t tx) {
    sdb_index_batch *b;
    CHECK_OK(sdb_index_batch_begin(ix, &b));
    char k[16];
    for (int i = 0; i < n; i++) {
        kname(k, (size_t)i);
        sdb_index_ver v = { .tx_id = tx, .entry_idx = (uint32_t)i, .val_len = 1 };
        CHECK_OK(sdb_index_batch_put(b, sdb_slice_str(k), &v));
    }
    CHECK_OK(sdb_index_batch_commit(b, tx));
}

/* Path of the (single) run file in the index directory. */
static void run_path(char *out, size_t n) {
    DIR *d = opendir(ixdir());
    CHECK(d != NULL);
    struct dirent *de;
    out[0] = 0;
    while ((de = readdir(d)))
        if (!strncmp(de->d_name, "run-", 4)) snprintf(out, n, "%s/%s", ixdir(), de->d_name);
    closedir(d);
    CHECK(out[0] != 0);
}

static void flip(const char *path, long off) {
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0);
    if (off < 0) off += lseek(fd, 0, SEEK_END);
    uint8_t c;
    CHECK(pread(fd, &c, 1, off) == 1);
    c ^= 0x40;
    CHECK(pwrite(fd, &c, 1, off) == 1);
    close(fd);
}

TEST(lsm_corrupt_block_detected) {
    sdb_index *ix = open_small();
    put_keys(ix, 2000, 1);
    sdb_index_close(ix);
    char p[4400];
    run_path(p, sizeof p);
    flip(p, 100);   /* inside the first block */
    ix = open_small();   /* blocks are checked on use, not at open */
    sdb_index_snap *s;
    sdb_index_ver v;
    CHECK_OK(sdb_index_snap_begin(ix, &s));
    CHECK_RC(sdb_index_get_latest(s, sdb_slice_str("key00000"), 0, &v, NULL), SEALDB_CORRUPT);
    CHECK_OK(sdb_index_get_latest(s, sdb_slice_str("key01999"), 0, &v, NULL));   /* another block */
    sdb_index_scan_opts o = { 0 };
    scanned sc = { 0 };
    CHECK_RC(sdb_index_scan(s, &o, scan_fn, &sc), SEALDB_CORRUPT);
    sdb_index_snap_end(s);
    CHECK_RC(sdb_index_check(ix, NULL), SEALDB_CORRUPT);
    sdb_index_close(ix);
    /* a damaged footer, fence or bloom section fails the open (the engine then rebuilds) */
    flip(p, -10);
    sdb_index *bad = NULL;
    CHECK_RC(sdb_index_open(ixdir(), NULL, &bad), SEALDB_CORRUPT);
    /* deleting the directory gives an empty index to rebuild */
    CHECK_OK(sdb_index_destroy(ixdir()));
    ix = open_small();
    uint64_t upto;
    CHECK_OK(sdb_index_indexed_upto(ix, &upto));
    CHECK_EQ_U64(upto, 0);
    sdb_index_close(ix);
}

TEST(lsm_stray_and_missing_runs) {
    sdb_index *ix = open_small();
    put_keys(ix, 10, 1);
    sdb_index_close(ix);
    char junk[4400], tmp[4400];
    snprintf(junk, sizeof junk, "%s/run-00000000000000ff.sst", ixdir());
    snprintf(tmp, sizeof tmp, "%s/run-0000000000000100.sst.tmp", ixdir());
    FILE *f = fopen(junk, "w");
    fputs("half-written", f);
    fclose(f);
    f = fopen(tmp, "w");
    fclose(f);
    ix = open_small();   /* not in the manifest: a flush or merge cut short, removed */
    CHECK(access(junk, F_OK) != 0);
    CHECK(access(tmp, F_OK) != 0);
    sdb_index_close(ix);
    char p[4400];
    run_path(p, sizeof p);
    CHECK(unlink(p) == 0);   /* named by the manifest but gone */
    CHECK_RC(sdb_index_open(ixdir(), NULL, &ix), SEALDB_CORRUPT);
    /* a file of another format (the LMDB index before it) asks for a rebuild */
    CHECK_OK(sdb_index_destroy(ixdir()));
    CHECK(mkdir(ixdir(), 0755) == 0);
    snprintf(p, sizeof p, "%s/data.mdb", ixdir());
    f = fopen(p, "w");
    fclose(f);
    CHECK_RC(sdb_index_open(ixdir(), NULL, &ix), SEALDB_UNSUPPORTED);
}

TEST(lsm_memtable_limits) {
    sdb_index_opts o;
    sdb_index_opts_default(&o);
    sdb_index *ix = NULL;
    o.memtable_bytes = SDB_INDEX_MEMTABLE_MIN - 1;
    CHECK_RC(sdb_index_open(ixdir(), &o, &ix), SEALDB_INVALID);
    o.memtable_bytes = SDB_INDEX_MEMTABLE_MAX + 1;
    CHECK_RC(sdb_index_open(ixdir(), &o, &ix), SEALDB_INVALID);
    o.memtable_bytes = SDB_INDEX_MEMTABLE_MAX;
    CHECK_OK(sdb_index_open(ixdir(), &o, &ix));
    sdb_index_close(ix);
}

TEST(lsm_abort_then_retry) {
    sdb_index *ix = open_small();
    put_keys(ix, 5, 1);
    sdb_index_batch *b;
    CHECK_OK(sdb_index_batch_begin(ix, &b));
    sdb_index_ver v = { .tx_id = 2, .val_len = 9 };
    CHECK_OK(sdb_index_batch_put(b, sdb_slice_str("key00001"), &v));
    CHECK_OK(sdb_index_batch_put(b, sdb_slice_str("fresh"), &v));
    sdb_index_batch_abort(b);
    sdb_index_snap *s;
    CHECK_OK(sdb_index_snap_begin(ix, &s));
    uint64_t n;
    CHECK_OK(sdb_index_version_count(s, sdb_slice_str("key00001"), &n));
    CHECK_EQ_U64(n, 1);
    CHECK_RC(sdb_index_get_latest(s, sdb_slice_str("fresh"), 0, &v, NULL), SEALDB_NOTFOUND);
    CHECK_OK(sdb_index_count(s, sdb_slice_str(""), &n));
    CHECK_EQ_U64(n, 5);
    sdb_index_snap_end(s);
    /* the same tx again, as the engine retries it */
    CHECK_OK(sdb_index_batch_begin(ix, &b));
    v.tx_id = 2;
    CHECK_OK(sdb_index_batch_put(b, sdb_slice_str("key00001"), &v));
    CHECK_OK(sdb_index_batch_commit(b, 2));
    CHECK_OK(sdb_index_snap_begin(ix, &s));
    CHECK_OK(sdb_index_version_count(s, sdb_slice_str("key00001"), &n));
    CHECK_EQ_U64(n, 2);
    sdb_index_snap_end(s);
    sdb_index_close(ix);
}

/* Keys whose first 8 bytes tie (a shared prefix, short keys, keys ending in zero bytes) and keys
 * that differ only in one byte of the prefix, put in random order in batches: a scan must return
 * them in bytewise order (a batch's new keys are radix-sorted by prefix, ties by key, and linked
 * by a finger search among the keys of earlier batches). */
typedef struct { size_t n; uint8_t last[64]; size_t last_n; int bad; } ordchk;
static int ord_fn(void *arg, sdb_slice key, const sdb_index_ver *v, uint64_t count) {
    ordchk *o = arg;
    if (key.len > sizeof o->last) return SEALDB_CORRUPT;
    if (o->n) {
        size_t m = o->last_n < key.len ? o->last_n : key.len;
        int c = memcmp(o->last, key.ptr, m);
        if (c > 0 || (c == 0 && o->last_n >= key.len)) o->bad = 1;
    }
    memcpy(o->last, key.ptr, key.len);
    o->last_n = key.len;
    o->n++;
    return 0;
}
enum { KW = 64 };   /* key width of the order tests */

/* Shuffles keys[0..n), puts them in batches (one of 1000, then of 1 to 300 keys linked among those
 * already there) and checks scans, point reads, seeks and every skiplist level see them in order. */
static void put_check_order(uint8_t (*keys)[KW], size_t *klen, size_t n) {
    sdb_index *ix = open_small();
    for (size_t i = n - 1; i > 0; i--) {   /* shuffle */
        size_t j = (size_t)(rnd() % (i + 1));
        uint8_t t[KW];
        memcpy(t, keys[i], KW); memcpy(keys[i], keys[j], KW); memcpy(keys[j], t, KW);
        size_t tl = klen[i]; klen[i] = klen[j]; klen[j] = tl;
    }
    sdb_index_batch *b = NULL;
    size_t distinct = 0, left = 0;
    uint64_t tx = 0;
    for (size_t i = 0; i < n; i++) {
        if (!left) {
            if (b) CHECK_OK(sdb_index_batch_commit(b, tx));
            CHECK_OK(sdb_index_batch_begin(ix, &b));
            left = i ? 1 + (size_t)(rnd() % 300) : 1000;
            tx++;
        }
        left--;
        sdb_index_ver v = { .tx_id = tx, .entry_idx = (uint32_t)i };
        int rc = sdb_index_batch_put(b, sdb_slice_of(keys[i], klen[i]), &v);
        CHECK(rc == SEALDB_OK || rc == SEALDB_INVALID);   /* a duplicate of the last generator */
        distinct += rc == SEALDB_OK;
    }
    CHECK_OK(sdb_index_batch_commit(b, tx));
    sdb_index_snap *s;
    CHECK_OK(sdb_index_snap_begin(ix, &s));
    sdb_index_scan_opts o = { 0 };
    ordchk oc = { 0 };
    CHECK_OK(sdb_index_scan(s, &o, ord_fn, &oc));
    CHECK_EQ_U64(oc.n, distinct);
    CHECK(!oc.bad);
    for (size_t i = 0; i < n; i++) {
        sdb_index_ver v;
        CHECK_OK(sdb_index_get_latest(s, sdb_slice_of(keys[i], klen[i]), 0, &v, NULL));
        /* a seek walks the skiplist's upper levels: it must land on the key itself */
        sdb_index_scan_opts so = { 0 };
        so.seek = sdb_slice_of(keys[i], klen[i]);
        so.inclusive_seek = 1;
        so.limit = 1;
        ordchk one = { 0 };
        CHECK_OK(sdb_index_scan(s, &so, ord_fn, &one));
        CHECK_EQ_U64(one.n, 1);
        CHECK_EQ_MEM(one.last, one.last_n, keys[i], klen[i]);
    }
    sdb_index_snap_end(s);
    CHECK_OK(sdb_index_check(ix, NULL));   /* every skiplist level in order */
    sdb_index_close(ix);
}

TEST(lsm_batch_key_order_ties) {
    enum { NKEYS = 2000 };
    static uint8_t keys[NKEYS][KW];
    static size_t klen[NKEYS];
    size_t n = 0;
    for (size_t i = 0; i < 600; i++) {   /* shared 12-byte prefix, then a counter */
        memcpy(keys[n], "sameprefix!!", 12);
        keys[n][12] = (uint8_t)(i >> 8);
        keys[n][13] = (uint8_t)i;
        klen[n++] = 14;
    }
    for (size_t l = 1; l <= 10; l++)    /* "a", "a\0", "a\0\0", ... and "b..." */
        for (uint8_t c = 'a'; c <= 'b'; c++) {
            memset(keys[n], 0, KW);
            keys[n][0] = c;
            klen[n++] = l;
        }
    for (size_t i = 0; n < NKEYS; i++) {   /* one differing byte at each prefix position */
        memset(keys[n], 'z', 16);
        keys[n][i % 8] = (uint8_t)(i / 8 + 1);
        keys[n][8 + i % 8] = (uint8_t)(i * 7);
        klen[n++] = 16;
    }
    put_check_order(keys, klen, n);
}

/* Ties past the first 8 and 16 bytes: a replica's batch of many txs of "fill-%012u" keys (the
 * tie sort was quadratic in them), keys differing only in their 4th word or by a trailing zero,
 * and keys that differ only by trailing zero bytes, up to 7 words long (a large tie at every
 * word), or by one byte at any depth. */
TEST(lsm_batch_key_order_deep_ties) {
    enum { NKEYS = 6000 };
    static uint8_t keys[NKEYS][KW];
    static size_t klen[NKEYS];
    size_t n = 0;
    for (size_t i = 0; i < 4000; i++)
        klen[n] = (size_t)snprintf((char *)keys[n], KW, "fill-%012zu", (i % 8) * 100000 + i / 8), n++;
    for (size_t i = 0; i < 1500; i++) {
        memset(keys[n], 'q', 24);
        sdb_put_u64be(keys[n] + 24, (uint64_t)(i / 2) * 0x9e3779b97f4a7c15ull);
        keys[n][32] = 0;
        klen[n++] = 32 + i % 2;   /* "C" and "C\0" */
    }
    for (size_t m = 0; m < 48; m++) {   /* 'w' x 16 then m zero bytes */
        memset(keys[n], 0, KW);
        memset(keys[n], 'w', 16);
        klen[n++] = 16 + m;
    }
    for (size_t i = 0; n < NKEYS; i++) {   /* 'w' x 16, zeros, one byte at a varying depth */
        memset(keys[n], 0, KW);
        memset(keys[n], 'w', 16);
        keys[n][16 + i % 40] = (uint8_t)(1 + i / 40);
        klen[n++] = 16 + 1 + i % 40 + i % 3;
    }
    put_check_order(keys, klen, n);
}
