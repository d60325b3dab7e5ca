/* rpc.h - the client's transport layer: unary, server-streaming and client-streaming gRPC calls on
 * serialized protobuf bytes. grpc_client.c is the only file that touches the gRPC C core; the rest of
 * the client sees only these functions, so it can be tested and fuzzed without a network. */
#ifndef SDB_CLIENT_RPC_H
#define SDB_CLIENT_RPC_H

#include <stdint.h>
#include "util/util.h"

typedef struct sdb_rpc_conn sdb_rpc_conn;

typedef struct sdb_rpc_opts {
    const char *target;           /* "host:port" */
    int tls;
    sdb_slice ca_pem, cert_pem, key_pem;   /* PEM contents (empty = absent) */
    const char *server_name;      /* TLS target name override, may be NULL */
    size_t max_recv_msg_size;
} sdb_rpc_opts;

/* One metadata pair sent with a call (keys lower case). */
typedef struct sdb_rpc_md { const char *key; const char *val; } sdb_rpc_md;

/* Outcome of a call. grpc_code 0 = OK. msg is the server's status message (owned, may be empty). */
typedef struct sdb_rpc_status {
    int grpc_code;
    sdb_buf msg;                  /* NUL-terminated when len > 0 */
    char server_uuid[64];         /* immudb-uuid header, "" when absent */
    char server_version[32];      /* sealdb-version header, "" when absent (immudb) */
} sdb_rpc_status;

void sdb_rpc_status_init(sdb_rpc_status *st);
void sdb_rpc_status_deinit(sdb_rpc_status *st);

int  sdb_rpc_connect(const sdb_rpc_opts *o, sdb_rpc_conn **out);
void sdb_rpc_close(sdb_rpc_conn *c);   /* NULL is a no-op */

/* Each call returns SEALDB_OK when the transport worked (then st->grpc_code says what the server
 * answered), or a local error (SEALDB_NOMEM, SEALDB_NETWORK...). timeout_ms < 0: no deadline. */
int sdb_rpc_unary(sdb_rpc_conn *c, const char *method, const sdb_rpc_md *md, size_t nmd, sdb_slice req,
                  int timeout_ms, sdb_buf *resp, sdb_rpc_status *st);

/* A unary call started without waiting for its answer, so several can be in flight on one
 * connection (the server may run them in any order). sdb_rpc_unary_wait waits for the answer, fills
 * resp/st as sdb_rpc_unary does and frees p; every started call must be waited for. */
typedef struct sdb_rpc_pending sdb_rpc_pending;
int sdb_rpc_unary_start(sdb_rpc_conn *c, const char *method, const sdb_rpc_md *md, size_t nmd, sdb_slice req,
                        int timeout_ms, sdb_rpc_pending **out);
int sdb_rpc_unary_wait(sdb_rpc_pending *p, sdb_buf *resp, sdb_rpc_status *st);
/* 1 when the answer is here (the wait will not block), 0 when not yet; never blocks. */
int sdb_rpc_unary_ready(sdb_rpc_pending *p);

/* Server streaming: on_msg is called for every response message; a non-OK return cancels the call
 * and is returned. */
typedef int (*sdb_rpc_on_msg)(void *ctx, sdb_slice msg);
int sdb_rpc_server_stream(sdb_rpc_conn *c, const char *method, const sdb_rpc_md *md, size_t nmd,
                          sdb_slice req, int timeout_ms, sdb_rpc_on_msg on_msg, void *ctx,
                          sdb_rpc_status *st);

/* Client streaming: next fills *msg with the next request message (valid until the next call) and
 * sets *done = 1 at the end (msg ignored then); a non-OK return cancels the call. */
typedef int (*sdb_rpc_next_msg)(void *ctx, sdb_slice *msg, int *done);
int sdb_rpc_client_stream(sdb_rpc_conn *c, const char *method, const sdb_rpc_md *md, size_t nmd,
                          int timeout_ms, sdb_rpc_next_msg next, void *ctx, sdb_buf *resp,
                          sdb_rpc_status *st);

/* Bidirectional streaming, driven by the caller: one send and one receive may be in flight at
 * once. msg reserves room for the next request message (valid until send, which waits for the
 * previous send's completion first); a receive is always pending, so ready tells without blocking
 * whether the next response message or the call's end has arrived. recv returns the next message
 * (*end = 0) or, at the call's end, its status in st (*end = 1); timeout_ms (< 0: none) bounds each
 * wait, after which the call is cancelled with DEADLINE_EXCEEDED. half_close ends the request side;
 * close cancels the call unless its status was received, and frees b. */
typedef struct sdb_rpc_bidi sdb_rpc_bidi;
int  sdb_rpc_bidi_open(sdb_rpc_conn *c, const char *method, const sdb_rpc_md *md, size_t nmd, int timeout_ms,
                       sdb_rpc_bidi **out);
uint8_t *sdb_rpc_bidi_msg(sdb_rpc_bidi *b, size_t len);
int  sdb_rpc_bidi_send(sdb_rpc_bidi *b);
int  sdb_rpc_bidi_ready(sdb_rpc_bidi *b);
int  sdb_rpc_bidi_recv(sdb_rpc_bidi *b, sdb_buf *msg, int *end, sdb_rpc_status *st);
int  sdb_rpc_bidi_half_close(sdb_rpc_bidi *b);
void sdb_rpc_bidi_close(sdb_rpc_bidi *b);

#endif
