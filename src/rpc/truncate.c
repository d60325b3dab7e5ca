/* truncate.c - TruncateDatabase and the background truncator driven by a database's
 * truncationSettings (retentionPeriod, truncationFrequency): immudb's checks, messages and choice
 * of the truncation point; the engine discards the values (engine/truncate.c). */
#include <inttypes.h>
#include <stdio.h>
#include <time.h>
#include "rpc/server.h"
#include "db/kv.h"
#include "engine/engine.h"

#define MIN_RETENTION_MS (24LL * 3600 * 1000)

enum { TR_OK, TR_NOT_REACHED, TR_ERROR };

/* immudb truncates up to the start of the (local) day that holds now - retention: the newest tx
 * committed at or before that instant keeps its values, every older tx loses them. */
static int truncate_db(sdb_database *d, int64_t retention_ms, uint64_t *point, int *erc) {
    sdb_kvdb *kv = sdb_database_impl(d);
    *point = 0;
    *erc = SEALDB_OK;
    if (!kv || !kv->eng) { *erc = SEALDB_CLOSED; return TR_ERROR; }
    time_t t = (time_t)((sdb_unix_ms() - retention_ms) / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_isdst = -1;
    int64_t until = (int64_t)mktime(&tm);
    uint64_t id = 0;
    int rc = sdb_engine_last_tx_until(kv->eng, until, &id);
    if (rc == SEALDB_NOTFOUND) return TR_NOT_REACHED;
    if (!rc) rc = sdb_engine_truncate(kv->eng, id);
    if (rc) { *erc = rc; return TR_ERROR; }
    *point = id;
    return TR_OK;
}

static int h_truncate_database(sdb_call *c, const ProtobufCMessage *rq) {
    const Immudb__Schema__TruncateDatabaseRequest *r = (const void *)rq;
    sdb_server *s = c->srv;
    const char *name = r->database ? r->database : "";
    if (!s->cfg.auth) return sdb_call_error(c, SDB_GRPC_INVALID_ARGUMENT, "authentication must be on");
    if (strcmp(name, SDB_SYSTEMDB) == 0 || strcmp(name, SDB_DEFAULTDB) == 0)
        return sdb_call_error(c, SDB_GRPC_INTERNAL, "database is reserved");
    pthread_mutex_lock(&s->mu);
    sdb_user *u = sdb_user_find(s, c->user);
    uint32_t p = u ? sdb_user_perm_on(u, name) : 0;
    pthread_mutex_unlock(&s->mu);
    if (p != SDB_PERMISSION_SYSADMIN && p != SDB_PERMISSION_ADMIN)
        return sdb_call_error(c, SDB_GRPC_UNKNOWN, "the database '%s' does not exist or you do not have admin "
                              "permission on this database", name);
    if (r->retentionperiod < 0 || (r->retentionperiod > 0 && r->retentionperiod < MIN_RETENTION_MS))
        return sdb_call_error(c, SDB_GRPC_INVALID_ARGUMENT, "rpc error: code = InvalidArgument desc = illegal "
                              "arguments: invalid retention period for database '%s'. RetentionPeriod should at "
                              "least '24h0m0s' hours", name);
    pthread_mutex_lock(&s->mu);
    sdb_database *d = sdb_db_find(s, name);
    if (!d) { pthread_mutex_unlock(&s->mu); return sdb_call_error(c, SDB_GRPC_UNKNOWN, "database does not exist"); }
    if (!d->loaded) { pthread_mutex_unlock(&s->mu); return sdb_call_error(c, SDB_GRPC_UNKNOWN, "already closed"); }
    d->refs++;   /* stays open while the values are discarded */
    pthread_mutex_unlock(&s->mu);
    uint64_t point = 0;
    int erc = 0;
    int tr = truncate_db(d, r->retentionperiod, &point, &erc);
    sdb_db_release(s, d);
    if (tr == TR_NOT_REACHED) return sdb_call_error(c, SDB_GRPC_UNKNOWN, "retention period has not been reached");
    if (tr == TR_ERROR) return sdb_call_error(c, SDB_GRPC_UNKNOWN, "%s", sealdb_strerror(erc));
    sdb_log("database '%s': values of txs before %" PRIu64 " discarded (TruncateDatabase)", name, point);
    Immudb__Schema__TruncateDatabaseResponse *resp = sdb_call_alloc(c, sizeof *resp);
    if (!resp) return sdb_call_error(c, SDB_GRPC_RESOURCE_EXHAUSTED, "out of memory");
    immudb__schema__truncate_database_response__init(resp);
    resp->database = sdb_call_dup(c, name, strlen(name) + 1);
    return sdb_call_ok(c, &resp->base);
}

#define TICK_MAX 64

void sdb_truncator_tick(sdb_server *s) {
    sdb_database *due[TICK_MAX];
    int64_t ret[TICK_MAX];
    size_t n = 0;
    int64_t now = sdb_unix_ms();
    pthread_mutex_lock(&s->mu);
    for (sdb_database *d = s->dbs; d && n < TICK_MAX; d = d->next) {
        int64_t rp = d->settings.retention_ms, f = d->settings.truncation_freq_ms;
        if (f <= 0) f = 86400000;
        if (!d->loaded || d->deleted || rp <= 0) { d->trunc_retention_ms = 0; continue; }
        /* (re)started by a load or a settings change: the first run is one period later, as immudb's ticker */
        if (d->trunc_retention_ms != rp || d->trunc_freq_ms != f) {
            d->trunc_retention_ms = rp;
            d->trunc_freq_ms = f;
            d->trunc_next_ms = now + f;
            continue;
        }
        if (now < d->trunc_next_ms) continue;
        d->trunc_next_ms = now + f;
        d->refs++;
        ret[n] = rp;
        due[n++] = d;
    }
    pthread_mutex_unlock(&s->mu);
    for (size_t i = 0; i < n; i++) {
        uint64_t point = 0;
        int erc = 0;
        int tr = truncate_db(due[i], ret[i], &point, &erc);
        if (tr == TR_OK)
            sdb_log("database '%s': values of txs before %" PRIu64 " discarded (retention period %" PRId64 " ms)",
                    due[i]->name, point, ret[i]);
        else if (tr == TR_ERROR)
            sdb_log("error: database '%s': truncation failed: %s", due[i]->name, sealdb_strerror(erc));
        sdb_db_release(s, due[i]);
    }
}

#define M(name, req, resp, fn, perm) \
    { "/immudb.schema.ImmuService/" name, &immudb__schema__##req##__descriptor, \
      &immudb__schema__##resp##__descriptor, fn, perm, SDB_STREAM_NONE, NULL }

static const sdb_rpc_method truncate_methods[] = {
    M("TruncateDatabase", truncate_database_request, truncate_database_response, h_truncate_database, SDB_PERM_AUTH),
};

const sdb_rpc_module sdb_truncate_module = {
    "truncate", truncate_methods, sizeof truncate_methods / sizeof truncate_methods[0], NULL, NULL, NULL,
};
