/* test_client_state.c - the client's trusted-state file: 0600 creation, round trip of several
 * (server, db) entries, refusal of older or conflicting states, of files others can touch, and of
 * malformed or torn files. */
#include <stdio.h>
#include <sys/stat.h>
#include "testlib.h"
#include "client/state.h"

static sealdb_state mk(const char *db, uint64_t tx, uint8_t fill, size_t sig_len) {
    sealdb_state s;
    memset(&s, 0, sizeof s);
    snprintf(s.db, sizeof s.db, "%s", db);
    s.tx_id = tx;
    memset(s.alh, fill, sizeof s.alh);
    for (size_t i = 0; i < sig_len; i++) s.sig[i] = (uint8_t)(i + fill);
    s.sig_len = sig_len;
    return s;
}

static void path_in_tmp(char *out, size_t cap) { snprintf(out, cap, "%s/seal-state", sdb_test_tmpdir()); }

TEST(state_store_load_roundtrip_0600) {
    char p[1024];
    path_in_tmp(p, sizeof p);
    sealdb_state a = mk("defaultdb", 5, 0x11, 70), b = mk("other", 9, 0x22, 0), got;
    CHECK_RC(sdb_state_load(p, "srv1", "defaultdb", &got), SEALDB_NOTFOUND);
    CHECK_OK(sdb_state_store(p, "srv1", "defaultdb", &a));
    CHECK_OK(sdb_state_store(p, "srv1", "other", &b));
    sealdb_state c2 = mk("defaultdb", 3, 0x44, 0);
    CHECK_OK(sdb_state_store(p, "srv2", "defaultdb", &c2));
    struct stat sb;
    CHECK(stat(p, &sb) == 0);
    CHECK_EQ_U64(sb.st_mode & 0777, 0600);
    CHECK_OK(sdb_state_load(p, "srv1", "defaultdb", &got));
    CHECK_EQ_U64(got.tx_id, 5);
    CHECK_EQ_MEM(got.alh, 32, a.alh, 32);
    CHECK_EQ_MEM(got.sig, got.sig_len, a.sig, a.sig_len);
    CHECK_EQ_STR(got.db, "defaultdb");
    CHECK_OK(sdb_state_load(p, "srv1", "other", &got));
    CHECK_EQ_U64(got.tx_id, 9);
    CHECK_EQ_U64(got.sig_len, 0);
    CHECK_RC(sdb_state_load(p, "srv3", "other", &got), SEALDB_NOTFOUND);
    /* advancing replaces the entry */
    sealdb_state a2 = mk("defaultdb", 7, 0x33, 0);
    CHECK_OK(sdb_state_store(p, "srv1", "defaultdb", &a2));
    CHECK_OK(sdb_state_load(p, "srv1", "defaultdb", &got));
    CHECK_EQ_U64(got.tx_id, 7);
    CHECK_OK(sdb_state_load(p, "srv1", "other", &got));   /* others kept */
    CHECK_EQ_U64(got.tx_id, 9);
}

TEST(state_refuses_older_and_conflicting) {
    char p[1024];
    path_in_tmp(p, sizeof p);
    sealdb_state a = mk("defaultdb", 10, 0x11, 0), got;
    CHECK_OK(sdb_state_store(p, "srv", "defaultdb", &a));
    sealdb_state older = mk("defaultdb", 9, 0x11, 0), conflict = mk("defaultdb", 10, 0x12, 0);
    CHECK_RC(sdb_state_store(p, "srv", "defaultdb", &older), SEALDB_STALE);
    CHECK_RC(sdb_state_store(p, "srv", "defaultdb", &conflict), SEALDB_TAMPERED);
    CHECK_OK(sdb_state_store(p, "srv", "defaultdb", &a));   /* same state again is fine */
    CHECK_OK(sdb_state_load(p, "srv", "defaultdb", &got));
    CHECK_EQ_U64(got.tx_id, 10);
    CHECK_EQ_U64(got.alh[0], 0x11);
    CHECK_RC(sdb_state_check_advance(&a, &older), SEALDB_STALE);
    CHECK_OK(sdb_state_check_advance(&older, &a));
}

TEST(state_file_open_to_others_is_refused) {
    char p[1024];
    path_in_tmp(p, sizeof p);
    sealdb_state a = mk("defaultdb", 1, 0x11, 0), got;
    CHECK_OK(sdb_state_store(p, "srv", "defaultdb", &a));
    CHECK(chmod(p, 0644) == 0);
    CHECK_RC(sdb_state_load(p, "srv", "defaultdb", &got), SEALDB_PERMISSION);
    CHECK_RC(sdb_state_store(p, "srv", "defaultdb", &a), SEALDB_PERMISSION);
}

static void write_file(const char *p, const char *text) {
    FILE *f = fopen(p, "wb");
    CHECK(f != NULL);
    fputs(text, f);
    fclose(f);
    CHECK(chmod(p, 0600) == 0);
}

TEST(state_malformed_files_are_corrupt) {
    char p[1024];
    path_in_tmp(p, sizeof p);
    sealdb_state got;
    const char *bad[] = {
        "not a state file\n",
        "sealdb-state 1\nsrv defaultdb 5 00\n",                                 /* short hash */
        "sealdb-state 1\nsrv defaultdb x5 0000000000000000000000000000000000000000000000000000000000000000 -\n",
        "sealdb-state 1\nsrv defaultdb 5 0000000000000000000000000000000000000000000000000000000000000000 -",   /* torn */
        "sealdb-state 1\nsrv defaultdb 5 000000000000000000000000000000000000000000000000000000000000000g -\n",
        "sealdb-state 1\nsrv defaultdb 5 0000000000000000000000000000000000000000000000000000000000000000 - extra\n",
        "sealdb-state 1\nsrv defaultdb 99999999999999999999999 0000000000000000000000000000000000000000000000000000000000000000 -\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(p, bad[i]);
        CHECK_RC(sdb_state_load(p, "srv", "defaultdb", &got), SEALDB_CORRUPT);
    }
    write_file(p, "sealdb-state 1\nsrv defaultdb 5 0101010101010101010101010101010101010101010101010101010101010101 3045\n");
    CHECK_OK(sdb_state_load(p, "srv", "defaultdb", &got));
    CHECK_EQ_U64(got.tx_id, 5);
    CHECK_EQ_U64(got.sig_len, 2);
}

TEST(state_line_codec_rejects_bad_names) {
    sdb_buf b;
    sdb_buf_init(&b);
    sealdb_state s = mk("has space", 1, 0, 0);
    CHECK_RC(sdb_state_format_line("srv", &s, &b), SEALDB_INVALID);
    s = mk("ok", 1, 0, 0);
    CHECK_RC(sdb_state_format_line("", &s, &b), SEALDB_INVALID);
    CHECK_OK(sdb_state_format_line("srv", &s, &b));
    char uuid[64];
    sealdb_state back;
    CHECK_OK(sdb_state_parse_line((const char *)b.ptr, b.len - 1, uuid, sizeof uuid, &back));
    CHECK_EQ_STR(uuid, "srv");
    CHECK_EQ_STR(back.db, "ok");
    sdb_buf_deinit(&b);
}
