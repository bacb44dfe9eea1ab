#include "jsonfield.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

struct walk {
        const uint8_t *p;
        size_t len, pos;
};

static void skip_ws(struct walk *w)
{
        while (w->pos < w->len &&
               (w->p[w->pos] == ' ' || w->p[w->pos] == '\t' || w->p[w->pos] == '\n' || w->p[w->pos] == '\r'))
                w->pos++;
}

static int hex4(const uint8_t *p, uint32_t *ret)
{
        uint32_t v = 0;

        for (int i = 0; i < 4; i++) {
                int c = p[i], d = c >= '0' && c <= '9'   ? c - '0'
                                  : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                  : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                         : -1;
                if (d < 0)
                        return -EBADMSG;
                v = v << 4 | (uint32_t)d;
        }
        *ret = v;
        return 0;
}

/* Appends code point cp as UTF-8 to out (cap bytes, one kept for the
 * NUL). */
static int put_cp(uint32_t cp, char *out, size_t cap, size_t *n)
{
        uint8_t b[4];
        size_t k;

        if (cp < 0x80)
                b[0] = (uint8_t)cp, k = 1;
        else if (cp < 0x800)
                b[0] = (uint8_t)(0xc0 | cp >> 6), b[1] = (uint8_t)(0x80 | (cp & 0x3f)), k = 2;
        else if (cp < 0x10000)
                b[0] = (uint8_t)(0xe0 | cp >> 12), b[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f)),
                b[2] = (uint8_t)(0x80 | (cp & 0x3f)), k = 3;
        else
                b[0] = (uint8_t)(0xf0 | cp >> 18), b[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f)),
                b[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f)), b[3] = (uint8_t)(0x80 | (cp & 0x3f)), k = 4;
        if (out) {
                if (*n + k >= cap)
                        return -E2BIG;
                memcpy(out + *n, b, k);
        }
        *n += k;
        return 0;
}

/* A \u escape at w->pos (after the backslash and 'u'), with its low
 * surrogate when it is a high one. */
static int unicode_escape(struct walk *w, uint32_t *ret)
{
        uint32_t hi, lo;

        if (w->pos + 4 > w->len || hex4(w->p + w->pos, &hi) < 0)
                return -EBADMSG;
        w->pos += 4;
        if (hi >= 0xd800 && hi < 0xdc00 && w->pos + 6 <= w->len && w->p[w->pos] == '\\' &&
            w->p[w->pos + 1] == 'u' && hex4(w->p + w->pos + 2, &lo) == 0 && lo >= 0xdc00 && lo < 0xe000) {
                w->pos += 6;
                hi = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
        } else if (hi >= 0xd800 && hi < 0xe000)
                hi = 0xfffd; /* a lone surrogate: the replacement character */
        *ret = hi;
        return 0;
}

/* A string at w->pos (its opening quote): decoded into out (NULL: only
 * skipped). Returns its decoded length; -E2BIG when it does not fit. */
static int string(struct walk *w, char *out, size_t cap)
{
        static const char esc_in[] = "\"\\/bfnrt", esc_out[] = "\"\\/\b\f\n\r\t";
        size_t n = 0;
        bool too_long = false;

        if (w->pos >= w->len || w->p[w->pos] != '"')
                return -EBADMSG;
        for (w->pos++; w->pos < w->len && w->p[w->pos] != '"';) {
                uint32_t cp = w->p[w->pos++];
                const char *e;

                if (cp == '\\') {
                        if (w->pos >= w->len)
                                return -EBADMSG;
                        cp = w->p[w->pos++];
                        if (cp == 'u') {
                                if (unicode_escape(w, &cp) < 0)
                                        return -EBADMSG;
                                if (put_cp(cp, too_long ? NULL : out, cap, &n) < 0)
                                        too_long = true;
                                continue;
                        }
                        if (!(e = strchr(esc_in, (int)cp)) || cp == 0)
                                return -EBADMSG;
                        cp = (uint8_t)esc_out[e - esc_in];
                }
                /* Raw bytes (UTF-8, checked before) are copied as they are. */
                if (out && !too_long) {
                        if (n + 1 >= cap)
                                too_long = true;
                        else
                                out[n] = (char)cp;
                }
                n++;
        }
        if (w->pos >= w->len)
                return -EBADMSG;
        w->pos++;
        if (out && !too_long)
                out[n] = '\0';
        return too_long ? -E2BIG : (int)n;
}

/* Skips any value at w->pos: nested objects and arrays by their depth,
 * strings by their quotes, scalars up to the next delimiter. */
static int skip_value(struct walk *w)
{
        size_t depth = 0;

        do {
                skip_ws(w);
                if (w->pos >= w->len)
                        return -EBADMSG;
                switch (w->p[w->pos]) {
                case '"':
                        if (string(w, NULL, 0) < 0)
                                return -EBADMSG;
                        break;
                case '{':
                case '[':
                        depth++;
                        w->pos++;
                        break;
                case '}':
                case ']':
                        if (depth == 0)
                                return -EBADMSG;
                        depth--;
                        w->pos++;
                        break;
                case ',':
                case ':':
                        if (depth == 0)
                                return -EBADMSG;
                        w->pos++;
                        break;
                default:
                        while (w->pos < w->len && !strchr(",:]} \t\r\n", w->p[w->pos]))
                                w->pos++;
                }
        } while (depth > 0);
        return 0;
}

/* The value at w->pos when it is a string or a number, into out. */
static int scalar(struct walk *w, char *out, size_t cap)
{
        size_t start = w->pos, n;
        int c = w->p[w->pos];

        if (c == '"')
                return string(w, out, cap);
        if (c != '-' && (c < '0' || c > '9'))
                return -ENOENT;
        while (w->pos < w->len && !strchr(",]} \t\r\n", w->p[w->pos]))
                w->pos++;
        n = w->pos - start;
        if (n >= cap)
                return -E2BIG;
        memcpy(out, w->p + start, n);
        out[n] = '\0';
        return (int)n;
}

int jsonfield_scalar(const uint8_t *body, size_t len, const char *name, char *out, size_t cap)
{
        struct walk w = {body, len, 0};
        size_t nlen = strlen(name);
        char key[256];
        int k;

        skip_ws(&w);
        if (w.pos >= w.len || w.p[w.pos++] != '{')
                return -EBADMSG;
        for (;;) {
                skip_ws(&w);
                if (w.pos < w.len && w.p[w.pos] == '}')
                        return -ENOENT;
                k = string(&w, key, sizeof(key));
                if (k == -EBADMSG)
                        return k;
                skip_ws(&w);
                if (w.pos >= w.len || w.p[w.pos++] != ':')
                        return -EBADMSG;
                skip_ws(&w);
                if (w.pos >= w.len)
                        return -EBADMSG;
                if (k >= 0 && (size_t)k == nlen && memcmp(key, name, nlen) == 0)
                        return scalar(&w, out, cap);
                if (skip_value(&w) < 0)
                        return -EBADMSG;
                skip_ws(&w);
                if (w.pos >= w.len)
                        return -EBADMSG;
                if (w.p[w.pos] == '}')
                        return -ENOENT;
                if (w.p[w.pos++] != ',')
                        return -EBADMSG;
        }
}
