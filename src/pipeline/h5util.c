/* Small HDF5 writers shared by the results, statistics and checkpoint
 * files (serial or collective alike: they only create and write). */
#include <hdf5.h>
#include <string.h>

#include "pipeline/pipeline_impl.h"

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

