/* Seal commands: unseal, seal. A root key file sealed by a
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

/* The key file text of a Passwd reply, checked before it is written. */
/* Writes the key file text of reply to out (then synced and renamed into
 * place), so that the admin holds it before anything depends on it. */
