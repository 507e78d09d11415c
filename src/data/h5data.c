/* HDF5 data sets: "images" (N x C x H x W or N x H x W, uint8 or float32,
 * pixel units 0..255) and "labels" (N, any integer type, read as int32).
 * The file stays open and images are read by hyperslab when asked for, so
 * a set larger than memory can be sharded across ranks.
 *
 * HDF5 prints its error stack by itself on every failure. Where we report a
 * failure ourselves we switch that off for the duration of the call (saving
 * and restoring the caller's handler, which is per-thread library state) and
 * quote the innermost HDF5 message in our one line instead. */
#include "core/h5quiet.h"
#include "lrc/data.h"

#include <errno.h>
#include <hdf5.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "data_impl.h"

struct lrc_h5_set {
    char *path;
    hid_t file, images, labels;
    int is_float; /* images are float32; otherwise uint8 */
    int rank;     /* of "images": 3 or 4 */
    int64_t n, chw[3];
};

typedef struct h5_msg {
    char text[256];
} h5_msg;

/* Walking upward, the first entry is the innermost: the actual cause. */
static herr_t keep_innermost(unsigned n, const H5E_error2_t *err, void *data)
{
    h5_msg *m = data;
    if (n == 0 && err->desc)
        snprintf(m->text, sizeof m->text, "%s", err->desc);
    return 0;
}

/* The innermost message of the current HDF5 error stack, or a placeholder. */
static const char *h5_cause(h5_msg *m)
{
    snprintf(m->text, sizeof m->text, "no HDF5 message");
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, keep_innermost, m);
    return m->text;
}

/* "uint8", "int16", "float64", ... for messages. */
static void type_name(hid_t type, char *buf, size_t len)
{
    H5T_class_t cls = H5Tget_class(type);
    size_t bits = H5Tget_size(type) * 8;
    if (cls == H5T_INTEGER)
        snprintf(buf, len, "%sint%zu",
                 H5Tget_sign(type) == H5T_SGN_NONE ? "u" : "", bits);
    else if (cls == H5T_FLOAT)
        snprintf(buf, len, "float%zu", bits);
    else if (cls == H5T_STRING)
        snprintf(buf, len, "string");
    else if (cls == H5T_COMPOUND)
        snprintf(buf, len, "compound");
    else
        snprintf(buf, len, "HDF5 type class %d", (int)cls);
}

/* Opens dataset `name` and returns its rank and dims (up to 4) and type. */
static lrc_status open_dataset(lrc_h5_set *s, const char *name, hid_t *ds,
                               int *rank, hsize_t dims[4], hid_t *type)
{
    lrc_status st = LRC_OK;
    hid_t space = H5I_INVALID_HID;
    h5_msg m;
    htri_t exists = H5Lexists(s->file, name, H5P_DEFAULT);
    if (exists < 0)
        LRC_FAIL(LRC_ERR_HDF5, "%s: cannot look up dataset '%s': %s", s->path,
                 name, h5_cause(&m));
    if (exists == 0)
        LRC_FAIL(LRC_ERR_FORMAT, "%s: no dataset '%s' (an h5 data set needs "
                 "'images' and 'labels')", s->path, name);
    *ds = H5Dopen2(s->file, name, H5P_DEFAULT);
    if (*ds < 0)
        LRC_FAIL(LRC_ERR_FORMAT, "%s: '%s' is not a readable dataset: %s",
                 s->path, name, h5_cause(&m));
    space = H5Dget_space(*ds);
    LRC_TRY_H5(space, "%s: cannot get the dataspace of '%s': %s", s->path,
               name, h5_cause(&m));
    *rank = H5Sget_simple_extent_ndims(space);
    LRC_TRY_H5(*rank, "%s: cannot get the rank of '%s': %s", s->path, name,
               h5_cause(&m));
    if (*rank < 1 || *rank > 4)
        LRC_FAIL(LRC_ERR_FORMAT, "%s: dataset '%s' has rank %d", s->path,
                 name, *rank);
    LRC_TRY_H5(H5Sget_simple_extent_dims(space, dims, NULL),
               "%s: cannot get the dimensions of '%s': %s", s->path, name,
               h5_cause(&m));
    *type = H5Dget_type(*ds);
    LRC_TRY_H5(*type, "%s: cannot get the type of '%s': %s", s->path, name,
               h5_cause(&m));
cleanup:
    if (space >= 0)
        H5Sclose(space);
    return st;
}

static lrc_status h5_open_quiet(lrc_h5_set *s)
{
    lrc_status st = LRC_OK;
    hid_t itype = H5I_INVALID_HID, ltype = H5I_INVALID_HID;
    hsize_t idims[4] = {0, 0, 0, 0}, ldims[4] = {0, 0, 0, 0};
    int lrank = 0;
    char tname[64];
    h5_msg m;

    htri_t is_h5 = H5Fis_hdf5(s->path);
    if (is_h5 < 0)
        LRC_FAIL(LRC_ERR_IO, "%s: cannot read the file: %s", s->path,
                 h5_cause(&m));
    if (is_h5 == 0)
        LRC_FAIL(LRC_ERR_FORMAT, "%s: not an HDF5 file", s->path);
    s->file = H5Fopen(s->path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (s->file < 0)
        LRC_FAIL(LRC_ERR_IO, "%s: cannot open the HDF5 file: %s", s->path,
                 h5_cause(&m));

    LRC_TRY(open_dataset(s, "images", &s->images, &s->rank, idims, &itype));
    if (s->rank != 3 && s->rank != 4)
        LRC_FAIL(LRC_ERR_FORMAT, "%s: dataset 'images' has rank %d, expected "
                 "4 (N x C x H x W) or 3 (N x H x W)", s->path, s->rank);
    H5T_class_t icls = H5Tget_class(itype);
    size_t isize = H5Tget_size(itype);
    if (icls == H5T_INTEGER && isize == 1 &&
        H5Tget_sign(itype) == H5T_SGN_NONE) {
        s->is_float = 0;
    } else if (icls == H5T_FLOAT && isize == 4) {
        s->is_float = 1;
    } else {
        type_name(itype, tname, sizeof tname);
        LRC_FAIL(LRC_ERR_UNSUPPORTED, "%s: dataset 'images' has type %s, "
                 "expected uint8 or float32", s->path, tname);
    }
    s->n = (int64_t)idims[0];
    s->chw[0] = s->rank == 4 ? (int64_t)idims[1] : 1;
    s->chw[1] = (int64_t)idims[s->rank - 2];
    s->chw[2] = (int64_t)idims[s->rank - 1];
    for (int d = 0; d < s->rank; d++)
        if (idims[d] == 0 || idims[d] > (hsize_t)INT64_MAX)
            LRC_FAIL(LRC_ERR_FORMAT, "%s: dataset 'images' has dimension %d "
                     "of size %llu", s->path, d,
                     (unsigned long long)idims[d]);
    size_t per = 0;
    LRC_TRY(lrc_mul_size((size_t)s->chw[0], (size_t)s->chw[1], &per,
                         "an image"));
    LRC_TRY(lrc_mul_size(per, (size_t)s->chw[2], &per, "an image"));

    LRC_TRY(open_dataset(s, "labels", &s->labels, &lrank, ldims, &ltype));
    if (lrank != 1)
        LRC_FAIL(LRC_ERR_FORMAT, "%s: dataset 'labels' has rank %d, expected "
                 "1 (N)", s->path, lrank);
    if (H5Tget_class(ltype) != H5T_INTEGER) {
        type_name(ltype, tname, sizeof tname);
        LRC_FAIL(LRC_ERR_UNSUPPORTED, "%s: dataset 'labels' has type %s, "
                 "expected an integer type", s->path, tname);
    }
    if (ldims[0] != idims[0])
        LRC_FAIL(LRC_ERR_FORMAT, "%s: 'images' holds %llu images but "
                 "'labels' holds %llu labels", s->path,
                 (unsigned long long)idims[0], (unsigned long long)ldims[0]);
cleanup:
    if (itype >= 0)
        H5Tclose(itype);
    if (ltype >= 0)
        H5Tclose(ltype);
    return st;
}

lrc_status lrc_h5_open(const char *path, lrc_h5_set **out, int64_t *n,
                       int64_t chw[3])
{
    lrc_status st = LRC_OK;
    lrc_h5_set *s = NULL;
    struct stat sb;
    lrc_h5_quiet q;

    *out = NULL;
    if (stat(path, &sb) != 0) {
        if (errno == ENOENT)
            LRC_RAISE(LRC_ERR_IO, "%s: no such file (HDF5 data set)", path);
        LRC_RAISE(LRC_ERR_IO, "%s: cannot open HDF5 data set: %s", path,
                  strerror(errno));
    }
    if (S_ISDIR(sb.st_mode))
        LRC_RAISE(LRC_ERR_IO, "%s: is a directory, expected an HDF5 file",
                  path);
    LRC_TRY(lrc_calloc(&s, 1, sizeof *s, "HDF5 data set"));
    s->file = s->images = s->labels = H5I_INVALID_HID;
    LRC_TRY(lrc_strdup(&s->path, path));
    lrc_h5_quiet_begin(&q);
    st = h5_open_quiet(s);
    lrc_h5_quiet_end(&q);
    if (st != LRC_OK)
        goto cleanup;
    *n = s->n;
    memcpy(chw, s->chw, sizeof s->chw);
    *out = s;
    return LRC_OK;
cleanup:
    lrc_h5_destroy(&s);
    return st;
}

void lrc_h5_destroy(lrc_h5_set **s)
{
    if (!s || !*s)
        return;
    lrc_h5_set *p = *s;
    if (p->images >= 0)
        H5Dclose(p->images);
    if (p->labels >= 0)
        H5Dclose(p->labels);
    if (p->file >= 0)
        H5Fclose(p->file);
    lrc_free(&p->path);
    lrc_free(s);
}

/* Reads rows [start, start + count) of dataset `ds` (the rest of each row
 * whole) as `mtype` into buf, which holds `elems` values. */
static lrc_status read_rows(const lrc_h5_set *s, hid_t ds, const char *name,
                            int64_t start, int64_t count,
                            hid_t mtype, size_t elems, void *buf)
{
    lrc_status st = LRC_OK;
    hid_t fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID;
    hsize_t off[4] = {0, 0, 0, 0}, cnt[4] = {0, 0, 0, 0};
    hsize_t mdim = (hsize_t)elems;
    h5_msg m;

    fspace = H5Dget_space(ds);
    LRC_TRY_H5(fspace, "%s: cannot get the dataspace of '%s': %s", s->path,
               name, h5_cause(&m));
    LRC_TRY_H5(H5Sget_simple_extent_dims(fspace, cnt, NULL),
               "%s: cannot get the dimensions of '%s': %s", s->path, name,
               h5_cause(&m));
    off[0] = (hsize_t)start;
    cnt[0] = (hsize_t)count;
    LRC_TRY_H5(H5Sselect_hyperslab(fspace, H5S_SELECT_SET, off, NULL, cnt,
                                   NULL),
               "%s: cannot select rows [%" PRId64 ", %" PRId64 ") of '%s': %s",
               s->path, start, start + count, name, h5_cause(&m));
    mspace = H5Screate_simple(1, &mdim, NULL);
    LRC_TRY_H5(mspace, "%s: cannot create a memory dataspace of %zu values: "
               "%s", s->path, elems, h5_cause(&m));
    LRC_TRY_H5(H5Dread(ds, mtype, mspace, fspace, H5P_DEFAULT, buf),
               "%s: cannot read rows [%" PRId64 ", %" PRId64 ") of '%s': %s",
               s->path, start, start + count, name, h5_cause(&m));
cleanup:
    if (mspace >= 0)
        H5Sclose(mspace);
    if (fspace >= 0)
        H5Sclose(fspace);
    return st;
}

static lrc_status h5_read_quiet(lrc_h5_set *s, int64_t start, int64_t count,
                                const lrc_norm *norm, float *images,
                                int32_t *labels, const char *what)
{
    lrc_status st = LRC_OK;
    uint8_t *raw = NULL;
    size_t per = (size_t)s->chw[0] * (size_t)s->chw[1] * (size_t)s->chw[2];
    size_t elems = 0;

    if (images) {
        LRC_TRY(lrc_mul_size((size_t)count, per, &elems, "the image batch"));
        if (s->is_float) {
            LRC_TRY(read_rows(s, s->images, "images", start, count,
                              H5T_NATIVE_FLOAT, elems, images));
            LRC_TRY(lrc_norm_apply_f32(norm, images, count, s->chw, what,
                                       start));
        } else {
            LRC_TRY(lrc_calloc(&raw, elems, 1, "uint8 image batch"));
            LRC_TRY(read_rows(s, s->images, "images", start, count,
                              H5T_NATIVE_UCHAR, elems, raw));
            LRC_TRY(lrc_norm_apply_u8(norm, raw, count, s->chw, images,
                                      what));
        }
    }
    if (labels) {
        /* HDF5 clips out-of-range integers to int32's limits on
         * conversion, which the range check below then catches. */
        LRC_TRY(read_rows(s, s->labels, "labels", start, count,
                          H5T_NATIVE_INT32, (size_t)count, labels));
        for (int64_t i = 0; i < count; i++)
            if (labels[i] < 0 || labels[i] > LRC_DATA_MAX_LABEL)
                LRC_FAIL(LRC_ERR_FORMAT, "%s: label %" PRId32 " of image %"
                         PRId64 " is outside 0..%d", what, labels[i],
                         start + i, LRC_DATA_MAX_LABEL);
    }
cleanup:
    lrc_free(&raw);
    return st;
}

lrc_status lrc_h5_read(lrc_h5_set *s, int64_t start, int64_t count,
                       const lrc_norm *norm, float *images, int32_t *labels,
                       const char *what)
{
    lrc_h5_quiet q;
    if (count == 0)
        return LRC_OK;
    lrc_h5_quiet_begin(&q);
    lrc_status st = h5_read_quiet(s, start, count, norm, images, labels, what);
    lrc_h5_quiet_end(&q);
    return st;
}
