/* Filters for reading a verified export: they choose what a report or a
 * CSV shows, never what is verified. Names match as the shell matches file
 * names (fnmatch: "records.*", "NCC-2024-*"); --user also takes a uid. */
#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditview.h"
#include "util.h"

static const char *const filter_names[] = {
        [OPT_USER - OPT_FILTER] = "user",
        [OPT_ROLE - OPT_FILTER] = "role",
        [OPT_COLLECTION - OPT_FILTER] = "collection",
        [OPT_ID - OPT_FILTER] = "id",
        [OPT_OP - OPT_FILTER] = "op",
        [OPT_RESULT - OPT_FILTER] = "result",
};

static const char **slot(struct audit_filter *f, int c)
{
        const char **slots[] = {
                [OPT_USER - OPT_FILTER] = &f->user,
                [OPT_ROLE - OPT_FILTER] = &f->role,
                [OPT_COLLECTION - OPT_FILTER] = &f->collection,
                [OPT_ID - OPT_FILTER] = &f->id,
                [OPT_OP - OPT_FILTER] = &f->op,
                [OPT_RESULT - OPT_FILTER] = &f->result,
        };

        return slots[c - OPT_FILTER];
}

void filter_option(struct ctl *ctl, struct audit_filter *f, int c, const char *value)
{
        const char **s = slot(f, c);

        if (*s)
                die_usage(ctl, "--%s is given twice; give it once (patterns such as 'records.*' match more)",
                          filter_names[c - OPT_FILTER]);
        if (!*value)
                die_usage(ctl, "--%s needs a value", filter_names[c - OPT_FILTER]);
        if (c == OPT_RESULT && strcmp(value, "ok") != 0 && strcmp(value, "denied") != 0 &&
            strcmp(value, "error") != 0)
                die_usage(ctl, "--result is ok, denied or error, not '%s'", value);
        *s = value;
}

bool filter_active(const struct audit_filter *f)
{
        return f->user || f->role || f->collection || f->id || f->op || f->result;
}

/* A filter that is set matches only a value that is there. */
static bool matches(const char *pattern, const char *value)
{
        return !pattern || (value && fnmatch(pattern, value, 0) == 0);
}

static bool user_matches(const char *want, const struct audit_row *row)
{
        char uid[24];

        if (!want)
                return true;
        if (row->uid >= 0) {
                snprintf(uid, sizeof(uid), "%" PRId64, row->uid);
                if (strcmp(want, uid) == 0)
                        return true;
        }
        return matches(want, row->user);
}

bool filter_match(const struct audit_filter *f, const struct audit_row *row)
{
        return user_matches(f->user, row) && matches(f->role, row->role) &&
               matches(f->collection, row->collection) && matches(f->id, row->id) &&
               matches(f->op, row->op) &&
               (!f->result || (row->result && strcmp(f->result, row->result) == 0));
}

char *filter_describe(const struct audit_filter *f)
{
        const char *values[] = {f->user, f->role, f->collection, f->id, f->op, f->result};
        char *text = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&text, &len);

        if (!m)
                die("out of memory");
        for (size_t i = 0; i < ELEMENTSOF(values); i++)
                if (values[i])
                        fprintf(m, "%s%s=%s", ftell(m) ? ", " : "", filter_names[i], values[i]);
        if (fclose(m) != 0)
                die("out of memory");
        return text;
}
