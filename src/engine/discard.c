/* discard.c - a sync replica's durable committed point and the discarding of its precommitted
 * (never committed) tx tail, docs/replication.md 10.3.
 *
 * File `committed` in the database directory, 20 bytes, big-endian:
 *   "SDBCOMMT" ‖ u64 committed id ‖ u32 crc32c(first 16 bytes)
 * written in place and fdatasync'ed after each advance of a sync replica's committed point (a lost
 * write leaves an older point the primary did commit: never one ahead of it).
 *
 * File `discard`, the same layout with magic "SDBDISCD": "cut the journal after this tx". Written
 * (tmp, sync, rename, dir sync) on a closed database; the next open's recovery stops at that tx and
 * cuts the journal there (store.c recover, as it cuts a torn tail), the derived files follow it and
 * the key index, now ahead of the journal, is rebuilt (keys.c). The file is removed only once the
 * cut is synced, so a crash at any step leaves the old tail (no marker yet) or a marker that the
 * next open completes: discarding again at the same point is idempotent. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <unistd.h>
#include "engine/engine_int.h"
#include "storage/crc32c.h"

#define PT_LEN 20u

static void pt_encode(uint8_t b[PT_LEN], const char *magic, uint64_t id) {
    memcpy(b, magic, 8);
    sdb_put_u64be(b + 8, id);
    sdb_put_u32be(b + 16, sdb_crc32c(0, b, 16));
}

/* SEALDB_OK with *id, SEALDB_NOTFOUND when absent, SEALDB_CORRUPT when damaged. */
static int pt_load(const char *dir, const char *name, const char *magic, uint64_t *id) {
    char p[4200];
    uint8_t b[PT_LEN];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    sdb_file *f = NULL;
    int rc = sdb_file_open(p, O_RDONLY, 0, &f);
    if (rc) return rc;
    uint64_t sz = 0;
    rc = sdb_file_size(f, &sz);
    if (!rc && sz != PT_LEN) rc = SEALDB_CORRUPT;
    if (!rc) rc = sdb_file_read_at(f, b, sizeof b, 0);
    sdb_file_close(f);
    if (rc) return rc;
    if (memcmp(b, magic, 8) || sdb_crc32c(0, b, 16) != sdb_get_u32be(b + 16)) return SEALDB_CORRUPT;
    *id = sdb_get_u64be(b + 8);
    return SEALDB_OK;
}

int sdb_committed_load(const char *dir, uint64_t *id) { return pt_load(dir, "committed", "SDBCOMMT", id); }

int sdb_engine_store_committed(sdb_engine *e, uint64_t id) {
    pthread_mutex_lock(&e->cpt_mu);
    int rc = SEALDB_OK;
    if (!e->cpt_f || e->cpt_stored != id) {
        uint8_t b[PT_LEN];
        pt_encode(b, "SDBCOMMT", id);
        int created = 0;
        if (!e->cpt_f) {
            char p[4200];
            snprintf(p, sizeof p, "%s/committed", e->dir);
            created = access(p, F_OK) != 0;
            rc = sdb_file_open(p, O_RDWR | O_CREAT, 0644, &e->cpt_f);
        }
        if (!rc) rc = sdb_file_write_at(e->cpt_f, b, sizeof b, 0);
        if (!rc) rc = sdb_file_sync(e->cpt_f);
        if (!rc && created) rc = sdb_fsync_dir(e->dir);
        if (!rc) e->cpt_stored = id;
    }
    pthread_mutex_unlock(&e->cpt_mu);
    return rc;
}

int sdb_engine_drop_committed(sdb_engine *e) {
    pthread_mutex_lock(&e->cpt_mu);
    char p[4200];
    snprintf(p, sizeof p, "%s/committed", e->dir);
    sdb_file_close(e->cpt_f);
    e->cpt_f = NULL;
    e->cpt_stored = 0;
    int rc = SEALDB_OK;
    if (unlink(p) == 0) rc = sdb_fsync_dir(e->dir);
    else if (errno != ENOENT) rc = sdb_err_from_errno(errno);
    pthread_mutex_unlock(&e->cpt_mu);
    return rc;
}

int sdb_discard_load(const char *dir, uint64_t *keep) { return pt_load(dir, "discard", "SDBDISCD", keep); }

int sdb_discard_done(const char *dir) {
    char p[4200];
    snprintf(p, sizeof p, "%s/discard", dir);
    if (unlink(p) != 0) return errno == ENOENT ? SEALDB_OK : sdb_err_from_errno(errno);
    return sdb_fsync_dir(dir);
}

int sdb_engine_mark_discard(const char *dir, uint64_t keep) {
    char p[4200], tmp[4210];
    snprintf(p, sizeof p, "%s/LOCK", dir);
    int lfd = open(p, O_RDWR | O_CLOEXEC);
    if (lfd < 0) return errno == ENOENT ? SEALDB_NOTFOUND : sdb_err_from_errno(errno);
    /* only a closed database: an open engine would never look at the marker */
    if (flock(lfd, LOCK_EX | LOCK_NB) < 0) { close(lfd); return SEALDB_BUSY; }
    uint64_t c = 0;
    int rc = sdb_committed_load(dir, &c);
    /* a committed tx is never discarded: the point must be known (stored) and not above keep */
    if (rc == SEALDB_NOTFOUND || (rc == SEALDB_OK && keep < c)) rc = SEALDB_INVALID;
    if (!rc) {
        uint8_t b[PT_LEN];
        pt_encode(b, "SDBDISCD", keep);
        snprintf(p, sizeof p, "%s/discard", dir);
        snprintf(tmp, sizeof tmp, "%s.tmp", p);
        sdb_file *f = NULL;
        rc = sdb_file_open(tmp, O_RDWR | O_CREAT | O_TRUNC, 0644, &f);
        if (!rc) rc = sdb_file_write_at(f, b, sizeof b, 0);
        if (!rc) rc = sdb_file_sync(f);
        sdb_file_close(f);
        if (!rc && rename(tmp, p) != 0) rc = sdb_err_from_errno(errno);
        if (rc) unlink(tmp);
        else rc = sdb_fsync_dir(dir);
    }
    close(lfd);
    return rc;
}
