/* state.h - the client's trusted-state store: one text file (mode 0600) holding, per (server id,
 * database), the last proven (tx id, Alh) and the server's signature of it. Storing never moves a
 * state backwards: an older state is SEALDB_STALE, a different Alh for the same tx SEALDB_TAMPERED. */
#ifndef SDB_CLIENT_STATE_H
#define SDB_CLIENT_STATE_H

#include "sealdb_client.h"
#include "util/util.h"

#define SDB_STATE_FILE_NAME "seal-state"

/* Reads the state of (server_uuid, db) from path. SEALDB_NOTFOUND when the file or entry is absent;
 * SEALDB_CORRUPT when the file is malformed; SEALDB_PERMISSION when the file is readable by others. */
int sdb_state_load(const char *path, const char *server_uuid, const char *db, sealdb_state *out);

/* Stores st for (server_uuid, db) atomically (temp file + rename, 0600), under an exclusive lock.
 * The caller must have proven st consistent with the stored state; this only enforces monotonicity. */
int sdb_state_store(const char *path, const char *server_uuid, const char *db, const sealdb_state *st);

/* The monotonicity rule on its own: OK when next may replace prev. */
int sdb_state_check_advance(const sealdb_state *prev, const sealdb_state *next);

/* Line codec (exposed for tests and fuzzing): "<uuid> <db> <txid> <alh hex> <sig hex or ->". */
int sdb_state_format_line(const char *server_uuid, const sealdb_state *st, sdb_buf *out);
int sdb_state_parse_line(const char *line, size_t len, char *uuid_out, size_t uuid_cap, sealdb_state *out);

#endif
