/* verified.c - the client side of immudb's verified operations (docs/format.md 11): given a server
 * answer already decoded into plain structs and the client's trusted state, decide whether the
 * answer proves the operation and compute the next trusted state. Follows the Go SDK's rules,
 * which are the stricter of the two official SDKs (LinearAdvanceProof, linear length, tx md). */
#include "crypto/crypto.h"

#define MAX_TX_ENTRIES (1u << 20)

int sdb_digest_from_wire(sdb_slice in, sdb_hash *out) {
    if (in.len == 0) { memset(out->b, 0, SDB_HASH_LEN); return SEALDB_OK; }
    if (in.len != SDB_HASH_LEN) return SEALDB_PROTOCOL;
    memcpy(out->b, in.ptr, SDB_HASH_LEN);
    return SEALDB_OK;
}

static int check_signature(const sdb_verifiable_tx *vt, sdb_slice db, const sdb_verifier *verifier,
                           uint64_t tx_id, const uint8_t alh[SDB_HASH_LEN]) {
    if (!verifier) return SEALDB_OK;
    if (vt->signature.len == 0) return SEALDB_TAMPERED;
    return sdb_state_verify(verifier, db, tx_id, alh, vt->signature) ? SEALDB_TAMPERED : SEALDB_OK;
}

static int entry_digest(uint16_t version, const sdb_vtx_entry *e, uint8_t out[SDB_HASH_LEN]) {
    uint8_t md[SDB_KV_MD_MAX_LEN];
    size_t mdl = e->has_md ? sdb_kv_md_encode(&e->md, md) : 0;
    return sdb_entry_digest(version, e->key, sdb_slice_of(md, mdl), e->hvalue.b, out);
}

/* Rebuilds the htree of a tx from its entries; fails unless every entry is present. */
static int build_tx_tree(const sdb_vtx *tx, sdb_htree *t) {
    if (tx->header.nentries == 0 || tx->nentries != tx->header.nentries || tx->nentries > MAX_TX_ENTRIES ||
        !tx->entries)
        return SEALDB_TAMPERED;
    sdb_hash *d = sdb_malloc(tx->nentries * sizeof(sdb_hash));
    if (!d) return SEALDB_NOMEM;
    int rc = SEALDB_OK;
    for (size_t i = 0; i < tx->nentries && !rc; i++)
        if (entry_digest(tx->header.version, &tx->entries[i], d[i].b)) rc = SEALDB_TAMPERED;
    if (!rc) rc = sdb_htree_build(t, d, (uint32_t)tx->nentries);
    sdb_free(d);
    return rc;
}

enum { MD_FROM_ENTRY, MD_NONE };

/* Shared by Set, SetReference and ZAdd (docs/format.md 11.1). */
static int verify_write(const sdb_verifiable_tx *vt, sdb_slice db, const sdb_verifier *verifier,
                        const sdb_vstate *trusted, sdb_slice exp_key, sdb_slice exp_value, int md_mode,
                        sdb_vstate *new_state) {
    if (!vt || !trusted || !new_state) return SEALDB_INVALID;
    const sdb_tx_header *hdr = &vt->tx.header;
    if (hdr->nentries != 1 || vt->tx.nentries != 1) return SEALDB_TAMPERED;
    sdb_htree tree;
    sdb_hashes terms;
    sdb_htree_init(&tree);
    sdb_hashes_init(&terms);
    uint8_t eh[SDB_HASH_LEN], hval[SDB_HASH_LEN], want[SDB_HASH_LEN];
    int rc = build_tx_tree(&vt->tx, &tree);
    if (rc) goto done;
    sdb_htree_root(&tree, eh);   /* the eH sent in the header is not trusted */
    rc = SEALDB_TAMPERED;
    size_t idx = vt->tx.nentries;
    for (size_t i = 0; i < vt->tx.nentries; i++)
        if (sdb_slice_eq(vt->tx.entries[i].key, exp_key)) { idx = i; break; }
    if (idx == vt->tx.nentries) goto done;
    const sdb_vtx_entry *e = &vt->tx.entries[idx];
    uint8_t md[SDB_KV_MD_MAX_LEN];
    size_t mdl = 0;
    if (md_mode == MD_FROM_ENTRY && e->has_md) {
        if (e->md.deleted) goto done;   /* a Set never produces a deleted entry */
        mdl = sdb_kv_md_encode(&e->md, md);
    }
    sdb_sha256(exp_value.ptr, exp_value.len, hval);
    if (sdb_entry_digest(hdr->version, exp_key, sdb_slice_of(md, mdl), hval, want)) goto done;
    if ((rc = sdb_htree_proof(&tree, (uint32_t)idx, &terms))) goto done;
    rc = SEALDB_TAMPERED;
    if (sdb_htree_verify(&terms, (uint32_t)idx, tree.width, want, eh)) goto done;
    if (memcmp(eh, vt->dual.target.eh.b, SDB_HASH_LEN) != 0) goto done;
    sdb_tx_header th = *hdr;
    memcpy(th.eh.b, eh, SDB_HASH_LEN);
    sdb_vstate ns;
    ns.tx_id = th.id;
    if (sdb_tx_alh(&th, ns.alh.b)) goto done;
    if (trusted->tx_id > 0 &&
        sdb_dual_proof_verify(&vt->dual, trusted->tx_id, ns.tx_id, trusted->alh.b, ns.alh.b))
        goto done;
    if ((rc = check_signature(vt, db, verifier, ns.tx_id, ns.alh.b))) goto done;
    *new_state = ns;
    rc = SEALDB_OK;
done:
    sdb_hashes_deinit(&terms);
    sdb_htree_deinit(&tree);
    return rc;
}

int sdb_verify_set(const sdb_verifiable_tx *vt, sdb_slice db, const sdb_verifier *verifier,
                   const sdb_vstate *trusted, sdb_slice key, sdb_slice value, sdb_vstate *new_state) {
    sdb_buf k, v;
    sdb_buf_init(&k);
    sdb_buf_init(&v);
    int rc = sdb_enc_set_key(key, &k);
    if (!rc) rc = sdb_enc_plain_value(value, &v);
    if (!rc) rc = verify_write(vt, db, verifier, trusted, sdb_buf_slice(&k), sdb_buf_slice(&v), MD_FROM_ENTRY,
                               new_state);
    sdb_buf_deinit(&k);
    sdb_buf_deinit(&v);
    return rc;
}

int sdb_verify_reference(const sdb_verifiable_tx *vt, sdb_slice db, const sdb_verifier *verifier,
                         const sdb_vstate *trusted, sdb_slice key, sdb_slice referenced_key, uint64_t at_tx,
                         sdb_vstate *new_state) {
    sdb_buf k, v;
    sdb_buf_init(&k);
    sdb_buf_init(&v);
    int rc = sdb_enc_set_key(key, &k);
    if (!rc) rc = sdb_enc_ref_value(referenced_key, at_tx, &v);
    if (!rc) rc = verify_write(vt, db, verifier, trusted, sdb_buf_slice(&k), sdb_buf_slice(&v), MD_NONE, new_state);
    sdb_buf_deinit(&k);
    sdb_buf_deinit(&v);
    return rc;
}

int sdb_verify_zadd(const sdb_verifiable_tx *vt, sdb_slice db, const sdb_verifier *verifier,
                    const sdb_vstate *trusted, sdb_slice set, double score, sdb_slice key, uint64_t at_tx,
                    sdb_vstate *new_state) {
    sdb_buf k;
    sdb_buf_init(&k);
    int rc = sdb_enc_zadd_key(set, score, key, at_tx, &k);
    if (!rc) rc = verify_write(vt, db, verifier, trusted, sdb_buf_slice(&k), sdb_slice_of("", 0), MD_NONE, new_state);
    sdb_buf_deinit(&k);
    return rc;
}

/* Source/target choice of docs/format.md 11.2 step 4 for proven tx v; checks the dual proof when the
 * client already trusts a state, and yields the state to adopt and the header proving tx v. extra,
 * when given, is a path to that header's eH (its root is set here): it is checked in lockstep with
 * the dual proof's paths, or alone when there is no trusted state yet. */
static int prove_tx(const sdb_verifiable_tx *vt, const sdb_vstate *trusted, uint64_t v,
                    sdb_vstate *target, const sdb_tx_header **proven, sdb_mpath *extra) {
    const sdb_dual_proof *dp = &vt->dual;
    uint64_t sid, tid;
    uint8_t salh[SDB_HASH_LEN], talh[SDB_HASH_LEN];
    if (v == 0) return SEALDB_TAMPERED;
    if (trusted->tx_id <= v) {
        if (dp->target.id != v) return SEALDB_TAMPERED;
        sid = trusted->tx_id;
        memcpy(salh, trusted->alh.b, SDB_HASH_LEN);
        tid = v;
        if (sdb_tx_alh(&dp->target, talh)) return SEALDB_TAMPERED;
        *proven = &dp->target;
    } else {
        if (dp->source.id != v) return SEALDB_TAMPERED;
        sid = v;
        if (sdb_tx_alh(&dp->source, salh)) return SEALDB_TAMPERED;
        tid = trusted->tx_id;
        memcpy(talh, trusted->alh.b, SDB_HASH_LEN);
        *proven = &dp->source;
    }
    if (extra) extra->root = (*proven)->eh.b;
    if (trusted->tx_id > 0 ? sdb_dual_proof_verify_with(dp, sid, tid, salh, talh, extra)
                           : extra && sdb_mpaths_verify(extra, 1))
        return SEALDB_TAMPERED;
    target->tx_id = tid;
    memcpy(target->alh.b, talh, SDB_HASH_LEN);
    return SEALDB_OK;
}

int sdb_verify_get(const sdb_verifiable_entry *ve, sdb_slice db, const sdb_verifier *verifier,
                   const sdb_vstate *trusted, sdb_slice requested_key, uint64_t at_tx, sdb_vstate *new_state) {
    if (!ve || !trusted || !new_state) return SEALDB_INVALID;
    sdb_buf k, v;
    sdb_buf_init(&k);
    sdb_buf_init(&v);
    uint8_t md[SDB_KV_MD_MAX_LEN], hval[SDB_HASH_LEN], want[SDB_HASH_LEN];
    size_t mdl;
    uint64_t vtx;
    int rc = sdb_enc_set_key(requested_key, &k);
    if (rc) goto done;
    if (ve->has_ref) {
        /* Only the reference entry is proven, never the resolved value (docs/format.md 11.2). */
        rc = sdb_enc_ref_value(ve->key, ve->ref.at_tx, &v);
        mdl = ve->ref.has_md ? sdb_kv_md_encode(&ve->ref.md, md) : 0;
        vtx = ve->ref.tx;
    } else {
        rc = sdb_enc_plain_value(ve->value, &v);
        mdl = ve->has_md ? sdb_kv_md_encode(&ve->md, md) : 0;
        vtx = ve->tx;
    }
    if (rc) goto done;
    if (at_tx) vtx = at_tx;
    rc = SEALDB_TAMPERED;
    sdb_sha256(v.ptr, v.len, hval);
    if (sdb_entry_digest(ve->vtx.tx.header.version, sdb_buf_slice(&k), sdb_slice_of(md, mdl), hval, want)) goto done;
    sdb_vstate ns;
    const sdb_tx_header *proven = NULL;
    if (ve->leaf < 0 || ve->width <= 0 || ve->leaf >= ve->width || ve->width > UINT32_MAX) goto done;
    sdb_mpath entry;   /* the entry's path to eH (root set by prove_tx), checked with the dual proof */
    if (sdb_htree_path(&entry, &ve->terms, (uint32_t)ve->leaf, (uint32_t)ve->width, want, NULL)) goto done;
    if ((rc = prove_tx(&ve->vtx, trusted, vtx, &ns, &proven, &entry))) goto done;
    if ((rc = check_signature(&ve->vtx, db, verifier, ns.tx_id, ns.alh.b))) goto done;
    *new_state = ns;
    rc = SEALDB_OK;
done:
    sdb_buf_deinit(&k);
    sdb_buf_deinit(&v);
    return rc;
}

int sdb_verify_tx_by_id(const sdb_verifiable_tx *vt, sdb_slice db, const sdb_verifier *verifier,
                        const sdb_vstate *trusted, uint64_t tx_id, sdb_vstate *new_state) {
    if (!vt || !trusted || !new_state) return SEALDB_INVALID;
    sdb_vstate ns;
    const sdb_tx_header *proven = NULL;
    int rc = prove_tx(vt, trusted, tx_id, &ns, &proven, NULL);
    if (rc) return rc;
    if (vt->tx.header.id != tx_id) return SEALDB_TAMPERED;
    if (vt->tx.nentries && vt->tx.nentries == proven->nentries) {
        /* Beyond the SDKs: returned entries must be the proven tx's entries. */
        sdb_htree tree;
        uint8_t eh[SDB_HASH_LEN];
        sdb_vtx tx = vt->tx;
        tx.header.version = proven->version;
        tx.header.nentries = proven->nentries;
        sdb_htree_init(&tree);
        rc = build_tx_tree(&tx, &tree);
        if (!rc) {
            sdb_htree_root(&tree, eh);
            if (memcmp(eh, proven->eh.b, SDB_HASH_LEN)) rc = SEALDB_TAMPERED;
        }
        sdb_htree_deinit(&tree);
        if (rc) return rc;
    }
    if ((rc = check_signature(vt, db, verifier, ns.tx_id, ns.alh.b))) return rc;
    *new_state = ns;
    return SEALDB_OK;
}
