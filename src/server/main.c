/* main.c - the sealdb server binary: immudb-compatible flags, IMMUDB_* environment variables and a
 * TOML-ish config file (flag > env > config > default), `sealdb version`, `sealdb verify --dir D`,
 * daemonizing, pid/log files, and an orderly stop on SIGTERM/SIGINT. */
#include <ctype.h>
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "rpc/server.h"
#include "engine/engine.h"

typedef enum { T_STR, T_INT, T_BOOL, T_DUR } opt_type;
typedef struct opt {
    const char *name;   /* long name as immudb spells it */
    char shortc;
    opt_type type;
    const char *def;
    const char *val;    /* resolved value */
    int from_flag, from_env;
} opt;

static opt opts[] = {
    { "dir", 0, T_STR, "./data", 0, 0, 0 },
    { "address", 'a', T_STR, "0.0.0.0", 0, 0, 0 },
    { "port", 'p', T_INT, "3322", 0, 0, 0 },
    { "auth", 's', T_BOOL, "true", 0, 0, 0 },
    { "admin-password", 0, T_STR, "immudb", 0, 0, 0 },
    { "force-admin-password", 0, T_BOOL, "false", 0, 0, 0 },
    { "maintenance", 0, T_BOOL, "false", 0, 0, 0 },
    { "devmode", 0, T_BOOL, "false", 0, 0, 0 },
    { "max-recv-msg-size", 0, T_INT, "33554432", 0, 0, 0 },
    { "token-expiry-time", 0, T_INT, "1440", 0, 0, 0 },
    { "signingKey", 0, T_STR, "", 0, 0, 0 },
    { "synced", 0, T_BOOL, "true", 0, 0, 0 },
    { "metrics-server", 0, T_BOOL, "true", 0, 0, 0 },
    { "metrics-server-port", 0, T_INT, "9497", 0, 0, 0 },
    { "web-server", 0, T_BOOL, "true", 0, 0, 0 },
    { "web-server-port", 0, T_INT, "8080", 0, 0, 0 },
    { "pgsql-server", 0, T_BOOL, "true", 0, 0, 0 },
    { "pgsql-server-port", 0, T_INT, "5432", 0, 0, 0 },
    { "pprof", 0, T_BOOL, "false", 0, 0, 0 },
    { "no-histograms", 0, T_BOOL, "false", 0, 0, 0 },
    { "max-sessions", 0, T_INT, "100", 0, 0, 0 },
    { "session-timeout", 0, T_DUR, "2m", 0, 0, 0 },
    { "max-session-inactivity-time", 0, T_DUR, "3m", 0, 0, 0 },
    { "max-session-age-time", 0, T_DUR, "0", 0, 0, 0 },
    { "max-active-databases", 0, T_INT, "100", 0, 0, 0 },
    { "pidfile", 0, T_STR, "", 0, 0, 0 },
    { "logdir", 0, T_STR, "", 0, 0, 0 },
    { "logfile", 0, T_STR, "", 0, 0, 0 },
    { "logformat", 0, T_STR, "text", 0, 0, 0 },
    { "log-rotation-size", 0, T_STR, "", 0, 0, 0 },
    { "log-rotation-age", 0, T_STR, "", 0, 0, 0 },
    { "log-access", 0, T_BOOL, "false", 0, 0, 0 },
    { "log-request-metadata", 0, T_BOOL, "false", 0, 0, 0 },
    { "mtls", 'm', T_BOOL, "false", 0, 0, 0 },
    { "certificate", 0, T_STR, "", 0, 0, 0 },
    { "pkey", 0, T_STR, "", 0, 0, 0 },
    { "clientcas", 0, T_STR, "", 0, 0, 0 },
    { "auto-cert", 0, T_BOOL, "false", 0, 0, 0 },
    { "grpc-reflection", 0, T_BOOL, "true", 0, 0, 0 },
    { "swaggerui", 0, T_BOOL, "true", 0, 0, 0 },
    { "detached", 'd', T_BOOL, "false", 0, 0, 0 },
    { "config", 0, T_STR, "", 0, 0, 0 },
    { "workers", 0, T_INT, "0", 0, 0, 0 },   /* 0: one per online CPU (2..16) */
    /* background integrity scrub (engine/scrub.c): time between rounds over every database
     * (0 = off), and its read rate in MB/s (MiB) */
    { "scrub-interval", 0, T_DUR, "1h", 0, 0, 0 },
    { "scrub-rate", 0, T_INT, "8", 0, 0, 0 },
    /* limits against unauthenticated peers (docs/security-transport.md); parsed by limits_apply */
    { "max-connections", 0, T_INT, "1000", 0, 0, 0 },
    { "max-streams-per-connection", 0, T_INT, "128", 0, 0, 0 },
    { "max-calls", 0, T_INT, "4096", 0, 0, 0 },
    { "max-stream-threads", 0, T_INT, "256", 0, 0, 0 },
    { "request-timeout", 0, T_DUR, "10s", 0, 0, 0 },
    { "handshake-timeout", 0, T_DUR, "10s", 0, 0, 0 },
    { "max-connection-idle", 0, T_DUR, "5m", 0, 0, 0 },
    { "login-workers", 0, T_INT, "2", 0, 0, 0 },
    { "login-queue", 0, T_INT, "64", 0, 0, 0 },
    { "login-failures-per-address", 0, T_INT, "10", 0, 0, 0 },
    { "login-failures-per-user", 0, T_INT, "100", 0, 0, 0 },
};
#define NOPTS (sizeof opts / sizeof opts[0])

static opt *find_opt(const char *name, size_t n) {
    for (size_t i = 0; i < NOPTS; i++)
        if (strlen(opts[i].name) == n && strncmp(opts[i].name, name, n) == 0) return &opts[i];
    return NULL;
}

static const char *get(const char *name) {
    opt *o = find_opt(name, strlen(name));
    return o->val ? o->val : o->def;
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
        if (end == p || x < 0) return -1;
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

static int get_bool(const char *name) {
    int b = 0;
    if (parse_bool(get(name), &b)) { fprintf(stderr, "sealdb: invalid boolean for --%s: %s\n", name, get(name)); exit(2); }
    return b;
}

static long long get_int(const char *name) {
    char *end;
    const char *v = get(name);
    long long x = strtoll(v, &end, 10);
    if (end == v || *end) { fprintf(stderr, "sealdb: invalid number for --%s: %s\n", name, v); exit(2); }
    return x;
}

static void set_flag(opt *o, const char *v) { o->val = v; o->from_flag = 1; }

static void usage(FILE *f) {
    fprintf(f, "usage: sealdb [flags]            serve (defaults: --dir ./data, 0.0.0.0:3322, metrics :9497)\n"
               "       sealdb version\n"
               "       sealdb verify --dir DIR   re-verify every stored transaction offline\n"
               "flags (immudb names; also IMMUDB_<NAME> environment variables and --config FILE):\n");
    for (size_t i = 0; i < NOPTS; i++)
        fprintf(f, "  %s%c%s--%s  (default %s)\n", opts[i].shortc ? "-" : "", opts[i].shortc ? opts[i].shortc : ' ',
                opts[i].shortc ? ", " : "  ", opts[i].name, opts[i].def[0] ? opts[i].def : "\"\"");
}

static int parse_args(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); exit(0); }
        opt *o = NULL;
        const char *val = NULL;
        if (a[0] == '-' && a[1] == '-') {
            char *eq = strchr(a + 2, '=');
            size_t n = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
            o = find_opt(a + 2, n);
            if (!o) {
                /* other immudb flags (replication, s3, ...) are accepted and ignored */
                fprintf(stderr, "sealdb: warning: ignoring unsupported flag %s\n", a);
                if (!eq && i + 1 < argc && argv[i + 1][0] != '-' &&
                    (!strncmp(a + 2, "replication-", 12) || !strncmp(a + 2, "s3-", 3)))
                    i++;
                continue;
            }
            if (eq) val = eq + 1;
        } else if (a[0] == '-' && a[1] && !a[2]) {
            for (size_t k = 0; k < NOPTS; k++) if (opts[k].shortc == a[1]) o = &opts[k];
            if (!o) { fprintf(stderr, "sealdb: unknown flag %s\n", a); return -1; }
        } else {
            fprintf(stderr, "sealdb: unexpected argument %s\n", a);
            return -1;
        }
        if (!val) {
            if (o->type == T_BOOL) val = "true";
            else if (i + 1 < argc) val = argv[++i];
            else { fprintf(stderr, "sealdb: flag --%s needs a value\n", o->name); return -1; }
        }
        set_flag(o, val);
    }
    return 0;
}

static void apply_env(void) {
    for (size_t i = 0; i < NOPTS; i++) {
        if (opts[i].from_flag) continue;
        char name[96] = "IMMUDB_";
        size_t k = 7;
        for (const char *p = opts[i].name; *p && k < sizeof name - 1; p++)
            name[k++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
        name[k] = 0;
        const char *v = getenv(name);
        if (v) { opts[i].val = v; opts[i].from_env = 1; }
    }
}

/* key = value lines; quotes stripped; only options not set by flag or env. */
static int apply_config(const char *path, int required) {
    FILE *f = fopen(path, "r");
    if (!f) {
        if (required) { fprintf(stderr, "sealdb: cannot read config %s\n", path); return -1; }
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
        opt *o = find_opt(p, (size_t)(ke - p));
        if (o && !o->from_flag && !o->from_env) o->val = strdup(v);
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
    if (parse_args(argc, argv)) { usage(stderr); return 2; }
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
    if (cfg.port < 0 || cfg.port > 65535) { fprintf(stderr, "sealdb: invalid port\n"); return 2; }
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
    int metrics = get_bool("metrics-server");
    int metrics_port = (int)get_int("metrics-server-port");
    if (get_bool("maintenance") && cfg.auth) {
        fprintf(stderr, "sealdb: --maintenance requires --auth=false\n");
        return 2;
    }

    if (get_bool("detached")) {
        if (daemon(1, 0) != 0) { perror("sealdb: daemon"); return 1; }
    }
    const char *logfile = get("logfile");
    if (logfile[0]) {
        char path[4096];
        const char *logdir = get("logdir");
        if (logdir[0] && logfile[0] != '/') { mkdir(logdir, 0700); snprintf(path, sizeof path, "%s/%s", logdir, logfile); }
        else snprintf(path, sizeof path, "%s", logfile);
        if (!freopen(path, "a", stderr)) { perror("sealdb: logfile"); return 1; }
    }
    const char *pidfile = get("pidfile");
    if (pidfile[0]) {
        FILE *pf = fopen(pidfile, "w");
        if (!pf) { fprintf(stderr, "sealdb: cannot write pidfile %s\n", pidfile); return 1; }
        fprintf(pf, "%d\n", (int)getpid());
        fclose(pf);
    }

    /* signals are taken by sigwait in this thread only */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    sdb_server *srv = NULL;
    int rc = sdb_server_open(&cfg, &srv);
    if (rc) {
        sdb_log("error: cannot start: %s", sealdb_strerror(rc));
        if (pidfile[0]) unlink(pidfile);
        return 1;
    }
    char err[256] = "";
    if (sdb_transport_start(srv, err, sizeof err) != SEALDB_OK) {
        sdb_log("error: %s", err);
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
    sdb_log("sealdb %s serving %s on %s:%d (server id %s%s)", "0.1.0", cfg.dir, cfg.address,
            sdb_transport_bound_port(srv), sdb_server_uuid(srv),
            cfg.certificate ? (cfg.mtls ? ", mTLS" : ", TLS") : "");
    if (!cfg.auth) sdb_log("warning: authentication is disabled");
    if (!scrub_ms) sdb_log("integrity scrub: off (--scrub-interval 0)");
    else if (sdb_scrubber_start() != SEALDB_OK) sdb_log("warning: cannot start the integrity scrub thread");
    else sdb_log("integrity scrub: every %llu s after a round, at most %lld MB/s", (unsigned long long)(scrub_ms / 1000), scrub_rate);

    int sig = 0;
    sigwait(&set, &sig);
    sdb_log("signal %d: stopping (finishing calls in flight)", sig);
    sdb_metrics_stop();
    sdb_scrubber_stop();
    sdb_transport_stop(srv);
    sdb_server_close(srv);
    if (pidfile[0]) unlink(pidfile);
    sdb_log("stopped");
    return 0;
}
