/* sysdb.c - users, permissions and the database catalog kept as key/value entries of the internal
 * `systemdb` engine database, so every user, permission and database change is itself an immutable,
 * verifiable transaction (immudb keeps them in its systemdb too). The server keeps the live state in
 * memory; this file loads it at start, writes every changed record in one systemdb tx on each
 * change, and imports the pre-systemdb `systemdb/catalog` text file once.
 *
 * Entries (plain KV keys of systemdb, readable by the sysadmin with Get/Scan/VerifiableGet):
 *   "sys/user/<name>" -> "1 <seq> <bcrypt hash> <active> <created_by|-> <created_at_ns> <epoch> <db>:<perm>..."
 *   "sys/db/<name>"   -> "1 <seq> <deleted> <created_at_s> <created_by|-> <settings pb hex|->"
 *   "sys/cfg/multidb" -> "0" | "1"
 * seq keeps the creation order (DatabaseList and ListUsers list in that order). Names never contain
 * spaces (usernames: letters, digits, '_'; database names: checked at creation). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "db/kv.h"
#include "rpc/server.h"
#include "rpc/sysdb.h"
#include "sealdb_err.h"

#define K_USER "sys/user/"
#define K_DB   "sys/db/"
#define K_CFG_MULTIDB "sys/cfg/multidb"

static sdb_kvdb *sys_kv(sdb_server *s) {
    return s->systemdb && s->systemdb->loaded ? sdb_database_impl(s->systemdb) : NULL;
}

/* ---- encoding ---- */
static char *user_record(const sdb_user *u) {
    sdb_buf b;
    sdb_buf_init(&b);
    char line[512];
    int n = snprintf(line, sizeof line, "1 %llu %s %d %s %lld %llu", (unsigned long long)u->seq, u->hash,
                     u->active, u->created_by[0] ? u->created_by : "-", (long long)u->created_at_ns,
                     (unsigned long long)u->epoch);
    int rc = sdb_buf_append(&b, line, (size_t)n);
    for (size_t i = 0; !rc && i < u->n_perms; i++) {
        n = snprintf(line, sizeof line, " %s:%u", u->perms[i].db, u->perms[i].perm);
        rc = sdb_buf_append(&b, line, (size_t)n);
    }
    if (!rc) rc = sdb_buf_append_u8(&b, 0);
    if (rc) { sdb_buf_deinit(&b); return NULL; }
    return (char *)b.ptr;
}

static char *db_record(const sdb_database *d) {
    sdb_buf b;
    sdb_buf_init(&b);
    char line[512];
    int n = snprintf(line, sizeof line, "1 %llu %d %lld %s ", (unsigned long long)d->seq, d->deleted,
                     (long long)d->created_at, d->created_by[0] ? d->created_by : "-");
    int rc = sdb_buf_append(&b, line, (size_t)n);
    if (!rc && d->settings_pb_len) {
        rc = sdb_buf_reserve(&b, 2 * d->settings_pb_len + 1);
        if (!rc) { sdb_hex_encode(d->settings_pb, d->settings_pb_len, (char *)b.ptr + b.len); b.len += 2 * d->settings_pb_len; }
    } else if (!rc) {
        rc = sdb_buf_append(&b, "-", 1);
    }
    if (!rc) rc = sdb_buf_append_u8(&b, 0);
    if (rc) { sdb_buf_deinit(&b); return NULL; }
    return (char *)b.ptr;
}

/* ---- saving: every record that differs from what systemdb holds, in one transaction ---- */
typedef struct pending { char **owner_saved; char *rec; } pending;

static int add_entry(sdb_kvdb *db, sdb_arena *a, sdb_kv_batch *b, const char *kprefix, const char *name,
                     const char *rec) {
    size_t pl = strlen(kprefix), nl = strlen(name);
    char *key = sdb_arena_alloc(a, pl + nl + 1);
    if (!key) return SEALDB_NOMEM;
    memcpy(key, kprefix, pl);
    memcpy(key + pl, name, nl + 1);
    sdb_kverr err;
    if (sdb_kv_batch_add_plain(db, a, b, (sdb_slice){ (const uint8_t *)key, pl + nl },
                               (sdb_slice){ (const uint8_t *)rec, strlen(rec) }, &err)) {
        sdb_log("error: systemdb record %s%s: %s", kprefix, name, err.msg);
        return SEALDB_INVALID;
    }
    return SEALDB_OK;
}

/* Stages rec (owned; NULL = out of memory) under kprefix+name unless systemdb already holds it. */
static int stage(sdb_kvdb *db, sdb_arena *a, sdb_kv_batch *b, pending *pend, size_t *np, char **saved,
                 const char *kprefix, const char *name, char *rec) {
    if (!rec) return SEALDB_NOMEM;
    if (*saved && strcmp(*saved, rec) == 0) { sdb_free(rec); return SEALDB_OK; }
    pend[(*np)++] = (pending){ saved, rec };
    return add_entry(db, a, b, kprefix, name, rec);
}

int sdb_catalog_save(sdb_server *s) {
    sdb_kvdb *db = sys_kv(s);
    if (!db) return SEALDB_CLOSED;
    sdb_arena a;
    sdb_arena_init(&a, 4096);
    sdb_kv_batch b;
    memset(&b, 0, sizeof b);
    size_t n_users = 0, n_dbs = 0;
    for (sdb_user *u = s->users; u; u = u->next) n_users++;
    for (sdb_database *d = s->dbs; d; d = d->next) n_dbs++;
    pending *pend = sdb_calloc(n_users + n_dbs + 1, sizeof *pend);
    size_t np = 0;
    int rc = pend ? SEALDB_OK : SEALDB_NOMEM;
    char cfg[2] = { s->multi_db ? '1' : '0', 0 };
    if (!rc && s->saved_multi_db != s->multi_db) rc = add_entry(db, &a, &b, K_CFG_MULTIDB, "", cfg);
    for (sdb_user *u = s->users; !rc && u; u = u->next) {
        if (!u->seq) u->seq = ++s->catalog_seq;
        rc = stage(db, &a, &b, pend, &np, &u->saved, K_USER, u->name, user_record(u));
    }
    for (sdb_database *d = s->dbs; !rc && d; d = d->next) {
        if (d->deleted) {
            /* a later database of the same name owns the key now */
            int shadowed = 0;
            for (sdb_database *o = s->dbs; o; o = o->next) if (o != d && !o->deleted && !strcmp(o->name, d->name)) shadowed = 1;
            if (shadowed) continue;
        }
        if (!d->seq) d->seq = ++s->catalog_seq;
        rc = stage(db, &a, &b, pend, &np, &d->saved, K_DB, d->name, db_record(d));
    }
    if (!rc && b.n) {
        sdb_kverr err;
        if (sdb_kv_commit_sync(db, &b, 1, NULL, &err)) {
            sdb_log("error: cannot save the catalog in systemdb: %s", err.msg);
            rc = SEALDB_IO;
        }
    }
    for (size_t i = 0; i < np; i++) {
        if (!rc) { sdb_free(*pend[i].owner_saved); *pend[i].owner_saved = pend[i].rec; }
        else sdb_free(pend[i].rec);
    }
    if (!rc) s->saved_multi_db = s->multi_db;
    sdb_free(pend);
    sdb_arena_deinit(&a);
    return rc;
}

/* ---- loading ---- */
static int parse_user(sdb_server *s, const char *name, char *rec, sdb_user **out) {
    char *ws = NULL, *f[7];
    for (int i = 0; i < 7; i++) if (!(f[i] = strtok_r(i ? NULL : rec, " ", &ws))) return SEALDB_CORRUPT;
    if (strcmp(f[0], "1") != 0 || strlen(name) >= sizeof((sdb_user *)0)->name || strlen(f[2]) >= 128)
        return SEALDB_CORRUPT;
    sdb_user *u = sdb_calloc(1, sizeof *u);
    if (!u) return SEALDB_NOMEM;
    strcpy(u->name, name);
    u->seq = strtoull(f[1], NULL, 10);
    strcpy(u->hash, f[2]);
    u->active = atoi(f[3]);
    snprintf(u->created_by, sizeof u->created_by, "%s", strcmp(f[4], "-") ? f[4] : "");
    u->created_at_ns = strtoll(f[5], NULL, 10);
    u->epoch = strtoull(f[6], NULL, 10);
    size_t cap = 4;
    u->perms = sdb_calloc(cap, sizeof *u->perms);
    if (!u->perms) { sdb_free(u); return SEALDB_NOMEM; }
    for (char *pe; (pe = strtok_r(NULL, " ", &ws));) {
        char *colon = strrchr(pe, ':');
        if (!colon || (size_t)(colon - pe) >= sizeof u->perms[0].db) { sdb_free(u->perms); sdb_free(u); return SEALDB_CORRUPT; }
        if (u->n_perms == cap) {
            sdb_perm_entry *np = sdb_realloc(u->perms, 2 * cap * sizeof *np);
            if (!np) { sdb_free(u->perms); sdb_free(u); return SEALDB_NOMEM; }
            u->perms = np;
            cap *= 2;
        }
        *colon = 0;
        strcpy(u->perms[u->n_perms].db, pe);
        u->perms[u->n_perms].perm = (uint32_t)strtoul(colon + 1, NULL, 10);
        u->n_perms++;
    }
    if (u->seq > s->catalog_seq) s->catalog_seq = u->seq;
    *out = u;
    return SEALDB_OK;
}

static int parse_db(sdb_server *s, const char *name, char *rec, sdb_database **out) {
    char *ws = NULL, *f[6];
    for (int i = 0; i < 6; i++) if (!(f[i] = strtok_r(i ? NULL : rec, " ", &ws))) return SEALDB_CORRUPT;
    if (strcmp(f[0], "1") != 0 || strlen(name) >= sizeof((sdb_database *)0)->name) return SEALDB_CORRUPT;
    sdb_database *d = sdb_calloc(1, sizeof *d);
    if (!d) return SEALDB_NOMEM;
    strcpy(d->name, name);
    sdb_settings_default(&d->settings);
    d->seq = strtoull(f[1], NULL, 10);
    d->deleted = atoi(f[2]);
    d->created_at = strtoll(f[3], NULL, 10);
    snprintf(d->created_by, sizeof d->created_by, "%s", strcmp(f[4], "-") ? f[4] : "");
    d->settings.synced = s->cfg.synced;
    if (strcmp(f[5], "-") != 0) {
        sdb_buf hb;
        sdb_buf_init(&hb);
        if (sdb_hex_decode(f[5], strlen(f[5]), &hb) ||
            sdb_settings_effective(hb.ptr, hb.len, &d->settings)) {
            sdb_buf_deinit(&hb);
            sdb_free(d);
            return SEALDB_CORRUPT;
        }
        d->settings_pb = hb.ptr;
        d->settings_pb_len = hb.len;
    }
    if (d->seq > s->catalog_seq) s->catalog_seq = d->seq;
    *out = d;
    return SEALDB_OK;
}

static int cmp_user(const void *a, const void *b) {
    uint64_t x = (*(sdb_user *const *)a)->seq, y = (*(sdb_user *const *)b)->seq;
    return x < y ? -1 : x > y;
}
static int cmp_db(const void *a, const void *b) {
    const sdb_database *x = *(sdb_database *const *)a, *y = *(sdb_database *const *)b;
    /* defaultdb first, then creation order */
    int dx = !strcmp(x->name, SDB_DEFAULTDB), dy = !strcmp(y->name, SDB_DEFAULTDB);
    if (dx != dy) return dy - dx;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int sdb_sysdb_load(sdb_server *s, int *found) {
    *found = 0;
    sdb_kvdb *db = sys_kv(s);
    if (!db) return SEALDB_CLOSED;
    uint8_t pfx[16];
    pfx[0] = SDB_KEY_PREFIX_SET;
    memcpy(pfx + 1, "sys/", 4);
    sdb_scan_opts o;
    memset(&o, 0, sizeof o);
    o.prefix = (sdb_slice){ pfx, 5 };
    sdb_kv_list l;
    sdb_kv_list_init(&l);
    int rc = sdb_engine_scan(db->eng, &o, &l);
    sdb_user **users = NULL;
    sdb_database **dbs = NULL;
    size_t nu = 0, nd = 0;
    if (!rc && l.n) {
        users = sdb_calloc(l.n, sizeof *users);
        dbs = sdb_calloc(l.n, sizeof *dbs);
        if (!users || !dbs) rc = SEALDB_NOMEM;
    }
    for (size_t i = 0; !rc && i < l.n; i++) {
        sdb_kv_version *v = &l.v[i];
        if (v->md.deleted || v->value.len < 1 || v->value.ptr[0] != SDB_VALUE_PREFIX_PLAIN) continue;
        size_t kl = v->key.len - 1, vl = v->value.len - 1;
        char *key = sdb_malloc(kl + 1), *val = sdb_malloc(vl + 1), *saved = sdb_malloc(vl + 1);
        if (!key || !val || !saved) { sdb_free(key); sdb_free(val); sdb_free(saved); rc = SEALDB_NOMEM; break; }
        memcpy(key, v->key.ptr + 1, kl); key[kl] = 0;
        memcpy(val, v->value.ptr + 1, vl); val[vl] = 0;
        memcpy(saved, val, vl + 1);
        if (strlen(key) != kl || strlen(val) != vl) {
            rc = SEALDB_CORRUPT;
        } else if (!strncmp(key, K_USER, strlen(K_USER))) {
            sdb_user *u = NULL;
            if (!(rc = parse_user(s, key + strlen(K_USER), val, &u))) { u->saved = saved; saved = NULL; users[nu++] = u; }
        } else if (!strncmp(key, K_DB, strlen(K_DB))) {
            sdb_database *d = NULL;
            if (!(rc = parse_db(s, key + strlen(K_DB), val, &d))) {
                if (d->deleted) { sdb_free(d->settings_pb); sdb_free(d); }   /* gone; a new one may reuse the key */
                else { d->saved = saved; saved = NULL; dbs[nd++] = d; }
            }
        } else if (!strcmp(key, K_CFG_MULTIDB)) {
            s->multi_db = s->saved_multi_db = val[0] == '1';
        }
        if (rc) sdb_log("error: systemdb record %s is damaged", key);
        sdb_free(key); sdb_free(val); sdb_free(saved);
    }
    sdb_kv_list_deinit(&l);
    if (!rc) {
        if (nu) qsort(users, nu, sizeof *users, cmp_user);   /* users is NULL when nu == 0 */
        if (nd) qsort(dbs, nd, sizeof *dbs, cmp_db);
        sdb_user **up = &s->users;
        while (*up) up = &(*up)->next;
        for (size_t i = 0; i < nu; i++) { *up = users[i]; up = &users[i]->next; }
        sdb_database **dp = &s->dbs;
        while (*dp) dp = &(*dp)->next;
        for (size_t i = 0; i < nd; i++) { *dp = dbs[i]; dp = &dbs[i]->next; }
        *found = nu + nd > 0;
    } else {
        for (size_t i = 0; i < nu; i++) { sdb_free(users[i]->saved); sdb_free(users[i]->perms); sdb_free(users[i]); }
        for (size_t i = 0; i < nd; i++) { sdb_free(dbs[i]->saved); sdb_free(dbs[i]->settings_pb); sdb_free(dbs[i]); }
    }
    sdb_free(users);
    sdb_free(dbs);
    return rc;
}
