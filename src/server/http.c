/* http.c - the REST API on --web-server-port (libmicrohttpd): immudb's gateway routes and their
 * JSON form, run in-process on the same dispatch table as gRPC (one call per request, no loopback
 * hop), with the gateway's status mapping, error bodies and headers. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <cjson/cJSON.h>
#include "util/net.h"
#include "rpc/json.h"
#include "server/http.h"

#define SVC "/immudb.schema.ImmuService/"
#define MAX_SEGS 8
#define GW_MAX_RESPONSE 4194304u   /* the gateway's gRPC client receive limit (immudb's REST API) */

enum { R_BODY = 1, R_SESSION_OPEN = 2, R_SESSION_OTHER = 4 };

typedef struct route {
    const char *method;
    const char *pattern;      /* segments after /api or /api/v2; "{name}" binds one segment */
    const char *rpc;          /* method name of ImmuService */
    int flags;
} route;

/* immudb's registration order: the first match wins */
static const route routes[] = {
    { "GET", "/user/list", "ListUsers", 0 },
    { "POST", "/user", "CreateUser", R_BODY },
    { "POST", "/user/password/change", "ChangePassword", R_BODY },
    { "POST", "/user/changepermission", "ChangePermission", R_BODY },
    { "POST", "/user/setactiveUser", "SetActiveUser", R_BODY },
    { "POST", "/login", "Login", R_BODY },
    { "POST", "/logout", "Logout", R_BODY },
    { "POST", "/db/set", "Set", R_BODY },
    { "POST", "/db/verifiable/set", "VerifiableSet", R_BODY },
    { "GET", "/db/get/{key}", "Get", 0 },
    { "POST", "/db/verifiable/get", "VerifiableGet", R_BODY },
    { "POST", "/db/deletekey", "Delete", R_BODY },
    { "POST", "/db/getall", "GetAll", R_BODY },
    { "POST", "/db/execall", "ExecAll", R_BODY },
    { "POST", "/db/scan", "Scan", R_BODY },
    { "GET", "/db/count/{prefix}", "Count", 0 },
    { "GET", "/db/countall", "CountAll", 0 },
    { "GET", "/db/tx/{tx}", "TxById", 0 },
    { "GET", "/db/verifiable/tx/{tx}", "VerifiableTxById", 0 },
    { "POST", "/db/tx", "TxScan", R_BODY },
    { "POST", "/db/history", "History", R_BODY },
    { "GET", "/serverinfo", "ServerInfo", 0 },
    { "GET", "/health", "Health", 0 },
    { "GET", "/db/health", "DatabaseHealth", 0 },
    { "GET", "/db/state", "CurrentState", 0 },
    { "POST", "/db/setreference", "SetReference", R_BODY },
    { "POST", "/db/verifiable/setreference", "VerifiableSetReference", R_BODY },
    { "POST", "/db/zadd", "ZAdd", R_BODY },
    { "POST", "/db/verifiable/zadd", "VerifiableZAdd", R_BODY },
    { "POST", "/db/zscan", "ZScan", R_BODY },
    { "POST", "/db/create", "CreateDatabase", R_BODY },
    { "POST", "/db/createwith", "CreateDatabaseWith", R_BODY },
    { "POST", "/db/create/v2", "CreateDatabaseV2", R_BODY },
    { "POST", "/db/load", "LoadDatabase", R_BODY },
    { "POST", "/db/unload", "UnloadDatabase", R_BODY },
    { "POST", "/db/delete", "DeleteDatabase", R_BODY },
    { "POST", "/db/list", "DatabaseList", R_BODY },
    { "POST", "/db/list/v2", "DatabaseListV2", R_BODY },
    { "GET", "/db/use/{databaseName}", "UseDatabase", 0 },
    { "POST", "/db/update", "UpdateDatabase", R_BODY },
    { "POST", "/db/update/v2", "UpdateDatabaseV2", R_BODY },
    { "POST", "/db/settings", "GetDatabaseSettings", R_BODY },
    { "POST", "/db/settings/v2", "GetDatabaseSettingsV2", R_BODY },
    { "GET", "/db/flushindex", "FlushIndex", 0 },
    { "GET", "/db/compactindex", "CompactIndex", 0 },
    { "POST", "/db/truncate", "TruncateDatabase", R_BODY },
    { "POST", "/authorization/session/open", "OpenSession", R_BODY | R_SESSION_OPEN },
    { "POST", "/authorization/session/keepalive", "KeepAlive", R_BODY | R_SESSION_OTHER },
    { "POST", "/authorization/session/close", "CloseSession", R_BODY | R_SESSION_OTHER },
};
#define N_ROUTES (sizeof routes / sizeof routes[0])

static struct MHD_Daemon *hd;
static sdb_server *hsrv;
static size_t body_limit;
static int serve_metrics;   /* --metrics-server: /metrics on this port too */

/* ---------------------------------------------------------------- one request */
typedef struct hreq {
    sdb_buf body;
    int too_big;
    size_t body_seen;
    /* the call's answer, filled by the thread that finishes it */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
    int code;
    char msg[1100];
    uint8_t *resp;
    size_t resp_len;
    void (*dfn)(sdb_call *c, void *arg);
    void *darg;
} hreq;

static void h_finish(sdb_call *c, int code, const char *msg, const uint8_t *resp, size_t resp_len) {
    hreq *r = c->tctx;
    uint8_t *copy = NULL;
    if (code == SDB_GRPC_OK && resp) {
        copy = malloc(resp_len ? resp_len : 1);
        if (!copy) { code = SDB_GRPC_RESOURCE_EXHAUSTED; msg = "out of memory"; resp_len = 0; }
        else if (resp_len) memcpy(copy, resp, resp_len);
    }
    pthread_mutex_lock(&r->mu);
    r->code = code;
    snprintf(r->msg, sizeof r->msg, "%s", msg ? msg : "");
    r->resp = copy;
    r->resp_len = copy ? resp_len : 0;
    r->done = 1;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* Deferred work runs on the request's own thread, which waits for the answer anyway. */
static int h_defer(sdb_call *c, void (*fn)(sdb_call *c, void *arg), void *arg) {
    hreq *r = c->tctx;
    pthread_mutex_lock(&r->mu);
    int busy = r->dfn != NULL;
    if (!busy) { r->dfn = fn; r->darg = arg; pthread_cond_signal(&r->cv); }
    pthread_mutex_unlock(&r->mu);
    return busy ? -1 : 0;
}

static const sdb_call_ops http_ops = { h_finish, NULL, NULL, h_defer, NULL, NULL, NULL, NULL };

static void wait_answer(hreq *r, sdb_call *c) {
    pthread_mutex_lock(&r->mu);
    while (!r->done) {
        if (r->dfn) {
            void (*fn)(sdb_call *, void *) = r->dfn;
            void *arg = r->darg;
            r->dfn = NULL;
            pthread_mutex_unlock(&r->mu);
            fn(c, arg);
            pthread_mutex_lock(&r->mu);
            continue;
        }
        pthread_cond_wait(&r->cv, &r->mu);
    }
    pthread_mutex_unlock(&r->mu);
}

/* ---------------------------------------------------------------- responses */
static enum MHD_Result send_buf(struct MHD_Connection *conn, unsigned status, const char *ctype, const void *p,
                                size_t n, int rpc_ran) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(n, (void *)p, MHD_RESPMEM_MUST_COPY);
    if (!resp) return MHD_NO;
    if (ctype) MHD_add_response_header(resp, "Content-Type", ctype);
    if (rpc_ran) {
        MHD_add_response_header(resp, "Grpc-Metadata-Content-Type", "application/grpc");
        MHD_add_response_header(resp, "Grpc-Metadata-Immudb-Uuid", sdb_server_uuid(hsrv));
    }
    if (ctype && strncmp(ctype, "text/plain", 10) == 0) MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    enum MHD_Result ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result send_text(struct MHD_Connection *conn, unsigned status, const char *text) {
    return send_buf(conn, status, "text/plain; charset=utf-8", text, strlen(text), 0);
}

/* A redirect as Go's http.Redirect writes it (a one-link HTML body). */
static enum MHD_Result redirect(struct MHD_Connection *conn, unsigned status, const char *to) {
    char body[1200];
    int n = snprintf(body, sizeof body, "<a href=\"%s\">%s</a>.\n\n", to,
                     status == 301 ? "Moved Permanently" : "Temporary Redirect");
    if (n < 0 || (size_t)n >= sizeof body) n = 0;
    struct MHD_Response *resp = MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_COPY);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "text/html; charset=utf-8");
    MHD_add_response_header(resp, "Location", to);
    enum MHD_Result ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static unsigned http_status(int code) {
    static const unsigned map[17] = { 200, 408, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401 };
    return code >= 0 && code <= 16 ? map[code] : 500;
}

/* {"error":m,"code":n,"message":m,"details":[ErrorInfo, RetryInfo]} as the gateway writes it. */
static enum MHD_Result send_error(struct MHD_Connection *conn, int code, const char *msg, const char *info_code,
                                  const char *cause, int rpc_ran) {
    sdb_buf b;
    sdb_buf_init(&b);
    char num[24];
    snprintf(num, sizeof num, "%d", code);
    sdb_buf_append(&b, "{\"error\":", 9);
    sdb_json_string(&b, msg, strlen(msg));
    sdb_buf_append(&b, ",\"code\":", 8);
    sdb_buf_append(&b, num, strlen(num));
    sdb_buf_append(&b, ",\"message\":", 11);
    sdb_json_string(&b, msg, strlen(msg));
    if (info_code) {
        static const char at[] = "{\"@type\":\"type.googleapis.com/immudb.schema.ErrorInfo\",\"code\":";
        sdb_buf_append(&b, ",\"details\":[", 12);
        sdb_buf_append(&b, at, sizeof at - 1);
        sdb_json_string(&b, info_code, strlen(info_code));
        if (cause && *cause) {
            sdb_buf_append(&b, ",\"cause\":", 9);
            sdb_json_string(&b, cause, strlen(cause));
        }
        static const char retry[] = "},{\"@type\":\"type.googleapis.com/immudb.schema.RetryInfo\"}]";
        sdb_buf_append(&b, retry, sizeof retry - 1);
    }
    sdb_buf_append_u8(&b, '}');
    enum MHD_Result ret = send_buf(conn, http_status(code), "application/json", b.ptr, b.len, rpc_ran);
    sdb_buf_deinit(&b);
    return ret;
}

/* The request passes the gRPC receive limit (--max-recv-msg-size), in immudb's words. */
static enum MHD_Result too_large(struct MHD_Connection *conn, size_t n, size_t limit) {
    char m[160];
    snprintf(m, sizeof m, "grpc: received message larger than max (%zu vs. %zu)", n, limit);
    return send_error(conn, SDB_GRPC_RESOURCE_EXHAUSTED, m, NULL, NULL, 0);
}

/* ---------------------------------------------------------------- routing */
static size_t split(char *path, char **segs) {
    size_t n = 0;
    char *p = path + (*path == '/');
    for (;;) {
        if (n == MAX_SEGS) return MAX_SEGS + 1;
        segs[n++] = p;
        char *sl = strchr(p, '/');
        if (!sl) break;
        *sl = 0;
        p = sl + 1;
    }
    return n;
}

/* Route index for method and segments (-1: none), binding the {var} segment to *var and *val; *other is
 * the first route of the same path with another method. */
static int match(const char *method, char **segs, size_t n, const char **var, const char **val, int *other) {
    if (n > MAX_SEGS) return -1;
    const char *last = segs[n - 1];
    if (strchr(last, ':')) return -1;   /* a gateway "verb": no immudb route has one */
    for (size_t i = 0; i < N_ROUTES; i++) {
        char pat[64];
        snprintf(pat, sizeof pat, "%s", routes[i].pattern);
        char *ps[MAX_SEGS + 1];
        size_t pn = split(pat, ps);
        if (pn != n) continue;
        const char *v = NULL, *vv = NULL;
        size_t k = 0;
        for (; k < n; k++) {
            if (ps[k][0] == '{') { v = ps[k]; vv = segs[k]; continue; }
            if (strcmp(ps[k], segs[k])) break;
        }
        if (k < n) continue;
        if (strcmp(routes[i].method, method)) { if (*other < 0) *other = (int)i; continue; }
        if (v) {
            static const char *const names[] = { "{key}", "{prefix}", "{tx}", "{databaseName}" };
            static const char *const plain[] = { "key", "prefix", "tx", "databaseName" };
            for (int j = 0; j < 4; j++) if (!strcmp(v, names[j])) *var = plain[j];
            *val = vv;
        }
        return (int)i;
    }
    return -1;
}

/* Go's path.Clean of an absolute path, keeping a trailing slash. */
static void clean_path(const char *in, char *out, size_t cap) {
    size_t k = 0;
    out[k++] = '/';
    const char *p = in;
    while (*p) {
        while (*p == '/') p++;
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 0) break;
        if (n == 1 && p[0] == '.') { /* skip */ }
        else if (n == 2 && p[0] == '.' && p[1] == '.') {
            if (k > 1) { k--; while (k > 1 && out[k - 1] != '/') k--; }
        } else if (k + n + 2 < cap) {
            memcpy(out + k, p, n);
            k += n;
            out[k++] = '/';
        }
        p += n;
    }
    size_t inlen = strlen(in);
    if (k > 1 && !(inlen && in[inlen - 1] == '/')) k--;
    out[k] = 0;
}

/* ---------------------------------------------------------------- request metadata */
typedef struct md_ctx { sdb_call *c; } md_ctx;

static enum MHD_Result add_md(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
    (void)kind;
    sdb_call *c = ((md_ctx *)cls)->c;
    if (!key || !value) return MHD_YES;
    char lk[128];
    size_t n = strlen(key);
    if (n >= sizeof lk) return MHD_YES;
    for (size_t i = 0; i <= n; i++) lk[i] = (char)(key[i] >= 'A' && key[i] <= 'Z' ? key[i] + 32 : key[i]);
    /* HTTP header values lose their surrounding blanks ("Bearer " arrives as "Bearer") */
    while (*value == ' ' || *value == '\t') value++;
    size_t vl = strlen(value);
    while (vl && (value[vl - 1] == ' ' || value[vl - 1] == '\t')) vl--;
    if (!strcmp(lk, "authorization") || !strcmp(lk, "sessionid"))
        sdb_call_add_metadata(c, lk, n, value, vl);
    else if (!strncmp(lk, "grpc-metadata-", 14) && n > 14)
        sdb_call_add_metadata(c, lk + 14, n - 14, value, vl);
    return MHD_YES;
}

static void set_peer(struct MHD_Connection *conn, sdb_call *c) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char ip[INET6_ADDRSTRLEN], out[INET6_ADDRSTRLEN + 16];
    if (!ci || !ci->client_addr) return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        if (!inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip)) return;
        snprintf(out, sizeof out, "ipv4:%s:%u", ip, (unsigned)ntohs(a->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
        if (!inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip)) return;
        snprintf(out, sizeof out, "ipv6:[%s]:%u", ip, (unsigned)ntohs(a->sin6_port));
    } else return;
    sdb_call_set_peer(c, out);
}

/* ---------------------------------------------------------------- query string */
typedef struct q_ctx {
    ProtobufCMessage *m;
    ProtobufCAllocator *a;
    const char *bound;           /* the path-bound field, never taken from the query */
    char seen[16][64];
    int n_seen;
    int failed;
    char err[300];
} q_ctx;

static enum MHD_Result query_one(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
    (void)kind;
    q_ctx *q = cls;
    if (q->failed || !key) return MHD_YES;
    if (q->bound && !strcmp(key, q->bound)) return MHD_YES;
    for (int i = 0; i < q->n_seen; i++)
        if (!strcmp(q->seen[i], key)) return MHD_YES;   /* the first value wins */
    int rc = sdb_json_set_text(q->m, key, value ? value : "", q->a, q->err, sizeof q->err);
    if (rc == SEALDB_INVALID) { q->failed = 1; return MHD_YES; }
    if (rc == 0 && q->n_seen < 16 && strlen(key) < sizeof q->seen[0]) snprintf(q->seen[q->n_seen++], sizeof q->seen[0], "%s", key);
    return MHD_YES;
}

/* form fields of an application/x-www-form-urlencoded body: parsed like a query string */
static void form_apply(q_ctx *q, const char *body, size_t len) {
    char *copy = malloc(len + 1);
    if (!copy) return;
    memcpy(copy, body, len);
    copy[len] = 0;
    for (char *save = NULL, *kv = strtok_r(copy, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(kv, '=');
        if (eq) *eq = 0;
        for (char *p = kv; *p; p++) if (*p == '+') *p = ' ';
        MHD_http_unescape(kv);
        char *v = eq ? eq + 1 : (char *)"";
        for (char *p = v; *p; p++) if (*p == '+') *p = ' ';
        MHD_http_unescape(v);
        query_one(q, MHD_GET_ARGUMENT_KIND, kv, v);
    }
    free(copy);
}

/* ---------------------------------------------------------------- immudb's TxHeader.metadata quirk */
/* immudb sends a present but empty TxMetadata ("metadata":{}) in the header of every tx it returns
 * whole (Set & co, Tx.header, and the dual-proof header of that same tx), not in the other dual-proof
 * header; both forms hash the same. Reproduced here so the JSON matches immudb's byte for byte. */
static Immudb__Schema__TxMetadata empty_txmd = IMMUDB__SCHEMA__TX_METADATA__INIT;

static void hdr_md(Immudb__Schema__TxHeader *h) { if (h && !h->metadata) h->metadata = &empty_txmd; }

static void quirk_walk(ProtobufCMessage *m, int depth) {
    if (!m || depth > 32) return;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    if (d == &immudb__schema__tx__descriptor) hdr_md(((Immudb__Schema__Tx *)m)->header);
    if (d == &immudb__schema__verifiable_tx__descriptor) {
        Immudb__Schema__VerifiableTx *v = (Immudb__Schema__VerifiableTx *)m;
        Immudb__Schema__DualProof *dp = v->dualproof;
        uint64_t id = v->tx && v->tx->header ? v->tx->header->id : 0;
        if (dp && id && dp->sourcetxheader && dp->sourcetxheader->id == id) hdr_md(dp->sourcetxheader);
        if (dp && id && dp->targettxheader && dp->targettxheader->id == id) hdr_md(dp->targettxheader);
    }
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE) continue;
        uint8_t *base = (uint8_t *)m;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(size_t *)(base + f->quantifier_offset);
            ProtobufCMessage **arr = *(ProtobufCMessage ***)(base + f->offset);
            for (size_t k = 0; k < n; k++) quirk_walk(arr[k], depth + 1);
        } else {
            quirk_walk(*(ProtobufCMessage **)(base + f->offset), depth + 1);
        }
    }
}

/* ---------------------------------------------------------------- one RPC */
static void *arena_alloc(void *ad, size_t n) { return sdb_arena_alloc((sdb_arena *)ad, n ? n : 1); }
static void arena_free(void *ad, void *p) { (void)ad; (void)p; }

static enum MHD_Result run_rpc(struct MHD_Connection *conn, hreq *r, const route *rt, const char *var,
                               const char *val, const char *form, size_t form_len) {
    char path[96];
    snprintf(path, sizeof path, SVC "%s", rt->rpc);
    const sdb_rpc_method *mt = sdb_dispatch_lookup(hsrv, path, NULL);
    sdb_arena ar;
    sdb_arena_init(&ar, 4096);
    ProtobufCAllocator pa = { arena_alloc, arena_free, &ar };
    char err[300] = "";
    enum MHD_Result ret;
    ProtobufCMessage *req = NULL;
    uint8_t *packed = NULL;
    size_t packed_len = 0;
    const char *body = r->body.ptr ? (const char *)r->body.ptr : "";
    if (rt->flags & R_SESSION_OPEN) {
        /* model.OpenSessionRequest: plain strings, mapped onto ImmuService's OpenSessionRequest */
        Immudb__Schema__OpenSessionRequest *os = sdb_arena_alloc(&ar, sizeof *os);
        if (!os) { ret = MHD_NO; goto out; }
        immudb__schema__open_session_request__init(os);
        cJSON *root = r->body.len ? cJSON_ParseWithLengthOpts(body, r->body.len, NULL, 0) : NULL;
        if (r->body.len && !root) { ret = send_error(conn, SDB_GRPC_INVALID_ARGUMENT, "unexpected EOF", NULL, NULL, 0); goto out; }
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(root, "username");
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "password");
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(root, "database");
        if ((u && !cJSON_IsString(u) && !cJSON_IsNull(u)) || (p && !cJSON_IsString(p) && !cJSON_IsNull(p)) ||
            (d && !cJSON_IsString(d) && !cJSON_IsNull(d))) {
            cJSON_Delete(root);
            ret = send_error(conn, SDB_GRPC_INVALID_ARGUMENT, "json: cannot unmarshal into Go value of type string", NULL, NULL, 0);
            goto out;
        }
        const char *us = cJSON_IsString(u) ? u->valuestring : "", *ps = cJSON_IsString(p) ? p->valuestring : "";
        const char *ds = cJSON_IsString(d) ? d->valuestring : "";
        os->username.data = sdb_arena_dup(&ar, us, strlen(us) + 1);
        os->username.len = strlen(us);
        os->password.data = sdb_arena_dup(&ar, ps, strlen(ps) + 1);
        os->password.len = strlen(ps);
        os->databasename = sdb_arena_dup(&ar, ds, strlen(ds) + 1);
        cJSON_Delete(root);
        if (!os->username.data || !os->password.data || !os->databasename) { ret = MHD_NO; goto out; }
        req = &os->base;
    } else if (mt && mt->req_desc) {
        req = sdb_json_new(mt->req_desc, &pa);
        if (!req) { ret = MHD_NO; goto out; }
        if (rt->flags & R_BODY) {
            if (sdb_json_decode(req, body, r->body.len, &pa, err, sizeof err)) {
                ret = send_error(conn, SDB_GRPC_INVALID_ARGUMENT, err, NULL, NULL, 0);
                goto out;
            }
        } else {
            if (var) {
                int rc = sdb_json_set_text(req, var, val, &pa, err, sizeof err);
                if (rc == SEALDB_INVALID) {
                    char m[400];
                    snprintf(m, sizeof m, "type mismatch, parameter: %s, error: %s", var, err);
                    ret = send_error(conn, SDB_GRPC_INVALID_ARGUMENT, m, NULL, NULL, 0);
                    goto out;
                }
            }
            q_ctx q = { .m = req, .a = &pa, .bound = var };
            MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, query_one, &q);
            if (form && !q.failed) form_apply(&q, form, form_len);
            if (q.failed) { ret = send_error(conn, SDB_GRPC_INVALID_ARGUMENT, q.err, NULL, NULL, 0); goto out; }
        }
    } else if (rt->flags & R_BODY && r->body.len) {
        /* a method sealdb does not serve: the body must still be JSON */
        cJSON *root = cJSON_ParseWithLengthOpts(body, r->body.len, NULL, 0);
        if (!root) { ret = send_error(conn, SDB_GRPC_INVALID_ARGUMENT, "unexpected EOF", NULL, NULL, 0); goto out; }
        cJSON_Delete(root);
    }
    if (req) {
        packed_len = protobuf_c_message_get_packed_size(req);
        if (packed_len > hsrv->cfg.max_recv_msg_size && hsrv->cfg.max_recv_msg_size) {
            ret = too_large(conn, packed_len, hsrv->cfg.max_recv_msg_size);
            goto out;
        }
        packed = sdb_arena_alloc(&ar, packed_len ? packed_len : 1);
        if (!packed) { ret = MHD_NO; goto out; }
        protobuf_c_message_pack(req, packed);
    }

    sdb_call *c = sdb_call_new(hsrv, path, strlen(path), &http_ops, r);
    if (!c) { ret = send_error(conn, SDB_GRPC_RESOURCE_EXHAUSTED, "out of memory", NULL, NULL, 0); goto out; }
    md_ctx mc = { c };
    MHD_get_connection_values(conn, MHD_HEADER_KIND, add_md, &mc);
    set_peer(conn, c);
    sdb_dispatch(c, sdb_slice_of(packed ? packed : (const uint8_t *)"", packed_len));
    wait_answer(r, c);
    if (r->code != SDB_GRPC_OK) {
        ret = send_error(conn, r->code, r->msg, c->err_info_code, c->err_cause, 1);
        sdb_call_unref(c);
        goto out;
    }
    sdb_call_unref(c);
    if (r->resp_len > GW_MAX_RESPONSE) {
        char m[160];
        snprintf(m, sizeof m, "grpc: received message larger than max (%zu vs. %u)", r->resp_len, GW_MAX_RESPONSE);
        ret = send_error(conn, SDB_GRPC_RESOURCE_EXHAUSTED, m, NULL, NULL, 1);
        goto out;
    }
    const ProtobufCMessageDescriptor *rd = mt ? mt->resp_desc : NULL;
    sdb_buf b;
    sdb_buf_init(&b);
    if (rt->flags & R_SESSION_OTHER || !rd) {
        sdb_buf_append(&b, "{}", 2);
    } else {
        ProtobufCMessage *resp = protobuf_c_message_unpack(rd, &pa, r->resp_len, r->resp ? r->resp : (const uint8_t *)"");
        if (resp && rd == &immudb__schema__tx_header__descriptor) hdr_md((Immudb__Schema__TxHeader *)resp);
        else if (resp) quirk_walk(resp, 0);
        if (!resp || sdb_json_encode(resp, &b)) {
            sdb_buf_deinit(&b);
            ret = send_error(conn, SDB_GRPC_INTERNAL, "cannot encode the response", NULL, NULL, 1);
            goto out;
        }
        if (rt->flags & R_SESSION_OPEN) {
            /* model.OpenSessionResponse adds the session's end times (unix seconds, 0: none) */
            const sdb_server_config *cfg = &hsrv->cfg;
            uint64_t now = (uint64_t)sdb_unix_s();
            char tail[96];
            b.len--;   /* reopen the object */
            int k = 0;
            if (cfg->session_max_age_ms)
                k += snprintf(tail + k, sizeof tail - (size_t)k, ",\"expirationTimestamp\":%llu",
                              (unsigned long long)(now + cfg->session_max_age_ms / 1000));
            if (cfg->session_inactivity_ms)
                k += snprintf(tail + k, sizeof tail - (size_t)k, ",\"inactivityTimestamp\":%llu",
                              (unsigned long long)(now + cfg->session_inactivity_ms / 1000));
            snprintf(tail + k, sizeof tail - (size_t)k, "}");
            sdb_buf_append(&b, tail, strlen(tail));
        }
    }
    ret = send_buf(conn, 200, "application/json", b.ptr, b.len, 1);
    sdb_buf_deinit(&b);
out:
    free(r->resp);
    r->resp = NULL;
    sdb_arena_deinit(&ar);
    return ret;
}

/* "<1..8 digits><unit>" with unit one of H M S m u n, as gRPC's timeout header. */
static int grpc_timeout_ok(const char *v) {
    size_t n = strlen(v), d = 0;
    while (d < n && v[d] >= '0' && v[d] <= '9') d++;
    return d >= 1 && d <= 8 && d + 1 == n && strchr("HMSmun", v[d]);
}

/* ---------------------------------------------------------------- the handler */
/* A console file: same-origin scripts only, never framed, revalidated on every load. */
static enum MHD_Result send_asset(struct MHD_Connection *conn, const char *type, const unsigned char *p, size_t n) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(n, (void *)p, MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", type);
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'");
    enum MHD_Result ret = MHD_queue_response(conn, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* The metrics server's /metrics text on this port, so that the console (same origin only, by its CSP)
 * can chart it; public, as on the metrics port, and only when --metrics-server is on. */
static enum MHD_Result send_metrics(struct MHD_Connection *conn) {
    sdb_buf b;
    sdb_buf_init(&b);
    sdb_metrics_render(hsrv, &b);
    struct MHD_Response *resp = MHD_create_response_from_buffer(b.len, b.ptr ? b.ptr : (void *)"", MHD_RESPMEM_MUST_COPY);
    sdb_buf_deinit(&b);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    enum MHD_Result ret = MHD_queue_response(conn, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_len, void **ctx) {
    (void)cls; (void)version;
    hreq *r = *ctx;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r) return MHD_NO;
        sdb_buf_init(&r->body);
        pthread_mutex_init(&r->mu, NULL);
        pthread_cond_init(&r->cv, NULL);
        *ctx = r;
        /* a declared body beyond the limit is refused before any of it is read */
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > body_limit) {
            r->body_seen = (size_t)strtoull(cl, NULL, 10);
            return too_large(conn, r->body_seen, body_limit);
        }
        return MHD_YES;
    }
    if (*upload_len) {
        /* libmicrohttpd takes no answer in the middle of a body: a body past the limit (chunked, so
         * not refused from its length) is dropped as it comes and answered at its end; one that
         * goes on past 4 times the limit loses its connection */
        size_t n = *upload_len;
        *upload_len = 0;
        r->body_seen += n;
        if (r->too_big || r->body_seen > body_limit || sdb_buf_append(&r->body, upload, n)) {
            if (!r->too_big) sdb_buf_deinit(&r->body);
            r->too_big = 1;
            return r->body_seen / 4 > body_limit ? MHD_NO : MHD_YES;
        }
        return MHD_YES;
    }
    if (r->too_big) return too_large(conn, r->body_seen, body_limit);
    if (strncmp(url, "/api", 4) != 0 || (url[4] && url[4] != '/')) {
        const char *type;
        const unsigned char *data;
        size_t len;
        int get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
        if (get && serve_metrics && !strcmp(url, "/metrics")) return send_metrics(conn);
        if (get && sdb_console_find(url, &type, &data, &len))
            return send_asset(conn, type, data, len);
        return send_text(conn, 404, "Not Found\n");
    }
    char cleaned[1024];
    if (strlen(url) >= sizeof cleaned - 2) return send_text(conn, 404, "Not Found\n");
    clean_path(url, cleaned, sizeof cleaned);
    if (strcmp(cleaned, url)) return redirect(conn, 301, cleaned);
    if (!strcmp(url, "/api") || !strcmp(url, "/api/v2")) {
        snprintf(cleaned, sizeof cleaned, "%s/", url);
        return redirect(conn, 301, cleaned);
    }
    if (!strncmp(url, "/api/docs/", 10) || !strcmp(url, "/api/docs")) return redirect(conn, 307, "/missingswagger/");
    const char *rest = url + 4;
    if (!strncmp(rest, "/v2/", 4)) rest += 3;
    char pbuf[1024];
    snprintf(pbuf, sizeof pbuf, "%s", rest);
    char *segs[MAX_SEGS + 1];
    size_t n = split(pbuf, segs);

    /* a form-encoded POST may override its method and reach a route of another method */
    const char *ctype = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
    int form = !strcmp(method, "POST") && ctype && !strcmp(ctype, "application/x-www-form-urlencoded");
    const char *eff = method;
    if (form) {
        const char *ov = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-HTTP-Method-Override");
        if (ov && *ov) eff = ov;
    }
    const char *var = NULL, *val = NULL;
    int other = -1;
    int i = match(eff, segs, n, &var, &val, &other);
    if (i < 0 && other >= 0 && form) {
        int dummy = -1;
        i = match(routes[other].method, segs, n, &var, &val, &dummy);
    }
    if (i < 0) return other >= 0 ? send_text(conn, 405, "Method Not Allowed\n") : send_text(conn, 404, "Not Found\n");
    const route *rt = &routes[i];
    /* the gateway parses Grpc-Timeout before the call; sealdb's own request timeout bounds the call */
    const char *gt = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Grpc-Timeout");
    if (gt && !grpc_timeout_ok(gt)) {
        char m[200];
        snprintf(m, sizeof m, "invalid grpc-timeout: %.100s", gt);
        return send_error(conn, SDB_GRPC_INVALID_ARGUMENT, m, NULL, NULL, 0);
    }
    int use_form = form && strcmp(rt->method, "POST") != 0;
    return run_rpc(conn, r, rt, var, val, use_form ? (const char *)r->body.ptr : NULL, use_form ? r->body.len : 0);
}

static void completed(void *cls, struct MHD_Connection *conn, void **ctx, enum MHD_RequestTerminationCode tc) {
    (void)cls; (void)conn; (void)tc;
    hreq *r = *ctx;
    if (!r) return;
    sdb_buf_deinit(&r->body);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r->resp);
    free(r);
    *ctx = NULL;
}

static char *read_all(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    sdb_buf b;
    sdb_buf_init(&b);
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0 && b.len < (1u << 20)) sdb_buf_append(&b, tmp, n);
    fclose(f);
    sdb_buf_append_u8(&b, 0);
    char *s = malloc(b.len);
    if (s) memcpy(s, b.ptr, b.len);
    sdb_buf_deinit(&b);
    return s;
}

static char *tls_cert, *tls_key;

int sdb_http_start(sdb_server *s, const sdb_http_config *hc, char *err, size_t errlen) {
    hsrv = s;
    serve_metrics = hc->metrics;
    /* JSON carries bytes as base64 (4/3 of the message size) plus names: the body may be that much
     * larger than the largest request message, which is checked once decoded */
    size_t max_msg = s->cfg.max_recv_msg_size ? s->cfg.max_recv_msg_size : 33554432u;
    body_limit = max_msg / 3 * 4 + 65536;
    struct addrinfo *ai = NULL;
    if (sdb_resolve_listen(s->cfg.address, hc->port, &ai)) {
        snprintf(err, errlen, "cannot resolve %s", s->cfg.address);
        return SEALDB_IO;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    if (s->cfg.certificate && s->cfg.pkey) {
        tls_cert = read_all(s->cfg.certificate);
        tls_key = read_all(s->cfg.pkey);
        if (!tls_cert || !tls_key) {
            freeaddrinfo(ai);
            snprintf(err, errlen, "cannot read the TLS certificate or key");
            return SEALDB_IO;
        }
        flags |= MHD_USE_TLS;
    }
    struct MHD_OptionItem tls_opts[] = {
        { MHD_OPTION_HTTPS_MEM_CERT, 0, tls_cert },
        { MHD_OPTION_HTTPS_MEM_KEY, 0, tls_key },
        { MHD_OPTION_END, 0, NULL },
    };
    hd = MHD_start_daemon(flags, (uint16_t)hc->port, NULL, NULL, handle, NULL,
                          MHD_OPTION_EXTERNAL_LOGGER, sdb_log_mhd, (void *)"REST API",
                          MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                          MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
                          MHD_OPTION_CONNECTION_LIMIT, (unsigned)hc->max_connections,
                          MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)hc->timeout_s,
                          MHD_OPTION_ARRAY, (flags & MHD_USE_TLS) ? tls_opts : &tls_opts[2],
                          MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!hd) {
        snprintf(err, errlen, "cannot listen on %s:%d", s->cfg.address, hc->port);
        return SEALDB_IO;
    }
    return SEALDB_OK;
}

int sdb_http_bound_port(void) {
    if (!hd) return 0;
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(hd, MHD_DAEMON_INFO_BIND_PORT);
    return di ? di->port : 0;
}

void sdb_http_stop(void) {
    if (hd) MHD_stop_daemon(hd);
    hd = NULL;
    free(tls_cert);
    free(tls_key);
    tls_cert = tls_key = NULL;
}
