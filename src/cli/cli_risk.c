/*
 * cli_risk.c: `jiaozi audit disclosures` (every identity disclosure step, from the journal)
 * and `jiaozi risk check` (validates a rule file offline, as PUT /v1/risk/rules would).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "disclosure.h"
#include "risk.h"
#include "risk_note.h"

static const char disclosures_help[] =
    "usage: jiaozi audit disclosures --data DIR [--json]\n"
    "Lists every identity disclosure step journalled in DIR: requests (with their legal\n"
    "basis), approvals, refusals (no legal basis, no second approver, wrong role, not\n"
    "approved) and reveals, with the institution that acted and the journal record. Reads\n"
    "the journal only (run it on a stopped node, or on a copy).\n";

struct printer {
    bool json;
    bool first;
};

static void print_step(void *ctx, const struct disclosure_audit_row *r)
{
    struct printer *p = ctx;
    char id[33], wallet[33], when[32];
    jz_id_to_hex(&r->id, id);
    jz_id_to_hex(&r->wallet, wallet);
    time_t secs = (time_t)(r->at / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    const char *reason = disclosure_reason_name(r->reason);
    if (p->json) {
        printf("%s{\"seq\":%" PRIu64 ",\"at\":%lld,\"event\":\"%s\",\"actor\":\"%s\","
               "\"disclosure\":\"%s\",\"wallet\":\"%s\",\"reason\":\"%s\",\"legal_basis\":\"",
               p->first ? "" : ",\n", r->seq, (long long)r->at, disclosure_event_name(r->event),
               r->actor, id, wallet, reason);
        for (const char *c = r->basis; *c; c++) {
            printf(*c == '"' || *c == '\\' ? "\\%c" : (unsigned char)*c < 0x20 ? "?" : "%c", *c);
        }
        printf("\"}");
    } else {
        printf("%-8" PRIu64 " %s  %-9s %-16s %s %s %-18s %s\n", r->seq, when,
               disclosure_event_name(r->event), r->actor, id, wallet, reason[0] ? reason : "-",
               r->basis);
    }
    p->first = false;
}

int cli_audit_disclosures(int argc, char **argv)
{
    static const char *const known[] = {"--data", NULL};
    static const char *const flags[] = {"--json", "--help", NULL};
    if (cli_flag(argc, argv, "--help")) {
        fputs(disclosures_help, stdout);
        return 0;
    }
    const char *dir = cli_opt(argc, argv, "--data");
    if (cli_check_options(argc, argv, known, flags) != 0 || !dir) {
        fputs(disclosures_help, stderr);
        return 2;
    }
    struct printer p = {.json = cli_flag(argc, argv, "--json"), .first = true};
    char err[512];
    if (p.json) {
        printf("[");
    } else {
        printf("%-8s %-20s  %-9s %-16s %-32s %-32s %-18s %s\n", "seq", "time (UTC)", "event",
               "by", "disclosure", "wallet", "reason", "legal basis");
    }
    int64_t n = disclosure_audit(dir, print_step, &p, err, sizeof err);
    if (p.json) {
        printf("]\n");
    }
    if (n < 0) {
        fprintf(stderr, "jiaozi audit disclosures: %s\n", err);
        return 1;
    }
    if (!p.json) {
        printf("%lld disclosure steps\n", (long long)n);
    }
    return 0;
}

static const char risk_help[] =
    "usage: jiaozi risk check FILE\n"
    "Validates a risk rule file (docs/risk.md) as PUT /v1/risk/rules would: prints the rules,\n"
    "windows and settings it holds, or the line and reason it is refused for (exit 1).\n";

int cli_risk(int argc, char **argv)
{
    if (argc != 2 || strcmp(argv[0], "check") != 0) {
        bool help = argc >= 1 && strcmp(argv[argc - 1], "--help") == 0;
        fputs(risk_help, help ? stdout : stderr);
        return help ? 0 : 2;
    }
    FILE *f = fopen(argv[1], "r");
    if (!f) {
        fprintf(stderr, "jiaozi risk: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    char *text = malloc(RISK_FILE_BYTES_MAX + 1);
    size_t len = text ? fread(text, 1, RISK_FILE_BYTES_MAX + 1, f) : 0;
    fclose(f);
    risk_rules *r = NULL;
    struct risk_error e;
    int rc = text ? risk_rules_parse(text, len, &r, &e) : -1;
    free(text);
    if (rc != 0) {
        fprintf(stderr, "jiaozi risk: %s: line %d: %s\n", argv[1], e.line, e.reason);
        return 1;
    }
    int64_t w[RISK_WINDOWS_MAX];
    uint32_t nw = risk_rules_windows(r, w);
    const struct risk_params *p = risk_rules_params(r);
    printf("%s: %u rules, %u velocity windows", argv[1], risk_rules_count(r), nw);
    for (uint32_t i = 0; i < nw; i++) {
        printf("%s%lld s", i ? ", " : " (", (long long)(w[i] / 1000));
    }
    printf("%s; review holds last %lld s; large-value threshold %lld fen\n", nw ? ")" : "",
           (long long)(p->review_hold_ms / 1000), (long long)p->large_value_fen);
    risk_rules_free(r);
    return 0;
}
