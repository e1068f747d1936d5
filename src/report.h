/*
 * report.h: the daily reports to the central institution (DESIGN.md §6; schemas in
 * docs/risk.md): large-value transactions (holders whose money in or out in one UTC+8 day
 * reached the threshold, default 50,000 CNY) and suspicious transactions (alerts an analyst
 * closed as closed_suspicious that day, with their evidence).
 *
 * Each is written as DIR/reports/<kind>-YYYY-MM-DD.json and .csv (written to a temporary
 * name, synced and renamed), and served as the same JSON by the API. Reports read
 * store_alerts; they write nothing else.
 */
#ifndef JZ_REPORT_H
#define JZ_REPORT_H

#include "json.h"
#include "store_alerts.h"

enum report_kind { REPORT_LARGE_VALUE = 1, REPORT_SUSPICIOUS = 2 };

/* Rows a report holds at most; past it the report says "truncated": true. */
#define REPORT_ROWS_MAX 100000

/* An institution's id by index ("" when unknown). */
typedef const char *(*report_name_fn)(void *ctx, int32_t index);

struct report_ctx {
    alert_store *store;
    int64_t large_value_fen; /* the threshold in force */
    report_name_fn name;
    void *name_ctx;
};

const char *report_kind_name(int kind);
/* 0 for an unknown name ("large_value", "suspicious"). */
int report_kind_parse(const char *s);

/* An alert's members (no braces): id, kind, severity, status, subject, operator, raised_at,
 * updated_at, closed_at (null while open), assignee (null when none), seq, params and
 * evidence. The API's alerts and the suspicious report's rows are written with it. */
void report_write_alert(struct jbuf *b, const struct alert_row *a, const char *operator_id);

/* The report as JSON into out. 0, or -1 when the store cannot be read. */
int report_json(const struct report_ctx *c, int kind, int32_t day, int64_t now_ms,
                struct jbuf *out);
/* Writes both kinds, JSON and CSV, for a day into dir/reports/. 0, or -1 with err set. */
int report_write_files(const struct report_ctx *c, const char *dir, int32_t day,
                       int64_t now_ms, char *err, size_t err_len);

#endif
