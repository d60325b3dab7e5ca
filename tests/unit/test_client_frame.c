/* test_client_frame.c - stream message framing: any split of the byte stream into chunks gives the
 * same messages; oversize and truncated streams are refused. Also the CLI's argument parser. */
#include <stdio.h>
#include "testlib.h"
#include "client/frame.h"
#include "../../src/cli/args.c"

typedef struct rec { sdb_buf msgs[4]; uint64_t starts, ends; } rec;
static int on_start(void *ctx, uint64_t i, uint64_t len) { rec *r = ctx; (void)len; if (i >= 4) return SEALDB_PROTOCOL; r->starts++; return 0; }
static int on_data(void *ctx, uint64_t i, const uint8_t *p, size_t n) { rec *r = ctx; return sdb_buf_append(&r->msgs[i], p, n); }
static int on_end(void *ctx, uint64_t i) { rec *r = ctx; (void)i; r->ends++; return 0; }

static size_t encode(uint8_t *out, const char *const *msgs, size_t n) {
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(msgs[i]);
        sdb_put_u64be(out + off, l);
        memcpy(out + off + 8, msgs[i], l);
        off += 8 + l;
    }
    return off;
}

TEST(frame_any_chunking_same_messages) {
    const char *msgs[] = { "key", "", "a longer value spanning chunks" };
    uint8_t stream[256];
    size_t n = encode(stream, msgs, 3);
    for (size_t step = 1; step <= n; step++) {
        rec r;
        memset(&r, 0, sizeof r);
        for (int i = 0; i < 4; i++) sdb_buf_init(&r.msgs[i]);
        sdb_frame_rd fr;
        sdb_frame_rd_init(&fr, 1000, &r);
        fr.on_start = on_start; fr.on_data = on_data; fr.on_end = on_end;
        for (size_t off = 0; off < n; off += step)
            CHECK_OK(sdb_frame_feed(&fr, sdb_slice_of(stream + off, off + step > n ? n - off : step)));
        CHECK_OK(sdb_frame_finish(&fr));
        CHECK_EQ_U64(r.starts, 3);
        CHECK_EQ_U64(r.ends, 3);
        for (int i = 0; i < 3; i++) CHECK_EQ_MEM(r.msgs[i].ptr, r.msgs[i].len, msgs[i], strlen(msgs[i]));
        for (int i = 0; i < 4; i++) sdb_buf_deinit(&r.msgs[i]);
    }
}

TEST(frame_truncated_and_oversize) {
    const char *msgs[] = { "hello" };
    uint8_t stream[64];
    size_t n = encode(stream, msgs, 1);
    for (size_t cut = 1; cut < n; cut++) {
        sdb_frame_rd fr;
        sdb_frame_rd_init(&fr, 1000, NULL);
        CHECK_OK(sdb_frame_feed(&fr, sdb_slice_of(stream, cut)));
        CHECK_RC(sdb_frame_finish(&fr), SEALDB_PROTOCOL);
    }
    sdb_frame_rd fr;
    sdb_frame_rd_init(&fr, 4, NULL);
    CHECK_RC(sdb_frame_feed(&fr, sdb_slice_of(stream, n)), SEALDB_TOOLARGE);
    uint8_t huge[8];
    sdb_put_u64be(huge, UINT64_MAX);
    sdb_frame_rd_init(&fr, 1u << 30, NULL);
    CHECK_RC(sdb_frame_feed(&fr, sdb_slice_of(huge, 8)), SEALDB_TOOLARGE);
}

static int parse(seal_args *a, const char *line, char *err) {
    static char buf[1024];   /* parsed values point into it */
    char *argv[64];
    int argc = 0;
    snprintf(buf, sizeof buf, "%s", line);
    for (char *t = strtok(buf, " "); t && argc < 64; t = strtok(NULL, " ")) argv[argc++] = t;
    seal_args_defaults(a);
    int rc = seal_args_parse(argc, argv, a, err, 256);
    return rc;
}

TEST(cli_args_immuclient_flags_anywhere) {
    seal_args a;
    char err[256];
    CHECK(parse(&a, "-a 10.0.0.1 --immudb-port=4000 safeget k1 --database db1 --json --at-tx 7", err) == 0);
    CHECK_EQ_STR(a.address, "10.0.0.1");
    CHECK_EQ_U64(a.port, 4000);
    CHECK_EQ_STR(a.database, "db1");
    CHECK(a.json);
    CHECK_EQ_U64(a.at_tx, 7);
    CHECK_EQ_U64(a.npos, 2);
    CHECK_EQ_STR(a.pos[0], "safeget");
    CHECK_EQ_STR(a.pos[1], "k1");
    CHECK(parse(&a, "zadd set -1.5 key --revision -2", err) == 0);
    CHECK_EQ_U64(a.npos, 4);
    CHECK_EQ_STR(a.pos[2], "-1.5");
    CHECK(a.has_revision);
    CHECK_EQ_I64(a.revision, -2);
    CHECK(parse(&a, "db update x --autoload false --exclude-commit-time=true", err) == 0);
    CHECK(a.has_autoload && !a.autoload && a.has_excl_time && a.excl_time);
    CHECK(parse(&a, "set -- -k -v", err) == 0);
    CHECK_EQ_STR(a.pos[1], "-k");
}

TEST(cli_args_errors) {
    seal_args a;
    char err[256];
    CHECK(parse(&a, "get k --nope", err) != 0);
    CHECK(strstr(err, "unknown flag") != NULL);
    CHECK(parse(&a, "get k --at-tx", err) != 0);
    CHECK(parse(&a, "get k --at-tx -1", err) != 0);
    CHECK(parse(&a, "get k --at-tx 12x", err) != 0);
    CHECK(parse(&a, "-p 70000 health", err) != 0);
    CHECK(parse(&a, "--json=maybe health", err) != 0);
    CHECK(parse(&a, "--max-key-len 99999999999 db create x", err) != 0);
}
