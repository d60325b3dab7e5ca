/* fuzz_export.c - libFuzzer target: the exported-tx payload parser and the hot-backup record reader
 * (docs/replication.md 3, 9.1) on untrusted bytes; an accepted payload with its trailer re-encodes
 * to the same bytes and always hashes. */
#include "crypto/export.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sdb_export_tx x;
    const char *why = NULL;
    sdb_export_tx_init(&x);
    if (sdb_export_parse(sdb_slice_of(data, size), &x, &why) == SEALDB_OK) {
        if (x.nentries != x.hdr.nentries || !why) __builtin_trap();
        uint8_t eh[SDB_HASH_LEN];
        (void)sdb_export_entries_hash(&x, eh);
        if (x.has_flag && !x.truncated) {
            sdb_buf b;
            sdb_buf_init(&b);
            if (sdb_export_encode(&x.hdr, x.entries, x.nentries, &b) != SEALDB_OK) __builtin_trap();
            if (b.len != size || memcmp(b.ptr, data, size) != 0) __builtin_trap();
            sdb_buf_deinit(&b);
        }
    } else if (!why || x.entries) {
        __builtin_trap();
    }
    sdb_export_tx_deinit(&x);
    sdb_reader r = sdb_reader_of(sdb_slice_of(data, size));
    sdb_backup_record rec;
    while (sdb_backup_record_read(&r, &rec) == SEALDB_OK)
        if (rec.payload.ptr + rec.payload.len > data + size) __builtin_trap();
    return 0;
}
