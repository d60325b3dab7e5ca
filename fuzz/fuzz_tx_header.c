/* fuzz_tx_header.c - libFuzzer target: tx header deserialization (docs/format.md 4.5) of untrusted
 * bytes; an accepted header re-encodes to the bytes consumed and always hashes. */
#include "crypto/crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sdb_tx_header h;
    size_t used = 0;
    if (sdb_tx_header_decode(sdb_slice_of(data, size), &h, &used) != SEALDB_OK) return 0;
    if (used > size || h.id < 1 || h.nentries < 1 || h.bl_tx_id >= h.id) __builtin_trap();
    sdb_buf b;
    sdb_buf_init(&b);
    if (sdb_tx_header_encode(&h, &b) != SEALDB_OK) __builtin_trap();
    if (b.len != used || memcmp(b.ptr, data, used) != 0) __builtin_trap();
    sdb_buf_deinit(&b);
    uint8_t alh[SDB_HASH_LEN];
    if (sdb_tx_alh(&h, alh) != SEALDB_OK) __builtin_trap();
    return 0;
}
