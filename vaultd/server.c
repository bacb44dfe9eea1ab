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

#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "admin.h"
#include "backup.h"
#include "denials.h"
#include "log.h"
#include "methods.h"
#include "reader.h"
#include "server-internal.h"
#include "util.h"
#include "varlink.h"
#include "writer.h"

#define DENIAL_WINDOW_DEFAULT 1000000u
/* A client with replies waiting must read at least this much of them (or
 * all of them) in every --write-timeout: a slow reader cannot hold its
 * replies, and the memory behind them, for ever by reading a byte now and
 * then. */
#define CONN_DRAIN_MIN (1u << 20)

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
