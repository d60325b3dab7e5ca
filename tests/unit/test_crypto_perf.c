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
