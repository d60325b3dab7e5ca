/* test_engine_scrub.c - the integrity checks of an open engine: the open-time re-check of the
 * chain's tail and the background scrubber find a changed journal byte (plain reads of that tx
 * then answer SEALDB_DAMAGED naming it), and the scrubber rewrites a derived tx-index record that
 * differs from the journal instead of reporting damage. */
#include <fcntl.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include "testlib.h"
#include "engine/engine.h"
#include "storage/journal.h"
#include "storage/crc32c.h"

static char dir_[1024];

/* n single-entry txs "key<i>" = "value number <i>" (sync off: only the bytes matter here). */
static const char *mkdb(int n) {
    snprintf(dir_, sizeof dir_, "%s/db", sdb_test_tmpdir());
    sdb_engine_opts o;
    sdb_engine_opts_default(&o);
    o.sync = 0;
    sdb_engine *e = NULL;
    CHECK_OK(sdb_engine_open(dir_, &o, &e));
    for (int i = 1; i <= n; i++) {
        char k[32], v[48];
        snprintf(k, sizeof k, "key%d", i);
        snprintf(v, sizeof v, "value number %d", i);
        sdb_kv kv = { .key = sdb_slice_str(k), .value = sdb_slice_str(v) };
        CHECK_OK(sdb_engine_commit_sync(e, &kv, 1, NULL, 0, NULL, NULL));
    }
    sdb_engine_close(e);
    return dir_;
}

static void read_txi(const char *d, uint64_t id, uint8_t b[64]) {
    char p[1100];
    snprintf(p, sizeof p, "%s/txindex", d);
    int fd = open(p, O_RDONLY);
    CHECK(fd >= 0);
    CHECK(pread(fd, b, 64, (off_t)((id - 1) * 64)) == 64);
    close(fd);
}

static void flip(const char *path, uint64_t off) {
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0);
    uint8_t b;
    CHECK(pread(fd, &b, 1, (off_t)off) == 1);
    b ^= 0x20;
    CHECK(pwrite(fd, &b, 1, (off_t)off) == 1);
    close(fd);
}

/* One byte of tx id's value, with both record CRCs rewritten so only the hashes can tell. */
static void tamper_value(const char *d, uint64_t id) {
    uint8_t b[64];
    sdb_txi_rec r;
    read_txi(d, id, b);
    CHECK_OK(sdb_txi_decode(b, &r));
    char p[1100];
    snprintf(p, sizeof p, "%s/journal/%020d.seg", d, 0);
    flip(p, r.pos + 24 + r.meta_len + 2);
    int fd = open(p, O_RDWR);
    CHECK(fd >= 0);
    size_t len = 24 + r.meta_len + r.vals_len;
    uint8_t *rec = malloc(len);
    CHECK(pread(fd, rec, len, (off_t)r.pos) == (ssize_t)len);
    sdb_put_u32be(rec + 12, sdb_crc32c(0, rec + 24 + r.meta_len, r.vals_len));
    sdb_put_u32be(rec + 4, sdb_crc32c(0, rec + 8, 16 + r.meta_len));
    CHECK(pwrite(fd, rec, 24, (off_t)r.pos) == 24);
    free(rec);
    close(fd);
}

static int get(sdb_engine *e, const char *key, sdb_kv_version *v) {
    sdb_kv_version_deinit(v);
    sdb_kv_version_init(v);
    return sdb_engine_get(e, sdb_slice_str(key), NULL, v);
}

static void wait_stats(sdb_engine *e, int (*done)(const sdb_scrub_stats *), sdb_scrub_stats *st) {
    for (int i = 0; i < 600; i++) {
        sdb_engine_scrub_stats(e, st);
        if (done(st)) return;
        struct timespec ts = { 0, 50000000 };
        nanosleep(&ts, NULL);
    }
    TEST_FAIL_("the scrub did not get there in 30 s (passes %llu, failures %llu)",
               (unsigned long long)st->passes, (unsigned long long)st->failures);
}
static int found_damage(const sdb_scrub_stats *st) { return st->failures > 0; }
static int one_pass(const sdb_scrub_stats *st) { return st->passes > 0; }

TEST(open_check_finds_a_changed_value_in_the_tail) {
    const char *d = mkdb(20);
    tamper_value(d, 7);
    sdb_engine *e = NULL;
    CHECK_OK(sdb_engine_open(d, NULL, &e));
    sdb_kv_version v;
    sdb_kv_version_init(&v);
    CHECK_RC(get(e, "key7", &v), SEALDB_DAMAGED);
    CHECK_EQ_U64(sdb_engine_damaged_tx(), 7);
    CHECK_OK(get(e, "key8", &v));
    CHECK_EQ_MEM(v.value.ptr, v.value.len, "value number 8", 14);
    sdb_buf b;
    sdb_buf_init(&b);
    CHECK_RC(sdb_engine_read_value(e, 7, 0, &b), SEALDB_DAMAGED);
    sdb_buf_deinit(&b);
    sdb_scrub_stats st;
    sdb_engine_scrub_stats(e, &st);
    CHECK_EQ_U64(st.failures, 1);
    CHECK_EQ_U64(st.first_damaged, 7);
    CHECK_EQ_U64(st.last_damaged, 7);
    CHECK_EQ_U64(st.passes, 0);
    sdb_kv_version_deinit(&v);
    sdb_engine_close(e);
}

TEST(scrubber_finds_a_changed_value_before_the_tail) {
    const char *d = mkdb((int)SDB_SCRUB_TAIL_TXS + 50);
    tamper_value(d, 3);
    sdb_scrub_configure(1000, 64u << 20, NULL);
    sdb_engine *e = NULL;
    CHECK_OK(sdb_engine_open(d, NULL, &e));
    sdb_kv_version v;
    sdb_kv_version_init(&v);
    /* too old for the open check: served as stored until the scrub has been there */
    CHECK_OK(get(e, "key3", &v));
    CHECK_OK(sdb_scrubber_start());
    sdb_scrub_stats st;
    wait_stats(e, found_damage, &st);
    CHECK_EQ_U64(st.first_damaged, 3);
    CHECK_RC(get(e, "key3", &v), SEALDB_DAMAGED);
    CHECK_EQ_U64(sdb_engine_damaged_tx(), 3);
    CHECK_OK(get(e, "key4", &v));
    wait_stats(e, one_pass, &st);
    CHECK_EQ_U64(st.failures, 1);   /* counted once, not once per pass */
    CHECK_EQ_U64(st.last_verified_tx, SDB_SCRUB_TAIL_TXS + 50);
    sdb_scrubber_stop();
    sdb_kv_version_deinit(&v);
    sdb_engine_close(e);
}

TEST(scrubber_rewrites_a_differing_txindex_record) {
    const char *d = mkdb((int)SDB_SCRUB_TAIL_TXS + 50);
    uint8_t orig[64], now[64];
    read_txi(d, 5, orig);
    char p[1100];
    snprintf(p, sizeof p, "%s/txindex", d);
    flip(p, 4 * 64 + 30);   /* a byte of tx 5's Alh */
    read_txi(d, 5, now);
    CHECK(memcmp(orig, now, 64) != 0);
    sdb_scrub_configure(1000, 64u << 20, NULL);
    CHECK_OK(sdb_scrubber_start());
    sdb_engine *e = NULL;
    CHECK_OK(sdb_engine_open(d, NULL, &e));
    sdb_scrub_stats st;
    wait_stats(e, one_pass, &st);
    CHECK_EQ_U64(st.failures, 0);
    CHECK_EQ_U64(st.repaired, 1);
    read_txi(d, 5, now);
    CHECK_EQ_MEM(now, 64, orig, 64);
    sdb_kv_version v;
    sdb_kv_version_init(&v);
    CHECK_OK(get(e, "key5", &v));
    sdb_kv_version_deinit(&v);
    sdb_scrubber_stop();
    sdb_engine_close(e);
    CHECK_OK(sdb_verify_dir(d, NULL));
}

TEST(scrubber_stops_and_engines_close_while_it_runs) {
    const char *d = mkdb(200);
    sdb_scrub_configure(1000, 1u << 20, NULL);   /* slow: close meets it mid-pass */
    CHECK_OK(sdb_scrubber_start());
    for (int i = 0; i < 5; i++) {
        sdb_engine *e = NULL;
        CHECK_OK(sdb_engine_open(d, NULL, &e));
        struct timespec ts = { 0, 30000000 };
        nanosleep(&ts, NULL);
        sdb_engine_close(e);
    }
    sdb_scrubber_stop();
    sdb_scrubber_stop();   /* idempotent */
}

/* More damaged ranges than the engine keeps apart (32): every damaged tx is still refused (ranges
 * are joined, never dropped), and the txs before the first damaged one are still served. */
TEST(many_damaged_ranges_all_refused) {
    const char *d = mkdb(120);
    for (uint64_t id = 21; id <= 99; id += 2) tamper_value(d, id);   /* 40 ranges of one tx */
    sdb_engine *e = NULL;
    CHECK_OK(sdb_engine_open(d, NULL, &e));
    sdb_kv_version v;
    sdb_kv_version_init(&v);
    for (uint64_t id = 21; id <= 99; id += 2) {
        char k[32];
        snprintf(k, sizeof k, "key%llu", (unsigned long long)id);
        CHECK_RC(get(e, k, &v), SEALDB_DAMAGED);
        CHECK_EQ_U64(sdb_engine_damaged_tx(), id);
    }
    for (int id = 1; id <= 20; id++) {
        char k[32];
        snprintf(k, sizeof k, "key%d", id);
        CHECK_OK(get(e, k, &v));
    }
    CHECK_OK(get(e, "key110", &v));
    sdb_scrub_stats st;
    sdb_engine_scrub_stats(e, &st);
    CHECK_EQ_U64(st.failures, 40);
    CHECK_EQ_U64(st.first_damaged, 21);
    CHECK_EQ_U64(st.last_damaged, 99);
    sdb_kv_version_deinit(&v);
    sdb_engine_close(e);
}
