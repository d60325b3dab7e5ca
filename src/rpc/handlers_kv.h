/* handlers_kv.h - the KV module (unary and streaming key-value RPCs) and the helpers the KV handler
 * files share. */
#ifndef SDB_RPC_HANDLERS_KV_H
#define SDB_RPC_HANDLERS_KV_H

#include "rpc/rpc.h"
#include "db/kv.h"

extern const sdb_rpc_module sdb_kv_module;
extern const sdb_rpc_method sdb_kv_methods[];
extern const size_t sdb_kv_n_methods;

sdb_kvdb *sdb_kv_call_db(sdb_call *c);
int sdb_kv_fail(sdb_call *c, const sdb_kverr *e);   /* answers the error, returns SDB_CALL_DONE */
/* Commits b synchronously and answers a VerifiableTx proving it from prove_since. */
int sdb_kv_verified_commit(sdb_call *c, sdb_kvdb *db, const sdb_kv_batch *b, uint64_t prove_since, int no_wait);

/* streaming handlers (handlers_kv_stream.c) */
int sdb_kv_h_stream_get(sdb_call *c, const ProtobufCMessage *req);
int sdb_kv_h_stream_verifiable_get(sdb_call *c, const ProtobufCMessage *req);
int sdb_kv_h_stream_scan(sdb_call *c, const ProtobufCMessage *req);
int sdb_kv_h_stream_history(sdb_call *c, const ProtobufCMessage *req);
int sdb_kv_h_stream_zscan(sdb_call *c, const ProtobufCMessage *req);
int sdb_kv_h_stream_set(sdb_call *c, const ProtobufCMessage *req);
int sdb_kv_h_stream_verifiable_set(sdb_call *c, const ProtobufCMessage *req);
int sdb_kv_h_stream_exec_all(sdb_call *c, const ProtobufCMessage *req);
/* sealdb's ExecAllStream (handlers_kv_txstream.c) */
int sdb_kv_h_exec_all_stream(sdb_call *c, const ProtobufCMessage *req);
int sdb_kv_h_exec_all_batch_stream(sdb_call *c, const ProtobufCMessage *req);

#endif
