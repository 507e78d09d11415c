/* IDX files (the MNIST format), gzipped or plain: zlib's gzread reads both.
 * Only unsigned-byte files are handled: images with magic 0x00000803
 * (N x H x W) and labels with magic 0x00000801 (N). The header's integers are
 * big-endian. Everything is loaded at open: Fashion-MNIST's training images
 * are 47 MB as bytes. */
#include "lrc/data.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "data_impl.h"

#define IDX_MAGIC_IMAGES 0x00000803u
#define IDX_MAGIC_LABELS 0x00000801u

/* Deflate cannot expand data by more than about 1032:1, so a gzip file of S
 * bytes cannot hold more than this many times S: a header promising more is
 * rejected before allocating what it asks for. */
#define DEFLATE_MAX_RATIO 1032u

/* gzread takes an unsigned length and returns an int: read in pieces. */
#define GZ_CHUNK ((size_t)1 << 30)

struct lrc_idx_set {
    int64_t n, h, w;
    uint8_t *pixels; /* n x h x w */
    uint8_t *labels; /* n */
};

static uint32_t be32(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 |
           (uint32_t)b[3];
}

/* Fails on a missing path or a directory; *size is the file's size in bytes,
 * or -1 when it is not a regular file (a pipe, say). */
static lrc_status check_path(const char *path, const char *kind,
                             int64_t *size)
{
    struct stat sb;
    *size = -1;
    if (stat(path, &sb) != 0) {
        if (errno == ENOENT)
            LRC_RAISE(LRC_ERR_IO, "%s: no such file (IDX %s)", path, kind);
        LRC_RAISE(LRC_ERR_IO, "%s: cannot open IDX %s: %s", path, kind,
                  strerror(errno));
    }
    if (S_ISDIR(sb.st_mode))
        LRC_RAISE(LRC_ERR_IO, "%s: is a directory, expected an IDX %s file",
                  path, kind);
    if (S_ISREG(sb.st_mode))
        *size = (int64_t)sb.st_size;
    return LRC_OK;
}

/* Reads up to len bytes; *got says how many came. A short count means the
 * data ended early; the caller reports it as truncation. */
static lrc_status gz_read_all(gzFile gz, const char *path, void *buf,
                              size_t len, size_t *got)
{
    size_t done = 0;
    *got = 0;
    while (done < len) {
        size_t want = len - done < GZ_CHUNK ? len - done : GZ_CHUNK;
        int r = gzread(gz, (unsigned char *)buf + done, (unsigned)want);
        if (r < 0) {
            int errnum = Z_OK;
            const char *msg = gzerror(gz, &errnum);
            if (errnum == Z_ERRNO)
                LRC_RAISE(LRC_ERR_IO, "%s: read failed: %s", path,
                          strerror(errno));
            if (errnum == Z_BUF_ERROR) /* "unexpected end of file" */
                break;
            LRC_RAISE(LRC_ERR_FORMAT, "%s: corrupt gzip data: %s", path,
                      msg ? msg : "unknown zlib error");
        }
        if (r == 0)
            break;
        done += (size_t)r;
    }
    *got = done;
    return LRC_OK;
}

/* Loads one IDX file: checks the magic, reads `ndims` dimensions into dims
 * and all the bytes they promise into *data (the caller frees it). */
static lrc_status idx_load(const char *path, uint32_t magic, const char *kind,
                           int ndims, uint32_t dims[3], uint8_t **data)
{
    lrc_status st = LRC_OK;
    gzFile gz = NULL;
    uint8_t *buf = NULL;
    unsigned char hdr[16];
    const size_t hdr_len = 4 + 4 * (size_t)ndims;
    int64_t file_size = -1;
    size_t got = 0, total = 1;

    *data = NULL;
    LRC_TRY(check_path(path, kind, &file_size));
    errno = 0;
    gz = gzopen(path, "rb");
    if (!gz)
        LRC_FAIL(LRC_ERR_IO, "%s: cannot open IDX %s: %s", path, kind,
                 errno ? strerror(errno) : "out of memory in zlib");

    LRC_TRY(gz_read_all(gz, path, hdr, hdr_len, &got));
    if (got < 4 || be32(hdr) != magic) {
        if (got < 4)
            LRC_FAIL(LRC_ERR_FORMAT,
                     "%s: truncated: %zu bytes, an IDX %s header needs %zu",
                     path, got, kind, hdr_len);
        LRC_FAIL(LRC_ERR_FORMAT, "%s: wrong IDX magic 0x%08x, expected "
                 "0x%08x (uint8 %s)", path, (unsigned)be32(hdr),
                 (unsigned)magic, kind);
    }
    if (got < hdr_len)
        LRC_FAIL(LRC_ERR_FORMAT,
                 "%s: truncated: %zu bytes, an IDX %s header needs %zu", path,
                 got, kind, hdr_len);
    for (int d = 0; d < ndims; d++) {
        dims[d] = be32(hdr + 4 + 4 * d);
        if (dims[d] == 0)
            LRC_FAIL(LRC_ERR_FORMAT, "%s: IDX %s dimension %d is 0", path,
                     kind, d);
        LRC_TRY(lrc_mul_size(total, dims[d], &total, path));
    }

    if (file_size >= 0) {
        /* gzdirect is valid once something has been read. */
        uint64_t avail = (uint64_t)file_size;
        if (gzdirect(gz))
            avail = avail > hdr_len ? avail - hdr_len : 0;
        else if (avail <= UINT64_MAX / DEFLATE_MAX_RATIO)
            avail *= DEFLATE_MAX_RATIO;
        else
            avail = UINT64_MAX;
        if ((uint64_t)total > avail)
            LRC_FAIL(LRC_ERR_FORMAT,
                     "%s: truncated: the header promises %zu bytes of %s, "
                     "the %s file of %" PRId64 " bytes cannot hold them",
                     path, total, kind, gzdirect(gz) ? "plain" : "gzip",
                     file_size);
    }

    LRC_TRY(lrc_calloc(&buf, total, 1, path));
    LRC_TRY(gz_read_all(gz, path, buf, total, &got));
    if (got < total)
        LRC_FAIL(LRC_ERR_FORMAT,
                 "%s: truncated: the header promises %zu bytes of %s, the "
                 "file holds %zu", path, total, kind, got);
    *data = buf;
    buf = NULL;
cleanup:
    if (gz)
        gzclose(gz); /* read-only: every error that matters is reported */
    lrc_free(&buf);
    return st;
}

lrc_status lrc_idx_open(const char *images_path, const char *labels_path,
                        lrc_idx_set **out, int64_t *n, int64_t chw[3])
{
    lrc_status st = LRC_OK;
    lrc_idx_set *s = NULL;
    uint32_t idims[3] = {0, 0, 0}, ldims[3] = {0, 0, 0};

    *out = NULL;
    LRC_TRY(lrc_calloc(&s, 1, sizeof *s, "IDX data set"));
    LRC_TRY(idx_load(images_path, IDX_MAGIC_IMAGES, "images", 3, idims,
                     &s->pixels));
    LRC_TRY(idx_load(labels_path, IDX_MAGIC_LABELS, "labels", 1, ldims,
                     &s->labels));
    if (idims[0] != ldims[0])
        LRC_FAIL(LRC_ERR_FORMAT,
                 "%s holds %" PRIu32 " images but %s holds %" PRIu32
                 " labels", images_path, idims[0], labels_path, ldims[0]);
    s->n = idims[0];
    s->h = idims[1];
    s->w = idims[2];
    *n = s->n;
    chw[0] = 1;
    chw[1] = s->h;
    chw[2] = s->w;
    *out = s;
    return LRC_OK;
cleanup:
    lrc_idx_destroy(&s);
    return st;
}

void lrc_idx_destroy(lrc_idx_set **s)
{
    if (!s || !*s)
        return;
    lrc_free(&(*s)->pixels);
    lrc_free(&(*s)->labels);
    lrc_free(s);
}

lrc_status lrc_idx_read(const lrc_idx_set *s, int64_t start, int64_t count,
                        const lrc_norm *norm, float *images, int32_t *labels,
                        const char *what)
{
    const int64_t chw[3] = {1, s->h, s->w};
    const size_t per = (size_t)s->h * (size_t)s->w;
    if (images)
        LRC_CALL(lrc_norm_apply_u8(norm, s->pixels + (size_t)start * per,
                                   count, chw, images, what));
    if (labels)
        for (int64_t i = 0; i < count; i++)
            labels[i] = s->labels[start + i];
    return LRC_OK;
}
