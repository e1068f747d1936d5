/*
 * cli_serve.c: `jiaozi serve`: the node, its history projector, the API and the HTTP server.
 * SIGTERM or SIGINT: stop accepting, let in-flight requests finish (each is answered only
 * once durable), write a snapshot, exit 0.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api.h"
#include "cli.h"
#include "http.h"
#include "node.h"

static const char serve_help[] =
    "usage: jiaozi serve --data DIR [options]\n"
    "Serves the HTTP JSON API (shared/API.md). On first start DIR is initialised: the\n"
    "central bank and its credentials, written to DIR/central.json (mode 0600).\n"
    "  --listen HOST:PORT   address (default 127.0.0.1:8080; port 0 picks a free one)\n"
    "  --loops N            HTTP event-loop threads (default 1)\n"
    "  --threads N          workers for requests that may block (default 64)\n"
    "  --tls-cert FILE      PEM certificate chain (with --tls-key: HTTPS, TLS 1.2+, OpenSSL)\n"
    "  --tls-key FILE       PEM private key\n"
    "  --insecure           allow plain HTTP on a non-loopback address\n"
    "  --rate N             requests a second per key, 0 = no limit (default 0)\n"
    "  --burst N            token bucket size (default = rate)\n"
    "  --queue N            requests waiting for the executor before 503 overloaded\n"
    "                       (default 65536)\n"
    "  --quiet              no per-request log lines\n"
    "  --wallets N, --transfers N   sizes for a new DIR (see jiaozi init --help)\n";

static int ensure_initialised(const char *dir, int argc, char **argv)
{
    char conf[4096];
    struct stat st;
    snprintf(conf, sizeof conf, "%s/jiaozi.conf", dir);
    if (stat(conf, &st) == 0) {
        return 0;
    }
    struct node_config cfg;
    char err[1024];
    node_config_default(&cfg);
    cfg.wallets_max = (uint32_t)cli_opt_u64(argc, argv, "--wallets", cfg.wallets_max, 1u << 30);
    cfg.transfers_max =
        (uint32_t)cli_opt_u64(argc, argv, "--transfers", cfg.transfers_max, 1u << 30);
    if (node_init(dir, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "jiaozi serve: %s\n", err);
        return -1;
    }
    return 0;
}

/* Runs until SIGTERM or SIGINT. */
static int serve(node *n, const char *dir, int argc, char **argv)
{
    char err[1024];
    api *a = NULL;
    http_server *h = NULL;
    struct api_config acfg = {
        .node = n,
        .rate_per_s = (uint32_t)cli_opt_u64(argc, argv, "--rate", 0, 10000000),
        .burst = (uint32_t)cli_opt_u64(argc, argv, "--burst", 0, 10000000),
        .secure_cookies = cli_opt(argc, argv, "--tls-cert") != NULL,
    };
    const char *listen = cli_opt(argc, argv, "--listen");
    struct http_config hcfg = {
        .listen = listen ? listen : "127.0.0.1:8080",
        .loops = (int)cli_opt_u64(argc, argv, "--loops", 1, 8),
        .threads = (int)cli_opt_u64(argc, argv, "--threads", 64, 4096),
        .tls_cert = cli_opt(argc, argv, "--tls-cert"),
        .tls_key = cli_opt(argc, argv, "--tls-key"),
        .data_dir = dir,
        .insecure = cli_flag(argc, argv, "--insecure"),
        .log_requests = !cli_flag(argc, argv, "--quiet"),
    };
    if (api_new(&acfg, &a, err, sizeof err) != 0) {
        fprintf(stderr, "jiaozi serve: %s\n", err);
        return 1;
    }
    hcfg.api = a;
    if (http_start(&hcfg, &h, err, sizeof err) != 0) {
        fprintf(stderr, "jiaozi serve: %s\n", err);
        api_free(a);
        return 1;
    }
    char url[300];
    char host[256];
    snprintf(host, sizeof host, "%s", hcfg.listen);
    char *colon = strrchr(host, ':');
    if (colon) {
        *colon = '\0';
    }
    snprintf(url, sizeof url, "%s://%s:%d", hcfg.tls_cert ? "https" : "http", host, http_port(h));
    if (api_write_central_json(a, url, err, sizeof err) != 0) {
        fprintf(stderr, "jiaozi serve: %s\n", err);
    }
    printf("jiaozi serving %s (data %s; central bank credentials in %s/central.json)\n", url,
           dir, dir);
    fflush(stdout);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "jiaozi serve: %s: draining requests, writing a snapshot\n",
            sig == SIGTERM ? "SIGTERM" : "SIGINT");
    http_stop(h); /* in-flight requests finish first */
    api_free(a);
    return 0;
}

int cli_serve(int argc, char **argv)
{
    static const char *const known[] = {"--data", "--listen", "--loops", "--threads", "--tls-cert",
                                        "--tls-key", "--rate", "--burst", "--wallets",
                                        "--transfers", "--queue", NULL};
    static const char *const flags[] = {"--insecure", "--quiet", "--help", NULL};
    if (cli_flag(argc, argv, "--help")) {
        fputs(serve_help, stdout);
        return 0;
    }
    const char *dir = cli_opt(argc, argv, "--data");
    if (cli_check_options(argc, argv, known, flags) != 0 || !dir) {
        fputs(serve_help, stderr);
        return 2;
    }
    /* Block the stop signals in every thread (they inherit the mask) so sigwait gets them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (ensure_initialised(dir, argc, argv) != 0) {
        return 1;
    }
    node *n = NULL;
    char err[1024];
    struct node_options opt = {.dir = dir, .history = true,
                               .queue_max = (uint32_t)cli_opt_u64(argc, argv, "--queue", 0, 1u << 24)};
    if (node_open(&opt, &n, err, sizeof err) != 0) {
        fprintf(stderr, "jiaozi serve: %s\n", err);
        return 1;
    }
    const struct node_recovery *rec = node_recovery_info(n);
    fprintf(stderr, "jiaozi serve: recovered seq %" PRIu64 " (snapshot %" PRIu64 ", %" PRIu64
            " commands replayed) in %.3f s\n", rec->head_seq, rec->snapshot_seq,
            rec->replayed_commands, rec->seconds);
    int rc = serve(n, dir, argc, argv);
    if (node_close(n, true) != 0) {
        fprintf(stderr, "jiaozi serve: the node had failed or the snapshot was not written\n");
        rc = 1;
    }
    return rc;
}
