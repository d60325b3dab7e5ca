/* sealdb.h - the embedded sealdb engine: an immutable, verifiable key-value store kept in one
 * directory, used in-process like SQLite. Every write is a transaction that is kept forever,
 * hash-chained (immudb-compatible Alh chain and Merkle trees) and durable when acknowledged.
 *
 * Conventions (the header is the manual; anything not declared here is not API):
 *  - Every function returns an int status from sealdb_err.h (SEALDB_OK = 0); results come through
 *    out parameters, which are written only on success.
 *  - Handles are opaque. Lifecycle: sealdb_create -> sealdb_set_* -> sealdb_open -> ... -> sealdb_close.
 *  - Byte arguments (sealdb_bytes) are borrowed for the duration of the call only.
 *  - Objects returned through `**out` belong to the caller and are freed with their *_free function;
 *    byte pointers obtained from an entry stay valid until that entry is freed.
 *  - Threading: after sealdb_open, every function may be called from any number of threads at once
 *    on the same handle; writers are group-committed (one fdatasync per group). Setters may only be
 *    called before sealdb_open. sealdb_close must not race with other calls on the handle.
 *  - Keys are 1..1023 bytes, values shorter than 32 MiB - 1, at most 1024 entries per transaction.
 */
#ifndef SEALDB_H
#define SEALDB_H

#include <stddef.h>
#include <stdint.h>
#include "sealdb_err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SEALDB_VERSION        "0.1.0"
#define SEALDB_VERSION_NUMBER 1000   /* major*1000000 + minor*1000 + patch */
/* Run-time library version (compare with SEALDB_VERSION_NUMBER). */
SEALDB_API int sealdb_libversion_number(void);

typedef struct sealdb sealdb;               /* one database directory */
typedef struct sealdb_item sealdb_item;   /* one version of a key (key, value, tx, revision) */
typedef struct sealdb_items sealdb_items; /* an ordered list of entries */

typedef struct sealdb_bytes { const void *ptr; size_t len; } sealdb_bytes;

/* A verified point in the history: transaction id and its accumulated hash (Alh). An empty
 * database has tx_id 0 and alh = SHA-256(""). Keep the last one you verified and pass it to the
 * verified calls: they prove the database only grew from it. */
typedef struct sealdb_dbstate { uint64_t tx_id; uint8_t alh[32]; } sealdb_dbstate;

/* ---- lifecycle ---- */

/* Allocates an unopened handle with default options (sync on). */
SEALDB_API int sealdb_create(sealdb **out);
/* 1 (default): a write returns only after fdatasync; 0: after the write(2) (faster, may lose the
 * last writes on power loss, never corrupts). Only before sealdb_open (else SEALDB_INVALID). */
SEALDB_API int sealdb_set_sync(sealdb *db, int on);
/* Journal segment size in bytes (default 64 MiB, minimum 1 MiB). Only before sealdb_open. */
SEALDB_API int sealdb_set_segment_size(sealdb *db, uint64_t bytes);

#define SEALDB_OPEN_CREATE 1u   /* create the directory if it does not exist */
/* Opens the database directory. Recovers from a crash (a torn, unacknowledged tail is cut; derived
 * files are rebuilt). SEALDB_CORRUPT when committed data is damaged (nothing is repaired);
 * SEALDB_BUSY when another process has it open; SEALDB_NOTFOUND when absent without CREATE. */
SEALDB_API int sealdb_open(sealdb *db, const char *dir, unsigned flags);
/* Completes pending writes, closes and frees the handle. NULL is a no-op. */
SEALDB_API int sealdb_close(sealdb *db);

/* ---- writes (each call commits one transaction) ---- */

typedef struct sealdb_pair { sealdb_bytes key, value; } sealdb_pair;

/* Sets key to value. tx_id (may be NULL) receives the transaction id. A failed write or fsync
 * returns its cause (SEALDB_NOSPACE, SEALDB_PERMISSION, SEALDB_IO); nothing after it is
 * acknowledged, and the next write first recovers the handle in place (the unacknowledged journal
 * tail is cut, as reopening would) and returns the cause again while it persists. */
SEALDB_API int sealdb_set(sealdb *db, sealdb_bytes key, sealdb_bytes value, uint64_t *tx_id);
/* Sets n pairs atomically in one transaction (distinct keys, 1 <= n <= 1024). */
SEALDB_API int sealdb_set_all(sealdb *db, const sealdb_pair *kvs, size_t n, uint64_t *tx_id);
/* Sets key only if it does not exist yet (or its latest version is deleted): SEALDB_PRECONDITION
 * otherwise. The check and the write are atomic. */
SEALDB_API int sealdb_set_if_absent(sealdb *db, sealdb_bytes key, sealdb_bytes value, uint64_t *tx_id);
/* Sets key with an expiration time (unix seconds); afterwards the key reads as not found. */
SEALDB_API int sealdb_set_expiring(sealdb *db, sealdb_bytes key, sealdb_bytes value, int64_t expires_at,
                                   uint64_t *tx_id);
/* Logically deletes key (a new version marked deleted). SEALDB_NOTFOUND if it is not live. */
SEALDB_API int sealdb_delete(sealdb *db, sealdb_bytes key, uint64_t *tx_id);

/* ---- reads ---- */

/* Latest live version of key. SEALDB_NOTFOUND when never written, deleted or expired. */
SEALDB_API int sealdb_get(sealdb *db, sealdb_bytes key, sealdb_item **out);
/* The key as written in transaction tx_id (SEALDB_NOTFOUND if that tx did not write it). */
SEALDB_API int sealdb_get_at_tx(sealdb *db, sealdb_bytes key, uint64_t tx_id, sealdb_item **out);
/* The revision-th version (1 = first); negative counts back from the latest (-1 = previous). */
SEALDB_API int sealdb_get_at_revision(sealdb *db, sealdb_bytes key, int64_t revision, sealdb_item **out);
/* Versions of key, skipping `offset`, at most `limit` (0 = all), oldest first unless desc. */
SEALDB_API int sealdb_history(sealdb *db, sealdb_bytes key, uint64_t offset, uint64_t limit, int desc,
                              sealdb_items **out);
/* Latest live versions of keys starting with prefix, in byte order (reverse when desc), starting
 * after seek (empty = from the first/last key), at most limit (0 = all). */
SEALDB_API int sealdb_scan(sealdb *db, sealdb_bytes prefix, sealdb_bytes seek, int desc, uint64_t limit,
                           sealdb_items **out);
/* Number of distinct keys ever written with the prefix (deleted ones included). */
SEALDB_API int sealdb_count(sealdb *db, sealdb_bytes prefix, uint64_t *out);

/* Discards the values of every transaction below keep_from_tx (1..last) for good; headers and
 * proofs stay valid, and reading a discarded non-empty value answers SEALDB_TRUNCATED. The
 * disk space of the values is given back where the file system can punch holes. */
SEALDB_API int sealdb_truncate(sealdb *db, uint64_t keep_from_tx);

/* ---- verification ---- */

/* The current state (last tx id and Alh). */
SEALDB_API int sealdb_current_state(sealdb *db, sealdb_dbstate *out);
/* Reads the latest version of key and proves it: the entry is included in its transaction, that
 * transaction is in the history, and the history extends *trusted (consistency). On success
 * *trusted is advanced to the current state. SEALDB_TAMPERED if any proof fails. trusted may
 * hold tx_id 0 (trust on first use). */
SEALDB_API int sealdb_verified_get(sealdb *db, sealdb_bytes key, sealdb_dbstate *trusted, sealdb_item **out);
/* Re-verifies the whole history of a closed database directory (checksums, hashes, trees, chain,
 * derived files). SEALDB_OK when intact; the first problem is printed to stderr when verbose. */
SEALDB_API int sealdb_verify_dir(const char *dir, int verbose);

/* ---- entries ---- */

SEALDB_API sealdb_bytes sealdb_item_key(const sealdb_item *e);
SEALDB_API sealdb_bytes sealdb_item_value(const sealdb_item *e);
SEALDB_API uint64_t     sealdb_item_tx(const sealdb_item *e);       /* tx that wrote this version */
SEALDB_API uint64_t     sealdb_item_revision(const sealdb_item *e); /* 1-based; 0 when read at a tx */
SEALDB_API int          sealdb_item_deleted(const sealdb_item *e);  /* 1 for a deletion marker */
SEALDB_API void         sealdb_item_free(sealdb_item *e);           /* NULL is a no-op */

SEALDB_API size_t              sealdb_items_count(const sealdb_items *l);
SEALDB_API const sealdb_item *sealdb_items_at(const sealdb_items *l, size_t i); /* owned by l */
SEALDB_API void                sealdb_items_free(sealdb_items *l);               /* NULL is a no-op */

#ifdef __cplusplus
}
#endif
#endif
