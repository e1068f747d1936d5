/*
 * api_clearing.h: clearing and settlement between institutions over HTTP (an api_ext
 * module; DESIGN.md §7, docs/clearing.md, docs/api.md "Clearing").
 *
 * Routes (all signed):
 *   POST /v1/clearing/cutoff                           central: close the open cycle now
 *   GET  /v1/clearing/cycles                           central: every cycle; operator: its own
 *   GET  /v1/clearing/cycles/{id}                      central: the cycle; operator: its file
 *   GET  /v1/clearing/cycles/{id}/files/{file}         INST.csv|json|items.csv[.sig]
 *   POST /v1/clearing/cycles/{id}/reconcile            operator: its record of the cycle
 *   GET  /v1/clearing/cycles/{id}/reconciliations/{institution}
 *   GET|PUT /v1/clearing/fees                          the fee schedule (PUT: central)
 *   GET|PUT /v1/clearing/schedule                      scheduled cut-offs (PUT: central)
 *   POST /v1/clearing/adjustments, GET /v1/clearing/adjustments/{id},
 *   POST /v1/clearing/adjustments/{id}/approve
 *   POST /v1/clearing/disputes, GET /v1/clearing/disputes/{id},
 *   POST /v1/clearing/disputes/{id}/accept|reject
 *
 * State: DIR/clearing.db (store_clearing.h). A thread runs scheduled cut-offs.
 */
#ifndef JZ_API_CLEARING_H
#define JZ_API_CLEARING_H

#include "api_ext.h"

/* A reconciliation upload: bytes of body and items it may hold (about 60 bytes an item). */
#define CLEARING_RECONCILE_BODY_MAX (32u << 20)
#define CLEARING_RECONCILE_ITEMS_MAX 500000
/* Scheduled cut-offs at most this often. */
#define CLEARING_EVERY_MS_MIN 1000

extern const struct api_ext clearing_ext;

#endif
