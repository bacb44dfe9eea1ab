/* The connection to vaultd. vaultctl never waits forever: the connect and
 * every send are bounded by SO_SNDTIMEO, and every reply by a deadline
 * (poll() before vl_recv() on a non-blocking socket). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "util.h"
#include "vaultctl.h"

#define CTL_REPLY_MAX (64u << 20)
#define USEC_PER_SEC  1000000ull
#define LOGS_HINT     "see 'systemctl status vaultd' and 'journalctl -u vaultd'"

/* A Unix socket connect waits only while the listener's backlog is full;
 * SO_SNDTIMEO bounds that wait (and later every blocking send). */
static int connect_socket(const char *path, unsigned timeout_s, int *ret_fd)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        struct timeval tv = {.tv_sec = timeout_s};
        int fd;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
            connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                int r = errno == EAGAIN || errno == EINPROGRESS ? -ETIMEDOUT : -errno;
                close(fd);
                return r;
        }
        *ret_fd = fd;
        return 0;
}

static int ctl_connect(struct ctl *ctl)
{
        int r;

        if (ctl->fd >= 0)
                return 0;
        r = connect_socket(ctl->socket_path, ctl->timeout_s, &ctl->fd);
        if (r < 0) {
                ctl->phase = CTL_CONNECT;
                return r;
        }
        ctl->nonblocking = false;
        vl_reader_init(&ctl->reader, CTL_REPLY_MAX);
        return 0;
}

/* Sends block (bounded by SO_SNDTIMEO) so a call is never cut in half;
 * receives do not, so that poll() can keep the deadline. */
static int set_nonblocking(struct ctl *ctl, bool on)
{
        int flags;

        if (ctl->nonblocking == on)
                return 0;
        flags = fcntl(ctl->fd, F_GETFL);
        if (flags < 0 || fcntl(ctl->fd, F_SETFL, on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK) < 0)
                return -errno;
        ctl->nonblocking = on;
        return 0;
}

/* pass_fd: a descriptor to send with the call's first byte, or -1. */
static int send_call(struct ctl *ctl, const char *method, json_t *params, bool more, int pass_fd)
{
        int r = ctl_connect(ctl);

        if (r >= 0)
                r = set_nonblocking(ctl, false);
        if (r >= 0)
                r = pass_fd >= 0 ? vl_send_call_fd(ctl->fd, method, params, more, pass_fd)
                                 : vl_send_call(ctl->fd, method, params, more);
        json_decref(params);
        if (r == -EAGAIN)
                r = -ETIMEDOUT;
        /* vaultd may have answered and closed (message too large): the reply
         * is read next. */
        if (r == -EPIPE || r == -ECONNRESET)
                r = 0;
        if (r < 0 && ctl->fd >= 0)
                ctl->phase = CTL_SEND;
        return r;
}

int ctl_send(struct ctl *ctl, const char *method, json_t *params, bool more)
{
        return send_call(ctl, method, params, more, -1);
}

int ctl_send_fd(struct ctl *ctl, const char *method, json_t *params, int pass_fd)
{
        return send_call(ctl, method, params, false, pass_fd);
}

/* Waits until fd is readable or the deadline (0: none) passes. */
static int wait_readable(int fd, uint64_t deadline_us)
{
        struct pollfd pfd = {.fd = fd, .events = POLLIN};

        for (;;) {
                uint64_t now = now_monotonic_us();
                int timeout_ms = -1, n;

                if (deadline_us) {
                        if (now >= deadline_us)
                                return -ETIMEDOUT;
                        timeout_ms = (int)((deadline_us - now + 999) / 1000);
                }
                n = poll(&pfd, 1, timeout_ms);
                if (n > 0)
                        return 0;
                if (n < 0 && errno != EINTR)
                        return -errno;
        }
}

int ctl_recv(struct ctl *ctl, json_t **ret)
{
        uint64_t deadline = ctl->timeout_s ? now_monotonic_us() + ctl->timeout_s * USEC_PER_SEC : 0;
        int r;

        ctl->phase = CTL_RECV;
        r = set_nonblocking(ctl, true);
        while (r >= 0) {
                r = vl_recv(ctl->fd, &ctl->reader, ret);
                if (r != -EAGAIN)
                        break;
                r = wait_readable(ctl->fd, deadline);
        }
        return r;
}

int ctl_recv_ready(struct ctl *ctl, json_t **ret)
{
        int r;

        ctl->phase = CTL_RECV;
        r = set_nonblocking(ctl, true);
        if (r >= 0)
                r = vl_recv(ctl->fd, &ctl->reader, ret);
        return r;
}

static void timeout_failure(const struct ctl *ctl, struct ctl_failure *f)
{
        f->name = ERR_TIMEOUT;
        f->params = json_pack("{s:s,s:I}", "socket", ctl->socket_path, "timeout_seconds",
                              (json_int_t)ctl->timeout_s);
        if (ctl->phase == CTL_CONNECT)
                snprintf(f->message, sizeof(f->message),
                         "vaultd did not accept the connection within %u s on %s (is it overloaded or "
                         "stuck? %s)",
                         ctl->timeout_s, ctl->socket_path, LOGS_HINT);
        else
                snprintf(f->message, sizeof(f->message),
                         "no %s vaultd within %u s on %s (is it running? %s; for a long export or "
                         "verify, use --timeout 0)",
                         ctl->phase == CTL_SEND ? "room to send the request to" : "reply from",
                         ctl->timeout_s, ctl->socket_path, LOGS_HINT);
}

static void connect_failure(const struct ctl *ctl, int r, struct ctl_failure *f)
{
        const char *why = strerror(-r), *hint = "is vaultd running? " LOGS_HINT;

        if (r == -ENOENT) {
                why = "no such socket";
                hint = "is vaultd running? " LOGS_HINT "; or name its socket with --socket PATH or "
                       "$VAULTD_SOCKET";
        } else if (r == -ECONNREFUSED)
                hint = "nothing listens there: vaultd is not running; " LOGS_HINT;
        else if (r == -EACCES)
                hint = "the socket or its directory keeps this user out; ask an admin";
        f->name = ERR_CONNECTION_FAILED;
        f->params = json_pack("{s:s,s:s}", "socket", ctl->socket_path, "reason", strerror(-r));
        snprintf(f->message, sizeof(f->message), "cannot connect to %s: %s (%s)", ctl->socket_path, why,
                 hint);
}

void ctl_io_failure(const struct ctl *ctl, int r, struct ctl_failure *f)
{
        if (r == -ETIMEDOUT) {
                timeout_failure(ctl, f);
                return;
        }
        if (ctl->phase == CTL_CONNECT) {
                connect_failure(ctl, r, f);
                return;
        }
        f->params = json_pack("{s:s,s:s}", "socket", ctl->socket_path, "reason", strerror(-r));
        if (r == -EBADMSG || r == -EMSGSIZE) {
                f->name = ERR_FAILED;
                snprintf(f->message, sizeof(f->message),
                         "vaultd sent a %s reply on %s (is this vaultd's socket?)",
                         r == -EBADMSG ? "malformed" : "too large a", ctl->socket_path);
        } else if (r == -ECONNRESET || r == -EPIPE) {
                f->name = ERR_CONNECTION_CLOSED;
                snprintf(f->message, sizeof(f->message),
                         "vaultd closed the connection on %s before it answered (it may have stopped or "
                         "cut this client off; %s)",
                         ctl->socket_path, LOGS_HINT);
        } else {
                f->name = ERR_CONNECTION_CLOSED;
                snprintf(f->message, sizeof(f->message), "cannot talk to vaultd on %s: %s (%s)",
                         ctl->socket_path, strerror(-r), LOGS_HINT);
        }
}

void ctl_die_io(const struct ctl *ctl, int r)
{
        struct ctl_failure f;

        ctl_io_failure(ctl, r, &f);
        die_error(f.name, f.params, "%s", f.message);
}

int ctl_request(struct ctl *ctl, const char *method, json_t *params, json_t **ret)
{
        int r = ctl_send(ctl, method, params, false);

        if (r >= 0)
                r = ctl_recv(ctl, ret);
        return r;
}

json_t *ctl_call(struct ctl *ctl, const char *method, json_t *params)
{
        json_t *msg, *out;
        int r = ctl_request(ctl, method, params, &msg);

        if (r < 0)
                ctl_die_io(ctl, r);
        if (json_object_get(msg, "error"))
                die_reply(msg);
        out = json_incref(json_object_get(msg, "parameters"));
        json_decref(msg);
        return out ? out : json_object();
}

void ctl_stream_lines(struct ctl *ctl, const char *method, json_t *params,
                      void (*each)(const char *line, size_t len, void *data), void *data)
{
        bool more = true;
        json_t *msg, *line;
        size_t i;
        int r = ctl_send(ctl, method, params, true);

        while (r >= 0 && more) {
                r = ctl_recv(ctl, &msg);
                if (r < 0)
                        break;
                if (json_object_get(msg, "error"))
                        die_reply(msg);
                json_array_foreach(json_object_get(json_object_get(msg, "parameters"), "lines"), i, line)
                {
                        if (!json_is_string(line))
                                die("vaultd sent a line that is not a string");
                        each(json_string_value(line), json_string_length(line), data);
                }
                more = json_is_true(json_object_get(msg, "continues"));
                json_decref(msg);
        }
        if (r < 0)
                ctl_die_io(ctl, r);
}

int ctl_show(struct ctl *ctl, const char *method, json_t *params, void (*human)(json_t *reply))
{
        json_t *reply = ctl_call(ctl, method, params);

        if (ctl->json)
                print_json(reply);
        else
                human(reply);
        json_decref(reply);
        return EXIT_SUCCESS;
}

void ctl_close(struct ctl *ctl)
{
        if (ctl->fd < 0)
                return;
        close(ctl->fd);
        ctl->fd = -1;
        vl_reader_done(&ctl->reader);
}
