/* pending.c - the committer's table of keys written live by txs it has given ids to, so that a
 * KeyMustExist precondition on such a key holds without waiting for the earlier txs' fsync: if they
 * fail, every later tx fails with them (a failed group fails all after it), so the check is as safe
 * as reading the index once they are published. A miss only means "check the index the slow way",
 * except while the table holds every key of every tx the index may not have yet (from): then a key
 * that is in neither was not written, and a KeyMustExist on it fails without waiting. */
#include "engine/engine_int.h"

#define PK_SLOTS 16384u              /* power of two; reset when half full */
#define PK_BYTES (4u << 20)          /* key bytes kept before a reset */

static uint32_t pk_hash(const uint8_t *k, size_t n) { return (uint32_t)(sdb_hash64(k, n) >> 32); }

void sdb_pkeys_reset(sdb_pkeys *t) {
    if (t->slots) memset(t->slots, 0, PK_SLOTS * sizeof *t->slots);
    t->n = 0;
    t->from = 0;
    sdb_buf_reset(&t->bytes);
}

void sdb_pkeys_deinit(sdb_pkeys *t) {
    sdb_free(t->slots);
    t->slots = NULL;
    sdb_buf_deinit(&t->bytes);
    t->n = 0;
}

/* the slot holding key, or the empty slot where it would go */
static sdb_pkey *pk_find(const sdb_pkeys *t, const uint8_t *k, size_t n) {
    uint32_t i = pk_hash(k, n) & (PK_SLOTS - 1);
    for (;; i = (i + 1) & (PK_SLOTS - 1)) {
        sdb_pkey *s = &t->slots[i];
        if (!s->len || (s->len == n && !memcmp(t->bytes.ptr + s->off, k, n))) return s;
    }
}

/* 0 when key is noted; -1 when it or keys noted before were dropped (the table is then incomplete) */
static int pk_put(sdb_pkeys *t, const uint8_t *k, size_t n, int live) {
    if (!n || n > PK_BYTES / 4) return -1;
    sdb_pkey *s = pk_find(t, k, n);
    if (s->len) { s->live = (uint8_t)live; return 0; }
    int lost = 0;
    if (t->n + 1 > PK_SLOTS / 2 || t->bytes.len + n > PK_BYTES) {
        sdb_pkeys_reset(t);
        s = pk_find(t, k, n);
        lost = -1;
    }
    size_t off = t->bytes.len;
    if (sdb_buf_append(&t->bytes, k, n)) {
        /* no memory: forget everything (a dropped key is only a miss; a stale live flag would lie) */
        sdb_pkeys_reset(t);
        return -1;
    }
    s->off = (uint32_t)off;
    s->len = (uint32_t)n;
    s->live = (uint8_t)live;
    t->n++;
    return lost;
}

void sdb_pkeys_note(sdb_pkeys *t, uint64_t id, const uint8_t *rec, size_t rec_len, uint32_t ents_off,
                    uint32_t nentries) {
    if (!t->slots && !(t->slots = sdb_calloc(PK_SLOTS, sizeof *t->slots))) return;
    if (!t->from) t->from = id;
    int lost = 0;
    /* entries as commit_prepare wrote them: u16 keyLen | key | u8 mdLen | md | u32 vLen | hValue */
    size_t at = ents_off;
    for (uint32_t i = 0; i < nentries; i++) {
        if (at + 2 > rec_len) { sdb_pkeys_reset(t); lost = -1; break; }
        size_t kl = sdb_get_u16be(rec + at);
        if (at + 2 + kl + 1 > rec_len) { sdb_pkeys_reset(t); lost = -1; break; }
        const uint8_t *k = rec + at + 2;
        size_t ml = rec[at + 2 + kl];
        /* a version with metadata (deleted, expiring, not indexed) may not count as existing */
        lost |= pk_put(t, k, kl, ml == 0);
        at += 2 + kl + 1 + ml + 4 + SDB_HASH_LEN;
    }
    if (lost) t->from = id + 1;   /* this tx's keys are not all here: only the next ones count */
}

int sdb_pkeys_all_exist(const sdb_pkeys *t, const sdb_precondition *pre, size_t npre) {
    if (!t->slots || !t->n) return 0;
    for (size_t i = 0; i < npre; i++) {
        if (pre[i].kind != SDB_PRE_KEY_MUST_EXIST) return 0;
        const sdb_pkey *s = pk_find(t, pre[i].key.ptr, pre[i].key.len);
        if (!s->len || !s->live) return 0;
    }
    return 1;
}

int sdb_pkeys_absent(const sdb_pkeys *t, sdb_slice key) {
    if (!t->from) return 0;
    if (!t->slots || !t->n) return 1;
    return !pk_find(t, key.ptr, key.len)->len;
}
