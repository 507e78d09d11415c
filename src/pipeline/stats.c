/* stats.h5: the reduced response statistics of every target layer, written
 * collectively with parallel HDF5 (layout in docs/FORMAT.md). */
#include <hdf5.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/h5quiet.h"
#include "lrc/compress.h"
#include "pipeline/pipeline_impl.h"

typedef struct writer {
    hid_t file, dxpl;
    int rank;
    const char *path;
} writer;

/* A chunked, deflated float64 dataset of `ndim` dims; rank 0 writes the
 * values (every rank holds the same), the others join the collective call
 * with an empty selection. */
static lrc_status put(const writer *w, hid_t grp, const char *name, int ndim,
                      const hsize_t *dims, const double *v)
{
    lrc_status st = LRC_OK;
    hid_t sp = H5I_INVALID_HID, dcpl = H5I_INVALID_HID, ds = H5I_INVALID_HID,
          ms = H5I_INVALID_HID;
    const char *path = w->path;
    LRC_TRY_H5(sp = H5Screate_simple(ndim, dims, NULL), "%s: H5Screate_simple", path);
    LRC_TRY_H5(ms = H5Screate_simple(ndim, dims, NULL), "%s: H5Screate_simple", path);
    LRC_TRY_H5(dcpl = H5Pcreate(H5P_DATASET_CREATE), "%s: H5Pcreate", path);
    LRC_TRY_H5(H5Pset_chunk(dcpl, ndim, dims), "%s: H5Pset_chunk", path);
    LRC_TRY_H5(H5Pset_deflate(dcpl, 4), "%s: H5Pset_deflate", path);
    LRC_TRY_H5(ds = H5Dcreate2(grp, name, H5T_IEEE_F64LE, sp, H5P_DEFAULT, dcpl,
                               H5P_DEFAULT),
               "%s: cannot create dataset '%s'", path, name);
    if (w->rank != 0) {
        LRC_TRY_H5(H5Sselect_none(sp), "%s: H5Sselect_none", path);
        LRC_TRY_H5(H5Sselect_none(ms), "%s: H5Sselect_none", path);
    }
    LRC_TRY_H5(H5Dwrite(ds, H5T_NATIVE_DOUBLE, ms, sp, w->dxpl, v),
               "%s: cannot write dataset '%s'", path, name);
cleanup:
    if (ds >= 0)
        H5Dclose(ds);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (sp >= 0)
        H5Sclose(sp);
    if (ms >= 0)
        H5Sclose(ms);
    return st;
}

static lrc_status write_layer(const writer *w, hid_t root,
                              const lrc_compress_result *r, int64_t j)
{
    lrc_status st = LRC_OK;
    const lrc_compress_layer *l = &r->layers[j];
    hid_t g = H5I_INVALID_HID;
    char gname[256];
    lrc_results_group_name(r, j, gname, sizeof gname);
    const hsize_t d1[1] = {(hsize_t)l->d}, d2[2] = {(hsize_t)l->d, (hsize_t)l->d};
    LRC_TRY_H5(g = H5Gcreate2(root, gname, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
               "%s: cannot create group '%s'", w->path, gname);
    LRC_TRY(lrc_h5_attr_str(g, "name", l->name, w->path));
    LRC_TRY(lrc_h5_attr(g, "d", H5T_NATIVE_INT64, &l->d, w->path));
    LRC_TRY(lrc_h5_attr(g, "samples", H5T_NATIVE_INT64, &l->report.samples, w->path));
    LRC_TRY(put(w, g, "eigenvalues", 1, d1, l->eig));
    LRC_TRY(put(w, g, "mean_y", 1, d1, l->mean_y));
    LRC_TRY(put(w, g, "cov_y", 2, d2, l->cov_y));
    if (l->mean_yh) {
        LRC_TRY(put(w, g, "mean_yhat", 1, d1, l->mean_yh));
        LRC_TRY(put(w, g, "cov_yhat", 2, d2, l->cov_yh));
        LRC_TRY(put(w, g, "cross_cov", 2, d2, l->cross));
    }
cleanup:
    if (g >= 0)
        H5Gclose(g);
    return st;
}

lrc_status lrc_compress_write_stats(MPI_Comm comm, const char *path,
                                    const lrc_compress_result *r)
{
    lrc_status st = LRC_OK;
    hid_t fapl = H5I_INVALID_HID, root = H5I_INVALID_HID;
    writer w = {H5I_INVALID_HID, H5I_INVALID_HID, 0, path};
    char tmp[4096];
    lrc_h5_quiet q;
    MPI_Comm_rank(comm, &w.rank);
    for (int64_t j = 0; j < r->n; j++)
        if (!r->layers[j].mean_y || !r->layers[j].cov_y)
            LRC_RAISE(LRC_ERR_INTERNAL, "%s: the statistics were not kept "
                      "(keep_stats)", path);
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        LRC_RAISE(LRC_ERR_ARG, "%s: path too long", path);
    lrc_h5_quiet_begin(&q);
    LRC_TRY_H5(fapl = H5Pcreate(H5P_FILE_ACCESS), "%s: H5Pcreate", path);
    LRC_TRY_H5(H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL), "%s: H5Pset_fapl_mpio", path);
    w.file = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    if (w.file < 0)
        LRC_FAIL(LRC_ERR_IO, "%s: cannot create the statistics file", tmp);
    LRC_TRY_H5(w.dxpl = H5Pcreate(H5P_DATASET_XFER), "%s: H5Pcreate", path);
    LRC_TRY_H5(H5Pset_dxpl_mpio(w.dxpl, H5FD_MPIO_COLLECTIVE), "%s: H5Pset_dxpl_mpio", path);
    LRC_TRY(lrc_h5_attr(w.file, "images", H5T_NATIVE_INT64, &r->images, path));
    LRC_TRY(lrc_h5_attr(w.file, "samples_per_layer", H5T_NATIVE_INT64, &r->samples, path));
    LRC_TRY(lrc_h5_attr(w.file, "mpi_ranks", H5T_NATIVE_INT, &r->nranks, path));
    LRC_TRY_H5(root = H5Gcreate2(w.file, "layers", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
               "%s: cannot create group 'layers'", path);
    for (int64_t j = 0; j < r->n; j++)
        LRC_TRY(write_layer(&w, root, r, j));
cleanup:
    if (root >= 0)
        H5Gclose(root);
    if (w.dxpl >= 0)
        H5Pclose(w.dxpl);
    if (w.file >= 0 && H5Fclose(w.file) < 0 && st == LRC_OK)
        st = lrc_error_report(LRC_ERR_IO, __FILE__, __LINE__, __func__,
                              "%s: closing the file failed", tmp);
    if (fapl >= 0)
        H5Pclose(fapl);
    lrc_h5_quiet_end(&q);
    int ok = st == LRC_OK, all = 0;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_LAND, comm);
    int code = LRC_OK;
    if (w.rank == 0) {
        if (all && rename(tmp, path) != 0)
            code = (int)lrc_error_report(LRC_ERR_IO, __FILE__, __LINE__, __func__,
                                         "%s: cannot rename %s into place", path, tmp);
        if (!all || code != LRC_OK)
            remove(tmp);
    }
    MPI_Bcast(&code, 1, MPI_INT, 0, comm);
    if (st == LRC_OK && !all)
        st = LRC_ERR_IO;
    if (st == LRC_OK)
        st = (lrc_status)code;
    return st;
}
