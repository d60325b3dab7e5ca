/* grpc_server.c - the server's only use of the gRPC C core: listening (plain connections accepted
 * here and handed to gRPC, TLS and mTLS by gRPC's listener), one completion queue drained by a few
 * worker threads, generic (unregistered) call acceptance, unary calls answered asynchronously,
 * streaming calls run on their own thread with blocking send/receive, the immudb-uuid header on
 * every response, and the limits that keep unauthenticated peers from holding resources:
 * connections, calls per connection and in total, stream threads, and receive deadlines. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <grpc/grpc.h>
#include <grpc/grpc_posix.h>
#include <grpc/grpc_security.h>
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include "util/net.h"
#include "rpc/server.h"
#include "sealdb.h"
#include "rpc_status.pb-c.h"
#include "util/file.h"

#define OUTSTANDING_REQUESTS 32
#define ZERO_COPY_MIN 4096   /* answers this large are not copied into gRPC's own buffer */
#define FD_RESERVE 64        /* fds kept free for database files, metrics, logs and gRPC itself */
#define REAP_INTERVAL_MS 100
#define PEER_BUCKETS 1024
#define PEER_KEY_LEN 64

/* defaults of the limits (flags in main.c, docs/security-transport.md) */
#define DEF_MAX_CONNECTIONS 1000
#define DEF_MAX_CONN_STREAMS 128
#define DEF_MAX_CALLS 4096
#define DEF_MAX_STREAM_THREADS 256
#define DEF_REQUEST_TIMEOUT_MS 10000
#define DEF_HANDSHAKE_TIMEOUT_MS 10000
#define DEF_CONN_IDLE_MS 300000

static const char h2_preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
#define H2_PREFACE_LEN 24

typedef struct tag tag;
struct tag { void (*fn)(tag *t, int ok); };

typedef struct gcall gcall;

/* calls in progress per connection (gRPC's peer string names one connection) */
typedef struct peer_count {
    char key[PEER_KEY_LEN];
    int n;
    struct peer_count *next;
} peer_count;

typedef struct conn { int fd; dev_t dev; ino_t ino; } conn;               /* handed to gRPC */
typedef struct pending_conn { int fd; uint64_t deadline_ms; int seen; } pending_conn;   /* before its preface */

struct sdb_transport {
    sdb_server *srv;
    grpc_server *server;
    grpc_completion_queue *cq;
    pthread_t *workers;
    int n_workers;
    int port;
    _Atomic int shutting_down;
    _Atomic int stream_threads;
    tag shutdown_tag;
    pthread_mutex_t mu;            /* shutdown_done, live calls, peer counts */
    pthread_cond_t cv;
    int shutdown_done;
    /* limits, resolved from cfg */
    int max_connections, max_conn_streams, max_calls, max_stream_threads;
    uint64_t request_timeout_ms, handshake_timeout_ms, idle_ms;
    /* live calls (mu): the reaper cancels those whose receive or send deadline passed */
    gcall *calls;
    int n_calls;
    peer_count *peers[PEER_BUCKETS];
    peer_count *free_peers;
    pthread_t reaper;
    int reaper_started;
    _Atomic int reaper_stop;
    /* plain listener: accepted here (acceptor thread only), handed to gRPC once the preface came */
    int listen_fd, wake_fd[2], spare_fd;
    int fd_limit;
    conn *conns; int n_conns;
    pending_conn *pend; int n_pend;
    pthread_t acceptor;
    int acceptor_started;
    grpc_server_credentials *fd_creds;
    _Atomic uint64_t n_refused_conns;
    uint64_t last_refusal_log_ms;
};

struct gcall {
    tag t_new, t_recv, t_final, t_sync, t_defer;
    void (*defer_fn)(sdb_call *c, void *arg);
    void *defer_arg;
    sdb_transport *tr;
    grpc_call *call;
    grpc_call_details details;
    grpc_metadata_array md;
    grpc_byte_buffer *recv_buf;
    grpc_byte_buffer *send_buf;
    grpc_metadata init_md[2];
    int md_sent;
    int cancelled;
    grpc_slice status_msg;
    int has_status_msg;
    grpc_metadata trail_md[SDB_CALL_MAX_TRAILERS];   /* grpc-status-details-bin of a coded error, or
                                                      * the handler's trailers of a successful answer */
    int has_trail_md;             /* entries of trail_md holding a value slice */
    sdb_call *sc;
    /* blocking operations of streaming calls */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int sync_done, sync_ok;
    /* limits bookkeeping (transport mu) */
    int registered;
    peer_count *peer;
    gcall *prev, *next;
    _Atomic uint64_t deadline_ms;  /* a receive or send must complete by then; 0: none pending */
    int reaped;
    /* the first request message of a streaming call, received before its thread starts */
    sdb_slice first;
    int has_first, first_eof;
    /* a bidirectional stream's pending receive and send (mu: busy flags and their start times) */
    tag t_brecv, t_bsend;
    grpc_byte_buffer *brecv_buf, *bsend_buf;
    int b_recv_busy, b_send_busy, b_first;
    uint64_t b_recv_since, b_send_since;
    uint8_t *b_copy; size_t b_copy_cap;   /* a received message in several slices, made contiguous */
};

#define CONTAINER(ptr, field) ((gcall *)((char *)(ptr) - offsetof(gcall, field)))

static void post_request(sdb_transport *tr);

static uint64_t peer_hash(const char *k) {
    uint64_t h = 1469598103934665603ull;
    for (; *k; k++) h = (h ^ (uint8_t)*k) * 1099511628211ull;
    return h;
}

/* Counts a new call on its connection and in total (mu held). 0: over a limit. */
static int call_register(sdb_transport *tr, gcall *g, const char *peer) {
    if (tr->n_calls >= tr->max_calls) return 0;
    char key[PEER_KEY_LEN];
    snprintf(key, sizeof key, "%s", peer ? peer : "");
    peer_count **pp = &tr->peers[peer_hash(key) % PEER_BUCKETS], *pc = *pp;
    while (pc && strcmp(pc->key, key) != 0) pc = pc->next;
    if (pc && pc->n >= tr->max_conn_streams) return 0;
    if (!pc) {
        pc = tr->free_peers;
        if (pc) tr->free_peers = pc->next;
        else if (!(pc = sdb_malloc(sizeof *pc))) return 0;
        memcpy(pc->key, key, sizeof key);
        pc->n = 0;
        pc->next = *pp;
        *pp = pc;
    }
    pc->n++;
    g->peer = pc;
    g->registered = 1;
    g->prev = NULL;
    g->next = tr->calls;
    if (tr->calls) tr->calls->prev = g;
    tr->calls = g;
    tr->n_calls++;
    return 1;
}

static void call_unregister(sdb_transport *tr, gcall *g) {
    pthread_mutex_lock(&tr->mu);
    if (g->prev) g->prev->next = g->next; else tr->calls = g->next;
    if (g->next) g->next->prev = g->prev;
    tr->n_calls--;
    peer_count *pc = g->peer;
    if (pc && --pc->n == 0) {
        peer_count **pp = &tr->peers[peer_hash(pc->key) % PEER_BUCKETS];
        while (*pp != pc) pp = &(*pp)->next;
        *pp = pc->next;
        pc->next = tr->free_peers;   /* kept for the next connection: no allocation per call */
        tr->free_peers = pc;
    }
    pthread_mutex_unlock(&tr->mu);
}

static void deadline_set(gcall *g) {
    atomic_store(&g->deadline_ms, sdb_now_ms() + g->tr->request_timeout_ms);
}
static void deadline_clear(gcall *g) { atomic_store(&g->deadline_ms, 0); }

static void gcall_free(gcall *g) {
    if (g->registered) call_unregister(g->tr, g);
    if (g->call) grpc_call_unref(g->call);
    grpc_call_details_destroy(&g->details);
    grpc_metadata_array_destroy(&g->md);
    if (g->recv_buf) grpc_byte_buffer_destroy(g->recv_buf);
    if (g->send_buf) grpc_byte_buffer_destroy(g->send_buf);
    if (g->brecv_buf) grpc_byte_buffer_destroy(g->brecv_buf);
    if (g->bsend_buf) grpc_byte_buffer_destroy(g->bsend_buf);
    sdb_free(g->b_copy);
    if (g->has_status_msg) grpc_slice_unref(g->status_msg);
    for (int i = 0; i < g->has_trail_md; i++) {
        grpc_slice_unref(g->trail_md[i].key);   /* a static key's unref is a no-op */
        grpc_slice_unref(g->trail_md[i].value);
    }
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
    sdb_free(g);
}

static void fill_init_md(gcall *g, grpc_op *op) {
    g->init_md[0].key = grpc_slice_from_static_string("immudb-uuid");
    g->init_md[0].value = grpc_slice_from_static_string(g->tr->srv->uuid);
    /* the API version answered by Health is immudb's; clients may also want ours */
    g->init_md[1].key = grpc_slice_from_static_string("sealdb-version");
    g->init_md[1].value = grpc_slice_from_static_string(SEALDB_VERSION);
    memset(op, 0, sizeof *op);
    op->op = GRPC_OP_SEND_INITIAL_METADATA;
    op->data.send_initial_metadata.count = 2;
    op->data.send_initial_metadata.metadata = g->init_md;
    g->md_sent = 1;
}

/* ---- final status ---- */
static void on_final(tag *t, int ok) {
    gcall *g = CONTAINER(t, t_final);
    sdb_call *sc = g->sc;
    gcall_free(g);
    sdb_call_unref(sc);
}

static void release_call_ref(void *c) { sdb_call_unref(c); }

/* The status details of an immudb coded error, as immudb sends them (docs/api.md 0.1): the trailer
 * grpc-status-details-bin holds a google.rpc.Status repeating the call's code and message, whose
 * details are an immudb.schema.ErrorInfo{code, cause} then an immudb.schema.RetryInfo (delay 0:
 * nothing here asks for a retry). gRPC base64-encodes the value itself (a -bin key). */
#define ANY_TYPE_PREFIX "type.googleapis.com/"
static int pack_any(sdb_call *c, Google__Rpc__Any *any, const char *type_url, const ProtobufCMessage *m) {
    google__rpc__any__init(any);
    any->type_url = (char *)type_url;
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *p = sdb_arena_alloc(&c->arena, n ? n : 1);
    if (!p) return SEALDB_NOMEM;
    any->value.data = p;
    any->value.len = protobuf_c_message_pack(m, p);
    return SEALDB_OK;
}

static int status_details(sdb_call *c, int code, const char *msg, grpc_slice *out) {
    Immudb__Schema__ErrorInfo ei = IMMUDB__SCHEMA__ERROR_INFO__INIT;
    ei.code = (char *)c->err_info_code;
    ei.cause = (char *)c->err_cause;
    Immudb__Schema__RetryInfo ri = IMMUDB__SCHEMA__RETRY_INFO__INIT;
    Google__Rpc__Any any[2], *anyp[2] = { &any[0], &any[1] };
    if (pack_any(c, &any[0], ANY_TYPE_PREFIX "immudb.schema.ErrorInfo", &ei.base) ||
        pack_any(c, &any[1], ANY_TYPE_PREFIX "immudb.schema.RetryInfo", &ri.base))
        return SEALDB_NOMEM;
    Google__Rpc__Status st = GOOGLE__RPC__STATUS__INIT;
    st.code = code;
    st.message = (char *)msg;
    st.n_details = 2;
    st.details = anyp;
    size_t n = google__rpc__status__get_packed_size(&st);
    uint8_t *p = sdb_arena_alloc(&c->arena, n ? n : 1);
    if (!p) return SEALDB_NOMEM;
    n = google__rpc__status__pack(&st, p);
    *out = grpc_slice_from_copied_buffer((const char *)p, n);
    return SEALDB_OK;
}

static void t_finish(sdb_call *c, int code, const char *msg, const uint8_t *resp, size_t resp_len) {
    gcall *g = c->tctx;
    grpc_op ops[4];
    size_t n = 0;
    if (!g->md_sent) fill_init_md(g, &ops[n++]);
    if (code == SDB_GRPC_OK && resp) {
        grpc_slice s;
        if (resp_len >= ZERO_COPY_MIN) {
            /* large answers (a VerifiableGet of a 1000-entry tx is ~75 KB) are sent from the call's
             * arena: the slice holds a call reference, released when gRPC is done with the bytes */
            atomic_fetch_add(&c->refs, 1);
            s = grpc_slice_new_with_user_data((void *)resp, resp_len, release_call_ref, c);
        } else {
            s = grpc_slice_from_copied_buffer((const char *)resp, resp_len);
        }
        g->send_buf = grpc_raw_byte_buffer_create(&s, 1);
        grpc_slice_unref(s);
        memset(&ops[n], 0, sizeof ops[n]);
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n].data.send_message.send_message = g->send_buf;
        n++;
    }
    memset(&ops[n], 0, sizeof ops[n]);
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = (grpc_status_code)code;
    g->status_msg = grpc_slice_from_copied_string(msg ? msg : "");
    g->has_status_msg = 1;
    ops[n].data.send_status_from_server.status_details = &g->status_msg;
    if (code != SDB_GRPC_OK && c->err_info_code &&
        status_details(c, code, msg ? msg : "", &g->trail_md[0].value) == SEALDB_OK) {
        g->trail_md[0].key = grpc_slice_from_static_string("grpc-status-details-bin");
        g->has_trail_md = 1;
        ops[n].data.send_status_from_server.trailing_metadata_count = 1;
        ops[n].data.send_status_from_server.trailing_metadata = g->trail_md;
    } else if (code == SDB_GRPC_OK && c->n_ok_trail) {
        for (size_t i = 0; i < c->n_ok_trail; i++) {
            g->trail_md[i].key = grpc_slice_from_copied_string(c->ok_trail_key[i]);
            g->trail_md[i].value = grpc_slice_from_copied_buffer((const char *)c->ok_trail_val[i].ptr, c->ok_trail_val[i].len);
            g->has_trail_md = (int)i + 1;
        }
        ops[n].data.send_status_from_server.trailing_metadata_count = c->n_ok_trail;
        ops[n].data.send_status_from_server.trailing_metadata = g->trail_md;
    }
    n++;
    memset(&ops[n], 0, sizeof ops[n]);
    ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[n].data.recv_close_on_server.cancelled = &g->cancelled;
    n++;
    g->t_final.fn = on_final;
    /* a peer that never reads its answer (flow control) does not hold the call for ever */
    deadline_set(g);
    if (grpc_call_start_batch(g->call, ops, n, &g->t_final, NULL) != GRPC_CALL_OK) {
        /* cannot happen with a well-formed batch; release anyway so nothing leaks */
        on_final(&g->t_final, 0);
    }
}

/* ---- blocking operations for streaming threads ---- */
static void on_sync(tag *t, int ok) {
    gcall *g = CONTAINER(t, t_sync);
    pthread_mutex_lock(&g->mu);
    g->sync_done = 1;
    g->sync_ok = ok;
    pthread_cond_signal(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

/* One blocking send or receive of a streaming call: a peer that neither sends nor reads (flow
 * control) gets its call cancelled by the reaper once the request timeout passed. */
static int sync_batch(gcall *g, grpc_op *ops, size_t n) {
    g->sync_done = 0;
    g->t_sync.fn = on_sync;
    deadline_set(g);
    if (grpc_call_start_batch(g->call, ops, n, &g->t_sync, NULL) != GRPC_CALL_OK) {
        deadline_clear(g);
        return SEALDB_NETWORK;
    }
    pthread_mutex_lock(&g->mu);
    while (!g->sync_done) pthread_cond_wait(&g->cv, &g->mu);
    int ok = g->sync_ok;
    pthread_mutex_unlock(&g->mu);
    deadline_clear(g);
    return ok ? SEALDB_OK : SEALDB_NETWORK;
}

static int t_send(sdb_call *c, const uint8_t *p, size_t n) {
    gcall *g = c->tctx;
    grpc_op ops[2];
    size_t k = 0;
    if (!g->md_sent) fill_init_md(g, &ops[k++]);
    grpc_slice s = grpc_slice_from_copied_buffer((const char *)p, n);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    memset(&ops[k], 0, sizeof ops[k]);
    ops[k].op = GRPC_OP_SEND_MESSAGE;
    ops[k].data.send_message.send_message = bb;
    k++;
    int rc = sync_batch(g, ops, k);
    grpc_byte_buffer_destroy(bb);
    return rc;
}

/* Copies the len bytes of a received byte buffer (decompressed, slice by slice) into p. */
static int copy_buffer(grpc_byte_buffer *bb, uint8_t *p, size_t len) {
    grpc_byte_buffer_reader rd;
    if (!grpc_byte_buffer_reader_init(&rd, bb)) return SEALDB_PROTOCOL;
    grpc_slice sl;
    size_t off = 0;
    while (grpc_byte_buffer_reader_next(&rd, &sl)) {
        size_t sn = GRPC_SLICE_LENGTH(sl);
        if (off + sn <= len) memcpy(p + off, GRPC_SLICE_START_PTR(sl), sn);
        off += sn;
        grpc_slice_unref(sl);
    }
    grpc_byte_buffer_reader_destroy(&rd);
    return off == len ? SEALDB_OK : SEALDB_PROTOCOL;
}

/* Copies a received byte buffer into the call's arena. */
static int take_buffer(sdb_call *c, grpc_byte_buffer *bb, sdb_slice *out) {
    size_t len = grpc_byte_buffer_length(bb);
    uint8_t *p = sdb_arena_alloc(&c->arena, len ? len : 1);
    if (!p) return SEALDB_NOMEM;
    int rc = copy_buffer(bb, p, len);
    if (!rc) *out = sdb_slice_of(p, len);
    return rc;
}

static int t_recv(sdb_call *c, sdb_slice *out, int *eof) {
    gcall *g = c->tctx;
    grpc_op ops[2];
    size_t k = 0;
    *eof = 0;
    if (g->has_first) {   /* received before the thread started */
        g->has_first = 0;
        *eof = g->first_eof;
        *out = g->first;
        return SEALDB_OK;
    }
    if (g->first_eof) { *eof = 1; return SEALDB_OK; }
    if (!g->md_sent) fill_init_md(g, &ops[k++]);
    memset(&ops[k], 0, sizeof ops[k]);
    ops[k].op = GRPC_OP_RECV_MESSAGE;
    ops[k].data.recv_message.recv_message = &g->recv_buf;
    k++;
    g->recv_buf = NULL;
    int rc = sync_batch(g, ops, k);
    if (rc) return rc;
    if (!g->recv_buf) { *eof = 1; return SEALDB_OK; }
    rc = take_buffer(c, g->recv_buf, out);
    grpc_byte_buffer_destroy(g->recv_buf);
    g->recv_buf = NULL;
    return rc;
}

/* ---- deferred work: an empty batch completes at once, on whichever worker drains the queue ---- */
static void on_defer(tag *t, int ok) {
    gcall *g = CONTAINER(t, t_defer);
    g->defer_fn(g->sc, g->defer_arg);
}

static int t_defer(sdb_call *c, void (*fn)(sdb_call *c, void *arg), void *arg) {
    gcall *g = c->tctx;
    g->defer_fn = fn;
    g->defer_arg = arg;
    g->t_defer.fn = on_defer;
    return grpc_call_start_batch(g->call, NULL, 0, &g->t_defer, NULL) == GRPC_CALL_OK ? 0 : -1;
}

/* ---- bidirectional streams: a receive and a send pending at once, completions reported to the
 * handler's event function. Deadlines: a pending send must complete within the request timeout (a
 * peer that stops reading), a receive alone within the idle timeout (a writer may pause). ---- */
static void bidi_deadline(gcall *g) {   /* g->mu held */
    sdb_transport *tr = g->tr;
    uint64_t dl = 0;
    if (g->b_send_busy) dl = g->b_send_since + tr->request_timeout_ms;
    else if (g->b_recv_busy) dl = g->b_recv_since + tr->idle_ms;
    atomic_store(&g->deadline_ms, dl);
}

/* Marks a receive or a send pending (since now) or not, and moves the deadline with it. */
static void bidi_busy(gcall *g, int kind, int busy) {
    pthread_mutex_lock(&g->mu);
    if (kind == SDB_BIDI_RECV) { g->b_recv_busy = busy; g->b_recv_since = sdb_now_ms(); }
    else { g->b_send_busy = busy; g->b_send_since = sdb_now_ms(); }
    bidi_deadline(g);
    pthread_mutex_unlock(&g->mu);
}

static void bidi_done(gcall *g, int kind, int ok) {
    bidi_busy(g, kind, 0);
    sdb_call *c = g->sc;
    c->bidi_ev(c->bidi_arg, kind, ok);
}

static void on_brecv(tag *t, int ok) { bidi_done(CONTAINER(t, t_brecv), SDB_BIDI_RECV, ok); }
static void on_bsend(tag *t, int ok) {
    gcall *g = CONTAINER(t, t_bsend);
    grpc_byte_buffer_destroy(g->bsend_buf);
    g->bsend_buf = NULL;
    bidi_done(g, SDB_BIDI_SEND, ok);
}

static int b_recv(sdb_call *c) {
    gcall *g = c->tctx;
    if (g->brecv_buf) { grpc_byte_buffer_destroy(g->brecv_buf); g->brecv_buf = NULL; }
    if (g->has_first || g->first_eof) {   /* received before the thread started: reported at once */
        g->b_first = 1;
        g->has_first = 0;
        c->bidi_ev(c->bidi_arg, SDB_BIDI_RECV, 1);
        return SEALDB_OK;
    }
    g->b_first = 0;
    bidi_busy(g, SDB_BIDI_RECV, 1);
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &g->brecv_buf;
    g->t_brecv.fn = on_brecv;
    if (grpc_call_start_batch(g->call, &op, 1, &g->t_brecv, NULL) != GRPC_CALL_OK) {
        bidi_busy(g, SDB_BIDI_RECV, 0);
        return SEALDB_NETWORK;
    }
    return SEALDB_OK;
}

static int b_take(sdb_call *c, sdb_slice *msg, int *eof) {
    gcall *g = c->tctx;
    *eof = 0;
    if (g->b_first) {
        g->b_first = 0;
        if (g->first_eof) { g->first_eof = 0; *eof = 1; }
        else *msg = g->first;
        return SEALDB_OK;
    }
    grpc_byte_buffer *bb = g->brecv_buf;
    if (!bb) { *eof = 1; return SEALDB_OK; }
    if (bb->type == GRPC_BB_RAW && bb->data.raw.compression == GRPC_COMPRESS_NONE &&
        bb->data.raw.slice_buffer.count == 1) {
        const grpc_slice *s = &bb->data.raw.slice_buffer.slices[0];   /* lives as long as bb */
        *msg = sdb_slice_of(GRPC_SLICE_START_PTR(*s), GRPC_SLICE_LENGTH(*s));
        return SEALDB_OK;
    }
    size_t len = grpc_byte_buffer_length(bb);
    if (len > g->b_copy_cap) {
        uint8_t *p = sdb_realloc(g->b_copy, len);
        if (!p) return SEALDB_NOMEM;
        g->b_copy = p;
        g->b_copy_cap = len;
    }
    int rc = copy_buffer(bb, g->b_copy, len);
    if (!rc) *msg = sdb_slice_of(g->b_copy, len);
    return rc;
}

static int b_send(sdb_call *c, const uint8_t *p, size_t n) {
    gcall *g = c->tctx;
    grpc_slice s = grpc_slice_from_copied_buffer((const char *)p, n);
    g->bsend_buf = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    bidi_busy(g, SDB_BIDI_SEND, 1);
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = g->bsend_buf;
    g->t_bsend.fn = on_bsend;
    if (grpc_call_start_batch(g->call, &op, 1, &g->t_bsend, NULL) != GRPC_CALL_OK) {
        grpc_byte_buffer_destroy(g->bsend_buf);
        g->bsend_buf = NULL;
        bidi_busy(g, SDB_BIDI_SEND, 0);
        return SEALDB_NETWORK;
    }
    return SEALDB_OK;
}

static void b_cancel(sdb_call *c, int code, const char *msg) {
    gcall *g = c->tctx;
    grpc_call_cancel_with_status(g->call, (grpc_status_code)code, msg, NULL);
}

static const sdb_call_ops unary_ops = { t_finish, NULL, NULL, t_defer, NULL, NULL, NULL, NULL };
static const sdb_call_ops stream_ops = { t_finish, t_send, t_recv, NULL, NULL, NULL, NULL, NULL };
static const sdb_call_ops bidi_ops = { t_finish, t_send, t_recv, NULL, b_recv, b_take, b_send, b_cancel };

/* ---- streaming calls: one thread each, started once the first request message is here ---- */
static void *stream_thread(void *arg) {
    sdb_thread_name("sdb-stream");
    gcall *g = arg;
    sdb_transport *tr = g->tr;
    sdb_call *c = g->sc;
    sdb_slice req = { NULL, 0 };
    if (c->method->stream == SDB_STREAM_SERVER) { req = g->first; g->has_first = 0; }
    sdb_dispatch(c, req);
    atomic_fetch_sub(&tr->stream_threads, 1);
    return NULL;
}

static void stream_start(gcall *g) {
    sdb_transport *tr = g->tr;
    sdb_call *c = g->sc;
    if (atomic_fetch_add(&tr->stream_threads, 1) >= tr->max_stream_threads) {
        atomic_fetch_sub(&tr->stream_threads, 1);
        sdb_call_error(c, SDB_GRPC_RESOURCE_EXHAUSTED, "too many concurrent streams");
        return;
    }
    pthread_t th;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&th, &at, stream_thread, g) != 0) {
        atomic_fetch_sub(&tr->stream_threads, 1);
        sdb_call_error(c, SDB_GRPC_RESOURCE_EXHAUSTED, "cannot start stream");
    }
    pthread_attr_destroy(&at);
}

/* ---- unary calls: receive the request, then dispatch on this worker ---- */

/* The request bytes of a unary call, contiguous: the received slice itself when there is one (small
 * requests), else a heap copy in *tmp. protobuf-c copies every field it unpacks, and a raw handler
 * (Set) copies what it keeps into its batch, so the bytes are dead once sdb_dispatch returns: keeping them in the call's arena cost a SetAll of 1000 KVs 100 KB
 * more for as long as its commit waits (64 such calls in flight: 6 MB). */
static int request_bytes(grpc_byte_buffer *bb, uint8_t **tmp, sdb_slice *out) {
    *tmp = NULL;
    if (bb->type == GRPC_BB_RAW && bb->data.raw.compression == GRPC_COMPRESS_NONE &&
        bb->data.raw.slice_buffer.count == 1) {
        /* a pointer, not a copy: a small (inlined) slice holds its bytes inside the grpc_slice
         * struct itself, so a copy's bytes die with this frame */
        const grpc_slice *s = &bb->data.raw.slice_buffer.slices[0];
        *out = sdb_slice_of(GRPC_SLICE_START_PTR(*s), GRPC_SLICE_LENGTH(*s));
        return SEALDB_OK;
    }
    size_t len = grpc_byte_buffer_length(bb);
    uint8_t *p = sdb_malloc(len ? len : 1);
    if (!p) return SEALDB_NOMEM;
    int rc = copy_buffer(bb, p, len);
    if (rc) { sdb_free(p); return rc; }
    *tmp = p;
    *out = sdb_slice_of(p, len);
    return SEALDB_OK;
}

static void on_recv(tag *t, int ok) {
    gcall *g = CONTAINER(t, t_recv);
    sdb_call *c = g->sc;
    deadline_clear(g);
    if (c->ops != &unary_ops) {
        /* a client or bidirectional stream may end without any message; every other call needs one */
        if (ok && !g->recv_buf && c->method->stream != SDB_STREAM_SERVER) {
            g->first_eof = 1;
            stream_start(g);
            return;
        }
        if (!ok || !g->recv_buf || take_buffer(c, g->recv_buf, &g->first)) {
            sdb_call_error(c, SDB_GRPC_INVALID_ARGUMENT, "missing request message");
            return;
        }
        grpc_byte_buffer_destroy(g->recv_buf);
        g->recv_buf = NULL;
        g->has_first = 1;
        stream_start(g);
        return;
    }
    if (!ok || !g->recv_buf) {
        sdb_call_error(c, SDB_GRPC_INVALID_ARGUMENT, "missing request message");
        return;
    }
    grpc_byte_buffer *bb = g->recv_buf;
    g->recv_buf = NULL;
    uint8_t *tmp = NULL;
    sdb_slice req;
    if (request_bytes(bb, &tmp, &req)) {
        grpc_byte_buffer_destroy(bb);
        sdb_call_error(c, SDB_GRPC_INVALID_ARGUMENT, "malformed request message");
        return;
    }
    sdb_dispatch(c, req);
    sdb_free(tmp);
    grpc_byte_buffer_destroy(bb);
}

/* The client address of a call, as gRPC's listener spells it ("ipv4:127.0.0.1:5555"): connections
 * accepted here reach gRPC as "fd:N", whose socket is still open while the call lives. */
static const char *peer_address(const char *peer, char *out, size_t outlen) {
    if (!peer || strncmp(peer, "fd:", 3) != 0) return peer;
    int fd = atoi(peer + 3);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char ip[INET6_ADDRSTRLEN];
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) != 0) return peer;
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        if (!inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip)) return peer;
        snprintf(out, outlen, "ipv4:%s:%u", ip, (unsigned)ntohs(a->sin_port));
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        if (!inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip)) return peer;
        snprintf(out, outlen, "ipv6:[%s]:%u", ip, (unsigned)ntohs(a->sin6_port));
    } else {
        return peer;
    }
    return out;
}

static void on_new(tag *t, int ok) {
    gcall *g = CONTAINER(t, t_new);
    sdb_transport *tr = g->tr;
    if (!ok) {   /* server shutting down */
        gcall_free(g);
        return;
    }
    if (!atomic_load(&tr->shutting_down)) post_request(tr);
    sdb_server *s = tr->srv;
    const char *path = (const char *)GRPC_SLICE_START_PTR(g->details.method);
    size_t path_len = GRPC_SLICE_LENGTH(g->details.method);
    sdb_call *c = sdb_call_new(s, path, path_len, &unary_ops, g);
    if (!c) {
        grpc_call_cancel_with_status(g->call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory", NULL);
        gcall_free(g);
        return;
    }
    g->sc = c;
    for (size_t i = 0; i < g->md.count; i++) {
        grpc_metadata *m = &g->md.metadata[i];
        sdb_call_add_metadata(c, (const char *)GRPC_SLICE_START_PTR(m->key), GRPC_SLICE_LENGTH(m->key),
                              (const char *)GRPC_SLICE_START_PTR(m->value), GRPC_SLICE_LENGTH(m->value));
    }
    char *peer = grpc_call_get_peer(g->call);
    char addr[INET6_ADDRSTRLEN + 16];
    sdb_call_set_peer(c, peer_address(peer, addr, sizeof addr));
    pthread_mutex_lock(&tr->mu);
    int admitted = call_register(tr, g, peer);
    pthread_mutex_unlock(&tr->mu);
    gpr_free(peer);
    if (!admitted) {
        sdb_call_error(c, SDB_GRPC_RESOURCE_EXHAUSTED, "too many calls in progress");
        return;
    }
    c->method = sdb_dispatch_lookup(s, c->path, NULL);
    /* every call, streaming ones too, first receives its request message here, without a thread
     * of its own and under the request deadline: a peer that opens streams and sends nothing
     * holds no thread, and is cancelled once the deadline passed */
    if (c->method && c->method->stream != SDB_STREAM_NONE)
        c->ops = c->method->stream == SDB_STREAM_BIDI ? &bidi_ops : &stream_ops;
    grpc_op ops[2];
    fill_init_md(g, &ops[0]);
    memset(&ops[1], 0, sizeof ops[1]);
    ops[1].op = GRPC_OP_RECV_MESSAGE;
    ops[1].data.recv_message.recv_message = &g->recv_buf;
    g->t_recv.fn = on_recv;
    deadline_set(g);
    if (grpc_call_start_batch(g->call, ops, 2, &g->t_recv, NULL) != GRPC_CALL_OK) {
        deadline_clear(g);
        sdb_call_error(c, SDB_GRPC_INTERNAL, "cannot start call");
    }
}

static void post_request(sdb_transport *tr) {
    gcall *g = sdb_calloc(1, sizeof *g);
    if (!g) return;
    g->tr = tr;
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    grpc_call_details_init(&g->details);
    grpc_metadata_array_init(&g->md);
    g->t_new.fn = on_new;
    if (grpc_server_request_call(tr->server, &g->call, &g->details, &g->md, tr->cq, tr->cq, &g->t_new)
        != GRPC_CALL_OK) {
        g->call = NULL;
        gcall_free(g);
    }
}

static void on_shutdown(tag *t, int ok) {
    sdb_transport *tr = (sdb_transport *)((char *)t - offsetof(sdb_transport, shutdown_tag));
    pthread_mutex_lock(&tr->mu);
    tr->shutdown_done = 1;
    pthread_cond_broadcast(&tr->cv);
    pthread_mutex_unlock(&tr->mu);
}

static void *worker(void *arg) {
    sdb_thread_name("sdb-grpc");
    sdb_transport *tr = arg;
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(tr->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN) break;
        if (ev.type != GRPC_OP_COMPLETE) continue;
        tag *t = ev.tag;
        t->fn(t, ev.success);
    }
    return NULL;
}

/* ---- the reaper: cancels calls whose request message (or a stream's next send or receive) did
 * not complete before its deadline; gRPC then completes the pending batch and the call ends ---- */
static void *reaper(void *arg) {
    sdb_thread_name("sdb-reaper");
    sdb_transport *tr = arg;
    grpc_call *late[64];
    while (!atomic_load(&tr->reaper_stop)) {
        struct timespec ts = { 0, REAP_INTERVAL_MS * 1000 * 1000 };
        nanosleep(&ts, NULL);
        uint64_t now = sdb_now_ms();
        int n;
        do {
            n = 0;
            pthread_mutex_lock(&tr->mu);
            for (gcall *g = tr->calls; g && n < 64; g = g->next) {
                uint64_t dl = atomic_load(&g->deadline_ms);
                if (dl && dl < now && !g->reaped) {
                    g->reaped = 1;
                    grpc_call_ref(g->call);
                    late[n++] = g->call;
                }
            }
            pthread_mutex_unlock(&tr->mu);
            for (int i = 0; i < n; i++) {
                grpc_call_cancel_with_status(late[i], GRPC_STATUS_DEADLINE_EXCEEDED,
                                             "request message not received in time", NULL);
                grpc_call_unref(late[i]);
            }
        } while (n == 64);
    }
    return NULL;
}

/* ---- the plain listener: connections are accepted here, not by gRPC, whose listener stops for
 * good at its first failed accept (EMFILE). A connection is refused (closed at once) beyond
 * --max-connections or when its fd would eat into the reserve below the fd limit; a connection is
 * handed to gRPC only once its 24-byte HTTP/2 preface arrived (peeked, not read), within the
 * handshake timeout. ---- */
static void conns_prune(sdb_transport *tr) {
    int k = 0;
    for (int i = 0; i < tr->n_conns; i++) {
        struct stat st;
        /* gRPC closed it (the fd is gone or now names another file) */
        if (fstat(tr->conns[i].fd, &st) != 0 || st.st_ino != tr->conns[i].ino || st.st_dev != tr->conns[i].dev)
            continue;
        tr->conns[k++] = tr->conns[i];
    }
    tr->n_conns = k;
}

static void refuse_log(sdb_transport *tr, const char *why) {
    uint64_t n = atomic_fetch_add(&tr->n_refused_conns, 1) + 1;
    uint64_t now = sdb_now_ms();
    if (now - tr->last_refusal_log_ms >= 10000) {
        tr->last_refusal_log_ms = now;
        sdb_log("warning: refusing connections: %s (%llu refused so far)", why, (unsigned long long)n);
    }
}

static void accept_one(sdb_transport *tr) {
    int fd = accept4(tr->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE) {
            /* out of fds anyway: take the connection with the spare fd and close it, so the
             * client is told at once and the backlog does not fill */
            if (tr->spare_fd >= 0) { close(tr->spare_fd); tr->spare_fd = -1; }
            int t = accept4(tr->listen_fd, NULL, NULL, SOCK_CLOEXEC);
            if (t >= 0) close(t);
            tr->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
            refuse_log(tr, "out of file descriptors");
        }
        return;
    }
    if (fd >= tr->fd_limit - FD_RESERVE) { close(fd); refuse_log(tr, "file descriptor reserve reached"); return; }
    if (tr->n_conns + tr->n_pend >= tr->max_connections) conns_prune(tr);
    if (tr->n_conns + tr->n_pend >= tr->max_connections) { close(fd); refuse_log(tr, "--max-connections reached"); return; }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    tr->pend[tr->n_pend].fd = fd;
    tr->pend[tr->n_pend].deadline_ms = sdb_now_ms() + tr->handshake_timeout_ms;
    tr->pend[tr->n_pend].seen = 0;
    tr->n_pend++;
}

/* Checks a waiting connection: 1 handed to gRPC or closed, 0 still waiting. */
static int pending_check(sdb_transport *tr, pending_conn *p, uint64_t now) {
    char buf[H2_PREFACE_LEN];
    ssize_t n = recv(p->fd, buf, sizeof buf, MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) n = p->seen;
    else if (n <= 0 || memcmp(buf, h2_preface, (size_t)n) != 0) { close(p->fd); return 1; }  /* closed, or not h2c */
    if (n == H2_PREFACE_LEN) {
        struct stat st;
        if (fstat(p->fd, &st) != 0 || tr->n_conns >= tr->max_connections) { close(p->fd); return 1; }
        tr->conns[tr->n_conns].fd = p->fd;
        tr->conns[tr->n_conns].dev = st.st_dev;
        tr->conns[tr->n_conns].ino = st.st_ino;
        tr->n_conns++;
        grpc_server_add_channel_from_fd(tr->server, p->fd, tr->fd_creds);
        return 1;
    }
    p->seen = (int)n;
    if (now >= p->deadline_ms) { close(p->fd); return 1; }   /* slow or partial preface */
    return 0;
}

static void *acceptor(void *arg) {
    sdb_thread_name("sdb-acceptor");
    sdb_transport *tr = arg;
    struct pollfd *pfd = sdb_calloc((size_t)tr->max_connections + 2, sizeof *pfd);
    if (!pfd) { sdb_log("error: acceptor: out of memory"); return NULL; }
    uint64_t last_prune = 0;
    for (;;) {
        uint64_t now = sdb_now_ms();
        if (now - last_prune >= 1000) { conns_prune(tr); last_prune = now; }
        int n = 0, timeout = 1000, partial = 0;
        pfd[n].fd = tr->wake_fd[0]; pfd[n].events = POLLIN; n++;
        pfd[n].fd = tr->listen_fd; pfd[n].events = POLLIN; n++;
        for (int i = 0; i < tr->n_pend; i++) {
            /* a partial preface stays readable: look again on a short timer instead of spinning */
            pfd[n].fd = tr->pend[i].seen ? -1 : tr->pend[i].fd;
            pfd[n].events = POLLIN;
            n++;
            if (tr->pend[i].seen) partial = 1;
            uint64_t left = tr->pend[i].deadline_ms > now ? tr->pend[i].deadline_ms - now : 0;
            if ((uint64_t)timeout > left) timeout = (int)left;
        }
        if (partial && timeout > 20) timeout = 20;
        if (poll(pfd, (nfds_t)n, timeout) < 0 && errno != EINTR) {
            struct timespec ts = { 0, 10 * 1000 * 1000 };
            nanosleep(&ts, NULL);
        }
        if (pfd[0].revents) break;   /* stopping */
        now = sdb_now_ms();
        int k = 0;
        for (int i = 0; i < tr->n_pend; i++) {
            if (!pending_check(tr, &tr->pend[i], now)) tr->pend[k++] = tr->pend[i];
        }
        tr->n_pend = k;
        if (pfd[1].revents & POLLIN)
            for (int i = 0; i < 64 && tr->n_pend < tr->max_connections; i++) {
                uint64_t before = atomic_load(&tr->n_refused_conns);
                int np = tr->n_pend;
                accept_one(tr);
                if (tr->n_pend == np && atomic_load(&tr->n_refused_conns) == before) break;   /* EAGAIN */
            }
    }
    for (int i = 0; i < tr->n_pend; i++) close(tr->pend[i].fd);
    tr->n_pend = 0;
    sdb_free(pfd);
    return NULL;
}

/* Opens the plain listening socket on address:port; returns the bound port or -1. */
static int listen_open(sdb_transport *tr, const char *address, int port) {
    struct addrinfo *ai = NULL;
    if (sdb_resolve_listen(address, port, &ai)) return -1;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1, bound = -1;
    if (fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0 &&
        bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1024) == 0) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
            bound = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                   : ((struct sockaddr_in *)&ss)->sin_port);
    }
    freeaddrinfo(ai);
    if (bound < 0) { if (fd >= 0) close(fd); return -1; }
    tr->listen_fd = fd;
    return bound;
}

/* The soft fd limit is raised to the hard one: every connection costs one. */
static int fd_limit_raise(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur > (1u << 30) ? 1 << 30 : (int)rl.rlim_cur;
}

static char *read_text_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    sdb_buf b;
    sdb_buf_init(&b);
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        if (sdb_buf_append(&b, tmp, n)) break;
    fclose(f);
    if (sdb_buf_append_u8(&b, 0)) { sdb_buf_deinit(&b); return NULL; }
    return (char *)b.ptr;
}

static void transport_free_listener(sdb_transport *tr) {
    if (tr->listen_fd >= 0) close(tr->listen_fd);
    if (tr->spare_fd >= 0) close(tr->spare_fd);
    if (tr->wake_fd[0] >= 0) { close(tr->wake_fd[0]); close(tr->wake_fd[1]); }
    tr->listen_fd = tr->spare_fd = tr->wake_fd[0] = tr->wake_fd[1] = -1;
    if (tr->fd_creds) grpc_server_credentials_release(tr->fd_creds);
    tr->fd_creds = NULL;
    sdb_free(tr->conns);
    sdb_free(tr->pend);
    tr->conns = NULL;
    tr->pend = NULL;
}

int sdb_transport_start(sdb_server *s, char *err, size_t errlen) {
    grpc_init();
    sdb_transport *tr = sdb_calloc(1, sizeof *tr);
    if (!tr) return SEALDB_NOMEM;
    tr->srv = s;
    tr->listen_fd = tr->spare_fd = tr->wake_fd[0] = tr->wake_fd[1] = -1;
    pthread_mutex_init(&tr->mu, NULL);
    pthread_cond_init(&tr->cv, NULL);
    const sdb_server_config *cfg = &s->cfg;
    tr->fd_limit = fd_limit_raise();
    tr->max_connections = cfg->max_connections > 0 ? cfg->max_connections : DEF_MAX_CONNECTIONS;
    if (tr->max_connections > tr->fd_limit - 2 * FD_RESERVE)
        tr->max_connections = tr->fd_limit > 3 * FD_RESERVE ? tr->fd_limit - 2 * FD_RESERVE : FD_RESERVE;
    tr->max_conn_streams = cfg->max_conn_streams > 0 ? cfg->max_conn_streams : DEF_MAX_CONN_STREAMS;
    tr->max_calls = cfg->max_calls > 0 ? cfg->max_calls : DEF_MAX_CALLS;
    tr->max_stream_threads = cfg->max_stream_threads > 0 ? cfg->max_stream_threads : DEF_MAX_STREAM_THREADS;
    tr->request_timeout_ms = cfg->request_timeout_ms ? cfg->request_timeout_ms : DEF_REQUEST_TIMEOUT_MS;
    tr->handshake_timeout_ms = cfg->handshake_timeout_ms ? cfg->handshake_timeout_ms : DEF_HANDSHAKE_TIMEOUT_MS;
    uint64_t idle_ms = cfg->conn_idle_ms ? cfg->conn_idle_ms : DEF_CONN_IDLE_MS;
    tr->idle_ms = idle_ms;
    grpc_arg args[10];
    memset(args, 0, sizeof args);
    args[0].type = GRPC_ARG_INTEGER;
    args[0].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[0].value.integer = s->cfg.max_recv_msg_size > 0x7fffffff ? 0x7fffffff : (int)s->cfg.max_recv_msg_size;
    args[1].type = GRPC_ARG_INTEGER;
    args[1].key = (char *)GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
    args[1].value.integer = -1;
    args[2].type = GRPC_ARG_INTEGER;
    args[2].key = (char *)GRPC_ARG_ALLOW_REUSEPORT;
    args[2].value.integer = 0;
    static const struct { const char *key; int which; } lim[] = {
        { GRPC_ARG_MAX_CONCURRENT_STREAMS, 0 }, { GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS, 1 },
        { GRPC_ARG_MAX_CONNECTION_IDLE_MS, 2 }, { GRPC_ARG_KEEPALIVE_TIME_MS, 3 },
        { GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 4 },
    };
    /* keepalive pings: a peer that stops answering (a half-open or stalled connection) is closed */
    int limv[5] = { tr->max_conn_streams, (int)(tr->handshake_timeout_ms > 0x7fffffff ? 0x7fffffff : tr->handshake_timeout_ms),
                    (int)(idle_ms > 0x7fffffff ? 0x7fffffff : idle_ms), 60000, 20000 };
    size_t na = 3;
    for (size_t i = 0; i < sizeof lim / sizeof lim[0]; i++, na++) {
        args[na].type = GRPC_ARG_INTEGER;
        args[na].key = (char *)lim[i].key;
        args[na].value.integer = limv[lim[i].which];
    }
    grpc_channel_args ca = { na, args };
    tr->server = grpc_server_create(&ca, NULL);
    tr->cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(tr->server, tr->cq, NULL);

    grpc_server_credentials *creds = NULL;
    char *cert = NULL, *key = NULL, *cas = NULL;
    if (s->cfg.certificate || s->cfg.pkey || s->cfg.mtls) {
        if (!s->cfg.certificate || !s->cfg.pkey) {
            snprintf(err, errlen, "TLS needs both --certificate and --pkey");
            goto fail;
        }
        cert = read_text_file(s->cfg.certificate);
        key = read_text_file(s->cfg.pkey);
        if (!cert || !key) { snprintf(err, errlen, "cannot read certificate or private key"); goto fail; }
        if (s->cfg.mtls && s->cfg.clientcas) {
            cas = read_text_file(s->cfg.clientcas);
            if (!cas) { snprintf(err, errlen, "cannot read --clientcas %s", s->cfg.clientcas); goto fail; }
        }
        grpc_ssl_pem_key_cert_pair pair = { key, cert };
        creds = grpc_ssl_server_credentials_create_ex(
            cas, &pair, 1,
            (s->cfg.mtls && cas) ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                 : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE, NULL);
    }
    char addr[300];
    snprintf(addr, sizeof addr, "%s:%d", s->cfg.address, s->cfg.port);
    if (!creds) {
        /* plain: the listener is ours (see acceptor) */
        tr->fd_creds = grpc_insecure_server_credentials_create();
        tr->conns = sdb_calloc((size_t)tr->max_connections, sizeof *tr->conns);
        tr->pend = sdb_calloc((size_t)tr->max_connections, sizeof *tr->pend);
        if (!tr->fd_creds || !tr->conns || !tr->pend || pipe2(tr->wake_fd, O_CLOEXEC) != 0) {
            snprintf(err, errlen, "cannot set up the listener");
            goto fail;
        }
        tr->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        tr->port = listen_open(tr, s->cfg.address, s->cfg.port);
        if (tr->port <= 0) { snprintf(err, errlen, "cannot listen on %s", addr); goto fail; }
    } else {
        tr->port = grpc_server_add_http2_port(tr->server, addr, creds);
        grpc_server_credentials_release(creds);
        if (tr->port <= 0) { snprintf(err, errlen, "cannot listen on %s", addr); goto fail; }
    }
    sdb_free(cert); sdb_free(key); sdb_free(cas);
    cert = key = cas = NULL;
    if (sdb_login_pool_start(s) != SEALDB_OK) { snprintf(err, errlen, "cannot start the login pool"); goto fail; }
    grpc_server_start(tr->server);
    s->transport = tr;
    if (pthread_create(&tr->reaper, NULL, reaper, tr) == 0) tr->reaper_started = 1;
    if (tr->listen_fd >= 0 && pthread_create(&tr->acceptor, NULL, acceptor, tr) == 0) tr->acceptor_started = 1;
    sdb_log("limits: %d connections (fd limit %d), %d calls per connection, %d calls, %d stream threads, "
            "request timeout %llu ms, handshake timeout %llu ms, idle connections closed after %llu ms",
            tr->listen_fd >= 0 ? tr->max_connections : -1, tr->fd_limit, tr->max_conn_streams, tr->max_calls,
            tr->max_stream_threads, (unsigned long long)tr->request_timeout_ms,
            (unsigned long long)tr->handshake_timeout_ms, (unsigned long long)idle_ms);
    for (int i = 0; i < OUTSTANDING_REQUESTS; i++) post_request(tr);
    /* one completion-queue worker per core: unary handlers do not block on commits (write answers
     * come from the commit callback), and on 2 cores 4 workers cost ~12 us more server CPU per Get
     * (context switches) than 2 */
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    tr->n_workers = s->cfg.workers > 0 ? s->cfg.workers : ncpu < 2 ? 2 : ncpu > 16 ? 16 : (int)ncpu;
    tr->workers = sdb_calloc((size_t)tr->n_workers, sizeof *tr->workers);
    for (int i = 0; tr->workers && i < tr->n_workers; i++) pthread_create(&tr->workers[i], NULL, worker, tr);
    return SEALDB_OK;
fail:
    sdb_free(cert); sdb_free(key); sdb_free(cas);
    transport_free_listener(tr);
    grpc_server_shutdown_and_notify(tr->server, tr->cq, NULL);
    grpc_server_cancel_all_calls(tr->server);
    grpc_server_destroy(tr->server);
    grpc_completion_queue_shutdown(tr->cq);
    while (grpc_completion_queue_next(tr->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type != GRPC_QUEUE_SHUTDOWN) {}
    grpc_completion_queue_destroy(tr->cq);
    sdb_free(tr);
    grpc_shutdown();
    return SEALDB_IO;
}

int sdb_transport_bound_port(sdb_server *s) { return s->transport ? s->transport->port : 0; }

void sdb_transport_stop(sdb_server *s) {
    sdb_transport *tr = s->transport;
    if (!tr) return;
    atomic_store(&tr->shutting_down, 1);
    if (tr->acceptor_started) {
        (void)!write(tr->wake_fd[1], "x", 1);
        pthread_join(tr->acceptor, NULL);
    }
    if (tr->listen_fd >= 0) { close(tr->listen_fd); tr->listen_fd = -1; }
    tr->shutdown_tag.fn = on_shutdown;
    /* stop accepting; calls in flight (including pending commits) finish normally */
    grpc_server_shutdown_and_notify(tr->server, tr->cq, &tr->shutdown_tag);
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 10;
    pthread_mutex_lock(&tr->mu);
    while (!tr->shutdown_done) {
        if (pthread_cond_timedwait(&tr->cv, &tr->mu, &dl) != 0) break;
    }
    int done = tr->shutdown_done;
    pthread_mutex_unlock(&tr->mu);
    if (!done) {
        grpc_server_cancel_all_calls(tr->server);
        pthread_mutex_lock(&tr->mu);
        while (!tr->shutdown_done) pthread_cond_wait(&tr->cv, &tr->mu);
        pthread_mutex_unlock(&tr->mu);
    }
    /* streaming threads end once their calls are done */
    for (int i = 0; i < 500 && atomic_load(&tr->stream_threads) > 0; i++) {
        struct timespec ts = { 0, 10 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    sdb_login_pool_stop(s);   /* its last answers still need the workers */
    grpc_completion_queue_shutdown(tr->cq);
    for (int i = 0; tr->workers && i < tr->n_workers; i++) pthread_join(tr->workers[i], NULL);
    if (tr->reaper_started) {
        atomic_store(&tr->reaper_stop, 1);
        pthread_join(tr->reaper, NULL);
    }
    grpc_server_destroy(tr->server);
    grpc_completion_queue_destroy(tr->cq);
    transport_free_listener(tr);
    for (peer_count *pc = tr->free_peers, *nx; pc; pc = nx) { nx = pc->next; sdb_free(pc); }
    for (size_t i = 0; i < PEER_BUCKETS; i++)
        for (peer_count *pc = tr->peers[i], *nx; pc; pc = nx) { nx = pc->next; sdb_free(pc); }
    sdb_free(tr->workers);
    pthread_mutex_destroy(&tr->mu);
    pthread_cond_destroy(&tr->cv);
    sdb_free(tr);
    s->transport = NULL;
    grpc_shutdown();
}
