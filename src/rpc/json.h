/* json.h - protobuf-c messages <-> JSON the way immudb's REST gateway maps them (original proto field
 * names, 64-bit integers as strings, bytes as padded standard base64, enums by name, defaults
 * omitted), driven by the message descriptors only: no per-message code. */
#ifndef SDB_RPC_JSON_H
#define SDB_RPC_JSON_H

#include <protobuf-c/protobuf-c.h>
#include "util/util.h"

/* Appends m as one compact JSON object. SEALDB_NOMEM on allocation failure. */
int sdb_json_encode(const ProtobufCMessage *m, sdb_buf *out);
/* Appends s (n bytes) as a JSON string with Go's escaping (<, >, & and U+2028/9 escaped, invalid
 * UTF-8 as U+FFFD). */
int sdb_json_string(sdb_buf *out, const char *s, size_t n);
/* Appends standard padded base64 of p. */
int sdb_json_b64(sdb_buf *out, const uint8_t *p, size_t n);

/* A new empty message of type d in allocator a (NULL on allocation failure). */
ProtobufCMessage *sdb_json_new(const ProtobufCMessageDescriptor *d, ProtobufCAllocator *a);
/* Fills m from a JSON body: empty body or null = nothing set, unknown fields ignored, only the first
 * JSON value read. SEALDB_INVALID with a message in err (HTTP 400 / code 3). */
int sdb_json_decode(ProtobufCMessage *m, const char *body, size_t len, ProtobufCAllocator *a,
                    char *err, size_t errlen);
/* Sets the field at a dotted path ("entriesSpec.kvEntriesSpec.action") from a path segment or query
 * value; sub-messages on the way are created. 1 when no such field (ignored by the caller), 0 set,
 * SEALDB_INVALID with err on a conversion failure. */
int sdb_json_set_text(ProtobufCMessage *m, const char *dotted, const char *text, ProtobufCAllocator *a,
                      char *err, size_t errlen);

#endif
