/* store.c - one database directory: open and recovery, the group-committing committer thread,
 * published state, tx reads and proofs.
 *
 * Files in a database directory: journal/ (segments, durable truth), txindex (64 bytes per tx,
 * derived), ahtree (derived node file), htree (derived: each tx's htree nodes, for inclusion
 * proofs), index/ (LSM key index: runs + manifest, derived), LOCK.
 *
 * Commit: callers build the whole record (hashes, htree root) in sdb_engine_commit and queue it.
 * The committer takes the queue, assigns ids/ts/prevAlh/blTxId/blRoot, computes Alh, appends to the
 * ahtree and collects a group; the syncer thread, one group behind, writes the group's records with
 * one write, fdatasyncs once (sync on), writes the group's htree blocks and tx-index records (one
 * write each, never synced), then publishes (last_tx, Alh, journal end) and runs the callbacks.
 * A failed write or sync puts the engine in a failed state that keeps its cause (status and
 * errno text, logged); nothing unsynced was acknowledged, nor anything after it. The next commit
 * makes the committer recover in place (recover_failed: the unacknowledged tail cut as reopening
 * would) before writing again. docs/storage.md "Commit" and "Failure" have the flow.
 *
 * Recovery: trust the last tx-index record that matches its journal record (id and Alh), scan the
 * journal forward from there re-checking CRCs and the Alh chain, cut a torn tail in the last
 * segment (only if it looks like an interrupted write: see is_torn), refuse to open on anything
 * else, then bring the tx index, the ahtree and the htree node file up to the journal. */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "engine/engine_int.h"
#include "storage/crc32c.h"

#define HDR_LEN 128u   /* version-1 header with empty TxMetadata (docs/format.md 4.5) */
/* offsets inside the header */
#define H_ID 0
#define H_PREV 8
#define H_TS 40
#define H_VER 48
#define H_MDLEN 50
#define H_NENT 52
#define H_EH 56
#define H_BLID 88
#define H_BLROOT 96

static _Thread_local char open_err[512];
const char *sdb_engine_last_open_error(void) { return open_err; }
static void set_open_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void set_open_err(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(open_err, sizeof open_err, fmt, ap);
    va_end(ap);
}

void sdb_engine_opts_default(sdb_engine_opts *o) {
    memset(o, 0, sizeof *o);
    o->sync = 1;
    o->create = 1;
    o->segment_size = 64u << 20;
    o->max_entries = SDB_ENGINE_MAX_ENTRIES;
    o->max_key_len = SDB_ENGINE_MAX_KEY_LEN;
    o->max_value_len = SDB_ENGINE_MAX_VALUE_LEN;
}

const char *sdb_engine_dir(const sdb_engine *e) { return e->dir; }
int sdb_engine_status(sdb_engine *e) { return atomic_load(&e->failed) ? SEALDB_FAILED : SEALDB_OK; }
uint64_t sdb_engine_last_tx(sdb_engine *e) { return atomic_load_explicit(&e->last_tx, memory_order_acquire); }

int sdb_engine_state(sdb_engine *e, uint64_t *tx_id, uint8_t alh[SDB_HASH_LEN]) {
    pthread_mutex_lock(&e->state_mu);
    *tx_id = atomic_load_explicit(&e->last_tx, memory_order_relaxed);
    if (alh) memcpy(alh, e->last_alh.b, SDB_HASH_LEN);
    pthread_mutex_unlock(&e->state_mu);
    return SEALDB_OK;
}

/* ---- tx index ---- */

/* Every proof and header read starts here, so records below txi_len (written before they were
 * published, never rewritten while open) are read through a mapping instead of a pread each; the
 * htree node file likewise below ht_len. The mapping reserves a large range once (like the
 * ahtree's): the file grows under it and pages past the written length are never touched. Only
 * with the POSIX vfs; pread is the fallback (also for bytes past the reserved range). The first
 * try reserves 2^first bytes of address space, then 16x and 256x less. */
static const uint8_t *map_file(sdb_file *f, unsigned first, size_t *len) {
    if (sdb_vfs_default() != sdb_vfs_posix() || sizeof(size_t) < 8) return NULL;
    for (unsigned sh = first; sh + 8 >= first && sh >= 30; sh -= 4) {
        void *p = mmap(NULL, (size_t)1 << sh, PROT_READ, MAP_SHARED | MAP_NORESERVE, sdb_file_fd(f), 0);
        if (p == MAP_FAILED) continue;
        /* a file truncated under the map by someone reads as zeros (CRC and proof checks fail),
         * not SIGBUS; without a guard slot it is not mapped */
        if (sdb_mapguard_add(p, (size_t)1 << sh)) { munmap(p, (size_t)1 << sh); return NULL; }
        *len = (size_t)1 << sh;
        return p;
    }
    return NULL;
}

int sdb_engine_txi_get(sdb_engine *e, uint64_t id, sdb_txi_rec *out) {
    uint8_t b[SDB_TXI_REC];
    uint64_t off = (id - 1) * SDB_TXI_REC;
    if (e->txi_map && id > 0 && off + SDB_TXI_REC <= atomic_load_explicit(&e->txi_len, memory_order_acquire) &&
        off + SDB_TXI_REC <= e->txi_map_len)
        return sdb_txi_decode(e->txi_map + off, out);
    int rc = sdb_file_read_at(e->txi, b, sizeof b, off);
    if (rc) return rc;
    return sdb_txi_decode(b, out);
}

/* ---- tx reads ---- */

void sdb_tx_init(sdb_tx *t) { memset(t, 0, sizeof *t); }
void sdb_tx_deinit(sdb_tx *t) {
    if (!t) return;
    sdb_free(t->entries);
    sdb_buf_deinit(&t->raw_);
    memset(t, 0, sizeof *t);
}

/* Reads and decodes tx id's record (values too when with_values, checking their CRC and hashes). */
static int read_tx(sdb_engine *e, uint64_t id, int with_values, sdb_tx *out) {
    sdb_txi_rec r;
    sdb_jframe fr;
    sdb_jentry *je = NULL;
    uint32_t n = 0;
    int rc = sdb_engine_txi_get(e, id, &r);
    if (rc) return rc;
    if (with_values && (rc = sdb_engine_check_truncated(e, id, r.vals_len))) return rc;
    size_t need = SDB_JREC_FRAME + r.meta_len + (with_values ? (size_t)r.vals_len : 0);
    sdb_buf_reset(&out->raw_);
    if ((rc = sdb_buf_reserve(&out->raw_, need))) return rc;
    if ((rc = sdb_journal_read(e->j, r.pos, out->raw_.ptr, need))) return rc;
    out->raw_.len = need;
    if (!(je = sdb_malloc(1024 * sizeof *je))) return SEALDB_NOMEM;
    rc = sdb_jrec_decode(sdb_slice_of(out->raw_.ptr, need), &fr, &out->hdr, je, &n);
    if (rc) goto fail;
    if (out->hdr.id != id || fr.meta_len != r.meta_len || fr.vals_len != r.vals_len) { rc = SEALDB_CORRUPT; goto fail; }
    if (with_values &&
        sdb_crc32c(0, out->raw_.ptr + SDB_JREC_FRAME + fr.meta_len, (size_t)fr.vals_len) != fr.crc_vals) {
        /* a truncation that began after the check above zeroes the values under the read */
        rc = sdb_engine_check_truncated(e, id, fr.vals_len) ? SEALDB_TRUNCATED : SEALDB_CORRUPT;
        goto fail;
    }
    sdb_free(out->entries);
    if (!(out->entries = sdb_calloc(n, sizeof *out->entries))) { rc = SEALDB_NOMEM; goto fail; }
    const uint8_t *vals = out->raw_.ptr + SDB_JREC_FRAME + fr.meta_len;
    for (uint32_t i = 0; i < n; i++) {
        sdb_tx_entry *t = &out->entries[i];
        t->key = je[i].key;
        t->md_bytes = je[i].md_bytes;
        if (sdb_kv_md_decode(t->md_bytes, &t->md)) { rc = SEALDB_CORRUPT; goto fail; }
        memcpy(t->hvalue.b, je[i].hvalue, SDB_HASH_LEN);
        t->vlen = je[i].vlen;
        if (with_values) t->value = sdb_slice_of(vals + je[i].voff, je[i].vlen);
    }
    for (uint32_t i = 0; with_values && i < n; i += 2) {   /* values against their hashes, in pairs */
        const sdb_tx_entry *a = &out->entries[i], *b = i + 1 < n ? a + 1 : NULL;
        uint8_t ha[SDB_HASH_LEN], hb[SDB_HASH_LEN];
        if (b) sdb_sha256_x2(a->value.ptr, a->value.len, ha, b->value.ptr, b->value.len, hb);
        else sdb_sha256(a->value.ptr, a->value.len, ha);
        if (memcmp(ha, a->hvalue.b, SDB_HASH_LEN) || (b && memcmp(hb, b->hvalue.b, SDB_HASH_LEN))) {
            rc = SEALDB_TAMPERED;
            goto fail;
        }
    }
    out->nentries = n;
    out->alh = r.alh;
    out->has_values = with_values;
    sdb_free(je);
    return SEALDB_OK;
fail:
    sdb_free(je);
    return rc;
}

int sdb_engine_tx_read(sdb_engine *e, uint64_t id, int with_values, sdb_tx *out) {
    if (id == 0 || id > sdb_engine_last_tx(e)) return SEALDB_RANGE;
    return read_tx(e, id, with_values, out);
}

/* Header only: one pread of the frame and at most the largest header. */
static int read_header(sdb_engine *e, uint64_t id, sdb_tx_header *hdr, sdb_txi_rec *rec) {
    uint8_t b[SDB_JREC_FRAME + 400];
    int rc = sdb_engine_txi_get(e, id, rec);
    if (rc) return rc;
    size_t n = SDB_JREC_FRAME + (rec->meta_len < 400 ? rec->meta_len : 400);
    if ((rc = sdb_journal_read(e->j, rec->pos, b, n))) return rc;
    sdb_jframe fr;
    if ((rc = sdb_jrec_frame(b, &fr))) return SEALDB_CORRUPT;
    size_t used;
    if (sdb_tx_header_decode(sdb_slice_of(b + SDB_JREC_FRAME, n - SDB_JREC_FRAME), hdr, &used)) return SEALDB_CORRUPT;
    if (hdr->id != id) return SEALDB_CORRUPT;
    return SEALDB_OK;
}

int sdb_engine_tx_header(sdb_engine *e, uint64_t id, sdb_tx_header *hdr, uint8_t alh[SDB_HASH_LEN]) {
    if (id == 0 || id > sdb_engine_last_tx(e)) return SEALDB_RANGE;
    sdb_txi_rec r;
    int rc = read_header(e, id, hdr, &r);
    if (rc) return rc;
    if (alh) memcpy(alh, r.alh.b, SDB_HASH_LEN);
    return SEALDB_OK;
}

int sdb_engine_read_value(sdb_engine *e, uint64_t id, uint32_t entry_idx, sdb_buf *out) {
    sdb_tx t;
    sdb_tx_init(&t);
    int rc = sdb_engine_check_damaged(e, id);   /* found by the scrub (scrub.c) */
    if (!rc) rc = sdb_engine_tx_read(e, id, 0, &t);
    if (rc) goto done;
    if (entry_idx >= t.nentries) { rc = SEALDB_INVALID; goto done; }
    sdb_txi_rec r;
    if ((rc = sdb_engine_txi_get(e, id, &r))) goto done;
    uint64_t voff = 0;
    for (uint32_t i = 0; i < entry_idx; i++) voff += t.entries[i].vlen;
    uint32_t vlen = t.entries[entry_idx].vlen;
    if ((rc = sdb_engine_check_truncated(e, id, vlen))) goto done;
    size_t at = out->len;
    if ((rc = sdb_buf_reserve(out, vlen))) goto done;
    if (vlen && (rc = sdb_journal_read(e->j, r.pos + SDB_JREC_FRAME + r.meta_len + voff, out->ptr + at, vlen)))
        goto done;
    uint8_t h[SDB_HASH_LEN];
    sdb_sha256(out->ptr + at, vlen, h);
    if (memcmp(h, t.entries[entry_idx].hvalue.b, SDB_HASH_LEN)) {
        rc = sdb_engine_check_truncated(e, id, vlen) ? SEALDB_TRUNCATED : SEALDB_TAMPERED;
        goto done;
    }
    out->len = at + vlen;
done:
    sdb_tx_deinit(&t);
    return rc;
}

/* ---- proofs ---- */

static int src_header(void *ctx, uint64_t id, sdb_tx_header *out) {
    sdb_engine *e = ctx;
    sdb_txi_rec r;
    if (id == 0 || id > sdb_engine_last_tx(e)) return SEALDB_RANGE;
    return read_header(e, id, out, &r);
}
static int src_alh(void *ctx, uint64_t id, uint8_t out[SDB_HASH_LEN]) {
    sdb_engine *e = ctx;
    sdb_txi_rec r;
    if (id == 0 || id > sdb_engine_last_tx(e)) return SEALDB_RANGE;
    int rc = sdb_engine_txi_get(e, id, &r);
    if (rc) return rc;
    memcpy(out, r.alh.b, SDB_HASH_LEN);
    return SEALDB_OK;
}
void sdb_engine_tx_source(sdb_engine *e, sdb_tx_source *out) {
    out->ctx = e;
    out->header = src_header;
    out->alh = src_alh;
}

/* Builds tx id's htree from its journal record into t (reads the entries: one pread); the tx
 * header comes back in *hdr. No range check: recovery uses it before anything is published. */
static int build_htree(sdb_engine *e, uint64_t id, sdb_htree *t, sdb_tx_header *hdr) {
    sdb_tx tx;
    sdb_hash *d = NULL;
    sdb_tx_init(&tx);
    int rc = read_tx(e, id, 0, &tx);
    if (rc) goto done;
    if (!(d = sdb_malloc(tx.nentries * sizeof *d))) { rc = SEALDB_NOMEM; goto done; }
    for (uint32_t i = 0; i < tx.nentries; i++) {
        rc = sdb_entry_digest(tx.hdr.version, tx.entries[i].key, tx.entries[i].md_bytes, tx.entries[i].hvalue.b, d[i].b);
        if (rc) goto done;
    }
    rc = sdb_htree_build(t, d, tx.nentries);
    *hdr = tx.hdr;
done:
    sdb_free(d);
    sdb_tx_deinit(&tx);
    return rc;
}

/* Node idx (level-major) of the block at off: from the mapping when given, else one pread. */
static int ht_node(sdb_engine *e, const uint8_t *blk, uint64_t off, uint64_t idx, uint8_t out[SDB_HASH_LEN]) {
    if (blk) { memcpy(out, blk + idx * SDB_HASH_LEN, SDB_HASH_LEN); return SEALDB_OK; }
    return sdb_file_read_at(e->htf, out, SDB_HASH_LEN, off + idx * SDB_HASH_LEN);
}

/* Inclusion proof of entry idx of tx r (n >= 2) from its stored block: reads the leaf, the
 * siblings on its path and the path's stored nodes, and checks each path node against its two
 * stored children (the root, not stored, is eh), so a damaged node file
 * gives SEALDB_TAMPERED here, never a wrong proof. The levels are checked apart, not as one chain
 * from the leaf up, so their hashes run two at a time (half the latency of the chain). */
static int proof_from_nodes(sdb_engine *e, const sdb_txi_rec *r, uint32_t idx, const uint8_t eh[SDB_HASH_LEN],
                            sdb_hashes *terms) {
    enum { LEVELS = 40 };
    uint64_t blen = sdb_htree_block_len(r->nentries);
    uint64_t len = atomic_load_explicit(&e->ht_len, memory_order_acquire);
    if (r->node_off > len || blen > len - r->node_off) return SEALDB_CORRUPT;
    const uint8_t *blk = e->ht_map && r->node_off + blen <= e->ht_map_len ? e->ht_map + r->node_off : NULL;
    if (blk) {
        /* every node the checks read is known from idx: touch them all first so their cache (or
         * page) misses overlap instead of coming one after the other */
        uint64_t lo = 0;
        for (uint32_t pl = r->nentries, j = idx; pl > 1; lo += pl, pl = (pl + 1) / 2, j >>= 1) {
            __builtin_prefetch(blk + (lo + j) * SDB_HASH_LEN);
            if ((j ^ 1u) < pl) __builtin_prefetch(blk + (lo + (j ^ 1u)) * SDB_HASH_LEN);
        }
    }
    /* per level with a sibling: left child, right child, stored parent; a node without a sibling
     * is promoted, so its stored parent must equal it */
    uint8_t lr[LEVELS][2][SDB_HASH_LEN], par[LEVELS][SDB_HASH_LEN], node[SDB_HASH_LEN];
    unsigned npairs = 0;
    int rc = ht_node(e, blk, r->node_off, idx, node);
    if (rc) return rc;
    terms->n = 0;
    uint64_t loff = 0;
    uint32_t i = idx;
    for (uint32_t plen = r->nentries; plen > 1; plen = (plen + 1) / 2) {
        uint32_t s = i ^ 1u;
        uint8_t up[SDB_HASH_LEN];   /* the root is not stored: it is eh */
        if (plen <= 2) memcpy(up, eh, SDB_HASH_LEN);
        else if ((rc = ht_node(e, blk, r->node_off, loff + plen + (i >> 1), up))) return rc;
        if (s < plen) {
            if (npairs == LEVELS) return SEALDB_CORRUPT;
            uint8_t *sib = lr[npairs][(i & 1) ? 0 : 1];
            memcpy(lr[npairs][(i & 1) ? 1 : 0], node, SDB_HASH_LEN);
            if ((rc = ht_node(e, blk, r->node_off, loff + s, sib))) return rc;
            if ((rc = sdb_hashes_push(terms, sib))) return rc;
            memcpy(par[npairs++], up, SDB_HASH_LEN);
        } else if (memcmp(up, node, SDB_HASH_LEN)) {
            return SEALDB_TAMPERED;
        }
        memcpy(node, up, SDB_HASH_LEN);
        loff += plen;
        i >>= 1;
    }
    uint8_t h0[SDB_HASH_LEN], h1[SDB_HASH_LEN];
    unsigned k = 0;
    for (; k + 1 < npairs; k += 2) {
        sdb_hash_node_x2(lr[k][0], lr[k][1], h0, lr[k + 1][0], lr[k + 1][1], h1);
        if (memcmp(h0, par[k], SDB_HASH_LEN) || memcmp(h1, par[k + 1], SDB_HASH_LEN)) return SEALDB_TAMPERED;
    }
    if (k < npairs) {
        sdb_hash_node(lr[k][0], lr[k][1], h0);
        if (memcmp(h0, par[k], SDB_HASH_LEN)) return SEALDB_TAMPERED;
    }
    return SEALDB_OK;
}

int sdb_engine_inclusion_proof(sdb_engine *e, uint64_t id, uint32_t entry_idx, const uint8_t eh_in[SDB_HASH_LEN],
                               sdb_hashes *terms, uint32_t *width) {
    if (id == 0 || id > sdb_engine_last_tx(e)) return SEALDB_RANGE;
    sdb_txi_rec r;
    sdb_tx_header hdr;
    uint8_t eh[SDB_HASH_LEN];
    int rc = sdb_engine_txi_get(e, id, &r);
    if (rc) return rc;
    if (eh_in) memcpy(eh, eh_in, SDB_HASH_LEN);
    else if ((rc = read_header(e, id, &hdr, &r))) return rc;
    else memcpy(eh, hdr.eh.b, SDB_HASH_LEN);
    if (entry_idx < r.nentries) {
        if (r.nentries == 1) { terms->n = 0; *width = 1; return SEALDB_OK; }
        rc = proof_from_nodes(e, &r, entry_idx, eh, terms);
        if (rc == SEALDB_OK || rc == SEALDB_NOMEM) {
            if (!rc) *width = r.nentries;
            return rc;
        }
    }
    /* the stored nodes disagree with eH (a damaged derived file), or the index record does: build
     * this one tx's tree from the journal, which must give eH */
    atomic_fetch_add_explicit(&e->ht_fallbacks, 1, memory_order_relaxed);
    sdb_htree t;
    sdb_htree_init(&t);
    rc = build_htree(e, id, &t, &hdr);
    if (!rc) {
        uint8_t root[SDB_HASH_LEN];
        sdb_htree_root(&t, root);
        if (memcmp(root, eh, SDB_HASH_LEN)) rc = SEALDB_TAMPERED;
        else if (entry_idx >= t.width) rc = SEALDB_INVALID;
        else if (!(rc = sdb_htree_proof(&t, entry_idx, terms))) *width = t.width;
    }
    sdb_htree_deinit(&t);
    return rc;
}

int sdb_engine_dual_proof(sdb_engine *e, uint64_t s, uint64_t t, sdb_dual_proof *out) {
    uint64_t last = sdb_engine_last_tx(e);
    if (s == 0 || s > t || t > last) return SEALDB_RANGE;
    sdb_tx_source src;
    sdb_engine_tx_source(e, &src);
    return sdb_dual_proof_build(&src, e->aht, s, t, out);
}

int sdb_engine_dual_proof_v2(sdb_engine *e, uint64_t s, uint64_t t, sdb_dual_proof_v2 *out) {
    uint64_t last = sdb_engine_last_tx(e);
    if (s == 0 || s > t || t > last) return SEALDB_RANGE;
    sdb_tx_source src;
    sdb_engine_tx_source(e, &src);
    return sdb_dual_proof_v2_build(&src, e->aht, s, t, out);
}

/* ---- commit: caller side ---- */

static void ptx_free(sdb_ptx *p) {
    if (!p) return;
    sdb_free(p->rec);
    sdb_htree_deinit(&p->ht);
    sdb_free(p->ids);
    sdb_free(p->pre);
    sdb_free(p->prebuf);
    sdb_free(p);
}

/* SEALDB_EXISTS when two of the n keys are equal: an open-addressing table of entry numbers + 1
 * (slots: a power of two >= 2n, zeroed). Sorting the keys for this was ~10% of batched-write CPU. */
static int keys_distinct(const sdb_kv *kvs, size_t n, uint32_t *slots, size_t nslots) {
    for (size_t i = 0; i < n; i++) {
        const sdb_slice k = kvs[i].key;
        size_t j = (size_t)sdb_hash64(k.ptr, k.len) & (nslots - 1);
        for (; slots[j]; j = (j + 1) & (nslots - 1)) {
            sdb_slice o = kvs[slots[j] - 1].key;
            if (o.len == k.len && !memcmp(o.ptr, k.ptr, k.len)) return SEALDB_EXISTS;
        }
        slots[j] = (uint32_t)i + 1;
    }
    return SEALDB_OK;
}

static void wake_committer(sdb_engine *e) {
    pthread_mutex_lock(&e->q_mu);
    pthread_cond_signal(&e->q_cv);
    pthread_mutex_unlock(&e->q_mu);
}

/* sdb_engine_defer_wake: this thread's commits to defer_e wake the committer at the end of the run */
static _Thread_local sdb_engine *defer_e;
static _Thread_local int defer_owed;

void sdb_engine_defer_wake(sdb_engine *e, int on) {
    if (on) { defer_e = e; defer_owed = 0; return; }
    if (defer_e == e && defer_owed) wake_committer(e);
    defer_e = NULL;
    defer_owed = 0;
}

/* Builds and queues a tx. rep: the header of a replicated tx (its own id, ts, version, metadata,
 * blTxId; eH checked here unless skip_eh, the chain by the committer), else NULL. */
static int commit_prepare(sdb_engine *e, const sdb_kv *kvs, size_t n, const sdb_precondition *pre, size_t npre,
                          sdb_commit_cb cb, void *arg, const sdb_tx_header *rep, int skip_eh,
                          const uint8_t *rep_alh, int *why) {
    if (!e || !cb || (n && !kvs) || (npre && !pre)) return SEALDB_INVALID;
    if (n == 0) return SEALDB_INVALID;
    if (n > e->opts.max_entries) return SEALDB_TOOLARGE;
    int rc = SEALDB_NOMEM;
    sdb_ptx *p = NULL;
    sdb_hash *dig = NULL;
    sdb_htree ht;
    sdb_htree_init(&ht);
    uint16_t dver = rep ? rep->version : 1;
    sdb_buf rh;   /* a replicated tx's encoded header (its length depends on version and metadata) */
    sdb_buf_init(&rh);
    if (rep) {
        if (rep->version > 1) return SEALDB_UNSUPPORTED;
        if (rep->nentries != n || rep->id < 1 || rep->bl_tx_id >= rep->id || npre) return SEALDB_INVALID;
        if ((rc = sdb_tx_header_encode(rep, &rh))) return rc;
        rc = SEALDB_NOMEM;
    }
    uint64_t meta = rep ? rh.len : HDR_LEN, vals = 0;
    size_t nids = 0;
    uint8_t mdb[SDB_KV_MD_MAX_LEN];
    for (size_t i = 0; i < n; i++) {
        if (kvs[i].key.len == 0 || (kvs[i].key.len && !kvs[i].key.ptr)) { rc = SEALDB_INVALID; goto fail; }
        if (kvs[i].key.len > e->opts.max_key_len) { rc = SEALDB_TOOLARGE; goto fail; }
        if (kvs[i].value.len >= e->opts.max_value_len) { rc = SEALDB_TOOLARGE; goto fail; }
        if (kvs[i].value.len && !kvs[i].value.ptr) { rc = SEALDB_INVALID; goto fail; }
        if (rep && (kvs[i].own_id_key_at || kvs[i].own_id_value_at)) { rc = SEALDB_INVALID; goto fail; }
        if ((kvs[i].own_id_key_at && (uint64_t)kvs[i].own_id_key_at + 7 > kvs[i].key.len) ||
            (kvs[i].own_id_value_at && (uint64_t)kvs[i].own_id_value_at + 7 > kvs[i].value.len))
            { rc = SEALDB_INVALID; goto fail; }
        nids += (kvs[i].own_id_key_at != 0) + (kvs[i].own_id_value_at != 0);
        size_t ml = sdb_kv_md_encode(&kvs[i].md, mdb);
        meta += 2 + kvs[i].key.len + 1 + ml + 4 + SDB_HASH_LEN;
        vals += kvs[i].value.len;
    }
    for (size_t i = 0; i < npre; i++) {
        if (pre[i].kind < SDB_PRE_KEY_MUST_EXIST || pre[i].kind > SDB_PRE_KEY_NOT_MODIFIED_AFTER) { rc = SEALDB_INVALID; goto fail; }
        if (pre[i].key.len == 0 || pre[i].key.len > e->opts.max_key_len) { rc = SEALDB_INVALID; goto fail; }
    }
    if (n > 1) {
        uint32_t small[512];
        size_t ns = 4;
        while (ns < 2 * n) ns <<= 1;
        uint32_t *slots = ns <= 512 ? small : sdb_malloc(ns * sizeof *slots);
        if (!slots) goto fail;
        memset(slots, 0, ns * sizeof *slots);
        rc = keys_distinct(kvs, n, slots, ns);
        if (slots != small) sdb_free(slots);
        if (rc) goto fail;
        rc = SEALDB_NOMEM;
    }

    if (!(p = sdb_calloc(1, sizeof *p))) goto fail;
    p->meta_len = (uint32_t)meta;
    p->vals_len = vals;
    p->nentries = (uint32_t)n;
    p->rec_len = SDB_JREC_FRAME + (size_t)meta + (size_t)vals;
    p->nodes_len = sdb_htree_block_len((uint32_t)n);
    if (!(p->rec = sdb_malloc(p->rec_len))) goto fail;
    if (!(dig = sdb_malloc(n * sizeof *dig))) goto fail;
    if (nids && !(p->ids = sdb_malloc(nids * sizeof *p->ids))) goto fail;
    uint8_t *r = p->rec;
    sdb_put_u32be(r, SDB_JREC_MAGIC);
    sdb_put_u32be(r + 8, p->meta_len);
    sdb_put_u64be(r + 16, vals);
    uint8_t *h = r + SDB_JREC_FRAME;
    if (rep) {
        memcpy(h, rh.ptr, rh.len);   /* eH is rewritten below, once computed */
    } else {
        memset(h, 0, HDR_LEN);
        sdb_put_u16be(h + H_VER, 1);
        sdb_put_u16be(h + H_MDLEN, 0);
        sdb_put_u32be(h + H_NENT, (uint32_t)n);
    }
    uint8_t *w = h + (rep ? rh.len : HDR_LEN);
    uint8_t *v = r + SDB_JREC_FRAME + meta;
    p->ents_off = (uint32_t)(w - r);
    /* each value's hash and each entry's digest go in pairs of entries (two SHA-256 streams
     * interleave): the previous entry's key, md and hash slot wait in these */
    sdb_slice pkey = { 0 }, pmd = { 0 };
    uint8_t *phv = NULL;
    for (size_t i = 0; i < n; i++) {
        const sdb_kv *kv = &kvs[i];
        size_t ml = sdb_kv_md_encode(&kv->md, mdb);
        sdb_put_u16be(w, (uint16_t)kv->key.len); w += 2;
        memcpy(w, kv->key.ptr, kv->key.len);
        uint32_t ent = (uint32_t)(w - 2 - r), vo = (uint32_t)(v - r);
        if (kv->own_id_key_at) p->ids[p->nids++] = (sdb_idslot){ ent + 2 + kv->own_id_key_at - 1, ent, vo, (uint32_t)i, 0 };
        if (kv->own_id_value_at) p->ids[p->nids++] = (sdb_idslot){ vo + kv->own_id_value_at - 1, ent, vo, (uint32_t)i, 1 };
        sdb_slice key = sdb_slice_of(w, kv->key.len);
        w += kv->key.len;
        *w++ = (uint8_t)ml;
        memcpy(w, mdb, ml);
        sdb_slice mds = sdb_slice_of(w, ml);
        w += ml;
        sdb_put_u32be(w, (uint32_t)kv->value.len); w += 4;
        if (i & 1) {
            sdb_sha256_x2(kvs[i - 1].value.ptr, kvs[i - 1].value.len, phv, kv->value.ptr, kv->value.len, w);
            if ((rc = sdb_entry_digest_x2(dver, pkey, pmd, phv, dig[i - 1].b, key, mds, w, dig[i].b))) goto fail;
        } else if (i + 1 == n) {
            sdb_sha256(kv->value.ptr, kv->value.len, w);
            if ((rc = sdb_entry_digest(dver, key, mds, w, dig[i].b))) goto fail;
        } else {
            pkey = key;
            pmd = mds;
            phv = w;
        }
        w += SDB_HASH_LEN;
        if (kv->value.len) memcpy(v, kv->value.ptr, kv->value.len);
        v += kv->value.len;
    }
    if ((rc = sdb_htree_build(&ht, dig, (uint32_t)n))) goto fail;
    sdb_htree_root(&ht, p->eh.b);
    if (rep) {
        /* the primary's eH must be the entries' (an export with skipIntegrityCheck sends zeros:
         * then only the chain checks the entries); the stored header always holds the real one */
        if (!skip_eh && memcmp(rep->eh.b, p->eh.b, SDB_HASH_LEN) != 0) {
            if (why) *why = SDB_REPL_BAD_EH;
            rc = SEALDB_TAMPERED;
            goto fail;
        }
        p->rep = 1;
        p->rep_hdr = *rep;
        p->rep_hdr.eh = p->eh;
        sdb_buf_reset(&rh);
        if ((rc = sdb_tx_header_encode(&p->rep_hdr, &rh))) goto fail;
        memcpy(h, rh.ptr, rh.len);
        if (rep_alh) { p->rep_has_alh = 1; memcpy(p->rep_alh.b, rep_alh, SDB_HASH_LEN); }
    } else {
        memcpy(h + H_EH, p->eh.b, SDB_HASH_LEN);
    }
    /* the built tree, taken over without a copy: the first nodes_len bytes of its nodes (every node
     * but the root, level-major) are what the htree file stores for this tx, and the committer
     * updates the leaves holding own-id slots in it */
    p->ht = ht;
    sdb_htree_init(&ht);
    sdb_put_u32be(r + 12, sdb_crc32c(0, r + SDB_JREC_FRAME + meta, (size_t)vals));
    sdb_free(dig); dig = NULL;
    sdb_htree_deinit(&ht);

    if (npre) {
        size_t tot = 0;
        for (size_t i = 0; i < npre; i++) tot += pre[i].key.len;
        if (!(p->pre = sdb_malloc(npre * sizeof *p->pre)) || !(p->prebuf = sdb_malloc(tot ? tot : 1))) { rc = SEALDB_NOMEM; goto fail; }
        size_t at = 0;
        for (size_t i = 0; i < npre; i++) {
            p->pre[i] = pre[i];
            if (pre[i].key.len) memcpy(p->prebuf + at, pre[i].key.ptr, pre[i].key.len);
            p->pre[i].key = sdb_slice_of(p->prebuf + at, pre[i].key.len);
            at += pre[i].key.len;
        }
        p->npre = npre;
    }
    p->cb = cb;
    p->arg = arg;

    /* a failed engine still queues: the committer recovers it first (recover_failed) */
    if (atomic_load(&e->stopping)) { rc = SEALDB_CLOSED; goto fail; }
    sdb_ptx *top = atomic_load_explicit(&e->q_top, memory_order_relaxed);
    do p->next = top;
    while (!atomic_compare_exchange_weak_explicit(&e->q_top, &top, p, memory_order_release, memory_order_relaxed));
    if (!top) {
        /* the committer may be asleep on an empty queue: it checks q_top under q_mu */
        if (defer_e == e) defer_owed = 1;
        else wake_committer(e);
    }
    sdb_buf_deinit(&rh);
    return SEALDB_OK;
fail:
    sdb_free(dig);
    sdb_htree_deinit(&ht);
    sdb_buf_deinit(&rh);
    ptx_free(p);
    return rc;
}

int sdb_engine_commit(sdb_engine *e, const sdb_kv *kvs, size_t n,
                      const sdb_precondition *pre, size_t npre, sdb_commit_cb cb, void *arg) {
    return commit_prepare(e, kvs, n, pre, npre, cb, arg, NULL, 0, NULL, NULL);
}

int sdb_engine_commit_replicated(sdb_engine *e, const sdb_tx_header *hdr, const sdb_kv *kvs, size_t n,
                                 int skip_eh, const uint8_t *expect_alh, sdb_commit_cb cb, void *arg, int *why) {
    int w = SDB_REPL_OK;
    if (!hdr) return SEALDB_INVALID;
    int rc = commit_prepare(e, kvs, n, NULL, 0, cb, arg, hdr, skip_eh, expect_alh, &w);
    if (why) *why = w;
    return rc;
}

/* A blocking commit waits on one futex word of its own: the completion is a store and one
 * FUTEX_WAKE, and the woken caller never has to take a lock the completer still holds (with a
 * mutex and condvar it often did, costing a second sleep and wake per tx). */
typedef struct {
    atomic_uint done;
    int rc;
    size_t failed_pre;
    sdb_commit_result res;
} sync_wait;

static void sync_cb(void *arg, int rc, const sdb_commit_result *res, size_t failed_pre) {
    sync_wait *w = arg;
    w->rc = rc;
    w->failed_pre = failed_pre;
    if (res) w->res = *res;
    atomic_store_explicit(&w->done, 1, memory_order_release);
    /* w may already be gone (the caller saw done without sleeping): a wake of a dead address
     * wakes nobody, or at worst causes a spurious wake-up, which every futex waiter tolerates */
    syscall(SYS_futex, &w->done, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

int sdb_engine_commit_replicated_sync(sdb_engine *e, const sdb_tx_header *hdr, const sdb_kv *kvs, size_t n,
                                      int skip_eh, const uint8_t *expect_alh, sdb_commit_result *res, int *why) {
    sync_wait w;
    memset(&w, 0, sizeof w);
    atomic_init(&w.done, 0);
    int wy = SDB_REPL_OK;
    int rc = sdb_engine_commit_replicated(e, hdr, kvs, n, skip_eh, expect_alh, sync_cb, &w, &wy);
    if (rc == SEALDB_OK) {
        while (!atomic_load_explicit(&w.done, memory_order_acquire))
            syscall(SYS_futex, &w.done, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
        rc = w.rc;
        if (rc == SEALDB_OK && res) *res = w.res;
        if (rc != SEALDB_OK) wy = (int)w.failed_pre;
    }
    if (why) *why = wy;
    return rc;
}

int sdb_engine_commit_sync(sdb_engine *e, const sdb_kv *kvs, size_t n,
                           const sdb_precondition *pre, size_t npre,
                           sdb_commit_result *res, size_t *failed_pre) {
    sync_wait w;
    memset(&w, 0, sizeof w);
    atomic_init(&w.done, 0);
    int rc = sdb_engine_commit(e, kvs, n, pre, npre, sync_cb, &w);
    if (rc == SEALDB_OK) {
        while (!atomic_load_explicit(&w.done, memory_order_acquire))
            syscall(SYS_futex, &w.done, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
        rc = w.rc;
        if (rc == SEALDB_OK && res) *res = w.res;
        if (rc == SEALDB_PRECONDITION && failed_pre) *failed_pre = w.failed_pre;
    }
    return rc;
}

/* ---- commit: the committer and the syncer ---- */

static void (*_Atomic log_fn)(const char *line);
void sdb_engine_set_log(void (*fn)(const char *line)) { atomic_store(&log_fn, fn); }
static void elog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void elog(const char *fmt, ...) {
    void (*fn)(const char *) = atomic_load(&log_fn);
    if (!fn) return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fn(line);
}

/* Enters the failed state (first failure wins) and keeps its cause: `what` failed with rc, and
 * the errno the file layer saw on this thread (callers clear it before the step they name). */
static void set_cause(sdb_engine *e, int rc, const char *what) {
    int en = sdb_last_errno();
    if (rc == SEALDB_NOTFOUND) rc = SEALDB_IO;   /* a vanished directory is no "key not found" */
    pthread_mutex_lock(&e->state_mu);
    e->fail_rc = rc;
    if (en) snprintf(e->fail_msg, sizeof e->fail_msg, "%s: %s", what, strerror(en));
    else snprintf(e->fail_msg, sizeof e->fail_msg, "%s: %s", what, sealdb_strerror(rc));
    /* a full disk meets every write: one line per cause and per 10 s is enough */
    uint64_t now = sdb_now_ns();
    int say = strcmp(e->fail_msg, e->fail_logged) || now - e->fail_log_ns > 10000000000ull;
    if (say) { memcpy(e->fail_logged, e->fail_msg, sizeof e->fail_logged); e->fail_log_ns = now; }
    pthread_mutex_unlock(&e->state_mu);
    if (say) elog("database %s: write failed (%s); writes are refused until it recovers, tried on each write",
                  e->dir, e->fail_msg);
}

static void set_failed(sdb_engine *e, int rc, const char *what) {
    int was = 0;
    if (atomic_compare_exchange_strong(&e->failed, &was, 1)) set_cause(e, rc, what);
}

/* The status the txs caught by a failure get: the failing call's (SEALDB_NOSPACE, ...), so every
 * caller learns the cause, not only the one whose group hit it. */
static int fail_status(sdb_engine *e) {
    pthread_mutex_lock(&e->state_mu);
    int rc = e->fail_rc ? e->fail_rc : SEALDB_FAILED;
    pthread_mutex_unlock(&e->state_mu);
    return rc;
}

int sdb_engine_fail_reason(sdb_engine *e, char *buf, size_t cap) {
    pthread_mutex_lock(&e->state_mu);
    int rc = atomic_load(&e->failed) ? (e->fail_rc ? e->fail_rc : SEALDB_FAILED) : SEALDB_OK;
    if (cap) snprintf(buf, cap, "%s", rc ? e->fail_msg : "");
    pthread_mutex_unlock(&e->state_mu);
    return rc;
}

/* Syncer: writes, syncs and publishes group g, then empties it. Returns the status its txs get
 * (SEALDB_OK, or the cause of this or an earlier failure: fail_status). Groups
 * reach it in id order, and a failure is sticky before the next group is looked at, so nothing
 * after a failed write or sync is ever published. */
static int finish_group(sdb_engine *e, sdb_cgroup *g) {
    int rc = atomic_load(&e->failed) ? SEALDB_FAILED : SEALDB_OK;
    const char *what = "";
    sdb_clear_errno();
    if (!rc && g->rec.len && (rc = sdb_journal_write(e->j, g->head->pos, g->rec.ptr, g->rec.len)))
        what = "writing the journal";
    if (!rc && e->opts.sync && (rc = sdb_journal_sync(e->j))) what = "syncing the journal";
    /* derived files, never synced here: the htree blocks before the tx-index records that point
     * at them, both before the txs are published */
    if (!rc && g->ht.len && (rc = sdb_file_write_at(e->htf, g->ht.ptr, g->ht.len, g->ht_end - g->ht.len)))
        what = "writing the htree node file";
    if (!rc && g->ht.len) atomic_store_explicit(&e->ht_len, g->ht_end, memory_order_release);
    if (!rc && g->txi.len &&
        (rc = sdb_file_write_at(e->txi, g->txi.ptr, g->txi.len, (g->first_id - 1) * SDB_TXI_REC)))
        what = "writing the tx index";
    if (!rc && g->txi.len)
        atomic_store_explicit(&e->txi_len, (g->first_id - 1 + g->ntx) * SDB_TXI_REC, memory_order_release);
    if (rc) {
        if (rc != SEALDB_FAILED) set_failed(e, rc, what);
        rc = fail_status(e);
    } else {
        pthread_mutex_lock(&e->state_mu);
        e->last_alh = g->alh;
        e->pub_end = g->end;
        atomic_store_explicit(&e->last_tx, g->first_id + g->ntx - 1, memory_order_release);
        pthread_mutex_unlock(&e->state_mu);
        /* indexed before answered: a read after the write's answer finds it (indexed == published) */
        if (g->ntx)
            sdb_engine_index_published(e, g->first_id, g->first_id + g->ntx - 1, g->rec.ptr, g->rec.len, g->head->pos);
    }
    sdb_buf_reset(&g->rec);
    sdb_buf_reset(&g->txi);
    sdb_buf_reset(&g->ht);
    g->ntx = 0;
    return rc;
}

/* Answers every tx of list with rc (results only on success) and frees them. */
static void complete_list(sdb_engine *e, sdb_ptx *list, int rc) {
    for (sdb_ptx *p = list; p;) {
        sdb_ptx *next = p->next;
        /* a sync primary holds the answer until replicas have the tx (gate.c) */
        if (!rc && !p->rep) sdb_gate_answer(e, p->cb, p->arg, &p->res);
        else p->cb(p->arg, rc, rc ? NULL : &p->res, 0);
        ptx_free(p);
        p = next;
    }
}

/* The syncer thread: takes one group at a time from the committer. It answers the group's txs
 * before taking the next group: the next fdatasync could not start earlier anyway (same thread),
 * and meanwhile the committer keeps adding the answered callers' next txs to that next group, so
 * groups stay large (releasing the group before answering would seal the next group before the
 * answered callers could join it: smaller groups, more fdatasyncs). */
static void *syncer_main(void *arg) {
    sdb_thread_name("sdb-syncer");
    sdb_engine *e = arg;
    pthread_mutex_lock(&e->q_mu);
    for (;;) {
        while (!e->sy_g && !e->sy_stop) pthread_cond_wait(&e->sy_cv, &e->q_mu);
        sdb_cgroup *g = e->sy_g;
        if (!g) break;
        pthread_mutex_unlock(&e->q_mu);
        sdb_ptx *list = g->head;
        int rc = finish_group(e, g);
        g->head = g->tail = NULL;
        if (!rc) sdb_gate_published(e);
        complete_list(e, list, rc);
        pthread_mutex_lock(&e->q_mu);
        e->sy_g = NULL;
        pthread_cond_signal(&e->q_cv);
    }
    pthread_mutex_unlock(&e->q_mu);
    return NULL;
}

static sdb_cgroup *other_group(sdb_engine *e, sdb_cgroup *g) { return g == &e->grp[0] ? &e->grp[1] : &e->grp[0]; }

/* Committer: waits until the syncer is idle, hands it g when g holds txs, and with drain also
 * waits until that group is published (or failed). Returns the (empty) group to fill next. */
static sdb_cgroup *hand_off(sdb_engine *e, sdb_cgroup *g, int drain) {
    pthread_mutex_lock(&e->q_mu);
    while (e->sy_g) pthread_cond_wait(&e->q_cv, &e->q_mu);
    if (g->ntx) {
        e->sy_g = g;
        pthread_cond_signal(&e->sy_cv);
        g = other_group(e, g);
        if (drain) while (e->sy_g) pthread_cond_wait(&e->q_cv, &e->q_mu);
    }
    pthread_mutex_unlock(&e->q_mu);
    return g;
}

/* 1 (and *bad) when p's preconditions fail without draining the syncer: checked in order as the
 * slow path does, until one fails (1) or one cannot be decided here (0). A KeyMustExist on a key
 * that pending_keys says no tx since `from` wrote is decided by the index alone, once the index
 * covers every tx before `from` (read first: it only grows). A refusal stays true even if earlier
 * txs fail later: without them the key is still absent. Pipelined writers whose calls overtake each
 * other (sealdb-cdc) were refused only after a group's fdatasync and the indexing behind it. */
static int refuse_early(sdb_engine *e, const sdb_ptx *p, size_t *bad) {
    const sdb_pkeys *t = &e->pending_keys;
    if (!t->from || atomic_load(&e->failed) || atomic_load(&e->indexed) + 1 < t->from) return 0;
    for (size_t i = 0; i < p->npre; i++) {
        const sdb_precondition *c = &p->pre[i];
        if (c->kind != SDB_PRE_KEY_MUST_EXIST) return 0;
        if (sdb_pkeys_all_exist(t, c, 1)) continue;          /* written live since: holds */
        if (!sdb_pkeys_absent(t, c->key)) return 0;          /* deleted/expiring since: slow path */
        size_t f;
        int rc = sdb_engine_index_check_pre(e, c, 1, &f);
        if (rc == SEALDB_PRECONDITION) { *bad = i; return 1; }
        if (rc) return 0;
    }
    return 0;
}

/* Waits until the key index covers every published tx (for precondition checks). */
static int wait_index_all(sdb_engine *e) {
    return sdb_engine_wait_indexed(e, sdb_engine_last_tx(e), -1);
}

/* Committer: gives p the next id, patches its header, appends it to the ahtree and its record,
 * htree block and tx-index record to group g.
 * The journal position is reserved by the caller. */
/* Fills the own-id slots of p with id and redoes only what depends on them: for each entry holding
 * a slot, its value hash (slot in the value) and digest, and the tree path above its leaf; then
 * eH and the values' CRC. Nothing here allocates, so it cannot fail; txs without slots skip it. */
static void bind_own_id(sdb_ptx *p, uint64_t id) {
    uint8_t *r = p->rec;
    int in_values = 0;
    for (uint32_t i = 0; i < p->nids; i++) sdb_put_u64be(r + p->ids[i].rec_off, id);
    for (uint32_t s = 0; s < p->nids;) {
        const sdb_idslot *d = &p->ids[s];
        int in_value = 0;
        for (; s < p->nids && p->ids[s].entry == d->entry; s++) in_value |= (int)p->ids[s].in_value;
        /* the entry as sdb_engine_commit wrote it: u16 keyLen | key | u8 mdLen | md | u32 vLen | hValue */
        uint8_t *w = r + d->ent_off;
        uint16_t kl = sdb_get_u16be(w);
        uint8_t ml = w[2 + kl];
        uint8_t *hv = w + 3 + kl + ml + 4;
        if (in_value) sdb_sha256(r + d->val_off, sdb_get_u32be(hv - 4), hv);
        uint8_t dig[SDB_HASH_LEN];
        (void)sdb_entry_digest(1, sdb_slice_of(w + 2, kl), sdb_slice_of(w + 3 + kl, ml), hv, dig);   /* sizes validated on the caller's thread */
        sdb_htree_set_leaf(&p->ht, d->entry, dig);
        in_values |= in_value;
    }
    sdb_htree_root(&p->ht, p->eh.b);
    memcpy(r + SDB_JREC_FRAME + H_EH, p->eh.b, SDB_HASH_LEN);
    if (in_values) sdb_put_u32be(r + 12, sdb_crc32c(0, r + SDB_JREC_FRAME + p->meta_len, (size_t)p->vals_len));
}

/* Committer, before reserving room for a replicated tx: it must be the next tx of this chain
 * (replication.md 7.1 steps 7.5-7.9, with W3's fixes). A tx this engine already has answers
 * EXISTS when it is the same tx (same Alh), TAMPERED (DIVERGED) when it is not; a gap is RANGE. */
static int check_replicated(sdb_engine *e, sdb_ptx *p, int *why) {
    const sdb_tx_header *h = &p->rep_hdr;
    uint8_t alh[SDB_HASH_LEN], root[SDB_HASH_LEN];
    int rc = sdb_tx_alh(h, alh);
    if (rc) return rc;
    if (h->id < e->next_id) {
        uint8_t have[SDB_HASH_LEN];
        if ((rc = sdb_ahtree_leaf_alh(e->aht, h->id, have))) return rc;
        *why = memcmp(have, alh, SDB_HASH_LEN) ? SDB_REPL_DIVERGED : SDB_REPL_EXISTS;
        return *why == SDB_REPL_EXISTS ? SEALDB_EXISTS : SEALDB_TAMPERED;
    }
    if (h->id > e->next_id) { *why = SDB_REPL_GAP; return SEALDB_RANGE; }
    if (h->bl_tx_id == 0) memset(root, 0, sizeof root);
    else if (h->bl_tx_id == e->next_id - 1) memcpy(root, e->cur_root.b, sizeof root);
    else if ((rc = sdb_ahtree_root_at(e->aht, h->bl_tx_id, root))) return rc;
    if (memcmp(root, h->bl_root.b, SDB_HASH_LEN)) { *why = SDB_REPL_BAD_BLROOT; return SEALDB_TAMPERED; }
    if (memcmp(e->cur_alh.b, h->prev_alh.b, SDB_HASH_LEN)) { *why = SDB_REPL_BAD_PREV_ALH; return SEALDB_TAMPERED; }
    if (p->rep_has_alh && memcmp(p->rep_alh.b, alh, SDB_HASH_LEN)) { *why = SDB_REPL_BAD_ALH; return SEALDB_TAMPERED; }
    return SEALDB_OK;
}

static int assign_tail(sdb_engine *e, sdb_cgroup *g, sdb_ptx *p, uint64_t id);
static int assign(sdb_engine *e, sdb_cgroup *g, sdb_ptx *p) {
    if (p->rep) {   /* header already in the record and checked by check_replicated */
        uint64_t id = p->rep_hdr.id;
        p->res.hdr = p->rep_hdr;
        sdb_put_u32be(p->rec + 4, sdb_crc32c(0, p->rec + 8, SDB_JREC_FRAME - 8 + p->meta_len));
        return assign_tail(e, g, p, id);
    }
    if (p->nids) bind_own_id(p, e->next_id);
    uint64_t id = e->next_id;
    sdb_tx_header *hd = &p->res.hdr;
    memset(hd, 0, sizeof *hd);
    hd->id = id;
    hd->prev_alh = e->cur_alh;
    hd->ts = e->opts.exclude_commit_time ? 0 : sdb_unix_s();
    hd->version = 1;
    hd->nentries = p->nentries;
    hd->eh = p->eh;
    hd->bl_tx_id = id - 1;
    hd->bl_root = id > 1 ? e->cur_root : sdb_hash_zero;
    uint8_t *h = p->rec + SDB_JREC_FRAME;
    sdb_put_u64be(h + H_ID, id);
    memcpy(h + H_PREV, hd->prev_alh.b, SDB_HASH_LEN);
    sdb_put_u64be(h + H_TS, (uint64_t)hd->ts);
    sdb_put_u64be(h + H_BLID, hd->bl_tx_id);
    memcpy(h + H_BLROOT, hd->bl_root.b, SDB_HASH_LEN);
    sdb_put_u32be(p->rec + 4, sdb_crc32c(0, p->rec + 8, SDB_JREC_FRAME - 8 + p->meta_len));
    return assign_tail(e, g, p, id);
}

/* The part of assign shared by both kinds of tx: Alh, ahtree, group buffers. */
static int assign_tail(sdb_engine *e, sdb_cgroup *g, sdb_ptx *p, uint64_t id) {
    const sdb_tx_header *hd = &p->res.hdr;
    int rc = sdb_tx_alh(hd, p->res.alh.b);
    if (!rc) rc = sdb_ahtree_append(e->aht, p->res.alh.b, e->cur_root.b);
    if (!rc) rc = sdb_buf_append(&g->rec, p->rec, p->rec_len);
    if (!rc && e->ht_end + p->nodes_len > SDB_TXI_MAX_OFF) rc = SEALDB_TOOLARGE;
    if (!rc && p->nodes_len) rc = sdb_buf_append(&g->ht, p->ht.nodes, (size_t)p->nodes_len);
    if (!rc) {
        sdb_txi_rec tr = { p->pos, p->vals_len, p->meta_len, p->nentries, p->res.alh, e->ht_end };
        uint8_t tb[SDB_TXI_REC];
        sdb_txi_encode(&tr, tb);
        rc = sdb_buf_append(&g->txi, tb, sizeof tb);
    }
    if (rc) return rc;
    sdb_pkeys_note(&e->pending_keys, id, p->rec, p->rec_len, p->ents_off, p->nentries);
    e->cur_alh = p->res.alh;
    e->next_id++;
    e->ht_end += p->nodes_len;
    if (!g->ntx) g->first_id = id;
    g->ntx++;
    g->end = p->pos + p->rec_len;
    g->alh = p->res.alh;
    g->ht_end = e->ht_end;
    sdb_free(p->rec); p->rec = NULL;   /* copied into the group buffers */
    sdb_htree_deinit(&p->ht);
    if (g->tail) g->tail->next = p; else g->head = p;
    g->tail = p;
    return SEALDB_OK;
}

/* Committer, at the first commit after a failed write: brings the engine back to its published
 * state as reopening would, without closing it (readers keep going; they never look past the
 * published state). Every group given ids is answered first (failed), then: the journal past the
 * published end (never acknowledged; after a failed fsync its pages may differ from the disk) is
 * zeroed and synced and later segments deleted; the last acknowledged record is read back and
 * must hash to the published Alh; the tx index, htree node file and ahtree are cut back to the
 * last published tx. A failed fsync is never retried on the same data. Returns SEALDB_OK (writes
 * resume) or the status of what failed now (the engine stays failed with that cause; the next
 * commit tries again). */
static int recover_failed(sdb_engine *e, sdb_cgroup **g) {
    *g = hand_off(e, *g, 1);
    sdb_pkeys_reset(&e->pending_keys);   /* txs given ids since the failure are gone: their keys may not count */
    pthread_mutex_lock(&e->state_mu);
    uint64_t last = atomic_load(&e->last_tx), end = e->pub_end;
    sdb_hash alh = e->last_alh;
    pthread_mutex_unlock(&e->state_mu);
    uint64_t ht_end = 0;
    const char *what = "recovering: zeroing the unacknowledged journal tail";
    sdb_clear_errno();
    int rc = sdb_journal_rewind(e->j, end);
    if (!rc && last) {
        sdb_txi_rec r;
        sdb_tx_header hd;
        sdb_hash a;
        what = "recovering: re-reading the last acknowledged tx";
        rc = read_header(e, last, &hd, &r);
        if (!rc && (sdb_tx_alh(&hd, a.b) || memcmp(a.b, alh.b, SDB_HASH_LEN) ||
                    r.pos + SDB_JREC_FRAME + r.meta_len + r.vals_len != end))
            rc = SEALDB_CORRUPT;
        if (!rc) ht_end = r.node_off + sdb_htree_block_len(r.nentries);
    }
    if (!rc) { what = "recovering: cutting the tx index"; rc = sdb_file_truncate(e->txi, last * SDB_TXI_REC); }
    if (!rc) { what = "recovering: cutting the htree node file"; rc = sdb_file_truncate(e->htf, ht_end); }
    if (!rc && sdb_ahtree_size(e->aht) > last) { what = "recovering: cutting the ahtree"; rc = sdb_ahtree_truncate(e->aht, last); }
    if (!rc && last) rc = sdb_ahtree_root_at(e->aht, last, e->cur_root.b);
    if (rc) {
        set_cause(e, rc, what);
        return rc;
    }
    e->next_id = last + 1;
    e->cur_alh = alh;
    e->ht_end = ht_end;
    atomic_store(&e->ht_len, ht_end);
    atomic_store(&e->txi_len, last * SDB_TXI_REC);
    pthread_mutex_lock(&e->state_mu);
    e->fail_rc = 0;
    e->fail_msg[0] = 0;
    uint64_t now = sdb_now_ns();
    int say = now - e->rec_log_ns > 10000000000ull;
    if (say) e->rec_log_ns = now;
    atomic_store(&e->failed, 0);
    pthread_mutex_unlock(&e->state_mu);
    if (say) elog("database %s: recovered from the failed write: journal rewound to tx %" PRIu64
                  " (the last acknowledged, re-verified)", e->dir, last);
    return SEALDB_OK;
}

/* The committer thread. Pipelined with the syncer: while group N is written and fdatasync'ed
 * there, txs arriving meanwhile get their ids here in group N+1, which is handed over the moment
 * the syncer is idle again. It drains the syncer (everything assigned so far published) before a
 * precondition check, which reads the index, and before the journal rolls to a new segment, the
 * only time the committer itself touches the journal's sync state. */
static void *committer_main(void *arg) {
    sdb_thread_name("sdb-committer");
    sdb_engine *e = arg;
    sdb_cgroup *g = &e->grp[0];
    for (;;) {
        pthread_mutex_lock(&e->q_mu);
        while (!atomic_load_explicit(&e->q_top, memory_order_relaxed) && !atomic_load(&e->stopping) &&
               !(g->ntx && !e->sy_g))
            pthread_cond_wait(&e->q_cv, &e->q_mu);
        /* take the whole stack and reverse it into arrival order */
        sdb_ptx *list = NULL, *st = atomic_exchange_explicit(&e->q_top, NULL, memory_order_acquire);
        while (st) { sdb_ptx *nx = st->next; st->next = list; list = st; st = nx; }
        int stop = atomic_load(&e->stopping);
        if (g->ntx && !e->sy_g) {
            e->sy_g = g;
            pthread_cond_signal(&e->sy_cv);
            g = other_group(e, g);
        }
        pthread_mutex_unlock(&e->q_mu);
        if (!list) {
            if (stop) break;
            continue;
        }
        for (sdb_ptx *p = list; p;) {
            sdb_ptx *next = p->next;
            p->next = NULL;
            size_t bad_early = 0;
            int rc = atomic_load(&e->failed) ? recover_failed(e, &g) : SEALDB_OK;
            if (!rc && p->npre && !atomic_load(&e->failed) &&
                sdb_pkeys_all_exist(&e->pending_keys, p->pre, p->npre)) {
                /* every key is written live by a tx with an earlier id: holds without a drain */
            } else if (!rc && p->npre && refuse_early(e, p, &bad_early)) {
                p->cb(p->arg, SEALDB_PRECONDITION, NULL, bad_early);
                ptx_free(p);
                p = next;
                continue;
            } else if (!rc && p->npre) {
                /* make everything before this tx published and indexed, then check atomically:
                 * the committer is the only writer, so nothing can slip in between */
                g = hand_off(e, g, 1);
                size_t bad = 0;
                rc = atomic_load(&e->failed) ? fail_status(e) : SEALDB_OK;
                if (!rc) rc = wait_index_all(e);   /* an index error fails this tx only */
                if (!rc) rc = sdb_engine_index_check_pre(e, p->pre, p->npre, &bad);
                if (rc == SEALDB_PRECONDITION) { p->cb(p->arg, rc, NULL, bad); ptx_free(p); p = next; continue; }
            }
            if (!rc && p->rep) {
                int why = SDB_REPL_OK;
                rc = check_replicated(e, p, &why);
                if (rc) { p->cb(p->arg, rc, NULL, (size_t)why); ptx_free(p); p = next; continue; }
            }
            if (!rc) {
                /* does the record fit in the current segment? if not, let the syncer write and
                 * sync everything before it first, so a new segment never holds records whose
                 * predecessors are unwritten and the journal is the committer's alone meanwhile */
                uint64_t room; int last;
                sdb_journal_room(e->j, sdb_journal_end(e->j), &room, &last);
                if (room < p->rec_len) {
                    g = hand_off(e, g, 1);
                    if (atomic_load(&e->failed)) rc = fail_status(e);
                }
                if (!rc) {
                    sdb_clear_errno();
                    if ((rc = sdb_journal_reserve(e->j, p->rec_len, &p->pos))) set_failed(e, rc, "starting a journal segment");
                }
                if (!rc) {
                    sdb_clear_errno();
                    if ((rc = assign(e, g, p))) set_failed(e, rc, "appending to the ahtree");
                }
                if (rc && atomic_load(&e->failed)) rc = fail_status(e);
            }
            if (rc) {
                p->cb(p->arg, rc, NULL, 0);
                ptx_free(p);
            }
            p = next;
        }
    }
    hand_off(e, g, 1);
    return NULL;
}

/* ---- open / recovery ---- */

/* Reads the whole record at pos into buf and checks it: CRCs, id and the Alh chain. */
static int check_record(sdb_engine *e, uint64_t pos, sdb_buf *buf, const sdb_jframe *fr, uint64_t want_id,
                        const sdb_hash *prev_alh, sdb_hash *alh_out, sdb_jentry *je) {
    size_t len = SDB_JREC_FRAME + fr->meta_len;
    sdb_buf_reset(buf);
    int rc = sdb_buf_reserve(buf, len);
    if (rc) return rc;
    if ((rc = sdb_journal_read(e->j, pos, buf->ptr, len))) return rc;
    buf->len = len;
    sdb_jframe f2;
    sdb_tx_header hdr;
    uint32_t n;
    if ((rc = sdb_jrec_decode(sdb_buf_slice(buf), &f2, &hdr, je, &n))) return SEALDB_CORRUPT;
    /* values: CRC in chunks (they may be large); truncated values are gone (truncate.c) */
    uint8_t chunk[1 << 14];
    uint32_t crc = 0;
    int vals_gone = sdb_engine_check_truncated(e, want_id, fr->vals_len) != SEALDB_OK;
    for (uint64_t off = 0; off < fr->vals_len && !vals_gone;) {
        size_t k = fr->vals_len - off < sizeof chunk ? (size_t)(fr->vals_len - off) : sizeof chunk;
        if ((rc = sdb_journal_read(e->j, pos + len + off, chunk, k))) return rc;
        crc = sdb_crc32c(crc, chunk, k);
        off += k;
    }
    if (!vals_gone && crc != fr->crc_vals) return SEALDB_CORRUPT;
    if (hdr.id != want_id || memcmp(hdr.prev_alh.b, prev_alh->b, SDB_HASH_LEN)) return SEALDB_TAMPERED;
    return sdb_tx_alh(&hdr, alh_out->b) ? SEALDB_CORRUPT : SEALDB_OK;
}

/* Largest tx j in [1, k] whose block starts before off (node offsets never decrease), 0 if none. */
static int txi_last_before(sdb_engine *e, uint64_t k, uint64_t off, uint64_t *j, sdb_txi_rec *r) {
    uint64_t lo = 1, hi = k, best = 0;
    sdb_txi_rec t;
    while (lo <= hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        int rc = sdb_engine_txi_get(e, mid, &t);
        if (rc) return rc;
        if (t.node_off < off) { best = mid; *r = t; lo = mid + 1; }
        else hi = mid - 1;
    }
    *j = best;
    return SEALDB_OK;
}

/* Does tx j's stored block (r) recompute to its eH? */
static int block_ok(sdb_engine *e, uint64_t j, const sdb_txi_rec *r, sdb_buf *buf) {
    uint64_t blen = sdb_htree_block_len(r->nentries);
    sdb_tx_header hd;
    sdb_txi_rec r2;
    sdb_buf_reset(buf);
    if (sdb_buf_reserve(buf, (size_t)blen)) return 0;
    if (sdb_file_read_at(e->htf, buf->ptr, (size_t)blen, r->node_off)) return 0;
    if (read_header(e, j, &hd, &r2)) return 0;
    return hd.nentries == r->nentries && sdb_htree_check_block(buf->ptr, r->nentries, hd.eh.b) == SEALDB_OK;
}

/* The htree node file must hold exactly the blocks of txs 1..k (length want): cut what lies past
 * them, walk back over a tail block that is partial or does not recompute to its eH (an
 * interrupted or lost unsynced write), then rebuild the missing blocks from the journal. Blocks
 * further back are not re-hashed here: every proof checks its path against eH anyway. A tx-index
 * record that does not decode or places a block elsewhere sets *txi_bad (open then rebuilds the
 * whole tx index from the journal and tries again). */
static int recover_htree(sdb_engine *e, uint64_t k, uint64_t want, int *txi_bad) {
    uint64_t f = 0;
    sdb_buf buf;
    sdb_htree t;
    sdb_buf_init(&buf);
    sdb_htree_init(&t);
    int rc = sdb_file_size(e->htf, &f);
    if (rc) goto done;
    uint64_t have = f < want ? f : want;
    while (have > 0) {
        uint64_t j;
        sdb_txi_rec r;
        if ((rc = txi_last_before(e, k, have, &j, &r))) { *txi_bad = 1; goto done; }
        if (!j) { have = 0; break; }
        uint64_t end = r.node_off + sdb_htree_block_len(r.nentries);
        if (end <= have && block_ok(e, j, &r, &buf)) { have = end; break; }
        have = r.node_off;
    }
    if (have != f && (rc = sdb_file_truncate(e->htf, have))) goto done;
    if (have < want) {
        uint64_t j;
        sdb_txi_rec r;
        if ((rc = txi_last_before(e, k, have, &j, &r))) { *txi_bad = 1; goto done; }
        for (j++; j <= k && have < want; j++) {
            if ((rc = sdb_engine_txi_get(e, j, &r))) { *txi_bad = 1; goto done; }
            uint64_t blen = sdb_htree_block_len(r.nentries);
            if (!blen) continue;
            if (r.node_off != have) {
                *txi_bad = 1;
                set_open_err("%s: txindex record of tx %" PRIu64 " places its htree block at %" PRIu64
                             ", expected %" PRIu64, e->dir, j, r.node_off, have);
                rc = SEALDB_CORRUPT;
                goto done;
            }
            sdb_tx_header hd;
            uint8_t root[SDB_HASH_LEN];
            if ((rc = build_htree(e, j, &t, &hd))) {
                /* the record the index points at is not tx j: a wrong index record, or a damaged
                 * journal, which the whole-index rebuild then finds and names */
                if (rc != SEALDB_NOMEM && rc != SEALDB_IO) *txi_bad = 1;
                goto done;
            }
            sdb_htree_root(&t, root);
            if (t.width != r.nentries || memcmp(root, hd.eh.b, SDB_HASH_LEN)) {
                set_open_err("%s: tx %" PRIu64 " is damaged: its entries do not match eH in the journal; "
                             "refusing to open (nothing was changed)", e->dir, j);
                rc = SEALDB_CORRUPT;
                goto done;
            }
            if ((rc = sdb_file_write_at(e->htf, t.nodes, (size_t)blen, have))) goto done;
            have += blen;
        }
        if (have != want) {
            *txi_bad = 1;
            set_open_err("%s: txindex node offsets are inconsistent (htree ends at %" PRIu64 ", expected %" PRIu64 ")",
                         e->dir, have, want);
            rc = SEALDB_CORRUPT;
            goto done;
        }
    }
    e->ht_end = want;
    atomic_store(&e->ht_len, want);
    rc = SEALDB_OK;
done:
    sdb_htree_deinit(&t);
    sdb_buf_deinit(&buf);
    return rc;
}

static int recover(sdb_engine *e, int *txi_bad) {
    int rc;
    uint64_t fsz = 0;
    sdb_buf buf;
    sdb_buf_init(&buf);
    sdb_jentry *je = sdb_malloc(1024 * sizeof *je);
    if (!je) return SEALDB_NOMEM;
    if ((rc = sdb_file_size(e->txi, &fsz))) goto done;
    uint64_t k = fsz / SDB_TXI_REC;
    if (k > e->discard_keep) k = e->discard_keep;   /* discard.c: nothing after it survives */
    sdb_hash alh = sdb_hash_empty;
    uint64_t pos = sdb_journal_first_pos(e->j);
    uint64_t ht_end = 0;   /* htree file length implied by txs 1..k */
    /* newest tx-index record that agrees with the journal (a record of an older layout never
     * decodes, so such a file is rebuilt whole) */
    while (k > 0) {
        sdb_txi_rec r;
        sdb_tx_header hd;
        sdb_hash a;
        if (sdb_engine_txi_get(e, k, &r) == SEALDB_OK && read_header(e, k, &hd, &r) == SEALDB_OK &&
            sdb_tx_alh(&hd, a.b) == SEALDB_OK && !memcmp(a.b, r.alh.b, SDB_HASH_LEN)) {
            alh = r.alh;
            pos = r.pos + SDB_JREC_FRAME + r.meta_len + r.vals_len;
            ht_end = r.node_off + sdb_htree_block_len(r.nentries);
            break;
        }
        k--;
    }
    /* forward scan of the journal from there */
    for (;;) {
        uint64_t room; int last;
        if (k >= e->discard_keep) {
            /* a discard (discard.c): cut the rest as a torn tail is cut */
            if ((rc = sdb_journal_cut(e->j, pos))) goto done;
            break;
        }
        sdb_journal_room(e->j, pos, &room, &last);
        if (room < SDB_JREC_FRAME) {
            uint64_t nx = sdb_journal_next_seg(e->j, pos);
            if (nx == UINT64_MAX) break;
            if (room != 0 && nx != pos + room) break;
            pos = nx;
            continue;
        }
        uint8_t fb[SDB_JREC_FRAME];
        if ((rc = sdb_journal_read(e->j, pos, fb, sizeof fb))) goto done;
        sdb_jframe fr;
        int frc = sdb_jrec_frame(fb, &fr);
        char seg[4096];
        sdb_journal_seg_name(e->j, pos, seg, sizeof seg);
        if (frc == SEALDB_NOTFOUND) {
            if (last) break;
            set_open_err("%s: tx %" PRIu64 " missing: segment %s ends early at offset %" PRIu64, e->dir, k + 1, seg, pos);
            rc = SEALDB_CORRUPT;
            goto done;
        }
        uint64_t rec_len = frc ? 0 : SDB_JREC_FRAME + (uint64_t)fr.meta_len + fr.vals_len;
        sdb_hash a;
        int crc = frc ? SEALDB_CORRUPT : (rec_len > room ? SEALDB_CORRUPT
                                                          : check_record(e, pos, &buf, &fr, k + 1, &alh, &a, je));
        if (crc == SEALDB_NOMEM || crc == SEALDB_IO) { rc = crc; goto done; }
        if (crc) {
            if (last && crc == SEALDB_CORRUPT && sdb_journal_is_torn(e->j, pos, room, rec_len)) {
                /* unacknowledged torn tail: cut it */
                if ((rc = sdb_journal_cut(e->j, pos))) goto done;
                break;
            }
            set_open_err("%s: tx %" PRIu64 " is damaged (%s) in journal segment %s at offset %" PRIu64
                         "; refusing to open (nothing was changed)", e->dir, k + 1,
                         crc == SEALDB_TAMPERED ? "Alh chain or id mismatch" : "checksum or format",
                         seg, pos);
            rc = crc == SEALDB_TAMPERED ? SEALDB_TAMPERED : SEALDB_CORRUPT;
            rc = SEALDB_CORRUPT;
            goto done;
        }
        sdb_txi_rec tr = { pos, fr.vals_len, fr.meta_len, 0, a, 0 };
        sdb_tx_header hd;
        size_t used;
        if (sdb_tx_header_decode(sdb_slice_of(buf.ptr + SDB_JREC_FRAME, fr.meta_len), &hd, &used)) { rc = SEALDB_CORRUPT; goto done; }
        tr.nentries = hd.nentries;
        tr.node_off = ht_end;
        ht_end += sdb_htree_block_len(hd.nentries);
        if (ht_end > SDB_TXI_MAX_OFF) { rc = SEALDB_TOOLARGE; goto done; }
        uint8_t tb[SDB_TXI_REC];
        sdb_txi_encode(&tr, tb);
        if ((rc = sdb_file_write_at(e->txi, tb, sizeof tb, k * SDB_TXI_REC))) goto done;
        k++;
        alh = a;
        pos += rec_len;
    }
    if ((rc = sdb_file_truncate(e->txi, k * SDB_TXI_REC))) goto done;
    atomic_store(&e->txi_len, k * SDB_TXI_REC);   /* the file is exactly k records now */
    /* the append position: pos may sit in an earlier segment when later ones are empty */
    {
        uint64_t room; int last;
        sdb_journal_room(e->j, pos, &room, &last);
        if (!last && (rc = sdb_journal_cut(e->j, pos))) goto done;
    }
    sdb_journal_set_end(e->j, pos);
    /* ahtree: cut anything past the journal or disagreeing with the tx index, then catch up */
    uint64_t s = sdb_ahtree_size(e->aht);
    if (s > k) { if ((rc = sdb_ahtree_truncate(e->aht, k))) goto done; s = k; }
    while (s > 0) {
        sdb_txi_rec r;
        uint8_t la[SDB_HASH_LEN];
        if ((rc = sdb_engine_txi_get(e, s, &r))) goto done;
        if (sdb_ahtree_leaf_alh(e->aht, s, la) == SEALDB_OK && !memcmp(la, r.alh.b, SDB_HASH_LEN)) break;
        s--;
    }
    if (s < sdb_ahtree_size(e->aht) && (rc = sdb_ahtree_truncate(e->aht, s))) goto done;
    for (uint64_t i = s + 1; i <= k; i++) {
        sdb_txi_rec r;
        if ((rc = sdb_engine_txi_get(e, i, &r))) goto done;
        if ((rc = sdb_ahtree_append(e->aht, r.alh.b, NULL))) goto done;
    }
    e->next_id = k + 1;
    e->cur_alh = alh;
    if (k > 0 && (rc = sdb_ahtree_root_at(e->aht, k, e->cur_root.b))) goto done;
    if ((rc = recover_htree(e, k, ht_end, txi_bad))) goto done;
    e->last_alh = alh;
    e->pub_end = pos;
    atomic_store(&e->last_tx, k);
    rc = SEALDB_OK;
done:
    sdb_free(je);
    sdb_buf_deinit(&buf);
    return rc;
}

int sdb_engine_open(const char *dir, const sdb_engine_opts *o, sdb_engine **out) {
    int rc = SEALDB_NOMEM;
    open_err[0] = 0;
    if (!dir || !out) return SEALDB_INVALID;
    sdb_engine *e = sdb_calloc(1, sizeof *e);
    if (!e) return SEALDB_NOMEM;
    e->lock_fd = -1;
    if (o) e->opts = *o; else sdb_engine_opts_default(&e->opts);
    if (!e->opts.max_entries || e->opts.max_entries > SDB_ENGINE_MAX_ENTRIES) e->opts.max_entries = SDB_ENGINE_MAX_ENTRIES;
    if (!e->opts.max_key_len || e->opts.max_key_len > SDB_ENGINE_MAX_KEY_LEN) e->opts.max_key_len = SDB_ENGINE_MAX_KEY_LEN;
    if (!e->opts.max_value_len || e->opts.max_value_len > SDB_ENGINE_MAX_VALUE_LEN) e->opts.max_value_len = SDB_ENGINE_MAX_VALUE_LEN;
    if (!e->opts.segment_size) e->opts.segment_size = 64u << 20;
    pthread_mutex_init(&e->state_mu, NULL);
    sdb_gate_init(e);
    pthread_mutex_init(&e->q_mu, NULL);
    pthread_cond_init(&e->q_cv, NULL);
    pthread_cond_init(&e->sy_cv, NULL);
    pthread_mutex_init(&e->ix_mu, NULL);
    pthread_mutex_init(&e->trunc_mu, NULL);
    pthread_mutex_init(&e->ix_wr_mu, NULL);
    pthread_cond_init(&e->ix_work_cv, NULL);
    pthread_cond_init(&e->ix_done_cv, NULL);
    for (int i = 0; i < 2; i++) {
        sdb_buf_init(&e->grp[i].rec);
        sdb_buf_init(&e->grp[i].txi);
        sdb_buf_init(&e->grp[i].ht);
    }
    sdb_buf_init(&e->pending_keys.bytes);
    if (!(e->dir = sdb_strdup(dir))) goto fail;
    struct stat st;
    if (stat(dir, &st) < 0) {
        if (errno != ENOENT || !e->opts.create) { rc = errno == ENOENT ? SEALDB_NOTFOUND : sdb_err_from_errno(errno); goto fail; }
        if (mkdir(dir, 0755) < 0 && errno != EEXIST) { rc = sdb_err_from_errno(errno); goto fail; }
    } else if (!S_ISDIR(st.st_mode)) { rc = SEALDB_INVALID; goto fail; }
    char p[4096];
    snprintf(p, sizeof p, "%s/LOCK", dir);
    if ((e->lock_fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0) { rc = sdb_err_from_errno(errno); goto fail; }
    if (flock(e->lock_fd, LOCK_EX | LOCK_NB) < 0) { rc = SEALDB_BUSY; goto fail; }
    if ((rc = sdb_journal_open(dir, e->opts.segment_size, &e->j))) {
        if (rc == SEALDB_CORRUPT) set_open_err("%s: journal segments overlap or are out of order", dir);
        goto fail;
    }
    snprintf(p, sizeof p, "%s/txindex", dir);
    if ((rc = sdb_file_open(p, O_RDWR | O_CREAT, 0644, &e->txi))) goto fail;
    e->txi_map = map_file(e->txi, 38, &e->txi_map_len);
    snprintf(p, sizeof p, "%s/htree", dir);
    if ((rc = sdb_file_open(p, O_RDWR | O_CREAT, 0644, &e->htf))) goto fail;
    /* 64 GiB: ~1G entries of wide txs; blocks further on are pread */
    e->ht_map = map_file(e->htf, 36, &e->ht_map_len);
    snprintf(p, sizeof p, "%s/ahtree", dir);
    if ((rc = sdb_ahtree_open_file(p, &e->aht))) {
        /* derived: a damaged tree file is rebuilt from the journal */
        if (rc != SEALDB_CORRUPT || unlink(p) < 0 || (rc = sdb_ahtree_open_file(p, &e->aht))) goto fail;
    }
    if ((rc = sdb_trunc_open(e))) {
        set_open_err("%s: the truncation point file is unreadable or damaged: %s", dir, sealdb_strerror(rc));
        goto fail;
    }
    /* a sync replica's stored committed point, and an unfinished discard (discard.c) */
    uint64_t keep = 0;
    e->discard_keep = UINT64_MAX;
    rc = sdb_committed_load(dir, &e->cpt_stored);
    e->cpt_state = rc == SEALDB_OK ? 1 : rc == SEALDB_NOTFOUND ? 0 : -1;
    if (e->cpt_state != 1) e->cpt_stored = 0;
    rc = sdb_discard_load(dir, &keep);
    if (rc == SEALDB_OK) e->discard_keep = keep < e->cpt_stored ? e->cpt_stored : keep;   /* never a committed tx */
    else if (rc != SEALDB_NOTFOUND) {
        set_open_err("%s: the discard marker file is unreadable or damaged: %s", dir, sealdb_strerror(rc));
        goto fail;
    }
    int txi_bad = 0;
    rc = recover(e, &txi_bad);
    if (rc && txi_bad) {
        /* the tx index disagrees with itself (e.g. a lost page after a power failure): it is
         * derived, so rebuild it whole from the journal, and the node file with it */
        open_err[0] = 0;
        txi_bad = 0;
        atomic_store(&e->txi_len, 0);
        if (!(rc = sdb_file_truncate(e->txi, 0))) rc = recover(e, &txi_bad);
    }
    if (rc) goto fail;
    if (e->discard_keep != UINT64_MAX) {
        /* the cut is synced (sdb_journal_cut): the marker has done its work */
        if ((rc = sdb_discard_done(dir))) goto fail;
        elog("database %s: discarded every tx after %" PRIu64 " (precommitted, never committed)", dir,
             atomic_load(&e->last_tx));
        e->discard_keep = UINT64_MAX;
    }
    /* finish a discard a crash interrupted (truncate.c) */
    if ((rc = sdb_trunc_resume(e))) goto fail;
    /* re-check the chain's tail from the journal bytes; register with the scrubber (scrub.c) */
    if ((rc = sdb_scrub_attach(e))) goto fail;
    if ((rc = sdb_fsync_dir(dir))) goto fail;
    if ((rc = sdb_engine_index_start(e))) goto fail;
    if (pthread_create(&e->syncer, NULL, syncer_main, e)) { rc = SEALDB_NOMEM; goto fail; }
    e->syncer_started = 1;
    if (pthread_create(&e->committer, NULL, committer_main, e)) { rc = SEALDB_NOMEM; goto fail; }
    e->committer_started = 1;
    *out = e;
    return SEALDB_OK;
fail:
    if (!open_err[0]) set_open_err("%s: open failed: %s", dir, sealdb_strerror(rc));
    sdb_engine_close(e);
    return rc;
}

void sdb_engine_close(sdb_engine *e) {
    if (!e) return;
    sdb_scrub_detach(e);
    sdb_engine_gate_close(e);   /* held answers (and those of the txs still queued) get CLOSED */
    if (e->committer_started) {
        pthread_mutex_lock(&e->q_mu);
        atomic_store(&e->stopping, 1);
        pthread_cond_signal(&e->q_cv);
        pthread_mutex_unlock(&e->q_mu);
        pthread_join(e->committer, NULL);
        /* a commit racing with close may have been pushed after the committer's last look */
        for (sdb_ptx *p = atomic_exchange(&e->q_top, NULL); p;) {
            sdb_ptx *next = p->next;
            p->cb(p->arg, SEALDB_CLOSED, NULL, 0);
            ptx_free(p);
            p = next;
        }
    }
    if (e->syncer_started) {
        /* the committer drained it on the way out */
        pthread_mutex_lock(&e->q_mu);
        e->sy_stop = 1;
        pthread_cond_signal(&e->sy_cv);
        pthread_mutex_unlock(&e->q_mu);
        pthread_join(e->syncer, NULL);
    }
    sdb_engine_index_stop(e);
    if (e->aht && !atomic_load(&e->failed)) sdb_ahtree_sync(e->aht);
    sdb_ahtree_close(e->aht);
    if (e->htf && !atomic_load(&e->failed)) sdb_file_sync(e->htf);
    if (e->ht_map) { sdb_mapguard_remove(e->ht_map); munmap((void *)e->ht_map, e->ht_map_len); }
    sdb_file_close(e->htf);
    if (e->txi_map) { sdb_mapguard_remove(e->txi_map); munmap((void *)e->txi_map, e->txi_map_len); }
    sdb_file_close(e->txi);
    sdb_journal_close(e->j);
    if (e->lock_fd >= 0) close(e->lock_fd);
    for (int i = 0; i < 2; i++) {
        sdb_buf_deinit(&e->grp[i].rec);
        sdb_buf_deinit(&e->grp[i].txi);
        sdb_buf_deinit(&e->grp[i].ht);
    }
    sdb_pkeys_deinit(&e->pending_keys);
    sdb_gate_deinit(e);
    pthread_mutex_destroy(&e->state_mu);
    pthread_mutex_destroy(&e->q_mu);
    pthread_cond_destroy(&e->q_cv);
    pthread_cond_destroy(&e->sy_cv);
    pthread_mutex_destroy(&e->ix_mu);
    pthread_mutex_destroy(&e->trunc_mu);
    pthread_mutex_destroy(&e->ix_wr_mu);
    pthread_cond_destroy(&e->ix_work_cv);
    pthread_cond_destroy(&e->ix_done_cv);
    sdb_free(e->dir);
    sdb_free(e);
}
