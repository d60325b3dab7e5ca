/* fuzz_journal.c - libFuzzer target for the journal record decoder, the tx-index record decoder
 * and the htree block check: any bytes must decode or fail cleanly, never read out of bounds. */
#include <stdint.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "crypto/crypto.h"
#include "storage/journal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static sdb_jentry entries[1024];
    sdb_jframe fr;
    sdb_tx_header hdr;
    uint32_t n = 0;
    if (size >= SDB_JREC_FRAME) (void)sdb_jrec_frame(data, &fr);
    if (sdb_jrec_decode(sdb_slice_of(data, size), &fr, &hdr, entries, &n) == SEALDB_OK) {
        /* every slice must lie inside the input */
        for (uint32_t i = 0; i < n; i++) {
            if (entries[i].key.ptr < data || entries[i].key.ptr + entries[i].key.len > data + size) abort();
            if (entries[i].hvalue < data || entries[i].hvalue + 32 > data + size) abort();
        }
    }
    if (size >= SDB_TXI_REC) {
        sdb_txi_rec r;
        uint8_t again[SDB_TXI_REC];
        /* a record that decodes encodes back to the same bytes (no field is silently cut) */
        if (sdb_txi_decode(data, &r) == SEALDB_OK) {
            sdb_txi_encode(&r, again);
            if (memcmp(again, data, SDB_TXI_REC)) abort();
        }
    }
    if (size >= 1) {
        /* a stored htree block of some width, checked against a root: reads stay inside it */
        uint32_t width = 2 + data[0] % 40;
        uint64_t blen = sdb_htree_block_len(width);
        if (size - 1 >= blen + 32) (void)sdb_htree_check_block(data + 1, width, data + 1 + blen);
    }
    return 0;
}
