/* runner.c - main() of every unit-test binary: runs each registered test in a forked child with a
 * timeout, prints PASS/FAIL lines and a closing "N passed, N failed" line. */
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "sealdb_err.h"
#include "testlib.h"

#define MAX_TESTS 1024

static struct { const char *name; sdb_test_fn fn; } tests[MAX_TESTS];
static int ntests;
static char tmpdir[4096];

void sdb_test_register(const char *name, sdb_test_fn fn) {
    if (ntests < MAX_TESTS) { tests[ntests].name = name; tests[ntests].fn = fn; ntests++; }
}

const char *sdb_test_tmpdir(void) { return tmpdir; }

const char *sdb_test_vectors_dir(void) {
    const char *d = getenv("SDB_VECTORS_DIR");
    return d ? d : "tests/vectors";
}

static void hexdump(const char *label, const void *p, size_t n) {
    const unsigned char *b = p;
    fprintf(stderr, "  %s (%zu bytes): ", label, n);
    for (size_t i = 0; i < n && i < 256; i++) fprintf(stderr, "%02x", b[i]);
    if (n > 256) fprintf(stderr, "...");
    fputc('\n', stderr);
}

void sdb_test_fail_mem(const char *file, int line, const char *ea, const char *eb,
                       const void *a, size_t an, const void *b, size_t bn) {
    fprintf(stderr, "%s:%d: CHECK_EQ_MEM(%s, %s) failed\n", file, line, ea, eb);
    hexdump(ea, a, an);
    hexdump(eb, b, bn);
    exit(1);
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int run_one(int i, int timeout_s) {
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(tmpdir, sizeof tmpdir, "%s/sdbtest-%s-XXXXXX", base, tests[i].name);
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 0; }
    double t0 = now_ms();
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        alarm((unsigned)timeout_s);
        tests[i].fn();
        fflush(NULL);
        _exit(0);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    int ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
    double ms = now_ms() - t0;
    if (ok) {
        printf("PASS %s (%.0f ms)\n", tests[i].name, ms);
        nftw(tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    } else if (WIFSIGNALED(st)) {
        printf("FAIL %s: killed by signal %d%s (dir kept: %s)\n", tests[i].name, WTERMSIG(st),
               WTERMSIG(st) == SIGALRM ? " (timeout)" : "", tmpdir);
    } else {
        printf("FAIL %s: exit %d (dir kept: %s)\n", tests[i].name, WEXITSTATUS(st), tmpdir);
    }
    fflush(stdout);
    return ok;
}

int main(int argc, char **argv) {
    int timeout_s = getenv("SDB_TEST_TIMEOUT") ? atoi(getenv("SDB_TEST_TIMEOUT")) : 300;
    const char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    int passed = 0, failed = 0;
    for (int i = 0; i < ntests; i++) {
        if (argc > 1) {
            int want = 0;
            for (int a = 1; a < argc; a++) if (strcmp(argv[a], tests[i].name) == 0) want = 1;
            if (!want) continue;
        }
        if (run_one(i, timeout_s)) passed++; else failed++;
    }
    printf("%s: %d passed, %d failed\n", prog, passed, failed);
    return failed ? 1 : (passed ? 0 : 1);
}
