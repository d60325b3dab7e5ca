/* main.c - sealdb-cdc: flags and config file, signals, the reconnect loop with backoff around
 * replication sessions (stream.c), and the metrics endpoint (metrics.c). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cdc/daemon.h"

volatile sig_atomic_t cdc_stop;
cdc_stats cdc_st;
int cdc_log_level = 1;

void cdc_log(int level, const char *fmt, ...) {
    if (level > cdc_log_level) return;
    char ts[32];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s sealdb-cdc: ", ts);
    vfprintf(stderr, fmt, ap);
    /* libpq's messages end with a newline already */
    size_t n = strlen(fmt);
    if (!(n && fmt[n - 1] == '\n')) fputc('\n', stderr);
    va_end(ap);
}

static void on_signal(int sig) { (void)sig; cdc_stop = 1; }

static void usage(FILE *f) {
    fputs(
"usage: sealdb-cdc --pg CONNINFO [options]\n"
"Records every committed change of a PostgreSQL database in sealdb through logical replication\n"
"(pgoutput): one sealdb transaction per PostgreSQL transaction, exactly once, in commit order.\n"
"\n"
"PostgreSQL:\n"
"  --pg CONNINFO            libpq connection string or URI (TLS: sslmode=verify-full sslrootcert=...;\n"
"                           password: PGPASSWORD, ~/.pgpass or PGPASSFILE)\n"
"  --slot NAME              logical replication slot (default sealdb_cdc)\n"
"  --publication NAME       publication (default sealdb_cdc)\n"
"  --tables LIST            schema.table,... published by --create-slot (default: all tables)\n"
"  --create-slot            create the publication and the slot when missing\n"
"  --proto N                pgoutput protocol version, 1 or 2 (default 1)\n"
"  --no-pk MODE             tables without a primary key: refuse (default), or full = keyed by all\n"
"                           columns when the table has REPLICA IDENTITY FULL\n"
"sealdb:\n"
"  --sealdb HOST:PORT       server (default 127.0.0.1:3322)\n"
"  --database NAME          database (default defaultdb)\n"
"  --user NAME              user (default immudb); password from SEALDB_PASSWORD or --password-file\n"
"  --password-file FILE     file whose first line is the sealdb password\n"
"  --sealdb-tls             TLS to sealdb (--sealdb-ca, --sealdb-cert/--sealdb-key for mTLS,\n"
"                           --sealdb-server-name)\n"
"  --sealdb-ca FILE  --sealdb-cert FILE  --sealdb-key FILE  --sealdb-server-name NAME\n"
"  --prefix P               key prefix (default cdc): rows at P/<schema>.<table>/<key JSON>\n"
"  --max-batch-bytes N      bytes of keys and values per sealdb transaction (default 8388608)\n"
"  --max-batch-rows N       rows per sealdb transaction (default: the database's max entries - 1)\n"
"  --pipeline N             PostgreSQL transactions in flight to sealdb at once, 1..256 (default 64;\n"
"                           still one sealdb tx each, committed in PostgreSQL's order; 1 = wait for\n"
"                           each before sending the next); their bytes at most 4 x --max-batch-bytes\n"
"  --send-window-ms N       a pipelined transaction waits up to N ms, 0..1000, for the ones PostgreSQL\n"
"                           sends after it, then all go to sealdb in one message (default 20; 0 = each\n"
"                           at once): fewer, larger bursts cost both sides less CPU per transaction\n"
"Operation:\n"
"  --config FILE            read options from FILE: one \"name = value\" per line (names as the\n"
"                           long flags without --; flags given on the command line win)\n"
"  --metrics ADDR:PORT      Prometheus /metrics (default off; e.g. 127.0.0.1:9498)\n"
"  --status-interval MS     standby status updates to PostgreSQL (default 1000)\n"
"  --lag-log FILE           append \"<end lsn> <commit us> <recorded us> <rows>\" per transaction\n"
"  -v, --verbose  -q, --quiet  --version  -h, --help\n", f);
}

enum { O_PG = 256, O_SLOT, O_PUB, O_TABLES, O_CREATE, O_PROTO, O_NOPK, O_SEALDB, O_DB, O_USER, O_PWFILE,
       O_TLS, O_CA, O_CERT, O_KEY, O_SNI, O_PREFIX, O_MAXB, O_MAXR, O_CONFIG, O_METRICS, O_STATUS, O_LAG,
       O_VERSION, O_PIPE, O_WINDOW };
static const struct option longopts[] = {
    { "pg", 1, 0, O_PG }, { "slot", 1, 0, O_SLOT }, { "publication", 1, 0, O_PUB }, { "tables", 1, 0, O_TABLES },
    { "create-slot", 0, 0, O_CREATE }, { "proto", 1, 0, O_PROTO }, { "no-pk", 1, 0, O_NOPK },
    { "sealdb", 1, 0, O_SEALDB }, { "database", 1, 0, O_DB }, { "user", 1, 0, O_USER },
    { "password-file", 1, 0, O_PWFILE }, { "sealdb-tls", 0, 0, O_TLS }, { "sealdb-ca", 1, 0, O_CA },
    { "sealdb-cert", 1, 0, O_CERT }, { "sealdb-key", 1, 0, O_KEY }, { "sealdb-server-name", 1, 0, O_SNI },
    { "prefix", 1, 0, O_PREFIX }, { "max-batch-bytes", 1, 0, O_MAXB }, { "max-batch-rows", 1, 0, O_MAXR },
    { "pipeline", 1, 0, O_PIPE }, { "send-window-ms", 1, 0, O_WINDOW },
    { "config", 1, 0, O_CONFIG }, { "metrics", 1, 0, O_METRICS }, { "status-interval", 1, 0, O_STATUS },
    { "lag-log", 1, 0, O_LAG }, { "verbose", 0, 0, 'v' }, { "quiet", 0, 0, 'q' }, { "version", 0, 0, O_VERSION },
    { "help", 0, 0, 'h' }, { 0, 0, 0, 0 } };

static cdc_cfg cfg;
static char *pw_file;

static int num(const char *name, const char *v, long long lo, long long hi, long long *out) {
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) {
        fprintf(stderr, "sealdb-cdc: --%s: %s is not a number in [%lld, %lld]\n", name, v, lo, hi);
        return -1;
    }
    *out = x;
    return 0;
}

static int host_port(const char *name, const char *v, const char **host, int *port) {
    const char *c = strrchr(v, ':');
    long long p;
    if (!c || c == v || num(name, c + 1, 1, 65535, &p)) {
        fprintf(stderr, "sealdb-cdc: --%s wants HOST:PORT, got %s\n", name, v);
        return -1;
    }
    char *h = strndup(v, (size_t)(c - v));
    if (h && h[0] == '[' && h[strlen(h) - 1] == ']') { memmove(h, h + 1, strlen(h)); h[strlen(h) - 1] = 0; }
    *host = h; *port = (int)p;
    return h ? 0 : -1;
}

/* one option, from the command line or the config file (v is kept: strdup'ed by the caller) */
static int set_opt(int id, const char *v) {
    long long x;
    switch (id) {
    case O_PG: cfg.pg = v; break;
    case O_SLOT: cfg.slot = v; break;
    case O_PUB: cfg.publication = v; break;
    case O_TABLES: cfg.tables = v; break;
    case O_CREATE: cfg.create_slot = !v || strcmp(v, "false") != 0; break;
    case O_PROTO: if (num("proto", v, 1, 2, &x)) return -1; cfg.proto = (int)x; break;
    case O_NOPK:
        if (!strcmp(v, "refuse")) cfg.no_pk_full = 0;
        else if (!strcmp(v, "full")) cfg.no_pk_full = 1;
        else { fprintf(stderr, "sealdb-cdc: --no-pk is refuse or full, not %s\n", v); return -1; }
        break;
    case O_SEALDB: return host_port("sealdb", v, &cfg.sealdb_host, &cfg.sealdb_port);
    case O_DB: cfg.database = v; break;
    case O_USER: cfg.user = v; break;
    case O_PWFILE: pw_file = (char *)v; break;
    case O_TLS: cfg.tls = !v || strcmp(v, "false") != 0; break;
    case O_CA: cfg.ca = v; break;
    case O_CERT: cfg.cert = v; break;
    case O_KEY: cfg.key = v; break;
    case O_SNI: cfg.server_name = v; break;
    case O_PREFIX: cfg.prefix = v; break;
    case O_MAXB: if (num("max-batch-bytes", v, 4096, 1LL << 30, &x)) return -1; cfg.max_batch_bytes = (size_t)x; break;
    case O_MAXR: if (num("max-batch-rows", v, 1, 1 << 20, &x)) return -1; cfg.max_batch_rows = (uint32_t)x; break;
    case O_PIPE: if (num("pipeline", v, 1, 256, &x)) return -1; cfg.pipeline = (int)x; break;
    case O_WINDOW: if (num("send-window-ms", v, 0, 1000, &x)) return -1; cfg.send_window_ms = (int)x; break;
    case O_METRICS:
        if (!strcmp(v, "off")) { cfg.metrics_port = 0; break; }
        return host_port("metrics", v, &cfg.metrics_addr, &cfg.metrics_port);
    case O_STATUS: if (num("status-interval", v, 100, 3600000, &x)) return -1; cfg.status_ms = (int)x; break;
    case O_LAG: cfg.lag_log = v; break;
    default: return -1;
    }
    return 0;
}

/* values read from the config file live as long as the process (cfg points into them) */
static char **kept; static size_t nkept;
static void keep(char *v) {
    char **g = realloc(kept, (nkept + 1) * sizeof *g);
    if (g) { kept = g; kept[nkept++] = v; }
}

static int read_config(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) { fprintf(stderr, "sealdb-cdc: --config %s: %s\n", path, strerror(errno)); return -1; }
    char line[4096];
    int ln = 0, rc = 0;
    while (!rc && fgets(line, sizeof line, f)) {
        ln++;
        char *p = line, *e;
        while (*p == ' ' || *p == '\t') p++;
        if (*p == '#' || *p == '\n' || !*p) continue;
        if (!strchr(p, '\n') && !feof(f)) { fprintf(stderr, "sealdb-cdc: %s:%d: line too long\n", path, ln); rc = -1; break; }
        e = p + strcspn(p, " \t=\n");
        char *name = strndup(p, (size_t)(e - p));
        p = e + strspn(e, " \t=");
        size_t vl = strcspn(p, "\n");
        while (vl && (p[vl - 1] == ' ' || p[vl - 1] == '\t' || p[vl - 1] == '\r')) vl--;
        char *val = strndup(p, vl);
        int id = -1;
        for (const struct option *o = longopts; o->name; o++)
            if (!strcmp(o->name, name) && o->val >= O_PG && o->val != O_CONFIG && o->val != O_VERSION) id = o->val;
        if (id < 0) { fprintf(stderr, "sealdb-cdc: %s:%d: unknown option %s\n", path, ln, name); rc = -1; }
        else if (set_opt(id, val)) { fprintf(stderr, "sealdb-cdc: %s:%d: bad value for %s\n", path, ln, name); rc = -1; }
        free(name);
        if (rc) free(val);
        else keep(val);
    }
    fclose(f);
    return rc;
}

static int valid_name(const char *s) {   /* PostgreSQL slot names: [a-z0-9_], at most 63 */
    size_t n = strlen(s);
    if (n == 0 || n > 63) return 0;
    for (; *s; s++) if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_')) return 0;
    return 1;
}

int main(int argc, char **argv) {
    cdc_log_level = 1;
    cfg = (cdc_cfg){ .slot = "sealdb_cdc", .publication = "sealdb_cdc", .proto = 1, .sealdb_host = "127.0.0.1",
                     .sealdb_port = 3322, .database = "defaultdb", .user = "immudb", .prefix = "cdc",
                     .max_batch_bytes = 8u << 20, .status_ms = 1000,
                     .pipeline = 64, .send_window_ms = 20 };
    /* the config file first, so that flags override it */
    for (int i = 1; i < argc; i++) {
        const char *path = NULL;
        if (!strcmp(argv[i], "--config") && i + 1 < argc) path = argv[i + 1];
        else if (!strncmp(argv[i], "--config=", 9)) path = argv[i] + 9;
        if (path && read_config(path)) return 2;
    }
    int o;
    while ((o = getopt_long(argc, argv, "vqh", longopts, NULL)) != -1) {
        switch (o) {
        case 'h': usage(stdout); return 0;
        case O_VERSION: printf("sealdb-cdc %s\n", SEALDB_CLIENT_VERSION); return 0;
        case 'v': cdc_log_level++; break;
        case 'q': cdc_log_level = 0; break;
        case O_CONFIG: break;
        case '?': usage(stderr); return 2;
        default: if (set_opt(o, optarg)) return 2;
        }
    }
    if (optind < argc) { fprintf(stderr, "sealdb-cdc: unexpected argument %s\n", argv[optind]); return 2; }
    if (!cfg.pg) { fprintf(stderr, "sealdb-cdc: --pg CONNINFO is required\n"); usage(stderr); return 2; }
    if (!valid_name(cfg.slot)) {
        fprintf(stderr, "sealdb-cdc: --slot %s: slot names are 1-63 of a-z, 0-9 and _\n", cfg.slot);
        return 2;
    }
    if (!*cfg.publication || strlen(cfg.publication) > 63) {
        fprintf(stderr, "sealdb-cdc: --publication must be 1-63 characters\n");
        return 2;
    }
    if (!*cfg.prefix || strlen(cfg.prefix) > 200 || cfg.prefix[strlen(cfg.prefix) - 1] == '/') {
        fprintf(stderr, "sealdb-cdc: --prefix must be 1-200 characters, not ending in /\n");
        return 2;
    }
    if ((cfg.cert != NULL) != (cfg.key != NULL)) {
        fprintf(stderr, "sealdb-cdc: --sealdb-cert and --sealdb-key go together\n");
        return 2;
    }
    if ((cfg.ca || cfg.cert) && !cfg.tls) {
        fprintf(stderr, "sealdb-cdc: --sealdb-ca/--sealdb-cert need --sealdb-tls\n");
        return 2;
    }
    static char pwbuf[512];
    if (pw_file) {
        FILE *f = fopen(pw_file, "r");
        if (!f || !fgets(pwbuf, sizeof pwbuf, f)) {
            fprintf(stderr, "sealdb-cdc: --password-file %s: %s\n", pw_file, f ? "empty" : strerror(errno));
            if (f) fclose(f);
            return 2;
        }
        fclose(f);
        pwbuf[strcspn(pwbuf, "\r\n")] = 0;
        cfg.password = pwbuf;
    } else {
        cfg.password = getenv("SEALDB_PASSWORD");
    }
    if (!cfg.password) {
        fprintf(stderr, "sealdb-cdc: no sealdb password: set SEALDB_PASSWORD or --password-file\n");
        return 2;
    }
    cfg.log_level = cdc_log_level;

    struct sigaction sa = { 0 };
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (cfg.metrics_port && cdc_metrics_start(cfg.metrics_addr, cfg.metrics_port)) {
        fprintf(stderr, "sealdb-cdc: cannot listen for metrics on %s:%d\n", cfg.metrics_addr, cfg.metrics_port);
        return 1;
    }
    cdc_log(1, "recording slot %s of publication %s into %s:%d/%s under %s/", cfg.slot, cfg.publication,
            cfg.sealdb_host, cfg.sealdb_port, cfg.database, cfg.prefix);
    int backoff_ms = 200, rc = 0;
    while (!cdc_stop) {
        int progress = 0;
        int r = cdc_session(&cfg, &progress);
        if (r == CDC_STOPPED) break;
        if (r == CDC_FATAL) { rc = 1; break; }
        if (progress) backoff_ms = 200;
        atomic_fetch_add(&cdc_st.reconnects, 1);
        cdc_log(1, "reconnecting in %d ms", backoff_ms);
        for (int w = 0; w < backoff_ms && !cdc_stop; w += 50) usleep(50000);
        backoff_ms = backoff_ms * 2 > 10000 ? 10000 : backoff_ms * 2;
    }
    cdc_metrics_stop();
    cdc_log(1, rc ? "stopped on an error" : "stopped");
    return rc;
}
