/* What `vaultctl audit report` shows, gathered from a verified export
 * (cmd-report.c), and its HTML form (report-html.c). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "auditview.h"
#include "report-lang.h"

/* Rows kept for a table; past this the report says how many more there
 * are and how to get them all (the CSV). */
#define REPORT_TABLE_ROWS_MAX 1000
/* Charts have a bar per day up to this many days, else one per month. */
#define REPORT_DAYS_MAX 92
/* At most this many bars (ten years of months). */
#define REPORT_MONTHS_MAX 120

/* Counts by name (an operation, a role, a user, a result). */
struct tally_entry {
        char *name; /* NULL: none (a caller with no role, a user with no name) */
        uint64_t n;
};
struct tally {
        struct tally_entry *items;
        size_t count, cap;
};

/* A chart's bars: requests and denials per day (or month), from a first
 * bucket on. */
struct buckets {
        bool monthly;
        int64_t first; /* days since 1970-01-01 in local time, or months since year 0 */
        size_t count;
        uint64_t *requests, *denied;
};

/* Lines shown in a table, in seq order (json objects, owned), and how many
 * there were in all. */
struct row_list {
        json_t *rows;
        uint64_t total;
};

struct audit_report {
        const struct lang *lang;
        struct evidence *ev;
        const struct period *period;
        const struct audit_filter *filter;
        uint64_t generated_us;
        struct period_span span;  /* the period's lines, filtered or not */
        uint64_t matched;         /* of those, the lines that pass the filter */
        uint64_t requests;        /* the calls they stand for */
        uint64_t denied_requests; /* of those, denied */
        struct tally ops, roles, users, results;
        struct buckets chart;
        struct row_list denied, admin, records;
        uint64_t created, changed, deleted, disposed;
        struct witnessed cosigs; /* on the checkpoint of the tree shown */
};

/* Writes the whole report as one HTML document: inline CSS and SVG, no
 * external resource, A4 pages when printed. Every text from the trail (or
 * from the environment: the zone's name) is escaped. */
void report_html(FILE *f, const struct audit_report *r);
/* Cosignature i of r->cosigs for people, not yet escaped: "NAME (key
 * 1a2b3c4d), signed at DATE TIME: verdict". */
#define COSIGN_TEXT_MAX 1024
void cosign_describe(const struct audit_report *r, size_t i, char buf[static COSIGN_TEXT_MAX]);
/* The kind of record change a line is (L_CREATED, ...), or -1. */
int record_change(const struct audit_row *row);
/* A bucket's first instant and its label for a chart axis. */
void bucket_label(const struct audit_report *r, size_t i, char *buf, size_t size);
