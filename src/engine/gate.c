/* gate.c - the answer gate of synchronous replication (engine.h, docs/replication.md 5): the
 * committed point of a sync primary or sync replica (a replica's is stored: discard.c), the replica-state table that moves it, the
 * commit answers held until it covers their tx, and the long-poll wait for new txs. */
#include <errno.h>
#include <string.h>
#include <time.h>
#include "engine/engine_int.h"

#define UUID_MAX 64

typedef struct sdb_gate_rep { char uuid[UUID_MAX]; uint64_t pre_id; } sdb_gate_rep;

typedef struct sdb_gate_held {
    struct sdb_gate_held *next;
    sdb_commit_cb cb;
    void *arg;
    sdb_commit_result res;
} sdb_gate_held;

void sdb_gate_init(sdb_engine *e) {
    pthread_mutex_init(&e->gate_mu, NULL);
    pthread_cond_init(&e->gate_cv, NULL);
    atomic_init(&e->gate_mode, SDB_GATE_OFF);
    atomic_init(&e->gate_committed, 0);
    atomic_init(&e->gate_watchers, 0);
    atomic_init(&e->gate_acks_seen, 0);
    pthread_mutex_init(&e->cpt_mu, NULL);
}

void sdb_gate_deinit(sdb_engine *e) {
    sdb_engine_gate_close(e);
    sdb_free(e->gate_reps);
    e->gate_reps = NULL;
    pthread_mutex_destroy(&e->gate_mu);
    pthread_cond_destroy(&e->gate_cv);
    sdb_file_close(e->cpt_f);
    e->cpt_f = NULL;
    pthread_mutex_destroy(&e->cpt_mu);
}

static uint64_t last_published(sdb_engine *e) { return atomic_load_explicit(&e->last_tx, memory_order_acquire); }

/* Moves the committed point to id (never back, never past the last published tx); gate_mu held.
 * Returns the held answers it released, in order, for the caller to run after unlocking. */
static sdb_gate_held *advance_locked(sdb_engine *e, uint64_t id) {
    uint64_t last = last_published(e);
    if (id > last) id = last;
    if (id > atomic_load(&e->gate_committed)) {
        atomic_store(&e->gate_committed, id);
        pthread_cond_broadcast(&e->gate_cv);
    }
    uint64_t c = atomic_load(&e->gate_committed);
    sdb_gate_held *out = e->gate_head, *tail = NULL;
    for (sdb_gate_held *h = e->gate_head; h && h->res.hdr.id <= c; h = h->next) { tail = h; e->gate_nheld--; }
    if (!tail) return NULL;
    e->gate_head = tail->next;
    if (!e->gate_head) e->gate_tail = NULL;
    tail->next = NULL;
    return out;
}

static void run_released(sdb_gate_held *h, int rc) {
    while (h) {
        sdb_gate_held *next = h->next;
        h->cb(h->arg, rc, rc ? NULL : &h->res, 0);
        sdb_free(h);
        h = next;
    }
}

/* Takes everything held (mode change to OFF, close); gate_mu held. */
static sdb_gate_held *take_all_locked(sdb_engine *e) {
    sdb_gate_held *h = e->gate_head;
    e->gate_head = e->gate_tail = NULL;
    e->gate_nheld = 0;
    return h;
}

void sdb_gate_answer(sdb_engine *e, sdb_commit_cb cb, void *arg, const sdb_commit_result *res) {
    if (atomic_load_explicit(&e->gate_mode, memory_order_acquire) != SDB_GATE_PRIMARY) {
        cb(arg, SEALDB_OK, res, 0);
        return;
    }
    pthread_mutex_lock(&e->gate_mu);
    int mode = atomic_load(&e->gate_mode), closed = e->gate_closed;
    /* a replica may have acked it between the publish and this answer */
    if (mode != SDB_GATE_PRIMARY || closed || res->hdr.id <= atomic_load(&e->gate_committed)) {
        pthread_mutex_unlock(&e->gate_mu);
        cb(arg, closed && mode == SDB_GATE_PRIMARY ? SEALDB_CLOSED : SEALDB_OK,
           closed && mode == SDB_GATE_PRIMARY ? NULL : res, 0);
        return;
    }
    sdb_gate_held *h = sdb_malloc(sizeof *h);
    if (!h) {
        /* cannot hold it: an error rather than an answer no replica backs */
        pthread_mutex_unlock(&e->gate_mu);
        cb(arg, SEALDB_NOMEM, NULL, 0);
        return;
    }
    h->next = NULL;
    h->cb = cb;
    h->arg = arg;
    h->res = *res;
    if (e->gate_tail) e->gate_tail->next = h; else e->gate_head = h;
    e->gate_tail = h;
    e->gate_nheld++;
    pthread_mutex_unlock(&e->gate_mu);
}

void sdb_gate_published(sdb_engine *e) {
    if (!atomic_load_explicit(&e->gate_watchers, memory_order_acquire)) return;
    pthread_mutex_lock(&e->gate_mu);
    pthread_cond_broadcast(&e->gate_cv);
    pthread_mutex_unlock(&e->gate_mu);
}

/* With >= acks entries, the committed point moves to their minimum (5.2 step 3). gate_mu held. */
static sdb_gate_held *evaluate_locked(sdb_engine *e) {
    if (atomic_load(&e->gate_mode) != SDB_GATE_PRIMARY || !e->gate_acks || e->gate_nreps < e->gate_acks) return NULL;
    uint64_t min = UINT64_MAX;
    for (uint32_t i = 0; i < e->gate_nreps; i++) if (e->gate_reps[i].pre_id < min) min = e->gate_reps[i].pre_id;
    return advance_locked(e, min);
}

void sdb_engine_gate_set(sdb_engine *e, int mode, uint32_t acks) {
    if (mode == SDB_GATE_PRIMARY && acks == 0) mode = SDB_GATE_OFF;
    pthread_mutex_lock(&e->gate_mu);
    int old = atomic_load(&e->gate_mode);
    sdb_gate_held *rel = NULL;
    if (mode == SDB_GATE_OFF) {
        /* everything published is committed: a promoted sync replica, or a primary whose
         * synchronous replication was turned off */
        atomic_store(&e->gate_committed, last_published(e));
        rel = take_all_locked(e);
        e->gate_nreps = 0;
    } else if (old == SDB_GATE_OFF) {
        atomic_store(&e->gate_committed, last_published(e));
        e->gate_nreps = 0;
    }
    if (mode != SDB_GATE_PRIMARY) e->gate_nreps = 0;
    e->gate_acks = mode == SDB_GATE_PRIMARY ? acks : 0;
    atomic_store_explicit(&e->gate_mode, mode, memory_order_release);
    if (!rel) rel = evaluate_locked(e);
    pthread_cond_broadcast(&e->gate_cv);
    pthread_mutex_unlock(&e->gate_mu);
    run_released(rel, SEALDB_OK);
}

void sdb_engine_gate_forget_committed(sdb_engine *e) {
    pthread_mutex_lock(&e->gate_mu);
    if (atomic_load(&e->gate_mode) == SDB_GATE_REPLICA) atomic_store(&e->gate_committed, 0);
    pthread_mutex_unlock(&e->gate_mu);
}

int sdb_engine_gate_restore_committed(sdb_engine *e) {
    if (atomic_load(&e->gate_mode) != SDB_GATE_REPLICA) return sdb_engine_drop_committed(e);
    pthread_mutex_lock(&e->gate_mu);
    uint64_t last = last_published(e), c = e->cpt_state == 1 ? e->cpt_stored : 0;
    atomic_store(&e->gate_committed, c < last ? c : last);
    pthread_mutex_unlock(&e->gate_mu);
    /* an empty database has committed nothing: a known point, so it may discard later */
    if (e->cpt_state == 0 && last == 0) return sdb_engine_store_committed(e, 0);
    return e->cpt_state < 0 ? SEALDB_CORRUPT : SEALDB_OK;   /* unknown (0) until the primary's next answer */
}

int sdb_engine_gate_persist(sdb_engine *e) {
    if (atomic_load(&e->gate_mode) != SDB_GATE_REPLICA) return sdb_engine_drop_committed(e);
    return sdb_engine_store_committed(e, atomic_load(&e->gate_committed));
}

uint64_t sdb_engine_gate_acks(sdb_engine *e) { return atomic_load(&e->gate_acks_seen); }

int sdb_engine_gate_mode(sdb_engine *e) { return atomic_load(&e->gate_mode); }

int sdb_engine_gate_ack(sdb_engine *e, const char *uuid, uint64_t pre_id) {
    if (!uuid) return SEALDB_INVALID;
    pthread_mutex_lock(&e->gate_mu);
    if (atomic_load(&e->gate_mode) != SDB_GATE_PRIMARY) { pthread_mutex_unlock(&e->gate_mu); return SEALDB_INVALID; }
    uint64_t c = atomic_load(&e->gate_committed);
    uint32_t k = 0;
    for (uint32_t i = 0; i < e->gate_nreps; i++)
        if (e->gate_reps[i].pre_id > c) e->gate_reps[k++] = e->gate_reps[i];
    e->gate_nreps = k;
    int rc = SEALDB_OK;
    sdb_gate_held *rel = NULL;
    if (pre_id > c) {
        sdb_gate_rep *r = NULL;
        for (uint32_t i = 0; i < e->gate_nreps; i++)
            if (strncmp(e->gate_reps[i].uuid, uuid, UUID_MAX - 1) == 0) { r = &e->gate_reps[i]; break; }
        if (r && pre_id < r->pre_id) rc = SEALDB_RANGE;
        else if (r) {
            if (pre_id > r->pre_id) atomic_fetch_add(&e->gate_acks_seen, 1);
            r->pre_id = pre_id;
        } else {
            if (e->gate_nreps == e->gate_capreps) {
                uint32_t cap = e->gate_capreps ? e->gate_capreps * 2 : 8;
                sdb_gate_rep *n = sdb_realloc(e->gate_reps, cap * sizeof *n);
                if (!n) rc = SEALDB_NOMEM;
                else { e->gate_reps = n; e->gate_capreps = cap; }
            }
            if (!rc) {
                r = &e->gate_reps[e->gate_nreps++];
                snprintf(r->uuid, sizeof r->uuid, "%s", uuid);
                r->pre_id = pre_id;
                atomic_fetch_add(&e->gate_acks_seen, 1);
            }
        }
        if (!rc) rel = evaluate_locked(e);
    }
    pthread_mutex_unlock(&e->gate_mu);
    run_released(rel, SEALDB_OK);
    return rc;
}

int sdb_engine_gate_allow(sdb_engine *e, uint64_t id) {
    pthread_mutex_lock(&e->gate_mu);
    int replica = atomic_load(&e->gate_mode) == SDB_GATE_REPLICA;
    sdb_gate_held *rel = replica ? advance_locked(e, id) : NULL;
    uint64_t c = atomic_load(&e->gate_committed);
    pthread_mutex_unlock(&e->gate_mu);
    run_released(rel, SEALDB_OK);   /* nothing is held on a replica; kept for symmetry */
    /* durable before the replicator asks again: a restart starts from it (10.3), and a discard
     * never goes below it */
    return replica ? sdb_engine_store_committed(e, c) : SEALDB_OK;
}

uint64_t sdb_engine_committed_tx(sdb_engine *e) {
    uint64_t last = last_published(e);
    if (atomic_load_explicit(&e->gate_mode, memory_order_acquire) == SDB_GATE_OFF) return last;
    uint64_t c = atomic_load(&e->gate_committed);
    return c < last ? c : last;
}

int sdb_engine_committed_state(sdb_engine *e, uint64_t *tx_id, uint8_t alh[SDB_HASH_LEN]) {
    if (atomic_load_explicit(&e->gate_mode, memory_order_acquire) == SDB_GATE_OFF) return sdb_engine_state(e, tx_id, alh);
    uint64_t c = sdb_engine_committed_tx(e);
    *tx_id = c;
    if (!alh) return SEALDB_OK;
    if (c == 0) { sdb_sha256("", 0, alh); return SEALDB_OK; }
    sdb_tx_header h;
    return sdb_engine_tx_header(e, c, &h, alh);
}

int sdb_engine_gate_wait(sdb_engine *e, uint64_t tx, int precommitted, int64_t timeout_ms) {
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) { dl.tv_sec++; dl.tv_nsec -= 1000000000L; }
    int rc = SEALDB_OK;
    atomic_fetch_add(&e->gate_watchers, 1);
    pthread_mutex_lock(&e->gate_mu);
    for (;;) {
        if ((precommitted ? last_published(e) : sdb_engine_committed_tx(e)) >= tx) break;
        if (e->gate_closed) { rc = SEALDB_CLOSED; break; }
        /* gate_cv uses the realtime clock: convert the remaining monotonic time */
        struct timespec now, rt;
        clock_gettime(CLOCK_MONOTONIC, &now);
        int64_t left_ns = (int64_t)(dl.tv_sec - now.tv_sec) * 1000000000LL + (dl.tv_nsec - now.tv_nsec);
        if (left_ns <= 0) { rc = SEALDB_TIMEOUT; break; }
        if (left_ns > 50000000LL) left_ns = 50000000LL;   /* re-check at least every 50 ms */
        clock_gettime(CLOCK_REALTIME, &rt);
        rt.tv_nsec += left_ns;
        while (rt.tv_nsec >= 1000000000L) { rt.tv_sec++; rt.tv_nsec -= 1000000000L; }
        (void)pthread_cond_timedwait(&e->gate_cv, &e->gate_mu, &rt);
    }
    pthread_mutex_unlock(&e->gate_mu);
    atomic_fetch_sub(&e->gate_watchers, 1);
    return rc;
}

void sdb_engine_gate_close(sdb_engine *e) {
    pthread_mutex_lock(&e->gate_mu);
    e->gate_closed = 1;
    sdb_gate_held *rel = take_all_locked(e);
    pthread_cond_broadcast(&e->gate_cv);
    pthread_mutex_unlock(&e->gate_mu);
    run_released(rel, SEALDB_CLOSED);
}

uint64_t sdb_engine_gate_held(sdb_engine *e) {
    pthread_mutex_lock(&e->gate_mu);
    uint64_t n = e->gate_nheld;
    pthread_mutex_unlock(&e->gate_mu);
    return n;
}
