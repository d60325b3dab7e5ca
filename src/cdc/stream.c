/* stream.c - one replication session of sealdb-cdc: reads the resume point from sealdb, follows the
 * pgoutput slot, turns each PostgreSQL transaction into sealdb ExecAll transactions (the slot's LSN
 * key in the last one), keeps up to --pipeline of them in flight on one ExecAllBatchStream (those
 * decoded within the send window go as one message; committed and answered in the order sent;
 * unary ExecAlls that a marker precondition orders with a server without it) and confirms to
 * PostgreSQL only what sealdb has committed. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/select.h>
#include <time.h>
#include <cjson/cJSON.h>
#include <libpq-fe.h>
#include "cdc/cdc.h"
#include "cdc/daemon.h"

/* one recorded row version */
typedef struct ent { sdb_buf key, val; uint32_t table_len; int tomb; } ent;

/* a PostgreSQL tx sent to sealdb and not yet answered: its versions (owned) and the call */
typedef struct flight {
    ent *ents; size_t nents, cap;
    uint64_t end_lsn;
    int64_t commit_us;            /* unix */
    sealdb_pending *p;            /* unary call; NULL: not sent that way */
    int streamed;                 /* sent on the session's txstream (else with p NULL: not sent yet,
                                   * the test hook sends it after the next) */
    int guarded;                  /* sent with the previous tx's marker as a precondition */
    size_t bytes;                 /* its keys' and values' bytes */
    int answered;                 /* committed (answer taken while an older tx was resent), as tx */
    uint64_t tx;
} flight;

typedef struct sess {
    const cdc_cfg *cfg;
    sealdb_client *c;
    PGconn *repl, *meta;          /* replication connection; plain one for catalog queries */
    pgo_relcache rels;
    char lsn_key[512], part_key[512];
    uint64_t done_lsn;            /* end LSN of the last PG tx recorded in sealdb */
    uint64_t idle_lsn;            /* what PostgreSQL had sent when we were idle (keepalive) */
    /* a split tx interrupted after some parts: its end and commit LSNs, parts and versions written,
     * and the sealdb tx before its first part (its reads must see the state before the tx) */
    uint64_t part_lsn, part_final, part_base; uint32_t part_chunks; uint64_t part_ents;
    uint64_t base_tx;             /* current tx replays an interrupted one: read as of this tx; 0 = latest */
    uint64_t last_tx;             /* last sealdb tx id we wrote (reads wait for it to be indexed) */
    uint32_t max_rows, max_ents; size_t max_val;   /* max_ents: the server's entries per tx */
    uint32_t hslots;              /* a chunk's key hash table: a power of two above 2 * max_rows */
    /* current PG tx */
    int in_tx; uint32_t xid; uint64_t final_lsn; int64_t commit_ts;
    sdb_buf tx_tail;              /* ,"xid":..,"lsn":..,"commit_time":.. of the current tx: one per tx, not per row */
    sdb_buf tname;                /* scratch: schema.table of the row being built */
    ent *ents; size_t nents, cap;
    uint64_t last_feedback_us;
    uint64_t fed_lsn;             /* the position the last status update confirmed */
    FILE *lag;
    /* pipeline: ring of cfg->pipeline txs in flight, oldest at fl_head */
    flight *fl; uint32_t fl_head, fl_n;
    size_t fl_bytes;              /* their keys' and values' bytes: at most PIPELINE_BYTES_X max_batch_bytes */
    uint64_t sent_lsn;            /* end LSN of the last tx sent (its marker guards the next) */
    int swap;                     /* test hook: send groups of swap txs newest first (0: off) */
    int64_t window_us;            /* --send-window-ms: pipelined txs are held back this long ... */
    int64_t unsent_since;         /* ... from when the oldest unsent one was decoded (0: none unsent) */
    sealdb_txstream *ts;          /* pipelined txs go there; NULL: opened at the next send */
    int unary;                    /* the server lacks ExecAllBatchStream (or the test hook): unary ExecAlls */
    uint64_t ts_answers;          /* answers taken on the current stream */
    uint32_t ts_flying;           /* txs sent (or queued) on it and not taken */
    uint32_t ts_queued;           /* txs queued for its next message */
    int ts_idle;                  /* it had no tx in flight when the first queued one was */
    int ts_broken;                /* a send found it ended */
    int ts_retry;                 /* stream_flush is sending the queued txs again on a new stream */
    int collect;                  /* flight_flush is queueing: stream_flush comes at its end */
} sess;

static int flight_drain(sess *s);
static int flight_ready(sess *s, flight *f);

static int64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void ents_clear(sess *s) {
    for (size_t i = 0; i < s->nents; i++) { sdb_buf_deinit(&s->ents[i].key); sdb_buf_deinit(&s->ents[i].val); }
    s->nents = 0;
}

static ent *ent_new(sess *s) {
    if (s->nents == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 256;
        ent *g = realloc(s->ents, nc * sizeof *g);
        if (!g) return NULL;
        s->ents = g; s->cap = nc;
    }
    ent *e = &s->ents[s->nents++];
    memset(e, 0, sizeof *e);
    sdb_buf_init(&e->key); sdb_buf_init(&e->val);
    return e;
}

/* ---- feedback: only LSNs sealdb has committed ---- */
static int send_feedback(sess *s, int reply) {
    uint8_t m[34];
    /* confirmed: the last recorded tx, or beyond it what PostgreSQL sent while no tx was pending
     * (nothing before that point is left to record; without it a shutting-down PostgreSQL waits
     * for its own shutdown checkpoint to be confirmed) */
    uint64_t l = s->idle_lsn > s->done_lsn ? s->idle_lsn : s->done_lsn;
    int64_t t = now_us() - 946684800LL * 1000000;
    m[0] = 'r';
    sdb_put_u64be(m + 1, l); sdb_put_u64be(m + 9, l); sdb_put_u64be(m + 17, l);
    sdb_put_u64be(m + 25, (uint64_t)t);
    m[33] = (uint8_t)reply;
    if (PQputCopyData(s->repl, (const char *)m, sizeof m) != 1 || PQflush(s->repl) != 0) {
        cdc_log(0, "postgresql: status update failed: %s", PQerrorMessage(s->repl));
        return -1;
    }
    s->last_feedback_us = (uint64_t)now_us();
    s->fed_lsn = l;
    atomic_fetch_add(&cdc_st.status_updates, 1);
    return 0;
}

/* Status updates are coalesced while txs keep coming (one per recorded tx cost a syscall and a
 * walsender wake-up each): at most one per FEEDBACK_BUSY_US under load, and one as soon as the
 * stream goes idle, so a PostgreSQL that waits for us (synchronous standby) is not delayed. */
#define FEEDBACK_BUSY_US 20000

/* ---- sealdb side ---- */
static int sealdb_fail(sess *s, int rc, const char *what) {
    cdc_log(0, "sealdb: %s: %s (%s)", what, sealdb_client_errmsg(s->c), sealdb_strerror(rc));
    return rc == SEALDB_NETWORK || rc == SEALDB_TIMEOUT || rc == SEALDB_AUTH ? CDC_RETRY : CDC_FATAL;
}

static int read_resume(sess *s) {
    sealdb_entry *e = NULL;
    int rc = sealdb_client_get(s->c, s->lsn_key, strlen(s->lsn_key), NULL, &e);
    s->done_lsn = 0;
    if (rc == SEALDB_OK) {
        char t[32] = "";
        if (e->value_len < sizeof t) memcpy(t, e->value, e->value_len);
        s->last_tx = e->tx;
        int prc = cdc_lsn_parse(t, &s->done_lsn);
        sealdb_entry_free(e);
        if (prc) { cdc_log(0, "sealdb: %s holds no LSN", s->lsn_key); return CDC_FATAL; }
    } else if (rc != SEALDB_NOTFOUND) {
        return sealdb_fail(s, rc, "reading the resume point");
    }
    s->part_lsn = 0; s->part_chunks = 0; s->part_ents = 0; s->part_final = 0; s->part_base = 0;
    rc = sealdb_client_get(s->c, s->part_key, strlen(s->part_key), NULL, &e);
    if (rc == SEALDB_OK) {
        char t[128] = "", l[32], f[32];
        unsigned n = 0;
        unsigned long long ne = 0, base = 0;
        if (e->value_len < sizeof t) memcpy(t, e->value, e->value_len);
        if (e->tx > s->last_tx) s->last_tx = e->tx;
        sealdb_entry_free(e);
        if (sscanf(t, "%31s %u %llu %31s %llu", l, &n, &ne, f, &base) != 5 || cdc_lsn_parse(l, &s->part_lsn) ||
            cdc_lsn_parse(f, &s->part_final)) {
            cdc_log(0, "sealdb: %s is malformed", s->part_key);
            return CDC_FATAL;
        }
        s->part_chunks = n; s->part_ents = ne; s->part_base = base;
    } else if (rc != SEALDB_NOTFOUND) {
        return sealdb_fail(s, rc, "reading the resume point");
    }
    return 0;
}

/* The version of key in sealdb before the current PG tx: the latest one, or, when replaying a tx
 * whose first parts are already written, the last one at or before base_tx. */
static int get_before_tx(sess *s, const void *key, size_t key_len, sealdb_entry **out) {
    *out = NULL;
    if (!s->base_tx) {
        sealdb_get_opts o = { .since_tx = s->last_tx };
        return sealdb_client_get(s->c, key, key_len, &o, out);
    }
    for (uint64_t off = 0;; ) {
        sealdb_entries *l = NULL;
        int rc = sealdb_client_history(s->c, key, key_len, off, 100, 1, s->last_tx, &l);
        if (rc) return rc;
        size_t n = l->n;
        for (size_t i = 0; i < n; i++) {
            if (l->items[i].tx <= s->base_tx) {
                sealdb_entry *e = sdb_malloc(sizeof *e);
                if (!e) { sealdb_entries_free(l); return SEALDB_NOMEM; }
                *e = l->items[i];   /* moved out of the list */
                memmove(&l->items[i], &l->items[n - 1], sizeof *e);
                l->n--;
                sealdb_entries_free(l);
                *out = e;
                return SEALDB_OK;
            }
        }
        sealdb_entries_free(l);
        if (n < 100) return SEALDB_NOTFOUND;
        off += n;
    }
}

/* The row's latest recorded version: first among this tx's buffered entries, then in sealdb.
 * *json gets a parsed value (caller frees) or NULL when the row was never recorded. */
static int prev_version(sess *s, const sdb_buf *key, cJSON **json) {
    *json = NULL;
    for (size_t i = s->nents; i-- > 0;) {
        if (sdb_slice_eq(sdb_buf_slice(&s->ents[i].key), sdb_buf_slice(key))) {
            *json = cJSON_ParseWithLength((const char *)s->ents[i].val.ptr, s->ents[i].val.len);
            return 0;
        }
    }
    int rc = flight_drain(s);   /* the latest version may be in flight */
    if (rc) return rc;
    sealdb_entry *e = NULL;
    rc = get_before_tx(s, key->ptr, key->len, &e);
    if (rc == SEALDB_NOTFOUND) return 0;
    if (rc) return sealdb_fail(s, rc, "reading a row's previous version");
    *json = cJSON_ParseWithLength((const char *)e->value, e->value_len);
    sealdb_entry_free(e);
    return 0;
}

/* the "row" members of a parsed version, as cdc_prev_row arrays (pointing into json) */
typedef struct prev_arr { const char **names, **vals; size_t *lens; int *nulls; cdc_prev_row p; } prev_arr;
static int prev_from_json(const cJSON *json, prev_arr *a) {
    memset(a, 0, sizeof *a);
    const cJSON *row = json ? cJSON_GetObjectItemCaseSensitive(json, "row") : NULL;
    if (!cJSON_IsObject(row)) return 0;
    size_t n = (size_t)cJSON_GetArraySize(row);
    a->names = calloc(n + 1, sizeof *a->names); a->vals = calloc(n + 1, sizeof *a->vals);
    a->lens = calloc(n + 1, sizeof *a->lens); a->nulls = calloc(n + 1, sizeof *a->nulls);
    if (!a->names || !a->vals || !a->lens || !a->nulls) return -1;
    size_t i = 0;
    for (const cJSON *m = row->child; m && i < n; m = m->next, i++) {
        a->names[i] = m->string ? m->string : "";
        if (cJSON_IsString(m)) { a->vals[i] = m->valuestring; a->lens[i] = strlen(m->valuestring); }
        else { a->vals[i] = ""; a->nulls[i] = 1; }
    }
    a->p = (cdc_prev_row){ a->names, a->vals, a->lens, a->nulls, i };
    return 0;
}
static void prev_free(prev_arr *a) { free(a->names); free(a->vals); free(a->lens); free(a->nulls); }

/* ---- relations: the row key is the primary key when there is one ---- */
static int on_relation(sess *s, const pgo_msg *m) {
    if (pgo_relcache_put(&s->rels, m)) return CDC_FATAL;
    pgo_rel *r = pgo_relcache_get(&s->rels, m->relid);
    char rid[16];
    snprintf(rid, sizeof rid, "%u", m->relid);
    const char *pv[1] = { rid };
    PGresult *res = PQexecParams(s->meta,
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = $1::oid AND i.indisprimary", 1, NULL, pv, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        cdc_log(0, "postgresql: primary key of %s.%s: %s", r->nspname, r->relname, PQerrorMessage(s->meta));
        PQclear(res);
        return CDC_RETRY;
    }
    int npk = PQntuples(res);
    if (npk > 0 && r->replident == 'i') {
        /* old keys then carry the identity index's columns: usable only when they are the key's */
        int same = 1;
        for (uint16_t i = 0; i < r->ncols; i++) {
            int in_pk = 0;
            for (int j = 0; j < npk; j++) in_pk |= !strcmp(PQgetvalue(res, j, 0), r->names[i]);
            same &= in_pk == r->key[i];
        }
        if (!same) {
            cdc_log(0, "table %s.%s: REPLICA IDENTITY USING INDEX on other columns than the primary key is "
                    "not supported (use DEFAULT or FULL)", r->nspname, r->relname);
            PQclear(res);
            return CDC_FATAL;
        }
    }
    if (npk > 0) {
        r->nkey = 0;
        for (uint16_t i = 0; i < r->ncols; i++) {
            r->key[i] = 0;
            for (int j = 0; j < npk; j++) if (!strcmp(PQgetvalue(res, j, 0), r->names[i])) r->key[i] = 1;
            r->nkey += r->key[i];
        }
    }
    PQclear(res);
    if (npk == 0 && !(s->cfg->no_pk_full && r->replident == 'f')) {
        cdc_log(0, "table %s.%s has no primary key: refused (give it one, or set REPLICA IDENTITY FULL "
                "and --no-pk=full)", r->nspname, r->relname);
        return CDC_FATAL;
    }
    if (r->nkey == 0) return CDC_FATAL;
    return 0;
}

/* The members every version of the current tx shares (xid, commit LSN and time), formatted once at
 * its Begin: the time formatting (gmtime_r, strftime) per row was a visible share of the CPU. */
static int tx_tail_make(sess *s) {
    char lsn[24], ts[40], num[24];
    cdc_lsn_fmt(s->final_lsn, lsn);
    cdc_ts_fmt(s->commit_ts, ts);
    snprintf(num, sizeof num, "%u", s->xid);
    sdb_buf *v = &s->tx_tail;
    sdb_buf_reset(v);
    return sdb_buf_append(v, ",\"xid\":", 7) || sdb_buf_append(v, num, strlen(num)) ||
           sdb_buf_append(v, ",\"lsn\":\"", 8) || sdb_buf_append(v, lsn, strlen(lsn)) ||
           sdb_buf_append(v, "\",\"commit_time\":\"", 17) || sdb_buf_append(v, ts, strlen(ts)) ||
           sdb_buf_append(v, "\"", 1) ? -1 : 0;
}

/* common members of a version's value */
static int val_head(sess *s, sdb_buf *v, const char *op, const pgo_rel *r) {
    sdb_buf_reset(v);
    if (sdb_buf_append(v, "{\"op\":\"", 7) || sdb_buf_append(v, op, strlen(op)) ||
        sdb_buf_append(v, "\",\"table\":", 10)) return -1;
    sdb_buf *t = &s->tname;
    sdb_buf_reset(t);
    if (sdb_buf_append(t, r->nspname, strlen(r->nspname)) || sdb_buf_append_u8(t, '.') ||
        sdb_buf_append(t, r->relname, strlen(r->relname)) || cdc_json_str(v, t->ptr, t->len)) return -1;
    return sdb_buf_append(v, s->tx_tail.ptr, s->tx_tail.len) ? -1 : 0;
}
#define VAPP(b, s) sdb_buf_append((b), (s), strlen(s))

static int table_prefix(sess *s, sdb_buf *k, const pgo_rel *r) {
    sdb_buf_reset(k);
    return VAPP(k, s->cfg->prefix) || VAPP(k, "/") || VAPP(k, r->nspname) || VAPP(k, ".") ||
           VAPP(k, r->relname) || VAPP(k, "/") ? -1 : 0;
}

static int make_key(sess *s, sdb_buf *k, const pgo_rel *r, const pgo_tuple *t) {
    if (table_prefix(s, k, r)) return -1;
    return cdc_json_tuple(k, r, t, 1, NULL, NULL) ? -1 : 0;
}

static int add_tomb(sess *s, const pgo_rel *r, const sdb_buf *key, const char *op, const sdb_buf *old,
                    const sdb_buf *new_key) {
    ent *e = ent_new(s);
    if (!e) return -1;
    e->tomb = 1;
    if (sdb_buf_append(&e->key, key->ptr, key->len) || val_head(s, &e->val, op, r) ||
        VAPP(&e->val, ",\"row\":null")) return -1;
    if (old && (VAPP(&e->val, ",\"old\":") || sdb_buf_append(&e->val, old->ptr, old->len))) return -1;
    if (new_key) {
        size_t pl = strlen(s->cfg->prefix) + strlen(r->nspname) + strlen(r->relname) + 3;
        if (VAPP(&e->val, ",\"new_key\":") || sdb_buf_append(&e->val, new_key->ptr + pl, new_key->len - pl))
            return -1;
    }
    return VAPP(&e->val, "}") ? -1 : 0;
}

static int on_change(sess *s, const pgo_msg *m) {
    pgo_rel *r = pgo_relcache_get(&s->rels, m->relid);
    if (!r) { cdc_log(0, "postgresql: change for unknown relation %u", m->relid); return CDC_RETRY; }
    if ((m->new_tup.cols && m->new_tup.n != r->ncols) || (m->old_tup.cols && m->old_tup.n != r->ncols)) {
        cdc_log(0, "postgresql: tuple of %s.%s does not match its relation", r->nspname, r->relname);
        return CDC_RETRY;
    }
    int rc = CDC_FATAL;
    sdb_buf key, oldkey, old;
    sdb_buf_init(&key); sdb_buf_init(&oldkey); sdb_buf_init(&old);
    cJSON *pj = NULL;
    prev_arr pa = { 0 };
    if (m->type == PGO_DELETE) {
        if (make_key(s, &key, r, &m->old_tup) || cdc_json_tuple(&old, r, &m->old_tup, m->old_kind == 'K', NULL, NULL))
            goto out;
        if (add_tomb(s, r, &key, "delete", &old, NULL)) goto out;
        rc = 0;
        goto out;
    }
    if (make_key(s, &key, r, &m->new_tup)) goto out;
    int has_old = m->type == PGO_UPDATE && m->old_kind;
    if (has_old) {
        if (make_key(s, &oldkey, r, &m->old_tup)) goto out;
        if (cdc_json_tuple(&old, r, &m->old_tup, m->old_kind == 'K', NULL, NULL)) goto out;
    }
    int moved = has_old && !sdb_slice_eq(sdb_buf_slice(&key), sdb_buf_slice(&oldkey));
    /* unchanged TOAST columns come from the row's previous version */
    int need_prev = 0;
    for (uint16_t i = 0; i < m->new_tup.n; i++) need_prev |= m->new_tup.cols[i].kind == 'u';
    if (need_prev) {
        int prc = prev_version(s, moved ? &oldkey : &key, &pj);
        if (prc) { rc = prc; goto out; }
        if (prev_from_json(pj, &pa)) goto out;
    }
    if (moved && add_tomb(s, r, &oldkey, "update", m->old_kind == 'O' ? &old : NULL, &key)) goto out;
    ent *e = ent_new(s);
    if (!e || sdb_buf_append(&e->key, key.ptr, key.len)) goto out;
    if (val_head(s, &e->val, m->type == PGO_INSERT ? "insert" : "update", r) || VAPP(&e->val, ",\"row\":")) goto out;
    int incomplete = 0;
    if (cdc_json_tuple(&e->val, r, &m->new_tup, 0, need_prev ? &pa.p : NULL, &incomplete)) goto out;
    if (moved) {   /* the old key's JSON: after "<prefix>/<schema>.<table>/" (names may hold '/') */
        size_t pl = strlen(s->cfg->prefix) + strlen(r->nspname) + strlen(r->relname) + 3;
        if (pl > oldkey.len || VAPP(&e->val, ",\"old_key\":") || sdb_buf_append(&e->val, oldkey.ptr + pl, oldkey.len - pl))
            goto out;
    }
    if (has_old && m->old_kind == 'O' && (VAPP(&e->val, ",\"old\":") || sdb_buf_append(&e->val, old.ptr, old.len)))
        goto out;
    if (incomplete && VAPP(&e->val, ",\"incomplete\":true")) goto out;
    if (VAPP(&e->val, "}")) goto out;
    rc = 0;
out:
    if (rc == CDC_FATAL) cdc_log(0, "recording a change of %s.%s failed", r->nspname, r->relname);
    cJSON_Delete(pj);
    prev_free(&pa);
    sdb_buf_deinit(&key); sdb_buf_deinit(&oldkey); sdb_buf_deinit(&old);
    return rc;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* TRUNCATE: a tombstone for every live row of the table (recorded ones and this tx's own) */
static int on_truncate(sess *s, const pgo_msg *m) {
    int drc = flight_drain(s);   /* the scan must see every earlier tx */
    if (drc) return drc;
    for (uint32_t t = 0; t < m->nrelids; t++) {
        pgo_rel *r = pgo_relcache_get(&s->rels, m->relids[t]);
        if (!r) continue;
        sdb_buf pre, k; sdb_buf_init(&pre); sdb_buf_init(&k);
        if (table_prefix(s, &pre, r)) { sdb_buf_deinit(&pre); return CDC_FATAL; }
        /* live keys: sealdb's latest versions, then this tx's changes applied in order */
        char **live = NULL; size_t nlive = 0, caplive = 0;
        int rc = 0;
        uint8_t *seek = NULL; size_t seek_len = 0;
        for (;;) {
            sealdb_scan_opts o = { .prefix = pre.ptr, .prefix_len = pre.len, .seek_key = seek, .seek_len = seek_len,
                                   .limit = 500, .since_tx = s->last_tx };
            sealdb_entries *l = NULL;
            int src = sealdb_client_scan(s->c, &o, &l);
            if (src == SEALDB_NOTFOUND) break;
            if (src) { rc = sealdb_fail(s, src, "scanning a truncated table"); break; }
            for (size_t i = 0; i < l->n && rc == 0; i++) {
                sealdb_entry *e = &l->items[i], *old = NULL;
                if (s->base_tx && e->tx > s->base_tx) {
                    /* written by this tx's earlier parts: what matters is the state before it */
                    int grc = get_before_tx(s, e->key, e->key_len, &old);
                    if (grc == SEALDB_NOTFOUND) continue;
                    if (grc) { rc = sealdb_fail(s, grc, "reading a row before the transaction"); break; }
                    e = old;
                }
                cJSON *j = cJSON_ParseWithLength((const char *)e->value, e->value_len);
                const cJSON *row = j ? cJSON_GetObjectItemCaseSensitive(j, "row") : NULL;
                if (cJSON_IsObject(row)) {
                    if (nlive == caplive) { caplive = caplive ? caplive * 2 : 64; live = realloc(live, caplive * sizeof *live); }
                    live[nlive] = malloc(e->key_len + 1);
                    memcpy(live[nlive], e->key, e->key_len); live[nlive][e->key_len] = 0;
                    nlive++;
                }
                cJSON_Delete(j);
                sealdb_entry_free(old);
            }
            size_t n = l->n;
            free(seek);
            seek = n ? malloc(l->items[n - 1].key_len) : NULL;
            if (n) { seek_len = l->items[n - 1].key_len; memcpy(seek, l->items[n - 1].key, seek_len); }
            sealdb_entries_free(l);
            if (n < 500) break;
        }
        free(seek);
        for (size_t i = 0; rc == 0 && i < s->nents; i++) {
            ent *e = &s->ents[i];
            if (e->key.len < pre.len || memcmp(e->key.ptr, pre.ptr, pre.len)) continue;
            size_t j = 0;
            while (j < nlive && !(strlen(live[j]) == e->key.len && !memcmp(live[j], e->key.ptr, e->key.len))) j++;
            if (e->tomb && j < nlive) { free(live[j]); live[j] = live[--nlive]; }
            else if (!e->tomb && j == nlive) {
                if (nlive == caplive) { caplive = caplive ? caplive * 2 : 64; live = realloc(live, caplive * sizeof *live); }
                live[nlive] = malloc(e->key.len + 1);
                memcpy(live[nlive], e->key.ptr, e->key.len); live[nlive][e->key.len] = 0;
                nlive++;
            }
        }
        /* a fixed order: a replay of an interrupted split tx must rebuild the same versions */
        qsort(live, nlive, sizeof *live, cmp_str);
        for (size_t i = 0; i < nlive; i++) {
            if (rc == 0) {
                sdb_buf_reset(&k);
                if (VAPP(&k, live[i]) || add_tomb(s, r, &k, "truncate", NULL, NULL)) rc = CDC_FATAL;
            }
            free(live[i]);
        }
        free(live);
        sdb_buf_deinit(&pre); sdb_buf_deinit(&k);
        if (rc) return rc;
    }
    return 0;
}

/* ---- commit: the buffered versions in as few sealdb txs as the server's limits allow ---- */
static uint32_t key_hash(const sdb_buf *k) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < k->len; i++) h = (h ^ k->ptr[i]) * 16777619u;
    return h;
}

static int exec_chunk(sess *s, size_t from, size_t to, int last, uint64_t end_lsn, uint32_t chunk, uint64_t base) {
    size_t n = to - from + 1;
    sealdb_op *ops = calloc(n, sizeof *ops);
    if (!ops) return CDC_FATAL;
    for (size_t i = from; i < to; i++) {
        ops[i - from].kind = SEALDB_OP_KV;
        ops[i - from].kv = (sealdb_kv){ s->ents[i].key.ptr, s->ents[i].key.len, s->ents[i].val.ptr, s->ents[i].val.len, NULL };
    }
    char lsn[24], fin[24], ctl[128];
    cdc_lsn_fmt(end_lsn, lsn);
    cdc_lsn_fmt(s->final_lsn, fin);
    /* progress of a split tx: parts and versions written, its commit LSN, the tx before it */
    if (last) snprintf(ctl, sizeof ctl, "%s", lsn);
    else snprintf(ctl, sizeof ctl, "%s %u %zu %s %" PRIu64, lsn, chunk + 1, to, fin, base);
    const char *ck = last ? s->lsn_key : s->part_key;
    ops[n - 1].kind = SEALDB_OP_KV;
    ops[n - 1].kv = (sealdb_kv){ ck, strlen(ck), ctl, strlen(ctl), NULL };
    sealdb_tx_header h;
    int rc = sealdb_client_exec_all(s->c, ops, n, NULL, 0, &h);
    free(ops);
    if (rc) return sealdb_fail(s, rc, "recording a transaction");
    s->last_tx = h.id;
    atomic_fetch_add(&cdc_st.sealdb_txs, 1);
    return 0;
}

/* One chunk from ents[from]: up to max_rows versions and max_batch_bytes, no key twice (a PostgreSQL
 * tx that changes a row twice keeps both versions, in two sealdb txs). Returns its end. */
static size_t chunk_end(sess *s, size_t from, uint32_t *slots) {
    uint32_t mask = s->hslots - 1;
    memset(slots, 0, s->hslots * sizeof *slots);
    size_t to = from, bytes = 0;
    while (to < s->nents && to - from < s->max_rows) {
        ent *e = &s->ents[to];
        size_t sz = e->key.len + e->val.len + 16;
        if (to > from && bytes + sz > s->cfg->max_batch_bytes) break;
        uint32_t h = key_hash(&e->key) & mask;
        int dup = 0;
        while (slots[h]) {
            if (sdb_slice_eq(sdb_buf_slice(&s->ents[slots[h] - 1].key), sdb_buf_slice(&e->key))) { dup = 1; break; }
            h = (h + 1) & mask;
        }
        if (dup) break;
        slots[h] = (uint32_t)to + 1;
        bytes += sz;
        to++;
    }
    return to;
}

/* a PostgreSQL tx is in sealdb: progress, metrics, lag log, feedback */
static int recorded(sess *s, uint64_t end, int64_t unix_commit, size_t nents) {
    s->done_lsn = end;
    atomic_fetch_add(&cdc_st.rows, nents);
    atomic_fetch_add(&cdc_st.pg_txs, 1);
    atomic_store(&cdc_st.last_lsn, end);
    int64_t rec = now_us();
    atomic_store(&cdc_st.last_commit_us, unix_commit);
    atomic_store(&cdc_st.last_recorded_us, rec);
    if (s->lag) fprintf(s->lag, "%" PRIx64 " %" PRId64 " %" PRId64 " %zu\n", end, unix_commit, rec, nents);
    if ((uint64_t)rec - s->last_feedback_us < FEEDBACK_BUSY_US) return 0;
    return send_feedback(s, 0) ? CDC_RETRY : 0;
}

#define PIPELINE_BYTES_X 4   /* bytes in flight: at most this many times --max-batch-bytes */

/* ---- pipeline: txs in flight, committed in PostgreSQL's order ----
 * Each pipelined tx also writes a marker <prefix>/_cdc/<slot>/tx/<end LSN, 16 hex digits>, and one
 * sent while its predecessor is still in flight carries the precondition that the predecessor's
 * marker exists. The server may run concurrent calls in any order; a tx that reaches its committer
 * first fails that precondition and is sent again once everything before it is answered. */
static void marker_key(const sess *s, uint64_t lsn, char *out, size_t cap) {
    snprintf(out, cap, "%s/_cdc/%s/tx/%016" PRIX64, s->cfg->prefix, s->cfg->slot, lsn);
}

static void stream_close(sess *s) {
    sealdb_txstream_close(s->ts);
    s->ts = NULL;
    s->ts_answers = 0;
    s->ts_flying = 0;
    s->ts_queued = 0;
    s->ts_broken = 0;
}

/* Queues one tx on the batch stream, opening it first when there is none; stream_flush sends what is
 * queued as one message (flight_flush queues a whole window first). A stream that ended with none of
 * our txs on it (the server's idle timeout) is replaced. */
static int stream_send(sess *s, const sealdb_op *ops, size_t n, const sealdb_precondition *pre) {
    int rc;
    if (s->ts && !s->ts_flying && sealdb_txstream_ready(s->ts)) {
        sealdb_txstream_recv(s->ts, NULL);
        cdc_log(2, "sealdb: the transaction stream ended while idle: %s", sealdb_client_errmsg(s->c));
        stream_close(s);
    }
    if (!s->ts && (rc = sealdb_client_txbatch_open(s->c, &s->ts))) return rc;
    if (!s->ts_queued) s->ts_idle = !s->ts_flying;
    rc = sealdb_txstream_send(s->ts, ops, n, pre, pre ? 1 : 0);   /* sends by itself at 64 */
    if (rc && rc != SEALDB_NETWORK) return rc;
    s->ts_flying++;
    s->ts_queued++;
    if (rc) s->ts_broken = 1;
    return 0;
}

static int flight_send_at(sess *s, uint32_t j);
static flight *fl_at(sess *s, uint32_t i);

/* Sends what is queued on the stream. When the stream turns out to have ended while it had none of
 * our txs (the server's idle timeout), the queued txs go again on a new one, once; when it ended
 * with older txs on it, they count as sent: their answers, then the stream's end, come from recv. */
static int stream_flush(sess *s) {
    if (!s->ts || !s->ts_queued) return 0;
    int rc = s->ts_broken ? SEALDB_NETWORK : sealdb_txstream_flush(s->ts);
    int idle = s->ts_idle;
    s->ts_queued = 0;
    s->ts_broken = 0;
    if (rc != SEALDB_NETWORK) return rc ? sealdb_fail(s, rc, "sending transactions") : 0;
    if (!idle || s->ts_retry) return 0;
    cdc_log(2, "sealdb: the transaction stream had ended: its transactions go on a new one");
    stream_close(s);
    s->ts_retry = 1;
    rc = 0;
    int collecting = s->collect;
    s->collect = 1;
    for (uint32_t j = 0; j < s->fl_n && !rc; j++) {
        flight *g = fl_at(s, j);
        if (!g->streamed) continue;
        g->streamed = 0;
        rc = flight_send_at(s, j);
    }
    s->collect = collecting;
    if (!rc) rc = stream_flush(s);
    s->ts_retry = 0;
    return rc;
}

static int flight_send(sess *s, flight *f, uint64_t prev_lsn) {
    size_t n = f->nents + 2;
    sealdb_op *ops = calloc(n, sizeof *ops);
    if (!ops) return CDC_FATAL;
    for (size_t i = 0; i < f->nents; i++) {
        ops[i].kind = SEALDB_OP_KV;
        ops[i].kv = (sealdb_kv){ f->ents[i].key.ptr, f->ents[i].key.len, f->ents[i].val.ptr, f->ents[i].val.len, NULL };
    }
    char lsn[24], mk[600], pk[600];
    cdc_lsn_fmt(f->end_lsn, lsn);
    marker_key(s, f->end_lsn, mk, sizeof mk);
    marker_key(s, prev_lsn, pk, sizeof pk);
    ops[n - 2].kind = SEALDB_OP_KV;
    ops[n - 2].kv = (sealdb_kv){ s->lsn_key, strlen(s->lsn_key), lsn, strlen(lsn), NULL };
    ops[n - 1].kind = SEALDB_OP_KV;
    ops[n - 1].kv = (sealdb_kv){ mk, strlen(mk), lsn, strlen(lsn), NULL };
    sealdb_precondition pre = { SEALDB_PRE_KEY_MUST_EXIST, pk, strlen(pk), 0 };
    int rc;
    if (s->unary) {
        rc = sealdb_client_exec_all_start(s->c, ops, n, f->guarded ? &pre : NULL, f->guarded ? 1 : 0, &f->p);
    } else {
        rc = stream_send(s, ops, n, f->guarded ? &pre : NULL);
        f->streamed = rc == 0;
    }
    free(ops);
    if (rc) return sealdb_fail(s, rc, "sending a transaction");
    return s->collect ? 0 : stream_flush(s);
}

static flight *fl_at(sess *s, uint32_t i) { return &s->fl[(s->fl_head + i) % (uint32_t)s->cfg->pipeline]; }

static void flight_gauges(const sess *s) {
    atomic_store(&cdc_st.inflight_txs, s->fl_n);
    atomic_store(&cdc_st.inflight_bytes, s->fl_bytes);
    if (s->fl_bytes > atomic_load(&cdc_st.inflight_bytes_max)) atomic_store(&cdc_st.inflight_bytes_max, s->fl_bytes);
}

/* Sends the tx at position j in flight: guarded by its predecessor's marker, unless it is the oldest
 * (everything before it is committed). */
static int flight_send_at(sess *s, uint32_t j) {
    flight *g = fl_at(s, j);
    g->guarded = j > 0;
    return flight_send(s, g, j ? fl_at(s, j - 1)->end_lsn : 0);
}

static void flight_clear(flight *f) {
    for (size_t i = 0; i < f->nents; i++) { sdb_buf_deinit(&f->ents[i].key); sdb_buf_deinit(&f->ents[i].val); }
    f->nents = 0;
}

/* Takes the stream's next answer, the oldest tx's (waiting for it). A server without the method says
 * so at the first answer: this session then sends everything in flight again as unary ExecAlls. Any
 * other end of the stream with txs in flight ends the session (the next one resumes from what
 * sealdb holds: the marker preconditions let nothing commit after a tx that failed). */
static int stream_take(sess *s, flight *f, sealdb_tx_header *h) {
    static int told;
    int rc = sealdb_txstream_recv(s->ts, h);
    if (rc == SEALDB_OK) {
        s->ts_answers++;
        s->ts_flying--;
        f->streamed = 0;
        f->answered = 1;
        f->tx = h->id;
        return 0;
    }
    int unsupported = rc == SEALDB_UNSUPPORTED && sealdb_client_grpc_code(s->c) == 12 && !s->ts_answers;
    if (!unsupported) {
        int r = sealdb_fail(s, rc, "recording a transaction (stream)");
        return rc == SEALDB_PRECONDITION && f->guarded ? CDC_RETRY : r;
    }
    if (!told) cdc_log(1, "sealdb: the server has no ExecAllBatchStream: pipelined transactions go as unary ExecAlls");
    told = 1;
    stream_close(s);
    s->unary = 1;
    for (uint32_t j = 0; j < s->fl_n; j++) {
        flight *g = fl_at(s, j);
        if (!g->streamed) continue;
        g->streamed = 0;
        if ((rc = flight_send_at(s, j))) return rc;
    }
    return 0;
}

/* Takes the answer of the tx at position i in flight (waiting for it). A guarded tx that overtook
 * its predecessor did not commit: it is sent again at once, unguarded when it is the oldest
 * (everything before it is committed), else guarded again by its predecessor's marker. */
static int flight_take(sess *s, uint32_t i) {
    flight *f = fl_at(s, i);
    sealdb_tx_header h;
    int rc;
    if (f->streamed) return stream_take(s, f, &h);
    rc = sealdb_client_exec_all_wait(s->c, f->p, &h);
    f->p = NULL;
    if (rc == SEALDB_PRECONDITION && f->guarded) {
        atomic_fetch_add(&cdc_st.reorders, 1);
        cdc_log(2, "transaction at %" PRIX64 " arrived before its predecessor: sent again%s", f->end_lsn,
                i ? ", guarded by the predecessor's marker" : "");
        return flight_send_at(s, i);
    }
    if (rc) return sealdb_fail(s, rc, "recording a transaction");
    f->answered = 1;
    f->tx = h.id;
    return 0;
}

/* Sends every tx held back by the send window, oldest first, each guarded by its predecessor's marker. */
static int flight_flush(sess *s) {
    s->unsent_since = 0;
    s->collect = 1;   /* one message for all of them */
    int rc = 0;
    for (uint32_t j = 0; j < s->fl_n && !rc; j++) {
        flight *g = fl_at(s, j);
        if (g->p || g->streamed || g->answered) continue;
        rc = flight_send_at(s, j);
    }
    s->collect = 0;
    return rc ? rc : stream_flush(s);
}

/* Waits for the oldest tx in flight (sending it first if the test hook held it back). When it had
 * to be sent again, the younger ones that also overtook it (they were guarded by its marker) are
 * sent again as soon as their answers are here, not one round trip after another. */
static int flight_finish(sess *s) {
    flight *f = fl_at(s, 0);
    int rc;
    /* an answered oldest tx is recorded without sending what the window holds back */
    if (s->window_us && !flight_ready(s, f) && (rc = flight_flush(s))) return rc;
    if (!f->p && !f->streamed && !f->answered && (rc = flight_send_at(s, 0))) return rc;
    while (!f->answered) {
        if ((rc = flight_take(s, 0))) return rc;
        if (f->answered) break;
        for (uint32_t i = 1; i < s->fl_n; i++) {
            flight *g = fl_at(s, i);
            if (g->p && sealdb_client_exec_all_ready(g->p) && (rc = flight_take(s, i))) return rc;
        }
    }
    f->answered = 0;
    if (f->tx > s->last_tx) s->last_tx = f->tx;
    atomic_fetch_add(&cdc_st.sealdb_txs, 1);
    size_t n = f->nents;
    flight_clear(f);
    s->fl_head = (s->fl_head + 1) % (uint32_t)s->cfg->pipeline;
    s->fl_n--;
    s->fl_bytes -= f->bytes;
    flight_gauges(s);
    return recorded(s, f->end_lsn, f->commit_us, n);
}

/* Records every tx in flight (before reading sealdb, a split tx, or stopping). */
static int flight_drain(sess *s) {
    int rc = 0;
    while (s->fl_n && !rc) rc = flight_finish(s);
    return rc;
}

/* Session end on an error: answers of txs in flight are collected and dropped (the next session
 * resumes from what sealdb holds). */
static void flight_abort(sess *s) {
    for (uint32_t i = 0; i < s->fl_n; i++) {
        flight *f = fl_at(s, i);
        if (f->p) sealdb_client_exec_all_wait(s->c, f->p, NULL);
        f->p = NULL;
        f->answered = 0;
        f->streamed = 0;
        flight_clear(f);
    }
    s->fl_n = 0;
    s->fl_bytes = 0;
    flight_gauges(s);
    stream_close(s);   /* cancelled when txs were in flight */
}

/* 1 when the tx's answer is here (taking it will not block) */
static int flight_ready(sess *s, flight *f) {
    if (f->answered) return 1;
    if (f->streamed) return sealdb_txstream_ready(s->ts);
    return f->p && sealdb_client_exec_all_ready(f->p);
}

/* Moves the current tx's versions into the pipeline and sends them. The oldest txs are recorded
 * first while the pipeline holds --pipeline txs, or would hold more than PIPELINE_BYTES_X times
 * --max-batch-bytes (a pipelined tx is at most that large: memory stays bounded when txs are big). */
static int flight_submit(sess *s, uint64_t end, int64_t unix_commit) {
    uint32_t k = (uint32_t)s->cfg->pipeline;
    int rc;
    size_t bytes = 0;
    for (size_t i = 0; i < s->nents; i++) bytes += s->ents[i].key.len + s->ents[i].val.len;
    while (s->fl_n && (s->fl_n == k || s->fl_bytes + bytes > PIPELINE_BYTES_X * s->cfg->max_batch_bytes))
        if ((rc = flight_finish(s))) return rc;
    flight *f = fl_at(s, s->fl_n), *prev = s->fl_n ? fl_at(s, s->fl_n - 1) : NULL;
    ent *te = f->ents; size_t tcap = f->cap;
    f->ents = s->ents; f->nents = s->nents; f->cap = s->cap;
    s->ents = te; s->nents = 0; s->cap = tcap;
    f->end_lsn = end; f->commit_us = unix_commit; f->p = NULL; f->answered = 0; f->streamed = 0;
    f->guarded = prev != NULL;
    f->bytes = bytes;
    uint64_t prev_lsn = s->sent_lsn;
    s->sent_lsn = end;
    s->fl_n++;
    s->fl_bytes += bytes;
    flight_gauges(s);
    if (s->swap) {   /* test hook: held back until a group is complete, then sent newest first */
        uint32_t held = 0;
        while (held < s->fl_n && !fl_at(s, s->fl_n - 1 - held)->p && !fl_at(s, s->fl_n - 1 - held)->answered) held++;
        if (held < (uint32_t)s->swap && s->fl_n < k) return 0;
        for (uint32_t j = s->fl_n; j-- > s->fl_n - held;)
            if ((rc = flight_send_at(s, j))) return rc;
        return 0;
    }
    if (s->window_us) {   /* sent with the ones decoded within the window (flight_flush) */
        if (!s->unsent_since) s->unsent_since = now_us();
        return 0;
    }
    return flight_send(s, f, prev_lsn);
}

static int on_commit(sess *s, const pgo_msg *m) {
    uint64_t end = m->end_lsn;
    int64_t unix_commit = m->ts + 946684800LL * 1000000;
    /* an interrupted split tx resumes after the versions its written parts hold */
    int resume = s->part_lsn == end && s->part_ents <= s->nents;
    uint32_t *slots = calloc(s->hslots, sizeof *slots);   /* 1 + entry index, per chunk */
    if (!slots) return CDC_FATAL;
    int rc = 0;
    if (s->cfg->pipeline > 1 && !resume && s->nents + 2 <= s->max_ents && chunk_end(s, 0, slots) == s->nents) {
        free(slots);
        if ((rc = flight_submit(s, end, unix_commit))) return rc;
        s->base_tx = 0;
        /* collect what is answered already, oldest first (a shallow pipeline is overtaken less) */
        while (!rc && s->fl_n && flight_ready(s, fl_at(s, 0))) rc = flight_finish(s);
        return rc;
    }
    /* a split tx (or --pipeline 1): everything before it first, then its parts one by one */
    if ((rc = flight_drain(s))) { free(slots); return rc; }
    uint32_t chunk = resume ? s->part_chunks : 0;
    size_t from = resume ? (size_t)s->part_ents : 0;
    uint64_t base = resume ? s->part_base : s->last_tx;
    if (resume) cdc_log(1, "resuming the transaction at %" PRIX64 " after %u part(s)", end, chunk);
    do {
        size_t to = chunk_end(s, from, slots);
        int last = to == s->nents;
        if ((rc = exec_chunk(s, from, to, last, end, chunk, base)) != 0) break;
        chunk++;
        from = to;
    } while (from < s->nents);
    free(slots);
    if (rc) return rc;
    s->part_lsn = 0;
    s->base_tx = 0;
    s->sent_lsn = end;
    size_t n = s->nents;
    ents_clear(s);
    return recorded(s, end, unix_commit, n);
}

static int on_xlog(sess *s, const uint8_t *p, size_t n) {
    pgo_msg m;
    if (pgo_decode(p, n, &m)) {
        cdc_log(0, "postgresql: undecodable pgoutput message (type 0x%02x, %zu bytes)", n ? p[0] : 0, n);
        return CDC_FATAL;
    }
    int rc = 0;
    cdc_log(3, "pgoutput message %c (%zu bytes)", m.type, n);
    switch (m.type) {
    case PGO_BEGIN:
        ents_clear(s);
        s->in_tx = 1; s->xid = m.xid; s->final_lsn = m.lsn; s->commit_ts = m.ts;
        if (tx_tail_make(s)) rc = CDC_FATAL;
        /* the tx whose first parts are written: its reads see sealdb as it was before them */
        s->base_tx = s->part_lsn && s->part_final == m.lsn ? s->part_base : 0;
        break;
    case PGO_COMMIT:
        if (!s->in_tx) { rc = CDC_RETRY; break; }
        s->in_tx = 0;
        /* a transaction recorded before (the slot's confirmation was lost) is not written twice */
        if (m.end_lsn <= s->done_lsn) { ents_clear(s); break; }
        rc = on_commit(s, &m);
        break;
    case PGO_RELATION: rc = on_relation(s, &m); break;
    case PGO_INSERT: case PGO_UPDATE: case PGO_DELETE:
        rc = s->in_tx ? on_change(s, &m) : CDC_RETRY;
        break;
    case PGO_TRUNCATE: rc = s->in_tx ? on_truncate(s, &m) : CDC_RETRY; break;
    default: break;   /* Origin, Type, Message: nothing to record */
    }
    pgo_msg_free(&m);
    return rc;
}

/* Sleeps us, then reads what PostgreSQL sent meanwhile: while the send window holds txs back,
 * waking at each of PostgreSQL's messages (about one per tx) cost a switch per tx (1.7 against
 * 0.3 per tx, 9.3 against 5.8 us of CPU per row in cdc_bench). */
/* Reads what PostgreSQL has sent (without waiting); CDC_RETRY when the connection failed. */
static int consume_pg(sess *s) {
    if (PQconsumeInput(s->repl)) return 0;
    cdc_log(0, "postgresql: %s", PQerrorMessage(s->repl));
    return CDC_RETRY;
}

static int pause_pg(sess *s, int64_t us) {
    struct timespec ts = { (time_t)(us / 1000000), (long)(us % 1000000) * 1000 };
    nanosleep(&ts, NULL);   /* a signal ends it early: the loop checks for a stop */
    return consume_pg(s);
}

/* Waits up to us microseconds for PostgreSQL to send more (a signal ends the wait early), then
 * reads it; CDC_RETRY when the connection failed. */
static int wait_pg(sess *s, int64_t us) {
    int fd = PQsocket(s->repl);
    fd_set rf; FD_ZERO(&rf); FD_SET(fd, &rf);
    struct timeval tv = { (time_t)(us / 1000000), (suseconds_t)(us % 1000000) };
    if (select(fd + 1, &rf, NULL, NULL, &tv) < 0 && errno != EINTR) return CDC_RETRY;
    return consume_pg(s);
}

/* ---- connections ---- */
static int pg_setup(sess *s) {
    const cdc_cfg *cfg = s->cfg;
    PGresult *r;
    if (cfg->create_slot) {
        const char *pv[1] = { cfg->publication };
        r = PQexecParams(s->meta, "SELECT 1 FROM pg_publication WHERE pubname = $1", 1, NULL, pv, NULL, NULL, 0);
        int have = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0;
        PQclear(r);
        if (!have) {
            sdb_buf q; sdb_buf_init(&q);
            char *id = PQescapeIdentifier(s->meta, cfg->publication, strlen(cfg->publication));
            int bad = !id || VAPP(&q, "CREATE PUBLICATION ") || VAPP(&q, id);
            PQfreemem(id);
            if (!bad && cfg->tables) {
                bad = VAPP(&q, " FOR TABLE ");
                char *list = strdup(cfg->tables), *save = NULL;
                int first = 1;
                for (char *t = strtok_r(list, ",", &save); t && !bad; t = strtok_r(NULL, ",", &save)) {
                    while (*t == ' ') t++;
                    /* schema.table: each part quoted on its own */
                    char *dot = strchr(t, '.');
                    if (dot) *dot = 0;
                    char *a = PQescapeIdentifier(s->meta, t, strlen(t));
                    char *b = dot ? PQescapeIdentifier(s->meta, dot + 1, strlen(dot + 1)) : NULL;
                    bad = !a || (dot && !b) || (!first && VAPP(&q, ", ")) || VAPP(&q, a) ||
                          (b && (VAPP(&q, ".") || VAPP(&q, b)));
                    PQfreemem(a); PQfreemem(b);
                    first = 0;
                }
                free(list);
            } else if (!bad) {
                bad = VAPP(&q, " FOR ALL TABLES");
            }
            if (bad || sdb_buf_append_u8(&q, 0)) { sdb_buf_deinit(&q); return CDC_FATAL; }
            r = PQexec(s->meta, (const char *)q.ptr);
            sdb_buf_deinit(&q);
            if (PQresultStatus(r) != PGRES_COMMAND_OK) {
                cdc_log(0, "postgresql: creating publication %s: %s", cfg->publication, PQerrorMessage(s->meta));
                PQclear(r);
                return CDC_FATAL;
            }
            PQclear(r);
            cdc_log(1, "created publication %s", cfg->publication);
        }
    }
    const char *sv[1] = { cfg->slot };
    r = PQexecParams(s->meta, "SELECT plugin FROM pg_replication_slots WHERE slot_name = $1", 1, NULL, sv, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        cdc_log(0, "postgresql: %s", PQerrorMessage(s->meta));
        PQclear(r);
        return CDC_RETRY;
    }
    int have = PQntuples(r) > 0;
    if (have && strcmp(PQgetvalue(r, 0, 0), "pgoutput") != 0) {
        cdc_log(0, "slot %s uses plugin %s, not pgoutput", cfg->slot, PQgetvalue(r, 0, 0));
        PQclear(r);
        return CDC_FATAL;
    }
    PQclear(r);
    if (!have) {
        if (!cfg->create_slot) {
            cdc_log(0, "replication slot %s does not exist (run once with --create-slot)", cfg->slot);
            return CDC_FATAL;
        }
        r = PQexecParams(s->meta, "SELECT pg_create_logical_replication_slot($1, 'pgoutput')", 1, NULL, sv, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            cdc_log(0, "postgresql: creating slot %s: %s", cfg->slot, PQerrorMessage(s->meta));
            PQclear(r);
            return CDC_FATAL;
        }
        PQclear(r);
        cdc_log(1, "created replication slot %s", cfg->slot);
    }
    return 0;
}

static PGconn *pg_connect(const cdc_cfg *cfg, int replication) {
    const char *k[] = { "dbname", "replication", "application_name", NULL };
    const char *v[] = { cfg->pg, replication ? "database" : NULL, "sealdb-cdc", NULL };
    if (!replication) { k[1] = "application_name"; v[1] = "sealdb-cdc"; k[2] = NULL; }
    PGconn *c = PQconnectdbParams(k, v, 1);
    if (!c || PQstatus(c) != CONNECTION_OK) {
        cdc_log(0, "postgresql: %s", c ? PQerrorMessage(c) : "out of memory");
        PQfinish(c);
        return NULL;
    }
    return c;
}

static int start_replication(sess *s) {
    char lsn[24], q[1024];
    cdc_lsn_fmt(s->done_lsn, lsn);
    char *slot = PQescapeIdentifier(s->repl, s->cfg->slot, strlen(s->cfg->slot));
    char *pub = PQescapeLiteral(s->repl, s->cfg->publication, strlen(s->cfg->publication));
    if (!slot || !pub) { PQfreemem(slot); PQfreemem(pub); return CDC_FATAL; }
    /* publication_names is itself a list of identifiers inside a literal */
    snprintf(q, sizeof q, "START_REPLICATION SLOT %s LOGICAL %s (proto_version '%d', publication_names %s)",
             slot, lsn, s->cfg->proto, pub);
    PQfreemem(slot); PQfreemem(pub);
    PGresult *r = PQexec(s->repl, q);
    if (PQresultStatus(r) != PGRES_COPY_BOTH) {
        cdc_log(0, "postgresql: %s", PQerrorMessage(s->repl));
        PQclear(r);
        return CDC_RETRY;
    }
    PQclear(r);
    cdc_log(1, "following slot %s from %s", s->cfg->slot, lsn);
    return 0;
}

static int sealdb_connect(sess *s) {
    const cdc_cfg *cfg = s->cfg;
    sealdb_client_opts o;
    sealdb_client_opts_init(&o);
    o.address = cfg->sealdb_host; o.port = cfg->sealdb_port;
    o.tls = cfg->tls; o.ca_file = cfg->ca; o.cert_file = cfg->cert; o.key_file = cfg->key;
    o.server_name = cfg->server_name;
    int rc = sealdb_client_connect(&o, &s->c);
    if (rc) { cdc_log(0, "sealdb: cannot set up the connection: %s", sealdb_strerror(rc)); return CDC_FATAL; }
    rc = sealdb_client_login(s->c, cfg->user, cfg->password, cfg->database, NULL);
    if (rc == SEALDB_AUTH || rc == SEALDB_PERMISSION) {   /* wrong user or password: no retry helps */
        sealdb_fail(s, rc, "login");
        return CDC_FATAL;
    }
    if (rc) return sealdb_fail(s, rc, "login");
    sealdb_db_settings st;
    char name[130];
    s->max_rows = 1024; s->max_val = 32u << 20;
    if (sealdb_client_database_settings(s->c, name, sizeof name, &st) == SEALDB_OK) {
        if (st.max_tx_entries) s->max_rows = st.max_tx_entries;
        if (st.max_value_len) s->max_val = st.max_value_len;
    }
    s->max_ents = s->max_rows;
    /* room for the control key (LSN or progress) in every tx */
    s->max_rows = s->max_rows > 2 ? s->max_rows - 1 : 1;
    if (cfg->max_batch_rows && cfg->max_batch_rows < s->max_rows) s->max_rows = cfg->max_batch_rows;
    if (s->max_rows > (1u << 20)) s->max_rows = 1u << 20;   /* the client's own limit per call */
    for (s->hslots = 64; s->hslots < 2 * (uint64_t)s->max_rows + 2; s->hslots *= 2) {}
    return 0;
}

int cdc_session(const cdc_cfg *cfg, int *progress) {
    sess s = { .cfg = cfg };
    sdb_buf_init(&s.tx_tail); sdb_buf_init(&s.tname);
    *progress = 0;
    snprintf(s.lsn_key, sizeof s.lsn_key, "%s/_cdc/%s/lsn", cfg->prefix, cfg->slot);
    snprintf(s.part_key, sizeof s.part_key, "%s/_cdc/%s/part", cfg->prefix, cfg->slot);
    int rc = sealdb_connect(&s);
    if (!rc) rc = read_resume(&s);
    if (!rc && !(s.meta = pg_connect(cfg, 0))) rc = CDC_RETRY;
    if (!rc) rc = pg_setup(&s);
    if (!rc && !(s.repl = pg_connect(cfg, 1))) rc = CDC_RETRY;
    if (!rc) rc = start_replication(&s);
    if (!rc && cfg->lag_log) s.lag = fopen(cfg->lag_log, "a");
    if (!rc && !(s.fl = calloc((size_t)cfg->pipeline, sizeof *s.fl))) rc = CDC_FATAL;
    /* tests: force out-of-order arrival; N sends groups of N + 1 txs newest first (1: pairs swapped) */
    const char *swap = getenv("SEALDB_CDC_TEST_SWAP");
    int sw = swap && *swap >= '1' && *swap <= '8' && !swap[1] ? *swap - '0' + 1 : 0;
    s.swap = cfg->pipeline > 1 ? sw : 0;
    s.unary = s.swap != 0;   /* the hook tests the marker guard against reordering: unary calls only */
    s.window_us = s.swap ? 0 : (int64_t)cfg->send_window_ms * 1000;
    s.sent_lsn = s.done_lsn;
    if (!rc) atomic_store(&cdc_st.connected, 1);
    uint64_t start_lsn = s.done_lsn;
    int polled = 0;   /* PostgreSQL's socket was read since the last message */
    while (!rc) {
        if (cdc_stop) { rc = CDC_STOPPED; break; }
        char *buf = NULL;
        int n = PQgetCopyData(s.repl, &buf, 1);
        if (n != 0) polled = 0;
        if (n == 0) {
            if (s.fl_n) {
                /* first read what PostgreSQL sent meanwhile (more txs to send); only when there is
                 * nothing new, wait for the oldest answer */
                if (!polled) {
                    /* PostgreSQL may keep sending without a pause: the window still ends in time
                     * (checked once what was read is taken, so that a backlog goes as one burst) */
                    if (s.unsent_since && now_us() - s.unsent_since >= s.window_us && (rc = flight_flush(&s))) continue;
                    polled = 1;
                    rc = consume_pg(&s);
                    continue;
                }
                polled = 0;
                if (s.unsent_since) {   /* held back: wait for more from PostgreSQL until the window ends */
                    int64_t left = s.unsent_since + s.window_us - now_us();
                    if (left > 0) {
                        while (!rc && s.fl_n && flight_ready(&s, fl_at(&s, 0))) rc = flight_finish(&s);
                        if (!rc) rc = pause_pg(&s, left);
                        continue;
                    }
                }
                rc = flight_finish(&s);
                continue;
            }
            uint64_t confirmable = s.idle_lsn > s.done_lsn ? s.idle_lsn : s.done_lsn;
            if ((confirmable > s.fed_lsn || (uint64_t)now_us() - s.last_feedback_us > (uint64_t)cfg->status_ms * 1000)
                && send_feedback(&s, 0)) {
                rc = CDC_RETRY; break;
            }
            if (s.lag) fflush(s.lag);
            rc = wait_pg(&s, 200000);
            continue;
        }
        if (n == -1) {   /* copy ended: the server went away or stopped streaming */
            PGresult *r = PQgetResult(s.repl);
            cdc_log(0, "postgresql: replication ended: %s", PQerrorMessage(s.repl));
            PQclear(r);
            rc = CDC_RETRY;
            break;
        }
        if (n < 0) { cdc_log(0, "postgresql: %s", PQerrorMessage(s.repl)); rc = CDC_RETRY; break; }
        const uint8_t *p = (const uint8_t *)buf;
        if (p[0] == 'w' && n >= 25) {
            uint64_t wal_end = sdb_get_u64be(p + 9);
            if (wal_end > atomic_load(&cdc_st.server_lsn)) atomic_store(&cdc_st.server_lsn, wal_end);
            rc = on_xlog(&s, p + 25, (size_t)n - 25);
        } else if (p[0] == 'k' && n >= 18) {
            uint64_t wal_end = sdb_get_u64be(p + 1);
            if (wal_end > atomic_load(&cdc_st.server_lsn)) atomic_store(&cdc_st.server_lsn, wal_end);
            /* a keepalive's position is what the walsender has sent; every tx before it is done */
            if (!s.in_tx && !s.fl_n && wal_end > s.idle_lsn) s.idle_lsn = wal_end;
            if (p[17] && send_feedback(&s, 0)) rc = CDC_RETRY;
        } else {
            cdc_log(0, "postgresql: unexpected replication message 0x%02x (%d bytes)", p[0], n);
            rc = CDC_RETRY;
        }
        PQfreemem(buf);
    }
    if (rc == CDC_STOPPED) {   /* what is in flight is recorded before the last status update */
        int drc = flight_drain(&s);
        if (drc) rc = drc;
    }
    flight_abort(&s);
    if (s.done_lsn > start_lsn) *progress = 1;
    if (rc == CDC_STOPPED && s.repl) {
        send_feedback(&s, 0);
        PQputCopyEnd(s.repl, NULL);
        PQflush(s.repl);
    }
    atomic_store(&cdc_st.connected, 0);
    if (s.lag) fclose(s.lag);
    ents_clear(&s);
    free(s.ents);
    sdb_buf_deinit(&s.tx_tail); sdb_buf_deinit(&s.tname);
    for (int i = 0; s.fl && i < cfg->pipeline; i++) { flight_clear(&s.fl[i]); free(s.fl[i].ents); }
    free(s.fl);
    pgo_relcache_free(&s.rels);
    PQfinish(s.repl);
    PQfinish(s.meta);
    sealdb_client_close(s.c);
    return rc;
}
