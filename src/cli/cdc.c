/* cdc.c - `seal cdc-history` (every recorded version of one PostgreSQL row, each proven against the
 * trusted state) and `seal cdc-verify` (the slot's last N PostgreSQL transactions: every sealdb tx
 * proven, LSNs strictly increasing, split transactions complete). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cdc/cdc.h"
#include "cli/cdc.h"

static int err(sealdb_client *c, int rc, const char *what) {
    const char *m = sealdb_client_errmsg(c);
    fprintf(stderr, "seal: %s: %s\n", what, *m ? m : sealdb_strerror(rc));
    return rc == SEALDB_TAMPERED || rc == SEALDB_STALE ? 2 : 1;
}

int seal_cdc_history(sealdb_client *c, seal_out *o, const char *prefix, const char *table, const char *pk_json) {
    sdb_buf key, canon;
    sdb_buf_init(&key); sdb_buf_init(&canon);
    if (cdc_json_canon_flat(pk_json, strlen(pk_json), &canon) != SEALDB_OK) {
        fprintf(stderr, "seal: cdc-history: the primary key must be a JSON object of the key columns in "
                        "table order, e.g. '{\"id\": 42}'\n");
        return 1;
    }
    int rc = sdb_buf_append(&key, prefix, strlen(prefix)) || sdb_buf_append_u8(&key, '/') ||
             (!strchr(table, '.') && sdb_buf_append(&key, "public.", 7)) ||
             sdb_buf_append(&key, table, strlen(table)) || sdb_buf_append_u8(&key, '/') ||
             sdb_buf_append(&key, canon.ptr, canon.len);
    sdb_buf_deinit(&canon);
    if (rc) { sdb_buf_deinit(&key); return 1; }
    int code = 0;
    size_t total = 0;
    if (o->json) { out_begin(o); out_field_bytes(o, "key", key.ptr, key.len); out_array_begin(o, "versions"); }
    for (uint64_t off = 0;; ) {
        sealdb_entries *l = NULL;
        rc = sealdb_client_history(c, key.ptr, key.len, off, 500, 0, 0, &l);
        if (rc == SEALDB_NOTFOUND) break;
        if (rc) { code = err(c, rc, "cdc-history"); break; }
        for (size_t i = 0; i < l->n && !code; i++) {
            /* each version proven on its own: the entry at its tx, against the trusted state */
            sealdb_get_opts go = { .at_tx = l->items[i].tx };
            sealdb_entry *e = NULL;
            rc = sealdb_client_verified_get(c, key.ptr, key.len, &go, &e);
            if (rc) { code = err(c, rc, "cdc-history: proving a version"); break; }
            if (!e->verified || e->tx != l->items[i].tx || e->value_len != l->items[i].value_len ||
                memcmp(e->value, l->items[i].value, e->value_len)) {
                fprintf(stderr, "seal: cdc-history: version at tx %" PRIu64 " differs from its proof\n", l->items[i].tx);
                code = 2;
            } else if (o->json) {
                out_begin(o);
                out_field_u64(o, "tx", e->tx);
                out_field_u64(o, "revision", off + i + 1);
                out_field_bytes(o, "value", e->value, e->value_len);
                out_field_bool(o, "verified", 1);
                out_end(o);
            } else {
                printf("tx %" PRIu64 " rev %" PRIu64 " verified  ", e->tx, off + i + 1);
                out_bytes_human(stdout, e->value, e->value_len);
                fputc('\n', stdout);
            }
            sealdb_entry_free(e);
        }
        size_t n = l->n;
        sealdb_entries_free(l);
        total += n;
        off += n;
        if (code || n < 500) break;
    }
    if (o->json) { out_array_end(o); out_end(o); fputc('\n', stdout); }
    if (!code && total == 0) {
        fprintf(stderr, "seal: cdc-history: no recorded versions of %.*s\n", (int)key.len, (const char *)key.ptr);
        code = 1;
    }
    sdb_buf_deinit(&key);
    return code;
}

/* the value of key k in a proven tx (KV entries carry a 0x00 key prefix and a 0x00 value prefix) */
static int tx_value(const sealdb_tx *t, const char *k, char *out, size_t cap) {
    size_t kl = strlen(k);
    for (size_t i = 0; i < t->n; i++) {
        const sealdb_tx_entry *e = &t->entries[i];
        if (e->key_len == kl + 1 && e->key[0] == 0 && !memcmp(e->key + 1, k, kl) && e->has_value) {
            const uint8_t *v = e->value; size_t vl = e->value_len;
            if (vl && v[0] == 0) { v++; vl--; }
            if (vl >= cap) return -1;
            memcpy(out, v, vl); out[vl] = 0;
            return 0;
        }
    }
    return -1;
}

int seal_cdc_verify(sealdb_client *c, seal_out *o, const char *prefix, const char *slot, uint64_t last_n) {
    char lk[512], pk[512];
    snprintf(lk, sizeof lk, "%s/_cdc/%s/lsn", prefix, slot);
    snprintf(pk, sizeof pk, "%s/_cdc/%s/part", prefix, slot);
    if (last_n == 0 || last_n > 100000) last_n = 100;
    sealdb_entries *l = NULL;
    int rc = sealdb_client_history(c, lk, strlen(lk), 0, (int32_t)last_n, 1, 0, &l);
    if (rc == SEALDB_NOTFOUND || (rc == 0 && l->n == 0)) {
        sealdb_entries_free(l);
        fprintf(stderr, "seal: cdc-verify: nothing recorded for slot %s under %s/\n", slot, prefix);
        return 1;
    }
    if (rc) return err(c, rc, "cdc-verify");
    int code = 0;
    uint64_t prev = 0, first_lsn = 0, last_lsn = 0, ntx = 0, nsealdb = 0;
    for (size_t i = l->n; i-- > 0 && !code;) {   /* oldest first */
        uint64_t txid = l->items[i].tx;
        sealdb_tx *t = NULL;
        rc = sealdb_client_verified_tx_by_id(c, txid, 1, &t);
        if (rc) { code = err(c, rc, "cdc-verify: proving a transaction"); break; }
        char v[64];
        uint64_t lsn = 0;
        if (tx_value(t, lk, v, sizeof v) || cdc_lsn_parse(v, &lsn)) {
            fprintf(stderr, "seal: cdc-verify: tx %" PRIu64 " lacks the slot's LSN\n", txid);
            code = 2;
        } else if (lsn <= prev) {
            fprintf(stderr, "seal: cdc-verify: LSN %s at tx %" PRIu64 " does not follow the previous one\n", v, txid);
            code = 2;
        }
        sealdb_tx_free(t);
        nsealdb++;
        /* a split transaction: its earlier parts sit in the txs just before, numbered down to 1 */
        uint64_t back = txid;
        unsigned expect = 0;
        while (!code && back > 1) {
            sealdb_tx *p = NULL;
            rc = sealdb_client_verified_tx_by_id(c, back - 1, 1, &p);
            if (rc) { code = err(c, rc, "cdc-verify: proving a transaction"); break; }
            char pv[64], pl[32];
            unsigned chunk = 0;
            uint64_t plsn = 0;
            int is_part = !tx_value(p, pk, pv, sizeof pv) && sscanf(pv, "%31s %u", pl, &chunk) == 2 &&
                          !cdc_lsn_parse(pl, &plsn) && plsn == lsn;
            sealdb_tx_free(p);
            if (!is_part) break;
            if (expect && chunk != expect) {
                fprintf(stderr, "seal: cdc-verify: part %u of the transaction at %s is missing\n", expect, v);
                code = 2;
            }
            expect = chunk - 1;
            nsealdb++;
            back--;
        }
        if (!code && expect > 0) {
            fprintf(stderr, "seal: cdc-verify: the transaction at %s lacks its first %u part(s)\n", v, expect);
            code = 2;
        }
        if (!first_lsn) first_lsn = lsn;
        last_lsn = lsn;
        prev = lsn;
        ntx++;
    }
    sealdb_entries_free(l);
    if (!code) {
        char a[24], b[24];
        cdc_lsn_fmt(first_lsn, a); cdc_lsn_fmt(last_lsn, b);
        if (o->json) {
            out_begin(o);
            out_field_u64(o, "transactions", ntx);
            out_field_u64(o, "sealdb_transactions", nsealdb);
            out_field_str(o, "first_lsn", a);
            out_field_str(o, "last_lsn", b);
            out_field_bool(o, "verified", 1);
            out_end(o);
            fputc('\n', stdout);
        } else {
            printf("verified %" PRIu64 " PostgreSQL transactions (%" PRIu64 " sealdb transactions), LSN %s .. %s, "
                   "in order\n", ntx, nsealdb, a, b);
        }
    }
    return code;
}
