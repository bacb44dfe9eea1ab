/* Whether a record body is one JSON object (RFC 8259), for a collection
 * whose content is json (vaultd/collections.h). The body is a secret: the
 * check reads it in place and allocates nothing, so no copy of it is left
 * in freed memory (a JSON parser would leave every string it built), and
 * its verdict names only a position and what was expected there, never
 * the bytes. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Objects and arrays nest at most this deep. */
#define JSONCHECK_DEPTH_MAX 128

struct jsoncheck_error {
        size_t offset;      /* bytes from the start, 0-based */
        size_t line;        /* 1-based */
        size_t column;      /* 1-based, in characters of the line */
        const char *reason; /* static, e.g. "expected ',' or '}'" */
};

/* 0 when body (len bytes) is one JSON object with nothing but white space
 * around it, in UTF-8; -EBADMSG with *ret_error set otherwise. */
int jsoncheck_object(const uint8_t *body, size_t len, struct jsoncheck_error *ret_error);
