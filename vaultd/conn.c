/* A connection of the event loop: its life from accept to close, its
 * reads, its replies sent in call order as the peer reads (streams and
 * record bodies a piece at a time), and the memory budget they share. */
#include "server-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "b64.h"
#include "log.h"
#include "methods.h"
#include "reader.h"
#include "util.h"
#include "varlink.h"
#include "writer.h"

#define CONN_OUT_HIGH (1u << 20) /* stop reading and streaming past this */
/* What a queued call costs against the memory budget: its bytes, the tree
 * parsed from them (bounded by vl_scan), and the job around them. */
#define JOB_MEM(len)        (2 * (size_t)(len) + 1024)
#define CONN_READS_PER_WAKE 16

static void conn_yield(struct conn *c);

static void mem_charge(struct conn *c, ssize_t delta)
{
        struct server *s = c->srv;
        bool over = s->mem_used >= s->mem_budget;

        if (c->closed)
                return;
        c->mem_held += delta;
        s->mem_used += delta;
        if (over && s->mem_used < s->mem_budget)
                s->mem_wake = true;
}

/* After memory was freed: connections paused by the budget read again
 * (from what they buffered, too: no new bytes need to arrive). */
void mem_wake_paused(struct server *s)
{
        if (!s->mem_wake)
                return;
        s->mem_wake = false;
        for (struct conn *c = s->conns; c; c = c->next)
                conn_yield(c);
}

static void conn_update_events(struct conn *c);

void conn_free(struct conn *c)
{
        closep(&c->fd_pending);
        vl_reader_done(&c->in);
        if (c->out) {
                sodium_memzero(c->out, c->out_cap);
                free(c->out);
        }
        free(c->user);
        free(c->groups);
        free(c);
}

void conn_close(struct conn *c)
{
        struct job *j, *next;

        if (c->closed)
                return;
        c->srv->mem_used -= c->mem_held;
        if (c->srv->mem_used < c->srv->mem_budget)
                c->srv->mem_wake = true;
        c->mem_held = 0;
        c->closed = true;
        c->srv->v->connections--;
        if (c->prev)
                c->prev->next = c->next;
        else
                c->srv->conns = c->next;
        if (c->next)
                c->next->prev = c->prev;
        c->src = sd_event_source_disable_unref(c->src);
        c->defer = sd_event_source_disable_unref(c->defer);
        close(c->fd);
        c->fd = -1;
        closep(&c->fd_pending);
        c->fd_pending = -1;
        /* Jobs still in the writer keep the connection until they return. */
        for (j = c->pend_head; j; j = next) {
                next = j->conn_next;
                if (j->done) {
                        j->conn = NULL;
                        job_free(j);
                }
        }
        c->pend_head = c->pend_tail = NULL;
        if (c->refs == 0)
                conn_free(c);
}

/* References keep a closed connection's memory alive: one for each job in
 * the writer, and one for the event handler running on it, so code after
 * a conn_close() deep in a call chain can still look at c->closed. */
void conn_ref(struct conn *c)
{
        c->refs++;
}

void conn_unref(struct conn *c)
{
        if (--c->refs == 0 && c->closed)
                conn_free(c);
}

/* Room for len more bytes at the end of c's unsent output, counted
 * against the budget; NULL when memory runs out. */
static char *out_reserve(struct conn *c, size_t len)
{
        char *at;

        if (c->out_off > 0 && c->out_off == c->out_len)
                c->out_off = c->out_len = 0;
        if (c->out_len + len > c->out_cap) {
                size_t cap = c->out_cap ? c->out_cap : 65536;
                char *p;

                while (cap < c->out_len + len)
                        cap *= 2;
                p = malloc(cap);
                if (!p)
                        return NULL;
                if (c->out) {
                        memcpy(p, c->out + c->out_off, c->out_len - c->out_off);
                        sodium_memzero(c->out, c->out_cap);
                        free(c->out);
                }
                c->out_len -= c->out_off;
                c->out_off = 0;
                c->out = p;
                c->out_cap = cap;
        }
        at = c->out + c->out_len;
        c->out_len += len;
        mem_charge(c, (ssize_t)len);
        return at;
}

static int out_append(struct conn *c, const char *msg, size_t len)
{
        char *at;

        if (len == 0)
                return 0; /* (nothing may be allocated yet: at would be NULL) */
        at = out_reserve(c, len);
        if (!at)
                return -ENOMEM;
        memcpy(at, msg, len);
        return 0;
}

/* Encodes a job's final message into j->out; for a reply with a body,
 * only its start: {"parameters":{...,"data":" (conn_body sends the rest). */
void job_encode(struct job *j)
{
        static const char data[] = ",\"data\":\"";
        size_t len;
        int r;

        if (j->error)
                r = vl_error_encode(j->error, j->error_params, &j->out, &len);
        else
                r = vl_reply_encode(j->reply, false, &j->out, &len);
        if (r == 0 && !j->error && j->body_held) {
                /* The parameters are never empty ("version"): drop "}}". */
                char *p = len > 2 ? realloc(j->out, len - 2 + sizeof(data)) : NULL;
                if (p) {
                        memcpy(p + len - 2, data, sizeof(data));
                        j->out = p;
                        len = len - 2 + sizeof(data) - 1;
                } else
                        r = -ENOMEM;
        }
        j->out_len = r < 0 ? 0 : len + 1;
        if (r < 0 && j->conn)
                j->conn->closing = true; /* cannot answer: do not leave the client waiting */
}

void job_attach(struct conn *c, struct job *j)
{
        j->conn = c;
        j->conn_next = NULL;
        if (c->pend_tail)
                c->pend_tail->conn_next = j;
        else
                c->pend_head = j;
        c->pend_tail = j;
        c->npending++;
        mem_charge(c, (ssize_t)JOB_MEM(j->cost));
}

static bool conn_may_read(struct conn *c)
{
        return !c->closing && c->npending < c->srv->cfg->max_pending &&
               c->out_len - c->out_off < CONN_OUT_HIGH &&
               (c->mem_held == 0 || c->srv->mem_used < c->srv->mem_budget);
}

static void conn_process(struct conn *c)
{
        while (conn_may_read(c)) {
                char *msg;
                size_t len;
                int r = vl_reader_next(&c->in, &msg, &len);

                if (r == -EMSGSIZE) {
                        reply_error_now(c, "org.varlink.service.InvalidParameter",
                                        json_pack("{s:s}", "parameter", "message"), 0);
                        c->closing = true;
                        break;
                }
                if (r <= 0)
                        break;
                dispatch(c, msg, len);
                sodium_memzero(msg, len);
                free(msg);
                c->partial_since = vl_reader_partial(&c->in) ? now_monotonic_us() : 0;
        }
}

/* Keeps what one read brought when it is a single descriptor that came
 * with the first byte of a message (the read began at a message boundary),
 * for that message's call; closes anything else at once (docs/protocol.md,
 * "File descriptors"). */
static void conn_take_fds(struct conn *c, int *fds, size_t n, bool truncated, bool at_message_start)
{
        bool keep = n == 1 && !truncated && at_message_start && c->fd_pending < 0;

        for (size_t i = keep ? 1 : 0; i < n; i++)
                close(fds[i]);
        if (keep)
                c->fd_pending = fds[0];
}

static void conn_read(struct conn *c)
{
        for (int i = 0; i < CONN_READS_PER_WAKE && conn_may_read(c); i++) {
                bool was_empty = !vl_reader_partial(&c->in), truncated;
                int fds[VL_FDS_MAX];
                size_t nfds;
                int r = vl_reader_fill_fds(&c->in, c->fd, fds, &nfds, &truncated);

                conn_take_fds(c, fds, nfds, truncated, was_empty);
                if (r == -EAGAIN)
                        break;
                if (r == 0 && (c->pend_head || c->out_off < c->out_len)) {
                        /* Half-closed: answer what is in flight, then close. */
                        c->closing = true;
                        return;
                }
                if (r == 0 || (r < 0 && r != -EMSGSIZE)) {
                        conn_close(c);
                        return;
                }
                if (was_empty && r > 0)
                        c->partial_since = now_monotonic_us();
                c->last_activity = now_monotonic_us();
                conn_process(c);
                /* A short read drained the socket: another would only say
                 * EAGAIN (one system call per request saved); epoll tells
                 * when more comes. */
                if ((size_t)r < VL_READ_CHUNK)
                        break;
        }
}

static void conn_write(struct conn *c)
{
        while (c->out_off < c->out_len) {
                ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
                                 MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN) {
                        if (!c->drain_since) {
                                c->drain_since = now_monotonic_us();
                                c->drained = 0;
                        }
                        return;
                }
                if (n < 0) {
                        conn_close(c);
                        return;
                }
                sodium_memzero(c->out + c->out_off, (size_t)n);
                c->out_off += (size_t)n;
                mem_charge(c, -n);
                c->drained += (size_t)n;
                c->last_activity = now_monotonic_us();
        }
        c->out_off = c->out_len = 0;
        c->drain_since = 0; /* all read */
}

static int on_conn_defer(sd_event_source *src, void *userdata)
{
        struct conn *c = userdata;

        (void)src;
        c->defer = sd_event_source_disable_unref(c->defer);
        conn_ref(c);
        if (!c->closed)
                conn_flush(c);
        conn_unref(c);
        return 0;
}

/* Comes back for the next turn on the next loop iteration, whether or not
 * the peer reads: waiting for writability would stall a job (and escape
 * every timeout) while the peer's queue is full. */
static void conn_yield(struct conn *c)
{
        if (!c->defer && sd_event_add_defer(c->srv->event, &c->defer, on_conn_defer, c) < 0)
                c->closing = true;
}

/* The hook of incremental jobs (Export, Verify): they run on the reader
 * thread (vaultd/reader.h); this ships what they produced, and asks for
 * the next chunk only while the connection's buffer and the memory budget
 * have room. Returns true when the job is finished. */
static bool conn_stream(struct conn *c, struct job *j)
{
        struct server *s = c->srv;

        for (;;) {
                bool room = c->out_len - c->out_off < CONN_OUT_HIGH && s->mem_used < s->mem_budget;
                struct reader_out out;
                int r = reader_poll(s->v->reader, j, room, &out);

                if (r < 0) {
                        job_fail_errno(j, r);
                        job_encode(j);
                        return true;
                }
                if (r == 0)
                        return false; /* under way: on_reader_ready comes back */
                /* Oneway: the work is done (and audited), nothing is sent. */
                r = j->call.oneway ? 0 : out_append(c, out.buf.data, out.buf.len);
                reader_buf_done(&out.buf);
                if (r < 0) {
                        json_decref(out.params);
                        c->closing = true;
                        return true;
                }
                if (out.result != 0) { /* the reply ends with this error */
                        if (out.result < 0)
                                job_fail_errno(j, out.result);
                        else
                                job_fail(j, out.error, out.params);
                        job_encode(j);
                        return true;
                }
                if (out.last)
                        return true;
        }
}

/* Whether the finished job at the head waits for the connection to be
 * writable: a reply, or a stream that waits for room — not one waiting for
 * the reader thread, which calls back (stream_ready), nor one held back by
 * the memory budget, which wakes it (mem_wake_paused). */
static bool conn_stream_waits(struct conn *c)
{
        struct job *j = c->pend_head;

        if (!j || !j->done)
                return false;
        if (!j->method || !j->method->reader || j->error || j->out)
                return true;
        return c->srv->mem_used < c->srv->mem_budget && !reader_task_busy(j->reader_task);
}

/* The reader thread produced output: the connections waiting for it go on. */
static void stream_ready(struct job *j, void *userdata)
{
        struct conn *c = j->conn;

        (void)userdata;
        conn_ref(c);
        if (!c->closed)
                conn_flush(c);
        conn_unref(c);
}

int on_reader_ready(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
        struct server *s = userdata;

        (void)src;
        (void)fd;
        (void)revents;
        reader_dispatch(s->v->reader, stream_ready, s);
        mem_wake_paused(s);
        return 0;
}

/* Base64 of a body is encoded this much at a time (a multiple of 3). */
#define BODY_CHUNK (48u << 10)

/* Queues a reply with a record body as the peer reads: its start (j->out),
 * the body's base64 a chunk at a time while less than CONN_OUT_HIGH waits,
 * then its end. One 16 MiB Get thus costs the event loop about a
 * millisecond per turn, never the whole encoding at once (issue #12).
 * Returns true when all of it is queued. */
static bool conn_body(struct conn *c, struct job *j)
{
        if (j->out) {
                if (out_append(c, j->out, j->out_len - 1) < 0) /* without its NUL */
                        goto fail;
                sodium_memzero(j->out, j->out_len);
                free(j->out);
                j->out = NULL;
        }
        while (j->body_off < j->body_len) {
                size_t n = j->body_len - j->body_off < BODY_CHUNK ? j->body_len - j->body_off : BODY_CHUNK;
                char *at;

                if (c->out_len - c->out_off >= CONN_OUT_HIGH)
                        return false;
                at = out_reserve(c, b64_encoded_len(n));
                if (!at)
                        goto fail;
                b64_encode(at, j->body + j->body_off, n);
                j->body_off += n;
        }
        if (out_append(c, "\"}}", 4) == 0) /* with the message's NUL */
                return true;
fail:
        c->closing = true;
        return true;
}

void conn_flush(struct conn *c)
{
        struct job *j;

        while ((j = c->pend_head) && j->done && !c->closed) {
                bool streaming = !j->error && j->method && j->method->incremental && !j->out;
                bool body = !j->error && j->body_held && !j->call.oneway && j->out_len, kick;

                if (streaming && !conn_stream(c, j))
                        break;
                if (body && !conn_body(c, j))
                        break;
                kick = j->holds_large; /* a large body: others may wait for it */
                if (!body && j->out && !j->call.oneway && out_append(c, j->out, j->out_len) < 0)
                        c->closing = true;
                c->pend_head = j->conn_next;
                if (!c->pend_head)
                        c->pend_tail = NULL;
                c->npending--;
                mem_charge(c, -(ssize_t)JOB_MEM(j->cost));
                j->conn = NULL;
                job_free(j);
                if (kick)
                        writer_kick(c->srv->writer);
        }
        if (c->closed)
                return;
        conn_write(c);
        if (c->closed)
                return;
        if (c->closing && !c->pend_head && c->out_len == c->out_off) {
                conn_close(c);
                return;
        }
        conn_process(c);
        conn_update_events(c);
}

static void conn_update_events(struct conn *c)
{
        uint32_t ev = 0;

        if (c->closed)
                return;
        if (conn_may_read(c))
                ev |= EPOLLIN;
        /* Also when a finished reply (or a stream) waits at the head and the
         * buffer is empty: writability brings us back to flush it. */
        if (c->out_off < c->out_len || conn_stream_waits(c))
                ev |= EPOLLOUT;
        sd_event_source_set_io_events(c->src, ev);
}

int on_conn_io(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
        struct conn *c = userdata;

        (void)src;
        (void)fd;
        conn_ref(c);
        if ((revents & (EPOLLHUP | EPOLLERR)) && (c->closing || !(revents & EPOLLIN))) {
                /* Gone both ways and nothing left to read: nothing can be
                 * sent either (jobs in the writer keep the memory until
                 * they return). Waiting would spin: HUP is always reported. */
                conn_close(c);
                conn_unref(c);
                return 0;
        }
        if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR))
                conn_read(c);
        if (!c->closed)
                conn_flush(c);
        conn_unref(c);
        return 0;
}

/* The peer's supplementary groups. A peer may be in more than any fixed
 * buffer holds: the kernel says how much room it needs (ERANGE). */
static int peer_groups(int fd, gid_t **ret, size_t *ret_n)
{
        socklen_t len = 64 * sizeof(gid_t);

        for (int attempt = 0; attempt < 3; attempt++) {
                gid_t *groups = malloc(len ? len : 1);
                socklen_t got = len;

                if (!groups)
                        return -ENOMEM;
                if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &got) == 0) {
                        *ret = groups;
                        *ret_n = got / sizeof(gid_t);
                        return 0;
                }
                int saved = errno;

                free(groups);
                if (saved != ERANGE || got <= len)
                        return -saved;
                len = got; /* the size the kernel asked for; the peer may gain groups meanwhile */
        }
        return -ERANGE;
}

void conn_peer(struct conn *c)
{
        socklen_t len = sizeof(c->cred);
        const char *name;
        int r;

        if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &c->cred, &len) < 0)
                c->cred = (struct ucred){.pid = 0, .uid = (uid_t)-1, .gid = (gid_t)-1};
        r = peer_groups(c->fd, &c->groups, &c->ngroups);
        if (r < 0)
                log_warning("cannot read the groups of uid %u (pid %d): %s; group rules will not match it",
                            c->cred.uid, c->cred.pid, strerror(-r));
        name = policy_user_name(c->srv->v->policy, c->cred.uid);
        if (name)
                c->user = strdup(name);
}
