/* htree.c - the per-transaction Merkle tree over entry digests (docs/format.md 3): built bottom-up,
 * an odd node at the end of a level is carried up unchanged, which gives the RFC 6962 root.
 * The node array is kept between builds so the committer hashes each tx without allocating. */
#include "crypto/crypto.h"

void sdb_htree_init(sdb_htree *t) { memset(t, 0, sizeof *t); }

void sdb_htree_deinit(sdb_htree *t) {
    sdb_free(t->nodes);
    memset(t, 0, sizeof *t);
}

int sdb_htree_build(sdb_htree *t, const sdb_hash *digests, uint32_t n) {
    /* Total nodes of all levels is below 2n+levels; computed exactly to size the array. */
    size_t total = 0, len = n;
    uint32_t levels = 0;
    if (n == 0) {
        t->width = 0;
        t->nlevels = 0;
        return SEALDB_OK;
    }
    for (;;) {
        total += len;
        levels++;
        if (len == 1) break;
        len = (len + 1) / 2;
    }
    if (total > t->cap) {
        size_t bytes;
        if (sdb_mul_size(total, sizeof(sdb_hash), &bytes)) return SEALDB_TOOLARGE;
        sdb_hash *nn = sdb_realloc(t->nodes, bytes);
        if (!nn) return SEALDB_NOMEM;
        t->nodes = nn;
        t->cap = total;
    }
    t->width = n;
    t->nlevels = levels;
    sdb_hash *lv = t->nodes;
    /* Hashes of a level are independent: two at a time (the SHA-NI rounds are latency bound). */
    uint32_t i = 0;
    for (; i + 1 < n; i += 2) sdb_hash_leaf32_x2(digests[i].b, lv[i].b, digests[i + 1].b, lv[i + 1].b);
    if (i < n) sdb_hash_leaf(digests[i].b, SDB_HASH_LEN, lv[i].b);
    t->level_off[0] = 0;
    t->level_len[0] = n;
    uint32_t off = n;
    for (uint32_t l = 1; l < levels; l++) {
        uint32_t plen = t->level_len[l - 1];
        const sdb_hash *prev = t->nodes + t->level_off[l - 1];
        sdb_hash *cur = t->nodes + off;
        uint32_t clen = (plen + 1) / 2;
        uint32_t k = 0;
        for (; k + 3 < plen; k += 4)
            sdb_hash_node_x2(prev[k].b, prev[k + 1].b, cur[k / 2].b, prev[k + 2].b, prev[k + 3].b, cur[k / 2 + 1].b);
        if (k + 1 < plen) sdb_hash_node(prev[k].b, prev[k + 1].b, cur[k / 2].b);
        if (plen & 1) cur[clen - 1] = prev[plen - 1];   /* carried up unchanged */
        t->level_off[l] = off;
        t->level_len[l] = clen;
        off += clen;
    }
    return SEALDB_OK;
}

void sdb_htree_root(const sdb_htree *t, uint8_t out[SDB_HASH_LEN]) {
    if (t->width == 0) {
        memcpy(out, sdb_hash_empty.b, SDB_HASH_LEN);
        return;
    }
    memcpy(out, t->nodes[t->level_off[t->nlevels - 1]].b, SDB_HASH_LEN);
}

void sdb_htree_set_leaf(sdb_htree *t, uint32_t leaf, const uint8_t digest[SDB_HASH_LEN]) {
    sdb_hash_leaf(digest, SDB_HASH_LEN, t->nodes[leaf].b);
    uint32_t i = leaf;
    for (uint32_t l = 0; l + 1 < t->nlevels; l++, i >>= 1) {
        const sdb_hash *lv = t->nodes + t->level_off[l];
        sdb_hash *up = t->nodes + t->level_off[l + 1] + (i >> 1);
        uint32_t left = i & ~1u;
        if (left + 1 < t->level_len[l]) sdb_hash_node(lv[left].b, lv[left + 1].b, up->b);
        else *up = lv[left];   /* carried up unchanged */
    }
}

int sdb_htree_proof(const sdb_htree *t, uint32_t leaf, sdb_hashes *terms) {
    if (leaf >= t->width) return SEALDB_INVALID;
    terms->n = 0;
    uint32_t i = leaf;
    for (uint32_t l = 0; l + 1 < t->nlevels; l++) {
        uint32_t sib = i ^ 1u;
        if (sib < t->level_len[l]) {
            int rc = sdb_hashes_push(terms, t->nodes[t->level_off[l] + sib].b);
            if (rc) return rc;
        }
        i >>= 1;
    }
    return SEALDB_OK;
}

int sdb_htree_verify(const sdb_hashes *terms, uint32_t leaf, uint32_t width,
                     const uint8_t digest[SDB_HASH_LEN], const uint8_t root[SDB_HASH_LEN]) {
    if (!terms || width == 0 || leaf >= width || terms->n > 32) return SEALDB_TAMPERED;
    uint8_t c[SDB_HASH_LEN];
    uint32_t i = leaf, r = width - 1;
    sdb_hash_leaf(digest, SDB_HASH_LEN, c);
    for (size_t k = 0; k < terms->n; k++) {
        if ((i & 1) == 0 && i != r) sdb_hash_node(c, terms->h[k].b, c);
        else sdb_hash_node(terms->h[k].b, c, c);
        i >>= 1;
        r >>= 1;
    }
    if (i != r || memcmp(c, root, SDB_HASH_LEN) != 0) return SEALDB_TAMPERED;
    return SEALDB_OK;
}

int sdb_htree_path(sdb_mpath *p, const sdb_hashes *terms, uint32_t leaf, uint32_t width,
                   const uint8_t digest[SDB_HASH_LEN], const uint8_t root[SDB_HASH_LEN]) {
    if (!terms || width == 0 || leaf >= width || terms->n > 32) return SEALDB_TAMPERED;
    p->terms = terms;
    p->a = leaf;
    p->b = width - 1;
    p->root = root;
    p->exact = 1;
    sdb_hash_leaf(digest, SDB_HASH_LEN, p->c);
    return SEALDB_OK;
}

uint64_t sdb_htree_block_len(uint32_t width) {
    uint64_t total = 0, len = width;
    if (width < 2) return 0;
    for (;;) {
        total += len;
        if (len == 1) break;
        len = (len + 1) / 2;
    }
    return (total - 1) * SDB_HASH_LEN;
}

int sdb_htree_check_block(const uint8_t *blk, uint32_t width, const uint8_t eh[SDB_HASH_LEN]) {
    if (width < 2) return SEALDB_INVALID;
    const uint8_t *prev = blk;
    uint32_t plen = width;
    while (plen > 1) {
        uint32_t clen = (plen + 1) / 2;
        const uint8_t *cur = prev + (size_t)plen * SDB_HASH_LEN;
        for (uint32_t k = 0; k < clen; k++) {
            uint8_t h[SDB_HASH_LEN];
            const uint8_t *l = prev + (size_t)(2 * k) * SDB_HASH_LEN;
            if (2 * k + 1 < plen) sdb_hash_node(l, l + SDB_HASH_LEN, h);
            else memcpy(h, l, SDB_HASH_LEN);   /* carried up unchanged */
            /* the root (clen == 1 at the top) is not stored: compare it with eH */
            const uint8_t *want = clen == 1 ? eh : cur + (size_t)k * SDB_HASH_LEN;
            if (memcmp(h, want, SDB_HASH_LEN)) return SEALDB_TAMPERED;
        }
        prev = cur;
        plen = clen;
    }
    return SEALDB_OK;
}
