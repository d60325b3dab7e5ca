/* fuzz_kv_md.c - libFuzzer target: KV metadata decoding of untrusted bytes; whatever decodes must
 * re-encode to exactly the same bytes (one encoding per value, so one hash). */
#include "crypto/crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sdb_kv_md md;
    uint8_t out[SDB_KV_MD_MAX_LEN];
    if (sdb_kv_md_decode(sdb_slice_of(data, size), &md) != SEALDB_OK) return 0;
    size_t n = sdb_kv_md_encode(&md, out);
    if (n != size || (n && memcmp(out, data, n) != 0)) __builtin_trap();
    uint8_t hv[SDB_HASH_LEN] = { 0 }, d[SDB_HASH_LEN];
    if (sdb_entry_digest(1, sdb_slice_of("\x00k", 2), sdb_slice_of(out, n), hv, d) != SEALDB_OK) __builtin_trap();
    return 0;
}
