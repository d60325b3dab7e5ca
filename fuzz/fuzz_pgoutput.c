/* fuzz_pgoutput.c - libFuzzer target: pgoutput messages from PostgreSQL (untrusted network bytes)
 * through the decoder, the relation cache and the row JSON writer, as sealdb-cdc uses them. */
#include "cdc/cdc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static pgo_relcache cache;   /* kept across inputs, as a session keeps its relations */
    pgo_msg m;
    if (pgo_decode(data, size, &m) != SEALDB_OK) return 0;
    if (m.type == PGO_RELATION) {
        if (pgo_relcache_put(&cache, &m) != SEALDB_OK) __builtin_trap();
        if (cache.n > 64) pgo_relcache_free(&cache);
    } else if (m.type == PGO_INSERT || m.type == PGO_UPDATE || m.type == PGO_DELETE) {
        const pgo_rel *r = pgo_relcache_get(&cache, m.relid);
        sdb_buf b;
        sdb_buf_init(&b);
        const pgo_tuple *t = m.type == PGO_DELETE ? &m.old_tup : &m.new_tup;
        if (r) { cdc_json_tuple(&b, r, t, 1, NULL, NULL); cdc_json_tuple(&b, r, t, 0, NULL, NULL); }
        sdb_buf_deinit(&b);
    }
    pgo_msg_free(&m);
    return 0;
}
