/* handlers_repl.c - replication (docs/replication.md): exportTx serves one stored tx in immudb's
 * export format, replicateTx imports one into a replica database after verifying it continues
 * the replica's own chain, and a replicator thread per replica database with primary coordinates
 * follows its primary through the C client, verifying every tx the same way. A primary whose
 * history differs from the replica's stops the replicator loudly (log line, metric, status). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "rpc/repl.h"
#include "rpc/handlers_kv.h"
#include "crypto/export.h"
#include "client/repl.h"
#include "sealdb_client.h"
#include "sealdb_err.h"

#define M(name) "/immudb.schema.ImmuService/" name
#define EXPORT_WAIT_MS      2000   /* a not-yet-committed tx asked with allowPreCommitted: longest wait */
#define POLL_MS             100    /* replicator: delay after "nothing new" (replication.md W5) */
#define MAX_BACKOFF_MS      10000  /* replicator: longest wait between failed attempts */
#define MAX_IMPORT_FAILURES 10     /* replicator: attempts of one tx before stopping (W7) */
#define CLIENT_TIMEOUT_MS   10000

static int fail(sdb_call *c, sdb_grpc_code code, const char *msg) {
    sdb_call_error(c, code, "%s", msg);
    return SDB_CALL_DONE;
}

/* ---- export ---- */

/* Payload P of stored tx id (replication.md 3.2), checked as immudb checks it unless skip. */
static int export_payload(sdb_kvdb *db, uint64_t id, int skip, sdb_buf *out, char *err, size_t cap) {
    sdb_tx t;
    sdb_tx_init(&t);
    int rc = sdb_engine_tx_read(db->eng, id, 1, &t);
    int truncated = 0;
    if (rc == SEALDB_TRUNCATED) {
        /* values discarded by TruncateDatabase: every entry goes with its hValue, flag 01, as
         * immudb exports a truncated tx (replication.md 3.4) */
        truncated = 1;
        rc = sdb_engine_tx_read(db->eng, id, 0, &t);
    }
    if (rc == SEALDB_TAMPERED || rc == SEALDB_DAMAGED) {
        snprintf(err, cap, "data is corrupted: value length or digest mismatch");
        sdb_tx_deinit(&t);
        return rc;
    }
    if (rc) {
        snprintf(err, cap, "tx data is corrupted: %s at tx %llu", sealdb_strerror(rc), (unsigned long long)id);
        sdb_tx_deinit(&t);
        return rc;
    }
    sdb_export_tx x;
    sdb_export_tx_init(&x);
    x.entries = sdb_calloc(t.nentries ? t.nentries : 1, sizeof *x.entries);
    if (!x.entries) { sdb_tx_deinit(&t); snprintf(err, cap, "out of memory"); return SEALDB_NOMEM; }
    x.nentries = t.nentries;
    x.hdr = t.hdr;
    for (uint32_t i = 0; i < t.nentries; i++) {
        x.entries[i].key = t.entries[i].key;
        x.entries[i].md_bytes = t.entries[i].md_bytes;
        x.entries[i].md = t.entries[i].md;
        x.entries[i].value = truncated ? sdb_slice_of(t.entries[i].hvalue.b, SDB_HASH_LEN) : t.entries[i].value;
    }
    x.truncated = truncated;
    if (!skip) {
        /* rebuild eH and Alh from what was read, as immudb's exporter does */
        uint8_t eh[SDB_HASH_LEN], alh[SDB_HASH_LEN];
        rc = sdb_export_entries_hash(&x, eh);
        if (!rc) rc = sdb_tx_alh(&x.hdr, alh);
        if (rc || memcmp(eh, x.hdr.eh.b, SDB_HASH_LEN) || memcmp(alh, t.alh.b, SDB_HASH_LEN)) {
            snprintf(err, cap, "tx data is corrupted: ALH mismatch at tx %llu", (unsigned long long)id);
            rc = SEALDB_TAMPERED;
        }
    } else {
        memset(x.hdr.eh.b, 0, SDB_HASH_LEN);   /* immudb exports zeros when it skips the checks */
    }
    sdb_buf_reset(out);
    if (!rc && (rc = sdb_export_encode_flag(&x.hdr, x.entries, x.nentries, truncated, out)))
        snprintf(err, cap, "%s", sealdb_strerror(rc));
    sdb_export_tx_deinit(&x);
    sdb_tx_deinit(&t);
    return rc;
}

static void sleep_ms(unsigned ms) {
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* Answers one ExportTxRequest with its message (replication.md 4.1); 0, or -1 after answering the
 * call's final error. */
static int export_one(sdb_call *c, const Immudb__Schema__ExportTxRequest *r) {
    if (r->tx == 0) return fail(c, SDB_GRPC_INVALID_ARGUMENT, "illegal arguments"), -1;
    sdb_kvdb *db = sdb_kv_call_db(c);
    if (!db) return fail(c, SDB_GRPC_UNKNOWN, "already closed"), -1;
    /* sealdb has no synchronous primaries (no replica-state table) */
    if (r->replicastate) return fail(c, SDB_GRPC_UNKNOWN, "illegal state: replica state was NOT expected"), -1;
    if (r->tx > sdb_engine_last_tx(db->eng)) {
        /* immudb answers a committed-only request past the end with EOF (how its replicas learn
         * they caught up); systemdb and precommitted requests wait, here for a bounded time */
        if (!r->allowprecommitted && !sdb_database_is_system(sdb_call_db(c))) return fail(c, SDB_GRPC_UNKNOWN, "EOF"), -1;
        for (unsigned waited = 0; r->tx > sdb_engine_last_tx(db->eng); waited += 5) {
            if (waited >= EXPORT_WAIT_MS) return fail(c, SDB_GRPC_UNKNOWN, "EOF"), -1;
            sleep_ms(5);
        }
    }
    sdb_buf p;
    sdb_buf_init(&p);
    char err[256];
    if (export_payload(db, r->tx, r->skipintegritycheck, &p, err, sizeof err)) {
        sdb_buf_deinit(&p);
        return fail(c, SDB_GRPC_UNKNOWN, err), -1;
    }
    int rc = sdb_call_send_msg(c, p.ptr, p.len);
    sdb_buf_deinit(&p);
    if (rc) return fail(c, SDB_GRPC_UNAVAILABLE, "stream send failed"), -1;
    return 0;
}

static int h_export_tx(sdb_call *c, const ProtobufCMessage *rq) {
    if (export_one(c, (const Immudb__Schema__ExportTxRequest *)rq) == 0) sdb_call_ok(c, NULL);
    return SDB_CALL_DONE;
}

/* streamExportTx: requests answered strictly one after another on one call (replication.md 5.1);
 * the call ends with the first error, or with immudb's Unknown "EOF" when the client half-closes. */
static int h_stream_export_tx(sdb_call *c, const ProtobufCMessage *rq) {
    if (export_one(c, (const Immudb__Schema__ExportTxRequest *)rq)) return SDB_CALL_DONE;
    for (;;) {
        sdb_slice raw;
        int eof = 0;
        if (c->ops->recv(c, &raw, &eof) != SEALDB_OK) return fail(c, SDB_GRPC_UNAVAILABLE, "stream receive failed");
        if (eof) return fail(c, SDB_GRPC_UNKNOWN, "EOF");
        /* decoded outside the call's arena: a long-lived stream must not grow it per request */
        Immudb__Schema__ExportTxRequest *r = immudb__schema__export_tx_request__unpack(NULL, raw.len, raw.ptr);
        if (!r) return fail(c, SDB_GRPC_INVALID_ARGUMENT, "malformed request message");
        int rc = export_one(c, r);
        immudb__schema__export_tx_request__free_unpacked(r, NULL);
        if (rc) return SDB_CALL_DONE;
    }
}

/* ---- import ---- */

typedef struct import_err {
    sdb_grpc_code code;
    int why;               /* SDB_REPL_* */
    char msg[256];
} import_err;

/* Parses payload p and commits it as the next tx of db (replication.md 3.5, 7.1). */
static int import_payload(sdb_kvdb *db, sdb_slice p, int skip, const uint8_t *expect_alh, sdb_commit_result *res,
                          import_err *ie) {
    ie->code = SDB_GRPC_OK;
    ie->why = SDB_REPL_OK;
    ie->msg[0] = 0;
    sdb_export_tx x;
    sdb_export_tx_init(&x);
    const char *why = NULL;
    int rc = sdb_export_parse(p, &x, &why);
    if (rc) {
        ie->code = strcmp(why, "illegal arguments") == 0 ? SDB_GRPC_INVALID_ARGUMENT : SDB_GRPC_UNKNOWN;
        snprintf(ie->msg, sizeof ie->msg, "%s", why);
        return rc;
    }
    if (x.truncated) {
        sdb_export_tx_deinit(&x);
        ie->code = SDB_GRPC_INVALID_ARGUMENT;
        snprintf(ie->msg, sizeof ie->msg, "illegal arguments: transactions with truncated values are not supported by sealdb");
        return SEALDB_UNSUPPORTED;
    }
    sdb_kv *kv = sdb_calloc(x.nentries ? x.nentries : 1, sizeof *kv);
    if (!kv) { sdb_export_tx_deinit(&x); ie->code = SDB_GRPC_RESOURCE_EXHAUSTED; snprintf(ie->msg, sizeof ie->msg, "out of memory"); return SEALDB_NOMEM; }
    for (uint32_t i = 0; i < x.nentries; i++) {
        kv[i].key = x.entries[i].key;
        kv[i].value = x.entries[i].value;
        kv[i].md = x.entries[i].md;
    }
    int w = SDB_REPL_OK;
    uint64_t id = x.hdr.id;
    rc = sdb_engine_commit_replicated_sync(db->eng, &x.hdr, kv, x.nentries, skip, expect_alh, res, &w);
    sdb_free(kv);
    sdb_export_tx_deinit(&x);
    ie->why = w;
    if (rc == SEALDB_OK) return rc;
    ie->code = SDB_GRPC_UNKNOWN;
    switch (w) {
    case SDB_REPL_EXISTS:
        /* immudb's text: its tools and replicators treat it as success (the tx is already here) */
        snprintf(ie->msg, sizeof ie->msg, "tx already committed");
        break;
    case SDB_REPL_DIVERGED:
        ie->code = SDB_GRPC_FAILED_PRECONDITION;
        snprintf(ie->msg, sizeof ie->msg, "replica diverged from primary: tx %llu differs from the one already committed",
                 (unsigned long long)id);
        break;
    case SDB_REPL_GAP:
        ie->code = SDB_GRPC_FAILED_PRECONDITION;
        snprintf(ie->msg, sizeof ie->msg, "illegal arguments: tx %llu is not the next transaction: expected tx %llu",
                 (unsigned long long)id, (unsigned long long)(sdb_engine_last_tx(db->eng) + 1));
        break;
    case SDB_REPL_BAD_EH:
        snprintf(ie->msg, sizeof ie->msg, "illegal arguments: entries hash (Eh) differs");
        break;
    case SDB_REPL_BAD_BLROOT:
        snprintf(ie->msg, sizeof ie->msg, "illegal arguments: attempt to commit a tx with invalid blRoot");
        break;
    case SDB_REPL_BAD_PREV_ALH:
        snprintf(ie->msg, sizeof ie->msg, "illegal arguments: attempt to commit a tx with invalid prevAlh");
        break;
    case SDB_REPL_BAD_ALH:
        snprintf(ie->msg, sizeof ie->msg, "illegal arguments: tx %llu does not have the expected Alh", (unsigned long long)id);
        break;
    default:
        if (rc == SEALDB_UNSUPPORTED) snprintf(ie->msg, sizeof ie->msg, "tx created with a newer version or data is corrupted");
        else if (rc == SEALDB_TOOLARGE || rc == SEALDB_INVALID || rc == SEALDB_EXISTS)
            snprintf(ie->msg, sizeof ie->msg, "illegal arguments: transaction does not fit this database's limits or has duplicate keys (%s)",
                     sealdb_strerror(rc));
        else snprintf(ie->msg, sizeof ie->msg, "%s", sealdb_strerror(rc));
    }
    return rc;
}

/* ---- replicators ---- */

typedef struct replicator {
    sdb_database *d;
    sdb_kvdb *db;
    char name[129];
    char host[256], pdb[129], user[128], pass[256];
    uint32_t port;
    int skip, wfi;
    pthread_t th;
    atomic_int stop;
    pthread_mutex_t mu;        /* st */
    sdb_repl_status st;
    struct replicator *next;
} replicator;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static replicator *g_list;
static _Atomic uint64_t g_divergences;

uint64_t sdb_repl_divergences(void) { return atomic_load(&g_divergences); }

static replicator *find_locked(const sdb_database *d) {
    for (replicator *r = g_list; r; r = r->next) if (r->d == d) return r;
    return NULL;
}

int sdb_repl_get_status(const sdb_database *d, sdb_repl_status *out) {
    pthread_mutex_lock(&g_mu);
    replicator *r = find_locked(d);
    if (r) {
        pthread_mutex_lock(&r->mu);
        *out = r->st;
        pthread_mutex_unlock(&r->mu);
    }
    pthread_mutex_unlock(&g_mu);
    return r ? SEALDB_OK : SEALDB_NOTFOUND;
}

static int replicator_running(const sdb_database *d) {
    sdb_repl_status st;
    return sdb_repl_get_status(d, &st) == SEALDB_OK && st.running;
}

static void set_error(replicator *r, int diverged, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Records the replicator's current problem; logs it when it differs from the previous one (once
 * per distinct cause, not per retry). */
static void set_error(replicator *r, int diverged, const char *fmt, ...) {
    va_list ap;
    char msg[sizeof r->st.last_error];
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&r->mu);
    int changed = strcmp(msg, r->st.last_error) != 0;
    memcpy(r->st.last_error, msg, sizeof msg);
    if (diverged) r->st.diverged = 1;
    pthread_mutex_unlock(&r->mu);
    if (changed && !diverged) sdb_log("warning: replication of database %s: %s", r->name, msg);
}

/* Sleeps ms in small steps; 1 when asked to stop. */
static int nap(replicator *r, unsigned ms) {
    for (unsigned t = 0; t < ms; t += 20) {
        if (atomic_load(&r->stop)) return 1;
        sleep_ms(20);
    }
    return atomic_load(&r->stop) != 0;
}

static int caught_up(const char *msg) {
    return strcmp(msg, "EOF") == 0 || strstr(msg, "no new transactions") != NULL;
}

static void *replicator_main(void *arg) {
    replicator *r = arg;
    sealdb_client *cl = NULL;
    sdb_buf p;
    sdb_buf_init(&p);
    unsigned backoff = 0, import_failures = 0;
    uint64_t checked_upto = 0;   /* last own tx whose Alh matched the primary's state */
    uint64_t max = sdb_export_max_payload(r->db->max_tx_entries, r->db->max_key_len, r->db->max_value_len);
    sdb_log("replication: database %s follows %s:%u/%s", r->name, r->host, r->port, r->pdb);
    while (!atomic_load(&r->stop)) {
        if (backoff && nap(r, backoff)) break;
        if (!cl) {
            sealdb_client_opts o;
            sealdb_client_opts_init(&o);
            o.address = r->host;
            o.port = (int)r->port;
            o.timeout_ms = CLIENT_TIMEOUT_MS;
            int rc = sealdb_client_connect(&o, &cl);
            if (!rc) rc = sealdb_client_login(cl, r->user, r->pass, r->pdb, NULL);
            if (rc) {
                set_error(r, 0, "cannot reach the primary %s:%u/%s: %s", r->host, r->port, r->pdb,
                          cl ? sealdb_client_errmsg(cl) : sealdb_strerror(rc));
                sealdb_client_close(cl);
                cl = NULL;
                pthread_mutex_lock(&r->mu); r->st.failures++; pthread_mutex_unlock(&r->mu);
                backoff = backoff ? (backoff * 2 > MAX_BACKOFF_MS ? MAX_BACKOFF_MS : backoff * 2) : 500;
                continue;
            }
        }
        uint64_t next = sdb_engine_last_tx(r->db->eng) + 1;
        int rc = sdb_cl_export_tx(cl, next, r->skip, max, &p);
        if (rc) {
            const char *msg = sealdb_client_errmsg(cl);
            if (sdb_cl_last_grpc_code(cl) == SDB_GRPC_UNKNOWN && caught_up(msg)) {
                backoff = POLL_MS;    /* nothing new: keep the connection, ask again shortly */
                /* the last imported tx is checked by the chain only when its successor arrives;
                 * until then compare its Alh with the primary's state (a changed ts, version or
                 * tx metadata would otherwise go unnoticed: W17), once per new last tx */
                if (next - 1 != checked_upto) {
                    sealdb_state pst;
                    uint8_t own[SDB_HASH_LEN];
                    uint64_t own_id = 0;
                    if (sealdb_client_current_state(cl, &pst) == SEALDB_OK &&
                        sdb_engine_state(r->db->eng, &own_id, own) == SEALDB_OK && pst.tx_id == own_id) {
                        if (memcmp(pst.alh, own, SDB_HASH_LEN)) {
                            atomic_fetch_add(&g_divergences, 1);
                            set_error(r, 1, "primary %s:%u/%s states another Alh for tx %llu than this replica's",
                                      r->host, r->port, r->pdb, (unsigned long long)own_id);
                            sdb_log("error: replication of database %s stopped: primary %s:%u/%s diverged at tx %llu: "
                                    "its state has another Alh", r->name, r->host, r->port, r->pdb,
                                    (unsigned long long)own_id);
                            break;
                        }
                        checked_upto = own_id;
                    }
                }
                continue;
            }
            set_error(r, 0, "exportTx of tx %llu from %s:%u/%s failed: %s", (unsigned long long)next, r->host, r->port,
                      r->pdb, msg);
            pthread_mutex_lock(&r->mu); r->st.failures++; pthread_mutex_unlock(&r->mu);
            sealdb_client_close(cl);
            cl = NULL;
            backoff = backoff > POLL_MS ? (backoff * 2 > MAX_BACKOFF_MS ? MAX_BACKOFF_MS : backoff * 2) : 500;
            continue;
        }
        sdb_commit_result res;
        import_err ie;
        rc = import_payload(r->db, sdb_buf_slice(&p), r->skip, NULL, &res, &ie);
        if (rc == SEALDB_OK || ie.why == SDB_REPL_EXISTS) {
            if (rc == SEALDB_OK && r->wfi) (void)sdb_engine_wait_indexed(r->db->eng, res.hdr.id, CLIENT_TIMEOUT_MS);
            pthread_mutex_lock(&r->mu);
            r->st.imported += rc == SEALDB_OK;
            r->st.last_error[0] = 0;
            pthread_mutex_unlock(&r->mu);
            backoff = 0;
            import_failures = 0;
            continue;
        }
        if (ie.why == SDB_REPL_DIVERGED || ie.why == SDB_REPL_BAD_PREV_ALH || ie.why == SDB_REPL_BAD_BLROOT ||
            ie.why == SDB_REPL_BAD_EH) {
            /* the primary's history is not the one this replica holds (or its tx is not what its
             * header says): following it would be silent divergence (W4); stop and say so */
            atomic_fetch_add(&g_divergences, 1);
            set_error(r, 1, "primary %s:%u/%s diverged from this replica at tx %llu: %s", r->host, r->port, r->pdb,
                      (unsigned long long)next, ie.msg);
            sdb_log("error: replication of database %s stopped: primary %s:%u/%s diverged at tx %llu: %s", r->name,
                    r->host, r->port, r->pdb, (unsigned long long)next, ie.msg);
            break;
        }
        pthread_mutex_lock(&r->mu); r->st.failures++; pthread_mutex_unlock(&r->mu);
        set_error(r, 0, "importing tx %llu from %s:%u/%s failed: %s", (unsigned long long)next, r->host, r->port,
                  r->pdb, ie.msg);
        if (++import_failures >= MAX_IMPORT_FAILURES) {
            sdb_log("error: replication of database %s stopped after %u failed attempts at tx %llu: %s", r->name,
                    import_failures, (unsigned long long)next, ie.msg);
            break;
        }
        backoff = backoff ? (backoff * 2 > MAX_BACKOFF_MS ? MAX_BACKOFF_MS : backoff * 2) : 500;
    }
    sdb_buf_deinit(&p);
    sealdb_client_close(cl);
    pthread_mutex_lock(&r->mu);
    r->st.running = 0;
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

static void copy_ns(char *dst, size_t cap, const Immudb__Schema__NullableString *ns) {
    snprintf(dst, cap, "%s", ns && ns->value ? ns->value : "");
}

/* Starts d's replicator when its settings make it a following replica; caller holds the server's
 * mu (d's settings and impl are stable) or runs inside the db_open hook. */
static void start_locked(sdb_database *d) {
    if (!d->settings.repl_follow || !d->impl) return;
    Immudb__Schema__DatabaseNullableSettings *s =
        immudb__schema__database_nullable_settings__unpack(NULL, d->settings_pb_len, d->settings_pb);
    if (!s) return;
    const Immudb__Schema__ReplicationNullableSettings *rs = s->replicationsettings;
    replicator *r = rs ? sdb_calloc(1, sizeof *r) : NULL;
    if (r) {
        r->d = d;
        r->db = d->impl;
        snprintf(r->name, sizeof r->name, "%s", d->name);
        copy_ns(r->host, sizeof r->host, rs->primaryhost);
        copy_ns(r->pdb, sizeof r->pdb, rs->primarydatabase);
        copy_ns(r->user, sizeof r->user, rs->primaryusername);
        copy_ns(r->pass, sizeof r->pass, rs->primarypassword);
        r->port = rs->primaryport ? rs->primaryport->value : 0;
        r->skip = rs->skipintegritycheck && rs->skipintegritycheck->value;
        r->wfi = rs->waitforindexing && rs->waitforindexing->value;
        pthread_mutex_init(&r->mu, NULL);
        atomic_init(&r->stop, 0);
        r->st.running = 1;
        if (pthread_create(&r->th, NULL, replicator_main, r) != 0) {
            sdb_log("error: cannot start the replicator of database %s", d->name);
            pthread_mutex_destroy(&r->mu);
            sdb_free(r);
            r = NULL;
        }
    }
    immudb__schema__database_nullable_settings__free_unpacked(s, NULL);
    if (!r) return;
    pthread_mutex_lock(&g_mu);
    r->next = g_list;
    g_list = r;
    pthread_mutex_unlock(&g_mu);
}

/* Stops and frees d's replicator, if any. Never waits on the server's mu. */
static void stop_replicator(const sdb_database *d) {
    pthread_mutex_lock(&g_mu);
    replicator **pp = &g_list, *r = NULL;
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->d == d) { r = *pp; *pp = r->next; break; }
    pthread_mutex_unlock(&g_mu);
    if (!r) return;
    atomic_store(&r->stop, 1);
    pthread_join(r->th, NULL);
    pthread_mutex_destroy(&r->mu);
    sdb_free(r);
}

void sdb_repl_settings_changed(sdb_server *s, sdb_database *d) {
    stop_replicator(d);
    pthread_mutex_lock(&s->mu);
    if (d->loaded) start_locked(d);
    pthread_mutex_unlock(&s->mu);
}

static int repl_db_open(sdb_database *d, const char *dir) {
    (void)dir;
    start_locked(d);
    return SEALDB_OK;
}

static void repl_db_close(sdb_database *d) { stop_replicator(d); }

/* ---- replicateTx ---- */

/* Go's strconv.ParseBool, as immudb parses these metadata values. */
static int parse_go_bool(const char *v, int *out) {
    static const char *const t[] = { "1", "t", "T", "TRUE", "true", "True" };
    static const char *const f[] = { "0", "f", "F", "FALSE", "false", "False" };
    for (size_t i = 0; i < 6; i++) {
        if (strcmp(v, t[i]) == 0) { *out = 1; return 0; }
        if (strcmp(v, f[i]) == 0) { *out = 0; return 0; }
    }
    return -1;
}

static int h_replicate_tx(sdb_call *c, const ProtobufCMessage *rq) {
    (void)rq;
    sdb_database *d = sdb_call_db(c);
    sdb_kvdb *db = sdb_kv_call_db(c);
    if (!d || !db) return fail(c, SDB_GRPC_UNKNOWN, "already closed");
    /* checked before reading anything (immudb reads first: replication.md W1) */
    if (!sdb_database_settings(d)->replica) return fail(c, SDB_GRPC_UNKNOWN, "database is NOT a replica");
    if (replicator_running(d)) return fail(c, SDB_GRPC_INTERNAL, "replication already in progress");
    int skip = 0, wfi = 0;
    const char *keys[2] = { "skip-integrity-check", "wait-for-indexing" };
    int *vals[2] = { &skip, &wfi };
    for (int i = 0; i < 2; i++) {
        const char *v = sdb_call_metadata(c, keys[i]);
        if (v && parse_go_bool(v, vals[i])) {
            sdb_call_error(c, SDB_GRPC_UNKNOWN, "strconv.ParseBool: parsing \"%s\": invalid syntax", v);
            return SDB_CALL_DONE;
        }
    }
    /* sealdb's own extension (W17): the Alh the tx must have, e.g. a hot-backup record's
     * checksum, checked before the tx is committed */
    uint8_t want_alh[SDB_HASH_LEN];
    const char *wa = sdb_call_metadata(c, "sealdb-expected-alh");
    if (wa) {
        sdb_buf hb;
        sdb_buf_init(&hb);
        int bad = strlen(wa) != 2 * SDB_HASH_LEN || sdb_hex_decode(wa, strlen(wa), &hb) || hb.len != SDB_HASH_LEN;
        if (!bad) memcpy(want_alh, hb.ptr, SDB_HASH_LEN);
        sdb_buf_deinit(&hb);
        if (bad) return fail(c, SDB_GRPC_INVALID_ARGUMENT, "illegal arguments: sealdb-expected-alh must be 64 hex digits");
    }
    uint64_t max = sdb_export_max_payload(db->max_tx_entries, db->max_key_len, db->max_value_len);
    sdb_slice m;
    int eof = 0;
    int rc = sdb_call_recv_msg(c, max > SIZE_MAX ? SIZE_MAX : (size_t)max, &m, &eof);
    if (rc == SEALDB_TOOLARGE)
        return fail(c, SDB_GRPC_INVALID_ARGUMENT, "illegal arguments: the announced transaction is larger than this database can hold");
    if (rc == SEALDB_NOMEM) return fail(c, SDB_GRPC_RESOURCE_EXHAUSTED, "out of memory");
    if (rc || eof) return fail(c, SDB_GRPC_UNKNOWN, "EOF");
    sdb_commit_result res;
    import_err ie;
    if (import_payload(db, m, skip, wa ? want_alh : NULL, &res, &ie)) return fail(c, ie.code, ie.msg);
    if (wfi) (void)sdb_engine_wait_indexed(db->eng, res.hdr.id, -1);
    Immudb__Schema__TxHeader *h = sdb_kv_header_pb(sdb_call_arena(c), &res.hdr);
    if (!h) return fail(c, SDB_GRPC_INTERNAL, "out of memory");
    sdb_call_ok(c, &h->base);
    return SDB_CALL_DONE;
}

static const sdb_rpc_method repl_methods[] = {
    { M("exportTx"), &immudb__schema__export_tx_request__descriptor, NULL, h_export_tx, SDB_PERM_ADMIN,
      SDB_STREAM_SERVER },
    { M("replicateTx"), NULL, &immudb__schema__tx_header__descriptor, h_replicate_tx, SDB_PERM_ADMIN,
      SDB_STREAM_CLIENT },
    /* bidirectional: started like a server stream on its first request; the handler reads the rest */
    { M("streamExportTx"), &immudb__schema__export_tx_request__descriptor, NULL, h_stream_export_tx, SDB_PERM_ADMIN,
      SDB_STREAM_SERVER },
};

const sdb_rpc_module sdb_repl_module = {
    .name = "replication",
    .methods = repl_methods,
    .n_methods = sizeof repl_methods / sizeof repl_methods[0],
    .db_open = repl_db_open,
    .db_close = repl_db_close,
};
