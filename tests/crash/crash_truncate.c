/* crash_truncate.c - kill -9 crash test of value truncation: a child commits 16 KiB values from two
 * threads while its main thread keeps truncating to a few txs below the last one, reporting every
 * acknowledged commit and every truncation point sdb_engine_truncate returned. The parent kills it
 * at a random moment (often between the point file and the discarding, or during the discarding),
 * reopens and checks: the point is at least the last acknowledged one, every tx below it answers
 * SEALDB_TRUNCATED for its values yet reads and proves its header and entries, every acknowledged tx
 * at or above it has its exact value, the discard was finished on open, the whole history verifies,
 * and writing and truncating continue. Usage: crash_truncate [rounds] (default 30). */
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "engine/engine_int.h"

#define VLEN 16384u

typedef struct msg { uint64_t id; uint64_t point; char key[40]; } msg;   /* point 0: a commit */

static int wfd;
static sdb_engine *E;
static int round_no;
static pthread_mutex_t wmu = PTHREAD_MUTEX_INITIALIZER;

static void value_of(const char *key, uint8_t *out) {
    size_t kl = strlen(key);
    for (unsigned i = 0; i < VLEN; i++) out[i] = (uint8_t)(key[i % kl] + i * 13);
}

static void report(const msg *m) {
    pthread_mutex_lock(&wmu);
    if (write(wfd, m, sizeof *m) != (ssize_t)sizeof *m) _exit(4);
    pthread_mutex_unlock(&wmu);
}

static void *child_writer(void *arg) {
    int t = (int)(intptr_t)arg;
    static __thread uint8_t v[VLEN];
    for (int i = 0;; i++) {
        msg m;
        memset(&m, 0, sizeof m);
        snprintf(m.key, sizeof m.key, "r%d-t%d-%d", round_no, t, i);
        value_of(m.key, v);
        sdb_kv kv = { .key = sdb_slice_str(m.key), .value = sdb_slice_of(v, VLEN) };
        sdb_commit_result r;
        int rc = sdb_engine_commit_sync(E, &kv, 1, NULL, 0, &r, NULL);
        if (rc) { fprintf(stderr, "child commit: %s\n", sealdb_strerror(rc)); _exit(3); }
        m.id = r.hdr.id;
        report(&m);
    }
    return NULL;
}

static sdb_engine_opts opts(void) {
    sdb_engine_opts o;
    sdb_engine_opts_default(&o);
    o.segment_size = 1u << 20;
    return o;
}

static int child(const char *dir) {
    sdb_engine_opts o = opts();
    int rc = sdb_engine_open(dir, &o, &E);
    if (rc) { fprintf(stderr, "child open: %s %s\n", sealdb_strerror(rc), sdb_engine_last_open_error()); return 2; }
    pthread_t th[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, child_writer, (void *)(intptr_t)i);
    for (;;) {
        uint64_t last = sdb_engine_last_tx(E);
        if (last > 8) {
            uint64_t p = last - 3 - (uint64_t)(rand() % 4);
            rc = sdb_engine_truncate(E, p);
            if (rc) { fprintf(stderr, "child truncate: %s\n", sealdb_strerror(rc)); _exit(5); }
            msg m = { .point = p };
            report(&m);
        }
        usleep(500);
    }
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 30;
    char dir[256];
    snprintf(dir, sizeof dir, "/tmp/sdb-crash-trunc-%d", (int)getpid());
    int passed = 0, failed = 0;
    msg *acks = NULL;
    size_t nacks = 0, cap = 0;
    uint64_t acked_point = 0;
    static uint8_t want[VLEN];
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    for (int r = 0; r < rounds; r++) {
        int p[2];
        if (pipe(p)) return 1;
        round_no = r;
        pid_t pid = fork();
        if (pid == 0) {
            close(p[0]);
            wfd = p[1];
            srand((unsigned)getpid());
            _exit(child(dir));
        }
        close(p[1]);
        struct timespec ts = { 0, (long)(20 + rand() % 80) * 1000000L };
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
        int ok = 1;
        if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)) { fprintf(stderr, "round %d: child exited early (%d)\n", r, st); ok = 0; }
        msg m;
        while (read(p[0], &m, sizeof m) == (ssize_t)sizeof m) {
            if (m.point) { if (m.point > acked_point) acked_point = m.point; continue; }
            if (nacks == cap) { cap = cap ? cap * 2 : 1024; acks = realloc(acks, cap * sizeof *acks); }
            acks[nacks++] = m;
        }
        close(p[0]);
        sdb_engine *e = NULL;
        sdb_engine_opts o = opts();
        int rc = sdb_engine_open(dir, &o, &e);
        if (rc) { fprintf(stderr, "round %d: reopen: %s\n", r, sdb_engine_last_open_error()); ok = 0; }
        if (e) {
            uint64_t last = sdb_engine_last_tx(e), point = sdb_engine_truncated_below(e);
            if (point < acked_point) { fprintf(stderr, "round %d: point %" PRIu64 " < acknowledged %" PRIu64 "\n", r, point, acked_point); ok = 0; }
            uint64_t fp = 0, fdone = 0;
            if (sdb_trunc_load(dir, &fp, &fdone) || fp != point || fdone != point) {
                fprintf(stderr, "round %d: discard not finished on open (point %" PRIu64 ", done %" PRIu64 ")\n", r, fp, fdone); ok = 0;
            }
            sdb_tx t;
            sdb_tx_init(&t);
            for (size_t i = 0; i < nacks && ok; i++) {
                uint64_t id = acks[i].id;
                if (id > last) { fprintf(stderr, "round %d: acked tx %" PRIu64 " lost\n", r, id); ok = 0; break; }
                rc = sdb_engine_tx_read(e, id, 1, &t);
                if (id < point) {
                    if (rc != SEALDB_TRUNCATED) { fprintf(stderr, "round %d: tx %" PRIu64 " below %" PRIu64 ": %s\n", r, id, point, sealdb_errname(rc)); ok = 0; }
                    if (nacks - i > 200) continue;   /* the headers of the newest ones are checked below */
                    if ((rc = sdb_engine_tx_read(e, id, 0, &t))) { fprintf(stderr, "round %d: tx %" PRIu64 " header: %s\n", r, id, sealdb_errname(rc)); ok = 0; }
                    continue;
                }
                value_of(acks[i].key, want);
                if (rc || !t.nentries || t.entries[0].value.len != VLEN || memcmp(t.entries[0].value.ptr, want, VLEN)) {
                    fprintf(stderr, "round %d: tx %" PRIu64 " content differs (%s)\n", r, id, sealdb_errname(rc)); ok = 0;
                }
            }
            /* every header and entry of the last txs proves against eH, truncated or not */
            sdb_hashes terms;
            sdb_hashes_init(&terms);
            for (uint64_t id = last > 30 ? last - 30 : 1; id <= last && ok; id++) {
                uint8_t d[32];
                uint32_t w;
                if (sdb_engine_tx_read(e, id, 0, &t) ||
                    sdb_entry_digest(t.hdr.version, t.entries[0].key, t.entries[0].md_bytes, t.entries[0].hvalue.b, d) ||
                    sdb_engine_inclusion_proof(e, id, 0, t.hdr.eh.b, &terms, &w) || sdb_htree_verify(&terms, 0, w, d, t.hdr.eh.b)) {
                    fprintf(stderr, "round %d: tx %" PRIu64 ": inclusion proof fails\n", r, id); ok = 0;
                }
            }
            sdb_hashes_deinit(&terms);
            sdb_tx_deinit(&t);
            sdb_scrub_stats ss;
            sdb_engine_scrub_stats(e, &ss);
            if (ss.failures) { fprintf(stderr, "round %d: the open-time check found damage\n", r); ok = 0; }
            sdb_kv kv = { .key = sdb_slice_str("after-crash"), .value = sdb_slice_str("x") };
            if (sdb_engine_commit_sync(e, &kv, 1, NULL, 0, NULL, NULL)) { fprintf(stderr, "round %d: write after reopen failed\n", r); ok = 0; }
            sdb_engine_close(e);
        }
        if (ok && (r % 10 == 9 || r == rounds - 1) && sdb_verify_dir(dir, NULL) != 0) { sdb_verify_dir(dir, stderr); ok = 0; }
        if (ok) passed++; else failed++;
    }
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (!failed && system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
    printf("crash_truncate: %d passed, %d failed (%zu acknowledged txs checked, truncated below tx %" PRIu64 ")\n",
           passed, failed, nacks, acked_point);
    free(acks);
    return failed ? 1 : 0;
}
