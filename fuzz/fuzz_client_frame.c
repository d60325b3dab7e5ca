/* fuzz_client_frame.c - libFuzzer target: the client's stream framing reader and trusted-state line
 * parser on untrusted bytes; splitting the input at any point must give the same messages. */
#include "client/frame.h"
#include "client/state.h"

typedef struct acc { uint64_t sum, n; } acc;
static int on_data(void *ctx, uint64_t i, const uint8_t *p, size_t n) {
    acc *a = ctx;
    for (size_t k = 0; k < n; k++) a->sum = a->sum * 31 + p[k] + i;
    a->n += n;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    acc a = { 0, 0 }, b = { 0, 0 };
    sdb_frame_rd r1, r2;
    sdb_frame_rd_init(&r1, 1u << 20, &a);
    sdb_frame_rd_init(&r2, 1u << 20, &b);
    r1.on_data = on_data;
    r2.on_data = on_data;
    int rc1 = sdb_frame_feed(&r1, sdb_slice_of(data, size));
    size_t cut = size ? data[0] % (size + 1) : 0;
    int rc2 = sdb_frame_feed(&r2, sdb_slice_of(data, cut));
    if (rc2 == SEALDB_OK) rc2 = sdb_frame_feed(&r2, sdb_slice_of(data + cut, size - cut));
    if (rc1 != rc2) __builtin_trap();
    if (rc1 == SEALDB_OK && (a.sum != b.sum || a.n != b.n || sdb_frame_finish(&r1) != sdb_frame_finish(&r2)))
        __builtin_trap();
    char uuid[64];
    sealdb_state st;
    (void)sdb_state_parse_line((const char *)data, size, uuid, sizeof uuid, &st);
    return 0;
}
