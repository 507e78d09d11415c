/* lrc eval: distributed evaluation of a model on a labelled data set. */
#ifndef LRC_EVAL_H
#define LRC_EVAL_H

#include <mpi.h>

#include "lrc/data.h"
#include "lrc/forward.h"
#include "lrc/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lrc_eval_params {
    int64_t limit;           /* first `limit` images of the set; 0 = all */
    int64_t batch;           /* images per forward batch; 0 = 64 */
    const char *logits_path; /* HDF5 file for the logits, or NULL */
    int quiet;               /* no progress lines */
    lrc_backend backend;     /* engine of the forward plan (lrc/forward.h);
                                0 = OpenBLAS */
} lrc_eval_params;

typedef struct lrc_eval_result {
    int64_t images;          /* images evaluated, over all ranks (the
                                accuracy's denominator) */
    int64_t skipped;         /* images skipped as bad files (bad=skip) */
    int64_t top1, top5;      /* correct counts, over all ranks */
    int64_t classes;         /* output width */
    double seconds;          /* slowest rank's forward time (after one
                                untimed warm-up batch per rank) */
    double images_per_s;     /* images / seconds */
} lrc_eval_result;

/* Evaluates `net` on `ds`: each rank takes a contiguous run of whole batches
 * (so each image is computed in the same batch, to the same bits, on any
 * number of ranks),
 * runs them forward and counts top-1/top-5 hits (ties broken towards the
 * lower class index, as argmax does); the counts are summed over `comm`, so
 * every rank gets the same result for any number of ranks. With
 * logits_path, the logits (N x K float32, data order) and labels go to one
 * HDF5 file written in parallel, under a temporary name renamed on success.
 * When the set skips bad files, those images are left out of the counts
 * and counted in `skipped` (NaN logits and label -1 in the logits file).
 * `net` must be shaped for the data set's images. Collective on comm. */
lrc_status lrc_eval(MPI_Comm comm, const lrc_net *net, lrc_dataset *ds,
                    const lrc_norm *norm, const lrc_eval_params *params,
                    lrc_eval_result *result);

#ifdef __cplusplus
}
#endif
#endif
