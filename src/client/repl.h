/* repl.h - the client side of immudb's replication RPCs (docs/replication.md 2-4, 7), for the
 * server's replicator and the `seal backup` / `seal restore` commands: export one tx of the
 * selected database as its payload, and replicate a payload into it. Not part of the public API. */
#ifndef SDB_CLIENT_REPL_H
#define SDB_CLIENT_REPL_H

#include "sealdb_client.h"
#include "util/util.h"
#include "crypto/crypto.h"

/* exportTx{tx, skipIntegrityCheck}: the exported message's payload P (without its u64 length) in
 * *payload (reset first), at most max_len bytes. Server errors: the mapped status, with the
 * server's message in sealdb_client_errmsg (immudb's caught-up answer is "EOF"). */
int sdb_cl_export_tx(sealdb_client *c, uint64_t tx, int skip_integrity, uint64_t max_len, sdb_buf *payload);
/* exportTx with the options of a replicator (replication.md 4-6): a replicaState for a sync
 * primary (then the first chunk's metadata is decoded into the result), allowPreCommitted, and
 * sealdb's own request metadata, ignored by immudb: sealdb-export-batch (several txs in one
 * answer) and sealdb-export-wait-ms (a committed-only request waits that long for the tx). */
typedef struct sdb_cl_replica_state {
    const char *uuid;
    uint64_t committed_id, pre_id;
    uint8_t committed_alh[SDB_HASH_LEN], pre_alh[SDB_HASH_LEN];
} sdb_cl_replica_state;

typedef struct sdb_cl_export_req {
    uint64_t tx;
    int skip_integrity, allow_precommitted;
    const sdb_cl_replica_state *state;   /* NULL: asynchronous */
    uint32_t batch;                      /* > 1: ask a sealdb primary for up to this many txs */
    uint32_t wait_ms;                    /* > 0: ask a sealdb primary to long-poll */
} sdb_cl_export_req;

typedef struct sdb_cl_export_res {
    sdb_buf data;                        /* the payloads, back to back */
    size_t *off, *len, n, cap;           /* one per message; len 0: the sync heartbeat */
    int has_md;                          /* the three keys of 5.3 came, with lengths 8/32/8 */
    uint64_t may_commit_id, committed_id;
    uint8_t may_commit_alh[SDB_HASH_LEN];
} sdb_cl_export_res;
void sdb_cl_export_res_init(sdb_cl_export_res *r);
void sdb_cl_export_res_deinit(sdb_cl_export_res *r);
int sdb_cl_export_txs(sealdb_client *c, const sdb_cl_export_req *r, uint64_t max_len, sdb_cl_export_res *out);
/* replicateTx: streams u64(len P) || P in 64 KiB chunks; *hdr gets the answered header.
 * expect_alh (may be NULL) is sent as sealdb-expected-alh: a sealdb server checks it before
 * committing (immudb ignores it). */
int sdb_cl_replicate_tx(sealdb_client *c, sdb_slice payload, const uint8_t *expect_alh, sdb_tx_header *hdr);
/* Creates database name as a manual replica (create = 1; replicationSettings{replica: true}), or
 * switches an existing one's replica mode (UpdateDatabaseV2). */
int sdb_cl_set_replica(sealdb_client *c, const char *name, int replica, int create);
/* The gRPC code and message of the last answer (for matching immudb's texts). */
int sdb_cl_last_grpc_code(const sealdb_client *c);

#endif
