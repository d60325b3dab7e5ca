/* handlers_kv_txstream.c - ExecAllStream, sealdb's own bidirectional stream of ExecAlls (docs/api.md
 * "sealdb extensions"): each request message is committed as its own tx, handed to the engine in
 * stream order and answered with its TxHeader in the same order, up to TXS_INFLIGHT at once. A
 * pipelining writer (sealdb-cdc) pays for one gRPC call per session instead of one per tx, and its
 * txs never overtake each other as concurrent unary calls do. */
#include <pthread.h>
#include <string.h>
#include "rpc/handlers_kv.h"
#include "sealdb_err.h"

#define TXS_INFLIGHT 64   /* requests taken and not yet answered; HTTP/2 flow control holds the rest */

typedef struct txs txs;

/* one request in flight: its memory, batch and outcome */
typedef struct txs_slot {
    txs *s;
    sdb_arena arena;
    ProtobufCAllocator pba;
    sdb_kv_batch b;
    int no_wait;
    int done;               /* s->mu: the outcome is known (committed, and indexed unless no_wait; or failed) */
    int failed;
    sdb_kverr err;
    sdb_tx_header hdr;
    sdb_index_wait iw;
} txs_slot;

struct txs {
    sdb_call *c;
    sdb_kvdb *db;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* mu: completions reported by the transport and the engine */
    int recv_done, recv_ok, send_done, send_ok;
    uint32_t engine_busy;   /* slots handed to the engine whose outcome has not come */
    /* the handler thread's own */
    uint32_t head, n;       /* oldest unanswered slot; slots in use */
    txs_slot slot[TXS_INFLIGHT];
};

static void *pb_alloc(void *ad, size_t n) { return sdb_arena_alloc((sdb_arena *)ad, n ? n : 1); }
static void pb_free(void *ad, void *p) { (void)ad; (void)p; }

static void on_event(void *arg, int kind, int ok) {
    txs *s = arg;
    pthread_mutex_lock(&s->mu);
    if (kind == SDB_BIDI_RECV) { s->recv_done = 1; s->recv_ok = ok; }
    else { s->send_done = 1; s->send_ok = ok; }
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void slot_outcome(txs_slot *t, int failed) {
    txs *s = t->s;
    pthread_mutex_lock(&s->mu);
    t->failed = failed;
    t->done = 1;
    s->engine_busy--;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void on_indexed(void *arg, int rc) {
    txs_slot *t = arg;
    /* the write stands, the index lags: answered as the unary call answers it */
    if (rc) { t->err.code = SDB_GRPC_UNKNOWN; t->err.info = NULL; snprintf(t->err.msg, sizeof t->err.msg, "%s", sealdb_strerror(rc)); }
    slot_outcome(t, rc != SEALDB_OK);
}

static void on_commit(void *arg, int rc, const sdb_commit_result *res, size_t failed_pre) {
    txs_slot *t = arg;
    if (rc == SEALDB_OK) {
        t->hdr = res->hdr;
        if (t->no_wait) { slot_outcome(t, 0); return; }
        t->iw = (sdb_index_wait){ .tx_id = res->hdr.id, .cb = on_indexed, .arg = t };
        sdb_engine_when_indexed(t->s->db->eng, &t->iw);
        return;
    }
    sdb_kv_commit_error(&t->b, rc, failed_pre, &t->err);
    slot_outcome(t, 1);
}

/* Takes request bytes into the next slot and hands the tx to the engine (this thread, so in stream
 * order); a request that cannot be committed gets its error as its outcome, answered in turn. */
static void submit(txs *s, sdb_slice msg) {
    txs_slot *t = &s->slot[(s->head + s->n++) % TXS_INFLIGHT];
    memset(&t->b, 0, sizeof t->b);
    t->done = 0;
    t->failed = 0;
    pthread_mutex_lock(&s->mu);
    s->engine_busy++;
    pthread_mutex_unlock(&s->mu);
    ProtobufCMessage *m;
    if (sdb_call_decode(s->c, &immudb__schema__exec_all_request__descriptor, msg, &t->pba, &m, &t->err.code,
                        t->err.msg, sizeof t->err.msg)) {
        t->err.info = NULL;
        slot_outcome(t, 1);
        return;
    }
    const Immudb__Schema__ExecAllRequest *r = (const Immudb__Schema__ExecAllRequest *)m;
    t->no_wait = r->nowait;
    if (sdb_kv_prepare_exec_all(s->db, &t->arena, r, &t->b, &t->err)) { slot_outcome(t, 1); return; }
    int rc = sdb_engine_commit(s->db->eng, t->b.kvs, t->b.n, t->b.pre, t->b.npre, on_commit, t);
    if (rc != SEALDB_OK) {
        sdb_kv_commit_error(&t->b, rc, 0, &t->err);
        slot_outcome(t, 1);
    }
}

int sdb_kv_h_exec_all_stream(sdb_call *c, const ProtobufCMessage *req) {
    (void)req;
    sdb_kvdb *db = sdb_kv_call_db(c);
    if (!db) return sdb_call_error(c, SDB_GRPC_UNKNOWN, "database is not loaded");
    txs *s = sdb_calloc(1, sizeof *s);
    if (!s) return sdb_call_error(c, SDB_GRPC_RESOURCE_EXHAUSTED, "out of memory");
    s->c = c;
    s->db = db;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    for (int i = 0; i < TXS_INFLIGHT; i++) {
        txs_slot *t = &s->slot[i];
        t->s = s;
        sdb_arena_init(&t->arena, 4096);
        t->pba = (ProtobufCAllocator){ pb_alloc, pb_free, &t->arena };
    }
    sdb_call_bidi_begin(c, on_event, s);
    int recv_busy = 0, send_busy = 0;
    int eof = 0;            /* the client closed its side */
    int stop = 0;           /* nothing more is received: a request failed, or the call broke */
    int broken = 0;         /* the call broke (peer gone, cancelled): nothing more is sent */
    int failed = 0;         /* the answer at the head failed: the call ends with it */
    int cancelled = 0;
    sdb_kverr fail;
    for (;;) {
        if (!stop && !eof && !recv_busy && s->n < TXS_INFLIGHT) {
            recv_busy = 1;
            if (sdb_call_bidi_recv(c) != SEALDB_OK) { recv_busy = 0; broken = stop = 1; }
        }
        pthread_mutex_lock(&s->mu);
        int head_done = s->n && s->slot[s->head].done;
        if (!send_busy && !broken && !failed && head_done) {
            txs_slot *t = &s->slot[s->head];
            int bad = t->failed;
            pthread_mutex_unlock(&s->mu);
            if (bad) {
                /* answers after a failed request are never sent: the call ends with its error */
                failed = stop = 1;
                fail = t->err;
            } else {
                Immudb__Schema__TxHeader *h = sdb_kv_header_pb(&t->arena, &t->hdr);
                size_t len = h ? protobuf_c_message_get_packed_size(&h->base) : 0;
                uint8_t *out = h ? sdb_arena_alloc(&t->arena, len ? len : 1) : NULL;
                if (out) protobuf_c_message_pack(&h->base, out);
                send_busy = 1;
                if (!out || sdb_call_bidi_send(c, out, len) != SEALDB_OK) { send_busy = 0; broken = stop = 1; }
            }
            continue;
        }
        if ((stop || failed) && recv_busy && !cancelled) {
            /* a receive still waits for the client: the call ends now, which completes it */
            cancelled = 1;
            pthread_mutex_unlock(&s->mu);
            if (failed) sdb_call_bidi_cancel(c, fail.code, fail.msg);
            else sdb_call_bidi_cancel(c, SDB_GRPC_CANCELLED, "stream ended");
            continue;
        }
        if (!recv_busy && !send_busy && !s->engine_busy && (stop || (eof && !s->n))) {
            pthread_mutex_unlock(&s->mu);
            break;
        }
        while (!s->recv_done && !s->send_done && !(s->n && s->slot[s->head].done && !head_done) &&
               !(stop && !s->engine_busy && !recv_busy && !send_busy))
            pthread_cond_wait(&s->cv, &s->mu);
        int rdone = s->recv_done, rok = s->recv_ok, sdone = s->send_done, sok = s->send_ok;
        s->recv_done = s->send_done = 0;
        pthread_mutex_unlock(&s->mu);
        if (sdone) {
            send_busy = 0;
            if (!sok) broken = stop = 1;
            else {
                sdb_arena_reset(&s->slot[s->head].arena);
                s->head = (s->head + 1) % TXS_INFLIGHT;
                s->n--;
            }
        }
        if (rdone) {
            recv_busy = 0;
            sdb_slice msg = { NULL, 0 };
            int e = 0;
            if (!rok || sdb_call_bidi_take(c, &msg, &e) != SEALDB_OK) broken = stop = 1;
            else if (e) eof = 1;
            else if (!stop) submit(s, msg);
        }
    }
    for (int i = 0; i < TXS_INFLIGHT; i++) sdb_arena_deinit(&s->slot[i].arena);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    sdb_free(s);
    if (failed) return sdb_kv_fail(c, &fail);
    if (broken) return sdb_call_error(c, SDB_GRPC_CANCELLED, "stream ended");
    return sdb_call_ok(c, NULL);
}
