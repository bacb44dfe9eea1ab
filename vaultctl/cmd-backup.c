/* Backups: backup FILE (vaultd writes a copy of the vault into a file made
 * here and passed to it over the socket), backup verify FILE (offline, no
 * daemon, no key: the copy's audit trail, checked as an export is). */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storefile.h"
#include "util.h"
#include "vaultctl.h"

enum {
        OPT_KEY = OPT_COMMAND,
};

/* The file grows as vaultd writes; it is checked this often, to redraw
 * the progress line and to tell a slow copy from a stuck one. */
#define BACKUP_POLL_MS 250
#define MIB            (1024.0 * 1024.0)

static const struct progress_label backup_label = {"backing up", "MiB", "MiB"};

/* Waits for Backup's reply. vaultctl's --timeout bounds a wait without
 * progress (the file not growing), not the whole copy, which takes as long
 * as the vault is large. */
static json_t *backup_wait_reply(struct ctl *ctl, int fd)
{
        struct progress p;
        uint64_t size = 0, last_change = now_monotonic_us();
        json_t *msg;
        int r;

        progress_begin(&p, &backup_label, !ctl->json && isatty(STDERR_FILENO), -1);
        for (;;) {
                struct pollfd pfd = {.fd = ctl->fd, .events = POLLIN};
                struct stat st;

                r = ctl_recv_ready(ctl, &msg);
                if (r != -EAGAIN)
                        break;
                if (poll(&pfd, 1, BACKUP_POLL_MS) < 0 && errno != EINTR) {
                        r = -errno;
                        break;
                }
                if (fstat(fd, &st) == 0 && (uint64_t)st.st_size != size) {
                        size = (uint64_t)st.st_size;
                        last_change = now_monotonic_us();
                }
                progress_update(&p, (uint64_t)((double)size / MIB), -1);
                if (ctl->timeout_s && now_monotonic_us() - last_change > ctl->timeout_s * 1000000ull) {
                        r = -ETIMEDOUT;
                        break;
                }
        }
        progress_clear(&p);
        if (r < 0)
                ctl_die_io(ctl, r);
        return msg;
}

static void show_backup(const char *path, json_t *reply)
{
        _cleanup_(freep) char *hash = escape_json_string(json_object_get(reply, "head_hash")),
                              *when = escape_json_string(json_object_get(reply, "time"));
        int64_t size = json_integer_value(json_object_get(reply, "size")),
                head = json_integer_value(json_object_get(reply, "head_seq"));

        printf("backup written to %s: %.1f MiB, taken %s\n"
               "audit trail in it: lines 0..%" PRId64 ", head %s\n"
               "Check it (here or on another machine): vaultctl backup verify %s\n",
               path, (double)size / MIB, when, head, hash, path);
}

int cmd_backup(struct ctl *ctl, int argc, char **argv)
{
        struct output out;
        json_t *msg, *reply;
        char **pos;
        int r;

        while (ctl_getopt(ctl, argc, argv, "", NULL) != -1)
                ;
        pos = ctl_positional(ctl, argc, argv, 1, 1);
        /* A new file of ours, mode 0600, beside FILE; renamed to FILE only
         * once vaultd has written and synced all of it. */
        output_open(&out, pos[0], false);
        r = ctl_send_fd(ctl, "io.vaultd.admin.Backup", NULL, out.fd);
        if (r < 0)
                ctl_die_io(ctl, r);
        msg = backup_wait_reply(ctl, out.fd);
        if (json_object_get(msg, "error"))
                die_reply(msg); /* the unfinished file goes with vaultctl */
        output_commit(&out);
        close(out.fd);
        reply = json_object_get(msg, "parameters");
        if (ctl->json) {
                json_object_set_new(reply, "file", json_string(pos[0]));
                print_json(reply);
        } else
                show_backup(pos[0], reply);
        json_decref(msg);
        return EXIT_SUCCESS;
}

__attribute__((noreturn)) static void die_backup_bad(const char *path, int64_t seq, const char *why)
{
        json_t *params = json_pack("{s:s,s:s}", "file", path, "reason", why);
        char at[48] = "";

        if (seq >= 0) {
                json_object_set_new(params, "seq", json_integer(seq));
                snprintf(at, sizeof(at), " at audit line %" PRId64, seq);
        }
        die_error(ERR_NOT_VERIFIED, params,
                  "%s does NOT verify%s: %s (do not restore it; keep it as it is, and take a new backup)",
                  path, at, why);
}

static void show_verified(const char *path, const char *vkey, const struct storefile_info *in,
                          const struct storefile_report *rep)
{
        char hash[AUDIT_HASH_HEX_SIZE];

        hex_encode(in->head, AUDIT_HASH_SIZE, hash);
        printf("OK: %s verifies\n"
               "vault:        %s\n"
               "audit lines:  %" PRIu64 " (head seq %" PRIu64 ", hash %s)\n"
               "head time:    %s\n"
               "checkpoints:  %" PRIu64 " signed, the last over seq %" PRIu64 "\n"
               "records:      %" PRIu64 "\n"
               "size:         %.1f MiB\n",
               path, in->vault_id, in->lines, in->lines - 1, hash, rep->head_time, rep->trail.checkpoints,
               rep->trail.last_seq, in->records, (double)in->bytes / MIB);
        if (rep->unsigned_lines)
                printf("note: the %" PRIu64
                       " %s after the last checkpoint %s chained, not signed (the vault "
                       "was sealed, or signs them at its next checkpoint)\n",
                       rep->unsigned_lines, plural(rep->unsigned_lines, "line", "lines"),
                       rep->unsigned_lines == 1 ? "is" : "are");
        if (!vkey)
                printf("note: checked against the key the copy names itself; pass --key with the vault's\n"
                       "verifier key (vaultctl audit head) to prove where it came from\n");
}

static void print_verified_json(const char *path, const char *vkey, const struct storefile_info *in,
                                const struct storefile_report *rep)
{
        char hash[AUDIT_HASH_HEX_SIZE];
        json_t *o;

        hex_encode(in->head, AUDIT_HASH_SIZE, hash);
        o = json_pack("{s:b,s:s,s:s,s:I,s:I,s:s,s:s,s:I,s:I,s:I,s:I,s:b}", "valid", 1, "file", path, "vault",
                      in->vault_id, "lines", (json_int_t)in->lines, "head_seq", (json_int_t)(in->lines - 1),
                      "head_hash", hash, "head_time", rep->head_time, "checkpoints",
                      (json_int_t)rep->trail.checkpoints, "unsigned_lines", (json_int_t)rep->unsigned_lines,
                      "records", (json_int_t)in->records, "size", (json_int_t)in->bytes, "trusted_key",
                      vkey != NULL);
        print_json(o);
        json_decref(o);
}

int cmd_backup_verify(struct ctl *ctl, int argc, char **argv)
{
        static const struct option opts[] = {
                {"key", required_argument, NULL, OPT_KEY},
                {},
        };
        struct storefile_report rep;
        struct storefile *sf;
        const char *vkey = NULL;
        char why[256], **pos;
        int r;

        while (ctl_getopt(ctl, argc, argv, "", opts) != -1)
                vkey = optarg;
        pos = ctl_positional(ctl, argc, argv, 1, 1);
        r = storefile_open(pos[0], &sf, why, sizeof(why));
        if (r == -EBADMSG)
                die_backup_bad(pos[0], -1, why);
        if (r < 0)
                die("cannot read %s: %s", pos[0], strerror(-r));
        r = storefile_verify(sf, vkey, &rep);
        if (r == -EBADMSG)
                die_backup_bad(pos[0], rep.bad_seq, rep.why);
        if (r < 0)
                die("cannot check %s: %s", pos[0], strerror(-r));
        if (ctl->json)
                print_verified_json(pos[0], vkey, storefile_info(sf), &rep);
        else
                show_verified(pos[0], vkey, storefile_info(sf), &rep);
        storefile_free(sf);
        return EXIT_SUCCESS;
}
