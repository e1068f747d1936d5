/*
 * report.c: large-value and suspicious-transaction reports (see report.h).
 */
#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

const char *report_kind_name(int kind)
{
    return kind == REPORT_LARGE_VALUE ? "large_value" : kind == REPORT_SUSPICIOUS ? "suspicious"
                                                                                 : "";
}

int report_kind_parse(const char *s)
{
    return strcmp(s, "large_value") == 0 ? REPORT_LARGE_VALUE
         : strcmp(s, "suspicious") == 0 ? REPORT_SUSPICIOUS : 0;
}

static const char *name_of(const struct report_ctx *c, int32_t index)
{
    const char *n = c->name && index >= 0 ? c->name(c->name_ctx, index) : "";
    return n ? n : "";
}

/* ---- Rows ---- */

struct rows {
    int n;
    bool truncated;
    struct large_value_row *lv;
    struct alert_row *al;
};

static int load(const struct report_ctx *c, int kind, int32_t day, struct rows *r)
{
    memset(r, 0, sizeof *r);
    if (kind == REPORT_LARGE_VALUE) {
        r->lv = calloc(REPORT_ROWS_MAX + 1, sizeof *r->lv);
        r->n = r->lv ? alert_store_large_values(c->store, day, r->lv, REPORT_ROWS_MAX + 1) : -1;
    } else {
        r->al = calloc(REPORT_ROWS_MAX + 1, sizeof *r->al);
        r->n = r->al ? alert_store_suspicious(c->store, day, r->al, REPORT_ROWS_MAX + 1) : -1;
    }
    if (r->n > REPORT_ROWS_MAX) {
        r->n = REPORT_ROWS_MAX;
        r->truncated = true;
    }
    return r->n < 0 ? -1 : 0;
}

static void rows_free(struct rows *r)
{
    free(r->lv);
    free(r->al);
}

static void json_large_value(const struct report_ctx *c, const struct large_value_row *v,
                             struct jbuf *b)
{
    jb_lit(b, "{\"holder\":");
    jb_id(b, &v->holder);
    jb_lit(b, ",\"operator\":");
    jb_cstr(b, name_of(c, v->operator_index));
    jb_lit(b, ",\"in_fen\":");
    jb_int(b, v->in_fen);
    jb_lit(b, ",\"out_fen\":");
    jb_int(b, v->out_fen);
    jb_lit(b, ",\"in_count\":");
    jb_int(b, v->in_count);
    jb_lit(b, ",\"out_count\":");
    jb_int(b, v->out_count);
    jb_lit(b, ",\"last_at\":");
    jb_int(b, v->last_at);
    jb_lit(b, "}");
}

void report_write_alert(struct jbuf *b, const struct alert_row *a, const char *operator_id)
{
    struct field {
        const char *key;
        const jz_id *id;
        const char *text; /* NULL: a number (or null when zero and nullable) */
        int64_t number;
        bool nullable;
    } fields[] = {
        {"id", &a->id, NULL, 0, false},
        {"kind", NULL, alert_kind_name(a->kind), 0, false},
        {"severity", NULL, alert_severity_name(a->severity), 0, false},
        {"status", NULL, alert_status_name(a->status), 0, false},
        {"subject", &a->subject, NULL, 0, false},
        {"operator", NULL, operator_id, 0, false},
        {"raised_at", NULL, NULL, a->raised_at, false},
        {"updated_at", NULL, NULL, a->updated_at, false},
        {"closed_at", NULL, NULL, a->closed_at, true},
        {"assignee", NULL, a->assignee[0] ? a->assignee : NULL, 0, true},
        {"seq", NULL, NULL, (int64_t)a->seq, false},
        {"params", NULL, a->params, 0, false},
    };
    for (size_t i = 0; i < JZ_ARRAY_LEN(fields); i++) {
        const struct field *f = &fields[i];
        jb_key(b, f->key, i == 0);
        if (f->id) {
            jb_id(b, f->id);
        } else if (f->text) {
            jb_cstr(b, f->text);
        } else if (f->nullable && f->number == 0) {
            jb_lit(b, "null");
        } else {
            jb_int(b, f->number);
        }
    }
    jb_lit(b, ",\"evidence\":[");
    for (uint32_t i = 0; i < a->nevidence; i++) {
        if (i) {
            jb_lit(b, ",");
        }
        jb_id(b, &a->evidence[i]);
    }
    jb_lit(b, "]");
}

int report_json(const struct report_ctx *c, int kind, int32_t day, int64_t now_ms,
                struct jbuf *b)
{
    struct rows r;
    if (load(c, kind, day, &r) != 0) {
        rows_free(&r);
        return -1;
    }
    char date[11];
    jz_date_of_day(day, date);
    jb_lit(b, "{\"report\":");
    jb_cstr(b, report_kind_name(kind));
    jb_lit(b, ",\"date\":");
    jb_cstr(b, date);
    if (kind == REPORT_LARGE_VALUE) {
        jb_lit(b, ",\"threshold_fen\":");
        jb_int(b, c->large_value_fen);
    }
    jb_lit(b, ",\"generated_at\":");
    jb_int(b, now_ms);
    jb_lit(b, r.truncated ? ",\"truncated\":true,\"rows\":[" : ",\"truncated\":false,\"rows\":[");
    for (int i = 0; i < r.n; i++) {
        if (i) {
            jb_lit(b, ",");
        }
        if (kind == REPORT_LARGE_VALUE) {
            json_large_value(c, &r.lv[i], b);
        } else {
            jb_lit(b, "{");
            report_write_alert(b, &r.al[i], name_of(c, r.al[i].operator_index));
            jb_lit(b, "}");
        }
    }
    jb_lit(b, "]}\n");
    rows_free(&r);
    return b->failed ? -1 : 0;
}

/* ---- CSV ---- */

/* A CSV field: quoted, with quotes doubled. */
static void csv_field(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') {
            fputc('"', f);
        }
        fputc(*s, f);
    }
    fputc('"', f);
}

static void csv_rows(const struct report_ctx *c, int kind, const char *date, const struct rows *r,
                     FILE *f)
{
    char hex[33];
    if (kind == REPORT_LARGE_VALUE) {
        fputs("date,holder,operator,in_fen,out_fen,in_count,out_count,last_at\n", f);
        for (int i = 0; i < r->n; i++) {
            const struct large_value_row *v = &r->lv[i];
            jz_id_to_hex(&v->holder, hex);
            fprintf(f, "%s,%s,%s,%lld,%lld,%u,%u,%lld\n", date, hex, name_of(c, v->operator_index),
                    (long long)v->in_fen, (long long)v->out_fen, v->in_count, v->out_count,
                    (long long)v->last_at);
        }
        return;
    }
    fputs("date,alert,kind,severity,subject,operator,raised_at,closed_at,assignee,evidence,params\n",
          f);
    for (int i = 0; i < r->n; i++) {
        const struct alert_row *a = &r->al[i];
        char subject[33];
        jz_id_to_hex(&a->id, hex);
        jz_id_to_hex(&a->subject, subject);
        fprintf(f, "%s,%s,%s,%s,%s,%s,%lld,%lld,", date, hex, alert_kind_name(a->kind),
                alert_severity_name(a->severity), subject, name_of(c, a->operator_index),
                (long long)a->raised_at, (long long)a->closed_at);
        csv_field(f, a->assignee);
        fputc(',', f);
        for (uint32_t k = 0; k < a->nevidence; k++) {
            jz_id_to_hex(&a->evidence[k], hex);
            fprintf(f, "%s%s", k ? ";" : "", hex);
        }
        fputc(',', f);
        csv_field(f, a->params);
        fputc('\n', f);
    }
}

/* Writes what fill produces to path through a synced temporary file and a rename. */
static int publish(const char *path, const struct report_ctx *c, int kind, int32_t day,
                   int64_t now_ms, bool csv, char *err, size_t err_len)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    int rc = f ? 0 : -1;
    if (f && csv) {
        struct rows r;
        char date[11];
        jz_date_of_day(day, date);
        rc = load(c, kind, day, &r);
        if (rc == 0) {
            csv_rows(c, kind, date, &r, f);
        }
        rows_free(&r);
    } else if (f) {
        struct jbuf b;
        jb_init(&b);
        rc = report_json(c, kind, day, now_ms, &b);
        if (rc == 0 && fwrite(b.p, 1, b.len, f) != b.len) {
            rc = -1;
        }
        jb_free(&b);
    }
    if (f && (fflush(f) != 0 || fsync(fileno(f)) != 0)) {
        rc = -1;
    }
    if (f && fclose(f) != 0) {
        rc = -1;
    }
    if (rc != 0 || rename(tmp, path) != 0) {
        snprintf(err, err_len, "%s: %s", path, errno ? strerror(errno) : "cannot be written");
        unlink(tmp);
        return -1;
    }
    return 0;
}

int report_write_files(const struct report_ctx *c, const char *dir, int32_t day,
                       int64_t now_ms, char *err, size_t err_len)
{
    char rdir[4096];
    char path[4150];
    char date[11];
    snprintf(rdir, sizeof rdir, "%s/reports", dir);
    if (mkdir(rdir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, err_len, "%s: %s", rdir, strerror(errno));
        return -1;
    }
    jz_date_of_day(day, date);
    for (int kind = REPORT_LARGE_VALUE; kind <= REPORT_SUSPICIOUS; kind++) {
        for (int csv = 0; csv < 2; csv++) {
            snprintf(path, sizeof path, "%s/%s-%s.%s", rdir, report_kind_name(kind), date,
                     csv ? "csv" : "json");
            if (publish(path, c, kind, day, now_ms, csv, err, err_len) != 0) {
                return -1;
            }
        }
    }
    int fd = open(rdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd); /* the renames */
        close(fd);
    }
    return 0;
}
