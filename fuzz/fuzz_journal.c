/* fuzz_journal.c - libFuzzer target for the journal record decoder and the tx-index record decoder:
 * any bytes must decode or fail cleanly, never read out of bounds. */
#include <stdint.h>
#include <stddef.h>
#include <stdlib.h>
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
        (void)sdb_txi_decode(data, &r);
    }
    return 0;
}
