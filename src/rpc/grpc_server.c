/* grpc_server.c - the server's only use of the gRPC C core: listening (plain, TLS, mTLS), one
 * completion queue drained by a few worker threads, generic (unregistered) call acceptance,
 * unary calls answered asynchronously, streaming calls run on their own thread with blocking
 * send/receive, and the immudb-uuid header on every response. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include "rpc/server.h"
#include "sealdb.h"
#include "rpc_status.pb-c.h"
#include "util/file.h"

#define OUTSTANDING_REQUESTS 32
#define MAX_STREAM_THREADS 256
#define ZERO_COPY_MIN 4096   /* answers this large are not copied into gRPC's own buffer */

typedef struct tag tag;
struct tag { void (*fn)(tag *t, int ok); };

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
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int shutdown_done;
};

typedef struct gcall {
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
    grpc_metadata trail_md[1];   /* grpc-status-details-bin of a coded error */
    int has_trail_md;
    sdb_call *sc;
    /* blocking operations of streaming calls */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int sync_done, sync_ok;
} gcall;

#define CONTAINER(ptr, field) ((gcall *)((char *)(ptr) - offsetof(gcall, field)))

static void post_request(sdb_transport *tr);

static void gcall_free(gcall *g) {
    if (g->call) grpc_call_unref(g->call);
    grpc_call_details_destroy(&g->details);
    grpc_metadata_array_destroy(&g->md);
    if (g->recv_buf) grpc_byte_buffer_destroy(g->recv_buf);
    if (g->send_buf) grpc_byte_buffer_destroy(g->send_buf);
    if (g->has_status_msg) grpc_slice_unref(g->status_msg);
    if (g->has_trail_md) grpc_slice_unref(g->trail_md[0].value);
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

/* The status details of an immudb coded error, as immudb sends them (spec/api.md 0.1): the trailer
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
    }
    n++;
    memset(&ops[n], 0, sizeof ops[n]);
    ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[n].data.recv_close_on_server.cancelled = &g->cancelled;
    n++;
    g->t_final.fn = on_final;
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

static int sync_batch(gcall *g, grpc_op *ops, size_t n) {
    g->sync_done = 0;
    g->t_sync.fn = on_sync;
    if (grpc_call_start_batch(g->call, ops, n, &g->t_sync, NULL) != GRPC_CALL_OK) return SEALDB_NETWORK;
    pthread_mutex_lock(&g->mu);
    while (!g->sync_done) pthread_cond_wait(&g->cv, &g->mu);
    int ok = g->sync_ok;
    pthread_mutex_unlock(&g->mu);
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

static const sdb_call_ops unary_ops = { t_finish, NULL, NULL, t_defer };
static const sdb_call_ops stream_ops = { t_finish, t_send, t_recv, NULL };

/* ---- streaming calls: one thread each ---- */
static void *stream_thread(void *arg) {
    gcall *g = arg;
    sdb_transport *tr = g->tr;
    sdb_call *c = g->sc;
    sdb_slice req = { NULL, 0 };
    int client_stream = c->method && c->method->stream == SDB_STREAM_CLIENT;
    if (!client_stream) {
        int eof = 0;
        int rc = t_recv(c, &req, &eof);
        if (rc || eof) {
            sdb_call_error(c, SDB_GRPC_INVALID_ARGUMENT, "missing request message");
            atomic_fetch_sub(&tr->stream_threads, 1);
            return NULL;
        }
    }
    sdb_dispatch(c, req);
    atomic_fetch_sub(&tr->stream_threads, 1);
    return NULL;
}

/* ---- unary calls: receive the request, then dispatch on this worker ---- */

/* The request bytes of a unary call, contiguous: the received slice itself when there is one (small
 * requests), else a heap copy in *tmp. protobuf-c copies every field it unpacks, so the bytes are
 * dead once sdb_dispatch returns: keeping them in the call's arena cost a SetAll of 1000 KVs 100 KB
 * more for as long as its commit waits (64 such calls in flight: 6 MB). */
static int request_bytes(grpc_byte_buffer *bb, uint8_t **tmp, sdb_slice *out) {
    *tmp = NULL;
    if (bb->type == GRPC_BB_RAW && bb->data.raw.compression == GRPC_COMPRESS_NONE &&
        bb->data.raw.slice_buffer.count == 1) {
        grpc_slice s = bb->data.raw.slice_buffer.slices[0];
        *out = sdb_slice_of(GRPC_SLICE_START_PTR(s), GRPC_SLICE_LENGTH(s));
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
    sdb_call_set_peer(c, peer);
    gpr_free(peer);
    c->method = sdb_dispatch_lookup(s, c->path, NULL);
    if (c->method && c->method->stream != SDB_STREAM_NONE) {
        c->ops = &stream_ops;
        if (atomic_fetch_add(&tr->stream_threads, 1) >= MAX_STREAM_THREADS) {
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
        return;
    }
    grpc_op ops[2];
    fill_init_md(g, &ops[0]);
    memset(&ops[1], 0, sizeof ops[1]);
    ops[1].op = GRPC_OP_RECV_MESSAGE;
    ops[1].data.recv_message.recv_message = &g->recv_buf;
    g->t_recv.fn = on_recv;
    if (grpc_call_start_batch(g->call, ops, 2, &g->t_recv, NULL) != GRPC_CALL_OK)
        sdb_call_error(c, SDB_GRPC_INTERNAL, "cannot start call");
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

int sdb_transport_start(sdb_server *s, char *err, size_t errlen) {
    grpc_init();
    sdb_transport *tr = sdb_calloc(1, sizeof *tr);
    if (!tr) return SEALDB_NOMEM;
    tr->srv = s;
    pthread_mutex_init(&tr->mu, NULL);
    pthread_cond_init(&tr->cv, NULL);
    grpc_arg args[3];
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
    grpc_channel_args ca = { 3, args };
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
    } else {
        creds = grpc_insecure_server_credentials_create();
    }
    if (!creds) { snprintf(err, errlen, "cannot create server credentials"); goto fail; }
    char addr[300];
    snprintf(addr, sizeof addr, "%s:%d", s->cfg.address, s->cfg.port);
    tr->port = grpc_server_add_http2_port(tr->server, addr, creds);
    grpc_server_credentials_release(creds);
    if (tr->port <= 0) { snprintf(err, errlen, "cannot listen on %s", addr); goto fail; }
    sdb_free(cert); sdb_free(key); sdb_free(cas);
    cert = key = cas = NULL;
    grpc_server_start(tr->server);
    s->transport = tr;
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
    grpc_completion_queue_shutdown(tr->cq);
    for (int i = 0; tr->workers && i < tr->n_workers; i++) pthread_join(tr->workers[i], NULL);
    grpc_server_destroy(tr->server);
    grpc_completion_queue_destroy(tr->cq);
    sdb_free(tr->workers);
    pthread_mutex_destroy(&tr->mu);
    pthread_cond_destroy(&tr->cv);
    sdb_free(tr);
    s->transport = NULL;
    grpc_shutdown();
}
