/* test_engine_gate.c - the answer gate of synchronous replication: on a sync primary a published
 * tx's answer waits for acks of enough distinct replicas and answers are released in tx order; a
 * changed acks value or mode re-evaluates them; close releases them with an error; the committed
 * point, the replica mode's allowance and the long-poll wait. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "testlib.h"
#include "engine/engine.h"
#include "sealdb_err.h"

typedef struct rec {
    pthread_mutex_t mu;
    uint64_t ids[256];
    int rcs[256];
    int n;
} rec;

static void on_done(void *arg, int rc, const sdb_commit_result *res, size_t failed_pre) {
    (void)failed_pre;
    rec *r = arg;
    pthread_mutex_lock(&r->mu);
    r->ids[r->n] = res ? res->hdr.id : 0;
    r->rcs[r->n] = rc;
    r->n++;
    pthread_mutex_unlock(&r->mu);
}

static int answered(rec *r) {
    pthread_mutex_lock(&r->mu);
    int n = r->n;
    pthread_mutex_unlock(&r->mu);
    return n;
}

static void sleep_ms(int ms) {
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* Waits up to 5 s until r holds n answers. */
static void wait_answers(rec *r, int n) {
    for (int i = 0; i < 500 && answered(r) < n; i++) sleep_ms(10);
    CHECK_EQ_I64(answered(r), n);
}

/* The answer reaches the gate just after the publish: wait until n are held. */
static void wait_held(sdb_engine *e, uint64_t n) {
    for (int i = 0; i < 500 && sdb_engine_gate_held(e) != n; i++) sleep_ms(10);
    CHECK_EQ_U64(sdb_engine_gate_held(e), n);
}

static sdb_engine *open_at(const char *name) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/%s", sdb_test_tmpdir(), name);
    sdb_engine *e = NULL;
    CHECK_OK(sdb_engine_open(dir, NULL, &e));
    return e;
}

/* Queues one single-key tx whose answer goes to r; waits until it is published. */
static void put(sdb_engine *e, rec *r, const char *k) {
    sdb_kv kv;
    memset(&kv, 0, sizeof kv);
    kv.key = sdb_slice_str(k);
    kv.value = sdb_slice_str("v");
    uint64_t before = sdb_engine_last_tx(e);
    CHECK_OK(sdb_engine_commit(e, &kv, 1, NULL, 0, on_done, r));
    CHECK_OK(sdb_engine_gate_wait(e, before + 1, 1, 5000));
}

static void rec_init(rec *r) { memset(r, 0, sizeof *r); pthread_mutex_init(&r->mu, NULL); }

TEST(gate_off_answers_at_publish) {
    sdb_engine *e = open_at("off");
    rec r;
    rec_init(&r);
    put(e, &r, "a");
    wait_answers(&r, 1);
    CHECK_EQ_U64(sdb_engine_committed_tx(e), 1);
    CHECK_EQ_I64(sdb_engine_gate_mode(e), SDB_GATE_OFF);
    CHECK_RC(sdb_engine_gate_ack(e, "r1", 1), SEALDB_INVALID);   /* no replica-state table */
    sdb_engine_close(e);
}

TEST(gate_primary_holds_until_ack_in_order) {
    sdb_engine *e = open_at("p1");
    rec r;
    rec_init(&r);
    put(e, &r, "before");                  /* committed before the gate: answered */
    wait_answers(&r, 1);
    sdb_engine_gate_set(e, SDB_GATE_PRIMARY, 1);
    CHECK_EQ_U64(sdb_engine_committed_tx(e), 1);
    put(e, &r, "a");
    put(e, &r, "b");
    put(e, &r, "c");
    sleep_ms(50);
    CHECK_EQ_I64(answered(&r), 1);         /* durable, but neither acknowledged nor read */
    wait_held(e, 3);
    CHECK_EQ_U64(sdb_engine_last_tx(e), 4);
    uint64_t c;
    uint8_t alh[32], alh1[32];
    CHECK_OK(sdb_engine_committed_state(e, &c, alh));
    CHECK_EQ_U64(c, 1);
    sdb_tx_header h1;
    CHECK_OK(sdb_engine_tx_header(e, 1, &h1, alh1));
    CHECK_EQ_MEM(alh, 32, alh1, 32);
    /* an ack at or below the committed point changes nothing */
    CHECK_OK(sdb_engine_gate_ack(e, "r1", 1));
    CHECK_EQ_I64(answered(&r), 1);
    CHECK_OK(sdb_engine_gate_ack(e, "r1", 2));
    wait_answers(&r, 2);
    CHECK_EQ_U64(r.ids[1], 2);
    CHECK_EQ_U64(sdb_engine_committed_tx(e), 2);
    /* an ack past the last published tx commits only what exists */
    CHECK_OK(sdb_engine_gate_ack(e, "r1", 9));
    wait_answers(&r, 4);
    CHECK_EQ_U64(r.ids[2], 3);
    CHECK_EQ_U64(r.ids[3], 4);
    for (int i = 0; i < 4; i++) CHECK_EQ_I64(r.rcs[i], SEALDB_OK);
    CHECK_EQ_U64(sdb_engine_committed_tx(e), 4);
    CHECK_EQ_U64(sdb_engine_gate_held(e), 0);
    sdb_engine_close(e);
}

TEST(gate_two_acks_distinct_replicas_and_lag_error) {
    sdb_engine *e = open_at("p2");
    rec r;
    rec_init(&r);
    sdb_engine_gate_set(e, SDB_GATE_PRIMARY, 2);
    put(e, &r, "a");
    put(e, &r, "b");
    CHECK_OK(sdb_engine_gate_ack(e, "r1", 2));
    CHECK_OK(sdb_engine_gate_ack(e, "r1", 2));   /* the same replica twice counts once */
    sleep_ms(30);
    CHECK_EQ_I64(answered(&r), 0);
    CHECK_RC(sdb_engine_gate_ack(e, "r1", 1), SEALDB_RANGE);   /* lags behind what it said */
    CHECK_OK(sdb_engine_gate_ack(e, "r2", 1));   /* two entries: commit up to their minimum */
    wait_answers(&r, 1);
    CHECK_EQ_U64(r.ids[0], 1);
    CHECK_EQ_U64(sdb_engine_committed_tx(e), 1);
    CHECK_OK(sdb_engine_gate_ack(e, "r2", 2));
    wait_answers(&r, 2);
    CHECK_EQ_U64(r.ids[1], 2);
    sdb_engine_close(e);
}

TEST(gate_acks_change_reevaluates_and_off_releases) {
    sdb_engine *e = open_at("p3");
    rec r;
    rec_init(&r);
    sdb_engine_gate_set(e, SDB_GATE_PRIMARY, 2);
    put(e, &r, "a");
    put(e, &r, "b");
    put(e, &r, "c");
    CHECK_OK(sdb_engine_gate_ack(e, "r1", 1));
    sleep_ms(30);
    CHECK_EQ_I64(answered(&r), 0);
    sdb_engine_gate_set(e, SDB_GATE_PRIMARY, 1);   /* now one replica is enough: r1 acked tx 1 */
    wait_answers(&r, 1);
    CHECK_EQ_U64(r.ids[0], 1);
    sdb_engine_gate_set(e, SDB_GATE_OFF, 0);       /* sync replication off: everything is committed */
    wait_answers(&r, 3);
    CHECK_EQ_U64(r.ids[1], 2);
    CHECK_EQ_U64(r.ids[2], 3);
    CHECK_EQ_U64(sdb_engine_committed_tx(e), 3);
    put(e, &r, "d");
    wait_answers(&r, 4);
    sdb_engine_close(e);
}

TEST(gate_close_releases_with_error) {
    sdb_engine *e = open_at("p4");
    rec r;
    rec_init(&r);
    sdb_engine_gate_set(e, SDB_GATE_PRIMARY, 1);
    put(e, &r, "a");
    put(e, &r, "b");
    wait_held(e, 2);
    sdb_engine_gate_close(e);
    wait_answers(&r, 2);
    CHECK_EQ_I64(r.rcs[0], SEALDB_CLOSED);
    CHECK_EQ_I64(r.rcs[1], SEALDB_CLOSED);
    /* a later commit is durable but gets no acknowledgement either */
    sdb_kv kv;
    memset(&kv, 0, sizeof kv);
    kv.key = sdb_slice_str("c");
    CHECK_RC(sdb_engine_commit_sync(e, &kv, 1, NULL, 0, NULL, NULL), SEALDB_CLOSED);
    CHECK_EQ_U64(sdb_engine_last_tx(e), 3);
    CHECK_RC(sdb_engine_gate_wait(e, 9, 1, 1000), SEALDB_CLOSED);
    sdb_engine_close(e);

    /* closing the engine with held answers releases them too; the txs stay */
    e = open_at("p5");
    rec r2;
    rec_init(&r2);
    sdb_engine_gate_set(e, SDB_GATE_PRIMARY, 1);
    put(e, &r2, "x");
    wait_held(e, 1);
    sdb_engine_close(e);
    CHECK_EQ_I64(answered(&r2), 1);
    CHECK_EQ_I64(r2.rcs[0], SEALDB_CLOSED);
    e = open_at("p5");
    CHECK_EQ_U64(sdb_engine_last_tx(e), 1);
    CHECK_EQ_U64(sdb_engine_committed_tx(e), 1);
    sdb_engine_close(e);
}

typedef struct waiter { sdb_engine *e; uint64_t tx; int pre; int rc; int64_t ms; } waiter;

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *wait_main(void *arg) {
    waiter *w = arg;
    int64_t t0 = now_ms();
    w->rc = sdb_engine_gate_wait(w->e, w->tx, w->pre, 5000);
    w->ms = now_ms() - t0;
    return NULL;
}

TEST(gate_wait_long_poll_and_replica_allowance) {
    sdb_engine *e = open_at("w");
    rec r;
    rec_init(&r);
    int64_t t0 = now_ms();
    CHECK_RC(sdb_engine_gate_wait(e, 1, 1, 100), SEALDB_TIMEOUT);
    CHECK(now_ms() - t0 >= 90);
    /* a waiting poll wakes at the publish, well before its timeout */
    waiter w = { e, 1, 1, -1, 0 };
    pthread_t th;
    CHECK(pthread_create(&th, NULL, wait_main, &w) == 0);
    sleep_ms(100);
    put(e, &r, "a");
    pthread_join(th, NULL);
    CHECK_OK(w.rc);
    CHECK(w.ms < 1000);
    /* committed-only wait on a sync primary: woken by the ack */
    sdb_engine_gate_set(e, SDB_GATE_PRIMARY, 1);
    waiter w2 = { e, 2, 0, -1, 0 };
    CHECK(pthread_create(&th, NULL, wait_main, &w2) == 0);
    put(e, &r, "b");
    sleep_ms(50);
    CHECK_OK(sdb_engine_gate_ack(e, "r1", 2));
    pthread_join(th, NULL);
    CHECK_OK(w2.rc);
    wait_answers(&r, 2);
    /* replica mode: txs are precommitted until the primary allows them; never back, never past
     * the last tx; OFF (promotion) commits the rest */
    sdb_engine_gate_set(e, SDB_GATE_REPLICA, 0);
    put(e, &r, "c");
    put(e, &r, "d");
    wait_answers(&r, 4);                 /* nothing is held on a replica */
    CHECK_EQ_U64(sdb_engine_committed_tx(e), 2);
    sdb_engine_gate_allow(e, 3);
    CHECK_EQ_U64(sdb_engine_committed_tx(e), 3);
    sdb_engine_gate_allow(e, 1);
    CHECK_EQ_U64(sdb_engine_committed_tx(e), 3);
    sdb_engine_gate_allow(e, 99);
    CHECK_EQ_U64(sdb_engine_committed_tx(e), 4);
    put(e, &r, "e");
    CHECK_EQ_U64(sdb_engine_committed_tx(e), 4);
    sdb_engine_gate_set(e, SDB_GATE_OFF, 0);
    CHECK_EQ_U64(sdb_engine_committed_tx(e), 5);
    sdb_engine_close(e);
}

static int key_found(sdb_engine *e, const char *k) {
    sdb_kv_version v;
    sdb_kv_version_init(&v);
    sdb_get_opts o;
    memset(&o, 0, sizeof o);
    int rc = sdb_engine_get(e, sdb_slice_str(k), &o, &v);
    sdb_kv_version_deinit(&v);
    CHECK(rc == SEALDB_OK || rc == SEALDB_NOTFOUND);
    return rc == SEALDB_OK;
}

static int file_exists(const char *dir, const char *name) {
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "rb");
    if (f) fclose(f);
    return f != NULL;
}

/* A sync replica stores its committed point (a reopen starts from it) and discards its
 * precommitted tail only above it: the journal, the derived files and the key index lose the
 * discarded txs, new txs follow, a repeated marker is harmless, and the directory verifies. */
TEST(gate_replica_committed_point_and_discard) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/%s", sdb_test_tmpdir(), "discard");
    rec r;
    rec_init(&r);
    sdb_engine *e = open_at("discard");
    sdb_engine_gate_set(e, SDB_GATE_REPLICA, 0);
    CHECK_OK(sdb_engine_gate_restore_committed(e));   /* empty: committed 0 is known and stored */
    CHECK(file_exists(dir, "committed"));
    const char *keys[] = { "a", "b", "c", "d", "e" };
    for (int i = 0; i < 5; i++) put(e, &r, keys[i]);
    wait_answers(&r, 5);
    CHECK_OK(sdb_engine_gate_allow(e, 3));
    CHECK_EQ_U64(sdb_engine_committed_tx(e), 3);
    CHECK_OK(sdb_engine_wait_indexed(e, 5, 5000));
    CHECK_EQ_I64(sdb_engine_mark_discard(dir, 3), SEALDB_BUSY);   /* only a closed database */
    sdb_engine_close(e);

    /* a restart keeps the committed point */
    e = open_at("discard");
    sdb_engine_gate_set(e, SDB_GATE_REPLICA, 0);
    CHECK_OK(sdb_engine_gate_restore_committed(e));
    CHECK_EQ_U64(sdb_engine_committed_tx(e), 3);
    CHECK_EQ_U64(sdb_engine_last_tx(e), 5);
    uint8_t alh3[SDB_HASH_LEN];
    sdb_tx_header h;
    CHECK_OK(sdb_engine_tx_header(e, 3, &h, alh3));
    sdb_engine_close(e);

    /* never below the committed point */
    CHECK_EQ_I64(sdb_engine_mark_discard(dir, 2), SEALDB_INVALID);
    CHECK_OK(sdb_engine_mark_discard(dir, 3));
    CHECK(file_exists(dir, "discard"));
    e = open_at("discard");
    CHECK(!file_exists(dir, "discard"));
    CHECK_EQ_U64(sdb_engine_last_tx(e), 3);
    uint8_t alh[SDB_HASH_LEN];
    CHECK_OK(sdb_engine_tx_header(e, 3, &h, alh));
    CHECK(memcmp(alh, alh3, SDB_HASH_LEN) == 0);
    CHECK(key_found(e, "a") && key_found(e, "c"));
    CHECK(!key_found(e, "d") && !key_found(e, "e"));   /* the index lost them too */
    sdb_engine_gate_set(e, SDB_GATE_REPLICA, 0);
    CHECK_OK(sdb_engine_gate_restore_committed(e));
    CHECK_EQ_U64(sdb_engine_committed_tx(e), 3);
    put(e, &r, "x");
    wait_answers(&r, 6);
    CHECK_EQ_U64(sdb_engine_last_tx(e), 4);
    CHECK_OK(sdb_engine_wait_indexed(e, 4, 5000));
    CHECK(!key_found(e, "x"));   /* precommitted: not read before the primary allows it */
    CHECK_OK(sdb_engine_gate_allow(e, 4));
    CHECK(key_found(e, "x") && !key_found(e, "d"));
    sdb_engine_close(e);

    /* a marker whose cut already happened (a crash before its removal) changes nothing */
    CHECK_OK(sdb_engine_mark_discard(dir, 4));
    e = open_at("discard");
    CHECK_EQ_U64(sdb_engine_last_tx(e), 4);
    CHECK(!file_exists(dir, "discard"));
    CHECK(key_found(e, "x"));
    /* a primary (or asynchronous replica) holds no committed-point file */
    CHECK_OK(sdb_engine_gate_restore_committed(e));
    CHECK(!file_exists(dir, "committed"));
    sdb_engine_close(e);
    CHECK_EQ_I64(sdb_engine_mark_discard(dir, 4), SEALDB_INVALID);   /* no stored point: refused */
    CHECK_OK(sdb_verify_dir(dir, NULL));
    /* verify checks the stored point against the journal */
    e = open_at("discard");
    CHECK_OK(sdb_engine_store_committed(e, 5));
    sdb_engine_close(e);
    CHECK_EQ_I64(sdb_verify_dir(dir, NULL), SEALDB_CORRUPT);
    e = open_at("discard");
    CHECK_OK(sdb_engine_store_committed(e, 4));
    sdb_engine_close(e);
    CHECK_OK(sdb_verify_dir(dir, NULL));
}

/* A crash while the open cut the journal (part of the tail zeroed, the rest still there): the
 * marker is still on disk, so the next open cuts at the same point. */
TEST(gate_discard_resumes_after_a_torn_cut) {
    char dir[1024], seg[1200];
    snprintf(dir, sizeof dir, "%s/%s", sdb_test_tmpdir(), "discard2");
    rec r;
    rec_init(&r);
    sdb_engine *e = open_at("discard2");
    sdb_engine_gate_set(e, SDB_GATE_REPLICA, 0);
    CHECK_OK(sdb_engine_gate_restore_committed(e));
    const char *keys[] = { "a", "b", "c", "d", "e" };
    for (int i = 0; i < 5; i++) put(e, &r, keys[i]);
    wait_answers(&r, 5);
    CHECK_OK(sdb_engine_gate_allow(e, 3));
    sdb_engine_close(e);
    snprintf(seg, sizeof seg, "%s/journal/00000000000000000000.seg", dir);
    FILE *f = fopen(seg, "r+b");
    CHECK(f != NULL);
    static uint8_t b[1 << 17];
    size_t n = fread(b, 1, sizeof b, f), end = n;
    while (end > 0 && b[end - 1] == 0) end--;
    size_t rl = end / 5;             /* five records of about equal size */
    CHECK(rl > 0);
    memset(b + end - rl - rl / 2, 0, rl);   /* inside txs 4 and 5: what a zero-fill cut short leaves */
    CHECK(fseek(f, 0, SEEK_SET) == 0);
    CHECK_EQ_U64(fwrite(b, 1, n, f), n);
    fclose(f);
    CHECK_OK(sdb_engine_mark_discard(dir, 3));
    e = open_at("discard2");
    CHECK_EQ_U64(sdb_engine_last_tx(e), 3);
    CHECK(!file_exists(dir, "discard"));
    CHECK(key_found(e, "c") && !key_found(e, "d"));
    sdb_engine_close(e);
    CHECK_OK(sdb_verify_dir(dir, NULL));
}

static void put_kv(sdb_engine *e, rec *r, const char *k, const char *v) {
    sdb_kv kv;
    memset(&kv, 0, sizeof kv);
    kv.key = sdb_slice_str(k);
    kv.value = sdb_slice_str(v);
    uint64_t before = sdb_engine_last_tx(e);
    CHECK_OK(sdb_engine_commit(e, &kv, 1, NULL, 0, on_done, r));
    CHECK_OK(sdb_engine_gate_wait(e, before + 1, 1, 5000));
}

/* The key version a plain read sees (tx id, revision), 0 when SEALDB_NOTFOUND. */
static uint64_t read_tx(sdb_engine *e, const char *k, int64_t at_rev, uint64_t *rev) {
    sdb_get_opts o = { .at_revision = at_rev };
    sdb_kv_version v;
    sdb_kv_version_init(&v);
    int rc = sdb_engine_get(e, sdb_slice_str(k), &o, &v);
    uint64_t id = rc == SEALDB_OK ? v.tx_id : 0;
    if (rc != SEALDB_NOTFOUND) CHECK_OK(rc);
    if (rev) *rev = v.revision;
    sdb_kv_version_deinit(&v);
    return id;
}

static size_t scan_n(sdb_engine *e) {
    sdb_scan_opts so;
    memset(&so, 0, sizeof so);
    sdb_kv_list l;
    sdb_kv_list_init(&l);
    CHECK_OK(sdb_engine_scan(e, &so, &l));
    size_t n = l.n;
    sdb_kv_list_deinit(&l);
    return n;
}

static uint64_t history_n(sdb_engine *e, const char *k, int desc, uint64_t *first_tx) {
    sdb_kv_list l;
    sdb_kv_list_init(&l);
    uint64_t total = 0;
    CHECK_OK(sdb_engine_history(e, sdb_slice_str(k), 0, 0, desc, 0, &l, &total));
    CHECK_EQ_U64(l.n, total);
    *first_tx = l.n ? l.v[0].tx_id : 0;
    sdb_kv_list_deinit(&l);
    return total;
}

TEST(gate_reads_stop_at_the_committed_point) {
    sdb_engine *e = open_at("horizon");
    rec r;
    rec_init(&r);
    put_kv(e, &r, "k", "v1");
    wait_answers(&r, 1);
    sdb_engine_gate_set(e, SDB_GATE_PRIMARY, 1);
    put_kv(e, &r, "k", "v2");
    put_kv(e, &r, "n", "x");
    wait_held(e, 2);
    CHECK_OK(sdb_engine_wait_indexed(e, 3, 5000));
    /* txs 2 and 3 are precommitted (and indexed): reads see tx 1 only */
    uint64_t rev = 0, first = 0, cnt = 0;
    CHECK_EQ_U64(read_tx(e, "k", 0, &rev), 1);
    CHECK_EQ_U64(rev, 1);
    CHECK_EQ_U64(read_tx(e, "n", 0, NULL), 0);
    CHECK_EQ_U64(read_tx(e, "k", 1, NULL), 1);
    sdb_kv_version v;
    sdb_kv_version_init(&v);
    sdb_get_opts o = { .at_revision = -1 };
    CHECK_EQ_I64(sdb_engine_get(e, sdb_slice_str("k"), &o, &v), SEALDB_INVALID);
    o.at_revision = 2;
    CHECK_EQ_I64(sdb_engine_get(e, sdb_slice_str("k"), &o, &v), SEALDB_INVALID);
    sdb_get_opts at = { .at_tx = 2 };
    CHECK_EQ_I64(sdb_engine_get(e, sdb_slice_str("k"), &at, &v), SEALDB_RANGE);
    CHECK_EQ_U64(history_n(e, "k", 0, &first), 1);
    CHECK_EQ_U64(history_n(e, "k", 1, &first), 1);
    CHECK_EQ_U64(first, 1);
    CHECK_EQ_U64(scan_n(e), 1);
    CHECK_OK(sdb_engine_count(e, sdb_slice_str(""), 0, &cnt));
    CHECK_EQ_U64(cnt, 1);
    /* the export path still reads them */
    sdb_tx t;
    sdb_tx_init(&t);
    CHECK_OK(sdb_engine_tx_read(e, 3, 1, &t));
    sdb_tx_deinit(&t);
    /* committed: visible */
    CHECK_OK(sdb_engine_gate_ack(e, "r1", 3));
    wait_answers(&r, 3);
    CHECK_EQ_U64(read_tx(e, "k", 0, &rev), 2);
    CHECK_EQ_U64(rev, 2);
    CHECK_EQ_U64(read_tx(e, "k", -1, NULL), 1);
    CHECK_EQ_U64(read_tx(e, "n", 0, NULL), 3);
    CHECK_EQ_U64(history_n(e, "k", 1, &first), 2);
    CHECK_EQ_U64(first, 2);
    CHECK_EQ_U64(scan_n(e), 2);
    CHECK_OK(sdb_engine_count(e, sdb_slice_str(""), 0, &cnt));
    CHECK_EQ_U64(cnt, 2);
    CHECK_OK(sdb_engine_get(e, sdb_slice_str("k"), &at, &v));
    /* a replica gate that does not know its committed point yet reads nothing */
    sdb_engine_gate_set(e, SDB_GATE_REPLICA, 0);
    sdb_engine_gate_forget_committed(e);
    CHECK_EQ_U64(read_tx(e, "k", 0, NULL), 0);
    CHECK_EQ_U64(scan_n(e), 0);
    CHECK_OK(sdb_engine_count(e, sdb_slice_str(""), 0, &cnt));
    CHECK_EQ_U64(cnt, 0);
    CHECK_EQ_I64(sdb_engine_history(e, sdb_slice_str("k"), 0, 0, 0, 0, &(sdb_kv_list){ 0 }, &cnt), SEALDB_NOTFOUND);
    CHECK_OK(sdb_engine_gate_allow(e, 2));
    CHECK_EQ_U64(read_tx(e, "k", 0, NULL), 2);
    CHECK_EQ_U64(read_tx(e, "n", 0, NULL), 0);
    sdb_engine_gate_set(e, SDB_GATE_OFF, 0);
    CHECK_EQ_U64(read_tx(e, "n", 0, NULL), 3);
    sdb_kv_version_deinit(&v);
    sdb_engine_close(e);
}
