/* A one-pass reader of small JSON objects (audit lines) that builds no
 * tree: it validates the whole text and notes where each member's key and
 * value lie, for the few fields a verifier needs.
 *
 * It never decides that a text is invalid. It accepts only texts that
 * jansson's json_loadb(JSON_REJECT_DUPLICATES) accepts as an object, with
 * the same members; anything it is not sure of (an escape \u, a number
 * with a fraction or exponent or more than 18 digits, deep nesting, many
 * members, invalid bytes) it leaves to the caller, which then parses the
 * text with jansson and gives jansson's verdict. So the fast path can only
 * be faster, never more lenient (tests/unit/test-jsonscan.c and the fuzz
 * target tests/fuzz/fuzz-jsonscan.c check this against jansson). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Members recorded, over all nesting levels; a text with more is left to
 * jansson. An audit line has about 15. */
#define JSCAN_MEMBERS_MAX 48
/* Deepest nesting of objects and arrays read here. */
#define JSCAN_DEPTH_MAX 16

enum jscan_type {
        JSCAN_STRING,         /* no escapes: the raw bytes are the value */
        JSCAN_STRING_ESCAPED, /* with \" \\ \/ \b \f \n \r \t (never \u) */
        JSCAN_INTEGER,        /* at most 18 digits, maybe a minus sign */
        JSCAN_TRUE,
        JSCAN_FALSE,
        JSCAN_NULL,
        JSCAN_OBJECT,
        JSCAN_ARRAY,
};

struct jscan_member {
        const char *key; /* raw bytes, never escaped */
        size_t key_len;
        const char *val; /* a string's bytes between its quotes; else the token or {...} / [...] */
        size_t val_len;
        enum jscan_type type;
        int parent; /* index of the member whose object holds this one; -1 at the top */
};

struct jscan {
        struct jscan_member m[JSCAN_MEMBERS_MAX];
        size_t n;
};

/* Reads text (len bytes) as one JSON object. true when it is valid and
 * jansson reads it the same (the members are in *ret); false when it is
 * not sure (invalid, or beyond what is read here): parse it with jansson. */
bool jscan_object(const char *text, size_t len, struct jscan *ret);

/* The member named name (a plain key) in the object at parent (-1: the
 * top level), or NULL. */
const struct jscan_member *jscan_get(const struct jscan *js, int parent, const char *name);
/* Index of member m in js, to use it as a parent. */
static inline int jscan_index(const struct jscan *js, const struct jscan_member *m)
{
        return (int)(m - js->m);
}
/* An integer member's value. */
int64_t jscan_integer(const struct jscan_member *m);
/* Whether m is a string equal to s (a plain string without escapes; an
 * escaped one is never equal here). */
bool jscan_string_is(const struct jscan_member *m, const char *s);

/* The JSON string (without its quotes) for the bytes s[0..len), as
 * jansson's json_dumps writes it: '"' and '\\' escaped, control
 * characters as \b \f \n \r \t or \u00XX, everything else as is. out
 * must hold JSCAN_QUOTED_MAX(len) bytes; *ret_len is what was written.
 * -EILSEQ when s is not valid UTF-8 (jansson refuses such a string). */
#define JSCAN_QUOTED_MAX(len) (6 * (len))
int jscan_quote(const char *s, size_t len, char *out, size_t *ret_len);
