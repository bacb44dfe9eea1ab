#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <sodium.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "admin.h"
#include "b64.h"
#include "backup.h"
#include "denials.h"
#include "log.h"
#include "methods.h"
#include "reader.h"
#include "server-internal.h"
#include "util.h"
#include "varlink.h"
#include "writer.h"

#define CONN_OUT_HIGH (1u << 20) /* stop reading and streaming past this */
/* What a queued call costs against the memory budget: its bytes, the tree
 * parsed from them (bounded by vl_scan), and the job around them. */
#define JOB_MEM(len)          (2 * (size_t)(len) + 1024)
#define DENIAL_WINDOW_DEFAULT 1000000u
#define CONN_READS_PER_WAKE   16
/* A client with replies waiting must read at least this much of them (or
 * all of them) in every --write-timeout: a slow reader cannot hold its
 * replies, and the memory behind them, for ever by reading a byte now and
 * then. */
#define CONN_DRAIN_MIN (1u << 20)

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
static void mem_wake_paused(struct server *s)
{
        if (!s->mem_wake)
                return;
        s->mem_wake = false;
        for (struct conn *c = s->conns; c; c = c->next)
                conn_yield(c);
}

static void conn_flush(struct conn *c);
static void conn_update_events(struct conn *c);

static void conn_free(struct conn *c)
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

static void conn_close(struct conn *c)
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

static void conn_unref(struct conn *c)
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

static int on_reader_ready(sd_event_source *src, int fd, uint32_t revents, void *userdata)
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

static void conn_flush(struct conn *c)
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

static int on_conn_io(sd_event_source *src, int fd, uint32_t revents, void *userdata)
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

static void conn_peer(struct conn *c)
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

/* Limits for what a caller controls before it is authorised: how many
 * connections one uid may hold, and how large a message a caller without
 * any role may send (its calls can only be denied). */
#define CONN_ROLELESS_MESSAGE_MAX (64u << 10)

static bool conn_admit(struct server *s, struct conn *c)
{
        struct peer_id peer = {c->cred.uid, c->cred.gid, c->groups, c->ngroups};
        unsigned same_uid = 0;

        for (struct conn *o = s->conns; o; o = o->next)
                same_uid += o->cred.uid == c->cred.uid;
        if (same_uid >= s->cfg->max_connections_per_user)
                return false;
        if (policy_roles(s->v->policy, &peer) == 0 && c->in.max > CONN_ROLELESS_MESSAGE_MAX)
                c->in.max = CONN_ROLELESS_MESSAGE_MAX;
        return true;
}

static int on_accept(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
        struct server *s = userdata;

        (void)src;
        (void)revents;
        for (;;) {
                int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                struct conn *c;

                if (cfd < 0)
                        return 0;
                if (s->v->connections >= s->cfg->max_connections) {
                        close(cfd);
                        continue;
                }
                c = calloc(1, sizeof(*c));
                if (!c) {
                        close(cfd);
                        continue;
                }
                c->srv = s;
                c->fd = cfd;
                c->fd_pending = -1;
                vl_reader_init(&c->in, s->cfg->max_message);
                conn_peer(c);
                if (!conn_admit(s, c)) {
                        close(cfd);
                        conn_free(c);
                        continue;
                }
                c->last_activity = now_monotonic_us();
                if (sd_event_add_io(s->event, &c->src, cfd, EPOLLIN, on_conn_io, c) < 0) {
                        close(cfd);
                        conn_free(c);
                        continue;
                }
                c->next = s->conns;
                if (s->conns)
                        s->conns->prev = c;
                s->conns = c;
                s->v->connections++;
        }
}

static int on_post(sd_event_source *src, void *userdata)
{
        (void)src;
        flush_to_writer(userdata);
        return 0;
}

static void after_durable(struct server *s, struct job *j)
{
        json_t *params = NULL;
        bool more = false;
        int r;

        if (j->error || !j->method->after || j->method->incremental)
                return;
        r = j->method->after(s->v, j, &params, &more);
        if (r < 0)
                job_fail_errno(j, r);
        else if (r == 0) {
                json_decref(j->reply);
                j->reply = params;
        }
}

static void internal_job_done(struct server *s, struct job *j)
{
        after_durable(s, j);
        if (j->error)
                log_error("%s from SIGHUP (uid %u) failed: %s", j->method->op, j->actor.uid,
                          json_string_value(json_object_get(j->error_params, "reason")) ?: j->error);
        else
                log_info("%s from SIGHUP (uid %u): policy reloaded (audit seq %llu)", j->method->op,
                         j->actor.uid, (unsigned long long)j->seq);
        job_free(j);
}

/* A call answered IntegrityError: stored data was altered. Counted for
 * Status and logged (vaultd/health.h), without the record's id. */
static void note_integrity(struct server *s, struct job *j)
{
        struct integrity_event e = {.kind = INTEGRITY_RECORD, .seq = j->seq, .version = -1};
        /* The names as stored and audited: private ones by their
         * pseudonyms. */
        const char *coll = j->audit.collection, *id = j->audit.id;
        const char *reason = json_string_value(json_object_get(j->error_params, "reason"));
        json_t *version = json_object_get(j->error_params, "version");

        snprintf(e.op, sizeof(e.op), "%s", j->method->op);
        snprintf(e.collection, sizeof(e.collection), "%s", coll ?: "");
        snprintf(e.id, sizeof(e.id), "%s", id ?: "");
        if (json_is_integer(version))
                e.version = json_integer_value(version);
        snprintf(e.what, sizeof(e.what), "%s of collection %s, version %lld: %s", j->method->op, coll ?: "?",
                 (long long)e.version, reason ?: "stored data failed authentication");
        health_integrity(&s->v->health, &e);
}

/* Denials and storage failures reach the admin's log too (the audit
 * trail has every request); integrity failures as such. */
static void log_outcome(struct server *s, struct job *j)
{
        const char *name = j->error ? strrchr(j->error, '.') + 1 : NULL;

        if (j->denied)
                log_request(LOG_WARNING, j->method->op, j->seq, "denied", name, j->actor.uid);
        else if (name && strcmp(name, "IntegrityError") == 0)
                note_integrity(s, j);
        else if (name && (strcmp(name, "StorageFull") == 0 || strcmp(name, "InternalError") == 0))
                log_request(LOG_ERR, j->method->op, j->seq, "error", name, j->actor.uid);
}

/* Not even the audit line of a refusal could be written (the disk is
 * full to the last byte of the reserve): answering would break the rule
 * that every answer follows its durable line, so vaultd stops (systemd
 * restarts it; it serves again once there is room). */
static void fail_closed(struct server *s)
{
        if (!s->failing_closed)
                log_error("cannot write audit lines, not even the refusals' (disk full?): stopping "
                          "without answering; free space in the state directory's file system");
        s->failing_closed = true;
        sd_notify(0, "STATUS=failed: cannot write the audit trail (disk full?)");
        sd_event_exit(s->event, -ENOSPC);
}

/* A job of a connection is finished: its reply goes out in call order. */
static void job_finish(struct job *j)
{
        struct conn *c = j->conn;

        if (j->unaudited) {
                fail_closed(c->srv);
                conn_close(c); /* no answer at all, rather than an unaudited one */
                j->conn = NULL;
                job_free(j);
                conn_unref(c);
                return;
        }
        if (!j->method->incremental || j->error)
                job_encode(j);
        j->done = true;
        if (c->closed) {
                j->conn = NULL;
                job_free(j);
        } else
                conn_flush(c);
        conn_unref(c); /* the job's reference, held through the flush */
}

/* A summary line of role-less denials is durable: every call it counts
 * gets its answer (AccessDenied, or the batch's failure) with its seq. */
static void summary_done(struct server *s, struct job *summary)
{
        struct job *w = denials_done(s->denials, summary), *next;

        log_warning("denied %lld calls to %s by uid %u, which holds no role (audit seq %llu)",
                    (long long)json_integer_value(json_object_get(summary->denial_summary, "count")),
                    summary->method->op, summary->actor.uid, (unsigned long long)summary->seq);
        for (; w; w = next) {
                next = w->next;
                job_fail(w, summary->error, json_incref(summary->error_params));
                w->seq = summary->seq;
                w->unaudited = summary->unaudited;
                job_finish(w);
        }
        job_free(summary);
}

/* A job that answers others is durable (a Backup's completion line):
 * each call waiting for it gets its result, and its seq. */
static void waiting_done(struct server *s, struct job *done)
{
        struct job *w = done->waiting, *next;

        done->waiting = NULL;
        for (; w; w = next) {
                next = w->next;
                w->next = NULL;
                w->deferred = false;
                json_decref(w->reply);
                w->reply = json_incref(done->reply);
                if (done->error)
                        job_fail(w, done->error, json_incref(done->error_params));
                w->seq = done->seq;
                w->unaudited = done->unaudited;
                log_outcome(s, w);
                job_finish(w);
        }
        job_free(done);
}

static int on_jobs_done(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
        struct server *s = userdata;
        struct job *j, *next;
        uint64_t count;

        (void)src;
        (void)revents;
        if (read(fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
                log_warning("eventfd read failed: %m");
        for (j = writer_take_done(s->writer); j; j = next) {
                next = j->next;
                if (j->denial_summary)
                        summary_done(s, j);
                else if (j->deferred)
                        j->next = NULL; /* a later job answers it (waiting_done) */
                else if (!j->conn && j->waiting)
                        waiting_done(s, j);
                else if (!j->conn && j->unaudited) {
                        fail_closed(s);
                        job_free(j);
                } else if (!j->conn)
                        internal_job_done(s, j);
                else {
                        after_durable(s, j);
                        log_outcome(s, j);
                        job_finish(j);
                }
        }
        mem_wake_paused(s);
        return 0;
}

/* Whether c's peer read too little of its replies in the last
 * --write-timeout (CONN_DRAIN_MIN); starts the next window when it read
 * enough. */
static bool conn_drains_too_slowly(struct conn *c, uint64_t now)
{
        if (!c->drain_since || now - c->drain_since <= c->srv->cfg->write_timeout_us)
                return false;
        if (c->drained < CONN_DRAIN_MIN)
                return true;
        c->drain_since = now;
        c->drained = 0;
        return false;
}

static void sweep(struct server *s)
{
        uint64_t now = now_monotonic_us();
        struct conn *c, *next;

        for (c = s->conns; c; c = next) {
                next = c->next;
                if ((c->partial_since && now - c->partial_since > s->cfg->request_timeout_us) ||
                    conn_drains_too_slowly(c, now) ||
                    (!c->pend_head && now - c->last_activity > s->cfg->idle_timeout_us))
                        conn_close(c);
        }
}

/* Tells systemd what the vault is doing, and its health, when that
 * changed (health_gather is cheap: no scan); a change of state is logged. */
static void update_status(struct server *s)
{
        uint64_t records = __atomic_load_n(&s->v->records_active, __ATOMIC_RELAXED);
        struct health_facts facts;
        struct health_verdict verdict;
        char line[HEALTH_STATUS_LINE_MAX];

        health_gather(s->v, &facts);
        health_judge(&facts, &verdict);
        health_status_line(&facts, &verdict, records, s->v->connections, line, sizeof(line));
        if (strcmp(line, s->status_line) == 0)
                return;
        if (s->status_line[0] ? verdict.state != s->status_state : verdict.state == HEALTH_DEGRADED) {
                if (verdict.state == HEALTH_DEGRADED)
                        log_warning("state: degraded: %s", verdict.problems[0]);
                else
                        log_info("state: %s", health_state_name(verdict.state));
        }
        s->status_state = verdict.state;
        memcpy(s->status_line, line, sizeof(line));
        sd_notifyf(0, "STATUS=%s", line);
}

static int on_timer(sd_event_source *src, uint64_t usec, void *userdata)
{
        sweep(userdata);
        update_status(userdata);
        submit_denial_summaries(userdata);
        mem_wake_paused(userdata);
        /* Time sources are one-shot: re-arm for the next second. */
        sd_event_source_set_time(src, usec + 1000000u);
        sd_event_source_set_enabled(src, SD_EVENT_ON);
        return 0;
}

static int on_sighup(sd_event_source *src, const struct signalfd_siginfo *si, void *userdata)
{
        struct server *s = userdata;
        const struct method *m;
        struct job *j;

        (void)src;
        if (method_find("io.vaultd.admin.ReloadPolicy", &m) < 0 ||
            !(j = job_new(NULL, policy_user_name(s->v->policy, si->ssi_uid), 0)))
                return 0;
        j->method = m;
        j->internal = true;
        /* The audit line names who sent the signal; a signal carries no
         * group, hence gid -1. */
        j->actor = (struct audit_actor){si->ssi_uid, (uint32_t)-1, (int32_t)si->ssi_pid, j->actor.user,
                                        "system"};
        j->call.root = json_object();
        j->call.parameters = j->call.root;
        to_writer(s, j); /* after the calls before it, as the policy it replaces saw them */
        return 0;
}

/* Feeds systemd's watchdog from the loop, but only while the writer makes
 * progress: a writer stuck in one batch (a hung disk, a bug) would leave
 * every request unanswered while the loop itself looks healthy. */
static int on_watchdog(sd_event_source *src, uint64_t usec, void *userdata)
{
        struct server *s = userdata;
        uint64_t busy = s->writer ? writer_busy_us(s->writer) : 0;

        if (busy > s->watchdog_us / 2) {
                if (!s->writer_stuck)
                        log_error(
                                "the writer has not finished a batch for %llu ms: not feeding the watchdog",
                                (unsigned long long)(busy / 1000));
                s->writer_stuck = true;
        } else {
                s->writer_stuck = false;
                sd_notify(0, "WATCHDOG=1");
        }
        sd_event_source_set_time(src, usec + s->watchdog_us / 4);
        sd_event_source_set_enabled(src, SD_EVENT_ON);
        return 0;
}

static int watchdog_setup(struct server *s)
{
        if (sd_watchdog_enabled(0, &s->watchdog_us) <= 0) {
                s->watchdog_us = 0;
                return 0;
        }
        return sd_event_add_time_relative(s->event, NULL, CLOCK_MONOTONIC, s->watchdog_us / 4, 0,
                                          on_watchdog, s);
}

/* The keeper holds every key: without it nothing can be sealed, opened or
 * signed. Stop, and let systemd restart both (DESIGN §3). */
static int on_keeper_exit(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
        struct server *s = userdata;

        (void)src;
        (void)fd;
        (void)revents;
        log_error("the key keeper (pid %d) has exited: stopping (systemd restarts the service)",
                  (int)keeper_pid(s->v->keeper));
        return sd_event_exit(s->event, -ECHILD);
}

static int on_stop(sd_event_source *src, const struct signalfd_siginfo *si, void *userdata)
{
        (void)userdata;
        log_info("received %s, stopping", strsignal((int)si->ssi_signo));
        return sd_event_exit(sd_event_source_get_event(src), 0);
}

/* Takes the socket from systemd, or binds path (replacing a stale one). */
static int listen_socket(struct server *s)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        const char *path = s->cfg->socket_path;
        mode_t old;
        int fd, r;

        if (sd_listen_fds(1) == 1) {
                s->listen_fd = SD_LISTEN_FDS_START;
                s->activated = true;
                return fcntl(s->listen_fd, F_SETFL, O_NONBLOCK) < 0 ? -errno : 0;
        }
        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        r = vl_connect(path);
        if (r >= 0) {
                close(r);
                close(fd);
                return -EADDRINUSE;
        }
        (void)unlink(path);
        /* Access is decided by the policy on peer credentials, so every local
         * user may connect; and every attempt is audited. */
        old = umask(0111);
        r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
        umask(old);
        if (r < 0 || listen(fd, SOMAXCONN) < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        s->listen_fd = fd;
        return 0;
}

static int server_setup(struct server *s)
{
        sigset_t mask;
        int r;

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);
        if ((r = sd_event_default(&s->event)) < 0 ||
            (r = sd_event_add_signal(s->event, NULL, SIGTERM, on_stop, s)) < 0 ||
            (r = sd_event_add_signal(s->event, NULL, SIGINT, on_stop, s)) < 0 ||
            (r = sd_event_add_signal(s->event, NULL, SIGHUP, on_sighup, s)) < 0 ||
            (r = watchdog_setup(s)) < 0)
                return r;
        s->mem_budget = s->cfg->memory_budget ?: VAULT_MEMORY_BUDGET_DEFAULT;
        if ((r = denials_new(s->cfg->denial_window_us ?: DENIAL_WINDOW_DEFAULT, &s->denials)) < 0)
                return r;
        s->notify_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (s->notify_fd < 0)
                return -errno;
        if ((r = sd_event_add_post(s->event, NULL, on_post, s)) < 0 ||
            (r = sd_event_add_io(s->event, NULL, s->notify_fd, EPOLLIN, on_jobs_done, s)) < 0 ||
            (r = sd_event_add_time_relative(s->event, NULL, CLOCK_MONOTONIC, 1000000u, 100000u, on_timer,
                                            s)) < 0)
                return r;
        if (s->v->keeper && (r = sd_event_add_io(s->event, NULL, keeper_pidfd(s->v->keeper), EPOLLIN,
                                                 on_keeper_exit, s)) < 0)
                return r;
        if ((r = listen_socket(s)) < 0) {
                log_error("cannot listen on %s: %s", s->cfg->socket_path, strerror(-r));
                return r;
        }
        return sd_event_add_io(s->event, NULL, s->listen_fd, EPOLLIN, on_accept, s);
}

int server_start_writer(struct server *s)
{
        int r = reader_start(s->v, &s->v->reader);

        if (r < 0 ||
            (r = sd_event_add_io(s->event, NULL, reader_fd(s->v->reader), EPOLLIN, on_reader_ready, s)) < 0)
                return r;
        r = writer_start(s->v, s->notify_fd, &s->writer);
        if (r == 0)
                s->v->writer = s->writer;
        return r;
}

int server_new(struct vault *v, const struct server_config *cfg, struct server **ret)
{
        struct server *s = calloc(1, sizeof(*s));
        int r;

        if (!s)
                return -ENOMEM;
        *s = (struct server){.v = v, .cfg = cfg, .listen_fd = -1, .notify_fd = -1};
        r = server_setup(s);
        if (r < 0) {
                server_free(s);
                return r;
        }
        *ret = s;
        return 0;
}

int server_run(struct server *s)
{
        int r;

        log_info("serving on %s (vault %s, %llu records, %llu audit lines)",
                 s->activated ? "the socket systemd passed" : s->cfg->socket_path, s->v->audit->vault_id,
                 (unsigned long long)s->v->records_active, (unsigned long long)s->v->audit->next_seq);
        admin_log_policy_warnings(s->v->policy, s->v->policy_path);
        sd_notify(0, "READY=1");
        update_status(s);
        r = sd_event_loop(s->event);
        sd_notify(0, "STOPPING=1\nSTATUS=stopping");
        return r;
}

/* Frees a list of jobs linked by ->next (at shutdown), with the
 * connection references they hold. */
static void free_jobs(struct job *j)
{
        for (struct job *next; j; j = next) {
                struct conn *c = j->conn;

                next = j->next;
                j->next = NULL;
                j->conn = NULL;
                job_free(j);
                if (c)
                        conn_unref(c);
        }
}

void server_free(struct server *s)
{
        struct job *j, *next;

        if (!s)
                return;
        /* Connections close first; those with jobs in the writer stay
         * allocated until the writer hands the jobs back. */
        while (s->conns)
                conn_close(s->conns);
        free_jobs(denials_free(s->denials));
        /* A backup in progress ends first: its completion still goes
         * through the writer, and the store must stay open under it. */
        backup_wait(s->v);
        flush_to_writer(s);
        for (j = writer_stop(s->writer); j; j = next) {
                next = j->next;
                j->next = NULL;
                if (j->deferred)
                        continue; /* freed with the job that answers it (unlinked above) */
                free_jobs(j->waiting);
                j->waiting = NULL;
                free_jobs(j);
        }
        s->v->writer = NULL;
        /* The socket file stays: the sandbox allows no unlink, and the next
         * start replaces a stale one. */
        sd_event_unref(s->event);  /* before the fds its sources watch */
        reader_stop(s->v->reader); /* after every job that could hold a claim */
        s->v->reader = NULL;
        if (s->listen_fd >= 0)
                close(s->listen_fd);
        if (s->notify_fd >= 0)
                close(s->notify_fd);
        free(s);
}
