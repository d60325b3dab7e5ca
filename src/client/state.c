/* state.c - the trusted-state file of libsealdb-client. Text format, one line per (server id, db):
 *     sealdb-state 1
 *     <server uuid> <db> <tx id> <alh, 64 hex> <DER signature hex, or ->
 * The file is created 0600 and refused when others can read or write it (a state an attacker can
 * edit is no anchor). Updates take an exclusive flock on "<path>.lock", read the file, refuse to move
 * a state backwards, write "<path>.tmp" (fsync) and rename it over the file (then fsync the dir). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include "client/state.h"
#include "util/file.h"

#define STATE_MAGIC "sealdb-state 1\n"
#define STATE_MAX_FILE (4u << 20)

int sdb_state_check_advance(const sealdb_state *prev, const sealdb_state *next) {
    if (next->tx_id < prev->tx_id) return SEALDB_STALE;
    if (next->tx_id == prev->tx_id && memcmp(next->alh, prev->alh, SEALDB_HASH_SIZE) != 0) return SEALDB_TAMPERED;
    return SEALDB_OK;
}

static int valid_token(const char *s) {
    if (!*s || strlen(s) > 128) return 0;
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f) return 0;
    return 1;
}

int sdb_state_format_line(const char *server_uuid, const sealdb_state *st, sdb_buf *out) {
    if (!valid_token(server_uuid) || !valid_token(st->db) || st->sig_len > sizeof st->sig) return SEALDB_INVALID;
    char num[24], alh[2 * SEALDB_HASH_SIZE + 1], sig[2 * sizeof st->sig + 1];
    snprintf(num, sizeof num, "%llu", (unsigned long long)st->tx_id);
    sdb_hex_encode(st->alh, SEALDB_HASH_SIZE, alh);
    if (st->sig_len) sdb_hex_encode(st->sig, st->sig_len, sig);
    else strcpy(sig, "-");
    int rc = SEALDB_OK;
    const char *parts[] = { server_uuid, " ", st->db, " ", num, " ", alh, " ", sig, "\n" };
    for (size_t i = 0; i < sizeof parts / sizeof parts[0] && rc == SEALDB_OK; i++)
        rc = sdb_buf_append(out, parts[i], strlen(parts[i]));
    return rc;
}

/* Splits the next space-separated field of [*p, end) into out (NUL-terminated). */
static int next_field(const char **p, const char *end, char *out, size_t cap) {
    const char *s = *p;
    while (s < end && *s == ' ') s++;
    const char *e = s;
    while (e < end && *e != ' ') e++;
    if (e == s || (size_t)(e - s) >= cap) return SEALDB_CORRUPT;
    memcpy(out, s, (size_t)(e - s));
    out[e - s] = 0;
    *p = e;
    return SEALDB_OK;
}

int sdb_state_parse_line(const char *line, size_t len, char *uuid_out, size_t uuid_cap, sealdb_state *out) {
    const char *p = line, *end = line + len;
    char num[32], alh[2 * SEALDB_HASH_SIZE + 2], sig[2 * sizeof out->sig + 2];
    sealdb_state st;
    memset(&st, 0, sizeof st);
    if (next_field(&p, end, uuid_out, uuid_cap) || next_field(&p, end, st.db, sizeof st.db) ||
        next_field(&p, end, num, sizeof num) || next_field(&p, end, alh, sizeof alh) ||
        next_field(&p, end, sig, sizeof sig))
        return SEALDB_CORRUPT;
    while (p < end && *p == ' ') p++;
    if (p != end) return SEALDB_CORRUPT;
    char *nend;
    if (num[0] < '0' || num[0] > '9') return SEALDB_CORRUPT;
    errno = 0;
    unsigned long long v = strtoull(num, &nend, 10);
    if (*nend || errno) return SEALDB_CORRUPT;
    st.tx_id = v;
    sdb_buf b;
    sdb_buf_init(&b);
    if (strlen(alh) != 2 * SEALDB_HASH_SIZE || sdb_hex_decode(alh, strlen(alh), &b) != SEALDB_OK ||
        b.len != SEALDB_HASH_SIZE) { sdb_buf_deinit(&b); return SEALDB_CORRUPT; }
    memcpy(st.alh, b.ptr, SEALDB_HASH_SIZE);
    sdb_buf_reset(&b);
    if (strcmp(sig, "-") != 0) {
        if (sdb_hex_decode(sig, strlen(sig), &b) != SEALDB_OK || b.len == 0 || b.len > sizeof st.sig) {
            sdb_buf_deinit(&b);
            return SEALDB_CORRUPT;
        }
        memcpy(st.sig, b.ptr, b.len);
        st.sig_len = b.len;
    }
    sdb_buf_deinit(&b);
    *out = st;
    return SEALDB_OK;
}

/* Reads the whole state file into out. NOTFOUND when absent. */
static int read_file(const char *path, sdb_buf *out) {
    struct stat sb;
    if (stat(path, &sb) != 0) return errno == ENOENT ? SEALDB_NOTFOUND : sdb_err_from_errno(errno);
    if (!S_ISREG(sb.st_mode)) return SEALDB_INVALID;
    if (sb.st_mode & 077) return SEALDB_PERMISSION;   /* others could have edited the anchor */
    if ((uint64_t)sb.st_size > STATE_MAX_FILE) return SEALDB_TOOLARGE;
    sdb_file *f = NULL;
    int rc = sdb_file_open(path, O_RDONLY, 0, &f);
    if (rc != SEALDB_OK) return rc;
    uint64_t size = 0;
    if ((rc = sdb_file_size(f, &size)) == SEALDB_OK) {
        if (size > STATE_MAX_FILE) rc = SEALDB_TOOLARGE;
        else if ((rc = sdb_buf_reserve(out, (size_t)size)) == SEALDB_OK &&
                 (size == 0 || (rc = sdb_file_read_at(f, out->ptr + out->len, (size_t)size, 0)) == SEALDB_OK))
            out->len += (size_t)size;
    }
    sdb_file_close(f);
    return rc;
}

/* Iterates the lines after the magic; calls fn for each parsed entry. */
typedef int (*line_fn)(void *ctx, const char *uuid, const sealdb_state *st, const char *line, size_t len);
static int each_line(sdb_slice data, line_fn fn, void *ctx) {
    size_t ml = strlen(STATE_MAGIC);
    if (data.len < ml || memcmp(data.ptr, STATE_MAGIC, ml) != 0) return SEALDB_CORRUPT;
    const char *p = (const char *)data.ptr + ml, *end = (const char *)data.ptr + data.len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) return SEALDB_CORRUPT;   /* every line is terminated; a torn file is refused */
        if (nl > p) {
            char uuid[130];
            sealdb_state st;
            int rc = sdb_state_parse_line(p, (size_t)(nl - p), uuid, sizeof uuid, &st);
            if (rc != SEALDB_OK) return rc;
            if ((rc = fn(ctx, uuid, &st, p, (size_t)(nl - p) + 1)) != SEALDB_OK) return rc;
        }
        p = nl + 1;
    }
    return SEALDB_OK;
}

typedef struct find_ctx { const char *uuid, *db; sealdb_state *out; int found; } find_ctx;
static int find_cb(void *ctx, const char *uuid, const sealdb_state *st, const char *line, size_t len) {
    find_ctx *f = ctx;
    (void)line; (void)len;
    if (strcmp(uuid, f->uuid) == 0 && strcmp(st->db, f->db) == 0) {
        *f->out = *st;
        f->found = 1;
    }
    return SEALDB_OK;
}

int sdb_state_load(const char *path, const char *server_uuid, const char *db, sealdb_state *out) {
    sdb_buf data;
    sdb_buf_init(&data);
    int rc = read_file(path, &data);
    if (rc == SEALDB_OK) {
        find_ctx f = { server_uuid, db, out, 0 };
        rc = each_line(sdb_buf_slice(&data), find_cb, &f);
        if (rc == SEALDB_OK && !f.found) rc = SEALDB_NOTFOUND;
    }
    sdb_buf_deinit(&data);
    return rc;
}

typedef struct rewrite_ctx {
    const char *uuid, *db;
    const sealdb_state *next;
    sdb_buf *out;
    int rc_check;
} rewrite_ctx;
static int rewrite_cb(void *ctx, const char *uuid, const sealdb_state *st, const char *line, size_t len) {
    rewrite_ctx *r = ctx;
    if (strcmp(uuid, r->uuid) == 0 && strcmp(st->db, r->db) == 0) {
        int rc = sdb_state_check_advance(st, r->next);
        if (rc != SEALDB_OK) return rc;
        return SEALDB_OK;   /* dropped: the new line is appended at the end */
    }
    return sdb_buf_append(r->out, line, len);
}

static int dir_of(const char *path, char *out, size_t cap) {
    const char *slash = strrchr(path, '/');
    if (!slash) { snprintf(out, cap, "."); return SEALDB_OK; }
    size_t n = (size_t)(slash - path);
    if (n == 0) n = 1;
    if (n >= cap) return SEALDB_TOOLARGE;
    memcpy(out, path, n);
    out[n] = 0;
    return SEALDB_OK;
}

int sdb_state_store(const char *path, const char *server_uuid, const char *db, const sealdb_state *st) {
    char lock_path[4096], tmp_path[4096], dir[4096];
    if (snprintf(lock_path, sizeof lock_path, "%s.lock", path) >= (int)sizeof lock_path ||
        snprintf(tmp_path, sizeof tmp_path, "%s.tmp", path) >= (int)sizeof tmp_path ||
        dir_of(path, dir, sizeof dir) != SEALDB_OK)
        return SEALDB_TOOLARGE;
    if (strcmp(st->db, db) != 0) return SEALDB_INVALID;
    int lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock_fd < 0) return sdb_err_from_errno(errno);
    int rc;
    while (flock(lock_fd, LOCK_EX) != 0) {
        if (errno != EINTR) { rc = sdb_err_from_errno(errno); close(lock_fd); return rc; }
    }
    sdb_buf data, out;
    sdb_buf_init(&data);
    sdb_buf_init(&out);
    sdb_file *f = NULL;
    rc = read_file(path, &data);
    if (rc == SEALDB_NOTFOUND) { rc = sdb_buf_append(&data, STATE_MAGIC, strlen(STATE_MAGIC)); }
    if (rc != SEALDB_OK) goto done;
    if ((rc = sdb_buf_append(&out, STATE_MAGIC, strlen(STATE_MAGIC))) != SEALDB_OK) goto done;
    rewrite_ctx r = { server_uuid, db, st, &out, 0 };
    if ((rc = each_line(sdb_buf_slice(&data), rewrite_cb, &r)) != SEALDB_OK) goto done;
    if ((rc = sdb_state_format_line(server_uuid, st, &out)) != SEALDB_OK) goto done;
    unlink(tmp_path);
    if ((rc = sdb_file_open(tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600, &f)) != SEALDB_OK) goto done;
    if ((rc = sdb_file_write_at(f, out.ptr, out.len, 0)) != SEALDB_OK) goto done;
    if ((rc = sdb_file_sync(f)) != SEALDB_OK) goto done;
    sdb_file_close(f);
    f = NULL;
    if (rename(tmp_path, path) != 0) { rc = sdb_err_from_errno(errno); goto done; }
    rc = sdb_fsync_dir(dir);
done:
    if (f) { sdb_file_close(f); unlink(tmp_path); }
    sdb_buf_deinit(&data);
    sdb_buf_deinit(&out);
    flock(lock_fd, LOCK_UN);
    close(lock_fd);
    return rc;
}
