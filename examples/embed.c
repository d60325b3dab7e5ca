/* embed.c - the smallest useful program embedding libsealdb: write, read back with a local proof,
 * keep the verified state, list history. Build against an installed sealdb:
 *     cc embed.c $(pkg-config --cflags --libs sealdb) -o embed
 * Usage: embed DIR */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "sealdb.h"

static sealdb_bytes str(const char *s) { return (sealdb_bytes){ s, strlen(s) }; }

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "./example-db";
    sealdb *db = NULL;
    int rc = sealdb_create(&db);
    if (!rc) rc = sealdb_set_sync(db, 1);                    /* durable before set returns */
    if (!rc) rc = sealdb_open(db, dir, SEALDB_OPEN_CREATE);
    if (rc) { fprintf(stderr, "open %s: %s\n", dir, sealdb_strerror(rc)); sealdb_close(db); return 1; }

    uint64_t tx;
    if ((rc = sealdb_set(db, str("greeting"), str("hello, sealed world"), &tx))) goto fail;
    printf("set greeting in tx %" PRIu64 "\n", tx);

    /* A verified read: the entry is proven to be in its tx, and that tx to be in the history that
     * extends the state we trusted before. Keep `trusted` (e.g. in a file) between runs. */
    sealdb_dbstate trusted = { 0 };
    sealdb_item *e = NULL;
    if ((rc = sealdb_verified_get(db, str("greeting"), &trusted, &e))) goto fail;
    sealdb_bytes v = sealdb_item_value(e);
    printf("verified: %.*s (tx %" PRIu64 ", revision %" PRIu64 "); trusted state is now tx %" PRIu64 "\n",
           (int)v.len, (const char *)v.ptr, sealdb_item_tx(e), sealdb_item_revision(e), trusted.tx_id);
    sealdb_item_free(e);

    sealdb_items *hist = NULL;
    if ((rc = sealdb_history(db, str("greeting"), 0, 0, 0, &hist))) goto fail;
    printf("greeting has %zu versions (nothing is ever overwritten)\n", sealdb_items_count(hist));
    sealdb_items_free(hist);
    return sealdb_close(db) ? 1 : 0;
fail:
    fprintf(stderr, "error: %s\n", sealdb_strerror(rc));
    sealdb_close(db);
    return 1;
}
