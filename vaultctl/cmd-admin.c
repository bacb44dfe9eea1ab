/* Admin commands: status, policy check, policy reload. */
#include <inttypes.h>
#include <string.h>

#include "policy.h"
#include "util.h"
#include "vaultctl.h"

/* Status fields in the order shown; all but state and version are only
 * sent to admins and auditors. */
static const struct {
        const char *label, *key, *unit;
} status_fields[] = {
        {"state", "state", ""},
        {"vault", "vault", ""},
        {"version", "version", ""},
        {"records", "records", ""},
        {"audit lines", "audit_lines", ""},
        {"connections", "connections", ""},
        {"sandbox", "sandbox", ""},
        {"uptime", "uptime_seconds", "s"},
};

/* A last good backup older than this is a warning (README "Backups"). */
#define BACKUP_WARN_AGE_S (2 * 86400)
#define HOUR_S            3600
#define DAY_S             86400

/* A status string as vaultd sent it, escaped for the terminal. */
static void print_field(const char *label, json_t *v, const char *unit)
{
        _cleanup_(freep) char *shown = escape_json_string(v);

        printf("%-13s %s%s\n", label, shown, unit);
}

static bool is_sealed(json_t *state)
{
        return strcmp(json_string_value(state) ?: "", "sealed") == 0;
}

/* "last backup:" for admins and auditors: when, how long ago, and a
 * warning when there is none or it is older than two days. */
static void show_backup_age(json_t *reply)
{
        json_t *when = json_object_get(reply, "backup_time");
        int64_t age = json_integer_value(json_object_get(reply, "backup_age_seconds"));
        _cleanup_(freep) char *shown = escape_json_string(when);
        char ago[64];

        if (!json_is_string(when)) {
                printf("%-13s never\n%-13s WARNING: this vault has no backup: run 'vaultctl backup FILE', "
                       "or\n"
                       "%-13s enable the daily one (systemctl enable --now vaultd-backup.timer)\n",
                       "last backup:", "", "");
                return;
        }
        if (age < HOUR_S)
                snprintf(ago, sizeof(ago), "less than an hour ago");
        else if (age < 2 * DAY_S)
                snprintf(ago, sizeof(ago), "%" PRId64 " %s ago", age / HOUR_S,
                         plural((uint64_t)(age / HOUR_S), "hour", "hours"));
        else
                snprintf(ago, sizeof(ago), "%" PRId64 " days ago", age / DAY_S);
        printf("%-13s %s (%s)\n", "last backup:", shown, ago);
        if (age > BACKUP_WARN_AGE_S)
                printf("%-13s WARNING: older than 2 days: see 'systemctl status vaultd-backup' and\n"
                       "%-13s 'journalctl -u vaultd-backup', or run 'vaultctl backup FILE'\n",
                       "", "");
}

/* A list of sentences from vaultd under a label, one per line, escaped. */
static void show_sentences(const char *label, json_t *list)
{
        json_t *item;
        size_t i;

        json_array_foreach(list, i, item)
        {
                _cleanup_(freep) char *shown = escape_json_string(item);

                printf("%-13s %s\n", i == 0 ? label : "", shown);
        }
}

/* Right under the state: what needs an admin, and where to read what to do. */
static void show_problems(json_t *reply)
{
        json_t *problems = json_object_get(reply, "problems");

        if (is_sealed(json_object_get(reply, "state")))
                printf("%-13s records answer Sealed until an admin runs 'vaultctl unseal'\n", "");
        if (json_array_size(problems) > 0) {
                show_sentences("problems:", problems);
                printf("%-13s (what each means and what to do: 'man vaultctl', HEALTH)\n", "");
        }
        show_sentences("warnings:", json_object_get(reply, "warnings"));
}

static bool has_int(json_t *reply, const char *key)
{
        return json_is_integer(json_object_get(reply, key));
}

static uint64_t get_uint(json_t *reply, const char *key)
{
        json_int_t n = json_integer_value(json_object_get(reply, key));

        return n > 0 ? (uint64_t)n : 0;
}

/* The last signed checkpoint: how many lines it covers, how old it is,
 * and how many lines wait for the next one. */
static void show_checkpoint(json_t *reply)
{
        uint64_t waiting = get_uint(reply, "unsigned_lines");
        char age[AGE_STRING_MAX];

        if (!has_int(reply, "checkpoint_size"))
                return;
        printf("%-13s covers %" PRIu64 " audit %s", "checkpoint:", get_uint(reply, "checkpoint_size"),
               plural(get_uint(reply, "checkpoint_size"), "line", "lines"));
        if (has_int(reply, "checkpoint_age_seconds")) {
                age_format(get_uint(reply, "checkpoint_age_seconds"), age);
                printf(", signed %s ago", age);
        }
        printf(waiting ? ", %" PRIu64 " waiting for the next\n" : "\n", waiting);
}

/* The store's file and map, and the disk it is on. */
static void show_space(json_t *reply)
{
        char a[SIZE_STRING_MAX], b[SIZE_STRING_MAX];

        if (has_int(reply, "store_bytes")) {
                size_format(get_uint(reply, "store_bytes"), a);
                size_format(get_uint(reply, "map_bytes"), b);
                printf("%-13s %s; map %s, %" PRIu64 " %% free (it grows as needed)\n", "store:", a, b,
                       get_uint(reply, "map_free_percent"));
        }
        if (has_int(reply, "disk_free_bytes")) {
                size_format(get_uint(reply, "disk_free_bytes"), a);
                size_format(get_uint(reply, "disk_total_bytes"), b);
                printf("%-13s %s free of %s (%" PRIu64 " %%)\n", "disk:", a, b,
                       get_uint(reply, "disk_free_percent"));
        }
}

/* Integrity failures since vaultd started, and the last one. */
static void show_integrity(json_t *reply)
{
        json_t *last = json_object_get(reply, "integrity_last");
        uint64_t n = get_uint(reply, "integrity_failures");
        _cleanup_(freep) char *when = escape_json_string(json_object_get(last, "time"));
        _cleanup_(freep) char *what = escape_json_string(json_object_get(last, "what"));
        _cleanup_(freep) char *coll = escape_json_string(json_object_get(last, "collection"));
        _cleanup_(freep) char *id = escape_json_string(json_object_get(last, "id"));

        if (!has_int(reply, "integrity_failures"))
                return;
        if (n == 0 || !json_is_object(last)) {
                printf("%-13s no failures since vaultd started\n", "integrity:");
                return;
        }
        printf("%-13s %" PRIu64 " %s since vaultd started; the last at %s:\n", "integrity:", n,
               plural(n, "failure", "failures"), when);
        printf("%-13s %s\n", "", what);
        if (json_is_string(json_object_get(last, "id")))
                printf("%-13s record %s %s", "", coll, id);
        else
                printf("%-13s", "");
        if (has_int(last, "version"))
                printf(" version %" PRIu64, get_uint(last, "version"));
        if (has_int(last, "seq"))
                printf("%saudit seq %" PRIu64, json_is_string(json_object_get(last, "id")) ? ", " : " ",
                       get_uint(last, "seq"));
        printf("\n");
}

static void show_status(json_t *reply)
{
        json_t *requests = json_object_get(reply, "requests"), *batches = json_object_get(reply, "batches");
        bool partial = false;

        for (size_t i = 0; i < ELEMENTSOF(status_fields); i++) {
                json_t *v = json_object_get(reply, status_fields[i].key);
                char label[32];

                snprintf(label, sizeof(label), "%s:", status_fields[i].label);
                if (json_is_string(v))
                        print_field(label, v, status_fields[i].unit);
                else if (json_is_integer(v))
                        printf("%-13s %lld%s\n", label, (long long)json_integer_value(v),
                               status_fields[i].unit);
                else
                        partial = true;
                if (strcmp(status_fields[i].key, "state") == 0)
                        show_problems(reply);
        }
        if (json_is_integer(requests) && json_is_integer(batches))
                printf("%-13s %lld in %lld %s\n", "requests:", (long long)json_integer_value(requests),
                       (long long)json_integer_value(batches),
                       plural((uint64_t)json_integer_value(batches), "batch", "batches"));
        show_checkpoint(reply);
        show_space(reply);
        show_integrity(reply);
        if (!partial)
                show_backup_age(reply);
        if (partial)
                printf("(the counters are shown to admins and auditors only)\n");
}

/* Commands without options or arguments of their own. */
static void no_arguments(struct ctl *ctl, int argc, char **argv)
{
        while (ctl_getopt(ctl, argc, argv, "", NULL) != -1)
                ;
        ctl_positional(ctl, argc, argv, 0, 0);
}

int cmd_status(struct ctl *ctl, int argc, char **argv)
{
        enum { OPT_CHECK = OPT_COMMAND };
        static const struct option opts[] = {
                {"check", no_argument, NULL, OPT_CHECK},
                {},
        };
        bool check = false;
        json_t *reply;
        int c, r;

        while ((c = ctl_getopt(ctl, argc, argv, "", opts)) != -1)
                check |= c == OPT_CHECK;
        ctl_positional(ctl, argc, argv, 0, 0);
        reply = ctl_call(ctl, "io.vaultd.admin.Status", NULL);
        if (ctl->json)
                print_json(reply);
        else
                show_status(reply);
        /* Plain status succeeds whenever vaultd answers (scripts wait for
         * it to answer); --check also asks that it serve and be well. */
        r = check && strcmp(json_string_value(json_object_get(reply, "state")) ?: "", "serving") != 0
                    ? EXIT_FAILURE
                    : EXIT_SUCCESS;
        json_decref(reply);
        return r;
}

static void show_reload(json_t *reply)
{
        json_t *warnings = json_object_get(reply, "warnings"), *w;
        uint64_t rules = (uint64_t)json_integer_value(json_object_get(reply, "rules"));
        size_t i, n = json_array_size(warnings);

        json_array_foreach(warnings, i, w)
        {
                report_line("policy warning: %s", json_string_value(w) ?: "");
        }
        printf("policy reloaded: %llu %s, %zu %s\n", (unsigned long long)rules,
               plural(rules, "rule", "rules"), n, plural(n, "warning", "warnings"));
}

int cmd_policy_reload(struct ctl *ctl, int argc, char **argv)
{
        no_arguments(ctl, argc, argv);
        return ctl_show(ctl, "io.vaultd.admin.ReloadPolicy", NULL, show_reload);
}

/* The rules as vaultd reads them, one canonical line each (what a typo in
 * a role or a collection list became is plain to see). */
static void show_checked(const char *path, const struct policy *p, bool json)
{
        json_t *o, *warnings, *read = json_array();

        for (size_t i = 0; i < p->nrules; i++) {
                _cleanup_(freep) char *text = policy_rule_text(&p->rules[i]);

                json_array_append_new(read, json_string(text ?: "?"));
        }
        if (!json) {
                json_t *line;
                size_t i;

                for (i = 0; i < p->nwarnings; i++)
                        report_line("%s: warning: %s", path, p->warnings[i]);
                printf("%s: OK, %zu %s, %zu %s\n", path, p->nrules, plural(p->nrules, "rule", "rules"),
                       p->nwarnings, plural(p->nwarnings, "warning", "warnings"));
                json_array_foreach(read, i, line)
                {
                        _cleanup_(freep) char *shown = escape_json_string(line);

                        printf("  %s\n", shown);
                }
                json_decref(read);
                return;
        }
        warnings = json_array();
        for (size_t i = 0; i < p->nwarnings; i++)
                json_array_append_new(warnings, json_string(p->warnings[i]));
        o = json_pack("{s:b,s:I,s:o,s:o}", "valid", 1, "rules", (json_int_t)p->nrules, "warnings", warnings,
                      "read", read);
        print_json(o);
        json_decref(o);
}

int cmd_policy_check(struct ctl *ctl, int argc, char **argv)
{
        char err[POLICY_ERR_MAX];
        struct policy *p;
        char **pos;
        int r;

        while (ctl_getopt(ctl, argc, argv, "", NULL) != -1)
                ;
        pos = ctl_positional(ctl, argc, argv, 1, 1);
        r = policy_load(pos[0], &p, err, sizeof(err));
        if (r < 0 && strncmp(err, "cannot read ", 12) == 0)
                die("%s", err);
        if (r < 0)
                die_error(ERR_INVALID_POLICY, json_pack("{s:s,s:s}", "file", pos[0], "reason", err),
                          "%s: %s (fix it before installing; vaultd would refuse it)", pos[0], err);
        show_checked(pos[0], p, ctl->json);
        policy_free(p);
        return EXIT_SUCCESS;
}
