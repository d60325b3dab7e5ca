/* out.h - the seal CLI's output: human-readable lines or one JSON object per result, byte strings
 * printed safely (control bytes escaped), and progress lines on a terminal. */
#ifndef SDB_CLI_OUT_H
#define SDB_CLI_OUT_H

#include <stdint.h>
#include <stdio.h>
#include "sealdb_client.h"

typedef struct seal_out {
    int json;
    int first;                    /* JSON: next field is the first of its object */
    int depth;                    /* JSON: open objects; top-level objects are separate lines */
    FILE *f;
} seal_out;

void out_init(seal_out *o, int json);
void out_bytes_human(FILE *f, const void *p, size_t n);
void out_json_str(FILE *f, const void *p, size_t n);

/* JSON object building (no-ops in human mode except through the field printers below). */
void out_begin(seal_out *o);
void out_end(seal_out *o);
/* A field: in JSON "name": value; in human mode "name:<pad>value". */
void out_field_bytes(seal_out *o, const char *name, const void *p, size_t n);
void out_field_str(seal_out *o, const char *name, const char *s);
void out_field_u64(seal_out *o, const char *name, uint64_t v);
void out_field_i64(seal_out *o, const char *name, int64_t v);
void out_field_time(seal_out *o, const char *name, int64_t unix_s);
void out_field_bool(seal_out *o, const char *name, int v);
void out_field_double(seal_out *o, const char *name, double v);
void out_field_hex(seal_out *o, const char *name, const uint8_t *p, size_t n);
/* JSON arrays of objects: out_array_begin / out_begin / ... / out_end / out_array_end. */
void out_array_begin(seal_out *o, const char *name);
void out_array_end(seal_out *o);
void out_sep(seal_out *o);      /* human: blank line between records */

void out_entry(seal_out *o, const sealdb_entry *e);
void out_header(seal_out *o, const sealdb_tx_header *h);
void out_tx(seal_out *o, const sealdb_tx *t);
void out_state(seal_out *o, const char *label, const sealdb_state *s);

/* Progress on stderr when it is a terminal (or forced): "\r<what> done/total". */
void out_progress(const char *what, uint64_t done, uint64_t total, int force);
void out_progress_end(int force);

#endif
