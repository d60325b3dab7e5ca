/* test_index.c - unit tests of src/index: versions, revisions, history, scans (checked against a
 * brute-force model of docs/api.md 2.9), count, preconditions, long keys, persistence, rebuild and
 * corrupted run files; the LSM structure: runs, merges, reopen, abort, concurrent readers. */
#include <stdio.h>
#include <pthread.h>
#include "testlib.h"
#include "index/index.h"

static char *ixdir(void) {
    static char p[4096];
    snprintf(p, sizeof p, "%s/index", sdb_test_tmpdir());
    return p;
}

static sdb_index *open_ix(void) {
    sdb_index *ix = NULL;
    CHECK_OK(sdb_index_open(ixdir(), NULL, &ix));
    return ix;
}

static sdb_index_ver ver(uint64_t tx, uint32_t idx, uint32_t flags, int64_t exp) {
    sdb_index_ver v = { 0 };
    v.tx_id = tx;
    v.entry_idx = idx;
    v.flags = flags;
    v.expires_at = exp;
    v.val_off = tx * 1000 + idx;
    v.val_len = idx + 7;
    return v;
}

static void put1(sdb_index *ix, const char *key, sdb_index_ver v, uint64_t upto) {
    sdb_index_batch *b;
    CHECK_OK(sdb_index_batch_begin(ix, &b));
    CHECK_OK(sdb_index_batch_put(b, sdb_slice_str(key), &v));
    CHECK_OK(sdb_index_batch_commit(b, upto));
}

TEST(index_put_get_latest_and_persist) {
    sdb_index *ix = open_ix();
    uint64_t upto = 99;
    CHECK_OK(sdb_index_indexed_upto(ix, &upto));
    CHECK_EQ_U64(upto, 0);
    sdb_index_batch *b;
    CHECK_OK(sdb_index_batch_begin(ix, &b));
    sdb_index_batch *b2;
    CHECK_RC(sdb_index_batch_begin(ix, &b2), SEALDB_BUSY);
    /* keys added out of order across txs: versions of one key must stay in tx order */
    for (uint64_t tx = 1; tx <= 10; tx++) {
        sdb_index_ver v = ver(tx, 0, 0, 0);
        CHECK_OK(sdb_index_batch_put(b, sdb_slice_str("k"), &v));
        v = ver(tx, 1, 0, 0);
        if (tx % 2 == 0) CHECK_OK(sdb_index_batch_put(b, sdb_slice_str("a"), &v));
    }
    CHECK_EQ_U64(sdb_index_batch_count(b), 15);
    CHECK_OK(sdb_index_batch_commit(b, 10));
    sdb_index_snap *s;
    CHECK_OK(sdb_index_snap_begin(ix, &s));
    CHECK_EQ_U64(sdb_index_snap_upto(s), 10);
    sdb_index_ver v;
    uint64_t n;
    CHECK_OK(sdb_index_get_latest(s, sdb_slice_str("k"), 0, &v, &n));
    CHECK_EQ_U64(v.tx_id, 10);
    CHECK_EQ_U64(v.revision, 10);
    CHECK_EQ_U64(v.val_off, 10000);
    CHECK_EQ_U64(v.val_len, 7);
    CHECK_EQ_U64(n, 10);
    CHECK_OK(sdb_index_get_latest(s, sdb_slice_str("a"), 0, &v, &n));
    CHECK_EQ_U64(v.tx_id, 10);
    CHECK_EQ_U64(v.entry_idx, 1);
    CHECK_EQ_U64(v.revision, 5);
    CHECK_EQ_U64(n, 5);
    /* at tx: latest with tx_id <= max_tx */
    CHECK_OK(sdb_index_get_latest(s, sdb_slice_str("a"), 7, &v, &n));
    CHECK_EQ_U64(v.tx_id, 6);
    CHECK_EQ_U64(v.revision, 3);
    CHECK_EQ_U64(n, 5);
    CHECK_RC(sdb_index_get_latest(s, sdb_slice_str("a"), 1, &v, &n), SEALDB_NOTFOUND);
    CHECK_OK(sdb_index_get_latest(s, sdb_slice_str("a"), 2, &v, NULL));
    CHECK_EQ_U64(v.revision, 1);
    CHECK_RC(sdb_index_get_latest(s, sdb_slice_str("zz"), 0, &v, &n), SEALDB_NOTFOUND);
    CHECK_RC(sdb_index_get_latest(s, sdb_slice_str(""), 0, &v, &n), SEALDB_NOTFOUND);
    CHECK_OK(sdb_index_version_count(s, sdb_slice_str("zz"), &n));
    CHECK_EQ_U64(n, 0);
    sdb_index_snap_end(s);

    /* a snapshot keeps its view while a later batch commits */
    CHECK_OK(sdb_index_snap_begin(ix, &s));
    put1(ix, "k", ver(11, 0, SDB_INDEX_DELETED, 0), 11);
    CHECK_OK(sdb_index_get_latest(s, sdb_slice_str("k"), 0, &v, &n));
    CHECK_EQ_U64(n, 10);
    CHECK_EQ_U64(sdb_index_snap_upto(s), 10);
    sdb_index_snap_end(s);
    CHECK_OK(sdb_index_snap_begin(ix, &s));
    CHECK_OK(sdb_index_get_latest(s, sdb_slice_str("k"), 0, &v, &n));
    CHECK_EQ_U64(n, 11);
    CHECK(v.flags & SDB_INDEX_DELETED);
    CHECK(sdb_index_ver_dead(&v, 0));
    sdb_index_snap_end(s);

    /* replaying an already indexed tx (refused by the put) or moving upto back is refused; the
     * aborted batch leaves nothing visible */
    CHECK_OK(sdb_index_batch_begin(ix, &b));
    sdb_index_ver nv = ver(12, 0, 0, 0);
    CHECK_OK(sdb_index_batch_put(b, sdb_slice_str("new"), &nv));
    nv = ver(11, 0, 0, 0);
    CHECK_RC(sdb_index_batch_put(b, sdb_slice_str("k"), &nv), SEALDB_INVALID);
    sdb_index_batch_abort(b);
    CHECK_OK(sdb_index_batch_begin(ix, &b));
    nv = ver(12, 0, 0, 0);
    CHECK_OK(sdb_index_batch_put(b, sdb_slice_str("new"), &nv));
    CHECK_RC(sdb_index_batch_commit(b, 5), SEALDB_INVALID);
    CHECK_OK(sdb_index_batch_begin(ix, &b));
    CHECK_RC(sdb_index_batch_commit(b, 5), SEALDB_INVALID);
    CHECK_OK(sdb_index_batch_begin(ix, &b));
    CHECK_RC(sdb_index_batch_put(b, sdb_slice_str(""), &nv), SEALDB_INVALID);
    sdb_index_batch_abort(b);
    sdb_index_close(ix);

    ix = open_ix();
    CHECK_OK(sdb_index_indexed_upto(ix, &upto));
    CHECK_EQ_U64(upto, 11);
    CHECK_OK(sdb_index_snap_begin(ix, &s));
    CHECK_RC(sdb_index_get_latest(s, sdb_slice_str("new"), 0, &v, &n), SEALDB_NOTFOUND);
    CHECK_OK(sdb_index_version_count(s, sdb_slice_str("k"), &n));
    CHECK_EQ_U64(n, 11);
    sdb_index_snap_end(s);
    sdb_index_close(ix);
}

TEST(index_revisions) {
    sdb_index *ix = open_ix();
    /* 300 versions over several batches: revisions continue across batches */
    for (uint64_t base = 0; base < 300; base += 100) {
        sdb_index_batch *b;
        CHECK_OK(sdb_index_batch_begin(ix, &b));
        for (uint64_t i = 1; i <= 100; i++) {
            sdb_index_ver v = ver(2 * (base + i), 0, 0, 0);   /* even tx ids only */
            CHECK_OK(sdb_index_batch_put(b, sdb_slice_str("key"), &v));
        }
        CHECK_OK(sdb_index_batch_commit(b, 2 * (base + 100)));
    }
    sdb_index_snap *s;
    sdb_index_ver v;
    CHECK_OK(sdb_index_snap_begin(ix, &s));
    sdb_slice k = sdb_slice_str("key");
    CHECK_OK(sdb_index_get_revision(s, k, 1, &v));
    CHECK_EQ_U64(v.revision, 1);
    CHECK_EQ_U64(v.tx_id, 2);
    CHECK_OK(sdb_index_get_revision(s, k, 300, &v));
    CHECK_EQ_U64(v.tx_id, 600);
    CHECK_OK(sdb_index_get_revision(s, k, 0, &v));
    CHECK_EQ_U64(v.revision, 300);
    CHECK_OK(sdb_index_get_revision(s, k, -1, &v));
    CHECK_EQ_U64(v.revision, 299);
    CHECK_EQ_U64(v.tx_id, 598);
    CHECK_OK(sdb_index_get_revision(s, k, -299, &v));
    CHECK_EQ_U64(v.revision, 1);
    CHECK_RC(sdb_index_get_revision(s, k, -300, &v), SEALDB_RANGE);
    CHECK_RC(sdb_index_get_revision(s, k, 301, &v), SEALDB_RANGE);
    CHECK_RC(sdb_index_get_revision(s, k, INT64_MIN, &v), SEALDB_RANGE);
    CHECK_RC(sdb_index_get_revision(s, sdb_slice_str("nokey"), 1, &v), SEALDB_NOTFOUND);
    for (int64_t r = 1; r <= 300; r += 7) {
        CHECK_OK(sdb_index_get_revision(s, k, r, &v));
        CHECK_EQ_U64(v.revision, (uint64_t)r);
        CHECK_EQ_U64(v.tx_id, 2 * (uint64_t)r);
    }
    /* at tx (binary search), including odd tx ids between versions */
    for (uint64_t t = 1; t <= 601; t++) {
        int rc = sdb_index_get_latest(s, k, t, &v, NULL);
        if (t < 2) { CHECK_RC(rc, SEALDB_NOTFOUND); continue; }
        CHECK_OK(rc);
        uint64_t want = t > 600 ? 600 : t & ~1ull;
        CHECK_EQ_U64(v.tx_id, want);
        CHECK_EQ_U64(v.revision, want / 2);
    }
    sdb_index_snap_end(s);
    sdb_index_close(ix);
}

typedef struct hist { uint64_t rev[64], tx[64]; size_t n; int stop_at; } hist;
static int hist_fn(void *arg, const sdb_index_ver *v) {
    hist *h = arg;
    if (h->n >= 64) return SEALDB_TOOLARGE;
    h->rev[h->n] = v->revision;
    h->tx[h->n++] = v->tx_id;
    return h->stop_at && (int)h->n == h->stop_at ? 1000 : 0;
}

TEST(index_history) {
    sdb_index *ix = open_ix();
    sdb_index_batch *b;
    CHECK_OK(sdb_index_batch_begin(ix, &b));
    for (uint64_t tx = 1; tx <= 10; tx++) {
        sdb_index_ver v = ver(tx * 3, 0, tx == 5 ? SDB_INDEX_DELETED : 0, 0);
        CHECK_OK(sdb_index_batch_put(b, sdb_slice_str("h"), &v));
    }
    CHECK_OK(sdb_index_batch_commit(b, 30));
    sdb_index_snap *s;
    CHECK_OK(sdb_index_snap_begin(ix, &s));
    sdb_slice k = sdb_slice_str("h");
    hist h = { 0 };
    uint64_t n = 0;
    CHECK_OK(sdb_index_history(s, k, 0, 0, 0, hist_fn, &h, &n));
    CHECK_EQ_U64(n, 10);
    CHECK_EQ_U64(h.n, 10);
    for (size_t i = 0; i < 10; i++) { CHECK_EQ_U64(h.rev[i], i + 1); CHECK_EQ_U64(h.tx[i], 3 * (i + 1)); }
    memset(&h, 0, sizeof h);
    CHECK_OK(sdb_index_history(s, k, 2, 3, 0, hist_fn, &h, NULL));
    CHECK_EQ_U64(h.n, 3);
    CHECK_EQ_U64(h.rev[0], 3);
    CHECK_EQ_U64(h.rev[2], 5);
    memset(&h, 0, sizeof h);
    CHECK_OK(sdb_index_history(s, k, 2, 3, 1, hist_fn, &h, NULL));
    CHECK_EQ_U64(h.n, 3);
    CHECK_EQ_U64(h.rev[0], 8);
    CHECK_EQ_U64(h.rev[1], 7);
    CHECK_EQ_U64(h.rev[2], 6);
    memset(&h, 0, sizeof h);
    CHECK_OK(sdb_index_history(s, k, 8, 100, 1, hist_fn, &h, NULL));
    CHECK_EQ_U64(h.n, 2);
    CHECK_EQ_U64(h.rev[0], 2);
    CHECK_EQ_U64(h.rev[1], 1);
    memset(&h, 0, sizeof h);
    CHECK_OK(sdb_index_history(s, k, 10, 0, 0, hist_fn, &h, &n));   /* offset == count */
    CHECK_EQ_U64(h.n, 0);
    CHECK_EQ_U64(n, 10);
    CHECK_OK(sdb_index_history(s, k, 11, 0, 1, hist_fn, &h, NULL));
    CHECK_EQ_U64(h.n, 0);
    memset(&h, 0, sizeof h);
    h.stop_at = 2;
    CHECK_RC(sdb_index_history(s, k, 0, 0, 0, hist_fn, &h, NULL), 1000);
    CHECK_EQ_U64(h.n, 2);
    CHECK_RC(sdb_index_history(s, sdb_slice_str("none"), 0, 0, 0, hist_fn, &h, NULL), SEALDB_NOTFOUND);
    sdb_index_snap_end(s);
    sdb_index_close(ix);
}

/* ---- scans against a brute-force model ---- */

#define MK 40
typedef struct mkey { char k[4]; size_t len; uint64_t tx[8]; uint32_t flags[8]; int64_t exp[8]; int nv; } mkey;
static mkey model[MK];
static size_t nmodel;
static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }
static const char alpha[] = { 'a', 'b', 0x00, (char)0xff };

static sdb_slice mkslice(const mkey *m) { return sdb_slice_of(m->k, m->len); }
static int mkcmp(const void *a, const void *b) { return sdb_slice_cmp(mkslice(a), mkslice(b)); }

static void rand_key(char *k, size_t *len) {
    *len = 1 + rnd() % 3;
    for (size_t i = 0; i < *len; i++) k[i] = alpha[rnd() % 4];
}

typedef struct got { sdb_slice keys[MK]; uint64_t tx[MK]; uint64_t rev[MK]; size_t n; } got;
static int got_fn(void *arg, sdb_slice key, const sdb_index_ver *v, uint64_t count) {
    got *g = arg;
    if (g->n >= MK) return SEALDB_TOOLARGE;
    g->keys[g->n] = key;
    g->tx[g->n] = v->tx_id;
    g->rev[g->n++] = v->revision;
    return count >= v->revision ? 0 : SEALDB_CORRUPT;
}

/* Latest visible version index of m at max_tx, -1 when none. */
static int model_latest(const mkey *m, uint64_t max_tx) {
    for (int i = m->nv - 1; i >= 0; i--) if (!max_tx || m->tx[i] <= max_tx) return i;
    return -1;
}

static void model_scan(const sdb_index_scan_opts *o, got *g) {
    memset(g, 0, sizeof *g);
    uint64_t skipped = 0;
    for (size_t j = 0; j < nmodel; j++) {
        const mkey *m = &model[o->desc ? nmodel - 1 - j : j];
        sdb_slice k = mkslice(m);
        if (k.len < o->prefix.len || (o->prefix.len && memcmp(k.ptr, o->prefix.ptr, o->prefix.len))) continue;
        if (o->seek.len) {
            int c = sdb_slice_cmp(k, o->seek);
            if (!o->desc && sdb_slice_cmp(o->seek, o->prefix) >= 0 && (c < 0 || (c == 0 && !o->inclusive_seek))) continue;
            if (o->desc && (c > 0 || (c == 0 && !o->inclusive_seek))) continue;
        }
        if (o->end.len) {
            int c = sdb_slice_cmp(k, o->end);
            if (!o->desc && (c > 0 || (c == 0 && !o->inclusive_end))) continue;
            if (o->desc && (c < 0 || (c == 0 && !o->inclusive_end))) continue;
        }
        int i = model_latest(m, o->max_tx);
        if (i < 0) continue;
        int dead = (m->flags[i] & SDB_INDEX_DELETED) || ((m->flags[i] & SDB_INDEX_HAS_EXPIRY) && m->exp[i] <= o->now);
        if (dead && !o->include_dead) continue;
        if (skipped < o->offset) { skipped++; continue; }
        if (o->limit && g->n >= o->limit) break;
        g->keys[g->n] = k;
        g->tx[g->n] = m->tx[i];
        g->rev[g->n++] = (uint64_t)i + 1;
    }
}

static sdb_slice rand_bound(char *buf) {
    size_t len;
    if (rnd() % 3 == 0) return sdb_slice_of(buf, 0);
    rand_key(buf, &len);
    return sdb_slice_of(buf, len);
}

TEST(index_scan_matches_model) {
    sdb_index *ix = open_ix();
    /* distinct random keys; each gets 1..8 versions spread over txs 1..40, some deleted/expiring */
    nmodel = 0;
    while (nmodel < 30) {
        mkey m = { 0 };
        rand_key(m.k, &m.len);
        int dup = 0;
        for (size_t i = 0; i < nmodel; i++) if (mkcmp(&m, &model[i]) == 0) dup = 1;
        if (!dup) model[nmodel++] = m;
    }
    for (uint64_t tx = 1; tx <= 40; tx++) {
        sdb_index_batch *b;
        CHECK_OK(sdb_index_batch_begin(ix, &b));
        for (size_t i = 0; i < nmodel; i++) {
            mkey *m = &model[i];
            if (m->nv == 8 || rnd() % 6) continue;
            uint32_t fl = 0;
            int64_t exp = 0;
            if (rnd() % 4 == 0) fl |= SDB_INDEX_DELETED;
            if (rnd() % 4 == 0) { fl |= SDB_INDEX_HAS_EXPIRY; exp = (int64_t)(rnd() % 100); }
            m->tx[m->nv] = tx;
            m->flags[m->nv] = fl;
            m->exp[m->nv++] = exp;
            sdb_index_ver v = ver(tx, (uint32_t)i, fl, exp);
            CHECK_OK(sdb_index_batch_put(b, mkslice(m), &v));
        }
        CHECK_OK(sdb_index_batch_commit(b, tx));
        if (tx % 7 == 0) CHECK_OK(sdb_index_sync(ix));   /* versions spread over runs (merged) and memtable */
    }
    /* drop never-written keys from the model, sort it */
    size_t w = 0;
    for (size_t i = 0; i < nmodel; i++) if (model[i].nv) model[w++] = model[i];
    nmodel = w;
    qsort(model, nmodel, sizeof model[0], mkcmp);

    sdb_index_snap *s;
    CHECK_OK(sdb_index_snap_begin(ix, &s));
    uint64_t cnt;
    CHECK_OK(sdb_index_count(s, sdb_slice_of("", 0), &cnt));
    CHECK_EQ_U64(cnt, nmodel);
    uint64_t total = 0;
    for (int iter = 0; iter < 3000; iter++) {
        char pb[4], sb[4], eb[4];
        sdb_index_scan_opts o = { 0 };
        o.prefix = rnd() % 2 ? rand_bound(pb) : sdb_slice_of(pb, 0);
        if (o.prefix.len > 2) o.prefix.len = 2;
        o.seek = rand_bound(sb);
        o.end = rand_bound(eb);
        o.inclusive_seek = rnd() % 2;
        o.inclusive_end = rnd() % 2;
        o.desc = rnd() % 2;
        o.offset = rnd() % 4 == 0 ? rnd() % 5 : 0;
        o.limit = rnd() % 3 == 0 ? 1 + rnd() % 6 : 0;
        o.max_tx = rnd() % 3 == 0 ? 1 + rnd() % 40 : 0;
        o.now = (int64_t)(rnd() % 100);
        o.include_dead = rnd() % 5 == 0;
        got want, have = { 0 };
        model_scan(&o, &want);
        CHECK_OK(sdb_index_scan(s, &o, got_fn, &have));
        if (want.n != have.n) fprintf(stderr, "iter %d: desc %d prefix %zu seek %zu end %zu\n", iter, o.desc, o.prefix.len, o.seek.len, o.end.len);
        CHECK_EQ_U64(have.n, want.n);
        total += have.n;
        for (size_t i = 0; i < want.n; i++) {
            CHECK_EQ_MEM(have.keys[i].ptr, have.keys[i].len, want.keys[i].ptr, want.keys[i].len);
            CHECK_EQ_U64(have.tx[i], want.tx[i]);
            CHECK_EQ_U64(have.rev[i], want.rev[i]);
        }
        if (iter % 10 == 0) {
            size_t pm = 0;
            for (size_t i = 0; i < nmodel; i++) {
                sdb_slice k = mkslice(&model[i]);
                if (k.len >= o.prefix.len && (!o.prefix.len || !memcmp(k.ptr, o.prefix.ptr, o.prefix.len))) pm++;
            }
            CHECK_OK(sdb_index_count(s, o.prefix, &cnt));
            CHECK_EQ_U64(cnt, pm);
        }
    }
    CHECK(total > 5000);   /* the random scans are not trivially empty */
    /* a callback's nonzero return stops the scan and is passed through */
    sdb_index_scan_opts o = { 0 };
    o.include_dead = 1;
    got g = { 0 };
    CHECK_OK(sdb_index_scan(s, &o, got_fn, &g));
    CHECK_EQ_U64(g.n, nmodel);
    sdb_index_snap_end(s);
    sdb_index_close(ix);
}

TEST(index_scan_examples) {
    sdb_index *ix = open_ix();
    const char *keys[] = { "a", "ab", "abc", "abd", "b", "ba", "c" };
    sdb_index_batch *b;
    CHECK_OK(sdb_index_batch_begin(ix, &b));
    for (size_t i = 0; i < 7; i++) {
        sdb_index_ver v = ver(1, (uint32_t)i, 0, 0);
        CHECK_OK(sdb_index_batch_put(b, sdb_slice_str(keys[i]), &v));
    }
    CHECK_OK(sdb_index_batch_commit(b, 1));
    put1(ix, "abc", ver(2, 0, SDB_INDEX_DELETED, 0), 2);           /* deleted */
    put1(ix, "ba", ver(3, 0, SDB_INDEX_HAS_EXPIRY, 1000), 3);      /* expires at 1000 */
    sdb_index_snap *s;
    CHECK_OK(sdb_index_snap_begin(ix, &s));
    sdb_index_scan_opts o = { 0 };
    got g = { 0 };
    o.now = 999;
    CHECK_OK(sdb_index_scan(s, &o, got_fn, &g));
    CHECK_EQ_U64(g.n, 6);   /* abc skipped, ba not yet expired */
    o.now = 1000;
    memset(&g, 0, sizeof g);
    CHECK_OK(sdb_index_scan(s, &o, got_fn, &g));
    CHECK_EQ_U64(g.n, 5);
    CHECK_EQ_MEM(g.keys[3].ptr, g.keys[3].len, "b", 1);
    /* prefix "ab", descending from the greatest */
    o.prefix = sdb_slice_str("ab");
    o.desc = 1;
    memset(&g, 0, sizeof g);
    CHECK_OK(sdb_index_scan(s, &o, got_fn, &g));
    CHECK_EQ_U64(g.n, 2);
    CHECK_EQ_MEM(g.keys[0].ptr, g.keys[0].len, "abd", 3);
    CHECK_EQ_MEM(g.keys[1].ptr, g.keys[1].len, "ab", 2);
    /* at max_tx 1 the deleted key is still live */
    o.max_tx = 1;
    memset(&g, 0, sizeof g);
    CHECK_OK(sdb_index_scan(s, &o, got_fn, &g));
    CHECK_EQ_U64(g.n, 3);
    /* ascending seek "ab" exclusive, end "b" inclusive */
    memset(&o, 0, sizeof o);
    o.seek = sdb_slice_str("ab");
    o.end = sdb_slice_str("b");
    o.inclusive_end = 1;
    memset(&g, 0, sizeof g);
    CHECK_OK(sdb_index_scan(s, &o, got_fn, &g));
    CHECK_EQ_U64(g.n, 2);
    CHECK_EQ_MEM(g.keys[0].ptr, g.keys[0].len, "abd", 3);
    CHECK_EQ_MEM(g.keys[1].ptr, g.keys[1].len, "b", 1);
    uint64_t n;
    CHECK_OK(sdb_index_count(s, sdb_slice_str("ab"), &n));
    CHECK_EQ_U64(n, 3);   /* deleted keys still count */
    CHECK_OK(sdb_index_count(s, sdb_slice_str("x"), &n));
    CHECK_EQ_U64(n, 0);
    sdb_index_snap_end(s);
    sdb_index_close(ix);
}

TEST(index_preconditions) {
    sdb_index *ix = open_ix();
    put1(ix, "live", ver(1, 0, 0, 0), 1);
    put1(ix, "del", ver(2, 0, 0, 0), 2);
    put1(ix, "del", ver(3, 0, SDB_INDEX_DELETED, 0), 3);
    put1(ix, "exp", ver(4, 0, SDB_INDEX_HAS_EXPIRY, 50), 4);
    sdb_index_snap *s;
    CHECK_OK(sdb_index_snap_begin(ix, &s));
    int h = -1;
    struct { const char *k; int kind; uint64_t tx; int64_t now; int want; } cases[] = {
        { "live", SDB_INDEX_PRE_MUST_EXIST, 0, 0, 1 },
        { "live", SDB_INDEX_PRE_MUST_NOT_EXIST, 0, 0, 0 },
        { "none", SDB_INDEX_PRE_MUST_EXIST, 0, 0, 0 },
        { "none", SDB_INDEX_PRE_MUST_NOT_EXIST, 0, 0, 1 },
        { "del", SDB_INDEX_PRE_MUST_EXIST, 0, 0, 0 },
        { "del", SDB_INDEX_PRE_MUST_NOT_EXIST, 0, 0, 1 },
        { "exp", SDB_INDEX_PRE_MUST_EXIST, 0, 49, 1 },
        { "exp", SDB_INDEX_PRE_MUST_EXIST, 0, 50, 0 },
        { "exp", SDB_INDEX_PRE_MUST_NOT_EXIST, 0, 50, 1 },
        { "del", SDB_INDEX_PRE_NOT_MODIFIED_AFTER, 2, 0, 0 },
        { "del", SDB_INDEX_PRE_NOT_MODIFIED_AFTER, 3, 0, 1 },
        { "none", SDB_INDEX_PRE_NOT_MODIFIED_AFTER, 1, 0, 1 },
        { "live", SDB_INDEX_PRE_NOT_MODIFIED_AFTER, 1, 0, 1 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK_OK(sdb_index_pre_check(s, cases[i].kind, sdb_slice_str(cases[i].k), cases[i].tx, cases[i].now, &h));
        if (h != cases[i].want) fprintf(stderr, "case %zu\n", i);
        CHECK_EQ_U64(h, cases[i].want);
    }
    CHECK_RC(sdb_index_pre_check(s, 9, sdb_slice_str("live"), 0, 0, &h), SEALDB_INVALID);
    sdb_index_snap_end(s);
    sdb_index_close(ix);
}

TEST(index_long_keys) {
    sdb_index *ix = open_ix();
    static uint8_t k1[1024], k2[1024], k3[600];
    memset(k1, 'x', sizeof k1);
    memset(k2, 'x', sizeof k2);
    k2[1023] = 'y';                       /* shares the first 479 bytes with k1 */
    memset(k3, 'w', sizeof k3);
    sdb_index_batch *b;
    CHECK_OK(sdb_index_batch_begin(ix, &b));
    sdb_index_ver v = ver(1, 0, 0, 0);
    CHECK_OK(sdb_index_batch_put(b, sdb_slice_of(k1, sizeof k1), &v));
    v.entry_idx = 1;
    CHECK_OK(sdb_index_batch_put(b, sdb_slice_of(k2, sizeof k2), &v));
    v.entry_idx = 2;
    CHECK_OK(sdb_index_batch_put(b, sdb_slice_of(k3, sizeof k3), &v));
    v.entry_idx = 3;
    CHECK_OK(sdb_index_batch_put(b, sdb_slice_of(k1, 479), &v));   /* a short key, the common prefix */
    CHECK_OK(sdb_index_batch_commit(b, 1));
    put1(ix, "z", ver(2, 0, 0, 0), 2);
    CHECK_OK(sdb_index_batch_begin(ix, &b));
    v = ver(3, 0, 0, 0);
    CHECK_OK(sdb_index_batch_put(b, sdb_slice_of(k2, sizeof k2), &v));
    CHECK_OK(sdb_index_batch_commit(b, 3));
    sdb_index_snap *s;
    CHECK_OK(sdb_index_snap_begin(ix, &s));
    uint64_t n;
    CHECK_OK(sdb_index_get_latest(s, sdb_slice_of(k1, sizeof k1), 0, &v, &n));
    CHECK_EQ_U64(v.entry_idx, 0);
    CHECK_EQ_U64(n, 1);
    CHECK_OK(sdb_index_get_latest(s, sdb_slice_of(k2, sizeof k2), 0, &v, &n));
    CHECK_EQ_U64(v.tx_id, 3);
    CHECK_EQ_U64(n, 2);
    CHECK_RC(sdb_index_get_latest(s, sdb_slice_of(k2, 1000), 0, &v, &n), SEALDB_NOTFOUND);
    /* scans return full keys; the four "w"/"x" keys come before "z" */
    sdb_index_scan_opts o = { 0 };
    got g = { 0 };
    CHECK_OK(sdb_index_scan(s, &o, got_fn, &g));
    CHECK_EQ_U64(g.n, 5);
    CHECK_EQ_MEM(g.keys[0].ptr, g.keys[0].len, k3, sizeof k3);
    CHECK_EQ_MEM(g.keys[1].ptr, g.keys[1].len, k1, 479);
    CHECK_EQ_U64(g.keys[2].len, 1024);
    CHECK_EQ_U64(g.keys[3].len, 1024);
    CHECK_EQ_MEM(g.keys[4].ptr, g.keys[4].len, "z", 1);
    /* a long prefix selects exactly the matching long key; end bounds inside the group */
    o.prefix = sdb_slice_of(k2, 1024);
    memset(&g, 0, sizeof g);
    CHECK_OK(sdb_index_scan(s, &o, got_fn, &g));
    CHECK_EQ_U64(g.n, 1);
    CHECK_EQ_MEM(g.keys[0].ptr, g.keys[0].len, k2, sizeof k2);
    o.desc = 1;
    memset(&g, 0, sizeof g);
    CHECK_OK(sdb_index_scan(s, &o, got_fn, &g));
    CHECK_EQ_U64(g.n, 1);
    memset(&o, 0, sizeof o);
    o.seek = sdb_slice_of(k1, 1024);
    o.inclusive_seek = 1;
    o.desc = 1;
    memset(&g, 0, sizeof g);
    CHECK_OK(sdb_index_scan(s, &o, got_fn, &g));
    CHECK_EQ_U64(g.n, 3);   /* k1, the 479-byte key, k3 */
    CHECK_EQ_MEM(g.keys[0].ptr, g.keys[0].len, k1, sizeof k1);
    CHECK_OK(sdb_index_count(s, sdb_slice_of(k1, 500), &n));
    CHECK_EQ_U64(n, 2);
    CHECK_OK(sdb_index_count(s, sdb_slice_of(k1, 1024), &n));
    CHECK_EQ_U64(n, 1);
    CHECK_OK(sdb_index_count(s, sdb_slice_of(k1, 10), &n));
    CHECK_EQ_U64(n, 3);
    sdb_index_snap_end(s);
    sdb_index_close(ix);
}

TEST(index_rebuild_and_clear) {
    sdb_index *ix = open_ix();
    put1(ix, "k", ver(1, 0, 0, 0), 5);
    sdb_index_close(ix);
    CHECK_OK(sdb_index_destroy(ixdir()));
    CHECK_OK(sdb_index_destroy(ixdir()));   /* nothing left: still OK */
    sdb_index_opts o;
    sdb_index_opts_default(&o);
    o.create = 0;
    CHECK_RC(sdb_index_open(ixdir(), &o, &ix), SEALDB_NOTFOUND);
    ix = open_ix();
    uint64_t upto = 9;
    CHECK_OK(sdb_index_indexed_upto(ix, &upto));
    CHECK_EQ_U64(upto, 0);
    sdb_index_snap *s;
    sdb_index_ver v;
    CHECK_OK(sdb_index_snap_begin(ix, &s));
    CHECK_RC(sdb_index_get_latest(s, sdb_slice_str("k"), 0, &v, NULL), SEALDB_NOTFOUND);
    sdb_index_snap_end(s);
    /* replay, then clear without closing */
    put1(ix, "k", ver(1, 0, 0, 0), 5);
    CHECK_OK(sdb_index_clear(ix));
    CHECK_OK(sdb_index_indexed_upto(ix, &upto));
    CHECK_EQ_U64(upto, 0);
    put1(ix, "k", ver(1, 0, 0, 0), 1);
    CHECK_OK(sdb_index_snap_begin(ix, &s));
    CHECK_OK(sdb_index_get_latest(s, sdb_slice_str("k"), 0, &v, NULL));
    CHECK_EQ_U64(v.revision, 1);
    sdb_index_snap_end(s);
    sdb_index_close(ix);
}

TEST(index_read_only) {
    sdb_index_opts o;
    sdb_index_opts_default(&o);
    o.read_only = 1;
    sdb_index *ix;
    CHECK_RC(sdb_index_open(ixdir(), &o, &ix), SEALDB_NOTFOUND);
    ix = open_ix();
    put1(ix, "k", ver(4, 0, 0, 0), 4);
    sdb_index_close(ix);
    CHECK_OK(sdb_index_open(ixdir(), &o, &ix));
    uint64_t upto;
    CHECK_OK(sdb_index_indexed_upto(ix, &upto));
    CHECK_EQ_U64(upto, 4);
    sdb_index_batch *b;
    CHECK_RC(sdb_index_batch_begin(ix, &b), SEALDB_PERMISSION);
    CHECK_RC(sdb_index_clear(ix), SEALDB_PERMISSION);
    sdb_index_snap *s;
    sdb_index_ver v;
    CHECK_OK(sdb_index_snap_begin(ix, &s));
    CHECK_OK(sdb_index_get_latest(s, sdb_slice_str("k"), 0, &v, NULL));
    CHECK_EQ_U64(v.tx_id, 4);
    sdb_index_snap_end(s);
    sdb_index_close(ix);
}

