/* out.c - seal's output formatting (out.h). Human mode prints "name: value" lines, values as text
 * when printable, else as 0x-prefixed hex; JSON mode prints one object per result with byte strings
 * escaped (bytes >= 0x80 as \u00XX, i.e. read as Latin-1, so any byte string round-trips). */
#include <inttypes.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cli/out.h"

void out_init(seal_out *o, int json) {
    o->json = json;
    o->first = 1;
    o->depth = 0;
    o->f = stdout;
}

static int printable(const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i] < 0x20 || p[i] == 0x7f) return 0;
    return 1;
}

void out_bytes_human(FILE *f, const void *vp, size_t n) {
    const uint8_t *p = vp;
    if (printable(p, n)) { fwrite(p, 1, n, f); return; }
    fputs("0x", f);
    for (size_t i = 0; i < n; i++) fprintf(f, "%02x", p[i]);
}

void out_json_str(FILE *f, const void *vp, size_t n) {
    const uint8_t *p = vp;
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (c == '"' || c == '\\') { fputc('\\', f); fputc(c, f); }
        else if (c == '\n') fputs("\\n", f);
        else if (c == '\t') fputs("\\t", f);
        else if (c < 0x20 || c >= 0x7f) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

void out_begin(seal_out *o) {
    if (o->json) { if (o->depth > 0 && !o->first) fputc(',', o->f); fputc('{', o->f); }
    o->depth++;
    o->first = 1;
}

void out_end(seal_out *o) {
    if (o->json) fputc('}', o->f);
    if (o->depth > 0) o->depth--;
    o->first = 0;
}

void out_array_begin(seal_out *o, const char *name) {
    if (!o->json) return;
    if (!o->first) fputc(',', o->f);
    fprintf(o->f, "\"%s\":[", name);
    o->first = 1;
}

void out_array_end(seal_out *o) {
    if (o->json) fputc(']', o->f);
    o->first = 0;
}

void out_sep(seal_out *o) { if (!o->json) fputc('\n', o->f); }

#define KEY_COL 20
static void key_(seal_out *o, const char *name) {
    if (o->json) {
        if (!o->first) fputc(',', o->f);
        fprintf(o->f, "\"%s\":", name);
    } else {
        /* values start in one column: the longest name printed is 19 characters (exclude_commit_time) */
        fprintf(o->f, "%s:%*s", name, (int)(strlen(name) < KEY_COL ? KEY_COL - strlen(name) : 1), "");
    }
    o->first = 0;
}

static void eol(seal_out *o) { if (!o->json) fputc('\n', o->f); }

void out_field_bytes(seal_out *o, const char *name, const void *p, size_t n) {
    key_(o, name);
    if (o->json) out_json_str(o->f, p, n); else out_bytes_human(o->f, p, n);
    eol(o);
}

void out_field_str(seal_out *o, const char *name, const char *s) { out_field_bytes(o, name, s, strlen(s)); }

void out_field_u64(seal_out *o, const char *name, uint64_t v) { key_(o, name); fprintf(o->f, "%" PRIu64, v); eol(o); }
void out_field_i64(seal_out *o, const char *name, int64_t v) { key_(o, name); fprintf(o->f, "%" PRId64, v); eol(o); }
/* Unix seconds: RFC 3339 (UTC) for people, the number itself in JSON */
void out_field_time(seal_out *o, const char *name, int64_t unix_s) {
    if (o->json) { out_field_i64(o, name, unix_s); return; }
    char ts[40];
    time_t t = (time_t)unix_s;
    struct tm tm;
    if (!gmtime_r(&t, &tm) || !strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm)) { out_field_i64(o, name, unix_s); return; }
    out_field_str(o, name, ts);
}
void out_field_bool(seal_out *o, const char *name, int v) { key_(o, name); fputs(v ? "true" : "false", o->f); eol(o); }
void out_field_double(seal_out *o, const char *name, double v) { key_(o, name); fprintf(o->f, "%.17g", v); eol(o); }

void out_field_hex(seal_out *o, const char *name, const uint8_t *p, size_t n) {
    key_(o, name);
    if (o->json) fputc('"', o->f);
    for (size_t i = 0; i < n; i++) fprintf(o->f, "%02x", p[i]);
    if (o->json) fputc('"', o->f);
    eol(o);
}

static void meta_(seal_out *o, const sealdb_kv_meta *m) {
    if (m->deleted) out_field_bool(o, "deleted", 1);
    if (m->has_expiration) out_field_time(o, "expires", m->expires_at);
    if (m->non_indexable) out_field_bool(o, "nonindexable", 1);
}

void out_entry(seal_out *o, const sealdb_entry *e) {
    out_begin(o);
    out_field_u64(o, "tx", e->tx);
    out_field_u64(o, "revision", e->revision);
    out_field_bytes(o, "key", e->key, e->key_len);
    out_field_bytes(o, "value", e->value, e->value_len);
    if (e->has_meta) meta_(o, &e->meta);
    if (e->expired) out_field_bool(o, "expired", 1);
    if (e->has_ref) {
        out_field_bytes(o, "reference", e->ref.key, e->ref.key_len);
        out_field_u64(o, "ref_tx", e->ref.tx);
        if (e->ref.at_tx) out_field_u64(o, "ref_at_tx", e->ref.at_tx);
    }
    out_field_bool(o, "verified", e->verified);
    out_end(o);
}

void out_header(seal_out *o, const sealdb_tx_header *h) {
    out_field_u64(o, "tx", h->id);
    out_field_time(o, "time", h->ts);
    out_field_u64(o, "entries", h->nentries);
    out_field_hex(o, "eh", h->eh, sizeof h->eh);
    out_field_hex(o, "prev_alh", h->prev_alh, sizeof h->prev_alh);
    out_field_u64(o, "bl_tx", h->bl_tx_id);
    out_field_hex(o, "bl_root", h->bl_root, sizeof h->bl_root);
}

void out_tx(seal_out *o, const sealdb_tx *t) {
    out_begin(o);
    out_header(o, &t->header);
    out_field_bool(o, "verified", t->verified);
    out_array_begin(o, "kv");
    for (size_t i = 0; i < t->n; i++) {
        const sealdb_tx_entry *e = &t->entries[i];
        out_begin(o);
        /* strip the 1-byte kind prefix for display: 0x00 = key/value, 0x01 = sorted set */
        const char *kind = e->key_len && e->key[0] == 1 ? "zset" : "kv";
        out_field_str(o, "kind", kind);
        out_field_bytes(o, "key", e->key_len ? e->key + 1 : e->key, e->key_len ? e->key_len - 1 : 0);
        out_field_u64(o, "vlen", e->vlen);
        out_field_hex(o, "hvalue", e->hvalue, sizeof e->hvalue);
        if (e->has_value) {
            /* stored value: 0x00 prefix = plain value, 0x01 = reference */
            if (e->value_len && e->value[0] == 0) out_field_bytes(o, "value", e->value + 1, e->value_len - 1);
            else if (e->value_len) out_field_hex(o, "raw_value", e->value, e->value_len);
        }
        if (e->has_meta) meta_(o, &e->meta);
        out_end(o);
    }
    out_array_end(o);
    out_end(o);
}

void out_state(seal_out *o, const char *label, const sealdb_state *s) {
    out_begin(o);
    if (label) out_field_str(o, "state", label);
    out_field_str(o, "database", s->db);
    out_field_u64(o, "tx", s->tx_id);
    out_field_hex(o, "hash", s->alh, sizeof s->alh);
    if (s->sig_len) out_field_hex(o, "signature", s->sig, s->sig_len);
    out_end(o);
}

void out_progress(const char *what, uint64_t done, uint64_t total, int force) {
    if (!force && !isatty(2)) return;
    if (total) fprintf(stderr, "\r%s %" PRIu64 "/%" PRIu64 " (%u%%)", what, done, total, (unsigned)(done * 100 / total));
    else fprintf(stderr, "\r%s %" PRIu64, what, done);
    fflush(stderr);
}

void out_progress_end(int force) {
    if (!force && !isatty(2)) return;
    fputc('\n', stderr);
}
