/* stream.c - large values through immudb's stream RPCs: streamSet sends (key, value) as framed
 * messages in 64 KiB Chunks read from a callback; streamGet hands the value's bytes to a callback as
 * the chunks arrive. Memory stays O(chunk size) whatever the value size. */
#include "client/client_int.h"
#include "client/frame.h"

#define CHUNK_SIZE 65536u
#define MAX_STREAM_VALUE (1ull << 40)

static int chunk_pack(sdb_buf *out, const uint8_t *p, size_t n) {
    Immudb__Schema__Chunk ch = IMMUDB__SCHEMA__CHUNK__INIT;
    ch.content.data = (uint8_t *)(uintptr_t)p;
    ch.content.len = n;
    sdb_buf_reset(out);
    size_t sz = protobuf_c_message_get_packed_size(&ch.base);
    int rc = sdb_buf_reserve(out, sz ? sz : 1);
    if (rc) return rc;
    out->len = protobuf_c_message_pack(&ch.base, out->ptr);
    return SEALDB_OK;
}

typedef struct set_ctx {
    sdb_slice key;
    uint64_t value_len, sent;
    sealdb_read_fn read_fn;
    void *ctx;
    sealdb_progress_fn progress;
    int stage;                    /* 0: key, 1: value chunks, 2: done */
    uint8_t *buf;                 /* CHUNK_SIZE bytes */
    sdb_buf packed;
} set_ctx;

/* Reads exactly want bytes (or fewer at a premature end) from the caller's callback. */
static int read_full(set_ctx *s, uint8_t *p, size_t want, size_t *got) {
    *got = 0;
    while (*got < want) {
        long n = s->read_fn(s->ctx, p + *got, want - *got);
        if (n < 0) return SEALDB_IO;
        if (n == 0) break;
        if ((size_t)n > want - *got) return SEALDB_INVALID;
        *got += (size_t)n;
    }
    return SEALDB_OK;
}

static int set_next(void *vctx, sdb_slice *msg, int *done) {
    set_ctx *s = vctx;
    size_t n = 0, got = 0;
    int rc;
    switch (s->stage) {
    case 0:   /* key message, alone in its chunk */
        if (s->key.len > CHUNK_SIZE - 8) return SEALDB_TOOLARGE;
        sdb_put_u64be(s->buf, s->key.len);
        memcpy(s->buf + 8, s->key.ptr, s->key.len);
        n = 8 + s->key.len;
        s->stage = 1;
        break;
    case 1: {  /* value header plus the first value bytes */
        sdb_put_u64be(s->buf, s->value_len);
        size_t want = s->value_len < CHUNK_SIZE - 8 ? (size_t)s->value_len : CHUNK_SIZE - 8;
        if ((rc = read_full(s, s->buf + 8, want, &got)) != SEALDB_OK) return rc;
        if (got != want) return SEALDB_INVALID;   /* the value is shorter than announced */
        n = 8 + got;
        s->sent = got;
        s->stage = s->sent == s->value_len ? 3 : 2;
        break;
    }
    case 2: {
        uint64_t left = s->value_len - s->sent;
        size_t want = left < CHUNK_SIZE ? (size_t)left : CHUNK_SIZE;
        if ((rc = read_full(s, s->buf, want, &got)) != SEALDB_OK) return rc;
        if (got != want) return SEALDB_INVALID;
        n = got;
        s->sent += got;
        if (s->sent == s->value_len) s->stage = 3;
        break;
    }
    default: {
        uint8_t extra;
        if ((rc = read_full(s, &extra, 1, &got)) != SEALDB_OK) return rc;
        if (got) return SEALDB_INVALID;           /* longer than announced */
        *done = 1;
        return SEALDB_OK;
    }
    }
    if (s->progress && s->stage >= 2) s->progress(s->ctx, s->sent, s->value_len);
    if ((rc = chunk_pack(&s->packed, s->buf, n)) != SEALDB_OK) return rc;
    *msg = sdb_buf_slice(&s->packed);
    return SEALDB_OK;
}

SEALDB_API int sealdb_client_stream_set(sealdb_client *c, const void *key, size_t key_len,
                                        uint64_t value_len, sealdb_read_fn read_fn, void *ctx,
                                        sealdb_progress_fn progress, sealdb_tx_header *hdr) {
    if (!c || !key || !key_len || !read_fn || value_len > MAX_STREAM_VALUE)
        return sdb_cl_fail(c, SEALDB_INVALID, "bad arguments");
    set_ctx s;
    memset(&s, 0, sizeof s);
    s.key = sdb_slice_of(key, key_len);
    s.value_len = value_len;
    s.read_fn = read_fn;
    s.ctx = ctx;
    s.progress = progress;
    sdb_buf_init(&s.packed);
    if (!(s.buf = sdb_malloc(CHUNK_SIZE))) return sdb_cl_fail(c, SEALDB_NOMEM, "out of memory");
    sdb_rpc_md md[2];
    size_t nmd = sdb_cl_auth_md(c, md);
    sdb_rpc_status st;
    sdb_rpc_status_init(&st);
    int rc = sdb_rpc_client_stream(c->conn, SDB_SVC "streamSet", md, nmd, -1, set_next, &s, &c->resp, &st);
    int local = rc;
    rc = sdb_cl_take_status(c, rc, &st);
    sdb_rpc_status_deinit(&st);
    sdb_free(s.buf);
    sdb_buf_deinit(&s.packed);
    if (local == SEALDB_INVALID)
        return sdb_cl_fail(c, SEALDB_INVALID, "the value's length differs from the announced one");
    if (rc != SEALDB_OK) return rc;
    Immudb__Schema__TxHeader *h = immudb__schema__tx_header__unpack(NULL, c->resp.len, c->resp.ptr);
    if (!h) return sdb_cl_fail(c, SEALDB_PROTOCOL, "malformed streamSet answer");
    if (hdr) rc = sdb_cl_tx_header_from_pb(h, hdr);
    protobuf_c_message_free_unpacked(&h->base, NULL);
    return rc == SEALDB_OK ? rc : sdb_cl_fail(c, rc, "malformed transaction header");
}

typedef struct get_ctx {
    sdb_frame_rd fr;
    sealdb_write_fn write_fn;
    void *ctx;
    sealdb_progress_fn progress;
    uint64_t value_len, got;
    int have_value;
} get_ctx;

static int get_start(void *vctx, uint64_t index, uint64_t len) {
    get_ctx *g = vctx;
    if (index > 1) return SEALDB_PROTOCOL;        /* key, value: nothing else */
    if (index == 1) { g->value_len = len; g->have_value = 1; }
    return SEALDB_OK;
}

static int get_data(void *vctx, uint64_t index, const uint8_t *p, size_t n) {
    get_ctx *g = vctx;
    if (index != 1) return SEALDB_OK;             /* the resolved key: not needed */
    if (g->write_fn(g->ctx, p, n) != 0) return SEALDB_IO;
    g->got += n;
    if (g->progress) g->progress(g->ctx, g->got, g->value_len);
    return SEALDB_OK;
}

static int get_chunk(void *vctx, sdb_slice msg) {
    get_ctx *g = vctx;
    Immudb__Schema__Chunk *ch = immudb__schema__chunk__unpack(NULL, msg.len, msg.ptr);
    if (!ch) return SEALDB_PROTOCOL;
    int rc = sdb_frame_feed(&g->fr, sdb_slice_of(ch->content.data, ch->content.len));
    immudb__schema__chunk__free_unpacked(ch, NULL);
    return rc;
}

SEALDB_API int sealdb_client_stream_get(sealdb_client *c, const void *key, size_t key_len,
                                        sealdb_write_fn write_fn, void *ctx, sealdb_progress_fn progress,
                                        uint64_t *value_len) {
    if (!c || !key || !key_len || !write_fn) return sdb_cl_fail(c, SEALDB_INVALID, "bad arguments");
    Immudb__Schema__KeyRequest req = IMMUDB__SCHEMA__KEY_REQUEST__INIT;
    req.key.data = (uint8_t *)(uintptr_t)key;
    req.key.len = key_len;
    sdb_buf packed;
    sdb_buf_init(&packed);
    size_t sz = immudb__schema__key_request__get_packed_size(&req);
    if (sdb_buf_reserve(&packed, sz ? sz : 1)) return sdb_cl_fail(c, SEALDB_NOMEM, "out of memory");
    packed.len = immudb__schema__key_request__pack(&req, packed.ptr);
    get_ctx g;
    memset(&g, 0, sizeof g);
    sdb_frame_rd_init(&g.fr, MAX_STREAM_VALUE, &g);
    g.fr.on_start = get_start;
    g.fr.on_data = get_data;
    g.write_fn = write_fn;
    g.ctx = ctx;
    g.progress = progress;
    sdb_rpc_md md[2];
    size_t nmd = sdb_cl_auth_md(c, md);
    sdb_rpc_status st;
    sdb_rpc_status_init(&st);
    int rc = sdb_rpc_server_stream(c->conn, SDB_SVC "streamGet", md, nmd, sdb_buf_slice(&packed), -1,
                                   get_chunk, &g, &st);
    int local = rc;
    rc = sdb_cl_take_status(c, rc, &st);
    sdb_rpc_status_deinit(&st);
    sdb_buf_deinit(&packed);
    if (rc != SEALDB_OK) {
        if (local == SEALDB_PROTOCOL || local == SEALDB_TOOLARGE) return sdb_cl_fail(c, SEALDB_PROTOCOL, "malformed stream from the server");
        if (local == SEALDB_IO) return sdb_cl_fail(c, SEALDB_IO, "cannot write the value");
        return rc;
    }
    if (sdb_frame_finish(&g.fr) != SEALDB_OK || !g.have_value || g.got != g.value_len)
        return sdb_cl_fail(c, SEALDB_PROTOCOL, "truncated stream from the server");
    if (value_len) *value_len = g.value_len;
    return SEALDB_OK;
}
