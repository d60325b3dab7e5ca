/* repl.c - client calls of immudb's replication RPCs: exportTx (server stream of one framed
 * message) and replicateTx (client stream of one framed message); see repl.h. */
#include <stdio.h>
#include <stdlib.h>
#include "client/client_int.h"
#include "client/frame.h"
#include "client/repl.h"

#define CHUNK_SIZE 65536u

void sdb_cl_export_res_init(sdb_cl_export_res *r) { memset(r, 0, sizeof *r); sdb_buf_init(&r->data); }
void sdb_cl_export_res_deinit(sdb_cl_export_res *r) {
    if (!r) return;
    sdb_buf_deinit(&r->data);
    free(r->off);
    free(r->len);
    sdb_cl_export_res_init(r);
}

typedef struct mexp_ctx {
    sdb_frame_rd fr;
    sdb_cl_export_res *out;
    size_t max_msgs;                      /* one per tx asked for: more is a protocol error */
    int mds;                              /* metadata keys seen with the right length */
} mexp_ctx;

static int mexp_start(void *vctx, uint64_t index, uint64_t len) {
    mexp_ctx *x = vctx;
    sdb_cl_export_res *o = x->out;
    (void)index;
    if (o->n >= x->max_msgs) return SEALDB_PROTOCOL;
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 16;
        size_t *off = realloc(o->off, cap * sizeof *off);
        if (!off) return SEALDB_NOMEM;
        o->off = off;
        size_t *ln = realloc(o->len, cap * sizeof *ln);
        if (!ln) return SEALDB_NOMEM;
        o->len = ln;
        o->cap = cap;
    }
    o->off[o->n] = o->data.len;
    o->len[o->n] = (size_t)len;
    o->n++;
    return len > SIZE_MAX - o->data.len ? SEALDB_TOOLARGE : sdb_buf_reserve(&o->data, o->data.len + (size_t)len);
}
static int mexp_data(void *vctx, uint64_t index, const uint8_t *p, size_t n) {
    mexp_ctx *x = vctx;
    (void)index;
    return sdb_buf_append(&x->out->data, p, n);
}
static int mexp_chunk(void *vctx, sdb_slice msg) {
    mexp_ctx *x = vctx;
    Immudb__Schema__Chunk *ch = immudb__schema__chunk__unpack(NULL, msg.len, msg.ptr);
    if (!ch) return SEALDB_PROTOCOL;
    sdb_cl_export_res *o = x->out;
    for (size_t i = 0; i < ch->n_metadata; i++) {
        const Immudb__Schema__Chunk__MetadataEntry *m = ch->metadata[i];
        if (!m->key) continue;
        if (!strcmp(m->key, "may-commit-up-to-txid-bin") && m->value.len == 8) {
            o->may_commit_id = sdb_get_u64be(m->value.data);
            x->mds |= 1;
        } else if (!strcmp(m->key, "may-commit-up-to-alh-bin") && m->value.len == SDB_HASH_LEN) {
            memcpy(o->may_commit_alh, m->value.data, SDB_HASH_LEN);
            x->mds |= 2;
        } else if (!strcmp(m->key, "committed-txid-bin") && m->value.len == 8) {
            o->committed_id = sdb_get_u64be(m->value.data);
            x->mds |= 4;
        }
    }
    int rc = sdb_frame_feed(&x->fr, sdb_slice_of(ch->content.data, ch->content.len));
    immudb__schema__chunk__free_unpacked(ch, NULL);
    return rc;
}

int sdb_cl_export_txs(sealdb_client *c, const sdb_cl_export_req *r, uint64_t max_len, sdb_cl_export_res *out) {
    if (!c || !r || !out || r->tx == 0) return sdb_cl_fail(c, SEALDB_INVALID, "bad arguments");
    Immudb__Schema__ReplicaState rs = IMMUDB__SCHEMA__REPLICA_STATE__INIT;
    Immudb__Schema__ExportTxRequest req = IMMUDB__SCHEMA__EXPORT_TX_REQUEST__INIT;
    req.tx = r->tx;
    req.skipintegritycheck = r->skip_integrity != 0;
    req.allowprecommitted = r->allow_precommitted != 0;
    if (r->state) {
        rs.uuid = (char *)(r->state->uuid ? r->state->uuid : "");
        rs.committedtxid = r->state->committed_id;
        rs.committedalh.data = (uint8_t *)r->state->committed_alh;
        rs.committedalh.len = SDB_HASH_LEN;
        rs.precommittedtxid = r->state->pre_id;
        rs.precommittedalh.data = (uint8_t *)r->state->pre_alh;
        rs.precommittedalh.len = SDB_HASH_LEN;
        req.replicastate = &rs;
    }
    uint8_t packed[256];
    if (protobuf_c_message_get_packed_size(&req.base) > sizeof packed) return sdb_cl_fail(c, SEALDB_INVALID, "replica UUID too long");
    size_t pl = immudb__schema__export_tx_request__pack(&req, packed);
    sdb_buf_reset(&out->data);
    out->n = 0;
    out->has_md = 0;
    out->may_commit_id = out->committed_id = 0;
    mexp_ctx x;
    memset(&x, 0, sizeof x);
    x.out = out;
    x.max_msgs = r->batch > 1 ? r->batch : 1;
    sdb_frame_rd_init(&x.fr, max_len, &x);
    x.fr.on_start = mexp_start;
    x.fr.on_data = mexp_data;
    sdb_rpc_md md[4];
    size_t nmd = sdb_cl_auth_md(c, md);
    char bs[24], ws[24];
    if (r->batch > 1) {
        snprintf(bs, sizeof bs, "%u", r->batch);
        md[nmd++] = (sdb_rpc_md){ "sealdb-export-batch", bs };
    }
    if (r->wait_ms) {
        snprintf(ws, sizeof ws, "%u", r->wait_ms);
        md[nmd++] = (sdb_rpc_md){ "sealdb-export-wait-ms", ws };
    }
    int tmo = c->timeout_ms > 0 ? c->timeout_ms + (int)r->wait_ms : -1;
    sdb_rpc_status st;
    sdb_rpc_status_init(&st);
    int rc = sdb_rpc_server_stream(c->conn, SDB_SVC "exportTx", md, nmd, sdb_slice_of(packed, pl), tmo, mexp_chunk, &x, &st);
    int local = rc;
    rc = sdb_cl_take_status(c, rc, &st);
    sdb_rpc_status_deinit(&st);
    if (rc != SEALDB_OK) {
        if (local == SEALDB_PROTOCOL || local == SEALDB_TOOLARGE) return sdb_cl_fail(c, local, "malformed export stream");
        return rc;
    }
    if (sdb_frame_finish(&x.fr) != SEALDB_OK || out->n == 0) return sdb_cl_fail(c, SEALDB_PROTOCOL, "truncated export stream");
    out->has_md = x.mds == 7;
    return SEALDB_OK;
}

int sdb_cl_export_tx(sealdb_client *c, uint64_t tx, int skip_integrity, uint64_t max_len, sdb_buf *payload) {
    if (!c || !payload || tx == 0) return sdb_cl_fail(c, SEALDB_INVALID, "bad arguments");
    sdb_cl_export_req rq = { .tx = tx, .skip_integrity = skip_integrity };
    sdb_cl_export_res res;
    sdb_cl_export_res_init(&res);
    res.data = *payload;   /* the answer is written into the caller's buffer, then handed back */
    int rc = sdb_cl_export_txs(c, &rq, max_len, &res);
    *payload = res.data;
    sdb_buf_init(&res.data);
    sdb_cl_export_res_deinit(&res);
    return rc;
}

typedef struct rep_ctx {
    sdb_slice p;
    size_t sent;          /* bytes of u64(L) || P sent */
    uint8_t *buf;
    sdb_buf packed;
} rep_ctx;

static int rep_next(void *vctx, sdb_slice *msg, int *done) {
    rep_ctx *r = vctx;
    size_t total = r->p.len + 8;
    if (r->sent >= total) { *done = 1; return SEALDB_OK; }
    size_t n = 0;
    if (r->sent == 0) {
        sdb_put_u64be(r->buf, r->p.len);
        n = 8;
    }
    size_t from = r->sent + n - 8, want = total - r->sent - n;
    if (want > CHUNK_SIZE - n) want = CHUNK_SIZE - n;
    if (want) memcpy(r->buf + n, r->p.ptr + from, want);
    n += want;
    r->sent += n;
    Immudb__Schema__Chunk ch = IMMUDB__SCHEMA__CHUNK__INIT;
    ch.content.data = r->buf;
    ch.content.len = n;
    sdb_buf_reset(&r->packed);
    size_t sz = protobuf_c_message_get_packed_size(&ch.base);
    int rc = sdb_buf_reserve(&r->packed, sz ? sz : 1);
    if (rc) return rc;
    r->packed.len = protobuf_c_message_pack(&ch.base, r->packed.ptr);
    *msg = sdb_buf_slice(&r->packed);
    return SEALDB_OK;
}

int sdb_cl_replicate_tx(sealdb_client *c, sdb_slice payload, const uint8_t *expect_alh, sdb_tx_header *hdr) {
    if (!c || !hdr) return sdb_cl_fail(c, SEALDB_INVALID, "bad arguments");
    rep_ctx r;
    memset(&r, 0, sizeof r);
    r.p = payload;
    sdb_buf_init(&r.packed);
    if (!(r.buf = sdb_malloc(CHUNK_SIZE))) return sdb_cl_fail(c, SEALDB_NOMEM, "out of memory");
    sdb_rpc_md md[3];
    size_t nmd = sdb_cl_auth_md(c, md);
    char hex[2 * SDB_HASH_LEN + 1];
    if (expect_alh) {
        sdb_hex_encode(expect_alh, SDB_HASH_LEN, hex);
        md[nmd++] = (sdb_rpc_md){ "sealdb-expected-alh", hex };
    }
    sdb_rpc_status st;
    sdb_rpc_status_init(&st);
    int rc = sdb_rpc_client_stream(c->conn, SDB_SVC "replicateTx", md, nmd, c->timeout_ms > 0 ? c->timeout_ms : -1,
                                   rep_next, &r, &c->resp, &st);
    rc = sdb_cl_take_status(c, rc, &st);
    sdb_rpc_status_deinit(&st);
    sdb_free(r.buf);
    sdb_buf_deinit(&r.packed);
    if (rc != SEALDB_OK) return rc;
    Immudb__Schema__TxHeader *h = immudb__schema__tx_header__unpack(NULL, c->resp.len, c->resp.ptr);
    if (!h) return sdb_cl_fail(c, SEALDB_PROTOCOL, "malformed replicateTx answer");
    rc = sdb_cl_crypto_header(h, hdr);
    protobuf_c_message_free_unpacked(&h->base, NULL);
    return rc == SEALDB_OK ? rc : sdb_cl_fail(c, rc, "malformed transaction header");
}

int sdb_cl_last_grpc_code(const sealdb_client *c) { return c ? c->grpc_code : 0; }

int sdb_cl_set_replica(sealdb_client *c, const char *name, int replica, int create) {
    if (!c || !name || !*name) return sdb_cl_fail(c, SEALDB_INVALID, "empty database name");
    Immudb__Schema__NullableBool rb = IMMUDB__SCHEMA__NULLABLE_BOOL__INIT;
    rb.value = replica != 0;
    Immudb__Schema__ReplicationNullableSettings rs = IMMUDB__SCHEMA__REPLICATION_NULLABLE_SETTINGS__INIT;
    rs.replica = &rb;
    Immudb__Schema__DatabaseNullableSettings st = IMMUDB__SCHEMA__DATABASE_NULLABLE_SETTINGS__INIT;
    st.replicationsettings = &rs;
    if (create) {
        Immudb__Schema__CreateDatabaseRequest req = IMMUDB__SCHEMA__CREATE_DATABASE_REQUEST__INIT;
        req.name = (char *)name;
        req.settings = &st;
        return sdb_cl_call(c, "CreateDatabaseV2", &req.base, NULL, NULL);
    }
    Immudb__Schema__UpdateDatabaseRequest req = IMMUDB__SCHEMA__UPDATE_DATABASE_REQUEST__INIT;
    req.database = (char *)name;
    req.settings = &st;
    return sdb_cl_call(c, "UpdateDatabaseV2", &req.base, NULL, NULL);
}
