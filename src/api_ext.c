/*
 * api_ext.c: the feature modules that add routes to the API (api_ext.h), in matching order.
 * A module adds one line here and keeps everything else in its own files.
 */
#include "api_ext.h"

#include "api_risk.h"
#include "api_clearing.h"
#include "console.h"

extern const struct api_ext api_card_ext;
extern const struct api_ext api_ext_tokens;    /* api_token.c */
extern const struct api_ext api_ext_scenarios; /* src/api_scenarios.c */

const struct api_ext *const api_exts[] = {
    &console_ext,
    &api_card_ext,
    &api_ext_tokens,
    &api_ext_scenarios,
    &api_ext_risk,
    &clearing_ext,
};
const size_t api_exts_count = JZ_ARRAY_LEN(api_exts);
