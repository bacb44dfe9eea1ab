/* Text from outside vaultctl (vaultd's replies, a file being verified, a
 * policy file) made safe to show on a terminal. A hostile string must not
 * move the cursor, erase a line, recolour or retitle the window, or reorder
 * what is around it: every character a terminal or a bidi-aware renderer
 * acts on is shown as a visible escape instead. Printable UTF-8, such as
 * Vietnamese names, is kept as it is. The escapes are for reading, not for
 * decoding: a backslash in the text is left alone. */
#include <string.h>

#include <uniwidth.h>

#include "util.h"
#include "vaultctl.h"

/* Each input byte becomes at most this many output bytes ("\xNN"). */
#define ESCAPE_GROWTH 4

/* Code points shown escaped: C0 controls, DEL and C1 controls, and the
 * invisible ones that reorder or break a line (Arabic letter mark, LRM/RLM,
 * line and paragraph separators, bidi embeddings, overrides and isolates). */
static const struct {
        uint32_t first, last;
} hidden[] = {
        {0x00, 0x1f}, {0x7f, 0x9f}, {0x061c, 0x061c}, {0x200e, 0x200f}, {0x2028, 0x202e}, {0x2066, 0x2069},
};

static bool is_hidden(uint32_t cp)
{
        for (size_t i = 0; i < ELEMENTSOF(hidden); i++)
                if (cp >= hidden[i].first && cp <= hidden[i].last)
                        return true;
        return false;
}

/* The length (2-4) of the well-formed UTF-8 sequence of more than one byte
 * at s, with its code point; 0 when the bytes are not one (a stray
 * continuation byte, an overlong form, a surrogate, above U+10FFFF, or cut
 * short). */
static size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *ret_cp)
{
        uint32_t cp, min;
        size_t n;

        if (s[0] >= 0xc2 && s[0] <= 0xdf)
                n = 2, cp = s[0] & 0x1f, min = 0x80;
        else if (s[0] >= 0xe0 && s[0] <= 0xef)
                n = 3, cp = s[0] & 0x0f, min = 0x800;
        else if (s[0] >= 0xf0 && s[0] <= 0xf4)
                n = 4, cp = s[0] & 0x07, min = 0x10000;
        else
                return 0;
        if (len < n)
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = cp << 6 | (s[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        *ret_cp = cp;
        return n;
}

/* Writes the escape for one ASCII control (or a byte that is not UTF-8)
 * at out; returns its length. */
static size_t escape_byte(unsigned char c, char *out)
{
        static const char named[][3] = {['\t'] = "\\t", ['\n'] = "\\n", ['\r'] = "\\r"};

        if (c < ELEMENTSOF(named) && named[c][0]) {
                memcpy(out, named[c], 2);
                return 2;
        }
        return (size_t)sprintf(out, "\\x%02x", c);
}

char *escape_bytes(const char *s, size_t len)
{
        const unsigned char *p = (const unsigned char *)s;
        size_t i = 0, o = 0;
        char *out;

        if (len > (SIZE_MAX - 1) / ESCAPE_GROWTH || !(out = malloc(len * ESCAPE_GROWTH + 1)))
                die("out of memory");
        while (i < len) {
                uint32_t cp = p[i];
                size_t n = p[i] < 0x80 ? 1 : utf8_decode(p + i, len - i, &cp);

                if (n == 0) /* not UTF-8: the byte itself, escaped */
                        o += escape_byte(p[i++], out + o);
                else if (!is_hidden(cp)) {
                        memcpy(out + o, p + i, n);
                        o += n, i += n;
                } else if (cp < 0x80)
                        o += escape_byte(p[i++], out + o);
                else { /* "\u009b" is 6 bytes for at least 2 */
                        o += (size_t)sprintf(out + o, "\\u%04x", (unsigned)cp);
                        i += n;
                }
        }
        out[o] = '\0';
        return out;
}

char *escape_string(const char *s)
{
        return escape_bytes(s ? s : "", s ? strlen(s) : 0);
}

char *escape_json_string(json_t *v)
{
        return json_is_string(v) ? escape_bytes(json_string_value(v), json_string_length(v))
                                 : escape_string(NULL);
}

int text_width(const char *s)
{
        int w = u8_strwidth((const uint8_t *)s, "UTF-8");

        return w < 0 ? (int)strlen(s) : w;
}

void print_padded(const char *s, int width)
{
        int w = text_width(s);

        fputs(s, stdout);
        for (; w < width; w++)
                putchar(' ');
}
