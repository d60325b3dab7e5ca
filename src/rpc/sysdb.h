/* sysdb.h - loading users and the database catalog from the internal systemdb (sysdb.c); saving
 * is sdb_catalog_save in server.h. */
#ifndef SDB_RPC_SYSDB_H
#define SDB_RPC_SYSDB_H

#include "rpc/server.h"

/* Reads every user and database record of the loaded systemdb into s (appended, creation order,
 * deleted databases skipped); *found = 1 when systemdb held any. */
int sdb_sysdb_load(sdb_server *s, int *found);

#endif
