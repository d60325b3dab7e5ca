/* bench_index.c - throughput of the key index (LSM): catch-up indexing of 1,000,000 random 32-byte
 * keys in batches of 100,000 entries (as the engine's indexer does), then random latest-version
 * gets of those keys, one snapshot per get, and the same with a snapshot reused for 1000 gets.
 * Prints "bench index.<name>: <n> <unit>" lines. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include "index/index.h"

#define NKEYS 1000000u
#define BATCH 100000u
#define KLEN 32u

static double secs_since(uint64_t t0) { return (double)(sdb_now_ns() - t0) / 1e9; }
/* CPU seconds of this thread: on a shared, overloaded machine the wall-clock figures understate
 * the index, so each phase also prints a per-CPU-second figure. */
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }

static void die(const char *what, int rc) {
    fprintf(stderr, "bench_index: %s failed: %s\n", what, sealdb_errname(rc));
    exit(1);
}

int main(void) {
    char dir[] = "/tmp/sdb-bench-index-XXXXXX";
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    char ixdir[64];
    snprintf(ixdir, sizeof ixdir, "%s/index", dir);
    uint8_t *keys = malloc((size_t)NKEYS * KLEN);
    if (!keys) return 1;
    for (size_t i = 0; i < (size_t)NKEYS * KLEN; i += 8) {
        uint64_t r = rnd();
        memcpy(keys + i, &r, 8);
    }
    sdb_index *ix;
    int rc = sdb_index_open(ixdir, NULL, &ix);
    if (rc) die("open", rc);

    /* one tx per 100 entries, like a stream of small commits being caught up */
    uint64_t t0 = sdb_now_ns();
    double c0 = cpu_now();
    for (uint32_t base = 0; base < NKEYS; base += BATCH) {
        sdb_index_batch *b;
        if ((rc = sdb_index_batch_begin(ix, &b))) die("batch_begin", rc);
        for (uint32_t i = base; i < base + BATCH; i++) {
            sdb_index_ver v = { 0 };
            v.tx_id = i / 100 + 1;
            v.entry_idx = i % 100;
            v.val_off = (uint64_t)i * 64;
            v.val_len = 32;
            if ((rc = sdb_index_batch_put(b, sdb_slice_of(keys + (size_t)i * KLEN, KLEN), &v))) die("put", rc);
        }
        if ((rc = sdb_index_batch_commit(b, (base + BATCH - 1) / 100 + 1))) die("commit", rc);
    }
    double s = secs_since(t0);
    printf("bench index.put_batch: %.0f entries/s\n", NKEYS / s);
    printf("bench index.put_batch_cpu: %.0f entries/cpu-s\n", NKEYS / (cpu_now() - c0));

    /* second version of 10% of the keys (updates of existing keys) */
    t0 = sdb_now_ns();
    c0 = cpu_now();
    sdb_index_batch *b;
    if ((rc = sdb_index_batch_begin(ix, &b))) die("batch_begin", rc);
    for (uint32_t i = 0; i < NKEYS / 10; i++) {
        uint32_t k = (uint32_t)(rnd() % NKEYS);
        sdb_index_ver v = { 0 };
        v.tx_id = NKEYS / 100 + 1 + i;   /* one entry per tx: a key may be drawn twice */
        if ((rc = sdb_index_batch_put(b, sdb_slice_of(keys + (size_t)k * KLEN, KLEN), &v))) die("put", rc);
    }
    if ((rc = sdb_index_batch_commit(b, NKEYS / 100 + NKEYS / 10))) die("commit", rc);
    s = secs_since(t0);
    printf("bench index.put_update: %.0f entries/s\n", (NKEYS / 10) / s);
    printf("bench index.put_update_cpu: %.0f entries/cpu-s\n", (NKEYS / 10) / (cpu_now() - c0));

    const uint32_t ngets = 2000000;
    uint64_t found = 0;
    t0 = sdb_now_ns();
    c0 = cpu_now();
    for (uint32_t i = 0; i < ngets; i++) {
        sdb_index_snap *sn;
        if ((rc = sdb_index_snap_begin(ix, &sn))) die("snap", rc);
        sdb_index_ver v;
        uint32_t k = (uint32_t)(rnd() % NKEYS);
        if (sdb_index_get_latest(sn, sdb_slice_of(keys + (size_t)k * KLEN, KLEN), 0, &v, NULL) == SEALDB_OK) found++;
        sdb_index_snap_end(sn);
    }
    s = secs_since(t0);
    if (found != ngets) { fprintf(stderr, "bench_index: %llu of %u keys found\n", (unsigned long long)found, ngets); return 1; }
    printf("bench index.get: %.0f ops/s\n", ngets / s);
    printf("bench index.get_cpu: %.0f ops/cpu-s\n", ngets / (cpu_now() - c0));

    t0 = sdb_now_ns();
    c0 = cpu_now();
    for (uint32_t i = 0; i < ngets; i += 1000) {
        sdb_index_snap *sn;
        if ((rc = sdb_index_snap_begin(ix, &sn))) die("snap", rc);
        for (uint32_t j = 0; j < 1000; j++) {
            sdb_index_ver v;
            uint32_t k = (uint32_t)(rnd() % NKEYS);
            if ((rc = sdb_index_get_latest(sn, sdb_slice_of(keys + (size_t)k * KLEN, KLEN), 0, &v, NULL))) die("get", rc);
        }
        sdb_index_snap_end(sn);
    }
    s = secs_since(t0);
    printf("bench index.get_same_snapshot: %.0f ops/s\n", ngets / s);
    printf("bench index.get_same_snapshot_cpu: %.0f ops/cpu-s\n", ngets / (cpu_now() - c0));

    sdb_index_close(ix);
    sdb_index_destroy(ixdir);
    rmdir(dir);
    free(keys);
    return 0;
}
