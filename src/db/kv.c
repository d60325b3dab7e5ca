/* kv.c - a KV database: open/close, the cache of packed raw txs, immudb error helpers and the small
 * helpers (arena, prefixed keys, answer-size limits) the KV layer files share (kv_int.h). */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "db/kv_int.h"
#include "sealdb_err.h"

/* Cache of packed raw Tx messages (direct-mapped by tx id). Bounded: TXC_SLOTS x TXC_MAX_TX bytes
 * per database at most; larger txs are rebuilt on every request. */
#define TXC_SLOTS 32
#define TXC_MAX_TX (256u * 1024u)

typedef struct txc_slot {
    pthread_mutex_t mu;
    uint64_t id;
    uint8_t *p;   /* sdb_malloc'ed packed Tx, NULL: empty */
    size_t n;
} txc_slot;

struct sdb_kv_txcache { txc_slot s[TXC_SLOTS]; };

static struct sdb_kv_txcache *txc_new(void) {
    struct sdb_kv_txcache *c = sdb_calloc(1, sizeof *c);
    if (c)
        for (int i = 0; i < TXC_SLOTS; i++) pthread_mutex_init(&c->s[i].mu, NULL);
    return c;
}

static void txc_free(struct sdb_kv_txcache *c) {
    if (!c) return;
    for (int i = 0; i < TXC_SLOTS; i++) {
        sdb_free(c->s[i].p);
        pthread_mutex_destroy(&c->s[i].mu);
    }
    sdb_free(c);
}

/* The packed raw Tx of tx id, copied into a fresh arena buffer at offset `head` with `tail` more
 * bytes free after it; *n is its length. From the cache when present, else built and cached. */
int sdb_kv_raw_tx_packed(sdb_kvdb *db, sdb_arena *a, uint64_t id, size_t head, size_t tail, uint8_t **buf,
                         size_t *n, sdb_kverr *err) {
    txc_slot *s = db->txc ? &db->txc->s[id % TXC_SLOTS] : NULL;
    if (s) {
        pthread_mutex_lock(&s->mu);
        if (s->p && s->id == id) {
            uint8_t *b = sdb_arena_alloc(a, head + s->n + tail);
            if (b) { memcpy(b + head, s->p, s->n); *n = s->n; }
            pthread_mutex_unlock(&s->mu);
            if (!b) return sdb_kv_oom(err);
            *buf = b;
            return 0;
        }
        pthread_mutex_unlock(&s->mu);
    }
    uint8_t *b = NULL;
    size_t len = 0;
    if (sdb_kv_raw_tx_encode(db, a, id, head, tail, &b, &len, err)) return -1;
    if (s && len <= TXC_MAX_TX) {
        uint8_t *copy = sdb_malloc(len ? len : 1);
        if (copy) {
            memcpy(copy, b + head, len);
            pthread_mutex_lock(&s->mu);
            uint8_t *old = s->p;
            s->p = copy;
            s->n = len;
            s->id = id;
            pthread_mutex_unlock(&s->mu);
            sdb_free(old);
        }
    }
    *buf = b;
    *n = len;
    return 0;
}

/* ---- errors and shared helpers ---- */

int sdb_kv_err(sdb_kverr *e, sdb_grpc_code code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    e->code = code;
    e->info = NULL;
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return -1;
}

int sdb_kv_oom(sdb_kverr *e) { return sdb_kv_err(e, SDB_GRPC_INTERNAL, "out of memory"); }

void *sdb_kv_zalloc(sdb_arena *a, size_t n) {
    void *p = sdb_arena_alloc(a, n ? n : 1);
    if (p) memset(p, 0, n ? n : 1);
    return p;
}

int sdb_kv_bin_dup(sdb_arena *a, ProtobufCBinaryData *d, const void *p, size_t n) {
    d->len = n;
    d->data = NULL;
    if (!n) return 0;
    d->data = sdb_arena_dup(a, p, n);
    return d->data ? 0 : -1;
}

sdb_slice sdb_kv_prefixed(sdb_arena *a, uint8_t prefix, const uint8_t *k, size_t n) {
    uint8_t *p = sdb_arena_alloc(a, n + 1);
    if (!p) return (sdb_slice){ NULL, 0 };
    p[0] = prefix;
    if (n) memcpy(p + 1, k, n);
    return (sdb_slice){ p, n + 1 };
}

int sdb_kv_result_limit(uint64_t limit, sdb_kverr *err) {
    return sdb_kv_err(err, SDB_GRPC_UNKNOWN, "result size limit exceeded: the specified limit (%llu) is larger "
                      "than the maximum allowed one (%u)", (unsigned long long)limit, SDB_KV_MAX_RESULT);
}

int sdb_kv_answer_too_large(const sdb_kvdb *db, sdb_kverr *err) {
    return sdb_kv_err(err, SDB_GRPC_RESOURCE_EXHAUSTED, "result size limit exceeded: the answer would be larger "
                      "than the maximum allowed size (%llu bytes)", (unsigned long long)db->max_answer_len);
}

/* Counts n more bytes of an answer being built; -1 (err filled) once it passes the maximum. The
 * first entry (first != 0) always passes: its size is already bounded by the write limits. */
int sdb_kv_answer_take(const sdb_kvdb *db, uint64_t *used, uint64_t n, int first, sdb_kverr *err) {
    *used += n;
    return *used > db->max_answer_len && !first ? sdb_kv_answer_too_large(db, err) : 0;
}

int sdb_kv_engine_err(int rc, sdb_kverr *err) {
    switch (rc) {
    case SEALDB_NOTFOUND: return sdb_kv_err(err, SDB_GRPC_UNKNOWN, MSG_NOT_FOUND);
    case SEALDB_RANGE: return sdb_kv_err(err, SDB_GRPC_UNKNOWN, "tx not found");
    case SEALDB_NOMEM: return sdb_kv_oom(err);
    case SEALDB_CLOSED:   /* the database closed (or the server stopped) before the answer: immudb's text */
        return sdb_kv_err(err, SDB_GRPC_UNKNOWN, "already closed");
    case SEALDB_UNSUPPORTED: return sdb_kv_err(err, SDB_GRPC_UNIMPLEMENTED, "%s", sealdb_strerror(rc));
    case SEALDB_TRUNCATED:   /* immudb reads a value from a deleted value-log file: io.EOF */
        return sdb_kv_err(err, SDB_GRPC_UNKNOWN, "EOF");
    case SEALDB_DAMAGED:   /* recorded by the integrity scrub (engine/scrub.c, docs/storage.md) */
        return sdb_kv_err(err, SDB_GRPC_DATA_LOSS, "data failed its integrity check at tx %llu: the stored "
                          "bytes are not served (see the server log and sealdb verify)",
                          (unsigned long long)sdb_engine_damaged_tx());
    default: return sdb_kv_err(err, SDB_GRPC_UNKNOWN, "%s", sealdb_strerror(rc));
    }
}

/* ---- open / close ---- */

int sdb_kvdb_open(const char *dir, const char *name, const sdb_db_settings *st, sdb_kvdb **out) {
    sdb_kvdb *db = sdb_calloc(1, sizeof *db);
    if (!db) return SEALDB_NOMEM;
    db->name = sdb_strdup(name);
    if (!db->name) { sdb_free(db); return SEALDB_NOMEM; }
    sdb_engine_opts o;
    sdb_engine_opts_default(&o);
    db->max_key_len = SDB_ENGINE_MAX_KEY_LEN;
    db->max_value_len = SDB_ENGINE_MAX_VALUE_LEN;
    db->max_tx_entries = SDB_ENGINE_MAX_ENTRIES;
    db->max_answer_len = SDB_KV_MAX_ANSWER_LEN;
    if (st) {
        if (st->max_key_len) db->max_key_len = st->max_key_len;
        if (st->max_value_len) db->max_value_len = st->max_value_len;
        if (st->max_tx_entries) db->max_tx_entries = st->max_tx_entries;
        o.exclude_commit_time = st->exclude_commit_time;
        o.sync = st->synced ? 1 : 0;   /* --synced=false: no fsync at commit */
        /* immudb's fileSize is an upper bound on a data file; segments are zero-filled up front,
         * so its 512 MiB default would cost 1 GiB of writes per new database: keep ours when smaller */
        if (st->file_size && st->file_size < o.segment_size) o.segment_size = st->file_size;
    }
    o.max_entries = db->max_tx_entries;
    o.max_key_len = db->max_key_len;
    /* immudb's limit is inclusive on the prefixed value; the engine's bound is exclusive */
    o.max_value_len = db->max_value_len + 1;
    int rc = sdb_engine_open(dir, &o, &db->eng);
    if (rc) { sdb_free(db->name); sdb_free(db); return rc; }
    db->txc = txc_new();   /* without it (out of memory) every answer is built afresh */
    *out = db;
    return SEALDB_OK;
}

void sdb_kvdb_close(sdb_kvdb *db) {
    if (!db) return;
    sdb_engine_close(db->eng);
    txc_free(db->txc);
    sdb_free(db->name);
    sdb_free(db);
}
