/* keys.c - key reads and the indexer. Placeholder until the LMDB key index (src/index) lands:
 * key reads and preconditions answer SEALDB_UNSUPPORTED; tx reads and proofs do not need it. */
#include "engine/engine_int.h"

int sdb_engine_index_start(sdb_engine *e) { atomic_store(&e->indexed, atomic_load(&e->last_tx)); return SEALDB_OK; }
void sdb_engine_index_stop(sdb_engine *e) { (void)e; }
int sdb_engine_index_check_pre(sdb_engine *e, const sdb_precondition *pre, size_t npre, size_t *failed) {
    return SEALDB_UNSUPPORTED;
}
void sdb_engine_index_notify(sdb_engine *e) { (void)e; }
uint64_t sdb_engine_indexed_upto(sdb_engine *e) { return 0; }
int sdb_engine_wait_indexed(sdb_engine *e, uint64_t tx_id, int64_t timeout_ms) { return SEALDB_OK; }
int sdb_engine_flush_index(sdb_engine *e) { return SEALDB_UNSUPPORTED; }
void sdb_kv_version_init(sdb_kv_version *v) { memset(v, 0, sizeof *v); }
void sdb_kv_version_deinit(sdb_kv_version *v) { if (v) { sdb_buf_deinit(&v->key); sdb_buf_deinit(&v->value); } }
void sdb_kv_list_init(sdb_kv_list *l) { memset(l, 0, sizeof *l); }
void sdb_kv_list_deinit(sdb_kv_list *l) {
    if (!l) return;
    for (size_t i = 0; i < l->n; i++) sdb_kv_version_deinit(&l->v[i]);
    sdb_free(l->v);
    memset(l, 0, sizeof *l);
}
int sdb_engine_get(sdb_engine *e, sdb_slice key, const sdb_get_opts *o, sdb_kv_version *out) { return SEALDB_UNSUPPORTED; }
int sdb_engine_history(sdb_engine *e, sdb_slice key, uint64_t offset, uint64_t limit, int desc,
                       uint64_t since_tx, sdb_kv_list *out, uint64_t *total) { return SEALDB_UNSUPPORTED; }
int sdb_engine_scan(sdb_engine *e, const sdb_scan_opts *o, sdb_kv_list *out) { return SEALDB_UNSUPPORTED; }
int sdb_engine_count(sdb_engine *e, sdb_slice prefix, uint64_t since_tx, uint64_t *out) { return SEALDB_UNSUPPORTED; }
