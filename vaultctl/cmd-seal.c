/* Seal commands: unseal, seal, passwd. A root key file sealed by a
 * passphrase starts vaultd sealed (records answer Sealed); these commands
 * open it, close it again, and re-seal the key file under a new
 * passphrase. The passphrase is read from a file or asked on the terminal
 * with echo off, lives in guarded memory (lib/passphrase.h), goes to vaultd
 * and nowhere else: never printed, never in an error message. jansson's
 * copies of it are wiped when freed (main.c). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "passphrase.h"
#include "util.h"
#include "vaultctl.h"

/* A sealed key file is a few hundred bytes; vaultd's reply is checked
 * against this before it is written anywhere. */
#define KEY_FILE_MAX   4096
#define KEY_FILE_MAGIC "vaultd-root-key "
#define MESSAGE_MAX    2048

#define UNSEAL_HINT "'vaultctl unseal'"

enum {
        OPT_PASSPHRASE_FILE = OPT_COMMAND,
        OPT_FORCE,
};

static void passphrase_freep(char **p)
{
        passphrase_free(*p);
}

/* The passphrase from path, or from the terminal (twice with confirm).
 * Dies with what to do when there is none. Caller frees with
 * passphrase_free(). */
static char *passphrase_get(struct ctl *ctl, const char *path, const char *prompt, bool confirm,
                            size_t *ret_len)
{
        char *pass = NULL;
        int r;

        /* No core dump and no ptrace by other processes of this user while
         * the passphrase is in memory. */
        (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        if (path) {
                r = passphrase_from_file(path, &pass, ret_len);
                if (r == -EINVAL)
                        die("%s: its first line is empty; the passphrase is the first line of the file",
                            path);
                if (r == -E2BIG)
                        die("%s: the passphrase is longer than %d bytes", path, PASSPHRASE_MAX);
                if (r < 0)
                        die("cannot read the passphrase from %s: %s", path, strerror(-r));
                return pass;
        }
        r = passphrase_prompt(prompt, confirm, &pass, ret_len);
        if (r == -ENOTTY)
                die_usage(ctl, "no terminal to ask the passphrase on: give --passphrase-file FILE "
                               "('-' for standard input)");
        if (r == -EINVAL)
                die("%s", confirm ? "the passphrase is empty, or the two answers differ; nothing was changed"
                                  : "the passphrase is empty; nothing was sent");
        if (r == -E2BIG)
                die("the passphrase is longer than %d bytes", PASSPHRASE_MAX);
        if (r < 0)
                die("cannot read the passphrase from the terminal: %s", strerror(-r));
        return pass;
}

/* {"passphrase": pass}, or dies: vaultd's protocol is JSON, whose strings
 * are UTF-8. */
static json_t *passphrase_params(const char *pass, size_t len)
{
        json_t *s = json_stringn(pass, len);

        if (!s)
                die("the passphrase is not UTF-8 text, which vaultd's protocol cannot carry");
        return json_pack("{s:o}", "passphrase", s);
}

/* The name of an error reply after its last dot, or NULL for a reply. */
static const char *reply_kind(json_t *msg)
{
        const char *name = json_string_value(json_object_get(msg, "error"));
        const char *dot = name ? strrchr(name, '.') : NULL;

        return dot ? dot + 1 : name;
}

/* Calls method and returns the whole answer (caller decrefs); dies when
 * vaultd cannot be reached. */
static json_t *request(struct ctl *ctl, const char *method, json_t *params)
{
        json_t *msg;
        int r = ctl_request(ctl, method, params, &msg);

        if (r < 0)
                ctl_die_io(ctl, r);
        return msg;
}

/* Reports an error reply with message in place of the generic text, keeping
 * vaultd's name and parameters for --json, and exits with its code. */
__attribute__((noreturn, format(printf, 2, 3))) static void die_reply_saying(json_t *msg, const char *fmt,
                                                                             ...)
{
        const char *name = json_string_value(json_object_get(msg, "error")) ?: ERR_FAILED;
        char message[MESSAGE_MAX];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(message, sizeof(message), fmt, ap);
        va_end(ap);
        report_error(name, json_object_get(msg, "parameters"), NULL, message);
        exit(error_exit_code(name));
}

/* Whether vaultd says it is sealed (Status answers every caller the policy
 * knows). Asked before a passphrase is: nobody types one for nothing. */
static bool vault_sealed(struct ctl *ctl)
{
        json_t *reply = ctl_call(ctl, "io.vaultd.admin.Status", NULL);
        bool sealed = strcmp(json_string_value(json_object_get(reply, "state")) ?: "", "sealed") == 0;

        json_decref(reply);
        return sealed;
}

static const char *passphrase_file_arg(struct ctl *ctl, int argc, char **argv)
{
        static const struct option opts[] = {
                {"passphrase-file", required_argument, NULL, OPT_PASSPHRASE_FILE},
                {},
        };
        const char *path = NULL;

        while (ctl_getopt(ctl, argc, argv, "", opts) != -1)
                path = optarg;
        ctl_positional(ctl, argc, argv, 0, 0);
        return path;
}

static void print_state(struct ctl *ctl, const char *state, const char *human)
{
        if (ctl->json) {
                json_t *o = json_pack("{s:s}", "state", state);

                print_json(o);
                json_decref(o);
        } else
                printf("%s\n", human);
}

static uint64_t retry_after(json_t *msg)
{
        json_int_t n =
                json_integer_value(json_object_get(json_object_get(msg, "parameters"), "retry_after"));

        return n > 0 ? (uint64_t)n : 0;
}

int cmd_unseal(struct ctl *ctl, int argc, char **argv)
{
        const char *path = passphrase_file_arg(ctl, argc, argv), *kind;
        _cleanup_(passphrase_freep) char *pass = NULL;
        json_t *msg;
        size_t len;

        if (!vault_sealed(ctl)) {
                print_state(ctl, "serving", "vault is not sealed: serving");
                return EXIT_SUCCESS;
        }
        pass = passphrase_get(ctl, path, "Passphrase to unseal vaultd: ", false, &len);
        msg = request(ctl, "io.vaultd.admin.Unseal", passphrase_params(pass, len));
        passphrase_free(pass); /* wiped right after its last use */
        pass = NULL;
        kind = reply_kind(msg);
        if (kind && strcmp(kind, "WrongPassphrase") == 0)
                die_reply_saying(msg, "wrong passphrase; the next attempt is accepted in %" PRIu64 " s",
                                 retry_after(msg));
        if (kind && strcmp(kind, "TryLater") == 0)
                die_reply_saying(msg, "too soon after a wrong passphrase: try again in %" PRIu64 " s",
                                 retry_after(msg));
        if (kind)
                die_reply(msg);
        json_decref(msg);
        print_state(ctl, "serving", "vault unsealed: serving");
        return EXIT_SUCCESS;
}

int cmd_seal(struct ctl *ctl, int argc, char **argv)
{
        json_t *msg, *params;
        const char *kind;

        while (ctl_getopt(ctl, argc, argv, "", NULL) != -1)
                ;
        ctl_positional(ctl, argc, argv, 0, 0);
        msg = request(ctl, "io.vaultd.admin.Seal", NULL);
        kind = reply_kind(msg);
        params = json_object_get(msg, "parameters");
        /* A plain key file: nothing could unseal the vault again. */
        if (kind && strcmp(kind, "InvalidParameter") == 0 &&
            strcmp(json_string_value(json_object_get(params, "parameter")) ?: "", "key") == 0)
                die_reply_saying(msg, "cannot seal: %s",
                                 json_string_value(json_object_get(params, "reason")) ?: "refused");
        if (kind)
                die_reply(msg);
        json_decref(msg);
        print_state(ctl, "sealed", "vault sealed: records answer Sealed until " UNSEAL_HINT);
        return EXIT_SUCCESS;
}

struct passwd_args {
        const char *out;
        bool force;
        const char *passphrase_file;
};

static void passwd_parse(struct ctl *ctl, int argc, char **argv, struct passwd_args *a)
{
        static const struct option opts[] = {
                {"output", required_argument, NULL, 'o'},
                {"force", no_argument, NULL, OPT_FORCE},
                {"passphrase-file", required_argument, NULL, OPT_PASSPHRASE_FILE},
                {},
        };
        int c;

        while ((c = ctl_getopt(ctl, argc, argv, "o:", opts)) != -1) {
                if (c == 'o')
                        a->out = optarg;
                else if (c == OPT_FORCE)
                        a->force = true;
                else
                        a->passphrase_file = optarg;
        }
        ctl_positional(ctl, argc, argv, 0, 0);
        /* The key file is a secret as strong as its passphrase: it goes to a
         * new file of the caller's, never to a terminal or a scrollback. */
        if (!a->out)
                die_usage(ctl, "-o FILE is required: the new key file is written to a new file (mode "
                               "0600), never shown");
}

/* The key file text of a Passwd reply, checked before it is written. */
static const char *key_file_text(json_t *reply, size_t *ret_len)
{
        json_t *text = json_object_get(reply, "key_file");
        size_t len = json_string_length(text);
        const char *s = json_string_value(text);

        if (!s || len == 0 || len > KEY_FILE_MAX || strlen(s) != len ||
            strncmp(s, KEY_FILE_MAGIC, strlen(KEY_FILE_MAGIC)) != 0)
                die("vaultd's reply holds no key file (is this vaultd's socket?); nothing was written");
        *ret_len = len;
        return s;
}

static void print_next_steps(struct ctl *ctl, const char *path)
{
        _cleanup_(freep) char *shown = NULL;

        if (ctl->json) {
                json_t *o = json_pack("{s:s}", "file", path);

                print_json(o);
                json_decref(o);
                return;
        }
        shown = escape_string(path);
        printf("new key file written to %s (mode 0600): the root key, sealed by the new passphrase\n"
               "Next: install it in place of vaultd's key file (or the systemd credential made from it).\n"
               "vaultd reads it at its next start; 'vaultctl unseal' then takes the new passphrase.\n"
               "The old key file keeps working with the old passphrase until it is replaced, and so\n"
               "does every copy of it (backups included).\n",
               shown);
}

int cmd_passwd(struct ctl *ctl, int argc, char **argv)
{
        _cleanup_(passphrase_freep) char *pass = NULL;
        struct passwd_args a = {0};
        struct output out;
        json_t *msg, *reply;
        const char *text;
        size_t len;
        int r;

        passwd_parse(ctl, argc, argv, &a);
        /* A refused FILE or a sealed vault costs no passphrase typed. */
        if (vault_sealed(ctl))
                die_error("io.vaultd.admin.Sealed", NULL,
                          "the vault is sealed: run " UNSEAL_HINT " first (passwd re-seals the root key "
                          "vaultd holds open)");
        output_open(&out, a.out, a.force);
        pass = passphrase_get(ctl, a.passphrase_file, "New passphrase for the root key: ", true, &len);
        msg = request(ctl, "io.vaultd.admin.Passwd", passphrase_params(pass, len));
        passphrase_free(pass); /* wiped right after its last use */
        pass = NULL;
        if (reply_kind(msg))
                die_reply(msg);
        reply = json_object_get(msg, "parameters");
        text = key_file_text(reply, &len);
        r = write_all(out.fd, text, len);
        if (r < 0)
                die("cannot write %s: %s", a.out, strerror(-r));
        output_commit(&out);
        if (close(out.fd) < 0)
                die("cannot write %s: %m", a.out);
        json_decref(msg); /* wipes the text (main.c) */
        print_next_steps(ctl, a.out);
        return EXIT_SUCCESS;
}

/* Writes the key file text of reply to out (then synced and renamed into
 * place), so that the admin holds it before anything depends on it. */
static void write_key_file(json_t *reply, struct output *out, const char *path)
{
        size_t len;
        const char *text = key_file_text(reply, &len);
        int r = write_all(out->fd, text, len);

        if (r < 0)
                die("cannot write %s: %s", path, strerror(-r));
        output_commit(out);
        if (close(out->fd) < 0)
                die("cannot write %s: %m", path);
}

int cmd_key_rotate_root(struct ctl *ctl, int argc, char **argv)
{
        _cleanup_(passphrase_freep) char *pass = NULL;
        _cleanup_(freep) char *shown = NULL;
        struct passwd_args a = {0};
        struct output out;
        json_t *msg, *use;
        size_t len;

        passwd_parse(ctl, argc, argv, &a);
        if (vault_sealed(ctl))
                die_error("io.vaultd.admin.Sealed", NULL, "the vault is sealed: run " UNSEAL_HINT " first");
        output_open(&out, a.out, a.force);
        pass = passphrase_get(ctl, a.passphrase_file, "Passphrase for the new root key: ", true, &len);
        msg = request(ctl, "io.vaultd.admin.NewRoot", passphrase_params(pass, len));
        passphrase_free(pass);
        pass = NULL;
        if (reply_kind(msg))
                die_reply(msg);
        /* The new key file is on disk, synced, before vaultd switches. */
        write_key_file(json_object_get(msg, "parameters"), &out, a.out);
        use = request(
                ctl, "io.vaultd.admin.UseRoot",
                json_pack("{s:O}", "key_id", json_object_get(json_object_get(msg, "parameters"), "key_id")));
        json_decref(msg);
        if (reply_kind(use))
                die_reply_saying(use,
                                 "%s was written, but vaultd did not switch to it: the old key file still "
                                 "opens the vault (delete %s)",
                                 a.out, a.out);
        if (ctl->json)
                print_json(json_object_get(use, "parameters"));
        else {
                shown = escape_string(a.out);
                printf("vault now under a new root key: %s (mode 0600, sealed by the passphrase just "
                       "given)\n"
                       "Install it in place of vaultd's key file NOW (or re-encrypt it as the systemd\n"
                       "credential): the old key file no longer opens this vault, and vaultd will need\n"
                       "the new one at its next start ('vaultctl unseal' with the new passphrase).\n"
                       "Backups taken before still open with the old key file.\n",
                       shown);
        }
        json_decref(use);
        return EXIT_SUCCESS;
}
