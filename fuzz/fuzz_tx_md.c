/* fuzz_tx_md.c - libFuzzer target: tx metadata decoding; decoded values must re-encode to the
 * input bytes, and a header carrying them must hash. */
#include "crypto/crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sdb_tx_md md;
    uint8_t out[SDB_TX_MD_MAX_LEN];
    if (sdb_tx_md_decode(sdb_slice_of(data, size), &md) != SEALDB_OK) return 0;
    size_t n = sdb_tx_md_encode(&md, out);
    if (n != size || (n && memcmp(out, data, n) != 0)) __builtin_trap();
    sdb_tx_header h;
    memset(&h, 0, sizeof h);
    h.id = 1;
    h.version = 1;
    h.nentries = 1;
    h.md = md;
    uint8_t alh[SDB_HASH_LEN];
    if (sdb_tx_alh(&h, alh) != SEALDB_OK) __builtin_trap();
    return 0;
}
