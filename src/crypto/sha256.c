/* sha256.c - SHA-256 for the whole crypto layer, on libcrypto's low-level SHA256_* calls.
 * Why low level: OpenSSL 3's one-shot SHA256()/EVP_Digest() fetch the algorithm on every call,
 * measured 3.6x slower for the 65-byte node hashes that dominate tree work. The low-level API is
 * deprecated in OpenSSL 3 but still shipped; the deprecation is silenced in this one file only. */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/sha.h>
#include "crypto/crypto.h"

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

void sdb_sha256(const void *p, size_t n, uint8_t out[SDB_HASH_LEN]) {
    SHA256_CTX c;
    SHA256_Init(&c);
    if (n) SHA256_Update(&c, p, n);
    SHA256_Final(out, &c);
}

void sdb_hash_leaf(const uint8_t *data, size_t n, uint8_t out[SDB_HASH_LEN]) {
    SHA256_CTX c;
    static const uint8_t prefix = 0x00;
    SHA256_Init(&c);
    SHA256_Update(&c, &prefix, 1);
    if (n) SHA256_Update(&c, data, n);
    SHA256_Final(out, &c);
}

void sdb_hash_node(const uint8_t l[SDB_HASH_LEN], const uint8_t r[SDB_HASH_LEN], uint8_t out[SDB_HASH_LEN]) {
    /* One contiguous 65-byte input: a single Update call is cheaper than three. l/r may alias out. */
    uint8_t buf[1 + 2 * SDB_HASH_LEN];
    SHA256_CTX c;
    buf[0] = 0x01;
    memcpy(buf + 1, l, SDB_HASH_LEN);
    memcpy(buf + 1 + SDB_HASH_LEN, r, SDB_HASH_LEN);
    SHA256_Init(&c);
    SHA256_Update(&c, buf, sizeof buf);
    SHA256_Final(out, &c);
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
