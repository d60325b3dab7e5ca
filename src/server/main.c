/* main.c - the sealdb server binary: immudb-compatible flags, IMMUDB_* environment variables and a
 * TOML-ish config file (flag > env > config > default), `sealdb version`, `sealdb verify --dir D`,
 * daemonizing, pid/log files, and an orderly stop on SIGTERM/SIGINT. Every flag in --help works
 * or stops the start with a one-line reason; unknown flags are refused. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/sysmacros.h>
#include <sys/stat.h>
#include <unistd.h>
#include "util/net.h"
#include "server/http.h"
#include "engine/engine.h"
#include "server/autocert.h"
#include "rpc/repl.h"

typedef enum { T_STR, T_INT, T_BOOL, T_DUR } opt_type;
/* How sealdb honours a flag. Features sealdb does not have keep immudb's flag name (scripts pass it)
 * but default to what sealdb does; asking for the feature stops the start with `why`. */
typedef enum {
    S_WORKS,       /* implemented */
    S_NO_TRUE,     /* boolean: true is refused */
    S_NO_CHANGE,   /* any value other than the default is refused */
} opt_support;
typedef struct opt {
    const char *name;   /* long name as immudb spells it */
    char shortc;
    opt_type type;
    const char *def;
    const char *help;   /* one line for --help; NULL prints "(undocumented)" */
    opt_support support;
    const char *why;    /* S_NO_*: the one-line reason */
} opt;

#define NO_WEB "the web console and Swagger UI are not served by sealdb (the REST API is, under /api/)"
#define NO_SQL "SQL is not served by sealdb"
#define NO_ROT "size/age rotation is not implemented: rotate with logrotate and SIGHUP (the log file is reopened)"

static const opt opts[] = {
    { "dir", 0, T_STR, "./data", "data directory", 0, 0 },
    { "address", 'a', T_STR, "0.0.0.0", "gRPC bind address", 0, 0 },
    { "port", 'p', T_INT, "3322", "gRPC port", 0, 0 },
    { "auth", 's', T_BOOL, "true", "authentication (false: every caller acts as immudb on defaultdb)", 0, 0 },
    { "admin-password", 0, T_STR, "immudb", "initial password of user immudb (applied when systemdb is created)", 0, 0 },
    { "force-admin-password", 0, T_BOOL, "false", "reset immudb's password to --admin-password at start", 0, 0 },
    { "maintenance", 0, T_BOOL, "false", "maintenance mode", S_NO_TRUE, "maintenance mode is not implemented" },
    { "devmode", 0, T_BOOL, "false", "accept remote clients with --auth=false (sealdb always does)", 0, 0 },
    { "max-recv-msg-size", 0, T_INT, "33554432", "largest gRPC request, bytes", 0, 0 },
    { "token-expiry-time", 0, T_INT, "1440", "login token lifetime, minutes", 0, 0 },
    { "signingKey", 0, T_STR, "", "PEM ECDSA private key: sign every state answer", 0, 0 },
    { "synced", 0, T_BOOL, "true", "fsync every commit (false: faster, loses the last commits on power loss)", 0, 0 },
    { "metrics-server", 0, T_BOOL, "true", "Prometheus metrics and /readyz /livez on --metrics-server-port", 0, 0 },
    { "metrics-server-port", 0, T_INT, "9497", "metrics HTTP port", 0, 0 },
    { "web-server", 0, T_BOOL, "true", "REST API (immudb's JSON routes under /api/) on --web-server-port", 0, 0 },
    { "web-server-port", 0, T_INT, "8080", "REST API port (bound to --address; TLS when gRPC has TLS)", 0, 0 },
    { "web-max-connections", 0, T_INT, "128", "most REST API connections at a time (a thread each)", 0, 0 },
    { "pgsql-server", 0, T_BOOL, "false", "PostgreSQL wire protocol (immudb's default: true)", S_NO_TRUE, NO_SQL },
    { "pgsql-server-port", 0, T_INT, "5432", "PostgreSQL wire port", S_NO_CHANGE, NO_SQL },
    { "pprof", 0, T_BOOL, "false", "Go profiler on the metrics port", S_NO_TRUE, "pprof is Go's profiler: sealdb has none (use perf)" },
    { "no-histograms", 0, T_BOOL, "false", "leave the gRPC latency histograms out of /metrics", 0, 0 },
    { "max-sessions", 0, T_INT, "100", "most concurrent sessions", 0, 0 },
    { "session-timeout", 0, T_DUR, "2m", "idle session removal (Go duration: 30s, 2m, 1h)", 0, 0 },
    { "max-session-inactivity-time", 0, T_DUR, "3m", "a session idle longer than this ends (0: no such limit)", 0, 0 },
    { "max-session-age-time", 0, T_DUR, "0", "a session older than this ends, however busy (0: unlimited)", 0, 0 },
    { "max-active-databases", 0, T_INT, "100", "open-database cache size", S_NO_CHANGE,
      "not implemented: loaded databases stay open" },
    { "pidfile", 0, T_STR, "", "write the process id to this file (removed at stop)", 0, 0 },
    { "logdir", 0, T_STR, "", "directory of a relative --logfile", 0, 0 },
    { "logfile", 0, T_STR, "", "log to this file instead of stderr; reopened on SIGHUP", 0, 0 },
    { "logformat", 0, T_STR, "text", "text, or json (one object per line: time, level, message)", 0, 0 },
    { "log-rotation-size", 0, T_STR, "", "rotate the log at this size", S_NO_CHANGE, NO_ROT },
    { "log-rotation-age", 0, T_STR, "", "rotate the log at this age", S_NO_CHANGE, NO_ROT },
    { "log-access", 0, T_BOOL, "false", "one log line per call: method, peer, code, duration, user", 0, 0 },
    { "log-request-metadata", 0, T_BOOL, "false", "request metadata in log lines", S_NO_TRUE,
      "request metadata logging is not implemented (--log-access logs method, peer, code, duration, user)" },
    { "mtls", 'm', T_BOOL, "false", "require client certificates signed by --clientcas", 0, 0 },
    { "certificate", 0, T_STR, "", "server TLS certificate (PEM)", 0, 0 },
    { "pkey", 0, T_STR, "", "server TLS private key (PEM)", 0, 0 },
    { "clientcas", 0, T_STR, "", "CA certificates for client certificates (PEM)", 0, 0 },
    { "auto-cert", 0, T_BOOL, "false", "TLS with a self-signed certificate made on first start and kept in --dir", 0, 0 },
    { "grpc-reflection", 0, T_BOOL, "false", "gRPC server reflection (immudb's default: true)", S_NO_TRUE,
      "gRPC server reflection is not served by sealdb" },
    { "swaggerui", 0, T_BOOL, "false", "Swagger UI (immudb's default: true)", S_NO_TRUE, NO_WEB },
    { "detached", 'd', T_BOOL, "false", "run in the background", 0, 0 },
    { "config", 0, T_STR, "", "config file (key = value lines; default configs/immudb.toml if present)", 0, 0 },
    { "workers", 0, T_INT, "0", "gRPC worker threads (0: one per online CPU, 2..16)", 0, 0 },
    /* background integrity scrub (engine/scrub.c) */
    { "scrub-interval", 0, T_DUR, "1h", "pause between integrity scrubs of every database (0: off; 1s..720h)", 0, 0 },
    { "scrub-rate", 0, T_INT, "8", "integrity scrub read rate, MiB/s (1..100000)", 0, 0 },
    { "index-memtable-mb", 0, T_INT, "32", "key index memtable of each database, MiB (1..4096; up to twice this in use while one is flushed)", 0, 0 },
    /* limits against unauthenticated peers (docs/security-transport.md); parsed by limits_apply */
    { "max-connections", 0, T_INT, "1000", "most client connections (plain listener; also kept below the fd limit)", 0, 0 },
    { "max-streams-per-connection", 0, T_INT, "128", "most calls in progress on one connection", 0, 0 },
    { "max-calls", 0, T_INT, "4096", "most calls in progress in total", 0, 0 },
    { "max-stream-threads", 0, T_INT, "256", "most streaming calls running (a thread each)", 0, 0 },
    { "request-timeout", 0, T_DUR, "10s", "time for a request, each stream message and the answer to move", 0, 0 },
    { "handshake-timeout", 0, T_DUR, "10s", "time for a connection's HTTP/2 preface or TLS handshake", 0, 0 },
    { "max-connection-idle", 0, T_DUR, "5m", "an idle connection is closed after this", 0, 0 },
    { "login-workers", 0, T_INT, "2", "password-check threads for Login and OpenSession", 0, 0 },
    { "login-queue", 0, T_INT, "64", "most password checks waiting (then UNAVAILABLE)", 0, 0 },
    { "login-failures-per-address", 0, T_INT, "10", "failed logins per minute from one address", 0, 0 },
    { "login-failures-per-user", 0, T_INT, "100", "failed logins per minute for one user name (from failing addresses)", 0, 0 },
    /* replication of defaultdb, applied at every start (repl_flags_apply; docs/replication.md 5) */
    { "replication-is-replica", 0, T_BOOL, "false", "defaultdb is a replica of defaultdb on --replication-primary-host "
      "(immudb also replicates systemdb: sealdb keeps its users and databases local)", 0, 0 },
    { "replication-sync-enabled", 0, T_BOOL, "false", "synchronous replication of defaultdb (a primary needs "
      "--replication-sync-acks >= 1)", 0, 0 },
    { "replication-sync-acks", 0, T_INT, "0", "primary: replicas that must hold a write of defaultdb before it is answered", 0, 0 },
    { "replication-primary-host", 0, T_STR, "", "replica: the primary's host (empty: a replica fed only by replicateTx)", 0, 0 },
    { "replication-primary-port", 0, T_INT, "3322", "replica: the primary's gRPC port", 0, 0 },
    { "replication-primary-username", 0, T_STR, "", "replica: user logging in to the primary", 0, 0 },
    { "replication-primary-password", 0, T_STR, "", "replica: that user's password", 0, 0 },
    { "replication-prefetch-tx-buffer-size", 0, T_INT, "100", "replica: stored in defaultdb's settings (sealdb's "
      "replicator fetches up to 256 txs per answer)", 0, 0 },
    { "replication-commit-concurrency", 0, T_INT, "10", "replica: stored in defaultdb's settings (sealdb imports "
      "each answer's txs in order, in one commit group)", 0, 0 },
    { "replication-allow-tx-discarding", 0, T_BOOL, "false", "sync replica: discard its precommitted txs on a "
      "divergence from the primary (else it stops with a divergence error)", 0, 0 },
    { "replication-skip-integrity-check", 0, T_BOOL, "false", "replica: the primary skips its read checks, the "
      "import its eH check (the chain is still checked)", 0, 0 },
    { "replication-wait-for-indexing", 0, T_BOOL, "false", "replica: each import waits for the key index", 0, 0 },
};
#define NOPTS (sizeof opts / sizeof opts[0])

/* resolved values, parallel to opts */
enum { FROM_DEFAULT, FROM_CONFIG, FROM_ENV, FROM_FLAG };
static const char *opt_val[NOPTS];
static unsigned char opt_from[NOPTS];

static const opt *find_opt(const char *name, size_t n) {
    for (size_t i = 0; i < NOPTS; i++)
        if (strlen(opts[i].name) == n && strncmp(opts[i].name, name, n) == 0) return &opts[i];
    return NULL;
}

/* immudb's deprecated flag names (flags only, as there: its environment and config keys are the new names) */
static const opt *find_alias(const char *name, size_t n) {
    static const char *const alias[][2] = {
        { "replication-enabled", "replication-is-replica" },
        { "replication-follower-username", "replication-primary-username" },
        { "replication-follower-password", "replication-primary-password" },
        { "replication-master-address", "replication-primary-host" },
        { "replication-master-port", "replication-primary-port" },
    };
    for (size_t i = 0; i < sizeof alias / sizeof alias[0]; i++)
        if (strlen(alias[i][0]) == n && strncmp(alias[i][0], name, n) == 0) return find_opt(alias[i][1], strlen(alias[i][1]));
    return NULL;
}

static const char *get(const char *name) {
    const opt *o = find_opt(name, strlen(name));
    size_t i = (size_t)(o - opts);
    return opt_val[i] ? opt_val[i] : o->def;
}

static int parse_bool(const char *v, int *out) {
    if (!strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "t") || !strcasecmp(v, "yes")) { *out = 1; return 0; }
    if (!strcasecmp(v, "false") || !strcmp(v, "0") || !strcasecmp(v, "f") || !strcasecmp(v, "no")) { *out = 0; return 0; }
    return -1;
}

/* Go-style durations ("2m", "30s", "1h30m", "500ms"); a bare number means seconds. */
static int parse_dur_ms(const char *v, uint64_t *out) {
    uint64_t total = 0;
    const char *p = v;
    if (!*p) return -1;
    while (*p) {
        char *end;
        double x = strtod(p, &end);
        if (end == p || x < 0 || x > 1e12) return -1;
        p = end;
        double mul = 1000;
        if (!strncmp(p, "ms", 2)) { mul = 1; p += 2; }
        else if (*p == 'h') { mul = 3600000; p++; }
        else if (*p == 'm') { mul = 60000; p++; }
        else if (*p == 's') { mul = 1000; p++; }
        else if (*p) return -1;
        total += (uint64_t)(x * mul);
    }
    *out = total;
    return 0;
}

static int parse_int(const char *v, long long *out) {
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (end == v || *end || errno) return -1;
    *out = x;
    return 0;
}

/* every value checked once, before anything starts: get_bool/get_int below cannot fail */
static int get_bool(const char *name) {
    int b = 0;
    parse_bool(get(name), &b);
    return b;
}

static long long get_int(const char *name) {
    long long x = 0;
    parse_int(get(name), &x);
    return x;
}

static const char *const src_names[] = { "default", "config file", "environment", "flag" };

/* One line per refused start (exit code 2 for every configuration error). */
static int refuse(const opt *o, const char *what) {
    size_t i = (size_t)(o - opts);
    if (opt_from[i] == FROM_FLAG || opt_from[i] == FROM_DEFAULT) fprintf(stderr, "sealdb: --%s: %s\n", o->name, what);
    else fprintf(stderr, "sealdb: --%s: %s (set by the %s)\n", o->name, what, src_names[opt_from[i]]);
    return -1;
}

/* Types, then features sealdb lacks. */
static int check_opts(void) {
    for (size_t i = 0; i < NOPTS; i++) {
        const opt *o = &opts[i];
        const char *v = opt_val[i] ? opt_val[i] : o->def;
        int b;
        long long x;
        uint64_t ms;
        char msg[160];
        snprintf(msg, sizeof msg, "invalid %s \"%.60s\"",
                 o->type == T_BOOL ? "boolean" : o->type == T_INT ? "number" : "duration", v);
        if (o->type == T_BOOL && parse_bool(v, &b)) return refuse(o, msg);
        if (o->type == T_INT && parse_int(v, &x)) return refuse(o, msg);
        if (o->type == T_DUR && parse_dur_ms(v, &ms)) return refuse(o, msg);
        if (o->support == S_NO_TRUE && get_bool(o->name)) return refuse(o, o->why);
        if (o->support == S_NO_CHANGE && strcmp(v, o->def) != 0) return refuse(o, o->why);
    }
    return 0;
}

static void usage(FILE *f) {
    fprintf(f, "usage: sealdb [flags]            serve (defaults: --dir ./data, 0.0.0.0:3322, metrics :9497)\n"
               "       sealdb version\n"
               "       sealdb verify --dir DIR   re-verify every stored transaction offline\n"
               "flags (immudb's names; also IMMUDB_<NAME> environment variables and --config FILE;\n"
               "flag > environment > config file > default):\n");
    static const char *const tn[] = { "string", "int", "", "duration" };
    for (size_t i = 0; i < NOPTS; i++) {
        const opt *o = &opts[i];
        char left[64];
        snprintf(left, sizeof left, "%s%c%s--%s %s", o->shortc ? "-" : " ", o->shortc ? o->shortc : ' ',
                 o->shortc ? "," : " ", o->name, tn[o->type]);
        fprintf(f, "  %-44s %s (default %s)", left, o->help ? o->help : "(undocumented)",
                o->def[0] ? o->def : "\"\"");
        if (o->support == S_NO_TRUE) fprintf(f, "; true is refused: %s", o->why);
        if (o->support == S_NO_CHANGE) fprintf(f, "; other values are refused: %s", o->why);
        fputc('\n', f);
    }
    fprintf(f, "  other immudb flags (--s3-*, ...) are refused: sealdb does not use remote storage\n"
               "signals: SIGTERM/SIGINT stop after the calls in flight; SIGHUP reopens --logfile\n");
}

static int unknown_flag(const char *a) {
    size_t n = strcspn(a, "=");
    if (n == 29 && !strncmp(a, "--replication-master-database", 29))
        fprintf(stderr, "sealdb: %.*s: unknown flag (as in immudb 1.9.5: a replica's systemdb and defaultdb follow "
                "the primary's databases of the same names)\n", (int)n, a);
    else if (!strncmp(a, "--replication-", 14))
        fprintf(stderr, "sealdb: unknown flag %.*s (see sealdb --help for the --replication-* flags)\n",
                (int)(n > 60 ? 60 : n), a);
    else if (!strncmp(a, "--s3-", 5))
        fprintf(stderr, "sealdb: %.*s: remote (S3) storage is not supported by sealdb\n", (int)n, a);
    else
        fprintf(stderr, "sealdb: unknown flag %.*s (see sealdb --help)\n", (int)(n > 60 ? 60 : n), a);
    return -1;
}

static int parse_args(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); exit(0); }
        const opt *o = NULL;
        const char *val = NULL;
        if (a[0] == '-' && a[1] == '-') {
            char *eq = strchr(a + 2, '=');
            size_t n = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
            if (!(o = find_opt(a + 2, n)) && !(o = find_alias(a + 2, n))) return unknown_flag(a);
            if (eq) val = eq + 1;
        } else if (a[0] == '-' && a[1] && (!a[2] || a[2] == '=')) {
            for (size_t k = 0; k < NOPTS; k++) if (opts[k].shortc == a[1]) o = &opts[k];
            if (!o) return unknown_flag(a);
            if (a[2] == '=') val = a + 3;
        } else {
            fprintf(stderr, "sealdb: unexpected argument %.60s (see sealdb --help)\n", a);
            return -1;
        }
        if (!val) {
            if (o->type == T_BOOL) val = "true";
            else if (i + 1 < argc) val = argv[++i];
            else { fprintf(stderr, "sealdb: --%s needs a value (see sealdb --help)\n", o->name); return -1; }
        }
        opt_val[o - opts] = val;
        opt_from[o - opts] = FROM_FLAG;
    }
    return 0;
}

static void apply_env(void) {
    for (size_t i = 0; i < NOPTS; i++) {
        if (opt_from[i] == FROM_FLAG) continue;
        char name[96] = "IMMUDB_";
        size_t k = 7;
        for (const char *p = opts[i].name; *p && k < sizeof name - 1; p++)
            name[k++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
        name[k] = 0;
        const char *v = getenv(name);
        if (v) { opt_val[i] = v; opt_from[i] = FROM_ENV; }
    }
}

/* key = value lines; quotes stripped; only options not set by flag or env. Keys sealdb does not
 * know are reported (immudb's own config files carry some) but do not stop the start. */
static int apply_config(const char *path, int required) {
    FILE *f = fopen(path, "r");
    if (!f) {
        if (required) { fprintf(stderr, "sealdb: --config: cannot read %s: %s\n", path, strerror(errno)); return -1; }
        return 0;
    }
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        char *p = line;
        while (isspace((unsigned char)*p)) p++;
        if (*p == '#' || *p == '[' || !*p) continue;
        char *eq = strchr(p, '=');
        if (!eq) continue;
        char *ke = eq;
        while (ke > p && isspace((unsigned char)ke[-1])) ke--;
        char *v = eq + 1;
        while (isspace((unsigned char)*v)) v++;
        size_t vl = strlen(v);
        while (vl && isspace((unsigned char)v[vl - 1])) v[--vl] = 0;
        if (vl >= 2 && (v[0] == '"' || v[0] == '\'') && v[vl - 1] == v[0]) { v[vl - 1] = 0; v++; }
        const opt *o = find_opt(p, (size_t)(ke - p));
        if (!o) {
            fprintf(stderr, "sealdb: warning: config %s: unknown key %.*s ignored\n", path, (int)(ke - p), p);
            continue;
        }
        size_t i = (size_t)(o - opts);
        if (opt_from[i] == FROM_FLAG || opt_from[i] == FROM_ENV) continue;
        opt_val[i] = strdup(v);
        opt_from[i] = FROM_CONFIG;
    }
    fclose(f);
    return 0;
}

/* The limits block of the flag table: every value must be positive (a zero would mean "no limit"). */
static int limits_apply(sdb_server_config *cfg) {
    static const char *const ints[] = { "max-connections", "max-streams-per-connection", "max-calls",
                                        "max-stream-threads", "login-workers", "login-queue",
                                        "login-failures-per-address", "login-failures-per-user" };
    int *dst[] = { &cfg->max_connections, &cfg->max_conn_streams, &cfg->max_calls, &cfg->max_stream_threads,
                   &cfg->login_workers, &cfg->login_queue, &cfg->login_fail_addr, &cfg->login_fail_user };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        long long v = get_int(ints[i]);
        if (v < 1 || v > 1000000) { fprintf(stderr, "sealdb: --%s must be 1..1000000\n", ints[i]); return -1; }
        *dst[i] = (int)v;
    }
    static const char *const durs[] = { "request-timeout", "handshake-timeout", "max-connection-idle" };
    uint64_t *ddst[] = { &cfg->request_timeout_ms, &cfg->handshake_timeout_ms, &cfg->conn_idle_ms };
    for (size_t i = 0; i < sizeof durs / sizeof durs[0]; i++) {
        if (parse_dur_ms(get(durs[i]), ddst[i]) || *ddst[i] == 0 || *ddst[i] > 0x7fffffffu) {
            fprintf(stderr, "sealdb: invalid --%s %s (a duration, more than 0)\n", durs[i], get(durs[i]));
            return -1;
        }
    }
    return 0;
}

/* The --replication-* flags, as immudb 1.9.5 applies them to defaultdb at every start (and to
 * systemdb: sealdb keeps systemdb local, docs/replication.md 5). immudb reads the replica-only
 * flags only with --replication-is-replica and --replication-sync-acks only without it, and checks
 * none of them at start; sealdb refuses a flag that would be ignored or a combination that cannot
 * work, with the message immudb gives for the same database settings where it has one. */
static int repl_flags_apply(sdb_server_config *cfg) {
    static const char *const replica_only[][2] = {
        { "replication-primary-host", "PrimaryHost" },
        { "replication-primary-port", "PrimaryPort" },
        { "replication-primary-username", "PrimaryUsername" },
        { "replication-primary-password", "PrimaryPassword" },
        { "replication-prefetch-tx-buffer-size", "PrefetchTxBufferSize" },
        { "replication-commit-concurrency", "ReplicationCommitConcurrency" },
        { "replication-allow-tx-discarding", "AllowTxDiscarding" },
        { "replication-skip-integrity-check", "SkipIntegrityCheck" },
        { "replication-wait-for-indexing", "WaitForIndexing" },
    };
    int replica = get_bool("replication-is-replica"), sync = get_bool("replication-sync-enabled");
    long long acks = get_int("replication-sync-acks");
    char msg[320];
#define ROPT(name) find_opt(name, strlen(name))
#define SET(name) (opt_from[ROPT(name) - opts] != FROM_DEFAULT)
    if (!replica) {
        for (size_t i = 0; i < sizeof replica_only / sizeof replica_only[0]; i++) {
            const opt *o = ROPT(replica_only[i][0]);
            if (!SET(o->name) || (o->type == T_BOOL && !get_bool(o->name))) continue;
            snprintf(msg, sizeof msg, "invalid value for replication option %s on primary database 'defaultdb' "
                     "(only with --replication-is-replica; immudb 1.9.5 ignores it)", replica_only[i][1]);
            return refuse(o, msg);
        }
        if (acks < 0 || acks > 1000)
            return refuse(ROPT("replication-sync-acks"), "invalid value for replication option SyncAcks on primary "
                          "database 'defaultdb' (0..1000)");
        if (sync && acks == 0)
            return refuse(ROPT("replication-sync-enabled"), "invalid replication options for primary database "
                          "'defaultdb'. It is necessary to have at least one sync replica (set --replication-sync-acks)");
        if (!sync && acks > 0)
            return refuse(ROPT("replication-sync-acks"), "invalid replication options for primary database "
                          "'defaultdb'. SyncAcks should be set to 0 (or add --replication-sync-enabled)");
    } else {
        if (acks != 0)
            return refuse(ROPT("replication-sync-acks"), "invalid value for replication option SyncAcks "
                          "ReplicationCommitConcurrency on database 'defaultdb' (a replica sends acks, it does not "
                          "wait for them; immudb 1.9.5 ignores it)");
        static const char *const sizes[][2] = { { "replication-prefetch-tx-buffer-size", "PrefetchTxBufferSize" },
                                                { "replication-commit-concurrency", "ReplicationCommitConcurrency" } };
        for (size_t i = 0; i < 2; i++) {
            long long v = get_int(sizes[i][0]);
            if (v >= 1 && v <= 1000000) continue;
            snprintf(msg, sizeof msg, "invalid value for replication option %s on replica database 'defaultdb' "
                     "(1..1000000)", sizes[i][1]);
            return refuse(ROPT(sizes[i][0]), msg);
        }
        if (get("replication-primary-host")[0]) {
            long long port = get_int("replication-primary-port");
            if (port < 1 || port > 65535) return refuse(ROPT("replication-primary-port"), "not a port (1..65535)");
            if (!get("replication-primary-username")[0])
                return refuse(ROPT("replication-primary-username"), "needed with --replication-primary-host (the "
                              "replica logs in to the primary)");
            if (!get("replication-primary-password")[0])
                return refuse(ROPT("replication-primary-password"), "needed with --replication-primary-host (the "
                              "replica logs in to the primary)");
        } else {
            /* no primary: defaultdb takes txs only through replicateTx (seal restore), as in immudb */
            static const char *const follow[] = { "replication-primary-port", "replication-primary-username",
                                                  "replication-primary-password", "replication-skip-integrity-check",
                                                  "replication-wait-for-indexing" };
            for (size_t i = 0; i < sizeof follow / sizeof follow[0]; i++) {
                const opt *o = ROPT(follow[i]);
                if (SET(o->name) && !(o->type == T_BOOL && !get_bool(o->name)))
                    return refuse(o, "only with --replication-primary-host (without it defaultdb follows no primary)");
            }
        }
    }
#undef SET
#undef ROPT
    sdb_repl_flags *r = &cfg->repl;
    r->replica = replica;
    r->sync = sync;
    r->sync_acks = (uint32_t)acks;
    if (replica) {
        r->host = get("replication-primary-host");
        r->port = r->host[0] ? (int)get_int("replication-primary-port") : 0;
        r->user = get("replication-primary-username");
        r->password = get("replication-primary-password");
        r->prefetch = (uint32_t)get_int("replication-prefetch-tx-buffer-size");
        r->concurrency = (uint32_t)get_int("replication-commit-concurrency");
        r->allow_discard = get_bool("replication-allow-tx-discarding");
        r->skip_integrity = get_bool("replication-skip-integrity-check");
        r->wait_indexing = get_bool("replication-wait-for-indexing");
    }
    return 0;
}

/* The pid holding a flock on `path`, from /proc/locks; 0 if none is found. */
static long lock_holder(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return 0;
    FILE *f = fopen("/proc/locks", "r");
    if (!f) return 0;
    char line[256];
    long pid = 0;
    while (!pid && fgets(line, sizeof line, f)) {
        long p;
        unsigned maj, min;
        unsigned long long ino;
        char kind[16];
        /* "1: FLOCK  ADVISORY  WRITE 1234 08:01:56789 0 EOF" */
        if (sscanf(line, "%*d: %15s %*s %*s %ld %x:%x:%llu", kind, &p, &maj, &min, &ino) == 5 &&
            !strcmp(kind, "FLOCK") && maj == major(st.st_dev) && min == minor(st.st_dev) && ino == st.st_ino)
            pid = p;
    }
    fclose(f);
    return pid;
}

/* After SEALDB_BUSY: name the lock file of --dir that another process holds, and that process. */
static void report_busy(const char *dir) {
    char path[4096];
    DIR *d = opendir(dir);
    struct dirent *e;
    int first = 1;   /* systemdb is opened first, so its lock is the one that failed */
    while (d && (first || (e = readdir(d)))) {
        const char *name = first ? "systemdb" : e->d_name;
        first = 0;
        if (name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s/LOCK", dir, name);
        long pid = lock_holder(path);
        if (pid > 0) {
            char comm[64] = "";
            char cp[64];
            snprintf(cp, sizeof cp, "/proc/%ld/comm", pid);
            FILE *cf = fopen(cp, "r");
            if (cf) { if (fgets(comm, sizeof comm, cf)) comm[strcspn(comm, "\n")] = 0; fclose(cf); }
            sdb_log("error: cannot start: data directory %s is in use by process %ld%s%s%s (it holds %s)", dir, pid,
                    comm[0] ? " (" : "", comm, comm[0] ? ")" : "", path);
            closedir(d);
            return;
        }
    }
    if (d) closedir(d);
    sdb_log("error: cannot start: data directory %s is locked by another process", dir);
}

/* Why the gRPC port could not be bound, asked of the kernel directly (gRPC core only logs it). */
static void report_listen(const char *address, int port, const char *err) {
    struct addrinfo *ai = NULL;
    int e = 0;
    if (sdb_resolve_listen(address, port, &ai) == SEALDB_OK) {
        int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0) {
            int one = 1;
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
            if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) e = errno;
            close(fd);
        }
        freeaddrinfo(ai);
    }
    if (e == EADDRINUSE)
        sdb_log("error: %s: the port is in use (another sealdb or immudb?); choose one with --port", err);
    else if (e)
        sdb_log("error: %s: %s", err, strerror(e));
    else
        sdb_log("error: %s", err);
}

static int cmd_verify(int argc, char **argv) {
    const char *dir = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--dir") && i + 1 < argc) dir = argv[++i];
        else if (!strncmp(argv[i], "--dir=", 6)) dir = argv[i] + 6;
    }
    if (!dir) { fprintf(stderr, "usage: sealdb verify --dir DIR\n"); return 2; }
    int rc = sdb_verify_dir(dir, stdout);
    if (rc == SEALDB_OK) { printf("verify: %s: ok\n", dir); return 0; }
    fprintf(stderr, "verify: %s: FAILED (%s)\n", dir, sealdb_strerror(rc));
    return 1;
}

int main(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "version")) {
        printf("sealdb %s (immudb-compatible API %s)\nrpc modules:", "0.1.0", SDB_SERVER_VERSION);
        for (size_t i = 0; i < sdb_rpc_n_modules; i++) printf(" %s", sdb_rpc_modules[i]->name);
        printf("\n");
        return 0;
    }
    if (argc >= 2 && !strcmp(argv[1], "verify")) return cmd_verify(argc, argv);
    if (parse_args(argc, argv)) return 2;
    /* Per-call arenas allocate and free blocks of up to a few hundred KB (a VerifiableGet answer of a
     * 1000-entry tx is ~75 KB) many thousand times a second; glibc's default 128 KB trim threshold
     * returned that memory to the kernel after each call, so every answer was written into freshly
     * faulted pages (~10% of a VerifiableGet's CPU). Keep up to 4 MB free per malloc arena instead.
     * That slack is per arena, and glibc makes up to 8 arenas per core (gRPC's pollers and executors,
     * the workers, the committer and the indexer all allocate): bound them to one per core (2..8) so
     * the kept memory stays a few MB per core on large machines too. What stays free after a burst
     * is handed back by the janitor once the server is idle (sdb_server_idle_trim). */
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    mallopt(M_ARENA_MAX, ncpu < 2 ? 2 : ncpu > 8 ? 8 : (int)ncpu);
    mallopt(M_TRIM_THRESHOLD, 4 << 20);
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
    apply_env();
    const char *cfgpath = get("config");
    if (apply_config(cfgpath[0] ? cfgpath : "configs/immudb.toml", cfgpath[0] != 0)) return 2;
    if (check_opts()) return 2;

    sdb_server_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.dir = get("dir");
    cfg.address = get("address");
    cfg.port = (int)get_int("port");
    cfg.auth = get_bool("auth");
    cfg.admin_password = get("admin-password");
    cfg.force_admin_password = get_bool("force-admin-password");
    cfg.signing_key = get("signingKey")[0] ? get("signingKey") : NULL;
    long long mrs = get_int("max-recv-msg-size");
    cfg.max_recv_msg_size = mrs > 0 ? (size_t)mrs : 33554432;
    cfg.mtls = get_bool("mtls");
    cfg.certificate = get("certificate")[0] ? get("certificate") : NULL;
    cfg.pkey = get("pkey")[0] ? get("pkey") : NULL;
    cfg.clientcas = get("clientcas")[0] ? get("clientcas") : NULL;
    cfg.synced = get_bool("synced");
    cfg.max_sessions = (int)get_int("max-sessions");
    if (parse_dur_ms(get("session-timeout"), &cfg.session_timeout_ms)) {
        fprintf(stderr, "sealdb: invalid --session-timeout %s\n", get("session-timeout"));
        return 2;
    }
    if (parse_dur_ms(get("max-session-inactivity-time"), &cfg.session_inactivity_ms) ||
        parse_dur_ms(get("max-session-age-time"), &cfg.session_max_age_ms)) {
        fprintf(stderr, "sealdb: invalid --max-session-inactivity-time or --max-session-age-time\n");
        return 2;
    }
    cfg.token_expiry_s = (uint64_t)get_int("token-expiry-time") * 60u;
    cfg.workers = (int)get_int("workers");
    if (limits_apply(&cfg)) return 2;
    if (repl_flags_apply(&cfg)) return 2;
    if (cfg.port < 0 || cfg.port > 65535) { refuse(find_opt("port", 4), "not a port (0..65535)"); return 2; }
    int metrics = get_bool("metrics-server");
    int metrics_port = (int)get_int("metrics-server-port");
    int web = get_bool("web-server");
    sdb_http_config web_cfg = { (int)get_int("web-server-port"), (int)get_int("web-max-connections"), 0, metrics };
    if (web && (web_cfg.port < 0 || web_cfg.port > 65535)) {
        refuse(find_opt("web-server-port", 15), "not a port (0..65535)");
        return 2;
    }
    if (web && (web_cfg.max_connections < 1 || web_cfg.max_connections > 100000)) {
        fprintf(stderr, "sealdb: --web-max-connections must be 1..100000\n");
        return 2;
    }
    if (metrics && (metrics_port < 0 || metrics_port > 65535)) {
        refuse(find_opt("metrics-server-port", 19), "not a port (0..65535)");
        return 2;
    }
    if (cfg.mtls && (!cfg.certificate || !cfg.pkey || !cfg.clientcas)) {
        fprintf(stderr, "sealdb: --mtls needs --certificate, --pkey and --clientcas\n");
        return 2;
    }
    uint64_t scrub_ms = 0;
    if (parse_dur_ms(get("scrub-interval"), &scrub_ms) || (scrub_ms && (scrub_ms < 1000 || scrub_ms > 720ull * 3600000))) {
        fprintf(stderr, "sealdb: invalid --scrub-interval %s: 0 (off) or a duration from 1s to 720h\n", get("scrub-interval"));
        return 2;
    }
    long long scrub_rate = get_int("scrub-rate");
    if (scrub_rate < 1 || scrub_rate > 100000) {
        fprintf(stderr, "sealdb: invalid --scrub-rate %s: MB/s from 1 to 100000 (use --scrub-interval 0 to turn the scrub off)\n",
                get("scrub-rate"));
        return 2;
    }
    sdb_scrub_configure(scrub_ms, (uint64_t)scrub_rate << 20, sdb_log);
    long long memtable_mb = get_int("index-memtable-mb");
    if (memtable_mb < 1 || memtable_mb > 4096) {
        refuse(find_opt("index-memtable-mb", 17), "MiB from 1 to 4096");
        return 2;
    }
    sdb_engine_set_index_memtable((uint64_t)memtable_mb << 20);
    int auto_cert = get_bool("auto-cert");
    if (auto_cert && (cfg.certificate || cfg.pkey)) {
        fprintf(stderr, "sealdb: --auto-cert: not with --certificate/--pkey (it makes its own pair in --dir)\n");
        return 2;
    }
    if (auto_cert && cfg.mtls) {
        fprintf(stderr, "sealdb: --auto-cert: not with --mtls (give --certificate, --pkey and --clientcas)\n");
        return 2;
    }
    const char *logformat = get("logformat");
    if (strcmp(logformat, "text") && strcmp(logformat, "json")) {
        refuse(find_opt("logformat", 9), "must be text or json");
        return 2;
    }
    const char *logfile = get("logfile");
    if (!logfile[0] && get("logdir")[0]) {
        refuse(find_opt("logdir", 6), "only used with --logfile (the log goes to stderr)");
        return 2;
    }
    if (get_bool("maintenance") && cfg.auth) {
        fprintf(stderr, "sealdb: --maintenance requires --auth=false\n");
        return 2;
    }
    sdb_metrics_set_histograms(!get_bool("no-histograms"));
    sdb_log_access_on = get_bool("log-access");
    sdb_log_grpc_init();

    if (get_bool("detached")) {
        if (daemon(1, 0) != 0) { perror("sealdb: daemon"); return 1; }
    }
    char logpath[4096];
    if (logfile[0]) {
        const char *logdir = get("logdir");
        if (logdir[0] && logfile[0] != '/') {
            if (mkdir(logdir, 0700) != 0 && errno != EEXIST) {
                fprintf(stderr, "sealdb: --logdir: cannot create %s: %s\n", logdir, strerror(errno));
                return 1;
            }
            snprintf(logpath, sizeof logpath, "%s/%s", logdir, logfile);
        } else {
            snprintf(logpath, sizeof logpath, "%s", logfile);
        }
    }
    if (sdb_log_setup(logfile[0] ? logpath : NULL, !strcmp(logformat, "json")) != SEALDB_OK) {
        fprintf(stderr, "sealdb: --logfile: cannot open %s: %s\n", logpath, strerror(errno));
        return 1;
    }
    char cert_path[4200], key_path[4200];
    if (auto_cert) {
        char err[512];
        int created = 0;
        if (sdb_autocert_ensure(cfg.dir, cert_path, sizeof cert_path, key_path, sizeof key_path, &created, err,
                                sizeof err)) {
            sdb_log("error: --auto-cert: %s", err);
            return 1;
        }
        cfg.certificate = cert_path;
        cfg.pkey = key_path;
        sdb_log("%s self-signed certificate %s (clients trust it with --clientcas)",
                created ? "made a" : "using the", cert_path);
    }
    const char *pidfile = get("pidfile");
    if (pidfile[0]) {
        FILE *pf = fopen(pidfile, "w");
        if (!pf) { sdb_log("error: --pidfile: cannot write %s: %s", pidfile, strerror(errno)); return 1; }
        fprintf(pf, "%d\n", (int)getpid());
        fclose(pf);
    }

    /* signals are taken by sigwait in this thread only */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    sdb_server *srv = NULL;
    int rc = sdb_server_open(&cfg, &srv);
    if (rc) {
        if (rc == SEALDB_BUSY) report_busy(cfg.dir);
        else sdb_log("error: cannot start: %s", sealdb_strerror(rc));
        if (pidfile[0]) unlink(pidfile);
        return 1;
    }
    char err[256] = "";
    sdb_log_grpc_quiet(1);   /* a failed bind is reported below, in one line */
    rc = sdb_transport_start(srv, err, sizeof err);
    sdb_log_grpc_quiet(0);
    if (rc != SEALDB_OK) {
        if (strstr(err, "cannot listen")) report_listen(cfg.address, cfg.port, err);
        else sdb_log("error: %s", err);
        sdb_server_close(srv);
        if (pidfile[0]) unlink(pidfile);
        return 1;
    }
    if (metrics) {
        if (sdb_metrics_start(srv, cfg.address, metrics_port) != SEALDB_OK)
            sdb_log("warning: cannot start the metrics server on port %d", metrics_port);
        else
            sdb_log("metrics on http://%s:%d/metrics", cfg.address, metrics_port);
    }
    if (web) {
        char werr[256] = "";
        /* an idle or slow REST connection holds a thread: it is closed like an idle gRPC one */
        web_cfg.timeout_s = (int)((cfg.request_timeout_ms + 999) / 1000);
        if (sdb_http_start(srv, &web_cfg, werr, sizeof werr) != SEALDB_OK)
            sdb_log("warning: REST API not started: %s", werr);
        else
            sdb_log("REST API on %s://%s:%d/api/", cfg.certificate ? "https" : "http", cfg.address, sdb_http_bound_port());
    }
    sdb_log("sealdb %s serving %s on %s:%d (server id %s%s)", "0.1.0", cfg.dir, cfg.address,
            sdb_transport_bound_port(srv), sdb_server_uuid(srv),
            cfg.certificate ? (cfg.mtls ? ", mTLS" : ", TLS") : "");
    if (!cfg.auth) sdb_log("warning: authentication is disabled");
    if (!scrub_ms) sdb_log("integrity scrub: off (--scrub-interval 0)");
    else if (sdb_scrubber_start() != SEALDB_OK) sdb_log("warning: cannot start the integrity scrub thread");
    else sdb_log("integrity scrub: every %llu s after a round, at most %lld MB/s", (unsigned long long)(scrub_ms / 1000), scrub_rate);

    int sig = 0;
    for (;;) {
        sigwait(&set, &sig);
        if (sig != SIGHUP) break;
        if (!logfile[0]) sdb_log("SIGHUP: no --logfile to reopen");
        else if (sdb_log_reopen() != SEALDB_OK) sdb_log("error: SIGHUP: cannot reopen %s: %s", logpath, strerror(errno));
        else sdb_log("SIGHUP: log file reopened");
    }
    sdb_log("signal %d: stopping (finishing calls in flight)", sig);
    sdb_metrics_stop();
    sdb_http_stop();
    sdb_scrubber_stop();
    sdb_repl_shutdown(srv);   /* sync primaries: answers waiting for replica acks end now */
    sdb_transport_stop(srv);
    sdb_server_close(srv);
    if (pidfile[0]) unlink(pidfile);
    sdb_log("stopped");
    return 0;
}
