/* metrics.c - sealdb-cdc's Prometheus endpoint (libmicrohttpd): /metrics with rows, transactions,
 * the last recorded LSN and the lag behind PostgreSQL in bytes and seconds; /livez. */
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cdc/daemon.h"
#include "util/net.h"

static struct MHD_Daemon *mhd;
static pthread_mutex_t rate_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t rate_rows; static int64_t rate_at_us; static double rate_val;

static int64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_len, void **ctx) {
    if (*upload_len) { *upload_len = 0; return MHD_YES; }
    char *body = NULL;
    unsigned code = 200;
    if (!strcmp(url, "/metrics")) {
        uint64_t rows = atomic_load(&cdc_st.rows), last = atomic_load(&cdc_st.last_lsn);
        uint64_t srv = atomic_load(&cdc_st.server_lsn);
        int64_t now = now_us(), commit = atomic_load(&cdc_st.last_commit_us);
        int64_t rec = atomic_load(&cdc_st.last_recorded_us);
        /* rows/s over the time since the previous scrape (at least one second apart) */
        pthread_mutex_lock(&rate_mu);
        if (rate_at_us == 0) { rate_at_us = now; rate_rows = rows; }
        else if (now - rate_at_us >= 1000000) {
            rate_val = (double)(rows - rate_rows) * 1e6 / (double)(now - rate_at_us);
            rate_at_us = now; rate_rows = rows;
        }
        double rate = rate_val;
        pthread_mutex_unlock(&rate_mu);
        uint64_t lag_b = srv > last ? srv - last : 0;
        /* seconds: how old the last recorded commit was when recorded, or is now if WAL waits */
        double lag_s = commit ? (double)(rec - commit) / 1e6 : 0;
        if (lag_b && commit) lag_s = (double)(now - commit) / 1e6;
        if (lag_s < 0) lag_s = 0;
        if (asprintf(&body,
            "# HELP sealdb_cdc_rows_total Row versions recorded in sealdb.\n# TYPE sealdb_cdc_rows_total counter\n"
            "sealdb_cdc_rows_total %llu\n"
            "# HELP sealdb_cdc_rows_per_second Rows recorded per second since the previous scrape.\n"
            "# TYPE sealdb_cdc_rows_per_second gauge\nsealdb_cdc_rows_per_second %.1f\n"
            "# HELP sealdb_cdc_pg_transactions_total PostgreSQL transactions recorded.\n"
            "# TYPE sealdb_cdc_pg_transactions_total counter\nsealdb_cdc_pg_transactions_total %llu\n"
            "# HELP sealdb_cdc_sealdb_transactions_total sealdb transactions written.\n"
            "# TYPE sealdb_cdc_sealdb_transactions_total counter\nsealdb_cdc_sealdb_transactions_total %llu\n"
            "# HELP sealdb_cdc_last_lsn End LSN of the last PostgreSQL transaction recorded.\n"
            "# TYPE sealdb_cdc_last_lsn gauge\nsealdb_cdc_last_lsn %llu\n"
            "# HELP sealdb_cdc_lag_bytes WAL bytes PostgreSQL has sent beyond the last recorded transaction.\n"
            "# TYPE sealdb_cdc_lag_bytes gauge\nsealdb_cdc_lag_bytes %llu\n"
            "# HELP sealdb_cdc_lag_seconds Age of the last recorded commit (when recorded, or now while behind).\n"
            "# TYPE sealdb_cdc_lag_seconds gauge\nsealdb_cdc_lag_seconds %.3f\n"
            "# HELP sealdb_cdc_reconnects_total Sessions restarted after an error.\n"
            "# TYPE sealdb_cdc_reconnects_total counter\nsealdb_cdc_reconnects_total %llu\n"
            "# HELP sealdb_cdc_reorders_total Pipelined transactions that reached sealdb before their predecessor "
            "and were sent again.\n"
            "# TYPE sealdb_cdc_reorders_total counter\nsealdb_cdc_reorders_total %llu\n"
            "# HELP sealdb_cdc_status_updates_total Standby status updates sent to PostgreSQL.\n"
            "# TYPE sealdb_cdc_status_updates_total counter\nsealdb_cdc_status_updates_total %llu\n"
            "# HELP sealdb_cdc_inflight_transactions Pipelined transactions sent or held back, not yet recorded.\n"
            "# TYPE sealdb_cdc_inflight_transactions gauge\nsealdb_cdc_inflight_transactions %llu\n"
            "# HELP sealdb_cdc_inflight_bytes Key and value bytes of those transactions.\n"
            "# TYPE sealdb_cdc_inflight_bytes gauge\nsealdb_cdc_inflight_bytes %llu\n"
            "# HELP sealdb_cdc_inflight_bytes_max Peak of sealdb_cdc_inflight_bytes since start.\n"
            "# TYPE sealdb_cdc_inflight_bytes_max gauge\nsealdb_cdc_inflight_bytes_max %llu\n"
            "# HELP sealdb_cdc_connected 1 while following the slot.\n"
            "# TYPE sealdb_cdc_connected gauge\nsealdb_cdc_connected %d\n",
            (unsigned long long)rows, rate, (unsigned long long)atomic_load(&cdc_st.pg_txs),
            (unsigned long long)atomic_load(&cdc_st.sealdb_txs), (unsigned long long)last,
            (unsigned long long)lag_b, lag_s, (unsigned long long)atomic_load(&cdc_st.reconnects),
            (unsigned long long)atomic_load(&cdc_st.reorders),
            (unsigned long long)atomic_load(&cdc_st.status_updates),
            (unsigned long long)atomic_load(&cdc_st.inflight_txs), (unsigned long long)atomic_load(&cdc_st.inflight_bytes),
            (unsigned long long)atomic_load(&cdc_st.inflight_bytes_max), (int)atomic_load(&cdc_st.connected)) < 0) return MHD_NO;
    } else if (!strcmp(url, "/livez")) {
        body = strdup("ok\n");
    } else {
        code = 404;
        body = strdup("not found\n");
    }
    if (!body) return MHD_NO;
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!r) { free(body); return MHD_NO; }
    MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4");
    enum MHD_Result ret = MHD_queue_response(conn, code, r);
    MHD_destroy_response(r);
    return ret;
}

int cdc_metrics_start(const char *addr, int port) {
    struct addrinfo *ai = NULL;
    if (sdb_resolve_listen(addr, port, &ai)) return SEALDB_IO;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    mhd = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, handle, NULL, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                           MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    freeaddrinfo(ai);
    return mhd ? SEALDB_OK : SEALDB_IO;
}

void cdc_metrics_stop(void) {
    if (mhd) MHD_stop_daemon(mhd);
    mhd = NULL;
}
