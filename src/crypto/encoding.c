/* encoding.c - the database layer's stored key/value encodings (docs/format.md 9), shared by the
 * server's db layer (what it writes) and the client verifier (what it expects to be proven):
 * prefixed plain keys and values, reference values and sorted-set (ZAdd) keys. */
#include "crypto/crypto.h"

int sdb_enc_set_key(sdb_slice key, sdb_buf *out) {
    int rc = sdb_buf_reserve(out, key.len + 1);
    if (rc) return rc;
    sdb_buf_append_u8(out, SDB_KEY_PREFIX_SET);
    return sdb_buf_append(out, key.ptr, key.len);
}

int sdb_enc_plain_value(sdb_slice value, sdb_buf *out) {
    int rc = sdb_buf_reserve(out, value.len + 1);
    if (rc) return rc;
    sdb_buf_append_u8(out, SDB_VALUE_PREFIX_PLAIN);
    return sdb_buf_append(out, value.ptr, value.len);
}

int sdb_enc_ref_value(sdb_slice referenced_key, uint64_t at_tx, sdb_buf *out) {
    int rc = sdb_buf_reserve(out, 1 + 8 + 1 + referenced_key.len);
    if (rc) return rc;
    sdb_buf_append_u8(out, SDB_VALUE_PREFIX_REF);
    sdb_buf_append_u64be(out, at_tx);
    sdb_buf_append_u8(out, SDB_KEY_PREFIX_SET);
    return sdb_buf_append(out, referenced_key.ptr, referenced_key.len);
}

int sdb_enc_zadd_key(sdb_slice set, double score, sdb_slice key, uint64_t at_tx, sdb_buf *out) {
    uint64_t bits;
    size_t need;
    _Static_assert(sizeof bits == sizeof score, "IEEE-754 binary64 expected");
    memcpy(&bits, &score, sizeof bits);
    if (sdb_add_size(set.len, key.len, &need) || sdb_add_size(need, 1 + 8 + 8 + 8 + 1 + 8, &need))
        return SEALDB_TOOLARGE;
    int rc = sdb_buf_reserve(out, need);
    if (rc) return rc;
    sdb_buf_append_u8(out, SDB_KEY_PREFIX_ZSET);
    sdb_buf_append_u64be(out, (uint64_t)set.len);
    sdb_buf_append(out, set.ptr, set.len);
    sdb_buf_append_u64be(out, bits);
    sdb_buf_append_u64be(out, (uint64_t)key.len + 1);   /* counts the referenced key's own prefix */
    sdb_buf_append_u8(out, SDB_KEY_PREFIX_SET);
    sdb_buf_append(out, key.ptr, key.len);
    return sdb_buf_append_u64be(out, at_tx);
}

int sdb_enc_parse_value(sdb_slice stored, sdb_enc_value *out) {
    sdb_reader r = sdb_reader_of(stored);
    uint8_t prefix, kp;
    memset(out, 0, sizeof *out);
    if (stored.len == 0) { out->kind = SDB_ENC_EMPTY; return SEALDB_OK; }   /* deleted entry */
    if (sdb_rd_u8(&r, &prefix)) return SEALDB_CORRUPT;
    if (prefix == SDB_VALUE_PREFIX_PLAIN) {
        out->kind = SDB_ENC_PLAIN;
        out->value = sdb_slice_of(r.p, sdb_reader_left(&r));
        return SEALDB_OK;
    }
    if (prefix != SDB_VALUE_PREFIX_REF) return SEALDB_CORRUPT;
    if (sdb_rd_u64be(&r, &out->at_tx) || sdb_rd_u8(&r, &kp) || kp != SDB_KEY_PREFIX_SET) return SEALDB_CORRUPT;
    out->kind = SDB_ENC_REF;
    out->ref_key = sdb_slice_of(r.p, sdb_reader_left(&r));
    return SEALDB_OK;
}

int sdb_enc_parse_zadd_key(sdb_slice stored, sdb_enc_zadd *out) {
    sdb_reader r = sdb_reader_of(stored);
    uint8_t prefix, kp;
    uint64_t len, bits;
    if (sdb_rd_u8(&r, &prefix) || prefix != SDB_KEY_PREFIX_ZSET) return SEALDB_CORRUPT;
    if (sdb_rd_u64be(&r, &len) || len > sdb_reader_left(&r)) return SEALDB_CORRUPT;
    if (sdb_rd_bytes(&r, (size_t)len, &out->set)) return SEALDB_CORRUPT;
    if (sdb_rd_u64be(&r, &bits)) return SEALDB_CORRUPT;
    memcpy(&out->score, &bits, sizeof bits);
    if (sdb_rd_u64be(&r, &len) || len < 1 || len > sdb_reader_left(&r)) return SEALDB_CORRUPT;
    if (sdb_rd_u8(&r, &kp) || kp != SDB_KEY_PREFIX_SET) return SEALDB_CORRUPT;
    if (sdb_rd_bytes(&r, (size_t)(len - 1), &out->key)) return SEALDB_CORRUPT;
    if (sdb_rd_u64be(&r, &out->at_tx) || sdb_reader_left(&r) != 0) return SEALDB_CORRUPT;
    return SEALDB_OK;
}
