/* kv.c - libsealdb-client's unverified key-value calls: Set/ExecAll/Delete/SetReference/ZAdd
 * writes and Get/GetAll/Scan/Count/History/ZScan/TxById/TxScan reads, built on sdb_cl_call. */
#include "client/client_int.h"

#define BIN(p, n) ((ProtobufCBinaryData){ (size_t)(n), (uint8_t *)(uintptr_t)(p) })

/* ---- request builders ---- */
typedef struct kv_pb {
    Immudb__Schema__KeyValue kv;
    Immudb__Schema__KVMetadata md;
    Immudb__Schema__Expiration exp;
} kv_pb;

static void kv_fill(kv_pb *o, const sealdb_kv *in) {
    Immudb__Schema__KeyValue kv = IMMUDB__SCHEMA__KEY_VALUE__INIT;
    Immudb__Schema__KVMetadata md = IMMUDB__SCHEMA__KVMETADATA__INIT;
    Immudb__Schema__Expiration exp = IMMUDB__SCHEMA__EXPIRATION__INIT;
    o->kv = kv; o->md = md; o->exp = exp;
    o->kv.key = BIN(in->key, in->key_len);
    o->kv.value = BIN(in->value, in->value_len);
    if (in->meta) {
        o->md.deleted = in->meta->deleted;
        o->md.nonindexable = in->meta->non_indexable;
        if (in->meta->has_expiration) { o->exp.expiresat = in->meta->expires_at; o->md.expiration = &o->exp; }
        o->kv.metadata = &o->md;
    }
}

typedef struct pre_pb {
    Immudb__Schema__Precondition p;
    Immudb__Schema__Precondition__KeyMustExistPrecondition me;
    Immudb__Schema__Precondition__KeyMustNotExistPrecondition mne;
    Immudb__Schema__Precondition__KeyNotModifiedAfterTXPrecondition nm;
} pre_pb;

static int pre_fill(pre_pb *o, const sealdb_precondition *in) {
    Immudb__Schema__Precondition p = IMMUDB__SCHEMA__PRECONDITION__INIT;
    Immudb__Schema__Precondition__KeyMustExistPrecondition me = IMMUDB__SCHEMA__PRECONDITION__KEY_MUST_EXIST_PRECONDITION__INIT;
    Immudb__Schema__Precondition__KeyMustNotExistPrecondition mne = IMMUDB__SCHEMA__PRECONDITION__KEY_MUST_NOT_EXIST_PRECONDITION__INIT;
    Immudb__Schema__Precondition__KeyNotModifiedAfterTXPrecondition nm = IMMUDB__SCHEMA__PRECONDITION__KEY_NOT_MODIFIED_AFTER_TXPRECONDITION__INIT;
    o->p = p; o->me = me; o->mne = mne; o->nm = nm;
    switch (in->kind) {
    case SEALDB_PRE_KEY_MUST_EXIST:
        o->me.key = BIN(in->key, in->key_len);
        o->p.precondition_case = IMMUDB__SCHEMA__PRECONDITION__PRECONDITION_KEY_MUST_EXIST;
        o->p.keymustexist = &o->me;
        return SEALDB_OK;
    case SEALDB_PRE_KEY_MUST_NOT_EXIST:
        o->mne.key = BIN(in->key, in->key_len);
        o->p.precondition_case = IMMUDB__SCHEMA__PRECONDITION__PRECONDITION_KEY_MUST_NOT_EXIST;
        o->p.keymustnotexist = &o->mne;
        return SEALDB_OK;
    case SEALDB_PRE_NOT_MODIFIED_AFTER_TX:
        o->nm.key = BIN(in->key, in->key_len);
        o->nm.txid = in->tx_id;
        o->p.precondition_case = IMMUDB__SCHEMA__PRECONDITION__PRECONDITION_KEY_NOT_MODIFIED_AFTER_TX;
        o->p.keynotmodifiedaftertx = &o->nm;
        return SEALDB_OK;
    default:
        return SEALDB_INVALID;
    }
}

static int header_out(sealdb_client *c, Immudb__Schema__TxHeader *h, sealdb_tx_header *out) {
    int rc = SEALDB_OK;
    if (out) rc = sdb_cl_tx_header_from_pb(h, out);
    protobuf_c_message_free_unpacked(&h->base, NULL);
    return rc == SEALDB_OK ? rc : sdb_cl_fail(c, rc, "malformed transaction header from the server");
}

static int write_call(sealdb_client *c, const char *method, const ProtobufCMessage *req, sealdb_tx_header *hdr) {
    Immudb__Schema__TxHeader *h = NULL;
    int rc = sdb_cl_call(c, method, req, &immudb__schema__tx_header__descriptor, (ProtobufCMessage **)&h);
    if (rc != SEALDB_OK) return rc;
    return header_out(c, h, hdr);
}

/* Builds the precondition array (heap) for a request. */
static int pre_build(const sealdb_precondition *pre, size_t npre, pre_pb **store, Immudb__Schema__Precondition ***ptrs) {
    *store = NULL;
    *ptrs = NULL;
    if (!npre) return SEALDB_OK;
    if (!pre || npre > 1u << 16) return SEALDB_INVALID;
    *store = sdb_calloc(npre, sizeof **store);
    *ptrs = sdb_calloc(npre, sizeof **ptrs);
    if (!*store || !*ptrs) return SEALDB_NOMEM;
    for (size_t i = 0; i < npre; i++) {
        int rc = pre_fill(&(*store)[i], &pre[i]);
        if (rc != SEALDB_OK) return rc;
        (*ptrs)[i] = &(*store)[i].p;
    }
    return SEALDB_OK;
}

SEALDB_API int sealdb_client_set_all(sealdb_client *c, const sealdb_kv *kvs, size_t n,
                                     const sealdb_precondition *pre, size_t npre, sealdb_tx_header *hdr) {
    if (!c || (!kvs && n) || n > 1u << 20) return sdb_cl_fail(c, SEALDB_INVALID, "bad arguments");
    kv_pb *store = n ? sdb_calloc(n, sizeof *store) : NULL;
    Immudb__Schema__KeyValue **ptrs = n ? sdb_calloc(n, sizeof *ptrs) : NULL;
    pre_pb *pstore = NULL;
    Immudb__Schema__Precondition **pptrs = NULL;
    int rc = SEALDB_NOMEM;
    if (n && (!store || !ptrs)) goto done;
    for (size_t i = 0; i < n; i++) { kv_fill(&store[i], &kvs[i]); ptrs[i] = &store[i].kv; }
    if ((rc = pre_build(pre, npre, &pstore, &pptrs)) != SEALDB_OK) goto done;
    Immudb__Schema__SetRequest req = IMMUDB__SCHEMA__SET_REQUEST__INIT;
    req.n_kvs = n;
    req.kvs = ptrs;
    req.n_preconditions = npre;
    req.preconditions = pptrs;
    rc = write_call(c, "Set", &req.base, hdr);
done:
    sdb_free(store); sdb_free(ptrs); sdb_free(pstore); sdb_free(pptrs);
    if (rc == SEALDB_NOMEM || rc == SEALDB_INVALID) { if (!c->errmsg[0]) sdb_cl_fail(c, rc, "%s", sealdb_strerror(rc)); }
    return rc;
}

SEALDB_API int sealdb_client_set(sealdb_client *c, const void *key, size_t key_len,
                                 const void *value, size_t value_len, sealdb_tx_header *hdr) {
    sealdb_kv kv = { key, key_len, value, value_len, NULL };
    return sealdb_client_set_all(c, &kv, 1, NULL, 0, hdr);
}

static int keys_of(const void *const *keys, const size_t *lens, size_t n, ProtobufCBinaryData **out) {
    *out = NULL;
    if (!n) return SEALDB_OK;
    if (!keys || !lens || n > 1u << 20) return SEALDB_INVALID;
    if (!(*out = sdb_calloc(n, sizeof **out))) return SEALDB_NOMEM;
    for (size_t i = 0; i < n; i++) (*out)[i] = BIN(keys[i], lens[i]);
    return SEALDB_OK;
}

SEALDB_API int sealdb_client_delete(sealdb_client *c, const void *const *keys, const size_t *key_lens,
                                    size_t n, sealdb_tx_header *hdr) {
    if (!c) return SEALDB_INVALID;
    ProtobufCBinaryData *k = NULL;
    int rc = keys_of(keys, key_lens, n, &k);
    if (rc != SEALDB_OK) return sdb_cl_fail(c, rc, "bad arguments");
    Immudb__Schema__DeleteKeysRequest req = IMMUDB__SCHEMA__DELETE_KEYS_REQUEST__INIT;
    req.n_keys = n;
    req.keys = k;
    rc = write_call(c, "Delete", &req.base, hdr);
    sdb_free(k);
    return rc;
}

void sdb_cl_ref_request(Immudb__Schema__ReferenceRequest *r, const void *key, size_t key_len,
                        const void *referenced, size_t referenced_len, uint64_t at_tx, int bound) {
    Immudb__Schema__ReferenceRequest init = IMMUDB__SCHEMA__REFERENCE_REQUEST__INIT;
    *r = init;
    r->key = BIN(key, key_len);
    r->referencedkey = BIN(referenced, referenced_len);
    r->attx = at_tx;
    r->boundref = bound;
}

void sdb_cl_zadd_request(Immudb__Schema__ZAddRequest *z, const void *set, size_t set_len, double score,
                         const void *key, size_t key_len, uint64_t at_tx, int bound) {
    Immudb__Schema__ZAddRequest init = IMMUDB__SCHEMA__ZADD_REQUEST__INIT;
    *z = init;
    z->set = BIN(set, set_len);
    z->score = score;
    z->key = BIN(key, key_len);
    z->attx = at_tx;
    z->boundref = bound;
}

SEALDB_API int sealdb_client_set_reference(sealdb_client *c, const void *key, size_t key_len,
                                           const void *referenced_key, size_t referenced_len,
                                           uint64_t at_tx, sealdb_tx_header *hdr) {
    if (!c) return SEALDB_INVALID;
    Immudb__Schema__ReferenceRequest req;
    sdb_cl_ref_request(&req, key, key_len, referenced_key, referenced_len, at_tx, at_tx > 0);
    return write_call(c, "SetReference", &req.base, hdr);
}

SEALDB_API int sealdb_client_zadd(sealdb_client *c, const void *set, size_t set_len, double score,
                                  const void *key, size_t key_len, uint64_t at_tx, sealdb_tx_header *hdr) {
    if (!c) return SEALDB_INVALID;
    Immudb__Schema__ZAddRequest req;
    sdb_cl_zadd_request(&req, set, set_len, score, key, key_len, at_tx, at_tx > 0);
    return write_call(c, "ZAdd", &req.base, hdr);
}

typedef struct op_pb {
    Immudb__Schema__Op op;
    kv_pb kv;
    Immudb__Schema__ZAddRequest z;
    Immudb__Schema__ReferenceRequest r;
} op_pb;

int sdb_cl_exec_all_req(sealdb_client *c, const sealdb_op *ops, size_t n, const sealdb_precondition *pre,
                        size_t npre, sdb_cl_req_sink sink, void *arg) {
    if (!c || (!ops && n) || n > 1u << 20) return sdb_cl_fail(c, SEALDB_INVALID, "bad arguments");
    op_pb *store = n ? sdb_calloc(n, sizeof *store) : NULL;
    Immudb__Schema__Op **ptrs = n ? sdb_calloc(n, sizeof *ptrs) : NULL;
    pre_pb *pstore = NULL;
    Immudb__Schema__Precondition **pptrs = NULL;
    int rc = SEALDB_NOMEM;
    if (n && (!store || !ptrs)) goto done;
    rc = SEALDB_INVALID;
    for (size_t i = 0; i < n; i++) {
        Immudb__Schema__Op op = IMMUDB__SCHEMA__OP__INIT;
        op_pb *o = &store[i];
        const sealdb_op *in = &ops[i];
        o->op = op;
        switch (in->kind) {
        case SEALDB_OP_KV:
            kv_fill(&o->kv, &in->kv);
            o->op.operation_case = IMMUDB__SCHEMA__OP__OPERATION_KV;
            o->op.kv = &o->kv.kv;
            break;
        case SEALDB_OP_ZADD:
            sdb_cl_zadd_request(&o->z, in->target, in->target_len, in->score, in->kv.key, in->kv.key_len,
                                in->at_tx, in->bound);
            o->op.operation_case = IMMUDB__SCHEMA__OP__OPERATION_Z_ADD;
            o->op.zadd = &o->z;
            break;
        case SEALDB_OP_REF:
            sdb_cl_ref_request(&o->r, in->kv.key, in->kv.key_len, in->target, in->target_len, in->at_tx, in->bound);
            o->op.operation_case = IMMUDB__SCHEMA__OP__OPERATION_REF;
            o->op.ref = &o->r;
            break;
        default:
            goto done;
        }
        ptrs[i] = &o->op;
    }
    if ((rc = pre_build(pre, npre, &pstore, &pptrs)) != SEALDB_OK) goto done;
    Immudb__Schema__ExecAllRequest req = IMMUDB__SCHEMA__EXEC_ALL_REQUEST__INIT;
    req.n_operations = n;
    req.operations = ptrs;
    req.n_preconditions = npre;
    req.preconditions = pptrs;
    rc = sink(c, &req.base, arg);
done:
    sdb_free(store); sdb_free(ptrs); sdb_free(pstore); sdb_free(pptrs);
    if ((rc == SEALDB_NOMEM || rc == SEALDB_INVALID) && !c->errmsg[0]) sdb_cl_fail(c, rc, "%s", sealdb_strerror(rc));
    return rc;
}

static int exec_now(sealdb_client *c, const ProtobufCMessage *req, void *hdr) {
    return write_call(c, "ExecAll", req, hdr);
}

static int exec_start(sealdb_client *c, const ProtobufCMessage *req, void *start) {
    return sdb_cl_call_start(c, "ExecAll", req, start);
}

SEALDB_API int sealdb_client_exec_all(sealdb_client *c, const sealdb_op *ops, size_t n,
                                      const sealdb_precondition *pre, size_t npre, sealdb_tx_header *hdr) {
    return sdb_cl_exec_all_req(c, ops, n, pre, npre, exec_now, hdr);
}

struct sealdb_pending { sdb_rpc_pending *rp; };

SEALDB_API int sealdb_client_exec_all_start(sealdb_client *c, const sealdb_op *ops, size_t n,
                                            const sealdb_precondition *pre, size_t npre, sealdb_pending **out) {
    if (!out) return sdb_cl_fail(c, SEALDB_INVALID, "bad arguments");
    *out = NULL;
    sealdb_pending *p = sdb_calloc(1, sizeof *p);
    if (!p) return sdb_cl_fail(c, SEALDB_NOMEM, "out of memory");
    int rc = sdb_cl_exec_all_req(c, ops, n, pre, npre, exec_start, &p->rp);
    if (!p->rp) { sdb_free(p); return rc; }
    *out = p;
    return rc;
}

SEALDB_API int sealdb_client_exec_all_ready(sealdb_pending *p) { return p ? sdb_rpc_unary_ready(p->rp) : 1; }

SEALDB_API int sealdb_client_exec_all_wait(sealdb_client *c, sealdb_pending *p, sealdb_tx_header *hdr) {
    if (!c || !p) return SEALDB_INVALID;
    Immudb__Schema__TxHeader *h = NULL;
    int rc = sdb_cl_call_wait(c, p->rp, "ExecAll", &immudb__schema__tx_header__descriptor, (ProtobufCMessage **)&h);
    sdb_free(p);
    if (rc != SEALDB_OK) return rc;
    return header_out(c, h, hdr);
}

/* ---- reads ---- */
void sdb_cl_key_request(Immudb__Schema__KeyRequest *req, const void *key, size_t key_len, const sealdb_get_opts *o);
void sdb_cl_key_request(Immudb__Schema__KeyRequest *req, const void *key, size_t key_len, const sealdb_get_opts *o) {
    Immudb__Schema__KeyRequest r = IMMUDB__SCHEMA__KEY_REQUEST__INIT;
    *req = r;
    req->key = BIN(key, key_len);
    if (o) {
        req->attx = o->at_tx;
        req->sincetx = o->since_tx;
        req->atrevision = o->at_revision;
        req->nowait = o->no_wait;
    }
}

SEALDB_API int sealdb_client_get(sealdb_client *c, const void *key, size_t key_len,
                                 const sealdb_get_opts *opts, sealdb_entry **out) {
    if (!c || !out) return SEALDB_INVALID;
    Immudb__Schema__KeyRequest req;
    sdb_cl_key_request(&req, key, key_len, opts);
    Immudb__Schema__Entry *e = NULL;
    int rc = sdb_cl_call(c, "Get", &req.base, &immudb__schema__entry__descriptor, (ProtobufCMessage **)&e);
    if (rc != SEALDB_OK) return rc;
    sealdb_entry *r = sdb_calloc(1, sizeof *r);
    rc = r ? sdb_cl_entry_from_pb(e, r) : SEALDB_NOMEM;
    protobuf_c_message_free_unpacked(&e->base, NULL);
    if (rc != SEALDB_OK) { sdb_free(r); return sdb_cl_fail(c, rc, "%s", sealdb_strerror(rc)); }
    *out = r;
    return SEALDB_OK;
}

static int entries_out(sealdb_client *c, Immudb__Schema__Entries *es, sealdb_entries **out) {
    int rc = SEALDB_NOMEM;
    sealdb_entries *l = sdb_calloc(1, sizeof *l);
    if (!l) goto done;
    if (es->n_entries && !(l->items = sdb_calloc(es->n_entries, sizeof *l->items))) goto done;
    rc = SEALDB_OK;
    for (size_t i = 0; i < es->n_entries && rc == SEALDB_OK; i++) {
        rc = sdb_cl_entry_from_pb(es->entries[i], &l->items[i]);
        if (rc == SEALDB_OK) l->n = i + 1;
    }
done:
    protobuf_c_message_free_unpacked(&es->base, NULL);
    if (rc != SEALDB_OK) { sealdb_entries_free(l); return sdb_cl_fail(c, rc, "%s", sealdb_strerror(rc)); }
    *out = l;
    return SEALDB_OK;
}

static int entries_call(sealdb_client *c, const char *method, const ProtobufCMessage *req, sealdb_entries **out) {
    Immudb__Schema__Entries *es = NULL;
    int rc = sdb_cl_call(c, method, req, &immudb__schema__entries__descriptor, (ProtobufCMessage **)&es);
    if (rc != SEALDB_OK) return rc;
    return entries_out(c, es, out);
}

SEALDB_API int sealdb_client_get_all(sealdb_client *c, const void *const *keys, const size_t *key_lens,
                                     size_t n, sealdb_entries **out) {
    if (!c || !out) return SEALDB_INVALID;
    ProtobufCBinaryData *k = NULL;
    int rc = keys_of(keys, key_lens, n, &k);
    if (rc != SEALDB_OK) return sdb_cl_fail(c, rc, "bad arguments");
    Immudb__Schema__KeyListRequest req = IMMUDB__SCHEMA__KEY_LIST_REQUEST__INIT;
    req.n_keys = n;
    req.keys = k;
    rc = entries_call(c, "GetAll", &req.base, out);
    sdb_free(k);
    return rc;
}

SEALDB_API int sealdb_client_scan(sealdb_client *c, const sealdb_scan_opts *o, sealdb_entries **out) {
    if (!c || !o || !out) return SEALDB_INVALID;
    Immudb__Schema__ScanRequest req = IMMUDB__SCHEMA__SCAN_REQUEST__INIT;
    req.prefix = BIN(o->prefix, o->prefix_len);
    req.seekkey = BIN(o->seek_key, o->seek_len);
    req.endkey = BIN(o->end_key, o->end_len);
    req.inclusiveseek = o->inclusive_seek;
    req.inclusiveend = o->inclusive_end;
    req.desc = o->desc;
    req.limit = o->limit;
    req.offset = o->offset;
    req.sincetx = o->since_tx;
    return entries_call(c, "Scan", &req.base, out);
}

static int count_call(sealdb_client *c, const char *method, const ProtobufCMessage *req, uint64_t *n) {
    Immudb__Schema__EntryCount *r = NULL;
    int rc = req ? sdb_cl_call(c, method, req, &immudb__schema__entry_count__descriptor, (ProtobufCMessage **)&r)
                 : sdb_cl_call_empty(c, method, &immudb__schema__entry_count__descriptor, (ProtobufCMessage **)&r);
    if (rc != SEALDB_OK) return rc;
    if (n) *n = r->count;
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return SEALDB_OK;
}

SEALDB_API int sealdb_client_count(sealdb_client *c, const void *prefix, size_t prefix_len, uint64_t *n) {
    if (!c) return SEALDB_INVALID;
    Immudb__Schema__KeyPrefix req = IMMUDB__SCHEMA__KEY_PREFIX__INIT;
    req.prefix = BIN(prefix, prefix_len);
    return count_call(c, "Count", &req.base, n);
}

SEALDB_API int sealdb_client_count_all(sealdb_client *c, uint64_t *n) {
    if (!c) return SEALDB_INVALID;
    return count_call(c, "CountAll", NULL, n);
}

SEALDB_API int sealdb_client_history(sealdb_client *c, const void *key, size_t key_len, uint64_t offset,
                                     int32_t limit, int desc, uint64_t since_tx, sealdb_entries **out) {
    if (!c || !out) return SEALDB_INVALID;
    Immudb__Schema__HistoryRequest req = IMMUDB__SCHEMA__HISTORY_REQUEST__INIT;
    req.key = BIN(key, key_len);
    req.offset = offset;
    req.limit = limit;
    req.desc = desc;
    req.sincetx = since_tx;
    return entries_call(c, "History", &req.base, out);
}

SEALDB_API int sealdb_client_zscan(sealdb_client *c, const sealdb_zscan_opts *o, sealdb_zentries **out) {
    if (!c || !o || !out) return SEALDB_INVALID;
    Immudb__Schema__ZScanRequest req = IMMUDB__SCHEMA__ZSCAN_REQUEST__INIT;
    Immudb__Schema__Score mn = IMMUDB__SCHEMA__SCORE__INIT, mx = IMMUDB__SCHEMA__SCORE__INIT;
    req.set = BIN(o->set, o->set_len);
    req.seekkey = BIN(o->seek_key, o->seek_len);
    req.seekscore = o->seek_score;
    req.seekattx = o->seek_at_tx;
    req.inclusiveseek = o->inclusive_seek;
    req.desc = o->desc;
    req.limit = o->limit;
    req.offset = o->offset;
    req.sincetx = o->since_tx;
    if (o->has_min) { mn.score = o->min_score; req.minscore = &mn; }
    if (o->has_max) { mx.score = o->max_score; req.maxscore = &mx; }
    Immudb__Schema__ZEntries *zs = NULL;
    int rc = sdb_cl_call(c, "ZScan", &req.base, &immudb__schema__zentries__descriptor, (ProtobufCMessage **)&zs);
    if (rc != SEALDB_OK) return rc;
    rc = SEALDB_NOMEM;
    sealdb_zentries *l = sdb_calloc(1, sizeof *l);
    if (!l) goto done;
    if (zs->n_entries && !(l->items = sdb_calloc(zs->n_entries, sizeof *l->items))) goto done;
    rc = SEALDB_OK;
    for (size_t i = 0; i < zs->n_entries && rc == SEALDB_OK; i++) {
        const Immudb__Schema__ZEntry *z = zs->entries[i];
        sealdb_zentry *d = &l->items[i];
        l->n = i + 1;
        d->score = z->score;
        d->at_tx = z->attx;
        if (z->set.len && !(d->set = sdb_malloc(z->set.len))) { rc = SEALDB_NOMEM; break; }
        if (z->set.len) { memcpy(d->set, z->set.data, z->set.len); d->set_len = z->set.len; }
        if (z->key.len && !(d->key = sdb_malloc(z->key.len))) { rc = SEALDB_NOMEM; break; }
        if (z->key.len) { memcpy(d->key, z->key.data, z->key.len); d->key_len = z->key.len; }
        if (z->entry) rc = sdb_cl_entry_from_pb(z->entry, &d->entry);
    }
done:
    protobuf_c_message_free_unpacked(&zs->base, NULL);
    if (rc != SEALDB_OK) { sealdb_zentries_free(l); return sdb_cl_fail(c, rc, "%s", sealdb_strerror(rc)); }
    *out = l;
    return SEALDB_OK;
}

/* EntriesSpec asking for raw entries with their values (KV and sorted sets). */
void sdb_cl_raw_values_spec(Immudb__Schema__EntriesSpec *spec, Immudb__Schema__EntryTypeSpec *kv,
                            Immudb__Schema__EntryTypeSpec *z);
void sdb_cl_raw_values_spec(Immudb__Schema__EntriesSpec *spec, Immudb__Schema__EntryTypeSpec *kv,
                            Immudb__Schema__EntryTypeSpec *z) {
    Immudb__Schema__EntriesSpec s = IMMUDB__SCHEMA__ENTRIES_SPEC__INIT;
    Immudb__Schema__EntryTypeSpec t = IMMUDB__SCHEMA__ENTRY_TYPE_SPEC__INIT;
    *spec = s; *kv = t; *z = t;
    kv->action = IMMUDB__SCHEMA__ENTRY_TYPE_ACTION__RAW_VALUE;
    z->action = IMMUDB__SCHEMA__ENTRY_TYPE_ACTION__RAW_VALUE;
    spec->kventriesspec = kv;
    spec->zentriesspec = z;
}

SEALDB_API int sealdb_client_tx_by_id(sealdb_client *c, uint64_t tx, int want_values, sealdb_tx **out) {
    if (!c || !out) return SEALDB_INVALID;
    Immudb__Schema__TxRequest req = IMMUDB__SCHEMA__TX_REQUEST__INIT;
    Immudb__Schema__EntriesSpec spec;
    Immudb__Schema__EntryTypeSpec kv, z;
    req.tx = tx;
    if (want_values) { sdb_cl_raw_values_spec(&spec, &kv, &z); req.entriesspec = &spec; }
    Immudb__Schema__Tx *t = NULL;
    int rc = sdb_cl_call(c, "TxById", &req.base, &immudb__schema__tx__descriptor, (ProtobufCMessage **)&t);
    if (rc != SEALDB_OK) return rc;
    sealdb_tx *r = sdb_calloc(1, sizeof *r);
    rc = r ? sdb_cl_tx_from_pb(t, r) : SEALDB_NOMEM;
    protobuf_c_message_free_unpacked(&t->base, NULL);
    if (rc != SEALDB_OK) { sdb_free(r); return sdb_cl_fail(c, rc, "malformed transaction from the server"); }
    *out = r;
    return SEALDB_OK;
}

SEALDB_API int sealdb_client_tx_scan(sealdb_client *c, uint64_t initial_tx, uint32_t limit, int desc,
                                     sealdb_txs **out) {
    if (!c || !out) return SEALDB_INVALID;
    Immudb__Schema__TxScanRequest req = IMMUDB__SCHEMA__TX_SCAN_REQUEST__INIT;
    req.initialtx = initial_tx;
    req.limit = limit;
    req.desc = desc;
    Immudb__Schema__TxList *tl = NULL;
    int rc = sdb_cl_call(c, "TxScan", &req.base, &immudb__schema__tx_list__descriptor, (ProtobufCMessage **)&tl);
    if (rc != SEALDB_OK) return rc;
    rc = SEALDB_NOMEM;
    sealdb_txs *l = sdb_calloc(1, sizeof *l);
    if (!l) goto done;
    if (tl->n_txs && !(l->items = sdb_calloc(tl->n_txs, sizeof *l->items))) goto done;
    rc = SEALDB_OK;
    for (size_t i = 0; i < tl->n_txs && rc == SEALDB_OK; i++) {
        rc = sdb_cl_tx_from_pb(tl->txs[i], &l->items[i]);
        if (rc == SEALDB_OK) l->n = i + 1;
    }
done:
    protobuf_c_message_free_unpacked(&tl->base, NULL);
    if (rc != SEALDB_OK) { sealdb_txs_free(l); return sdb_cl_fail(c, rc, "malformed transaction from the server"); }
    *out = l;
    return SEALDB_OK;
}
