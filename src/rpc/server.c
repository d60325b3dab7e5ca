/* server.c - server state lifecycle: data directory, persistent server id, signing key, the catalog
 * of databases and users (kept in the internal systemdb by sysdb.c; an old systemdb/catalog text
 * file is imported once), loading and unloading databases through the modules' hooks, and the
 * session janitor. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>   /* malloc_trim */
#endif
#include "rpc/server.h"
#include "rpc/repl.h"
#include "rpc/sysdb.h"
#include "engine/engine.h"
#include <openssl/evp.h>
#include "util/file.h"

uint64_t sdb_now_ms(void) { return sdb_now_ns() / 1000000u; }

static void engine_log(const char *line) { sdb_log("%s", line); }

/* ---- small file helpers ---- */
static int read_all(const char *path, sdb_buf *out) {
    sdb_file *f = NULL;
    int rc = sdb_file_open(path, O_RDONLY, 0, &f);
    if (rc) return rc;
    uint64_t len = 0;
    rc = sdb_file_size(f, &len);
    if (!rc && len > (64u << 20)) rc = SEALDB_TOOLARGE;
    if (!rc) rc = sdb_buf_reserve(out, (size_t)len + 1);
    if (!rc && len) rc = sdb_file_read_at(f, out->ptr + out->len, (size_t)len, 0);
    if (!rc) { out->len += (size_t)len; out->ptr[out->len] = 0; }
    sdb_file_close(f);
    return rc;
}

static int write_atomic(const char *dir, const char *name, const void *p, size_t n) {
    char tmp[4200], dst[4200];
    snprintf(tmp, sizeof tmp, "%s/%s.tmp", dir, name);
    snprintf(dst, sizeof dst, "%s/%s", dir, name);
    sdb_file *f = NULL;
    int rc = sdb_file_open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600, &f);
    if (rc) return rc;
    rc = n ? sdb_file_write_at(f, p, n, 0) : SEALDB_OK;
    if (!rc) rc = sdb_file_sync(f);
    sdb_file_close(f);
    if (!rc && rename(tmp, dst) != 0) rc = sdb_err_from_errno(errno);
    if (!rc) rc = sdb_fsync_dir(dir);
    return rc;
}

static int mkdir_p(const char *path) {
    char buf[4096];
    size_t n = strlen(path);
    if (n >= sizeof buf) return SEALDB_INVALID;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == 0) {
            char c = buf[i];
            buf[i] = 0;
            if (mkdir(buf, 0700) != 0 && errno != EEXIST) return sdb_err_from_errno(errno);
            buf[i] = c;
        }
    }
    return SEALDB_OK;
}

static int rm_cb(const char *p, const struct stat *sb, int type, struct FTW *ftw) {
    (void)sb; (void)type; (void)ftw;
    return remove(p);
}

/* ---- server id: 12 raw xid-like bytes in immudb.identifier, shown as 20 base32hex chars ---- */
static void base32hex(const uint8_t *p, size_t n, char *out) {
    static const char al[] = "0123456789abcdefghijklmnopqrstuv";
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | p[i];
        bits += 8;
        while (bits >= 5) { out[o++] = al[(acc >> (bits - 5)) & 31]; bits -= 5; }
    }
    if (bits) out[o++] = al[(acc << (5 - bits)) & 31];
    out[o] = 0;
}

static int load_uuid(sdb_server *s) {
    char path[4200];
    snprintf(path, sizeof path, "%s/immudb.identifier", s->cfg.dir);
    sdb_buf b;
    sdb_buf_init(&b);
    int rc = read_all(path, &b);
    uint8_t id[12];
    if (rc == SEALDB_OK && b.len == 12) {
        memcpy(id, b.ptr, 12);
    } else {
        sdb_put_u32be(id, (uint32_t)sdb_unix_s());
        FILE *f = fopen("/dev/urandom", "rb");
        if (!f || fread(id + 4, 1, 8, f) != 8) { if (f) fclose(f); sdb_buf_deinit(&b); return SEALDB_IO; }
        fclose(f);
        rc = write_atomic(s->cfg.dir, "immudb.identifier", id, 12);
        if (rc) { sdb_buf_deinit(&b); return rc; }
    }
    sdb_buf_deinit(&b);
    base32hex(id, 12, s->uuid);
    return SEALDB_OK;
}

/* ---- the pre-systemdb catalog text file, imported once (sysdb.c holds the catalog now) ---- */
static sdb_database *db_new(const char *name) {
    sdb_database *d = sdb_calloc(1, sizeof *d);
    if (!d) return NULL;
    snprintf(d->name, sizeof d->name, "%s", name);
    sdb_settings_default(&d->settings);
    return d;
}

static void db_append(sdb_server *s, sdb_database *d) {
    sdb_database **pp = &s->dbs;
    while (*pp) pp = &(*pp)->next;
    *pp = d;
}

static int parse_catalog(sdb_server *s, char *text) {
    char *save = NULL;
    int line_no = 0;
    for (char *ln = strtok_r(text, "\n", &save); ln; ln = strtok_r(NULL, "\n", &save)) {
        line_no++;
        char *ws = NULL;
        char *kind = strtok_r(ln, " ", &ws);
        if (!kind) continue;
        if (line_no == 1) { if (strcmp(kind, "sealdb-catalog") != 0) return SEALDB_CORRUPT; continue; }
        if (strcmp(kind, "multidb") == 0) {
            char *v = strtok_r(NULL, " ", &ws);
            s->multi_db = v && v[0] == '1';
        } else if (strcmp(kind, "user") == 0) {
            char *f[6];
            for (int i = 0; i < 6; i++) if (!(f[i] = strtok_r(NULL, " ", &ws))) return SEALDB_CORRUPT;
            sdb_user *u = sdb_calloc(1, sizeof *u);
            if (!u) return SEALDB_NOMEM;
            snprintf(u->name, sizeof u->name, "%s", f[0]);
            snprintf(u->hash, sizeof u->hash, "%s", f[1]);
            u->active = atoi(f[2]);
            snprintf(u->created_by, sizeof u->created_by, "%s", strcmp(f[3], "-") ? f[3] : "");
            u->created_at_ns = strtoll(f[4], NULL, 10);
            size_t np = strtoul(f[5], NULL, 10);
            if (np > 100000) { sdb_free(u); return SEALDB_CORRUPT; }
            u->perms = sdb_calloc(np ? np : 1, sizeof *u->perms);
            if (!u->perms) { sdb_free(u); return SEALDB_NOMEM; }
            for (size_t i = 0; i < np; i++) {
                char *pe = strtok_r(NULL, " ", &ws);
                char *colon = pe ? strrchr(pe, ':') : NULL;
                if (!colon) break;
                *colon = 0;
                snprintf(u->perms[u->n_perms].db, sizeof u->perms[0].db, "%s", pe);
                u->perms[u->n_perms].perm = (uint32_t)strtoul(colon + 1, NULL, 10);
                u->n_perms++;
            }
            char *ep = strtok_r(NULL, " ", &ws);
            if (ep && !strncmp(ep, "epoch=", 6)) u->epoch = strtoull(ep + 6, NULL, 10);
            sdb_user **pp = &s->users;
            while (*pp) pp = &(*pp)->next;
            *pp = u;
        } else if (strcmp(kind, "db") == 0) {
            char *f[4];
            for (int i = 0; i < 4; i++) if (!(f[i] = strtok_r(NULL, " ", &ws))) return SEALDB_CORRUPT;
            sdb_database *d = db_new(f[0]);
            if (!d) return SEALDB_NOMEM;
            d->created_at = strtoll(f[1], NULL, 10);
            snprintf(d->created_by, sizeof d->created_by, "%s", strcmp(f[2], "-") ? f[2] : "");
            if (strcmp(f[3], "-") != 0) {
                sdb_buf hb;
                sdb_buf_init(&hb);
                if (sdb_hex_decode(f[3], strlen(f[3]), &hb)) { sdb_free(d); sdb_buf_deinit(&hb); return SEALDB_CORRUPT; }
                d->settings_pb = hb.ptr;
                d->settings_pb_len = hb.len;
                d->settings.synced = s->cfg.synced;
                if (sdb_settings_effective(d->settings_pb, d->settings_pb_len, &d->settings)) {
                    sdb_free(d); return SEALDB_CORRUPT;
                }
            }
            db_append(s, d);
        }
    }
    return SEALDB_OK;
}

sdb_database *sdb_db_find(sdb_server *s, const char *name) {
    if (strcmp(name, SDB_SYSTEMDB) == 0) return s->systemdb;
    for (sdb_database *d = s->dbs; d; d = d->next)
        if (!d->deleted && strcmp(d->name, name) == 0) return d;
    return NULL;
}

/* ---- loading ---- */
int sdb_db_load(sdb_server *s, sdb_database *d) {
    if (d->loaded) return SEALDB_OK;
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/%s", s->cfg.dir, d->name);
    int rc = mkdir_p(dir);
    if (rc) return rc;
    d->settings.synced = s->cfg.synced;
    size_t i = 0;
    for (; i < sdb_rpc_n_modules; i++) {
        const sdb_rpc_module *m = sdb_rpc_modules[i];
        if (m->db_open && (rc = m->db_open(d, dir)) != SEALDB_OK) break;
    }
    if (rc) {
        while (i-- > 0) if (sdb_rpc_modules[i]->db_close) sdb_rpc_modules[i]->db_close(d);
        sdb_log("error: cannot open database %s: %s", d->name, sealdb_strerror(rc));
        return rc;
    }
    d->loaded = 1;
    d->refs++;
    return SEALDB_OK;
}

static void db_close_hooks(sdb_database *d) {
    for (size_t i = sdb_rpc_n_modules; i-- > 0;)
        if (sdb_rpc_modules[i]->db_close) sdb_rpc_modules[i]->db_close(d);
    d->impl = NULL;
}

void sdb_db_unload(sdb_server *s, sdb_database *d) {
    if (!d->loaded) return;
    d->loaded = 0;
    sdb_repl_release_waiting(d);   /* writes waiting for replica acks would keep it open forever */
    if (--d->refs == 0) db_close_hooks(d);
}

void sdb_db_release(sdb_server *s, sdb_database *d) {
    pthread_mutex_lock(&s->mu);
    if (--d->refs == 0 && !d->loaded) db_close_hooks(d);
    pthread_mutex_unlock(&s->mu);
}

int sdb_db_state(sdb_server *s, sdb_database *d, uint64_t *tx, uint8_t alh[32]) {
    *tx = 0;
    sdb_sha256("", 0, alh);
    if (!d->loaded) return SEALDB_CLOSED;
    for (size_t i = 0; i < sdb_rpc_n_modules; i++)
        if (sdb_rpc_modules[i]->db_state) return sdb_rpc_modules[i]->db_state(d, tx, alh);
    return SEALDB_OK;
}

uint64_t sdb_dir_size(const char *path) {
    uint64_t total = 0;
    DIR *dp = opendir(path);
    if (!dp) return 0;
    struct dirent *e;
    while ((e = readdir(dp))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char p[4200];
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        struct stat st;
        if (lstat(p, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) total += sdb_dir_size(p);
        else if (S_ISREG(st.st_mode)) total += (uint64_t)st.st_size;
    }
    closedir(dp);
    return total;
}

int sdb_db_remove_dir(sdb_server *s, const char *name) {
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/%s", s->cfg.dir, name);
    return nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS) == 0 || errno == ENOENT ? SEALDB_OK : SEALDB_IO;
}

/* ---- users ---- */
static sdb_user *user_new_sysadmin(const char *pw, size_t pw_len) {
    sdb_user *u = sdb_calloc(1, sizeof *u);
    if (!u) return NULL;
    strcpy(u->name, SDB_SYSADMIN);
    u->active = 1;
    u->created_at_ns = (int64_t)sdb_unix_s() * 1000000000;
    u->perms = sdb_calloc(1, sizeof *u->perms);
    if (!u->perms || sdb_password_hash(pw, pw_len, u->hash)) { sdb_free(u->perms); sdb_free(u); return NULL; }
    strcpy(u->perms[0].db, "*");
    u->perms[0].perm = SDB_PERMISSION_SYSADMIN;
    u->n_perms = 1;
    return u;
}

/* The key that signs login tokens persists in systemdb (0600), so tokens survive a restart;
 * logout, password and permission changes still invalidate them through the user's epoch. */
static int load_token_key(sdb_server *s, const char *sysdir) {
    char path[4300];
    snprintf(path, sizeof path, "%s/token.key", sysdir);
    sdb_buf b;
    sdb_buf_init(&b);
    int rc = read_all(path, &b);
    if (rc == SEALDB_OK && b.len == sizeof s->token_key) {
        memcpy(s->token_key, b.ptr, sizeof s->token_key);
        sdb_buf_deinit(&b);
        return SEALDB_OK;
    }
    sdb_buf_deinit(&b);
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(s->token_key, 1, sizeof s->token_key, f) != sizeof s->token_key) {
        if (f) fclose(f);
        return SEALDB_IO;
    }
    fclose(f);
    return write_atomic(sysdir, "token.key", s->token_key, sizeof s->token_key);
}

/* After a burst of calls the malloc arenas keep the freed memory of the calls that were in flight
 * (only free space at an arena's top is returned, and only beyond the trim threshold): once the
 * server has been idle for a second, give every free page back to the kernel. malloc_trim walks
 * all arenas, so it runs only then, once per burst, never on the call path. */
#define IDLE_TRIM_AFTER_MS 1000
static void idle_trim(sdb_server *s) {
#ifdef __GLIBC__
    int64_t last = atomic_load(&s->last_request_ms);
    if (last <= s->last_trim_ms || atomic_load(&s->inflight) != 0) return;
    if ((int64_t)sdb_now_ms() - last < IDLE_TRIM_AFTER_MS) return;
    malloc_trim(0);
    s->last_trim_ms = last;
#else
    (void)s;
#endif
}

int sdb_session_expired(const sdb_server *s, const sdb_session *ss, uint64_t now_ms) {
    uint64_t idle = now_ms > ss->last_ms ? now_ms - ss->last_ms : 0;
    uint64_t age = now_ms > ss->created_ms ? now_ms - ss->created_ms : 0;
    if (idle > s->cfg.session_timeout_ms) return 1;
    if (s->cfg.session_inactivity_ms && idle > s->cfg.session_inactivity_ms) return 1;
    return s->cfg.session_max_age_ms && age > s->cfg.session_max_age_ms;
}

/* The janitor's period: a quarter of the shortest session limit, within [50 ms, 1 s]. */
static uint64_t janitor_step_ms(const sdb_server *s) {
    uint64_t m = s->cfg.session_timeout_ms;
    if (s->cfg.session_inactivity_ms && s->cfg.session_inactivity_ms < m) m = s->cfg.session_inactivity_ms;
    if (s->cfg.session_max_age_ms && s->cfg.session_max_age_ms < m) m = s->cfg.session_max_age_ms;
    return m / 4;
}

static void *janitor(void *arg) {
    sdb_thread_name("sdb-janitor");
    sdb_server *s = arg;
    pthread_mutex_lock(&s->stop_mu);
    while (!atomic_load(&s->stopping)) {
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        uint64_t step_ms = janitor_step_ms(s);
        if (step_ms > 1000) step_ms = 1000;
        if (step_ms < 50) step_ms = 50;
        dl.tv_nsec += (long)(step_ms * 1000000);
        while (dl.tv_nsec >= 1000000000) { dl.tv_sec++; dl.tv_nsec -= 1000000000; }
        pthread_cond_timedwait(&s->stop_cv, &s->stop_mu, &dl);
        pthread_mutex_unlock(&s->stop_mu);
        sdb_sessions_expire(s);
        idle_trim(s);
        sdb_truncator_tick(s);
        pthread_mutex_lock(&s->stop_mu);
    }
    pthread_mutex_unlock(&s->stop_mu);
    return NULL;
}

static int decode_admin_password(const char *in, sdb_buf *out) {
    if (strncmp(in, "enc:", 4) != 0) return sdb_buf_append(out, in, strlen(in));
    const char *b64 = in + 4;
    size_t n = strlen(b64);
    if (sdb_buf_reserve(out, n + 4)) return SEALDB_NOMEM;
    int got = EVP_DecodeBlock(out->ptr, (const unsigned char *)b64, (int)n);
    if (got < 0) return SEALDB_INVALID;
    while (n > 0 && b64[n - 1] == '=') { n--; got--; }
    out->len = (size_t)got;
    return SEALDB_OK;
}

/* defaultdb's replication settings from the --replication-* flags (cfg->repl), merged over its
 * stored settings at every start: as in immudb, the flags decide (UpdateDatabaseV2 refuses
 * defaultdb). Every field is sent, so a start without the flags makes defaultdb a plain primary
 * again. The replicator starts when defaultdb is loaded (repl_db_open). */
static int apply_repl_flags(sdb_server *s, sdb_database *d) {
    const sdb_repl_flags *f = &s->cfg.repl;
    static char empty[] = "";
    Immudb__Schema__NullableBool replica, sync, discard, skip, wfi;
    Immudb__Schema__NullableString pdb, host, user, pass;
    Immudb__Schema__NullableUint32 port, acks, prefetch, conc;
    Immudb__Schema__NullableBool *bools[] = { &replica, &sync, &discard, &skip, &wfi };
    int bv[] = { f->replica, f->sync, f->allow_discard, f->skip_integrity, f->wait_indexing };
    for (size_t i = 0; i < 5; i++) { immudb__schema__nullable_bool__init(bools[i]); bools[i]->value = bv[i] != 0; }
    int follow = f->replica && f->host && f->host[0];
    Immudb__Schema__NullableString *strs[] = { &pdb, &host, &user, &pass };
    const char *sv[] = { SDB_DEFAULTDB, f->host, f->user, f->password };   /* the primary's db of the same name */
    for (size_t i = 0; i < 4; i++) {
        immudb__schema__nullable_string__init(strs[i]);
        strs[i]->value = follow && sv[i] ? (char *)sv[i] : empty;
    }
    Immudb__Schema__NullableUint32 *u32s[] = { &port, &acks, &prefetch, &conc };
    uint32_t uv[] = { follow ? (uint32_t)f->port : 0, f->replica ? 0 : f->sync_acks,
                      f->replica ? f->prefetch : 0, f->replica ? f->concurrency : 0 };
    for (size_t i = 0; i < 4; i++) { immudb__schema__nullable_uint32__init(u32s[i]); u32s[i]->value = uv[i]; }
    Immudb__Schema__ReplicationNullableSettings rs;
    immudb__schema__replication_nullable_settings__init(&rs);
    rs.replica = &replica; rs.syncreplication = &sync; rs.allowtxdiscarding = &discard;
    rs.skipintegritycheck = &skip; rs.waitforindexing = &wfi;
    rs.primarydatabase = &pdb; rs.primaryhost = &host; rs.primaryusername = &user; rs.primarypassword = &pass;
    rs.primaryport = &port; rs.syncacks = &acks; rs.prefetchtxbuffersize = &prefetch;
    rs.replicationcommitconcurrency = &conc;
    Immudb__Schema__DatabaseNullableSettings ov;
    immudb__schema__database_nullable_settings__init(&ov);
    ov.replicationsettings = &rs;
    uint8_t *pb = NULL;
    size_t len = 0;
    int rc = sdb_settings_pack(&d->settings, d->settings_pb, d->settings_pb_len, &ov.base, &pb, &len);
    if (rc) return rc;
    char msg[512];
    if (sdb_settings_validate(pb, len, d->name, msg, sizeof msg) != SEALDB_OK) {
        sdb_log("error: --replication-* flags: %s", msg);
        sdb_free(pb);
        return SEALDB_INVALID;
    }
    sdb_free(d->settings_pb);
    d->settings_pb = pb;
    d->settings_pb_len = len;
    if ((rc = sdb_settings_effective(pb, len, &d->settings))) return rc;
    if (follow)
        sdb_log("defaultdb: %sreplica of %s:%d/%s as %s (--replication-*; systemdb is not replicated: the users and "
                "databases of this server are its own)", f->sync ? "synchronous " : "", f->host, f->port,
                SDB_DEFAULTDB, f->user);
    else if (f->replica)
        sdb_log("defaultdb: %sreplica without a primary (--replication-is-replica without "
                "--replication-primary-host): it takes transactions only through replicateTx",
                f->sync ? "synchronous " : "");
    else if (f->sync)
        sdb_log("defaultdb: synchronous primary, %u replica acks per write (--replication-sync-*; systemdb is "
                "not replicated synchronously)", (unsigned)f->sync_acks);
    return SEALDB_OK;
}

int sdb_server_open(const sdb_server_config *cfg, sdb_server **out) {
    sdb_server *s = sdb_calloc(1, sizeof *s);
    if (!s) return SEALDB_NOMEM;
    s->cfg = *cfg;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->stop_mu, NULL);
    pthread_cond_init(&s->stop_cv, NULL);
    s->started_at = sdb_unix_s();
    sdb_buf pw;
    sdb_buf_init(&pw);
    int rc = mkdir_p(cfg->dir);
    if (rc) { sdb_log("error: cannot create data directory %s", cfg->dir); goto fail; }
    if ((rc = load_uuid(s))) { sdb_log("error: cannot read or write the server identifier"); goto fail; }
    sdb_repl_set_uuid(s->uuid);
    sdb_repl_set_server(s);
    if (cfg->signing_key && cfg->signing_key[0]) {
        rc = sdb_signer_load_file(cfg->signing_key, &s->signer);
        if (rc) { sdb_log("error: cannot load signing key %s: %s", cfg->signing_key, sealdb_strerror(rc)); goto fail; }
    }
    if ((rc = sdb_server_register_methods(s))) goto fail;
    if ((rc = decode_admin_password(cfg->admin_password ? cfg->admin_password : "immudb", &pw))) {
        sdb_log("error: bad --admin-password"); goto fail;
    }
    sdb_engine_set_log(engine_log);   /* disk failures and recoveries go to the server log */
    char sysdir[4200];
    snprintf(sysdir, sizeof sysdir, "%s/%s", cfg->dir, SDB_SYSTEMDB);
    if ((rc = mkdir_p(sysdir))) goto fail;
    if ((rc = load_token_key(s, sysdir))) { sdb_log("error: cannot read or create the token key"); goto fail; }
    s->saved_multi_db = -1;
    s->systemdb = db_new(SDB_SYSTEMDB);
    if (!s->systemdb) { rc = SEALDB_NOMEM; goto fail; }
    s->systemdb->system = 1;
    sdb_settings_pack(&s->systemdb->settings, NULL, 0, NULL, &s->systemdb->settings_pb, &s->systemdb->settings_pb_len);
    if ((rc = sdb_db_load(s, s->systemdb))) goto fail;
    int found = 0;
    if ((rc = sdb_sysdb_load(s, &found))) { sdb_log("error: cannot read users and databases from systemdb"); goto fail; }
    char catpath[4300];
    snprintf(catpath, sizeof catpath, "%s/catalog", sysdir);
    if (!found) {
        sdb_buf cat;
        sdb_buf_init(&cat);
        rc = read_all(catpath, &cat);
        if (rc == SEALDB_OK) {
            /* a data directory of an older sealdb: import its catalog file into systemdb once */
            rc = parse_catalog(s, (char *)cat.ptr);
            sdb_buf_deinit(&cat);
            if (rc) { sdb_log("error: catalog %s is damaged", catpath); goto fail; }
            if ((rc = sdb_catalog_save(s))) goto fail;
            char done[4400];
            snprintf(done, sizeof done, "%s.imported", catpath);
            if (rename(catpath, done) != 0) sdb_log("warning: cannot rename %s after importing it", catpath);
            sdb_fsync_dir(sysdir);
            sdb_log("imported %s into systemdb", catpath);
            found = 1;
        } else {
            sdb_buf_deinit(&cat);
            if (pw.len == 0 || pw.len > 72) { sdb_log("error: admin password must be 1..72 bytes"); rc = SEALDB_INVALID; goto fail; }
            s->users = user_new_sysadmin((const char *)pw.ptr, pw.len);
            if (!s->users) { rc = SEALDB_NOMEM; goto fail; }
            sdb_database *d = db_new(SDB_DEFAULTDB);
            if (!d) { rc = SEALDB_NOMEM; goto fail; }
            d->created_at = sdb_unix_s();
            strcpy(d->created_by, SDB_SYSTEMDB);   /* immudb names the system database as its creator */
            d->settings.synced = cfg->synced;
            if ((rc = sdb_settings_pack(&d->settings, NULL, 0, NULL, &d->settings_pb, &d->settings_pb_len))) goto fail;
            s->dbs = d;
            if ((rc = sdb_catalog_save(s))) goto fail;
        }
    }
    if (found && cfg->force_admin_password) {
        sdb_user *u = sdb_user_find(s, SDB_SYSADMIN);
        if (u && (rc = sdb_password_hash((const char *)pw.ptr, pw.len, u->hash))) goto fail;
        if (u) sdb_user_revoke_tokens(u);
        if (u && (rc = sdb_catalog_save(s))) goto fail;
    }
    if (!sdb_user_find(s, SDB_SYSADMIN) || !sdb_db_find(s, SDB_DEFAULTDB)) {
        sdb_log("error: systemdb lacks the sysadmin user or defaultdb");
        rc = SEALDB_CORRUPT;
        goto fail;
    }
    /* immudb decides at start: another database or another user than the sysadmin means several
     * databases, and a Login token then selects none until UseDatabase */
    if (s->dbs && s->dbs->next) s->multi_db = 1;
    for (sdb_user *u = s->users; u; u = u->next)
        if (strcmp(u->name, SDB_SYSADMIN) != 0) s->multi_db = 1;
    for (sdb_database *d = s->dbs; d; d = d->next) {
        if (!d->settings_pb)
            sdb_settings_pack(&d->settings, NULL, 0, NULL, &d->settings_pb, &d->settings_pb_len);
        if (strcmp(d->name, SDB_DEFAULTDB) == 0 && (rc = apply_repl_flags(s, d))) goto fail;
        if (d->settings.autoload || strcmp(d->name, SDB_DEFAULTDB) == 0)
            if ((rc = sdb_db_load(s, d))) goto fail;
    }
    sdb_user *admin = sdb_user_find(s, SDB_SYSADMIN);
    if (admin && sdb_password_check(admin->hash, "immudb", 6))
        sdb_log("warning: user immudb has the default password: please change it to ensure proper security");
    sdb_buf_deinit(&pw);
    if (pthread_create(&s->janitor, NULL, janitor, s) == 0) s->janitor_started = 1;
    *out = s;
    return SEALDB_OK;
fail:
    sdb_buf_deinit(&pw);
    sdb_server_close(s);
    return rc ? rc : SEALDB_IO;
}

void sdb_server_close(sdb_server *s) {
    if (!s) return;
    if (s->janitor_started) {
        pthread_mutex_lock(&s->stop_mu);
        atomic_store(&s->stopping, 1);
        pthread_cond_broadcast(&s->stop_cv);
        pthread_mutex_unlock(&s->stop_mu);
        pthread_join(s->janitor, NULL);
    }
    pthread_mutex_lock(&s->mu);
    sdb_database *all[2] = { s->dbs, s->systemdb };
    for (int k = 0; k < 2; k++) {
        for (sdb_database *d = all[k], *nx; d; d = nx) {
            nx = k == 0 ? d->next : NULL;
            if (d->loaded) sdb_db_unload(s, d);
            sdb_free(d->settings_pb);
            sdb_free(d->saved);
            sdb_free(d);
        }
    }
    for (sdb_user *u = s->users, *nx; u; u = nx) { nx = u->next; sdb_free(u->perms); sdb_free(u->saved); sdb_free(u); }
    for (sdb_session *ss = s->sessions, *nx; ss; ss = nx) { nx = ss->next; sdb_free(ss); }
    pthread_mutex_unlock(&s->mu);
    sdb_signer_free(s->signer);
    sdb_free(s->methods);
    sdb_free(s->stats);
    pthread_mutex_destroy(&s->mu);
    sdb_free(s);
}

/* ---- the method table: every module's methods, sorted by path for binary search ---- */
static int cmp_method(const void *a, const void *b) {
    return strcmp((*(const sdb_rpc_method *const *)a)->path, (*(const sdb_rpc_method *const *)b)->path);
}

int sdb_server_register_methods(sdb_server *s) {
    size_t n = 0;
    for (size_t i = 0; i < sdb_rpc_n_modules; i++) n += sdb_rpc_modules[i]->n_methods;
    s->methods = sdb_calloc(n ? n : 1, sizeof *s->methods);
    s->stats = sdb_calloc(n ? n : 1, sizeof *s->stats);
    if (!s->methods || !s->stats) return SEALDB_NOMEM;
    size_t k = 0;
    for (size_t i = 0; i < sdb_rpc_n_modules; i++) {
        for (size_t j = 0; j < sdb_rpc_modules[i]->n_methods; j++) {
            const sdb_rpc_method *m = &sdb_rpc_modules[i]->methods[j];
            size_t at = 0;
            while (at < k && strcmp(s->methods[at]->path, m->path) != 0) at++;
            s->methods[at] = m;   /* a later module overrides */
            if (at == k) k++;
        }
    }
    n = k;
    qsort(s->methods, n, sizeof *s->methods, cmp_method);
    s->n_methods = n;
    for (size_t i = 0; i < n; i++) {
        const char *sl = strrchr(s->methods[i]->path, '/');
        s->stats[i].name = sl ? sl + 1 : s->methods[i]->path;
    }
    return SEALDB_OK;
}
