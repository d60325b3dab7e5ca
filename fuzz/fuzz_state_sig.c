/* fuzz_state_sig.c - libFuzzer target: state-signature verification of untrusted DER signatures
 * and db names with a fixed test key, plus PEM key loading of untrusted bytes. A random input
 * must never verify. */
#include "crypto/crypto.h"

static const char test_pub[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEfLhxOWr/YSs25JIeRUAEXrMCSbhH\n"
    "wjgoJlJ3aPIH5m0UznWFJ+1XtNJ5vCMywPfvOnrAI2z46fUNQNULzirjqw==\n"
    "-----END PUBLIC KEY-----\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static sdb_verifier *v;
    if (!v && sdb_verifier_load_pem(sdb_slice_str(test_pub), &v) != SEALDB_OK) __builtin_trap();
    if (size < 1) return 0;
    /* first byte: length of the db name; then the name; the rest is the DER signature */
    size_t dbl = data[0];
    if (dbl > size - 1) dbl = size - 1;
    sdb_slice db = sdb_slice_of(data + 1, dbl), sig = sdb_slice_of(data + 1 + dbl, size - 1 - dbl);
    uint8_t alh[SDB_HASH_LEN];
    sdb_sha256(data, size, alh);
    int rc = sdb_state_verify(v, db, 1, alh, sig);
    if (rc == SEALDB_OK) __builtin_trap();   /* forging a signature by chance: impossible */
    sdb_signer *s = NULL;
    sdb_verifier *v2 = NULL;
    if (sdb_signer_load_pem(sdb_slice_of(data, size), &s) == SEALDB_OK) sdb_signer_free(s);
    if (sdb_verifier_load_pem(sdb_slice_of(data, size), &v2) == SEALDB_OK) sdb_verifier_free(v2);
    return 0;
}
