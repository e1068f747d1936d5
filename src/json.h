/*
 * json.h: strict parsing of request bodies and a small writer for responses.
 *
 * Parsing goes through jansson with duplicate keys rejected, after a pre-scan that bounds
 * nesting depth (JSON_DEPTH_MAX) so no body can make the parser recurse deeply. A request is
 * described by a table of field specs; json_fields_parse rejects unknown fields
 * (unknown_field), missing required ones (missing_field) and wrong types or values
 * (invalid_field), naming the field (with a prefix such as "transfers[3]." for batch items).
 * Amounts must be JSON integers in 1..JZ_AMOUNT_MAX: never floats, strings or exponents.
 *
 * The writer appends to a growable buffer; strings are escaped as JSON requires.
 */
#ifndef JZ_JSON_H
#define JZ_JSON_H

#include <jansson.h>

#include "common.h"

#define JSON_DEPTH_MAX 32

/* An API error: a result code (common.h), the field at fault (may be empty) and a message. */
struct api_error {
    int code;
    char field[80];
    char message[200];
};

/* Sets *e; returns -1 so callers can `return api_fail(...)`. */
int api_fail(struct api_error *e, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Parses body (len bytes, not NUL-terminated) into a JSON object. Returns it (caller owns:
 * json_decref) or NULL with e set (invalid_json naming what is wrong). */
json_t *json_parse_body(const char *body, size_t len, struct api_error *e);

enum field_type {
    FIELD_ID,        /* 32 lowercase hex -> jz_id */
    FIELD_AMOUNT,    /* integer 1..JZ_AMOUNT_MAX -> int64_t */
    FIELD_INT,       /* integer min..max -> int64_t */
    FIELD_STRING,    /* string of 1..max bytes (min 0 if allow_empty) -> char[max + 1] */
    FIELD_ENUM,      /* string among choices -> int (index + 1) */
    FIELD_BOOL,      /* true/false -> bool */
    FIELD_OBJECT,    /* object -> json_t * (borrowed) */
    FIELD_ARRAY,     /* array -> json_t * (borrowed) */
    FIELD_INST_ID,   /* [a-z0-9_]{1,16} -> char[17] */
};

struct field_spec {
    const char *name;
    enum field_type type;
    bool required;
    void *out;                    /* where the value goes (see the types) */
    bool *present;                /* optional: set true when the field was given */
    int64_t min, max;             /* FIELD_INT range; FIELD_STRING max bytes in max */
    const char *const *choices;   /* FIELD_ENUM: NULL-terminated */
    bool allow_null;              /* null is accepted as "absent" */
};

/* Checks obj against specs (n entries) and fills the outputs. prefix ("" or "transfers[3].")
 * goes before field names in errors. Returns 0 or -1 with e set. */
int json_fields_parse(json_t *obj, const struct field_spec *specs, size_t n, const char *prefix,
                      struct api_error *e);

/* ---- Writing ---- */

struct jbuf {
    char *p;
    size_t len;
    size_t cap;
    bool failed; /* out of memory: the buffer's contents are not to be used */
};

void jb_init(struct jbuf *b);
void jb_free(struct jbuf *b);
void jb_raw(struct jbuf *b, const char *s, size_t n);
void jb_lit(struct jbuf *b, const char *s);            /* raw NUL-terminated text */
void jb_str(struct jbuf *b, const char *s, size_t n); /* quoted, escaped */
void jb_cstr(struct jbuf *b, const char *s);
void jb_int(struct jbuf *b, int64_t v);
void jb_uint(struct jbuf *b, uint64_t v);
void jb_id(struct jbuf *b, const jz_id *id);          /* "32 hex" */
/* ,"key": (with a leading comma unless first) */
void jb_key(struct jbuf *b, const char *key, bool first);
/* {"error":{"code":..,"message":..,"field":..}} */
void jb_error(struct jbuf *b, const struct api_error *e);
/* The inner {"code":..,"message":..,"field":..} alone (batch results). */
void jb_error_object(struct jbuf *b, const struct api_error *e);

#endif
