/* sha256.c - SHA-256 for the whole crypto layer. One-shot hashes (sdb_sha256, the 33-byte leaf and
 * 65-byte node hashes that dominate tree work) run the compression function directly on stack
 * blocks with precomputed padding: SHA-NI when the CPU has it (checked once at startup), else
 * libcrypto's low-level SHA256_Transform. The streaming ctx API stays on libcrypto's SHA256_*.
 * Why low level: OpenSSL 3's one-shot SHA256()/EVP_Digest() fetch the algorithm on every call,
 * measured 3.6x slower for node hashes; SHA256_Init/Update/Final still cost ~40% over the bare
 * compression for 1-2 blocks. The low-level API is deprecated in OpenSSL 3 but still shipped;
 * the deprecation is silenced in this one file only. */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/sha.h>
#include "crypto/crypto.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define SDB_HAVE_SHANI 1
#include <cpuid.h>
#include <immintrin.h>
#endif

_Static_assert(sizeof(SHA256_CTX) <= sizeof(((sdb_sha256_ctx *)0)->opaque), "sdb_sha256_ctx too small");
_Static_assert(_Alignof(SHA256_CTX) <= 16, "sdb_sha256_ctx alignment");

const sdb_hash sdb_hash_empty = { {
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55 } };
const sdb_hash sdb_hash_zero = { { 0 } };

void sdb_sha256_init(sdb_sha256_ctx *c) { SHA256_Init((SHA256_CTX *)(void *)c->opaque); }

void sdb_sha256_update(sdb_sha256_ctx *c, const void *p, size_t n) {
    if (n) SHA256_Update((SHA256_CTX *)(void *)c->opaque, p, n);
}

void sdb_sha256_final(sdb_sha256_ctx *c, uint8_t out[SDB_HASH_LEN]) {
    SHA256_Final(out, (SHA256_CTX *)(void *)c->opaque);
}

/* ---- compression functions: state h[8] (host order), nblocks 64-byte blocks ---- */
static const uint32_t sha_iv[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };

static void compress_portable(uint32_t h[8], const uint8_t *blocks, size_t nblocks) {
    SHA256_CTX c;
    memcpy(c.h, h, sizeof c.h);
    for (size_t i = 0; i < nblocks; i++) SHA256_Transform(&c, blocks + 64 * i);
    memcpy(h, c.h, sizeof c.h);
}

#ifdef SDB_HAVE_SHANI
static const uint32_t sha_k[64] __attribute__((aligned(16))) = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2 };

#define SHANI __attribute__((target("sha,sse4.1,ssse3")))
#define SHANI_INLINE SHANI static inline __attribute__((always_inline))

/* The SHA-NI round instructions keep the state as two halves, ABEF and CDGH; message words are
 * big-endian. Schedule per 4-word group i >= 4:
 *   W[i] = msg2(msg1(W[i-4], W[i-3]) + alignr(W[i-1], W[i-2]), W[i-1]). */
SHANI_INLINE __m128i shani_bswap(__m128i x) {
    return _mm_shuffle_epi8(x, _mm_set_epi64x(0x0c0d0e0f08090a0bll, 0x0405060700010203ll));
}

SHANI_INLINE void shani_load_state(const uint32_t h[8], __m128i st[2]) {
    __m128i t = _mm_loadu_si128((const __m128i *)(const void *)&h[0]);     /* DCBA */
    __m128i s1 = _mm_loadu_si128((const __m128i *)(const void *)&h[4]);    /* HGFE */
    t = _mm_shuffle_epi32(t, 0xB1);                                         /* CDAB */
    s1 = _mm_shuffle_epi32(s1, 0x1B);                                       /* EFGH */
    st[0] = _mm_alignr_epi8(t, s1, 8);                                      /* ABEF */
    st[1] = _mm_blend_epi16(s1, t, 0xF0);                                   /* CDGH */
}

SHANI_INLINE void shani_state_words(const __m128i st[2], __m128i *dcba, __m128i *hgfe) {
    __m128i t = _mm_shuffle_epi32(st[0], 0x1B);                             /* FEBA */
    __m128i s1 = _mm_shuffle_epi32(st[1], 0xB1);                            /* DCHG */
    *dcba = _mm_blend_epi16(t, s1, 0xF0);
    *hgfe = _mm_alignr_epi8(s1, t, 8);
}

SHANI_INLINE void shani_store_digest(const __m128i st[2], uint8_t out[SDB_HASH_LEN]) {
    __m128i a, b;
    shani_state_words(st, &a, &b);
    _mm_storeu_si128((__m128i *)(void *)out, shani_bswap(a));
    _mm_storeu_si128((__m128i *)(void *)(out + 16), shani_bswap(b));
}

/* One block, message already in big-endian word order. */
SHANI_INLINE void shani_block(__m128i st[2], const __m128i m[4]) {
    __m128i s0 = st[0], s1 = st[1], w[16], k;
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++) {
        if (i < 4) {
            w[i] = m[i];
        } else {
            __m128i x = _mm_sha256msg1_epu32(w[i - 4], w[i - 3]);
            x = _mm_add_epi32(x, _mm_alignr_epi8(w[i - 1], w[i - 2], 4));
            w[i] = _mm_sha256msg2_epu32(x, w[i - 1]);
        }
        k = _mm_add_epi32(w[i], _mm_load_si128((const __m128i *)(const void *)&sha_k[4 * i]));
        s1 = _mm_sha256rnds2_epu32(s1, s0, k);
        k = _mm_shuffle_epi32(k, 0x0E);
        s0 = _mm_sha256rnds2_epu32(s0, s1, k);
    }
    st[0] = _mm_add_epi32(s0, st[0]);
    st[1] = _mm_add_epi32(s1, st[1]);
}

/* Two independent blocks interleaved: the round instructions are latency bound, so a second
 * stream runs in the gaps of the first for almost nothing. */
SHANI_INLINE void shani_block_x2(__m128i a[2], const __m128i ma[4], __m128i b[2], const __m128i mb[4]) {
    __m128i a0 = a[0], a1 = a[1], b0 = b[0], b1 = b[1], wa[16], wb[16], ka, kb;
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++) {
        if (i < 4) {
            wa[i] = ma[i];
            wb[i] = mb[i];
        } else {
            __m128i xa = _mm_sha256msg1_epu32(wa[i - 4], wa[i - 3]);
            __m128i xb = _mm_sha256msg1_epu32(wb[i - 4], wb[i - 3]);
            xa = _mm_add_epi32(xa, _mm_alignr_epi8(wa[i - 1], wa[i - 2], 4));
            xb = _mm_add_epi32(xb, _mm_alignr_epi8(wb[i - 1], wb[i - 2], 4));
            wa[i] = _mm_sha256msg2_epu32(xa, wa[i - 1]);
            wb[i] = _mm_sha256msg2_epu32(xb, wb[i - 1]);
        }
        __m128i kk = _mm_load_si128((const __m128i *)(const void *)&sha_k[4 * i]);
        ka = _mm_add_epi32(wa[i], kk);
        kb = _mm_add_epi32(wb[i], kk);
        a1 = _mm_sha256rnds2_epu32(a1, a0, ka);
        b1 = _mm_sha256rnds2_epu32(b1, b0, kb);
        ka = _mm_shuffle_epi32(ka, 0x0E);
        kb = _mm_shuffle_epi32(kb, 0x0E);
        a0 = _mm_sha256rnds2_epu32(a0, a1, ka);
        b0 = _mm_sha256rnds2_epu32(b0, b1, kb);
    }
    a[0] = _mm_add_epi32(a0, a[0]);
    a[1] = _mm_add_epi32(a1, a[1]);
    b[0] = _mm_add_epi32(b0, b[0]);
    b[1] = _mm_add_epi32(b1, b[1]);
}

SHANI static void compress_shani(uint32_t h[8], const uint8_t *blocks, size_t nblocks) {
    __m128i st[2], m[4], dcba, hgfe;
    shani_load_state(h, st);
    for (size_t b = 0; b < nblocks; b++) {
        for (int i = 0; i < 4; i++)
            m[i] = shani_bswap(_mm_loadu_si128((const __m128i *)(const void *)(blocks + 64 * b + 16 * i)));
        shani_block(st, m);
    }
    shani_state_words(st, &dcba, &hgfe);
    _mm_storeu_si128((__m128i *)(void *)&h[0], dcba);
    _mm_storeu_si128((__m128i *)(void *)&h[4], hgfe);
}

/* Messages of the node hash 01||l||r (two blocks) and the 32-byte leaf hash 00||d (one block),
 * assembled in registers: every 16-byte chunk is the input shifted by the one prefix byte. */
SHANI_INLINE void node_msgs(const uint8_t *l, const uint8_t *r, __m128i m1[4], __m128i m2[4]) {
    __m128i l0 = _mm_loadu_si128((const __m128i *)(const void *)l);
    __m128i l1 = _mm_loadu_si128((const __m128i *)(const void *)(l + 16));
    __m128i r0 = _mm_loadu_si128((const __m128i *)(const void *)r);
    __m128i r1 = _mm_loadu_si128((const __m128i *)(const void *)(r + 16));
    m1[0] = shani_bswap(_mm_alignr_epi8(l0, _mm_set_epi64x((long long)0x0100000000000000ull, 0), 15));
    m1[1] = shani_bswap(_mm_alignr_epi8(l1, l0, 15));
    m1[2] = shani_bswap(_mm_alignr_epi8(r0, l1, 15));
    m1[3] = shani_bswap(_mm_alignr_epi8(r1, r0, 15));
    m2[0] = shani_bswap(_mm_alignr_epi8(_mm_set_epi64x(0, 0x80), r1, 15));   /* r[31] 80 00.. */
    m2[1] = _mm_setzero_si128();
    m2[2] = _mm_setzero_si128();
    m2[3] = _mm_set_epi32(520, 0, 0, 0);                                     /* bit length */
}

SHANI_INLINE void leaf32_msgs(const uint8_t *d, __m128i m[4]) {
    __m128i d0 = _mm_loadu_si128((const __m128i *)(const void *)d);
    __m128i d1 = _mm_loadu_si128((const __m128i *)(const void *)(d + 16));
    m[0] = shani_bswap(_mm_alignr_epi8(d0, _mm_setzero_si128(), 15));
    m[1] = shani_bswap(_mm_alignr_epi8(d1, d0, 15));
    m[2] = shani_bswap(_mm_alignr_epi8(_mm_set_epi64x(0, 0x80), d1, 15));
    m[3] = _mm_set_epi32(264, 0, 0, 0);
}

SHANI static void node_shani(const uint8_t *l, const uint8_t *r, uint8_t *out) {
    __m128i st[2], m1[4], m2[4];
    node_msgs(l, r, m1, m2);
    shani_load_state(sha_iv, st);
    shani_block(st, m1);
    shani_block(st, m2);
    shani_store_digest(st, out);
}

SHANI static void node_shani_x2(const uint8_t *l0, const uint8_t *r0, uint8_t *out0,
                                const uint8_t *l1, const uint8_t *r1, uint8_t *out1) {
    __m128i a[2], b[2], ma1[4], ma2[4], mb1[4], mb2[4];
    node_msgs(l0, r0, ma1, ma2);
    node_msgs(l1, r1, mb1, mb2);
    shani_load_state(sha_iv, a);
    b[0] = a[0];
    b[1] = a[1];
    shani_block_x2(a, ma1, b, mb1);
    shani_block_x2(a, ma2, b, mb2);
    shani_store_digest(a, out0);
    shani_store_digest(b, out1);
}

SHANI static void leaf32_shani(const uint8_t *d, uint8_t *out) {
    __m128i st[2], m[4];
    leaf32_msgs(d, m);
    shani_load_state(sha_iv, st);
    shani_block(st, m);
    shani_store_digest(st, out);
}

SHANI static void leaf32_shani_x2(const uint8_t *d0, uint8_t *out0, const uint8_t *d1, uint8_t *out1) {
    __m128i a[2], b[2], ma[4], mb[4];
    leaf32_msgs(d0, ma);
    leaf32_msgs(d1, mb);
    shani_load_state(sha_iv, a);
    b[0] = a[0];
    b[1] = a[1];
    shani_block_x2(a, ma, b, mb);
    shani_store_digest(a, out0);
    shani_store_digest(b, out1);
}

static int cpu_has_shani(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    if (!(c & (1u << 9)) || !(c & (1u << 19))) return 0;     /* SSSE3, SSE4.1 */
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return (b >> 29) & 1;                                       /* SHA */
}
#endif

typedef void (*compress_fn)(uint32_t h[8], const uint8_t *blocks, size_t nblocks);

/* Chosen once; the atomic accesses only make the lazy first choice race-free. */
static compress_fn g_compress;
static int g_impl;   /* SDB_SHA256_IMPL_* in use */

static compress_fn pick(int impl) {
#ifdef SDB_HAVE_SHANI
    if (impl == SDB_SHA256_IMPL_SHANI) return compress_shani;
#endif
    (void)impl;
    return compress_portable;
}

static inline compress_fn get_compress(void) {
    compress_fn f = __atomic_load_n(&g_compress, __ATOMIC_RELAXED);
    if (__builtin_expect(f != NULL, 1)) return f;
    int impl = SDB_SHA256_IMPL_PORTABLE;
#ifdef SDB_HAVE_SHANI
    if (cpu_has_shani()) impl = SDB_SHA256_IMPL_SHANI;
#endif
    __atomic_store_n(&g_impl, impl, __ATOMIC_RELAXED);
    f = pick(impl);
    __atomic_store_n(&g_compress, f, __ATOMIC_RELAXED);
    return f;
}

int sdb_sha256_impl(void) {
    (void)get_compress();
    return __atomic_load_n(&g_impl, __ATOMIC_RELAXED);
}

int sdb_sha256_set_impl(int impl) {
    if (impl == SDB_SHA256_IMPL_AUTO) {
        __atomic_store_n(&g_compress, NULL, __ATOMIC_RELAXED);
        (void)get_compress();
        return SEALDB_OK;
    }
    if (impl != SDB_SHA256_IMPL_PORTABLE && impl != SDB_SHA256_IMPL_SHANI) return SEALDB_INVALID;
#ifdef SDB_HAVE_SHANI
    if (impl == SDB_SHA256_IMPL_SHANI && !cpu_has_shani()) return SEALDB_UNSUPPORTED;
#else
    if (impl == SDB_SHA256_IMPL_SHANI) return SEALDB_UNSUPPORTED;
#endif
    __atomic_store_n(&g_impl, impl, __ATOMIC_RELAXED);
    __atomic_store_n(&g_compress, pick(impl), __ATOMIC_RELAXED);
    return SEALDB_OK;
}

static inline void put_digest(const uint32_t h[8], uint8_t out[SDB_HASH_LEN]) {
    for (int i = 0; i < 8; i++) sdb_put_u32be(out + 4 * i, h[i]);
}

/* Builds the final 1 or 2 blocks in tail[128] from tail[0..t) (t < 64): 0x80, zeros, bit length.
 * Returns the number of blocks. */
static inline size_t pad_tail(uint8_t *tail, size_t t, uint64_t total) {
    tail[t++] = 0x80;
    size_t end = t <= 56 ? 64 : 128;
    memset(tail + t, 0, end - 8 - t);
    sdb_put_u64be(tail + end - 8, total * 8);
    return end / 64;
}

#ifdef SDB_HAVE_SHANI
/* oneshot() with the state kept in registers and the digest stored in two 16-byte stores. */
SHANI static void oneshot_shani(int pfx, const uint8_t *p, size_t n, uint8_t out[SDB_HASH_LEN]) {
    __m128i st[2], m[4];
    uint8_t tail[128];
    uint64_t total = (uint64_t)n + (pfx >= 0);
    size_t t = 0;
    shani_load_state(sha_iv, st);
    if (pfx >= 0) {
        tail[t++] = (uint8_t)pfx;
        size_t take = n < 63 ? n : 63;
        if (take) memcpy(tail + 1, p, take);
        t += take; p += take; n -= take;
        if (t == 64) {
            for (int i = 0; i < 4; i++) m[i] = shani_bswap(_mm_loadu_si128((const __m128i *)(const void *)(tail + 16 * i)));
            shani_block(st, m);
            t = 0;
        }
    }
    for (; n >= 64; p += 64, n -= 64) {
        for (int i = 0; i < 4; i++) m[i] = shani_bswap(_mm_loadu_si128((const __m128i *)(const void *)(p + 16 * i)));
        shani_block(st, m);
    }
    if (n) { memcpy(tail + t, p, n); t += n; }
    size_t nb = pad_tail(tail, t, total);
    for (size_t b = 0; b < nb; b++) {
        for (int i = 0; i < 4; i++)
            m[i] = shani_bswap(_mm_loadu_si128((const __m128i *)(const void *)(tail + 64 * b + 16 * i)));
        shani_block(st, m);
    }
    shani_store_digest(st, out);
}
#endif

/* One-shot hash of prefix (0 or 1 byte, pfx < 0 = none) || p[0..n). */
static void oneshot(int pfx, const uint8_t *p, size_t n, uint8_t out[SDB_HASH_LEN]) {
    compress_fn f = get_compress();
#ifdef SDB_HAVE_SHANI
    if (f == compress_shani) { oneshot_shani(pfx, p, n, out); return; }
#endif
    uint32_t h[8];
    uint8_t tail[128];
    uint64_t total = (uint64_t)n + (pfx >= 0);
    size_t t = 0;
    memcpy(h, sha_iv, sizeof h);
    if (pfx >= 0) {
        /* The first block is assembled on the stack: the prefix shifts the input by one byte. */
        tail[t++] = (uint8_t)pfx;
        size_t take = n < 63 ? n : 63;
        if (take) memcpy(tail + 1, p, take);
        t += take; p += take; n -= take;
        if (t == 64) { f(h, tail, 1); t = 0; }
    }
    if (n >= 64) {
        size_t full = n / 64;
        f(h, p, full);
        p += 64 * full;
        n -= 64 * full;
    }
    if (n) { memcpy(tail + t, p, n); t += n; }
    f(h, tail, pad_tail(tail, t, total));
    put_digest(h, out);
}

void sdb_sha256(const void *p, size_t n, uint8_t out[SDB_HASH_LEN]) { oneshot(-1, p, n, out); }

static void node_portable(const uint8_t *l, const uint8_t *r, uint8_t *out) {
    /* 65 bytes = two blocks; the second is r's last byte then fixed padding (length 520 bits).
     * l/r may alias out: both are copied before out is written. */
    uint8_t b[128];
    uint32_t h[8];
    b[0] = 0x01;
    memcpy(b + 1, l, SDB_HASH_LEN);
    memcpy(b + 1 + SDB_HASH_LEN, r, SDB_HASH_LEN);
    b[65] = 0x80;
    memset(b + 66, 0, 128 - 66 - 2);
    b[126] = 0x02;   /* 520 = 0x0208 */
    b[127] = 0x08;
    memcpy(h, sha_iv, sizeof h);
    compress_portable(h, b, 2);
    put_digest(h, out);
}

static inline int use_shani(void) {
#ifdef SDB_HAVE_SHANI
    (void)get_compress();
    return __atomic_load_n(&g_impl, __ATOMIC_RELAXED) == SDB_SHA256_IMPL_SHANI;
#else
    return 0;
#endif
}

void sdb_hash_leaf(const uint8_t *data, size_t n, uint8_t out[SDB_HASH_LEN]) {
#ifdef SDB_HAVE_SHANI
    if (n == SDB_HASH_LEN && use_shani()) { leaf32_shani(data, out); return; }
#endif
    oneshot(0x00, data, n, out);
}

void sdb_hash_node(const uint8_t l[SDB_HASH_LEN], const uint8_t r[SDB_HASH_LEN], uint8_t out[SDB_HASH_LEN]) {
#ifdef SDB_HAVE_SHANI
    if (use_shani()) { node_shani(l, r, out); return; }
#endif
    node_portable(l, r, out);
}

void sdb_hash_node_x2(const uint8_t *l0, const uint8_t *r0, uint8_t *out0,
                      const uint8_t *l1, const uint8_t *r1, uint8_t *out1) {
#ifdef SDB_HAVE_SHANI
    if (use_shani()) { node_shani_x2(l0, r0, out0, l1, r1, out1); return; }
#endif
    /* out0 must not alias l1/r1 (documented): the second hash reads them after out0 is written */
    node_portable(l0, r0, out0);
    node_portable(l1, r1, out1);
}

void sdb_hash_leaf32_x2(const uint8_t *d0, uint8_t *out0, const uint8_t *d1, uint8_t *out1) {
#ifdef SDB_HAVE_SHANI
    if (use_shani()) { leaf32_shani_x2(d0, out0, d1, out1); return; }
#endif
    oneshot(0x00, d0, SDB_HASH_LEN, out0);
    oneshot(0x00, d1, SDB_HASH_LEN, out1);
}

#ifdef SDB_HAVE_SHANI
/* A message as its blocks: the full ones in place, the rest padded in tail. */
typedef struct msg_blocks { const uint8_t *p; size_t full, n; uint8_t tail[128]; } msg_blocks;

static inline void msg_prep(msg_blocks *m, const uint8_t *p, size_t n) {
    m->p = p;
    m->full = n / 64;
    size_t t = n % 64;
    if (t) memcpy(m->tail, p + 64 * m->full, t);
    m->n = m->full + pad_tail(m->tail, t, n);
}

SHANI_INLINE void msg_block(const msg_blocks *m, size_t k, __m128i w[4]) {
    const uint8_t *b = k < m->full ? m->p + 64 * k : m->tail + 64 * (k - m->full);
    for (int i = 0; i < 4; i++) w[i] = shani_bswap(_mm_loadu_si128((const __m128i *)(const void *)(b + 16 * i)));
}

/* Both messages' blocks in lockstep while both have one, then the longer one's rest alone. */
SHANI static void sha256_x2_shani(const uint8_t *p0, size_t n0, uint8_t *out0, const uint8_t *p1, size_t n1,
                                  uint8_t *out1) {
    msg_blocks a, b;
    __m128i sa[2], sb[2], ma[4], mb[4];
    msg_prep(&a, p0, n0);
    msg_prep(&b, p1, n1);
    shani_load_state(sha_iv, sa);
    sb[0] = sa[0];
    sb[1] = sa[1];
    size_t k = 0;
    for (; k < a.n && k < b.n; k++) {
        msg_block(&a, k, ma);
        msg_block(&b, k, mb);
        shani_block_x2(sa, ma, sb, mb);
    }
    for (size_t j = k; j < a.n; j++) { msg_block(&a, j, ma); shani_block(sa, ma); }
    for (size_t j = k; j < b.n; j++) { msg_block(&b, j, mb); shani_block(sb, mb); }
    shani_store_digest(sa, out0);
    shani_store_digest(sb, out1);
}
#endif

void sdb_sha256_x2(const void *p0, size_t n0, uint8_t out0[SDB_HASH_LEN], const void *p1, size_t n1,
                   uint8_t out1[SDB_HASH_LEN]) {
#ifdef SDB_HAVE_SHANI
    if (use_shani()) { sha256_x2_shani(p0, n0, out0, p1, n1, out1); return; }
#endif
    uint8_t h0[SDB_HASH_LEN];   /* out0 may alias p1: written after both are read */
    oneshot(-1, p0, n0, h0);
    oneshot(-1, p1, n1, out1);
    memcpy(out0, h0, SDB_HASH_LEN);
}

/* ---- growable hash list ---- */
void sdb_hashes_init(sdb_hashes *l) { l->h = NULL; l->n = 0; l->cap = 0; }

void sdb_hashes_deinit(sdb_hashes *l) {
    sdb_free(l->h);
    sdb_hashes_init(l);
}

int sdb_hashes_push(sdb_hashes *l, const uint8_t h[SDB_HASH_LEN]) {
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 16;
        size_t bytes;
        if (sdb_mul_size(ncap, sizeof(sdb_hash), &bytes)) return SEALDB_TOOLARGE;
        sdb_hash *nh = sdb_realloc(l->h, bytes);
        if (!nh) return SEALDB_NOMEM;
        l->h = nh;
        l->cap = ncap;
    }
    memcpy(l->h[l->n++].b, h, SDB_HASH_LEN);
    return SEALDB_OK;
}
