/* http.h - the HTTP listeners main.c starts beside the gRPC transport: the metrics server
 * (metrics.c) and the REST API (http.c). Both sit above src/rpc, which never includes this. */
#ifndef SDB_SERVER_HTTP_H
#define SDB_SERVER_HTTP_H

#include "rpc/server.h"

int  sdb_metrics_start(sdb_server *s, const char *address, int port);   /* bound to address */
void sdb_metrics_stop(void);
void sdb_metrics_set_histograms(int on);
void sdb_metrics_render(sdb_server *s, sdb_buf *b);   /* the /metrics text, also served by http.c */

/* REST API (http.c) on --web-server-port, bound to the gRPC --address, TLS when gRPC has it */
typedef struct sdb_http_config {
    int port;
    int max_connections;      /* --web-max-connections */
    int timeout_s;            /* an idle or slow connection is closed after */
    int metrics;              /* also serve /metrics (same origin, for the console's charts) */
} sdb_http_config;
int  sdb_http_start(sdb_server *s, const sdb_http_config *hc, char *err, size_t errlen);
int  sdb_http_bound_port(void);
void sdb_http_stop(void);

/* The web console's compiled-in file for a path ("/" is index.html): 1 found, 0 not (console.c). */
int  sdb_console_find(const char *path, const char **type, const unsigned char **data, size_t *len);

#endif
