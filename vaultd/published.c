#include "published.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "auditree.h"
#include "log.h"
#include "util.h"

#define SLOT_MAGIC "vaultd-checkpoint/1 "
#define SLOT_HASH  "sha256 "

/* One slot's text, or -EBADMSG when it is torn, empty or not a slot. */
static int slot_parse(const char *buf, size_t len, uint64_t *ret_generation, char **ret_note)
{
        const char *end = memchr(buf, '\n', len), *hash_line = NULL;
        uint8_t want[crypto_hash_sha256_BYTES], got[crypto_hash_sha256_BYTES];
        char *gen_end;
        uint64_t gen;

        if (!end || len < strlen(SLOT_MAGIC) || memcmp(buf, SLOT_MAGIC, strlen(SLOT_MAGIC)) != 0)
                return -EBADMSG;
        errno = 0;
        gen = strtoull(buf + strlen(SLOT_MAGIC), &gen_end, 10);
        if (errno || gen_end != end || gen == 0)
                return -EBADMSG;
        /* The hash line is the last line that is not padding. */
        for (const char *p = end + 1; p < buf + len; p++)
                if (p[-1] == '\n' && (size_t)(buf + len - p) >= strlen(SLOT_HASH) + 2 * sizeof(want) + 1 &&
                    memcmp(p, SLOT_HASH, strlen(SLOT_HASH)) == 0)
                        hash_line = p;
        if (!hash_line || hash_line[strlen(SLOT_HASH) + 2 * sizeof(want)] != '\n')
                return -EBADMSG;
        {
                char hex[2 * sizeof(want) + 1];

                memcpy(hex, hash_line + strlen(SLOT_HASH), 2 * sizeof(want));
                hex[2 * sizeof(want)] = '\0';
                if (hex_decode(hex, want, sizeof(want)) < 0)
                        return -EBADMSG;
        }
        crypto_hash_sha256(got, (const unsigned char *)buf, (size_t)(hash_line - buf));
        if (sodium_memcmp(got, want, sizeof(got)) != 0)
                return -EBADMSG;
        *ret_note = strndup(end + 1, (size_t)(hash_line - end - 1));
        if (!*ret_note)
                return -ENOMEM;
        *ret_generation = gen;
        return 0;
}

static int read_slots(struct published *p)
{
        _cleanup_(freep) char *buf = malloc(2 * PUBLISHED_SLOT_SIZE);
        ssize_t n;
        size_t len = 0;

        if (!buf)
                return -ENOMEM;
        while (len < 2 * PUBLISHED_SLOT_SIZE) {
                n = pread(p->fd, buf + len, 2 * PUBLISHED_SLOT_SIZE - len, (off_t)len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        if (len == 0)
                return 0; /* new: nothing published yet */
        for (size_t slot = 0; slot < 2 && slot * PUBLISHED_SLOT_SIZE < len; slot++) {
                size_t off = slot * PUBLISHED_SLOT_SIZE, slen = len - off;
                uint64_t gen;
                char *note;

                if (slen > PUBLISHED_SLOT_SIZE)
                        slen = PUBLISHED_SLOT_SIZE;
                if (slot_parse(buf + off, slen, &gen, &note) < 0)
                        continue;
                if (gen > p->generation) {
                        free(p->note);
                        p->note = note;
                        p->generation = gen;
                } else
                        free(note);
        }
        if (p->note) {
                char origin[PUBLISHED_ORIGIN_MAX];
                uint8_t hash[AUDIT_HASH_SIZE];

                if (published_note_fields(p->note, origin, &p->size, hash) == 0)
                        return 0;
                free(p->note);
                p->note = NULL;
        }
        p->damaged = true;
        return 0;
}

int published_open(int dir_fd, struct published **ret)
{
        struct published *p = calloc(1, sizeof(*p));
        struct stat st;
        int r;

        if (!p)
                return -ENOMEM;
        p->fd = openat(dir_fd, PUBLISHED_FILE, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (p->fd < 0) {
                r = -errno;
                goto fail;
        }
        if (fstat(p->fd, &st) < 0) {
                r = -errno;
                goto fail;
        }
        if (!S_ISREG(st.st_mode)) {
                r = -EPERM;
                goto fail;
        }
        r = read_slots(p);
        if (r < 0)
                goto fail;
        *ret = p;
        return 0;
fail:
        published_free(p);
        return r;
}

void published_free(struct published *p)
{
        if (!p)
                return;
        if (p->fd >= 0)
                close(p->fd);
        free(p->note);
        free(p);
}

int published_note_fields(const char *note, char ret_origin[PUBLISHED_ORIGIN_MAX], uint64_t *ret_size,
                          uint8_t ret_hash[AUDIT_HASH_SIZE])
{
        const char *l1 = strchr(note, '\n'), *l2 = l1 ? strchr(l1 + 1, '\n') : NULL,
                   *l3 = l2 ? strchr(l2 + 1, '\n') : NULL;
        char *end;
        size_t len;
        uint64_t size;

        if (!l3 || (size_t)(l1 - note) >= PUBLISHED_ORIGIN_MAX || l1 == note)
                return -EBADMSG;
        errno = 0;
        size = strtoull(l1 + 1, &end, 10);
        if (errno || end != l2 || end == l1 + 1 || size == 0)
                return -EBADMSG;
        if (sodium_base642bin(ret_hash, AUDIT_HASH_SIZE, l2 + 1, (size_t)(l3 - l2 - 1), NULL, &len, NULL,
                              sodium_base64_VARIANT_ORIGINAL) < 0 ||
            len != AUDIT_HASH_SIZE)
                return -EBADMSG;
        memcpy(ret_origin, note, (size_t)(l1 - note));
        ret_origin[l1 - note] = '\0';
        *ret_size = size;
        return 0;
}

static int stored_note(struct audit_log *log, MDB_txn *txn, uint64_t size, char **ret)
{
        uint8_t key[8];
        MDB_val v;
        int r;

        be64_put(key, size);
        r = store_get(txn, log->store->checkpoints, key, sizeof(key), &v);
        if (r < 0)
                return r;
        *ret = strndup(v.mv_data, v.mv_size);
        return *ret ? 0 : -ENOMEM;
}

int published_compare(const struct published *p, struct audit_log *log, MDB_txn *txn,
                      struct rollback_check *ret)
{
        struct rollback_check c = {.state = ROLLBACK_NONE, .store_size = log->next_seq};
        _cleanup_(freep) char *note = NULL;
        char origin[PUBLISHED_ORIGIN_MAX];
        uint64_t size;
        int r;

        memcpy(c.store_hash, log->head, AUDIT_HASH_SIZE);
        if (p->damaged)
                c.state = ROLLBACK_DAMAGED;
        if (!p->note) {
                *ret = c;
                return 0;
        }
        r = published_note_fields(p->note, c.published_origin, &c.published_size, c.published_hash);
        if (r < 0)
                return r;
        if (strcmp(c.published_origin, log->origin) != 0)
                c.state = ROLLBACK_OTHER_VAULT;
        else if (log->next_seq < c.published_size)
                c.state = ROLLBACK_BEHIND;
        else {
                /* The store's own checkpoint at that size, where it has one
                 * (then an edited line below it is Verify's to name), else
                 * its tree's root there, or, for a checkpoint signed
                 * before the tree, its line there. */
                r = stored_note(log, txn, c.published_size, &note);
                if (r == 0)
                        r = published_note_fields(note, origin, &size, c.store_hash);
                else if (r == -ENOENT &&
                         (r = auditree_root(log->store, txn, c.published_size, c.store_hash)) == 0 &&
                         sodium_memcmp(c.store_hash, c.published_hash, AUDIT_HASH_SIZE) != 0)
                        r = audit_line_hash(log, txn, c.published_size - 1, c.store_hash);
                if (r < 0)
                        return r;
                if (sodium_memcmp(c.store_hash, c.published_hash, AUDIT_HASH_SIZE) != 0)
                        c.state = ROLLBACK_FORKED;
        }
        *ret = c;
        return 0;
}

static int write_slot(struct published *p, const char *note)
{
        _cleanup_(freep) char *buf = malloc(PUBLISHED_SLOT_SIZE);
        uint8_t hash[crypto_hash_sha256_BYTES];
        char hex[2 * sizeof(hash) + 1];
        uint64_t gen = p->generation + 1;
        int len, tail;
        off_t off = (off_t)((gen - 1) % 2) * PUBLISHED_SLOT_SIZE;

        if (!buf)
                return -ENOMEM;
        len = snprintf(buf, PUBLISHED_SLOT_SIZE, SLOT_MAGIC "%" PRIu64 "\n%s", gen, note);
        if (len < 0 || (size_t)len + strlen(SLOT_HASH) + sizeof(hex) >= PUBLISHED_SLOT_SIZE)
                return -E2BIG;
        crypto_hash_sha256(hash, (const unsigned char *)buf, (size_t)len);
        hex_encode(hash, sizeof(hash), hex);
        tail = snprintf(buf + len, PUBLISHED_SLOT_SIZE - (size_t)len, SLOT_HASH "%s\n", hex);
        memset(buf + len + tail, '\n', PUBLISHED_SLOT_SIZE - (size_t)(len + tail));
        for (size_t done = 0; done < PUBLISHED_SLOT_SIZE;) {
                ssize_t n = pwrite(p->fd, buf + done, PUBLISHED_SLOT_SIZE - done, off + (off_t)done);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                done += (size_t)n;
        }
        if (fdatasync(p->fd) < 0)
                return -errno;
        p->generation = gen;
        return 0;
}

int published_update(struct published *p, struct audit_log *log)
{
        char origin[PUBLISHED_ORIGIN_MAX],
                b64[sodium_base64_ENCODED_LEN(AUDIT_HASH_SIZE, sodium_base64_VARIANT_ORIGINAL)];
        uint8_t hash[AUDIT_HASH_SIZE];
        uint64_t size = log->checkpoint_size;
        char *note = NULL;
        MDB_txn *txn;
        int r;

        /* Called after every batch: nothing new unless a checkpoint was
         * stored since. */
        if (size == 0 || size == p->seen)
                return 0;
        r = store_read_begin(log->store, &txn);
        if (r < 0)
                return r;
        r = stored_note(log, txn, size, &note);
        store_read_end(log->store, txn);
        if (r == 0)
                r = published_note_fields(note, origin, &size, hash);
        if (r == 0 && p->note && strcmp(p->note, note) == 0) {
                free(note);
                p->seen = size;
                return 0;
        }
        if (r == 0) {
                sodium_bin2base64(b64, sizeof(b64), hash, sizeof(hash), sodium_base64_VARIANT_ORIGINAL);
                log_checkpoint(origin, size, b64, note);
                r = write_slot(p, note);
        }
        if (r < 0) {
                free(note);
                return r;
        }
        free(p->note);
        p->note = note;
        p->size = size;
        p->seen = size;
        p->damaged = false;
        return 0;
}
