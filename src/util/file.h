/* file.h - the file I/O layer every durable byte goes through: EINTR and short I/O handled in one
 * place, and a replaceable vtable so tests can inject EIO, ENOSPC, short writes and crashes. */
#ifndef SDB_FILE_H
#define SDB_FILE_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct sdb_file sdb_file;   /* an open file: fd plus the vtable it was opened with */

/* The operations a test VFS may replace. All return a sealdb status code. */
typedef struct sdb_vfs {
    int (*open)(const char *path, int flags, int mode, int *fd_out);
    int (*pread)(int fd, void *buf, size_t n, uint64_t off, size_t *got);   /* one attempt, may be short */
    int (*pwrite)(int fd, const void *buf, size_t n, uint64_t off, size_t *put);
    int (*sync)(int fd);                                                    /* fdatasync */
    int (*truncate)(int fd, uint64_t len);
    int (*allocate)(int fd, uint64_t off, uint64_t len);                    /* preallocate */
    int (*size)(int fd, uint64_t *len);
    int (*close)(int fd);
} sdb_vfs;

const sdb_vfs *sdb_vfs_posix(void);
/* The vfs used by later sdb_file_open calls (tests install a faulty one); NULL restores POSIX. */
void sdb_vfs_set_default(const sdb_vfs *vfs);
const sdb_vfs *sdb_vfs_default(void);

int  sdb_file_open(const char *path, int flags, int mode, sdb_file **out);   /* flags as open(2) */
void sdb_file_close(sdb_file *f);                                            /* NULL is a no-op */
int  sdb_file_read_at(sdb_file *f, void *buf, size_t n, uint64_t off);       /* all n bytes or CORRUPT at EOF */
int  sdb_file_write_at(sdb_file *f, const void *buf, size_t n, uint64_t off);/* all n bytes or error */
int  sdb_file_sync(sdb_file *f);
int  sdb_file_truncate(sdb_file *f, uint64_t len);
int  sdb_file_allocate(sdb_file *f, uint64_t off, uint64_t len);
int  sdb_file_size(sdb_file *f, uint64_t *len);
int  sdb_file_fd(const sdb_file *f);
int  sdb_fsync_dir(const char *dir);   /* make a created/renamed entry durable */

#endif
