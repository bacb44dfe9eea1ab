/* A top-level member of a JSON object, read in place: the terms a json
 * collection's records are found by (vaultd/findindex.h) come from their
 * bodies' top-level fields. Like lib/jsoncheck.h, it reads the body where
 * it lies and allocates nothing, so no copy of a secret is left in freed
 * memory; the caller wipes what it asked to be written. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* The value of the first top-level member named name in body (len bytes,
 * which jsoncheck_object has accepted): a string (its escapes decoded to
 * UTF-8) or a number (its text), NUL-terminated into out (cap bytes).
 * Returns its length; -ENOENT when there is no such member or its value
 * is another type (object, array, true, false, null); -E2BIG when it does
 * not fit; -EBADMSG when the body is not a JSON object after all. */
int jsonfield_scalar(const uint8_t *body, size_t len, const char *name, char *out, size_t cap);
