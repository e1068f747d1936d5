/*
 * sdk_int.h: what the SDK's files share, and what the unit tests reach past the public API.
 *
 * Layers: calls.c (typed calls: build JSON, pick the route) -> http.c (one signed request
 * with retries over a keep-alive connection) -> parse.c (JSON answers into the public
 * structs). client.c holds the client's life cycle, credentials, ids and signing. Only
 * parse.c, calls.c and client.c include jansson; nothing here includes OpenSSL (crypto.h
 * does that). Nothing in this header is part of the public API: it may change at any time.
 */
#ifndef JZ_SDK_INT_H
#define JZ_SDK_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jiaozi.h"

/* Bounds on what the server may send: past them the answer is bad_response, not a stall. */
#define SDK_HEADER_BYTES_MAX 16384          /* status line and headers */
#define SDK_BODY_BYTES_MAX (64u << 20)      /* a full batch answer is about 2 MB */
#define SDK_READ_CHUNK 16384                /* bytes asked of recv at a time */
#define SDK_HOST_SIZE 256
#define SDK_PORT_SIZE 6
#define SDK_NONCE_LEN 32                    /* API.md allows 16-64 of [A-Za-z0-9_-] */
#define SDK_BACKOFF_BASE_MS 50              /* first retry delay, doubled each time */
#define SDK_BACKOFF_MAX_MS 2000
#define SDK_RETRIES_MAX 100
#define SDK_CREDENTIALS_FILE_MAX 65536

/* The outcome of one attempt, to decide on a retry. */
enum sdk_attempt {
    SDK_ATTEMPT_OK = 0,    /* an HTTP answer was received (any status) */
    SDK_ATTEMPT_RETRY = 1, /* transport failure: safe to try again with the same body */
    SDK_ATTEMPT_FAIL = 2,  /* not worth retrying (bad_response, out_of_memory) */
};

/* A connection and its read buffer: bytes rbuf[rpos..rlen) are received and not consumed. */
struct sdk_conn {
    int fd; /* -1 when closed */
    char *rbuf;
    size_t rcap;
    size_t rpos;
    size_t rlen;
    int64_t deadline_ms; /* CLOCK_MONOTONIC ms after which reads and writes time out */
    size_t received;     /* bytes received since the current request was sent */
};

/* One HTTP answer. body is owned by the struct, reused across answers (sdk_response_free). */
struct sdk_response {
    int status;
    bool close;             /* the server closes the connection after this answer */
    int64_t retry_after_ms; /* -1 when absent or not a number of seconds */
    char *body;             /* NUL-terminated for convenience; body_len excludes the NUL */
    size_t body_len;
    size_t body_cap;
};

struct jz_client {
    char url[JZ_URL_SIZE];
    char host[SDK_HOST_SIZE]; /* without brackets, for getaddrinfo */
    char port[SDK_PORT_SIZE];
    char host_header[SDK_HOST_SIZE + SDK_PORT_SIZE + 3];
    char key_id[JZ_KEY_ID_SIZE];
    char institution[JZ_INSTITUTION_ID_SIZE];
    uint8_t secret[32];
    int timeout_ms;
    int max_retries;
    int last_status;
    int attempts; /* attempts made by the last request: > 1 means a retry happened */
    struct sdk_conn conn;
    struct sdk_response resp;
    char *req; /* request bytes (head + body), reused */
    size_t req_cap;
};

/* ---- client.c ---- */
void sdk_error_set(jz_error *err, int http_status, const char *code, const char *field,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Copies src into dst (size bytes) cutting at a UTF-8 boundary if too long. */
void sdk_copy_text(char *dst, size_t size, const char *src);
/* Random nonce of SDK_NONCE_LEN characters [A-Za-z0-9] and a NUL. */
int sdk_nonce_new(char out[SDK_NONCE_LEN + 1]);
/* jz_sign with the secret as bytes. */
int sdk_sign_bytes(const uint8_t *secret, size_t secret_len, const char *method,
                   const char *path_and_query, int64_t timestamp_ms, const char *nonce,
                   const void *body, size_t body_len, char out_hex[65]);
/* Checks url and splits it: host (brackets removed), port ("80" by default). */
int sdk_url_parse(const char *url, char host[SDK_HOST_SIZE], char port[SDK_PORT_SIZE],
                  jz_error *err);
/* Parses a credentials document held in memory (jz_credentials_load without the file). */
int sdk_credentials_parse(const char *text, size_t len, jz_credentials *out, jz_error *err);
int64_t sdk_now_ms(void);      /* CLOCK_REALTIME, for X-JZ-Timestamp */
int64_t sdk_mono_ms(void);     /* CLOCK_MONOTONIC, for deadlines */
bool sdk_institution_id_valid(const char *s);

/* ---- http.c ---- */
/* Sends method path (with query) and body, signed unless `sign` is false, retrying as the
 * public header describes. On 2xx returns 0 with the answer in client->resp. On any other
 * status returns -1 with err from the server's error object; on transport failure -1 with
 * connection_failed or timeout. */
int sdk_request(jz_client *client, const char *method, const char *path, const char *body,
                size_t body_len, bool sign, jz_error *err);
/* Reads one answer from conn (blocking until conn->deadline_ms). Returns an sdk_attempt. */
int sdk_read_response(struct sdk_conn *conn, struct sdk_response *resp, jz_error *err);
void sdk_conn_close(struct sdk_conn *conn);
void sdk_response_free(struct sdk_response *resp);
/* Delay before retry number `retry` (1-based) when no Retry-After applies. */
int64_t sdk_backoff_ms(int retry);

/* ---- parse.c: each parses a whole JSON answer; bad_response when it is malformed ---- */
int sdk_parse_error(int http_status, const char *json, size_t len, jz_error *out);
int sdk_parse_wallet(const char *json, size_t len, jz_wallet *out, jz_error *err);
int sdk_parse_transfer(const char *json, size_t len, jz_transfer *out, jz_error *err);
int sdk_parse_hold(const char *json, size_t len, jz_hold *out, jz_error *err);
int sdk_parse_institution(const char *json, size_t len, jz_institution *out, jz_error *err);
int sdk_parse_institution_list(const char *json, size_t len, jz_institution *items,
                               size_t cap, size_t *count, jz_error *err);
/* The answer of POST /v1/institutions; secret may be absent (a replay). */
int sdk_parse_created_institution(const char *json, size_t len, jz_credentials *out,
                                  jz_error *err);
int sdk_parse_history(const char *json, size_t len, jz_transfer *items, size_t cap,
                      size_t *count, char next_cursor[JZ_CURSOR_SIZE], jz_error *err);
/* n results in input order; ids must match expected_ids (the ids that were sent). */
int sdk_parse_batch(const char *json, size_t len, const char (*expected_ids)[JZ_ID_SIZE],
                    size_t n, jz_batch_result *results, jz_error *err);
int sdk_parse_audit_head(const char *json, size_t len, jz_audit_head *out, jz_error *err);
int sdk_parse_health(const char *json, size_t len, jz_health *out, jz_error *err);

#endif
