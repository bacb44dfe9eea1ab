/* The evidence behind a report or a CSV: the same Export an auditor keeps
 * as JSON Lines, fetched into an unnamed temporary file and verified with
 * lib/export.c (the whole contiguous range, with the key given) before a
 * single line of it is read for people. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "auditview.h"
#include "timestamp.h"
#include "util.h"

/* How a checkpoint line of an export starts (docs/audit-format.md). */
#define CHECKPOINT_PREFIX "{\"checkpoint\":"

static bool is_checkpoint(const char *line, size_t len)
{
        return len >= strlen(CHECKPOINT_PREFIX) &&
               memcmp(line, CHECKPOINT_PREFIX, strlen(CHECKPOINT_PREFIX)) == 0;
}

/* The signed head: the export's last audit line, its hash and time. */
static void note_head(struct evidence *ev, const char *line, size_t len)
{
        uint8_t h[AUDIT_HASH_SIZE];
        json_t *o = json_loadb(line, len, 0, NULL);

        auditfmt_hash(line, len, h);
        hex_encode(h, AUDIT_HASH_SIZE, ev->head_hash);
        if (timestamp_parse_utc(json_string_value(json_object_get(o, "time")), &ev->head_time_us) < 0)
                ev->head_time_us = 0;
        json_decref(o);
}

static void note_header(struct evidence *ev, const char *line, size_t len)
{
        json_t *h = json_loadb(line, len, 0, NULL);
        const char *key = json_string_value(json_object_get(h, "verifier_key")),
                   *origin = json_string_value(json_object_get(h, "origin"));

        ev->header_key = strdup(key ? key : "");
        ev->origin = strdup(origin ? origin : "");
        json_decref(h);
        if (!ev->header_key || !ev->origin)
                die("out of memory");
}

struct fetch {
        struct evidence *ev;
        char *last; /* the last audit line seen so far */
        size_t last_len;
};

/* Writes one line of the export to the file, and notes what it is. */
static void write_line(const char *s, size_t len, void *data)
{
        struct fetch *fe = data;
        struct evidence *ev = fe->ev;

        if (fwrite(s, 1, len, ev->file) != len || fputc('\n', ev->file) == EOF)
                die("cannot write a temporary file: %m (is /tmp full?)");
        if (!ev->header_key)
                note_header(ev, s, len);
        else if (!is_checkpoint(s, len)) {
                free(fe->last);
                if (!(fe->last = strndup(s, len)))
                        die("out of memory");
                fe->last_len = len;
                ev->lines++;
        }
}

void evidence_fetch(struct ctl *ctl, json_t *params, const struct export_opts *opts, struct evidence *ev)
{
        struct fetch fe = {.ev = ev};
        int r;

        *ev = (struct evidence){.key = opts->vkey};
        /* tmpfile(): created 0600 and unlinked at once, gone when vaultctl
         * exits; no other user can open it by name. */
        ev->file = tmpfile();
        if (!ev->file)
                die("cannot create a temporary file: %m (is /tmp writable?)");
        ctl_stream_lines(ctl, "io.vaultd.audit.Export", params, write_line, &fe);
        if (fflush(ev->file) != 0)
                die("cannot write a temporary file: %m (is /tmp full?)");
        if (fe.last)
                note_head(ev, fe.last, fe.last_len);
        free(fe.last);
        rewind(ev->file);
        r = export_verify_opts(ev->file, opts, &ev->rep);
        if (r < 0 && r != -EBADMSG)
                die("cannot read the export back: %s", strerror(-r));
        ev->verified = r == 0;
        evidence_rewind(ev);
}

void evidence_rewind(struct evidence *ev)
{
        json_decref(ev->current);
        ev->current = NULL;
        rewind(ev->file);
}

static const char *member(json_t *o, const char *name)
{
        return json_string_value(json_object_get(o, name));
}

static int64_t integer_or(json_t *v, int64_t otherwise)
{
        return json_is_integer(v) ? (int64_t)json_integer_value(v) : otherwise;
}

static void fill_row(json_t *o, struct audit_row *row)
{
        json_t *actor = json_object_get(o, "actor");

        *row = (struct audit_row){
                .obj = o,
                .seq = (uint64_t)integer_or(json_object_get(o, "seq"), 0),
                .time = member(o, "time"),
                .user = member(actor, "user"),
                .role = member(actor, "role"),
                .uid = integer_or(json_object_get(actor, "uid"), -1),
                .op = member(o, "op"),
                .collection = member(o, "collection"),
                .id = member(o, "id"),
                .version = integer_or(json_object_get(o, "version"), -1),
                .result = member(o, "result"),
                .error = member(o, "error"),
                .count = 1,
        };
        if (timestamp_parse_utc(row->time, &row->time_us) < 0)
                row->time_us = 0;
        /* A summary of denials (docs/audit-format.md) stands for count calls. */
        if (row->result && strcmp(row->result, "denied") == 0 && json_object_get(o, "first"))
                row->count = integer_or(json_object_get(o, "count"), 1);
}

int evidence_next(struct evidence *ev, struct audit_row *row)
{
        _cleanup_(freep) char *line = NULL;
        size_t cap = 0;
        ssize_t n;

        json_decref(ev->current);
        ev->current = NULL;
        if (ftell(ev->file) == 0 && getline(&line, &cap, ev->file) < 0) /* the header */
                return 0;
        while ((n = getline(&line, &cap, ev->file)) > 0) {
                json_t *o;

                if (line[n - 1] == '\n')
                        line[--n] = '\0';
                if (is_checkpoint(line, (size_t)n))
                        return 0;
                o = json_loadb(line, (size_t)n, 0, NULL);
                if (!json_is_object(o)) {
                        json_decref(o);
                        continue;
                }
                ev->current = o;
                fill_row(o, row);
                return 1;
        }
        return 0;
}

void evidence_done(struct evidence *ev)
{
        json_decref(ev->current);
        if (ev->file)
                fclose(ev->file);
        free(ev->header_key);
        free(ev->origin);
        *ev = (struct evidence){0};
}

char *evidence_verdict(const struct evidence *ev)
{
        const struct export_report *rep = &ev->rep;
        char *s = NULL, seq[48] = "";
        int r;

        if (ev->verified)
                r = asprintf(&s,
                             "OK: the export verifies: seq %" PRIu64 "..%" PRIu64 ", %" PRIu64
                             " audit %s, %" PRIu64 " signed %s, %s",
                             rep->first_seq, rep->last_seq, rep->lines, plural(rep->lines, "line", "lines"),
                             rep->checkpoints, plural(rep->checkpoints, "checkpoint", "checkpoints"),
                             ev->key ? "against the key given"
                                     : "against the key it names itself (no --key)");
        else {
                if (rep->bad_seq >= 0)
                        snprintf(seq, sizeof(seq), " (seq %" PRId64 ")", rep->bad_seq);
                r = asprintf(&s, "NOT VERIFIED: line %" PRIu64 " of the export%s: %s", rep->bad_line, seq,
                             rep->why);
        }
        if (r < 0)
                die("out of memory");
        return s;
}

json_t *evidence_json(const struct evidence *ev)
{
        const struct export_report *rep = &ev->rep;
        json_t *o = json_pack("{s:b,s:I,s:I,s:I,s:I,s:b}", "valid", ev->verified, "first_seq",
                              (json_int_t)rep->first_seq, "last_seq", (json_int_t)rep->last_seq, "lines",
                              (json_int_t)rep->lines, "checkpoints", (json_int_t)rep->checkpoints,
                              "trusted_key", ev->key != NULL);

        if (o && !ev->verified) {
                json_object_set_new(o, "line", json_integer((json_int_t)rep->bad_line));
                if (rep->bad_seq >= 0)
                        json_object_set_new(o, "seq", json_integer(rep->bad_seq));
                json_object_set_new(o, "reason", json_string(rep->why));
        }
        return o;
}

/* The note of the checkpoint of size size among the export's checkpoint
 * lines, or NULL. Caller frees. */
static char *checkpoint_of_size(struct evidence *ev, uint64_t size)
{
        _cleanup_(freep) char *line = NULL;
        char *found = NULL;
        size_t cap = 0;
        ssize_t len;

        rewind(ev->file);
        while (!found && (len = getline(&line, &cap, ev->file)) > 0) {
                json_t *o;
                const char *note;
                struct note n;
                struct checkpoint c = {0};
                char why[128];

                if (!is_checkpoint(line, (size_t)len) || !(o = json_loadb(line, (size_t)len, 0, NULL)))
                        continue;
                note = json_string_value(json_object_get(o, "checkpoint"));
                if (note && note_parse(note, strlen(note), &n, why, sizeof(why)) == 0) {
                        if (checkpoint_parse(&n, &c, why, sizeof(why)) == 0 && c.size == size &&
                            !(found = strdup(note)))
                                die("out of memory");
                        checkpoint_done(&c);
                        note_done(&n);
                }
                json_decref(o);
        }
        evidence_rewind(ev);
        return found;
}

static const struct cosigner *witness_of(const struct note_sig *s, const struct cosigner *ws, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (strcmp(s->name, ws[i].name) == 0 && memcmp(s->id, ws[i].id, 4) == 0)
                        return &ws[i];
        return NULL;
}

void evidence_cosignatures(struct evidence *ev, const struct cosigner *ws, size_t n, struct witnessed *ret)
{
        const struct export_report *rep = &ev->rep;
        _cleanup_(freep) char *note = NULL;
        char why[128];

        *ret = (struct witnessed){0};
        if (!ev->verified || !rep->tree_root_signed || !(note = checkpoint_of_size(ev, rep->last_seq + 1)) ||
            note_parse(note, strlen(note), &ret->note, why, sizeof(why)) < 0)
                return;
        ret->any = true;
        ret->size = rep->last_seq + 1;
        for (size_t i = 0; i < ret->note.nsigs; i++) {
                const struct note_sig *s = &ret->note.sigs[i];
                const struct cosigner *w = witness_of(s, ws, n);
                uint64_t t;

                if (!cosign_shape(s, &t))
                        continue; /* the vault's own signature */
                ret->items[ret->n].name = s->name;
                memcpy(ret->items[ret->n].id, s->id, 4);
                ret->items[ret->n].time = t;
                ret->items[ret->n].verdict = w ? cosign_check(&ret->note, w, &t) : -ENOKEY;
                ret->n++;
        }
        for (size_t i = 0; i < n; i++)
                if (cosign_check(&ret->note, &ws[i], &(uint64_t){0}) == -ENOENT) {
                        ret->items[ret->n].name = ws[i].name;
                        memcpy(ret->items[ret->n].id, ws[i].id, 4);
                        ret->items[ret->n++].verdict = -ENOENT;
                }
}

void witnessed_done(struct witnessed *w)
{
        if (w->any)
                note_done(&w->note);
        *w = (struct witnessed){0};
}

const char *witnessed_word(int verdict)
{
        return verdict == 0         ? "ok"
               : verdict == -ENOKEY ? "unchecked"
               : verdict == -ENOENT ? "missing"
                                    : "invalid";
}
