/* grpc_client.c - the client side's only use of the gRPC C core: channel creation (plain, TLS,
 * mTLS) and blocking unary / server-streaming / client-streaming calls driven by
 * grpc_call_start_batch + grpc_completion_queue_pluck on a per-call queue, and unary calls started
 * now and waited for later (pipelining), and caller-driven bidirectional streams. Messages are opaque
 * bytes here; the immudb-uuid response header is captured for the trusted-state key. */
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>
#include <grpc/support/alloc.h>
#include "client/rpc.h"

struct sdb_rpc_conn {
    grpc_channel *ch;
};

void sdb_rpc_status_init(sdb_rpc_status *st) {
    st->grpc_code = 0;
    sdb_buf_init(&st->msg);
    st->server_uuid[0] = 0;
}

void sdb_rpc_status_deinit(sdb_rpc_status *st) { sdb_buf_deinit(&st->msg); }

static char *pem_dup(sdb_slice s) {
    if (!s.len) return NULL;
    char *p = sdb_malloc(s.len + 1);
    if (!p) return NULL;
    memcpy(p, s.ptr, s.len);
    p[s.len] = 0;
    return p;
}

int sdb_rpc_connect(const sdb_rpc_opts *o, sdb_rpc_conn **out) {
    grpc_init();   /* reference counted: paired with grpc_shutdown in sdb_rpc_close */
    int rc = SEALDB_NOMEM;
    char *ca = NULL, *cert = NULL, *key = NULL;
    grpc_channel_credentials *creds = NULL;
    sdb_rpc_conn *c = sdb_calloc(1, sizeof *c);
    if (!c) goto fail;

    grpc_arg args[3];
    size_t nargs = 0;
    args[nargs].type = GRPC_ARG_INTEGER;
    args[nargs].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[nargs].value.integer = o->max_recv_msg_size > INT32_MAX ? INT32_MAX : (int)o->max_recv_msg_size;
    nargs++;
    args[nargs].type = GRPC_ARG_INTEGER;
    args[nargs].key = (char *)GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
    args[nargs].value.integer = -1;
    nargs++;
    if (o->tls && o->server_name && *o->server_name) {
        args[nargs].type = GRPC_ARG_STRING;
        args[nargs].key = (char *)GRPC_SSL_TARGET_NAME_OVERRIDE_ARG;
        args[nargs].value.string = (char *)o->server_name;
        nargs++;
    }
    grpc_channel_args cargs = { nargs, args };

    if (o->tls) {
        ca = pem_dup(o->ca_pem);
        cert = pem_dup(o->cert_pem);
        key = pem_dup(o->key_pem);
        if ((o->ca_pem.len && !ca) || (o->cert_pem.len && !cert) || (o->key_pem.len && !key)) goto fail;
        grpc_ssl_pem_key_cert_pair pair = { key, cert };
        creds = grpc_ssl_credentials_create(ca, (cert && key) ? &pair : NULL, NULL, NULL);
    } else {
        creds = grpc_insecure_credentials_create();
    }
    rc = SEALDB_NETWORK;
    if (!creds) goto fail;
    c->ch = grpc_channel_create(o->target, creds, &cargs);
    if (!c->ch) goto fail;
    grpc_channel_credentials_release(creds);
    sdb_free(ca); sdb_free(cert);
    if (key) { memset(key, 0, strlen(key)); sdb_free(key); }
    *out = c;
    return SEALDB_OK;
fail:
    if (creds) grpc_channel_credentials_release(creds);
    sdb_free(ca); sdb_free(cert);
    if (key) { memset(key, 0, strlen(key)); sdb_free(key); }
    if (c) sdb_rpc_close(c);
    else grpc_shutdown();
    return rc;
}

void sdb_rpc_close(sdb_rpc_conn *c) {
    if (!c) return;
    if (c->ch) grpc_channel_destroy(c->ch);
    sdb_free(c);
    grpc_shutdown();
}

static gpr_timespec deadline_of(int timeout_ms) {
    if (timeout_ms < 0) return gpr_inf_future(GPR_CLOCK_REALTIME);
    return gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
}

/* State of one call; everything gRPC hands back is released in call_end. */
typedef struct call_ctx {
    grpc_completion_queue *cq;
    grpc_call *call;
    grpc_metadata *md;
    size_t nmd;
    grpc_metadata_array init_md, trail_md;
    grpc_status_code status;
    grpc_slice details;
    int status_started;
} call_ctx;

static int call_begin(sdb_rpc_conn *c, const char *method, const sdb_rpc_md *md, size_t nmd, int timeout_ms,
                      call_ctx *cc) {
    memset(cc, 0, sizeof *cc);
    grpc_metadata_array_init(&cc->init_md);
    grpc_metadata_array_init(&cc->trail_md);
    cc->details = grpc_empty_slice();
    cc->cq = grpc_completion_queue_create_for_pluck(NULL);
    if (!cc->cq) return SEALDB_NOMEM;
    cc->call = grpc_channel_create_call(c->ch, NULL, GRPC_PROPAGATE_DEFAULTS, cc->cq,
                                        grpc_slice_from_static_string(method), NULL, deadline_of(timeout_ms), NULL);
    if (!cc->call) return SEALDB_NETWORK;
    if (nmd) {
        cc->md = sdb_calloc(nmd, sizeof *cc->md);
        if (!cc->md) return SEALDB_NOMEM;
        for (size_t i = 0; i < nmd; i++) {
            cc->md[i].key = grpc_slice_from_static_string(md[i].key);
            cc->md[i].value = grpc_slice_from_copied_string(md[i].val);
        }
        cc->nmd = nmd;
    }
    return SEALDB_OK;
}

/* Runs one batch and waits for it. Returns 1 when the batch succeeded. */
static int run_batch(call_ctx *cc, const grpc_op *ops, size_t n) {
    static int tag_word;
    if (grpc_call_start_batch(cc->call, ops, n, &tag_word, NULL) != GRPC_CALL_OK) return 0;
    grpc_event ev = grpc_completion_queue_pluck(cc->cq, &tag_word, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    return ev.type == GRPC_OP_COMPLETE && ev.success;
}

static void copy_md(const grpc_slice *v, char *dst, size_t cap) {
    size_t n = GRPC_SLICE_LENGTH(*v);
    if (n >= cap) n = cap - 1;
    memcpy(dst, GRPC_SLICE_START_PTR(*v), n);
    dst[n] = 0;
}

static void copy_uuid(const grpc_metadata_array *a, sdb_rpc_status *st) {
    for (size_t i = 0; i < a->count; i++) {
        if (grpc_slice_str_cmp(a->metadata[i].key, "immudb-uuid") == 0)
            copy_md(&a->metadata[i].value, st->server_uuid, sizeof st->server_uuid);
        else if (grpc_slice_str_cmp(a->metadata[i].key, "sealdb-version") == 0)
            copy_md(&a->metadata[i].value, st->server_version, sizeof st->server_version);
    }
}

/* The op receiving the final status into cc (at most once per call: marks it started). */
static void op_recv_status(grpc_op *op, call_ctx *cc) {
    memset(op, 0, sizeof *op);
    op->op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    op->data.recv_status_on_client.trailing_metadata = &cc->trail_md;
    op->data.recv_status_on_client.status = &cc->status;
    op->data.recv_status_on_client.status_details = &cc->details;
    cc->status_started = 1;
}

/* Waits for the final status (starting the op if needed) and fills st. */
static int call_finish(call_ctx *cc, sdb_rpc_status *st) {
    if (!cc->status_started) {
        grpc_op op;
        op_recv_status(&op, cc);
        if (!run_batch(cc, &op, 1)) return SEALDB_NETWORK;
    }
    st->grpc_code = (int)cc->status;
    sdb_buf_reset(&st->msg);
    size_t n = GRPC_SLICE_LENGTH(cc->details);
    if (n) {
        if (sdb_buf_append(&st->msg, GRPC_SLICE_START_PTR(cc->details), n) != SEALDB_OK ||
            sdb_buf_append_u8(&st->msg, 0) != SEALDB_OK) return SEALDB_NOMEM;
        st->msg.len--;
    }
    copy_uuid(&cc->init_md, st);
    if (!st->server_uuid[0]) copy_uuid(&cc->trail_md, st);
    return SEALDB_OK;
}

static void call_end(call_ctx *cc) {
    if (cc->call) grpc_call_unref(cc->call);
    grpc_metadata_array_destroy(&cc->init_md);
    grpc_metadata_array_destroy(&cc->trail_md);
    grpc_slice_unref(cc->details);
    if (cc->md) {
        for (size_t i = 0; i < cc->nmd; i++) grpc_slice_unref(cc->md[i].value);
        sdb_free(cc->md);
    }
    if (cc->cq) {
        grpc_completion_queue_shutdown(cc->cq);
        while (grpc_completion_queue_pluck(cc->cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type
               != GRPC_QUEUE_SHUTDOWN) {}
        grpc_completion_queue_destroy(cc->cq);
    }
}

static grpc_byte_buffer *bb_of(sdb_slice s) {
    grpc_slice sl = grpc_slice_from_copied_buffer((const char *)s.ptr, s.len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&sl, 1);
    grpc_slice_unref(sl);
    return bb;
}

static int bb_read(grpc_byte_buffer *bb, sdb_buf *out) {
    grpc_byte_buffer_reader r;
    if (!grpc_byte_buffer_reader_init(&r, bb)) return SEALDB_PROTOCOL;
    grpc_slice all = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    sdb_buf_reset(out);
    int rc = sdb_buf_append(out, GRPC_SLICE_START_PTR(all), GRPC_SLICE_LENGTH(all));
    grpc_slice_unref(all);
    return rc;
}

static void op_send_md(grpc_op *op, call_ctx *cc) {
    memset(op, 0, sizeof *op);
    op->op = GRPC_OP_SEND_INITIAL_METADATA;
    op->data.send_initial_metadata.count = cc->nmd;
    op->data.send_initial_metadata.metadata = cc->md;
}

/* Ops of a call with one request message: metadata, the message, half-close, then the server's
 * initial metadata. Fills ops[0..3] and returns 4. */
static size_t ops_send_request(grpc_op *ops, call_ctx *cc, grpc_byte_buffer *send) {
    memset(ops, 0, 4 * sizeof *ops);
    op_send_md(&ops[0], cc);
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &cc->init_md;
    return 4;
}

/* Final status, then the one answer message of a successful call into resp. */
static int finish_with_answer(call_ctx *cc, grpc_byte_buffer *recv, sdb_rpc_status *st, sdb_buf *resp) {
    int rc = call_finish(cc, st);
    if (rc != SEALDB_OK) return rc;
    sdb_buf_reset(resp);
    if (st->grpc_code != 0) return SEALDB_OK;
    return recv ? bb_read(recv, resp) : SEALDB_PROTOCOL;
}

int sdb_rpc_unary(sdb_rpc_conn *c, const char *method, const sdb_rpc_md *md, size_t nmd, sdb_slice req,
                  int timeout_ms, sdb_buf *resp, sdb_rpc_status *st) {
    call_ctx cc;
    grpc_byte_buffer *send = NULL, *recv = NULL;
    int rc = call_begin(c, method, md, nmd, timeout_ms, &cc);
    if (rc != SEALDB_OK) goto done;
    rc = SEALDB_NOMEM;
    if (!(send = bb_of(req))) goto done;
    grpc_op ops[6];
    size_t n = ops_send_request(ops, &cc, send);
    memset(&ops[n], 0, sizeof ops[n]);
    ops[n].op = GRPC_OP_RECV_MESSAGE;
    ops[n++].data.recv_message.recv_message = &recv;
    op_recv_status(&ops[n++], &cc);
    rc = SEALDB_NETWORK;
    if (!run_batch(&cc, ops, n)) goto done;
    rc = finish_with_answer(&cc, recv, st, resp);
done:
    if (send) grpc_byte_buffer_destroy(send);
    if (recv) grpc_byte_buffer_destroy(recv);
    call_end(&cc);
    return rc;
}

struct sdb_rpc_pending {
    call_ctx cc;
    grpc_byte_buffer *send, *recv;
    int started, done, ok;        /* done: its completion was taken (by a ready check) */
};

int sdb_rpc_unary_start(sdb_rpc_conn *c, const char *method, const sdb_rpc_md *md, size_t nmd, sdb_slice req,
                        int timeout_ms, sdb_rpc_pending **out) {
    *out = NULL;
    sdb_rpc_pending *p = sdb_calloc(1, sizeof *p);
    if (!p) return SEALDB_NOMEM;
    int rc = call_begin(c, method, md, nmd, timeout_ms, &p->cc);
    if (rc == SEALDB_OK && !(p->send = bb_of(req))) rc = SEALDB_NOMEM;
    if (rc == SEALDB_OK) {
        /* the ops point into p (heap), which lives until the wait */
        grpc_op ops[6];
        size_t n = ops_send_request(ops, &p->cc, p->send);
        memset(&ops[n], 0, sizeof ops[n]);
        ops[n].op = GRPC_OP_RECV_MESSAGE;
        ops[n++].data.recv_message.recv_message = &p->recv;
        op_recv_status(&ops[n++], &p->cc);
        rc = grpc_call_start_batch(p->cc.call, ops, n, p, NULL) == GRPC_CALL_OK ? SEALDB_OK : SEALDB_NETWORK;
        p->started = rc == SEALDB_OK;
    }
    *out = p;   /* even on failure: the wait reports it and frees p */
    return rc;
}

int sdb_rpc_unary_ready(sdb_rpc_pending *p) {
    if (!p || !p->started || p->done) return 1;
    grpc_event ev = grpc_completion_queue_pluck(p->cc.cq, p, gpr_inf_past(GPR_CLOCK_REALTIME), NULL);
    if (ev.type != GRPC_OP_COMPLETE) return 0;
    p->done = 1;
    p->ok = ev.success;
    return 1;
}

int sdb_rpc_unary_wait(sdb_rpc_pending *p, sdb_buf *resp, sdb_rpc_status *st) {
    if (!p) return SEALDB_INVALID;
    int rc = SEALDB_NETWORK;
    if (p->started && !p->done) {
        grpc_event ev = grpc_completion_queue_pluck(p->cc.cq, p, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        p->done = 1;
        p->ok = ev.type == GRPC_OP_COMPLETE && ev.success;
    }
    if (p->started && p->ok) rc = finish_with_answer(&p->cc, p->recv, st, resp);
    if (p->send) grpc_byte_buffer_destroy(p->send);
    if (p->recv) grpc_byte_buffer_destroy(p->recv);
    call_end(&p->cc);
    sdb_free(p);
    return rc;
}

int sdb_rpc_server_stream(sdb_rpc_conn *c, const char *method, const sdb_rpc_md *md, size_t nmd,
                          sdb_slice req, int timeout_ms, sdb_rpc_on_msg on_msg, void *ctx,
                          sdb_rpc_status *st) {
    call_ctx cc;
    grpc_byte_buffer *send = NULL, *recv = NULL;
    sdb_buf msg;
    sdb_buf_init(&msg);
    int rc = call_begin(c, method, md, nmd, timeout_ms, &cc);
    if (rc != SEALDB_OK) goto done;
    rc = SEALDB_NOMEM;
    if (!(send = bb_of(req))) goto done;
    grpc_op ops[4];
    size_t n = ops_send_request(ops, &cc, send);
    rc = SEALDB_NETWORK;
    if (!run_batch(&cc, ops, n)) goto finish;   /* the status says why */
    for (;;) {
        grpc_op rop;
        memset(&rop, 0, sizeof rop);
        rop.op = GRPC_OP_RECV_MESSAGE;
        rop.data.recv_message.recv_message = &recv;
        if (!run_batch(&cc, &rop, 1) || !recv) break;
        rc = bb_read(recv, &msg);
        grpc_byte_buffer_destroy(recv);
        recv = NULL;
        if (rc == SEALDB_OK) rc = on_msg(ctx, sdb_buf_slice(&msg));
        if (rc != SEALDB_OK) {
            grpc_call_cancel(cc.call, NULL);
            int frc = call_finish(&cc, st);
            (void)frc;
            goto done;
        }
    }
finish:
    rc = call_finish(&cc, st);
done:
    if (send) grpc_byte_buffer_destroy(send);
    if (recv) grpc_byte_buffer_destroy(recv);
    sdb_buf_deinit(&msg);
    call_end(&cc);
    return rc;
}

int sdb_rpc_client_stream(sdb_rpc_conn *c, const char *method, const sdb_rpc_md *md, size_t nmd,
                          int timeout_ms, sdb_rpc_next_msg next, void *ctx, sdb_buf *resp,
                          sdb_rpc_status *st) {
    call_ctx cc;
    grpc_byte_buffer *recv = NULL;
    int rc = call_begin(c, method, md, nmd, timeout_ms, &cc);
    if (rc != SEALDB_OK) goto done;
    grpc_op op;
    op_send_md(&op, &cc);
    rc = SEALDB_NETWORK;
    int sending = run_batch(&cc, &op, 1);
    while (sending) {
        sdb_slice m = { NULL, 0 };
        int fin = 0;
        rc = next(ctx, &m, &fin);
        if (rc != SEALDB_OK) {
            grpc_call_cancel(cc.call, NULL);
            int frc = call_finish(&cc, st);
            (void)frc;
            goto done;
        }
        if (fin) break;
        grpc_byte_buffer *bb = bb_of(m);
        if (!bb) { rc = SEALDB_NOMEM; grpc_call_cancel(cc.call, NULL); goto done; }
        memset(&op, 0, sizeof op);
        op.op = GRPC_OP_SEND_MESSAGE;
        op.data.send_message.send_message = bb;
        sending = run_batch(&cc, &op, 1);   /* fails when the server already ended the call */
        grpc_byte_buffer_destroy(bb);
    }
    grpc_op ops[4];
    memset(ops, 0, sizeof ops);
    size_t n = 0;
    if (sending) ops[n++].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[n++].data.recv_initial_metadata.recv_initial_metadata = &cc.init_md;
    ops[n].op = GRPC_OP_RECV_MESSAGE;
    ops[n++].data.recv_message.recv_message = &recv;
    op_recv_status(&ops[n++], &cc);
    if (!run_batch(&cc, ops, n)) {
        /* Initial metadata may already have been consumed; retry the status alone. */
        cc.status_started = 0;
    }
    rc = finish_with_answer(&cc, recv, st, resp);
done:
    if (recv) grpc_byte_buffer_destroy(recv);
    call_end(&cc);
    return rc;
}

/* ---- bidirectional stream driven by the caller: per-op tags on the call's own queue ---- */
struct sdb_rpc_bidi {
    call_ctx cc;
    int timeout_ms;
    grpc_slice next;              /* the message being built (have_next) */
    grpc_byte_buffer *send_bb, *recv_bb;
    int have_next, half_closed;
    int send_pending, send_ok;    /* send_ok: the last send (or the metadata) went out */
    int recv_pending, recv_done, recv_ok;   /* recv_done: its completion was taken */
    int status_pending, status_ok;
    char tag_send, tag_recv, tag_status;
};

/* Waits for tag (block: up to timeout_ms, then the call is cancelled and the wait goes on until the
 * op completes, which cancelling makes prompt). Returns 1 with *ok set when it completed, 0 when a
 * non-blocking check found nothing. */
static int bidi_wait(sdb_rpc_bidi *b, void *tag, int block, int *ok) {
    gpr_timespec dl = block ? deadline_of(b->timeout_ms) : gpr_inf_past(GPR_CLOCK_REALTIME);
    grpc_event ev = grpc_completion_queue_pluck(b->cc.cq, tag, dl, NULL);
    if (ev.type == GRPC_QUEUE_TIMEOUT) {
        if (!block) return 0;
        grpc_call_cancel_with_status(b->cc.call, GRPC_STATUS_DEADLINE_EXCEEDED, "no answer in time", NULL);
        ev = grpc_completion_queue_pluck(b->cc.cq, tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    }
    *ok = ev.type == GRPC_OP_COMPLETE && ev.success;
    return 1;
}

static void bidi_send_done(sdb_rpc_bidi *b) {
    if (!b->send_pending) return;
    bidi_wait(b, &b->tag_send, 1, &b->send_ok);
    b->send_pending = 0;
    if (b->send_bb) { grpc_byte_buffer_destroy(b->send_bb); b->send_bb = NULL; }
}

static int bidi_start_recv(sdb_rpc_bidi *b, int with_md) {
    grpc_op ops[2];
    memset(ops, 0, sizeof ops);
    size_t n = 0;
    if (with_md) {
        ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
        ops[n++].data.recv_initial_metadata.recv_initial_metadata = &b->cc.init_md;
    }
    ops[n].op = GRPC_OP_RECV_MESSAGE;
    ops[n++].data.recv_message.recv_message = &b->recv_bb;
    b->recv_done = 0;
    b->recv_pending = grpc_call_start_batch(b->cc.call, ops, n, &b->tag_recv, NULL) == GRPC_CALL_OK;
    return b->recv_pending ? SEALDB_OK : SEALDB_NETWORK;
}

int sdb_rpc_bidi_open(sdb_rpc_conn *c, const char *method, const sdb_rpc_md *md, size_t nmd, int timeout_ms,
                      sdb_rpc_bidi **out) {
    *out = NULL;
    sdb_rpc_bidi *b = sdb_calloc(1, sizeof *b);
    if (!b) return SEALDB_NOMEM;
    b->timeout_ms = timeout_ms;
    /* no deadline on the call: it lives as long as the writer; each wait is bounded instead */
    int rc = call_begin(c, method, md, nmd, -1, &b->cc);
    if (rc != SEALDB_OK) { sdb_rpc_bidi_close(b); return rc; }
    grpc_op op;
    op_send_md(&op, &b->cc);
    b->send_pending = grpc_call_start_batch(b->cc.call, &op, 1, &b->tag_send, NULL) == GRPC_CALL_OK;
    op_recv_status(&op, &b->cc);
    b->status_pending = grpc_call_start_batch(b->cc.call, &op, 1, &b->tag_status, NULL) == GRPC_CALL_OK;
    if (!b->send_pending || !b->status_pending || bidi_start_recv(b, 1) != SEALDB_OK) {
        sdb_rpc_bidi_close(b);
        return SEALDB_NETWORK;
    }
    *out = b;
    return SEALDB_OK;
}

uint8_t *sdb_rpc_bidi_msg(sdb_rpc_bidi *b, size_t len) {
    if (b->have_next) grpc_slice_unref(b->next);
    b->next = grpc_slice_malloc(len);
    b->have_next = 1;
    return GRPC_SLICE_START_PTR(b->next);
}

/* 1 when the call's status has arrived (it has ended); never blocks */
static int bidi_ended(sdb_rpc_bidi *b) {
    if (b->status_pending && bidi_wait(b, &b->tag_status, 0, &b->status_ok)) b->status_pending = 0;
    return !b->status_pending;
}

int sdb_rpc_bidi_send(sdb_rpc_bidi *b) {
    if (!b->have_next || b->half_closed) return SEALDB_INVALID;
    bidi_send_done(b);   /* one send op at a time */
    b->have_next = 0;
    if (!b->send_ok || bidi_ended(b)) { grpc_slice_unref(b->next); return SEALDB_NETWORK; }   /* the call has ended */
    b->send_bb = grpc_raw_byte_buffer_create(&b->next, 1);
    grpc_slice_unref(b->next);
    if (!b->send_bb) return SEALDB_NOMEM;
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = b->send_bb;
    b->send_pending = grpc_call_start_batch(b->cc.call, &op, 1, &b->tag_send, NULL) == GRPC_CALL_OK;
    return b->send_pending ? SEALDB_OK : SEALDB_NETWORK;
}

int sdb_rpc_bidi_ready(sdb_rpc_bidi *b) {
    if (!b->recv_pending || b->recv_done) return 1;
    if (!bidi_wait(b, &b->tag_recv, 0, &b->recv_ok)) return 0;
    b->recv_done = 1;
    return 1;
}

int sdb_rpc_bidi_recv(sdb_rpc_bidi *b, sdb_buf *msg, int *end, sdb_rpc_status *st) {
    *end = 0;
    if (b->recv_pending && !b->recv_done) bidi_wait(b, &b->tag_recv, 1, &b->recv_ok);
    if (b->recv_pending) {
        b->recv_pending = 0;
        b->recv_done = 0;
        if (b->recv_ok && b->recv_bb) {
            int rc = bb_read(b->recv_bb, msg);
            grpc_byte_buffer_destroy(b->recv_bb);
            b->recv_bb = NULL;
            if (rc != SEALDB_OK) return rc;
            bidi_start_recv(b, 0);   /* when it cannot start, the next recv reports the call's end */
            return SEALDB_OK;
        }
    }
    *end = 1;   /* no message: the call has ended, its status follows */
    if (b->status_pending) {
        bidi_wait(b, &b->tag_status, 1, &b->status_ok);
        b->status_pending = 0;
    }
    if (!b->status_ok) return SEALDB_NETWORK;
    return call_finish(&b->cc, st);
}

int sdb_rpc_bidi_half_close(sdb_rpc_bidi *b) {
    if (b->half_closed) return SEALDB_OK;
    bidi_send_done(b);
    b->half_closed = 1;
    if (!b->send_ok) return SEALDB_OK;   /* already ended */
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    b->send_pending = grpc_call_start_batch(b->cc.call, &op, 1, &b->tag_send, NULL) == GRPC_CALL_OK;
    return b->send_pending ? SEALDB_OK : SEALDB_NETWORK;
}

void sdb_rpc_bidi_close(sdb_rpc_bidi *b) {
    if (!b) return;
    int ok;
    if (b->cc.call && b->status_pending) grpc_call_cancel(b->cc.call, NULL);
    /* every started op completes (promptly after the cancel) before the call is released */
    if (b->send_pending) { grpc_completion_queue_pluck(b->cc.cq, &b->tag_send, gpr_inf_future(GPR_CLOCK_REALTIME), NULL); }
    if (b->recv_pending && !b->recv_done) bidi_wait(b, &b->tag_recv, 1, &ok);
    if (b->status_pending) grpc_completion_queue_pluck(b->cc.cq, &b->tag_status, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (b->send_bb) grpc_byte_buffer_destroy(b->send_bb);
    if (b->recv_bb) grpc_byte_buffer_destroy(b->recv_bb);
    if (b->have_next) grpc_slice_unref(b->next);
    call_end(&b->cc);
    sdb_free(b);
}
