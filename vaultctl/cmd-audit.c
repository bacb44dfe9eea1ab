/* Auditor commands: audit head, audit export, audit verify. Export and
 * verify count the same things (audit lines, signed checkpoints), so their
 * numbers for one file agree. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "auditfmt.h"
#include "auditproof.h"
#include "auditview.h"
#include "util.h"
#include "auditview.h"
#include "vaultctl.h"

/* How a checkpoint line of an export starts (docs/audit-format.md). */
#define CHECKPOINT_PREFIX "{\"checkpoint\":"

enum {
        OPT_FILE = OPT_COMMAND,
        OPT_KEY,
        OPT_FORCE,
        OPT_FORMAT,
        OPT_PARTIAL,
        OPT_STATE,
        OPT_SINCE_HEAD,
        OPT_PROOF,
        OPT_WITNESS,
        OPT_QUORUM,
};

static void show_head(json_t *reply)
{
        _cleanup_(freep) char *hash = escape_json_string(json_object_get(reply, "hash")),
                              *origin = escape_json_string(json_object_get(reply, "origin")),
                              *vkey = escape_json_string(json_object_get(reply, "verifier_key"));

        json_int_t lines = json_integer_value(json_object_get(reply, "lines"));

        printf("lines:        %lld\nhead hash:    %s\nhead:         %lld:%s\norigin:       %s\n"
               "verifier key: %s\n",
               (long long)lines, hash, (long long)lines - 1, hash, origin, vkey);
        printf("(write down \"head\": 'vaultctl audit verify --since-head HEAD' later proves a trail\n"
               "extends this one)\n");
}

int cmd_audit_head(struct ctl *ctl, int argc, char **argv)
{
        while (ctl_getopt(ctl, argc, argv, "", NULL) != -1)
                ;
        ctl_positional(ctl, argc, argv, 0, 0);
        return ctl_show(ctl, "io.vaultd.audit.Head", NULL, show_head);
}

/* What an export holds, counted as `audit verify --file` counts it. */
struct export_count {
        bool header_seen;
        uint64_t first_seq, last_seq;
        uint64_t lines, checkpoints;
        uint64_t first_time_us, last_time_us; /* of the first and last audit line */
};

static void count_line(struct export_count *n, const char *line, size_t len)
{
        if (!n->header_seen) {
                json_t *h = json_loadb(line, len, 0, NULL);

                n->header_seen = true;
                n->first_seq = (uint64_t)json_integer_value(json_object_get(h, "first_seq"));
                n->last_seq = (uint64_t)json_integer_value(json_object_get(h, "last_seq"));
                json_decref(h);
        } else if (len >= strlen(CHECKPOINT_PREFIX) &&
                   memcmp(line, CHECKPOINT_PREFIX, strlen(CHECKPOINT_PREFIX)) == 0)
                n->checkpoints++;
        else {
                n->last_time_us = line_time_us(line, len);
                if (n->lines++ == 0)
                        n->first_time_us = n->last_time_us;
        }
}

struct export_args {
        const char *out;
        bool force;
        bool csv;        /* --format csv: a verified export, for reading */
        const char *key; /* the key the CSV's export must verify against */
        struct period period;
        struct audit_filter filter;
        json_t *params;
};

static void export_option(struct ctl *ctl, struct export_args *a, int c)
{
        if (c == 'o')
                a->out = optarg;
        else if (c == OPT_FORCE)
                a->force = true;
        else if (c == OPT_KEY)
                a->key = optarg;
        else if (c == OPT_FORMAT && (strcmp(optarg, "jsonl") == 0 || strcmp(optarg, "csv") == 0))
                a->csv = strcmp(optarg, "csv") == 0;
        else if (c == OPT_FORMAT)
                die_usage(ctl, "--format is jsonl (the evidence) or csv (for a spreadsheet), not '%s'",
                          optarg);
        else if (c >= OPT_PERIOD && c < OPT_PERIOD_END)
                period_option(ctl, &a->period, c, optarg);
        else
                filter_option(ctl, &a->filter, c, optarg);
}

static void export_parse(struct ctl *ctl, int argc, char **argv, struct export_args *a)
{
        static const struct option opts[] = {
                {"output", required_argument, NULL, 'o'},
                {"force", no_argument, NULL, OPT_FORCE},
                {"format", required_argument, NULL, OPT_FORMAT},
                {"key", required_argument, NULL, OPT_KEY},
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

        while ((c = ctl_getopt(ctl, argc, argv, "o:", opts)) != -1)
                export_option(ctl, a, c);
        ctl_positional(ctl, argc, argv, 0, 0);
        if (a->force && !a->out)
                die_usage(ctl, "--force replaces the file given with -o FILE; there is none");
        period_check(ctl, &a->period);
        if (!a->csv && filter_active(&a->filter))
                die_usage(ctl,
                          "--user, --role, --collection, --id, --op and --result choose what --format csv "
                          "shows; the JSON Lines export is the evidence and always holds the whole range");
        if (!a->csv && a->key)
                die_usage(ctl, "--key checks the export that --format csv is made from; check a JSON Lines "
                               "export with 'vaultctl audit verify --file FILE --key VKEY'");
        period_params(&a->period, a->params);
}

/* The export's file, made by output_open() (new, 0600, put in place when
 * complete), or stdout. */
static FILE *export_create(struct export_args *a, struct output *out)
{
        FILE *f;

        if (!a->out)
                return stdout;
        output_open(out, a->out, a->force);
        f = fdopen(out->fd, "w");
        if (!f)
                die("cannot create %s: %m", a->out);
        return f;
}

/* Flushes the export and, for a file, puts it in place. */
static void export_finish(struct export_args *a, struct output *out, FILE *f)
{
        if (fflush(f) != 0)
                die("cannot write %s: %m", a->out ? a->out : "standard output");
        if (!a->out)
                return;
        output_commit(out);
        if (fclose(f) != 0)
                die("cannot write %s: %m", a->out);
}

struct export_sink {
        FILE *f;
        struct export_count n;
};

/* Writes one line of the export and counts it. */
static void export_write(const char *line, size_t len, void *data)
{
        struct export_sink *sink = data;

        fwrite(line, 1, len, sink->f);
        fputc('\n', sink->f);
        count_line(&sink->n, line, len);
}

/* On stdout after -o FILE, else on stderr (stdout holds the export). */
static void export_summary(struct ctl *ctl, const struct export_args *a, const struct export_count *n)
{
        FILE *f = a->out ? stdout : stderr;
        json_t *o;

        if (!ctl->json) {
                fprintf(f,
                        "exported %" PRIu64 " audit %s (seq %" PRIu64 "..%" PRIu64 ") and %" PRIu64
                        " signed %s to %s\n",
                        n->lines, plural(n->lines, "line", "lines"), n->first_seq, n->last_seq,
                        n->checkpoints, plural(n->checkpoints, "checkpoint", "checkpoints"),
                        a->out ? a->out : "standard output");
                period_summary(f, &a->period, n->first_time_us, n->last_time_us);
                return;
        }
        if (!a->out)
                return;
        o = json_pack("{s:s,s:I,s:I,s:I,s:I}", "file", a->out, "first_seq", (json_int_t)n->first_seq,
                      "last_seq", (json_int_t)n->last_seq, "lines", (json_int_t)n->lines, "checkpoints",
                      (json_int_t)n->checkpoints);
        period_json(o, &a->period, n->first_time_us, n->last_time_us);
        print_json(o);
        json_decref(o);
}

int cmd_audit_export(struct ctl *ctl, int argc, char **argv)
{
        struct export_args a = {.params = json_object()};
        struct export_sink sink = {0};
        struct output out;

        export_parse(ctl, argc, argv, &a);
        if (a.csv)
                return export_csv(ctl, a.params, &a.period, &a.filter, a.key, a.out, a.force);
        sink.f = export_create(&a, &out);
        /* A failure below exits, and the unfinished file goes with it. */
        ctl_stream_lines(ctl, "io.vaultd.audit.Export", a.params, export_write, &sink);
        export_finish(&a, &out, sink.f);
        export_summary(ctl, &a, &sink.n);
        return EXIT_SUCCESS;
}

__attribute__((noreturn)) static void die_not_verified(const char *path, const struct export_report *rep)
{
        json_t *params = json_pack("{s:s,s:I,s:s}", "file", path, "line", (json_int_t)rep->bad_line,
                                   "reason", rep->why);
        char seq[48] = "";

        if (rep->bad_seq >= 0) {
                json_object_set_new(params, "seq", json_integer(rep->bad_seq));
                snprintf(seq, sizeof(seq), " (seq %" PRId64 ")", rep->bad_seq);
        }
        die_error(ERR_NOT_VERIFIED, params,
                  "%s does NOT verify: line %" PRIu64 " of the file%s: %s (keep the file as it is and "
                  "compare it with a fresh export)",
                  path, rep->bad_line, seq, rep->why);
}

/* The tree of the lines verified, and where the checkpoints switched
 * from naming their last line's hash to naming the root. */
static void show_tree(const struct export_report *rep)
{
        char b64[MERKLE_HASH_B64_SIZE];

        if (rep->tree_known) {
                auditproof_hash_b64(rep->tree_root, b64);
                printf("tree: %" PRIu64 " lines, root %s%s\n", rep->tree_size, b64,
                       rep->tree_root_signed ? " (signed)" : "");
        }
        if (rep->forms.old && rep->forms.root)
                printf("checkpoints up to size %" PRIu64 " name the hash of their last line (signed before "
                       "the store's\nupgrade to signed roots); from size %" PRIu64
                       " on they name the root\n",
                       rep->forms.old_last, rep->forms.root_first);
        else if (rep->forms.old)
                printf("its checkpoints name the hash of their last line (signed before the store's "
                       "upgrade to\nsigned roots): no signed root yet\n");
}

static void show_file_verified(const char *what, const char *vkey, const struct export_report *rep,
                               const struct audit_state *since)
{
        char when[LOCAL_TIME_MAX + ZONE_TEXT_MAX + 4] = "";

        printf("OK: %s verifies: %" PRIu64 " audit %s (seq %" PRIu64 "..%" PRIu64 "), %" PRIu64
               " signed %s\n",
               what, rep->lines, plural(rep->lines, "line", "lines"), rep->first_seq, rep->last_seq,
               rep->checkpoints, plural(rep->checkpoints, "checkpoint", "checkpoints"));
        if (rep->head_time > 0) {
                char t[LOCAL_TIME_MAX], z[ZONE_TEXT_MAX];

                local_format((uint64_t)rep->head_time * 1000000, LOCAL_SECONDS, t);
                zone_describe((uint64_t)rep->head_time * 1000000, z);
                snprintf(when, sizeof(when), "%s (%s)", t, z);
        }
        if (rep->head_size > rep->last_seq + 1)
                printf("part of the trail: when it was exported the vault held %" PRIu64
                       " lines (signed %s)\n",
                       rep->head_size, when[0] ? when : "without a time");
        else if (when[0])
                printf("signed head: %" PRIu64 " lines at %s\n", rep->head_size, when);
        show_tree(rep);
        if (since && since->exists && since->has_root)
                printf("continues the trail verified %s: the tree of its first %" PRIu64
                       " lines is unchanged\n",
                       since->verified, since->size);
        else if (since && since->exists)
                printf("continues the trail verified %s: line %" PRIu64 " is unchanged\n", since->verified,
                       since->seq);
        if (rep->key_changes) {
                _cleanup_(freep) char *last = escape_string(rep->last_key);

                printf("the signing key changed %" PRIu64 " %s, each through a checkpoint signed by\n"
                       "the old and the new key; the key in force at the end: %s\n",
                       rep->key_changes, plural(rep->key_changes, "time", "times"), last);
        }
        if (rep->crlf_lines)
                printf("note: %" PRIu64 " %s ended in CR LF (Windows line ends, from a copy by e-mail or\n"
                       "USB stick); the CR is not part of a line, so it was dropped before hashing\n",
                       rep->crlf_lines, plural(rep->crlf_lines, "line", "lines"));
        if (!vkey)
                printf("note: checked against the key the file itself names; pass --key with the\n"
                       "vault's verifier key (vaultctl audit head) to prove where it came from\n");
}

struct verify_args {
        const char *file, *state_path;
        struct export_opts opts;
        struct audit_state since; /* from --state or --since-head */
        struct witness_opts wit;
};

/* With --witness: the checkpoint that covers the export's last line must
 * carry the quorum; else say which checkpoint does, if one does. */
static void export_witnessed(struct ctl *ctl, const struct verify_args *a, const struct export_report *rep)
{
        char hint[320];

        if (!a->wit.n)
                return;
        if (!rep->cosigned_size)
                die_error(ERR_NOT_VERIFIED, json_pack("{s:s}", "reason", "no signed root"),
                          "the checkpoint that covers the last line does not name the tree's root (signed "
                          "before the store's upgrade), so no witness can vouch for it");
        if (rep->best.valid >= a->wit.quorum && rep->best_size < rep->cosigned_size)
                snprintf(
                        hint, sizeof(hint),
                        "the checkpoint of size %" PRIu64 " is cosigned by enough of them: verify an export "
                        "that ends there ('vaultctl audit export --to-seq %" PRIu64
                        "', then --partial), or have the newer one cosigned (the witness poster) and export "
                        "again",
                        rep->best_size, rep->best_size - 1);
        else
                snprintf(hint, sizeof(hint),
                         "have the vault's checkpoints cosigned (vaultctl audit witness-request, then audit "
                         "cosign import) and export again");
        witness_require(ctl, &a->wit, &rep->cosigned, rep->cosigned_size, hint);
}

/* After a verdict of OK: the state file moves on to this export's head;
 * the state must have been this vault's. */
static void state_advance(const struct verify_args *a, const struct export_report *rep)
{
        int r;

        if (!a->state_path)
                return;
        if (a->since.exists && a->since.origin && strcmp(a->since.origin, rep->origin) != 0)
                die_error(ERR_NOT_VERIFIED, json_pack("{s:s}", "reason", "another vault"),
                          "the export is of vault %s, but %s remembers vault %s", rep->origin, a->state_path,
                          a->since.origin);
        r = audit_state_save(a->state_path, rep);
        if (r < 0)
                die("cannot write %s: %s", a->state_path, strerror(-r));
}

static int verified(struct ctl *ctl, const struct verify_args *a, const char *what,
                    const struct export_report *rep)
{
        char hex[AUDIT_HASH_HEX_SIZE], b64[MERKLE_HASH_B64_SIZE];
        json_t *o;

        export_witnessed(ctl, a, rep);
        state_advance(a, rep);
        if (!ctl->json) {
                show_file_verified(what, a->opts.vkey, rep, &a->since);
                if (a->wit.n)
                        witness_show(&a->wit, &rep->cosigned, rep->cosigned_size, stdout);
                return EXIT_SUCCESS;
        }
        hex_encode(rep->last_hash, AUDIT_HASH_SIZE, hex);
        auditproof_hash_b64(rep->tree_root, b64);
        o = json_pack("{s:b,s:s,s:I,s:I,s:I,s:I,s:b,s:I,s:s,s:I,s:I,s:I,s:s,s:b}", "valid", 1, "file", what,
                      "first_seq", (json_int_t)rep->first_seq, "last_seq", (json_int_t)rep->last_seq,
                      "lines", (json_int_t)rep->lines, "checkpoints", (json_int_t)rep->checkpoints,
                      "trusted_key", a->opts.vkey != NULL, "key_changes", (json_int_t)rep->key_changes,
                      "last_key", rep->last_key, "head_size", (json_int_t)rep->head_size, "head_time",
                      (json_int_t)rep->head_time, "crlf_lines", (json_int_t)rep->crlf_lines, "last_hash",
                      hex, "continues", a->since.exists);
        if (o && rep->tree_known)
                json_object_update_new(o, json_pack("{s:I,s:s,s:b}", "tree_size", (json_int_t)rep->tree_size,
                                                    "root", b64, "root_signed", rep->tree_root_signed));
        if (o)
                json_object_update_new(o, json_pack("{s:I,s:I,s:I,s:I}", "old_form_checkpoints",
                                                    (json_int_t)rep->forms.old, "old_form_last_size",
                                                    (json_int_t)rep->forms.old_last, "root_checkpoints",
                                                    (json_int_t)rep->forms.root, "root_first_size",
                                                    (json_int_t)rep->forms.root_first));
        if (o && a->wit.n)
                json_object_update_new(o, witness_json(&a->wit, &rep->cosigned, rep->cosigned_size));
        print_json(o);
        json_decref(o);
        return EXIT_SUCCESS;
}

static int verify_file(struct ctl *ctl, const struct verify_args *a)
{
        struct export_report rep;
        FILE *f = fopen(a->file, "re");
        int r;

        if (!f)
                die("cannot open %s: %m", a->file);
        r = export_verify_opts(f, &a->opts, &rep);
        fclose(f);
        if (r == -EBADMSG)
                die_not_verified(a->file, &rep);
        if (r < 0)
                die("cannot read %s: %s", a->file, strerror(-r));
        return verified(ctl, a, a->file, &rep);
}

/* The live trail, checked here rather than by vaultd: the whole of it,
 * exported and verified against the key the auditor gives. */
static int verify_live_here(struct ctl *ctl, const struct verify_args *a)
{
        struct evidence ev;
        int r;

        /* With the tree verified last time, the lines after it are enough:
         * the export's header gives the tree before its first line. */
        evidence_fetch(ctl,
                       a->opts.has_since_root
                               ? json_pack("{s:I}", "from_seq", (json_int_t)a->opts.since_size)
                               : json_object(),
                       &a->opts, &ev);
        if (!ev.verified)
                die_not_verified("the live trail (exported)", &ev.rep);
        r = verified(ctl, a, "the live trail (exported)", &ev.rep);
        evidence_done(&ev);
        return r;
}

static void show_verified(json_t *reply)
{
        int64_t lines = json_integer_value(json_object_get(reply, "lines")),
                checkpoints = json_integer_value(json_object_get(reply, "checkpoints")),
                records = json_integer_value(json_object_get(reply, "records")),
                versions = json_integer_value(json_object_get(reply, "versions"));
        _cleanup_(freep) char *hash = escape_json_string(json_object_get(reply, "hash"));

        printf("OK: the audit trail verifies: %" PRId64 " audit %s, %" PRId64 " signed %s, head %s\n", lines,
               plural((uint64_t)lines, "line", "lines"), checkpoints,
               plural((uint64_t)checkpoints, "checkpoint", "checkpoints"), hash);
        printf("OK: the records match it: %" PRId64 " %s, %" PRId64 " %s\n", records,
               plural((uint64_t)records, "record", "records"), versions,
               plural((uint64_t)versions, "version", "versions"));
}

/* RecordsInconsistent: one line per record named (vaultd names the first
 * hundred and counts the rest), then the error itself. */
__attribute__((noreturn)) static void die_records_inconsistent(struct ctl *ctl, json_t *msg)
{
        const char *name = json_string_value(json_object_get(msg, "error"));
        json_t *params = json_object_get(msg, "parameters"), *problems = json_object_get(params, "problems"),
               *p;
        uint64_t count = (uint64_t)json_integer_value(json_object_get(params, "count"));
        char message[512];
        size_t i;

        if (!ctl->json)
                json_array_foreach(problems, i, p)
                {
                        _cleanup_(freep) char *coll = escape_json_string(json_object_get(p, "collection")),
                                              *id = escape_json_string(json_object_get(p, "id")),
                                              *why = escape_json_string(json_object_get(p, "reason"));
                        json_t *version = json_object_get(p, "version");
                        char ver[40] = "";

                        if (json_is_integer(version))
                                snprintf(ver, sizeof(ver), " version %" JSON_INTEGER_FORMAT,
                                         json_integer_value(version));
                        report_line("%s/%s%s: %s", coll, id, ver, why);
                }
        snprintf(message, sizeof(message),
                 "RecordsInconsistent: the audit trail verifies, but the stored records do not match it: "
                 "%" PRIu64 " %s%s (keep the vault as it is and call an admin: the records were changed "
                 "outside vaultd)",
                 count, plural(count, "problem", "problems"),
                 count > json_array_size(problems) ? ", the first ones named above" : ", named above");
        report_error(name, params, NULL, message);
        exit(EXIT_NOT_VERIFIED);
}

/* The live store: the trail, then the records against it. */
static int verify_online(struct ctl *ctl)
{
        json_t *msg, *reply;
        const char *error;
        int r = ctl_request(ctl, "io.vaultd.audit.Verify", NULL, &msg);

        if (r < 0)
                ctl_die_io(ctl, r);
        error = json_string_value(json_object_get(msg, "error"));
        if (error && strcmp(error, "io.vaultd.audit.RecordsInconsistent") == 0)
                die_records_inconsistent(ctl, msg);
        if (error)
                die_reply(msg);
        reply = json_object_get(msg, "parameters");
        if (ctl->json)
                print_json(reply);
        else
                show_verified(reply);
        json_decref(msg);
        return EXIT_SUCCESS;
}

int cmd_audit_verify(struct ctl *ctl, int argc, char **argv)
{
        static const struct option opts[] = {
                {"file", required_argument, NULL, OPT_FILE},
                {"key", required_argument, NULL, OPT_KEY},
                {"partial", no_argument, NULL, OPT_PARTIAL},
                {"state", required_argument, NULL, OPT_STATE},
                {"since-head", required_argument, NULL, OPT_SINCE_HEAD},
                {"proof", required_argument, NULL, OPT_PROOF},
                {"witness", required_argument, NULL, OPT_WITNESS},
                {"quorum", required_argument, NULL, OPT_QUORUM},
                {},
        };
        static struct verify_args a; /* large (the witnesses' keys); one per run */
        const char *since_head = NULL, *proof = NULL;
        char why[512];
        int c, r;

        while ((c = ctl_getopt(ctl, argc, argv, "", opts)) != -1) {
                if (c == OPT_FILE)
                        a.file = optarg;
                else if (c == OPT_KEY)
                        a.opts.vkey = optarg;
                else if (c == OPT_PARTIAL)
                        a.opts.partial = true;
                else if (c == OPT_STATE)
                        a.state_path = optarg;
                else if (c == OPT_PROOF)
                        proof = optarg;
                else if (c == OPT_WITNESS)
                        witness_option(ctl, &a.wit, optarg);
                else if (c == OPT_QUORUM) {
                        a.wit.quorum = (unsigned)arg_uint(ctl, "--quorum", optarg, COSIGN_WITNESSES_MAX);
                        if (a.wit.quorum == 0)
                                die_usage(ctl, "--quorum is the number of witnesses that must have "
                                               "cosigned: 1 or more");
                } else
                        since_head = optarg;
        }
        ctl_positional(ctl, argc, argv, 0, 0);
        witness_options_check(ctl, &a.wit);
        a.opts.witnesses = a.wit.keys;
        a.opts.nwitnesses = a.wit.n;
        if (proof && (a.file || a.opts.partial || a.state_path || since_head))
                die_usage(ctl, "--proof checks a proof file alone (with --key); give the export to "
                               "--file in another call");
        if (proof)
                return audit_verify_proof(ctl, proof, a.opts.vkey, &a.wit);
        if (since_head && a.state_path)
                die_usage(ctl, "--since-head and --state both say where the last audit ended: give one");
        if (since_head) {
                if (since_head_parse(since_head, &a.since.seq, a.since.hash) < 0)
                        die_usage(ctl, "--since-head takes SEQ:HASH as 'vaultctl audit head' prints it");
                a.since.exists = true;
                a.since.verified = strdup("as written down (--since-head)");
        }
        if (a.state_path && (r = audit_state_load(a.state_path, &a.since, why, sizeof(why))) < 0)
                die("%s", why);
        if (a.since.exists && a.since.has_root) {
                a.opts.has_since_root = true;
                a.opts.since_size = a.since.size;
                memcpy(a.opts.since_root, a.since.root, MERKLE_HASH_SIZE);
        } else if (a.since.exists) {
                a.opts.has_since = true;
                a.opts.since_seq = a.since.seq;
                memcpy(a.opts.since_hash, a.since.hash, AUDIT_HASH_SIZE);
        }
        if (a.file)
                r = verify_file(ctl, &a);
        else if (a.opts.vkey || a.state_path || since_head || a.wit.n)
                r = verify_live_here(ctl, &a);
        else {
                if (a.opts.partial)
                        die_usage(ctl, "--partial is for an export file: give it with --file EXPORT");
                r = verify_online(ctl);
        }
        audit_state_done(&a.since);
        witness_options_done(&a.wit);
        return r;
}

static void show_rotated(json_t *reply)
{
        _cleanup_(freep) char *next = escape_json_string(json_object_get(reply, "verifier_key")),
                              *prev = escape_json_string(json_object_get(reply, "previous"));

        printf("new verifier key: %s\n"
               "previous key:     %s\n"
               "The next checkpoint is signed by both keys, and later ones by the new key\n"
               "alone. Auditors keep verifying with the key they trust; their verifier follows\n"
               "the hand-over. Give them the new key for exports that start after it.\n",
               next, prev);
}

int cmd_audit_rotate_key(struct ctl *ctl, int argc, char **argv)
{
        while (ctl_getopt(ctl, argc, argv, "", NULL) != -1)
                ;
        ctl_positional(ctl, argc, argv, 0, 0);
        return ctl_show(ctl, "io.vaultd.admin.RotateSigningKey", NULL, show_rotated);
}
