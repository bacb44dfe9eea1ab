/* vaultctl audit report: the audit trail of a period as one HTML file a
 * person who does not write code can read and sign, and a short summary on
 * the terminal. It exports exactly what `audit export` exports, verifies
 * the whole range first (the key given with --key), and only then counts.
 * A trail that does not verify still gets a report, whose first line says
 * so in red, and vaultctl exits with 3. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "auditproof.h"
#include "report-html.h"
#include "util.h"

enum {
        OPT_FORCE = OPT_COMMAND,
        OPT_KEY,
        OPT_LANG,
        OPT_WITNESS,
};

struct report_args {
        const char *out;
        bool force;
        const char *key;
        const struct lang *lang;
        struct period period;
        struct audit_filter filter;
        struct witness_opts wit; /* --witness: whose cosignatures to check */
};

static void report_parse(struct ctl *ctl, int argc, char **argv, struct report_args *a)
{
        static const struct option opts[] = {
                {"output", required_argument, NULL, 'o'},
                {"force", no_argument, NULL, OPT_FORCE},
                {"key", required_argument, NULL, OPT_KEY},
                {"lang", required_argument, NULL, OPT_LANG},
                {"witness", required_argument, NULL, OPT_WITNESS},
                {"since", required_argument, NULL, OPT_SINCE},
                {"until", required_argument, NULL, OPT_UNTIL},
                {"from", required_argument, NULL, OPT_FROM_SEQ},
                {"from-seq", required_argument, NULL, OPT_FROM_SEQ},
                {"to", required_argument, NULL, OPT_TO_SEQ},
                {"to-seq", required_argument, NULL, OPT_TO_SEQ},
                {"user", required_argument, NULL, OPT_USER},
                {"role", required_argument, NULL, OPT_ROLE},
                {"collection", required_argument, NULL, OPT_COLLECTION},
                {"id", required_argument, NULL, OPT_ID},
                {"op", required_argument, NULL, OPT_OP},
                {"result", required_argument, NULL, OPT_RESULT},
                {},
        };
        int c;

        a->lang = lang_default();
        while ((c = ctl_getopt(ctl, argc, argv, "o:", opts)) != -1) {
                if (c == 'o')
                        a->out = optarg;
                else if (c == OPT_FORCE)
                        a->force = true;
                else if (c == OPT_KEY)
                        a->key = optarg;
                else if (c == OPT_WITNESS)
                        witness_option(ctl, &a->wit, optarg);
                else if (c == OPT_LANG && !(a->lang = lang_find(optarg)))
                        die_usage(ctl, "--lang is vi (Vietnamese) or en (English), not '%s'", optarg);
                else if (c >= OPT_PERIOD && c < OPT_PERIOD_END)
                        period_option(ctl, &a->period, c, optarg);
                else if (c >= OPT_FILTER && c < OPT_FILTER_END)
                        filter_option(ctl, &a->filter, c, optarg);
        }
        ctl_positional(ctl, argc, argv, 0, 0);
        if (!a->out)
                die_usage(ctl,
                          "the report is an HTML file: give -o FILE (for example -o report-2026-11.html)");
        period_check(ctl, &a->period);
}

static void tally_add(struct tally *t, const char *name, uint64_t n)
{
        for (size_t i = 0; i < t->count; i++)
                if ((!name && !t->items[i].name) ||
                    (name && t->items[i].name && strcmp(name, t->items[i].name) == 0)) {
                        t->items[i].n += n;
                        return;
                }
        if (t->count == t->cap) {
                size_t cap = t->cap ? t->cap * 2 : 16;
                struct tally_entry *bigger = realloc(t->items, cap * sizeof(*bigger));

                if (!bigger)
                        die("out of memory");
                t->items = bigger;
                t->cap = cap;
        }
        t->items[t->count] = (struct tally_entry){.name = name ? strdup(name) : NULL, .n = n};
        if (name && !t->items[t->count].name)
                die("out of memory");
        t->count++;
}

static int by_count(const void *a, const void *b)
{
        const struct tally_entry *x = a, *y = b;

        if (x->n != y->n)
                return x->n < y->n ? 1 : -1;
        return strcmp(x->name ? x->name : "", y->name ? y->name : "");
}

static void tally_free(struct tally *t)
{
        for (size_t i = 0; i < t->count; i++)
                free(t->items[i].name);
        free(t->items);
}

static int64_t bucket_key(bool monthly, uint64_t us)
{
        struct tm tm;

        local_tm(us, &tm);
        if (monthly)
                return (int64_t)(tm.tm_year + 1900) * 12 + tm.tm_mon;
        return days_from_civil(tm.tm_year + 1900, (unsigned)tm.tm_mon + 1, (unsigned)tm.tm_mday);
}

/* The chart spans the period asked for (up to now), else the lines' own
 * times; a day a month long has a bar per day. */
static void buckets_init(struct audit_report *r, uint64_t min_us, uint64_t max_us)
{
        const struct period *p = r->period;
        uint64_t start = p->has_since ? p->since_us : min_us, end = max_us;
        struct buckets *b = &r->chart;

        if (p->has_until)
                end = p->until_us - 1 < r->generated_us ? p->until_us - 1 : r->generated_us;
        if (end < max_us)
                end = max_us;
        if (start > min_us && r->span.any)
                start = min_us;
        b->monthly = bucket_key(false, end) - bucket_key(false, start) >= REPORT_DAYS_MAX;
        b->first = bucket_key(b->monthly, start);
        b->count = (size_t)(bucket_key(b->monthly, end) - b->first + 1);
        /* Only an export that does not verify can span centuries; its
         * report still fits on a page (the rest goes to the last bar). */
        if (b->count > REPORT_MONTHS_MAX)
                b->count = REPORT_MONTHS_MAX;
        b->requests = calloc(b->count, sizeof(uint64_t));
        b->denied = calloc(b->count, sizeof(uint64_t));
        if (!b->requests || !b->denied)
                die("out of memory");
}

static void buckets_add(struct buckets *b, const struct audit_row *row, bool denied)
{
        int64_t i = bucket_key(b->monthly, row->time_us) - b->first;

        /* A clock stepped back puts a line before the first bar: count it
         * in the nearest. */
        if (i < 0)
                i = 0;
        if ((size_t)i >= b->count)
                i = (int64_t)b->count - 1;
        b->requests[i] += (uint64_t)row->count;
        if (denied)
                b->denied[i] += (uint64_t)row->count;
}

void bucket_label(const struct audit_report *r, size_t i, char *buf, size_t size)
{
        int64_t key = r->chart.first + (int64_t)i, z, era, doe, yoe, y, doy, mp, d, m;
        bool day_first = r->lang->day_first;

        if (r->chart.monthly) {
                y = key / 12, m = key % 12 + 1;
                snprintf(buf, size, day_first ? "%02" PRId64 "/%04" PRId64 : "%2$04" PRId64 "-%1$02" PRId64,
                         m, y);
                return;
        }
        /* civil_from_days */
        z = key + 719468;
        era = (z >= 0 ? z : z - 146096) / 146097;
        doe = z - era * 146097;
        yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        y = yoe + era * 400;
        doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        mp = (5 * doy + 2) / 153;
        d = doy - (153 * mp + 2) / 5 + 1;
        m = mp < 10 ? mp + 3 : mp - 9;
        (void)y;
        snprintf(buf, size, day_first ? "%02" PRId64 "/%02" PRId64 : "%2$02" PRId64 "-%1$02" PRId64, d, m);
}

int record_change(const struct audit_row *row)
{
        if (!row->op || !row->result || strcmp(row->result, "ok") != 0)
                return -1;
        if (strcmp(row->op, "records.put") == 0)
                return row->version == 1 ? L_CREATED : L_CHANGED;
        if (strcmp(row->op, "records.delete") == 0)
                return L_DELETED;
        if (strcmp(row->op, "records.dispose") == 0)
                return L_DISPOSED;
        return -1;
}

static void keep_row(struct row_list *list, const struct audit_row *row)
{
        if (list->total++ < REPORT_TABLE_ROWS_MAX)
                json_array_append(list->rows, row->obj);
}

static bool is_admin_action(const struct audit_row *row)
{
        return row->op && (strncmp(row->op, "admin.", 6) == 0 || strncmp(row->op, "vault.", 6) == 0);
}

static void count_row(struct audit_report *r, const struct audit_row *row)
{
        bool denied = row->result && strcmp(row->result, "denied") == 0;
        int change = record_change(row);

        r->matched++;
        r->requests += (uint64_t)row->count;
        tally_add(&r->ops, row->op, (uint64_t)row->count);
        tally_add(&r->roles, row->role, (uint64_t)row->count);
        tally_add(&r->users, row->user, (uint64_t)row->count);
        tally_add(&r->results, row->result, (uint64_t)row->count);
        buckets_add(&r->chart, row, denied);
        if (denied) {
                r->denied_requests += (uint64_t)row->count;
                keep_row(&r->denied, row);
        }
        if (is_admin_action(row))
                keep_row(&r->admin, row);
        if (change < 0)
                return;
        keep_row(&r->records, row);
        r->created += change == L_CREATED;
        r->changed += change == L_CHANGED;
        r->deleted += change == L_DELETED;
        r->disposed += change == L_DISPOSED;
}

/* Two passes over the verified export: the period's extent (for the
 * charts' axis), then the counts of the lines that pass the filter. */
static void report_collect(struct audit_report *r)
{
        uint64_t min_us = UINT64_MAX, max_us = 0;
        struct audit_row row;

        evidence_rewind(r->ev);
        while (evidence_next(r->ev, &row) > 0 && !period_past_end(r->period, row.seq, row.time_us)) {
                span_add(&r->span, &row);
                min_us = row.time_us < min_us ? row.time_us : min_us;
                max_us = row.time_us > max_us ? row.time_us : max_us;
        }
        if (!r->span.any)
                min_us = max_us = r->period->has_since ? r->period->since_us : r->generated_us;
        buckets_init(r, min_us, max_us);
        r->denied.rows = json_array();
        r->admin.rows = json_array();
        r->records.rows = json_array();
        evidence_rewind(r->ev);
        while (evidence_next(r->ev, &row) > 0 && !period_past_end(r->period, row.seq, row.time_us))
                if (filter_match(r->filter, &row))
                        count_row(r, &row);
        qsort(r->ops.items, r->ops.count, sizeof(struct tally_entry), by_count);
        qsort(r->roles.items, r->roles.count, sizeof(struct tally_entry), by_count);
        qsort(r->users.items, r->users.count, sizeof(struct tally_entry), by_count);
        qsort(r->results.items, r->results.count, sizeof(struct tally_entry), by_count);
}

static void report_free(struct audit_report *r)
{
        tally_free(&r->ops);
        tally_free(&r->roles);
        tally_free(&r->users);
        tally_free(&r->results);
        free(r->chart.requests);
        free(r->chart.denied);
        json_decref(r->denied.rows);
        json_decref(r->admin.rows);
        json_decref(r->records.rows);
        witnessed_done(&r->cosigs);
}

static void write_report(const struct report_args *a, const struct audit_report *r)
{
        struct output o;
        FILE *f;

        output_open(&o, a->out, a->force);
        f = fdopen(o.fd, "w");
        if (!f)
                die("cannot create %s: %m", a->out);
        report_html(f, r);
        if (fflush(f) != 0 || ferror(f))
                die("cannot write %s: %m", a->out);
        output_commit(&o);
        if (fclose(f) != 0)
                die("cannot write %s: %m", a->out);
}

static void show_cosignatures(const struct audit_report *r)
{
        char text[COSIGN_TEXT_MAX];

        if (!r->cosigs.any)
                return;
        if (!r->cosigs.n)
                printf("%s: %s\n", lang_label(r->lang, L_COSIGNATURES), lang_label(r->lang, L_COSIGN_NONE));
        for (size_t i = 0; i < r->cosigs.n; i++) {
                _cleanup_(freep) char *shown = NULL;

                cosign_describe(r, i, text);
                shown = escape_string(text);
                printf("%s: %s\n", lang_label(r->lang, L_COSIGNATURES), shown);
        }
}

/* {size, witnesses: [{name, key_id, time?, cosignature: ok|invalid|unchecked|missing}]},
 * or null when the tree's checkpoint names no root. */
static json_t *cosignatures_json(const struct witnessed *w)
{
        json_t *list = json_array();

        if (!w->any) {
                json_decref(list);
                return json_null();
        }
        for (size_t i = 0; i < w->n; i++) {
                char id[9];
                json_t *o;

                hex_encode(w->items[i].id, 4, id);
                o = json_pack("{s:s,s:s,s:s}", "name", w->items[i].name, "key_id", id, "cosignature",
                              witnessed_word(w->items[i].verdict));
                if (w->items[i].verdict != -ENOENT)
                        json_object_set_new(o, "time", json_integer((json_int_t)w->items[i].time));
                json_array_append_new(list, o);
        }
        return json_pack("{s:I,s:o}", "size", (json_int_t)w->size, "witnesses", list);
}

/* The terminal's summary, in the report's language; its first line is the
 * verdict. */
static void show_summary(const struct report_args *a, const struct audit_report *r)
{
        const struct lang *l = r->lang;
        const struct export_report *rep = &r->ev->rep;
        _cleanup_(freep) char *verdict = evidence_verdict(r->ev), *filter = filter_describe(r->filter),
                              *shown_filter = escape_string(filter), *shown_out = escape_string(a->out);
        char zone[ZONE_TEXT_MAX], n1[LANG_NUMBER_MAX], n2[LANG_NUMBER_MAX], n3[LANG_NUMBER_MAX],
                n4[LANG_NUMBER_MAX], t1[LANG_TIME_MAX], t2[LANG_TIME_MAX];
        _cleanup_(freep) char *shown_zone = NULL;

        zone_describe(r->span.any ? r->span.first_time_us : r->generated_us, zone);
        shown_zone = escape_string(zone);
        printf("%s\n", lang_label(l, r->ev->verified ? L_VERIFIED : L_NOT_VERIFIED));
        printf("  %s\n", verdict);
        if (r->ev->verified && !r->ev->key)
                printf("  %s\n", lang_label(l, L_VERIFIED_SELF));
        printf("%s: seq %" PRIu64 "..%" PRIu64 "\n", lang_label(l, L_VERIFIED_RANGE), rep->first_seq,
               rep->last_seq);
        if (rep->tree_known) {
                char root[MERKLE_HASH_B64_SIZE];

                auditproof_hash_b64(rep->tree_root, root);
                printf("%s: %s %s, %s%s%s%s\n", lang_label(l, L_TREE), lang_number(l, rep->tree_size, n1),
                       lang_label(l, L_LINES), root, rep->tree_root_signed ? " (" : "",
                       rep->tree_root_signed ? lang_label(l, L_TREE_SIGNED) : "",
                       rep->tree_root_signed ? ")" : "");
        }
        show_cosignatures(r);
        if (r->span.any)
                printf("%s: seq %" PRIu64 "..%" PRIu64 ", %s .. %s (%s %s)\n", lang_label(l, L_PERIOD_RANGE),
                       r->span.first, r->span.last, lang_datetime(l, r->span.first_time_us, t1),
                       lang_datetime(l, r->span.last_time_us, t2), lang_number(l, r->span.lines, n1),
                       lang_label(l, L_LINES));
        else
                printf("%s: %s\n", lang_label(l, L_PERIOD_RANGE), lang_label(l, L_PERIOD_NONE));
        printf("%s: %s\n", lang_label(l, L_TIME_ZONE), shown_zone);
        printf("%s: %s\n", lang_label(l, L_FILTER), filter[0] ? shown_filter : lang_label(l, L_FILTER_NONE));
        printf("%s: %s (%s: %s); %s: %s\n", lang_label(l, L_REQUESTS), lang_number(l, r->requests, n1),
               lang_label(l, L_RESULT_DENIED), lang_number(l, r->denied_requests, n2),
               lang_label(l, L_ADMIN_ACTIONS), lang_number(l, r->admin.total, n3));
        printf("%s: %s %s, %s %s, %s %s, %s %s\n", lang_label(l, L_RECORD_CHANGES), lang_label(l, L_CREATED),
               lang_number(l, r->created, n1), lang_label(l, L_CHANGED), lang_number(l, r->changed, n2),
               lang_label(l, L_DELETED), lang_number(l, r->deleted, n3), lang_label(l, L_DISPOSED),
               lang_number(l, r->disposed, n4));
        printf("%s: %s\n", lang_label(l, L_REPORT_WRITTEN), shown_out);
}

static void show_json(const struct report_args *a, const struct audit_report *r)
{
        _cleanup_(freep) char *filter = filter_describe(r->filter);
        json_t *o = json_pack("{s:s,s:s,s:o,s:s?,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "file", a->out, "lang",
                              r->lang->code, "verification", evidence_json(r->ev), "filter",
                              filter[0] ? filter : NULL, "period_lines", (json_int_t)r->span.lines,
                              "matched", (json_int_t)r->matched, "requests", (json_int_t)r->requests,
                              "denied", (json_int_t)r->denied_requests, "admin_actions",
                              (json_int_t)r->admin.total, "created", (json_int_t)r->created, "changed",
                              (json_int_t)r->changed, "deleted", (json_int_t)r->deleted);

        json_object_set_new(o, "period_first_seq",
                            r->span.any ? json_integer((json_int_t)r->span.first) : json_null());
        json_object_set_new(o, "period_last_seq",
                            r->span.any ? json_integer((json_int_t)r->span.last) : json_null());
        period_json(o, r->period, r->span.first_time_us, r->span.last_time_us);
        json_object_set_new(o, "cosignatures", cosignatures_json(&r->cosigs));
        print_json(o);
        json_decref(o);
}

int cmd_audit_report(struct ctl *ctl, int argc, char **argv)
{
        static struct report_args a; /* large (the witnesses' keys); one per run */
        struct evidence ev;
        struct audit_report r;
        json_t *params = json_object();

        report_parse(ctl, argc, argv, &a);
        period_params(&a.period, params);
        /* A period is a part of the trail by design: the newest checkpoint
         * after it shows how long the trail was, and is checked too. */
        evidence_fetch(ctl, params, &(struct export_opts){.vkey = a.key, .partial = true}, &ev);
        r = (struct audit_report){.lang = a.lang,
                                  .ev = &ev,
                                  .period = &a.period,
                                  .filter = &a.filter,
                                  .generated_us = now_realtime_us()};
        evidence_cosignatures(&ev, a.wit.keys, a.wit.n, &r.cosigs);
        report_collect(&r);
        write_report(&a, &r);
        if (!ev.verified) {
                _cleanup_(freep) char *verdict = evidence_verdict(&ev);
                json_t *why = json_pack("{s:s,s:I,s:s}", "file", a.out, "line", (json_int_t)ev.rep.bad_line,
                                        "reason", ev.rep.why);

                if (!ctl->json)
                        show_summary(&a, &r);
                die_error(
                        ERR_NOT_VERIFIED, why,
                        "%s; the report %s says so on its first line (keep the vault and the export as they "
                        "are, and call an admin)",
                        verdict, a.out);
        }
        if (ctl->json)
                show_json(&a, &r);
        else
                show_summary(&a, &r);
        report_free(&r);
        evidence_done(&ev);
        witness_options_done(&a.wit);
        return EXIT_SUCCESS;
}
