/* auth.c - who is calling: bcrypt password hashes (login checks on a bounded pool of their own, with
 * failed-login throttling per address and user name), HMAC-signed login tokens bound to a user epoch
 * and a database, session lookup, and the per-method permission check with immudb's exact error
 * codes and messages (docs/api.md 1.2-1.8). */
#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
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

/* ---- login checks: a pool of bcrypt threads, a bounded queue, failure throttling ----
 * bcrypt costs tens of milliseconds of CPU on purpose: run on the request workers, a flood of wrong
 * passwords starved every other call. Failures score a leaky bucket per source address and per user
 * name; each bucket drains its limit in THROTTLE_WINDOW_MS. A full address bucket refuses that
 * address; a full user bucket refuses the user name only from addresses with failures of their own,
 * so the owner of the name, from a clean address, still gets in while someone guesses it. */
#define THROTTLE_WINDOW_MS 60000.0
#define THROTTLE_SLOTS 4096      /* tracked addresses and names; the least loaded one is reused */
#define THROTTLE_PROBE 8

typedef struct throttle_slot {
    char key[72];
    double score;
    uint64_t at_ms;
    uint64_t fail_ms;   /* last failure, 0 after a success */
} throttle_slot;

typedef struct login_job {
    sdb_call *c;
    char hash[128];
    char addr[64], user[64];
    uint8_t pw[72];
    size_t pw_len;
    sdb_login_cont cont;
    void *arg;
} login_job;

struct sdb_login_pool {
    sdb_server *srv;
    pthread_mutex_t mu;            /* queue and throttle table */
    pthread_cond_t cv;
    login_job *q;
    int q_cap, q_head, q_n;
    int stop;
    pthread_t *threads;
    int n_threads;
    throttle_slot *slots;
};

static uint64_t key_hash(const char *k) {
    uint64_t h = 1469598103934665603ull;
    for (; *k; k++) h = (h ^ (uint8_t)*k) * 1099511628211ull;
    return h;
}

/* The bucket of key with its score drained up to now (pool mu held); NULL only if create is 0. */
static throttle_slot *throttle_get(struct sdb_login_pool *p, const char *key, double limit, int create) {
    uint64_t now = sdb_now_ms(), h = key_hash(key);
    throttle_slot *victim = NULL;
    for (int i = 0; i < THROTTLE_PROBE; i++) {
        throttle_slot *t = &p->slots[(h + (uint64_t)i) % THROTTLE_SLOTS];
        if (t->key[0]) {
            double drained = (double)(now - t->at_ms) * limit / THROTTLE_WINDOW_MS;
            t->score = t->score > drained ? t->score - drained : 0;
            t->at_ms = now;
        }
        if (t->key[0] && strcmp(t->key, key) == 0) return t;
        if (!victim || !t->key[0] || (victim->key[0] && t->score < victim->score)) victim = t;
    }
    if (!create) return NULL;
    snprintf(victim->key, sizeof victim->key, "%s", key);
    victim->score = 0;
    victim->at_ms = now;
    victim->fail_ms = 0;
    return victim;
}

static void addr_key(const sdb_call *c, char out[64]) {
    /* "ipv4:1.2.3.4:5555" -> "ipv4:1.2.3.4": the port changes with every connection */
    snprintf(out, 64, "%s", c->peer ? c->peer : "");
    char *colon = strrchr(out, ':');
    if (colon && colon > strchr(out, ':')) *colon = 0;
}

/* 1 when this attempt must be refused (pool mu held). */
static int throttled(struct sdb_login_pool *p, const char *addr, const char *user) {
    const sdb_server_config *cfg = &p->srv->cfg;
    char k[72];
    snprintf(k, sizeof k, "a|%s", addr);
    /* refused once another failure would pass the limit ("limit failures, then wait") */
    throttle_slot *a = throttle_get(p, k, cfg->login_fail_addr, 0);
    if (a && a->score > cfg->login_fail_addr - 1) return 1;
    snprintf(k, sizeof k, "u|%s", user);
    throttle_slot *u = throttle_get(p, k, cfg->login_fail_user, 0);
    return u && u->score > cfg->login_fail_user - 1 && a && a->fail_ms &&
           (double)(sdb_now_ms() - a->fail_ms) < THROTTLE_WINDOW_MS;
}

/* An attempt is admitted (pool mu held): it counts as a failure of its address until it succeeds,
 * so a burst of concurrent attempts cannot pass the limit while its checks are still queued. */
static void throttle_admit(struct sdb_login_pool *p, const char *addr) {
    char k[72];
    snprintf(k, sizeof k, "a|%s", addr);
    throttle_slot *a = throttle_get(p, k, p->srv->cfg.login_fail_addr, 1);
    a->score += 1;
    a->fail_ms = sdb_now_ms();
}

static void throttle_record(struct sdb_login_pool *p, const char *addr, const char *user, int ok) {
    const sdb_server_config *cfg = &p->srv->cfg;
    char k[72];
    pthread_mutex_lock(&p->mu);
    snprintf(k, sizeof k, "a|%s", addr);
    throttle_slot *a = throttle_get(p, k, cfg->login_fail_addr, 0);
    if (a && ok) a->score = 0, a->fail_ms = 0;
    if (!ok) {
        snprintf(k, sizeof k, "u|%s", user);
        throttle_slot *u = throttle_get(p, k, cfg->login_fail_user, 1);
        u->score += 1;
    }
    pthread_mutex_unlock(&p->mu);
}

static void *login_worker(void *arg) {
    sdb_thread_name("sdb-login");
    struct sdb_login_pool *p = arg;
    login_job j;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->q_n && !p->stop) pthread_cond_wait(&p->cv, &p->mu);
        if (!p->q_n) { pthread_mutex_unlock(&p->mu); break; }
        j = p->q[p->q_head];
        OPENSSL_cleanse(p->q[p->q_head].pw, sizeof j.pw);
        p->q_head = (p->q_head + 1) % p->q_cap;
        p->q_n--;
        pthread_mutex_unlock(&p->mu);
        int ok = sdb_password_check(j.hash, (const char *)j.pw, j.pw_len);
        OPENSSL_cleanse(j.pw, sizeof j.pw);
        throttle_record(p, j.addr, j.user, ok);
        j.cont(j.c, ok, j.arg);
    }
    return NULL;
}

int sdb_login_check(sdb_call *c, const char *user, const char *hash, const uint8_t *pw, size_t pw_len,
                    sdb_login_cont cont, void *arg) {
    struct sdb_login_pool *p = c->srv->login_pool;
    if (!p) {   /* no pool (embedded use, fuzzing): inline */
        cont(c, hash ? sdb_password_check(hash, (const char *)pw, pw_len) : -1, arg);
        return SDB_CALL_DONE;
    }
    char addr[64];
    addr_key(c, addr);
    pthread_mutex_lock(&p->mu);
    int refuse = throttled(p, addr, user);
    if (!refuse) throttle_admit(p, addr);
    pthread_mutex_unlock(&p->mu);
    if (refuse)
        return sdb_call_error(c, SDB_GRPC_RESOURCE_EXHAUSTED, "too many failed logins: try again later");
    if (!hash || pw_len > sizeof ((login_job *)0)->pw) {   /* no bcrypt needed to say no */
        throttle_record(p, addr, user, 0);
        cont(c, hash ? 0 : -1, arg);
        return SDB_CALL_DONE;
    }
    pthread_mutex_lock(&p->mu);
    if (p->q_n >= p->q_cap || p->stop) {
        pthread_mutex_unlock(&p->mu);
        return sdb_call_error(c, SDB_GRPC_UNAVAILABLE, "too many logins in progress: try again later");
    }
    login_job *j = &p->q[(p->q_head + p->q_n) % p->q_cap];
    j->c = c;
    snprintf(j->hash, sizeof j->hash, "%s", hash);
    snprintf(j->addr, sizeof j->addr, "%s", addr);
    snprintf(j->user, sizeof j->user, "%s", user);
    if (pw_len) memcpy(j->pw, pw, pw_len);
    j->pw_len = pw_len;
    j->cont = cont;
    j->arg = arg;
    p->q_n++;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return SDB_CALL_PENDING;
}

int sdb_login_pool_start(sdb_server *s) {
    struct sdb_login_pool *p = sdb_calloc(1, sizeof *p);
    if (!p) return SEALDB_NOMEM;
    p->srv = s;
    p->q_cap = s->cfg.login_queue > 0 ? s->cfg.login_queue : 64;
    p->n_threads = s->cfg.login_workers > 0 ? s->cfg.login_workers : 2;
    if (s->cfg.login_fail_addr <= 0) s->cfg.login_fail_addr = 10;
    if (s->cfg.login_fail_user <= 0) s->cfg.login_fail_user = 100;
    p->q = sdb_calloc((size_t)p->q_cap, sizeof *p->q);
    p->slots = sdb_calloc(THROTTLE_SLOTS, sizeof *p->slots);
    p->threads = sdb_calloc((size_t)p->n_threads, sizeof *p->threads);
    if (!p->q || !p->slots || !p->threads) goto fail;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    int started = 0;
    for (int i = 0; i < p->n_threads; i++)
        if (pthread_create(&p->threads[started], NULL, login_worker, p) == 0) started++;
    p->n_threads = started;
    if (!started) {
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->cv);
        goto fail;
    }
    s->login_pool = p;
    return SEALDB_OK;
fail:
    sdb_free(p->q);
    sdb_free(p->slots);
    sdb_free(p->threads);
    sdb_free(p);
    return SEALDB_NOMEM;
}

void sdb_login_pool_stop(sdb_server *s) {
    struct sdb_login_pool *p = s->login_pool;
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;   /* the workers finish the queue first */
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_threads; i++) pthread_join(p->threads[i], NULL);
    s->login_pool = NULL;
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    sdb_free(p->q);
    sdb_free(p->slots);
    sdb_free(p->threads);
    sdb_free(p);
}

/* ---- users and permissions (server mu held) ---- */
sdb_user *sdb_user_find(sdb_server *s, const char *name) {
    for (sdb_user *u = s->users; u; u = u->next)
        if (strcmp(u->name, name) == 0) return u;
    return NULL;
}

void sdb_user_revoke_tokens(sdb_user *u) {
    u->epoch++;
    u->kept_mac[0] = 0;
}

/* Sysadmin comes only from the global grant (255 on "*"); a per-database entry counts only with
 * a per-database value (R, RW, admin): a stored 255 there once passed every sysadmin check. */
uint32_t sdb_user_perm_on(const sdb_user *u, const char *db) {
    for (size_t i = 0; i < u->n_perms; i++) {
        if (u->perms[i].perm == SDB_PERMISSION_SYSADMIN && strcmp(u->perms[i].db, "*") == 0)
            return SDB_PERMISSION_SYSADMIN;
    }
    for (size_t i = 0; i < u->n_perms; i++)
        if (strcmp(u->perms[i].db, db) == 0 && sdb_perm_is_db_grant(u->perms[i].perm)) return u->perms[i].perm;
    return SDB_PERMISSION_NONE;
}

/* ---- tokens: "sdb1.<user>.<db>.<exp>.<epoch>.<nonce>.<hmac hex>", opaque to clients; the nonce
 * makes every login's token distinct (one of them may outlive a password change: kept_mac) ---- */
static void token_mac(const sdb_server *s, const char *payload, size_t n, char hex[65]) {
    uint8_t mac[32];
    unsigned int ml = 32;
    HMAC(EVP_sha256(), s->token_key, sizeof s->token_key, (const uint8_t *)payload, n, mac, &ml);
    sdb_hex_encode(mac, 32, hex);
}

int sdb_token_issue(sdb_server *s, const sdb_user *u, const char *db, char *out, size_t outlen) {
    char payload[400];
    uint8_t nonce[8];
    char nonce_hex[17];
    if (RAND_bytes(nonce, sizeof nonce) != 1) return SEALDB_IO;
    sdb_hex_encode(nonce, sizeof nonce, nonce_hex);
    int n = snprintf(payload, sizeof payload, "sdb1.%s.%s.%lld.%llu.%s", u->name, db && db[0] ? db : "-",
                     (long long)(sdb_unix_s() + (int64_t)s->cfg.token_expiry_s), (unsigned long long)u->epoch,
                     nonce_hex);
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
    char *f[7];
    int nf = 0;
    for (char *p = strtok_r(buf, ".", &save); p && nf < 7; p = strtok_r(NULL, ".", &save)) f[nf++] = p;
    if (nf != 6 || strlen(f[1]) >= 64 || strlen(f[2]) >= 129) return SDB_GRPC_INTERNAL;
    long long exp = strtoll(f[3], NULL, 10);
    unsigned long long epoch = strtoull(f[4], NULL, 10);
    if (exp < sdb_unix_s()) { *msg = "token has expired"; return SDB_GRPC_PERMISSION_DENIED; }
    pthread_mutex_lock(&s->mu);
    sdb_user *u = sdb_user_find(s, f[1]);
    int ok = u && u->active &&
             (u->epoch == epoch || (u->kept_mac[0] && CRYPTO_memcmp(u->kept_mac, last + 1, 64) == 0));
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
        /* auth disabled: everything acts as the sysadmin on defaultdb (docs/api.md 1.7) */
        strcpy(user, SDB_SYSADMIN);
        strcpy(db, SDB_DEFAULTDB);
        has_creds = 1;
    } else {
        const char *sid = sdb_call_metadata(c, "sessionid");
        const char *az = sdb_call_metadata(c, "authorization");
        if (sid) {
            int found = 0;
            pthread_mutex_lock(&s->mu);
            uint64_t now = sdb_now_ms();
            for (sdb_session *ss = s->sessions; ss; ss = ss->next) {
                if (strcmp(ss->id, sid) == 0) {
                    if (sdb_session_expired(s, ss, now)) break;   /* ended; the janitor frees it */
                    ss->last_ms = now;
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
                    /* immudb's coded auth errors: 28000 (not logged in), XX000 (a token it cannot parse) */
                    if (code == SDB_GRPC_UNKNOWN) return sdb_call_error_info(c, SDB_GRPC_UNKNOWN, "28000", NULL, msg), 1;
                    if (code == SDB_GRPC_INTERNAL) {
                        int pieces = 1;
                        for (const char *q = az; *q; q++) pieces += *q == '.';
                        return sdb_call_error_info(c, SDB_GRPC_INTERNAL, "XX000",
                                                   pieces < 3 ? "malformed token: expected at least 3 pieces" : msg, msg), 1;
                    }
                    return sdb_call_error(c, (sdb_grpc_code)code, "%s", msg), 1;
                }
                has_creds = 1;
            }
        }
    }
    if (has_creds) c->user = sdb_arena_dup(&c->arena, user, strlen(user) + 1);
    if (m->perm == SDB_PERM_NONE) return 0;
    if (!has_creds) {
        /* UseDatabase asks for a login in its own words (docs/api.md 1.4) */
        if (strcmp(m->path, "/immudb.schema.ImmuService/UseDatabase") == 0)
            return sdb_call_error(c, SDB_GRPC_UNAUTHENTICATED, "Please login"), 1;
        return sdb_call_error_info(c, SDB_GRPC_UNKNOWN, "28000", NULL, "not logged in"), 1;
    }

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
    int replica = c->db && c->db->settings.replica;
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
    /* a replica takes txs only from replicateTx (docs/replication.md 8.2) */
    if (replica && m->perm == SDB_PERM_READWRITE)
        return sdb_call_error(c, SDB_GRPC_UNKNOWN, "database is read-only because it's a replica"), 1;
    return 0;
}

void sdb_sessions_expire(sdb_server *s) {
    uint64_t now = sdb_now_ms();
    pthread_mutex_lock(&s->mu);
    sdb_session **pp = &s->sessions;
    while (*pp) {
        sdb_session *ss = *pp;
        if (sdb_session_expired(s, ss, now)) {
            *pp = ss->next;
            s->n_sessions--;
            sdb_free(ss);
        } else {
            pp = &ss->next;
        }
    }
    pthread_mutex_unlock(&s->mu);
}
