/* client.c - the smallest useful libsealdb-client program: connect to a sealdb (or immudb) server, log
 * in, write a key with a verified set, read it back with a verified get. Build against an installed sealdb:
 *     cc client.c $(pkg-config --cflags --libs sealdb-client) -o client
 * Usage: client [HOST [PORT]]    (password from IMMUDB_PASSWORD, default "immudb") */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sealdb_client.h"

int main(int argc, char **argv) {
    sealdb_client_opts o;
    sealdb_client_opts_init(&o);
    if (argc > 1) o.address = argv[1];
    if (argc > 2) o.port = atoi(argv[2]);
    const char *password = getenv("IMMUDB_PASSWORD") ? getenv("IMMUDB_PASSWORD") : "immudb";

    sealdb_client *c = NULL;
    int rc = sealdb_client_connect(&o, &c);
    if (rc) { fprintf(stderr, "connect: %s\n", sealdb_strerror(rc)); return 1; }
    if ((rc = sealdb_client_login(c, "immudb", password, "defaultdb", NULL))) goto fail;

    /* The new tx is proven to extend the state this handle trusts; the state then advances to it. */
    const char *key = "greeting", *value = "hello, sealed world";
    sealdb_tx_header hdr;
    if ((rc = sealdb_client_verified_set(c, key, strlen(key), value, strlen(value), &hdr))) goto fail;
    printf("verified set %s in tx %" PRIu64 "\n", key, hdr.id);

    /* The entry is proven to be in its tx, and that tx in the history of the trusted state. */
    sealdb_entry *e = NULL;
    if ((rc = sealdb_client_verified_get(c, key, strlen(key), NULL, &e))) goto fail;
    printf("verified get %s: %.*s (tx %" PRIu64 ", %s)\n", key, (int)e->value_len, (const char *)e->value, e->tx,
           e->verified ? "proven" : "NOT proven");
    sealdb_entry_free(e);
    sealdb_client_close(c);
    return 0;
fail:
    /* SEALDB_TAMPERED means a proof failed: the server's answer must not be trusted */
    fprintf(stderr, "error: %s (%s)\n", sealdb_strerror(rc), sealdb_client_errmsg(c));
    sealdb_client_close(c);
    return rc == SEALDB_TAMPERED ? 2 : 1;
}
