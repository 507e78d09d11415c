/* Private to src/pipeline. */
#ifndef LRC_PIPELINE_IMPL_H
#define LRC_PIPELINE_IMPL_H

#include <hdf5.h>

#include "core/h5io.h"

#include "lrc/compress.h"

/* The HDF5 group name of target layer j in results.h5 and stats.h5: ONNX
 * names often hold '/', which HDF5 reads as a path; every character outside
 * [A-Za-z0-9_.-] becomes '_', leading '_' are dropped, and the layer index
 * is appended on a clash. */
void lrc_results_group_name(const lrc_compress_result *r, int64_t j, char *out,
                            size_t len);

/* One finished layer in a checkpoint. */
typedef struct lrc_ckpt_entry {
    lrc_lowrank f;
    lrc_solve_report rep;
    double seconds;
} lrc_ckpt_entry;

/* The checkpoint of a compression run: the factors of the target layers
 * solved so far, in order, and the fingerprint of the job they belong to. */
typedef struct lrc_ckpt {
    char *path;
    char *fingerprint;
    int64_t n_done, n_targets;
    lrc_ckpt_entry *e;         /* n_targets slots */
} lrc_ckpt;

/* Opens the checkpoint at `path`: reads the finished layers when the file
 * exists and its fingerprint matches; a different fingerprint is refused
 * (LRC_ERR_ARG naming both); no file starts an empty checkpoint. Every rank
 * reads it. Collective (the status is shared). */
lrc_status lrc_ckpt_open(MPI_Comm comm, const char *path, const char *fingerprint,
                         int64_t n_targets, lrc_ckpt *ck);
/* Appends the next layer's factor and report, then rank 0 rewrites the file
 * (temporary name, renamed). Collective. */
lrc_status lrc_ckpt_add(MPI_Comm comm, lrc_ckpt *ck, const lrc_lowrank *f,
                        const lrc_solve_report *rep, double seconds);
void lrc_ckpt_free(lrc_ckpt *ck);

/* The activations that the asymmetric pass carries for the rank's shard:
 * n values (one per image) of `size` floats each, size <= width, packed.
 * In memory, or (dir given) in the per-rank scratch HDF5 file
 * DIR/lrc_scratch.rankR.pidP.h5, removed on close, streamed through two
 * micro-batch buffers of `batch` images. */
typedef struct lrc_actstore {
    int64_t n, width, size, batch;
    int spill;
    float *mem;             /* memory: n x width */
    float *bin, *bout;      /* spill: batch x width each */
    hid_t file, dset;
    char *path;
    double io_bytes;        /* bytes read and written in the scratch file */
} lrc_actstore;

/* Called once per image by lrc_actstore_map: the image's index in the
 * shard, its current value (`in`), and *out set to the new value (in the
 * callee's own buffer). */
typedef lrc_status (*lrc_actstore_fn)(void *ctx, int64_t image,
                                      const float *in, const float **out);

lrc_status lrc_actstore_open(lrc_actstore *as, int64_t n, int64_t width,
                             int64_t batch, const char *dir, int rank);
/* Sets images [first, first + count) from src (count x size); the first
 * fill fixes the size. */
lrc_status lrc_actstore_fill(lrc_actstore *as, int64_t first, int64_t count,
                             int64_t size, const float *src);
/* Replaces every image's value by fn's result of out_size floats, image by
 * image (in memory in place, spilled a micro-batch at a time). */
lrc_status lrc_actstore_map(lrc_actstore *as, int64_t out_size,
                            lrc_actstore_fn fn, void *ctx);
void lrc_actstore_close(lrc_actstore *as);

/* Deep copies. */
lrc_status lrc_lowrank_copy(lrc_lowrank *dst, const lrc_lowrank *src);
lrc_status lrc_report_copy(lrc_solve_report *dst, const lrc_solve_report *src);

#endif
