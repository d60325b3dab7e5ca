/* kv_wire.c - immudb.schema protobuf messages built from engine data (metadata, headers, proofs,
 * entries) and the hand-packed bytes of raw Tx messages, identical to what protobuf-c packs. */
#include <string.h>
#include "db/kv_int.h"

/* ---- message builders ---- */

Immudb__Schema__KVMetadata *sdb_kv_md_pb(sdb_arena *a, const sdb_kv_md *md) {
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

int sdb_kv_md_present(const sdb_kv_md *md) { return md->deleted || md->has_expires || md->non_indexable; }

Immudb__Schema__TxHeader *sdb_kv_header_pb(sdb_arena *a, const sdb_tx_header *h) {
    Immudb__Schema__TxHeader *p = PB_NEW(a, Immudb__Schema__TxHeader, IMMUDB__SCHEMA__TX_HEADER__INIT);
    if (!p) return NULL;
    p->id = h->id;
    p->ts = h->ts;
    p->nentries = (int32_t)h->nentries;
    p->bltxid = h->bl_tx_id;
    p->version = h->version;
    if (sdb_kv_bin_dup(a, &p->prevalh, h->prev_alh.b, SDB_HASH_LEN) || sdb_kv_bin_dup(a, &p->eh, h->eh.b, SDB_HASH_LEN) ||
        sdb_kv_bin_dup(a, &p->blroot, h->bl_root.b, SDB_HASH_LEN))
        return NULL;
    return p;
}

int sdb_kv_hashes_pb(sdb_arena *a, const sdb_hashes *h, ProtobufCBinaryData **out, size_t *n) {
    *n = h->n;
    *out = NULL;
    if (!h->n) return 0;
    *out = sdb_kv_zalloc(a, h->n * sizeof **out);
    if (!*out) return -1;
    for (size_t i = 0; i < h->n; i++)
        if (sdb_kv_bin_dup(a, &(*out)[i], h->h[i].b, SDB_HASH_LEN)) return -1;
    return 0;
}

Immudb__Schema__DualProof *sdb_kv_dual_pb(sdb_arena *a, const sdb_dual_proof *d) {
    Immudb__Schema__DualProof *p = PB_NEW(a, Immudb__Schema__DualProof, IMMUDB__SCHEMA__DUAL_PROOF__INIT);
    if (!p) return NULL;
    p->sourcetxheader = sdb_kv_header_pb(a, &d->source);
    p->targettxheader = sdb_kv_header_pb(a, &d->target);
    if (!p->sourcetxheader || !p->targettxheader) return NULL;
    if (sdb_kv_hashes_pb(a, &d->inclusion, &p->inclusionproof, &p->n_inclusionproof) ||
        sdb_kv_hashes_pb(a, &d->consistency, &p->consistencyproof, &p->n_consistencyproof) ||
        sdb_kv_hashes_pb(a, &d->last_inclusion, &p->lastinclusionproof, &p->n_lastinclusionproof) ||
        sdb_kv_bin_dup(a, &p->targetbltxalh, d->target_bl_tx_alh.b, SDB_HASH_LEN))
        return NULL;
    p->linearproof = PB_NEW(a, Immudb__Schema__LinearProof, IMMUDB__SCHEMA__LINEAR_PROOF__INIT);
    if (!p->linearproof) return NULL;
    p->linearproof->sourcetxid = d->linear.source_tx_id;
    p->linearproof->targettxid = d->linear.target_tx_id;
    if (sdb_kv_hashes_pb(a, &d->linear.terms, &p->linearproof->terms, &p->linearproof->n_terms)) return NULL;
    if (d->lap.present) {
        Immudb__Schema__LinearAdvanceProof *l =
            PB_NEW(a, Immudb__Schema__LinearAdvanceProof, IMMUDB__SCHEMA__LINEAR_ADVANCE_PROOF__INIT);
        if (!l || sdb_kv_hashes_pb(a, &d->lap.linear_terms, &l->linearproofterms, &l->n_linearproofterms)) return NULL;
        if (d->lap.n_inclusion) {
            l->inclusionproofs = sdb_kv_zalloc(a, d->lap.n_inclusion * sizeof *l->inclusionproofs);
            if (!l->inclusionproofs) return NULL;
            l->n_inclusionproofs = d->lap.n_inclusion;
            for (size_t i = 0; i < d->lap.n_inclusion; i++) {
                Immudb__Schema__InclusionProof *ip =
                    PB_NEW(a, Immudb__Schema__InclusionProof, IMMUDB__SCHEMA__INCLUSION_PROOF__INIT);
                if (!ip || sdb_kv_hashes_pb(a, &d->lap.inclusion[i], &ip->terms, &ip->n_terms)) return NULL;
                l->inclusionproofs[i] = ip;
            }
        }
        p->linearadvanceproof = l;
    }
    return p;
}

Immudb__Schema__Signature *sdb_kv_sign_pb(sdb_arena *a, const sdb_signer *signer, const char *db, uint64_t id,
                                          const uint8_t alh[SDB_HASH_LEN]) {
    Immudb__Schema__Signature *s = PB_NEW(a, Immudb__Schema__Signature, IMMUDB__SCHEMA__SIGNATURE__INIT);
    if (!s) return NULL;
    uint8_t pub[65];
    sdb_buf der;
    sdb_buf_init(&der);
    if (sdb_signer_public_point(signer, pub) || sdb_state_sign(signer, sdb_slice_str(db), id, alh, &der) ||
        sdb_kv_bin_dup(a, &s->publickey, pub, sizeof pub) || sdb_kv_bin_dup(a, &s->signature, der.ptr, der.len)) {
        sdb_buf_deinit(&der);
        return NULL;
    }
    sdb_buf_deinit(&der);
    return s;
}

SdbEntry *sdb_kv_entry_pb(sdb_arena *a, const sdb_kv_version *v, sdb_slice key, sdb_slice value) {
    SdbEntry *e = PB_NEW(a, SdbEntry, IMMUDB__SCHEMA__ENTRY__INIT);
    if (!e) return NULL;
    e->tx = v->tx_id;
    e->revision = v->revision;
    if (sdb_kv_bin_dup(a, &e->key, key.ptr, key.len) || sdb_kv_bin_dup(a, &e->value, value.ptr, value.len)) return NULL;
    if (sdb_kv_md_present(&v->md) && !(e->metadata = sdb_kv_md_pb(a, &v->md))) return NULL;
    return e;
}

Immudb__Schema__ZEntry *sdb_kv_zentry_pb(sdb_arena *a, const sdb_enc_zadd *z, SdbEntry *member) {
    Immudb__Schema__ZEntry *ze = PB_NEW(a, Immudb__Schema__ZEntry, IMMUDB__SCHEMA__ZENTRY__INIT);
    if (!ze || sdb_kv_bin_dup(a, &ze->set, z->set.ptr, z->set.len) || sdb_kv_bin_dup(a, &ze->key, z->key.ptr, z->key.len)) return NULL;
    ze->score = z->score;
    ze->attx = z->at_tx;
    ze->entry = member;
    return ze;
}

Immudb__Schema__TxEntry *sdb_kv_txentry_pb(sdb_arena *a, const sdb_tx_entry *te, int with_value) {
    Immudb__Schema__TxEntry *p = PB_NEW(a, Immudb__Schema__TxEntry, IMMUDB__SCHEMA__TX_ENTRY__INIT);
    if (!p || sdb_kv_bin_dup(a, &p->key, te->key.ptr, te->key.len) || sdb_kv_bin_dup(a, &p->hvalue, te->hvalue.b, SDB_HASH_LEN))
        return NULL;
    p->vlen = (int32_t)te->vlen;
    if (te->md_bytes.len && !(p->metadata = sdb_kv_md_pb(a, &te->md))) return NULL;
    if (with_value && sdb_kv_bin_dup(a, &p->value, te->value.ptr, te->value.len)) return NULL;
    return p;
}

/* ---- packed answers: protobuf framing around cached bytes ---- */

size_t sdb_kv_varint_len(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) { v >>= 7; n++; }
    return n;
}

/* Length-delimited field `num` (< 16) holding n bytes: tag, length, then the caller's bytes. */
uint8_t *sdb_kv_put_field_head(uint8_t *p, unsigned num, size_t n) {
    *p++ = (uint8_t)(num << 3 | 2);
    return sdb_put_varint(p, n);
}

/* vLen as protobuf-c packs an int32 field: sign-extended to 64 bits. */
static uint64_t entry_vlen(const sdb_tx_entry *te) { return (uint64_t)(int64_t)(int32_t)te->vlen; }

/* Packed size of one TxEntry body (key #1, hValue #2, vLen #3, metadata #4 packed as md). */
static size_t entry_len(const sdb_tx_entry *te, sdb_slice md) {
    uint64_t vl = entry_vlen(te);
    return (te->key.len ? 1 + sdb_kv_varint_len(te->key.len) + te->key.len : 0) + 2 + SDB_HASH_LEN +
           (vl ? 1 + sdb_kv_varint_len(vl) : 0) + (te->md_bytes.len ? 1 + sdb_kv_varint_len(md.len) + md.len : 0);
}

/* Packs the raw Tx message of tx id (what sdb_kv_tx_pb(spec NULL) builds, then protobuf-c packs) straight
 * from the engine's tx, without a message per entry: header #1, then per entry #2 a TxEntry of
 * key #1, hValue #2, vLen #3 (omitted when 0), metadata #4 (when present). Fields are written in
 * number order and proto3 zero values are skipped, as protobuf-c does, so the bytes are identical.
 * The result starts at offset `head` of a fresh arena buffer with `tail` bytes free after it. */
int sdb_kv_raw_tx_encode(sdb_kvdb *db, sdb_arena *a, uint64_t id, size_t head, size_t tail, uint8_t **buf,
                         size_t *n, sdb_kverr *err) {
    sdb_tx t;
    sdb_tx_init(&t);
    int rc = sdb_engine_tx_read(db->eng, id, 0, &t);
    if (rc) { sdb_tx_deinit(&t); return sdb_kv_engine_err(rc, err); }
    Immudb__Schema__TxHeader *h = sdb_kv_header_pb(a, &t.hdr);
    sdb_slice *mds = t.nentries ? sdb_kv_zalloc(a, t.nentries * sizeof *mds) : NULL;
    if (!h || (t.nentries && !mds)) goto nomem;
    size_t hl = protobuf_c_message_get_packed_size(&h->base);
    size_t total = 1 + sdb_kv_varint_len(hl) + hl;
    for (uint32_t i = 0; i < t.nentries; i++) {
        const sdb_tx_entry *te = &t.entries[i];
        if (te->md_bytes.len) {
            Immudb__Schema__KVMetadata *m = sdb_kv_md_pb(a, &te->md);
            if (!m) goto nomem;
            size_t ml = protobuf_c_message_get_packed_size(&m->base);
            uint8_t *mp = sdb_arena_alloc(a, ml ? ml : 1);
            if (!mp) goto nomem;
            protobuf_c_message_pack(&m->base, mp);
            mds[i] = sdb_slice_of(mp, ml);
        }
        size_t el = entry_len(te, mds[i]);
        total += 1 + sdb_kv_varint_len(el) + el;
    }
    uint8_t *b = sdb_arena_alloc(a, head + total + tail);
    if (!b) goto nomem;
    uint8_t *p = sdb_kv_put_field_head(b + head, 1, hl);
    p += protobuf_c_message_pack(&h->base, p);
    for (uint32_t i = 0; i < t.nentries; i++) {
        const sdb_tx_entry *te = &t.entries[i];
        uint64_t vl = entry_vlen(te);
        size_t el = entry_len(te, mds[i]);
        p = sdb_kv_put_field_head(p, 2, el);
        if (te->key.len) {
            p = sdb_kv_put_field_head(p, 1, te->key.len);
            memcpy(p, te->key.ptr, te->key.len);
            p += te->key.len;
        }
        p = sdb_kv_put_field_head(p, 2, SDB_HASH_LEN);
        memcpy(p, te->hvalue.b, SDB_HASH_LEN);
        p += SDB_HASH_LEN;
        if (vl) { *p++ = 3 << 3; p = sdb_put_varint(p, vl); }
        if (te->md_bytes.len) {
            p = sdb_kv_put_field_head(p, 4, mds[i].len);
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
    return sdb_kv_oom(err);
}
