/* crc32c.c - CRC32C: a slicing-by-8 table version and an SSE4.2 version chosen once at run time. */
#include <pthread.h>
#include <string.h>
#include "storage/crc32c.h"

static uint32_t tab[8][256];
static int impl;   /* 1 table, 2 sse4.2; set once */
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init_tables(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
        tab[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++) tab[t][i] = (tab[t - 1][i] >> 8) ^ tab[0][tab[t - 1][i] & 0xff];
}

static uint32_t crc_table(uint32_t crc, const uint8_t *p, size_t n) {
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);   /* little-endian hosts only (x86-64/aarch64 as built here) */
        v ^= crc;
        crc = tab[7][v & 0xff] ^ tab[6][(v >> 8) & 0xff] ^ tab[5][(v >> 16) & 0xff] ^ tab[4][(v >> 24) & 0xff] ^
              tab[3][(v >> 32) & 0xff] ^ tab[2][(v >> 40) & 0xff] ^ tab[1][(v >> 48) & 0xff] ^ tab[0][v >> 56];
        p += 8; n -= 8;
    }
    while (n--) crc = (crc >> 8) ^ tab[0][(crc ^ *p++) & 0xff];
    return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2")))
static uint32_t crc_hw(uint32_t crc, const uint8_t *p, size_t n) {
    uint64_t c = crc;
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = __builtin_ia32_crc32di(c, v);
        p += 8; n -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (n--) c32 = __builtin_ia32_crc32qi(c32, *p++);
    return c32;
}
#endif

static void choose(void) {
    init_tables();
#if defined(__x86_64__)
    __builtin_cpu_init();
    impl = __builtin_cpu_supports("sse4.2") ? 2 : 1;
#else
    impl = 1;
#endif
}

uint32_t sdb_crc32c(uint32_t crc, const void *p, size_t n) {
    pthread_once(&once, choose);
    crc = ~crc;
#if defined(__x86_64__)
    if (impl == 2) return ~crc_hw(crc, p, n);
#endif
    return ~crc_table(crc, p, n);
}

/* Test hook: the portable version, to check both agree. */
uint32_t sdb_crc32c_portable(uint32_t crc, const void *p, size_t n) {
    pthread_once(&once, choose);
    return ~crc_table(~crc, p, n);
}
