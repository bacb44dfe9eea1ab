/* Paged listings (list, history): vaultd's "next" is followed but not
 * trusted. Each page is shown as it arrives and then dropped, so vaultctl
 * holds one page however long the listing; "next" must move strictly
 * forward; and a listing still going after PAGES_MAX pages is stopped. A
 * server that repeats a page or never ends gets an error, not a vaultctl
 * that loops and grows. */
#include <inttypes.h>
#include <string.h>

#include "util.h"
#include "vaultctl.h"

/* 100 million records at vaultd's largest page, 10 million at list's
 * default: more than any collection this vault is built for. */
#define PAGES_MAX 100000

/* Whether next comes strictly after prev (NULL: the start): ids in byte
 * order, as vaultd sorts them, versions in number order. */
static bool cursor_advances(json_t *prev, json_t *next)
{
        if (json_is_string(next))
                return !prev || (json_is_string(prev) &&
                                 strcmp(json_string_value(next), json_string_value(prev)) > 0);
        if (json_is_integer(next))
                return json_integer_value(next) >= 0 &&
                       (!prev ||
                        (json_is_integer(prev) && json_integer_value(next) > json_integer_value(prev)));
        return false;
}

/* A cursor as JSON text, for a message ("R-1", 12, or "the start"). */
static char *cursor_text(json_t *cursor)
{
        char *s = cursor ? json_dumps(cursor, JSON_ENCODE_ANY) : strdup("the start");

        if (!s)
                die("out of memory");
        return s;
}

__attribute__((noreturn)) static void die_no_advance(const struct pager *pg, uint64_t page, json_t *prev,
                                                     json_t *next)
{
        _cleanup_(freep) char *p = cursor_text(prev), *n = cursor_text(next);

        die_error(ERR_FAILED,
                  json_pack("{s:s,s:I,s:O,s:s}", "method", pg->method, "page", (json_int_t)page, "next",
                            next, "reason", "next does not advance"),
                  "%s page %" PRIu64 " says the next page starts after %s, which does not come after %s: "
                  "the listing would never end, so vaultctl stopped (is this vaultd's socket? vaultd "
                  "never does this)",
                  pg->method, page, n, p);
}

__attribute__((noreturn)) static void die_too_many(const struct pager *pg, json_t *next)
{
        _cleanup_(freep) char *n = cursor_text(next);
        char resume[512] = "";

        if (pg->resume_option)
                snprintf(resume, sizeof(resume), " to go on from here: %s %s", pg->resume_option,
                         json_is_string(next) ? json_string_value(next) : n);
        die_error(ERR_FAILED,
                  json_pack("{s:s,s:I,s:O,s:s}", "method", pg->method, "pages", (json_int_t)PAGES_MAX,
                            "next", next, "reason", "too many pages"),
                  "%s sent %d pages and says more follow; vaultctl stopped there, as no listing of a vault "
                  "should be that long (is this vaultd's socket?%s)",
                  pg->method, PAGES_MAX, resume);
}

/* Calls for the page after cursor; dies on an error reply or a page
 * without its items. */
static json_t *fetch_page(struct ctl *ctl, const struct pager *pg, json_t *cursor)
{
        json_t *params = json_copy(pg->params), *page;

        if (!params)
                die("out of memory");
        if (cursor)
                json_object_set(params, pg->cursor_key, cursor);
        page = ctl_call(ctl, pg->method, params);
        if (!json_is_array(json_object_get(page, pg->items_key)))
                die("vaultd sent a %s page without %s (is this vaultd's socket?)", pg->method,
                    pg->items_key);
        return page;
}

/* Prints a page under --json, as part of one document: the items of every
 * page in one array, then the last page's other members. */
static void emit_json(const struct pager *pg, json_t *page, bool first, bool last)
{
        json_t *item, *rest;
        size_t i;

        if (first)
                json_stream_begin(pg->items_key);
        json_array_foreach(json_object_get(page, pg->items_key), i, item)
        {
                json_stream_item(item);
        }
        if (!last)
                return;
        rest = json_copy(page);
        json_object_del(rest, pg->items_key);
        if (json_is_null(json_object_get(rest, "next")))
                json_object_del(rest, "next");
        json_stream_end(rest);
        json_decref(rest);
}

int pager_run(struct ctl *ctl, const struct pager *pg)
{
        json_t *cursor = json_incref(pg->cursor);
        bool last = false;

        for (uint64_t pages = 0; !last; pages++) {
                json_t *page, *next;

                if (pages == PAGES_MAX)
                        die_too_many(pg, cursor);
                page = fetch_page(ctl, pg, cursor);
                next = json_object_get(page, "next");
                if (json_is_null(next))
                        next = NULL;
                if (next && !cursor_advances(cursor, next))
                        die_no_advance(pg, pages + 1, cursor, next);
                last = !pg->all || !next;
                if (ctl->json)
                        emit_json(pg, page, pages == 0, last);
                else
                        pg->show(pg->userdata, page, last);
                json_decref(cursor);
                cursor = json_incref(next);
                json_decref(page);
        }
        json_decref(cursor);
        return EXIT_SUCCESS;
}
