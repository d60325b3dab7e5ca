/* handlers_kv.c - the unary key-value RPCs of ImmuService (docs/api.md 2) and the KV module that
 * opens each database's engine: thin glue between the dispatcher (rpc.h) and src/db/kv.c. Plain
 * writes complete asynchronously from the engine's commit callback, so group commit can batch them;
 * without noWait (the SDKs' default) the answer waits, as immudb's does, until the new tx is indexed
 * (read-your-writes), from the indexer's progress: no thread parks on it. */
#include <string.h>
#include "db/kv.h"
#include "rpc/handlers_kv.h"
#include "sealdb.pb-c.h"
#include "sealdb_err.h"

#define M(name) "/immudb.schema.ImmuService/" name

sdb_kvdb *sdb_kv_call_db(sdb_call *c) {
    sdb_database *d = sdb_call_db(c);
    return d ? sdb_database_impl(d) : NULL;
}

int sdb_kv_fail(sdb_call *c, const sdb_kverr *e) {
    sdb_call_error_info(c, e->code, e->info, NULL, e->msg);
    return SDB_CALL_DONE;
}

static int no_db(sdb_call *c) {
    sdb_call_error(c, SDB_GRPC_UNKNOWN, "database is not loaded");
    return SDB_CALL_DONE;
}

static int answer(sdb_call *c, int rc, const ProtobufCMessage *m, const sdb_kverr *e) {
    if (rc) return sdb_kv_fail(c, e);
    if (!m) {
        sdb_call_error(c, SDB_GRPC_INTERNAL, "internal error: empty answer");
        return SDB_CALL_DONE;
    }
    sdb_call_ok(c, m);
    return SDB_CALL_DONE;
}

/* ---- asynchronous plain writes ---- */

typedef struct write_ctx {
    sdb_call *call;
    sdb_kvdb *db;
    sdb_kv_batch b;
    int no_wait;
    sdb_tx_header hdr;     /* the committed tx, kept while the answer waits for the index */
    sdb_index_wait iw;
} write_ctx;

/* An index failure after a durable commit: the write stands, the index lags (immudb answers its
 * indexing error the same way). */
static int index_wait_failed(sdb_call *c, int rc) {
    sdb_call_complete(c, SDB_GRPC_UNKNOWN, sealdb_strerror(rc), NULL);
    return SDB_CALL_DONE;
}

static void answer_header(void *arg, int rc) {
    write_ctx *w = arg;
    if (rc) { index_wait_failed(w->call, rc); return; }
    Immudb__Schema__TxHeader *h = sdb_kv_header_pb(sdb_call_arena(w->call), &w->hdr);
    if (h) sdb_call_complete(w->call, SDB_GRPC_OK, NULL, &h->base);
    else sdb_call_complete(w->call, SDB_GRPC_INTERNAL, "out of memory", NULL);
}

static void on_commit(void *arg, int rc, const sdb_commit_result *res, size_t failed_pre) {
    write_ctx *w = arg;
    if (rc == SEALDB_OK) {
        w->hdr = res->hdr;
        if (w->no_wait) { answer_header(w, SEALDB_OK); return; }
        w->iw = (sdb_index_wait){ .tx_id = res->hdr.id, .cb = answer_header, .arg = w };
        sdb_engine_when_indexed(w->db->eng, &w->iw);
        return;
    }
    sdb_kverr e;
    sdb_kv_commit_error(&w->b, rc, failed_pre, &e);
    sdb_kv_fail(w->call, &e);
}

/* Queues the prepared batch in w; the commit callback (or the indexer, without noWait) answers. */
static int commit_async(sdb_call *c, sdb_kvdb *db, write_ctx *w, int no_wait) {
    w->call = c;
    w->db = db;
    w->no_wait = no_wait;
    int rc = sdb_engine_commit(db->eng, w->b.kvs, w->b.n, w->b.pre, w->b.npre, on_commit, w);
    if (rc == SEALDB_OK) return SDB_CALL_PENDING;
    sdb_kverr e;
    sdb_kv_commit_error(&w->b, rc, 0, &e);
    return sdb_kv_fail(c, &e);
}

static write_ctx *new_write(sdb_call *c) { return sdb_call_alloc(c, sizeof(write_ctx)); }

static int h_set(sdb_call *c, const ProtobufCMessage *req) {
    sdb_kvdb *db = sdb_kv_call_db(c);
    if (!db) return no_db(c);
    write_ctx *w = new_write(c);
    sdb_kverr e;
    if (!w) return sdb_kv_fail(c, (sdb_kv_err(&e, SDB_GRPC_INTERNAL, "out of memory"), &e));
    const Immudb__Schema__SetRequest *r = (const Immudb__Schema__SetRequest *)req;
    if (sdb_kv_prepare_set(db, sdb_call_arena(c), r, &w->b, &e)) return sdb_kv_fail(c, &e);
    return commit_async(c, db, w, r->nowait);
}

/* Set in the plain shape, read in place from the request bytes (src/db/setreq.c). */
static int h_set_raw(sdb_call *c, sdb_slice req, size_t item_cap) {
    sdb_setreq_it it;
    size_t n;
    if (sdb_setreq_scan(req, item_cap, &it, &n)) return SDB_CALL_DECLINED;
    sdb_kvdb *db = sdb_kv_call_db(c);
    if (!db) return no_db(c);
    write_ctx *w = new_write(c);
    sdb_kverr e;
    if (!w) return sdb_kv_fail(c, (sdb_kv_err(&e, SDB_GRPC_INTERNAL, "out of memory"), &e));
    if (sdb_kv_prepare_set_plain(db, sdb_call_arena(c), &it, n, &w->b, &e)) return sdb_kv_fail(c, &e);
    return commit_async(c, db, w, it.no_wait);
}

static int h_delete(sdb_call *c, const ProtobufCMessage *req) {
    sdb_kvdb *db = sdb_kv_call_db(c);
    if (!db) return no_db(c);
    write_ctx *w = new_write(c);
    sdb_kverr e;
    if (!w) return sdb_kv_fail(c, (sdb_kv_err(&e, SDB_GRPC_INTERNAL, "out of memory"), &e));
    const Immudb__Schema__DeleteKeysRequest *r = (const Immudb__Schema__DeleteKeysRequest *)req;
    if (sdb_kv_prepare_delete(db, sdb_call_arena(c), r, &w->b, &e)) return sdb_kv_fail(c, &e);
    return commit_async(c, db, w, r->nowait);
}

static int h_exec_all(sdb_call *c, const ProtobufCMessage *req) {
    sdb_kvdb *db = sdb_kv_call_db(c);
    if (!db) return no_db(c);
    write_ctx *w = new_write(c);
    sdb_kverr e;
    if (!w) return sdb_kv_fail(c, (sdb_kv_err(&e, SDB_GRPC_INTERNAL, "out of memory"), &e));
    const Immudb__Schema__ExecAllRequest *r = (const Immudb__Schema__ExecAllRequest *)req;
    if (sdb_kv_prepare_exec_all(db, sdb_call_arena(c), r, &w->b, &e)) return sdb_kv_fail(c, &e);
    return commit_async(c, db, w, r->nowait);
}

static int h_set_reference(sdb_call *c, const ProtobufCMessage *req) {
    sdb_kvdb *db = sdb_kv_call_db(c);
    if (!db) return no_db(c);
    write_ctx *w = new_write(c);
    sdb_kverr e;
    if (!w) return sdb_kv_fail(c, (sdb_kv_err(&e, SDB_GRPC_INTERNAL, "out of memory"), &e));
    const Immudb__Schema__ReferenceRequest *r = (const Immudb__Schema__ReferenceRequest *)req;
    if (sdb_kv_prepare_ref(db, sdb_call_arena(c), r, 0, &w->b, &e)) return sdb_kv_fail(c, &e);
    return commit_async(c, db, w, r->nowait);
}

static int h_zadd(sdb_call *c, const ProtobufCMessage *req) {
    sdb_kvdb *db = sdb_kv_call_db(c);
    if (!db) return no_db(c);
    write_ctx *w = new_write(c);
    sdb_kverr e;
    if (!w) return sdb_kv_fail(c, (sdb_kv_err(&e, SDB_GRPC_INTERNAL, "out of memory"), &e));
    const Immudb__Schema__ZAddRequest *r = (const Immudb__Schema__ZAddRequest *)req;
    if (sdb_kv_prepare_zadd(db, sdb_call_arena(c), r, &w->b, &e)) return sdb_kv_fail(c, &e);
    return commit_async(c, db, w, r->nowait);
}

/* ---- verifiable writes: commit, then prove the new tx from proveSinceTx ----
 * Unary calls do not wait for the commit: the commit callback hands the proof and the answer to a
 * transport worker (sdb_call_defer), so no worker thread parks on the group's fsync and the proof is
 * not built on the committer thread. Streaming calls (own thread) commit synchronously. */

typedef struct vwrite_ctx {
    sdb_call *call;
    sdb_kvdb *db;
    sdb_kv_batch b;
    uint64_t prove_since, tx_id;
    int no_wait;
    sdb_index_wait iw;
} vwrite_ctx;

static void verified_answer(sdb_call *c, void *arg) {
    vwrite_ctx *w = arg;
    sdb_kverr e;
    Immudb__Schema__VerifiableTx *vt = NULL;
    if (sdb_kv_verifiable_tx(w->db, sdb_call_arena(c), sdb_server_signer(sdb_call_server(c)), w->tx_id,
                             w->prove_since, NULL, 0, &vt, &e))
        sdb_kv_fail(c, &e);
    else
        sdb_call_complete(c, SDB_GRPC_OK, NULL, &vt->base);
}

static void prove_on_worker(void *arg, int rc) {
    vwrite_ctx *w = arg;
    if (rc) { index_wait_failed(w->call, rc); return; }
    if (sdb_call_defer(w->call, verified_answer, w) != SEALDB_OK) verified_answer(w->call, w);
}

static void on_verified_commit(void *arg, int rc, const sdb_commit_result *res, size_t failed_pre) {
    vwrite_ctx *w = arg;
    if (rc == SEALDB_OK) {
        w->tx_id = res->hdr.id;
        if (w->no_wait) { prove_on_worker(w, SEALDB_OK); return; }
        w->iw = (sdb_index_wait){ .tx_id = res->hdr.id, .cb = prove_on_worker, .arg = w };
        sdb_engine_when_indexed(w->db->eng, &w->iw);
        return;
    }
    sdb_kverr e;
    sdb_kv_commit_error(&w->b, rc, failed_pre, &e);
    sdb_kv_fail(w->call, &e);
}

int sdb_kv_verified_commit(sdb_call *c, sdb_kvdb *db, const sdb_kv_batch *b, uint64_t prove_since, int no_wait) {
    sdb_kverr e;
    const sdb_rpc_method *m = sdb_call_method(c);
    if (m && m->stream == SDB_STREAM_NONE) {
        vwrite_ctx *w = sdb_call_alloc(c, sizeof *w);
        if (!w) return sdb_kv_fail(c, (sdb_kv_err(&e, SDB_GRPC_INTERNAL, "out of memory"), &e));
        w->call = c;
        w->db = db;
        w->b = *b;
        w->prove_since = prove_since;
        w->no_wait = no_wait;
        int rc = sdb_engine_commit(db->eng, b->kvs, b->n, b->pre, b->npre, on_verified_commit, w);
        if (rc == SEALDB_OK) return SDB_CALL_PENDING;
        sdb_kv_commit_error(b, rc, 0, &e);
        return sdb_kv_fail(c, &e);
    }
    sdb_commit_result res;
    if (sdb_kv_commit_sync(db, b, !no_wait, &res, &e)) return sdb_kv_fail(c, &e);
    Immudb__Schema__VerifiableTx *vt = NULL;
    int rc = sdb_kv_verifiable_tx(db, sdb_call_arena(c), sdb_server_signer(sdb_call_server(c)), res.hdr.id,
                                  prove_since, NULL, 0, &vt, &e);
    return answer(c, rc, vt ? &vt->base : NULL, &e);
}

static int h_verifiable_set(sdb_call *c, const ProtobufCMessage *req) {
    const Immudb__Schema__VerifiableSetRequest *r = (const Immudb__Schema__VerifiableSetRequest *)req;
    sdb_kvdb *db = sdb_kv_call_db(c);
    if (!db) return no_db(c);
    sdb_kverr e;
    if (r->provesincetx > sdb_engine_committed_tx(db->eng))
        return sdb_kv_fail(c, (sdb_kv_err(&e, SDB_GRPC_INVALID_ARGUMENT, "illegal state"), &e));
    sdb_kv_batch b;
    Immudb__Schema__SetRequest empty = IMMUDB__SCHEMA__SET_REQUEST__INIT;
    if (sdb_kv_prepare_set(db, sdb_call_arena(c), r->setrequest ? r->setrequest : &empty, &b, &e))
        return sdb_kv_fail(c, &e);
    return sdb_kv_verified_commit(c, db, &b, r->provesincetx, r->setrequest && r->setrequest->nowait);
}

static int h_verifiable_set_reference(sdb_call *c, const ProtobufCMessage *req) {
    const Immudb__Schema__VerifiableReferenceRequest *r = (const Immudb__Schema__VerifiableReferenceRequest *)req;
    sdb_kvdb *db = sdb_kv_call_db(c);
    if (!db) return no_db(c);
    sdb_kverr e;
    if (r->provesincetx > sdb_engine_committed_tx(db->eng) || !r->referencerequest)
        return sdb_kv_fail(c, (sdb_kv_err(&e, SDB_GRPC_INVALID_ARGUMENT, "illegal arguments"), &e));
    sdb_kv_batch b;
    if (sdb_kv_prepare_ref(db, sdb_call_arena(c), r->referencerequest, 1, &b, &e)) return sdb_kv_fail(c, &e);
    return sdb_kv_verified_commit(c, db, &b, r->provesincetx, r->referencerequest->nowait);
}

static int h_verifiable_zadd(sdb_call *c, const ProtobufCMessage *req) {
    const Immudb__Schema__VerifiableZAddRequest *r = (const Immudb__Schema__VerifiableZAddRequest *)req;
    sdb_kvdb *db = sdb_kv_call_db(c);
    if (!db) return no_db(c);
    sdb_kverr e;
    if (r->provesincetx > sdb_engine_committed_tx(db->eng) || !r->zaddrequest)
        return sdb_kv_fail(c, (sdb_kv_err(&e, SDB_GRPC_INVALID_ARGUMENT, "illegal arguments"), &e));
    sdb_kv_batch b;
    if (sdb_kv_prepare_zadd(db, sdb_call_arena(c), r->zaddrequest, &b, &e)) return sdb_kv_fail(c, &e);
    return sdb_kv_verified_commit(c, db, &b, r->provesincetx, r->zaddrequest->nowait);
}

/* ---- reads ---- */

static int h_get(sdb_call *c, const ProtobufCMessage *req) {
    sdb_kvdb *db = sdb_kv_call_db(c);
    if (!db) return no_db(c);
    sdb_kverr e;
    Immudb__Schema__Entry *out = NULL;
    int rc = sdb_kv_get(db, sdb_call_arena(c), (const Immudb__Schema__KeyRequest *)req, &out, &e);
    return answer(c, rc, out ? &out->base : NULL, &e);
}

static int h_verifiable_get(sdb_call *c, const ProtobufCMessage *req) {
    sdb_kvdb *db = sdb_kv_call_db(c);
    if (!db) return no_db(c);
    sdb_kverr e;
    sdb_slice out;
    if (sdb_kv_verifiable_get_packed(db, sdb_call_arena(c), sdb_server_signer(sdb_call_server(c)),
                                     (const Immudb__Schema__VerifiableGetRequest *)req, &out, &e))
        return sdb_kv_fail(c, &e);
    return sdb_call_ok_packed(c, out.ptr, out.len);
}

static int h_get_all(sdb_call *c, const ProtobufCMessage *req) {
    sdb_kvdb *db = sdb_kv_call_db(c);
    if (!db) return no_db(c);
    sdb_kverr e;
    Immudb__Schema__Entries *out = NULL;
    int rc = sdb_kv_get_all(db, sdb_call_arena(c), (const Immudb__Schema__KeyListRequest *)req, &out, &e);
    return answer(c, rc, out ? &out->base : NULL, &e);
}

static int h_scan(sdb_call *c, const ProtobufCMessage *req) {
    sdb_kvdb *db = sdb_kv_call_db(c);
    if (!db) return no_db(c);
    sdb_kverr e;
    Immudb__Schema__Entries *out = NULL;
    int rc = sdb_kv_scan(db, sdb_call_arena(c), (const Immudb__Schema__ScanRequest *)req, &out, &e);
    return answer(c, rc, out ? &out->base : NULL, &e);
}

static int h_history(sdb_call *c, const ProtobufCMessage *req) {
    sdb_kvdb *db = sdb_kv_call_db(c);
    if (!db) return no_db(c);
    sdb_kverr e;
    Immudb__Schema__Entries *out = NULL;
    int rc = sdb_kv_history(db, sdb_call_arena(c), (const Immudb__Schema__HistoryRequest *)req, &out, &e);
    return answer(c, rc, out ? &out->base : NULL, &e);
}

static int count_common(sdb_call *c, sdb_slice prefix) {
    sdb_kvdb *db = sdb_kv_call_db(c);
    if (!db) return no_db(c);
    sdb_kverr e;
    Immudb__Schema__EntryCount out = IMMUDB__SCHEMA__ENTRY_COUNT__INIT;
    int rc = sdb_kv_count(db, prefix, &out.count, &e);
    return answer(c, rc, &out.base, &e);
}

static int h_count(sdb_call *c, const ProtobufCMessage *req) {
    const Immudb__Schema__KeyPrefix *r = (const Immudb__Schema__KeyPrefix *)req;
    return count_common(c, (sdb_slice){ r->prefix.data, r->prefix.len });
}

static int h_count_all(sdb_call *c, const ProtobufCMessage *req) {
    return count_common(c, (sdb_slice){ NULL, 0 });
}

static int h_zscan(sdb_call *c, const ProtobufCMessage *req) {
    sdb_kvdb *db = sdb_kv_call_db(c);
    if (!db) return no_db(c);
    sdb_kverr e;
    Immudb__Schema__ZEntries *out = NULL;
    int rc = sdb_kv_zscan(db, sdb_call_arena(c), (const Immudb__Schema__ZScanRequest *)req, &out, &e);
    return answer(c, rc, out ? &out->base : NULL, &e);
}

static int h_tx_by_id(sdb_call *c, const ProtobufCMessage *req) {
    sdb_kvdb *db = sdb_kv_call_db(c);
    if (!db) return no_db(c);
    sdb_kverr e;
    Immudb__Schema__Tx *out = NULL;
    int rc = sdb_kv_tx_by_id(db, sdb_call_arena(c), (const Immudb__Schema__TxRequest *)req, &out, &e);
    return answer(c, rc, out ? &out->base : NULL, &e);
}

static int h_verifiable_tx_by_id(sdb_call *c, const ProtobufCMessage *req) {
    sdb_kvdb *db = sdb_kv_call_db(c);
    if (!db) return no_db(c);
    sdb_kverr e;
    Immudb__Schema__VerifiableTx *out = NULL;
    int rc = sdb_kv_verifiable_tx_by_id(db, sdb_call_arena(c), sdb_server_signer(sdb_call_server(c)),
                                        (const Immudb__Schema__VerifiableTxRequest *)req, &out, &e);
    return answer(c, rc, out ? &out->base : NULL, &e);
}

static int h_tx_scan(sdb_call *c, const ProtobufCMessage *req) {
    sdb_kvdb *db = sdb_kv_call_db(c);
    if (!db) return no_db(c);
    sdb_kverr e;
    Immudb__Schema__TxList *out = NULL;
    int rc = sdb_kv_tx_scan(db, sdb_call_arena(c), (const Immudb__Schema__TxScanRequest *)req, &out, &e);
    return answer(c, rc, out ? &out->base : NULL, &e);
}

static int h_current_state(sdb_call *c, const ProtobufCMessage *req) {
    sdb_kvdb *db = sdb_kv_call_db(c);
    if (!db) return no_db(c);
    sdb_kverr e;
    Immudb__Schema__ImmutableState *out = NULL;
    int rc = sdb_kv_state(db, sdb_call_arena(c), sdb_server_signer(sdb_call_server(c)), &out, &e);
    return answer(c, rc, out ? &out->base : NULL, &e);
}

static int h_flush_index(sdb_call *c, const ProtobufCMessage *req) {
    const Immudb__Schema__FlushIndexRequest *r = (const void *)req;
    sdb_kvdb *db = sdb_kv_call_db(c);
    if (!db) return no_db(c);
    /* immudb's index refuses the hint before flushing (a wrapped store error: Unknown) */
    if (!(r->cleanuppercentage >= 0 && r->cleanuppercentage <= 100)) {
        sdb_call_error(c, SDB_GRPC_UNKNOWN, "tbtree: illegal arguments: invalid cleanupPercentage");
        return SDB_CALL_DONE;
    }
    int rc = sdb_engine_flush_index(db->eng);
    if (rc) {
        sdb_call_error(c, SDB_GRPC_UNKNOWN, "%s", sealdb_strerror(rc));
        return SDB_CALL_DONE;
    }
    Immudb__Schema__FlushIndexResponse out = IMMUDB__SCHEMA__FLUSH_INDEX_RESPONSE__INIT;
    out.database = (char *)sdb_database_name(sdb_call_db(c));
    sdb_call_ok(c, &out.base);
    return SDB_CALL_DONE;
}

static int h_compact_index(sdb_call *c, const ProtobufCMessage *req) {
    /* the key index merges its runs by itself; immudb answers an empty message too */
    Immudb__Schema__Empty out = IMMUDB__SCHEMA__EMPTY__INIT;
    sdb_call_ok(c, &out.base);
    return SDB_CALL_DONE;
}

/* ---- module ---- */

#define UNARY(name, req, resp, fn, perm) \
    { M(name), &immudb__schema__##req##__descriptor, &immudb__schema__##resp##__descriptor, fn, perm, SDB_STREAM_NONE, NULL }

const sdb_rpc_method sdb_kv_methods[] = {
    { M("Set"), &immudb__schema__set_request__descriptor, &immudb__schema__tx_header__descriptor, h_set,
      SDB_PERM_READWRITE, SDB_STREAM_NONE, h_set_raw },
    UNARY("VerifiableSet", verifiable_set_request, verifiable_tx, h_verifiable_set, SDB_PERM_READWRITE),
    UNARY("Get", key_request, entry, h_get, SDB_PERM_READ),
    UNARY("VerifiableGet", verifiable_get_request, verifiable_entry, h_verifiable_get, SDB_PERM_READ),
    UNARY("Delete", delete_keys_request, tx_header, h_delete, SDB_PERM_READWRITE),
    UNARY("GetAll", key_list_request, entries, h_get_all, SDB_PERM_READWRITE),
    UNARY("ExecAll", exec_all_request, tx_header, h_exec_all, SDB_PERM_READWRITE),
    UNARY("Scan", scan_request, entries, h_scan, SDB_PERM_READ),
    UNARY("Count", key_prefix, entry_count, h_count, SDB_PERM_READ),
    UNARY("CountAll", empty, entry_count, h_count_all, SDB_PERM_READ),
    UNARY("TxById", tx_request, tx, h_tx_by_id, SDB_PERM_READ),
    UNARY("VerifiableTxById", verifiable_tx_request, verifiable_tx, h_verifiable_tx_by_id, SDB_PERM_READ),
    UNARY("TxScan", tx_scan_request, tx_list, h_tx_scan, SDB_PERM_READ),
    UNARY("History", history_request, entries, h_history, SDB_PERM_READ),
    UNARY("SetReference", reference_request, tx_header, h_set_reference, SDB_PERM_READWRITE),
    UNARY("VerifiableSetReference", verifiable_reference_request, verifiable_tx, h_verifiable_set_reference,
          SDB_PERM_READWRITE),
    UNARY("ZAdd", zadd_request, tx_header, h_zadd, SDB_PERM_READWRITE),
    UNARY("VerifiableZAdd", verifiable_zadd_request, verifiable_tx, h_verifiable_zadd, SDB_PERM_READWRITE),
    UNARY("ZScan", zscan_request, zentries, h_zscan, SDB_PERM_READ),
    UNARY("CurrentState", empty, immutable_state, h_current_state, SDB_PERM_READ),
    UNARY("FlushIndex", flush_index_request, flush_index_response, h_flush_index, SDB_PERM_ADMIN),
    UNARY("CompactIndex", empty, empty, h_compact_index, SDB_PERM_ADMIN),
    { M("streamGet"), &immudb__schema__key_request__descriptor, NULL, sdb_kv_h_stream_get, SDB_PERM_READ,
      SDB_STREAM_SERVER, NULL },
    { M("streamVerifiableGet"), &immudb__schema__verifiable_get_request__descriptor, NULL,
      sdb_kv_h_stream_verifiable_get, SDB_PERM_READ, SDB_STREAM_SERVER, NULL },
    { M("streamScan"), &immudb__schema__scan_request__descriptor, NULL, sdb_kv_h_stream_scan, SDB_PERM_READ,
      SDB_STREAM_SERVER, NULL },
    { M("streamHistory"), &immudb__schema__history_request__descriptor, NULL, sdb_kv_h_stream_history,
      SDB_PERM_READ, SDB_STREAM_SERVER, NULL },
    { M("streamZScan"), &immudb__schema__zscan_request__descriptor, NULL, sdb_kv_h_stream_zscan, SDB_PERM_READ,
      SDB_STREAM_SERVER, NULL },
    { M("streamSet"), NULL, &immudb__schema__tx_header__descriptor, sdb_kv_h_stream_set, SDB_PERM_READWRITE,
      SDB_STREAM_CLIENT, NULL },
    { M("streamVerifiableSet"), NULL, &immudb__schema__verifiable_tx__descriptor, sdb_kv_h_stream_verifiable_set,
      SDB_PERM_READWRITE, SDB_STREAM_CLIENT, NULL },
    { M("streamExecAll"), NULL, &immudb__schema__tx_header__descriptor, sdb_kv_h_stream_exec_all,
      SDB_PERM_READWRITE, SDB_STREAM_CLIENT, NULL },
    /* sealdb's own: ExecAllRequest messages in, one TxHeader per request out, in order */
    { "/sealdb.schema.SealService/ExecAllStream", NULL, &immudb__schema__tx_header__descriptor,
      sdb_kv_h_exec_all_stream, SDB_PERM_READWRITE, SDB_STREAM_BIDI, NULL },
    /* sealdb's own: ExecAllBatch messages in, one TxHeaderList per message out, in order */
    { "/sealdb.schema.SealService/ExecAllBatchStream", NULL, &sealdb__schema__tx_header_list__descriptor,
      sdb_kv_h_exec_all_batch_stream, SDB_PERM_READWRITE, SDB_STREAM_BIDI, NULL },
};
const size_t sdb_kv_n_methods = sizeof sdb_kv_methods / sizeof sdb_kv_methods[0];

static int kv_db_open(sdb_database *d, const char *dir) {
    sdb_kvdb *db = NULL;
    int rc = sdb_kvdb_open(dir, sdb_database_name(d), sdb_database_settings(d), &db);
    if (rc) return rc;
    sdb_database_set_impl(d, db);
    return SEALDB_OK;
}

static void kv_db_close(sdb_database *d) {
    sdb_kvdb_close(sdb_database_impl(d));
    sdb_database_set_impl(d, NULL);
}

static int kv_db_state(sdb_database *d, uint64_t *tx_id, uint8_t alh[32]) {
    sdb_kvdb *db = sdb_database_impl(d);
    if (!db) return SEALDB_CLOSED;
    return sdb_engine_committed_state(db->eng, tx_id, alh);
}

const sdb_rpc_module sdb_kv_module = {
    .name = "kv",
    .methods = sdb_kv_methods,
    .n_methods = sizeof sdb_kv_methods / sizeof sdb_kv_methods[0],
    .db_open = kv_db_open,
    .db_close = kv_db_close,
    .db_state = kv_db_state,
};
