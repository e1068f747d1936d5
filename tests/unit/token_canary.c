/*
 * token_canary.c: see token_canary.h.
 */
#include "token_canary.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void canary_pan(uint64_t seq, int len, const char *last4, char out[20])
{
    /* seq is spread over the middle digits by x -> a*x + b mod 10^k (a bijection, as a is
     * prime to 10), so the numbers look like card numbers rather than runs of zeros that
     * might match structured binary data by chance. */
    unsigned __int128 m = 1;
    for (int i = 0; i < len - 6; i++) {
        m *= 10;
    }
    unsigned __int128 x = ((unsigned __int128)seq * 2862933555777941757ULL + 3037000493ULL) % m;
    char body[24];
    snprintf(body, sizeof body, "6%0*llu0%s", len - 6, (unsigned long long)x, last4);
    /* The digit before the last four is fifth from the right: it counts undoubled, so the
     * Luhn sum is fixed by choosing it. */
    int sum = 0;
    for (int i = 0; i < len; i++) {
        int d = body[len - 1 - i] - '0';
        sum += i % 2 == 1 ? (d * 2 > 9 ? d * 2 - 9 : d * 2) : d;
    }
    body[len - 5] = (char)('0' + (10 - sum % 10) % 10);
    memcpy(out, body, (size_t)len);
    out[len] = '\0';
}

enum { FORMS = 7 };
static const char *const form_names[FORMS] = {
    "digits", "BCD", "BCD F-padded", "BCD 0-padded", "BCD without last digit", "hex", "HEX",
};

/* The byte patterns of one card number. */
struct patterns {
    uint8_t p[FORMS][48];
    size_t len[FORMS];
};

static size_t bcd(const char *digits, size_t n, int pad_left, int pad_right, uint8_t *out)
{
    uint8_t nib[24];
    size_t k = 0;
    if (pad_left) {
        nib[k++] = 0;
    }
    for (size_t i = 0; i < n; i++) {
        nib[k++] = (uint8_t)(digits[i] - '0');
    }
    if (pad_right) {
        nib[k++] = 0xf;
    }
    for (size_t i = 0; i + 1 < k; i += 2) {
        out[i / 2] = (uint8_t)(nib[i] << 4 | nib[i + 1]);
    }
    return k / 2;
}

static void patterns_of(const char *pan, struct patterns *p)
{
    size_t n = strlen(pan);
    memset(p, 0, sizeof *p);
    memcpy(p->p[0], pan, n);
    p->len[0] = n;
    bool odd = n % 2 == 1;
    p->len[1] = odd ? 0 : bcd(pan, n, 0, 0, p->p[1]);
    p->len[2] = odd ? bcd(pan, n, 0, 1, p->p[2]) : 0;
    p->len[3] = odd ? bcd(pan, n, 1, 0, p->p[3]) : 0;
    p->len[4] = odd ? bcd(pan, n - 1, 0, 0, p->p[4]) : 0;
    for (size_t i = 0; i < n; i++) {
        snprintf((char *)p->p[5] + 2 * i, 3, "%02x", (unsigned char)pan[i]);
        snprintf((char *)p->p[6] + 2 * i, 3, "%02X", (unsigned char)pan[i]);
    }
    p->len[5] = p->len[6] = 2 * n;
}

/* Every pattern is at least 6 bytes (the BCD of 12 digits): each file position's first 6 bytes
 * are tested against a bitmap of the patterns' first 6 bytes, and only hits are compared, so a
 * 64 MiB journal segment is scanned once, not once per pattern. */
#define KEY_BYTES 6
#define FILTER_BITS 20

struct pat {
    uint64_t key;
    const uint8_t *bytes;
    size_t len;
    size_t card;
    int form;
};

struct scanner {
    struct pat *pats;
    size_t n;
    uint8_t *filter; /* 2^FILTER_BITS bits */
};

static uint64_t key_at(const uint8_t *p)
{
    uint64_t k = 0;
    memcpy(&k, p, KEY_BYTES);
    return k;
}

static size_t filter_bit(uint64_t key)
{
    return (size_t)((key * 0x9e3779b97f4a7c15ULL) >> (64 - FILTER_BITS));
}

static int pat_cmp(const void *a, const void *b)
{
    const struct pat *x = a;
    const struct pat *y = b;
    return x->key < y->key ? -1 : x->key > y->key;
}

static long scan_file(const char *path, const struct scanner *sc)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return 0; /* removed meanwhile (a SQLite -shm, a rotated segment) */
    }
    size_t cap = 1 << 20;
    size_t len = 0;
    uint8_t *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap) {
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) {
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    long total = 0;
    for (size_t i = 0; buf && i + KEY_BYTES <= len; i++) {
        uint64_t key = key_at(buf + i);
        size_t bit = filter_bit(key);
        if (!(sc->filter[bit / 8] & (1u << (bit % 8)))) {
            continue;
        }
        struct pat probe = {.key = key};
        const struct pat *hit = bsearch(&probe, sc->pats, sc->n, sizeof probe, pat_cmp);
        while (hit && hit > sc->pats && hit[-1].key == key) {
            hit--;
        }
        for (; hit && hit < sc->pats + sc->n && hit->key == key; hit++) {
            if (i + hit->len <= len && memcmp(buf + i, hit->bytes, hit->len) == 0) {
                printf("  canary: %s: card #%zu as %s at %zu\n", path, hit->card,
                       form_names[hit->form], i);
                total++;
            }
        }
    }
    free(buf);
    return total;
}

static long scan_tree(const char *dir, const struct scanner *sc)
{
    DIR *d = opendir(dir);
    if (!d) {
        return -1;
    }
    long total = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char path[2048];
        struct stat st;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (lstat(path, &st) != 0) {
            continue;
        }
        long c = S_ISDIR(st.st_mode) ? scan_tree(path, sc)
                 : S_ISREG(st.st_mode) ? scan_file(path, sc) : 0;
        total += c > 0 ? c : 0;
    }
    closedir(d);
    return total;
}

long canary_scan(const char *dir, const char *const *extra, size_t nextra, char (*pans)[20],
                 size_t n)
{
    struct patterns *pats = calloc(n ? n : 1, sizeof *pats);
    struct scanner sc = {.pats = calloc(n * FORMS + 1, sizeof *sc.pats),
                         .filter = calloc(1, (1u << FILTER_BITS) / 8)};
    long total = -1;
    if (pats && sc.pats && sc.filter) {
        for (size_t i = 0; i < n; i++) {
            patterns_of(pans[i], &pats[i]);
            for (int k = 0; k < FORMS; k++) {
                /* Hex of ASCII digits has no letters: upper case is the same pattern. */
                bool same = k > 0 && pats[i].len[k] == pats[i].len[k - 1] &&
                            memcmp(pats[i].p[k], pats[i].p[k - 1], pats[i].len[k]) == 0;
                if (pats[i].len[k] < KEY_BYTES || same) {
                    continue;
                }
                struct pat *p = &sc.pats[sc.n++];
                *p = (struct pat){.key = key_at(pats[i].p[k]), .bytes = pats[i].p[k],
                                  .len = pats[i].len[k], .card = i, .form = k};
                size_t bit = filter_bit(p->key);
                sc.filter[bit / 8] |= (uint8_t)(1u << (bit % 8));
            }
        }
        qsort(sc.pats, sc.n, sizeof *sc.pats, pat_cmp);
        total = scan_tree(dir, &sc);
        for (size_t i = 0; total >= 0 && i < nextra; i++) {
            total += scan_file(extra[i], &sc);
        }
    }
    free(sc.filter);
    free(sc.pats);
    free(pats);
    return total;
}
