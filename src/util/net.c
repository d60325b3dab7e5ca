/* net.c - resolving the address a listener binds (the gRPC listener, the metrics server, and the
 * start-up check that explains a failed bind), in one place. */
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include "util/net.h"

int sdb_resolve_listen(const char *address, int port, struct addrinfo **out) {
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    *out = NULL;
    if (getaddrinfo(address && address[0] ? address : NULL, portstr, &hints, out) != 0 || !*out) {
        *out = NULL;
        return SEALDB_INVALID;
    }
    return SEALDB_OK;
}
