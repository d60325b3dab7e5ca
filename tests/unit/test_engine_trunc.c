/* test_engine_trunc.c - value truncation (engine/truncate.c): values below the point are gone from
 * reads and from the disk, while headers, Alh, inclusion and dual proofs, the key index and
 * `sealdb verify` stay valid, across reopen and across a crash between the point file and the
 * discarding of the values. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include "testlib.h"
#include "engine/engine_int.h"
#include "storage/crc32c.h"
#include "sealdb.h"

#define N 20
#define VLEN 65536u

static char dir_[1024];

static void value_of(int i, uint8_t *v) {
    for (unsigned k = 0; k < VLEN; k++) v[k] = (uint8_t)(i * 31 + k * 7 + (k >> 9));
}

static sdb_engine *open_db(void) {
    sdb_engine_opts o;
    sdb_engine_opts_default(&o);
    o.sync = 0;
    sdb_engine *e = NULL;
    CHECK_OK(sdb_engine_open(dir_, &o, &e));
    return e;
}

/* N txs: "key<i>" = a 64 KiB value, plus "empty<i>" = "" in the same tx. */
static sdb_engine *mkdb(void) {
    snprintf(dir_, sizeof dir_, "%s/db", sdb_test_tmpdir());
    sdb_engine *e = open_db();
    static uint8_t v[VLEN];
    for (int i = 1; i <= N; i++) {
        char k[32], k2[32];
        snprintf(k, sizeof k, "key%d", i);
        snprintf(k2, sizeof k2, "empty%d", i);
        value_of(i, v);
        sdb_kv kv[2] = { { .key = sdb_slice_str(k), .value = sdb_slice_of(v, VLEN) },
                         { .key = sdb_slice_str(k2), .value = sdb_slice_of(v, 0) } };
        CHECK_OK(sdb_engine_commit_sync(e, kv, 2, NULL, 0, NULL, NULL));
    }
    CHECK_OK(sdb_engine_wait_indexed(e, N, -1));
    return e;
}

/* Disk blocks (512-byte units) used by the journal segments. */
static uint64_t journal_blocks(void) {
    char p[1200];
    uint64_t sum = 0;
    snprintf(p, sizeof p, "%s/journal", dir_);
    DIR *d = opendir(p);
    CHECK(d != NULL);
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strstr(de->d_name, ".seg")) continue;
        char f[1500];
        struct stat st;
        snprintf(f, sizeof f, "%s/%s", p, de->d_name);
        CHECK(stat(f, &st) == 0);
        sum += (uint64_t)st.st_blocks;
    }
    closedir(d);
    return sum;
}

static int get_key(sdb_engine *e, int i, int no_value, sdb_kv_version *v) {
    char k[32];
    snprintf(k, sizeof k, "key%d", i);
    sdb_get_opts o = { .no_value = no_value };
    sdb_kv_version_deinit(v);
    sdb_kv_version_init(v);
    return sdb_engine_get(e, sdb_slice_str(k), &o, v);
}

/* Checks tx id's entry 0 inclusion proof against its header's eH (the stored value hash is used:
 * no value byte is needed for a proof). */
static void check_inclusion(sdb_engine *e, uint64_t id, sdb_hashes *terms_out) {
    sdb_tx t;
    sdb_tx_init(&t);
    CHECK_OK(sdb_engine_tx_read(e, id, 0, &t));
    sdb_hashes terms;
    sdb_hashes_init(&terms);
    uint32_t width = 0;
    CHECK_OK(sdb_engine_inclusion_proof(e, id, 0, t.hdr.eh.b, &terms, &width));
    uint8_t d[SDB_HASH_LEN];
    CHECK_OK(sdb_entry_digest(t.hdr.version, t.entries[0].key, t.entries[0].md_bytes, t.entries[0].hvalue.b, d));
    CHECK_OK(sdb_htree_verify(&terms, 0, width, d, t.hdr.eh.b));
    if (terms_out) {
        for (size_t i = 0; i < terms.n; i++) CHECK_OK(sdb_hashes_push(terms_out, terms.h[i].b));
    }
    sdb_hashes_deinit(&terms);
    sdb_tx_deinit(&t);
}

TEST(truncate_discards_values_keeps_proofs) {
    sdb_engine *e = mkdb();
    uint8_t alh[N + 1][SDB_HASH_LEN];
    for (uint64_t id = 1; id <= N; id++) CHECK_OK(sdb_engine_tx_header(e, id, &(sdb_tx_header){ 0 }, alh[id]));
    sdb_hashes before;
    sdb_hashes_init(&before);
    check_inclusion(e, 5, &before);
    sdb_dual_proof_v2 dp0, dp1;
    sdb_dual_proof_v2_init(&dp0);
    sdb_dual_proof_v2_init(&dp1);
    CHECK_OK(sdb_engine_dual_proof_v2(e, 3, N, &dp0));
    uint64_t blocks0 = journal_blocks();
    sdb_kv_version v;
    sdb_kv_version_init(&v);
    CHECK_OK(get_key(e, 5, 0, &v));
    uint8_t hv5[SDB_HASH_LEN];
    memcpy(hv5, v.hvalue.b, SDB_HASH_LEN);

    CHECK_EQ_U64(sdb_engine_truncated_below(e), 0);
    CHECK_RC(sdb_engine_truncate(e, 0), SEALDB_RANGE);
    CHECK_RC(sdb_engine_truncate(e, N + 1), SEALDB_RANGE);
    CHECK_OK(sdb_engine_truncate(e, 11));
    CHECK_EQ_U64(sdb_engine_truncated_below(e), 11);
    CHECK_OK(sdb_engine_truncate(e, 4));          /* lower: nothing to do */
    CHECK_EQ_U64(sdb_engine_truncated_below(e), 11);

    /* values below 11 are gone; at and above 11 intact; empty values never lost */
    CHECK_RC(get_key(e, 5, 0, &v), SEALDB_TRUNCATED);
    CHECK_RC(get_key(e, 10, 0, &v), SEALDB_TRUNCATED);
    CHECK_OK(get_key(e, 5, 1, &v));               /* without the value: the stored hash */
    CHECK_EQ_MEM(v.hvalue.b, SDB_HASH_LEN, hv5, SDB_HASH_LEN);
    CHECK_EQ_U64(v.tx_id, 5);
    static uint8_t want[VLEN];
    for (int i = 11; i <= N; i++) {
        CHECK_OK(get_key(e, i, 0, &v));
        value_of(i, want);
        CHECK_EQ_MEM(v.value.ptr, v.value.len, want, VLEN);
    }
    sdb_buf b;
    sdb_buf_init(&b);
    CHECK_RC(sdb_engine_read_value(e, 7, 0, &b), SEALDB_TRUNCATED);
    CHECK_OK(sdb_engine_read_value(e, 7, 1, &b));  /* the empty value of tx 7 */
    CHECK_EQ_U64(b.len, 0);
    CHECK_OK(sdb_engine_read_value(e, 11, 0, &b));
    sdb_buf_deinit(&b);
    sdb_tx t;
    sdb_tx_init(&t);
    CHECK_RC(sdb_engine_tx_read(e, 7, 1, &t), SEALDB_TRUNCATED);
    CHECK_OK(sdb_engine_tx_read(e, 7, 0, &t));    /* header and entries stay */
    CHECK_OK(sdb_engine_tx_read(e, 12, 1, &t));
    sdb_tx_deinit(&t);
    sdb_kv_version at;
    sdb_kv_version_init(&at);
    sdb_get_opts ao = { .at_tx = 6 };
    CHECK_RC(sdb_engine_get(e, sdb_slice_str("key6"), &ao, &at), SEALDB_TRUNCATED);
    ao.at_tx = 6;
    CHECK_OK(sdb_engine_get(e, sdb_slice_str("empty6"), &ao, &at));
    sdb_kv_version_deinit(&at);

    /* headers, Alh, inclusion and dual proofs unchanged */
    for (uint64_t id = 1; id <= N; id++) {
        uint8_t a[SDB_HASH_LEN];
        CHECK_OK(sdb_engine_tx_header(e, id, &(sdb_tx_header){ 0 }, a));
        CHECK_EQ_MEM(a, SDB_HASH_LEN, alh[id], SDB_HASH_LEN);
    }
    sdb_hashes after;
    sdb_hashes_init(&after);
    check_inclusion(e, 5, &after);
    CHECK_EQ_MEM(after.h, after.n * sizeof *after.h, before.h, before.n * sizeof *before.h);
    CHECK_OK(sdb_engine_dual_proof_v2(e, 3, N, &dp1));
    CHECK_EQ_MEM(dp1.consistency.h, dp1.consistency.n * SDB_HASH_LEN, dp0.consistency.h, dp0.consistency.n * SDB_HASH_LEN);
    CHECK_EQ_MEM(dp1.inclusion.h, dp1.inclusion.n * SDB_HASH_LEN, dp0.inclusion.h, dp0.inclusion.n * SDB_HASH_LEN);

    /* the disk gave back at least 9 of the 10 discarded 64 KiB values */
    uint64_t blocks1 = journal_blocks();
    CHECK(blocks0 - blocks1 >= 9 * VLEN / 512);

    /* new commits after truncation keep their values */
    sdb_kv kv = { .key = sdb_slice_str("late"), .value = sdb_slice_str("fresh") };
    CHECK_OK(sdb_engine_commit_sync(e, &kv, 1, NULL, 0, NULL, NULL));
    sdb_engine_close(e);

    /* verify passes (value checks skipped below the point only), and reopen keeps everything */
    CHECK_OK(sdb_verify_dir(dir_, NULL));
    e = open_db();
    CHECK_EQ_U64(sdb_engine_truncated_below(e), 11);
    sdb_scrub_stats ss;
    sdb_engine_scrub_stats(e, &ss);
    CHECK_EQ_U64(ss.failures, 0);                 /* the open-time tail check saw no damage */
    CHECK_RC(get_key(e, 3, 0, &v), SEALDB_TRUNCATED);
    CHECK_OK(get_key(e, 15, 0, &v));
    check_inclusion(e, 3, NULL);
    sdb_kv_version_deinit(&v);
    sdb_engine_close(e);
    sdb_hashes_deinit(&before);
    sdb_hashes_deinit(&after);
    sdb_dual_proof_v2_deinit(&dp0);
    sdb_dual_proof_v2_deinit(&dp1);
}

TEST(truncate_history_scan_stop_at_discarded_values) {
    sdb_engine *e = mkdb();
    static uint8_t v2[VLEN];
    value_of(99, v2);
    sdb_kv kv = { .key = sdb_slice_str("key2"), .value = sdb_slice_of(v2, VLEN) };
    CHECK_OK(sdb_engine_commit_sync(e, &kv, 1, NULL, 0, NULL, NULL));   /* tx N+1 */
    CHECK_OK(sdb_engine_wait_indexed(e, N + 1, -1));
    CHECK_OK(sdb_engine_truncate(e, N));
    sdb_kv_list l;
    sdb_kv_list_init(&l);
    uint64_t total = 0;
    /* history of key2 reads its version at tx 2 first: gone */
    CHECK_RC(sdb_engine_history(e, sdb_slice_str("key2"), 0, 0, 0, 0, &l, &total), SEALDB_TRUNCATED);
    sdb_kv_list_deinit(&l);
    sdb_kv_list_init(&l);
    /* newest first, limit 1: only the live version */
    CHECK_OK(sdb_engine_history(e, sdb_slice_str("key2"), 0, 1, 1, 0, &l, &total));
    CHECK_EQ_U64(l.n, 1);
    CHECK_EQ_U64(l.v[0].tx_id, N + 1);
    sdb_kv_list_deinit(&l);
    sdb_kv_list_init(&l);
    sdb_scan_opts so = { .prefix = sdb_slice_str("key") };
    CHECK_RC(sdb_engine_scan(e, &so, &l), SEALDB_TRUNCATED);
    sdb_kv_list_deinit(&l);
    sdb_kv_list_init(&l);
    so.no_value = 1;                             /* without values: every key is listed */
    CHECK_OK(sdb_engine_scan(e, &so, &l));
    CHECK_EQ_U64(l.n, N);
    sdb_kv_list_deinit(&l);
    sdb_engine_close(e);
}

static void write_point(uint64_t point, uint64_t done) {
    uint8_t b[28];
    memcpy(b, "SDBTRUNC", 8);
    sdb_put_u64be(b + 8, point);
    sdb_put_u64be(b + 16, done);
    sdb_put_u32be(b + 24, sdb_crc32c(0, b, 24));
    char p[1100];
    snprintf(p, sizeof p, "%s/truncated", dir_);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    CHECK(write(fd, b, sizeof b) == (ssize_t)sizeof b);
    close(fd);
}

/* A crash after the point file became durable and before any value was discarded: the next open
 * discards them (and records that it did). */
TEST(truncate_crash_between_point_file_and_discard) {
    sdb_engine *e = mkdb();
    sdb_engine_close(e);
    uint64_t blocks0 = journal_blocks();
    write_point(9, 0);
    e = open_db();
    CHECK_EQ_U64(sdb_engine_truncated_below(e), 9);
    sdb_kv_version v;
    sdb_kv_version_init(&v);
    CHECK_RC(get_key(e, 8, 0, &v), SEALDB_TRUNCATED);
    CHECK_OK(get_key(e, 9, 0, &v));
    sdb_kv_version_deinit(&v);
    sdb_engine_close(e);
    CHECK(blocks0 - journal_blocks() >= 7 * VLEN / 512);
    uint64_t p = 0, d = 0;
    CHECK_OK(sdb_trunc_load(dir_, &p, &d));
    CHECK_EQ_U64(p, 9);
    CHECK_EQ_U64(d, 9);
    CHECK_OK(sdb_verify_dir(dir_, NULL));
    /* a crash after the discard and before the final file: redone, harmlessly */
    write_point(9, 2);
    e = open_db();
    CHECK_EQ_U64(sdb_engine_truncated_below(e), 9);
    sdb_engine_close(e);
    CHECK_OK(sdb_verify_dir(dir_, NULL));
}

/* A point past the last tx (its txs were never durable, sync off) is brought back to the last tx,
 * so a new tx is never born truncated; a damaged point file refuses the open. */
TEST(truncate_point_file_clamped_or_refused) {
    sdb_engine *e = mkdb();
    sdb_engine_close(e);
    write_point(N + 50, N + 50);
    e = open_db();
    CHECK_EQ_U64(sdb_engine_truncated_below(e), N);
    sdb_kv kv = { .key = sdb_slice_str("new"), .value = sdb_slice_str("value") };
    CHECK_OK(sdb_engine_commit_sync(e, &kv, 1, NULL, 0, NULL, NULL));
    sdb_buf b;
    sdb_buf_init(&b);
    CHECK_OK(sdb_engine_read_value(e, N + 1, 0, &b));
    CHECK_EQ_MEM(b.ptr, b.len, "value", 5);
    sdb_buf_deinit(&b);
    sdb_engine_close(e);
    CHECK_OK(sdb_verify_dir(dir_, NULL));
    char p[1100];
    snprintf(p, sizeof p, "%s/truncated", dir_);
    int fd = open(p, O_RDWR);
    CHECK(fd >= 0);
    CHECK(pwrite(fd, "X", 1, 12) == 1);
    close(fd);
    e = NULL;
    CHECK_RC(sdb_engine_open(dir_, NULL, &e), SEALDB_CORRUPT);
    CHECK(strstr(sdb_engine_last_open_error(), "truncation point") != NULL);
    CHECK(sdb_verify_dir(dir_, NULL) != SEALDB_OK);
}

TEST(truncate_last_tx_until) {
    sdb_engine *e = mkdb();
    sdb_tx_header h1, hn;
    CHECK_OK(sdb_engine_tx_header(e, 1, &h1, NULL));
    CHECK_OK(sdb_engine_tx_header(e, N, &hn, NULL));
    uint64_t id = 0;
    CHECK_RC(sdb_engine_last_tx_until(e, h1.ts - 1, &id), SEALDB_NOTFOUND);
    CHECK_OK(sdb_engine_last_tx_until(e, hn.ts + 3600, &id));
    CHECK_EQ_U64(id, N);
    CHECK_OK(sdb_engine_last_tx_until(e, h1.ts, &id));
    sdb_tx_header hi;
    CHECK_OK(sdb_engine_tx_header(e, id, &hi, NULL));
    CHECK_EQ_I64(hi.ts, h1.ts);
    if (id < N) {
        CHECK_OK(sdb_engine_tx_header(e, id + 1, &hi, NULL));
        CHECK(hi.ts > h1.ts);
    }
    sdb_engine_close(e);
}

/* The point file's decoder refuses every malformed form (fuzz/fuzz_trunc_point.c explores the rest). */
TEST(truncate_point_file_decode) {
    uint8_t b[29];
    memcpy(b, "SDBTRUNC", 8);
    sdb_put_u64be(b + 8, 11);
    sdb_put_u64be(b + 16, 5);
    sdb_put_u32be(b + 24, sdb_crc32c(0, b, 24));
    uint64_t p = 0, d = 0;
    CHECK_OK(sdb_trunc_decode(b, 28, &p, &d));
    CHECK_EQ_U64(p, 11);
    CHECK_EQ_U64(d, 5);
    /* the seed of the fuzz corpus is this file */
    char path[1200];
    snprintf(path, sizeof path, "%s/../../fuzz/corpus/fuzz_trunc_point/valid", sdb_test_vectors_dir());
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    uint8_t c[28];
    CHECK(fread(c, 1, sizeof c, f) == sizeof c);
    fclose(f);
    CHECK_EQ_MEM(c, sizeof c, b, 28);
    CHECK_RC(sdb_trunc_decode(b, 27, &p, &d), SEALDB_CORRUPT);
    CHECK_RC(sdb_trunc_decode(b, 29, &p, &d), SEALDB_CORRUPT);
    b[9] ^= 1;                                   /* crc no longer matches */
    CHECK_RC(sdb_trunc_decode(b, 28, &p, &d), SEALDB_CORRUPT);
    b[9] ^= 1;
    sdb_put_u64be(b + 16, 12);                   /* done past point */
    sdb_put_u32be(b + 24, sdb_crc32c(0, b, 24));
    CHECK_RC(sdb_trunc_decode(b, 28, &p, &d), SEALDB_CORRUPT);
    memcpy(b, "SDBTRUNX", 8);
    sdb_put_u64be(b + 16, 5);
    sdb_put_u32be(b + 24, sdb_crc32c(0, b, 24));
    CHECK_RC(sdb_trunc_decode(b, 28, &p, &d), SEALDB_CORRUPT);
}

/* The embedded API (sealdb.h): sealdb_truncate. */
TEST(truncate_embedded_api) {
    snprintf(dir_, sizeof dir_, "%s/emb", sdb_test_tmpdir());
    sealdb *db = NULL;
    CHECK_OK(sealdb_create(&db));
    CHECK_OK(sealdb_open(db, dir_, SEALDB_OPEN_CREATE));
    uint64_t tx = 0;
    CHECK_OK(sealdb_set(db, (sealdb_bytes){ "a", 1 }, (sealdb_bytes){ "first", 5 }, &tx));
    CHECK_OK(sealdb_set(db, (sealdb_bytes){ "b", 1 }, (sealdb_bytes){ "second", 6 }, &tx));
    CHECK_RC(sealdb_truncate(db, 3), SEALDB_RANGE);
    CHECK_OK(sealdb_truncate(db, 2));
    sealdb_item *it = NULL;
    CHECK_RC(sealdb_get(db, (sealdb_bytes){ "a", 1 }, &it), SEALDB_TRUNCATED);
    CHECK_OK(sealdb_get(db, (sealdb_bytes){ "b", 1 }, &it));
    sealdb_bytes v = sealdb_item_value(it);
    CHECK_EQ_MEM(v.ptr, v.len, "second", 6);
    sealdb_item_free(it);
    CHECK_OK(sealdb_close(db));
    CHECK_OK(sealdb_verify_dir(dir_, 0));
}
