#include "storefile.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lmdb.h>
#include <sodium.h>

#include "storelayout.h"
#include "util.h"

struct storefile {
        MDB_env *env;
        MDB_txn *txn; /* one read transaction for the file's life */
        MDB_dbi meta, heads, audit, checkpoints;
        struct storefile_info info;
        char *origin, *vkey;
        char *first_vkey; /* the first signing key, when it was rotated since */
};

static int meta_get(struct storefile *sf, const char *name, MDB_val *ret)
{
        MDB_val key = {strlen(name), (void *)name};

        return mdb_get(sf->txn, sf->meta, &key, ret) == 0 ? 0 : -ENOENT;
}

static int meta_u64(struct storefile *sf, const char *name, uint64_t *ret)
{
        MDB_val v;

        if (meta_get(sf, name, &v) < 0 || v.mv_size != 8)
                return -ENOENT;
        *ret = be64_get(v.mv_data);
        return 0;
}

/* The file must hold every page its meta page counts: LMDB maps the file
 * and would fault on a page past its end. */
static int check_length(struct storefile *sf, char *why, size_t whylen)
{
        MDB_envinfo info;
        MDB_stat st;
        struct stat fst;
        int fd;

        if (mdb_env_get_fd(sf->env, &fd) != 0 || fstat(fd, &fst) < 0)
                return -EIO;
        if (mdb_env_info(sf->env, &info) != 0 || mdb_env_stat(sf->env, &st) != 0)
                return why_bad(why, whylen, "not an LMDB file");
        sf->info.bytes = (uint64_t)fst.st_size;
        if ((uint64_t)fst.st_size < ((uint64_t)info.me_last_pgno + 1) * st.ms_psize)
                return why_bad(why, whylen,
                               "the file is cut short: %" PRIu64 " bytes of the %" PRIu64
                               " its own header describes (an interrupted copy, or a damaged disk)",
                               (uint64_t)fst.st_size, ((uint64_t)info.me_last_pgno + 1) * st.ms_psize);
        return 0;
}

static int open_dbs(struct storefile *sf, char *why, size_t whylen)
{
        const struct {
                const char *name;
                MDB_dbi *dbi;
        } dbs[] = {
                {STORE_DB_META, &sf->meta},
                {STORE_DB_HEADS, &sf->heads},
                {STORE_DB_AUDIT, &sf->audit},
                {STORE_DB_CHECKPOINTS, &sf->checkpoints},
        };

        for (size_t i = 0; i < ELEMENTSOF(dbs); i++)
                if (mdb_dbi_open(sf->txn, dbs[i].name, 0, dbs[i].dbi) != 0)
                        return why_bad(why, whylen, "not a vault store (no '%s' database)", dbs[i].name);
        return 0;
}

static int read_info(struct storefile *sf, char *why, size_t whylen)
{
        struct storefile_info *in = &sf->info;
        MDB_val id, origin, head, pub, keys;
        MDB_stat st;

        if (meta_get(sf, META_VAULT_ID, &id) < 0 || id.mv_size != 32 ||
            meta_get(sf, META_AUDIT_ORIGIN, &origin) < 0 || meta_u64(sf, META_AUDIT_NEXT, &in->lines) < 0 ||
            meta_get(sf, META_AUDIT_HEAD, &head) < 0 || head.mv_size != AUDIT_HASH_SIZE ||
            meta_get(sf, META_SIGN_PUB, &pub) < 0 || pub.mv_size != 32)
                return why_bad(why, whylen, "not a vault store (its meta values are missing or malformed)");
        memcpy(in->vault_id, id.mv_data, 32);
        in->vault_id[32] = '\0';
        memcpy(in->head, head.mv_data, AUDIT_HASH_SIZE);
        sf->origin = strndup(origin.mv_data, origin.mv_size);
        if (!sf->origin || note_verifier_key(sf->origin, pub.mv_data, &sf->vkey) < 0)
                return -ENOMEM;
        in->origin = sf->origin;
        in->verifier_key = sf->vkey;
        /* A rotated signing key: the trail's first checkpoints are signed
         * by the first key of the history, which the export names. */
        if (meta_get(sf, META_SIGN_KEYS, &keys) == 0) {
                char first[512];

                if (signing_key_at(keys.mv_data, keys.mv_size, 1, first, sizeof(first)) < 0)
                        return why_bad(why, whylen, "not a vault store (its key history is malformed)");
                if (!(sf->first_vkey = strdup(first)))
                        return -ENOMEM;
        }
        if (mdb_stat(sf->txn, sf->heads, &st) != 0)
                return -EIO;
        in->records = st.ms_entries;
        return 0;
}

int storefile_open(const char *path, struct storefile **ret, char *why, size_t whylen)
{
        struct storefile *sf = calloc(1, sizeof(*sf));
        int rc, r;

        if (!sf)
                return -ENOMEM;
        snprintf(why, whylen, "cannot be read");
        if ((rc = mdb_env_create(&sf->env)) != 0) {
                free(sf);
                return -ENOMEM;
        }
        mdb_env_set_maxdbs(sf->env, STORE_DBS_MAX);
        rc = mdb_env_open(sf->env, path, MDB_RDONLY | MDB_NOSUBDIR | MDB_NOLOCK | MDB_NOTLS, 0);
        if (rc == ENOENT || rc == EACCES || rc == EISDIR)
                r = -rc;
        else if (rc != 0)
                r = why_bad(why, whylen, "not an LMDB file (%s)", mdb_strerror(rc));
        else if ((r = check_length(sf, why, whylen)) == 0 &&
                 (rc = mdb_txn_begin(sf->env, NULL, MDB_RDONLY, &sf->txn)) != 0)
                r = why_bad(why, whylen, "not an LMDB file (%s)", mdb_strerror(rc));
        if (r == 0)
                r = open_dbs(sf, why, whylen);
        if (r == 0)
                r = read_info(sf, why, whylen);
        if (r < 0) {
                storefile_free(sf);
                return r;
        }
        *ret = sf;
        return 0;
}

void storefile_free(struct storefile *sf)
{
        if (!sf)
                return;
        if (sf->txn)
                mdb_txn_abort(sf->txn);
        mdb_env_close(sf->env);
        free(sf->origin);
        free(sf->vkey);
        free(sf->first_vkey);
        free(sf);
}

const struct storefile_info *storefile_info(const struct storefile *sf)
{
        return &sf->info;
}

/* The size of the last stored checkpoint, 0 when there is none. */
static uint64_t last_checkpoint(struct storefile *sf)
{
        MDB_cursor *cur;
        MDB_val key, val;
        uint64_t size = 0;

        if (mdb_cursor_open(sf->txn, sf->checkpoints, &cur) != 0)
                return 0;
        if (mdb_cursor_get(cur, &key, &val, MDB_LAST) == 0 && key.mv_size == 8)
                size = be64_get(key.mv_data);
        mdb_cursor_close(cur);
        return size;
}

static int write_json_line(FILE *out, json_t *o)
{
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        int r = s && fprintf(out, "%s\n", s) >= 0 ? 0 : -EIO;

        free(s);
        json_decref(o);
        return r;
}

static int export_header(struct storefile *sf, FILE *out, uint64_t last_seq)
{
        char prev[AUDIT_HASH_HEX_SIZE], when[TIME_STRING_MAX];
        uint8_t zero[AUDIT_HASH_SIZE] = {0};

        hex_encode(zero, AUDIT_HASH_SIZE, prev);
        time_format_us(now_realtime_us(), when);
        return write_json_line(out, json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:s,s:s}", "format", EXPORT_FORMAT,
                                              "vault", sf->info.vault_id, "origin", sf->origin,
                                              "verifier_key", sf->first_vkey ? sf->first_vkey : sf->vkey,
                                              "first_seq", (json_int_t)0, "last_seq", (json_int_t)last_seq,
                                              "prev", prev, "exported", when));
}

/* Lines 0..last as stored; a gap or a stray key is left for the verifier
 * to name. */
static int export_lines(struct storefile *sf, FILE *out, uint64_t last)
{
        MDB_cursor *cur;
        MDB_val key, val;
        int rc, r = 0;

        if (mdb_cursor_open(sf->txn, sf->audit, &cur) != 0)
                return -EIO;
        for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0 && r == 0;
             rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
                if (key.mv_size == 8 && be64_get(key.mv_data) > last)
                        break;
                if (fwrite(val.mv_data, 1, val.mv_size, out) != val.mv_size || fputc('\n', out) == EOF)
                        r = -EIO;
        }
        mdb_cursor_close(cur);
        return r;
}

static int export_checkpoints(struct storefile *sf, FILE *out)
{
        MDB_cursor *cur;
        MDB_val key, val;
        int rc, r = 0;

        if (mdb_cursor_open(sf->txn, sf->checkpoints, &cur) != 0)
                return -EIO;
        for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0 && r == 0;
             rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT))
                r = write_json_line(
                        out, json_pack("{s:s%}", "checkpoint", (const char *)val.mv_data, val.mv_size));
        mdb_cursor_close(cur);
        return r;
}

int storefile_export(struct storefile *sf, FILE *out)
{
        uint64_t size = last_checkpoint(sf);
        /* No checkpoint at all: line 0 alone, which the verifier then finds
         * unsigned. */
        uint64_t last = size > 0 ? size - 1 : 0;
        int r;

        if ((r = export_header(sf, out, last)) < 0 || (r = export_lines(sf, out, last)) < 0 ||
            (r = export_checkpoints(sf, out)) < 0)
                return r;
        return fflush(out) == 0 ? 0 : -EIO;
}

__attribute__((format(printf, 3, 4))) static int report_fail(struct storefile_report *rep, int64_t seq,
                                                             const char *fmt, ...)
{
        va_list ap;

        rep->bad_seq = seq;
        va_start(ap, fmt);
        vsnprintf(rep->why, sizeof(rep->why), fmt, ap);
        va_end(ap);
        return -EBADMSG;
}

/* The export's part of the verdict: the trail up to the last checkpoint. */
static int verify_signed(struct storefile *sf, const char *vkey, struct storefile_report *rep)
{
        FILE *f = tmpfile();
        int r;

        if (!f)
                return -errno;
        r = storefile_export(sf, f);
        if (r == 0 && fseek(f, 0, SEEK_SET) < 0)
                r = -errno;
        if (r == 0)
                r = export_verify_opts(f, &(struct export_opts){.vkey = vkey, .archive = true}, &rep->trail);
        fclose(f);
        if (r == -EBADMSG)
                return report_fail(rep, rep->trail.bad_seq, "%s", rep->trail.why);
        return r;
}

static void line_time(const MDB_val *line, char *buf, size_t size)
{
        json_t *o = json_loadb(line->mv_data, line->mv_size, 0, NULL);

        snprintf(buf, size, "%s", json_string_value(json_object_get(o, "time")) ?: "?");
        json_decref(o);
}

/* The lines after the last checkpoint chain on from it, none is missing
 * and none follows, and the stored head is the last one's hash. */
static int verify_tail(struct storefile *sf, struct storefile_report *rep)
{
        uint64_t from = rep->trail.last_seq + 1, seq = rep->trail.last_seq;
        struct audit_chain chain = {0};
        uint8_t kb[8], prev[AUDIT_HASH_SIZE];
        MDB_val key = {8, kb}, val, last = {0, NULL};
        MDB_cursor *cur;
        char why[160];
        int rc, r = 0;

        if (mdb_cursor_open(sf->txn, sf->audit, &cur) != 0)
                return -EIO;
        be64_put(kb, seq);
        rc = mdb_cursor_get(cur, &key, &val, MDB_SET_KEY);
        if (rc == 0) {
                auditfmt_hash(val.mv_data, val.mv_size, prev);
                audit_chain_init(&chain, from, prev);
                last = val;
        }
        for (rc = rc == 0 ? mdb_cursor_get(cur, &key, &val, MDB_NEXT) : rc; rc == 0 && r == 0;
             rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
                seq = chain.next_seq;
                if (key.mv_size != 8 || be64_get(key.mv_data) != seq)
                        r = report_fail(rep, (int64_t)seq, "line %" PRIu64 " is missing", seq);
                else if (audit_chain_feed(&chain, val.mv_data, val.mv_size, why, sizeof(why)) < 0)
                        r = report_fail(rep, (int64_t)seq, "%s", why);
                else {
                        rep->unsigned_lines++;
                        last = val;
                }
        }
        mdb_cursor_close(cur);
        if (r < 0)
                return r;
        if (!last.mv_data)
                return report_fail(rep, (int64_t)from - 1, "line %" PRIu64 " is missing", from - 1);
        if (sf->info.lines != from + rep->unsigned_lines ||
            sodium_memcmp(sf->info.head, chain.prev, AUDIT_HASH_SIZE) != 0)
                return report_fail(rep, (int64_t)(from + rep->unsigned_lines),
                                   "the stored head (%" PRIu64 " lines) does not match the trail (%" PRIu64
                                   " lines): lines were removed or appended",
                                   sf->info.lines, from + rep->unsigned_lines);
        line_time(&last, rep->head_time, sizeof(rep->head_time));
        return 0;
}

int storefile_verify(struct storefile *sf, const char *vkey, struct storefile_report *ret)
{
        int r;

        *ret = (struct storefile_report){.bad_seq = -1};
        r = verify_signed(sf, vkey, ret);
        if (r == 0)
                r = verify_tail(sf, ret);
        return r;
}

int storefile_copy(struct storefile *sf, int fd)
{
        int rc = mdb_env_copyfd2(sf->env, fd, MDB_CP_COMPACT);

        return rc == 0 ? 0 : rc > 0 ? -rc : -EIO;
}

int storefile_in_use(const char *dir)
{
        struct flock probe = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
        char path[4096];
        int fd, r;

        if (snprintf(path, sizeof(path), "%s/" STORE_LOCK_FILE, dir) >= (int)sizeof(path))
                return -ENAMETOOLONG;
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        r = fcntl(fd, F_GETLK, &probe) < 0 ? -errno : probe.l_type != F_UNLCK;
        close(fd);
        return r;
}
