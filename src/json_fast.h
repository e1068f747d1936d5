/*
 * json_fast.h: an allocation-free reader for the two hottest bodies of the API, a transfer
 * (POST /v1/transfers) and a batch of them (POST /v1/transfers/batch).
 *
 * A profile of the batch endpoint showed the general JSON path (jansson building a tree of
 * 8,190 objects, malloc and free for every value, then the field checks) taking about 60% of
 * the server's CPU. This reader scans the bytes once and fills ledger commands directly.
 *
 * It is an accelerator, not a second parser to keep in step: it accepts only the plainest
 * form of a valid body (the known fields, each at most once, strings without escapes or
 * bytes outside printable ASCII, amounts as plain digits within range, ids as 32 lowercase
 * hex digits, a listed kind) and answers JSON_FAST_FALLBACK for anything else, valid or not.
 * The caller then runs the general path, which accepts what is valid and words every error.
 * So every body the fast path accepts is one the general path accepts with the same meaning,
 * and every error comes from the general path (tests/unit/test_json_fast.c checks both).
 */
#ifndef JZ_JSON_FAST_H
#define JZ_JSON_FAST_H

#include "ledger.h"

enum { JSON_FAST_OK = 0, JSON_FAST_FALLBACK = 1 };

/* Reads a transfer object (batch = false: exactly one, into cmds[0]) or a batch body
 * {"transfers":[...]} of 1 to cap items (batch = true). kinds: the NULL-terminated transfer
 * kind names the route takes. Writes op, kind, flags, id, debit, credit, amount, ref and
 * memo of each command (the rest zeroed) and *n. Returns JSON_FAST_OK or JSON_FAST_FALLBACK
 * (cmds may then hold anything). */
int json_fast_transfers(const char *body, size_t len, bool batch, const char *const *kinds,
                        struct ledger_cmd *cmds, size_t cap, size_t *n);

#endif
