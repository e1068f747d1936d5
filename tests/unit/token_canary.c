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

static long count_in(const uint8_t *buf, size_t len, const uint8_t *pat, size_t plen)
{
    long found = 0;
    const uint8_t *p = buf;
    const uint8_t *end = buf + len;
    while (plen && p < end) {
        const uint8_t *hit = memmem(p, (size_t)(end - p), pat, plen);
        if (!hit) {
            break;
        }
        found++;
        p = hit + 1;
    }
    return found;
}

static long scan_file(const char *path, const struct patterns *pats, size_t n)
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
    for (size_t i = 0; buf && i < n; i++) {
        for (int k = 0; k < FORMS; k++) {
            long c = count_in(buf, len, pats[i].p[k], pats[i].len[k]);
            if (c) {
                printf("  canary: %s: card #%zu as %s (%ld)\n", path, i, form_names[k], c);
            }
            total += c;
        }
    }
    free(buf);
    return total;
}

static long scan_tree(const char *dir, const struct patterns *pats, size_t n)
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
        long c = S_ISDIR(st.st_mode) ? scan_tree(path, pats, n)
                 : S_ISREG(st.st_mode) ? scan_file(path, pats, n) : 0;
        total += c > 0 ? c : 0;
    }
    closedir(d);
    return total;
}

long canary_scan(const char *dir, const char *const *extra, size_t nextra, char (*pans)[20],
                 size_t n)
{
    struct patterns *pats = calloc(n ? n : 1, sizeof *pats);
    if (!pats) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        patterns_of(pans[i], &pats[i]);
    }
    long total = scan_tree(dir, pats, n);
    for (size_t i = 0; total >= 0 && i < nextra; i++) {
        total += scan_file(extra[i], pats, n);
    }
    free(pats);
    return total;
}
