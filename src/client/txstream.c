/* txstream.c - sealdb's ExecAllStream from libsealdb-client: ExecAlls sent on one bidirectional call
 * (encoded by kv.c's builder straight into the outgoing message) and their tx headers taken in order. */
#include "client/client_int.h"

#define TXSTREAM_METHOD "/sealdb.schema.SealService/ExecAllStream"

struct sealdb_txstream {
    sealdb_client *c;
    sdb_rpc_bidi *b;
    sdb_buf msg;                  /* the last answer's bytes (reused) */
    uint64_t sent, answered;
    int ended;                    /* the call's end was seen by recv */
};

SEALDB_API int sealdb_client_txstream_open(sealdb_client *c, sealdb_txstream **out) {
    if (!c || !out) return sdb_cl_fail(c, SEALDB_INVALID, "bad arguments");
    *out = NULL;
    sealdb_txstream *s = sdb_calloc(1, sizeof *s);
    if (!s) return sdb_cl_fail(c, SEALDB_NOMEM, "out of memory");
    s->c = c;
    sdb_buf_init(&s->msg);
    sdb_rpc_md md[2];
    size_t nmd = sdb_cl_auth_md(c, md);
    int rc = sdb_rpc_bidi_open(c->conn, TXSTREAM_METHOD, md, nmd, c->timeout_ms, &s->b);
    if (rc != SEALDB_OK) {
        sdb_free(s);
        return sdb_cl_fail(c, rc, "%s", rc == SEALDB_NETWORK ? "cannot start the stream" : sealdb_strerror(rc));
    }
    *out = s;
    return SEALDB_OK;
}

static int stream_sink(sealdb_client *c, const ProtobufCMessage *req, void *arg) {
    sealdb_txstream *s = arg;
    size_t n = protobuf_c_message_get_packed_size(req);
    protobuf_c_message_pack(req, sdb_rpc_bidi_msg(s->b, n));
    int rc = sdb_rpc_bidi_send(s->b);
    if (rc == SEALDB_NETWORK) return sdb_cl_fail(c, rc, "the stream has ended (its end tells why)");
    if (rc != SEALDB_OK) return sdb_cl_fail(c, rc, "%s", sealdb_strerror(rc));
    s->sent++;
    return SEALDB_OK;
}

SEALDB_API int sealdb_txstream_send(sealdb_txstream *s, const sealdb_op *ops, size_t n,
                                    const sealdb_precondition *pre, size_t npre) {
    if (!s) return SEALDB_INVALID;
    if (!n) return sdb_cl_fail(s->c, SEALDB_INVALID, "bad arguments");
    return sdb_cl_exec_all_req(s->c, ops, n, pre, npre, stream_sink, s);
}

SEALDB_API int sealdb_txstream_ready(sealdb_txstream *s) { return s ? sdb_rpc_bidi_ready(s->b) : 1; }

SEALDB_API uint64_t sealdb_txstream_pending(const sealdb_txstream *s) { return s ? s->sent - s->answered : 0; }

SEALDB_API int sealdb_txstream_recv(sealdb_txstream *s, sealdb_tx_header *hdr) {
    if (!s) return SEALDB_INVALID;
    sealdb_client *c = s->c;
    sdb_rpc_status st;
    sdb_rpc_status_init(&st);
    int end = 0;
    int rc = sdb_rpc_bidi_recv(s->b, &s->msg, &end, &st);
    if (end) {
        s->ended = 1;
        rc = sdb_cl_take_status(c, rc, &st);
        sdb_rpc_status_deinit(&st);
        return rc != SEALDB_OK ? rc : sdb_cl_fail(c, SEALDB_CLOSED, "the stream has ended");
    }
    sdb_rpc_status_deinit(&st);
    if (rc != SEALDB_OK) return sdb_cl_fail(c, rc, "%s", sealdb_strerror(rc));
    if (s->answered == s->sent) return sdb_cl_fail(c, SEALDB_PROTOCOL, "answer to a tx that was not sent");
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
    int rc = sdb_rpc_bidi_half_close(s->b);
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
    sdb_free(s);
}
