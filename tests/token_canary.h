/*
 * token_canary.h: what the token tests share: known test card numbers, and the canary scan
 * that looks for them in clear in every file of a directory (and in extra files, such as a
 * server's log).
 *
 * A card number is looked for as ASCII digits, as packed BCD bytes (two digits a byte, high
 * nibble first; an odd-length number also right-padded with F, left-padded with 0, and with its
 * last digit left out, so any padding of the last nibble is caught) and as hex text of the
 * ASCII digits (the hex of BCD is the digit string itself). Hex text is searched in either
 * case. A plain substring search over whole files: the sealed records are random bytes, so a
 * match of 7 or more bytes by chance is negligible.
 */
#ifndef JZ_TEST_TOKEN_CANARY_H
#define JZ_TEST_TOKEN_CANARY_H

#include <stddef.h>
#include <stdint.h>

/* A Luhn-valid test card number of `len` digits (13-19): "6", len-6 digits that are a
 * bijection of seq modulo 10^(len-6), a digit that makes the Luhn sum right, then last4 (4
 * digits). Distinct seq below 10^(len-6) give distinct numbers. out has room for 20 bytes. */
void canary_pan(uint64_t seq, int len, const char *last4, char out[20]);

/* Counts the occurrences of each of pans[0..n) in every regular file below dir (recursively)
 * and in each of extra[0..nextra) (may be NULL). Prints "path: card #i as FORM" for each
 * hit. Returns the total number found; -1 when the directory could not be read. */
long canary_scan(const char *dir, const char *const *extra, size_t nextra, char (*pans)[20],
                 size_t n);

#endif
