/* console.c - the web console's static files (web/console/), compiled in by tools/embed.c and served
 * by http.c at "/": nothing is read from disk or fetched from elsewhere at run time. */
#include <string.h>
#include "server/http.h"

typedef struct sdb_asset { const char *path, *type; const unsigned char *data; size_t len; } sdb_asset;
#include "console_assets.inc"

int sdb_console_find(const char *path, const char **type, const unsigned char **data, size_t *len) {
    if (!strcmp(path, "/")) path = "/index.html";
    for (size_t i = 0; i < sizeof assets / sizeof assets[0]; i++)
        if (!strcmp(assets[i].path, path)) {
            *type = assets[i].type;
            *data = assets[i].data;
            *len = assets[i].len;
            return 1;
        }
    return 0;
}
