/* convert.c - conversions of decoded protobuf answers into the public result structs (owned copies)
 * and into src/crypto's proof structs. Everything here reads untrusted server data: digests must be
 * at most 32 bytes (shorter ones are zero-padded at the end as the Go SDK does), counts are bounded. */
#include <stdlib.h>
#include "client/client_int.h"

#define MAX_PROOF_TERMS 4096u

void sdb_cl_meta_from_pb(const Immudb__Schema__KVMetadata *m, sealdb_kv_meta *out) {
    memset(out, 0, sizeof *out);
    if (!m) return;
    out->deleted = m->deleted;
    out->non_indexable = m->nonindexable;
    if (m->expiration) {
        out->has_expiration = 1;
        out->expires_at = m->expiration->expiresat;
    }
}

int sdb_cl_md_bytes(const Immudb__Schema__KVMetadata *m, uint8_t out[SDB_KV_MD_MAX_LEN], size_t *len) {
    if (!m) { *len = 0; return SEALDB_OK; }
    sdb_kv_md md;
    memset(&md, 0, sizeof md);
    md.deleted = m->deleted ? 1 : 0;
    md.non_indexable = m->nonindexable ? 1 : 0;
    if (m->expiration) { md.has_expires = 1; md.expires_at = m->expiration->expiresat; }
    *len = sdb_kv_md_encode(&md, out);
    return SEALDB_OK;
}

static int dup_bytes(const ProtobufCBinaryData *b, uint8_t **p, size_t *n) {
    *p = NULL;
    *n = 0;
    if (!b->len) return SEALDB_OK;
    if (!(*p = sdb_malloc(b->len))) return SEALDB_NOMEM;
    memcpy(*p, b->data, b->len);
    *n = b->len;
    return SEALDB_OK;
}

void sdb_cl_entry_deinit(sealdb_entry *e) {
    if (!e) return;
    sdb_free(e->key);
    sdb_free(e->value);
    sdb_free(e->ref.key);
    memset(e, 0, sizeof *e);
}

int sdb_cl_entry_from_pb(const Immudb__Schema__Entry *e, sealdb_entry *out) {
    memset(out, 0, sizeof *out);
    out->tx = e->tx;
    out->expired = e->expired;
    out->revision = e->revision;
    if (e->metadata) { out->has_meta = 1; sdb_cl_meta_from_pb(e->metadata, &out->meta); }
    int rc = dup_bytes(&e->key, &out->key, &out->key_len);
    if (rc == SEALDB_OK) rc = dup_bytes(&e->value, &out->value, &out->value_len);
    if (rc == SEALDB_OK && e->referencedby) {
        const Immudb__Schema__Reference *r = e->referencedby;
        out->has_ref = 1;
        out->ref.tx = r->tx;
        out->ref.at_tx = r->attx;
        out->ref.revision = r->revision;
        if (r->metadata) { out->ref.has_meta = 1; sdb_cl_meta_from_pb(r->metadata, &out->ref.meta); }
        rc = dup_bytes(&r->key, &out->ref.key, &out->ref.key_len);
    }
    if (rc != SEALDB_OK) sdb_cl_entry_deinit(out);
    return rc;
}

static int digest(const ProtobufCBinaryData *b, uint8_t out[SDB_HASH_LEN]) {
    if (b->len > SDB_HASH_LEN) return SEALDB_PROTOCOL;
    memset(out, 0, SDB_HASH_LEN);
    if (b->len) memcpy(out, b->data, b->len);
    return SEALDB_OK;
}

int sdb_cl_tx_header_from_pb(const Immudb__Schema__TxHeader *h, sealdb_tx_header *out) {
    memset(out, 0, sizeof *out);
    if (!h) return SEALDB_PROTOCOL;
    if (h->nentries < 0 || h->version < 0) return SEALDB_PROTOCOL;
    out->id = h->id;
    out->ts = h->ts;
    out->version = (uint32_t)h->version;
    out->nentries = (uint32_t)h->nentries;
    out->bl_tx_id = h->bltxid;
    if (digest(&h->prevalh, out->prev_alh) || digest(&h->eh, out->eh) || digest(&h->blroot, out->bl_root))
        return SEALDB_PROTOCOL;
    return SEALDB_OK;
}

void sdb_cl_tx_deinit(sealdb_tx *t) {
    if (!t) return;
    for (size_t i = 0; i < t->n; i++) {
        sdb_free(t->entries[i].key);
        sdb_free(t->entries[i].value);
    }
    sdb_free(t->entries);
    memset(t, 0, sizeof *t);
}

int sdb_cl_tx_from_pb(const Immudb__Schema__Tx *t, sealdb_tx *out) {
    memset(out, 0, sizeof *out);
    int rc = sdb_cl_tx_header_from_pb(t->header, &out->header);
    if (rc != SEALDB_OK) return rc;
    if (t->n_entries) {
        if (!(out->entries = sdb_calloc(t->n_entries, sizeof *out->entries))) return SEALDB_NOMEM;
        for (size_t i = 0; i < t->n_entries; i++) {
            const Immudb__Schema__TxEntry *e = t->entries[i];
            sealdb_tx_entry *o = &out->entries[i];
            out->n = i + 1;
            if (e->vlen < 0 || digest(&e->hvalue, o->hvalue)) { rc = SEALDB_PROTOCOL; break; }
            o->vlen = (uint32_t)e->vlen;
            if (e->metadata) { o->has_meta = 1; sdb_cl_meta_from_pb(e->metadata, &o->meta); }
            if ((rc = dup_bytes(&e->key, &o->key, &o->key_len)) != SEALDB_OK) break;
            if (e->value.len || e->vlen == 0) {
                o->has_value = e->value.len > 0 || e->vlen == 0;
                if ((rc = dup_bytes(&e->value, &o->value, &o->value_len)) != SEALDB_OK) break;
            }
        }
    }
    if (rc != SEALDB_OK) sdb_cl_tx_deinit(out);
    return rc;
}

/* ---- crypto structs ---- */
int sdb_cl_crypto_header(const Immudb__Schema__TxHeader *h, sdb_tx_header *out) {
    memset(out, 0, sizeof *out);
    if (!h || h->nentries < 0 || h->version < 0 || h->version > 0xffff) return SEALDB_PROTOCOL;
    out->id = h->id;
    out->ts = h->ts;
    out->version = (uint16_t)h->version;
    out->nentries = (uint32_t)h->nentries;
    out->bl_tx_id = h->bltxid;
    if (digest(&h->prevalh, out->prev_alh.b) || digest(&h->eh, out->eh.b) || digest(&h->blroot, out->bl_root.b))
        return SEALDB_PROTOCOL;
    if (h->metadata) {
        out->md.truncated_tx_id = h->metadata->truncatedtxid;
        if (h->metadata->extra.len > SDB_TX_MD_MAX_EXTRA) return SEALDB_PROTOCOL;
        out->md.extra_len = (uint16_t)h->metadata->extra.len;
        if (h->metadata->extra.len) memcpy(out->md.extra, h->metadata->extra.data, h->metadata->extra.len);
    }
    return SEALDB_OK;
}

int sdb_cl_crypto_hashes(ProtobufCBinaryData *terms, size_t n, sdb_hashes *out) {
    if (n > MAX_PROOF_TERMS) return SEALDB_PROTOCOL;
    for (size_t i = 0; i < n; i++) {
        uint8_t h[SDB_HASH_LEN];
        if (terms[i].len != SDB_HASH_LEN) return SEALDB_PROTOCOL;   /* proof terms are never short */
        memcpy(h, terms[i].data, SDB_HASH_LEN);
        int rc = sdb_hashes_push(out, h);
        if (rc != SEALDB_OK) return rc;
    }
    return SEALDB_OK;
}

int sdb_cl_crypto_dual_proof(const Immudb__Schema__DualProof *p, sdb_dual_proof *out) {
    if (!p || !p->sourcetxheader || !p->targettxheader) return SEALDB_PROTOCOL;
    int rc;
    if ((rc = sdb_cl_crypto_header(p->sourcetxheader, &out->source)) ||
        (rc = sdb_cl_crypto_header(p->targettxheader, &out->target)) ||
        (rc = sdb_cl_crypto_hashes(p->inclusionproof, p->n_inclusionproof, &out->inclusion)) ||
        (rc = sdb_cl_crypto_hashes(p->consistencyproof, p->n_consistencyproof, &out->consistency)) ||
        (rc = sdb_cl_crypto_hashes(p->lastinclusionproof, p->n_lastinclusionproof, &out->last_inclusion)) ||
        (rc = digest(&p->targetbltxalh, out->target_bl_tx_alh.b)))
        return rc;
    if (p->linearproof) {
        out->linear.source_tx_id = p->linearproof->sourcetxid;
        out->linear.target_tx_id = p->linearproof->targettxid;
        if ((rc = sdb_cl_crypto_hashes(p->linearproof->terms, p->linearproof->n_terms, &out->linear.terms)))
            return rc;
    }
    if (p->linearadvanceproof) {
        const Immudb__Schema__LinearAdvanceProof *l = p->linearadvanceproof;
        out->lap.present = 1;
        if ((rc = sdb_cl_crypto_hashes(l->linearproofterms, l->n_linearproofterms, &out->lap.linear_terms)))
            return rc;
        if (l->n_inclusionproofs > MAX_PROOF_TERMS) return SEALDB_PROTOCOL;
        if (l->n_inclusionproofs) {
            out->lap.inclusion = sdb_calloc(l->n_inclusionproofs, sizeof *out->lap.inclusion);
            if (!out->lap.inclusion) return SEALDB_NOMEM;
            for (size_t i = 0; i < l->n_inclusionproofs; i++) {
                sdb_hashes_init(&out->lap.inclusion[i]);
                out->lap.n_inclusion = i + 1;
                if (!l->inclusionproofs[i]) return SEALDB_PROTOCOL;
                if ((rc = sdb_cl_crypto_hashes(l->inclusionproofs[i]->terms, l->inclusionproofs[i]->n_terms,
                                               &out->lap.inclusion[i])))
                    return rc;
            }
        }
    }
    return SEALDB_OK;
}

/* ---- public frees ---- */
SEALDB_API void sealdb_entry_free(sealdb_entry *e) {
    if (!e) return;
    sdb_cl_entry_deinit(e);
    sdb_free(e);
}

SEALDB_API void sealdb_entries_free(sealdb_entries *l) {
    if (!l) return;
    for (size_t i = 0; i < l->n; i++) sdb_cl_entry_deinit(&l->items[i]);
    sdb_free(l->items);
    sdb_free(l);
}

SEALDB_API void sealdb_zentries_free(sealdb_zentries *l) {
    if (!l) return;
    for (size_t i = 0; i < l->n; i++) {
        sdb_free(l->items[i].set);
        sdb_free(l->items[i].key);
        sdb_cl_entry_deinit(&l->items[i].entry);
    }
    sdb_free(l->items);
    sdb_free(l);
}

SEALDB_API void sealdb_tx_free(sealdb_tx *t) {
    if (!t) return;
    sdb_cl_tx_deinit(t);
    sdb_free(t);
}

SEALDB_API void sealdb_txs_free(sealdb_txs *l) {
    if (!l) return;
    for (size_t i = 0; i < l->n; i++) sdb_cl_tx_deinit(&l->items[i]);
    sdb_free(l->items);
    sdb_free(l);
}
