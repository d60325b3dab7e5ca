/* test_rest_json.c - the REST API's protobuf <-> JSON codec (rpc/json.c): immudb's gateway output
 * byte for byte (names, omission, 64-bit strings, base64, Go floats and escaping) and the decoder's
 * acceptance and refusals (types, base64 forms, enums, oneofs, path and query text). */
#include <math.h>
#include "testlib.h"
#include "rpc/json.h"
#include "schema.pb-c.h"
#include "util/util.h"

static void *a_alloc(void *ad, size_t n) { return sdb_arena_alloc((sdb_arena *)ad, n ? n : 1); }
static void a_free(void *ad, void *p) { (void)ad; (void)p; }

typedef struct { sdb_arena ar; ProtobufCAllocator pa; sdb_buf out; char err[300]; } ctx;
static void ctx_init(ctx *c) {
    sdb_arena_init(&c->ar, 4096);
    c->pa.alloc = a_alloc;
    c->pa.free = a_free;
    c->pa.allocator_data = &c->ar;
    sdb_buf_init(&c->out);
    c->err[0] = 0;
}
static void ctx_done(ctx *c) { sdb_arena_deinit(&c->ar); sdb_buf_deinit(&c->out); }

static const char *enc(ctx *c, const ProtobufCMessage *m) {
    sdb_buf_reset(&c->out);
    CHECK_OK(sdb_json_encode(m, &c->out));
    sdb_buf_append_u8(&c->out, 0);
    return (const char *)c->out.ptr;
}

static ProtobufCMessage *dec(ctx *c, const ProtobufCMessageDescriptor *d, const char *json) {
    ProtobufCMessage *m = sdb_json_new(d, &c->pa);
    CHECK(m != NULL);
    if (sdb_json_decode(m, json, strlen(json), &c->pa, c->err, sizeof c->err) != SEALDB_OK) return NULL;
    return m;
}

TEST(encode_tx_header_as_immudb) {
    ctx c;
    ctx_init(&c);
    Immudb__Schema__TxHeader h = IMMUDB__SCHEMA__TX_HEADER__INIT;
    Immudb__Schema__TxMetadata md = IMMUDB__SCHEMA__TX_METADATA__INIT;
    uint8_t zero[32] = { 0 }, eh[3] = { 0xfb, 0xff, 0x00 };
    h.id = 1;
    h.nentries = 1;
    h.eh.data = eh; h.eh.len = 3;
    h.blroot.data = zero; h.blroot.len = 32;
    h.version = 1;
    h.metadata = &md;
    CHECK_EQ_STR(enc(&c, &h.base), "{\"id\":\"1\",\"nentries\":1,\"eH\":\"+/8A\","
                 "\"blRoot\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\",\"version\":1,\"metadata\":{}}");
    h.ts = -5;
    h.bltxid = UINT64_MAX;
    h.metadata = NULL;
    CHECK(strstr(enc(&c, &h.base), "\"ts\":\"-5\"") != NULL);
    CHECK(strstr(enc(&c, &h.base), "\"blTxId\":\"18446744073709551615\"") != NULL);
    CHECK(strstr(enc(&c, &h.base), "metadata") == NULL);
    Immudb__Schema__Empty e = IMMUDB__SCHEMA__EMPTY__INIT;
    CHECK_EQ_STR(enc(&c, &e.base), "{}");
    ctx_done(&c);
}

TEST(encode_floats_as_go) {
    ctx c;
    ctx_init(&c);
    static const struct { double v; const char *s; } cases[] = {
        { 1.5, "1.5" }, { 3, "3" }, { 0.1, "0.1" }, { 1e21, "1e+21" }, { 1e20, "100000000000000000000" },
        { 1e-7, "1e-7" }, { 0.000001, "0.000001" }, { -2.25, "-2.25" }, { 123456789.125, "123456789.125" },
        { 1.0 / 3, "0.3333333333333333" }, { 5e-324, "5e-324" },
    };
    Immudb__Schema__ZEntry z = IMMUDB__SCHEMA__ZENTRY__INIT;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        z.score = cases[i].v;
        char want[80];
        snprintf(want, sizeof want, "{\"score\":%s}", cases[i].s);
        CHECK_EQ_STR(enc(&c, &z.base), want);
    }
    z.score = NAN;
    CHECK_EQ_STR(enc(&c, &z.base), "{\"score\":\"NaN\"}");
    z.score = -INFINITY;
    CHECK_EQ_STR(enc(&c, &z.base), "{\"score\":\"-Infinity\"}");
    ctx_done(&c);
}

TEST(encode_strings_as_go) {
    ctx c;
    ctx_init(&c);
    sdb_buf b;
    sdb_buf_init(&b);
    const char in[] = "a\"b\\c\n\t\x01<>&caf\xc3\xa9\xff\xe2\x80\xa8";
    CHECK_OK(sdb_json_string(&b, in, sizeof in - 1));
    const char want[] = "\"a\\\"b\\\\c\\n\\t\\u0001\\u003c\\u003e\\u0026caf\xc3\xa9\\ufffd\\u2028\"";
    CHECK_EQ_MEM(b.ptr, b.len, want, sizeof want - 1);
    sdb_buf_deinit(&b);
    ctx_done(&c);
}

TEST(decode_set_request) {
    ctx c;
    ctx_init(&c);
    Immudb__Schema__SetRequest *r = (Immudb__Schema__SetRequest *)dec(&c, &immudb__schema__set_request__descriptor,
        "{\"KVs\":[{\"key\":\"a2V5\\n MQ==\",\"value\":\"dmFs\"}],\"noWait\":true,\"unknown\":[1,2],"
        "\"preconditions\":[{\"keyMustExist\":{\"key\":\"YQ==\"},\"keyMustNotExist\":{\"key\":\"Yg==\"}}]} garbage");
    CHECK(r == NULL);   /* a space inside base64 is not a line break */
    r = (Immudb__Schema__SetRequest *)dec(&c, &immudb__schema__set_request__descriptor,
        "{\"KVs\":[{\"key\":\"a2V5\\nMQ==\",\"value\":\"dmFs\"}],\"noWait\":true,\"unknown\":[1,2],"
        "\"preconditions\":[{\"keyMustExist\":{\"key\":\"YQ==\"},\"keyMustNotExist\":{\"key\":\"Yg==\"}}]} garbage");
    CHECK(r != NULL);
    CHECK_EQ_U64(r->n_kvs, 1);
    CHECK_EQ_MEM(r->kvs[0]->key.data, r->kvs[0]->key.len, "key1", 4);
    CHECK_EQ_MEM(r->kvs[0]->value.data, r->kvs[0]->value.len, "val", 3);
    CHECK(r->nowait);
    /* of two oneof members the one declared last wins, as in immudb's gateway */
    CHECK_EQ_U64(r->preconditions[0]->precondition_case, IMMUDB__SCHEMA__PRECONDITION__PRECONDITION_KEY_MUST_NOT_EXIST);
    CHECK(dec(&c, &immudb__schema__set_request__descriptor, "") != NULL);
    CHECK(dec(&c, &immudb__schema__set_request__descriptor, "null") != NULL);
    ctx_done(&c);
}

TEST(decode_refusals) {
    ctx c;
    ctx_init(&c);
    const ProtobufCMessageDescriptor *sd = &immudb__schema__scan_request__descriptor;
    CHECK(dec(&c, sd, "[]") == NULL);
    CHECK(strstr(c.err, "array") != NULL);
    CHECK(dec(&c, sd, "{\"desc\":\"true\"}") == NULL);
    CHECK_EQ_STR(c.err, "json: cannot unmarshal string into Go value of type bool");
    CHECK(dec(&c, sd, "{\"limit\":1.5}") == NULL);
    CHECK(dec(&c, sd, "{\"limit\":\"-1\"}") == NULL);
    CHECK(dec(&c, sd, "{\"limit\":\"18446744073709551616\"}") == NULL);
    CHECK(dec(&c, sd, "{\"prefix\":\"a2V5MQ\"}") == NULL);
    CHECK_EQ_STR(c.err, "illegal base64 data at input byte 4");
    CHECK(dec(&c, sd, "{\"prefix\":\"-_8=\"}") == NULL);
    CHECK(dec(&c, sd, "{\"prefix\":") == NULL);
    CHECK_EQ_STR(c.err, "unexpected EOF");
    CHECK(dec(&c, &immudb__schema__database__descriptor, "{\"databaseName\":\"a\\u0000b\"}") == NULL);
    CHECK(dec(&c, &immudb__schema__database__descriptor, "{\"databaseName\":\"a\xa9\"}") == NULL);
    CHECK_EQ_STR(c.err, "string field contains invalid UTF-8");
    Immudb__Schema__Database *db = (Immudb__Schema__Database *)dec(&c, &immudb__schema__database__descriptor,
                                                                   "{\"databaseName\":\"a\\\\u0000\"}");
    CHECK(db != NULL);
    CHECK_EQ_STR(db->databasename, "a\\u0000");   /* an escaped backslash, then text */
    CHECK(dec(&c, &immudb__schema__change_permission_request__descriptor, "{\"action\":\"FOO\"}") == NULL);
    CHECK_EQ_STR(c.err, "unknown value \"\\\"FOO\\\"\" for enum immudb.schema.PermissionAction");
    Immudb__Schema__ScanRequest *s = (Immudb__Schema__ScanRequest *)dec(&c, sd, "{\"limit\":\"18446744073709551615\",\"seek_key\":\"YQ==\"}");
    CHECK(s != NULL);
    CHECK_EQ_U64(s->limit, UINT64_MAX);
    CHECK_EQ_U64(s->seekkey.len, 0);   /* seek_key is not an alias of seekKey */
    ctx_done(&c);
}

TEST(path_and_query_text) {
    ctx c;
    ctx_init(&c);
    Immudb__Schema__TxRequest *t = (Immudb__Schema__TxRequest *)sdb_json_new(&immudb__schema__tx_request__descriptor, &c.pa);
    CHECK_RC(sdb_json_set_text(&t->base, "tx", "0x1_0", &c.pa, c.err, sizeof c.err), 0);
    CHECK_EQ_U64(t->tx, 16);
    CHECK_RC(sdb_json_set_text(&t->base, "noWait", "T", &c.pa, c.err, sizeof c.err), 0);
    CHECK(t->nowait);
    CHECK_RC(sdb_json_set_text(&t->base, "entriesSpec.kvEntriesSpec.action", "2", &c.pa, c.err, sizeof c.err), 0);
    CHECK_EQ_U64(t->entriesspec->kventriesspec->action, 2);
    CHECK_RC(sdb_json_set_text(&t->base, "entriesSpec.zEntriesSpec.action", "RESOLVE", &c.pa, c.err, sizeof c.err), 0);
    CHECK_EQ_U64(t->entriesspec->zentriesspec->action, IMMUDB__SCHEMA__ENTRY_TYPE_ACTION__RESOLVE);
    CHECK_RC(sdb_json_set_text(&t->base, "entriesSpec.kvEntriesSpec.action", "9", &c.pa, c.err, sizeof c.err), SEALDB_INVALID);
    CHECK_RC(sdb_json_set_text(&t->base, "sinceTx", "abc", &c.pa, c.err, sizeof c.err), SEALDB_INVALID);
    CHECK_EQ_STR(c.err, "strconv.ParseUint: parsing \"abc\": invalid syntax");
    CHECK_RC(sdb_json_set_text(&t->base, "nosuch", "1", &c.pa, c.err, sizeof c.err), 1);
    Immudb__Schema__KeyRequest *k = (Immudb__Schema__KeyRequest *)sdb_json_new(&immudb__schema__key_request__descriptor, &c.pa);
    CHECK_RC(sdb_json_set_text(&k->base, "key", "-_8=", &c.pa, c.err, sizeof c.err), 0);   /* URL-safe accepted */
    CHECK_EQ_MEM(k->key.data, k->key.len, "\xfb\xff", 2);
    CHECK_RC(sdb_json_set_text(&k->base, "key", "a2V5MQ", &c.pa, c.err, sizeof c.err), SEALDB_INVALID);
    CHECK_EQ_STR(c.err, "illegal base64 data at input byte 4");
    ctx_done(&c);
}

TEST(roundtrip_every_number_width) {
    ctx c;
    ctx_init(&c);
    Immudb__Schema__HistoryRequest *h = (Immudb__Schema__HistoryRequest *)dec(&c, &immudb__schema__history_request__descriptor,
        "{\"key\":\"YQ==\",\"offset\":\"9007199254740993\",\"limit\":-2147483648,\"desc\":true,\"sinceTx\":7}");
    CHECK(h != NULL);
    CHECK_EQ_U64(h->offset, 9007199254740993ull);
    CHECK_EQ_I64(h->limit, INT32_MIN);
    CHECK_EQ_STR(enc(&c, &h->base), "{\"key\":\"YQ==\",\"offset\":\"9007199254740993\",\"limit\":-2147483648,"
                                    "\"desc\":true,\"sinceTx\":\"7\"}");
    CHECK(dec(&c, &immudb__schema__history_request__descriptor, "{\"limit\":2147483648}") == NULL);
    ctx_done(&c);
}
