/* handlers_server.c - the non-KV RPCs: Login/Logout, sessions, UseDatabase, users, databases,
 * Health/ServerInfo/DatabaseHealth and a baseline CurrentState (a later module may override it).
 * Codes and messages follow docs/api.md sections 1 and 3 exactly. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <openssl/evp.h>
#include "rpc/server.h"
#include "rpc/repl.h"

#define SVC "/immudb.schema.ImmuService/"
#define ERR(code, ...) sdb_call_error(c, SDB_GRPC_##code, __VA_ARGS__)

static const Immudb__Schema__Empty empty_resp = IMMUDB__SCHEMA__EMPTY__INIT;

/* A user name sent as bytes holding a NUL would end early as a C string ("immudb\0x" -> "immudb"):
 * such names match no user and are refused. */
static int has_nul(ProtobufCBinaryData b) { return b.len && memchr(b.data, 0, b.len) != NULL; }

/* bytes field -> NUL-terminated string in the arena (NULL on OOM) */
static char *bstr(sdb_call *c, ProtobufCBinaryData b) {
    char *p = sdb_call_alloc(c, b.len + 1);
    if (p && b.len) memcpy(p, b.data, b.len);
    return p;
}

static int valid_username(const char *u) {
    size_t n = strlen(u);
    if (n == 0 || n > 63) return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)u[i]) && u[i] != '_') return 0;
    return 1;
}

static int valid_perm(uint32_t p) {
    return p == SDB_PERMISSION_R || p == SDB_PERMISSION_RW || p == SDB_PERMISSION_ADMIN || p == SDB_PERMISSION_SYSADMIN;
}

static int is_admin_somewhere(const sdb_user *u) {
    if (sdb_user_perm_on(u, "") == SDB_PERMISSION_SYSADMIN) return 1;
    for (size_t i = 0; i < u->n_perms; i++)
        if (u->perms[i].perm == SDB_PERMISSION_ADMIN) return 1;
    return 0;
}

/* Ends every session of user but the one whose id is keep (NULL: all). */
static void close_user_sessions(sdb_server *s, const char *user, const char *keep) {
    sdb_session **pp = &s->sessions;
    while (*pp) {
        sdb_session *ss = *pp;
        if (strcmp(ss->user, user) == 0 && !(keep && strcmp(ss->id, keep) == 0)) { *pp = ss->next; s->n_sessions--; sdb_free(ss); }
        else pp = &ss->next;
    }
}

static int random_fill(uint8_t *p, size_t n) {
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f) return SEALDB_IO;
    size_t got = fread(p, 1, n, f);
    fclose(f);
    return got == n ? SEALDB_OK : SEALDB_IO;
}

static const char auth_off_msg[] = "server is running with authentication disabled, please enable authentication to login";

/* ---- Login / Logout ---- */

/* immudb wraps the lookup's or bcrypt's error: the message is the same for both, the ErrorInfo cause
 * tells them apart (docs/api.md 1.3) */
static int bad_login(sdb_call *c, int user_exists) {
    return sdb_call_error_info(c, SDB_GRPC_UNKNOWN, "08004",
                               user_exists ? "crypto/bcrypt: hashedPassword is not the hash of the given password"
                                           : "tbtree: key not found",
                               "invalid user name or password");
}

/* The password was checked (sdb_login_check, maybe on its pool's thread): answer the Login. */
static void login_checked(sdb_call *c, int result, void *arg) {
    const Immudb__Schema__LoginRequest *r = arg;
    sdb_server *s = c->srv;
    if (result != 1) { bad_login(c, result == 0); return; }
    const char *user = bstr(c, r->user);
    if (!user) { ERR(RESOURCE_EXHAUSTED, "out of memory"); return; }
    char tok[512];
    pthread_mutex_lock(&s->mu);
    sdb_user *u = sdb_user_find(s, user);
    int active = u && u->active;
    int rc = active ? sdb_token_issue(s, u, s->multi_db ? "" : SDB_DEFAULTDB, tok, sizeof tok) : SEALDB_OK;
    if (active) u->logged_in = 1;
    pthread_mutex_unlock(&s->mu);
    if (!active) { sdb_call_error_info(c, SDB_GRPC_UNKNOWN, "08004", NULL, "user is not active"); return; }
    if (rc) { ERR(INTERNAL, "cannot issue token"); return; }
    Immudb__Schema__LoginResponse *resp = sdb_call_alloc(c, sizeof *resp);
    if (!resp) { ERR(RESOURCE_EXHAUSTED, "out of memory"); return; }
    immudb__schema__login_response__init(resp);
    resp->token = sdb_call_dup(c, tok, strlen(tok) + 1);
    if (strcmp(user, SDB_SYSADMIN) == 0 && r->password.len == 6 && memcmp(r->password.data, "immudb", 6) == 0) {
        static const char w[] = "immudb user has the default password: please change it to ensure proper security";
        resp->warning.data = (uint8_t *)w;
        resp->warning.len = sizeof w - 1;
    }
    sdb_call_ok(c, &resp->base);
}

static int h_login(sdb_call *c, const ProtobufCMessage *rq) {
    const Immudb__Schema__LoginRequest *r = (const void *)rq;
    sdb_server *s = c->srv;
    if (!s->cfg.auth) return ERR(UNKNOWN, "%s", auth_off_msg);
    char *user = bstr(c, r->user);
    if (!user) return ERR(RESOURCE_EXHAUSTED, "out of memory");
    pthread_mutex_lock(&s->mu);
    sdb_user *u = r->user.len < 64 && !has_nul(r->user) ? sdb_user_find(s, user) : NULL;
    char hash[128] = "";
    if (u) strcpy(hash, u->hash);
    pthread_mutex_unlock(&s->mu);
    return sdb_login_check(c, user, u ? hash : NULL, r->password.data, r->password.len, login_checked, (void *)r);
}

static int h_logout(sdb_call *c, const ProtobufCMessage *rq) {
    sdb_server *s = c->srv;
    if (!s->cfg.auth) return ERR(UNKNOWN, "%s", auth_off_msg);
    pthread_mutex_lock(&s->mu);
    sdb_user *u = sdb_user_find(s, c->user);
    int was = u && u->logged_in;
    if (u) { sdb_user_revoke_tokens(u); u->logged_in = 0; sdb_catalog_save(s); }
    pthread_mutex_unlock(&s->mu);
    if (!was && !sdb_call_metadata(c, "authorization")) return ERR(UNKNOWN, "not logged in");
    return sdb_call_ok(c, &empty_resp.base);
}

/* ---- sessions ---- */
static void open_session_checked(sdb_call *c, int result, void *arg);

static int h_open_session(sdb_call *c, const ProtobufCMessage *rq) {
    const Immudb__Schema__OpenSessionRequest *r = (const void *)rq;
    sdb_server *s = c->srv;
    if (!s->cfg.auth) return ERR(UNKNOWN, "%s", auth_off_msg);
    char *user = bstr(c, r->username);
    if (!user) return ERR(RESOURCE_EXHAUSTED, "out of memory");
    pthread_mutex_lock(&s->mu);
    sdb_user *u = r->username.len < 64 && !has_nul(r->username) ? sdb_user_find(s, user) : NULL;
    char hash[128] = "";
    if (u) strcpy(hash, u->hash);
    pthread_mutex_unlock(&s->mu);
    return sdb_login_check(c, user, u ? hash : NULL, r->password.data, r->password.len, open_session_checked,
                           (void *)r);
}

/* The password was checked (sdb_login_check): open the session. */
static void open_session_checked(sdb_call *c, int result, void *arg) {
    const Immudb__Schema__OpenSessionRequest *r = arg;
    sdb_server *s = c->srv;
    if (result != 1) { bad_login(c, result == 0); return; }
    const char *user = bstr(c, r->username);
    char db[129];
    const char *dbn = r->databasename ? r->databasename : "";
    if (!user) { ERR(RESOURCE_EXHAUSTED, "out of memory"); return; }
    size_t dl = strlen(dbn);
    if (dl > 128) dl = 128;
    for (size_t i = 0; i < dl; i++) db[i] = (char)tolower((unsigned char)dbn[i]);
    db[dl] = 0;
    uint8_t rnd[32];
    if (random_fill(rnd, sizeof rnd)) { ERR(INTERNAL, "cannot create session id"); return; }
    sdb_session *ss = sdb_calloc(1, sizeof *ss);
    if (!ss) { ERR(RESOURCE_EXHAUSTED, "out of memory"); return; }
    EVP_EncodeBlock((unsigned char *)ss->id, rnd, sizeof rnd);
    for (char *p = ss->id; *p; p++) { if (*p == '+') *p = '-'; else if (*p == '/') *p = '_'; }
    pthread_mutex_lock(&s->mu);
    sdb_user *u = sdb_user_find(s, user);
    const char *err = NULL;
    int code = SDB_GRPC_UNKNOWN;
    sdb_database *d = sdb_db_find(s, db);
    if (!u || !u->active) err = "user is not active";
    else if (!d) err = "database does not exist";
    else if (!sdb_user_perm_on(u, db)) { err = "Logged in user does not have permission on this database"; code = SDB_GRPC_PERMISSION_DENIED; }
    else if (s->n_sessions >= s->cfg.max_sessions) { err = "can not create new session: max sessions number reached"; code = SDB_GRPC_INTERNAL; }
    if (!err) {
        strcpy(ss->user, user);
        strcpy(ss->db, db);
        ss->created_ms = ss->last_ms = sdb_now_ms();
        ss->next = s->sessions;
        s->sessions = ss;
        s->n_sessions++;
    }
    pthread_mutex_unlock(&s->mu);
    if (err) { sdb_free(ss); sdb_call_error(c, (sdb_grpc_code)code, "%s", err); return; }
    Immudb__Schema__OpenSessionResponse *resp = sdb_call_alloc(c, sizeof *resp);
    if (!resp) { ERR(RESOURCE_EXHAUSTED, "out of memory"); return; }
    immudb__schema__open_session_response__init(resp);
    resp->sessionid = sdb_call_dup(c, ss->id, strlen(ss->id) + 1);
    resp->serveruuid = s->uuid;
    sdb_call_ok(c, &resp->base);
}

static int session_op(sdb_call *c, int close) {
    sdb_server *s = c->srv;
    const char *sid = sdb_call_metadata(c, "sessionid");
    if (!sid) return sdb_call_error_info(c, SDB_GRPC_UNKNOWN, "28000", NULL, "no session auth data provided");
    if (!sid[0]) return ERR(UNKNOWN, "no sessionID provided");
    int found = 0;
    uint64_t now = sdb_now_ms();
    pthread_mutex_lock(&s->mu);
    for (sdb_session **pp = &s->sessions; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->id, sid) == 0) {
            if (sdb_session_expired(s, *pp, now)) break;   /* a KeepAlive cannot revive an ended session */
            found = 1;
            if (close) { sdb_session *ss = *pp; *pp = ss->next; s->n_sessions--; sdb_free(ss); }
            else (*pp)->last_ms = now;
            break;
        }
    }
    pthread_mutex_unlock(&s->mu);
    if (!found) return ERR(PERMISSION_DENIED, "session not found");
    return sdb_call_ok(c, &empty_resp.base);
}
static int h_close_session(sdb_call *c, const ProtobufCMessage *rq) { return session_op(c, 1); }
static int h_keep_alive(sdb_call *c, const ProtobufCMessage *rq) { return session_op(c, 0); }

static int h_use_database(sdb_call *c, const ProtobufCMessage *rq) {
    const Immudb__Schema__Database *r = (const void *)rq;
    sdb_server *s = c->srv;
    const char *name = r->databasename ? r->databasename : "";
    char tok[512];
    pthread_mutex_lock(&s->mu);
    sdb_user *u = sdb_user_find(s, c->user);
    sdb_database *d = sdb_db_find(s, name);
    const char *err = NULL;
    int code = SDB_GRPC_UNKNOWN;
    if (!u) err = "not logged in";
    else if (!d) { err = "does not exist"; code = SDB_GRPC_NOT_FOUND; }
    else if (!d->loaded) err = "already closed";
    else if (!sdb_user_perm_on(u, name) || (d->system && sdb_user_perm_on(u, name) != SDB_PERMISSION_SYSADMIN)) {
        err = "Logged in user does not have permission on this database"; code = SDB_GRPC_PERMISSION_DENIED;
    }
    if (!err && sdb_token_issue(s, u, name, tok, sizeof tok)) { err = "cannot issue token"; code = SDB_GRPC_INTERNAL; }
    if (!err) {
        const char *sid = sdb_call_metadata(c, "sessionid");
        if (sid)
            for (sdb_session *ss = s->sessions; ss; ss = ss->next)
                if (strcmp(ss->id, sid) == 0) { strcpy(ss->db, name); break; }
    }
    pthread_mutex_unlock(&s->mu);
    if (err && code == SDB_GRPC_NOT_FOUND) {
        char msg[200];
        snprintf(msg, sizeof msg, "'%s' does not exist", name);
        return sdb_call_error_info(c, SDB_GRPC_NOT_FOUND, "3F000", NULL, msg);
    }
    if (err) return sdb_call_error(c, (sdb_grpc_code)code, "%s", err);
    Immudb__Schema__UseDatabaseReply *resp = sdb_call_alloc(c, sizeof *resp);
    if (!resp) return ERR(RESOURCE_EXHAUSTED, "out of memory");
    immudb__schema__use_database_reply__init(resp);
    resp->token = sdb_call_dup(c, tok, strlen(tok) + 1);
    return sdb_call_ok(c, &resp->base);
}

/* ---- server info ---- */
static int h_health(sdb_call *c, const ProtobufCMessage *rq) {
    Immudb__Schema__HealthResponse *resp = sdb_call_alloc(c, sizeof *resp);
    if (!resp) return ERR(RESOURCE_EXHAUSTED, "out of memory");
    immudb__schema__health_response__init(resp);
    resp->status = 1;
    resp->version = SDB_SERVER_VERSION;
    return sdb_call_ok(c, &resp->base);
}

static int h_server_info(sdb_call *c, const ProtobufCMessage *rq) {
    sdb_server *s = c->srv;
    Immudb__Schema__ServerInfoResponse *resp = sdb_call_alloc(c, sizeof *resp);
    if (!resp) return ERR(RESOURCE_EXHAUSTED, "out of memory");
    immudb__schema__server_info_response__init(resp);
    resp->version = SDB_SERVER_VERSION;
    resp->startedat = s->started_at;
    pthread_mutex_lock(&s->mu);
    for (sdb_database *d = s->dbs; d; d = d->next) {
        if (d->deleted) continue;
        resp->numdatabases++;
        uint64_t tx = 0;
        uint8_t alh[32];
        if (d->loaded) sdb_db_state(s, d, &tx, alh);
        resp->numtransactions += (int64_t)tx;
    }
    pthread_mutex_unlock(&s->mu);
    /* no credentials needed: sizes come from a cache walked off the server mutex */
    resp->databasesdisksize = (int64_t)sdb_db_sizes_total(s);
    return sdb_call_ok(c, &resp->base);
}

static int h_database_health(sdb_call *c, const ProtobufCMessage *rq) {
    Immudb__Schema__DatabaseHealthResponse *resp = sdb_call_alloc(c, sizeof *resp);
    if (!resp) return ERR(RESOURCE_EXHAUSTED, "out of memory");
    immudb__schema__database_health_response__init(resp);
    int inflight = atomic_load(&c->srv->inflight);
    resp->pendingrequests = inflight > 1 ? (uint32_t)(inflight - 1) : 0;
    /* last_request_ms is monotonic (immune to clock steps); clients want Unix milliseconds */
    int64_t ago_ms = (int64_t)sdb_now_ms() - atomic_load(&c->srv->last_request_ms);
    resp->lastrequestcompletedat = sdb_unix_ms() - (ago_ms > 0 ? ago_ms : 0);
    return sdb_call_ok(c, &resp->base);
}

/* Baseline CurrentState from the db_state hook; the KV module may register its own. */
static int h_current_state(sdb_call *c, const ProtobufCMessage *rq) {
    sdb_database *d = c->db;
    uint64_t tx = 0;
    uint8_t *alh = sdb_call_alloc(c, 32);
    Immudb__Schema__ImmutableState *st = sdb_call_alloc(c, sizeof *st);
    if (!alh || !st) return ERR(RESOURCE_EXHAUSTED, "out of memory");
    int rc = sdb_db_state(c->srv, d, &tx, alh);
    if (rc) return ERR(UNKNOWN, "%s", sealdb_strerror(rc));
    immudb__schema__immutable_state__init(st);
    st->db = (char *)sdb_database_name(d);
    st->txid = tx;
    st->txhash.data = alh; st->txhash.len = 32;
    st->precommittedtxid = tx;
    st->precommittedtxhash = st->txhash;
    const sdb_signer *sg = sdb_server_signer(c->srv);
    if (sg) {
        sdb_buf sig;
        sdb_buf_init(&sig);
        uint8_t *pub = sdb_call_alloc(c, 65);
        Immudb__Schema__Signature *sgm = sdb_call_alloc(c, sizeof *sgm);
        if (!pub || !sgm) return ERR(RESOURCE_EXHAUSTED, "out of memory");
        rc = sdb_state_sign(sg, sdb_slice_str(st->db), tx, alh, &sig);
        if (!rc) rc = sdb_signer_public_point(sg, pub);
        if (rc) { sdb_buf_deinit(&sig); return ERR(INTERNAL, "cannot sign state"); }
        immudb__schema__signature__init(sgm);
        sgm->signature.data = sdb_call_dup(c, sig.ptr, sig.len);
        sgm->signature.len = sig.len;
        sdb_buf_deinit(&sig);
        sgm->publickey.data = pub; sgm->publickey.len = 65;
        st->signature = sgm;
    }
    return sdb_call_ok(c, &st->base);
}

static int h_flush_index(sdb_call *c, const ProtobufCMessage *rq) {
    Immudb__Schema__FlushIndexResponse *resp = sdb_call_alloc(c, sizeof *resp);
    if (!resp) return ERR(RESOURCE_EXHAUSTED, "out of memory");
    immudb__schema__flush_index_response__init(resp);
    resp->database = (char *)sdb_database_name(c->db);
    return sdb_call_ok(c, &resp->base);
}

static int h_compact_index(sdb_call *c, const ProtobufCMessage *rq) { return sdb_call_ok(c, &empty_resp.base); }

static int h_not_supported(sdb_call *c, const ProtobufCMessage *rq) { return ERR(INTERNAL, "operation not supported"); }

/* ---- users ---- */
static const char *go_time(sdb_call *c, int64_t ns) {
    time_t t = (time_t)(ns / 1000000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char buf[96], date[64];
    strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(buf, sizeof buf, "%s.%09lld +0000 UTC", date, (long long)(ns % 1000000000));
    return sdb_call_dup(c, buf, strlen(buf) + 1);
}

static int password_error(sdb_call *c, size_t len) {
    if (len == 0) return ERR(UNKNOWN, "password is empty");
    return ERR(UNKNOWN, "error hashing password: bcrypt: password length exceeds 72 bytes");
}

static int h_create_user(sdb_call *c, const ProtobufCMessage *rq) {
    const Immudb__Schema__CreateUserRequest *r = (const void *)rq;
    sdb_server *s = c->srv;
    if (!s->cfg.auth) return ERR(UNKNOWN, "%s", auth_off_msg);
    char *user = bstr(c, r->user);
    if (!user) return ERR(RESOURCE_EXHAUSTED, "out of memory");
    if (!user[0]) return ERR(UNKNOWN, "username can not be empty");
    char db[129];
    snprintf(db, sizeof db, "%s", r->database ? r->database : "");
    pthread_mutex_lock(&s->mu);
    sdb_user *caller = sdb_user_find(s, c->user);
    const char *err = NULL;
    char ebuf[300];
    int code = SDB_GRPC_UNKNOWN;
    if (!db[0]) {
        if (s->multi_db) err = "database name can not be empty when there are multiple databases";
        else strcpy(db, SDB_DEFAULTDB);
    }
    sdb_database *d = err ? NULL : sdb_db_find(s, db);
    if (!err && (!d || d->system)) { snprintf(ebuf, sizeof ebuf, "database %s does not exist", db); err = ebuf; }
    else if (!err && !valid_perm(r->permission)) err = "unrecognized permission";
    else if (!err && (!caller || (sdb_user_perm_on(caller, db) != SDB_PERMISSION_SYSADMIN &&
                                  sdb_user_perm_on(caller, db) != SDB_PERMISSION_ADMIN)))
        err = "you do not have permission on this database";
    else if (!err && r->permission == SDB_PERMISSION_SYSADMIN) err = "can not create another system admin";
    else if (!err && r->user.len < 64 && !has_nul(r->user) && sdb_user_find(s, user)) err = "user already exists";
    else if (!err && (r->user.len != strlen(user) || !valid_username(user))) {
        err = "username can only contain letters, digits and underscores"; code = SDB_GRPC_INVALID_ARGUMENT;
    }
    pthread_mutex_unlock(&s->mu);
    if (err) return sdb_call_error(c, (sdb_grpc_code)code, "%s", err);
    if (r->password.len == 0 || r->password.len > 72) return password_error(c, r->password.len);
    sdb_user *u = sdb_calloc(1, sizeof *u);
    if (!u || !(u->perms = sdb_calloc(1, sizeof *u->perms))) { sdb_free(u); return ERR(RESOURCE_EXHAUSTED, "out of memory"); }
    if (sdb_password_hash((const char *)r->password.data, r->password.len, u->hash)) {
        sdb_free(u->perms); sdb_free(u);
        return ERR(UNKNOWN, "error hashing password");
    }
    strcpy(u->name, user);
    u->active = 1;
    snprintf(u->created_by, sizeof u->created_by, "%s", c->user);
    u->created_at_ns = (int64_t)(sdb_unix_s()) * 1000000000;
    strcpy(u->perms[0].db, db);
    u->perms[0].perm = r->permission;
    u->n_perms = 1;
    pthread_mutex_lock(&s->mu);
    if (sdb_user_find(s, user)) {
        pthread_mutex_unlock(&s->mu);
        sdb_free(u->perms); sdb_free(u);
        return ERR(UNKNOWN, "user already exists");
    }
    sdb_user **pp = &s->users;
    while (*pp) pp = &(*pp)->next;
    *pp = u;
    int rc = sdb_catalog_save(s);
    pthread_mutex_unlock(&s->mu);
    if (rc) return ERR(INTERNAL, "cannot persist user: %s", sealdb_strerror(rc));
    return sdb_call_ok(c, &empty_resp.base);
}

static Immudb__Schema__User *user_msg(sdb_call *c, const sdb_user *u) {
    Immudb__Schema__User *m = sdb_call_alloc(c, sizeof *m);
    if (!m) return NULL;
    immudb__schema__user__init(m);
    m->user.data = sdb_call_dup(c, u->name, strlen(u->name));
    m->user.len = strlen(u->name);
    m->createdby = sdb_call_dup(c, u->created_by, strlen(u->created_by) + 1);
    m->createdat = (char *)go_time(c, u->created_at_ns);
    m->active = u->active != 0;
    m->permissions = sdb_call_alloc(c, (u->n_perms ? u->n_perms : 1) * sizeof *m->permissions);
    if (!m->permissions) return NULL;
    for (size_t i = 0; i < u->n_perms; i++) {
        Immudb__Schema__Permission *p = sdb_call_alloc(c, sizeof *p);
        if (!p) return NULL;
        immudb__schema__permission__init(p);
        p->database = sdb_call_dup(c, u->perms[i].db, strlen(u->perms[i].db) + 1);
        p->permission = u->perms[i].perm;
        m->permissions[m->n_permissions++] = p;
    }
    return m;
}

static int user_msg_cmp(const void *a, const void *b) {
    const Immudb__Schema__User *x = *(Immudb__Schema__User *const *)a, *y = *(Immudb__Schema__User *const *)b;
    size_t n = x->user.len < y->user.len ? x->user.len : y->user.len;
    int r = n ? memcmp(x->user.data, y->user.data, n) : 0;
    return r ? r : (x->user.len > y->user.len) - (x->user.len < y->user.len);
}

static int h_list_users(sdb_call *c, const ProtobufCMessage *rq) {
    sdb_server *s = c->srv;
    Immudb__Schema__UserList *resp = sdb_call_alloc(c, sizeof *resp);
    if (!resp) return ERR(RESOURCE_EXHAUSTED, "out of memory");
    immudb__schema__user_list__init(resp);
    pthread_mutex_lock(&s->mu);
    size_t n = 0;
    for (sdb_user *u = s->users; u; u = u->next) n++;
    resp->users = sdb_call_alloc(c, (n ? n : 1) * sizeof *resp->users);
    sdb_user *caller = sdb_user_find(s, c->user);
    const char *seldb = c->db ? c->db->name : "";
    int ok = resp->users && caller;
    int sys = caller && sdb_user_perm_on(caller, "") == SDB_PERMISSION_SYSADMIN;
    int adm = caller && seldb[0] && sdb_user_perm_on(caller, seldb) == SDB_PERMISSION_ADMIN;
    for (sdb_user *u = s->users; ok && u; u = u->next) {
        int show = sys || u == caller;
        if (!show && adm) {
            for (size_t i = 0; i < u->n_perms; i++) if (strcmp(u->perms[i].db, seldb) == 0) show = 1;
        }
        if (!show) continue;
        Immudb__Schema__User *m = user_msg(c, u);
        if (!m) { ok = 0; break; }
        resp->users[resp->n_users++] = m;
    }
    pthread_mutex_unlock(&s->mu);
    if (!ok) return ERR(RESOURCE_EXHAUSTED, "out of memory");
    /* immudb lists users in the byte order of their names (it scans its user keys) */
    qsort(resp->users, resp->n_users, sizeof *resp->users, user_msg_cmp);
    return sdb_call_ok(c, &resp->base);
}

static int h_change_password(sdb_call *c, const ProtobufCMessage *rq) {
    const Immudb__Schema__ChangePasswordRequest *r = (const void *)rq;
    sdb_server *s = c->srv;
    char *user = bstr(c, r->user);
    if (!user) return ERR(RESOURCE_EXHAUSTED, "out of memory");
    pthread_mutex_lock(&s->mu);
    sdb_user *caller = sdb_user_find(s, c->user);
    char chash[128] = "";
    int sys = 0, adm = 0;
    if (caller) { strcpy(chash, caller->hash); sys = sdb_user_perm_on(caller, "") == SDB_PERMISSION_SYSADMIN; adm = is_admin_somewhere(caller); }
    pthread_mutex_unlock(&s->mu);
    if (!caller) return ERR(UNKNOWN, "not logged in");
    if (strcmp(user, SDB_SYSADMIN) == 0 &&
        !sdb_password_check(chash, (const char *)r->oldpassword.data, r->oldpassword.len))
        return ERR(PERMISSION_DENIED, "old password is incorrect");
    if (!sys && !adm) return ERR(UNKNOWN, "user is not system admin nor admin in any of the databases");
    if (!user[0]) return ERR(UNKNOWN, "username can not be empty");
    pthread_mutex_lock(&s->mu);
    sdb_user *t = r->user.len < 64 && !has_nul(r->user) ? sdb_user_find(s, user) : NULL;
    int bad = !t || (!sys && strcmp(t->created_by, c->user) != 0);
    pthread_mutex_unlock(&s->mu);
    if (bad) return ERR(UNKNOWN, "user %s was not found or it was not created by you", user);
    if (r->newpassword.len == 0 || r->newpassword.len > 72) return password_error(c, r->newpassword.len);
    char hash[128];
    if (sdb_password_hash((const char *)r->newpassword.data, r->newpassword.len, hash))
        return ERR(UNKNOWN, "error hashing password");
    pthread_mutex_lock(&s->mu);
    t = sdb_user_find(s, user);
    int rc = SEALDB_NOTFOUND;
    if (t) {
        strcpy(t->hash, hash);
        snprintf(t->created_by, sizeof t->created_by, "%s", c->user);
        t->created_at_ns = (int64_t)sdb_unix_s() * 1000000000;
        sdb_user_revoke_tokens(t);
        /* The caller's own token or session survives its own password change (immuadmin's first login
         * forces a change, then goes on; so does the Go SDK); every other one of the user ends. */
        const char *keep_sid = NULL;
        if (strcmp(user, c->user) == 0) {
            keep_sid = sdb_call_metadata(c, "sessionid");
            const char *az = sdb_call_metadata(c, "authorization");
            const char *mac = az && !keep_sid ? strrchr(az, '.') : NULL;
            if (mac && strlen(mac + 1) == 64) memcpy(t->kept_mac, mac + 1, 65);
        } else {
            t->logged_in = 0;
        }
        close_user_sessions(s, user, keep_sid);
        rc = sdb_catalog_save(s);
    }
    pthread_mutex_unlock(&s->mu);
    if (rc) return ERR(INTERNAL, "cannot persist user");
    return sdb_call_ok(c, &empty_resp.base);
}

static int h_change_permission(sdb_call *c, const ProtobufCMessage *rq) {
    const Immudb__Schema__ChangePermissionRequest *r = (const void *)rq;
    sdb_server *s = c->srv;
    const char *user = r->username ? r->username : "", *db = r->database ? r->database : "";
    if (!user[0]) return ERR(INVALID_ARGUMENT, "username can not be empty");
    if (!db[0]) return ERR(INVALID_ARGUMENT, "database can not be empty");
    pthread_mutex_lock(&s->mu);
    int exists = sdb_db_find(s, db) != NULL;
    pthread_mutex_unlock(&s->mu);
    if (!exists) return ERR(INVALID_ARGUMENT, "database does not exist");
    if (r->action != IMMUDB__SCHEMA__PERMISSION_ACTION__GRANT && r->action != IMMUDB__SCHEMA__PERMISSION_ACTION__REVOKE)
        return ERR(INVALID_ARGUMENT, "action not recognized");
    /* a grant is per database: 255 (sysadmin) exists only as the built-in user's global grant */
    if (!sdb_perm_is_db_grant(r->permission)) return ERR(INVALID_ARGUMENT, "unrecognized permission");
    if (strcmp(user, c->user) == 0) return ERR(INVALID_ARGUMENT, "changing your own permissions is not allowed");
    if (strcmp(user, SDB_SYSADMIN) == 0) return ERR(INVALID_ARGUMENT, "changing sysadmin permissions is not allowed");
    if (strcmp(db, SDB_SYSTEMDB) == 0 && r->permission == SDB_PERMISSION_RW) return ERR(INTERNAL, "permission denied");
    pthread_mutex_lock(&s->mu);
    sdb_user *t = sdb_user_find(s, user), *caller = sdb_user_find(s, c->user);
    int code = SDB_GRPC_OK;
    char ebuf[200] = "";
    uint32_t cp = caller ? sdb_user_perm_on(caller, db) : 0;
    if (!t) { code = SDB_GRPC_NOT_FOUND; snprintf(ebuf, sizeof ebuf, "user %s not found", user); }
    else if (!t->active) { code = SDB_GRPC_FAILED_PRECONDITION; snprintf(ebuf, sizeof ebuf, "user %s is not active", user); }
    else if (cp != SDB_PERMISSION_SYSADMIN && cp != SDB_PERMISSION_ADMIN) {
        code = SDB_GRPC_PERMISSION_DENIED; snprintf(ebuf, sizeof ebuf, "you do not have permission on this database");
    }
    if (code == SDB_GRPC_OK) {
        size_t i = 0;
        for (; i < t->n_perms; i++) if (strcmp(t->perms[i].db, db) == 0) break;
        if (r->action == IMMUDB__SCHEMA__PERMISSION_ACTION__GRANT) {
            if (i == t->n_perms) {
                sdb_perm_entry *np = sdb_realloc(t->perms, (t->n_perms + 1) * sizeof *np);
                if (!np) code = SDB_GRPC_RESOURCE_EXHAUSTED;
                else { t->perms = np; snprintf(np[i].db, sizeof np[i].db, "%s", db); t->n_perms++; }
            }
            if (code == SDB_GRPC_OK) t->perms[i].perm = r->permission;
        } else if (i < t->n_perms) {
            t->perms[i] = t->perms[t->n_perms - 1];
            t->n_perms--;
        }
        if (code == SDB_GRPC_OK) {
            sdb_user_revoke_tokens(t);
            t->logged_in = 0;
            close_user_sessions(s, user, NULL);
            if (sdb_catalog_save(s)) { code = SDB_GRPC_INTERNAL; strcpy(ebuf, "cannot persist user"); }
        }
    }
    pthread_mutex_unlock(&s->mu);
    if (code != SDB_GRPC_OK) return sdb_call_error(c, (sdb_grpc_code)code, "%s", ebuf[0] ? ebuf : "out of memory");
    return sdb_call_ok(c, &empty_resp.base);
}

static int h_set_active_user(sdb_call *c, const ProtobufCMessage *rq) {
    const Immudb__Schema__SetActiveUserRequest *r = (const void *)rq;
    sdb_server *s = c->srv;
    if (!s->cfg.auth) return ERR(UNKNOWN, "%s", auth_off_msg);
    const char *user = r->username ? r->username : "";
    if (!user[0]) return ERR(UNKNOWN, "username can not be empty");
    pthread_mutex_lock(&s->mu);
    sdb_user *caller = sdb_user_find(s, c->user), *t = sdb_user_find(s, user);
    int sys = caller && sdb_user_perm_on(caller, "") == SDB_PERMISSION_SYSADMIN;
    char ebuf[200] = "";
    if (!caller || (!sys && !is_admin_somewhere(caller))) strcpy(ebuf, "user is not system admin nor admin in any of the databases");
    else if (strcmp(user, c->user) == 0) strcpy(ebuf, "changing your own status is not allowed");
    else if (!t) snprintf(ebuf, sizeof ebuf, "user %s not found", user);
    else if (!sys && strcmp(t->created_by, c->user) != 0) snprintf(ebuf, sizeof ebuf, "%s was not created by you", user);
    else {
        t->active = r->active;
        sdb_user_revoke_tokens(t);
        t->logged_in = 0;
        close_user_sessions(s, user, NULL);
        if (sdb_catalog_save(s)) strcpy(ebuf, "cannot persist user");
    }
    pthread_mutex_unlock(&s->mu);
    if (ebuf[0]) return ERR(UNKNOWN, "%s", ebuf);
    return sdb_call_ok(c, &empty_resp.base);
}

/* ---- databases ---- */
static Immudb__Schema__DatabaseNullableSettings *settings_msg(sdb_call *c, const sdb_database *d) {
    Immudb__Schema__DatabaseNullableSettings *m =
        immudb__schema__database_nullable_settings__unpack(sdb_call_pb_allocator(c), d->settings_pb_len, d->settings_pb);
    /* a replica's password for its primary is never sent back (immudb returns it in clear to
     * anyone who can read the database: docs/replication.md W10) */
    Immudb__Schema__ReplicationNullableSettings *r = m ? m->replicationsettings : NULL;
    static char masked[] = "******";
    if (r && r->primarypassword && r->primarypassword->value && r->primarypassword->value[0])
        r->primarypassword->value = masked;
    return m;
}

/* Validates and lower-cases a CreateDatabase name; answers the error itself (returns 1). */
static int check_new_name(sdb_call *c, const char *in, char out[129]) {
    if (strcmp(in, SDB_DEFAULTDB) == 0 || strcmp(in, SDB_SYSTEMDB) == 0) return sdb_call_error_info(c, SDB_GRPC_INTERNAL, "XX000", NULL, "database is reserved"), 1;
    size_t n = strlen(in);
    if (n == 0 || n > 128) return ERR(UNKNOWN, "database name length outside of limits"), 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)tolower((unsigned char)in[i]);
        if (!(islower(ch) || isdigit(ch) || ch == '_')) {
            if (ispunct(ch)) return ERR(UNKNOWN, "punctuation marks and symbols are not allowed in database name"), 1;
            return ERR(UNKNOWN, "unrecognized character in database name"), 1;
        }
        out[i] = (char)ch;
    }
    out[n] = 0;
    return 0;
}

/* Creates a database; *resp_out gets the CreateDatabaseResponse (NULL when an error was answered). */
static int create_db(sdb_call *c, const char *name_in, const Immudb__Schema__DatabaseNullableSettings *ov,
                     int if_not_exists, Immudb__Schema__CreateDatabaseResponse **resp_out) {
    sdb_server *s = c->srv;
    *resp_out = NULL;
    if (!s->cfg.auth) return ERR(INVALID_ARGUMENT, "authentication must be on");
    if (c->perm != SDB_PERMISSION_SYSADMIN) {
        pthread_mutex_lock(&s->mu);
        sdb_user *u = sdb_user_find(s, c->user);
        int sys = u && sdb_user_perm_on(u, "") == SDB_PERMISSION_SYSADMIN;
        pthread_mutex_unlock(&s->mu);
        if (!sys) return ERR(UNKNOWN, "loggedin user does not have permissions for this operation");
    }
    char name[129];
    if (check_new_name(c, name_in, name)) return SDB_CALL_DONE;
    Immudb__Schema__CreateDatabaseResponse *resp = sdb_call_alloc(c, sizeof *resp);
    if (!resp) return ERR(RESOURCE_EXHAUSTED, "out of memory");
    immudb__schema__create_database_response__init(resp);
    resp->name = sdb_call_dup(c, name, strlen(name) + 1);
    pthread_mutex_lock(&s->mu);
    sdb_database *d = sdb_db_find(s, name);
    if (d) {
        resp->settings = settings_msg(c, d);
        pthread_mutex_unlock(&s->mu);
        if (!if_not_exists) return ERR(UNKNOWN, "database already exists");
        resp->alreadyexisted = 1;
        *resp_out = resp;
        return SDB_CALL_DONE;
    }
    d = sdb_calloc(1, sizeof *d);
    int rc = d ? SEALDB_OK : SEALDB_NOMEM;
    if (!rc) {
        strcpy(d->name, name);
        sdb_settings_default(&d->settings);
        d->settings.synced = s->cfg.synced;
        d->created_at = sdb_unix_s();
        snprintf(d->created_by, sizeof d->created_by, "%s", c->user);
        rc = sdb_settings_pack(&d->settings, NULL, 0, ov ? &ov->base : NULL, &d->settings_pb, &d->settings_pb_len);
    }
    char bad[256] = "";
    if (!rc && sdb_settings_validate(d->settings_pb, d->settings_pb_len, name, bad, sizeof bad)) rc = SEALDB_INVALID;
    if (!rc) rc = sdb_settings_effective(d->settings_pb, d->settings_pb_len, &d->settings);
    if (!rc) { sdb_db_remove_dir(s, name); rc = sdb_db_load(s, d); }
    if (!rc) {
        sdb_database **pp = &s->dbs;
        while (*pp) pp = &(*pp)->next;
        *pp = d;
        s->multi_db = 1;
        rc = sdb_catalog_save(s);
        resp->settings = settings_msg(c, d);
    } else if (d) {
        sdb_free(d->settings_pb);
        sdb_free(d);
    }
    pthread_mutex_unlock(&s->mu);
    if (bad[0]) return ERR(INVALID_ARGUMENT, "%s", bad);
    if (rc) return ERR(UNKNOWN, "cannot create database: %s", sealdb_strerror(rc));
    *resp_out = resp;
    return SDB_CALL_DONE;
}

static int h_create_database_v2(sdb_call *c, const ProtobufCMessage *rq) {
    const Immudb__Schema__CreateDatabaseRequest *r = (const void *)rq;
    Immudb__Schema__CreateDatabaseResponse *resp;
    create_db(c, r->name ? r->name : "", r->settings, r->ifnotexists, &resp);
    return resp ? sdb_call_ok(c, &resp->base) : SDB_CALL_DONE;
}

static int h_create_database(sdb_call *c, const ProtobufCMessage *rq) {
    const Immudb__Schema__Database *r = (const void *)rq;
    Immudb__Schema__CreateDatabaseResponse *resp;
    create_db(c, r->databasename ? r->databasename : "", NULL, 0, &resp);
    return resp ? sdb_call_ok(c, &empty_resp.base) : SDB_CALL_DONE;
}

/* V1 DatabaseSettings -> Nullable overrides (non-zero values count as set). */
static Immudb__Schema__DatabaseNullableSettings *v1_settings(sdb_call *c, const Immudb__Schema__DatabaseSettings *v) {
    Immudb__Schema__DatabaseNullableSettings *o = sdb_call_alloc(c, sizeof *o);
    if (!o) return NULL;
    immudb__schema__database_nullable_settings__init(o);
#define V1U(field) do { if (v->field) { Immudb__Schema__NullableUint32 *u = sdb_call_alloc(c, sizeof *u); \
        if (!u) return NULL; \
        immudb__schema__nullable_uint32__init(u); \
        u->value = v->field; \
        o->field = u; } } while (0)
    V1U(filesize);
    V1U(maxkeylen);
    V1U(maxvaluelen);
    V1U(maxtxentries);
#undef V1U
    if (v->excludecommittime) {
        Immudb__Schema__NullableBool *b = sdb_call_alloc(c, sizeof *b);
        if (!b) return NULL;
        immudb__schema__nullable_bool__init(b);
        b->value = 1;
        o->excludecommittime = b;
    }
    /* replication fields are always present, zero values included; replica=false also zeroes the
     * primary-only counters (docs/replication.md 8.3: immuadmin hot-restore relies on it) */
    Immudb__Schema__ReplicationNullableSettings *r = sdb_call_alloc(c, sizeof *r);
    if (!r) return NULL;
    immudb__schema__replication_nullable_settings__init(r);
#define NB(field, v) do { Immudb__Schema__NullableBool *x_ = sdb_call_alloc(c, sizeof *x_); if (!x_) return NULL; \
        immudb__schema__nullable_bool__init(x_); x_->value = (v); r->field = x_; } while (0)
#define NU(field, v) do { Immudb__Schema__NullableUint32 *x_ = sdb_call_alloc(c, sizeof *x_); if (!x_) return NULL; \
        immudb__schema__nullable_uint32__init(x_); x_->value = (v); r->field = x_; } while (0)
#define NS(field, v) do { Immudb__Schema__NullableString *x_ = sdb_call_alloc(c, sizeof *x_); if (!x_) return NULL; \
        immudb__schema__nullable_string__init(x_); x_->value = (char *)((v) ? (v) : ""); r->field = x_; } while (0)
    NB(replica, v->replica);
    NS(primarydatabase, v->primarydatabase);
    NS(primaryhost, v->primaryhost);
    NU(primaryport, v->primaryport);
    NS(primaryusername, v->primaryusername);
    NS(primarypassword, v->primarypassword);
    if (!v->replica) {
        NU(syncacks, 0);
        NU(prefetchtxbuffersize, 0);
        NU(replicationcommitconcurrency, 0);
    }
#undef NB
#undef NU
#undef NS
    o->replicationsettings = r;
    return o;
}

static int h_create_database_with(sdb_call *c, const ProtobufCMessage *rq) {
    const Immudb__Schema__DatabaseSettings *r = (const void *)rq;
    Immudb__Schema__DatabaseNullableSettings *o = v1_settings(c, r);
    if (!o) return ERR(RESOURCE_EXHAUSTED, "out of memory");
    Immudb__Schema__CreateDatabaseResponse *resp;
    create_db(c, r->databasename ? r->databasename : "", o, 0, &resp);
    return resp ? sdb_call_ok(c, &empty_resp.base) : SDB_CALL_DONE;
}

/* Collects the databases visible to the caller (docs/api.md 3.1). Returns count, fills arr. */
static size_t visible_dbs(sdb_call *c, sdb_database ***arr) {
    sdb_server *s = c->srv;
    size_t n = 0;
    for (sdb_database *d = s->dbs; d; d = d->next) n++;
    *arr = sdb_call_alloc(c, (n ? n : 1) * sizeof **arr);
    if (!*arr) return 0;
    sdb_user *u = sdb_user_find(s, c->user);
    if (!u) return 0;
    size_t k = 0;
    if (sdb_user_perm_on(u, "") == SDB_PERMISSION_SYSADMIN) {
        for (sdb_database *d = s->dbs; d; d = d->next) if (!d->deleted) (*arr)[k++] = d;
        return k;
    }
    for (size_t i = 0; i < u->n_perms; i++) {
        sdb_database *d = sdb_db_find(s, u->perms[i].db);
        if (d && !d->system) (*arr)[k++] = d;
    }
    return k;
}

static int h_database_list(sdb_call *c, const ProtobufCMessage *rq) {
    sdb_server *s = c->srv;
    if (!s->cfg.auth) return ERR(UNKNOWN, "this command is available only with authentication on");
    Immudb__Schema__DatabaseListResponse *resp = sdb_call_alloc(c, sizeof *resp);
    if (!resp) return ERR(RESOURCE_EXHAUSTED, "out of memory");
    immudb__schema__database_list_response__init(resp);
    pthread_mutex_lock(&s->mu);
    sdb_database **arr;
    size_t n = visible_dbs(c, &arr);
    resp->databases = sdb_call_alloc(c, (n ? n : 1) * sizeof *resp->databases);
    for (size_t i = 0; resp->databases && i < n; i++) {
        Immudb__Schema__Database *m = sdb_call_alloc(c, sizeof *m);
        if (!m) break;
        immudb__schema__database__init(m);
        m->databasename = sdb_call_dup(c, arr[i]->name, strlen(arr[i]->name) + 1);
        resp->databases[resp->n_databases++] = m;
    }
    pthread_mutex_unlock(&s->mu);
    return sdb_call_ok(c, &resp->base);
}

static int h_database_list_v2(sdb_call *c, const ProtobufCMessage *rq) {
    sdb_server *s = c->srv;
    if (!s->cfg.auth) return ERR(UNKNOWN, "this command is available only with authentication on");
    Immudb__Schema__DatabaseListResponseV2 *resp = sdb_call_alloc(c, sizeof *resp);
    if (!resp) return ERR(RESOURCE_EXHAUSTED, "out of memory");
    immudb__schema__database_list_response_v2__init(resp);
    pthread_mutex_lock(&s->mu);
    sdb_database **arr;
    size_t n = visible_dbs(c, &arr);
    resp->databases = sdb_call_alloc(c, (n ? n : 1) * sizeof *resp->databases);
    for (size_t i = 0; resp->databases && i < n; i++) {
        sdb_database *d = arr[i];
        Immudb__Schema__DatabaseInfo *m = sdb_call_alloc(c, sizeof *m);
        if (!m) break;
        immudb__schema__database_info__init(m);
        m->name = sdb_call_dup(c, d->name, strlen(d->name) + 1);
        m->settings = settings_msg(c, d);
        m->loaded = d->loaded != 0;
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/%s", s->cfg.dir, d->name);
        m->disksize = sdb_dir_size(dir);
        uint64_t tx = 0;
        uint8_t alh[32];
        if (d->loaded) sdb_db_state(s, d, &tx, alh);
        m->numtransactions = tx;
        m->created_at = (uint64_t)d->created_at;
        m->created_by = sdb_call_dup(c, d->created_by, strlen(d->created_by) + 1);
        resp->databases[resp->n_databases++] = m;
    }
    pthread_mutex_unlock(&s->mu);
    return sdb_call_ok(c, &resp->base);
}

enum { DB_LOAD, DB_UNLOAD, DB_DELETE, DB_UPDATE };

/* Common checks of Load/Unload/Delete/Update; returns the database with mu held, or NULL after
 * answering an error (mu released). */
static sdb_database *admin_db(sdb_call *c, const char *name, int op) {
    sdb_server *s = c->srv;
    if (strcmp(name, SDB_SYSTEMDB) == 0 || (strcmp(name, SDB_DEFAULTDB) == 0))
        return sdb_call_error_info(c, SDB_GRPC_INTERNAL, "XX000", NULL, "database is reserved"), NULL;
    pthread_mutex_lock(&s->mu);
    sdb_user *u = sdb_user_find(s, c->user);
    uint32_t p = u ? sdb_user_perm_on(u, name) : 0;
    if (p != SDB_PERMISSION_SYSADMIN && p != SDB_PERMISSION_ADMIN) {
        pthread_mutex_unlock(&s->mu);
        return ERR(UNKNOWN, "the database '%s' does not exist or you do not have admin permission on this database", name), NULL;
    }
    sdb_database *d = sdb_db_find(s, name);
    if (!d) { pthread_mutex_unlock(&s->mu); return ERR(UNKNOWN, "database does not exist"), NULL; }
    return d;
}

static int db_admin_reply(sdb_call *c, const char *name, int which) {
    /* Load/Unload/DeleteDatabaseResponse share one layout: database #1 string */
    Immudb__Schema__LoadDatabaseResponse *r = sdb_call_alloc(c, sizeof *r);
    if (!r) return ERR(RESOURCE_EXHAUSTED, "out of memory");
    if (which == DB_LOAD) immudb__schema__load_database_response__init(r);
    else if (which == DB_UNLOAD) immudb__schema__unload_database_response__init((void *)r);
    else immudb__schema__delete_database_response__init((void *)r);
    r->database = sdb_call_dup(c, name, strlen(name) + 1);
    return sdb_call_ok(c, &r->base);
}

static int h_load_database(sdb_call *c, const ProtobufCMessage *rq) {
    const Immudb__Schema__LoadDatabaseRequest *r = (const void *)rq;
    const char *name = r->database ? r->database : "";
    sdb_database *d = admin_db(c, name, DB_LOAD);
    if (!d) return SDB_CALL_DONE;
    sdb_server *s = c->srv;
    if (d->loaded) { pthread_mutex_unlock(&s->mu); return ERR(INTERNAL, "database already loaded"); }
    int rc = sdb_db_load(s, d);
    pthread_mutex_unlock(&s->mu);
    if (rc) return ERR(UNKNOWN, "cannot load database: %s", sealdb_strerror(rc));
    return db_admin_reply(c, name, DB_LOAD);
}

static int h_unload_database(sdb_call *c, const ProtobufCMessage *rq) {
    const Immudb__Schema__UnloadDatabaseRequest *r = (const void *)rq;
    const char *name = r->database ? r->database : "";
    sdb_database *d = admin_db(c, name, DB_UNLOAD);
    if (!d) return SDB_CALL_DONE;
    sdb_server *s = c->srv;
    if (!d->loaded) { pthread_mutex_unlock(&s->mu); return ERR(UNKNOWN, "already closed"); }
    sdb_db_unload(s, d);
    pthread_mutex_unlock(&s->mu);
    return db_admin_reply(c, name, DB_UNLOAD);
}

static int h_delete_database(sdb_call *c, const ProtobufCMessage *rq) {
    const Immudb__Schema__DeleteDatabaseRequest *r = (const void *)rq;
    const char *name = r->database ? r->database : "";
    sdb_database *d = admin_db(c, name, DB_DELETE);
    if (!d) return SDB_CALL_DONE;
    sdb_server *s = c->srv;
    if (d->loaded) { pthread_mutex_unlock(&s->mu); return ERR(UNKNOWN, "cannot delete an open database"); }
    d->deleted = 1;
    int rc = sdb_catalog_save(s);
    if (!rc && d->refs == 0) rc = sdb_db_remove_dir(s, name);
    pthread_mutex_unlock(&s->mu);
    if (rc) return ERR(UNKNOWN, "cannot delete database: %s", sealdb_strerror(rc));
    return db_admin_reply(c, name, DB_DELETE);
}

/* Permanent settings: a change is refused with immudb's wrapped InvalidArgument message. */
static const char *permanent_change(const Immudb__Schema__DatabaseNullableSettings *cur,
                                    const Immudb__Schema__DatabaseNullableSettings *ov) {
#define PERM_U(f, what) if (ov->f && cur->f && ov->f->value != cur->f->value) return what;
    PERM_U(maxkeylen, "max key length")
    PERM_U(maxvaluelen, "max value length")
    PERM_U(maxtxentries, "max number of entries per transaction")
    PERM_U(filesize, "file size")
    PERM_U(embeddedvalues, "embedded values")
    PERM_U(preallocfiles, "prealloc files")
#undef PERM_U
    if (ov->indexsettings && ov->indexsettings->maxnodesize && cur->indexsettings && cur->indexsettings->maxnodesize &&
        ov->indexsettings->maxnodesize->value != cur->indexsettings->maxnodesize->value)
        return "max node size";
    return NULL;
}

static int update_db(sdb_call *c, const char *name, const Immudb__Schema__DatabaseNullableSettings *ov,
                     Immudb__Schema__DatabaseNullableSettings **out) {
    *out = NULL;
    sdb_database *d = admin_db(c, name, DB_UPDATE);
    if (!d) return SDB_CALL_DONE;
    sdb_server *s = c->srv;
    Immudb__Schema__DatabaseNullableSettings *cur = settings_msg(c, d);
    const char *what = cur && ov ? permanent_change(cur, ov) : NULL;
    if (what) {
        pthread_mutex_unlock(&s->mu);
        return ERR(INVALID_ARGUMENT, "rpc error: code = InvalidArgument desc = illegal arguments: %s can not be changed after database creation ('%s')", what, name);
    }
    uint8_t *pb = NULL;
    size_t pl = 0;
    int rc = sdb_settings_pack(&d->settings, d->settings_pb, d->settings_pb_len, ov ? &ov->base : NULL, &pb, &pl);
    char bad[256];
    if (!rc && sdb_settings_validate(pb, pl, name, bad, sizeof bad)) {
        pthread_mutex_unlock(&s->mu);
        sdb_free(pb);
        return ERR(INVALID_ARGUMENT, "%s", bad);
    }
    if (!rc) {
        sdb_free(d->settings_pb);
        d->settings_pb = pb;
        d->settings_pb_len = pl;
        sdb_settings_effective(pb, pl, &d->settings);
        rc = sdb_catalog_save(s);
        *out = settings_msg(c, d);
    }
    pthread_mutex_unlock(&s->mu);
    if (rc) return ERR(UNKNOWN, "cannot update database: %s", sealdb_strerror(rc));
    sdb_repl_settings_changed(s, d);   /* promotion, demotion, new primary coordinates */
    return SDB_CALL_DONE;
}

static int h_update_database_v2(sdb_call *c, const ProtobufCMessage *rq) {
    const Immudb__Schema__UpdateDatabaseRequest *r = (const void *)rq;
    const char *name = r->database ? r->database : "";
    Immudb__Schema__DatabaseNullableSettings *st;
    update_db(c, name, r->settings, &st);
    if (!st) return SDB_CALL_DONE;
    Immudb__Schema__UpdateDatabaseResponse *resp = sdb_call_alloc(c, sizeof *resp);
    if (!resp) return ERR(RESOURCE_EXHAUSTED, "out of memory");
    immudb__schema__update_database_response__init(resp);
    resp->database = sdb_call_dup(c, name, strlen(name) + 1);
    resp->settings = st;
    return sdb_call_ok(c, &resp->base);
}

static int h_update_database(sdb_call *c, const ProtobufCMessage *rq) {
    const Immudb__Schema__DatabaseSettings *r = (const void *)rq;
    Immudb__Schema__DatabaseNullableSettings *o = v1_settings(c, r), *st;
    if (!o) return ERR(RESOURCE_EXHAUSTED, "out of memory");
    update_db(c, r->databasename ? r->databasename : "", o, &st);
    return st ? sdb_call_ok(c, &empty_resp.base) : SDB_CALL_DONE;
}

static int h_get_database_settings_v2(sdb_call *c, const ProtobufCMessage *rq) {
    Immudb__Schema__DatabaseSettingsResponse *resp = sdb_call_alloc(c, sizeof *resp);
    if (!resp) return ERR(RESOURCE_EXHAUSTED, "out of memory");
    immudb__schema__database_settings_response__init(resp);
    resp->database = c->db->name;
    pthread_mutex_lock(&c->srv->mu);
    resp->settings = settings_msg(c, c->db);
    pthread_mutex_unlock(&c->srv->mu);
    return sdb_call_ok(c, &resp->base);
}

static int h_get_database_settings(sdb_call *c, const ProtobufCMessage *rq) {
    Immudb__Schema__DatabaseSettings *resp = sdb_call_alloc(c, sizeof *resp);
    if (!resp) return ERR(RESOURCE_EXHAUSTED, "out of memory");
    immudb__schema__database_settings__init(resp);
    const sdb_db_settings *st = &c->db->settings;
    resp->databasename = c->db->name;
    resp->filesize = st->file_size;
    resp->maxkeylen = st->max_key_len;
    resp->maxvaluelen = st->max_value_len;
    resp->maxtxentries = st->max_tx_entries;
    resp->excludecommittime = st->exclude_commit_time != 0;
    return sdb_call_ok(c, &resp->base);
}

#define M(name, req, resp, fn, perm) \
    { SVC name, &immudb__schema__##req##__descriptor, &immudb__schema__##resp##__descriptor, fn, perm, SDB_STREAM_NONE, NULL }

static const sdb_rpc_method server_methods[] = {
    M("Login", login_request, login_response, h_login, SDB_PERM_NONE),
    M("Logout", empty, empty, h_logout, SDB_PERM_AUTH),
    M("OpenSession", open_session_request, open_session_response, h_open_session, SDB_PERM_NONE),
    M("CloseSession", empty, empty, h_close_session, SDB_PERM_NONE),
    M("KeepAlive", empty, empty, h_keep_alive, SDB_PERM_NONE),
    M("UseDatabase", database, use_database_reply, h_use_database, SDB_PERM_AUTH),
    M("Health", empty, health_response, h_health, SDB_PERM_NONE),
    M("ServerInfo", server_info_request, server_info_response, h_server_info, SDB_PERM_NONE),
    M("DatabaseHealth", empty, database_health_response, h_database_health, SDB_PERM_READ),
    M("CurrentState", empty, immutable_state, h_current_state, SDB_PERM_READ),
    M("FlushIndex", flush_index_request, flush_index_response, h_flush_index, SDB_PERM_ADMIN),
    M("CompactIndex", empty, empty, h_compact_index, SDB_PERM_ADMIN),
    M("UpdateAuthConfig", auth_config, empty, h_not_supported, SDB_PERM_AUTH),
    M("UpdateMTLSConfig", mtlsconfig, empty, h_not_supported, SDB_PERM_AUTH),
    M("CreateUser", create_user_request, empty, h_create_user, SDB_PERM_AUTH),
    M("ListUsers", empty, user_list, h_list_users, SDB_PERM_AUTH),
    M("ChangePassword", change_password_request, empty, h_change_password, SDB_PERM_AUTH),
    M("ChangePermission", change_permission_request, empty, h_change_permission, SDB_PERM_AUTH),
    M("SetActiveUser", set_active_user_request, empty, h_set_active_user, SDB_PERM_AUTH),
    M("CreateDatabase", database, empty, h_create_database, SDB_PERM_AUTH),
    M("CreateDatabaseWith", database_settings, empty, h_create_database_with, SDB_PERM_AUTH),
    M("CreateDatabaseV2", create_database_request, create_database_response, h_create_database_v2, SDB_PERM_AUTH),
    M("DatabaseList", empty, database_list_response, h_database_list, SDB_PERM_AUTH),
    M("DatabaseListV2", database_list_request_v2, database_list_response_v2, h_database_list_v2, SDB_PERM_AUTH),
    M("LoadDatabase", load_database_request, load_database_response, h_load_database, SDB_PERM_AUTH),
    M("UnloadDatabase", unload_database_request, unload_database_response, h_unload_database, SDB_PERM_AUTH),
    M("DeleteDatabase", delete_database_request, delete_database_response, h_delete_database, SDB_PERM_AUTH),
    M("UpdateDatabase", database_settings, empty, h_update_database, SDB_PERM_AUTH),
    M("UpdateDatabaseV2", update_database_request, update_database_response, h_update_database_v2, SDB_PERM_AUTH),
    M("GetDatabaseSettings", empty, database_settings, h_get_database_settings, SDB_PERM_READ),
    M("GetDatabaseSettingsV2", database_settings_request, database_settings_response, h_get_database_settings_v2, SDB_PERM_READ),
};

const sdb_rpc_module sdb_server_module = {
    "server", server_methods, sizeof server_methods / sizeof server_methods[0], NULL, NULL, NULL,
};
