/* rpc.h - the server's RPC dispatch contract: method tables, the per-call context handed to
 * handlers, completion (synchronous or later from any thread), gRPC status codes and the chunk
 * framing helpers of the streaming RPCs. Handlers never see gRPC itself (grpc_server.c does). */
#ifndef SDB_RPC_H
#define SDB_RPC_H

#include <stdarg.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>
#include "util/util.h"
#include "crypto/crypto.h"

/* gRPC status codes (same numbers as grpc_status_code). */
typedef enum sdb_grpc_code {
    SDB_GRPC_OK = 0, SDB_GRPC_CANCELLED = 1, SDB_GRPC_UNKNOWN = 2, SDB_GRPC_INVALID_ARGUMENT = 3,
    SDB_GRPC_DEADLINE_EXCEEDED = 4, SDB_GRPC_NOT_FOUND = 5, SDB_GRPC_ALREADY_EXISTS = 6,
    SDB_GRPC_PERMISSION_DENIED = 7, SDB_GRPC_RESOURCE_EXHAUSTED = 8, SDB_GRPC_FAILED_PRECONDITION = 9,
    SDB_GRPC_ABORTED = 10, SDB_GRPC_OUT_OF_RANGE = 11, SDB_GRPC_UNIMPLEMENTED = 12,
    SDB_GRPC_INTERNAL = 13, SDB_GRPC_UNAVAILABLE = 14, SDB_GRPC_DATA_LOSS = 15,
    SDB_GRPC_UNAUTHENTICATED = 16
} sdb_grpc_code;

/* What a method needs before its handler runs (docs/api.md 1.8). The dispatcher checks it and
 * answers immudb's exact errors itself; a handler only runs when the check passed. */
typedef enum sdb_rpc_perm {
    SDB_PERM_NONE = 0,     /* no credentials (Login, OpenSession, Health, ServerInfo) */
    SDB_PERM_AUTH,         /* a logged-in user or session; no database needed */
    SDB_PERM_READ,         /* R, RW, admin or sysadmin on the selected database */
    SDB_PERM_READWRITE,    /* RW, admin or sysadmin on the selected database; refused on systemdb */
    SDB_PERM_ADMIN,        /* admin or sysadmin on the selected database */
    SDB_PERM_SYSADMIN      /* the sysadmin user */
} sdb_rpc_perm;

/* Stored permission values per (user, database). */
#define SDB_PERMISSION_NONE     0u
#define SDB_PERMISSION_R        1u
#define SDB_PERMISSION_RW       2u
#define SDB_PERMISSION_ADMIN    254u
#define SDB_PERMISSION_SYSADMIN 255u

typedef enum sdb_rpc_stream {
    SDB_STREAM_NONE = 0,   /* unary: one request message, one response message */
    SDB_STREAM_SERVER,     /* one request message, handler sends Chunks with sdb_call_send_* */
    SDB_STREAM_CLIENT,     /* handler reads Chunks with sdb_call_recv_*, answers one message */
    SDB_STREAM_BIDI        /* plain messages both ways, overlapping: the handler runs sdb_call_bidi_* */
} sdb_rpc_stream;

typedef struct sdb_call sdb_call;
typedef struct sdb_server sdb_server;
typedef struct sdb_database sdb_database;

/* Handler results. */
#define SDB_CALL_DONE    0   /* the handler called sdb_call_ok / sdb_call_error (exactly once) */
#define SDB_CALL_PENDING 1   /* the handler (or a callback it arranged) calls sdb_call_complete later */
#define SDB_CALL_DECLINED 2  /* a raw handler left the request alone: decode it and call the handler */

/* req is the decoded request (NULL for SDB_STREAM_CLIENT methods); it and everything the handler
 * allocates with sdb_call_alloc live until the call is answered. */
typedef int (*sdb_rpc_handler)(sdb_call *call, const ProtobufCMessage *req);
/* An optional fast path given the request's wire bytes (valid only while it runs) and the item cap
 * (docs/security-requests.md): answers as a handler does, or declines before answering anything;
 * it must decline a request past the cap (the generic path refuses it). */
typedef int (*sdb_rpc_raw_handler)(sdb_call *call, sdb_slice req, size_t item_cap);

typedef struct sdb_rpc_method {
    const char *path;                               /* "/immudb.schema.ImmuService/Get" */
    const ProtobufCMessageDescriptor *req_desc;     /* request type; NULL for client streams */
    const ProtobufCMessageDescriptor *resp_desc;    /* response type; NULL for server streams */
    sdb_rpc_handler handler;
    sdb_rpc_perm perm;
    sdb_rpc_stream stream;
    sdb_rpc_raw_handler raw;                        /* NULL: always decode; unary methods only */
} sdb_rpc_method;

/* A module plugs a method table and per-database hooks into the server (see src/rpc/methods.c,
 * which lists every module; add yours there). Hooks may be NULL. */
typedef struct sdb_rpc_module {
    const char *name;
    const sdb_rpc_method *methods;
    size_t n_methods;
    /* A database is being loaded (server start, CreateDatabase, LoadDatabase): open its storage in
     * dir (created empty if missing) and attach it with sdb_database_set_impl. */
    int  (*db_open)(sdb_database *d, const char *dir);
    /* The database is unloaded or the server stops: every call using it has finished. */
    void (*db_close)(sdb_database *d);
    /* Last committed tx id and its Alh (ServerInfo, DatabaseList, metrics). */
    int  (*db_state)(sdb_database *d, uint64_t *tx_id, uint8_t alh[32]);
} sdb_rpc_module;

/* ---- database handle (catalog entry owned by the server) ---- */
typedef struct sdb_db_settings {       /* the effective values that matter for KV semantics */
    uint32_t max_key_len;              /* 1024 (prefixed key) */
    uint32_t max_value_len;            /* 33554432 (prefixed value) */
    uint32_t max_tx_entries;           /* 1024 */
    uint32_t file_size;
    int exclude_commit_time;
    int autoload;
    int synced;                        /* server --synced: fsync at commit */
    int64_t retention_ms;              /* truncationSettings.retentionPeriod (0: no truncator) */
    int64_t truncation_freq_ms;        /* truncationSettings.truncationFrequency (24 h) */
    int replica;                       /* replicationSettings.replica: client writes refused */
    int repl_follow;                   /* a replica with primary coordinates: runs a replicator */
    int sync_repl;                     /* replicationSettings.syncReplication */
    uint32_t sync_acks;                /* replicationSettings.syncAcks (a sync primary: > 0) */
    int64_t sync_freq_ms;              /* syncFrequency: a sync replica's heartbeat wait is 4x this */
} sdb_db_settings;

const char *sdb_database_name(const sdb_database *d);
const sdb_db_settings *sdb_database_settings(const sdb_database *d);
void *sdb_database_impl(const sdb_database *d);
void  sdb_database_set_impl(sdb_database *d, void *impl);
int   sdb_database_is_system(const sdb_database *d);   /* systemdb: refuse writes */

/* ---- the per-call context ---- */
sdb_arena *sdb_call_arena(sdb_call *call);
void *sdb_call_alloc(sdb_call *call, size_t n);                  /* zeroed, NULL on OOM */
void *sdb_call_dup(sdb_call *call, const void *p, size_t n);
/* ProtobufCAllocator backed by the call's arena (free is a no-op), for protobuf_c unpack/pack. */
ProtobufCAllocator *sdb_call_pb_allocator(sdb_call *call);
sdb_server *sdb_call_server(sdb_call *call);
const sdb_rpc_method *sdb_call_method(sdb_call *call);
/* The selected database (non-NULL for READ / READWRITE / ADMIN methods; may be NULL otherwise). The
 * dispatcher holds a reference: the database stays loaded until the call completes. */
sdb_database *sdb_call_db(sdb_call *call);
/* Authenticated user name, NULL for SDB_PERM_NONE calls made without credentials. */
const char *sdb_call_user(sdb_call *call);
/* Permission of the caller on the selected database (SDB_PERMISSION_*). */
uint32_t sdb_call_user_permission(sdb_call *call);
/* Request metadata value (key lower case), NUL-terminated copy in the arena; NULL when absent. */
const char *sdb_call_metadata(sdb_call *call, const char *key);
const char *sdb_call_peer(sdb_call *call);                       /* "ipv4:127.0.0.1:5555" or "" */
/* Server-wide state handlers may need. */
const sdb_signer *sdb_server_signer(const sdb_server *s);        /* NULL: no --signingKey */
const char *sdb_server_uuid(const sdb_server *s);

/* ---- answering ----
 * Synchronous: return sdb_call_ok(call, resp) or sdb_call_error(...) from the handler. resp must be
 * of the method's resp_desc type and stay valid until the handler returns (arena memory is fine).
 * The message is the exact status message clients see (docs/api.md 0.1). */
int sdb_call_ok(sdb_call *call, const ProtobufCMessage *resp);
/* Same with the response message already packed: len bytes in the call's arena (or static memory),
 * which the transport may send from without copying. */
int sdb_call_ok_packed(sdb_call *call, const uint8_t *resp, size_t len);
int sdb_call_error(sdb_call *call, sdb_grpc_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* An immudb coded error (docs/api.md 0.1): status (code, msg) plus the status details ErrorInfo{err_code,
 * cause} and RetryInfo{0} in the grpc-status-details-bin trailer, which the Go SDK reads. err_code is
 * the SQLSTATE-like string ("08004", "23000", ...; a static string); cause is the underlying error's
 * text for errors immudb wraps, NULL when it is msg itself. err_code NULL: a plain error. */
int sdb_call_error_info(sdb_call *call, sdb_grpc_code code, const char *err_code, const char *cause, const char *msg);
/* Asynchronous: after the handler returned SDB_CALL_PENDING, exactly one call of this, from any
 * thread (e.g. the engine's commit callback). code OK sends resp; otherwise msg. The call and its
 * arena are released inside; do not touch the call afterwards. */
void sdb_call_complete(sdb_call *call, sdb_grpc_code code, const char *msg, const ProtobufCMessage *resp);
/* For a pending call: runs fn(call, arg) soon on one of the transport's worker threads, so work that
 * follows a commit (proofs, the answer) neither runs on the engine's committer thread nor parks a
 * worker on the fsync. Returns SEALDB_OK, or an error when the transport cannot (then do it here). */
int sdb_call_defer(sdb_call *call, void (*fn)(sdb_call *call, void *arg), void *arg);

/* ---- streams (docs/api.md 4.1) ----
 * Server streams: every logical message starts a new Chunk; sdb_call_send_msg splits it into
 * [8-byte BE length + first bytes] then 64 KiB pieces. Blocks until gRPC accepted each Chunk. */
#define SDB_STREAM_CHUNK_SIZE 65536u
int sdb_call_send_msg(sdb_call *call, const void *p, size_t n);
/* Same, with md (already encoded Chunk fields, e.g. metadata #2 map entries) appended to the
 * message's first chunk. */
int sdb_call_send_msg_md(sdb_call *call, const void *p, size_t n, const uint8_t *md, size_t md_len);
/* Already framed stream bytes (several u64(L) || P messages) as chunk contents of 64 KiB, md on the
 * first: for peers that read the stream as bytes (sealdb's own replicas), not one chunk per message. */
int sdb_call_send_bytes_md(sdb_call *call, const void *p, size_t n, const uint8_t *md, size_t md_len);
int sdb_call_send_u64(sdb_call *call, uint64_t v);
/* Adds trailing metadata to the call's successful answer (a "-bin" key carries raw bytes; at most 3;
 * copied). Transports without trailers ignore it. */
int sdb_call_add_trailer(sdb_call *call, const char *key, const void *v, size_t n);               /* 8-byte message holding BE v */
int sdb_call_send_pb(sdb_call *call, const ProtobufCMessage *m); /* serialized message */
/* Client streams: the concatenated Chunk contents are one byte stream of [len][bytes] messages.
 * Reads the next message (up to max_len bytes, else SEALDB_TOOLARGE) into *out (arena memory);
 * *eof = 1 at a clean end of stream (no partial message). Truncated input -> SEALDB_PROTOCOL. */
int sdb_call_recv_msg(sdb_call *call, size_t max_len, sdb_slice *out, int *eof);

/* ---- bidirectional streams (SDB_STREAM_BIDI: sealdb's own methods, not immudb's Chunk framing) ----
 * The handler runs on its own thread. A receive and a send may be pending at the same time (at most
 * one of each); each completion calls ev(arg, kind, ok) on a transport thread, or on the starting
 * thread before the start returns, so ev must only record and wake, and the handler must not hold
 * a lock ev takes while starting. The handler ends the call as any other (sdb_call_ok / error) once
 * nothing is pending. */
#define SDB_BIDI_RECV 1
#define SDB_BIDI_SEND 2
void sdb_call_bidi_begin(sdb_call *call, void (*ev)(void *arg, int kind, int ok), void *arg);
int  sdb_call_bidi_recv(sdb_call *call);                            /* receive the next message */
/* After a RECV completion with ok: the message (valid until the next receive starts), or *eof = 1
 * when the client closed its side. */
int  sdb_call_bidi_take(sdb_call *call, sdb_slice *msg, int *eof);
int  sdb_call_bidi_send(sdb_call *call, const uint8_t *p, size_t n); /* one message (copied) */
/* Cancels the call with (code, msg) so that a pending receive completes (then end the call as usual). */
void sdb_call_bidi_cancel(sdb_call *call, sdb_grpc_code code, const char *msg);
/* Decodes a request message of type d with the dispatcher's checks (item cap, malformed bytes, NUL
 * in a string) into memory from al; 0, else -1 with the status to answer in *code and *msg. */
int  sdb_call_decode(sdb_call *call, const ProtobufCMessageDescriptor *d, sdb_slice req, ProtobufCAllocator *al,
                     ProtobufCMessage **out, sdb_grpc_code *code, char *msg, size_t msg_cap);

#endif
