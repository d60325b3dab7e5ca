/* scrub.c - `seal scrub-status`: fetches the server's Prometheus page (plain HTTP/1.0 GET of
 * /metrics on --metrics-port, the address of -a) and prints the sealdb_scrub_* figures per
 * database. Reading /metrics keeps immudb's RPCs unchanged; the page is bounded (4 MiB). */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include "cli/scrub.h"

#define MAX_PAGE (4u << 20)
#define MAX_DBS 256

typedef struct row {
    char db[129];
    uint64_t last_verified, failures, first_damaged, repaired, passes;
    double last_run_s;
    int64_t last_run_ts;
} row;

static int fetch(const seal_args *a, char **out, size_t *len) {
    char port[16];
    snprintf(port, sizeof port, "%d", a->metrics_port);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(a->address, port, &hints, &res) || !res) {
        fprintf(stderr, "seal: scrub-status: cannot resolve %s\n", a->address);
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *p = res; p && fd < 0; p = p->ai_next) {
        fd = socket(p->ai_family, p->ai_socktype | SOCK_CLOEXEC, p->ai_protocol);
        if (fd < 0) continue;
        struct timeval tv = { a->timeout_s > 0 ? a->timeout_s : 30, 0 };
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (connect(fd, p->ai_addr, p->ai_addrlen) < 0) { close(fd); fd = -1; }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        fprintf(stderr, "seal: scrub-status: cannot connect to the metrics server %s:%d (--metrics-port): %s\n",
                a->address, a->metrics_port, strerror(errno));
        return -1;
    }
    char req[512];
    int n = snprintf(req, sizeof req, "GET /metrics HTTP/1.0\r\nHost: %s\r\n\r\n", a->address);
    if (n < 0 || (size_t)n >= sizeof req || write(fd, req, (size_t)n) != n) {
        close(fd);
        fprintf(stderr, "seal: scrub-status: cannot send the request\n");
        return -1;
    }
    size_t cap = 1 << 16, got = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        if (got == cap) {
            if (cap >= MAX_PAGE) { fprintf(stderr, "seal: scrub-status: metrics page larger than 4 MiB\n"); free(buf); buf = NULL; break; }
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) { free(buf); buf = NULL; break; }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + got, cap - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) { fprintf(stderr, "seal: scrub-status: read: %s\n", strerror(errno)); free(buf); buf = NULL; break; }
        if (r == 0) break;
        got += (size_t)r;
    }
    close(fd);
    if (!buf) return -1;
    buf[got] = 0;
    if (strncmp(buf, "HTTP/1.", 7) || got < 12 || strncmp(buf + 9, "200", 3)) {
        fprintf(stderr, "seal: scrub-status: the metrics server did not answer 200\n");
        free(buf);
        return -1;
    }
    *out = buf;
    *len = got;
    return 0;
}

static row *find_row(row *rows, size_t *n, const char *db, size_t dblen) {
    for (size_t i = 0; i < *n; i++)
        if (strlen(rows[i].db) == dblen && !memcmp(rows[i].db, db, dblen)) return &rows[i];
    if (*n == MAX_DBS || dblen >= sizeof rows[0].db) return NULL;
    row *r = &rows[(*n)++];
    memset(r, 0, sizeof *r);
    memcpy(r->db, db, dblen);
    return r;
}

/* One line `sealdb_scrub_<what>{db="<name>"} <number>`. */
static void parse_line(const char *l, row *rows, size_t *n) {
    static const char pre[] = "sealdb_scrub_";
    if (strncmp(l, pre, sizeof pre - 1)) return;
    const char *what = l + sizeof pre - 1;
    const char *lb = strstr(what, "{db=\"");
    if (!lb) return;
    const char *db = lb + 5, *q = strchr(db, '"');
    if (!q || q[1] != '}' || q[2] != ' ') return;
    row *r = find_row(rows, n, db, (size_t)(q - db));
    if (!r) return;
    size_t wl = (size_t)(lb - what);
    const char *v = q + 3;
    uint64_t u = strtoull(v, NULL, 10);
#define IS(name) (wl == sizeof name - 1 && !memcmp(what, name, wl))
    if (IS("last_verified_tx")) r->last_verified = u;
    else if (IS("failures_total")) r->failures = u;
    else if (IS("first_damaged_tx")) r->first_damaged = u;
    else if (IS("repaired_total")) r->repaired = u;
    else if (IS("passes_total")) r->passes = u;
    else if (IS("last_run_seconds")) r->last_run_s = strtod(v, NULL);
    else if (IS("last_run_timestamp_seconds")) r->last_run_ts = (int64_t)strtoll(v, NULL, 10);
#undef IS
}

int seal_scrub_status(const seal_args *a, seal_out *o) {
    char *page = NULL;
    size_t len = 0;
    if (fetch(a, &page, &len)) return 1;
    row *rows = calloc(MAX_DBS, sizeof *rows);
    size_t n = 0;
    if (!rows) { free(page); return 1; }
    for (char *l = page; l && *l;) {
        char *nl = strchr(l, '\n');
        if (nl) *nl = 0;
        parse_line(l, rows, &n);
        l = nl ? nl + 1 : NULL;
    }
    free(page);
    int rc = 0, shown = 0;
    for (size_t i = 0; i < n; i++) {
        const row *r = &rows[i];
        if (a->database && strcmp(a->database, r->db)) continue;
        if (shown++ && !o->json) out_sep(o);
        out_begin(o);
        out_field_str(o, "database", r->db);
        out_field_str(o, "status", r->failures ? "DAMAGED" : "intact");
        out_field_u64(o, "last_verified_tx", r->last_verified);
        out_field_u64(o, "passes", r->passes);
        out_field_u64(o, "failures", r->failures);
        out_field_u64(o, "first_damaged_tx", r->first_damaged);
        out_field_u64(o, "repaired", r->repaired);
        out_field_double(o, "last_run_seconds", r->last_run_s);
        out_field_i64(o, "last_run_at", r->last_run_ts);
        out_end(o);
        if (o->json) fputc('\n', stdout);
        if (r->failures) rc = 2;
    }
    free(rows);
    if (!shown) {
        fprintf(stderr, "seal: scrub-status: no scrub figures%s%s on the metrics page (is this a sealdb server?)\n",
                a->database ? " for " : "", a->database ? a->database : "");
        return 1;
    }
    if (rc == 2) fprintf(stderr, "seal: scrub-status: DAMAGED: the server found stored data failing its integrity check\n");
    return rc;
}
