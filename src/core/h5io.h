/* Private to src/: small HDF5 writers shared by the model, results,
 * statistics, checkpoint and data files. `path` names the file in
 * messages. Serial or collective alike: they only create and write. */
#ifndef LRC_CORE_H5IO_H
#define LRC_CORE_H5IO_H

#include <hdf5.h>
#include <mpi.h>

#include "lrc/core.h"

/* A scalar attribute of any type, of a double, an int64, a string; a 1-D
 * float64 dataset of n values (n may be 0). Collective when the file is. */
lrc_status lrc_h5_attr(hid_t obj, const char *name, hid_t type, const void *val,
                       const char *path);
lrc_status lrc_h5_attr_f64(hid_t obj, const char *name, double v, const char *path);
lrc_status lrc_h5_attr_i64(hid_t obj, const char *name, int64_t v, const char *path);
lrc_status lrc_h5_attr_str(hid_t obj, const char *name, const char *v,
                           const char *path);
lrc_status lrc_h5_write_f64(hid_t loc, const char *name, const double *v,
                            int64_t n, const char *path);
/* A 1-D int64 attribute of n values. */
lrc_status lrc_h5_attr_i64s(hid_t obj, const char *name, const int64_t *v,
                            int n, const char *path);

/* One dataset of lrc_h5_write_sharded: `total` rows of `dims` (ndims
 * values: a row is dims[0] x ... elements), this rank's rows in buf. */
typedef struct lrc_h5_rows {
    const char *name;
    hid_t mem_type, file_type;
    int ndims;
    int64_t dims[3];
    const void *buf;
} lrc_h5_rows;

/* Creates `path` with parallel HDF5 (under path.tmp, renamed by rank 0 once
 * every rank has closed it) holding each set's `total` rows, this rank
 * writing rows [start, start + count) collectively. Every rank returns the
 * same status. Collective. */
lrc_status lrc_h5_write_sharded(MPI_Comm comm, const char *path, int64_t total,
                                int64_t start, int64_t count,
                                const lrc_h5_rows *sets, int nsets);

#endif
