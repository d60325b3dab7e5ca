/* index.c - the LMDB key index (engine layer; see index.h for the layout and semantics).
 *
 * Invariants: in "vers" the duplicates of one index key are the key's versions with revisions
 * 1..n in order and strictly increasing tx ids; "meta/upto" always names the last tx whose
 * versions are all present, because a batch writes both in one LMDB write transaction. Nothing
 * here is fsynced (MDB_NOSYNC): after a crash LMDB rolls back to an older consistent state and
 * the engine replays the journal from upto+1. Every record and key read back is length-checked. */
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "index/index.h"
#include "crypto/crypto.h"

#define IKEY_LONG_LEN (SDB_INDEX_INLINE_KEY_MAX + SDB_HASH_LEN)   /* 511 = LMDB's default key limit */
#define FORMAT_TAG "sealdb-index-1"
#define SNAP_POOL_MAX 64
#define MAP_INITIAL ((uint64_t)256 << 10)

/* Writable map (MDB_WRITEMAP, read-write opens only): a batch writes its pages straight into the
 * shared mapping, instead of LMDB copying every dirty page into malloc'd buffers and writev'ing
 * them at commit. Measured on the 1M-entry batched load: about 30% less CPU for the indexer's
 * work and ~50 MB less anonymous memory. LMDB then sizes the file to the whole map with ftruncate
 * (a sparse file), and a store through the map into a hole that the filesystem cannot fill (full
 * disk) is a SIGBUS, not an error: so every byte of the map is allocated (posix_fallocate) before
 * LMDB maps it, and a growth the disk cannot hold fails with SEALDB_NOSPACE instead. The lock file,
 * also written through a map, is allocated before LMDB opens it. The map starts small
 * (MAP_INITIAL, or the existing file) and doubles on MDB_MAP_FULL up to opts.map_size: the batch
 * is retried after the resize, which waits until no snapshot is active (mdb_env_set_mapsize needs
 * that). A thread that already holds a snapshot is not made to wait for a pending resize (no
 * deadlock on nested snapshots). */
static _Thread_local int tl_snaps;   /* snapshots held by this thread (a hint, see snap_begin) */

_Static_assert(IKEY_LONG_LEN <= 511, "index keys must fit LMDB's default key size");
_Static_assert(SDB_INDEX_REC_LEN == 8 + 8 + 4 + 1 + 8 + 8 + 4, "record layout");

struct sdb_index {
    MDB_env *env;
    MDB_dbi vers, longk, meta;
    pthread_mutex_t mu;               /* guards pool, batch_open, active and resizing */
    pthread_cond_t rs_cv;             /* resizing ended / last active snapshot ended */
    size_t active;                    /* snapshots begun and not ended */
    int resizing;                     /* a map resize waits for active == 0; new snapshots wait */
    uint64_t map_cur, map_max;        /* current LMDB map size and the most it may grow to */
    sdb_index_snap *pool;             /* ended snapshots with reset read txns, for reuse */
    size_t npool;
    int batch_open;
    int was_reset;                    /* open emptied an index left unclean by a crash */
    int read_only;
};

struct sdb_index_snap {
    sdb_index *ix;
    MDB_txn *txn;
    MDB_cursor *cur;                  /* on vers */
    sdb_index_snap *next;             /* pool link */
    uint8_t ikbuf[IKEY_LONG_LEN];     /* scratch for a long key's index key */
};

typedef struct bent {                 /* one buffered put */
    size_t koff;
    uint32_t klen;
    uint32_t seq;
    sdb_index_ver v;
} bent;

struct sdb_index_batch {
    sdb_index *ix;
    sdb_buf keys;                     /* concatenated keys */
    bent *e;
    size_t n, cap;
};

/* ---- helpers ---- */

static int map_rc(int rc) {
    switch (rc) {
    case MDB_SUCCESS: return SEALDB_OK;
    case MDB_NOTFOUND: return SEALDB_NOTFOUND;
    case MDB_MAP_FULL: return SEALDB_NOSPACE;
    case MDB_READERS_FULL: case MDB_TXN_FULL: case MDB_CURSOR_FULL: return SEALDB_BUSY;
    case MDB_VERSION_MISMATCH: case MDB_INCOMPATIBLE: return SEALDB_UNSUPPORTED;
    case MDB_CORRUPTED: case MDB_PAGE_NOTFOUND: case MDB_INVALID: case MDB_PANIC:
    case MDB_BAD_TXN: case MDB_BAD_VALSIZE: case MDB_BAD_DBI:
        return SEALDB_CORRUPT;
    case ENOMEM: return SEALDB_NOMEM;
    default: return rc > 0 ? sdb_err_from_errno(rc) : SEALDB_IO;
    }
}

static void rec_encode(const sdb_index_ver *v, uint8_t *p) {
    sdb_put_u64be(p, v->revision);
    sdb_put_u64be(p + 8, v->tx_id);
    sdb_put_u32be(p + 16, v->entry_idx);
    p[20] = (uint8_t)v->flags;
    sdb_put_u64be(p + 21, (uint64_t)v->expires_at);
    sdb_put_u64be(p + 29, v->val_off);
    sdb_put_u32be(p + 37, v->val_len);
}

static int rec_decode(const MDB_val *d, sdb_index_ver *v) {
    if (d->mv_size != SDB_INDEX_REC_LEN || !d->mv_data) return SEALDB_CORRUPT;
    const uint8_t *p = d->mv_data;
    v->revision = sdb_get_u64be(p);
    v->tx_id = sdb_get_u64be(p + 8);
    v->entry_idx = sdb_get_u32be(p + 16);
    v->flags = p[20];
    v->expires_at = (int64_t)sdb_get_u64be(p + 21);
    v->val_off = sdb_get_u64be(p + 29);
    v->val_len = sdb_get_u32be(p + 37);
    if (v->revision == 0 || v->tx_id == 0 || (v->flags & ~(SDB_INDEX_DELETED | SDB_INDEX_HAS_EXPIRY)))
        return SEALDB_CORRUPT;
    return SEALDB_OK;
}

/* The LMDB key of a user key: the key itself when short, else prefix + SHA-256(key) in buf. */
static MDB_val ikey_of(sdb_slice key, uint8_t buf[IKEY_LONG_LEN]) {
    if (key.len <= SDB_INDEX_INLINE_KEY_MAX) return (MDB_val){ key.len, (void *)key.ptr };
    memcpy(buf, key.ptr, SDB_INDEX_INLINE_KEY_MAX);
    sdb_sha256(key.ptr, key.len, buf + SDB_INDEX_INLINE_KEY_MAX);
    return (MDB_val){ IKEY_LONG_LEN, buf };
}

static int ikey_is_long(const MDB_val *k) { return k->mv_size == IKEY_LONG_LEN; }

/* Full user key for an index key read from LMDB (borrowed from the snapshot). */
static int full_key(MDB_txn *txn, MDB_dbi longk, const MDB_val *k, sdb_slice *out) {
    if (!k->mv_data || k->mv_size == 0) return SEALDB_CORRUPT;
    if (k->mv_size <= SDB_INDEX_INLINE_KEY_MAX) { *out = sdb_slice_of(k->mv_data, k->mv_size); return SEALDB_OK; }
    if (!ikey_is_long(k)) return SEALDB_CORRUPT;
    MDB_val kk = *k, d;
    int rc = mdb_get(txn, longk, &kk, &d);
    if (rc) return rc == MDB_NOTFOUND ? SEALDB_CORRUPT : map_rc(rc);
    if (d.mv_size <= SDB_INDEX_INLINE_KEY_MAX || d.mv_size > SDB_INDEX_MAX_KEY_LEN || !d.mv_data ||
        memcmp(d.mv_data, k->mv_data, SDB_INDEX_INLINE_KEY_MAX))
        return SEALDB_CORRUPT;
    *out = sdb_slice_of(d.mv_data, d.mv_size);
    return SEALDB_OK;
}

static int starts_with(sdb_slice k, sdb_slice p) {
    return k.len >= p.len && (p.len == 0 || memcmp(k.ptr, p.ptr, p.len) == 0);
}

/* 1 when a and b are both long enough to share an index-key group (same first 479 bytes), where
 * index order may differ from key order: such keys never end a scan early. */
static int same_group(sdb_slice a, sdb_slice b) {
    return a.len > SDB_INDEX_INLINE_KEY_MAX && b.len >= SDB_INDEX_INLINE_KEY_MAX &&
           memcmp(a.ptr, b.ptr, SDB_INDEX_INLINE_KEY_MAX) == 0;
}

static sdb_slice trunc_key(sdb_slice k) {
    if (k.len > SDB_INDEX_INLINE_KEY_MAX) k.len = SDB_INDEX_INLINE_KEY_MAX;
    return k;
}

/* ---- environment ---- */

void sdb_index_opts_default(sdb_index_opts *o) {
    o->map_size = (uint64_t)256 << 30;
    o->map_initial = 0;
    o->max_readers = 510;
    o->create = 1;
    o->read_only = 0;
}

/* Allocates the first len bytes of fd's file (see the writable-map note above). A filesystem
 * without fallocate gets glibc's emulation, which writes the blocks. */
static int alloc_fd(int fd, uint64_t len) {
    int r = posix_fallocate(fd, 0, (off_t)len);
    return r ? sdb_err_from_errno(r) : SEALDB_OK;
}
static int alloc_path(const char *path, uint64_t len) {
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);   /* LMDB takes an empty lock file as new */
    if (fd < 0) return sdb_err_from_errno(errno);
    int rc = alloc_fd(fd, len);
    close(fd);
    return rc;
}

/* Doubles the map (see MAP_INITIAL) once no snapshot is active. No write txn may be open. */
static int grow_map(sdb_index *ix) {
    pthread_mutex_lock(&ix->mu);
    ix->resizing = 1;
    while (ix->active > 0) pthread_cond_wait(&ix->rs_cv, &ix->mu);
    uint64_t want = ix->map_cur * 2 > ix->map_max ? ix->map_max : ix->map_cur * 2;
    int fd = -1, rc = SEALDB_NOSPACE;
    if (want > ix->map_cur && (rc = map_rc(mdb_env_get_fd(ix->env, &fd))) == SEALDB_OK) rc = alloc_fd(fd, want);
    if (!rc) rc = map_rc(mdb_env_set_mapsize(ix->env, (size_t)want));
    if (!rc) ix->map_cur = want;
    ix->resizing = 0;
    pthread_cond_broadcast(&ix->rs_cv);
    pthread_mutex_unlock(&ix->mu);
    return rc;
}

/* Grows the map when less than a quarter of what is used (at least 128 KiB) is left above the
 * last used page, for the small write txns that run without a retry (open, clear, close); called
 * when no snapshot or write txn is active. */
static void ensure_room(sdb_index *ix) {
    MDB_envinfo in;
    MDB_stat st;
    if (ix->read_only || mdb_env_info(ix->env, &in) || mdb_env_stat(ix->env, &st)) return;
    uint64_t used = ((uint64_t)in.me_last_pgno + 1) * st.ms_psize;
    uint64_t room = used / 4 > ((uint64_t)128 << 10) ? used / 4 : (uint64_t)128 << 10;
    if (ix->map_cur < used + room && ix->map_cur < ix->map_max) grow_map(ix);
}

static int read_upto(MDB_txn *txn, MDB_dbi meta, uint64_t *out) {
    MDB_val k = { 4, "upto" }, d;
    int rc = mdb_get(txn, meta, &k, &d);
    if (rc == MDB_NOTFOUND) { *out = 0; return SEALDB_OK; }
    if (rc) return map_rc(rc);
    if (d.mv_size != 8 || !d.mv_data) return SEALDB_CORRUPT;
    *out = sdb_get_u64be(d.mv_data);
    return SEALDB_OK;
}

static int write_upto(MDB_txn *txn, MDB_dbi meta, uint64_t v) {
    uint8_t b[8];
    sdb_put_u64be(b, v);
    MDB_val k = { 4, "upto" }, d = { 8, b };
    return map_rc(mdb_put(txn, meta, &k, &d, 0));
}

/* Crash guard. Batches are never fsynced, so after an OS crash or power loss the file may mix old
 * and new pages (a process crash is harmless: the page cache survives it). Power loss implies a
 * reboot, so open records the kernel boot id with clean=0 (synced), and a clean close syncs and
 * sets clean=1. An index found unclean under another boot id is emptied: the caller rebuilds it
 * from the journal because indexed_upto reads 0. */
static void boot_id(char out[40]) {
    memset(out, 0, 40);
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    if (!f) return;
    if (!fgets(out, 40, f)) out[0] = 0;
    fclose(f);
    out[strcspn(out, "\n")] = 0;
}

static int check_crash(sdb_index *ix, MDB_txn *txn) {
    char cur[40];
    boot_id(cur);
    MDB_val bk = { 4, "boot" }, ck = { 5, "clean" }, bd, cd;
    int rb = mdb_get(txn, ix->meta, &bk, &bd), rcl = mdb_get(txn, ix->meta, &ck, &cd);
    if (rb && rb != MDB_NOTFOUND) return map_rc(rb);
    if (rcl && rcl != MDB_NOTFOUND) return map_rc(rcl);
    int same_boot = !rb && bd.mv_size == strlen(cur) && memcmp(bd.mv_data, cur, bd.mv_size) == 0;
    int clean = !rcl && cd.mv_size == 1 && ((const uint8_t *)cd.mv_data)[0] == 1;
    if (same_boot || clean) return SEALDB_OK;
    if (ix->read_only) return SEALDB_CORRUPT;   /* may be torn; cannot empty it here */
    int rc;
    if ((rc = map_rc(mdb_drop(txn, ix->vers, 0))) || (rc = map_rc(mdb_drop(txn, ix->longk, 0))))
        return rc;
    ix->was_reset = 1;
    return write_upto(txn, ix->meta, 0);
}

static int mark_open(sdb_index *ix, MDB_txn *txn) {
    char cur[40];
    boot_id(cur);
    MDB_val bk = { 4, "boot" }, bd = { strlen(cur), cur }, ck = { 5, "clean" }, cd = { 1, "\0" };
    int rc = map_rc(mdb_put(txn, ix->meta, &bk, &bd, 0));
    return rc ? rc : map_rc(mdb_put(txn, ix->meta, &ck, &cd, 0));
}

int sdb_index_sync(sdb_index *ix) { return map_rc(mdb_env_sync(ix->env, 1)); }

int sdb_index_was_reset(const sdb_index *ix) { return ix->was_reset; }

int sdb_index_open(const char *dir, const sdb_index_opts *o, sdb_index **out) {
    sdb_index_opts def;
    if (!o) { sdb_index_opts_default(&def); o = &def; }
    if (!dir || !out) return SEALDB_INVALID;
    struct stat st;
    if (stat(dir, &st) != 0) {
        if (errno != ENOENT) return sdb_err_from_errno(errno);
        if (!o->create || o->read_only) return SEALDB_NOTFOUND;
        if (mkdir(dir, 0755) != 0 && errno != EEXIST) return sdb_err_from_errno(errno);
    } else if (!S_ISDIR(st.st_mode)) {
        return SEALDB_INVALID;
    }
    int rc = SEALDB_NOMEM;
    MDB_txn *txn = NULL;
    sdb_index *ix = sdb_calloc(1, sizeof *ix);
    if (!ix) return SEALDB_NOMEM;
    pthread_mutex_init(&ix->mu, NULL);
    pthread_cond_init(&ix->rs_cv, NULL);
    ix->map_max = o->map_size;
    ix->map_cur = o->map_size;
    if (!o->read_only) {
        char dp[4200];
        struct stat ds;
        snprintf(dp, sizeof dp, "%s/data.mdb", dir);
        ix->map_cur = o->map_initial ? o->map_initial : MAP_INITIAL;
        if (stat(dp, &ds) == 0 && (uint64_t)ds.st_size > ix->map_cur) ix->map_cur = (uint64_t)ds.st_size;
        if (ix->map_cur > ix->map_max) ix->map_cur = ix->map_max;
        /* both files are written through shared maps: allocate them first (see the note above);
         * the lock file holds a 64-byte slot per reader after a header of a few cache lines */
        unsigned nr = o->max_readers ? o->max_readers : 510;
        /* (a new data.mdb is allocated once LMDB has written its meta pages: it reads a
         * zero-filled file as invalid) */
        if (stat(dp, &ds) == 0 && ds.st_size > 0 && (rc = alloc_path(dp, ix->map_cur))) goto fail;
        snprintf(dp, sizeof dp, "%s/lock.mdb", dir);
        if ((rc = alloc_path(dp, ((uint64_t)nr + 64) * 64))) goto fail;
    }
    if ((rc = map_rc(mdb_env_create(&ix->env)))) { ix->env = NULL; goto fail; }
    if ((rc = map_rc(mdb_env_set_mapsize(ix->env, (size_t)ix->map_cur)))) goto fail;
    if ((rc = map_rc(mdb_env_set_maxreaders(ix->env, o->max_readers ? o->max_readers : 510)))) goto fail;
    if ((rc = map_rc(mdb_env_set_maxdbs(ix->env, 4)))) goto fail;
    ix->read_only = o->read_only;
    unsigned ro = o->read_only ? MDB_RDONLY : 0, cr = o->read_only ? 0 : MDB_CREATE;
    if ((rc = map_rc(mdb_env_open(ix->env, dir, MDB_NOSYNC | MDB_NOMETASYNC | MDB_NOTLS | (ro ? 0u : MDB_WRITEMAP) | ro, 0644)))) goto fail;
    if (!ro) {
        int fd = -1;
        if ((rc = map_rc(mdb_env_get_fd(ix->env, &fd))) || (rc = alloc_fd(fd, ix->map_cur))) goto fail;
    }
    ensure_room(ix);
    if ((rc = map_rc(mdb_txn_begin(ix->env, NULL, ro, &txn)))) goto fail;
    if ((rc = map_rc(mdb_dbi_open(txn, "meta", cr, &ix->meta)))) goto fail;
    if ((rc = map_rc(mdb_dbi_open(txn, "vers", cr | MDB_DUPSORT | MDB_DUPFIXED, &ix->vers)))) goto fail;
    if ((rc = map_rc(mdb_dbi_open(txn, "long", cr, &ix->longk)))) goto fail;
    MDB_val fk = { 6, "format" }, fd;
    int g = mdb_get(txn, ix->meta, &fk, &fd);
    if (g == MDB_NOTFOUND && o->read_only) {
        rc = SEALDB_NOTFOUND;
        goto fail;
    } else if (g == MDB_NOTFOUND) {
        fd = (MDB_val){ sizeof FORMAT_TAG - 1, FORMAT_TAG };
        if ((rc = map_rc(mdb_put(txn, ix->meta, &fk, &fd, 0)))) goto fail;
        if ((rc = write_upto(txn, ix->meta, 0))) goto fail;
    } else if (g) {
        rc = map_rc(g);
        goto fail;
    } else if (fd.mv_size != sizeof FORMAT_TAG - 1 || memcmp(fd.mv_data, FORMAT_TAG, fd.mv_size)) {
        rc = SEALDB_UNSUPPORTED;
        goto fail;
    } else if ((rc = check_crash(ix, txn))) {
        goto fail;
    }
    if (o->read_only) {
        rc = map_rc(mdb_txn_commit(txn));   /* keeps the dbi handles */
        txn = NULL;
        if (rc) goto fail;
        *out = ix;
        return SEALDB_OK;
    }
    if ((rc = mark_open(ix, txn))) goto fail;
    rc = map_rc(mdb_txn_commit(txn));
    txn = NULL;
    if (rc) goto fail;
    /* make "not clean" durable before any unsynced batch can reach the disk */
    if ((rc = map_rc(mdb_env_sync(ix->env, 1)))) goto fail;
    *out = ix;
    return SEALDB_OK;
fail:
    if (txn) mdb_txn_abort(txn);
    if (ix->env) mdb_env_close(ix->env);
    pthread_cond_destroy(&ix->rs_cv);
    pthread_mutex_destroy(&ix->mu);
    sdb_free(ix);
    return rc;
}

static void snap_destroy(sdb_index_snap *s) {
    if (s->cur) mdb_cursor_close(s->cur);
    if (s->txn) mdb_txn_abort(s->txn);
    sdb_free(s);
}

void sdb_index_close(sdb_index *ix) {
    if (!ix) return;
    while (ix->pool) {
        sdb_index_snap *s = ix->pool;
        ix->pool = s->next;
        snap_destroy(s);
    }
    /* sync, then mark clean (and sync that), so a later power loss cannot hide torn pages */
    MDB_txn *txn;
    ensure_room(ix);
    if (!ix->read_only && mdb_env_sync(ix->env, 1) == 0 && mdb_txn_begin(ix->env, NULL, 0, &txn) == 0) {
        MDB_val ck = { 5, "clean" }, cd = { 1, "\1" };
        if (mdb_put(txn, ix->meta, &ck, &cd, 0) == 0 && mdb_txn_commit(txn) == 0) mdb_env_sync(ix->env, 1);
        else mdb_txn_abort(txn);
    }
    mdb_env_close(ix->env);
    pthread_cond_destroy(&ix->rs_cv);
    pthread_mutex_destroy(&ix->mu);
    sdb_free(ix);
}

int sdb_index_destroy(const char *dir) {
    static const char *files[] = { "data.mdb", "lock.mdb" };
    char p[4096];
    for (size_t i = 0; i < 2; i++) {
        int n = snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        if (n < 0 || (size_t)n >= sizeof p) return SEALDB_INVALID;
        if (unlink(p) != 0 && errno != ENOENT) return sdb_err_from_errno(errno);
    }
    if (rmdir(dir) != 0 && errno != ENOENT && errno != ENOTEMPTY && errno != EEXIST)
        return sdb_err_from_errno(errno);
    return SEALDB_OK;
}

int sdb_index_clear(sdb_index *ix) {
    MDB_txn *txn;
    if (ix->read_only) return SEALDB_PERMISSION;
    ensure_room(ix);
    int rc = map_rc(mdb_txn_begin(ix->env, NULL, 0, &txn));
    if (rc) return rc;
    if (!(rc = map_rc(mdb_drop(txn, ix->vers, 0))) && !(rc = map_rc(mdb_drop(txn, ix->longk, 0))) &&
        !(rc = write_upto(txn, ix->meta, 0)))
        return map_rc(mdb_txn_commit(txn));
    mdb_txn_abort(txn);
    return rc;
}

int sdb_index_indexed_upto(sdb_index *ix, uint64_t *out) {
    sdb_index_snap *s;
    int rc = sdb_index_snap_begin(ix, &s);
    if (rc) return rc;
    rc = read_upto(s->txn, ix->meta, out);
    sdb_index_snap_end(s);
    return rc;
}

/* ---- batches ---- */

int sdb_index_batch_begin(sdb_index *ix, sdb_index_batch **out) {
    if (ix->read_only) return SEALDB_PERMISSION;
    pthread_mutex_lock(&ix->mu);
    int busy = ix->batch_open;
    ix->batch_open = 1;
    pthread_mutex_unlock(&ix->mu);
    if (busy) return SEALDB_BUSY;
    sdb_index_batch *b = sdb_calloc(1, sizeof *b);
    if (!b) {
        pthread_mutex_lock(&ix->mu);
        ix->batch_open = 0;
        pthread_mutex_unlock(&ix->mu);
        return SEALDB_NOMEM;
    }
    b->ix = ix;
    sdb_buf_init(&b->keys);
    *out = b;
    return SEALDB_OK;
}

int sdb_index_batch_put(sdb_index_batch *b, sdb_slice key, const sdb_index_ver *v) {
    if (key.len == 0 || key.len > SDB_INDEX_MAX_KEY_LEN || v->tx_id == 0 ||
        (v->flags & ~(SDB_INDEX_DELETED | SDB_INDEX_HAS_EXPIRY)) || b->n >= UINT32_MAX)
        return SEALDB_INVALID;
    if (b->n == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 1024;
        bent *ne = sdb_realloc(b->e, nc * sizeof *ne);
        if (!ne) return SEALDB_NOMEM;
        b->e = ne;
        b->cap = nc;
    }
    size_t koff = b->keys.len;
    int rc = sdb_buf_append(&b->keys, key.ptr, key.len);
    if (rc) return rc;
    bent *e = &b->e[b->n];
    e->koff = koff;
    e->klen = (uint32_t)key.len;
    e->seq = (uint32_t)b->n;
    e->v = *v;
    b->n++;
    return SEALDB_OK;
}

size_t sdb_index_batch_count(const sdb_index_batch *b) { return b ? b->n : 0; }

static void batch_free(sdb_index_batch *b) {
    pthread_mutex_lock(&b->ix->mu);
    b->ix->batch_open = 0;
    pthread_mutex_unlock(&b->ix->mu);
    sdb_buf_deinit(&b->keys);
    sdb_free(b->e);
    sdb_free(b);
}

void sdb_index_batch_abort(sdb_index_batch *b) {
    if (b) batch_free(b);
}

/* Sort order of buffered puts: key bytes, then put order (so one key's versions stay in order). */
static int bent_cmp(const void *pa, const void *pb, void *arg) {
    const bent *a = pa, *b = pb;
    const uint8_t *base = arg;
    size_t n = a->klen < b->klen ? a->klen : b->klen;
    int c = memcmp(base + a->koff, base + b->koff, n);
    if (c) return c;
    if (a->klen != b->klen) return a->klen < b->klen ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static int batch_apply(sdb_index_batch *b, uint64_t indexed_upto);

int sdb_index_batch_commit(sdb_index_batch *b, uint64_t indexed_upto) {
    int rc;
    /* sorted once: a retry after growing the map applies the same order */
    if (b->n) qsort_r(b->e, b->n, sizeof *b->e, bent_cmp, b->keys.ptr);
    while ((rc = batch_apply(b, indexed_upto)) == SEALDB_NOSPACE && b->ix->map_cur < b->ix->map_max)
        if ((rc = grow_map(b->ix))) break;
    batch_free(b);
    return rc;
}

/* One write txn applying the sorted batch; nothing of it is visible on failure. */
static int batch_apply(sdb_index_batch *b, uint64_t indexed_upto) {
    sdb_index *ix = b->ix;
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    uint8_t ikbuf[IKEY_LONG_LEN], rec[SDB_INDEX_REC_LEN];
    uint64_t upto;
    int rc;
    if ((rc = map_rc(mdb_txn_begin(ix->env, NULL, 0, &txn)))) goto done;
    if ((rc = read_upto(txn, ix->meta, &upto))) goto done;
    if (indexed_upto < upto) { rc = SEALDB_INVALID; goto done; }
    if ((rc = map_rc(mdb_cursor_open(txn, ix->vers, &cur)))) goto done;
    for (size_t i = 0; i < b->n;) {
        sdb_slice key = sdb_slice_of(b->keys.ptr + b->e[i].koff, b->e[i].klen);
        const MDB_val ik = ikey_of(key, ikbuf);   /* never pass LMDB-owned memory back to a put */
        MDB_val k = ik, d;
        uint64_t rev = 0, last_tx = 0;
        size_t j = i;
        /* Fast path for a key new to the index (catch-up of fresh keys): try to insert its first
         * version as revision 1 with NOOVERWRITE, one tree search instead of two. */
        const bent *e0 = &b->e[i];
        if (e0->v.tx_id == 0) { rc = SEALDB_INVALID; goto done; }
        sdb_index_ver v0 = e0->v;
        v0.revision = 1;
        rec_encode(&v0, rec);
        d = (MDB_val){ SDB_INDEX_REC_LEN, rec };
        int g = mdb_cursor_put(cur, &k, &d, MDB_NOOVERWRITE);
        if (g == MDB_SUCCESS) {
            rev = 1;
            last_tx = v0.tx_id;
            j = i + 1;
            if (ikey_is_long(&ik)) {
                MDB_val lk = ik, lv = { key.len, (void *)key.ptr };
                if ((rc = map_rc(mdb_put(txn, ix->longk, &lk, &lv, 0)))) goto done;
            }
        } else if (g == MDB_KEYEXIST) {
            sdb_index_ver last;
            k = ik;
            if ((rc = map_rc(mdb_cursor_get(cur, &k, &d, MDB_SET_KEY)))) goto done;
            if ((rc = map_rc(mdb_cursor_get(cur, &k, &d, MDB_LAST_DUP)))) goto done;
            if ((rc = rec_decode(&d, &last))) goto done;
            rev = last.revision;
            last_tx = last.tx_id;
        } else {
            rc = map_rc(g);
            goto done;
        }
        i = j;
        /* every (other) version of this key in the batch */
        for (; i < b->n; i++) {
            const bent *e = &b->e[i];
            if (e->klen != key.len || memcmp(b->keys.ptr + e->koff, key.ptr, key.len)) break;
            if (e->v.tx_id <= last_tx) { rc = SEALDB_INVALID; goto done; }   /* replay or disorder */
            sdb_index_ver v = e->v;
            v.revision = ++rev;
            last_tx = v.tx_id;
            rec_encode(&v, rec);
            MDB_val kk = ik, dd = { SDB_INDEX_REC_LEN, rec };
            if ((rc = map_rc(mdb_cursor_put(cur, &kk, &dd, 0)))) goto done;
        }
    }
    mdb_cursor_close(cur);
    cur = NULL;
    if ((rc = write_upto(txn, ix->meta, indexed_upto))) goto done;
    rc = map_rc(mdb_txn_commit(txn));
    txn = NULL;
done:
    if (cur) mdb_cursor_close(cur);
    if (txn) mdb_txn_abort(txn);
    return rc;
}

/* ---- snapshots ---- */

static void snap_left(sdb_index *ix) {   /* one active snapshot fewer */
    pthread_mutex_lock(&ix->mu);
    ix->active--;
    if (ix->active == 0 && ix->resizing) pthread_cond_broadcast(&ix->rs_cv);
    pthread_mutex_unlock(&ix->mu);
    tl_snaps--;
}

int sdb_index_snap_begin(sdb_index *ix, sdb_index_snap **out) {
    pthread_mutex_lock(&ix->mu);
    while (ix->resizing && tl_snaps <= 0) pthread_cond_wait(&ix->rs_cv, &ix->mu);
    ix->active++;
    sdb_index_snap *s = ix->pool;
    if (s) { ix->pool = s->next; ix->npool--; }
    pthread_mutex_unlock(&ix->mu);
    tl_snaps++;
    int rc;
    if (s) {
        if ((rc = map_rc(mdb_txn_renew(s->txn))) || (rc = map_rc(mdb_cursor_renew(s->txn, s->cur)))) {
            snap_destroy(s);
            snap_left(ix);
            return rc;
        }
    } else {
        s = sdb_calloc(1, sizeof *s);
        if (!s) { snap_left(ix); return SEALDB_NOMEM; }
        s->ix = ix;
        if ((rc = map_rc(mdb_txn_begin(ix->env, NULL, MDB_RDONLY, &s->txn)))) { s->txn = NULL; goto fail; }
        if ((rc = map_rc(mdb_cursor_open(s->txn, ix->vers, &s->cur)))) { s->cur = NULL; goto fail; }
    }
    s->next = NULL;
    *out = s;
    return SEALDB_OK;
fail:
    snap_destroy(s);
    snap_left(ix);
    return rc;
}

void sdb_index_snap_end(sdb_index_snap *s) {
    if (!s) return;
    sdb_index *ix = s->ix;
    int pooled = 0;
    mdb_txn_reset(s->txn);
    pthread_mutex_lock(&ix->mu);
    if (ix->npool < SNAP_POOL_MAX) {
        s->next = ix->pool;
        ix->pool = s;
        ix->npool++;
        pooled = 1;
    }
    ix->active--;
    if (ix->active == 0 && ix->resizing) pthread_cond_broadcast(&ix->rs_cv);
    pthread_mutex_unlock(&ix->mu);
    tl_snaps--;
    if (!pooled) snap_destroy(s);
}

uint64_t sdb_index_snap_upto(const sdb_index_snap *s) {
    uint64_t v = 0;
    if (read_upto(s->txn, s->ix->meta, &v)) return 0;
    return v;
}

/* Positions s->cur on key's last version; fills latest. SEALDB_NOTFOUND when absent. */
static int seek_last(sdb_index_snap *s, sdb_slice key, MDB_val *k, sdb_index_ver *latest) {
    if (key.len == 0 || key.len > SDB_INDEX_MAX_KEY_LEN) return SEALDB_NOTFOUND;
    *k = ikey_of(key, s->ikbuf);
    MDB_val d;
    int rc = mdb_cursor_get(s->cur, k, &d, MDB_SET_KEY);
    if (rc) return map_rc(rc);
    if ((rc = map_rc(mdb_cursor_get(s->cur, k, &d, MDB_LAST_DUP)))) return rc == SEALDB_NOTFOUND ? SEALDB_CORRUPT : rc;
    return rec_decode(&d, latest);
}

/* Positions s->cur on revision rev (1..count) of the key k (already known to exist). */
static int seek_rev(sdb_index_snap *s, const MDB_val *k, uint64_t rev, sdb_index_ver *out) {
    uint8_t probe[SDB_INDEX_REC_LEN] = { 0 };
    sdb_put_u64be(probe, rev);
    MDB_val kk = *k, d = { SDB_INDEX_REC_LEN, probe };
    int rc = mdb_cursor_get(s->cur, &kk, &d, MDB_GET_BOTH_RANGE);
    if (rc) return rc == MDB_NOTFOUND ? SEALDB_CORRUPT : map_rc(rc);   /* revisions must be dense */
    if ((rc = rec_decode(&d, out))) return rc;
    return out->revision == rev ? SEALDB_OK : SEALDB_CORRUPT;
}

/* Latest version of the positioned key k with tx_id <= max_tx, given its last version. */
static int latest_at(sdb_index_snap *s, const MDB_val *k, const sdb_index_ver *last, uint64_t max_tx,
                     sdb_index_ver *out) {
    if (!max_tx || last->tx_id <= max_tx) { *out = *last; return SEALDB_OK; }
    /* binary search: revisions and tx ids increase together */
    uint64_t lo = 1, hi = last->revision - 1, found = 0;
    sdb_index_ver v, best = { 0 };
    while (lo <= hi && hi > 0) {
        uint64_t mid = lo + (hi - lo) / 2;
        int rc = seek_rev(s, k, mid, &v);
        if (rc) return rc;
        if (v.tx_id <= max_tx) { best = v; found = 1; lo = mid + 1; }
        else hi = mid - 1;
    }
    if (!found) return SEALDB_NOTFOUND;
    *out = best;
    return SEALDB_OK;
}

int sdb_index_get_latest(sdb_index_snap *s, sdb_slice key, uint64_t max_tx, sdb_index_ver *out,
                         uint64_t *count) {
    MDB_val k;
    sdb_index_ver last, v;
    int rc = seek_last(s, key, &k, &last);
    if (rc) return rc;
    if ((rc = latest_at(s, &k, &last, max_tx, &v))) return rc;
    *out = v;
    if (count) *count = last.revision;
    return SEALDB_OK;
}

int sdb_index_get_revision(sdb_index_snap *s, sdb_slice key, int64_t rev, sdb_index_ver *out) {
    MDB_val k;
    sdb_index_ver last;
    int rc = seek_last(s, key, &k, &last);
    if (rc) return rc;
    uint64_t n = last.revision, want;
    if (rev > 0) {
        if ((uint64_t)rev > n) return SEALDB_RANGE;
        want = (uint64_t)rev;
    } else {
        uint64_t back = rev == INT64_MIN ? (uint64_t)INT64_MAX + 1 : (uint64_t)(-rev);
        if (back >= n) return SEALDB_RANGE;
        want = n - back;
    }
    if (want == n) { *out = last; return SEALDB_OK; }
    return seek_rev(s, &k, want, out);
}

int sdb_index_version_count(sdb_index_snap *s, sdb_slice key, uint64_t *out) {
    MDB_val k;
    sdb_index_ver last;
    int rc = seek_last(s, key, &k, &last);
    if (rc == SEALDB_NOTFOUND) { *out = 0; return SEALDB_OK; }
    if (rc) return rc;
    *out = last.revision;
    return SEALDB_OK;
}

int sdb_index_history(sdb_index_snap *s, sdb_slice key, uint64_t offset, uint64_t limit, int desc,
                      sdb_index_ver_fn fn, void *arg, uint64_t *count) {
    MDB_val k, d;
    sdb_index_ver last, v;
    int rc = seek_last(s, key, &k, &last);
    if (rc) return rc;
    uint64_t n = last.revision;
    if (count) *count = n;
    if (offset >= n) return SEALDB_OK;
    uint64_t todo = n - offset;
    if (limit && limit < todo) todo = limit;
    uint64_t rev = desc ? n - offset : offset + 1;
    if ((rc = seek_rev(s, &k, rev, &v))) return rc;
    for (uint64_t i = 0;;) {
        if (v.revision != rev) return SEALDB_CORRUPT;
        if ((rc = fn(arg, &v))) return rc;
        if (++i == todo) break;
        rc = mdb_cursor_get(s->cur, &k, &d, desc ? MDB_PREV_DUP : MDB_NEXT_DUP);
        if (rc) return rc == MDB_NOTFOUND ? SEALDB_CORRUPT : map_rc(rc);
        if ((rc = rec_decode(&d, &v))) return rc;
        rev = desc ? rev - 1 : rev + 1;
    }
    return SEALDB_OK;
}

/* ---- scans ---- */

/* Smallest byte string greater than every string starting with p (p truncated to the index-key
 * inline part), in buf; 0 when none exists (p is empty or all 0xff). */
static size_t prefix_succ(sdb_slice p, uint8_t buf[SDB_INDEX_INLINE_KEY_MAX]) {
    p = trunc_key(p);
    size_t n = p.len;
    while (n > 0 && p.ptr[n - 1] == 0xff) n--;
    if (n == 0) return 0;
    memcpy(buf, p.ptr, n);
    buf[n - 1]++;
    return n;
}

/* Places the cursor for a descending walk: every key after the position is above `upper` (given as
 * the inclusive truncated bound, or no bound when upper is NULL). rc NOTFOUND = empty range. */
static int pos_desc(sdb_index_snap *s, const uint8_t *succ, size_t succ_len, MDB_val *k, MDB_val *d) {
    int rc;
    if (succ_len) {
        *k = (MDB_val){ succ_len, (void *)succ };
        rc = mdb_cursor_get(s->cur, k, d, MDB_SET_RANGE);
        if (rc == MDB_SUCCESS) return SEALDB_OK;   /* the walk starts here; the filter drops it */
        if (rc != MDB_NOTFOUND) return map_rc(rc);
    }
    return map_rc(mdb_cursor_get(s->cur, k, d, MDB_LAST));
}

int sdb_index_scan(sdb_index_snap *s, const sdb_index_scan_opts *o, sdb_index_scan_fn fn, void *arg) {
    sdb_index *ix = s->ix;
    sdb_slice prefix = o->prefix, seek = o->seek, end = o->end;
    MDB_val k, d;
    uint8_t succ[SDB_INDEX_INLINE_KEY_MAX];
    int rc, incl_lo, incl_hi;
    uint64_t skipped = 0, emitted = 0;
    if (!o->desc) {
        /* lower bound: max(seek, prefix) */
        sdb_slice lo = prefix;
        incl_lo = 1;
        if (seek.len && sdb_slice_cmp(seek, prefix) >= 0) { lo = seek; incl_lo = o->inclusive_seek; }
        sdb_slice lt = trunc_key(lo);
        if (lt.len) {
            k = (MDB_val){ lt.len, (void *)lt.ptr };
            rc = mdb_cursor_get(s->cur, &k, &d, MDB_SET_RANGE);
        } else {
            rc = mdb_cursor_get(s->cur, &k, &d, MDB_FIRST);
        }
        for (;; rc = mdb_cursor_get(s->cur, &k, &d, MDB_NEXT_NODUP)) {
            if (rc == MDB_NOTFOUND) return SEALDB_OK;
            if (rc) return map_rc(rc);
            sdb_slice key;
            if ((rc = full_key(s->txn, ix->longk, &k, &key))) return rc;
            if (!starts_with(key, prefix)) {
                if (sdb_slice_cmp(key, prefix) > 0 && !same_group(key, prefix)) return SEALDB_OK;
                continue;
            }
            int c = sdb_slice_cmp(key, lo);
            if (c < 0 || (c == 0 && !incl_lo)) continue;
            if (end.len) {
                c = sdb_slice_cmp(key, end);
                if (c > 0 || (c == 0 && !o->inclusive_end)) {
                    if (same_group(key, end)) continue;
                    return SEALDB_OK;
                }
            }
            sdb_index_ver last, v;
            if ((rc = map_rc(mdb_cursor_get(s->cur, &k, &d, MDB_LAST_DUP)))) return rc;
            if ((rc = rec_decode(&d, &last))) return rc;
            /* latest_at may move the cursor inside this key's duplicates; NEXT_NODUP still
             * moves on to the following key. */
            rc = latest_at(s, &k, &last, o->max_tx, &v);
            if (rc == SEALDB_NOTFOUND) continue;
            if (rc) return rc;
            if (!o->include_dead && sdb_index_ver_dead(&v, o->now)) continue;
            if (skipped < o->offset) { skipped++; continue; }
            if ((rc = fn(arg, key, &v, last.revision))) return rc;
            if (o->limit && ++emitted >= o->limit) return SEALDB_OK;
        }
    }
    /* descending */
    sdb_slice hi = { NULL, 0 };
    incl_hi = 1;
    size_t succ_len;
    if (seek.len) {
        int c = sdb_slice_cmp(seek, prefix);
        if (prefix.len && c < 0 && !starts_with(seek, prefix)) return SEALDB_OK;   /* below the prefix */
        if (prefix.len && !starts_with(seek, prefix)) {
            succ_len = prefix_succ(prefix, succ);   /* seek is above every prefixed key */
        } else {
            hi = seek;
            incl_hi = o->inclusive_seek;
            succ_len = prefix_succ(seek, succ);
            if (seek.len <= SDB_INDEX_INLINE_KEY_MAX) {
                /* position at seek itself (or the first key after it) */
                memcpy(succ, seek.ptr, seek.len);
                succ_len = seek.len;
            }
        }
    } else {
        succ_len = prefix_succ(prefix, succ);
    }
    rc = pos_desc(s, succ, succ_len, &k, &d);
    for (;; rc = map_rc(mdb_cursor_get(s->cur, &k, &d, MDB_PREV_NODUP))) {
        if (rc == SEALDB_NOTFOUND) return SEALDB_OK;
        if (rc) return rc;
        sdb_slice key;
        if ((rc = full_key(s->txn, ix->longk, &k, &key))) return rc;
        if (hi.ptr) {
            int c = sdb_slice_cmp(key, hi);
            if (c > 0 || (c == 0 && !incl_hi)) continue;
        }
        if (!starts_with(key, prefix)) {
            if (sdb_slice_cmp(key, prefix) < 0 && !same_group(key, prefix)) return SEALDB_OK;
            continue;
        }
        if (end.len) {
            int c = sdb_slice_cmp(key, end);
            if (c < 0 || (c == 0 && !o->inclusive_end)) {
                if (same_group(key, end)) continue;
                return SEALDB_OK;
            }
        }
        sdb_index_ver last, v;
        if ((rc = map_rc(mdb_cursor_get(s->cur, &k, &d, MDB_LAST_DUP)))) return rc;
        if ((rc = rec_decode(&d, &last))) return rc;
        rc = latest_at(s, &k, &last, o->max_tx, &v);
        if (rc == SEALDB_NOTFOUND) continue;
        if (rc) return rc;
        if (!o->include_dead && sdb_index_ver_dead(&v, o->now)) continue;
        if (skipped < o->offset) { skipped++; continue; }
        if ((rc = fn(arg, key, &v, last.revision))) return rc;
        if (o->limit && ++emitted >= o->limit) return SEALDB_OK;
    }
}

int sdb_index_count(sdb_index_snap *s, sdb_slice prefix, uint64_t *out) {
    MDB_val k, d;
    sdb_slice pt = trunc_key(prefix);
    uint64_t n = 0;
    int rc;
    if (pt.len) {
        k = (MDB_val){ pt.len, (void *)pt.ptr };
        rc = mdb_cursor_get(s->cur, &k, &d, MDB_SET_RANGE);
    } else {
        rc = mdb_cursor_get(s->cur, &k, &d, MDB_FIRST);
    }
    for (;; rc = mdb_cursor_get(s->cur, &k, &d, MDB_NEXT_NODUP)) {
        if (rc == MDB_NOTFOUND) break;
        if (rc) return map_rc(rc);
        if (k.mv_size < pt.len || !k.mv_data || memcmp(k.mv_data, pt.ptr, pt.len)) break;
        if (prefix.len > SDB_INDEX_INLINE_KEY_MAX) {
            sdb_slice key;
            if ((rc = full_key(s->txn, s->ix->longk, &k, &key))) return rc;
            if (!starts_with(key, prefix)) continue;
        }
        n++;
    }
    *out = n;
    return SEALDB_OK;
}

int sdb_index_pre_check(sdb_index_snap *s, int kind, sdb_slice key, uint64_t tx_id, int64_t now,
                        int *holds) {
    sdb_index_ver v;
    int rc = sdb_index_get_latest(s, key, 0, &v, NULL);
    if (rc && rc != SEALDB_NOTFOUND) return rc;
    int live = rc == SEALDB_OK && !sdb_index_ver_dead(&v, now);
    switch (kind) {
    case SDB_INDEX_PRE_MUST_EXIST: *holds = live; break;
    case SDB_INDEX_PRE_MUST_NOT_EXIST: *holds = !live; break;
    case SDB_INDEX_PRE_NOT_MODIFIED_AFTER: *holds = rc == SEALDB_NOTFOUND || v.tx_id <= tx_id; break;
    default: return SEALDB_INVALID;
    }
    return SEALDB_OK;
}
