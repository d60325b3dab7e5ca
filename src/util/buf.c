/* buf.c - owned growable byte buffers, slice comparison and the bounds-checked reader. */
#include "util/util.h"

int sdb_slice_cmp(sdb_slice a, sdb_slice b) {
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
    if (c) return c;
    return a.len < b.len ? -1 : a.len > b.len;
}

void sdb_buf_init(sdb_buf *b) { b->ptr = NULL; b->len = b->cap = 0; }

void sdb_buf_deinit(sdb_buf *b) { sdb_free(b->ptr); sdb_buf_init(b); }

int sdb_buf_reserve(sdb_buf *b, size_t extra) {
    size_t need;
    if (sdb_add_size(b->len, extra, &need)) return SEALDB_TOOLARGE;
    if (need <= b->cap) return SEALDB_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) { cap = need; break; }
        cap *= 2;
    }
    uint8_t *p = sdb_realloc(b->ptr, cap);
    if (!p) return SEALDB_NOMEM;
    b->ptr = p;
    b->cap = cap;
    return SEALDB_OK;
}

int sdb_buf_append(sdb_buf *b, const void *p, size_t n) {
    int rc = sdb_buf_reserve(b, n);
    if (rc) return rc;
    if (n) memcpy(b->ptr + b->len, p, n);
    b->len += n;
    return SEALDB_OK;
}

int sdb_buf_append_u8(sdb_buf *b, uint8_t v) { return sdb_buf_append(b, &v, 1); }
int sdb_buf_append_u16be(sdb_buf *b, uint16_t v) { uint8_t t[2]; sdb_put_u16be(t, v); return sdb_buf_append(b, t, 2); }
int sdb_buf_append_u32be(sdb_buf *b, uint32_t v) { uint8_t t[4]; sdb_put_u32be(t, v); return sdb_buf_append(b, t, 4); }
int sdb_buf_append_u64be(sdb_buf *b, uint64_t v) { uint8_t t[8]; sdb_put_u64be(t, v); return sdb_buf_append(b, t, 8); }

int sdb_rd_bytes(sdb_reader *r, size_t len, sdb_slice *out) {
    if (len > sdb_reader_left(r)) return SEALDB_CORRUPT;
    *out = (sdb_slice){ r->p, len };
    r->p += len;
    return SEALDB_OK;
}
int sdb_rd_u8(sdb_reader *r, uint8_t *v) {
    if (sdb_reader_left(r) < 1) return SEALDB_CORRUPT;
    *v = *r->p++;
    return SEALDB_OK;
}
int sdb_rd_u16be(sdb_reader *r, uint16_t *v) {
    if (sdb_reader_left(r) < 2) return SEALDB_CORRUPT;
    *v = sdb_get_u16be(r->p); r->p += 2;
    return SEALDB_OK;
}
int sdb_rd_u32be(sdb_reader *r, uint32_t *v) {
    if (sdb_reader_left(r) < 4) return SEALDB_CORRUPT;
    *v = sdb_get_u32be(r->p); r->p += 4;
    return SEALDB_OK;
}
int sdb_rd_u64be(sdb_reader *r, uint64_t *v) {
    if (sdb_reader_left(r) < 8) return SEALDB_CORRUPT;
    *v = sdb_get_u64be(r->p); r->p += 8;
    return SEALDB_OK;
}

void sdb_hex_encode(const uint8_t *p, size_t n, char *out) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static int nibble(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int sdb_hex_decode(const char *hex, size_t hex_len, sdb_buf *out) {
    if (hex_len % 2) return SEALDB_INVALID;
    int rc = sdb_buf_reserve(out, hex_len / 2);
    if (rc) return rc;
    for (size_t i = 0; i < hex_len; i += 2) {
        int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
        if (hi < 0 || lo < 0) return SEALDB_INVALID;
        out->ptr[out->len++] = (uint8_t)(hi << 4 | lo);
    }
    return SEALDB_OK;
}
