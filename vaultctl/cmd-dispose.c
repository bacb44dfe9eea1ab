/* Records control commands (issue #13): records due, hold set|clear|list,
 * dispose (one record, or every due record of a collection after a
 * confirmation). Disposal cannot be undone, so dispose --due shows what it
 * will destroy and asks first, and stops cleanly on Ctrl-C. */
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "util.h"
#include "vaultctl.h"

enum {
        OPT_REASON = OPT_COMMAND,
        OPT_DUE,
        OPT_YES,
        OPT_INCLUDE_SHORTENED,
};

/* Dispose calls a --due run makes at most (vaultd lists 1,000 per page). */
#define DUE_RUN_MAX 100000u

static void print_due(json_t *rec)
{
        _cleanup_(freep) char *id = escape_json_string(json_object_get(rec, "id")),
                              *due = escape_json_string(json_object_get(rec, "due"));

        printf("%s  due %s  (%lld versions%s%s)\n", id, due,
               (long long)json_integer_value(json_object_get(rec, "version")),
               json_is_true(json_object_get(rec, "deleted")) ? ", deleted" : "",
               json_is_true(json_object_get(rec, "shortened"))
                       ? "; its retain_until, set by a service, ends it before the collection's period"
                       : "");
}

static void due_show(void *userdata, json_t *page, bool last)
{
        uint64_t *shown = userdata;
        json_t *rec;
        size_t i;

        json_array_foreach(json_object_get(page, "records"), i, rec)
        {
                print_due(rec);
                (*shown)++;
        }
        if (last && *shown == 0)
                printf("no record is due\n");
}

int cmd_records_due(struct ctl *ctl, int argc, char **argv)
{
        uint64_t shown = 0;
        struct pager pg = {
                .method = "io.vaultd.records.Due",
                .cursor_key = "after",
                .items_key = "records",
                .all = true,
                .show = due_show,
                .userdata = &shown,
        };
        char **pos;
        int r;

        while (ctl_getopt(ctl, argc, argv, "", NULL) != -1)
                ;
        pos = ctl_positional(ctl, argc, argv, 1, 1);
        pg.params = json_pack("{s:s,s:i}", "collection", pos[0], "limit", 1000);
        r = pager_run(ctl, &pg);
        json_decref(pg.params);
        return r;
}

/* dispose's options beyond --reason (hold takes none of them). */
struct dispose_opts {
        bool due, yes, with_shortened;
};

static const char *reason_option(struct ctl *ctl, int argc, char **argv, struct dispose_opts *o)
{
        static const struct option opts[] = {
                {"reason", required_argument, NULL, OPT_REASON},
                {"due", no_argument, NULL, OPT_DUE},
                {"yes", no_argument, NULL, OPT_YES},
                {"include-shortened", no_argument, NULL, OPT_INCLUDE_SHORTENED},
                {},
        };
        const char *reason = NULL;
        int c;

        while ((c = ctl_getopt(ctl, argc, argv, "", opts)) != -1) {
                if (c == OPT_REASON)
                        reason = optarg;
                else if (c == OPT_DUE && o)
                        o->due = true;
                else if (c == OPT_YES && o)
                        o->yes = true;
                else if (c == OPT_INCLUDE_SHORTENED && o)
                        o->with_shortened = true;
                else
                        die_usage(ctl, "this command takes --reason only");
        }
        if (!reason)
                die_usage(ctl, "--reason TEXT is required: it goes into the audit trail");
        return reason;
}

static void hold_shown(json_t *reply)
{
        printf("%s\n", json_is_true(json_object_get(reply, "held")) ? "on hold" : "released");
}

static int hold_change(struct ctl *ctl, int argc, char **argv, bool hold)
{
        const char *reason = reason_option(ctl, argc, argv, NULL);
        char **pos = ctl_positional(ctl, argc, argv, 2, 2);

        return ctl_show(ctl, "io.vaultd.records.SetHold",
                        json_pack("{s:s,s:s,s:b,s:s}", "collection", pos[0], "id", pos[1], "hold", hold,
                                  "reason", reason),
                        hold_shown);
}

int cmd_hold_set(struct ctl *ctl, int argc, char **argv)
{
        return hold_change(ctl, argc, argv, true);
}

int cmd_hold_clear(struct ctl *ctl, int argc, char **argv)
{
        return hold_change(ctl, argc, argv, false);
}

static void holds_shown(void *userdata, json_t *page, bool last)
{
        uint64_t *shown = userdata;
        json_t *h;
        size_t i;

        json_array_foreach(json_object_get(page, "holds"), i, h)
        {
                _cleanup_(freep) char *coll = escape_json_string(json_object_get(h, "collection")),
                                      *id = escape_json_string(json_object_get(h, "id")),
                                      *since = escape_json_string(json_object_get(h, "since")),
                                      *reason = escape_json_string(json_object_get(h, "reason"));
                printf("%s/%s  since %s  by uid %lld: %s\n", coll, id, since,
                       (long long)json_integer_value(json_object_get(h, "uid")), reason);
                (*shown)++;
        }
        if (last && *shown == 0)
                printf("no record is on hold\n");
}

int cmd_hold_list(struct ctl *ctl, int argc, char **argv)
{
        uint64_t shown = 0;
        struct pager pg = {
                .method = "io.vaultd.records.ListHolds",
                .cursor_key = "after",
                .items_key = "holds",
                .all = true,
                .show = holds_shown,
                .userdata = &shown,
        };
        char **pos;
        int r;

        while (ctl_getopt(ctl, argc, argv, "", NULL) != -1)
                ;
        pos = ctl_positional(ctl, argc, argv, 0, 1);
        pg.params = argc - optind == 1 ? json_pack("{s:s}", "collection", pos[0]) : json_object();
        r = pager_run(ctl, &pg);
        json_decref(pg.params);
        return r;
}

static void disposed_shown(json_t *reply)
{
        _cleanup_(freep) char *t = escape_json_string(json_object_get(reply, "time"));

        printf("disposed of: %lld versions, %lld bodies destroyed, at %s\n",
               (long long)json_integer_value(json_object_get(reply, "versions")),
               (long long)json_integer_value(json_object_get(reply, "shredded")), t);
}

/* Every due record's id, page after page; those a service's retain_until
 * made due before the collection's period go to *shortened instead, unless
 * with_shortened. */
static json_t *due_ids(struct ctl *ctl, const char *collection, bool with_shortened, json_t *shortened)
{
        json_t *ids = json_array(), *after = NULL;

        for (;;) {
                json_t *p = json_pack("{s:s,s:i}", "collection", collection, "limit", 1000), *reply, *rec,
                       *next;
                size_t i;

                if (after)
                        json_object_set_new(p, "after", after);
                reply = ctl_call(ctl, "io.vaultd.records.Due", p);
                json_array_foreach(json_object_get(reply, "records"), i, rec)
                {
                        bool set_aside = !with_shortened && json_is_true(json_object_get(rec, "shortened"));

                        json_array_append(set_aside ? shortened : ids, json_object_get(rec, "id"));
                }
                next = json_object_get(reply, "next");
                after = json_is_string(next) ? json_copy(next) : NULL;
                json_decref(reply);
                if (!after || json_array_size(ids) >= DUE_RUN_MAX)
                        break;
        }
        json_decref(after);
        return ids;
}

static bool confirmed(const char *collection, size_t n)
{
        _cleanup_(freep) char *shown = escape_string(collection);
        char answer[16];

        fprintf(stderr,
                "Dispose of %zu %s of %s for good? Their bodies and data keys are destroyed; this cannot be "
                "undone. Type yes: ",
                n, plural(n, "record", "records"), shown);
        return fgets(answer, sizeof(answer), stdin) && strcmp(answer, "yes\n") == 0;
}

/* The records a --due run left out: a service shortened their retention. */
static void shortened_report(const char *collection, json_t *shortened)
{
        _cleanup_(freep) char *name = escape_string(collection);
        json_t *id;
        size_t i;

        if (json_array_size(shortened) == 0)
                return;
        printf("left %zu %s of %s: a service's retain_until ends %s retention before the collection's "
               "period. Check %s, then dispose of %s one by one, or run again with --include-shortened:\n",
               json_array_size(shortened), plural(json_array_size(shortened), "record", "records"), name,
               plural(json_array_size(shortened), "its", "their"),
               plural(json_array_size(shortened), "it", "them"),
               plural(json_array_size(shortened), "it", "them"));
        json_array_foreach(shortened, i, id)
        {
                _cleanup_(freep) char *shown = escape_json_string(id);

                printf("  %s\n", shown);
        }
}

static int dispose_due_run(struct ctl *ctl, const char *collection, const char *reason, bool yes,
                           bool with_shortened)
{
        static const struct progress_label label = {"disposing", "record", "records"};
        json_t *shortened = json_array(), *ids = due_ids(ctl, collection, with_shortened, shortened), *id;
        struct progress pr;
        size_t i, done = 0;

        shortened_report(collection, shortened);
        json_decref(shortened);
        if (json_array_size(ids) == 0) {
                printf("no other record of %s is due\n", collection);
                json_decref(ids);
                return EXIT_SUCCESS;
        }
        if (!yes && (!isatty(STDIN_FILENO) || !confirmed(collection, json_array_size(ids))))
                die_usage(ctl, "nothing disposed of: confirm on a terminal, or add --yes");
        progress_begin(&pr, &label, isatty(STDERR_FILENO) && !ctl->json, (int64_t)json_array_size(ids));
        interrupt_catch();
        json_array_foreach(ids, i, id)
        {
                json_t *reply;

                if (interrupt_requested())
                        break;
                reply = ctl_call(
                        ctl, "io.vaultd.records.Dispose",
                        json_pack("{s:s,s:O,s:s}", "collection", collection, "id", id, "reason", reason));
                json_decref(reply);
                done++;
                progress_update(&pr, done, (int64_t)done);
        }
        progress_clear(&pr);
        printf("disposed of %zu of %zu due %s in %s%s\n", done, json_array_size(ids),
               plural(json_array_size(ids), "record", "records"), collection,
               done < json_array_size(ids) ? " (interrupted; run it again to go on)" : "");
        json_decref(ids);
        return done < json_array_size(ids) ? EXIT_FAILURE : EXIT_SUCCESS;
}

int cmd_dispose(struct ctl *ctl, int argc, char **argv)
{
        struct dispose_opts o = {0};
        const char *reason = reason_option(ctl, argc, argv, &o);
        char **pos;

        if (o.due) {
                pos = ctl_positional(ctl, argc, argv, 1, 1);
                return dispose_due_run(ctl, pos[0], reason, o.yes, o.with_shortened);
        }
        if (o.with_shortened)
                die_usage(ctl, "--include-shortened goes with --due");
        pos = ctl_positional(ctl, argc, argv, 2, 2);
        return ctl_show(ctl, "io.vaultd.records.Dispose",
                        json_pack("{s:s,s:s,s:s}", "collection", pos[0], "id", pos[1], "reason", reason),
                        disposed_shown);
}
