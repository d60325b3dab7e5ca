/* engine_int.h - private state of an open engine, shared by the engine's own .c files only. */
#ifndef SDB_ENGINE_INT_H
#define SDB_ENGINE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include "engine/engine.h"
#include "storage/journal.h"
#include "util/file.h"

/* A slot of a record the committer fills with the tx's id (sdb_kv.own_id_*_at): where the id goes,
 * and the entry holding it (record offsets of its key-length field and of its value). */
typedef struct sdb_idslot { uint32_t rec_off, ent_off, val_off, entry, in_value; } sdb_idslot;

/* Keys written live (no metadata) by txs the committer has given ids (pending.c): committer-owned. */
typedef struct sdb_pkey { uint32_t off, len; uint8_t live; } sdb_pkey;   /* len 0: empty slot */
/* from: when nonzero, every tx with id >= from has all its keys noted (a reset loses that) */
typedef struct sdb_pkeys { sdb_pkey *slots; uint32_t n; sdb_buf bytes; uint64_t from; } sdb_pkeys;
void sdb_pkeys_reset(sdb_pkeys *t);
void sdb_pkeys_deinit(sdb_pkeys *t);
/* Notes the keys of a record's nentries entries (starting at ents_off) as written by tx id, the newest. */
void sdb_pkeys_note(sdb_pkeys *t, uint64_t id, const uint8_t *rec, size_t rec_len, uint32_t ents_off, uint32_t nentries);
/* 1 when every precondition is KeyMustExist on a key whose newest noted version is live. */
int sdb_pkeys_all_exist(const sdb_pkeys *t, const sdb_precondition *pre, size_t npre);
/* 1 when no tx with id >= t->from wrote key (t->from must be nonzero). */
int sdb_pkeys_absent(const sdb_pkeys *t, sdb_slice key);

/* A transaction prepared on the caller's thread and queued for the committer. */
typedef struct sdb_ptx {
    struct sdb_ptx *next;
    uint8_t *rec;                 /* whole journal record; id/prevAlh/ts/blTxId/blRoot/crc_meta patched by the committer */
    size_t rec_len;
    uint32_t meta_len, nentries;
    uint32_t ents_off;            /* record offset of the first entry */
    uint64_t vals_len;
    sdb_hash eh;
    sdb_htree ht;                 /* the tx's built tree; the first nodes_len bytes of ht.nodes are its htree block */
    uint64_t nodes_len;
    sdb_idslot *ids;              /* own-id slots (in entry order), or NULL */
    uint32_t nids;
    sdb_precondition *pre;        /* copies; keys point into prebuf */
    size_t npre;
    uint8_t *prebuf;
    sdb_commit_cb cb;
    void *arg;
    sdb_commit_result res;        /* committer: filled before publish */
    uint64_t pos;
    /* a replicated tx (sdb_engine_commit_replicated): its header is in rec as received (with the
     * recomputed eH); the committer checks it continues the chain instead of assigning one */
    int rep, rep_has_alh;
    sdb_tx_header rep_hdr;
    sdb_hash rep_alh;             /* expected Alh, when rep_has_alh */
} sdb_ptx;

struct sdb_index;

/* A commit group: txs the committer has given ids, in order, with their journal bytes and
 * tx-index records, waiting to be written, synced and published by the syncer. */
typedef struct sdb_cgroup {
    sdb_ptx *head, *tail;
    uint64_t first_id, ntx;
    uint64_t end;                 /* journal position after its last record */
    sdb_hash alh;                 /* Alh of its last tx */
    sdb_buf rec;                  /* the records, contiguous from head->pos */
    sdb_buf txi;                  /* their tx-index records, from first_id */
    sdb_buf ht;                   /* their htree blocks, ending at ht_end in the htree file */
    uint64_t ht_end;
} sdb_cgroup;

struct sdb_engine {
    char *dir;
    sdb_engine_opts opts;
    int lock_fd;
    sdb_journal *j;
    sdb_file *txi;                /* tx index file */
    const uint8_t *txi_map;       /* read-only shared mapping of a reserved range of txi, or NULL */
    size_t txi_map_len;
    atomic_uint_fast64_t txi_len; /* bytes of txi readable through txi_map (release after the write) */
    sdb_ahtree *aht;
    sdb_file *htf;                /* htree node file (derived): each tx's block at its txi node_off */
    const uint8_t *ht_map;        /* read-only shared mapping of a reserved range of htf, or NULL */
    size_t ht_map_len;
    atomic_uint_fast64_t ht_len;  /* bytes of htf written for published txs (release before txi_len) */
    atomic_uint_fast64_t ht_fallbacks; /* proofs built from the journal because stored nodes disagreed (tests read it) */

    /* published state: last_tx atomic (acquire/release); the (tx, alh, end) triple under state_mu */
    atomic_uint_fast64_t last_tx;
    pthread_mutex_t state_mu;
    sdb_hash last_alh;
    uint64_t pub_end;
    atomic_int failed;            /* sticky until the committer recovers (recover_failed in store.c) */
    int fail_rc;                  /* under state_mu, with fail_msg: the failing call's status and cause */
    char fail_msg[512];
    char fail_logged[512];        /* under state_mu: the cause last logged, and when (log rate) */
    uint64_t fail_log_ns, rec_log_ns;

    /* commit queue: callers push onto q_top without a lock (newest first; the committer takes
     * the whole stack at once), and only the push onto an empty stack takes q_mu to wake the
     * committer. q_mu guards the committer -> syncer hand-off; q_cv wakes the committer (new
     * txs, or the syncer became idle), sy_cv the syncer. */
    _Atomic(sdb_ptx *) q_top;
    pthread_mutex_t q_mu;
    pthread_cond_t q_cv;
    pthread_cond_t sy_cv;
    atomic_int stopping;
    sdb_cgroup *sy_g;             /* the group the syncer owns, NULL when idle */
    int sy_stop;
    pthread_t committer, syncer;
    int committer_started, syncer_started;

    /* committer-owned */
    uint64_t next_id;
    sdb_hash cur_alh;             /* Alh of next_id-1 */
    sdb_hash cur_root;            /* ahtree root at size next_id-1 (blRoot of next tx) */
    sdb_cgroup grp[2];            /* one filled by the committer while the other is synced */
    sdb_pkeys pending_keys;       /* keys written by txs given ids (pending.c) */
    uint64_t ht_end;              /* end of the htree file including blocks of assigned txs */

    /* key index */
    struct sdb_index *idx;
    atomic_uint_fast64_t indexed;
    pthread_mutex_t ix_wr_mu;     /* one index writer: the syncer (at publish) or the indexer (catch-up) */
    pthread_mutex_t ix_mu;        /* guards the two conds below and ix_stop */
    pthread_cond_t ix_work_cv;    /* committer -> indexer: new txs published */
    pthread_cond_t ix_done_cv;    /* indexer -> waiters: indexed advanced */
    int ix_stop;
    int ix_rc;                    /* indexer error (sticky) */
    sdb_index_wait *ix_waiters;   /* sdb_engine_when_indexed, by tx id ascending (ix_mu) */
    pthread_t indexer;
    int indexer_started;

    /* integrity scrub (scrub.c): damaged-tx ranges, checked by reads only while dmg_n > 0 */
    struct sdb_scrub *scrub;
    atomic_int dmg_n;

    /* truncation (truncate.c): values of txs < trunc_point are discarded; trunc_done under trunc_mu */
    atomic_uint_fast64_t trunc_point;
    pthread_mutex_t trunc_mu;
    uint64_t trunc_done;

    /* answer gate (gate.c): synchronous replication's committed point and held answers */
    atomic_int gate_mode;                 /* SDB_GATE_* */
    atomic_uint_fast64_t gate_committed;  /* committed point while the mode is not OFF */
    atomic_int gate_watchers;             /* threads in sdb_engine_gate_wait (publish wakes them) */
    pthread_mutex_t gate_mu;              /* everything below */
    pthread_cond_t gate_cv;
    uint32_t gate_acks;
    int gate_closed;
    struct sdb_gate_rep *gate_reps;       /* replica UUID -> precommitted id above the committed point */
    uint32_t gate_nreps, gate_capreps;
    struct sdb_gate_held *gate_head, *gate_tail;   /* held answers, by tx id ascending */
    uint64_t gate_nheld;
    atomic_uint_fast64_t gate_acks_seen;  /* replica states that moved a replica forward (metric) */

    /* discard.c: a sync replica's stored committed point (file `committed`) */
    pthread_mutex_t cpt_mu;               /* the three below */
    sdb_file *cpt_f;
    uint64_t cpt_stored;
    int cpt_state;                        /* at open: 1 valid, 0 absent, -1 damaged */
    uint64_t discard_keep;                /* recovery cuts the journal after this tx (UINT64_MAX: no marker) */
};

/* store.c internals used by keys.c / verify.c */
int  sdb_engine_txi_get(sdb_engine *e, uint64_t id, sdb_txi_rec *out);
int  sdb_engine_index_start(sdb_engine *e);     /* keys.c: open the key index, start the indexer */
/* keys.c: the syncer, after publishing txs first..last and before answering them: indexes them
 * when the index is caught up (indexed == published), else leaves them to the indexer thread.
 * recs: their len bytes of records as written, the first at journal position pos (NULL: read
 * them from the journal). */
void sdb_engine_index_published(sdb_engine *e, uint64_t first, uint64_t last, const uint8_t *recs, size_t len,
                                uint64_t pos);
void sdb_engine_index_stop(sdb_engine *e);      /* keys.c */
int  sdb_engine_index_check_pre(sdb_engine *e, const sdb_precondition *pre, size_t npre, size_t *failed);
void sdb_engine_index_notify(sdb_engine *e);    /* committer: new txs published */


/* gate.c: set up / tear down with the engine; the syncer hands a published tx's answer to
 * sdb_gate_answer (held while the gate waits for acks) and wakes long polls after each publish. */
void sdb_gate_init(sdb_engine *e);
void sdb_gate_deinit(sdb_engine *e);
void sdb_gate_answer(sdb_engine *e, sdb_commit_cb cb, void *arg, const sdb_commit_result *res);
void sdb_gate_published(sdb_engine *e);

/* discard.c: the committed-point and discard-marker files (SEALDB_NOTFOUND when absent,
 * SEALDB_CORRUPT when damaged); removing the marker once its cut is durable. */
int  sdb_committed_load(const char *dir, uint64_t *id);
int  sdb_discard_load(const char *dir, uint64_t *keep);
int  sdb_discard_done(const char *dir);

/* verify.c: the per-tx check shared by sdb_verify_dir, the open-time tail check and the scrub. */
typedef struct sdb_txcheck {
    sdb_jentry *je;               /* room for 1024 */
    sdb_hash *dig;                /* room for 1024 */
    sdb_htree ht;                 /* the tx's tree after a check that reached it */
    sdb_jframe fr;
    sdb_tx_header hdr;
    uint32_t n;
    sdb_hash alh;                 /* Alh of the checked header */
    int format_bad;               /* the failure was in the frame, a CRC or the decoding */
    uint64_t values_kept_from;    /* set by the caller: txs below it are truncated (no value checks) */
    char why[160];                /* the first failure */
} sdb_txcheck;
int  sdb_txcheck_init(sdb_txcheck *c);
void sdb_txcheck_deinit(sdb_txcheck *c);
/* Checks one whole record (frame, meta, values) as tx want_id: CRCs and format, id, prevAlh ==
 * *prev_alh (skipped when NULL), header version, blTxId < id, every value against its hash, KV
 * metadata, entry digests, eH; computes Alh. SEALDB_OK, CORRUPT, TAMPERED, UNSUPPORTED or NOMEM. */
int  sdb_txcheck_record(sdb_txcheck *c, sdb_slice rec, uint64_t want_id, const sdb_hash *prev_alh);

/* truncate.c: the point file (dir/truncated; *point = *done = 0 when absent), loading it before
 * recovery, and finishing an interrupted discard after it (also clamps a point past the last tx). */
int  sdb_trunc_load(const char *dir, uint64_t *point, uint64_t *done);
/* The 28-byte point file's bytes: SEALDB_CORRUPT unless magic, CRC, length and done <= point hold. */
int  sdb_trunc_decode(const uint8_t *b, size_t n, uint64_t *point, uint64_t *done);
int  sdb_trunc_open(sdb_engine *e);
int  sdb_trunc_resume(sdb_engine *e);
/* SEALDB_TRUNCATED when tx id's values are discarded and vlen > 0 (an empty value is never lost). */
static inline int sdb_engine_check_truncated(sdb_engine *e, uint64_t id, uint64_t vlen) {
    return vlen && id < atomic_load_explicit(&e->trunc_point, memory_order_acquire) ? SEALDB_TRUNCATED : SEALDB_OK;
}

/* scrub.c: open-time tail check and registration with the scrubber (after recovery), and
 * unregistration (first thing on close); the read-side check of damaged txs. */
int  sdb_scrub_attach(sdb_engine *e);
void sdb_scrub_detach(sdb_engine *e);
int  sdb_scrub_is_damaged(sdb_engine *e, uint64_t tx);
static inline int sdb_engine_check_damaged(sdb_engine *e, uint64_t tx) {
    if (__builtin_expect(atomic_load_explicit(&e->dmg_n, memory_order_acquire) == 0, 1)) return SEALDB_OK;
    return sdb_scrub_is_damaged(e, tx) ? SEALDB_DAMAGED : SEALDB_OK;
}

#endif
