/* crc32c.h - CRC32C (Castagnoli), the journal's torn-write checksum (hardware SSE4.2 when present). */
#ifndef SDB_CRC32C_H
#define SDB_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extends crc (start with 0) over n bytes; standard CRC32C: crc32c("123456789") = 0xE3069283. */
uint32_t sdb_crc32c(uint32_t crc, const void *p, size_t n);
uint32_t sdb_crc32c_portable(uint32_t crc, const void *p, size_t n);   /* table version (tests) */

#endif
