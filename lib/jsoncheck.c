#include "jsoncheck.h"

#include <errno.h>
#include <stdbool.h>

struct scan {
        const uint8_t *p;
        size_t len, pos;
        const char *why;
        unsigned depth;
};

static bool fail(struct scan *s, const char *why)
{
        if (!s->why)
                s->why = why;
        return false;
}

static int peek(const struct scan *s)
{
        return s->pos < s->len ? s->p[s->pos] : -1;
}

static void skip_ws(struct scan *s)
{
        while (s->pos < s->len &&
               (s->p[s->pos] == ' ' || s->p[s->pos] == '\t' || s->p[s->pos] == '\n' || s->p[s->pos] == '\r'))
                s->pos++;
}

static bool expect(struct scan *s, char c, const char *why)
{
        if (peek(s) != c)
                return fail(s, why);
        s->pos++;
        return true;
}

/* One UTF-8 sequence of two to four bytes (well-formed: no overlong form,
 * no surrogate, nothing above U+10FFFF). */
static bool utf8_seq(struct scan *s)
{
        const uint8_t *p = s->p + s->pos;
        size_t left = s->len - s->pos, n;
        uint32_t cp, min;

        if (p[0] >= 0xc2 && p[0] <= 0xdf)
                n = 2, cp = p[0] & 0x1f, min = 0x80;
        else if (p[0] >= 0xe0 && p[0] <= 0xef)
                n = 3, cp = p[0] & 0x0f, min = 0x800;
        else if (p[0] >= 0xf0 && p[0] <= 0xf4)
                n = 4, cp = p[0] & 0x07, min = 0x10000;
        else
                return fail(s, "a byte that is not UTF-8");
        if (left < n)
                return fail(s, "UTF-8 cut short");
        for (size_t i = 1; i < n; i++) {
                if ((p[i] & 0xc0) != 0x80)
                        return fail(s, "a byte that is not UTF-8");
                cp = cp << 6 | (p[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                return fail(s, "a byte that is not UTF-8");
        s->pos += n;
        return true;
}

static int hex4(struct scan *s)
{
        int v = 0;

        if (s->len - s->pos < 4)
                return -1;
        for (int i = 0; i < 4; i++) {
                int c = s->p[s->pos + i], d = c >= '0' && c <= '9'   ? c - '0'
                                              : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                              : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                                     : -1;
                if (d < 0)
                        return -1;
                v = v << 4 | d;
        }
        s->pos += 4;
        return v;
}

static bool escape(struct scan *s)
{
        int c = peek(s), u;

        s->pos++;
        if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' || c == 'r' || c == 't')
                return true;
        if (c != 'u') {
                s->pos--;
                return fail(s, "an unknown escape after '\\'");
        }
        if ((u = hex4(s)) < 0)
                return fail(s, "four hex digits after '\\u'");
        if (u >= 0xdc00 && u <= 0xdfff)
                return fail(s, "a lone low surrogate in '\\u'");
        if (u >= 0xd800 && u <= 0xdbff) {
                if (s->len - s->pos < 2 || s->p[s->pos] != '\\' || s->p[s->pos + 1] != 'u')
                        return fail(s, "a high surrogate '\\u' without its low half");
                s->pos += 2;
                u = hex4(s);
                if (u < 0xdc00 || u > 0xdfff)
                        return fail(s, "a high surrogate '\\u' without its low half");
        }
        return true;
}

static bool string(struct scan *s)
{
        if (!expect(s, '"', "expected a string"))
                return false;
        for (;;) {
                int c = peek(s);

                if (c < 0)
                        return fail(s, "a string without its closing '\"'");
                if (c == '"') {
                        s->pos++;
                        return true;
                }
                if (c < 0x20)
                        return fail(s, "a control character in a string (write it as an escape)");
                if (c == '\\') {
                        s->pos++;
                        if (!escape(s))
                                return false;
                } else if (c >= 0x80) {
                        if (!utf8_seq(s))
                                return false;
                } else
                        s->pos++;
        }
}

static bool digits(struct scan *s)
{
        size_t start = s->pos;

        while (peek(s) >= '0' && peek(s) <= '9')
                s->pos++;
        return s->pos > start || fail(s, "expected a digit");
}

static bool number(struct scan *s)
{
        if (peek(s) == '-')
                s->pos++;
        if (peek(s) == '0')
                s->pos++;
        else if (!digits(s))
                return false;
        if (peek(s) == '.') {
                s->pos++;
                if (!digits(s))
                        return false;
        }
        if (peek(s) == 'e' || peek(s) == 'E') {
                s->pos++;
                if (peek(s) == '+' || peek(s) == '-')
                        s->pos++;
                if (!digits(s))
                        return false;
        }
        return true;
}

static bool literal(struct scan *s, const char *word)
{
        size_t start = s->pos;

        for (size_t i = 0; word[i]; i++, s->pos++)
                if (peek(s) != word[i]) {
                        s->pos = start; /* the error is the word, not its last letter */
                        return fail(s, "expected a value (a string, number, object, array, true, false or "
                                       "null)");
                }
        return true;
}

static bool value(struct scan *s);

/* The members of an object or the items of an array, after its opening
 * bracket, up to and with its closing one. */
static bool members(struct scan *s, bool object)
{
        char close = object ? '}' : ']';

        if (++s->depth > JSONCHECK_DEPTH_MAX) {
                s->pos--; /* at the bracket that opens one level too many */
                return fail(s, "objects and arrays nested too deep");
        }
        skip_ws(s);
        if (peek(s) == close) {
                s->pos++;
                s->depth--;
                return true;
        }
        for (;;) {
                if (object) {
                        if (peek(s) != '"')
                                return fail(s, "expected a member name in double quotes");
                        if (!string(s))
                                return false;
                        skip_ws(s);
                        if (!expect(s, ':', "expected ':' after a member name"))
                                return false;
                }
                if (!value(s))
                        return false;
                skip_ws(s);
                if (peek(s) == close) {
                        s->pos++;
                        s->depth--;
                        return true;
                }
                if (!expect(s, ',', object ? "expected ',' or '}'" : "expected ',' or ']'"))
                        return false;
                skip_ws(s);
        }
}

static bool value(struct scan *s)
{
        int c;

        skip_ws(s);
        c = peek(s);
        if (c == '{' || c == '[') {
                s->pos++;
                return members(s, c == '{');
        }
        if (c == '"')
                return string(s);
        if (c == '-' || (c >= '0' && c <= '9'))
                return number(s);
        if (c == 't')
                return literal(s, "true");
        if (c == 'f')
                return literal(s, "false");
        if (c == 'n')
                return literal(s, "null");
        return fail(s, c < 0 ? "the body ends where a value was expected"
                             : "expected a value (a string, number, object, array, true, false or null)");
}

static void locate(const uint8_t *p, size_t len, size_t offset, struct jsoncheck_error *e)
{
        e->offset = offset;
        e->line = 1;
        e->column = 1;
        for (size_t i = 0; i < offset && i < len; i++) {
                if (p[i] == '\n') {
                        e->line++;
                        e->column = 1;
                } else if ((p[i] & 0xc0) != 0x80)
                        e->column++;
        }
}

int jsoncheck_object(const uint8_t *body, size_t len, struct jsoncheck_error *ret_error)
{
        struct scan s = {body, len, 0, NULL, 0};

        skip_ws(&s);
        if (peek(&s) != '{')
                fail(&s, peek(&s) < 0 ? "the body is empty: a JSON object is expected"
                                      : "a JSON object ('{') is expected");
        else if (value(&s)) {
                skip_ws(&s);
                if (s.pos == len)
                        return 0;
                fail(&s, "more after the object");
        }
        locate(body, len, s.pos, ret_error);
        ret_error->reason = s.why;
        return -EBADMSG;
}
