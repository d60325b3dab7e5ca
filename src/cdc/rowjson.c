/* rowjson.c - canonical JSON of recorded rows: one spelling per row key (so a key names one row),
 * the user-side canonicaliser of a primary key, and LSN / timestamp text forms. */
#include <stdio.h>
#include <time.h>
#include "cdc/cdc.h"

int cdc_json_str(sdb_buf *b, const void *s, size_t n) {
    const uint8_t *p = s;
    if (sdb_buf_reserve(b, n + 2) != SEALDB_OK) return SEALDB_NOMEM;
    if (sdb_buf_append_u8(b, '"')) return SEALDB_NOMEM;
    size_t run = 0;   /* bytes copied as they are, appended in one go */
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        const char *esc = NULL;
        char u[8];
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        default:
            if (c < 0x20) { snprintf(u, sizeof u, "\\u%04x", c); esc = u; }
        }
        if (!esc) { run++; continue; }
        if (run && sdb_buf_append(b, p + i - run, run)) return SEALDB_NOMEM;
        run = 0;
        if (sdb_buf_append(b, esc, strlen(esc))) return SEALDB_NOMEM;
    }
    if (run && sdb_buf_append(b, p + n - run, run)) return SEALDB_NOMEM;
    return sdb_buf_append_u8(b, '"') ? SEALDB_NOMEM : SEALDB_OK;
}

#define APP(s) do { if (sdb_buf_append(b, (s), strlen(s))) return SEALDB_NOMEM; } while (0)

int cdc_json_tuple(sdb_buf *b, const pgo_rel *r, const pgo_tuple *t, int key_only, const cdc_prev_row *prev,
                   int *incomplete) {
    /* a key-only tuple ('K') carries the identity columns only, at their row positions, others null */
    if (t->n != r->ncols) return SEALDB_PROTOCOL;
    APP("{");
    int first = 1;
    for (uint16_t i = 0; i < t->n; i++) {
        if (key_only && !r->key[i]) continue;
        if (!first) APP(",");
        first = 0;
        int rc = cdc_json_str(b, r->names[i], strlen(r->names[i]));
        if (rc) return rc;
        APP(":");
        const pgo_col *c = &t->cols[i];
        if (c->kind == 'n') {
            APP("null");
        } else if (c->kind == 'u') {
            size_t j = 0;
            while (prev && j < prev->n && strcmp(prev->names[j], r->names[i]) != 0) j++;
            if (!prev || j == prev->n) { APP("null"); if (incomplete) *incomplete = 1; }
            else if (prev->is_null[j]) APP("null");
            else if ((rc = cdc_json_str(b, prev->vals[j], prev->lens[j]))) return rc;
        } else if (c->kind == 'b') {
            return SEALDB_UNSUPPORTED;   /* the recorder asks for text mode only */
        } else if ((rc = cdc_json_str(b, c->val, c->len))) {
            return rc;
        }
    }
    APP("}");
    return SEALDB_OK;
}

/* ---- user-given primary key -> canonical form ---- */
static const char *ws(const char *p, const char *e) {
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

/* parses a JSON string at p (after the quote) into raw bytes in dec; returns the end or NULL */
static const char *jstring(const char *p, const char *e, sdb_buf *dec) {
    sdb_buf_reset(dec);
    while (p < e && *p != '"') {
        unsigned char c = (unsigned char)*p++;
        if (c < 0x20) return NULL;
        if (c != '\\') { if (sdb_buf_append_u8(dec, c)) return NULL; continue; }
        if (p >= e) return NULL;
        char x = *p++;
        const char *m = strchr("\"\\/bfnrt", x);
        if (x && m) {
            static const char out[] = "\"\\/\b\f\n\r\t";
            if (sdb_buf_append_u8(dec, (uint8_t)out[m - "\"\\/bfnrt"])) return NULL;
            continue;
        }
        if (x != 'u' || e - p < 4) return NULL;
        unsigned v = 0;
        for (int i = 0; i < 4; i++) {
            char h = *p++;
            v <<= 4;
            if (h >= '0' && h <= '9') v |= (unsigned)(h - '0');
            else if (h >= 'a' && h <= 'f') v |= (unsigned)(h - 'a' + 10);
            else if (h >= 'A' && h <= 'F') v |= (unsigned)(h - 'A' + 10);
            else return NULL;
        }
        if (v == 0 || (v >= 0xd800 && v <= 0xdfff)) return NULL;   /* PG text has no NUL; no surrogates */
        uint8_t u[3]; size_t un;
        if (v < 0x80) { u[0] = (uint8_t)v; un = 1; }
        else if (v < 0x800) { u[0] = (uint8_t)(0xc0 | (v >> 6)); u[1] = (uint8_t)(0x80 | (v & 0x3f)); un = 2; }
        else { u[0] = (uint8_t)(0xe0 | (v >> 12)); u[1] = (uint8_t)(0x80 | ((v >> 6) & 0x3f));
               u[2] = (uint8_t)(0x80 | (v & 0x3f)); un = 3; }
        if (sdb_buf_append(dec, u, un)) return NULL;
    }
    return p < e ? p + 1 : NULL;
}

int cdc_json_canon_flat(const char *in, size_t n, sdb_buf *out) {
    const char *p = in, *e = in + n;
    sdb_buf dec;
    sdb_buf_init(&dec);
    int rc = SEALDB_INVALID;
    sdb_buf_reset(out);
    p = ws(p, e);
    if (p >= e || *p++ != '{') goto done;
    if (sdb_buf_append_u8(out, '{')) { rc = SEALDB_NOMEM; goto done; }
    p = ws(p, e);
    int first = 1;
    if (p < e && *p == '}') { p++; goto end; }
    for (;;) {
        p = ws(p, e);
        if (p >= e || *p++ != '"' || !(p = jstring(p, e, &dec)) || dec.len == 0) goto done;
        if (!first && sdb_buf_append_u8(out, ',')) { rc = SEALDB_NOMEM; goto done; }
        first = 0;
        if (cdc_json_str(out, dec.ptr, dec.len) || sdb_buf_append_u8(out, ':')) { rc = SEALDB_NOMEM; goto done; }
        p = ws(p, e);
        if (p >= e || *p++ != ':') goto done;
        p = ws(p, e);
        if (p >= e) goto done;
        if (*p == '"') {
            if (!(p = jstring(p + 1, e, &dec))) goto done;
            if (cdc_json_str(out, dec.ptr, dec.len)) { rc = SEALDB_NOMEM; goto done; }
        } else if (e - p >= 4 && !memcmp(p, "null", 4)) {
            p += 4;
            if (sdb_buf_append(out, "null", 4)) { rc = SEALDB_NOMEM; goto done; }
        } else if (e - p >= 4 && !memcmp(p, "true", 4)) {
            p += 4;
            if (sdb_buf_append(out, "\"true\"", 6)) { rc = SEALDB_NOMEM; goto done; }
        } else if (e - p >= 5 && !memcmp(p, "false", 5)) {
            p += 5;
            if (sdb_buf_append(out, "\"false\"", 7)) { rc = SEALDB_NOMEM; goto done; }
        } else {   /* a JSON number, kept as written (PostgreSQL's text form of ints and numerics) */
            const char *s = p;
            if (p < e && *p == '-') p++;
            const char *d = p;
            while (p < e && *p >= '0' && *p <= '9') p++;
            if (p == d || (p - d > 1 && *d == '0')) goto done;
            if (p < e && *p == '.') {
                const char *f = ++p;
                while (p < e && *p >= '0' && *p <= '9') p++;
                if (p == f) goto done;
            }
            if (p < e && (*p == 'e' || *p == 'E')) goto done;   /* PG never prints keys that way */
            if (cdc_json_str(out, s, (size_t)(p - s))) { rc = SEALDB_NOMEM; goto done; }
        }
        p = ws(p, e);
        if (p < e && *p == ',') { p++; continue; }
        if (p < e && *p == '}') { p++; break; }
        goto done;
    }
end:
    p = ws(p, e);
    if (p != e || first) goto done;   /* trailing junk, or an empty key */
    rc = sdb_buf_append_u8(out, '}') ? SEALDB_NOMEM : SEALDB_OK;
done:
    sdb_buf_deinit(&dec);
    return rc;
}

void cdc_lsn_fmt(uint64_t lsn, char out[24]) {
    snprintf(out, 24, "%X/%X", (unsigned)(lsn >> 32), (unsigned)lsn);
}

int cdc_lsn_parse(const char *s, uint64_t *lsn) {
    uint64_t hi = 0, lo = 0;
    int nh = 0, nl = 0;
    const char *p = s;
    for (; *p && *p != '/'; p++, nh++) {
        int v = (*p >= '0' && *p <= '9') ? *p - '0' : (*p >= 'A' && *p <= 'F') ? *p - 'A' + 10
              : (*p >= 'a' && *p <= 'f') ? *p - 'a' + 10 : -1;
        if (v < 0 || nh >= 8) return SEALDB_INVALID;
        hi = hi << 4 | (uint64_t)v;
    }
    if (*p++ != '/' || nh == 0) return SEALDB_INVALID;
    for (; *p; p++, nl++) {
        int v = (*p >= '0' && *p <= '9') ? *p - '0' : (*p >= 'A' && *p <= 'F') ? *p - 'A' + 10
              : (*p >= 'a' && *p <= 'f') ? *p - 'a' + 10 : -1;
        if (v < 0 || nl >= 8) return SEALDB_INVALID;
        lo = lo << 4 | (uint64_t)v;
    }
    if (nl == 0) return SEALDB_INVALID;
    *lsn = hi << 32 | lo;
    return SEALDB_OK;
}

void cdc_ts_fmt(int64_t pg_us, char out[40]) {
    /* PostgreSQL's epoch is 2000-01-01, 946684800 s after the Unix one */
    int64_t us = pg_us % 1000000, s = pg_us / 1000000;
    if (us < 0) { us += 1000000; s -= 1; }
    time_t t = (time_t)(s + 946684800);
    struct tm tm;
    gmtime_r(&t, &tm);
    char d[24];
    strftime(d, sizeof d, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 40, "%.20s.%06dZ", d, (int)us);
}
