/* bench_engine.c - engine benchmarks (make bench): batched and single-entry durable writes, index
 * catch-up, get and verified get, reopen after kill -9 of a 1M-tx database, peak RSS, and the same
 * batched load on SQLite (WAL, synchronous=FULL, SHA-256 column) for comparison.
 * 32-byte random keys, 64-byte values. Prints "bench <name>: <number> <unit>".
 * BENCH_SCALE (env, default 1.0) scales the entry counts down for quick runs; BENCH_ONLY_BATCH stops
 * after the batched run, BENCH_ONLY_GET after get and verified get (for profiling one phase). */
#include <inttypes.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "engine/engine.h"
#include "index/index.h"
#include "benchlib.h"

/* CPU seconds used by the whole process / by the calling thread: wall-clock figures are noisy on
 * a shared machine, CPU per operation is not. */
static double cpu_s(clockid_t c) {
    struct timespec ts;
    clock_gettime(c, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(uint64_t *s) {   /* splitmix64 */
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
/* key i: 32 pseudo-random bytes determined by i, so readers can regenerate keys */
static void key_of(uint64_t i, uint8_t k[32]) {
    uint64_t s = i * 0x632BE59BD9B4E019ull + 1;
    for (int j = 0; j < 4; j++) { uint64_t r = rnd(&s); memcpy(k + 8 * j, &r, 8); }
}
static void val_of(uint64_t i, uint8_t v[64]) {
    uint64_t s = i ^ 0xA5A5A5A5ull;
    for (int j = 0; j < 8; j++) { uint64_t r = rnd(&s); memcpy(v + 8 * j, &r, 8); }
}

static char base[256];
static double scale = 1.0;

static sdb_engine *open_at(const char *name, int sync, sdb_engine_opts *oo) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", base, name);
    sdb_engine_opts o;
    sdb_engine_opts_default(&o);
    o.sync = sync;
    if (oo) *oo = o;
    sdb_engine *e = NULL;
    int rc = sdb_engine_open(p, &o, &e);
    if (rc) { fprintf(stderr, "open %s: %s %s\n", p, sealdb_strerror(rc), sdb_engine_last_open_error()); exit(1); }
    return e;
}

/* ---- batched writes ---- */
typedef struct { sem_t *inflight; atomic_int *errors; } acb;
static void async_done(void *arg, int rc, const sdb_commit_result *res, size_t fp) {
    acb *a = arg;
    if (rc) atomic_fetch_add(a->errors, 1);
    sem_post(a->inflight);
}
typedef struct { sdb_engine *e; uint64_t first_tx, ntx; } batch_arg;
static atomic_int batch_errors;
static void *batch_writer(void *p) {
    batch_arg *a = p;
    sem_t inflight;
    sem_init(&inflight, 0, 32);
    acb cb = { &inflight, &batch_errors };
    sdb_kv *kvs = calloc(1000, sizeof *kvs);
    uint8_t (*keys)[32] = malloc(1000 * 32), (*vals)[64] = malloc(1000 * 64);
    for (uint64_t t = a->first_tx; t < a->first_tx + a->ntx; t++) {
        for (int i = 0; i < 1000; i++) {
            uint64_t n = t * 1000 + (uint64_t)i;
            key_of(n, keys[i]);
            val_of(n, vals[i]);
            kvs[i] = (sdb_kv){ .key = sdb_slice_of(keys[i], 32), .value = sdb_slice_of(vals[i], 64) };
        }
        sem_wait(&inflight);
        if (sdb_engine_commit(a->e, kvs, 1000, NULL, 0, async_done, &cb)) { atomic_fetch_add(&batch_errors, 1); sem_post(&inflight); }
    }
    for (int i = 0; i < 32; i++) sem_wait(&inflight);
    free(kvs); free(keys); free(vals);
    return NULL;
}

/* The parts of the current RSS (after the batched run): anonymous memory (heap, the key index's
 * memtables) and shared file pages (mapped journal, tx index, index run files); rss_mb above is
 * the peak of their sum. */
static void print_rss_parts(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return;
    char line[256];
    double anon = -1, file = -1;
    while (fgets(line, sizeof line, f)) {
        unsigned long kb;
        if (sscanf(line, "RssAnon: %lu kB", &kb) == 1) anon = (double)kb / 1024.0;
        else if (sscanf(line, "RssFile: %lu kB", &kb) == 1) file = (double)kb / 1024.0;
    }
    fclose(f);
    if (anon >= 0) printf("bench engine.rss_anon_now_mb: %.1f MB\n", anon);
    if (file >= 0) printf("bench engine.rss_file_now_mb: %.1f MB\n", file);
}

static uint64_t batch_entries;
static sdb_engine *bench_batch(void) {
    sdb_engine *e = open_at("batch", 1, NULL);
    uint64_t ntx = (uint64_t)(1000 * scale);
    if (ntx < 4) ntx = 4;
    double t0 = now_s(), c0 = cpu_s(CLOCK_PROCESS_CPUTIME_ID);
    pthread_t th[2];
    batch_arg ba[2] = { { e, 0, ntx / 2 }, { e, ntx / 2, ntx - ntx / 2 } };
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, batch_writer, &ba[i]);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    double t1 = now_s();
    sdb_engine_wait_indexed(e, sdb_engine_last_tx(e), -1);
    double t2 = now_s(), c2 = cpu_s(CLOCK_PROCESS_CPUTIME_ID);
    batch_entries = ntx * 1000;
    if (atomic_load(&batch_errors)) fprintf(stderr, "batch: %d errors\n", atomic_load(&batch_errors));
    printf("bench engine.write_batch1000: %.0f entries/s\n", (double)batch_entries / (t1 - t0));
    printf("bench engine.index_catchup: %.0f entries/s\n", (double)batch_entries / (t2 - t0));
    /* all threads (writers, committer, indexer, preallocation) until the index caught up */
    printf("bench engine.write_batch1000_cpu: %.0f entries/cpu-s\n", (double)batch_entries / (c2 - c0));
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("bench engine.rss_mb: %.1f MB\n", (double)ru.ru_maxrss / 1024.0);
    print_rss_parts();
    /* the key index on disk per version, once its memtable is written out */
    uint64_t ib = 0, iv = 0, im = 0;
    if (!sdb_engine_flush_index(e)) {
        sdb_engine_index_usage(e, &ib, &iv, &im);
        if (iv) printf("bench engine.index_bytes_per_entry: %.1f bytes\n", (double)ib / (double)iv);
    }
    fflush(stdout);
    return e;
}

/* ---- single-entry txs from 64 threads ---- */
static _Atomic uint64_t single_next;
static uint64_t single_total;
static double *lat_us;
static void *single_writer(void *p) {
    sdb_engine *e = p;
    uint8_t k[32], v[64];
    for (;;) {
        uint64_t n = atomic_fetch_add(&single_next, 1);
        if (n >= single_total) break;
        key_of(n + 5000000000ull, k);
        val_of(n, v);
        sdb_kv kv = { .key = sdb_slice_of(k, 32), .value = sdb_slice_of(v, 64) };
        double t0 = now_s();
        if (sdb_engine_commit_sync(e, &kv, 1, NULL, 0, NULL, NULL)) { fprintf(stderr, "single commit failed\n"); exit(1); }
        lat_us[n] = (now_s() - t0) * 1e6;
    }
    return NULL;
}
static void bench_single(void) {
    sdb_engine *e = open_at("single", 1, NULL);
    single_total = (uint64_t)(200000 * scale);
    if (single_total < 1000) single_total = 1000;
    lat_us = calloc(single_total, sizeof *lat_us);
    pthread_t th[64];
    double t0 = now_s();
    for (int i = 0; i < 64; i++) pthread_create(&th[i], NULL, single_writer, e);
    for (int i = 0; i < 64; i++) pthread_join(th[i], NULL);
    double t1 = now_s();
    qsort(lat_us, single_total, sizeof *lat_us, cmp_double);
    printf("bench engine.write_single_c64: %.0f tx/s\n", (double)single_total / (t1 - t0));
    printf("bench engine.commit_p50_us: %.0f us\n", lat_us[single_total / 2]);
    printf("bench engine.commit_p99_us: %.0f us\n", lat_us[single_total * 99 / 100]);
    fflush(stdout);
    free(lat_us);
    sdb_engine_close(e);
}

/* ---- get and verified get on the batched database ---- */
typedef struct { sdb_engine *e; int verified; double secs; uint64_t ops; int seed; double cpu; } get_arg;
static void *getter(void *p) {
    get_arg *a = p;
    uint64_t s = (uint64_t)a->seed * 7919 + 1;
    sdb_kv_version v;
    sdb_kv_version_init(&v);
    sdb_get_opts o = { .no_wait = 1 };
    uint64_t last = sdb_engine_last_tx(a->e);
    uint64_t trusted = last > 1000 ? last - 1000 : 1;
    uint8_t alh_t[32], alh_last[32];
    sdb_tx_header h;
    sdb_engine_tx_header(a->e, trusted, &h, alh_t);
    sdb_engine_tx_header(a->e, last, &h, alh_last);
    sdb_hashes terms;
    sdb_hashes_init(&terms);
    double end = now_s() + a->secs, c0 = cpu_s(CLOCK_THREAD_CPUTIME_ID);
    uint64_t ops = 0;
    while ((ops & 255) || now_s() < end) {
        uint64_t n = rnd(&s) % batch_entries;
        uint8_t k[32];
        key_of(n, k);
        if (sdb_engine_get(a->e, sdb_slice_of(k, 32), &o, &v)) { fprintf(stderr, "get failed\n"); exit(1); }
        if (a->verified) {
            uint32_t w; uint8_t d[32];
            sdb_tx_header th;
            uint8_t md[1] = { 0 };
            if (sdb_engine_tx_header(a->e, v.tx_id, &th, NULL) ||
                sdb_entry_digest(th.version, sdb_buf_slice(&v.key), sdb_slice_of(md, 0), v.hvalue.b, d)) exit(1);
            terms.n = 0;
            sdb_mpath entry;   /* checked with the dual proof, as the client's sdb_verify_get does */
            if (sdb_engine_inclusion_proof(a->e, v.tx_id, v.entry_idx, th.eh.b, &terms, &w) ||
                sdb_htree_path(&entry, &terms, v.entry_idx, w, d, th.eh.b)) { fprintf(stderr, "inclusion failed\n"); exit(1); }
            sdb_dual_proof dp;
            sdb_dual_proof_init(&dp);
            if (sdb_engine_dual_proof(a->e, trusted, last, &dp) ||
                sdb_dual_proof_verify_with(&dp, trusted, last, alh_t, alh_last, &entry)) {
                fprintf(stderr, "dual proof failed\n"); exit(1);
            }
            sdb_dual_proof_deinit(&dp);
        }
        ops++;
    }
    a->ops = ops;
    a->cpu = cpu_s(CLOCK_THREAD_CPUTIME_ID) - c0;
    sdb_hashes_deinit(&terms);
    sdb_kv_version_deinit(&v);
    return NULL;
}
static void bench_get(sdb_engine *e, int verified) {
    pthread_t th[2];
    get_arg ga[2];
    double t0 = now_s();
    for (int i = 0; i < 2; i++) { ga[i] = (get_arg){ e, verified, 2.0, 0, i + 1, 0 }; pthread_create(&th[i], NULL, getter, &ga[i]); }
    uint64_t ops = 0;
    double cpu = 0;
    for (int i = 0; i < 2; i++) { pthread_join(th[i], NULL); ops += ga[i].ops; cpu += ga[i].cpu; }
    double t1 = now_s();
    printf("bench engine.%s: %.0f ops/s\n", verified ? "verified_get" : "get", (double)ops / (t1 - t0));
    printf("bench engine.%s_cpu: %.0f ops/cpu-s\n", verified ? "verified_get" : "get", (double)ops / cpu);
    fflush(stdout);
}

/* ---- reopen a 1M-tx database after kill -9 ---- */
static void *reopen_writer(void *p) {
    sdb_engine *e = p;
    uint8_t k[32], v[64];
    for (;;) {
        uint64_t n = atomic_fetch_add(&single_next, 1);
        if (n >= single_total) break;
        key_of(n + 9000000000ull, k);
        val_of(n, v);
        sdb_kv kv = { .key = sdb_slice_of(k, 32), .value = sdb_slice_of(v, 64) };
        if (sdb_engine_commit_sync(e, &kv, 1, NULL, 0, NULL, NULL)) _exit(2);
    }
    return NULL;
}
static void bench_reopen(void) {
    uint64_t ntx = (uint64_t)(1000000 * scale);
    if (ntx < 1000) ntx = 1000;
    int pfd[2];
    if (pipe(pfd)) exit(1);
    pid_t pid = fork();
    if (pid == 0) {
        sdb_engine *e = open_at("reopen", 0, NULL);   /* sync off to build it quickly; the test is the open */
        single_total = ntx;
        atomic_store(&single_next, 0);
        pthread_t th[64];
        for (int i = 0; i < 64; i++) pthread_create(&th[i], NULL, reopen_writer, e);
        for (int i = 0; i < 64; i++) pthread_join(th[i], NULL);
        sdb_engine_wait_indexed(e, sdb_engine_last_tx(e), -1);
        if (write(pfd[1], "x", 1) != 1) _exit(3);
        for (;;) pause();
    }
    char c;
    if (read(pfd[0], &c, 1) != 1) { fprintf(stderr, "reopen child failed\n"); return; }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    double t0 = now_s();
    sdb_engine *e = open_at("reopen", 1, NULL);
    double t1 = now_s();
    if (sdb_engine_last_tx(e) < ntx) fprintf(stderr, "reopen: only %" PRIu64 " txs\n", sdb_engine_last_tx(e));
    printf("bench engine.reopen_1m_ms: %.1f ms (%" PRIu64 " txs)\n", (t1 - t0) * 1e3, sdb_engine_last_tx(e));
    fflush(stdout);
    sdb_engine_close(e);
}

/* ---- the key index rebuilt from the journal (its directory deleted) ---- */
static void bench_index_rebuild(void) {
    char p[600];
    snprintf(p, sizeof p, "%s/batch/index", base);
    if (sdb_index_destroy(p)) { fprintf(stderr, "index rebuild: cannot delete %s\n", p); return; }
    double t0 = now_s();
    sdb_engine *e = open_at("batch", 1, NULL);
    if (sdb_engine_wait_indexed(e, sdb_engine_last_tx(e), -1)) fprintf(stderr, "index rebuild failed\n");
    double t1 = now_s();
    printf("bench engine.index_rebuild: %.0f entries/s\n", (double)batch_entries / (t1 - t0));
    fflush(stdout);
    sdb_engine_close(e);
}

/* ---- SQLite comparison ---- */
static void bench_sqlite(void) {
    char p[512];
    snprintf(p, sizeof p, "%s/sqlite.db", base);
    sqlite3 *db;
    if (sqlite3_open(p, &db) != SQLITE_OK) { fprintf(stderr, "sqlite open failed\n"); return; }
    sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                     "CREATE TABLE kv(id INTEGER PRIMARY KEY, k BLOB NOT NULL, v BLOB NOT NULL, h BLOB NOT NULL);",
                 NULL, NULL, NULL);
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db, "INSERT INTO kv(k, v, h) VALUES (?, ?, ?)", -1, &st, NULL);
    uint64_t ntx = (uint64_t)(1000 * scale);
    if (ntx < 4) ntx = 4;
    double t0 = now_s();
    for (uint64_t t = 0; t < ntx; t++) {
        sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
        for (int i = 0; i < 1000; i++) {
            uint8_t k[32], v[64], h[32];
            uint64_t n = t * 1000 + (uint64_t)i;
            key_of(n, k);
            val_of(n, v);
            sdb_sha256(v, 64, h);
            sqlite3_bind_blob(st, 1, k, 32, SQLITE_TRANSIENT);
            sqlite3_bind_blob(st, 2, v, 64, SQLITE_TRANSIENT);
            sqlite3_bind_blob(st, 3, h, 32, SQLITE_TRANSIENT);
            if (sqlite3_step(st) != SQLITE_DONE) { fprintf(stderr, "sqlite insert failed\n"); exit(1); }
            sqlite3_reset(st);
        }
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    }
    double t1 = now_s();
    sqlite3_finalize(st);
    sqlite3_close(db);
    printf("bench engine.sqlite_batch1000: %.0f rows/s\n", (double)(ntx * 1000) / (t1 - t0));
    fflush(stdout);
}

int main(void) {
    const char *sc = getenv("BENCH_SCALE");
    if (sc) scale = atof(sc);
    if (scale <= 0) scale = 1.0;
    snprintf(base, sizeof base, "/tmp/sdb-bench-%d", (int)getpid());
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", base, base);
    if (system(cmd)) return 1;
    (void)rng_state;
    if (getenv("BENCH_ONLY_SINGLE")) { bench_single(); goto out; }   /* commit-path measurements alone */
    sdb_engine *e = bench_batch();
    if (getenv("BENCH_ONLY_BATCH")) { sdb_engine_close(e); goto out; }
    bench_get(e, 0);
    bench_get(e, 1);
    sdb_engine_close(e);
    bench_index_rebuild();
    if (getenv("BENCH_ONLY_GET")) goto out;
    bench_sqlite();
    bench_single();
    bench_reopen();
out:
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    if (system(cmd)) return 1;
    return 0;
}
