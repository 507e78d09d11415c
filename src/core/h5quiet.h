/* Private to src/: silencing HDF5's automatic error-stack printing around
 * calls whose failure we report ourselves in one line. The previous handler
 * is restored afterwards, so nothing global is left changed. */
#ifndef LRC_CORE_H5QUIET_H
#define LRC_CORE_H5QUIET_H

#include <hdf5.h>

typedef struct lrc_h5_quiet {
    H5E_auto2_t func;
    void *data;
} lrc_h5_quiet;

static inline void lrc_h5_quiet_begin(lrc_h5_quiet *q)
{
    q->func = NULL;
    q->data = NULL;
    H5Eget_auto2(H5E_DEFAULT, &q->func, &q->data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static inline void lrc_h5_quiet_end(const lrc_h5_quiet *q)
{
    H5Eset_auto2(H5E_DEFAULT, q->func, q->data);
}

#endif
