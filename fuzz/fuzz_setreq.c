/* fuzz_setreq.c - libFuzzer target: SetRequest bytes read in place (src/db/setreq.c); whatever it
 * takes as plain must unpack with protobuf-c to the same KVs (keys, values, no metadata), the same
 * noWait and no preconditions. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "db/kv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sdb_setreq_it it;
    size_t n;
    if (sdb_setreq_scan(sdb_slice_of(data, size), SIZE_MAX, &it, &n)) return 0;
    Immudb__Schema__SetRequest *r = immudb__schema__set_request__unpack(NULL, size, data);
    if (!r) __builtin_trap();
    if (r->n_kvs != n || r->n_preconditions || (r->nowait != 0) != (it.no_wait != 0)) __builtin_trap();
    sdb_slice k, v;
    for (size_t i = 0; i < n; i++) {
        if (!sdb_setreq_next(&it, &k, &v)) __builtin_trap();
        const Immudb__Schema__KeyValue *kv = r->kvs[i];
        if (kv->metadata || kv->key.len != k.len || kv->value.len != v.len) __builtin_trap();
        if ((k.len && memcmp(kv->key.data, k.ptr, k.len)) || (v.len && memcmp(kv->value.data, v.ptr, v.len)))
            __builtin_trap();
    }
    if (sdb_setreq_next(&it, &k, &v)) __builtin_trap();
    immudb__schema__set_request__free_unpacked(r, NULL);
    return 0;
}
