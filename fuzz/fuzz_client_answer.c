/* fuzz_client_answer.c - libFuzzer target: arbitrary bytes as a server's VerifiableTx or
 * VerifiableEntry answer, through the client's protobuf decoding, conversion to src/crypto structs
 * and verification. Must never crash, and garbage must never verify. */
#include "client/client_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    sdb_vstate trusted = { 3, { { 0 } } }, ns;
    memset(trusted.alh.b, 0x5a, SDB_HASH_LEN);
    sdb_slice db = sdb_slice_str("defaultdb"), key = sdb_slice_str("k"), val = sdb_slice_str("v");
    int rc = SEALDB_INVALID;
    if (data[0] & 1) {
        Immudb__Schema__VerifiableEntry *ve = immudb__schema__verifiable_entry__unpack(NULL, size - 1, data + 1);
        if (!ve) return 0;
        rc = sdb_cl_check_get(ve, db, NULL, &trusted, key, 0, &ns);
        immudb__schema__verifiable_entry__free_unpacked(ve, NULL);
    } else {
        Immudb__Schema__VerifiableTx *vt = immudb__schema__verifiable_tx__unpack(NULL, size - 1, data + 1);
        if (!vt) return 0;
        int kind = 1 + (data[0] >> 1) % 4;
        if (kind == 4) rc = sdb_cl_check_tx(vt, db, NULL, &trusted, 5, &ns);
        else rc = sdb_cl_check_write(vt, kind, db, NULL, &trusted, key, val, 1.5, 0, &ns);
        sealdb_tx t;
        if (vt->tx && sdb_cl_tx_from_pb(vt->tx, &t) == SEALDB_OK) sdb_cl_tx_deinit(&t);
        immudb__schema__verifiable_tx__free_unpacked(vt, NULL);
    }
    /* A forged answer that verifies against a random trusted hash would be a break. */
    if (rc == SEALDB_OK && trusted.tx_id != 0 && ns.tx_id != trusted.tx_id) __builtin_trap();
    return 0;
}
