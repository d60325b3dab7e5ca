/* test_engine_fault.c - a fault-injecting vfs under the engine: EIO/ENOSPC on the nth write, failed
 * fsync, short writes, and a crash after write N that drops every unsynced byte. After each fault:
 * the failing write reports its cause, the engine recovers in place on the next write (no reopen),
 * reopening recovers too, every acknowledged tx is there and verifies. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include "engine_check.h"
#include "testlib.h"
#include "engine/engine.h"
#include "util/file.h"
#include "storage/journal.h"

/* ---- the faulty vfs ---- */
typedef struct undo { char path[512]; uint64_t off; uint8_t *old; size_t n; uint64_t old_size; int trunc_only; } undo;
static struct {
    pthread_mutex_t mu;
    long writes;              /* pwrite calls so far */
    long fail_write_at;       /* 1-based; 0 = never */
    int fail_errno;
    int fail_all;             /* every write fails with fail_errno (a disk that stays full) */
    int fail_seg_open;        /* errno for every open of a journal segment (0 = none) */
    long fail_sync_at;        /* 1-based sync call; 0 = never */
    long syncs;
    int block_sync;           /* the next sync waits on cv until cleared (sync_blocked says it is there) */
    int sync_blocked;
    pthread_cond_t cv;
    int short_writes;
    long crash_after;         /* after this many writes everything fails (process "died") */
    char fail_path[32];       /* with fail_path_at: the nth write to a file whose path ends so fails */
    long fail_path_at, path_writes;
    int crashed;
    char paths[1024][512];    /* fd -> path */
    undo *u; size_t nu, cu;   /* unsynced writes, oldest first */
} F = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static const sdb_vfs *P;

static int f_open(const char *path, int flags, int mode, int *fd) {
    if (F.crashed) return SEALDB_IO;
    size_t pl = strlen(path);
    if (F.fail_seg_open && pl > 4 && !strcmp(path + pl - 4, ".seg")) return sdb_err_from_errno(F.fail_seg_open);
    int rc = P->open(path, flags, mode, fd);
    if (!rc && *fd < 1024) snprintf(F.paths[*fd], sizeof F.paths[0], "%s", path);
    return rc;
}
static int f_pread(int fd, void *b, size_t n, uint64_t off, size_t *got) { return P->pread(fd, b, n, off, got); }
static int f_pwrite(int fd, const void *b, size_t n, uint64_t off, size_t *put) {
    pthread_mutex_lock(&F.mu);
    int rc = SEALDB_OK;
    if (F.crashed) { rc = SEALDB_IO; goto out; }
    F.writes++;
    if ((F.fail_write_at && F.writes == F.fail_write_at) || F.fail_all) { rc = sdb_err_from_errno(F.fail_errno); goto out; }
    if (F.fail_path_at && fd < 1024) {
        size_t pl = strlen(F.paths[fd]), sl = strlen(F.fail_path);
        if (pl >= sl && !strcmp(F.paths[fd] + pl - sl, F.fail_path) && ++F.path_writes == F.fail_path_at) {
            rc = SEALDB_IO;
            goto out;
        }
    }
    if (F.crash_after && F.writes > F.crash_after) { F.crashed = 1; rc = SEALDB_IO; goto out; }
    if (F.short_writes && n > 1) n = n / 2 + 1;
    /* remember what was there, to drop this write at the crash if it is never synced */
    if (F.crash_after) {
        uint64_t sz = 0;
        P->size(fd, &sz);
        if (F.nu == F.cu) { F.cu = F.cu ? F.cu * 2 : 256; F.u = realloc(F.u, F.cu * sizeof *F.u); }
        undo *u = &F.u[F.nu++];
        memset(u, 0, sizeof *u);
        snprintf(u->path, sizeof u->path, "%s", fd < 1024 ? F.paths[fd] : "");
        u->off = off; u->old_size = sz;
        u->n = off < sz ? (size_t)((sz - off) < n ? sz - off : n) : 0;
        u->old = malloc(u->n + 1);
        size_t got = 0;
        if (u->n) P->pread(fd, u->old, u->n, off, &got);
        u->n = got;
    }
    rc = P->pwrite(fd, b, n, off, put);
out:
    pthread_mutex_unlock(&F.mu);
    return rc;
}
static int f_sync(int fd) {
    pthread_mutex_lock(&F.mu);
    int rc = SEALDB_OK;
    if (F.block_sync) {
        F.sync_blocked = 1;
        while (F.block_sync) pthread_cond_wait(&F.cv, &F.mu);
    }
    if (F.crashed) rc = SEALDB_IO;
    else if (F.fail_sync_at && ++F.syncs == F.fail_sync_at) rc = SEALDB_IO;
    else {
        rc = P->sync(fd);
        /* this file's pending writes are durable now */
        size_t w = 0;
        for (size_t i = 0; i < F.nu; i++) {
            if (fd < 1024 && !strcmp(F.u[i].path, F.paths[fd])) { free(F.u[i].old); continue; }
            F.u[w++] = F.u[i];
        }
        F.nu = w;
    }
    pthread_mutex_unlock(&F.mu);
    return rc;
}
static int f_truncate(int fd, uint64_t len) { return F.crashed ? SEALDB_IO : P->truncate(fd, len); }
static int f_allocate(int fd, uint64_t off, uint64_t len) { return F.crashed ? SEALDB_IO : P->allocate(fd, off, len); }
static int f_size(int fd, uint64_t *len) { return P->size(fd, len); }
static int f_close(int fd) { return P->close(fd); }
static const sdb_vfs faulty = { f_open, f_pread, f_pwrite, f_sync, f_truncate, f_allocate, f_size, f_close };

static void fault_reset(void) {
    for (size_t i = 0; i < F.nu; i++) free(F.u[i].old);
    free(F.u);
    F.u = NULL; F.nu = F.cu = 0;
    F.writes = F.syncs = 0;
    F.fail_write_at = F.fail_sync_at = F.crash_after = 0;
    F.fail_all = 0;
    F.fail_seg_open = 0;
    F.fail_path[0] = 0;
    F.fail_path_at = F.path_writes = 0;
    F.crashed = F.short_writes = 0;
    F.block_sync = F.sync_blocked = 0;
    P = sdb_vfs_posix();
    sdb_vfs_set_default(&faulty);
}

/* Power loss: every write not followed by a sync of its file is undone, newest first. */
static void crash_apply(void) {
    for (size_t i = F.nu; i-- > 0;) {
        undo *u = &F.u[i];
        int fd = open(u->path, O_RDWR);
        if (fd < 0) continue;
        if (u->n) CHECK(pwrite(fd, u->old, u->n, (off_t)u->off) == (ssize_t)u->n);
        CHECK(ftruncate(fd, (off_t)u->old_size) == 0 || 1);
        struct stat st;
        fstat(fd, &st);
        if ((uint64_t)st.st_size > u->old_size) CHECK(ftruncate(fd, (off_t)u->old_size) == 0);
        close(fd);
        free(u->old);
    }
    F.nu = 0;
}

/* ---- helpers ---- */
static char dir_[1024];
static const char *dbdir(void) { snprintf(dir_, sizeof dir_, "%s/db", sdb_test_tmpdir()); return dir_; }
static int open_db(sdb_engine **e) {
    sdb_engine_opts o;
    sdb_engine_opts_default(&o);
    o.segment_size = 1u << 16;   /* small: rotations happen under faults too */
    return sdb_engine_open(dir_, &o, e);
}
/* tx i holds key-i first; every third tx has 3 more entries, so htree blocks are written too */
static int put(sdb_engine *e, int i) {
    char k[4][32], v[128];
    sdb_kv kv[4];
    size_t n = i % 3 == 0 ? 4 : 1;
    snprintf(v, sizeof v, "value-%d-%0*d", i, 20 + i % 30, i);
    for (size_t j = 0; j < n; j++) {
        if (j == 0) snprintf(k[j], sizeof k[j], "key-%d", i);
        else snprintf(k[j], sizeof k[j], "key-%d.%zu", i, j);
        kv[j] = (sdb_kv){ .key = sdb_slice_str(k[j]), .value = sdb_slice_str(v) };
    }
    sdb_commit_result r;
    int rc = sdb_engine_commit_sync(e, kv, n, NULL, 0, &r, NULL);
    if (rc == SEALDB_OK && r.hdr.id != (uint64_t)i) return SEALDB_CORRUPT;
    return rc;
}
/* All acknowledged txs 1..acked are present with their content, the dir verifies, writing goes on. */
static void check_recovered(int acked) {
    sdb_vfs_set_default(NULL);
    sdb_engine *e = NULL;
    int rc = open_db(&e);
    if (rc) fprintf(stderr, "reopen: %s\n", sdb_engine_last_open_error());
    CHECK_OK(rc);
    uint64_t last = sdb_engine_last_tx(e);
    CHECK(last >= (uint64_t)acked);
    sdb_tx t; sdb_tx_init(&t);
    sdb_hashes terms; sdb_hashes_init(&terms);
    for (uint64_t i = 1; i <= last; i++) {
        CHECK_OK(sdb_engine_tx_read(e, i, 1, &t));
        char k[32];
        snprintf(k, sizeof k, "key-%d", (int)i);
        CHECK_EQ_MEM(t.entries[0].key.ptr, t.entries[0].key.len, k, strlen(k));
        /* every entry proves against eH (the htree blocks were rebuilt where lost) */
        check_entries_prove(e, i, &t, &terms);
    }
    sdb_hashes_deinit(&terms);
    sdb_tx_deinit(&t);
    CHECK_OK(put(e, (int)last + 1));
    sdb_engine_close(e);
    CHECK_OK(sdb_verify_dir(dir_, NULL));
}

/* A torn last record in a segment whose logical start is not a multiple of 512 (segments start
 * wherever the previous one's data ended): the write tore at a page boundary of the file, leaving
 * fewer than 1024 zero bytes in the record. It is a torn tail, to be cut, not damage. The zero
 * block was once looked for at 512-byte boundaries of the logical position, which fall elsewhere
 * in such a file: crash_truncate found a database that then refused to open. */
TEST(torn_tail_in_a_segment_not_aligned_to_512) {
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/j", sdb_test_tmpdir());
    CHECK(mkdir(dir, 0700) == 0);
    sdb_journal *j = NULL;
    CHECK_OK(sdb_journal_open(dir, 1u << 20, &j));
    static uint8_t buf[100000];
    memset(buf, 0xA5, sizeof buf);
    uint64_t p0, p1, room;
    int last = 0;
    CHECK_OK(sdb_journal_reserve(j, sizeof buf, &p0));
    CHECK_OK(sdb_journal_write(j, p0, buf, sizeof buf));
    CHECK_OK(sdb_journal_reserve(j, 40000, &p1));   /* does not fit the first segment: a new one */
    CHECK_EQ_U64(p1, sizeof buf);
    CHECK(p1 % 512 != 0);
    CHECK_EQ_U64(sdb_journal_next_seg(j, p0), p1);
    CHECK_OK(sdb_journal_write(j, p1, buf, 4096));     /* a 4896-byte record torn after its first page */
    CHECK_OK(sdb_journal_room(j, p1, &room, &last));
    CHECK(last);
    CHECK_EQ_U64(sdb_journal_is_torn(j, p1, room, 4896), 1);
    CHECK_EQ_U64(sdb_journal_is_torn(j, p1, room, 4096 + 511), 0);   /* no whole zero block in it */
    CHECK_OK(sdb_journal_write(j, p1 + 4096, buf, 800));   /* written whole (a wrong byte): damage */
    CHECK_EQ_U64(sdb_journal_is_torn(j, p1, room, 4896), 0);
    sdb_journal_close(j);
}

TEST(short_writes_are_completed) {
    fault_reset();
    F.short_writes = 1;
    dbdir();
    sdb_engine *e = NULL;
    CHECK_OK(open_db(&e));
    for (int i = 1; i <= 50; i++) CHECK_OK(put(e, i));
    sdb_engine_close(e);
    check_recovered(50);
}

/* Txs 1..n read back, with their keys, through the open engine and every entry proves. */
static void check_live(sdb_engine *e, int n) {
    sdb_tx t; sdb_tx_init(&t);
    sdb_hashes terms; sdb_hashes_init(&terms);
    CHECK(sdb_engine_last_tx(e) >= (uint64_t)n);
    for (int i = 1; i <= n; i++) {
        CHECK_OK(sdb_engine_tx_read(e, (uint64_t)i, 1, &t));
        char k[32];
        snprintf(k, sizeof k, "key-%d", i);
        CHECK_EQ_MEM(t.entries[0].key.ptr, t.entries[0].key.len, k, strlen(k));
        check_entries_prove(e, (uint64_t)i, &t, &terms);
    }
    sdb_hashes_deinit(&terms);
    sdb_tx_deinit(&t);
}

/* The engine is failed with status want and a cause naming cause_text; the next write recovers
 * it in place (same open handle) and takes the next id; everything acknowledged is there. */
static void check_recovers_in_place(sdb_engine *e, int acked, int want, const char *cause_text) {
    char why[512];
    CHECK_RC(sdb_engine_status(e), SEALDB_FAILED);
    CHECK_RC(sdb_engine_fail_reason(e, why, sizeof why), want);
    if (!strstr(why, cause_text)) fprintf(stderr, "cause '%s' lacks '%s'\n", why, cause_text);
    CHECK(strstr(why, cause_text) != NULL);
    check_live(e, acked);                        /* reads work while failed */
    CHECK_OK(put(e, acked + 1));                 /* recovers, then commits as tx acked+1 */
    CHECK_OK(sdb_engine_status(e));
    CHECK_OK(sdb_engine_fail_reason(e, why, sizeof why));
    CHECK_OK(put(e, acked + 2));
    CHECK_OK(sdb_engine_wait_indexed(e, (uint64_t)acked + 2, 10000));
    check_live(e, acked + 2);
}

static void write_error_at(long n, int err) {
    fault_reset();
    dbdir();
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir_);
    CHECK(system(cmd) == 0);
    sdb_engine *e = NULL;
    CHECK_OK(open_db(&e));
    F.writes = 0;
    F.fail_write_at = n;
    F.fail_errno = err;
    int acked = 0, rc = 0;
    for (int i = 1; i <= 200; i++) {
        rc = put(e, i);
        if (rc) break;
        acked = i;
    }
    /* the failing write reports its cause, not a generic failed state */
    CHECK_RC(rc, err == ENOSPC ? SEALDB_NOSPACE : SEALDB_IO);
    check_recovers_in_place(e, acked, rc, strerror(err));
    sdb_engine_close(e);
    check_recovered(acked + 2);
}
TEST(eio_on_write_recovers_on_next_write) { write_error_at(7, EIO); write_error_at(40, EIO); }
TEST(enospc_on_write) { write_error_at(3, ENOSPC); write_error_at(25, ENOSPC); }

/* A disk that stays full: every write fails with ENOSPC (the cause, each time, not "failed
 * state"), reads keep working, and once space is back the next write succeeds without a reopen. */
TEST(enospc_until_space_is_back) {
    fault_reset();
    dbdir();
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir_);
    CHECK(system(cmd) == 0);
    sdb_engine *e = NULL;
    CHECK_OK(open_db(&e));
    int acked = 0;
    for (int i = 1; i <= 20; i++) { CHECK_OK(put(e, i)); acked = i; }
    F.fail_errno = ENOSPC;
    F.fail_all = 1;
    for (int k = 0; k < 5; k++) CHECK_RC(put(e, acked + 1), SEALDB_NOSPACE);
    CHECK_EQ_U64(sdb_engine_last_tx(e), (uint64_t)acked);
    check_live(e, acked);
    F.fail_all = 0;
    F.fail_seg_open = 0;
    check_recovers_in_place(e, acked, SEALDB_NOSPACE, "No space left on device");
    sdb_engine_close(e);
    check_recovered(acked + 2);
}

/* The journal directory vanished: the next segment cannot be made (ENOENT). Clients must get an
 * I/O error, not "key not found" (ENOENT's usual mapping); writes resume once it is back. */
TEST(vanished_segment_is_an_io_error) {
    fault_reset();
    dbdir();
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir_);
    CHECK(system(cmd) == 0);
    sdb_engine *e = NULL;
    CHECK_OK(open_db(&e));
    int acked = 0, rc = 0;
    for (int i = 1; i <= 3; i++) { CHECK_OK(put(e, i)); acked = i; }
    F.fail_seg_open = ENOENT;
    for (int i = acked + 1; i <= 2000 && !(rc = put(e, i)); i++) acked = i;   /* until a rotation */
    CHECK_RC(rc, SEALDB_IO);
    F.fail_seg_open = 0;
    check_recovers_in_place(e, acked, SEALDB_IO, "No such file or directory");
    sdb_engine_close(e);
    check_recovered(acked + 2);
}

/* A failed write of the htree node file fails the engine like a failed journal write. */
TEST(failed_htree_write_recovers_on_next_write) {
    fault_reset();
    dbdir();
    sdb_engine *e = NULL;
    CHECK_OK(open_db(&e));
    snprintf(F.fail_path, sizeof F.fail_path, "/htree");
    F.fail_path_at = 2;
    int acked = 0, rc = 0;
    for (int i = 1; i <= 30 && !(rc = put(e, i)); i++) acked = i;
    CHECK_RC(rc, SEALDB_IO);
    CHECK_EQ_U64(acked, 5);   /* txs 3 and 6 have blocks: the second block write failed */
    check_recovers_in_place(e, acked, SEALDB_IO, "htree");
    sdb_engine_close(e);
    check_recovered(acked + 2);
}

/* A failed fdatasync is not retried: the unacknowledged group is zeroed (and synced) by the
 * in-place recovery, which the next write triggers. */
TEST(fsync_failure) {
    fault_reset();
    dbdir();
    sdb_engine *e = NULL;
    CHECK_OK(open_db(&e));
    F.syncs = 0;
    F.fail_sync_at = 10;
    int acked = 0, rc = 0;
    for (int i = 1; i <= 100 && !(rc = put(e, i)); i++) acked = i;
    CHECK_RC(rc, SEALDB_IO);
    CHECK(acked >= 1);
    check_recovers_in_place(e, acked, SEALDB_IO, "sync");
    sdb_engine_close(e);
    check_recovered(acked + 2);
}

TEST(crash_after_write_n_drops_unsynced_data) {
    for (long n = 1; n <= 120; n += (n < 30 ? 1 : 7)) {
        fault_reset();
        dbdir();
        char cmd[1200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir_);
        CHECK(system(cmd) == 0);
        F.crash_after = n;
        sdb_engine *e = NULL;
        int acked = 0;
        if (open_db(&e) == SEALDB_OK) {
            for (int i = 1; i <= 60; i++) {
                if (put(e, i)) break;
                acked = i;
            }
            sdb_engine_close(e);
        }
        sdb_vfs_set_default(NULL);
        crash_apply();
        /* a crash during the very first open may leave no database at all: fine, nothing was acked */
        check_recovered(acked);
    }
}

/* ---- the committer/syncer pipeline under a failing fdatasync ---- */
/* A new engine in an empty directory, with the default options, faults off. */
static sdb_engine *open_fresh(void) {
    fault_reset();
    dbdir();
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir_);
    CHECK(system(cmd) == 0);
    sdb_engine_opts o;
    sdb_engine_opts_default(&o);
    sdb_engine *e = NULL;
    CHECK_OK(sdb_engine_open(dir_, &o, &e));
    return e;
}

typedef struct { atomic_int rc[8]; } answers;
static void answer_cb(void *arg, int rc, const sdb_commit_result *res, size_t fp) {
    (void)res; (void)fp;
    atomic_int *slot = arg;
    atomic_store(slot, rc);
}
static int push_async(sdb_engine *e, int i, atomic_int *slot) {
    static char k[8][32], v[8][64];
    snprintf(k[i % 8], sizeof k[0], "key-%d", i);
    snprintf(v[i % 8], sizeof v[0], "value-%d", i);
    sdb_kv kv = { .key = sdb_slice_str(k[i % 8]), .value = sdb_slice_str(v[i % 8]) };
    return sdb_engine_commit(e, &kv, 1, NULL, 0, answer_cb, slot);
}
static int wait_answered(answers *a, int from, int to) {
    for (int t = 0; t < 5000; t++) {
        int all = 1;
        for (int i = from; i <= to; i++) if (atomic_load(&a->rc[i]) == -1) all = 0;
        if (all) return 1;
        usleep(1000);
    }
    return 0;
}

/* Group N's fdatasync blocks, then fails, while group N+1 already has its ids: no tx of either
 * group is answered before the failure, none is acknowledged, the engine refuses writes, and the
 * next open recovers everything acknowledged before. */
TEST(sync_failure_with_next_group_pending) {
    sdb_engine *e = open_fresh();   /* default options: a large segment, no background segment sync */
    for (int i = 1; i <= 5; i++) CHECK_OK(put(e, i));
    answers a;
    for (int i = 0; i < 8; i++) atomic_init(&a.rc[i], -1);
    pthread_mutex_lock(&F.mu);
    F.syncs = 0;
    F.fail_sync_at = 1;
    F.block_sync = 1;
    F.sync_blocked = 0;
    pthread_mutex_unlock(&F.mu);
    CHECK_OK(push_async(e, 6, &a.rc[0]));            /* group N: its sync blocks */
    for (int t = 0; t < 5000; t++) {
        pthread_mutex_lock(&F.mu);
        int b = F.sync_blocked;
        pthread_mutex_unlock(&F.mu);
        if (b) break;
        usleep(1000);
    }
    CHECK(F.sync_blocked);
    for (int i = 1; i <= 3; i++) CHECK_OK(push_async(e, 6 + i, &a.rc[i]));   /* group N+1 */
    usleep(50000);                                    /* let the committer assign them */
    for (int i = 0; i <= 3; i++) CHECK(atomic_load(&a.rc[i]) == -1);        /* nobody answered yet */
    pthread_mutex_lock(&F.mu);
    F.block_sync = 0;
    pthread_cond_broadcast(&F.cv);
    pthread_mutex_unlock(&F.mu);
    CHECK(wait_answered(&a, 0, 3));
    for (int i = 0; i <= 3; i++) CHECK(atomic_load(&a.rc[i]) != SEALDB_OK);
    for (int i = 1; i <= 3; i++) CHECK_RC(atomic_load(&a.rc[i]), SEALDB_IO);   /* the cause, for all */
    CHECK_EQ_U64(sdb_engine_last_tx(e), 5);
    /* the next write recovers in place: txs 6..9 were never acknowledged, 6 is given again */
    check_recovers_in_place(e, 5, SEALDB_IO, "sync");
    sdb_engine_close(e);
    check_recovered(7);
}

/* ---- KeyMustExist on a key written by a tx not yet synced (pending.c) ---- */
/* tx i of a chain writes "<tag>-i" and (i > 0) requires "<tag>-(i-1)" to exist */
static int push_chain(sdb_engine *e, const char *tag, int i, atomic_int *slot) {
    static char k[16][32], p[16][32];
    snprintf(k[i % 16], sizeof k[0], "%s-%d", tag, i);
    snprintf(p[i % 16], sizeof p[0], "%s-%d", tag, i - 1);
    sdb_kv kv = { .key = sdb_slice_str(k[i % 16]), .value = sdb_slice_str("v") };
    sdb_precondition pre = { SDB_PRE_KEY_MUST_EXIST, sdb_slice_str(p[i % 16]), 0 };
    return sdb_engine_commit(e, &kv, 1, i ? &pre : NULL, i ? 1 : 0, answer_cb, slot);
}
static void block_syncs(long fail_at) {
    pthread_mutex_lock(&F.mu);
    F.syncs = 0;
    F.fail_sync_at = fail_at;
    F.block_sync = 1;
    F.sync_blocked = 0;
    pthread_mutex_unlock(&F.mu);
}
static void wait_sync_blocked(void) {
    for (int t = 0; t < 5000; t++) {
        pthread_mutex_lock(&F.mu);
        int b = F.sync_blocked;
        pthread_mutex_unlock(&F.mu);
        if (b) break;
        usleep(1000);
    }
    CHECK(F.sync_blocked);
}
static void release_syncs(void) {
    pthread_mutex_lock(&F.mu);
    F.block_sync = 0;
    pthread_cond_broadcast(&F.cv);
    pthread_mutex_unlock(&F.mu);
}

/* A chain of txs each requiring the previous one's key, queued while the first one's fdatasync is
 * blocked: they join one group (2 syncs in all, not one per tx), all commit in order; a requirement
 * on a key nobody wrote still fails. If the first group's sync fails, every tx of the chain fails
 * with it, and after recovery its keys no longer count. */
TEST(must_exist_on_pending_keys_needs_no_drain) {
    sdb_engine *e = open_fresh();
    for (int i = 1; i <= 5; i++) CHECK_OK(put(e, i));
    answers a;
    for (int i = 0; i < 8; i++) atomic_init(&a.rc[i], -1);
    block_syncs(1000000);                             /* counted, never failed */
    CHECK_OK(push_chain(e, "c", 0, &a.rc[0]));
    wait_sync_blocked();
    for (int i = 1; i <= 5; i++) CHECK_OK(push_chain(e, "c", i, &a.rc[i]));
    sdb_kv kv = { .key = sdb_slice_str("other"), .value = sdb_slice_str("v") };
    sdb_precondition pre = { SDB_PRE_KEY_MUST_EXIST, sdb_slice_str("never-written"), 0 };
    CHECK_OK(sdb_engine_commit(e, &kv, 1, &pre, 1, answer_cb, &a.rc[6]));
    /* refused at once: no tx in the table wrote it and the index does not have it */
    CHECK(wait_answered(&a, 6, 6));
    CHECK_RC(atomic_load(&a.rc[6]), SEALDB_PRECONDITION);
    /* a key only the index has (put(1) wrote key-1) holds: no early answer, it waits its turn */
    sdb_precondition in_index = { SDB_PRE_KEY_MUST_EXIST, sdb_slice_str("key-1"), 0 };
    sdb_kv kv2 = { .key = sdb_slice_str("other2"), .value = sdb_slice_str("v") };
    CHECK_OK(sdb_engine_commit(e, &kv2, 1, &in_index, 1, answer_cb, &a.rc[7]));
    usleep(50000);
    for (int i = 0; i <= 5; i++) CHECK(atomic_load(&a.rc[i]) == -1);
    CHECK(atomic_load(&a.rc[7]) == -1);
    release_syncs();
    CHECK(wait_answered(&a, 0, 7));
    CHECK_OK(atomic_load(&a.rc[7]));
    for (int i = 0; i <= 5; i++) CHECK_OK(atomic_load(&a.rc[i]));
    CHECK_RC(atomic_load(&a.rc[6]), SEALDB_PRECONDITION);
    pthread_mutex_lock(&F.mu);
    long syncs = F.syncs;
    pthread_mutex_unlock(&F.mu);
    CHECK(syncs <= 3);                                /* one per tx (7) without the table */
    CHECK_EQ_U64(sdb_engine_last_tx(e), 12);          /* the chain is txs 6..11, in order, then 12 */
    for (int i = 0; i <= 5; i++) {
        char k[32];
        snprintf(k, sizeof k, "c-%d", i);
        sdb_kv_version v;
        sdb_kv_version_init(&v);
        CHECK_OK(sdb_engine_get(e, sdb_slice_str(k), NULL, &v));
        CHECK_EQ_U64(v.tx_id, 6 + (uint64_t)i);
        sdb_kv_version_deinit(&v);
    }

    /* the first group's sync fails: the chain queued behind it fails with it */
    for (int i = 0; i < 8; i++) atomic_store(&a.rc[i], -1);
    block_syncs(1);
    CHECK_OK(push_chain(e, "d", 0, &a.rc[0]));
    wait_sync_blocked();
    for (int i = 1; i <= 3; i++) CHECK_OK(push_chain(e, "d", i, &a.rc[i]));
    usleep(50000);
    release_syncs();
    CHECK(wait_answered(&a, 0, 3));
    for (int i = 0; i <= 3; i++) CHECK_RC(atomic_load(&a.rc[i]), SEALDB_IO);
    CHECK_EQ_U64(sdb_engine_last_tx(e), 12);
    CHECK_RC(sdb_engine_status(e), SEALDB_FAILED);
    /* d-0 was never acknowledged: after the in-place recovery a requirement on it fails (the
     * table forgot it), and writes go on from tx 13 */
    for (int i = 0; i < 8; i++) atomic_store(&a.rc[i], -1);
    CHECK_OK(push_chain(e, "d", 1, &a.rc[1]));
    CHECK(wait_answered(&a, 1, 1));
    CHECK_RC(atomic_load(&a.rc[1]), SEALDB_PRECONDITION);
    CHECK_OK(sdb_engine_status(e));
    CHECK_OK(push_chain(e, "d", 0, &a.rc[0]));
    CHECK(wait_answered(&a, 0, 0));
    CHECK_OK(atomic_load(&a.rc[0]));
    CHECK_EQ_U64(sdb_engine_last_tx(e), 13);
    /* txs of more keys than the table keeps (it resets while noting the last one): a KeyMustExist
     * on the last tx's first key, dropped from the table, must not be refused early (the index,
     * which may already have the first txs, does not have the last one while its sync waits) */
    enum { NB = 9, PER = 1000 };
    static char bk[NB * PER][16];
    static sdb_kv bkv[NB * PER];
    for (int i = 0; i < NB * PER; i++) {
        snprintf(bk[i], sizeof bk[i], "big-%d", i);
        bkv[i] = (sdb_kv){ .key = sdb_slice_str(bk[i]), .value = sdb_slice_str("v") };
    }
    answers b;
    static atomic_int brc[NB];
    for (int i = 0; i < 8; i++) atomic_store(&b.rc[i], -1);
    for (int i = 0; i < NB; i++) atomic_store(&brc[i], -1);
    block_syncs(1000000);
    CHECK_OK(push_chain(e, "b", 0, &b.rc[0]));
    wait_sync_blocked();
    for (int i = 0; i < NB; i++) CHECK_OK(sdb_engine_commit(e, bkv + i * PER, PER, NULL, 0, answer_cb, &brc[i]));
    sdb_precondition big0 = { SDB_PRE_KEY_MUST_EXIST, sdb_slice_str(bk[(NB - 1) * PER]), 0 };
    CHECK_OK(sdb_engine_commit(e, &kv2, 1, &big0, 1, answer_cb, &b.rc[1]));
    usleep(50000);
    CHECK(atomic_load(&b.rc[1]) == -1);
    release_syncs();
    CHECK(wait_answered(&b, 0, 1));
    CHECK_OK(atomic_load(&b.rc[0]));
    CHECK_OK(atomic_load(&b.rc[1]));
    for (int i = 0; i < NB; i++) CHECK_OK(atomic_load(&brc[i]));
    sdb_engine_close(e);
}

/* sdb_engine_defer_wake: txs queued while it is on wait for its end (the committer sleeps on), then
 * all commit, in the order queued. */
TEST(deferred_wake_holds_txs_until_the_end) {
    sdb_engine *e = open_fresh();
    answers a;
    for (int i = 0; i < 8; i++) atomic_init(&a.rc[i], -1);
    CHECK_OK(push_async(e, 0, &a.rc[0]));
    CHECK(wait_answered(&a, 0, 0));
    usleep(20000);   /* committer and syncer asleep */
    sdb_engine_defer_wake(e, 1);
    for (int i = 1; i <= 5; i++) CHECK_OK(push_async(e, i, &a.rc[i]));
    usleep(100000);
    for (int i = 1; i <= 5; i++) CHECK(atomic_load(&a.rc[i]) == -1);
    CHECK_EQ_U64(sdb_engine_last_tx(e), 1);
    sdb_engine_defer_wake(e, 0);
    CHECK(wait_answered(&a, 1, 5));
    for (int i = 1; i <= 5; i++) CHECK_OK(atomic_load(&a.rc[i]));
    CHECK_EQ_U64(sdb_engine_last_tx(e), 6);
    for (int i = 1; i <= 5; i++) {   /* in the order queued: key-i in tx i + 1 */
        char k[32];
        snprintf(k, sizeof k, "key-%d", i);
        sdb_kv_version v;
        sdb_kv_version_init(&v);
        sdb_get_opts go = { .no_wait = 0 };
        CHECK_OK(sdb_engine_get(e, sdb_slice_str(k), &go, &v));
        CHECK_EQ_U64(v.tx_id, (uint64_t)i + 1);
        sdb_kv_version_deinit(&v);
    }
    /* off with nothing queued, or on and off again, wakes nobody and breaks nothing */
    sdb_engine_defer_wake(e, 0);
    sdb_engine_defer_wake(e, 1);
    sdb_engine_defer_wake(e, 0);
    CHECK_OK(put(e, 7));   /* a blocking commit after them still wakes the committer (put checks its id) */
    CHECK_EQ_U64(sdb_engine_last_tx(e), 7);
    sdb_engine_close(e);
}
