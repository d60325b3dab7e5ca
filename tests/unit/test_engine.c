/* test_engine.c - engine: commit, tx reads, state, proofs, reopen and recovery. */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include "testlib.h"
#include "engine/engine.h"
#include "storage/journal.h"
#include "storage/crc32c.h"
#include "index/index.h"

static sdb_engine *open_db(const char *dir) {
    sdb_engine_opts o;
    sdb_engine_opts_default(&o);
    o.segment_size = 1u << 20;
    sdb_engine *e = NULL;
    int rc = sdb_engine_open(dir, &o, &e);
    if (rc) fprintf(stderr, "open: %s: %s\n", sealdb_errname(rc), sdb_engine_last_open_error());
    CHECK_OK(rc);
    return e;
}

static char *dbdir(const char *name) {
    static char p[1024];
    snprintf(p, sizeof p, "%s/%s", sdb_test_tmpdir(), name);
    return p;
}

static uint64_t put(sdb_engine *e, const char *k, const char *v) {
    sdb_kv kv = { .key = sdb_slice_str(k), .value = sdb_slice_str(v) };
    sdb_commit_result r;
    CHECK_OK(sdb_engine_commit_sync(e, &kv, 1, NULL, 0, &r, NULL));
    return r.hdr.id;
}

TEST(crc32c_known_values) {
    CHECK_EQ_U64(sdb_crc32c(0, "123456789", 9), 0xE3069283u);
    uint8_t buf[1000];
    for (int i = 0; i < 1000; i++) buf[i] = (uint8_t)(i * 7 + 3);
    for (size_t n = 0; n < 1000; n += 37)
        CHECK_EQ_U64(sdb_crc32c(0, buf, n), sdb_crc32c_portable(0, buf, n));
    /* incremental equals one-shot */
    CHECK_EQ_U64(sdb_crc32c(sdb_crc32c(0, buf, 10), buf + 10, 990), sdb_crc32c(0, buf, 1000));
}

TEST(commit_and_read_tx) {
    sdb_engine *e = open_db(dbdir("db"));
    uint64_t id; uint8_t alh[32];
    CHECK_OK(sdb_engine_state(e, &id, alh));
    CHECK_EQ_U64(id, 0);
    CHECK_EQ_MEM(alh, 32, sdb_hash_empty.b, 32);
    sdb_kv kvs[3] = {
        { .key = sdb_slice_str("a"), .value = sdb_slice_str("1") },
        { .key = sdb_slice_str("b"), .value = sdb_slice_str("") },
        { .key = sdb_slice_str("c"), .value = sdb_slice_str("333"), .md = { .deleted = 1 } },
    };
    sdb_commit_result r;
    CHECK_OK(sdb_engine_commit_sync(e, kvs, 3, NULL, 0, &r, NULL));
    CHECK_EQ_U64(r.hdr.id, 1);
    CHECK_EQ_U64(r.hdr.bl_tx_id, 0);
    CHECK_EQ_MEM(r.hdr.prev_alh.b, 32, sdb_hash_empty.b, 32);
    CHECK_EQ_MEM(r.hdr.bl_root.b, 32, sdb_hash_zero.b, 32);
    CHECK_EQ_U64(r.hdr.version, 1);
    uint64_t id2 = put(e, "a", "2");
    CHECK_EQ_U64(id2, 2);
    CHECK_OK(sdb_engine_state(e, &id, alh));
    CHECK_EQ_U64(id, 2);

    sdb_tx t;
    sdb_tx_init(&t);
    CHECK_OK(sdb_engine_tx_read(e, 1, 1, &t));
    CHECK_EQ_U64(t.nentries, 3);
    CHECK_EQ_MEM(t.entries[0].key.ptr, t.entries[0].key.len, "a", 1);
    CHECK_EQ_MEM(t.entries[2].value.ptr, t.entries[2].value.len, "333", 3);
    CHECK(t.entries[2].md.deleted);
    CHECK_EQ_U64(t.entries[1].vlen, 0);
    CHECK_EQ_MEM(t.alh.b, 32, r.alh.b, 32);
    uint8_t a2[32];
    CHECK_OK(sdb_tx_alh(&t.hdr, a2));
    CHECK_EQ_MEM(a2, 32, r.alh.b, 32);
    CHECK_OK(sdb_engine_tx_read(e, 2, 0, &t));
    CHECK_EQ_U64(t.hdr.bl_tx_id, 1);
    CHECK_EQ_MEM(t.hdr.prev_alh.b, 32, r.alh.b, 32);
    CHECK_EQ_U64(t.entries[0].value.len, 0);
    sdb_tx_deinit(&t);
    CHECK_RC(sdb_engine_tx_read(e, 3, 0, &t), SEALDB_RANGE);
    CHECK_RC(sdb_engine_tx_read(e, 0, 0, &t), SEALDB_RANGE);
    sdb_buf v; sdb_buf_init(&v);
    CHECK_OK(sdb_engine_read_value(e, 1, 2, &v));
    CHECK_EQ_MEM(v.ptr, v.len, "333", 3);
    sdb_buf_deinit(&v);
    sdb_engine_close(e);
}

/* Duplicate keys in one tx are refused in small and large txs (the check's table moves to the
 * heap past 256 keys); keys that share bytes or differ only in length are distinct. */
TEST(commit_distinct_keys) {
    sdb_engine *e = open_db(dbdir("db"));
    static sdb_kv many[1000];
    static char names[1000][12];
    for (size_t n = 2; n <= 1000; n = n * 3 + 1) {
        for (size_t i = 0; i < n; i++) {
            snprintf(names[i], sizeof names[i], "d%zu", i);
            many[i] = (sdb_kv){ .key = sdb_slice_str(names[i]), .value = sdb_slice_str("v") };
        }
        many[n - 1].key = sdb_slice_of(names[n - 2], strlen(names[n - 2]) + 1);   /* with its NUL */
        CHECK_OK(sdb_engine_commit_sync(e, many, n, NULL, 0, NULL, NULL));
        many[n - 1].key = many[(n - 1) / 2].key;
        CHECK_RC(sdb_engine_commit_sync(e, many, n, NULL, 0, NULL, NULL), SEALDB_EXISTS);
    }
    sdb_engine_close(e);
}

TEST(commit_validation) {
    sdb_engine *e = open_db(dbdir("db"));
    sdb_kv kv[2] = { { .key = sdb_slice_str("k"), .value = sdb_slice_str("v") }, { .key = sdb_slice_str("k"), .value = sdb_slice_str("w") } };
    CHECK_RC(sdb_engine_commit_sync(e, kv, 2, NULL, 0, NULL, NULL), SEALDB_EXISTS);
    CHECK_RC(sdb_engine_commit_sync(e, kv, 0, NULL, 0, NULL, NULL), SEALDB_INVALID);
    kv[0].key = sdb_slice_of("", 0);
    CHECK_RC(sdb_engine_commit_sync(e, kv, 1, NULL, 0, NULL, NULL), SEALDB_INVALID);
    static uint8_t big[1025];
    kv[0].key = sdb_slice_of(big, 1025);
    CHECK_RC(sdb_engine_commit_sync(e, kv, 1, NULL, 0, NULL, NULL), SEALDB_TOOLARGE);
    kv[0].key = sdb_slice_of(big, 1024);
    CHECK_OK(sdb_engine_commit_sync(e, kv, 1, NULL, 0, NULL, NULL));
    sdb_kv *many = calloc(1025, sizeof *many);
    char (*keys)[8] = calloc(1025, 8);
    for (int i = 0; i < 1025; i++) { snprintf(keys[i], 8, "%d", i); many[i].key = sdb_slice_str(keys[i]); }
    CHECK_RC(sdb_engine_commit_sync(e, many, 1025, NULL, 0, NULL, NULL), SEALDB_TOOLARGE);
    CHECK_OK(sdb_engine_commit_sync(e, many, 1024, NULL, 0, NULL, NULL));
    free(many); free(keys);
    CHECK_EQ_U64(sdb_engine_last_tx(e), 2);
    sdb_engine_close(e);
}

TEST(proofs_verify) {
    sdb_engine *e = open_db(dbdir("db"));
    char k[32], v[32];
    for (int i = 0; i < 40; i++) {
        sdb_kv kvs[3];
        char kb[3][16];
        for (int j = 0; j < 3; j++) {
            snprintf(kb[j], 16, "k%d.%d", i, j);
            kvs[j] = (sdb_kv){ .key = sdb_slice_str(kb[j]), .value = sdb_slice_str(kb[j]) };
        }
        CHECK_OK(sdb_engine_commit_sync(e, kvs, 1 + (size_t)(i % 3), NULL, 0, NULL, NULL));
    }
    (void)k; (void)v;
    uint64_t last; uint8_t alh[32];
    CHECK_OK(sdb_engine_state(e, &last, alh));
    CHECK_EQ_U64(last, 40);
    for (uint64_t s = 1; s <= 40; s += 7) {
        for (uint64_t t = s; t <= 40; t += 5) {
            sdb_dual_proof p;
            sdb_dual_proof_init(&p);
            CHECK_OK(sdb_engine_dual_proof(e, s, t, &p));
            uint8_t as[32], at[32];
            sdb_tx_header h;
            CHECK_OK(sdb_engine_tx_header(e, s, &h, as));
            CHECK_OK(sdb_engine_tx_header(e, t, &h, at));
            CHECK_OK(sdb_dual_proof_verify(&p, s, t, as, at));
            at[0] ^= 1;
            CHECK(sdb_dual_proof_verify(&p, s, t, as, at) != SEALDB_OK);
            sdb_dual_proof_deinit(&p);
            sdb_dual_proof_v2 p2;
            sdb_dual_proof_v2_init(&p2);
            CHECK_OK(sdb_engine_dual_proof_v2(e, s, t, &p2));
            at[0] ^= 1;
            CHECK_OK(sdb_dual_proof_v2_verify(&p2, s, t, as, at));
            sdb_dual_proof_v2_deinit(&p2);
        }
    }
    /* inclusion of each entry of tx 3 (3 entries) in its eH */
    sdb_tx_header h;
    CHECK_OK(sdb_engine_tx_header(e, 3, &h, NULL));
    sdb_tx t3; sdb_tx_init(&t3);
    CHECK_OK(sdb_engine_tx_read(e, 3, 0, &t3));
    for (uint32_t i = 0; i < 3; i++) {
        sdb_hashes terms; sdb_hashes_init(&terms);
        uint32_t w; uint8_t d[32];
        CHECK_OK(sdb_entry_digest(h.version, t3.entries[i].key, t3.entries[i].md_bytes, t3.entries[i].hvalue.b, d));
        CHECK_OK(sdb_engine_inclusion_proof(e, 3, i, i == 1 ? NULL : h.eh.b, &terms, &w));
        CHECK_EQ_U64(w, 3);
        CHECK_OK(sdb_htree_verify(&terms, i, w, d, h.eh.b));
        d[5] ^= 1;
        CHECK(sdb_htree_verify(&terms, i, w, d, h.eh.b) != SEALDB_OK);
        sdb_hashes_deinit(&terms);
    }
    sdb_tx_deinit(&t3);
    CHECK_RC(sdb_engine_dual_proof(e, 5, 41, &(sdb_dual_proof){0}), SEALDB_RANGE);
    sdb_engine_close(e);
}

typedef struct { sdb_engine *e; int base; int n; } wargs;
static void *writer(void *a) {
    wargs *w = a;
    for (int i = 0; i < w->n; i++) {
        char k[32];
        snprintf(k, sizeof k, "w%d-%d", w->base, i);
        sdb_kv kv = { .key = sdb_slice_str(k), .value = sdb_slice_str(k) };
        if (sdb_engine_commit_sync(w->e, &kv, 1, NULL, 0, NULL, NULL)) return (void *)1;
    }
    return NULL;
}

TEST(concurrent_writers_and_reopen) {
    const char *d = dbdir("db");
    sdb_engine *e = open_db(d);
    pthread_t th[8];
    wargs wa[8];
    for (int i = 0; i < 8; i++) { wa[i] = (wargs){ e, i, 200 }; pthread_create(&th[i], NULL, writer, &wa[i]); }
    for (int i = 0; i < 8; i++) { void *r; pthread_join(th[i], &r); CHECK(r == NULL); }
    uint64_t last; uint8_t alh[32];
    CHECK_OK(sdb_engine_state(e, &last, alh));
    CHECK_EQ_U64(last, 1600);
    sdb_engine_close(e);
    e = open_db(d);
    uint64_t l2; uint8_t a2[32];
    CHECK_OK(sdb_engine_state(e, &l2, a2));
    CHECK_EQ_U64(l2, 1600);
    CHECK_EQ_MEM(a2, 32, alh, 32);
    CHECK_EQ_U64(put(e, "x", "y"), 1601);
    sdb_engine_close(e);
    /* derived files deleted: rebuilt on open, same state */
    char p[1100];
    snprintf(p, sizeof p, "%s/txindex", d); CHECK(unlink(p) == 0);
    snprintf(p, sizeof p, "%s/ahtree", d); CHECK(unlink(p) == 0);
    e = open_db(d);
    CHECK_OK(sdb_engine_state(e, &l2, a2));
    CHECK_EQ_U64(l2, 1601);
    sdb_dual_proof dp; sdb_dual_proof_init(&dp);
    CHECK_OK(sdb_engine_dual_proof(e, 10, 1601, &dp));
    uint8_t as[32];
    sdb_tx_header h;
    CHECK_OK(sdb_engine_tx_header(e, 10, &h, as));
    CHECK_OK(sdb_dual_proof_verify(&dp, 10, 1601, as, a2));
    sdb_dual_proof_deinit(&dp);
    sdb_engine_close(e);
}

TEST(segments_rotate) {
    const char *d = dbdir("db");
    sdb_engine *e = open_db(d);   /* 1 MiB segments */
    static uint8_t val[100000];
    for (int i = 0; i < 40; i++) {
        char k[16]; snprintf(k, sizeof k, "big%d", i);
        val[0] = (uint8_t)i;
        sdb_kv kv = { .key = sdb_slice_str(k), .value = sdb_slice_of(val, sizeof val) };
        CHECK_OK(sdb_engine_commit_sync(e, &kv, 1, NULL, 0, NULL, NULL));
    }
    /* one tx larger than a segment */
    static uint8_t huge[3u << 20];
    sdb_kv kv = { .key = sdb_slice_str("huge"), .value = sdb_slice_of(huge, sizeof huge) };
    CHECK_OK(sdb_engine_commit_sync(e, &kv, 1, NULL, 0, NULL, NULL));
    CHECK_EQ_U64(put(e, "after", "x"), 42);
    sdb_engine_close(e);
    e = open_db(d);
    CHECK_EQ_U64(sdb_engine_last_tx(e), 42);
    sdb_tx t; sdb_tx_init(&t);
    for (uint64_t i = 1; i <= 42; i++) CHECK_OK(sdb_engine_tx_read(e, i, 1, &t));
    CHECK_OK(sdb_engine_tx_read(e, 41, 1, &t));
    CHECK_EQ_U64(t.entries[0].value.len, sizeof huge);
    sdb_tx_deinit(&t);
    CHECK_EQ_U64(put(e, "more", "x"), 43);
    sdb_engine_close(e);
}

/* Position of tx id's record in the only journal segment. */
static uint64_t rec_pos(const char *d, uint64_t id, uint64_t *len) {
    char p[1100];
    snprintf(p, sizeof p, "%s/txindex", d);
    FILE *f = fopen(p, "rb");
    CHECK(f);
    uint8_t b[64];
    fseek(f, (long)((id - 1) * 64), SEEK_SET);
    CHECK(fread(b, 1, 64, f) == 64);
    fclose(f);
    sdb_txi_rec r;
    CHECK_OK(sdb_txi_decode(b, &r));
    if (len) *len = SDB_JREC_FRAME + r.meta_len + r.vals_len;
    return r.pos;
}

static void patch(const char *d, uint64_t off, const void *p, size_t n) {
    char path[1100];
    snprintf(path, sizeof path, "%s/journal/%020d.seg", d, 0);
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0);
    CHECK(pwrite(fd, p, n, (off_t)off) == (ssize_t)n);
    close(fd);
}
static void peek(const char *d, uint64_t off, void *p, size_t n) {
    char path[1100];
    snprintf(path, sizeof path, "%s/journal/%020d.seg", d, 0);
    int fd = open(path, O_RDONLY);
    CHECK(fd >= 0);
    CHECK(pread(fd, p, n, (off_t)off) == (ssize_t)n);
    close(fd);
}

TEST(torn_tail_is_cut) {
    const char *d = dbdir("db");
    sdb_engine *e = open_db(d);
    for (int i = 0; i < 5; i++) put(e, "k", "value-value");
    sdb_engine_close(e);
    uint64_t len, pos = rec_pos(d, 5, &len);
    /* simulate an interrupted write of a 6th record: a frame and a few bytes, then zeros */
    uint8_t rec[2048];
    peek(d, pos, rec, len);
    uint8_t fake[600];
    memset(fake, 0, sizeof fake);
    memcpy(fake, rec, len < 100 ? len : 100);
    sdb_put_u64be(fake + 16, 5000);   /* pretend a large value part follows */
    patch(d, pos + len, fake, sizeof fake);
    e = open_db(d);
    CHECK_EQ_U64(sdb_engine_last_tx(e), 5);
    CHECK_EQ_U64(put(e, "k", "after"), 6);
    sdb_engine_close(e);
    e = open_db(d);
    CHECK_EQ_U64(sdb_engine_last_tx(e), 6);
    sdb_engine_close(e);
}

TEST(damaged_committed_record_refuses_open) {
    const char *d = dbdir("db");
    sdb_engine *e = open_db(d);
    for (int i = 0; i < 10; i++) put(e, "key", "some value here");
    sdb_engine_close(e);
    /* remove derived files so recovery must re-read everything */
    char p[1100];
    uint64_t len, pos = rec_pos(d, 4, &len);
    snprintf(p, sizeof p, "%s/txindex", d); CHECK(unlink(p) == 0);
    uint8_t b;
    peek(d, pos + len - 3, &b, 1);
    b ^= 0x40;
    patch(d, pos + len - 3, &b, 1);
    sdb_engine *e2 = NULL;
    sdb_engine_opts o; sdb_engine_opts_default(&o); o.segment_size = 1u << 20;
    CHECK_RC(sdb_engine_open(d, &o, &e2), SEALDB_CORRUPT);
    CHECK(strstr(sdb_engine_last_open_error(), "tx 4") != NULL);
    /* nothing was cut: restoring the byte makes it open again with all 10 */
    b ^= 0x40;
    patch(d, pos + len - 3, &b, 1);
    e = open_db(d);
    CHECK_EQ_U64(sdb_engine_last_tx(e), 10);
    sdb_engine_close(e);
}

TEST(damaged_last_record_refuses_open) {
    const char *d = dbdir("db");
    sdb_engine *e = open_db(d);
    for (int i = 0; i < 3; i++) put(e, "key", "some value here");
    sdb_engine_close(e);
    char p[1100];
    uint64_t len, pos = rec_pos(d, 3, &len);
    snprintf(p, sizeof p, "%s/txindex", d); CHECK(unlink(p) == 0);
    uint8_t b;
    peek(d, pos + 30, &b, 1);
    b ^= 1;
    patch(d, pos + 30, &b, 1);
    sdb_engine *e2 = NULL;
    CHECK_RC(sdb_engine_open(d, NULL, &e2), SEALDB_CORRUPT);
    CHECK(strstr(sdb_engine_last_open_error(), "tx 3") != NULL);
}

/* A crash while a segment was being created leaves it empty (or short) with nothing in it: the
 * next write replaces it instead of failing on the existing name. */
TEST(empty_segment_left_by_a_crash_is_replaced) {
    char *d = dbdir("db");
    char p[1400];
    for (int round = 0; round < 2; round++) {
        sdb_engine *e = open_db(d);
        uint64_t last = sdb_engine_last_tx(e);
        /* round 0: the very first segment; round 1: the next one, at the journal end */
        sdb_tx_header h;
        sdb_txi_rec r;
        uint64_t end = 0;
        if (last) {
            CHECK_OK(sdb_engine_tx_header(e, last, &h, NULL));
            char tp[1200];
            snprintf(tp, sizeof tp, "%s/txindex", d);
            int fd = open(tp, O_RDONLY);
            uint8_t b[64];
            CHECK(pread(fd, b, 64, (off_t)((last - 1) * 64)) == 64);
            close(fd);
            CHECK_OK(sdb_txi_decode(b, &r));
            end = r.pos + 24 + r.meta_len + r.vals_len;
        }
        sdb_engine_close(e);
        if (round == 0) { char cmd[1300]; snprintf(cmd, sizeof cmd, "rm -rf '%s'/*", d); CHECK(system(cmd) == 0); }
        char jd[1100];
        snprintf(jd, sizeof jd, "%s/journal", d);
        mkdir(d, 0755);
        mkdir(jd, 0755);
        snprintf(p, sizeof p, "%s/%020llu.seg", jd, (unsigned long long)end);
        int fd = open(p, O_RDWR | O_CREAT, 0644);
        CHECK(fd >= 0);
        if (round == 1) CHECK(ftruncate(fd, 4096) == 0);   /* partly zero-filled */
        close(fd);
        e = open_db(d);
        CHECK_EQ_U64(sdb_engine_last_tx(e), last);
        char v[64];
        memset(v, 'x', sizeof v - 1);
        v[sizeof v - 1] = 0;
        for (int i = 0; i < 3; i++) put(e, "k", v);
        CHECK_EQ_U64(sdb_engine_last_tx(e), last + 3);
        sdb_engine_close(e);
        e = open_db(d);
        CHECK_EQ_U64(sdb_engine_last_tx(e), last + 3);
        sdb_engine_close(e);
        CHECK_OK(sdb_verify_dir(d, NULL));
    }
}

TEST(lock_busy) {
    const char *d = dbdir("db");
    sdb_engine *e = open_db(d);
    sdb_engine *e2 = NULL;
    CHECK_RC(sdb_engine_open(d, NULL, &e2), SEALDB_BUSY);
    sdb_engine_close(e);
}

/* ---- read-your-writes: completions when the key index covers a tx ---- */
typedef struct iw_probe {
    sdb_index_wait w;
    sdb_engine *e;
    _Atomic int calls;
    int rc;
    uint64_t indexed_at_call;
} iw_probe;

static void iw_cb(void *arg, int rc) {
    iw_probe *p = arg;
    p->rc = rc;
    p->indexed_at_call = sdb_engine_indexed_upto(p->e);
    atomic_fetch_add(&p->calls, 1);
}

TEST(when_indexed_completes_once_the_index_covers_the_tx) {
    sdb_engine *e = open_db(dbdir("db"));
    enum { N = 300 };
    static iw_probe p[N];
    char k[32];
    for (int i = 0; i < N; i++) {
        snprintf(k, sizeof k, "k%d", i);
        uint64_t id = put(e, k, "v");
        p[i] = (iw_probe){ .w = { .tx_id = id, .cb = iw_cb, .arg = &p[i] }, .e = e, .rc = -1 };
        sdb_engine_when_indexed(e, &p[i].w);   /* mostly still pending: the indexer trails the commits */
    }
    /* a waiter for a tx not committed yet is answered at close */
    iw_probe later = { .w = { .tx_id = N + 1, .cb = iw_cb, .arg = &later }, .e = e, .rc = -1 };
    sdb_engine_when_indexed(e, &later.w);
    CHECK_OK(sdb_engine_wait_indexed(e, N, -1));
    /* the indexer runs the callbacks just after it publishes indexed_upto: give them up to 5 s */
    for (int tries = 0, done = 0; tries < 5000 && done < N; tries++) {
        done = 0;
        for (int i = 0; i < N; i++) done += atomic_load(&p[i].calls) != 0;
        if (done < N) usleep(1000);
    }
    for (int i = 0; i < N; i++) {
        CHECK_EQ_I64(atomic_load(&p[i].calls), 1);
        CHECK_EQ_I64(p[i].rc, SEALDB_OK);
        CHECK(p[i].indexed_at_call >= p[i].w.tx_id);
    }
    CHECK_EQ_I64(atomic_load(&later.calls), 0);
    /* already covered: answered at once, on this thread */
    iw_probe now = { .w = { .tx_id = 5, .cb = iw_cb, .arg = &now }, .e = e, .rc = -1 };
    sdb_engine_when_indexed(e, &now.w);
    CHECK_EQ_I64(atomic_load(&now.calls), 1);
    CHECK_EQ_I64(now.rc, SEALDB_OK);
    sdb_engine_close(e);
    CHECK_EQ_I64(atomic_load(&later.calls), 1);
    CHECK_EQ_I64(later.rc, SEALDB_CLOSED);
}

/* Indexed at publish: when a commit is answered, the key index already covers it (a Get that does
 * not wait finds it); deleting the index rebuilds it; the memtable size is range checked. */
TEST(indexed_when_answered_and_rebuilt) {
    sdb_engine *e = open_db(dbdir("db"));
    char k[32];
    for (int i = 0; i < 300; i++) {
        snprintf(k, sizeof k, "k%d", i);
        uint64_t id = put(e, k, "v");
        CHECK(sdb_engine_indexed_upto(e) >= id);
        sdb_get_opts o = { .no_wait = 1 };
        sdb_kv_version v;
        sdb_kv_version_init(&v);
        CHECK_OK(sdb_engine_get(e, sdb_slice_str(k), &o, &v));
        CHECK_EQ_U64(v.tx_id, id);
        sdb_kv_version_deinit(&v);
    }
    sdb_engine_close(e);
    char ix[1100];
    snprintf(ix, sizeof ix, "%s/index", dbdir("db"));
    CHECK_OK(sdb_index_destroy(ix));
    e = open_db(dbdir("db"));
    CHECK_OK(sdb_engine_wait_indexed(e, 300, -1));
    sdb_kv_version v;
    sdb_kv_version_init(&v);
    CHECK_OK(sdb_engine_get(e, sdb_slice_str("k123"), NULL, &v));
    CHECK_EQ_U64(v.tx_id, 124);
    sdb_kv_version_deinit(&v);
    sdb_engine_close(e);
    sdb_engine_opts o;
    sdb_engine_opts_default(&o);
    o.index_memtable_bytes = 1000;   /* below 1 MiB */
    CHECK_RC(sdb_engine_open(dbdir("db"), &o, &e), SEALDB_INVALID);
}
