/* stats.c - per-call statistics both transports feed through the dispatcher (counts and latency
 * per method and code) and the cached database directory sizes that ServerInfo and /metrics read. */
#include <stdio.h>
#include "rpc/server.h"

/* Directory sizes are refreshed at most this often (ServerInfo and /metrics need no credentials) */
#define SIZE_REFRESH_MS 5000

const double sdb_lat_bucket_s[SDB_LAT_BUCKETS] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5 };

void sdb_stat_record(sdb_server *s, sdb_call *c, int code) {
    if (!s->stats || !c->method || code < 0 || code > 16) return;
    sdb_rpc_stat *st = &s->stats[c->method_idx];
    atomic_fetch_add(&st->handled[code], 1);
    uint64_t us = (sdb_now_ns() - c->start_ns) / 1000;
    int b = 0;
    while (b < SDB_LAT_BUCKETS && (double)us / 1e6 > sdb_lat_bucket_s[b]) b++;
    atomic_fetch_add(&st->lat_bucket[b], 1);
    atomic_fetch_add(&st->lat_sum_us, us);
}

/* ---- database sizes: walking every database directory costs milliseconds with many databases, so
 * callers read a cache that whichever caller finds stale refreshes, off the server mutex (the
 * names are copied under it, the walk runs without it); callers meanwhile use the last values ---- */
typedef struct size_entry { char name[129]; int system; uint64_t bytes; } size_entry;
static pthread_mutex_t size_mu = PTHREAD_MUTEX_INITIALIZER;       /* the cache */
static pthread_mutex_t refresh_mu = PTHREAD_MUTEX_INITIALIZER;    /* one refresher at a time */
static size_entry *size_cache;
static size_t n_size_cache;
static uint64_t size_at_ms;
static int size_valid;

void sdb_db_sizes_refresh(sdb_server *s) {
    if (pthread_mutex_trylock(&refresh_mu) != 0) return;
    pthread_mutex_lock(&size_mu);
    int fresh = size_valid && sdb_now_ms() - size_at_ms < SIZE_REFRESH_MS;
    pthread_mutex_unlock(&size_mu);
    if (fresh) goto done;
    pthread_mutex_lock(&s->mu);
    size_t n = 0;
    for (sdb_database *d = s->dbs; d; d = d->next) n++;
    size_entry *e = sdb_calloc(n + 1, sizeof *e);
    size_t k = 0;
    if (e) {
        sdb_database *list[2] = { s->systemdb, s->dbs };
        for (int j = 0; j < 2; j++)
            for (sdb_database *d = list[j]; d && k <= n; d = j ? d->next : NULL) {
                if (d->deleted) continue;
                snprintf(e[k].name, sizeof e[k].name, "%s", d->name);
                e[k].system = d->system;
                k++;
            }
    }
    pthread_mutex_unlock(&s->mu);
    if (!e) goto done;
    for (size_t i = 0; i < k; i++) {
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/%s", s->cfg.dir, e[i].name);
        e[i].bytes = sdb_dir_size(dir);
    }
    pthread_mutex_lock(&size_mu);
    size_entry *old = size_cache;
    size_cache = e;
    n_size_cache = k;
    size_at_ms = sdb_now_ms();
    size_valid = 1;
    pthread_mutex_unlock(&size_mu);
    sdb_free(old);
done:
    pthread_mutex_unlock(&refresh_mu);
}

/* Cached size of one database (0 when not measured yet). */
uint64_t sdb_db_size_of(const char *name) {
    uint64_t v = 0;
    pthread_mutex_lock(&size_mu);
    for (size_t i = 0; i < n_size_cache; i++)
        if (strcmp(size_cache[i].name, name) == 0) { v = size_cache[i].bytes; break; }
    pthread_mutex_unlock(&size_mu);
    return v;
}

uint64_t sdb_db_sizes_total(sdb_server *s) {
    sdb_db_sizes_refresh(s);
    uint64_t v = 0;
    pthread_mutex_lock(&size_mu);
    for (size_t i = 0; i < n_size_cache; i++)
        if (!size_cache[i].system) v += size_cache[i].bytes;
    pthread_mutex_unlock(&size_mu);
    return v;
}

