#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

#include <linux/landlock.h>
#include <sys/syscall.h>

#include <seccomp.h>

#include "util.h"

int sandbox_drop_privileges(const char *user, bool allow_root)
{
        struct passwd *pw;

        if (geteuid() != 0)
                return 0;
        if (allow_root)
                return 0;
        pw = getpwnam(user);
        if (!pw)
                return -ENOENT;
        if (pw->pw_uid == 0)
                return -EPERM;
        if (setgroups(1, &pw->pw_gid) < 0 || setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
            setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0)
                return -errno;
        /* Make sure there is no way back. */
        if (setuid(0) == 0 || seteuid(0) == 0)
                return -EPERM;
        return 0;
}

/* The map in /proc/self/{uid,gid}_map as one line: its rows' fields
 * separated by one space, rows by "; " ("0 0 1; 993 993 1"). */
static int read_id_map(const char *path, char *ret, size_t size)
{
        char raw[1024], *line, *save_line = NULL;
        size_t len = 0;
        ssize_t n;
        int fd;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        /* A map longer than raw is cut, so it cannot read as the identity. */
        for (;;) {
                n = read(fd, raw + len, sizeof(raw) - 1 - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0 || (len += (size_t)n) == sizeof(raw) - 1)
                        break;
        }
        n = n < 0 ? -errno : 0;
        close(fd);
        if (n < 0)
                return (int)n;
        raw[len] = '\0';
        ret[0] = '\0';
        for (line = strtok_r(raw, "\n", &save_line); line; line = strtok_r(NULL, "\n", &save_line)) {
                char *field, *save_field = NULL;
                bool first = true;

                if (ret[0])
                        strncat(ret, "; ", size - strlen(ret) - 1);
                for (field = strtok_r(line, " \t", &save_field); field;
                     field = strtok_r(NULL, " \t", &save_field)) {
                        if (!first)
                                strncat(ret, " ", size - strlen(ret) - 1);
                        strncat(ret, field, size - strlen(ret) - 1);
                        first = false;
                }
        }
        return 0;
}

int sandbox_ids_remapped(char *ret_map, size_t size)
{
        static const char identity[] = "0 0 4294967295";
        static const char *const maps[] = {"/proc/self/uid_map", "/proc/self/gid_map"};
        int r;

        if (size < sizeof(identity))
                return -ENOBUFS;
        for (size_t i = 0; i < ELEMENTSOF(maps); i++) {
                r = read_id_map(maps[i], ret_map, size);
                /* No such file although /proc is there: a kernel without
                 * user namespaces, so every id is the real one. */
                if (r == -ENOENT && access("/proc/self/status", F_OK) == 0)
                        return 0;
                if (r < 0)
                        return r;
                if (strcmp(ret_map, identity) != 0)
                        return 1;
        }
        return 0;
}

/* Every syscall vaultd makes once serving, with why. Keep it short: what is
 * not here (or among the argument-filtered rules in add_rules) kills the
 * process. */
static const struct {
        int nr;
        const char *why;
} allowed[] = {
        {SCMP_SYS(read), "read the event fd"},
        {SCMP_SYS(write), "logs to stderr; wake the event loop (eventfd)"},
        {SCMP_SYS(pread64), "LMDB reads meta pages"},
        {SCMP_SYS(pwrite64), "LMDB writes pages"},
        {SCMP_SYS(writev), "stderr logging (stdio)"},
        {SCMP_SYS(close), "connections end"},
        {SCMP_SYS(fstat), "stdio, LMDB"},
        {SCMP_SYS(newfstatat), "glibc fstat"},
        {SCMP_SYS(lseek), "stdio"},
        {SCMP_SYS(fcntl), "set O_NONBLOCK on accepted sockets"},
        {SCMP_SYS(fdatasync), "LMDB commit"},
        {SCMP_SYS(fsync), "LMDB commit"},
        {SCMP_SYS(fstatfs), "free-space check before each batch"},
        {SCMP_SYS(munmap), "free, LMDB map resize"},
        {SCMP_SYS(madvise), "malloc trims"},
        {SCMP_SYS(mremap), "malloc grows large buffers"},
        {SCMP_SYS(brk), "malloc"},
        {SCMP_SYS(mlock), "sodium_malloc locks key pages"},
        {SCMP_SYS(munlock), "sodium_free"},
        {SCMP_SYS(futex), "writer queue, LMDB mutexes"},
        {SCMP_SYS(epoll_wait), "event loop"},
        {SCMP_SYS(epoll_pwait), "event loop"},
        {SCMP_SYS(epoll_ctl), "add/remove connections"},
        {SCMP_SYS(timerfd_settime), "sd-event timers"},
        {SCMP_SYS(signalfd4), "sd-event updates its signal mask when sources go"},
        {SCMP_SYS(accept4), "new clients"},
        {SCMP_SYS(recvfrom), "read requests"},
        {SCMP_SYS(sendto), "send replies"},
        {SCMP_SYS(recvmsg), "signalfd and sd-bus-free helpers"},
        {SCMP_SYS(sendmsg), "sd_notify, journal"},
        {SCMP_SYS(getsockopt), "peer credentials (SO_PEERCRED, SO_PEERGROUPS)"},
        {SCMP_SYS(setsockopt), "sd_notify raises its send buffer"},
        {SCMP_SYS(clock_gettime), "time stamps (when the vDSO is not used)"},
        {SCMP_SYS(clock_nanosleep), "libsodium, glibc"},
        {SCMP_SYS(getrandom), "nonces and DEKs (libsodium)"},
        {SCMP_SYS(getpid), "audit of internal jobs, sd_notify"},
        {SCMP_SYS(gettid), "glibc"},
        {SCMP_SYS(getuid), "sd_notify, audit of internal jobs"},
        {SCMP_SYS(getgid), "audit of internal jobs"},
        {SCMP_SYS(geteuid), "glibc"},
        {SCMP_SYS(getegid), "glibc"},
        {SCMP_SYS(rt_sigprocmask), "glibc, sd-event"},
        {SCMP_SYS(rt_sigreturn), "signal return"},
        {SCMP_SYS(rt_sigaction), "glibc abort"},
        {SCMP_SYS(sched_yield), "LMDB, glibc locks"},
        {SCMP_SYS(sched_getaffinity), "glibc malloc arenas"},
        {SCMP_SYS(tgkill), "abort() on an assertion"},
        {SCMP_SYS(restart_syscall), "interrupted sleeps"},
        {SCMP_SYS(exit), "writer thread ends"},
        {SCMP_SYS(exit_group), "process ends"},
        {SCMP_SYS(rseq), "glibc thread registration"},
        {SCMP_SYS(set_robust_list), "glibc threads"},
};

unsigned sandbox_allowed_count(void)
{
        /* The argument-filtered ones: mmap, mprotect, openat, socket, prctl, clone. */
        return (unsigned)ELEMENTSOF(allowed) + 6;
}

/* clone() flags that would make more than a thread of this process. */
#define CLONE_NAMESPACES                                                                                    \
        (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |       \
         CLONE_NEWNET)

/* The sanitizer runtime of `make check-sanitize` builds needs a few more
 * (never compiled into a release build). */
static const int sanitizer_extra[] = {
#if defined(__SANITIZE_ADDRESS__)
        SCMP_SYS(sigaltstack),
        SCMP_SYS(readlink),
        SCMP_SYS(getppid),
#endif
        -1,
};

static int add_rules(scmp_filter_ctx ctx)
{
        int r;

        for (size_t i = 0; sanitizer_extra[i] >= 0; i++)
                if ((r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, sanitizer_extra[i], 0)) < 0)
                        return r;

        for (size_t i = 0; i < ELEMENTSOF(allowed); i++) {
                r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed[i].nr, 0);
                if (r < 0)
                        return r;
        }
        /* Memory may be mapped or re-protected, but never made executable. */
        if ((r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
                                  SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0))) < 0 ||
            (r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
                                  SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0))) < 0)
                return r;
        /* Files are opened read-only (policy reload, /etc/passwd for names):
         * nothing is ever created or written by path after start-up. */
        if ((r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
                                  SCMP_A2(SCMP_CMP_MASKED_EQ, O_WRONLY | O_RDWR | O_CREAT | O_TRUNC, 0))) <
            0)
                return r;
        /* sd_notify opens one datagram socket per message; no other socket. */
        if ((r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 2, SCMP_A0(SCMP_CMP_EQ, AF_UNIX),
                                  SCMP_A1(SCMP_CMP_EQ, SOCK_DGRAM | SOCK_CLOEXEC))) < 0)
                return r;
        /* A backup's copy runs in a thread of its own, and LMDB's compacting
         * copy starts one more: threads, never a process. clone3 passes its
         * flags in memory, out of the filter's sight: it fails as unknown,
         * and glibc falls back to clone, whose flags the filter reads. */
        if ((r = seccomp_rule_add(
                     ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                     SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD | CLONE_NAMESPACES, CLONE_THREAD))) < 0 ||
            (r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0)) < 0)
                return r;
        /* glibc names threads; nothing else of prctl. */
        if ((r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
                                  SCMP_A0(SCMP_CMP_EQ, PR_SET_NAME))) < 0)
                return r;
        /* NSS modules probe for their daemons over AF_UNIX stream sockets:
         * refuse without killing, they then fall back to files. */
        if ((r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(socket), 2,
                                  SCMP_A0(SCMP_CMP_EQ, AF_UNIX),
                                  SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, SOCK_STREAM))) < 0)
                return r;
        return 0;
}

int sandbox_load_filter(void)
{
        scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
        int r;

        if (!ctx)
                return -ENOMEM;
        /* seccomp_init covers the native architecture only, so 32-bit and
         * x32 entry points hit the default action. TSYNC: every thread. */
        r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
        if (r == 0)
                r = add_rules(ctx);
        if (r == 0)
                r = seccomp_load(ctx);
        seccomp_release(ctx);
        return r;
}

/* Every file-system right the running kernel's Landlock knows, by ABI. */
static uint64_t landlock_fs_rights(int abi)
{
        uint64_t rights = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1; /* ABI 1 */

        if (abi >= 2)
                rights |= 1ull << 13; /* REFER */
        if (abi >= 3)
                rights |= 1ull << 14; /* TRUNCATE */
        if (abi >= 5)
                rights |= 1ull << 15; /* IOCTL_DEV */
        return rights;
}

static int landlock_allow_read(int ruleset, const char *path)
{
        struct landlock_path_beneath_attr rule = {.allowed_access = LANDLOCK_ACCESS_FS_READ_FILE};
        int r = 0;

        rule.parent_fd = open(path, O_PATH | O_CLOEXEC);
        if (rule.parent_fd < 0)
                /* What cannot be opened now stays out of reach anyway. */
                return errno == ENOENT || errno == EACCES ? 0 : -errno;
        if (syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0) < 0)
                r = -errno;
        close(rule.parent_fd);
        return r;
}

/* Opens by path are what the seccomp filter cannot judge (it sees a
 * pointer, not a path): Landlock closes the file system but for the
 * listed files. Files already open (the store, the socket) are not
 * affected. */
static int restrict_paths(const char *const *readable, bool *ret_enforced)
{
        struct landlock_ruleset_attr attr = {0};
        int abi, ruleset, r = 0;

        *ret_enforced = false;
        abi = (int)syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
        if (abi < 0)
                return errno == ENOSYS || errno == EOPNOTSUPP ? 0 : -errno;
        attr.handled_access_fs = landlock_fs_rights(abi);
        ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
        if (ruleset < 0)
                return -errno;
        for (size_t i = 0; readable && readable[i] && r == 0; i++)
                r = landlock_allow_read(ruleset, readable[i]);
        if (r == 0 && syscall(SYS_landlock_restrict_self, ruleset, 0) < 0)
                r = -errno;
        close(ruleset);
        *ret_enforced = r == 0;
        return r;
}

int sandbox_begin(const char *const *readable, bool *ret_landlock)
{
        bool landlock;
        int r;

        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return -errno;
        if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
                return -errno;
        umask(077);
        r = restrict_paths(readable, &landlock);
        if (r < 0)
                return r;
        if (ret_landlock)
                *ret_landlock = landlock;
        return 0;
}

int sandbox_finish(void)
{
        struct rlimit zero = {0, 0}, fsize = {SANDBOX_FSIZE_MAX, SANDBOX_FSIZE_MAX};

        /* No RLIMIT_NPROC of 0: it counts threads too, and a backup starts
         * two. New processes are the filter's to refuse (fork, vfork,
         * execve, clone without CLONE_THREAD all kill). */
        if (setrlimit(RLIMIT_CORE, &zero) < 0 || setrlimit(RLIMIT_FSIZE, &fsize) < 0)
                return -errno;
        return sandbox_load_filter();
}

int sandbox_apply(const char *const *readable, bool *ret_landlock)
{
        int r = sandbox_begin(readable, ret_landlock);

        return r < 0 ? r : sandbox_finish();
}
