/* index.c - the LMDB key index (see index.h). Placeholder: the API compiles and every call answers
 * SEALDB_UNSUPPORTED until the implementation lands. */
#include "index/index.h"

void sdb_index_opts_default(sdb_index_opts *o) {
    o->map_size = (uint64_t)256 << 30;
    o->max_readers = 510;
    o->create = 1;
}
int  sdb_index_open(const char *dir, const sdb_index_opts *o, sdb_index **out) { return SEALDB_UNSUPPORTED; }
void sdb_index_close(sdb_index *ix) { (void)ix; }
int  sdb_index_destroy(const char *dir) { return SEALDB_UNSUPPORTED; }
int  sdb_index_clear(sdb_index *ix) { return SEALDB_UNSUPPORTED; }
int  sdb_index_indexed_upto(sdb_index *ix, uint64_t *out) { return SEALDB_UNSUPPORTED; }
int  sdb_index_batch_begin(sdb_index *ix, sdb_index_batch **out) { return SEALDB_UNSUPPORTED; }
int  sdb_index_batch_put(sdb_index_batch *b, sdb_slice key, const sdb_index_ver *v) { return SEALDB_UNSUPPORTED; }
size_t sdb_index_batch_count(const sdb_index_batch *b) { return 0; }
int  sdb_index_batch_commit(sdb_index_batch *b, uint64_t indexed_upto) { return SEALDB_UNSUPPORTED; }
void sdb_index_batch_abort(sdb_index_batch *b) { (void)b; }
int  sdb_index_snap_begin(sdb_index *ix, sdb_index_snap **out) { return SEALDB_UNSUPPORTED; }
void sdb_index_snap_end(sdb_index_snap *s) { (void)s; }
uint64_t sdb_index_snap_upto(const sdb_index_snap *s) { return 0; }
int  sdb_index_get_latest(sdb_index_snap *s, sdb_slice key, uint64_t max_tx, sdb_index_ver *out,
                          uint64_t *count) { return SEALDB_UNSUPPORTED; }
int  sdb_index_get_revision(sdb_index_snap *s, sdb_slice key, int64_t rev, sdb_index_ver *out) { return SEALDB_UNSUPPORTED; }
int  sdb_index_version_count(sdb_index_snap *s, sdb_slice key, uint64_t *out) { return SEALDB_UNSUPPORTED; }
int  sdb_index_history(sdb_index_snap *s, sdb_slice key, uint64_t offset, uint64_t limit, int desc,
                       sdb_index_ver_fn fn, void *arg, uint64_t *count) { return SEALDB_UNSUPPORTED; }
int  sdb_index_scan(sdb_index_snap *s, const sdb_index_scan_opts *o, sdb_index_scan_fn fn, void *arg) { return SEALDB_UNSUPPORTED; }
int  sdb_index_count(sdb_index_snap *s, sdb_slice prefix, uint64_t *out) { return SEALDB_UNSUPPORTED; }
int  sdb_index_pre_check(sdb_index_snap *s, int kind, sdb_slice key, uint64_t tx_id, int64_t now,
                         int *holds) { return SEALDB_UNSUPPORTED; }
