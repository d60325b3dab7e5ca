/* kv.c - immudb key-value semantics over the engine: reads (Get, GetAll, Scan, History, ZScan,
 * TxById, TxScan, CurrentState) with reference resolution and immudb's exact errors, and the
 * validation/encoding of writes into engine batches (Set, Delete, SetReference, ZAdd, ExecAll). */
#include <math.h>
#include <pthread.h>
#include <float.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "db/kv.h"
#include "sealdb_err.h"

#define MSG_NOT_FOUND "tbtree: key not found"
#define MSG_EXPIRED   "tbtree: key not found: expired entry"
#define MSG_ILLEGAL   "illegal arguments"

/* Cache of packed raw Tx messages (direct-mapped by tx id). Bounded: TXC_SLOTS x TXC_MAX_TX bytes
 * per database at most; larger txs are rebuilt on every request. */
#define TXC_SLOTS 32
#define TXC_MAX_TX (256u * 1024u)

typedef struct txc_slot {
    pthread_mutex_t mu;
    uint64_t id;
    uint8_t *p;   /* sdb_malloc'ed packed Tx, NULL: empty */
    size_t n;
} txc_slot;

struct sdb_kv_txcache { txc_slot s[TXC_SLOTS]; };

static struct sdb_kv_txcache *txc_new(void) {
    struct sdb_kv_txcache *c = sdb_calloc(1, sizeof *c);
    if (c)
        for (int i = 0; i < TXC_SLOTS; i++) pthread_mutex_init(&c->s[i].mu, NULL);
    return c;
}

static void txc_free(struct sdb_kv_txcache *c) {
    if (!c) return;
    for (int i = 0; i < TXC_SLOTS; i++) {
        sdb_free(c->s[i].p);
        pthread_mutex_destroy(&c->s[i].mu);
    }
    sdb_free(c);
}

int sdb_kv_err(sdb_kverr *e, sdb_grpc_code code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    e->code = code;
    e->info = NULL;
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return -1;
}

static int oom(sdb_kverr *e) { return sdb_kv_err(e, SDB_GRPC_INTERNAL, "out of memory"); }

static void *zalloc(sdb_arena *a, size_t n) {
    void *p = sdb_arena_alloc(a, n ? n : 1);
    if (p) memset(p, 0, n ? n : 1);
    return p;
}

/* Allocates a protobuf message of `type` initialised with its INIT macro. */
#define PB_NEW(a, type, INIT) __extension__({ \
    type *p_ = sdb_arena_alloc((a), sizeof(type)); \
    if (p_) { type t_ = INIT; *p_ = t_; } \
    p_; })

static int bin_dup(sdb_arena *a, ProtobufCBinaryData *d, const void *p, size_t n) {
    d->len = n;
    d->data = NULL;
    if (!n) return 0;
    d->data = sdb_arena_dup(a, p, n);
    return d->data ? 0 : -1;
}

static sdb_slice prefixed(sdb_arena *a, uint8_t prefix, const uint8_t *k, size_t n) {
    uint8_t *p = sdb_arena_alloc(a, n + 1);
    if (!p) return (sdb_slice){ NULL, 0 };
    p[0] = prefix;
    if (n) memcpy(p + 1, k, n);
    return (sdb_slice){ p, n + 1 };
}

static int result_limit(uint64_t limit, sdb_kverr *err) {
    return sdb_kv_err(err, SDB_GRPC_UNKNOWN, "result size limit exceeded: the specified limit (%llu) is larger "
                      "than the maximum allowed one (%u)", (unsigned long long)limit, SDB_KV_MAX_RESULT);
}

static int engine_err(int rc, sdb_kverr *err) {
    switch (rc) {
    case SEALDB_NOTFOUND: return sdb_kv_err(err, SDB_GRPC_UNKNOWN, MSG_NOT_FOUND);
    case SEALDB_RANGE: return sdb_kv_err(err, SDB_GRPC_UNKNOWN, "tx not found");
    case SEALDB_NOMEM: return oom(err);
    case SEALDB_UNSUPPORTED: return sdb_kv_err(err, SDB_GRPC_UNIMPLEMENTED, "%s", sealdb_strerror(rc));
    default: return sdb_kv_err(err, SDB_GRPC_UNKNOWN, "%s", sealdb_strerror(rc));
    }
}

/* ---- open / close ---- */

int sdb_kvdb_open(const char *dir, const char *name, const sdb_db_settings *st, sdb_kvdb **out) {
    sdb_kvdb *db = sdb_calloc(1, sizeof *db);
    if (!db) return SEALDB_NOMEM;
    db->name = sdb_strdup(name);
    if (!db->name) { sdb_free(db); return SEALDB_NOMEM; }
    sdb_engine_opts o;
    sdb_engine_opts_default(&o);
    db->max_key_len = SDB_ENGINE_MAX_KEY_LEN;
    db->max_value_len = SDB_ENGINE_MAX_VALUE_LEN;
    db->max_tx_entries = SDB_ENGINE_MAX_ENTRIES;
    if (st) {
        if (st->max_key_len) db->max_key_len = st->max_key_len;
        if (st->max_value_len) db->max_value_len = st->max_value_len;
        if (st->max_tx_entries) db->max_tx_entries = st->max_tx_entries;
        o.exclude_commit_time = st->exclude_commit_time;
        o.sync = st->synced ? 1 : 0;   /* --synced=false: no fsync at commit */
        /* immudb's fileSize is an upper bound on a data file; segments are zero-filled up front,
         * so its 512 MiB default would cost 1 GiB of writes per new database: keep ours when smaller */
        if (st->file_size && st->file_size < o.segment_size) o.segment_size = st->file_size;
    }
    o.max_entries = db->max_tx_entries;
    o.max_key_len = db->max_key_len;
    /* immudb's limit is inclusive on the prefixed value; the engine's bound is exclusive */
    o.max_value_len = db->max_value_len + 1;
    int rc = sdb_engine_open(dir, &o, &db->eng);
    if (rc) { sdb_free(db->name); sdb_free(db); return rc; }
    db->txc = txc_new();   /* without it (out of memory) every answer is built afresh */
    *out = db;
    return SEALDB_OK;
}

void sdb_kvdb_close(sdb_kvdb *db) {
    if (!db) return;
    sdb_engine_close(db->eng);
    txc_free(db->txc);
    sdb_free(db->name);
    sdb_free(db);
}

/* ---- message builders ---- */

static Immudb__Schema__KVMetadata *md_pb(sdb_arena *a, const sdb_kv_md *md) {
    Immudb__Schema__KVMetadata *m = PB_NEW(a, Immudb__Schema__KVMetadata, IMMUDB__SCHEMA__KVMETADATA__INIT);
    if (!m) return NULL;
    m->deleted = md->deleted != 0;
    m->nonindexable = md->non_indexable != 0;
    if (md->has_expires) {
        m->expiration = PB_NEW(a, Immudb__Schema__Expiration, IMMUDB__SCHEMA__EXPIRATION__INIT);
        if (!m->expiration) return NULL;
        m->expiration->expiresat = md->expires_at;
    }
    return m;
}

static int md_present(const sdb_kv_md *md) { return md->deleted || md->has_expires || md->non_indexable; }

Immudb__Schema__TxHeader *sdb_kv_header_pb(sdb_arena *a, const sdb_tx_header *h) {
    Immudb__Schema__TxHeader *p = PB_NEW(a, Immudb__Schema__TxHeader, IMMUDB__SCHEMA__TX_HEADER__INIT);
    if (!p) return NULL;
    p->id = h->id;
    p->ts = h->ts;
    p->nentries = (int32_t)h->nentries;
    p->bltxid = h->bl_tx_id;
    p->version = h->version;
    if (bin_dup(a, &p->prevalh, h->prev_alh.b, SDB_HASH_LEN) || bin_dup(a, &p->eh, h->eh.b, SDB_HASH_LEN) ||
        bin_dup(a, &p->blroot, h->bl_root.b, SDB_HASH_LEN))
        return NULL;
    return p;
}

static int hashes_pb(sdb_arena *a, const sdb_hashes *h, ProtobufCBinaryData **out, size_t *n) {
    *n = h->n;
    *out = NULL;
    if (!h->n) return 0;
    *out = zalloc(a, h->n * sizeof **out);
    if (!*out) return -1;
    for (size_t i = 0; i < h->n; i++)
        if (bin_dup(a, &(*out)[i], h->h[i].b, SDB_HASH_LEN)) return -1;
    return 0;
}

static Immudb__Schema__DualProof *dual_pb(sdb_arena *a, const sdb_dual_proof *d) {
    Immudb__Schema__DualProof *p = PB_NEW(a, Immudb__Schema__DualProof, IMMUDB__SCHEMA__DUAL_PROOF__INIT);
    if (!p) return NULL;
    p->sourcetxheader = sdb_kv_header_pb(a, &d->source);
    p->targettxheader = sdb_kv_header_pb(a, &d->target);
    if (!p->sourcetxheader || !p->targettxheader) return NULL;
    if (hashes_pb(a, &d->inclusion, &p->inclusionproof, &p->n_inclusionproof) ||
        hashes_pb(a, &d->consistency, &p->consistencyproof, &p->n_consistencyproof) ||
        hashes_pb(a, &d->last_inclusion, &p->lastinclusionproof, &p->n_lastinclusionproof) ||
        bin_dup(a, &p->targetbltxalh, d->target_bl_tx_alh.b, SDB_HASH_LEN))
        return NULL;
    p->linearproof = PB_NEW(a, Immudb__Schema__LinearProof, IMMUDB__SCHEMA__LINEAR_PROOF__INIT);
    if (!p->linearproof) return NULL;
    p->linearproof->sourcetxid = d->linear.source_tx_id;
    p->linearproof->targettxid = d->linear.target_tx_id;
    if (hashes_pb(a, &d->linear.terms, &p->linearproof->terms, &p->linearproof->n_terms)) return NULL;
    if (d->lap.present) {
        Immudb__Schema__LinearAdvanceProof *l =
            PB_NEW(a, Immudb__Schema__LinearAdvanceProof, IMMUDB__SCHEMA__LINEAR_ADVANCE_PROOF__INIT);
        if (!l || hashes_pb(a, &d->lap.linear_terms, &l->linearproofterms, &l->n_linearproofterms)) return NULL;
        if (d->lap.n_inclusion) {
            l->inclusionproofs = zalloc(a, d->lap.n_inclusion * sizeof *l->inclusionproofs);
            if (!l->inclusionproofs) return NULL;
            l->n_inclusionproofs = d->lap.n_inclusion;
            for (size_t i = 0; i < d->lap.n_inclusion; i++) {
                Immudb__Schema__InclusionProof *ip =
                    PB_NEW(a, Immudb__Schema__InclusionProof, IMMUDB__SCHEMA__INCLUSION_PROOF__INIT);
                if (!ip || hashes_pb(a, &d->lap.inclusion[i], &ip->terms, &ip->n_terms)) return NULL;
                l->inclusionproofs[i] = ip;
            }
        }
        p->linearadvanceproof = l;
    }
    return p;
}

static Immudb__Schema__Signature *sign_pb(sdb_arena *a, const sdb_signer *signer, const char *db, uint64_t id,
                                          const uint8_t alh[SDB_HASH_LEN]) {
    Immudb__Schema__Signature *s = PB_NEW(a, Immudb__Schema__Signature, IMMUDB__SCHEMA__SIGNATURE__INIT);
    if (!s) return NULL;
    uint8_t pub[65];
    sdb_buf der;
    sdb_buf_init(&der);
    if (sdb_signer_public_point(signer, pub) || sdb_state_sign(signer, sdb_slice_str(db), id, alh, &der) ||
        bin_dup(a, &s->publickey, pub, sizeof pub) || bin_dup(a, &s->signature, der.ptr, der.len)) {
        sdb_buf_deinit(&der);
        return NULL;
    }
    sdb_buf_deinit(&der);
    return s;
}

/* ---- reading keys ---- */

/* The user key of a version (stored key minus its prefix byte); `fallback` when the engine gave none. */
static sdb_slice user_key(const sdb_kv_version *v, sdb_slice fallback) {
    if (v->key.len > 1) return (sdb_slice){ v->key.ptr + 1, v->key.len - 1 };
    return fallback;
}

/* 1 (err filled) when the version is a deletion or expired, 0 when live. */
static int dead(const sdb_kv_version *v, sdb_kverr *err) {
    if (v->md.deleted || (v->vlen == 0 && v->value.len == 0)) {
        sdb_kv_err(err, SDB_GRPC_UNKNOWN, MSG_NOT_FOUND);
        return 1;
    }
    if (v->expired) {
        sdb_kv_err(err, SDB_GRPC_UNKNOWN, MSG_EXPIRED);
        return 1;
    }
    return 0;
}

/* Reads a plain-prefixed key. 0 ok; 1 absent (never written / not in that tx; err filled); -1 error. */
static int read_key(sdb_kvdb *db, sdb_arena *a, sdb_slice ukey, const sdb_get_opts *o, sdb_kv_version *v,
                    sdb_kverr *err) {
    sdb_slice pk = prefixed(a, SDB_KEY_PREFIX_SET, ukey.ptr, ukey.len);
    if (!pk.ptr) return oom(err);
    int rc = sdb_engine_get(db->eng, pk, o, v);
    if (rc == SEALDB_OK) return 0;
    if (rc == SEALDB_NOTFOUND) { sdb_kv_err(err, SDB_GRPC_UNKNOWN, MSG_NOT_FOUND); return 1; }
    if (rc == SEALDB_INVALID) return sdb_kv_err(err, SDB_GRPC_UNKNOWN, "invalid key revision number");
    return engine_err(rc, err);   /* UNSUPPORTED (no key index in this build) -> Unimplemented */
}

static SdbEntry *entry_pb(sdb_arena *a, const sdb_kv_version *v, sdb_slice key, sdb_slice value) {
    SdbEntry *e = PB_NEW(a, SdbEntry, IMMUDB__SCHEMA__ENTRY__INIT);
    if (!e) return NULL;
    e->tx = v->tx_id;
    e->revision = v->revision;
    if (bin_dup(a, &e->key, key.ptr, key.len) || bin_dup(a, &e->value, value.ptr, value.len)) return NULL;
    if (md_present(&v->md) && !(e->metadata = md_pb(a, &v->md))) return NULL;
    return e;
}

/* Builds the Get-style Entry of live version v of user key `ukey`, resolving a reference one level
 * (unless keep_ref). 0 ok; 1 the target is absent/deleted/expired (err filled); -1 error.
 * proven_idx (may be NULL) gets the entry index of v inside its tx. */
static int resolve(sdb_kvdb *db, sdb_arena *a, const sdb_kv_version *v, sdb_slice ukey, int keep_ref,
                   SdbEntry **out, sdb_kverr *err) {
    sdb_enc_value ev;
    if (sdb_enc_parse_value(sdb_buf_slice(&v->value), &ev))
        return sdb_kv_err(err, SDB_GRPC_INTERNAL, "corrupted stored value");
    sdb_slice key = user_key(v, ukey);
    if (ev.kind != SDB_ENC_REF || keep_ref) {
        sdb_slice val = ev.kind == SDB_ENC_PLAIN ? ev.value
                        : (v->value.len ? (sdb_slice){ v->value.ptr + 1, v->value.len - 1 } : (sdb_slice){ NULL, 0 });
        if (!(*out = entry_pb(a, v, key, val))) return oom(err);
        return 0;
    }
    sdb_get_opts o = { .at_tx = ev.at_tx, .no_wait = 1 };
    sdb_kv_version t;
    sdb_kv_version_init(&t);
    int rc = read_key(db, a, ev.ref_key, &o, &t, err);
    if (rc) goto done;
    if (dead(&t, err)) { rc = 1; goto done; }
    sdb_enc_value tv;
    if (sdb_enc_parse_value(sdb_buf_slice(&t.value), &tv) || tv.kind != SDB_ENC_PLAIN) {
        rc = sdb_kv_err(err, SDB_GRPC_INTERNAL, "corrupted reference target");
        goto done;
    }
    SdbEntry *e = entry_pb(a, &t, user_key(&t, ev.ref_key), tv.value);
    Immudb__Schema__Reference *r = PB_NEW(a, Immudb__Schema__Reference, IMMUDB__SCHEMA__REFERENCE__INIT);
    if (!e || !r || bin_dup(a, &r->key, key.ptr, key.len)) { rc = oom(err); goto done; }
    if (ev.at_tx) e->revision = 0;
    r->tx = v->tx_id;
    r->attx = ev.at_tx;
    r->revision = v->revision;
    if (md_present(&v->md) && !(r->metadata = md_pb(a, &v->md))) { rc = oom(err); goto done; }
    e->referencedby = r;
    *out = e;
done:
    sdb_kv_version_deinit(&t);
    return rc;
}

/* Get with immudb's validation; also returns the proven (tx, entry index): the reference entry's
 * for references. */
static int get_entry(sdb_kvdb *db, sdb_arena *a, const Immudb__Schema__KeyRequest *r, SdbEntry **out,
                     uint64_t *proven_tx, uint32_t *proven_idx, sdb_kverr *err) {
    if (!r->key.len) return sdb_kv_err(err, SDB_GRPC_UNKNOWN, "illegal arguments: empty key");
    if (r->attx && r->sincetx)
        return sdb_kv_err(err, SDB_GRPC_UNKNOWN, "illegal arguments: SinceTx should not be specified when AtTx is used");
    if (r->attx && r->atrevision)
        return sdb_kv_err(err, SDB_GRPC_UNKNOWN,
                          "illegal arguments: AtRevision should not be specified when AtTx is used");
    if (r->sincetx > sdb_engine_last_tx(db->eng))
        return sdb_kv_err(err, SDB_GRPC_UNKNOWN,
                          "illegal arguments: SinceTx must not be greater than the current transaction ID");
    sdb_get_opts o = { .at_tx = r->attx, .at_revision = r->atrevision, .since_tx = r->sincetx, .no_wait = r->nowait };
    sdb_kv_version v;
    sdb_kv_version_init(&v);
    sdb_slice uk = { r->key.data, r->key.len };
    int rc = read_key(db, a, uk, &o, &v, err);
    if (rc) { rc = -1; goto done; }
    if (dead(&v, err)) { rc = -1; goto done; }
    rc = resolve(db, a, &v, uk, 0, out, err);
    if (rc > 0) rc = -1;
    if (proven_tx) *proven_tx = v.tx_id;
    if (proven_idx) *proven_idx = v.entry_idx;
done:
    sdb_kv_version_deinit(&v);
    return rc < 0 ? -1 : 0;
}

int sdb_kv_get(sdb_kvdb *db, sdb_arena *a, const Immudb__Schema__KeyRequest *r, SdbEntry **out, sdb_kverr *err) {
    return get_entry(db, a, r, out, NULL, NULL, err);
}

int sdb_kv_get_all(sdb_kvdb *db, sdb_arena *a, const Immudb__Schema__KeyListRequest *r,
                   Immudb__Schema__Entries **out, sdb_kverr *err) {
    uint64_t last = sdb_engine_last_tx(db->eng);
    if (r->sincetx > last) return sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT, MSG_ILLEGAL);
    if (sdb_engine_wait_indexed(db->eng, r->sincetx ? r->sincetx : last, -1) == SEALDB_RANGE)
        return sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT, MSG_ILLEGAL);
    Immudb__Schema__Entries *es = PB_NEW(a, Immudb__Schema__Entries, IMMUDB__SCHEMA__ENTRIES__INIT);
    if (!es) return oom(err);
    if (r->n_keys && !(es->entries = zalloc(a, r->n_keys * sizeof *es->entries))) return oom(err);
    for (size_t i = 0; i < r->n_keys; i++) {
        sdb_slice uk = { r->keys[i].data, r->keys[i].len };
        if (!uk.len) continue;
        sdb_get_opts o = { .no_wait = 1 };
        sdb_kv_version v;
        sdb_kv_version_init(&v);
        SdbEntry *e = NULL;
        int rc = read_key(db, a, uk, &o, &v, err);
        if (rc == 0 && !dead(&v, err)) rc = resolve(db, a, &v, uk, 0, &e, err);
        else if (rc == 0) rc = 1;
        sdb_kv_version_deinit(&v);
        if (rc < 0) return -1;
        if (rc == 0) es->entries[es->n_entries++] = e;
    }
    *out = es;
    return 0;
}

int sdb_kv_scan(sdb_kvdb *db, sdb_arena *a, const Immudb__Schema__ScanRequest *r, Immudb__Schema__Entries **out,
                sdb_kverr *err) {
    if (r->limit > SDB_KV_MAX_RESULT) return result_limit(r->limit, err);
    if (r->sincetx > sdb_engine_last_tx(db->eng)) return sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT, MSG_ILLEGAL);
    sdb_scan_opts o;
    memset(&o, 0, sizeof o);
    o.prefix = prefixed(a, SDB_KEY_PREFIX_SET, r->prefix.data, r->prefix.len);
    if (r->seekkey.len) o.seek = prefixed(a, SDB_KEY_PREFIX_SET, r->seekkey.data, r->seekkey.len);
    if (r->endkey.len) o.end = prefixed(a, SDB_KEY_PREFIX_SET, r->endkey.data, r->endkey.len);
    if (!o.prefix.ptr || (r->seekkey.len && !o.seek.ptr) || (r->endkey.len && !o.end.ptr)) return oom(err);
    o.inclusive_seek = r->inclusiveseek;
    o.inclusive_end = r->inclusiveend;
    o.desc = r->desc;
    o.offset = r->offset;
    o.limit = r->limit ? r->limit : SDB_KV_MAX_RESULT;
    o.since_tx = r->sincetx;
    sdb_kv_list l;
    sdb_kv_list_init(&l);
    int rc = sdb_engine_scan(db->eng, &o, &l);
    if (rc) { sdb_kv_list_deinit(&l); return rc == SEALDB_RANGE ? sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT, MSG_ILLEGAL)
                                                                  : engine_err(rc, err); }
    Immudb__Schema__Entries *es = PB_NEW(a, Immudb__Schema__Entries, IMMUDB__SCHEMA__ENTRIES__INIT);
    if (!es || (l.n && !(es->entries = zalloc(a, l.n * sizeof *es->entries)))) { sdb_kv_list_deinit(&l); return oom(err); }
    for (size_t i = 0; i < l.n; i++) {
        SdbEntry *e = NULL;
        if (dead(&l.v[i], err)) continue;
        rc = resolve(db, a, &l.v[i], (sdb_slice){ NULL, 0 }, 0, &e, err);
        if (rc < 0) { sdb_kv_list_deinit(&l); return -1; }
        if (rc == 0) es->entries[es->n_entries++] = e;
    }
    sdb_kv_list_deinit(&l);
    *out = es;
    return 0;
}

int sdb_kv_history(sdb_kvdb *db, sdb_arena *a, const Immudb__Schema__HistoryRequest *r,
                   Immudb__Schema__Entries **out, sdb_kverr *err) {
    if (r->limit < 0) return sdb_kv_err(err, SDB_GRPC_UNKNOWN, "tbtree: illegal arguments");
    if ((uint64_t)r->limit > SDB_KV_MAX_RESULT) return result_limit((uint64_t)r->limit, err);
    if (r->sincetx > sdb_engine_last_tx(db->eng)) return sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT, MSG_ILLEGAL);
    sdb_slice pk = prefixed(a, SDB_KEY_PREFIX_SET, r->key.data, r->key.len);
    if (!pk.ptr) return oom(err);
    sdb_kv_list l;
    sdb_kv_list_init(&l);
    uint64_t total = 0;
    uint64_t limit = r->limit ? (uint64_t)r->limit : SDB_KV_MAX_RESULT;
    int rc = sdb_engine_history(db->eng, pk, r->offset, limit, r->desc, r->sincetx, &l, &total);
    if (rc) { sdb_kv_list_deinit(&l); return engine_err(rc, err); }
    if (r->offset == total) { sdb_kv_list_deinit(&l); return sdb_kv_err(err, SDB_GRPC_UNKNOWN, "tbtree: no more entries"); }
    Immudb__Schema__Entries *es = PB_NEW(a, Immudb__Schema__Entries, IMMUDB__SCHEMA__ENTRIES__INIT);
    if (!es || (l.n && !(es->entries = zalloc(a, l.n * sizeof *es->entries)))) { sdb_kv_list_deinit(&l); return oom(err); }
    for (size_t i = 0; i < l.n; i++) {
        sdb_kv_version *v = &l.v[i];
        sdb_slice val = { NULL, 0 };
        if (!v->md.deleted && !v->expired && v->value.len > 1) val = (sdb_slice){ v->value.ptr + 1, v->value.len - 1 };
        SdbEntry *e = entry_pb(a, v, (sdb_slice){ r->key.data, r->key.len }, val);
        if (!e) { sdb_kv_list_deinit(&l); return oom(err); }
        e->expired = v->expired != 0;
        e->revision = r->desc ? total - r->offset - i : r->offset + i + 1;
        es->entries[es->n_entries++] = e;
    }
    sdb_kv_list_deinit(&l);
    *out = es;
    return 0;
}

int sdb_kv_count(sdb_kvdb *db, sdb_slice prefix, uint64_t *out, sdb_kverr *err) {
    uint8_t stackbuf[1025];
    sdb_buf pb;
    sdb_buf_init(&pb);
    sdb_slice pk;
    if (prefix.len < sizeof stackbuf) {
        stackbuf[0] = SDB_KEY_PREFIX_SET;
        if (prefix.len) memcpy(stackbuf + 1, prefix.ptr, prefix.len);
        pk = sdb_slice_of(stackbuf, prefix.len + 1);
    } else {
        if (sdb_enc_set_key(prefix, &pb)) return oom(err);
        pk = sdb_buf_slice(&pb);
    }
    int rc = sdb_engine_count(db->eng, pk, 0, out);
    sdb_buf_deinit(&pb);
    return rc ? engine_err(rc, err) : 0;
}

/* ---- sorted sets ---- */

/* Member entry of a sorted-set element: 0 ok, 1 skip (member gone), -1 error. */
static int zmember(sdb_kvdb *db, sdb_arena *a, sdb_slice ukey, uint64_t at_tx, SdbEntry **out, sdb_kverr *err) {
    sdb_get_opts o = { .at_tx = at_tx, .no_wait = 1 };
    sdb_kv_version v;
    sdb_kv_version_init(&v);
    int rc = read_key(db, a, ukey, &o, &v, err);
    if (rc == 0) rc = dead(&v, err) ? 1 : resolve(db, a, &v, ukey, 0, out, err);
    if (rc == 0 && at_tx) (*out)->revision = 0;
    sdb_kv_version_deinit(&v);
    return rc;
}

static Immudb__Schema__ZEntry *zentry_pb(sdb_arena *a, const sdb_enc_zadd *z, SdbEntry *member) {
    Immudb__Schema__ZEntry *ze = PB_NEW(a, Immudb__Schema__ZEntry, IMMUDB__SCHEMA__ZENTRY__INIT);
    if (!ze || bin_dup(a, &ze->set, z->set.ptr, z->set.len) || bin_dup(a, &ze->key, z->key.ptr, z->key.len)) return NULL;
    ze->score = z->score;
    ze->attx = z->at_tx;
    ze->entry = member;
    return ze;
}

static sdb_slice zset_prefix(sdb_arena *a, sdb_slice set, size_t extra) {
    uint8_t *p = sdb_arena_alloc(a, 9 + set.len + extra);
    if (!p) return (sdb_slice){ NULL, 0 };
    p[0] = SDB_KEY_PREFIX_ZSET;
    sdb_put_u64be(p + 1, set.len);
    if (set.len) memcpy(p + 9, set.ptr, set.len);
    return (sdb_slice){ p, 9 + set.len };
}

static void put_f64(uint8_t *p, double d) {
    uint64_t u;
    memcpy(&u, &d, 8);
    sdb_put_u64be(p, u);
}

int sdb_kv_zscan(sdb_kvdb *db, sdb_arena *a, const Immudb__Schema__ZScanRequest *r, Immudb__Schema__ZEntries **out,
                 sdb_kverr *err) {
    if (!r->set.len) return sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT, MSG_ILLEGAL);
    if (r->limit > SDB_KV_MAX_RESULT) return result_limit(r->limit, err);
    if (r->sincetx > sdb_engine_last_tx(db->eng)) return sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT, MSG_ILLEGAL);
    sdb_slice set = { r->set.data, r->set.len };
    sdb_scan_opts o;
    memset(&o, 0, sizeof o);
    o.prefix = zset_prefix(a, set, 0);
    if (!o.prefix.ptr) return oom(err);
    if (r->seekkey.len) {
        sdb_buf sk;
        sdb_buf_init(&sk);
        if (sdb_enc_zadd_key(set, r->seekscore, (sdb_slice){ r->seekkey.data, r->seekkey.len }, r->seekattx, &sk)) {
            sdb_buf_deinit(&sk);
            return oom(err);
        }
        o.seek.ptr = sdb_arena_dup(a, sk.ptr, sk.len);
        o.seek.len = sk.len;
        sdb_buf_deinit(&sk);
        if (!o.seek.ptr) return oom(err);
        o.inclusive_seek = r->inclusiveseek;
    } else if (!r->desc && r->minscore) {
        sdb_slice s = zset_prefix(a, set, 8);
        if (!s.ptr) return oom(err);
        put_f64((uint8_t *)s.ptr + s.len, r->minscore->score);
        o.seek = (sdb_slice){ s.ptr, s.len + 8 };
        o.inclusive_seek = 1;
    } else if (r->desc) {
        /* start after every element of score max: the score bits followed by 0xff bytes sort
         * above any (length, key, atTx) suffix, whose length field starts with 0x00 */
        sdb_slice s = zset_prefix(a, set, 17);
        if (!s.ptr) return oom(err);
        put_f64((uint8_t *)s.ptr + s.len, r->maxscore ? r->maxscore->score : DBL_MAX);
        memset((uint8_t *)s.ptr + s.len + 8, 0xff, 9);
        o.seek = (sdb_slice){ s.ptr, s.len + 17 };
        o.inclusive_seek = 1;
    }
    o.desc = r->desc;
    o.offset = r->offset;
    o.limit = r->limit ? r->limit : SDB_KV_MAX_RESULT;
    o.since_tx = r->sincetx;
    o.include_dead = 1;
    o.no_value = 1;
    sdb_kv_list l;
    sdb_kv_list_init(&l);
    int rc = sdb_engine_scan(db->eng, &o, &l);
    if (rc) { sdb_kv_list_deinit(&l); return rc == SEALDB_RANGE ? sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT, MSG_ILLEGAL)
                                                                  : engine_err(rc, err); }
    Immudb__Schema__ZEntries *zs = PB_NEW(a, Immudb__Schema__ZEntries, IMMUDB__SCHEMA__ZENTRIES__INIT);
    if (!zs || (l.n && !(zs->entries = zalloc(a, l.n * sizeof *zs->entries)))) { sdb_kv_list_deinit(&l); return oom(err); }
    for (size_t i = 0; i < l.n; i++) {
        sdb_enc_zadd z;
        if (sdb_enc_parse_zadd_key(sdb_buf_slice(&l.v[i].key), &z)) continue;
        if (r->minscore && z.score < r->minscore->score) continue;
        if (r->maxscore && z.score > r->maxscore->score) continue;
        SdbEntry *e = NULL;
        rc = zmember(db, a, z.key, z.at_tx, &e, err);
        if (rc < 0) { sdb_kv_list_deinit(&l); return -1; }
        if (rc > 0) continue;
        Immudb__Schema__ZEntry *ze = zentry_pb(a, &z, e);
        if (!ze) { sdb_kv_list_deinit(&l); return oom(err); }
        zs->entries[zs->n_entries++] = ze;
    }
    sdb_kv_list_deinit(&l);
    *out = zs;
    return 0;
}

/* ---- transactions ---- */

static Immudb__Schema__TxEntry *txentry_pb(sdb_arena *a, const sdb_tx_entry *te, int with_value) {
    Immudb__Schema__TxEntry *p = PB_NEW(a, Immudb__Schema__TxEntry, IMMUDB__SCHEMA__TX_ENTRY__INIT);
    if (!p || bin_dup(a, &p->key, te->key.ptr, te->key.len) || bin_dup(a, &p->hvalue, te->hvalue.b, SDB_HASH_LEN))
        return NULL;
    p->vlen = (int32_t)te->vlen;
    if (te->md_bytes.len && !(p->metadata = md_pb(a, &te->md))) return NULL;
    if (with_value && bin_dup(a, &p->value, te->value.ptr, te->value.len)) return NULL;
    return p;
}

static int spec_action(const Immudb__Schema__EntriesSpec *spec, uint8_t prefix) {
    const Immudb__Schema__EntryTypeSpec *s = prefix == SDB_KEY_PREFIX_SET ? spec->kventriesspec
                                             : prefix == SDB_KEY_PREFIX_ZSET ? spec->zentriesspec
                                             : spec->sqlentriesspec;
    return s ? (int)s->action : IMMUDB__SCHEMA__ENTRY_TYPE_ACTION__EXCLUDE;
}

/* Tx message for tx id: raw (spec NULL) or formatted per EntriesSpec (spec/api.md 2.14). */
static int tx_pb(sdb_kvdb *db, sdb_arena *a, uint64_t id, const Immudb__Schema__EntriesSpec *spec, int keep_refs,
                 Immudb__Schema__Tx **out, sdb_kverr *err) {
    int need_values = 0;
    if (spec) {
        for (int k = 0; k < 3; k++) {
            int act = spec_action(spec, (uint8_t)k);
            if (act == IMMUDB__SCHEMA__ENTRY_TYPE_ACTION__RAW_VALUE || act == IMMUDB__SCHEMA__ENTRY_TYPE_ACTION__RESOLVE)
                need_values = 1;
        }
        if (spec_action(spec, SDB_KEY_PREFIX_SQL) == IMMUDB__SCHEMA__ENTRY_TYPE_ACTION__RESOLVE)
            return sdb_kv_err(err, SDB_GRPC_UNKNOWN, "illegal arguments: sql entry resolution is not supported");
    }
    sdb_tx t;
    sdb_tx_init(&t);
    int rc = sdb_engine_tx_read(db->eng, id, need_values, &t);
    if (rc) { sdb_tx_deinit(&t); return engine_err(rc, err); }
    Immudb__Schema__Tx *p = PB_NEW(a, Immudb__Schema__Tx, IMMUDB__SCHEMA__TX__INIT);
    if (!p || !(p->header = sdb_kv_header_pb(a, &t.hdr))) goto nomem;
    if (t.nentries) {
        if (!(p->entries = zalloc(a, t.nentries * sizeof *p->entries))) goto nomem;
        if (spec && !(p->kventries = zalloc(a, t.nentries * sizeof *p->kventries))) goto nomem;
        if (spec && !(p->zentries = zalloc(a, t.nentries * sizeof *p->zentries))) goto nomem;
    }
    for (uint32_t i = 0; i < t.nentries; i++) {
        const sdb_tx_entry *te = &t.entries[i];
        uint8_t prefix = te->key.len ? te->key.ptr[0] : 0xff;
        int act = spec ? spec_action(spec, prefix) : IMMUDB__SCHEMA__ENTRY_TYPE_ACTION__ONLY_DIGEST;
        if (act == IMMUDB__SCHEMA__ENTRY_TYPE_ACTION__EXCLUDE) continue;
        if (act == IMMUDB__SCHEMA__ENTRY_TYPE_ACTION__ONLY_DIGEST || act == IMMUDB__SCHEMA__ENTRY_TYPE_ACTION__RAW_VALUE) {
            int expired = te->md.has_expires && te->md.expires_at <= sdb_unix_s();
            Immudb__Schema__TxEntry *e = txentry_pb(a, te, act == IMMUDB__SCHEMA__ENTRY_TYPE_ACTION__RAW_VALUE && !expired);
            if (!e) goto nomem;
            p->entries[p->n_entries++] = e;
            continue;
        }
        /* RESOLVE */
        if (te->md.deleted || (te->md.has_expires && te->md.expires_at <= sdb_unix_s())) continue;
        if (prefix == SDB_KEY_PREFIX_SET) {
            sdb_kv_version v;
            sdb_kv_version_init(&v);
            v.tx_id = id;
            v.md = te->md;
            v.vlen = te->vlen;
            SdbEntry *e = NULL;
            if (sdb_buf_append(&v.key, te->key.ptr, te->key.len) || sdb_buf_append(&v.value, te->value.ptr, te->value.len)) {
                sdb_kv_version_deinit(&v);
                goto nomem;
            }
            rc = resolve(db, a, &v, (sdb_slice){ NULL, 0 }, keep_refs, &e, err);
            sdb_kv_version_deinit(&v);
            if (rc < 0) { sdb_tx_deinit(&t); return -1; }
            if (rc == 0) p->kventries[p->n_kventries++] = e;
        } else if (prefix == SDB_KEY_PREFIX_ZSET) {
            sdb_enc_zadd z;
            if (sdb_enc_parse_zadd_key(te->key, &z)) continue;
            SdbEntry *e = NULL;
            rc = zmember(db, a, z.key, z.at_tx, &e, err);
            if (rc < 0) { sdb_tx_deinit(&t); return -1; }
            if (rc > 0) continue;
            Immudb__Schema__ZEntry *ze = zentry_pb(a, &z, e);
            if (!ze) goto nomem;
            p->zentries[p->n_zentries++] = ze;
        }
    }
    sdb_tx_deinit(&t);
    *out = p;
    return 0;
nomem:
    sdb_tx_deinit(&t);
    return oom(err);
}

int sdb_kv_tx_by_id(sdb_kvdb *db, sdb_arena *a, const Immudb__Schema__TxRequest *r, Immudb__Schema__Tx **out,
                    sdb_kverr *err) {
    uint64_t last = sdb_engine_last_tx(db->eng);
    if (!r->tx) return sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT, MSG_ILLEGAL);
    if (r->sincetx > last) return sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT, MSG_ILLEGAL);
    if (r->tx > last) return sdb_kv_err(err, SDB_GRPC_UNKNOWN, "tx not found");
    if (!r->nowait) sdb_engine_wait_indexed(db->eng, r->sincetx ? r->sincetx : last, -1);
    return tx_pb(db, a, r->tx, r->entriesspec, r->keepreferencesunresolved, out, err);
}

int sdb_kv_tx_scan(sdb_kvdb *db, sdb_arena *a, const Immudb__Schema__TxScanRequest *r, Immudb__Schema__TxList **out,
                   sdb_kverr *err) {
    uint64_t last = sdb_engine_last_tx(db->eng);
    if (r->limit > SDB_KV_MAX_RESULT) return result_limit(r->limit, err);
    if (!r->initialtx) return sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT, MSG_ILLEGAL);
    if (r->sincetx > last) return sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT, MSG_ILLEGAL);
    if (!r->nowait) sdb_engine_wait_indexed(db->eng, r->sincetx ? r->sincetx : last, -1);
    uint64_t limit = r->limit ? r->limit : SDB_KV_MAX_RESULT;
    Immudb__Schema__TxList *tl = PB_NEW(a, Immudb__Schema__TxList, IMMUDB__SCHEMA__TX_LIST__INIT);
    if (!tl || !(tl->txs = zalloc(a, limit * sizeof *tl->txs))) return oom(err);
    for (uint64_t id = r->initialtx; id >= 1 && id <= last && tl->n_txs < limit; id = r->desc ? id - 1 : id + 1) {
        Immudb__Schema__Tx *t = NULL;
        if (tx_pb(db, a, id, r->entriesspec, 0, &t, err)) return -1;
        tl->txs[tl->n_txs++] = t;
    }
    *out = tl;
    return 0;
}

int sdb_kv_state(sdb_kvdb *db, sdb_arena *a, const sdb_signer *signer, Immudb__Schema__ImmutableState **out,
                 sdb_kverr *err) {
    uint64_t id;
    uint8_t alh[SDB_HASH_LEN];
    int rc = sdb_engine_state(db->eng, &id, alh);
    if (rc) return engine_err(rc, err);
    Immudb__Schema__ImmutableState *s = PB_NEW(a, Immudb__Schema__ImmutableState, IMMUDB__SCHEMA__IMMUTABLE_STATE__INIT);
    if (!s || !(s->db = sdb_arena_dup(a, db->name, strlen(db->name) + 1))) return oom(err);
    s->txid = id;
    s->precommittedtxid = id;
    if (bin_dup(a, &s->txhash, alh, SDB_HASH_LEN) || bin_dup(a, &s->precommittedtxhash, alh, SDB_HASH_LEN))
        return oom(err);
    if (signer && !(s->signature = sign_pb(a, signer, db->name, id, alh)))
        return sdb_kv_err(err, SDB_GRPC_INTERNAL, "state signing failed");
    *out = s;
    return 0;
}

/* ---- verifiable answers ---- */

/* VerifiableTx for tx v; with_tx 0 leaves vt->tx NULL (the caller adds the packed raw tx). */
static int verifiable_tx(sdb_kvdb *db, sdb_arena *a, const sdb_signer *signer, uint64_t v, uint64_t prove_since,
                         const Immudb__Schema__EntriesSpec *spec, int keep_refs, int with_tx,
                         Immudb__Schema__VerifiableTx **out, sdb_kverr *err) {
    uint64_t source = v, target = v;
    if (prove_since && prove_since <= v) source = prove_since;
    else if (prove_since > v) { source = v; target = prove_since; }
    Immudb__Schema__VerifiableTx *vt = PB_NEW(a, Immudb__Schema__VerifiableTx, IMMUDB__SCHEMA__VERIFIABLE_TX__INIT);
    if (!vt) return oom(err);
    if (with_tx && tx_pb(db, a, v, spec, keep_refs, &vt->tx, err)) return -1;
    sdb_dual_proof dp;
    sdb_dual_proof_init(&dp);
    int rc = sdb_engine_dual_proof(db->eng, source, target, &dp);
    if (rc) { sdb_dual_proof_deinit(&dp); return engine_err(rc, err); }
    if (!(vt->dualproof = dual_pb(a, &dp))) { sdb_dual_proof_deinit(&dp); return oom(err); }
    if (signer) {
        uint8_t alh[SDB_HASH_LEN];
        if (sdb_tx_alh(&dp.target, alh) || !(vt->signature = sign_pb(a, signer, db->name, dp.target.id, alh))) {
            sdb_dual_proof_deinit(&dp);
            return sdb_kv_err(err, SDB_GRPC_INTERNAL, "state signing failed");
        }
    }
    sdb_dual_proof_deinit(&dp);
    *out = vt;
    return 0;
}

int sdb_kv_verifiable_tx(sdb_kvdb *db, sdb_arena *a, const sdb_signer *signer, uint64_t v, uint64_t prove_since,
                         const Immudb__Schema__EntriesSpec *spec, int keep_refs, Immudb__Schema__VerifiableTx **out,
                         sdb_kverr *err) {
    return verifiable_tx(db, a, signer, v, prove_since, spec, keep_refs, 1, out, err);
}

/* VerifiableEntry; with_tx 0 leaves verifiabletx->tx NULL and gives the proven tx id in *vtx_out. */
static int verifiable_get(sdb_kvdb *db, sdb_arena *a, const sdb_signer *signer,
                          const Immudb__Schema__VerifiableGetRequest *r, int with_tx,
                          Immudb__Schema__VerifiableEntry **out, uint64_t *vtx_out, sdb_kverr *err) {
    if (!r->keyrequest) return sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT, MSG_ILLEGAL);
    if (r->provesincetx > sdb_engine_last_tx(db->eng)) return sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT, "illegal state");
    Immudb__Schema__VerifiableEntry *ve =
        PB_NEW(a, Immudb__Schema__VerifiableEntry, IMMUDB__SCHEMA__VERIFIABLE_ENTRY__INIT);
    if (!ve) return oom(err);
    uint64_t vtx = 0;
    uint32_t idx = 0;
    if (get_entry(db, a, r->keyrequest, &ve->entry, &vtx, &idx, err)) return -1;
    if (verifiable_tx(db, a, signer, vtx, r->provesincetx, NULL, 0, with_tx, &ve->verifiabletx, err)) return -1;
    sdb_hashes terms;
    sdb_hashes_init(&terms);
    uint32_t width = 0;
    int rc = sdb_engine_inclusion_proof(db->eng, vtx, idx, NULL, &terms, &width);
    Immudb__Schema__InclusionProof *ip = PB_NEW(a, Immudb__Schema__InclusionProof, IMMUDB__SCHEMA__INCLUSION_PROOF__INIT);
    if (rc || !ip || hashes_pb(a, &terms, &ip->terms, &ip->n_terms)) {
        sdb_hashes_deinit(&terms);
        return rc ? engine_err(rc, err) : oom(err);
    }
    sdb_hashes_deinit(&terms);
    ip->leaf = (int32_t)idx;
    ip->width = (int32_t)width;
    ve->inclusionproof = ip;
    *out = ve;
    if (vtx_out) *vtx_out = vtx;
    return 0;
}

int sdb_kv_verifiable_get(sdb_kvdb *db, sdb_arena *a, const sdb_signer *signer,
                          const Immudb__Schema__VerifiableGetRequest *r, Immudb__Schema__VerifiableEntry **out,
                          sdb_kverr *err) {
    return verifiable_get(db, a, signer, r, 1, out, NULL, err);
}

/* ---- packed answers: protobuf framing around cached bytes ---- */

static size_t varint_len(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) { v >>= 7; n++; }
    return n;
}

static uint8_t *put_varint(uint8_t *p, uint64_t v) {
    while (v >= 0x80) { *p++ = (uint8_t)(v | 0x80); v >>= 7; }
    *p++ = (uint8_t)v;
    return p;
}

/* Length-delimited field `num` (< 16) holding n bytes: tag, length, then the caller's bytes. */
static uint8_t *put_field_head(uint8_t *p, unsigned num, size_t n) {
    *p++ = (uint8_t)(num << 3 | 2);
    return put_varint(p, n);
}

/* vLen as protobuf-c packs an int32 field: sign-extended to 64 bits. */
static uint64_t entry_vlen(const sdb_tx_entry *te) { return (uint64_t)(int64_t)(int32_t)te->vlen; }

/* Packed size of one TxEntry body (key #1, hValue #2, vLen #3, metadata #4 packed as md). */
static size_t entry_len(const sdb_tx_entry *te, sdb_slice md) {
    uint64_t vl = entry_vlen(te);
    return (te->key.len ? 1 + varint_len(te->key.len) + te->key.len : 0) + 2 + SDB_HASH_LEN +
           (vl ? 1 + varint_len(vl) : 0) + (te->md_bytes.len ? 1 + varint_len(md.len) + md.len : 0);
}

/* Packs the raw Tx message of tx id (what tx_pb(spec NULL) builds, then protobuf-c packs) straight
 * from the engine's tx, without a message per entry: header #1, then per entry #2 a TxEntry of
 * key #1, hValue #2, vLen #3 (omitted when 0), metadata #4 (when present). Fields are written in
 * number order and proto3 zero values are skipped, as protobuf-c does, so the bytes are identical.
 * The result starts at offset `head` of a fresh arena buffer with `tail` bytes free after it. */
static int raw_tx_encode(sdb_kvdb *db, sdb_arena *a, uint64_t id, size_t head, size_t tail, uint8_t **buf,
                         size_t *n, sdb_kverr *err) {
    sdb_tx t;
    sdb_tx_init(&t);
    int rc = sdb_engine_tx_read(db->eng, id, 0, &t);
    if (rc) { sdb_tx_deinit(&t); return engine_err(rc, err); }
    Immudb__Schema__TxHeader *h = sdb_kv_header_pb(a, &t.hdr);
    sdb_slice *mds = t.nentries ? zalloc(a, t.nentries * sizeof *mds) : NULL;
    if (!h || (t.nentries && !mds)) goto nomem;
    size_t hl = protobuf_c_message_get_packed_size(&h->base);
    size_t total = 1 + varint_len(hl) + hl;
    for (uint32_t i = 0; i < t.nentries; i++) {
        const sdb_tx_entry *te = &t.entries[i];
        if (te->md_bytes.len) {
            Immudb__Schema__KVMetadata *m = md_pb(a, &te->md);
            if (!m) goto nomem;
            size_t ml = protobuf_c_message_get_packed_size(&m->base);
            uint8_t *mp = sdb_arena_alloc(a, ml ? ml : 1);
            if (!mp) goto nomem;
            protobuf_c_message_pack(&m->base, mp);
            mds[i] = sdb_slice_of(mp, ml);
        }
        size_t el = entry_len(te, mds[i]);
        total += 1 + varint_len(el) + el;
    }
    uint8_t *b = sdb_arena_alloc(a, head + total + tail);
    if (!b) goto nomem;
    uint8_t *p = put_field_head(b + head, 1, hl);
    p += protobuf_c_message_pack(&h->base, p);
    for (uint32_t i = 0; i < t.nentries; i++) {
        const sdb_tx_entry *te = &t.entries[i];
        uint64_t vl = entry_vlen(te);
        size_t el = entry_len(te, mds[i]);
        p = put_field_head(p, 2, el);
        if (te->key.len) {
            p = put_field_head(p, 1, te->key.len);
            memcpy(p, te->key.ptr, te->key.len);
            p += te->key.len;
        }
        p = put_field_head(p, 2, SDB_HASH_LEN);
        memcpy(p, te->hvalue.b, SDB_HASH_LEN);
        p += SDB_HASH_LEN;
        if (vl) { *p++ = 3 << 3; p = put_varint(p, vl); }
        if (te->md_bytes.len) {
            p = put_field_head(p, 4, mds[i].len);
            memcpy(p, mds[i].ptr, mds[i].len);
            p += mds[i].len;
        }
    }
    sdb_tx_deinit(&t);
    if ((size_t)(p - (b + head)) != total) return sdb_kv_err(err, SDB_GRPC_INTERNAL, "internal error: tx encoding");
    *buf = b;
    *n = total;
    return 0;
nomem:
    sdb_tx_deinit(&t);
    return oom(err);
}

/* The packed raw Tx of tx id, copied into a fresh arena buffer at offset `head` with `tail` more
 * bytes free after it; *n is its length. From the cache when present, else built and cached. */
static int raw_tx_packed(sdb_kvdb *db, sdb_arena *a, uint64_t id, size_t head, size_t tail, uint8_t **buf,
                         size_t *n, sdb_kverr *err) {
    txc_slot *s = db->txc ? &db->txc->s[id % TXC_SLOTS] : NULL;
    if (s) {
        pthread_mutex_lock(&s->mu);
        if (s->p && s->id == id) {
            uint8_t *b = sdb_arena_alloc(a, head + s->n + tail);
            if (b) { memcpy(b + head, s->p, s->n); *n = s->n; }
            pthread_mutex_unlock(&s->mu);
            if (!b) return oom(err);
            *buf = b;
            return 0;
        }
        pthread_mutex_unlock(&s->mu);
    }
    uint8_t *b = NULL;
    size_t len = 0;
    if (raw_tx_encode(db, a, id, head, tail, &b, &len, err)) return -1;
    if (s && len <= TXC_MAX_TX) {
        uint8_t *copy = sdb_malloc(len ? len : 1);
        if (copy) {
            memcpy(copy, b + head, len);
            pthread_mutex_lock(&s->mu);
            uint8_t *old = s->p;
            s->p = copy;
            s->n = len;
            s->id = id;
            pthread_mutex_unlock(&s->mu);
            sdb_free(old);
        }
    }
    *buf = b;
    *n = len;
    return 0;
}

/* VerifiableEntry = entry #1, verifiableTx #2 { tx #1, dualProof #2, signature #3 }, inclusionProof #3:
 * protobuf-c packs fields in number order and every one of these sub-messages is present, so
 * framing the parts in that order gives exactly the bytes of packing the whole message. */
int sdb_kv_verifiable_get_packed(sdb_kvdb *db, sdb_arena *a, const sdb_signer *signer,
                                 const Immudb__Schema__VerifiableGetRequest *r, sdb_slice *out, sdb_kverr *err) {
    Immudb__Schema__VerifiableEntry *ve = NULL;
    uint64_t vtx = 0;
    if (verifiable_get(db, a, signer, r, 0, &ve, &vtx, err)) return -1;
    size_t entry_len = protobuf_c_message_get_packed_size(&ve->entry->base);
    size_t rest_len = protobuf_c_message_get_packed_size(&ve->verifiabletx->base);   /* tx is NULL */
    size_t ip_len = protobuf_c_message_get_packed_size(&ve->inclusionproof->base);
    size_t head = 1 + varint_len(entry_len) + entry_len + 2 * (1 + 10);
    size_t tail = rest_len + 1 + varint_len(ip_len) + ip_len;
    uint8_t *buf = NULL;
    size_t tx_len = 0;
    if (raw_tx_packed(db, a, vtx, head, tail, &buf, &tx_len, err)) return -1;
    size_t vt_len = 1 + varint_len(tx_len) + tx_len + rest_len;
    size_t pre = 1 + varint_len(entry_len) + entry_len + 1 + varint_len(vt_len) + 1 + varint_len(tx_len);
    uint8_t *start = buf + head - pre;
    uint8_t *p = put_field_head(start, 1, entry_len);
    p += protobuf_c_message_pack(&ve->entry->base, p);
    p = put_field_head(p, 2, vt_len);
    p = put_field_head(p, 1, tx_len);
    p += tx_len;   /* already in place */
    p += protobuf_c_message_pack(&ve->verifiabletx->base, p);
    p = put_field_head(p, 3, ip_len);
    p += protobuf_c_message_pack(&ve->inclusionproof->base, p);
    *out = sdb_slice_of(start, (size_t)(p - start));
    return 0;
}

int sdb_kv_verifiable_tx_by_id(sdb_kvdb *db, sdb_arena *a, const sdb_signer *signer,
                               const Immudb__Schema__VerifiableTxRequest *r, Immudb__Schema__VerifiableTx **out,
                               sdb_kverr *err) {
    uint64_t last = sdb_engine_last_tx(db->eng);
    if (r->provesincetx > last)
        return sdb_kv_err(err, SDB_GRPC_UNKNOWN, "illegal state: latest txID=%llu is lower than specified as initial tx=%llu",
                          (unsigned long long)last, (unsigned long long)r->provesincetx);
    if (!r->tx) return sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT, MSG_ILLEGAL);
    if (r->sincetx > last) return sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT, MSG_ILLEGAL);
    if (r->tx > last) return sdb_kv_err(err, SDB_GRPC_UNKNOWN, "tx not found");
    if (!r->nowait) sdb_engine_wait_indexed(db->eng, r->sincetx ? r->sincetx : last, -1);
    return sdb_kv_verifiable_tx(db, a, signer, r->tx, r->provesincetx, r->entriesspec, r->keepreferencesunresolved,
                                out, err);
}

/* ---- writes ---- */

static int batch_reserve(sdb_arena *a, sdb_kv_batch *b, size_t n) {
    if (b->cap >= n) return 0;
    size_t cap = b->cap ? b->cap * 2 : 16;
    while (cap < n) cap *= 2;
    sdb_kv *k = sdb_arena_alloc(a, cap * sizeof *k);
    if (!k) return -1;
    if (b->n) memcpy(k, b->kvs, b->n * sizeof *k);
    b->kvs = k;
    b->cap = cap;
    return 0;
}

#define KSLOT_MIN_BATCH 16   /* below this a linear scan is cheaper than hashing */

static uint64_t key_hash(sdb_slice k) {
    uint64_t h = 1469598103934665603ull;   /* FNV-1a */
    for (size_t i = 0; i < k.len; i++) h = (h ^ k.ptr[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

static void kslot_put(sdb_kv_batch *b, size_t idx) {
    size_t mask = b->kslot_cap - 1;
    size_t s = (size_t)key_hash(b->kvs[idx].key) & mask;
    while (b->kslot[s]) s = (s + 1) & mask;
    b->kslot[s] = (uint32_t)idx + 1;
}

/* (Re)builds the open-addressing table so it stays at most half full with `want` keys. */
static int kslot_grow(sdb_arena *a, sdb_kv_batch *b, size_t want) {
    size_t cap = 64;
    while (cap < want * 2) cap *= 2;
    uint32_t *t = sdb_arena_alloc(a, cap * sizeof *t);
    if (!t) return -1;
    memset(t, 0, cap * sizeof *t);
    b->kslot = t;
    b->kslot_cap = cap;
    for (size_t i = 0; i < b->n; i++) kslot_put(b, i);
    return 0;
}

/* 1 if key k is already in the batch, 0 if not, -1 out of memory. A SetAll of 1000 keys made the
 * former linear scan quadratic (~60% of the server's CPU for that call). */
static int batch_has_key(sdb_arena *a, sdb_kv_batch *b, sdb_slice k) {
    if (b->n < KSLOT_MIN_BATCH) {
        for (size_t i = 0; i < b->n; i++)
            if (sdb_slice_eq(b->kvs[i].key, k)) return 1;
        return 0;
    }
    if ((b->n + 1) * 2 > b->kslot_cap && kslot_grow(a, b, b->n + 1)) return -1;
    size_t mask = b->kslot_cap - 1;
    for (size_t s = (size_t)key_hash(k) & mask; b->kslot[s]; s = (s + 1) & mask)
        if (sdb_slice_eq(b->kvs[b->kslot[s] - 1].key, k)) return 1;
    return 0;
}

/* Records the key just appended at b->kvs[b->n - 1] in the lookup table (when there is one). */
static void batch_note_key(sdb_kv_batch *b) {
    if (b->kslot_cap) kslot_put(b, b->n - 1);
}

/* Checks limits of a stored key/value pair (prefixed lengths). */
static int check_limits(sdb_kvdb *db, size_t klen, size_t vlen, sdb_kverr *err) {
    if (klen > db->max_key_len) return sdb_kv_err(err, SDB_GRPC_UNKNOWN, "max key length exceeded");
    if (vlen > db->max_value_len) return sdb_kv_err(err, SDB_GRPC_UNKNOWN, "max value length exceeded");
    return 0;
}

static sdb_kv_md md_from_pb(const Immudb__Schema__KVMetadata *m) {
    sdb_kv_md md;
    memset(&md, 0, sizeof md);
    if (!m) return md;
    md.deleted = m->deleted != 0;
    md.non_indexable = m->nonindexable != 0;
    if (m->expiration) { md.has_expires = 1; md.expires_at = m->expiration->expiresat; }
    return md;
}

static int add_kv(sdb_kvdb *db, sdb_arena *a, sdb_kv_batch *b, sdb_slice key, sdb_slice value,
                  const Immudb__Schema__KVMetadata *m, sdb_kverr *err) {
    if (!key.len) return sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT, MSG_ILLEGAL);
    sdb_slice pk = prefixed(a, SDB_KEY_PREFIX_SET, key.ptr, key.len);
    if (!pk.ptr) return oom(err);
    int dup = batch_has_key(a, b, pk);
    if (dup < 0) return oom(err);
    if (dup)
        return sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT, "duplicated keys are not supported in single batch transaction");
    if (check_limits(db, pk.len, value.len + 1, err)) return -1;
    if (b->n >= db->max_tx_entries) return sdb_kv_err(err, SDB_GRPC_UNKNOWN, "max number of entries per tx exceeded");
    sdb_slice pv = prefixed(a, SDB_VALUE_PREFIX_PLAIN, value.ptr, value.len);
    if (!pv.ptr || batch_reserve(a, b, b->n + 1)) return oom(err);
    b->kvs[b->n++] = (sdb_kv){ .key = pk, .value = pv, .md = md_from_pb(m) };
    batch_note_key(b);
    return 0;
}

int sdb_kv_batch_add_plain(sdb_kvdb *db, sdb_arena *a, sdb_kv_batch *b, sdb_slice key, sdb_slice value,
                           sdb_kverr *err) {
    return add_kv(db, a, b, key, value, NULL, err);
}

static int prepare_preconditions(sdb_kvdb *db, sdb_arena *a, Immudb__Schema__Precondition **pre, size_t n,
                                 sdb_kv_batch *b, sdb_kverr *err) {
    if (!n) return 0;
    if (!(b->pre = zalloc(a, n * sizeof *b->pre))) return oom(err);
    for (size_t i = 0; i < n; i++) {
        const Immudb__Schema__Precondition *p = pre[i];
        sdb_precondition *o = &b->pre[i];
        const ProtobufCBinaryData *k = NULL;
        switch (p ? p->precondition_case : IMMUDB__SCHEMA__PRECONDITION__PRECONDITION__NOT_SET) {
        case IMMUDB__SCHEMA__PRECONDITION__PRECONDITION_KEY_MUST_EXIST:
            o->kind = SDB_PRE_KEY_MUST_EXIST;
            k = &p->keymustexist->key;
            break;
        case IMMUDB__SCHEMA__PRECONDITION__PRECONDITION_KEY_MUST_NOT_EXIST:
            o->kind = SDB_PRE_KEY_MUST_NOT_EXIST;
            k = &p->keymustnotexist->key;
            break;
        case IMMUDB__SCHEMA__PRECONDITION__PRECONDITION_KEY_NOT_MODIFIED_AFTER_TX:
            o->kind = SDB_PRE_KEY_NOT_MODIFIED_AFTER;
            k = &p->keynotmodifiedaftertx->key;
            o->tx_id = p->keynotmodifiedaftertx->txid;
            break;
        default:
            return sdb_kv_err(err, SDB_GRPC_UNKNOWN, "invalid precondition: null");
        }
        if (!k->len) return sdb_kv_err(err, SDB_GRPC_UNKNOWN, "invalid precondition: null key");
        if (k->len + 1 > db->max_key_len)
            return sdb_kv_err(err, SDB_GRPC_UNKNOWN, "invalid precondition: invalid precondition: max key length exceeded");
        if (o->kind == SDB_PRE_KEY_NOT_MODIFIED_AFTER && !o->tx_id)
            return sdb_kv_err(err, SDB_GRPC_UNKNOWN, "invalid precondition: invalid precondition: invalid transaction ID");
        o->key = prefixed(a, SDB_KEY_PREFIX_SET, k->data, k->len);
        if (!o->key.ptr) return oom(err);
    }
    b->npre = b->npre_user = n;
    return 0;
}

/* Appends a precondition the server adds itself (target existence, the tx id of bound entries). */
static int add_internal_pre(sdb_arena *a, sdb_kv_batch *b, int kind, sdb_slice key, uint64_t tx_id, sdb_kverr *err) {
    sdb_precondition *np = sdb_arena_alloc(a, (b->npre + 1) * sizeof *np);
    if (!np) return oom(err);
    if (b->npre) memcpy(np, b->pre, b->npre * sizeof *np);
    np[b->npre++] = (sdb_precondition){ .kind = kind, .key = key, .tx_id = tx_id };
    b->pre = np;
    return 0;
}

/* The plain key `key` (unprefixed) must still exist when the tx commits: the existence check done
 * while preparing is repeated atomically by the engine. */
static int pre_target_exists(sdb_arena *a, sdb_kv_batch *b, sdb_slice key, sdb_kverr *err) {
    sdb_slice pk = prefixed(a, SDB_KEY_PREFIX_SET, key.ptr, key.len);
    if (!pk.ptr) return oom(err);
    return add_internal_pre(a, b, SDB_PRE_KEY_MUST_EXIST, pk, 0, err);
}

int sdb_kv_prepare_set(sdb_kvdb *db, sdb_arena *a, const Immudb__Schema__SetRequest *r, sdb_kv_batch *b,
                       sdb_kverr *err) {
    memset(b, 0, sizeof *b);
    for (size_t i = 0; i < r->n_kvs; i++) {
        const Immudb__Schema__KeyValue *kv = r->kvs[i];
        if (add_kv(db, a, b, (sdb_slice){ kv->key.data, kv->key.len }, (sdb_slice){ kv->value.data, kv->value.len },
                   kv->metadata, err))
            return -1;
    }
    if (prepare_preconditions(db, a, r->preconditions, r->n_preconditions, b, err)) return -1;
    if (!b->n) return sdb_kv_err(err, SDB_GRPC_UNKNOWN, "no entries provided");
    if (b->npre > db->max_tx_entries) return sdb_kv_err(err, SDB_GRPC_UNKNOWN, "invalid precondition: too many preconditions");
    return 0;
}

int sdb_kv_prepare_delete(sdb_kvdb *db, sdb_arena *a, const Immudb__Schema__DeleteKeysRequest *r, sdb_kv_batch *b,
                          sdb_kverr *err) {
    memset(b, 0, sizeof *b);
    uint64_t last = sdb_engine_last_tx(db->eng);
    if (r->sincetx > last) return sdb_kv_err(err, SDB_GRPC_UNKNOWN, "tx not found");
    for (size_t i = 0; i < r->n_keys; i++)
        if (!r->keys[i].len) return sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT, MSG_ILLEGAL);
    if (!r->n_keys) return sdb_kv_err(err, SDB_GRPC_UNKNOWN, "no entries provided");
    if (r->n_keys > db->max_tx_entries) return sdb_kv_err(err, SDB_GRPC_UNKNOWN, "max number of entries per tx exceeded");
    sdb_engine_wait_indexed(db->eng, r->sincetx ? r->sincetx : last, -1);
    if (batch_reserve(a, b, r->n_keys)) return oom(err);
    for (size_t i = 0; i < r->n_keys; i++) {
        sdb_slice uk = { r->keys[i].data, r->keys[i].len };
        sdb_get_opts o = { .no_wait = 1, .no_value = 1 };
        sdb_kv_version v;
        sdb_kv_version_init(&v);
        int rc = read_key(db, a, uk, &o, &v, err);
        if (rc == 0 && (v.md.deleted || v.expired)) {
            sdb_kv_err(err, SDB_GRPC_UNKNOWN, v.md.deleted ? MSG_NOT_FOUND : MSG_EXPIRED);
            rc = 1;
        }
        sdb_kv_version_deinit(&v);
        if (rc) return -1;
        sdb_slice pk = prefixed(a, SDB_KEY_PREFIX_SET, uk.ptr, uk.len);
        if (!pk.ptr) return oom(err);
        int dup = batch_has_key(a, b, pk);
        if (dup < 0) return oom(err);
        if (dup)
            return sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT, "duplicated keys are not supported in single batch transaction");
        sdb_kv *kv = &b->kvs[b->n++];
        memset(kv, 0, sizeof *kv);
        kv->key = pk;
        kv->md.deleted = 1;
        batch_note_key(b);
    }
    return 0;
}

/* Checks the target of a reference / sorted-set member: must exist (latest, or as an entry of tx
 * at_tx) and must not be a reference. */
static int check_target(sdb_kvdb *db, sdb_arena *a, sdb_slice key, uint64_t at_tx, sdb_kverr *err) {
    if (at_tx > sdb_engine_last_tx(db->eng)) return sdb_kv_err(err, SDB_GRPC_UNKNOWN, "tx not found");
    sdb_get_opts o = { .at_tx = at_tx, .no_wait = 1 };
    sdb_kv_version v;
    sdb_kv_version_init(&v);
    int rc = read_key(db, a, key, &o, &v, err);
    if (rc == 0 && dead(&v, err)) rc = 1;
    if (rc == 0) {
        sdb_enc_value ev;
        if (sdb_enc_parse_value(sdb_buf_slice(&v.value), &ev) == 0 && ev.kind == SDB_ENC_REF)
            rc = sdb_kv_err(err, SDB_GRPC_UNKNOWN, "referenced key cannot be a reference");
    }
    sdb_kv_version_deinit(&v);
    return rc ? -1 : 0;
}

/* A reference key may only replace another reference (or a missing/deleted key). */
static int check_ref_key(sdb_kvdb *db, sdb_arena *a, sdb_slice key, sdb_kverr *err) {
    sdb_get_opts o = { .no_wait = 1 };
    sdb_kv_version v;
    sdb_kv_version_init(&v);
    int rc = read_key(db, a, key, &o, &v, err);
    if (rc == 1) rc = 0;
    else if (rc == 0 && !v.md.deleted) {
        sdb_enc_value ev;
        if (sdb_enc_parse_value(sdb_buf_slice(&v.value), &ev) == 0 && ev.kind == SDB_ENC_PLAIN)
            rc = sdb_kv_err(err, SDB_GRPC_UNKNOWN, "final key cannot be converted into a reference");
    }
    sdb_kv_version_deinit(&v);
    return rc ? -1 : 0;
}

/* own: the reference is bound to the tx being created; its atTx slot is filled by the engine's
 * committer once the id is assigned (at_tx is then a placeholder). */
static int add_ref(sdb_kvdb *db, sdb_arena *a, sdb_kv_batch *b, sdb_slice key, sdb_slice refkey, uint64_t at_tx,
                   int own, sdb_kverr *err) {
    sdb_slice pk = prefixed(a, SDB_KEY_PREFIX_SET, key.ptr, key.len);
    sdb_buf v;
    sdb_buf_init(&v);
    if (!pk.ptr || sdb_enc_ref_value(refkey, at_tx, &v)) { sdb_buf_deinit(&v); return oom(err); }
    if (check_limits(db, pk.len, v.len, err)) { sdb_buf_deinit(&v); return -1; }
    if (b->n >= db->max_tx_entries) {
        sdb_buf_deinit(&v);
        return sdb_kv_err(err, SDB_GRPC_UNKNOWN, "max number of entries per tx exceeded");
    }
    uint8_t *pv = sdb_arena_dup(a, v.ptr, v.len);
    size_t vl = v.len;
    sdb_buf_deinit(&v);
    if (!pv || batch_reserve(a, b, b->n + 1)) return oom(err);
    b->kvs[b->n++] = (sdb_kv){ .key = pk, .value = { pv, vl }, .own_id_value_at = own ? 1u + 1u : 0 };   /* after the ref prefix byte */
    return 0;
}

static int add_zadd(sdb_kvdb *db, sdb_arena *a, sdb_kv_batch *b, sdb_slice set, double score, sdb_slice key,
                    uint64_t at_tx, int own, sdb_kverr *err) {
    sdb_buf k;
    sdb_buf_init(&k);
    if (sdb_enc_zadd_key(set, score, key, at_tx, &k)) { sdb_buf_deinit(&k); return oom(err); }
    if (check_limits(db, k.len, 0, err)) { sdb_buf_deinit(&k); return -1; }
    if (b->n >= db->max_tx_entries) {
        sdb_buf_deinit(&k);
        return sdb_kv_err(err, SDB_GRPC_UNKNOWN, "max number of entries per tx exceeded");
    }
    uint8_t *pk = sdb_arena_dup(a, k.ptr, k.len);
    size_t kl = k.len;
    sdb_buf_deinit(&k);
    if (!pk || batch_reserve(a, b, b->n + 1)) return oom(err);
    b->kvs[b->n++] = (sdb_kv){ .key = { pk, kl }, .own_id_key_at = own ? (uint32_t)(kl - 8) + 1u : 0 };   /* the trailing atTx */
    return 0;
}

int sdb_kv_prepare_ref(sdb_kvdb *db, sdb_arena *a, const Immudb__Schema__ReferenceRequest *r, int verifiable,
                       sdb_kv_batch *b, sdb_kverr *err) {
    memset(b, 0, sizeof *b);
    if (!r->key.len || !r->referencedkey.len || (r->attx == 0 && r->boundref) || (r->attx > 0 && !r->boundref))
        return sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT, MSG_ILLEGAL);
    sdb_slice key = { r->key.data, r->key.len }, ref = { r->referencedkey.data, r->referencedkey.len };
    sdb_engine_wait_indexed(db->eng, sdb_engine_last_tx(db->eng), -1);
    if (check_ref_key(db, a, key, err) || check_target(db, a, ref, r->attx, err)) return -1;
    if (add_ref(db, a, b, key, ref, r->attx, 0, err)) return -1;
    if (prepare_preconditions(db, a, r->preconditions, r->n_preconditions, b, err)) return -1;
    return r->attx ? 0 : pre_target_exists(a, b, ref, err);
}

int sdb_kv_prepare_zadd(sdb_kvdb *db, sdb_arena *a, const Immudb__Schema__ZAddRequest *r, int infer_bound,
                        sdb_kv_batch *b, sdb_kverr *err) {
    memset(b, 0, sizeof *b);
    int bound = infer_bound ? r->attx > 0 : r->boundref;
    if (!r->set.len || !r->key.len || (r->attx == 0 && bound) || (r->attx > 0 && !bound))
        return sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT, MSG_ILLEGAL);
    sdb_slice key = { r->key.data, r->key.len };
    sdb_engine_wait_indexed(db->eng, sdb_engine_last_tx(db->eng), -1);
    if (check_target(db, a, key, r->attx, err)) return -1;
    if (add_zadd(db, a, b, (sdb_slice){ r->set.data, r->set.len }, r->score, key, r->attx, 0, err)) return -1;
    return r->attx ? 0 : pre_target_exists(a, b, key, err);
}

int sdb_kv_prepare_exec_all(sdb_kvdb *db, sdb_arena *a, const Immudb__Schema__ExecAllRequest *r, sdb_kv_batch *b,
                            sdb_kverr *err) {
    memset(b, 0, sizeof *b);
    if (!r->n_operations) return sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT, "empty set");
    /* request validation first: shape and duplicates (spec/api.md 2.8) */
    for (size_t i = 0; i < r->n_operations; i++) {
        const Immudb__Schema__Op *op = r->operations[i];
        if (!op) return sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT, "Op is not set");
        if (op->operation_case == IMMUDB__SCHEMA__OP__OPERATION__NOT_SET ||
            (op->operation_case == IMMUDB__SCHEMA__OP__OPERATION_KV && !op->kv) ||
            (op->operation_case == IMMUDB__SCHEMA__OP__OPERATION_REF && !op->ref) ||
            (op->operation_case == IMMUDB__SCHEMA__OP__OPERATION_Z_ADD && !op->zadd))
            return sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT, "operation is not set");
        const ProtobufCBinaryData *k = op->operation_case == IMMUDB__SCHEMA__OP__OPERATION_KV ? &op->kv->key
                                       : op->operation_case == IMMUDB__SCHEMA__OP__OPERATION_REF ? &op->ref->key : NULL;
        for (size_t j = 0; j < i; j++) {
            const Immudb__Schema__Op *p = r->operations[j];
            if (op->operation_case == IMMUDB__SCHEMA__OP__OPERATION_Z_ADD) {
                if (p->operation_case == IMMUDB__SCHEMA__OP__OPERATION_Z_ADD && sdb_slice_eq(
                        (sdb_slice){ p->zadd->set.data, p->zadd->set.len }, (sdb_slice){ op->zadd->set.data, op->zadd->set.len }) &&
                    sdb_slice_eq((sdb_slice){ p->zadd->key.data, p->zadd->key.len },
                                 (sdb_slice){ op->zadd->key.data, op->zadd->key.len }) && p->zadd->attx == op->zadd->attx)
                    return sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT,
                                      "duplicated index inside zAdd insertions are not supported in single batch transaction");
                continue;
            }
            if (p->operation_case == IMMUDB__SCHEMA__OP__OPERATION_Z_ADD) continue;
            if (op->operation_case == IMMUDB__SCHEMA__OP__OPERATION_REF && p->operation_case == IMMUDB__SCHEMA__OP__OPERATION_REF &&
                sdb_slice_eq((sdb_slice){ p->ref->key.data, p->ref->key.len }, (sdb_slice){ k->data, k->len }) &&
                sdb_slice_eq((sdb_slice){ p->ref->referencedkey.data, p->ref->referencedkey.len },
                             (sdb_slice){ op->ref->referencedkey.data, op->ref->referencedkey.len }) &&
                p->ref->attx == op->ref->attx)
                return sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT,
                                  "duplicated references insertions are not supported in single batch transaction");
            const ProtobufCBinaryData *pk = p->operation_case == IMMUDB__SCHEMA__OP__OPERATION_KV ? &p->kv->key : &p->ref->key;
            if (sdb_slice_eq((sdb_slice){ pk->data, pk->len }, (sdb_slice){ k->data, k->len }))
                return sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT,
                                  "rpc error: code = InvalidArgument desc = duplicated keys are not supported in single "
                                  "batch transaction: key/reference '%.*s'", (int)k->len, (const char *)k->data);
        }
    }
    if (!r->nowait) sdb_engine_wait_indexed(db->eng, sdb_engine_last_tx(db->eng), -1);
    sdb_slice *targets = zalloc(a, r->n_operations * sizeof *targets);
    size_t ntargets = 0;
    if (!targets) return oom(err);
    for (size_t i = 0; i < r->n_operations; i++) {
        const Immudb__Schema__Op *op = r->operations[i];
        if (op->operation_case == IMMUDB__SCHEMA__OP__OPERATION_KV) {
            if (add_kv(db, a, b, (sdb_slice){ op->kv->key.data, op->kv->key.len },
                       (sdb_slice){ op->kv->value.data, op->kv->value.len }, op->kv->metadata, err))
                return -1;
            continue;
        }
        sdb_slice target;
        uint64_t at_tx;
        int bound;
        if (op->operation_case == IMMUDB__SCHEMA__OP__OPERATION_REF) {
            if (!op->ref->key.len || !op->ref->referencedkey.len) return sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT, MSG_ILLEGAL);
            target = (sdb_slice){ op->ref->referencedkey.data, op->ref->referencedkey.len };
            at_tx = op->ref->attx;
            bound = op->ref->boundref;
        } else {
            if (!op->zadd->set.len || !op->zadd->key.len) return sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT, MSG_ILLEGAL);
            target = (sdb_slice){ op->zadd->key.data, op->zadd->key.len };
            at_tx = op->zadd->attx;
            bound = op->zadd->boundref;
        }
        if (at_tx > 0 && !bound) return sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT, MSG_ILLEGAL);
        int in_request = 0;
        for (size_t j = 0; j < r->n_operations && !at_tx; j++)
            if (r->operations[j]->operation_case == IMMUDB__SCHEMA__OP__OPERATION_KV &&
                sdb_slice_eq((sdb_slice){ r->operations[j]->kv->key.data, r->operations[j]->kv->key.len }, target))
                in_request = 1;
        if (r->nowait && !(bound && at_tx == 0 && in_request))
            return sdb_kv_err(err, SDB_GRPC_UNKNOWN, "no wait operation must be self-contained: illegal arguments");
        int own = bound && at_tx == 0;   /* embeds the id of the tx being created */
        if (op->operation_case == IMMUDB__SCHEMA__OP__OPERATION_REF) {
            sdb_slice key = { op->ref->key.data, op->ref->key.len };
            if (check_ref_key(db, a, key, err)) return -1;
            if (!in_request && check_target(db, a, target, at_tx, err)) return -1;
            if (add_ref(db, a, b, key, target, at_tx, own, err)) return -1;
        } else {
            if (!in_request && check_target(db, a, target, at_tx, err)) return -1;
            if (add_zadd(db, a, b, (sdb_slice){ op->zadd->set.data, op->zadd->set.len }, op->zadd->score, target, at_tx, own, err))
                return -1;
        }
        if (!in_request && at_tx == 0) targets[ntargets++] = target;
    }
    if (prepare_preconditions(db, a, r->preconditions, r->n_preconditions, b, err)) return -1;
    if (b->npre > db->max_tx_entries) return sdb_kv_err(err, SDB_GRPC_UNKNOWN, "invalid precondition: too many preconditions");
    for (size_t i = 0; i < ntargets; i++) {
        int dup = 0;
        for (size_t j = 0; j < i && !dup; j++) dup = sdb_slice_eq(targets[i], targets[j]);
        if (!dup && pre_target_exists(a, b, targets[i], err)) return -1;
    }
    return 0;
}

void sdb_kv_commit_error(const sdb_kv_batch *b, int rc, size_t failed_pre, sdb_kverr *err) {
    static const char *const kinds[] = { "", "KeyMustExist", "KeyMustNotExist", "KeyNotModifiedAfterTxID" };
    switch (rc) {
    case SEALDB_PRECONDITION: {
        int k = failed_pre < b->npre ? b->pre[failed_pre].kind : 0;
        if (failed_pre >= b->npre_user && k == SDB_PRE_KEY_MUST_EXIST) {   /* a target vanished meanwhile */
            sdb_kv_err(err, SDB_GRPC_UNKNOWN, MSG_NOT_FOUND);
            break;
        }
        sdb_kv_err(err, SDB_GRPC_FAILED_PRECONDITION, "precondition failed: %s", k >= 1 && k <= 3 ? kinds[k] : "");
        err->info = "23000";   /* immudb re-codes a failed precondition as an integrity violation */
        break;
    }
    case SEALDB_EXISTS:
        sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT, "duplicated keys are not supported in single batch transaction");
        break;
    case SEALDB_TOOLARGE: sdb_kv_err(err, SDB_GRPC_UNKNOWN, "max value length exceeded"); break;
    case SEALDB_INVALID: sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT, MSG_ILLEGAL); break;
    default: engine_err(rc, err); break;
    }
}

int sdb_kv_commit_sync(sdb_kvdb *db, const sdb_kv_batch *b, sdb_commit_result *res, sdb_kverr *err) {
    size_t failed = 0;
    int rc = sdb_engine_commit_sync(db->eng, b->kvs, b->n, b->pre, b->npre, res, &failed);
    if (rc) { sdb_kv_commit_error(b, rc, failed, err); return -1; }
    return 0;
}
