/* engine.h - the engine layer's internal interface: one database directory (journal, derived tx
 * index and ahtree, LSM key index) with a committer thread that group-commits, an indexer thread
 * that applies committed txs to the key index, and the reads and proofs the db layer builds on.
 *
 * Keys are opaque bytes here (the db layer adds immudb's one-byte prefixes); limits apply to them
 * as given (key <= SDB_ENGINE_MAX_KEY_LEN, value < SDB_ENGINE_MAX_VALUE_LEN).
 *
 * Threading: every function is thread-safe on one sdb_engine unless stated otherwise; readers never
 * block the committer. Callbacks run on the engine's committer thread and must not block on the
 * same engine (no sync commit from inside a callback). Out structs are caller-owned: call their
 * deinit (NULL-safe, idempotent) after success or failure alike. */
#ifndef SDB_ENGINE_H
#define SDB_ENGINE_H

#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include "util/util.h"
#include "crypto/crypto.h"

#define SDB_ENGINE_MAX_ENTRIES   1024u            /* per tx */
#define SDB_ENGINE_MAX_KEY_LEN   1024u            /* bytes, including the db layer's prefix byte */
#define SDB_ENGINE_MAX_VALUE_LEN ((32u << 20) + 1) /* values must be shorter: up to 32 MiB, as immudb */

typedef struct sdb_engine sdb_engine;

typedef struct sdb_engine_opts {
    int sync;                  /* 1 (default): fdatasync before acknowledging; 0: acknowledge after write */
    int create;                /* 1 (default): create the directory when absent */
    int exclude_commit_time;   /* 1: ts = 0 for every tx (immudb's excludeCommitTime) */
    uint64_t segment_size;     /* journal segment size in bytes (default 64 MiB) */
    uint32_t max_entries;      /* default SDB_ENGINE_MAX_ENTRIES */
    uint32_t max_key_len;      /* default SDB_ENGINE_MAX_KEY_LEN */
    uint32_t max_value_len;    /* default SDB_ENGINE_MAX_VALUE_LEN (exclusive bound) */
    uint64_t index_memtable_bytes; /* key index memtable size (0: 32 MiB; 1 MiB..4 GiB, else open fails) */
} sdb_engine_opts;

void sdb_engine_opts_default(sdb_engine_opts *o);
/* Process-wide key index memtable size for engines opened with index_memtable_bytes 0 (the
 * server's --index-memtable-mb); 0 restores the default. */
void sdb_engine_set_index_memtable(uint64_t bytes);

/* Opens (creating when o->create) the database in directory `dir`: checks the journal tail
 * (truncating only an unacknowledged torn tail), rebuilds missing or lagging derived files, starts
 * the committer and indexer threads. A damaged committed record gives SEALDB_CORRUPT and a message
 * naming the tx in sdb_engine_last_open_error(). Several engines can be open at once (one per
 * database directory); one directory may be opened by one process only (SEALDB_BUSY). o may be NULL. */
int  sdb_engine_open(const char *dir, const sdb_engine_opts *o, sdb_engine **out);
/* Stops the threads after completing every queued commit, closes files. NULL is a no-op. */
void sdb_engine_close(sdb_engine *e);
/* Human-readable reason of the last failed sdb_engine_open in this thread ("" when none). */
const char *sdb_engine_last_open_error(void);
/* SEALDB_OK, or SEALDB_FAILED once a write/fsync failed. The next commit then makes the committer
 * recover in place (the unacknowledged journal tail is zeroed and synced, derived files go back to
 * the last published tx, the last record is re-read and its Alh checked) before it is written;
 * while the cause persists every commit gets the failing call's status (SEALDB_NOSPACE, ...). */
int  sdb_engine_status(sdb_engine *e);
/* The status of the last failed write and its cause ("writing journal segment ...: No space left
 * on device") in buf; SEALDB_OK (buf "") when the engine is not failed. */
int  sdb_engine_fail_reason(sdb_engine *e, char *buf, size_t cap);
/* Where the engine reports disk failures and recoveries (one line each, no newline); NULL (the
 * default) is silent. Process-wide; set it before opening engines. */
void sdb_engine_set_log(void (*fn)(const char *line));
const char *sdb_engine_dir(const sdb_engine *e);

/* ---- commit ---- */

typedef struct sdb_kv {
    sdb_slice key;             /* non-empty */
    sdb_slice value;           /* may be empty */
    sdb_kv_md md;              /* all zero: no metadata */
    /* 1 + offset in key / value of an 8-byte big-endian slot the committer fills with this tx's own
     * id before hashing (immudb's references bound to the tx being created); 0: none */
    uint32_t own_id_key_at, own_id_value_at;
} sdb_kv;

enum { SDB_PRE_KEY_MUST_EXIST = 1, SDB_PRE_KEY_MUST_NOT_EXIST = 2, SDB_PRE_KEY_NOT_MODIFIED_AFTER = 3 };
typedef struct sdb_precondition {
    int kind;                  /* SDB_PRE_* */
    sdb_slice key;
    uint64_t tx_id;            /* SDB_PRE_KEY_NOT_MODIFIED_AFTER */
} sdb_precondition;

/* Result handed to the completion callback; valid only during the callback. */
typedef struct sdb_commit_result {
    sdb_tx_header hdr;         /* id, prevAlh, ts, version 1, nentries, eH, blTxId, blRoot */
    sdb_hash alh;
} sdb_commit_result;

/* rc is SEALDB_OK (res filled), SEALDB_PRECONDITION (failed precondition; res NULL; which one:
 * failed_pre = index into the preconditions array), or an I/O status (res NULL). */
typedef void (*sdb_commit_cb)(void *arg, int rc, const sdb_commit_result *res, size_t failed_pre);

/* Validates (limits, duplicate keys -> SEALDB_INVALID/TOOLARGE/EXISTS), copies and hashes the
 * entries and builds the tx's htree on the calling thread, then queues the tx. On SEALDB_OK, cb is
 * called exactly once later on the committer thread, after the tx (and its group) is durable and
 * published (or failed). On any other return cb is never called. Keys, values and preconditions are
 * copied; the caller may free them on return. Preconditions are checked atomically against the
 * state including every earlier tx. Duplicate keys give SEALDB_EXISTS. */
int  sdb_engine_commit(sdb_engine *e, const sdb_kv *kvs, size_t n,
                       const sdb_precondition *pre, size_t npre, sdb_commit_cb cb, void *arg);
/* on = 1: this thread's following sdb_engine_commit calls queue their txs without waking the
 * committer; on = 0 wakes it once if they need it. A caller with several txs at hand (a stream
 * message's) wakes the committer once, not per tx, and they tend to form one group. */
void sdb_engine_defer_wake(sdb_engine *e, int on);
/* Blocking wrapper: returns when the tx is published. res and failed_pre may be NULL. */
int  sdb_engine_commit_sync(sdb_engine *e, const sdb_kv *kvs, size_t n,
                            const sdb_precondition *pre, size_t npre,
                            sdb_commit_result *res, size_t *failed_pre);

/* ---- replicated commits (docs/replication.md 7) ----
 * A tx received from a primary is committed with the primary's header: its id, ts, version (0 or
 * 1), tx metadata and blTxId, after checking that it continues this engine's chain: eH = the root
 * of the entries' tree (on the calling thread, unless skip_eh: an export made with
 * skipIntegrityCheck carries zeros; the stored header always gets the real eH), then on the
 * committer id = last + 1, blRoot = own ahtree root at blTxId, prevAlh = own last Alh and, when
 * expect_alh is given, the resulting Alh = expect_alh (the hot-backup checksum; replication.md
 * W17). The entries are the stored keys and values as received (no own-id slots, no
 * preconditions). Why a check failed (SDB_REPL_*) goes to *why on return, or to the callback as
 * its failed_pre argument. Results: SEALDB_EXISTS (already here, same Alh: nothing written),
 * SEALDB_TAMPERED (DIVERGED: a different tx under that id; BAD_*), SEALDB_RANGE (GAP: not the next
 * id), SEALDB_UNSUPPORTED (version > 1), or the usual commit errors. */
enum { SDB_REPL_OK = 0, SDB_REPL_EXISTS, SDB_REPL_DIVERGED, SDB_REPL_GAP, SDB_REPL_BAD_EH,
       SDB_REPL_BAD_BLROOT, SDB_REPL_BAD_PREV_ALH, SDB_REPL_BAD_ALH };
int  sdb_engine_commit_replicated(sdb_engine *e, const sdb_tx_header *hdr, const sdb_kv *kvs, size_t n,
                                  int skip_eh, const uint8_t *expect_alh, sdb_commit_cb cb, void *arg, int *why);
int  sdb_engine_commit_replicated_sync(sdb_engine *e, const sdb_tx_header *hdr, const sdb_kv *kvs, size_t n,
                                       int skip_eh, const uint8_t *expect_alh, sdb_commit_result *res, int *why);

/* ---- answer gate: synchronous replication (gate.c, docs/replication.md 5) ----
 * OFF: a tx is committed when it is published (durable). PRIMARY (a sync primary, acks > 0): a
 * published tx is only precommitted; its commit callback is held until `acks` distinct replicas
 * reported a precommitted id >= its id (sdb_engine_gate_ack, immudb's replica-state table), then
 * callbacks run in tx order. REPLICA (a sync replica): imported txs are precommitted and become
 * committed as the primary allows (sdb_engine_gate_allow). Replicated commits are never held.
 * Key reads (get, history, scan, count) see committed txs only: a key's newest version at or below
 * the committed point (an at_tx above it is SEALDB_RANGE); sdb_engine_tx_read still reads every
 * published tx (the precommitted export). The committed point is what CurrentState, TxById and
 * committed-only exports stop at. Setting the mode makes everything published so far committed
 * when it leaves OFF or REPLICA for OFF; a new acks value re-evaluates the table and the held
 * answers. */
enum { SDB_GATE_OFF = 0, SDB_GATE_PRIMARY = 1, SDB_GATE_REPLICA = 2 };
void sdb_engine_gate_set(sdb_engine *e, int mode, uint32_t acks);
int  sdb_engine_gate_mode(sdb_engine *e);
/* REPLICA gate: the committed point is unknown, so it restarts at 0 until the primary says. */
void sdb_engine_gate_forget_committed(sdb_engine *e);
/* REPLICA gate, at open: the committed point is the stored one (file `committed`, discard.c);
 * without one it is 0 (an empty database stores 0). Other modes: the file is removed (a primary
 * or an asynchronous replica commits everything it holds). */
int  sdb_engine_gate_restore_committed(sdb_engine *e);
/* After a mode change: a REPLICA gate stores its committed point, other modes remove the file. */
int  sdb_engine_gate_persist(sdb_engine *e);
/* The stored committed point (fdatasync'ed; only ever moved forward by sdb_engine_gate_allow). */
int  sdb_engine_store_committed(sdb_engine *e, uint64_t id);
int  sdb_engine_drop_committed(sdb_engine *e);
/* Closed database in dir: discard every tx after keep at its next open (a sync replica's
 * precommitted txs its new primary does not have, allowTxDiscarding). Crash-safe: a marker the
 * next open completes (discard.c). SEALDB_INVALID when keep is below the stored committed point
 * or no committed point is stored (a committed tx is never discarded), SEALDB_BUSY when the
 * database is open. */
int  sdb_engine_mark_discard(const char *dir, uint64_t keep);
/* Replica states that moved some replica's precommitted id forward on a PRIMARY gate. */
uint64_t sdb_engine_gate_acks(sdb_engine *e);
/* A replica's state on a PRIMARY gate (5.2 step 3): entries at or below the committed point are
 * dropped; pre_id above it is recorded for uuid; with >= acks entries the committed point moves to
 * their minimum (never past the last published tx) and the held answers up to it are released.
 * SEALDB_RANGE: uuid reported a lower id than it did before (immudb's "lags behind" error);
 * SEALDB_INVALID: not a PRIMARY gate. */
int  sdb_engine_gate_ack(sdb_engine *e, const char *uuid, uint64_t pre_id);
/* REPLICA gate: the primary allows committing up to id (clamped to the last published tx; the
 * committed point never moves back). */
int  sdb_engine_gate_allow(sdb_engine *e, uint64_t id);   /* status of storing the new point */
/* The committed point (the last published tx when the gate is OFF) and its Alh (alh may be NULL). */
uint64_t sdb_engine_committed_tx(sdb_engine *e);
int  sdb_engine_committed_state(sdb_engine *e, uint64_t *tx_id, uint8_t alh[SDB_HASH_LEN]);
/* Waits until tx is published (precommitted = 1) or committed: SEALDB_OK, SEALDB_TIMEOUT after
 * timeout_ms, SEALDB_CLOSED once the gate is closed. */
int  sdb_engine_gate_wait(sdb_engine *e, uint64_t tx, int precommitted, int64_t timeout_ms);
/* Answers every held callback with SEALDB_CLOSED, and later ones at once (server shutdown, close):
 * their txs are durable but were not acknowledged by enough replicas. */
void sdb_engine_gate_close(sdb_engine *e);
uint64_t sdb_engine_gate_held(sdb_engine *e);   /* answers held now */

/* ---- state ---- */

/* Last published tx id (0 when empty) and its Alh (H("") when empty). alh may be NULL. */
int  sdb_engine_state(sdb_engine *e, uint64_t *tx_id, uint8_t alh[SDB_HASH_LEN]);
uint64_t sdb_engine_last_tx(sdb_engine *e);
/* Highest tx applied to the key index. */
uint64_t sdb_engine_indexed_upto(sdb_engine *e);
/* Waits until the key index covers tx_id (SEALDB_OK), the timeout passes (SEALDB_TIMEOUT;
 * timeout_ms < 0 waits forever) or tx_id > last committed (SEALDB_RANGE). */
int  sdb_engine_wait_indexed(sdb_engine *e, uint64_t tx_id, int64_t timeout_ms);
/* A completion that waits for the key index to cover a tx (read-your-writes without parking a thread).
 * The caller owns the storage; it must stay valid until cb has run. */
typedef struct sdb_index_wait {
    uint64_t tx_id;
    void (*cb)(void *arg, int rc);   /* rc: SEALDB_OK, the indexer's error, or SEALDB_CLOSED */
    void *arg;
    struct sdb_index_wait *next;     /* the engine's */
} sdb_index_wait;
/* Calls w->cb exactly once: at once on this thread when the index already covers w->tx_id (or has
 * failed), else on the indexer thread as soon as it does (or fails, or the engine closes). cb must
 * not block on the index. */
void sdb_engine_when_indexed(sdb_engine *e, sdb_index_wait *w);
/* Makes the key index durable up to the current indexed tx (waits for it to cover the last tx). */
int  sdb_engine_flush_index(sdb_engine *e);
/* Key index sizes: run files (bytes, versions) and memtables (bytes). */
void sdb_engine_index_usage(sdb_engine *e, uint64_t *disk_bytes, uint64_t *disk_versions, uint64_t *mem_bytes);

/* ---- transactions ---- */

typedef struct sdb_tx_entry {
    sdb_slice key;             /* borrowed from the sdb_tx's buffer */
    sdb_slice md_bytes;        /* encoded KV metadata (docs/format.md 1.1), empty when none */
    sdb_kv_md md;
    sdb_hash hvalue;           /* SHA-256 of the stored value */
    uint32_t vlen;
    sdb_slice value;           /* only with values; empty otherwise */
} sdb_tx_entry;

typedef struct sdb_tx {
    sdb_tx_header hdr;
    sdb_hash alh;
    uint32_t nentries;
    sdb_tx_entry *entries;     /* in commit order; index = leaf in the tx's htree */
    int has_values;
    sdb_buf raw_;              /* private: backing bytes */
} sdb_tx;

void sdb_tx_init(sdb_tx *t);
void sdb_tx_deinit(sdb_tx *t);
/* Reads tx `id` (1..last): one pread without values, two with. SEALDB_RANGE for 0 or id > last;
 * SEALDB_CORRUPT when the stored record fails its checks. */
int  sdb_engine_tx_read(sdb_engine *e, uint64_t id, int with_values, sdb_tx *out);
/* Header and Alh only (from the tx index and journal). alh may be NULL. */
int  sdb_engine_tx_header(sdb_engine *e, uint64_t id, sdb_tx_header *hdr, uint8_t alh[SDB_HASH_LEN]);
/* Reads one entry's value of tx `id` into out (appended); checks it against hvalue (TAMPERED). */
int  sdb_engine_read_value(sdb_engine *e, uint64_t id, uint32_t entry_idx, sdb_buf *out);

/* ---- truncation (truncate.c) ---- */

/* Discards the values of every tx below keep_from (1..last tx) durably; headers, entries, trees and
 * the key index stay, so every proof stays valid. Reads of a discarded non-empty value then answer
 * SEALDB_TRUNCATED. A keep_from at or below the current point is a no-op; SEALDB_RANGE past the
 * last tx. Safe alongside reads and commits. */
int  sdb_engine_truncate(sdb_engine *e, uint64_t keep_from);
/* The first tx whose values are kept (0 or 1: nothing truncated). */
uint64_t sdb_engine_truncated_below(sdb_engine *e);
/* The newest tx committed at or before unix second ts (SEALDB_NOTFOUND when none is). */
int  sdb_engine_last_tx_until(sdb_engine *e, int64_t ts, uint64_t *id);

/* ---- key reads (through the key index) ---- */

/* One version of a key, owned by the struct. */
typedef struct sdb_kv_version {
    uint64_t tx_id;
    uint64_t revision;         /* 1-based version number; 0 when read by at_tx */
    uint32_t entry_idx;        /* position of the entry in its tx (htree leaf) */
    sdb_kv_md md;
    uint8_t md_bytes[SDB_KV_MD_MAX_LEN];
    uint8_t md_len;
    int expired;               /* md.has_expires && expires_at <= now (at read time) */
    sdb_hash hvalue;           /* SHA-256 of the value bytes read (so of `value` when filled; an
                                  at_tx read checks them against the stored hash instead) */
    uint32_t vlen;
    sdb_buf key;
    sdb_buf value;             /* filled unless the read asked for no values */
} sdb_kv_version;
void sdb_kv_version_init(sdb_kv_version *v);
void sdb_kv_version_deinit(sdb_kv_version *v);

/* max_bytes (0: none) bounds the keys and values a scan or history read keeps: the read stops
 * with SEALDB_TOOLARGE before the version that would cross it is read (bytes: the running sum). */
typedef struct sdb_kv_list { sdb_kv_version *v; size_t n, cap; uint64_t bytes, max_bytes; } sdb_kv_list;
void sdb_kv_list_init(sdb_kv_list *l);
void sdb_kv_list_deinit(sdb_kv_list *l);

typedef struct sdb_get_opts {
    uint64_t at_tx;            /* >0: the key as written in that tx (revision 0) */
    int64_t at_revision;       /* >0: n-th version; <0: relative to latest (-1 = the one before) */
    uint64_t since_tx;         /* wait until the index covers it (0: the last tx at call time) */
    int no_wait;               /* don't wait for the index */
    int no_value;              /* skip reading the value */
} sdb_get_opts;

/* Get: returns the selected version as stored, INCLUDING deleted or expired ones (check md.deleted
 * and expired; the caller maps them to immudb's errors). SEALDB_NOTFOUND: key never written (or not
 * in at_tx's entries); SEALDB_RANGE: at_tx or since_tx > last tx; SEALDB_INVALID: revision out of
 * range or bad option combination. Non-indexable entries are only reachable with at_tx. */
int  sdb_engine_get(sdb_engine *e, sdb_slice key, const sdb_get_opts *o, sdb_kv_version *out);

/* History: versions of key after skipping offset, at most limit (0 = no limit), oldest first or
 * newest first with desc; *total = number of versions. SEALDB_NOTFOUND when never written. */
int  sdb_engine_history(sdb_engine *e, sdb_slice key, uint64_t offset, uint64_t limit, int desc,
                        uint64_t since_tx, sdb_kv_list *out, uint64_t *total);

typedef struct sdb_scan_opts {
    sdb_slice prefix, seek, end;
    int inclusive_seek, inclusive_end, desc;
    uint64_t offset, limit;    /* limit 0 = no limit */
    uint64_t since_tx;         /* wait until indexed (0: the last tx at call time) */
    int include_dead;          /* 1: also list keys whose latest version is deleted/expired */
    int no_value;
} sdb_scan_opts;

/* Scan over one key-index snapshot with the immudb rules of docs/api.md 2.9 (latest versions only). */
int  sdb_engine_scan(sdb_engine *e, const sdb_scan_opts *o, sdb_kv_list *out);
/* Number of distinct keys ever written with this prefix (deleted/expired included). */
int  sdb_engine_count(sdb_engine *e, sdb_slice prefix, uint64_t since_tx, uint64_t *out);

/* ---- proofs ---- */

/* Inclusion of entry entry_idx in tx id's htree: terms and leaf width (the leaf is the entry
 * digest, which the verifier computes from the entry). eh is the tx's eH when the caller has its
 * header, else NULL (then the header is read from the journal). Reads the stored tree nodes (the
 * htree file) and checks their path against eH; a damaged node file falls back to rebuilding this
 * tx's tree from the journal, which must give eH (else SEALDB_TAMPERED). */
int  sdb_engine_inclusion_proof(sdb_engine *e, uint64_t id, uint32_t entry_idx, const uint8_t eh[SDB_HASH_LEN],
                                sdb_hashes *terms, uint32_t *width);
/* Dual proof between two committed txs (source <= target), immudb's DualProof (with LAP) / V2. */
int  sdb_engine_dual_proof(sdb_engine *e, uint64_t source, uint64_t target, sdb_dual_proof *out);
int  sdb_engine_dual_proof_v2(sdb_engine *e, uint64_t source, uint64_t target, sdb_dual_proof_v2 *out);
/* A tx source reading this engine's tx index (valid while the engine is open). */
void sdb_engine_tx_source(sdb_engine *e, sdb_tx_source *out);

/* ---- offline verification (verify.c) ---- */

/* Re-verifies every database under dir (a data dir with database subdirectories, or one database
 * dir) without opening it for writes: record checksums, value hashes, entry digests, tx trees, the
 * Alh chain, the ahtree, the tx index and the key index against the journal. Writes progress and
 * the first problem (naming the tx and file) to out (may be NULL). SEALDB_OK when intact. */
int  sdb_verify_dir(const char *dir, FILE *out);

/* ---- integrity scrub (scrub.c) ----
 *
 * On open the engine re-checks the tail of its chain (the last SDB_SCRUB_TAIL_TXS txs, at most
 * SDB_SCRUB_TAIL_BYTES of journal) from the journal bytes. A background scrubber (one thread per
 * process, over every open engine) re-reads every record, re-checks it like sdb_verify_dir and
 * the Alh chain, compares the derived tx index and htree node file with it (rewriting a derived
 * record that differs) and records damaged txs: plain reads of an entry of a damaged tx then
 * answer SEALDB_DAMAGED (sdb_engine_damaged_tx() names the tx) instead of the stored bytes. */
#define SDB_SCRUB_TAIL_TXS  1000u
#define SDB_SCRUB_TAIL_BYTES (64ull << 20)

typedef struct sdb_scrub_stats {
    uint64_t last_verified_tx;    /* every tx 1..this was verified in the current or last pass */
    uint64_t failures;            /* damaged txs found (each counted once) */
    uint64_t repaired;            /* derived records rewritten from the journal */
    uint64_t passes;              /* complete passes */
    uint64_t first_damaged, last_damaged;   /* lowest/highest damaged tx, 0 when none */
    double last_pass_seconds;     /* duration of the last complete pass */
    int64_t last_pass_end;        /* unix seconds, 0 before the first */
} sdb_scrub_stats;

/* Scrubber settings; log (may be NULL) gets one line per event. interval_ms 0: no scrubber
 * thread (the open-time tail check still runs). rate: bytes per second (> 0). */
typedef void (*sdb_scrub_log_fn)(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void sdb_scrub_configure(uint64_t interval_ms, uint64_t rate_bytes_per_s, sdb_scrub_log_fn log);
/* Starts / stops the process-wide scrubber thread (idempotent). */
int  sdb_scrubber_start(void);
void sdb_scrubber_stop(void);
void sdb_engine_scrub_stats(sdb_engine *e, sdb_scrub_stats *out);
/* The tx of the last SEALDB_DAMAGED answered on this thread. */
uint64_t sdb_engine_damaged_tx(void);

#endif
