/* bench_repl.c - replication figures with two real sealdb servers on this machine (a primary and a
 * replica, started from SEALDB_BIN or build/sealdb): 64 concurrent clients Set on a plain database
 * (server.set_c64) and on a sync primary with syncAcks = 1 and one sync replica (repl.sync_set_c64),
 * the p99 lag of an asynchronous replica at half the plain write rate (repl.async_lag_ms_p99), and a
 * new replica catching up 1M entries (repl.catchup_entries_s). Prints `bench <name>: <n> <unit>`.
 * Usage: bench_repl [--seconds S] [--entries N] [--catchup-only]. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "client/client_int.h"
#include "sealdb_client.h"
#include "benchlib.h"

#define CLIENTS 64

typedef struct server { pid_t pid; int port; char dir[300]; } server;

static server srv[2];
static char tmpdir[256];

static void cleanup(void) {
    for (int i = 0; i < 2; i++)
        if (srv[i].pid > 0) { kill(srv[i].pid, SIGTERM); waitpid(srv[i].pid, NULL, 0); srv[i].pid = -1; }
    if (tmpdir[0]) {
        pid_t p = fork();
        if (p == 0) { execlp("rm", "rm", "-rf", tmpdir, (char *)NULL); _exit(127); }
        if (p > 0) waitpid(p, NULL, 0);
    }
}

static void die(const char *msg) {
    fprintf(stderr, "bench_repl: %s\n", msg);
    for (int i = 0; i < 2; i++)
        if (srv[i].dir[0]) fprintf(stderr, "  (server log: %s/server.log)\n", srv[i].dir);
    for (int i = 0; i < 2; i++) if (srv[i].pid > 0) kill(srv[i].pid, SIGKILL);
    _exit(1);   /* keeps the logs */
}

static void start(server *s, const char *bin, int idx) {
    snprintf(s->dir, sizeof s->dir, "%s/s%d", tmpdir, idx);
    char data[400], log[400], port[16];
    snprintf(data, sizeof data, "%s/data", s->dir);
    snprintf(log, sizeof log, "%s/server.log", s->dir);
    if (mkdir(s->dir, 0700) != 0) die("mkdir failed");
    s->port = free_port();
    snprintf(port, sizeof port, "%d", s->port);
    pid_t p = fork();
    if (p < 0) die("fork failed");
    if (p == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) { dup2(fd, 1); dup2(fd, 2); close(fd); }
        if (chdir(s->dir) != 0) _exit(126);
        execl(bin, bin, "--dir", data, "-a", "127.0.0.1", "-p", port, "--metrics-server=false", "--pgsql-server=false",
              (char *)NULL);
        _exit(127);
    }
    s->pid = p;
    for (double end = now_s() + 20; now_s() < end; usleep(20000)) {
        sealdb_client_opts o;
        sealdb_client_opts_init(&o);
        o.address = "127.0.0.1";
        o.port = s->port;
        o.timeout_ms = 2000;
        sealdb_client *c = NULL;
        int ok = sealdb_client_connect(&o, &c) == 0 && sealdb_client_login(c, "immudb", "immudb", "defaultdb", NULL) == 0;
        sealdb_client_close(c);
        if (ok) return;
    }
    die("a server did not start within 20 s");
}

/* user + system CPU seconds of both servers, for per-CPU-second figures. */
static double servers_cpu_s(void) { return proc_cpu_s(srv[0].pid) + proc_cpu_s(srv[1].pid); }

static sealdb_client *connect_db(const server *s, const char *db) {
    sealdb_client_opts o;
    sealdb_client_opts_init(&o);
    o.address = "127.0.0.1";
    o.port = s->port;
    o.timeout_ms = 60000;
    /* 64 clients logging in at once meet the server's bounded password-check queue: retry */
    for (int i = 0; i < 100; i++) {
        sealdb_client *c = NULL;
        if (sealdb_client_connect(&o, &c) == 0 && sealdb_client_login(c, "immudb", "immudb", db, NULL) == 0) return c;
        sealdb_client_close(c);
        usleep(100000);
    }
    die("cannot log in");
    return NULL;
}

/* CreateDatabaseV2 with replication settings: primary (sync: acks > 0) or a replica of p_db on
 * primary (sync or not); max_entries raised for the catch-up database. */
static void create_db_with(sealdb_client *c, const char *name, int replica, int sync, uint32_t acks,
                           const server *primary, const char *p_db) {
    Immudb__Schema__NullableBool rb = IMMUDB__SCHEMA__NULLABLE_BOOL__INIT, sb = IMMUDB__SCHEMA__NULLABLE_BOOL__INIT;
    Immudb__Schema__NullableUint32 ab = IMMUDB__SCHEMA__NULLABLE_UINT32__INIT, pb = IMMUDB__SCHEMA__NULLABLE_UINT32__INIT;
    Immudb__Schema__NullableString hs = IMMUDB__SCHEMA__NULLABLE_STRING__INIT, ds = IMMUDB__SCHEMA__NULLABLE_STRING__INIT,
                                   us = IMMUDB__SCHEMA__NULLABLE_STRING__INIT, ps = IMMUDB__SCHEMA__NULLABLE_STRING__INIT;
    Immudb__Schema__ReplicationNullableSettings rs = IMMUDB__SCHEMA__REPLICATION_NULLABLE_SETTINGS__INIT;
    rb.value = replica != 0;
    rs.replica = &rb;
    sb.value = sync != 0;
    rs.syncreplication = &sb;
    if (!replica) {
        ab.value = acks;
        rs.syncacks = &ab;
    } else {
        hs.value = "127.0.0.1";
        ds.value = (char *)p_db;
        us.value = "immudb";
        ps.value = "immudb";
        pb.value = (uint32_t)primary->port;
        rs.primaryhost = &hs;
        rs.primarydatabase = &ds;
        rs.primaryusername = &us;
        rs.primarypassword = &ps;
        rs.primaryport = &pb;
    }
    Immudb__Schema__DatabaseNullableSettings st = IMMUDB__SCHEMA__DATABASE_NULLABLE_SETTINGS__INIT;
    st.replicationsettings = &rs;
    Immudb__Schema__CreateDatabaseRequest req = IMMUDB__SCHEMA__CREATE_DATABASE_REQUEST__INIT;
    req.name = (char *)name;
    req.settings = &st;
    if (sdb_cl_call(c, "CreateDatabaseV2", &req.base, NULL, NULL)) {
        fprintf(stderr, "CreateDatabaseV2 %s: %s\n", name, sealdb_client_errmsg(c));
        die("cannot create a database");
    }
}

static void create_db(const server *on, const char *name, int replica, int sync, uint32_t acks, const server *primary,
                      const char *p_db) {
    sealdb_client *c = connect_db(on, "defaultdb");
    create_db_with(c, name, replica, sync, acks, primary, p_db);
    sealdb_client_close(c);
}

static uint64_t tx_of(sealdb_client *c) {
    sealdb_state st;
    if (sealdb_client_current_state(c, &st)) die("CurrentState failed");
    return st.tx_id;
}

/* ---- concurrent Set load ---- */

typedef struct load {
    const server *s;
    const char *db;
    double until;
    double rate;            /* total Sets per second (paced), 0: as fast as possible */
    pthread_barrier_t ready; /* every client logged in: the measured time starts */
    double t0, seconds;
    double cpu0;             /* both servers' CPU seconds at t0 */
    _Atomic uint64_t done, errors, seq;
    /* lag samples: (tx, ack time) of every sampled write */
    pthread_mutex_t mu;
    uint64_t *s_tx;
    double *s_t;
    size_t ns, cap;
} load;

static void *load_main(void *arg) {
    load *l = arg;
    sealdb_client *c = connect_db(l->s, l->db);
    char key[64], val[32];
    if (pthread_barrier_wait(&l->ready) == PTHREAD_BARRIER_SERIAL_THREAD) {
        l->cpu0 = servers_cpu_s();
        l->t0 = now_s();
        l->until = l->t0 + l->seconds;
    }
    pthread_barrier_wait(&l->ready);
    double start = l->t0;
    while (now_s() < l->until) {
        uint64_t i = atomic_fetch_add(&l->seq, 1);
        if (l->rate > 0) {
            double due = start + (double)i / l->rate;   /* one shared schedule over the clients */
            double d = due - now_s();
            if (d > 0) usleep((useconds_t)(d * 1e6));
        }
        int kl = snprintf(key, sizeof key, "%s-key-%llu", l->db, (unsigned long long)i);
        int vl = snprintf(val, sizeof val, "value-%llu", (unsigned long long)i);
        sealdb_tx_header h;
        if (sealdb_client_set(c, key, (size_t)kl, val, (size_t)vl, &h)) { atomic_fetch_add(&l->errors, 1); continue; }
        atomic_fetch_add(&l->done, 1);
        if (l->s_tx && i % 8 == 0) {
            pthread_mutex_lock(&l->mu);
            if (l->ns < l->cap) { l->s_tx[l->ns] = h.id; l->s_t[l->ns] = now_s(); l->ns++; }
            pthread_mutex_unlock(&l->mu);
        }
    }
    sealdb_client_close(c);
    return NULL;
}

static double run_load(load *l, int clients, double seconds) {
    pthread_t th[CLIENTS];
    l->seconds = seconds;
    pthread_barrier_init(&l->ready, NULL, (unsigned)clients + 1);
    for (int i = 0; i < clients; i++) if (pthread_create(&th[i], NULL, load_main, l)) die("pthread_create failed");
    pthread_barrier_wait(&l->ready);   /* t0 is set by one of the clients */
    pthread_barrier_wait(&l->ready);
    double t0 = l->t0;
    for (int i = 0; i < clients; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&l->ready);
    l->cpu0 = servers_cpu_s() - l->cpu0;   /* now: the CPU seconds the servers used */
    if (atomic_load(&l->errors)) fprintf(stderr, "bench_repl: %s: %llu failed Sets\n", l->db, (unsigned long long)atomic_load(&l->errors));
    return (double)atomic_load(&l->done) / (now_s() - t0);
}

/* ---- async lag: a poller sees each sampled tx appear on the replica ---- */

typedef struct lagpoll { load *l; const server *r; const char *db; double *lag; size_t nlag; atomic_int stop; } lagpoll;

static void *lag_main(void *arg) {
    lagpoll *p = arg;
    sealdb_client *c = connect_db(p->r, p->db);
    size_t next = 0;
    while (!atomic_load(&p->stop) || next < p->l->ns) {
        uint64_t have = tx_of(c);
        double t = now_s();
        pthread_mutex_lock(&p->l->mu);
        size_t ns = p->l->ns;
        while (next < ns && p->l->s_tx[next] <= have) {
            double d = t - p->l->s_t[next];
            p->lag[p->nlag++] = d > 0 ? d : 0;
            next++;
        }
        pthread_mutex_unlock(&p->l->mu);
        if (atomic_load(&p->stop) && next < ns && t > p->l->until + 30) break;
        usleep(1000);
    }
    sealdb_client_close(c);
    return NULL;
}

/* ---- catch-up: nb entries written in txs of 1000, then a new replica follows ---- */

static void *fill_main(void *arg) {
    load *l = arg;
    sealdb_client *c = connect_db(l->s, l->db);
    sealdb_kv kvs[1000];
    static _Thread_local char keys[1000][32], vals[1000][24];
    for (;;) {
        uint64_t b = atomic_fetch_add(&l->seq, 1);
        if (b * 1000 >= (uint64_t)l->rate) break;   /* rate holds the entry count here */
        for (int i = 0; i < 1000; i++) {
            uint64_t n = b * 1000 + (uint64_t)i;
            kvs[i].key = keys[i];
            kvs[i].key_len = (size_t)snprintf(keys[i], sizeof keys[i], "fill-%012llu", (unsigned long long)n);
            kvs[i].value = vals[i];
            kvs[i].value_len = (size_t)snprintf(vals[i], sizeof vals[i], "v%llu", (unsigned long long)n);
            kvs[i].meta = NULL;
        }
        sealdb_tx_header h;
        if (sealdb_client_set_all(c, kvs, 1000, NULL, 0, &h)) die("SetAll failed");
        atomic_fetch_add(&l->done, 1000);
    }
    sealdb_client_close(c);
    return NULL;
}

int main(int argc, char **argv) {
    double seconds = 5;
    uint64_t entries = 1000000;
    int catchup_only = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--entries") && i + 1 < argc) entries = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--catchup-only")) catchup_only = 1;
        else { fprintf(stderr, "usage: bench_repl [--seconds S] [--entries N] [--catchup-only]\n"); return 2; }
    }
    const char *bin = getenv("SEALDB_BIN");
    if (!bin) bin = "build/sealdb";
    static char binabs[4096];
    if (access(bin, X_OK) || !realpath(bin, binabs)) { fprintf(stderr, "bench_repl: no server binary %s (SEALDB_BIN)\n", bin); return 1; }
    bin = binabs;   /* the servers run in their own directories */
    snprintf(tmpdir, sizeof tmpdir, "/tmp/bench-repl-XXXXXX");
    if (!mkdtemp(tmpdir)) die("mkdtemp failed");
    atexit(cleanup);
    start(&srv[0], bin, 0);
    start(&srv[1], bin, 1);
    if (catchup_only) goto catchup;

    /* 64 clients Set: a plain database, then a sync primary with one sync replica */
    create_db(&srv[0], "plain", 0, 0, 0, NULL, NULL);
    create_db(&srv[0], "syncp", 0, 1, 1, NULL, NULL);
    create_db(&srv[1], "syncr", 1, 1, 0, &srv[0], "syncp");
    load lp = { .s = &srv[0], .db = "plain" };
    double plain = run_load(&lp, CLIENTS, seconds);
    load ls = { .s = &srv[0], .db = "syncp" };
    double sync = run_load(&ls, CLIENTS, seconds);
    printf("bench server.set_c64: %.0f tx/s (%.0f tx per server CPU second)\n", plain,
           plain * seconds / (lp.cpu0 > 0 ? lp.cpu0 : 1));
    printf("bench repl.sync_set_c64: %.0f tx/s (%.2f x set_c64; %.0f tx per CPU second of both servers)\n", sync,
           sync / plain, sync * seconds / (ls.cpu0 > 0 ? ls.cpu0 : 1));

    /* async replica lag at half the primary's plain rate */
    create_db(&srv[0], "asyncp", 0, 0, 0, NULL, NULL);
    create_db(&srv[1], "asyncr", 1, 0, 0, &srv[0], "asyncp");
    load la = { .s = &srv[0], .db = "asyncp", .rate = plain / 2 };
    la.cap = (size_t)(plain * seconds) + 1024;
    la.s_tx = calloc(la.cap, sizeof *la.s_tx);
    la.s_t = calloc(la.cap, sizeof *la.s_t);
    pthread_mutex_init(&la.mu, NULL);
    lagpoll lg = { .l = &la, .r = &srv[1], .db = "asyncr" };
    lg.lag = calloc(la.cap, sizeof *lg.lag);
    if (!la.s_tx || !la.s_t || !lg.lag) die("out of memory");
    la.until = now_s() + seconds + 60;   /* until run_load sets it */
    pthread_t lth;
    if (pthread_create(&lth, NULL, lag_main, &lg)) die("pthread_create failed");
    double arate = run_load(&la, CLIENTS, seconds);
    atomic_store(&lg.stop, 1);
    pthread_join(lth, NULL);
    if (lg.nlag < 10) die("too few lag samples");
    qsort(lg.lag, lg.nlag, sizeof *lg.lag, cmp_double);
    printf("bench repl.async_lag_ms_p99: %.1f ms (p50 %.1f ms, %zu samples at %.0f tx/s)\n",
           lg.lag[(size_t)(lg.nlag * 0.99)] * 1e3, lg.lag[lg.nlag / 2] * 1e3, lg.nlag, arate);

    free(la.s_tx);
    free(la.s_t);
    free(lg.lag);

catchup:
    /* catch-up of a new replica */
    create_db(&srv[0], "big", 0, 0, 0, NULL, NULL);
    load lf = { .s = &srv[0], .db = "big", .rate = (double)entries };
    pthread_t fth[8];
    for (int i = 0; i < 8; i++) if (pthread_create(&fth[i], NULL, fill_main, &lf)) die("pthread_create failed");
    for (int i = 0; i < 8; i++) pthread_join(fth[i], NULL);
    sealdb_client *bp = connect_db(&srv[0], "big");
    uint64_t want = tx_of(bp);
    sealdb_client_close(bp);
    /* logged in before the clock starts: the bench's own bcrypt checks are not the replica's work
     * (the replicator's login on the primary is) */
    sealdb_client *br = connect_db(&srv[1], "defaultdb");
    double t0 = now_s(), pcpu0 = proc_cpu_s(srv[0].pid), rcpu0 = proc_cpu_s(srv[1].pid);
    create_db_with(br, "bigr", 1, 0, 0, &srv[0], "big");
    if (sealdb_client_use_database(br, "bigr")) die("UseDatabase bigr failed");
    while (tx_of(br) < want) {
        if (now_s() - t0 > 600) die("the new replica did not catch up within 600 s");
        usleep(5000);
    }
    double el = now_s() - t0;
    double pcpu = proc_cpu_s(srv[0].pid) - pcpu0, rcpu = proc_cpu_s(srv[1].pid) - rcpu0;
    sealdb_client_close(br);
    double n = (double)atomic_load(&lf.done);
    printf("bench repl.catchup_entries_s: %.0f entries/s (%llu entries in %llu txs, %.2f s; CPU s: replica %.2f, "
           "primary %.2f; %.0f entries per replica CPU second)\n",
           n / el, (unsigned long long)atomic_load(&lf.done), (unsigned long long)want, el, rcpu, pcpu,
           n / (rcpu > 0 ? rcpu : 1));
    return 0;
}
