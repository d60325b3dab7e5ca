/* mapguard.c - keeps a file truncated under a shared mapping from killing the process.
 *
 * Reading (or writing) a mapped page that lies wholly past the end of its file raises SIGBUS. The
 * engine maps its journal segments, tx index, node files and the key index's run files, and never reads
 * past the lengths it wrote; but someone else can truncate a file while the server runs. Ranges
 * registered here are guarded by one process-wide SIGBUS handler: a fault inside one gets a
 * private zero page mapped over the faulting page (so the access completes and reads zeros, which
 * every reader then rejects: CRC, hash or proof checks), and the fault is counted. A fault
 * anywhere else goes to the handler that was installed before ours, or kills the process as
 * SIGBUS would have. The registry is a fixed table of atomics, so the handler takes no lock. */
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "util/util.h"

#define SLOTS 16384

static struct { _Atomic uintptr_t start; atomic_size_t len; } slots[SLOTS];
static atomic_uint_fast64_t faults;
static struct sigaction prev;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int installed;
static uintptr_t pagesz;   /* set before the handler is installed */

static void on_sigbus(int sig, siginfo_t *si, void *uc) {
    uintptr_t a = (uintptr_t)si->si_addr;
    for (size_t i = 0; i < SLOTS; i++) {
        uintptr_t s = atomic_load_explicit(&slots[i].start, memory_order_acquire);
        size_t n = atomic_load_explicit(&slots[i].len, memory_order_acquire);
        if (!s || a < s || a - s >= n) continue;
        uintptr_t page = a & ~(pagesz - 1);
        /* the raw syscall: no interposed mmap (sanitizers) runs inside the handler */
        long r = syscall(SYS_mmap, (void *)page, (size_t)pagesz, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
        if (r != -1) {
            atomic_fetch_add_explicit(&faults, 1, memory_order_relaxed);
            return;
        }
        break;
    }
    if (prev.sa_flags & SA_SIGINFO) {
        if (prev.sa_sigaction) { prev.sa_sigaction(sig, si, uc); return; }
    } else if (prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN) {
        prev.sa_handler(sig);
        return;
    }
    /* not ours: die of it as if no handler were installed (the access faults again) */
    signal(SIGBUS, SIG_DFL);
}

static void install(void) {
    pagesz = (uintptr_t)sysconf(_SC_PAGESIZE);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    installed = sigaction(SIGBUS, &sa, &prev) == 0;
}

int sdb_mapguard_add(const void *addr, size_t len) {
    pthread_once(&once, install);
    if (!installed) return SEALDB_IO;
    if (!addr || !len) return SEALDB_INVALID;
    for (size_t i = 0; i < SLOTS; i++) {
        uintptr_t zero = 0;
        if (atomic_load_explicit(&slots[i].start, memory_order_relaxed) == 0 &&
            atomic_compare_exchange_strong(&slots[i].start, &zero, (uintptr_t)addr)) {
            atomic_store_explicit(&slots[i].len, len, memory_order_release);
            return SEALDB_OK;
        }
    }
    return SEALDB_BUSY;
}

void sdb_mapguard_remove(const void *addr) {
    if (!addr) return;
    for (size_t i = 0; i < SLOTS; i++) {
        if (atomic_load_explicit(&slots[i].start, memory_order_relaxed) == (uintptr_t)addr) {
            atomic_store_explicit(&slots[i].len, 0, memory_order_release);
            atomic_store_explicit(&slots[i].start, 0, memory_order_release);
            return;
        }
    }
}

uint64_t sdb_mapguard_faults(void) { return atomic_load(&faults); }
