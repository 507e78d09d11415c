/* The carried activations of the asymmetric pass: one value per image of
 * the rank's shard, of a size that changes from layer to layer, held in
 * memory or, when the memory limit says so, in a per-rank scratch HDF5
 * file streamed in micro-batches. See pipeline_impl.h. */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/h5quiet.h"
#include "pipeline/pipeline_impl.h"

/* Every HDF5 call on the scratch file: a failure names the file. */
#define H5IO(expr)                                                             \
    LRC_TRY_H5(expr, "%s: scratch file I/O failed (disk full?)", as->path)

lrc_status lrc_actstore_open(lrc_actstore *as, int64_t n, int64_t width,
                             int64_t batch, const char *dir, int rank)
{
    lrc_status st = LRC_OK;
    hid_t space = -1, dcpl = -1;
    memset(as, 0, sizeof *as);
    as->file = as->dset = -1;
    as->n = n;
    as->width = width;
    as->spill = dir != NULL;
    as->batch = as->spill ? (batch < 1 ? 1 : batch) : (n > 0 ? n : 1);
    if (as->batch > n && n > 0)
        as->batch = n;
    if (!as->spill) {
        LRC_TRY(lrc_calloc(&as->mem, (size_t)(n * width) + 1, sizeof(float),
                           "carried activations"));
        return LRC_OK;
    }
    LRC_TRY(lrc_calloc(&as->bin, (size_t)(as->batch * width), sizeof(float),
                       "micro-batch"));
    LRC_TRY(lrc_calloc(&as->bout, (size_t)(as->batch * width), sizeof(float),
                       "micro-batch"));
    {
        char name[4096];
        int k = snprintf(name, sizeof name, "%s/lrc_scratch.rank%d.pid%ld.h5",
                         dir, rank, (long)getpid());
        if (k < 0 || (size_t)k >= sizeof name)
            LRC_FAIL(LRC_ERR_ARG, "scratch directory name too long: %s", dir);
        LRC_TRY(lrc_strdup(&as->path, name));
    }
    lrc_h5_quiet q;
    lrc_h5_quiet_begin(&q);
    as->file = H5Fcreate(as->path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    lrc_h5_quiet_end(&q);
    if (as->file < 0)
        LRC_FAIL(LRC_ERR_IO, "rank %d: cannot create the scratch file %s (is "
                 "the scratch directory there and writable?)", rank, as->path);
    hsize_t dims[1] = {(hsize_t)(n > 0 ? n * width : 1)};
    H5IO(space = H5Screate_simple(1, dims, NULL));
    H5IO(dcpl = H5Pcreate(H5P_DATASET_CREATE));
    H5IO(H5Pset_layout(dcpl, H5D_CONTIGUOUS));
    H5IO(H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER));
    H5IO(as->dset = H5Dcreate2(as->file, "activations", H5T_NATIVE_FLOAT, space,
                               H5P_DEFAULT, dcpl, H5P_DEFAULT));
cleanup:
    if (space >= 0)
        H5Sclose(space);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (st != LRC_OK)
        lrc_actstore_close(as);
    return st;
}

/* Reads or writes count * size floats at offset first * size. */
static lrc_status io(lrc_actstore *as, int write, int64_t first, int64_t count,
                     int64_t size, float *buf)
{
    lrc_status st = LRC_OK;
    hid_t fs = -1, ms = -1;
    if (count * size == 0)
        return LRC_OK;
    hsize_t off[1] = {(hsize_t)(first * size)}, cnt[1] = {(hsize_t)(count * size)};
    H5IO(fs = H5Dget_space(as->dset));
    H5IO(H5Sselect_hyperslab(fs, H5S_SELECT_SET, off, NULL, cnt, NULL));
    H5IO(ms = H5Screate_simple(1, cnt, NULL));
    if (write)
        H5IO(H5Dwrite(as->dset, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, buf));
    else
        H5IO(H5Dread(as->dset, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, buf));
    as->io_bytes += (double)(count * size) * sizeof(float);
cleanup:
    if (fs >= 0)
        H5Sclose(fs);
    if (ms >= 0)
        H5Sclose(ms);
    return st;
}

lrc_status lrc_actstore_fill(lrc_actstore *as, int64_t first, int64_t count,
                             int64_t size, const float *src)
{
    if (size > as->width)
        LRC_RAISE(LRC_ERR_INTERNAL, "an activation of %" PRId64 " values in a "
                  "store %" PRId64 " wide", size, as->width);
    as->size = size;
    if (!as->spill) {
        memcpy(as->mem + first * size, src, (size_t)(count * size) * sizeof(float));
        return LRC_OK;
    }
    return io(as, 1, first, count, size, (float *)src);
}

lrc_status lrc_actstore_map(lrc_actstore *as, int64_t out_size,
                            lrc_actstore_fn fn, void *ctx)
{
    lrc_status st = LRC_OK;
    const int64_t in = as->size, n = as->n, B = as->batch;
    if (out_size > as->width)
        LRC_RAISE(LRC_ERR_INTERNAL, "an activation of %" PRId64 " values in a "
                  "store %" PRId64 " wide", out_size, as->width);
    /* In place, packed by size: growing values go from the last image down,
     * shrinking ones from the first up, so that no write lands on an input
     * not yet read. Each image's result goes through fn's own buffer. */
    const int down = out_size > in;
    const int64_t nb = (n + B - 1) / B;
    for (int64_t q = 0; q < nb; q++) {
        const int64_t bi = down ? nb - 1 - q : q;
        const int64_t f = bi * B, m = n - f < B ? n - f : B;
        const float *src;
        float *dst;
        if (as->spill) {
            LRC_TRY(io(as, 0, f, m, in, as->bin));
            src = as->bin;
            dst = as->bout;
        } else {
            src = as->mem + f * in;
            dst = as->mem + f * out_size;
        }
        for (int64_t k = 0; k < m; k++) {
            const int64_t b = down ? m - 1 - k : k;
            const float *res = NULL;
            LRC_TRY(fn(ctx, f + b, src + b * in, &res));
            memmove(dst + b * out_size, res, (size_t)out_size * sizeof(float));
        }
        if (as->spill)
            LRC_TRY(io(as, 1, f, m, out_size, as->bout));
    }
    as->size = out_size;
cleanup:
    return st;
}

void lrc_actstore_close(lrc_actstore *as)
{
    if (as->dset >= 0)
        H5Dclose(as->dset);
    if (as->file >= 0)
        H5Fclose(as->file);
    if (as->path)
        unlink(as->path);
    lrc_free(&as->path);
    lrc_free(&as->mem);
    lrc_free(&as->bin);
    lrc_free(&as->bout);
    as->dset = as->file = -1;
}
