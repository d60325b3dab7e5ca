/* handlers_kv_stream.c - the streaming key-value RPCs (docs/api.md 4): the same semantics as their
 * unary twins in src/db/kv.c, framed as [8-byte length][bytes] messages inside Chunks. */
#include <string.h>
#include "rpc/handlers_kv.h"
#include "sealdb_err.h"

#define STREAM_MAX_VALUES (32u << 20)   /* sum of value lengths in one streamed tx */

static int no_db(sdb_call *c) {
    sdb_call_error(c, SDB_GRPC_UNKNOWN, "database is not loaded");
    return SDB_CALL_DONE;
}

static int send_error(sdb_call *c) {
    sdb_call_error(c, SDB_GRPC_UNAVAILABLE, "stream send failed");
    return SDB_CALL_DONE;
}

static int send_f64(sdb_call *c, double d) {
    uint64_t u;
    memcpy(&u, &d, 8);
    return sdb_call_send_u64(c, u);
}

static int done_ok(sdb_call *c) {
    sdb_call_ok(c, NULL);   /* server streams end with a bare OK status */
    return SDB_CALL_DONE;
}

int sdb_kv_h_stream_get(sdb_call *c, const ProtobufCMessage *req) {
    sdb_kvdb *db = sdb_kv_call_db(c);
    if (!db) return no_db(c);
    sdb_kverr e;
    Immudb__Schema__Entry *en = NULL;
    if (sdb_kv_get(db, sdb_call_arena(c), (const Immudb__Schema__KeyRequest *)req, &en, &e)) return sdb_kv_fail(c, &e);
    if (sdb_call_send_msg(c, en->key.data, en->key.len) || sdb_call_send_msg(c, en->value.data, en->value.len))
        return send_error(c);
    return done_ok(c);
}

int sdb_kv_h_stream_verifiable_get(sdb_call *c, const ProtobufCMessage *req) {
    sdb_kvdb *db = sdb_kv_call_db(c);
    if (!db) return no_db(c);
    sdb_kverr e;
    Immudb__Schema__VerifiableEntry *ve = NULL;
    if (sdb_kv_verifiable_get(db, sdb_call_arena(c), sdb_server_signer(sdb_call_server(c)),
                              (const Immudb__Schema__VerifiableGetRequest *)req, &ve, &e))
        return sdb_kv_fail(c, &e);
    /* the first message is an Entry with only tx, key and referencedBy; the value follows apart */
    Immudb__Schema__Entry head = IMMUDB__SCHEMA__ENTRY__INIT;
    head.tx = ve->entry->tx;
    head.key = ve->entry->key;
    head.referencedby = ve->entry->referencedby;
    if (sdb_call_send_pb(c, &head.base) || sdb_call_send_pb(c, &ve->verifiabletx->base) ||
        sdb_call_send_pb(c, &ve->inclusionproof->base) ||
        sdb_call_send_msg(c, ve->entry->value.data, ve->entry->value.len))
        return send_error(c);
    return done_ok(c);
}

static int send_entries(sdb_call *c, const Immudb__Schema__Entries *es) {
    for (size_t i = 0; i < es->n_entries; i++)
        if (sdb_call_send_msg(c, es->entries[i]->key.data, es->entries[i]->key.len) ||
            sdb_call_send_msg(c, es->entries[i]->value.data, es->entries[i]->value.len))
            return send_error(c);
    return done_ok(c);
}

int sdb_kv_h_stream_scan(sdb_call *c, const ProtobufCMessage *req) {
    sdb_kvdb *db = sdb_kv_call_db(c);
    if (!db) return no_db(c);
    sdb_kverr e;
    Immudb__Schema__Entries *es = NULL;
    if (sdb_kv_scan(db, sdb_call_arena(c), (const Immudb__Schema__ScanRequest *)req, &es, &e)) return sdb_kv_fail(c, &e);
    return send_entries(c, es);
}

int sdb_kv_h_stream_history(sdb_call *c, const ProtobufCMessage *req) {
    sdb_kvdb *db = sdb_kv_call_db(c);
    if (!db) return no_db(c);
    sdb_kverr e;
    Immudb__Schema__Entries *es = NULL;
    if (sdb_kv_history(db, sdb_call_arena(c), (const Immudb__Schema__HistoryRequest *)req, &es, &e))
        return sdb_kv_fail(c, &e);
    return send_entries(c, es);
}

int sdb_kv_h_stream_zscan(sdb_call *c, const ProtobufCMessage *req) {
    sdb_kvdb *db = sdb_kv_call_db(c);
    if (!db) return no_db(c);
    sdb_kverr e;
    Immudb__Schema__ZEntries *zs = NULL;
    if (sdb_kv_zscan(db, sdb_call_arena(c), (const Immudb__Schema__ZScanRequest *)req, &zs, &e))
        return sdb_kv_fail(c, &e);
    for (size_t i = 0; i < zs->n_entries; i++) {
        const Immudb__Schema__ZEntry *z = zs->entries[i];
        if (sdb_call_send_msg(c, z->set.data, z->set.len) || sdb_call_send_msg(c, z->key.data, z->key.len) ||
            send_f64(c, z->score) || sdb_call_send_u64(c, z->attx) ||
            sdb_call_send_msg(c, z->entry ? z->entry->value.data : NULL, z->entry ? z->entry->value.len : 0))
            return send_error(c);
    }
    return done_ok(c);
}

/* ---- client streams ---- */

static int recv_error(sdb_call *c, int rc, const char *what) {
    if (rc == SEALDB_TOOLARGE) {
        sdb_call_error(c, SDB_GRPC_FAILED_PRECONDITION, "internal store max value length exceeded");
        return SDB_CALL_DONE;
    }
    sdb_call_error(c, SDB_GRPC_INVALID_ARGUMENT, "%s: %s", what, sealdb_strerror(rc));
    return SDB_CALL_DONE;
}

/* Reads (key, value)* pairs up to the end of the stream into b. 0 ok, else the call was answered. */
static int recv_pairs(sdb_call *c, sdb_kvdb *db, sdb_kv_batch *b, const char *wrap) {
    size_t total = 0;
    for (;;) {
        sdb_slice k, v;
        int eof = 0;
        int rc = sdb_call_recv_msg(c, db->max_key_len, &k, &eof);
        if (rc) return recv_error(c, rc, "malformed stream"), -1;
        if (eof) return 0;
        /* max_value_len bounds the stored value, which is the sent one plus a prefix byte */
        rc = sdb_call_recv_msg(c, db->max_value_len - 1, &v, &eof);
        if (rc) return recv_error(c, rc, "malformed stream"), -1;
        if (eof) {
            sdb_call_error(c, SDB_GRPC_INVALID_ARGUMENT, "malformed stream: value missing");
            return -1;
        }
        total += v.len;
        if (total > STREAM_MAX_VALUES) {
            sdb_call_error(c, SDB_GRPC_FAILED_PRECONDITION, "max transaction values length exceeded");
            return -1;
        }
        sdb_kverr e;
        if (sdb_kv_batch_add_plain(db, sdb_call_arena(c), b, k, v, &e)) {
            sdb_call_error(c, SDB_GRPC_UNKNOWN, "%s%s", wrap, e.msg);
            return -1;
        }
    }
}

int sdb_kv_h_stream_set(sdb_call *c, const ProtobufCMessage *req) {
    sdb_kvdb *db = sdb_kv_call_db(c);
    if (!db) return no_db(c);
    sdb_kv_batch b;
    memset(&b, 0, sizeof b);
    if (recv_pairs(c, db, &b, "StreamSet receives following error: ")) return SDB_CALL_DONE;
    sdb_kverr e;
    sdb_commit_result res;
    if (!b.n) sdb_kv_err(&e, SDB_GRPC_UNKNOWN, "no entries provided");
    if (!b.n || sdb_kv_commit_sync(db, &b, 1, &res, &e)) {
        sdb_call_error(c, SDB_GRPC_UNKNOWN, "StreamSet receives following error: %s", e.msg);
        return SDB_CALL_DONE;
    }
    Immudb__Schema__TxHeader *h = sdb_kv_header_pb(sdb_call_arena(c), &res.hdr);
    if (!h) {
        sdb_call_error(c, SDB_GRPC_INTERNAL, "out of memory");
        return SDB_CALL_DONE;
    }
    sdb_call_ok(c, &h->base);
    return SDB_CALL_DONE;
}

int sdb_kv_h_stream_verifiable_set(sdb_call *c, const ProtobufCMessage *req) {
    sdb_kvdb *db = sdb_kv_call_db(c);
    if (!db) return no_db(c);
    sdb_slice m;
    int eof = 0;
    int rc = sdb_call_recv_msg(c, 8, &m, &eof);
    if (rc || eof || m.len != 8) {
        sdb_call_error(c, SDB_GRPC_INVALID_ARGUMENT, "malformed stream: proveSinceTx missing");
        return SDB_CALL_DONE;
    }
    uint64_t prove = sdb_get_u64be(m.ptr);
    sdb_kv_batch b;
    memset(&b, 0, sizeof b);
    if (recv_pairs(c, db, &b, "StreamVerifiableSet received the following error: ")) return SDB_CALL_DONE;
    if (prove > sdb_engine_committed_tx(db->eng)) {
        sdb_call_error(c, SDB_GRPC_INVALID_ARGUMENT, "illegal state");
        return SDB_CALL_DONE;
    }
    if (!b.n) {
        sdb_call_error(c, SDB_GRPC_UNKNOWN, "StreamVerifiableSet received the following error: no entries provided");
        return SDB_CALL_DONE;
    }
    return sdb_kv_verified_commit(c, db, &b, prove, 0);
}

int sdb_kv_h_stream_exec_all(sdb_call *c, const ProtobufCMessage *req) {
    sdb_kvdb *db = sdb_kv_call_db(c);
    if (!db) return no_db(c);
    sdb_arena *a = sdb_call_arena(c);
    size_t cap = 16, n = 0, total = 0;
    Immudb__Schema__Op **ops = sdb_call_alloc(c, cap * sizeof *ops);
    if (!ops) goto nomem;
    for (;;) {
        sdb_slice t, k, v;
        int eof = 0;
        int rc = sdb_call_recv_msg(c, 1, &t, &eof);
        if (rc) return recv_error(c, rc, "malformed stream");
        if (eof) break;
        if (t.len != 1) {
            sdb_call_error(c, SDB_GRPC_INVALID_ARGUMENT, "malformed stream: bad operation type");
            return SDB_CALL_DONE;
        }
        /* every op is one entry of the tx: refuse the op past the limit, not the whole stream later */
        if (n >= db->max_tx_entries) {
            sdb_call_error(c, SDB_GRPC_UNKNOWN, "max number of entries per tx exceeded");
            return SDB_CALL_DONE;
        }
        if (n == cap) {
            Immudb__Schema__Op **bigger = sdb_call_alloc(c, 2 * cap * sizeof *ops);
            if (!bigger) goto nomem;
            memcpy(bigger, ops, n * sizeof *ops);
            ops = bigger;
            cap *= 2;
        }
        Immudb__Schema__Op *op = sdb_call_alloc(c, sizeof *op);
        if (!op) goto nomem;
        Immudb__Schema__Op init = IMMUDB__SCHEMA__OP__INIT;
        *op = init;
        if (t.ptr[0] == 0x01) {
            rc = sdb_call_recv_msg(c, db->max_key_len, &k, &eof);
            if (!rc && !eof) rc = sdb_call_recv_msg(c, db->max_value_len - 1, &v, &eof);
            if (rc) return recv_error(c, rc, "malformed stream");
            if (eof) {
                sdb_call_error(c, SDB_GRPC_INVALID_ARGUMENT, "malformed stream: truncated KV");
                return SDB_CALL_DONE;
            }
            total += v.len;
            if (total > STREAM_MAX_VALUES) {
                sdb_call_error(c, SDB_GRPC_FAILED_PRECONDITION, "max transaction values length exceeded");
                return SDB_CALL_DONE;
            }
            Immudb__Schema__KeyValue *kv = sdb_call_alloc(c, sizeof *kv);
            if (!kv) goto nomem;
            Immudb__Schema__KeyValue kinit = IMMUDB__SCHEMA__KEY_VALUE__INIT;
            *kv = kinit;
            kv->key.data = (uint8_t *)k.ptr;
            kv->key.len = k.len;
            kv->value.data = (uint8_t *)v.ptr;
            kv->value.len = v.len;
            op->operation_case = IMMUDB__SCHEMA__OP__OPERATION_KV;
            op->kv = kv;
        } else if (t.ptr[0] == 0x02) {
            rc = sdb_call_recv_msg(c, 1u << 20, &k, &eof);
            if (rc) return recv_error(c, rc, "malformed stream");
            Immudb__Schema__ZAddRequest *z = eof ? NULL :
                immudb__schema__zadd_request__unpack(sdb_call_pb_allocator(c), k.len, k.ptr);
            if (!z) {
                sdb_call_error(c, SDB_GRPC_INVALID_ARGUMENT, "malformed stream: bad ZAddRequest");
                return SDB_CALL_DONE;
            }
            op->operation_case = IMMUDB__SCHEMA__OP__OPERATION_Z_ADD;
            op->zadd = z;
        } else if (t.ptr[0] == 0x04) {
            sdb_call_error(c, SDB_GRPC_UNIMPLEMENTED, "reference operation is not implemented");
            return SDB_CALL_DONE;
        } else {
            sdb_call_error(c, SDB_GRPC_INVALID_ARGUMENT, "malformed stream: bad operation type");
            return SDB_CALL_DONE;
        }
        ops[n++] = op;
    }
    Immudb__Schema__ExecAllRequest r = IMMUDB__SCHEMA__EXEC_ALL_REQUEST__INIT;
    r.operations = ops;
    r.n_operations = n;
    sdb_kv_batch b;
    sdb_kverr e;
    sdb_commit_result res;
    if (sdb_kv_prepare_exec_all(db, a, &r, &b, &e) || sdb_kv_commit_sync(db, &b, 1, &res, &e))
        return sdb_kv_fail(c, &e);
    Immudb__Schema__TxHeader *h = sdb_kv_header_pb(a, &res.hdr);
    if (!h) goto nomem;
    sdb_call_ok(c, &h->base);
    return SDB_CALL_DONE;
nomem:
    sdb_call_error(c, SDB_GRPC_INTERNAL, "out of memory");
    return SDB_CALL_DONE;
}
