/* test_engine_txid.c - entries that embed the id of their own tx (sdb_kv.own_id_*_at): the
 * committer writes the assigned id into the slots and the stored hashes, tree and proofs cover
 * the bytes as written, also under concurrent commits and after a reopen. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include "engine_check.h"
#include "testlib.h"
#include "crypto/crypto.h"
#include "engine/engine.h"

static void db_dir(char *out, size_t cap) { snprintf(out, cap, "%s/db", sdb_test_tmpdir()); }

static sdb_engine *open_db(void) {
    char dir[1024];
    db_dir(dir, sizeof dir);
    sdb_engine *e = NULL;
    CHECK_OK(sdb_engine_open(dir, NULL, &e));
    return e;
}

/* Entry i of tx id verifies against the tx's eH and carries id at the slot it was given. */
static void check_tx(sdb_engine *e, uint64_t id) {
    sdb_tx t;
    sdb_tx_init(&t);
    CHECK_OK(sdb_engine_tx_read(e, id, 1, &t));
    CHECK(t.nentries >= 2);
    /* the layout written by commit_own below: entry 0 key "own:" + id, entry 1 value "r" + id + "x" */
    CHECK_EQ_U64(sdb_get_u64be(t.entries[0].key.ptr + 4), id);
    CHECK_EQ_U64(sdb_get_u64be(t.entries[1].value.ptr + 1), id);
    for (uint32_t i = 0; i < t.nentries; i++) {
        uint8_t hv[32];
        sdb_sha256(t.entries[i].value.ptr, t.entries[i].value.len, hv);
        CHECK_EQ_MEM(hv, 32, t.entries[i].hvalue.b, 32);
    }
    sdb_hashes terms;
    sdb_hashes_init(&terms);
    check_entries_prove(e, id, &t, &terms);
    sdb_hashes_deinit(&terms);
    sdb_tx_deinit(&t);
}

/* Commits one tx whose first key and second value hold slots for its own id (placeholder 0). */
static uint64_t commit_own(sdb_engine *e, int n, int tag) {
    uint8_t key[12] = { 'o', 'w', 'n', ':' }, val[10] = { 'r' };
    char other[32];
    sdb_kv kv[3];
    memset(kv, 0, sizeof kv);
    memset(key + 4, 0, 8);
    memset(val + 1, 0, 8);
    val[9] = 'x';
    snprintf(other, sizeof other, "plain-%d-%d", tag, n);
    kv[0] = (sdb_kv){ .key = sdb_slice_of(key, sizeof key), .value = sdb_slice_str("v"), .own_id_key_at = 4 + 1 };
    kv[1] = (sdb_kv){ .key = sdb_slice_str(other), .value = sdb_slice_of(val, sizeof val), .own_id_value_at = 1 + 1 };
    kv[2] = (sdb_kv){ .key = sdb_slice_str("third"), .value = sdb_slice_str(other) };
    sdb_commit_result r;
    CHECK_OK(sdb_engine_commit_sync(e, kv, 3, NULL, 0, &r, NULL));
    return r.hdr.id;
}

TEST(own_id_slots_are_filled_and_proven) {
    sdb_engine *e = open_db();
    sdb_kv plain = { .key = sdb_slice_str("a"), .value = sdb_slice_str("1") };
    sdb_commit_result r;
    CHECK_OK(sdb_engine_commit_sync(e, &plain, 1, NULL, 0, &r, NULL));
    uint64_t id = commit_own(e, 0, 0);
    CHECK_EQ_U64(id, 2);
    check_tx(e, id);
    /* the index holds the key as written: "own:" + the id */
    uint8_t key[12] = { 'o', 'w', 'n', ':' };
    sdb_put_u64be(key + 4, id);
    sdb_kv_version v;
    sdb_kv_version_init(&v);
    sdb_get_opts go = { 0 };
    CHECK_OK(sdb_engine_get(e, sdb_slice_of(key, sizeof key), &go, &v));
    CHECK_EQ_U64(v.tx_id, id);
    sdb_kv_version_deinit(&v);
    sdb_engine_close(e);
    /* the record as stored passes recovery and the offline check */
    char dir[1024];
    db_dir(dir, sizeof dir);
    CHECK_OK(sdb_verify_dir(dir, NULL));
    e = open_db();
    check_tx(e, id);
    sdb_engine_close(e);
}

TEST(own_id_slots_out_of_bounds_are_refused) {
    sdb_engine *e = open_db();
    sdb_commit_result r;
    sdb_kv kv = { .key = sdb_slice_str("short-key"), .value = sdb_slice_str("v"), .own_id_key_at = 3 };   /* 2+8 > 9 */
    CHECK_RC(sdb_engine_commit_sync(e, &kv, 1, NULL, 0, &r, NULL), SEALDB_INVALID);
    kv = (sdb_kv){ .key = sdb_slice_str("k"), .value = sdb_slice_str("12345678"), .own_id_value_at = 2 };
    CHECK_RC(sdb_engine_commit_sync(e, &kv, 1, NULL, 0, &r, NULL), SEALDB_INVALID);
    kv.own_id_value_at = 1;   /* exactly the 8 bytes */
    CHECK_OK(sdb_engine_commit_sync(e, &kv, 1, NULL, 0, &r, NULL));
    CHECK_EQ_U64(r.hdr.id, 1);
    sdb_engine_close(e);
}

typedef struct { sdb_engine *e; int tag; int own; uint64_t ids[40]; } worker;

static void *run_worker(void *p) {
    worker *w = p;
    for (int i = 0; i < 40; i++) {
        if (w->own) { w->ids[i] = commit_own(w->e, i, w->tag); continue; }
        char k[32];
        snprintf(k, sizeof k, "w%d-%d", w->tag, i);
        sdb_kv kv = { .key = sdb_slice_str(k), .value = sdb_slice_str("x") };
        sdb_commit_result r;
        CHECK_OK(sdb_engine_commit_sync(w->e, &kv, 1, NULL, 0, &r, NULL));
        w->ids[i] = r.hdr.id;
    }
    return NULL;
}

/* With other writers filling the pipeline, every bound tx still commits first time with its own id. */
TEST(own_id_under_concurrent_writers) {
    sdb_engine *e = open_db();
    worker w[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker){ .e = e, .tag = i, .own = i < 2 };
        CHECK(pthread_create(&th[i], NULL, run_worker, &w[i]) == 0);
    }
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 40; j++) check_tx(e, w[i].ids[j]);
    CHECK_EQ_U64(sdb_engine_last_tx(e), 160);
    sdb_engine_close(e);
    char dir[1024];
    db_dir(dir, sizeof dir);
    CHECK_OK(sdb_verify_dir(dir, NULL));
}
