/* handlers_repl.c - replication (docs/replication.md): exportTx serves one stored tx in immudb's
 * export format, replicateTx imports one into a replica database after verifying it continues
 * the replica's own chain, and a replicator thread per replica database with primary coordinates
 * follows its primary through the C client, verifying every tx the same way. A primary whose
 * history differs from the replica's stops the replicator loudly (log line, metric, status), except
 * a sync replica with allowTxDiscarding, whose precommitted txs the primary lacks are discarded (the
 * database is reopened without them) before it follows again. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
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
#define POLL_MS             100    /* replicator: delay after an immudb primary's "nothing new" (W5) */
#define REPL_LONG_POLL_MS   500    /* replicator: how long a sealdb primary may wait for a new tx */
#define REPL_BATCH          256    /* replicator: txs asked per answer from a sealdb primary */
#define MAX_BACKOFF_MS      10000  /* replicator: longest wait between failed attempts */
#define MAX_IMPORT_FAILURES 10     /* replicator: attempts of one tx before stopping (W7) */
#define CLIENT_TIMEOUT_MS   10000
#define EXPORT_LONG_POLL_MAX_MS 1000   /* sealdb-export-wait-ms: longest committed-only wait */
#define EXPORT_BATCH_MAX    1024       /* sealdb-export-batch: most txs in one answer */
#define EXPORT_BATCH_BYTES  (4u << 20) /* ... and no more bytes than this (one tx may exceed it) */

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
        /* the read checked every value against its stored hash: the entries hash takes that one
         * instead of hashing each value again (a third of the export's SHA-256 work) */
        if (!truncated) x.entries[i].hvalue = t.entries[i].hvalue.b;
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

/* 5.3's metadata as Chunk fields (map entries of field #2) into md[]; returns the length. */
static size_t put_md_entry(uint8_t *md, const char *key, const uint8_t *v, size_t vlen) {
    size_t kl = strlen(key), n = 0;
    md[n++] = 0x12;
    md[n++] = (uint8_t)(2 + kl + 2 + vlen);   /* < 128 for these keys */
    md[n++] = 0x0a;
    md[n++] = (uint8_t)kl;
    memcpy(md + n, key, kl);
    n += kl;
    md[n++] = 0x12;
    md[n++] = (uint8_t)vlen;
    memcpy(md + n, v, vlen);
    return n + vlen;
}

static size_t sync_md(uint8_t md[256], uint64_t may_id, const uint8_t may_alh[SDB_HASH_LEN], uint64_t committed) {
    uint8_t b[8];
    size_t n = 0;
    sdb_put_u64be(b, may_id);
    n += put_md_entry(md + n, "may-commit-up-to-txid-bin", b, 8);
    n += put_md_entry(md + n, "may-commit-up-to-alh-bin", may_alh, SDB_HASH_LEN);
    sdb_put_u64be(b, committed);
    n += put_md_entry(md + n, "committed-txid-bin", b, 8);
    return n;
}

/* The same three keys as trailing metadata: unary exportTx only (spec 4.1 step 8; a stream would
 * accumulate them). */
static int add_sync_trailers(sdb_call *c, uint64_t may_id, const uint8_t may_alh[SDB_HASH_LEN], uint64_t committed) {
    uint8_t b[8], cb[8];
    sdb_put_u64be(b, may_id);
    sdb_put_u64be(cb, committed);
    return sdb_call_add_trailer(c, "may-commit-up-to-txid-bin", b, 8) ||
           sdb_call_add_trailer(c, "may-commit-up-to-alh-bin", may_alh, SDB_HASH_LEN) ||
           sdb_call_add_trailer(c, "committed-txid-bin", cb, 8);
}

/* A ReplicaState digest as 32 bytes: zero-padded or cut (replication.md 2). */
static void digest32(const ProtobufCBinaryData *d, uint8_t out[SDB_HASH_LEN]) {
    memset(out, 0, SDB_HASH_LEN);
    if (d && d->data) memcpy(out, d->data, d->len < SDB_HASH_LEN ? d->len : SDB_HASH_LEN);
}

static int alh_is(sdb_kvdb *db, uint64_t id, const uint8_t want[SDB_HASH_LEN]) {
    sdb_tx_header h;
    uint8_t alh[SDB_HASH_LEN];
    return sdb_engine_tx_header(db->eng, id, &h, alh) == SEALDB_OK && memcmp(alh, want, SDB_HASH_LEN) == 0;
}

/* A sync replica's state (replication.md 5.2): checks it against this primary's history,
 * computes what the replica may commit, registers its ack. NULL, or immudb's error text. */
static const char *take_replica_state(sdb_kvdb *db, const Immudb__Schema__ReplicaState *rs, uint64_t *may_id,
                                      uint8_t may_alh[SDB_HASH_LEN]) {
    uint64_t c;
    uint8_t calh[SDB_HASH_LEN], a[SDB_HASH_LEN];
    if (sdb_engine_committed_state(db->eng, &c, calh)) return "already closed";
    uint64_t pd = sdb_engine_last_tx(db->eng);
    if (rs->committedtxid > 0) {
        digest32(&rs->committedalh, a);
        if (rs->committedtxid > c || !alh_is(db, rs->committedtxid, a))
            return "replica diverged from primary: replica commit state diverged from primary's";
    }
    *may_id = 0;
    memset(may_alh, 0, SDB_HASH_LEN);
    if (rs->precommittedtxid > 0) {
        digest32(&rs->precommittedalh, a);
        if (rs->precommittedtxid > pd || !alh_is(db, rs->precommittedtxid, a))
            return "replica diverged from primary: replica precommit state diverged from primary's";
        if (rs->precommittedtxid < c) { *may_id = rs->precommittedtxid; memcpy(may_alh, a, SDB_HASH_LEN); }
        else { *may_id = c; memcpy(may_alh, calh, SDB_HASH_LEN); }
    }
    int rc = sdb_engine_gate_ack(db->eng, rs->uuid ? rs->uuid : "", rs->precommittedtxid);
    if (rc == SEALDB_RANGE) return "illegal arguments: the newly informed replica state lags behind the previously informed one";
    if (rc == SEALDB_INVALID) return "illegal state: replica state was NOT expected";
    return rc ? "out of memory" : NULL;
}

/* A sealdb request option (request metadata, ignored by immudb): a decimal in 0..max, else 0. */
static uint64_t md_u64(sdb_call *c, const char *key, uint64_t max) {
    const char *v = sdb_call_metadata(c, key);
    if (!v || !*v) return 0;
    char *end = NULL;
    unsigned long long x = strtoull(v, &end, 10);
    if (*end) return 0;
    return x > max ? max : x;
}

/* Answers one ExportTxRequest (replication.md 4.1): with a replicaState (sync primary only) the
 * ack is registered, a tx not there yet is waited for up to 4 x syncFrequency and then answered
 * with the empty heartbeat message, and the first chunk carries 5.3's metadata. sealdb's own
 * replicas may ask for several txs per answer (sealdb-export-batch) and for a committed-only
 * long poll (sealdb-export-wait-ms). 0, or -1 after answering the call's final error. */
static int export_one(sdb_call *c, const Immudb__Schema__ExportTxRequest *r, int unary) {
    if (r->tx == 0) return fail(c, SDB_GRPC_INVALID_ARGUMENT, "illegal arguments"), -1;
    sdb_kvdb *db = sdb_kv_call_db(c);
    if (!db) return fail(c, SDB_GRPC_UNKNOWN, "already closed"), -1;
    sdb_database *d = sdb_call_db(c);
    int syncp = r->replicastate != NULL;
    uint64_t may_id = 0;
    uint8_t may_alh[SDB_HASH_LEN];
    if (syncp) {
        /* only a sync primary keeps a replica-state table */
        if (sdb_engine_gate_mode(db->eng) != SDB_GATE_PRIMARY)
            return fail(c, SDB_GRPC_UNKNOWN, "illegal state: replica state was NOT expected"), -1;
        const char *err = take_replica_state(db, r->replicastate, &may_id, may_alh);
        if (err) return fail(c, SDB_GRPC_UNKNOWN, err), -1;
    }
    int pre = r->allowprecommitted;
    uint64_t have = pre ? sdb_engine_last_tx(db->eng) : sdb_engine_committed_tx(db->eng);
    if (r->tx > have) {
        int rc;
        if (syncp) {
            int64_t f = sdb_database_settings(d)->sync_freq_ms;
            rc = sdb_engine_gate_wait(db->eng, r->tx, pre, 4 * (f > 0 ? f : 1));
        } else if (!pre && !sdb_database_is_system(d)) {
            /* immudb answers a committed-only request past the end with EOF at once (how its
             * replicas learn they caught up); a sealdb replica may ask to wait a little first */
            uint64_t wait = md_u64(c, "sealdb-export-wait-ms", EXPORT_LONG_POLL_MAX_MS);
            rc = wait ? sdb_engine_gate_wait(db->eng, r->tx, 0, (int64_t)wait) : SEALDB_TIMEOUT;
        } else {
            rc = sdb_engine_gate_wait(db->eng, r->tx, pre, EXPORT_WAIT_MS);
        }
        if (rc == SEALDB_CLOSED) return fail(c, SDB_GRPC_UNKNOWN, "already closed"), -1;
        if (rc && !syncp) return fail(c, SDB_GRPC_UNKNOWN, "EOF"), -1;
        if (rc) {
            /* nothing new: the heartbeat, an empty message with the metadata */
            uint8_t md[256];
            size_t ml = sync_md(md, may_id, may_alh, sdb_engine_committed_tx(db->eng));
            if (sdb_call_send_msg_md(c, NULL, 0, md, ml)) return fail(c, SDB_GRPC_UNAVAILABLE, "stream send failed"), -1;
            if (unary && add_sync_trailers(c, may_id, may_alh, sdb_engine_committed_tx(db->eng)))
                return fail(c, SDB_GRPC_INTERNAL, "out of memory"), -1;
            return 0;
        }
        have = pre ? sdb_engine_last_tx(db->eng) : sdb_engine_committed_tx(db->eng);
    }
    uint64_t batch = md_u64(c, "sealdb-export-batch", EXPORT_BATCH_MAX);
    uint64_t last = r->tx + (batch > 1 ? batch - 1 : 0);
    if (last > have) last = have;
    uint8_t md[256];
    size_t ml = syncp ? sync_md(md, may_id, may_alh, sdb_engine_committed_tx(db->eng)) : 0;
    sdb_buf p, out;
    sdb_buf_init(&p);
    sdb_buf_init(&out);
    char err[256];
    int rc = SEALDB_OK;
    for (uint64_t id = r->tx; id <= last && out.len < EXPORT_BATCH_BYTES; id++) {
        if (export_payload(db, id, r->skipintegritycheck, &p, err, sizeof err)) { rc = -1; break; }
        if (last == r->tx) {
            /* one tx: one message starting its own chunk, as immudb sends it */
            if (sdb_call_send_msg_md(c, p.ptr, p.len, md, ml)) rc = -2;
            break;
        }
        /* a batch (sealdb replicas only): the framed messages back to back, in full chunks */
        uint8_t len[8];
        sdb_put_u64be(len, p.len);
        if (sdb_buf_append(&out, len, 8) || sdb_buf_append(&out, p.ptr, p.len)) { rc = -2; break; }
    }
    if (!rc && out.len && sdb_call_send_bytes_md(c, out.ptr, out.len, md, ml)) rc = -2;
    if (!rc && syncp && unary) rc = add_sync_trailers(c, may_id, may_alh, sdb_engine_committed_tx(db->eng)) ? -2 : 0;
    sdb_buf_deinit(&p);
    sdb_buf_deinit(&out);
    if (rc == -1) return fail(c, SDB_GRPC_UNKNOWN, err), -1;
    if (rc) return fail(c, SDB_GRPC_UNAVAILABLE, "stream send failed"), -1;
    return 0;
}

static int h_export_tx(sdb_call *c, const ProtobufCMessage *rq) {
    if (export_one(c, (const Immudb__Schema__ExportTxRequest *)rq, 1) == 0) sdb_call_ok(c, NULL);
    return SDB_CALL_DONE;
}

/* streamExportTx: requests answered strictly one after another on one call (replication.md 5.1);
 * the call ends with the first error, or with immudb's Unknown "EOF" when the client half-closes. */
static int h_stream_export_tx(sdb_call *c, const ProtobufCMessage *rq) {
    if (export_one(c, (const Immudb__Schema__ExportTxRequest *)rq, 0)) return SDB_CALL_DONE;
    for (;;) {
        sdb_slice raw;
        int eof = 0;
        if (c->ops->recv(c, &raw, &eof) != SEALDB_OK) return fail(c, SDB_GRPC_UNAVAILABLE, "stream receive failed");
        if (eof) return fail(c, SDB_GRPC_UNKNOWN, "EOF");
        /* decoded outside the call's arena: a long-lived stream must not grow it per request */
        Immudb__Schema__ExportTxRequest *r = immudb__schema__export_tx_request__unpack(NULL, raw.len, raw.ptr);
        if (!r) return fail(c, SDB_GRPC_INVALID_ARGUMENT, "malformed request message");
        int rc = export_one(c, r, 0);
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

/* immudb's status for a failed import of tx id (rc, why: SDB_REPL_*); rc unchanged. */
static int import_error(sdb_kvdb *db, int rc, int w, uint64_t id, import_err *ie) {
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

/* Parses payload p into x and its entries as kv (borrowed from x; free kv, then deinit x). On
 * failure nothing is left to free and ie holds immudb's status. */
static int decode_payload(sdb_slice p, sdb_export_tx *x, sdb_kv **kv, import_err *ie) {
    const char *why = NULL;
    int rc = sdb_export_parse(p, x, &why);
    if (rc) {
        ie->code = strcmp(why, "illegal arguments") == 0 ? SDB_GRPC_INVALID_ARGUMENT : SDB_GRPC_UNKNOWN;
        snprintf(ie->msg, sizeof ie->msg, "%s", why);
        return rc;
    }
    if (x->truncated) {
        sdb_export_tx_deinit(x);
        ie->code = SDB_GRPC_INVALID_ARGUMENT;
        snprintf(ie->msg, sizeof ie->msg, "illegal arguments: transactions with truncated values are not supported by sealdb");
        return SEALDB_UNSUPPORTED;
    }
    *kv = sdb_calloc(x->nentries ? x->nentries : 1, sizeof **kv);
    if (!*kv) {
        sdb_export_tx_deinit(x);
        ie->code = SDB_GRPC_RESOURCE_EXHAUSTED;
        snprintf(ie->msg, sizeof ie->msg, "out of memory");
        return SEALDB_NOMEM;
    }
    for (uint32_t i = 0; i < x->nentries; i++) {
        (*kv)[i].key = x->entries[i].key;
        (*kv)[i].value = x->entries[i].value;
        (*kv)[i].md = x->entries[i].md;
    }
    return SEALDB_OK;
}

/* Parses payload p and commits it as the next tx of db (replication.md 3.5, 7.1). */
static int import_payload(sdb_kvdb *db, sdb_slice p, int skip, const uint8_t *expect_alh, sdb_commit_result *res,
                          import_err *ie) {
    ie->code = SDB_GRPC_OK;
    ie->why = SDB_REPL_OK;
    ie->msg[0] = 0;
    sdb_export_tx x;
    sdb_export_tx_init(&x);
    sdb_kv *kv = NULL;
    int rc = decode_payload(p, &x, &kv, ie);
    if (rc) return rc;
    int w = SDB_REPL_OK;
    uint64_t id = x.hdr.id;
    rc = sdb_engine_commit_replicated_sync(db->eng, &x.hdr, kv, x.nentries, skip, expect_alh, res, &w);
    sdb_free(kv);
    sdb_export_tx_deinit(&x);
    return import_error(db, rc, w, id, ie);
}

/* ---- replicators ---- */

typedef struct replicator {
    sdb_database *d;
    sdb_kvdb *db;
    char name[129];
    char host[256], pdb[129], user[128], pass[256];
    uint32_t port;
    int skip, wfi, sync, discard;
    uint64_t discard_keep;     /* set when the thread ended to have its precommitted tail discarded */
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

int sdb_repl_sync_primary_stats(const sdb_database *d, uint64_t *waiting, uint64_t *acks) {
    sdb_kvdb *db = d->loaded ? d->impl : NULL;
    if (!db || sdb_engine_gate_mode(db->eng) != SDB_GATE_PRIMARY) return 0;
    *waiting = sdb_engine_gate_held(db->eng);
    *acks = sdb_engine_gate_acks(db->eng);
    return 1;
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

/* ---- batch import: the txs of one answer go to the committer together (one group, one sync) ---- */

typedef struct batch_wait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t pending;
} batch_wait;

typedef struct batch_slot {
    batch_wait *w;
    int rc, why;
    uint64_t id;
} batch_slot;

static void batch_cb(void *arg, int rc, const sdb_commit_result *res, size_t failed_pre) {
    batch_slot *sl = arg;
    (void)res;
    pthread_mutex_lock(&sl->w->mu);
    sl->rc = rc;
    sl->why = rc ? (int)failed_pre : SDB_REPL_OK;
    if (--sl->w->pending == 0) pthread_cond_signal(&sl->w->cv);
    pthread_mutex_unlock(&sl->w->mu);
}

/* The txs of one answer queued to the committer: their completions and the first failure. */
typedef struct batch {
    batch_wait w;
    batch_slot *slots;
    size_t n;
    uint64_t last_id;            /* last tx queued (0: none) */
    int rc;                      /* a failure before queuing (parse), with ie */
    import_err ie;
} batch;

/* Queues the non-empty messages of an export answer in order (the answer's buffer is free again
 * on return: the engine copies what it keeps). Finish with batch_wait_done. */
static void batch_queue(sdb_kvdb *db, const sdb_cl_export_res *res, int skip, batch *bt) {
    memset(bt, 0, sizeof *bt);
    pthread_mutex_init(&bt->w.mu, NULL);
    pthread_cond_init(&bt->w.cv, NULL);
    bt->ie.code = SDB_GRPC_OK;
    bt->ie.why = SDB_REPL_OK;
    import_err *ie = &bt->ie;
    bt->n = res->n;
    bt->slots = sdb_calloc(res->n ? res->n : 1, sizeof *bt->slots);
    if (!bt->slots) { ie->code = SDB_GRPC_RESOURCE_EXHAUSTED; snprintf(ie->msg, sizeof ie->msg, "out of memory"); bt->rc = SEALDB_NOMEM; return; }
    for (size_t i = 0; i < res->n; i++) {
        if (!res->len[i]) continue;   /* the sync heartbeat */
        sdb_export_tx x;
        sdb_export_tx_init(&x);
        sdb_kv *kv = NULL;
        int rc = decode_payload(sdb_slice_of(res->data.ptr + res->off[i], res->len[i]), &x, &kv, ie);
        if (rc) { bt->rc = rc; return; }
        batch_slot *sl = &bt->slots[i];
        sl->w = &bt->w;
        sl->id = x.hdr.id;
        pthread_mutex_lock(&bt->w.mu);
        bt->w.pending++;
        pthread_mutex_unlock(&bt->w.mu);
        int why_rc = SDB_REPL_OK;
        rc = sdb_engine_commit_replicated(db->eng, &x.hdr, kv, x.nentries, skip, NULL, batch_cb, sl, &why_rc);
        sdb_free(kv);
        sdb_export_tx_deinit(&x);
        if (rc) {
            pthread_mutex_lock(&bt->w.mu);
            bt->w.pending--;
            pthread_mutex_unlock(&bt->w.mu);
            sl->rc = rc;
            sl->why = why_rc;
            return;
        }
        bt->last_id = sl->id;
    }
}

/* Waits for a queued batch; *imported counts its new txs. SEALDB_OK, or the first failure's
 * status with its immudb error in *ie (a tx already here with the same Alh counts as done). */
static int batch_wait_done(sdb_kvdb *db, batch *bt, uint64_t *imported, import_err *ie) {
    pthread_mutex_lock(&bt->w.mu);
    while (bt->w.pending) pthread_cond_wait(&bt->w.cv, &bt->w.mu);
    pthread_mutex_unlock(&bt->w.mu);
    *imported = 0;
    int rc = SEALDB_OK;
    *ie = bt->ie;
    for (size_t i = 0; i < bt->n && bt->slots && rc == SEALDB_OK; i++) {
        if (!bt->slots[i].w && bt->slots[i].rc == SEALDB_OK) continue;
        if (bt->slots[i].rc == SEALDB_OK) { (*imported)++; continue; }
        if (bt->slots[i].why == SDB_REPL_EXISTS) continue;
        rc = import_error(db, bt->slots[i].rc, bt->slots[i].why, bt->slots[i].id, ie);
    }
    if (!rc) rc = bt->rc;
    pthread_mutex_destroy(&bt->w.mu);
    pthread_cond_destroy(&bt->w.cv);
    sdb_free(bt->slots);
    bt->slots = NULL;
    return rc;
}

static char g_uuid[32];   /* this server's identifier: a sync replica's UUID */
static sdb_server *g_srv; /* for discards, which reopen a database */

void sdb_repl_set_uuid(const char *uuid) { snprintf(g_uuid, sizeof g_uuid, "%s", uuid); }
void sdb_repl_set_server(sdb_server *s) { g_srv = s; }

static void stop_diverged(replicator *r, uint64_t at, const char *why) {
    atomic_fetch_add(&g_divergences, 1);
    set_error(r, 1, "primary %s:%u/%s diverged from this replica at tx %llu: %s", r->host, r->port, r->pdb,
              (unsigned long long)at, why);
    sdb_log("error: replication of database %s stopped: primary %s:%u/%s diverged at tx %llu: %s", r->name, r->host,
            r->port, r->pdb, (unsigned long long)at, why);
}

/* Waits for the batch in flight; its imported count goes to the status. */
static int finish_inflight(replicator *r, batch *bt, int *inflight, uint64_t *imported, import_err *ie) {
    *inflight = 0;
    int rc = batch_wait_done(r->db, bt, imported, ie);
    if (*imported && r->wfi) (void)sdb_engine_wait_indexed(r->db->eng, sdb_engine_last_tx(r->db->eng), CLIENT_TIMEOUT_MS);
    return rc;
}

/* An asynchronous replica's importer thread: verifies and queues one answer's txs to the committer
 * and waits until they are durable, while the replicator fetches the next answer from the primary
 * (the primary's export, this replica's checks and its writes overlap; done in turn on one thread,
 * the check of an answer left the primary idle). One answer at a time, in order. */
typedef struct importer {
    replicator *r;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    const sdb_cl_export_res *job;   /* the answer being imported (NULL: idle) */
    int stop;
    int rc;                         /* the last job's outcome */
    uint64_t imported;
    import_err ie;
} importer;

static void *importer_main(void *arg) {
    sdb_thread_name("sdb-repl-import");
    importer *im = arg;
    pthread_mutex_lock(&im->mu);
    for (;;) {
        while (!im->job && !im->stop) pthread_cond_wait(&im->cv, &im->mu);
        if (!im->job) break;
        const sdb_cl_export_res *res = im->job;
        pthread_mutex_unlock(&im->mu);
        batch bt;
        int inflight = 1;
        uint64_t n = 0;
        import_err ie;
        batch_queue(im->r->db, res, im->r->skip, &bt);
        int rc = finish_inflight(im->r, &bt, &inflight, &n, &ie);
        pthread_mutex_lock(&im->mu);
        im->rc = rc;
        im->imported = n;
        im->ie = ie;
        im->job = NULL;
        pthread_cond_broadcast(&im->cv);
    }
    pthread_mutex_unlock(&im->mu);
    return NULL;
}

static int importer_start(importer *im, replicator *r) {
    memset(im, 0, sizeof *im);
    im->r = r;
    pthread_mutex_init(&im->mu, NULL);
    pthread_cond_init(&im->cv, NULL);
    if (pthread_create(&im->th, NULL, importer_main, im) == 0) return 0;
    pthread_mutex_destroy(&im->mu);
    pthread_cond_destroy(&im->cv);
    return -1;
}

/* Hands res (left alone until importer_take) to the idle importer. */
static void importer_give(importer *im, const sdb_cl_export_res *res) {
    pthread_mutex_lock(&im->mu);
    im->job = res;
    pthread_cond_signal(&im->cv);
    pthread_mutex_unlock(&im->mu);
}

/* Waits for the job given last: its status, imported count and error, as finish_inflight's. */
static int importer_take(importer *im, uint64_t *imported, import_err *ie) {
    pthread_mutex_lock(&im->mu);
    while (im->job) pthread_cond_wait(&im->cv, &im->mu);
    int rc = im->rc;
    *imported = im->imported;
    *ie = im->ie;
    pthread_mutex_unlock(&im->mu);
    return rc;
}

static void importer_stop(importer *im) {
    pthread_mutex_lock(&im->mu);
    im->stop = 1;
    pthread_cond_signal(&im->cv);
    pthread_mutex_unlock(&im->mu);
    pthread_join(im->th, NULL);
    pthread_mutex_destroy(&im->mu);
    pthread_cond_destroy(&im->cv);
}

/* ---- allowTxDiscarding: reopening a sync replica without its precommitted tail ---- */

typedef struct discard_job { sdb_database *d; uint64_t keep; } discard_job;
static atomic_int g_discards;   /* discard threads running (shutdown waits for them) */
static int g_closing;           /* g_mu: the server stops, no new discard starts */
/* databases whose discard failed: their next replicator stops on the divergence instead of
 * trying again (a settings change clears it); g_mu */
#define MAX_NODISCARD 64
static const sdb_database *g_nodiscard[MAX_NODISCARD];

static int nodiscard_find_locked(const sdb_database *d) {
    for (int i = 0; i < MAX_NODISCARD; i++) if (g_nodiscard[i] == d) return i;
    return -1;
}

static void nodiscard_set(const sdb_database *d, int on) {
    pthread_mutex_lock(&g_mu);
    int i = nodiscard_find_locked(on ? NULL : d);
    if (on && nodiscard_find_locked(d) >= 0) i = -1;
    if (i >= 0) g_nodiscard[i] = on ? d : NULL;
    pthread_mutex_unlock(&g_mu);
}

/* Unloads d (which stops its replicator: the thread that asked has ended), waits until its last
 * call released it, marks the discard on the closed directory and loads d again: the open cuts
 * the tail (engine discard.c) and starts a new replicator. */
static void *discard_main(void *arg) {
    sdb_thread_name("sdb-repl-discar");
    discard_job *j = arg;
    sdb_server *s = g_srv;
    sdb_database *d = j->d;
    char dir[4200];
    int64_t t0 = (int64_t)sdb_now_ms();
    pthread_mutex_lock(&s->mu);
    snprintf(dir, sizeof dir, "%s/%s", s->cfg.dir, d->name);
    int go = d->loaded && !d->deleted && d->settings.replica && d->settings.sync_repl;
    if (go) sdb_db_unload(s, d);
    /* calls in flight keep it open; they end within their own deadlines */
    while (go && d->impl) {
        pthread_mutex_unlock(&s->mu);
        sleep_ms(20);
        pthread_mutex_lock(&s->mu);
        if (d->loaded || d->deleted) go = 0;   /* someone else loaded or dropped it meanwhile */
    }
    if (go) {
        int rc = sdb_engine_mark_discard(dir, j->keep);
        if (rc) {
            sdb_log("error: database %s: cannot discard its precommitted txs after %llu: %s%s", d->name,
                    (unsigned long long)j->keep, sealdb_strerror(rc),
                    rc == SEALDB_INVALID ? " (the committed point is not stored or is higher)" : "");
            nodiscard_set(d, 1);
        }
        rc = sdb_db_load(s, d);
        if (!rc)
            sdb_log("replication: database %s reopened without its precommitted txs after %llu in %lld ms",
                    d->name, (unsigned long long)j->keep, (long long)((int64_t)sdb_now_ms() - t0));
    }
    pthread_mutex_unlock(&s->mu);
    sdb_free(j);
    atomic_fetch_sub(&g_discards, 1);
    return NULL;
}

static void start_discard(sdb_database *d, uint64_t keep) {
    discard_job *j = sdb_malloc(sizeof *j);
    pthread_t th;
    pthread_attr_t at;
    if (!j) return;
    j->d = d;
    j->keep = keep;
    pthread_mutex_lock(&g_mu);
    int closing = g_closing;
    if (!closing) atomic_fetch_add(&g_discards, 1);
    pthread_mutex_unlock(&g_mu);
    if (closing) { sdb_free(j); return; }   /* the next start follows again and discards then */
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&th, &at, discard_main, j) != 0) {
        sdb_log("error: database %s: cannot start discarding its precommitted txs", d->name);
        atomic_fetch_sub(&g_discards, 1);
        sdb_free(j);
    }
    pthread_attr_destroy(&at);
}

static void *replicator_main(void *arg) {
    sdb_thread_name("sdb-replicator");
    replicator *r = arg;
    sealdb_client *cl = NULL;
    sdb_cl_export_res resb[2];   /* the answer fetched, and the one the importer holds */
    sdb_cl_export_res_init(&resb[0]);
    sdb_cl_export_res_init(&resb[1]);
    int cur = 0;
    unsigned backoff = 0, import_failures = 0;
    uint64_t checked_upto = 0;   /* last own tx whose Alh matched the primary's state */
    uint64_t max = sdb_export_max_payload(r->db->max_tx_entries, r->db->max_key_len, r->db->max_value_len);
    sdb_engine *e = r->db->eng;
    batch fl;                    /* the batch the committer is writing, when inflight */
    int inflight = 0;
    /* an asynchronous replica imports an answer on the importer while it fetches the next one;
     * pending: the importer has an answer, txs up to pending_last */
    importer im;
    int use_im = !r->sync && importer_start(&im, r) == 0, pending = 0;
    uint64_t pending_last = 0;
    sdb_log("replication: database %s follows %s:%u/%s%s", r->name, r->host, r->port, r->pdb,
            r->sync ? " (synchronous)" : "");
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
        uint64_t next = (pending ? pending_last : inflight && fl.last_id ? fl.last_id : sdb_engine_last_tx(e)) + 1;
        sdb_cl_export_res *res = &resb[cur];
        sdb_cl_replica_state rs;
        sdb_cl_export_req rq;
        memset(&rq, 0, sizeof rq);
        rq.tx = next;
        rq.skip_integrity = r->skip;
        rq.batch = REPL_BATCH;
        if (r->sync) {
            /* a sync replica reports what it holds (its ack) and fetches precommitted txs */
            memset(&rs, 0, sizeof rs);
            rs.uuid = g_uuid;
            (void)sdb_engine_committed_state(e, &rs.committed_id, rs.committed_alh);
            (void)sdb_engine_state(e, &rs.pre_id, rs.pre_alh);
            rq.state = &rs;
            rq.allow_precommitted = 1;
        } else {
            rq.wait_ms = REPL_LONG_POLL_MS;
        }
        int64_t t0 = (int64_t)sdb_now_ms();
        import_err ie;
        uint64_t imported = 0;
        int irc = SEALDB_OK;
        int rc = sdb_cl_export_txs(cl, &rq, max, res);
        if (rc && (inflight || pending)) {
            /* nothing new, or a failure: settle the batch the committer is writing first */
            if (pending) {
                pending = 0;
                irc = importer_take(&im, &imported, &ie);
            } else {
                irc = finish_inflight(r, &fl, &inflight, &imported, &ie);
            }
            if (irc) goto import_done;
            pthread_mutex_lock(&r->mu); r->st.imported += imported; pthread_mutex_unlock(&r->mu);
            imported = 0;
        }
        if (rc) {
            const char *msg = sealdb_client_errmsg(cl);
            if (strstr(msg, "replica precommit state diverged from primary") && r->sync && r->discard) {
                /* allowTxDiscarding (6.3 step 5): the txs the primary does not have were never
                 * committed here; drop everything after the committed point and follow again.
                 * The database is reopened for it (discard_main), which ends this thread. */
                uint64_t keep = sdb_engine_committed_tx(e), last = sdb_engine_last_tx(e);
                if (keep < last && g_srv) {
                    sdb_log("replication: database %s: primary %s:%u/%s does not have its precommitted txs %llu..%llu: "
                            "discarding them (allowTxDiscarding)", r->name, r->host, r->port, r->pdb,
                            (unsigned long long)keep + 1, (unsigned long long)last);
                    r->discard_keep = keep;
                    break;
                }
            }
            if (strstr(msg, "replica commit state diverged from primary") ||
                strstr(msg, "replica precommit state diverged from primary")) {
                /* this replica holds txs the primary does not (without allowTxDiscarding, or
                 * committed ones: never discarded) */
                stop_diverged(r, next - 1, msg);
                break;
            }
            if (sdb_cl_last_grpc_code(cl) == SDB_GRPC_UNKNOWN && caught_up(msg)) {
                /* nothing new: keep the connection; a sealdb primary waited already (long poll),
                 * an immudb one answers at once, so wait a little before asking again */
                backoff = (int64_t)sdb_now_ms() - t0 >= REPL_LONG_POLL_MS / 2 ? 0 : POLL_MS;
                /* the last imported tx is checked by the chain only when its successor arrives;
                 * until then compare its Alh with the primary's state (a changed ts, version or
                 * tx metadata would otherwise go unnoticed: W17), once per new last tx */
                if (next - 1 != checked_upto) {
                    sealdb_state pst;
                    uint8_t own[SDB_HASH_LEN];
                    uint64_t own_id = 0;
                    if (sealdb_client_current_state(cl, &pst) == SEALDB_OK &&
                        sdb_engine_state(e, &own_id, own) == SEALDB_OK && pst.tx_id == own_id) {
                        if (memcmp(pst.alh, own, SDB_HASH_LEN)) {
                            stop_diverged(r, own_id, "its state has another Alh");
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
        if (r->sync) {
            if (!res->has_md) {
                set_error(r, 0, "primary %s:%u/%s is not running with synchronous replication (no replication metadata)",
                          r->host, r->port, r->pdb);
                pthread_mutex_lock(&r->mu); r->st.failures++; pthread_mutex_unlock(&r->mu);
                backoff = backoff ? (backoff * 2 > MAX_BACKOFF_MS ? MAX_BACKOFF_MS : backoff * 2) : 500;
                continue;
            }
            /* commit what the primary committed (6.3 step 6), after checking it is ours */
            uint64_t own_c = sdb_engine_committed_tx(e), own_p = sdb_engine_last_tx(e);
            uint64_t up = res->may_commit_id < own_p ? res->may_commit_id : own_p;
            if (up > own_c) {
                uint8_t alh[SDB_HASH_LEN];
                sdb_tx_header h;
                if (sdb_engine_tx_header(e, up, &h, alh) == SEALDB_OK && up == res->may_commit_id &&
                    memcmp(alh, res->may_commit_alh, SDB_HASH_LEN)) {
                    stop_diverged(r, up, "the primary committed another tx under this id");
                    break;
                }
                int src = sdb_engine_gate_allow(e, up);
                if (src)
                    set_error(r, 0, "storing the committed point %llu failed: %s", (unsigned long long)up,
                              sealdb_strerror(src));
            }
        }
        /* an asynchronous replica fetches the next answer while the importer checks and the
         * committer writes this one (pipelined; the answer before settles first, and a failure
         * there drops this one); a synchronous one must report it durable in its next request
         * (its ack) */
        if (inflight) irc = finish_inflight(r, &fl, &inflight, &imported, &ie);
        if (pending && irc == SEALDB_OK) {
            uint64_t more = 0;
            pending = 0;
            irc = importer_take(&im, &more, &ie);
            imported += more;
        }
        size_t ntx = 0;   /* txs in this answer (an async primary answers next, next + 1, ...) */
        for (size_t i = 0; i < res->n; i++) ntx += res->len[i] != 0;
        if (irc == SEALDB_OK && use_im && ntx) {
            importer_give(&im, res);
            pending = 1;
            pending_last = next + ntx - 1;
            cur ^= 1;
        } else if (irc == SEALDB_OK) {
            batch_queue(r->db, res, r->skip, &fl);
            inflight = 1;
            if (r->sync || !fl.last_id || fl.rc) {
                uint64_t more = 0;
                irc = finish_inflight(r, &fl, &inflight, &more, &ie);
                imported += more;
            }
        }
    import_done:
        if (irc == SEALDB_OK) {
            pthread_mutex_lock(&r->mu);
            r->st.imported += imported;
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
            stop_diverged(r, sdb_engine_last_tx(e) + 1, ie.msg);
            break;
        }
        pthread_mutex_lock(&r->mu); r->st.failures++; r->st.imported += imported; pthread_mutex_unlock(&r->mu);
        set_error(r, 0, "importing tx %llu from %s:%u/%s failed: %s", (unsigned long long)(sdb_engine_last_tx(e) + 1),
                  r->host, r->port, r->pdb, ie.msg);
        if (++import_failures >= MAX_IMPORT_FAILURES) {
            sdb_log("error: replication of database %s stopped after %u failed attempts at tx %llu: %s", r->name,
                    import_failures, (unsigned long long)(sdb_engine_last_tx(e) + 1), ie.msg);
            break;
        }
        backoff = backoff ? (backoff * 2 > MAX_BACKOFF_MS ? MAX_BACKOFF_MS : backoff * 2) : 500;
    }
    if (inflight) {
        uint64_t n = 0;
        import_err ie;
        (void)finish_inflight(r, &fl, &inflight, &n, &ie);
    }
    if (use_im) {
        if (pending) {
            uint64_t n = 0;
            import_err ie;
            (void)importer_take(&im, &n, &ie);
            pthread_mutex_lock(&r->mu); r->st.imported += n; pthread_mutex_unlock(&r->mu);
        }
        importer_stop(&im);
    }
    sdb_cl_export_res_deinit(&resb[0]);
    sdb_cl_export_res_deinit(&resb[1]);
    sealdb_client_close(cl);
    pthread_mutex_lock(&r->mu);
    r->st.running = 0;
    pthread_mutex_unlock(&r->mu);
    if (r->discard_keep != UINT64_MAX && !atomic_load(&r->stop)) start_discard(r->d, r->discard_keep);
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
        r->sync = rs->syncreplication && rs->syncreplication->value;
        pthread_mutex_lock(&g_mu);
        r->discard = rs->allowtxdiscarding && rs->allowtxdiscarding->value && nodiscard_find_locked(d) < 0;
        pthread_mutex_unlock(&g_mu);
        r->discard_keep = UINT64_MAX;
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

/* The answer gate from d's settings: a sync primary holds answers for acks, a sync replica
 * commits on its primary's word, everything else commits at once (a promotion commits what a sync
 * replica held precommitted). Caller holds the server's mu or runs in the db_open hook. */
static void apply_gate_locked(sdb_database *d, int at_open) {
    sdb_kvdb *db = d->impl;
    if (!db) return;
    const sdb_db_settings *st = &d->settings;
    int mode = !st->sync_repl ? SDB_GATE_OFF : st->replica ? SDB_GATE_REPLICA : SDB_GATE_PRIMARY;
    sdb_engine_gate_set(db->eng, mode, st->sync_acks);
    /* at open a sync replica's committed point is the stored one (claiming all it holds could be
     * ahead of its primary); after a change the file follows the mode */
    int rc = at_open ? sdb_engine_gate_restore_committed(db->eng) : sdb_engine_gate_persist(db->eng);
    if (rc) sdb_log("warning: database %s: its committed point file: %s", d->name, sealdb_strerror(rc));
}

void sdb_repl_settings_changed(sdb_server *s, sdb_database *d) {
    stop_replicator(d);
    nodiscard_set(d, 0);
    pthread_mutex_lock(&s->mu);
    if (d->loaded) {
        apply_gate_locked(d, 0);
        start_locked(d);
    }
    pthread_mutex_unlock(&s->mu);
}

void sdb_repl_release_waiting(sdb_database *d) {
    sdb_kvdb *db = d->impl;
    if (db) sdb_engine_gate_close(db->eng);
}

void sdb_repl_shutdown(sdb_server *s) {
    pthread_mutex_lock(&g_mu);
    g_closing = 1;
    pthread_mutex_unlock(&g_mu);
    while (atomic_load(&g_discards)) sleep_ms(20);   /* a discard reopening a database */
    pthread_mutex_lock(&s->mu);
    for (sdb_database *d = s->dbs; d; d = d->next) sdb_repl_release_waiting(d);
    pthread_mutex_unlock(&s->mu);
}

static int repl_db_open(sdb_database *d, const char *dir) {
    (void)dir;
    apply_gate_locked(d, 1);
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
      SDB_STREAM_SERVER, NULL },
    { M("replicateTx"), NULL, &immudb__schema__tx_header__descriptor, h_replicate_tx, SDB_PERM_ADMIN,
      SDB_STREAM_CLIENT, NULL },
    /* bidirectional: started like a server stream on its first request; the handler reads the rest */
    { M("streamExportTx"), &immudb__schema__export_tx_request__descriptor, NULL, h_stream_export_tx, SDB_PERM_ADMIN,
      SDB_STREAM_SERVER, NULL },
};

const sdb_rpc_module sdb_repl_module = {
    .name = "replication",
    .methods = repl_methods,
    .n_methods = sizeof repl_methods / sizeof repl_methods[0],
    .db_open = repl_db_open,
    .db_close = repl_db_close,
};
