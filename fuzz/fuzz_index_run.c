/* fuzz_index_run.c - libFuzzer target for the key index's run file decoder (footer, fences, Bloom
 * filter, blocks with restart points, groups, version records): any bytes must parse or fail
 * cleanly, never read outside the input. */
#include <stdint.h>
#include <stddef.h>
#include "index/index.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    (void)sdb_index_fuzz_run(data, size);
    return 0;
}
