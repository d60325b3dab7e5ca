/* journal.h - the storage layer: the segmented append-only journal (the only durable source of
 * truth), its record format, and the derived fixed-size tx index.
 *
 * Journal record (one transaction), all integers big-endian:
 *    0 u32 magic "SDBJ"        4 u32 crc32c(bytes 8 .. 24+meta_len)   8 u32 meta_len
 *   12 u32 crc32c(values)     16 u64 vals_len                        24 meta: header ‖ entries
 *   24+meta_len values, concatenated in entry order
 * header = docs/format.md 4.5 (u64 id ‖ prevAlh ‖ i64 ts ‖ u16 version ‖ version-1 part ‖ eH ‖ u64 blTxId ‖
 * blRoot); entry = u16 keyLen ‖ key ‖ u8 mdLen ‖ md ‖ u32 vLen ‖ hValue[32].
 * A record never spans segments; segment files are named by the logical position of their first byte,
 * so positions are continuous over the whole journal. */
#ifndef SDB_JOURNAL_H
#define SDB_JOURNAL_H

#include <stdint.h>
#include <stddef.h>
#include "util/util.h"
#include "util/file.h"
#include "crypto/crypto.h"

#define SDB_JREC_MAGIC 0x53444a42u   /* "SDJB" */
#define SDB_JREC_FRAME 24u
#define SDB_JREC_MAX_META (128u + 268u + 1024u * (2u + 1024u + 1u + 11u + 4u + 32u))

/* Decoded record header part (the frame and meta). Slices borrow the input buffer. */
typedef struct sdb_jentry {
    sdb_slice key, md_bytes;
    uint32_t vlen;
    const uint8_t *hvalue;
    uint64_t voff;                 /* offset of this value from the start of the values part */
} sdb_jentry;

typedef struct sdb_jframe { uint32_t crc_meta, meta_len, crc_vals; uint64_t vals_len; } sdb_jframe;

/* Parses the 24-byte frame: SEALDB_NOTFOUND for an all-zero frame (end of written data),
 * SEALDB_CORRUPT for a bad magic or out-of-range lengths. */
int sdb_jrec_frame(const uint8_t frame[SDB_JREC_FRAME], sdb_jframe *out);
/* Checks crc_meta and decodes header and entries of a record whose first 24+meta_len bytes are in
 * rec. entries must have room for 1024; *n gets the count. Every length is checked. */
int sdb_jrec_decode(sdb_slice rec, sdb_jframe *fr, sdb_tx_header *hdr, sdb_jentry *entries, uint32_t *n);

typedef struct sdb_journal sdb_journal;

/* Opens dir/journal (created if absent) and lists its segments; no record is read. */
int  sdb_journal_open(const char *dir, uint64_t segment_size, sdb_journal **out);
void sdb_journal_close(sdb_journal *j);
/* Reads n bytes at logical position pos (must lie within one segment). Thread-safe. */
int  sdb_journal_read(sdb_journal *j, uint64_t pos, void *buf, size_t n);
/* Hints that n bytes at pos will be read soon (a software prefetch of the first cache lines when
 * the segment is mapped; nothing otherwise). Never faults and never fails: a bad pos is ignored. */
void sdb_journal_prefetch(sdb_journal *j, uint64_t pos, size_t n);
/* Logical end of the last segment's capacity and the segment containing pos. */
uint64_t sdb_journal_first_pos(sdb_journal *j);
/* Room left in the segment containing pos (bytes up to the segment's end). */
int  sdb_journal_room(sdb_journal *j, uint64_t pos, uint64_t *room, int *is_last_segment);
/* Committer only. Sets the append position (after recovery). */
void sdb_journal_set_end(sdb_journal *j, uint64_t end);
uint64_t sdb_journal_end(sdb_journal *j);
/* Committer only. Reserves n bytes for one record: returns its position, starting a new segment
 * (after syncing the current one) when it does not fit. */
int  sdb_journal_reserve(sdb_journal *j, uint64_t n, uint64_t *pos);
/* Committer only. Writes a run of whole records at pos (may cross into the next segment only at a
 * record boundary the caller reserved). */
int  sdb_journal_write(sdb_journal *j, uint64_t pos, const void *p, size_t n);
/* Committer only. fdatasync every segment written since the last sync. */
int  sdb_journal_sync(sdb_journal *j);
/* Committer, after a failed write (nothing past pos was acknowledged): zero and sync what was
 * written or reserved from pos on, delete segments after pos's, and append at pos again. */
int  sdb_journal_rewind(sdb_journal *j, uint64_t pos);
/* Recovery only: zero everything from pos to the end of its segment and delete later segments. */
int  sdb_journal_cut(sdb_journal *j, uint64_t pos);
/* Path of the segment file holding pos (for messages). */
void sdb_journal_seg_name(sdb_journal *j, uint64_t pos, char *out, size_t cap);
/* Recovery/verify: does the failing record at pos (rec_len 0 when its frame is unreadable; room =
 * bytes left in its segment, which must be the last) look like an interrupted write? */
int  sdb_journal_is_torn(sdb_journal *j, uint64_t pos, uint64_t room, uint64_t rec_len);
/* Next segment start after the one containing pos, or UINT64_MAX when pos is in the last. */
uint64_t sdb_journal_next_seg(sdb_journal *j, uint64_t pos);
/* Truncation (engine/truncate.c): discards n bytes at pos (within one segment, below the published
 * end) so they read as zeros and, where the file system can, no longer use disk space (a hole
 * punched with the file size kept; partial blocks are zeroed). Any thread; never the tail. */
int  sdb_journal_discard(sdb_journal *j, uint64_t pos, uint64_t n);
/* fdatasync the segments overlapping [from, to) (after discards). */
int  sdb_journal_sync_range(sdb_journal *j, uint64_t from, uint64_t to);

/* ---- tx index: record i (1-based) at (i-1)*64, layout 2: u64 pos ‖ u48 vals_len ‖ u16 nentries ‖
 * u32 meta_len ‖ alh[32] ‖ u48 node_off ‖ u16 2 (layout) ‖ u32 crc32c(first 60 bytes).
 * node_off: where tx i's block of htree nodes starts in the `htree` file (the running end of the
 * file when the tx has one entry and therefore no block). Derived, never synced. A record of any
 * other layout (the old one had u64 vals_len, u32 nentries and zeros at 56) decodes as
 * SEALDB_UNSUPPORTED, and recovery rebuilds the file from the journal. ---- */
#define SDB_TXI_REC 64u
#define SDB_TXI_LAYOUT 2u
#define SDB_TXI_MAX_OFF ((1ull << 48) - 1)
typedef struct sdb_txi_rec {
    uint64_t pos, vals_len;
    uint32_t meta_len, nentries;
    sdb_hash alh;
    uint64_t node_off;
} sdb_txi_rec;
void sdb_txi_encode(const sdb_txi_rec *r, uint8_t out[SDB_TXI_REC]);
int  sdb_txi_decode(const uint8_t in[SDB_TXI_REC], sdb_txi_rec *r);   /* CORRUPT on bad crc, UNSUPPORTED on another layout */

#endif
