#include "denials.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "methods.h"
#include "util.h"

/* A pair with no denial for this many windows is forgotten. */
#define PAIR_IDLE_WINDOWS 60

struct pair {
        struct pair *next;
        uid_t uid;
        gid_t gid;
        pid_t pid; /* of the latest call */
        const struct method *method;
        char *user;
        uint64_t count, first_us, last_us; /* realtime, of the calls not yet in a line */
        char *collections[DENIALS_COLLECTIONS_MAX];
        size_t ncollections;
        uint64_t other_collections; /* named, but past the list */
        struct job *wait_head, *wait_tail;
        struct job *summary;   /* in the writer, or NULL */
        uint64_t last_line_us; /* monotonic, when the last line was submitted */
};

struct denials {
        uint64_t window_us;
        struct pair *pairs;
        size_t npairs;
};

int denials_new(uint64_t window_us, struct denials **ret)
{
        struct denials *d = calloc(1, sizeof(*d));

        if (!d)
                return -ENOMEM;
        d->window_us = window_us;
        *ret = d;
        return 0;
}

static void pair_clear(struct pair *p)
{
        for (size_t i = 0; i < p->ncollections; i++)
                free(p->collections[i]);
        p->ncollections = 0;
        p->other_collections = 0;
        p->count = 0;
        p->wait_head = p->wait_tail = NULL;
}

static void pair_free(struct pair *p)
{
        pair_clear(p);
        free(p->user);
        free(p);
}

struct job *denials_free(struct denials *d)
{
        struct job *waiting = NULL;

        if (!d)
                return NULL;
        while (d->pairs) {
                struct pair *p = d->pairs;

                d->pairs = p->next;
                if (p->summary)
                        p->summary->denial_pair = NULL; /* comes back from the writer alone */
                if (p->wait_tail) {
                        p->wait_tail->next = waiting;
                        waiting = p->wait_head;
                }
                pair_free(p);
        }
        free(d);
        return waiting;
}

static struct pair *pair_get(struct denials *d, const struct job *j)
{
        struct pair *p;

        for (p = d->pairs; p; p = p->next)
                if (p->uid == j->actor.uid && p->method == j->method)
                        return p;
        if (d->npairs >= DENIALS_PAIRS_MAX || !(p = calloc(1, sizeof(*p))))
                return NULL;
        p->uid = j->actor.uid;
        p->method = j->method;
        if (j->actor.user && !(p->user = strdup(j->actor.user))) {
                free(p);
                return NULL;
        }
        p->next = d->pairs;
        d->pairs = p;
        d->npairs++;
        return p;
}

static void pair_note_collection(struct pair *p, const char *name)
{
        if (!name || !name_collection_valid(name))
                return;
        for (size_t i = 0; i < p->ncollections; i++)
                if (strcmp(p->collections[i], name) == 0)
                        return;
        if (p->ncollections < DENIALS_COLLECTIONS_MAX && (p->collections[p->ncollections] = strdup(name)))
                p->ncollections++;
        else
                p->other_collections++;
}

int denials_add(struct denials *d, struct job *j, uint64_t now_us)
{
        struct pair *p = pair_get(d, j);
        uint64_t t = now_realtime_us();

        if (!p)
                return -ENOSPC;
        if (p->count++ == 0)
                p->first_us = t;
        p->last_us = t;
        p->gid = j->actor.gid;
        p->pid = j->actor.pid;
        pair_note_collection(p, json_string_value(json_object_get(j->call.parameters, "collection")));
        j->next = NULL;
        if (p->wait_tail)
                p->wait_tail->next = j;
        else
                p->wait_head = j;
        p->wait_tail = j;
        return !p->summary && now_us - p->last_line_us >= d->window_us;
}

/* The summary line's own fields: how many calls, when, on what. */
static json_t *pair_summary(const struct pair *p)
{
        char first[TIME_STRING_MAX], last[TIME_STRING_MAX];
        json_t *names = json_array();

        for (size_t i = 0; names && i < p->ncollections; i++)
                json_array_append_new(names, json_string(p->collections[i]));
        time_format_us(p->first_us, first);
        time_format_us(p->last_us, last);
        return json_pack("{s:I,s:s,s:s,s:o*,s:I}", "count", (json_int_t)p->count, "first", first, "last",
                         last, "collections", names, "other_collections", (json_int_t)p->other_collections);
}

static struct job *pair_take(struct pair *p, uint64_t now_us)
{
        struct job *s = calloc(1, sizeof(*s));

        if (!s)
                return NULL;
        s->method = p->method;
        s->internal = true;
        s->denied = true;
        s->audit.version = -1;
        s->actor = (struct audit_actor){p->uid, p->gid, p->pid, p->user ? strdup(p->user) : NULL, NULL};
        s->call.root = json_object();
        s->call.parameters = s->call.root;
        s->denial_summary = pair_summary(p);
        if (!s->call.root || !s->denial_summary || (p->user && !s->actor.user)) {
                job_free(s);
                return NULL;
        }
        s->waiting = p->wait_head;
        s->denial_pair = p;
        p->summary = s;
        p->last_line_us = now_us;
        pair_clear(p);
        return s;
}

struct job *denials_take_due(struct denials *d, uint64_t now_us)
{
        struct job *due = NULL, *s;
        struct pair **pp = &d->pairs, *p;

        while ((p = *pp)) {
                if (!p->summary && p->count == 0 &&
                    now_us - p->last_line_us >= PAIR_IDLE_WINDOWS * d->window_us) {
                        *pp = p->next;
                        d->npairs--;
                        pair_free(p);
                        continue;
                }
                if (!p->summary && p->count > 0 && now_us - p->last_line_us >= d->window_us &&
                    (s = pair_take(p, now_us))) {
                        s->next = due;
                        due = s;
                }
                pp = &p->next;
        }
        return due;
}

struct job *denials_done(struct denials *d, struct job *summary)
{
        struct job *waiting = summary->waiting;

        (void)d;
        struct pair *p = summary->denial_pair;

        if (p)
                p->summary = NULL;
        summary->denial_pair = NULL;
        summary->waiting = NULL;
        return waiting;
}
