/* vaultd-bench: N clients, each on its own connection, sending Puts (or
 * Gets) with a pipeline depth; reports throughput and latency percentiles.
 * Run by bench/bench.py against a real daemon. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "util.h"
#include "varlink.h"

struct client {
        pthread_t thread;
        int index;
        uint64_t *latency_us; /* one per request */
        size_t done;
        int failed;
};

static const char *socket_path, *op;
static size_t requests_per_client, depth, body_size;
static char *body_b64;

static json_t *request(struct client *c, size_t i)
{
        char id[64];

        snprintf(id, sizeof(id), "B%d-%zu", c->index, i % 1000);
        if (strcmp(op, "get") == 0)
                return json_pack("{s:s,s:s}", "collection", "bench", "id", id);
        return json_pack("{s:s,s:s,s:s}", "collection", "bench", "id", id, "data", body_b64);
}

static void *run_client(void *arg)
{
        struct client *c = arg;
        const char *method = strcmp(op, "get") == 0 ? "io.vaultd.records.Get" : "io.vaultd.records.Put";
        uint64_t *sent = calloc(requests_per_client, sizeof(uint64_t));
        struct vl_reader r;
        size_t next = 0;
        int fd = vl_connect(socket_path);

        if (fd < 0 || !sent) {
                c->failed = 1;
                return NULL;
        }
        vl_reader_init(&r, 64u << 20);
        while (c->done < requests_per_client) {
                while (next < requests_per_client && next - c->done < depth) {
                        json_t *p = request(c, next);
                        sent[next] = now_monotonic_us();
                        if (vl_send_call(fd, method, p, false) < 0)
                                c->failed = 1;
                        json_decref(p);
                        next++;
                }
                json_t *msg;
                if (vl_recv(fd, &r, &msg) < 0) {
                        c->failed = 1;
                        break;
                }
                if (json_object_get(msg, "error"))
                        c->failed = 1;
                json_decref(msg);
                c->latency_us[c->done] = now_monotonic_us() - sent[c->done];
                c->done++;
        }
        vl_reader_done(&r);
        close(fd);
        free(sent);
        return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
        size_t nclients, total = 0, k = 0;
        struct client *clients;
        uint64_t start, elapsed, *all;
        unsigned char *body;
        int failed = 0;

        if (argc != 7) {
                fprintf(stderr,
                        "usage: vaultd-bench SOCKET put|get CLIENTS REQUESTS_PER_CLIENT DEPTH BODY_BYTES\n");
                return 2;
        }
        socket_path = argv[1];
        op = argv[2];
        nclients = strtoul(argv[3], NULL, 10);
        requests_per_client = strtoul(argv[4], NULL, 10);
        depth = strtoul(argv[5], NULL, 10);
        body_size = strtoul(argv[6], NULL, 10);
        if (sodium_init() < 0 || !nclients || !requests_per_client || !depth)
                return 2;
        body = malloc(body_size + 1);
        body_b64 = malloc(sodium_base64_ENCODED_LEN(body_size, sodium_base64_VARIANT_ORIGINAL));
        randombytes_buf(body, body_size);
        sodium_bin2base64(body_b64, sodium_base64_ENCODED_LEN(body_size, sodium_base64_VARIANT_ORIGINAL),
                          body, body_size, sodium_base64_VARIANT_ORIGINAL);
        clients = calloc(nclients, sizeof(*clients));
        start = now_monotonic_us();
        for (size_t i = 0; i < nclients; i++) {
                clients[i].index = (int)i;
                clients[i].latency_us = calloc(requests_per_client, sizeof(uint64_t));
                pthread_create(&clients[i].thread, NULL, run_client, &clients[i]);
        }
        for (size_t i = 0; i < nclients; i++) {
                pthread_join(clients[i].thread, NULL);
                total += clients[i].done;
                failed |= clients[i].failed;
        }
        elapsed = now_monotonic_us() - start;
        all = calloc(total ? total : 1, sizeof(uint64_t));
        for (size_t i = 0; i < nclients; i++)
                for (size_t j = 0; j < clients[i].done; j++)
                        all[k++] = clients[i].latency_us[j];
        qsort(all, total, sizeof(uint64_t), cmp_u64);
        printf("{\"op\":\"%s\",\"clients\":%zu,\"depth\":%zu,\"body_bytes\":%zu,\"requests\":%zu,"
               "\"seconds\":%.3f,\"per_second\":%.0f,\"p50_us\":%llu,\"p99_us\":%llu,\"failed\":%s}\n",
               op, nclients, depth, body_size, total, elapsed / 1e6, total / (elapsed / 1e6),
               (unsigned long long)(total ? all[total / 2] : 0),
               (unsigned long long)(total ? all[total * 99 / 100] : 0), failed ? "true" : "false");
        return failed ? 1 : 0;
}
