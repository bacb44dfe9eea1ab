/* Witness cosignatures (lib/cosign.h). */
#include "cosign.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "util.h"

#define COSIGN_HEADER "cosignature/v1\n"

int cosigner_parse(const char *vkey, struct cosigner *ret)
{
        struct cosigner w = {0};
        int r = note_verifier_parse_type(vkey, COSIGN_KEY_TYPE, &w.name, w.pk, w.id);

        if (r < 0)
                return r;
        *ret = w;
        return 0;
}

void cosigner_done(struct cosigner *w)
{
        free(w->name);
        *w = (struct cosigner){0};
}

int cosigners_parse(const char *text, struct cosigner *ws, size_t max, size_t *ret_n, char *err,
                    size_t errlen)
{
        _cleanup_(freep) char *copy = strdup(text);
        size_t n = 0, lineno = 0;
        char *line;

        if (!copy)
                return -ENOMEM;
        *ret_n = 0;
        /* strsep, not strtok: blank lines still count for the line numbers. */
        for (char *rest = copy; (line = strsep(&rest, "\n"));) {
                size_t len;

                lineno++;
                while (*line == ' ' || *line == '\t')
                        line++;
                len = strlen(line);
                while (len && (line[len - 1] == ' ' || line[len - 1] == '\t' || line[len - 1] == '\r'))
                        line[--len] = '\0';
                if (len == 0 || line[0] == '#')
                        continue;
                if (n == max) {
                        snprintf(err, errlen, "line %zu: more than %zu witnesses", lineno, max);
                        goto fail;
                }
                if (cosigner_parse(line, &ws[n]) < 0) {
                        snprintf(err, errlen,
                                 "line %zu: not a witness key (a verifier key of type 0x04: "
                                 "name+hex key id+base64 key, c2sp.org/tlog-cosignature)",
                                 lineno);
                        goto fail;
                }
                for (size_t k = 0; k < n; k++)
                        if (memcmp(ws[k].id, ws[n].id, 4) == 0 && strcmp(ws[k].name, ws[n].name) == 0) {
                                snprintf(err, errlen, "line %zu: the key of %s is given twice", lineno,
                                         ws[n].name);
                                n++;
                                goto fail;
                        }
                n++;
        }
        *ret_n = n;
        return 0;
fail:
        while (n > 0)
                cosigner_done(&ws[--n]);
        return -EINVAL;
}

bool cosign_shape(const struct note_sig *s, uint64_t *ret_time)
{
        uint64_t t;

        if (s->sig_len != COSIGN_SIG_SIZE)
                return false;
        t = be64_get(s->sig);
        if (t > (uint64_t)INT64_MAX)
                return false;
        *ret_time = t;
        return true;
}

/* Ed25519 over "cosignature/v1\ntime <t>\n" || the note's text. */
static bool cosign_valid(const struct note *n, const struct note_sig *s, const uint8_t pk[32], uint64_t t)
{
        char head[64];
        int hlen = snprintf(head, sizeof(head), COSIGN_HEADER "time %" PRIu64 "\n", t);
        size_t mlen = (size_t)hlen + n->text_len;
        uint8_t *msg = malloc(mlen);
        bool ok;

        if (!msg)
                return false;
        memcpy(msg, head, (size_t)hlen);
        memcpy(msg + hlen, n->buf, n->text_len);
        ok = crypto_sign_verify_detached(s->sig + 8, msg, mlen, pk) == 0;
        free(msg);
        return ok;
}

int cosign_check(const struct note *n, const struct cosigner *w, uint64_t *ret_time)
{
        for (size_t i = 0; i < n->nsigs; i++) {
                const struct note_sig *s = &n->sigs[i];
                uint64_t t;

                if (strcmp(s->name, w->name) != 0 || memcmp(s->id, w->id, 4) != 0)
                        continue;
                if (!cosign_shape(s, &t) || !cosign_valid(n, s, w->pk, t))
                        return -EBADMSG;
                *ret_time = t;
                return 0;
        }
        return -ENOENT;
}

int cosign_verdict(const char *note, size_t len, const struct cosigner *ws, size_t n,
                   struct cosign_verdict *ret)
{
        struct cosign_verdict v = {0};
        struct note parsed;
        char why[128];
        int r;

        if (n > COSIGN_WITNESSES_MAX)
                return -EINVAL;
        r = note_parse(note, len, &parsed, why, sizeof(why));
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                v.result[i] = cosign_check(&parsed, &ws[i], &v.time[i]);
                if (v.result[i] == 0)
                        v.valid++;
        }
        note_done(&parsed);
        *ret = v;
        return 0;
}
