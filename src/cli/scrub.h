/* scrub.h - `seal scrub-status`: the server's integrity-scrub figures, read from its /metrics. */
#ifndef SDB_CLI_SCRUB_H
#define SDB_CLI_SCRUB_H

#include "cli/args.h"
#include "cli/out.h"

/* Prints one record per database (only a->database when set). Returns the exit code: 0 all
 * intact, 2 a database has damaged txs, 1 the metrics could not be read. */
int seal_scrub_status(const seal_args *a, seal_out *o);

#endif
