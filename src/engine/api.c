/* api.c - the public embedded API (include/sealdb.h) over the engine: handles, plain-value
 * semantics (deleted/expired read as not found) and the locally verified read. */
#include <stdio.h>
#include "sealdb.h"
#include "engine/engine.h"

struct sealdb {
    sdb_engine_opts opts;
    sdb_engine *e;
};
struct sealdb_item { sdb_kv_version v; };      /* a list element is cast to this: keep v first */
struct sealdb_items { sdb_kv_list l; };

SEALDB_API int sealdb_libversion_number(void) { return SEALDB_VERSION_NUMBER; }

SEALDB_API int sealdb_create(sealdb **out) {
    if (!out) return SEALDB_INVALID;
    sealdb *db = sdb_calloc(1, sizeof *db);
    if (!db) return SEALDB_NOMEM;
    sdb_engine_opts_default(&db->opts);
    db->opts.create = 0;
    *out = db;
    return SEALDB_OK;
}

SEALDB_API int sealdb_set_sync(sealdb *db, int on) {
    if (!db || db->e) return SEALDB_INVALID;
    db->opts.sync = on ? 1 : 0;
    return SEALDB_OK;
}

SEALDB_API int sealdb_set_segment_size(sealdb *db, uint64_t bytes) {
    if (!db || db->e || bytes < (1u << 20)) return SEALDB_INVALID;
    db->opts.segment_size = bytes;
    return SEALDB_OK;
}

SEALDB_API int sealdb_open(sealdb *db, const char *dir, unsigned flags) {
    if (!db || !dir || db->e) return SEALDB_INVALID;
    db->opts.create = (flags & SEALDB_OPEN_CREATE) != 0;
    return sdb_engine_open(dir, &db->opts, &db->e);
}

SEALDB_API int sealdb_close(sealdb *db) {
    if (!db) return SEALDB_OK;
    int rc = db->e ? sdb_engine_status(db->e) : SEALDB_OK;
    sdb_engine_close(db->e);
    sdb_free(db);
    return rc;
}

static sdb_slice sl(sealdb_bytes b) { return sdb_slice_of(b.ptr, b.len); }

/* Public keys are 1..1023 bytes (immudb's limit without its prefix byte). */
static int check_key(sealdb_bytes k) {
    if (!k.ptr || k.len == 0) return SEALDB_INVALID;
    return k.len > SDB_ENGINE_MAX_KEY_LEN - 1 ? SEALDB_TOOLARGE : SEALDB_OK;
}

static int commit1(sealdb *db, const sdb_kv *kvs, size_t n, const sdb_precondition *pre, size_t npre,
                   uint64_t *tx_id) {
    if (!db || !db->e) return SEALDB_INVALID;
    sdb_commit_result r;
    int rc = sdb_engine_commit_sync(db->e, kvs, n, pre, npre, &r, NULL);
    if (!rc && tx_id) *tx_id = r.hdr.id;
    return rc;
}

SEALDB_API int sealdb_set(sealdb *db, sealdb_bytes key, sealdb_bytes value, uint64_t *tx_id) {
    int rc = check_key(key);
    if (rc) return rc;
    if (value.len && !value.ptr) return SEALDB_INVALID;
    if (value.len >= SDB_ENGINE_MAX_VALUE_LEN - 1) return SEALDB_TOOLARGE;
    sdb_kv kv = { .key = sl(key), .value = sl(value) };
    return commit1(db, &kv, 1, NULL, 0, tx_id);
}

SEALDB_API int sealdb_set_all(sealdb *db, const sealdb_pair *kvs, size_t n, uint64_t *tx_id) {
    if (!kvs || n == 0) return SEALDB_INVALID;
    if (n > SDB_ENGINE_MAX_ENTRIES) return SEALDB_TOOLARGE;
    sdb_kv *a = sdb_calloc(n, sizeof *a);
    if (!a) return SEALDB_NOMEM;
    int rc = SEALDB_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        rc = check_key(kvs[i].key);
        if (!rc && kvs[i].value.len >= SDB_ENGINE_MAX_VALUE_LEN - 1) rc = SEALDB_TOOLARGE;
        a[i] = (sdb_kv){ .key = sl(kvs[i].key), .value = sl(kvs[i].value) };
    }
    if (!rc) rc = commit1(db, a, n, NULL, 0, tx_id);
    sdb_free(a);
    return rc;
}

SEALDB_API int sealdb_set_if_absent(sealdb *db, sealdb_bytes key, sealdb_bytes value, uint64_t *tx_id) {
    int rc = check_key(key);
    if (rc) return rc;
    sdb_kv kv = { .key = sl(key), .value = sl(value) };
    sdb_precondition p = { SDB_PRE_KEY_MUST_NOT_EXIST, sl(key), 0 };
    return commit1(db, &kv, 1, &p, 1, tx_id);
}

SEALDB_API int sealdb_set_expiring(sealdb *db, sealdb_bytes key, sealdb_bytes value, int64_t expires_at,
                                   uint64_t *tx_id) {
    int rc = check_key(key);
    if (rc) return rc;
    sdb_kv kv = { .key = sl(key), .value = sl(value), .md = { .has_expires = 1, .expires_at = expires_at } };
    return commit1(db, &kv, 1, NULL, 0, tx_id);
}

SEALDB_API int sealdb_delete(sealdb *db, sealdb_bytes key, uint64_t *tx_id) {
    int rc = check_key(key);
    if (rc) return rc;
    sdb_kv kv = { .key = sl(key), .value = sdb_slice_of("", 0), .md = { .deleted = 1 } };
    sdb_precondition p = { SDB_PRE_KEY_MUST_EXIST, sl(key), 0 };
    rc = commit1(db, &kv, 1, &p, 1, tx_id);
    return rc == SEALDB_PRECONDITION ? SEALDB_NOTFOUND : rc;
}

static int get_common(sealdb *db, sealdb_bytes key, const sdb_get_opts *o, int live_only, sealdb_item **out) {
    if (!db || !db->e || !out) return SEALDB_INVALID;
    int rc = check_key(key);
    if (rc) return rc;
    sealdb_item *en = sdb_malloc(sizeof *en);
    if (!en) return SEALDB_NOMEM;
    sdb_kv_version_init(&en->v);
    rc = sdb_engine_get(db->e, sl(key), o, &en->v);
    if (!rc && en->v.md.deleted) rc = SEALDB_NOTFOUND;
    if (!rc && live_only && en->v.expired) rc = SEALDB_NOTFOUND;
    if (rc) { sealdb_item_free(en); return rc; }
    *out = en;
    return SEALDB_OK;
}

SEALDB_API int sealdb_get(sealdb *db, sealdb_bytes key, sealdb_item **out) {
    sdb_get_opts o = { 0 };
    return get_common(db, key, &o, 1, out);
}
SEALDB_API int sealdb_get_at_tx(sealdb *db, sealdb_bytes key, uint64_t tx_id, sealdb_item **out) {
    if (tx_id == 0) return SEALDB_INVALID;
    sdb_get_opts o = { .at_tx = tx_id };
    return get_common(db, key, &o, 1, out);
}
SEALDB_API int sealdb_get_at_revision(sealdb *db, sealdb_bytes key, int64_t revision, sealdb_item **out) {
    sdb_get_opts o = { .at_revision = revision };
    return get_common(db, key, &o, 0, out);
}

SEALDB_API int sealdb_history(sealdb *db, sealdb_bytes key, uint64_t offset, uint64_t limit, int desc,
                              sealdb_items **out) {
    if (!db || !db->e || !out) return SEALDB_INVALID;
    int rc = check_key(key);
    if (rc) return rc;
    sealdb_items *l = sdb_malloc(sizeof *l);
    if (!l) return SEALDB_NOMEM;
    sdb_kv_list_init(&l->l);
    uint64_t total;
    rc = sdb_engine_history(db->e, sl(key), offset, limit, desc, 0, &l->l, &total);
    if (rc) { sealdb_items_free(l); return rc; }
    *out = l;
    return SEALDB_OK;
}

SEALDB_API int sealdb_scan(sealdb *db, sealdb_bytes prefix, sealdb_bytes seek, int desc, uint64_t limit,
                           sealdb_items **out) {
    if (!db || !db->e || !out) return SEALDB_INVALID;
    sealdb_items *l = sdb_malloc(sizeof *l);
    if (!l) return SEALDB_NOMEM;
    sdb_kv_list_init(&l->l);
    sdb_scan_opts o;
    memset(&o, 0, sizeof o);
    o.prefix = sl(prefix);
    o.seek = sl(seek);
    o.desc = desc;
    o.limit = limit;
    int rc = sdb_engine_scan(db->e, &o, &l->l);
    if (rc) { sealdb_items_free(l); return rc; }
    *out = l;
    return SEALDB_OK;
}

SEALDB_API int sealdb_count(sealdb *db, sealdb_bytes prefix, uint64_t *out) {
    if (!db || !db->e || !out) return SEALDB_INVALID;
    return sdb_engine_count(db->e, sl(prefix), 0, out);
}

SEALDB_API int sealdb_truncate(sealdb *db, uint64_t keep_from_tx) {
    if (!db || !db->e) return SEALDB_INVALID;
    return sdb_engine_truncate(db->e, keep_from_tx);
}

SEALDB_API int sealdb_current_state(sealdb *db, sealdb_dbstate *out) {
    if (!db || !db->e || !out) return SEALDB_INVALID;
    return sdb_engine_state(db->e, &out->tx_id, out->alh);
}

/* Proves tx `s` (Alh alh_s) is in the history ending at `t` (Alh alh_t). */
static int prove_dual(sdb_engine *e, uint64_t s, const uint8_t alh_s[32], uint64_t t, const uint8_t alh_t[32]) {
    /* the same tx: its Alh must be the one we hold (what a dual proof of s == t checks) */
    if (s == t) return memcmp(alh_s, alh_t, SDB_HASH_LEN) ? SEALDB_TAMPERED : SEALDB_OK;
    sdb_dual_proof p;
    sdb_dual_proof_init(&p);
    int rc = sdb_engine_dual_proof(e, s, t, &p);
    if (!rc) rc = sdb_dual_proof_verify(&p, s, t, alh_s, alh_t);
    sdb_dual_proof_deinit(&p);
    return rc ? (rc == SEALDB_NOMEM || rc == SEALDB_IO ? rc : SEALDB_TAMPERED) : SEALDB_OK;
}

SEALDB_API int sealdb_verified_get(sealdb *db, sealdb_bytes key, sealdb_dbstate *trusted, sealdb_item **out) {
    if (!trusted) return SEALDB_INVALID;
    sealdb_item *en = NULL;
    int rc = sealdb_get(db, key, &en);
    if (rc) return rc;
    sdb_engine *e = db->e;
    sdb_kv_version *v = &en->v;
    sdb_hashes terms;
    sdb_hashes_init(&terms);
    sdb_tx_header h;
    uint8_t dig[32], alh_tx[32];
    sealdb_dbstate cur;
    uint32_t width;
    /* the leaf: recomputed here from the key, metadata and the hash of the value we return (the
     * get computed hvalue from exactly these bytes, never taken from storage) */
    const uint8_t *hv = v->hvalue.b;
    if ((rc = sdb_engine_tx_header(e, v->tx_id, &h, NULL))) goto done;
    if ((rc = sdb_entry_digest(h.version, sdb_buf_slice(&v->key), sdb_slice_of(v->md_bytes, v->md_len), hv, dig))) goto done;
    if ((rc = sdb_engine_inclusion_proof(e, v->tx_id, v->entry_idx, h.eh.b, &terms, &width))) goto done;
    if (sdb_htree_verify(&terms, v->entry_idx, width, dig, h.eh.b)) { rc = SEALDB_TAMPERED; goto done; }
    if ((rc = sdb_tx_alh(&h, alh_tx))) goto done;
    if ((rc = sdb_engine_state(e, &cur.tx_id, cur.alh))) goto done;
    if (trusted->tx_id > cur.tx_id) { rc = SEALDB_STALE; goto done; }
    if ((rc = prove_dual(e, v->tx_id, alh_tx, cur.tx_id, cur.alh))) goto done;
    if (trusted->tx_id && (rc = prove_dual(e, trusted->tx_id, trusted->alh, cur.tx_id, cur.alh))) goto done;
    *trusted = cur;
    *out = en;
    en = NULL;
done:
    sdb_hashes_deinit(&terms);
    sealdb_item_free(en);
    return rc;
}

SEALDB_API int sealdb_verify_dir(const char *dir, int verbose) {
    return sdb_verify_dir(dir, verbose ? stderr : NULL);
}

SEALDB_API sealdb_bytes sealdb_item_key(const sealdb_item *e) {
    return (sealdb_bytes){ e ? e->v.key.ptr : NULL, e ? e->v.key.len : 0 };
}
SEALDB_API sealdb_bytes sealdb_item_value(const sealdb_item *e) {
    return (sealdb_bytes){ e && e->v.value.ptr ? e->v.value.ptr : (const void *)"", e ? e->v.value.len : 0 };
}
SEALDB_API uint64_t sealdb_item_tx(const sealdb_item *e) { return e ? e->v.tx_id : 0; }
SEALDB_API uint64_t sealdb_item_revision(const sealdb_item *e) { return e ? e->v.revision : 0; }
SEALDB_API int sealdb_item_deleted(const sealdb_item *e) { return e ? e->v.md.deleted : 0; }
SEALDB_API void sealdb_item_free(sealdb_item *e) {
    if (!e) return;
    sdb_kv_version_deinit(&e->v);
    sdb_free(e);
}

SEALDB_API size_t sealdb_items_count(const sealdb_items *l) { return l ? l->l.n : 0; }
SEALDB_API const sealdb_item *sealdb_items_at(const sealdb_items *l, size_t i) {
    if (!l || i >= l->l.n) return NULL;
    return (const sealdb_item *)(const void *)&l->l.v[i];
}
SEALDB_API void sealdb_items_free(sealdb_items *l) {
    if (!l) return;
    sdb_kv_list_deinit(&l->l);
    sdb_free(l);
}
