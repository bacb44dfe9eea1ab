/* The seccomp filter and privilege drop, tested in forked children: each
 * child confines itself exactly as vaultd does, then tries one thing. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox.h"

static const char *const readable[] = {"/etc/hostname", NULL};

/* Runs fn in a child after sandbox_apply(); returns the wait status. */
static int confined(int (*fn)(void))
{
        pid_t pid = fork();
        int status;

        assert_true(pid >= 0);
        if (pid == 0) {
                if (sandbox_apply(readable, NULL) < 0)
                        _exit(100);
                _exit(fn());
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        return status;
}

static void assert_killed_by_sigsys(int status)
{
        if (!WIFSIGNALED(status))
                fail_msg("child was not killed (exit status %d)",
                         WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        assert_int_equal(WTERMSIG(status), SIGSYS);
}

static int try_execve(void)
{
        char *argv[] = {"/bin/true", NULL};
        execve("/bin/true", argv, NULL);
        return 1;
}

static int try_socket_inet(void)
{
        return socket(AF_INET, SOCK_STREAM, 0) >= 0 ? 1 : 2;
}

static int try_ptrace(void)
{
        return ptrace(PTRACE_TRACEME, 0, NULL, NULL) == 0 ? 1 : 2;
}

static int try_io_uring(void)
{
        char params[120] = {0};
        return syscall(__NR_io_uring_setup, 1, params) >= 0 ? 1 : 2;
}

static int try_exec_mapping(void)
{
        return mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) != MAP_FAILED ? 1
                                                                                                         : 2;
}

static int try_open_for_writing(void)
{
        return open("/tmp/vaultd-sandbox-test", O_WRONLY | O_CREAT | O_CLOEXEC, 0600) >= 0 ? 1 : 2;
}

static int try_fork(void)
{
        return syscall(SYS_fork) >= 0 ? 1 : 2;
}

/* clone() for a new process, not a thread (fork by another name). */
static int try_clone_process(void)
{
        return syscall(SYS_clone, SIGCHLD, 0, NULL, NULL, 0) >= 0 ? 1 : 2;
}

static void *thread_echo(void *arg)
{
        return arg;
}

/* A thread (a backup's copy runs in one, and LMDB's copy starts another),
 * as an unprivileged user: exit 0 when it runs. clone3 is refused as
 * unknown, so that glibc uses clone, whose flags the filter can read. */
static int thread_as_nobody(void)
{
        struct clone_args args = {.exit_signal = SIGCHLD};
        pthread_t t;
        void *ret = NULL;

        if (geteuid() == 0 && sandbox_drop_privileges("nobody", false) < 0)
                return 10;
        if (sandbox_apply(readable, NULL) < 0)
                return 11;
        if (syscall(SYS_clone3, &args, sizeof(args)) != -1 || errno != ENOSYS)
                return 12;
        for (int i = 0; i < 3; i++) {
                if (pthread_create(&t, NULL, thread_echo, (void *)&args) != 0)
                        return 13;
                if (pthread_join(t, &ret) != 0 || ret != &args)
                        return 14;
        }
        return 0;
}

static void test_threads_but_no_processes(void **state)
{
        pid_t pid;
        int status;

        (void)state;
        assert_killed_by_sigsys(confined(try_clone_process));
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
                _exit(thread_as_nobody());
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
}

static int do_allowed_work(void)
{
        /* What vaultd does all day: memory, time, reading a file, writing. */
        char *p = malloc(1 << 20);
        int fd = open("/etc/hostname", O_RDONLY | O_CLOEXEC);
        char buf[16];

        if (!p || fd < 0 || read(fd, buf, sizeof(buf)) < 0)
                return 3;
        close(fd);
        free(p);
        return write(STDOUT_FILENO, "", 0) == 0 ? 0 : 4;
}

/* Exit 0: the unlisted file is out of reach (Landlock); 1: readable. */
static int try_read_unlisted(void)
{
        int fd = open("/etc/os-release", O_RDONLY | O_CLOEXEC);

        return fd < 0 && errno == EACCES ? 0 : 1;
}

static void test_only_listed_files_open(void **state)
{
        bool landlock = false;
        pid_t pid;
        int status;

        (void)state;
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                if (sandbox_apply(readable, &landlock) < 0)
                        _exit(100);
                /* Without Landlock in the kernel there is nothing to test. */
                _exit(landlock ? try_read_unlisted() : 42);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        if (WEXITSTATUS(status) == 42)
                fail_msg("this kernel has no Landlock (the check cannot run here)");
        assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_forbidden_calls_kill(void **state)
{
        int (*const forbidden[])(void) = {try_execve,       try_socket_inet,      try_ptrace, try_io_uring,
                                          try_exec_mapping, try_open_for_writing, try_fork};

        (void)state;
        for (size_t i = 0; i < sizeof(forbidden) / sizeof(forbidden[0]); i++)
                assert_killed_by_sigsys(confined(forbidden[i]));
        assert_int_equal(access("/tmp/vaultd-sandbox-test", F_OK), -1);
}

static void test_allowed_work_survives(void **state)
{
        int status = confined(do_allowed_work);

        (void)state;
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_allowlist_is_small(void **state)
{
        (void)state;
        assert_true(sandbox_allowed_count() < 80);
}

static int drop_then_read_secret(void)
{
        if (sandbox_drop_privileges("nobody", false) < 0)
                return 10;
        if (getuid() == 0 || geteuid() == 0 || getgid() == 0 || getegid() == 0)
                return 11;
        if (setuid(0) == 0)
                return 12;
        /* A root-only file is out of reach now. */
        return open("/etc/shadow", O_RDONLY | O_CLOEXEC) < 0 && errno == EACCES ? 0 : 13;
}

static void test_privilege_drop(void **state)
{
        pid_t pid;
        int status;

        (void)state;
        if (geteuid() != 0) {
                /* Not root: dropping is a no-op and must say so by succeeding. */
                assert_int_equal(sandbox_drop_privileges("nobody", false), 0);
                return;
        }
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
                _exit(drop_then_read_secret());
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        /* Staying root needs --allow-root; an unknown user is an error. */
        assert_int_equal(sandbox_drop_privileges("no-such-user-vaultd", false), -ENOENT);
        assert_int_equal(sandbox_drop_privileges("root", false), -EPERM);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_forbidden_calls_kill),
                cmocka_unit_test(test_allowed_work_survives),
                cmocka_unit_test(test_only_listed_files_open),
                cmocka_unit_test(test_allowlist_is_small),
                cmocka_unit_test(test_privilege_drop),
                cmocka_unit_test(test_threads_but_no_processes),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
