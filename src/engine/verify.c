/* verify.c - offline re-verification of stored history (`sealdb verify --dir`): reads every
 * journal record and re-checks CRCs, value hashes, entry digests, the tx tree (eH), the Alh chain,
 * binary linking (blRoot against a rebuilt ahtree), then compares the derived files (tx index,
 * ahtree node file, htree node file) with what the journal implies. Read-only: never opens a database for writes,
 * never repairs. Derived files that are merely behind (crash before they were written) are fine:
 * open rebuilds them; derived bytes that disagree with the journal are reported. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "engine/engine_int.h"
#include "storage/crc32c.h"
#include "index/index.h"

typedef struct vctx {
    FILE *out;
    const char *dir;
    int reported;
} vctx;

static int fail(vctx *v, int rc, uint64_t tx, const char *file, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int fail(vctx *v, int rc, uint64_t tx, const char *file, const char *fmt, ...) {
    if (v->out && !v->reported) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(v->out, "verify: %s: FAILED at tx %" PRIu64 " in %s: ", v->dir, tx, file);
        vfprintf(v->out, fmt, ap);
        fputc('\n', v->out);
        va_end(ap);
    }
    v->reported = 1;
    return rc;
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* ---- one record (shared with the open-time tail check and the scrub) ---- */

int sdb_txcheck_init(sdb_txcheck *c) {
    memset(c, 0, sizeof *c);
    sdb_htree_init(&c->ht);
    c->je = sdb_malloc(1024 * sizeof *c->je);
    c->dig = sdb_malloc(1024 * sizeof *c->dig);
    if (!c->je || !c->dig) { sdb_txcheck_deinit(c); return SEALDB_NOMEM; }
    return SEALDB_OK;
}

void sdb_txcheck_deinit(sdb_txcheck *c) {
    sdb_free(c->je);
    sdb_free(c->dig);
    sdb_htree_deinit(&c->ht);
    c->je = NULL;
    c->dig = NULL;
}

static int why(sdb_txcheck *c, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int why(sdb_txcheck *c, int rc, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->why, sizeof c->why, fmt, ap);
    va_end(ap);
    return rc;
}

int sdb_txcheck_record(sdb_txcheck *c, sdb_slice rec, uint64_t id, const sdb_hash *prev_alh) {
    c->why[0] = 0;
    c->format_bad = 1;
    c->n = 0;
    /* values of a truncated tx are gone (engine/truncate.c): everything else is still checked */
    int vals_gone = id < c->values_kept_from;
    if (sdb_jrec_decode(rec, &c->fr, &c->hdr, c->je, &c->n) != SEALDB_OK ||
        rec.len != SDB_JREC_FRAME + (uint64_t)c->fr.meta_len + c->fr.vals_len ||
        (!vals_gone && sdb_crc32c(0, rec.ptr + SDB_JREC_FRAME + c->fr.meta_len, (size_t)c->fr.vals_len) != c->fr.crc_vals))
        return why(c, SEALDB_CORRUPT, "record fails its checksum or format checks");
    c->format_bad = 0;
    const sdb_tx_header *h = &c->hdr;
    if (h->id != id) return why(c, SEALDB_TAMPERED, "record holds tx id %" PRIu64, h->id);
    if (prev_alh && memcmp(h->prev_alh.b, prev_alh->b, 32)) return why(c, SEALDB_TAMPERED, "prevAlh breaks the Alh chain");
    if (h->version > 1) return why(c, SEALDB_UNSUPPORTED, "header version %u", h->version);
    if (h->bl_tx_id >= id) return why(c, SEALDB_TAMPERED, "blTxId %" PRIu64 " >= id", h->bl_tx_id);
    const uint8_t *vals = rec.ptr + SDB_JREC_FRAME + c->fr.meta_len;
    for (uint32_t i = 0; i < c->n; i++) {
        const sdb_jentry *je = &c->je[i];
        uint8_t hv[32];
        sdb_kv_md md;
        if (!vals_gone) {
            sdb_sha256(vals + je->voff, je->vlen, hv);
            if (memcmp(hv, je->hvalue, 32)) return why(c, SEALDB_TAMPERED, "value of entry %u does not match its hash", i);
        }
        if (sdb_kv_md_decode(je->md_bytes, &md)) return why(c, SEALDB_CORRUPT, "metadata of entry %u is malformed", i);
        if (sdb_entry_digest(h->version, je->key, je->md_bytes, je->hvalue, c->dig[i].b))
            return why(c, SEALDB_CORRUPT, "entry %u cannot be digested", i);
    }
    int rc = sdb_htree_build(&c->ht, c->dig, c->n);
    if (rc) return rc;
    sdb_hash eh;
    sdb_htree_root(&c->ht, eh.b);
    if (memcmp(eh.b, h->eh.b, 32)) return why(c, SEALDB_TAMPERED, "entries do not match eH (tx tree root)");
    if (sdb_tx_alh(h, c->alh.b)) return why(c, SEALDB_CORRUPT, "header cannot be hashed");
    return SEALDB_OK;
}

/* Checks the ahtree node file record of leaf n against the recomputed hashes h[0..z] and alh. */
typedef struct aht_check {
    int fd;
    uint64_t fsize;
    sdb_hash frontier[64];
} aht_check;

static int aht_step(vctx *v, aht_check *a, uint64_t n, const sdb_hash *alh, const char *file) {
    sdb_hash h[65];
    unsigned z = (unsigned)__builtin_ctzll(n);
    sdb_hash_leaf(alh->b, SDB_HASH_LEN, h[0].b);
    for (unsigned l = 1; l <= z; l++) sdb_hash_node(a->frontier[l - 1].b, h[l - 1].b, h[l].b);
    for (unsigned l = 0; l <= z; l++) a->frontier[l] = h[l];
    if (a->fd < 0) return SEALDB_OK;
    uint64_t off = 32 + 32 * (3 * (n - 1) - (uint64_t)__builtin_popcountll(n - 1));
    uint64_t len = 32 * (2 + (uint64_t)z);
    if (off + len > a->fsize) return SEALDB_OK;   /* behind: rebuilt on open */
    uint8_t buf[32 * 66];
    if (pread(a->fd, buf, len, (off_t)off) != (ssize_t)len) return fail(v, SEALDB_IO, n, file, "read error");
    if (memcmp(buf, alh->b, 32)) return fail(v, SEALDB_TAMPERED, n, file, "stored Alh differs from the journal");
    for (unsigned l = 0; l <= z; l++)
        if (memcmp(buf + 32 * (1 + l), h[l].b, 32))
            return fail(v, SEALDB_TAMPERED, n, file, "tree node (level %u) differs from the recomputed one", l);
    return SEALDB_OK;
}


/* ---- key index against the journal ---- */

typedef struct keylist { sdb_buf bytes; size_t *off; size_t n, cap; } keylist;
static int collect_key(void *arg, sdb_slice key, const sdb_index_ver *v, uint64_t count) {
    keylist *kl = arg;
    if (kl->n == kl->cap) {
        size_t nc = kl->cap ? kl->cap * 2 : 1024;
        size_t *no = sdb_realloc(kl->off, (nc + 1) * sizeof *no);
        if (!no) return SEALDB_NOMEM;
        kl->off = no;
        kl->cap = nc;
    }
    kl->off[kl->n++] = kl->bytes.len;
    kl->off[kl->n] = kl->bytes.len + key.len;
    return sdb_buf_append(&kl->bytes, key.ptr, key.len);
}

typedef struct ixcheck {
    vctx *v;
    sdb_journal *j;
    const uint64_t *pos;        /* journal position of tx i at pos[i-1] */
    uint64_t ntx, upto, versions;
    sdb_slice key;
    uint64_t prev_tx; uint32_t prev_idx;
    uint64_t cached;            /* tx decoded in buf */
    sdb_buf buf;
    sdb_jframe fr;
    sdb_tx_header hdr;
    sdb_jentry *je;
    uint32_t n;
    const char *file;
} ixcheck;

static int check_version(void *arg, const sdb_index_ver *v) {
    ixcheck *c = arg;
    if (v->tx_id == 0 || v->tx_id > c->upto || v->tx_id > c->ntx)
        return fail(c->v, SEALDB_TAMPERED, v->tx_id, c->file, "index version points past the indexed txs");
    if (c->versions && (v->tx_id < c->prev_tx || (v->tx_id == c->prev_tx && v->entry_idx <= c->prev_idx)) && v->revision > 1)
        return fail(c->v, SEALDB_TAMPERED, v->tx_id, c->file, "index versions of a key out of order");
    if (c->cached != v->tx_id) {
        uint64_t p = c->pos[v->tx_id - 1];
        uint8_t fb[SDB_JREC_FRAME];
        int rc = sdb_journal_read(c->j, p, fb, sizeof fb);
        if (!rc) rc = sdb_jrec_frame(fb, &c->fr);
        if (rc) return fail(c->v, SEALDB_CORRUPT, v->tx_id, c->file, "journal record unreadable");
        sdb_buf_reset(&c->buf);
        if ((rc = sdb_buf_reserve(&c->buf, SDB_JREC_FRAME + c->fr.meta_len))) return rc;
        if ((rc = sdb_journal_read(c->j, p, c->buf.ptr, SDB_JREC_FRAME + c->fr.meta_len))) return rc;
        c->buf.len = SDB_JREC_FRAME + c->fr.meta_len;
        if (sdb_jrec_decode(sdb_buf_slice(&c->buf), &c->fr, &c->hdr, c->je, &c->n))
            return fail(c->v, SEALDB_CORRUPT, v->tx_id, c->file, "journal record unreadable");
        c->cached = v->tx_id;
    }
    if (v->entry_idx >= c->n) return fail(c->v, SEALDB_TAMPERED, v->tx_id, c->file, "index entry position %u out of range", v->entry_idx);
    const sdb_jentry *en = &c->je[v->entry_idx];
    sdb_kv_md md;
    if (sdb_kv_md_decode(en->md_bytes, &md)) return fail(c->v, SEALDB_CORRUPT, v->tx_id, c->file, "bad metadata");
    uint32_t flags = (md.deleted ? SDB_INDEX_DELETED : 0) | (md.has_expires ? SDB_INDEX_HAS_EXPIRY : 0);
    uint64_t voff = c->pos[v->tx_id - 1] + SDB_JREC_FRAME + c->fr.meta_len + en->voff;
    if (!sdb_slice_eq(en->key, c->key) || md.non_indexable || v->flags != flags ||
        (md.has_expires && v->expires_at != md.expires_at) || v->val_off != voff || v->val_len != en->vlen)
        return fail(c->v, SEALDB_TAMPERED, v->tx_id, c->file, "index version (entry %u) differs from the journal", v->entry_idx);
    c->prev_tx = v->tx_id;
    c->prev_idx = v->entry_idx;
    c->versions++;
    return SEALDB_OK;
}

/* Every version in the index matches its journal entry, and the index holds exactly the indexable
 * entries of txs 1..indexed_upto. */
static int verify_index(vctx *v, sdb_journal *j, const char *ixdir, const uint64_t *pos, uint64_t ntx,
                        uint64_t (*expected_upto)(void *, uint64_t), void *earg) {
    sdb_index *ix = NULL;
    sdb_index_snap *s = NULL;
    keylist kl;
    memset(&kl, 0, sizeof kl);
    sdb_buf_init(&kl.bytes);
    ixcheck c;
    memset(&c, 0, sizeof c);
    sdb_buf_init(&c.buf);
    c.v = v; c.j = j; c.pos = pos; c.ntx = ntx; c.file = ixdir;
    sdb_index_opts o;
    sdb_index_opts_default(&o);
    o.create = 0;
    o.read_only = 1;   /* verify writes nothing */
    int rc = sdb_index_open(ixdir, &o, &ix);
    if (rc == SEALDB_UNSUPPORTED || rc == SEALDB_NOTFOUND) {
        if (v->out) fprintf(v->out, "verify: %s: note: no key index of this format (rebuilt on next open)\n", v->dir);
        return SEALDB_OK;
    }
    if (rc) return fail(v, rc, 1, ixdir, "cannot open the key index: %s", sealdb_strerror(rc));
    if ((rc = sdb_index_indexed_upto(ix, &c.upto))) { rc = fail(v, rc, 1, ixdir, "cannot read indexed_upto"); goto done; }
    if (c.upto > ntx) {
        if (v->out) fprintf(v->out, "verify: %s: note: key index is ahead of the journal (rebuilt on next open)\n", v->dir);
        rc = SEALDB_OK;
        goto done;
    }
    if (!(c.je = sdb_malloc(1024 * sizeof *c.je))) { rc = SEALDB_NOMEM; goto done; }
    /* every block of every run file: CRC32C, group order, revisions continuous */
    if ((rc = sdb_index_check(ix, NULL))) { rc = fail(v, rc, 1, ixdir, "key index run files damaged: %s", sealdb_strerror(rc)); goto done; }
    if ((rc = sdb_index_snap_begin(ix, &s))) goto done;
    sdb_index_scan_opts so;
    memset(&so, 0, sizeof so);
    so.include_dead = 1;
    if ((rc = sdb_index_scan(s, &so, collect_key, &kl))) { rc = fail(v, rc, 1, ixdir, "key index scan failed: %s", sealdb_strerror(rc)); goto done; }
    for (size_t i = 0; i < kl.n && !rc; i++) {
        c.key = sdb_slice_of(kl.bytes.ptr + kl.off[i], kl.off[i + 1] - kl.off[i]);
        c.prev_tx = 0; c.prev_idx = 0;
        uint64_t cnt = 0;
        rc = sdb_index_history(s, c.key, 0, 0, 0, check_version, &c, &cnt);
        if (rc && !v->reported) rc = fail(v, rc, 1, ixdir, "key index history failed: %s", sealdb_strerror(rc));
    }
    if (!rc) {
        uint64_t want = expected_upto(earg, c.upto);
        if (want != c.versions)
            rc = fail(v, SEALDB_TAMPERED, c.upto, ixdir, "key index holds %" PRIu64 " versions, the journal %" PRIu64, c.versions, want);
    }
done:
    sdb_index_snap_end(s);
    sdb_index_close(ix);
    sdb_buf_deinit(&kl.bytes);
    sdb_free(kl.off);
    sdb_buf_deinit(&c.buf);
    sdb_free(c.je);
    return rc;
}

/* cumulative indexable-entry counts per tx, for "how many versions up to tx u" */
typedef struct cum { uint64_t *v; uint64_t n, cap; } cum;
static uint64_t cum_at(void *arg, uint64_t upto) {
    cum *c = arg;
    return upto == 0 ? 0 : c->v[upto - 1];
}

static int verify_db(vctx *v, const char *dir) {
    int rc;
    char txip[4096], ahp[4096], htp[4096], seg[4096];
    sdb_journal *j = NULL;
    sdb_ahtree *mem = NULL;
    sdb_file *txi = NULL;
    sdb_txcheck tc;
    sdb_buf buf;
    aht_check a = { .fd = -1 };
    uint64_t txi_n = 0, k = 0, nix = 0;
    int htfd = -1;
    uint64_t ht_size = 0, ht_off = 0;   /* htree file: its length, where the next block belongs */
    uint8_t *blk = NULL;
    cum cu = { 0 };
    uint64_t *posv = NULL;
    sdb_buf_init(&buf);
    if (sdb_txcheck_init(&tc)) return SEALDB_NOMEM;
    v->dir = dir;
    v->reported = 0;
    snprintf(txip, sizeof txip, "%s/txindex", dir);
    snprintf(ahp, sizeof ahp, "%s/ahtree", dir);
    snprintf(htp, sizeof htp, "%s/htree", dir);
    if ((rc = sdb_journal_open(dir, 1u << 20, &j))) { rc = fail(v, rc, 1, "journal/", "cannot list segments: %s", sealdb_strerror(rc)); goto done; }
    if ((rc = sdb_ahtree_open_mem(&mem))) goto done;
    {
        /* values below the truncation point are gone by design (truncate.c): not checked */
        uint64_t tp = 0, tdone = 0;
        if ((rc = sdb_trunc_load(dir, &tp, &tdone))) { rc = fail(v, rc, 1, "truncated", "the truncation point file is unreadable or damaged: %s", sealdb_strerror(rc)); goto done; }
        tc.values_kept_from = tp;
        if (tp > 1 && v->out) fprintf(v->out, "verify: %s: note: values of txs 1..%" PRIu64 " were discarded by truncation (headers, entries and trees checked)\n", dir, tp - 1);
    }
    if (sdb_file_open(txip, O_RDONLY, 0, &txi) == SEALDB_OK) {
        uint64_t sz = 0;
        if (sdb_file_size(txi, &sz) == SEALDB_OK) txi_n = sz / SDB_TXI_REC;
        uint8_t tb[SDB_TXI_REC];
        sdb_txi_rec tr;
        if (txi_n && sdb_file_read_at(txi, tb, sizeof tb, 0) == SEALDB_OK && sdb_txi_decode(tb, &tr) == SEALDB_UNSUPPORTED) {
            /* written by an older version: open rebuilds it (and the htree file) from the journal */
            if (v->out) fprintf(v->out, "verify: %s: note: %s has an older layout (rebuilt on next open)\n", dir, txip);
            sdb_file_close(txi);
            txi = NULL;
            txi_n = 0;
        }
    }
    a.fd = open(ahp, O_RDONLY | O_CLOEXEC);
    if (a.fd >= 0) {
        struct stat st;
        uint8_t hdr[32];
        if (fstat(a.fd, &st) < 0 || st.st_size < 32 || pread(a.fd, hdr, 32, 0) != 32 || memcmp(hdr, "SDBAHT\0\1", 8)) {
            if (st.st_size >= 32) { rc = fail(v, SEALDB_CORRUPT, 1, ahp, "bad file header"); goto done; }
            close(a.fd); a.fd = -1;
        } else a.fsize = (uint64_t)st.st_size;
    }
    htfd = open(htp, O_RDONLY | O_CLOEXEC);
    if (htfd >= 0) {
        struct stat st;
        if (fstat(htfd, &st) < 0) { close(htfd); htfd = -1; }
        else ht_size = (uint64_t)st.st_size;
    }
    if (!(blk = sdb_malloc((size_t)sdb_htree_block_len(1024)))) { rc = SEALDB_NOMEM; goto done; }
    sdb_hash alh = sdb_hash_empty;
    uint64_t pos = sdb_journal_first_pos(j);
    for (;;) {
        uint64_t room; int last;
        sdb_journal_room(j, pos, &room, &last);
        if (room < SDB_JREC_FRAME) {
            uint64_t nx = sdb_journal_next_seg(j, pos);
            if (nx == UINT64_MAX) break;
            pos = nx;
            continue;
        }
        sdb_journal_seg_name(j, pos, seg, sizeof seg);
        uint8_t fb[SDB_JREC_FRAME];
        if ((rc = sdb_journal_read(j, pos, fb, sizeof fb))) { rc = fail(v, rc, k + 1, seg, "read error"); goto done; }
        sdb_jframe fr;
        int frc = sdb_jrec_frame(fb, &fr);
        if (frc == SEALDB_NOTFOUND) {
            if (last) break;
            rc = fail(v, SEALDB_CORRUPT, k + 1, seg, "segment ends before the next one starts (offset %" PRIu64 ")", pos);
            goto done;
        }
        uint64_t rec_len = frc ? 0 : SDB_JREC_FRAME + (uint64_t)fr.meta_len + fr.vals_len;
        int bad = frc || rec_len > room;
        int trc = SEALDB_CORRUPT;
        if (!bad) {
            sdb_buf_reset(&buf);
            if ((rc = sdb_buf_reserve(&buf, (size_t)rec_len))) goto done;
            if ((rc = sdb_journal_read(j, pos, buf.ptr, (size_t)rec_len))) { rc = fail(v, rc, k + 1, seg, "read error"); goto done; }
            buf.len = (size_t)rec_len;
            trc = sdb_txcheck_record(&tc, sdb_buf_slice(&buf), k + 1, &alh);
            if (trc == SEALDB_NOMEM) { rc = trc; goto done; }
            bad = trc && tc.format_bad;
        }
        if (bad) {
            if (last && sdb_journal_is_torn(j, pos, room, rec_len)) {
                if (v->out) fprintf(v->out, "verify: %s: note: unacknowledged torn write after tx %" PRIu64 " (cut on next open)\n", dir, k);
                break;
            }
            rc = fail(v, SEALDB_CORRUPT, k + 1, seg, "record at offset %" PRIu64 " fails its checksum or format checks", pos);
            goto done;
        }
        uint64_t id = k + 1;
        if (trc) { rc = fail(v, trc, id, seg, "%s", tc.why); goto done; }
        const sdb_tx_header hdr = tc.hdr;
        const uint32_t n = tc.n;
        const sdb_jentry *je = tc.je;
        sdb_hash blr = sdb_hash_zero;
        if (hdr.bl_tx_id && (rc = sdb_ahtree_root_at(mem, hdr.bl_tx_id, blr.b))) goto done;
        if (memcmp(blr.b, hdr.bl_root.b, 32)) { rc = fail(v, SEALDB_TAMPERED, id, seg, "blRoot is not the Merkle root of txs 1..%" PRIu64, hdr.bl_tx_id); goto done; }
        sdb_hash na = tc.alh;
        if ((rc = sdb_ahtree_append(mem, na.b, NULL))) goto done;
        /* derived: tx index record */
        if (txi && id <= txi_n) {
            uint8_t tb[SDB_TXI_REC];
            sdb_txi_rec tr;
            if (sdb_file_read_at(txi, tb, sizeof tb, (id - 1) * SDB_TXI_REC) || sdb_txi_decode(tb, &tr) ||
                tr.pos != pos || tr.meta_len != fr.meta_len || tr.vals_len != fr.vals_len || tr.nentries != n ||
                memcmp(tr.alh.b, na.b, 32)) {
                rc = fail(v, SEALDB_TAMPERED, id, txip, "tx index record differs from the journal");
                goto done;
            }
        }
        if ((rc = aht_step(v, &a, id, &na, ahp))) goto done;
        /* derived: the htree block (every node but the root) against the rebuilt tree; a file that
         * merely ends early is behind (rebuilt on open) */
        uint64_t blen = sdb_htree_block_len(n);
        if (txi && id <= txi_n) {
            uint8_t tb[SDB_TXI_REC];
            sdb_txi_rec tr;
            if (sdb_file_read_at(txi, tb, sizeof tb, (id - 1) * SDB_TXI_REC) || sdb_txi_decode(tb, &tr) || tr.node_off != ht_off) {
                rc = fail(v, SEALDB_TAMPERED, id, txip, "tx index record places the htree block at the wrong offset");
                goto done;
            }
        }
        if (blen && htfd >= 0 && ht_off + blen <= ht_size) {
            if (pread(htfd, blk, (size_t)blen, (off_t)ht_off) != (ssize_t)blen) { rc = fail(v, SEALDB_IO, id, htp, "read error"); goto done; }
            if (memcmp(blk, tc.ht.nodes, (size_t)blen)) {
                rc = fail(v, SEALDB_TAMPERED, id, htp, "stored tree nodes differ from the recomputed ones");
                goto done;
            }
        }
        ht_off += blen;
        for (uint32_t i = 0; i < n; i++) {
            sdb_kv_md md;
            if (!sdb_kv_md_decode(je[i].md_bytes, &md) && !md.non_indexable) nix++;
        }
        if (cu.n == cu.cap) {
            uint64_t nc = cu.cap ? cu.cap * 2 : 4096;
            uint64_t *a1 = sdb_realloc(cu.v, nc * sizeof *a1);
            if (!a1) { rc = SEALDB_NOMEM; goto done; }
            cu.v = a1;
            uint64_t *a2 = sdb_realloc(posv, nc * sizeof *a2);
            if (!a2) { rc = SEALDB_NOMEM; goto done; }
            posv = a2;
            cu.cap = nc;
        }
        posv[cu.n] = pos;
        cu.v[cu.n++] = nix;
        alh = na;
        k = id;
        pos += rec_len;
    }
    if (txi_n > k) { rc = fail(v, SEALDB_CORRUPT, k + 1, txip, "tx index lists %" PRIu64 " txs, journal has %" PRIu64, txi_n, k); goto done; }
    if (htfd >= 0 && ht_size > ht_off && txi_n >= k && v->out)
        fprintf(v->out, "verify: %s: note: %s extends past the journal (cut on next open)\n", dir, htp);
    if (a.fd >= 0 && k && a.fsize > 32 + 32 * (3 * k - (uint64_t)__builtin_popcountll(k))) {
        /* more leaves than the journal: only an unsynced tail can explain it, and open cuts it */
        if (v->out) fprintf(v->out, "verify: %s: note: %s extends past the journal (cut on next open)\n", dir, ahp);
    }
    {
        /* a sync replica's committed point (discard.c): never past what the journal holds */
        uint64_t cpt = 0, keep = 0;
        int crc = sdb_committed_load(dir, &cpt);
        if (crc == SEALDB_CORRUPT || (crc == SEALDB_OK && cpt > k)) {
            rc = fail(v, SEALDB_CORRUPT, k, "committed", crc ? "the committed-point file is damaged"
                      : "the committed point %" PRIu64 " is past the last tx %" PRIu64, cpt, k);
            goto done;
        }
        if (crc == SEALDB_OK && v->out)
            fprintf(v->out, "verify: %s: note: sync replica, committed point tx %" PRIu64 "\n", dir, cpt);
        crc = sdb_discard_load(dir, &keep);
        if (crc == SEALDB_CORRUPT) { rc = fail(v, SEALDB_CORRUPT, k, "discard", "the discard marker file is damaged"); goto done; }
        if (crc == SEALDB_OK && keep < k && v->out)
            fprintf(v->out, "verify: %s: note: txs %" PRIu64 "..%" PRIu64 " are being discarded (done on next open)\n",
                    dir, keep + 1, k);
    }
    {
        char ixp[4200];
        snprintf(ixp, sizeof ixp, "%s/index", dir);
        if (is_dir(ixp) && (rc = verify_index(v, j, ixp, posv, k, cum_at, &cu))) goto done;
    }
    if (v->out) {
        char hex[65];
        sdb_hex_encode(alh.b, 32, hex);
        fprintf(v->out, "verify: %s: %" PRIu64 " transactions intact, last Alh %s\n", dir, k, hex);
    }
    rc = SEALDB_OK;
done:
    if (a.fd >= 0) close(a.fd);
    if (htfd >= 0) close(htfd);
    sdb_free(blk);
    sdb_file_close(txi);
    sdb_ahtree_close(mem);
    sdb_journal_close(j);
    sdb_txcheck_deinit(&tc);
    sdb_buf_deinit(&buf);
    sdb_free(cu.v);
    sdb_free(posv);
    if (rc && !v->reported) fail(v, rc, k + 1, dir, "%s", sealdb_strerror(rc));
    return rc;
}

static int has_journal(const char *dir) {
    char p[4200];
    if (strlen(dir) > 4096) return 0;
    snprintf(p, sizeof p, "%s/journal", dir);
    return is_dir(p);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int sdb_verify_dir(const char *dir, FILE *out) {
    vctx v = { out, dir, 0 };
    if (!dir || !is_dir(dir)) {
        if (out) fprintf(out, "verify: %s: not a directory\n", dir ? dir : "(null)");
        return SEALDB_NOTFOUND;
    }
    if (has_journal(dir)) return verify_db(&v, dir);
    DIR *d = opendir(dir);
    if (!d) return sdb_err_from_errno(errno);
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = SEALDB_OK;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char p[4400];
        if (strlen(dir) > 4096) continue;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        if (!is_dir(p) || !has_journal(p)) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            char **nn = sdb_realloc(names, cap * sizeof *nn);
            if (!nn) { rc = SEALDB_NOMEM; break; }
            names = nn;
        }
        if (!(names[n] = sdb_strdup(p))) { rc = SEALDB_NOMEM; break; }
        n++;
    }
    closedir(d);
    if (!rc && n == 0) {
        if (out) fprintf(out, "verify: %s: no database found (no journal/ here or in a subdirectory)\n", dir);
        rc = SEALDB_NOTFOUND;
    }
    if (n) qsort(names, n, sizeof *names, cmp_str);
    int first_bad = SEALDB_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        int r = verify_db(&v, names[i]);
        if (r && !first_bad) first_bad = r;
    }
    for (size_t i = 0; i < n; i++) sdb_free(names[i]);
    sdb_free(names);
    return rc ? rc : first_bad;
}
