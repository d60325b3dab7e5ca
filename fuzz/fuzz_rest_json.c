/* fuzz_rest_json.c - libFuzzer target: the REST API's JSON -> protobuf decoder on untrusted bodies
 * (the first byte picks the request type) and the path/query text setter; whatever decodes must
 * pack, unpack and re-encode, and the encoding must decode back to the same encoding. */
#include "rpc/json.h"
#include "schema.pb-c.h"

static void *a_alloc(void *ad, size_t n) { return sdb_arena_alloc((sdb_arena *)ad, n ? n : 1); }
static void a_free(void *ad, void *p) { (void)ad; (void)p; }

static const ProtobufCMessageDescriptor *const types[] = {
    &immudb__schema__set_request__descriptor, &immudb__schema__exec_all_request__descriptor,
    &immudb__schema__scan_request__descriptor, &immudb__schema__zscan_request__descriptor,
    &immudb__schema__verifiable_get_request__descriptor, &immudb__schema__tx_request__descriptor,
    &immudb__schema__change_permission_request__descriptor, &immudb__schema__create_database_request__descriptor,
    &immudb__schema__tx_header__descriptor, &immudb__schema__verifiable_tx__descriptor,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const ProtobufCMessageDescriptor *d = types[data[0] % (sizeof types / sizeof types[0])];
    int as_text = data[0] >= 128;
    data++, size--;
    sdb_arena ar;
    sdb_arena_init(&ar, 4096);
    ProtobufCAllocator pa = { a_alloc, a_free, &ar };
    char err[300];
    ProtobufCMessage *m = sdb_json_new(d, &pa);
    int rc;
    if (as_text) {
        /* "name=value": the setter of path segments and query parameters */
        char *s = sdb_arena_alloc(&ar, size + 1);
        memcpy(s, data, size);
        s[size] = 0;
        char *eq = strchr(s, '=');
        rc = eq ? (*eq = 0, sdb_json_set_text(m, s, eq + 1, &pa, err, sizeof err)) : 1;
        if (rc == 1) rc = SEALDB_INVALID;
    } else {
        rc = sdb_json_decode(m, (const char *)data, size, &pa, err, sizeof err);
    }
    if (rc == SEALDB_OK) {
        size_t n = protobuf_c_message_get_packed_size(m);
        uint8_t *p = sdb_arena_alloc(&ar, n ? n : 1);
        protobuf_c_message_pack(m, p);
        ProtobufCMessage *u = protobuf_c_message_unpack(d, &pa, n, p);
        if (!u) __builtin_trap();
        sdb_buf a, b;
        sdb_buf_init(&a);
        sdb_buf_init(&b);
        if (sdb_json_encode(u, &a) != SEALDB_OK) __builtin_trap();
        ProtobufCMessage *m2 = sdb_json_new(d, &pa);
        if (sdb_json_decode(m2, (const char *)a.ptr, a.len, &pa, err, sizeof err) != SEALDB_OK) __builtin_trap();
        if (sdb_json_encode(m2, &b) != SEALDB_OK) __builtin_trap();
        if (a.len != b.len || memcmp(a.ptr, b.ptr, a.len) != 0) __builtin_trap();
        sdb_buf_deinit(&a);
        sdb_buf_deinit(&b);
    }
    sdb_arena_deinit(&ar);
    return 0;
}
