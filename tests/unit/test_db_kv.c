/* test_db_kv.c - the db layer's write validation (immudb's exact errors), state and the verifiable
 * answers it assembles, checked with the client library's verifiers (the code SDK-compatible clients
 * run). Key reads are covered end to end by tests/e2e/test_kv_*.py. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "testlib.h"
#include "db/kv.h"
#include "client/client_int.h"
#include "sealdb_err.h"

static sdb_kvdb *open_db(const char *sub) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/%s", sdb_test_tmpdir(), sub);
    sdb_kvdb *db = NULL;
    if (sdb_kvdb_open(dir, "defaultdb", NULL, &db)) return NULL;
    return db;
}

static Immudb__Schema__KeyValue kv_of(const char *k, const char *v) {
    Immudb__Schema__KeyValue kv = IMMUDB__SCHEMA__KEY_VALUE__INIT;
    kv.key.data = (uint8_t *)k;
    kv.key.len = strlen(k);
    kv.value.data = (uint8_t *)v;
    kv.value.len = strlen(v);
    return kv;
}

/* Prepares a Set of n KVs; returns 0 or -1 with err. */
static int prep_set(sdb_kvdb *db, sdb_arena *a, Immudb__Schema__KeyValue *kvs, size_t n,
                    Immudb__Schema__Precondition **pre, size_t npre, sdb_kv_batch *b, sdb_kverr *err) {
    Immudb__Schema__KeyValue *ptrs[8];
    for (size_t i = 0; i < n; i++) ptrs[i] = &kvs[i];
    Immudb__Schema__SetRequest r = IMMUDB__SCHEMA__SET_REQUEST__INIT;
    r.kvs = ptrs;
    r.n_kvs = n;
    r.preconditions = pre;
    r.n_preconditions = npre;
    return sdb_kv_prepare_set(db, a, &r, b, err);
}

TEST(db_kv_set_validation_errors) {
    sdb_kvdb *db = open_db("val");
    CHECK(db != NULL);
    sdb_arena a;
    sdb_arena_init(&a, 0);
    sdb_kv_batch b;
    sdb_kverr e;
    Immudb__Schema__KeyValue kvs[2] = { kv_of("", "x"), kv_of("k", "v") };
    CHECK(prep_set(db, &a, kvs, 1, NULL, 0, &b, &e) < 0);
    CHECK_EQ_U64(e.code, SDB_GRPC_INVALID_ARGUMENT);
    CHECK_EQ_STR(e.msg, "illegal arguments");
    kvs[0] = kv_of("k", "1");
    CHECK(prep_set(db, &a, kvs, 2, NULL, 0, &b, &e) < 0);
    CHECK_EQ_STR(e.msg, "duplicated keys are not supported in single batch transaction");
    CHECK(prep_set(db, &a, kvs, 0, NULL, 0, &b, &e) < 0);
    CHECK_EQ_U64(e.code, SDB_GRPC_UNKNOWN);
    CHECK_EQ_STR(e.msg, "no entries provided");
    char longkey[1025];
    memset(longkey, 'a', 1024);
    longkey[1024] = 0;
    kvs[0] = kv_of(longkey, "v");
    CHECK(prep_set(db, &a, kvs, 1, NULL, 0, &b, &e) < 0);
    CHECK_EQ_STR(e.msg, "max key length exceeded");
    longkey[1023] = 0;   /* 1023 user bytes + prefix = the limit */
    kvs[0] = kv_of(longkey, "v");
    CHECK_OK(prep_set(db, &a, kvs, 1, NULL, 0, &b, &e));
    /* preconditions: null key, unset oneof, txID 0 */
    Immudb__Schema__Precondition p = IMMUDB__SCHEMA__PRECONDITION__INIT;
    Immudb__Schema__Precondition__KeyMustExistPrecondition me = IMMUDB__SCHEMA__PRECONDITION__KEY_MUST_EXIST_PRECONDITION__INIT;
    Immudb__Schema__Precondition *pp = &p;
    kvs[0] = kv_of("k", "v");
    CHECK(prep_set(db, &a, kvs, 1, &pp, 1, &b, &e) < 0);
    CHECK_EQ_STR(e.msg, "invalid precondition: null");
    p.precondition_case = IMMUDB__SCHEMA__PRECONDITION__PRECONDITION_KEY_MUST_EXIST;
    p.keymustexist = &me;
    CHECK(prep_set(db, &a, kvs, 1, &pp, 1, &b, &e) < 0);
    CHECK_EQ_STR(e.msg, "invalid precondition: null key");
    Immudb__Schema__Precondition__KeyNotModifiedAfterTXPrecondition nm =
        IMMUDB__SCHEMA__PRECONDITION__KEY_NOT_MODIFIED_AFTER_TXPRECONDITION__INIT;
    nm.key.data = (uint8_t *)"k";
    nm.key.len = 1;
    p.precondition_case = IMMUDB__SCHEMA__PRECONDITION__PRECONDITION_KEY_NOT_MODIFIED_AFTER_TX;
    p.keynotmodifiedaftertx = &nm;
    CHECK(prep_set(db, &a, kvs, 1, &pp, 1, &b, &e) < 0);
    CHECK_EQ_STR(e.msg, "invalid precondition: invalid precondition: invalid transaction ID");
    /* ExecAll request validation */
    Immudb__Schema__ExecAllRequest ea = IMMUDB__SCHEMA__EXEC_ALL_REQUEST__INIT;
    CHECK(sdb_kv_prepare_exec_all(db, &a, &ea, &b, &e) < 0);
    CHECK_EQ_U64(e.code, SDB_GRPC_INVALID_ARGUMENT);
    CHECK_EQ_STR(e.msg, "empty set");
    Immudb__Schema__Op op1 = IMMUDB__SCHEMA__OP__INIT, op2 = IMMUDB__SCHEMA__OP__INIT;
    Immudb__Schema__KeyValue dk = kv_of("dup", "1");
    op1.operation_case = op2.operation_case = IMMUDB__SCHEMA__OP__OPERATION_KV;
    op1.kv = op2.kv = &dk;
    Immudb__Schema__Op *ops[2] = { &op1, &op2 };
    ea.operations = ops;
    ea.n_operations = 2;
    CHECK(sdb_kv_prepare_exec_all(db, &a, &ea, &b, &e) < 0);
    CHECK_EQ_STR(e.msg, "rpc error: code = InvalidArgument desc = duplicated keys are not supported in single "
                        "batch transaction: key/reference 'dup'");
    sdb_arena_deinit(&a);
    sdb_kvdb_close(db);
}

/* Large batches find duplicates through a hash table: every position of the duplicate, keys that
 * differ only in their last byte, and a batch of distinct keys that must pass. */
TEST(db_kv_set_duplicates_in_large_batch) {
    sdb_kvdb *db = open_db("dup");
    CHECK(db != NULL);
    sdb_arena a;
    sdb_arena_init(&a, 0);
    enum { N = 600 };
    static char keys[N][16];
    static Immudb__Schema__KeyValue kvs[N];
    static Immudb__Schema__KeyValue *ptrs[N];
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "key-%05d", i);
        kvs[i] = kv_of(keys[i], "v");
        ptrs[i] = &kvs[i];
    }
    Immudb__Schema__SetRequest r = IMMUDB__SCHEMA__SET_REQUEST__INIT;
    r.kvs = ptrs;
    r.n_kvs = N;
    sdb_kv_batch b;
    sdb_kverr e;
    CHECK_OK(sdb_kv_prepare_set(db, &a, &r, &b, &e));
    CHECK_EQ_U64(b.n, N);
    static const int dup_at[] = { 1, 15, 16, 17, 63, 64, 200, 599 };
    for (size_t d = 0; d < sizeof dup_at / sizeof dup_at[0]; d++) {
        int at = dup_at[d];
        for (int src = 0; src < at; src += at > 40 ? at / 7 + 1 : 1) {
            kvs[at] = kv_of(keys[src], "w");
            CHECK(sdb_kv_prepare_set(db, &a, &r, &b, &e) < 0);
            CHECK_EQ_U64(e.code, SDB_GRPC_INVALID_ARGUMENT);
            CHECK_EQ_STR(e.msg, "duplicated keys are not supported in single batch transaction");
            /* the error comes from the duplicate itself: nothing after it was added */
            CHECK_EQ_U64(b.n, (uint64_t)at);
        }
        kvs[at] = kv_of(keys[at], "v");
    }
    CHECK_OK(sdb_kv_prepare_set(db, &a, &r, &b, &e));
    /* a duplicate is still reported before a later entry's own error (order of immudb's checks) */
    char longkey[1100];
    memset(longkey, 'b', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = 0;
    kvs[300] = kv_of(keys[3], "w");
    kvs[400] = kv_of(longkey, "v");
    CHECK(sdb_kv_prepare_set(db, &a, &r, &b, &e) < 0);
    CHECK_EQ_STR(e.msg, "duplicated keys are not supported in single batch transaction");
    kvs[300] = kv_of(keys[300], "v");
    CHECK(sdb_kv_prepare_set(db, &a, &r, &b, &e) < 0);
    CHECK_EQ_STR(e.msg, "max key length exceeded");
    sdb_arena_deinit(&a);
    sdb_kvdb_close(db);
}

TEST(db_kv_verifiable_set_and_state) {
    sdb_kvdb *db = open_db("vset");
    CHECK(db != NULL);
    sdb_arena a;
    sdb_arena_init(&a, 0);
    sdb_signer *signer = NULL;
    CHECK_OK(sdb_signer_generate(&signer));
    char priv[600], pub[600];
    snprintf(priv, sizeof priv, "%s/priv.pem", sdb_test_tmpdir());
    snprintf(pub, sizeof pub, "%s/pub.pem", sdb_test_tmpdir());
    CHECK_OK(sdb_signer_write_pem(signer, priv, pub));
    sdb_verifier *ver = NULL;
    CHECK_OK(sdb_verifier_load_file(pub, &ver));
    sdb_kverr e;
    Immudb__Schema__ImmutableState *st = NULL;
    CHECK_OK(sdb_kv_state(db, &a, signer, &st, &e));
    CHECK_EQ_U64(st->txid, 0);
    CHECK_EQ_MEM(st->txhash.data, st->txhash.len, sdb_hash_empty.b, 32);
    CHECK_EQ_STR(st->db, "defaultdb");
    CHECK_OK(sdb_state_verify(ver, sdb_slice_str("defaultdb"), 0, sdb_hash_empty.b,
                              (sdb_slice){ st->signature->signature.data, st->signature->signature.len }));

    sdb_vstate trusted = { 0, sdb_hash_empty }, ns;
    for (int i = 0; i < 5; i++) {
        char k[16], v[16];
        snprintf(k, sizeof k, "key%d", i % 2);
        snprintf(v, sizeof v, "value%d", i);
        Immudb__Schema__KeyValue kv = kv_of(k, v);
        sdb_kv_batch b;
        sdb_commit_result res;
        CHECK_OK(prep_set(db, &a, &kv, 1, NULL, 0, &b, &e));
        CHECK_OK(sdb_kv_commit_sync(db, &b, 1, &res, &e));
        CHECK_EQ_U64(res.hdr.id, (uint64_t)i + 1);
        Immudb__Schema__VerifiableTx *vt = NULL;
        CHECK_OK(sdb_kv_verifiable_tx(db, &a, signer, res.hdr.id, trusted.tx_id, NULL, 0, &vt, &e));
        CHECK_EQ_U64(vt->tx->n_entries, 1);
        CHECK_EQ_U64(vt->tx->header->prevalh.len, 32);
        CHECK_EQ_U64(vt->dualproof->targetbltxalh.len, 32);
        CHECK_OK(sdb_cl_check_write(vt, SDB_CL_W_SET, sdb_slice_str("defaultdb"), ver, &trusted,
                                    sdb_slice_str(k), sdb_slice_str(v), 0, 0, &ns));
        CHECK_EQ_U64(ns.tx_id, res.hdr.id);
        CHECK_EQ_MEM(ns.alh.b, 32, res.alh.b, 32);
        /* a value the server did not store must not verify */
        CHECK(sdb_cl_check_write(vt, SDB_CL_W_SET, sdb_slice_str("defaultdb"), ver, &trusted,
                                 sdb_slice_str(k), sdb_slice_str("forged"), 0, 0, &ns) != SEALDB_OK);
        if (i != 2) trusted = (sdb_vstate){ res.hdr.id, res.alh };   /* skip one: longer proof next */
    }
    /* VerifiableTxById: older tx proven against a newer trusted state, and the reverse */
    Immudb__Schema__VerifiableTxRequest tr = IMMUDB__SCHEMA__VERIFIABLE_TX_REQUEST__INIT;
    tr.tx = 2;
    tr.provesincetx = trusted.tx_id;
    Immudb__Schema__VerifiableTx *vt = NULL;
    CHECK_OK(sdb_kv_verifiable_tx_by_id(db, &a, signer, &tr, &vt, &e));
    CHECK_OK(sdb_cl_check_tx(vt, sdb_slice_str("defaultdb"), ver, &trusted, 2, &ns));
    CHECK_EQ_U64(ns.tx_id, 5);
    tr.provesincetx = 99;
    CHECK(sdb_kv_verifiable_tx_by_id(db, &a, signer, &tr, &vt, &e) < 0);
    CHECK_EQ_STR(e.msg, "illegal state: latest txID=5 is lower than specified as initial tx=99");
    tr.provesincetx = 0;
    tr.tx = 6;
    CHECK(sdb_kv_verifiable_tx_by_id(db, &a, signer, &tr, &vt, &e) < 0);
    CHECK_EQ_STR(e.msg, "tx not found");
    /* TxById raw form: prefixed keys, 32-byte hValue, vLen of the prefixed value */
    Immudb__Schema__TxRequest r = IMMUDB__SCHEMA__TX_REQUEST__INIT;
    r.tx = 3;
    Immudb__Schema__Tx *tx = NULL;
    CHECK_OK(sdb_kv_tx_by_id(db, &a, &r, &tx, &e));
    CHECK_EQ_U64(tx->n_entries, 1);
    CHECK_EQ_MEM(tx->entries[0]->key.data, tx->entries[0]->key.len, "\0key0", 5);
    CHECK_EQ_U64(tx->entries[0]->vlen, 7);
    CHECK_EQ_U64(tx->entries[0]->hvalue.len, 32);
    r.tx = 0;
    CHECK(sdb_kv_tx_by_id(db, &a, &r, &tx, &e) < 0);
    CHECK_EQ_U64(e.code, SDB_GRPC_INVALID_ARGUMENT);
    /* TxScan */
    Immudb__Schema__TxScanRequest sr = IMMUDB__SCHEMA__TX_SCAN_REQUEST__INIT;
    sr.initialtx = 4;
    Immudb__Schema__TxList *tl = NULL;
    CHECK_OK(sdb_kv_tx_scan(db, &a, &sr, &tl, &e));
    CHECK_EQ_U64(tl->n_txs, 2);
    sr.desc = 1;
    CHECK_OK(sdb_kv_tx_scan(db, &a, &sr, &tl, &e));
    CHECK_EQ_U64(tl->n_txs, 4);
    CHECK_EQ_U64(tl->txs[3]->header->id, 1);
    sr.limit = 2501;
    CHECK(sdb_kv_tx_scan(db, &a, &sr, &tl, &e) < 0);
    CHECK_EQ_STR(e.msg, "result size limit exceeded: the specified limit (2501) is larger than the maximum allowed one (2500)");
    CHECK_OK(sdb_kv_state(db, &a, signer, &st, &e));
    CHECK_EQ_U64(st->txid, 5);
    CHECK_OK(sdb_state_verify(ver, sdb_slice_str("defaultdb"), 5, st->txhash.data,
                              (sdb_slice){ st->signature->signature.data, st->signature->signature.len }));
    sdb_verifier_free(ver);
    sdb_signer_free(signer);
    sdb_arena_deinit(&a);
    sdb_kvdb_close(db);
}

/* Packs the reference VerifiableEntry (built message by message) into the arena. */
static sdb_slice pack_ref(sdb_arena *a, const Immudb__Schema__VerifiableEntry *ve) {
    size_t n = protobuf_c_message_get_packed_size(&ve->base);
    uint8_t *p = sdb_arena_alloc(a, n ? n : 1);
    if (p) protobuf_c_message_pack(&ve->base, p);
    return sdb_slice_of(p, n);
}

/* The packed VerifiableGet answer (raw tx from the tx cache) is byte-identical to packing the
 * message, on a cache miss and on a hit, for a large tx with metadata, single-key txs, every
 * proveSinceTx shape; with a signing key the parts other than the (randomised) signature match. */
TEST(db_kv_verifiable_get_packed_matches_message) {
    sdb_kvdb *db = open_db("vgetp");
    CHECK(db != NULL);
    sdb_arena a;
    sdb_arena_init(&a, 0);
    sdb_kverr e;
    enum { N = 300 };
    static char keys[N][16];
    static Immudb__Schema__KeyValue kvs[N];
    static Immudb__Schema__KeyValue *ptrs[N];
    Immudb__Schema__KVMetadata md = IMMUDB__SCHEMA__KVMETADATA__INIT;
    Immudb__Schema__Expiration ex = IMMUDB__SCHEMA__EXPIRATION__INIT;
    ex.expiresat = 4102444800;   /* 2100-01-01 */
    md.expiration = &ex;
    md.nonindexable = 0;
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "big-%04d", i);
        kvs[i] = kv_of(keys[i], i % 3 ? "some value" : "");
        if (i % 7 == 0) kvs[i].metadata = &md;
        ptrs[i] = &kvs[i];
    }
    Immudb__Schema__SetRequest r = IMMUDB__SCHEMA__SET_REQUEST__INIT;
    r.kvs = ptrs;
    r.n_kvs = N;
    sdb_kv_batch b;
    sdb_commit_result res;
    CHECK_OK(sdb_kv_prepare_set(db, &a, &r, &b, &e));
    CHECK_OK(sdb_kv_commit_sync(db, &b, 1, &res, &e));
    for (int i = 0; i < 40; i++) {   /* more txs than cache slots, so slots get replaced */
        char k[16];
        snprintf(k, sizeof k, "small-%d", i);
        Immudb__Schema__KeyValue kv = kv_of(k, "v");
        CHECK_OK(prep_set(db, &a, &kv, 1, NULL, 0, &b, &e));
        CHECK_OK(sdb_kv_commit_sync(db, &b, 1, &res, &e));
    }
    uint64_t last = res.hdr.id;
    const char *probe[] = { "big-0000", "big-0007", "big-0150", "big-0299", "small-0", "small-39", "small-5" };
    uint64_t since[] = { 0, 1, 2, 20, last };
    for (int round = 0; round < 2; round++) {   /* round 0 fills the cache, round 1 hits it */
        for (size_t k = 0; k < sizeof probe / sizeof probe[0]; k++) {
            for (size_t s = 0; s < sizeof since / sizeof since[0]; s++) {
                Immudb__Schema__KeyRequest kr = IMMUDB__SCHEMA__KEY_REQUEST__INIT;
                kr.key.data = (uint8_t *)probe[k];
                kr.key.len = strlen(probe[k]);
                Immudb__Schema__VerifiableGetRequest vr = IMMUDB__SCHEMA__VERIFIABLE_GET_REQUEST__INIT;
                vr.keyrequest = &kr;
                vr.provesincetx = since[s];
                Immudb__Schema__VerifiableEntry *ve = NULL;
                CHECK_OK(sdb_kv_verifiable_get(db, &a, NULL, &vr, &ve, &e));
                sdb_slice want = pack_ref(&a, ve), got;
                CHECK(want.ptr != NULL);
                CHECK_OK(sdb_kv_verifiable_get_packed(db, &a, NULL, &vr, &got, &e));
                CHECK_EQ_MEM(got.ptr, got.len, want.ptr, want.len);
            }
        }
    }
    /* errors are the message path's errors */
    Immudb__Schema__KeyRequest kr = IMMUDB__SCHEMA__KEY_REQUEST__INIT;
    kr.key.data = (uint8_t *)"absent";
    kr.key.len = 6;
    Immudb__Schema__VerifiableGetRequest vr = IMMUDB__SCHEMA__VERIFIABLE_GET_REQUEST__INIT;
    vr.keyrequest = &kr;
    sdb_slice got;
    CHECK(sdb_kv_verifiable_get_packed(db, &a, NULL, &vr, &got, &e) < 0);
    CHECK_EQ_STR(e.msg, "tbtree: key not found");
    vr.provesincetx = last + 1;
    kr.key.data = (uint8_t *)"big-0001";
    kr.key.len = 8;
    CHECK(sdb_kv_verifiable_get_packed(db, &a, NULL, &vr, &got, &e) < 0);
    CHECK_EQ_U64(e.code, SDB_GRPC_INVALID_ARGUMENT);
    CHECK_EQ_STR(e.msg, "illegal state");
    /* signed: the answer unpacks, carries a signature, and all else equals the message path */
    sdb_signer *signer = NULL;
    CHECK_OK(sdb_signer_generate(&signer));
    vr.provesincetx = 3;
    Immudb__Schema__VerifiableEntry *ve = NULL;
    CHECK_OK(sdb_kv_verifiable_get(db, &a, signer, &vr, &ve, &e));
    CHECK_OK(sdb_kv_verifiable_get_packed(db, &a, signer, &vr, &got, &e));
    Immudb__Schema__VerifiableEntry *u = immudb__schema__verifiable_entry__unpack(NULL, got.len, got.ptr);
    CHECK(u != NULL && u->verifiabletx && u->verifiabletx->signature && u->verifiabletx->tx);
    CHECK_EQ_U64(u->verifiabletx->tx->n_entries, N);
    CHECK(u->verifiabletx->signature->signature.len > 0);
    Immudb__Schema__Signature *sig = u->verifiabletx->signature;
    u->verifiabletx->signature = NULL;   /* compare the rest */
    ve->verifiabletx->signature = NULL;
    sdb_slice want = pack_ref(&a, ve);
    size_t un = immudb__schema__verifiable_entry__get_packed_size(u);
    uint8_t *ub = sdb_arena_alloc(&a, un);
    CHECK(ub != NULL);
    immudb__schema__verifiable_entry__pack(u, ub);
    u->verifiabletx->signature = sig;
    immudb__schema__verifiable_entry__free_unpacked(u, NULL);
    CHECK_EQ_MEM(ub, un, want.ptr, want.len);
    sdb_signer_free(signer);
    sdb_arena_deinit(&a);
    sdb_kvdb_close(db);
}

/* Plain Set bytes read in place (src/db/setreq.c) give the batch and the errors of the generic
 * decoder; every other shape is declined (preconditions, metadata, unknown or cut fields). */
static int prep_wire(sdb_kvdb *db, sdb_arena *a, const uint8_t *p, size_t n, sdb_kv_batch *b, sdb_kverr *e,
                     int *no_wait) {
    sdb_setreq_it it;
    size_t nk;
    if (sdb_setreq_scan(sdb_slice_of(p, n), SIZE_MAX, &it, &nk)) return 1;
    *no_wait = it.no_wait;
    return sdb_kv_prepare_set_plain(db, a, &it, nk, b, e) ? -1 : 0;
}

TEST(db_kv_set_wire_in_place) {
    sdb_kvdb *db = open_db("wire");
    CHECK(db != NULL);
    sdb_arena a;
    sdb_arena_init(&a, 0);
    enum { N = 300 };
    static char keys[N][16];
    static Immudb__Schema__KeyValue kvs[N];
    static Immudb__Schema__KeyValue *ptrs[N];
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "key-%05d", i);
        kvs[i] = kv_of(keys[i], i % 3 ? "value" : "");
        ptrs[i] = &kvs[i];
    }
    Immudb__Schema__SetRequest r = IMMUDB__SCHEMA__SET_REQUEST__INIT;
    r.kvs = ptrs;
    r.n_kvs = N;
    r.nowait = 1;
    static uint8_t buf[65536];
    size_t len = immudb__schema__set_request__pack(&r, buf);
    CHECK(len < sizeof buf);
    sdb_kv_batch b, g;
    sdb_kverr e, ge;
    int nw = 0;
    CHECK_EQ_I64(prep_wire(db, &a, buf, len, &b, &e, &nw), 0);
    CHECK_EQ_I64(nw, 1);
    CHECK_OK(sdb_kv_prepare_set(db, &a, &r, &g, &ge));
    CHECK_EQ_U64(b.n, g.n);
    for (size_t i = 0; i < b.n; i++) {
        CHECK_EQ_MEM(b.kvs[i].key.ptr, b.kvs[i].key.len, g.kvs[i].key.ptr, g.kvs[i].key.len);
        CHECK_EQ_MEM(b.kvs[i].value.ptr, b.kvs[i].value.len, g.kvs[i].value.ptr, g.kvs[i].value.len);
    }
    /* past the item cap, counted as the dispatcher does: each KV, its key, its value unless empty
     * (not packed), noWait: 300 + 300 + 200 + 1 */
    sdb_setreq_it cit;
    size_t cn;
    CHECK_OK(sdb_setreq_scan(sdb_slice_of(buf, len), 801, &cit, &cn));
    CHECK_EQ_U64(cn, N);
    CHECK_EQ_I64(sdb_setreq_scan(sdb_slice_of(buf, len), 800, &cit, &cn), -1);
    /* a cut message, an unknown field, metadata, a precondition: declined */
    CHECK_EQ_I64(prep_wire(db, &a, buf, len - 1, &b, &e, &nw), 1);
    buf[len] = 0x48;   /* field 9, varint */
    buf[len + 1] = 1;
    CHECK_EQ_I64(prep_wire(db, &a, buf, len + 2, &b, &e, &nw), 1);
    Immudb__Schema__KVMetadata md = IMMUDB__SCHEMA__KVMETADATA__INIT;
    md.nonindexable = 1;
    kvs[7].metadata = &md;
    len = immudb__schema__set_request__pack(&r, buf);
    CHECK_EQ_I64(prep_wire(db, &a, buf, len, &b, &e, &nw), 1);
    kvs[7].metadata = NULL;
    Immudb__Schema__Precondition__KeyMustExistPrecondition ke =
        IMMUDB__SCHEMA__PRECONDITION__KEY_MUST_EXIST_PRECONDITION__INIT;
    ke.key = kvs[0].key;
    Immudb__Schema__Precondition pc = IMMUDB__SCHEMA__PRECONDITION__INIT;
    pc.precondition_case = IMMUDB__SCHEMA__PRECONDITION__PRECONDITION_KEY_MUST_EXIST;
    pc.keymustexist = &ke;
    Immudb__Schema__Precondition *pcs[] = { &pc };
    r.preconditions = pcs;
    r.n_preconditions = 1;
    len = immudb__schema__set_request__pack(&r, buf);
    CHECK_EQ_I64(prep_wire(db, &a, buf, len, &b, &e, &nw), 1);
    r.n_preconditions = 0;
    r.preconditions = NULL;
    /* a duplicate, then a later oversized key: the duplicate's error, as the generic path */
    char longkey[1100];
    memset(longkey, 'b', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = 0;
    kvs[200] = kv_of(keys[3], "w");
    kvs[250] = kv_of(longkey, "v");
    static uint8_t big[65536];
    len = immudb__schema__set_request__pack(&r, big);
    CHECK_EQ_I64(prep_wire(db, &a, big, len, &b, &e, &nw), -1);
    CHECK_EQ_STR(e.msg, "duplicated keys are not supported in single batch transaction");
    CHECK_EQ_U64(b.n, 200);
    kvs[200] = kv_of(keys[200], "v");
    len = immudb__schema__set_request__pack(&r, big);
    CHECK_EQ_I64(prep_wire(db, &a, big, len, &b, &e, &nw), -1);
    CHECK_EQ_STR(e.msg, "max key length exceeded");
    /* hand-made: a repeated key field (the last wins), noWait 0 after 1, an empty KV, no KVs */
    static const uint8_t rep[] = { 0x10, 0x01, 0x0a, 0x09, 0x0a, 0x01, 'a', 0x12, 0x01, 'v', 0x0a, 0x01, 'b',
                                   0x10, 0x00 };
    CHECK_EQ_I64(prep_wire(db, &a, rep, sizeof rep, &b, &e, &nw), 0);
    CHECK_EQ_I64(nw, 0);
    CHECK_EQ_U64(b.n, 1);
    CHECK_EQ_MEM(b.kvs[0].key.ptr, b.kvs[0].key.len, "\0b", 2);
    CHECK_EQ_MEM(b.kvs[0].value.ptr, b.kvs[0].value.len, "\0v", 2);
    static const uint8_t empty_kv[] = { 0x0a, 0x00 };
    CHECK_EQ_I64(prep_wire(db, &a, empty_kv, sizeof empty_kv, &b, &e, &nw), -1);
    CHECK_EQ_U64(e.code, SDB_GRPC_INVALID_ARGUMENT);
    CHECK_EQ_I64(prep_wire(db, &a, rep, 0, &b, &e, &nw), -1);
    CHECK_EQ_STR(e.msg, "no entries provided");
    sdb_arena_deinit(&a);
    sdb_kvdb_close(db);
}
