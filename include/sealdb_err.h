/* sealdb_err.h - the one status-code table shared by libsealdb, the client library and the tools. */
#ifndef SEALDB_ERR_H
#define SEALDB_ERR_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(SEALDB_BUILDING) && defined(__GNUC__)
#define SEALDB_API __attribute__((visibility("default")))
#else
#define SEALDB_API
#endif

/* Status codes. The numbers are ABI: append new codes, never renumber. */
#define SEALDB_ERRORS(X)                                                        \
    X(OK,           0,  "success")                                              \
    X(NOTFOUND,     1,  "key not found")                                        \
    X(CORRUPT,      2,  "stored data fails its checksum or format checks")      \
    X(TAMPERED,     3,  "proof or hash does not verify")                        \
    X(IO,           4,  "I/O error")                                            \
    X(NOMEM,        5,  "out of memory")                                        \
    X(INVALID,      6,  "bad argument or misuse")                               \
    X(EXISTS,       7,  "already exists")                                       \
    X(TOOLARGE,     8,  "size limit exceeded")                                  \
    X(PRECONDITION, 9,  "precondition failed")                                  \
    X(FAILED,       10, "database is in a failed state after a write error")    \
    X(CLOSED,       11, "handle is closed")                                     \
    X(TIMEOUT,      12, "operation timed out")                                  \
    X(NOSPACE,      13, "no space left on device")                              \
    X(BUSY,         14, "resource busy or locked")                              \
    X(UNSUPPORTED,  15, "unsupported format version or operation")              \
    X(PERMISSION,   16, "permission denied")                                    \
    X(AUTH,         17, "authentication failed")                                \
    X(NETWORK,      18, "network or transport error")                           \
    X(PROTOCOL,     19, "malformed or unexpected message")                      \
    X(RANGE,        20, "transaction id out of range")                          \
    X(STALE,        21, "state is older than the trusted state")                \
    X(DAMAGED,      22, "stored data failed its integrity check")           \
    X(TRUNCATED,    23, "value discarded by database truncation")

typedef enum {
#define SEALDB_ERR_ENUM_(name, val, msg) SEALDB_##name = val,
    SEALDB_ERRORS(SEALDB_ERR_ENUM_)
#undef SEALDB_ERR_ENUM_
    SEALDB_ERR_COUNT_
} sealdb_err;

/* Message for a status code; never NULL, valid forever. */
SEALDB_API const char *sealdb_strerror(int rc);
/* Symbolic name ("NOTFOUND") for a status code; never NULL. */
SEALDB_API const char *sealdb_errname(int rc);

#ifdef __cplusplus
}
#endif
#endif
