/*
 * common.c: hex encoding of ids and the result-code table of common.h.
 */
#include "common.h"

#include <stdio.h>

static const char hex_digits[] = "0123456789abcdef";

void jz_hex_encode(const uint8_t *in, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex_digits[in[i] >> 4];
        out[2 * i + 1] = hex_digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

void jz_id_to_hex(const jz_id *id, char out[33])
{
    jz_hex_encode(id->b, sizeof id->b, out);
}

static int hex_value(char c, bool lower_only)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (!lower_only && c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static int hex_decode(const char *s, size_t len, uint8_t *out, size_t n, bool lower_only)
{
    if (len != 2 * n) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        int hi = hex_value(s[2 * i], lower_only);
        int lo = hex_value(s[2 * i + 1], lower_only);
        if (hi < 0 || lo < 0) {
            return -1;
        }
    }
    for (size_t i = 0; i < n; i++) {
        out[i] = (uint8_t)(hex_value(s[2 * i], false) << 4 | hex_value(s[2 * i + 1], false));
    }
    return 0;
}

int jz_hex_decode(const char *s, size_t len, uint8_t *out, size_t n)
{
    return hex_decode(s, len, out, n, false);
}

int jz_id_from_hex(const char *s, size_t len, jz_id *out)
{
    jz_id id;
    if (hex_decode(s, len, id.b, sizeof id.b, true) != 0) {
        return -1;
    }
    *out = id;
    return 0;
}

struct result_info {
    const char *name;
    int http;
};

static const struct result_info result_table[] = {
#define JZ_X(name, num, str, http) [num] = {str, http},
    JZ_RESULT_CODES(JZ_X)
#undef JZ_X
};

const char *jz_result_name(int code)
{
    if (code < 0 || code >= (int)JZ_ARRAY_LEN(result_table) || !result_table[code].name) {
        return "unknown";
    }
    return result_table[code].name;
}

int jz_result_http_status(int code)
{
    if (code < 0 || code >= (int)JZ_ARRAY_LEN(result_table) || !result_table[code].name) {
        return 500;
    }
    return result_table[code].http;
}

/* Days since 1970-01-01 <-> civil date (proleptic Gregorian), after H. Hinnant. */
void jz_date_of_day(int32_t day, char out[11])
{
    int64_t z = (int64_t)day + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    int64_t y = yoe + era * 400 + (m <= 2);
    /* m is 1-12 and d 1-31 by construction; y is kept to four digits. */
    snprintf(out, 11, "%04u-%02u-%02u", (unsigned)(y % 10000), (unsigned)m % 13u,
             (unsigned)d % 32u);
}

int jz_day_of_date(const char *s, int32_t *day)
{
    int y = 0, m = 0, d = 0;
    char tail = 0;
    if (strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || y < 1970 ||
        m < 1 || m > 12 || d < 1 || d > 31) {
        return -1;
    }
    int64_t yy = m <= 2 ? y - 1 : y;
    int64_t era = yy / 400;
    int64_t yoe = yy - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int32_t n = (int32_t)(era * 146097 + doe - 719468);
    char back[11];
    jz_date_of_day(n, back);
    if (strcmp(back, s) != 0) {
        return -1; /* 2025-02-30 and the like */
    }
    *day = n;
    return 0;
}
