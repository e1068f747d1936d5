/*
 * api.h: the HTTP JSON API of shared/API.md, independent of the HTTP library.
 *
 * The HTTP layer hands over a parsed request (method, path, query, the X-JZ-* headers,
 * Content-Type, body) and gets back a status, a body and headers. api_handle runs on an
 * HTTP worker thread: route, authenticate, authorise, validate, then submit to the executor
 * and wait until the result is durable. Reads go to the ledger through the executor (wallets,
 * holds) or to the history store (transfers, wallet history). A full executor queue answers
 * 503 overloaded with Retry-After; a failed node answers 503 unavailable.
 */
#ifndef JZ_API_H
#define JZ_API_H

#include "auth.h"
#include "json.h"
#include "node.h"

/* Request bodies: 1 MiB for everything but a batch, whose 8,190 items need up to 4 MiB. */
#define API_BODY_MAX (1u << 20)
#define API_BATCH_BODY_MAX (4u << 20)

struct api_config {
    node *node;                 /* opened with history */
    uint32_t rate_per_s;        /* per key; 0 = no limit */
    uint32_t burst;
    uint32_t nonce_capacity;    /* 0 = default */
    int64_t (*now_ms)(void);    /* NULL = wall clock: the signature window's clock */
    bool secure_cookies;        /* served over TLS: the console's cookie gets Secure */
};

typedef struct api api;

/* Loads every institution's credentials (unsealed with the master key) into the
 * authenticator. The caller owns the api (api_free). */
int api_new(const struct api_config *cfg, api **out, char *err, size_t err_len);
void api_free(api *a);

struct api_request {
    const char *method;
    const char *path;           /* without the query */
    const char *query;          /* after '?', "" when none */
    const char *path_and_query; /* as sent: what the signature covers */
    const char *content_type;   /* NULL when absent */
    const char *key, *timestamp, *nonce, *signature; /* X-JZ-* headers, NULL when absent */
    const char *cookie;         /* Cookie header (the console's session), NULL when absent */
    const char *csrf;           /* X-CSRF-Token header, NULL when absent */
    const char *body;
    size_t body_len;
    bool body_too_large;        /* the HTTP layer stopped reading past the limit */
};

struct api_response {
    int status;
    struct jbuf body;
    const char *content_type;   /* static string */
    int retry_after_s;          /* > 0: send Retry-After */
    const char *allow;          /* 405: the methods the route takes ("GET, POST") */
    char set_cookie[192];       /* "" or a Set-Cookie value */
    bool page;                  /* a console page: send the browser security headers */
};

/* Limit on the body of a request to this path (the HTTP layer enforces it). */
size_t api_body_limit(const char *path);

/* The general reader of a transfer body (batch = false) or a batch body into cmds (room
 * for cap): 0 and *n, or -1 with e worded as the API answers. The server reads the plain
 * form of these bodies with json_fast.h first; tests hold the two readers to each other. */
struct ledger_cmd;
int api_parse_transfers(const char *body, size_t len, bool batch, struct ledger_cmd *cmds,
                        size_t cap, size_t *n, struct api_error *e);

/* Handles one request; resp->body is owned by the caller (api_response_free). */
void api_handle(api *a, const struct api_request *req, struct api_response *resp);
void api_response_free(struct api_response *resp);

/* Event-loop HTTP layers answer without a thread per request. api_handle_start does what it
 * can without blocking:
 *   API_DONE     resp is complete (an error, /healthz, /metrics, the OpenAPI document);
 *   API_PENDING  the request went to the executor: done(ctx) is called on another thread
 *                (quickly: it must only hand over) once it is durable, after which the
 *                caller calls api_finish(*pending, resp) on any thread to get the answer;
 *   API_BLOCKING nothing was done (not even authentication): run api_handle on a thread that
 *                may block. Transfers and batches in plain form take the pending path. */
enum api_start { API_DONE = 0, API_PENDING = 1, API_BLOCKING = 2 };
struct api_pending;
int api_handle_start(api *a, const struct api_request *req, struct api_response *resp,
                     void (*done)(void *ctx), void *ctx, struct api_pending **pending);
/* Writes the answer of a pending request into resp (caller frees: api_response_free) and
 * frees the pending state. */
void api_finish(struct api_pending *p, struct api_response *resp);

/* Writes DIR/central.json (mode 0600) with central's credentials and the URL. */
int api_write_central_json(api *a, const char *url, char *err, size_t err_len);

/* For the HTTP layer's access log and metrics: the route name of a path ("" if none). */
const char *api_route_name(const char *method, const char *path);

#endif
