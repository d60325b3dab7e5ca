/* test_crypto.c - unit and negative tests of src/crypto: hashes, metadata and header codecs
 * (malformed input rejected), htree and ahtree against a reference Merkle definition, the
 * file-backed ahtree (reopen, torn tail, truncate, concurrent readers), proofs over synthetic
 * normal and lagging chains (built, verified, tampered), signatures and the db encodings. */
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>
#include "testlib.h"
#include "crypto/crypto.h"
#include "util/file.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static void rnd_hash(uint8_t out[32]) {
    for (int i = 0; i < 32; i += 8) { uint64_t v = rnd(); memcpy(out + i, &v, 8); }
}

/* ---- reference Merkle tree hash (docs/format.md 2), straight from the definition ---- */
static void ref_mth(const sdb_hash *leaves, uint64_t a, uint64_t b, uint8_t out[32]) {
    if (b - a == 1) { memcpy(out, leaves[a].b, 32); return; }
    uint64_t k = 1;
    while (k * 2 < b - a) k *= 2;
    uint8_t l[32], r[32];
    ref_mth(leaves, a, a + k, l);
    ref_mth(leaves, a + k, b, r);
    sdb_hash_node(l, r, out);
}

TEST(sha256_known_answers) {
    uint8_t h[32], h2[32];
    sdb_sha256("abc", 3, h);
    CHECK_EQ_MEM(h, 32, "\xba\x78\x16\xbf\x8f\x01\xcf\xea\x41\x41\x40\xde\x5d\xae\x22\x23"
                        "\xb0\x03\x61\xa3\x96\x17\x7a\x9c\xb4\x10\xff\x61\xf2\x00\x15\xad", 32);
    sdb_sha256("", 0, h);
    CHECK_EQ_MEM(h, 32, sdb_hash_empty.b, 32);
    uint8_t big[1000];
    for (int i = 0; i < 1000; i++) big[i] = (uint8_t)i;
    sdb_sha256_ctx c;
    sdb_sha256_init(&c);
    sdb_sha256_update(&c, big, 1);
    sdb_sha256_update(&c, big + 1, 0);
    sdb_sha256_update(&c, big + 1, 999);
    sdb_sha256_final(&c, h);
    sdb_sha256(big, 1000, h2);
    CHECK_EQ_MEM(h, 32, h2, 32);
    uint8_t pre[65];
    pre[0] = 1;
    memcpy(pre + 1, big, 32);
    memcpy(pre + 33, big + 32, 32);
    sdb_sha256(pre, 65, h2);
    sdb_hash_node(big, big + 32, h);
    CHECK_EQ_MEM(h, 32, h2, 32);
    memcpy(h, big, 32);
    sdb_hash_node(h, big + 32, h);   /* output may alias an input */
    CHECK_EQ_MEM(h, 32, h2, 32);
    pre[0] = 0;
    sdb_sha256(pre, 33, h2);
    sdb_hash_leaf(big, 32, h);
    CHECK_EQ_MEM(h, 32, h2, 32);
    uint8_t z[32] = { 0 };
    CHECK_EQ_MEM(sdb_hash_zero.b, 32, z, 32);
}

TEST(hashes_list_grows) {
    sdb_hashes l;
    sdb_hashes_init(&l);
    uint8_t h[32];
    for (int i = 0; i < 100; i++) { memset(h, i, 32); CHECK_OK(sdb_hashes_push(&l, h)); }
    CHECK_EQ_U64(l.n, 100);
    CHECK(l.h[57].b[0] == 57 && l.h[99].b[31] == 99);
    sdb_hashes_deinit(&l);
    CHECK(l.h == NULL && l.n == 0);
}

TEST(kv_md_codec) {
    sdb_kv_md md = { 1, 1, 1, -5 }, d;
    uint8_t b[SDB_KV_MD_MAX_LEN];
    size_t n = sdb_kv_md_encode(&md, b);
    CHECK_EQ_U64(n, 11);
    CHECK_OK(sdb_kv_md_decode(sdb_slice_of(b, n), &d));
    CHECK(d.deleted && d.non_indexable && d.has_expires && d.expires_at == -5);
    CHECK_OK(sdb_kv_md_decode(sdb_slice_of(b, 0), &d));
    CHECK(!d.deleted && !d.has_expires && !d.non_indexable);
    memset(&md, 0, sizeof md);
    CHECK_EQ_U64(sdb_kv_md_encode(&md, b), 0);
    CHECK_EQ_U64(sdb_kv_md_encode(NULL, b), 0);
    /* rejected: unknown code, wrong order, duplicate, truncation, oversize */
    static const struct { const char *p; size_t n; } bad[] = {
        { "\x03", 1 }, { "\xff", 1 }, { "\x02\x00", 2 }, { "\x00\x00", 2 }, { "\x01\x00\x00\x00", 4 },
        { "\x01", 1 }, { "\x02\x01\x00\x00\x00\x00\x00\x00\x00\x01", 10 }, { "\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01\x02\x02", 12 },
        { "\x01\x00\x00\x00\x00\x00\x00\x00\x01\x01\x00\x00\x00\x00\x00\x00\x00\x01", 18 },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK_RC(sdb_kv_md_decode(sdb_slice_of(bad[i].p, bad[i].n), &d), SEALDB_CORRUPT);
}

TEST(tx_md_codec) {
    sdb_tx_md md, d;
    uint8_t b[SDB_TX_MD_MAX_LEN];
    memset(&md, 0, sizeof md);
    CHECK_EQ_U64(sdb_tx_md_encode(&md, b), 0);
    md.truncated_tx_id = 9;
    md.extra_len = SDB_TX_MD_MAX_EXTRA;
    memset(md.extra, 0xab, sizeof md.extra);
    size_t n = sdb_tx_md_encode(&md, b);
    CHECK_EQ_U64(n, SDB_TX_MD_MAX_LEN);
    CHECK_OK(sdb_tx_md_decode(sdb_slice_of(b, n), &d));
    CHECK(d.truncated_tx_id == 9 && d.extra_len == SDB_TX_MD_MAX_EXTRA && d.extra[255] == 0xab);
    for (size_t cut = 1; cut < n; cut++)
        if (cut != 9) CHECK_RC(sdb_tx_md_decode(sdb_slice_of(b, cut), &d), SEALDB_CORRUPT);
    static const struct { const char *p; size_t n; } bad[] = {
        { "\x02", 1 }, { "\x01\x00\x01\x41\x00\x00\x00\x00\x00\x00\x00\x00\x01", 13 },
        { "\x00\x00\x00\x00\x00\x00\x00\x00\x00", 9 },   /* truncatedTxID 0 is "absent" */
        { "\x01\x00\x00", 3 },                            /* empty extra is "absent" */
        { "\x01\x01\x01", 3 },                            /* extra longer than 256 */
        { "\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x02", 18 },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK_RC(sdb_tx_md_decode(sdb_slice_of(bad[i].p, bad[i].n), &d), SEALDB_CORRUPT);
    uint8_t big[SDB_TX_MD_MAX_LEN + 1];
    memset(big, 0, sizeof big);
    CHECK_RC(sdb_tx_md_decode(sdb_slice_of(big, sizeof big), &d), SEALDB_CORRUPT);
}

TEST(entry_digest_rules) {
    uint8_t hv[32] = { 0 }, d[32];
    CHECK_RC(sdb_entry_digest(0, sdb_slice_str("\x00k"), sdb_slice_of("\x00", 1), hv, d), SEALDB_INVALID);
    CHECK_RC(sdb_entry_digest(2, sdb_slice_str("k"), sdb_slice_of("", 0), hv, d), SEALDB_UNSUPPORTED);
    uint8_t *bigkey = calloc(70000, 1);
    CHECK_RC(sdb_entry_digest(1, sdb_slice_of(bigkey, 70000), sdb_slice_of("", 0), hv, d), SEALDB_TOOLARGE);
    CHECK_OK(sdb_entry_digest(1, sdb_slice_of(bigkey, 65535), sdb_slice_of("", 0), hv, d));
    free(bigkey);
}

/* The digest is assembled on the stack for small preimages and streamed for large ones: both
 * must equal the docs/format.md 1.2 preimage hashed by the streaming API, on each side of the switch. */
TEST(entry_digest_stack_and_stream_agree) {
    static const size_t klens[] = { 1, 2, 31, 32, 55, 56, 63, 64, 1023, 1024, 1239, 1240, 1241, 1244, 1245, 1300, 5000 };
    uint8_t *key = malloc(5000), hv[32], md[3] = { 0x01, 0x00, 0x02 }, d[32], want[32], l2[2];
    for (size_t i = 0; i < 5000; i++) key[i] = (uint8_t)(i * 7 + 3);
    for (size_t i = 0; i < 32; i++) hv[i] = (uint8_t)(0xa0 + i);
    for (size_t k = 0; k < sizeof klens / sizeof klens[0]; k++) {
        for (size_t ml = 0; ml <= 3; ml += 3) {
            sdb_sha256_ctx c;
            sdb_sha256_init(&c);
            sdb_put_u16be(l2, (uint16_t)ml);
            sdb_sha256_update(&c, l2, 2);
            sdb_sha256_update(&c, md, ml);
            sdb_put_u16be(l2, (uint16_t)klens[k]);
            sdb_sha256_update(&c, l2, 2);
            sdb_sha256_update(&c, key, klens[k]);
            sdb_sha256_update(&c, hv, 32);
            sdb_sha256_final(&c, want);
            CHECK_OK(sdb_entry_digest(1, sdb_slice_of(key, klens[k]), sdb_slice_of(md, ml), hv, d));
            CHECK_EQ_MEM(d, 32, want, 32);
        }
        sdb_sha256_ctx c;
        sdb_sha256_init(&c);
        sdb_sha256_update(&c, key, klens[k]);
        sdb_sha256_update(&c, hv, 32);
        sdb_sha256_final(&c, want);
        CHECK_OK(sdb_entry_digest(0, sdb_slice_of(key, klens[k]), sdb_slice_of("", 0), hv, d));
        CHECK_EQ_MEM(d, 32, want, 32);
    }
    free(key);
}

/* Two hashes at once equal two one-shot hashes, for every pair of lengths around the block and
 * padding edges (and one much longer), aliased outputs too, with each implementation the CPU has. */
TEST(sha256_x2_and_entry_digest_x2_agree) {
    static const size_t lens[] = { 0, 1, 31, 32, 55, 56, 63, 64, 65, 119, 120, 127, 128, 129, 200, 5000 };
    enum { NL = sizeof lens / sizeof lens[0] };
    uint8_t *buf = malloc(2 * 5000 + 64), a[32], b[32], wa[32], wb[32];
    CHECK(buf);
    for (size_t i = 0; i < 2 * 5000 + 64; i++) buf[i] = (uint8_t)(i * 13 + 1);
    int impls = 0;
    for (int impl = SDB_SHA256_IMPL_PORTABLE; impl <= SDB_SHA256_IMPL_SHANI; impl++) {
        if (sdb_sha256_set_impl(impl) != SEALDB_OK) continue;   /* no SHA-NI on this CPU */
        impls++;
        for (size_t i = 0; i < NL; i++)
            for (size_t j = 0; j < NL; j++) {
                const uint8_t *p0 = buf + 3, *p1 = buf + 5000 + 17;
                sdb_sha256(p0, lens[i], wa);
                sdb_sha256(p1, lens[j], wb);
                sdb_sha256_x2(p0, lens[i], a, p1, lens[j], b);
                CHECK_EQ_MEM(a, 32, wa, 32);
                CHECK_EQ_MEM(b, 32, wb, 32);
                /* v1 digests: keys of these lengths (the longest falls back to one at a time) */
                uint8_t md[3] = { 0x01, 0x00, 0x02 }, hv0[32], hv1[32];
                memcpy(hv0, wa, 32);
                memcpy(hv1, wb, 32);
                sdb_slice k0 = sdb_slice_of(p0, lens[i] ? lens[i] : 1), k1 = sdb_slice_of(p1, lens[j] ? lens[j] : 1);
                sdb_slice m0 = sdb_slice_of(md, i & 1 ? 3 : 0), m1 = sdb_slice_of(md, j & 1 ? 3 : 0);
                CHECK_OK(sdb_entry_digest(1, k0, m0, hv0, wa));
                CHECK_OK(sdb_entry_digest(1, k1, m1, hv1, wb));
                CHECK_OK(sdb_entry_digest_x2(1, k0, m0, hv0, a, k1, m1, hv1, b));
                CHECK_EQ_MEM(a, 32, wa, 32);
                CHECK_EQ_MEM(b, 32, wb, 32);
            }
        /* outputs aliasing inputs: out0 over the second message, out1 over the first */
        uint8_t m[64];
        memcpy(m, buf, 64);
        sdb_sha256(m, 32, wa);
        sdb_sha256(m + 32, 32, wb);
        sdb_sha256_x2(m, 32, m + 32, m + 32, 32, m);
        CHECK_EQ_MEM(m + 32, 32, wa, 32);
        CHECK_EQ_MEM(m, 32, wb, 32);
        /* v0 and an unknown version: as the single calls */
        CHECK_OK(sdb_entry_digest_x2(0, sdb_slice_of(buf, 10), sdb_slice_of("", 0), buf, a, sdb_slice_of(buf, 70),
                                     sdb_slice_of("", 0), buf, b));
        CHECK_OK(sdb_entry_digest(0, sdb_slice_of(buf, 10), sdb_slice_of("", 0), buf, wa));
        CHECK_OK(sdb_entry_digest(0, sdb_slice_of(buf, 70), sdb_slice_of("", 0), buf, wb));
        CHECK_EQ_MEM(a, 32, wa, 32);
        CHECK_EQ_MEM(b, 32, wb, 32);
        CHECK_RC(sdb_entry_digest_x2(2, sdb_slice_of(buf, 10), sdb_slice_of("", 0), buf, a, sdb_slice_of(buf, 10),
                                     sdb_slice_of("", 0), buf, b), SEALDB_UNSUPPORTED);
    }
    CHECK(impls >= 1);
    CHECK_OK(sdb_sha256_set_impl(SDB_SHA256_IMPL_AUTO));
    free(buf);
}

static void sample_header(sdb_tx_header *h, uint16_t version) {
    memset(h, 0, sizeof *h);
    h->id = 42;
    rnd_hash(h->prev_alh.b);
    h->ts = 1700000000;
    h->version = version;
    h->nentries = 3;
    rnd_hash(h->eh.b);
    h->bl_tx_id = 41;
    rnd_hash(h->bl_root.b);
}

TEST(header_codec_and_checks) {
    sdb_tx_header h, d;
    sdb_buf b;
    sdb_buf_init(&b);
    uint8_t x[32];
    for (uint16_t v = 0; v <= 1; v++) {
        sample_header(&h, v);
        if (v) { h.md.truncated_tx_id = 3; h.md.extra_len = 2; h.md.extra[0] = 1; h.md.extra[1] = 2; }
        sdb_buf_reset(&b);
        CHECK_OK(sdb_tx_header_encode(&h, &b));
        size_t used = 0;
        CHECK_OK(sdb_tx_header_decode(sdb_buf_slice(&b), &d, &used));
        CHECK_EQ_U64(used, b.len);
        CHECK(d.id == h.id && d.ts == h.ts && d.nentries == 3 && d.bl_tx_id == 41 && d.md.truncated_tx_id == h.md.truncated_tx_id);
        for (size_t cut = 0; cut < b.len; cut++)
            CHECK(sdb_tx_header_decode(sdb_slice_of(b.ptr, cut), &d, NULL) != SEALDB_OK);
        /* trailing bytes are left for the caller */
        CHECK_OK(sdb_buf_append_u8(&b, 7));
        CHECK_OK(sdb_tx_header_decode(sdb_buf_slice(&b), &d, &used));
        CHECK_EQ_U64(used, b.len - 1);
    }
    /* field checks: id < 1, nentries < 1, blTxId >= id, mdLen > 268, unknown version */
    sample_header(&h, 1);
    h.id = 0; h.bl_tx_id = 0;
    sdb_buf_reset(&b); CHECK_OK(sdb_tx_header_encode(&h, &b));
    CHECK_RC(sdb_tx_header_decode(sdb_buf_slice(&b), &d, NULL), SEALDB_CORRUPT);
    sample_header(&h, 1);
    h.nentries = 0;
    sdb_buf_reset(&b); CHECK_OK(sdb_tx_header_encode(&h, &b));
    CHECK_RC(sdb_tx_header_decode(sdb_buf_slice(&b), &d, NULL), SEALDB_CORRUPT);
    sample_header(&h, 1);
    h.bl_tx_id = 42;
    sdb_buf_reset(&b); CHECK_OK(sdb_tx_header_encode(&h, &b));
    CHECK_RC(sdb_tx_header_decode(sdb_buf_slice(&b), &d, NULL), SEALDB_CORRUPT);
    sample_header(&h, 1);
    sdb_buf_reset(&b); CHECK_OK(sdb_tx_header_encode(&h, &b));
    sdb_put_u16be(b.ptr + 50, 269);   /* mdLen */
    CHECK_RC(sdb_tx_header_decode(sdb_buf_slice(&b), &d, NULL), SEALDB_CORRUPT);
    sdb_put_u16be(b.ptr + 50, 0);
    sdb_put_u16be(b.ptr + 48, 2);     /* version */
    CHECK_RC(sdb_tx_header_decode(sdb_buf_slice(&b), &d, NULL), SEALDB_UNSUPPORTED);
    sample_header(&h, 7);
    CHECK_RC(sdb_tx_inner_hash(&h, x), SEALDB_UNSUPPORTED);
    CHECK_RC(sdb_tx_alh(&h, x), SEALDB_UNSUPPORTED);
    sdb_buf_reset(&b);
    CHECK_RC(sdb_tx_header_encode(&h, &b), SEALDB_UNSUPPORTED);
    sample_header(&h, 0);
    h.nentries = 70000;   /* does not fit v0's u16 */
    CHECK_RC(sdb_tx_inner_hash(&h, x), SEALDB_INVALID);
    /* two Alhs at once equal two single ones, for every pair of versions (inner preimages of
     * different lengths: v1 with metadata is longer), and refuse what a single one refuses */
    for (int v0 = 0; v0 <= 1; v0++)
        for (int v1 = 0; v1 <= 1; v1++) {
            sdb_tx_header a, c;
            uint8_t ya[32], yc[32], za[32], zc[32];
            sample_header(&a, (uint16_t)v0);
            sample_header(&c, (uint16_t)v1);
            c.id = 77;
            c.prev_alh.b[5] ^= 0x11;
            if (v1) { c.md.extra_len = 40; memset(c.md.extra, 0xEE, 40); }
            CHECK_OK(sdb_tx_alh(&a, ya));
            CHECK_OK(sdb_tx_alh(&c, yc));
            CHECK_OK(sdb_tx_alh_x2(&a, za, &c, zc));
            CHECK_EQ_MEM(za, 32, ya, 32);
            CHECK_EQ_MEM(zc, 32, yc, 32);
            CHECK(memcmp(ya, yc, 32) != 0);
        }
    sdb_tx_header a;
    sample_header(&a, 1);
    sample_header(&h, 7);
    CHECK_RC(sdb_tx_alh_x2(&a, x, &h, x), SEALDB_UNSUPPORTED);
    CHECK_RC(sdb_tx_alh_x2(&h, x, &a, x), SEALDB_UNSUPPORTED);
    sdb_buf_deinit(&b);
}

TEST(htree_against_reference) {
    sdb_htree t;
    sdb_hashes terms;
    sdb_htree_init(&t);
    sdb_hashes_init(&terms);
    sdb_hash d[130], leaves[130];
    uint8_t root[32], want[32];
    for (uint32_t n = 1; n <= 130; n += (n < 20 ? 1 : 7)) {
        for (uint32_t i = 0; i < n; i++) { rnd_hash(d[i].b); sdb_hash_leaf(d[i].b, 32, leaves[i].b); }
        CHECK_OK(sdb_htree_build(&t, d, n));
        sdb_htree_root(&t, root);
        ref_mth(leaves, 0, n, want);
        CHECK_EQ_MEM(root, 32, want, 32);
        for (uint32_t i = 0; i < n; i++) {
            CHECK_OK(sdb_htree_proof(&t, i, &terms));
            CHECK_OK(sdb_htree_verify(&terms, i, n, d[i].b, root));
            CHECK_RC(sdb_htree_verify(&terms, i, n, d[(i + 1) % n].b, root), n > 1 ? SEALDB_TAMPERED : SEALDB_OK);
            CHECK_RC(sdb_htree_verify(&terms, n, n, d[i].b, root), SEALDB_TAMPERED);
            CHECK_RC(sdb_htree_verify(&terms, i, 0, d[i].b, root), SEALDB_TAMPERED);
            if (terms.n) {
                terms.n--;
                CHECK_RC(sdb_htree_verify(&terms, i, n, d[i].b, root), SEALDB_TAMPERED);
                terms.n++;
            }
            CHECK_OK(sdb_hashes_push(&terms, root));
            CHECK_RC(sdb_htree_verify(&terms, i, n, d[i].b, root), SEALDB_TAMPERED);
        }
        CHECK_RC(sdb_htree_proof(&t, n, &terms), SEALDB_INVALID);
    }
    /* shrinking rebuild reuses the array */
    sdb_hash *before = t.nodes;
    CHECK_OK(sdb_htree_build(&t, d, 3));
    CHECK(t.nodes == before && t.width == 3);
    sdb_hashes_deinit(&terms);
    sdb_htree_deinit(&t);
}

/* Changing one leaf in place gives the same nodes as building the tree again with that digest. */
TEST(htree_set_leaf_matches_rebuild) {
    sdb_htree t, ref;
    sdb_htree_init(&t);
    sdb_htree_init(&ref);
    sdb_hash d[40];
    for (uint32_t n = 1; n <= 40; n++) {
        for (uint32_t i = 0; i < n; i++) rnd_hash(d[i].b);
        CHECK_OK(sdb_htree_build(&t, d, n));
        for (uint32_t i = 0; i < n; i += (n < 12 ? 1 : 5)) {
            rnd_hash(d[i].b);
            sdb_htree_set_leaf(&t, i, d[i].b);
            CHECK_OK(sdb_htree_build(&ref, d, n));
            size_t total = ref.level_off[ref.nlevels - 1] + 1;
            CHECK_EQ_MEM(t.nodes, total * sizeof(sdb_hash), ref.nodes, total * sizeof(sdb_hash));
        }
    }
    sdb_htree_deinit(&ref);
    sdb_htree_deinit(&t);
}

/* Checks a tree of size n against the reference definition: roots, all proofs verify. */
static void check_tree(sdb_ahtree *t, const sdb_hash *leaves, uint64_t n) {
    uint8_t r[32], want[32], ri[32];
    sdb_hashes p;
    sdb_hashes_init(&p);
    CHECK_EQ_U64(sdb_ahtree_size(t), n);
    for (uint64_t j = 1; j <= n; j++) {
        CHECK_OK(sdb_ahtree_root_at(t, j, r));
        ref_mth(leaves, 0, j, want);
        CHECK_EQ_MEM(r, 32, want, 32);
        for (uint64_t i = 1; i <= j; i++) {
            CHECK_OK(sdb_ahtree_inclusion_proof(t, i, j, &p));
            CHECK_OK(sdb_ahtree_verify_inclusion(&p, i, j, leaves[i - 1].b, r));
            CHECK_RC(sdb_ahtree_verify_inclusion(&p, i, j, leaves[i % j].b, r), j > 1 ? SEALDB_TAMPERED : SEALDB_OK);
            CHECK_RC(sdb_ahtree_verify_inclusion(&p, j + 1, j, leaves[i - 1].b, r), SEALDB_TAMPERED);
            CHECK_RC(sdb_ahtree_verify_inclusion(&p, 0, j, leaves[i - 1].b, r), SEALDB_TAMPERED);
            if (i == j) CHECK_OK(sdb_ahtree_verify_last_inclusion(&p, j, leaves[i - 1].b, r));
            CHECK_OK(sdb_ahtree_root_at(t, i, ri));
            CHECK_OK(sdb_ahtree_consistency_proof(t, i, j, &p));
            CHECK_OK(sdb_ahtree_verify_consistency(&p, i, j, ri, r));
            if (i < j) {
                CHECK_RC(sdb_ahtree_verify_consistency(&p, i, j, r, r), SEALDB_TAMPERED);
                CHECK_RC(sdb_ahtree_verify_consistency(&p, j, i, ri, r), SEALDB_TAMPERED);
                size_t keep = p.n;
                p.n = 0;
                CHECK_RC(sdb_ahtree_verify_consistency(&p, i, j, ri, r), SEALDB_TAMPERED);
                p.n = keep - 1;
                CHECK_RC(sdb_ahtree_verify_consistency(&p, i, j, ri, r), SEALDB_TAMPERED);
            }
        }
    }
    CHECK_RC(sdb_ahtree_root_at(t, n + 1, r), SEALDB_INVALID);
    CHECK_RC(sdb_ahtree_root_at(t, 0, r), SEALDB_INVALID);
    CHECK_RC(sdb_ahtree_inclusion_proof(t, 1, n + 1, &p), SEALDB_INVALID);
    CHECK_RC(sdb_ahtree_inclusion_proof(t, 2, 1, &p), SEALDB_INVALID);
    CHECK_RC(sdb_ahtree_consistency_proof(t, 0, n, &p), SEALDB_INVALID);
    CHECK_RC(sdb_ahtree_leaf_alh(t, n + 1, r), SEALDB_INVALID);
    sdb_hashes_deinit(&p);
}

#define NLEAVES 70
static sdb_hash g_alh[NLEAVES], g_leaf[NLEAVES];
static void gen_leaves(void) {
    for (int i = 0; i < NLEAVES; i++) { rnd_hash(g_alh[i].b); sdb_hash_leaf(g_alh[i].b, 32, g_leaf[i].b); }
}

TEST(ahtree_mem_against_reference) {
    gen_leaves();
    sdb_ahtree *t;
    CHECK_OK(sdb_ahtree_open_mem(&t));
    uint8_t r[32], want[32];
    for (int i = 0; i < NLEAVES; i++) {
        CHECK_OK(sdb_ahtree_append(t, g_alh[i].b, r));
        ref_mth(g_leaf, 0, (uint64_t)i + 1, want);
        CHECK_EQ_MEM(r, 32, want, 32);
    }
    check_tree(t, g_leaf, NLEAVES);
    sdb_ahtree_close(t);
    sdb_ahtree_close(NULL);
}

static void path_of(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%s", sdb_test_tmpdir(), name); }

TEST(ahtree_file_reopen_and_torn_tail) {
    gen_leaves();
    char path[4200];
    path_of(path, sizeof path, "t.aht");
    sdb_ahtree *t;
    CHECK_OK(sdb_ahtree_open_file(path, &t));
    for (int i = 0; i < 40; i++) CHECK_OK(sdb_ahtree_append(t, g_alh[i].b, NULL));
    CHECK_OK(sdb_ahtree_sync(t));
    for (int i = 40; i < NLEAVES; i++) CHECK_OK(sdb_ahtree_append(t, g_alh[i].b, NULL));
    check_tree(t, g_leaf, NLEAVES);
    sdb_ahtree_close(t);   /* close writes the tail */
    CHECK_OK(sdb_ahtree_open_file(path, &t));
    check_tree(t, g_leaf, NLEAVES);
    uint8_t a[32];
    CHECK_OK(sdb_ahtree_leaf_alh(t, 17, a));
    CHECK_EQ_MEM(a, 32, g_alh[16].b, 32);
    sdb_ahtree_close(t);
    /* a torn tail: append a partial record; reopen must drop it and keep appending correctly */
    sdb_file *f;
    uint64_t len;
    CHECK_OK(sdb_file_open(path, O_RDWR, 0, &f));
    CHECK_OK(sdb_file_size(f, &len));
    CHECK_OK(sdb_file_write_at(f, "garbage-garbage-garbage-garbage-garbage", 40, len));
    sdb_file_close(f);
    CHECK_OK(sdb_ahtree_open_file(path, &t));
    CHECK_EQ_U64(sdb_ahtree_size(t), NLEAVES);
    sdb_ahtree_close(t);
    /* cut inside the last record: one leaf fewer */
    CHECK_OK(sdb_file_open(path, O_RDWR, 0, &f));
    CHECK_OK(sdb_file_truncate(f, len - 10));
    sdb_file_close(f);
    CHECK_OK(sdb_ahtree_open_file(path, &t));
    CHECK_EQ_U64(sdb_ahtree_size(t), NLEAVES - 1);
    CHECK_OK(sdb_ahtree_append(t, g_alh[NLEAVES - 1].b, NULL));
    check_tree(t, g_leaf, NLEAVES);
    sdb_ahtree_close(t);
    /* an unsynced tail that came back as zeros (full length, wrong content): cut before it */
    CHECK_OK(sdb_file_open(path, O_RDWR, 0, &f));
    uint8_t zeros[32 * 6];
    memset(zeros, 0, sizeof zeros);
    CHECK_OK(sdb_file_write_at(f, zeros, 32, 32 + 32 * (3 * 63 - 6) + 32));   /* leaf hash of leaf 64 */
    sdb_file_close(f);
    CHECK_OK(sdb_ahtree_open_file(path, &t));
    CHECK_EQ_U64(sdb_ahtree_size(t), 63);
    for (int i = 63; i < NLEAVES; i++) CHECK_OK(sdb_ahtree_append(t, g_alh[i].b, NULL));
    check_tree(t, g_leaf, NLEAVES);
    sdb_ahtree_close(t);
    /* a wrong inner node (MTH[0,64) of leaf 64's record) is caught as well */
    CHECK_OK(sdb_file_open(path, O_RDWR, 0, &f));
    CHECK_OK(sdb_file_write_at(f, zeros, 32, 32 + 32 * (3 * 63 - 6) + 32 * 7));
    sdb_file_close(f);
    CHECK_OK(sdb_ahtree_open_file(path, &t));
    CHECK_EQ_U64(sdb_ahtree_size(t), 63);
    sdb_ahtree_close(t);
}

TEST(ahtree_file_bad_header) {
    char path[4200];
    path_of(path, sizeof path, "bad.aht");
    sdb_file *f;
    sdb_ahtree *t = NULL;
    CHECK_OK(sdb_file_open(path, O_RDWR | O_CREAT, 0644, &f));
    uint8_t junk[64];
    memset(junk, 'x', sizeof junk);
    CHECK_OK(sdb_file_write_at(f, junk, sizeof junk, 0));
    sdb_file_close(f);
    CHECK_RC(sdb_ahtree_open_file(path, &t), SEALDB_CORRUPT);
    path_of(path, sizeof path, "v.aht");
    CHECK_OK(sdb_ahtree_open_file(path, &t));
    sdb_ahtree_close(t);
    CHECK_OK(sdb_file_open(path, O_RDWR, 0, &f));
    CHECK_OK(sdb_file_write_at(f, "\x00\x00\x00\x09", 4, 8));   /* future format version */
    sdb_file_close(f);
    CHECK_RC(sdb_ahtree_open_file(path, &t), SEALDB_UNSUPPORTED);
    CHECK_RC(sdb_ahtree_open_file("/nonexistent-dir/x.aht", &t), SEALDB_NOTFOUND);
}

TEST(ahtree_truncate) {
    gen_leaves();
    for (int mode = 0; mode < 2; mode++) {
        char path[4200];
        path_of(path, sizeof path, "tr.aht");
        sdb_ahtree *t;
        if (mode) CHECK_OK(sdb_ahtree_open_file(path, &t));
        else CHECK_OK(sdb_ahtree_open_mem(&t));
        sdb_hash other[NLEAVES], leaves[NLEAVES];
        for (int i = 0; i < NLEAVES; i++) CHECK_OK(sdb_ahtree_append(t, g_alh[i].b, NULL));
        CHECK_RC(sdb_ahtree_truncate(t, NLEAVES + 1), SEALDB_INVALID);
        CHECK_OK(sdb_ahtree_truncate(t, 33));
        memcpy(leaves, g_leaf, sizeof leaves);
        check_tree(t, leaves, 33);
        for (int i = 33; i < NLEAVES; i++) {
            rnd_hash(other[i].b);
            sdb_hash_leaf(other[i].b, 32, leaves[i].b);
            CHECK_OK(sdb_ahtree_append(t, other[i].b, NULL));
        }
        check_tree(t, leaves, NLEAVES);
        if (mode) {
            sdb_ahtree_close(t);
            CHECK_OK(sdb_ahtree_open_file(path, &t));
            check_tree(t, leaves, NLEAVES);
            CHECK_OK(sdb_ahtree_truncate(t, 0));
            CHECK_EQ_U64(sdb_ahtree_size(t), 0);
            sdb_ahtree_close(t);
            CHECK_OK(sdb_ahtree_open_file(path, &t));
            CHECK_EQ_U64(sdb_ahtree_size(t), 0);
            unlink(path);
        }
        sdb_ahtree_close(t);
    }
}

/* One appender, two readers proving against published sizes (the engine's usage). */
typedef struct rd_arg { sdb_ahtree *t; int *stop; int bad, checks; } rd_arg;
static void *reader(void *p) {
    rd_arg *a = p;
    sdb_hashes pr;
    sdb_hashes_init(&pr);
    uint64_t x = 88172645463325252ull;
    while (!__atomic_load_n(a->stop, __ATOMIC_ACQUIRE) || a->checks < 50) {
        uint64_t n = sdb_ahtree_size(a->t);
        if (n == 0) continue;
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        uint64_t i = 1 + x % n;
        uint8_t root[32], alh[32], leaf[32], ri[32];
        if (sdb_ahtree_root_at(a->t, n, root) || sdb_ahtree_leaf_alh(a->t, i, alh) ||
            sdb_ahtree_inclusion_proof(a->t, i, n, &pr)) { a->bad++; continue; }
        sdb_hash_leaf(alh, 32, leaf);
        if (sdb_ahtree_verify_inclusion(&pr, i, n, leaf, root)) a->bad++;
        if (sdb_ahtree_root_at(a->t, i, ri) || sdb_ahtree_consistency_proof(a->t, i, n, &pr) ||
            sdb_ahtree_verify_consistency(&pr, i, n, ri, root)) a->bad++;
        a->checks++;
    }
    sdb_hashes_deinit(&pr);
    return NULL;
}

TEST(ahtree_concurrent_readers) {
    for (int mode = 0; mode < 2; mode++) {
        char path[4200];
        path_of(path, sizeof path, "cc.aht");
        sdb_ahtree *t;
        if (mode) CHECK_OK(sdb_ahtree_open_file(path, &t));
        else CHECK_OK(sdb_ahtree_open_mem(&t));
        int stop = 0;
        rd_arg a[2] = { { t, &stop, 0, 0 }, { t, &stop, 0, 0 } };
        pthread_t th[2];
        for (int i = 0; i < 2; i++) CHECK(pthread_create(&th[i], NULL, reader, &a[i]) == 0);
        uint8_t alh[32];
        for (int i = 0; i < 60000; i++) { rnd_hash(alh); CHECK_OK(sdb_ahtree_append(t, alh, NULL)); }
        __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
        for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
        CHECK_EQ_U64(a[0].bad + a[1].bad, 0);
        CHECK(a[0].checks > 0 && a[1].checks > 0);
        sdb_ahtree_close(t);
    }
}

TEST(ahtree_verify_rejects_malformed) {
    sdb_hashes p;
    sdb_hashes_init(&p);
    uint8_t h[32] = { 1 }, r[32] = { 2 };
    CHECK_RC(sdb_ahtree_verify_inclusion(&p, 1, 2, h, r), SEALDB_TAMPERED);   /* empty proof, i < j */
    CHECK_RC(sdb_ahtree_verify_inclusion(&p, 1, 1, h, r), SEALDB_TAMPERED);
    CHECK_OK(sdb_ahtree_verify_inclusion(&p, 1, 1, h, h));
    CHECK_RC(sdb_ahtree_verify_last_inclusion(&p, 0, h, h), SEALDB_TAMPERED);
    CHECK_RC(sdb_ahtree_verify_consistency(&p, 3, 3, h, r), SEALDB_TAMPERED);
    CHECK_OK(sdb_ahtree_verify_consistency(&p, 3, 3, h, h));
    CHECK_RC(sdb_ahtree_verify_consistency(&p, 0, 0, h, h), SEALDB_TAMPERED);
    for (int i = 0; i < 200; i++) CHECK_OK(sdb_hashes_push(&p, h));   /* oversized proofs */
    CHECK_RC(sdb_ahtree_verify_inclusion(&p, 1, UINT64_MAX, h, r), SEALDB_TAMPERED);
    CHECK_RC(sdb_ahtree_verify_last_inclusion(&p, UINT64_MAX, h, r), SEALDB_TAMPERED);
    CHECK_RC(sdb_ahtree_verify_consistency(&p, 1, UINT64_MAX, h, r), SEALDB_TAMPERED);
    CHECK_RC(sdb_ahtree_verify_inclusion(NULL, 1, 1, h, r), SEALDB_INVALID);
    sdb_hashes_deinit(&p);
}

/* ---- synthetic chains: normal linking, or lagging blTxId ---- */
#define CHAIN_N 24
typedef struct chain { sdb_tx_header h[CHAIN_N]; sdb_hash alh[CHAIN_N]; sdb_ahtree *tree; } chain;
static int ch_header(void *ctx, uint64_t id, sdb_tx_header *out) {
    chain *c = ctx;
    if (id == 0 || id > CHAIN_N) return SEALDB_RANGE;
    *out = c->h[id - 1];
    return SEALDB_OK;
}
static int ch_alh(void *ctx, uint64_t id, uint8_t out[32]) {
    chain *c = ctx;
    if (id == 0 || id > CHAIN_N) return SEALDB_RANGE;
    memcpy(out, c->alh[id - 1].b, 32);
    return SEALDB_OK;
}
static void chain_build(chain *c, int lagging) {
    CHECK_OK(sdb_ahtree_open_mem(&c->tree));
    uint8_t prev[32];
    memcpy(prev, sdb_hash_empty.b, 32);
    uint64_t bl = 0;
    for (uint64_t id = 1; id <= CHAIN_N; id++) {
        sdb_tx_header *h = &c->h[id - 1];
        memset(h, 0, sizeof *h);
        h->id = id;
        memcpy(h->prev_alh.b, prev, 32);
        h->ts = 1700000000 + (int64_t)id;
        h->version = 1;
        h->nentries = 1 + (uint32_t)(rnd() % 5);
        rnd_hash(h->eh.b);
        /* lagging: the binary link only moves forward now and then, never backwards */
        if (!lagging) bl = id - 1;
        else if (rnd() % 3 == 0) bl = id - 1;
        h->bl_tx_id = bl;
        if (bl) CHECK_OK(sdb_ahtree_root_at(c->tree, bl, h->bl_root.b));
        CHECK_OK(sdb_tx_alh(h, c->alh[id - 1].b));
        memcpy(prev, c->alh[id - 1].b, 32);
        CHECK_OK(sdb_ahtree_append(c->tree, prev, NULL));
    }
}

/* An entry's htree path to check with a dual proof: a 7-wide tree, leaf `leaf`; bad: a wrong digest. */
static void entry_path(sdb_mpath *m, sdb_hashes *terms, const sdb_htree *t, const sdb_hash *dig, uint32_t leaf,
                       int bad, uint8_t root[32]) {
    uint8_t d[32];
    memcpy(d, dig[leaf].b, 32);
    d[3] ^= (uint8_t)bad;
    sdb_htree_root(t, root);
    CHECK_OK(sdb_htree_proof(t, leaf, terms));
    CHECK_OK(sdb_htree_path(m, terms, leaf, t->width, d, root));
}

TEST(dual_proofs_all_pairs) {
    sdb_hash dig[7];
    for (int i = 0; i < 7; i++) rnd_hash(dig[i].b);
    sdb_htree ht;
    sdb_htree_init(&ht);
    CHECK_OK(sdb_htree_build(&ht, dig, 7));
    sdb_hashes eterms;
    sdb_hashes_init(&eterms);
    for (int lag = 0; lag < 2; lag++) {
        chain c;
        chain_build(&c, lag);
        sdb_tx_source src = { &c, ch_header, ch_alh };
        sdb_dual_proof p;
        sdb_dual_proof_init(&p);
        int laps = 0;
        for (uint64_t s = 1; s <= CHAIN_N; s++) {
            for (uint64_t t = s; t <= CHAIN_N; t++) {
                CHECK_OK(sdb_dual_proof_build(&src, c.tree, s, t, &p));
                const uint8_t *sa = c.alh[s - 1].b, *ta = c.alh[t - 1].b;
                CHECK_OK(sdb_dual_proof_verify(&p, s, t, sa, ta));
                /* an entry path checked with it (every branch: s < blTxId, blTxId > 0, none) */
                uint8_t eroot[32];
                sdb_mpath ep;
                entry_path(&ep, &eterms, &ht, dig, (uint32_t)((s + t) % 7), 0, eroot);
                CHECK_OK(sdb_dual_proof_verify_with(&p, s, t, sa, ta, &ep));
                entry_path(&ep, &eterms, &ht, dig, (uint32_t)((s + t) % 7), 1, eroot);
                CHECK_RC(sdb_dual_proof_verify_with(&p, s, t, sa, ta, &ep), SEALDB_TAMPERED);
                entry_path(&ep, &eterms, &ht, dig, (uint32_t)((s + t) % 7), 0, eroot);
                eroot[31] ^= 1;
                CHECK_RC(sdb_dual_proof_verify_with(&p, s, t, sa, ta, &ep), SEALDB_TAMPERED);
                laps += p.lap.present;
                if (!lag) CHECK(!p.lap.present && p.linear.terms.n <= 2);
                CHECK_RC(sdb_dual_proof_verify(&p, s, t, ta, sa), s == t ? SEALDB_OK : SEALDB_TAMPERED);
                if (s > 1) CHECK_RC(sdb_dual_proof_verify(&p, s - 1, t, sa, ta), SEALDB_TAMPERED);
                CHECK_RC(sdb_dual_proof_verify(&p, 0, t, sa, ta), SEALDB_TAMPERED);
                CHECK_RC(sdb_dual_proof_verify(&p, t + 1, t, sa, ta), SEALDB_TAMPERED);
                if (p.lap.present) {
                    /* a LAP with wrong counts is rejected, not read out of bounds */
                    size_t n = p.lap.n_inclusion;
                    p.lap.n_inclusion = n + 1;
                    CHECK_RC(sdb_dual_proof_verify(&p, s, t, sa, ta), SEALDB_TAMPERED);
                    p.lap.n_inclusion = n;
                    p.lap.linear_terms.n--;
                    CHECK_RC(sdb_dual_proof_verify(&p, s, t, sa, ta), SEALDB_TAMPERED);
                    p.lap.linear_terms.n++;
                    CHECK_OK(sdb_dual_proof_verify(&p, s, t, sa, ta));
                }
                p.linear.terms.n = 0;
                CHECK_RC(sdb_dual_proof_verify(&p, s, t, sa, ta), SEALDB_TAMPERED);
            }
        }
        if (lag) CHECK(laps > 0);
        CHECK_RC(sdb_dual_proof_build(&src, c.tree, 5, 4, &p), SEALDB_INVALID);
        CHECK_RC(sdb_dual_proof_build(&src, c.tree, 0, 4, &p), SEALDB_INVALID);
        CHECK(sdb_dual_proof_build(&src, c.tree, 1, CHAIN_N + 1, &p) != SEALDB_OK);
        sdb_dual_proof_deinit(&p);
        /* the tree must cover target.blTxId */
        sdb_ahtree *small;
        CHECK_OK(sdb_ahtree_open_mem(&small));
        sdb_dual_proof_init(&p);
        CHECK_RC(sdb_dual_proof_build(&src, small, 1, 10, &p), SEALDB_RANGE);
        sdb_dual_proof_deinit(&p);
        sdb_ahtree_close(small);
        if (!lag) {
            sdb_dual_proof_v2 v;
            sdb_dual_proof_v2_init(&v);
            for (uint64_t s = 1; s <= CHAIN_N; s++)
                for (uint64_t t = s; t <= CHAIN_N; t++) {
                    CHECK_OK(sdb_dual_proof_v2_build(&src, c.tree, s, t, &v));
                    CHECK_OK(sdb_dual_proof_v2_verify(&v, s, t, c.alh[s - 1].b, c.alh[t - 1].b));
                    if (s < t) {
                        sdb_hashes *l = v.inclusion.n ? &v.inclusion : &v.consistency;
                        if (l->n) l->h[0].b[0] ^= 1;
                        else v.target.ts++;
                        CHECK_RC(sdb_dual_proof_v2_verify(&v, s, t, c.alh[s - 1].b, c.alh[t - 1].b), SEALDB_TAMPERED);
                    }
                }
            sdb_dual_proof_v2_deinit(&v);
        } else {
            sdb_dual_proof_v2 v;
            sdb_dual_proof_v2_init(&v);
            int unsupported = 0;
            for (uint64_t s = 1; s <= CHAIN_N; s++)
                unsupported += sdb_dual_proof_v2_build(&src, c.tree, s, CHAIN_N, &v) == SEALDB_UNSUPPORTED;
            CHECK(unsupported > 0);
            sdb_dual_proof_v2_deinit(&v);
        }
        sdb_ahtree_close(c.tree);
    }
    sdb_hashes_deinit(&eterms);
    sdb_htree_deinit(&ht);
}

/* Paths checked together agree with each checked alone, for 1 to 4 paths of different lengths
 * (htree and ahtree inclusion alike), and one wrong term, root or width fails them. */
TEST(mpaths_lockstep_agree_with_single_paths) {
    enum { W = 37 };
    sdb_hash dig[W];
    for (int i = 0; i < W; i++) rnd_hash(dig[i].b);
    sdb_htree t;
    sdb_htree_init(&t);
    CHECK_OK(sdb_htree_build(&t, dig, W));
    uint8_t root[32];
    sdb_htree_root(&t, root);
    sdb_hashes terms[4];
    for (int i = 0; i < 4; i++) sdb_hashes_init(&terms[i]);
    const uint32_t leaves[4] = { 0, 36, 17, 32 };   /* paths of 6 and fewer terms (36 is carried up) */
    for (size_t n = 1; n <= 4; n++) {
        sdb_mpath ps[4];
        for (size_t i = 0; i < n; i++) {
            CHECK_OK(sdb_htree_proof(&t, leaves[i], &terms[i]));
            CHECK_OK(sdb_htree_verify(&terms[i], leaves[i], W, dig[leaves[i]].b, root));
            CHECK_OK(sdb_htree_path(&ps[i], &terms[i], leaves[i], W, dig[leaves[i]].b, root));
        }
        CHECK_OK(sdb_mpaths_verify(ps, n));
        for (size_t bad = 0; bad < n; bad++) {
            for (int kind = 0; kind < 3; kind++) {
                sdb_mpath q[4];
                uint8_t wrong[32];
                memcpy(wrong, root, 32);
                wrong[0] ^= 1;
                for (size_t i = 0; i < n; i++)
                    CHECK_OK(sdb_htree_path(&q[i], &terms[i], leaves[i], W, dig[leaves[i]].b, root));
                if (kind == 0) q[bad].c[5] ^= 1;          /* a wrong leaf */
                else if (kind == 1) q[bad].root = wrong;  /* a wrong root */
                else q[bad].b += 64;                      /* a wider tree than the path reaches */
                CHECK_RC(sdb_mpaths_verify(q, n), SEALDB_TAMPERED);
            }
        }
    }
    /* impossible shapes are refused before any hashing */
    sdb_mpath one;
    CHECK_RC(sdb_htree_path(&one, &terms[0], W, W, dig[0].b, root), SEALDB_TAMPERED);
    CHECK_RC(sdb_htree_path(&one, &terms[0], 0, 0, dig[0].b, root), SEALDB_TAMPERED);
    sdb_mpath five[5];
    CHECK_RC(sdb_mpaths_verify(five, 5), SEALDB_INVALID);
    /* ahtree inclusion proofs with a third path, as the dual proof checks an entry with its own */
    sdb_ahtree *a;
    CHECK_OK(sdb_ahtree_open_mem(&a));
    for (int i = 0; i < W; i++) CHECK_OK(sdb_ahtree_append(a, dig[i].b, NULL));
    uint8_t ar[32], l0[32], l1[32];
    CHECK_OK(sdb_ahtree_root_at(a, 30, ar));
    sdb_hashes p0, p1;
    sdb_hashes_init(&p0);
    sdb_hashes_init(&p1);
    CHECK_OK(sdb_ahtree_inclusion_proof(a, 3, 30, &p0));
    CHECK_OK(sdb_ahtree_inclusion_proof(a, 30, 30, &p1));
    sdb_hash_leaf(dig[2].b, 32, l0);
    sdb_hash_leaf(dig[29].b, 32, l1);
    CHECK_OK(sdb_htree_path(&one, &terms[1], leaves[1], W, dig[leaves[1]].b, root));
    CHECK_OK(sdb_ahtree_verify_inclusion3(&p0, 3, 30, l0, ar, &p1, 30, 30, l1, ar, &one));
    CHECK_OK(sdb_htree_path(&one, &terms[1], leaves[1], W, dig[0].b, root));
    CHECK_RC(sdb_ahtree_verify_inclusion3(&p0, 3, 30, l0, ar, &p1, 30, 30, l1, ar, &one), SEALDB_TAMPERED);
    CHECK_RC(sdb_ahtree_verify_inclusion3(&p0, 3, 30, l1, ar, &p1, 30, 30, l1, ar, NULL), SEALDB_TAMPERED);
    sdb_hashes_deinit(&p0);
    sdb_hashes_deinit(&p1);
    sdb_ahtree_close(a);
    for (int i = 0; i < 4; i++) sdb_hashes_deinit(&terms[i]);
    sdb_htree_deinit(&t);
}

TEST(linear_proof_rules) {
    chain c;
    chain_build(&c, 0);
    sdb_tx_source src = { &c, ch_header, ch_alh };
    sdb_linear_proof lp;
    sdb_linear_proof_init(&lp);
    CHECK_OK(sdb_linear_proof_build(&src, 3, 9, &lp));
    CHECK_EQ_U64(lp.terms.n, 7);
    CHECK_OK(sdb_linear_proof_verify(&lp, 3, 9, c.alh[2].b, c.alh[8].b));
    CHECK_RC(sdb_linear_proof_verify(&lp, 3, 9, c.alh[2].b, c.alh[7].b), SEALDB_TAMPERED);
    CHECK_RC(sdb_linear_proof_verify(&lp, 4, 9, c.alh[2].b, c.alh[8].b), SEALDB_TAMPERED);
    /* a proof that stops early can still reach an Alh, but fails Go's length rule */
    lp.terms.n = 6;
    lp.target_tx_id = 8;
    CHECK_OK(sdb_linear_proof_verify(&lp, 3, 8, c.alh[2].b, c.alh[7].b));
    CHECK_RC(sdb_linear_proof_verify(&lp, 3, 9, c.alh[2].b, c.alh[7].b), SEALDB_TAMPERED);
    CHECK_RC(sdb_linear_proof_build(&src, 0, 9, &lp), SEALDB_INVALID);
    CHECK_RC(sdb_linear_proof_build(&src, 9, 3, &lp), SEALDB_INVALID);
    sdb_linear_proof_deinit(&lp);
    sdb_linear_advance_proof lap;
    sdb_lap_init(&lap);
    CHECK_OK(sdb_lap_build(&src, c.tree, 3, 4, CHAIN_N, &lap));
    CHECK(!lap.present);
    CHECK_OK(sdb_lap_build(&src, c.tree, 2, 9, 12, &lap));
    CHECK(lap.present && lap.n_inclusion == 6 && lap.linear_terms.n == 7);
    uint8_t root[32];
    CHECK_OK(sdb_ahtree_root_at(c.tree, 12, root));
    CHECK_OK(sdb_lap_verify(&lap, 2, 9, c.alh[8].b, root, 12));
    CHECK_RC(sdb_lap_verify(&lap, 2, 9, c.alh[7].b, root, 12), SEALDB_TAMPERED);
    uint8_t root13[32];
    CHECK_OK(sdb_ahtree_root_at(c.tree, 13, root13));
    CHECK_RC(sdb_lap_verify(&lap, 2, 9, c.alh[8].b, root13, 13), SEALDB_TAMPERED);
    CHECK_RC(sdb_lap_verify(&lap, 9, 2, c.alh[8].b, root, 12), SEALDB_TAMPERED);
    CHECK_OK(sdb_lap_verify(NULL, 2, 3, c.alh[8].b, root, 12));
    CHECK_RC(sdb_lap_verify(NULL, 2, 4, c.alh[8].b, root, 12), SEALDB_TAMPERED);
    sdb_lap_deinit(&lap);
    sdb_ahtree_close(c.tree);
}

/* ---- signatures ---- */
static const char *pkcs8_pem =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg3aZkfH2HcEgFBK93\n"
    "A79/ADwA3YqZghZZSSxg1j8SP3qhRANCAAR8uHE5av9hKzbkkh5FQAReswJJuEfC\n"
    "OCgmUndo8gfmbRTOdYUn7Ve00nm8IzLA9+86esAjbPjp9Q1A1QvOKuOr\n"
    "-----END PRIVATE KEY-----\n";
static const char *p384_pub =
    "-----BEGIN PUBLIC KEY-----\n"
    "MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEV3Bo6IF+2iruOn6plZELFPu1Irs+L2BI\n"
    "XWwrBmRurFrn7KywGSSl8BKWJghv42jW7FuaWr70ogBdKJHGnTD9jFUFkxl619Yf\n"
    "tixZAo/3zpkDskQEvpHQ/eR1U4We6tsI\n"
    "-----END PUBLIC KEY-----\n";

TEST(signatures_generate_write_load) {
    sdb_signer *s = NULL, *s2 = NULL, *s3 = NULL;
    sdb_verifier *v = NULL;
    char priv[4200], pub[4200];
    path_of(priv, sizeof priv, "key.pem");
    path_of(pub, sizeof pub, "key.pub");
    CHECK_OK(sdb_signer_generate(&s));
    CHECK_OK(sdb_signer_write_pem(s, priv, pub));
    CHECK_OK(sdb_signer_load_file(priv, &s2));
    CHECK_OK(sdb_verifier_load_file(pub, &v));
    uint8_t p1[65], p2[65], alh[32];
    CHECK_OK(sdb_signer_public_point(s, p1));
    CHECK_OK(sdb_signer_public_point(s2, p2));
    CHECK_EQ_MEM(p1, 65, p2, 65);
    rnd_hash(alh);
    sdb_buf sig;
    sdb_buf_init(&sig);
    CHECK_OK(sdb_state_sign(s2, sdb_slice_str("defaultdb"), 7, alh, &sig));
    CHECK(sig.len >= 8 && sig.len <= 72 && sig.ptr[0] == 0x30);
    CHECK_OK(sdb_state_verify(v, sdb_slice_str("defaultdb"), 7, alh, sdb_buf_slice(&sig)));
    alh[0] ^= 1;
    CHECK_RC(sdb_state_verify(v, sdb_slice_str("defaultdb"), 7, alh, sdb_buf_slice(&sig)), SEALDB_TAMPERED);
    CHECK_RC(sdb_state_verify(v, sdb_slice_str("defaultdb"), 7, alh, sdb_slice_of("", 0)), SEALDB_TAMPERED);
    CHECK_RC(sdb_state_verify(v, sdb_slice_str("defaultdb"), 7, alh, sdb_slice_of("\x30\x02\x02\x00", 4)), SEALDB_TAMPERED);
    /* PKCS#8 private keys load too; other curves and garbage are refused */
    CHECK_OK(sdb_signer_load_pem(sdb_slice_str(pkcs8_pem), &s3));
    sdb_verifier *bad = NULL;
    CHECK_RC(sdb_verifier_load_pem(sdb_slice_str(p384_pub), &bad), SEALDB_UNSUPPORTED);
    CHECK_RC(sdb_verifier_load_pem(sdb_slice_str("not a pem"), &bad), SEALDB_INVALID);
    CHECK_RC(sdb_signer_load_pem(sdb_slice_str(""), &s3), SEALDB_INVALID);
    CHECK(sdb_signer_load_file("/nonexistent/key.pem", &s3) != SEALDB_OK);
    sdb_buf_deinit(&sig);
    sdb_signer_free(s);
    sdb_signer_free(s2);
    sdb_signer_free(s3);
    sdb_verifier_free(v);
    sdb_signer_free(NULL);
    sdb_verifier_free(NULL);
}

TEST(encodings_parse) {
    sdb_buf b;
    sdb_buf_init(&b);
    sdb_enc_value v;
    CHECK_OK(sdb_enc_ref_value(sdb_slice_str("target"), 5, &b));
    CHECK_OK(sdb_enc_parse_value(sdb_buf_slice(&b), &v));
    CHECK(v.kind == SDB_ENC_REF && v.at_tx == 5 && sdb_slice_eq(v.ref_key, sdb_slice_str("target")));
    for (size_t cut = 1; cut < 10; cut++) CHECK_RC(sdb_enc_parse_value(sdb_slice_of(b.ptr, cut), &v), SEALDB_CORRUPT);
    CHECK_OK(sdb_enc_parse_value(sdb_slice_of("", 0), &v));
    CHECK(v.kind == SDB_ENC_EMPTY);
    CHECK_RC(sdb_enc_parse_value(sdb_slice_of("\x05x", 2), &v), SEALDB_CORRUPT);
    sdb_buf_reset(&b);
    CHECK_OK(sdb_enc_plain_value(sdb_slice_str("hi"), &b));
    CHECK_OK(sdb_enc_parse_value(sdb_buf_slice(&b), &v));
    CHECK(v.kind == SDB_ENC_PLAIN && sdb_slice_eq(v.value, sdb_slice_str("hi")));
    sdb_buf_reset(&b);
    CHECK_OK(sdb_enc_zadd_key(sdb_slice_str("set"), -0.5, sdb_slice_str("k"), 3, &b));
    sdb_enc_zadd z;
    CHECK_OK(sdb_enc_parse_zadd_key(sdb_buf_slice(&b), &z));
    CHECK(z.score == -0.5 && z.at_tx == 3 && sdb_slice_eq(z.set, sdb_slice_str("set")));
    for (size_t cut = 0; cut < b.len; cut++) CHECK_RC(sdb_enc_parse_zadd_key(sdb_slice_of(b.ptr, cut), &z), SEALDB_CORRUPT);
    CHECK_OK(sdb_buf_append_u8(&b, 0));
    CHECK_RC(sdb_enc_parse_zadd_key(sdb_buf_slice(&b), &z), SEALDB_CORRUPT);
    sdb_put_u64be(b.ptr + 1, UINT64_MAX);   /* absurd set length */
    CHECK_RC(sdb_enc_parse_zadd_key(sdb_buf_slice(&b), &z), SEALDB_CORRUPT);
    sdb_buf_deinit(&b);
    sdb_hash h;
    CHECK_OK(sdb_digest_from_wire(sdb_slice_of("", 0), &h));
    CHECK_EQ_MEM(h.b, 32, sdb_hash_zero.b, 32);
    CHECK_RC(sdb_digest_from_wire(sdb_slice_of("abc", 3), &h), SEALDB_PROTOCOL);
}

/* ---- verified flows on a synthetic chain: a server answer built with the builders ---- */
TEST(verified_set_flow_synthetic) {
    /* tx 1..CHAIN_N from chain_build have random eH; make tx CHAIN_N a real Set of k=v. */
    chain c;
    chain_build(&c, 0);
    sdb_buf key, val;
    sdb_buf_init(&key);
    sdb_buf_init(&val);
    CHECK_OK(sdb_enc_set_key(sdb_slice_str("k"), &key));
    CHECK_OK(sdb_enc_plain_value(sdb_slice_str("v"), &val));
    sdb_vtx_entry e;
    memset(&e, 0, sizeof e);
    e.key = sdb_buf_slice(&key);
    sdb_sha256(val.ptr, val.len, e.hvalue.b);
    e.vlen = (uint32_t)val.len;
    uint8_t d[32];
    CHECK_OK(sdb_entry_digest(1, e.key, sdb_slice_of("", 0), e.hvalue.b, d));
    sdb_htree ht;
    sdb_htree_init(&ht);
    CHECK_OK(sdb_htree_build(&ht, (const sdb_hash *)d, 1));
    /* rebuild the chain's last tx with this entry */
    sdb_tx_header *h = &c.h[CHAIN_N - 1];
    h->nentries = 1;
    sdb_htree_root(&ht, h->eh.b);
    CHECK_OK(sdb_tx_alh(h, c.alh[CHAIN_N - 1].b));
    CHECK_OK(sdb_ahtree_truncate(c.tree, CHAIN_N - 1));
    CHECK_OK(sdb_ahtree_append(c.tree, c.alh[CHAIN_N - 1].b, NULL));
    sdb_tx_source src = { &c, ch_header, ch_alh };
    sdb_signer *sg;
    sdb_verifier *vf;
    char pub[4200];
    path_of(pub, sizeof pub, "k.pub");
    CHECK_OK(sdb_signer_generate(&sg));
    CHECK_OK(sdb_signer_write_pem(sg, NULL, pub));
    CHECK_OK(sdb_verifier_load_file(pub, &vf));
    for (uint64_t trusted_id = 0; trusted_id <= CHAIN_N; trusted_id++) {
        sdb_verifiable_tx vt;
        memset(&vt, 0, sizeof vt);
        sdb_dual_proof_init(&vt.dual);
        vt.tx.header = *h;
        vt.tx.entries = &e;
        vt.tx.nentries = 1;
        uint64_t s = trusted_id ? trusted_id : CHAIN_N;
        CHECK_OK(sdb_dual_proof_build(&src, c.tree, s, CHAIN_N, &vt.dual));
        sdb_buf sig;
        sdb_buf_init(&sig);
        CHECK_OK(sdb_state_sign(sg, sdb_slice_str("db"), CHAIN_N, c.alh[CHAIN_N - 1].b, &sig));
        vt.signature = sdb_buf_slice(&sig);
        sdb_vstate st = { trusted_id, { { 0 } } }, ns;
        memcpy(st.alh.b, trusted_id ? c.alh[trusted_id - 1].b : sdb_hash_empty.b, 32);
        CHECK_OK(sdb_verify_set(&vt, sdb_slice_str("db"), vf, &st, sdb_slice_str("k"), sdb_slice_str("v"), &ns));
        CHECK_EQ_U64(ns.tx_id, CHAIN_N);
        CHECK_EQ_MEM(ns.alh.b, 32, c.alh[CHAIN_N - 1].b, 32);
        CHECK_RC(sdb_verify_set(&vt, sdb_slice_str("db"), vf, &st, sdb_slice_str("k"), sdb_slice_str("w"), &ns), SEALDB_TAMPERED);
        CHECK_RC(sdb_verify_set(&vt, sdb_slice_str("db"), vf, &st, sdb_slice_str("j"), sdb_slice_str("v"), &ns), SEALDB_TAMPERED);
        CHECK_RC(sdb_verify_reference(&vt, sdb_slice_str("db"), vf, &st, sdb_slice_str("k"), sdb_slice_str("v"), 0, &ns),
                 SEALDB_TAMPERED);
        if (trusted_id) {
            /* a trusted state the server's chain does not contain */
            sdb_vstate wrong = st;
            wrong.alh.b[0] ^= 1;
            CHECK_RC(sdb_verify_set(&vt, sdb_slice_str("db"), vf, &wrong, sdb_slice_str("k"), sdb_slice_str("v"), &ns),
                     SEALDB_TAMPERED);
        }
        vt.signature = sdb_slice_of("", 0);
        CHECK_RC(sdb_verify_set(&vt, sdb_slice_str("db"), vf, &st, sdb_slice_str("k"), sdb_slice_str("v"), &ns), SEALDB_TAMPERED);
        CHECK_OK(sdb_verify_set(&vt, sdb_slice_str("db"), NULL, &st, sdb_slice_str("k"), sdb_slice_str("v"), &ns));
        vt.tx.nentries = 0;
        CHECK_RC(sdb_verify_set(&vt, sdb_slice_str("db"), NULL, &st, sdb_slice_str("k"), sdb_slice_str("v"), &ns), SEALDB_TAMPERED);
        /* TxById of that tx, and of an older tx seen from this state */
        vt.tx.nentries = 1;
        CHECK_OK(sdb_verify_tx_by_id(&vt, sdb_slice_str("db"), NULL, &st, CHAIN_N, &ns));
        CHECK_RC(sdb_verify_tx_by_id(&vt, sdb_slice_str("db"), NULL, &st, CHAIN_N - 1, &ns), SEALDB_TAMPERED);
        sdb_buf_deinit(&sig);
        sdb_dual_proof_deinit(&vt.dual);
    }
    sdb_signer_free(sg);
    sdb_verifier_free(vf);
    sdb_htree_deinit(&ht);
    sdb_buf_deinit(&key);
    sdb_buf_deinit(&val);
    sdb_ahtree_close(c.tree);
}

/* Every allocation failure on the proof paths comes back as NOMEM (or success), never a crash
 * or a leak (the sanitizer build checks leaks). */
TEST(oom_sweep) {
    chain c;
    chain_build(&c, 1);
    sdb_tx_source src = { &c, ch_header, ch_alh };
    int saw_nomem = 0;
    for (uint64_t k = 1; k < 200; k++) {
        sdb_dual_proof p;
        sdb_dual_proof_init(&p);
        sdb_htree t;
        sdb_htree_init(&t);
        sdb_ahtree *mem = NULL;
        sdb_alloc_fail_after(k);
        int rc = sdb_dual_proof_build(&src, c.tree, 3, CHAIN_N, &p);
        if (rc == SEALDB_OK) rc = sdb_htree_build(&t, c.alh, CHAIN_N);
        if (rc == SEALDB_OK) rc = sdb_ahtree_open_mem(&mem);
        for (int i = 0; rc == SEALDB_OK && i < 300; i++) rc = sdb_ahtree_append(mem, c.alh[i % CHAIN_N].b, NULL);
        sdb_alloc_fail_after(0);
        CHECK(rc == SEALDB_OK || rc == SEALDB_NOMEM);
        if (rc == SEALDB_OK) CHECK_OK(sdb_dual_proof_verify(&p, 3, CHAIN_N, c.alh[2].b, c.alh[CHAIN_N - 1].b));
        saw_nomem |= rc == SEALDB_NOMEM;
        sdb_ahtree_close(mem);
        sdb_htree_deinit(&t);
        sdb_dual_proof_deinit(&p);
    }
    CHECK(saw_nomem);
    sdb_ahtree_close(c.tree);
}

/* Larger file trees exercise the in-memory cache of high nodes (level >= 8): every answer must
 * equal the memory tree's, also after reopen and after truncate + different appends. */
static void same_answers(sdb_ahtree *a, sdb_ahtree *b, uint64_t n) {
    sdb_hashes pa, pb;
    sdb_hashes_init(&pa);
    sdb_hashes_init(&pb);
    uint8_t ra[32], rb[32];
    CHECK_EQ_U64(sdb_ahtree_size(a), n);
    CHECK_EQ_U64(sdb_ahtree_size(b), n);
    for (int r = 0; r < 400; r++) {
        uint64_t j = 1 + rnd() % n, i = 1 + rnd() % j;
        if (r < 3) j = n - (uint64_t)r, i = 1 + rnd() % j;
        CHECK_OK(sdb_ahtree_root_at(a, j, ra));
        CHECK_OK(sdb_ahtree_root_at(b, j, rb));
        CHECK_EQ_MEM(ra, 32, rb, 32);
        CHECK_OK(sdb_ahtree_inclusion_proof(a, i, j, &pa));
        CHECK_OK(sdb_ahtree_inclusion_proof(b, i, j, &pb));
        CHECK_EQ_MEM(pa.h, pa.n * 32, pb.h, pb.n * 32);
        CHECK_OK(sdb_ahtree_consistency_proof(a, i, j, &pa));
        CHECK_OK(sdb_ahtree_consistency_proof(b, i, j, &pb));
        CHECK_EQ_MEM(pa.h, pa.n * 32, pb.h, pb.n * 32);
    }
    sdb_hashes_deinit(&pa);
    sdb_hashes_deinit(&pb);
}

TEST(ahtree_file_large_matches_mem) {
    enum { N = 3000, CUT = 1100 };
    static sdb_hash alh[N], leaves[N];
    for (int i = 0; i < N; i++) { rnd_hash(alh[i].b); sdb_hash_leaf(alh[i].b, 32, leaves[i].b); }
    char path[4200];
    path_of(path, sizeof path, "big.aht");
    sdb_ahtree *m, *f;
    CHECK_OK(sdb_ahtree_open_mem(&m));
    CHECK_OK(sdb_ahtree_open_file(path, &f));
    for (int i = 0; i < N; i++) {
        CHECK_OK(sdb_ahtree_append(m, alh[i].b, NULL));
        CHECK_OK(sdb_ahtree_append(f, alh[i].b, NULL));
    }
    uint8_t r[32], want[32];
    CHECK_OK(sdb_ahtree_root_at(f, N, r));
    ref_mth(leaves, 0, N, want);
    CHECK_EQ_MEM(r, 32, want, 32);
    same_answers(m, f, N);
    sdb_ahtree_close(f);
    CHECK_OK(sdb_ahtree_open_file(path, &f));
    same_answers(m, f, N);
    /* truncate both, continue with other leaves */
    CHECK_OK(sdb_ahtree_truncate(m, CUT));
    CHECK_OK(sdb_ahtree_truncate(f, CUT));
    for (int i = CUT; i < N; i++) {
        rnd_hash(alh[i].b);
        CHECK_OK(sdb_ahtree_append(m, alh[i].b, NULL));
        CHECK_OK(sdb_ahtree_append(f, alh[i].b, NULL));
    }
    same_answers(m, f, N);
    sdb_ahtree_close(f);
    CHECK_OK(sdb_ahtree_open_file(path, &f));
    same_answers(m, f, N);
    sdb_ahtree_close(f);
    sdb_ahtree_close(m);
}
