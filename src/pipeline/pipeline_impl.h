/* Private to src/pipeline. */
#ifndef LRC_PIPELINE_IMPL_H
#define LRC_PIPELINE_IMPL_H

#include "lrc/compress.h"

/* The HDF5 group name of target layer j in results.h5 and stats.h5: ONNX
 * names often hold '/', which HDF5 reads as a path; every character outside
 * [A-Za-z0-9_.-] becomes '_', leading '_' are dropped, and the layer index
 * is appended on a clash. */
void lrc_results_group_name(const lrc_compress_result *r, int64_t j, char *out,
                            size_t len);

#endif
