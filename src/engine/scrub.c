/* scrub.c - integrity of what is on disk while a database is open: the open-time re-check of the
 * chain's tail, and the background scrubber (one thread per process, over every open engine, at a
 * limited byte rate and the lowest CPU priority) that re-reads every journal record, re-checks it
 * with sdb_txcheck_record (CRCs, value hashes, entry digests, eH, the Alh chain), compares the
 * derived tx index and htree node file with what the journal implies (rewriting a derived record
 * that differs: derived bytes are never trusted over the journal), and records damaged txs, whose
 * entries plain reads then refuse (SEALDB_DAMAGED) instead of serving the stored bytes.
 *
 * Threading: an engine's walk state belongs to the thread that marked it busy under reg_mu (the
 * scrubber), or to sdb_scrub_attach before the engine is registered; close waits until it is not
 * busy. Damaged ranges and stats are guarded by sdb_scrub.mu; e->dmg_n is stored with release
 * after a range is added, so reads pay one acquire load while nothing is damaged. The scrubber
 * reads only published txs (pread below the published end, bytes that never change) and rewrites
 * only derived records of published txs, which no other thread writes. */
#include <inttypes.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "engine/engine_int.h"

#define MAX_RANGES 32

typedef struct walk {
    uint64_t next_id;             /* next tx to check */
    uint64_t pos;                 /* its journal position */
    uint64_t ht_off;              /* where its htree block belongs (when ht_known) */
    sdb_hash alh;                 /* Alh of next_id - 1 (when alh_known) */
    int alh_known, ht_known;      /* 0 after a record whose header could not be read */
    /* a tx-index record to rewrite once the next tx's prevAlh confirms the Alh in it (else the
     * difference was a changed header, which the chain check reports) */
    uint64_t pend_id;             /* 0: none */
    uint8_t pend[SDB_TXI_REC];
} walk;

typedef struct sdb_scrub {
    sdb_engine *e;
    struct sdb_scrub *next;       /* registry, under reg_mu */
    uint64_t gen;                 /* last round this engine's pass completed in (reg_mu) */
    walk w;                       /* scrubber-owned: the pass in progress */
    uint64_t target;              /* last tx of the pass in progress */
    int64_t pass_start_ns;
    pthread_mutex_t mu;           /* guards dmg, ndmg, st */
    struct { uint64_t lo, hi; } dmg[MAX_RANGES];
    int ndmg;
    sdb_scrub_stats st;
} sdb_scrub;

/* Working memory of one walk (~250 KiB, plus the largest record read): the scrubber keeps one
 * for its life, the open check one for its duration; none is kept per engine. */
typedef struct scratch {
    sdb_txcheck tc;
    sdb_buf buf;
    uint8_t *blk;                 /* room for the largest htree block */
} scratch;

static void scratch_deinit(scratch *x) {
    sdb_txcheck_deinit(&x->tc);
    sdb_buf_deinit(&x->buf);
    sdb_free(x->blk);
    x->blk = NULL;
}

static int scratch_init(scratch *x) {
    memset(x, 0, sizeof *x);
    sdb_buf_init(&x->buf);
    int rc = sdb_txcheck_init(&x->tc);
    if (!rc && !(x->blk = sdb_malloc((size_t)sdb_htree_block_len(SDB_ENGINE_MAX_ENTRIES)))) rc = SEALDB_NOMEM;
    if (rc) scratch_deinit(x);
    return rc;
}

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t reg_cv = PTHREAD_COND_INITIALIZER;   /* busy cleared, stop requested */
static sdb_scrub *reg_head;
static sdb_scrub *reg_busy, *reg_cur;
static uint64_t g_interval_ms, g_rate = 8u << 20;
static sdb_scrub_log_fn g_log;
static pthread_t g_thr;
static int g_started, g_stop;
static int64_t g_pass_start_ns;   /* scrubber-owned: rate accounting of the engine pass in progress */
static uint64_t g_pass_bytes;
static _Thread_local uint64_t damaged_tx;

#define LOG(...) do { if (g_log) g_log(__VA_ARGS__); } while (0)

uint64_t sdb_engine_damaged_tx(void) { return damaged_tx; }

static int64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void sdb_scrub_configure(uint64_t interval_ms, uint64_t rate, sdb_scrub_log_fn log) {
    pthread_mutex_lock(&reg_mu);
    g_interval_ms = interval_ms;
    g_rate = rate ? rate : 1;
    g_log = log;
    pthread_mutex_unlock(&reg_mu);
}

/* ---- damaged ranges ---- */

int sdb_scrub_is_damaged(sdb_engine *e, uint64_t tx) {
    sdb_scrub *s = e->scrub;
    int hit = 0;
    if (!s) return 0;
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < s->ndmg && !hit; i++) hit = tx >= s->dmg[i].lo && tx <= s->dmg[i].hi;
    pthread_mutex_unlock(&s->mu);
    if (hit) damaged_tx = tx;
    return hit;
}

/* Records txs lo..hi as damaged (merged with the ranges it touches; past MAX_RANGES the two
 * highest ranges are joined, so reads err on the side of refusing). Logs it once. */
static void mark_damaged(sdb_scrub *s, uint64_t lo, uint64_t hi, const char *why) {
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < s->ndmg; i++)
        if (lo >= s->dmg[i].lo && hi <= s->dmg[i].hi) { pthread_mutex_unlock(&s->mu); return; }
    int n = s->ndmg;
    s->dmg[n].lo = lo;
    s->dmg[n].hi = hi;
    n++;
    /* insertion sort by lo, then merge overlapping or adjacent ranges */
    for (int i = n - 1; i > 0 && s->dmg[i].lo < s->dmg[i - 1].lo; i--) {
        uint64_t a = s->dmg[i].lo, b = s->dmg[i].hi;
        s->dmg[i] = s->dmg[i - 1];
        s->dmg[i - 1].lo = a;
        s->dmg[i - 1].hi = b;
    }
    int m = 0;
    for (int i = 1; i < n; i++) {
        if (s->dmg[i].lo <= s->dmg[m].hi + 1) { if (s->dmg[i].hi > s->dmg[m].hi) s->dmg[m].hi = s->dmg[i].hi; }
        else s->dmg[++m] = s->dmg[i];
    }
    n = m + 1;
    if (n == MAX_RANGES) {   /* keep one slot free: join the last two */
        s->dmg[n - 2].hi = s->dmg[n - 1].hi;
        n--;
    }
    s->ndmg = n;
    s->st.failures++;
    if (!s->st.first_damaged || lo < s->st.first_damaged) s->st.first_damaged = lo;
    if (hi > s->st.last_damaged) s->st.last_damaged = hi;
    atomic_store_explicit(&s->e->dmg_n, n, memory_order_release);
    pthread_mutex_unlock(&s->mu);
    if (lo == hi)
        LOG("scrub: %s: tx %" PRIu64 " FAILED its integrity check: %s; plain reads of its entries now fail",
            s->e->dir, lo, why);
    else
        LOG("scrub: %s: txs %" PRIu64 "..%" PRIu64 " FAILED their integrity check: %s; plain reads of their "
            "entries now fail", s->e->dir, lo, hi, why);
}

/* ---- the walk ---- */

/* After an unreadable record: continue at tx id+1 from the tx index (derived, but the next
 * record's own checks and its link back are verified). 1: nothing to continue from. */
static int resync(sdb_scrub *s, walk *w, uint64_t upto) {
    sdb_txi_rec r;
    w->alh_known = 0;
    w->ht_known = 0;
    if (w->next_id >= upto || sdb_engine_txi_get(s->e, w->next_id + 1, &r)) return 1;
    w->next_id++;
    w->pos = r.pos;
    w->ht_off = r.node_off;
    w->ht_known = 1;
    return 0;
}

/* Derived records of a verified tx: the tx-index record and the htree block must be what the
 * journal implies; one that differs is rewritten (readers meanwhile either got the old bytes,
 * which fail their own checks, or the right ones). */
static int check_derived(sdb_scrub *s, scratch *x, walk *w, uint64_t id, uint64_t *bytes) {
    sdb_engine *e = s->e;
    sdb_txcheck *c = &x->tc;
    uint8_t want[SDB_TXI_REC], have[SDB_TXI_REC];
    int rc = sdb_file_read_at(e->txi, have, sizeof have, (id - 1) * SDB_TXI_REC);
    if (rc) return rc;
    *bytes += SDB_TXI_REC;
    if (!w->ht_known) {
        sdb_txi_rec r;
        if (sdb_txi_decode(have, &r)) return SEALDB_OK;   /* nothing to place the block by */
        w->ht_off = r.node_off;
        w->ht_known = 1;
    }
    sdb_txi_rec t = { w->pos, c->fr.vals_len, c->fr.meta_len, c->n, c->alh, w->ht_off };
    sdb_txi_encode(&t, want);
    int fixed = 0;
    if (memcmp(want, have, sizeof want)) {
        w->pend_id = id;
        memcpy(w->pend, want, sizeof want);
    }
    uint64_t blen = sdb_htree_block_len(c->n);
    if (blen) {
        if ((rc = sdb_file_read_at(e->htf, x->blk, (size_t)blen, w->ht_off))) return rc;
        *bytes += blen;
        if (memcmp(x->blk, c->ht.nodes, (size_t)blen)) {
            if ((rc = sdb_file_write_at(e->htf, c->ht.nodes, (size_t)blen, w->ht_off))) return rc;
            LOG("scrub: %s: htree block of tx %" PRIu64 " differed from the journal: rewritten", e->dir, id);
            fixed++;
        }
    }
    w->ht_off += blen;
    if (fixed) {
        pthread_mutex_lock(&s->mu);
        s->st.repaired += (uint64_t)fixed;
        pthread_mutex_unlock(&s->mu);
    }
    return SEALDB_OK;
}

/* The pending tx-index rewrite of w->pend_id, now that the next record links to its Alh. */
static int apply_pending(sdb_scrub *s, walk *w) {
    uint64_t id = w->pend_id;
    w->pend_id = 0;
    int rc = sdb_file_write_at(s->e->txi, w->pend, SDB_TXI_REC, (id - 1) * SDB_TXI_REC);
    if (rc) return rc;
    LOG("scrub: %s: tx index record of tx %" PRIu64 " differed from the journal: rewritten", s->e->dir, id);
    pthread_mutex_lock(&s->mu);
    s->st.repaired++;
    pthread_mutex_unlock(&s->mu);
    return SEALDB_OK;
}

/* Checks txs from w->next_id up to upto until *bytes reaches budget. SEALDB_OK or an I/O status
 * (the pass stops there). Damage is recorded, not returned. */
static int step(sdb_scrub *s, scratch *x, walk *w, uint64_t upto, uint64_t budget, uint64_t *bytes) {
    sdb_engine *e = s->e;
    sdb_txcheck *c = &x->tc;
    int rc;
    while (w->next_id <= upto && *bytes < budget) {
        uint64_t id = w->next_id;
        uint64_t room;
        int last;
        char msg[200];
        sdb_journal_room(e->j, w->pos, &room, &last);
        if (room < SDB_JREC_FRAME) {
            uint64_t nx = sdb_journal_next_seg(e->j, w->pos);
            if (nx != UINT64_MAX) { w->pos = nx; continue; }
            mark_damaged(s, id, upto, "the journal ends before these txs");
            w->next_id = upto + 1;
            break;
        }
        uint8_t fb[SDB_JREC_FRAME];
        sdb_jframe fr;
        if ((rc = sdb_journal_read(e->j, w->pos, fb, sizeof fb))) return rc;
        uint64_t rec_len = sdb_jrec_frame(fb, &fr) ? 0 : SDB_JREC_FRAME + (uint64_t)fr.meta_len + fr.vals_len;
        if (!rec_len || rec_len > room) {
            w->pend_id = 0;
            mark_damaged(s, id, id, "its record frame is unreadable");
            if (resync(s, w, upto)) {
                if (id < upto) mark_damaged(s, id + 1, upto, "they cannot be located (tx index unreadable)");
                w->next_id = upto + 1;
                break;
            }
            continue;
        }
        sdb_buf_reset(&x->buf);
        if ((rc = sdb_buf_reserve(&x->buf, (size_t)rec_len))) return rc;
        if ((rc = sdb_journal_read(e->j, w->pos, x->buf.ptr, (size_t)rec_len))) return rc;
        x->buf.len = (size_t)rec_len;
        *bytes += rec_len;
        c->values_kept_from = sdb_engine_truncated_below(e);
        int trc = sdb_txcheck_record(c, sdb_buf_slice(&x->buf), id, NULL);
        if (trc && trc != SEALDB_NOMEM && id >= c->values_kept_from && id < sdb_engine_truncated_below(e)) {
            /* a truncation discarded these values while they were read: check it as truncated */
            c->values_kept_from = sdb_engine_truncated_below(e);
            trc = sdb_txcheck_record(c, sdb_buf_slice(&x->buf), id, NULL);
        }
        if (trc == SEALDB_NOMEM) return trc;
        if (w->pend_id) {
            if (w->pend_id == id - 1 && !c->format_bad && w->alh_known && !memcmp(c->hdr.prev_alh.b, w->alh.b, SDB_HASH_LEN)) {
                if ((rc = apply_pending(s, w))) return rc;
            }
            w->pend_id = 0;
        }
        if (trc) {
            snprintf(msg, sizeof msg, "%s", c->why);
            mark_damaged(s, id, id, msg);
        } else if (w->alh_known && memcmp(c->hdr.prev_alh.b, w->alh.b, SDB_HASH_LEN)) {
            /* one of the two headers changed (each still hashes to itself) */
            mark_damaged(s, id > 1 ? id - 1 : 1, id, "the Alh chain breaks between these txs");
        }
        if (c->format_bad) {
            /* the header and entries are unknown: the next link and block offset cannot be checked */
            w->alh_known = 0;
            w->ht_known = 0;
        } else {
            if (trc && sdb_tx_alh(&c->hdr, c->alh.b)) w->alh_known = 0;
            else { w->alh = c->alh; w->alh_known = 1; }
            if (!trc) { if ((rc = check_derived(s, x, w, id, bytes))) return rc; }
            else w->ht_known = 0;
        }
        w->pos += rec_len;
        w->next_id++;
        if (!w->ht_known) {
            sdb_txi_rec r;
            if (w->next_id <= upto && !sdb_engine_txi_get(e, w->next_id, &r)) { w->ht_off = r.node_off; w->ht_known = 1; }
        }
    }
    return SEALDB_OK;
}

/* ---- attach (open-time tail check) / detach ---- */

static void scrub_free(sdb_scrub *s) {
    if (!s) return;
    pthread_mutex_destroy(&s->mu);
    sdb_free(s);
}

int sdb_scrub_attach(sdb_engine *e) {
    sdb_scrub *s = sdb_calloc(1, sizeof *s);
    if (!s) return SEALDB_NOMEM;
    s->e = e;
    pthread_mutex_init(&s->mu, NULL);
    scratch x;
    int rc = scratch_init(&x);
    if (rc) { scrub_free(s); return rc; }
    e->scrub = s;
    /* The tail of the chain: recovery trusted the newest tx-index record that matches its journal
     * header; re-check the records before it (up to SDB_SCRUB_TAIL_TXS / _BYTES) from their bytes. */
    uint64_t k = sdb_engine_last_tx(e);
    if (k) {
        sdb_txi_rec first, lastr;
        uint64_t id0 = k > SDB_SCRUB_TAIL_TXS ? k - SDB_SCRUB_TAIL_TXS + 1 : 1;
        rc = sdb_engine_txi_get(e, k, &lastr);
        uint64_t end = rc ? 0 : lastr.pos + SDB_JREC_FRAME + lastr.meta_len + lastr.vals_len;
        while (!rc && id0 < k && (sdb_engine_txi_get(e, id0, &first) || end - first.pos > SDB_SCRUB_TAIL_BYTES)) id0++;
        if (!rc && !sdb_engine_txi_get(e, id0, &first)) {
            walk w = { .next_id = id0, .pos = first.pos, .ht_off = first.node_off, .alh_known = 0, .ht_known = 1 };
            uint64_t bytes = 0;
            uint64_t failures = s->st.failures;
            rc = step(s, &x, &w, k, UINT64_MAX, &bytes);
            if (rc) LOG("scrub: %s: open check stopped at tx %" PRIu64 ": %s", e->dir, w.next_id, sealdb_strerror(rc));
            else if (s->st.failures == failures)
                LOG("scrub: %s: open check: txs %" PRIu64 "..%" PRIu64 " re-checked from the journal (%" PRIu64
                    " bytes): intact", e->dir, id0, k, bytes);
            else
                LOG("scrub: %s: open check: txs %" PRIu64 "..%" PRIu64 " re-checked: DAMAGED (txs %" PRIu64 "..%" PRIu64 ")",
                    e->dir, id0, k, s->st.first_damaged, s->st.last_damaged);
        }
        rc = SEALDB_OK;   /* an unreadable tail leaves the work to the scrubber; damage is recorded */
    }
    scratch_deinit(&x);
    pthread_mutex_lock(&reg_mu);
    s->next = reg_head;
    reg_head = s;
    pthread_mutex_unlock(&reg_mu);
    return SEALDB_OK;
}

void sdb_scrub_detach(sdb_engine *e) {
    sdb_scrub *s = e->scrub;
    if (!s) return;
    pthread_mutex_lock(&reg_mu);
    for (sdb_scrub **pp = &reg_head; *pp; pp = &(*pp)->next)
        if (*pp == s) { *pp = s->next; break; }
    if (reg_cur == s) reg_cur = NULL;
    while (reg_busy == s) pthread_cond_wait(&reg_cv, &reg_mu);
    pthread_mutex_unlock(&reg_mu);
    atomic_store(&e->dmg_n, 0);
    e->scrub = NULL;
    scrub_free(s);
}

void sdb_engine_scrub_stats(sdb_engine *e, sdb_scrub_stats *out) {
    memset(out, 0, sizeof *out);
    sdb_scrub *s = e->scrub;
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    *out = s->st;
    pthread_mutex_unlock(&s->mu);
}

/* ---- the scrubber thread ---- */

/* Waits until deadline (monotonic ns) or stop; reg_mu held. 1 when stopping. */
static int wait_until(int64_t deadline) {
    while (!g_stop) {
        int64_t now = mono_ns();
        if (now >= deadline) return 0;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t left = deadline - now;
        if (left > 200000000) left = 200000000;   /* re-read the monotonic clock now and then */
        ts.tv_sec += (time_t)(left / 1000000000);
        ts.tv_nsec += (long)(left % 1000000000);
        if (ts.tv_nsec >= 1000000000) { ts.tv_sec++; ts.tv_nsec -= 1000000000; }
        pthread_cond_timedwait(&reg_cv, &reg_mu, &ts);
    }
    return 1;
}

static void *scrub_main(void *arg) {
    sdb_thread_name("sdb-scrub");
    (void)arg;
    /* lowest CPU priority for this thread only (Linux: a thread is a task with its own nice) */
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
    scratch x;
    if (scratch_init(&x)) {
        LOG("scrub: out of memory: the integrity scrub does not run");
        return NULL;
    }
    uint64_t gen = 1;
    pthread_mutex_lock(&reg_mu);
    for (;;) {
        /* the rate limit: bytes read so far in this engine's pass may not outrun rate x time */
        if (reg_cur && wait_until(g_pass_start_ns + (int64_t)((double)g_pass_bytes * 1e9 / (double)g_rate))) break;
        if (g_stop) break;
        sdb_scrub *s = reg_cur;
        if (!s) {
            for (sdb_scrub *p = reg_head; p && !s; p = p->next) if (p->gen < gen) s = p;
            if (!s) {   /* every open engine done this round */
                if (wait_until(mono_ns() + (int64_t)g_interval_ms * 1000000)) break;
                gen++;
                continue;
            }
            reg_cur = s;
            s->w = (walk){ .next_id = 1, .pos = sdb_journal_first_pos(s->e->j), .alh = sdb_hash_empty, .alh_known = 1, .ht_known = 1 };
            s->target = sdb_engine_last_tx(s->e);
            s->pass_start_ns = g_pass_start_ns = mono_ns();
            g_pass_bytes = 0;
        }
        reg_busy = s;
        uint64_t chunk = g_rate / 8;
        chunk = chunk < (64u << 10) ? (64u << 10) : chunk > (1u << 20) ? (1u << 20) : chunk;
        pthread_mutex_unlock(&reg_mu);

        int done = 0;
        if (s->w.next_id > s->target) {
            double secs = (double)(mono_ns() - s->pass_start_ns) / 1e9;
            pthread_mutex_lock(&s->mu);
            s->st.passes++;
            s->st.last_pass_seconds = secs;
            s->st.last_pass_end = sdb_unix_s();
            uint64_t failures = s->st.failures, repaired = s->st.repaired;
            pthread_mutex_unlock(&s->mu);
            LOG("scrub: %s: pass complete: txs 1..%" PRIu64 " (%" PRIu64 " bytes) in %.3f s: %s (%" PRIu64
                " damaged found, %" PRIu64 " derived records rewritten so far)", s->e->dir, s->target, g_pass_bytes,
                secs, failures ? "DAMAGED" : "intact", failures, repaired);
            done = 1;
            if (x.buf.cap > (1u << 20)) {   /* do not keep a huge record's buffer between passes */
                sdb_buf_deinit(&x.buf);
                sdb_buf_init(&x.buf);
            }
        } else {
            uint64_t b0 = g_pass_bytes;
            int rc = step(s, &x, &s->w, s->target, b0 + chunk, &g_pass_bytes);
            pthread_mutex_lock(&s->mu);
            s->st.last_verified_tx = s->w.next_id - 1;
            pthread_mutex_unlock(&s->mu);
            if (rc) {
                LOG("scrub: %s: pass stopped at tx %" PRIu64 ": %s", s->e->dir, s->w.next_id, sealdb_strerror(rc));
                done = 1;
            }
        }

        pthread_mutex_lock(&reg_mu);
        reg_busy = NULL;
        if (done) {
            s->gen = gen;
            if (reg_cur == s) reg_cur = NULL;
        }
        pthread_cond_broadcast(&reg_cv);
    }
    pthread_mutex_unlock(&reg_mu);
    scratch_deinit(&x);
    return NULL;
}

int sdb_scrubber_start(void) {
    pthread_mutex_lock(&reg_mu);
    int rc = SEALDB_OK;
    if (!g_started && g_interval_ms) {
        g_stop = 0;
        if (pthread_create(&g_thr, NULL, scrub_main, NULL)) rc = SEALDB_NOMEM;
        else g_started = 1;
    }
    pthread_mutex_unlock(&reg_mu);
    return rc;
}

void sdb_scrubber_stop(void) {
    pthread_mutex_lock(&reg_mu);
    if (!g_started) { pthread_mutex_unlock(&reg_mu); return; }
    g_stop = 1;
    pthread_cond_broadcast(&reg_cv);
    pthread_mutex_unlock(&reg_mu);
    pthread_join(g_thr, NULL);
    pthread_mutex_lock(&reg_mu);
    g_started = 0;
    reg_cur = NULL;
    pthread_mutex_unlock(&reg_mu);
}
