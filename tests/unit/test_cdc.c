/* test_cdc.c - sealdb-cdc's pure parts: the pgoutput decoder on hand-built messages (every message
 * type, truncations at every byte, lying counts), the relation cache, and the canonical JSON of row
 * keys and versions. */
#include "testlib.h"
#include "cdc/cdc.h"

typedef struct mb { uint8_t b[4096]; size_t n; } mb;
static void u8(mb *m, uint8_t v) { m->b[m->n++] = v; }
static void u16(mb *m, uint16_t v) { sdb_put_u16be(m->b + m->n, v); m->n += 2; }
static void u32(mb *m, uint32_t v) { sdb_put_u32be(m->b + m->n, v); m->n += 4; }
static void u64(mb *m, uint64_t v) { sdb_put_u64be(m->b + m->n, v); m->n += 8; }
static void str(mb *m, const char *s) { size_t l = strlen(s) + 1; memcpy(m->b + m->n, s, l); m->n += l; }
static void col_t(mb *m, const char *v) { u8(m, 't'); u32(m, (uint32_t)strlen(v)); memcpy(m->b + m->n, v, strlen(v)); m->n += strlen(v); }

static mb relation(void) {   /* public.acct (id int4 key, name text, note text) */
    mb m = { .n = 0 };
    u8(&m, 'R'); u32(&m, 16384); str(&m, "public"); str(&m, "acct"); u8(&m, 'd'); u16(&m, 3);
    u8(&m, 1); str(&m, "id"); u32(&m, 23); u32(&m, 0xffffffff);
    u8(&m, 0); str(&m, "name"); u32(&m, 25); u32(&m, 0xffffffff);
    u8(&m, 0); str(&m, "note"); u32(&m, 25); u32(&m, 0xffffffff);
    return m;
}

static void every_prefix_fails(const mb *m) {
    pgo_msg x;
    for (size_t i = 0; i < m->n; i++) CHECK(pgo_decode(m->b, i, &x) == SEALDB_PROTOCOL);
    /* and one trailing byte too many */
    mb y = *m;
    y.b[y.n++] = 0;
    CHECK(pgo_decode(y.b, y.n, &x) == SEALDB_PROTOCOL);
}

TEST(cdc_begin_commit_origin_type) {
    mb m = { .n = 0 };
    u8(&m, 'B'); u64(&m, 0x16B3748ULL); u64(&m, 123456789); u32(&m, 731);
    pgo_msg x;
    CHECK(pgo_decode(m.b, m.n, &x) == SEALDB_OK);
    CHECK(x.type == PGO_BEGIN);
    CHECK_EQ_U64(x.lsn, 0x16B3748ULL); CHECK_EQ_I64(x.ts, 123456789); CHECK_EQ_U64(x.xid, 731);
    every_prefix_fails(&m);
    m.n = 0;
    u8(&m, 'C'); u8(&m, 0); u64(&m, 0x100); u64(&m, 0x1A0); u64(&m, 5);
    CHECK(pgo_decode(m.b, m.n, &x) == SEALDB_OK);
    CHECK(x.type == PGO_COMMIT && x.lsn == 0x100 && x.end_lsn == 0x1A0 && x.ts == 5);
    every_prefix_fails(&m);
    m.n = 0;
    u8(&m, 'O'); u64(&m, 7); str(&m, "origin1");
    CHECK(pgo_decode(m.b, m.n, &x) == SEALDB_OK);
    CHECK_EQ_STR(x.relname, "origin1");
    every_prefix_fails(&m);
    m.n = 0;
    u8(&m, 'Y'); u32(&m, 99999); str(&m, "public"); str(&m, "mood");
    CHECK(pgo_decode(m.b, m.n, &x) == SEALDB_OK);
    CHECK(x.type == PGO_TYPE && x.relid == 99999);
    every_prefix_fails(&m);
    m.n = 0;
    u8(&m, 'M'); u8(&m, 1); u64(&m, 8); str(&m, "pfx"); u32(&m, 3); u8(&m, 'a'); u8(&m, 'b'); u8(&m, 'c');
    CHECK(pgo_decode(m.b, m.n, &x) == SEALDB_OK);
    every_prefix_fails(&m);
    u8(&m, 0);
    m.b[0] = 'Z';   /* unknown message type */
    CHECK(pgo_decode(m.b, m.n, &x) == SEALDB_PROTOCOL);
    CHECK(pgo_decode(m.b, 0, &x) == SEALDB_PROTOCOL);
}

TEST(cdc_relation_and_cache) {
    mb m = relation();
    pgo_msg x;
    CHECK(pgo_decode(m.b, m.n, &x) == SEALDB_OK);
    CHECK_EQ_U64(x.ncols, 3);
    CHECK_EQ_STR(x.nspname, "public"); CHECK_EQ_STR(x.relname, "acct");
    CHECK_EQ_STR(x.relcols[1].name, "name"); CHECK_EQ_U64(x.relcols[1].type_oid, 25);
    CHECK(x.relcols[0].flags == 1 && x.relcols[0].typmod == -1);
    pgo_relcache rc = { 0 };
    CHECK(pgo_relcache_put(&rc, &x) == SEALDB_OK);
    CHECK(pgo_relcache_put(&rc, &x) == SEALDB_OK);   /* a repeat replaces, not appends */
    CHECK_EQ_U64(rc.n, 1);
    pgo_rel *r = pgo_relcache_get(&rc, 16384);
    CHECK(r && r->nkey == 1 && r->key[0] == 1 && r->key[1] == 0);
    CHECK(pgo_relcache_get(&rc, 1) == NULL);
    pgo_msg_free(&x);
    pgo_relcache_free(&rc);
    every_prefix_fails(&m);
    /* a column count the message cannot hold is refused before any allocation */
    mb big = { .n = 0 };
    u8(&big, 'R'); u32(&big, 1); str(&big, "s"); str(&big, "t"); u8(&big, 'd'); u16(&big, 65535);
    CHECK(pgo_decode(big.b, big.n, &x) == SEALDB_PROTOCOL);
}

TEST(cdc_insert_update_delete_truncate) {
    mb m = { .n = 0 };
    u8(&m, 'I'); u32(&m, 16384); u8(&m, 'N'); u16(&m, 3); col_t(&m, "7"); u8(&m, 'n'); col_t(&m, "x");
    pgo_msg x;
    CHECK(pgo_decode(m.b, m.n, &x) == SEALDB_OK);
    CHECK(x.type == PGO_INSERT && x.new_tup.n == 3 && x.new_tup.cols[1].kind == 'n');
    CHECK_EQ_MEM(x.new_tup.cols[0].val, x.new_tup.cols[0].len, "7", 1);
    pgo_msg_free(&x);
    every_prefix_fails(&m);
    m.n = 0;   /* update with the old key ('K') and an unchanged TOAST column */
    u8(&m, 'U'); u32(&m, 16384); u8(&m, 'K'); u16(&m, 3); col_t(&m, "7"); u8(&m, 'n'); u8(&m, 'n');
    u8(&m, 'N'); u16(&m, 3); col_t(&m, "8"); col_t(&m, "bob"); u8(&m, 'u');
    CHECK(pgo_decode(m.b, m.n, &x) == SEALDB_OK);
    CHECK(x.old_kind == 'K' && x.old_tup.n == 3 && x.new_tup.cols[2].kind == 'u');
    pgo_msg_free(&x);
    every_prefix_fails(&m);
    m.n = 0;   /* update without an old tuple */
    u8(&m, 'U'); u32(&m, 16384); u8(&m, 'N'); u16(&m, 1); col_t(&m, "1");
    CHECK(pgo_decode(m.b, m.n, &x) == SEALDB_OK && x.old_kind == 0);
    pgo_msg_free(&x);
    m.n = 0;
    u8(&m, 'D'); u32(&m, 16384); u8(&m, 'O'); u16(&m, 2); col_t(&m, "1"); col_t(&m, "z");
    CHECK(pgo_decode(m.b, m.n, &x) == SEALDB_OK && x.old_kind == 'O' && x.old_tup.n == 2);
    pgo_msg_free(&x);
    every_prefix_fails(&m);
    m.b[5] = 'N';   /* a delete needs K or O */
    CHECK(pgo_decode(m.b, m.n, &x) == SEALDB_PROTOCOL);
    m.n = 0;
    u8(&m, 'T'); u32(&m, 2); u8(&m, 1); u32(&m, 16384); u32(&m, 16390);
    CHECK(pgo_decode(m.b, m.n, &x) == SEALDB_OK && x.nrelids == 2 && x.relids[1] == 16390 && x.trunc_opts == 1);
    pgo_msg_free(&x);
    every_prefix_fails(&m);
    m.n = 0;   /* a relid count larger than the message */
    u8(&m, 'T'); u32(&m, 0x40000000); u8(&m, 0); u32(&m, 1);
    CHECK(pgo_decode(m.b, m.n, &x) == SEALDB_PROTOCOL);
    m.n = 0;   /* a column length beyond the message, an unknown column kind, a huge column count */
    u8(&m, 'I'); u32(&m, 1); u8(&m, 'N'); u16(&m, 1); u8(&m, 't'); u32(&m, 0xfffffff0);
    CHECK(pgo_decode(m.b, m.n, &x) == SEALDB_PROTOCOL);
    m.n = 0;
    u8(&m, 'I'); u32(&m, 1); u8(&m, 'N'); u16(&m, 1); u8(&m, 'q');
    CHECK(pgo_decode(m.b, m.n, &x) == SEALDB_PROTOCOL);
    m.n = 0;
    u8(&m, 'I'); u32(&m, 1); u8(&m, 'N'); u16(&m, 60000); u8(&m, 'n');
    CHECK(pgo_decode(m.b, m.n, &x) == SEALDB_PROTOCOL);
}

static pgo_rel *acct(pgo_relcache *rc) {
    mb m = relation();
    pgo_msg x;
    CHECK(pgo_decode(m.b, m.n, &x) == SEALDB_OK);
    CHECK(pgo_relcache_put(rc, &x) == SEALDB_OK);
    pgo_msg_free(&x);
    return pgo_relcache_get(rc, 16384);
}

TEST(cdc_row_json) {
    pgo_relcache rc = { 0 };
    pgo_rel *r = acct(&rc);
    mb m = { .n = 0 };
    u8(&m, 'I'); u32(&m, 16384); u8(&m, 'N'); u16(&m, 3); col_t(&m, "42");
    col_t(&m, "a\"b\\c\n\t\x01 é"); u8(&m, 'n');
    pgo_msg x;
    CHECK(pgo_decode(m.b, m.n, &x) == SEALDB_OK);
    sdb_buf b; sdb_buf_init(&b);
    CHECK(cdc_json_tuple(&b, r, &x.new_tup, 1, NULL, NULL) == SEALDB_OK);
    CHECK_EQ_MEM(b.ptr, b.len, "{\"id\":\"42\"}", 11);
    sdb_buf_reset(&b);
    CHECK(cdc_json_tuple(&b, r, &x.new_tup, 0, NULL, NULL) == SEALDB_OK);
    const char *want = "{\"id\":\"42\",\"name\":\"a\\\"b\\\\c\\n\\t\\u0001 é\",\"note\":null}";
    CHECK_EQ_MEM(b.ptr, b.len, want, strlen(want));
    pgo_msg_free(&x);
    /* unchanged TOAST: from the previous version, or null and flagged when it is unknown */
    m.n = 0;
    u8(&m, 'U'); u32(&m, 16384); u8(&m, 'N'); u16(&m, 3); col_t(&m, "42"); col_t(&m, "n"); u8(&m, 'u');
    CHECK(pgo_decode(m.b, m.n, &x) == SEALDB_OK);
    const char *names[] = { "id", "note" }, *vals[] = { "42", "long text" };
    size_t lens[] = { 2, 9 };
    int nulls[] = { 0, 0 };
    cdc_prev_row prev = { names, vals, lens, nulls, 2 };
    int inc = 0;
    sdb_buf_reset(&b);
    CHECK(cdc_json_tuple(&b, r, &x.new_tup, 0, &prev, &inc) == SEALDB_OK && inc == 0);
    want = "{\"id\":\"42\",\"name\":\"n\",\"note\":\"long text\"}";
    CHECK_EQ_MEM(b.ptr, b.len, want, strlen(want));
    sdb_buf_reset(&b);
    CHECK(cdc_json_tuple(&b, r, &x.new_tup, 0, NULL, &inc) == SEALDB_OK && inc == 1);
    want = "{\"id\":\"42\",\"name\":\"n\",\"note\":null}";
    CHECK_EQ_MEM(b.ptr, b.len, want, strlen(want));
    /* a tuple that does not match its relation */
    x.new_tup.n = 2;
    CHECK(cdc_json_tuple(&b, r, &x.new_tup, 0, NULL, NULL) == SEALDB_PROTOCOL);
    x.new_tup.n = 3;
    pgo_msg_free(&x);
    sdb_buf_deinit(&b);
    pgo_relcache_free(&rc);
}

static void canon_ok(const char *in, const char *want) {
    sdb_buf b; sdb_buf_init(&b);
    int rc = cdc_json_canon_flat(in, strlen(in), &b);
    if (rc != SEALDB_OK) TEST_FAIL_("canon(%s) failed: %d", in, rc);
    CHECK_EQ_MEM(b.ptr, b.len, want, strlen(want));
    sdb_buf_deinit(&b);
}
static void canon_bad(const char *in) {
    sdb_buf b; sdb_buf_init(&b);
    if (cdc_json_canon_flat(in, strlen(in), &b) != SEALDB_INVALID) TEST_FAIL_("canon(%s) accepted", in);
    sdb_buf_deinit(&b);
}

TEST(cdc_key_canonical_form) {
    canon_ok("{\"id\":42}", "{\"id\":\"42\"}");
    canon_ok(" { \"id\" : \"42\" } ", "{\"id\":\"42\"}");
    canon_ok("{\"k1\":\"x\",\"k2\":-1.50}", "{\"k1\":\"x\",\"k2\":\"-1.50\"}");
    canon_ok("{\"a\":true,\"b\":false,\"c\":null}", "{\"a\":\"true\",\"b\":\"false\",\"c\":null}");
    canon_ok("{\"s\":\"q\\\"\\\\\\/\\n\\u00e9\\u0001\"}", "{\"s\":\"q\\\"\\\\/\\n\xc3\xa9\\u0001\"}");
    canon_bad(""); canon_bad("{}"); canon_bad("[1]"); canon_bad("{\"id\":1"); canon_bad("{\"id\":1}x");
    canon_bad("{\"id\":01}"); canon_bad("{\"id\":1e5}"); canon_bad("{\"id\":1.}"); canon_bad("{\"id\":{}}");
    canon_bad("{\"id\":\"\\u0000\"}"); canon_bad("{\"id\":\"\\ud800\"}"); canon_bad("{\"\":1}");
    canon_bad("{\"id\":\"a\nb\"}"); canon_bad("{\"id\":\"\\x\"}"); canon_bad("{\"id\":1,}"); canon_bad("{id:1}");
}

TEST(cdc_lsn_and_time) {
    char s[24], t[40];
    uint64_t l;
    cdc_lsn_fmt(0x16B3748ULL, s);
    CHECK_EQ_STR(s, "0/16B3748");
    cdc_lsn_fmt(0xA00000001ULL, s);
    CHECK_EQ_STR(s, "A/1");
    CHECK(cdc_lsn_parse("A/1", &l) == SEALDB_OK && l == 0xA00000001ULL);
    CHECK(cdc_lsn_parse("ffffffff/FFFFFFFF", &l) == SEALDB_OK && l == UINT64_MAX);
    CHECK(cdc_lsn_parse("1/", &l) == SEALDB_INVALID);
    CHECK(cdc_lsn_parse("/1", &l) == SEALDB_INVALID);
    CHECK(cdc_lsn_parse("1/2/3", &l) == SEALDB_INVALID);
    CHECK(cdc_lsn_parse("123456789/1", &l) == SEALDB_INVALID);
    CHECK(cdc_lsn_parse("g/1", &l) == SEALDB_INVALID);
    cdc_ts_fmt(0, t);
    CHECK_EQ_STR(t, "2000-01-01T00:00:00.000000Z");
    cdc_ts_fmt(-1, t);
    CHECK_EQ_STR(t, "1999-12-31T23:59:59.999999Z");
    cdc_ts_fmt(849745445123456LL, t);
    CHECK_EQ_STR(t, "2026-12-05T00:24:05.123456Z");
}
