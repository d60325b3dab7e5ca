/* json.c - the generic protobuf-c descriptor <-> JSON codec of the REST API: encoding writes the
 * exact bytes immudb's gateway writes (Go's escaping and float form), decoding parses with cJSON
 * and fills any request message field by field from its descriptor. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "rpc/json.h"

#define MAX_DEPTH 32   /* deeper than any message of the schema */

/* ---------------------------------------------------------------- encoding */
static int put(sdb_buf *b, const char *s) { return sdb_buf_append(b, s, strlen(s)); }

int sdb_json_b64(sdb_buf *out, const uint8_t *p, size_t n) {
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (sdb_buf_reserve(out, (n + 2) / 3 * 4 + 2)) return SEALDB_NOMEM;
    char *o = (char *)out->ptr + out->len;
    size_t k = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        o[k++] = al[v >> 18 & 63];
        o[k++] = al[v >> 12 & 63];
        o[k++] = i + 1 < n ? al[v >> 6 & 63] : '=';
        o[k++] = i + 2 < n ? al[v & 63] : '=';
    }
    out->len += k;
    return SEALDB_OK;
}

/* Length of the valid UTF-8 sequence at s (n bytes left) and its code point; 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n, uint32_t *cp) {
    unsigned char c = s[0];
    size_t len;
    uint32_t v, min;
    if (c < 0x80) { *cp = c; return 1; }
    if ((c & 0xe0) == 0xc0) { len = 2; v = c & 0x1f; min = 0x80; }
    else if ((c & 0xf0) == 0xe0) { len = 3; v = c & 0x0f; min = 0x800; }
    else if ((c & 0xf8) == 0xf0) { len = 4; v = c & 0x07; min = 0x10000; }
    else return 0;
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        v = v << 6 | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
    *cp = v;
    return len;
}

int sdb_json_string(sdb_buf *out, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    int rc = sdb_buf_append_u8(out, '"');
    for (size_t i = 0; i < n && !rc;) {
        unsigned char c = u[i];
        char esc[8];
        if (c == '"' || c == '\\') { esc[0] = '\\'; esc[1] = (char)c; rc = sdb_buf_append(out, esc, 2); i++; continue; }
        if (c == '\n') { rc = put(out, "\\n"); i++; continue; }
        if (c == '\r') { rc = put(out, "\\r"); i++; continue; }
        if (c == '\t') { rc = put(out, "\\t"); i++; continue; }
        if (c < 0x20 || c == '<' || c == '>' || c == '&') {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            rc = sdb_buf_append(out, esc, 6);
            i++;
            continue;
        }
        if (c < 0x80) { rc = sdb_buf_append_u8(out, c); i++; continue; }
        uint32_t cp = 0;
        size_t l = utf8_seq(u + i, n - i, &cp);
        if (!l) { rc = put(out, "\\ufffd"); i++; continue; }
        if (cp == 0x2028 || cp == 0x2029) rc = put(out, cp == 0x2028 ? "\\u2028" : "\\u2029");
        else rc = sdb_buf_append(out, u + i, l);
        i += l;
    }
    return rc ? rc : sdb_buf_append_u8(out, '"');
}

/* Go's encoding/json form of a float: the shortest digits that read back as the same value, plain
 * decimal for 1e-6 <= |v| < 1e21, else exponent form without leading exponent zeros. */
static int put_float(sdb_buf *b, double v, int is32) {
    if (isnan(v)) return put(b, "\"NaN\"");
    if (isinf(v)) return put(b, v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    if (v == 0) return put(b, signbit(v) ? "-0" : "0");
    char e[64];
    int p;
    for (p = 1; p <= 17; p++) {
        snprintf(e, sizeof e, "%.*e", p - 1, v);
        double r = strtod(e, NULL);
        if (is32 ? (float)r == (float)v : r == v) break;
    }
    if (p > 17) p = 17;
    char *x = strchr(e, 'e');
    int exp10 = x ? atoi(x + 1) : 0;
    double a = fabs(v);
    char out[96];
    if (a < 1e-6 || a >= 1e21) {
        if (x) *x = 0;
        snprintf(out, sizeof out, "%se%c%d", e, exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
    } else {
        int dec = p - 1 - exp10;
        snprintf(out, sizeof out, "%.*f", dec > 0 ? dec : 0, v);
    }
    return put(b, out);
}

static int enc_msg(sdb_buf *b, const ProtobufCMessage *m, int depth);

static int enc_value(sdb_buf *b, const ProtobufCFieldDescriptor *f, const void *p, int depth) {
    char num[32];
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
        snprintf(num, sizeof num, "%d", *(const int32_t *)p); return put(b, num);
    case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
        snprintf(num, sizeof num, "%u", *(const uint32_t *)p); return put(b, num);
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
        snprintf(num, sizeof num, "\"%lld\"", (long long)*(const int64_t *)p); return put(b, num);
    case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
        snprintf(num, sizeof num, "\"%llu\"", (unsigned long long)*(const uint64_t *)p); return put(b, num);
    case PROTOBUF_C_TYPE_FLOAT: return put_float(b, *(const float *)p, 1);
    case PROTOBUF_C_TYPE_DOUBLE: return put_float(b, *(const double *)p, 0);
    case PROTOBUF_C_TYPE_BOOL: return put(b, *(const protobuf_c_boolean *)p ? "true" : "false");
    case PROTOBUF_C_TYPE_ENUM: {
        int v = *(const int *)p;
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, v);
        if (ev) return sdb_json_string(b, ev->name, strlen(ev->name));
        snprintf(num, sizeof num, "%d", v);
        return put(b, num);
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        return sdb_json_string(b, s ? s : "", s ? strlen(s) : 0);
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *d = p;
        int rc = sdb_buf_append_u8(b, '"');
        if (!rc) rc = sdb_json_b64(b, d->data, d->len);
        return rc ? rc : sdb_buf_append_u8(b, '"');
    }
    case PROTOBUF_C_TYPE_MESSAGE: return enc_msg(b, *(ProtobufCMessage *const *)p, depth + 1);
    }
    return SEALDB_INVALID;
}

/* Whether an integer field is signed (parsed as Int rather than Uint, as Go's strconv does). */
static int is_signed_int(const ProtobufCFieldDescriptor *f) {
    return f->type == PROTOBUF_C_TYPE_INT32 || f->type == PROTOBUF_C_TYPE_SINT32 || f->type == PROTOBUF_C_TYPE_SFIXED32 ||
           f->type == PROTOBUF_C_TYPE_INT64 || f->type == PROTOBUF_C_TYPE_SINT64 || f->type == PROTOBUF_C_TYPE_SFIXED64;
}

static size_t elem_size(const ProtobufCFieldDescriptor *f) {
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32: return 4;
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64: return 8;
    case PROTOBUF_C_TYPE_FLOAT: return sizeof(float);
    case PROTOBUF_C_TYPE_DOUBLE: return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_ENUM: return sizeof(int);
    case PROTOBUF_C_TYPE_STRING: return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE: return sizeof(ProtobufCMessage *);
    }
    return 0;
}

/* Whether a singular field holds its type's zero value (then proto3 JSON leaves it out). */
static int is_zero(const ProtobufCFieldDescriptor *f, const void *p) {
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: { const char *s = *(char *const *)p; return !s || !*s; }
    case PROTOBUF_C_TYPE_BYTES: return ((const ProtobufCBinaryData *)p)->len == 0;
    case PROTOBUF_C_TYPE_MESSAGE: return *(ProtobufCMessage *const *)p == NULL;
    case PROTOBUF_C_TYPE_FLOAT: return *(const float *)p == 0;
    case PROTOBUF_C_TYPE_DOUBLE: return *(const double *)p == 0;
    default: {
        static const uint8_t zero[8];
        return memcmp(p, zero, elem_size(f)) == 0;
    }
    }
}

/* Whether field f of m is "set" for output. */
static int present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f) {
    const uint8_t *base = (const uint8_t *)m;
    const void *p = base + f->offset;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return *(const uint32_t *)(base + f->quantifier_offset) == f->id;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) return *(const size_t *)(base + f->quantifier_offset) != 0;
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset && f->type != PROTOBUF_C_TYPE_MESSAGE &&
        f->type != PROTOBUF_C_TYPE_STRING)
        return *(const protobuf_c_boolean *)(base + f->quantifier_offset) != 0;
    return !is_zero(f, p);
}

static int enc_msg(sdb_buf *b, const ProtobufCMessage *m, int depth) {
    if (depth > MAX_DEPTH) return SEALDB_INVALID;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const uint8_t *base = (const uint8_t *)m;
    int rc = sdb_buf_append_u8(b, '{'), first = 1;
    for (unsigned i = 0; i < d->n_fields && !rc; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (!present(m, f)) continue;
        if (!first) rc = sdb_buf_append_u8(b, ',');
        first = 0;
        if (!rc) rc = sdb_json_string(b, f->name, strlen(f->name));
        if (!rc) rc = sdb_buf_append_u8(b, ':');
        if (rc) break;
        if (f->label != PROTOBUF_C_LABEL_REPEATED) { rc = enc_value(b, f, base + f->offset, depth); continue; }
        size_t n = *(const size_t *)(base + f->quantifier_offset), sz = elem_size(f);
        const uint8_t *arr = *(uint8_t *const *)(base + f->offset);
        rc = sdb_buf_append_u8(b, '[');
        for (size_t k = 0; k < n && !rc; k++) {
            if (k) rc = sdb_buf_append_u8(b, ',');
            if (!rc) rc = enc_value(b, f, arr + k * sz, depth);
        }
        if (!rc) rc = sdb_buf_append_u8(b, ']');
    }
    return rc ? rc : sdb_buf_append_u8(b, '}');
}

int sdb_json_encode(const ProtobufCMessage *m, sdb_buf *out) { return enc_msg(out, m, 0); }

/* ---------------------------------------------------------------- decoding */
/* proto3 strings are UTF-8: immudb's gateway cannot even marshal one that is not */
static int utf8_valid(const char *s) {
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t l = utf8_seq(u + i, n - i, &cp);
        if (!l) return 0;
        i += l;
    }
    return 1;
}

static void *pb_zalloc(ProtobufCAllocator *a, size_t n) {
    void *p = a->alloc(a->allocator_data, n ? n : 1);
    if (p) memset(p, 0, n ? n : 1);
    return p;
}

ProtobufCMessage *sdb_json_new(const ProtobufCMessageDescriptor *d, ProtobufCAllocator *a) {
    ProtobufCMessage *m = a->alloc(a->allocator_data, d->sizeof_message);
    if (m) d->message_init(m);
    return m;
}

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return SEALDB_INVALID;
}

/* Base64 of alphabet std (+/) or url (-_), padding required; \r and \n skipped when skip_nl. */
static int b64_decode(const char *s, size_t n, int url, int skip_nl, ProtobufCAllocator *a, ProtobufCBinaryData *out,
                      char *err, size_t errlen) {
    uint8_t *o = pb_zalloc(a, n / 4 * 3 + 3);
    if (!o) return fail(err, errlen, "%s", "out of memory");
    uint32_t acc = 0;
    size_t q = 0, len = 0, pad = 0, i = 0;
    char where[32];
    for (; i < n; i++) {
        char c = s[i];
        int v = -1;
        if (skip_nl && (c == '\r' || c == '\n')) continue;
        if (c == '=') {
            if (q < 2) goto bad;
            pad++;
            q++;
            if (q == 4) break;
            continue;
        }
        if (pad) goto bad;
        if (c >= 'A' && c <= 'Z') v = c - 'A';
        else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
        else if (c >= '0' && c <= '9') v = c - '0' + 52;
        else if (c == (url ? '-' : '+')) v = 62;
        else if (c == (url ? '_' : '/')) v = 63;
        if (v < 0) goto bad;
        acc = acc << 6 | (uint32_t)v;
        if (++q == 4) {
            o[len++] = (uint8_t)(acc >> 16); o[len++] = (uint8_t)(acc >> 8); o[len++] = (uint8_t)acc;
            acc = 0;
            q = 0;
        }
    }
    if (pad) {
        /* "xx==" or "xxx=": the quantum ends the input (only line breaks may follow) */
        if (q != 4) goto bad;
        for (size_t k = i + 1; k < n; k++)
            if (!(skip_nl && (s[k] == '\r' || s[k] == '\n'))) { i = k; goto bad; }
        acc <<= 6 * pad;
        o[len++] = (uint8_t)(acc >> 16);
        if (pad == 1) o[len++] = (uint8_t)(acc >> 8);
    } else if (q) {
        i = n - q;   /* Go reports the start of the incomplete quantum */
        goto bad;
    }
    out->data = o;
    out->len = len;
    return SEALDB_OK;
bad:
    snprintf(where, sizeof where, "%zu", i < n ? i : n);
    return fail(err, errlen, "illegal base64 data at input byte %s", where);
}

/* The field of d named name (proto name or its lowerCamel JSON name). */
static const ProtobufCFieldDescriptor *field_by_name(const ProtobufCMessageDescriptor *d, const char *name) {
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, name);
    if (f) return f;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const char *pn = d->fields[i].name, *q = name;
        if (!strchr(pn, '_')) continue;
        for (; *pn && *q; pn++, q++) {
            if (*pn == '_' && pn[1]) { pn++; if (*q != (pn[0] >= 'a' && pn[0] <= 'z' ? pn[0] - 32 : pn[0])) break; }
            else if (*pn != *q) break;
        }
        if (!*pn && !*q) return &d->fields[i];
    }
    return NULL;
}

/* JSON name of a proto name, into buf. */
static const char *json_name(const char *pn, char *buf, size_t cap) {
    size_t k = 0;
    for (; *pn && k + 1 < cap; pn++) {
        if (*pn == '_' && pn[1]) { pn++; buf[k++] = (char)(*pn >= 'a' && *pn <= 'z' ? *pn - 32 : *pn); }
        else buf[k++] = *pn;
    }
    buf[k] = 0;
    return buf;
}

static int parse_int_text(const char *s, int is_signed, int bits, int go_syntax, int64_t *sv, uint64_t *uv);

static const char *go_type(const ProtobufCFieldDescriptor *f) {
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32: return "int32";
    case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32: return "uint32";
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64: return "int64";
    case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64: return "uint64";
    case PROTOBUF_C_TYPE_FLOAT: return "float32";
    case PROTOBUF_C_TYPE_DOUBLE: return "float64";
    case PROTOBUF_C_TYPE_BOOL: return "bool";
    case PROTOBUF_C_TYPE_ENUM: return "enum";
    case PROTOBUF_C_TYPE_STRING: return "string";
    case PROTOBUF_C_TYPE_BYTES: return "[]uint8";
    case PROTOBUF_C_TYPE_MESSAGE: return "object";
    }
    return "?";
}

static const char *json_kind(const cJSON *v) {
    if (cJSON_IsString(v)) return "string";
    if (cJSON_IsNumber(v)) return "number";
    if (cJSON_IsBool(v)) return "bool";
    if (cJSON_IsArray(v)) return "array";
    if (cJSON_IsObject(v)) return "object";
    return "null";
}

static int mismatch(const cJSON *v, const ProtobufCFieldDescriptor *f, char *err, size_t errlen) {
    snprintf(err, errlen, "json: cannot unmarshal %s into Go value of type %s", json_kind(v), go_type(f));
    return SEALDB_INVALID;
}

static int dec_msg(ProtobufCMessage *m, const cJSON *obj, ProtobufCAllocator *a, int depth, char *err, size_t errlen);

/* Stores one JSON value v of field f at p. */
static int dec_value(const ProtobufCFieldDescriptor *f, void *p, const cJSON *v, ProtobufCAllocator *a, int depth,
                     char *err, size_t errlen) {
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64: {
        int sgn = is_signed_int(f);
        int bits = elem_size(f) == 4 ? 32 : 64;
        int64_t sv = 0;
        uint64_t uv = 0;
        char txt[64];
        if (cJSON_IsNumber(v)) {
            /* cJSON keeps numbers as doubles: exact up to 2^53, beyond that a string is needed */
            double d = v->valuedouble;
            if (d != floor(d) || fabs(d) > 9007199254740992.0)
                return fail(err, errlen, "json: cannot unmarshal number into an integer field (give integers beyond 2^53 as strings)");
            snprintf(txt, sizeof txt, "%.0f", d);
        } else if (cJSON_IsString(v)) {
            if (strlen(v->valuestring) >= sizeof txt) return fail(err, errlen, "invalid integer %s", "(too long)");
            snprintf(txt, sizeof txt, "%s", v->valuestring);
        } else return mismatch(v, f, err, errlen);
        if (parse_int_text(txt, sgn, bits, 0, &sv, &uv))
            return fail(err, errlen, "strconv.Parse: parsing \"%s\": invalid syntax or out of range", txt);
        if (bits == 32) { if (sgn) *(int32_t *)p = (int32_t)sv; else *(uint32_t *)p = (uint32_t)uv; }
        else { if (sgn) *(int64_t *)p = sv; else *(uint64_t *)p = uv; }
        return SEALDB_OK;
    }
    case PROTOBUF_C_TYPE_FLOAT: case PROTOBUF_C_TYPE_DOUBLE: {
        double d;
        if (cJSON_IsNumber(v)) d = v->valuedouble;
        else if (cJSON_IsString(v)) {
            const char *s = v->valuestring;
            if (!strcmp(s, "NaN")) d = NAN;
            else if (!strcmp(s, "Infinity")) d = INFINITY;
            else if (!strcmp(s, "-Infinity")) d = -INFINITY;
            else {
                char *end = NULL;
                errno = 0;
                d = strtod(s, &end);
                if (!*s || *end || errno || isnan(d) || isinf(d))
                    return fail(err, errlen, "strconv.ParseFloat: parsing \"%s\": invalid syntax", s);
            }
        } else return mismatch(v, f, err, errlen);
        if (f->type == PROTOBUF_C_TYPE_FLOAT) *(float *)p = (float)d; else *(double *)p = d;
        return SEALDB_OK;
    }
    case PROTOBUF_C_TYPE_BOOL:
        if (!cJSON_IsBool(v)) return mismatch(v, f, err, errlen);
        *(protobuf_c_boolean *)p = cJSON_IsTrue(v);
        return SEALDB_OK;
    case PROTOBUF_C_TYPE_ENUM: {
        if (cJSON_IsNumber(v)) {
            if (v->valuedouble != floor(v->valuedouble) || fabs(v->valuedouble) > 2147483647.0) return mismatch(v, f, err, errlen);
            *(int *)p = (int)v->valuedouble;
            return SEALDB_OK;
        }
        if (!cJSON_IsString(v)) return mismatch(v, f, err, errlen);
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value_by_name(f->descriptor, v->valuestring);
        if (!ev) {
            const ProtobufCEnumDescriptor *ed = f->descriptor;
            char msg[300];
            snprintf(msg, sizeof msg, "unknown value \"\\\"%.100s\\\"\" for enum %s", v->valuestring, ed->name);
            return fail(err, errlen, "%s", msg);
        }
        *(int *)p = ev->value;
        return SEALDB_OK;
    }
    case PROTOBUF_C_TYPE_STRING: {
        if (!cJSON_IsString(v)) return mismatch(v, f, err, errlen);
        if (!utf8_valid(v->valuestring)) return fail(err, errlen, "string field contains invalid UTF-8");
        size_t n = strlen(v->valuestring);
        char *s = a->alloc(a->allocator_data, n + 1);
        if (!s) return fail(err, errlen, "%s", "out of memory");
        memcpy(s, v->valuestring, n + 1);
        *(char **)p = s;
        return SEALDB_OK;
    }
    case PROTOBUF_C_TYPE_BYTES:
        if (!cJSON_IsString(v)) return mismatch(v, f, err, errlen);
        return b64_decode(v->valuestring, strlen(v->valuestring), 0, 1, a, p, err, errlen);
    case PROTOBUF_C_TYPE_MESSAGE: {
        if (!cJSON_IsObject(v)) return mismatch(v, f, err, errlen);
        ProtobufCMessage *sub = sdb_json_new(f->descriptor, a);
        if (!sub) return fail(err, errlen, "%s", "out of memory");
        int rc = dec_msg(sub, v, a, depth + 1, err, errlen);
        if (rc) return rc;
        *(ProtobufCMessage **)p = sub;
        return SEALDB_OK;
    }
    }
    return fail(err, errlen, "%s", "unsupported field type");
}

/* Marks a singular field set (oneof case / has_ flag). */
static void mark_set(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f) {
    uint8_t *base = (uint8_t *)m;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) *(uint32_t *)(base + f->quantifier_offset) = f->id;
    else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset && f->type != PROTOBUF_C_TYPE_MESSAGE &&
             f->type != PROTOBUF_C_TYPE_STRING)
        *(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
}

/* Fields are visited in declaration order, so of several oneof members the one declared last wins,
 * as in immudb's gateway; the JSON name beats the proto name when both are given. */
static int dec_msg(ProtobufCMessage *m, const cJSON *obj, ProtobufCAllocator *a, int depth, char *err, size_t errlen) {
    if (depth > MAX_DEPTH) return fail(err, errlen, "%s", "JSON nested too deeply");
    const ProtobufCMessageDescriptor *d = m->descriptor;
    uint8_t *base = (uint8_t *)m;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        char jn[128];
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, json_name(f->name, jn, sizeof jn));
        if (!v) v = cJSON_GetObjectItemCaseSensitive(obj, f->name);
        if (!v || cJSON_IsNull(v)) continue;
        int rc;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            if (!cJSON_IsArray(v)) return mismatch(v, f, err, errlen);
            size_t n = (size_t)cJSON_GetArraySize(v), sz = elem_size(f), k = 0;
            uint8_t *arr = n ? pb_zalloc(a, n * sz) : NULL;
            if (n && !arr) return fail(err, errlen, "%s", "out of memory");
            for (const cJSON *e = v->child; e; e = e->next, k++) {
                if (cJSON_IsNull(e) && f->type != PROTOBUF_C_TYPE_MESSAGE) return mismatch(e, f, err, errlen);
                if (f->type == PROTOBUF_C_TYPE_MESSAGE && cJSON_IsNull(e)) {
                    ProtobufCMessage *sub = sdb_json_new(f->descriptor, a);
                    if (!sub) return fail(err, errlen, "%s", "out of memory");
                    *(ProtobufCMessage **)(arr + k * sz) = sub;
                    continue;
                }
                if ((rc = dec_value(f, arr + k * sz, e, a, depth, err, errlen))) return rc;
            }
            *(size_t *)(base + f->quantifier_offset) = n;
            *(uint8_t **)(base + f->offset) = arr;
            continue;
        }
        if ((rc = dec_value(f, base + f->offset, v, a, depth, err, errlen))) return rc;
        mark_set(m, f);
    }
    return SEALDB_OK;
}

int sdb_json_decode(ProtobufCMessage *m, const char *body, size_t len, ProtobufCAllocator *a, char *err, size_t errlen) {
    size_t i = 0;
    while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n')) i++;
    if (i == len) return SEALDB_OK;   /* empty body: the empty message */
    /* cJSON ends strings at an escaped NUL; such a string would silently lose its tail */
    for (size_t k = 0; k + 1 < len; k++) {
        if (body[k] != '\\') continue;
        if (k + 6 <= len && !memcmp(body + k + 1, "u0000", 5))
            return fail(err, errlen, "%s", "a string holds a NUL character");
        k++;   /* skip the escaped character: an escaped backslash before "u0000" is plain text */
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body + i, len - i, &end, 0);
    if (!root) {
        /* an error at the last non-blank byte or beyond is a truncated document */
        size_t last = len;
        while (last > i && (body[last - 1] == ' ' || body[last - 1] == '\t' || body[last - 1] == '\r' || body[last - 1] == '\n')) last--;
        int eof = !end || end >= body + last - 1;
        return fail(err, errlen, "%s", eof ? "unexpected EOF" : "invalid character in JSON");
    }
    int rc = SEALDB_OK;
    if (cJSON_IsNull(root)) rc = SEALDB_OK;
    else if (!cJSON_IsObject(root))
        rc = fail(err, errlen, "json: cannot unmarshal %s into Go value of type map[string]json.RawMessage", json_kind(root));
    else rc = dec_msg(m, root, a, 0, err, errlen);
    cJSON_Delete(root);
    return rc;
}

/* ---------------------------------------------------------------- path and query text */
/* Integer text: plain decimal (go_syntax 0) or Go's literal syntax (0x, 0o, 0, 0b prefixes, '_'). */
static int parse_int_text(const char *s, int is_signed, int bits, int go_syntax, int64_t *sv, uint64_t *uv) {
    char clean[80];
    size_t k = 0;
    int neg = 0;
    if (*s == '+' || *s == '-') { neg = *s == '-'; s++; }
    if (!*s) return -1;
    int base = 10;
    if (go_syntax && s[0] == '0' && s[1]) {
        if (s[1] == 'x' || s[1] == 'X') { base = 16; s += 2; }
        else if (s[1] == 'o' || s[1] == 'O') { base = 8; s += 2; }
        else if (s[1] == 'b' || s[1] == 'B') { base = 2; s += 2; }
        else { base = 8; s += 1; }
    }
    for (; *s; s++) {
        if (go_syntax && *s == '_') continue;
        if (k + 1 >= sizeof clean) return -1;
        int v = *s >= '0' && *s <= '9' ? *s - '0' : *s >= 'a' && *s <= 'f' ? *s - 'a' + 10 : *s >= 'A' && *s <= 'F' ? *s - 'A' + 10 : 99;
        if (v >= base) return -1;
        clean[k++] = *s;
    }
    clean[k] = 0;
    if (!k) return -1;
    errno = 0;
    unsigned long long u = strtoull(clean, NULL, base);
    if (errno) return -1;
    if (is_signed) {
        unsigned long long lim = bits == 32 ? 2147483648ull : 9223372036854775808ull;
        if (u > lim || (!neg && u == lim)) return -1;
        *sv = neg ? (int64_t)(0 - u) : (int64_t)u;
    } else {
        if (neg && u) return -1;
        if (bits == 32 && u > 4294967295ull) return -1;
        *uv = u;
    }
    return 0;
}

static int set_text(const ProtobufCFieldDescriptor *f, void *p, const char *t, ProtobufCAllocator *a, char *err,
                    size_t errlen) {
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64: {
        int sgn = is_signed_int(f);
        int bits = elem_size(f) == 4 ? 32 : 64;
        int64_t sv = 0;
        uint64_t uv = 0;
        if (parse_int_text(t, sgn, bits, 1, &sv, &uv)) {
            char m[200];
            snprintf(m, sizeof m, "strconv.Parse%s: parsing \"%.80s\": invalid syntax", sgn ? "Int" : "Uint", t);
            return fail(err, errlen, "%s", m);
        }
        if (bits == 32) { if (sgn) *(int32_t *)p = (int32_t)sv; else *(uint32_t *)p = (uint32_t)uv; }
        else { if (sgn) *(int64_t *)p = sv; else *(uint64_t *)p = uv; }
        return SEALDB_OK;
    }
    case PROTOBUF_C_TYPE_FLOAT: case PROTOBUF_C_TYPE_DOUBLE: {
        char *end = NULL;
        errno = 0;
        double d = strtod(t, &end);
        if (!*t || *end || errno) return fail(err, errlen, "strconv.ParseFloat: parsing \"%.80s\": invalid syntax", t);
        if (f->type == PROTOBUF_C_TYPE_FLOAT) *(float *)p = (float)d; else *(double *)p = d;
        return SEALDB_OK;
    }
    case PROTOBUF_C_TYPE_BOOL: {
        static const char *const yes[] = { "1", "t", "T", "TRUE", "true", "True" };
        static const char *const no[] = { "0", "f", "F", "FALSE", "false", "False" };
        for (int i = 0; i < 6; i++) {
            if (!strcmp(t, yes[i])) { *(protobuf_c_boolean *)p = 1; return SEALDB_OK; }
            if (!strcmp(t, no[i])) { *(protobuf_c_boolean *)p = 0; return SEALDB_OK; }
        }
        return fail(err, errlen, "strconv.ParseBool: parsing \"%.80s\": invalid syntax", t);
    }
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value_by_name(f->descriptor, t);
        int64_t sv = 0;
        uint64_t uv = 0;
        if (!ev && !parse_int_text(t, 1, 32, 0, &sv, &uv))
            ev = protobuf_c_enum_descriptor_get_value(f->descriptor, (int)sv);
        if (!ev) return fail(err, errlen, "%.80s is not valid", t);
        *(int *)p = ev->value;
        return SEALDB_OK;
    }
    case PROTOBUF_C_TYPE_STRING: {
        if (!utf8_valid(t)) return fail(err, errlen, "string field contains invalid UTF-8");
        size_t n = strlen(t);
        char *s = a->alloc(a->allocator_data, n + 1);
        if (!s) return fail(err, errlen, "%s", "out of memory");
        memcpy(s, t, n + 1);
        *(char **)p = s;
        return SEALDB_OK;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        size_t n = strlen(t);
        if (b64_decode(t, n, 0, 0, a, p, err, errlen) == SEALDB_OK) return SEALDB_OK;
        char first[200];
        snprintf(first, sizeof first, "%s", err);
        if (b64_decode(t, n, 1, 0, a, p, err, errlen) == SEALDB_OK) return SEALDB_OK;
        snprintf(err, errlen, "%s", first);
        return SEALDB_INVALID;
    }
    case PROTOBUF_C_TYPE_MESSAGE: break;
    }
    return fail(err, errlen, "%s", "not a scalar field");
}

int sdb_json_set_text(ProtobufCMessage *m, const char *dotted, const char *text, ProtobufCAllocator *a, char *err,
                      size_t errlen) {
    char name[128];
    for (int depth = 0; depth < MAX_DEPTH; depth++) {
        const char *dot = strchr(dotted, '.');
        size_t n = dot ? (size_t)(dot - dotted) : strlen(dotted);
        if (!n || n >= sizeof name) return 1;
        memcpy(name, dotted, n);
        name[n] = 0;
        const ProtobufCFieldDescriptor *f = field_by_name(m->descriptor, name);
        if (!f || f->label == PROTOBUF_C_LABEL_REPEATED) return 1;
        uint8_t *p = (uint8_t *)m + f->offset;
        if (!dot) {
            if (f->type == PROTOBUF_C_TYPE_MESSAGE) return 1;
            int rc = set_text(f, p, text, a, err, errlen);
            if (!rc) mark_set(m, f);
            return rc;
        }
        if (f->type != PROTOBUF_C_TYPE_MESSAGE) return 1;
        ProtobufCMessage **sub = (ProtobufCMessage **)p;
        if (!*sub) {
            *sub = sdb_json_new(f->descriptor, a);
            if (!*sub) return fail(err, errlen, "%s", "out of memory");
            mark_set(m, f);
        }
        m = *sub;
        dotted = dot + 1;
    }
    return 1;
}
