/* Continuity between audits (docs/audit-format.md, "Continuity"): the head
 * an auditor verified last time, kept in a small state file or written
 * down as SEQ:HASH, which the next export must contain unchanged. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auditproof.h"
#include "util.h"
#include "vaultctl.h"

#define STATE_FORMAT   "vaultd-audit-state/1"
#define STATE_FILE_MAX 65536

int since_head_parse(const char *s, uint64_t *ret_seq, uint8_t ret_hash[AUDIT_HASH_SIZE])
{
        const char *colon = strchr(s, ':');
        char *end;

        if (!colon || colon == s || s[0] < '0' || s[0] > '9')
                return -EINVAL;
        errno = 0;
        *ret_seq = strtoull(s, &end, 10);
        if (errno || end != colon || strlen(colon + 1) != 2 * AUDIT_HASH_SIZE ||
            hex_decode(colon + 1, ret_hash, AUDIT_HASH_SIZE) < 0)
                return -EINVAL;
        return 0;
}

void audit_state_done(struct audit_state *st)
{
        free(st->origin);
        free(st->key);
        free(st->verified);
        *st = (struct audit_state){0};
}

int audit_state_load(const char *path, struct audit_state *ret, char *why, size_t whylen)
{
        _cleanup_(freep) char *text = NULL;
        size_t len;
        json_t *o;
        const char *origin, *hash, *key, *verified;
        json_t *seq;
        int r;

        *ret = (struct audit_state){0};
        r = read_file_max(path, STATE_FILE_MAX, &text, &len);
        if (r == -ENOENT)
                return 0; /* a first audit: no state yet */
        if (r < 0) {
                snprintf(why, whylen, "cannot read %s: %s", path, strerror(-r));
                return r;
        }
        o = json_loadb(text, len, 0, NULL);
        origin = json_string_value(json_object_get(o, "origin"));
        hash = json_string_value(json_object_get(o, "hash"));
        key = json_string_value(json_object_get(o, "key"));
        verified = json_string_value(json_object_get(o, "verified"));
        seq = json_object_get(o, "seq");
        if (!json_is_object(o) ||
            strcmp(json_string_value(json_object_get(o, "format")) ?: "", STATE_FORMAT) != 0 || !origin ||
            !hash || !key || !verified || !json_is_integer(seq) || json_integer_value(seq) < 0 ||
            strlen(hash) != 2 * AUDIT_HASH_SIZE || hex_decode(hash, ret->hash, AUDIT_HASH_SIZE) < 0) {
                json_decref(o);
                snprintf(why, whylen, "%s is not a vaultctl audit state file (" STATE_FORMAT ")", path);
                return -EINVAL;
        }
        ret->exists = true;
        ret->seq = (uint64_t)json_integer_value(seq);
        /* Written since the tree: the root of lines 0 … seq. */
        if (json_object_get(o, "root")) {
                if (json_integer_value(json_object_get(o, "size")) != (json_int_t)ret->seq + 1 ||
                    auditproof_hash_parse(json_object_get(o, "root"), ret->root) < 0) {
                        json_decref(o);
                        snprintf(why, whylen, "%s has a malformed \"size\" or \"root\"", path);
                        return -EINVAL;
                }
                ret->has_root = true;
                ret->size = ret->seq + 1;
        }
        ret->origin = strdup(origin);
        ret->key = strdup(key);
        ret->verified = strdup(verified);
        json_decref(o);
        if (!ret->origin || !ret->key || !ret->verified) {
                audit_state_done(ret);
                return -ENOMEM;
        }
        return 0;
}

int audit_state_save(const char *path, const struct export_report *rep)
{
        _cleanup_(freep) char *tmp = NULL, *text = NULL;
        char hex[AUDIT_HASH_HEX_SIZE], when[TIME_STRING_MAX];
        json_t *o;
        int fd, r = 0;

        hex_encode(rep->last_hash, AUDIT_HASH_SIZE, hex);
        time_format_us(now_realtime_us(), when);
        o = json_pack("{s:s,s:s,s:I,s:s,s:s,s:s}", "format", STATE_FORMAT, "origin", rep->origin, "seq",
                      (json_int_t)rep->last_seq, "hash", hex, "key", rep->last_key, "verified", when);
        if (o && rep->tree_verified) {
                char b64[MERKLE_HASH_B64_SIZE];

                auditproof_hash_b64(rep->tree_root, b64);
                json_object_set_new(o, "size", json_integer((json_int_t)rep->tree_size));
                json_object_set_new(o, "root", json_string(b64));
        }
        text = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
        json_decref(o);
        if (!text || asprintf(&tmp, "%s.tmp", path) < 0)
                return -ENOMEM;
        /* Written aside and renamed: a crash leaves the old state or the
         * new one, never half of one. */
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        if (write_all(fd, text, strlen(text)) < 0 || write_all(fd, "\n", 1) < 0 || fsync(fd) < 0)
                r = -errno ?: -EIO;
        close(fd);
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                unlink(tmp);
        return r;
}
