/*
 * common.c: hex encoding of ids and the result-code table of common.h.
 */
#include "common.h"

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
