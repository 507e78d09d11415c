/* Small HDF5 writers shared by the model, results, statistics, checkpoint
 * and data files (see h5io.h). */
#include <hdf5.h>
#include <stdio.h>
#include <string.h>

#include "core/h5io.h"

lrc_status lrc_h5_attr(hid_t obj, const char *name, hid_t type,
                             const void *val, const char *path)
{
    lrc_status st = LRC_OK;
    hid_t sp = H5I_INVALID_HID, a = H5I_INVALID_HID;
    LRC_TRY_H5(sp = H5Screate(H5S_SCALAR), "%s: H5Screate", path);
    LRC_TRY_H5(a = H5Acreate2(obj, name, type, sp, H5P_DEFAULT, H5P_DEFAULT),
               "%s: cannot create attribute '%s'", path, name);
    LRC_TRY_H5(H5Awrite(a, type, val), "%s: cannot write attribute '%s'", path,
               name);
cleanup:
    if (a >= 0)
        H5Aclose(a);
    if (sp >= 0)
        H5Sclose(sp);
    return st;
}

lrc_status lrc_h5_attr_f64(hid_t obj, const char *name, double v, const char *path)
{
    return lrc_h5_attr(obj, name, H5T_NATIVE_DOUBLE, &v, path);
}

lrc_status lrc_h5_attr_i64(hid_t obj, const char *name, int64_t v, const char *path)
{
    return lrc_h5_attr(obj, name, H5T_NATIVE_INT64, &v, path);
}

lrc_status lrc_h5_attr_str(hid_t obj, const char *name, const char *v,
                           const char *path)
{
    lrc_status st = LRC_OK;
    hid_t t = H5I_INVALID_HID;
    LRC_TRY_H5(t = H5Tcopy(H5T_C_S1), "%s: H5Tcopy", path);
    LRC_TRY_H5(H5Tset_size(t, strlen(v) + 1), "%s: H5Tset_size", path);
    LRC_TRY(lrc_h5_attr(obj, name, t, v, path));
cleanup:
    if (t >= 0)
        H5Tclose(t);
    return st;
}

lrc_status lrc_h5_write_f64(hid_t loc, const char *name, const double *v,
                           int64_t n, const char *path)
{
    lrc_status st = LRC_OK;
    hid_t sp = H5I_INVALID_HID, d = H5I_INVALID_HID;
    hsize_t dim = (hsize_t)n;
    LRC_TRY_H5(sp = H5Screate_simple(1, &dim, NULL), "%s: H5Screate_simple", path);
    LRC_TRY_H5(d = H5Dcreate2(loc, name, H5T_IEEE_F64LE, sp, H5P_DEFAULT,
                              H5P_DEFAULT, H5P_DEFAULT),
               "%s: cannot create dataset '%s'", path, name);
    if (n > 0)
        LRC_TRY_H5(H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v),
                   "%s: cannot write dataset '%s'", path, name);
cleanup:
    if (d >= 0)
        H5Dclose(d);
    if (sp >= 0)
        H5Sclose(sp);
    return st;
}


lrc_status lrc_h5_write_sharded(MPI_Comm comm, const char *path, int64_t total,
                                int64_t start, int64_t count,
                                const lrc_h5_rows *sets, int nsets)
{
    lrc_status st = LRC_OK;
    hid_t fapl = H5I_INVALID_HID, file = H5I_INVALID_HID,
          dxpl = H5I_INVALID_HID, fs = H5I_INVALID_HID, ms = H5I_INVALID_HID,
          ds = H5I_INVALID_HID;
    char tmp[4096];
    int rank = 0;
    MPI_Comm_rank(comm, &rank);
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        LRC_RAISE(LRC_ERR_ARG, "%s: path too long", path);

    LRC_TRY_H5(fapl = H5Pcreate(H5P_FILE_ACCESS), "%s: H5Pcreate", path);
    LRC_TRY_H5(H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL),
               "%s: H5Pset_fapl_mpio", path);
    file = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    if (file < 0)
        LRC_FAIL(LRC_ERR_IO, "%s: cannot create the file (is the directory "
                 "writable?)", tmp);
    LRC_TRY_H5(dxpl = H5Pcreate(H5P_DATASET_XFER), "%s: H5Pcreate", path);
    LRC_TRY_H5(H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE),
               "%s: H5Pset_dxpl_mpio", path);
    for (int d = 0; d < nsets; d++) {
        const lrc_h5_rows *r = &sets[d];
        hsize_t fdims[4] = {(hsize_t)total}, mdims[4] = {(hsize_t)count};
        hsize_t off[4] = {(hsize_t)start, 0, 0, 0};
        for (int k = 0; k < r->ndims; k++)
            fdims[k + 1] = mdims[k + 1] = (hsize_t)r->dims[k];
        /* a set of one value per row is 1-D */
        const int nd = r->ndims == 1 && r->dims[0] == 1 ? 1 : r->ndims + 1;
        LRC_TRY_H5(fs = H5Screate_simple(nd, fdims, NULL), "%s: H5Screate_simple", path);
        LRC_TRY_H5(ms = H5Screate_simple(nd, mdims, NULL), "%s: H5Screate_simple", path);
        LRC_TRY_H5(ds = H5Dcreate2(file, r->name, r->file_type, fs, H5P_DEFAULT,
                                   H5P_DEFAULT, H5P_DEFAULT),
                   "%s: cannot create dataset '%s'", path, r->name);
        if (count > 0) {
            LRC_TRY_H5(H5Sselect_hyperslab(fs, H5S_SELECT_SET, off, NULL, mdims,
                                           NULL),
                       "%s: hyperslab of '%s'", path, r->name);
        } else {
            LRC_TRY_H5(H5Sselect_none(fs), "%s: H5Sselect_none", path);
            LRC_TRY_H5(H5Sselect_none(ms), "%s: H5Sselect_none", path);
        }
        LRC_TRY_H5(H5Dwrite(ds, r->mem_type, ms, fs, dxpl, r->buf),
                   "%s: cannot write dataset '%s'", path, r->name);
        H5Dclose(ds);
        H5Sclose(fs);
        H5Sclose(ms);
        ds = fs = ms = H5I_INVALID_HID;
    }
cleanup:
    if (ds >= 0)
        H5Dclose(ds);
    if (fs >= 0)
        H5Sclose(fs);
    if (ms >= 0)
        H5Sclose(ms);
    if (dxpl >= 0)
        H5Pclose(dxpl);
    if (file >= 0 && H5Fclose(file) < 0 && st == LRC_OK)
        st = lrc_error_report(LRC_ERR_IO, __FILE__, __LINE__, __func__,
                              "%s: closing the file failed", tmp);
    if (fapl >= 0)
        H5Pclose(fapl);
    /* Every rank must have closed the file before it is renamed. */
    int ok = st == LRC_OK, all_ok = 0;
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_LAND, comm);
    if (rank == 0) {
        if (all_ok && rename(tmp, path) != 0)
            st = lrc_error_report(LRC_ERR_IO, __FILE__, __LINE__, __func__,
                                  "%s: cannot rename %s into place", path, tmp);
        if (!all_ok || st != LRC_OK)
            remove(tmp);
    }
    /* Every rank returns only once the file is in place (or not), and all
     * return the same status. */
    int st0 = (int)st;
    MPI_Bcast(&st0, 1, MPI_INT, 0, comm);
    if (st == LRC_OK && !all_ok)
        st = LRC_ERR_IO; /* another rank failed and said why */
    if (st == LRC_OK)
        st = (lrc_status)st0;
    return st;
}

lrc_status lrc_h5_attr_i64s(hid_t obj, const char *name, const int64_t *v,
                            int n, const char *path)
{
    lrc_status st = LRC_OK;
    hid_t sp = H5I_INVALID_HID, a = H5I_INVALID_HID;
    hsize_t dim = (hsize_t)n;
    LRC_TRY_H5(sp = H5Screate_simple(1, &dim, NULL), "%s: H5Screate_simple", path);
    LRC_TRY_H5(a = H5Acreate2(obj, name, H5T_STD_I64LE, sp, H5P_DEFAULT,
                              H5P_DEFAULT),
               "%s: cannot create attribute '%s'", path, name);
    LRC_TRY_H5(H5Awrite(a, H5T_NATIVE_INT64, v), "%s: cannot write attribute "
               "'%s'", path, name);
cleanup:
    if (a >= 0)
        H5Aclose(a);
    if (sp >= 0)
        H5Sclose(sp);
    return st;
}
