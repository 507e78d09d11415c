/* Image lists: "relative/path label" lines (the ILSVRC train/val list
 * format) naming JPEG or PNG files under a root directory, decoded when
 * read (libjpeg-turbo's TurboJPEG API, libpng), resized so that the shorter
 * side has `resize` pixels and center-cropped to size x size, the way
 * torchvision's Resize + CenterCrop do it on PIL images:
 *
 *  - the resize is PIL's bilinear resampling: a triangle filter whose
 *    support grows with the reduction factor (so it averages like an area
 *    filter when shrinking a lot), horizontal pass first, each pass rounded
 *    to 8 bits;
 *  - the new long side is floor(resize * long / short);
 *  - the crop's offsets are round-half-even((side - size) / 2).
 *
 * Grayscale files give 3 equal channels when 3 are asked for; CMYK JPEGs,
 * files that are neither JPEG nor PNG, corrupt and missing files are errors
 * naming the file, or, with the option bad=skip and a reader that asks for
 * validity flags, are logged, flagged and counted by the caller instead.
 * Nothing is read at open but the list: every rank reads the files of its
 * own shard. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>

#include "data_impl.h"

/* Larger decoded images are refused (a corrupt header could otherwise ask
 * for gigabytes): 2^28 pixels, e.g. 16384 x 16384. */
#define MAX_PIXELS ((int64_t)1 << 28)

struct lrc_imagelist {
    char *root;
    char **paths;           /* n relative paths */
    int32_t *labels;        /* n labels */
    int64_t n;
    int64_t size, resize;   /* crop side; shorter side after resizing (0: none) */
    int channels;           /* 3 (RGB or BGR) or 1 (gray) */
    int bgr;
    int skip_bad;           /* bad=skip: flag bad files instead of failing */
    char why[1024];         /* what is wrong with the file just read */
    tjhandle tj;
    uint8_t *file;          /* the current file's bytes */
    size_t file_cap;
    uint8_t *px, *tmp, *rs; /* decoded, half-resized, resized (HWC) */
    size_t px_cap, tmp_cap, rs_cap;
    uint8_t *crop;          /* CHW, size x size x channels */
};

/* A problem with one image file (I/O or content) is kept in s->why, not
 * reported: lrc_imagelist_read reports it as an error or, with bad=skip,
 * logs it and flags the image. */
#define BAD_RAISE(s, code, ...)                                  \
    do {                                                         \
        snprintf((s)->why, sizeof (s)->why, __VA_ARGS__);        \
        return (code);                                           \
    } while (0)
#define BAD_FAIL(s, code, ...)                                   \
    do {                                                         \
        snprintf((s)->why, sizeof (s)->why, __VA_ARGS__);        \
        st = (code);                                             \
        goto cleanup;                                            \
    } while (0)

static lrc_status grow(uint8_t **buf, size_t *cap, size_t need, const char *what)
{
    if (need <= *cap)
        return LRC_OK;
    uint8_t *p = realloc(*buf, need);
    if (!p)
        LRC_RAISE(LRC_ERR_NOMEM, "out of memory for %s (%zu bytes)", what, need);
    *buf = p;
    *cap = need;
    return LRC_OK;
}

/* ---- options and the list ---- */

static lrc_status parse_opts(lrc_imagelist *s, char *opts, const char *spec)
{
    for (char *tok = strtok(opts, ","); tok; tok = strtok(NULL, ",")) {
        char *eq = strchr(tok, '=');
        if (!eq)
            LRC_RAISE(LRC_ERR_ARG, "%s: option '%s' is not key=value", spec, tok);
        *eq = '\0';
        const char *k = tok, *v = eq + 1;
        char *end = NULL;
        if (strcmp(k, "size") == 0 || strcmp(k, "resize") == 0) {
            errno = 0;
            long long x = strtoll(v, &end, 10);
            if (errno || end == v || *end || x < (k[0] == 's' ? 1 : 0) || x > 65536)
                LRC_RAISE(LRC_ERR_ARG, "%s: %s=%s is not a pixel count%s", spec,
                          k, v, k[0] == 's' ? " >= 1" : " >= 0 (0: no resize)");
            *(k[0] == 's' ? &s->size : &s->resize) = x;
        } else if (strcmp(k, "channels") == 0) {
            if (strcmp(v, "1") && strcmp(v, "3"))
                LRC_RAISE(LRC_ERR_ARG, "%s: channels=%s: give 1 or 3", spec, v);
            s->channels = v[0] - '0';
        } else if (strcmp(k, "order") == 0) {
            if (strcmp(v, "rgb") && strcmp(v, "bgr"))
                LRC_RAISE(LRC_ERR_ARG, "%s: order=%s: give rgb or bgr", spec, v);
            s->bgr = v[0] == 'b';
        } else if (strcmp(k, "bad") == 0) {
            if (strcmp(v, "error") && strcmp(v, "skip"))
                LRC_RAISE(LRC_ERR_ARG, "%s: bad=%s: give error or skip", spec, v);
            s->skip_bad = v[0] == 's';
        } else {
            LRC_RAISE(LRC_ERR_ARG, "%s: unknown option '%s' (valid: size, "
                      "resize, channels, order, bad)", spec, k);
        }
    }
    if (s->resize > 0 && s->resize < s->size)
        LRC_RAISE(LRC_ERR_ARG, "%s: resize=%" PRId64 " is smaller than the "
                  "crop size=%" PRId64, spec, s->resize, s->size);
    return LRC_OK;
}

/* Reads LIST: one "path label" per line; blank lines and lines starting
 * with '#' are skipped. */
static lrc_status read_list(lrc_imagelist *s, const char *list, const char *spec)
{
    lrc_status st = LRC_OK;
    FILE *f = fopen(list, "r");
    char *line = NULL;
    size_t cap = 0, lcap = 0;
    int64_t lineno = 0;
    if (!f)
        LRC_RAISE(LRC_ERR_IO, "%s: cannot open the image list %s: %s", spec,
                  list, strerror(errno));
    while (getline(&line, &cap, f) >= 0) {
        lineno++;
        char *p = line;
        while (isspace((unsigned char)*p))
            p++;
        if (!*p || *p == '#')
            continue;
        char *e = p + strlen(p);
        while (e > p && isspace((unsigned char)e[-1]))
            *--e = '\0';
        char *sp = e;
        while (sp > p && !isspace((unsigned char)sp[-1]))
            sp--;
        if (sp == p)
            LRC_FAIL(LRC_ERR_FORMAT, "%s: %s line %" PRId64 ": expected "
                     "'relative/path label'", spec, list, lineno);
        char *end = NULL;
        errno = 0;
        long long lab = strtoll(sp, &end, 10);
        if (errno || end == sp || *end || lab < 0 || lab > LRC_DATA_MAX_LABEL)
            LRC_FAIL(LRC_ERR_FORMAT, "%s: %s line %" PRId64 ": label '%s' is "
                     "not an integer in 0..%d", spec, list, lineno, sp,
                     LRC_DATA_MAX_LABEL);
        char *pe = sp;
        while (pe > p && isspace((unsigned char)pe[-1]))
            pe--;
        *pe = '\0';
        if (s->n == (int64_t)lcap) {
            size_t nc = lcap ? 2 * lcap : 1024;
            char **np = realloc(s->paths, nc * sizeof *np);
            if (!np)
                LRC_FAIL(LRC_ERR_NOMEM, "%s: out of memory for the list", spec);
            s->paths = np;
            int32_t *nl = realloc(s->labels, nc * sizeof *nl);
            if (!nl)
                LRC_FAIL(LRC_ERR_NOMEM, "%s: out of memory for the list", spec);
            s->labels = nl;
            lcap = nc;
        }
        s->paths[s->n] = NULL;
        LRC_TRY(lrc_strdup(&s->paths[s->n], p));
        s->labels[s->n] = (int32_t)lab;
        s->n++;
    }
    if (ferror(f))
        LRC_FAIL(LRC_ERR_IO, "%s: reading %s: %s", spec, list, strerror(errno));
    if (s->n == 0)
        LRC_FAIL(LRC_ERR_FORMAT, "%s: the image list %s names no image", spec, list);
cleanup:
    free(line);
    fclose(f);
    return st;
}

lrc_status lrc_imagelist_open(const char *rest, const char *spec,
                              lrc_imagelist **out, int64_t *n, int64_t chw[3])
{
    lrc_status st = LRC_OK;
    lrc_imagelist *s = NULL;
    char *copy = NULL;
    *out = NULL;
    LRC_TRY(lrc_strdup(&copy, rest));
    char *list = copy, *root = strchr(copy, ':');
    if (!root || root == list || root[1] == '\0')
        LRC_FAIL(LRC_ERR_ARG, "%s: expected imagelist:LIST.txt:ROOT[:OPTIONS] "
                 "(OPTIONS: size=224,resize=256,channels=3,order=rgb)", spec);
    *root++ = '\0';
    char *opts = strchr(root, ':');
    if (opts)
        *opts++ = '\0';
    LRC_TRY(lrc_calloc(&s, 1, sizeof *s, "image list"));
    s->size = 224;
    s->resize = 256;
    s->channels = 3;
    if (opts)
        LRC_TRY(parse_opts(s, opts, spec));
    LRC_TRY(lrc_strdup(&s->root, root));
    LRC_TRY(read_list(s, list, spec));
    s->tj = tjInitDecompress();
    if (!s->tj)
        LRC_FAIL(LRC_ERR_NOMEM, "%s: TurboJPEG: %s", spec, tjGetErrorStr());
    LRC_TRY(lrc_calloc(&s->crop, (size_t)(s->size * s->size * s->channels), 1,
                       "image"));
    *n = s->n;
    chw[0] = s->channels;
    chw[1] = chw[2] = s->size;
    *out = s;
    s = NULL;
cleanup:
    lrc_free(&copy);
    lrc_imagelist_destroy(&s);
    return st;
}

void lrc_imagelist_destroy(lrc_imagelist **sp)
{
    if (!sp || !*sp)
        return;
    lrc_imagelist *s = *sp;
    for (int64_t i = 0; i < s->n; i++)
        free(s->paths[i]);
    free(s->paths);
    free(s->labels);
    lrc_free(&s->root);
    if (s->tj)
        tjDestroy(s->tj);
    free(s->file);
    free(s->px);
    free(s->tmp);
    free(s->rs);
    lrc_free(&s->crop);
    lrc_free(sp);
}

/* ---- decoding ---- */

static lrc_status read_file(lrc_imagelist *s, const char *path, size_t *len)
{
    lrc_status st = LRC_OK;
    FILE *f = fopen(path, "rb");
    if (!f)
        BAD_RAISE(s, LRC_ERR_IO, "cannot open image %s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode))
        BAD_FAIL(s, LRC_ERR_IO, "image %s is not a regular file", path);
    if (fseek(f, 0, SEEK_END) != 0)
        BAD_FAIL(s, LRC_ERR_IO, "cannot read image %s: %s", path, strerror(errno));
    long sz = ftell(f);
    if (sz < 0 || fseek(f, 0, SEEK_SET) != 0)
        BAD_FAIL(s, LRC_ERR_IO, "cannot read image %s: %s", path, strerror(errno));
    LRC_TRY(grow(&s->file, &s->file_cap, (size_t)sz + 1, "an image file"));
    if (fread(s->file, 1, (size_t)sz, f) != (size_t)sz)
        BAD_FAIL(s, LRC_ERR_IO, "cannot read image %s: short read", path);
    *len = (size_t)sz;
cleanup:
    fclose(f);
    return st;
}

static lrc_status decode_jpeg(lrc_imagelist *s, const char *path, size_t len,
                              int *w, int *h)
{
    int sub = 0, cs = 0;
    if (tjDecompressHeader3(s->tj, s->file, (unsigned long)len, w, h, &sub, &cs) != 0)
        BAD_RAISE(s, LRC_ERR_FORMAT, "corrupt JPEG %s: %s", path,
                  tjGetErrorStr2(s->tj));
    if (*w < 1 || *h < 1 || (int64_t)*w * *h > MAX_PIXELS)
        BAD_RAISE(s, LRC_ERR_FORMAT, "JPEG %s: %dx%d pixels is out of range", path,
                  *w, *h);
    if (cs == TJCS_CMYK || cs == TJCS_YCCK)
        BAD_RAISE(s, LRC_ERR_FORMAT, "JPEG %s is CMYK, which is not supported: "
                  "convert it to RGB (e.g. convert -colorspace sRGB)", path);
    const int pf = s->channels == 3 ? TJPF_RGB : TJPF_GRAY;
    LRC_CALL(grow(&s->px, &s->px_cap, (size_t)*w * (size_t)*h * (size_t)s->channels,
                  "a decoded image"));
    /* A warning too (a truncated file decodes with gray filled in): an
     * error rather than a silently wrong image. */
    if (tjDecompress2(s->tj, s->file, (unsigned long)len, s->px, *w, 0, *h, pf,
                      0) != 0)
        BAD_RAISE(s, LRC_ERR_FORMAT, "corrupt or truncated JPEG %s (libjpeg: %s)",
                  path, tjGetErrorStr2(s->tj));
    return LRC_OK;
}

typedef struct png_src {
    const uint8_t *p;
    size_t len, pos;
} png_src;

static void png_read_mem(png_structp png, png_bytep out, png_size_t n)
{
    png_src *src = png_get_io_ptr(png);
    if (n > src->len - src->pos)
        png_error(png, "truncated file");
    memcpy(out, src->p + src->pos, n);
    src->pos += n;
}

static void png_quiet(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

/* libpng reports errors by longjmp: everything it owns is released on both
 * paths; our buffers are grown before the decode starts. */
static lrc_status decode_png(lrc_imagelist *s, const char *path, size_t len,
                             int *w, int *h)
{
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL,
                                             png_quiet);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    png_bytep *volatile rows = NULL; /* volatile: read after a longjmp */
    char msg[200] = "";
    png_src src = {s->file, len, 0};
    if (!png || !info) {
        png_destroy_read_struct(&png, &info, NULL);
        LRC_RAISE(LRC_ERR_NOMEM, "out of memory decoding %s", path);
    }
    if (setjmp(png_jmpbuf(png))) {
        free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        BAD_RAISE(s, LRC_ERR_FORMAT, "corrupt PNG %s%s%s", path, *msg ? ": " : "",
                  msg);
    }
    png_set_read_fn(png, &src, png_read_mem);
    png_read_info(png, info);
    const png_uint_32 pw = png_get_image_width(png, info);
    const png_uint_32 ph = png_get_image_height(png, info);
    const int ct = png_get_color_type(png, info);
    if (pw > 65536 || ph > 65536) {
        snprintf(msg, sizeof msg, "%ux%u pixels is too large", (unsigned)pw,
                 (unsigned)ph);
        png_error(png, msg);
    }
    /* 8-bit gray or RGB, no alpha, no gamma handling (as PIL's convert) */
    png_set_strip_16(png);
    png_set_packing(png);
    if (ct == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (ct == PNG_COLOR_TYPE_GRAY && png_get_bit_depth(png, info) < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    png_set_strip_alpha(png);
    const int is_gray = !(ct & PNG_COLOR_MASK_COLOR);
    if (s->channels == 3 && is_gray)
        png_set_gray_to_rgb(png);
    if (s->channels == 1 && !is_gray)
        png_set_rgb_to_gray_fixed(png, 1, 29900, 58700); /* ITU-R 601, as PIL's "L" */
    png_read_update_info(png, info);
    if (png_get_channels(png, info) != s->channels) {
        snprintf(msg, sizeof msg, "%d channels after conversion, want %d",
                 png_get_channels(png, info), s->channels);
        png_error(png, msg);
    }
    if (s->px_cap < (size_t)pw * ph * (size_t)s->channels) {
        snprintf(msg, sizeof msg, "internal: buffer not grown");
        png_error(png, msg);
    }
    rows = malloc(ph * sizeof *rows);
    if (!rows) {
        snprintf(msg, sizeof msg, "out of memory");
        png_error(png, msg);
    }
    for (png_uint_32 y = 0; y < ph; y++)
        rows[y] = s->px + (size_t)y * pw * (size_t)s->channels;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    *w = (int)pw;
    *h = (int)ph;
    return LRC_OK;
}

/* The PNG's dimensions from its IHDR chunk, to size the buffer before the
 * decode (bytes 16..23, big-endian). */
static lrc_status png_size(lrc_imagelist *s, const uint8_t *b, size_t len,
                           const char *path, uint32_t *w, uint32_t *h)
{
    if (len < 24 || memcmp(b + 12, "IHDR", 4) != 0)
        BAD_RAISE(s, LRC_ERR_FORMAT, "corrupt PNG %s: no IHDR chunk", path);
    *w = (uint32_t)b[16] << 24 | (uint32_t)b[17] << 16 | (uint32_t)b[18] << 8 | b[19];
    *h = (uint32_t)b[20] << 24 | (uint32_t)b[21] << 16 | (uint32_t)b[22] << 8 | b[23];
    if (*w == 0 || *h == 0 || (int64_t)*w * *h > MAX_PIXELS)
        BAD_RAISE(s, LRC_ERR_FORMAT, "PNG %s: %ux%u pixels is out of range", path,
                  (unsigned)*w, (unsigned)*h);
    return LRC_OK;
}

/* ---- PIL's bilinear resampling ---- */

/* Weights of the triangle filter for one axis: for output i, taps
 * [first[i], first[i] + count[i]) with weights w[i * max + k]. */
typedef struct taps {
    int *first, *count;
    double *w;
    int max;
} taps;

static void taps_free(taps *t)
{
    free(t->first);
    free(t->count);
    free(t->w);
}

static lrc_status taps_make(int in, int out, taps *t)
{
    const double scale = (double)in / (double)out;
    const double fscale = scale > 1.0 ? scale : 1.0, support = fscale;
    memset(t, 0, sizeof *t);
    t->max = (int)ceil(support) * 2 + 1;
    t->first = malloc((size_t)out * sizeof *t->first);
    t->count = malloc((size_t)out * sizeof *t->count);
    t->w = calloc((size_t)out * (size_t)t->max, sizeof *t->w);
    if (!t->first || !t->count || !t->w) {
        taps_free(t);
        LRC_RAISE(LRC_ERR_NOMEM, "out of memory for resampling weights");
    }
    for (int i = 0; i < out; i++) {
        const double center = ((double)i + 0.5) * scale;
        int lo = (int)(center - support + 0.5), hi = (int)(center + support + 0.5);
        lo = lo < 0 ? 0 : lo;
        hi = hi > in ? in : hi;
        double sum = 0;
        double *w = t->w + (size_t)i * (size_t)t->max;
        int k = 0;
        for (int x = lo; x < hi && k < t->max; x++, k++) {
            const double v = fabs(((double)x - center + 0.5) / fscale);
            w[k] = v < 1.0 ? 1.0 - v : 0.0;
            sum += w[k];
        }
        for (int q = 0; q < k && sum != 0; q++)
            w[q] /= sum;
        t->first[i] = lo;
        t->count[i] = k;
    }
    return LRC_OK;
}

static uint8_t round8(double v)
{
    v = floor(v + 0.5);
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* src (sw x sh x c) -> dst (dw x dh x c), horizontal pass first, each pass
 * rounded to 8 bits as PIL does. */
static lrc_status resample(lrc_imagelist *s, int sw, int sh, int dw, int dh)
{
    lrc_status st = LRC_OK;
    const int c = s->channels;
    taps tx, ty;
    memset(&tx, 0, sizeof tx);
    memset(&ty, 0, sizeof ty);
    LRC_TRY(taps_make(sw, dw, &tx));
    LRC_TRY(taps_make(sh, dh, &ty));
    LRC_TRY(grow(&s->tmp, &s->tmp_cap, (size_t)dw * (size_t)sh * (size_t)c, "resizing"));
    LRC_TRY(grow(&s->rs, &s->rs_cap, (size_t)dw * (size_t)dh * (size_t)c, "resizing"));
    for (int y = 0; y < sh; y++)
        for (int x = 0; x < dw; x++) {
            const double *w = tx.w + (size_t)x * (size_t)tx.max;
            for (int ch = 0; ch < c; ch++) {
                double acc = 0;
                for (int k = 0; k < tx.count[x]; k++)
                    acc += w[k] * s->px[((size_t)y * (size_t)sw + (size_t)(tx.first[x] + k)) * (size_t)c + (size_t)ch];
                s->tmp[((size_t)y * (size_t)dw + (size_t)x) * (size_t)c + (size_t)ch] = round8(acc);
            }
        }
    for (int y = 0; y < dh; y++) {
        const double *w = ty.w + (size_t)y * (size_t)ty.max;
        for (int x = 0; x < dw; x++)
            for (int ch = 0; ch < c; ch++) {
                double acc = 0;
                for (int k = 0; k < ty.count[y]; k++)
                    acc += w[k] * s->tmp[((size_t)(ty.first[y] + k) * (size_t)dw + (size_t)x) * (size_t)c + (size_t)ch];
                s->rs[((size_t)y * (size_t)dw + (size_t)x) * (size_t)c + (size_t)ch] = round8(acc);
            }
    }
cleanup:
    taps_free(&tx);
    taps_free(&ty);
    return st;
}

/* One image into s->crop (CHW, channel order applied). */
static lrc_status load_one(lrc_imagelist *s, int64_t i, const char *spec)
{
    lrc_status st = LRC_OK;
    char *path = NULL;
    size_t len = 0;
    int w = 0, h = 0;
    const size_t plen = strlen(s->root) + strlen(s->paths[i]) + 2;
    LRC_TRY(lrc_calloc(&path, plen, 1, "file path"));
    snprintf(path, plen, "%s/%s", s->root, s->paths[i]);
    LRC_TRY(read_file(s, path, &len));
    const uint8_t *b = s->file;
    if (len >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) {
        LRC_TRY(decode_jpeg(s, path, len, &w, &h));
    } else if (len >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0) {
        uint32_t pw = 0, ph = 0;
        LRC_TRY(png_size(s, b, len, path, &pw, &ph));
        LRC_TRY(grow(&s->px, &s->px_cap, (size_t)pw * ph * (size_t)s->channels,
                     "a decoded image"));
        LRC_TRY(decode_png(s, path, len, &w, &h));
    } else {
        BAD_FAIL(s, LRC_ERR_FORMAT, "%s (line %" PRId64 " of %s) is neither a JPEG "
                 "nor a PNG file", path, i + 1, spec);
    }
    const uint8_t *img = s->px;
    int iw = w, ih = h;
    if (s->resize > 0 && (w < h ? w : h) != s->resize) {
        const int64_t sh = w < h ? w : h, lg = w < h ? h : w;
        const int64_t nl = s->resize * lg / sh;
        if (nl * s->resize > MAX_PIXELS)
            BAD_FAIL(s, LRC_ERR_FORMAT, "image %s (%dx%d) would be %" PRId64
                     " pixels after resizing its shorter side to %" PRId64
                     ": its aspect ratio is too extreme", path, w, h,
                     nl * s->resize, s->resize);
        iw = (int)(w < h ? s->resize : nl);
        ih = (int)(w < h ? nl : s->resize);
        LRC_TRY(resample(s, w, h, iw, ih));
        img = s->rs;
    }
    if (iw < s->size || ih < s->size)
        BAD_FAIL(s, LRC_ERR_FORMAT, "image %s is %dx%d after resizing, smaller than "
                 "the %" PRId64 "x%" PRId64 " crop", path, iw, ih, s->size, s->size);
    const int top = (int)nearbyint((double)(ih - s->size) / 2.0);
    const int left = (int)nearbyint((double)(iw - s->size) / 2.0);
    const int64_t c = s->channels, plane = s->size * s->size;
    for (int64_t y = 0; y < s->size; y++)
        for (int64_t x = 0; x < s->size; x++)
            for (int64_t ch = 0; ch < c; ch++) {
                const int64_t src = (((int64_t)top + y) * iw + left + x) * c + ch;
                const int64_t dch = s->bgr ? c - 1 - ch : ch;
                s->crop[dch * plane + y * s->size + x] = img[src];
            }
cleanup:
    lrc_free(&path);
    return st;
}

void lrc_imagelist_skip_bad(lrc_imagelist *s, int on)
{
    s->skip_bad = on != 0;
}

int lrc_imagelist_skips_bad(const lrc_imagelist *s)
{
    return s->skip_bad;
}

lrc_status lrc_imagelist_read(lrc_imagelist *s, int64_t start, int64_t count,
                              const lrc_norm *norm, float *images,
                              int32_t *labels, uint8_t *ok, const char *what)
{
    const int64_t chw[3] = {s->channels, s->size, s->size};
    const int64_t per = s->channels * s->size * s->size;
    for (int64_t i = 0; i < count; i++) {
        if (labels)
            labels[i] = s->labels[start + i];
        if (ok)
            ok[i] = 1;
        if (!images)
            continue;
        s->why[0] = '\0';
        lrc_status st = load_one(s, start + i, what);
        if (st != LRC_OK && !s->why[0])
            return st; /* reported where it happened (out of memory) */
        if (st != LRC_OK && !(ok && s->skip_bad))
            return lrc_error_report(st, __FILE__, __LINE__, __func__, "%s",
                                    s->why);
        if (st != LRC_OK) {
            lrc_log("skipping image %" PRId64 " (bad=skip): %s", start + i,
                    s->why);
            ok[i] = 0;
            memset(images + i * per, 0, (size_t)per * sizeof *images);
            continue;
        }
        LRC_CALL(lrc_norm_apply_u8(norm, s->crop, 1, chw, images + i * per, what));
    }
    return LRC_OK;
}
