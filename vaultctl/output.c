/* Files vaultctl writes for the user (get -o, audit export -o). They hold
 * dossiers and record ids, so each is a new file of the caller's, mode
 * 0600, never an existing inode: another user who created the name first
 * in a shared directory, as a file to read or a link to follow, gets
 * nothing. The data goes to a temporary file made with O_EXCL next to the
 * target and is renamed over it only once it is complete; without --force
 * the rename refuses to replace anything. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"
#include "vaultctl.h"

#define TEMP_NAME "/.vaultctl-XXXXXX"

/* The temporary file not yet renamed into place, removed when vaultctl
 * exits or is killed first. A plain array, so a signal handler may read
 * it. */
static char pending[PATH_MAX];

static void remove_pending(void)
{
        if (pending[0])
                unlink(pending);
}

static void on_fatal_signal(int sig)
{
        remove_pending();
        raise(sig); /* SA_RESETHAND: the default action, once this returns */
}

static void remove_pending_at_exit(void)
{
        static const int signals[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE};
        struct sigaction sa = {.sa_handler = on_fatal_signal, .sa_flags = SA_RESETHAND};
        static bool armed;

        if (armed)
                return;
        armed = true;
        sigemptyset(&sa.sa_mask);
        for (size_t i = 0; i < ELEMENTSOF(signals); i++)
                sigaction(signals[i], &sa, NULL);
        atexit(remove_pending);
}

/* Dies with "PATH WHY (WHAT TO DO)"; reason is the short form, for --json. */
__attribute__((noreturn)) static void refuse(const char *path, const char *reason, const char *why)
{
        die_error(ERR_FAILED, json_pack("{s:s,s:s}", "file", path, "reason", reason), "%s %s", path, why);
}

/* Dies unless path is free, or (with force) a regular file to replace. A
 * link is never followed nor replaced: whoever made it chose its target. */
static void check_target(const char *path, bool force)
{
        struct stat st;

        if (lstat(path, &st) < 0) {
                if (errno != ENOENT)
                        die("cannot use %s: %m", path);
                return;
        }
        if (S_ISLNK(st.st_mode))
                refuse(path, "symbolic link",
                       "is a symbolic link; vaultctl neither writes through nor replaces one (give the "
                       "path of a new file)");
        if (!S_ISREG(st.st_mode))
                refuse(path, "not a regular file",
                       "exists and is not a regular file (give the path of a new file)");
        if (!force)
                refuse(path, "exists",
                       "exists; vaultctl will not overwrite it, as an existing file may be another "
                       "user's (choose a new name, or add --force to replace it with a new file of yours, "
                       "mode 0600)");
}

void output_open(struct output *o, const char *path, bool force)
{
        const char *slash = strrchr(path, '/');
        int dirlen = slash ? (int)(slash - path) : 1;

        check_target(path, force);
        *o = (struct output){.path = path, .force = force, .fd = -1};
        if (snprintf(o->temp, sizeof(o->temp), "%.*s" TEMP_NAME, dirlen, slash ? path : ".") >=
            (int)sizeof(o->temp))
                die("cannot create %s: %s", path, strerror(ENAMETOOLONG));
        remove_pending_at_exit();
        /* mkostemp: O_CREAT|O_EXCL, mode 0600 whatever the umask allows. */
        o->fd = mkostemp(o->temp, O_CLOEXEC | O_NOFOLLOW);
        if (o->fd < 0)
                die("cannot create a file next to %s: %m (is its directory writable?)", path);
        memcpy(pending, o->temp, sizeof(pending));
}

/* Puts the finished temporary file at path; -errno on failure. Without
 * force it must not replace anything, not even a file that appeared since
 * output_open(). */
static int rename_into_place(const struct output *o)
{
        if (o->force)
                return rename(o->temp, o->path) < 0 ? -errno : 0;
        if (renameat2(AT_FDCWD, o->temp, AT_FDCWD, o->path, RENAME_NOREPLACE) == 0)
                return 0;
        if (errno != EINVAL && errno != ENOSYS)
                return -errno;
        /* A file system without RENAME_NOREPLACE: link() never replaces. */
        if (link(o->temp, o->path) < 0)
                return -errno;
        unlink(o->temp);
        return 0;
}

/* Syncs the directory that holds path, so that the rename survives a
 * crash as the data does. */
static int sync_directory(const char *path)
{
        const char *slash = strrchr(path, '/');
        char dir[PATH_MAX];
        int fd, r = 0;

        snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) + 1 : 1, slash ? path : ".");
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 || fsync(fd) < 0)
                r = -errno;
        if (fd >= 0)
                close(fd);
        return r;
}

void output_commit(struct output *o)
{
        int r = fsync(o->fd) < 0 ? -errno : rename_into_place(o);
        const char *hint = "";

        if (r == -EEXIST)
                refuse(o->path, "exists",
                       "appeared while vaultctl was writing; it was left alone (choose a new name, or add "
                       "--force)");
        if (o->force && (r == -EPERM || r == -EACCES))
                hint = " (a file another user owns in a shared directory cannot be replaced; choose a new "
                       "name)";
        if (r < 0)
                die("cannot write %s: %s%s", o->path, strerror(-r), hint);
        pending[0] = '\0';
        if ((r = sync_directory(o->path)) < 0)
                die("%s is written, but its directory cannot be synced: %s", o->path, strerror(-r));
}
