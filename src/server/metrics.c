/* metrics.c - the Prometheus / health HTTP endpoint (libmicrohttpd): /metrics in text exposition
 * format with immudb's metric names plus per-RPC counts and latency histograms, /readyz, /livez,
 * /initz and /version. */
#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include "util/net.h"
#include "server/http.h"
#include "db/kv.h"
#include "rpc/repl.h"

static struct MHD_Daemon *daemon_;
static int histograms = 1;   /* --no-histograms turns the latency histograms off */

void sdb_metrics_set_histograms(int on) { histograms = on; }
static sdb_server *msrv;
static const char *const code_names[17] = {
    "OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound", "AlreadyExists",
    "PermissionDenied", "ResourceExhausted", "FailedPrecondition", "Aborted", "OutOfRange",
    "Unimplemented", "Internal", "Unavailable", "DataLoss", "Unauthenticated" };

static void pf(sdb_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void pf(sdb_buf *b, const char *fmt, ...) {
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n > 0) sdb_buf_append(b, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

#define LBL "grpc_method=\"%s\",grpc_service=\"immudb.schema.ImmuService\",grpc_type=\"%s\""

/* The integrity scrub's figures per loaded database (engine/scrub.c); read by `seal scrub-status`. */
typedef struct scrub_row { char name[129]; sdb_scrub_stats st; } scrub_row;
static void render_scrub(sdb_server *s, sdb_buf *b) {
    scrub_row *rows = NULL;
    size_t n = 0, cap = 0;
    pthread_mutex_lock(&s->mu);
    sdb_database *list[2] = { s->systemdb, s->dbs };
    for (int k = 0; k < 2; k++)
        for (sdb_database *d = list[k]; d; d = k ? d->next : NULL) {
            sdb_kvdb *kv = d->loaded && !d->deleted ? sdb_database_impl(d) : NULL;
            if (!kv) continue;
            if (n == cap) {
                size_t nc = cap ? cap * 2 : 8;
                scrub_row *r = sdb_realloc(rows, nc * sizeof *r);
                if (!r) break;
                rows = r;
                cap = nc;
            }
            snprintf(rows[n].name, sizeof rows[n].name, "%s", d->name);
            sdb_engine_scrub_stats(kv->eng, &rows[n].st);
            n++;
        }
    pthread_mutex_unlock(&s->mu);
#define FAMILY(nm, type, help, fmt, expr) do { \
        pf(b, "# HELP " nm " " help "\n# TYPE " nm " " type "\n"); \
        for (size_t i = 0; i < n; i++) { const sdb_scrub_stats *st = &rows[i].st; \
            pf(b, nm "{db=\"%s\"} " fmt "\n", rows[i].name, expr); } \
    } while (0)
    FAMILY("sealdb_scrub_last_verified_tx", "gauge", "Every tx up to this one was re-verified from the journal in the current or last scrub pass.",
           "%llu", (unsigned long long)st->last_verified_tx);
    FAMILY("sealdb_scrub_failures_total", "counter", "Damaged txs found by the open-time check or the scrub (plain reads of them fail).",
           "%llu", (unsigned long long)st->failures);
    FAMILY("sealdb_scrub_first_damaged_tx", "gauge", "Lowest damaged tx found, 0 when none.",
           "%llu", (unsigned long long)st->first_damaged);
    FAMILY("sealdb_scrub_repaired_total", "counter", "Derived records (tx index, htree) that differed from the journal and were rewritten.",
           "%llu", (unsigned long long)st->repaired);
    FAMILY("sealdb_scrub_passes_total", "counter", "Complete scrub passes.",
           "%llu", (unsigned long long)st->passes);
    FAMILY("sealdb_scrub_last_run_seconds", "gauge", "Duration of the last complete scrub pass.",
           "%.3f", st->last_pass_seconds);
    FAMILY("sealdb_scrub_last_run_timestamp_seconds", "gauge", "Unix time the last scrub pass ended, 0 before the first.",
           "%lld", (long long)st->last_pass_end);
#undef FAMILY
    sdb_free(rows);
}

/* Replicator state per replica database that follows a primary (rpc/handlers_repl.c). */
typedef struct repl_row { char name[129]; sdb_repl_status st; } repl_row;
typedef struct sync_row { char name[129]; uint64_t waiting, acks; } sync_row;
static void render_repl(sdb_server *s, sdb_buf *b) {
    repl_row *rows = NULL;
    sync_row *srows = NULL;
    size_t n = 0, cap = 0, ns = 0, scap = 0;
    pthread_mutex_lock(&s->mu);
    for (sdb_database *d = s->dbs; d; d = d->next) {
        uint64_t w, a;
        if (d->deleted || !sdb_repl_sync_primary_stats(d, &w, &a)) continue;
        if (ns == scap) {
            size_t nc = scap ? scap * 2 : 8;
            sync_row *r = sdb_realloc(srows, nc * sizeof *r);
            if (!r) break;
            srows = r;
            scap = nc;
        }
        snprintf(srows[ns].name, sizeof srows[ns].name, "%s", d->name);
        srows[ns].waiting = w;
        srows[ns++].acks = a;
    }
    for (sdb_database *d = s->dbs; d; d = d->next) {
        sdb_repl_status st;
        if (d->deleted || sdb_repl_get_status(d, &st) != SEALDB_OK) continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 8;
            repl_row *r = sdb_realloc(rows, nc * sizeof *r);
            if (!r) break;
            rows = r;
            cap = nc;
        }
        snprintf(rows[n].name, sizeof rows[n].name, "%s", d->name);
        rows[n++].st = st;
    }
    pthread_mutex_unlock(&s->mu);
    pf(b, "# HELP sealdb_replication_divergences_total Primaries found to diverge from a replica's history (each stopped its replicator).\n"
          "# TYPE sealdb_replication_divergences_total counter\nsealdb_replication_divergences_total %llu\n",
       (unsigned long long)sdb_repl_divergences());
#define FAMILY(nm, type, help, expr) do { \
        pf(b, "# HELP " nm " " help "\n# TYPE " nm " " type "\n"); \
        for (size_t i = 0; i < n; i++) { const sdb_repl_status *st = &rows[i].st; \
            pf(b, nm "{db=\"%s\"} %llu\n", rows[i].name, (unsigned long long)(expr)); } \
    } while (0)
    FAMILY("sealdb_replication_running", "gauge", "1 while the replica database's replicator follows its primary.", st->running);
    FAMILY("sealdb_replication_diverged", "gauge", "1 when the replicator stopped because the primary's history differs.", st->diverged);
    FAMILY("sealdb_replication_imported_txs_total", "counter", "Transactions the replicator imported (verified) since it started.", st->imported);
    FAMILY("sealdb_replication_failures_total", "counter", "Failed attempts (primary unreachable, refused import) since it started.", st->failures);
#undef FAMILY
    /* sync primaries (docs/replication.md 10.2) */
    pf(b, "# HELP sealdb_replication_sync_waiting_writes Writes on a sync primary database whose answers wait for replica acks.\n"
          "# TYPE sealdb_replication_sync_waiting_writes gauge\n");
    for (size_t i = 0; i < ns; i++)
        pf(b, "sealdb_replication_sync_waiting_writes{db=\"%s\"} %llu\n", srows[i].name, (unsigned long long)srows[i].waiting);
    pf(b, "# HELP sealdb_replication_sync_acks_total Replica states that acknowledged new transactions of a sync primary database since it was opened.\n"
          "# TYPE sealdb_replication_sync_acks_total counter\n");
    for (size_t i = 0; i < ns; i++)
        pf(b, "sealdb_replication_sync_acks_total{db=\"%s\"} %llu\n", srows[i].name, (unsigned long long)srows[i].acks);
    sdb_free(srows);
    sdb_free(rows);
}

static void render(sdb_server *s, sdb_buf *b) {
    pf(b, "# HELP immudb_uptime_hours Server uptime in hours.\n# TYPE immudb_uptime_hours counter\n");
    pf(b, "immudb_uptime_hours %.6f\n", (double)(sdb_unix_s() - s->started_at) / 3600.0);
    sdb_db_sizes_refresh(s);
    pthread_mutex_lock(&s->mu);
    int loaded = 0;
    pf(b, "# HELP immudb_number_of_stored_entries Last committed transaction id per database.\n"
          "# TYPE immudb_number_of_stored_entries gauge\n");
    sdb_database *list[2] = { s->systemdb, s->dbs };
    sdb_buf sizes, last;
    sdb_buf_init(&sizes);
    sdb_buf_init(&last);
    for (int k = 0; k < 2; k++) {
        for (sdb_database *d = list[k]; d; d = k ? d->next : NULL) {
            if (d->deleted) continue;
            if (k) loaded++;
            uint64_t tx = 0;
            uint8_t alh[32];
            if (d->loaded) sdb_db_state(s, d, &tx, alh);
            pf(b, "immudb_number_of_stored_entries{db=\"%s\"} %llu\n", d->name, (unsigned long long)tx);
            pf(&last, "immudb_last_committed_trx_id{db=\"%s\"} %llu\n", d->name, (unsigned long long)tx);
            pf(&sizes, "immudb_db_size_bytes{db=\"%s\"} %llu\n", d->name, (unsigned long long)sdb_db_size_of(d->name));
        }
    }
    int sessions = s->n_sessions;
    pthread_mutex_unlock(&s->mu);
    pf(b, "# HELP immudb_db_size_bytes Database size in bytes.\n# TYPE immudb_db_size_bytes gauge\n");
    if (sizes.len) sdb_buf_append(b, sizes.ptr, sizes.len);
    pf(b, "# HELP immudb_last_committed_trx_id Last committed transaction id.\n# TYPE immudb_last_committed_trx_id gauge\n");
    if (last.len) sdb_buf_append(b, last.ptr, last.len);
    sdb_buf_deinit(&sizes);
    sdb_buf_deinit(&last);
    pf(b, "# HELP immudb_loaded_databases Databases in the server's list.\n# TYPE immudb_loaded_databases gauge\n");
    pf(b, "immudb_loaded_databases %d\n", loaded);
    pf(b, "# HELP immudb_active_sessions Open sessions.\n# TYPE immudb_active_sessions gauge\n");
    pf(b, "immudb_active_sessions %d\n", sessions);
    pf(b, "# HELP grpc_server_started_total Total number of RPCs started on the server.\n"
          "# TYPE grpc_server_started_total counter\n");
    static const char *const types[] = { "unary", "server_stream", "client_stream", "bidi_stream" };
    for (size_t i = 0; i < s->n_methods; i++)
        pf(b, "grpc_server_started_total{" LBL "} %llu\n", s->stats[i].name, types[s->methods[i]->stream],
           (unsigned long long)atomic_load(&s->stats[i].started));
    pf(b, "# HELP grpc_server_handled_total Total number of RPCs completed on the server, regardless of success or failure.\n"
          "# TYPE grpc_server_handled_total counter\n");
    for (size_t i = 0; i < s->n_methods; i++)
        for (int code = 0; code < 17; code++) {
            uint64_t v = atomic_load(&s->stats[i].handled[code]);
            if (!v && code) continue;
            pf(b, "grpc_server_handled_total{grpc_code=\"%s\"," LBL "} %llu\n", code_names[code], s->stats[i].name,
               types[s->methods[i]->stream], (unsigned long long)v);
        }
    if (!histograms) goto unknown;
    pf(b, "# HELP grpc_server_handling_seconds Histogram of response latency (seconds) of gRPC that had been "
          "application-level handled by the server.\n# TYPE grpc_server_handling_seconds histogram\n");
    for (size_t i = 0; i < s->n_methods; i++) {
        uint64_t cum = 0;
        const char *nm = s->stats[i].name, *ty = types[s->methods[i]->stream];
        for (int k = 0; k <= SDB_LAT_BUCKETS; k++) {
            cum += atomic_load(&s->stats[i].lat_bucket[k]);
            if (k < SDB_LAT_BUCKETS)
                pf(b, "grpc_server_handling_seconds_bucket{" LBL ",le=\"%g\"} %llu\n", nm, ty, sdb_lat_bucket_s[k],
                   (unsigned long long)cum);
            else
                pf(b, "grpc_server_handling_seconds_bucket{" LBL ",le=\"+Inf\"} %llu\n", nm, ty, (unsigned long long)cum);
        }
        pf(b, "grpc_server_handling_seconds_sum{" LBL "} %.6f\n", nm, ty,
           (double)atomic_load(&s->stats[i].lat_sum_us) / 1e6);
        pf(b, "grpc_server_handling_seconds_count{" LBL "} %llu\n", nm, ty, (unsigned long long)cum);
    }
unknown:
    pf(b, "# HELP sealdb_unknown_method_total Calls of methods the server does not implement.\n"
          "# TYPE sealdb_unknown_method_total counter\n");
    pf(b, "sealdb_unknown_method_total %llu\n", (unsigned long long)atomic_load(&s->n_unknown_method));
    render_scrub(s, b);
    render_repl(s, b);
}

void sdb_metrics_render(sdb_server *s, sdb_buf *b) { render(s, b); }

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned code, const char *type, void *body, size_t len,
                             enum MHD_ResponseMemoryMode mode) {
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
    if (!r) return MHD_NO;
    if (type) MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
    enum MHD_Result ret = MHD_queue_response(conn, code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_len, void **ctx) {
    (void)cls; (void)version; (void)upload; (void)ctx;
    if (*upload_len) { *upload_len = 0; return MHD_YES; }
    if (strcmp(method, "OPTIONS") == 0) return reply(conn, 204, NULL, (void *)"", 0, MHD_RESPMEM_PERSISTENT);
    if (strcmp(url, "/metrics") == 0) {
        sdb_buf b;
        sdb_buf_init(&b);
        render(msrv, &b);
        /* MHD releases MUST_FREE bodies with free(): hand it a plain malloc'd copy */
        size_t n = b.len;
        void *q = malloc(n ? n : 1);
        if (!q) { sdb_buf_deinit(&b); return MHD_NO; }
        if (n) memcpy(q, b.ptr, n);
        sdb_buf_deinit(&b);
        return reply(conn, 200, "text/plain; version=0.0.4", q, n, MHD_RESPMEM_MUST_FREE);
    }
    if (!strcmp(url, "/readyz") || !strcmp(url, "/livez") || !strcmp(url, "/initz"))
        return reply(conn, 200, NULL, (void *)"", 0, MHD_RESPMEM_PERSISTENT);
    if (!strcmp(url, "/version")) {
        static const char v[] = "{\"component\":\"immudb\",\"version\":\"" SDB_SERVER_VERSION
                                "\",\"buildtime\":\"\",\"static\":false,\"fips\":false}";
        return reply(conn, 200, "application/json", (void *)v, sizeof v - 1, MHD_RESPMEM_PERSISTENT);
    }
    static const char nf[] = "not found\n";
    return reply(conn, 404, "text/plain", (void *)nf, sizeof nf - 1, MHD_RESPMEM_PERSISTENT);
}

/* Binds to the gRPC --address (as immudb does), not to every interface. */
int sdb_metrics_start(sdb_server *s, const char *address, int port) {
    msrv = s;
    struct addrinfo *ai = NULL;
    if (sdb_resolve_listen(address, port, &ai)) return SEALDB_IO;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    daemon_ = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, handle, NULL,
                               MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                               MHD_OPTION_EXTERNAL_LOGGER, sdb_log_mhd, NULL,
                               MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    freeaddrinfo(ai);
    return daemon_ ? SEALDB_OK : SEALDB_IO;
}

void sdb_metrics_stop(void) {
    if (daemon_) MHD_stop_daemon(daemon_);
    daemon_ = NULL;
}
