/* kv_write.c - immudb writes validated and encoded into engine batches (Set, Delete, SetReference, ZAdd,
 * ExecAll), preconditions, duplicate-key detection, synchronous commit and commit error mapping. */
#include <string.h>
#include "db/kv_int.h"
#include "sealdb_err.h"

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

/* word-at-a-time: byte-wise FNV-1a over 33-byte keys was ~3% of a SetAll's server CPU */
static uint64_t key_hash(sdb_slice k) { return sdb_hash64(k.ptr, k.len); }

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
 * former linear scan quadratic (~60% of the server's CPU for that call). On 0, *slot is where
 * batch_note_key files k (SIZE_MAX: no table yet), so the key is hashed once. */
static int batch_has_key(sdb_arena *a, sdb_kv_batch *b, sdb_slice k, size_t *slot) {
    *slot = SIZE_MAX;
    if (!b->kslot_cap && b->n < KSLOT_MIN_BATCH) {
        for (size_t i = 0; i < b->n; i++)
            if (sdb_slice_eq(b->kvs[i].key, k)) return 1;
        return 0;
    }
    if ((b->n + 1) * 2 > b->kslot_cap && kslot_grow(a, b, b->n + 1)) return -1;
    size_t mask = b->kslot_cap - 1, s = (size_t)key_hash(k) & mask;
    for (; b->kslot[s]; s = (s + 1) & mask)
        if (sdb_slice_eq(b->kvs[b->kslot[s] - 1].key, k)) return 1;
    *slot = s;
    return 0;
}

/* Records the key just appended at b->kvs[b->n - 1] in slot, from batch_has_key (the table is
 * unchanged in between). */
static void batch_note_key(sdb_kv_batch *b, size_t slot) {
    if (slot != SIZE_MAX) b->kslot[slot] = (uint32_t)b->n;
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
    sdb_slice pk = sdb_kv_prefixed(a, SDB_KEY_PREFIX_SET, key.ptr, key.len);
    if (!pk.ptr) return sdb_kv_oom(err);
    size_t slot;
    int dup = batch_has_key(a, b, pk, &slot);
    if (dup < 0) return sdb_kv_oom(err);
    if (dup)
        return sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT, "duplicated keys are not supported in single batch transaction");
    if (check_limits(db, pk.len, value.len + 1, err)) return -1;
    if (b->n >= db->max_tx_entries) return sdb_kv_err(err, SDB_GRPC_UNKNOWN, "max number of entries per tx exceeded");
    sdb_slice pv = sdb_kv_prefixed(a, SDB_VALUE_PREFIX_PLAIN, value.ptr, value.len);
    if (!pv.ptr || batch_reserve(a, b, b->n + 1)) return sdb_kv_oom(err);
    b->kvs[b->n++] = (sdb_kv){ .key = pk, .value = pv, .md = md_from_pb(m) };
    batch_note_key(b, slot);
    return 0;
}

int sdb_kv_batch_add_plain(sdb_kvdb *db, sdb_arena *a, sdb_kv_batch *b, sdb_slice key, sdb_slice value,
                           sdb_kverr *err) {
    return add_kv(db, a, b, key, value, NULL, err);
}

static int prepare_preconditions(sdb_kvdb *db, sdb_arena *a, Immudb__Schema__Precondition **pre, size_t n,
                                 sdb_kv_batch *b, sdb_kverr *err) {
    if (!n) return 0;
    /* the count first: each one costs a decode and an index lookup at commit */
    if (n > db->max_tx_entries) return sdb_kv_err(err, SDB_GRPC_UNKNOWN, "invalid precondition: too many preconditions");
    if (!(b->pre = sdb_kv_zalloc(a, n * sizeof *b->pre))) return sdb_kv_oom(err);
    b->pre_cap = n;
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
        o->key = sdb_kv_prefixed(a, SDB_KEY_PREFIX_SET, k->data, k->len);
        if (!o->key.ptr) return sdb_kv_oom(err);
    }
    b->npre = b->npre_user = n;
    return 0;
}

/* Appends a precondition the server adds itself (target existence, the tx id of bound entries). */
/* Room for n preconditions; grows geometrically (a copy per added one was quadratic in the arena). */
static int pre_reserve(sdb_arena *a, sdb_kv_batch *b, size_t n) {
    if (b->pre_cap >= n) return 0;
    size_t cap = b->pre_cap ? b->pre_cap * 2 : 4;
    while (cap < n) cap *= 2;
    sdb_precondition *np = sdb_arena_alloc(a, cap * sizeof *np);
    if (!np) return -1;
    if (b->npre) memcpy(np, b->pre, b->npre * sizeof *np);
    b->pre = np;
    b->pre_cap = cap;
    return 0;
}

static int add_internal_pre(sdb_arena *a, sdb_kv_batch *b, int kind, sdb_slice key, uint64_t tx_id, sdb_kverr *err) {
    if (pre_reserve(a, b, b->npre + 1)) return sdb_kv_oom(err);
    b->pre[b->npre++] = (sdb_precondition){ .kind = kind, .key = key, .tx_id = tx_id };
    return 0;
}

/* The plain key `key` (unprefixed) must still exist when the tx commits: the existence check done
 * while preparing is repeated atomically by the engine. */
static int pre_target_exists(sdb_arena *a, sdb_kv_batch *b, sdb_slice key, sdb_kverr *err) {
    sdb_slice pk = sdb_kv_prefixed(a, SDB_KEY_PREFIX_SET, key.ptr, key.len);
    if (!pk.ptr) return sdb_kv_oom(err);
    return add_internal_pre(a, b, SDB_PRE_KEY_MUST_EXIST, pk, 0, err);
}

/* Sizes the batch for n entries up front (n is the request's item count, already capped by the
 * dispatcher): growing the entry array and rehashing the key table by doubling cost a SetAll of
 * 1000 KVs six rehashes and twice the arena. */
static int batch_expect(sdb_arena *a, sdb_kv_batch *b, size_t n) {
    if (batch_reserve(a, b, n)) return -1;
    return n >= KSLOT_MIN_BATCH && !b->kslot_cap ? kslot_grow(a, b, n) : 0;
}

int sdb_kv_prepare_set(sdb_kvdb *db, sdb_arena *a, const Immudb__Schema__SetRequest *r, sdb_kv_batch *b,
                       sdb_kverr *err) {
    memset(b, 0, sizeof *b);
    if (r->n_kvs <= db->max_tx_entries && batch_expect(a, b, r->n_kvs)) return sdb_kv_oom(err);
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

int sdb_kv_prepare_set_plain(sdb_kvdb *db, sdb_arena *a, sdb_setreq_it *it, size_t n_kvs, sdb_kv_batch *b,
                             sdb_kverr *err) {
    memset(b, 0, sizeof *b);
    if (n_kvs <= db->max_tx_entries && batch_expect(a, b, n_kvs)) return sdb_kv_oom(err);
    sdb_slice k, v;
    while (sdb_setreq_next(it, &k, &v))
        if (add_kv(db, a, b, k, v, NULL, err)) return -1;
    if (!b->n) return sdb_kv_err(err, SDB_GRPC_UNKNOWN, "no entries provided");
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
    if (batch_reserve(a, b, r->n_keys)) return sdb_kv_oom(err);
    for (size_t i = 0; i < r->n_keys; i++) {
        sdb_slice uk = { r->keys[i].data, r->keys[i].len };
        sdb_get_opts o = { .no_wait = 1, .no_value = 1 };
        sdb_kv_version v;
        sdb_kv_version_init(&v);
        int rc = sdb_kv_read_key(db, a, uk, &o, &v, err);
        if (rc == 0 && (v.md.deleted || v.expired)) {
            sdb_kv_err(err, SDB_GRPC_UNKNOWN, v.md.deleted ? MSG_NOT_FOUND : MSG_EXPIRED);
            rc = 1;
        }
        sdb_kv_version_deinit(&v);
        if (rc) return -1;
        sdb_slice pk = sdb_kv_prefixed(a, SDB_KEY_PREFIX_SET, uk.ptr, uk.len);
        if (!pk.ptr) return sdb_kv_oom(err);
        size_t slot;
        int dup = batch_has_key(a, b, pk, &slot);
        if (dup < 0) return sdb_kv_oom(err);
        if (dup)
            return sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT, "duplicated keys are not supported in single batch transaction");
        sdb_kv *kv = &b->kvs[b->n++];
        memset(kv, 0, sizeof *kv);
        kv->key = pk;
        kv->md.deleted = 1;
        batch_note_key(b, slot);
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
    int rc = sdb_kv_read_key(db, a, key, &o, &v, err);
    if (rc == 0 && sdb_kv_dead(&v, err)) rc = 1;
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
    int rc = sdb_kv_read_key(db, a, key, &o, &v, err);
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
    sdb_slice pk = sdb_kv_prefixed(a, SDB_KEY_PREFIX_SET, key.ptr, key.len);
    sdb_buf v;
    sdb_buf_init(&v);
    if (!pk.ptr || sdb_enc_ref_value(refkey, at_tx, &v)) { sdb_buf_deinit(&v); return sdb_kv_oom(err); }
    if (check_limits(db, pk.len, v.len, err)) { sdb_buf_deinit(&v); return -1; }
    if (b->n >= db->max_tx_entries) {
        sdb_buf_deinit(&v);
        return sdb_kv_err(err, SDB_GRPC_UNKNOWN, "max number of entries per tx exceeded");
    }
    uint8_t *pv = sdb_arena_dup(a, v.ptr, v.len);
    size_t vl = v.len;
    sdb_buf_deinit(&v);
    if (!pv || batch_reserve(a, b, b->n + 1)) return sdb_kv_oom(err);
    b->kvs[b->n++] = (sdb_kv){ .key = pk, .value = { pv, vl }, .own_id_value_at = own ? 1u + 1u : 0 };   /* after the ref prefix byte */
    return 0;
}

static int add_zadd(sdb_kvdb *db, sdb_arena *a, sdb_kv_batch *b, sdb_slice set, double score, sdb_slice key,
                    uint64_t at_tx, int own, sdb_kverr *err) {
    sdb_buf k;
    sdb_buf_init(&k);
    if (sdb_enc_zadd_key(set, score, key, at_tx, &k)) { sdb_buf_deinit(&k); return sdb_kv_oom(err); }
    if (check_limits(db, k.len, 0, err)) { sdb_buf_deinit(&k); return -1; }
    if (b->n >= db->max_tx_entries) {
        sdb_buf_deinit(&k);
        return sdb_kv_err(err, SDB_GRPC_UNKNOWN, "max number of entries per tx exceeded");
    }
    uint8_t *pk = sdb_arena_dup(a, k.ptr, k.len);
    size_t kl = k.len;
    sdb_buf_deinit(&k);
    if (!pk || batch_reserve(a, b, b->n + 1)) return sdb_kv_oom(err);
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

int sdb_kv_prepare_zadd(sdb_kvdb *db, sdb_arena *a, const Immudb__Schema__ZAddRequest *r,
                        sdb_kv_batch *b, sdb_kverr *err) {
    memset(b, 0, sizeof *b);
    if (!r->set.len || !r->key.len || (r->attx == 0 && r->boundref) || (r->attx > 0 && !r->boundref))
        return sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT, MSG_ILLEGAL);
    sdb_slice key = { r->key.data, r->key.len };
    sdb_engine_wait_indexed(db->eng, sdb_engine_last_tx(db->eng), -1);
    if (check_target(db, a, key, r->attx, err)) return -1;
    if (add_zadd(db, a, b, (sdb_slice){ r->set.data, r->set.len }, r->score, key, r->attx, 0, err)) return -1;
    return r->attx ? 0 : pre_target_exists(a, b, key, err);
}

/* Open-addressing index over the ops of one ExecAll (slot = op index + 1, 0 empty), so duplicate
 * detection and the "set in this request" lookups are linear: the former pairwise compare cost a
 * worker seconds per request and ran before the entry limit. */
typedef struct op_index { uint32_t *slot; size_t mask; } op_index;

static int op_index_init(sdb_arena *a, op_index *x, size_t n) {
    size_t cap = 16;
    while (cap < n * 2) cap *= 2;
    x->slot = sdb_kv_zalloc(a, cap * sizeof *x->slot);
    x->mask = cap - 1;
    return x->slot ? 0 : -1;
}

static sdb_slice pb_slice(const ProtobufCBinaryData *d) { return (sdb_slice){ d->data, d->len }; }

/* The key an op writes as a plain entry (kv or ref); zAdds have none. */
static int op_key(const Immudb__Schema__Op *op, sdb_slice *k) {
    if (op->operation_case == IMMUDB__SCHEMA__OP__OPERATION_KV) { *k = pb_slice(&op->kv->key); return 1; }
    if (op->operation_case == IMMUDB__SCHEMA__OP__OPERATION_REF) { *k = pb_slice(&op->ref->key); return 1; }
    return 0;
}

static uint64_t zadd_hash(const Immudb__Schema__ZAddRequest *z) {
    return key_hash(pb_slice(&z->set)) ^ (key_hash(pb_slice(&z->key)) * 31u) ^ (z->attx * 0x9e3779b97f4a7c15ull);
}

static int zadd_same(const Immudb__Schema__ZAddRequest *x, const Immudb__Schema__ZAddRequest *y) {
    return x->attx == y->attx && sdb_slice_eq(pb_slice(&x->set), pb_slice(&y->set)) &&
           sdb_slice_eq(pb_slice(&x->key), pb_slice(&y->key));
}

/* Index of the kv/ref op writing key k, or -1. */
static long op_find_key(const op_index *x, Immudb__Schema__Op *const *ops, sdb_slice k) {
    for (size_t s = (size_t)key_hash(k) & x->mask; x->slot[s]; s = (s + 1) & x->mask) {
        sdb_slice o;
        if (op_key(ops[x->slot[s] - 1], &o) && sdb_slice_eq(o, k)) return (long)x->slot[s] - 1;
    }
    return -1;
}

/* Shape and duplicate checks of docs/api.md 2.8, in request order; the first op that repeats an
 * earlier one decides the message, as a pairwise compare would. `keys` is left filled. */
static int exec_all_validate(sdb_arena *a, const Immudb__Schema__ExecAllRequest *r, op_index *keys, sdb_kverr *err) {
    op_index zs;
    if (op_index_init(a, keys, r->n_operations) || op_index_init(a, &zs, r->n_operations)) return sdb_kv_oom(err);
    for (size_t i = 0; i < r->n_operations; i++) {
        const Immudb__Schema__Op *op = r->operations[i];
        if (!op) return sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT, "Op is not set");
        if (op->operation_case == IMMUDB__SCHEMA__OP__OPERATION__NOT_SET ||
            (op->operation_case == IMMUDB__SCHEMA__OP__OPERATION_KV && !op->kv) ||
            (op->operation_case == IMMUDB__SCHEMA__OP__OPERATION_REF && !op->ref) ||
            (op->operation_case == IMMUDB__SCHEMA__OP__OPERATION_Z_ADD && !op->zadd))
            return sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT, "operation is not set");
        size_t s;
        if (op->operation_case == IMMUDB__SCHEMA__OP__OPERATION_Z_ADD) {
            for (s = (size_t)zadd_hash(op->zadd) & zs.mask; zs.slot[s]; s = (s + 1) & zs.mask)
                if (zadd_same(r->operations[zs.slot[s] - 1]->zadd, op->zadd))
                    return sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT,
                                      "duplicated index inside zAdd insertions are not supported in single batch transaction");
            zs.slot[s] = (uint32_t)i + 1;
            continue;
        }
        sdb_slice k;
        op_key(op, &k);
        long j = op_find_key(keys, r->operations, k);
        if (j >= 0) {
            /* the earliest op with this key is the one a pairwise compare meets first */
            const Immudb__Schema__Op *p = r->operations[j];
            if (op->operation_case == IMMUDB__SCHEMA__OP__OPERATION_REF &&
                p->operation_case == IMMUDB__SCHEMA__OP__OPERATION_REF && p->ref->attx == op->ref->attx &&
                sdb_slice_eq(pb_slice(&p->ref->referencedkey), pb_slice(&op->ref->referencedkey)))
                return sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT,
                                  "duplicated references insertions are not supported in single batch transaction");
            return sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT,
                              "rpc error: code = InvalidArgument desc = duplicated keys are not supported in single "
                              "batch transaction: key/reference '%.*s'", (int)k.len, (const char *)k.ptr);
        }
        for (s = (size_t)key_hash(k) & keys->mask; keys->slot[s]; s = (s + 1) & keys->mask) {}
        keys->slot[s] = (uint32_t)i + 1;
    }
    return 0;
}

int sdb_kv_prepare_exec_all(sdb_kvdb *db, sdb_arena *a, const Immudb__Schema__ExecAllRequest *r, sdb_kv_batch *b,
                            sdb_kverr *err) {
    memset(b, 0, sizeof *b);
    if (!r->n_operations) return sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT, "empty set");
    /* limits before any per-op work: every op is one entry of the tx */
    if (r->n_operations > db->max_tx_entries)
        return sdb_kv_err(err, SDB_GRPC_UNKNOWN, "max number of entries per tx exceeded");
    if (r->n_preconditions > db->max_tx_entries)
        return sdb_kv_err(err, SDB_GRPC_UNKNOWN, "invalid precondition: too many preconditions");
    op_index keys;
    if (exec_all_validate(a, r, &keys, err)) return -1;
    if (!r->nowait) sdb_engine_wait_indexed(db->eng, sdb_engine_last_tx(db->eng), -1);
    sdb_slice *targets = sdb_kv_zalloc(a, r->n_operations * sizeof *targets);
    op_index tset;   /* distinct targets that need an existence precondition */
    size_t ntargets = 0;
    if (!targets || op_index_init(a, &tset, r->n_operations)) return sdb_kv_oom(err);
    if (batch_reserve(a, b, r->n_operations)) return sdb_kv_oom(err);
    for (size_t i = 0; i < r->n_operations; i++) {
        const Immudb__Schema__Op *op = r->operations[i];
        if (op->operation_case == IMMUDB__SCHEMA__OP__OPERATION_KV) {
            if (add_kv(db, a, b, pb_slice(&op->kv->key), pb_slice(&op->kv->value), op->kv->metadata, err))
                return -1;
            continue;
        }
        sdb_slice target;
        uint64_t at_tx;
        int bound;
        if (op->operation_case == IMMUDB__SCHEMA__OP__OPERATION_REF) {
            if (!op->ref->key.len || !op->ref->referencedkey.len) return sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT, MSG_ILLEGAL);
            target = pb_slice(&op->ref->referencedkey);
            at_tx = op->ref->attx;
            bound = op->ref->boundref;
        } else {
            if (!op->zadd->set.len || !op->zadd->key.len) return sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT, MSG_ILLEGAL);
            target = pb_slice(&op->zadd->key);
            at_tx = op->zadd->attx;
            bound = op->zadd->boundref;
        }
        if (at_tx > 0 && !bound) return sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT, MSG_ILLEGAL);
        long j = at_tx ? -1 : op_find_key(&keys, r->operations, target);
        int in_request = j >= 0 && r->operations[j]->operation_case == IMMUDB__SCHEMA__OP__OPERATION_KV;
        if (r->nowait && !(bound && at_tx == 0 && in_request))
            return sdb_kv_err(err, SDB_GRPC_UNKNOWN, "no wait operation must be self-contained: illegal arguments");
        int own = bound && at_tx == 0;   /* embeds the id of the tx being created */
        if (op->operation_case == IMMUDB__SCHEMA__OP__OPERATION_REF) {
            sdb_slice key = pb_slice(&op->ref->key);
            if (check_ref_key(db, a, key, err)) return -1;
            if (!in_request && check_target(db, a, target, at_tx, err)) return -1;
            if (add_ref(db, a, b, key, target, at_tx, own, err)) return -1;
        } else {
            if (!in_request && check_target(db, a, target, at_tx, err)) return -1;
            if (add_zadd(db, a, b, pb_slice(&op->zadd->set), op->zadd->score, target, at_tx, own, err))
                return -1;
        }
        if (in_request || at_tx) continue;
        size_t s;
        int seen = 0;
        for (s = (size_t)key_hash(target) & tset.mask; tset.slot[s] && !seen; s = (s + 1) & tset.mask)
            seen = sdb_slice_eq(targets[tset.slot[s] - 1], target);
        if (seen) continue;
        targets[ntargets++] = target;
        tset.slot[s] = (uint32_t)ntargets;
    }
    if (prepare_preconditions(db, a, r->preconditions, r->n_preconditions, b, err)) return -1;
    if (pre_reserve(a, b, b->npre + ntargets)) return sdb_kv_oom(err);
    for (size_t i = 0; i < ntargets; i++)
        if (pre_target_exists(a, b, targets[i], err)) return -1;
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
    default: sdb_kv_engine_err(rc, err); break;
    }
}

int sdb_kv_commit_sync(sdb_kvdb *db, const sdb_kv_batch *b, int wait_indexed, sdb_commit_result *res,
                       sdb_kverr *err) {
    size_t failed = 0;
    sdb_commit_result r;
    if (!res) res = &r;
    int rc = sdb_engine_commit_sync(db->eng, b->kvs, b->n, b->pre, b->npre, res, &failed);
    if (rc) { sdb_kv_commit_error(b, rc, failed, err); return -1; }
    if (wait_indexed && (rc = sdb_engine_wait_indexed(db->eng, res->hdr.id, -1)))
        return sdb_kv_err(err, SDB_GRPC_UNKNOWN, "%s", sealdb_strerror(rc));
    return 0;
}
