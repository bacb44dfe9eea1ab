/* vaultd-bench: an independent load generator for vaultd (make bench).
 *
 * N clients, each a thread with its own connection, keep up to DEPTH calls
 * in flight (DEPTH 1: each waits for its reply) for a number of calls or a
 * number of seconds, and the run prints one JSON object: calls answered,
 * calls per second, latency percentiles, failures. It speaks the wire
 * protocol of docs/protocol.md by itself and links nothing of vaultd's, so
 * that it measures the daemon, not a shared library, and stays cheap: calls
 * are formatted with the body encoded once, replies are only scanned for a
 * top-level "error" (a 16 MiB Get is never parsed).
 *
 * Ops: put, get, mixed (GET_PERCENT % Gets, the rest Puts), getinfo (the
 * round trip without storage), export (one streamed audit.Export, its lines
 * counted and, with --output, written as the export file). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#define READ_CHUNK  (1u << 20)
#define REPLY_MAX   (256u << 20) /* larger than any reply vaultd may send */
#define CALL_HEAD   512          /* a call's bytes besides its body */
#define ERROR_TEXT  200
#define ALLOCATION  4096 /* latencies kept per client, to start with */
#define DEPTH_MAX   1024
#define CLIENTS_MAX 1024

enum op {
        OP_PUT,
        OP_GET,
        OP_MIXED,
        OP_GETINFO,
        OP_EXPORT,
};

static const char *const op_names[] = {"put", "get", "mixed", "getinfo", "export"};

struct config {
        const char *socket_path, *collection, *prefix, *output;
        enum op op;
        size_t clients, depth, body_size, requests, ids;
        unsigned get_percent;
        double seconds;
        bool random_ids;
};

static struct config cfg = {
        .collection = "bench",
        .prefix = "R-",
        .op = OP_PUT,
        .clients = 1,
        .depth = 1,
        .body_size = 1024,
        .ids = 10000,
        .get_percent = 90,
};

static char *body_b64; /* the body of every Put, base64, encoded once */
static size_t body_b64_len;
static uint64_t deadline_us; /* 0: run for cfg.requests calls per client */

struct client {
        pthread_t thread;
        size_t index;
        uint64_t rng;
        uint64_t *latency_us; /* one per answered call */
        size_t done, cap;
        size_t puts, gets, failed;
        uint64_t export_lines;
        uint64_t first_sent_us, last_reply_us;
        char error[ERROR_TEXT]; /* the first error reply, cut short */
        bool broken;            /* the connection failed: the run is invalid */
};

static uint64_t now_us(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t xorshift(uint64_t *s)
{
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        return *s;
}

static int connect_socket(const char *path)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

/* Whether the JSON object in msg has the member key at its top level.
 * Strings are skipped with memchr, so a reply holding megabytes of base64
 * costs a pass at memory speed; the message is vaultd's, so well formed. */
static bool has_top_key(const char *msg, size_t len, const char *key)
{
        size_t key_len = strlen(key);
        const char *p = msg, *end = msg + len;
        bool expect_key = false;
        int depth = 0;

        while (p < end) {
                char c = *p++;
                if (c == '"') {
                        const char *start = p, *q;
                        for (;;) {
                                q = memchr(p, '"', (size_t)(end - p));
                                if (!q)
                                        return false;
                                size_t backslashes = 0;
                                while (q - backslashes > start && q[-1 - (ptrdiff_t)backslashes] == '\\')
                                        backslashes++;
                                p = q + 1;
                                if (backslashes % 2 == 0)
                                        break;
                        }
                        if (depth == 1 && expect_key && (size_t)(q - start) == key_len &&
                            memcmp(start, key, key_len) == 0)
                                return true;
                        expect_key = false;
                } else if (c == '{' || c == '[') {
                        depth++;
                        expect_key = c == '{' && depth == 1;
                } else if (c == '}' || c == ']') {
                        depth--;
                } else if (c == ',' && depth == 1) {
                        expect_key = true;
                }
        }
        return false;
}

/* One call to send, as up to three pieces: the body is never copied. */
struct call {
        char head[CALL_HEAD], tail[8];
        struct iovec iov[3];
        int iovcnt;
        size_t size, sent;
};

static void call_format(struct client *c, size_t n, struct call *call, bool *ret_put)
{
        const char *name = NULL;
        bool put = false;
        uint64_t id;
        int len;

        switch (cfg.op) {
        case OP_PUT:
                put = true;
                break;
        case OP_MIXED:
                put = xorshift(&c->rng) % 100 >= cfg.get_percent;
                break;
        case OP_GET:
                break;
        case OP_GETINFO:
                name = "org.varlink.service.GetInfo";
                break;
        case OP_EXPORT:
                name = "io.vaultd.audit.Export";
                break;
        }
        /* Puts without --random go through the ids in turn, the clients
         * interleaved, so that CLIENTS x REQUESTS Puts write each id once. */
        id = put && !cfg.random_ids ? (c->index + n * cfg.clients) % cfg.ids : xorshift(&c->rng) % cfg.ids;
        call->tail[0] = '\0';
        if (name)
                len = snprintf(call->head, sizeof(call->head), "{\"method\":\"%s\"%s}", name,
                               cfg.op == OP_EXPORT ? ",\"more\":true" : "");
        else if (put)
                len = snprintf(call->head, sizeof(call->head),
                               "{\"method\":\"io.vaultd.records.Put\",\"parameters\":{\"collection\":\"%s\","
                               "\"id\":\"%s%" PRIu64 "\",\"data\":\"",
                               cfg.collection, cfg.prefix, id);
        else
                len = snprintf(call->head, sizeof(call->head),
                               "{\"method\":\"io.vaultd.records.Get\",\"parameters\":{\"collection\":\"%s\","
                               "\"id\":\"%s%" PRIu64 "\"}}",
                               cfg.collection, cfg.prefix, id);
        call->iov[0] = (struct iovec){call->head, (size_t)len + (put ? 0 : 1)}; /* + the NUL */
        call->iovcnt = 1;
        if (put) {
                memcpy(call->tail, "\"}}", 4);
                call->iov[1] = (struct iovec){body_b64, body_b64_len};
                call->iov[2] = (struct iovec){call->tail, 4};
                call->iovcnt = 3;
        }
        call->size = 0;
        for (int i = 0; i < call->iovcnt; i++)
                call->size += call->iov[i].iov_len;
        call->sent = 0;
        *ret_put = put;
}

/* Sends what the socket takes of call. 1 when all of it is sent, 0 when
 * the socket is full, -errno on failure. */
static int call_send(int fd, struct call *call)
{
        struct iovec iov[3];
        size_t skip = call->sent;
        int n = 0;

        for (int i = 0; i < call->iovcnt; i++) {
                if (skip >= call->iov[i].iov_len) {
                        skip -= call->iov[i].iov_len;
                        continue;
                }
                iov[n].iov_base = (char *)call->iov[i].iov_base + skip;
                iov[n++].iov_len = call->iov[i].iov_len - skip;
                skip = 0;
        }
        ssize_t k = sendmsg(fd, &(struct msghdr){.msg_iov = iov, .msg_iovlen = (size_t)n},
                            MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k < 0)
                return errno == EAGAIN ? 0 : -errno;
        call->sent += (size_t)k;
        return call->sent == call->size;
}

static FILE *export_file;

static void put_utf8(uint32_t cp, FILE *out)
{
        if (cp < 0x80) {
                fputc_unlocked((int)cp, out);
        } else if (cp < 0x800) {
                fputc_unlocked((int)(0xc0 | cp >> 6), out);
                fputc_unlocked((int)(0x80 | (cp & 0x3f)), out);
        } else if (cp < 0x10000) {
                fputc_unlocked((int)(0xe0 | cp >> 12), out);
                fputc_unlocked((int)(0x80 | (cp >> 6 & 0x3f)), out);
                fputc_unlocked((int)(0x80 | (cp & 0x3f)), out);
        } else {
                fputc_unlocked((int)(0xf0 | cp >> 18), out);
                fputc_unlocked((int)(0x80 | (cp >> 12 & 0x3f)), out);
                fputc_unlocked((int)(0x80 | (cp >> 6 & 0x3f)), out);
                fputc_unlocked((int)(0x80 | (cp & 0x3f)), out);
        }
}

static int hex4(const char *p, const char *end, uint32_t *ret)
{
        uint32_t v = 0;

        if (end - p < 4)
                return -EBADMSG;
        for (int i = 0; i < 4; i++) {
                char ch = p[i];
                int d = ch >= '0' && ch <= '9'   ? ch - '0'
                        : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                        : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                                 : -1;
                if (d < 0)
                        return -EBADMSG;
                v = v << 4 | (uint32_t)d;
        }
        *ret = v;
        return 0;
}

/* Decodes the JSON string whose opening quote is just before p into out
 * (NULL: only skips it). Returns the position after its closing quote, or
 * NULL when it is malformed. Export replies hold hundreds of thousands of
 * lines a second: jansson would make this client the bottleneck. */
static const char *string_take(const char *p, const char *end, FILE *out)
{
        static const char escapes[] = "\"\"\\\\//b\bf\fn\nr\rt\t";

        while (p < end) {
                const char *q = p;
                while (q < end && *q != '"' && *q != '\\')
                        q++;
                if (out && q > p)
                        fwrite_unlocked(p, 1, (size_t)(q - p), out);
                if (q == end)
                        return NULL;
                if (*q == '"')
                        return q + 1;
                if (++q == end)
                        return NULL;
                if (*q == 'u') {
                        uint32_t cp, low;
                        if (hex4(q + 1, end, &cp) < 0)
                                return NULL;
                        q += 5;
                        if (cp >= 0xd800 && cp < 0xdc00) {
                                if (end - q < 6 || q[0] != '\\' || q[1] != 'u' || hex4(q + 2, end, &low) < 0)
                                        return NULL;
                                cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
                                q += 6;
                        }
                        if (out)
                                put_utf8(cp, out);
                        p = q;
                        continue;
                }
                const char *e = memchr(escapes, *q, sizeof(escapes) - 1);
                if (!e || (e - escapes) % 2)
                        return NULL;
                if (out)
                        fputc_unlocked(e[1], out);
                p = q + 1;
        }
        return NULL;
}

/* The lines of one Export reply, {"parameters":{"lines":[...]}, ...}:
 * counted, and written to the export file one per line. No audit line
 * holds an unescaped quote, so the first "lines":[ is the member. Returns
 * -EBADMSG when the reply is not of that shape. */
static int export_reply(struct client *c, const char *msg, size_t len)
{
        static const char member[] = "\"lines\":[";
        const char *end = msg + len, *p = memmem(msg, len, member, sizeof(member) - 1);

        if (!p)
                return -EBADMSG;
        p += sizeof(member) - 1;
        for (;;) {
                while (p < end && (*p == ' ' || *p == ','))
                        p++;
                if (p < end && *p == ']')
                        return 0;
                if (p == end || *p != '"' || !(p = string_take(p + 1, end, export_file)))
                        return -EBADMSG;
                if (export_file)
                        fputc_unlocked('\n', export_file);
                c->export_lines++;
        }
}

static void record_latency(struct client *c, uint64_t us)
{
        if (c->done == c->cap) {
                size_t cap = c->cap ? 2 * c->cap : ALLOCATION;
                uint64_t *l = realloc(c->latency_us, cap * sizeof(*l));
                if (!l) {
                        c->broken = true;
                        return;
                }
                c->latency_us = l;
                c->cap = cap;
        }
        c->latency_us[c->done++] = us;
}

/* Takes one reply. Returns whether it ends its call (a streamed reply that
 * continues does not). */
static bool take_reply(struct client *c, const char *msg, size_t len)
{
        if (has_top_key(msg, len, "error")) {
                if (!c->failed++)
                        snprintf(c->error, sizeof(c->error), "%.*s", (int)(len < 180 ? len : 180), msg);
                return true;
        }
        if (cfg.op != OP_EXPORT)
                return true;
        if (export_reply(c, msg, len) < 0) {
                snprintf(c->error, sizeof(c->error), "an Export reply without lines: %.*s",
                         (int)(len < 120 ? len : 120), msg);
                c->broken = true;
                return true;
        }
        return !has_top_key(msg, len, "continues");
}

struct ring {
        uint64_t sent_us[DEPTH_MAX]; /* when each call in flight started */
        size_t head, count;
};

/* Reads what is there and takes every complete reply. -errno on failure,
 * -ECONNRESET when vaultd hung up. */
static int receive(struct client *c, int fd, char **buf, size_t *len, size_t *cap, struct ring *ring)
{
        if (*cap - *len < READ_CHUNK) {
                size_t want = *cap ? 2 * *cap : 2 * READ_CHUNK;
                if (want > REPLY_MAX + READ_CHUNK)
                        return -EMSGSIZE;
                char *b = realloc(*buf, want);
                if (!b)
                        return -ENOMEM;
                *buf = b;
                *cap = want;
        }
        ssize_t k = recv(fd, *buf + *len, *cap - *len, MSG_DONTWAIT);
        if (k < 0)
                return errno == EAGAIN ? 0 : -errno;
        if (k == 0)
                return -ECONNRESET;
        size_t scanned = *len, start = 0;
        *len += (size_t)k;
        for (;;) {
                char *nul = memchr(*buf + scanned, '\0', *len - scanned);
                if (!nul)
                        break;
                size_t end = (size_t)(nul - *buf);
                if (take_reply(c, *buf + start, end - start)) {
                        if (ring->count == 0)
                                return -EPROTO; /* a reply to no call */
                        uint64_t t = now_us();
                        record_latency(c, t - ring->sent_us[ring->head]);
                        c->last_reply_us = t;
                        ring->head = (ring->head + 1) % DEPTH_MAX;
                        ring->count--;
                }
                start = scanned = end + 1;
        }
        memmove(*buf, *buf + start, *len - start);
        *len -= start;
        return 0;
}

static bool may_send(size_t issued)
{
        if (cfg.op == OP_EXPORT)
                return issued == 0;
        if (deadline_us)
                return now_us() < deadline_us;
        return issued < cfg.requests;
}

static void *run_client(void *arg)
{
        struct client *c = arg;
        struct ring ring = {0};
        struct call call;
        bool sending = false, put;
        size_t issued = 0, len = 0, cap = 0;
        char *buf = NULL;
        int fd = connect_socket(cfg.socket_path), r = 0;

        if (fd < 0) {
                snprintf(c->error, sizeof(c->error), "connect: %s", strerror(-fd));
                c->broken = true;
                return NULL;
        }
        c->first_sent_us = now_us();
        for (;;) {
                if (!sending && ring.count < cfg.depth && may_send(issued)) {
                        call_format(c, issued, &call, &put);
                        ring.sent_us[(ring.head + ring.count) % DEPTH_MAX] = now_us();
                        ring.count++;
                        issued++;
                        c->puts += put;
                        c->gets += !put && (cfg.op == OP_GET || cfg.op == OP_MIXED);
                        sending = true;
                }
                if (!sending && ring.count == 0)
                        break;
                if (sending) {
                        r = call_send(fd, &call);
                        if (r < 0)
                                break;
                        if (r == 1) {
                                sending = false;
                                continue; /* fill the window before waiting */
                        }
                }
                struct pollfd p = {fd, POLLIN | (sending ? POLLOUT : 0), 0};
                if (poll(&p, 1, -1) < 0 && errno != EINTR) {
                        r = -errno;
                        break;
                }
                if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
                        r = receive(c, fd, &buf, &len, &cap, &ring);
                        if (r < 0)
                                break;
                }
        }
        if (r < 0) {
                snprintf(c->error, sizeof(c->error), "connection: %s", strerror(-r));
                c->broken = true;
        }
        free(buf);
        close(fd);
        return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return x < y ? -1 : x > y;
}

static void usage(FILE *f)
{
        fputs("usage: vaultd-bench --socket PATH [--op put|get|mixed|getinfo|export] [--clients N]\n"
              "           [--depth N] [--body BYTES] (--requests N | --seconds S) [--ids N] [--random]\n"
              "           [--get-percent P] [--collection NAME] [--prefix ID_PREFIX] [--output FILE]\n"
              "\n"
              "Each client has its own connection and keeps up to --depth calls in flight, for\n"
              "--requests calls or --seconds seconds. Records are PREFIX0 .. PREFIX(ids-1) of the\n"
              "collection; Puts write them in turn (or at random with --random), Gets read them at\n"
              "random. export streams io.vaultd.audit.Export once (to --output, as an export file).\n"
              "Prints one JSON object; exits 1 when a call failed or a connection broke.\n",
              f);
}

static int parse_args(int argc, char **argv)
{
        static const struct option options[] = {
                {"socket", required_argument, NULL, 's'},
                {"op", required_argument, NULL, 'o'},
                {"clients", required_argument, NULL, 'c'},
                {"depth", required_argument, NULL, 'd'},
                {"body", required_argument, NULL, 'b'},
                {"requests", required_argument, NULL, 'n'},
                {"seconds", required_argument, NULL, 't'},
                {"ids", required_argument, NULL, 'i'},
                {"random", no_argument, NULL, 'r'},
                {"get-percent", required_argument, NULL, 'g'},
                {"collection", required_argument, NULL, 'C'},
                {"prefix", required_argument, NULL, 'p'},
                {"output", required_argument, NULL, 'O'},
                {"help", no_argument, NULL, 'h'},
                {0},
        };
        int ch;

        while ((ch = getopt_long(argc, argv, "", options, NULL)) != -1) {
                switch (ch) {
                case 's':
                        cfg.socket_path = optarg;
                        break;
                case 'o': {
                        size_t i;
                        for (i = 0; i < sizeof(op_names) / sizeof(op_names[0]); i++)
                                if (strcmp(optarg, op_names[i]) == 0)
                                        break;
                        if (i == sizeof(op_names) / sizeof(op_names[0]))
                                return -EINVAL;
                        cfg.op = (enum op)i;
                        break;
                }
                case 'c':
                        cfg.clients = strtoul(optarg, NULL, 10);
                        break;
                case 'd':
                        cfg.depth = strtoul(optarg, NULL, 10);
                        break;
                case 'b':
                        cfg.body_size = strtoul(optarg, NULL, 10);
                        break;
                case 'n':
                        cfg.requests = strtoul(optarg, NULL, 10);
                        break;
                case 't':
                        cfg.seconds = strtod(optarg, NULL);
                        break;
                case 'i':
                        cfg.ids = strtoul(optarg, NULL, 10);
                        break;
                case 'r':
                        cfg.random_ids = true;
                        break;
                case 'g':
                        cfg.get_percent = (unsigned)strtoul(optarg, NULL, 10);
                        break;
                case 'C':
                        cfg.collection = optarg;
                        break;
                case 'p':
                        cfg.prefix = optarg;
                        break;
                case 'O':
                        cfg.output = optarg;
                        break;
                case 'h':
                        usage(stdout);
                        exit(0);
                default:
                        return -EINVAL;
                }
        }
        if (optind != argc || !cfg.socket_path || cfg.clients < 1 || cfg.clients > CLIENTS_MAX ||
            cfg.depth < 1 || cfg.depth > DEPTH_MAX || cfg.ids < 1 || cfg.get_percent > 100 ||
            (cfg.op != OP_EXPORT && (cfg.requests > 0) == (cfg.seconds > 0)) ||
            strlen(cfg.collection) + strlen(cfg.prefix) > CALL_HEAD / 2)
                return -EINVAL;
        if (cfg.op == OP_EXPORT)
                cfg.clients = 1;
        return 0;
}

static int make_body(void)
{
        size_t cap = sodium_base64_ENCODED_LEN(cfg.body_size, sodium_base64_VARIANT_ORIGINAL);
        unsigned char *body = malloc(cfg.body_size + 1);

        body_b64 = malloc(cap);
        if (!body || !body_b64) {
                free(body);
                return -ENOMEM;
        }
        randombytes_buf(body, cfg.body_size);
        sodium_bin2base64(body_b64, cap, body, cfg.body_size, sodium_base64_VARIANT_ORIGINAL);
        body_b64_len = strlen(body_b64);
        free(body);
        return 0;
}

static double cpu_seconds(void)
{
        struct rusage ru;

        getrusage(RUSAGE_SELF, &ru);
        return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
               ru.ru_stime.tv_usec / 1e6;
}

static void report(struct client *clients, double elapsed, double cpu)
{
        size_t total = 0, failed = 0, nput = 0, nget = 0, k = 0;
        uint64_t lines = 0, *all;
        const char *error = "";
        bool broken = false;

        for (size_t i = 0; i < cfg.clients; i++) {
                total += clients[i].done;
                failed += clients[i].failed;
                nput += clients[i].puts;
                nget += clients[i].gets;
                lines += clients[i].export_lines;
                broken |= clients[i].broken;
                if (!*error && clients[i].error[0])
                        error = clients[i].error;
        }
        all = calloc(total ? total : 1, sizeof(*all));
        for (size_t i = 0; i < cfg.clients && all; i++)
                for (size_t j = 0; j < clients[i].done; j++)
                        all[k++] = clients[i].latency_us[j];
        if (all)
                qsort(all, k, sizeof(*all), cmp_u64);
        json_t *o = json_pack(
                "{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:f,s:I,s:I,s:I,s:I,s:b,s:f,s:s}", "op",
                op_names[cfg.op], "clients", (json_int_t)cfg.clients, "depth", (json_int_t)cfg.depth,
                "body_bytes", (json_int_t)(cfg.op == OP_PUT || cfg.op == OP_MIXED ? cfg.body_size : 0),
                "requests", (json_int_t)total, "puts", (json_int_t)nput, "gets", (json_int_t)nget, "failed",
                (json_int_t)failed, "seconds", elapsed, "per_second", elapsed > 0 ? total / elapsed : 0.0,
                "p50_us", (json_int_t)(k ? all[k / 2] : 0), "p99_us",
                (json_int_t)(k ? all[k * 99 / 100] : 0), "max_us", (json_int_t)(k ? all[k - 1] : 0), "lines",
                (json_int_t)lines, "broken", broken, "client_cpu_seconds", cpu, "error", error);
        char *s = json_dumps(o, JSON_COMPACT);
        puts(s);
        free(s);
        json_decref(o);
        free(all);
}

int main(int argc, char **argv)
{
        struct client *clients;
        uint64_t start, end = 0;
        int failed = 0;

        if (parse_args(argc, argv) < 0) {
                usage(stderr);
                return 2;
        }
        if (sodium_init() < 0 || make_body() < 0)
                return 2;
        if (cfg.output && !(export_file = fopen(cfg.output, "we"))) {
                fprintf(stderr, "vaultd-bench: %s: %s\n", cfg.output, strerror(errno));
                return 2;
        }
        clients = calloc(cfg.clients, sizeof(*clients));
        if (!clients)
                return 2;
        start = now_us();
        if (cfg.seconds > 0)
                deadline_us = start + (uint64_t)(cfg.seconds * 1e6);
        for (size_t i = 0; i < cfg.clients; i++) {
                clients[i].index = i;
                clients[i].rng = 0x9E3779B97F4A7C15u * (i + 1) ^ (uint64_t)getpid() << 16;
                if (pthread_create(&clients[i].thread, NULL, run_client, &clients[i]) != 0)
                        return 2;
        }
        for (size_t i = 0; i < cfg.clients; i++) {
                pthread_join(clients[i].thread, NULL);
                if (clients[i].last_reply_us > end)
                        end = clients[i].last_reply_us;
                failed |= clients[i].failed > 0 || clients[i].broken;
        }
        if (export_file && fclose(export_file) != 0) {
                fprintf(stderr, "vaultd-bench: %s: %s\n", cfg.output, strerror(errno));
                failed = 1;
        }
        report(clients, end > start ? (end - start) / 1e6 : 0, cpu_seconds());
        return failed ? 1 : 0;
}
