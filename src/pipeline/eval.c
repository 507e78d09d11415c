/* Distributed evaluation: shard, forward, count, reduce, write logits. */
#include "lrc/eval.h"

#include <hdf5.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lrc/forward.h"
#include "pipeline/pipeline_impl.h"

/* Rank of the true class among the logits, ties going to the lower index
 * (as argmax does): 0 means top-1. */
static int64_t label_rank(const float *z, int64_t k, int32_t label)
{
    int64_t r = 0;
    const float t = z[label];
    for (int64_t j = 0; j < k; j++)
        if (z[j] > t || (z[j] == t && j < label))
            r++;
    return r;
}

/* Writes logits (total x k) and labels of this rank's rows [start, start +
 * count) to `path` with parallel HDF5 (skipped images: NaN logits and label
 * -1). Collective. */
static lrc_status write_logits(MPI_Comm comm, const char *path, int64_t total,
                               int64_t k, int64_t start, int64_t count,
                               const float *logits, const int32_t *labels)
{
    const lrc_h5_rows sets[2] = {
        {"logits", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, 1, {k}, logits},
        {"labels", H5T_NATIVE_INT32, H5T_STD_I32LE, 1, {1}, labels}};
    return lrc_h5_write_sharded(comm, path, total, start, count, sets, 2);
}

lrc_status lrc_eval(MPI_Comm comm, const lrc_net *net, lrc_dataset *ds,
                    const lrc_norm *norm, const lrc_eval_params *params,
                    lrc_eval_result *result)
{
    lrc_status st = LRC_OK;
    lrc_forward *fw = NULL;
    float *in = NULL, *logits = NULL;
    int32_t *labels = NULL;
    uint8_t *ok = NULL;
    int rank = 0, size = 1;
    memset(result, 0, sizeof *result);
    LRC_TRY_MPI(MPI_Comm_rank(comm, &rank));
    LRC_TRY_MPI(MPI_Comm_size(comm, &size));

    int64_t total = lrc_dataset_count(ds);
    if (params->limit < 0)
        LRC_FAIL(LRC_ERR_ARG, "--limit %" PRId64 " must not be negative",
                 params->limit);
    if (params->limit > total)
        LRC_FAIL(LRC_ERR_ARG, "--limit %" PRId64 " exceeds the %" PRId64
                 " images of %s", params->limit, total, lrc_dataset_spec(ds));
    if (params->limit > 0)
        total = params->limit;
    if (total == 0)
        LRC_FAIL(LRC_ERR_ARG, "%s has no images", lrc_dataset_spec(ds));
    const int64_t batch = params->batch > 0 ? params->batch : 64;
    const int64_t in_sz = lrc_net_input_size(net);
    const int64_t k = lrc_net_output_size(net);
    /* Whole global batches go to the ranks, so every image sits in the same
     * batch whatever the rank count: a dense layer's sgemm rounds a row
     * differently with the number of rows beside it, and the logits must be
     * the same bits on any number of ranks. */
    int64_t start = 0, count = 0, b0 = 0, nb = 0;
    lrc_shard_range((total + batch - 1) / batch, rank, size, &b0, &nb);
    start = b0 * batch;
    count = (b0 + nb) * batch < total ? nb * batch : total - start;
    if (count < 0)
        count = 0;

    LRC_TRY(lrc_forward_create_with(net, 0, lrc_net_num_layers(net), batch,
                                    params->backend, &fw));
    LRC_TRY(lrc_calloc(&in, (size_t)(batch * in_sz), sizeof(float),
                       "input batch"));
    LRC_TRY(lrc_calloc(&logits, (size_t)(count * k), sizeof(float), "logits"));
    LRC_TRY(lrc_calloc(&labels, (size_t)count, sizeof(int32_t), "labels"));
    LRC_TRY(lrc_calloc(&ok, (size_t)count + 1, 1, "image flags"));

    /* hits[0], hits[1]: top-1, top-5; hits[2]: images skipped as bad */
    int64_t hits[3] = {0, 0, 0};
    double t_fwd = 0.0;
    /* One untimed warm-up batch (page faults, BLAS buffers, caches), so the
     * measured time is that of the steady state; the loop's first batch
     * reuses its images. */
    if (count > 0) {
        const int64_t m = count < batch ? count : batch;
        LRC_TRY(lrc_dataset_read_ok(ds, start, m, norm, in, labels, ok));
        LRC_TRY(lrc_forward_run(fw, in, m, logits));
    }
    lrc_progress pg;
    lrc_progress_begin(&pg, "evaluation (rank 0's images)", count,
                       rank == 0 && !params->quiet);
    for (int64_t s = 0; s < count; s += batch) {
        lrc_progress_update(&pg, s);
        const int64_t m = count - s < batch ? count - s : batch;
        if (s > 0)
            LRC_TRY(lrc_dataset_read_ok(ds, start + s, m, norm, in, labels + s,
                                        ok + s));
        double t0 = lrc_wtime();
        LRC_TRY(lrc_forward_run(fw, in, m, logits + s * k));
        t_fwd += lrc_wtime() - t0;
        for (int64_t i = 0; i < m; i++) {
            float *z = logits + (s + i) * k;
            if (!ok[s + i]) {
                for (int64_t j = 0; j < k; j++)
                    z[j] = NAN;
                labels[s + i] = -1;
                hits[2]++;
                continue;
            }
            const int32_t lab = labels[s + i];
            if (lab < 0 || lab >= k)
                LRC_FAIL(LRC_ERR_FORMAT, "%s: image %" PRId64 " has label %d "
                         "but the model has %" PRId64 " outputs",
                         lrc_dataset_spec(ds), start + s + i, (int)lab, k);
            for (int64_t j = 0; j < k; j++)
                if (!isfinite(z[j]))
                    LRC_FAIL(LRC_ERR_NUMERIC, "%s: the output for image %" PRId64
                             " is not finite", lrc_net_source(net),
                             start + s + i);
            const int64_t r = label_rank(z, k, lab);
            hits[0] += r < 1;
            hits[1] += r < 5;
        }
    }
    lrc_progress_update(&pg, count);
    lrc_progress_end(&pg);
    int64_t sums[3];
    LRC_TRY_MPI(MPI_Allreduce(hits, sums, 3, MPI_INT64_T, MPI_SUM, comm));
    if (sums[2] == total)
        LRC_FAIL(LRC_ERR_FORMAT, "%s: every one of the %" PRId64 " images "
                 "was skipped as bad (bad=skip): nothing to evaluate",
                 lrc_dataset_spec(ds), total);
    double t_max = 0.0;
    LRC_TRY_MPI(MPI_Allreduce(&t_fwd, &t_max, 1, MPI_DOUBLE, MPI_MAX, comm));
    if (params->logits_path)
        LRC_TRY(write_logits(comm, params->logits_path, total, k, start, count,
                             logits, labels));
    result->images = total - sums[2];
    result->skipped = sums[2];
    result->top1 = sums[0];
    result->top5 = sums[1];
    result->classes = k;
    result->seconds = t_max;
    result->images_per_s = t_max > 0 ? (double)total / t_max : 0.0;
    if (sums[2] > 0 && rank == 0 && !params->quiet)
        lrc_log("%s: %" PRId64 " of %" PRId64 " images skipped as bad; "
                "accuracy is over the other %" PRId64, lrc_dataset_spec(ds),
                sums[2], total, total - sums[2]);
cleanup:
    lrc_forward_destroy(&fw);
    lrc_free(&in);
    lrc_free(&logits);
    lrc_free(&labels);
    lrc_free(&ok);
    return st;
}
