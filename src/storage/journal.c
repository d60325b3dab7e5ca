/* journal.c - segmented, preallocated, append-only journal and the record/tx-index codecs.
 *
 * Write order and what recovery may assume:
 *  1. A segment is created zero-filled and fdatasync'ed, and its directory entry fsync'ed, before
 *     any record is written into it (overwriting preallocated, synced space is the cheapest durable
 *     write: fdatasync then has no metadata to flush).
 *  2. The committer writes whole records at the append position and fdatasyncs the dirty segments
 *     once per group; before moving to a new segment it syncs the current one. So after a crash only
 *     the last segment can end in a torn record, and every earlier segment is complete.
 *  3. Readers only read below the published end, where bytes never change.
 * Segment array: published lock-free (readers load the count with acquire; the committer stores the
 * new slot before the count with release); grown arrays are retired and freed at close. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "storage/journal.h"
#include "storage/crc32c.h"

/* map: read-only shared mapping of the whole segment (NULL: pread only), see sdb_journal_read */
typedef struct seg { uint64_t start, cap; sdb_file *f; const uint8_t *map; } seg;

/* Small reads (a header, a value) are served from the segment's mapping: a get or a proof reads a
 * few small pieces, and a pread syscall each cost more than the rest of the lookup. Larger reads
 * (a whole tx for the indexer, recovery scans) keep using pread: the syscall is amortised there,
 * and bulk sequential reads through the map would only add page faults. */
#define MAP_READ_MAX 4096u

/* Maps segment s read-only, only with the POSIX vfs (a fault-injecting test vfs keeps pread) and
 * only as an optimisation. Segments never shrink while open (sdb_journal_cut runs before readers
 * and unmaps what it deletes); an external truncation of a live segment is absorbed by the map
 * guard (util.h): the lost bytes read as zeros, which fail their CRC, instead of a SIGBUS. */
static void map_seg(seg *s) {
    s->map = NULL;
    if (sdb_vfs_default() != sdb_vfs_posix() || s->cap == 0 || s->cap > SIZE_MAX) return;
    void *p = mmap(NULL, (size_t)s->cap, PROT_READ, MAP_SHARED, sdb_file_fd(s->f), 0);
    if (p == MAP_FAILED) return;
    if (sdb_mapguard_add(p, (size_t)s->cap)) { munmap(p, (size_t)s->cap); return; }
    s->map = p;
}
static void unmap_seg(seg *s) {
    if (s->map) {
        sdb_mapguard_remove(s->map);
        munmap((void *)s->map, (size_t)s->cap);
    }
    s->map = NULL;
}

struct sdb_journal {
    char *dir;                       /* dir/journal */
    uint64_t seg_size;
    _Atomic(seg *) segs;             /* published array */
    atomic_size_t nseg;
    size_t cap;                      /* committer only */
    seg **retired; size_t nretired;  /* old arrays, freed at close */
    uint64_t end;                    /* committer only: append position */
    size_t dirty_from;               /* committer only: first segment written since the last sync */
    int dirty;
    /* background preallocation of the next segment (journal/next.tmp), guarded by pa_mu */
    pthread_t pa_thread;
    int pa_started, pa_stop, pa_want, pa_ready;
    uint64_t pa_size;                /* size of the segment next.tmp is (being) prepared for */
    pthread_mutex_t pa_mu;
    pthread_cond_t pa_cv;
};

static int zero_fill(sdb_file *f, uint64_t off, uint64_t len);

/* Prepares next.tmp: zero-filled to seg_size and synced, so a rotation is a rename. */
static void *prealloc_main(void *arg) {
    sdb_thread_name("sdb-prealloc");
    sdb_journal *j = arg;
    char p[4200];
    snprintf(p, sizeof p, "%s/next.tmp", j->dir);
    pthread_mutex_lock(&j->pa_mu);
    for (;;) {
        while (!j->pa_stop && !(j->pa_want && !j->pa_ready)) pthread_cond_wait(&j->pa_cv, &j->pa_mu);
        if (j->pa_stop) break;
        uint64_t size = j->pa_size;
        pthread_mutex_unlock(&j->pa_mu);
        sdb_file *f = NULL;
        int rc = sdb_file_open(p, O_RDWR | O_CREAT | O_TRUNC, 0644, &f);
        if (!rc) rc = zero_fill(f, 0, size);
        if (!rc) rc = sdb_file_sync(f);
        sdb_file_close(f);
        if (rc) unlink(p);   /* a partial file (full disk) would hold space the journal needs */
        pthread_mutex_lock(&j->pa_mu);
        j->pa_want = 0;
        if (!rc) j->pa_ready = 1;
        pthread_cond_broadcast(&j->pa_cv);
    }
    pthread_mutex_unlock(&j->pa_mu);
    return NULL;
}

/* ---- codecs ---- */

int sdb_jrec_frame(const uint8_t fr[SDB_JREC_FRAME], sdb_jframe *out) {
    uint32_t magic = sdb_get_u32be(fr);
    if (magic == 0) {
        for (unsigned i = 0; i < SDB_JREC_FRAME; i++) if (fr[i]) return SEALDB_CORRUPT;
        return SEALDB_NOTFOUND;
    }
    if (magic != SDB_JREC_MAGIC) return SEALDB_CORRUPT;
    out->crc_meta = sdb_get_u32be(fr + 4);
    out->meta_len = sdb_get_u32be(fr + 8);
    out->crc_vals = sdb_get_u32be(fr + 12);
    out->vals_len = sdb_get_u64be(fr + 16);
    if (out->meta_len < 128 || out->meta_len > SDB_JREC_MAX_META) return SEALDB_CORRUPT;
    if (out->vals_len > (uint64_t)1024 * (32u << 20)) return SEALDB_CORRUPT;
    return SEALDB_OK;
}

int sdb_jrec_decode(sdb_slice rec, sdb_jframe *fr, sdb_tx_header *hdr, sdb_jentry *entries, uint32_t *n) {
    if (rec.len < SDB_JREC_FRAME) return SEALDB_CORRUPT;
    int rc = sdb_jrec_frame(rec.ptr, fr);
    if (rc == SEALDB_NOTFOUND) return SEALDB_CORRUPT;
    if (rc) return rc;
    if (fr->meta_len > rec.len - SDB_JREC_FRAME) return SEALDB_CORRUPT;
    if (sdb_crc32c(0, rec.ptr + 8, SDB_JREC_FRAME - 8 + fr->meta_len) != fr->crc_meta) return SEALDB_CORRUPT;
    sdb_slice meta = sdb_slice_of(rec.ptr + SDB_JREC_FRAME, fr->meta_len);
    size_t used = 0;
    rc = sdb_tx_header_decode(meta, hdr, &used);
    if (rc) return SEALDB_CORRUPT;
    if (hdr->nentries < 1 || hdr->nentries > 1024) return SEALDB_CORRUPT;
    sdb_reader r = sdb_reader_of(sdb_slice_of(meta.ptr + used, meta.len - used));
    uint64_t voff = 0;
    for (uint32_t i = 0; i < hdr->nentries; i++) {
        sdb_jentry *e = &entries[i];
        uint16_t klen; uint8_t mdlen; sdb_slice h;
        if (sdb_rd_u16be(&r, &klen) || klen == 0 || sdb_rd_bytes(&r, klen, &e->key)) return SEALDB_CORRUPT;
        if (sdb_rd_u8(&r, &mdlen) || mdlen > SDB_KV_MD_MAX_LEN || sdb_rd_bytes(&r, mdlen, &e->md_bytes))
            return SEALDB_CORRUPT;
        if (sdb_rd_u32be(&r, &e->vlen) || sdb_rd_bytes(&r, SDB_HASH_LEN, &h)) return SEALDB_CORRUPT;
        e->hvalue = h.ptr;
        e->voff = voff;
        voff += e->vlen;
    }
    if (sdb_reader_left(&r) != 0 || voff != fr->vals_len) return SEALDB_CORRUPT;
    *n = hdr->nentries;
    return SEALDB_OK;
}

static void put_u48be(uint8_t *p, uint64_t v) {
    sdb_put_u16be(p, (uint16_t)(v >> 32));
    sdb_put_u32be(p + 2, (uint32_t)v);
}
static uint64_t get_u48be(const uint8_t *p) {
    return (uint64_t)sdb_get_u16be(p) << 32 | sdb_get_u32be(p + 2);
}

/* vals_len < 1024 x 32 MiB and node_off < 2^48 fit 48 bits, nentries <= 1024 fits 16 (the engine's
 * limits; callers never pass more). */
void sdb_txi_encode(const sdb_txi_rec *r, uint8_t out[SDB_TXI_REC]) {
    sdb_put_u64be(out, r->pos);
    put_u48be(out + 8, r->vals_len);
    sdb_put_u16be(out + 14, (uint16_t)r->nentries);
    sdb_put_u32be(out + 16, r->meta_len);
    memcpy(out + 20, r->alh.b, SDB_HASH_LEN);
    put_u48be(out + 52, r->node_off);
    sdb_put_u16be(out + 58, SDB_TXI_LAYOUT);
    sdb_put_u32be(out + 60, sdb_crc32c(0, out, 60));
}

int sdb_txi_decode(const uint8_t in[SDB_TXI_REC], sdb_txi_rec *r) {
    if (sdb_crc32c(0, in, 60) != sdb_get_u32be(in + 60)) return SEALDB_CORRUPT;
    if (sdb_get_u16be(in + 58) != SDB_TXI_LAYOUT) return SEALDB_UNSUPPORTED;
    r->pos = sdb_get_u64be(in);
    r->vals_len = get_u48be(in + 8);
    r->nentries = sdb_get_u16be(in + 14);
    r->meta_len = sdb_get_u32be(in + 16);
    memcpy(r->alh.b, in + 20, SDB_HASH_LEN);
    r->node_off = get_u48be(in + 52);
    if (r->meta_len < 128 || r->meta_len > SDB_JREC_MAX_META || r->nentries < 1 || r->nentries > 1024)
        return SEALDB_CORRUPT;
    return SEALDB_OK;
}

/* ---- segments ---- */

static void seg_path(const sdb_journal *j, uint64_t start, char *out, size_t cap) {
    snprintf(out, cap, "%s/%020" PRIu64 ".seg", j->dir, start);
}

static int cmp_seg(const void *a, const void *b) {
    const seg *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

/* Publishes s as the new last segment. */
static int push_seg(sdb_journal *j, seg s) {
    size_t n = atomic_load_explicit(&j->nseg, memory_order_relaxed);
    seg *arr = atomic_load_explicit(&j->segs, memory_order_relaxed);
    if (n == j->cap) {
        size_t ncap = j->cap ? j->cap * 2 : 16;
        seg *na = sdb_calloc(ncap, sizeof *na);
        seg **nr = sdb_realloc(j->retired, (j->nretired + 1) * sizeof *nr);
        if (!na || !nr) { sdb_free(na); if (nr) j->retired = nr; return SEALDB_NOMEM; }
        j->retired = nr;
        if (n) memcpy(na, arr, n * sizeof *na);
        if (arr) j->retired[j->nretired++] = arr;
        atomic_store_explicit(&j->segs, na, memory_order_release);
        arr = na;
        j->cap = ncap;
    }
    map_seg(&s);
    arr[n] = s;
    atomic_store_explicit(&j->nseg, n + 1, memory_order_release);
    return SEALDB_OK;
}

/* Index of the segment containing pos (largest start <= pos), or -1. */
static long find_seg(const seg *arr, size_t n, uint64_t pos) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (arr[mid].start <= pos) lo = mid + 1; else hi = mid;
    }
    return (long)lo - 1;
}

int sdb_journal_open(const char *dir, uint64_t segment_size, sdb_journal **out) {
    int rc = SEALDB_NOMEM;
    sdb_journal *j = sdb_calloc(1, sizeof *j);
    seg *tmp = NULL;
    size_t ntmp = 0, captmp = 0;
    DIR *d = NULL;
    if (!j) return SEALDB_NOMEM;
    size_t dl = strlen(dir) + 16;
    if (!(j->dir = sdb_malloc(dl))) goto fail;
    snprintf(j->dir, dl, "%s/journal", dir);
    j->seg_size = segment_size < (1u << 16) ? (1u << 16) : segment_size;
    if (mkdir(j->dir, 0755) < 0 && errno != EEXIST) { rc = sdb_err_from_errno(errno); goto fail; }
    if (!(d = opendir(j->dir))) { rc = sdb_err_from_errno(errno); goto fail; }
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t nl = strlen(de->d_name);
        if (nl != 24 || strcmp(de->d_name + 20, ".seg")) continue;
        uint64_t start = 0;
        int ok = 1;
        for (int i = 0; i < 20; i++) {
            char c = de->d_name[i];
            if (c < '0' || c > '9' || start > (UINT64_MAX - 9) / 10) { ok = 0; break; }
            start = start * 10 + (uint64_t)(c - '0');
        }
        if (!ok) continue;
        if (ntmp == captmp) {
            captmp = captmp ? captmp * 2 : 16;
            seg *nt = sdb_realloc(tmp, captmp * sizeof *nt);
            if (!nt) goto fail;
            tmp = nt;
        }
        tmp[ntmp++] = (seg){ start, 0, NULL, NULL };
    }
    closedir(d); d = NULL;
    if (ntmp) qsort(tmp, ntmp, sizeof *tmp, cmp_seg);
    for (size_t i = 0; i < ntmp; i++) {
        char p[4096];
        seg_path(j, tmp[i].start, p, sizeof p);
        if ((rc = sdb_file_open(p, O_RDWR, 0644, &tmp[i].f))) goto fail;
        if ((rc = sdb_file_size(tmp[i].f, &tmp[i].cap))) goto fail;
        if (i > 0 && tmp[i - 1].start + tmp[i - 1].cap < tmp[i].start) { rc = SEALDB_CORRUPT; goto fail; }
        seg s = tmp[i];
        tmp[i].f = NULL;
        if ((rc = push_seg(j, s))) { sdb_file_close(s.f); goto fail; }
    }
    sdb_free(tmp);
    pthread_mutex_init(&j->pa_mu, NULL);
    pthread_cond_init(&j->pa_cv, NULL);
    j->pa_started = pthread_create(&j->pa_thread, NULL, prealloc_main, j) == 0;
    *out = j;
    return SEALDB_OK;
fail:
    if (d) closedir(d);
    for (size_t i = 0; i < ntmp; i++) sdb_file_close(tmp[i].f);
    sdb_free(tmp);
    sdb_journal_close(j);
    return rc;
}

void sdb_journal_close(sdb_journal *j) {
    if (!j) return;
    if (j->pa_started) {
        pthread_mutex_lock(&j->pa_mu);
        j->pa_stop = 1;
        pthread_cond_broadcast(&j->pa_cv);
        pthread_mutex_unlock(&j->pa_mu);
        pthread_join(j->pa_thread, NULL);
        pthread_mutex_destroy(&j->pa_mu);
        pthread_cond_destroy(&j->pa_cv);
    }
    size_t n = atomic_load(&j->nseg);
    seg *arr = atomic_load(&j->segs);
    for (size_t i = 0; i < n; i++) { unmap_seg(&arr[i]); sdb_file_close(arr[i].f); }
    sdb_free(arr);
    for (size_t i = 0; i < j->nretired; i++) sdb_free(j->retired[i]);
    sdb_free(j->retired);
    sdb_free(j->dir);
    sdb_free(j);
}

int sdb_journal_read(sdb_journal *j, uint64_t pos, void *buf, size_t n) {
    size_t ns = atomic_load_explicit(&j->nseg, memory_order_acquire);
    const seg *arr = atomic_load_explicit(&j->segs, memory_order_acquire);
    long i = find_seg(arr, ns, pos);
    if (i < 0) return SEALDB_CORRUPT;
    uint64_t off = pos - arr[i].start;
    uint64_t lim = (size_t)i + 1 < ns ? arr[i + 1].start - arr[i].start : arr[i].cap;
    if (lim > arr[i].cap) lim = arr[i].cap;
    if (off > lim || n > lim - off) return SEALDB_CORRUPT;
    if (arr[i].map && n <= MAP_READ_MAX) { memcpy(buf, arr[i].map + off, n); return SEALDB_OK; }
    return sdb_file_read_at(arr[i].f, buf, n, off);
}

/* A get's value is one random access into the journal (a cache and often a TLB miss): the
 * reader issues this as soon as the index gave the position and finishes its other work (ending
 * the index snapshot, copying the key) while the line is loaded. */
void sdb_journal_prefetch(sdb_journal *j, uint64_t pos, size_t n) {
    size_t ns = atomic_load_explicit(&j->nseg, memory_order_acquire);
    const seg *arr = atomic_load_explicit(&j->segs, memory_order_acquire);
    long i = find_seg(arr, ns, pos);
    if (i < 0 || !arr[i].map) return;
    uint64_t off = pos - arr[i].start;
    if (off >= arr[i].cap || n > arr[i].cap - off) return;
    const uint8_t *p = arr[i].map + off;
    __builtin_prefetch(p);
    if (n > 1 && ((uintptr_t)p & 63u) + n > 64) __builtin_prefetch(p + 64);   /* value crosses a line */
}

uint64_t sdb_journal_first_pos(sdb_journal *j) {
    size_t ns = atomic_load_explicit(&j->nseg, memory_order_acquire);
    const seg *arr = atomic_load_explicit(&j->segs, memory_order_acquire);
    return ns ? arr[0].start : 0;
}

int sdb_journal_room(sdb_journal *j, uint64_t pos, uint64_t *room, int *is_last) {
    size_t ns = atomic_load_explicit(&j->nseg, memory_order_acquire);
    const seg *arr = atomic_load_explicit(&j->segs, memory_order_acquire);
    long i = find_seg(arr, ns, pos);
    if (i < 0) { *room = 0; *is_last = 1; return SEALDB_OK; }
    uint64_t lim = (size_t)i + 1 < ns ? arr[i + 1].start : arr[i].start + arr[i].cap;
    *room = lim > pos ? lim - pos : 0;
    *is_last = (size_t)i + 1 == ns;
    return SEALDB_OK;
}

uint64_t sdb_journal_next_seg(sdb_journal *j, uint64_t pos) {
    size_t ns = atomic_load_explicit(&j->nseg, memory_order_acquire);
    const seg *arr = atomic_load_explicit(&j->segs, memory_order_acquire);
    long i = find_seg(arr, ns, pos);
    if (i < 0) return ns ? arr[0].start : UINT64_MAX;
    return (size_t)i + 1 < ns ? arr[i + 1].start : UINT64_MAX;
}

void sdb_journal_seg_name(sdb_journal *j, uint64_t pos, char *out, size_t cap) {
    size_t ns = atomic_load_explicit(&j->nseg, memory_order_acquire);
    const seg *arr = atomic_load_explicit(&j->segs, memory_order_acquire);
    long i = find_seg(arr, ns, pos);
    seg_path(j, i < 0 ? 0 : arr[i].start, out, cap);
}

int sdb_journal_discard(sdb_journal *j, uint64_t pos, uint64_t n) {
    size_t ns = atomic_load_explicit(&j->nseg, memory_order_acquire);
    const seg *arr = atomic_load_explicit(&j->segs, memory_order_acquire);
    long i = find_seg(arr, ns, pos);
    if (i < 0) return SEALDB_CORRUPT;
    uint64_t off = pos - arr[i].start;
    if (off > arr[i].cap || n > arr[i].cap - off) return SEALDB_CORRUPT;
    if (n == 0) return SEALDB_OK;
    /* the POSIX vfs only: a test vfs sees the zero writes, which it can fail or cut */
    if (sdb_vfs_default() == sdb_vfs_posix() &&
        fallocate(sdb_file_fd(arr[i].f), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)n) == 0)
        return SEALDB_OK;
    return zero_fill(arr[i].f, off, n);   /* no hole support here: the bytes are still gone */
}

int sdb_journal_sync_range(sdb_journal *j, uint64_t from, uint64_t to) {
    size_t ns = atomic_load_explicit(&j->nseg, memory_order_acquire);
    const seg *arr = atomic_load_explicit(&j->segs, memory_order_acquire);
    long i = find_seg(arr, ns, from);
    if (i < 0) i = 0;
    for (size_t k = (size_t)i; k < ns && arr[k].start < to; k++) {
        int rc = sdb_file_sync(arr[k].f);
        if (rc) return rc;
    }
    return SEALDB_OK;
}

void sdb_journal_set_end(sdb_journal *j, uint64_t end) {
    j->end = end;
    size_t ns = atomic_load(&j->nseg);
    j->dirty_from = ns ? ns - 1 : 0;
}
uint64_t sdb_journal_end(sdb_journal *j) { return j->end; }

static int zero_fill(sdb_file *f, uint64_t off, uint64_t len) {
    static const uint8_t zeros[1 << 16];
    while (len) {
        size_t n = len < sizeof zeros ? (size_t)len : sizeof zeros;
        int rc = sdb_file_write_at(f, zeros, n, off);
        if (rc) return rc;
        off += n; len -= n;
    }
    return SEALDB_OK;
}

/* Capacity of the segment after the current last one: segments grow from SEG_FIRST, doubling,
 * up to seg_size, so a small database takes little disk while a busy one soon rotates as rarely
 * as before (every segment is still zero-filled and synced before use). The size is derived from
 * the last segment's, so it needs no state across reopens. */
#define SEG_FIRST ((uint64_t)128 << 10)
static uint64_t next_cap(sdb_journal *j) {
    size_t ns = atomic_load_explicit(&j->nseg, memory_order_relaxed);
    seg *arr = atomic_load_explicit(&j->segs, memory_order_relaxed);
    uint64_t cap = ns ? arr[ns - 1].cap * 2 : SEG_FIRST;
    if (cap < SEG_FIRST) cap = SEG_FIRST;
    return cap < j->seg_size ? cap : j->seg_size;
}

/* Creates a zero-filled, synced segment starting at `start` that holds at least `need` bytes. */
static int new_segment(sdb_journal *j, uint64_t start, uint64_t need) {
    uint64_t cap = next_cap(j);
    if (need > cap) cap = (need + 4095) & ~(uint64_t)4095;
    char p[4096];
    seg_path(j, start, p, sizeof p);
    sdb_file *f = NULL;
    int rc;
    size_t ns = atomic_load_explicit(&j->nseg, memory_order_relaxed);
    seg *arr = atomic_load_explicit(&j->segs, memory_order_relaxed);
    if (ns && arr[ns - 1].start == start) {
        /* a segment whose creation was cut short by a crash (empty or partly zero-filled: records
         * are only written once it is whole and synced) has this very name and holds nothing:
         * replace it. Readers never look at or past the journal end, where it starts. */
        unmap_seg(&arr[ns - 1]);
        sdb_file_close(arr[ns - 1].f);
        arr[ns - 1].f = NULL;
        atomic_store_explicit(&j->nseg, ns - 1, memory_order_release);
        if (unlink(p) < 0 && errno != ENOENT) return sdb_err_from_errno(errno);
        cap = next_cap(j);
        if (need > cap) cap = (need + 4095) & ~(uint64_t)4095;
    }
    if (j->pa_started) {
        /* take the background-prepared segment if it is ready and of this size (never wait) */
        pthread_mutex_lock(&j->pa_mu);
        int ready = j->pa_ready && !j->pa_want && j->pa_size == cap;
        if (ready) {
            char tmp[4200];
            snprintf(tmp, sizeof tmp, "%s/next.tmp", j->dir);
            ready = rename(tmp, p) == 0;
            j->pa_ready = 0;
        }
        pthread_mutex_unlock(&j->pa_mu);
        if (ready) {
            if ((rc = sdb_file_open(p, O_RDWR, 0644, &f))) { unlink(p); return rc; }
            uint64_t sz = 0;
            if ((rc = sdb_file_size(f, &sz)) || sz != cap || (rc = sdb_fsync_dir(j->dir))) {
                sdb_file_close(f);
                unlink(p);
                if (rc) return rc;
                f = NULL;   /* not what was asked for: make one below */
            } else {
                if ((rc = push_seg(j, (seg){ start, cap, f, NULL }))) { sdb_file_close(f); return rc; }
                return SEALDB_OK;
            }
        }
    }
    for (int stale = 0;;) {
        rc = sdb_file_open(p, O_RDWR | O_CREAT | O_EXCL, 0644, &f);
        if (rc == SEALDB_EXISTS && !stale++) {
            /* left by an attempt that failed after creating it (it is no segment of ours: records
             * are only written into registered segments) */
            if (unlink(p) < 0) return sdb_err_from_errno(errno);
            continue;
        }
        if (rc) return rc;
        if (!(rc = zero_fill(f, 0, cap)) && !(rc = sdb_file_sync(f)) && !(rc = sdb_fsync_dir(j->dir))) break;
        sdb_file_close(f);
        f = NULL;
        unlink(p);
        /* a nearly full disk: a smaller segment (down to what this record needs) still takes it */
        uint64_t half = (cap / 2 + 4095) & ~(uint64_t)4095;
        if (rc != SEALDB_NOSPACE || half < need || half < 4096 || half >= cap) return rc;
        cap = half;
    }
    if ((rc = push_seg(j, (seg){ start, cap, f, NULL }))) { sdb_file_close(f); return rc; }
    return SEALDB_OK;
}

int sdb_journal_reserve(sdb_journal *j, uint64_t n, uint64_t *pos) {
    size_t ns = atomic_load_explicit(&j->nseg, memory_order_relaxed);
    seg *arr = atomic_load_explicit(&j->segs, memory_order_relaxed);
    int rc;
    if (ns == 0 || j->end + n > arr[ns - 1].start + arr[ns - 1].cap) {
        if (ns && (rc = sdb_journal_sync(j))) return rc;   /* rule 2: finish this segment first */
        if ((rc = new_segment(j, j->end, n))) return rc;
    }
    *pos = j->end;
    j->end += n;
    ns = atomic_load_explicit(&j->nseg, memory_order_relaxed);
    arr = atomic_load_explicit(&j->segs, memory_order_relaxed);
    /* the next segment is prepared once this one is half full, or at once while segments are
     * still growing (the next is twice this one: preparing it takes longer than filling this) */
    if (j->pa_started && (j->end - arr[ns - 1].start > arr[ns - 1].cap / 2 || arr[ns - 1].cap < j->seg_size)) {
        uint64_t want = next_cap(j);
        pthread_mutex_lock(&j->pa_mu);
        if (j->pa_ready && j->pa_size != want) j->pa_ready = 0;   /* left from before a reopen or rewind */
        if (!j->pa_ready && !j->pa_want) { j->pa_want = 1; j->pa_size = want; pthread_cond_signal(&j->pa_cv); }
        pthread_mutex_unlock(&j->pa_mu);
    }
    return SEALDB_OK;
}

int sdb_journal_write(sdb_journal *j, uint64_t pos, const void *p, size_t n) {
    const uint8_t *b = p;
    while (n) {
        size_t ns = atomic_load_explicit(&j->nseg, memory_order_relaxed);
        seg *arr = atomic_load_explicit(&j->segs, memory_order_relaxed);
        long i = find_seg(arr, ns, pos);
        if (i < 0) return SEALDB_INVALID;
        uint64_t lim = (size_t)i + 1 < ns ? arr[i + 1].start : arr[i].start + arr[i].cap;
        size_t k = lim - pos < n ? (size_t)(lim - pos) : n;
        if (k == 0) return SEALDB_INVALID;
        int rc = sdb_file_write_at(arr[i].f, b, k, pos - arr[i].start);
        if (rc) return rc;
        if (!j->dirty || (size_t)i < j->dirty_from) j->dirty_from = (size_t)i;
        j->dirty = 1;
        b += k; pos += k; n -= k;
    }
    return SEALDB_OK;
}

int sdb_journal_sync(sdb_journal *j) {
    if (!j->dirty) return SEALDB_OK;
    size_t ns = atomic_load_explicit(&j->nseg, memory_order_relaxed);
    seg *arr = atomic_load_explicit(&j->segs, memory_order_relaxed);
    for (size_t i = j->dirty_from; i < ns; i++) {
        int rc = sdb_file_sync(arr[i].f);
        if (rc) return rc;
    }
    j->dirty = 0;
    j->dirty_from = ns ? ns - 1 : 0;
    return SEALDB_OK;
}

int sdb_journal_cut(sdb_journal *j, uint64_t pos) {
    size_t ns = atomic_load(&j->nseg);
    seg *arr = atomic_load(&j->segs);
    long i = find_seg(arr, ns, pos);
    int rc;
    if (i < 0) { j->end = pos; return SEALDB_OK; }
    for (size_t k = ns; k > (size_t)i + 1; k--) {
        char p[4096];
        seg_path(j, arr[k - 1].start, p, sizeof p);
        unmap_seg(&arr[k - 1]);
        sdb_file_close(arr[k - 1].f);
        arr[k - 1].f = NULL;
        if (unlink(p) < 0) return sdb_err_from_errno(errno);
        atomic_store(&j->nseg, k - 1);
    }
    if ((rc = sdb_fsync_dir(j->dir))) return rc;
    uint64_t off = pos - arr[i].start;
    if (off < arr[i].cap) {
        if ((rc = zero_fill(arr[i].f, off, arr[i].cap - off))) return rc;
        if ((rc = sdb_file_sync(arr[i].f))) return rc;
    }
    j->end = pos;
    j->dirty = 0;
    j->dirty_from = (size_t)i;
    return SEALDB_OK;
}

int sdb_journal_rewind(sdb_journal *j, uint64_t pos) {
    size_t ns = atomic_load(&j->nseg);
    seg *arr = atomic_load(&j->segs);
    long i = find_seg(arr, ns, pos);
    int rc;
    if (i < 0) { j->end = pos; j->dirty = 0; return SEALDB_OK; }
    uint64_t old_end = j->end;
    /* later segments hold nothing acknowledged (readers stay below pos, in segment i or before) */
    if ((size_t)i + 1 < ns) {
        for (size_t k = ns; k > (size_t)i + 1; k--) {
            char p[4096];
            seg_path(j, arr[k - 1].start, p, sizeof p);
            atomic_store(&j->nseg, k - 1);
            unmap_seg(&arr[k - 1]);
            sdb_file_close(arr[k - 1].f);
            arr[k - 1].f = NULL;
            if (unlink(p) < 0 && errno != ENOENT) return sdb_err_from_errno(errno);
        }
        if ((rc = sdb_fsync_dir(j->dir))) return rc;
        old_end = arr[i].start + arr[i].cap;   /* records may have filled segment i up to its end */
    }
    uint64_t off = pos - arr[i].start, stop = old_end - arr[i].start;
    if (stop > arr[i].cap) stop = arr[i].cap;
    if (stop > off) {
        if ((rc = zero_fill(arr[i].f, off, stop - off))) return rc;
        if ((rc = sdb_file_sync(arr[i].f))) return rc;
    }
    j->end = pos;
    j->dirty = 0;
    j->dirty_from = (size_t)i;
    return SEALDB_OK;
}

/* A record in the last segment that fails its checks is an interrupted (never acknowledged) write
 * only if it ends in never-written space: its extent runs past the segment, or it contains a zeroed
 * 512-byte block (the preallocated zeros a torn write leaves), and nothing follows it. A record
 * fully written but with a wrong byte is damage, not a torn write. */
int sdb_journal_is_torn(sdb_journal *j, uint64_t pos, uint64_t room, uint64_t rec_len) {
    uint64_t span = rec_len && rec_len <= room ? rec_len : room;
    uint64_t check_end = span;
    if (rec_len > room) return 1;
    int zero_block = rec_len == 0;   /* unparsable frame: rely on the zero tail below */
    /* blocks are aligned in the segment file, where a write tears (at page boundaries); segments
     * start at any logical position, so pos's own alignment says nothing */
    size_t ns = atomic_load_explicit(&j->nseg, memory_order_acquire);
    const seg *arr = atomic_load_explicit(&j->segs, memory_order_acquire);
    long si = find_seg(arr, ns, pos);
    uint64_t base = si >= 0 ? arr[si].start : 0;
    uint8_t *b = sdb_malloc(1 << 16);
    if (!b) return 0;
    /* scan the record for an aligned all-zero 512-byte block */
    for (uint64_t off = 0; off < check_end && !zero_block;) {
        size_t n = check_end - off < (1 << 16) ? (size_t)(check_end - off) : (1 << 16);
        if (sdb_journal_read(j, pos + off, b, n)) { sdb_free(b); return 0; }
        for (size_t k = (512 - ((pos - base + off) % 512)) % 512; k + 512 <= n; k += 512) {
            size_t z = 0;
            while (z < 512 && b[k + z] == 0) z++;
            if (z == 512) { zero_block = 1; break; }
        }
        off += n;
    }
    /* and what follows it (up to 64 KiB) must be unwritten */
    uint64_t after = rec_len ? pos + rec_len : pos + SDB_JREC_FRAME;
    uint64_t left = room > (after - pos) ? room - (after - pos) : 0;
    size_t tail = left < (1 << 16) ? (size_t)left : (1 << 16);
    int tail_zero = 1;
    if (tail && !sdb_journal_read(j, after, b, tail)) {
        for (size_t k = 0; k < tail; k++) if (b[k]) { tail_zero = 0; break; }
    } else if (tail) tail_zero = 0;
    sdb_free(b);
    return zero_block && tail_zero;
}

