/* The differential check of lib/jsonscan.c against jansson, shared by the
 * unit test (tests/unit/test-jsonscan.c) and the fuzz target
 * (tests/fuzz/fuzz-jsonscan.c): whenever jscan_object accepts a text,
 * jansson must read it as an object with the same members and values. */
#pragma once

#include <stdbool.h>
#include <string.h>

#include <jansson.h>

#include "jsonscan.h"

/* A JSCAN_STRING_ESCAPED value decoded (its escapes are the simple ones). */
static size_t oracle_unescape(const struct jscan_member *m, char *out)
{
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        size_t n = 0;

        for (size_t i = 0; i < m->val_len; i++) {
                if (m->val[i] == '\\') {
                        i++;
                        out[n++] = to[strchr(from, m->val[i]) - from];
                } else
                        out[n++] = m->val[i];
        }
        return n;
}

static const char *oracle_value(const struct jscan *js, size_t i, json_t *v);

static const char *oracle_object(const struct jscan *js, int parent, json_t *o)
{
        size_t n = 0;

        for (size_t i = 0; i < js->n; i++) {
                const struct jscan_member *m = &js->m[i];
                char key[4096];
                json_t *v;
                const char *why;

                if (m->parent != parent)
                        continue;
                n++;
                if (m->key_len >= sizeof(key))
                        return "a key too long for the oracle";
                memcpy(key, m->key, m->key_len);
                key[m->key_len] = '\0';
                v = json_object_get(o, key);
                if (!v)
                        return "jscan found a member jansson does not have";
                if ((why = oracle_value(js, i, v)))
                        return why;
        }
        return n == json_object_size(o) ? NULL : "jscan and jansson count different members";
}

static const char *oracle_value(const struct jscan *js, size_t i, json_t *v)
{
        const struct jscan_member *m = &js->m[i];
        static char buf[1 << 17];
        size_t n;

        switch (m->type) {
        case JSCAN_STRING:
                return json_is_string(v) && json_string_length(v) == m->val_len &&
                                       memcmp(json_string_value(v), m->val, m->val_len) == 0
                               ? NULL
                               : "a string differs";
        case JSCAN_STRING_ESCAPED:
                if (m->val_len > sizeof(buf))
                        return "a string too long for the oracle";
                n = oracle_unescape(m, buf);
                return json_is_string(v) && json_string_length(v) == n &&
                                       memcmp(json_string_value(v), buf, n) == 0
                               ? NULL
                               : "an escaped string differs";
        case JSCAN_INTEGER:
                return json_is_integer(v) && json_integer_value(v) == jscan_integer(m)
                               ? NULL
                               : "an integer differs";
        case JSCAN_TRUE:
                return json_is_true(v) ? NULL : "true differs";
        case JSCAN_FALSE:
                return json_is_false(v) ? NULL : "false differs";
        case JSCAN_NULL:
                return json_is_null(v) ? NULL : "null differs";
        case JSCAN_OBJECT:
                return json_is_object(v) ? oracle_object(js, (int)i, v) : "an object differs";
        case JSCAN_ARRAY:
                return json_is_array(v) ? NULL : "an array differs";
        }
        return "unknown type";
}

/* NULL when jscan's reading of text agrees with jansson's (or jscan left
 * it to jansson), else what differs. *ret_fast: whether jscan accepted. */
static const char *jscan_oracle(const char *text, size_t len, bool *ret_fast)
{
        struct jscan js;
        const char *why;
        json_t *o;

        *ret_fast = jscan_object(text, len, &js);
        if (!*ret_fast)
                return NULL;
        o = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(o))
                why = "jscan accepted what jansson refuses";
        else
                why = oracle_object(&js, -1, o);
        json_decref(o);
        return why;
}
