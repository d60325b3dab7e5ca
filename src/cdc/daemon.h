/* daemon.h - sealdb-cdc's process parts: configuration, the replication session (stream.c), the
 * metrics shared with the HTTP endpoint (metrics.c). */
#ifndef SDB_CDC_DAEMON_H
#define SDB_CDC_DAEMON_H

#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include "sealdb_client.h"

typedef struct cdc_cfg {
    const char *pg;               /* libpq conninfo (key=value or URI) */
    const char *slot, *publication, *tables;   /* tables: comma list for --create-slot, NULL = all */
    int create_slot;
    int proto;                    /* pgoutput proto_version: 1 or 2 */
    int no_pk_full;               /* tables without a primary key: 0 refuse, 1 keyed by REPLICA IDENTITY FULL */
    const char *sealdb_host; int sealdb_port;
    const char *database, *user, *password;
    int tls; const char *ca, *cert, *key, *server_name;
    const char *prefix;
    size_t max_batch_bytes;       /* bytes of keys+values per sealdb tx */
    uint32_t max_batch_rows;      /* 0 = from the database's max tx entries */
    int status_ms;                /* standby status interval */
    int pipeline;                 /* PostgreSQL txs in flight to sealdb at once (1 = one at a time) */
    int send_window_ms;           /* pipelined txs wait up to this long to be sent together (0 = at once) */
    const char *metrics_addr; int metrics_port;   /* port 0 = off */
    const char *lag_log;          /* optional file: "<end lsn> <pg commit us> <recorded us>" per PG tx */
    int log_level;                /* 0 quiet .. 2 verbose */
} cdc_cfg;

typedef struct cdc_stats {
    atomic_uint_fast64_t rows, pg_txs, sealdb_txs, reconnects, last_lsn, server_lsn;
    atomic_uint_fast64_t reorders;   /* pipelined txs that overtook their predecessor and were sent again */
    atomic_uint_fast64_t status_updates;   /* standby status updates sent to PostgreSQL */
    atomic_uint_fast64_t inflight_txs, inflight_bytes, inflight_bytes_max;   /* the pipeline now; its peak */
    atomic_int_fast64_t last_commit_us, last_recorded_us;   /* unix microseconds */
    atomic_int connected;
} cdc_stats;

extern volatile sig_atomic_t cdc_stop;
extern cdc_stats cdc_st;

/* session result: retry (transient), stop (SIGTERM seen), fatal (configuration or data error) */
enum { CDC_RETRY = 1, CDC_STOPPED = 2, CDC_FATAL = 3 };
/* Runs one session: connects both sides, resumes after the last recorded transaction, follows the
 * slot until an error or cdc_stop; *progress is set when at least one transaction was recorded. */
int cdc_session(const cdc_cfg *cfg, int *progress);

void cdc_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
extern int cdc_log_level;

int cdc_metrics_start(const char *addr, int port);
void cdc_metrics_stop(void);

#endif
