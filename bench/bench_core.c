/* bench_core.c - throughput of the crypto core: SHA-256 on 64 bytes, htree of 1000 entries,
 * the node and leaf hashes, file-backed ahtree appends, and dual proofs built and verified over a 1,000,000-tx synthetic
 * chain (file-backed ahtree, random s < t). Prints "bench core.<name>: <n> <unit>" lines. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "crypto/crypto.h"

#define CHAIN_TXS 1000000u

static double secs_since(uint64_t t0) { return (double)(sdb_now_ns() - t0) / 1e9; }

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static uint64_t rnd(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }

static void die(const char *what, int rc) {
    fprintf(stderr, "bench_core: %s failed: %s\n", what, sealdb_errname(rc));
    exit(1);
}

/* A synthetic valid v1 chain kept compact: per tx only its Alh and blRoot; eH = H(u64(id)). */
typedef struct chain { sdb_hash *alh, *bl_root; } chain;
static void synth_header(const chain *c, uint64_t id, sdb_tx_header *h) {
    uint8_t idb[8];
    h->id = id;
    memcpy(h->prev_alh.b, id == 1 ? sdb_hash_empty.b : c->alh[id - 2].b, 32);
    h->ts = 1700000000 + (int64_t)id;
    h->version = 1;
    h->md.truncated_tx_id = 0;
    h->md.extra_len = 0;
    h->nentries = 1;
    sdb_put_u64be(idb, id);
    sdb_sha256(idb, 8, h->eh.b);
    h->bl_tx_id = id - 1;
    h->bl_root = c->bl_root[id - 1];
}
static int src_header(void *ctx, uint64_t id, sdb_tx_header *out) {
    if (id == 0 || id > CHAIN_TXS) return SEALDB_RANGE;
    synth_header(ctx, id, out);
    return SEALDB_OK;
}
static int src_alh(void *ctx, uint64_t id, uint8_t out[SDB_HASH_LEN]) {
    const chain *c = ctx;
    if (id == 0 || id > CHAIN_TXS) return SEALDB_RANGE;
    memcpy(out, c->alh[id - 1].b, 32);
    return SEALDB_OK;
}

int main(void) {
    char dir[] = "/tmp/sdb-bench-core-XXXXXX", path[256];
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    int rc;

    /* SHA-256 of 64 bytes */
    {
        uint8_t buf[64] = { 1 }, out[32];
        uint64_t n = 0, t0 = sdb_now_ns();
        while (secs_since(t0) < 1.0) {
            for (int i = 0; i < 10000; i++) { sdb_sha256(buf, 64, out); buf[0] = out[0]; }
            n += 10000;
        }
        printf("bench core.sha256_64b: %.0f hashes/s\n", (double)n / secs_since(t0));
    }
    /* the 65-byte Merkle node hash (chained: each output feeds the next input), and the 33-byte leaf hash */
    {
        uint8_t l[32] = { 3 }, r[32] = { 5 };
        uint64_t n = 0, t0 = sdb_now_ns();
        while (secs_since(t0) < 1.0) {
            for (int i = 0; i < 10000; i++) sdb_hash_node(l, r, (i & 1) ? l : r);
            n += 10000;
        }
        printf("bench core.node_hash: %.0f hashes/s\n", (double)n / secs_since(t0));
        n = 0;
        t0 = sdb_now_ns();
        while (secs_since(t0) < 1.0) {
            for (int i = 0; i < 10000; i++) sdb_hash_leaf(l, 32, l);
            n += 10000;
        }
        printf("bench core.leaf_hash: %.0f hashes/s\n", (double)n / secs_since(t0));
    }
    /* htree of 1000 entry digests, memory reused */
    {
        sdb_hash d[1000];
        for (int i = 0; i < 1000; i++) sdb_sha256(&i, sizeof i, d[i].b);
        sdb_htree t;
        sdb_htree_init(&t);
        uint64_t n = 0, t0 = sdb_now_ns();
        while (secs_since(t0) < 1.0) {
            if ((rc = sdb_htree_build(&t, d, 1000))) die("htree_build", rc);
            n++;
        }
        printf("bench core.htree_build_1000: %.0f trees/s\n", (double)n / secs_since(t0));
        sdb_htree_deinit(&t);
    }
    /* file-backed ahtree appends (no fsync per append; one sync at the end is included) */
    {
        snprintf(path, sizeof path, "%s/append.aht", dir);
        sdb_ahtree *t;
        if ((rc = sdb_ahtree_open_file(path, &t))) die("ahtree_open_file", rc);
        uint8_t alh[32];
        memset(alh, 7, 32);
        const uint64_t n = 3000000;
        uint64_t t0 = sdb_now_ns();
        for (uint64_t i = 0; i < n; i++) {
            alh[i & 31] ^= (uint8_t)i;
            if ((rc = sdb_ahtree_append(t, alh, NULL))) die("ahtree_append", rc);
        }
        if ((rc = sdb_ahtree_sync(t))) die("ahtree_sync", rc);
        printf("bench core.ahtree_append: %.0f appends/s\n", (double)n / secs_since(t0));
        sdb_ahtree_close(t);
        unlink(path);
    }
    /* dual proofs at 1,000,000 leaves */
    {
        chain c;
        c.alh = malloc(CHAIN_TXS * sizeof(sdb_hash));
        c.bl_root = malloc(CHAIN_TXS * sizeof(sdb_hash));
        if (!c.alh || !c.bl_root) die("malloc", SEALDB_NOMEM);
        snprintf(path, sizeof path, "%s/chain.aht", dir);
        sdb_ahtree *t;
        if ((rc = sdb_ahtree_open_file(path, &t))) die("ahtree_open_file", rc);
        sdb_tx_header h;
        memset(&c.bl_root[0], 0, 32);
        for (uint64_t id = 1; id <= CHAIN_TXS; id++) {
            synth_header(&c, id, &h);
            if ((rc = sdb_tx_alh(&h, c.alh[id - 1].b))) die("tx_alh", rc);
            if ((rc = sdb_ahtree_append(t, c.alh[id - 1].b, id < CHAIN_TXS ? c.bl_root[id].b : NULL)))
                die("ahtree_append", rc);
        }
        if ((rc = sdb_ahtree_sync(t))) die("ahtree_sync", rc);
        sdb_tx_source src = { &c, src_header, src_alh };
        enum { NPAIRS = 20000 };
        static sdb_dual_proof proofs[64];
        uint64_t ss[64], ts[64];
        for (int i = 0; i < 64; i++) sdb_dual_proof_init(&proofs[i]);
        uint64_t t0 = sdb_now_ns(), n = 0;
        for (; n < NPAIRS; n++) {
            uint64_t a = 1 + rnd() % CHAIN_TXS, b = 1 + rnd() % CHAIN_TXS;
            if (a == b) b = a == CHAIN_TXS ? a - 1 : a + 1;
            uint64_t s = a < b ? a : b, tt = a < b ? b : a;
            if ((rc = sdb_dual_proof_build(&src, t, s, tt, &proofs[n % 64]))) die("dual_proof_build", rc);
            ss[n % 64] = s;
            ts[n % 64] = tt;
        }
        printf("bench core.dual_proof_build: %.0f proofs/s\n", (double)n / secs_since(t0));
        t0 = sdb_now_ns();
        for (n = 0; n < NPAIRS; n++) {
            int k = (int)(n % 64);
            if ((rc = sdb_dual_proof_verify(&proofs[k], ss[k], ts[k], c.alh[ss[k] - 1].b, c.alh[ts[k] - 1].b)))
                die("dual_proof_verify", rc);
        }
        printf("bench core.dual_proof_verify: %.0f proofs/s\n", (double)n / secs_since(t0));
        for (int i = 0; i < 64; i++) sdb_dual_proof_deinit(&proofs[i]);
        sdb_ahtree_close(t);
        unlink(path);
        free(c.alh);
        free(c.bl_root);
    }
    rmdir(dir);
    return 0;
}
