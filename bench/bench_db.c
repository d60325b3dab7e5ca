/* bench_db.c - the server's own work per Set entry, in process: a 1000-KV SetRequest read from its
 * wire bytes and made into an engine batch, in place (Set's path) and through protobuf-c's unpack
 * (the path of Sets with preconditions or metadata). Prints "bench db.<name>: <n> entries/cpu-s". */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "db/kv.h"

#define N 1000

static double cpu_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}
static void *arena_pb_alloc(void *a, size_t n) { return sdb_arena_alloc(a, n); }
static void arena_pb_free(void *a, void *p) { (void)a; (void)p; }

/* One request: 0 ok; mode 0 in place, 1 generic. */
static int prepare(sdb_kvdb *db, int mode, const uint8_t *req, size_t len) {
    sdb_arena a;
    sdb_arena_init(&a, 0);
    sdb_kv_batch b;
    sdb_kverr e;
    int rc;
    if (mode == 0) {
        sdb_setreq_it it;
        size_t n;
        rc = sdb_setreq_scan(sdb_slice_of(req, len), SIZE_MAX, &it, &n) || sdb_kv_prepare_set_plain(db, &a, &it, n, &b, &e);
    } else {
        ProtobufCAllocator pa = { arena_pb_alloc, arena_pb_free, &a };
        Immudb__Schema__SetRequest *r = immudb__schema__set_request__unpack(&pa, len, req);
        rc = !r || sdb_kv_prepare_set(db, &a, r, &b, &e);
    }
    rc = rc || b.n != N;
    sdb_arena_deinit(&a);
    return rc;
}

int main(void) {
    char dir[] = "/tmp/sdb-bench-db-XXXXXX";
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    sdb_kvdb *db = NULL;
    if (sdb_kvdb_open(dir, "defaultdb", NULL, &db)) { fprintf(stderr, "bench_db: open failed\n"); return 1; }
    static uint8_t keys[N][32], val[64], req[200000];
    static Immudb__Schema__KeyValue kvs[N];
    static Immudb__Schema__KeyValue *ptrs[N];
    uint64_t s = 12345;
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < 32; j++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            keys[i][j] = (uint8_t)(s >> 56);
        }
        Immudb__Schema__KeyValue kv = IMMUDB__SCHEMA__KEY_VALUE__INIT;
        kv.key.data = keys[i];
        kv.key.len = 32;
        kv.value.data = val;
        kv.value.len = 64;
        kvs[i] = kv;
        ptrs[i] = &kvs[i];
    }
    Immudb__Schema__SetRequest r = IMMUDB__SCHEMA__SET_REQUEST__INIT;
    r.kvs = ptrs;
    r.n_kvs = N;
    size_t len = immudb__schema__set_request__pack(&r, req);
    static const char *const names[] = { "db.set_prepare1000", "db.set_prepare1000_unpack" };
    for (int mode = 0; mode < 2; mode++) {
        uint64_t n = 0;
        double c0 = cpu_s();
        while (cpu_s() - c0 < 1.0) {
            for (int i = 0; i < 100; i++)
                if (prepare(db, mode, req, len)) { fprintf(stderr, "bench_db: prepare failed\n"); return 1; }
            n += 100;
        }
        printf("bench %s: %.0f entries/cpu-s\n", names[mode], (double)(n * N) / (cpu_s() - c0));
    }
    sdb_kvdb_close(db);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) != 0;
}
