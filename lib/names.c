#include "names.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <unictype.h>
#include <uninorm.h>
#include <unistr.h>

#include "util.h"

/* Never in a name: controls, format characters (bidi embeddings and
 * isolates, zero-width joiners, the byte order mark), surrogates, private
 * use, unassigned code points, and every separator (spaces included: a
 * name is one word on a command line and in a policy file). */
#define FORBIDDEN_MASK (UC_CATEGORY_MASK_C | UC_CATEGORY_MASK_Z)
#define LETTER_DIGIT   (UC_CATEGORY_MASK_L | UC_CATEGORY_MASK_Nd)
#define UPPER          (UC_CATEGORY_MASK_Lu | UC_CATEGORY_MASK_Lt)

static bool ascii(const char *s, size_t len)
{
        for (size_t i = 0; i < len; i++)
                if ((unsigned char)s[i] >= 0x80)
                        return false;
        return true;
}

int name_normalise(const char *s, char *out, size_t cap)
{
        size_t len = strlen(s), n = cap ? cap - 1 : 0;
        uint8_t *r;

        if (cap == 0)
                return -ENAMETOOLONG;
        if (ascii(s, len)) {
                if (len >= cap)
                        return -ENAMETOOLONG;
                memcpy(out, s, len + 1);
                return (int)len;
        }
        if (u8_check((const uint8_t *)s, len))
                return -EILSEQ;
        r = u8_normalize(UNINORM_NFC, (const uint8_t *)s, len, (uint8_t *)out, &n);
        if (!r)
                return errno == ENOMEM ? -ENOMEM : -EILSEQ;
        if (r != (uint8_t *)out) {
                /* It did not fit in out: libunistring allocated it. */
                free(r);
                return -ENAMETOOLONG;
        }
        if (n >= cap)
                return -ENAMETOOLONG;
        out[n] = '\0';
        return (int)n;
}

static bool category(ucs4_t c, uint32_t mask)
{
        return uc_is_general_category_withtable(c, mask);
}

/* One character at byte offset off: 0, or -EBADMSG with why. */
static int char_check(enum name_kind kind, ucs4_t c, size_t off, char *why, size_t whylen)
{
        bool first = off == 0;

        if (c == ' ')
                return why_bad(why, whylen, "it has a space (byte %zu); names have none", off);
        if (category(c, FORBIDDEN_MASK))
                return why_bad(why, whylen,
                               "character U+%04X (byte %zu) is a control, format, separator, private-use "
                               "or unassigned character",
                               (unsigned)c, off);
        if (kind == NAME_COLLECTION && category(c, UPPER))
                return why_bad(why, whylen,
                               "upper-case letter U+%04X (byte %zu): collection names are lower case",
                               (unsigned)c, off);
        if (category(c, LETTER_DIGIT))
                return 0;
        if (first)
                return why_bad(why, whylen, "it must start with a letter or a digit");
        if (category(c, UC_CATEGORY_MASK_M))
                return 0;
        if (kind == NAME_COLLECTION
                    ? (c == '.' || c == '_' || c == '-' || c == '/')
                    : category(c, UC_CATEGORY_MASK_N | UC_CATEGORY_MASK_P | UC_CATEGORY_MASK_S))
                return 0;
        return why_bad(why, whylen, "character U+%04X (byte %zu) is not allowed%s", (unsigned)c, off,
                       kind == NAME_COLLECTION ? " (letters, digits and . _ - / are)" : "");
}

bool name_check(enum name_kind kind, const char *s, char *why, size_t whylen)
{
        size_t len = strlen(s), max = kind == NAME_COLLECTION ? NAME_COLLECTION_MAX : NAME_ID_MAX;
        const uint8_t *p = (const uint8_t *)s;
        size_t nfc_len;
        uint8_t *nfc;
        bool same;

        if (len == 0)
                return why_bad(why, whylen, "it is empty") == 0;
        if (len > max)
                return why_bad(why, whylen, "it is %zu bytes long; at most %zu bytes of UTF-8 are allowed",
                               len, max) == 0;
        if (u8_check(p, len))
                return why_bad(why, whylen, "it is not UTF-8") == 0;
        for (size_t off = 0; off < len;) {
                ucs4_t c;
                int n = u8_mbtouc(&c, p + off, len - off);

                if (char_check(kind, c, off, why, whylen) < 0)
                        return false;
                off += (size_t)n;
        }
        if (ascii(s, len))
                return true;
        nfc = u8_normalize(UNINORM_NFC, p, len, NULL, &nfc_len);
        if (!nfc)
                return why_bad(why, whylen, "it cannot be normalised (out of memory)") == 0;
        same = nfc_len == len && memcmp(nfc, p, len) == 0;
        free(nfc);
        if (!same)
                return why_bad(why, whylen, "it is not in Unicode NFC (composed) form") == 0;
        return true;
}

bool name_valid(enum name_kind kind, const char *s)
{
        return name_check(kind, s, NULL, 0);
}

bool name_collection_valid(const char *s)
{
        return name_check(NAME_COLLECTION, s, NULL, 0);
}

bool name_id_valid(const char *s)
{
        return name_check(NAME_ID, s, NULL, 0);
}

bool text_has_controls(const char *s, size_t len)
{
        const uint8_t *p = (const uint8_t *)s;

        if (u8_check(p, len))
                return true;
        for (size_t off = 0; off < len;) {
                ucs4_t c;
                int n = u8_mbtouc(&c, p + off, len - off);

                if (c != ' ' && category(c, UC_CATEGORY_MASK_Cc | UC_CATEGORY_MASK_Cf | UC_CATEGORY_MASK_Zl |
                                                    UC_CATEGORY_MASK_Zp | UC_CATEGORY_MASK_Cs))
                        return true;
                off += (size_t)n;
        }
        return false;
}
