/*
 * server.h: integration-test support: run `jiaozi serve` (JZ_BIN) as a child process on
 * 127.0.0.1 with a free port, and talk raw HTTP/1.1 to it (so tests can send anything:
 * malformed JSON, wrong headers, bad signatures), signing with the real scheme when asked.
 */
#ifndef JZ_TEST_SERVER_H
#define JZ_TEST_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct srv_creds {
    char institution[20];
    char key_id[80];
    char secret[80]; /* hex */
};

struct srv {
    pid_t pid;
    char dir[512];
    char url[128];
    char host[64];
    int port;
    struct srv_creds central;
};

/* Starts `jiaozi serve --data dir --listen 127.0.0.1:0 --quiet [extra args]` and waits (up
 * to 15 s) until it answers /healthz. 0 on success. */
int srv_start(struct srv *s, const char *dir, const char *extra_args);
/* Sends sig (SIGTERM to stop cleanly, SIGKILL to crash) and reaps; returns the exit status
 * as waitpid gives it. */
int srv_stop(struct srv *s, int sig);
/* Reads credentials in the central.json format from path. */
int srv_load_creds(const char *path, struct srv_creds *out);

struct srv_response {
    int status;
    char *body; /* malloc'd, NUL-terminated; free with srv_response_free */
    size_t body_len;
    char retry_after[16];
    char headers[2048]; /* status line and headers, as received (truncated past 2047) */
};
void srv_response_free(struct srv_response *r);

/* What to send. Signing uses creds unless creds is NULL; the override fields, when set,
 * replace the computed header values (to test bad ones); `omit` names headers to leave out
 * ("X-JZ-Nonce,X-JZ-Signature"). */
struct srv_req {
    const char *method;
    const char *path;   /* path and query, as signed and sent */
    const char *body;   /* NULL = none */
    size_t body_len;    /* 0 = strlen(body) */
    const char *content_type; /* NULL = application/json when there is a body */
    const struct srv_creds *creds;
    const char *key, *timestamp, *nonce, *signature; /* overrides */
    int64_t timestamp_shift_ms;
    const char *omit;
    const char *extra_headers; /* raw "Name: value\r\n" lines */
};

/* One request on a new connection. 0 with *out filled, -1 on a transport failure. */
int srv_send(const struct srv *s, const struct srv_req *q, struct srv_response *out);
/* Convenience: signed request with creds, returns the status (or -1). body may be NULL;
 * out may be NULL. */
int srv_call(const struct srv *s, const struct srv_creds *c, const char *method, const char *path,
             const char *body, struct srv_response *out);

/* A fresh random 32-hex id. */
void srv_new_id(char out[33]);

/* Extracts the string or integer value of "key" from a flat JSON text (test convenience). */
int srv_json_str(const char *json, const char *key, char *out, size_t out_len);
long long srv_json_int(const char *json, const char *key);

#endif
