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
                /* Right under the state: what sealed means, and who ends it. */
                if (strcmp(status_fields[i].key, "state") == 0 && is_sealed(v))
                        printf("%-13s records answer Sealed until an admin runs 'vaultctl unseal'\n", "");
        }
        if (json_is_integer(requests) && json_is_integer(batches))
                printf("%-13s %lld in %lld %s\n", "requests:", (long long)json_integer_value(requests),
                       (long long)json_integer_value(batches),
                       plural((uint64_t)json_integer_value(batches), "batch", "batches"));
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
        no_arguments(ctl, argc, argv);
        return ctl_show(ctl, "io.vaultd.admin.Status", NULL, show_status);
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

static void show_checked(const char *path, const struct policy *p, bool json)
{
        json_t *o, *warnings;

        if (!json) {
                for (size_t i = 0; i < p->nwarnings; i++)
                        report_line("%s: warning: %s", path, p->warnings[i]);
                printf("%s: OK, %zu %s, %zu %s\n", path, p->nrules, plural(p->nrules, "rule", "rules"),
                       p->nwarnings, plural(p->nwarnings, "warning", "warnings"));
                return;
        }
        warnings = json_array();
        for (size_t i = 0; i < p->nwarnings; i++)
                json_array_append_new(warnings, json_string(p->warnings[i]));
        o = json_pack("{s:b,s:I,s:o}", "valid", 1, "rules", (json_int_t)p->nrules, "warnings", warnings);
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
