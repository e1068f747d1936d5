/*
 * crc32c.c: CRC-32C (Castagnoli), reflected polynomial 0x82F63B78, initial value and final
 * xor 0xFFFFFFFF.
 *
 * Two implementations that must agree bit for bit: the SSE4.2 crc32 instruction (8 bytes per
 * instruction), chosen at run time when the CPU has it, and a portable slicing-by-8 table
 * (8 bytes per step through eight 256-entry tables) for every other CPU. The API continues a
 * CRC: the caller passes the previous finished value, so the register is the complement of it.
 */
#include "crc32c.h"

#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CRC32C_HAVE_SSE42 1
#include <nmmintrin.h>
#endif

#define CRC32C_POLY 0x82F63B78u

/* crc32c_table[0] is the classic byte table; crc32c_table[k][b] is the CRC register after
 * byte b followed by k zero bytes, which lets slicing-by-8 fold eight bytes at once. */
static uint32_t crc32c_table[8][256];

/* Built before main so that crc32c needs no lazy, racy initialisation on its hot path. */
__attribute__((constructor)) static void crc32c_table_init(void)
{
    for (uint32_t b = 0; b < 256; b++) {
        uint32_t c = b;
        for (int bit = 0; bit < 8; bit++) {
            c = (c & 1) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
        }
        crc32c_table[0][b] = c;
    }
    for (int k = 1; k < 8; k++) {
        for (int b = 0; b < 256; b++) {
            uint32_t prev = crc32c_table[k - 1][b];
            crc32c_table[k][b] = (prev >> 8) ^ crc32c_table[0][prev & 0xff];
        }
    }
}

uint32_t crc32c_portable(uint32_t crc, const void *data, size_t len)
{
    const uint8_t *p = data;
    uint32_t c = ~crc;

    /* Bytes are assembled explicitly, so the result does not depend on byte order. */
    while (len >= 8) {
        c ^= (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        c = crc32c_table[7][c & 0xff] ^ crc32c_table[6][(c >> 8) & 0xff] ^
            crc32c_table[5][(c >> 16) & 0xff] ^ crc32c_table[4][c >> 24] ^ crc32c_table[3][p[4]] ^
            crc32c_table[2][p[5]] ^ crc32c_table[1][p[6]] ^ crc32c_table[0][p[7]];
        p += 8;
        len -= 8;
    }
    while (len > 0) {
        c = (c >> 8) ^ crc32c_table[0][(c ^ *p) & 0xff];
        p++;
        len--;
    }
    return ~c;
}

#ifdef CRC32C_HAVE_SSE42
__attribute__((target("sse4.2"))) static uint32_t crc32c_sse42(uint32_t crc, const void *data,
                                                               size_t len)
{
    const uint8_t *p = data;
    uint32_t c = ~crc;
    uint64_t c64;

    /* Byte steps up to an 8-byte boundary keep the wide loads aligned. */
    while (len > 0 && ((uintptr_t)p & 7) != 0) {
        c = _mm_crc32_u8(c, *p);
        p++;
        len--;
    }
    c64 = c;
    while (len >= 8) {
        uint64_t word;
        memcpy(&word, p, sizeof word); /* the instruction reads little-endian, as x86 is */
        c64 = _mm_crc32_u64(c64, word);
        p += 8;
        len -= 8;
    }
    c = (uint32_t)c64;
    while (len > 0) {
        c = _mm_crc32_u8(c, *p);
        p++;
        len--;
    }
    return ~c;
}
#endif

uint32_t crc32c(uint32_t crc, const void *data, size_t len)
{
#ifdef CRC32C_HAVE_SSE42
    if (__builtin_cpu_supports("sse4.2")) {
        return crc32c_sse42(crc, data, len);
    }
#endif
    return crc32c_portable(crc, data, len);
}
