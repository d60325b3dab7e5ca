/* index.h - the key index (engine layer): an LMDB environment per database directory mapping each
 * indexed key to its versions, plus "indexed up to tx N". It is derived data: the journal is the
 * truth, so the environment is written without fsync and may be deleted and rebuilt at any time.
 *
 * Layout (all integers big-endian): sub-database "vers" (MDB_DUPSORT) maps an index key to one
 * fixed 41-byte record per version, sorted by revision (1-based, assigned here in put order):
 *     revision u64 | tx_id u64 | entry_idx u32 | flags u8 | expires_at i64 | val_off u64 | val_len u32
 * The latest version is the last duplicate, and its revision is the key's version count.
 * LMDB keys are limited to 511 bytes, so a key longer than SDB_INDEX_INLINE_KEY_MAX is stored as
 * its first SDB_INDEX_INLINE_KEY_MAX bytes followed by SHA-256(key) (sub-database "long" maps that
 * back to the full key). Order is exact bytewise key order, except among long keys that share their
 * first SDB_INDEX_INLINE_KEY_MAX bytes (those sort by hash). Sub-database "meta" holds the format
 * version and indexed_upto, which a batch writes in the same LMDB transaction as its versions.
 *
 * Semantics follow immudb (docs/api.md 2): a version is "dead" when it is a deletion (flags
 * SDB_INDEX_DELETED) or expired at the reader's `now` (has expiry and expires_at <= now). Get,
 * scans and keyMustExist treat a key whose latest version is dead as absent; history and count
 * include dead versions. Non-indexable entries must never be put (the engine skips them).
 *
 * Threading: one writer at a time (a batch belongs to one thread). Snapshots (read transactions,
 * MDB_NOTLS) may be used from any thread but by one thread at a time; any number may be open.
 * All LMDB calls live in src/index/. Lengths read from LMDB are checked: a damaged index gives
 * SEALDB_CORRUPT, never a crash. */
#ifndef SDB_INDEX_H
#define SDB_INDEX_H

#include <stdint.h>
#include <stddef.h>
#include "util/util.h"

#define SDB_INDEX_INLINE_KEY_MAX 479u        /* longer keys are stored as prefix + SHA-256 */
#define SDB_INDEX_MAX_KEY_LEN    65535u      /* hard limit on keys accepted by put */
#define SDB_INDEX_REC_LEN        41u         /* bytes per stored version record */

/* Version flags. */
#define SDB_INDEX_DELETED    0x01u           /* logical deletion marker (KV metadata deleted) */
#define SDB_INDEX_HAS_EXPIRY 0x02u           /* expires_at is valid */

typedef struct sdb_index sdb_index;
typedef struct sdb_index_snap sdb_index_snap;
typedef struct sdb_index_batch sdb_index_batch;

/* One version of a key as stored in the index. */
typedef struct sdb_index_ver {
    uint64_t tx_id;          /* tx that wrote this version */
    uint64_t revision;       /* 1-based version number (assigned by the index; ignored by put) */
    uint32_t entry_idx;      /* position of the entry in its tx (htree leaf) */
    uint32_t flags;          /* SDB_INDEX_DELETED | SDB_INDEX_HAS_EXPIRY */
    int64_t expires_at;      /* unix seconds, valid with SDB_INDEX_HAS_EXPIRY */
    uint64_t val_off;        /* opaque to the index: where the engine finds the value */
    uint32_t val_len;        /* opaque to the index: value length */
} sdb_index_ver;

/* 1 when v is a deletion or has expired at unix time now (expires_at <= now). */
static inline int sdb_index_ver_dead(const sdb_index_ver *v, int64_t now) {
    return (v->flags & SDB_INDEX_DELETED) || ((v->flags & SDB_INDEX_HAS_EXPIRY) && v->expires_at <= now);
}
static inline int sdb_index_ver_expired(const sdb_index_ver *v, int64_t now) {
    return (v->flags & SDB_INDEX_HAS_EXPIRY) && v->expires_at <= now;
}

typedef struct sdb_index_opts {
    uint64_t map_size;       /* most the LMDB map may grow to, in bytes (virtual; default 256 GiB) */
    uint64_t map_initial;    /* first map size of a read-write open (0: 256 KiB; the file's size when
                                larger); the map doubles when full. The file is sized to the map and
                                allocated (posix_fallocate), so it is never sparse. */
    unsigned max_readers;    /* default 510 */
    int create;              /* 1 (default): create the directory when missing */
    int read_only;           /* 1: open without writing anything (offline verify): batches and clear
                                fail; an index left unclean by an OS crash gives SEALDB_CORRUPT */
} sdb_index_opts;
void sdb_index_opts_default(sdb_index_opts *o);

/* ---- environment ---- */

/* Opens (creating when o->create) the index in directory `dir` (e.g. "<dbdir>/index").
 * SEALDB_UNSUPPORTED when the stored format version is not ours (the caller deletes the directory
 * with sdb_index_destroy and rebuilds), SEALDB_CORRUPT when LMDB reports a damaged file, SEALDB_IO
 * etc. otherwise. o may be NULL. */
int  sdb_index_open(const char *dir, const sdb_index_opts *o, sdb_index **out);
/* Closes after syncing and marking the index clean; every snapshot must have been ended and no
 * batch may be open. NULL is a no-op.
 * Crash guard: batches are never fsynced, so an OS crash or power loss may leave torn LMDB pages.
 * Open records the boot id with a "not clean" mark (synced); when open finds an index left unclean
 * under a different boot id, it empties it (indexed_upto 0, sdb_index_was_reset 1) so the caller
 * rebuilds from the journal. A process crash (kill -9) keeps the index: the page cache survives. */
void sdb_index_close(sdb_index *ix);
/* Removes the index files in dir (and dir itself when empty). The index must not be open.
 * SEALDB_OK when nothing was there. */
int  sdb_index_destroy(const char *dir);
/* Empties the open index in one write transaction (indexed_upto becomes 0): a rebuild without
 * closing. No snapshot may be open on another thread that expects old data (they keep their view). */
int  sdb_index_clear(sdb_index *ix);

/* 1 when open emptied an index left unclean by an OS crash (see above). */
int  sdb_index_was_reset(const sdb_index *ix);
/* Forces everything committed so far to disk (FlushIndex). */
int  sdb_index_sync(sdb_index *ix);

/* Highest tx applied (0 when empty), as last committed by a batch. */
int  sdb_index_indexed_upto(sdb_index *ix, uint64_t *out);

/* ---- writing: one LMDB write transaction per batch ---- */

/* Starts a batch. Only one batch may be open at a time (SEALDB_BUSY otherwise). */
int  sdb_index_batch_begin(sdb_index *ix, sdb_index_batch **out);
/* Adds one version of key (copied). Versions of one key must be added in tx order (and in
 * entry order within a tx); tx ids must be greater than the index's indexed_upto. v->revision is
 * ignored (the index numbers versions). Cheap: the work happens at commit. */
int  sdb_index_batch_put(sdb_index_batch *b, sdb_slice key, const sdb_index_ver *v);
/* Number of versions added so far. */
size_t sdb_index_batch_count(const sdb_index_batch *b);
/* Applies every put and sets indexed_upto (must be >= the current value) atomically; frees the
 * batch whatever the result. On failure nothing of the batch is visible. */
int  sdb_index_batch_commit(sdb_index_batch *b, uint64_t indexed_upto);
/* Discards the batch. NULL is a no-op. */
void sdb_index_batch_abort(sdb_index_batch *b);

/* ---- reading: a snapshot is one consistent LMDB read view ---- */

/* Opens a snapshot of the last committed batch (reuses pooled read transactions). */
int  sdb_index_snap_begin(sdb_index *ix, sdb_index_snap **out);
/* Ends it; pointers obtained from it become invalid. NULL is a no-op. */
void sdb_index_snap_end(sdb_index_snap *s);
/* indexed_upto as seen by this snapshot. */
uint64_t sdb_index_snap_upto(const sdb_index_snap *s);

/* Latest version of key. max_tx > 0 restricts to versions with tx_id <= max_tx (0: no limit).
 * Returns the version (dead or not) and its revision; count (may be NULL) receives the key's total
 * number of versions (ignoring max_tx). SEALDB_NOTFOUND when no such version exists. */
int  sdb_index_get_latest(sdb_index_snap *s, sdb_slice key, uint64_t max_tx, sdb_index_ver *out,
                          uint64_t *count);
/* Version by revision as in immudb's atRevision: rev > 0 is the rev-th version (1 = first),
 * rev <= 0 counts back from the latest (0 = latest, -1 = the one before). SEALDB_NOTFOUND when the
 * key has no version; SEALDB_RANGE when rev > count or -rev >= count. */
int  sdb_index_get_revision(sdb_index_snap *s, sdb_slice key, int64_t rev, sdb_index_ver *out);
/* Number of versions of key (0 when never indexed). */
int  sdb_index_version_count(sdb_index_snap *s, sdb_slice key, uint64_t *out);

/* History: calls fn for at most `limit` versions (0 = no limit) after skipping `offset`, oldest
 * first, or newest first with desc (then offset skips the newest ones). *count (may be NULL)
 * receives the number of versions. SEALDB_NOTFOUND when the key has no version; offset >= count
 * calls fn never and returns SEALDB_OK (the caller maps immudb's quirks). fn returns 0 to
 * continue; a nonzero return stops the walk and is returned as is. */
typedef int (*sdb_index_ver_fn)(void *arg, const sdb_index_ver *v);
int  sdb_index_history(sdb_index_snap *s, sdb_slice key, uint64_t offset, uint64_t limit, int desc,
                       sdb_index_ver_fn fn, void *arg, uint64_t *count);

/* Scan (docs/api.md 2.9): keys starting with prefix, bytewise order, ascending or descending.
 * Ascending starts at max(seek, prefix) (seek excluded unless inclusive_seek; an empty seek or one
 * before the prefix starts at the prefix, inclusive) and stops before end (at it with
 * inclusive_end; empty end = no bound). Descending starts at seek going down (empty seek = the
 * greatest key with the prefix; seek excluded unless inclusive_seek) and stops when keys are below
 * end (end included with inclusive_end). For each key, its latest version with tx_id <= max_tx
 * (0 = no limit) is taken; keys whose version is dead at `now` are skipped unless include_dead.
 * `offset` matching keys are skipped, then at most `limit` (0 = no limit) are passed to fn. */
typedef struct sdb_index_scan_opts {
    sdb_slice prefix, seek, end;
    int inclusive_seek, inclusive_end, desc;
    uint64_t offset, limit;
    uint64_t max_tx;
    int64_t now;             /* unix seconds for expiry */
    int include_dead;
} sdb_index_scan_opts;
/* key is the full user key, valid during the call only. fn returns 0 to continue; nonzero stops
 * the scan and is returned as is (use a positive value of your own to stop early without error). */
typedef int (*sdb_index_scan_fn)(void *arg, sdb_slice key, const sdb_index_ver *v, uint64_t count);
int  sdb_index_scan(sdb_index_snap *s, const sdb_index_scan_opts *o, sdb_index_scan_fn fn, void *arg);

/* Number of distinct keys with this prefix (empty = all), dead ones included. */
int  sdb_index_count(sdb_index_snap *s, sdb_slice prefix, uint64_t *out);

/* ---- preconditions (docs/api.md 2.3), checked on a snapshot that covers every earlier tx ---- */
enum { SDB_INDEX_PRE_MUST_EXIST = 1, SDB_INDEX_PRE_MUST_NOT_EXIST = 2, SDB_INDEX_PRE_NOT_MODIFIED_AFTER = 3 };
/* *holds = 1 when the precondition holds: MUST_EXIST: the latest version exists and is not dead at
 * now; MUST_NOT_EXIST: the opposite; NOT_MODIFIED_AFTER: the latest version's tx_id <= tx_id (dead
 * versions count) or the key was never indexed. SEALDB_INVALID for an unknown kind. */
int  sdb_index_pre_check(sdb_index_snap *s, int kind, sdb_slice key, uint64_t tx_id, int64_t now,
                         int *holds);

#endif
