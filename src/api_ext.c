/*
 * api_ext.c: the feature modules that add routes to the API (api_ext.h), in matching order.
 * A module adds one line here and keeps everything else in its own files.
 */
#include "api_ext.h"

const struct api_ext *const api_exts[] = {
    NULL, /* keeps the array non-empty until the first module lands */
};
const size_t api_exts_count = 0;
