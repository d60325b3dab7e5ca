/* test_client_txstream.c - libsealdb-client's ExecAllStream against the real sealdb binary (started
 * here, next to this test's binary or at $SEALDB_BIN): answers in order for pipelined txs, a failing
 * precondition ending the stream after the earlier answers, half-close, credentials, the server's idle
 * end, and an unknown stream method answered UNIMPLEMENTED (what an immudb server gives). Its batched
 * variant (sealdb_client_txbatch_open, ExecAllBatchStream) likewise: txs formed into one message until
 * flush, recv, half_close or the 64th send, and answered in order. */
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "testlib.h"
#include "sealdb_client.h"
#include "client/client_int.h"

static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t l = sizeof a;
    CHECK(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
    CHECK(getsockname(fd, (struct sockaddr *)&a, &l) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void server_bin(char *out, size_t cap) {
    const char *env = getenv("SEALDB_BIN");
    if (env && *env) { snprintf(out, cap, "%s", env); return; }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    CHECK(n > 0);
    self[n] = 0;
    *strrchr(self, '/') = 0;              /* <B>/tests */
    snprintf(out, cap, "%s/../sealdb", self);
}

typedef struct srv { pid_t pid; int port; } srv;

/* Starts sealdb on fresh ports in this test's directory (killed with the test process). */
static srv server_start(const char *extra_flag, const char *extra_val) {
    char bin[PATH_MAX + 16], dir[4200], logp[4200], port[16], mport[16], wport[16];
    server_bin(bin, sizeof bin);
    CHECK(access(bin, X_OK) == 0);
    snprintf(dir, sizeof dir, "%s/data", sdb_test_tmpdir());
    snprintf(logp, sizeof logp, "%s/server.log", sdb_test_tmpdir());
    srv s = { 0, free_port() };
    snprintf(port, sizeof port, "%d", s.port);
    snprintf(mport, sizeof mport, "%d", free_port());
    snprintf(wport, sizeof wport, "%d", free_port());
    s.pid = fork();
    CHECK(s.pid >= 0);
    if (s.pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open(logp, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) { dup2(fd, 1); dup2(fd, 2); }
        execl(bin, "sealdb", "--dir", dir, "-a", "127.0.0.1", "-p", port, "--metrics-server-port", mport,
              "--web-server-port", wport, extra_flag, extra_val, (char *)NULL);
        _exit(127);
    }
    return s;
}

static void server_stop(srv *s) {
    kill(s->pid, SIGTERM);
    int st = 0;
    CHECK(waitpid(s->pid, &st, 0) == s->pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);   /* a clean stop (the sanitizer build: no report) */
}

/* 1 once the server logged that it serves (a connection before that may wait for the call's deadline) */
static int server_serving(void) {
    char logp[4200], buf[8192];
    snprintf(logp, sizeof logp, "%s/server.log", sdb_test_tmpdir());
    FILE *f = fopen(logp, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return strstr(buf, " serving ") != NULL;
}

/* A client (logged in when login), once the server answers. */
static sealdb_client *client_of(const srv *s, int login) {
    for (int i = 0; i < 400 && !server_serving(); i++) usleep(50000);
    CHECK(server_serving());
    sealdb_client_opts o;
    sealdb_client_opts_init(&o);
    o.port = s->port;
    o.timeout_ms = 10000;
    o.state_dir = sdb_test_tmpdir();
    sealdb_client *c = NULL;
    CHECK_OK(sealdb_client_connect(&o, &c));
    int ok = 0, rc = -1;
    for (int i = 0; i < 400 && rc != SEALDB_OK; i++) {
        rc = sealdb_client_health(c, &ok, NULL, 0);
        if (rc != SEALDB_OK) usleep(50000);
    }
    CHECK_OK(rc);
    if (login) CHECK_OK(sealdb_client_login(c, "immudb", "immudb", "defaultdb", NULL));
    return c;
}

static sealdb_op kv_op(const char *k, const char *v) {
    sealdb_op op = { .kind = SEALDB_OP_KV, .kv = { k, strlen(k), v, strlen(v), NULL } };
    return op;
}

TEST(txstream_answers_in_order_with_many_in_flight) {
    srv s = server_start(NULL, NULL);
    sealdb_client *c = client_of(&s, 1);
    sealdb_txstream *ts = NULL;
    CHECK_OK(sealdb_client_txstream_open(c, &ts));
    enum { N = 200, DEPTH = 48 };
    char keys[N][16], prev[16];
    uint64_t ids[N];
    size_t got = 0;
    sealdb_tx_header h;
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "ts:%04d", i);
        sealdb_op op = kv_op(keys[i], keys[i]);
        /* every tx needs its predecessor's key: holds only when txs commit in stream order */
        snprintf(prev, sizeof prev, "ts:%04d", i - 1);
        sealdb_precondition pre = { SEALDB_PRE_KEY_MUST_EXIST, prev, strlen(prev), 0 };
        CHECK_OK(sealdb_txstream_send(ts, &op, 1, i ? &pre : NULL, i ? 1 : 0));
        /* a plain call on the same handle while the stream has txs in flight */
        if (i == N / 2) { sealdb_entry *e = NULL; CHECK_OK(sealdb_client_get(c, "ts:0000", 7, NULL, &e)); sealdb_entry_free(e); }
        while (sealdb_txstream_pending(ts) >= DEPTH) { CHECK_OK(sealdb_txstream_recv(ts, &h)); ids[got++] = h.id; }
    }
    CHECK_EQ_U64(sealdb_txstream_pending(ts), N - got);
    /* ready turns 1 without a recv once the next answer is here */
    for (int i = 0; i < 1000 && !sealdb_txstream_ready(ts); i++) usleep(5000);
    CHECK_EQ_U64(sealdb_txstream_ready(ts), 1);
    CHECK_OK(sealdb_txstream_half_close(ts));
    while (got < N) { CHECK_OK(sealdb_txstream_recv(ts, &h)); CHECK_EQ_U64(h.nentries, 1); ids[got++] = h.id; }
    for (int i = 1; i < N; i++) CHECK_EQ_U64(ids[i], ids[0] + (uint64_t)i);
    /* half-closed and all answered: the call ends with OK */
    CHECK_RC(sealdb_txstream_recv(ts, &h), SEALDB_CLOSED);
    CHECK_EQ_U64(sealdb_client_grpc_code(c), 0);
    CHECK_EQ_U64(sealdb_txstream_pending(ts), 0);
    sealdb_txstream_close(ts);
    sealdb_entry *e = NULL;
    CHECK_OK(sealdb_client_get(c, keys[N - 1], strlen(keys[N - 1]), NULL, &e));
    CHECK_EQ_U64(e->tx, ids[N - 1]);
    sealdb_entry_free(e);
    /* close with nothing sent, and with answers never taken (cancelled), leaves the handle usable */
    CHECK_OK(sealdb_client_txstream_open(c, &ts));
    sealdb_txstream_close(ts);
    CHECK_OK(sealdb_client_txstream_open(c, &ts));
    sealdb_op op = kv_op("ts:cancel", "v");
    for (int i = 0; i < 20; i++) CHECK_OK(sealdb_txstream_send(ts, &op, 1, NULL, 0));
    sealdb_txstream_close(ts);
    CHECK_OK(sealdb_client_set(c, "ts:after", 8, "v", 1, &h));
    sealdb_client_close(c);
    server_stop(&s);
}

TEST(txstream_failure_ends_the_call_after_earlier_answers) {
    srv s = server_start(NULL, NULL);
    sealdb_client *c = client_of(&s, 1);
    sealdb_txstream *ts = NULL;
    CHECK_OK(sealdb_client_txstream_open(c, &ts));
    char k[32];
    sealdb_tx_header h;
    for (int i = 0; i < 5; i++) {
        snprintf(k, sizeof k, "fx:%d", i);
        sealdb_op op = kv_op(k, "v");
        CHECK_OK(sealdb_txstream_send(ts, &op, 1, NULL, 0));
    }
    sealdb_op bad = kv_op("fx:bad", "v");
    sealdb_precondition miss = { SEALDB_PRE_KEY_MUST_EXIST, "fx:never", 8, 0 };
    CHECK_OK(sealdb_txstream_send(ts, &bad, 1, &miss, 1));
    /* guarded by the failed one's key: none of these may commit */
    sealdb_precondition after = { SEALDB_PRE_KEY_MUST_EXIST, "fx:bad", 6, 0 };
    for (int i = 0; i < 3; i++) {
        sealdb_op op = kv_op("fx:after", "v");
        int rc = sealdb_txstream_send(ts, &op, 1, &after, 1);
        CHECK(rc == SEALDB_OK || rc == SEALDB_NETWORK);   /* the call may have ended already */
    }
    for (int i = 0; i < 5; i++) CHECK_OK(sealdb_txstream_recv(ts, &h));
    CHECK_RC(sealdb_txstream_recv(ts, &h), SEALDB_PRECONDITION);
    CHECK_EQ_U64(sealdb_client_grpc_code(c), 9);
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", sealdb_client_errmsg(c));
    CHECK(strncmp(msg, "precondition failed", 19) == 0);
    /* the end stays the answer; a send now finds the call ended */
    CHECK_RC(sealdb_txstream_recv(ts, &h), SEALDB_PRECONDITION);
    CHECK_RC(sealdb_txstream_send(ts, &bad, 1, NULL, 0), SEALDB_NETWORK);
    sealdb_txstream_close(ts);
    /* the same error as unary ExecAll gives */
    CHECK_RC(sealdb_client_exec_all(c, &bad, 1, &miss, 1, &h), SEALDB_PRECONDITION);
    CHECK_EQ_STR(sealdb_client_errmsg(c), msg);
    sealdb_entry *e = NULL;
    CHECK_RC(sealdb_client_get(c, "fx:after", 8, NULL, &e), SEALDB_NOTFOUND);
    CHECK_OK(sealdb_client_get(c, "fx:4", 4, NULL, &e));
    sealdb_entry_free(e);
    /* bad arguments are refused locally */
    CHECK_OK(sealdb_client_txstream_open(c, &ts));
    CHECK_RC(sealdb_txstream_send(ts, NULL, 0, NULL, 0), SEALDB_INVALID);
    sealdb_txstream_close(ts);
    sealdb_txstream_close(NULL);
    CHECK_RC(sealdb_client_txstream_open(c, NULL), SEALDB_INVALID);
    sealdb_client_close(c);
    server_stop(&s);
}

TEST(txstream_needs_login) {
    srv s = server_start(NULL, NULL);
    sealdb_client *c = client_of(&s, 0);
    /* the plain stream and the batched one */
    int (*open[2])(sealdb_client *, sealdb_txstream **) = { sealdb_client_txstream_open, sealdb_client_txbatch_open };
    for (int i = 0; i < 2; i++) {
        sealdb_txstream *ts = NULL;
        CHECK_OK(open[i](c, &ts));
        sealdb_op op = kv_op("na", "v");
        int rc = sealdb_txstream_send(ts, &op, 1, NULL, 0);
        CHECK(rc == SEALDB_OK || rc == SEALDB_NETWORK);
        sealdb_tx_header h;
        CHECK_RC(sealdb_txstream_recv(ts, &h), SEALDB_AUTH);
        CHECK_EQ_STR(sealdb_client_errmsg(c), "not logged in");
        sealdb_txstream_close(ts);
    }
    sealdb_client_close(c);
    server_stop(&s);
}

TEST(txstream_idle_stream_is_ended_by_the_server) {
    srv s = server_start("--max-connection-idle", "1s");
    sealdb_client *c = client_of(&s, 1);
    sealdb_txstream *ts = NULL;
    CHECK_OK(sealdb_client_txstream_open(c, &ts));
    sealdb_op op = kv_op("idle:1", "v");
    sealdb_tx_header h;
    CHECK_OK(sealdb_txstream_send(ts, &op, 1, NULL, 0));
    CHECK_OK(sealdb_txstream_recv(ts, &h));
    for (int i = 0; i < 100 && !sealdb_txstream_ready(ts); i++) usleep(100000);
    CHECK_EQ_U64(sealdb_txstream_ready(ts), 1);
    CHECK_RC(sealdb_txstream_recv(ts, &h), SEALDB_TIMEOUT);
    CHECK_EQ_U64(sealdb_client_grpc_code(c), 4);
    sealdb_txstream_close(ts);
    /* a new stream carries on */
    CHECK_OK(sealdb_client_txstream_open(c, &ts));
    CHECK_OK(sealdb_txstream_send(ts, &op, 1, NULL, 0));
    CHECK_OK(sealdb_txstream_recv(ts, &h));
    sealdb_txstream_close(ts);
    sealdb_client_close(c);
    server_stop(&s);
}

TEST(txstream_unknown_method_is_unimplemented) {
    /* the transport layer under the API with a method the server lacks: its end is UNIMPLEMENTED at
     * the first receive, which the client maps to SEALDB_UNSUPPORTED (sealdb-cdc's cue to fall back) */
    srv s = server_start(NULL, NULL);
    sealdb_client *c = client_of(&s, 1);
    sdb_rpc_md md[2];
    size_t nmd = sdb_cl_auth_md(c, md);
    sdb_rpc_bidi *b = NULL;
    CHECK_OK(sdb_rpc_bidi_open(c->conn, "/sealdb.schema.SealService/NoSuchStream", md, nmd, 10000, &b));
    memcpy(sdb_rpc_bidi_msg(b, 2), "\x0a\x00", 2);
    int rc = sdb_rpc_bidi_send(b);
    CHECK(rc == SEALDB_OK || rc == SEALDB_NETWORK);
    sdb_buf m;
    sdb_buf_init(&m);
    sdb_rpc_status st;
    sdb_rpc_status_init(&st);
    int end = 0;
    CHECK_OK(sdb_rpc_bidi_recv(b, &m, &end, &st));
    CHECK_EQ_U64(end, 1);
    CHECK_EQ_U64(st.grpc_code, 12);
    CHECK_RC(sdb_cl_take_status(c, SEALDB_OK, &st), SEALDB_UNSUPPORTED);
    sdb_rpc_status_deinit(&st);
    sdb_buf_deinit(&m);
    sdb_rpc_bidi_close(b);
    sealdb_client_close(c);
    server_stop(&s);
}

/* ---- the batched variant: sealdb_client_txbatch_open ---- */

/* Sends n txs writing <prefix>:<i> for i in [from, from + n), each but the stream's first guarded by its
 * predecessor's key (so they commit only in the order sent, across messages too). */
static void batch_send(sealdb_txstream *ts, const char *prefix, int from, int n) {
    char k[32], prev[32];
    for (int i = from; i < from + n; i++) {
        snprintf(k, sizeof k, "%s:%04d", prefix, i);
        snprintf(prev, sizeof prev, "%s:%04d", prefix, i - 1);
        sealdb_op op = kv_op(k, k);
        sealdb_precondition pre = { SEALDB_PRE_KEY_MUST_EXIST, prev, strlen(prev), 0 };
        CHECK_OK(sealdb_txstream_send(ts, &op, 1, i ? &pre : NULL, i ? 1 : 0));
    }
}

/* Takes n answers with consecutive ids after *last (any first id when *last is 0); *last is the last. */
static void batch_recv(sealdb_txstream *ts, int n, uint64_t *last) {
    sealdb_tx_header h;
    for (int i = 0; i < n; i++) {
        uint64_t before = sealdb_txstream_pending(ts);
        CHECK_OK(sealdb_txstream_recv(ts, &h));
        CHECK_EQ_U64(sealdb_txstream_pending(ts), before - 1);
        CHECK_EQ_U64(h.nentries, 1);
        if (*last) CHECK_EQ_U64(h.id, *last + 1);
        *last = h.id;
    }
}

/* 1 once ready, waiting up to ms */
static int ready_within(sealdb_txstream *ts, int ms) {
    for (int i = 0; i < ms / 5 && !sealdb_txstream_ready(ts); i++) usleep(5000);
    return sealdb_txstream_ready(ts);
}

TEST(txbatch_flush_recv_and_half_close) {
    srv s = server_start(NULL, NULL);
    sealdb_client *c = client_of(&s, 1);
    sealdb_txstream *ts = NULL;
    CHECK_OK(sealdb_client_txbatch_open(c, &ts));
    CHECK_OK(sealdb_txstream_flush(ts));   /* nothing formed: a no-op */
    uint64_t last = 0;
    batch_send(ts, "tb", 0, 10);
    CHECK_EQ_U64(sealdb_txstream_pending(ts), 10);
    /* formed, not sent: no answer can come (it would if send sent each tx) */
    usleep(300000);
    CHECK_EQ_U64(sealdb_txstream_ready(ts), 0);
    CHECK_OK(sealdb_txstream_flush(ts));
    CHECK_EQ_U64(sealdb_txstream_pending(ts), 10);
    CHECK_EQ_U64(ready_within(ts, 5000), 1);
    batch_recv(ts, 1, &last);
    /* the other nine came in the same answer: here without waiting */
    CHECK_EQ_U64(sealdb_txstream_ready(ts), 1);
    batch_recv(ts, 9, &last);
    CHECK_EQ_U64(sealdb_txstream_pending(ts), 0);
    sealdb_entry *e = NULL;
    CHECK_OK(sealdb_client_get(c, "tb:0009", 7, NULL, &e));
    CHECK_EQ_U64(e->tx, last);
    sealdb_entry_free(e);
    /* recv sends what is formed before it waits */
    batch_send(ts, "tb", 10, 3);
    batch_recv(ts, 3, &last);
    /* half_close sends what is formed; the answers come, then the call's end (OK) */
    batch_send(ts, "tb", 13, 4);
    CHECK_OK(sealdb_txstream_half_close(ts));
    CHECK_EQ_U64(sealdb_txstream_pending(ts), 4);
    batch_recv(ts, 4, &last);
    sealdb_tx_header h;
    CHECK_RC(sealdb_txstream_recv(ts, &h), SEALDB_CLOSED);
    CHECK_EQ_U64(sealdb_client_grpc_code(c), 0);
    CHECK_RC(sealdb_txstream_recv(ts, &h), SEALDB_CLOSED);
    CHECK_EQ_U64(sealdb_txstream_pending(ts), 0);
    sealdb_txstream_close(ts);
    CHECK_OK(sealdb_client_get(c, "tb:0016", 7, NULL, &e));
    CHECK_EQ_U64(e->tx, last);
    sealdb_entry_free(e);
    /* a send after half_close is refused, as on a plain stream, and leaves the answers to come as they were */
    for (int batched = 0; batched < 2; batched++) {
        CHECK_OK((batched ? sealdb_client_txbatch_open : sealdb_client_txstream_open)(c, &ts));
        char k[32];
        snprintf(k, sizeof k, "tb:late%d", batched);
        sealdb_op op = kv_op(k, "v");
        CHECK_OK(sealdb_txstream_send(ts, &op, 1, NULL, 0));
        CHECK_OK(sealdb_txstream_half_close(ts));
        CHECK_RC(sealdb_txstream_send(ts, &op, 1, NULL, 0), SEALDB_INVALID);
        CHECK_EQ_U64(sealdb_txstream_pending(ts), 1);
        CHECK_OK(sealdb_txstream_recv(ts, &h));
        CHECK_EQ_U64(h.id, last + 1);
        last = h.id;
        CHECK_RC(sealdb_txstream_recv(ts, &h), SEALDB_CLOSED);
        sealdb_txstream_close(ts);
    }
    /* close with txs formed and never sent, and with answers never taken, leaves the handle usable */
    CHECK_OK(sealdb_client_txbatch_open(c, &ts));
    batch_send(ts, "tx", 0, 5);
    sealdb_txstream_close(ts);
    CHECK_OK(sealdb_client_txbatch_open(c, &ts));
    batch_send(ts, "ty", 0, 20);
    CHECK_OK(sealdb_txstream_flush(ts));
    sealdb_txstream_close(ts);
    CHECK_RC(sealdb_client_get(c, "tx:0000", 7, NULL, &e), SEALDB_NOTFOUND);   /* never sent */
    CHECK_OK(sealdb_client_set(c, "tb:after", 8, "v", 1, &h));
    /* flush on a plain stream is a no-op; bad arguments are refused locally */
    CHECK_OK(sealdb_client_txstream_open(c, &ts));
    CHECK_OK(sealdb_txstream_flush(ts));
    sealdb_txstream_close(ts);
    CHECK_RC(sealdb_txstream_flush(NULL), SEALDB_INVALID);
    CHECK_RC(sealdb_client_txbatch_open(c, NULL), SEALDB_INVALID);
    CHECK_OK(sealdb_client_txbatch_open(c, &ts));
    CHECK_RC(sealdb_txstream_send(ts, NULL, 0, NULL, 0), SEALDB_INVALID);
    CHECK_EQ_U64(sealdb_txstream_pending(ts), 0);
    sealdb_txstream_close(ts);
    sealdb_client_close(c);
    server_stop(&s);
}

TEST(txbatch_send_flushes_at_64) {
    srv s = server_start(NULL, NULL);
    sealdb_client *c = client_of(&s, 1);
    sealdb_txstream *ts = NULL;
    CHECK_OK(sealdb_client_txbatch_open(c, &ts));
    enum { N = 130 };   /* two full messages sent by send itself, two txs left formed */
    batch_send(ts, "ta", 0, N);
    CHECK_EQ_U64(sealdb_txstream_pending(ts), N);
    /* neither flush nor recv was called: the answer is here only because the 64th send sent its message */
    CHECK_EQ_U64(ready_within(ts, 5000), 1);
    uint64_t last = 0, first;
    batch_recv(ts, 1, &last);
    first = last;
    batch_recv(ts, 127, &last);
    /* the last two were formed, not sent, until the first recv that had to wait sent them (how soon
     * their answer is here depends on the server's pace: not checked) */
    CHECK_EQ_U64(sealdb_txstream_pending(ts), 2);
    batch_recv(ts, 2, &last);
    CHECK_EQ_U64(last, first + N - 1);
    CHECK_OK(sealdb_txstream_half_close(ts));
    sealdb_tx_header h;
    CHECK_RC(sealdb_txstream_recv(ts, &h), SEALDB_CLOSED);
    CHECK_EQ_U64(sealdb_client_grpc_code(c), 0);
    sealdb_txstream_close(ts);
    sealdb_entry *e = NULL;
    CHECK_OK(sealdb_client_get(c, "ta:0129", 7, NULL, &e));
    CHECK_EQ_U64(e->tx, last);
    sealdb_entry_free(e);
    sealdb_client_close(c);
    server_stop(&s);
}

TEST(txbatch_failure_ends_the_call_after_earlier_answers) {
    srv s = server_start(NULL, NULL);
    sealdb_client *c = client_of(&s, 1);
    sealdb_txstream *ts = NULL;
    sealdb_tx_header h;
    sealdb_entry *e = NULL;
    uint64_t last = 0;
    /* a failed precondition mid-message: the five before it are answered, then its error */
    CHECK_OK(sealdb_client_txbatch_open(c, &ts));
    batch_send(ts, "fb", 0, 5);
    sealdb_op bad = kv_op("fb:bad", "v");
    sealdb_precondition miss = { SEALDB_PRE_KEY_MUST_EXIST, "fb:never", 8, 0 };
    CHECK_OK(sealdb_txstream_send(ts, &bad, 1, &miss, 1));
    /* guarded by the failed one's key: none of these may commit */
    sealdb_precondition after = { SEALDB_PRE_KEY_MUST_EXIST, "fb:bad", 6, 0 };
    for (int i = 0; i < 3; i++) {
        sealdb_op op = kv_op("fb:after", "v");
        CHECK_OK(sealdb_txstream_send(ts, &op, 1, &after, 1));
    }
    CHECK_EQ_U64(sealdb_txstream_pending(ts), 9);
    batch_recv(ts, 5, &last);
    CHECK_RC(sealdb_txstream_recv(ts, &h), SEALDB_PRECONDITION);
    CHECK_EQ_U64(sealdb_client_grpc_code(c), 9);
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", sealdb_client_errmsg(c));
    CHECK(strncmp(msg, "precondition failed", 19) == 0);
    /* the end stays the answer; a send now finds the call ended (rather than forming a tx never sent) */
    CHECK_RC(sealdb_txstream_recv(ts, &h), SEALDB_PRECONDITION);
    CHECK_EQ_U64(sealdb_txstream_pending(ts), 4);
    CHECK_RC(sealdb_txstream_send(ts, &bad, 1, NULL, 0), SEALDB_NETWORK);
    CHECK_EQ_U64(sealdb_txstream_pending(ts), 4);
    CHECK_RC(sealdb_txstream_recv(ts, &h), SEALDB_PRECONDITION);
    sealdb_txstream_close(ts);
    CHECK_RC(sealdb_client_exec_all(c, &bad, 1, &miss, 1, &h), SEALDB_PRECONDITION);   /* as unary ExecAll */
    CHECK_EQ_STR(sealdb_client_errmsg(c), msg);
    CHECK_RC(sealdb_client_get(c, "fb:after", 8, NULL, &e), SEALDB_NOTFOUND);
    CHECK_OK(sealdb_client_get(c, "fb:0004", 7, NULL, &e));
    CHECK_EQ_U64(e->tx, last);
    sealdb_entry_free(e);
    /* a tx the server refuses before committing (an empty key): the rest of its message is dropped, guarded
     * or not; the message before it is answered whole */
    CHECK_OK(sealdb_client_txbatch_open(c, &ts));
    batch_send(ts, "fc", 0, 3);
    CHECK_OK(sealdb_txstream_flush(ts));
    batch_send(ts, "fc", 3, 2);
    sealdb_op empty = kv_op("", "v");
    CHECK_OK(sealdb_txstream_send(ts, &empty, 1, NULL, 0));
    sealdb_op op = kv_op("fc:dropped", "v");
    CHECK_OK(sealdb_txstream_send(ts, &op, 1, NULL, 0));
    last = 0;
    batch_recv(ts, 5, &last);
    int rc = sealdb_txstream_recv(ts, &h);
    CHECK(rc != SEALDB_OK && rc != SEALDB_CLOSED);
    snprintf(msg, sizeof msg, "%s", sealdb_client_errmsg(c));
    int code = sealdb_client_grpc_code(c);
    CHECK_EQ_U64(code, 3);   /* INVALID_ARGUMENT */
    sealdb_txstream_close(ts);
    CHECK_RC(sealdb_client_exec_all(c, &empty, 1, NULL, 0, &h), rc);   /* as unary ExecAll */
    CHECK_EQ_STR(sealdb_client_errmsg(c), msg);
    CHECK_RC(sealdb_client_get(c, "fc:dropped", 10, NULL, &e), SEALDB_NOTFOUND);
    sealdb_state st;
    CHECK_OK(sealdb_client_current_state(c, &st));
    CHECK_EQ_U64(st.tx_id, last);   /* nothing after fc:0004 was committed */
    sealdb_client_close(c);
    server_stop(&s);
}
