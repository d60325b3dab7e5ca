/* index.h - the key index (engine layer): per database directory, each indexed key mapped to its
 * versions, plus "indexed up to tx N". It is derived data: the journal is the truth, so the index
 * may be deleted and rebuilt at any time. Implementation: a log-structured merge tree (lsm.c):
 * a memtable in memory, flushed to immutable sorted run files with a manifest naming them and the
 * last tx they cover. Nothing of the memtable is logged: after a crash, indexed_upto is the
 * manifest's, and the engine replays the journal past it.
 *
 * Each version carries its revision (1-based, assigned here in put order); the latest version's
 * revision is the key's version count. Keys are compared bytewise, in full (no length class).
 *
 * Semantics follow immudb (docs/api.md 2): a version is "dead" when it is a deletion (flags
 * SDB_INDEX_DELETED) or expired at the reader's `now` (has expiry and expires_at <= now). Get,
 * scans and keyMustExist treat a key whose latest version is dead as absent; history and count
 * include dead versions. Non-indexable entries must never be put (the engine skips them).
 *
 * Threading: one writer at a time (a batch belongs to one thread); a put is visible to snapshots
 * begun after its batch commits. Snapshots may be used from any thread, by one at a time; any
 * number may be open. Bytes read from run files are checked (block CRC32C, lengths, order): a
 * damaged index gives SEALDB_CORRUPT, never a crash. */
#ifndef SDB_INDEX_H
#define SDB_INDEX_H

#include <stdint.h>
#include <stddef.h>
#include "util/util.h"

#define SDB_INDEX_MAX_KEY_LEN    65535u      /* hard limit on keys accepted by put */
#define SDB_INDEX_MEMTABLE_DEFAULT ((uint64_t)32 << 20)   /* memtable size before a flush */
#define SDB_INDEX_MEMTABLE_MIN     ((uint64_t)1 << 20)
#define SDB_INDEX_MEMTABLE_MAX     ((uint64_t)4 << 30)

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
    uint64_t memtable_bytes; /* memtable size that starts a flush (default SDB_INDEX_MEMTABLE_DEFAULT;
                                SDB_INDEX_MEMTABLE_MIN..MAX, else open gives SEALDB_INVALID). Memory
                                use is up to about twice this: a full memtable is flushed while the
                                next one fills, and writers wait when that one is full too. */
    int create;              /* 1 (default): create the directory when missing */
    int read_only;           /* 1: open without writing anything (offline verify): batches and clear
                                fail with SEALDB_PERMISSION; no background threads */
} sdb_index_opts;
void sdb_index_opts_default(sdb_index_opts *o);

/* ---- environment ---- */

/* Opens (creating when o->create) the index in directory `dir` (e.g. "<dbdir>/index") and starts
 * its flusher and merger threads. SEALDB_UNSUPPORTED when the directory holds another format (the
 * caller deletes it with sdb_index_destroy and rebuilds), SEALDB_CORRUPT when the manifest or a run
 * it names is damaged or missing, SEALDB_IO etc. otherwise. o may be NULL. Run files the manifest
 * does not name (a flush or merge cut short) are removed. */
int  sdb_index_open(const char *dir, const sdb_index_opts *o, sdb_index **out);
/* Flushes the memtable (so the next open replays nothing) and closes; every snapshot must have
 * been ended and no batch may be open. NULL is a no-op. */
void sdb_index_close(sdb_index *ix);
/* Removes the index files in dir (and dir itself when empty). The index must not be open.
 * SEALDB_OK when nothing was there. */
int  sdb_index_destroy(const char *dir);
/* Empties the open index in one write transaction (indexed_upto becomes 0): a rebuild without
 * closing. No snapshot may be open on another thread that expects old data (they keep their view). */
int  sdb_index_clear(sdb_index *ix);

/* Always 0 since the LSM index: runs and manifest are fsynced, so an OS crash leaves no torn file. */
int  sdb_index_was_reset(const sdb_index *ix);
/* Flushes the memtable to a run and waits until the manifest covers everything committed.
 * SEALDB_BUSY while a batch is open (the caller orders it with its writer). */
int  sdb_index_sync(sdb_index *ix);

/* Highest tx applied (0 when empty), as last committed by a batch. */
int  sdb_index_indexed_upto(sdb_index *ix, uint64_t *out);

/* ---- writing: puts go into the memtable; commit publishes them by advancing indexed_upto ---- */

/* Starts a batch. Only one batch may be open at a time (SEALDB_BUSY otherwise). */
int  sdb_index_batch_begin(sdb_index *ix, sdb_index_batch **out);
/* Adds one version of key (copied). Versions of one key must be added in tx order (and in
 * entry order within a tx); tx ids must be greater than the index's indexed_upto. v->revision is
 * ignored (the index numbers versions). SEALDB_INVALID for a tx not above the key's latest. */
int  sdb_index_batch_put(sdb_index_batch *b, sdb_slice key, const sdb_index_ver *v);
/* A hint that key will be put soon: node 0 prefetches its hash bucket (and the runs' Bloom filter
 * lines a new key is looked up in), node 1 the first node in that bucket (call it with 0 some puts
 * ahead, then with 1 a few puts ahead, so the dependent cache misses of a put overlap with earlier
 * puts). Changes nothing. */
void sdb_index_batch_prefetch(sdb_index_batch *b, sdb_slice key, int node);
/* Number of versions added so far. */
size_t sdb_index_batch_count(const sdb_index_batch *b);
/* Publishes every put by setting indexed_upto (must be >= the current value, else SEALDB_INVALID
 * and the batch is undone); ends the batch whatever the result. Starts a flush when the memtable
 * is full. On failure nothing of the batch is visible. */
int  sdb_index_batch_commit(sdb_index_batch *b, uint64_t indexed_upto);
/* Discards the batch. NULL is a no-op. */
void sdb_index_batch_abort(sdb_index_batch *b);

/* ---- reading: a snapshot is one consistent view (memtables and runs, versions up to its upto) ---- */

/* Opens a snapshot of the last committed batch. */
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
/* key is the full user key, valid during the call only; count is v's revision (the key's number
 * of versions up to max_tx). fn returns 0 to continue; nonzero stops the scan and is returned as is
 * (use a positive value of your own to stop early without error). */
typedef int (*sdb_index_scan_fn)(void *arg, sdb_slice key, const sdb_index_ver *v, uint64_t count);
int  sdb_index_scan(sdb_index_snap *s, const sdb_index_scan_opts *o, sdb_index_scan_fn fn, void *arg);

/* Number of distinct keys with this prefix (empty = all), dead ones included. */
int  sdb_index_count(sdb_index_snap *s, sdb_slice prefix, uint64_t *out);
/* The same, counting only keys with a version at tx_id <= max_tx (0 or UINT64_MAX: every key). */
int  sdb_index_count_at(sdb_index_snap *s, sdb_slice prefix, uint64_t max_tx, uint64_t *out);

/* ---- preconditions (docs/api.md 2.3), checked on a snapshot that covers every earlier tx ---- */
enum { SDB_INDEX_PRE_MUST_EXIST = 1, SDB_INDEX_PRE_MUST_NOT_EXIST = 2, SDB_INDEX_PRE_NOT_MODIFIED_AFTER = 3 };
/* *holds = 1 when the precondition holds: MUST_EXIST: the latest version exists and is not dead at
 * now; MUST_NOT_EXIST: the opposite; NOT_MODIFIED_AFTER: the latest version's tx_id <= tx_id (dead
 * versions count) or the key was never indexed. SEALDB_INVALID for an unknown kind. */
int  sdb_index_pre_check(sdb_index_snap *s, int kind, sdb_slice key, uint64_t tx_id, int64_t now,
                         int *holds);

/* Sizes for the bench and metrics. */
typedef struct sdb_index_stats {
    uint64_t runs, disk_bytes, disk_versions;   /* run files, their bytes and versions */
    uint64_t mem_bytes, mem_versions;           /* memtables (the one filling and one being flushed) */
} sdb_index_stats;
void sdb_index_stats_get(sdb_index *ix, sdb_index_stats *st);
/* Reads every block of every run, checking CRCs, group order and revision continuity, and the
 * memtables' skiplist order at every level (sealdb verify). *versions (may be NULL) receives the
 * versions in runs. */
int  sdb_index_check(sdb_index *ix, uint64_t *versions);
/* Fuzz target entry: parses `size` bytes as a run file (checksums not required, so the decoders
 * behind them are reached) and reads all of it; any bytes give a status, never a crash. */
int  sdb_index_fuzz_run(const uint8_t *data, size_t size);

#endif
