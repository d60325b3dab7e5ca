/* client_int.h - internals shared by the files of libsealdb-client: the handle, the generic
 * protobuf call helper, error mapping from gRPC statuses, and protobuf <-> public struct converters. */
#ifndef SDB_CLIENT_INT_H
#define SDB_CLIENT_INT_H

#include "sealdb_client.h"
#include "client/rpc.h"
#include "crypto/crypto.h"
#include "util/util.h"
#include "schema.pb-c.h"

#define SDB_SVC "/immudb.schema.ImmuService/"

typedef struct sdb_mem_state { char uuid[64]; sealdb_state st; } sdb_mem_state;

struct sealdb_client {
    sdb_rpc_conn *conn;
    int timeout_ms;
    char *token;                  /* NULL when not logged in with a token */
    char *session_id;             /* NULL when no session */
    char db[129];                 /* selected database */
    char server_uuid[64];
    char server_version[32];      /* sealdb-version header of the last answer, "" from immudb */
    char errmsg[1024];
    int grpc_code;
    char *state_path;             /* NULL: states kept in memory only */
    sdb_mem_state *mem; size_t nmem;
    sdb_verifier *verifier;       /* NULL: signatures not required */
    sdb_buf req, resp;            /* reused per call */
};

/* Records a local error message; returns rc. */
int sdb_cl_fail(sealdb_client *c, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Maps a gRPC status (code, message) to a sealdb status code. */
int sdb_cl_map_status(int grpc_code, const char *msg);

/* Unary call: packs req, calls method, unpacks into *resp (free with protobuf_c_message_free_unpacked;
 * resp_desc NULL = ignore the answer). */
int sdb_cl_call(sealdb_client *c, const char *method, const ProtobufCMessage *req,
                const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp);
/* The same call in two halves: start it (the request is copied), later wait for its answer. A
 * started call (*out set) must be waited for even when start returned an error. */
int sdb_cl_call_start(sealdb_client *c, const char *method, const ProtobufCMessage *req, sdb_rpc_pending **out);
int sdb_cl_call_wait(sealdb_client *c, sdb_rpc_pending *p, const char *method,
                     const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp);
/* Unary call with an empty request message. */
int sdb_cl_call_empty(sealdb_client *c, const char *method, const ProtobufCMessageDescriptor *resp_desc,
                      ProtobufCMessage **resp);
/* Authentication metadata for the current handle (0..1 pairs). */
size_t sdb_cl_auth_md(const sealdb_client *c, sdb_rpc_md md[2]);
/* Stores the transport status of a finished call in the handle; returns the mapped code. */
int sdb_cl_take_status(sealdb_client *c, int rc, sdb_rpc_status *st);
/* Makes sure the server id is known (one Health call when not). */
int sdb_cl_ensure_uuid(sealdb_client *c);

/* Trusted state of the selected db: load (NOTFOUND when none) and store (monotonic). */
int sdb_cl_state_get(sealdb_client *c, sealdb_state *out);
int sdb_cl_state_put(sealdb_client *c, const sealdb_state *st);

/* ---- converters (convert.c) ---- */
void sdb_cl_meta_from_pb(const Immudb__Schema__KVMetadata *m, sealdb_kv_meta *out);
/* Fills a public entry from a protobuf Entry (copies bytes). */
int  sdb_cl_entry_from_pb(const Immudb__Schema__Entry *e, sealdb_entry *out);
void sdb_cl_entry_deinit(sealdb_entry *e);
int  sdb_cl_tx_header_from_pb(const Immudb__Schema__TxHeader *h, sealdb_tx_header *out);
int  sdb_cl_tx_from_pb(const Immudb__Schema__Tx *t, sealdb_tx *out);
void sdb_cl_tx_deinit(sealdb_tx *t);
/* protobuf -> crypto structs (strict: digests must be exactly 32 bytes). */
int  sdb_cl_crypto_header(const Immudb__Schema__TxHeader *h, sdb_tx_header *out);
int  sdb_cl_crypto_dual_proof(const Immudb__Schema__DualProof *p, sdb_dual_proof *out);
int  sdb_cl_crypto_hashes(ProtobufCBinaryData *terms, size_t n, sdb_hashes *out);
/* Encoded KV metadata (docs/format.md 1.1) of a protobuf KVMetadata (NULL = none). */
int  sdb_cl_md_bytes(const Immudb__Schema__KVMetadata *m, uint8_t out[SDB_KV_MD_MAX_LEN], size_t *len);


/* ---- request builders shared by plain, verified and ExecAll writes (kv.c) ---- */
/* Reference key -> referenced key (bound to at_tx when bound). */
void sdb_cl_ref_request(Immudb__Schema__ReferenceRequest *r, const void *key, size_t key_len,
                        const void *referenced, size_t referenced_len, uint64_t at_tx, int bound);
/* Member key of a sorted set with its score (bound to at_tx when bound). */
void sdb_cl_zadd_request(Immudb__Schema__ZAddRequest *z, const void *set, size_t set_len, double score,
                         const void *key, size_t key_len, uint64_t at_tx, int bound);

/* Builds the ExecAllRequest of ops and pre and hands it to sink (the unary call, a pipelined start, a
 * txstream send); returns sink's result, or SEALDB_INVALID / SEALDB_NOMEM with the message set. */
typedef int (*sdb_cl_req_sink)(sealdb_client *c, const ProtobufCMessage *req, void *arg);
int sdb_cl_exec_all_req(sealdb_client *c, const sealdb_op *ops, size_t n, const sealdb_precondition *pre,
                        size_t npre, sdb_cl_req_sink sink, void *arg);

/* ---- answer checkers (verify.c): protobuf answer -> src/crypto verification, no I/O ---- */
enum { SDB_CL_W_SET = 1, SDB_CL_W_REF = 2, SDB_CL_W_ZADD = 3 };
/* SET: key/value; REF: key = reference key, value = referenced key; ZADD: key = member, value = set. */
int sdb_cl_check_write(const Immudb__Schema__VerifiableTx *vt, int kind, sdb_slice db, const sdb_verifier *verifier,
                       const sdb_vstate *trusted, sdb_slice key, sdb_slice value, double score, uint64_t at_tx,
                       sdb_vstate *ns);
int sdb_cl_check_get(const Immudb__Schema__VerifiableEntry *ve, sdb_slice db, const sdb_verifier *verifier,
                     const sdb_vstate *trusted, sdb_slice key, uint64_t at_tx, sdb_vstate *ns);
int sdb_cl_check_tx(const Immudb__Schema__VerifiableTx *vt, sdb_slice db, const sdb_verifier *verifier,
                    const sdb_vstate *trusted, uint64_t tx, sdb_vstate *ns);

#endif
