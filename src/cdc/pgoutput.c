/* pgoutput.c - decoder of PostgreSQL's pgoutput logical replication messages (untrusted bytes from
 * the network: every count and length is checked against what is left) and the relation cache. */
#include "cdc/cdc.h"

typedef struct rd { const uint8_t *p; size_t left; int bad; } rd;

static const uint8_t *take(rd *r, size_t n) {
    if (r->bad || r->left < n) { r->bad = 1; return NULL; }
    const uint8_t *p = r->p;
    r->p += n; r->left -= n;
    return p;
}
static uint8_t u8(rd *r) { const uint8_t *p = take(r, 1); return p ? p[0] : 0; }
static uint16_t u16(rd *r) { const uint8_t *p = take(r, 2); return p ? sdb_get_u16be(p) : 0; }
static uint32_t u32(rd *r) { const uint8_t *p = take(r, 4); return p ? sdb_get_u32be(p) : 0; }
static uint64_t u64(rd *r) { const uint8_t *p = take(r, 8); return p ? sdb_get_u64be(p) : 0; }
/* a NUL-terminated string inside the message */
static const char *cstr(rd *r) {
    if (r->bad) return NULL;
    const uint8_t *z = memchr(r->p, 0, r->left);
    if (!z) { r->bad = 1; return NULL; }
    return (const char *)take(r, (size_t)(z - r->p) + 1);
}

static int tuple(rd *r, pgo_tuple *t) {
    uint16_t n = u16(r);
    if (r->bad) return SEALDB_PROTOCOL;
    /* each column takes at least its kind byte: refuse counts the message cannot hold */
    if (n > r->left) { r->bad = 1; return SEALDB_PROTOCOL; }
    t->n = n;
    t->cols = n ? sdb_calloc(n, sizeof *t->cols) : NULL;
    if (n && !t->cols) return SEALDB_NOMEM;
    for (uint16_t i = 0; i < n; i++) {
        pgo_col *c = &t->cols[i];
        c->kind = (char)u8(r);
        if (c->kind == 't' || c->kind == 'b') {
            c->len = u32(r);
            c->val = take(r, c->len);
        } else if (c->kind != 'n' && c->kind != 'u') {
            r->bad = 1;
        }
        if (r->bad) return SEALDB_PROTOCOL;
    }
    return SEALDB_OK;
}

void pgo_msg_free(pgo_msg *m) {
    if (!m) return;
    sdb_free(m->relcols);
    sdb_free(m->old_tup.cols);
    sdb_free(m->new_tup.cols);
    sdb_free(m->relids);
    memset(m, 0, sizeof *m);
}

int pgo_decode(const uint8_t *buf, size_t len, pgo_msg *m) {
    memset(m, 0, sizeof *m);
    rd r = { buf, len, 0 };
    int rc = SEALDB_OK;
    m->type = (char)u8(&r);
    switch (m->type) {
    case PGO_BEGIN:
        m->lsn = u64(&r); m->ts = (int64_t)u64(&r); m->xid = u32(&r);
        break;
    case PGO_COMMIT:
        m->flags = u8(&r); m->lsn = u64(&r); m->end_lsn = u64(&r); m->ts = (int64_t)u64(&r);
        break;
    case PGO_ORIGIN:
        m->lsn = u64(&r); m->relname = cstr(&r);
        break;
    case PGO_RELATION:
        m->relid = u32(&r); m->nspname = cstr(&r); m->relname = cstr(&r);
        m->replident = (char)u8(&r); m->ncols = u16(&r);
        if (r.bad) break;
        /* a column is at least flags + NUL + oid + typmod = 10 bytes */
        if ((size_t)m->ncols * 10 > r.left) { r.bad = 1; break; }
        if (m->ncols) {
            m->relcols = sdb_calloc(m->ncols, sizeof *m->relcols);
            if (!m->relcols) { rc = SEALDB_NOMEM; break; }
        }
        for (uint16_t i = 0; i < m->ncols && !r.bad; i++) {
            m->relcols[i].flags = u8(&r);
            m->relcols[i].name = cstr(&r);
            m->relcols[i].type_oid = u32(&r);
            m->relcols[i].typmod = (int32_t)u32(&r);
        }
        break;
    case PGO_TYPE:
        m->relid = u32(&r); m->nspname = cstr(&r); m->relname = cstr(&r);
        break;
    case PGO_INSERT:
        m->relid = u32(&r);
        if (u8(&r) != 'N') r.bad = 1;
        if (!r.bad) rc = tuple(&r, &m->new_tup);
        break;
    case PGO_UPDATE: {
        m->relid = u32(&r);
        uint8_t k = u8(&r);
        if (k == 'K' || k == 'O') {
            m->old_kind = (char)k;
            if ((rc = tuple(&r, &m->old_tup)) != SEALDB_OK) break;
            k = u8(&r);
        }
        if (k != 'N') r.bad = 1;
        if (!r.bad) rc = tuple(&r, &m->new_tup);
        break;
    }
    case PGO_DELETE: {
        m->relid = u32(&r);
        uint8_t k = u8(&r);
        if (k != 'K' && k != 'O') { r.bad = 1; break; }
        m->old_kind = (char)k;
        rc = tuple(&r, &m->old_tup);
        break;
    }
    case PGO_TRUNCATE:
        m->nrelids = u32(&r); m->trunc_opts = u8(&r);
        if (r.bad) break;
        if ((uint64_t)m->nrelids * 4 != r.left) { r.bad = 1; break; }
        if (m->nrelids) {
            m->relids = sdb_calloc(m->nrelids, sizeof *m->relids);
            if (!m->relids) { rc = SEALDB_NOMEM; break; }
        }
        for (uint32_t i = 0; i < m->nrelids; i++) m->relids[i] = u32(&r);
        break;
    case PGO_MESSAGE: {   /* logical decoding message (messages option): decoded, then ignored */
        m->flags = u8(&r); m->lsn = u64(&r); m->relname = cstr(&r);
        uint32_t n = u32(&r);
        take(&r, n);
        break;
    }
    default:
        r.bad = 1;
    }
    if (rc == SEALDB_OK && (r.bad || r.left != 0)) rc = SEALDB_PROTOCOL;
    if (rc != SEALDB_OK) pgo_msg_free(m);
    return rc;
}

/* ---- relation cache ---- */
static void rel_clear(pgo_rel *r) {
    sdb_free(r->nspname); sdb_free(r->relname);
    for (uint16_t i = 0; i < r->ncols && r->names; i++) sdb_free(r->names[i]);
    sdb_free(r->names); sdb_free(r->types); sdb_free(r->key);
    memset(r, 0, sizeof *r);
}

int pgo_relcache_put(pgo_relcache *c, const pgo_msg *m) {
    if (m->type != PGO_RELATION) return SEALDB_INVALID;
    pgo_rel nr = { .relid = m->relid, .replident = m->replident, .ncols = m->ncols };
    nr.nspname = sdb_strdup(m->nspname);
    nr.relname = sdb_strdup(m->relname);
    nr.names = sdb_calloc(m->ncols ? m->ncols : 1, sizeof *nr.names);
    nr.types = sdb_calloc(m->ncols ? m->ncols : 1, sizeof *nr.types);
    nr.key = sdb_calloc(m->ncols ? m->ncols : 1, 1);
    int ok = nr.nspname && nr.relname && nr.names && nr.types && nr.key;
    for (uint16_t i = 0; ok && i < m->ncols; i++) {
        ok = (nr.names[i] = sdb_strdup(m->relcols[i].name)) != NULL;
        nr.types[i] = m->relcols[i].type_oid;
        nr.key[i] = m->relcols[i].flags & 1;
        nr.nkey += nr.key[i];
    }
    if (!ok) { rel_clear(&nr); return SEALDB_NOMEM; }
    for (size_t i = 0; i < c->n; i++)
        if (c->rels[i].relid == m->relid) { rel_clear(&c->rels[i]); c->rels[i] = nr; return SEALDB_OK; }
    pgo_rel *g = sdb_realloc(c->rels, (c->n + 1) * sizeof *g);
    if (!g) { rel_clear(&nr); return SEALDB_NOMEM; }
    c->rels = g;
    c->rels[c->n++] = nr;
    return SEALDB_OK;
}

pgo_rel *pgo_relcache_get(const pgo_relcache *c, uint32_t relid) {
    for (size_t i = 0; i < c->n; i++)
        if (c->rels[i].relid == relid) return &c->rels[i];
    return NULL;
}

void pgo_relcache_free(pgo_relcache *c) {
    for (size_t i = 0; i < c->n; i++) rel_clear(&c->rels[i]);
    sdb_free(c->rels);
    c->rels = NULL; c->n = 0;
}
