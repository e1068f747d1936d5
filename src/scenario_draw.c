/*
 * scenario_draw.c: the draw "jiaozi-draw-v1" (see scenario_draw.h).
 */
#include "scenario_draw.h"

#include "crypto.h"

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static int draw_digest(const uint8_t seed[32], const jz_id *regs, uint32_t n, uint8_t out[32])
{
    uint8_t count[4];
    put_be32(count, n);
    crypto_sm3_ctx *h = crypto_sm3_new();
    int rc = h && crypto_sm3_init(h) == 0 &&
                     crypto_sm3_update(h, SCEN_DRAW_ALGORITHM, strlen(SCEN_DRAW_ALGORITHM)) == 0 &&
                     crypto_sm3_update(h, seed, 32) == 0 && crypto_sm3_update(h, count, 4) == 0 &&
                     crypto_sm3_update(h, regs, (size_t)n * sizeof *regs) == 0 &&
                     crypto_sm3_final(h, out) == 0
                 ? 0 : -1;
    crypto_sm3_free(h);
    return rc;
}

/* A uniform value in [0, m) for step i. */
static int uniform(const uint8_t digest[32], uint32_t i, uint32_t m, uint32_t *out)
{
    uint64_t limit = UINT64_MAX - (UINT64_MAX % m + 1) % m; /* floor(2^64 / m) * m - 1 */
    for (uint32_t attempt = 0;; attempt++) {
        uint8_t msg[40];
        uint8_t h[32];
        memcpy(msg, digest, 32);
        put_be32(msg + 32, i);
        put_be32(msg + 36, attempt);
        if (crypto_sm3(msg, sizeof msg, h) != 0) {
            return -1;
        }
        uint64_t r = 0;
        for (int k = 0; k < 8; k++) {
            r = r << 8 | h[k];
        }
        if (r <= limit) {
            *out = (uint32_t)(r % m);
            return 0;
        }
    }
}

int64_t scen_draw(const uint8_t seed[32], const jz_id *regs, uint32_t n, uint32_t winners,
                  uint32_t *out, uint8_t digest[32])
{
    for (uint32_t i = 1; i < n; i++) {
        if (memcmp(&regs[i - 1], &regs[i], sizeof regs[i]) >= 0) {
            return -1;
        }
    }
    uint32_t *a = calloc(n + 1, sizeof *a);
    if (!a || draw_digest(seed, regs, n, digest) != 0) {
        free(a);
        return -1;
    }
    for (uint32_t i = 0; i < n; i++) {
        a[i] = i;
    }
    uint32_t k = winners < n ? winners : n;
    for (uint32_t i = 0; i < k; i++) {
        uint32_t r;
        if (uniform(digest, i, n - i, &r) != 0) {
            free(a);
            return -1;
        }
        uint32_t t = a[i];
        a[i] = a[i + r];
        a[i + r] = t;
        out[i] = a[i];
    }
    free(a);
    return k;
}
