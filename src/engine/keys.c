/* keys.c - the engine's key reads and its indexer thread, over the LSM key index (src/index).
 *
 * The indexer applies published txs to the index in batches (each carrying indexed_upto), in tx
 * order, from the journal; readers wait on ix_done_cv for `since_tx`. The
 * index is derived: missing, damaged, of another format or ahead of the journal, it is dropped and
 * rebuilt from the journal. A version's val_off is the journal position of its value; the value's
 * hash is recomputed from the bytes read, so a wrong index can only give answers whose proofs fail. */
#include <errno.h>
#include <time.h>
#include "engine/engine_int.h"
#include "index/index.h"

#define IX_BATCH_TXS 1024          /* catch-up batches (after open, or behind an index error) */
#define IX_BATCH_ENTRIES 65536
#define IX_PF_BUCKET 16            /* prefetch distances (entries) for a put's bucket and node */
#define IX_PF_NODE 6

struct sdb_index;   /* engine_int.h holds a struct sdb_index *, the index's own type */

void sdb_kv_version_init(sdb_kv_version *v) {
    memset(v, 0, sizeof *v);
}
void sdb_kv_version_deinit(sdb_kv_version *v) {
    if (!v) return;
    sdb_buf_deinit(&v->key);
    sdb_buf_deinit(&v->value);
}
void sdb_kv_list_init(sdb_kv_list *l) { memset(l, 0, sizeof *l); }
void sdb_kv_list_deinit(sdb_kv_list *l) {
    if (!l) return;
    for (size_t i = 0; i < l->n; i++) sdb_kv_version_deinit(&l->v[i]);
    sdb_free(l->v);
    memset(l, 0, sizeof *l);
}
/* Counts a version's key and value against the list's byte budget, before anything is read (the
 * first version always fits: its size is bounded by the write limits). */
static int list_budget(sdb_kv_list *l, size_t klen, uint32_t vlen) {
    if (!l->max_bytes) return SEALDB_OK;
    l->bytes += (uint64_t)klen + vlen;
    return l->bytes > l->max_bytes && l->n ? SEALDB_TOOLARGE : SEALDB_OK;
}

static sdb_kv_version *list_push(sdb_kv_list *l) {
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        sdb_kv_version *nv = sdb_realloc(l->v, nc * sizeof *nv);
        if (!nv) return NULL;
        l->v = nv;
        l->cap = nc;
    }
    sdb_kv_version *v = &l->v[l->n++];
    sdb_kv_version_init(v);
    return v;
}

/* ---- indexer ---- */

static int64_t now_s(void) { return sdb_unix_s(); }
/* A point read asks the clock only when the version it found can expire (most never do). */
#define NOW_UNSET INT64_MIN
static int64_t now_or_clock(int64_t now) { return now == NOW_UNSET ? now_s() : now; }

/* The index version of entry i of tx id (md decoded), its value at journal position voff. */
static sdb_index_ver ver_of(uint64_t id, uint32_t i, const sdb_kv_md *md, uint64_t voff, uint32_t vlen) {
    sdb_index_ver v = { 0 };
    v.tx_id = id;
    v.entry_idx = i;
    v.flags = (md->deleted ? SDB_INDEX_DELETED : 0) | (md->has_expires ? SDB_INDEX_HAS_EXPIRY : 0);
    v.expires_at = md->expires_at;
    v.val_off = voff;
    v.val_len = vlen;
    return v;
}

/* Puts txs from+1..to into b from their records as the syncer wrote them (mem: len bytes of whole
 * records, the first at journal position pos), not read back from the journal: the syncer indexes
 * each group it publishes from its buffer. Every record's frame and meta CRC are checked again. */
static int index_mem(sdb_index_batch *b, uint64_t from, uint64_t to, const uint8_t *mem, size_t len, uint64_t pos) {
    sdb_jentry *je = sdb_malloc(1024 * sizeof *je);
    if (!je) return SEALDB_NOMEM;
    int rc = SEALDB_OK;
    size_t at = 0;
    for (uint64_t id = from + 1; !rc && id <= to; id++) {
        sdb_jframe fr;
        sdb_tx_header hdr;
        uint32_t n = 0;
        if (len - at < SDB_JREC_FRAME || (rc = sdb_jrec_frame(mem + at, &fr)) ||
            fr.meta_len > len - at - SDB_JREC_FRAME || fr.vals_len > len - at - SDB_JREC_FRAME - fr.meta_len) {
            rc = SEALDB_CORRUPT;
            break;
        }
        if ((rc = sdb_jrec_decode(sdb_slice_of(mem + at, SDB_JREC_FRAME + fr.meta_len), &fr, &hdr, je, &n))) break;
        if (hdr.id != id) { rc = SEALDB_CORRUPT; break; }
        uint64_t voff = pos + at + SDB_JREC_FRAME + fr.meta_len;
        for (uint32_t i = 0; !rc && i < n; i++) {
            if (i + IX_PF_BUCKET < n) sdb_index_batch_prefetch(b, je[i + IX_PF_BUCKET].key, 0);
            if (i + IX_PF_NODE < n) sdb_index_batch_prefetch(b, je[i + IX_PF_NODE].key, 1);
            sdb_kv_md md;
            if (sdb_kv_md_decode(je[i].md_bytes, &md)) { rc = SEALDB_CORRUPT; break; }
            if (md.non_indexable) continue;
            sdb_index_ver v = ver_of(id, i, &md, voff + je[i].voff, je[i].vlen);
            rc = sdb_index_batch_put(b, je[i].key, &v);
        }
        at += SDB_JREC_FRAME + fr.meta_len + fr.vals_len;
    }
    if (!rc && at != len) rc = SEALDB_CORRUPT;
    sdb_free(je);
    return rc;
}

/* Applies txs from+1..to (published) to the index in one batch: from their records in memory
 * when mem is given (index_mem), else read from the journal. */
static int index_batch(sdb_engine *e, uint64_t from, uint64_t to, const uint8_t *mem, size_t len, uint64_t pos) {
    sdb_index_batch *b = NULL;
    sdb_tx t;
    sdb_tx_init(&t);
    int rc = sdb_index_batch_begin(e->idx, &b);
    if (rc) return rc;
    if (mem) {
        if (!(rc = index_mem(b, from, to, mem, len, pos))) return sdb_index_batch_commit(b, to);
        sdb_index_batch_abort(b);
        if (rc != SEALDB_CORRUPT) return rc;
        /* the buffer does not hold exactly these records: read them from the journal */
        if ((rc = sdb_index_batch_begin(e->idx, &b))) return rc;
    }
    for (uint64_t id = from + 1; id <= to; id++) {
        sdb_txi_rec r;
        if ((rc = sdb_engine_txi_get(e, id, &r))) goto fail;
        if ((rc = sdb_engine_tx_read(e, id, 0, &t))) goto fail;
        uint64_t voff = r.pos + SDB_JREC_FRAME + r.meta_len;
        for (uint32_t i = 0; i < t.nentries; i++) {
            const sdb_tx_entry *en = &t.entries[i];
            /* the put's two cache misses (hash bucket, then node) started ahead of it */
            if (i + IX_PF_BUCKET < t.nentries) sdb_index_batch_prefetch(b, t.entries[i + IX_PF_BUCKET].key, 0);
            if (i + IX_PF_NODE < t.nentries) sdb_index_batch_prefetch(b, t.entries[i + IX_PF_NODE].key, 1);
            if (!en->md.non_indexable) {
                sdb_index_ver v = ver_of(id, i, &en->md, voff, en->vlen);
                if ((rc = sdb_index_batch_put(b, en->key, &v))) goto fail;
            }
            voff += en->vlen;
        }
    }
    sdb_tx_deinit(&t);
    return sdb_index_batch_commit(b, to);
fail:
    sdb_tx_deinit(&t);
    sdb_index_batch_abort(b);
    return rc;
}

/* Detaches the waiters the index now answers (tx covered, or every one on error or stop); ix_mu held. */
static sdb_index_wait *take_waiters(sdb_engine *e, int all) {
    uint64_t upto = atomic_load(&e->indexed);
    sdb_index_wait *head = e->ix_waiters, **pp = &e->ix_waiters;
    while (*pp && (all || (*pp)->tx_id <= upto)) pp = &(*pp)->next;
    if (pp == &e->ix_waiters) return NULL;
    e->ix_waiters = *pp;
    *pp = NULL;
    return head;
}

static void run_waiters(sdb_index_wait *w, int rc) {
    while (w) {
        sdb_index_wait *next = w->next;   /* cb may free w */
        w->cb(w->arg, rc);
        w = next;
    }
}

void sdb_engine_when_indexed(sdb_engine *e, sdb_index_wait *w) {
    int rc = SEALDB_OK;
    pthread_mutex_lock(&e->ix_mu);
    if (atomic_load(&e->indexed) < w->tx_id && !e->ix_rc && !e->ix_stop) {
        /* commits complete in tx order, so a new waiter almost always goes last */
        sdb_index_wait **pp = &e->ix_waiters;
        while (*pp && (*pp)->tx_id <= w->tx_id) pp = &(*pp)->next;
        w->next = *pp;
        *pp = w;
        pthread_mutex_unlock(&e->ix_mu);
        return;
    }
    if (atomic_load(&e->indexed) < w->tx_id) rc = e->ix_rc ? e->ix_rc : SEALDB_CLOSED;
    pthread_mutex_unlock(&e->ix_mu);
    w->next = NULL;
    w->cb(w->arg, rc);
}

/* Applies published txs from+1..to and publishes the result (indexed; the waiters it answers go
 * to *done, for the caller to run once it let go of ix_wr_mu: a callback may commit); ix_wr_mu held. */
static int index_step(sdb_engine *e, uint64_t from, uint64_t to, const uint8_t *mem, size_t len, uint64_t pos,
                      sdb_index_wait **done) {
    int rc = index_batch(e, from, to, mem, len, pos);
    pthread_mutex_lock(&e->ix_mu);
    e->ix_rc = rc;
    if (!rc) atomic_store(&e->indexed, to);
    pthread_cond_broadcast(&e->ix_done_cv);
    /* writes waiting for this batch are answered now: indexed, or the error (transient ones too:
     * the write is durable, but its caller is not left waiting for a disk to be freed) */
    *done = take_waiters(e, rc != 0);
    pthread_mutex_unlock(&e->ix_mu);
    return rc;
}

void sdb_engine_index_published(sdb_engine *e, uint64_t first, uint64_t last, const uint8_t *recs, size_t len,
                                uint64_t pos) {
    pthread_mutex_lock(&e->ix_wr_mu);
    /* indexed at publish only when caught up (and healthy); else the indexer thread catches up */
    int rc = -1;
    sdb_index_wait *done = NULL;
    if (e->idx && !e->ix_rc && atomic_load(&e->indexed) == first - 1) rc = index_step(e, first - 1, last, recs, len, pos, &done);
    pthread_mutex_unlock(&e->ix_wr_mu);
    run_waiters(done, rc);
    if (rc) sdb_engine_index_notify(e);
}

static void *indexer_main(void *arg) {
    sdb_thread_name("sdb-indexer");
    sdb_engine *e = arg;
    long backoff_ms = 0;
    for (;;) {
        pthread_mutex_lock(&e->ix_mu);
        while (!e->ix_stop && atomic_load(&e->indexed) >= sdb_engine_last_tx(e))
            pthread_cond_wait(&e->ix_work_cv, &e->ix_mu);
        int stop = e->ix_stop;
        pthread_mutex_unlock(&e->ix_mu);
        if (stop) break;   /* close: the rest is caught up on the next open */
        pthread_mutex_lock(&e->ix_wr_mu);
        uint64_t from = atomic_load(&e->indexed), last = sdb_engine_last_tx(e);
        if (from >= last) { pthread_mutex_unlock(&e->ix_wr_mu); continue; }   /* the syncer did it */
        /* bound a batch by txs and by entries */
        uint64_t to = from, entries = 0;
        while (to < last && to - from < IX_BATCH_TXS && entries < IX_BATCH_ENTRIES) {
            sdb_txi_rec r;
            if (sdb_engine_txi_get(e, to + 1, &r)) break;
            entries += r.nentries;
            to++;
        }
        if (to == from) to = from + 1;
        sdb_index_wait *done = NULL;
        int rc = index_step(e, from, to, NULL, 0, 0, &done);
        pthread_mutex_unlock(&e->ix_wr_mu);
        run_waiters(done, rc);
        /* a full disk, a permission or I/O error may clear: the batch is retried every 100 ms to
         * 2 s, and meanwhile readers waiting for it get the error */
        int transient = rc == SEALDB_NOSPACE || rc == SEALDB_IO || rc == SEALDB_PERMISSION || rc == SEALDB_BUSY;
        if (!rc) backoff_ms = 0;
        if (transient) {
            backoff_ms = backoff_ms ? (backoff_ms * 2 > 2000 ? 2000 : backoff_ms * 2) : 100;
            struct timespec dl;
            clock_gettime(CLOCK_REALTIME, &dl);
            dl.tv_sec += backoff_ms / 1000;
            dl.tv_nsec += (long)(backoff_ms % 1000) * 1000000L;
            if (dl.tv_nsec >= 1000000000L) { dl.tv_sec++; dl.tv_nsec -= 1000000000L; }
            pthread_mutex_lock(&e->ix_mu);
            while (!e->ix_stop && pthread_cond_timedwait(&e->ix_work_cv, &e->ix_mu, &dl) != ETIMEDOUT) {}
            pthread_mutex_unlock(&e->ix_mu);
        }
        if (rc && !transient) break;   /* sticky: readers get the error; reopening rebuilds */
    }
    return NULL;
}

static _Atomic uint64_t g_memtable_bytes;
void sdb_engine_set_index_memtable(uint64_t bytes) { atomic_store(&g_memtable_bytes, bytes); }

int sdb_engine_index_start(sdb_engine *e) {
    char p[4200];
    snprintf(p, sizeof p, "%s/index", e->dir);
    sdb_index_opts o;
    sdb_index_opts_default(&o);
    uint64_t mt = e->opts.index_memtable_bytes ? e->opts.index_memtable_bytes : atomic_load(&g_memtable_bytes);
    if (mt) o.memtable_bytes = mt;
    sdb_index *ix = NULL;
    int rc = sdb_index_open(p, &o, &ix);
    if (!rc && (rc = sdb_index_check(ix, NULL))) {
        /* a damaged run file (every block's CRC is read here, from the page cache mostly) */
        sdb_index_close(ix);
        ix = NULL;
    }
    if (rc == SEALDB_UNSUPPORTED || rc == SEALDB_CORRUPT) {
        /* derived data of another format or damaged: rebuild from the journal */
        if ((rc = sdb_index_destroy(p))) return rc;
        rc = sdb_index_open(p, &o, &ix);
    }
    if (rc) return rc;
    uint64_t upto = 0;
    if ((rc = sdb_index_indexed_upto(ix, &upto))) { sdb_index_close(ix); return rc; }
    if (upto > sdb_engine_last_tx(e)) {
        /* ahead of the journal (an unsynced journal tail was lost): start over */
        if ((rc = sdb_index_clear(ix))) { sdb_index_close(ix); return rc; }
        upto = 0;
    }
    e->idx = (struct sdb_index *)ix;
    atomic_store(&e->indexed, upto);
    e->ix_stop = 0;
    e->ix_rc = 0;
    if (pthread_create(&e->indexer, NULL, indexer_main, e)) {
        sdb_index_close(ix);
        e->idx = NULL;
        return SEALDB_NOMEM;
    }
    e->indexer_started = 1;
    return SEALDB_OK;
}

void sdb_engine_index_stop(sdb_engine *e) {
    if (e->indexer_started) {
        pthread_mutex_lock(&e->ix_mu);
        e->ix_stop = 1;
        pthread_cond_broadcast(&e->ix_work_cv);
        pthread_cond_broadcast(&e->ix_done_cv);
        pthread_mutex_unlock(&e->ix_mu);
        pthread_join(e->indexer, NULL);
        e->indexer_started = 0;
    }
    pthread_mutex_lock(&e->ix_mu);
    sdb_index_wait *left = take_waiters(e, 1);
    pthread_mutex_unlock(&e->ix_mu);
    run_waiters(left, SEALDB_CLOSED);
    sdb_index_close((sdb_index *)e->idx);
    e->idx = NULL;
}

void sdb_engine_index_notify(sdb_engine *e) {
    pthread_mutex_lock(&e->ix_mu);
    pthread_cond_signal(&e->ix_work_cv);
    pthread_mutex_unlock(&e->ix_mu);
}

uint64_t sdb_engine_indexed_upto(sdb_engine *e) { return atomic_load(&e->indexed); }

int sdb_engine_wait_indexed(sdb_engine *e, uint64_t tx_id, int64_t timeout_ms) {
    if (tx_id > sdb_engine_last_tx(e)) return SEALDB_RANGE;
    if (atomic_load(&e->indexed) >= tx_id) return SEALDB_OK;
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    if (timeout_ms >= 0) {
        dl.tv_sec += timeout_ms / 1000;
        dl.tv_nsec += (timeout_ms % 1000) * 1000000L;
        if (dl.tv_nsec >= 1000000000L) { dl.tv_sec++; dl.tv_nsec -= 1000000000L; }
    }
    int rc = SEALDB_OK;
    pthread_mutex_lock(&e->ix_mu);
    while (atomic_load(&e->indexed) < tx_id) {
        if (e->ix_rc) { rc = e->ix_rc; break; }
        if (e->ix_stop) { rc = SEALDB_CLOSED; break; }
        if (timeout_ms < 0) pthread_cond_wait(&e->ix_done_cv, &e->ix_mu);
        else if (pthread_cond_timedwait(&e->ix_done_cv, &e->ix_mu, &dl) == ETIMEDOUT) {
            if (atomic_load(&e->indexed) < tx_id) rc = SEALDB_TIMEOUT;
            break;
        }
    }
    pthread_mutex_unlock(&e->ix_mu);
    return rc;
}

int sdb_engine_flush_index(sdb_engine *e) {
    /* caught up, then the memtable written as a run (the next open replays nothing) */
    int rc = sdb_engine_wait_indexed(e, sdb_engine_last_tx(e), -1);
    if (!rc) {
        pthread_mutex_lock(&e->ix_wr_mu);
        rc = sdb_index_sync((sdb_index *)e->idx);
        pthread_mutex_unlock(&e->ix_wr_mu);
    }
    return rc;
}

void sdb_engine_index_usage(sdb_engine *e, uint64_t *disk_bytes, uint64_t *disk_versions, uint64_t *mem_bytes) {
    sdb_index_stats st;
    sdb_index_stats_get((sdb_index *)e->idx, &st);
    *disk_bytes = st.disk_bytes;
    *disk_versions = st.disk_versions;
    *mem_bytes = st.mem_bytes;
}

int sdb_engine_index_check_pre(sdb_engine *e, const sdb_precondition *pre, size_t npre, size_t *failed) {
    sdb_index_snap *s = NULL;
    int rc = sdb_index_snap_begin((sdb_index *)e->idx, &s);
    if (rc) return rc;
    int64_t now = now_s();
    for (size_t i = 0; i < npre; i++) {
        int holds = 0;
        if ((rc = sdb_index_pre_check(s, pre[i].kind, pre[i].key, pre[i].tx_id, now, &holds))) break;
        if (!holds) { *failed = i; rc = SEALDB_PRECONDITION; break; }
    }
    sdb_index_snap_end(s);
    return rc;
}

/* ---- reads ---- */

/* A version whose value truncation discarded (truncate.c): SEALDB_TRUNCATED when the value was
 * asked for; else its hash, still in the tx's entry. */
static int truncated_version(sdb_engine *e, const sdb_index_ver *v, int no_value, sdb_kv_version *out) {
    sdb_buf_reset(&out->value);
    if (!no_value) return SEALDB_TRUNCATED;
    sdb_tx t;
    sdb_tx_init(&t);
    int rc = sdb_engine_tx_read(e, v->tx_id, 0, &t);
    if (!rc && v->entry_idx >= t.nentries) rc = SEALDB_CORRUPT;
    if (!rc) out->hvalue = t.entries[v->entry_idx].hvalue;
    sdb_tx_deinit(&t);
    return rc;
}

/* Fills out from an index version: key, metadata, value (from the journal) and its hash. */
static int fill_version(sdb_engine *e, sdb_slice key, const sdb_index_ver *v, uint64_t revision,
                        int no_value, int64_t now, sdb_kv_version *out) {
    int rc;
    out->tx_id = v->tx_id;
    out->revision = revision;
    out->entry_idx = v->entry_idx;
    memset(&out->md, 0, sizeof out->md);
    out->md.deleted = (v->flags & SDB_INDEX_DELETED) != 0;
    out->md.has_expires = (v->flags & SDB_INDEX_HAS_EXPIRY) != 0;
    out->md.expires_at = out->md.has_expires ? v->expires_at : 0;
    out->md_len = (uint8_t)sdb_kv_md_encode(&out->md, out->md_bytes);
    out->expired = (v->flags & SDB_INDEX_HAS_EXPIRY) ? sdb_index_ver_expired(v, now_or_clock(now)) : 0;
    out->vlen = v->val_len;
    sdb_buf_reset(&out->key);
    if ((rc = sdb_buf_append(&out->key, key.ptr, key.len))) return rc;
    if (v->tx_id == 0 || v->tx_id > sdb_engine_last_tx(e) || v->val_len >= SDB_ENGINE_MAX_VALUE_LEN) return SEALDB_CORRUPT;
    if ((rc = sdb_engine_check_damaged(e, v->tx_id))) return rc;
    sdb_buf_reset(&out->value);
    if (sdb_engine_check_truncated(e, v->tx_id, v->val_len)) return truncated_version(e, v, no_value, out);
    if ((rc = sdb_buf_reserve(&out->value, v->val_len ? v->val_len : 1))) return rc;
    if (v->val_len && (rc = sdb_journal_read(e->j, v->val_off, out->value.ptr, v->val_len))) return rc;
    out->value.len = v->val_len;
    /* a truncation that began after the check above may have zeroed the bytes just read */
    if (sdb_engine_check_truncated(e, v->tx_id, v->val_len)) return truncated_version(e, v, no_value, out);
    sdb_sha256(out->value.ptr, out->value.len, out->hvalue.b);
    if (no_value) sdb_buf_reset(&out->value);
    return SEALDB_OK;
}

/* The newest tx client reads see: UINT64_MAX (no bound) unless an answer gate holds txs back
 * (gate.c; docs/replication.md 10.2): then the committed point, and precommitted txs, though
 * indexed, stay invisible as in immudb. An ungated database pays one relaxed load here. */
static uint64_t read_horizon(sdb_engine *e) {
    if (atomic_load_explicit(&e->gate_mode, memory_order_relaxed) == SDB_GATE_OFF) return UINT64_MAX;
    return sdb_engine_committed_tx(e);
}

static int wait_for(sdb_engine *e, uint64_t since_tx, int no_wait) {
    uint64_t last = sdb_engine_last_tx(e);
    if (since_tx > last) return SEALDB_RANGE;
    if (no_wait) return SEALDB_OK;
    return sdb_engine_wait_indexed(e, since_tx ? since_tx : last, -1);
}

/* A gated database's version of key at revision rev (0: the latest) among the versions at or
 * below hz, the committed ones: revisions count those only (the hidden ones are the newest). */
static int get_committed(sdb_index_snap *s, sdb_slice key, int64_t rev, uint64_t hz, sdb_index_ver *v) {
    if (!hz) return SEALDB_NOTFOUND;   /* nothing committed yet */
    int rc = sdb_index_get_latest(s, key, hz, v, NULL);
    if (rc || rev == 0) return rc;
    uint64_t n = v->revision, back = rev == INT64_MIN ? (uint64_t)INT64_MAX + 1 : (uint64_t)(-rev);
    if (rev > 0 ? (uint64_t)rev > n : back >= n) return SEALDB_RANGE;
    if (rev > 0 && (uint64_t)rev == n) return SEALDB_OK;
    return sdb_index_get_revision(s, key, rev > 0 ? rev : (int64_t)(n - back), v);
}

int sdb_engine_get(sdb_engine *e, sdb_slice key, const sdb_get_opts *o, sdb_kv_version *out) {
    sdb_get_opts def = { 0 };
    if (!o) o = &def;
    if (key.len == 0) return SEALDB_INVALID;
    if (o->at_tx && (o->since_tx || o->at_revision)) return SEALDB_INVALID;
    int rc;
    uint64_t hz = read_horizon(e);
    if (o->at_tx) {
        if (o->at_tx > hz) return SEALDB_RANGE;   /* a precommitted tx is not found, as one not written */
        sdb_tx t;
        sdb_tx_init(&t);
        if ((rc = sdb_engine_tx_read(e, o->at_tx, 0, &t))) { sdb_tx_deinit(&t); return rc; }
        rc = SEALDB_NOTFOUND;
        for (uint32_t i = 0; i < t.nentries; i++) {
            const sdb_tx_entry *en = &t.entries[i];
            if (!sdb_slice_eq(en->key, key)) continue;
            out->tx_id = o->at_tx;
            out->revision = 0;
            out->entry_idx = i;
            out->md = en->md;
            out->md_len = (uint8_t)en->md_bytes.len;
            memcpy(out->md_bytes, en->md_bytes.ptr, en->md_bytes.len);
            out->expired = en->md.has_expires && en->md.expires_at <= now_s();
            out->hvalue = en->hvalue;
            out->vlen = en->vlen;
            sdb_buf_reset(&out->key);
            sdb_buf_reset(&out->value);
            if ((rc = sdb_buf_append(&out->key, key.ptr, key.len))) break;
            if (!o->no_value) rc = sdb_engine_read_value(e, o->at_tx, i, &out->value);
            break;
        }
        sdb_tx_deinit(&t);
        return rc;
    }
    if ((rc = wait_for(e, o->since_tx, o->no_wait))) return rc;
    sdb_index_snap *s = NULL;
    if ((rc = sdb_index_snap_begin((sdb_index *)e->idx, &s))) return rc;
    sdb_index_ver v;
    if (hz != UINT64_MAX) rc = get_committed(s, key, o->at_revision, hz, &v);
    else if (o->at_revision == 0) rc = sdb_index_get_latest(s, key, hz, &v, NULL);
    else rc = sdb_index_get_revision(s, key, o->at_revision, &v);
    if (rc == SEALDB_RANGE) rc = SEALDB_INVALID;   /* immudb: invalid key revision number */
    /* The version is a copy and the value lives in the immutable journal: the snapshot can end
     * first, with the value's line already being fetched. */
    if (!rc && !o->no_value && v.val_len) sdb_journal_prefetch(e->j, v.val_off, v.val_len);
    sdb_index_snap_end(s);
    if (!rc) rc = fill_version(e, key, &v, v.revision, o->no_value, NOW_UNSET, out);
    return rc;
}

typedef struct hist_ctx { sdb_engine *e; sdb_slice key; sdb_kv_list *out; int64_t now; int rc; } hist_ctx;
static int hist_cb(void *arg, const sdb_index_ver *v) {
    hist_ctx *h = arg;
    int rc = list_budget(h->out, h->key.len, v->val_len);
    if (rc) return rc;
    sdb_kv_version *kv = list_push(h->out);
    if (!kv) return SEALDB_NOMEM;
    return fill_version(h->e, h->key, v, v->revision, 0, h->now, kv);
}

int sdb_engine_history(sdb_engine *e, sdb_slice key, uint64_t offset, uint64_t limit, int desc,
                       uint64_t since_tx, sdb_kv_list *out, uint64_t *total) {
    if (key.len == 0) return SEALDB_INVALID;
    int rc = wait_for(e, since_tx, 0);
    if (rc) return rc;
    sdb_index_snap *s = NULL;
    if ((rc = sdb_index_snap_begin((sdb_index *)e->idx, &s))) return rc;
    hist_ctx h = { e, key, out, now_s(), 0 };
    uint64_t cnt = 0, hz = read_horizon(e);
    if (hz == UINT64_MAX) {
        rc = sdb_index_history(s, key, offset, limit, desc, hist_cb, &h, &cnt);
    } else {
        /* only the committed versions, the oldest ones: the history is cut to them */
        sdb_index_ver v;
        uint64_t all = 0;
        rc = hz ? sdb_index_get_latest(s, key, hz, &v, &all) : SEALDB_NOTFOUND;
        if (!rc && offset < (cnt = v.revision)) {
            if (!limit || limit > cnt - offset) limit = cnt - offset;
            rc = sdb_index_history(s, key, desc ? offset + (all - cnt) : offset, limit, desc, hist_cb, &h, NULL);
        }
    }
    sdb_index_snap_end(s);
    if (total) *total = cnt;
    return rc;
}

typedef struct scan_ctx { sdb_engine *e; sdb_kv_list *out; int no_value; int64_t now; } scan_ctx;
static int scan_cb(void *arg, sdb_slice key, const sdb_index_ver *v, uint64_t count) {
    scan_ctx *c = arg;
    int rc = list_budget(c->out, key.len, c->no_value ? 0 : v->val_len);
    if (rc) return rc;
    sdb_kv_version *kv = list_push(c->out);
    if (!kv) return SEALDB_NOMEM;
    return fill_version(c->e, key, v, count, c->no_value, c->now, kv);
}

int sdb_engine_scan(sdb_engine *e, const sdb_scan_opts *o, sdb_kv_list *out) {
    int rc = wait_for(e, o->since_tx, 0);
    if (rc) return rc;
    uint64_t hz = read_horizon(e);
    if (!hz) return SEALDB_OK;   /* nothing committed yet */
    sdb_index_snap *s = NULL;
    if ((rc = sdb_index_snap_begin((sdb_index *)e->idx, &s))) return rc;
    scan_ctx c = { e, out, o->no_value, now_s() };
    sdb_index_scan_opts so;
    memset(&so, 0, sizeof so);
    so.prefix = o->prefix;
    so.seek = o->seek;
    so.end = o->end;
    so.inclusive_seek = o->inclusive_seek;
    so.inclusive_end = o->inclusive_end;
    so.desc = o->desc;
    so.offset = o->offset;
    so.limit = o->limit;
    so.max_tx = hz;
    so.now = c.now;
    so.include_dead = o->include_dead;
    rc = sdb_index_scan(s, &so, scan_cb, &c);
    sdb_index_snap_end(s);
    return rc;
}

int sdb_engine_count(sdb_engine *e, sdb_slice prefix, uint64_t since_tx, uint64_t *out) {
    int rc = wait_for(e, since_tx, 0);
    if (rc) return rc;
    uint64_t hz = read_horizon(e);
    if (!hz) { *out = 0; return SEALDB_OK; }
    sdb_index_snap *s = NULL;
    if ((rc = sdb_index_snap_begin((sdb_index *)e->idx, &s))) return rc;
    rc = sdb_index_count_at(s, prefix, hz, out);
    sdb_index_snap_end(s);
    return rc;
}
