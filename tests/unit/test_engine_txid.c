/* test_engine_txid.c - the SDB_PRE_TX_ID_IS precondition: a tx whose entries embed their own id
 * commits only when it gets the id it was prepared for, atomically with the other preconditions. */
#include <stdio.h>
#include "testlib.h"
#include "engine/engine.h"

static sdb_engine *open_db(void) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/db", sdb_test_tmpdir());
    sdb_engine *e = NULL;
    CHECK_OK(sdb_engine_open(dir, NULL, &e));
    return e;
}

TEST(tx_id_precondition) {
    sdb_engine *e = open_db();
    sdb_kv kv = { sdb_slice_str("k"), sdb_slice_str("v"), { 0 } };
    sdb_commit_result r;
    size_t bad = 99;
    sdb_precondition p[2] = {
        { .kind = SDB_PRE_KEY_MUST_NOT_EXIST, .key = sdb_slice_str("zz") },
        { .kind = SDB_PRE_TX_ID_IS, .tx_id = 2 },
    };
    /* the first tx gets id 1, not 2 */
    CHECK_RC(sdb_engine_commit_sync(e, &kv, 1, p, 2, &r, &bad), SEALDB_PRECONDITION);
    CHECK_EQ_U64(bad, 1);
    CHECK_EQ_U64(sdb_engine_last_tx(e), 0);
    p[1].tx_id = 1;
    CHECK_OK(sdb_engine_commit_sync(e, &kv, 1, p, 2, &r, &bad));
    CHECK_EQ_U64(r.hdr.id, 1);
    /* a key with the id precondition is invalid */
    sdb_precondition q = { .kind = SDB_PRE_TX_ID_IS, .key = sdb_slice_str("k"), .tx_id = 2 };
    CHECK_RC(sdb_engine_commit_sync(e, &kv, 1, &q, 1, &r, &bad), SEALDB_INVALID);
    /* the other preconditions still apply */
    p[0] = (sdb_precondition){ .kind = SDB_PRE_KEY_MUST_EXIST, .key = sdb_slice_str("zz") };
    p[1].tx_id = 2;
    CHECK_RC(sdb_engine_commit_sync(e, &kv, 1, p, 2, &r, &bad), SEALDB_PRECONDITION);
    CHECK_EQ_U64(bad, 0);
    p[0].key = sdb_slice_str("k");
    CHECK_OK(sdb_engine_commit_sync(e, &kv, 1, p, 2, &r, &bad));
    CHECK_EQ_U64(r.hdr.id, 2);
    sdb_engine_close(e);
}
