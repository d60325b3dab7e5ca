/* repl.h - the replication module (handlers_repl.c): exportTx / replicateTx and one replicator
 * thread per replica database that has primary coordinates (docs/replication.md). */
#ifndef SDB_RPC_REPL_H
#define SDB_RPC_REPL_H

#include "rpc/server.h"

extern const sdb_rpc_module sdb_repl_module;

/* The replication settings of d changed (UpdateDatabaseV2/UpdateDatabase): stops its replicator
 * and starts a new one when d is (still) a following replica. Call without s->mu held. */
void sdb_repl_settings_changed(sdb_server *s, sdb_database *d);

/* This server's identifier, the UUID its sync replicas report (set before databases load). */
void sdb_repl_set_uuid(const char *uuid);
/* The server whose databases a discard (allowTxDiscarding) reopens (set before databases load). */
void sdb_repl_set_server(sdb_server *s);
/* Server shutdown: every held answer of a sync primary is released with an error (its tx is
 * durable but not acknowledged), so the calls in flight can finish. */
void sdb_repl_shutdown(sdb_server *s);
/* The same for one database being unloaded (its calls in flight hold it open until they end). */
void sdb_repl_release_waiting(sdb_database *d);

/* Replication status of d for health and metrics: 1 when a replicator runs; *last_error gets
 * the reason it stopped ("" when none); *diverged 1 when that reason is a divergence. */
typedef struct sdb_repl_status {
    int running;
    int diverged;
    uint64_t imported;          /* txs imported by the replicator since it started */
    uint64_t failures;          /* failed attempts since it started */
    char last_error[256];
} sdb_repl_status;
int sdb_repl_get_status(const sdb_database *d, sdb_repl_status *out);   /* NOTFOUND: no replicator */
/* A loaded sync primary database (caller holds the server's mu): the writes whose answers wait
 * for replica acks now, and the replica states that acked new txs since it was opened. 0 when d is
 * not a sync primary. */
int sdb_repl_sync_primary_stats(const sdb_database *d, uint64_t *waiting, uint64_t *acks);
/* Total divergences detected by every replicator of this process (metric). */
uint64_t sdb_repl_divergences(void);

#endif
