/* http.h - the HTTP listeners main.c starts beside the gRPC transport: the metrics server
 * (metrics.c) and the REST API (http.c). Both sit above src/rpc, which never includes this. */
#ifndef SDB_SERVER_HTTP_H
#define SDB_SERVER_HTTP_H

#include "rpc/server.h"

int  sdb_metrics_start(sdb_server *s, const char *address, int port);   /* bound to address */
void sdb_metrics_stop(void);
void sdb_metrics_set_histograms(int on);

#endif
