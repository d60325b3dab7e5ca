/* client.c - libsealdb-client core: the handle, option handling, the generic protobuf call helper,
 * mapping of gRPC statuses to sealdb codes, authentication (token and session) and the trusted
 * state of each (server id, database), kept in memory and, with a state dir, in the state file. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include "client/client_int.h"
#include "client/state.h"

SEALDB_API void sealdb_client_opts_init(sealdb_client_opts *o) {
    memset(o, 0, sizeof *o);
    o->address = "127.0.0.1";
    o->port = 3322;
    o->timeout_ms = 30000;
    o->max_recv_msg_size = 32u << 20;
}

int sdb_cl_fail(sealdb_client *c, int rc, const char *fmt, ...) {
    if (!c) return rc;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->errmsg, sizeof c->errmsg, fmt, ap);
    va_end(ap);
    c->grpc_code = 0;
    return rc;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

int sdb_cl_map_status(int code, const char *msg) {
    if (code == 0) return SEALDB_OK;
    /* A sealdb server that finds its own stored history failing its checks (sealdb_strerror of
     * SEALDB_TAMPERED / SEALDB_CORRUPT) says the data cannot be trusted: a verification failure. */
    if (strcmp(msg, "proof or hash does not verify") == 0 ||
        strcmp(msg, "stored data fails its checksum or format checks") == 0)
        return SEALDB_TAMPERED;
    /* the server's integrity scrub found the entry's tx damaged and refuses to serve it */
    if (code == 15 && strncmp(msg, "data failed its integrity check", 31) == 0) return SEALDB_TAMPERED;
    if (ends_with(msg, "key not found") || strcmp(msg, "tx not found") == 0) return SEALDB_NOTFOUND;
    if (strstr(msg, "key not found: expired entry")) return SEALDB_NOTFOUND;
    if (code == 9 && strncmp(msg, "precondition failed", 19) == 0) return SEALDB_PRECONDITION;
    if (code == 16 || strcmp(msg, "not logged in") == 0 || strcmp(msg, "invalid user name or password") == 0 ||
        strncmp(msg, "token has expired", 17) == 0 || strcmp(msg, "session not found") == 0 ||
        strcmp(msg, "no session found") == 0 || strcmp(msg, "user is not active") == 0 ||
        strcmp(msg, "invalid token") == 0 || strcasecmp(msg, "please login") == 0 ||
        strcmp(msg, "could not get loggedin user data") == 0)
        return SEALDB_AUTH;
    if (code == 7 || strstr(msg, "permission denied") || strstr(msg, "permission on this database") ||
        strstr(msg, "does not have permission") || strstr(msg, "do not have permission"))
        return SEALDB_PERMISSION;
    if (code == 14) return SEALDB_NETWORK;
    if (code == 4) return SEALDB_TIMEOUT;
    if (code == 12) return SEALDB_UNSUPPORTED;
    if (code == 8 || strstr(msg, "exceeded")) return SEALDB_TOOLARGE;
    if (strstr(msg, "already exists") || strstr(msg, "already loaded")) return SEALDB_EXISTS;
    if (strstr(msg, "does not exist") || (code == 5)) return SEALDB_NOTFOUND;
    return SEALDB_INVALID;
}

int sdb_cl_take_status(sealdb_client *c, int rc, sdb_rpc_status *st) {
    if (st->server_uuid[0]) memcpy(c->server_uuid, st->server_uuid, sizeof c->server_uuid);
    if (st->server_version[0]) memcpy(c->server_version, st->server_version, sizeof c->server_version);
    if (rc != SEALDB_OK) {
        if (st->grpc_code) {
            c->grpc_code = st->grpc_code;
            snprintf(c->errmsg, sizeof c->errmsg, "%s", st->msg.len ? (const char *)st->msg.ptr : "");
            return rc;
        }
        return sdb_cl_fail(c, rc, "%s", rc == SEALDB_NETWORK ? "cannot reach the server" : sealdb_strerror(rc));
    }
    if (st->grpc_code == 0) {
        c->grpc_code = 0;
        c->errmsg[0] = 0;
        return SEALDB_OK;
    }
    c->grpc_code = st->grpc_code;
    const char *msg = st->msg.len ? (const char *)st->msg.ptr : "";
    if (st->grpc_code == 14 && !*msg) msg = "server unavailable";
    snprintf(c->errmsg, sizeof c->errmsg, "%s", msg);
    return sdb_cl_map_status(st->grpc_code, msg);
}

size_t sdb_cl_auth_md(const sealdb_client *c, sdb_rpc_md md[2]) {
    static __thread char bearer[4096];
    if (c->session_id) {
        md[0] = (sdb_rpc_md){ "sessionid", c->session_id };
        return 1;
    }
    if (c->token) {
        snprintf(bearer, sizeof bearer, "Bearer %s", c->token);
        md[0] = (sdb_rpc_md){ "authorization", bearer };
        return 1;
    }
    return 0;
}

static int pack(sdb_buf *b, const ProtobufCMessage *m) {
    sdb_buf_reset(b);
    if (!m) return SEALDB_OK;
    size_t n = protobuf_c_message_get_packed_size(m);
    int rc = sdb_buf_reserve(b, n ? n : 1);
    if (rc) return rc;
    b->len = protobuf_c_message_pack(m, b->ptr);
    return SEALDB_OK;
}

static int call_raw(sealdb_client *c, const char *method, const ProtobufCMessage *req,
                    const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp) {
    char full[128];
    snprintf(full, sizeof full, SDB_SVC "%s", method);
    int rc = pack(&c->req, req);
    if (rc) return sdb_cl_fail(c, rc, "out of memory");
    sdb_rpc_md md[2];
    size_t nmd = sdb_cl_auth_md(c, md);
    sdb_rpc_status st;
    sdb_rpc_status_init(&st);
    rc = sdb_rpc_unary(c->conn, full, md, nmd, sdb_buf_slice(&c->req), c->timeout_ms, &c->resp, &st);
    rc = sdb_cl_take_status(c, rc, &st);
    sdb_rpc_status_deinit(&st);
    if (rc != SEALDB_OK) return rc;
    if (resp_desc && resp) {
        *resp = protobuf_c_message_unpack(resp_desc, NULL, c->resp.len, c->resp.ptr);
        if (!*resp) return sdb_cl_fail(c, SEALDB_PROTOCOL, "malformed %s answer from the server", method);
    }
    return SEALDB_OK;
}

int sdb_cl_call(sealdb_client *c, const char *method, const ProtobufCMessage *req,
                const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp) {
    return call_raw(c, method, req, resp_desc, resp);
}

int sdb_cl_call_start(sealdb_client *c, const char *method, const ProtobufCMessage *req, sdb_rpc_pending **out) {
    char full[128];
    snprintf(full, sizeof full, SDB_SVC "%s", method);
    *out = NULL;
    int rc = pack(&c->req, req);
    if (rc) return sdb_cl_fail(c, rc, "out of memory");
    sdb_rpc_md md[2];
    size_t nmd = sdb_cl_auth_md(c, md);
    rc = sdb_rpc_unary_start(c->conn, full, md, nmd, sdb_buf_slice(&c->req), c->timeout_ms, out);
    if (rc == SEALDB_NOMEM && !*out) return sdb_cl_fail(c, rc, "out of memory");
    return SEALDB_OK;   /* a call that could not start reports it at the wait */
}

int sdb_cl_call_wait(sealdb_client *c, sdb_rpc_pending *p, const char *method,
                     const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp) {
    sdb_rpc_status st;
    sdb_rpc_status_init(&st);
    int rc = sdb_rpc_unary_wait(p, &c->resp, &st);
    rc = sdb_cl_take_status(c, rc, &st);
    sdb_rpc_status_deinit(&st);
    if (rc != SEALDB_OK) return rc;
    if (resp_desc && resp) {
        *resp = protobuf_c_message_unpack(resp_desc, NULL, c->resp.len, c->resp.ptr);
        if (!*resp) return sdb_cl_fail(c, SEALDB_PROTOCOL, "malformed %s answer from the server", method);
    }
    return SEALDB_OK;
}

int sdb_cl_call_empty(sealdb_client *c, const char *method, const ProtobufCMessageDescriptor *resp_desc,
                      ProtobufCMessage **resp) {
    return call_raw(c, method, NULL, resp_desc, resp);
}

/* Reads a whole (small) file such as a PEM into out. */
static int slurp(const char *path, sdb_buf *out) {
    FILE *f = fopen(path, "rb");
    if (!f) return sdb_err_from_errno(errno);
    int rc = SEALDB_OK;
    uint8_t tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) {
        if (out->len + n > (1u << 20)) { rc = SEALDB_TOOLARGE; break; }
        if ((rc = sdb_buf_append(out, tmp, n)) != SEALDB_OK) break;
    }
    if (ferror(f)) rc = SEALDB_IO;
    fclose(f);
    return rc;
}

SEALDB_API int sealdb_client_connect(const sealdb_client_opts *o, sealdb_client **out) {
    sealdb_client_opts d;
    if (!o) { sealdb_client_opts_init(&d); o = &d; }
    if (!out || o->port <= 0 || o->port > 65535) return SEALDB_INVALID;
    if ((o->cert_file && !o->key_file) || (!o->cert_file && o->key_file)) return SEALDB_INVALID;
    int rc = SEALDB_NOMEM;
    sdb_buf ca, cert, key;
    sdb_buf_init(&ca); sdb_buf_init(&cert); sdb_buf_init(&key);
    sealdb_client *c = sdb_calloc(1, sizeof *c);
    if (!c) goto fail;
    sdb_buf_init(&c->req);
    sdb_buf_init(&c->resp);
    c->timeout_ms = o->timeout_ms == 0 ? 30000 : o->timeout_ms;
    snprintf(c->db, sizeof c->db, "defaultdb");
    if (o->state_dir && *o->state_dir) {
        size_t n = strlen(o->state_dir) + sizeof(SDB_STATE_FILE_NAME) + 2;
        if (!(c->state_path = sdb_malloc(n))) goto fail;
        snprintf(c->state_path, n, "%s/%s", o->state_dir, SDB_STATE_FILE_NAME);
        if (mkdir(o->state_dir, 0700) != 0 && errno != EEXIST) { rc = sdb_err_from_errno(errno); goto fail; }
    }
    if (o->server_pub_key_file && *o->server_pub_key_file) {
        if ((rc = sdb_verifier_load_file(o->server_pub_key_file, &c->verifier)) != SEALDB_OK) goto fail;
    }
    int tls = o->tls || o->ca_file || o->cert_file;
    if (o->ca_file && (rc = slurp(o->ca_file, &ca)) != SEALDB_OK) goto fail;
    if (o->cert_file && (rc = slurp(o->cert_file, &cert)) != SEALDB_OK) goto fail;
    if (o->key_file && (rc = slurp(o->key_file, &key)) != SEALDB_OK) goto fail;
    char target[512];
    const char *addr = o->address && *o->address ? o->address : "127.0.0.1";
    if (strchr(addr, ':') && addr[0] != '[') snprintf(target, sizeof target, "[%s]:%d", addr, o->port);
    else snprintf(target, sizeof target, "%s:%d", addr, o->port);
    sdb_rpc_opts ro = {
        .target = target, .tls = tls, .ca_pem = sdb_buf_slice(&ca), .cert_pem = sdb_buf_slice(&cert),
        .key_pem = sdb_buf_slice(&key), .server_name = o->server_name,
        .max_recv_msg_size = o->max_recv_msg_size ? o->max_recv_msg_size : (32u << 20),
    };
    if ((rc = sdb_rpc_connect(&ro, &c->conn)) != SEALDB_OK) goto fail;
    if (key.ptr) memset(key.ptr, 0, key.len);
    sdb_buf_deinit(&ca); sdb_buf_deinit(&cert); sdb_buf_deinit(&key);
    *out = c;
    return SEALDB_OK;
fail:
    if (key.ptr) memset(key.ptr, 0, key.len);
    sdb_buf_deinit(&ca); sdb_buf_deinit(&cert); sdb_buf_deinit(&key);
    sealdb_client_close(c);
    return rc;
}

static void free_secret(char **p) {
    if (*p) { memset(*p, 0, strlen(*p)); sdb_free(*p); *p = NULL; }
}

SEALDB_API void sealdb_client_close(sealdb_client *c) {
    if (!c) return;
    if (c->session_id && c->conn) (void)sealdb_client_close_session(c);
    sdb_rpc_close(c->conn);
    free_secret(&c->token);
    free_secret(&c->session_id);
    sdb_free(c->state_path);
    sdb_free(c->mem);
    sdb_verifier_free(c->verifier);
    sdb_buf_deinit(&c->req);
    sdb_buf_deinit(&c->resp);
    sdb_free(c);
}

SEALDB_API const char *sealdb_client_errmsg(const sealdb_client *c) { return c ? c->errmsg : ""; }
SEALDB_API int sealdb_client_grpc_code(const sealdb_client *c) { return c ? c->grpc_code : 0; }
SEALDB_API const char *sealdb_client_server_uuid(const sealdb_client *c) { return c ? c->server_uuid : ""; }
SEALDB_API const char *sealdb_client_server_version(const sealdb_client *c) { return c ? c->server_version : ""; }
SEALDB_API const char *sealdb_client_token(const sealdb_client *c) { return c && c->token ? c->token : ""; }
SEALDB_API const char *sealdb_client_database(const sealdb_client *c) { return c ? c->db : ""; }

static int set_str(char **dst, const char *src) {
    char *n = sdb_strdup(src);
    if (!n) return SEALDB_NOMEM;
    free_secret(dst);
    *dst = n;
    return SEALDB_OK;
}

static int valid_db_name(const char *db) {
    size_t n = strlen(db);
    if (n == 0 || n > 128) return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)db[i] <= ' ' || db[i] == 0x7f) return 0;
    return 1;
}

SEALDB_API int sealdb_client_login(sealdb_client *c, const char *user, const char *password,
                                   const char *database, int *warning_out) {
    if (!c || !user || !password) return SEALDB_INVALID;
    Immudb__Schema__LoginRequest req = IMMUDB__SCHEMA__LOGIN_REQUEST__INIT;
    req.user.data = (uint8_t *)user;
    req.user.len = strlen(user);
    req.password.data = (uint8_t *)password;
    req.password.len = strlen(password);
    Immudb__Schema__LoginResponse *resp = NULL;
    free_secret(&c->session_id);
    free_secret(&c->token);
    int rc = sdb_cl_call(c, "Login", &req.base, &immudb__schema__login_response__descriptor, (ProtobufCMessage **)&resp);
    if (rc != SEALDB_OK) return rc;
    if (warning_out) *warning_out = resp->warning.len > 0;
    rc = (!resp->token || !*resp->token) ? sdb_cl_fail(c, SEALDB_PROTOCOL, "server returned an empty token")
                                          : set_str(&c->token, resp->token);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    if (rc != SEALDB_OK) return rc;
    return sealdb_client_use_database(c, database ? database : "defaultdb");
}

SEALDB_API int sealdb_client_use_database(sealdb_client *c, const char *database) {
    if (!c || !database || !valid_db_name(database)) return sdb_cl_fail(c, SEALDB_INVALID, "bad database name");
    Immudb__Schema__Database req = IMMUDB__SCHEMA__DATABASE__INIT;
    req.databasename = (char *)database;
    Immudb__Schema__UseDatabaseReply *resp = NULL;
    int rc = sdb_cl_call(c, "UseDatabase", &req.base, &immudb__schema__use_database_reply__descriptor,
                         (ProtobufCMessage **)&resp);
    if (rc != SEALDB_OK) return rc;
    if (!c->session_id) {
        if (!resp->token || !*resp->token) rc = sdb_cl_fail(c, SEALDB_PROTOCOL, "server returned an empty token");
        else rc = set_str(&c->token, resp->token);
    }
    if (rc == SEALDB_OK) snprintf(c->db, sizeof c->db, "%s", database);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return rc;
}

SEALDB_API int sealdb_client_logout(sealdb_client *c) {
    if (!c) return SEALDB_INVALID;
    int rc = sdb_cl_call_empty(c, "Logout", NULL, NULL);
    free_secret(&c->token);
    return rc;
}

SEALDB_API int sealdb_client_open_session(sealdb_client *c, const char *user, const char *password,
                                          const char *database) {
    if (!c || !user || !password) return SEALDB_INVALID;
    if (!database) database = "defaultdb";
    Immudb__Schema__OpenSessionRequest req = IMMUDB__SCHEMA__OPEN_SESSION_REQUEST__INIT;
    req.username.data = (uint8_t *)user;
    req.username.len = strlen(user);
    req.password.data = (uint8_t *)password;
    req.password.len = strlen(password);
    req.databasename = (char *)database;
    Immudb__Schema__OpenSessionResponse *resp = NULL;
    free_secret(&c->session_id);
    free_secret(&c->token);
    int rc = sdb_cl_call(c, "OpenSession", &req.base, &immudb__schema__open_session_response__descriptor,
                         (ProtobufCMessage **)&resp);
    if (rc != SEALDB_OK) return rc;
    if (!resp->sessionid || !*resp->sessionid) rc = sdb_cl_fail(c, SEALDB_PROTOCOL, "server returned no session id");
    else rc = set_str(&c->session_id, resp->sessionid);
    if (rc == SEALDB_OK && resp->serveruuid && *resp->serveruuid && !c->server_uuid[0])
        snprintf(c->server_uuid, sizeof c->server_uuid, "%s", resp->serveruuid);
    if (rc == SEALDB_OK) {
        /* immudb lower-cases the name for sessions; keep the state key identical to the server's. */
        snprintf(c->db, sizeof c->db, "%s", database);
        for (char *p = c->db; *p; p++) if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
    }
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return rc;
}

SEALDB_API int sealdb_client_close_session(sealdb_client *c) {
    if (!c || !c->session_id) return SEALDB_INVALID;
    int rc = sdb_cl_call_empty(c, "CloseSession", NULL, NULL);
    free_secret(&c->session_id);
    return rc;
}

SEALDB_API int sealdb_client_keep_alive(sealdb_client *c) {
    if (!c || !c->session_id) return SEALDB_INVALID;
    return sdb_cl_call_empty(c, "KeepAlive", NULL, NULL);
}

SEALDB_API int sealdb_client_set_token(sealdb_client *c, const char *token, const char *database) {
    if (!c || !token || !*token || strpbrk(token, " \r\n\t")) return SEALDB_INVALID;
    if (database && !valid_db_name(database)) return SEALDB_INVALID;
    int rc = set_str(&c->token, token);
    if (rc == SEALDB_OK && database) snprintf(c->db, sizeof c->db, "%s", database);
    return rc;
}

/* ---- server health and id ---- */
SEALDB_API int sealdb_client_health(sealdb_client *c, int *ok, char *version, size_t version_cap) {
    if (!c) return SEALDB_INVALID;
    Immudb__Schema__HealthResponse *resp = NULL;
    int rc = sdb_cl_call_empty(c, "Health", &immudb__schema__health_response__descriptor, (ProtobufCMessage **)&resp);
    if (rc != SEALDB_OK) return rc;
    if (ok) *ok = resp->status;
    if (version && version_cap) snprintf(version, version_cap, "%s", resp->version ? resp->version : "");
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return SEALDB_OK;
}

int sdb_cl_ensure_uuid(sealdb_client *c) {
    if (c->server_uuid[0]) return SEALDB_OK;
    int rc = sealdb_client_health(c, NULL, NULL, 0);
    if (rc != SEALDB_OK) return rc;
    if (!c->server_uuid[0])
        return sdb_cl_fail(c, SEALDB_PROTOCOL, "the server did not send its id (immudb-uuid header)");
    return SEALDB_OK;
}

/* ---- trusted state ---- */
static sdb_mem_state *mem_find(sealdb_client *c, const char *db) {
    for (size_t i = 0; i < c->nmem; i++)
        if (strcmp(c->mem[i].uuid, c->server_uuid) == 0 && strcmp(c->mem[i].st.db, db) == 0) return &c->mem[i];
    return NULL;
}

int sdb_cl_state_get(sealdb_client *c, sealdb_state *out) {
    int rc = sdb_cl_ensure_uuid(c);
    if (rc != SEALDB_OK) return rc;
    sdb_mem_state *m = mem_find(c, c->db);
    sealdb_state disk;
    int have_disk = 0;
    if (c->state_path) {
        rc = sdb_state_load(c->state_path, c->server_uuid, c->db, &disk);
        if (rc == SEALDB_OK) have_disk = 1;
        else if (rc == SEALDB_PERMISSION)
            return sdb_cl_fail(c, rc, "state file %s is accessible by other users; fix its mode (0600)", c->state_path);
        else if (rc != SEALDB_NOTFOUND)
            return sdb_cl_fail(c, rc, "cannot read state file %s: %s", c->state_path, sealdb_strerror(rc));
    }
    /* The newest of the two wins (another process may have advanced the file). */
    if (have_disk && (!m || disk.tx_id >= m->st.tx_id)) { *out = disk; return SEALDB_OK; }
    if (m) { *out = m->st; return SEALDB_OK; }
    return SEALDB_NOTFOUND;
}

int sdb_cl_state_put(sealdb_client *c, const sealdb_state *st) {
    int rc = sdb_cl_ensure_uuid(c);
    if (rc != SEALDB_OK) return rc;
    sdb_mem_state *m = mem_find(c, st->db);
    if (m && (rc = sdb_state_check_advance(&m->st, st)) != SEALDB_OK)
        return sdb_cl_fail(c, rc, rc == SEALDB_STALE ? "refusing a state older than the trusted one"
                                                     : "state conflicts with the trusted one");
    if (c->state_path) {
        rc = sdb_state_store(c->state_path, c->server_uuid, st->db, st);
        if (rc == SEALDB_STALE || rc == SEALDB_TAMPERED)
            return sdb_cl_fail(c, rc, "state file %s holds a %s state; refusing to go back", c->state_path,
                               rc == SEALDB_STALE ? "newer" : "conflicting");
        if (rc != SEALDB_OK) return sdb_cl_fail(c, rc, "cannot write state file %s: %s", c->state_path, sealdb_strerror(rc));
    }
    if (!m) {
        sdb_mem_state *n = sdb_realloc(c->mem, (c->nmem + 1) * sizeof *n);
        if (!n) return SEALDB_NOMEM;
        c->mem = n;
        m = &c->mem[c->nmem++];
        snprintf(m->uuid, sizeof m->uuid, "%s", c->server_uuid);
    }
    m->st = *st;
    return SEALDB_OK;
}

SEALDB_API int sealdb_client_trusted_state(sealdb_client *c, sealdb_state *out) {
    if (!c || !out) return SEALDB_INVALID;
    return sdb_cl_state_get(c, out);
}
