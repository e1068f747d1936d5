/*
 * crc32c.h: CRC-32C (Castagnoli), the per-record checksum of the journal and snapshots.
 *
 * It detects torn and damaged records cheaply; tamper evidence is the SM3 hash chain's job,
 * not this one's. Uses the SSE4.2 crc32 instruction when the CPU has it, a table otherwise;
 * both give the same answer (tests check one against the other).
 */
#ifndef JZ_CRC32C_H
#define JZ_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continues a CRC: start with crc = 0. crc32c(0, "123456789", 9) == 0xE3069283. */
uint32_t crc32c(uint32_t crc, const void *data, size_t len);
/* The portable table implementation, exposed for tests. */
uint32_t crc32c_portable(uint32_t crc, const void *data, size_t len);

#endif
