/*
 * scenario_draw.h: the red-envelope draw (issue 7, item 3), pure so that anyone can re-run
 * it: the server draws with it, and `jiaozi campaign draw --verify` re-runs it on what the
 * server published.
 *
 * Algorithm "jiaozi-draw-v1". Inputs: the 32-byte seed (revealed at the draw; its SM3 was
 * published when the campaign was made) and the n registration ids in ascending byte order.
 *   digest = SM3("jiaozi-draw-v1" | seed | n as u32 big-endian | reg_0 | ... | reg_{n-1})
 *   a = [0, 1, ..., n-1]
 *   for i in 0 .. k-1, k = min(winners, n):
 *       m = n - i; for attempt = 0, 1, ...:
 *           r = first 8 bytes, big-endian, of SM3(digest | i as u32 BE | attempt as u32 BE)
 *           accept when r < floor(2^64 / m) * m (no modulo bias)
 *       j = i + r mod m; swap a[i], a[j]
 *   winners, in rank order: reg_{a[0]}, ..., reg_{a[k-1]}
 */
#ifndef JZ_SCENARIO_DRAW_H
#define JZ_SCENARIO_DRAW_H

#include "common.h"

#define SCEN_DRAW_ALGORITHM "jiaozi-draw-v1"

/* Writes k = min(winners, n) indexes into regs to out (room for k) and the digest. regs must
 * be sorted ascending and distinct (-1 otherwise, or when hashing fails). Returns k. */
int64_t scen_draw(const uint8_t seed[32], const jz_id *regs, uint32_t n, uint32_t winners,
                  uint32_t *out, uint8_t digest[32]);

#endif
