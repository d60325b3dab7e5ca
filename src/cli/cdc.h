/* cdc.h - seal's commands over what sealdb-cdc records: a PostgreSQL row's proven history and the
 * check that the slot's last transactions are all present, in order. */
#ifndef SDB_CLI_CDC_H
#define SDB_CLI_CDC_H

#include "sealdb_client.h"
#include "cli/out.h"

/* Both return the process exit code: 0 ok, 1 error, 2 verification failure. */
int seal_cdc_history(sealdb_client *c, seal_out *o, const char *prefix, const char *table, const char *pk_json);
int seal_cdc_verify(sealdb_client *c, seal_out *o, const char *prefix, const char *slot, uint64_t last_n);

#endif
