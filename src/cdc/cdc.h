/* cdc.h - sealdb-cdc's pure parts: the pgoutput (PostgreSQL logical replication) decoder, the
 * relation cache, and the canonical JSON of row keys and row versions. No libpq, no network. */
#ifndef SDB_CDC_H
#define SDB_CDC_H

#include <stddef.h>
#include <stdint.h>
#include "util/util.h"

/* ---- pgoutput messages (protocol versions 1 and 2, text mode, no streaming) ---- */
enum {
    PGO_BEGIN = 'B', PGO_COMMIT = 'C', PGO_ORIGIN = 'O', PGO_RELATION = 'R', PGO_TYPE = 'Y',
    PGO_INSERT = 'I', PGO_UPDATE = 'U', PGO_DELETE = 'D', PGO_TRUNCATE = 'T', PGO_MESSAGE = 'M'
};
/* one column of a tuple: kind 'n' null, 'u' unchanged TOAST (value not sent), 't' text, 'b' binary */
typedef struct pgo_col { char kind; const uint8_t *val; uint32_t len; } pgo_col;
typedef struct pgo_tuple { uint16_t n; pgo_col *cols; } pgo_tuple;   /* cols: heap, n entries */

typedef struct pgo_relcol { uint8_t flags; const char *name; uint32_t type_oid; int32_t typmod; } pgo_relcol;

typedef struct pgo_msg {
    char type;
    /* Begin: final_lsn, ts, xid; Commit: flags, lsn (commit record), end_lsn, ts */
    uint64_t lsn, end_lsn;
    int64_t ts;                   /* microseconds since 2000-01-01 UTC */
    uint32_t xid;
    uint8_t flags;
    /* Relation / Type / Insert / Update / Delete */
    uint32_t relid;
    const char *nspname, *relname; /* point into the message (NUL-terminated there) */
    char replident;
    uint16_t ncols;
    pgo_relcol *relcols;          /* Relation: heap, ncols entries */
    char old_kind;                /* Update/Delete: 'K' key, 'O' old row, 0 none */
    pgo_tuple old_tup, new_tup;
    /* Truncate */
    uint32_t nrelids; uint32_t *relids; uint8_t trunc_opts;
} pgo_msg;

/* Decodes one pgoutput message; pointers in *m borrow from buf. SEALDB_PROTOCOL on any malformed
 * or truncated input (every count and length is checked against the bytes left). */
int pgo_decode(const uint8_t *buf, size_t len, pgo_msg *m);
void pgo_msg_free(pgo_msg *m);

/* ---- relation cache: the latest Relation message per relation id (owned copies) ---- */
typedef struct pgo_rel {
    uint32_t relid;
    char *nspname, *relname;
    char replident;
    uint16_t ncols;
    char **names; uint32_t *types;
    uint8_t *key;                 /* key[i] = 1 when column i is in the row key (replica identity at
                                     first; the recorder may set the primary key instead) */
    uint16_t nkey;
} pgo_rel;
typedef struct pgo_relcache { pgo_rel *rels; size_t n; } pgo_relcache;
int pgo_relcache_put(pgo_relcache *c, const pgo_msg *rel);
pgo_rel *pgo_relcache_get(const pgo_relcache *c, uint32_t relid);
void pgo_relcache_free(pgo_relcache *c);

/* ---- canonical JSON ---- */
/* Appends s as a JSON string: " and \ escaped, \b \f \n \r \t short forms, other bytes < 0x20 as
 * \u00XX, everything else as is (PostgreSQL text is valid in the server encoding). */
int cdc_json_str(sdb_buf *b, const void *s, size_t n);
/* Appends the tuple as a JSON object {"col":"text",...} in column order (key_only: the row key's
 * columns only); NULL -> null; 'u' (unchanged TOAST) columns take their value from prev (the
 * previous version's members, may be NULL); when prev lacks one it is written null and *incomplete
 * (may be NULL) is set. */
typedef struct cdc_prev_row { const char *const *names; const char *const *vals; const size_t *lens;
                              const int *is_null; size_t n; } cdc_prev_row;
int cdc_json_tuple(sdb_buf *b, const pgo_rel *r, const pgo_tuple *t, int key_only, const cdc_prev_row *prev,
                   int *incomplete);
/* Canonicalises a flat JSON object given by a user (values: strings, numbers, true/false, null)
 * into the form the recorder writes: {"k":"v",...}, members kept in the given order, numbers and
 * booleans as their literal text in a string. SEALDB_INVALID on anything else. */
int cdc_json_canon_flat(const char *in, size_t n, sdb_buf *out);
/* LSN text form as PostgreSQL prints it: "%X/%X"; parse returns SEALDB_INVALID on junk. */
void cdc_lsn_fmt(uint64_t lsn, char out[24]);
int cdc_lsn_parse(const char *s, uint64_t *lsn);
/* microseconds since 2000-01-01 -> "YYYY-MM-DDTHH:MM:SS.ffffffZ" */
void cdc_ts_fmt(int64_t pg_us, char out[40]);

#endif
