/* The audit report as one self-contained HTML file: inline CSS, inline SVG
 * charts, no script, no font, image or link to fetch, so it opens the same
 * offline, in a mail or on a USB stick, and prints on A4. The trail carries
 * names a caller chose (ids, collections, user names from /etc/passwd):
 * every such text is first made visible (escape.c: controls and bidi
 * overrides as \uNNNN, so nothing reorders what is around it), then
 * HTML-escaped. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "auditproof.h"
#include "report-html.h"
#include "timestamp.h"
#include "util.h"

/* Chart geometry, in SVG user units (the chart scales to the page). */
#define CHART_WIDTH    720
#define CHART_HEIGHT   200
#define CHART_LEFT     48
#define CHART_BOTTOM   28
#define CHART_TOP      12
#define CHART_LABELS   16 /* at most this many dates under the bars */
#define CHART_BAR_MAX  48
#define COLOR_REQUESTS "#2f6fa7"
#define COLOR_DENIED   "#b3261e"

static const char STYLE[] =
        "@page{size:A4;margin:14mm 12mm}"
        "body{font-family:'DejaVu Sans','Noto Sans',Arial,sans-serif;font-size:10pt;color:#111;"
        "max-width:186mm;margin:0 auto;padding:8px}"
        "h1{font-size:17pt;margin:.3em 0}h2{font-size:12.5pt;margin:1.2em 0 .4em;border-bottom:1px solid "
        "#999;"
        "break-after:avoid}"
        ".verdict{font-size:13pt;font-weight:bold;padding:6px 8px;margin:0 0 .5em}"
        ".ok{color:#145a20;border:2px solid #145a20}.bad{color:#b3261e;border:3px solid #b3261e}"
        ".warn{color:#7a4b00}"
        "table{border-collapse:collapse;width:100%;margin:.3em 0}"
        "th,td{border:1px solid #bbb;padding:2px 5px;text-align:left;vertical-align:top}"
        "th{background:#eee}thead{display:table-header-group}tr{break-inside:avoid}"
        ".facts th{width:30%}.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}"
        ".mono{font-family:'DejaVu Sans Mono',monospace;font-size:8pt}.code{white-space:nowrap}"
        ".long{overflow-wrap:anywhere}td{font-size:9pt}.facts{table-layout:fixed}.facts "
        "td{overflow-wrap:anywhere}"
        ".grid{display:flex;flex-wrap:wrap;gap:0 4%}.grid>div{flex:1 1 48%;min-width:60mm}"
        "svg.chart{width:100%;height:auto;break-inside:avoid}"
        ".cosign{overflow-wrap:anywhere}.forged{color:#b3261e;font-weight:bold}"
        ".more,.none{font-style:italic;color:#444}footer{margin-top:2em;font-size:8.5pt;color:#444}";

/* Text for an HTML element or attribute. */
static void html_text(FILE *f, const char *s)
{
        _cleanup_(freep) char *shown = escape_string(s);

        for (const char *p = shown; *p; p++)
                switch (*p) {
                case '&':
                        fputs("&amp;", f);
                        break;
                case '<':
                        fputs("&lt;", f);
                        break;
                case '>':
                        fputs("&gt;", f);
                        break;
                case '"':
                        fputs("&quot;", f);
                        break;
                case '\'':
                        fputs("&#39;", f);
                        break;
                default:
                        fputc(*p, f);
                }
}

static const char *label(const struct audit_report *r, enum label which)
{
        return lang_label(r->lang, which);
}

static void heading(FILE *f, const char *tag, const char *text)
{
        fprintf(f, "<%s>", tag);
        html_text(f, text);
        fprintf(f, "</%s>\n", tag);
}

static void para(FILE *f, const char *cls, const char *text)
{
        fprintf(f, "<p class=\"%s\">", cls);
        html_text(f, text);
        fputs("</p>\n", f);
}

static void fact(FILE *f, const char *name, const char *value, const char *cls)
{
        fputs("<tr><th>", f);
        html_text(f, name);
        fprintf(f, "</th><td%s%s%s>", cls ? " class=\"" : "", cls ? cls : "", cls ? "\"" : "");
        html_text(f, value);
        fputs("</td></tr>\n", f);
}

static void verdict(FILE *f, const struct audit_report *r)
{
        _cleanup_(freep) char *detail = evidence_verdict(r->ev);

        fprintf(f, "<p class=\"verdict %s\" id=\"verdict\">", r->ev->verified ? "ok" : "bad");
        html_text(f, label(r, r->ev->verified ? L_VERIFIED : L_NOT_VERIFIED));
        fputs("</p>\n<p class=\"mono\">", f);
        html_text(f, detail);
        fputs("</p>\n", f);
        if (!r->ev->verified)
                para(f, "bad", label(r, L_NOT_VERIFIED_HINT));
        else if (!r->ev->key)
                para(f, "warn", label(r, L_VERIFIED_SELF));
}

static void period_fact(FILE *f, const struct audit_report *r)
{
        const struct period *p = r->period;
        char a[LANG_TIME_MAX], b[LANG_TIME_MAX], text[2 * LANG_TIME_MAX + 128];

        if (p->has_since || p->has_until) {
                snprintf(text, sizeof(text), "%s – %s",
                         p->has_since ? lang_datetime(r->lang, p->since_us, a) : label(r, L_PERIOD_START),
                         p->has_until ? lang_datetime(r->lang, p->until_us, b) : label(r, L_PERIOD_END));
        } else if (p->has_from || p->has_to) {
                snprintf(text, sizeof(text), "seq %" PRIu64 " – %s", p->has_from ? p->from_seq : 0,
                         p->has_to ? lang_number(r->lang, p->to_seq, a) : label(r, L_PERIOD_END));
        } else
                snprintf(text, sizeof(text), "%s", label(r, L_PERIOD_ALL));
        fact(f, label(r, L_PERIOD), text, NULL);
}

void cosign_describe(const struct audit_report *r, size_t i, char buf[static COSIGN_TEXT_MAX])
{
        const struct witnessed *w = &r->cosigs;
        int verdict = w->items[i].verdict;
        char id[9], when[LANG_TIME_MAX];
        enum label word = verdict == 0         ? L_COSIGN_OK
                          : verdict == -ENOKEY ? L_COSIGN_UNCHECKED
                          : verdict == -ENOENT ? L_COSIGN_MISSING
                                               : L_COSIGN_BAD;

        hex_encode(w->items[i].id, 4, id);
        if (verdict == -ENOENT)
                snprintf(buf, COSIGN_TEXT_MAX, "%s (%s %s): %s", w->items[i].name, label(r, L_COSIGN_KEY),
                         id, label(r, word));
        else
                snprintf(buf, COSIGN_TEXT_MAX, "%s (%s %s), %s %s: %s", w->items[i].name,
                         label(r, L_COSIGN_KEY), id, label(r, L_COSIGN_AT),
                         lang_datetime(r->lang, w->items[i].time * 1000000, when), label(r, word));
}

/* One row per cosignature of the tree's checkpoint; a forged one in red. */
static void cosign_facts(FILE *f, const struct audit_report *r)
{
        char text[COSIGN_TEXT_MAX];

        if (!r->cosigs.any)
                return;
        if (!r->cosigs.n)
                fact(f, label(r, L_COSIGNATURES), label(r, L_COSIGN_NONE), NULL);
        for (size_t i = 0; i < r->cosigs.n; i++) {
                int verdict = r->cosigs.items[i].verdict;

                cosign_describe(r, i, text);
                fact(f, label(r, L_COSIGNATURES), text,
                     verdict == 0                                ? "cosign"
                     : verdict == -EBADMSG || verdict == -ENOENT ? "cosign forged"
                                                                 : "cosign warn");
        }
}

static void facts(FILE *f, const struct audit_report *r)
{
        const struct export_report *rep = &r->ev->rep;
        char zone[ZONE_TEXT_MAX], text[1024], a[LANG_TIME_MAX], b[LANG_TIME_MAX], n[LANG_NUMBER_MAX],
                m[LANG_NUMBER_MAX];
        _cleanup_(freep) char *filter = filter_describe(r->filter);
        const char *key = r->ev->key ? r->ev->key : r->ev->header_key;

        zone_describe(r->span.any ? r->span.first_time_us : r->generated_us, zone);
        heading(f, "h2", label(r, L_FACTS));
        fputs("<table class=\"facts\">\n", f);
        period_fact(f, r);
        fact(f, label(r, L_TIME_ZONE), zone, NULL);
        snprintf(text, sizeof(text), "seq %" PRIu64 " – %" PRIu64 " (%s %s, %s %s)", rep->first_seq,
                 rep->last_seq, lang_number(r->lang, rep->lines, n), label(r, L_LINES),
                 lang_number(r->lang, rep->checkpoints, m), label(r, L_CHECKPOINTS));
        fact(f, label(r, L_VERIFIED_RANGE), text, NULL);
        if (r->span.any)
                snprintf(text, sizeof(text), "seq %" PRIu64 " – %" PRIu64 " (%s %s): %s – %s", r->span.first,
                         r->span.last, lang_number(r->lang, r->span.lines, n), label(r, L_LINES),
                         lang_datetime(r->lang, r->span.first_time_us, a),
                         lang_datetime(r->lang, r->span.last_time_us, b));
        else
                snprintf(text, sizeof(text), "%s", label(r, L_PERIOD_NONE));
        fact(f, label(r, L_PERIOD_RANGE), text, NULL);
        snprintf(text, sizeof(text), "seq %" PRIu64 ", SHA-256 %s", rep->last_seq, r->ev->head_hash);
        fact(f, label(r, L_SIGNED_HEAD), text, "mono");
        if (rep->tree_known) {
                char root[MERKLE_HASH_B64_SIZE];

                auditproof_hash_b64(rep->tree_root, root);
                snprintf(text, sizeof(text), "%s %s, %s%s%s", lang_number(r->lang, rep->tree_size, n),
                         label(r, L_LINES), root, rep->tree_root_signed ? " — " : "",
                         rep->tree_root_signed ? label(r, L_TREE_SIGNED) : "");
                fact(f, label(r, L_TREE), text, "mono");
        }
        cosign_facts(f, r);
        fact(f, label(r, L_HEAD_TIME), lang_datetime(r->lang, r->ev->head_time_us, a), NULL);
        snprintf(text, sizeof(text), "%s %s", key ? key : "", r->ev->key ? "" : label(r, L_KEY_FROM_EXPORT));
        fact(f, label(r, L_VERIFIER_KEY), text, "mono");
        if (rep->key_changes)
                fact(f, label(r, L_KEY_CHANGES), lang_number(r->lang, rep->key_changes, n), NULL);
        if (filter[0])
                snprintf(text, sizeof(text), "%s (%s %s)", filter, lang_number(r->lang, r->matched, n),
                         label(r, L_FILTER_MATCHED));
        fact(f, label(r, L_FILTER), filter[0] ? text : label(r, L_FILTER_NONE), NULL);
        fact(f, label(r, L_GENERATED), lang_datetime(r->lang, r->generated_us, a), NULL);
        fputs("</table>\n", f);
}

/* 2, 4, 10, 20, 40, 100, … at or above n: even, so that the middle line
 * of the axis is a whole number too. */
static uint64_t nice_max(uint64_t n)
{
        uint64_t step = 2;

        for (;;) {
                if (n <= step)
                        return step;
                if (n <= 2 * step)
                        return 2 * step;
                if (n <= 5 * step)
                        return 5 * step;
                step *= 10;
        }
}

static void chart_axis(FILE *f, const struct audit_report *r, uint64_t top, int plot_h)
{
        char n[LANG_NUMBER_MAX];

        for (int i = 0; i <= 2; i++) {
                int y = CHART_TOP + plot_h - plot_h * i / 2;

                fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#ccc\"/>", CHART_LEFT, y,
                        CHART_WIDTH, y);
                fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" font-size=\"11\">%s</text>\n",
                        CHART_LEFT - 4, y + 4, lang_number(r->lang, top * (uint64_t)i / 2, n));
        }
}

/* A bar chart of values per bucket, with the date under every few bars and
 * each bar's own count as its tooltip. */
static void chart(FILE *f, const struct audit_report *r, const uint64_t *values, const char *title,
                  const char *color, const char *id)
{
        const struct buckets *b = &r->chart;
        int plot_w = CHART_WIDTH - CHART_LEFT, plot_h = CHART_HEIGHT - CHART_TOP - CHART_BOTTOM;
        uint64_t top = 0;
        size_t every = b->count / CHART_LABELS + 1;
        char when[32], n[LANG_NUMBER_MAX];
        double w, bar;

        for (size_t i = 0; i < b->count; i++)
                top = values[i] > top ? values[i] : top;
        top = nice_max(top ? top : 1);
        w = (double)plot_w / (double)(b->count ? b->count : 1);
        bar = w * 0.8 < CHART_BAR_MAX ? w * 0.8 : CHART_BAR_MAX;
        heading(f, "h2", title);
        fprintf(f,
                "<svg class=\"chart\" id=\"%s\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
                "role=\"img\" font-family=\"DejaVu Sans, Arial, sans-serif\"><title>",
                id, CHART_WIDTH, CHART_HEIGHT);
        html_text(f, title);
        fputs("</title>\n", f);
        chart_axis(f, r, top, plot_h);
        for (size_t i = 0; i < b->count; i++) {
                double h = (double)plot_h * (double)values[i] / (double)top, x = CHART_LEFT + w * (double)i;

                bucket_label(r, i, when, sizeof(when));
                fprintf(f,
                        "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\"><title>%s: "
                        "%s</title></rect>\n",
                        x + (w - bar) / 2, CHART_TOP + plot_h - h, bar, h, color, when,
                        lang_number(r->lang, values[i], n));
                if (i % every == 0)
                        fprintf(f,
                                "<text x=\"%.2f\" y=\"%d\" text-anchor=\"middle\" "
                                "font-size=\"10\">%s</text>\n",
                                x + w / 2, CHART_HEIGHT - 10, when);
        }
        fputs("</svg>\n", f);
}

static void count_table(FILE *f, const struct audit_report *r, const struct tally *t, enum label title,
                        const char *(*word)(const struct lang *, const char *))
{
        char n[LANG_NUMBER_MAX];

        fputs("<div><table>\n<thead><tr><th>", f);
        html_text(f, label(r, title));
        fputs("</th><th class=\"num\">", f);
        html_text(f, label(r, L_REQUESTS));
        fputs("</th></tr></thead>\n<tbody>\n", f);
        for (size_t i = 0; i < t->count; i++) {
                const char *shown = word ? word(r->lang, t->items[i].name) : NULL;

                fputs("<tr><td>", f);
                html_text(f, shown ? shown : t->items[i].name ? t->items[i].name : label(r, L_UNKNOWN));
                fprintf(f, "</td><td class=\"num\">%s</td></tr>\n", lang_number(r->lang, t->items[i].n, n));
        }
        fputs("</tbody></table></div>\n", f);
}

static const char *string_member(json_t *o, const char *name)
{
        return json_string_value(json_object_get(o, name));
}

/* "collection/id" of a line, or "". */
static void record_cell(FILE *f, json_t *line)
{
        const char *c = string_member(line, "collection"), *id = string_member(line, "id");

        fputs("<td class=\"mono long\">", f);
        if (c)
                html_text(f, c);
        if (c && id)
                fputc('/', f);
        if (id)
                html_text(f, id);
        fputs("</td>", f);
}

static uint64_t line_time_us_of(json_t *line)
{
        uint64_t us;

        return timestamp_parse_utc(string_member(line, "time"), &us) == 0 ? us : 0;
}

static void time_cell(FILE *f, const struct audit_report *r, json_t *line)
{
        char t[LANG_TIME_MAX];

        fprintf(f, "<td class=\"num\">%s</td>", lang_datetime(r->lang, line_time_us_of(line), t));
}

static void user_cell(FILE *f, const struct audit_report *r, json_t *line)
{
        json_t *actor = json_object_get(line, "actor");
        const char *user = string_member(actor, "user"), *role = string_member(actor, "role");
        const char *role_word = lang_role(r->lang, role);

        fputs("<td class=\"long\">", f);
        html_text(f, user ? user : label(r, L_UNKNOWN));
        fprintf(f, " (uid %" JSON_INTEGER_FORMAT ")<br>", json_integer_value(json_object_get(actor, "uid")));
        html_text(f, role_word ? role_word : role);
        fputs("</td>", f);
}

static void table_head(FILE *f, const struct audit_report *r, const enum label *cols, size_t n)
{
        fputs("<table>\n<thead><tr>", f);
        for (size_t i = 0; i < n; i++) {
                fputs("<th>", f);
                html_text(f, label(r, cols[i]));
                fputs("</th>", f);
        }
        fputs("</tr></thead>\n<tbody>\n", f);
}

static void table_end(FILE *f, const struct audit_report *r, const struct row_list *list)
{
        char n[LANG_NUMBER_MAX];

        fputs("</tbody></table>\n", f);
        if (list->total > json_array_size(list->rows)) {
                fprintf(f, "<p class=\"more\">+ %s ",
                        lang_number(r->lang, list->total - json_array_size(list->rows), n));
                html_text(f, label(r, L_MORE_ROWS));
                fputs("</p>\n", f);
        }
}

static bool section_empty(FILE *f, const struct audit_report *r, const struct row_list *list,
                          enum label title)
{
        heading(f, "h2", label(r, title));
        if (list->total)
                return false;
        para(f, "none", label(r, L_NONE_IN_PERIOD));
        return true;
}

static void seq_cell(FILE *f, json_t *line)
{
        fprintf(f, "<td class=\"num\">%" JSON_INTEGER_FORMAT "</td>",
                json_integer_value(json_object_get(line, "seq")));
}

static void denied_table(FILE *f, const struct audit_report *r)
{
        static const enum label cols[] = {L_COL_SEQ,    L_COL_TIME,  L_COL_USER, L_COL_OP,
                                          L_COL_RECORD, L_COL_ERROR, L_COL_COUNT};
        char n[LANG_NUMBER_MAX];
        json_t *line;
        size_t i;

        if (section_empty(f, r, &r->denied, L_DENIED_REQUESTS))
                return;
        table_head(f, r, cols, ELEMENTSOF(cols));
        json_array_foreach(r->denied.rows, i, line)
        {
                json_t *count = json_object_get(line, "first") ? json_object_get(line, "count") : NULL;

                fputs("<tr>", f);
                seq_cell(f, line);
                time_cell(f, r, line);
                user_cell(f, r, line);
                fputs("<td class=\"mono code\">", f);
                html_text(f, string_member(line, "op"));
                fputs("</td>", f);
                record_cell(f, line);
                fputs("<td>", f);
                html_text(f, string_member(line, "error"));
                fprintf(f, "</td><td class=\"num\">%s",
                        lang_number(r->lang, count ? (uint64_t)json_integer_value(count) : 1, n));
                if (count) {
                        fputs(" ", f);
                        html_text(f, label(r, L_DENIAL_SUMMARY));
                }
                fputs("</td></tr>\n", f);
        }
        table_end(f, r, &r->denied);
}

/* A line's own fields beyond the common ones: "kek_version=2; rewrapped=10". */
static void details_cell(FILE *f, json_t *line)
{
        static const char *const common[] = {"seq", "time",    "actor",  "op",    "collection",
                                             "id",  "version", "result", "error", "prev"};
        const char *key;
        json_t *v;
        bool first = true;

        fputs("<td class=\"mono long\">", f);
        json_object_foreach(line, key, v)
        {
                bool skip = false;
                _cleanup_(freep) char *text = NULL;

                for (size_t i = 0; i < ELEMENTSOF(common); i++)
                        skip = skip || strcmp(key, common[i]) == 0;
                if (skip)
                        continue;
                text = json_is_string(v) ? strdup(json_string_value(v))
                                         : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
                fputs(first ? "" : "; ", f);
                html_text(f, key);
                fputc('=', f);
                html_text(f, text ? text : "");
                first = false;
        }
        fputs("</td>", f);
}

static void admin_table(FILE *f, const struct audit_report *r)
{
        static const enum label cols[] = {L_COL_SEQ, L_COL_TIME,   L_COL_USER,
                                          L_COL_OP,  L_COL_RESULT, L_COL_DETAILS};
        json_t *line;
        size_t i;

        if (section_empty(f, r, &r->admin, L_ADMIN_ACTIONS))
                return;
        table_head(f, r, cols, ELEMENTSOF(cols));
        json_array_foreach(r->admin.rows, i, line)
        {
                const char *result = string_member(line, "result"), *error = string_member(line, "error");

                fputs("<tr>", f);
                seq_cell(f, line);
                time_cell(f, r, line);
                user_cell(f, r, line);
                fputs("<td class=\"mono code\">", f);
                html_text(f, string_member(line, "op"));
                fputs("</td><td>", f);
                html_text(f, lang_result(r->lang, result) ?: result);
                if (error) {
                        fputs(" (", f);
                        html_text(f, error);
                        fputs(")", f);
                }
                fputs("</td>", f);
                details_cell(f, line);
                fputs("</tr>\n", f);
        }
        table_end(f, r, &r->admin);
}

static void records_table(FILE *f, const struct audit_report *r)
{
        static const enum label cols[] = {L_COL_SEQ,    L_COL_TIME,   L_COL_USER,
                                          L_COL_CHANGE, L_COL_RECORD, L_COL_VERSION};
        char a[LANG_NUMBER_MAX], b[LANG_NUMBER_MAX], c[LANG_NUMBER_MAX], d[LANG_NUMBER_MAX];
        json_t *line;
        size_t i;

        if (section_empty(f, r, &r->records, L_RECORD_CHANGES))
                return;
        fprintf(f, "<p>%s: %s · %s: %s · %s: %s · %s: %s</p>\n", label(r, L_CREATED),
                lang_number(r->lang, r->created, a), label(r, L_CHANGED),
                lang_number(r->lang, r->changed, b), label(r, L_DELETED),
                lang_number(r->lang, r->deleted, c), label(r, L_DISPOSED),
                lang_number(r->lang, r->disposed, d));
        table_head(f, r, cols, ELEMENTSOF(cols));
        json_array_foreach(r->records.rows, i, line)
        {
                struct audit_row row = {.op = string_member(line, "op"),
                                        .result = string_member(line, "result"),
                                        .version = json_integer_value(json_object_get(line, "version"))};
                int change = record_change(&row);

                fputs("<tr>", f);
                seq_cell(f, line);
                time_cell(f, r, line);
                user_cell(f, r, line);
                fputs("<td>", f);
                html_text(f, change >= 0 ? label(r, (enum label)change) : "");
                fputs("</td>", f);
                record_cell(f, line);
                fprintf(f, "<td class=\"num\">%" JSON_INTEGER_FORMAT "</td></tr>\n",
                        json_integer_value(json_object_get(line, "version")));
        }
        table_end(f, r, &r->records);
}

void report_html(FILE *f, const struct audit_report *r)
{
        bool monthly = r->chart.monthly;

        fprintf(f, "<!DOCTYPE html>\n<html lang=\"%s\">\n<head>\n<meta charset=\"utf-8\">\n<title>",
                r->lang->code);
        html_text(f, label(r, L_TITLE));
        fprintf(f, "</title>\n<style>%s</style>\n</head>\n<body>\n", STYLE);
        /* The verdict comes first: it is what a reader must see before
         * anything else, in red when the trail does not verify. */
        verdict(f, r);
        heading(f, "h1", label(r, L_TITLE));
        facts(f, r);
        chart(f, r, r->chart.requests, label(r, monthly ? L_ACTIVITY_PER_MONTH : L_ACTIVITY_PER_DAY),
              COLOR_REQUESTS, "activity");
        chart(f, r, r->chart.denied, label(r, monthly ? L_DENIALS_PER_MONTH : L_DENIALS_PER_DAY),
              COLOR_DENIED, "denials");
        heading(f, "h2", label(r, L_COUNTS));
        fputs("<div class=\"grid\">\n", f);
        count_table(f, r, &r->ops, L_BY_OP, NULL);
        count_table(f, r, &r->results, L_BY_RESULT, lang_result);
        count_table(f, r, &r->roles, L_BY_ROLE, lang_role);
        count_table(f, r, &r->users, L_BY_USER, NULL);
        fputs("</div>\n", f);
        denied_table(f, r);
        admin_table(f, r);
        records_table(f, r);
        fputs("<footer><p>", f);
        html_text(f, label(r, L_HOW_TO_CHECK));
        fprintf(f, "</p><p>vaultctl %s</p></footer>\n</body>\n</html>\n", VAULTD_VERSION);
}
