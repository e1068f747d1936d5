/*
 * api_ext.c: the feature modules that add routes to the API (api_ext.h), in matching order.
 * A module adds one line here and keeps everything else in its own files.
 */
#include "api_ext.h"

#include "api_clearing.h"
#include "console.h"

const struct api_ext *const api_exts[] = {
    &console_ext,
    &clearing_ext,
};
const size_t api_exts_count = JZ_ARRAY_LEN(api_exts);
