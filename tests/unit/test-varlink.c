/* Unit tests for lib/varlink.c: NUL framing of the byte stream, parsing of
 * calls, and encoding of replies and errors. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "util.h"
#include "varlink.h"

/* Two messages in one buffer; the literal's own NUL ends the second. */
static const char two_messages[] = "{\"a\":1}\0{\"b\":2}";
#define TWO_MESSAGES_LEN sizeof(two_messages)

/* Takes the next message and checks it is want. */
static void expect_message(struct vl_reader *r, const char *want)
{
        char *msg = NULL;
        size_t len = 0;

        assert_int_equal(vl_reader_next(r, &msg, &len), 1);
        assert_non_null(msg);
        assert_int_equal(len, strlen(want));
        assert_string_equal(msg, want);
        free(msg);
}

static void expect_nothing(struct vl_reader *r)
{
        char *msg = NULL;
        size_t len = 0;

        assert_int_equal(vl_reader_next(r, &msg, &len), 0);
        assert_null(msg);
}

static void test_reader_coalesced(void **state)
{
        struct vl_reader r;

        (void)state;
        vl_reader_init(&r, 1024);
        assert_int_equal(vl_reader_feed(&r, two_messages, TWO_MESSAGES_LEN), 0);
        expect_message(&r, "{\"a\":1}");
        expect_message(&r, "{\"b\":2}");
        expect_nothing(&r);
        assert_false(vl_reader_partial(&r));
        vl_reader_done(&r);
}

static void test_reader_split(void **state)
{
        static const char msg[] = "{\"method\":\"x\"}";
        struct vl_reader r;

        (void)state;
        vl_reader_init(&r, 1024);
        for (size_t i = 0; i < sizeof(msg) - 1; i++) {
                assert_int_equal(vl_reader_feed(&r, msg + i, 1), 0);
                expect_nothing(&r);
                assert_true(vl_reader_partial(&r));
        }
        /* The NUL arrives with the whole next message. */
        assert_int_equal(vl_reader_feed(&r, "\0{}", 4), 0);
        expect_message(&r, msg);
        expect_message(&r, "{}");
        expect_nothing(&r);

        /* A message split across the end of another. */
        assert_int_equal(vl_reader_feed(&r, two_messages, 12), 0);
        expect_message(&r, "{\"a\":1}");
        expect_nothing(&r);
        assert_true(vl_reader_partial(&r));
        assert_int_equal(vl_reader_feed(&r, two_messages + 12, TWO_MESSAGES_LEN - 12), 0);
        expect_message(&r, "{\"b\":2}");
        expect_nothing(&r);
        vl_reader_done(&r);
}

static void test_reader_too_large(void **state)
{
        char big[64], *msg = NULL;
        struct vl_reader r;
        size_t len;

        (void)state;
        memset(big, 'x', sizeof(big));

        /* max + 1 bytes and no NUL: the message can only be too long. */
        vl_reader_init(&r, 16);
        assert_int_equal(vl_reader_feed(&r, big, 17), 0);
        assert_int_equal(vl_reader_next(&r, &msg, &len), -EMSGSIZE);
        assert_null(msg);
        vl_reader_done(&r);

        /* The same, arriving in two pieces. */
        vl_reader_init(&r, 16);
        assert_int_equal(vl_reader_feed(&r, big, 10), 0);
        expect_nothing(&r);
        assert_int_equal(vl_reader_feed(&r, big, 7), 0);
        assert_int_equal(vl_reader_next(&r, &msg, &len), -EMSGSIZE);
        vl_reader_done(&r);

        /* Complete but one byte too long. */
        vl_reader_init(&r, 16);
        big[17] = '\0';
        assert_int_equal(vl_reader_feed(&r, big, 18), 0);
        assert_int_equal(vl_reader_next(&r, &msg, &len), -EMSGSIZE);
        assert_null(msg);
        vl_reader_done(&r);

        /* A small message before an oversized one is still delivered. */
        vl_reader_init(&r, 16);
        assert_int_equal(vl_reader_feed(&r, "{}", 3), 0);
        assert_int_equal(vl_reader_feed(&r, big + 32, 20), 0);
        expect_message(&r, "{}");
        assert_int_equal(vl_reader_next(&r, &msg, &len), -EMSGSIZE);
        vl_reader_done(&r);
}

static void test_reader_exact_max(void **state)
{
        char big[17], want[17];
        struct vl_reader r;

        (void)state;
        memset(big, 'x', 16);
        big[16] = '\0';
        memcpy(want, big, sizeof(want));
        vl_reader_init(&r, 16);
        assert_int_equal(vl_reader_feed(&r, big, 16), 0);
        /* Exactly max bytes without the NUL yet: wait for more. */
        expect_nothing(&r);
        assert_int_equal(vl_reader_feed(&r, big + 16, 1), 0);
        expect_message(&r, want);
        vl_reader_done(&r);
}

static void test_reader_socket(void **state)
{
        /* two_messages cut at 5 and 12: inside the first message, and
         * just after the second one's opening. */
        struct vl_reader r;
        int sv[2];

        (void)state;
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        vl_reader_init(&r, 1024);

        assert_int_equal(vl_reader_fill(&r, sv[0]), -EAGAIN);
        assert_int_equal(write_all(sv[1], two_messages, 5), 0);
        assert_int_equal(vl_reader_fill(&r, sv[0]), 5);
        expect_nothing(&r);
        assert_int_equal(write_all(sv[1], two_messages + 5, 7), 0);
        assert_int_equal(vl_reader_fill(&r, sv[0]), 7);
        expect_message(&r, "{\"a\":1}");
        expect_nothing(&r);
        assert_true(vl_reader_partial(&r));
        assert_int_equal(write_all(sv[1], two_messages + 12, TWO_MESSAGES_LEN - 12), 0);
        assert_int_equal(vl_reader_fill(&r, sv[0]), (int)(TWO_MESSAGES_LEN - 12));
        expect_message(&r, "{\"b\":2}");
        expect_nothing(&r);
        assert_false(vl_reader_partial(&r));

        /* Both messages in one write come out as two. */
        assert_int_equal(write_all(sv[1], two_messages, TWO_MESSAGES_LEN), 0);
        assert_int_equal(vl_reader_fill(&r, sv[0]), (int)TWO_MESSAGES_LEN);
        expect_message(&r, "{\"a\":1}");
        expect_message(&r, "{\"b\":2}");
        expect_nothing(&r);

        assert_int_equal(vl_reader_fill(&r, sv[0]), -EAGAIN);
        close(sv[1]);
        assert_int_equal(vl_reader_fill(&r, sv[0]), 0);
        close(sv[0]);
        vl_reader_done(&r);
}

static void test_reader_socket_too_large(void **state)
{
        char big[40], *msg = NULL;
        struct vl_reader r;
        size_t len;
        int sv[2];

        (void)state;
        memset(big, 'x', sizeof(big));
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        vl_reader_init(&r, 16);
        assert_int_equal(write_all(sv[1], big, sizeof(big)), 0);
        assert_int_equal(vl_reader_fill(&r, sv[0]), (int)sizeof(big));
        assert_int_equal(vl_reader_next(&r, &msg, &len), -EMSGSIZE);
        /* The reader does not keep buffering for a peer it should drop. */
        assert_int_equal(write_all(sv[1], big, sizeof(big)), 0);
        assert_int_equal(vl_reader_fill(&r, sv[0]), -EMSGSIZE);
        close(sv[0]);
        close(sv[1]);
        vl_reader_done(&r);
}

static int parse(const char *msg, size_t len, struct vl_call *call, const char **field)
{
        *call = (struct vl_call){0};
        *field = NULL;
        return vl_call_parse(msg, len, call, field);
}

static void test_call_parse_valid(void **state)
{
        static const char with[] =
                "{\"method\":\"io.vaultd.records.Get\",\"parameters\":{\"collection\":\"a\"}}";
        static const char without[] = "{\"method\":\"io.vaultd.admin.Status\"}";
        static const char flags[] = "{\"method\":\"m.x\",\"more\":true,\"oneway\":false}";
        static const char oneway[] = "{\"oneway\":true,\"method\":\"m.x\",\"more\":false}";
        static const char null_params[] = "{\"method\":\"m.x\",\"parameters\":null,\"upgrade\":true}";
        struct vl_call call;
        const char *err;

        (void)state;
        assert_int_equal(parse(with, strlen(with), &call, &err), 0);
        assert_string_equal(call.method, "io.vaultd.records.Get");
        assert_true(json_is_object(call.parameters));
        assert_string_equal(json_string_value(json_object_get(call.parameters, "collection")), "a");
        assert_false(call.more);
        assert_false(call.oneway);
        json_decref(call.root);

        assert_int_equal(parse(without, strlen(without), &call, &err), 0);
        assert_string_equal(call.method, "io.vaultd.admin.Status");
        assert_true(json_is_object(call.parameters));
        assert_int_equal(json_object_size(call.parameters), 0);
        /* The empty parameters belong to root, like parsed ones. */
        assert_ptr_equal(json_object_get(call.root, "parameters"), call.parameters);
        json_decref(call.root);

        assert_int_equal(parse(flags, strlen(flags), &call, &err), 0);
        assert_true(call.more);
        assert_false(call.oneway);
        json_decref(call.root);

        assert_int_equal(parse(oneway, strlen(oneway), &call, &err), 0);
        assert_false(call.more);
        assert_true(call.oneway);
        assert_false(call.upgrade);
        json_decref(call.root);

        /* The reference Go client sends null for a method without input. */
        assert_int_equal(parse(null_params, strlen(null_params), &call, &err), 0);
        assert_true(json_is_object(call.parameters));
        assert_int_equal(json_object_size(call.parameters), 0);
        assert_ptr_equal(json_object_get(call.root, "parameters"), call.parameters);
        assert_true(call.upgrade);
        json_decref(call.root);

        /* len bounds the message; what follows is not read. */
        assert_int_equal(parse("{\"method\":\"m.x\"}garbage", 16, &call, &err), 0);
        assert_string_equal(call.method, "m.x");
        json_decref(call.root);
}

static void test_call_parse_rejects(void **state)
{
        /* Each malformed call, and the envelope field the error names. */
        static const struct {
                const char *msg, *field;
        } bad[] = {
                {"[]", "message"},
                {"[\"method\"]", "message"},
                {"\"io.vaultd.records.Get\"", "message"},
                {"42", "message"},
                {"{}", "method"},
                {"{\"parameters\":{}}", "method"},
                {"{\"method\":1}", "method"},
                {"{\"method\":null}", "method"},
                {"{\"method\":[\"a.b\"]}", "method"},
                {"{\"method\":\"a.b\",\"parameters\":[]}", "parameters"},
                {"{\"method\":\"a.b\",\"parameters\":\"x\"}", "parameters"},
                {"{\"method\":\"a.b\",\"parameters\":0}", "parameters"},
                {"{\"method\":\"a.b\",\"more\":\"yes\"}", "more"},
                {"{\"method\":\"a.b\",\"oneway\":1}", "oneway"},
                {"{\"method\":\"a.b\",\"upgrade\":null}", "upgrade"},
                {"{\"method\":", "message"},
                {"{\"method\":\"a.b\"} {}", "message"},
                {"", "message"},
                {"{\"method\":\"\xff\"}", "message"},
                {"{\"method\":\"a.b\",\"parameters\":{\"x\":\"\xc3\"}}", "message"},
                {"{\"method\":\"a.b\",\"method\":\"c.d\"}", "message"},
                {"{\"method\":\"a.b\",\"parameters\":{\"x\":1,\"x\":2}}", "message"},
        };
        struct vl_call call;
        const char *field;

        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                int k = parse(bad[i].msg, strlen(bad[i].msg), &call, &field);

                if (k != -EBADMSG)
                        fail_msg("vl_call_parse(%s) = %d, want -EBADMSG", bad[i].msg, k);
                assert_non_null(field);
                assert_string_equal(field, bad[i].field);
                assert_null(call.root);
        }
}

/* vl_call_parse lifts a long base64 body out before jansson reads the
 * rest: whatever the message, the call it returns is the one jansson
 * reads from the whole message, and it fails exactly when that fails. */
static void check_parse_as_jansson(const char *msg)
{
        json_t *whole = json_loadb(msg, strlen(msg), JSON_REJECT_DUPLICATES, NULL);
        struct vl_call call;
        const char *field;
        int r = vl_call_parse(msg, strlen(msg), &call, &field);

        if (!whole || !json_is_object(whole) || !json_is_string(json_object_get(whole, "method"))) {
                assert_int_equal(r, -EBADMSG);
                json_decref(whole);
                return;
        }
        if (r == 0) {
                if (!json_equal(call.root, whole))
                        fail_msg("parsed differently: %.200s", msg);
                json_decref(call.root);
        } else /* refused for its envelope, as the whole parse shows */
                assert_false(json_is_object(json_object_get(whole, "parameters")) &&
                             !json_object_get(whole, "more") && !json_object_get(whole, "oneway") &&
                             !json_object_get(whole, "upgrade"));
        json_decref(whole);
}

/* shape with its one %s replaced by s. */
static void fill(char *out, size_t size, const char *shape, const char *s)
{
        const char *at = strstr(shape, "%s");

        assert_non_null(at);
        assert_true(strlen(shape) + strlen(s) < size);
        memcpy(out, shape, (size_t)(at - shape));
        strcpy(out + (at - shape), s);
        strcat(out, at + 2);
}

static void test_call_parse_lifts_the_body_as_jansson_reads_it(void **state)
{
        char body[1200], other[1200], msg[4096];
        static const char *const shapes[] = {
                "{\"method\":\"m.P\",\"parameters\":{\"collection\":\"c\",\"id\":\"i\",\"data\":\"%s\"}}",
                "{ \"method\" : \"m.P\" , \"parameters\" : { \"data\" :\n\t\"%s\" , \"id\":\"i\" } }",
                "{\"parameters\":{\"data\":\"%s\"},\"method\":\"m.P\"}",
                "{\"method\":\"m.P\",\"parameters\":{\"data\":\"%s\",\"data\":\"QUJD\"}}",
                "{\"method\":\"m.P\",\"parameters\":{\"x\":{\"data\":\"%s\"},\"data\":\"QUJD\"}}",
                "{\"method\":\"m.P\",\"other\":{\"data\":\"%s\"},\"parameters\":{}}",
                "{\"method\":\"m.P\",\"other\":{\"data\":\"%s\"},\"parameters\":{\"data\":\"\"}}",
                "{\"method\":\"m.P\",\"parameters\":[{\"data\":\"%s\"}]}",
                "{\"method\":\"m.P\",\"parameters\":{\"note\":\"%s\",\"data\":\"\"}}",
                "{\"method\":\"m.P\",\"parameters\":{\"data\":\"%s\"}",
                "{\"method\":\"m.P\",\"parameters\":{\"data\":\"%s\"}} x",
                "{\"method\":\"m.P\",\"parameters\":{\"data\":\"%s}}",
                "{\"method\":\"m.P\",\"parameters\":{\"da\\u0074a\":\"%s\"}}",
                "{\"method\":\"m.P\",\"parameters\":{\"data\":[\"%s\"]}}",
                "[\"%s\"]",
        };

        (void)state;
        for (size_t n = 0; n < sizeof(body) - 1; n += 1 + randombytes_uniform(97)) {
                for (size_t i = 0; i < n; i++)
                        body[i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
                                [randombytes_uniform(65)];
                body[n] = '\0';
                memcpy(other, body, n + 1);
                if (n)
                        other[randombytes_uniform((uint32_t)n)] = "\\\"\x01\x80 -"[randombytes_uniform(6)];
                for (size_t k = 0; k < ELEMENTSOF(shapes); k++) {
                        fill(msg, sizeof(msg), shapes[k], body);
                        check_parse_as_jansson(msg);
                        fill(msg, sizeof(msg), shapes[k], other);
                        check_parse_as_jansson(msg);
                }
        }
}

/* vl_scan's first form, a character at a time: the reference for the one
 * that finds quotes with memchr. */
static int scan_reference(const char *msg, size_t len, unsigned max_depth, unsigned max_values)
{
        unsigned depth = 0, values = 1;

        for (size_t i = 0; i < len; i++)
                switch (msg[i]) {
                case '"':
                        for (i++; i < len && msg[i] != '"'; i++)
                                if (msg[i] == '\\')
                                        i++;
                        break;
                case '[':
                case '{':
                        if (++depth > max_depth)
                                return -E2BIG;
                        break;
                case ']':
                case '}':
                        if (depth > 0)
                                depth--;
                        break;
                case ',':
                case ':':
                        if (++values > max_values)
                                return -E2BIG;
                        break;
                }
        return 0;
}

static void test_scan_skips_strings_as_the_reference(void **state)
{
        char msg[40];

        (void)state;
        for (int round = 0; round < 300000; round++) {
                size_t len = randombytes_uniform(sizeof(msg));
                for (size_t i = 0; i < len; i++)
                        msg[i] = "\"\\{[,:a"[randombytes_uniform(7)];
                for (unsigned d = 1; d < 4; d++)
                        assert_int_equal(vl_scan(msg, len, d, 3), scan_reference(msg, len, d, 3));
        }
}

static void test_scan_bounds_depth_and_values(void **state)
{
        static const char ok[] =
                "{\"method\":\"a.b\",\"parameters\":{\"x\":[1,2,{\"y\":\"[[[[,,,,\\\"]]\"}]}}";
        char buf[8192];
        size_t n;

        (void)state;
        assert_int_equal(vl_scan(ok, strlen(ok), 4, 16), 0);
        /* Brackets and commas inside strings (escaped quote included) do not count. */
        assert_int_equal(vl_scan(ok, strlen(ok), 4, 8), 0);
        assert_int_equal(vl_scan(ok, strlen(ok), 3, 16), -E2BIG);
        assert_int_equal(vl_scan(ok, strlen(ok), 4, 6), -E2BIG);
        for (n = 0; n < 100; n++)
                buf[n] = '[';
        assert_int_equal(vl_scan(buf, 100, VL_DEPTH_MAX, VL_VALUES_MAX), -E2BIG);
        assert_int_equal(vl_scan(buf, VL_DEPTH_MAX, VL_DEPTH_MAX, VL_VALUES_MAX), 0);
        /* 64 KiB of "[]," cannot become thousands of parsed values. */
        buf[0] = '[';
        for (n = 1; n + 3 < sizeof(buf); n += 3)
                memcpy(buf + n, "[],", 3);
        buf[n - 1] = ']';
        assert_int_equal(vl_scan(buf, n, VL_DEPTH_MAX, VL_VALUES_MAX), -E2BIG);
}

/* Checks buf is a NUL-terminated message of len bytes equal to want. */
static void expect_encoded(char *buf, size_t len, const char *want)
{
        json_t *o;

        assert_non_null(buf);
        assert_int_equal(buf[len], '\0');
        assert_int_equal(strlen(buf), len);
        assert_string_equal(buf, want);
        o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
        assert_true(json_is_object(o));
        assert_true(json_is_object(json_object_get(o, "parameters")));
        json_decref(o);
        free(buf);
}

static void test_reply_encode(void **state)
{
        json_t *params = json_pack("{s:i,s:s}", "x", 1, "s", "a b");
        char *buf = NULL;
        size_t len = 0;

        (void)state;
        assert_non_null(params);
        assert_int_equal(vl_reply_encode(params, false, &buf, &len), 0);
        expect_encoded(buf, len, "{\"parameters\":{\"x\":1,\"s\":\"a b\"}}");
        assert_int_equal(vl_reply_encode(params, true, &buf, &len), 0);
        expect_encoded(buf, len, "{\"parameters\":{\"x\":1,\"s\":\"a b\"},\"continues\":true}");
        /* The caller still owns params. */
        assert_int_equal(params->refcount, 1);
        json_decref(params);

        assert_int_equal(vl_reply_encode(NULL, false, &buf, &len), 0);
        expect_encoded(buf, len, "{\"parameters\":{}}");
        assert_int_equal(vl_reply_encode(NULL, true, &buf, &len), 0);
        expect_encoded(buf, len, "{\"parameters\":{},\"continues\":true}");
}

static void test_error_encode(void **state)
{
        json_t *params = json_pack("{s:s}", "id", "p-1");
        char *buf = NULL;
        size_t len = 0;

        (void)state;
        assert_non_null(params);
        assert_int_equal(vl_error_encode("io.vaultd.records.NotFound", params, &buf, &len), 0);
        expect_encoded(buf, len,
                       "{\"error\":\"io.vaultd.records.NotFound\","
                       "\"parameters\":{\"id\":\"p-1\"}}");
        assert_int_equal(params->refcount, 1);
        json_decref(params);

        assert_int_equal(vl_error_encode("org.varlink.service.MethodNotFound", NULL, &buf, &len), 0);
        expect_encoded(buf, len, "{\"error\":\"org.varlink.service.MethodNotFound\",\"parameters\":{}}");
}

/* The client's encoder and the server's parser agree, over a socket. */
static void test_client_round_trip(void **state)
{
        json_t *params = json_pack("{s:s}", "collection", "a"), *reply = NULL;
        struct vl_reader server, client;
        struct vl_call call;
        char *msg, *buf;
        const char *err;
        size_t len;
        int sv[2];

        (void)state;
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        vl_reader_init(&server, 1024);
        vl_reader_init(&client, 1024);

        assert_int_equal(vl_send_call(sv[1], "io.vaultd.records.List", params, true), 0);
        json_decref(params);
        assert_true(vl_reader_fill(&server, sv[0]) > 0);
        assert_int_equal(vl_reader_next(&server, &msg, &len), 1);
        assert_int_equal(parse(msg, len, &call, &err), 0);
        free(msg);
        assert_string_equal(call.method, "io.vaultd.records.List");
        assert_string_equal(json_string_value(json_object_get(call.parameters, "collection")), "a");
        assert_true(call.more);
        json_decref(call.root);

        assert_int_equal(vl_reply_encode(NULL, true, &buf, &len), 0);
        assert_int_equal(write_all(sv[0], buf, len + 1), 0);
        free(buf);
        assert_int_equal(vl_recv(sv[1], &client, &reply), 0);
        assert_true(json_is_true(json_object_get(reply, "continues")));
        json_decref(reply);

        close(sv[0]);
        assert_int_equal(vl_recv(sv[1], &client, &reply), -ECONNRESET);
        close(sv[1]);
        vl_reader_done(&server);
        vl_reader_done(&client);
}

/* Descriptors open in this process. */
static int open_fds(void)
{
        DIR *d = opendir("/proc/self/fd");
        int n = 0;

        assert_non_null(d);
        while (readdir(d))
                n++;
        closedir(d);
        return n;
}

/* Sends one byte with count copies of fd attached. */
static void send_with_fds(int sock, int fd, size_t count)
{
        char control[CMSG_SPACE(sizeof(int) * 16)] = {0};
        struct iovec iov = {"{", 1};
        struct msghdr mh = {.msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = control,
                            .msg_controllen = CMSG_SPACE(sizeof(int) * count)};
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);

        assert_true(count <= 16);
        *cm = (struct cmsghdr){.cmsg_len = CMSG_LEN(sizeof(int) * count),
                               .cmsg_level = SOL_SOCKET,
                               .cmsg_type = SCM_RIGHTS};
        for (size_t i = 0; i < count; i++)
                memcpy(CMSG_DATA(cm) + i * sizeof(int), &fd, sizeof(int));
        assert_int_equal(sendmsg(sock, &mh, 0), 1);
}

static void test_call_with_fd_round_trip(void **state)
{
        struct vl_reader r;
        struct stat a, b;
        int sv[2], pipefd[2], fds[VL_FDS_MAX];
        size_t n;
        bool truncated;

        (void)state;
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
        vl_reader_init(&r, 1024);
        assert_int_equal(vl_send_call_fd(sv[1], "io.vaultd.admin.Backup", NULL, false, pipefd[1]), 0);
        assert_true(vl_reader_fill_fds(&r, sv[0], fds, &n, &truncated) > 0);
        assert_int_equal(n, 1);
        assert_false(truncated);
        /* The same open file, and close-on-exec on this side. */
        assert_int_equal(fstat(fds[0], &a), 0);
        assert_int_equal(fstat(pipefd[1], &b), 0);
        assert_true(a.st_ino == b.st_ino && a.st_dev == b.st_dev);
        assert_true(fcntl(fds[0], F_GETFD) & FD_CLOEXEC);
        expect_message(&r, "{\"method\":\"io.vaultd.admin.Backup\",\"parameters\":{}}");
        close(fds[0]);
        assert_int_equal(vl_send_call_fd(sv[1], "x.y", NULL, false, -1), -EBADF);
        close(pipefd[0]);
        close(pipefd[1]);
        close(sv[0]);
        close(sv[1]);
        vl_reader_done(&r);
}

static void test_reader_bounds_fds(void **state)
{
        struct vl_reader r;
        int sv[2], fds[VL_FDS_MAX], before;
        size_t n;
        bool truncated;

        (void)state;
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        vl_reader_init(&r, 1024);
        before = open_fds();
        /* More than one read takes: VL_FDS_MAX come in, the rest are closed. */
        send_with_fds(sv[1], STDERR_FILENO, 12);
        assert_int_equal(vl_reader_fill_fds(&r, sv[0], fds, &n, &truncated), 1);
        assert_int_equal(n, VL_FDS_MAX);
        assert_true(truncated);
        assert_int_equal(open_fds(), before + VL_FDS_MAX);
        for (size_t i = 0; i < n; i++)
                close(fds[i]);
        assert_int_equal(open_fds(), before);
        /* The plain reader takes none in: the kernel closes them. */
        send_with_fds(sv[1], STDERR_FILENO, 3);
        assert_int_equal(vl_reader_fill(&r, sv[0]), 1);
        assert_int_equal(open_fds(), before);
        close(sv[0]);
        close(sv[1]);
        vl_reader_done(&r);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_reader_coalesced),
                cmocka_unit_test(test_reader_split),
                cmocka_unit_test(test_reader_too_large),
                cmocka_unit_test(test_reader_exact_max),
                cmocka_unit_test(test_reader_socket),
                cmocka_unit_test(test_reader_socket_too_large),
                cmocka_unit_test(test_call_parse_valid),
                cmocka_unit_test(test_call_parse_rejects),
                cmocka_unit_test(test_scan_bounds_depth_and_values),
                cmocka_unit_test(test_scan_skips_strings_as_the_reference),
                cmocka_unit_test(test_call_parse_lifts_the_body_as_jansson_reads_it),
                cmocka_unit_test(test_reply_encode),
                cmocka_unit_test(test_error_encode),
                cmocka_unit_test(test_client_round_trip),
                cmocka_unit_test(test_call_with_fd_round_trip),
                cmocka_unit_test(test_reader_bounds_fds),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
