/* setreq.c - SetRequest wire bytes read in place (docs/api.md 2): the plain shape every SDK's Set and
 * SetAll send (KVs of a key and a value, noWait) skips protobuf-c's unpack, which copied each key
 * and value once more and allocated a KeyValue per entry; any other shape returns "not plain" and
 * takes the generic decoder, so what is accepted and every error stay protobuf-c's. */
#include "db/kv.h"

/* A varint of at most max bytes at *p (protobuf-c reads up to 10); -1 if longer or cut. *nz: any
 * payload bit set (how protobuf-c reads a bool). */
static int rd_varint(const uint8_t **p, const uint8_t *end, int max, uint64_t *v, int *nz) {
    uint64_t x = 0;
    int any = 0;
    for (int i = 0; i < max && *p < end; i++) {
        uint8_t b = *(*p)++;
        any |= b & 0x7f;
        if (i < 10) x |= (uint64_t)(b & 0x7f) << (7 * i < 64 ? 7 * i : 63);
        if (!(b & 0x80)) { *v = x; if (nz) *nz = any != 0; return 0; }
    }
    return -1;
}

/* Length-delimited payload after a tag: the slice, or -1 if its length is cut or runs past end. */
static int rd_bytes(const uint8_t **p, const uint8_t *end, sdb_slice *out) {
    uint64_t len;
    if (rd_varint(p, end, 5, &len, NULL) || len > (uint64_t)(end - *p)) return -1;
    *out = sdb_slice_of(*p, (size_t)len);
    *p += len;
    return 0;
}

/* The next KV of the request at *it: 1 with its key and value, 0 at the end, -1 not plain. A noWait
 * field on the way sets *no_wait (the last one wins, as in protobuf-c). */
static int next_kv(sdb_setreq_it *it, sdb_slice *key, sdb_slice *value) {
    while (it->p < it->end) {
        uint8_t tag = *it->p++;
        it->items++;
        if (tag == 0x10) {   /* noWait, varint */
            uint64_t v;
            int nz;
            if (rd_varint(&it->p, it->end, 10, &v, &nz)) return -1;
            it->no_wait = nz;
            continue;
        }
        if (tag != 0x0a) return -1;   /* preconditions, unknown fields, other wire types */
        sdb_slice kv;
        if (rd_bytes(&it->p, it->end, &kv)) return -1;
        const uint8_t *q = kv.ptr, *qe = kv.ptr + kv.len;
        *key = *value = sdb_slice_of(NULL, 0);
        while (q < qe) {   /* a repeated key or value field: the last one wins, as in protobuf-c */
            uint8_t t = *q++;
            it->items++;
            if (t == 0x0a) { if (rd_bytes(&q, qe, key)) return -1; }
            else if (t == 0x12) { if (rd_bytes(&q, qe, value)) return -1; }
            else return -1;   /* metadata or anything else */
        }
        return 1;
    }
    return 0;
}

int sdb_setreq_scan(sdb_slice req, size_t max_items, sdb_setreq_it *it, size_t *n_kvs) {
    sdb_setreq_it s = { .p = req.ptr, .end = req.ptr + req.len };
    sdb_slice k, v;
    size_t n = 0;
    int r;
    while ((r = next_kv(&s, &k, &v)) == 1 && s.items <= max_items) n++;
    if (r < 0 || s.items > max_items) return -1;
    *n_kvs = n;
    *it = (sdb_setreq_it){ .p = req.ptr, .end = req.ptr + req.len, .no_wait = s.no_wait };
    return 0;
}

int sdb_setreq_next(sdb_setreq_it *it, sdb_slice *key, sdb_slice *value) {
    int nw = it->no_wait;   /* the scan's final value */
    int r = next_kv(it, key, value);
    it->no_wait = nw;
    return r == 1;
}
