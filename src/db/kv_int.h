/* kv_int.h - the internal interface between the files of the KV layer (kv.c, kv_wire.c, kv_read.c,
 * kv_proof.c, kv_write.c); the rpc layer uses kv.h only. Helpers return 0, or -1 with *err filled. */
#ifndef SDB_DB_KV_INT_H
#define SDB_DB_KV_INT_H

#include "db/kv.h"

#define MSG_NOT_FOUND "tbtree: key not found"
#define MSG_EXPIRED   "tbtree: key not found: expired entry"
#define MSG_ILLEGAL   "illegal arguments"

/* Allocates a protobuf message of `type` initialised with its INIT macro. */
#define PB_NEW(a, type, INIT) __extension__({ \
    type *p_ = sdb_arena_alloc((a), sizeof(type)); \
    if (p_) { type t_ = INIT; *p_ = t_; } \
    p_; })

/* Estimated packed bytes of one answered entry besides its key and value (tx id, revision,
 * metadata, hashes, field tags and lengths). */
#define ENTRY_OVERHEAD 96u

/* ---- kv.c: errors, arena helpers, answer limits, the tx cache ---- */
int sdb_kv_oom(sdb_kverr *e);
void *sdb_kv_zalloc(sdb_arena *a, size_t n);   /* zeroed, never a zero-size request */
int sdb_kv_bin_dup(sdb_arena *a, ProtobufCBinaryData *d, const void *p, size_t n);
sdb_slice sdb_kv_prefixed(sdb_arena *a, uint8_t prefix, const uint8_t *k, size_t n);   /* ptr NULL: no memory */
int sdb_kv_result_limit(uint64_t limit, sdb_kverr *err);
int sdb_kv_answer_too_large(const sdb_kvdb *db, sdb_kverr *err);
int sdb_kv_answer_take(const sdb_kvdb *db, uint64_t *used, uint64_t n, int first, sdb_kverr *err);
int sdb_kv_engine_err(int rc, sdb_kverr *err);   /* an engine status as immudb's error */
int sdb_kv_raw_tx_packed(sdb_kvdb *db, sdb_arena *a, uint64_t id, size_t head, size_t tail, uint8_t **buf,
                         size_t *n, sdb_kverr *err);

/* ---- kv_wire.c: protobuf messages and packed bytes (NULL from a builder: out of memory) ---- */
Immudb__Schema__KVMetadata *sdb_kv_md_pb(sdb_arena *a, const sdb_kv_md *md);
int sdb_kv_md_present(const sdb_kv_md *md);
int sdb_kv_hashes_pb(sdb_arena *a, const sdb_hashes *h, ProtobufCBinaryData **out, size_t *n);
Immudb__Schema__DualProof *sdb_kv_dual_pb(sdb_arena *a, const sdb_dual_proof *d);
Immudb__Schema__Signature *sdb_kv_sign_pb(sdb_arena *a, const sdb_signer *signer, const char *db, uint64_t id,
                                          const uint8_t alh[SDB_HASH_LEN]);
SdbEntry *sdb_kv_entry_pb(sdb_arena *a, const sdb_kv_version *v, sdb_slice key, sdb_slice value);
Immudb__Schema__ZEntry *sdb_kv_zentry_pb(sdb_arena *a, const sdb_enc_zadd *z, SdbEntry *member);
Immudb__Schema__TxEntry *sdb_kv_txentry_pb(sdb_arena *a, const sdb_tx_entry *te, int with_value);
size_t sdb_kv_varint_len(uint64_t v);
uint8_t *sdb_kv_put_field_head(uint8_t *p, unsigned num, size_t n);
int sdb_kv_raw_tx_encode(sdb_kvdb *db, sdb_arena *a, uint64_t id, size_t head, size_t tail, uint8_t **buf,
                         size_t *n, sdb_kverr *err);

/* ---- kv_read.c: keys, Get and Tx messages ---- */
int sdb_kv_dead(const sdb_kv_version *v, sdb_kverr *err);
int sdb_kv_read_key(sdb_kvdb *db, sdb_arena *a, sdb_slice ukey, const sdb_get_opts *o, sdb_kv_version *v,
                    sdb_kverr *err);
int sdb_kv_get_entry(sdb_kvdb *db, sdb_arena *a, const Immudb__Schema__KeyRequest *r, SdbEntry **out,
                     uint64_t *proven_tx, uint32_t *proven_idx, sdb_kverr *err);
int sdb_kv_tx_pb(sdb_kvdb *db, sdb_arena *a, uint64_t id, const Immudb__Schema__EntriesSpec *spec, int keep_refs,
                 uint64_t *used, int first, Immudb__Schema__Tx **out, sdb_kverr *err);

#endif
