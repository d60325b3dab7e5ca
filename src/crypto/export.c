/* export.c - immudb's exported-tx payload: encoder, bounds-checked parser, eH recomputation
 * (docs/replication.md 3). */
#include "crypto/export.h"

void sdb_export_tx_init(sdb_export_tx *t) { memset(t, 0, sizeof *t); }

void sdb_export_tx_deinit(sdb_export_tx *t) {
    if (!t) return;
    sdb_free(t->entries);
    memset(t, 0, sizeof *t);
}

int sdb_export_encode(const sdb_tx_header *h, const sdb_export_entry *e, uint32_t n, sdb_buf *out) {
    return sdb_export_encode_flag(h, e, n, 0, out);
}

int sdb_export_encode_flag(const sdb_tx_header *h, const sdb_export_entry *e, uint32_t n, int truncated, sdb_buf *out) {
    if (!h || (n && !e) || h->nentries != n) return SEALDB_INVALID;
    if (truncated)
        for (uint32_t i = 0; i < n; i++)
            if (e[i].value.len != SDB_HASH_LEN) return SEALDB_INVALID;
    size_t start = out->len;
    int rc = sdb_buf_append_u32be(out, 0);   /* hdrLen, patched below */
    if (rc == SEALDB_OK) rc = sdb_tx_header_encode(h, out);
    if (rc != SEALDB_OK) { out->len = start; return rc; }
    size_t hl = out->len - start - 4;
    if (hl > UINT32_MAX) { out->len = start; return SEALDB_TOOLARGE; }
    sdb_put_u32be(out->ptr + start, (uint32_t)hl);
    for (uint32_t i = 0; i < n && rc == SEALDB_OK; i++) {
        if (e[i].key.len > UINT16_MAX || e[i].md_bytes.len > UINT16_MAX || e[i].value.len > UINT32_MAX) {
            rc = SEALDB_TOOLARGE;
            break;
        }
        rc = sdb_buf_append_u16be(out, (uint16_t)e[i].key.len);
        if (rc == SEALDB_OK) rc = sdb_buf_append(out, e[i].key.ptr, e[i].key.len);
        if (rc == SEALDB_OK) rc = sdb_buf_append_u16be(out, (uint16_t)e[i].md_bytes.len);
        if (rc == SEALDB_OK) rc = sdb_buf_append(out, e[i].md_bytes.ptr, e[i].md_bytes.len);
        if (rc == SEALDB_OK) rc = sdb_buf_append_u32be(out, (uint32_t)e[i].value.len);
        if (rc == SEALDB_OK) rc = sdb_buf_append(out, e[i].value.ptr, e[i].value.len);
    }
    if (rc == SEALDB_OK) rc = sdb_buf_append_u16be(out, 1);   /* flagLen */
    if (rc == SEALDB_OK) rc = sdb_buf_append_u8(out, truncated ? 1 : 0);
    if (rc != SEALDB_OK) out->len = start;
    return rc;
}

static const char *const ILLEGAL = "illegal arguments";

int sdb_export_parse(sdb_slice p, sdb_export_tx *out, const char **why) {
    const char *dummy;
    if (!why) why = &dummy;
    *why = ILLEGAL;
    sdb_export_tx_deinit(out);
    sdb_reader r = sdb_reader_of(p);
    uint32_t hl;
    sdb_slice hs;
    if (sdb_rd_u32be(&r, &hl) || sdb_rd_bytes(&r, hl, &hs)) return SEALDB_INVALID;
    size_t used = 0;
    int rc = sdb_tx_header_decode(hs, &out->hdr, &used);
    if (rc == SEALDB_UNSUPPORTED) {
        *why = "tx created with a newer version or data is corrupted";
        return rc;
    }
    /* immudb ignores bytes after the header inside hdrLen; one encoding per header is stricter */
    if (rc != SEALDB_OK || used != hs.len) return SEALDB_INVALID;
    /* every entry takes at least 8 bytes: bounds the allocation by the payload itself */
    if (out->hdr.nentries > sdb_reader_left(&r) / 8) return SEALDB_INVALID;
    out->entries = sdb_calloc(out->hdr.nentries, sizeof *out->entries);
    if (!out->entries) return SEALDB_NOMEM;
    for (uint32_t i = 0; i < out->hdr.nentries; i++) {
        sdb_export_entry *e = &out->entries[i];
        uint16_t kl, ml;
        uint32_t vl;
        if (sdb_rd_u16be(&r, &kl) || sdb_rd_bytes(&r, kl, &e->key)) goto illegal;
        if (sdb_rd_u16be(&r, &ml) || sdb_rd_bytes(&r, ml, &e->md_bytes)) goto illegal;
        if (ml > SDB_KV_MD_MAX_LEN) {
            *why = "data is corrupted";
            rc = SEALDB_CORRUPT;
            goto fail;
        }
        if (ml && sdb_kv_md_decode(e->md_bytes, &e->md) != SEALDB_OK) {
            *why = "error reading metadata attributes: data is corrupted";
            rc = SEALDB_CORRUPT;
            goto fail;
        }
        if (sdb_rd_u32be(&r, &vl) || sdb_rd_bytes(&r, vl, &e->value)) goto illegal;
        out->nentries = i + 1;
    }
    if (sdb_reader_left(&r) > 0) {
        uint16_t fl;
        sdb_slice f;
        /* immudb indexes the flag without checking flagLen >= 1; require exactly one byte */
        if (sdb_rd_u16be(&r, &fl) || fl != 1 || sdb_rd_bytes(&r, fl, &f)) goto illegal;
        if (f.ptr[0] > 1) {
            *why = "illegal arguments: invalid truncation info";
            rc = SEALDB_INVALID;
            goto fail;
        }
        out->has_flag = 1;
        out->truncated = f.ptr[0];
    }
    if (sdb_reader_left(&r) != 0) goto illegal;
    if (out->truncated)
        for (uint32_t i = 0; i < out->nentries; i++)
            if (out->entries[i].value.len != SDB_HASH_LEN) goto illegal;
    *why = "";
    return SEALDB_OK;
illegal:
    *why = ILLEGAL;
    rc = SEALDB_INVALID;
fail:
    sdb_export_tx_deinit(out);
    return rc;
}

int sdb_export_entries_hash(const sdb_export_tx *t, uint8_t eh[SDB_HASH_LEN]) {
    if (!t->nentries || t->nentries != t->hdr.nentries) return SEALDB_INVALID;
    sdb_hash *d = sdb_malloc((size_t)t->nentries * sizeof *d);
    if (!d) return SEALDB_NOMEM;
    int rc = SEALDB_OK;
    uint8_t hv[2][SDB_HASH_LEN];
    for (uint32_t i = 0; i < t->nentries && rc == SEALDB_OK; i++) {
        const sdb_export_entry *e = &t->entries[i];
        uint8_t *h = hv[i & 1];
        if (t->truncated) {
            if (e->value.len != SDB_HASH_LEN) { rc = SEALDB_INVALID; break; }
            memcpy(h, e->value.ptr, SDB_HASH_LEN);
        } else if (e->hvalue) {
            memcpy(h, e->hvalue, SDB_HASH_LEN);
        } else {
            sdb_sha256(e->value.ptr, e->value.len, h);
        }
        /* digests in pairs (two SHA-256 streams interleave) */
        if (i & 1)
            rc = sdb_entry_digest_x2(t->hdr.version, e[-1].key, e[-1].md_bytes, hv[0], d[i - 1].b, e->key, e->md_bytes,
                                     h, d[i].b);
        else if (i + 1 == t->nentries)
            rc = sdb_entry_digest(t->hdr.version, e->key, e->md_bytes, h, d[i].b);
    }
    if (rc == SEALDB_OK) {
        sdb_htree ht;
        sdb_htree_init(&ht);
        rc = sdb_htree_build(&ht, d, t->nentries);
        if (rc == SEALDB_OK) sdb_htree_root(&ht, eh);
        sdb_htree_deinit(&ht);
    }
    sdb_free(d);
    return rc;
}

uint64_t sdb_export_max_payload(uint32_t max_entries, uint32_t max_key_len, uint32_t max_value_len) {
    /* hdrLen + largest v1 header + per entry (kLen, key, mdLen, md, vLen, value) + flag */
    uint64_t per = 2ull + max_key_len + 2 + SDB_KV_MD_MAX_LEN + 4 + max_value_len;
    return 4 + 396 + (uint64_t)max_entries * per + 3;
}

int sdb_backup_record_encode(uint64_t tx_id, const uint8_t alh[SDB_HASH_LEN], sdb_slice stream, sdb_buf *out) {
    if (stream.len < 8 || stream.len > UINT32_MAX || sdb_get_u64be(stream.ptr) != stream.len - 8)
        return SEALDB_INVALID;
    size_t start = out->len;
    int rc = sdb_buf_append(out, SDB_BACKUP_MAGIC, 10);
    if (rc == SEALDB_OK) rc = sdb_buf_append_u32be(out, 1);
    if (rc == SEALDB_OK) rc = sdb_buf_append_u64be(out, tx_id);
    if (rc == SEALDB_OK) rc = sdb_buf_append_u32be(out, SDB_HASH_LEN);
    if (rc == SEALDB_OK) rc = sdb_buf_append_u32be(out, (uint32_t)stream.len);
    if (rc == SEALDB_OK) rc = sdb_buf_append(out, alh, SDB_HASH_LEN);
    if (rc == SEALDB_OK) rc = sdb_buf_append(out, stream.ptr, stream.len);
    if (rc != SEALDB_OK) out->len = start;
    return rc;
}

int sdb_backup_record_read(sdb_reader *r, sdb_backup_record *out) {
    sdb_reader c = *r;
    sdb_slice magic, sum;
    uint32_t ver, slen, tlen;
    uint64_t l;
    memset(out, 0, sizeof *out);
    if (sdb_rd_bytes(&c, 10, &magic) || memcmp(magic.ptr, SDB_BACKUP_MAGIC, 10) != 0) return SEALDB_CORRUPT;
    if (sdb_rd_u32be(&c, &ver) || ver != 1) return SEALDB_CORRUPT;
    if (sdb_rd_u64be(&c, &out->tx_id) || sdb_rd_u32be(&c, &slen) || sdb_rd_u32be(&c, &tlen)) return SEALDB_CORRUPT;
    if (slen != SDB_HASH_LEN || sdb_rd_bytes(&c, slen, &sum)) return SEALDB_CORRUPT;
    if (tlen < 8 || sdb_rd_bytes(&c, tlen, &out->stream)) return SEALDB_CORRUPT;
    l = sdb_get_u64be(out->stream.ptr);
    if (l != (uint64_t)tlen - 8) return SEALDB_CORRUPT;
    memcpy(out->alh.b, sum.ptr, SDB_HASH_LEN);
    out->payload = sdb_slice_of(out->stream.ptr + 8, tlen - 8);
    *r = c;
    return SEALDB_OK;
}
