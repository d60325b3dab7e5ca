/* test_engine_repl.c - replicated commits (sdb_engine_commit_replicated): txs copied from one
 * engine to another, and the five txs exported by a real immudb 1.9.5 (replication vectors), keep
 * their ids, headers and Alh chain; a replayed tx, a different tx under a taken id, a gap, a wrong
 * eH, blRoot, prevAlh or expected Alh are refused without writing, also after a reopen. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include "testlib.h"
#include "crypto/export.h"
#include "engine/engine.h"

static sdb_engine *open_at(const char *name) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/%s", sdb_test_tmpdir(), name);
    sdb_engine *e = NULL;
    CHECK_OK(sdb_engine_open(dir, NULL, &e));
    return e;
}

/* A tx of `src` as sdb_kv entries (values borrowed from t). */
static sdb_kv *kvs_of(const sdb_tx *t) {
    sdb_kv *kv = calloc(t->nentries, sizeof *kv);
    CHECK(kv);
    for (uint32_t i = 0; i < t->nentries; i++) {
        kv[i].key = t->entries[i].key;
        kv[i].value = t->entries[i].value;
        kv[i].md = t->entries[i].md;
    }
    return kv;
}

/* Copies tx id of src into dst; returns the status, *why the reason. */
static int copy_tx(sdb_engine *src, sdb_engine *dst, uint64_t id, void (*mutate)(sdb_tx_header *, sdb_kv *), int *why,
                   sdb_commit_result *res) {
    sdb_tx t;
    sdb_tx_init(&t);
    CHECK_OK(sdb_engine_tx_read(src, id, 1, &t));
    sdb_kv *kv = kvs_of(&t);
    sdb_tx_header h = t.hdr;
    sdb_buf vcopy;
    sdb_buf_init(&vcopy);
    if (mutate) {
        /* the value may be changed: give it a private copy */
        CHECK_OK(sdb_buf_append(&vcopy, kv[0].value.ptr ? kv[0].value.ptr : (const uint8_t *)"", kv[0].value.len));
        kv[0].value = sdb_buf_slice(&vcopy);
        mutate(&h, kv);
    }
    int rc = sdb_engine_commit_replicated_sync(dst, &h, kv, t.nentries, 0, NULL, res, why);
    free(kv);
    sdb_buf_deinit(&vcopy);
    sdb_tx_deinit(&t);
    return rc;
}

static void commit_kv(sdb_engine *e, const char *k, const char *v, int deleted) {
    sdb_kv kv;
    memset(&kv, 0, sizeof kv);
    kv.key = sdb_slice_str(k);
    kv.value = sdb_slice_str(v);
    kv.md.deleted = (uint8_t)deleted;
    CHECK_OK(sdb_engine_commit_sync(e, &kv, 1, NULL, 0, NULL, NULL));
}

static void same_state(sdb_engine *a, sdb_engine *b) {
    uint64_t ta, tb;
    uint8_t aa[32], ab[32];
    CHECK_OK(sdb_engine_state(a, &ta, aa));
    CHECK_OK(sdb_engine_state(b, &tb, ab));
    CHECK_EQ_U64(ta, tb);
    CHECK_EQ_MEM(aa, 32, ab, 32);
}

static void bump_ts(sdb_tx_header *h, sdb_kv *kv) { (void)kv; h->ts++; }
static void flip_value(sdb_tx_header *h, sdb_kv *kv) { (void)h; ((uint8_t *)kv[0].value.ptr)[0] ^= 1; }
static void bad_prev(sdb_tx_header *h, sdb_kv *kv) { (void)kv; h->prev_alh.b[3] ^= 1; }
static void bad_root(sdb_tx_header *h, sdb_kv *kv) { (void)kv; h->bl_root.b[0] ^= 1; }
static void v0_header(sdb_tx_header *h, sdb_kv *kv) { (void)kv; h->version = 2; }

TEST(repl_engine_copy_and_refusals) {
    sdb_engine *a = open_at("a"), *b = open_at("b");
    commit_kv(a, "pk1", "pv1", 0);
    commit_kv(a, "pk2", "pv2", 0);
    commit_kv(a, "pk1", "", 1);
    for (int i = 0; i < 20; i++) commit_kv(a, "ploop", "px", 0);
    int why = -1;
    sdb_commit_result res;
    /* a gap is refused at once, naming nothing written */
    CHECK_RC(copy_tx(a, b, 2, NULL, &why, NULL), SEALDB_RANGE);
    CHECK_EQ_U64(why, SDB_REPL_GAP);
    CHECK_EQ_U64(sdb_engine_last_tx(b), 0);
    /* a header of an unknown version */
    CHECK_RC(copy_tx(a, b, 1, v0_header, &why, NULL), SEALDB_UNSUPPORTED);
    CHECK_OK(copy_tx(a, b, 1, NULL, &why, &res));
    CHECK_EQ_U64(res.hdr.id, 1);
    CHECK_EQ_U64(why, SDB_REPL_OK);
    /* the same tx again: EXISTS (immudb's "tx already committed"); a different one: diverged */
    CHECK_RC(copy_tx(a, b, 1, NULL, &why, NULL), SEALDB_EXISTS);
    CHECK_EQ_U64(why, SDB_REPL_EXISTS);
    CHECK_RC(copy_tx(a, b, 1, bump_ts, &why, NULL), SEALDB_TAMPERED);
    CHECK_EQ_U64(why, SDB_REPL_DIVERGED);
    /* wrong eH (value changed after export), blRoot, prevAlh */
    CHECK_RC(copy_tx(a, b, 2, flip_value, &why, NULL), SEALDB_TAMPERED);
    CHECK_EQ_U64(why, SDB_REPL_BAD_EH);
    CHECK_RC(copy_tx(a, b, 2, bad_root, &why, NULL), SEALDB_TAMPERED);
    CHECK_EQ_U64(why, SDB_REPL_BAD_BLROOT);
    CHECK_RC(copy_tx(a, b, 2, bad_prev, &why, NULL), SEALDB_TAMPERED);
    CHECK_EQ_U64(why, SDB_REPL_BAD_PREV_ALH);
    CHECK_EQ_U64(sdb_engine_last_tx(b), 1);
    for (uint64_t id = 2; id <= sdb_engine_last_tx(a); id++) {
        CHECK_OK(copy_tx(a, b, id, NULL, &why, &res));
        uint8_t want[32];
        sdb_tx_header hw;
        CHECK_OK(sdb_engine_tx_header(a, id, &hw, want));
        CHECK_EQ_MEM(res.alh.b, 32, want, 32);
    }
    same_state(a, b);
    /* the copy serves the same data and proofs */
    CHECK_OK(sdb_engine_wait_indexed(b, sdb_engine_last_tx(b), 10000));
    sdb_kv_version v;
    sdb_kv_version_init(&v);
    CHECK_OK(sdb_engine_get(b, sdb_slice_of("pk2", 3), NULL, &v));
    CHECK_EQ_MEM(v.value.ptr, v.value.len, "pv2", 3);
    CHECK_OK(sdb_engine_get(b, sdb_slice_of("pk1", 3), NULL, &v));
    CHECK(v.md.deleted);
    sdb_kv_version_deinit(&v);
    sdb_dual_proof dp;
    sdb_dual_proof_init(&dp);
    uint8_t a2[32], a9[32];
    sdb_tx_header hh;
    CHECK_OK(sdb_engine_tx_header(a, 2, &hh, a2));
    CHECK_OK(sdb_engine_tx_header(a, 9, &hh, a9));
    CHECK_OK(sdb_engine_dual_proof(b, 2, 9, &dp));
    CHECK_OK(sdb_dual_proof_verify(&dp, 2, 9, a2, a9));
    sdb_dual_proof_deinit(&dp);
    /* a copied engine reopens and verifies offline */
    sdb_engine_close(b);
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/b", sdb_test_tmpdir());
    CHECK_OK(sdb_verify_dir(dir, NULL));
    b = open_at("b");
    same_state(a, b);
    commit_kv(a, "pafter", "preopen", 0);
    CHECK_OK(copy_tx(a, b, sdb_engine_last_tx(a), NULL, &why, NULL));
    same_state(a, b);
    sdb_engine_close(a);
    sdb_engine_close(b);
}

/* ---- the txs exported by immudb 1.9.5 ---- */

static cJSON *load_vec(void) {
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
    cJSON *j = cJSON_Parse(s);
    free(s);
    CHECK(j);
    return j;
}

/* Reads the hot-backup file of the vectors (records 1-4 and 6 in hex; record 5 rebuilt). */
static void backup_payloads(const cJSON *v, sdb_buf *file) {
    const cJSON *hb = cJSON_GetObjectItem(v, "hot_backup");
    sdb_buf_init(file);
    const char *h1 = cJSON_GetObjectItem(hb, "file_hex_without_large_record")->valuestring;
    CHECK_OK(sdb_hex_decode(h1, strlen(h1), file));
}

static int import_payload(sdb_engine *e, sdb_slice p, int skip_eh, const uint8_t *alh, int *why, sdb_commit_result *res) {
    sdb_export_tx x;
    sdb_export_tx_init(&x);
    CHECK_OK(sdb_export_parse(p, &x, NULL));
    sdb_kv *kv = calloc(x.nentries, sizeof *kv);
    CHECK(kv);
    for (uint32_t i = 0; i < x.nentries; i++) {
        kv[i].key = x.entries[i].key;
        kv[i].value = x.entries[i].value;
        kv[i].md = x.entries[i].md;
    }
    int rc = sdb_engine_commit_replicated_sync(e, &x.hdr, kv, x.nentries, skip_eh, alh, res, why);
    free(kv);
    sdb_export_tx_deinit(&x);
    return rc;
}

TEST(repl_engine_imports_immudb_export) {
    cJSON *v = load_vec();
    sdb_buf file;
    backup_payloads(v, &file);
    sdb_engine *e = open_at("r");
    sdb_reader rd = sdb_reader_of(sdb_buf_slice(&file));
    int why, n = 0;
    sdb_commit_result res;
    while (sdb_reader_left(&rd)) {
        sdb_backup_record rec;
        CHECK_OK(sdb_backup_record_read(&rd, &rec));
        if (rec.tx_id == 2) {
            /* an expected Alh that differs is refused (hot-backup checksum, W17) */
            uint8_t wrong[32];
            memcpy(wrong, rec.alh.b, 32);
            wrong[0] ^= 1;
            CHECK_RC(import_payload(e, rec.payload, 0, wrong, &why, NULL), SEALDB_TAMPERED);
            CHECK_EQ_U64(why, SDB_REPL_BAD_ALH);
        }
        CHECK_OK(import_payload(e, rec.payload, 0, rec.alh.b, &why, &res));
        CHECK_EQ_U64(res.hdr.id, rec.tx_id);
        CHECK_EQ_MEM(res.alh.b, 32, rec.alh.b, 32);
        n++;
    }
    CHECK_EQ_U64(n, 4);
    /* tx 5 as exported with skipIntegrityCheck would have eH zeros: the engine recomputes it */
    const cJSON *skip = cJSON_GetObjectItem(v, "export_skip_integrity_check");
    sdb_buf s;
    sdb_buf_init(&s);
    const char *hx = cJSON_GetObjectItem(skip, "export_stream_hex")->valuestring;
    CHECK_OK(sdb_hex_decode(hx, strlen(hx), &s));
    CHECK_RC(import_payload(e, sdb_slice_of(s.ptr + 8, s.len - 8), 1, NULL, &why, NULL), SEALDB_EXISTS);
    sdb_buf_deinit(&s);
    /* the imported txs read back with immudb's headers, and the engine verifies offline */
    uint8_t alh4[32];
    sdb_tx_header h4;
    CHECK_OK(sdb_engine_tx_header(e, 4, &h4, alh4));
    const cJSON *t4 = cJSON_GetArrayItem(cJSON_GetObjectItem(v, "txs"), 3);
    CHECK_EQ_I64(h4.ts, (int64_t)cJSON_GetObjectItem(cJSON_GetObjectItem(t4, "header"), "ts")->valuedouble);
    sdb_engine_close(e);
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/r", sdb_test_tmpdir());
    CHECK_OK(sdb_verify_dir(dir, NULL));
    sdb_buf_deinit(&file);
    cJSON_Delete(v);
}
