/* test_export.c - the exported-tx payload and hot-backup records against the vectors captured from
 * immudb 1.9.5 (tests/vectors/replication/replication.json): every tx is re-encoded byte for byte,
 * parsed back, re-hashed (eH, innerHash, Alh) and cut into the same chunks; malformed payloads
 * (including the ones that crash immudb, replication.md W2) are refused. */
#include <cjson/cJSON.h>
#include "testlib.h"
#include "crypto/export.h"

static cJSON *g_vec;

static const cJSON *J(const cJSON *o, const char *k) { return cJSON_GetObjectItemCaseSensitive(o, k); }
static uint64_t U(const cJSON *o, const char *k) { const cJSON *x = J(o, k); CHECK(cJSON_IsNumber(x)); return (uint64_t)x->valuedouble; }

static const cJSON *vec(void) {
    if (g_vec) return g_vec;
    char path[4096];
    snprintf(path, sizeof path, "%s/replication/replication.json", sdb_test_vectors_dir());
    FILE *f = fopen(path, "rb");
    CHECK(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    CHECK(s && fread(s, 1, (size_t)n, f) == (size_t)n);
    s[n] = 0;
    fclose(f);
    g_vec = cJSON_Parse(s);
    free(s);
    CHECK(g_vec);
    return g_vec;
}

static sdb_buf hexb(const cJSON *x) {
    sdb_buf b;
    sdb_buf_init(&b);
    CHECK(cJSON_IsString(x));
    CHECK_OK(sdb_hex_decode(x->valuestring, strlen(x->valuestring), &b));
    return b;
}
static void hex32(const cJSON *x, uint8_t out[32]) {
    sdb_buf b = hexb(x);
    CHECK_EQ_U64(b.len, 32);
    memcpy(out, b.ptr, 32);
    sdb_buf_deinit(&b);
}
#define CHECK_HEX(p, n, x) do { sdb_buf hb_ = hexb(x); CHECK_EQ_MEM(p, n, hb_.ptr, hb_.len); sdb_buf_deinit(&hb_); } while (0)

static void header_from(const cJSON *o, sdb_tx_header *h) {
    memset(h, 0, sizeof *h);
    h->id = U(o, "id");
    hex32(J(o, "prevAlh"), h->prev_alh.b);
    h->ts = (int64_t)U(o, "ts");
    h->version = (uint16_t)U(o, "version");
    h->nentries = (uint32_t)U(o, "nentries");
    hex32(J(o, "eH"), h->eh.b);
    h->bl_tx_id = U(o, "blTxId");
    hex32(J(o, "blRoot"), h->bl_root.b);
    sdb_buf md = hexb(J(o, "metadataBytes"));
    if (md.len) CHECK_OK(sdb_tx_md_decode(sdb_buf_slice(&md), &h->md));
    sdb_buf_deinit(&md);
}

/* The export stream u64(L) || P of a vector tx, encoded by us from its header and entries. */
static void encode_tx(const cJSON *t, const sdb_tx_header *h, sdb_buf *stream, sdb_buf *store) {
    const cJSON *ents = J(t, "entries");
    uint32_t n = (uint32_t)cJSON_GetArraySize(ents);
    sdb_export_entry *e = calloc(n, sizeof *e);
    sdb_buf *parts = calloc(3u * n, sizeof *parts);
    CHECK(e && parts);
    for (uint32_t i = 0; i < n; i++) {
        const cJSON *x = cJSON_GetArrayItem(ents, (int)i);
        parts[3 * i] = hexb(J(x, "key"));
        parts[3 * i + 1] = hexb(J(x, "metadataBytes"));
        if (cJSON_IsString(J(x, "value"))) {
            parts[3 * i + 2] = hexb(J(x, "value"));
        } else {   /* the 70000-byte value is described, not stored: 00 || byte i = 7i+3 */
            sdb_buf_init(&parts[3 * i + 2]);
            CHECK_OK(sdb_buf_append_u8(&parts[3 * i + 2], 0));
            for (uint32_t k = 0; k < 70000; k++) CHECK_OK(sdb_buf_append_u8(&parts[3 * i + 2], (uint8_t)(k * 7 + 3)));
        }
        CHECK_EQ_U64(parts[3 * i + 2].len, U(x, "vLen"));
        uint8_t hv[32];
        sdb_sha256(parts[3 * i + 2].ptr, parts[3 * i + 2].len, hv);
        CHECK_HEX(hv, 32, J(x, "valueSha256"));
        e[i].key = sdb_buf_slice(&parts[3 * i]);
        e[i].md_bytes = sdb_buf_slice(&parts[3 * i + 1]);
        e[i].value = sdb_buf_slice(&parts[3 * i + 2]);
    }
    CHECK_OK(sdb_buf_append_u64be(stream, 0));
    CHECK_OK(sdb_export_encode(h, e, n, stream));
    sdb_put_u64be(stream->ptr, stream->len - 8);
    (void)store;
    for (uint32_t i = 0; i < 3 * n; i++) sdb_buf_deinit(&parts[i]);
    free(parts);
    free(e);
}

/* Parses P and checks it against the vector tx (entries, digests, eH, innerHash, Alh). */
static void check_parsed(const cJSON *t, sdb_slice p, const sdb_tx_header *want) {
    sdb_export_tx x;
    const char *why = NULL;
    sdb_export_tx_init(&x);
    CHECK_OK(sdb_export_parse(p, &x, &why));
    CHECK(x.has_flag && !x.truncated);
    CHECK_EQ_U64(x.hdr.id, want->id);
    CHECK_EQ_I64(x.hdr.ts, want->ts);
    CHECK_EQ_U64(x.hdr.version, want->version);
    CHECK_EQ_U64(x.hdr.bl_tx_id, want->bl_tx_id);
    CHECK_EQ_MEM(x.hdr.prev_alh.b, 32, want->prev_alh.b, 32);
    CHECK_EQ_MEM(x.hdr.bl_root.b, 32, want->bl_root.b, 32);
    CHECK_EQ_MEM(x.hdr.eh.b, 32, want->eh.b, 32);
    const cJSON *ents = J(t, "entries");
    CHECK_EQ_U64(x.nentries, (uint64_t)cJSON_GetArraySize(ents));
    for (uint32_t i = 0; i < x.nentries; i++) {
        const cJSON *v = cJSON_GetArrayItem(ents, (int)i);
        CHECK_HEX(x.entries[i].key.ptr, x.entries[i].key.len, J(v, "key"));
        CHECK_HEX(x.entries[i].md_bytes.ptr, x.entries[i].md_bytes.len, J(v, "metadataBytes"));
        CHECK_EQ_U64(x.entries[i].value.len, U(v, "vLen"));
        uint8_t hv[32], d[32];
        sdb_sha256(x.entries[i].value.ptr, x.entries[i].value.len, hv);
        CHECK_OK(sdb_entry_digest(x.hdr.version, x.entries[i].key, x.entries[i].md_bytes, hv, d));
        CHECK_HEX(d, 32, J(v, "digest"));
        const cJSON *md = J(v, "metadata");
        CHECK_EQ_U64(x.entries[i].md.deleted, cJSON_IsTrue(J(md, "deleted")));
        CHECK_EQ_U64(x.entries[i].md.non_indexable, cJSON_IsTrue(J(md, "nonIndexable")));
        CHECK_EQ_U64(x.entries[i].md.has_expires, J(md, "expiresAt") != NULL && !cJSON_IsNull(J(md, "expiresAt")));
    }
    uint8_t eh[32], inner[32], alh[32];
    CHECK_OK(sdb_export_entries_hash(&x, eh));
    CHECK_EQ_MEM(eh, 32, want->eh.b, 32);
    /* with each value's hash given (an exporter that checked them on read), the same eH; a wrong
     * one is what the entries hash then uses */
    uint8_t (*hvs)[32] = calloc(x.nentries, 32);
    CHECK(hvs);
    for (uint32_t i = 0; i < x.nentries; i++) {
        sdb_sha256(x.entries[i].value.ptr, x.entries[i].value.len, hvs[i]);
        x.entries[i].hvalue = hvs[i];
    }
    CHECK_OK(sdb_export_entries_hash(&x, eh));
    CHECK_EQ_MEM(eh, 32, want->eh.b, 32);
    hvs[x.nentries - 1][0] ^= 1;
    CHECK_OK(sdb_export_entries_hash(&x, eh));
    CHECK(memcmp(eh, want->eh.b, 32) != 0);
    for (uint32_t i = 0; i < x.nentries; i++) x.entries[i].hvalue = NULL;
    free(hvs);
    CHECK_OK(sdb_tx_inner_hash(&x.hdr, inner));
    CHECK_HEX(inner, 32, J(t, "innerHash"));
    CHECK_OK(sdb_tx_alh(&x.hdr, alh));
    CHECK_HEX(alh, 32, J(t, "alh"));
    sdb_export_tx_deinit(&x);
}

static void check_chunks(const cJSON *t, sdb_slice s) {
    const cJSON *ch = J(t, "chunks");
    size_t n = sdb_export_nchunks(s.len, SDB_EXPORT_CHUNK_SIZE);
    CHECK_EQ_U64(n, (uint64_t)cJSON_GetArraySize(ch));
    for (size_t i = 0; i < n; i++) {
        const cJSON *c = cJSON_GetArrayItem(ch, (int)i);
        size_t off = i * SDB_EXPORT_CHUNK_SIZE;
        size_t len = s.len - off < SDB_EXPORT_CHUNK_SIZE ? s.len - off : SDB_EXPORT_CHUNK_SIZE;
        CHECK_EQ_U64(len, U(c, "len"));
        CHECK_EQ_U64(cJSON_GetArraySize(J(c, "metadata")), 0);
        if (J(c, "content")) {
            CHECK_HEX(s.ptr + off, len, J(c, "content"));
        } else {
            uint8_t h[32];
            CHECK_HEX(s.ptr + off, 64, J(c, "content_first_64"));
            sdb_sha256(s.ptr + off, len, h);
            CHECK_HEX(h, 32, J(c, "content_sha256"));
        }
    }
}

TEST(export_vectors_txs) {
    const cJSON *t;
    int n = 0;
    cJSON_ArrayForEach(t, J(vec(), "txs")) {
        sdb_tx_header h;
        sdb_buf s;
        sdb_buf_init(&s);
        header_from(J(t, "header"), &h);
        encode_tx(t, &h, &s, NULL);
        /* byte-exact: the whole stream, its digest, its header bytes */
        CHECK_EQ_U64(s.len, U(t, "export_stream_len"));
        if (cJSON_IsString(J(t, "export_stream_hex"))) CHECK_HEX(s.ptr, s.len, J(t, "export_stream_hex"));
        uint8_t d[32];
        sdb_sha256(s.ptr, s.len, d);
        CHECK_HEX(d, 32, J(t, "export_stream_sha256"));
        const cJSON *lay = J(t, "payload_layout");
        CHECK_EQ_U64(sdb_get_u32be(s.ptr + 8), U(lay, "headerLen"));
        CHECK_HEX(s.ptr + 12, U(lay, "headerLen"), J(lay, "header_bytes"));
        CHECK_HEX(s.ptr + s.len - 1, 1, J(lay, "truncatedFlagBytes"));
        check_chunks(t, sdb_buf_slice(&s));
        check_parsed(t, sdb_slice_of(s.ptr + 8, s.len - 8), &h);
        /* what TxById and the replica's replicateTx answered is the same header */
        sdb_tx_header h2;
        cJSON *tb = cJSON_Duplicate(J(t, "txById_header"), 1);
        cJSON_AddStringToObject(tb, "metadataBytes", "");
        header_from(tb, &h2);
        cJSON_Delete(tb);
        uint8_t a1[32], a2[32];
        CHECK_OK(sdb_tx_alh(&h, a1));
        CHECK_OK(sdb_tx_alh(&h2, a2));
        CHECK_EQ_MEM(a1, 32, a2, 32);
        sdb_buf_deinit(&s);
        n++;
    }
    CHECK_EQ_U64(n, 5);
}

TEST(export_vector_skip_integrity_check) {
    const cJSON *v = J(vec(), "export_skip_integrity_check");
    const cJSON *t1 = cJSON_GetArrayItem(J(vec(), "txs"), 1);
    sdb_buf s = hexb(J(v, "export_stream_hex"));
    sdb_export_tx x;
    sdb_export_tx_init(&x);
    CHECK_OK(sdb_export_parse(sdb_slice_of(s.ptr + 8, s.len - 8), &x, NULL));
    CHECK_EQ_U64(x.hdr.id, U(v, "tx"));
    CHECK_EQ_MEM(x.hdr.eh.b, 32, sdb_hash_zero.b, 32);
    /* the receiver recomputes eH in every case: it is the eH of the same tx exported normally */
    uint8_t eh[32], want[32];
    CHECK_OK(sdb_export_entries_hash(&x, eh));
    hex32(J(J(t1, "header"), "eH"), want);
    CHECK_EQ_MEM(eh, 32, want, 32);
    /* re-encoding the zero-eH header gives the exported bytes back */
    sdb_buf r;
    sdb_buf_init(&r);
    CHECK_OK(sdb_buf_append_u64be(&r, s.len - 8));
    CHECK_OK(sdb_export_encode(&x.hdr, x.entries, x.nentries, &r));
    CHECK_EQ_MEM(r.ptr, r.len, s.ptr, s.len);
    sdb_buf_deinit(&r);
    sdb_export_tx_deinit(&x);
    sdb_buf_deinit(&s);
}

/* The full hot-backup file (records 1-4, record 5 rebuilt from its export stream, record 6):
 * every record's checksum is the Alh recomputed from its payload, the chain links, and the
 * re-encoded file has immuadmin's sha256. */
TEST(export_vector_hot_backup_file) {
    const cJSON *hb = J(vec(), "hot_backup");
    const cJSON *recs = J(hb, "records");
    sdb_buf file = hexb(J(hb, "file_hex_without_large_record"));
    /* record 5 = header || checksum || export stream of txs[4] */
    const cJSON *r5 = cJSON_GetArrayItem(recs, 4), *t5 = cJSON_GetArrayItem(J(vec(), "txs"), 4);
    CHECK_EQ_U64(file.len, U(r5, "offset"));
    sdb_tx_header h5;
    sdb_buf s5;
    sdb_buf_init(&s5);
    header_from(J(t5, "header"), &h5);
    encode_tx(t5, &h5, &s5, NULL);
    uint8_t sum5[32];
    hex32(J(r5, "checksum"), sum5);
    size_t at5 = file.len;
    CHECK_OK(sdb_backup_record_encode(U(r5, "txId"), sum5, sdb_buf_slice(&s5), &file));
    CHECK_HEX(file.ptr + at5, SDB_BACKUP_HDR_LEN, J(r5, "header_hex"));
    sdb_buf r6 = hexb(J(hb, "record_tx6_hex"));
    CHECK_OK(sdb_buf_append(&file, r6.ptr, r6.len));
    CHECK_EQ_U64(file.len, U(hb, "file_len"));
    uint8_t d[32];
    sdb_sha256(file.ptr, file.len, d);
    CHECK_HEX(d, 32, J(hb, "file_sha256"));

    sdb_reader rd = sdb_reader_of(sdb_buf_slice(&file));
    sdb_hash prev = sdb_hash_empty;
    sdb_buf again;
    sdb_buf_init(&again);
    int n = 0;
    while (sdb_reader_left(&rd) > 0) {
        const cJSON *want = cJSON_GetArrayItem(recs, n);
        CHECK(want);
        CHECK_EQ_U64((size_t)(rd.p - file.ptr), U(want, "offset"));
        sdb_backup_record rec;
        CHECK_OK(sdb_backup_record_read(&rd, &rec));
        CHECK_EQ_U64(rec.tx_id, U(want, "txId"));
        CHECK_EQ_U64(rec.stream.len, U(want, "txLen"));
        CHECK_HEX(rec.alh.b, 32, J(want, "checksum"));
        sdb_export_tx x;
        sdb_export_tx_init(&x);
        CHECK_OK(sdb_export_parse(rec.payload, &x, NULL));
        uint8_t eh[32], alh[32];
        CHECK_OK(sdb_export_entries_hash(&x, eh));
        CHECK_EQ_MEM(eh, 32, x.hdr.eh.b, 32);
        CHECK_EQ_U64(x.hdr.id, rec.tx_id);
        CHECK_EQ_MEM(x.hdr.prev_alh.b, 32, prev.b, 32);
        CHECK_OK(sdb_tx_alh(&x.hdr, alh));
        CHECK_EQ_MEM(alh, 32, rec.alh.b, 32);
        memcpy(prev.b, alh, 32);
        CHECK_OK(sdb_backup_record_encode(rec.tx_id, rec.alh.b, rec.stream, &again));
        sdb_export_tx_deinit(&x);
        n++;
    }
    CHECK_EQ_U64(n, 6);
    CHECK_EQ_MEM(again.ptr, again.len, file.ptr, file.len);
    /* a torn last record and a bad magic are refused */
    sdb_reader torn = sdb_reader_of(sdb_slice_of(file.ptr + U(cJSON_GetArrayItem(recs, 5), "offset"), r6.len - 1));
    sdb_backup_record rec;
    CHECK_RC(sdb_backup_record_read(&torn, &rec), SEALDB_CORRUPT);
    file.ptr[0] ^= 1;
    rd = sdb_reader_of(sdb_buf_slice(&file));
    CHECK_RC(sdb_backup_record_read(&rd, &rec), SEALDB_CORRUPT);
    sdb_buf_deinit(&again);
    sdb_buf_deinit(&r6);
    sdb_buf_deinit(&s5);
    sdb_buf_deinit(&file);
}

/* ---- malformed payloads ---- */

static sdb_buf tx0_payload(void) {
    const cJSON *t = cJSON_GetArrayItem(J(vec(), "txs"), 0);
    sdb_buf s = hexb(J(t, "export_stream_hex"));
    memmove(s.ptr, s.ptr + 8, s.len - 8);
    s.len -= 8;
    return s;
}
static int parse_rc(const uint8_t *p, size_t n, const char **why) {
    sdb_export_tx x;
    sdb_export_tx_init(&x);
    int rc = sdb_export_parse(sdb_slice_of(p, n), &x, why);
    sdb_export_tx_deinit(&x);
    return rc;
}

TEST(export_parse_refuses_every_cut) {
    sdb_buf p = tx0_payload();
    const char *why;
    CHECK_OK(parse_rc(p.ptr, p.len, &why));
    /* without the trailer (older immudb exports): accepted, "not truncated" */
    CHECK_OK(parse_rc(p.ptr, p.len - 3, &why));
    for (size_t n = 0; n < p.len; n++) {
        if (n == p.len - 3) continue;
        CHECK_RC(parse_rc(p.ptr, n, &why), SEALDB_INVALID);
        CHECK_EQ_STR(why, "illegal arguments");
    }
    /* one trailing byte too many (crashes immudb, W2) */
    CHECK_OK(sdb_buf_append_u8(&p, 0));
    CHECK_RC(parse_rc(p.ptr, p.len, &why), SEALDB_INVALID);
    sdb_buf_deinit(&p);
}

TEST(export_parse_refuses_w2_payloads) {
    sdb_buf p = tx0_payload();
    const char *why;
    size_t n = p.len;
    /* flagLen = 0 */
    p.ptr[n - 3] = 0; p.ptr[n - 2] = 0;
    CHECK_RC(parse_rc(p.ptr, n - 1, &why), SEALDB_INVALID);
    /* flagLen = 2 */
    p.ptr[n - 2] = 2;
    CHECK_OK(sdb_buf_append_u8(&p, 0));
    CHECK_RC(parse_rc(p.ptr, n + 1, &why), SEALDB_INVALID);
    p.len = n;
    p.ptr[n - 3] = 0; p.ptr[n - 2] = 1;
    /* flag byte other than 00/01 */
    p.ptr[n - 1] = 2;
    CHECK_RC(parse_rc(p.ptr, n, &why), SEALDB_INVALID);
    CHECK_EQ_STR(why, "illegal arguments: invalid truncation info");
    /* flag 01 with a 4-byte "hValue" */
    p.ptr[n - 1] = 1;
    CHECK_RC(parse_rc(p.ptr, n, &why), SEALDB_INVALID);
    p.ptr[n - 1] = 0;
    /* header version 2 */
    p.ptr[4 + 8 + 32 + 8 + 1] = 2;
    CHECK_RC(parse_rc(p.ptr, n, &why), SEALDB_UNSUPPORTED);
    CHECK_EQ_STR(why, "tx created with a newer version or data is corrupted");
    p.ptr[4 + 8 + 32 + 8 + 1] = 1;
    /* hdrLen one byte longer than the header (immudb ignores the extra byte) */
    p.ptr[3] = 129;
    CHECK_RC(parse_rc(p.ptr, n, &why), SEALDB_INVALID);
    p.ptr[3] = 128;
    /* a v1 header claiming 60 bytes of tx metadata inside hdrLen = 124 */
    sdb_buf q;
    sdb_buf_init(&q);
    CHECK_OK(sdb_buf_append_u32be(&q, 124));
    CHECK_OK(sdb_buf_append(&q, p.ptr + 4, 54));                 /* id, prevAlh, ts, version */
    CHECK_OK(sdb_buf_append_u16be(&q, 60));
    for (int i = 0; i < 68; i++) CHECK_OK(sdb_buf_append_u8(&q, 0));
    CHECK_RC(parse_rc(q.ptr, q.len, &why), SEALDB_INVALID);
    /* an entry whose 9-byte metadata ends the payload (vLen missing) */
    sdb_buf_reset(&q);
    CHECK_OK(sdb_buf_append(&q, p.ptr, 4 + 128));
    CHECK_OK(sdb_buf_append_u16be(&q, 1));
    CHECK_OK(sdb_buf_append_u8(&q, 0));
    CHECK_OK(sdb_buf_append_u16be(&q, 9));
    static const uint8_t exp_md[9] = { 1, 0, 0, 0, 0, 0x6b, 0, 0, 0 };   /* expiresAt attribute */
    CHECK_OK(sdb_buf_append(&q, exp_md, 9));
    CHECK_RC(parse_rc(q.ptr, q.len, &why), SEALDB_INVALID);
    CHECK_EQ_STR(why, "illegal arguments");
    /* unknown KV metadata attribute, and metadata longer than any valid encoding */
    q.ptr[q.len - 9] = 7;
    CHECK_OK(sdb_buf_append_u32be(&q, 0));
    CHECK_RC(parse_rc(q.ptr, q.len, &why), SEALDB_CORRUPT);
    CHECK_EQ_STR(why, "error reading metadata attributes: data is corrupted");
    sdb_buf_reset(&q);
    CHECK_OK(sdb_buf_append(&q, p.ptr, 4 + 128));
    CHECK_OK(sdb_buf_append_u16be(&q, 1));
    CHECK_OK(sdb_buf_append_u8(&q, 0));
    CHECK_OK(sdb_buf_append_u16be(&q, 12));
    for (int i = 0; i < 12 + 4; i++) CHECK_OK(sdb_buf_append_u8(&q, 0));
    CHECK_RC(parse_rc(q.ptr, q.len, &why), SEALDB_CORRUPT);
    CHECK_EQ_STR(why, "data is corrupted");
    /* nentries larger than the payload could hold is refused before allocating */
    sdb_buf_reset(&q);
    CHECK_OK(sdb_buf_append(&q, p.ptr, p.len));
    sdb_put_u32be(q.ptr + 4 + 8 + 32 + 8 + 2 + 2, 0xffffffffu);
    CHECK_RC(parse_rc(q.ptr, q.len, &why), SEALDB_INVALID);
    sdb_buf_deinit(&q);
    sdb_buf_deinit(&p);
}

TEST(export_flipped_value_changes_eh) {
    sdb_buf p = tx0_payload();
    p.ptr[p.len - 4] ^= 1;   /* last value byte */
    sdb_export_tx x;
    sdb_export_tx_init(&x);
    CHECK_OK(sdb_export_parse(sdb_buf_slice(&p), &x, NULL));
    uint8_t eh[32];
    CHECK_OK(sdb_export_entries_hash(&x, eh));
    CHECK(memcmp(eh, x.hdr.eh.b, 32) != 0);
    sdb_export_tx_deinit(&x);
    sdb_buf_deinit(&p);
}

TEST(export_max_payload_bound) {
    CHECK_EQ_U64(sdb_export_max_payload(1, 0, 0), 4 + 396 + 2 + 2 + 11 + 4 + 3);
    CHECK(sdb_export_max_payload(1024, 1024, (32u << 20) + 1) > (32ull << 30));
}
