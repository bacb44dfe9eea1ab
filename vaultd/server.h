/* The event loop (sd-event): the listening socket, client connections,
 * varlink framing, authorisation and ordered replies (DESIGN §3, §4). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "vault.h"

struct server_config {
        const char *socket_path;
        size_t max_message; /* bytes, one message without its NUL */
        unsigned max_connections;
        unsigned max_connections_per_user; /* per peer uid */
        unsigned max_pending;              /* calls in flight per connection */
        uint64_t request_timeout_us;       /* to finish sending one message */
        uint64_t idle_timeout_us;          /* with nothing in flight */
        uint64_t write_timeout_us;         /* without the peer reading a byte */
        uint64_t memory_budget;            /* queued calls + unsent replies, bytes; 0: 64 MiB */
        uint64_t denial_window_us;         /* one summary line per role-less (uid, method); 0: 1 s */
};

struct server;

/* Binds the socket (or takes it from systemd) and sets up the event loop:
 * everything that needs privileges or paths. The caller owns *ret
 * (server_free). */
int server_new(struct vault *v, const struct server_config *cfg, struct server **ret);
/* Starts the writer thread (between sandbox_begin and sandbox_finish). */
int server_start_writer(struct server *s);
/* Tells systemd READY=1 and serves until SIGTERM or SIGINT (SIGHUP reloads
 * the policy). Returns 0 on a clean stop, -errno otherwise. */
int server_run(struct server *s);
/* Stops the writer (committing what is queued), closes everything. */
void server_free(struct server *s);
