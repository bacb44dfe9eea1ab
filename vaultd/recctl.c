#include "recctl.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "timestamp.h"
#include "util.h"

static int time_get(json_t *o, const char *name, uint64_t *ret)
{
        json_t *t = json_object_get(o, name);

        if (!t) {
                *ret = 0;
                return 0;
        }
        return recmeta_time_parse(json_string_value(t), ret) < 0 ? -EBADMSG : 0;
}

static int reason_get(json_t *o, char out[RECCTL_REASON_MAX + 1])
{
        const char *s = json_string_value(json_object_get(o, "reason"));

        if (!s || strlen(s) > RECCTL_REASON_MAX)
                return -EBADMSG;
        strcpy(out, s);
        return 0;
}

static uint64_t uint_get(json_t *o, const char *name)
{
        json_int_t n = json_integer_value(json_object_get(o, name));

        return n > 0 ? (uint64_t)n : 0;
}

int recctl_decode(const void *val, size_t len, struct recctl *ret)
{
        json_t *o = json_loadb(val, len, JSON_REJECT_DUPLICATES, NULL), *h, *d;
        struct recctl c = {0};
        int r = -EBADMSG;

        if (!json_is_object(o))
                goto out;
        if (time_get(o, "retain_until", &c.retain_until_us) < 0)
                goto out;
        if ((h = json_object_get(o, "hold"))) {
                c.held = true;
                c.hold_uid = (uint32_t)uint_get(h, "uid");
                if (time_get(h, "since", &c.hold_us) < 0 || reason_get(h, c.hold_reason) < 0)
                        goto out;
        }
        if ((d = json_object_get(o, "disposed"))) {
                c.disposed = true;
                c.disposed_uid = (uint32_t)uint_get(d, "uid");
                c.disposed_seq = uint_get(d, "seq");
                c.disposed_versions = uint_get(d, "versions");
                if (time_get(d, "time", &c.disposed_us) < 0 || reason_get(d, c.disposed_reason) < 0)
                        goto out;
        }
        *ret = c;
        r = 0;
out:
        json_decref(o);
        return r;
}

int recctl_get(struct vault *v, MDB_txn *txn, const void *key, size_t klen, struct recctl *ret)
{
        MDB_val val;
        int r = store_get(txn, v->store->recctl, key, klen, &val);

        if (r == -ENOENT) {
                *ret = (struct recctl){0};
                return 0;
        }
        if (r < 0)
                return r;
        return recctl_decode(val.mv_data, val.mv_size, ret) < 0 ? -EIO : 0;
}

static json_t *time_json(uint64_t us)
{
        char t[TIME_STRING_MAX];

        time_format_us(us, t);
        return json_string(t);
}

json_t *recctl_hold_json(const struct recctl *c)
{
        return json_pack("{s:s,s:o,s:I}", "reason", c->hold_reason, "since", time_json(c->hold_us), "uid",
                         (json_int_t)c->hold_uid);
}

json_t *recctl_disposed_json(const struct recctl *c)
{
        return json_pack("{s:o,s:s,s:I,s:I,s:I}", "time", time_json(c->disposed_us), "reason",
                         c->disposed_reason, "versions", (json_int_t)c->disposed_versions, "seq",
                         (json_int_t)c->disposed_seq, "uid", (json_int_t)c->disposed_uid);
}

int recctl_put(struct vault *v, MDB_txn *txn, const void *key, size_t klen, const struct recctl *c)
{
        json_t *o = json_object();
        char *s;
        int r;

        if (c->retain_until_us)
                json_object_set_new(o, "retain_until", time_json(c->retain_until_us));
        if (c->held)
                json_object_set_new(o, "hold", recctl_hold_json(c));
        if (c->disposed)
                json_object_set_new(o, "disposed", recctl_disposed_json(c));
        if (json_object_size(o) == 0) {
                json_decref(o);
                r = store_del(txn, v->store->recctl, key, klen);
                return r == -ENOENT ? 0 : r;
        }
        s = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        if (!s)
                return -ENOMEM;
        r = store_put(txn, v->store->recctl, key, klen, s, strlen(s), 0);
        free(s);
        return r;
}

int recctl_param_reason(struct job *j, const char *iface, const char *name, const char **ret)
{
        int r = param_string(j, iface, name, true, ret);

        if (r != 0)
                return r;
        if (**ret == '\0' || strlen(*ret) > RECCTL_REASON_MAX)
                return job_invalid(j, iface, name, "must be 1-256 bytes of text");
        if (text_has_controls(*ret, strlen(*ret)))
                return job_invalid(j, iface, name,
                                   "must be one line of UTF-8 text without control or bidi characters");
        return 0;
}

int recctl_param_time(struct job *j, const char *iface, const char *name, uint64_t *ret)
{
        char buf[TIMESTAMP_UTC_MAX + 1];
        const char *s;
        int r = param_string(j, iface, name, false, &s);

        *ret = 0;
        if (r != 0 || !s)
                return r;
        if (strlen(s) == 10) {
                snprintf(buf, sizeof(buf), "%sT00:00:00Z", s);
                s = buf;
        }
        if (timestamp_parse_utc(s, ret) < 0 || *ret == 0)
                return job_invalid(j, iface, name,
                                   "must be a date, 2036-12-31, or an RFC 3339 time in UTC, "
                                   "2036-12-31T00:00:00Z");
        return 0;
}

int recctl_fail_disposed(struct job *j, const char *collection, const char *id, const struct recctl *c)
{
        return job_fail(j, "io.vaultd.records.Disposed",
                        json_pack("{s:s,s:s,s:o,s:s,s:I}", "collection", collection, "id", id, "time",
                                  time_json(c->disposed_us), "reason", c->disposed_reason, "versions",
                                  (json_int_t)c->disposed_versions));
}
