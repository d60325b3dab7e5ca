/* net.h - resolving a listener's address (util/net.c). */
#ifndef SDB_UTIL_NET_H
#define SDB_UTIL_NET_H

#include <netdb.h>
#include "sealdb_err.h"

/* The first passive TCP address for address:port (NULL or "" = every interface); the caller frees
 * *out with freeaddrinfo. SEALDB_INVALID when it does not resolve. */
int sdb_resolve_listen(const char *address, int port, struct addrinfo **out);

#endif
