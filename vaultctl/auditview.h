/* The audit trail for people: periods in local time (timerange.c), an
 * export fetched and verified before anything reads it (evidence.c),
 * filters for reading (filter.c), CSV (csv.c) and the HTML report
 * (cmd-report.c, report-html.c, report-lang.c). Filters never narrow the
 * evidence: the whole contiguous range is verified first, and every output
 * says which range was verified and which filter was applied. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "auditfmt.h"
#include "vaultctl.h"

/* timerange.c: the period an auditor asks for. */

/* What --since/--until (local time) and --from-seq/--to-seq ask for. */
struct period {
        bool has_since, has_until, has_from, has_to;
        uint64_t since_us, until_us; /* microseconds since the epoch */
        uint64_t from_seq, to_seq;
};

/* Option values of --since, --until, --from-seq (and --from), --to-seq
 * (and --to), for period_option(). */
enum {
        OPT_PERIOD = OPT_COMMAND + 0x40,
        OPT_SINCE = OPT_PERIOD,
        OPT_UNTIL,
        OPT_FROM_SEQ,
        OPT_TO_SEQ,
        OPT_PERIOD_END,
};
/* Takes one period option (c from OPT_PERIOD to OPT_PERIOD_END) with its
 * value. Dates and times are local ("2026-11-01", "2026-11-01T08:00",
 * "2026-11-01T08:00:00", TZ or the system's zone). Dies with a usage error
 * (exit 2) that names the option and the forms it takes. */
void period_option(struct ctl *ctl, struct period *p, int c, const char *value);
/* Checks the options taken together (no --since with --from-seq, --until
 * after --since, ...); dies with a usage error. */
void period_check(struct ctl *ctl, const struct period *p);
/* Adds Export's parameters for the period: from_seq/to_seq, or
 * since/until as RFC 3339 UTC. */
void period_params(const struct period *p, json_t *params);
/* Whether a line of the export is past the period's end: after --to-seq,
 * or at or after --until. Lines come in seq order; the first line past the
 * end ends the period (a clock stepped back later does not reopen it). */
bool period_past_end(const struct period *p, uint64_t seq, uint64_t time_us);

/* The time of an audit line (its "time" member), 0 when it has none. */
uint64_t line_time_us(const char *line, size_t len);
/* Tells the times an export's lines span, in local time with the zone,
 * and the period asked for: lines for people, or members of o (--json). */
void period_summary(FILE *f, const struct period *p, uint64_t first_us, uint64_t last_us);
void period_json(json_t *o, const struct period *p, uint64_t first_us, uint64_t last_us);

/* Local time: "2026-11-01 08:00:00" (style LOCAL_SECONDS), or "2026-11-01
 * 08:00" (LOCAL_MINUTES), "2026-11-01" (LOCAL_DATE). */
enum local_style { LOCAL_SECONDS, LOCAL_MINUTES, LOCAL_DATE };
#define LOCAL_TIME_MAX 64
void local_format(uint64_t us, enum local_style style, char buf[static LOCAL_TIME_MAX]);
/* The broken-down local time of us. */
void local_tm(uint64_t us, struct tm *ret);
/* The time zone, as a person checks it: "Asia/Ho_Chi_Minh, UTC+07:00"
 * (the offset at time us). */
#define ZONE_TEXT_MAX 160
void zone_describe(uint64_t us, char buf[static ZONE_TEXT_MAX]);

/* filter.c: which lines a report or CSV shows. */
struct audit_row;
struct audit_filter {
        const char *user; /* login name or uid */
        const char *role, *collection, *id, *op, *result;
};

/* Option values of --user, --role, --collection, --id, --op, --result,
 * for filter_option(). */
enum {
        OPT_FILTER = OPT_PERIOD_END + 0x10,
        OPT_USER = OPT_FILTER,
        OPT_ROLE,
        OPT_COLLECTION,
        OPT_ID,
        OPT_OP,
        OPT_RESULT,
        OPT_FILTER_END,
};
/* Takes one filter option (c from OPT_FILTER to OPT_FILTER_END); dies with
 * a usage error on a bad --result or a filter given twice. */
void filter_option(struct ctl *ctl, struct audit_filter *f, int c, const char *value);
/* Whether any filter is set. */
bool filter_active(const struct audit_filter *f);
/* Whether a line passes every filter that is set. */
bool filter_match(const struct audit_filter *f, const struct audit_row *row);
/* "user=payments, op=records.*", or "" without filters. Caller frees. */
char *filter_describe(const struct audit_filter *f);

/* evidence.c: an export fetched from vaultd, verified, then read. */

/* One audit line of an export, parsed. Strings are borrowed from obj and
 * valid until the next evidence_next(); any may be NULL. */
struct audit_row {
        json_t *obj;
        uint64_t seq;
        uint64_t time_us;
        const char *time; /* as stored, UTC */
        const char *user, *role, *op, *collection, *id, *result, *error;
        int64_t uid;     /* -1 when absent */
        int64_t version; /* -1 when absent */
        int64_t count;   /* calls a summary of denials stands for; 1 otherwise */
};

struct evidence {
        FILE *file;      /* the export, in an unnamed temporary file */
        const char *key; /* the verifier key given (--key), or NULL */
        bool verified;   /* export_verify() accepted it */
        struct export_report rep;
        char *header_key; /* the key the header names */
        char *origin;
        uint64_t lines;                      /* audit lines in the file */
        char head_hash[AUDIT_HASH_HEX_SIZE]; /* hash of the last audit line */
        uint64_t head_time_us;               /* its time */
        json_t *current;                     /* the line evidence_next() returned last */
};

/* Streams an Export (params stolen) into a temporary file and verifies it
 * with opts (opts->vkey NULL: the key the export names). Dies when vaultd cannot be
 * reached or answers an error; a file that does not verify is not an
 * error here: ev->verified says, ev->rep says why. */
void evidence_fetch(struct ctl *ctl, json_t *params, const struct export_opts *opts, struct evidence *ev);
/* Reads the export's audit lines in order from the start: 1 with the next
 * one in *row, 0 after the last. A line that is not a JSON object (only in
 * an export that did not verify) is skipped. */
int evidence_next(struct evidence *ev, struct audit_row *row);
/* Starts evidence_next() from the first line again. */
void evidence_rewind(struct evidence *ev);
void evidence_done(struct evidence *ev);
/* One line for people: "OK: seq 12..340 verifies (329 audit lines, 3 signed
 * checkpoints) against the key given" or "NOT VERIFIED: line 7 of the
 * export (seq 5): why". Caller frees. */
char *evidence_verdict(const struct evidence *ev);
/* Under --json: {"valid", "first_seq", "last_seq", "lines", "checkpoints",
 * "trusted_key", and "line", "seq", "reason" when not valid}. */
json_t *evidence_json(const struct evidence *ev);

/* The witnesses' cosignatures on the checkpoint that covers an export's
 * last line (docs/audit-format.md "Witnesses"): each signature line of
 * the shape of a cosignature/v1, then each witness key given that has
 * none. verdict: 0 it verifies with the key given (--witness), -EBADMSG
 * it does not, -ENOKEY no key was given for it, -ENOENT a key was given
 * and the checkpoint carries no cosignature by it. */
struct witnessed {
        bool any;         /* the checkpoint names the tree's root (the only kind cosigned) */
        uint64_t size;    /* its size */
        struct note note; /* owns the names */
        size_t n;
        struct {
                const char *name;
                uint8_t id[4];
                uint64_t time; /* seconds since the epoch, 0 when missing */
                int verdict;
        } items[NOTE_MAX_SIGS + COSIGN_WITNESSES_MAX];
};
/* Fills *ret from the export's checkpoints (nothing when it did not
 * verify, or that checkpoint names no root), checking each cosignature
 * with the witness key of its name and key id among ws[0..n-1]. Free
 * with witnessed_done. */
void evidence_cosignatures(struct evidence *ev, const struct cosigner *ws, size_t n, struct witnessed *ret);
void witnessed_done(struct witnessed *w);
/* The verdict in a word for --json: ok, invalid, unchecked, missing. */
const char *witnessed_word(int verdict);

/* The lines of an export that lie in the period: seq first..last. */
struct period_span {
        bool any;
        uint64_t first, last, lines;
        uint64_t first_time_us, last_time_us;
};
/* Counts a line of the period into span. */
void span_add(struct period_span *span, const struct audit_row *row);

/* csv.c: audit export --format csv. */

/* Writes one row per line of the export that lies in the period and passes
 * the filter: RFC 4180, UTF-8 with a byte order mark, CRLF, and every cell
 * that a spreadsheet would take for a formula prefixed with "'". The local
 * time column's heading names the zone. Returns the number of rows; *span
 * gets the period's lines, filtered or not. */
uint64_t csv_write(FILE *out, struct evidence *ev, const struct period *p, const struct audit_filter *f,
                   struct period_span *span);

/* cmd-report.c */
int cmd_audit_report(struct ctl *ctl, int argc, char **argv);
/* audit export --format csv (csv.c): fetches the export asked for by
 * params (stolen), verifies it against key (NULL: the key it names), and
 * writes the CSV to out (NULL: stdout) only if it verifies; exit 3 if
 * not. */
int export_csv(struct ctl *ctl, json_t *params, const struct period *p, const struct audit_filter *f,
               const char *key, const char *out, bool force);
