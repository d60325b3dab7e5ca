/* server.h - the server's internal state shared by the rpc layer's files: configuration, the
 * database catalog, users, sessions and tokens, per-call bookkeeping and the transport interface
 * grpc_server.c implements. Handlers of other modules use rpc.h only. */
#ifndef SDB_RPC_SERVER_H
#define SDB_RPC_SERVER_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include "rpc/rpc.h"
#include "schema.pb-c.h"

#define SDB_SERVER_VERSION "1.9.5"
#define SDB_SYSTEMDB  "systemdb"
#define SDB_DEFAULTDB "defaultdb"
#define SDB_SYSADMIN  "immudb"
#define SDB_MAX_RESULT 2500

/* The --replication-* server flags: defaultdb's replication settings, applied at every start (as
 * immudb applies them; stored settings of defaultdb never override them). Checked by main.c. */
typedef struct sdb_repl_flags {
    int replica, sync;
    uint32_t sync_acks;                /* a sync primary: >= 1 */
    const char *host, *user, *password;   /* a replica; host NULL or "": follows no primary */
    int port;
    uint32_t prefetch, concurrency;    /* a replica: >= 1 */
    int allow_discard, skip_integrity, wait_indexing;
} sdb_repl_flags;

typedef struct sdb_server_config {
    const char *dir;
    const char *address;
    int port;
    int auth;                      /* 0: authentication disabled */
    const char *admin_password;
    int force_admin_password;
    const char *signing_key;       /* PEM file path or NULL */
    size_t max_recv_msg_size;
    int mtls;
    const char *certificate, *pkey, *clientcas;
    int synced;
    int max_sessions;
    uint64_t session_timeout_ms;
    uint64_t session_inactivity_ms;  /* --max-session-inactivity-time: idle sessions end (0: no such limit) */
    uint64_t session_max_age_ms;     /* --max-session-age-time: sessions end at this age (0: unlimited) */
    uint64_t token_expiry_s;
    int workers;
    /* limits against unauthenticated peers (docs/security-transport.md); 0 = the default */
    int max_connections;           /* client connections (plain listener; also < the fd limit) */
    int max_conn_streams;          /* concurrent calls per connection */
    int max_calls;                 /* calls in progress in total */
    int max_stream_threads;        /* streaming calls running (one thread each) */
    uint64_t request_timeout_ms;   /* a request message (each one of a client stream) must arrive in */
    uint64_t handshake_timeout_ms; /* HTTP/2 preface (plain) or TLS handshake must complete in */
    uint64_t conn_idle_ms;         /* a connection without calls is closed after */
    int login_workers;             /* bcrypt threads for Login/OpenSession */
    int login_queue;               /* password checks waiting for them; beyond: refused */
    int login_fail_addr;           /* failed logins per source address before it is throttled */
    int login_fail_user;           /* failed logins per user name before unknown addresses are */
    sdb_repl_flags repl;           /* all zero: defaultdb is a plain primary */
} sdb_server_config;

/* One catalog entry: a database known to the server (loaded or not). */
struct sdb_database {
    char name[129];
    sdb_db_settings settings;
    uint8_t *settings_pb; size_t settings_pb_len;   /* packed DatabaseNullableSettings (full) */
    int loaded;
    int system;
    int deleted;
    int64_t created_at;
    char created_by[64];
    void *impl;
    uint64_t seq;                  /* creation order, persisted in systemdb */
    char *saved;                   /* record last written to systemdb (sysdb.c) */
    int refs;                      /* calls using it + 1 while loaded (guarded by server mu) */
    int64_t trunc_retention_ms, trunc_freq_ms, trunc_next_ms;   /* background truncator's schedule (mu) */
    struct sdb_database *next;
};

typedef struct sdb_perm_entry { char db[129]; uint32_t perm; } sdb_perm_entry;

typedef struct sdb_user {
    char name[64];
    char hash[128];                /* bcrypt */
    int active;
    char created_by[64];
    int64_t created_at_ns;
    sdb_perm_entry *perms; size_t n_perms;
    uint64_t epoch;                /* bumped to invalidate every token of this user */
    char kept_mac[65];             /* MAC of the one older token that survives: the caller's own password change */
    int logged_in;
    uint64_t seq;                  /* creation order, persisted in systemdb */
    char *saved;                   /* record last written to systemdb (sysdb.c) */
    struct sdb_user *next;
} sdb_user;

typedef struct sdb_session {
    char id[48];
    char user[64];
    char db[129];
    uint64_t last_ms, created_ms;
    struct sdb_session *next;
} sdb_session;

/* Per-RPC metrics. */
#define SDB_LAT_BUCKETS 11
typedef struct sdb_rpc_stat {
    const char *name;
    _Atomic uint64_t started;
    _Atomic uint64_t handled[17];                    /* per gRPC code */
    _Atomic uint64_t lat_bucket[SDB_LAT_BUCKETS + 1]; /* last = +Inf */
    _Atomic uint64_t lat_sum_us;
} sdb_rpc_stat;

typedef struct sdb_transport sdb_transport;

struct sdb_server {
    sdb_server_config cfg;
    char uuid[24];
    sdb_signer *signer;
    int64_t started_at;
    uint8_t token_key[32];
    pthread_mutex_t mu;            /* catalog, users, sessions */
    sdb_database *dbs;             /* defaultdb first, then creation order; systemdb kept apart */
    sdb_database *systemdb;
    sdb_user *users;
    sdb_session *sessions;
    int n_sessions;
    int multi_db;
    int saved_multi_db;            /* value last written to systemdb, -1: never */
    uint64_t catalog_seq;          /* highest seq of users and databases */
    const sdb_rpc_method **methods; size_t n_methods;   /* sorted by path */
    sdb_rpc_stat *stats;           /* parallel to methods */
    _Atomic uint64_t n_unknown_method;
    _Atomic int inflight;
    _Atomic int64_t last_request_ms;
    int64_t last_trim_ms;   /* last_request_ms when the janitor last trimmed the heap (its own) */
    sdb_transport *transport;
    struct sdb_login_pool *login_pool;   /* auth.c; NULL: password checks run inline */
    pthread_t janitor;
    int janitor_started;
    _Atomic int stopping;
    pthread_mutex_t stop_mu;
    pthread_cond_t stop_cv;
};

/* ---- call internals (dispatch.c) ---- */
#define SDB_CALL_MAX_TRAILERS 3
typedef struct sdb_call_ops {
    /* send the final status (and response when code is OK and resp != NULL); releases the call */
    void (*finish)(sdb_call *c, int code, const char *msg, const uint8_t *resp, size_t resp_len);
    int  (*send)(sdb_call *c, const uint8_t *p, size_t n);          /* one response message */
    int  (*recv)(sdb_call *c, sdb_slice *out, int *eof);            /* one request message */
    /* run fn(c, arg) soon on a transport worker thread; NULL or nonzero return: not possible */
    int  (*defer)(sdb_call *c, void (*fn)(sdb_call *c, void *arg), void *arg);
    /* bidirectional streams (rpc.h sdb_call_bidi_*); NULL: the transport has none */
    int  (*bidi_recv)(sdb_call *c);
    int  (*bidi_take)(sdb_call *c, sdb_slice *msg, int *eof);
    int  (*bidi_send)(sdb_call *c, const uint8_t *p, size_t n);
    void (*bidi_cancel)(sdb_call *c, int code, const char *msg);
} sdb_call_ops;

struct sdb_call {
    sdb_arena arena;
    ProtobufCAllocator pba;
    sdb_server *srv;
    const sdb_rpc_method *method;
    size_t method_idx;
    char path[160];
    size_t n_md;
    const char **md_key, **md_val;
    const char *peer;
    const char *user;
    uint32_t perm;
    sdb_database *db;
    _Atomic int answered;
    /* immudb's coded errors (docs/api.md 0.1): SQLSTATE-like code and cause for the status details
     * (ErrorInfo + RetryInfo); NULL for plain errors. Set only by the thread that answers. */
    const char *err_info_code;
    const char *err_cause;
    _Atomic int refs;              /* transport 1 + dispatcher while running */
    uint64_t start_ns;
    const sdb_call_ops *ops;
    void *tctx;
    /* client-stream reassembly */
    sdb_slice rx; size_t rx_off; int rx_eof;
    /* trailing metadata of a successful answer (sdb_call_add_trailer; keys and values in the arena) */
    const char *ok_trail_key[SDB_CALL_MAX_TRAILERS];
    sdb_slice ok_trail_val[SDB_CALL_MAX_TRAILERS];
    size_t n_ok_trail;
    /* bidirectional streams: completion events go to bidi_ev(bidi_arg, kind, ok) */
    void (*bidi_ev)(void *arg, int kind, int ok);
    void *bidi_arg;
};

sdb_call *sdb_call_new(sdb_server *s, const char *path, size_t path_len, const sdb_call_ops *ops, void *tctx);
int  sdb_call_add_metadata(sdb_call *c, const char *k, size_t kl, const char *v, size_t vl);
void sdb_call_set_peer(sdb_call *c, const char *peer);
/* Looks the method up; NULL -> answer Unimplemented. */
const sdb_rpc_method *sdb_dispatch_lookup(sdb_server *s, const char *path, size_t *idx);
/* Runs a unary / server-stream call on its request bytes, or a client-stream call (req ignored). */
void sdb_dispatch(sdb_call *c, sdb_slice req);
/* Drops a reference; the last one frees the call (transport: after the final status went out). */
void sdb_call_unref(sdb_call *c);

/* ---- server lifecycle (server.c) ---- */
int  sdb_server_open(const sdb_server_config *cfg, sdb_server **out);   /* data dir, catalog, dbs */
void sdb_server_close(sdb_server *s);
int  sdb_server_register_methods(sdb_server *s);

/* ---- transport (grpc_server.c) ---- */
int  sdb_transport_start(sdb_server *s, char *err, size_t errlen);
void sdb_transport_stop(sdb_server *s);    /* stop accepting, wait for in-flight calls */
int  sdb_transport_bound_port(sdb_server *s);

/* ---- auth (auth.c): resolve the caller of a call; 0 = ok, else answered with an error ---- */
int  sdb_auth_resolve(sdb_call *c);
int  sdb_password_hash(const char *pw, size_t pw_len, char out[128]);
int  sdb_password_check(const char *hash, const char *pw, size_t pw_len);
int  sdb_token_issue(sdb_server *s, const sdb_user *u, const char *db, char *out, size_t outlen);
void sdb_sessions_expire(sdb_server *s);
/* 1 if session ss has ended at now_ms: idle past the session timeout or the inactivity limit, or
 * older than the max age. Checked on every use too, so an ended session is never served while it
 * waits for the janitor. */
int sdb_session_expired(const sdb_server *s, const sdb_session *ss, uint64_t now_ms);
/* Password checks of Login/OpenSession run on a small pool of their own (--login-workers) with a
 * bounded queue (--login-queue), never on the request workers, and failed logins are throttled per
 * source address and per user name. cont(c, result, arg) then finishes the call: result 1 the
 * password matches, 0 it does not, -1 no such user (hash NULL). Returns SDB_CALL_PENDING when the
 * check was queued (cont runs later on a pool thread), else SDB_CALL_DONE (cont ran here, or the
 * call was refused: throttled -> RESOURCE_EXHAUSTED, queue full -> UNAVAILABLE). */
typedef void (*sdb_login_cont)(sdb_call *c, int result, void *arg);
int  sdb_login_check(sdb_call *c, const char *user, const char *hash, const uint8_t *pw, size_t pw_len,
                     sdb_login_cont cont, void *arg);
int  sdb_login_pool_start(sdb_server *s);
void sdb_login_pool_stop(sdb_server *s);   /* after the transport stopped accepting calls */
sdb_user *sdb_user_find(sdb_server *s, const char *name);           /* mu held */
void sdb_user_revoke_tokens(sdb_user *u);                           /* mu held: every token of u ends */
uint32_t sdb_user_perm_on(const sdb_user *u, const char *db);        /* mu held */
/* R, RW or admin: the values a per-database grant may hold (255 exists only on "*"). */
static inline int sdb_perm_is_db_grant(uint32_t p) {
    return p == SDB_PERMISSION_R || p == SDB_PERMISSION_RW || p == SDB_PERMISSION_ADMIN;
}
sdb_database *sdb_db_find(sdb_server *s, const char *name);          /* mu held, excludes deleted */
int  sdb_catalog_save(sdb_server *s);      /* mu held; one systemdb tx with the changed records (sysdb.c) */
int  sdb_db_load(sdb_server *s, sdb_database *d);                    /* mu held */
void sdb_db_unload(sdb_server *s, sdb_database *d);                  /* mu held */
void sdb_db_release(sdb_server *s, sdb_database *d);                 /* drop a call reference */
int  sdb_db_state(sdb_server *s, sdb_database *d, uint64_t *tx, uint8_t alh[32]);
uint64_t sdb_dir_size(const char *path);
int  sdb_db_remove_dir(sdb_server *s, const char *name);          /* rm -r <dir>/<name> */
void sdb_settings_default(sdb_db_settings *st);
int  sdb_settings_pack(const sdb_db_settings *st, const uint8_t *prev_pb, size_t prev_len,
                       const ProtobufCMessage *overrides, uint8_t **out, size_t *out_len);
int  sdb_settings_effective(const uint8_t *pb, size_t len, sdb_db_settings *st);
/* The merged settings pb checked as immudb checks them; SEALDB_INVALID with immudb's message in msg. */
int  sdb_settings_validate(const uint8_t *pb, size_t len, const char *db, char *msg, size_t msglen);

/* module list (methods.c) */
extern const sdb_rpc_module *const sdb_rpc_modules[];
extern const size_t sdb_rpc_n_modules;
extern const sdb_rpc_module sdb_server_module;   /* handlers_server.c */
extern const sdb_rpc_module sdb_truncate_module; /* truncate.c */

/* per-call statistics and database sizes (stats.c) */
extern const double sdb_lat_bucket_s[SDB_LAT_BUCKETS];   /* latency histogram bounds, seconds */
/* Counts a finished call under its method and code (dispatch.c, for every transport). */
void sdb_stat_record(sdb_server *s, sdb_call *c, int code);
/* Total size of the (non-system) database directories, from a cache refreshed at most every few
 * seconds, never under the server mutex. */
uint64_t sdb_db_sizes_total(sdb_server *s);
void sdb_db_sizes_refresh(sdb_server *s);       /* when stale */
uint64_t sdb_db_size_of(const char *name);      /* cached; 0 when not measured yet */

uint64_t sdb_now_ms(void);
/* truncate.c: the background truncator's step (janitor thread): runs the truncation of every
 * loaded database whose truncationSettings make it due. */
void sdb_truncator_tick(sdb_server *s);
/* the log (log.c) */
void sdb_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
extern int sdb_log_access_on;          /* --log-access: set once before serving */
void sdb_log_access(sdb_call *c, int code);
int  sdb_log_setup(const char *path, int json);   /* path NULL: stderr */
int  sdb_log_reopen(void);                         /* SIGHUP */
void sdb_log_grpc_init(void);                      /* before grpc_init */
void sdb_log_grpc_quiet(int on);
void sdb_log_mhd(void *cls, const char *fmt, va_list ap);

/* The HTTP servers (src/server/) are started by main.c and declared in server/http.h. */

#endif
