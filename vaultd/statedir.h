/* The state directory: opened once by path, checked to belong to vaultd,
 * and locked for the daemon's life, so that one vault is served by one
 * daemon at a time. Everything in it is then reached through the
 * directory's descriptor, never by path again: once the directory is known
 * to be writable only by its owner (root or vaultd's user), nobody else can
 * swap what lies in it between a check and an open. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

/* Longest message state_dir_open and state_dir_check_files write. */
#define STATE_DIR_ERR_MAX 1024

struct state_dir {
        int fd;     /* O_RDONLY|O_DIRECTORY; holds the lock */
        char *path; /* as given, for messages */
        uid_t owner;
};

/* Opens path (create: makes it, mode 0700, when it does not exist), checks
 * that it is a directory owned by root or by uid (the user vaultd runs as)
 * with no write access for group or others, and takes an exclusive lock on
 * it (flock, held until state_dir_free). The caller owns *ret.
 * Failures, each with what to do written to err:
 *   -ENOENT   no such directory (and not create)
 *   -ENOTDIR  not a directory
 *   -EPERM    owned by another user, or writable by group or others
 *   -EBUSY    another process (a running vaultd) holds the lock
 *   other -errno from the system. */
int state_dir_open(const char *path, uid_t uid, bool create, struct state_dir **ret, char *err,
                   size_t errlen);
void state_dir_free(struct state_dir *d);

/* Checks the files vaultd opens in the directory (data.mdb, lock.mdb,
 * checkpoint.last): each, where it exists, must be a regular file (not a
 * symbolic link), with one name only (no hard link to a file elsewhere),
 * owned by root or by uid, and not writable by group or others. -EPERM with err written when one is not. */
int state_dir_check_files(const struct state_dir *d, uid_t uid, char *err, size_t errlen);

/* 0 when the directory holds no entry at all, -ENOTEMPTY when it holds
 * something, -errno when it cannot be read. */
int state_dir_empty(const struct state_dir *d);
