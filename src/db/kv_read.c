/* kv_read.c - immudb reads: Get, GetAll, Scan, History, Count, ZScan, TxById, TxScan and CurrentState,
 * with reference resolution, immudb's validation and exact errors, and answers bounded in size. */
#include <float.h>
#include <string.h>
#include "db/kv_int.h"

/* ---- reading keys ---- */

/* The user key of a version (stored key minus its prefix byte); `fallback` when the engine gave none. */
static sdb_slice user_key(const sdb_kv_version *v, sdb_slice fallback) {
    if (v->key.len > 1) return (sdb_slice){ v->key.ptr + 1, v->key.len - 1 };
    return fallback;
}

/* 1 (err filled) when the version is a deletion or expired, 0 when live. */
int sdb_kv_dead(const sdb_kv_version *v, sdb_kverr *err) {
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
int sdb_kv_read_key(sdb_kvdb *db, sdb_arena *a, sdb_slice ukey, const sdb_get_opts *o, sdb_kv_version *v,
                    sdb_kverr *err) {
    sdb_slice pk = sdb_kv_prefixed(a, SDB_KEY_PREFIX_SET, ukey.ptr, ukey.len);
    if (!pk.ptr) return sdb_kv_oom(err);
    int rc = sdb_engine_get(db->eng, pk, o, v);
    if (rc == SEALDB_OK) return 0;
    if (rc == SEALDB_NOTFOUND) { sdb_kv_err(err, SDB_GRPC_UNKNOWN, MSG_NOT_FOUND); return 1; }
    if (rc == SEALDB_INVALID) return sdb_kv_err(err, SDB_GRPC_UNKNOWN, "invalid key revision number");
    return sdb_kv_engine_err(rc, err);   /* UNSUPPORTED (no key index in this build) -> Unimplemented */
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
        if (!(*out = sdb_kv_entry_pb(a, v, key, val))) return sdb_kv_oom(err);
        return 0;
    }
    sdb_get_opts o = { .at_tx = ev.at_tx, .no_wait = 1 };
    sdb_kv_version t;
    sdb_kv_version_init(&t);
    int rc = sdb_kv_read_key(db, a, ev.ref_key, &o, &t, err);
    if (rc) goto done;
    if (sdb_kv_dead(&t, err)) { rc = 1; goto done; }
    sdb_enc_value tv;
    if (sdb_enc_parse_value(sdb_buf_slice(&t.value), &tv) || tv.kind != SDB_ENC_PLAIN) {
        rc = sdb_kv_err(err, SDB_GRPC_INTERNAL, "corrupted reference target");
        goto done;
    }
    SdbEntry *e = sdb_kv_entry_pb(a, &t, user_key(&t, ev.ref_key), tv.value);
    Immudb__Schema__Reference *r = PB_NEW(a, Immudb__Schema__Reference, IMMUDB__SCHEMA__REFERENCE__INIT);
    if (!e || !r || sdb_kv_bin_dup(a, &r->key, key.ptr, key.len)) { rc = sdb_kv_oom(err); goto done; }
    if (ev.at_tx) e->revision = 0;
    r->tx = v->tx_id;
    r->attx = ev.at_tx;
    r->revision = v->revision;
    if (sdb_kv_md_present(&v->md) && !(r->metadata = sdb_kv_md_pb(a, &v->md))) { rc = sdb_kv_oom(err); goto done; }
    e->referencedby = r;
    *out = e;
done:
    sdb_kv_version_deinit(&t);
    return rc;
}

/* Get with immudb's validation; also returns the proven (tx, entry index): the reference entry's
 * for references. */
int sdb_kv_get_entry(sdb_kvdb *db, sdb_arena *a, const Immudb__Schema__KeyRequest *r, SdbEntry **out,
                     uint64_t *proven_tx, uint32_t *proven_idx, sdb_kverr *err) {
    if (!r->key.len) return sdb_kv_err(err, SDB_GRPC_UNKNOWN, "illegal arguments: empty key");
    if (r->attx && r->sincetx)
        return sdb_kv_err(err, SDB_GRPC_UNKNOWN, "illegal arguments: SinceTx should not be specified when AtTx is used");
    if (r->attx && r->atrevision)
        return sdb_kv_err(err, SDB_GRPC_UNKNOWN,
                          "illegal arguments: AtRevision should not be specified when AtTx is used");
    if (r->sincetx > sdb_engine_committed_tx(db->eng))
        return sdb_kv_err(err, SDB_GRPC_UNKNOWN,
                          "illegal arguments: SinceTx must not be greater than the current transaction ID");
    sdb_get_opts o = { .at_tx = r->attx, .at_revision = r->atrevision, .since_tx = r->sincetx, .no_wait = r->nowait };
    sdb_kv_version v;
    sdb_kv_version_init(&v);
    sdb_slice uk = { r->key.data, r->key.len };
    int rc = sdb_kv_read_key(db, a, uk, &o, &v, err);
    if (rc) { rc = -1; goto done; }
    if (sdb_kv_dead(&v, err)) { rc = -1; goto done; }
    rc = resolve(db, a, &v, uk, 0, out, err);
    if (rc > 0) rc = -1;
    if (proven_tx) *proven_tx = v.tx_id;
    if (proven_idx) *proven_idx = v.entry_idx;
done:
    sdb_kv_version_deinit(&v);
    return rc < 0 ? -1 : 0;
}

int sdb_kv_get(sdb_kvdb *db, sdb_arena *a, const Immudb__Schema__KeyRequest *r, SdbEntry **out, sdb_kverr *err) {
    return sdb_kv_get_entry(db, a, r, out, NULL, NULL, err);
}

int sdb_kv_get_all(sdb_kvdb *db, sdb_arena *a, const Immudb__Schema__KeyListRequest *r,
                   Immudb__Schema__Entries **out, sdb_kverr *err) {
    uint64_t last = sdb_engine_committed_tx(db->eng);   /* precommitted txs are not read */
    /* the key count first: each key is an index lookup and a value read */
    if (r->n_keys > SDB_KV_MAX_RESULT)
        return sdb_kv_err(err, SDB_GRPC_UNKNOWN, "result size limit exceeded: the number of keys (%zu) is larger "
                          "than the maximum allowed one (%u)", r->n_keys, SDB_KV_MAX_RESULT);
    if (r->sincetx > last) return sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT, MSG_ILLEGAL);
    if (sdb_engine_wait_indexed(db->eng, r->sincetx ? r->sincetx : last, -1) == SEALDB_RANGE)
        return sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT, MSG_ILLEGAL);
    Immudb__Schema__Entries *es = PB_NEW(a, Immudb__Schema__Entries, IMMUDB__SCHEMA__ENTRIES__INIT);
    if (!es) return sdb_kv_oom(err);
    if (r->n_keys && !(es->entries = sdb_kv_zalloc(a, r->n_keys * sizeof *es->entries))) return sdb_kv_oom(err);
    uint64_t used = 0;
    for (size_t i = 0; i < r->n_keys; i++) {
        sdb_slice uk = { r->keys[i].data, r->keys[i].len };
        if (!uk.len) continue;
        sdb_get_opts o = { .no_wait = 1 };
        sdb_kv_version v;
        sdb_kv_version_init(&v);
        SdbEntry *e = NULL;
        int rc = sdb_kv_read_key(db, a, uk, &o, &v, err);
        /* a repeated key is answered again: count every copy before it is made */
        if (rc == 0 && !sdb_kv_dead(&v, err))
            rc = sdb_kv_answer_take(db, &used, uk.len + v.value.len + ENTRY_OVERHEAD, es->n_entries == 0, err) ? -1
                 : resolve(db, a, &v, uk, 0, &e, err);
        else if (rc == 0) rc = 1;
        if (rc == 0 && e->referencedby &&
            sdb_kv_answer_take(db, &used, e->key.len + e->value.len, es->n_entries == 0, err))
            rc = -1;
        sdb_kv_version_deinit(&v);
        if (rc < 0) return -1;
        if (rc == 0) es->entries[es->n_entries++] = e;
    }
    *out = es;
    return 0;
}

int sdb_kv_scan(sdb_kvdb *db, sdb_arena *a, const Immudb__Schema__ScanRequest *r, Immudb__Schema__Entries **out,
                sdb_kverr *err) {
    if (r->limit > SDB_KV_MAX_RESULT) return sdb_kv_result_limit(r->limit, err);
    if (r->sincetx > sdb_engine_committed_tx(db->eng)) return sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT, MSG_ILLEGAL);
    sdb_scan_opts o;
    memset(&o, 0, sizeof o);
    o.prefix = sdb_kv_prefixed(a, SDB_KEY_PREFIX_SET, r->prefix.data, r->prefix.len);
    if (r->seekkey.len) o.seek = sdb_kv_prefixed(a, SDB_KEY_PREFIX_SET, r->seekkey.data, r->seekkey.len);
    if (r->endkey.len) o.end = sdb_kv_prefixed(a, SDB_KEY_PREFIX_SET, r->endkey.data, r->endkey.len);
    if (!o.prefix.ptr || (r->seekkey.len && !o.seek.ptr) || (r->endkey.len && !o.end.ptr)) return sdb_kv_oom(err);
    o.inclusive_seek = r->inclusiveseek;
    o.inclusive_end = r->inclusiveend;
    o.desc = r->desc;
    o.offset = r->offset;
    o.limit = r->limit ? r->limit : SDB_KV_MAX_RESULT;
    o.since_tx = r->sincetx;
    sdb_kv_list l;
    sdb_kv_list_init(&l);
    l.max_bytes = db->max_answer_len;
    int rc = sdb_engine_scan(db->eng, &o, &l);
    if (rc) { sdb_kv_list_deinit(&l); return rc == SEALDB_RANGE ? sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT, MSG_ILLEGAL)
                                                                  : rc == SEALDB_TOOLARGE ? sdb_kv_answer_too_large(db, err)
                                                                  : sdb_kv_engine_err(rc, err); }
    uint64_t used = l.bytes;
    Immudb__Schema__Entries *es = PB_NEW(a, Immudb__Schema__Entries, IMMUDB__SCHEMA__ENTRIES__INIT);
    if (!es || (l.n && !(es->entries = sdb_kv_zalloc(a, l.n * sizeof *es->entries)))) { sdb_kv_list_deinit(&l); return sdb_kv_oom(err); }
    for (size_t i = 0; i < l.n; i++) {
        SdbEntry *e = NULL;
        if (sdb_kv_dead(&l.v[i], err)) continue;
        rc = resolve(db, a, &l.v[i], (sdb_slice){ NULL, 0 }, 0, &e, err);
        /* a reference brings its target's value: counted on top of what the scan read */
        if (rc == 0 && sdb_kv_answer_take(db, &used, ENTRY_OVERHEAD + (e->referencedby ? e->key.len + e->value.len : 0),
                                   es->n_entries == 0, err))
            rc = -1;
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
    if ((uint64_t)r->limit > SDB_KV_MAX_RESULT) return sdb_kv_result_limit((uint64_t)r->limit, err);
    if (r->sincetx > sdb_engine_committed_tx(db->eng)) return sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT, MSG_ILLEGAL);
    sdb_slice pk = sdb_kv_prefixed(a, SDB_KEY_PREFIX_SET, r->key.data, r->key.len);
    if (!pk.ptr) return sdb_kv_oom(err);
    sdb_kv_list l;
    sdb_kv_list_init(&l);
    uint64_t total = 0;
    uint64_t limit = r->limit ? (uint64_t)r->limit : SDB_KV_MAX_RESULT;
    l.max_bytes = db->max_answer_len;
    int rc = sdb_engine_history(db->eng, pk, r->offset, limit, r->desc, r->sincetx, &l, &total);
    if (rc) { sdb_kv_list_deinit(&l); return rc == SEALDB_TOOLARGE ? sdb_kv_answer_too_large(db, err) : sdb_kv_engine_err(rc, err); }
    uint64_t used = l.bytes + (uint64_t)l.n * ENTRY_OVERHEAD;
    if (l.n > 1 && used > db->max_answer_len) { sdb_kv_list_deinit(&l); return sdb_kv_answer_too_large(db, err); }
    if (r->offset == total) { sdb_kv_list_deinit(&l); return sdb_kv_err(err, SDB_GRPC_UNKNOWN, "tbtree: no more entries"); }
    Immudb__Schema__Entries *es = PB_NEW(a, Immudb__Schema__Entries, IMMUDB__SCHEMA__ENTRIES__INIT);
    if (!es || (l.n && !(es->entries = sdb_kv_zalloc(a, l.n * sizeof *es->entries)))) { sdb_kv_list_deinit(&l); return sdb_kv_oom(err); }
    for (size_t i = 0; i < l.n; i++) {
        sdb_kv_version *v = &l.v[i];
        sdb_slice val = { NULL, 0 };
        if (!v->md.deleted && !v->expired && v->value.len > 1) val = (sdb_slice){ v->value.ptr + 1, v->value.len - 1 };
        SdbEntry *e = sdb_kv_entry_pb(a, v, (sdb_slice){ r->key.data, r->key.len }, val);
        if (!e) { sdb_kv_list_deinit(&l); return sdb_kv_oom(err); }
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
        if (sdb_enc_set_key(prefix, &pb)) return sdb_kv_oom(err);
        pk = sdb_buf_slice(&pb);
    }
    int rc = sdb_engine_count(db->eng, pk, 0, out);
    sdb_buf_deinit(&pb);
    return rc ? sdb_kv_engine_err(rc, err) : 0;
}

/* ---- sorted sets ---- */

/* Member entry of a sorted-set element: 0 ok, 1 skip (member gone), -1 error. */
static int zmember(sdb_kvdb *db, sdb_arena *a, sdb_slice ukey, uint64_t at_tx, SdbEntry **out, sdb_kverr *err) {
    sdb_get_opts o = { .at_tx = at_tx, .no_wait = 1 };
    sdb_kv_version v;
    sdb_kv_version_init(&v);
    int rc = sdb_kv_read_key(db, a, ukey, &o, &v, err);
    if (rc == 0) rc = sdb_kv_dead(&v, err) ? 1 : resolve(db, a, &v, ukey, 0, out, err);
    if (rc == 0 && at_tx) (*out)->revision = 0;
    sdb_kv_version_deinit(&v);
    return rc;
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
    if (r->limit > SDB_KV_MAX_RESULT) return sdb_kv_result_limit(r->limit, err);
    if (r->sincetx > sdb_engine_committed_tx(db->eng)) return sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT, MSG_ILLEGAL);
    sdb_slice set = { r->set.data, r->set.len };
    sdb_scan_opts o;
    memset(&o, 0, sizeof o);
    o.prefix = zset_prefix(a, set, 0);
    if (!o.prefix.ptr) return sdb_kv_oom(err);
    if (r->seekkey.len) {
        sdb_buf sk;
        sdb_buf_init(&sk);
        if (sdb_enc_zadd_key(set, r->seekscore, (sdb_slice){ r->seekkey.data, r->seekkey.len }, r->seekattx, &sk)) {
            sdb_buf_deinit(&sk);
            return sdb_kv_oom(err);
        }
        o.seek.ptr = sdb_arena_dup(a, sk.ptr, sk.len);
        o.seek.len = sk.len;
        sdb_buf_deinit(&sk);
        if (!o.seek.ptr) return sdb_kv_oom(err);
        o.inclusive_seek = r->inclusiveseek;
    } else if (!r->desc && r->minscore) {
        sdb_slice s = zset_prefix(a, set, 8);
        if (!s.ptr) return sdb_kv_oom(err);
        put_f64((uint8_t *)s.ptr + s.len, r->minscore->score);
        o.seek = (sdb_slice){ s.ptr, s.len + 8 };
        o.inclusive_seek = 1;
    } else if (r->desc) {
        /* start after every element of score max: the score bits followed by 0xff bytes sort
         * above any (length, key, atTx) suffix, whose length field starts with 0x00 */
        sdb_slice s = zset_prefix(a, set, 17);
        if (!s.ptr) return sdb_kv_oom(err);
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
                                                                  : sdb_kv_engine_err(rc, err); }
    Immudb__Schema__ZEntries *zs = PB_NEW(a, Immudb__Schema__ZEntries, IMMUDB__SCHEMA__ZENTRIES__INIT);
    if (!zs || (l.n && !(zs->entries = sdb_kv_zalloc(a, l.n * sizeof *zs->entries)))) { sdb_kv_list_deinit(&l); return sdb_kv_oom(err); }
    uint64_t used = 0;
    for (size_t i = 0; i < l.n; i++) {
        sdb_enc_zadd z;
        if (sdb_enc_parse_zadd_key(sdb_buf_slice(&l.v[i].key), &z)) continue;
        if (r->minscore && z.score < r->minscore->score) continue;
        if (r->maxscore && z.score > r->maxscore->score) continue;
        SdbEntry *e = NULL;
        rc = zmember(db, a, z.key, z.at_tx, &e, err);
        if (rc < 0) { sdb_kv_list_deinit(&l); return -1; }
        if (rc > 0) continue;
        /* each element carries its member's value: many elements can name one large key */
        if (sdb_kv_answer_take(db, &used, z.set.len + 2 * z.key.len + e->value.len + ENTRY_OVERHEAD, zs->n_entries == 0, err)) {
            sdb_kv_list_deinit(&l);
            return -1;
        }
        Immudb__Schema__ZEntry *ze = sdb_kv_zentry_pb(a, &z, e);
        if (!ze) { sdb_kv_list_deinit(&l); return sdb_kv_oom(err); }
        zs->entries[zs->n_entries++] = ze;
    }
    sdb_kv_list_deinit(&l);
    *out = zs;
    return 0;
}

/* ---- transactions ---- */

static int spec_action(const Immudb__Schema__EntriesSpec *spec, uint8_t prefix) {
    const Immudb__Schema__EntryTypeSpec *s = prefix == SDB_KEY_PREFIX_SET ? spec->kventriesspec
                                             : prefix == SDB_KEY_PREFIX_ZSET ? spec->zentriesspec
                                             : spec->sqlentriesspec;
    return s ? (int)s->action : IMMUDB__SCHEMA__ENTRY_TYPE_ACTION__EXCLUDE;
}

/* Tx message for tx id: raw (spec NULL) or formatted per EntriesSpec (docs/api.md 2.14). */
/* used: the answer's running size (sdb_kv_answer_take), shared by the txs of one TxScan; first: no tx
 * of the answer yet (its own entries always pass; resolved targets are always counted). */
int sdb_kv_tx_pb(sdb_kvdb *db, sdb_arena *a, uint64_t id, const Immudb__Schema__EntriesSpec *spec, int keep_refs,
                 uint64_t *used, int first, Immudb__Schema__Tx **out, sdb_kverr *err) {
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
    if (rc) { sdb_tx_deinit(&t); return sdb_kv_engine_err(rc, err); }
    /* what this tx adds to the answer, before any of it is copied (resolved targets come later) */
    uint64_t need = ENTRY_OVERHEAD;
    for (uint32_t i = 0; i < t.nentries; i++)
        need += t.entries[i].key.len + (need_values ? t.entries[i].value.len : 0) + ENTRY_OVERHEAD;
    if (sdb_kv_answer_take(db, used, need, first, err)) { sdb_tx_deinit(&t); return -1; }
    Immudb__Schema__Tx *p = PB_NEW(a, Immudb__Schema__Tx, IMMUDB__SCHEMA__TX__INIT);
    if (!p || !(p->header = sdb_kv_header_pb(a, &t.hdr))) goto nomem;
    if (t.nentries) {
        if (!(p->entries = sdb_kv_zalloc(a, t.nentries * sizeof *p->entries))) goto nomem;
        if (spec && !(p->kventries = sdb_kv_zalloc(a, t.nentries * sizeof *p->kventries))) goto nomem;
        if (spec && !(p->zentries = sdb_kv_zalloc(a, t.nentries * sizeof *p->zentries))) goto nomem;
    }
    for (uint32_t i = 0; i < t.nentries; i++) {
        const sdb_tx_entry *te = &t.entries[i];
        uint8_t prefix = te->key.len ? te->key.ptr[0] : 0xff;
        int act = spec ? spec_action(spec, prefix) : IMMUDB__SCHEMA__ENTRY_TYPE_ACTION__ONLY_DIGEST;
        if (act == IMMUDB__SCHEMA__ENTRY_TYPE_ACTION__EXCLUDE) continue;
        if (act == IMMUDB__SCHEMA__ENTRY_TYPE_ACTION__ONLY_DIGEST || act == IMMUDB__SCHEMA__ENTRY_TYPE_ACTION__RAW_VALUE) {
            int expired = te->md.has_expires && te->md.expires_at <= sdb_unix_s();
            Immudb__Schema__TxEntry *e = sdb_kv_txentry_pb(a, te, act == IMMUDB__SCHEMA__ENTRY_TYPE_ACTION__RAW_VALUE && !expired);
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
            if (rc == 0 && e->referencedby && sdb_kv_answer_take(db, used, e->key.len + e->value.len, 0, err)) rc = -1;
            if (rc < 0) { sdb_tx_deinit(&t); return -1; }
            if (rc == 0) p->kventries[p->n_kventries++] = e;
        } else if (prefix == SDB_KEY_PREFIX_ZSET) {
            sdb_enc_zadd z;
            if (sdb_enc_parse_zadd_key(te->key, &z)) continue;
            SdbEntry *e = NULL;
            rc = zmember(db, a, z.key, z.at_tx, &e, err);
            if (rc == 0 && sdb_kv_answer_take(db, used, e->key.len + e->value.len, 0, err)) rc = -1;
            if (rc < 0) { sdb_tx_deinit(&t); return -1; }
            if (rc > 0) continue;
            Immudb__Schema__ZEntry *ze = sdb_kv_zentry_pb(a, &z, e);
            if (!ze) goto nomem;
            p->zentries[p->n_zentries++] = ze;
        }
    }
    sdb_tx_deinit(&t);
    *out = p;
    return 0;
nomem:
    sdb_tx_deinit(&t);
    return sdb_kv_oom(err);
}

int sdb_kv_tx_by_id(sdb_kvdb *db, sdb_arena *a, const Immudb__Schema__TxRequest *r, Immudb__Schema__Tx **out,
                    sdb_kverr *err) {
    uint64_t last = sdb_engine_committed_tx(db->eng);   /* precommitted txs are not read */
    if (!r->tx) return sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT, MSG_ILLEGAL);
    if (r->sincetx > last) return sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT, MSG_ILLEGAL);
    if (r->tx > last) return sdb_kv_err(err, SDB_GRPC_UNKNOWN, "tx not found");
    if (!r->nowait) sdb_engine_wait_indexed(db->eng, r->sincetx ? r->sincetx : last, -1);
    uint64_t used = 0;
    return sdb_kv_tx_pb(db, a, r->tx, r->entriesspec, r->keepreferencesunresolved, &used, 1, out, err);
}

int sdb_kv_tx_scan(sdb_kvdb *db, sdb_arena *a, const Immudb__Schema__TxScanRequest *r, Immudb__Schema__TxList **out,
                   sdb_kverr *err) {
    uint64_t last = sdb_engine_committed_tx(db->eng);   /* precommitted txs are not read */
    if (r->limit > SDB_KV_MAX_RESULT) return sdb_kv_result_limit(r->limit, err);
    if (!r->initialtx) return sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT, MSG_ILLEGAL);
    if (r->sincetx > last) return sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT, MSG_ILLEGAL);
    if (!r->nowait) sdb_engine_wait_indexed(db->eng, r->sincetx ? r->sincetx : last, -1);
    uint64_t limit = r->limit ? r->limit : SDB_KV_MAX_RESULT;
    Immudb__Schema__TxList *tl = PB_NEW(a, Immudb__Schema__TxList, IMMUDB__SCHEMA__TX_LIST__INIT);
    if (!tl || !(tl->txs = sdb_kv_zalloc(a, limit * sizeof *tl->txs))) return sdb_kv_oom(err);
    uint64_t used = 0;
    for (uint64_t id = r->initialtx; id >= 1 && id <= last && tl->n_txs < limit; id = r->desc ? id - 1 : id + 1) {
        Immudb__Schema__Tx *t = NULL;
        if (sdb_kv_tx_pb(db, a, id, r->entriesspec, 0, &used, tl->n_txs == 0, &t, err)) return -1;
        tl->txs[tl->n_txs++] = t;
    }
    *out = tl;
    return 0;
}

int sdb_kv_state(sdb_kvdb *db, sdb_arena *a, const sdb_signer *signer, Immudb__Schema__ImmutableState **out,
                 sdb_kverr *err) {
    uint64_t id, pid;
    uint8_t alh[SDB_HASH_LEN], palh[SDB_HASH_LEN];
    /* committed first: with synchronous replication it may lag the precommitted (published) tx */
    int rc = sdb_engine_committed_state(db->eng, &id, alh);
    if (!rc) rc = sdb_engine_state(db->eng, &pid, palh);
    if (rc) return sdb_kv_engine_err(rc, err);
    Immudb__Schema__ImmutableState *s = PB_NEW(a, Immudb__Schema__ImmutableState, IMMUDB__SCHEMA__IMMUTABLE_STATE__INIT);
    if (!s || !(s->db = sdb_arena_dup(a, db->name, strlen(db->name) + 1))) return sdb_kv_oom(err);
    s->txid = id;
    s->precommittedtxid = pid;
    if (sdb_kv_bin_dup(a, &s->txhash, alh, SDB_HASH_LEN) || sdb_kv_bin_dup(a, &s->precommittedtxhash, palh, SDB_HASH_LEN))
        return sdb_kv_oom(err);
    if (signer && !(s->signature = sdb_kv_sign_pb(a, signer, db->name, id, alh)))
        return sdb_kv_err(err, SDB_GRPC_INTERNAL, "state signing failed");
    *out = s;
    return 0;
}
