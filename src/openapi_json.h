/*
 * openapi_json.h: docs/openapi.json, embedded at build time by tools/embed (the Makefile
 * generates $(BUILD)/gen/openapi_json.c), served verbatim at /v1/openapi.json.
 */
#ifndef JZ_OPENAPI_JSON_H
#define JZ_OPENAPI_JSON_H

#include <stddef.h>

extern const char openapi_json[];
extern const size_t openapi_json_len;

#endif
