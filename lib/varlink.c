#include "varlink.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <sodium.h>

#include "util.h"

void vl_reader_init(struct vl_reader *r, size_t max)
{
        *r = (struct vl_reader){.max = max};
}

void vl_reader_done(struct vl_reader *r)
{
        if (r->data) {
                sodium_memzero(r->data, r->cap);
                free(r->data);
        }
        *r = (struct vl_reader){.max = r->max};
}

/* Makes room for want more bytes; the buffer never exceeds max + one chunk. */
static int reader_reserve(struct vl_reader *r, size_t want)
{
        size_t need = r->len + want, cap;
        char *p;

        if (need <= r->cap)
                return 0;
        cap = r->cap ? r->cap : 4096;
        while (cap < need)
                cap *= 2;
        /* Copy instead of realloc so a body never lingers in freed memory. */
        p = malloc(cap);
        if (!p)
                return -ENOMEM;
        if (r->data) {
                memcpy(p, r->data, r->len);
                sodium_memzero(r->data, r->cap);
                free(r->data);
        }
        r->data = p;
        r->cap = cap;
        return 0;
}

int vl_reader_feed(struct vl_reader *r, const void *buf, size_t len)
{
        int k = reader_reserve(r, len);

        if (k < 0)
                return k;
        memcpy(r->data + r->len, buf, len);
        r->len += len;
        return 0;
}

int vl_reader_fill(struct vl_reader *r, int fd)
{
        size_t room = VL_READ_CHUNK;
        ssize_t n;
        int k;

        /* Never buffer far beyond one maximal message. */
        if (r->len > r->max + 1)
                return -EMSGSIZE;
        k = reader_reserve(r, room);
        if (k < 0)
                return k;
        n = recv(fd, r->data + r->len, room, MSG_DONTWAIT);
        if (n < 0)
                return errno == EWOULDBLOCK ? -EAGAIN : -errno;
        r->len += (size_t)n;
        return (int)n;
}

/* Room for VL_FDS_MAX descriptors in one control message. */
union vl_fd_control {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * VL_FDS_MAX)];
};

/* Collects the SCM_RIGHTS descriptors of a received message into fds
 * (at most VL_FDS_MAX), closing any beyond that. */
static size_t take_fds(struct msghdr *mh, int fds[static VL_FDS_MAX], bool *ret_truncated)
{
        size_t n = 0;

        *ret_truncated = (mh->msg_flags & MSG_CTRUNC) != 0;
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
                size_t count;

                if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
                        continue;
                count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (size_t i = 0; i < count; i++) {
                        int got;

                        memcpy(&got, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
                        if (n < VL_FDS_MAX)
                                fds[n++] = got;
                        else {
                                close(got);
                                *ret_truncated = true;
                        }
                }
        }
        return n;
}

int vl_reader_fill_fds(struct vl_reader *r, int fd, int fds[static VL_FDS_MAX], size_t *ret_nfds,
                       bool *ret_truncated)
{
        union vl_fd_control control;
        struct iovec iov;
        struct msghdr mh = {.msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = control.buf,
                            .msg_controllen = sizeof(control.buf)};
        ssize_t n;
        int k;

        *ret_nfds = 0;
        *ret_truncated = false;
        if (r->len > r->max + 1)
                return -EMSGSIZE;
        k = reader_reserve(r, VL_READ_CHUNK);
        if (k < 0)
                return k;
        iov = (struct iovec){r->data + r->len, VL_READ_CHUNK};
        n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0)
                return errno == EWOULDBLOCK ? -EAGAIN : -errno;
        *ret_nfds = take_fds(&mh, fds, ret_truncated);
        if (n == 0) { /* descriptors never come without a byte; be sure */
                for (size_t i = 0; i < *ret_nfds; i++)
                        close(fds[i]);
                *ret_nfds = 0;
        }
        r->len += (size_t)n;
        return (int)n;
}

int vl_reader_next(struct vl_reader *r, char **ret_msg, size_t *ret_len)
{
        char *nul, *msg;
        size_t mlen;

        nul = r->len > r->scan ? memchr(r->data + r->scan, '\0', r->len - r->scan) : NULL;
        if (!nul) {
                r->scan = r->len;
                return r->len > r->max ? -EMSGSIZE : 0;
        }
        mlen = (size_t)(nul - r->data);
        if (mlen > r->max)
                return -EMSGSIZE;
        msg = malloc(mlen + 1);
        if (!msg)
                return -ENOMEM;
        memcpy(msg, r->data, mlen + 1);
        sodium_memzero(r->data, mlen + 1);
        memmove(r->data, r->data + mlen + 1, r->len - mlen - 1);
        r->len -= mlen + 1;
        r->scan = 0;
        *ret_msg = msg;
        *ret_len = mlen;
        return 1;
}

bool vl_reader_partial(const struct vl_reader *r)
{
        return r->len > 0;
}

/* Where the string whose first character is at msg[i] ends: the index of
 * its closing quote, or len when it has none. memchr finds the quotes, so
 * a 22 MB body is skipped in a few milliseconds, not character by
 * character. */
static size_t string_end(const char *msg, size_t len, size_t i)
{
        size_t start = i;

        for (;;) {
                const char *q = memchr(msg + i, '"', len - i);
                size_t at, n = 0;

                if (!q)
                        return len;
                at = (size_t)(q - msg);
                while (at - n > start && msg[at - n - 1] == '\\')
                        n++;
                if (n % 2 == 0) /* not escaped */
                        return at;
                i = at + 1;
        }
}

int vl_scan(const char *msg, size_t len, unsigned max_depth, unsigned max_values)
{
        unsigned depth = 0, values = 1;

        for (size_t i = 0; i < len; i++)
                switch (msg[i]) {
                case '"': /* skip the string, escapes included */
                        i = string_end(msg, len, i + 1);
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

/* Envelope fields a call may carry; each is optional. */
static bool flag_ok(json_t *v)
{
        return !v || json_is_boolean(v);
}

/* Strings shorter than this are left to jansson. */
#define LIFT_MIN 256

/* Whether all n characters are base64's (a loop the compiler vectorises). */
static bool all_b64(const char *p, size_t n)
{
        unsigned char bad = 0;

        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)p[i];
                bad |= !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                         c == '+' || c == '/' || c == '=');
        }
        return !bad;
}

/* Finds the string value of "parameters"."data" when it is long and made
 * of base64 characters only (a Put's body): its bytes are then its value,
 * with nothing to unescape or check. Sets *ret_off and *ret_len (the
 * characters between the quotes) and returns true. A walk over the
 * structure like vl_scan's; anything it does not expect ends it. */
static bool find_body(const char *msg, size_t len, size_t *ret_off, size_t *ret_len)
{
        unsigned depth = 0;
        bool key1_params = false, in_params = false, key2_data = false;

        for (size_t i = 0; i < len; i++) {
                switch (msg[i]) {
                case '"': {
                        size_t start = i + 1, k;

                        i = string_end(msg, len, start);
                        if (i >= len)
                                return false;
                        for (k = i + 1; k < len && (msg[k] == ' ' || msg[k] == '\t' || msg[k] == '\n' ||
                                                    msg[k] == '\r');
                             k++)
                                ;
                        if (k < len && msg[k] == ':') { /* a key */
                                if (depth == 1)
                                        key1_params = i - start == 10 &&
                                                      memcmp(msg + start, "parameters", 10) == 0;
                                else if (depth == 2 && in_params)
                                        key2_data = i - start == 4 && memcmp(msg + start, "data", 4) == 0;
                        } else if (depth == 2 && in_params && key2_data) {
                                /* (a backslash is not base64: nothing to unescape) */
                                if (i - start < LIFT_MIN || !all_b64(msg + start, i - start))
                                        return false;
                                *ret_off = start;
                                *ret_len = i - start;
                                return true;
                        }
                        break;
                }
                case '{':
                case '[':
                        depth++;
                        if (depth == 2)
                                in_params = msg[i] == '{' && key1_params;
                        key2_data = false;
                        break;
                case '}':
                case ']':
                        if (depth == 0)
                                return false;
                        if (depth == 2 && in_params)
                                return false; /* the parameters ended without a long body */
                        depth--;
                        break;
                case ',':
                        key2_data = false;
                        break;
                }
        }
        return false;
}

/* Parses msg; a long base64 body is lifted out before jansson reads the
 * rest (its lexer takes a character at a time: 37 us for a 1 KiB Put, half
 * a second for 16 MiB) and put back as a string of its bytes. */
static json_t *load_call(const char *msg, size_t len)
{
        size_t off, blen;
        json_t *root, *params, *data;
        char *rest;

        if (!find_body(msg, len, &off, &blen))
                return json_loadb(msg, len, JSON_REJECT_DUPLICATES, NULL);
        rest = malloc(len - blen);
        if (!rest)
                return NULL;
        memcpy(rest, msg, off);
        memcpy(rest + off, msg + off + blen, len - off - blen);
        root = json_loadb(rest, len - blen, JSON_REJECT_DUPLICATES, NULL);
        sodium_memzero(rest, len - blen); /* the call's other parameters */
        free(rest);
        params = json_object_get(root, "parameters");
        data = json_object_get(params, "data");
        if (!json_is_string(data) || json_string_length(data) != 0 ||
            json_object_set_new(params, "data", json_stringn_nocheck(msg + off, blen)) < 0) {
                /* Not what find_body saw (it cannot be): parse it whole. */
                json_decref(root);
                return json_loadb(msg, len, JSON_REJECT_DUPLICATES, NULL);
        }
        return root;
}

int vl_call_parse(const char *msg, size_t len, struct vl_call *ret_call, const char **ret_field)
{
        json_t *root, *method, *params, *more, *oneway, *upgrade;

        *ret_field = "message";
        root = load_call(msg, len);
        if (!root)
                return -EBADMSG;
        method = json_object_get(root, "method");
        params = json_object_get(root, "parameters");
        more = json_object_get(root, "more");
        oneway = json_object_get(root, "oneway");
        upgrade = json_object_get(root, "upgrade");
        if (!json_is_object(root))
                goto fail;
        *ret_field = "method";
        if (!json_is_string(method))
                goto fail;
        /* The call type is parameters: ?object, and the reference client
         * sends null for a method without input. */
        *ret_field = "parameters";
        if (params && !json_is_object(params) && !json_is_null(params))
                goto fail;
        *ret_field = !flag_ok(more) ? "more" : !flag_ok(oneway) ? "oneway" : "upgrade";
        if (!flag_ok(more) || !flag_ok(oneway) || !flag_ok(upgrade))
                goto fail;
        if (!json_is_object(params)) {
                params = json_object();
                if (!params || json_object_set_new(root, "parameters", params) < 0)
                        goto fail;
        }
        *ret_call = (struct vl_call){
                .root = root,
                .method = json_string_value(method),
                .parameters = params,
                .more = json_is_true(more),
                .oneway = json_is_true(oneway),
                .upgrade = json_is_true(upgrade),
        };
        return 0;
fail:
        json_decref(root);
        return -EBADMSG;
}

/* Dumps obj compactly and appends the NUL terminator. */
static int encode_message(json_t *obj, char **ret, size_t *ret_len)
{
        size_t n = json_dumpb(obj, NULL, 0, JSON_COMPACT);
        char *buf;

        if (n == 0)
                return -ENOMEM;
        buf = malloc(n + 1);
        if (!buf)
                return -ENOMEM;
        json_dumpb(obj, buf, n, JSON_COMPACT);
        buf[n] = '\0';
        *ret = buf;
        *ret_len = n;
        return 0;
}

int vl_reply_encode(json_t *params, bool continues, char **ret, size_t *ret_len)
{
        json_t *obj = json_object();
        int k;

        if (!obj)
                return -ENOMEM;
        if (params)
                json_object_set(obj, "parameters", params);
        else
                json_object_set_new(obj, "parameters", json_object());
        if (continues)
                json_object_set_new(obj, "continues", json_true());
        k = encode_message(obj, ret, ret_len);
        json_decref(obj);
        return k;
}

int vl_error_encode(const char *error, json_t *params, char **ret, size_t *ret_len)
{
        json_t *obj = json_pack("{s:s}", "error", error);
        int k;

        if (!obj)
                return -ENOMEM;
        if (params)
                json_object_set(obj, "parameters", params);
        else
                json_object_set_new(obj, "parameters", json_object());
        k = encode_message(obj, ret, ret_len);
        json_decref(obj);
        return k;
}

int vl_connect(const char *path)
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
                int k = -errno;
                close(fd);
                return k;
        }
        return fd;
}

/* Sends len bytes; pass_fd (when >= 0) goes with the first one. */
static int send_bytes(int fd, const char *buf, size_t len, int pass_fd)
{
        union vl_fd_control control = {0};
        struct iovec iov;
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

        if (pass_fd >= 0) {
                struct cmsghdr *cm;

                mh.msg_control = control.buf;
                mh.msg_controllen = CMSG_SPACE(sizeof(int));
                cm = CMSG_FIRSTHDR(&mh);
                *cm = (struct cmsghdr){.cmsg_len = CMSG_LEN(sizeof(int)),
                                       .cmsg_level = SOL_SOCKET,
                                       .cmsg_type = SCM_RIGHTS};
                memcpy(CMSG_DATA(cm), &pass_fd, sizeof(int));
        }
        for (size_t off = 0; off < len;) {
                ssize_t n;

                iov = (struct iovec){(char *)buf + off, len - off};
                n = sendmsg(fd, &mh, MSG_NOSIGNAL);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                off += (size_t)n;
                mh.msg_control = NULL; /* sent with the first byte */
                mh.msg_controllen = 0;
        }
        return 0;
}

static int send_call(int fd, const char *method, json_t *params, bool more, int pass_fd)
{
        json_t *obj = json_pack("{s:s}", "method", method);
        _cleanup_(freep) char *buf = NULL;
        size_t len;
        int k;

        if (!obj)
                return -ENOMEM;
        if (params)
                json_object_set(obj, "parameters", params);
        else
                json_object_set_new(obj, "parameters", json_object());
        if (more)
                json_object_set_new(obj, "more", json_true());
        k = encode_message(obj, &buf, &len);
        json_decref(obj);
        if (k < 0)
                return k;
        k = send_bytes(fd, buf, len + 1, pass_fd);
        sodium_memzero(buf, len);
        return k;
}

int vl_send_call(int fd, const char *method, json_t *params, bool more)
{
        return send_call(fd, method, params, more, -1);
}

int vl_send_call_fd(int fd, const char *method, json_t *params, bool more, int pass_fd)
{
        return pass_fd < 0 ? -EBADF : send_call(fd, method, params, more, pass_fd);
}

int vl_recv(int fd, struct vl_reader *r, json_t **ret)
{
        for (;;) {
                _cleanup_(freep) char *msg = NULL;
                size_t len;
                json_t *obj;
                int k = vl_reader_next(r, &msg, &len);

                if (k < 0)
                        return k;
                if (k > 0) {
                        obj = json_loadb(msg, len, 0, NULL);
                        sodium_memzero(msg, len);
                        if (!json_is_object(obj)) {
                                json_decref(obj);
                                return -EBADMSG;
                        }
                        *ret = obj;
                        return 0;
                }
                ssize_t n;
                k = reader_reserve(r, VL_READ_CHUNK);
                if (k < 0)
                        return k;
                n = recv(fd, r->data + r->len, VL_READ_CHUNK, 0);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return -ECONNRESET;
                r->len += (size_t)n;
        }
}
