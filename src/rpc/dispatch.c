/* dispatch.c - the transport-independent half of every call: method lookup, request decoding into
 * the call's arena, caller resolution and permission checks, handler invocation, response encoding
 * and the chunk framing of streams. grpc_server.c (or the fuzz target) feeds it bytes. */
#include <stdio.h>
#include <stdlib.h>
#include "rpc/server.h"

#define CALL_ARENA_BLOCK 8192

static void *pb_alloc(void *ad, size_t n) { return sdb_arena_alloc((sdb_arena *)ad, n ? n : 1); }
static void pb_free(void *ad, void *p) { (void)ad; (void)p; }

sdb_call *sdb_call_new(sdb_server *s, const char *path, size_t path_len, const sdb_call_ops *ops, void *tctx) {
    sdb_call *c = sdb_calloc(1, sizeof *c);
    if (!c) return NULL;
    sdb_arena_init(&c->arena, CALL_ARENA_BLOCK);
    c->pba.alloc = pb_alloc;
    c->pba.free = pb_free;
    c->pba.allocator_data = &c->arena;
    c->srv = s;
    c->ops = ops;
    c->tctx = tctx;
    c->peer = "";
    c->start_ns = sdb_now_ns();
    atomic_init(&c->refs, 1);
    if (path_len >= sizeof c->path) path_len = sizeof c->path - 1;
    memcpy(c->path, path, path_len);
    c->path[path_len] = 0;
    atomic_fetch_add(&s->inflight, 1);
    return c;
}

static void call_free(sdb_call *c) {
    if (c->db) sdb_db_release(c->srv, c->db);
    atomic_fetch_sub(&c->srv->inflight, 1);
    sdb_arena_deinit(&c->arena);
    sdb_free(c);
}

int sdb_call_add_metadata(sdb_call *c, const char *k, size_t kl, const char *v, size_t vl) {
    if (c->n_md >= 64) return SEALDB_OK;   /* more headers than any SDK sends: ignore the rest */
    if (c->n_md % 8 == 0) {
        const char **nk = sdb_arena_alloc(&c->arena, (c->n_md + 8) * sizeof *nk);
        const char **nv = sdb_arena_alloc(&c->arena, (c->n_md + 8) * sizeof *nv);
        if (!nk || !nv) return SEALDB_NOMEM;
        if (c->n_md) { memcpy(nk, c->md_key, c->n_md * sizeof *nk); memcpy(nv, c->md_val, c->n_md * sizeof *nv); }
        c->md_key = nk; c->md_val = nv;
    }
    char *ks = sdb_arena_alloc(&c->arena, kl + 1), *vs = sdb_arena_alloc(&c->arena, vl + 1);
    if (!ks || !vs) return SEALDB_NOMEM;
    memcpy(ks, k, kl); ks[kl] = 0;
    if (vl) memcpy(vs, v, vl);
    vs[vl] = 0;
    c->md_key[c->n_md] = ks; c->md_val[c->n_md] = vs; c->n_md++;
    return SEALDB_OK;
}

void sdb_call_set_peer(sdb_call *c, const char *peer) {
    char *p = peer ? sdb_arena_dup(&c->arena, peer, strlen(peer) + 1) : NULL;
    c->peer = p ? p : "";
}

void sdb_call_unref(sdb_call *c) {
    if (c && atomic_fetch_sub(&c->refs, 1) == 1) call_free(c);
}

/* ---- accessors ---- */
sdb_arena *sdb_call_arena(sdb_call *c) { return &c->arena; }
void *sdb_call_alloc(sdb_call *c, size_t n) {
    void *p = sdb_arena_alloc(&c->arena, n ? n : 1);
    if (p) memset(p, 0, n);
    return p;
}
void *sdb_call_dup(sdb_call *c, const void *p, size_t n) { return sdb_arena_dup(&c->arena, p, n); }
ProtobufCAllocator *sdb_call_pb_allocator(sdb_call *c) { return &c->pba; }
sdb_server *sdb_call_server(sdb_call *c) { return c->srv; }
const sdb_rpc_method *sdb_call_method(sdb_call *c) { return c->method; }
sdb_database *sdb_call_db(sdb_call *c) { return c->db; }
const char *sdb_call_user(sdb_call *c) { return c->user; }
uint32_t sdb_call_user_permission(sdb_call *c) { return c->perm; }
const char *sdb_call_peer(sdb_call *c) { return c->peer; }
const char *sdb_call_metadata(sdb_call *c, const char *key) {
    for (size_t i = 0; i < c->n_md; i++)
        if (strcmp(c->md_key[i], key) == 0) return c->md_val[i];
    return NULL;
}
const sdb_signer *sdb_server_signer(const sdb_server *s) { return s->signer; }
const char *sdb_server_uuid(const sdb_server *s) { return s->uuid; }

const char *sdb_database_name(const sdb_database *d) { return d->name; }
const sdb_db_settings *sdb_database_settings(const sdb_database *d) { return &d->settings; }
void *sdb_database_impl(const sdb_database *d) { return d->impl; }
void sdb_database_set_impl(sdb_database *d, void *impl) { d->impl = impl; }
int sdb_database_is_system(const sdb_database *d) { return d->system; }

/* ---- lookup: binary search over the sorted method table ---- */
const sdb_rpc_method *sdb_dispatch_lookup(sdb_server *s, const char *path, size_t *idx) {
    size_t lo = 0, hi = s->n_methods;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int r = strcmp(s->methods[mid]->path, path);
        if (r == 0) { if (idx) *idx = mid; return s->methods[mid]; }
        if (r < 0) lo = mid + 1; else hi = mid;
    }
    return NULL;
}

/* ---- answering ---- */
static void finish(sdb_call *c, int code, const char *msg, const uint8_t *buf, size_t len) {
    sdb_stat_record(c->srv, c, code);
    if (sdb_log_access_on) sdb_log_access(c, code);
    atomic_store(&c->srv->last_request_ms, (int64_t)sdb_now_ms());
    c->ops->finish(c, code, msg ? msg : "", buf, len);
}

static void answer(sdb_call *c, int code, const char *msg, const ProtobufCMessage *resp) {
    uint8_t *buf = NULL;
    size_t len = 0;
    if (code == SDB_GRPC_OK && resp) {
        len = protobuf_c_message_get_packed_size(resp);
        buf = sdb_arena_alloc(&c->arena, len ? len : 1);
        if (!buf) { code = SDB_GRPC_RESOURCE_EXHAUSTED; msg = "out of memory"; len = 0; }
        else protobuf_c_message_pack(resp, buf);
    }
    finish(c, code, msg, buf, len);
}

int sdb_call_ok_packed(sdb_call *c, const uint8_t *resp, size_t len) {
    if (atomic_exchange(&c->answered, 1)) return SDB_CALL_DONE;
    static const uint8_t empty[1];
    finish(c, SDB_GRPC_OK, "", resp ? resp : empty, len);
    return SDB_CALL_DONE;
}

int sdb_call_ok(sdb_call *c, const ProtobufCMessage *resp) {
    if (atomic_exchange(&c->answered, 1)) return SDB_CALL_DONE;
    answer(c, SDB_GRPC_OK, "", resp);
    return SDB_CALL_DONE;
}

int sdb_call_error(sdb_call *c, sdb_grpc_code code, const char *fmt, ...) {
    if (atomic_exchange(&c->answered, 1)) return SDB_CALL_DONE;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    answer(c, code == SDB_GRPC_OK ? SDB_GRPC_UNKNOWN : code, msg, NULL);
    return SDB_CALL_DONE;
}

int sdb_call_error_info(sdb_call *c, sdb_grpc_code code, const char *err_code, const char *cause, const char *msg) {
    if (atomic_exchange(&c->answered, 1)) return SDB_CALL_DONE;
    if (code == SDB_GRPC_OK) code = SDB_GRPC_UNKNOWN;
    if (!msg) msg = "";
    if (err_code) {
        c->err_info_code = err_code;
        const char *cs = cause ? cause : msg;   /* a bare coded error is its own cause */
        c->err_cause = sdb_arena_dup(&c->arena, cs, strlen(cs) + 1);
        if (!c->err_cause) c->err_info_code = NULL;
    }
    answer(c, code, msg, NULL);
    return SDB_CALL_DONE;
}

void sdb_call_complete(sdb_call *c, sdb_grpc_code code, const char *msg, const ProtobufCMessage *resp) {
    if (atomic_exchange(&c->answered, 1)) return;
    answer(c, code, code == SDB_GRPC_OK ? "" : (msg ? msg : "unknown error"), code == SDB_GRPC_OK ? resp : NULL);
}

int sdb_call_defer(sdb_call *c, void (*fn)(sdb_call *c, void *arg), void *arg) {
    if (!c->ops->defer) return SEALDB_UNSUPPORTED;
    return c->ops->defer(c, fn, arg) ? SEALDB_UNSUPPORTED : SEALDB_OK;
}

/* ---- streams ---- */
/* Sends head (hn bytes, first chunk only) then p as Chunk{content #1 bytes} messages of at most
 * SDB_STREAM_CHUNK_SIZE content bytes each (tag 0x0a, varint length, bytes); md, already encoded
 * Chunk fields, follows the first chunk's content. At least one chunk is sent. */
static int send_chunks(sdb_call *c, const uint8_t *head, size_t hn, const uint8_t *src, size_t n, const uint8_t *md,
                       size_t md_len) {
    if (!c->ops->send) return SEALDB_INVALID;
    uint8_t *buf = sdb_malloc(SDB_STREAM_CHUNK_SIZE + 16 + md_len);
    if (!buf) return SEALDB_NOMEM;
    int rc = SEALDB_OK;
    size_t off = 0, h = hn, extra = md_len;   /* h and extra: first chunk only */
    do {
        size_t piece = n - off < SDB_STREAM_CHUNK_SIZE - h ? n - off : SDB_STREAM_CHUNK_SIZE - h;
        size_t hl = 0, v = h + piece;
        buf[hl++] = 0x0a;
        do { uint8_t b = v & 0x7f; v >>= 7; buf[hl++] = (uint8_t)(b | (v ? 0x80 : 0)); } while (v);
        if (h) memcpy(buf + hl, head, h);
        hl += h;
        if (piece) memcpy(buf + hl, src + off, piece);
        if (extra) memcpy(buf + hl + piece, md, extra);
        rc = c->ops->send(c, buf, hl + piece + extra);
        off += piece;
        h = extra = 0;
    } while (!rc && off < n);
    sdb_free(buf);
    return rc;
}

int sdb_call_send_msg(sdb_call *c, const void *p, size_t n) { return sdb_call_send_msg_md(c, p, n, NULL, 0); }

int sdb_call_send_msg_md(sdb_call *c, const void *p, size_t n, const uint8_t *md, size_t md_len) {
    uint8_t len[8];
    sdb_put_u64be(len, (uint64_t)n);
    return send_chunks(c, len, sizeof len, p, n, md, md_len);
}

int sdb_call_send_bytes_md(sdb_call *c, const void *p, size_t n, const uint8_t *md, size_t md_len) {
    return send_chunks(c, NULL, 0, p, n, md, md_len);
}

int sdb_call_add_trailer(sdb_call *c, const char *key, const void *v, size_t n) {
    if (c->n_ok_trail >= SDB_CALL_MAX_TRAILERS) return SEALDB_TOOLARGE;
    char *k = sdb_arena_dup(&c->arena, key, strlen(key) + 1);
    uint8_t *val = sdb_arena_dup(&c->arena, n ? v : "", n ? n : 1);
    if (!k || !val) return SEALDB_NOMEM;
    c->ok_trail_key[c->n_ok_trail] = k;
    c->ok_trail_val[c->n_ok_trail] = sdb_slice_of(val, n);
    c->n_ok_trail++;
    return SEALDB_OK;
}

int sdb_call_send_u64(sdb_call *c, uint64_t v) {
    uint8_t b[8];
    sdb_put_u64be(b, v);
    return sdb_call_send_msg(c, b, 8);
}

int sdb_call_send_pb(sdb_call *c, const ProtobufCMessage *m) {
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *b = sdb_malloc(n ? n : 1);
    if (!b) return SEALDB_NOMEM;
    protobuf_c_message_pack(m, b);
    int rc = sdb_call_send_msg(c, b, n);
    sdb_free(b);
    return rc;
}

/* ---- request shape: bounded before protobuf-c allocates ----
 * protobuf-c allocates a struct or a copy for every sub-message, repeated element, bytes field and
 * unknown field it decodes, so a request of tiny items amplifies memory (a 15 MB ExecAll of empty
 * ops peaked at +700 MB, a GetAll of empty keys at +340 MB) before any handler can check a count.
 * Every list a request carries (keys, KVs, ops, preconditions) is bounded by the max result size
 * (2500) or the database's max entries per tx, so the decoded items are capped at a generous
 * multiple of that, counted over the wire bytes at every nesting level. */
#define REQ_ITEMS_PER_ENTRY 64u      /* fields an entry may carry: op, kv, key, value, metadata ... */
#define REQ_MIN_ENTRIES     2500u    /* immudb's max result size (keys per GetAll) */
#define REQ_MAX_DEPTH       32

static size_t request_item_cap(const sdb_call *c) {
    size_t n = REQ_MIN_ENTRIES;
    if (c->db && c->db->settings.max_tx_entries > n) n = c->db->settings.max_tx_entries;
    return n * REQ_ITEMS_PER_ENTRY;
}

static int rd_varint(const uint8_t **p, const uint8_t *end, uint64_t *v) {
    uint64_t x = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) { *v = x; return 0; }
    }
    return -1;
}

/* Adds the field occurrences of message bytes [p, end) of type d (NULL: unknown) to *items; -1 if
 * the count passes cap. Malformed bytes stop the walk with 0: the decoder reports them. */
static int count_items(const ProtobufCMessageDescriptor *d, const uint8_t *p, const uint8_t *end, int depth,
                       size_t cap, size_t *items) {
    while (p < end) {
        uint64_t tag, len;
        if (rd_varint(&p, end, &tag)) return 0;
        if (++*items > cap) return -1;
        switch (tag & 7) {
        case 0: if (rd_varint(&p, end, &len)) return 0; break;
        case 1: if (end - p < 8) return 0; p += 8; break;
        case 5: if (end - p < 4) return 0; p += 4; break;
        case 2: {
            if (rd_varint(&p, end, &len) || len > (uint64_t)(end - p)) return 0;
            const ProtobufCFieldDescriptor *f = d ? protobuf_c_message_descriptor_get_field(d, (unsigned)(tag >> 3)) : NULL;
            if (f && f->type == PROTOBUF_C_TYPE_MESSAGE && depth < REQ_MAX_DEPTH &&
                count_items(f->descriptor, p, p + len, depth + 1, cap, items))
                return -1;
            p += len;
            break;
        }
        default: return 0;
        }
    }
    return 0;
}

/* 0 if request bytes of type d stay within the item cap, else the call is answered. */
static int check_request_items(sdb_call *c, const ProtobufCMessageDescriptor *d, sdb_slice req) {
    size_t items = 0, cap = request_item_cap(c);
    if (!count_items(d, req.ptr, req.ptr + req.len, 0, cap, &items)) return 0;
    sdb_call_error(c, SDB_GRPC_RESOURCE_EXHAUSTED, "request has too many items (more than %zu)", cap);
    return -1;
}

/* Next chunk's content into c->rx; *eof at the end of the client stream. */
static int next_chunk(sdb_call *c, int *eof) {
    *eof = 0;
    for (;;) {
        sdb_slice raw;
        int e = 0;
        int rc = c->ops->recv(c, &raw, &e);
        if (rc) return rc;
        if (e) { *eof = 1; return SEALDB_OK; }
        /* a Chunk's metadata map entries are decoded items too; this answer wins over the handler's */
        if (check_request_items(c, &immudb__schema__chunk__descriptor, raw)) return SEALDB_TOOLARGE;
        Immudb__Schema__Chunk *ch = (Immudb__Schema__Chunk *)protobuf_c_message_unpack(
            &immudb__schema__chunk__descriptor, &c->pba, raw.len, raw.ptr);
        if (!ch) return SEALDB_PROTOCOL;
        c->rx = sdb_slice_of(ch->content.data, ch->content.len);
        c->rx_off = 0;
        if (c->rx.len) return SEALDB_OK;
    }
}

/* Reads exactly n bytes from the chunk byte stream into dst; *eof only when nothing was read. */
static int rx_read(sdb_call *c, uint8_t *dst, size_t n, int *eof) {
    size_t got = 0;
    *eof = 0;
    while (got < n) {
        if (c->rx_off == c->rx.len) {
            if (c->rx_eof) return got ? SEALDB_PROTOCOL : (*eof = 1, SEALDB_OK);
            int e = 0;
            int rc = next_chunk(c, &e);
            if (rc) return rc;
            if (e) { c->rx_eof = 1; continue; }
        }
        size_t take = c->rx.len - c->rx_off;
        if (take > n - got) take = n - got;
        memcpy(dst + got, c->rx.ptr + c->rx_off, take);
        c->rx_off += take;
        got += take;
    }
    return SEALDB_OK;
}

int sdb_call_recv_msg(sdb_call *c, size_t max_len, sdb_slice *out, int *eof) {
    if (!c->ops->recv) return SEALDB_INVALID;
    uint8_t lb[8];
    int rc = rx_read(c, lb, 8, eof);
    if (rc || *eof) return rc;
    uint64_t n = sdb_get_u64be(lb);
    if (n > max_len) return SEALDB_TOOLARGE;
    uint8_t *p = sdb_arena_alloc(&c->arena, n ? (size_t)n : 1);
    if (!p) return SEALDB_NOMEM;
    int e = 0;
    if (n) {
        rc = rx_read(c, p, (size_t)n, &e);
        if (rc) return rc;
        if (e) return SEALDB_PROTOCOL;
    }
    *out = sdb_slice_of(p, (size_t)n);
    return SEALDB_OK;
}

/* ---- the dispatch ---- */
static void dispatch_run(sdb_call *c, sdb_slice req);

static int wire_varint(const uint8_t *p, size_t n, size_t *off, uint64_t *v) {
    uint64_t x = 0;
    for (int shift = 0; shift < 64 && *off < n; shift += 7) {
        uint8_t b = p[(*off)++];
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) { *v = x; return 0; }
    }
    return -1;
}

/* protobuf-c ends a string field at its first NUL byte, so "immudb\0x" would act as the user
 * "immudb" (and a database name likewise): a request whose string fields, at any depth, hold a NUL
 * is refused before anything reads them. Works on the wire bytes, which unpack already accepted.
 * Returns 0 when a string holds a NUL. */
static int strings_clean(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n, int depth) {
    if (depth > 32) return 0;   /* deeper than any message of the schema */
    size_t off = 0;
    while (off < n) {
        uint64_t key, len;
        if (wire_varint(p, n, &off, &key)) return 1;
        switch (key & 7) {
        case 0: if (wire_varint(p, n, &off, &len)) return 1; continue;
        case 1: if (n - off < 8) return 1; off += 8; continue;
        case 5: if (n - off < 4) return 1; off += 4; continue;
        case 2: break;
        default: return 1;   /* groups: unpack decides */
        }
        if (wire_varint(p, n, &off, &len) || len > n - off) return 1;
        const ProtobufCFieldDescriptor *f = key >> 3 <= UINT32_MAX ?
            protobuf_c_message_descriptor_get_field(d, (unsigned)(key >> 3)) : NULL;
        if (f && f->type == PROTOBUF_C_TYPE_STRING && len && memchr(p + off, 0, (size_t)len)) return 0;
        if (f && f->type == PROTOBUF_C_TYPE_MESSAGE &&
            !strings_clean(f->descriptor, p + off, (size_t)len, depth + 1)) return 0;
        off += (size_t)len;
    }
    return 1;
}

int sdb_call_decode(sdb_call *c, const ProtobufCMessageDescriptor *d, sdb_slice req, ProtobufCAllocator *al,
                    ProtobufCMessage **out, sdb_grpc_code *code, char *msg, size_t msg_cap) {
    size_t items = 0, cap = request_item_cap(c);
    *out = NULL;
    *code = SDB_GRPC_INVALID_ARGUMENT;
    if (count_items(d, req.ptr, req.ptr + req.len, 0, cap, &items)) {
        *code = SDB_GRPC_RESOURCE_EXHAUSTED;
        snprintf(msg, msg_cap, "request has too many items (more than %zu)", cap);
        return -1;
    }
    *out = protobuf_c_message_unpack(d, al, req.len, req.ptr);
    if (!*out) { snprintf(msg, msg_cap, "malformed request message"); return -1; }
    if (!strings_clean(d, req.ptr, req.len, 0)) {
        snprintf(msg, msg_cap, "a string field holds a NUL byte");
        return -1;
    }
    return 0;
}

/* The request message of c's method (NULL when it takes none); 0, else the call is answered. */
static int decode_request(sdb_call *c, sdb_slice req, const ProtobufCMessage **msg) {
    const ProtobufCMessageDescriptor *d = c->method->req_desc;
    if (!d) return 0;
    ProtobufCMessage *m;
    sdb_grpc_code code;
    char why[96];
    if (sdb_call_decode(c, d, req, &c->pba, &m, &code, why, sizeof why)) {
        sdb_call_error(c, code, "%s", why);
        return -1;
    }
    *msg = m;
    return 0;
}

/* ---- bidirectional streams: thin wrappers over the transport ---- */
void sdb_call_bidi_begin(sdb_call *c, void (*ev)(void *arg, int kind, int ok), void *arg) {
    c->bidi_ev = ev;
    c->bidi_arg = arg;
}
int sdb_call_bidi_recv(sdb_call *c) { return c->ops->bidi_recv ? c->ops->bidi_recv(c) : SEALDB_UNSUPPORTED; }
int sdb_call_bidi_take(sdb_call *c, sdb_slice *msg, int *eof) {
    return c->ops->bidi_take ? c->ops->bidi_take(c, msg, eof) : SEALDB_UNSUPPORTED;
}
int sdb_call_bidi_send(sdb_call *c, const uint8_t *p, size_t n) {
    return c->ops->bidi_send ? c->ops->bidi_send(c, p, n) : SEALDB_UNSUPPORTED;
}
void sdb_call_bidi_cancel(sdb_call *c, sdb_grpc_code code, const char *msg) {
    if (c->ops->bidi_cancel) c->ops->bidi_cancel(c, (int)code, msg);
}

void sdb_dispatch(sdb_call *c, sdb_slice req) {
    atomic_fetch_add(&c->refs, 1);   /* the answer may free the call on another thread */
    dispatch_run(c, req);
    sdb_call_unref(c);
}

static void dispatch_run(sdb_call *c, sdb_slice req) {
    size_t idx = 0;
    c->method = sdb_dispatch_lookup(c->srv, c->path, &idx);
    if (!c->method) {
        atomic_fetch_add(&c->srv->n_unknown_method, 1);
        const char *slash = strrchr(c->path, '/');
        sdb_call_error(c, SDB_GRPC_UNIMPLEMENTED, "unknown method %s", slash ? slash + 1 : c->path);
        return;
    }
    c->method_idx = idx;
    if (c->srv->stats) atomic_fetch_add(&c->srv->stats[idx].started, 1);
    /* the caller first: nothing of an unauthenticated request is decoded, and the item cap of a
     * request depends on its database's max entries per tx */
    if (sdb_auth_resolve(c) != 0) return;   /* answered */
    int r = SDB_CALL_DECLINED;
    if (c->method->raw && c->method->req_desc && c->method->stream == SDB_STREAM_NONE)
        r = c->method->raw(c, req, request_item_cap(c));   /* counts the items itself */
    if (r == SDB_CALL_DECLINED) {
        const ProtobufCMessage *msg = NULL;
        if (decode_request(c, req, &msg)) return;
        r = c->method->handler(c, msg);
    }
    if (r == SDB_CALL_DONE && !atomic_load(&c->answered))
        sdb_call_error(c, SDB_GRPC_INTERNAL, "handler did not answer");
}
