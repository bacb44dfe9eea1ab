/* Signed notes and checkpoints (lib/note.h). */
#include "note.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "util.h"

#define EM_DASH "\xe2\x80\x94"

/* Decodes one UTF-8 sequence at p (n bytes left) as Go's utf8.DecodeRune
 * does: -1 for an invalid one (overlong, surrogate, beyond U+10FFFF,
 * truncated). *ret_size is its length. */
static int32_t utf8_rune(const unsigned char *p, size_t n, size_t *ret_size)
{
        int32_t r;
        size_t len;

        if (p[0] < 0x80) {
                *ret_size = 1;
                return p[0];
        }
        if (p[0] >= 0xc2 && p[0] <= 0xdf)
                len = 2, r = p[0] & 0x1f;
        else if (p[0] >= 0xe0 && p[0] <= 0xef)
                len = 3, r = p[0] & 0x0f;
        else if (p[0] >= 0xf0 && p[0] <= 0xf4)
                len = 4, r = p[0] & 0x07;
        else
                return -1;
        if (n < len)
                return -1;
        for (size_t i = 1; i < len; i++) {
                if ((p[i] & 0xc0) != 0x80)
                        return -1;
                r = r << 6 | (p[i] & 0x3f);
        }
        if ((len == 3 && (r < 0x800 || (r >= 0xd800 && r <= 0xdfff))) ||
            (len == 4 && (r < 0x10000 || r > 0x10ffff)))
                return -1;
        *ret_size = len;
        return r;
}

/* Unicode White_Space, as Go's unicode.IsSpace. */
static bool rune_is_space(int32_t r)
{
        return (r >= 0x09 && r <= 0x0d) || r == 0x20 || r == 0x85 || r == 0xa0 || r == 0x1680 ||
               (r >= 0x2000 && r <= 0x200a) || r == 0x2028 || r == 0x2029 || r == 0x202f || r == 0x205f ||
               r == 0x3000;
}

bool note_name_valid(const char *name, size_t len)
{
        size_t size;

        if (len == 0)
                return false;
        for (size_t i = 0; i < len; i += size) {
                int32_t r = utf8_rune((const unsigned char *)name + i, len - i, &size);

                if (r <= 0 || rune_is_space(r) || r == '+')
                        return false;
        }
        return true;
}

/* Standard base64 with padding, as Go's base64.StdEncoding decodes it
 * (unused bits of the last character are ignored). -EINVAL when not. */
static int b64_decode(const char *s, size_t len, uint8_t *out, size_t cap, size_t *ret_len)
{
        static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        size_t n = 0, pad = 0;

        if (len % 4)
                return -EINVAL;
        while (pad < 2 && pad < len && s[len - 1 - pad] == '=')
                pad++;
        for (size_t i = 0; i < len; i += 4) {
                uint32_t acc = 0;
                size_t chars = i + 4 == len ? 4 - pad : 4;

                for (size_t j = 0; j < 4; j++) {
                        const char *c = j < chars ? memchr(alphabet, s[i + j], 64) : NULL;

                        if (j < chars && !c)
                                return -EINVAL;
                        acc = acc << 6 | (c ? (uint32_t)(c - alphabet) : 0);
                }
                for (size_t j = 0; j < chars - 1; j++) {
                        if (n == cap)
                                return -EINVAL;
                        out[n++] = (uint8_t)(acc >> (16 - 8 * j));
                }
        }
        *ret_len = n;
        return 0;
}

void note_key_id(const char *name, const uint8_t pk[32], uint8_t ret_id[4])
{
        note_key_id_type(name, NOTE_KEY_ED25519, pk, ret_id);
}

void note_key_id_type(const char *name, uint8_t type, const uint8_t pk[32], uint8_t ret_id[4])
{
        crypto_hash_sha256_state st;
        uint8_t h[32];
        const uint8_t sep[2] = {0x0a, type};

        crypto_hash_sha256_init(&st);
        crypto_hash_sha256_update(&st, (const unsigned char *)name, strlen(name));
        crypto_hash_sha256_update(&st, sep, 2);
        crypto_hash_sha256_update(&st, pk, 32);
        crypto_hash_sha256_final(&st, h);
        memcpy(ret_id, h, 4);
}

int note_verifier_key(const char *name, const uint8_t pk[32], char **ret)
{
        uint8_t id[4], blob[33];
        char idhex[9], b64[sodium_base64_ENCODED_LEN(33, sodium_base64_VARIANT_ORIGINAL)];

        if (!note_name_valid(name, strlen(name)))
                return -EINVAL;
        note_key_id(name, pk, id);
        hex_encode(id, 4, idhex);
        blob[0] = 0x01;
        memcpy(blob + 1, pk, 32);
        sodium_bin2base64(b64, sizeof(b64), blob, 33, sodium_base64_VARIANT_ORIGINAL);
        if (asprintf(ret, "%s+%s+%s", name, idhex, b64) < 0)
                return -ENOMEM;
        return 0;
}

int note_verifier_parse(const char *vkey, char **ret_name, uint8_t ret_pk[32], uint8_t ret_id[4])
{
        return note_verifier_parse_type(vkey, NOTE_KEY_ED25519, ret_name, ret_pk, ret_id);
}

int note_verifier_parse_type(const char *vkey, uint8_t type, char **ret_name, uint8_t ret_pk[32],
                             uint8_t ret_id[4])
{
        const char *p1 = strchr(vkey, '+'), *p2;
        uint8_t id[4], want[4], blob[64];
        char idhex[9], *name;
        size_t blen;

        if (!p1 || !(p2 = strchr(p1 + 1, '+')) || p2 - p1 != 9)
                return -EINVAL;
        memcpy(idhex, p1 + 1, 8);
        idhex[8] = '\0';
        if (hex_decode(idhex, id, 4) < 0)
                return -EINVAL;
        if (b64_decode(p2 + 1, strlen(p2 + 1), blob, sizeof(blob), &blen) < 0 || blen != 33 ||
            blob[0] != type)
                return -EINVAL;
        if (!note_name_valid(vkey, (size_t)(p1 - vkey)))
                return -EINVAL;
        name = strndup(vkey, (size_t)(p1 - vkey));
        if (!name)
                return -ENOMEM;
        note_key_id_type(name, type, blob + 1, want);
        if (memcmp(want, id, 4) != 0) {
                free(name);
                return -EINVAL;
        }
        *ret_name = name;
        memcpy(ret_pk, blob + 1, 32);
        memcpy(ret_id, id, 4);
        return 0;
}

bool note_verifier_equal(const char *a, const char *b)
{
        _cleanup_(freep) char *na = NULL, *nb = NULL;
        uint8_t pa[32], pb[32], ia[4], ib[4];

        return note_verifier_parse(a, &na, pa, ia) == 0 && note_verifier_parse(b, &nb, pb, ib) == 0 &&
               strcmp(na, nb) == 0 && memcmp(pa, pb, 32) == 0;
}

void note_done(struct note *n)
{
        free(n->buf);
        *n = (struct note){0};
}

/* One signature line, without its newline, at line (len bytes): its name
 * and decoded signature go to the end of n->buf at *used. */
static int parse_sig_line(struct note *n, const char *line, size_t len, size_t *used)
{
        static const char prefix[] = EM_DASH " ";
        const size_t plen = sizeof(prefix) - 1;
        const char *sp;
        char *name = n->buf + *used;
        uint8_t *sig;
        size_t nlen, blen;

        if (len < plen || memcmp(line, prefix, plen) != 0)
                return -EBADMSG;
        line += plen;
        len -= plen;
        sp = memchr(line, ' ', len);
        if (!sp)
                return -EBADMSG;
        nlen = (size_t)(sp - line);
        if (!note_name_valid(line, nlen) || sp + 1 == line + len)
                return -EBADMSG;
        memcpy(name, line, nlen);
        name[nlen] = '\0';
        sig = (uint8_t *)name + nlen + 1;
        if (b64_decode(sp + 1, (size_t)(line + len - sp - 1), sig, len, &blen) < 0 || blen < 5)
                return -EBADMSG;
        n->sigs[n->nsigs] = (struct note_sig){name, {sig[0], sig[1], sig[2], sig[3]}, sig + 4, blen - 4};
        n->nsigs++;
        *used += nlen + 1 + blen;
        return 0;
}

int note_parse(const char *msg, size_t len, struct note *ret, char *why, size_t whylen)
{
        const char *split = NULL, *p, *end = msg + len;
        struct note n = {0};
        size_t size, used;

        for (size_t i = 0; i < len; i += size) {
                int32_t r = utf8_rune((const unsigned char *)msg + i, len - i, &size);

                if (r < 0 || (r < 0x20 && r != '\n'))
                        return why_bad(why, whylen, "the note is not UTF-8 text without control characters");
        }
        for (p = msg; p + 1 < end; p++)
                if (p[0] == '\n' && p[1] == '\n')
                        split = p;
        if (!split || split + 2 == end || end[-1] != '\n')
                return why_bad(why, whylen, "the note has no signature block after a blank line");
        /* Text, then each name and signature (never longer than its line). */
        n.buf = malloc(2 * len + 1);
        if (!n.buf)
                return -ENOMEM;
        n.text_len = (size_t)(split + 1 - msg);
        memcpy(n.buf, msg, n.text_len);
        n.buf[n.text_len] = '\0';
        used = n.text_len + 1;
        for (p = split + 2; p < end;) {
                const char *eol = memchr(p, '\n', (size_t)(end - p));

                if (n.nsigs == NOTE_MAX_SIGS || parse_sig_line(&n, p, (size_t)(eol - p), &used) < 0) {
                        note_done(&n);
                        return why_bad(why, whylen, "malformed signature line in the note");
                }
                p = eol + 1;
        }
        *ret = n;
        return 0;
}

int note_check(const struct note *n, const char *name, const uint8_t pk[32])
{
        uint8_t id[4];

        note_key_id(name, pk, id);
        for (size_t i = 0; i < n->nsigs; i++) {
                const struct note_sig *s = &n->sigs[i];

                if (strcmp(s->name, name) != 0 || memcmp(s->id, id, 4) != 0)
                        continue;
                return s->sig_len == 64 && crypto_sign_verify_detached(s->sig, (const uint8_t *)n->buf,
                                                                       n->text_len, pk) == 0
                               ? 0
                               : -EBADMSG;
        }
        return -ENOENT;
}

/* "YYYY-MM-DDTHH:MM:SSZ" of t (seconds since the epoch, from 1970 on). */
static void format_utc(int64_t t, char buf[48])
{
        int64_t z = t / 86400 + 719468, era = z / 146097, y;
        unsigned doe = (unsigned)(z - era * 146097), yoe, doy, mp, d, m, secs = (unsigned)(t % 86400);

        yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        y = (int64_t)yoe + era * 400;
        doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        mp = (5 * doy + 2) / 153;
        d = doy - (153 * mp + 2) / 5 + 1;
        m = mp < 10 ? mp + 3 : mp - 9;
        snprintf(buf, 48, "%04lld-%02u-%02uT%02u:%02u:%02uZ", (long long)(y + (m <= 2)), m, d, secs / 3600,
                 secs / 60 % 60, secs % 60);
}

int checkpoint_text(const struct checkpoint *c, char **ret)
{
        char b64[sodium_base64_ENCODED_LEN(NOTE_HASH_SIZE, sodium_base64_VARIANT_ORIGINAL)], when[48];

        if (c->time < 0 || c->time > 253402300799) /* 9999-12-31T23:59:59Z */
                return -EINVAL;
        sodium_bin2base64(b64, sizeof(b64), c->hash, NOTE_HASH_SIZE, sodium_base64_VARIANT_ORIGINAL);
        format_utc(c->time, when);
        if (asprintf(ret, "%s\n%" PRIu64 "\n%s\n%s%s%s%s%s%s", c->origin, c->size, b64,
                     c->time ? NOTE_TIME : "", c->time ? when : "", c->time ? "\n" : "",
                     c->next_key ? NOTE_NEXT_KEY : "", c->next_key ? c->next_key : "",
                     c->next_key ? "\n" : "") < 0)
                return -ENOMEM;
        return 0;
}

int checkpoint_note(const char *text, const char *name, const uint8_t (*ids)[4], const uint8_t (*sigs)[64],
                    size_t n, char **ret)
{
        char b64[sodium_base64_ENCODED_LEN(68, sodium_base64_VARIANT_ORIGINAL)];
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);

        if (!f)
                return -ENOMEM;
        fprintf(f, "%s\n", text);
        for (size_t i = 0; i < n; i++) {
                uint8_t blob[68];

                memcpy(blob, ids[i], 4);
                memcpy(blob + 4, sigs[i], 64);
                sodium_bin2base64(b64, sizeof(b64), blob, sizeof(blob), sodium_base64_VARIANT_ORIGINAL);
                fprintf(f, EM_DASH " %s %s\n", name, b64);
        }
        if (fclose(f) != 0) {
                free(buf);
                return -ENOMEM;
        }
        *ret = buf;
        return 0;
}

void checkpoint_done(struct checkpoint *c)
{
        free(c->origin);
        free(c->next_key);
        *c = (struct checkpoint){0};
}

/* Line i of text (0-based) into [*ret, *ret + *ret_len): -1 when none. */
static int text_line(const char *text, size_t len, size_t i, const char **ret, size_t *ret_len)
{
        const char *p = text, *end = text + len, *eol;

        for (;; i--) {
                if (p >= end || !(eol = memchr(p, '\n', (size_t)(end - p))))
                        return -1;
                if (i == 0)
                        break;
                p = eol + 1;
        }
        *ret = p;
        *ret_len = (size_t)(eol - p);
        return 0;
}

/* "YYYY-MM-DDTHH:MM:SSZ" exactly, as checkpoint_text writes it. */
static int parse_time(const char *s, size_t len, int64_t *ret)
{
        unsigned y, mo, d, h, mi, se;
        char back[48];
        int n = 0;

        if (len != 20 || sscanf(s, "%4u-%2u-%2uT%2u:%2u:%2uZ%n", &y, &mo, &d, &h, &mi, &se, &n) != 6 ||
            n != 20 || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 59)
                return -EINVAL;
        *ret = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
        /* Only the canonical spelling of a real date (not 2026-02-31). */
        format_utc(*ret, back);
        return *ret > 0 && memcmp(back, s, 20) == 0 ? 0 : -EINVAL;
}

/* The checkpoint fields of a note's text: origin, size, hash and the
 * optional vaultd-time and vaultd-next-key lines; other extension lines
 * are skipped. */
int checkpoint_parse(const struct note *n, struct checkpoint *c, char *why, size_t whylen)
{
        const char *l;
        size_t ll, hlen;
        char num[24], *end;

        if (text_line(n->buf, n->text_len, 0, &l, &ll) < 0 || ll == 0 || !(c->origin = strndup(l, ll)))
                return why_bad(why, whylen, "checkpoint text is malformed (origin)");
        if (text_line(n->buf, n->text_len, 1, &l, &ll) < 0 || ll == 0 || ll >= sizeof(num) ||
            (l[0] == '0' && ll > 1) || strspn(l, "0123456789") < ll)
                return why_bad(why, whylen, "checkpoint text is malformed (size)");
        memcpy(num, l, ll);
        num[ll] = '\0';
        errno = 0;
        c->size = strtoull(num, &end, 10);
        if (errno)
                return why_bad(why, whylen, "checkpoint text is malformed (size)");
        if (text_line(n->buf, n->text_len, 2, &l, &ll) < 0 ||
            b64_decode(l, ll, c->hash, sizeof(c->hash), &hlen) < 0 || hlen != NOTE_HASH_SIZE)
                return why_bad(why, whylen, "checkpoint text is malformed (hash)");
        for (size_t i = 3; text_line(n->buf, n->text_len, i, &l, &ll) == 0; i++) {
                const size_t plen = strlen(NOTE_NEXT_KEY), tlen = strlen(NOTE_TIME);

                if (ll == 0)
                        return why_bad(why, whylen, "checkpoint text has an empty extension line");
                if (ll >= tlen && memcmp(l, NOTE_TIME, tlen) == 0) {
                        if (c->time || parse_time(l + tlen, ll - tlen, &c->time) < 0)
                                return why_bad(why, whylen,
                                               "checkpoint text has a malformed or second time line");
                        continue;
                }
                if (ll < plen || memcmp(l, NOTE_NEXT_KEY, plen) != 0)
                        continue;
                if (c->next_key)
                        return why_bad(why, whylen, "checkpoint names two next signing keys");
                if (!(c->next_key = strndup(l + plen, ll - plen)))
                        return -ENOMEM;
        }
        return 0;
}

int checkpoint_verify(const char *note, const char *vkey, struct checkpoint *ret, char *why, size_t whylen)
{
        _cleanup_(freep) char *name = NULL, *next_name = NULL;
        struct checkpoint c = {0};
        struct note n;
        uint8_t pk[32], id[4];
        int k;

        *ret = (struct checkpoint){0};
        if (note_verifier_parse(vkey, &name, pk, id) < 0) {
                why_bad(why, whylen, "the verifier key is malformed");
                return -EINVAL;
        }
        k = note_parse(note, strlen(note), &n, why, whylen);
        if (k < 0)
                return k;
        k = note_check(&n, name, pk);
        if (k == -ENOENT)
                k = why_bad(why, whylen, "checkpoint is not signed by key %s+%02x%02x%02x%02x", name, id[0],
                            id[1], id[2], id[3]);
        else if (k < 0)
                k = why_bad(why, whylen, "checkpoint signature does not verify");
        if (k == 0)
                k = checkpoint_parse(&n, &c, why, whylen);
        if (k == 0 && c.next_key) {
                if (note_verifier_parse(c.next_key, &next_name, pk, id) < 0 || strcmp(next_name, name) != 0)
                        k = why_bad(why, whylen, "checkpoint names a malformed next signing key");
                else if (note_check(&n, next_name, pk) < 0)
                        k = why_bad(why, whylen, "checkpoint hands over to key %s, but is not signed by it",
                                    c.next_key);
        }
        note_done(&n);
        if (k < 0)
                checkpoint_done(&c);
        else
                *ret = c;
        return k;
}

int checkpoint_form(struct checkpoint_forms *f, const struct checkpoint *c, const uint8_t *root,
                    const uint8_t *line_hash, char *why, size_t whylen)
{
        if (root && sodium_memcmp(c->hash, root, NOTE_HASH_SIZE) == 0) {
                if (f->root++ == 0)
                        f->root_first = c->size;
                return 1;
        }
        if (!line_hash || sodium_memcmp(c->hash, line_hash, NOTE_HASH_SIZE) != 0)
                return why_bad(why, whylen,
                               root ? "checkpoint of size %" PRIu64 " does not match its lines: it names "
                                      "neither the root of their tree nor the hash of line %" PRIu64
                                    : "checkpoint of size %" PRIu64 " does not match line %" PRIu64
                                      " (and its root cannot be computed here)",
                               c->size, c->size - 1);
        if (f->root)
                return why_bad(why, whylen,
                               "checkpoint of size %" PRIu64 " names the hash of its last line, but the one "
                               "of size %" PRIu64
                               " already named the tree's root: signed roots never go back "
                               "to the old form",
                               c->size, f->root_first);
        f->old++;
        f->old_last = c->size;
        return 0;
}
