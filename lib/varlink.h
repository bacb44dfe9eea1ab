/* varlink framing and envelopes: each message is one JSON object followed by
 * a NUL byte (varlink.org). Used by the daemon (non-blocking) and by vaultctl
 * and tests (blocking client). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* A receive buffer that splits a byte stream into NUL-terminated messages.
 * It never holds more than max bytes of one unfinished message. */
struct vl_reader {
        char *data;
        size_t len;  /* bytes held */
        size_t scan; /* bytes already searched for a NUL */
        size_t cap;
        size_t max; /* largest message accepted, without its NUL */
};

/* What one read asks for: a read that returns less has drained the socket
 * (for now). */
#define VL_READ_CHUNK 65536

void vl_reader_init(struct vl_reader *r, size_t max);
/* Frees the buffer (wiping it: messages may carry record bodies). */
void vl_reader_done(struct vl_reader *r);
/* Reads once from fd into the buffer. Returns bytes read, 0 at end of file,
 * -EAGAIN when nothing is ready, other -errno on error. */
int vl_reader_fill(struct vl_reader *r, int fd);
/* File descriptors passed with the bytes (SCM_RIGHTS). One read takes in
 * at most VL_FDS_MAX; the kernel closes what does not fit. */
#define VL_FDS_MAX 4
/* Like vl_reader_fill, and also takes in the descriptors passed with the
 * bytes read (close-on-exec): *ret_nfds of them into fds, which the caller
 * then owns. *ret_truncated is set when more came than fit (those are
 * closed). Nothing is taken in when the result is <= 0. */
int vl_reader_fill_fds(struct vl_reader *r, int fd, int fds[static VL_FDS_MAX], size_t *ret_nfds,
                       bool *ret_truncated);
/* Appends bytes as if read (for tests and fuzzers). -ENOMEM, or 0. */
int vl_reader_feed(struct vl_reader *r, const void *buf, size_t len);
/* Takes the next complete message out of the buffer. Returns 1 and sets
 * *ret_msg (malloc'd, NUL-terminated, caller frees) and *ret_len; 0 when no
 * complete message is buffered yet; -EMSGSIZE when the pending message is
 * longer than max (the stream cannot be resynchronised: drop the peer). */
int vl_reader_next(struct vl_reader *r, char **ret_msg, size_t *ret_len);
/* True when part of a message is buffered. */
bool vl_reader_partial(const struct vl_reader *r);

/* What one call may hold once parsed: a message passes vl_scan before it is
 * parsed, so no client can make the parser build a huge or deep tree out
 * of a small message ("[[[[…" or 30,000 "[]"s in 64 KiB). */
#define VL_DEPTH_MAX  16
#define VL_VALUES_MAX 1024

/* Checks the JSON structure of msg without building it: at most max_depth
 * nested arrays/objects and max_values values. Returns 0, or -E2BIG when
 * over a limit (malformed JSON is left to the parser). Linear, no memory. */
int vl_scan(const char *msg, size_t len, unsigned max_depth, unsigned max_values);

/* A decoded call. json values are borrowed from root. */
struct vl_call {
        json_t *root;
        const char *method;
        json_t *parameters; /* always an object */
        bool more;
        bool oneway;  /* the caller wants no reply, not even an error */
        bool upgrade; /* the caller asks to leave varlink after the reply */
};

/* Parses one message as a varlink call ("parameters": null counts as {}).
 * On failure returns -EBADMSG and points *ret_field at the name of the
 * envelope field at fault ("message" when it is not a JSON object at all),
 * for org.varlink.service.InvalidParameter. On success the caller owns
 * call->root (json_decref). */
int vl_call_parse(const char *msg, size_t len, struct vl_call *ret_call, const char **ret_field);

/* Serialises a reply (params may be NULL for {}); the caller frees *ret.
 * The length excludes the trailing NUL, which is part of the buffer. */
int vl_reply_encode(json_t *params, bool continues, char **ret, size_t *ret_len);
/* Serialises a named error with parameters (may be NULL). */
int vl_error_encode(const char *error, json_t *params, char **ret, size_t *ret_len);

/* Blocking client side. */

/* Connects to a Unix stream socket path. Returns the fd or -errno. */
int vl_connect(const char *path);
/* Sends one call. params may be NULL. -EPIPE when the peer closed (its
 * last reply, e.g. an error, may still be waiting to be read). */
int vl_send_call(int fd, const char *method, json_t *params, bool more);
/* Sends one call with the descriptor pass_fd attached to its first byte
 * (SCM_RIGHTS; docs/protocol.md). pass_fd stays the caller's. */
int vl_send_call_fd(int fd, const char *method, json_t *params, bool more, int pass_fd);
/* Waits for the next message on fd. Returns 0 and *ret (caller decrefs);
 * -ECONNRESET when the peer closed, -EBADMSG on a malformed reply. */
int vl_recv(int fd, struct vl_reader *r, json_t **ret);
