/* bench_server.c - load generator for the real sealdb server over loopback (make bench): starts
 * build/sealdb on a temporary directory and a free port, opens a session, then drives each RPC with
 * 64 calls in flight from a few threads, each owning a completion queue and a few channels (async:
 * a blocking thread-per-call client on this stack is itself the bottleneck). Prints
 * "bench server.<name>: <number> <unit>" for Health (the transport's ceiling), Set, SetAll of 1000
 * KVs, Get, VerifiableGet, VerifiableSet, p99 Set latency and the server's RSS (peak anonymous and
 * file-backed memory apart, per phase and overall); and, through libsealdb-client, one writer keeping
 * 16 small ExecAlls in flight on sealdb's ExecAllStream and on unary calls (sealdb-cdc's pattern).
 * Proofs returned by the verified calls are not checked here (that is the client's cost); every call's
 * status is. Usage: bench_server [--only health,set,...] [--seconds S] [--threads T] [--channels C]
 * [--inflight N] [--setall-inflight N] [--server-arg ARG]...; SEALDB_BIN overrides the server binary. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include "schema.pb-c.h"
#include "sealdb_client.h"
#include "benchlib.h"

#define MAX_THREADS 16
#define MAX_CHANNELS 64
#define MAX_INFLIGHT 1024
#define KEY_LEN 32
#define VAL_LEN 64
#define SETALL_N 1000
#define MAX_FAILED_CALLS 5   /* more failed calls than this in a phase makes the run fail */

/* ---- small helpers ---- */

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* key number i -> 32 pseudo-random bytes, so readers can regenerate keys that were written */
static void key_of(uint64_t i, uint8_t k[KEY_LEN]) {
    uint64_t s = i * 0x632BE59BD9B4E019ull + 7;
    for (int j = 0; j < KEY_LEN / 8; j++) {
        uint64_t r = splitmix(&s);
        memcpy(k + 8 * j, &r, 8);
    }
}

static void die(const char *msg);

/* ---- the server process ---- */

static pid_t server_pid = -1;
static char tmpdir[256];
static char logpath[320];

static void rm_rf(const char *dir) {
    if (!dir[0]) return;
    pid_t p = fork();
    if (p == 0) {
        execlp("rm", "rm", "-rf", dir, (char *)NULL);
        _exit(127);
    }
    if (p > 0) waitpid(p, NULL, 0);
}

static void print_log_tail(void) {
    FILE *f = fopen(logpath, "r");
    if (!f) return;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, n > 3000 ? n - 3000 : 0, SEEK_SET);
    char buf[512];
    fprintf(stderr, "---- server log (tail) ----\n");
    while (fgets(buf, sizeof buf, f)) fputs(buf, stderr);
    fprintf(stderr, "---------------------------\n");
    fclose(f);
}

static void stop_server(void) {
    if (server_pid <= 0) return;
    kill(server_pid, SIGTERM);
    int st = 0;
    for (int i = 0; i < 150; i++) {   /* up to 15 s for an orderly stop */
        pid_t r = waitpid(server_pid, &st, WNOHANG);
        if (r == server_pid) { server_pid = -1; break; }
        usleep(100000);
    }
    if (server_pid > 0) {
        fprintf(stderr, "bench_server: warning: server did not stop on SIGTERM, killing it\n");
        kill(server_pid, SIGKILL);
        waitpid(server_pid, NULL, 0);
        server_pid = -1;
    } else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "bench_server: warning: server exit status %d after SIGTERM\n", st);
    }
}

static void die(const char *msg) {
    fprintf(stderr, "bench_server: %s\n", msg);
    if (server_pid > 0) print_log_tail();
    stop_server();
    rm_rf(tmpdir);
    exit(1);
}

/* watchdog: a hung server must not hang `make bench` */
static void on_alarm(int sig) {
    (void)sig;
    static const char m[] = "bench_server: watchdog expired, killing the server\n";
    if (write(2, m, sizeof m - 1) < 0) { /* nothing to do */ }
    if (server_pid > 0) kill(server_pid, SIGKILL);
    _exit(1);
}

static int port_open(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 0;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

static const char *extra_args[32];
static int n_extra_args;

static void start_server(const char *bin, int port) {
    char datadir[300], portstr[16];
    snprintf(datadir, sizeof datadir, "%s/data", tmpdir);
    snprintf(logpath, sizeof logpath, "%s/server.log", tmpdir);
    snprintf(portstr, sizeof portstr, "%d", port);
    const char *argv[48];
    int n = 0;
    argv[n++] = bin;
    argv[n++] = "--dir";
    argv[n++] = datadir;
    argv[n++] = "-a";
    argv[n++] = "127.0.0.1";
    argv[n++] = "-p";
    argv[n++] = portstr;
    argv[n++] = "--metrics-server=false";
    for (int i = 0; i < n_extra_args; i++) argv[n++] = extra_args[i];
    argv[n] = NULL;
    pid_t p = fork();
    if (p < 0) die("fork failed");
    if (p == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);   /* never leave a server behind if the generator crashes */
        int fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) { dup2(fd, 1); dup2(fd, 2); close(fd); }
        /* run inside the tmp dir so no configs/immudb.toml of the caller's cwd is picked up */
        if (chdir(tmpdir) != 0) _exit(126);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    server_pid = p;
    double deadline = now_s() + 20;
    while (now_s() < deadline) {
        int st;
        if (waitpid(p, &st, WNOHANG) == p) {
            server_pid = -1;
            print_log_tail();
            die("the server exited during startup");
        }
        if (port_open(port)) return;
        usleep(20000);
    }
    die("the server did not open its port within 20 s");
}

/* VmRSS / VmHWM of the server in MiB, or -1 */
static double server_mem_mb(const char *field) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)server_pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    double mb = -1;
    size_t fl = strlen(field);
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, field, fl) && line[fl] == ':') {
            mb = strtod(line + fl + 1, NULL) / 1024.0;
            break;
        }
    }
    fclose(f);
    return mb;
}

/* Resident memory of the server sampled every 20 ms by a thread while the phases run: RssAnon is the
 * heap, stacks and gRPC buffers (what the server really uses); RssFile is mostly pages of the
 * database's own mapped files (journal, index), page cache the kernel reclaims under pressure, so
 * it is reported apart. Peaks per phase and over the whole run, in KiB. */
static _Atomic long mem_anon_peak_kb, mem_file_peak_kb, run_anon_peak_kb, run_file_peak_kb;
static _Atomic int mem_sampler_stop;
static pthread_t mem_sampler_th;

static void read_rss_kb(long *anon, long *file) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)server_pid);
    *anon = *file = -1;
    FILE *f = fopen(path, "r");
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "RssAnon:", 8)) *anon = strtol(line + 8, NULL, 10);
        else if (!strncmp(line, "RssFile:", 8)) *file = strtol(line + 8, NULL, 10);
    }
    fclose(f);
}

static void atomic_max(_Atomic long *m, long v) {
    long cur = atomic_load(m);
    while (v > cur && !atomic_compare_exchange_weak(m, &cur, v)) {}
}

static void *mem_sampler(void *arg) {
    (void)arg;
    while (!atomic_load(&mem_sampler_stop)) {
        long anon, file;
        read_rss_kb(&anon, &file);
        atomic_max(&mem_anon_peak_kb, anon);
        atomic_max(&mem_file_peak_kb, file);
        atomic_max(&run_anon_peak_kb, anon);
        atomic_max(&run_file_peak_kb, file);
        usleep(20000);
    }
    return NULL;
}

/* CPU seconds (user + system) used so far by the server and by this process: shows which side
 * saturates the cores in a phase */
static double server_cpu_s(void) { return proc_cpu_s(server_pid); }

/* context switches (voluntary and not) of the server's live threads so far: each hand-off between its
 * threads costs one, and on a busy machine they are much of a small tx's CPU */
static uint64_t server_ctxsw(void) {
    char path[64], line[128];
    snprintf(path, sizeof path, "/proc/%d/task", (int)server_pid);
    DIR *d = opendir(path);
    if (!d) return 0;
    uint64_t n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char sp[64 + sizeof e->d_name + 8];
        snprintf(sp, sizeof sp, "%s/%s/status", path, e->d_name);
        FILE *f = fopen(sp, "r");
        if (!f) continue;
        while (fgets(line, sizeof line, f)) {
            unsigned long long v;
            if (sscanf(line, "voluntary_ctxt_switches: %llu", &v) == 1 ||
                sscanf(line, "nonvoluntary_ctxt_switches: %llu", &v) == 1)
                n += v;
        }
        fclose(f);
    }
    closedir(d);
    return n;
}

static double self_cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

/* ---- gRPC: channels, metadata, a blocking unary call for setup ---- */

enum { M_HEALTH, M_OPENSESSION, M_LOGIN, M_USEDB, M_CURSTATE, M_SET, M_GET, M_VGET, M_VSET, M_COUNT };
static const char *const method_path[M_COUNT] = {
    "/immudb.schema.ImmuService/Health",       "/immudb.schema.ImmuService/OpenSession",
    "/immudb.schema.ImmuService/Login",        "/immudb.schema.ImmuService/UseDatabase",
    "/immudb.schema.ImmuService/CurrentState", "/immudb.schema.ImmuService/Set",
    "/immudb.schema.ImmuService/Get",          "/immudb.schema.ImmuService/VerifiableGet",
    "/immudb.schema.ImmuService/VerifiableSet",
};

typedef struct chan {
    grpc_channel *ch;
    void *reg[M_COUNT];   /* registered methods: no per-call path interning */
} chan;

static chan chans[MAX_CHANNELS];
static int n_chans;
static grpc_metadata auth_md;   /* sessionid or authorization, shared read-only by all calls */
static int have_auth;

static grpc_channel *make_channel(const char *target) {
    /* a local subchannel pool gives every channel its own TCP connection; no retries, minimal stack:
     * the generator must cost as little CPU per call as possible */
    grpc_arg args[3];
    args[0].type = GRPC_ARG_INTEGER;
    args[0].key = (char *)GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL;
    args[0].value.integer = 1;
    args[1].type = GRPC_ARG_INTEGER;
    args[1].key = (char *)GRPC_ARG_ENABLE_RETRIES;
    args[1].value.integer = 0;
    args[2].type = GRPC_ARG_INTEGER;
    args[2].key = (char *)GRPC_ARG_MINIMAL_STACK;
    args[2].value.integer = 1;
    size_t n = 3;
    grpc_channel_args ca = { n, args };
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    grpc_channel *ch = grpc_channel_create(target, creds, &ca);
    grpc_channel_credentials_release(creds);
    return ch;
}

static grpc_byte_buffer *bb_of(const uint8_t *p, size_t n) {
    grpc_slice s = grpc_slice_from_copied_buffer((const char *)p, n);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

/* a unary call that waits for its answer; *out (malloc'd) gets the response bytes */
static grpc_status_code unary(int method, const uint8_t *req, size_t reqlen, uint8_t **out, size_t *outlen,
                              char *detail, size_t detail_sz) {
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    gpr_timespec dl = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_seconds(10, GPR_TIMESPAN));
    grpc_call *call = grpc_channel_create_registered_call(chans[0].ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
                                                          chans[0].reg[method], dl, NULL);
    grpc_byte_buffer *send = bb_of(req, reqlen), *recv = NULL;
    grpc_metadata_array init_md, trail_md;
    grpc_metadata_array_init(&init_md);
    grpc_metadata_array_init(&trail_md);
    grpc_status_code status = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();
    grpc_op ops[6];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = have_auth ? 1 : 0;
    ops[0].data.send_initial_metadata.metadata = have_auth ? &auth_md : NULL;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &init_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &recv;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &trail_md;
    ops[5].data.recv_status_on_client.status = &status;
    ops[5].data.recv_status_on_client.status_details = &details;
    if (grpc_call_start_batch(call, ops, 6, (void *)1, NULL) != GRPC_CALL_OK) die("grpc_call_start_batch failed");
    grpc_event ev = grpc_completion_queue_pluck(cq, (void *)1, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (ev.type != GRPC_OP_COMPLETE) die("setup call did not complete");
    if (out) {
        *out = NULL;
        *outlen = 0;
        if (recv) {
            grpc_byte_buffer_reader rd;
            if (grpc_byte_buffer_reader_init(&rd, recv)) {
                grpc_slice all = grpc_byte_buffer_reader_readall(&rd);
                *outlen = GRPC_SLICE_LENGTH(all);
                *out = malloc(*outlen + 1);
                if (!*out) die("out of memory");
                memcpy(*out, GRPC_SLICE_START_PTR(all), *outlen);
                grpc_slice_unref(all);
                grpc_byte_buffer_reader_destroy(&rd);
            }
        }
    }
    if (detail) {
        size_t n = GRPC_SLICE_LENGTH(details);
        if (n >= detail_sz) n = detail_sz - 1;
        memcpy(detail, GRPC_SLICE_START_PTR(details), n);
        detail[n] = 0;
    }
    grpc_slice_unref(details);
    grpc_metadata_array_destroy(&init_md);
    grpc_metadata_array_destroy(&trail_md);
    grpc_byte_buffer_destroy(send);
    if (recv) grpc_byte_buffer_destroy(recv);
    grpc_call_unref(call);
    grpc_completion_queue_shutdown(cq);   /* nothing is pending on it any more */
    grpc_completion_queue_destroy(cq);
    return status;
}

static char auth_value[512];

static void set_auth(const char *key, const char *value) {
    snprintf(auth_value, sizeof auth_value, "%s", value);
    auth_md.key = grpc_slice_from_static_string(key);
    auth_md.value = grpc_slice_from_static_string(auth_value);
    have_auth = 1;
}

/* OpenSession(immudb, immudb, defaultdb) -> sessionid header; else Login + UseDatabase -> token */
static void login(void) {
    Immudb__Schema__OpenSessionRequest osr = IMMUDB__SCHEMA__OPEN_SESSION_REQUEST__INIT;
    osr.username.data = (uint8_t *)"immudb";
    osr.username.len = 6;
    osr.password.data = (uint8_t *)"immudb";
    osr.password.len = 6;
    osr.databasename = (char *)"defaultdb";
    uint8_t req[128], *resp = NULL;
    size_t rl = immudb__schema__open_session_request__pack(&osr, req), resplen = 0;
    char detail[256];
    grpc_status_code st = unary(M_OPENSESSION, req, rl, &resp, &resplen, detail, sizeof detail);
    if (st == GRPC_STATUS_OK) {
        Immudb__Schema__OpenSessionResponse *r = immudb__schema__open_session_response__unpack(NULL, resplen, resp);
        free(resp);
        if (!r || !r->sessionid || !r->sessionid[0]) die("OpenSession returned no session id");
        set_auth("sessionid", r->sessionid);
        immudb__schema__open_session_response__free_unpacked(r, NULL);
        return;
    }
    free(resp);
    fprintf(stderr, "# OpenSession failed (status %d: %s); trying Login + UseDatabase\n", (int)st, detail);
    Immudb__Schema__LoginRequest lr = IMMUDB__SCHEMA__LOGIN_REQUEST__INIT;
    lr.user = osr.username;
    lr.password = osr.password;
    rl = immudb__schema__login_request__pack(&lr, req);
    st = unary(M_LOGIN, req, rl, &resp, &resplen, detail, sizeof detail);
    if (st != GRPC_STATUS_OK) die("Login failed");
    Immudb__Schema__LoginResponse *l = immudb__schema__login_response__unpack(NULL, resplen, resp);
    free(resp);
    if (!l || !l->token) die("Login returned no token");
    char bearer[600];
    snprintf(bearer, sizeof bearer, "Bearer %s", l->token);
    immudb__schema__login_response__free_unpacked(l, NULL);
    set_auth("authorization", bearer);
    Immudb__Schema__Database db = IMMUDB__SCHEMA__DATABASE__INIT;
    db.databasename = (char *)"defaultdb";
    rl = immudb__schema__database__pack(&db, req);
    st = unary(M_USEDB, req, rl, &resp, &resplen, detail, sizeof detail);
    if (st != GRPC_STATUS_OK) die("UseDatabase failed");
    Immudb__Schema__UseDatabaseReply *u = immudb__schema__use_database_reply__unpack(NULL, resplen, resp);
    free(resp);
    if (!u || !u->token) die("UseDatabase returned no token");
    snprintf(bearer, sizeof bearer, "Bearer %s", u->token);
    immudb__schema__use_database_reply__free_unpacked(u, NULL);
    set_auth("authorization", bearer);
}

/* the current tx id (CurrentState), used as proveSinceTx: a client's trusted state */
static uint64_t current_tx(void) {
    uint8_t *resp = NULL;
    size_t resplen = 0;
    char detail[256];
    if (unary(M_CURSTATE, NULL, 0, &resp, &resplen, detail, sizeof detail) != GRPC_STATUS_OK) {
        free(resp);
        fprintf(stderr, "# CurrentState failed (%s); proveSinceTx = 0\n", detail);
        return 0;
    }
    Immudb__Schema__ImmutableState *s = immudb__schema__immutable_state__unpack(NULL, resplen, resp);
    free(resp);
    uint64_t tx = s ? s->txid : 0;
    if (s) immudb__schema__immutable_state__free_unpacked(s, NULL);
    return tx;
}

/* ---- request templates: encoded once with the generated code, keys patched in per call ---- */

typedef struct tmpl {
    uint8_t *bytes;
    size_t len;
    size_t n_keys;
    size_t *key_off;     /* where each 32-byte key sits in bytes */
    int fresh_keys;      /* 1: write new keys; 0: read keys written before */
} tmpl;

static const uint8_t marker_key[KEY_LEN] = "sealdb-bench-key-marker-00000000";
static uint8_t value_bytes[VAL_LEN];

static void tmpl_find_keys(tmpl *t) {
    t->key_off = calloc(t->n_keys, sizeof *t->key_off);
    if (!t->key_off) die("out of memory");
    size_t from = 0;
    for (size_t i = 0; i < t->n_keys; i++) {
        uint8_t *p = memmem(t->bytes + from, t->len - from, marker_key, KEY_LEN);
        if (!p) die("template: key not found");
        t->key_off[i] = (size_t)(p - t->bytes);
        from = t->key_off[i] + KEY_LEN;
    }
}

/* Sets answer once indexed (immudb's default, read-your-writes) unless this asks for noWait. */
static int set_no_wait;

static void tmpl_from_set(tmpl *t, size_t n_kv, int verifiable, uint64_t prove_since) {
    Immudb__Schema__KeyValue *kvs = calloc(n_kv, sizeof *kvs);
    Immudb__Schema__KeyValue **pk = calloc(n_kv, sizeof *pk);
    if (!kvs || !pk) die("out of memory");
    for (size_t i = 0; i < n_kv; i++) {
        Immudb__Schema__KeyValue kv = IMMUDB__SCHEMA__KEY_VALUE__INIT;
        kv.key.data = (uint8_t *)marker_key;
        kv.key.len = KEY_LEN;
        kv.value.data = value_bytes;
        kv.value.len = VAL_LEN;
        kvs[i] = kv;
        pk[i] = &kvs[i];
    }
    Immudb__Schema__SetRequest sr = IMMUDB__SCHEMA__SET_REQUEST__INIT;
    sr.n_kvs = n_kv;
    sr.kvs = pk;
    sr.nowait = set_no_wait;
    Immudb__Schema__VerifiableSetRequest vr = IMMUDB__SCHEMA__VERIFIABLE_SET_REQUEST__INIT;
    vr.setrequest = &sr;
    vr.provesincetx = prove_since;
    const ProtobufCMessage *m = verifiable ? &vr.base : &sr.base;
    t->len = protobuf_c_message_get_packed_size(m);
    t->bytes = malloc(t->len);
    if (!t->bytes) die("out of memory");
    protobuf_c_message_pack(m, t->bytes);
    t->n_keys = n_kv;
    t->fresh_keys = 1;
    tmpl_find_keys(t);
    free(kvs);
    free(pk);
}

static void tmpl_from_get(tmpl *t, int verifiable, uint64_t prove_since) {
    Immudb__Schema__KeyRequest kr = IMMUDB__SCHEMA__KEY_REQUEST__INIT;
    kr.key.data = (uint8_t *)marker_key;
    kr.key.len = KEY_LEN;
    Immudb__Schema__VerifiableGetRequest vr = IMMUDB__SCHEMA__VERIFIABLE_GET_REQUEST__INIT;
    vr.keyrequest = &kr;
    vr.provesincetx = prove_since;
    const ProtobufCMessage *m = verifiable ? &vr.base : &kr.base;
    t->len = protobuf_c_message_get_packed_size(m);
    t->bytes = malloc(t->len);
    if (!t->bytes) die("out of memory");
    protobuf_c_message_pack(m, t->bytes);
    t->n_keys = 1;
    t->fresh_keys = 0;
    tmpl_find_keys(t);
}

static void tmpl_free(tmpl *t) {
    free(t->bytes);
    free(t->key_off);
    memset(t, 0, sizeof *t);
}

static _Atomic uint64_t next_key;   /* keys 0 .. next_key-1 have been written (or attempted) */

/* ---- the asynchronous load loop ---- */

typedef struct worker worker;
typedef struct slot {
    worker *w;
    grpc_call *call;
    grpc_byte_buffer *send, *recv;
    grpc_metadata_array init_md, trail_md;
    grpc_status_code status;
    grpc_slice details;
    double t0;
    int ch;
} slot;

struct worker {
    int id;
    pthread_t th;
    grpc_completion_queue *cq;
    int ch_first, ch_n, ch_next;
    slot *slots;
    int n_slots;
    /* phase inputs */
    int method;
    const tmpl *t;
    double t_measure, t_end;
    uint64_t read_keys;   /* keys readable by Get */
    uint64_t rng;
    /* phase outputs */
    uint64_t done, errors, bad_batches, all_calls;
    uint32_t *lat_us;
    size_t n_lat, cap_lat;
    char first_error[256];
};

static grpc_byte_buffer *make_request(worker *w) {
    const tmpl *t = w->t;
    grpc_slice s = grpc_slice_malloc(t->len);
    uint8_t *p = GRPC_SLICE_START_PTR(s);
    if (t->len) memcpy(p, t->bytes, t->len);
    if (t->n_keys) {
        if (t->fresh_keys) {
            uint64_t k0 = atomic_fetch_add_explicit(&next_key, t->n_keys, memory_order_relaxed);
            for (size_t i = 0; i < t->n_keys; i++) key_of(k0 + i, p + t->key_off[i]);
        } else {
            for (size_t i = 0; i < t->n_keys; i++) key_of(splitmix(&w->rng) % w->read_keys, p + t->key_off[i]);
        }
    }
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

static void start_call(slot *s) {
    worker *w = s->w;
    chan *c = &chans[w->ch_first + w->ch_next];
    w->ch_next = (w->ch_next + 1) % w->ch_n;
    s->call = grpc_channel_create_registered_call(c->ch, NULL, GRPC_PROPAGATE_DEFAULTS, w->cq, c->reg[w->method],
                                                  gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    s->send = make_request(w);
    s->recv = NULL;
    grpc_metadata_array_init(&s->init_md);
    grpc_metadata_array_init(&s->trail_md);
    s->status = GRPC_STATUS_UNKNOWN;
    s->details = grpc_empty_slice();
    grpc_op ops[6];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = have_auth ? 1 : 0;
    ops[0].data.send_initial_metadata.metadata = have_auth ? &auth_md : NULL;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = s->send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &s->init_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &s->recv;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &s->trail_md;
    ops[5].data.recv_status_on_client.status = &s->status;
    ops[5].data.recv_status_on_client.status_details = &s->details;
    s->t0 = now_s();
    if (grpc_call_start_batch(s->call, ops, 6, s, NULL) != GRPC_CALL_OK) die("grpc_call_start_batch failed");
}

static void finish_call(slot *s) {
    grpc_call_unref(s->call);
    s->call = NULL;
    grpc_byte_buffer_destroy(s->send);
    if (s->recv) grpc_byte_buffer_destroy(s->recv);
    grpc_metadata_array_destroy(&s->init_md);
    grpc_metadata_array_destroy(&s->trail_md);
    grpc_slice_unref(s->details);
}

static void record_latency(worker *w, double us) {
    if (w->n_lat == w->cap_lat) {
        size_t nc = w->cap_lat ? 2 * w->cap_lat : 65536;
        uint32_t *n = realloc(w->lat_us, nc * sizeof *n);
        if (!n) return;
        w->lat_us = n;
        w->cap_lat = nc;
    }
    w->lat_us[w->n_lat++] = us > 4e9 ? UINT32_MAX : (uint32_t)us;
}

static void *worker_main(void *arg) {
    worker *w = arg;
    int active = 0;
    for (int i = 0; i < w->n_slots; i++) {
        w->slots[i].w = w;
        start_call(&w->slots[i]);
        active++;
    }
    int cancelled = 0;
    while (active > 0) {
        grpc_event ev = grpc_completion_queue_next(
            w->cq, gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(200, GPR_TIMESPAN)), NULL);
        double t = now_s();
        if (ev.type == GRPC_QUEUE_TIMEOUT) {
            /* calls still running 10 s after the phase ended: the server is stuck; cancel them */
            if (!cancelled && t > w->t_end + 10) {
                for (int i = 0; i < w->n_slots; i++) if (w->slots[i].call) grpc_call_cancel(w->slots[i].call, NULL);
                cancelled = 1;
            }
            continue;
        }
        if (ev.type != GRPC_OP_COMPLETE) break;
        slot *s = ev.tag;
        w->all_calls++;
        int in_window = t >= w->t_measure && t < w->t_end;
        if (!ev.success) {
            w->bad_batches++;
        } else if (s->status != GRPC_STATUS_OK) {
            if (w->errors++ == 0) {
                int n = (int)GRPC_SLICE_LENGTH(s->details);
                snprintf(w->first_error, sizeof w->first_error, "status %d: %.*s", (int)s->status, n > 200 ? 200 : n,
                         (const char *)GRPC_SLICE_START_PTR(s->details));
            }
        } else if (in_window) {
            w->done++;
            record_latency(w, (t - s->t0) * 1e6);
        }
        finish_call(s);
        if (t < w->t_end) start_call(s);
        else active--;
    }
    return NULL;
}

static worker workers[MAX_THREADS];
static int n_threads = 2, ch_per_thread = 2, inflight = 64, setall_inflight = 0;   /* 0: same as inflight */
static double phase_seconds = 4.0, warmup_seconds = 0.5;
static int failed_phases;

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

typedef struct result {
    double rate;        /* successful calls per second in the measured window */
    double p50_us, p99_us;
    uint64_t errors;
} result;

/* runs `method` with `n_inflight` calls in flight for the phase duration */
static result run_phase(const char *name, int method, const tmpl *t, int n_inflight) {
    result r;
    memset(&r, 0, sizeof r);
    int nt = n_threads < n_inflight ? n_threads : n_inflight;
    double t0 = now_s();
    uint64_t readable = atomic_load(&next_key);
    double srv_cpu0 = server_cpu_s(), own_cpu0 = self_cpu_s();
    atomic_store(&mem_anon_peak_kb, 0);
    atomic_store(&mem_file_peak_kb, 0);
    for (int i = 0; i < nt; i++) {
        worker *w = &workers[i];
        w->n_slots = n_inflight / nt + (i < n_inflight % nt);
        w->slots = calloc((size_t)w->n_slots, sizeof *w->slots);
        if (!w->slots) die("out of memory");
        w->method = method;
        w->t = t;
        w->t_measure = t0 + warmup_seconds;
        w->t_end = t0 + warmup_seconds + phase_seconds;
        w->read_keys = readable ? readable : 1;
        w->rng = 0x5EA1DBull * (uint64_t)(i + 1) + (uint64_t)(t0 * 1e6);
        w->done = w->errors = w->bad_batches = w->all_calls = 0;
        w->n_lat = 0;
        w->first_error[0] = 0;
        if (pthread_create(&w->th, NULL, worker_main, w) != 0) die("pthread_create failed");
    }
    uint64_t done = 0, bad = 0, all_calls = 0;
    size_t n_lat = 0;
    for (int i = 0; i < nt; i++) {
        pthread_join(workers[i].th, NULL);
        done += workers[i].done;
        all_calls += workers[i].all_calls;
        r.errors += workers[i].errors;
        bad += workers[i].bad_batches;
        n_lat += workers[i].n_lat;
        free(workers[i].slots);
        workers[i].slots = NULL;
    }
    double wall = now_s() - t0;
    double srv_cpu = server_cpu_s() - srv_cpu0, own_cpu = self_cpu_s() - own_cpu0;
    double per_call = all_calls ? 1e6 / (double)all_calls : 0;
    r.errors += bad;
    r.rate = (double)done / phase_seconds;
    uint32_t *all = n_lat ? malloc(n_lat * sizeof *all) : NULL;
    if (all) {
        size_t k = 0;
        for (int i = 0; i < nt; i++) {
            memcpy(all + k, workers[i].lat_us, workers[i].n_lat * sizeof *all);
            k += workers[i].n_lat;
        }
        qsort(all, n_lat, sizeof *all, cmp_u32);
        r.p50_us = all[n_lat / 2];
        r.p99_us = all[(size_t)((double)n_lat * 0.99)];
        free(all);
    }
    if (r.errors) {
        for (int i = 0; i < nt; i++)
            if (workers[i].first_error[0]) {
                fprintf(stderr, "# %s: first error: %s\n", name, workers[i].first_error);
                break;
            }
        if (bad) fprintf(stderr, "# %s: %" PRIu64 " batches failed at the transport\n", name, bad);
    }
    if (r.errors > MAX_FAILED_CALLS) {
        printf("warning: %s: %" PRIu64 " calls failed\n", name, r.errors);
        failed_phases++;
    }
    printf("# %s: %" PRIu64 " calls in %.1f s, p50 %.0f us, p99 %.0f us, %" PRIu64 " errors; cpu: server %.2f cores "
           "%.0f us/call, generator %.2f cores %.0f us/call\n", name, done, phase_seconds, r.p50_us, r.p99_us,
           r.errors, srv_cpu / wall, srv_cpu * per_call, own_cpu / wall, own_cpu * per_call);
    printf("# %s: server peak RssAnon %.1f MB, RssFile %.1f MB (mapped data files, page cache)\n", name,
           (double)atomic_load(&mem_anon_peak_kb) / 1024, (double)atomic_load(&mem_file_peak_kb) / 1024);
    fflush(stdout);
    return r;
}

/* one call to see whether the server serves the method at all (the KV module may not be linked yet) */
static int method_served(int method, const tmpl *t, const char *label) {
    worker w;
    memset(&w, 0, sizeof w);
    w.t = t;
    w.read_keys = atomic_load(&next_key) ? atomic_load(&next_key) : 1;
    w.rng = 1;
    grpc_byte_buffer *bb = make_request(&w);
    grpc_byte_buffer_reader rd;
    grpc_slice all = grpc_empty_slice();
    if (grpc_byte_buffer_reader_init(&rd, bb)) {
        all = grpc_byte_buffer_reader_readall(&rd);
        grpc_byte_buffer_reader_destroy(&rd);
    }
    grpc_byte_buffer_destroy(bb);
    char detail[256];
    grpc_status_code st = unary(method, GRPC_SLICE_START_PTR(all), GRPC_SLICE_LENGTH(all), NULL, NULL, detail,
                                sizeof detail);
    grpc_slice_unref(all);
    if (st == GRPC_STATUS_UNIMPLEMENTED) {
        printf("# %s: skipped, the server does not implement %s yet\n", label, method_path[method]);
        return 0;
    }
    if (st != GRPC_STATUS_OK) {
        printf("warning: %s: probe call failed with status %d: %s\n", label, (int)st, detail);
        failed_phases++;
        return 0;
    }
    return 1;
}

/* writes some keys for the read phases when no write phase ran before them */
static void preload_keys(void) {
    if (atomic_load(&next_key) > 0) return;
    tmpl t;
    tmpl_from_set(&t, SETALL_N, 0, 0);
    if (method_served(M_SET, &t, "preload"))
        for (int i = 0; i < 19; i++) method_served(M_SET, &t, "preload");
    tmpl_free(&t);
}

/* a Get with sinceTx = the current tx returns once the key index has caught up with the writes, so
 * the read phases measure reads, not the index catching up after the write phases */
static void wait_index(void) {
    uint64_t tx = current_tx();
    if (!tx || !atomic_load(&next_key)) return;
    uint8_t key[KEY_LEN], req[128];
    key_of(0, key);
    Immudb__Schema__KeyRequest kr = IMMUDB__SCHEMA__KEY_REQUEST__INIT;
    kr.key.data = key;
    kr.key.len = KEY_LEN;
    kr.sincetx = tx;
    size_t n = immudb__schema__key_request__pack(&kr, req);
    char detail[256];
    double t0 = now_s();
    grpc_status_code st = unary(M_GET, req, n, NULL, NULL, detail, sizeof detail);
    if (st != GRPC_STATUS_OK && st != GRPC_STATUS_UNIMPLEMENTED)
        fprintf(stderr, "# waiting for the index (Get sinceTx=%" PRIu64 ") failed: status %d: %s\n", tx, (int)st,
                detail);
    else if (now_s() - t0 > 0.1)
        printf("# the key index caught up with tx %" PRIu64 " in %.2f s\n", tx, now_s() - t0);
}

/* ---- main ---- */

static const char *only;

static int token_is(const char *p, size_t l, const char *name) {
    return strlen(name) == l && !strncmp(p, name, l);
}

/* --only takes short names (set) or the figure names (set_c64, server.set_c64) */
static int wanted(const char *name, const char *figure) {
    if (!only) return 1;
    for (const char *p = only; *p;) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l > 7 && !strncmp(p, "server.", 7)) { p += 7; l -= 7; }
        if (token_is(p, l, name) || token_is(p, l, figure)) return 1;
        if (!e) break;
        p = e + 1;
    }
    return 0;
}

static void usage(void) {
    fprintf(stderr, "usage: bench_server [--only health,set,setall,get,vget,vset] [--seconds S] [--threads T]\n"
                    "                    [--channels C (per thread)] [--inflight N] [--setall-inflight N]\n"
                    "                    [--server-arg ARG]...\n"
                    "env SEALDB_BIN: the server binary (default: ../sealdb next to this program, or build/sealdb)\n");
    exit(2);
}

static const char *find_server(const char *argv0) {
    const char *env = getenv("SEALDB_BIN");
    if (env && env[0]) {
        if (access(env, X_OK) == 0) return env;
        fprintf(stderr, "bench_server: SEALDB_BIN=%s is not an executable\n", env);
        exit(1);
    }
    static char path[PATH_MAX];
    const char *slash = strrchr(argv0, '/');
    if (slash) {
        snprintf(path, sizeof path, "%.*s/../sealdb", (int)(slash - argv0), argv0);
        if (access(path, X_OK) == 0) return path;
    }
    return access("build/sealdb", X_OK) == 0 ? "build/sealdb" : NULL;
}

/* One writer, TXS_DEPTH txs of TXS_KVS KVs in flight, for phase_seconds: as unary ExecAlls (answers
 * awaited oldest first), on one ExecAllStream, or on one ExecAllBatchStream in messages of TXS_BATCH
 * txs (a message leaves once TXS_BATCH answers are in). Prints tx/s and the server's CPU per tx. */
#define TXS_DEPTH 16
#define TXS_KVS 6
#define TXS_BATCH 8
enum { TXS_UNARY, TXS_STREAM, TXS_BATCHED };
static void txs_phase(int port, int mode) {
    static const char *const names[] = { "server.execall6_d16", "server.txstream6_d16", "server.txbatch6_d16_b8" };
    const char *name = names[mode];
    int stream = mode != TXS_UNARY;
    uint64_t burst = mode == TXS_BATCHED ? TXS_BATCH : 1;
    sealdb_client_opts o;
    sealdb_client_opts_init(&o);
    o.port = port;
    sealdb_client *c = NULL;
    if (sealdb_client_connect(&o, &c) || sealdb_client_login(c, "immudb", "immudb", "defaultdb", NULL))
        die("client login failed");
    sealdb_txstream *ts = NULL;
    if (mode == TXS_STREAM && sealdb_client_txstream_open(c, &ts)) die("ExecAllStream open failed");
    if (mode == TXS_BATCHED && sealdb_client_txbatch_open(c, &ts)) die("ExecAllBatchStream open failed");
    sealdb_pending *ring[TXS_DEPTH] = { 0 };
    uint8_t keys[TXS_DEPTH][TXS_KVS][KEY_LEN];
    sealdb_op ops[TXS_KVS];
    memset(ops, 0, sizeof ops);
    uint64_t sent = 0, done = 0, seq = (uint64_t)mode << 40;
    double t_end = 0, t0 = 0, c0 = 0, phase_end = now_s() + warmup_seconds + phase_seconds;
    int measuring = 0;
    uint64_t done0 = 0, sw0 = 0;
    for (;;) {
        double t = now_s();
        if (!measuring && t >= phase_end - phase_seconds) {
            measuring = 1; t0 = t; c0 = server_cpu_s(); sw0 = server_ctxsw(); done0 = done;
        }
        int more = t < phase_end;
        if (more && (sent % burst || sent - done <= TXS_DEPTH - burst)) {
            uint32_t ri = (uint32_t)(sent % TXS_DEPTH);
            for (int j = 0; j < TXS_KVS; j++) {
                key_of(seq++, keys[ri][j]);
                ops[j].kind = SEALDB_OP_KV;
                ops[j].kv = (sealdb_kv){ keys[ri][j], KEY_LEN, value_bytes, VAL_LEN, NULL };
            }
            int rc = stream ? sealdb_txstream_send(ts, ops, TXS_KVS, NULL, 0)
                            : sealdb_client_exec_all_start(c, ops, TXS_KVS, NULL, 0, &ring[ri]);
            if (!rc && ++sent % burst == 0 && mode == TXS_BATCHED) rc = sealdb_txstream_flush(ts);
            if (rc) die(sealdb_client_errmsg(c));
            continue;
        }
        if (done == sent) break;
        sealdb_tx_header h;
        int rc = stream ? sealdb_txstream_recv(ts, &h) : sealdb_client_exec_all_wait(c, ring[done % TXS_DEPTH], &h);
        if (rc) die(sealdb_client_errmsg(c));
        done++;
        t_end = now_s();
    }
    double cpu = server_cpu_s() - c0;
    uint64_t sw = server_ctxsw() - sw0;
    uint64_t n = done - done0;
    printf("bench %s_tx_s: %.0f tx/s\n", name, (double)n / (t_end - t0));
    printf("bench %s_server_us_tx: %.1f us/tx\n", name, cpu * 1e6 / (double)(n ? n : 1));
    printf("bench %s_server_ctxsw_tx: %.2f switches/tx\n", name, (double)sw / (double)(n ? n : 1));
    fflush(stdout);
    if (ts) sealdb_txstream_close(ts);
    sealdb_client_close(c);
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--only") && v) { only = v; i++; }
        else if (!strcmp(a, "--seconds") && v) { phase_seconds = atof(v); i++; }
        else if (!strcmp(a, "--threads") && v) { n_threads = atoi(v); i++; }
        else if (!strcmp(a, "--channels") && v) { ch_per_thread = atoi(v); i++; }
        else if (!strcmp(a, "--inflight") && v) { inflight = atoi(v); i++; }
        else if (!strcmp(a, "--setall-inflight") && v) { setall_inflight = atoi(v); i++; }
        else if (!strcmp(a, "--server-arg") && v && n_extra_args < 32) { extra_args[n_extra_args++] = v; i++; }
        else usage();
    }
    if (n_threads < 1 || n_threads > MAX_THREADS || ch_per_thread < 1 || n_threads * ch_per_thread > MAX_CHANNELS ||
        inflight < 1 || inflight > MAX_INFLIGHT ||
        setall_inflight < 0 || setall_inflight > MAX_INFLIGHT || !(phase_seconds > 0 && phase_seconds <= 60))
        usage();
    if (phase_seconds < 2) warmup_seconds = 0.2;

    const char *bin = find_server(argv[0]);
    if (!bin) {
        printf("# bench_server: no server binary (set SEALDB_BIN or build build/sealdb); skipping the server "
               "benchmarks\n");
        return 0;
    }
    char *abs = realpath(bin, NULL);
    if (!abs) die("realpath of the server binary failed");

    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, on_alarm);
    alarm((unsigned)(60 + 14 * phase_seconds * 1.5));
    snprintf(tmpdir, sizeof tmpdir, "%s/sealdb-bench-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) { tmpdir[0] = 0; die("mkdtemp failed"); }
    int port = free_port();
    if (port <= 0) die("no free port");
    start_server(abs, port);
    free(abs);

    grpc_init();
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%d", port);
    n_chans = n_threads * ch_per_thread;
    for (int i = 0; i < n_chans; i++) {
        chans[i].ch = make_channel(target);
        for (int m = 0; m < M_COUNT; m++)
            chans[i].reg[m] = grpc_channel_register_call(chans[i].ch, method_path[m], NULL, NULL);
    }
    for (int i = 0; i < n_threads; i++) {
        workers[i].id = i;
        workers[i].cq = grpc_completion_queue_create_for_next(NULL);
        workers[i].ch_first = i * ch_per_thread;
        workers[i].ch_n = ch_per_thread;
    }
    for (int i = 0; i < VAL_LEN; i++) value_bytes[i] = (uint8_t)(i * 37 + 11);

    login();
    tmpl health = { 0 };
    char detail[256];
    if (unary(M_HEALTH, NULL, 0, NULL, NULL, detail, sizeof detail) != GRPC_STATUS_OK) die("Health call failed");
    usleep(300000);
    double rss_idle = server_mem_mb("VmRSS");
    if (pthread_create(&mem_sampler_th, NULL, mem_sampler, NULL) != 0) die("pthread_create failed");

    if (wanted("health", "health_c64")) {
        result r = run_phase("server.health_c64", M_HEALTH, &health, inflight);
        printf("bench server.health_c64: %.0f calls/s\n", r.rate);
    }
    if (wanted("set", "set_c64")) {
        tmpl t;
        tmpl_from_set(&t, 1, 0, 0);
        if (method_served(M_SET, &t, "server.set_c64")) {
            result r = run_phase("server.set_c64", M_SET, &t, inflight);
            printf("bench server.set_c64: %.0f tx/s\n", r.rate);
            printf("bench server.p99_set_us: %.0f us\n", r.p99_us);
        }
        tmpl_free(&t);
    }
    if (wanted("setall", "setall1000")) {
        tmpl t;
        tmpl_from_set(&t, SETALL_N, 0, 0);
        if (method_served(M_SET, &t, "server.setall1000")) {
            /* 100 KB requests; 64 in flight measured ~2x the entries/s of 8 (larger commit groups) */
            result r = run_phase("server.setall1000", M_SET, &t, setall_inflight ? setall_inflight : inflight);
            printf("bench server.setall1000: %.0f entries/s\n", r.rate * SETALL_N);
        }
        tmpl_free(&t);
    }
    if (wanted("setall_nowait", "setall1000_nowait")) {
        /* the same with noWait: answered at commit, so the gap to setall1000 is what waiting for
         * the key index costs */
        tmpl t;
        set_no_wait = 1;
        tmpl_from_set(&t, SETALL_N, 0, 0);
        set_no_wait = 0;
        if (method_served(M_SET, &t, "server.setall1000_nowait")) {
            result r = run_phase("server.setall1000_nowait", M_SET, &t, setall_inflight ? setall_inflight : inflight);
            printf("bench server.setall1000_nowait: %.0f entries/s\n", r.rate * SETALL_N);
        }
        tmpl_free(&t);
    }
    if (wanted("get", "get_c64")) {
        preload_keys();
        wait_index();
        tmpl t;
        tmpl_from_get(&t, 0, 0);
        if (method_served(M_GET, &t, "server.get_c64")) {
            result r = run_phase("server.get_c64", M_GET, &t, inflight);
            printf("bench server.get_c64: %.0f ops/s\n", r.rate);
        }
        tmpl_free(&t);
    }
    if (wanted("vget", "verified_get_c64")) {
        preload_keys();
        wait_index();
        tmpl t;
        tmpl_from_get(&t, 1, current_tx());
        if (method_served(M_VGET, &t, "server.verified_get_c64")) {
            result r = run_phase("server.verified_get_c64", M_VGET, &t, inflight);
            printf("bench server.verified_get_c64: %.0f ops/s\n", r.rate);
        }
        tmpl_free(&t);
    }
    if (wanted("vset", "verified_set_c64")) {
        tmpl t;
        tmpl_from_set(&t, 1, 1, current_tx());
        if (method_served(M_VSET, &t, "server.verified_set_c64")) {
            result r = run_phase("server.verified_set_c64", M_VSET, &t, inflight);
            printf("bench server.verified_set_c64: %.0f ops/s\n", r.rate);
        }
        tmpl_free(&t);
    }
    if (wanted("txstream", "txstream6_d16")) txs_phase(port, TXS_STREAM);
    if (wanted("txbatch", "txbatch6_d16_b8")) txs_phase(port, TXS_BATCHED);
    if (wanted("execall", "execall6_d16")) txs_phase(port, TXS_UNARY);
    double rss_load = server_mem_mb("VmHWM");
    atomic_store(&mem_sampler_stop, 1);
    pthread_join(mem_sampler_th, NULL);
    printf("bench server.rss_idle_mb: %.1f MB\n", rss_idle);
    /* VmHWM counts the pages of the mapped data files too; the anonymous peak is the server's own */
    printf("bench server.rss_load_mb: %.1f MB\n", rss_load);
    printf("bench server.rss_load_anon_mb: %.1f MB\n", (double)atomic_load(&run_anon_peak_kb) / 1024);
    printf("bench server.rss_load_file_mb: %.1f MB\n", (double)atomic_load(&run_file_peak_kb) / 1024);
    fflush(stdout);

    for (int i = 0; i < n_chans; i++) grpc_channel_destroy(chans[i].ch);
    for (int i = 0; i < n_threads; i++) {
        grpc_completion_queue_shutdown(workers[i].cq);
        while (grpc_completion_queue_next(workers[i].cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
               GRPC_QUEUE_SHUTDOWN) {}
        grpc_completion_queue_destroy(workers[i].cq);
        free(workers[i].lat_us);
    }
    grpc_slice_unref(auth_md.key);
    grpc_slice_unref(auth_md.value);
    grpc_shutdown();
    stop_server();
    rm_rf(tmpdir);
    if (failed_phases) {
        printf("warning: bench_server: %d phase(s) had failed calls\n", failed_phases);
        return 1;
    }
    return 0;
}
