/* test_crypto_perf.c - the crypto fast paths agree with the plain ones: one-shot SHA-256 (SHA-NI
 * and portable compression) against libcrypto's streaming hash for every length 0..300. */
#include <stdlib.h>
#include "testlib.h"
#include "crypto/crypto.h"

static uint64_t rs = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) { rs ^= rs << 13; rs ^= rs >> 7; rs ^= rs << 17; return rs; }
static void rnd_bytes(uint8_t *p, size_t n) { for (size_t i = 0; i < n; i++) p[i] = (uint8_t)rnd(); }

/* Streaming reference: libcrypto SHA256_Update/Final through the ctx API, split at random points. */
static void ref_hash(int pfx, const uint8_t *p, size_t n, uint8_t out[32]) {
    sdb_sha256_ctx c;
    sdb_sha256_init(&c);
    if (pfx >= 0) { uint8_t b = (uint8_t)pfx; sdb_sha256_update(&c, &b, 1); }
    size_t cut = n ? (size_t)(rnd() % (n + 1)) : 0;
    sdb_sha256_update(&c, p, cut);
    sdb_sha256_update(&c, p + cut, n - cut);
    sdb_sha256_final(&c, out);
}

static int check_impl(int impl) {
    uint8_t buf[301 + 7], got[32], want[32];
    for (int round = 0; round < 4; round++) {
        for (size_t n = 0; n <= 300; n++) {
            uint8_t *p = buf + (round & 3);   /* unaligned inputs too */
            rnd_bytes(p, n);
            ref_hash(-1, p, n, want);
            sdb_sha256(p, n, got);
            if (memcmp(got, want, 32)) { fprintf(stderr, "impl %d sha256 len %zu\n", impl, n); return 1; }
            ref_hash(0, p, n, want);
            sdb_hash_leaf(p, n, got);
            if (memcmp(got, want, 32)) { fprintf(stderr, "impl %d leaf len %zu\n", impl, n); return 1; }
        }
        for (int i = 0; i < 200; i++) {
            uint8_t lr[64];
            rnd_bytes(lr, 64);
            ref_hash(1, lr, 64, want);
            sdb_hash_node(lr, lr + 32, got);
            if (memcmp(got, want, 32)) { fprintf(stderr, "impl %d node\n", impl); return 1; }
            sdb_hash_node(lr, lr + 32, lr + 32);   /* output aliases the right input */
            if (memcmp(lr + 32, want, 32)) { fprintf(stderr, "impl %d node alias\n", impl); return 1; }
        }
        for (int i = 0; i < 200; i++) {   /* two-at-once variants against single ones */
            uint8_t in[128], w0[32], w1[32], g[64];
            rnd_bytes(in, 128);
            ref_hash(1, in, 64, w0);
            ref_hash(1, in + 64, 64, w1);
            sdb_hash_node_x2(in, in + 32, g, in + 64, in + 96, g + 32);
            if (memcmp(g, w0, 32) || memcmp(g + 32, w1, 32)) { fprintf(stderr, "impl %d node_x2\n", impl); return 1; }
            sdb_hash_node_x2(in, in + 32, in, in + 64, in + 96, in + 96);   /* each output aliases its inputs */
            if (memcmp(in, w0, 32) || memcmp(in + 96, w1, 32)) { fprintf(stderr, "impl %d node_x2 alias\n", impl); return 1; }
            rnd_bytes(in, 64);
            ref_hash(0, in, 32, w0);
            ref_hash(0, in + 32, 32, w1);
            sdb_hash_leaf32_x2(in, g, in + 32, g + 32);
            if (memcmp(g, w0, 32) || memcmp(g + 32, w1, 32)) { fprintf(stderr, "impl %d leaf_x2\n", impl); return 1; }
            sdb_hash_leaf32_x2(in, in, in + 32, in + 32);
            if (memcmp(in, w0, 32) || memcmp(in + 32, w1, 32)) { fprintf(stderr, "impl %d leaf_x2 alias\n", impl); return 1; }
        }
    }
    return 0;
}

TEST(sha256_impls_match_streaming) {
    int auto_impl = sdb_sha256_impl();
    CHECK(auto_impl == SDB_SHA256_IMPL_PORTABLE || auto_impl == SDB_SHA256_IMPL_SHANI);
    CHECK_OK(sdb_sha256_set_impl(SDB_SHA256_IMPL_PORTABLE));
    CHECK_EQ_U64(sdb_sha256_impl(), SDB_SHA256_IMPL_PORTABLE);
    CHECK(check_impl(SDB_SHA256_IMPL_PORTABLE) == 0);
    int rc = sdb_sha256_set_impl(SDB_SHA256_IMPL_SHANI);
    if (rc == SEALDB_OK) {
        CHECK_EQ_U64(sdb_sha256_impl(), SDB_SHA256_IMPL_SHANI);
        CHECK(check_impl(SDB_SHA256_IMPL_SHANI) == 0);
    } else {
        CHECK_RC(rc, SEALDB_UNSUPPORTED);
        fprintf(stderr, "note: no SHA-NI on this CPU, only the portable path was checked\n");
    }
    CHECK_RC(sdb_sha256_set_impl(7), SEALDB_INVALID);
    CHECK_OK(sdb_sha256_set_impl(SDB_SHA256_IMPL_AUTO));
    CHECK_EQ_U64(sdb_sha256_impl(), auto_impl);
    /* a known answer through the automatic path */
    uint8_t h[32];
    sdb_sha256("abc", 3, h);
    CHECK_EQ_MEM(h, 32, "\xba\x78\x16\xbf\x8f\x01\xcf\xea\x41\x41\x40\xde\x5d\xae\x22\x23"
                        "\xb0\x03\x61\xa3\x96\x17\x7a\x9c\xb4\x10\xff\x61\xf2\x00\x15\xad", 32);
}

/* sdb_ahtree_proofs_at (shared right-border memo, mmap reads in file mode) gives exactly the
 * separate proofs, for file and memory trees, also while the file is being appended to. */
static int same_list(const sdb_hashes *x, const sdb_hashes *y) {
    return x->n == y->n && (x->n == 0 || memcmp(x->h, y->h, x->n * 32) == 0);
}

static int same_as_separate(sdb_ahtree *t, uint64_t i, uint64_t c, uint64_t j) {
    sdb_hashes a, b, l, ra, rb, rl;
    sdb_hashes_init(&a); sdb_hashes_init(&b); sdb_hashes_init(&l);
    sdb_hashes_init(&ra); sdb_hashes_init(&rb); sdb_hashes_init(&rl);
    int bad = 0;
    if (sdb_ahtree_proofs_at(t, j, i, &a, c, &b, &l)) bad = 1;
    if (!bad && (sdb_ahtree_inclusion_proof(t, i, j, &ra) || sdb_ahtree_consistency_proof(t, c, j, &rb) ||
                 sdb_ahtree_inclusion_proof(t, j, j, &rl)))
        bad = 2;
    if (!bad && (!same_list(&a, &ra) || !same_list(&b, &rb) || !same_list(&l, &rl))) bad = 4;
    /* a NULL output is skipped, the others are unchanged */
    if (!bad && (sdb_ahtree_proofs_at(t, j, i, NULL, c, &b, NULL) || !same_list(&b, &rb))) bad = 5;
    sdb_hashes_deinit(&a); sdb_hashes_deinit(&b); sdb_hashes_deinit(&l);
    sdb_hashes_deinit(&ra); sdb_hashes_deinit(&rb); sdb_hashes_deinit(&rl);
    if (bad) fprintf(stderr, "proofs_at(%llu, %llu, %llu): %d\n", (unsigned long long)i,
                     (unsigned long long)c, (unsigned long long)j, bad);
    return bad;
}

TEST(ahtree_proofs_at_matches_separate_proofs) {
    char path[4200];
    snprintf(path, sizeof path, "%s/pa.aht", sdb_test_tmpdir());
    sdb_ahtree *f, *m;
    CHECK_OK(sdb_ahtree_open_file(path, &f));
    CHECK_OK(sdb_ahtree_open_mem(&m));
    enum { N = 5000 };
    uint8_t alh[32];
    for (int k = 0; k < N; k++) {
        rnd_bytes(alh, 32);
        CHECK_OK(sdb_ahtree_append(f, alh, NULL));
        CHECK_OK(sdb_ahtree_append(m, alh, NULL));
    }
    for (int r = 0; r < 400; r++) {
        uint64_t j = 1 + rnd() % N, i = 1 + rnd() % j, c = 1 + rnd() % j;
        if (r < 40) c = i;
        CHECK(same_as_separate(f, i, c, j) == 0);
        CHECK(same_as_separate(m, i, c, j) == 0);
    }
    for (uint64_t j = 1; j <= 70; j++)
        for (uint64_t i = 1; i <= j; i++) CHECK(same_as_separate(f, i, i, j) == 0);
    sdb_hashes h;
    sdb_hashes_init(&h);
    CHECK_RC(sdb_ahtree_proofs_at(f, 0, 1, &h, 1, NULL, NULL), SEALDB_INVALID);
    CHECK_RC(sdb_ahtree_proofs_at(f, N + 1, 1, &h, 1, NULL, NULL), SEALDB_INVALID);
    CHECK_RC(sdb_ahtree_proofs_at(f, 10, 11, &h, 1, NULL, NULL), SEALDB_INVALID);
    CHECK_RC(sdb_ahtree_proofs_at(f, 10, 0, &h, 1, NULL, NULL), SEALDB_INVALID);
    CHECK_RC(sdb_ahtree_proofs_at(f, 10, 1, NULL, 0, &h, NULL), SEALDB_INVALID);
    sdb_hashes_deinit(&h);
    /* reopen (nodes now come from the file mapping and the level cache) */
    sdb_ahtree_close(f);
    CHECK_OK(sdb_ahtree_open_file(path, &f));
    for (int r = 0; r < 200; r++) {
        uint64_t j = 1 + rnd() % N, i = 1 + rnd() % j;
        uint8_t ra[32], rb[32];
        CHECK_OK(sdb_ahtree_root_at(f, j, ra));
        CHECK_OK(sdb_ahtree_root_at(m, j, rb));
        CHECK_EQ_MEM(ra, 32, rb, 32);
        CHECK(same_as_separate(f, i, i, j) == 0);
    }
    sdb_ahtree_close(f);
    sdb_ahtree_close(m);
}

/* The lockstep pair verifier and the consistency verifier (shared-hash fast path) accept exactly
 * what the single verifiers accept: real proofs pass, any flipped bit in any term fails. */
TEST(ahtree_pair_and_consistency_verifiers) {
    sdb_ahtree *m;
    CHECK_OK(sdb_ahtree_open_mem(&m));
    enum { N = 1500 };
    static sdb_hash leaf[N];
    uint8_t alh[32];
    for (int k = 0; k < N; k++) {
        rnd_bytes(alh, 32);
        sdb_hash_leaf(alh, 32, leaf[k].b);
        CHECK_OK(sdb_ahtree_append(m, alh, NULL));
    }
    sdb_hashes p0, p1, pc;
    sdb_hashes_init(&p0); sdb_hashes_init(&p1); sdb_hashes_init(&pc);
    for (int r = 0; r < 150; r++) {
        uint64_t j0 = 1 + rnd() % N, i0 = 1 + rnd() % j0, j1 = 1 + rnd() % N, i1 = r & 1 ? j1 : 1 + rnd() % j1;
        uint8_t r0[32], r1[32], ri[32];
        CHECK_OK(sdb_ahtree_root_at(m, j0, r0));
        CHECK_OK(sdb_ahtree_root_at(m, j1, r1));
        CHECK_OK(sdb_ahtree_inclusion_proof(m, i0, j0, &p0));
        CHECK_OK(sdb_ahtree_inclusion_proof(m, i1, j1, &p1));
        CHECK_OK(sdb_ahtree_verify_inclusion2(&p0, i0, j0, leaf[i0 - 1].b, r0, &p1, i1, j1, leaf[i1 - 1].b, r1));
        CHECK_OK(sdb_ahtree_verify_inclusion2(&p1, i1, j1, leaf[i1 - 1].b, r1, &p0, i0, j0, leaf[i0 - 1].b, r0));
        for (size_t k = 0; k < p0.n; k++) {
            p0.h[k].b[k % 32] ^= 1;
            CHECK_RC(sdb_ahtree_verify_inclusion2(&p0, i0, j0, leaf[i0 - 1].b, r0, &p1, i1, j1, leaf[i1 - 1].b, r1),
                     SEALDB_TAMPERED);
            p0.h[k].b[k % 32] ^= 1;
        }
        for (size_t k = 0; k < p1.n; k++) {
            p1.h[k].b[k % 32] ^= 0x80;
            CHECK_RC(sdb_ahtree_verify_inclusion2(&p0, i0, j0, leaf[i0 - 1].b, r0, &p1, i1, j1, leaf[i1 - 1].b, r1),
                     SEALDB_TAMPERED);
            p1.h[k].b[k % 32] ^= 0x80;
        }
        CHECK_RC(sdb_ahtree_verify_inclusion2(&p0, i0, j0, leaf[i0 - 1].b, r0, &p1, i1, j1, leaf[i1 - 1].b, r0),
                 j1 == j0 || !memcmp(r0, r1, 32) ? SEALDB_OK : SEALDB_TAMPERED);
        if (i0 < j0) {   /* a wrong index with the same proof fails unless it hashes the same way */
            CHECK_RC(sdb_ahtree_verify_inclusion2(&p0, i0, j0, leaf[i0 - 1].b, r0, &p1, i1, j1, leaf[i0 - 1].b, r1),
                     i0 == i1 ? SEALDB_OK : SEALDB_TAMPERED);
        }
        /* consistency between i0 and j0 */
        CHECK_OK(sdb_ahtree_root_at(m, i0, ri));
        CHECK_OK(sdb_ahtree_consistency_proof(m, i0, j0, &pc));
        CHECK_OK(sdb_ahtree_verify_consistency(&pc, i0, j0, ri, r0));
        for (size_t k = 0; k < pc.n; k++) {
            pc.h[k].b[(k * 7) % 32] ^= 4;
            CHECK_RC(sdb_ahtree_verify_consistency(&pc, i0, j0, ri, r0), SEALDB_TAMPERED);
            pc.h[k].b[(k * 7) % 32] ^= 4;
        }
    }
    p0.n = 0;
    uint8_t z[32] = { 0 };
    CHECK_RC(sdb_ahtree_verify_inclusion2(&p0, 1, 2, z, z, &p0, 1, 1, z, z), SEALDB_TAMPERED);
    CHECK_RC(sdb_ahtree_verify_inclusion2(&p0, 1, 1, z, z, &p0, 0, 1, z, z), SEALDB_TAMPERED);
    CHECK_OK(sdb_ahtree_verify_inclusion2(&p0, 1, 1, z, z, &p0, 3, 3, z, z));
    CHECK_RC(sdb_ahtree_verify_inclusion2(NULL, 1, 1, z, z, &p0, 3, 3, z, z), SEALDB_INVALID);
    sdb_hashes_deinit(&p0); sdb_hashes_deinit(&p1); sdb_hashes_deinit(&pc);
    sdb_ahtree_close(m);
}

/* The border nodes shared between proofs of the same size must not survive a truncate: after
 * truncating below j and appending other leaves, proofs at j match a fresh tree. */
TEST(ahtree_shared_border_cleared_by_truncate) {
    for (int mode = 0; mode < 2; mode++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/tr%d.aht", sdb_test_tmpdir(), mode);
        sdb_ahtree *t, *fresh;
        if (mode) CHECK_OK(sdb_ahtree_open_file(path, &t));
        else CHECK_OK(sdb_ahtree_open_mem(&t));
        CHECK_OK(sdb_ahtree_open_mem(&fresh));
        enum { N = 777, CUT = 500 };
        uint8_t alh[32];
        for (int k = 0; k < N; k++) {
            rnd_bytes(alh, 32);
            CHECK_OK(sdb_ahtree_append(t, alh, NULL));
            if (k < CUT) CHECK_OK(sdb_ahtree_append(fresh, alh, NULL));
        }
        sdb_hashes a, b, c, d;
        sdb_hashes_init(&a); sdb_hashes_init(&b); sdb_hashes_init(&c); sdb_hashes_init(&d);
        CHECK_OK(sdb_ahtree_proofs_at(t, N, 3, &a, 400, &b, &c));   /* fills the shared memo for N */
        CHECK_OK(sdb_ahtree_truncate(t, CUT));
        for (int k = CUT; k < N; k++) {
            rnd_bytes(alh, 32);
            CHECK_OK(sdb_ahtree_append(t, alh, NULL));
            CHECK_OK(sdb_ahtree_append(fresh, alh, NULL));
        }
        CHECK_OK(sdb_ahtree_proofs_at(t, N, 3, &a, 400, &b, &c));
        CHECK_OK(sdb_ahtree_proofs_at(fresh, N, 3, &d, 400, NULL, NULL));
        CHECK(same_list(&a, &d));
        CHECK_OK(sdb_ahtree_inclusion_proof(t, 3, N, &a));
        CHECK(same_list(&a, &d));
        CHECK_OK(sdb_ahtree_consistency_proof(fresh, 400, N, &d));
        CHECK(same_list(&b, &d));
        CHECK_OK(sdb_ahtree_inclusion_proof(fresh, N, N, &d));
        CHECK(same_list(&c, &d));
        sdb_hashes_deinit(&a); sdb_hashes_deinit(&b); sdb_hashes_deinit(&c); sdb_hashes_deinit(&d);
        sdb_ahtree_close(t);
        sdb_ahtree_close(fresh);
    }
}
