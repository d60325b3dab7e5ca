/* meta.c - the hashed byte layouts of an immudb-compatible transaction: KV and tx metadata
 * encodings, entry digests (header versions 0 and 1), the tx header's innerHash and Alh, and the
 * header's storage serialization. Decoders accept only the canonical encoding (ascending codes,
 * no duplicates, no zero/empty attributes), so one metadata value always has exactly one hash. */
#include "crypto/crypto.h"

/* ---- KV metadata (docs/format.md 1.1) ---- */
enum { KV_DELETED = 0x00, KV_EXPIRES = 0x01, KV_NONINDEXABLE = 0x02 };

size_t sdb_kv_md_encode(const sdb_kv_md *md, uint8_t out[SDB_KV_MD_MAX_LEN]) {
    size_t n = 0;
    if (!md) return 0;
    if (md->deleted) out[n++] = KV_DELETED;
    if (md->has_expires) {
        out[n++] = KV_EXPIRES;
        sdb_put_u64be(out + n, (uint64_t)md->expires_at);
        n += 8;
    }
    if (md->non_indexable) out[n++] = KV_NONINDEXABLE;
    return n;
}

int sdb_kv_md_decode(sdb_slice in, sdb_kv_md *out) {
    sdb_kv_md md;
    memset(&md, 0, sizeof md);
    if (in.len > SDB_KV_MD_MAX_LEN) return SEALDB_CORRUPT;
    sdb_reader r = sdb_reader_of(in);
    int last = -1;
    while (sdb_reader_left(&r)) {
        uint8_t code;
        uint64_t v;
        if (sdb_rd_u8(&r, &code)) return SEALDB_CORRUPT;
        if ((int)code <= last) return SEALDB_CORRUPT;   /* out of order or duplicate */
        last = code;
        switch (code) {
        case KV_DELETED: md.deleted = 1; break;
        case KV_EXPIRES:
            if (sdb_rd_u64be(&r, &v)) return SEALDB_CORRUPT;
            md.has_expires = 1;
            md.expires_at = (int64_t)v;
            break;
        case KV_NONINDEXABLE: md.non_indexable = 1; break;
        default: return SEALDB_CORRUPT;
        }
    }
    *out = md;
    return SEALDB_OK;
}

/* ---- tx metadata (docs/format.md 4.2) ---- */
enum { TX_TRUNCATED = 0x00, TX_EXTRA = 0x01 };

size_t sdb_tx_md_encode(const sdb_tx_md *md, uint8_t out[SDB_TX_MD_MAX_LEN]) {
    size_t n = 0;
    if (!md) return 0;
    if (md->truncated_tx_id) {
        out[n++] = TX_TRUNCATED;
        sdb_put_u64be(out + n, md->truncated_tx_id);
        n += 8;
    }
    if (md->extra_len) {
        uint16_t len = md->extra_len > SDB_TX_MD_MAX_EXTRA ? SDB_TX_MD_MAX_EXTRA : md->extra_len;
        out[n++] = TX_EXTRA;
        sdb_put_u16be(out + n, len);
        n += 2;
        memcpy(out + n, md->extra, len);
        n += len;
    }
    return n;
}

int sdb_tx_md_decode(sdb_slice in, sdb_tx_md *out) {
    sdb_tx_md md;
    md.truncated_tx_id = 0;
    md.extra_len = 0;
    if (in.len > SDB_TX_MD_MAX_LEN) return SEALDB_CORRUPT;
    sdb_reader r = sdb_reader_of(in);
    int last = -1;
    while (sdb_reader_left(&r)) {
        uint8_t code;
        uint16_t len;
        sdb_slice s;
        if (sdb_rd_u8(&r, &code)) return SEALDB_CORRUPT;
        if ((int)code <= last) return SEALDB_CORRUPT;
        last = code;
        switch (code) {
        case TX_TRUNCATED:
            if (sdb_rd_u64be(&r, &md.truncated_tx_id) || md.truncated_tx_id == 0) return SEALDB_CORRUPT;
            break;
        case TX_EXTRA:
            if (sdb_rd_u16be(&r, &len) || len == 0 || len > SDB_TX_MD_MAX_EXTRA) return SEALDB_CORRUPT;
            if (sdb_rd_bytes(&r, len, &s)) return SEALDB_CORRUPT;
            memcpy(md.extra, s.ptr, len);
            md.extra_len = len;
            break;
        default: return SEALDB_CORRUPT;
        }
    }
    *out = md;
    return SEALDB_OK;
}

/* ---- entry digest (docs/format.md 1.2) ---- */
/* Preimages up to this size (every key the engine accepts) are assembled on the stack and hashed
 * one-shot: the streaming ctx (libcrypto's SHA256_Init/Update/Final) costs about 3x more for the
 * 1-2 blocks of a typical entry, and digests are computed for every committed entry and every
 * verified read. Larger ones (keys up to 64 KiB from other callers) stream. */
#define DIGEST_STACK_MAX 1280u

/* The v1 preimage mdLen || md || kLen || key || hValue in pre (fits: checked by the caller). */
static size_t v1_preimage(uint8_t *pre, sdb_slice key, sdb_slice md_bytes, const uint8_t hvalue[SDB_HASH_LEN]) {
    size_t n = 0;
    sdb_put_u16be(pre, (uint16_t)md_bytes.len);
    n += 2;
    if (md_bytes.len) memcpy(pre + n, md_bytes.ptr, md_bytes.len);
    n += md_bytes.len;
    sdb_put_u16be(pre + n, (uint16_t)key.len);
    n += 2;
    if (key.len) memcpy(pre + n, key.ptr, key.len);
    n += key.len;
    memcpy(pre + n, hvalue, SDB_HASH_LEN);
    return n + SDB_HASH_LEN;
}

int sdb_entry_digest(uint16_t version, sdb_slice key, sdb_slice md_bytes,
                     const uint8_t hvalue[SDB_HASH_LEN], uint8_t out[SDB_HASH_LEN]) {
    sdb_sha256_ctx c;
    uint8_t len[2];
    uint8_t pre[DIGEST_STACK_MAX];
    if (version == 0) {
        if (md_bytes.len) return SEALDB_INVALID;   /* v0 entries cannot carry metadata */
        if (key.len <= DIGEST_STACK_MAX - SDB_HASH_LEN) {
            if (key.len) memcpy(pre, key.ptr, key.len);
            memcpy(pre + key.len, hvalue, SDB_HASH_LEN);
            sdb_sha256(pre, key.len + SDB_HASH_LEN, out);
            return SEALDB_OK;
        }
        sdb_sha256_init(&c);
        sdb_sha256_update(&c, key.ptr, key.len);
        sdb_sha256_update(&c, hvalue, SDB_HASH_LEN);
        sdb_sha256_final(&c, out);
        return SEALDB_OK;
    }
    if (version != 1) return SEALDB_UNSUPPORTED;
    if (key.len > UINT16_MAX || md_bytes.len > UINT16_MAX) return SEALDB_TOOLARGE;
    if (md_bytes.len + key.len <= DIGEST_STACK_MAX - 4 - SDB_HASH_LEN) {
        sdb_sha256(pre, v1_preimage(pre, key, md_bytes, hvalue), out);
        return SEALDB_OK;
    }
    sdb_sha256_init(&c);
    sdb_put_u16be(len, (uint16_t)md_bytes.len);
    sdb_sha256_update(&c, len, 2);
    sdb_sha256_update(&c, md_bytes.ptr, md_bytes.len);
    sdb_put_u16be(len, (uint16_t)key.len);
    sdb_sha256_update(&c, len, 2);
    sdb_sha256_update(&c, key.ptr, key.len);
    sdb_sha256_update(&c, hvalue, SDB_HASH_LEN);
    sdb_sha256_final(&c, out);
    return SEALDB_OK;
}

int sdb_entry_digest_x2(uint16_t version, sdb_slice key0, sdb_slice md0, const uint8_t hv0[SDB_HASH_LEN],
                        uint8_t out0[SDB_HASH_LEN], sdb_slice key1, sdb_slice md1, const uint8_t hv1[SDB_HASH_LEN],
                        uint8_t out1[SDB_HASH_LEN]) {
    const size_t room = DIGEST_STACK_MAX - 4 - SDB_HASH_LEN;
    if (version != 1 || md0.len + key0.len > room || md1.len + key1.len > room) {
        int rc = sdb_entry_digest(version, key0, md0, hv0, out0);
        return rc ? rc : sdb_entry_digest(version, key1, md1, hv1, out1);
    }
    uint8_t p0[DIGEST_STACK_MAX], p1[DIGEST_STACK_MAX];
    size_t n0 = v1_preimage(p0, key0, md0, hv0), n1 = v1_preimage(p1, key1, md1, hv1);
    sdb_sha256_x2(p0, n0, out0, p1, n1, out1);
    return SEALDB_OK;
}

/* ---- tx header (docs/format.md 4) ---- */
#define INNER_MAX (8 + 2 + 2 + SDB_TX_MD_MAX_LEN + 4 + 32 + 8 + 32)

/* Writes the innerHash preimage; returns its length or 0 when the header cannot be hashed. */
static size_t inner_preimage(const sdb_tx_header *h, uint8_t *p, int *rc) {
    size_t n = 0;
    sdb_put_u64be(p, (uint64_t)h->ts);
    n += 8;
    sdb_put_u16be(p + n, h->version);
    n += 2;
    if (h->version == 0) {
        if (h->nentries > UINT16_MAX) { *rc = SEALDB_INVALID; return 0; }
        sdb_put_u16be(p + n, (uint16_t)h->nentries);
        n += 2;
    } else if (h->version == 1) {
        if (h->md.extra_len > SDB_TX_MD_MAX_EXTRA) { *rc = SEALDB_INVALID; return 0; }
        size_t mdl = sdb_tx_md_encode(&h->md, p + n + 2);
        sdb_put_u16be(p + n, (uint16_t)mdl);
        n += 2 + mdl;
        sdb_put_u32be(p + n, h->nentries);
        n += 4;
    } else {
        *rc = SEALDB_UNSUPPORTED;
        return 0;
    }
    memcpy(p + n, h->eh.b, 32);
    n += 32;
    sdb_put_u64be(p + n, h->bl_tx_id);
    n += 8;
    memcpy(p + n, h->bl_root.b, 32);
    n += 32;
    return n;
}

int sdb_tx_inner_hash(const sdb_tx_header *h, uint8_t out[SDB_HASH_LEN]) {
    uint8_t buf[INNER_MAX];
    int rc = SEALDB_OK;
    size_t n = inner_preimage(h, buf, &rc);
    if (!n) return rc;
    sdb_sha256(buf, n, out);
    return SEALDB_OK;
}

void sdb_alh_from_inner(uint64_t id, const uint8_t prev_alh[SDB_HASH_LEN],
                        const uint8_t inner[SDB_HASH_LEN], uint8_t out[SDB_HASH_LEN]) {
    uint8_t buf[8 + 32 + 32];
    sdb_put_u64be(buf, id);
    memcpy(buf + 8, prev_alh, 32);
    memcpy(buf + 40, inner, 32);
    sdb_sha256(buf, sizeof buf, out);
}

int sdb_tx_alh(const sdb_tx_header *h, uint8_t out[SDB_HASH_LEN]) {
    uint8_t inner[SDB_HASH_LEN];
    int rc = sdb_tx_inner_hash(h, inner);
    if (rc) return rc;
    sdb_alh_from_inner(h->id, h->prev_alh.b, inner, out);
    return SEALDB_OK;
}

int sdb_tx_alh_x2(const sdb_tx_header *h0, uint8_t out0[SDB_HASH_LEN], const sdb_tx_header *h1,
                  uint8_t out1[SDB_HASH_LEN]) {
    uint8_t p0[INNER_MAX], p1[INNER_MAX], a0[8 + 64], a1[8 + 64];
    int rc = SEALDB_OK;
    size_t n0 = inner_preimage(h0, p0, &rc);
    if (!n0) return rc;
    size_t n1 = inner_preimage(h1, p1, &rc);
    if (!n1) return rc;
    sdb_sha256_x2(p0, n0, a0 + 40, p1, n1, a1 + 40);
    sdb_put_u64be(a0, h0->id);
    memcpy(a0 + 8, h0->prev_alh.b, 32);
    sdb_put_u64be(a1, h1->id);
    memcpy(a1 + 8, h1->prev_alh.b, 32);
    sdb_sha256_x2(a0, sizeof a0, out0, a1, sizeof a1, out1);
    return SEALDB_OK;
}

int sdb_tx_header_encode(const sdb_tx_header *h, sdb_buf *out) {
    uint8_t buf[8 + 32 + INNER_MAX];
    int rc = SEALDB_OK;
    sdb_put_u64be(buf, h->id);
    memcpy(buf + 8, h->prev_alh.b, 32);
    /* The serialization is "id || prevAlh || innerHash preimage": same fields, same order. */
    size_t n = inner_preimage(h, buf + 40, &rc);
    if (!n) return rc;
    return sdb_buf_append(out, buf, 40 + n);
}

int sdb_tx_header_decode(sdb_slice in, sdb_tx_header *out, size_t *consumed) {
    sdb_tx_header h;
    sdb_reader r = sdb_reader_of(in);
    sdb_slice s;
    uint64_t u;
    memset(&h, 0, sizeof h);
    if (sdb_rd_u64be(&r, &h.id) || sdb_rd_bytes(&r, 32, &s)) return SEALDB_CORRUPT;
    memcpy(h.prev_alh.b, s.ptr, 32);
    if (sdb_rd_u64be(&r, &u) || sdb_rd_u16be(&r, &h.version)) return SEALDB_CORRUPT;
    h.ts = (int64_t)u;
    if (h.version == 0) {
        uint16_t ne;
        if (sdb_rd_u16be(&r, &ne)) return SEALDB_CORRUPT;
        h.nentries = ne;
    } else if (h.version == 1) {
        uint16_t mdl;
        if (sdb_rd_u16be(&r, &mdl) || mdl > SDB_TX_MD_MAX_LEN) return SEALDB_CORRUPT;
        if (sdb_rd_bytes(&r, mdl, &s) || sdb_tx_md_decode(s, &h.md)) return SEALDB_CORRUPT;
        if (sdb_rd_u32be(&r, &h.nentries)) return SEALDB_CORRUPT;
    } else {
        return SEALDB_UNSUPPORTED;
    }
    if (sdb_rd_bytes(&r, 32, &s)) return SEALDB_CORRUPT;
    memcpy(h.eh.b, s.ptr, 32);
    if (sdb_rd_u64be(&r, &h.bl_tx_id) || sdb_rd_bytes(&r, 32, &s)) return SEALDB_CORRUPT;
    memcpy(h.bl_root.b, s.ptr, 32);
    if (h.id < 1 || h.nentries < 1 || h.bl_tx_id >= h.id) return SEALDB_CORRUPT;
    *out = h;
    if (consumed) *consumed = in.len - sdb_reader_left(&r);
    return SEALDB_OK;
}
