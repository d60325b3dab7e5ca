/* test_engine_htree.c - inclusion proofs from the stored htree node file: every entry of txs of
 * many widths proves against eH and equals the proof of the tree built in memory, also after
 * reopen, after the file is deleted, truncated mid-block or damaged in the middle (proofs fall
 * back to the journal), and an old-layout txindex is rebuilt. */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include "engine_check.h"
#include "testlib.h"
#include "engine/engine.h"
#include "engine/engine_int.h"
#include "storage/journal.h"
#include "storage/crc32c.h"

static char dir_[1024];
static const char *dbdir(void) { snprintf(dir_, sizeof dir_, "%s/db", sdb_test_tmpdir()); return dir_; }
static char *path_of(const char *name) {
    static char p[1200];
    snprintf(p, sizeof p, "%s/%s", dir_, name);
    return p;
}

static sdb_engine *open_db(void) {
    sdb_engine_opts o;
    sdb_engine_opts_default(&o);
    o.segment_size = 1u << 20;
    o.sync = 0;
    sdb_engine *e = NULL;
    int rc = sdb_engine_open(dir_, &o, &e);
    if (rc) fprintf(stderr, "open: %s: %s\n", sealdb_errname(rc), sdb_engine_last_open_error());
    CHECK_OK(rc);
    return e;
}

/* widths 1..33, then 1000, then 1..3 again (single-entry txs between blocks) */
static const uint32_t widths[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
                                   22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 1000, 1, 2, 3 };
#define NW (sizeof widths / sizeof widths[0])

static void fill(sdb_engine *e) {
    static char keys[1000][24], vals[1000][40];
    static sdb_kv kv[1000];
    for (size_t t = 0; t < NW; t++) {
        for (uint32_t i = 0; i < widths[t]; i++) {
            snprintf(keys[i], sizeof keys[i], "t%zu-k%u", t, i);
            snprintf(vals[i], sizeof vals[i], "value %zu/%u", t, i);
            kv[i] = (sdb_kv){ .key = sdb_slice_str(keys[i]), .value = sdb_slice_str(vals[i]) };
        }
        CHECK_OK(sdb_engine_commit_sync(e, kv, widths[t], NULL, 0, NULL, NULL));
    }
}

static uint64_t last_fallbacks;   /* proofs check_all got from the journal, not the node file */

/* Every entry of every tx: the proof verifies against eH with the digest the client computes,
 * with eH given and with eH read by the engine; a changed digest does not verify. */
static void check_all(sdb_engine *e) {
    CHECK_EQ_U64(sdb_engine_last_tx(e), NW);
    uint64_t fb0 = atomic_load(&e->ht_fallbacks);
    sdb_hashes terms;
    sdb_hashes_init(&terms);
    sdb_tx t;
    sdb_tx_init(&t);
    sdb_hashes ref;
    sdb_hashes_init(&ref);
    sdb_htree mem;
    sdb_htree_init(&mem);
    static sdb_hash dig[1000];
    for (uint64_t id = 1; id <= NW; id++) {
        CHECK_OK(sdb_engine_tx_read(e, id, 0, &t));
        CHECK_EQ_U64(t.nentries, widths[id - 1]);
        for (uint32_t i = 0; i < t.nentries; i++)
            CHECK_OK(sdb_entry_digest(t.hdr.version, t.entries[i].key, t.entries[i].md_bytes, t.entries[i].hvalue.b, dig[i].b));
        CHECK_OK(sdb_htree_build(&mem, dig, t.nentries));
        for (uint32_t i = 0; i < t.nentries; i++) {
            uint8_t d[32];
            uint32_t w = 0;
            memcpy(d, dig[i].b, 32);
            CHECK_OK(sdb_engine_inclusion_proof(e, id, i, (i & 1) ? NULL : t.hdr.eh.b, &terms, &w));
            CHECK_EQ_U64(w, t.nentries);
            /* byte for byte the proof of the tree built in memory from the entries */
            CHECK_OK(sdb_htree_proof(&mem, i, &ref));
            CHECK_EQ_U64(terms.n, ref.n);
            for (size_t k = 0; k < ref.n; k++) CHECK_EQ_MEM(terms.h[k].b, 32, ref.h[k].b, 32);
            CHECK_OK(sdb_htree_verify(&terms, i, w, d, t.hdr.eh.b));
            d[0] ^= 1;
            CHECK(sdb_htree_verify(&terms, i, w, d, t.hdr.eh.b) != SEALDB_OK);
        }
        uint32_t w;
        CHECK(sdb_engine_inclusion_proof(e, id, t.nentries, t.hdr.eh.b, &terms, &w) != SEALDB_OK);
    }
    CHECK_RC(sdb_engine_inclusion_proof(e, NW + 1, 0, NULL, &terms, &(uint32_t){0}), SEALDB_RANGE);
    last_fallbacks = atomic_load(&e->ht_fallbacks) - fb0 - NW;   /* minus the out-of-range probes */
    sdb_htree_deinit(&mem);
    sdb_hashes_deinit(&ref);
    sdb_tx_deinit(&t);
    sdb_hashes_deinit(&terms);
}

static uint64_t expected_size(void) {
    uint64_t s = 0;
    for (size_t t = 0; t < NW; t++) s += sdb_htree_block_len(widths[t]);
    return s;
}

static uint64_t file_size(const char *p) {
    struct stat st;
    CHECK(stat(p, &st) == 0);
    return (uint64_t)st.st_size;
}

static void build_db(void) {
    dbdir();
    sdb_engine *e = open_db();
    fill(e);
    check_all(e);
    sdb_engine_close(e);
    CHECK_EQ_U64(file_size(path_of("htree")), expected_size());
}

TEST(block_lengths) {
    CHECK_EQ_U64(sdb_htree_block_len(0), 0);
    CHECK_EQ_U64(sdb_htree_block_len(1), 0);
    CHECK_EQ_U64(sdb_htree_block_len(2), 2 * 32);          /* 2 leaves */
    CHECK_EQ_U64(sdb_htree_block_len(3), (3 + 2) * 32);    /* 3 leaves, 2 nodes */
    CHECK_EQ_U64(sdb_htree_block_len(5), (5 + 3 + 2) * 32);
    CHECK_EQ_U64(sdb_htree_block_len(1024), 2046 * 32);
}

TEST(proofs_every_width_and_after_reopen) {
    build_db();
    CHECK_EQ_U64(last_fallbacks, 0);
    sdb_engine *e = open_db();
    check_all(e);
    CHECK_EQ_U64(last_fallbacks, 0);
    sdb_engine_close(e);
    CHECK_OK(sdb_verify_dir(dir_, NULL));
}

TEST(deleted_node_file_is_rebuilt) {
    build_db();
    CHECK(unlink(path_of("htree")) == 0);
    sdb_engine *e = open_db();
    CHECK_EQ_U64(file_size(path_of("htree")), expected_size());
    check_all(e);
    CHECK_EQ_U64(last_fallbacks, 0);   /* rebuilt blocks serve the proofs */
    fill(e);   /* and writing goes on after the rebuilt blocks */
    sdb_engine_close(e);
    CHECK_OK(sdb_verify_dir(dir_, NULL));
}

TEST(truncated_mid_block_is_rebuilt) {
    build_db();
    uint64_t sz = expected_size();
    /* inside the 1000-wide block, and inside a small block near the end */
    for (int round = 0; round < 2; round++) {
        uint64_t cut = round == 0 ? sz / 2 + 7 : sz - 40;
        CHECK(truncate(path_of("htree"), (off_t)cut) == 0);
        sdb_engine *e = open_db();
        CHECK_EQ_U64(file_size(path_of("htree")), sz);
        check_all(e);
        CHECK_EQ_U64(last_fallbacks, 0);
        sdb_engine_close(e);
        CHECK_OK(sdb_verify_dir(dir_, NULL));
    }
}

TEST(damaged_tail_block_is_rewritten_on_open) {
    build_db();
    uint64_t sz = expected_size();
    int fd = open(path_of("htree"), O_RDWR);
    CHECK(fd >= 0);
    uint8_t b = 0x55;
    CHECK(pwrite(fd, &b, 1, (off_t)(sz - 3)) == 1);   /* a node of the last block (tx NW) */
    /* and garbage past the end */
    uint8_t junk[100] = { 1 };
    CHECK(pwrite(fd, junk, sizeof junk, (off_t)sz) == (ssize_t)sizeof junk);
    close(fd);
    sdb_engine *e = open_db();
    sdb_engine_close(e);
    CHECK_EQ_U64(file_size(path_of("htree")), sz);
    CHECK_OK(sdb_verify_dir(dir_, NULL));
}

TEST(damaged_middle_block_falls_back_to_the_journal) {
    build_db();
    /* the 1000-wide tx: flip a leaf hash and an inner node of its block */
    uint64_t off = 0;
    for (size_t t = 0; t < NW && widths[t] != 1000; t++) off += sdb_htree_block_len(widths[t]);
    /* damaged while open (the open-time tail check would rewrite it from the journal first) */
    sdb_engine *e = open_db();
    int fd = open(path_of("htree"), O_RDWR);
    CHECK(fd >= 0);
    uint8_t b[2] = { 0xAA, 0x55 };
    CHECK(pwrite(fd, &b[0], 1, (off_t)(off + 32 * 500 + 3)) == 1);
    CHECK(pwrite(fd, &b[1], 1, (off_t)(off + 32 * 1100 + 9)) == 1);
    close(fd);
    check_all(e);   /* every proof still right: the path check caught the bad nodes */
    CHECK(last_fallbacks > 0);
    sdb_engine_close(e);
    char *out = NULL; size_t outn = 0;
    FILE *f = open_memstream(&out, &outn);
    CHECK(sdb_verify_dir(dir_, f) != SEALDB_OK);
    fclose(f);
    CHECK(strstr(out, "htree") != NULL);
    char want[32];
    snprintf(want, sizeof want, "at tx %zu in", (size_t)34);
    CHECK(strstr(out, want) != NULL);
    free(out);
    /* the next open re-checks the tail against the journal and rewrites the block */
    e = open_db();
    sdb_scrub_stats st;
    sdb_engine_scrub_stats(e, &st);
    CHECK_EQ_U64(st.repaired, 1);
    CHECK_EQ_U64(st.failures, 0);
    sdb_engine_close(e);
    CHECK_OK(sdb_verify_dir(dir_, NULL));
}

/* Each stored node of a 13-wide tx's block damaged in turn (one at a time): the proof of every
 * entry whose path reads that node (its leaf, a sibling, or a node on its path to the root, checked
 * against its two children) comes from the journal instead, and every proof stays right. */
TEST(each_damaged_node_is_noticed_on_the_paths_that_read_it) {
    build_db();
    const uint32_t w = 13;
    uint64_t off = 0;
    size_t tx = 0;
    for (; widths[tx] != w; tx++) off += sdb_htree_block_len(widths[tx]);
    uint64_t nnodes = sdb_htree_block_len(w) / 32;
    sdb_engine *e = open_db();
    sdb_tx t;
    sdb_tx_init(&t);
    CHECK_OK(sdb_engine_tx_read(e, tx + 1, 0, &t));
    sdb_hashes terms;
    sdb_hashes_init(&terms);
    int fd = open(path_of("htree"), O_RDWR);
    CHECK(fd >= 0);
    for (uint64_t n = 0; n < nnodes; n++) {
        uint8_t orig, bad;
        CHECK(pread(fd, &orig, 1, (off_t)(off + 32 * n + 7)) == 1);
        bad = (uint8_t)(orig ^ 0x40);
        CHECK(pwrite(fd, &bad, 1, (off_t)(off + 32 * n + 7)) == 1);
        uint64_t noticed = 0;
        for (uint32_t i = 0; i < w; i++) {
            /* does entry i's check read node n? its leaf, siblings and path nodes, level by level */
            int reads = 0;
            uint64_t lo = 0;
            for (uint32_t pl = w, j = i; pl > 1; lo += pl, pl = (pl + 1) / 2, j >>= 1) {
                if (lo + j == n || ((j ^ 1u) < pl && lo + (j ^ 1u) == n)) reads = 1;
            }
            uint64_t fb0 = atomic_load(&e->ht_fallbacks);
            uint32_t wd = 0;
            CHECK_OK(sdb_engine_inclusion_proof(e, tx + 1, i, t.hdr.eh.b, &terms, &wd));
            uint8_t d[32];
            CHECK_OK(sdb_entry_digest(t.hdr.version, t.entries[i].key, t.entries[i].md_bytes, t.entries[i].hvalue.b, d));
            CHECK_OK(sdb_htree_verify(&terms, i, wd, d, t.hdr.eh.b));
            uint64_t fb = atomic_load(&e->ht_fallbacks) - fb0;
            CHECK_EQ_U64(fb, (uint64_t)reads);
            noticed += fb;
        }
        CHECK(noticed > 0);   /* every stored node is on some entry's path */
        CHECK(pwrite(fd, &orig, 1, (off_t)(off + 32 * n + 7)) == 1);
    }
    close(fd);
    sdb_hashes_deinit(&terms);
    sdb_tx_deinit(&t);
    sdb_engine_close(e);
}

/* A tx-index record in the middle that no longer decodes (a lost page) while the node file must
 * be rebuilt across it: open rebuilds the tx index whole instead of failing. Also a record with a
 * valid checksum that places its block elsewhere. */
TEST(bad_txindex_record_during_node_rebuild) {
    for (int kind = 0; kind < 2; kind++) {
        char cmd[1200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s/db'", sdb_test_tmpdir());
        CHECK(system(cmd) == 0);
        build_db();
        int fd = open(path_of("txindex"), O_RDWR);
        CHECK(fd >= 0);
        uint8_t b[64];
        if (kind == 0) memset(b, 0, sizeof b);
        else {
            sdb_txi_rec r;
            CHECK(pread(fd, b, 64, 19 * 64) == 64);
            CHECK_OK(sdb_txi_decode(b, &r));
            r.node_off += 32;
            sdb_txi_encode(&r, b);
        }
        CHECK(pwrite(fd, b, 64, 19 * 64) == 64);   /* tx 20 */
        close(fd);
        CHECK(unlink(path_of("htree")) == 0);
        sdb_engine *e = open_db();
        check_all(e);
        CHECK_EQ_U64(last_fallbacks, 0);
        sdb_engine_close(e);
        CHECK_EQ_U64(file_size(path_of("htree")), expected_size());
        CHECK_OK(sdb_verify_dir(dir_, NULL));
    }
}

/* The pre-htree txindex layout: u64 pos | u64 vals_len | u32 meta_len | u32 nentries | alh | u32 0 | crc. */
TEST(old_layout_txindex_is_rebuilt) {
    build_db();
    char *p = path_of("txindex");
    int fd = open(p, O_RDWR);
    CHECK(fd >= 0);
    for (uint64_t id = 1; id <= NW; id++) {
        uint8_t b[64], o[64];
        sdb_txi_rec r;
        CHECK(pread(fd, b, 64, (off_t)((id - 1) * 64)) == 64);
        CHECK_OK(sdb_txi_decode(b, &r));
        memset(o, 0, sizeof o);
        sdb_put_u64be(o, r.pos);
        sdb_put_u64be(o + 8, r.vals_len);
        sdb_put_u32be(o + 16, r.meta_len);
        sdb_put_u32be(o + 20, r.nentries);
        memcpy(o + 24, r.alh.b, 32);
        sdb_put_u32be(o + 60, sdb_crc32c(0, o, 60));
        CHECK(sdb_txi_decode(o, &r) != SEALDB_OK);
        CHECK(pwrite(fd, o, 64, (off_t)((id - 1) * 64)) == 64);
    }
    close(fd);
    CHECK(unlink(path_of("htree")) == 0);
    CHECK_OK(sdb_verify_dir(dir_, NULL));   /* an old layout is "rebuilt on open", not damage */
    sdb_engine *e = open_db();
    check_all(e);
    sdb_engine_close(e);
    CHECK_OK(sdb_verify_dir(dir_, NULL));
    fd = open(path_of("txindex"), O_RDONLY);   /* (p was overwritten: path_of's buffer is static) */
    CHECK(fd >= 0);
    uint8_t b[64];
    sdb_txi_rec r;
    CHECK(pread(fd, b, 64, 33 * 64) == 64);
    close(fd);
    CHECK_OK(sdb_txi_decode(b, &r));
    CHECK_EQ_U64(r.nentries, 1000);
}

TEST(txi_record_round_trip) {
    sdb_txi_rec r = { 0x0102030405060708ull, (1ull << 35) - 3, 123456, 1024, { { 7 } }, (1ull << 48) - 5 }, r2;
    uint8_t b[64];
    sdb_txi_encode(&r, b);
    CHECK_OK(sdb_txi_decode(b, &r2));
    CHECK_EQ_U64(r2.pos, r.pos);
    CHECK_EQ_U64(r2.vals_len, r.vals_len);
    CHECK_EQ_U64(r2.meta_len, r.meta_len);
    CHECK_EQ_U64(r2.nentries, r.nentries);
    CHECK_EQ_U64(r2.node_off, r.node_off);
    CHECK_EQ_MEM(r2.alh.b, 32, r.alh.b, 32);
    b[40] ^= 1;
    CHECK_RC(sdb_txi_decode(b, &r2), SEALDB_CORRUPT);
}

/* Proofs of just-published txs while the committer appends blocks (the block is written before
 * the tx is published). */
static atomic_int writing;
static void *writer(void *arg) {
    sdb_engine *e = arg;
    for (int t = 0; t < 300; t++) {
        char k[5][24];
        sdb_kv kv[5];
        for (int i = 0; i < 5; i++) {
            snprintf(k[i], sizeof k[i], "c%d-%d", t, i);
            kv[i] = (sdb_kv){ .key = sdb_slice_str(k[i]), .value = sdb_slice_str(k[i]) };
        }
        CHECK_OK(sdb_engine_commit_sync(e, kv, 1 + (size_t)(t % 5), NULL, 0, NULL, NULL));
    }
    atomic_store(&writing, 0);
    return NULL;
}

TEST(proofs_while_committing) {
    dbdir();
    sdb_engine *e = open_db();
    atomic_store(&writing, 1);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, writer, e) == 0);
    sdb_hashes terms;
    sdb_hashes_init(&terms);
    sdb_tx t;
    sdb_tx_init(&t);
    uint64_t proved = 0;
    while (atomic_load(&writing)) {
        uint64_t id = sdb_engine_last_tx(e);
        if (!id) continue;
        CHECK_OK(sdb_engine_tx_read(e, id, 0, &t));
        proved += check_entries_prove(e, id, &t, &terms);
    }
    pthread_join(th, NULL);
    CHECK(proved > 0);
    CHECK_EQ_U64(atomic_load(&e->ht_fallbacks), 0);   /* every proof came from the stored nodes */
    sdb_tx_deinit(&t);
    sdb_hashes_deinit(&terms);
    sdb_engine_close(e);
    CHECK_OK(sdb_verify_dir(dir_, NULL));
}
