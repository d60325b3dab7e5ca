/* crash_engine.c - kill -9 crash test: a child commits from several threads and reports every
 * acknowledged tx through a pipe; the parent kills it at a random moment, reopens the database and
 * checks that every acknowledged tx is present with its content, nothing partial is visible, the
 * whole history verifies, and writing continues. The key index runs with its smallest memtable and
 * a bulk writer fills it, so kills land during its flushes and merges too (the index must come back
 * from its manifest plus the journal tail, and verify against the journal). Usage: crash_engine
 * [rounds] (default 50). */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <stdint.h>
#include <unistd.h>
#include "engine/engine.h"

typedef struct ack { uint64_t id; char key[40]; } ack;

static int wfd;
static sdb_engine *E;
static int round_no;

static void value_of(const char *key, char *out, size_t n) {
    snprintf(out, n, "v:%s:%zu", key, strlen(key) * 7919u);
}

static void *child_writer(void *arg) {
    int t = (int)(intptr_t)arg;
    for (int i = 0;; i++) {
        ack a;
        char v[96];
        memset(&a, 0, sizeof a);
        snprintf(a.key, sizeof a.key, "r%d-t%d-%d", round_no, t, i);
        value_of(a.key, v, sizeof v);
        sdb_kv kv[2] = { { .key = sdb_slice_str(a.key), .value = sdb_slice_str(v) },
                         { .key = sdb_slice_str("shared"), .value = sdb_slice_str(a.key) } };
        sdb_commit_result r;
        int rc = sdb_engine_commit_sync(E, kv, 1 + (size_t)(i & 1), NULL, 0, &r, NULL);
        if (rc) { fprintf(stderr, "child commit: %s\n", sealdb_strerror(rc)); _exit(3); }
        a.id = r.hdr.id;
        if (write(wfd, &a, sizeof a) != (ssize_t)sizeof a) _exit(4);
    }
    return NULL;
}

/* Bulk writer: 500-key txs (not reported; verify checks them through the index). */
static void *child_bulk(void *arg) {
    static sdb_kv kv[500];
    static char keys[500][40];
    for (int i = 0;; i++) {
        for (int j = 0; j < 500; j++) {
            snprintf(keys[j], sizeof keys[j], "bulk-%d-%d-%d", round_no, i, j);
            kv[j] = (sdb_kv){ .key = sdb_slice_str(keys[j]), .value = sdb_slice_str("bulk value") };
        }
        sdb_commit_result r;
        int rc = sdb_engine_commit_sync(E, kv, 500, NULL, 0, &r, NULL);
        if (rc) { fprintf(stderr, "child bulk commit: %s\n", sealdb_strerror(rc)); _exit(3); }
    }
    return NULL;
}

#define MEMTABLE_MIN (1u << 20)   /* the key index's smallest memtable: flushes every few ms */

static int child(const char *dir) {
    sdb_engine_opts o;
    sdb_engine_opts_default(&o);
    o.segment_size = 256u << 10;
    o.index_memtable_bytes = MEMTABLE_MIN;
    int rc = sdb_engine_open(dir, &o, &E);
    if (rc) { fprintf(stderr, "child open: %s %s\n", sealdb_strerror(rc), sdb_engine_last_open_error()); return 2; }
    pthread_t th[5];
    for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, child_writer, (void *)(intptr_t)i);
    pthread_create(&th[4], NULL, child_bulk, NULL);
    for (;;) pause();
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 50;
    char dir[256];
    snprintf(dir, sizeof dir, "/tmp/sdb-crash-%d", (int)getpid());
    int passed = 0, failed = 0;
    ack *acks = NULL;
    size_t nacks = 0, cap = 0;
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    for (int r = 0; r < rounds; r++) {
        int p[2];
        if (pipe(p)) return 1;
        round_no = r;
        pid_t pid = fork();
        if (pid == 0) {
            close(p[0]);
            wfd = p[1];
            _exit(child(dir));
        }
        close(p[1]);
        struct timespec ts = { 0, (long)(5 + rand() % 60) * 1000000L };
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
        int ok = 1;
        if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)) { fprintf(stderr, "round %d: child exited early (%d)\n", r, st); ok = 0; }
        ack a;
        ssize_t got;
        while ((got = read(p[0], &a, sizeof a)) == (ssize_t)sizeof a) {
            if (nacks == cap) { cap = cap ? cap * 2 : 1024; acks = realloc(acks, cap * sizeof *acks); }
            acks[nacks++] = a;
        }
        close(p[0]);
        /* reopen and check every acknowledged tx so far */
        sdb_engine *e = NULL;
        sdb_engine_opts o;
        sdb_engine_opts_default(&o);
        o.segment_size = 256u << 10;
        o.index_memtable_bytes = MEMTABLE_MIN;
        int rc = sdb_engine_open(dir, &o, &e);
        if (rc) { fprintf(stderr, "round %d: reopen: %s\n", r, sdb_engine_last_open_error()); ok = 0; }
        if (e) {
            uint64_t last = sdb_engine_last_tx(e);
            sdb_tx t;
            sdb_tx_init(&t);
            for (size_t i = 0; i < nacks && ok; i++) {
                if (acks[i].id > last) { fprintf(stderr, "round %d: acked tx %" PRIu64 " lost (last %" PRIu64 ")\n", r, acks[i].id, last); ok = 0; break; }
                if (sdb_engine_tx_read(e, acks[i].id, 1, &t)) { fprintf(stderr, "round %d: tx %" PRIu64 " unreadable\n", r, acks[i].id); ok = 0; break; }
                char v[96];
                value_of(acks[i].key, v, sizeof v);
                if (!t.nentries || t.entries[0].key.len != strlen(acks[i].key) ||
                    memcmp(t.entries[0].key.ptr, acks[i].key, t.entries[0].key.len) ||
                    t.entries[0].value.len != strlen(v) || memcmp(t.entries[0].value.ptr, v, strlen(v))) {
                    fprintf(stderr, "round %d: tx %" PRIu64 " content differs\n", r, acks[i].id); ok = 0;
                }
            }
            /* nothing partial: every tx up to last is whole (values and hashes check), and each of
             * its entries proves against eH from the (recovered) htree node file */
            sdb_hashes terms;
            sdb_hashes_init(&terms);
            for (uint64_t id = last > 50 ? last - 50 : 1; id <= last && ok; id++) {
                if (sdb_engine_tx_read(e, id, 1, &t)) { fprintf(stderr, "round %d: tx %" PRIu64 " partial\n", r, id); ok = 0; break; }
                for (uint32_t j = 0; j < t.nentries && ok; j++) {
                    uint8_t d[32];
                    uint32_t w;
                    if (sdb_entry_digest(t.hdr.version, t.entries[j].key, t.entries[j].md_bytes, t.entries[j].hvalue.b, d) ||
                        sdb_engine_inclusion_proof(e, id, j, t.hdr.eh.b, &terms, &w) ||
                        sdb_htree_verify(&terms, j, w, d, t.hdr.eh.b)) {
                        fprintf(stderr, "round %d: tx %" PRIu64 " entry %u: inclusion proof fails\n", r, id, j); ok = 0;
                    }
                }
            }
            sdb_hashes_deinit(&terms);
            sdb_tx_deinit(&t);
            /* the key index (derived, rebuilt as needed) finds the acknowledged keys */
            for (size_t i = nacks > 20 ? nacks - 20 : 0; i < nacks && ok; i++) {
                sdb_kv_version kv;
                sdb_kv_version_init(&kv);
                if (sdb_engine_get(e, sdb_slice_str(acks[i].key), NULL, &kv) || kv.tx_id != acks[i].id) {
                    fprintf(stderr, "round %d: key %s not found through the index\n", r, acks[i].key); ok = 0;
                }
                sdb_kv_version_deinit(&kv);
            }
            /* writing continues */
            sdb_kv kv = { .key = sdb_slice_str("after-crash"), .value = sdb_slice_str("x") };
            sdb_commit_result res;
            if (sdb_engine_commit_sync(e, &kv, 1, NULL, 0, &res, NULL) || res.hdr.id != last + 1) {
                fprintf(stderr, "round %d: write after reopen failed\n", r); ok = 0;
            }
            sdb_engine_close(e);
        }
        if (ok && (r % 10 == 9 || r == rounds - 1) && sdb_verify_dir(dir, NULL) != 0) { sdb_verify_dir(dir, stderr); ok = 0; }
        if (ok) passed++; else failed++;
    }
    /* the index was flushed and merged under the kills (its run files, listed before cleanup) */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls '%s/index' | grep -c '^run-' | sed 's/^/crash_engine: index runs now: /'", dir);
    if (system(cmd) != 0) fprintf(stderr, "crash_engine: no index runs\n");
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (!failed && system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
    printf("crash_engine: %d passed, %d failed (%zu acknowledged txs checked)\n", passed, failed, nacks);
    free(acks);
    return failed ? 1 : 0;
}
