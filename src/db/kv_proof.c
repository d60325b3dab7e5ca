/* kv_proof.c - verifiable answers (docs/format.md 10): VerifiableTx, VerifiableGet (also packed around
 * the cached raw tx) and VerifiableTxById, with dual and inclusion proofs and the signed state. */
#include "db/kv_int.h"

/* ---- verifiable answers ---- */

/* VerifiableTx for tx v; with_tx 0 leaves vt->tx NULL (the caller adds the packed raw tx). */
static int verifiable_tx(sdb_kvdb *db, sdb_arena *a, const sdb_signer *signer, uint64_t v, uint64_t prove_since,
                         const Immudb__Schema__EntriesSpec *spec, int keep_refs, int with_tx,
                         Immudb__Schema__VerifiableTx **out, sdb_kverr *err) {
    uint64_t source = v, target = v;
    if (prove_since && prove_since <= v) source = prove_since;
    else if (prove_since > v) { source = v; target = prove_since; }
    Immudb__Schema__VerifiableTx *vt = PB_NEW(a, Immudb__Schema__VerifiableTx, IMMUDB__SCHEMA__VERIFIABLE_TX__INIT);
    if (!vt) return sdb_kv_oom(err);
    uint64_t used = 0;
    if (with_tx && sdb_kv_tx_pb(db, a, v, spec, keep_refs, &used, 1, &vt->tx, err)) return -1;
    sdb_dual_proof dp;
    sdb_dual_proof_init(&dp);
    int rc = sdb_engine_dual_proof(db->eng, source, target, &dp);
    if (rc) { sdb_dual_proof_deinit(&dp); return sdb_kv_engine_err(rc, err); }
    if (!(vt->dualproof = sdb_kv_dual_pb(a, &dp))) { sdb_dual_proof_deinit(&dp); return sdb_kv_oom(err); }
    if (signer) {
        uint8_t alh[SDB_HASH_LEN];
        if (sdb_tx_alh(&dp.target, alh) || !(vt->signature = sdb_kv_sign_pb(a, signer, db->name, dp.target.id, alh))) {
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
    if (r->provesincetx > sdb_engine_committed_tx(db->eng)) return sdb_kv_err(err, SDB_GRPC_INVALID_ARGUMENT, "illegal state");
    Immudb__Schema__VerifiableEntry *ve =
        PB_NEW(a, Immudb__Schema__VerifiableEntry, IMMUDB__SCHEMA__VERIFIABLE_ENTRY__INIT);
    if (!ve) return sdb_kv_oom(err);
    uint64_t vtx = 0;
    uint32_t idx = 0;
    if (sdb_kv_get_entry(db, a, r->keyrequest, &ve->entry, &vtx, &idx, err)) return -1;
    if (verifiable_tx(db, a, signer, vtx, r->provesincetx, NULL, 0, with_tx, &ve->verifiabletx, err)) return -1;
    sdb_hashes terms;
    sdb_hashes_init(&terms);
    uint32_t width = 0;
    int rc = sdb_engine_inclusion_proof(db->eng, vtx, idx, NULL, &terms, &width);
    Immudb__Schema__InclusionProof *ip = PB_NEW(a, Immudb__Schema__InclusionProof, IMMUDB__SCHEMA__INCLUSION_PROOF__INIT);
    if (rc || !ip || sdb_kv_hashes_pb(a, &terms, &ip->terms, &ip->n_terms)) {
        sdb_hashes_deinit(&terms);
        return rc ? sdb_kv_engine_err(rc, err) : sdb_kv_oom(err);
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
    size_t head = 1 + sdb_kv_varint_len(entry_len) + entry_len + 2 * (1 + 10);
    size_t tail = rest_len + 1 + sdb_kv_varint_len(ip_len) + ip_len;
    uint8_t *buf = NULL;
    size_t tx_len = 0;
    if (sdb_kv_raw_tx_packed(db, a, vtx, head, tail, &buf, &tx_len, err)) return -1;
    size_t vt_len = 1 + sdb_kv_varint_len(tx_len) + tx_len + rest_len;
    size_t pre = 1 + sdb_kv_varint_len(entry_len) + entry_len + 1 + sdb_kv_varint_len(vt_len) + 1 + sdb_kv_varint_len(tx_len);
    uint8_t *start = buf + head - pre;
    uint8_t *p = sdb_kv_put_field_head(start, 1, entry_len);
    p += protobuf_c_message_pack(&ve->entry->base, p);
    p = sdb_kv_put_field_head(p, 2, vt_len);
    p = sdb_kv_put_field_head(p, 1, tx_len);
    p += tx_len;   /* already in place */
    p += protobuf_c_message_pack(&ve->verifiabletx->base, p);
    p = sdb_kv_put_field_head(p, 3, ip_len);
    p += protobuf_c_message_pack(&ve->inclusionproof->base, p);
    *out = sdb_slice_of(start, (size_t)(p - start));
    return 0;
}

int sdb_kv_verifiable_tx_by_id(sdb_kvdb *db, sdb_arena *a, const sdb_signer *signer,
                               const Immudb__Schema__VerifiableTxRequest *r, Immudb__Schema__VerifiableTx **out,
                               sdb_kverr *err) {
    uint64_t last = sdb_engine_committed_tx(db->eng);   /* precommitted txs are not read */
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
