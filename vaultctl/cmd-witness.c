/* Witnesses (docs/audit-format.md "Witnesses"): audit witness-request
 * writes the body of a c2sp.org/tlog-witness add-checkpoint request for
 * the vault's newest checkpoint, and audit cosign import hands what a
 * witness answered back to vaultd, which keeps it next to the checkpoint.
 * vaultctl talks to the vault only; carrying the request to a witness over
 * HTTPS is the poster's job (packaging/vaultd-witness-post). */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "auditproof.h"
#include "auditview.h"
#include "cosign.h"
#include "util.h"
#include "vaultctl.h"

enum {
        OPT_SINCE_SIZE = OPT_COMMAND,
        OPT_SIZE,
        OPT_KEY,
        OPT_FORCE,
};

#define EM_DASH        "\xe2\x80\x94"
#define REQUEST_PREFIX "old "

/* The note's text and the signature lines in the vault's own name (the
 * witness ignores others; cosignatures stay home). */
static void write_checkpoint(FILE *f, const char *note, const char *origin)
{
        const char *sigs = strstr(note, "\n\n"), *p;

        /* A checkpoint's text has no blank line: the first one ends it. */
        fwrite(note, 1, (size_t)(sigs - note) + 2, f);
        for (p = sigs + 2; *p;) {
                const char *eol = strchr(p, '\n');
                size_t plen = strlen(EM_DASH " ");

                if (strncmp(p + plen, origin, strlen(origin)) == 0 && p[plen + strlen(origin)] == ' ')
                        fwrite(p, 1, (size_t)(eol - p) + 1, f);
                p = eol + 1;
        }
}

/* Checks vaultd's answer as an offline verifier would: the checkpoint
 * signed by the key (the given one, else the one vaultd names) and naming
 * the root, and the consistency proof from old_size. */
static void check_answer(json_t *reply, const char *vkey, uint64_t since)
{
        struct auditproof_report rep;

        json_object_set_new(reply, "format", json_string(AUDITPROOF_FORMAT));
        if (!json_is_string(json_object_get(reply, "checkpoint")))
                die("vaultd holds no signed checkpoint of size %" JSON_INTEGER_FORMAT
                    ": ask for the size of one (--size), or the newest (the default)",
                    json_integer_value(json_object_get(reply, "size")));
        if (since && !json_is_string(json_object_get(reply, "old_checkpoint")))
                die_error(ERR_NOT_VERIFIED,
                          json_pack("{s:s,s:I}", "reason", "no checkpoint of that size", "size",
                                    (json_int_t)since),
                          "this vault signed no checkpoint of size %" PRIu64
                          ": if a witness holds that size of this vault's origin, it saw "
                          "another history of it (a copy of the vault, or a store put back): keep "
                          "its cosigned checkpoint as evidence; else the size is mistyped",
                          since);
        if (auditproof_verify(reply, vkey, &rep) < 0)
                die_error(ERR_NOT_VERIFIED, json_pack("{s:s}", "reason", rep.why),
                          "vaultd's answer does NOT verify, so it is not sent to a witness: %s", rep.why);
        if (!rep.root_signed)
                die("the checkpoint of size %" PRIu64 " names its last line's hash, not the tree's root "
                    "(signed before the store's upgrade to signed roots): witnesses check roots; ask "
                    "for a newer checkpoint",
                    rep.size);
}

static void write_request(FILE *f, json_t *reply, uint64_t since)
{
        json_t *cons = json_object_get(reply, "consistency"), *h;
        size_t i;

        fprintf(f, REQUEST_PREFIX "%" PRIu64 "\n", since);
        /* From size 0 the request carries no proof: the reply's, from the
         * tree of one line, was only checked. */
        if (since) {
                json_array_foreach(cons, i, h) fprintf(f, "%s\n", json_string_value(h));
        }
        fputc('\n', f);
        write_checkpoint(f, json_string_value(json_object_get(reply, "checkpoint")),
                         json_string_value(json_object_get(reply, "origin")));
}

int cmd_audit_witness_request(struct ctl *ctl, int argc, char **argv)
{
        static const struct option opts[] = {
                {"since", required_argument, NULL, OPT_SINCE_SIZE},
                {"size", required_argument, NULL, OPT_SIZE},
                {"key", required_argument, NULL, OPT_KEY},
                {"output", required_argument, NULL, 'o'},
                {"force", no_argument, NULL, OPT_FORCE},
                {},
        };
        const char *vkey = NULL, *out_path = NULL;
        json_t *params = json_object(), *reply;
        uint64_t since = 0;
        bool has_since = false, force = false;
        struct output out;
        FILE *f = stdout;
        int c;

        while ((c = ctl_getopt(ctl, argc, argv, "o:", opts)) != -1) {
                if (c == OPT_SINCE_SIZE) {
                        since = arg_uint(ctl, "--since", optarg, INT64_MAX);
                        has_since = true;
                } else if (c == OPT_SIZE)
                        json_object_set_new(
                                params, "size",
                                json_integer((json_int_t)arg_uint(ctl, "--size", optarg, INT64_MAX)));
                else if (c == OPT_KEY)
                        vkey = optarg;
                else if (c == OPT_FORCE)
                        force = true;
                else
                        out_path = optarg;
        }
        ctl_positional(ctl, argc, argv, 0, 0);
        if (!has_since)
                die_usage(ctl, "give --since SIZE: the size of the last checkpoint the witness cosigned "
                               "(0 when it has none of this vault; a witness that answers 409 names it)");
        if (force && !out_path)
                die_usage(ctl, "--force replaces the file given with -o FILE; there is none");
        /* Size 0 has no tree to prove consistency from, and the request
         * carries no proof: the one from the tree of one line (in every
         * tree) brings the checkpoint, its root and key, and is checked but
         * not sent. A consistency proof is all the cosigner role may ask. */
        json_object_set_new(params, "old_size", json_integer((json_int_t)(since ? since : 1)));
        reply = ctl_call(ctl, "io.vaultd.audit.Prove", params);
        check_answer(reply, vkey, since);
        if (out_path) {
                output_open(&out, out_path, force);
                if (!(f = fdopen(out.fd, "w")))
                        die("cannot create %s: %m", out_path);
        }
        write_request(f, reply, since);
        if (fflush(f) != 0)
                die("cannot write %s: %m", out_path ? out_path : "standard output");
        if (out_path) {
                output_commit(&out);
                if (fclose(f) != 0)
                        die("cannot write %s: %m", out_path);
        }
        if (!ctl->json)
                fprintf(out_path ? stdout : stderr,
                        "add-checkpoint request for the checkpoint of size %" JSON_INTEGER_FORMAT
                        ", extending size %" PRIu64 "%s%s\n(POST it to WITNESS/add-checkpoint; give the "
                        "reply, appended to this file, to 'vaultctl audit cosign import')\n",
                        json_integer_value(json_object_get(reply, "size")), since, out_path ? ": " : "",
                        out_path ? out_path : "");
        json_decref(reply);
        return EXIT_SUCCESS;
}

/* A cosigned checkpoint, from FILE ("-": standard input): a signed note,
 * or an add-checkpoint request body with the witness's reply appended
 * (its lines before the first blank line are the request's). */
static char *read_cosigned(const char *path, size_t *ret_len)
{
        char *buf = NULL, *p;
        size_t len = 0;
        int r;

        if (strcmp(path, "-") == 0) {
                buf = malloc(COSIGN_NOTE_MAX + 2);
                if (!buf)
                        die("out of memory");
                len = fread(buf, 1, COSIGN_NOTE_MAX + 1, stdin);
                if (ferror(stdin))
                        die("cannot read standard input: %m");
                if (len > COSIGN_NOTE_MAX)
                        die("standard input holds more than %d bytes: not a cosigned checkpoint",
                            COSIGN_NOTE_MAX);
                buf[len] = '\0';
        } else if ((r = read_file_max(path, COSIGN_NOTE_MAX, &buf, &len)) < 0)
                die("cannot read %s: %s", path,
                    r == -EFBIG ? "larger than 16384 bytes: not a cosigned checkpoint" : strerror(-r));
        if (strncmp(buf, REQUEST_PREFIX, strlen(REQUEST_PREFIX)) == 0 && (p = strstr(buf, "\n\n"))) {
                len -= (size_t)(p + 2 - buf);
                memmove(buf, p + 2, len + 1);
        }
        *ret_len = len;
        return buf;
}

static void show_imported(json_t *reply)
{
        printf("checkpoint of size %" JSON_INTEGER_FORMAT ": %" JSON_INTEGER_FORMAT
               " cosignatures stored, %" JSON_INTEGER_FORMAT
               " ignored (another one of that witness is kept), %" JSON_INTEGER_FORMAT " already there\n",
               json_integer_value(json_object_get(reply, "size")),
               json_integer_value(json_object_get(reply, "added")),
               json_integer_value(json_object_get(reply, "ignored")),
               json_integer_value(json_object_get(reply, "unchanged")));
}

int cmd_audit_cosign_import(struct ctl *ctl, int argc, char **argv)
{
        char **files;
        int argn, r = EXIT_SUCCESS;

        while (ctl_getopt(ctl, argc, argv, "", NULL) != -1)
                ;
        argn = argc - optind;
        files = ctl_positional(ctl, argc, argv, 1, 64);
        for (int i = 0; i < argn && r == EXIT_SUCCESS; i++) {
                size_t len;
                _cleanup_(freep) char *note = read_cosigned(files[i], &len);

                r = ctl_show(ctl, "io.vaultd.audit.AddCosignatures",
                             json_pack("{s:s%}", "checkpoint", note, len), show_imported);
        }
        return r;
}

void witness_option(struct ctl *ctl, struct witness_opts *w, const char *vkey)
{
        struct cosigner k;

        if (w->n == COSIGN_WITNESSES_MAX)
                die_usage(ctl, "at most %d witness keys (--witness)", COSIGN_WITNESSES_MAX);
        if (cosigner_parse(vkey, &k) < 0)
                die_usage(ctl,
                          "--witness takes a witness's key, NAME+KEYID+BASE64 of type 0x04 "
                          "(c2sp.org/tlog-cosignature), not '%s'",
                          vkey);
        for (size_t i = 0; i < w->n; i++)
                if (memcmp(w->keys[i].pk, k.pk, sizeof(k.pk)) == 0)
                        die_usage(ctl, "--witness %s is given twice: a quorum counts distinct keys", vkey);
        w->keys[w->n++] = k;
}

void witness_options_check(struct ctl *ctl, struct witness_opts *w)
{
        if (w->quorum && !w->n)
                die_usage(ctl, "--quorum N needs the witnesses' keys: give each with --witness VKEY");
        if (w->quorum > w->n)
                die_usage(ctl, "--quorum %u asks for more witnesses than the %zu given with --witness",
                          w->quorum, w->n);
        if (w->n && !w->quorum)
                w->quorum = (unsigned)w->n; /* every witness given, unless told otherwise */
}

void witness_options_done(struct witness_opts *w)
{
        for (size_t i = 0; i < w->n; i++)
                cosigner_done(&w->keys[i]);
        w->n = 0;
}

static const char *verdict_word(int result)
{
        return result == 0 ? "ok" : result == -ENOENT ? "missing" : "invalid";
}

json_t *witness_json(const struct witness_opts *w, const struct cosign_verdict *v, uint64_t size)
{
        json_t *list = json_array();

        for (size_t i = 0; i < w->n; i++) {
                json_t *o = json_pack("{s:s,s:s}", "name", w->keys[i].name, "cosignature",
                                      verdict_word(v->result[i]));

                if (v->result[i] == 0)
                        json_object_set_new(o, "time", json_integer((json_int_t)v->time[i]));
                json_array_append_new(list, o);
        }
        return json_pack("{s:I,s:I,s:I,s:o}", "witnessed_size", (json_int_t)size, "quorum",
                         (json_int_t)w->quorum, "cosigned", (json_int_t)v->valid, "witnesses", list);
}

void witness_show(const struct witness_opts *w, const struct cosign_verdict *v, uint64_t size, FILE *f)
{
        for (size_t i = 0; i < w->n; i++) {
                _cleanup_(freep) char *name = escape_string(w->keys[i].name);
                char when[LOCAL_TIME_MAX] = "";

                if (v->result[i] == 0)
                        local_format(v->time[i] * 1000000, LOCAL_SECONDS, when);
                if (v->result[i] == 0)
                        fprintf(f, "witness %s cosigned the checkpoint of size %" PRIu64 " at %s\n", name,
                                size, when);
                else if (v->result[i] == -ENOENT)
                        fprintf(f, "witness %s: no cosignature of the checkpoint of size %" PRIu64 "\n",
                                name, size);
                else
                        fprintf(f,
                                "witness %s: its cosignature of the checkpoint of size %" PRIu64
                                " does NOT verify (forged, or of another text)\n",
                                name, size);
        }
}

void witness_require(const struct ctl *ctl, const struct witness_opts *w, const struct cosign_verdict *v,
                     uint64_t size, const char *hint)
{
        json_t *params;

        if (!w->n || v->valid >= w->quorum)
                return;
        params = witness_json(w, v, size);
        json_object_set_new(params, "reason", json_string("too few witnesses cosigned"));
        if (!ctl->json)
                witness_show(w, v, size, stderr);
        die_error(ERR_NOT_VERIFIED, params,
                  "the checkpoint of size %" PRIu64 " is cosigned by %zu of the witnesses given, %u needed "
                  "(--quorum)%s%s",
                  size, v->valid, w->quorum, hint ? ": " : "", hint ? hint : "");
}
