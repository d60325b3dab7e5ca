/* backup.h - `seal backup` / `seal restore`: immuadmin's hot-backup file format (records of
 * IMMUBACKUP header, Alh, exported tx), written from exportTx and restored with replicateTx, with
 * every record verified (entries hash, Alh, chain) on both sides. */
#ifndef SDB_CLI_BACKUP_H
#define SDB_CLI_BACKUP_H

#include "cli/args.h"
#include "sealdb_client.h"

/* Exit codes: 0 done, 1 error, 2 verification failure (a record or the server's data does not
 * verify). Messages go to stderr, as immuadmin prints them. */
int seal_backup(sealdb_client *c, const seal_args *a);
int seal_restore(sealdb_client *c, const seal_args *a);

#endif
