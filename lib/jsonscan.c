#include "jsonscan.h"

#include <errno.h>
#include <string.h>

/* Longest integer read here: 18 digits never overflow an int64 (jansson
 * refuses what does, and such a text goes to jansson). */
#define INTEGER_DIGITS_MAX 18

/* Bytes that stand for themselves inside a string: printable ASCII but
 * the quote and the backslash. */
static const bool plain_byte[256] = {
        [0x20 ... 0x21] = true, /* then '"' */
        [0x23 ... 0x5B] = true, /* then '\\' */
        [0x5D ... 0x7F] = true,
};
/* Bytes that may follow a number or a literal. */
static const bool delimiter_byte[256] = {
        [' '] = true, ['\t'] = true, ['\n'] = true, ['\r'] = true, [','] = true, [']'] = true, ['}'] = true,
};

struct scanner {
        const unsigned char *p, *end;
        struct jscan *js;
        int depth;
};

static void skip_ws(struct scanner *s)
{
        while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
                s->p++;
}

/* One UTF-8 sequence starting at p (a byte >= 0x80), as jansson checks it:
 * no overlong forms, no surrogates, nothing above U+10FFFF. Its length,
 * or 0. */
static size_t utf8_sequence(const unsigned char *p, const unsigned char *end)
{
        uint32_t cp;
        size_t n;

        if (*p >= 0xC2 && *p <= 0xDF)
                n = 2, cp = *p & 0x1F;
        else if (*p >= 0xE0 && *p <= 0xEF)
                n = 3, cp = *p & 0x0F;
        else if (*p >= 0xF0 && *p <= 0xF4)
                n = 4, cp = *p & 0x07;
        else
                return 0;
        if ((size_t)(end - p) < n)
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((p[i] & 0xC0) != 0x80)
                        return 0;
                cp = cp << 6 | (p[i] & 0x3F);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
                return 0;
        return n;
}

/* A string, after its opening quote; *ret_escaped when it holds escapes. */
static bool scan_string(struct scanner *s, const char **ret, size_t *ret_len, bool *ret_escaped)
{
        const unsigned char *start = s->p;
        bool escaped = false;

        while (s->p < s->end) {
                unsigned char c;

                while (s->p < s->end && plain_byte[*s->p])
                        s->p++;
                if (s->p == s->end)
                        break;
                c = *s->p;
                if (c == '"') {
                        *ret = (const char *)start;
                        *ret_len = (size_t)(s->p - start);
                        *ret_escaped = escaped;
                        s->p++;
                        return true;
                }
                if (c < 0x20)
                        return false;
                if (c == '\\') {
                        /* \uXXXX needs decoding (and jansson refuses \u0000
                         * and lone surrogates): not read here. */
                        if (s->end - s->p < 2 || !strchr("\"\\/bfnrt", s->p[1]) || s->p[1] == '\0')
                                return false;
                        escaped = true;
                        s->p += 2;
                } else {
                        size_t n = utf8_sequence(s->p, s->end);

                        if (!n)
                                return false;
                        s->p += n;
                }
        }
        return false;
}

static bool delimiter_follows(const struct scanner *s)
{
        return s->p == s->end || delimiter_byte[*s->p];
}

/* -?(0|[1-9][0-9]*), at most INTEGER_DIGITS_MAX digits, then a delimiter
 * (a fraction or an exponent is not read here). */
static bool scan_integer(struct scanner *s)
{
        const unsigned char *digits;

        if (*s->p == '-')
                s->p++;
        digits = s->p;
        while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
                s->p++;
        if (s->p == digits || s->p - digits > INTEGER_DIGITS_MAX || (*digits == '0' && s->p - digits > 1))
                return false;
        return s->p == s->end || (*s->p != '.' && *s->p != 'e' && *s->p != 'E' && delimiter_follows(s));
}

static bool scan_literal(struct scanner *s, const char *word)
{
        size_t n = strlen(word);

        if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
                return false;
        s->p += n;
        return delimiter_follows(s);
}

static bool scan_value(struct scanner *s, int parent, enum jscan_type *ret_type);

static inline bool same_key(const struct jscan_member *m, const char *key, size_t len)
{
        return m->key_len == len && (len == 0 || (m->key[0] == key[0] && memcmp(m->key, key, len) == 0));
}

/* Whether the object at parent already has a member named key. Keys hold
 * no escapes here, so equal bytes are equal keys. */
static bool duplicate(const struct jscan *js, int parent, const char *key, size_t len)
{
        for (size_t i = 0; i < js->n; i++)
                if (js->m[i].parent == parent && same_key(&js->m[i], key, len))
                        return true;
        return false;
}

/* An object, after its '{'; its members are recorded with parent. */
static bool scan_object(struct scanner *s, int parent)
{
        skip_ws(s);
        if (s->p < s->end && *s->p == '}') {
                s->p++;
                return true;
        }
        for (;;) {
                struct jscan_member *m;
                const char *key;
                size_t key_len, i;
                bool escaped;

                if (s->p == s->end || *s->p != '"')
                        return false;
                s->p++;
                if (!scan_string(s, &key, &key_len, &escaped) || escaped || s->js->n == JSCAN_MEMBERS_MAX ||
                    duplicate(s->js, parent, key, key_len))
                        return false;
                skip_ws(s);
                if (s->p == s->end || *s->p != ':')
                        return false;
                s->p++;
                skip_ws(s);
                i = s->js->n++;
                m = &s->js->m[i];
                *m = (struct jscan_member){.key = key, .key_len = key_len, .parent = parent};
                m->val = (const char *)s->p;
                if (!scan_value(s, (int)i, &m->type))
                        return false;
                m = &s->js->m[i];
                if (m->type == JSCAN_STRING || m->type == JSCAN_STRING_ESCAPED)
                        m->val++, m->val_len = (size_t)((const char *)s->p - m->val) - 1;
                else
                        m->val_len = (size_t)((const char *)s->p - m->val);
                skip_ws(s);
                if (s->p == s->end)
                        return false;
                if (*s->p == '}') {
                        s->p++;
                        return true;
                }
                if (*s->p++ != ',')
                        return false;
                skip_ws(s);
        }
}

/* An array, after its '['. Objects inside it are read, not recorded
 * (nothing looks them up), but their keys are still checked for
 * duplicates: they are recorded under a parent of their own, then
 * dropped. */
static bool scan_array(struct scanner *s)
{
        skip_ws(s);
        if (s->p < s->end && *s->p == ']') {
                s->p++;
                return true;
        }
        for (;;) {
                enum jscan_type t;
                size_t mark = s->js->n;

                if (!scan_value(s, JSCAN_MEMBERS_MAX + (int)mark, &t))
                        return false;
                s->js->n = mark;
                skip_ws(s);
                if (s->p == s->end)
                        return false;
                if (*s->p == ']') {
                        s->p++;
                        return true;
                }
                if (*s->p++ != ',')
                        return false;
                skip_ws(s);
        }
}

/* A value at s->p; parent is the member it is the value of (for an
 * object's members). */
static bool scan_value(struct scanner *s, int parent, enum jscan_type *ret_type)
{
        const char *str;
        size_t len;
        bool escaped, ok;

        if (s->p == s->end)
                return false;
        switch (*s->p) {
        case '"':
                s->p++;
                if (!scan_string(s, &str, &len, &escaped))
                        return false;
                *ret_type = escaped ? JSCAN_STRING_ESCAPED : JSCAN_STRING;
                return true;
        case '{':
        case '[':
                if (s->depth == JSCAN_DEPTH_MAX)
                        return false;
                s->depth++;
                *ret_type = *s->p == '{' ? JSCAN_OBJECT : JSCAN_ARRAY;
                s->p++;
                ok = *ret_type == JSCAN_OBJECT ? scan_object(s, parent) : scan_array(s);
                s->depth--;
                return ok;
        case 't':
                *ret_type = JSCAN_TRUE;
                return scan_literal(s, "true");
        case 'f':
                *ret_type = JSCAN_FALSE;
                return scan_literal(s, "false");
        case 'n':
                *ret_type = JSCAN_NULL;
                return scan_literal(s, "null");
        default:
                *ret_type = JSCAN_INTEGER;
                return (*s->p == '-' || (*s->p >= '0' && *s->p <= '9')) && scan_integer(s);
        }
}

bool jscan_object(const char *text, size_t len, struct jscan *ret)
{
        struct scanner s = {(const unsigned char *)text, (const unsigned char *)text + len, ret, 1};

        ret->n = 0;
        skip_ws(&s);
        if (s.p == s.end || *s.p != '{')
                return false;
        s.p++;
        if (!scan_object(&s, -1))
                return false;
        skip_ws(&s);
        return s.p == s.end;
}

const struct jscan_member *jscan_get(const struct jscan *js, int parent, const char *name)
{
        size_t len = strlen(name);

        for (size_t i = 0; i < js->n; i++)
                if (js->m[i].parent == parent && same_key(&js->m[i], name, len))
                        return &js->m[i];
        return NULL;
}

int64_t jscan_integer(const struct jscan_member *m)
{
        const char *p = m->val, *end = m->val + m->val_len;
        bool negative = p < end && *p == '-';
        int64_t v = 0;

        for (p += negative; p < end; p++)
                v = v * 10 + (*p - '0');
        return negative ? -v : v;
}

bool jscan_string_is(const struct jscan_member *m, const char *s)
{
        return m && m->type == JSCAN_STRING && m->val_len == strlen(s) && memcmp(m->val, s, m->val_len) == 0;
}

int jscan_quote(const char *s, size_t len, char *out, size_t *ret_len)
{
        const unsigned char *p = (const unsigned char *)s, *end = p + len;
        char *o = out;

        while (p < end) {
                size_t n;

                /* Byte by byte: in an audit line a quote comes every few
                 * bytes, too often for memcpy's call to pay. */
                if (plain_byte[*p]) {
                        *o++ = (char)*p++;
                        continue;
                }
                switch (*p) {
                case '"':
                case '\\':
                        *o++ = '\\';
                        *o++ = (char)*p++;
                        continue;
                case '\b':
                        memcpy(o, "\\b", 2), o += 2, p++;
                        continue;
                case '\f':
                        memcpy(o, "\\f", 2), o += 2, p++;
                        continue;
                case '\n':
                        memcpy(o, "\\n", 2), o += 2, p++;
                        continue;
                case '\r':
                        memcpy(o, "\\r", 2), o += 2, p++;
                        continue;
                case '\t':
                        memcpy(o, "\\t", 2), o += 2, p++;
                        continue;
                }
                if (*p < 0x20) {
                        static const char hex[] = "0123456789ABCDEF";

                        memcpy(o, "\\u00", 4);
                        o[4] = hex[*p >> 4];
                        o[5] = hex[*p & 0xF];
                        o += 6, p++;
                        continue;
                }
                n = utf8_sequence(p, end);
                if (!n)
                        return -EILSEQ;
                memcpy(o, p, n);
                o += n;
                p += n;
        }
        *ret_len = (size_t)(o - out);
        return 0;
}
