/* lrc compress: the whole-model compression schedule.
 *
 * 1. Calibration: `images` images chosen from the data set by the seed, and
 *    `locations` output pixels per image and layer, also from the seed: the
 *    (image, location) samples depend on the seed only, never on the number
 *    of ranks. Ranks shard the chosen images.
 * 2. Original pass: the original net runs over each rank's shard once, batch
 *    by batch; at every target conv the pre-activation responses y at the
 *    sampled locations are kept (d doubles per sample). They give the PCA
 *    spectra for rank selection and the targets r(y) of the asymmetric fit.
 * 3. Ranks: the papers' greedy PCA-energy rule for the target speedup, or
 *    given ones.
 * 4. Approximated pass: layer by layer, each rank carries its shard's
 *    activations of the approximated net (xhat) forward once; at each target
 *    conv it samples yhat at the same locations, solves the layer (all ranks
 *    together), replaces the conv by the two-conv pair and carries xhat
 *    through it. The symmetric methods and svd need no approximated pass.
 * Collective over comm. */
#ifndef LRC_COMPRESS_H
#define LRC_COMPRESS_H

#include <mpi.h>

#include "lrc/data.h"
#include "lrc/method.h"
#include "lrc/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lrc_compress_params {
    lrc_method method;
    double speedup;            /* whole-model conv speedup target (> 1) */
    const char *const *layers; /* conv layers to approximate; NULL = all but the first */
    int64_t n_layers;
    const int64_t *ranks;      /* explicit d' per target layer (n_layers or
                                  the default list's length), or NULL */
    int64_t n_ranks;
    int64_t images;            /* calibration images (default 3000) */
    int64_t locations;         /* samples per image and layer (default 10) */
    uint64_t seed;             /* default 1 */
    int64_t batch;             /* forward batch (default 64) */
    lrc_nonlinear_params nl;   /* lambda schedule and iterations */
    double spatial_speedup;    /* 3d: the k x 1 layer costs 1/this of the
                                  original layer; 0 = 2 x speedup (8 with
                                  explicit ranks) */
    int quiet;                 /* no progress lines */
    int verbose;               /* also the objective of every iteration */
    int keep_stats;            /* keep means and covariances for stats.h5 */
    const char *checkpoint;    /* checkpoint file, or NULL for none */
    const char *fingerprint;   /* identifies the job the checkpoint belongs to */
    int64_t memory_limit_mb;   /* per rank; 0 = none. When the carried
                                  activations of the asymmetric pass do not
                                  fit, they spill to a per-rank scratch HDF5
                                  file in scratch_dir, streamed in
                                  micro-batches; a run that cannot fit even
                                  so is refused up front */
    const char *scratch_dir;   /* for the scratch files (NULL: ".") */
    int64_t stop_after;        /* stop (LRC_STOPPED) once this many target
                                  layers are in the checkpoint; 0 = never */
} lrc_compress_params;

/* Defaults: nonlinear-asym, speedup 4, 3000 images, 10 locations, seed 1,
 * batch 64, lambda 0.01 x 25 then 1.0 x 25. */
void lrc_compress_defaults(lrc_compress_params *p);

typedef struct lrc_compress_layer {
    char *name;                /* the original conv's name */
    int64_t index;             /* its index in the original net */
    int64_t d, kkc, hw;        /* filters, k*k*c, output pixels */
    int64_t rank;              /* chosen d' (== d: kept in original form) */
    int64_t spatial_rank;      /* 3d: d'' filters of the k x 1 layer (0: none) */
    int64_t c, wo;             /* input channels, output width */
    int64_t w_in;              /* input width (the k x 1 layer's output width) */
    int64_t cost_before, cost_after; /* multiply-adds per image */
    double *eig;               /* d eigenvalues of the original responses' covariance */
    /* With keep_stats: mean and covariance (d x d, divided by the sample
     * count) of the original responses y, and for the asymmetric methods
     * of the approximated responses yhat and the cross term
     * E[(y - ybar)(yhat - yhatbar)^T]; NULL otherwise. */
    double *mean_y, *cov_y, *mean_yh, *cov_yh, *cross;
    double energy;             /* fraction of PCA energy kept by the rank */
    lrc_solve_report report;   /* errors and objective per iteration */
    double seconds;            /* solve time */
} lrc_compress_layer;

typedef struct lrc_compress_result {
    int64_t n;                 /* target layers */
    lrc_compress_layer *layers;
    int64_t conv_before, conv_after; /* whole-model conv multiply-adds per image */
    double speedup;            /* theoretical whole-model conv speedup */
    int64_t images, samples;   /* calibration images and samples per layer */
    int64_t images_skipped;    /* bad files passed over to get `images` */
    double t_original, t_ranks, t_approx, t_total; /* seconds per stage */
    int nranks;                /* MPI ranks */
    int spilled;               /* carried activations spilled to scratch files */
    int64_t micro_batch;       /* images per micro-batch when spilled */
    double memory_planned_mb;  /* the plan's estimate per rank */
    double scratch_io_mb;      /* rank 0's scratch-file traffic */
} lrc_compress_result;

void lrc_compress_result_free(lrc_compress_result *r);

/* Compresses `net` (shaped for the data set's images) and returns the
 * compressed net in *out (the caller destroys it); every rank gets the same
 * net. With p->checkpoint, each solved layer is added to the checkpoint, and
 * layers already there (same fingerprint) are taken from it instead of being
 * solved again, which gives the same result as an uninterrupted run.
 * Collective on comm. */
lrc_status lrc_compress(MPI_Comm comm, const lrc_net *net, lrc_dataset *ds,
                        const lrc_norm *norm, const lrc_compress_params *p,
                        lrc_net **out, lrc_compress_result *res);

/* Writes the results HDF5 file (per layer: eigenvalues, rank, costs, errors,
 * objective per iteration; the parameters as attributes). Written by rank 0
 * under a temporary name and renamed on success; `model` and `data` are
 * recorded as attributes. Collective (the status is shared). */
lrc_status lrc_compress_write_results(MPI_Comm comm, const char *path,
                                      const char *model, const char *data,
                                      const lrc_compress_params *p,
                                      const lrc_compress_result *r);

/* Writes stats.h5 (needs keep_stats): one group per target layer with the
 * means, covariances, cross-covariance and eigenvalues, chunked and
 * compressed, written collectively with parallel HDF5 under a temporary
 * name and renamed on success. Collective. */
lrc_status lrc_compress_write_stats(MPI_Comm comm, const char *path,
                                    const lrc_compress_result *r);

/* Adds group "evaluation" to an existing results.h5 (rank 0 rewrites it
 * under a temporary name): the data spec, images, top-1/top-5 of the
 * original and the compressed model, seconds per image of each (forward
 * only, slowest rank, warm-up excluded), measured and theoretical speedup.
 * Collective (the status is shared). */
struct lrc_eval_result;
lrc_status lrc_results_add_eval(MPI_Comm comm, const char *path, const char *spec,
                                const struct lrc_eval_result *orig,
                                const struct lrc_eval_result *comp,
                                double theoretical);

/* Prints the per-layer table and the whole-model line. Not Collective. */
void lrc_compress_print(const lrc_compress_result *r, FILE *out);

#ifdef __cplusplus
}
#endif
#endif
