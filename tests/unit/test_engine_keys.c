/* test_engine_keys.c - key reads through the index: get (latest, at tx, at revision, since tx),
 * history, scan, count, metadata (deleted, expired, non-indexable), preconditions, index rebuild,
 * and the public sealdb.h API including the verified get. */
#include <stdio.h>
#include <unistd.h>
#include "testlib.h"
#include "engine/engine.h"
#include "engine/engine_int.h"
#include "sealdb.h"

static char dir_[1024];
static sdb_engine *open_db(void) {
    snprintf(dir_, sizeof dir_, "%s/db", sdb_test_tmpdir());
    sdb_engine_opts o;
    sdb_engine_opts_default(&o);
    o.segment_size = 1u << 20;
    sdb_engine *e = NULL;
    int rc = sdb_engine_open(dir_, &o, &e);
    if (rc) fprintf(stderr, "open: %s\n", sdb_engine_last_open_error());
    CHECK_OK(rc);
    return e;
}
static uint64_t put_md(sdb_engine *e, const char *k, const char *v, sdb_kv_md md) {
    sdb_kv kv = { .key = sdb_slice_str(k), .value = sdb_slice_str(v), .md = md };
    sdb_commit_result r;
    CHECK_OK(sdb_engine_commit_sync(e, &kv, 1, NULL, 0, &r, NULL));
    return r.hdr.id;
}
static uint64_t put(sdb_engine *e, const char *k, const char *v) { return put_md(e, k, v, (sdb_kv_md){ 0 }); }

#define CHECK_VAL(ver, s) CHECK_EQ_MEM((ver).value.ptr, (ver).value.len, s, strlen(s))

TEST(get_modes) {
    sdb_engine *e = open_db();
    put(e, "a", "a1");                       /* tx 1 */
    put(e, "b", "b1");                       /* tx 2 */
    put(e, "a", "a2");                       /* tx 3 */
    put_md(e, "a", "", (sdb_kv_md){ .deleted = 1 });   /* tx 4 */
    put(e, "a", "a4");                       /* tx 5 */
    sdb_kv_version v;
    sdb_kv_version_init(&v);
    CHECK_OK(sdb_engine_get(e, sdb_slice_str("a"), NULL, &v));
    CHECK_VAL(v, "a4");
    CHECK_EQ_U64(v.tx_id, 5);
    CHECK_EQ_U64(v.revision, 4);
    CHECK_EQ_U64(v.entry_idx, 0);
    uint8_t h[32];
    sdb_sha256("a4", 2, h);
    CHECK_EQ_MEM(v.hvalue.b, 32, h, 32);
    CHECK_RC(sdb_engine_get(e, sdb_slice_str("zz"), NULL, &v), SEALDB_NOTFOUND);
    sdb_get_opts o = { .at_tx = 3 };
    CHECK_OK(sdb_engine_get(e, sdb_slice_str("a"), &o, &v));
    CHECK_VAL(v, "a2");
    CHECK_EQ_U64(v.revision, 0);
    o.at_tx = 2;
    CHECK_RC(sdb_engine_get(e, sdb_slice_str("a"), &o, &v), SEALDB_NOTFOUND);
    o.at_tx = 9;
    CHECK_RC(sdb_engine_get(e, sdb_slice_str("a"), &o, &v), SEALDB_RANGE);
    o = (sdb_get_opts){ .at_tx = 1, .at_revision = 1 };
    CHECK_RC(sdb_engine_get(e, sdb_slice_str("a"), &o, &v), SEALDB_INVALID);
    o = (sdb_get_opts){ .at_revision = 1 };
    CHECK_OK(sdb_engine_get(e, sdb_slice_str("a"), &o, &v));
    CHECK_VAL(v, "a1");
    CHECK_EQ_U64(v.revision, 1);
    o.at_revision = -1;   /* the one before the latest: the deletion */
    CHECK_OK(sdb_engine_get(e, sdb_slice_str("a"), &o, &v));
    CHECK(v.md.deleted);
    CHECK_EQ_U64(v.revision, 3);
    o.at_revision = -2;
    CHECK_OK(sdb_engine_get(e, sdb_slice_str("a"), &o, &v));
    CHECK_VAL(v, "a2");
    CHECK_EQ_U64(v.revision, 2);
    o.at_revision = 5;
    CHECK_RC(sdb_engine_get(e, sdb_slice_str("a"), &o, &v), SEALDB_INVALID);
    o.at_revision = -4;
    CHECK_RC(sdb_engine_get(e, sdb_slice_str("a"), &o, &v), SEALDB_INVALID);
    o = (sdb_get_opts){ .since_tx = 6 };
    CHECK_RC(sdb_engine_get(e, sdb_slice_str("a"), &o, &v), SEALDB_RANGE);
    o = (sdb_get_opts){ .since_tx = 5 };
    CHECK_OK(sdb_engine_get(e, sdb_slice_str("b"), &o, &v));
    CHECK_VAL(v, "b1");
    CHECK_EQ_U64(sdb_engine_indexed_upto(e), 5);
    sdb_kv_version_deinit(&v);
    sdb_engine_close(e);
}

TEST(metadata_deleted_expired_nonindexable) {
    sdb_engine *e = open_db();
    put(e, "d", "x");
    put_md(e, "d", "", (sdb_kv_md){ .deleted = 1 });
    put_md(e, "x", "soon", (sdb_kv_md){ .has_expires = 1, .expires_at = 1000 });   /* long expired */
    put_md(e, "f", "later", (sdb_kv_md){ .has_expires = 1, .expires_at = 4000000000 });
    uint64_t ni = put_md(e, "n", "hidden", (sdb_kv_md){ .non_indexable = 1 });
    sdb_kv_version v;
    sdb_kv_version_init(&v);
    CHECK_OK(sdb_engine_get(e, sdb_slice_str("d"), NULL, &v));
    CHECK(v.md.deleted);
    CHECK_OK(sdb_engine_get(e, sdb_slice_str("x"), NULL, &v));
    CHECK(v.expired);
    CHECK(v.md.has_expires);
    CHECK_EQ_I64(v.md.expires_at, 1000);
    CHECK(v.md_len > 0);
    CHECK_OK(sdb_engine_get(e, sdb_slice_str("f"), NULL, &v));
    CHECK(!v.expired);
    CHECK_RC(sdb_engine_get(e, sdb_slice_str("n"), NULL, &v), SEALDB_NOTFOUND);
    sdb_get_opts o = { .at_tx = ni };
    CHECK_OK(sdb_engine_get(e, sdb_slice_str("n"), &o, &v));
    CHECK_VAL(v, "hidden");
    CHECK(v.md.non_indexable);
    /* scan skips dead keys; count includes them */
    sdb_kv_list l;
    sdb_kv_list_init(&l);
    sdb_scan_opts so = { 0 };
    CHECK_OK(sdb_engine_scan(e, &so, &l));
    CHECK_EQ_U64(l.n, 1);
    CHECK_EQ_MEM(l.v[0].key.ptr, l.v[0].key.len, "f", 1);
    sdb_kv_list_deinit(&l);
    uint64_t n;
    CHECK_OK(sdb_engine_count(e, sdb_slice_of("", 0), 0, &n));
    CHECK_EQ_U64(n, 3);
    sdb_kv_version_deinit(&v);
    sdb_engine_close(e);
}

/* get prefetches the value's journal line and ends its index snapshot before copying the value:
 * values of every size class (empty, within and across cache lines, past the mapped-read limit)
 * come back exact with the hash of what was returned, and a prefetch of a bad position is a no-op. */
TEST(get_values_of_every_size) {
    static const size_t lens[] = { 0, 1, 31, 63, 64, 65, 127, 129, 4095, 4096, 4097, 70000 };
    enum { NL = sizeof lens / sizeof lens[0] };
    sdb_engine *e = open_db();
    uint8_t *val = malloc(70001);   /* round r writes val + r */
    for (size_t i = 0; i < 70001; i++) val[i] = (uint8_t)(i * 31 + 7);
    char k[16];
    for (size_t r = 0; r < 2; r++)   /* two rounds: the second version of each key is read */
        for (size_t i = 0; i < NL; i++) {
            snprintf(k, sizeof k, "v%02zu", i);
            sdb_kv kv = { .key = sdb_slice_str(k), .value = sdb_slice_of(val + r, lens[i]) };
            CHECK_OK(sdb_engine_commit_sync(e, &kv, 1, NULL, 0, NULL, NULL));
        }
    sdb_kv_version v;
    sdb_kv_version_init(&v);
    for (size_t i = 0; i < NL; i++) {
        snprintf(k, sizeof k, "v%02zu", i);
        CHECK_OK(sdb_engine_get(e, sdb_slice_str(k), NULL, &v));
        CHECK_EQ_U64(v.revision, 2);
        CHECK_EQ_MEM(v.value.ptr, v.value.len, val + 1, lens[i]);
        uint8_t h[32];
        sdb_sha256(val + 1, lens[i], h);
        CHECK_EQ_MEM(v.hvalue.b, 32, h, 32);
        CHECK(!v.expired);
        sdb_get_opts o = { .no_value = 1 };
        CHECK_OK(sdb_engine_get(e, sdb_slice_str(k), &o, &v));
        CHECK_EQ_U64(v.value.len, 0);
        CHECK_EQ_U64(v.vlen, lens[i]);
        CHECK_EQ_MEM(v.hvalue.b, 32, h, 32);
        o = (sdb_get_opts){ .at_revision = 1 };
        CHECK_OK(sdb_engine_get(e, sdb_slice_str(k), &o, &v));
        CHECK_EQ_MEM(v.value.ptr, v.value.len, val, lens[i]);
    }
    sdb_journal_prefetch(e->j, UINT64_MAX, 64);
    sdb_journal_prefetch(e->j, 0, SIZE_MAX);
    sdb_journal_prefetch(e->j, UINT64_MAX - 10, SIZE_MAX);
    sdb_kv_version_deinit(&v);
    free(val);
    sdb_engine_close(e);
}

TEST(history_and_scan) {
    sdb_engine *e = open_db();
    for (int i = 1; i <= 5; i++) { char v[8]; snprintf(v, 8, "h%d", i); put(e, "hist", v); }
    const char *keys[] = { "p/a", "p/b", "p/c", "q/a", "p/d" };
    sdb_kv kvs[5];
    for (int i = 0; i < 5; i++) kvs[i] = (sdb_kv){ .key = sdb_slice_str(keys[i]), .value = sdb_slice_str(keys[i]) };
    CHECK_OK(sdb_engine_commit_sync(e, kvs, 5, NULL, 0, NULL, NULL));
    sdb_kv_list l;
    sdb_kv_list_init(&l);
    uint64_t total;
    CHECK_OK(sdb_engine_history(e, sdb_slice_str("hist"), 1, 2, 0, 0, &l, &total));
    CHECK_EQ_U64(total, 5);
    CHECK_EQ_U64(l.n, 2);
    CHECK_VAL(l.v[0], "h2");
    CHECK_EQ_U64(l.v[0].revision, 2);
    CHECK_VAL(l.v[1], "h3");
    sdb_kv_list_deinit(&l);
    CHECK_OK(sdb_engine_history(e, sdb_slice_str("hist"), 0, 0, 1, 0, &l, &total));
    CHECK_EQ_U64(l.n, 5);
    CHECK_VAL(l.v[0], "h5");
    CHECK_EQ_U64(l.v[0].revision, 5);
    sdb_kv_list_deinit(&l);
    CHECK_RC(sdb_engine_history(e, sdb_slice_str("nope"), 0, 0, 0, 0, &l, &total), SEALDB_NOTFOUND);
    sdb_kv_list_deinit(&l);

    sdb_scan_opts so = { .prefix = sdb_slice_str("p/") };
    CHECK_OK(sdb_engine_scan(e, &so, &l));
    CHECK_EQ_U64(l.n, 4);
    CHECK_EQ_MEM(l.v[0].key.ptr, l.v[0].key.len, "p/a", 3);
    CHECK_EQ_MEM(l.v[3].key.ptr, l.v[3].key.len, "p/d", 3);
    CHECK_EQ_U64(l.v[3].tx_id, 6);
    CHECK_EQ_U64(l.v[3].entry_idx, 4);
    CHECK_VAL(l.v[3], "p/d");
    sdb_kv_list_deinit(&l);
    so = (sdb_scan_opts){ .prefix = sdb_slice_str("p/"), .desc = 1, .limit = 2, .seek = sdb_slice_str("p/d") };
    CHECK_OK(sdb_engine_scan(e, &so, &l));
    CHECK_EQ_U64(l.n, 2);
    CHECK_EQ_MEM(l.v[0].key.ptr, l.v[0].key.len, "p/c", 3);
    CHECK_EQ_MEM(l.v[1].key.ptr, l.v[1].key.len, "p/b", 3);
    sdb_kv_list_deinit(&l);
    uint64_t n;
    CHECK_OK(sdb_engine_count(e, sdb_slice_str("p/"), 0, &n));
    CHECK_EQ_U64(n, 4);
    sdb_engine_close(e);
}

TEST(preconditions_atomic) {
    sdb_engine *e = open_db();
    put(e, "k", "v1");   /* tx 1 */
    sdb_kv kv = { .key = sdb_slice_str("k"), .value = sdb_slice_str("v2") };
    sdb_precondition p = { SDB_PRE_KEY_MUST_NOT_EXIST, sdb_slice_str("k"), 0 };
    size_t bad = 99;
    CHECK_RC(sdb_engine_commit_sync(e, &kv, 1, &p, 1, NULL, &bad), SEALDB_PRECONDITION);
    CHECK_EQ_U64(bad, 0);
    sdb_precondition ps[2] = { { SDB_PRE_KEY_MUST_EXIST, sdb_slice_str("k"), 0 },
                               { SDB_PRE_KEY_NOT_MODIFIED_AFTER, sdb_slice_str("k"), 1 } };
    sdb_commit_result r;
    CHECK_OK(sdb_engine_commit_sync(e, &kv, 1, ps, 2, &r, NULL));
    CHECK_EQ_U64(r.hdr.id, 2);
    CHECK_RC(sdb_engine_commit_sync(e, &kv, 1, ps, 2, NULL, &bad), SEALDB_PRECONDITION);
    CHECK_EQ_U64(bad, 1);
    ps[0].key = sdb_slice_str("other");
    CHECK_RC(sdb_engine_commit_sync(e, &kv, 1, ps, 1, NULL, &bad), SEALDB_PRECONDITION);
    CHECK_EQ_U64(sdb_engine_last_tx(e), 2);
    sdb_engine_close(e);
}

TEST(index_rebuilt_when_deleted) {
    sdb_engine *e = open_db();
    for (int i = 0; i < 300; i++) { char k[16]; snprintf(k, 16, "k%03d", i); put(e, k, k); }
    sdb_engine_close(e);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s/index'", dir_);
    CHECK(system(cmd) == 0);
    e = open_db();
    uint64_t n;
    CHECK_OK(sdb_engine_count(e, sdb_slice_of("", 0), 0, &n));
    CHECK_EQ_U64(n, 300);
    sdb_kv_version v;
    sdb_kv_version_init(&v);
    CHECK_OK(sdb_engine_get(e, sdb_slice_str("k123"), NULL, &v));
    CHECK_VAL(v, "k123");
    CHECK_EQ_U64(v.tx_id, 124);
    sdb_kv_version_deinit(&v);
    sdb_engine_close(e);
}

TEST(public_api) {
    snprintf(dir_, sizeof dir_, "%s/pub", sdb_test_tmpdir());
    sealdb *db = NULL;
    CHECK_OK(sealdb_create(&db));
    CHECK_OK(sealdb_set_sync(db, 1));
    CHECK_RC(sealdb_open(db, dir_, 0), SEALDB_NOTFOUND);
    CHECK_OK(sealdb_open(db, dir_, SEALDB_OPEN_CREATE));
    CHECK_RC(sealdb_set_sync(db, 0), SEALDB_INVALID);
    sealdb_bytes k = { "hello", 5 }, v = { "world", 5 };
    uint64_t tx;
    CHECK_OK(sealdb_set(db, k, v, &tx));
    CHECK_EQ_U64(tx, 1);
    sealdb_dbstate st = { 0 };
    sealdb_item *en = NULL;
    CHECK_OK(sealdb_verified_get(db, k, &st, &en));
    CHECK_EQ_U64(st.tx_id, 1);
    sealdb_bytes got = sealdb_item_value(en);
    CHECK_EQ_MEM(got.ptr, got.len, "world", 5);
    CHECK_EQ_U64(sealdb_item_tx(en), 1);
    CHECK_EQ_U64(sealdb_item_revision(en), 1);
    sealdb_item_free(en);
    for (int i = 0; i < 20; i++) {
        char kb[16];
        snprintf(kb, 16, "key%d", i);
        CHECK_OK(sealdb_set(db, (sealdb_bytes){ kb, strlen(kb) }, v, NULL));
    }
    CHECK_OK(sealdb_set(db, k, (sealdb_bytes){ "again", 5 }, &tx));
    CHECK_OK(sealdb_verified_get(db, k, &st, &en));
    CHECK_EQ_U64(st.tx_id, tx);
    CHECK_EQ_U64(sealdb_item_revision(en), 2);
    sealdb_item_free(en);
    /* a forged trusted state is caught */
    sealdb_dbstate bad = st;
    bad.alh[0] ^= 1;
    bad.tx_id = 3;
    CHECK_RC(sealdb_verified_get(db, k, &bad, &en), SEALDB_TAMPERED);
    /* trusted state = the current one (and the entry in the current tx): no dual proof is built,
     * the Alh values are compared, so a forged Alh at the current tx id is still caught */
    sealdb_dbstate same = st;
    CHECK_OK(sealdb_verified_get(db, k, &same, &en));
    CHECK_EQ_U64(same.tx_id, tx);
    CHECK_EQ_MEM(same.alh, 32, st.alh, 32);
    sealdb_item_free(en);
    en = NULL;
    same.alh[5] ^= 0x10;
    CHECK_RC(sealdb_verified_get(db, k, &same, &en), SEALDB_TAMPERED);
    CHECK(en == NULL);
    CHECK_RC(sealdb_set_if_absent(db, k, v, NULL), SEALDB_PRECONDITION);
    CHECK_OK(sealdb_delete(db, k, NULL));
    CHECK_RC(sealdb_get(db, k, &en), SEALDB_NOTFOUND);
    CHECK_RC(sealdb_delete(db, k, NULL), SEALDB_NOTFOUND);
    CHECK_OK(sealdb_set_if_absent(db, k, v, NULL));
    sealdb_items *l = NULL;
    CHECK_OK(sealdb_history(db, k, 0, 0, 0, &l));
    CHECK_EQ_U64(sealdb_items_count(l), 4);
    CHECK(sealdb_item_deleted(sealdb_items_at(l, 2)));
    sealdb_items_free(l);
    CHECK_OK(sealdb_scan(db, (sealdb_bytes){ "key1", 4 }, (sealdb_bytes){ NULL, 0 }, 0, 0, &l));
    CHECK_EQ_U64(sealdb_items_count(l), 11);   /* key1, key10..key19 */
    sealdb_items_free(l);
    uint64_t n;
    CHECK_OK(sealdb_count(db, (sealdb_bytes){ "key", 3 }, &n));
    CHECK_EQ_U64(n, 20);
    CHECK_OK(sealdb_close(db));
    CHECK_OK(sealdb_verify_dir(dir_, 0));
}
