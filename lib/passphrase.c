#include "passphrase.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "util.h"

/* Whether s is UTF-8 text that JSON can carry, by the very check the
 * JSON library applies (vaultctl sends a passphrase as JSON text, so one
 * that is not could never unseal). */
static bool json_text(const char *s, size_t len)
{
        json_t *t = json_stringn(s, len);

        if (!t)
                return false;
        json_decref(t); /* jansson frees it; vaultd and vaultctl wipe what jansson frees */
        return true;
}

/* Reads one line from fd into buf (cap bytes, NUL included), without its
 * newline; -E2BIG when it does not fit. */
static int read_line(int fd, char *buf, size_t cap, size_t *ret_len)
{
        size_t len = 0;

        for (;;) {
                char c;
                ssize_t n = read(fd, &c, 1);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0 || c == '\n')
                        break;
                if (len + 1 >= cap)
                        return -E2BIG;
                buf[len++] = c;
        }
        if (len > 0 && buf[len - 1] == '\r')
                len--;
        buf[len] = '\0';
        if (memchr(buf, '\0', len) || !json_text(buf, len))
                return -EILSEQ;
        *ret_len = len;
        return 0;
}

int passphrase_from_file(const char *path, char **ret, size_t *ret_len)
{
        char *buf = sodium_malloc(PASSPHRASE_MAX + 1);
        int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        size_t len = 0;
        int r;

        if (!buf || fd < 0) {
                r = buf ? -errno : -ENOMEM;
                sodium_free(buf);
                return r;
        }
        r = read_line(fd, buf, PASSPHRASE_MAX + 1, &len);
        if (fd != STDIN_FILENO)
                close(fd);
        if (r == 0 && len == 0)
                r = -EINVAL;
        if (r < 0) {
                sodium_free(buf);
                return r;
        }
        *ret = buf;
        *ret_len = len;
        return 0;
}

/* One prompt on the terminal tty, echo off. */
static int ask(int tty, const char *prompt, char *buf, size_t *ret_len)
{
        struct termios old, quiet;
        int r;

        if (tcgetattr(tty, &old) < 0)
                return -ENOTTY;
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
        quiet.c_lflag |= ICANON;
        /* Echo off before the prompt shows, so nothing typed ahead is
         * echoed (TCSANOW: and nothing typed ahead is thrown away). */
        if (tcsetattr(tty, TCSANOW, &quiet) < 0 || write_all(tty, prompt, strlen(prompt)) < 0) {
                tcsetattr(tty, TCSANOW, &old);
                return -ENOTTY;
        }
        r = read_line(tty, buf, PASSPHRASE_MAX + 1, ret_len);
        tcsetattr(tty, TCSAFLUSH, &old);
        (void)write_all(tty, "\n", 1);
        return r;
}

int passphrase_prompt(const char *prompt, bool confirm, char **ret, size_t *ret_len)
{
        char *a = sodium_malloc(PASSPHRASE_MAX + 1), *b = sodium_malloc(PASSPHRASE_MAX + 1);
        int tty = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
        size_t la = 0, lb = 0;
        int r = a && b ? 0 : -ENOMEM;

        if (r == 0 && tty < 0)
                r = -ENOTTY;
        if (r == 0)
                r = ask(tty, prompt, a, &la);
        if (r == 0 && la == 0)
                r = -EINVAL;
        if (r == 0 && confirm && (r = ask(tty, "Again: ", b, &lb)) == 0 &&
            (la != lb || sodium_memcmp(a, b, la) != 0))
                r = -EINVAL;
        if (tty >= 0)
                close(tty);
        sodium_free(b);
        if (r < 0) {
                sodium_free(a);
                return r;
        }
        *ret = a;
        *ret_len = la;
        return 0;
}

void passphrase_free(char *p)
{
        sodium_free(p); /* wipes, accepts NULL */
}
