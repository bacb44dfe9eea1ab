/* From a client's message to a job: structure limits, parsing, the
 * method's table entry and size, authorisation; then the answer at once,
 * the writer's queue, or a summary of role-less denials. */
#include "server-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "denials.h"
#include "methods.h"
#include "util.h"
#include "varlink.h"
#include "writer.h"

/* Messages of every method but Put (the only one with a body). */
#define METHOD_MESSAGE_MAX (64u << 10)
/* Longest name a denied call keeps for its audit line (which holds only
 * valid names; longer ones are invalid anyway). */
#define DENIED_NAME_MAX 256

struct job *job_new(struct conn *c, const char *user, size_t cost)
{
        struct job *j = calloc(1, sizeof(*j));

        if (!j)
                return NULL;
        j->audit.version = -1;
        j->cost = cost;
        if (c) {
                j->actor = (struct audit_actor){c->cred.uid, c->cred.gid, c->cred.pid};
                j->peer = (struct peer_id){c->cred.uid, c->cred.gid, c->groups, c->ngroups};
                j->conn_large = &c->large_held;
        }
        if (user)
                j->actor.user = strdup(user);
        return j;
}

/* Answers at once with a named error (protocol-level, not audited). */
void reply_error_now(struct conn *c, const char *error, json_t *params, size_t cost)
{
        struct job *j = job_new(c, NULL, cost);

        if (!j) {
                json_decref(params);
                c->closing = true;
                return;
        }
        job_fail(j, error, params);
        job_encode(j);
        j->done = true;
        job_attach(c, j);
}

/* Answers a call that never reaches a method: a protocol error, unless
 * the caller asked for no reply at all (oneway). */
static void reply_protocol_error(struct conn *c, const struct vl_call *call, const char *error,
                                 json_t *params, size_t cost)
{
        if (call->oneway)
                json_decref(params);
        else
                reply_error_now(c, error, params, cost);
}

/* Checks the envelope and finds the method; answers (or, oneway, drops)
 * what cannot be dispatched. Returns the method, or NULL when handled. */
static const struct method *dispatch_find(struct conn *c, const struct vl_call *call, size_t len)
{
        const char *dot = strrchr(call->method, '.');
        const struct method *m;
        int r = method_find(call->method, &m);

        if (r == -ESRCH)
                reply_protocol_error(c, call, "org.varlink.service.InterfaceNotFound",
                                     json_pack("{s:s%}", "interface", call->method,
                                               dot ? (size_t)(dot - call->method) : 0),
                                     len);
        else if (r < 0)
                reply_protocol_error(c, call, "org.varlink.service.MethodNotFound",
                                     json_pack("{s:s}", "method", call->method), len);
        else if (call->upgrade) /* no method of ours switches protocols */
                reply_protocol_error(c, call, "org.varlink.service.InvalidParameter",
                                     json_pack("{s:s}", "parameter", "upgrade"), len);
        else if (m->needs_more && !call->more)
                reply_protocol_error(c, call, "org.varlink.service.ExpectedMore", NULL, len);
        else
                return m;
        return NULL;
}

/* Runs a method the event loop answers itself (not audited). */
static void dispatch_direct(struct server *s, struct conn *c, struct job *j)
{
        int r = j->method->direct(s->v, j);

        if (r < 0 && job_fail_errno(j, r) < 0) {
                c->closing = true; /* no declared error fits: do not answer wrongly */
                j->done = true;
                return;
        }
        job_encode(j);
        j->done = true;
}

/* The largest message a call of m may be: only Put carries a body. */
static size_t method_message_max(const struct server *s, const struct method *m)
{
        return m->large_message ? s->cfg->max_message : METHOD_MESSAGE_MAX;
}

/* A call over its method's size: the interface's own InvalidParameter
 * (the service interface's carries no reason). Not audited: it never
 * reaches the method. */
static void reply_too_large(struct conn *c, const struct vl_call *call, const struct method *m, size_t len)
{
        const char *error = method_error(m, "InvalidParameter");

        if (error)
                reply_protocol_error(c, call, error,
                                     json_pack("{s:s,s:s}", "parameter", "parameters", "reason",
                                               "the call is larger than this method accepts"),
                                     len);
        else
                reply_protocol_error(c, call, "org.varlink.service.InvalidParameter",
                                     json_pack("{s:s}", "parameter", "parameters"), len);
}

/* Queues j for the writer at the end of this loop iteration, in order. */
void to_writer(struct server *s, struct job *j)
{
        j->next = NULL;
        if (s->to_writer_tail)
                s->to_writer_tail->next = j;
        else
                s->to_writer_head = j;
        s->to_writer_tail = j;
}

void flush_to_writer(struct server *s)
{
        if (!s->to_writer_head)
                return;
        writer_submit_list(s->writer, s->to_writer_head, s->to_writer_tail);
        s->to_writer_head = s->to_writer_tail = NULL;
}

void submit_denial_summaries(struct server *s)
{
        struct job *due = denials_take_due(s->denials, now_monotonic_us()), *next;

        for (; due; due = next) {
                next = due->next;
                to_writer(s, due);
        }
}

/* A denied call needs nothing of its parameters but the names its audit
 * line may carry: drop the rest at once, so denied calls queued for their
 * line hold no client-built tree. */
static int job_shrink_denied(struct job *j)
{
        json_t *keep = json_object();
        const char *names[] = {"collection", "id"};

        if (!keep)
                return -ENOMEM;
        for (size_t i = 0; i < 2; i++) {
                json_t *v = json_object_get(j->call.parameters, names[i]);

                if (json_is_string(v) && json_string_length(v) <= DENIED_NAME_MAX)
                        json_object_set(keep, names[i], v);
        }
        json_decref(j->call.root);
        j->call.root = keep;
        j->call.parameters = keep;
        j->cost = 0;
        return 0;
}

/* Queues a denied call of a peer that holds no role for a summary line. */
static void dispatch_roleless_denial(struct server *s, struct job *j)
{
        int r = denials_add(s->denials, j, now_monotonic_us());

        if (r < 0) { /* too many pairs tracked: audited on its own */
                to_writer(s, j);
                return;
        }
        if (r > 0)
                submit_denial_summaries(s);
}

/* Hands the descriptor that came with a call to its job when the method
 * takes one, the caller may make the call, and nothing else is in flight
 * on the connection (so each connection holds at most two: one waiting
 * for its message, one with its call). Otherwise it stays in *fd, which
 * the caller closes. */
static void job_take_fd(struct conn *c, struct job *j, int *fd)
{
        if (*fd < 0 || !j->method->takes_fd || j->denied || c->npending > 0)
                return;
        j->fd = *fd;
        j->has_fd = true;
        *fd = -1;
}

void dispatch(struct conn *c, char *msg, size_t len)
{
        struct server *s = c->srv;
        struct peer_id peer = {c->cred.uid, c->cred.gid, c->groups, c->ngroups};
        /* What came with this message's first byte belongs to this call;
         * whatever no job takes is closed on the way out. */
        _cleanup_(closep) int passed_fd = c->fd_pending;
        const char *field;
        struct vl_call call;
        const struct method *m;
        struct job *j;

        c->fd_pending = -1;
        field = "message"; /* over the structure limits: never parsed */
        if (vl_scan(msg, len, VL_DEPTH_MAX, VL_VALUES_MAX) < 0 ||
            vl_call_parse(msg, len, &call, &field) < 0) {
                reply_error_now(c, "org.varlink.service.InvalidParameter",
                                json_pack("{s:s}", "parameter", field), len);
                return;
        }
        m = dispatch_find(c, &call, len);
        if (m && len > method_message_max(s, m)) {
                reply_too_large(c, &call, m, len);
                m = NULL;
        }
        if (!m) {
                json_decref(call.root);
                return;
        }
        j = job_new(c, c->user, len);
        if (!j) {
                json_decref(call.root);
                c->closing = true;
                return;
        }
        j->method = m;
        j->call = (struct vl_call_owned){call.root, call.parameters, call.more, call.oneway};
        j->denied = !method_authorise(s->v->policy, j);
        if (j->denied && job_shrink_denied(j) < 0) {
                job_free(j);
                c->closing = true;
                return;
        }
        job_take_fd(c, j, &passed_fd);
        job_attach(c, j);
        if (m->direct && !j->denied) {
                dispatch_direct(s, c, j);
                return;
        }
        conn_ref(c);
        if (j->denied && policy_roles(s->v->policy, &peer) == 0)
                dispatch_roleless_denial(s, j);
        else
                to_writer(s, j);
}
