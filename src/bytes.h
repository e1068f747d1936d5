/*
 * bytes.h: a bounded big-endian cursor for the binary formats of the offline-payment modules
 * (voucher.c, jzcard.c). Writing past the end or reading past it sets `bad` and does nothing
 * more, so an encoder or decoder checks once, at the end (cur_ended), instead of at every
 * field. Header-only: each user gets its own static copies.
 */
#ifndef JZ_BYTES_H
#define JZ_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct cur {
    uint8_t *w;       /* writing, or NULL */
    const uint8_t *r; /* reading */
    size_t len, pos;
    bool bad;
};

static inline bool room(struct cur *c, size_t n)
{
    if (c->bad || n > c->len - c->pos) {
        c->bad = true;
        return false;
    }
    return true;
}

static inline void put(struct cur *c, const void *p, size_t n)
{
    if (room(c, n)) {
        memcpy(c->w + c->pos, p, n);
        c->pos += n;
    }
}

static inline void put_int(struct cur *c, uint64_t v, int n)
{
    uint8_t b[8];
    for (int i = 0; i < n; i++) {
        b[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    }
    put(c, b, (size_t)n);
}

static inline const uint8_t *get(struct cur *c, size_t n)
{
    if (!room(c, n)) {
        return NULL;
    }
    const uint8_t *p = c->r + c->pos;
    c->pos += n;
    return p;
}

static inline void get_bytes(struct cur *c, void *out, size_t n)
{
    const uint8_t *p = get(c, n);
    if (p) {
        memcpy(out, p, n);
    }
}

static inline uint64_t get_int(struct cur *c, int n)
{
    const uint8_t *p = get(c, (size_t)n);
    uint64_t v = 0;
    for (int i = 0; p && i < n; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

/* Reserved bytes must be zero. */
static inline void get_zero(struct cur *c, size_t n)
{
    const uint8_t *p = get(c, n);
    for (size_t i = 0; p && i < n; i++) {
        c->bad |= p[i] != 0;
    }
}

/* A length-prefixed part (u16 length), 1..max bytes. */
static inline const uint8_t *get_part(struct cur *c, size_t max, size_t *len)
{
    size_t n = (size_t)get_int(c, 2);
    if (n == 0 || n > max) {
        c->bad = true;
        return NULL;
    }
    *len = n;
    return get(c, n);
}

static inline void put_part(struct cur *c, const uint8_t *p, size_t n, size_t max)
{
    if (n == 0 || n > max) {
        c->bad = true;
        return;
    }
    put_int(c, n, 2);
    put(c, p, n);
}

static inline bool cur_ended(const struct cur *c)
{
    return !c->bad && c->pos == c->len;
}

#endif
