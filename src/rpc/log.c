/* log.c - the server's diagnostic log: one line per message in text or JSON (--logformat), written
 * to stderr or a --logfile that SIGHUP reopens (logrotate's convention), the optional access log
 * (--log-access), and the routing of gRPC core's and libmicrohttpd's own messages into it. */
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <grpc/support/log.h>
#include "rpc/server.h"

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static int log_json;
static char *log_path;              /* NULL: stderr as inherited */
static atomic_int grpc_quiet;       /* while binding: we report the failure ourselves */
int sdb_log_access_on;

/* JSON string body of s (without quotes); control bytes as \u00XX. */
static void json_str(FILE *f, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') { fputc('\\', f); fputc(ch, f); }
        else if (ch == '\n') fputs("\\n", f);
        else if (ch == '\t') fputs("\\t", f);
        else if (ch < 0x20 || ch >= 0x7f) fprintf(f, "\\u%04x", ch);   /* always ASCII, valid JSON */
        else fputc(ch, f);
    }
}

/* One line; `extra` is a preformatted run of JSON members (",\"k\":v...") or NULL. The level comes
 * from the message's own "error: " / "warning: " prefix, which text lines keep as they are. */
static void emit(const char *msg, size_t n, const char *extra) {
    char ts[40];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    pthread_mutex_lock(&log_mu);
    if (!log_json) {
        strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
        fprintf(stderr, "sealdb %s %.*s\n", ts, (int)n, msg);
    } else {
        size_t k = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(ts + k, sizeof ts - k, ".%03ldZ", now.tv_nsec / 1000000);
        const char *level = "info";
        if (n >= 7 && !strncmp(msg, "error: ", 7)) { level = "error"; msg += 7; n -= 7; }
        else if (n >= 9 && !strncmp(msg, "warning: ", 9)) { level = "warning"; msg += 9; n -= 9; }
        fprintf(stderr, "{\"time\":\"%s\",\"level\":\"%s\",\"message\":\"", ts, level);
        json_str(stderr, msg, n);
        fprintf(stderr, "\"%s}\n", extra ? extra : "");
    }
    fflush(stderr);
    pthread_mutex_unlock(&log_mu);
}

void sdb_log(const char *fmt, ...) {
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    emit(msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1, NULL);
}

/* Points fd 2 at the log file, so anything else writing to stderr lands there too. */
static int open_on_stderr(const char *path) {
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) return -1;
    pthread_mutex_lock(&log_mu);
    fflush(stderr);
    int rc = dup2(fd, 2) < 0 ? -1 : 0;
    pthread_mutex_unlock(&log_mu);
    close(fd);
    return rc;
}

int sdb_log_setup(const char *path, int json) {
    log_json = json;
    if (!path) return SEALDB_OK;
    if (open_on_stderr(path)) return SEALDB_IO;
    sdb_free(log_path);
    log_path = sdb_strdup(path);
    return log_path ? SEALDB_OK : SEALDB_NOMEM;
}

int sdb_log_reopen(void) {
    if (!log_path) return SEALDB_OK;
    return open_on_stderr(log_path) ? SEALDB_IO : SEALDB_OK;
}

/* ---- access log: called by dispatch.c only when --log-access is on ---- */
/* The method path of an unknown call is the client's bytes: one printable word without "=" in the log. */
static const char *clean(const char *s, char *buf, size_t cap) {
    size_t i = 0;
    for (; s[i] && i + 1 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        buf[i] = ch <= 0x20 || ch >= 0x7f || ch == '"' || ch == '\\' || ch == '=' ? '?' : (char)ch;
    }
    buf[i] = 0;
    return buf;
}

void sdb_log_access(sdb_call *c, int code) {
    static const char *const names[17] = { "OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded",
        "NotFound", "AlreadyExists", "PermissionDenied", "ResourceExhausted", "FailedPrecondition", "Aborted",
        "OutOfRange", "Unimplemented", "Internal", "Unavailable", "DataLoss", "Unauthenticated" };
    char mb[160], ub[80], pb[128];
    const char *slash = strrchr(c->path, '/');
    const char *method = clean(slash ? slash + 1 : c->path, mb, sizeof mb);
    const char *cname = code >= 0 && code <= 16 ? names[code] : "?";
    double ms = (double)(sdb_now_ns() - c->start_ns) / 1e6;
    const char *user = c->user && c->user[0] ? clean(c->user, ub, sizeof ub) : "-";
    const char *peer = c->peer && c->peer[0] ? clean(c->peer, pb, sizeof pb) : "-";
    char msg[512];
    int n = snprintf(msg, sizeof msg, "access method=%s peer=%s code=%s duration_ms=%.3f user=%s", method, peer,
                     cname, ms, user);
    if (n < 0) return;
    if ((size_t)n >= sizeof msg) n = (int)sizeof msg - 1;
    if (!log_json) { emit(msg, (size_t)n, NULL); return; }
    /* names are arena strings from the wire: quote them through a memory stream */
    char *extra = NULL;
    size_t elen = 0;
    FILE *m = open_memstream(&extra, &elen);
    if (!m) return;
    fputs(",\"method\":\"", m); json_str(m, method, strlen(method));
    fputs("\",\"peer\":\"", m); json_str(m, peer, strlen(peer));
    fprintf(m, "\",\"code\":\"%s\",\"duration_ms\":%.3f,\"user\":\"", cname, ms);
    json_str(m, user, strlen(user));
    fputc('"', m);
    fclose(m);
    emit("access", 6, extra);
    free(extra);
}

/* ---- library messages ---- */
static void grpc_log(gpr_log_func_args *a) {
    if (atomic_load(&grpc_quiet) || a->severity < GPR_LOG_SEVERITY_ERROR) return;
    /* gRPC core's errors can be multi-KB status dumps: keep the first line, bounded */
    const char *m = a->message ? a->message : "";
    size_t n = strcspn(m, "\n");
    if (n > 300) n = 300;
    char line[400];
    int k = snprintf(line, sizeof line, "error: grpc: %.*s", (int)n, m);
    if (k > 0) emit(line, (size_t)k < sizeof line ? (size_t)k : sizeof line - 1, NULL);
}

void sdb_log_grpc_init(void) { gpr_set_log_function(grpc_log); }
void sdb_log_grpc_quiet(int on) { atomic_store(&grpc_quiet, on); }

/* cls: the server's name for the log line (NULL: the metrics server) */
void sdb_log_mhd(void *cls, const char *fmt, va_list ap) {
    char msg[512];
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    if (n <= 0) return;
    size_t len = (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1;
    while (len && (msg[len - 1] == '\n' || msg[len - 1] == '\r')) len--;
    msg[len] = 0;
    char *html = strstr(msg, " ('<html>");   /* the error page it sent: noise in a log line */
    if (html) len = (size_t)(html - msg);
    sdb_log("warning: %s: %.*s", cls ? (const char *)cls : "metrics server", (int)len, msg);
}
