#include "auditfmt.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

#include <sodium.h>

#include "util.h"

#define EM_DASH "\xe2\x80\x94"

__attribute__((format(printf, 3, 4))) static void set_why(char *why, size_t whylen, const char *fmt, ...)
{
        va_list ap;

        if (!why || whylen == 0)
                return;
        va_start(ap, fmt);
        vsnprintf(why, whylen, fmt, ap);
        va_end(ap);
}

int auditfmt_line(uint64_t seq, const struct audit_entry *e, const uint8_t prev[AUDIT_HASH_SIZE], char **ret,
                  size_t *ret_len)
{
        char tbuf[TIME_STRING_MAX], hex[AUDIT_HASH_HEX_SIZE];
        json_t *o, *actor;
        const char *k;
        json_t *v;
        char *s;

        if (!e->op || !e->result)
                return -EINVAL;
        time_format_us(e->time_us, tbuf);
        hex_encode(prev, AUDIT_HASH_SIZE, hex);
        actor = json_pack("{s:I,s:I,s:I}", "uid", (json_int_t)e->actor.uid, "gid", (json_int_t)e->actor.gid,
                          "pid", (json_int_t)e->actor.pid);
        o = json_pack("{s:I,s:s,s:o,s:s}", "seq", (json_int_t)seq, "time", tbuf, "actor", actor, "op",
                      e->op);
        if (!o)
                return -ENOMEM;
        if (e->actor.user)
                json_object_set_new(actor, "user", json_string(e->actor.user));
        json_object_set_new(actor, "role", e->actor.role ? json_string(e->actor.role) : json_null());
        if (e->collection)
                json_object_set_new(o, "collection", json_string(e->collection));
        if (e->id)
                json_object_set_new(o, "id", json_string(e->id));
        if (e->version >= 0)
                json_object_set_new(o, "version", json_integer(e->version));
        json_object_foreach(e->extra, k, v) if (!json_object_get(o, k) && strcmp(k, "prev") &&
                                                strcmp(k, "result")) json_object_set(o, k, v);
        json_object_set_new(o, "result", json_string(e->result));
        if (e->error)
                json_object_set_new(o, "error", json_string(e->error));
        json_object_set_new(o, "prev", json_string(hex));
        s = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        if (!s)
                return -ENOMEM;
        if (strlen(s) > AUDIT_LINE_MAX) {
                free(s);
                return -E2BIG;
        }
        *ret_len = strlen(s);
        *ret = s;
        return 0;
}

void auditfmt_hash(const char *line, size_t len, uint8_t out[AUDIT_HASH_SIZE])
{
        crypto_hash_sha256(out, (const unsigned char *)line, len);
}

void audit_chain_init(struct audit_chain *c, uint64_t first_seq, const uint8_t prev[AUDIT_HASH_SIZE])
{
        c->next_seq = first_seq;
        memcpy(c->prev, prev, AUDIT_HASH_SIZE);
}

int audit_chain_feed(struct audit_chain *c, const char *line, size_t len, char *why, size_t whylen)
{
        char hex[AUDIT_HASH_HEX_SIZE];
        json_t *o, *seq, *prev;
        int k = -EBADMSG;

        if (len > AUDIT_LINE_MAX || memchr(line, '\n', len) || memchr(line, '\0', len)) {
                set_why(why, whylen, "line is too long or contains a newline or NUL");
                return -EBADMSG;
        }
        o = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
        seq = json_object_get(o, "seq");
        prev = json_object_get(o, "prev");
        if (!json_is_object(o) || !json_is_integer(seq) || !json_is_string(prev)) {
                set_why(why, whylen, "not an audit line (JSON object with seq and prev)");
                goto out;
        }
        if ((uint64_t)json_integer_value(seq) != c->next_seq || json_integer_value(seq) < 0) {
                set_why(why, whylen, "seq is %" JSON_INTEGER_FORMAT ", expected %" PRIu64,
                        json_integer_value(seq), c->next_seq);
                goto out;
        }
        hex_encode(c->prev, AUDIT_HASH_SIZE, hex);
        if (strcmp(json_string_value(prev), hex) != 0 && c->next_seq == 0) {
                set_why(why, whylen, "prev of line 0 is not 64 zeros");
                goto out;
        }
        if (strcmp(json_string_value(prev), hex) != 0) {
                set_why(why, whylen,
                        "prev does not match the hash of line %" PRIu64
                        " (a line is missing, altered or out of order)",
                        c->next_seq - 1);
                goto out;
        }
        auditfmt_hash(line, len, c->prev);
        c->next_seq++;
        k = 0;
out:
        json_decref(o);
        return k;
}

void note_key_id(const char *name, const uint8_t pk[32], uint8_t ret_id[4])
{
        crypto_hash_sha256_state st;
        uint8_t h[32];
        static const uint8_t sep[2] = {0x0a, 0x01};

        crypto_hash_sha256_init(&st);
        crypto_hash_sha256_update(&st, (const unsigned char *)name, strlen(name));
        crypto_hash_sha256_update(&st, sep, 2);
        crypto_hash_sha256_update(&st, pk, 32);
        crypto_hash_sha256_final(&st, h);
        memcpy(ret_id, h, 4);
}

static bool note_name_valid(const char *name)
{
        if (!*name)
                return false;
        for (const char *p = name; *p; p++)
                if ((unsigned char)*p <= 0x20 || *p == '+' || (unsigned char)*p >= 0x7f)
                        return false;
        return true;
}

int note_verifier_key(const char *name, const uint8_t pk[32], char **ret)
{
        uint8_t id[4], blob[33];
        char idhex[9], b64[sodium_base64_ENCODED_LEN(33, sodium_base64_VARIANT_ORIGINAL)];

        if (!note_name_valid(name))
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
        const char *p1 = strchr(vkey, '+'), *p2;
        uint8_t id[4], want[4], blob[64];
        size_t blen;
        char *name;

        if (!p1 || !(p2 = strchr(p1 + 1, '+')) || p2 - p1 != 9)
                return -EINVAL;
        char idhex[9];
        memcpy(idhex, p1 + 1, 8);
        idhex[8] = '\0';
        if (hex_decode(idhex, id, 4) < 0)
                return -EINVAL;
        if (sodium_base642bin(blob, sizeof(blob), p2 + 1, strlen(p2 + 1), NULL, &blen, NULL,
                              sodium_base64_VARIANT_ORIGINAL) < 0 ||
            blen != 33 || blob[0] != 0x01)
                return -EINVAL;
        name = strndup(vkey, (size_t)(p1 - vkey));
        if (!name)
                return -ENOMEM;
        note_key_id(name, blob + 1, want);
        if (!note_name_valid(name) || memcmp(want, id, 4) != 0) {
                free(name);
                return -EINVAL;
        }
        *ret_name = name;
        memcpy(ret_pk, blob + 1, 32);
        memcpy(ret_id, id, 4);
        return 0;
}

int checkpoint_text(const char *origin, uint64_t size, const uint8_t hash[AUDIT_HASH_SIZE], char **ret)
{
        char b64[sodium_base64_ENCODED_LEN(AUDIT_HASH_SIZE, sodium_base64_VARIANT_ORIGINAL)];

        sodium_bin2base64(b64, sizeof(b64), hash, AUDIT_HASH_SIZE, sodium_base64_VARIANT_ORIGINAL);
        if (asprintf(ret, "%s\n%" PRIu64 "\n%s\n", origin, size, b64) < 0)
                return -ENOMEM;
        return 0;
}

int checkpoint_note(const char *text, const char *name, const uint8_t id[4], const uint8_t sig[64],
                    char **ret)
{
        uint8_t blob[68];
        char b64[sodium_base64_ENCODED_LEN(68, sodium_base64_VARIANT_ORIGINAL)];

        memcpy(blob, id, 4);
        memcpy(blob + 4, sig, 64);
        sodium_bin2base64(b64, sizeof(b64), blob, 68, sodium_base64_VARIANT_ORIGINAL);
        if (asprintf(ret, "%s\n" EM_DASH " %s %s\n", text, name, b64) < 0)
                return -ENOMEM;
        return 0;
}

/* Parses "origin\nsize\nhash\n" exactly. */
static int checkpoint_parse_text(const char *text, size_t len, char **ret_origin, uint64_t *ret_size,
                                 uint8_t ret_hash[AUDIT_HASH_SIZE])
{
        const char *l1 = memchr(text, '\n', len), *l2, *l3;
        char num[24], *end;
        size_t hlen;

        if (!l1 || !(l2 = memchr(l1 + 1, '\n', len - (size_t)(l1 + 1 - text))) ||
            !(l3 = memchr(l2 + 1, '\n', len - (size_t)(l2 + 1 - text))) || l3 + 1 != text + len)
                return -EBADMSG;
        if (l2 - l1 - 1 <= 0 || l2 - l1 - 1 >= (long)sizeof(num) || l1 == text)
                return -EBADMSG;
        memcpy(num, l1 + 1, (size_t)(l2 - l1 - 1));
        num[l2 - l1 - 1] = '\0';
        if (num[0] < '0' || num[0] > '9' || (num[0] == '0' && num[1]))
                return -EBADMSG;
        errno = 0;
        *ret_size = strtoull(num, &end, 10);
        if (errno || *end)
                return -EBADMSG;
        if (sodium_base642bin(ret_hash, AUDIT_HASH_SIZE, l2 + 1, (size_t)(l3 - l2 - 1), NULL, &hlen, NULL,
                              sodium_base64_VARIANT_ORIGINAL) < 0 ||
            hlen != AUDIT_HASH_SIZE)
                return -EBADMSG;
        *ret_origin = strndup(text, (size_t)(l1 - text));
        return *ret_origin ? 0 : -ENOMEM;
}

int checkpoint_verify(const char *note, const char *vkey, char **ret_origin, uint64_t *ret_size,
                      uint8_t ret_hash[AUDIT_HASH_SIZE], char *why, size_t whylen)
{
        _cleanup_(freep) char *name = NULL, *prefix = NULL;
        uint8_t pk[32], id[4];
        const char *sep = strstr(note, "\n\n"), *p;
        size_t textlen, plen;
        bool found = false;

        if (note_verifier_parse(vkey, &name, pk, id) < 0) {
                set_why(why, whylen, "the verifier key is malformed");
                return -EINVAL;
        }
        if (!sep) {
                set_why(why, whylen, "checkpoint has no signature block");
                return -EBADMSG;
        }
        textlen = (size_t)(sep - note) + 1;
        if (asprintf(&prefix, EM_DASH " %s ", name) < 0)
                return -ENOMEM;
        plen = strlen(prefix);
        for (p = sep + 2; *p;) {
                const char *eol = strchr(p, '\n');
                uint8_t blob[68];
                size_t blen;

                if (!eol) {
                        set_why(why, whylen, "checkpoint signature line is not terminated");
                        return -EBADMSG;
                }
                if ((size_t)(eol - p) > plen && strncmp(p, prefix, plen) == 0 &&
                    sodium_base642bin(blob, sizeof(blob), p + plen, (size_t)(eol - p) - plen, NULL, &blen,
                                      NULL, sodium_base64_VARIANT_ORIGINAL) == 0 &&
                    blen == 68 && memcmp(blob, id, 4) == 0) {
                        if (crypto_sign_verify_detached(blob + 4, (const unsigned char *)note, textlen,
                                                        pk) != 0) {
                                set_why(why, whylen, "checkpoint signature does not verify");
                                return -EBADMSG;
                        }
                        found = true;
                }
                p = eol + 1;
        }
        if (!found) {
                set_why(why, whylen, "checkpoint is not signed by key %s", name);
                return -EBADMSG;
        }
        if (checkpoint_parse_text(note, textlen, ret_origin, ret_size, ret_hash) < 0) {
                set_why(why, whylen, "checkpoint text is malformed");
                return -EBADMSG;
        }
        return 0;
}
