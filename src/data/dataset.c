/* Data sets: the spec parser and the handle that dispatches to the IDX (in
 * memory) and HDF5 (on demand) readers. */
#include "lrc/data.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data_impl.h"

#define FMNIST_ENV "LRC_FASHION_MNIST_DIR"
#define FMNIST_DEFAULT_DIR "/usr/share/datasets/fashion-mnist"
#define SPEC_FORMS                                                             \
    "fashion-mnist:train, fashion-mnist:test, idx:IMAGES,LABELS, h5:FILE.h5, " \
    "imagelist:LIST.txt:ROOT[:OPTIONS]"

static const char *after_prefix(const char *s, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(s, prefix, n) == 0 ? s + n : NULL;
}

/* Builds dir/name into a new string. */
static lrc_status join_path(char **out, const char *dir, const char *name)
{
    size_t len = strlen(dir) + 1 + strlen(name) + 1;
    LRC_CALL(lrc_calloc(out, len, 1, "file path"));
    snprintf(*out, len, "%s/%s", dir, name);
    return LRC_OK;
}

static lrc_status open_fashion_mnist(lrc_dataset *ds, const char *split)
{
    lrc_status st = LRC_OK;
    char *images = NULL, *labels = NULL;
    const char *stem = NULL;
    struct stat sb;

    if (strcmp(split, "train") == 0)
        stem = "train";
    else if (strcmp(split, "test") == 0)
        stem = "t10k";
    else
        LRC_RAISE(LRC_ERR_ARG, "%s: unknown Fashion-MNIST split '%s' (valid: "
                  "train, test)", ds->spec, split);

    const char *dir = getenv(FMNIST_ENV);
    const int from_env = dir && *dir;
    if (!from_env)
        dir = FMNIST_DEFAULT_DIR;
    const int rc = stat(dir, &sb);
    if (rc != 0 || !S_ISDIR(sb.st_mode)) {
        const char *why = rc != 0 ? strerror(errno) : "not a directory";
        if (from_env)
            LRC_RAISE(LRC_ERR_IO, "%s: Fashion-MNIST directory %s (from %s): "
                      "%s; point %s at the directory holding the IDX files, "
                      "or unset it and install the package "
                      "dataset-fashion-mnist", ds->spec, dir, FMNIST_ENV, why,
                      FMNIST_ENV);
        LRC_RAISE(LRC_ERR_IO, "%s: Fashion-MNIST directory %s: %s; install "
                  "the package dataset-fashion-mnist (apt-get install "
                  "dataset-fashion-mnist) or set %s", ds->spec, dir, why,
                  FMNIST_ENV);
    }
    char name[64];
    snprintf(name, sizeof name, "%s-images-idx3-ubyte.gz", stem);
    LRC_TRY(join_path(&images, dir, name));
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte.gz", stem);
    LRC_TRY(join_path(&labels, dir, name));
    LRC_TRY(lrc_idx_open(images, labels, &ds->idx, &ds->n, ds->chw));
cleanup:
    lrc_free(&images);
    lrc_free(&labels);
    return st;
}

static lrc_status open_idx(lrc_dataset *ds, const char *paths)
{
    lrc_status st = LRC_OK;
    char *images = NULL;
    const char *comma = strchr(paths, ',');

    if (!comma || comma == paths || comma[1] == '\0' ||
        strchr(comma + 1, ','))
        LRC_RAISE(LRC_ERR_ARG, "%s: expected idx:IMAGES,LABELS (two paths "
                  "separated by one comma)", ds->spec);
    size_t len = (size_t)(comma - paths);
    LRC_TRY(lrc_calloc(&images, len + 1, 1, "file path"));
    memcpy(images, paths, len);
    LRC_TRY(lrc_idx_open(images, comma + 1, &ds->idx, &ds->n, ds->chw));
cleanup:
    lrc_free(&images);
    return st;
}

lrc_status lrc_dataset_open(const char *spec, lrc_dataset **out)
{
    lrc_status st = LRC_OK;
    lrc_dataset *ds = NULL;
    const char *rest = NULL;

    *out = NULL;
    if (!spec || !*spec)
        LRC_RAISE(LRC_ERR_ARG, "empty data spec; valid forms are " SPEC_FORMS);
    LRC_TRY(lrc_calloc(&ds, 1, sizeof *ds, "data set"));
    LRC_TRY(lrc_strdup(&ds->spec, spec));
    if ((rest = after_prefix(spec, "fashion-mnist:"))) {
        LRC_TRY(open_fashion_mnist(ds, rest));
    } else if ((rest = after_prefix(spec, "idx:"))) {
        LRC_TRY(open_idx(ds, rest));
    } else if ((rest = after_prefix(spec, "h5:"))) {
        if (!*rest)
            LRC_FAIL(LRC_ERR_ARG, "%s: expected h5:FILE.h5", spec);
        LRC_TRY(lrc_h5_open(rest, &ds->h5, &ds->n, ds->chw));
    } else if ((rest = after_prefix(spec, "imagelist:"))) {
        LRC_TRY(lrc_imagelist_open(rest, spec, &ds->list, &ds->n, ds->chw));
    } else {
        LRC_FAIL(LRC_ERR_ARG, "%s: unknown data spec; valid forms are "
                 SPEC_FORMS, spec);
    }
    *out = ds;
    return LRC_OK;
cleanup:
    lrc_dataset_destroy(&ds);
    return st;
}

void lrc_dataset_destroy(lrc_dataset **ds)
{
    if (!ds || !*ds)
        return;
    lrc_idx_destroy(&(*ds)->idx);
    lrc_h5_destroy(&(*ds)->h5);
    lrc_imagelist_destroy(&(*ds)->list);
    lrc_free(&(*ds)->spec);
    lrc_free(ds);
}

int64_t lrc_dataset_count(const lrc_dataset *ds)
{
    return ds ? ds->n : 0;
}

void lrc_dataset_shape(const lrc_dataset *ds, int64_t chw[3])
{
    for (int i = 0; i < 3; i++)
        chw[i] = ds ? ds->chw[i] : 0;
}

const char *lrc_dataset_spec(const lrc_dataset *ds)
{
    return ds ? ds->spec : NULL;
}

lrc_status lrc_dataset_read_ok(lrc_dataset *ds, int64_t start, int64_t count,
                               const lrc_norm *norm, float *images,
                               int32_t *labels, uint8_t *ok)
{
    if (!ds)
        LRC_RAISE(LRC_ERR_ARG, "no data set to read from");
    if (start < 0 || count < 0 || start > ds->n || count > ds->n - start)
        LRC_RAISE(LRC_ERR_ARG, "%s: cannot read images [%" PRId64 ", %" PRId64
                  " + %" PRId64 "): the set holds images [0, %" PRId64 ")",
                  ds->spec, start, start, count, ds->n);
    if (count > 0 && !images && !labels)
        LRC_RAISE(LRC_ERR_ARG, "%s: read of %" PRId64 " images with neither "
                  "an image nor a label buffer", ds->spec, count);
    LRC_CALL(lrc_norm_check(norm, ds->chw[0], ds->spec));
    if (count == 0)
        return LRC_OK;
    if (ok && !ds->list)
        memset(ok, 1, (size_t)count);
    if (ds->idx)
        return lrc_idx_read(ds->idx, start, count, norm, images, labels,
                            ds->spec);
    if (ds->h5)
        return lrc_h5_read(ds->h5, start, count, norm, images, labels,
                           ds->spec);
    if (ds->list)
        return lrc_imagelist_read(ds->list, start, count, norm, images, labels,
                                  ok, ds->spec);
    LRC_RAISE(LRC_ERR_INTERNAL, "%s: data set has no reader", ds->spec);
}

lrc_status lrc_dataset_read(lrc_dataset *ds, int64_t start, int64_t count,
                            const lrc_norm *norm, float *images,
                            int32_t *labels)
{
    return lrc_dataset_read_ok(ds, start, count, norm, images, labels, NULL);
}

lrc_status lrc_dataset_skip_bad(lrc_dataset *ds, int on)
{
    if (!ds)
        LRC_RAISE(LRC_ERR_ARG, "no data set");
    if (!ds->list) {
        if (!on)
            return LRC_OK;
        LRC_RAISE(LRC_ERR_ARG, "%s: bad_images: skip applies to image lists "
                  "(imagelist:...) only; this set has no image files that "
                  "could be bad", ds->spec);
    }
    lrc_imagelist_skip_bad(ds->list, on);
    return LRC_OK;
}

int lrc_dataset_skips_bad(const lrc_dataset *ds)
{
    return ds && ds->list && lrc_imagelist_skips_bad(ds->list);
}
