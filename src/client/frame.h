/* frame.h - the message framing inside immudb stream Chunks (api.md 4.1): each logical message is
 * [8-byte big-endian length][payload]; the chunk contents are one byte stream, so the reader never
 * assumes alignment and hands payload bytes out as they arrive (a large value is never buffered). */
#ifndef SDB_CLIENT_FRAME_H
#define SDB_CLIENT_FRAME_H

#include <stdint.h>
#include "util/util.h"

typedef struct sdb_frame_rd {
    uint8_t hdr[8];
    size_t hdr_have;
    int in_payload;
    uint64_t remaining;           /* payload bytes left in the current message */
    uint64_t index;               /* messages started so far */
    uint64_t max_len;             /* refuse longer messages (SEALDB_TOOLARGE) */
    void *ctx;
    int (*on_start)(void *ctx, uint64_t index, uint64_t len);
    int (*on_data)(void *ctx, uint64_t index, const uint8_t *p, size_t n);
    int (*on_end)(void *ctx, uint64_t index);
} sdb_frame_rd;

void sdb_frame_rd_init(sdb_frame_rd *r, uint64_t max_len, void *ctx);
/* Feeds the content of one chunk; callback errors are returned as is. */
int sdb_frame_feed(sdb_frame_rd *r, sdb_slice chunk);
/* End of stream: SEALDB_PROTOCOL when a message is incomplete. */
int sdb_frame_finish(const sdb_frame_rd *r);

#endif
