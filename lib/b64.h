/* Standard base64 (RFC 4648 §4, with padding) for record bodies, in
 * constant time like libsodium's (no table indexed by the data: a body is
 * secret) but about ten times faster, since a body's encoding and decoding
 * sit on every Put and Get (issue #12). Accepts and produces exactly what
 * sodium_bin2base64 / sodium_base642bin do with the ORIGINAL variant and no
 * ignored characters (tests/unit/test-b64.c checks it against them). */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Characters that encoding len bytes produces (no NUL). */
static inline size_t b64_encoded_len(size_t len)
{
        return (len + 2) / 3 * 4;
}

/* Writes b64_encoded_len(len) characters (no NUL) to out. */
void b64_encode(char *out, const uint8_t *in, size_t len);

/* Decodes len characters: a multiple of 4, padded, nothing else, and
 * canonical (unused bits zero). Writes at most out_max bytes. -EINVAL on
 * malformed input, -ENOBUFS when the result would exceed out_max. */
int b64_decode(uint8_t *out, size_t out_max, const char *in, size_t len, size_t *ret_len);
