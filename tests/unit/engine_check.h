/* engine_check.h - a check shared by the engine tests: every entry of a tx proves against its eH. */
#ifndef SDB_TEST_ENGINE_CHECK_H
#define SDB_TEST_ENGINE_CHECK_H

#include "testlib.h"
#include "engine/engine.h"

/* t is tx id as read with sdb_engine_tx_read; returns the number of entries proven. */
static inline uint32_t check_entries_prove(sdb_engine *e, uint64_t id, const sdb_tx *t, sdb_hashes *terms) {
    for (uint32_t i = 0; i < t->nentries; i++) {
        uint8_t d[32];
        uint32_t w;
        CHECK_OK(sdb_entry_digest(t->hdr.version, t->entries[i].key, t->entries[i].md_bytes, t->entries[i].hvalue.b, d));
        CHECK_OK(sdb_engine_inclusion_proof(e, id, i, t->hdr.eh.b, terms, &w));
        CHECK_OK(sdb_htree_verify(terms, i, w, d, t->hdr.eh.b));
    }
    return t->nentries;
}

#endif
