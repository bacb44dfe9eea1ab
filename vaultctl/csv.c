/* The audit trail as a spreadsheet reads it (audit export --format csv):
 * one row per audit line, RFC 4180 (CRLF, fields with a comma, quote or
 * line break in double quotes, quotes doubled), UTF-8 with a byte order
 * mark so that spreadsheets open Vietnamese names intact.
 *
 * CSV injection (OWASP): a spreadsheet runs a cell that starts with = + -
 * @ as a formula, and some take TAB or CR before one too. Ids and
 * collections cannot start so today, but user names come from
 * /etc/passwd, and the rule must not depend on that: such a cell is
 * prefixed with a single quote (shown, never run) and quoted. */
#include <inttypes.h>
#include <string.h>

#include "auditview.h"
#include "util.h"

#define BOM          "\xef\xbb\xbf"
#define FORMULA_LEAD "=+-@\t\r"

static void text_cell(FILE *out, const char *s)
{
        bool formula = s && s[0] && strchr(FORMULA_LEAD, s[0]);
        bool quote = formula || (s && strpbrk(s, ",\"\r\n"));

        fputc(',', out);
        if (!s)
                return;
        if (quote)
                fputc('"', out);
        if (formula)
                fputc('\'', out);
        for (; *s; s++) {
                if (*s == '"')
                        fputc('"', out);
                fputc(*s, out);
        }
        if (quote)
                fputc('"', out);
}

static void number_cell(FILE *out, int64_t n)
{
        fputc(',', out);
        if (n >= 0)
                fprintf(out, "%" PRId64, n);
}

static void write_heading(FILE *out, uint64_t at_us)
{
        char zone[ZONE_TEXT_MAX], local[ZONE_TEXT_MAX + 16];

        zone_describe(at_us, zone);
        snprintf(local, sizeof(local), "local time (%s)", zone);
        fputs(BOM "seq", out);
        text_cell(out, local);
        fputs(",UTC time,user,uid,role,operation,collection,id,version,result,error,count\r\n", out);
}

static void write_row(FILE *out, const struct audit_row *row)
{
        char local[LOCAL_TIME_MAX];

        local_format(row->time_us, LOCAL_SECONDS, local);
        fprintf(out, "%" PRIu64, row->seq);
        text_cell(out, local);
        text_cell(out, row->time);
        text_cell(out, row->user);
        number_cell(out, row->uid);
        text_cell(out, row->role);
        text_cell(out, row->op);
        text_cell(out, row->collection);
        text_cell(out, row->id);
        number_cell(out, row->version);
        text_cell(out, row->result);
        text_cell(out, row->error);
        number_cell(out, row->count);
        fputs("\r\n", out);
}

uint64_t csv_write(FILE *out, struct evidence *ev, const struct period *p, const struct audit_filter *f,
                   struct period_span *span)
{
        struct audit_row row;
        uint64_t rows = 0;

        *span = (struct period_span){0};
        write_heading(out, p->has_since ? p->since_us : ev->head_time_us);
        evidence_rewind(ev);
        while (evidence_next(ev, &row) > 0 && !period_past_end(p, row.seq, row.time_us)) {
                span_add(span, &row);
                if (!filter_match(f, &row))
                        continue;
                write_row(out, &row);
                rows++;
        }
        return rows;
}

/* "verified seq A..B; period seq C..D (N lines); filter: …; local time (zone)". */
static void csv_summary(struct ctl *ctl, const char *out, const struct evidence *ev, const struct period *p,
                        const struct audit_filter *f, const struct period_span *span, uint64_t rows)
{
        _cleanup_(freep) char *verdict = evidence_verdict(ev), *filter = filter_describe(f),
                              *shown = escape_string(filter);
        FILE *to = out ? stdout : stderr;
        json_t *o;

        if (ctl->json) {
                if (!out)
                        return;
                o = json_pack("{s:s,s:I,s:o,s:s?}", "file", out, "rows", (json_int_t)rows, "verification",
                              evidence_json(ev), "filter", filter[0] ? filter : NULL);
                json_object_set_new(o, "period_first_seq",
                                    span->any ? json_integer((json_int_t)span->first) : json_null());
                json_object_set_new(o, "period_last_seq",
                                    span->any ? json_integer((json_int_t)span->last) : json_null());
                period_json(o, p, span->first_time_us, span->last_time_us);
                print_json(o);
                json_decref(o);
                return;
        }
        fprintf(to, "%s\n", verdict);
        if (span->any)
                fprintf(to, "period: seq %" PRIu64 "..%" PRIu64 " (%" PRIu64 " audit %s)\n", span->first,
                        span->last, span->lines, plural(span->lines, "line", "lines"));
        else
                fprintf(to, "period: no audit line\n");
        period_summary(to, p, span->first_time_us, span->last_time_us);
        fprintf(to, "filter: %s\n", filter[0] ? shown : "none (every line of the period)");
        fprintf(to, "wrote %" PRIu64 " %s to %s\n", rows, plural(rows, "row", "rows"),
                out ? out : "standard output");
}

int export_csv(struct ctl *ctl, json_t *params, const struct period *p, const struct audit_filter *f,
               const char *key, const char *out, bool force)
{
        struct evidence ev;
        struct period_span span;
        struct output o;
        uint64_t rows;
        FILE *file = stdout;

        evidence_fetch(ctl, params, &(struct export_opts){.vkey = key, .partial = true}, &ev);
        if (!ev.verified) {
                const struct export_report *rep = &ev.rep;
                json_t *why = json_pack("{s:I,s:s}", "line", (json_int_t)rep->bad_line, "reason", rep->why);
                _cleanup_(freep) char *verdict = evidence_verdict(&ev);

                if (rep->bad_seq >= 0)
                        json_object_set_new(why, "seq", json_integer(rep->bad_seq));
                die_error(ERR_NOT_VERIFIED, why,
                          "%s; no CSV was written (keep the vault as it is, and export the JSON Lines "
                          "evidence "
                          "with 'vaultctl audit export -o FILE' for the auditor)",
                          verdict);
        }
        if (out) {
                output_open(&o, out, force);
                file = fdopen(o.fd, "w");
                if (!file)
                        die("cannot create %s: %m", out);
        }
        rows = csv_write(file, &ev, p, f, &span);
        if (fflush(file) != 0 || ferror(file))
                die("cannot write %s: %m", out ? out : "standard output");
        if (out) {
                output_commit(&o);
                if (fclose(file) != 0)
                        die("cannot write %s: %m", out);
        }
        csv_summary(ctl, out, &ev, p, f, &span, rows);
        evidence_done(&ev);
        return EXIT_SUCCESS;
}
