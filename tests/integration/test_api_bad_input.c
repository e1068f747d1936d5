/*
 * test_api_bad_input.c: a table of bad requests sent to a real `jiaozi serve`, across every
 * route: malformed and truncated JSON, wrong types, unknown and missing fields, ids of the
 * wrong length or alphabet, zero, negative and overflowing amounts, huge bodies, deep
 * nesting, bad and missing headers, stale timestamps, replayed nonces, wrong signatures,
 * unknown routes and wrong methods. Each case must get the status, code and (where the
 * documents name one) field of docs/api.md, and none may reach the ledger: the signed
 * journal head (/v1/audit/head) is the same after the table as before it, and is checked
 * after every case so that a case which did change it is named.
 *
 * Cases are refusals found while reading the request (400, 401, 403 before the ledger, 404
 * of routes and institutions, 405, 415). Refusals the ledger decides (insufficient funds,
 * unknown wallets, debit = credit, ...) are remembered and so journalled: they are not here.
 * A few positive controls (a nonce of exactly 16 characters, a timestamp just inside the
 * window) show that the boundaries are where the documents put them.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "crypto.h"
#include "server.h"
#include "world.h"
#include "test.h"

/* ---- The table ---- */

enum who { OPA, CENTRAL, OPB, NOBODY, BOGUS };

/* Generated bodies (too big or too regular to write out). */
enum gen {
    G_NONE,
    G_PAD,           /* {"pad":"xxx…"} of exactly gen_n bytes */
    G_BATCH_PAD,     /* {"transfers":[{"pad":"xxx…"}]} of exactly gen_n bytes */
    G_DEEP_ARRAY,    /* {"a":[[…]]}: gen_n levels of nesting in all */
    G_DEEP_OBJECT,   /* {"a":{"a":…1…}}: gen_n levels */
    G_BATCH_EMPTY,   /* {"transfers":[{},{},…]}: gen_n items */
    G_BATCH_LAST_BAD /* gen_n well-formed items from %W to %X, the last with amount 0 */
};

/* How the signature is made (S_NORMAL: right, by srv_send). */
enum sign {
    S_NORMAL,
    S_OTHER_BODY,   /* over another body than the one sent */
    S_OTHER_PATH,   /* over another path (sign_path, or /v1/audit/head) */
    S_NO_QUERY,     /* over the path without its query string */
    S_OTHER_METHOD, /* over GET while POST is sent, or POST for GET */
    S_OTHER_TS,     /* over the timestamp + 1 */
    S_OTHER_NONCE,  /* over another nonce */
    S_OTHER_SECRET, /* with opb's secret under the caller's key */
    S_HEX_AS_KEY    /* HMAC keyed with the 64 hex characters instead of the 32 bytes */
};

struct bad_case {
    const char *name;
    const char *method;
    const char *path; /* placeholders: see subst() */
    const char *body; /* placeholders; ' stands for " unless literal */
    int status;
    const char *code;  /* NULL: a success is expected */
    const char *field; /* NULL: not checked */
    enum who who;
    const char *omit;
    const char *key, *timestamp, *nonce, *signature; /* header overrides (placeholders) */
    long long shift_ms;
    const char *ct;
    enum gen gen;
    long gen_n;
    enum sign sign;
    const char *sign_path;
    int replay_first; /* > 0: sent twice with one nonce; the first must answer this */
    bool no_ct;       /* sent without a Content-Type header */
    bool want_allow;  /* the answer must carry an Allow header */
    bool literal;     /* the body's ' are sent as they are */
};

#define CASE(n, m, p, b, st, cd, f, ...)                                                   \
    {.name = n, .method = m, .path = p, .body = b, .status = st, .code = cd, .field = f, \
     __VA_ARGS__}
/* A POST or PATCH whose body is refused with 400 code and field f. */
#define B400(n, m, p, b, cd, f, ...) CASE(n, m, p, b, 400, cd, f, __VA_ARGS__)

#define TR "/v1/transfers"
#define TRB "/v1/transfers/batch"
#define WAL "/v1/wallets"
#define HO "/v1/holds"
#define CAP "/v1/holds/%H/capture"
#define VOID "/v1/holds/%H/void"
#define CLOSE "/v1/wallets/%Z/close"
#define PATCHW "/v1/wallets/%W"
#define INST "/v1/institutions"
#define QI "/v1/quota/issue"
#define QR "/v1/quota/redeem"
#define HEAD "/v1/audit/head"

/* Transfer bodies: one field changed from a valid p2p of opa's. */
#define T_AMT(a) "{'id':'%N','debit':'%W','credit':'%X','amount':" a ",'kind':'p2p'}"
#define T_KIND(k) "{'id':'%N','debit':'%W','credit':'%X','amount':100,'kind':" k "}"
#define T_ID(i) "{'id':" i ",'debit':'%W','credit':'%X','amount':100,'kind':'p2p'}"
#define T_DEBIT(d) "{'id':'%N','debit':" d ",'credit':'%X','amount':100,'kind':'p2p'}"
#define T_CREDIT(c) "{'id':'%N','debit':'%W','credit':" c ",'amount':100,'kind':'p2p'}"
#define T_PLUS(x) "{'id':'%N','debit':'%W','credit':'%X','amount':100,'kind':'p2p'," x "}"
#define T_OK "{'id':'%N','debit':'%W','credit':'%X','amount':100,'kind':'p2p'}"
/* Wallet bodies. */
#define W_BODY(x) "{'id':'%N'," x "}"
#define WALLET_OK "'kind':'personal','tier':4,'form':'soft'"
/* Hold bodies. */
#define H_AMT(a) "{'id':'%N','debit':'%W','credit':'%V','amount':" a ",'timeout_ms':60000}"
#define H_TMO(t) "{'id':'%N','debit':'%W','credit':'%V','amount':100,'timeout_ms':" t "}"
#define H_PLUS(x) "{'id':'%N','debit':'%W','credit':'%V','amount':100,'timeout_ms':60000," x "}"
/* Quota and institution bodies (sent by central). */
#define Q_AMT(a) "{'id':'%N','operator':'opa','amount':" a "}"
#define Q_OP(o) "{'id':'%N','operator':" o ",'amount':100}"
#define I_ID(i) "{'id':" i ",'name':'Bank','kind':'operator'}"
#define I_NAME(n) "{'id':'opz','name':" n ",'kind':'operator'}"
/* Batch bodies. */
#define B_ITEM "{'id':'%N','debit':'%W','credit':'%X','amount':1,'kind':'p2p'}"
#define B_ONE(x) "{'transfers':[" x "]}"
#define B_ITEM_AMT(a) "{'id':'%N','debit':'%W','credit':'%X','amount':" a ",'kind':'p2p'}"
#define B_ITEM_PLUS(x) "{'id':'%N','debit':'%W','credit':'%X','amount':1,'kind':'p2p'," x "}"

#define ID31 "'0123456789abcdef0123456789abcde'"
#define ID33 "'0123456789abcdef0123456789abcdef0'"
#define IDUP "'0123456789ABCDEF0123456789ABCDEF'"
#define IDNONHEX "'0123456789abcdefg123456789abcdef'"
#define S65 "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'"
#define S141                                                                                      \
    "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'"
/* 47 CJK characters: 141 bytes of UTF-8 (47 characters, but bytes are what count). */
#define CJK47                                                                     \
    "'\xe9\xa5\xba\xe5\xad\x90\xe9\xa5\xba\xe5\xad\x90\xe9\xa5\xba\xe5\xad\x90\xe9" \
    "\xa5\xba\xe5\xad\x90\xe9\xa5\xba\xe5\xad\x90\xe9\xa5\xba\xe5\xad\x90\xe9\xa5" \
    "\xba\xe5\xad\x90\xe9\xa5\xba\xe5\xad\x90\xe9\xa5\xba\xe5\xad\x90\xe9\xa5\xba" \
    "\xe5\xad\x90\xe9\xa5\xba\xe5\xad\x90\xe9\xa5\xba\xe5\xad\x90\xe9\xa5\xba\xe5" \
    "\xad\x90\xe9\xa5\xba\xe5\xad\x90\xe9\xa5\xba\xe5\xad\x90\xe9\xa5\xba\xe5\xad" \
    "\x90\xe9\xa5\xba\xe5\xad\x90\xe9\xa5\xba\xe5\xad\x90\xe9\xa5\xba\xe5\xad\x90" \
    "\xe9\xa5\xba\xe5\xad\x90\xe9\xa5\xba\xe5\xad\x90\xe9\xa5\xba\xe5\xad\x90\xe9" \
    "\xa5\xba\xe5\xad\x90\xe9\xa5\xba\xe5\xad\x90\xe9\xa5\xba\xe5\xad\x90\xe9\xa5" \
    "\xba\xe5\xad\x90\xe9\xa5\xba\xe5\xad\x90\xe9\xa5\xba\xe5\xad\x90\xe9\xa5\xba" \
    "\xe5\xad\x90\xe9\xa5\xba\xe5\xad\x90\xe9\xa5\xba\xe5\xad\x90\xe9\xa5\xba'"
/* 22 CJK characters: 66 bytes, over the 64-byte institution name. */
#define CJK22                                                                     \
    "'\xe9\xa5\xba\xe5\xad\x90\xe9\xa5\xba\xe5\xad\x90\xe9\xa5\xba\xe5\xad\x90\xe9" \
    "\xa5\xba\xe5\xad\x90\xe9\xa5\xba\xe5\xad\x90\xe9\xa5\xba\xe5\xad\x90\xe9\xa5" \
    "\xba\xe5\xad\x90\xe9\xa5\xba\xe5\xad\x90\xe9\xa5\xba\xe5\xad\x90\xe9\xa5\xba" \
    "\xe5\xad\x90\xe9\xa5\xba\xe5\xad\x90\xe9\xa5\xba'"

#define BIG_AMT "9000000000000001"
#define OVERFLOW_AMT "99999999999999999999"
#define MIB 1048576L

static const struct bad_case cases[] = {
    /* ---- POST /v1/transfers: amounts ---- */
    B400("transfer amount 0", "POST", TR, T_AMT("0"), "invalid_field", "amount"),
    B400("transfer amount -1", "POST", TR, T_AMT("-1"), "invalid_field", "amount"),
    B400("transfer amount 9e15+1", "POST", TR, T_AMT(BIG_AMT), "invalid_field", "amount"),
    B400("transfer amount 1e3", "POST", TR, T_AMT("1e3"), "invalid_field", "amount"),
    B400("transfer amount 1E2", "POST", TR, T_AMT("1E2"), "invalid_field", "amount"),
    B400("transfer amount 1.5", "POST", TR, T_AMT("1.5"), "invalid_field", "amount"),
    B400("transfer amount 100.0", "POST", TR, T_AMT("100.0"), "invalid_field", "amount"),
    B400("transfer amount \"100\"", "POST", TR, T_AMT("'100'"), "invalid_field", "amount"),
    B400("transfer amount 2^64 overflow", "POST", TR, T_AMT(OVERFLOW_AMT), "invalid_field", "amount"),
    B400("transfer amount INT64_MAX", "POST", TR, T_AMT("9223372036854775807"), "invalid_field", "amount"),
    B400("transfer amount INT64_MIN", "POST", TR, T_AMT("-9223372036854775808"), "invalid_field", "amount"),
    B400("transfer amount -0", "POST", TR, T_AMT("-0"), "invalid_field", "amount"),
    B400("transfer amount null", "POST", TR, T_AMT("null"), "invalid_field", "amount"),
    B400("transfer amount true", "POST", TR, T_AMT("true"), "invalid_field", "amount"),
    B400("transfer amount [100]", "POST", TR, T_AMT("[100]"), "invalid_field", "amount"),
    B400("transfer amount {}", "POST", TR, T_AMT("{}"), "invalid_field", "amount"),
    B400("transfer amount 0x10", "POST", TR, T_AMT("0x10"), "invalid_json", NULL),
    B400("transfer amount 0100", "POST", TR, T_AMT("0100"), "invalid_json", NULL),
    B400("transfer amount +1", "POST", TR, T_AMT("+1"), "invalid_json", NULL),
    B400("transfer amount .5", "POST", TR, T_AMT(".5"), "invalid_json", NULL),
    B400("transfer amount NaN", "POST", TR, T_AMT("NaN"), "invalid_json", NULL),
    B400("transfer amount Infinity", "POST", TR, T_AMT("Infinity"), "invalid_json", NULL),
    /* ---- POST /v1/transfers: missing fields ---- */
    B400("transfer missing id", "POST", TR, "{'debit':'%W','credit':'%X','amount':100,'kind':'p2p'}",
         "missing_field", "id"),
    B400("transfer missing debit", "POST", TR, "{'id':'%N','credit':'%X','amount':100,'kind':'p2p'}",
         "missing_field", "debit"),
    B400("transfer missing credit", "POST", TR, "{'id':'%N','debit':'%W','amount':100,'kind':'p2p'}",
         "missing_field", "credit"),
    B400("transfer missing amount", "POST", TR, "{'id':'%N','debit':'%W','credit':'%X','kind':'p2p'}",
         "missing_field", "amount"),
    B400("transfer missing kind", "POST", TR, "{'id':'%N','debit':'%W','credit':'%X','amount':100}",
         "missing_field", "kind"),
    B400("transfer empty object", "POST", TR, "{}", "missing_field", NULL),
    /* ---- POST /v1/transfers: ids ---- */
    B400("transfer id upper-case", "POST", TR, T_ID(IDUP), "invalid_field", "id"),
    B400("transfer id 31 hex", "POST", TR, T_ID(ID31), "invalid_field", "id"),
    B400("transfer id 33 hex", "POST", TR, T_ID(ID33), "invalid_field", "id"),
    B400("transfer id non-hex", "POST", TR, T_ID(IDNONHEX), "invalid_field", "id"),
    B400("transfer id empty", "POST", TR, T_ID("''"), "invalid_field", "id"),
    B400("transfer id a number", "POST", TR, T_ID("12345"), "invalid_field", "id"),
    B400("transfer id a UUID with dashes", "POST", TR, T_ID("'01234567-89ab-cdef-0123-456789abcdef'"),
         "invalid_field", "id"),
    B400("transfer id null", "POST", TR, T_ID("null"), "invalid_field", "id"),
    B400("transfer debit upper-case of a real wallet", "POST", TR, T_DEBIT("'%^W'"), "invalid_field", "debit"),
    B400("transfer debit 31 hex", "POST", TR, T_DEBIT("'%-W'"), "invalid_field", "debit"),
    B400("transfer debit 33 hex", "POST", TR, T_DEBIT("'%+W'"), "invalid_field", "debit"),
    B400("transfer debit non-hex", "POST", TR, T_DEBIT(IDNONHEX), "invalid_field", "debit"),
    B400("transfer debit an object", "POST", TR, T_DEBIT("{'id':'%W'}"), "invalid_field", "debit"),
    B400("transfer credit upper-case of a real wallet", "POST", TR, T_CREDIT("'%^X'"), "invalid_field", "credit"),
    B400("transfer credit 31 hex", "POST", TR, T_CREDIT("'%-X'"), "invalid_field", "credit"),
    B400("transfer credit 33 hex", "POST", TR, T_CREDIT("'%+X'"), "invalid_field", "credit"),
    B400("transfer credit non-hex", "POST", TR, T_CREDIT("'zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz'"),
         "invalid_field", "credit"),
    B400("transfer credit a number", "POST", TR, T_CREDIT("1"), "invalid_field", "credit"),
    /* ---- POST /v1/transfers: kind, ref, memo ---- */
    B400("transfer kind issue (quota only)", "POST", TR, T_KIND("'issue'"), "invalid_field", "kind"),
    B400("transfer kind redeem (quota only)", "POST", TR, T_KIND("'redeem'"), "invalid_field", "kind"),
    B400("transfer kind card_load (not accepted)", "POST", TR, T_KIND("'card_load'"), "invalid_field", "kind"),
    B400("transfer kind adjustment", "POST", TR, T_KIND("'adjustment'"), "invalid_field", "kind"),
    B400("transfer kind P2P", "POST", TR, T_KIND("'P2P'"), "invalid_field", "kind"),
    B400("transfer kind empty", "POST", TR, T_KIND("''"), "invalid_field", "kind"),
    B400("transfer kind a number", "POST", TR, T_KIND("1"), "invalid_field", "kind"),
    B400("transfer kind an array", "POST", TR, T_KIND("['p2p']"), "invalid_field", "kind"),
    B400("transfer ref 65 bytes", "POST", TR, T_PLUS("'ref':" S65), "invalid_field", "ref"),
    B400("transfer ref a number", "POST", TR, T_PLUS("'ref':42"), "invalid_field", "ref"),
    B400("transfer memo 141 bytes", "POST", TR, T_PLUS("'memo':" S141), "invalid_field", "memo"),
    B400("transfer memo 47 CJK = 141 bytes", "POST", TR, T_PLUS("'memo':" CJK47), "invalid_field", "memo"),
    B400("transfer memo null", "POST", TR, T_PLUS("'memo':null"), "invalid_field", "memo"),
    /* ---- POST /v1/transfers: unknown fields ---- */
    B400("transfer unknown colour", "POST", TR, T_PLUS("'colour':'red'"), "unknown_field", "colour"),
    B400("transfer misspelt ammount", "POST", TR, "{'id':'%N','debit':'%W','credit':'%X','ammount':100,'kind':'p2p'}",
         "unknown_field", "ammount"),
    B400("transfer Amount (case)", "POST", TR, T_PLUS("'Amount':100"), "unknown_field", "Amount"),
    B400("transfer linked outside a batch", "POST", TR, T_PLUS("'linked':true"), "unknown_field", "linked"),
    B400("transfer timeout_ms", "POST", TR, T_PLUS("'timeout_ms':1000"), "unknown_field", "timeout_ms"),
    B400("transfer status", "POST", TR, T_PLUS("'status':'posted'"), "unknown_field", "status"),
    B400("transfer timestamp", "POST", TR, T_PLUS("'timestamp':1767225600000"), "unknown_field", "timestamp"),
    B400("transfer empty key", "POST", TR, T_PLUS("'':1"), "unknown_field", NULL),
    /* ---- POST /v1/transfers: malformed JSON ---- */
    B400("transfer duplicate amount", "POST", TR, T_PLUS("'amount':100"), "invalid_json", NULL),
    B400("transfer duplicate id, same value", "POST", TR,
         "{'id':'%U','id':'%U','debit':'%W','credit':'%X','amount':100,'kind':'p2p'}", "invalid_json", NULL),
    B400("transfer truncated mid-string", "POST", TR, "{'id':'%N','debit':'%W','cre", "invalid_json", NULL),
    B400("transfer truncated after a colon", "POST", TR, "{'id':'%N','debit':'%W','credit':'%X','amount':",
         "invalid_json", NULL),
    B400("transfer truncated: no closing brace", "POST", TR,
         "{'id':'%N','debit':'%W','credit':'%X','amount':100,'kind':'p2p'", "invalid_json", NULL),
    B400("transfer only {", "POST", TR, "{", "invalid_json", NULL),
    B400("transfer trailing comma", "POST", TR, T_PLUS("'memo':'x',"), "invalid_json", NULL),
    B400("transfer garbage after the object", "POST", TR, T_OK " x", "invalid_json", NULL),
    B400("transfer two objects", "POST", TR, T_OK T_OK, "invalid_json", NULL),
    B400("transfer single quotes", "POST", TR, T_OK, "invalid_json", NULL, .literal = true),
    B400("transfer unquoted keys", "POST", TR, "{id:'%N'}", "invalid_json", NULL),
    B400("transfer a comment", "POST", TR, "{/* c */'id':'%N'}", "invalid_json", NULL),
    B400("transfer top-level array", "POST", TR, "[" T_OK "]", "invalid_json", NULL),
    B400("transfer top-level string", "POST", TR, "'p2p'", "invalid_json", NULL),
    B400("transfer top-level number", "POST", TR, "100", "invalid_json", NULL),
    B400("transfer top-level null", "POST", TR, "null", "invalid_json", NULL),
    B400("transfer empty body", "POST", TR, "", "invalid_json", NULL),
    B400("transfer whitespace body", "POST", TR, " \r\n\t ", "invalid_json", NULL),
    B400("transfer invalid UTF-8 in memo", "POST", TR, T_PLUS("'memo':'\xff\xfe'"), "invalid_json", NULL),
    B400("transfer overlong UTF-8 in memo", "POST", TR, T_PLUS("'memo':'\xc0\xaf'"), "invalid_json", NULL),
    B400("transfer \\u0000 in memo", "POST", TR, T_PLUS("'memo':'a\\u0000b'"), "invalid_json", NULL),
    B400("transfer lone surrogate in memo", "POST", TR, T_PLUS("'memo':'\\ud800'"), "invalid_json", NULL),
    B400("transfer raw newline in a string", "POST", TR, T_PLUS("'memo':'a\nb'"), "invalid_json", NULL),
    B400("transfer bad escape", "POST", TR, T_PLUS("'memo':'\\q'"), "invalid_json", NULL),
    B400("transfer unterminated string", "POST", TR, "{'id':'%N", "invalid_json", NULL),
    B400("transfer nested 33 deep", "POST", TR, NULL, "invalid_json", NULL, .gen = G_DEEP_ARRAY, .gen_n = 33),
    B400("transfer nested 32 deep is parsed", "POST", TR, NULL, "unknown_field", "a", .gen = G_DEEP_ARRAY,
         .gen_n = 32),
    B400("transfer objects nested 33 deep", "POST", TR, NULL, "invalid_json", NULL, .gen = G_DEEP_OBJECT,
         .gen_n = 33),
    B400("transfer nested 100000 deep", "POST", TR, NULL, "invalid_json", NULL, .gen = G_DEEP_ARRAY,
         .gen_n = 100000),
    /* ---- Bodies and their size ---- */
    B400("transfer body of exactly 1 MiB is read", "POST", TR, NULL, "unknown_field", "pad", .gen = G_PAD,
         .gen_n = MIB),
    B400("transfer body 1 MiB + 1", "POST", TR, NULL, "body_too_large", NULL, .gen = G_PAD, .gen_n = MIB + 1),
    B400("transfer body 2 MiB", "POST", TR, NULL, "body_too_large", NULL, .gen = G_PAD, .gen_n = 2 * MIB),
    B400("transfer body 8 MiB", "POST", TR, NULL, "body_too_large", NULL, .gen = G_PAD, .gen_n = 8 * MIB),
    B400("wallet body 1 MiB + 1", "POST", WAL, NULL, "body_too_large", NULL, .gen = G_PAD, .gen_n = MIB + 1),
    B400("hold body 1 MiB + 1", "POST", HO, NULL, "body_too_large", NULL, .gen = G_PAD, .gen_n = MIB + 1),
    B400("patch body 1 MiB + 1", "PATCH", PATCHW, NULL, "body_too_large", NULL, .gen = G_PAD,
         .gen_n = MIB + 1),
    B400("capture body 1 MiB + 1", "POST", CAP, NULL, "body_too_large", NULL, .gen = G_PAD, .gen_n = MIB + 1),
    B400("batch body 4 MiB + 1", "POST", TRB, NULL, "body_too_large", NULL, .gen = G_BATCH_PAD,
         .gen_n = 4 * MIB + 1),
    B400("batch body 5 MiB", "POST", TRB, NULL, "body_too_large", NULL, .gen = G_BATCH_PAD, .gen_n = 5 * MIB),
    B400("institution body 1 MiB + 1", "POST", INST, NULL, "body_too_large", NULL, .who = CENTRAL,
         .gen = G_PAD, .gen_n = MIB + 1),
    /* ---- Content-Type ---- */
    CASE("transfer Content-Type text/plain", "POST", TR, T_OK, 415, "unsupported_media_type", NULL,
         .ct = "text/plain"),
    CASE("transfer Content-Type form", "POST", TR, T_OK, 415, "unsupported_media_type", NULL,
         .ct = "application/x-www-form-urlencoded"),
    CASE("transfer Content-Type multipart", "POST", TR, T_OK, 415, "unsupported_media_type", NULL,
         .ct = "multipart/form-data; boundary=x"),
    CASE("transfer Content-Type text/json", "POST", TR, T_OK, 415, "unsupported_media_type", NULL,
         .ct = "text/json"),
    CASE("transfer Content-Type application/jsonx", "POST", TR, T_OK, 415, "unsupported_media_type", NULL,
         .ct = "application/jsonx"),
    CASE("transfer Content-Type empty", "POST", TR, T_OK, 415, "unsupported_media_type", NULL, .ct = ""),
    CASE("transfer no Content-Type", "POST", TR, T_OK, 415, "unsupported_media_type", NULL, .no_ct = true),
    CASE("wallet no Content-Type", "POST", WAL, W_BODY(WALLET_OK), 415, "unsupported_media_type", NULL,
         .no_ct = true),
    CASE("wallet Content-Type text/plain", "POST", WAL, W_BODY(WALLET_OK), 415, "unsupported_media_type", NULL,
         .ct = "text/plain"),
    CASE("patch Content-Type text/plain", "PATCH", PATCHW, "{'tier':3}", 415, "unsupported_media_type", NULL,
         .ct = "text/plain"),
    CASE("close with {} as text/plain", "POST", CLOSE, "{}", 415, "unsupported_media_type", NULL,
         .ct = "text/plain"),
    CASE("hold Content-Type application/xml", "POST", HO, H_AMT("100"), 415, "unsupported_media_type", NULL,
         .ct = "application/xml"),
    CASE("capture Content-Type text/plain", "POST", CAP, "{'amount':1}", 415, "unsupported_media_type", NULL,
         .ct = "text/plain"),
    CASE("void {} without Content-Type", "POST", VOID, "{}", 415, "unsupported_media_type", NULL,
         .no_ct = true),
    CASE("batch Content-Type text/plain", "POST", TRB, B_ONE(B_ITEM), 415, "unsupported_media_type", NULL,
         .ct = "text/plain"),
    CASE("quota issue Content-Type text/plain", "POST", QI, Q_AMT("100"), 415, "unsupported_media_type", NULL,
         .who = CENTRAL, .ct = "text/plain"),
    CASE("quota redeem no Content-Type", "POST", QR, Q_AMT("100"), 415, "unsupported_media_type", NULL,
         .who = CENTRAL, .no_ct = true),
    CASE("institution Content-Type text/plain", "POST", INST, I_ID("'opz'"), 415, "unsupported_media_type",
         NULL, .who = CENTRAL, .ct = "text/plain"),
    B400("Content-Type with charset is accepted", "POST", TR, T_AMT("0"), "invalid_field", "amount",
         .ct = "application/json; charset=utf-8"),
    B400("Content-Type in capitals is accepted", "POST", TR, T_AMT("0"), "invalid_field", "amount",
         .ct = "APPLICATION/JSON"),
    /* ---- POST /v1/wallets ---- */
    B400("wallet kind treasury", "POST", WAL, W_BODY("'kind':'treasury','tier':4,'form':'soft'"),
         "invalid_field", "kind"),
    B400("wallet kind Personal", "POST", WAL, W_BODY("'kind':'Personal','tier':4,'form':'soft'"),
         "invalid_field", "kind"),
    B400("wallet kind a number", "POST", WAL, W_BODY("'kind':1,'tier':4,'form':'soft'"), "invalid_field",
         "kind"),
    B400("wallet kind missing", "POST", WAL, W_BODY("'tier':4,'form':'soft'"), "missing_field", "kind"),
    B400("wallet tier 0", "POST", WAL, W_BODY("'kind':'personal','tier':0,'form':'soft'"), "invalid_field",
         "tier"),
    B400("wallet tier 5", "POST", WAL, W_BODY("'kind':'personal','tier':5,'form':'soft'"), "invalid_field",
         "tier"),
    B400("wallet tier -1", "POST", WAL, W_BODY("'kind':'personal','tier':-1,'form':'soft'"), "invalid_field",
         "tier"),
    B400("wallet tier \"4\"", "POST", WAL, W_BODY("'kind':'personal','tier':'4','form':'soft'"),
         "invalid_field", "tier"),
    B400("wallet tier 4.0", "POST", WAL, W_BODY("'kind':'personal','tier':4.0,'form':'soft'"),
         "invalid_field", "tier"),
    B400("wallet tier 4e0", "POST", WAL, W_BODY("'kind':'personal','tier':4e0,'form':'soft'"),
         "invalid_field", "tier"),
    B400("wallet tier null", "POST", WAL, W_BODY("'kind':'personal','tier':null,'form':'soft'"),
         "invalid_field", "tier"),
    B400("wallet tier missing", "POST", WAL, W_BODY("'kind':'personal','form':'soft'"), "missing_field",
         "tier"),
    B400("wallet form medium", "POST", WAL, W_BODY("'kind':'personal','tier':4,'form':'medium'"),
         "invalid_field", "form"),
    B400("wallet form SOFT", "POST", WAL, W_BODY("'kind':'personal','tier':4,'form':'SOFT'"),
         "invalid_field", "form"),
    B400("wallet form true", "POST", WAL, W_BODY("'kind':'personal','tier':4,'form':true"), "invalid_field",
         "form"),
    B400("wallet form missing", "POST", WAL, W_BODY("'kind':'personal','tier':4"), "missing_field", "form"),
    B400("wallet id upper-case", "POST", WAL, "{'id':" IDUP "," WALLET_OK "}", "invalid_field", "id"),
    B400("wallet id 31 hex", "POST", WAL, "{'id':" ID31 "," WALLET_OK "}", "invalid_field", "id"),
    B400("wallet id 33 hex", "POST", WAL, "{'id':" ID33 "," WALLET_OK "}", "invalid_field", "id"),
    B400("wallet id non-hex", "POST", WAL, "{'id':" IDNONHEX "," WALLET_OK "}", "invalid_field", "id"),
    B400("wallet id empty", "POST", WAL, "{'id':''," WALLET_OK "}", "invalid_field", "id"),
    B400("wallet id a number", "POST", WAL, "{'id':7," WALLET_OK "}", "invalid_field", "id"),
    B400("wallet parent upper-case", "POST", WAL, W_BODY(WALLET_OK ",'parent':'%^W'"), "invalid_field", "parent"),
    B400("wallet parent 31 hex", "POST", WAL, W_BODY(WALLET_OK ",'parent':'%-W'"), "invalid_field", "parent"),
    B400("wallet parent non-hex", "POST", WAL, W_BODY(WALLET_OK ",'parent':" IDNONHEX), "invalid_field", "parent"),
    B400("wallet parent a number", "POST", WAL, W_BODY(WALLET_OK ",'parent':5"), "invalid_field", "parent"),
    B400("wallet mcc 0", "POST", WAL, W_BODY(WALLET_OK ",'mcc':0"), "invalid_field", "mcc"),
    B400("wallet mcc 10000", "POST", WAL, W_BODY(WALLET_OK ",'mcc':10000"), "invalid_field", "mcc"),
    B400("wallet mcc -1", "POST", WAL, W_BODY(WALLET_OK ",'mcc':-1"), "invalid_field", "mcc"),
    B400("wallet mcc \"5411\"", "POST", WAL, W_BODY(WALLET_OK ",'mcc':'5411'"), "invalid_field", "mcc"),
    B400("wallet mcc 54.11", "POST", WAL, W_BODY(WALLET_OK ",'mcc':54.11"), "invalid_field", "mcc"),
    B400("wallet holder a string", "POST", WAL, W_BODY(WALLET_OK ",'holder':'Li Lei'"), "invalid_field", "holder"),
    B400("wallet holder an array", "POST", WAL, W_BODY(WALLET_OK ",'holder':[]"), "invalid_field", "holder"),
    B400("wallet holder.email unknown", "POST", WAL, W_BODY(WALLET_OK ",'holder':{'email':'a@b.cn'}"),
         "unknown_field", "holder.email"),
    B400("wallet unknown colour", "POST", WAL, W_BODY(WALLET_OK ",'colour':'red'"), "unknown_field", "colour"),
    B400("wallet operator is not a field", "POST", WAL, W_BODY(WALLET_OK ",'operator':'opb'"), "unknown_field",
         "operator"),
    B400("wallet status is not a field", "POST", WAL, W_BODY(WALLET_OK ",'status':'active'"), "unknown_field",
         "status"),
    B400("wallet balance is not a field", "POST", WAL, W_BODY(WALLET_OK ",'balance':1000000"), "unknown_field",
         "balance"),
    B400("wallet duplicate tier", "POST", WAL, W_BODY(WALLET_OK ",'tier':1"), "invalid_json", NULL),
    B400("wallet truncated", "POST", WAL, "{'kind':'personal','tier':4,'fo", "invalid_json", NULL),
    B400("wallet top-level array", "POST", WAL, "[{" WALLET_OK "}]", "invalid_json", NULL),
    B400("wallet empty body", "POST", WAL, "", "invalid_json", NULL),
    B400("wallet nested 33 deep", "POST", WAL, NULL, "invalid_json", NULL, .gen = G_DEEP_OBJECT, .gen_n = 33),
    /* ---- PATCH /v1/wallets/{id} ---- */
    B400("patch {}", "PATCH", PATCHW, "{}", "missing_field", NULL),
    B400("patch tier 0", "PATCH", PATCHW, "{'tier':0}", "invalid_field", "tier"),
    B400("patch tier 5", "PATCH", PATCHW, "{'tier':5}", "invalid_field", "tier"),
    B400("patch tier \"3\"", "PATCH", PATCHW, "{'tier':'3'}", "invalid_field", "tier"),
    B400("patch tier 2.5", "PATCH", PATCHW, "{'tier':2.5}", "invalid_field", "tier"),
    B400("patch tier null", "PATCH", PATCHW, "{'tier':null}", "invalid_field", "tier"),
    B400("patch status closed (use close)", "PATCH", PATCHW, "{'status':'closed'}", "invalid_field", "status"),
    B400("patch status lost", "PATCH", PATCHW, "{'status':'lost'}", "invalid_field", "status"),
    B400("patch status Frozen", "PATCH", PATCHW, "{'status':'Frozen'}", "invalid_field", "status"),
    B400("patch status empty", "PATCH", PATCHW, "{'status':''}", "invalid_field", "status"),
    B400("patch status a number", "PATCH", PATCHW, "{'status':2}", "invalid_field", "status"),
    B400("patch good tier, bad status", "PATCH", PATCHW, "{'tier':3,'status':'gone'}", "invalid_field", "status"),
    B400("patch kind", "PATCH", PATCHW, "{'kind':'merchant'}", "unknown_field", "kind"),
    B400("patch form", "PATCH", PATCHW, "{'form':'hard'}", "unknown_field", "form"),
    B400("patch operator", "PATCH", PATCHW, "{'operator':'opb'}", "unknown_field", "operator"),
    B400("patch balance", "PATCH", PATCHW, "{'tier':3,'balance':0}", "unknown_field", "balance"),
    B400("patch duplicate status", "PATCH", PATCHW, "{'status':'frozen','status':'active'}", "invalid_json",
         NULL),
    B400("patch truncated", "PATCH", PATCHW, "{'tier':", "invalid_json", NULL),
    B400("patch empty body", "PATCH", PATCHW, "", "invalid_json", NULL),
    B400("patch array body", "PATCH", PATCHW, "[{'tier':3}]", "invalid_json", NULL),
    B400("patch path id upper-case", "PATCH", "/v1/wallets/%^W", "{'tier':3}", "invalid_field", "id"),
    B400("patch path id 31 hex", "PATCH", "/v1/wallets/%-W", "{'tier':3}", "invalid_field", "id"),
    B400("patch path id bad, body bad too", "PATCH", "/v1/wallets/%+W", "{", "invalid_field", "id"),
    /* ---- POST /v1/wallets/{id}/close ---- */
    B400("close unknown field", "POST", CLOSE, "{'force':true}", "unknown_field", "force"),
    B400("close truncated JSON", "POST", CLOSE, "{", "invalid_json", NULL),
    B400("close array body", "POST", CLOSE, "[]", "invalid_json", NULL),
    B400("close duplicate keys", "POST", CLOSE, "{'a':1,'a':1}", "invalid_json", NULL),
    B400("close path id upper-case", "POST", "/v1/wallets/%^Z/close", NULL, "invalid_field", "id"),
    B400("close path id 33 hex", "POST", "/v1/wallets/%+Z/close", NULL, "invalid_field", "id"),
    /* ---- POST /v1/holds ---- */
    B400("hold timeout_ms 0", "POST", HO, H_TMO("0"), "invalid_field", "timeout_ms"),
    B400("hold timeout_ms -1", "POST", HO, H_TMO("-1"), "invalid_field", "timeout_ms"),
    B400("hold timeout_ms 30 days + 1", "POST", HO, H_TMO("2592000001"), "invalid_field", "timeout_ms"),
    B400("hold timeout_ms \"60000\"", "POST", HO, H_TMO("'60000'"), "invalid_field", "timeout_ms"),
    B400("hold timeout_ms 1.5", "POST", HO, H_TMO("1.5"), "invalid_field", "timeout_ms"),
    B400("hold timeout_ms 6e4", "POST", HO, H_TMO("6e4"), "invalid_field", "timeout_ms"),
    B400("hold timeout_ms null", "POST", HO, H_TMO("null"), "invalid_field", "timeout_ms"),
    B400("hold timeout_ms missing", "POST", HO, "{'id':'%N','debit':'%W','credit':'%V','amount':100}",
         "missing_field", "timeout_ms"),
    B400("hold amount 0", "POST", HO, H_AMT("0"), "invalid_field", "amount"),
    B400("hold amount -1", "POST", HO, H_AMT("-1"), "invalid_field", "amount"),
    B400("hold amount 9e15+1", "POST", HO, H_AMT(BIG_AMT), "invalid_field", "amount"),
    B400("hold amount \"100\"", "POST", HO, H_AMT("'100'"), "invalid_field", "amount"),
    B400("hold amount 1e3", "POST", HO, H_AMT("1e3"), "invalid_field", "amount"),
    B400("hold amount overflow", "POST", HO, H_AMT(OVERFLOW_AMT), "invalid_field", "amount"),
    B400("hold missing id", "POST", HO, "{'debit':'%W','credit':'%V','amount':100,'timeout_ms':60000}",
         "missing_field", "id"),
    B400("hold missing debit", "POST", HO, "{'id':'%N','credit':'%V','amount':100,'timeout_ms':60000}",
         "missing_field", "debit"),
    B400("hold missing credit", "POST", HO, "{'id':'%N','debit':'%W','amount':100,'timeout_ms':60000}",
         "missing_field", "credit"),
    B400("hold missing amount", "POST", HO, "{'id':'%N','debit':'%W','credit':'%V','timeout_ms':60000}",
         "missing_field", "amount"),
    B400("hold id upper-case", "POST", HO, "{'id':" IDUP ",'debit':'%W','credit':'%V','amount':100,'timeout_ms':60000}",
         "invalid_field", "id"),
    B400("hold debit 31 hex", "POST", HO, "{'id':'%N','debit':'%-W','credit':'%V','amount':100,'timeout_ms':60000}",
         "invalid_field", "debit"),
    B400("hold credit 33 hex", "POST", HO, "{'id':'%N','debit':'%W','credit':'%+V','amount':100,'timeout_ms':60000}",
         "invalid_field", "credit"),
    B400("hold kind is not a field", "POST", HO, H_PLUS("'kind':'payment'"), "unknown_field", "kind"),
    B400("hold linked is not a field", "POST", HO, H_PLUS("'linked':true"), "unknown_field", "linked"),
    B400("hold memo is not a field", "POST", HO, H_PLUS("'memo':'x'"), "unknown_field", "memo"),
    B400("hold deadline is not a field", "POST", HO, H_PLUS("'deadline':1767225600000"), "unknown_field",
         "deadline"),
    B400("hold duplicate timeout_ms", "POST", HO, H_PLUS("'timeout_ms':1"), "invalid_json", NULL),
    B400("hold truncated", "POST", HO, "{'id':'%N','debit':'%W','credit'", "invalid_json", NULL),
    /* ---- POST /v1/holds/{id}/capture and /void ---- */
    B400("capture amount 0", "POST", CAP, "{'amount':0}", "invalid_field", "amount"),
    B400("capture amount -1", "POST", CAP, "{'amount':-1}", "invalid_field", "amount"),
    B400("capture amount 9e15+1", "POST", CAP, "{'amount':" BIG_AMT "}", "invalid_field", "amount"),
    B400("capture amount \"1\"", "POST", CAP, "{'amount':'1'}", "invalid_field", "amount"),
    B400("capture amount 1.5", "POST", CAP, "{'amount':1.5}", "invalid_field", "amount"),
    B400("capture amount true", "POST", CAP, "{'amount':true}", "invalid_field", "amount"),
    B400("capture amount overflow", "POST", CAP, "{'amount':" OVERFLOW_AMT "}", "invalid_field", "amount"),
    B400("capture misspelt amt", "POST", CAP, "{'amt':1}", "unknown_field", "amt"),
    B400("capture amount and more", "POST", CAP, "{'amount':1,'final':true}", "unknown_field", "final"),
    B400("capture id in the body", "POST", CAP, "{'id':'%H'}", "unknown_field", "id"),
    B400("capture truncated", "POST", CAP, "{'amount':1", "invalid_json", NULL),
    B400("capture array body", "POST", CAP, "[]", "invalid_json", NULL),
    B400("capture duplicate amount", "POST", CAP, "{'amount':1,'amount':2}", "invalid_json", NULL),
    B400("capture path id upper-case", "POST", "/v1/holds/%^H/capture", "{}", "invalid_field", "id"),
    B400("capture path id 31 hex", "POST", "/v1/holds/%-H/capture", "{}", "invalid_field", "id"),
    B400("capture path id non-hex", "POST", "/v1/holds/0123456789abcdefg123456789abcdef/capture", "{}",
         "invalid_field", "id"),
    B400("void amount is not a field", "POST", VOID, "{'amount':1}", "unknown_field", "amount"),
    B400("void reason is not a field", "POST", VOID, "{'reason':'x'}", "unknown_field", "reason"),
    B400("void truncated", "POST", VOID, "{'", "invalid_json", NULL),
    B400("void top-level string", "POST", VOID, "'void'", "invalid_json", NULL),
    B400("void path id 33 hex", "POST", "/v1/holds/%+H/void", NULL, "invalid_field", "id"),
    B400("void path id upper-case", "POST", "/v1/holds/%^H/void", NULL, "invalid_field", "id"),
    /* ---- POST /v1/transfers/batch ---- */
    B400("batch {}", "POST", TRB, "{}", "missing_field", "transfers"),
    B400("batch of no transfers", "POST", TRB, "{'transfers':[]}", "invalid_field", "transfers"),
    B400("batch transfers an object", "POST", TRB, "{'transfers':{}}", "invalid_field", "transfers"),
    B400("batch transfers null", "POST", TRB, "{'transfers':null}", "invalid_field", "transfers"),
    B400("batch transfers a string", "POST", TRB, "{'transfers':'all'}", "invalid_field", "transfers"),
    B400("batch of 8191", "POST", TRB, NULL, "invalid_field", "transfers", .gen = G_BATCH_EMPTY,
         .gen_n = 8191),
    B400("batch of 8190 empty items", "POST", TRB, NULL, "missing_field", "transfers[0].id",
         .gen = G_BATCH_EMPTY, .gen_n = 8190),
    B400("batch of 5000, the last bad", "POST", TRB, NULL, "invalid_field", "transfers[4999].amount",
         .gen = G_BATCH_LAST_BAD, .gen_n = 5000),
    B400("batch item not an object", "POST", TRB, B_ONE(B_ITEM ",5"), "invalid_field", "transfers[1]"),
    B400("batch item 0 amount 0", "POST", TRB, B_ONE(B_ITEM_AMT("0")), "invalid_field", "transfers[0].amount"),
    B400("batch item 1 amount \"5\"", "POST", TRB, B_ONE(B_ITEM "," B_ITEM_AMT("'5'")), "invalid_field",
         "transfers[1].amount"),
    B400("batch item 1 amount 1.5", "POST", TRB, B_ONE(B_ITEM "," B_ITEM_AMT("1.5")), "invalid_field",
         "transfers[1].amount"),
    B400("batch item 2 amount -1", "POST", TRB, B_ONE(B_ITEM "," B_ITEM "," B_ITEM_AMT("-1")), "invalid_field",
         "transfers[2].amount"),
    B400("batch item 0 amount 9e15+1", "POST", TRB, B_ONE(B_ITEM_AMT(BIG_AMT)), "invalid_field",
         "transfers[0].amount"),
    B400("batch item 2 missing kind", "POST", TRB,
         B_ONE(B_ITEM "," B_ITEM ",{'id':'%N','debit':'%W','credit':'%X','amount':1}"), "missing_field",
         "transfers[2].kind"),
    B400("batch item 0 missing id", "POST", TRB, B_ONE("{'debit':'%W','credit':'%X','amount':1,'kind':'p2p'}"),
         "missing_field", "transfers[0].id"),
    B400("batch item 0 unknown colour", "POST", TRB, B_ONE(B_ITEM_PLUS("'colour':'red'")), "unknown_field",
         "transfers[0].colour"),
    B400("batch item 1 linked \"yes\"", "POST", TRB, B_ONE(B_ITEM "," B_ITEM_PLUS("'linked':'yes'")),
         "invalid_field", "transfers[1].linked"),
    B400("batch item 0 linked 1", "POST", TRB, B_ONE(B_ITEM_PLUS("'linked':1")), "invalid_field",
         "transfers[0].linked"),
    B400("batch item 0 id upper-case", "POST", TRB,
         B_ONE("{'id':" IDUP ",'debit':'%W','credit':'%X','amount':1,'kind':'p2p'}"), "invalid_field",
         "transfers[0].id"),
    B400("batch item 0 debit 31 hex", "POST", TRB,
         B_ONE("{'id':'%N','debit':'%-W','credit':'%X','amount':1,'kind':'p2p'}"), "invalid_field",
         "transfers[0].debit"),
    B400("batch item 0 credit non-hex", "POST", TRB,
         B_ONE("{'id':'%N','debit':'%W','credit':" IDNONHEX ",'amount':1,'kind':'p2p'}"), "invalid_field",
         "transfers[0].credit"),
    B400("batch item 0 kind issue", "POST", TRB,
         B_ONE("{'id':'%N','debit':'%W','credit':'%X','amount':1,'kind':'issue'}"), "invalid_field",
         "transfers[0].kind"),
    B400("batch item 0 memo 141 bytes", "POST", TRB, B_ONE(B_ITEM_PLUS("'memo':" S141)), "invalid_field",
         "transfers[0].memo"),
    B400("batch item 0 ref 65 bytes", "POST", TRB, B_ONE(B_ITEM_PLUS("'ref':" S65)), "invalid_field",
         "transfers[0].ref"),
    B400("batch item with duplicate keys", "POST", TRB, B_ONE(B_ITEM_PLUS("'amount':2")), "invalid_json", NULL),
    B400("batch unknown top-level field", "POST", TRB, "{'transfers':[" B_ITEM "],'atomic':true}",
         "unknown_field", "atomic"),
    B400("batch duplicate transfers", "POST", TRB, "{'transfers':[" B_ITEM "],'transfers':[" B_ITEM "]}",
         "invalid_json", NULL),
    B400("batch truncated", "POST", TRB, "{'transfers':[" B_ITEM ",", "invalid_json", NULL),
    B400("batch nested 33 deep", "POST", TRB, NULL, "invalid_json", NULL, .gen = G_DEEP_ARRAY, .gen_n = 33),
    /* ---- POST /v1/quota/issue and /redeem (central) ---- */
    B400("issue amount 0", "POST", QI, Q_AMT("0"), "invalid_field", "amount", .who = CENTRAL),
    B400("issue amount -1", "POST", QI, Q_AMT("-1"), "invalid_field", "amount", .who = CENTRAL),
    B400("issue amount 9e15+1", "POST", QI, Q_AMT(BIG_AMT), "invalid_field", "amount", .who = CENTRAL),
    B400("issue amount 1e3", "POST", QI, Q_AMT("1e3"), "invalid_field", "amount", .who = CENTRAL),
    B400("issue amount 1.5", "POST", QI, Q_AMT("1.5"), "invalid_field", "amount", .who = CENTRAL),
    B400("issue amount \"100\"", "POST", QI, Q_AMT("'100'"), "invalid_field", "amount", .who = CENTRAL),
    B400("issue amount overflow", "POST", QI, Q_AMT(OVERFLOW_AMT), "invalid_field", "amount", .who = CENTRAL),
    B400("issue missing id", "POST", QI, "{'operator':'opa','amount':100}", "missing_field", "id",
         .who = CENTRAL),
    B400("issue missing operator", "POST", QI, "{'id':'%N','amount':100}", "missing_field", "operator",
         .who = CENTRAL),
    B400("issue missing amount", "POST", QI, "{'id':'%N','operator':'opa'}", "missing_field", "amount",
         .who = CENTRAL),
    B400("issue operator OPA", "POST", QI, Q_OP("'OPA'"), "invalid_field", "operator", .who = CENTRAL),
    B400("issue operator empty", "POST", QI, Q_OP("''"), "invalid_field", "operator", .who = CENTRAL),
    B400("issue operator 17 characters", "POST", QI, Q_OP("'abcdefghijklmnopq'"), "invalid_field", "operator",
         .who = CENTRAL),
    B400("issue operator op-a", "POST", QI, Q_OP("'op-a'"), "invalid_field", "operator", .who = CENTRAL),
    B400("issue operator a number", "POST", QI, Q_OP("1"), "invalid_field", "operator", .who = CENTRAL),
    B400("issue operator null", "POST", QI, Q_OP("null"), "invalid_field", "operator", .who = CENTRAL),
    CASE("issue to an unknown operator", "POST", QI, Q_OP("'nosuch'"), 404, "institution_not_found",
         "operator", .who = CENTRAL),
    CASE("issue to central itself", "POST", QI, Q_OP("'central'"), 404, "institution_not_found", "operator",
         .who = CENTRAL),
    B400("issue id upper-case", "POST", QI, "{'id':" IDUP ",'operator':'opa','amount':100}", "invalid_field",
         "id", .who = CENTRAL),
    B400("issue id 31 hex", "POST", QI, "{'id':" ID31 ",'operator':'opa','amount':100}", "invalid_field", "id",
         .who = CENTRAL),
    B400("issue debit is not a field", "POST", QI, "{'id':'%N','operator':'opa','amount':100,'debit':'%T'}",
         "unknown_field", "debit", .who = CENTRAL),
    B400("issue kind is not a field", "POST", QI, "{'id':'%N','operator':'opa','amount':100,'kind':'issue'}",
         "unknown_field", "kind", .who = CENTRAL),
    B400("issue duplicate amount", "POST", QI, "{'id':'%N','operator':'opa','amount':1,'amount':2}",
         "invalid_json", NULL, .who = CENTRAL),
    B400("issue truncated", "POST", QI, "{'id':'%N','operator':'opa','amount':1", "invalid_json", NULL,
         .who = CENTRAL),
    CASE("issue by an operator", "POST", QI, Q_AMT("100"), 403, "forbidden", NULL),
    B400("redeem amount 0", "POST", QR, Q_AMT("0"), "invalid_field", "amount", .who = CENTRAL),
    B400("redeem amount -1", "POST", QR, Q_AMT("-1"), "invalid_field", "amount", .who = CENTRAL),
    B400("redeem amount 9e15+1", "POST", QR, Q_AMT(BIG_AMT), "invalid_field", "amount", .who = CENTRAL),
    B400("redeem amount \"1\"", "POST", QR, Q_AMT("'1'"), "invalid_field", "amount", .who = CENTRAL),
    B400("redeem missing operator", "POST", QR, "{'id':'%N','amount':100}", "missing_field", "operator",
         .who = CENTRAL),
    B400("redeem operator upper-case", "POST", QR, Q_OP("'OPB'"), "invalid_field", "operator", .who = CENTRAL),
    CASE("redeem from an unknown operator", "POST", QR, Q_OP("'nosuch'"), 404, "institution_not_found",
         "operator", .who = CENTRAL),
    B400("redeem unknown field", "POST", QR, "{'id':'%N','operator':'opa','amount':1,'memo':'x'}",
         "unknown_field", "memo", .who = CENTRAL),
    B400("redeem id non-hex", "POST", QR, "{'id':" IDNONHEX ",'operator':'opa','amount':100}", "invalid_field",
         "id", .who = CENTRAL),
    CASE("redeem by an operator", "POST", QR, Q_AMT("100"), 403, "forbidden", NULL, .who = OPB),
    /* ---- POST /v1/institutions (central) ---- */
    B400("institution id upper-case", "POST", INST, I_ID("'OPZ'"), "invalid_field", "id", .who = CENTRAL),
    B400("institution id empty", "POST", INST, I_ID("''"), "invalid_field", "id", .who = CENTRAL),
    B400("institution id 17 characters", "POST", INST, I_ID("'abcdefghijklmnopq'"), "invalid_field", "id",
         .who = CENTRAL),
    B400("institution id with a dash", "POST", INST, I_ID("'op-z'"), "invalid_field", "id", .who = CENTRAL),
    B400("institution id with a space", "POST", INST, I_ID("'op z'"), "invalid_field", "id", .who = CENTRAL),
    B400("institution id a number", "POST", INST, I_ID("12"), "invalid_field", "id", .who = CENTRAL),
    B400("institution id null", "POST", INST, I_ID("null"), "invalid_field", "id", .who = CENTRAL),
    B400("institution missing id", "POST", INST, "{'name':'Bank','kind':'operator'}", "missing_field", "id",
         .who = CENTRAL),
    B400("institution missing name", "POST", INST, "{'id':'opz','kind':'operator'}", "missing_field", "name",
         .who = CENTRAL),
    B400("institution missing kind", "POST", INST, "{'id':'opz','name':'Bank'}", "missing_field", "kind",
         .who = CENTRAL),
    B400("institution name empty", "POST", INST, I_NAME("''"), "invalid_field", "name", .who = CENTRAL),
    B400("institution name 65 bytes", "POST", INST, I_NAME(S65), "invalid_field", "name", .who = CENTRAL),
    B400("institution name 22 CJK = 66 bytes", "POST", INST, I_NAME(CJK22), "invalid_field", "name",
         .who = CENTRAL),
    B400("institution name a number", "POST", INST, I_NAME("5"), "invalid_field", "name", .who = CENTRAL),
    B400("institution kind central", "POST", INST, "{'id':'opz','name':'Bank','kind':'central'}",
         "invalid_field", "kind", .who = CENTRAL),
    B400("institution kind bank", "POST", INST, "{'id':'opz','name':'Bank','kind':'bank'}", "invalid_field",
         "kind", .who = CENTRAL),
    B400("institution treasury is not a field", "POST", INST,
         "{'id':'opz','name':'Bank','kind':'operator','treasury':'%T'}", "unknown_field", "treasury",
         .who = CENTRAL),
    B400("institution secret is not a field", "POST", INST,
         "{'id':'opz','name':'Bank','kind':'operator','secret':'00'}", "unknown_field", "secret",
         .who = CENTRAL),
    B400("institution duplicate id", "POST", INST, "{'id':'opz','id':'opy','name':'Bank','kind':'operator'}",
         "invalid_json", NULL, .who = CENTRAL),
    B400("institution truncated", "POST", INST, "{'id':'opz','name':'Ba", "invalid_json", NULL,
         .who = CENTRAL),
    CASE("institution by an operator", "POST", INST, I_ID("'opz'"), 403, "forbidden", NULL),
    /* ---- Path ids of the GET routes ---- */
    B400("wallet path id upper-case", "GET", "/v1/wallets/%^W", NULL, "invalid_field", "id"),
    B400("wallet path id 31 hex", "GET", "/v1/wallets/%-W", NULL, "invalid_field", "id"),
    B400("wallet path id 33 hex", "GET", "/v1/wallets/%+W", NULL, "invalid_field", "id"),
    B400("wallet path id non-hex", "GET", "/v1/wallets/0123456789abcdefg123456789abcdef", NULL, "invalid_field",
         "id"),
    B400("wallet path id a UUID", "GET", "/v1/wallets/01234567-89ab-cdef-0123-456789abcdef", NULL,
         "invalid_field", "id"),
    B400("wallet path id 64 hex", "GET", "/v1/wallets/%W%W", NULL, "invalid_field", "id"),
    B400("history path id upper-case", "GET", "/v1/wallets/%^W/transfers", NULL, "invalid_field", "id"),
    B400("history path id 31 hex", "GET", "/v1/wallets/%-W/transfers?limit=5", NULL, "invalid_field", "id"),
    B400("transfer path id upper-case", "GET", "/v1/transfers/0123456789ABCDEF0123456789ABCDEF", NULL,
         "invalid_field", "id"),
    B400("transfer path id 31 hex", "GET", "/v1/transfers/%-U", NULL, "invalid_field", "id"),
    B400("transfer path id non-hex", "GET", "/v1/transfers/xyz", NULL, "invalid_field", "id"),
    B400("hold path id upper-case", "GET", "/v1/holds/%^H", NULL, "invalid_field", "id"),
    B400("hold path id 33 hex", "GET", "/v1/holds/%+H", NULL, "invalid_field", "id"),
    B400("institution path id upper-case", "GET", "/v1/institutions/OPA", NULL, "invalid_field", "id"),
    B400("institution path id 17 characters", "GET", "/v1/institutions/abcdefghijklmnopq", NULL,
         "invalid_field", "id"),
    B400("institution path id with a dash", "GET", "/v1/institutions/op-a", NULL, "invalid_field", "id"),
    B400("institution path id with a dot", "GET", "/v1/institutions/op.a", NULL, "invalid_field", "id"),
    /* ---- History query ---- */
    B400("history limit=0", "GET", "/v1/wallets/%W/transfers?limit=0", NULL, "invalid_field", "limit"),
    B400("history limit=1001", "GET", "/v1/wallets/%W/transfers?limit=1001", NULL, "invalid_field", "limit"),
    B400("history limit=-1", "GET", "/v1/wallets/%W/transfers?limit=-1", NULL, "invalid_field", "limit"),
    B400("history limit=abc", "GET", "/v1/wallets/%W/transfers?limit=abc", NULL, "invalid_field", "limit"),
    B400("history limit=1.5", "GET", "/v1/wallets/%W/transfers?limit=1.5", NULL, "invalid_field", "limit"),
    B400("history limit empty", "GET", "/v1/wallets/%W/transfers?limit=", NULL, "invalid_field", "limit"),
    B400("history limit huge", "GET", "/v1/wallets/%W/transfers?limit=99999999999999999999999", NULL,
         "invalid_field", "limit"),
    B400("history cursor=0", "GET", "/v1/wallets/%W/transfers?cursor=0", NULL, "invalid_field", "cursor"),
    B400("history cursor=abc", "GET", "/v1/wallets/%W/transfers?cursor=abc", NULL, "invalid_field", "cursor"),
    B400("history limit ok, cursor bad", "GET", "/v1/wallets/%W/transfers?limit=2&cursor=-5", NULL,
         "invalid_field", "cursor"),
    B400("history unknown parameter", "GET", "/v1/wallets/%W/transfers?page=2", NULL, "unknown_field", "page"),
    /* ---- Unknown routes ---- */
    CASE("route /v1/wallet", "GET", "/v1/wallet", NULL, 404, "route_not_found", NULL),
    CASE("route /v2/wallets", "POST", "/v2/wallets", W_BODY(WALLET_OK), 404, "route_not_found", NULL),
    CASE("route /v1", "GET", "/v1", NULL, 404, "route_not_found", NULL),
    CASE("route /v1/", "GET", "/v1/", NULL, 404, "route_not_found", NULL),
    CASE("route /index.html", "GET", "/index.html", NULL, 404, "route_not_found", NULL),
    CASE("route trailing slash", "GET", "/v1/wallets/%W/", NULL, 404, "route_not_found", NULL),
    CASE("route double slash", "GET", "/v1//wallets/%W", NULL, 404, "route_not_found", NULL),
    CASE("route /v1/Wallets", "GET", "/v1/Wallets/%W", NULL, 404, "route_not_found", NULL),
    CASE("route /V1/wallets", "GET", "/V1/wallets/%W", NULL, 404, "route_not_found", NULL),
    CASE("route wallet history misnamed", "GET", "/v1/wallets/%W/history", NULL, 404, "route_not_found", NULL),
    CASE("route close/now", "POST", "/v1/wallets/%Z/close/now", NULL, 404, "route_not_found", NULL),
    CASE("route /v1/quota", "POST", "/v1/quota", Q_AMT("100"), 404, "route_not_found", NULL, .who = CENTRAL),
    CASE("route /v1/quota/mint", "POST", "/v1/quota/mint", Q_AMT("100"), 404, "route_not_found", NULL,
         .who = CENTRAL),
    CASE("route /v1/transfers/batch/now", "POST", "/v1/transfers/batch/now", B_ONE(B_ITEM), 404,
         "route_not_found", NULL),
    CASE("route hold refund", "POST", "/v1/holds/%H/refund", "{}", 404, "route_not_found", NULL),
    CASE("route /v1/audit", "GET", "/v1/audit", NULL, 404, "route_not_found", NULL),
    CASE("route /v1/audit/head/x", "GET", "/v1/audit/head/x", NULL, 404, "route_not_found", NULL),
    CASE("route /healthz/x", "GET", "/healthz/x", NULL, 404, "route_not_found", NULL),
    CASE("route percent-escaped", "GET", "/v1/wallets/%W%2Fclose", NULL, 404, "route_not_found", NULL),
    CASE("route with dot segments, signed as normalised", "GET", "/v1/a/../audit/head", NULL, 404,
         "route_not_found", NULL, .sign = S_OTHER_PATH, .sign_path = HEAD),
    CASE("route with an escaped letter, signed as decoded", "GET", "/v1/audit/%68ead", NULL, 404,
         "route_not_found", NULL, .sign = S_OTHER_PATH, .sign_path = HEAD),
    CASE("route /v1/cards without a key", "POST", "/v1/cards", "{}", 400, "missing_field", "public_key"),
    CASE("POST /v1/tokens without fields", "POST", "/v1/tokens", "{}", 400, "missing_field", "pan"),
    /* ---- Wrong methods ---- */
    CASE("DELETE a wallet", "DELETE", "/v1/wallets/%W", NULL, 405, "method_not_allowed", NULL),
    CASE("PUT a wallet", "PUT", "/v1/wallets/%W", "{'tier':3}", 405, "method_not_allowed", NULL),
    CASE("POST to a wallet", "POST", "/v1/wallets/%W", "{'tier':3}", 405, "method_not_allowed", NULL),
    CASE("PATCH /v1/wallets", "PATCH", WAL, "{'tier':3}", 405, "method_not_allowed", NULL),
    CASE("GET /v1/wallets", "GET", WAL, NULL, 405, "method_not_allowed", NULL),
    CASE("GET close", "GET", CLOSE, NULL, 405, "method_not_allowed", NULL),
    CASE("POST to history", "POST", "/v1/wallets/%W/transfers", T_OK, 405, "method_not_allowed", NULL),
    CASE("GET /v1/transfers", "GET", TR, NULL, 405, "method_not_allowed", NULL),
    CASE("PUT /v1/transfers", "PUT", TR, T_OK, 405, "method_not_allowed", NULL),
    CASE("PATCH a transfer", "PATCH", "/v1/transfers/%U", "{'amount':1}", 405, "method_not_allowed", NULL),
    CASE("DELETE a transfer", "DELETE", "/v1/transfers/%U", NULL, 405, "method_not_allowed", NULL),
    CASE("GET the batch route", "GET", TRB, NULL, 405, "method_not_allowed", NULL),
    CASE("GET /v1/holds", "GET", HO, NULL, 405, "method_not_allowed", NULL),
    CASE("POST to a hold", "POST", "/v1/holds/%H", "{}", 405, "method_not_allowed", NULL),
    CASE("DELETE a hold", "DELETE", "/v1/holds/%H", NULL, 405, "method_not_allowed", NULL),
    CASE("GET capture", "GET", CAP, NULL, 405, "method_not_allowed", NULL),
    CASE("GET void", "GET", VOID, NULL, 405, "method_not_allowed", NULL),
    CASE("GET quota issue", "GET", QI, NULL, 405, "method_not_allowed", NULL, .who = CENTRAL),
    CASE("GET quota redeem", "GET", QR, NULL, 405, "method_not_allowed", NULL, .who = CENTRAL),
    CASE("DELETE /v1/institutions", "DELETE", INST, NULL, 405, "method_not_allowed", NULL, .who = CENTRAL),
    CASE("POST to an institution", "POST", "/v1/institutions/opa", "{}", 405, "method_not_allowed", NULL,
         .who = CENTRAL),
    CASE("PATCH an institution", "PATCH", "/v1/institutions/opa", "{'name':'x'}", 405, "method_not_allowed",
         NULL, .who = CENTRAL),
    CASE("POST the audit head", "POST", HEAD, "{}", 405, "method_not_allowed", NULL),
    CASE("POST /healthz", "POST", "/healthz", "{}", 405, "method_not_allowed", NULL, .who = NOBODY),
    CASE("POST /metrics", "POST", "/metrics", "{}", 405, "method_not_allowed", NULL, .who = NOBODY),
    CASE("PUT /v1/openapi.json", "PUT", "/v1/openapi.json", "{}", 405, "method_not_allowed", NULL,
         .who = NOBODY),
    CASE("405 carries an Allow header", "DELETE", "/v1/wallets/%W", NULL, 405, "method_not_allowed", NULL,
         .want_allow = true),
    /* ---- Authentication headers (GET /v1/audit/head unless said) ---- */
    CASE("no X-JZ headers at all", "GET", HEAD, NULL, 401, "unauthenticated", NULL, .who = NOBODY),
    CASE("no X-JZ-Key", "GET", HEAD, NULL, 401, "unauthenticated", NULL, .omit = "X-JZ-Key"),
    CASE("no X-JZ-Timestamp", "GET", HEAD, NULL, 401, "unauthenticated", NULL, .omit = "X-JZ-Timestamp"),
    CASE("no X-JZ-Nonce", "GET", HEAD, NULL, 401, "unauthenticated", NULL, .omit = "X-JZ-Nonce"),
    CASE("no X-JZ-Signature", "GET", HEAD, NULL, 401, "unauthenticated", NULL, .omit = "X-JZ-Signature"),
    CASE("only X-JZ-Key", "GET", HEAD, NULL, 401, "unauthenticated", NULL,
         .omit = "X-JZ-Timestamp,X-JZ-Nonce,X-JZ-Signature"),
    CASE("empty X-JZ-Key", "GET", HEAD, NULL, 401, "unauthenticated", NULL, .key = ""),
    CASE("empty X-JZ-Timestamp", "GET", HEAD, NULL, 401, "unauthenticated", NULL, .timestamp = ""),
    CASE("empty X-JZ-Nonce", "GET", HEAD, NULL, 401, "unauthenticated", NULL, .nonce = ""),
    CASE("empty X-JZ-Signature", "GET", HEAD, NULL, 401, "unauthenticated", NULL, .signature = ""),
    CASE("nonce of 15 characters", "GET", HEAD, NULL, 401, "unauthenticated", NULL,
         .nonce = "abcdefghijklmno"),
    CASE("nonce of 65 characters", "GET", HEAD, NULL, 401, "unauthenticated", NULL,
         .nonce = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abc"),
    CASE("nonce with a dot", "GET", HEAD, NULL, 401, "unauthenticated", NULL, .nonce = "abcdefgh.ijklmnop"),
    CASE("nonce in base64 with + and /", "GET", HEAD, NULL, 401, "unauthenticated", NULL,
         .nonce = "ab+cdefghij/klmnop"),
    CASE("nonce with = padding", "GET", HEAD, NULL, 401, "unauthenticated", NULL,
         .nonce = "abcdefghijklmnopq=="),
    CASE("nonce with a space inside", "GET", HEAD, NULL, 401, "unauthenticated", NULL,
         .nonce = "abcdefgh ijklmnopq"),
    CASE("nonce with a non-ASCII letter", "GET", HEAD, NULL, 401, "unauthenticated", NULL,
         .nonce = "abcdefgh\xc3\xa9ijklmnopq"),
    CASE("nonce of exactly 16 characters is fine", "GET", HEAD, NULL, 200, NULL, NULL, .nonce = "%q"),
    CASE("nonce of exactly 64 characters is fine", "GET", HEAD, NULL, 200, NULL, NULL, .nonce = "%Q"),
    CASE("timestamp not a number", "GET", HEAD, NULL, 401, "unauthenticated", NULL, .timestamp = "soon"),
    CASE("timestamp negative", "GET", HEAD, NULL, 401, "unauthenticated", NULL, .timestamp = "-1"),
    CASE("timestamp with a fraction", "GET", HEAD, NULL, 401, "unauthenticated", NULL, .timestamp = "%S.5"),
    CASE("timestamp in exponent form", "GET", HEAD, NULL, 401, "unauthenticated", NULL,
         .timestamp = "1.767e12"),
    CASE("timestamp 0", "GET", HEAD, NULL, 401, "stale_timestamp", NULL, .timestamp = "0"),
    CASE("timestamp in seconds, not ms", "GET", HEAD, NULL, 401, "stale_timestamp", NULL, .timestamp = "%s"),
    CASE("timestamp 301 s old", "GET", HEAD, NULL, 401, "stale_timestamp", NULL, .shift_ms = -301000),
    CASE("timestamp 301 s ahead", "GET", HEAD, NULL, 401, "stale_timestamp", NULL, .shift_ms = 301000),
    CASE("timestamp an hour old", "GET", HEAD, NULL, 401, "stale_timestamp", NULL, .shift_ms = -3600000),
    CASE("timestamp a day ahead", "GET", HEAD, NULL, 401, "stale_timestamp", NULL, .shift_ms = 86400000),
    CASE("timestamp a year old", "GET", HEAD, NULL, 401, "stale_timestamp", NULL,
         .shift_ms = -31536000000LL),
    CASE("timestamp 290 s old is fine", "GET", HEAD, NULL, 200, NULL, NULL, .shift_ms = -290000),
    CASE("timestamp 290 s ahead is fine", "GET", HEAD, NULL, 200, NULL, NULL, .shift_ms = 290000),
    CASE("stale timestamp on a valid transfer", "POST", TR, T_OK, 401, "stale_timestamp", NULL,
         .shift_ms = -400000),
    CASE("future timestamp on a valid transfer", "POST", TR, T_OK, 401, "stale_timestamp", NULL,
         .shift_ms = 400000),
    CASE("unknown key", "GET", HEAD, NULL, 401, "unauthenticated", NULL, .who = BOGUS),
    CASE("unknown key on a valid transfer", "POST", TR, T_OK, 401, "unauthenticated", NULL, .who = BOGUS),
    CASE("unknown key on a valid quota issue", "POST", QI, Q_AMT("100"), 401, "unauthenticated", NULL,
         .who = BOGUS),
    CASE("no headers on a valid institution", "POST", INST, I_ID("'opz'"), 401, "unauthenticated", NULL,
         .who = NOBODY),
    CASE("no headers on a valid wallet", "POST", WAL, W_BODY(WALLET_OK), 401, "unauthenticated", NULL,
         .who = NOBODY),
    CASE("key not hex", "GET", HEAD, NULL, 401, "unauthenticated", NULL, .key = "opa"),
    CASE("key upper-case", "GET", HEAD, NULL, 401, "unauthenticated", NULL, .key = "%^K"),
    CASE("key 33 hex", "GET", HEAD, NULL, 401, "unauthenticated", NULL, .key = "%+K"),
    CASE("signature all zeros", "GET", HEAD, NULL, 401, "bad_signature", NULL,
         .signature = "0000000000000000000000000000000000000000000000000000000000000000"),
    CASE("signature 63 hex", "GET", HEAD, NULL, 401, "unauthenticated", NULL,
         .signature = "000000000000000000000000000000000000000000000000000000000000000"),
    CASE("signature not hex", "GET", HEAD, NULL, 401, "unauthenticated", NULL,
         .signature = "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"),
    CASE("signature over another body", "POST", TR, T_OK, 401, "bad_signature", NULL, .sign = S_OTHER_BODY),
    CASE("signature over another path", "GET", "/v1/wallets/%W", NULL, 401, "bad_signature", NULL,
         .sign = S_OTHER_PATH),
    CASE("signature over the path without the query", "GET", "/v1/wallets/%W/transfers?limit=1", NULL, 401,
         "bad_signature", NULL, .sign = S_NO_QUERY),
    CASE("signature over another method", "POST", TR, T_OK, 401, "bad_signature", NULL,
         .sign = S_OTHER_METHOD),
    CASE("signature over another timestamp", "GET", HEAD, NULL, 401, "bad_signature", NULL,
         .sign = S_OTHER_TS),
    CASE("signature over another nonce", "GET", HEAD, NULL, 401, "bad_signature", NULL, .sign = S_OTHER_NONCE),
    CASE("signature with another institution's secret", "POST", TR, T_OK, 401, "bad_signature", NULL,
         .sign = S_OTHER_SECRET),
    CASE("signature keyed with the hex characters", "GET", HEAD, NULL, 401, "bad_signature", NULL,
         .sign = S_HEX_AS_KEY),
    CASE("central signature under opa's key", "POST", QI, Q_AMT("100"), 401, "bad_signature", NULL,
         .key = "%K", .who = CENTRAL),
    CASE("replayed nonce on a GET", "GET", HEAD, NULL, 401, "replayed_nonce", NULL, .replay_first = 200),
    CASE("replayed nonce on another path", "GET", "/v1/wallets/%W", NULL, 401, "replayed_nonce", NULL,
         .replay_first = 200),
    CASE("replayed nonce on a refused POST", "POST", TR, T_AMT("0"), 401, "replayed_nonce", NULL,
         .replay_first = 400),
    CASE("replayed nonce by central", "GET", INST, NULL, 401, "replayed_nonce", NULL, .who = CENTRAL,
         .replay_first = 200),
};

/* ---- Running a case ---- */

struct ctx {
    struct world w;
    struct srv_creds bogus;
    char W[33], V[33], Z[33], X[33], H[33], U[33];
    long long now_s; /* for %s */
};

struct sbuf {
    char *p;
    size_t len, cap;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) {
            cap *= 2;
        }
        char *p = realloc(b->p, cap);
        if (!p) {
            abort();
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static long long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Placeholders: %W %V %Z (opa's wallets: funded, second, empty), %T (opa's treasury), %X
 * (opb's wallet), %H (opa's pending hold), %U (an id never used), %N (a fresh id each time),
 * %K (opa's key id), %S (now in ms), %s (now in seconds), %q and %Q (fresh nonces of 16 and
 * 64 characters); any other %xx (a percent-escape) is sent as it is. %^x is x in upper case, %-x x without its last digit, %+x x with one more. With
 * quotes, ' becomes ". */
static void subst(const struct ctx *x, const char *in, bool quotes, struct sbuf *out)
{
    sb_add(out, "", 0);
    for (const char *p = in; *p; p++) {
        if (*p == '\'' && quotes) {
            sb_add(out, "\"", 1);
            continue;
        }
        if (*p != '%' || p[1] == '\0') {
            sb_add(out, p, 1);
            continue;
        }
        char mod = 0;
        if ((p[1] == '^' || p[1] == '-' || p[1] == '+') && p[2] != '\0') {
            mod = *++p;
        }
        char v[80] = "";
        switch (p[1]) {
        case 'W': snprintf(v, sizeof v, "%s", x->W); break;
        case 'V': snprintf(v, sizeof v, "%s", x->V); break;
        case 'Z': snprintf(v, sizeof v, "%s", x->Z); break;
        case 'T': snprintf(v, sizeof v, "%s", x->w.treasury); break;
        case 'X': snprintf(v, sizeof v, "%s", x->X); break;
        case 'H': snprintf(v, sizeof v, "%s", x->H); break;
        case 'U': snprintf(v, sizeof v, "%s", x->U); break;
        case 'N': srv_new_id(v); break;
        case 'K': snprintf(v, sizeof v, "%s", x->w.op.key_id); break;
        case 'S': snprintf(v, sizeof v, "%lld", now_ms()); break;
        case 's': snprintf(v, sizeof v, "%lld", now_ms() / 1000); break;
        case 'q':
        case 'Q': {
            int n = p[1] == 'q' ? 16 : 64;
            char id[33];
            for (int i = 0; i < n; i += 32) {
                srv_new_id(id);
                snprintf(v + i, sizeof v - (size_t)i, "%s", id);
            }
            v[n] = '\0';
            break;
        }
        default: snprintf(v, sizeof v, "%%%c", p[1]); break;
        }
        p++;
        size_t n = strlen(v);
        if (mod == '^') {
            for (size_t i = 0; i < n; i++) {
                v[i] = (char)(v[i] >= 'a' && v[i] <= 'f' ? v[i] - 'a' + 'A' : v[i]);
            }
        } else if (mod == '-' && n > 0) {
            v[n - 1] = '\0';
        } else if (mod == '+') {
            snprintf(v + n, sizeof v - n, "0");
        }
        sb_str(out, v);
    }
}

/* The generated bodies of the table. */
static void generate(const struct ctx *x, const struct bad_case *k, struct sbuf *out)
{
    long n = k->gen_n;
    switch (k->gen) {
    case G_PAD:
    case G_BATCH_PAD: {
        const char *head = k->gen == G_PAD ? "{\"pad\":\"" : "{\"transfers\":[{\"pad\":\"";
        const char *tail = k->gen == G_PAD ? "\"}" : "\"}]}";
        long fill = n - (long)strlen(head) - (long)strlen(tail);
        char *mid = malloc((size_t)fill);
        if (!mid) {
            abort();
        }
        memset(mid, 'x', (size_t)fill);
        sb_str(out, head);
        sb_add(out, mid, (size_t)fill);
        sb_str(out, tail);
        free(mid);
        break;
    }
    case G_DEEP_ARRAY:
        sb_str(out, "{\"a\":");
        for (long i = 1; i < n; i++) {
            sb_add(out, "[", 1);
        }
        for (long i = 1; i < n; i++) {
            sb_add(out, "]", 1);
        }
        sb_add(out, "}", 1);
        break;
    case G_DEEP_OBJECT:
        for (long i = 0; i < n; i++) {
            sb_str(out, "{\"a\":");
        }
        sb_add(out, "1", 1);
        for (long i = 0; i < n; i++) {
            sb_add(out, "}", 1);
        }
        break;
    case G_BATCH_EMPTY:
        sb_str(out, "{\"transfers\":[");
        for (long i = 0; i < n; i++) {
            sb_str(out, i ? ",{}" : "{}");
        }
        sb_str(out, "]}");
        break;
    case G_BATCH_LAST_BAD:
        sb_str(out, "{\"transfers\":[");
        for (long i = 0; i < n; i++) {
            char id[33];
            char item[256];
            srv_new_id(id);
            snprintf(item, sizeof item,
                     "%s{\"id\":\"%s\",\"debit\":\"%s\",\"credit\":\"%s\",\"amount\":%d,\"kind\":\"p2p\"}",
                     i ? "," : "", id, x->W, x->X, i == n - 1 ? 0 : 1);
            sb_str(out, item);
        }
        sb_str(out, "]}");
        break;
    case G_NONE:
        break;
    }
}

static const struct srv_creds *creds_of(const struct ctx *x, enum who who)
{
    switch (who) {
    case OPA: return &x->w.op;
    case CENTRAL: return &x->w.s.central;
    case OPB: return &x->w.op2;
    case BOGUS: return &x->bogus;
    case NOBODY: break;
    }
    return NULL;
}

/* A deliberately wrong signature for the case's request (timestamp and nonce as sent). */
static void wrong_signature(const struct ctx *x, const struct bad_case *k, const struct srv_creds *c,
                            const char *path, const char *body, size_t body_len, const char *ts,
                            const char *nonce, char out[65])
{
    uint8_t secret[32];
    const struct srv_creds *sc = k->sign == S_OTHER_SECRET ? &x->w.op2 : c;
    jz_hex_decode(sc->secret, strlen(sc->secret), secret, sizeof secret);
    const char *method = k->method;
    char ts2[32];
    char nonce2[33];
    switch (k->sign) {
    case S_OTHER_BODY:
        body = "{}";
        body_len = 2;
        break;
    case S_OTHER_PATH:
        path = k->sign_path ? k->sign_path : HEAD;
        break;
    case S_NO_QUERY: {
        static char bare[256];
        snprintf(bare, sizeof bare, "%s", path);
        char *q = strchr(bare, '?');
        if (q) {
            *q = '\0';
        }
        path = bare;
        break;
    }
    case S_OTHER_METHOD:
        method = strcmp(method, "GET") == 0 ? "POST" : "GET";
        break;
    case S_OTHER_TS:
        snprintf(ts2, sizeof ts2, "%lld", strtoll(ts, NULL, 10) + 1);
        ts = ts2;
        break;
    case S_OTHER_NONCE:
        srv_new_id(nonce2);
        nonce = nonce2;
        break;
    case S_HEX_AS_KEY: {
        uint8_t h[32];
        uint8_t mac[32];
        char hh[65];
        char msg[1024];
        crypto_sm3(body, body_len, h);
        jz_hex_encode(h, sizeof h, hh);
        int n = snprintf(msg, sizeof msg, "%s\n%s\n%s\n%s\n%s", method, path, ts, nonce, hh);
        crypto_hmac_sm3(sc->secret, strlen(sc->secret), msg, (size_t)n, mac);
        jz_hex_encode(mac, sizeof mac, out);
        return;
    }
    default:
        break;
    }
    auth_sign(secret, method, path, ts, nonce, body, body_len, out);
}

/* Sends a signed request without a Content-Type header (srv_send always writes one with a
 * body). Returns 0 with out filled, and the raw head in head (for Allow). */
static int send_raw(const struct srv *s, const struct srv_creds *c, const char *method,
                    const char *path, const char *body, size_t body_len, bool with_ct,
                    struct srv_response *out, char *head, size_t head_cap)
{
    char ts[32];
    char nonce[33];
    char sig[65] = "";
    uint8_t secret[32];
    snprintf(ts, sizeof ts, "%lld", now_ms());
    srv_new_id(nonce);
    if (c && jz_hex_decode(c->secret, strlen(c->secret), secret, 32) == 0) {
        auth_sign(secret, method, path, ts, nonce, body ? body : "", body_len, sig);
    }
    struct sbuf req = {0};
    char line[512];
    snprintf(line, sizeof line, "%s %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n"
             "Content-Length: %zu\r\n", method, path, s->host, s->port, body_len);
    sb_str(&req, line);
    if (with_ct) {
        sb_str(&req, "Content-Type: application/json\r\n");
    }
    if (c) {
        snprintf(line, sizeof line, "X-JZ-Key: %s\r\nX-JZ-Timestamp: %s\r\nX-JZ-Nonce: %s\r\n"
                 "X-JZ-Signature: %s\r\n", c->key_id, ts, nonce, sig);
        sb_str(&req, line);
    }
    sb_str(&req, "\r\n");
    if (body_len) {
        sb_add(&req, body, body_len);
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    int rc = -1;
    memset(out, 0, sizeof *out);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
        size_t off = 0;
        while (off < req.len) {
            ssize_t w = send(fd, req.p + off, req.len - off, MSG_NOSIGNAL);
            if (w <= 0) {
                break;
            }
            off += (size_t)w;
        }
        struct sbuf resp = {0};
        char buf[4096];
        for (;;) {
            struct pollfd pf = {.fd = fd, .events = POLLIN};
            if (poll(&pf, 1, 30000) <= 0) {
                break;
            }
            ssize_t r = recv(fd, buf, sizeof buf, 0);
            if (r <= 0) {
                break;
            }
            sb_add(&resp, buf, (size_t)r);
        }
        char *end = resp.p ? strstr(resp.p, "\r\n\r\n") : NULL;
        if (end && sscanf(resp.p, "HTTP/1.%*d %d", &out->status) == 1) {
            snprintf(head, head_cap, "%.*s", (int)(end - resp.p), resp.p);
            out->body = strdup(end + 4);
            out->body_len = strlen(out->body);
            rc = 0;
        }
        free(resp.p);
    }
    if (fd >= 0) {
        close(fd);
    }
    free(req.p);
    return rc;
}

/* Runs one case; true when the answer is the documented one. why gets what went wrong. */
static bool run_case(struct ctx *x, const struct bad_case *k, char *why, size_t why_len)
{
    struct sbuf path = {0};
    struct sbuf body = {0};
    struct sbuf key = {0}, ts = {0}, nonce = {0}, sig = {0};
    subst(x, k->path, false, &path);
    bool has_body = k->body != NULL || k->gen != G_NONE;
    if (k->gen != G_NONE) {
        sb_add(&body, "", 0);
        generate(x, k, &body);
    } else if (k->body) {
        subst(x, k->body, !k->literal, &body);
    }
    const struct srv_creds *c = creds_of(x, k->who);
    struct srv_req q = {.method = k->method, .path = path.p, .body = has_body ? body.p : NULL,
                        .body_len = has_body ? body.len : 0, .content_type = k->ct, .creds = c,
                        .timestamp_shift_ms = k->shift_ms, .omit = k->omit};
    if (has_body && body.len == 0) {
        q.body = ""; /* srv_send takes strlen("") = 0: an empty body with its Content-Type */
    }
    if (k->key) {
        subst(x, k->key, false, &key);
        q.key = key.p;
    }
    if (k->timestamp) {
        subst(x, k->timestamp, false, &ts);
        q.timestamp = ts.p;
    }
    if (k->nonce) {
        subst(x, k->nonce, false, &nonce);
        q.nonce = nonce.p;
    }
    if (k->signature) {
        subst(x, k->signature, false, &sig);
        q.signature = sig.p;
    }
    char ts_buf[32];
    char nonce_buf[33];
    char sig_buf[65];
    if (k->sign != S_NORMAL || k->replay_first > 0) {
        if (!q.nonce) {
            srv_new_id(nonce_buf);
            q.nonce = nonce_buf;
        }
    }
    if (k->sign != S_NORMAL) {
        snprintf(ts_buf, sizeof ts_buf, "%lld", now_ms() + k->shift_ms);
        q.timestamp = ts_buf;
        wrong_signature(x, k, c, path.p, has_body ? body.p : "", has_body ? body.len : 0, ts_buf,
                        q.nonce, sig_buf);
        q.signature = sig_buf;
    }
    struct srv_response r = {0};
    int rc = 0;
    char head[4096] = "";
    why[0] = '\0';
    if (k->replay_first > 0) {
        rc = srv_send(&x->w.s, &q, &r);
        if (rc == 0 && r.status != k->replay_first) {
            snprintf(why, why_len, "first send: expected %d, got %d: %.300s", k->replay_first,
                     r.status, r.body ? r.body : "");
        }
        srv_response_free(&r);
    }
    if (rc == 0 && (k->no_ct || k->want_allow)) {
        rc = send_raw(&x->w.s, c, k->method, path.p, has_body ? body.p : NULL,
                      has_body ? body.len : 0, !k->no_ct && has_body, &r, head, sizeof head);
    } else if (rc == 0) {
        rc = srv_send(&x->w.s, &q, &r);
    }
    bool ok = why[0] == '\0';
    if (rc != 0) {
        snprintf(why, why_len, "no answer (transport failure)");
        ok = false;
    } else if (ok) {
        char code[64] = "";
        char field[128] = "";
        bool has_field = r.body && srv_json_str(r.body, "field", field, sizeof field) == 0;
        if (r.body) {
            srv_json_str(r.body, "code", code, sizeof code);
        }
        ok = r.status == k->status && (k->code ? strcmp(code, k->code) == 0 : true) &&
             (k->field ? has_field && strcmp(field, k->field) == 0 : true);
        if (ok && k->want_allow && !strcasestr(head, "\r\nAllow:")) {
            ok = false;
            snprintf(why, why_len, "405 as expected, but its head has no Allow header");
        } else if (!ok) {
            snprintf(why, why_len, "expected %d %s%s%s, got %d %s%s%s: %.300s", k->status,
                     k->code ? k->code : "(success)", k->field ? " field " : "",
                     k->field ? k->field : "", r.status, code, has_field ? " field " : "",
                     has_field ? field : "", r.body ? r.body : "");
        }
    }
    srv_response_free(&r);
    free(path.p);
    free(body.p);
    free(key.p);
    free(ts.p);
    free(nonce.p);
    free(sig.p);
    return ok;
}

static int audit_head(struct ctx *x, long long *seq, char hash[65])
{
    struct srv_response r;
    hash[0] = '\0';
    if (srv_call(&x->w.s, &x->w.s.central, "GET", HEAD, NULL, &r) != 200) {
        srv_response_free(&r);
        return -1;
    }
    *seq = srv_json_int(r.body, "seq");
    int rc = srv_json_str(r.body, "hash", hash, 65);
    srv_response_free(&r);
    return rc;
}

TEST(api_bad_input_table)
{
    static struct ctx x;
    memset(&x, 0, sizeof x);
    REQUIRE(world_start(&x.w) == 0);
    char tid[33];
    REQUIRE_EQ_INT(open_wallet(&x.w, &x.w.op, 1, x.W), 201);
    REQUIRE_EQ_INT(open_wallet(&x.w, &x.w.op, 1, x.V), 201);
    REQUIRE_EQ_INT(open_wallet(&x.w, &x.w.op, 1, x.Z), 201);
    REQUIRE_EQ_INT(open_wallet(&x.w, &x.w.op2, 1, x.X), 201);
    srv_new_id(tid);
    REQUIRE_EQ_INT(transfer(&x.w, &x.w.op, tid, x.w.treasury, x.W, 1000000, "exchange_in", NULL), 201);
    srv_new_id(x.H);
    char body[300];
    snprintf(body, sizeof body, "{\"id\":\"%s\",\"debit\":\"%s\",\"credit\":\"%s\",\"amount\":100,"
             "\"timeout_ms\":3600000}", x.H, x.W, x.V);
    REQUIRE_EQ_INT(srv_call(&x.w.s, &x.w.op, "POST", HO, body, NULL), 201);
    srv_new_id(x.U);
    srv_new_id(x.bogus.key_id);
    srv_new_id(x.bogus.secret);
    srv_new_id(x.bogus.secret + 32);
    snprintf(x.bogus.institution, sizeof x.bogus.institution, "bogus");

    long long seq0 = 0;
    long long seq = 0;
    char hash0[65];
    char hash[65];
    REQUIRE(audit_head(&x, &seq0, hash0) == 0);
    long long prev_seq = seq0;
    char prev_hash[65];
    snprintf(prev_hash, sizeof prev_hash, "%s", hash0);
    int n = (int)JZ_ARRAY_LEN(cases);
    int documented = 0;
    int moved = 0;
    for (int i = 0; i < n; i++) {
        char why[700];
        bool ok = run_case(&x, &cases[i], why, sizeof why);
        if (!ok) {
            fprintf(stderr, "  case %d \"%s\" (%s %s): %s\n", i, cases[i].name, cases[i].method,
                    cases[i].path, why);
        }
        CHECK(ok);
        documented += ok;
        /* The journal head after every case, so a case that reached the ledger is named. */
        bool head_ok = audit_head(&x, &seq, hash) == 0;
        CHECK(head_ok);
        if (head_ok && (seq != prev_seq || strcmp(hash, prev_hash) != 0)) {
            fprintf(stderr, "  case %d \"%s\" changed the journal: seq %lld -> %lld\n", i,
                    cases[i].name, prev_seq, seq);
            moved++;
            prev_seq = seq;
            snprintf(prev_hash, sizeof prev_hash, "%s", hash);
        }
    }
    printf("bad-input: %d cases, %d as documented\n", n, documented);
    fflush(stdout);
    CHECK(n >= 200);
    CHECK_EQ_INT(documented, n);
    CHECK_EQ_INT(moved, 0);
    REQUIRE(audit_head(&x, &seq, hash) == 0);
    CHECK_EQ_INT(seq, seq0);
    CHECK_EQ_STR(hash, hash0);
    CHECK_EQ_INT(srv_stop(&x.w.s, SIGTERM), 0);
}
