/* testlib.h - sealdb's in-tree unit-test runner: TEST() registers a function, each runs in its own
 * forked process with a timeout, and every CHECK prints both sides on failure. */
#ifndef SDB_TESTLIB_H
#define SDB_TESTLIB_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*sdb_test_fn)(void);
void sdb_test_register(const char *name, sdb_test_fn fn);
void sdb_test_fail_mem(const char *file, int line, const char *ea, const char *eb,
                       const void *a, size_t an, const void *b, size_t bn);
/* A scratch directory for this test (removed after it passes), e.g. for database files. */
const char *sdb_test_tmpdir(void);
/* Directory holding the test vectors (tests/vectors, or $SDB_VECTORS_DIR). */
const char *sdb_test_vectors_dir(void);

#define TEST(name)                                                                     \
    static void name(void);                                                            \
    __attribute__((constructor)) static void name##_register_(void) {                  \
        sdb_test_register(#name, name);                                                \
    }                                                                                  \
    static void name(void)

#define TEST_FAIL_(...) do { fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);          \
    fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); exit(1); } while (0)

#define CHECK(cond) do { if (!(cond)) TEST_FAIL_("CHECK(%s) failed", #cond); } while (0)
#define CHECK_EQ_U64(a, b) do { uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);      \
    if (a_ != b_) TEST_FAIL_("CHECK_EQ(%s, %s): %" PRIu64 " != %" PRIu64, #a, #b, a_, b_); } while (0)
#define CHECK_EQ_I64(a, b) do { int64_t a_ = (int64_t)(a), b_ = (int64_t)(b);          \
    if (a_ != b_) TEST_FAIL_("CHECK_EQ(%s, %s): %" PRId64 " != %" PRId64, #a, #b, a_, b_); } while (0)
#define CHECK_EQ_STR(a, b) do { const char *a_ = (a), *b_ = (b);                       \
    if (!a_ || !b_ || strcmp(a_, b_)) TEST_FAIL_("CHECK_EQ_STR(%s, %s): \"%s\" != \"%s\"", #a, #b, \
        a_ ? a_ : "(null)", b_ ? b_ : "(null)"); } while (0)
#define CHECK_EQ_MEM(a, an, b, bn) do { const void *a_ = (a), *b_ = (b); size_t an_ = (an), bn_ = (bn); \
    if (an_ != bn_ || (an_ && memcmp(a_, b_, an_))) sdb_test_fail_mem(__FILE__, __LINE__, #a, #b, a_, an_, b_, bn_); } while (0)
/* A sealdb call must return the given status; prints both names otherwise. */
#define CHECK_RC(expr, want) do { int rc_ = (expr), w_ = (want);                       \
    if (rc_ != w_) TEST_FAIL_("%s returned %d (%s), want %d (%s)", #expr, rc_,         \
        sealdb_errname(rc_), w_, sealdb_errname(w_)); } while (0)
#define CHECK_OK(expr) CHECK_RC(expr, 0)

#endif
