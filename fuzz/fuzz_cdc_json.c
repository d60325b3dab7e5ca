/* fuzz_cdc_json.c - libFuzzer target: the primary-key JSON a user gives `seal cdc-history`; what is
 * accepted must come out in the canonical form, which canonicalises to itself. */
#include "cdc/cdc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sdb_buf a, b;
    sdb_buf_init(&a); sdb_buf_init(&b);
    if (cdc_json_canon_flat((const char *)data, size, &a) == SEALDB_OK) {
        if (cdc_json_canon_flat((const char *)a.ptr, a.len, &b) != SEALDB_OK) __builtin_trap();
        if (a.len != b.len || memcmp(a.ptr, b.ptr, a.len)) __builtin_trap();
    }
    sdb_buf_deinit(&a); sdb_buf_deinit(&b);
    return 0;
}
