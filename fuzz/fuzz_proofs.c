/* fuzz_proofs.c - libFuzzer target: arbitrary bytes decoded into proof terms, indexes and headers
 * and fed to every verifier (htree, ahtree inclusion/last/consistency, linear, linear-advance,
 * dual, dual v2, the client flows) and the db-encoding parsers. Nothing may crash; the
 * verifiers run on attacker-chosen sizes, counts and indexes. */
#include "crypto/crypto.h"

typedef struct rd { const uint8_t *p; size_t n; } rd;
static uint8_t u8(rd *r) {
    if (!r->n) return 0;
    r->n--;
    return *r->p++;
}
static uint64_t u64(rd *r) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | u8(r);
    return v;
}
/* Small values are more interesting for indexes: pick a width from a selector byte. */
static uint64_t idx(rd *r) {
    uint8_t sel = u8(r);
    if (sel < 200) return sel % 40;
    if (sel < 250) return u64(r) % 5000;
    return u64(r);
}
static void hash(rd *r, uint8_t out[32]) { for (int i = 0; i < 32; i++) out[i] = u8(r); }
static void hashes(rd *r, sdb_hashes *l) {
    uint8_t h[32];
    size_t n = u8(r) % 80;
    l->n = 0;
    for (size_t i = 0; i < n; i++) { hash(r, h); if (sdb_hashes_push(l, h)) return; }
}
static void header(rd *r, sdb_tx_header *h) {
    memset(h, 0, sizeof *h);
    h->id = idx(r);
    hash(r, h->prev_alh.b);
    h->ts = (int64_t)u64(r);
    h->version = u8(r) % 3;
    if (u8(r) & 1) h->md.truncated_tx_id = idx(r);
    h->nentries = (uint32_t)idx(r);
    hash(r, h->eh.b);
    h->bl_tx_id = idx(r);
    hash(r, h->bl_root.b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rd r = { data, size };
    uint8_t a[32], b[32];
    sdb_hashes l;
    sdb_hashes_init(&l);
    uint8_t op = u8(&r);
    uint64_t i = idx(&r), j = idx(&r);
    hash(&r, a);
    hash(&r, b);
    hashes(&r, &l);
    switch (op % 8) {
    case 0: (void)sdb_htree_verify(&l, (uint32_t)i, (uint32_t)j, a, b); break;
    case 1: (void)sdb_ahtree_verify_inclusion(&l, i, j, a, b); break;
    case 2: (void)sdb_ahtree_verify_last_inclusion(&l, j, a, b); break;
    case 3: (void)sdb_ahtree_verify_consistency(&l, i, j, a, b); break;
    case 4: {
        sdb_linear_proof p;
        sdb_linear_proof_init(&p);
        p.source_tx_id = idx(&r) ? i : idx(&r);
        p.target_tx_id = j;
        hashes(&r, &p.terms);
        (void)sdb_linear_proof_verify(&p, i, j, a, b);
        sdb_linear_advance_proof lap;
        sdb_lap_init(&lap);
        lap.present = u8(&r) & 1;
        hashes(&r, &lap.linear_terms);
        size_t n = u8(&r) % 8;
        lap.inclusion = sdb_calloc(n + 1, sizeof(sdb_hashes));
        if (lap.inclusion) {
            lap.n_inclusion = n;
            for (size_t k = 0; k < n; k++) hashes(&r, &lap.inclusion[k]);
        }
        (void)sdb_lap_verify(&lap, i, j, a, b, idx(&r));
        sdb_lap_deinit(&lap);
        sdb_linear_proof_deinit(&p);
        break;
    }
    case 5: {
        sdb_dual_proof p;
        sdb_dual_proof_init(&p);
        header(&r, &p.source);
        header(&r, &p.target);
        hashes(&r, &p.inclusion);
        hashes(&r, &p.consistency);
        hashes(&r, &p.last_inclusion);
        hash(&r, p.target_bl_tx_alh.b);
        p.linear.source_tx_id = idx(&r);
        p.linear.target_tx_id = idx(&r);
        hashes(&r, &p.linear.terms);
        /* self-consistent Alhs so the verifier goes past the header checks */
        if (u8(&r) & 1) { (void)sdb_tx_alh(&p.source, a); (void)sdb_tx_alh(&p.target, b); i = p.source.id; j = p.target.id; }
        (void)sdb_dual_proof_verify(&p, i, j, a, b);
        sdb_dual_proof_v2 v;
        sdb_dual_proof_v2_init(&v);
        v.source = p.source;
        v.target = p.target;
        hashes(&r, &v.inclusion);
        hashes(&r, &v.consistency);
        (void)sdb_dual_proof_v2_verify(&v, i, j, a, b);
        sdb_dual_proof_v2_deinit(&v);
        /* the client flows over the same answer */
        sdb_vtx_entry e[4];
        memset(e, 0, sizeof e);
        size_t ne = u8(&r) % 5;
        for (size_t k = 0; k < ne; k++) {
            e[k].key = sdb_slice_of(r.p, r.n < 6 ? r.n : 6);
            e[k].has_md = u8(&r) & 1;
            e[k].md.deleted = u8(&r) & 1;
            hash(&r, e[k].hvalue.b);
        }
        sdb_verifiable_tx vt;
        memset(&vt, 0, sizeof vt);
        vt.tx.header = p.target;
        vt.tx.entries = e;
        vt.tx.nentries = ne > 4 ? 4 : ne;
        vt.dual = p;
        sdb_vstate st = { i, { { 0 } } }, ns;
        memcpy(st.alh.b, a, 32);
        (void)sdb_verify_set(&vt, sdb_slice_str("db"), NULL, &st, sdb_slice_str("k"), sdb_slice_str("v"), &ns);
        (void)sdb_verify_zadd(&vt, sdb_slice_str("db"), NULL, &st, sdb_slice_str("s"), 1.0, sdb_slice_str("k"), 0, &ns);
        (void)sdb_verify_tx_by_id(&vt, sdb_slice_str("db"), NULL, &st, j, &ns);
        sdb_verifiable_entry ve;
        memset(&ve, 0, sizeof ve);
        ve.tx = idx(&r);
        ve.has_ref = u8(&r) & 1;
        ve.ref.tx = idx(&r);
        ve.vtx = vt;
        ve.leaf = (int64_t)idx(&r) - 3;
        ve.width = (int64_t)idx(&r) - 3;
        ve.terms = l;
        (void)sdb_verify_get(&ve, sdb_slice_str("db"), NULL, &st, sdb_slice_str("k"), idx(&r) % 3, &ns);
        sdb_dual_proof_deinit(&p);
        break;
    }
    case 6: {
        sdb_enc_value v;
        sdb_enc_zadd z;
        (void)sdb_enc_parse_value(sdb_slice_of(r.p, r.n), &v);
        (void)sdb_enc_parse_zadd_key(sdb_slice_of(r.p, r.n), &z);
        break;
    }
    default: {
        sdb_hash h;
        (void)sdb_digest_from_wire(sdb_slice_of(r.p, r.n), &h);
        break;
    }
    }
    sdb_hashes_deinit(&l);
    return 0;
}
