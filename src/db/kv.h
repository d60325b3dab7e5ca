/* kv.h - immudb key-value semantics on top of the engine: prefixed encodings, reference resolution,
 * sorted sets, preconditions, limits and the proof assembly of verifiable answers, producing the
 * immudb.schema protobuf messages and immudb's exact (gRPC code, message) errors (docs/api.md 2). */
#ifndef SDB_DB_KV_H
#define SDB_DB_KV_H

#include <stdint.h>
#include "util/util.h"
#include "crypto/crypto.h"
#include "engine/engine.h"
#include "rpc/rpc.h"
#include "schema.pb-c.h"

#define SDB_KV_MAX_RESULT 2500u   /* immudb's max result size of unary scans/history/zscan/txscan */
/* Default bound on the estimated size of one read's answer (keys, values and per-entry fields), the
 * default max message size: a GetAll naming one 1 MiB key 1000 times, or a Scan of large values,
 * is refused before the memory is used instead of building gigabytes. */
#define SDB_KV_MAX_ANSWER_LEN (32u << 20)

struct sdb_kv_txcache;

/* One open KV database: the engine plus the settings and name the semantics need. */
typedef struct sdb_kvdb {
    sdb_engine *eng;
    char *name;
    uint32_t max_key_len, max_value_len, max_tx_entries;
    uint64_t max_answer_len;      /* SDB_KV_MAX_ANSWER_LEN unless set after open */
    struct sdb_kv_txcache *txc;   /* packed raw Tx messages of recently proven txs; NULL: no cache */
} sdb_kvdb;

/* An immudb-visible error: gRPC code and exact status message. */
typedef struct sdb_kverr {
    sdb_grpc_code code;
    const char *info;   /* immudb's ErrorInfo code of a coded error ("23000"), NULL for a plain one */
    char msg[384];
} sdb_kverr;

int  sdb_kvdb_open(const char *dir, const char *name, const sdb_db_settings *st, sdb_kvdb **out);
void sdb_kvdb_close(sdb_kvdb *db);

/* Everything below allocates its answer in arena `a` and returns 0, or -1 with *err filled. */
typedef Immudb__Schema__Entry SdbEntry;

int sdb_kv_get(sdb_kvdb *db, sdb_arena *a, const Immudb__Schema__KeyRequest *r, SdbEntry **out, sdb_kverr *err);
int sdb_kv_get_all(sdb_kvdb *db, sdb_arena *a, const Immudb__Schema__KeyListRequest *r,
                   Immudb__Schema__Entries **out, sdb_kverr *err);
int sdb_kv_scan(sdb_kvdb *db, sdb_arena *a, const Immudb__Schema__ScanRequest *r,
                Immudb__Schema__Entries **out, sdb_kverr *err);
int sdb_kv_history(sdb_kvdb *db, sdb_arena *a, const Immudb__Schema__HistoryRequest *r,
                   Immudb__Schema__Entries **out, sdb_kverr *err);
int sdb_kv_count(sdb_kvdb *db, sdb_slice prefix, uint64_t *out, sdb_kverr *err);
int sdb_kv_zscan(sdb_kvdb *db, sdb_arena *a, const Immudb__Schema__ZScanRequest *r,
                 Immudb__Schema__ZEntries **out, sdb_kverr *err);
int sdb_kv_tx_by_id(sdb_kvdb *db, sdb_arena *a, const Immudb__Schema__TxRequest *r,
                    Immudb__Schema__Tx **out, sdb_kverr *err);
int sdb_kv_tx_scan(sdb_kvdb *db, sdb_arena *a, const Immudb__Schema__TxScanRequest *r,
                   Immudb__Schema__TxList **out, sdb_kverr *err);
int sdb_kv_state(sdb_kvdb *db, sdb_arena *a, const sdb_signer *signer,
                 Immudb__Schema__ImmutableState **out, sdb_kverr *err);

/* ---- writes: validated and encoded into an engine batch ---- */
typedef struct sdb_kv_batch {
    sdb_kv *kvs;
    size_t n, cap;
    sdb_precondition *pre;
    size_t npre, pre_cap;
    /* duplicate-key lookup for large batches (built lazily in the arena): slot = index + 1, 0 empty */
    uint32_t *kslot;
    size_t kslot_cap;   /* power of two, 0 until the batch is large enough to need it */
    size_t npre_user;   /* pre[0..npre_user) came from the request; the rest are the server's own */
} sdb_kv_batch;

int sdb_kv_prepare_set(sdb_kvdb *db, sdb_arena *a, const Immudb__Schema__SetRequest *r, sdb_kv_batch *b,
                       sdb_kverr *err);

/* SetRequest wire bytes in the plain shape (src/db/setreq.c). scan: 0 with the KV count and an
 * iterator (and noWait in it->no_wait) when every field is a KV of key and value or noWait and the
 * fields at all levels number at most max_items (counted as the dispatcher's item cap does), -1
 * otherwise (preconditions, metadata, unknown fields, malformed, too many items: decode it
 * generically). next: 1 with the next KV's key and value (slices into the request), 0 at the end. */
typedef struct sdb_setreq_it {
    const uint8_t *p, *end;
    int no_wait;
    size_t items;   /* fields read so far, at all levels */
} sdb_setreq_it;
int sdb_setreq_scan(sdb_slice req, size_t max_items, sdb_setreq_it *it, size_t *n_kvs);
int sdb_setreq_next(sdb_setreq_it *it, sdb_slice *key, sdb_slice *value);
/* The batch of a plain SetRequest from its iterator: the checks and errors of sdb_kv_prepare_set. */
int sdb_kv_prepare_set_plain(sdb_kvdb *db, sdb_arena *a, sdb_setreq_it *it, size_t n_kvs, sdb_kv_batch *b,
                             sdb_kverr *err);
int sdb_kv_prepare_delete(sdb_kvdb *db, sdb_arena *a, const Immudb__Schema__DeleteKeysRequest *r,
                          sdb_kv_batch *b, sdb_kverr *err);
int sdb_kv_prepare_ref(sdb_kvdb *db, sdb_arena *a, const Immudb__Schema__ReferenceRequest *r, int verifiable,
                       sdb_kv_batch *b, sdb_kverr *err);
/* atTx > 0 needs boundRef, also in VerifiableZAdd (immudb refuses immudb-py's verifiedZAdd with atTx,
 * which does not send boundRef; the Go SDK's VerifiedZAddAt relies on that refusal). */
int sdb_kv_prepare_zadd(sdb_kvdb *db, sdb_arena *a, const Immudb__Schema__ZAddRequest *r,
                        sdb_kv_batch *b, sdb_kverr *err);
int sdb_kv_prepare_exec_all(sdb_kvdb *db, sdb_arena *a, const Immudb__Schema__ExecAllRequest *r,
                            sdb_kv_batch *b, sdb_kverr *err);
/* Appends one plain KV (streams); validates key/value limits and duplicates. */
int sdb_kv_batch_add_plain(sdb_kvdb *db, sdb_arena *a, sdb_kv_batch *b, sdb_slice key, sdb_slice value,
                           sdb_kverr *err);

/* Maps an engine commit status (and failed precondition index) to immudb's error. */
void sdb_kv_commit_error(const sdb_kv_batch *b, int rc, size_t failed_pre, sdb_kverr *err);
/* Committed header as a TxHeader message (digests 32 bytes). */
Immudb__Schema__TxHeader *sdb_kv_header_pb(sdb_arena *a, const sdb_tx_header *h);
/* Synchronous commit of a prepared batch: the committed header in *res. */
/* Commits b and waits for it to be durable and, with wait_indexed (immudb's noWait=false), indexed. */
int sdb_kv_commit_sync(sdb_kvdb *db, const sdb_kv_batch *b, int wait_indexed, sdb_commit_result *res,
                       sdb_kverr *err);

/* ---- verifiable answers (docs/format.md 10) ---- */
/* VerifiableTx for proven tx v with the client's proveSinceTx; tx formatted by spec (NULL = raw). */
int sdb_kv_verifiable_tx(sdb_kvdb *db, sdb_arena *a, const sdb_signer *signer, uint64_t v, uint64_t prove_since,
                         const Immudb__Schema__EntriesSpec *spec, int keep_refs,
                         Immudb__Schema__VerifiableTx **out, sdb_kverr *err);
int sdb_kv_verifiable_get(sdb_kvdb *db, sdb_arena *a, const sdb_signer *signer,
                          const Immudb__Schema__VerifiableGetRequest *r, Immudb__Schema__VerifiableEntry **out,
                          sdb_kverr *err);
/* The same answer as sdb_kv_verifiable_get, already packed: *out holds the VerifiableEntry bytes,
 * byte-identical to packing that message. The raw Tx inside (all entries of the proven tx) comes
 * from a small per-database cache of packed txs: a committed tx never changes, and reading,
 * building and packing a 1000-entry tx was most of a VerifiableGet's CPU. */
int sdb_kv_verifiable_get_packed(sdb_kvdb *db, sdb_arena *a, const sdb_signer *signer,
                                 const Immudb__Schema__VerifiableGetRequest *r, sdb_slice *out, sdb_kverr *err);
int sdb_kv_verifiable_tx_by_id(sdb_kvdb *db, sdb_arena *a, const sdb_signer *signer,
                               const Immudb__Schema__VerifiableTxRequest *r, Immudb__Schema__VerifiableTx **out,
                               sdb_kverr *err);

int sdb_kv_err(sdb_kverr *e, sdb_grpc_code code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
