/* test_util.c - unit tests of src/util: buffers, readers, endian, checked arithmetic, errors, arena. */
#include "testlib.h"
#include "util/util.h"

TEST(endian_roundtrip) {
    uint8_t b[8];
    sdb_put_u64be(b, 0x0102030405060708ull);
    CHECK_EQ_MEM(b, 8, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
    CHECK_EQ_U64(sdb_get_u64be(b), 0x0102030405060708ull);
    sdb_put_u32be(b, 0xdeadbeef);
    CHECK_EQ_U64(sdb_get_u32be(b), 0xdeadbeef);
    sdb_put_u16be(b, 0xabcd);
    CHECK_EQ_MEM(b, 2, "\xab\xcd", 2);
}

TEST(checked_arith) {
    uint64_t r;
    CHECK_OK(sdb_add_u64(1, 2, &r));
    CHECK_EQ_U64(r, 3);
    CHECK_RC(sdb_add_u64(UINT64_MAX, 1, &r), SEALDB_TOOLARGE);
    CHECK_RC(sdb_mul_u64(UINT64_MAX / 2 + 1, 2, &r), SEALDB_TOOLARGE);
}

TEST(buf_and_reader) {
    sdb_buf b;
    sdb_buf_init(&b);
    for (int i = 0; i < 1000; i++) CHECK_OK(sdb_buf_append_u32be(&b, (uint32_t)i));
    CHECK_EQ_U64(b.len, 4000);
    sdb_reader r = sdb_reader_of(sdb_buf_slice(&b));
    uint32_t v;
    for (int i = 0; i < 1000; i++) { CHECK_OK(sdb_rd_u32be(&r, &v)); CHECK_EQ_U64(v, i); }
    CHECK_RC(sdb_rd_u32be(&r, &v), SEALDB_CORRUPT);
    sdb_slice s;
    CHECK_RC(sdb_rd_bytes(&r, 1, &s), SEALDB_CORRUPT);
    sdb_buf_deinit(&b);
    CHECK(b.ptr == NULL && b.len == 0);
}

TEST(hex) {
    sdb_buf b;
    sdb_buf_init(&b);
    CHECK_OK(sdb_hex_decode("00ffA0", 6, &b));
    CHECK_EQ_MEM(b.ptr, b.len, "\x00\xff\xa0", 3);
    char out[7];
    sdb_hex_encode(b.ptr, b.len, out);
    CHECK_EQ_STR(out, "00ffa0");
    CHECK_RC(sdb_hex_decode("0g", 2, &b), SEALDB_INVALID);
    CHECK_RC(sdb_hex_decode("abc", 3, &b), SEALDB_INVALID);
    sdb_buf_deinit(&b);
}

TEST(errors_named) {
    CHECK_EQ_STR(sealdb_errname(SEALDB_NOTFOUND), "NOTFOUND");
    CHECK_EQ_STR(sealdb_strerror(SEALDB_OK), "success");
    CHECK_EQ_STR(sealdb_strerror(9999), "unknown error code");
    CHECK_EQ_U64(sdb_err_from_errno(28 /* ENOSPC */), SEALDB_NOSPACE);
}

TEST(slice_cmp) {
    CHECK(sdb_slice_cmp(sdb_slice_str("a"), sdb_slice_str("ab")) < 0);
    CHECK(sdb_slice_cmp(sdb_slice_str("b"), sdb_slice_str("ab")) > 0);
    CHECK(sdb_slice_cmp(sdb_slice_str("ab"), sdb_slice_str("ab")) == 0);
}

TEST(arena) {
    sdb_arena a;
    sdb_arena_init(&a, 64);
    for (int i = 0; i < 100; i++) {
        uint8_t *p = sdb_arena_alloc(&a, (size_t)i + 1);
        CHECK(p != NULL);
        CHECK(((uintptr_t)p & 15) == 0);
        memset(p, i, (size_t)i + 1);
    }
    sdb_arena_deinit(&a);
    CHECK(a.head == NULL);
}

/* Huge-page arena (the memtable's): 2 MiB-aligned zeroed blocks, allocations larger than a block,
 * every byte writable and kept apart; an injected OOM is NULL, not a crash. */
TEST(arena_huge) {
    uint8_t *m = sdb_map_huge(3u << 20);
    CHECK(m != NULL);
    CHECK(((uintptr_t)m & ((2u << 20) - 1)) == 0);
    for (size_t i = 0; i < (4u << 20); i += 4096) CHECK(m[i] == 0);   /* rounded up to 4 MiB */
    memset(m, 0x5A, 4u << 20);
    sdb_unmap_huge(m, 3u << 20);
    sdb_arena a;
    sdb_arena_init_huge(&a);
    uint8_t *ps[64];
    size_t ns[64];
    for (int i = 0; i < 64; i++) {
        ns[i] = i == 10 ? (5u << 20) : (size_t)(100000 + i);   /* one larger than a block */
        ps[i] = sdb_arena_alloc(&a, ns[i]);
        CHECK(ps[i] != NULL);
        CHECK(((uintptr_t)ps[i] & 15) == 0);
        CHECK(ps[i][0] == 0 && ps[i][ns[i] - 1] == 0);
        memset(ps[i], i, ns[i]);
    }
    for (int i = 0; i < 64; i++) CHECK(ps[i][0] == (uint8_t)i && ps[i][ns[i] - 1] == (uint8_t)i);
    sdb_alloc_fail_after(1);
    CHECK(sdb_arena_alloc(&a, 3u << 20) == NULL);
    sdb_alloc_fail_after(0);
    sdb_arena_deinit(&a);
    CHECK(a.head == NULL);
}

TEST(alloc_fail_injection) {
    sdb_alloc_fail_after(2);
    void *p = sdb_malloc(10);
    CHECK(p != NULL);
    CHECK(sdb_malloc(10) == NULL);
    void *q = sdb_malloc(10);
    CHECK(q != NULL);
    sdb_free(p);
    sdb_free(q);
}
