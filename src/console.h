/*
 * console.h: the web console served by `jiaozi serve` at / (an api_ext module).
 *
 * The browser signs in once with an institution's key id and secret (POST /console/login);
 * the server answers with a session cookie (HttpOnly, SameSite=Strict, Secure under TLS) and a
 * CSRF token, and the page forgets the secret. From then on the page calls the ordinary /v1
 * routes with the cookie: the core asks console_session_check (api_set_session_checker), which
 * maps the cookie to the institution and, for anything but GET, requires the session's CSRF
 * token in X-CSRF-Token. Sessions live in memory only (a restart signs everyone out), bounded
 * (CONSOLE_SESSIONS_MAX, the oldest evicted), idle out after CONSOLE_IDLE_MS and end after
 * CONSOLE_LIFETIME_MS; the server keeps only the SM3 hash of a session id.
 *
 * The page's files (web/) are compiled into the binary, with the charting library (uPlot,
 * from the npm registry at build time), so the browser needs no network.
 *
 * Console-only routes: GET / and /console/{file} (public), POST /console/login (public,
 * failures rate-limited), POST /console/logout, GET /console/session, GET /console/stats
 * (circulation by operator and tier, live throughput and latency, sampled once a second),
 * GET /console/wallets?q=PREFIX (search by id prefix).
 */
#ifndef JZ_CONSOLE_H
#define JZ_CONSOLE_H

#include "api_ext.h"

#define CONSOLE_SESSIONS_MAX 256
#define CONSOLE_IDLE_MS (30 * 60 * 1000)
#define CONSOLE_LIFETIME_MS (8 * 60 * 60 * 1000)
/* Failed sign-ins the node accepts a second before answering 429 (guessing a 256-bit secret
 * is hopeless anyway; this keeps the log and the CPU calm). */
#define CONSOLE_LOGIN_FAILURES_PER_S 10
#define CONSOLE_SERIES_MAX 120

extern const struct api_ext console_ext;

#endif
