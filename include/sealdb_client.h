/* sealdb_client.h - libsealdb-client: a blocking C client for sealdb and immudb servers (gRPC
 * immudb.schema.ImmuService). Every verified call checks its proofs locally and keeps the trusted
 * state per (server id, database), optionally in a 0600 state file; this header is the manual.
 *
 * Conventions (as in sealdb.h and lmdb.h):
 *  - every fallible call returns an int status from sealdb_err.h; results go to out parameters,
 *    written only on success; heap results are released with the matching _free (NULL is a no-op);
 *  - byte arguments are borrowed for the call; returned bytes are owned by the result object;
 *  - a sealdb_client handle belongs to one thread at a time (use one handle per thread);
 *  - after an error, sealdb_client_errmsg() gives the server's message (or a local explanation) and
 *    sealdb_client_grpc_code() the gRPC status code (0 when the error was local).
 *
 * Status codes most calls return: SEALDB_OK; SEALDB_NOTFOUND (key not found / tx not found);
 * SEALDB_TAMPERED (a proof or signature does not verify: never trust the data); SEALDB_STALE (the
 * server presents a state older than the trusted one); SEALDB_AUTH (not logged in, bad password);
 * SEALDB_PERMISSION; SEALDB_PRECONDITION; SEALDB_INVALID (bad argument, or the server refused the
 * request); SEALDB_NETWORK / SEALDB_TIMEOUT (transport); SEALDB_PROTOCOL (malformed answer);
 * SEALDB_UNSUPPORTED (the server does not implement the call); SEALDB_NOMEM. */
#ifndef SEALDB_CLIENT_H
#define SEALDB_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include "sealdb_err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SEALDB_CLIENT_VERSION "0.1.0"
#define SEALDB_HASH_SIZE 32

typedef struct sealdb_client sealdb_client;   /* opaque: one connection (channel) to one server */

/* ---- connection ---- */
typedef struct sealdb_client_opts {
    const char *address;          /* host name or IP; default "127.0.0.1" */
    int port;                     /* default 3322 */
    int tls;                      /* 1: TLS (server verified with ca_file, or the system roots) */
    const char *ca_file;          /* PEM roots for the server certificate (TLS/mTLS) */
    const char *cert_file;        /* PEM client certificate (mTLS; needs key_file) */
    const char *key_file;         /* PEM client private key (mTLS) */
    const char *server_name;      /* expected name in the server certificate (default: address) */
    const char *state_dir;        /* directory of the trusted-state file; NULL: keep states in memory only */
    const char *server_pub_key_file; /* PEM public key of the server's state signer; NULL: signatures not required */
    int timeout_ms;               /* per call deadline; default 30000, <0 = none */
    size_t max_recv_msg_size;     /* default 32 MiB */
} sealdb_client_opts;

/* Fills the defaults above. */
SEALDB_API void sealdb_client_opts_init(sealdb_client_opts *o);

/* Creates the channel (lazily connected, like gRPC channels) and loads the server public key.
 * Fails with SEALDB_INVALID on bad options, SEALDB_IO/SEALDB_INVALID on unreadable key or cert files. */
SEALDB_API int sealdb_client_connect(const sealdb_client_opts *o, sealdb_client **out);
/* Closes a session opened with sealdb_client_open_session (best effort) and frees the handle. */
SEALDB_API void sealdb_client_close(sealdb_client *c);

/* Last error: the server's status message or a local explanation; never NULL; valid until the next call. */
SEALDB_API const char *sealdb_client_errmsg(const sealdb_client *c);
/* gRPC status code of the last failed call (0 = OK or a local error). */
SEALDB_API int sealdb_client_grpc_code(const sealdb_client *c);
/* Server id (the immudb-uuid response header) seen on the last call; "" until the first answer. */
SEALDB_API const char *sealdb_client_server_uuid(const sealdb_client *c);
/* sealdb's own version, from the last answer's sealdb-version header; "" from immudb or before a call */
SEALDB_API const char *sealdb_client_server_version(const sealdb_client *c);

/* ---- authentication ---- */
/* Login + UseDatabase (database NULL = "defaultdb"): the handle then sends
 * "authorization: Bearer <token>". *warning_out (may be NULL) gets 1 when the server says the
 * password is the default one. */
SEALDB_API int sealdb_client_login(sealdb_client *c, const char *user, const char *password,
                                   const char *database, int *warning_out);
/* Logout: invalidates all tokens of the user. */
SEALDB_API int sealdb_client_logout(sealdb_client *c);
/* Selects a database (UseDatabase); the new token replaces the old one. */
SEALDB_API int sealdb_client_use_database(sealdb_client *c, const char *database);
/* Session authentication (OpenSession; calls then send "sessionid"). */
SEALDB_API int sealdb_client_open_session(sealdb_client *c, const char *user, const char *password,
                                          const char *database);
SEALDB_API int sealdb_client_close_session(sealdb_client *c);
SEALDB_API int sealdb_client_keep_alive(sealdb_client *c);
/* Reuse a token obtained earlier (e.g. saved by the CLI); database names the database it is bound
 * to (used for the trusted state). */
SEALDB_API int sealdb_client_set_token(sealdb_client *c, const char *token, const char *database);
/* Current token ("" when none) and selected database name ("" when none). */
SEALDB_API const char *sealdb_client_token(const sealdb_client *c);
SEALDB_API const char *sealdb_client_database(const sealdb_client *c);

/* ---- results ---- */
typedef struct sealdb_kv_meta {
    int deleted;
    int has_expiration;
    int64_t expires_at;           /* unix seconds, valid when has_expiration */
    int non_indexable;
} sealdb_kv_meta;

typedef struct sealdb_tx_header {
    uint64_t id;
    uint8_t prev_alh[SEALDB_HASH_SIZE];
    int64_t ts;                   /* unix seconds */
    uint32_t version;
    uint32_t nentries;
    uint8_t eh[SEALDB_HASH_SIZE];
    uint64_t bl_tx_id;
    uint8_t bl_root[SEALDB_HASH_SIZE];
} sealdb_tx_header;

typedef struct sealdb_reference {
    uint64_t tx;                  /* tx of the reference entry */
    uint8_t *key; size_t key_len; /* the reference key */
    uint64_t at_tx;               /* bound tx, 0 = unbound */
    int has_meta; sealdb_kv_meta meta;
    uint64_t revision;
} sealdb_reference;

typedef struct sealdb_entry {
    uint64_t tx;                  /* tx of this version */
    uint8_t *key; size_t key_len; /* user key (the referenced key when read through a reference) */
    uint8_t *value; size_t value_len;
    int has_meta; sealdb_kv_meta meta;
    int expired;
    uint64_t revision;            /* version number of the key; 0 for at-tx reads */
    int has_ref; sealdb_reference ref; /* set when read through a reference */
    int verified;                 /* 1 when proven by a verified call (value included) */
} sealdb_entry;

typedef struct sealdb_entries { sealdb_entry *items; size_t n; } sealdb_entries;

typedef struct sealdb_zentry {
    uint8_t *set; size_t set_len;
    uint8_t *key; size_t key_len;
    double score;
    uint64_t at_tx;
    sealdb_entry entry;
} sealdb_zentry;
typedef struct sealdb_zentries { sealdb_zentry *items; size_t n; } sealdb_zentries;

/* One entry of a transaction in raw form: key with its 1-byte prefix (0x00 KV/reference,
 * 0x01 sorted set), SHA-256 of the stored value, stored value length. value is set only when the
 * call asked for values (tx_by_id with want_values). */
typedef struct sealdb_tx_entry {
    uint8_t *key; size_t key_len;
    uint8_t hvalue[SEALDB_HASH_SIZE];
    uint32_t vlen;
    int has_meta; sealdb_kv_meta meta;
    uint8_t *value; size_t value_len; int has_value;
} sealdb_tx_entry;

typedef struct sealdb_tx {
    sealdb_tx_header header;
    sealdb_tx_entry *entries; size_t n;
    int verified;                 /* 1 when the tx (and, with values, every value) was proven */
} sealdb_tx;
typedef struct sealdb_txs { sealdb_tx *items; size_t n; } sealdb_txs;

/* Trusted state of one database: the last transaction proven, and the server's signature of it. */
typedef struct sealdb_state {
    char db[129];
    uint64_t tx_id;
    uint8_t alh[SEALDB_HASH_SIZE];
    uint8_t sig[80]; size_t sig_len;   /* DER ECDSA signature, 0 when none */
} sealdb_state;

SEALDB_API void sealdb_entry_free(sealdb_entry *e);
SEALDB_API void sealdb_entries_free(sealdb_entries *l);
SEALDB_API void sealdb_zentries_free(sealdb_zentries *l);
SEALDB_API void sealdb_tx_free(sealdb_tx *t);
SEALDB_API void sealdb_txs_free(sealdb_txs *l);

/* ---- writes ---- */
typedef struct sealdb_kv {
    const void *key; size_t key_len;
    const void *value; size_t value_len;
    const sealdb_kv_meta *meta;   /* NULL = none */
} sealdb_kv;

enum { SEALDB_PRE_KEY_MUST_EXIST = 1, SEALDB_PRE_KEY_MUST_NOT_EXIST = 2, SEALDB_PRE_NOT_MODIFIED_AFTER_TX = 3 };
typedef struct sealdb_precondition {
    int kind;                     /* SEALDB_PRE_* */
    const void *key; size_t key_len;
    uint64_t tx_id;               /* for NOT_MODIFIED_AFTER_TX */
} sealdb_precondition;

/* Set one key. hdr (may be NULL) receives the committed tx header. */
SEALDB_API int sealdb_client_set(sealdb_client *c, const void *key, size_t key_len,
                                 const void *value, size_t value_len, sealdb_tx_header *hdr);
/* Set several keys atomically with metadata and preconditions (SEALDB_PRECONDITION when one fails). */
SEALDB_API int sealdb_client_set_all(sealdb_client *c, const sealdb_kv *kvs, size_t n,
                                     const sealdb_precondition *pre, size_t npre, sealdb_tx_header *hdr);
/* Logical deletion of keys (one tx). */
SEALDB_API int sealdb_client_delete(sealdb_client *c, const void *const *keys, const size_t *key_lens,
                                    size_t n, sealdb_tx_header *hdr);
/* key becomes a reference to referenced_key (at_tx > 0: bound to that tx). */
SEALDB_API int sealdb_client_set_reference(sealdb_client *c, const void *key, size_t key_len,
                                           const void *referenced_key, size_t referenced_len,
                                           uint64_t at_tx, sealdb_tx_header *hdr);
/* Add key with score to sorted set set (at_tx > 0: bound to that tx). */
SEALDB_API int sealdb_client_zadd(sealdb_client *c, const void *set, size_t set_len, double score,
                                  const void *key, size_t key_len, uint64_t at_tx, sealdb_tx_header *hdr);

/* ExecAll: one tx mixing sets, references and sorted-set adds. */
enum { SEALDB_OP_KV = 1, SEALDB_OP_ZADD = 2, SEALDB_OP_REF = 3 };
typedef struct sealdb_op {
    int kind;                     /* SEALDB_OP_* */
    sealdb_kv kv;                 /* KV: key/value/meta; REF: key = the reference key; ZADD: key = member */
    const void *target; size_t target_len;   /* REF: referenced key; ZADD: set name */
    double score;                 /* ZADD */
    uint64_t at_tx;               /* REF/ZADD: bound tx (0 = unbound) */
    int bound;                    /* REF/ZADD: boundRef */
} sealdb_op;
SEALDB_API int sealdb_client_exec_all(sealdb_client *c, const sealdb_op *ops, size_t n,
                                      const sealdb_precondition *pre, size_t npre, sealdb_tx_header *hdr);
/* Pipelined ExecAll: start sends the request (ops and pre are copied) and returns at once; wait
 * gets its answer (as sealdb_client_exec_all's) and frees p. Several calls may be in flight on one
 * handle, waited for in any order; the server may commit them in any order (use preconditions to
 * order them). Every started call (*out set) must be waited for, also when start failed. */
typedef struct sealdb_pending sealdb_pending;
SEALDB_API int sealdb_client_exec_all_start(sealdb_client *c, const sealdb_op *ops, size_t n,
                                            const sealdb_precondition *pre, size_t npre, sealdb_pending **out);
SEALDB_API int sealdb_client_exec_all_wait(sealdb_client *c, sealdb_pending *p, sealdb_tx_header *hdr);
/* 1 when p's answer has arrived (its wait will not block), else 0; never blocks. */
SEALDB_API int sealdb_client_exec_all_ready(sealdb_pending *p);

/* ExecAll stream (sealdb extension, /sealdb.schema.SealService/ExecAllStream): one call carrying many
 * ExecAlls, each committed as its own tx in the order sent and answered in that order. For writers
 * that pipeline small txs: one gRPC call for the session instead of one per tx, and no reordering.
 * open starts the call (no round trip: a server without the method, immudb, ends it with
 * SEALDB_UNSUPPORTED, gRPC code 12, at the first recv). send encodes as sealdb_client_exec_all and
 * sends (waiting only for the previous send to leave; the server takes up to 64 at once, flow control
 * holds back the rest). recv returns the oldest unanswered tx's header, waiting up to the client's
 * timeout; when the call has ended it returns the error that ended it (as sealdb_client_exec_all
 * would, errmsg/grpc_code set on the client; txs sent after the failed one may have committed), or
 * SEALDB_CLOSED after a half-close once all is answered. A send that finds the call ended returns
 * SEALDB_NETWORK: recv tells why. The server ends an idle stream after its idle timeout: open a new
 * one. One thread at a time per stream; the client handle may be used for other calls meanwhile. */
typedef struct sealdb_txstream sealdb_txstream;
SEALDB_API int sealdb_client_txstream_open(sealdb_client *c, sealdb_txstream **out);
SEALDB_API int sealdb_txstream_send(sealdb_txstream *s, const sealdb_op *ops, size_t n,
                                    const sealdb_precondition *pre, size_t npre);
/* Batched variant (/sealdb.schema.SealService/ExecAllBatchStream): send appends the tx to the message
 * being formed; flush sends it (so do recv and half_close, and send at 64 txs, the server's limit per
 * message). Each tx is still its own sealdb tx, committed and answered in order; the server answers a
 * message at once, when all its txs are done, so a burst costs the transport one message each way
 * rather than one per tx. A server without it (immudb, an older sealdb) ends the call with
 * SEALDB_UNSUPPORTED at the first recv. flush on a plain stream, or with nothing formed, is a no-op. */
SEALDB_API int sealdb_client_txbatch_open(sealdb_client *c, sealdb_txstream **out);
SEALDB_API int sealdb_txstream_flush(sealdb_txstream *s);
/* 1 when recv will not block (the next answer or the call's end is here), else 0; never blocks. */
SEALDB_API int sealdb_txstream_ready(sealdb_txstream *s);
SEALDB_API int sealdb_txstream_recv(sealdb_txstream *s, sealdb_tx_header *hdr);
/* txs sent and not yet answered */
SEALDB_API uint64_t sealdb_txstream_pending(const sealdb_txstream *s);
/* No more sends: the server answers what it took, then the call ends with OK. */
SEALDB_API int sealdb_txstream_half_close(sealdb_txstream *s);
/* Ends the call (gracefully when everything is answered, else cancelled: unanswered txs may or may
 * not commit) and frees s. NULL is a no-op. */
SEALDB_API void sealdb_txstream_close(sealdb_txstream *s);

/* ---- reads ---- */
typedef struct sealdb_get_opts {
    uint64_t at_tx;               /* value as written in that tx */
    uint64_t since_tx;            /* wait until indexed up to that tx */
    int64_t at_revision;          /* >0: N-th version; <0: relative to the latest */
    int no_wait;
} sealdb_get_opts;

/* Get (opts may be NULL). SEALDB_NOTFOUND when missing or deleted. */
SEALDB_API int sealdb_client_get(sealdb_client *c, const void *key, size_t key_len,
                                 const sealdb_get_opts *opts, sealdb_entry **out);
/* GetAll: existing keys in request order (missing keys skipped). */
SEALDB_API int sealdb_client_get_all(sealdb_client *c, const void *const *keys, const size_t *key_lens,
                                     size_t n, sealdb_entries **out);

typedef struct sealdb_scan_opts {
    const void *prefix; size_t prefix_len;
    const void *seek_key; size_t seek_len;
    const void *end_key; size_t end_len;
    int inclusive_seek, inclusive_end, desc;
    uint64_t limit, offset, since_tx;
} sealdb_scan_opts;
SEALDB_API int sealdb_client_scan(sealdb_client *c, const sealdb_scan_opts *o, sealdb_entries **out);
SEALDB_API int sealdb_client_count(sealdb_client *c, const void *prefix, size_t prefix_len, uint64_t *n);
SEALDB_API int sealdb_client_count_all(sealdb_client *c, uint64_t *n);
SEALDB_API int sealdb_client_history(sealdb_client *c, const void *key, size_t key_len, uint64_t offset,
                                     int32_t limit, int desc, uint64_t since_tx, sealdb_entries **out);

typedef struct sealdb_zscan_opts {
    const void *set; size_t set_len;
    const void *seek_key; size_t seek_len;
    double seek_score; uint64_t seek_at_tx;
    int inclusive_seek, desc;
    int has_min, has_max; double min_score, max_score;
    uint64_t limit, offset, since_tx;
} sealdb_zscan_opts;
SEALDB_API int sealdb_client_zscan(sealdb_client *c, const sealdb_zscan_opts *o, sealdb_zentries **out);

/* TxById in raw form; with want_values each entry carries its stored (prefixed) value. */
SEALDB_API int sealdb_client_tx_by_id(sealdb_client *c, uint64_t tx, int want_values, sealdb_tx **out);
SEALDB_API int sealdb_client_tx_scan(sealdb_client *c, uint64_t initial_tx, uint32_t limit, int desc,
                                     sealdb_txs **out);

/* ---- verified calls: proofs checked locally against the trusted state, which then advances ----
 * They return SEALDB_TAMPERED when any proof or signature fails and SEALDB_STALE when the server's
 * state is older than the trusted one; in both cases nothing is returned and the state is kept. */
SEALDB_API int sealdb_client_verified_set(sealdb_client *c, const void *key, size_t key_len,
                                          const void *value, size_t value_len, sealdb_tx_header *hdr);
/* The entry is proven; through a reference, both the reference entry and the referenced value are. */
SEALDB_API int sealdb_client_verified_get(sealdb_client *c, const void *key, size_t key_len,
                                          const sealdb_get_opts *opts, sealdb_entry **out);
SEALDB_API int sealdb_client_verified_set_reference(sealdb_client *c, const void *key, size_t key_len,
                                                    const void *referenced_key, size_t referenced_len,
                                                    uint64_t at_tx, sealdb_tx_header *hdr);
SEALDB_API int sealdb_client_verified_zadd(sealdb_client *c, const void *set, size_t set_len, double score,
                                           const void *key, size_t key_len, uint64_t at_tx,
                                           sealdb_tx_header *hdr);
/* Proves tx and, with want_values, every value of it against the tx's entry hashes. */
SEALDB_API int sealdb_client_verified_tx_by_id(sealdb_client *c, uint64_t tx, int want_values, sealdb_tx **out);

/* CurrentState as the server reports it (signature checked when a public key is configured). */
SEALDB_API int sealdb_client_current_state(sealdb_client *c, sealdb_state *out);
/* The trusted state of the selected database (SEALDB_NOTFOUND when none yet). */
SEALDB_API int sealdb_client_trusted_state(sealdb_client *c, sealdb_state *out);
/* Fetches the server's current state and proves it consistent with the trusted one, then adopts it
 * (the first time, with no trusted state, it is adopted as is: trust on first use). out may be NULL.
 * SEALDB_STALE: server older than trusted; SEALDB_TAMPERED: not consistent. */
SEALDB_API int sealdb_client_check_consistency(sealdb_client *c, sealdb_state *out);

/* ---- server ---- */
typedef struct sealdb_server_info {
    int health_ok;
    char version[64];
    int64_t started_at;
    int64_t num_transactions;
    int32_t num_databases;
    int64_t disk_size;
} sealdb_server_info;
SEALDB_API int sealdb_client_health(sealdb_client *c, int *ok, char *version, size_t version_cap);
SEALDB_API int sealdb_client_server_info(sealdb_client *c, sealdb_server_info *out);
SEALDB_API int sealdb_client_database_health(sealdb_client *c, uint32_t *pending, int64_t *last_completed_ms);

/* ---- databases ---- */
typedef struct sealdb_db_info {
    char name[129];
    int loaded;
    uint64_t disk_size, num_transactions, created_at;
    char created_by[64];
} sealdb_db_info;
typedef struct sealdb_db_list { sealdb_db_info *items; size_t n; } sealdb_db_list;
SEALDB_API void sealdb_db_list_free(sealdb_db_list *l);

typedef struct sealdb_db_settings {   /* the settings a KV client cares about; 0 = server default */
    uint32_t max_key_len, max_value_len, max_tx_entries, file_size;
    int has_exclude_commit_time, exclude_commit_time;
    int has_autoload, autoload;
} sealdb_db_settings;

SEALDB_API int sealdb_client_create_database(sealdb_client *c, const char *name,
                                             const sealdb_db_settings *s, int if_not_exists, int *already);
SEALDB_API int sealdb_client_list_databases(sealdb_client *c, sealdb_db_list **out);
SEALDB_API int sealdb_client_load_database(sealdb_client *c, const char *name);
SEALDB_API int sealdb_client_unload_database(sealdb_client *c, const char *name);
SEALDB_API int sealdb_client_delete_database(sealdb_client *c, const char *name);
SEALDB_API int sealdb_client_update_database(sealdb_client *c, const char *name, const sealdb_db_settings *s);
/* TruncateDatabase (admin): discards the values of txs older than the start of the day of now -
 * retention_ms (0, or at least 24 h); headers and proofs stay valid. */
SEALDB_API int sealdb_client_truncate_database(sealdb_client *c, const char *name, int64_t retention_ms);
/* UpdateDatabaseV2 of truncationSettings only: the background truncation of database name
 * (retention period and frequency in milliseconds; a negative value leaves that setting as it is). */
SEALDB_API int sealdb_client_update_truncation(sealdb_client *c, const char *name, int64_t retention_ms,
                                               int64_t frequency_ms);
/* FlushIndex / CompactIndex of the selected database (admin); servers may make them no-ops. */
SEALDB_API int sealdb_client_flush_index(sealdb_client *c, float cleanup_percentage, int synced);
SEALDB_API int sealdb_client_compact_index(sealdb_client *c);
/* Settings of the selected database. */
SEALDB_API int sealdb_client_database_settings(sealdb_client *c, char *name, size_t name_cap,
                                               sealdb_db_settings *out);

/* ---- users ---- */
enum { SEALDB_PERM_READ = 1, SEALDB_PERM_READWRITE = 2, SEALDB_PERM_ADMIN = 254, SEALDB_PERM_SYSADMIN = 255 };
typedef struct sealdb_user_perm { char database[129]; uint32_t permission; } sealdb_user_perm;
typedef struct sealdb_user {
    char name[64];
    char created_by[64];
    char created_at[64];
    int active;
    sealdb_user_perm *perms; size_t nperms;
} sealdb_user;
typedef struct sealdb_user_list { sealdb_user *items; size_t n; } sealdb_user_list;
SEALDB_API void sealdb_user_list_free(sealdb_user_list *l);

SEALDB_API int sealdb_client_create_user(sealdb_client *c, const char *user, const char *password,
                                         uint32_t permission, const char *database);
SEALDB_API int sealdb_client_list_users(sealdb_client *c, sealdb_user_list **out);
SEALDB_API int sealdb_client_change_password(sealdb_client *c, const char *user, const char *old_password,
                                             const char *new_password);
/* grant = 1 grants, 0 revokes. */
SEALDB_API int sealdb_client_change_permission(sealdb_client *c, const char *user, const char *database,
                                               uint32_t permission, int grant);
SEALDB_API int sealdb_client_set_active_user(sealdb_client *c, const char *user, int active);

/* ---- streaming of large values (streamSet / streamGet, 64 KiB chunks) ---- */
/* Reads the value from read_fn until it returns 0 bytes; value_len must be the exact total length.
 * read_fn returns the number of bytes written into buf (<= cap), 0 at the end, <0 on error. */
typedef long (*sealdb_read_fn)(void *ctx, void *buf, size_t cap);
typedef int (*sealdb_write_fn)(void *ctx, const void *buf, size_t n);   /* returns 0 to continue */
typedef void (*sealdb_progress_fn)(void *ctx, uint64_t done, uint64_t total);
SEALDB_API int sealdb_client_stream_set(sealdb_client *c, const void *key, size_t key_len,
                                        uint64_t value_len, sealdb_read_fn read_fn, void *ctx,
                                        sealdb_progress_fn progress, sealdb_tx_header *hdr);
/* Calls write_fn with the value's bytes as they arrive; *value_len gets the total. */
SEALDB_API int sealdb_client_stream_get(sealdb_client *c, const void *key, size_t key_len,
                                        sealdb_write_fn write_fn, void *ctx, sealdb_progress_fn progress,
                                        uint64_t *value_len);

#ifdef __cplusplus
}
#endif
#endif
