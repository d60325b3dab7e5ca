/* txstream.c - sealdb's ExecAllStream and ExecAllBatchStream from libsealdb-client: ExecAlls sent on one
 * bidirectional call (encoded by kv.c's builder straight into the outgoing message, or appended to
 * the batch being formed) and their tx headers taken in order. */
#include <inttypes.h>
#include "client/client_int.h"
#include "sealdb.pb-c.h"

#define TXSTREAM_METHOD "/sealdb.schema.SealService/ExecAllStream"
#define TXBATCH_METHOD "/sealdb.schema.SealService/ExecAllBatchStream"
#define TXBATCH_MAX 64            /* requests per message: the server's limit */

struct sealdb_txstream {
    sealdb_client *c;
    sdb_rpc_bidi *b;
    sdb_buf msg;                  /* the last answer's bytes (reused) */
    uint64_t sent, answered;      /* sent counts the txs of the batch being formed */
    int ended;                    /* the call's end was seen by recv */
    int half_closed;
    int batched;
    sdb_buf batch;                /* batched: the ExecAllBatch being formed (its field-1 entries) */
    uint32_t nbatch;              /* requests in it */
    sealdb_tx_header *hq;         /* batched: headers of the last answer not yet returned */
    size_t hq_n, hq_pos, hq_cap;
};

static int txstream_open(sealdb_client *c, const char *method, int batched, sealdb_txstream **out) {
    if (!c || !out) return sdb_cl_fail(c, SEALDB_INVALID, "bad arguments");
    *out = NULL;
    sealdb_txstream *s = sdb_calloc(1, sizeof *s);
    if (!s) return sdb_cl_fail(c, SEALDB_NOMEM, "out of memory");
    s->c = c;
    s->batched = batched;
    sdb_buf_init(&s->msg);
    sdb_buf_init(&s->batch);
    sdb_rpc_md md[2];
    size_t nmd = sdb_cl_auth_md(c, md);
    int rc = sdb_rpc_bidi_open(c->conn, method, md, nmd, c->timeout_ms, &s->b);
    if (rc != SEALDB_OK) {
        sdb_free(s);
        return sdb_cl_fail(c, rc, "%s", rc == SEALDB_NETWORK ? "cannot start the stream" : sealdb_strerror(rc));
    }
    *out = s;
    return SEALDB_OK;
}

SEALDB_API int sealdb_client_txstream_open(sealdb_client *c, sealdb_txstream **out) {
    return txstream_open(c, TXSTREAM_METHOD, 0, out);
}

SEALDB_API int sealdb_client_txbatch_open(sealdb_client *c, sealdb_txstream **out) {
    return txstream_open(c, TXBATCH_METHOD, 1, out);
}

static int sent_rc(sealdb_txstream *s, int rc) {
    if (rc == SEALDB_NETWORK) return sdb_cl_fail(s->c, rc, "the stream has ended (its end tells why)");
    if (rc != SEALDB_OK) return sdb_cl_fail(s->c, rc, "%s", sealdb_strerror(rc));
    return SEALDB_OK;
}

static int stream_sink(sealdb_client *c, const ProtobufCMessage *req, void *arg) {
    sealdb_txstream *s = arg;
    size_t n = protobuf_c_message_get_packed_size(req);
    if (s->batched) {   /* field 1 (length-delimited): tag, length varint, the request */
        if (sdb_buf_reserve(&s->batch, n + 11) != SEALDB_OK) return sdb_cl_fail(c, SEALDB_NOMEM, "out of memory");
        uint8_t *p0 = s->batch.ptr + s->batch.len, *p = p0;
        *p++ = 0x0a;
        p = sdb_put_varint(p, n);
        protobuf_c_message_pack(req, p);
        s->batch.len += (size_t)(p - p0) + n;
        s->nbatch++;
        s->sent++;
        return SEALDB_OK;
    }
    protobuf_c_message_pack(req, sdb_rpc_bidi_msg(s->b, n));
    int rc = sent_rc(s, sdb_rpc_bidi_send(s->b));
    if (rc == SEALDB_OK) s->sent++;
    return rc;
}

SEALDB_API int sealdb_txstream_flush(sealdb_txstream *s) {
    if (!s) return SEALDB_INVALID;
    if (!s->nbatch) return SEALDB_OK;
    memcpy(sdb_rpc_bidi_msg(s->b, s->batch.len), s->batch.ptr, s->batch.len);
    sdb_buf_reset(&s->batch);
    s->nbatch = 0;
    return sent_rc(s, sdb_rpc_bidi_send(s->b));
}

SEALDB_API int sealdb_txstream_send(sealdb_txstream *s, const sealdb_op *ops, size_t n,
                                    const sealdb_precondition *pre, size_t npre) {
    if (!s) return SEALDB_INVALID;
    if (!n) return sdb_cl_fail(s->c, SEALDB_INVALID, "bad arguments");
    /* as the transport answers a plain stream's send; a batched one would only append the tx */
    if (s->half_closed) return sent_rc(s, SEALDB_INVALID);
    if (s->ended) return sent_rc(s, SEALDB_NETWORK);
    int rc = sdb_cl_exec_all_req(s->c, ops, n, pre, npre, stream_sink, s);
    if (rc == SEALDB_OK && s->nbatch == TXBATCH_MAX) rc = sealdb_txstream_flush(s);
    return rc;
}

SEALDB_API int sealdb_txstream_ready(sealdb_txstream *s) {
    if (!s) return 1;
    if (s->hq_pos < s->hq_n) return 1;
    return sdb_rpc_bidi_ready(s->b);
}

SEALDB_API uint64_t sealdb_txstream_pending(const sealdb_txstream *s) { return s ? s->sent - s->answered : 0; }

/* Batched: decodes one answer's headers into hq (at least one, no more than are unanswered). */
static int take_list(sealdb_txstream *s) {
    sealdb_client *c = s->c;
    Sealdb__Schema__TxHeaderList *l = sealdb__schema__tx_header_list__unpack(NULL, s->msg.len, s->msg.ptr);
    if (!l) return sdb_cl_fail(c, SEALDB_PROTOCOL, "malformed ExecAllBatchStream answer from the server");
    int rc = SEALDB_OK;
    if (!l->n_headers || l->n_headers > s->sent - s->answered) {
        rc = sdb_cl_fail(c, SEALDB_PROTOCOL, "answer to %zu txs with %" PRIu64 " unanswered", l->n_headers,
                         s->sent - s->answered);
    } else if (l->n_headers > s->hq_cap) {
        sealdb_tx_header *q = sdb_realloc(s->hq, l->n_headers * sizeof *q);
        if (!q) rc = sdb_cl_fail(c, SEALDB_NOMEM, "out of memory");
        else { s->hq = q; s->hq_cap = l->n_headers; }
    }
    for (size_t i = 0; rc == SEALDB_OK && i < l->n_headers; i++)
        if (sdb_cl_tx_header_from_pb(l->headers[i], &s->hq[i]) != SEALDB_OK)
            rc = sdb_cl_fail(c, SEALDB_PROTOCOL, "malformed transaction header from the server");
    if (rc == SEALDB_OK) { s->hq_n = l->n_headers; s->hq_pos = 0; }
    protobuf_c_message_free_unpacked(&l->base, NULL);
    return rc;
}

SEALDB_API int sealdb_txstream_recv(sealdb_txstream *s, sealdb_tx_header *hdr) {
    if (!s) return SEALDB_INVALID;
    sealdb_client *c = s->c;
    if (s->hq_pos < s->hq_n) {
        if (hdr) *hdr = s->hq[s->hq_pos];
        s->hq_pos++;
        s->answered++;
        return SEALDB_OK;
    }
    int rc = sealdb_txstream_flush(s);   /* what waits for an answer must have left */
    if (rc != SEALDB_OK && rc != SEALDB_NETWORK) return rc;
    sdb_rpc_status st;
    sdb_rpc_status_init(&st);
    int end = 0;
    rc = sdb_rpc_bidi_recv(s->b, &s->msg, &end, &st);
    if (end) {
        s->ended = 1;
        rc = sdb_cl_take_status(c, rc, &st);
        sdb_rpc_status_deinit(&st);
        return rc != SEALDB_OK ? rc : sdb_cl_fail(c, SEALDB_CLOSED, "the stream has ended");
    }
    sdb_rpc_status_deinit(&st);
    if (rc != SEALDB_OK) return sdb_cl_fail(c, rc, "%s", sealdb_strerror(rc));
    if (s->answered == s->sent) return sdb_cl_fail(c, SEALDB_PROTOCOL, "answer to a tx that was not sent");
    if (s->batched) {
        if ((rc = take_list(s)) != SEALDB_OK) return rc;
        return sealdb_txstream_recv(s, hdr);
    }
    Immudb__Schema__TxHeader *h = immudb__schema__tx_header__unpack(NULL, s->msg.len, s->msg.ptr);
    if (!h) return sdb_cl_fail(c, SEALDB_PROTOCOL, "malformed ExecAllStream answer from the server");
    rc = hdr ? sdb_cl_tx_header_from_pb(h, hdr) : SEALDB_OK;
    protobuf_c_message_free_unpacked(&h->base, NULL);
    if (rc != SEALDB_OK) return sdb_cl_fail(c, rc, "malformed transaction header from the server");
    s->answered++;
    return SEALDB_OK;
}

SEALDB_API int sealdb_txstream_half_close(sealdb_txstream *s) {
    if (!s) return SEALDB_INVALID;
    int rc = sealdb_txstream_flush(s);
    if (rc != SEALDB_OK) return rc;
    rc = sdb_rpc_bidi_half_close(s->b);
    if (rc == SEALDB_OK) s->half_closed = 1;
    return rc == SEALDB_OK ? rc : sdb_cl_fail(s->c, rc, "cannot close the stream");
}

SEALDB_API void sealdb_txstream_close(sealdb_txstream *s) {
    if (!s) return;
    /* nothing unanswered: a half-close lets the server end the call with OK rather than see it cancelled */
    if (!s->ended && s->sent == s->answered && sdb_rpc_bidi_half_close(s->b) == SEALDB_OK) {
        sdb_rpc_status st;
        sdb_rpc_status_init(&st);
        int end = 0;
        if (sdb_rpc_bidi_recv(s->b, &s->msg, &end, &st) != SEALDB_OK) {}
        sdb_rpc_status_deinit(&st);
    }
    sdb_rpc_bidi_close(s->b);
    sdb_buf_deinit(&s->msg);
    sdb_buf_deinit(&s->batch);
    sdb_free(s->hq);
    sdb_free(s);
}
