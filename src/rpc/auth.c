/* auth.c - who is calling: bcrypt password hashes, HMAC-signed login tokens bound to a user epoch
 * and a database, session lookup, and the per-method permission check with immudb's exact error
 * codes and messages (spec/api.md 1.2-1.8). */
#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/evp.h>
#include "rpc/server.h"

#define BCRYPT_COST 10

static int random_bytes(uint8_t *p, size_t n) {
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f) return SEALDB_IO;
    size_t got = fread(p, 1, n, f);
    fclose(f);
    return got == n ? SEALDB_OK : SEALDB_IO;
}

int sdb_password_hash(const char *pw, size_t pw_len, char out[128]) {
    uint8_t rnd[16];
    char setting[64];
    /* an empty password may come as NULL: memchr/memcpy must not see it */
    if (pw_len > 72 || (pw_len && memchr(pw, 0, pw_len))) return SEALDB_INVALID;
    if (random_bytes(rnd, sizeof rnd)) return SEALDB_IO;
    /* SEALDB_BCRYPT_COST lowers the work factor for fuzzing and tests (never below bcrypt's 4) */
    const char *ce = getenv("SEALDB_BCRYPT_COST");
    unsigned long cost = ce ? strtoul(ce, NULL, 10) : BCRYPT_COST;
    if (cost < 4 || cost > 31) cost = BCRYPT_COST;
    if (!crypt_gensalt_rn("$2b$", cost, (const char *)rnd, sizeof rnd, setting, sizeof setting))
        return SEALDB_IO;
    char phrase[73];
    if (pw_len) memcpy(phrase, pw, pw_len);
    phrase[pw_len] = 0;
    struct crypt_data *cd = sdb_calloc(1, sizeof *cd);
    if (!cd) return SEALDB_NOMEM;
    char *h = crypt_r(phrase, setting, cd);
    int rc = SEALDB_IO;
    if (h && h[0] == '$' && strlen(h) < 128) { strcpy(out, h); rc = SEALDB_OK; }
    sdb_free(cd);
    OPENSSL_cleanse(phrase, sizeof phrase);
    return rc;
}

int sdb_password_check(const char *hash, const char *pw, size_t pw_len) {
    if (pw_len > 72 || (pw_len && memchr(pw, 0, pw_len)) || !hash[0]) return 0;
    char phrase[73];
    if (pw_len) memcpy(phrase, pw, pw_len);
    phrase[pw_len] = 0;
    struct crypt_data *cd = sdb_calloc(1, sizeof *cd);
    if (!cd) return 0;
    char *h = crypt_r(phrase, hash, cd);
    int ok = h && h[0] == '$' && strlen(h) == strlen(hash) && CRYPTO_memcmp(h, hash, strlen(hash)) == 0;
    sdb_free(cd);
    OPENSSL_cleanse(phrase, sizeof phrase);
    return ok;
}

/* ---- users and permissions (server mu held) ---- */
sdb_user *sdb_user_find(sdb_server *s, const char *name) {
    for (sdb_user *u = s->users; u; u = u->next)
        if (strcmp(u->name, name) == 0) return u;
    return NULL;
}

uint32_t sdb_user_perm_on(const sdb_user *u, const char *db) {
    for (size_t i = 0; i < u->n_perms; i++) {
        if (u->perms[i].perm == SDB_PERMISSION_SYSADMIN && strcmp(u->perms[i].db, "*") == 0)
            return SDB_PERMISSION_SYSADMIN;
    }
    for (size_t i = 0; i < u->n_perms; i++)
        if (strcmp(u->perms[i].db, db) == 0) return u->perms[i].perm;
    return SDB_PERMISSION_NONE;
}

/* ---- tokens: "sdb1.<user>.<db>.<exp>.<epoch>.<hmac hex>", opaque to clients ---- */
static void token_mac(const sdb_server *s, const char *payload, size_t n, char hex[65]) {
    uint8_t mac[32];
    unsigned int ml = 32;
    HMAC(EVP_sha256(), s->token_key, sizeof s->token_key, (const uint8_t *)payload, n, mac, &ml);
    sdb_hex_encode(mac, 32, hex);
}

int sdb_token_issue(sdb_server *s, const sdb_user *u, const char *db, char *out, size_t outlen) {
    char payload[400];
    int n = snprintf(payload, sizeof payload, "sdb1.%s.%s.%lld.%llu", u->name, db && db[0] ? db : "-",
                     (long long)(sdb_unix_s() + (int64_t)s->cfg.token_expiry_s), (unsigned long long)u->epoch);
    if (n < 0 || (size_t)n >= sizeof payload) return SEALDB_TOOLARGE;
    char hex[65];
    token_mac(s, payload, (size_t)n, hex);
    if ((size_t)n + 66 > outlen) return SEALDB_TOOLARGE;
    snprintf(out, outlen, "%s.%s", payload, hex);
    return SEALDB_OK;
}

/* Parses and checks a token. Returns the gRPC code to answer (OK on success). */
static int token_check(sdb_server *s, const char *tok, char user[64], char db[129], const char **msg) {
    size_t len = strlen(tok);
    const char *last = strrchr(tok, '.');
    *msg = "invalid token";
    if (len < 70 || len > 400 || strncmp(tok, "sdb1.", 5) != 0 || !last || strlen(last + 1) != 64)
        return SDB_GRPC_INTERNAL;
    char hex[65];
    token_mac(s, tok, (size_t)(last - tok), hex);
    if (CRYPTO_memcmp(hex, last + 1, 64) != 0) return SDB_GRPC_INTERNAL;
    char buf[400];
    memcpy(buf, tok, (size_t)(last - tok));
    buf[last - tok] = 0;
    char *save = NULL;
    char *f[5];
    int nf = 0;
    for (char *p = strtok_r(buf, ".", &save); p && nf < 5; p = strtok_r(NULL, ".", &save)) f[nf++] = p;
    if (nf != 5 || strlen(f[1]) >= 64 || strlen(f[2]) >= 129) return SDB_GRPC_INTERNAL;
    long long exp = strtoll(f[3], NULL, 10);
    unsigned long long epoch = strtoull(f[4], NULL, 10);
    if (exp < sdb_unix_s()) { *msg = "token has expired"; return SDB_GRPC_PERMISSION_DENIED; }
    pthread_mutex_lock(&s->mu);
    sdb_user *u = sdb_user_find(s, f[1]);
    int ok = u && u->epoch == epoch && u->active;
    pthread_mutex_unlock(&s->mu);
    if (!ok) { *msg = "not logged in"; return SDB_GRPC_UNKNOWN; }
    strcpy(user, f[1]);
    strcpy(db, strcmp(f[2], "-") == 0 ? "" : f[2]);
    *msg = "";
    return SDB_GRPC_OK;
}

static int perm_allows(sdb_rpc_perm need, uint32_t have) {
    switch (need) {
    case SDB_PERM_READ:
        return have == SDB_PERMISSION_R || have == SDB_PERMISSION_RW || have == SDB_PERMISSION_ADMIN ||
               have == SDB_PERMISSION_SYSADMIN;
    case SDB_PERM_READWRITE:
        return have == SDB_PERMISSION_RW || have == SDB_PERMISSION_ADMIN || have == SDB_PERMISSION_SYSADMIN;
    case SDB_PERM_ADMIN:
        return have == SDB_PERMISSION_ADMIN || have == SDB_PERMISSION_SYSADMIN;
    case SDB_PERM_SYSADMIN:
        return have == SDB_PERMISSION_SYSADMIN;
    default:
        return 1;
    }
}

int sdb_auth_resolve(sdb_call *c) {
    sdb_server *s = c->srv;
    const sdb_rpc_method *m = c->method;
    char user[64] = "", db[129] = "";
    int has_creds = 0;
    if (!s->cfg.auth) {
        /* auth disabled: everything acts as the sysadmin on defaultdb (spec/api.md 1.7) */
        strcpy(user, SDB_SYSADMIN);
        strcpy(db, SDB_DEFAULTDB);
        has_creds = 1;
    } else {
        const char *sid = sdb_call_metadata(c, "sessionid");
        const char *az = sdb_call_metadata(c, "authorization");
        if (sid) {
            int found = 0;
            pthread_mutex_lock(&s->mu);
            for (sdb_session *ss = s->sessions; ss; ss = ss->next) {
                if (strcmp(ss->id, sid) == 0) {
                    ss->last_ms = sdb_now_ms();
                    strcpy(user, ss->user);
                    strcpy(db, ss->db);
                    found = 1;
                    break;
                }
            }
            sdb_user *u = found ? sdb_user_find(s, user) : NULL;
            if (found && (!u || !u->active)) found = 0;
            pthread_mutex_unlock(&s->mu);
            if (!found) {
                if (m->perm == SDB_PERM_NONE) return 0;
                if (m->stream != SDB_STREAM_NONE)
                    return sdb_call_error(c, SDB_GRPC_INVALID_ARGUMENT, "no session found"), 1;
                return sdb_call_error_info(c, SDB_GRPC_PERMISSION_DENIED, "08001", NULL, "session not found"), 1;
            }
            has_creds = 1;
        } else if (az) {
            if (strncmp(az, "Bearer ", 7) == 0) az += 7;
            if (az[0]) {
                const char *msg;
                int code = token_check(s, az, user, db, &msg);
                if (code != SDB_GRPC_OK) {
                    if (m->perm == SDB_PERM_NONE) return 0;
                    return sdb_call_error(c, (sdb_grpc_code)code, "%s", msg), 1;
                }
                has_creds = 1;
            }
        }
    }
    if (has_creds) c->user = sdb_arena_dup(&c->arena, user, strlen(user) + 1);
    if (m->perm == SDB_PERM_NONE) return 0;
    if (!has_creds) return sdb_call_error(c, SDB_GRPC_UNKNOWN, "not logged in"), 1;

    pthread_mutex_lock(&s->mu);
    sdb_user *u = sdb_user_find(s, user);
    if (!u) {
        pthread_mutex_unlock(&s->mu);
        return sdb_call_error(c, SDB_GRPC_UNKNOWN, "not logged in"), 1;
    }
    sdb_database *d = db[0] ? sdb_db_find(s, db) : NULL;
    c->perm = sdb_user_perm_on(u, db[0] ? db : "");
    if (d && d->loaded) {
        d->refs++;
        c->db = d;
    }
    pthread_mutex_unlock(&s->mu);
    if (m->perm == SDB_PERM_AUTH) return 0;
    if (m->perm == SDB_PERM_SYSADMIN) {
        if (c->perm != SDB_PERMISSION_SYSADMIN)
            return sdb_call_error(c, SDB_GRPC_UNKNOWN, "loggedin user does not have permissions for this operation"), 1;
        return 0;
    }
    if (!db[0]) return sdb_call_error(c, SDB_GRPC_UNKNOWN, "please select a database first"), 1;
    if (!c->db) {
        if (!d) return sdb_call_error(c, SDB_GRPC_NOT_FOUND, "'%s' does not exist", db), 1;
        return sdb_call_error(c, SDB_GRPC_UNKNOWN, "already closed"), 1;
    }
    /* immudb's ErrPermissionDenied is a coded error without a code of its own: XX000 -> Internal */
    if ((c->db->system && m->perm == SDB_PERM_READWRITE) || !perm_allows(m->perm, c->perm))
        return sdb_call_error_info(c, SDB_GRPC_INTERNAL, "XX000", NULL, "permission denied"), 1;
    return 0;
}

void sdb_sessions_expire(sdb_server *s) {
    uint64_t now = sdb_now_ms();
    pthread_mutex_lock(&s->mu);
    sdb_session **pp = &s->sessions;
    while (*pp) {
        sdb_session *ss = *pp;
        if (now - ss->last_ms > s->cfg.session_timeout_ms) {
            *pp = ss->next;
            s->n_sessions--;
            sdb_free(ss);
        } else {
            pp = &ss->next;
        }
    }
    pthread_mutex_unlock(&s->mu);
}
