/* proof.c - linear, linear-advance and dual proofs between two transactions (docs/format.md 6, 7):
 * builders read headers from an sdb_tx_source and tree nodes from the ahtree; verifiers follow
 * the Go SDK's rules (linear length check, LinearAdvanceProof) and never trust a length or index
 * taken from the proof itself. */
#include "crypto/crypto.h"

/* Longest linear proof a verifier accepts: with normal linking it is at most 2 terms; lagging
 * data may need more, but an unbounded count from the network must not drive allocations. */
#define MAX_LINEAR_TERMS (1u << 20)

static int src_inner(const sdb_tx_source *src, uint64_t id, uint8_t out[SDB_HASH_LEN]) {
    sdb_tx_header h;
    int rc = src->header(src->ctx, id, &h);
    if (rc) return rc;
    if (h.id != id) return SEALDB_CORRUPT;
    return sdb_tx_inner_hash(&h, out);
}

static void leaf_for(const uint8_t alh[SDB_HASH_LEN], uint8_t out[SDB_HASH_LEN]) {
    sdb_hash_leaf(alh, SDB_HASH_LEN, out);
}

/* ---- linear proof ---- */
void sdb_linear_proof_init(sdb_linear_proof *p) {
    p->source_tx_id = p->target_tx_id = 0;
    sdb_hashes_init(&p->terms);
}

void sdb_linear_proof_deinit(sdb_linear_proof *p) { sdb_hashes_deinit(&p->terms); }

/* terms = [Alh(first), innerHash(first+1) ... innerHash(last)] appended to out. last_hdr, when
 * not NULL, is the already loaded header of `last` (saves the source one header read). */
static int linear_terms(const sdb_tx_source *src, uint64_t first, uint64_t last, const sdb_tx_header *last_hdr,
                        sdb_hashes *out) {
    uint8_t h[SDB_HASH_LEN];
    int rc = src->alh(src->ctx, first, h);
    if (rc || (rc = sdb_hashes_push(out, h))) return rc;
    for (uint64_t x = first + 1; x <= last; x++) {
        if (x == last && last_hdr) rc = sdb_tx_inner_hash(last_hdr, h);
        else rc = src_inner(src, x, h);
        if (rc || (rc = sdb_hashes_push(out, h))) return rc;
    }
    return SEALDB_OK;
}

static int linear_build(const sdb_tx_source *src, uint64_t s, uint64_t t, const sdb_tx_header *t_hdr,
                        sdb_linear_proof *out) {
    out->source_tx_id = s;
    out->target_tx_id = t;
    out->terms.n = 0;
    return linear_terms(src, s, t, t_hdr, &out->terms);
}

int sdb_linear_proof_build(const sdb_tx_source *src, uint64_t s, uint64_t t, sdb_linear_proof *out) {
    if (!src || !out || s == 0 || s > t) return SEALDB_INVALID;
    return linear_build(src, s, t, NULL, out);
}

int sdb_linear_proof_verify(const sdb_linear_proof *p, uint64_t s, uint64_t t,
                            const uint8_t alh_s[SDB_HASH_LEN], const uint8_t alh_t[SDB_HASH_LEN]) {
    if (!p || !alh_s || !alh_t) return SEALDB_INVALID;
    if (p->source_tx_id != s || p->target_tx_id != t || s == 0 || s > t) return SEALDB_TAMPERED;
    if (p->terms.n == 0 || p->terms.n > MAX_LINEAR_TERMS) return SEALDB_TAMPERED;
    if ((uint64_t)p->terms.n != t - s + 1) return SEALDB_TAMPERED;   /* Go rule */
    if (memcmp(p->terms.h[0].b, alh_s, 32) != 0) return SEALDB_TAMPERED;
    uint8_t c[SDB_HASH_LEN];
    memcpy(c, p->terms.h[0].b, 32);
    for (size_t x = 1; x < p->terms.n; x++) sdb_alh_from_inner(s + x, c, p->terms.h[x].b, c);
    return memcmp(c, alh_t, 32) == 0 ? SEALDB_OK : SEALDB_TAMPERED;
}

/* ---- linear advance proof ---- */
void sdb_lap_init(sdb_linear_advance_proof *p) {
    p->present = 0;
    sdb_hashes_init(&p->linear_terms);
    p->inclusion = NULL;
    p->n_inclusion = 0;
}

void sdb_lap_deinit(sdb_linear_advance_proof *p) {
    sdb_hashes_deinit(&p->linear_terms);
    for (size_t i = 0; i < p->n_inclusion; i++) sdb_hashes_deinit(&p->inclusion[i]);
    sdb_free(p->inclusion);
    sdb_lap_init(p);
}

int sdb_lap_build(const sdb_tx_source *src, sdb_ahtree *tree, uint64_t start, uint64_t end,
                  uint64_t tree_size, sdb_linear_advance_proof *out) {
    if (!src || !tree || !out || end < start) return SEALDB_INVALID;
    sdb_lap_deinit(out);
    if (end <= start + 1) return SEALDB_OK;   /* nothing to prove: absent */
    int rc;
    size_t n = (size_t)(end - start - 1);
    if (end - start - 1 > MAX_LINEAR_TERMS) return SEALDB_TOOLARGE;
    out->present = 1;
    if ((rc = linear_terms(src, start + 1, end, NULL, &out->linear_terms))) goto fail;
    out->inclusion = sdb_calloc(n, sizeof(sdb_hashes));
    if (!out->inclusion) { rc = SEALDB_NOMEM; goto fail; }
    out->n_inclusion = n;
    for (uint64_t x = start + 1; x < end; x++) {
        if ((rc = sdb_ahtree_inclusion_proof(tree, x, tree_size, &out->inclusion[x - start - 1]))) goto fail;
    }
    return SEALDB_OK;
fail:
    sdb_lap_deinit(out);
    return rc;
}

int sdb_lap_verify(const sdb_linear_advance_proof *p, uint64_t start, uint64_t end,
                   const uint8_t end_alh[SDB_HASH_LEN], const uint8_t tree_root[SDB_HASH_LEN], uint64_t tree_size) {
    if (!end_alh || !tree_root) return SEALDB_INVALID;
    if (end < start) return SEALDB_TAMPERED;
    if (end <= start + 1) return SEALDB_OK;
    if (!p || !p->present) return SEALDB_TAMPERED;
    if ((uint64_t)p->linear_terms.n != end - start || (uint64_t)p->n_inclusion != end - start - 1)
        return SEALDB_TAMPERED;
    if (p->n_inclusion && !p->inclusion) return SEALDB_TAMPERED;
    uint8_t c[SDB_HASH_LEN], leaf[SDB_HASH_LEN];
    memcpy(c, p->linear_terms.h[0].b, 32);
    for (uint64_t x = start + 1; x < end; x++) {
        leaf_for(c, leaf);
        if (sdb_ahtree_verify_inclusion(&p->inclusion[x - start - 1], x, tree_size, leaf, tree_root))
            return SEALDB_TAMPERED;
        sdb_alh_from_inner(x + 1, c, p->linear_terms.h[x - start].b, c);
    }
    return memcmp(c, end_alh, 32) == 0 ? SEALDB_OK : SEALDB_TAMPERED;
}

/* ---- dual proof ---- */
void sdb_dual_proof_init(sdb_dual_proof *p) {
    memset(&p->source, 0, sizeof p->source);
    memset(&p->target, 0, sizeof p->target);
    sdb_hashes_init(&p->inclusion);
    sdb_hashes_init(&p->consistency);
    sdb_hashes_init(&p->last_inclusion);
    memset(&p->target_bl_tx_alh, 0, sizeof p->target_bl_tx_alh);
    sdb_linear_proof_init(&p->linear);
    sdb_lap_init(&p->lap);
}

void sdb_dual_proof_deinit(sdb_dual_proof *p) {
    sdb_hashes_deinit(&p->inclusion);
    sdb_hashes_deinit(&p->consistency);
    sdb_hashes_deinit(&p->last_inclusion);
    sdb_linear_proof_deinit(&p->linear);
    sdb_lap_deinit(&p->lap);
}

static int load_pair(const sdb_tx_source *src, uint64_t s, uint64_t t, sdb_tx_header *sh, sdb_tx_header *th) {
    int rc = src->header(src->ctx, s, sh);
    if (!rc) rc = src->header(src->ctx, t, th);
    if (rc) return rc;
    if (sh->id != s || th->id != t) return SEALDB_CORRUPT;
    return SEALDB_OK;
}

int sdb_dual_proof_build(const sdb_tx_source *src, sdb_ahtree *tree, uint64_t s, uint64_t t, sdb_dual_proof *out) {
    if (!src || !tree || !out || s == 0 || s > t) return SEALDB_INVALID;
    int rc;
    if ((rc = load_pair(src, s, t, &out->source, &out->target))) return rc;
    uint64_t sbl = out->source.bl_tx_id, tbl = out->target.bl_tx_id;
    if (sbl > tbl) return SEALDB_CORRUPT;
    if (tbl > sdb_ahtree_size(tree)) return SEALDB_RANGE;
    out->inclusion.n = out->consistency.n = out->last_inclusion.n = 0;
    memset(out->target_bl_tx_alh.b, 0, 32);
    if (tbl > 0) {
        /* one pass: the three proofs against tree size tbl share its right-border nodes */
        if ((rc = sdb_ahtree_proofs_at(tree, tbl, s, s < tbl ? &out->inclusion : NULL,
                                       sbl, sbl > 0 ? &out->consistency : NULL, &out->last_inclusion)))
            return rc;
        if ((rc = sdb_ahtree_leaf_alh(tree, tbl, out->target_bl_tx_alh.b))) return rc;
    }
    /* the target header was loaded (and its id checked) above: its innerHash is the last term */
    if ((rc = linear_build(src, s > tbl ? s : tbl, t, &out->target, &out->linear))) return rc;
    return sdb_lap_build(src, tree, sbl, s < tbl ? s : tbl, tbl, &out->lap);
}

int sdb_dual_proof_verify(const sdb_dual_proof *p, uint64_t s, uint64_t t,
                          const uint8_t alh_s[SDB_HASH_LEN], const uint8_t alh_t[SDB_HASH_LEN]) {
    return sdb_dual_proof_verify_with(p, s, t, alh_s, alh_t, NULL);
}

int sdb_dual_proof_verify_with(const sdb_dual_proof *p, uint64_t s, uint64_t t, const uint8_t alh_s[SDB_HASH_LEN],
                               const uint8_t alh_t[SDB_HASH_LEN], sdb_mpath *extra) {
    if (!p || !alh_s || !alh_t) return SEALDB_INVALID;
    const sdb_tx_header *sh = &p->source, *th = &p->target;
    uint8_t a[SDB_HASH_LEN], b[SDB_HASH_LEN], leaf[SDB_HASH_LEN];
    if (sh->id != s || th->id != t || s == 0 || s > t) return SEALDB_TAMPERED;
    if (sdb_tx_alh_x2(sh, a, th, b) || memcmp(a, alh_s, 32) || memcmp(b, alh_t, 32)) return SEALDB_TAMPERED;
    uint64_t sbl = sh->bl_tx_id, tbl = th->bl_tx_id;
    if (s < tbl) {
        /* inclusion of s and last inclusion of tbl (= inclusion of (tbl, tbl)) hashed in lockstep */
        uint8_t leaf_t[SDB_HASH_LEN];
        sdb_hash_leaf32_x2(alh_s, leaf, p->target_bl_tx_alh.b, leaf_t);
        if (sdb_ahtree_verify_inclusion3(&p->inclusion, s, tbl, leaf, th->bl_root.b,
                                         &p->last_inclusion, tbl, tbl, leaf_t, th->bl_root.b, extra))
            return SEALDB_TAMPERED;
    } else if (tbl > 0) {
        leaf_for(p->target_bl_tx_alh.b, leaf);
        if (extra) {   /* the last inclusion as the path of (tbl, tbl), next to extra */
            sdb_mpath ps[2] = { { .terms = &p->last_inclusion, .a = tbl - 1, .b = tbl - 1, .root = th->bl_root.b }, *extra };
            memcpy(ps[0].c, leaf, 32);
            if (sdb_mpaths_verify(ps, 2)) return SEALDB_TAMPERED;   /* it refuses over 64 terms */
        } else if (sdb_ahtree_verify_last_inclusion(&p->last_inclusion, tbl, leaf, th->bl_root.b)) {
            return SEALDB_TAMPERED;
        }
    } else if (extra && sdb_mpaths_verify(extra, 1)) {
        return SEALDB_TAMPERED;
    }
    if (sbl > 0 && sdb_ahtree_verify_consistency(&p->consistency, sbl, tbl, sh->bl_root.b, th->bl_root.b))
        return SEALDB_TAMPERED;
    if (s < tbl) {
        if (sdb_linear_proof_verify(&p->linear, tbl, t, p->target_bl_tx_alh.b, alh_t)) return SEALDB_TAMPERED;
        return sdb_lap_verify(&p->lap, sbl, s, alh_s, th->bl_root.b, tbl) ? SEALDB_TAMPERED : SEALDB_OK;
    }
    if (sdb_linear_proof_verify(&p->linear, s, t, alh_s, alh_t)) return SEALDB_TAMPERED;
    return sdb_lap_verify(&p->lap, sbl, tbl, p->target_bl_tx_alh.b, th->bl_root.b, tbl) ? SEALDB_TAMPERED
                                                                                          : SEALDB_OK;
}

/* ---- DualProofV2 (docs/format.md 7.4) ---- */
void sdb_dual_proof_v2_init(sdb_dual_proof_v2 *p) {
    memset(&p->source, 0, sizeof p->source);
    memset(&p->target, 0, sizeof p->target);
    sdb_hashes_init(&p->inclusion);
    sdb_hashes_init(&p->consistency);
}

void sdb_dual_proof_v2_deinit(sdb_dual_proof_v2 *p) {
    sdb_hashes_deinit(&p->inclusion);
    sdb_hashes_deinit(&p->consistency);
}

int sdb_dual_proof_v2_build(const sdb_tx_source *src, sdb_ahtree *tree, uint64_t s, uint64_t t, sdb_dual_proof_v2 *out) {
    if (!src || !tree || !out || s == 0 || s > t) return SEALDB_INVALID;
    int rc;
    if ((rc = load_pair(src, s, t, &out->source, &out->target))) return rc;
    if (out->source.bl_tx_id != s - 1 || out->target.bl_tx_id != t - 1) return SEALDB_UNSUPPORTED;
    out->inclusion.n = out->consistency.n = 0;
    if (s == t) return SEALDB_OK;
    uint64_t tbl = out->target.bl_tx_id, sbl = out->source.bl_tx_id;
    if (tbl > sdb_ahtree_size(tree)) return SEALDB_RANGE;
    if ((rc = sdb_ahtree_inclusion_proof(tree, s, tbl, &out->inclusion))) return rc;
    return sdb_ahtree_consistency_proof(tree, sbl > 1 ? sbl : 1, tbl, &out->consistency);
}

int sdb_dual_proof_v2_verify(const sdb_dual_proof_v2 *p, uint64_t s, uint64_t t,
                             const uint8_t alh_s[SDB_HASH_LEN], const uint8_t alh_t[SDB_HASH_LEN]) {
    if (!p || !alh_s || !alh_t) return SEALDB_INVALID;
    const sdb_tx_header *sh = &p->source, *th = &p->target;
    uint8_t a[SDB_HASH_LEN], b[SDB_HASH_LEN], leaf[SDB_HASH_LEN];
    if (s == 0 || sh->id != s || th->id != t || s > t) return SEALDB_TAMPERED;
    if (sdb_tx_alh_x2(sh, a, th, b) || memcmp(a, alh_s, 32) || memcmp(b, alh_t, 32)) return SEALDB_TAMPERED;
    if (sh->bl_tx_id != s - 1 || th->bl_tx_id != t - 1) return SEALDB_TAMPERED;
    if (s == t) return SEALDB_OK;
    leaf_for(alh_s, leaf);
    if (sdb_ahtree_verify_inclusion(&p->inclusion, s, th->bl_tx_id, leaf, th->bl_root.b)) return SEALDB_TAMPERED;
    if (s == 1)
        return sdb_ahtree_verify_consistency(&p->consistency, 1, th->bl_tx_id, leaf, th->bl_root.b)
                   ? SEALDB_TAMPERED : SEALDB_OK;
    return sdb_ahtree_verify_consistency(&p->consistency, sh->bl_tx_id, th->bl_tx_id, sh->bl_root.b,
                                         th->bl_root.b) ? SEALDB_TAMPERED : SEALDB_OK;
}
