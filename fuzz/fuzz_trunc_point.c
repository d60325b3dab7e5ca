/* fuzz_trunc_point.c - libFuzzer target: the truncation point file (engine/truncate.c) read from
 * untrusted disk bytes; an accepted file has done <= point and re-encodes to the input. */
#include "engine/engine_int.h"
#include "storage/crc32c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint64_t point = 0, done = 0;
    if (sdb_trunc_decode(data, size, &point, &done) != SEALDB_OK) return 0;
    if (done > point || size != 28) __builtin_trap();
    uint8_t b[28];
    memcpy(b, "SDBTRUNC", 8);
    sdb_put_u64be(b + 8, point);
    sdb_put_u64be(b + 16, done);
    sdb_put_u32be(b + 24, sdb_crc32c(0, b, 24));
    if (memcmp(b, data, 28)) __builtin_trap();
    return 0;
}
