/* file.c - POSIX implementation of the file I/O layer and the loops that make pread/pwrite whole. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>
#include "util/util.h"
#include "util/file.h"

struct sdb_file { int fd; const sdb_vfs *vfs; };

static int px_open(const char *path, int flags, int mode, int *fd_out) {
    int fd;
    do fd = open(path, flags | O_CLOEXEC, mode); while (fd < 0 && errno == EINTR);
    if (fd < 0) return sdb_err_from_errno(errno);
    *fd_out = fd;
    return SEALDB_OK;
}
static int px_pread(int fd, void *buf, size_t n, uint64_t off, size_t *got) {
    ssize_t r;
    do r = pread(fd, buf, n, (off_t)off); while (r < 0 && errno == EINTR);
    if (r < 0) return sdb_err_from_errno(errno);
    *got = (size_t)r;
    return SEALDB_OK;
}
static int px_pwrite(int fd, const void *buf, size_t n, uint64_t off, size_t *put) {
    ssize_t r;
    do r = pwrite(fd, buf, n, (off_t)off); while (r < 0 && errno == EINTR);
    if (r < 0) return sdb_err_from_errno(errno);
    *put = (size_t)r;
    return SEALDB_OK;
}
static int px_sync(int fd) {
    int r;
    do r = fdatasync(fd); while (r < 0 && errno == EINTR);
    return r < 0 ? sdb_err_from_errno(errno) : SEALDB_OK;
}
static int px_truncate(int fd, uint64_t len) {
    int r;
    do r = ftruncate(fd, (off_t)len); while (r < 0 && errno == EINTR);
    return r < 0 ? sdb_err_from_errno(errno) : SEALDB_OK;
}
static int px_allocate(int fd, uint64_t off, uint64_t len) {
    int r = posix_fallocate(fd, (off_t)off, (off_t)len);
    if (r == EOPNOTSUPP || r == EINVAL) return SEALDB_OK;   /* filesystem without it: fine */
    return r ? sdb_err_from_errno(r) : SEALDB_OK;
}
static int px_size(int fd, uint64_t *len) {
    struct stat st;
    if (fstat(fd, &st) < 0) return sdb_err_from_errno(errno);
    *len = (uint64_t)st.st_size;
    return SEALDB_OK;
}
static int px_close(int fd) { return close(fd) < 0 ? sdb_err_from_errno(errno) : SEALDB_OK; }

static const sdb_vfs posix_vfs = { px_open, px_pread, px_pwrite, px_sync, px_truncate, px_allocate, px_size, px_close };
static _Atomic(const sdb_vfs *) default_vfs;

const sdb_vfs *sdb_vfs_posix(void) { return &posix_vfs; }
void sdb_vfs_set_default(const sdb_vfs *vfs) { atomic_store(&default_vfs, vfs); }
const sdb_vfs *sdb_vfs_default(void) {
    const sdb_vfs *v = atomic_load(&default_vfs);
    return v ? v : &posix_vfs;
}

int sdb_file_open(const char *path, int flags, int mode, sdb_file **out) {
    sdb_file *f = sdb_calloc(1, sizeof *f);
    if (!f) return SEALDB_NOMEM;
    f->vfs = sdb_vfs_default();
    int rc = f->vfs->open(path, flags, mode, &f->fd);
    if (rc) { sdb_free(f); return rc; }
    *out = f;
    return SEALDB_OK;
}

void sdb_file_close(sdb_file *f) {
    if (!f) return;
    f->vfs->close(f->fd);
    sdb_free(f);
}

int sdb_file_read_at(sdb_file *f, void *buf, size_t n, uint64_t off) {
    uint8_t *p = buf;
    while (n) {
        size_t got = 0;
        int rc = f->vfs->pread(f->fd, p, n, off, &got);
        if (rc) return rc;
        if (got == 0) return SEALDB_CORRUPT;   /* the file ends before the bytes we were told exist */
        p += got; n -= got; off += got;
    }
    return SEALDB_OK;
}

int sdb_file_write_at(sdb_file *f, const void *buf, size_t n, uint64_t off) {
    const uint8_t *p = buf;
    while (n) {
        size_t put = 0;
        int rc = f->vfs->pwrite(f->fd, p, n, off, &put);
        if (rc) return rc;
        if (put == 0) return SEALDB_IO;
        p += put; n -= put; off += put;
    }
    return SEALDB_OK;
}

int sdb_file_sync(sdb_file *f) { return f->vfs->sync(f->fd); }
int sdb_file_truncate(sdb_file *f, uint64_t len) { return f->vfs->truncate(f->fd, len); }
int sdb_file_allocate(sdb_file *f, uint64_t off, uint64_t len) { return f->vfs->allocate(f->fd, off, len); }
int sdb_file_size(sdb_file *f, uint64_t *len) { return f->vfs->size(f->fd, len); }
int sdb_file_fd(const sdb_file *f) { return f->fd; }

int sdb_fsync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return sdb_err_from_errno(errno);
    int rc = fsync(fd) < 0 ? sdb_err_from_errno(errno) : SEALDB_OK;
    close(fd);
    return rc;
}
