/* export.h - immudb's exported-transaction payload (docs/replication.md 3, the bytes of
 * exportTx/replicateTx and of hot-backup records): encoder, bounds-checked parser of untrusted
 * payloads, the entries hash a receiver recomputes, and the stream chunking. */
#ifndef SDB_EXPORT_H
#define SDB_EXPORT_H

#include "crypto/crypto.h"

#define SDB_EXPORT_CHUNK_SIZE 65536u   /* immudb's server stream chunk size */

typedef struct sdb_export_entry {
    sdb_slice key;          /* stored key (with its db prefix byte) */
    sdb_slice md_bytes;     /* KV metadata encoding, empty when none */
    sdb_kv_md md;
    sdb_slice value;        /* stored value; the 32-byte hValue when the tx is truncated */
    const uint8_t *hvalue;  /* NULL, or SHA-256(value) already checked (the entries hash uses it) */
} sdb_export_entry;

typedef struct sdb_export_tx {
    sdb_tx_header hdr;      /* as received: eH may be zeros (skipIntegrityCheck export) */
    uint32_t nentries;
    sdb_export_entry *entries;   /* owned array; slices borrow from the parsed payload */
    int truncated;          /* flag 01: every value is its hValue */
    int has_flag;           /* 0: an older export ending after the entries */
} sdb_export_tx;

void sdb_export_tx_init(sdb_export_tx *t);
void sdb_export_tx_deinit(sdb_export_tx *t);

/* Appends the payload P (no length prefix) of a tx with values: header (F 4.5), entries, flag 00.
 * h->nentries must equal n. A caller exporting with skipIntegrityCheck passes a header whose eh
 * is zero, as immudb does. */
int sdb_export_encode(const sdb_tx_header *h, const sdb_export_entry *e, uint32_t n, sdb_buf *out);
/* The same with the truncated flag: truncated = 1 writes flag 01, each entry's value then being its
 * 32-byte hValue (a tx whose values were discarded, replication.md 3.4). */
int sdb_export_encode_flag(const sdb_tx_header *h, const sdb_export_entry *e, uint32_t n, int truncated, sdb_buf *out);

/* Parses an untrusted payload; every length is checked against the bytes left, the header must end
 * exactly at hdrLen and the walk exactly at the end. Entries borrow from p (keep it alive).
 * Errors (why = immudb's text): SEALDB_INVALID "illegal arguments" (lengths, layout),
 * SEALDB_UNSUPPORTED "tx created with a newer version or data is corrupted",
 * SEALDB_CORRUPT "error reading metadata attributes: data is corrupted" / "data is corrupted"
 * (KV metadata), SEALDB_INVALID "illegal arguments: invalid truncation info" (flag not 00/01). */
int sdb_export_parse(sdb_slice p, sdb_export_tx *out, const char **why);

/* eH recomputed from the entries with the header's version digest (hValue = SHA-256(value), or
 * the value itself when truncated). SEALDB_INVALID when an entry cannot be hashed (v0 with md,
 * truncated value not 32 bytes). */
int sdb_export_entries_hash(const sdb_export_tx *t, uint8_t eh[SDB_HASH_LEN]);

/* The stream of one message, u64(L) || P, cut in chunks of chunk_size bytes (the last shorter,
 * none empty; L = 0 gives the single 8-byte chunk). Chunk i of the stream `s` of len bytes:
 * [i * chunk_size, min(len, (i+1) * chunk_size)). Number of chunks: */
static inline size_t sdb_export_nchunks(size_t stream_len, size_t chunk_size) {
    return (stream_len + chunk_size - 1) / chunk_size;
}

/* Largest payload a database with these limits can hold (replication.md 3.1), used to bound the
 * announced L before allocating. */
uint64_t sdb_export_max_payload(uint32_t max_entries, uint32_t max_key_len, uint32_t max_value_len);

#endif

/* ---- hot-backup records (docs/replication.md 9.1): 30-byte header, Alh, export stream ---- */
#define SDB_BACKUP_MAGIC "IMMUBACKUP"
#define SDB_BACKUP_HDR_LEN 30u

typedef struct sdb_backup_record {
    uint64_t tx_id;
    sdb_hash alh;           /* the record's checksum */
    sdb_slice stream;       /* u64(L) || P, borrowed */
    sdb_slice payload;      /* P */
} sdb_backup_record;

/* Appends one record. */
int sdb_backup_record_encode(uint64_t tx_id, const uint8_t alh[SDB_HASH_LEN], sdb_slice stream, sdb_buf *out);
/* Reads the record at r (advancing it): SEALDB_CORRUPT on bad magic/version/checksum length, a
 * stream whose u64(L) disagrees with T, or bytes missing (a torn last record). */
int sdb_backup_record_read(sdb_reader *r, sdb_backup_record *out);
