/* The in-process sandbox (DESIGN §3 step 4): privilege drop, process
 * limits and a seccomp allowlist whose default action kills the process.
 * Applied once start-up has opened everything vaultd will ever need by
 * path: the store, the key, the socket, the policy. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest file vaultd may write (RLIMIT_FSIZE): the LMDB map limit. */
#define SANDBOX_FSIZE_MAX (1ull << 40)

/* When running as root: switches to user (and its primary group, no
 * supplementary groups). Refuses to keep root unless allow_root. Not root:
 * nothing to do. -ENOENT for an unknown user, -EPERM when root would stay. */
int sandbox_drop_privileges(const char *user, bool allow_root);

/* Whether this process sees other processes' ids remapped, as in a user
 * namespace (systemd's PrivateUsers=, a rootless container): there, peer
 * credentials name callers by mapped ids, and every caller outside the map
 * as the overflow id 65534. Returns 0 when /proc/self/uid_map and gid_map
 * are both the identity map "0 0 4294967295" (or the kernel has no user
 * namespaces), 1 when one is not, with that map written to ret_map as one
 * line ("0 0 1; 993 993 1"); -errno when the maps cannot be read. */
int sandbox_ids_remapped(char *ret_map, size_t size);

/* No new privileges (fatal if refused), not dumpable, no core files,
 * bounded file size, umask 077; then Landlock, where the
 * kernel has it, so that no file but those in or beneath the paths in
 * readable (a NULL-terminated list) can be opened at all, and only for
 * reading; then the seccomp filter
 * for every thread. Returns -errno on the first step that fails;
 * *ret_landlock tells whether the kernel enforced the path rules. */
int sandbox_apply(const char *const *readable, bool *ret_landlock);

/* sandbox_apply in two halves, for a process that starts threads in
 * between: Landlock binds only the calling thread and those it creates
 * later, so begin (no new privileges, not dumpable, umask, Landlock) comes
 * before any thread is started; finish (process limits, and the seccomp
 * filter, synchronised to every thread) after the last one. */
int sandbox_begin(const char *const *readable, bool *ret_landlock);
int sandbox_finish(void);

/* The seccomp filter alone (for tests): no new process (threads only),
 * no exec, no network, no file opened for writing by path. */
int sandbox_load_filter(void);

/* How many syscalls the allowlist names. */
unsigned sandbox_allowed_count(void);
