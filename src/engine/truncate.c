/* truncate.c - value truncation: a durable "truncated point" (the first tx whose values are kept)
 * and the discarding of older values from the journal (holes punched where the file system can).
 *
 * Only values go: every record keeps its frame, header and entries (key, metadata, value length
 * and hash), so every header, Alh, eH, inclusion and dual proof stays valid, and the tx index, the
 * htree, the ahtree and the key index are unchanged. Values below the point read as
 * SEALDB_TRUNCATED; recovery, `sealdb verify` and the scrubber skip the value CRC and value hashes
 * of those records and check everything else.
 *
 * Point file `truncated` in the database directory, 28 bytes, big-endian:
 *   "SDBTRUNC" ‖ u64 point ‖ u64 done ‖ u32 crc32c(first 24 bytes)
 * point: values of txs < point are discarded (readers refuse them from the moment the point is
 * durable); done: the journal no longer holds values of txs < done. Order: the point file
 * {new point, old done} is written (tmp, sync, rename, dir sync) before any byte is discarded, the
 * discarded ranges are synced, then {point, point} is written. A crash in between leaves done <
 * point, and the next open discards the rest (discarding is idempotent). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>
#include "engine/engine_int.h"
#include "storage/crc32c.h"

#define TRUNC_MAGIC "SDBTRUNC"
#define TRUNC_LEN 28u

int sdb_trunc_decode(const uint8_t *b, size_t n, uint64_t *point, uint64_t *done) {
    if (n != TRUNC_LEN || memcmp(b, TRUNC_MAGIC, 8) || sdb_crc32c(0, b, 24) != sdb_get_u32be(b + 24))
        return SEALDB_CORRUPT;
    uint64_t p = sdb_get_u64be(b + 8), d = sdb_get_u64be(b + 16);
    if (d > p) return SEALDB_CORRUPT;
    *point = p;
    *done = d;
    return SEALDB_OK;
}

int sdb_trunc_load(const char *dir, uint64_t *point, uint64_t *done) {
    char p[4096];
    uint8_t b[TRUNC_LEN];
    *point = *done = 0;
    snprintf(p, sizeof p, "%s/truncated", dir);
    sdb_file *f = NULL;
    int rc = sdb_file_open(p, O_RDONLY, 0, &f);
    if (rc) return rc == SEALDB_NOTFOUND ? SEALDB_OK : rc;
    uint64_t sz = 0;
    rc = sdb_file_size(f, &sz);
    if (!rc && sz != TRUNC_LEN) rc = SEALDB_CORRUPT;   /* checked before the read: never past b */
    if (!rc) rc = sdb_file_read_at(f, b, sizeof b, 0);
    sdb_file_close(f);
    if (rc) return rc;
    return sdb_trunc_decode(b, sizeof b, point, done);
}

static int trunc_store(const char *dir, uint64_t point, uint64_t done) {
    char p[4096], tmp[4100];
    uint8_t b[TRUNC_LEN];
    memcpy(b, TRUNC_MAGIC, 8);
    sdb_put_u64be(b + 8, point);
    sdb_put_u64be(b + 16, done);
    sdb_put_u32be(b + 24, sdb_crc32c(0, b, 24));
    snprintf(p, sizeof p, "%s/truncated", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", p);
    sdb_file *f = NULL;
    int rc = sdb_file_open(tmp, O_RDWR | O_CREAT | O_TRUNC, 0644, &f);
    if (rc) return rc;
    rc = sdb_file_write_at(f, b, sizeof b, 0);
    if (!rc) rc = sdb_file_sync(f);
    sdb_file_close(f);
    if (!rc && rename(tmp, p) != 0) rc = sdb_err_from_errno(errno);
    if (rc) { unlink(tmp); return rc; }
    return sdb_fsync_dir(dir);
}

/* Discards the values of txs [from, to) and syncs what changed. */
static int discard_values(sdb_engine *e, uint64_t from, uint64_t to) {
    uint64_t lo = UINT64_MAX, hi = 0;
    for (uint64_t id = from; id < to; id++) {
        sdb_txi_rec r;
        int rc = sdb_engine_txi_get(e, id, &r);
        if (rc) return rc;
        if (!r.vals_len) continue;
        uint64_t at = r.pos + SDB_JREC_FRAME + r.meta_len;
        if ((rc = sdb_journal_discard(e->j, at, r.vals_len))) return rc;
        if (at < lo) lo = at;
        if (at + r.vals_len > hi) hi = at + r.vals_len;
    }
    return lo < hi ? sdb_journal_sync_range(e->j, lo, hi) : SEALDB_OK;
}

int sdb_trunc_open(sdb_engine *e) {
    uint64_t point, done;
    int rc = sdb_trunc_load(e->dir, &point, &done);
    if (rc) return rc;
    e->trunc_done = done;
    atomic_store(&e->trunc_point, point);
    return SEALDB_OK;
}

int sdb_trunc_resume(sdb_engine *e) {
    uint64_t point = atomic_load(&e->trunc_point), last = sdb_engine_last_tx(e);
    if (point > last) {
        /* only when txs the point was set at were never durable (sync off): the newest tx keeps
         * its values, so new txs are never born truncated */
        point = last;
        if (e->trunc_done > point) e->trunc_done = point;
        atomic_store(&e->trunc_point, point);
        int rc = trunc_store(e->dir, point, e->trunc_done);
        if (rc) return rc;
    }
    if (e->trunc_done >= point) return SEALDB_OK;
    int rc = discard_values(e, e->trunc_done ? e->trunc_done : 1, point);
    if (!rc) rc = trunc_store(e->dir, point, point);
    if (!rc) e->trunc_done = point;
    return rc;
}

uint64_t sdb_engine_truncated_below(sdb_engine *e) {
    return atomic_load_explicit(&e->trunc_point, memory_order_acquire);
}

int sdb_engine_truncate(sdb_engine *e, uint64_t keep_from) {
    if (keep_from == 0 || keep_from > sdb_engine_last_tx(e)) return SEALDB_RANGE;
    int rc = sdb_engine_status(e);
    if (rc) return rc;
    pthread_mutex_lock(&e->trunc_mu);
    uint64_t point = atomic_load(&e->trunc_point);
    if (keep_from <= point) { pthread_mutex_unlock(&e->trunc_mu); return SEALDB_OK; }
    uint64_t done = e->trunc_done ? e->trunc_done : 1;
    /* readers refuse the values only once the point is durable, and nothing is discarded before */
    if (!(rc = trunc_store(e->dir, keep_from, e->trunc_done))) {
        atomic_store_explicit(&e->trunc_point, keep_from, memory_order_release);
        if (!(rc = discard_values(e, done, keep_from)) && !(rc = trunc_store(e->dir, keep_from, keep_from)))
            e->trunc_done = keep_from;
    }
    pthread_mutex_unlock(&e->trunc_mu);
    return rc;
}

int sdb_engine_last_tx_until(sdb_engine *e, int64_t ts, uint64_t *id) {
    uint64_t lo = 1, hi = sdb_engine_last_tx(e);
    sdb_tx_header h;
    int rc;
    if (hi == 0) return SEALDB_NOTFOUND;
    while (lo < hi) {   /* largest id whose ts <= ts (commit times never decrease) */
        uint64_t mid = lo + (hi - lo + 1) / 2;
        if ((rc = sdb_engine_tx_header(e, mid, &h, NULL))) return rc;
        if (h.ts > ts) hi = mid - 1; else lo = mid;
    }
    if ((rc = sdb_engine_tx_header(e, lo, &h, NULL))) return rc;
    if (h.ts > ts) return SEALDB_NOTFOUND;
    *id = lo;
    return SEALDB_OK;
}
