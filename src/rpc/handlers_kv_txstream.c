/* handlers_kv_txstream.c - ExecAllStream and ExecAllBatchStream, sealdb's own bidirectional streams of
 * ExecAlls (docs/api.md "sealdb extensions"): each ExecAllRequest is committed as its own tx, handed
 * to the engine in stream order and answered in the same order. ExecAllStream carries one request
 * per message and answers each with its TxHeader (up to TXS_INFLIGHT at once); ExecAllBatchStream
 * carries up to TXS_BATCH_MAX requests per message and answers each message with one TxHeaderList.
 * A pipelining writer (sealdb-cdc) pays for one gRPC call per session instead of one per tx, its txs
 * never overtake each other as concurrent unary calls do, and with batches it pays the transport's
 * per-message cost (wakeups on both sides) once per burst instead of once per tx. */
#include <pthread.h>
#include <string.h>
#include "rpc/handlers_kv.h"
#include "sealdb.pb-c.h"
#include "sealdb_err.h"

#define TXS_INFLIGHT 64   /* ExecAllStream: requests taken and not yet answered; flow control holds the rest */
#define TXS_BATCH_MAX 64  /* ExecAllBatchStream: requests per message */
#define TXS_RING 128      /* slots; a batch message is received only while TXS_BATCH_MAX of them are free */

typedef struct txs txs;

/* one request in flight: its memory, batch and outcome. The requests of one message form a group,
 * answered together; its first slot holds the group's size and its count of outcomes still to come. */
typedef struct txs_slot {
    txs *s;
    struct txs_slot *first;
    sdb_arena arena;
    ProtobufCAllocator pba;
    sdb_kv_batch b;
    int no_wait;
    int done;               /* s->mu: the outcome is known (committed, and indexed unless no_wait; or failed) */
    int failed;
    uint32_t grp, left;     /* first slot of a group: its size; outcomes to come (s->mu) */
    sdb_kverr err;
    sdb_tx_header hdr;
    sdb_index_wait iw;
} txs_slot;

struct txs {
    sdb_call *c;
    sdb_kvdb *db;
    int batch;              /* ExecAllBatchStream */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* mu: completions reported by the transport and the engine */
    int recv_done, recv_ok, send_done, send_ok;
    uint32_t engine_busy;   /* slots handed to the engine whose outcome has not come */
    /* the handler thread's own */
    uint32_t head, n;       /* oldest unanswered slot (a group's first); slots in use */
    int split;              /* a group was answered in part (a request failed): its memory stays */
    txs_slot slot[TXS_RING];
};

static void *pb_alloc(void *ad, size_t n) { return sdb_arena_alloc((sdb_arena *)ad, n ? n : 1); }
static void pb_free(void *ad, void *p) { (void)ad; (void)p; }

static txs_slot *slot_at(txs *s, uint32_t i) { return &s->slot[(s->head + i) % TXS_RING]; }

static void on_event(void *arg, int kind, int ok) {
    txs *s = arg;
    pthread_mutex_lock(&s->mu);
    if (kind == SDB_BIDI_RECV) { s->recv_done = 1; s->recv_ok = ok; }
    else { s->send_done = 1; s->send_ok = ok; }
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* The handler is woken once per group (when its last outcome comes), not once per tx. */
static void slot_outcome(txs_slot *t, int failed) {
    txs *s = t->s;
    pthread_mutex_lock(&s->mu);
    t->failed = failed;
    t->done = 1;
    s->engine_busy--;
    if (!--t->first->left || !s->engine_busy) pthread_cond_signal(&s->cv);
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

/* Hands one request to the engine (this thread, so in stream order); 0, or -1 when it cannot be
 * committed: its error is its outcome, answered in turn. */
static int submit_one(txs *s, txs_slot *t, const Immudb__Schema__ExecAllRequest *r) {
    t->no_wait = r->nowait;
    if (sdb_kv_prepare_exec_all(s->db, &t->arena, r, &t->b, &t->err)) { slot_outcome(t, 1); return -1; }
    int rc = sdb_engine_commit(s->db->eng, t->b.kvs, t->b.n, t->b.pre, t->b.npre, on_commit, t);
    if (rc != SEALDB_OK) {
        sdb_kv_commit_error(&t->b, rc, 0, &t->err);
        slot_outcome(t, 1);
        return -1;
    }
    return 0;
}

/* Takes one message's requests into the next slots as a group and hands them to the engine. A
 * message that does not decode is a group of one failed slot; the requests after one that cannot be
 * committed are dropped (the call ends with its error before they would be answered). */
static void submit(txs *s, sdb_slice msg) {
    txs_slot *f = slot_at(s, s->n);
    const ProtobufCMessageDescriptor *d = s->batch ? &sealdb__schema__exec_all_batch__descriptor
                                                   : &immudb__schema__exec_all_request__descriptor;
    ProtobufCMessage *m = NULL;
    int bad = sdb_call_decode(s->c, d, msg, &f->pba, &m, &f->err.code, f->err.msg, sizeof f->err.msg);
    Immudb__Schema__ExecAllRequest *one = NULL, **reqs = &one;
    size_t k = 1;
    if (!bad && s->batch) {
        const Sealdb__Schema__ExecAllBatch *bm = (const Sealdb__Schema__ExecAllBatch *)m;
        k = bm->n_requests;
        reqs = bm->requests;
        if (k == 0 || k > TXS_BATCH_MAX) {
            bad = 1;
            f->err.code = SDB_GRPC_INVALID_ARGUMENT;
            snprintf(f->err.msg, sizeof f->err.msg, "a batch holds 1 to %d requests, this one %zu", TXS_BATCH_MAX, k);
        }
    } else if (!bad) {
        one = (Immudb__Schema__ExecAllRequest *)m;
    }
    if (bad) k = 1;
    for (size_t i = 0; i < k; i++) {
        txs_slot *t = slot_at(s, s->n + (uint32_t)i);
        memset(&t->b, 0, sizeof t->b);
        t->done = t->failed = 0;
        t->first = f;
    }
    pthread_mutex_lock(&s->mu);
    f->grp = f->left = (uint32_t)k;
    s->engine_busy += (uint32_t)k;
    pthread_mutex_unlock(&s->mu);
    if (bad) {
        f->err.info = NULL;
        slot_outcome(f, 1);
        s->n++;
        return;
    }
    size_t i = 0;
    sdb_engine_defer_wake(s->db->eng, 1);   /* the committer wakes once for the message */
    while (i < k && !submit_one(s, slot_at(s, s->n + (uint32_t)i), reqs[i])) i++;
    sdb_engine_defer_wake(s->db->eng, 0);
    if (i + 1 < k) {   /* drop the rest: they never reach the engine */
        uint32_t drop = (uint32_t)(k - i - 1);
        pthread_mutex_lock(&s->mu);
        f->grp -= drop;
        f->left -= drop;
        s->engine_busy -= drop;
        if (!f->left || !s->engine_busy) pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
    }
    s->n += f->grp;
}

/* Packs the answer to the head group's first j txs (all committed) into the head slot's arena. */
static uint8_t *pack_answer(txs *s, uint32_t j, size_t *len) {
    txs_slot *h = slot_at(s, 0);
    ProtobufCMessage *out;
    if (!s->batch) {
        Immudb__Schema__TxHeader *th = sdb_kv_header_pb(&h->arena, &h->hdr);
        if (!th) return NULL;
        out = &th->base;
    } else {
        Sealdb__Schema__TxHeaderList *l = sdb_arena_alloc(&h->arena, sizeof *l);
        Immudb__Schema__TxHeader **hs = sdb_arena_alloc(&h->arena, j * sizeof *hs);
        if (!l || !hs) return NULL;
        sealdb__schema__tx_header_list__init(l);
        for (uint32_t i = 0; i < j; i++)
            if (!(hs[i] = sdb_kv_header_pb(&h->arena, &slot_at(s, i)->hdr))) return NULL;
        l->n_headers = j;
        l->headers = hs;
        out = &l->base;
    }
    *len = protobuf_c_message_get_packed_size(out);
    uint8_t *p = sdb_arena_alloc(&h->arena, *len ? *len : 1);
    if (p) protobuf_c_message_pack(out, p);
    return p;
}

static int txs_run(sdb_call *c, int batch) {
    sdb_kvdb *db = sdb_kv_call_db(c);
    if (!db) return sdb_call_error(c, SDB_GRPC_UNKNOWN, "database is not loaded");
    txs *s = sdb_calloc(1, sizeof *s);
    if (!s) return sdb_call_error(c, SDB_GRPC_RESOURCE_EXHAUSTED, "out of memory");
    s->c = c;
    s->db = db;
    s->batch = batch;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    for (int i = 0; i < TXS_RING; i++) {
        txs_slot *t = &s->slot[i];
        t->s = s;
        sdb_arena_init(&t->arena, 4096);
        t->pba = (ProtobufCAllocator){ pb_alloc, pb_free, &t->arena };
    }
    /* a message is taken only when its largest group fits */
    uint32_t room = batch ? TXS_RING - TXS_BATCH_MAX : TXS_INFLIGHT - 1;
    sdb_call_bidi_begin(c, on_event, s);
    int recv_busy = 0, send_busy = 0;
    uint32_t sent_grp = 0;  /* size of the group whose answer is being sent */
    int eof = 0;            /* the client closed its side */
    int stop = 0;           /* nothing more is received: a request failed, or the call broke */
    int broken = 0;         /* the call broke (peer gone, cancelled): nothing more is sent */
    int failed = 0;         /* the answer at the head failed: the call ends with it */
    int cancelled = 0;
    sdb_kverr fail;
    for (;;) {
        if (!stop && !eof && !recv_busy && s->n <= room) {
            recv_busy = 1;
            if (sdb_call_bidi_recv(c) != SEALDB_OK) { recv_busy = 0; broken = stop = 1; }
        }
        pthread_mutex_lock(&s->mu);
        int head_done = s->n && !slot_at(s, 0)->left;
        if (!send_busy && !broken && !failed && head_done) {
            pthread_mutex_unlock(&s->mu);
            txs_slot *h = slot_at(s, 0);
            uint32_t k = h->grp, j = 0;
            while (j < k && !slot_at(s, j)->failed) j++;
            if (!j) {
                /* answers after a failed request are never sent: the call ends with its error */
                failed = stop = 1;
                fail = h->err;
            } else {
                if (j < k) {   /* the committed part is answered first; the failed one then heads */
                    txs_slot *r = slot_at(s, j);
                    r->grp = k - j;
                    r->left = 0;
                    h->grp = j;
                    s->split = 1;
                }
                size_t len = 0;
                uint8_t *out = pack_answer(s, j, &len);
                send_busy = 1;
                sent_grp = j;
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
        while (!s->recv_done && !s->send_done && !(s->n && !slot_at(s, 0)->left && !head_done) &&
               !(stop && !s->engine_busy && !recv_busy && !send_busy))
            pthread_cond_wait(&s->cv, &s->mu);
        int rdone = s->recv_done, rok = s->recv_ok, sdone = s->send_done, sok = s->send_ok;
        s->recv_done = s->send_done = 0;
        pthread_mutex_unlock(&s->mu);
        if (sdone) {
            send_busy = 0;
            if (!sok) broken = stop = 1;
            else {
                /* a split group's memory (its decoded message) may still be read by the engine */
                if (!s->split)
                    for (uint32_t i = 0; i < sent_grp; i++) sdb_arena_reset(&slot_at(s, i)->arena);
                s->head = (s->head + sent_grp) % TXS_RING;
                s->n -= sent_grp;
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
    for (int i = 0; i < TXS_RING; i++) sdb_arena_deinit(&s->slot[i].arena);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    sdb_free(s);
    if (failed) return sdb_kv_fail(c, &fail);
    if (broken) return sdb_call_error(c, SDB_GRPC_CANCELLED, "stream ended");
    return sdb_call_ok(c, NULL);
}

int sdb_kv_h_exec_all_stream(sdb_call *c, const ProtobufCMessage *req) {
    (void)req;
    return txs_run(c, 0);
}

int sdb_kv_h_exec_all_batch_stream(sdb_call *c, const ProtobufCMessage *req) {
    (void)req;
    return txs_run(c, 1);
}
