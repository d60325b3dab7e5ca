/* err.c - status-code names and messages (from the SEALDB_ERRORS table), errno mapping, clocks and
 * thread names. */
#include <errno.h>
#include <pthread.h>
#include <time.h>
#include "util/util.h"

SEALDB_API const char *sealdb_strerror(int rc) {
    switch (rc) {
#define MSG_(name, val, msg) case val: return msg;
    SEALDB_ERRORS(MSG_)
#undef MSG_
    default: return "unknown error code";
    }
}

SEALDB_API const char *sealdb_errname(int rc) {
    switch (rc) {
#define NAME_(name, val, msg) case val: return #name;
    SEALDB_ERRORS(NAME_)
#undef NAME_
    default: return "UNKNOWN";
    }
}

/* The errno behind the last status this thread mapped, so a layer that keeps a failure's cause
 * (the engine's failed state) can name it after the file layer turned it into a status code. */
static _Thread_local int tl_errno;
int sdb_last_errno(void) { return tl_errno; }
void sdb_clear_errno(void) { tl_errno = 0; }

int sdb_err_from_errno(int e) {
    tl_errno = e;
    switch (e) {
    case 0: return SEALDB_OK;
    case ENOENT: return SEALDB_NOTFOUND;
    case ENOMEM: return SEALDB_NOMEM;
    case ENOSPC: case EDQUOT: return SEALDB_NOSPACE;
    case EEXIST: return SEALDB_EXISTS;
    case EACCES: case EPERM: case EROFS: return SEALDB_PERMISSION;
    case EINVAL: return SEALDB_INVALID;
    case EAGAIN: case EBUSY: return SEALDB_BUSY;
    case EFBIG: case E2BIG: return SEALDB_TOOLARGE;
    case ETIMEDOUT: return SEALDB_TIMEOUT;
    default: return SEALDB_IO;
    }
}

void sdb_thread_name(const char *name) { pthread_setname_np(pthread_self(), name); }

uint64_t sdb_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int64_t sdb_unix_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t sdb_unix_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec;
}
