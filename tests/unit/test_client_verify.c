/* test_client_verify.c - drives libsealdb-client's answer checkers with the complete server answers
 * of tests/vectors/sdk_flows.json: each answer is built as protobuf, packed and unpacked (the wire
 * path), checked from state_before, and must yield state_after; tampered copies must be refused. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include "testlib.h"
#include "client/client_int.h"

static sdb_arena A;

static cJSON *load_json(const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", sdb_test_vectors_dir(), name);
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    CHECK(fread(buf, 1, (size_t)n, f) == (size_t)n);
    buf[n] = 0;
    fclose(f);
    cJSON *j = cJSON_Parse(buf);
    free(buf);
    CHECK(j != NULL);
    return j;
}

static ProtobufCBinaryData hexb(const cJSON *s) {
    ProtobufCBinaryData b = { 0, NULL };
    if (!cJSON_IsString(s)) return b;
    sdb_buf t;
    sdb_buf_init(&t);
    CHECK_OK(sdb_hex_decode(s->valuestring, strlen(s->valuestring), &t));
    b.len = t.len;
    b.data = sdb_arena_dup(&A, t.ptr ? t.ptr : (const uint8_t *)"", t.len ? t.len : 1);
    sdb_buf_deinit(&t);
    return b;
}

static uint64_t u64(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? (uint64_t)v->valuedouble : 0;
}
#define GET(o, k) cJSON_GetObjectItemCaseSensitive(o, k)
#define NEW(T) ((T *)sdb_arena_alloc(&A, sizeof(T)))

static Immudb__Schema__KVMetadata *kvmd(const cJSON *m) {
    if (!cJSON_IsObject(m)) return NULL;
    Immudb__Schema__KVMetadata *md = NEW(Immudb__Schema__KVMetadata);
    immudb__schema__kvmetadata__init(md);
    md->deleted = cJSON_IsTrue(GET(m, "deleted"));
    md->nonindexable = cJSON_IsTrue(GET(m, "nonIndexable"));
    const cJSON *e = GET(m, "expiresAt");
    if (cJSON_IsNumber(e)) {
        md->expiration = NEW(Immudb__Schema__Expiration);
        immudb__schema__expiration__init(md->expiration);
        md->expiration->expiresat = (int64_t)e->valuedouble;
    }
    return md;
}

static Immudb__Schema__TxHeader *header(const cJSON *h) {
    Immudb__Schema__TxHeader *o = NEW(Immudb__Schema__TxHeader);
    immudb__schema__tx_header__init(o);
    o->id = u64(h, "id");
    o->prevalh = hexb(GET(h, "prevAlh"));
    o->ts = (int64_t)cJSON_GetNumberValue(GET(h, "ts"));
    o->nentries = (int32_t)u64(h, "nentries");
    o->eh = hexb(GET(h, "eH"));
    o->bltxid = u64(h, "blTxId");
    o->blroot = hexb(GET(h, "blRoot"));
    o->version = (int32_t)u64(h, "version");
    const cJSON *m = GET(h, "metadata");
    if (cJSON_IsObject(m)) {
        o->metadata = NEW(Immudb__Schema__TxMetadata);
        immudb__schema__tx_metadata__init(o->metadata);
        o->metadata->truncatedtxid = u64(m, "truncatedTxID");
        o->metadata->extra = hexb(GET(m, "extra"));
    }
    return o;
}

static void terms(const cJSON *arr, size_t *n, ProtobufCBinaryData **out) {
    *n = (size_t)cJSON_GetArraySize(arr);
    *out = *n ? sdb_arena_alloc(&A, *n * sizeof **out) : NULL;
    for (size_t i = 0; i < *n; i++) (*out)[i] = hexb(cJSON_GetArrayItem(arr, (int)i));
}

static Immudb__Schema__Tx *tx(const cJSON *t) {
    Immudb__Schema__Tx *o = NEW(Immudb__Schema__Tx);
    immudb__schema__tx__init(o);
    o->header = header(GET(t, "header"));
    const cJSON *es = GET(t, "entries");
    o->n_entries = (size_t)cJSON_GetArraySize(es);
    o->entries = o->n_entries ? sdb_arena_alloc(&A, o->n_entries * sizeof *o->entries) : NULL;
    for (size_t i = 0; i < o->n_entries; i++) {
        const cJSON *e = cJSON_GetArrayItem(es, (int)i);
        Immudb__Schema__TxEntry *x = NEW(Immudb__Schema__TxEntry);
        immudb__schema__tx_entry__init(x);
        x->key = hexb(GET(e, "key"));
        x->hvalue = hexb(GET(e, "hValue"));
        x->vlen = (int32_t)u64(e, "vLen");
        x->metadata = kvmd(GET(e, "metadata"));
        o->entries[i] = x;
    }
    return o;
}

static Immudb__Schema__VerifiableTx *vtx(const cJSON *r) {
    Immudb__Schema__VerifiableTx *o = NEW(Immudb__Schema__VerifiableTx);
    immudb__schema__verifiable_tx__init(o);
    o->tx = tx(GET(r, "tx"));
    const cJSON *d = GET(r, "dualProof");
    Immudb__Schema__DualProof *p = NEW(Immudb__Schema__DualProof);
    immudb__schema__dual_proof__init(p);
    p->sourcetxheader = header(GET(d, "sourceTxHeader"));
    p->targettxheader = header(GET(d, "targetTxHeader"));
    terms(GET(d, "inclusionProof"), &p->n_inclusionproof, &p->inclusionproof);
    terms(GET(d, "consistencyProof"), &p->n_consistencyproof, &p->consistencyproof);
    terms(GET(d, "lastInclusionProof"), &p->n_lastinclusionproof, &p->lastinclusionproof);
    p->targetbltxalh = hexb(GET(d, "targetBlTxAlh"));
    const cJSON *lp = GET(d, "linearProof");
    p->linearproof = NEW(Immudb__Schema__LinearProof);
    immudb__schema__linear_proof__init(p->linearproof);
    p->linearproof->sourcetxid = u64(lp, "sourceTxId");
    p->linearproof->targettxid = u64(lp, "TargetTxId");
    terms(GET(lp, "terms"), &p->linearproof->n_terms, &p->linearproof->terms);
    const cJSON *lap = GET(d, "LinearAdvanceProof");
    if (cJSON_IsObject(lap)) {
        Immudb__Schema__LinearAdvanceProof *l = NEW(Immudb__Schema__LinearAdvanceProof);
        immudb__schema__linear_advance_proof__init(l);
        terms(GET(lap, "linearProofTerms"), &l->n_linearproofterms, &l->linearproofterms);
        const cJSON *ips = GET(lap, "inclusionProofs");
        l->n_inclusionproofs = (size_t)cJSON_GetArraySize(ips);
        l->inclusionproofs = l->n_inclusionproofs ? sdb_arena_alloc(&A, l->n_inclusionproofs * sizeof *l->inclusionproofs) : NULL;
        for (size_t i = 0; i < l->n_inclusionproofs; i++) {
            const cJSON *ip = cJSON_GetArrayItem(ips, (int)i);
            Immudb__Schema__InclusionProof *x = NEW(Immudb__Schema__InclusionProof);
            immudb__schema__inclusion_proof__init(x);
            x->leaf = (int32_t)u64(ip, "leaf");
            x->width = (int32_t)u64(ip, "width");
            terms(GET(ip, "terms"), &x->n_terms, &x->terms);
            l->inclusionproofs[i] = x;
        }
        p->linearadvanceproof = l;
    }
    o->dualproof = p;
    const cJSON *s = GET(r, "signature");
    if (cJSON_IsObject(s)) {
        o->signature = NEW(Immudb__Schema__Signature);
        immudb__schema__signature__init(o->signature);
        o->signature->publickey = hexb(GET(s, "publicKey"));
        o->signature->signature = hexb(GET(s, "signature"));
    }
    return o;
}

static Immudb__Schema__VerifiableEntry *ventry(const cJSON *r) {
    Immudb__Schema__VerifiableEntry *o = NEW(Immudb__Schema__VerifiableEntry);
    immudb__schema__verifiable_entry__init(o);
    const cJSON *e = GET(r, "entry");
    Immudb__Schema__Entry *en = NEW(Immudb__Schema__Entry);
    immudb__schema__entry__init(en);
    en->tx = u64(e, "tx");
    en->key = hexb(GET(e, "key"));
    en->value = hexb(GET(e, "value"));
    en->metadata = kvmd(GET(e, "metadata"));
    en->revision = u64(e, "revision");
    const cJSON *rb = GET(e, "referencedBy");
    if (cJSON_IsObject(rb)) {
        en->referencedby = NEW(Immudb__Schema__Reference);
        immudb__schema__reference__init(en->referencedby);
        en->referencedby->tx = u64(rb, "tx");
        en->referencedby->key = hexb(GET(rb, "key"));
        en->referencedby->attx = u64(rb, "atTx");
        en->referencedby->metadata = kvmd(GET(rb, "metadata"));
        en->referencedby->revision = u64(rb, "revision");
    }
    o->entry = en;
    o->verifiabletx = vtx(GET(r, "verifiableTx"));
    const cJSON *ip = GET(r, "inclusionProof");
    o->inclusionproof = NEW(Immudb__Schema__InclusionProof);
    immudb__schema__inclusion_proof__init(o->inclusionproof);
    o->inclusionproof->leaf = (int32_t)u64(ip, "leaf");
    o->inclusionproof->width = (int32_t)u64(ip, "width");
    terms(GET(ip, "terms"), &o->inclusionproof->n_terms, &o->inclusionproof->terms);
    return o;
}

/* Packs and unpacks a message: the checkers see exactly what the wire would give them. */
static ProtobufCMessage *roundtrip(const ProtobufCMessage *m) {
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(n ? n : 1);
    protobuf_c_message_pack(m, buf);
    ProtobufCMessage *u = protobuf_c_message_unpack(m->descriptor, NULL, n, buf);
    free(buf);
    CHECK(u != NULL);
    return u;
}

static sdb_vstate vstate(const cJSON *s) {
    sdb_vstate v = { u64(s, "txId"), { { 0 } } };
    ProtobufCBinaryData h = hexb(GET(s, "txHash"));
    CHECK(h.len == SDB_HASH_LEN);
    memcpy(v.alh.b, h.data, SDB_HASH_LEN);
    return v;
}

static ProtobufCBinaryData req_bytes(const cJSON *req, const char *k) { return hexb(GET(req, k)); }
static sdb_slice sl(ProtobufCBinaryData b) { return sdb_slice_of(b.data, b.len); }

enum { T_NONE, T_VALUE, T_ALH };

/* Runs one flow. tamper: T_VALUE changes the client-side expectation (key/value), T_ALH changes the
 * trusted state; either must make verification fail. */
static int run_flow(const cJSON *f, const sdb_verifier *ver, int tamper, sdb_vstate *ns) {
    const char *op = GET(f, "op")->valuestring;
    const cJSON *req = GET(f, "request"), *resp = GET(f, "response");
    sdb_vstate trusted = vstate(GET(f, "state_before"));
    if (tamper == T_ALH) trusted.alh.b[5] ^= 1;
    sdb_slice db = sdb_slice_str("defaultdb");
    int rc;
    if (!strcmp(op, "verifiedGet")) {
        ProtobufCMessage *m = roundtrip(&ventry(resp)->base);
        ProtobufCBinaryData key = req_bytes(req, "key");
        if (tamper == T_VALUE) {
            Immudb__Schema__VerifiableEntry *ve = (Immudb__Schema__VerifiableEntry *)m;
            if (ve->entry->referencedby) ve->entry->key.data[0] ^= 1;   /* the referenced key is proven */
            else if (ve->entry->value.len) ve->entry->value.data[0] ^= 1;
            else key.data[0] ^= 1;
        }
        rc = sdb_cl_check_get((Immudb__Schema__VerifiableEntry *)m, db, ver, &trusted, sl(key), 0, ns);
        protobuf_c_message_free_unpacked(m, NULL);
        return rc;
    }
    ProtobufCMessage *m = roundtrip(&vtx(resp)->base);
    const Immudb__Schema__VerifiableTx *vt = (const Immudb__Schema__VerifiableTx *)m;
    if (!strcmp(op, "verifiedTxById")) {
        uint64_t id = u64(req, "tx");
        rc = sdb_cl_check_tx(vt, db, ver, &trusted, tamper == T_VALUE ? id + 1 : id, ns);
    } else if (!strcmp(op, "verifiedSet")) {
        ProtobufCBinaryData k = req_bytes(req, "key"), v = req_bytes(req, "value");
        if (tamper == T_VALUE) v.data[0] ^= 1;
        rc = sdb_cl_check_write(vt, SDB_CL_W_SET, db, ver, &trusted, sl(k), sl(v), 0, 0, ns);
    } else if (!strcmp(op, "verifiedSetReference")) {
        ProtobufCBinaryData k = req_bytes(req, "key"), r = req_bytes(req, "referencedKey");
        if (tamper == T_VALUE) r.data[0] ^= 1;
        rc = sdb_cl_check_write(vt, SDB_CL_W_REF, db, ver, &trusted, sl(k), sl(r), 0, u64(req, "atTx"), ns);
    } else if (!strcmp(op, "verifiedZAdd")) {
        ProtobufCBinaryData s = req_bytes(req, "set"), k = req_bytes(req, "key");
        double score = cJSON_GetNumberValue(GET(req, "score"));
        if (tamper == T_VALUE) score += 1;
        rc = sdb_cl_check_write(vt, SDB_CL_W_ZADD, db, ver, &trusted, sl(k), sl(s), score, u64(req, "atTx"), ns);
    } else {
        rc = -1;
    }
    protobuf_c_message_free_unpacked(m, NULL);
    return rc;
}

static sdb_verifier *load_verifier(void) {
    cJSON *j = load_json("state_signature.json");
    const char *pem = GET(j, "public_key_pem_pkix")->valuestring;
    sdb_verifier *v = NULL;
    CHECK_OK(sdb_verifier_load_pem(sdb_slice_str(pem), &v));
    cJSON_Delete(j);
    return v;
}

TEST(client_sdk_flows_verify_and_advance_state) {
    sdb_arena_init(&A, 1 << 16);
    cJSON *j = load_json("sdk_flows.json");
    sdb_verifier *ver = load_verifier();
    const cJSON *flows = GET(j, "flows");
    int n = 0;
    for (int i = 0; i < cJSON_GetArraySize(flows); i++) {
        const cJSON *f = cJSON_GetArrayItem(flows, i);
        sdb_vstate ns, want = vstate(GET(f, "state_after"));
        int rc = run_flow(f, ver, T_NONE, &ns);
        if (rc != SEALDB_OK) fprintf(stderr, "flow %d (%s): rc %s\n", i, GET(f, "name")->valuestring, sealdb_errname(rc));
        CHECK_OK(rc);
        CHECK_EQ_U64(ns.tx_id, want.tx_id);
        CHECK_EQ_MEM(ns.alh.b, SDB_HASH_LEN, want.alh.b, SDB_HASH_LEN);
        n++;
    }
    CHECK(n >= 17);
    sdb_verifier_free(ver);
    cJSON_Delete(j);
    sdb_arena_deinit(&A);
}

TEST(client_sdk_flows_tampered_answers_refused) {
    sdb_arena_init(&A, 1 << 16);
    cJSON *j = load_json("sdk_flows.json");
    sdb_verifier *ver = load_verifier();
    const cJSON *flows = GET(j, "flows");
    for (int i = 0; i < cJSON_GetArraySize(flows); i++) {
        const cJSON *f = cJSON_GetArrayItem(flows, i);
        sdb_vstate ns;
        memset(&ns, 0xab, sizeof ns);
        CHECK(run_flow(f, ver, T_VALUE, &ns) != SEALDB_OK);
        CHECK_EQ_U64(ns.tx_id, 0xababababababababull);   /* state untouched on failure */
        /* A wrong trusted hash can only be caught where a dual proof links to it. */
        if (u64(GET(f, "state_before"), "txId") > 0 &&
            u64(GET(f, "state_before"), "txId") != u64(GET(f, "state_after"), "txId"))
            CHECK(run_flow(f, ver, T_ALH, &ns) != SEALDB_OK);
    }
    sdb_verifier_free(ver);
    cJSON_Delete(j);
    sdb_arena_deinit(&A);
}

TEST(client_signature_required_when_key_given) {
    sdb_arena_init(&A, 1 << 16);
    cJSON *j = load_json("sdk_flows.json");
    sdb_verifier *ver = load_verifier();
    const cJSON *f = cJSON_GetArrayItem(GET(j, "flows"), 1);   /* a verifiedSet */
    cJSON *resp = GET(f, "response");
    cJSON_DeleteItemFromObjectCaseSensitive(resp, "signature");
    sdb_vstate ns;
    CHECK_RC(run_flow(f, ver, T_NONE, &ns), SEALDB_TAMPERED);
    CHECK_OK(run_flow(f, NULL, T_NONE, &ns));                 /* no key configured: accepted */
    sdb_verifier_free(ver);
    cJSON_Delete(j);
    sdb_arena_deinit(&A);
}

TEST(client_malformed_digest_is_refused) {
    sdb_arena_init(&A, 1 << 16);
    cJSON *j = load_json("sdk_flows.json");
    const cJSON *f = cJSON_GetArrayItem(GET(j, "flows"), 1);
    Immudb__Schema__VerifiableTx *vt = vtx(GET(f, "response"));
    vt->dualproof->targettxheader->eh.len = 31;                /* short digest */
    const cJSON *req = GET(f, "request");
    sdb_vstate trusted = vstate(GET(f, "state_before")), ns;
    int rc = sdb_cl_check_write(vt, SDB_CL_W_SET, sdb_slice_str("defaultdb"), NULL, &trusted,
                                sl(req_bytes(req, "key")), sl(req_bytes(req, "value")), 0, 0, &ns);
    CHECK(rc != SEALDB_OK);
    cJSON_Delete(j);
    sdb_arena_deinit(&A);
}
