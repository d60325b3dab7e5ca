/* bench_server.c - load generator on the gRPC C core against the real sealdb binary over loopback:
 * 64 calls in flight, asynchronous on one completion queue over 4 channels. Starts build/sealdb
 * (or $SEALDB_BIN) on a temporary directory and free ports, measures calls/s for Health, Set,
 * 1000-key Set, Get, VerifiableGet and VerifiableSet, the p99 Set latency and the server's RSS. */
#include <errno.h>
#include <fcntl.h>
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "schema.pb-c.h"
#include "util/util.h"

#define INFLIGHT 64
#define NCHAN 4
#define PHASE_S 3.0
#define SVC "/immudb.schema.ImmuService/"

static grpc_channel *chans[NCHAN];
static grpc_completion_queue *cq;
static char auth_hdr[600];

typedef struct slot {
    grpc_call *call;
    grpc_byte_buffer *req, *resp;
    grpc_metadata_array rmd, tmd;
    grpc_status_code status;
    grpc_slice details;
    grpc_metadata md[1];
    uint64_t t0;
    int idx;
} slot;

typedef int (*make_req_fn)(uint64_t n, sdb_buf *out);   /* request bytes for the n-th call */

static double now_s(void) { return (double)sdb_now_ns() / 1e9; }

static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { 0 };
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t l = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) || getsockname(fd, (struct sockaddr *)&a, &l)) { close(fd); return 0; }
    close(fd);
    return ntohs(a.sin_port);
}

static double rss_mb(pid_t pid) {
    char p[64], line[256];
    snprintf(p, sizeof p, "/proc/%d/status", (int)pid);
    FILE *f = fopen(p, "r");
    if (!f) return -1;
    double mb = -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6)) mb = atof(line + 6) / 1024.0;
    fclose(f);
    return mb;
}

static void start_call(slot *s, const char *method, make_req_fn mk, uint64_t n) {
    sdb_buf b;
    sdb_buf_init(&b);
    mk(n, &b);
    grpc_slice sl = grpc_slice_from_copied_buffer((const char *)b.ptr, b.len);
    sdb_buf_deinit(&b);
    s->req = grpc_raw_byte_buffer_create(&sl, 1);
    grpc_slice_unref(sl);
    grpc_slice m = grpc_slice_from_static_string(method);
    s->call = grpc_channel_create_call(chans[s->idx % NCHAN], NULL, GRPC_PROPAGATE_DEFAULTS, cq, m, NULL,
                                       gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    grpc_metadata_array_init(&s->rmd);
    grpc_metadata_array_init(&s->tmd);
    s->resp = NULL;
    grpc_op ops[6];
    memset(ops, 0, sizeof ops);
    size_t k = 0;
    ops[k].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (auth_hdr[0]) {
        s->md[0].key = grpc_slice_from_static_string("authorization");
        s->md[0].value = grpc_slice_from_static_string(auth_hdr);
        ops[k].data.send_initial_metadata.count = 1;
        ops[k].data.send_initial_metadata.metadata = s->md;
    }
    k++;
    ops[k].op = GRPC_OP_SEND_MESSAGE; ops[k].data.send_message.send_message = s->req; k++;
    ops[k].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT; k++;
    ops[k].op = GRPC_OP_RECV_INITIAL_METADATA; ops[k].data.recv_initial_metadata.recv_initial_metadata = &s->rmd; k++;
    ops[k].op = GRPC_OP_RECV_MESSAGE; ops[k].data.recv_message.recv_message = &s->resp; k++;
    ops[k].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[k].data.recv_status_on_client.trailing_metadata = &s->tmd;
    ops[k].data.recv_status_on_client.status = &s->status;
    ops[k].data.recv_status_on_client.status_details = &s->details;
    k++;
    s->t0 = sdb_now_ns();
    grpc_call_start_batch(s->call, ops, k, s, NULL);
}

static void end_call(slot *s, sdb_buf *resp_out) {
    if (resp_out && s->resp) {
        grpc_byte_buffer_reader rd;
        grpc_byte_buffer_reader_init(&rd, s->resp);
        grpc_slice all = grpc_byte_buffer_reader_readall(&rd);
        sdb_buf_append(resp_out, GRPC_SLICE_START_PTR(all), GRPC_SLICE_LENGTH(all));
        grpc_slice_unref(all);
        grpc_byte_buffer_reader_destroy(&rd);
    }
    if (s->resp) grpc_byte_buffer_destroy(s->resp);
    grpc_byte_buffer_destroy(s->req);
    grpc_metadata_array_destroy(&s->rmd);
    grpc_metadata_array_destroy(&s->tmd);
    grpc_slice_unref(s->details);
    grpc_call_unref(s->call);
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Runs `inflight` concurrent callers for PHASE_S seconds; returns calls/s (or -1 on errors). */
static double run(const char *method, make_req_fn mk, int inflight, uint64_t *p99_us, int *err_code) {
    slot *slots = calloc((size_t)inflight, sizeof *slots);
    size_t lat_cap = 1 << 20, nlat = 0;
    uint64_t *lat = malloc(lat_cap * sizeof *lat);
    uint64_t n = 0, done = 0, errors = 0;
    double t0 = now_s(), end = t0 + PHASE_S;
    for (int i = 0; i < inflight; i++) { slots[i].idx = i; start_call(&slots[i], method, mk, n++); }
    int active = inflight;
    *err_code = 0;
    while (active > 0) {
        grpc_event ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type != GRPC_OP_COMPLETE) continue;
        slot *s = ev.tag;
        uint64_t us = (sdb_now_ns() - s->t0) / 1000;
        if (s->status != GRPC_STATUS_OK) { errors++; *err_code = s->status; }
        else if (nlat < lat_cap) lat[nlat++] = us;
        end_call(s, NULL);
        done++;
        if (now_s() < end && errors == 0) start_call(s, method, mk, n++);
        else active--;
    }
    double el = now_s() - t0;
    if (p99_us) {
        qsort(lat, nlat, sizeof *lat, cmp_u64);
        *p99_us = nlat ? lat[(size_t)((double)nlat * 0.99)] : 0;
    }
    free(lat);
    free(slots);
    return errors ? -1 : (double)(done - errors) / el;
}

static int one_call(const char *method, sdb_slice req, sdb_buf *resp, int *status) {
    slot s = { 0 };
    sdb_buf b;
    sdb_buf_init(&b);
    grpc_slice sl = grpc_slice_from_copied_buffer((const char *)req.ptr, req.len);
    s.req = grpc_raw_byte_buffer_create(&sl, 1);
    grpc_slice_unref(sl);
    s.call = grpc_channel_create_call(chans[0], NULL, GRPC_PROPAGATE_DEFAULTS, cq, grpc_slice_from_static_string(method),
                                      NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    grpc_metadata_array_init(&s.rmd);
    grpc_metadata_array_init(&s.tmd);
    grpc_op ops[6];
    memset(ops, 0, sizeof ops);
    size_t k = 0;
    ops[k].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (auth_hdr[0]) {
        s.md[0].key = grpc_slice_from_static_string("authorization");
        s.md[0].value = grpc_slice_from_static_string(auth_hdr);
        ops[k].data.send_initial_metadata.count = 1;
        ops[k].data.send_initial_metadata.metadata = s.md;
    }
    k++;
    ops[k].op = GRPC_OP_SEND_MESSAGE; ops[k].data.send_message.send_message = s.req; k++;
    ops[k].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT; k++;
    ops[k].op = GRPC_OP_RECV_INITIAL_METADATA; ops[k].data.recv_initial_metadata.recv_initial_metadata = &s.rmd; k++;
    ops[k].op = GRPC_OP_RECV_MESSAGE; ops[k].data.recv_message.recv_message = &s.resp; k++;
    ops[k].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[k].data.recv_status_on_client.trailing_metadata = &s.tmd;
    ops[k].data.recv_status_on_client.status = &s.status;
    ops[k].data.recv_status_on_client.status_details = &s.details;
    k++;
    grpc_call_start_batch(s.call, ops, k, &s, NULL);
    grpc_event ev;
    do ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    while (ev.type != GRPC_OP_COMPLETE);
    *status = s.status;
    end_call(&s, resp);
    return s.status == GRPC_STATUS_OK ? 0 : -1;
}

static int mk_empty(uint64_t n, sdb_buf *out) { (void)n; (void)out; return 0; }

static void pack_into(const ProtobufCMessage *m, sdb_buf *out) {
    size_t len = protobuf_c_message_get_packed_size(m);
    if (sdb_buf_reserve(out, len)) return;
    protobuf_c_message_pack(m, out->ptr + out->len);
    out->len += len;
}

static uint64_t key_space = 1000;

static int mk_set(uint64_t n, sdb_buf *out) {
    char key[32], val[32];
    snprintf(key, sizeof key, "bench-key-%06llu", (unsigned long long)(n % key_space));
    snprintf(val, sizeof val, "value-%llu", (unsigned long long)n);
    Immudb__Schema__KeyValue kv = IMMUDB__SCHEMA__KEY_VALUE__INIT, *kvs[1] = { &kv };
    kv.key.data = (uint8_t *)key; kv.key.len = strlen(key);
    kv.value.data = (uint8_t *)val; kv.value.len = strlen(val);
    Immudb__Schema__SetRequest r = IMMUDB__SCHEMA__SET_REQUEST__INIT;
    r.n_kvs = 1; r.kvs = kvs;
    pack_into(&r.base, out);
    return 0;
}

static int mk_setall(uint64_t n, sdb_buf *out) {
    static Immudb__Schema__KeyValue kv[1000];
    static Immudb__Schema__KeyValue *kvs[1000];
    static char keys[1000][32];
    char val[] = "v";
    for (int i = 0; i < 1000; i++) {
        immudb__schema__key_value__init(&kv[i]);
        snprintf(keys[i], sizeof keys[i], "all-%04d-%llu", i, (unsigned long long)n);
        kv[i].key.data = (uint8_t *)keys[i]; kv[i].key.len = strlen(keys[i]);
        kv[i].value.data = (uint8_t *)val; kv[i].value.len = 1;
        kvs[i] = &kv[i];
    }
    Immudb__Schema__SetRequest r = IMMUDB__SCHEMA__SET_REQUEST__INIT;
    r.n_kvs = 1000; r.kvs = kvs;
    pack_into(&r.base, out);
    return 0;
}

static int mk_get(uint64_t n, sdb_buf *out) {
    char key[32];
    snprintf(key, sizeof key, "bench-key-%06llu", (unsigned long long)(n % key_space));
    Immudb__Schema__KeyRequest r = IMMUDB__SCHEMA__KEY_REQUEST__INIT;
    r.key.data = (uint8_t *)key; r.key.len = strlen(key);
    pack_into(&r.base, out);
    return 0;
}

static int mk_vget(uint64_t n, sdb_buf *out) {
    char key[32];
    snprintf(key, sizeof key, "bench-key-%06llu", (unsigned long long)(n % key_space));
    Immudb__Schema__KeyRequest k = IMMUDB__SCHEMA__KEY_REQUEST__INIT;
    k.key.data = (uint8_t *)key; k.key.len = strlen(key);
    Immudb__Schema__VerifiableGetRequest r = IMMUDB__SCHEMA__VERIFIABLE_GET_REQUEST__INIT;
    r.keyrequest = &k;
    r.provesincetx = 1;
    pack_into(&r.base, out);
    return 0;
}

static int mk_vset(uint64_t n, sdb_buf *out) {
    sdb_buf tmp;
    sdb_buf_init(&tmp);
    mk_set(n, &tmp);
    Immudb__Schema__SetRequest *sr = immudb__schema__set_request__unpack(NULL, tmp.len, tmp.ptr);
    Immudb__Schema__VerifiableSetRequest r = IMMUDB__SCHEMA__VERIFIABLE_SET_REQUEST__INIT;
    r.setrequest = sr;
    r.provesincetx = 1;
    pack_into(&r.base, out);
    immudb__schema__set_request__free_unpacked(sr, NULL);
    sdb_buf_deinit(&tmp);
    return 0;
}

static void report(const char *name, double v, const char *unit, int code) {
    if (v < 0) printf("# bench %s: skipped (server answered gRPC status %d)\n", name, code);
    else printf("bench %s: %.1f %s\n", name, v, unit);
    fflush(stdout);
}

int main(void) {
    const char *bin = getenv("SEALDB_BIN") ? getenv("SEALDB_BIN") : "build/sealdb";
    char dir[] = "/tmp/sealdb-bench-XXXXXX";
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    int port = free_port(), mport = free_port();
    char ps[16], ms[16], data[64];
    snprintf(ps, sizeof ps, "%d", port);
    snprintf(ms, sizeof ms, "%d", mport);
    snprintf(data, sizeof data, "%s/data", dir);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open("/dev/null", 1);
        if (fd >= 0) { dup2(fd, 2); dup2(fd, 1); }
        execl(bin, bin, "--dir", data, "-a", "127.0.0.1", "-p", ps, "--metrics-server-port", ms, (char *)NULL);
        _exit(127);
    }
    grpc_init();
    cq = grpc_completion_queue_create_for_next(NULL);
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%d", port);
    grpc_arg arg;
    arg.type = GRPC_ARG_INTEGER;
    arg.key = (char *)GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL;   /* one TCP connection per channel */
    arg.value.integer = 1;
    grpc_channel_args ca = { 1, &arg };
    grpc_channel_credentials *cr = grpc_insecure_credentials_create();
    for (int i = 0; i < NCHAN; i++) chans[i] = grpc_channel_create(target, cr, &ca);
    grpc_channel_credentials_release(cr);

    /* wait for the server */
    int st = -1;
    sdb_buf resp;
    sdb_buf_init(&resp);
    for (int i = 0; i < 200; i++) {
        if (one_call(SVC "Health", sdb_slice_of("", 0), &resp, &st) == 0) break;
        usleep(50000);
    }
    if (st != 0) { fprintf(stderr, "bench_server: sealdb did not start (%s)\n", bin); kill(pid, SIGKILL); return 1; }
    Immudb__Schema__LoginRequest lr = IMMUDB__SCHEMA__LOGIN_REQUEST__INIT;
    lr.user.data = (uint8_t *)"immudb"; lr.user.len = 6;
    lr.password.data = (uint8_t *)"immudb"; lr.password.len = 6;
    sdb_buf req;
    sdb_buf_init(&req);
    pack_into(&lr.base, &req);
    sdb_buf_reset(&resp);
    if (one_call(SVC "Login", sdb_buf_slice(&req), &resp, &st) == 0) {
        Immudb__Schema__LoginResponse *r = immudb__schema__login_response__unpack(NULL, resp.len, resp.ptr);
        if (r) { snprintf(auth_hdr, sizeof auth_hdr, "Bearer %s", r->token); immudb__schema__login_response__free_unpacked(r, NULL); }
    }
    sleep(1);
    double idle = rss_mb(pid);
    int code = 0;
    uint64_t p99 = 0;
    report("server.health_c64", run(SVC "Health", mk_empty, INFLIGHT, NULL, &code), "calls/s", code);
    double set = run(SVC "Set", mk_set, INFLIGHT, &p99, &code);
    int set_code = code;
    report("server.set_c64", set, "calls/s", code);
    report("server.setall1000", run(SVC "Set", mk_setall, 8, NULL, &code) * (code ? 1 : 1000), "keys/s", code);
    report("server.get_c64", run(SVC "Get", mk_get, INFLIGHT, NULL, &code), "calls/s", code);
    report("server.verified_get_c64", run(SVC "VerifiableGet", mk_vget, INFLIGHT, NULL, &code), "calls/s", code);
    report("server.verified_set_c64", run(SVC "VerifiableSet", mk_vset, INFLIGHT, NULL, &code), "calls/s", code);
    if (set >= 0) printf("bench server.p99_set_us: %llu us\n", (unsigned long long)p99);
    else printf("# bench server.p99_set_us: skipped (server answered gRPC status %d)\n", set_code);
    printf("bench server.rss_idle_mb: %.1f MB\n", idle);
    printf("bench server.rss_load_mb: %.1f MB\n", rss_mb(pid));
    sdb_buf_deinit(&req);
    sdb_buf_deinit(&resp);
    for (int i = 0; i < NCHAN; i++) grpc_channel_destroy(chans[i]);
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type != GRPC_QUEUE_SHUTDOWN) {}
    grpc_completion_queue_destroy(cq);
    grpc_shutdown();
    kill(pid, SIGTERM);
    int ws = 0;
    waitpid(pid, &ws, 0);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "bench_server: cannot remove %s\n", dir);
    return 0;
}
