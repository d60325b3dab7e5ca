/* args.c - the seal CLI's argument parser: flags may appear before or after the subcommand, as
 * "--flag value", "--flag=value" or "-x value"; "--" ends flags. Numbers are checked strictly. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/args.h"

void seal_args_defaults(seal_args *a) {
    memset(a, 0, sizeof *a);
    a->address = "127.0.0.1";
    a->port = 3322;
    a->revision_sep = "@";
    a->timeout_s = 30;
    a->interval_s = 60;
    a->metrics_port = 9497;
}

enum kind { K_STR, K_INT, K_U64, K_I64, K_BOOL, K_DBL, K_U32, K_TRI, K_DUR };

typedef struct flag {
    const char *lname;
    char sname;
    enum kind kind;
    size_t off;                   /* field offset in seal_args */
    size_t has_off;               /* "has" flag offset, or 0 */
} flag;

#define F(l, s, k, field) { l, s, k, offsetof(seal_args, field), 0 }
#define FH(l, s, k, field, has) { l, s, k, offsetof(seal_args, field), offsetof(seal_args, has) }

static const flag flags[] = {
    F("immudb-address", 'a', K_STR, address),
    F("immudb-port", 'p', K_INT, port),
    F("database", 0, K_STR, database),
    F("username", 0, K_STR, username),
    F("tokenfile", 0, K_STR, tokenfile),
    F("roots-filepath", 0, K_STR, state_dir),
    F("state-dir", 0, K_STR, state_dir),
    F("server-signing-pub-key", 0, K_STR, pub_key),
    F("mtls", 'm', K_BOOL, mtls),
    F("tls", 0, K_BOOL, tls),
    F("certificate", 0, K_STR, certificate),
    F("pkey", 0, K_STR, pkey),
    F("clientcas", 0, K_STR, clientcas),
    F("servername", 0, K_STR, servername),
    F("max-recv-msg-size", 0, K_U64, max_recv),
    F("timeout", 0, K_INT, timeout_s),
    F("password-file", 0, K_STR, password_file),
    F("metrics-port", 0, K_INT, metrics_port),
    F("json", 0, K_BOOL, json),
    F("value-only", 0, K_BOOL, value_only),
    F("quiet", 'q', K_BOOL, quiet),
    F("progress", 0, K_BOOL, progress),
    F("revision-separator", 0, K_STR, revision_sep),
    F("at-tx", 0, K_U64, at_tx),
    F("since-tx", 0, K_U64, since_tx),
    F("limit", 'l', K_U64, limit),
    F("offset", 0, K_U64, offset),
    F("interval", 0, K_U64, interval_s),
    F("rounds", 0, K_U64, rounds),
    FH("revision", 'r', K_I64, revision, has_revision),
    F("desc", 0, K_BOOL, desc),
    F("inclusive-seek", 0, K_BOOL, inclusive_seek),
    F("inclusive-end", 0, K_BOOL, inclusive_end),
    F("verify-values", 0, K_BOOL, verify_values),
    F("values", 0, K_BOOL, values),
    F("if-not-exists", 0, K_BOOL, if_not_exists),
    F("append", 0, K_BOOL, append),
    F("prefix", 0, K_STR, prefix),
    F("seek", 0, K_STR, seek),
    F("slot", 0, K_STR, slot),
    F("end", 0, K_STR, end),
    F("file", 'f', K_STR, file),
    F("output", 'o', K_STR, output),
    FH("min-score", 0, K_DBL, min_score, has_min),
    FH("max-score", 0, K_DBL, max_score, has_max),
    FH("expires-at", 0, K_I64, expires_at, has_expires),
    F("non-indexable", 0, K_BOOL, non_indexable),
    F("must-exist", 0, K_STR, must_exist),
    F("must-not-exist", 0, K_STR, must_not_exist),
    F("not-modified-key", 0, K_STR, not_modified_key),
    F("not-modified-after", 0, K_U64, not_modified_tx),
    F("max-key-len", 0, K_U32, max_key_len),
    F("max-value-len", 0, K_U32, max_value_len),
    F("max-tx-entries", 0, K_U32, max_tx_entries),
    FH("autoload", 0, K_TRI, autoload, has_autoload),
    FH("exclude-commit-time", 0, K_TRI, excl_time, has_excl_time),
    FH("retention-period", 0, K_DUR, retention_ms, has_retention),
    FH("truncation-frequency", 0, K_DUR, trunc_freq_ms, has_trunc_freq),
    F("yes-i-know-what-i-am-doing", 0, K_BOOL, yes_i_know),
    F("help", 'h', K_BOOL, help),
    F("version", 0, K_BOOL, version),
};

static int parse_u64(const char *s, uint64_t *out) {
    if (!s || !*s || *s == '-' || *s == '+') return -1;
    char *e;
    errno = 0;
    unsigned long long v = strtoull(s, &e, 10);
    if (*e || errno) return -1;
    *out = v;
    return 0;
}

static int parse_i64(const char *s, int64_t *out) {
    if (!s || !*s) return -1;
    char *e;
    errno = 0;
    long long v = strtoll(s, &e, 10);
    if (*e || errno) return -1;
    *out = v;
    return 0;
}

static int parse_bool(const char *s, int *out) {
    if (!strcmp(s, "true") || !strcmp(s, "1") || !strcmp(s, "yes")) { *out = 1; return 0; }
    if (!strcmp(s, "false") || !strcmp(s, "0") || !strcmp(s, "no")) { *out = 0; return 0; }
    return -1;
}

/* A Go duration as immuadmin takes it ("24h", "36h30m", "90m", "1.5h", "0"), in milliseconds. */
int seal_parse_duration_ms(const char *s, int64_t *out) {
    static const struct { const char *u; double ms; } units[] = {
        { "ns", 1e-6 }, { "us", 1e-3 }, { "ms", 1 }, { "s", 1e3 }, { "m", 6e4 }, { "h", 3.6e6 },
    };
    if (!s || !*s) return -1;
    int neg = 0;
    if (*s == '-' || *s == '+') neg = *s++ == '-';
    if (!strcmp(s, "0")) { *out = 0; return 0; }
    double total = 0;
    if (!*s) return -1;
    while (*s) {
        char *e;
        if (!((*s >= '0' && *s <= '9') || *s == '.')) return -1;
        errno = 0;
        double v = strtod(s, &e);
        if (e == s || errno) return -1;
        s = e;
        size_t best = 0, bl = 0;
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
            size_t l = strlen(units[i].u);
            if (!strncmp(s, units[i].u, l) && l > bl) { best = i; bl = l; }
        }
        if (!bl) return -1;   /* a unit is required, as in Go */
        total += v * units[best].ms;
        s += bl;
    }
    if (total > 9.2e18) return -1;
    *out = (int64_t)(neg ? -total : total);
    return 0;
}

static int set_value(const flag *f, seal_args *a, const char *v, char *err, size_t cap) {
    char *base = (char *)a;
    void *p = base + f->off;
    if (f->has_off) *(int *)(void *)(base + f->has_off) = 1;
    uint64_t u;
    int64_t i;
    switch (f->kind) {
    case K_STR: *(const char **)p = v; return 0;
    case K_INT:
        if (parse_i64(v, &i) || i < 0 || i > 1000000000) break;
        *(int *)p = (int)i;
        return 0;
    case K_U64: if (parse_u64(v, &u)) break; *(uint64_t *)p = u; return 0;
    case K_U32: if (parse_u64(v, &u) || u > UINT32_MAX) break; *(uint32_t *)p = (uint32_t)u; return 0;
    case K_I64: if (parse_i64(v, &i)) break; *(int64_t *)p = i; return 0;
    case K_DBL: {
        char *e;
        errno = 0;
        double d = strtod(v, &e);
        if (!*v || *e || errno) break;
        *(double *)p = d;
        return 0;
    }
    case K_TRI: { int b; if (parse_bool(v, &b)) break; *(int *)p = b; return 0; }
    case K_BOOL: { int b; if (parse_bool(v, &b)) break; *(int *)p = b; return 0; }
    case K_DUR: if (seal_parse_duration_ms(v, &i)) break; *(int64_t *)p = i; return 0;
    }
    snprintf(err, cap, "invalid value '%s' for --%s", v, f->lname);
    return -1;
}

/* immuclient's global flags, which scripts also set as IMMUCLIENT_<FLAG> environment variables */
static const char *const env_flags[] = {
    "immudb-address", "immudb-port", "database", "username", "tokenfile", "roots-filepath",
    "server-signing-pub-key", "mtls", "certificate", "pkey", "clientcas", "servername",
    "max-recv-msg-size", "revision-separator", "value-only",
};

int seal_args_env(seal_args *a, char *err, size_t cap) {
    for (size_t i = 0; i < sizeof env_flags / sizeof env_flags[0]; i++) {
        char name[64] = "IMMUCLIENT_";
        size_t k = strlen(name);
        for (const char *p = env_flags[i]; *p && k < sizeof name - 1; p++)
            name[k++] = *p == '-' ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
        name[k] = 0;
        const char *v = getenv(name);
        if (!v) continue;
        const flag *f = NULL;
        for (size_t j = 0; j < sizeof flags / sizeof flags[0] && !f; j++)
            if (!strcmp(flags[j].lname, env_flags[i])) f = &flags[j];
        if (f && set_value(f, a, v, err, cap)) {
            snprintf(err, cap, "invalid value '%s' in %s", v, name);
            return -1;
        }
    }
    return 0;
}

int seal_args_parse(int argc, char **argv, seal_args *a, char *err, size_t cap) {
    int only_pos = 0;
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (only_pos || s[0] != '-' || s[1] == 0 || (s[1] >= '0' && s[1] <= '9') || (s[1] == '.' && s[2])) {
            /* positional (negative numbers such as scores are positionals too) */
            if (a->npos >= SEAL_MAX_POS) { snprintf(err, cap, "too many arguments"); return -1; }
            a->pos[a->npos++] = s;
            continue;
        }
        if (!strcmp(s, "--")) { only_pos = 1; continue; }
        const flag *f = NULL;
        const char *val = NULL;
        if (s[1] == '-') {
            const char *name = s + 2, *eq = strchr(name, '=');
            size_t n = eq ? (size_t)(eq - name) : strlen(name);
            for (size_t k = 0; k < sizeof flags / sizeof flags[0]; k++)
                if (strlen(flags[k].lname) == n && !strncmp(flags[k].lname, name, n)) { f = &flags[k]; break; }
            if (!f) { snprintf(err, cap, "unknown flag '%s'", s); return -1; }
            if (eq) val = eq + 1;
        } else {
            if (s[2]) { snprintf(err, cap, "unknown flag '%s'", s); return -1; }
            for (size_t k = 0; k < sizeof flags / sizeof flags[0]; k++)
                if (flags[k].sname == s[1]) { f = &flags[k]; break; }
            if (!f) { snprintf(err, cap, "unknown flag '%s'", s); return -1; }
        }
        if (!val) {
            if (f->kind == K_BOOL) { *(int *)(void *)((char *)a + f->off) = 1; continue; }
            if (i + 1 >= argc) { snprintf(err, cap, "flag --%s needs a value", f->lname); return -1; }
            val = argv[++i];
        }
        if (set_value(f, a, val, err, cap)) return -1;
    }
    if (a->port <= 0 || a->port > 65535) { snprintf(err, cap, "invalid port %d", a->port); return -1; }
    return 0;
}
