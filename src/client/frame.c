/* frame.c - incremental reader of length-prefixed messages spread over stream chunks (frame.h). */
#include "client/frame.h"

void sdb_frame_rd_init(sdb_frame_rd *r, uint64_t max_len, void *ctx) {
    memset(r, 0, sizeof *r);
    r->max_len = max_len;
    r->ctx = ctx;
}

int sdb_frame_feed(sdb_frame_rd *r, sdb_slice chunk) {
    const uint8_t *p = chunk.ptr, *end = chunk.ptr + chunk.len;
    int rc;
    while (p < end) {
        if (!r->in_payload) {
            size_t take = 8 - r->hdr_have;
            if (take > (size_t)(end - p)) take = (size_t)(end - p);
            memcpy(r->hdr + r->hdr_have, p, take);
            r->hdr_have += take;
            p += take;
            if (r->hdr_have < 8) break;
            r->hdr_have = 0;
            r->remaining = sdb_get_u64be(r->hdr);
            if (r->remaining > r->max_len) return SEALDB_TOOLARGE;
            uint64_t idx = r->index++;
            if (r->on_start && (rc = r->on_start(r->ctx, idx, r->remaining)) != SEALDB_OK) return rc;
            if (r->remaining == 0) {
                if (r->on_end && (rc = r->on_end(r->ctx, idx)) != SEALDB_OK) return rc;
                continue;
            }
            r->in_payload = 1;
        }
        size_t n = (size_t)(end - p);
        if (n > r->remaining) n = (size_t)r->remaining;
        if (r->on_data && (rc = r->on_data(r->ctx, r->index - 1, p, n)) != SEALDB_OK) return rc;
        p += n;
        r->remaining -= n;
        if (r->remaining == 0) {
            r->in_payload = 0;
            if (r->on_end && (rc = r->on_end(r->ctx, r->index - 1)) != SEALDB_OK) return rc;
        }
    }
    return SEALDB_OK;
}

int sdb_frame_finish(const sdb_frame_rd *r) {
    return (r->in_payload || r->hdr_have) ? SEALDB_PROTOCOL : SEALDB_OK;
}
