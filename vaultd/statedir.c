#include "statedir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "util.h"

/* The files vaultd opens in the directory. */
static const char *const state_files[] = {"data.mdb", "lock.mdb", "checkpoint.last"};

static const char *user_name(uid_t uid, char *buf, size_t size)
{
        struct passwd *pw = getpwuid(uid);

        if (pw)
                snprintf(buf, size, "%s", pw->pw_name);
        else
                snprintf(buf, size, "%u", (unsigned)uid);
        return buf;
}

/* The pid that holds a flock on the file (dev, ino), from /proc/locks;
 * 0 when it cannot be told (no /proc, or the lock went meanwhile). */
static pid_t lock_holder(dev_t dev, ino_t ino)
{
        char line[256], type[16];
        unsigned maj, min;
        unsigned long long i;
        pid_t pid = 0;
        long p;
        FILE *f = fopen("/proc/locks", "re");

        if (!f)
                return 0;
        /* "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF" */
        while (pid == 0 && fgets(line, sizeof(line), f))
                if (sscanf(line, "%*s %15s %*s %*s %ld %x:%x:%llu", type, &p, &maj, &min, &i) == 5 &&
                    strcmp(type, "FLOCK") == 0 && maj == major(dev) && min == minor(dev) && i == ino)
                        pid = (pid_t)p;
        fclose(f);
        return pid;
}

static int check_dir(const char *path, const struct stat *st, uid_t uid, char *err, size_t errlen)
{
        char owner[64], user[64];

        if (!S_ISDIR(st->st_mode)) {
                snprintf(err, errlen, "the state directory %s is not a directory", path);
                return -ENOTDIR;
        }
        if (st->st_uid != 0 && st->st_uid != uid) {
                snprintf(err, errlen,
                         "the state directory %s belongs to user %s, not to root or to %s, the user "
                         "vaultd runs as: whoever owns it can replace the store or plant links in it. "
                         "If it is yours to use, fix it with 'chown %s: %s && chmod 0700 %s'",
                         path, user_name(st->st_uid, owner, sizeof(owner)),
                         user_name(uid, user, sizeof(user)), user, path, path);
                return -EPERM;
        }
        if (st->st_mode & (S_IWGRP | S_IWOTH)) {
                snprintf(err, errlen,
                         "the state directory %s is writable by %s (mode %04o): others could replace the "
                         "store or plant links in it. Fix it with 'chmod 0700 %s'",
                         path, st->st_mode & S_IWOTH ? "everyone" : "its group",
                         (unsigned)(st->st_mode & 07777), path);
                return -EPERM;
        }
        return 0;
}

static int take_lock(const struct state_dir *d, const struct stat *st, char *err, size_t errlen)
{
        pid_t pid;

        if (flock(d->fd, LOCK_EX | LOCK_NB) == 0)
                return 0;
        if (errno != EWOULDBLOCK) {
                snprintf(err, errlen, "cannot lock the state directory %s: %s", d->path, strerror(errno));
                return -errno;
        }
        pid = lock_holder(st->st_dev, st->st_ino);
        if (pid > 0)
                snprintf(err, errlen,
                         "the vault in %s is in use by another vaultd (pid %ld): one vault is served by "
                         "one daemon at a time. Stop that one first (systemctl stop vaultd, or kill %ld)",
                         d->path, (long)pid, (long)pid);
        else
                snprintf(err, errlen,
                         "the vault in %s is in use by another vaultd: one vault is served by one daemon "
                         "at a time. Stop that one first (systemctl stop vaultd)",
                         d->path);
        return -EBUSY;
}

int state_dir_open(const char *path, uid_t uid, bool create, struct state_dir **ret, char *err,
                   size_t errlen)
{
        struct state_dir *d;
        struct stat st;
        int r;

        d = calloc(1, sizeof(*d));
        if (!d || !(d->path = strdup(path))) {
                free(d);
                return -ENOMEM;
        }
        d->fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (d->fd < 0 && errno == ENOENT && create && mkdir(path, 0700) == 0)
                d->fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (d->fd < 0) {
                r = -errno;
                if (r == -ENOENT)
                        snprintf(err, errlen,
                                 "the state directory %s does not exist: create the vault with 'vaultd "
                                 "--init --state-dir %s --key-file FILE', or start with --init-if-empty",
                                 path, path);
                else
                        snprintf(err, errlen, "cannot open the state directory %s: %s", path, strerror(-r));
                goto fail;
        }
        if (fstat(d->fd, &st) < 0) {
                r = -errno;
                snprintf(err, errlen, "cannot read the state directory %s: %s", path, strerror(-r));
                goto fail;
        }
        if ((r = check_dir(path, &st, uid, err, errlen)) < 0 || (r = take_lock(d, &st, err, errlen)) < 0)
                goto fail;
        d->owner = st.st_uid;
        *ret = d;
        return 0;
fail:
        state_dir_free(d);
        return r;
}

void state_dir_free(struct state_dir *d)
{
        if (!d)
                return;
        if (d->fd >= 0)
                close(d->fd);
        free(d->path);
        free(d);
}

int state_dir_check_files(const struct state_dir *d, uid_t uid, char *err, size_t errlen)
{
        char owner[64], user[64];
        struct stat st;

        for (size_t i = 0; i < ELEMENTSOF(state_files); i++) {
                const char *name = state_files[i];

                if (fstatat(d->fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno == ENOENT)
                                continue;
                        snprintf(err, errlen, "cannot read %s/%s: %s", d->path, name, strerror(errno));
                        return -errno;
                }
                if (!S_ISREG(st.st_mode)) {
                        snprintf(err, errlen,
                                 "%s/%s is %s, not a regular file: vaultd opens no link or special file "
                                 "there (it could point at any file of the system). Remove it, and "
                                 "restore the store from a backup if it was the vault's",
                                 d->path, name, S_ISLNK(st.st_mode) ? "a symbolic link" : "a special file");
                        return -EPERM;
                }
                if (st.st_nlink != 1) {
                        snprintf(err, errlen,
                                 "%s/%s has %lu names (hard links): another name may lie outside the "
                                 "state directory. Copy the file ('cp %s/%s %s/%s.new && mv %s/%s.new "
                                 "%s/%s') so that it has one name only",
                                 d->path, name, (unsigned long)st.st_nlink, d->path, name, d->path, name,
                                 d->path, name, d->path, name);
                        return -EPERM;
                }
                /* Root's files are vaultd's too: a vault made by root for
                 * the service user (--init-if-empty as root) has them. */
                if (st.st_uid != 0 && st.st_uid != uid) {
                        snprintf(err, errlen,
                                 "%s/%s belongs to user %s, not to root or to %s, the user vaultd runs "
                                 "as: fix it with 'chown %s: %s/%s'",
                                 d->path, name, user_name(st.st_uid, owner, sizeof(owner)),
                                 user_name(uid, user, sizeof(user)), user, d->path, name);
                        return -EPERM;
                }
                if (st.st_mode & (S_IWGRP | S_IWOTH)) {
                        snprintf(err, errlen,
                                 "%s/%s is writable by others (mode %04o): fix it with 'chmod 0600 %s/%s'",
                                 d->path, name, (unsigned)(st.st_mode & 07777), d->path, name);
                        return -EPERM;
                }
        }
        return 0;
}

int state_dir_empty(const struct state_dir *d)
{
        struct dirent *de;
        DIR *dir;
        int fd, r = 0;

        /* A directory stream of its own: readdir moves the offset. */
        fd = openat(d->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        dir = fdopendir(fd);
        if (!dir) {
                r = -errno;
                close(fd);
                return r;
        }
        while (r == 0 && (de = readdir(dir)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                        r = -ENOTEMPTY;
        closedir(dir);
        return r;
}
