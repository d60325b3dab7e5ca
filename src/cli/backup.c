/* backup.c - `seal backup <db> -o FILE [--append]` and `seal restore <db> -f FILE [--append]`
 * (docs/replication.md 9). Unlike immuadmin (W14) every record is verified: its entries hash its
 * header's eH, the header hashes to the record's checksum (Alh), each record's prevAlh is the
 * previous record's Alh; a backup ends by checking the last Alh against the server's state, a
 * restore sends each checksum for the server to check before it commits (sealdb-expected-alh)
 * and compares the answered header. A torn last record (an interrupted backup) is cut on
 * --append instead of making the file unusable. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli/backup.h"
#include "client/repl.h"
#include "crypto/export.h"
#include "sealdb_err.h"

#define EXIT_VERIFY 2
#define MAX_EXPORT (64ull << 30)

typedef struct bfile {
    sdb_buf data;
    size_t good_len;          /* bytes of complete, verified records */
    uint64_t first_id, last_id, n;
    sdb_hash last_alh;
    size_t *offs;             /* record offsets */
} bfile;

static int read_all(const char *path, sdb_buf *out) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    uint8_t tmp[1 << 16];
    size_t n;
    int rc = 0;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        if (sdb_buf_append(out, tmp, n)) { rc = -1; break; }
    if (ferror(f)) rc = -1;
    fclose(f);
    return rc;
}

/* Checks one exported payload: eH (unless exported as zeros), id, chain; *alh gets its Alh. */
static int check_payload(sdb_slice p, uint64_t want_id, const sdb_hash *prev, uint8_t alh[SDB_HASH_LEN],
                         char *why, size_t cap) {
    sdb_export_tx x;
    sdb_export_tx_init(&x);
    const char *pw = NULL;
    if (sdb_export_parse(p, &x, &pw)) { snprintf(why, cap, "malformed transaction data: %s", pw); return -1; }
    uint8_t eh[SDB_HASH_LEN];
    int rc = 0;
    if (x.hdr.id != want_id) { snprintf(why, cap, "holds tx %llu", (unsigned long long)x.hdr.id); rc = -1; }
    else if (sdb_export_entries_hash(&x, eh) ||
             (memcmp(x.hdr.eh.b, sdb_hash_zero.b, SDB_HASH_LEN) && memcmp(eh, x.hdr.eh.b, SDB_HASH_LEN))) {
        snprintf(why, cap, "its entries do not hash to its header's eH");
        rc = -1;
    } else {
        if (!memcmp(x.hdr.eh.b, sdb_hash_zero.b, SDB_HASH_LEN)) x.hdr.eh = *(const sdb_hash *)eh;
        if (sdb_tx_alh(&x.hdr, alh)) { snprintf(why, cap, "unsupported header version"); rc = -1; }
        else if (prev && memcmp(prev->b, x.hdr.prev_alh.b, SDB_HASH_LEN)) {
            snprintf(why, cap, "its prevAlh is not the Alh of tx %llu", (unsigned long long)(want_id - 1));
            rc = -1;
        }
    }
    sdb_export_tx_deinit(&x);
    return rc;
}

/* Reads and verifies a backup file. Returns 0 (a torn tail is reported in good_len < len), 1 on
 * a read or format error, EXIT_VERIFY when a record does not verify. */
static int load_file(const char *path, bfile *f, int quiet_torn) {
    memset(f, 0, sizeof *f);
    sdb_buf_init(&f->data);
    if (read_all(path, &f->data)) {
        fprintf(stderr, "seal: cannot read %s: %s\n", path, strerror(errno));
        return 1;
    }
    sdb_reader r = sdb_reader_of(sdb_buf_slice(&f->data));
    sdb_hash prev;
    int have_prev = 0;
    size_t cap = 0;
    while (sdb_reader_left(&r)) {
        size_t off = (size_t)(r.p - f->data.ptr);
        sdb_backup_record rec;
        if (sdb_backup_record_read(&r, &rec)) {
            /* a torn last record (interrupted backup) or garbage: keep what verified */
            if (!quiet_torn)
                fprintf(stderr, "seal: %s: %zu bytes after tx %llu are not a complete backup record\n", path,
                        f->data.len - off, (unsigned long long)f->last_id);
            break;
        }
        if (f->n && rec.tx_id != f->last_id + 1) {
            fprintf(stderr, "seal: %s: incorrect transaction order in file (tx %llu after tx %llu)\n", path,
                    (unsigned long long)rec.tx_id, (unsigned long long)f->last_id);
            return 1;
        }
        uint8_t alh[SDB_HASH_LEN];
        char why[160];
        /* tx 1 follows the empty chain (E); a file starting later is checked from its first record */
        sdb_hash e1 = sdb_hash_empty;
        const sdb_hash *pv = have_prev ? &prev : rec.tx_id == 1 ? &e1 : NULL;
        if (check_payload(rec.payload, rec.tx_id, pv, alh, why, sizeof why)) {
            fprintf(stderr, "seal: %s: record of tx %llu does not verify: %s\n", path, (unsigned long long)rec.tx_id, why);
            return EXIT_VERIFY;
        }
        if (memcmp(alh, rec.alh.b, SDB_HASH_LEN)) {
            fprintf(stderr, "seal: %s: record of tx %llu does not verify: its checksum is not the tx's Alh\n", path,
                    (unsigned long long)rec.tx_id);
            return EXIT_VERIFY;
        }
        if (f->n == cap) {
            cap = cap ? cap * 2 : 64;
            size_t *no = realloc(f->offs, cap * sizeof *no);
            if (!no) { fprintf(stderr, "seal: out of memory\n"); return 1; }
            f->offs = no;
        }
        f->offs[f->n++] = off;
        if (f->n == 1) f->first_id = rec.tx_id;
        f->last_id = rec.tx_id;
        memcpy(prev.b, alh, SDB_HASH_LEN);
        f->last_alh = prev;
        have_prev = 1;
        f->good_len = (size_t)(r.p - f->data.ptr);
    }
    return 0;
}

static void bfile_free(bfile *f) {
    sdb_buf_deinit(&f->data);
    free(f->offs);
}

static int server_fail(sealdb_client *c, const char *what) {
    fprintf(stderr, "seal: %s: %s\n", what, sealdb_client_errmsg(c));
    return 1;
}

/* Exports tx id and verifies it (chain from prev when given); *alh gets its Alh. */
static int export_checked(sealdb_client *c, uint64_t id, const sdb_hash *prev, sdb_buf *p, uint8_t alh[SDB_HASH_LEN]) {
    if (sdb_cl_export_tx(c, id, 0, MAX_EXPORT, p)) return server_fail(c, "exportTx");
    char why[160];
    if (check_payload(sdb_buf_slice(p), id, prev, alh, why, sizeof why)) {
        fprintf(stderr, "seal: tx %llu exported by the server does not verify: %s\n", (unsigned long long)id, why);
        return EXIT_VERIFY;
    }
    return 0;
}

int seal_backup(sealdb_client *c, const seal_args *a) {
    if (a->npos != 2) { fprintf(stderr, "seal: usage: backup <db> -o FILE [--append]\n"); return 1; }
    const char *db = a->pos[1], *path = a->output;
    if (!path || !*path) { fprintf(stderr, "seal: backup needs --output FILE\n"); return 1; }
    if (sealdb_client_use_database(c, db)) return server_fail(c, "use database");
    struct stat sb;
    int exists = stat(path, &sb) == 0;
    if (exists && !a->append) {
        fprintf(stderr, "seal: file already exists, use --append option to append new data to file\n");
        return 1;
    }
    bfile f;
    memset(&f, 0, sizeof f);
    sdb_buf_init(&f.data);
    int rc = 0;
    sdb_buf p;
    sdb_buf_init(&p);
    uint64_t start = 1;
    sdb_hash prev = sdb_hash_empty;
    if (exists) {
        if ((rc = load_file(path, &f, 0))) goto done;
        if (f.good_len < f.data.len) {
            /* cut the torn record so the file stays a sequence of whole records */
            if (truncate(path, (off_t)f.good_len)) {
                fprintf(stderr, "seal: cannot cut the torn record of %s: %s\n", path, strerror(errno));
                rc = 1;
                goto done;
            }
            fprintf(stderr, "seal: cut the incomplete last record of %s\n", path);
        }
        if (f.n) {
            uint8_t alh[SDB_HASH_LEN];
            if ((rc = export_checked(c, f.last_id, NULL, &p, alh))) goto done;
            if (memcmp(alh, f.last_alh.b, SDB_HASH_LEN)) {
                fprintf(stderr, "seal: checksums for transaction %llu in backup file and database differ - "
                        "probably file was created from different database\n", (unsigned long long)f.last_id);
                rc = EXIT_VERIFY;
                goto done;
            }
            start = f.last_id + 1;
            prev = f.last_alh;
        }
    }
    sealdb_state st;
    if (sealdb_client_current_state(c, &st)) { rc = server_fail(c, "current state"); goto done; }
    if (st.tx_id < start) {
        fprintf(stderr, "All backed up, nothing to do\n");
        goto done;
    }
    if (start == st.tx_id) fprintf(stderr, "Backing up transaction %llu\n", (unsigned long long)start);
    else fprintf(stderr, "Backing up transactions from %llu to %llu\n", (unsigned long long)start, (unsigned long long)st.tx_id);
    FILE *out = fopen(path, "ab");
    if (!out) { fprintf(stderr, "seal: cannot open %s: %s\n", path, strerror(errno)); rc = 1; goto done; }
    sdb_buf rec;
    sdb_buf_init(&rec);
    uint8_t alh[SDB_HASH_LEN];
    for (uint64_t id = start; id <= st.tx_id && !rc; id++) {
        if ((rc = export_checked(c, id, id == 1 || id > start || f.n ? &prev : NULL, &p, alh))) break;
        /* the record holds the exported stream: u64(L) || P */
        sdb_buf_reset(&rec);
        uint8_t lb[8];
        sdb_put_u64be(lb, p.len);
        sdb_buf stream;
        sdb_buf_init(&stream);
        if (sdb_buf_append(&stream, lb, 8) || sdb_buf_append(&stream, p.ptr, p.len) ||
            sdb_backup_record_encode(id, alh, sdb_buf_slice(&stream), &rec) ||
            fwrite(rec.ptr, 1, rec.len, out) != rec.len) {
            fprintf(stderr, "seal: cannot write %s: %s\n", path, strerror(errno));
            rc = 1;
        }
        sdb_buf_deinit(&stream);
        memcpy(prev.b, alh, SDB_HASH_LEN);
    }
    sdb_buf_deinit(&rec);
    if (fflush(out) || fsync(fileno(out))) { if (!rc) { fprintf(stderr, "seal: cannot write %s: %s\n", path, strerror(errno)); rc = 1; } }
    fclose(out);
    /* the chain written ends at the Alh the server states for its last tx */
    if (!rc && memcmp(prev.b, st.alh, SDB_HASH_LEN)) {
        fprintf(stderr, "seal: the backed-up chain does not end at the server's state of tx %llu\n",
                (unsigned long long)st.tx_id);
        rc = EXIT_VERIFY;
    }
    if (!rc) fprintf(stderr, "Done\n");
done:
    sdb_buf_deinit(&p);
    bfile_free(&f);
    return rc;
}

int seal_restore(sealdb_client *c, const seal_args *a) {
    if (a->npos != 2) { fprintf(stderr, "seal: usage: restore <db> -f FILE [--append]\n"); return 1; }
    const char *db = a->pos[1], *path = a->file;
    if (!path || !*path) { fprintf(stderr, "seal: restore needs --file FILE\n"); return 1; }
    bfile f;
    int rc = load_file(path, &f, 0);
    if (rc) { bfile_free(&f); return rc; }
    if (!f.n) { fprintf(stderr, "seal: %s holds no complete backup record\n", path); bfile_free(&f); return 1; }
    sealdb_db_list *l = NULL;
    int found = 0, created = 0;
    if (sealdb_client_list_databases(c, &l)) { rc = server_fail(c, "database list"); goto done; }
    for (size_t i = 0; i < l->n; i++) if (!strcmp(l->items[i].name, db)) found = 1;
    sealdb_db_list_free(l);
    if (!found) {
        /* a new database is created as a manual replica (no primary) and switched to a normal
         * database at the end, as immuadmin hot-restore does */
        if (sdb_cl_set_replica(c, db, 1, 1)) { rc = server_fail(c, "create database"); goto done; }
        created = 1;
    }
    if (sealdb_client_use_database(c, db)) { rc = server_fail(c, "use database"); goto done; }
    sealdb_state st;
    if (sealdb_client_current_state(c, &st)) { rc = server_fail(c, "current state"); goto done; }
    if (st.tx_id && !a->append) {
        fprintf(stderr, "seal: cannot restore to non-empty database without --append flag\n");
        rc = 1;
        goto done;
    }
    if (st.tx_id + 1 < f.first_id) {
        fprintf(stderr, "seal: there is a gap of %llu transaction(s) between database and file - restore not possible\n",
                (unsigned long long)(f.first_id - st.tx_id - 1));
        rc = 1;
        goto done;
    }
    if (st.tx_id > f.last_id) {
        fprintf(stderr, "seal: the backup file ends at tx %llu, before the database's last tx %llu\n",
                (unsigned long long)f.last_id, (unsigned long long)st.tx_id);
        rc = 1;
        goto done;
    }
    if (st.tx_id >= f.first_id) {
        sdb_reader r = sdb_reader_of(sdb_slice_of(f.data.ptr + f.offs[st.tx_id - f.first_id], f.good_len));
        sdb_backup_record rec;
        if (sdb_backup_record_read(&r, &rec) || memcmp(rec.alh.b, st.alh, SDB_HASH_LEN)) {
            fprintf(stderr, "seal: checksums for tx %llu in backup file and database differ - cannot append data to the database\n",
                    (unsigned long long)st.tx_id);
            rc = EXIT_VERIFY;
            goto done;
        }
    }
    uint64_t from = st.tx_id + 1, n = 0;
    for (uint64_t id = from; id <= f.last_id; id++) {
        size_t off = f.offs[id - f.first_id];
        sdb_reader r = sdb_reader_of(sdb_slice_of(f.data.ptr + off, f.good_len - off));
        sdb_backup_record rec;
        sdb_tx_header h;
        uint8_t alh[SDB_HASH_LEN];
        if (sdb_backup_record_read(&r, &rec)) { rc = 1; break; }
        if (sdb_cl_replicate_tx(c, rec.payload, rec.alh.b, &h)) { rc = server_fail(c, "replicateTx"); break; }
        if (sdb_tx_alh(&h, alh) || memcmp(alh, rec.alh.b, SDB_HASH_LEN)) {
            fprintf(stderr, "seal: transaction checksums don't match at tx %llu\n", (unsigned long long)id);
            rc = EXIT_VERIFY;
            break;
        }
        n++;
    }
    if (!rc) {
        if (!n) printf("Target database is up-to-date, nothing restored\n");
        else if (n == 1) printf("Restored transaction %llu\n", (unsigned long long)from);
        else printf("Restored transactions from %llu to %llu\n", (unsigned long long)from, (unsigned long long)f.last_id);
    }
done:
    if (created && sdb_cl_set_replica(c, db, 0, 0)) {
        fprintf(stderr, "seal: Error switching off replica mode for db: %s\n", sealdb_client_errmsg(c));
        if (!rc) rc = 1;
    }
    bfile_free(&f);
    return rc;
}
