/*
 * json.c: strict request parsing and the response writer (see json.h).
 */
#include "json.h"

#include <inttypes.h>
#include <stdarg.h>

#include "limits.h"

int api_fail(struct api_error *e, int code, const char *field, const char *fmt, ...)
{
    va_list ap;
    e->code = code;
    snprintf(e->field, sizeof e->field, "%s", field ? field : "");
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -1;
}

/* Depth of nesting, skipping strings; -1 when over JSON_DEPTH_MAX. Malformed input is left
 * for the parser to describe. */
static int depth_ok(const char *s, size_t len)
{
    int depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_string) {
            if (c == '\\') {
                i++;
            } else if (c == '"') {
                in_string = false;
            }
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            if (++depth > JSON_DEPTH_MAX) {
                return -1;
            }
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return 0;
}

/* The object key whose value ends near byte pos: the last "key": before it. */
static int key_before(const char *body, size_t pos, char *out, size_t out_len)
{
    size_t i = pos;
    while (i > 0 && body[i - 1] != ':') {
        i--;
    }
    while (i > 1 && (body[i - 2] == ' ' || body[i - 2] == '\t' || body[i - 2] == '\n')) {
        i--;
    }
    if (i < 3 || body[i - 2] != '"') {
        return -1;
    }
    size_t end = i - 2;
    size_t start = end;
    while (start > 0 && body[start - 1] != '"') {
        start--;
    }
    if (start == 0 || end - start >= out_len) {
        return -1;
    }
    memcpy(out, body + start, end - start);
    out[end - start] = '\0';
    return 0;
}

json_t *json_parse_body(const char *body, size_t len, struct api_error *e)
{
    json_error_t jerr;
    if (len == 0) {
        api_fail(e, JZ_INVALID_JSON, "", "the body is empty; a JSON object is expected");
        return NULL;
    }
    if (depth_ok(body, len) != 0) {
        api_fail(e, JZ_INVALID_JSON, "", "JSON nested deeper than %d levels", JSON_DEPTH_MAX);
        return NULL;
    }
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        char key[64];
        /* Valid JSON with an integer too large for int64 is a bad value, not bad JSON: name
         * the field it was given for. */
        if (strstr(jerr.text, "too big") && key_before(body, (size_t)jerr.position, key,
                                                       sizeof key) == 0) {
            api_fail(e, JZ_INVALID_FIELD, key, "%s is out of range", key);
        } else {
            /* jansson quotes the bytes "near" the fault: never echo them (a body may carry a
             * card number or a holder's identity). */
            char *near = strstr(jerr.text, " near ");
            if (near) {
                *near = '\0';
            }
            api_fail(e, JZ_INVALID_JSON, "", "malformed JSON at byte %d: %s", jerr.position,
                     jerr.text);
        }
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        api_fail(e, JZ_INVALID_JSON, "", "the body must be a JSON object");
        return NULL;
    }
    return root;
}

static bool inst_id_ok(const char *s, size_t n)
{
    if (n < 1 || n > JZ_INSTITUTION_ID_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
            return false;
        }
    }
    return true;
}

static const struct field_spec *spec_find(const struct field_spec *specs, size_t n,
                                          const char *key)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(specs[i].name, key) == 0) {
            return &specs[i];
        }
    }
    return NULL;
}

static int parse_string_field(const struct field_spec *sp, json_t *v, const char *name,
                              struct api_error *e)
{
    if (!json_is_string(v)) {
        return api_fail(e, JZ_INVALID_FIELD, name, "%s must be a string", name);
    }
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    switch (sp->type) {
    case FIELD_ID:
        if (jz_id_from_hex(s, n, sp->out) != 0) {
            return api_fail(e, JZ_INVALID_FIELD, name, "%s must be 32 lowercase hex digits", name);
        }
        return 0;
    case FIELD_INST_ID:
        if (!inst_id_ok(s, n)) {
            return api_fail(e, JZ_INVALID_FIELD, name, "%s must be 1-16 characters [a-z0-9_]",
                            name);
        }
        memcpy(sp->out, s, n + 1);
        return 0;
    case FIELD_ENUM:
        for (int i = 0; sp->choices[i]; i++) {
            if (strcmp(sp->choices[i], s) == 0) {
                *(int *)sp->out = i + 1;
                return 0;
            }
        }
        return api_fail(e, JZ_INVALID_FIELD, name, "%s has an unknown value", name);
    default: /* FIELD_STRING */
        if (n < (size_t)sp->min || n > (size_t)sp->max) {
            return api_fail(e, JZ_INVALID_FIELD, name, "%s must be %" PRId64 " to %" PRId64
                            " bytes", name, sp->min, sp->max);
        }
        memcpy(sp->out, s, n + 1);
        return 0;
    }
}

static int parse_field(const struct field_spec *sp, json_t *v, const char *name,
                       struct api_error *e)
{
    switch (sp->type) {
    case FIELD_AMOUNT:
    case FIELD_INT: {
        int64_t lo = sp->type == FIELD_AMOUNT ? 1 : sp->min;
        int64_t hi = sp->type == FIELD_AMOUNT ? JZ_AMOUNT_MAX : sp->max;
        if (!json_is_integer(v)) {
            return api_fail(e, JZ_INVALID_FIELD, name, "%s must be an integer", name);
        }
        json_int_t x = json_integer_value(v);
        if (x < lo || x > hi) {
            return api_fail(e, JZ_INVALID_FIELD, name, "%s must be from %" PRId64 " to %" PRId64,
                            name, lo, hi);
        }
        *(int64_t *)sp->out = x;
        return 0;
    }
    case FIELD_BOOL:
        if (!json_is_boolean(v)) {
            return api_fail(e, JZ_INVALID_FIELD, name, "%s must be true or false", name);
        }
        *(bool *)sp->out = json_is_true(v);
        return 0;
    case FIELD_OBJECT:
    case FIELD_ARRAY:
        if (sp->type == FIELD_OBJECT ? !json_is_object(v) : !json_is_array(v)) {
            return api_fail(e, JZ_INVALID_FIELD, name, "%s must be an %s", name,
                            sp->type == FIELD_OBJECT ? "object" : "array");
        }
        *(json_t **)sp->out = v;
        return 0;
    default:
        return parse_string_field(sp, v, name, e);
    }
}

int json_fields_parse(json_t *obj, const struct field_spec *specs, size_t n, const char *prefix,
                      struct api_error *e)
{
    char name[80];
    const char *key;
    json_t *v;
    if (!json_is_object(obj)) {
        /* "transfers[3]." names the item as "transfers[3]". */
        snprintf(name, sizeof name, "%s", prefix);
        size_t n_name = strlen(name);
        if (n_name > 0 && name[n_name - 1] == '.') {
            name[n_name - 1] = '\0';
        }
        return api_fail(e, JZ_INVALID_FIELD, name, "an object is expected");
    }
    json_object_foreach(obj, key, v) {
        const struct field_spec *sp = spec_find(specs, n, key);
        snprintf(name, sizeof name, "%s%s", prefix, key);
        if (!sp) {
            return api_fail(e, JZ_UNKNOWN_FIELD, name, "unknown field %s", name);
        }
    }
    for (size_t i = 0; i < n; i++) {
        const struct field_spec *sp = &specs[i];
        snprintf(name, sizeof name, "%s%s", prefix, sp->name);
        v = json_object_get(obj, sp->name);
        bool absent = v == NULL || (json_is_null(v) && sp->allow_null);
        if (sp->present) {
            *sp->present = !absent;
        }
        if (absent) {
            if (sp->required) {
                return api_fail(e, JZ_MISSING_FIELD, name, "%s is required", name);
            }
            continue;
        }
        if (parse_field(sp, v, name, e) != 0) {
            return -1;
        }
    }
    return 0;
}

/* ---- Writer ---- */

void jb_init(struct jbuf *b)
{
    memset(b, 0, sizeof *b);
}

void jb_free(struct jbuf *b)
{
    free(b->p);
    jb_init(b);
}

static bool jb_reserve(struct jbuf *b, size_t n)
{
    if (b->failed) {
        return false;
    }
    if (b->len + n + 1 <= b->cap) {
        return true;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) {
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (!p) {
        b->failed = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

void jb_raw(struct jbuf *b, const char *s, size_t n)
{
    if (jb_reserve(b, n)) {
        memcpy(b->p + b->len, s, n);
        b->len += n;
        b->p[b->len] = '\0';
    }
}

void jb_lit(struct jbuf *b, const char *s)
{
    jb_raw(b, s, strlen(s));
}

void jb_str(struct jbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    jb_raw(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            jb_raw(b, esc, 2);
        } else if (c < 0x20) {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            jb_raw(b, esc, 6);
        } else {
            jb_raw(b, (const char *)&c, 1);
        }
    }
    jb_raw(b, "\"", 1);
}

void jb_cstr(struct jbuf *b, const char *s)
{
    jb_str(b, s, strlen(s));
}

void jb_int(struct jbuf *b, int64_t v)
{
    char t[24];
    int n = snprintf(t, sizeof t, "%" PRId64, v);
    jb_raw(b, t, (size_t)n);
}

void jb_uint(struct jbuf *b, uint64_t v)
{
    char t[24];
    int n = snprintf(t, sizeof t, "%" PRIu64, v);
    jb_raw(b, t, (size_t)n);
}

void jb_id(struct jbuf *b, const jz_id *id)
{
    char hex[33];
    jz_id_to_hex(id, hex);
    jb_raw(b, "\"", 1);
    jb_raw(b, hex, 32);
    jb_raw(b, "\"", 1);
}

void jb_key(struct jbuf *b, const char *key, bool first)
{
    if (!first) {
        jb_raw(b, ",", 1);
    }
    jb_cstr(b, key);
    jb_raw(b, ":", 1);
}

void jb_error_object(struct jbuf *b, const struct api_error *e)
{
    jb_lit(b, "{\"code\":");
    jb_cstr(b, jz_result_name(e->code));
    jb_lit(b, ",\"message\":");
    jb_cstr(b, e->message);
    if (e->field[0]) {
        jb_lit(b, ",\"field\":");
        jb_cstr(b, e->field);
    }
    jb_lit(b, "}");
}

void jb_error(struct jbuf *b, const struct api_error *e)
{
    jb_lit(b, "{\"error\":");
    jb_error_object(b, e);
    jb_lit(b, "}");
}
