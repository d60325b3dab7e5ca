/* verify.c - libsealdb-client's verified calls. Each sends proveSinceTx = the trusted state of the
 * selected database, converts the answer into src/crypto's plain structs, lets src/crypto's
 * verified.c decide (docs/format.md 11), and only then returns data and advances the trusted state.
 * Two checks go beyond immudb's SDKs: a get through a reference also proves the referenced value
 * (a second proof of that key at its tx), and a verified tx can prove every value it carries. */
#include <stdio.h>
#include "client/client_int.h"

#define BIN(p, n) ((ProtobufCBinaryData){ (size_t)(n), (uint8_t *)(uintptr_t)(p) })

void sdb_cl_key_request(Immudb__Schema__KeyRequest *req, const void *key, size_t key_len, const sealdb_get_opts *o);
void sdb_cl_raw_values_spec(Immudb__Schema__EntriesSpec *spec, Immudb__Schema__EntryTypeSpec *kv,
                            Immudb__Schema__EntryTypeSpec *z);

static sdb_slice pb_slice(ProtobufCBinaryData b) { return sdb_slice_of(b.data, b.len); }

/* The trusted state to prove from: the stored one, or tx 0 for a fresh client. */
static int trusted_of(sealdb_client *c, sdb_vstate *vs, sealdb_state *full) {
    int rc = sdb_cl_state_get(c, full);
    if (rc == SEALDB_NOTFOUND) {
        memset(full, 0, sizeof *full);
        snprintf(full->db, sizeof full->db, "%s", c->db);
        memcpy(full->alh, sdb_hash_empty.b, SDB_HASH_LEN);
        rc = SEALDB_OK;
    }
    if (rc != SEALDB_OK) return rc;
    vs->tx_id = full->tx_id;
    memcpy(vs->alh.b, full->alh, SDB_HASH_LEN);
    return SEALDB_OK;
}

static int adopt(sealdb_client *c, const sdb_vstate *ns, ProtobufCBinaryData sig) {
    sealdb_state st;
    memset(&st, 0, sizeof st);
    snprintf(st.db, sizeof st.db, "%s", c->db);
    st.tx_id = ns->tx_id;
    memcpy(st.alh, ns->alh.b, SDB_HASH_LEN);
    if (sig.len && sig.len <= sizeof st.sig) { memcpy(st.sig, sig.data, sig.len); st.sig_len = sig.len; }
    return sdb_cl_state_put(c, &st);
}

/* After a Verifiable* call failed: a server refusing our proveSinceTx is presenting an older state. */
static int classify_refusal(sealdb_client *c, int rc, uint64_t prove_since) {
    if (rc == SEALDB_OK || prove_since == 0) return rc;
    const char *m = c->errmsg;
    if (!(strncmp(m, "illegal state", 13) == 0 || strcmp(m, "illegal arguments") == 0)) return rc;
    char saved[sizeof c->errmsg];
    snprintf(saved, sizeof saved, "%s", m);
    sealdb_state cur;
    if (sealdb_client_current_state(c, &cur) == SEALDB_OK && cur.tx_id < prove_since)
        return sdb_cl_fail(c, SEALDB_STALE, "server state (tx %llu) is older than the trusted state (tx %llu)",
                           (unsigned long long)cur.tx_id, (unsigned long long)prove_since);
    snprintf(c->errmsg, sizeof c->errmsg, "%s", saved);
    return rc;
}

/* ---- protobuf -> crypto structs ---- */
typedef struct vtx_conv {
    sdb_verifiable_tx vt;
    sdb_vtx_entry *entries;
} vtx_conv;

static void vtx_conv_deinit(vtx_conv *v) {
    sdb_dual_proof_deinit(&v->vt.dual);
    sdb_free(v->entries);
}

static int vtx_conv_fill(vtx_conv *v, const Immudb__Schema__VerifiableTx *p) {
    memset(v, 0, sizeof *v);
    sdb_dual_proof_init(&v->vt.dual);
    if (!p || !p->tx || !p->tx->header || !p->dualproof) return SEALDB_PROTOCOL;
    int rc = sdb_cl_crypto_header(p->tx->header, &v->vt.tx.header);
    if (rc) return rc;
    const Immudb__Schema__Tx *t = p->tx;
    if (t->n_entries > (1u << 20)) return SEALDB_PROTOCOL;
    if (t->n_entries) {
        if (!(v->entries = sdb_calloc(t->n_entries, sizeof *v->entries))) return SEALDB_NOMEM;
        for (size_t i = 0; i < t->n_entries; i++) {
            const Immudb__Schema__TxEntry *e = t->entries[i];
            sdb_vtx_entry *o = &v->entries[i];
            if (e->vlen < 0) return SEALDB_PROTOCOL;
            o->key = pb_slice(e->key);
            o->vlen = (uint32_t)e->vlen;
            if ((rc = sdb_digest_from_wire(pb_slice(e->hvalue), &o->hvalue))) return rc;
            if (e->metadata) {
                o->has_md = 1;
                o->md.deleted = e->metadata->deleted ? 1 : 0;
                o->md.non_indexable = e->metadata->nonindexable ? 1 : 0;
                if (e->metadata->expiration) {
                    o->md.has_expires = 1;
                    o->md.expires_at = e->metadata->expiration->expiresat;
                }
            }
        }
    }
    v->vt.tx.entries = v->entries;
    v->vt.tx.nentries = t->n_entries;
    if ((rc = sdb_cl_crypto_dual_proof(p->dualproof, &v->vt.dual))) return rc;
    if (p->signature) v->vt.signature = pb_slice(p->signature->signature);
    return SEALDB_OK;
}

static ProtobufCBinaryData sig_of(const Immudb__Schema__VerifiableTx *p) {
    ProtobufCBinaryData none = { 0, NULL };
    return p && p->signature ? p->signature->signature : none;
}

/* vt: the answer's VerifiableTx, to tell a missing state signature from a bad proof */
static int verdict(sealdb_client *c, int rc, const char *what, const Immudb__Schema__VerifiableTx *vt) {
    if (rc == SEALDB_OK) return rc;
    if (rc == SEALDB_TAMPERED && c->verifier && sig_of(vt).len == 0)
        return sdb_cl_fail(c, rc, "verification failed: the server's answer for %s carries no state signature, "
                           "which --server-signing-pub-key requires (was the server started with --signingKey?)",
                           what);
    if (rc == SEALDB_TAMPERED)
        return sdb_cl_fail(c, rc, "verification failed: the server's proof for %s does not verify", what);
    if (rc == SEALDB_PROTOCOL || rc == SEALDB_INVALID)
        return sdb_cl_fail(c, SEALDB_TAMPERED, "verification failed: malformed proof for %s", what);
    return sdb_cl_fail(c, rc, "verification of %s failed: %s", what, sealdb_strerror(rc));
}

/* ---- verified writes ---- */
enum { W_SET = SDB_CL_W_SET, W_REF = SDB_CL_W_REF, W_ZADD = SDB_CL_W_ZADD };

int sdb_cl_check_write(const Immudb__Schema__VerifiableTx *vt, int kind, sdb_slice db, const sdb_verifier *verifier,
                       const sdb_vstate *trusted, sdb_slice key, sdb_slice value, double score, uint64_t at_tx,
                       sdb_vstate *ns) {
    vtx_conv cv;
    int rc = vtx_conv_fill(&cv, vt);
    if (rc == SEALDB_OK) {
        if (kind == W_SET) rc = sdb_verify_set(&cv.vt, db, verifier, trusted, key, value, ns);
        else if (kind == W_REF) rc = sdb_verify_reference(&cv.vt, db, verifier, trusted, key, value, at_tx, ns);
        else if (kind == W_ZADD) rc = sdb_verify_zadd(&cv.vt, db, verifier, trusted, value, score, key, at_tx, ns);
        else rc = SEALDB_INVALID;
    }
    vtx_conv_deinit(&cv);
    return rc;
}
typedef struct wreq {
    int kind;
    sdb_slice key, value;         /* SET; REF: key + referenced key in value; ZADD: key = member, value = set */
    double score;
    uint64_t at_tx;
} wreq;

static int verified_write(sealdb_client *c, const wreq *w, sealdb_tx_header *hdr) {
    sdb_vstate trusted, ns;
    sealdb_state full;
    int rc = trusted_of(c, &trusted, &full);
    if (rc != SEALDB_OK) return rc;
    Immudb__Schema__VerifiableTx *vt = NULL;
    const char *what = "set";
    if (w->kind == W_SET) {
        Immudb__Schema__KeyValue kv = IMMUDB__SCHEMA__KEY_VALUE__INIT;
        Immudb__Schema__KeyValue *kvp = &kv;
        Immudb__Schema__SetRequest sr = IMMUDB__SCHEMA__SET_REQUEST__INIT;
        Immudb__Schema__VerifiableSetRequest req = IMMUDB__SCHEMA__VERIFIABLE_SET_REQUEST__INIT;
        kv.key = BIN(w->key.ptr, w->key.len);
        kv.value = BIN(w->value.ptr, w->value.len);
        sr.n_kvs = 1;
        sr.kvs = &kvp;
        req.setrequest = &sr;
        req.provesincetx = trusted.tx_id;
        rc = sdb_cl_call(c, "VerifiableSet", &req.base, &immudb__schema__verifiable_tx__descriptor, (ProtobufCMessage **)&vt);
    } else if (w->kind == W_REF) {
        what = "reference";
        Immudb__Schema__ReferenceRequest rr;
        Immudb__Schema__VerifiableReferenceRequest req = IMMUDB__SCHEMA__VERIFIABLE_REFERENCE_REQUEST__INIT;
        sdb_cl_ref_request(&rr, w->key.ptr, w->key.len, w->value.ptr, w->value.len, w->at_tx, w->at_tx > 0);
        req.referencerequest = &rr;
        req.provesincetx = trusted.tx_id;
        rc = sdb_cl_call(c, "VerifiableSetReference", &req.base, &immudb__schema__verifiable_tx__descriptor,
                         (ProtobufCMessage **)&vt);
    } else {
        what = "zadd";
        Immudb__Schema__ZAddRequest zr;
        Immudb__Schema__VerifiableZAddRequest req = IMMUDB__SCHEMA__VERIFIABLE_ZADD_REQUEST__INIT;
        sdb_cl_zadd_request(&zr, w->value.ptr, w->value.len, w->score, w->key.ptr, w->key.len, w->at_tx, w->at_tx > 0);
        req.zaddrequest = &zr;
        req.provesincetx = trusted.tx_id;
        rc = sdb_cl_call(c, "VerifiableZAdd", &req.base, &immudb__schema__verifiable_tx__descriptor,
                         (ProtobufCMessage **)&vt);
    }
    if (rc != SEALDB_OK) return classify_refusal(c, rc, trusted.tx_id);
    rc = sdb_cl_check_write(vt, w->kind, sdb_slice_str(c->db), c->verifier, &trusted, w->key, w->value, w->score,
                            w->at_tx, &ns);
    rc = verdict(c, rc, what, vt);
    if (rc == SEALDB_OK) rc = adopt(c, &ns, sig_of(vt));
    if (rc == SEALDB_OK && hdr && sdb_cl_tx_header_from_pb(vt->tx->header, hdr) != SEALDB_OK)
        rc = sdb_cl_fail(c, SEALDB_PROTOCOL, "malformed header");
    protobuf_c_message_free_unpacked(&vt->base, NULL);
    return rc;
}

SEALDB_API int sealdb_client_verified_set(sealdb_client *c, const void *key, size_t key_len,
                                          const void *value, size_t value_len, sealdb_tx_header *hdr) {
    if (!c || !key || !key_len) return sdb_cl_fail(c, SEALDB_INVALID, "empty key");
    wreq w = { W_SET, sdb_slice_of(key, key_len), sdb_slice_of(value, value_len), 0, 0 };
    return verified_write(c, &w, hdr);
}

SEALDB_API int sealdb_client_verified_set_reference(sealdb_client *c, const void *key, size_t key_len,
                                                    const void *referenced_key, size_t referenced_len,
                                                    uint64_t at_tx, sealdb_tx_header *hdr) {
    if (!c || !key || !key_len || !referenced_key || !referenced_len) return sdb_cl_fail(c, SEALDB_INVALID, "empty key");
    wreq w = { W_REF, sdb_slice_of(key, key_len), sdb_slice_of(referenced_key, referenced_len), 0, at_tx };
    return verified_write(c, &w, hdr);
}

SEALDB_API int sealdb_client_verified_zadd(sealdb_client *c, const void *set, size_t set_len, double score,
                                           const void *key, size_t key_len, uint64_t at_tx,
                                           sealdb_tx_header *hdr) {
    if (!c || !key || !key_len || !set || !set_len) return sdb_cl_fail(c, SEALDB_INVALID, "empty set or key");
    wreq w = { W_ZADD, sdb_slice_of(key, key_len), sdb_slice_of(set, set_len), score, at_tx };
    return verified_write(c, &w, hdr);
}

static void md_of(const Immudb__Schema__KVMetadata *m, int *has, sdb_kv_md *md) {
    memset(md, 0, sizeof *md);
    *has = m != NULL;
    if (!m) return;
    md->deleted = m->deleted ? 1 : 0;
    md->non_indexable = m->nonindexable ? 1 : 0;
    if (m->expiration) { md->has_expires = 1; md->expires_at = m->expiration->expiresat; }
}

int sdb_cl_check_get(const Immudb__Schema__VerifiableEntry *ve, sdb_slice db, const sdb_verifier *verifier,
                     const sdb_vstate *trusted, sdb_slice key, uint64_t at_tx, sdb_vstate *ns) {
    vtx_conv cv;
    sdb_verifiable_entry e;
    memset(&e, 0, sizeof e);
    sdb_hashes_init(&e.terms);
    int rc;
    if (!ve->entry || !ve->inclusionproof) {
        memset(&cv, 0, sizeof cv);
        sdb_dual_proof_init(&cv.vt.dual);
        rc = SEALDB_PROTOCOL;
    } else {
        rc = vtx_conv_fill(&cv, ve->verifiabletx);
    }
    if (rc == SEALDB_OK) {
        const Immudb__Schema__Entry *en = ve->entry;
        e.tx = en->tx;
        e.key = pb_slice(en->key);
        e.value = pb_slice(en->value);
        md_of(en->metadata, &e.has_md, &e.md);
        if (en->referencedby) {
            const Immudb__Schema__Reference *r = en->referencedby;
            e.has_ref = 1;
            e.ref.tx = r->tx;
            e.ref.key = pb_slice(r->key);
            e.ref.at_tx = r->attx;
            md_of(r->metadata, &e.ref.has_md, &e.ref.md);
        }
        e.vtx = cv.vt;
        e.leaf = ve->inclusionproof->leaf;
        e.width = ve->inclusionproof->width;
        rc = sdb_cl_crypto_hashes(ve->inclusionproof->terms, ve->inclusionproof->n_terms, &e.terms);
        if (rc == SEALDB_OK) rc = sdb_verify_get(&e, db, verifier, trusted, key, at_tx, ns);
        /* A deleted entry is "not found" for Get; an answer carrying a deletion is not a value. */
        if (rc == SEALDB_OK && !e.has_ref && e.has_md && e.md.deleted) rc = SEALDB_TAMPERED;
    }
    sdb_hashes_deinit(&e.terms);
    vtx_conv_deinit(&cv);
    return rc;
}

int sdb_cl_check_tx(const Immudb__Schema__VerifiableTx *vt, sdb_slice db, const sdb_verifier *verifier,
                    const sdb_vstate *trusted, uint64_t tx, sdb_vstate *ns) {
    vtx_conv cv;
    int rc = vtx_conv_fill(&cv, vt);
    if (rc == SEALDB_OK) rc = sdb_verify_tx_by_id(&cv.vt, db, verifier, trusted, tx, ns);
    vtx_conv_deinit(&cv);
    return rc;
}

/* ---- verified get ---- */
static int verified_get_once(sealdb_client *c, sdb_slice key, const sealdb_get_opts *opts,
                             Immudb__Schema__VerifiableEntry **out_ve) {
    sdb_vstate trusted, ns;
    sealdb_state full;
    int rc = trusted_of(c, &trusted, &full);
    if (rc != SEALDB_OK) return rc;
    Immudb__Schema__KeyRequest kr;
    sdb_cl_key_request(&kr, key.ptr, key.len, opts);
    Immudb__Schema__VerifiableGetRequest req = IMMUDB__SCHEMA__VERIFIABLE_GET_REQUEST__INIT;
    req.keyrequest = &kr;
    req.provesincetx = trusted.tx_id;
    Immudb__Schema__VerifiableEntry *ve = NULL;
    rc = sdb_cl_call(c, "VerifiableGet", &req.base, &immudb__schema__verifiable_entry__descriptor,
                     (ProtobufCMessage **)&ve);
    if (rc != SEALDB_OK) return classify_refusal(c, rc, trusted.tx_id);
    rc = sdb_cl_check_get(ve, sdb_slice_str(c->db), c->verifier, &trusted, key, opts ? opts->at_tx : 0, &ns);
    rc = verdict(c, rc, "get", ve ? ve->verifiabletx : NULL);
    if (rc == SEALDB_OK) rc = adopt(c, &ns, sig_of(ve->verifiabletx));
    if (rc != SEALDB_OK) { protobuf_c_message_free_unpacked(&ve->base, NULL); return rc; }
    *out_ve = ve;
    return SEALDB_OK;
}

SEALDB_API int sealdb_client_verified_get(sealdb_client *c, const void *key, size_t key_len,
                                          const sealdb_get_opts *opts, sealdb_entry **out) {
    if (!c || !out || !key || !key_len) return sdb_cl_fail(c, SEALDB_INVALID, "empty key");
    Immudb__Schema__VerifiableEntry *ve = NULL, *ve2 = NULL;
    int rc = verified_get_once(c, sdb_slice_of(key, key_len), opts, &ve);
    if (rc != SEALDB_OK) return rc;
    const Immudb__Schema__Entry *en = ve->entry;
    if (en->referencedby) {
        /* The first proof covers the reference entry only; prove the referenced key's value as
         * written in the tx the server says it comes from. */
        if (!en->key.len || en->tx == 0) { rc = sdb_cl_fail(c, SEALDB_TAMPERED, "verification failed: reference resolved to nothing"); goto done; }
        sealdb_get_opts o2 = { .at_tx = en->tx };
        rc = verified_get_once(c, pb_slice(en->key), &o2, &ve2);
        if (rc != SEALDB_OK) {
            if (rc == SEALDB_NOTFOUND) rc = sdb_cl_fail(c, SEALDB_TAMPERED, "verification failed: referenced value not in tx %llu",
                                                        (unsigned long long)en->tx);
            goto done;
        }
        const Immudb__Schema__Entry *e2 = ve2->entry;
        if (e2->referencedby || e2->tx != en->tx || !sdb_slice_eq(pb_slice(e2->key), pb_slice(en->key)) ||
            !sdb_slice_eq(pb_slice(e2->value), pb_slice(en->value))) {
            rc = sdb_cl_fail(c, SEALDB_TAMPERED, "verification failed: the referenced value does not match its proof");
            goto done;
        }
    }
    sealdb_entry *r = sdb_calloc(1, sizeof *r);
    rc = r ? sdb_cl_entry_from_pb(en, r) : SEALDB_NOMEM;
    if (rc != SEALDB_OK) { sdb_free(r); rc = sdb_cl_fail(c, rc, "%s", sealdb_strerror(rc)); goto done; }
    r->verified = 1;
    *out = r;
done:
    if (ve) protobuf_c_message_free_unpacked(&ve->base, NULL);
    if (ve2) protobuf_c_message_free_unpacked(&ve2->base, NULL);
    return rc;
}

/* ---- verified tx ---- */
SEALDB_API int sealdb_client_verified_tx_by_id(sealdb_client *c, uint64_t tx, int want_values, sealdb_tx **out) {
    if (!c || !out || tx == 0) return sdb_cl_fail(c, SEALDB_INVALID, "tx id must be > 0");
    sdb_vstate trusted, ns;
    sealdb_state full;
    int rc = trusted_of(c, &trusted, &full);
    if (rc != SEALDB_OK) return rc;
    Immudb__Schema__VerifiableTxRequest req = IMMUDB__SCHEMA__VERIFIABLE_TX_REQUEST__INIT;
    Immudb__Schema__EntriesSpec spec;
    Immudb__Schema__EntryTypeSpec kv, z;
    req.tx = tx;
    req.provesincetx = trusted.tx_id;
    if (want_values) { sdb_cl_raw_values_spec(&spec, &kv, &z); req.entriesspec = &spec; }
    Immudb__Schema__VerifiableTx *vt = NULL;
    rc = sdb_cl_call(c, "VerifiableTxById", &req.base, &immudb__schema__verifiable_tx__descriptor, (ProtobufCMessage **)&vt);
    if (rc != SEALDB_OK) {
        if (trusted.tx_id && strncmp(c->errmsg, "illegal state", 13) == 0) {
            char saved[sizeof c->errmsg];
            snprintf(saved, sizeof saved, "%s", c->errmsg);
            sealdb_state cur;
            if (sealdb_client_current_state(c, &cur) == SEALDB_OK && cur.tx_id < trusted.tx_id)
                return sdb_cl_fail(c, SEALDB_STALE, "server state (tx %llu) is older than the trusted state (tx %llu)",
                                   (unsigned long long)cur.tx_id, (unsigned long long)trusted.tx_id);
            snprintf(c->errmsg, sizeof c->errmsg, "%s", saved);
        }
        return rc;
    }
    rc = sdb_cl_check_tx(vt, sdb_slice_str(c->db), c->verifier, &trusted, tx, &ns);
    rc = verdict(c, rc, "tx", vt);
    sealdb_tx *r = NULL;
    if (rc == SEALDB_OK) {
        r = sdb_calloc(1, sizeof *r);
        rc = r ? sdb_cl_tx_from_pb(vt->tx, r) : SEALDB_NOMEM;
        if (rc != SEALDB_OK) { sdb_free(r); r = NULL; rc = sdb_cl_fail(c, rc, "%s", sealdb_strerror(rc)); }
    }
    if (rc == SEALDB_OK) {
        /* Entries must be the proven ones (checked against eH by verified.c when all are present). */
        if (r->n != r->header.nentries && !(want_values == 0 && r->n == 0))
            rc = sdb_cl_fail(c, SEALDB_TAMPERED, "verification failed: tx %llu answered with %zu of %u entries",
                             (unsigned long long)tx, r->n, r->header.nentries);
        for (size_t i = 0; rc == SEALDB_OK && want_values && i < r->n; i++) {
            sealdb_tx_entry *en = &r->entries[i];
            if (!en->has_value) continue;   /* expired values are not sent */
            uint8_t h[SDB_HASH_LEN];
            sdb_sha256(en->value, en->value_len, h);
            if (memcmp(h, en->hvalue, SDB_HASH_LEN) != 0 || en->value_len != en->vlen)
                rc = sdb_cl_fail(c, SEALDB_TAMPERED, "verification failed: value of entry %zu of tx %llu does not match its hash",
                                 i, (unsigned long long)tx);
        }
    }
    if (rc == SEALDB_OK) rc = adopt(c, &ns, sig_of(vt));
    if (rc == SEALDB_OK) { r->verified = 1; *out = r; }
    else sealdb_tx_free(r);
    protobuf_c_message_free_unpacked(&vt->base, NULL);
    return rc;
}

/* ---- states ---- */
SEALDB_API int sealdb_client_current_state(sealdb_client *c, sealdb_state *out) {
    if (!c || !out) return SEALDB_INVALID;
    Immudb__Schema__ImmutableState *s = NULL;
    int rc = sdb_cl_call_empty(c, "CurrentState", &immudb__schema__immutable_state__descriptor, (ProtobufCMessage **)&s);
    if (rc != SEALDB_OK) return rc;
    sealdb_state st;
    memset(&st, 0, sizeof st);
    snprintf(st.db, sizeof st.db, "%s", s->db && *s->db ? s->db : c->db);
    st.tx_id = s->txid;
    sdb_hash h;
    if (s->txhash.len != SDB_HASH_LEN || sdb_digest_from_wire(pb_slice(s->txhash), &h) != SEALDB_OK)
        rc = sdb_cl_fail(c, SEALDB_PROTOCOL, "malformed state from the server");
    else memcpy(st.alh, h.b, SDB_HASH_LEN);
    if (rc == SEALDB_OK && st.tx_id == 0 && memcmp(st.alh, sdb_hash_empty.b, SDB_HASH_LEN) != 0)
        rc = sdb_cl_fail(c, SEALDB_TAMPERED, "verification failed: empty state with a non-empty hash");
    if (rc == SEALDB_OK && s->signature && s->signature->signature.len <= sizeof st.sig) {
        st.sig_len = s->signature->signature.len;
        if (st.sig_len) memcpy(st.sig, s->signature->signature.data, st.sig_len);
    }
    if (rc == SEALDB_OK && c->verifier) {
        if (!st.sig_len)
            rc = sdb_cl_fail(c, SEALDB_TAMPERED, "verification failed: the server's state carries no signature, which "
                             "--server-signing-pub-key requires (was the server started with --signingKey?)");
        else if (sdb_state_verify(c->verifier, sdb_slice_str(c->db), st.tx_id, st.alh,
                                  sdb_slice_of(st.sig, st.sig_len)) != SEALDB_OK)
            rc = sdb_cl_fail(c, SEALDB_TAMPERED, "verification failed: the state signature does not verify");
    }
    protobuf_c_message_free_unpacked(&s->base, NULL);
    if (rc == SEALDB_OK) *out = st;
    return rc;
}

SEALDB_API int sealdb_client_check_consistency(sealdb_client *c, sealdb_state *out) {
    if (!c) return SEALDB_INVALID;
    sealdb_state cur, old;
    int rc = sealdb_client_current_state(c, &cur);
    if (rc != SEALDB_OK) return rc;
    snprintf(cur.db, sizeof cur.db, "%s", c->db);
    rc = sdb_cl_state_get(c, &old);
    if (rc == SEALDB_NOTFOUND) {
        rc = sdb_cl_state_put(c, &cur);   /* trust on first use */
        if (rc == SEALDB_OK && out) *out = cur;
        return rc;
    }
    if (rc != SEALDB_OK) return rc;
    if (cur.tx_id < old.tx_id)
        return sdb_cl_fail(c, SEALDB_STALE, "server state (tx %llu) is older than the trusted state (tx %llu)",
                           (unsigned long long)cur.tx_id, (unsigned long long)old.tx_id);
    if (cur.tx_id == old.tx_id) {
        if (memcmp(cur.alh, old.alh, SDB_HASH_LEN) != 0)
            return sdb_cl_fail(c, SEALDB_TAMPERED, "verification failed: the server's state at tx %llu differs from the trusted one",
                               (unsigned long long)cur.tx_id);
        if (out) *out = old;
        return SEALDB_OK;
    }
    /* Prove old -> cur with a dual proof (VerifiableTxById of cur from old). */
    Immudb__Schema__VerifiableTxRequest req = IMMUDB__SCHEMA__VERIFIABLE_TX_REQUEST__INIT;
    req.tx = cur.tx_id;
    req.provesincetx = old.tx_id;
    Immudb__Schema__VerifiableTx *vt = NULL;
    rc = sdb_cl_call(c, "VerifiableTxById", &req.base, &immudb__schema__verifiable_tx__descriptor, (ProtobufCMessage **)&vt);
    if (rc != SEALDB_OK) return rc;
    sdb_vstate trusted = { old.tx_id, { { 0 } } }, ns;
    memcpy(trusted.alh.b, old.alh, SDB_HASH_LEN);
    rc = sdb_cl_check_tx(vt, sdb_slice_str(c->db), c->verifier, &trusted, cur.tx_id, &ns);
    rc = verdict(c, rc, "consistency", vt);
    if (rc == SEALDB_OK && (ns.tx_id != cur.tx_id || memcmp(ns.alh.b, cur.alh, SDB_HASH_LEN) != 0))
        rc = sdb_cl_fail(c, SEALDB_TAMPERED, "verification failed: the proven state differs from the reported one");
    if (rc == SEALDB_OK) rc = sdb_cl_state_put(c, &cur);
    if (rc == SEALDB_OK && out) *out = cur;
    protobuf_c_message_free_unpacked(&vt->base, NULL);
    return rc;
}
