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
    CHECK_EQ_I64(answered(&r), 1);         /* durable and readable, but not acknowledged */
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
