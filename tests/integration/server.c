/*
 * server.c: see server.h.
 */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "crypto.h"

int srv_json_str(const char *json, const char *key, char *out, size_t out_len)
{
    char pat[80];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = json ? strstr(json, pat) : NULL;
    if (!p) {
        return -1;
    }
    p += strlen(pat);
    const char *end = strchr(p, '"');
    if (!end || (size_t)(end - p) >= out_len) {
        return -1;
    }
    memcpy(out, p, (size_t)(end - p));
    out[end - p] = '\0';
    return 0;
}

long long srv_json_int(const char *json, const char *key)
{
    char pat[80];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = json ? strstr(json, pat) : NULL;
    return p ? strtoll(p + strlen(pat), NULL, 10) : -1;
}

int srv_load_creds(const char *path, struct srv_creds *out)
{
    char buf[2048];
    FILE *f = fopen(path, "r");
    if (!f) {
        return -1;
    }
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    memset(out, 0, sizeof *out);
    if (srv_json_str(buf, "institution", out->institution, sizeof out->institution) != 0 ||
        srv_json_str(buf, "key_id", out->key_id, sizeof out->key_id) != 0 ||
        srv_json_str(buf, "secret", out->secret, sizeof out->secret) != 0) {
        return -1;
    }
    return 0;
}

void srv_new_id(char out[33])
{
    uint8_t b[16];
    crypto_random(b, sizeof b);
    jz_hex_encode(b, sizeof b, out);
}

static int load_url(struct srv *s)
{
    char path[700];
    char buf[2048];
    snprintf(path, sizeof path, "%s/central.json", s->dir);
    FILE *f = fopen(path, "r");
    if (!f) {
        return -1;
    }
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    if (srv_json_str(buf, "url", s->url, sizeof s->url) != 0 ||
        sscanf(s->url, "http://%63[^:]:%d", s->host, &s->port) != 2) {
        return -1;
    }
    return srv_load_creds(path, &s->central);
}

int srv_start(struct srv *s, const char *dir, const char *extra_args)
{
    memset(s, 0, sizeof *s);
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    const char *bin = getenv("JZ_BIN") ? getenv("JZ_BIN") : "build/jiaozi";
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "exec %s serve --data %s --listen 127.0.0.1:0 --quiet %s", bin, dir,
             extra_args ? extra_args : "");
    char path[700];
    snprintf(path, sizeof path, "%s/central.json", dir);
    unlink(path); /* a restart writes it again with the new port */
    s->pid = fork();
    if (s->pid < 0) {
        return -1;
    }
    if (s->pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 300; i++) {
        struct timespec t = {0, 50 * 1000000L};
        nanosleep(&t, NULL);
        int status;
        if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
            s->pid = 0;
            return -1; /* it exited */
        }
        struct srv_response r;
        if (load_url(s) == 0 && srv_call(s, NULL, "GET", "/healthz", NULL, &r) == 200) {
            srv_response_free(&r);
            return 0;
        }
    }
    srv_stop(s, SIGKILL);
    return -1;
}

int srv_stop(struct srv *s, int sig)
{
    int status = -1;
    if (s->pid > 0) {
        kill(s->pid, sig);
        waitpid(s->pid, &status, 0);
        s->pid = 0;
    }
    return status;
}

void srv_response_free(struct srv_response *r)
{
    free(r->body);
    r->body = NULL;
}

static bool omitted(const struct srv_req *q, const char *name)
{
    return q->omit && strstr(q->omit, name) != NULL;
}

/* Builds the request's head into buf; returns its length. */
static int build_head(const struct srv *s, const struct srv_req *q, size_t body_len, char *buf,
                      size_t cap)
{
    char ts[32];
    char nonce[40];
    char sig[65] = "";
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    long long ms = (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000 + q->timestamp_shift_ms;
    snprintf(ts, sizeof ts, "%lld", ms);
    srv_new_id(nonce);
    const char *t = q->timestamp ? q->timestamp : ts;
    const char *n = q->nonce ? q->nonce : nonce;
    if (q->creds) {
        uint8_t secret[32];
        if (jz_hex_decode(q->creds->secret, strlen(q->creds->secret), secret, 32) == 0) {
            auth_sign(secret, q->method, q->path, t, n, q->body ? q->body : "", body_len, sig);
        }
    }
    int len = snprintf(buf, cap, "%s %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n",
                       q->method, q->path, s->host, s->port);
    if (q->body || q->content_type) {
        len += snprintf(buf + len, cap - (size_t)len, "Content-Type: %s\r\n",
                        q->content_type ? q->content_type : "application/json");
    }
    len += snprintf(buf + len, cap - (size_t)len, "Content-Length: %zu\r\n", body_len);
    if (q->creds || q->key) {
        const char *names[4] = {"X-JZ-Key", "X-JZ-Timestamp", "X-JZ-Nonce", "X-JZ-Signature"};
        const char *vals[4] = {q->key ? q->key : (q->creds ? q->creds->key_id : ""), t, n,
                               q->signature ? q->signature : sig};
        for (int i = 0; i < 4; i++) {
            if (!omitted(q, names[i])) {
                len += snprintf(buf + len, cap - (size_t)len, "%s: %s\r\n", names[i], vals[i]);
            }
        }
    }
    len += snprintf(buf + len, cap - (size_t)len, "%s\r\n", q->extra_headers ? q->extra_headers : "");
    return len;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) {
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads until the peer closes (Connection: close), at most 16 MiB. */
static char *read_all(int fd, size_t *len)
{
    size_t cap = 65536;
    char *buf = malloc(cap + 1);
    *len = 0;
    while (buf) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 30000) <= 0) {
            break;
        }
        if (*len == cap) {
            if (cap >= (16u << 20)) {
                break;
            }
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) {
                break;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = recv(fd, buf + *len, cap - *len, 0);
        if (r <= 0) {
            break;
        }
        *len += (size_t)r;
    }
    if (buf) {
        buf[*len] = '\0';
    }
    return buf;
}

static int parse_response(char *raw, size_t len, struct srv_response *out)
{
    memset(out, 0, sizeof *out);
    if (len < 12 || sscanf(raw, "HTTP/1.%*d %d", &out->status) != 1) {
        return -1;
    }
    char *end = strstr(raw, "\r\n\r\n");
    if (!end) {
        return -1;
    }
    const char *ra = strcasestr(raw, "\r\nRetry-After: ");
    if (ra && ra < end) {
        sscanf(ra + 15, "%15[0-9]", out->retry_after);
    }
    size_t head_len = (size_t)(end - raw);
    if (head_len >= sizeof out->headers) {
        head_len = sizeof out->headers - 1;
    }
    memcpy(out->headers, raw, head_len);
    out->headers[head_len] = '\0';
    out->body_len = len - (size_t)(end + 4 - raw);
    out->body = malloc(out->body_len + 1);
    if (!out->body) {
        return -1;
    }
    memcpy(out->body, end + 4, out->body_len);
    out->body[out->body_len] = '\0';
    return 0;
}

int srv_send(const struct srv *s, const struct srv_req *q, struct srv_response *out)
{
    size_t body_len = q->body ? (q->body_len ? q->body_len : strlen(q->body)) : 0;
    char head[8192];
    int hl = build_head(s, q, body_len, head, sizeof head);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    int rc = write_all(fd, head, (size_t)hl);
    if (rc == 0 && body_len) {
        write_all(fd, q->body, body_len); /* the server may refuse before reading it all */
    }
    size_t len = 0;
    char *raw = read_all(fd, &len);
    close(fd);
    rc = raw ? parse_response(raw, len, out) : -1;
    free(raw);
    return rc;
}

int srv_call(const struct srv *s, const struct srv_creds *c, const char *method, const char *path,
             const char *body, struct srv_response *out)
{
    struct srv_req q = {.method = method, .path = path, .body = body, .creds = c};
    struct srv_response r;
    if (srv_send(s, &q, &r) != 0) {
        return -1;
    }
    int status = r.status;
    if (out) {
        *out = r;
    } else {
        srv_response_free(&r);
    }
    return status;
}
