/* Auditor commands on the trail's Merkle tree: audit prove, audit
 * consistency, and the offline check of what they write (audit verify
 * --proof). A proof file is one JSON object (lib/auditproof.h,
 * docs/audit-format.md "Proofs"): Prove's reply with the format named,
 * small enough to mail, checkable with only the verifier key. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "auditproof.h"
#include "util.h"
#include "vaultctl.h"

enum {
        OPT_SEQ = OPT_COMMAND,
        OPT_SIZE,
        OPT_RECORD,
        OPT_FORCE,
};

/* Pages of a record's lines at most (100 lines each). */
#define PROVE_PAGES_MAX 100000

struct prove_args {
        const char *out;
        bool force;
};

/* Writes the proof file: to -o FILE (new, 0600, put in place when
 * complete) or stdout; then a summary (stderr when stdout holds it). */
static void write_proof(struct ctl *ctl, const struct prove_args *a, json_t *proof)
{
        FILE *f = stdout, *say = a->out ? stdout : stderr;
        json_t *lines = json_object_get(proof, "lines");
        struct output out;

        json_object_set_new(proof, "format", json_string(AUDITPROOF_FORMAT));
        if (a->out) {
                output_open(&out, a->out, a->force);
                f = fdopen(out.fd, "w");
                if (!f)
                        die("cannot create %s: %m", a->out);
        }
        if (json_dumpf(proof, f, JSON_COMPACT) < 0 || fputc('\n', f) == EOF || fflush(f) != 0)
                die("cannot write %s: %m", a->out ? a->out : "standard output");
        if (a->out) {
                output_commit(&out);
                if (fclose(f) != 0)
                        die("cannot write %s: %m", a->out);
        }
        if (ctl->json && !a->out)
                return;
        if (ctl->json) {
                json_t *o =
                        json_pack("{s:s,s:O,s:I}", "file", a->out, "size", json_object_get(proof, "size"),
                                  "lines", (json_int_t)json_array_size(lines));

                print_json(o);
                json_decref(o);
                return;
        }
        if (json_object_get(proof, "old_size"))
                fprintf(say,
                        "wrote the consistency proof from %" JSON_INTEGER_FORMAT " to %" JSON_INTEGER_FORMAT
                        " lines to %s\n",
                        json_integer_value(json_object_get(proof, "old_size")),
                        json_integer_value(json_object_get(proof, "size")),
                        a->out ? a->out : "standard output");
        else
                fprintf(say, "wrote %zu %s with %s in the tree of %" JSON_INTEGER_FORMAT " lines to %s\n",
                        json_array_size(lines), plural(json_array_size(lines), "line", "lines"),
                        plural(json_array_size(lines), "its inclusion proof", "their inclusion proofs"),
                        json_integer_value(json_object_get(proof, "size")),
                        a->out ? a->out : "standard output");
        fprintf(say, "(check it offline: vaultctl audit verify --proof FILE --key VKEY)\n");
}

/* Every page of a record's lines, merged into the first reply. */
static json_t *prove_record(struct ctl *ctl, json_t *params)
{
        json_t *proof = NULL;

        for (unsigned page = 0; page < PROVE_PAGES_MAX; page++) {
                json_t *reply = ctl_call(ctl, "io.vaultd.audit.Prove", json_deep_copy(params)), *next;

                if (!proof)
                        proof = json_incref(reply);
                else
                        json_array_extend(json_object_get(proof, "lines"), json_object_get(reply, "lines"));
                next = json_object_get(reply, "next_version");
                if (!json_is_integer(next)) {
                        json_decref(reply);
                        json_object_del(proof, "next_version");
                        json_decref(params);
                        return proof;
                }
                json_object_set(params, "from_version", next);
                /* Later pages against the same tree as the first. */
                json_object_set(params, "size", json_object_get(proof, "size"));
                json_decref(reply);
        }
        die("vaultd keeps sending pages of the record's lines: stopped after %u", PROVE_PAGES_MAX);
}

int cmd_audit_prove(struct ctl *ctl, int argc, char **argv)
{
        static const struct option opts[] = {
                {"seq", required_argument, NULL, OPT_SEQ}, {"size", required_argument, NULL, OPT_SIZE},
                {"record", no_argument, NULL, OPT_RECORD}, {"output", required_argument, NULL, 'o'},
                {"force", no_argument, NULL, OPT_FORCE},   {},
        };
        struct prove_args a = {0};
        json_t *params = json_object(), *proof;
        bool record = false, has_seq = false;
        char **pos;
        int c;

        while ((c = ctl_getopt(ctl, argc, argv, "o:", opts)) != -1) {
                if (c == OPT_SEQ) {
                        json_object_set_new(
                                params, "seq",
                                json_integer((json_int_t)arg_uint(ctl, "--seq", optarg, INT64_MAX)));
                        has_seq = true;
                } else if (c == OPT_SIZE)
                        json_object_set_new(
                                params, "size",
                                json_integer((json_int_t)arg_uint(ctl, "--size", optarg, INT64_MAX)));
                else if (c == OPT_RECORD)
                        record = true;
                else if (c == OPT_FORCE)
                        a.force = true;
                else
                        a.out = optarg;
        }
        pos = ctl_positional(ctl, argc, argv, record ? 2 : 0, record ? 2 : 0);
        if (record == has_seq)
                die_usage(ctl, "give --seq SEQ (one line) or --record COLLECTION ID (the lines that wrote "
                               "each version of a record)");
        if (a.force && !a.out)
                die_usage(ctl, "--force replaces the file given with -o FILE; there is none");
        if (record) {
                json_object_set_new(params, "collection", json_string(pos[0]));
                json_object_set_new(params, "id", json_string(pos[1]));
                proof = prove_record(ctl, params);
        } else
                proof = ctl_call(ctl, "io.vaultd.audit.Prove", params);
        write_proof(ctl, &a, proof);
        json_decref(proof);
        return EXIT_SUCCESS;
}

int cmd_audit_consistency(struct ctl *ctl, int argc, char **argv)
{
        static const struct option opts[] = {
                {"output", required_argument, NULL, 'o'},
                {"force", no_argument, NULL, OPT_FORCE},
                {},
        };
        struct prove_args a = {0};
        json_t *proof;
        char **pos;
        int c;

        while ((c = ctl_getopt(ctl, argc, argv, "o:", opts)) != -1) {
                if (c == OPT_FORCE)
                        a.force = true;
                else
                        a.out = optarg;
        }
        pos = ctl_positional(ctl, argc, argv, 2, 2);
        if (a.force && !a.out)
                die_usage(ctl, "--force replaces the file given with -o FILE; there is none");
        proof = ctl_call(ctl, "io.vaultd.audit.Prove",
                         json_pack("{s:I,s:I}", "old_size",
                                   (json_int_t)arg_uint(ctl, "OLD", pos[0], INT64_MAX), "size",
                                   (json_int_t)arg_uint(ctl, "NEW", pos[1], INT64_MAX)));
        write_proof(ctl, &a, proof);
        json_decref(proof);
        return EXIT_SUCCESS;
}

static void show_proof_verified(const char *path, const char *vkey, const struct auditproof_report *rep)
{
        printf("OK: %s verifies against the tree of %" PRIu64 " lines:", path, rep->size);
        if (rep->lines)
                printf(" %" PRIu64 " %s included", rep->lines, plural(rep->lines, "line", "lines"));
        if (rep->old_size)
                printf("%s it extends the tree of %" PRIu64 " lines", rep->lines ? ";" : "", rep->old_size);
        printf("\n");
        if (rep->root_signed) {
                printf("the root is signed: the checkpoint of size %" PRIu64 " names it\n", rep->size);
                if (rep->old_root_signed)
                        printf("so is the older root: the checkpoint of size %" PRIu64 " names it\n",
                               rep->old_size);
        } else if (rep->checkpoint)
                printf("note: the checkpoint of size %" PRIu64 " is signed but names the hash of the last "
                       "line, not the root (signed before the store's upgrade to signed roots): the proof "
                       "shows the line is in this "
                       "tree, not that the vault signed it\n",
                       rep->size);
        else
                printf("note: no checkpoint of size %" PRIu64 " came with it: the root is vaultd's word "
                       "alone; prove against a checkpoint's size (the default)\n",
                       rep->size);
        if (!vkey)
                printf("note: checked against the key the file itself names; pass --key with the\n"
                       "vault's verifier key (vaultctl audit head) to prove where it came from\n");
}

/* The proof's checkpoint must carry the quorum of cosignatures: its root
 * is the one the proofs are against. */
static void proof_witnessed(struct ctl *ctl, const struct witness_opts *w, json_t *proof,
                            const struct auditproof_report *rep, struct cosign_verdict *ret)
{
        json_t *cp = json_object_get(proof, "checkpoint");

        *ret = (struct cosign_verdict){0};
        if (!w->n)
                return;
        if (!rep->root_signed)
                die_error(ERR_NOT_VERIFIED, json_pack("{s:s}", "reason", "no signed root"),
                          "the proof comes with no checkpoint that names its root, so no witness can vouch "
                          "for it: prove against a checkpoint's size (--size)");
        cosign_verdict(json_string_value(cp), json_string_length(cp), w->keys, w->n, ret);
        witness_require(
                ctl, w, ret, rep->size,
                "prove against a checkpoint the witnesses cosigned ('vaultctl audit prove ... --size "
                "SIZE'), or have this one cosigned first");
}

int audit_verify_proof(struct ctl *ctl, const char *path, const char *vkey, const struct witness_opts *w)
{
        struct auditproof_report rep;
        struct cosign_verdict cosigned;
        json_error_t err;
        json_t *proof = json_load_file(path, 0, &err);
        int r;

        if (!proof)
                die_error(ERR_NOT_VERIFIED, json_pack("{s:s,s:s}", "file", path, "reason", err.text),
                          "%s is not a proof file: %s", path, err.text);
        r = auditproof_verify(proof, vkey, &rep);
        if (r < 0)
                die_error(ERR_NOT_VERIFIED,
                          json_pack("{s:s,s:s,s:I}", "file", path, "reason", rep.why, "seq",
                                    (json_int_t)rep.bad_seq),
                          "%s does NOT verify: %s", path, rep.why);
        proof_witnessed(ctl, w, proof, &rep, &cosigned);
        json_decref(proof);
        if (ctl->json) {
                json_t *o = json_pack("{s:b,s:s,s:I,s:I,s:I,s:b,s:b,s:b,s:b}", "valid", 1, "file", path,
                                      "size", (json_int_t)rep.size, "lines", (json_int_t)rep.lines,
                                      "old_size", (json_int_t)rep.old_size, "root_signed", rep.root_signed,
                                      "old_root_signed", rep.old_root_signed, "checkpoint", rep.checkpoint,
                                      "trusted_key", vkey != NULL);
                if (w->n)
                        json_object_update_new(o, witness_json(w, &cosigned, rep.size));
                print_json(o);
                json_decref(o);
        } else {
                show_proof_verified(path, vkey, &rep);
                witness_show(w, &cosigned, rep.size, stdout);
        }
        return EXIT_SUCCESS;
}
