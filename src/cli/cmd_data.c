/* lrcompress data SPEC [--first K] [--limit N] [--save OUT.h5]
 *
 * Opens a data set as compress and eval would, reads (decodes) images
 * [first, first + limit) sharded over the ranks, prints the set's size,
 * image shape and the range's labels, and with --save writes images [first, first + limit)
 * as they reach the network before normalisation (uint8 N x C x H x W,
 * "labels" int32 N: the layout an h5: spec reads), every rank decoding its
 * shard. Checks an image list and its preprocessing, and converts it once
 * for repeated runs. With an image list's bad=skip, bad files are logged,
 * counted and left out of the saved file (which then holds fewer images). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "pipeline/pipeline_impl.h"

lrc_status lrc_cmd_data(MPI_Comm comm, int argc, char **argv)
{
    lrc_status st = LRC_OK;
    lrc_dataset *ds = NULL;
    const char *spec = NULL, *first_s = NULL, *limit_s = NULL, *save = NULL;
    float *px = NULL;
    uint8_t *u8 = NULL;
    int32_t *labels = NULL;
    int rank = 0, size = 1;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    const lrc_cli_option opts[] = {
        {"--first", &first_s, NULL}, {"--limit", &limit_s, NULL},
        {"--save", &save, NULL}};
    LRC_TRY(lrc_cli_parse("data", argc, argv, opts, 3, &spec));
    if (!spec)
        LRC_FAIL(LRC_ERR_ARG, "data: give a data spec (lrcompress data SPEC "
                 "[--first K] [--limit N] [--save OUT.h5])");
    LRC_TRY(lrc_dataset_open(spec, &ds));
    const int64_t total = lrc_dataset_count(ds);
    int64_t first = 0, limit = total, chw[3];
    lrc_dataset_shape(ds, chw);
    if (first_s)
        LRC_TRY(lrc_cli_int("--first", first_s, &first));
    if (limit_s)
        LRC_TRY(lrc_cli_int("--limit", limit_s, &limit));
    if (first > total)
        LRC_FAIL(LRC_ERR_ARG, "--first %" PRId64 " is beyond the %" PRId64
                 " images of %s", first, total, spec);
    limit = limit < total - first ? limit : total - first;
    /* labels of the range: every rank its shard, then the range reduced */
    int64_t start = 0, count = 0;
    lrc_shard_range(limit, rank, size, &start, &count);
    const int64_t per = chw[0] * chw[1] * chw[2];
    LRC_TRY(lrc_calloc(&labels, (size_t)count + 1, sizeof *labels, "labels"));
    LRC_TRY(lrc_calloc(&px, (size_t)per, sizeof *px, "image"));
    if (save) {
        LRC_TRY(lrc_cli_check_writable(comm, save));
        LRC_TRY(lrc_calloc(&u8, (size_t)(count * per) + 1, 1, "images"));
    }
    int32_t lo = INT32_MAX, hi = -1;
    int64_t kept = 0; /* good images of this rank, packed at the front */
    for (int64_t i = 0; i < count; i++) {
        uint8_t ok = 1;
        LRC_TRY(lrc_dataset_read_ok(ds, first + start + i, 1, NULL, px,
                                    labels + kept, &ok));
        if (!ok)
            continue;
        lo = labels[kept] < lo ? labels[kept] : lo;
        hi = labels[kept] > hi ? labels[kept] : hi;
        for (int64_t k = 0; u8 && k < per; k++) {
            const double v = nearbyint((double)px[k]);
            u8[kept * per + k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
        kept++;
    }
    LRC_TRY_MPI(MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_INT32_T, MPI_MIN, comm));
    LRC_TRY_MPI(MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_INT32_T, MPI_MAX, comm));
    int64_t offset = 0, good = 0;
    LRC_TRY_MPI(MPI_Exscan(&kept, &offset, 1, MPI_INT64_T, MPI_SUM, comm));
    if (rank == 0)
        offset = 0; /* MPI_Exscan leaves rank 0's result undefined */
    LRC_TRY_MPI(MPI_Allreduce(&kept, &good, 1, MPI_INT64_T, MPI_SUM, comm));
    if (save && good == 0)
        LRC_FAIL(LRC_ERR_ARG, "%s: every image of [%" PRId64 ", %" PRId64 ") "
                 "is bad: nothing to save to %s", spec, first, first + limit,
                 save);
    if (save) {
        const lrc_h5_rows sets[2] = {
            {"images", H5T_NATIVE_UINT8, H5T_STD_U8LE, 3, {chw[0], chw[1], chw[2]}, u8},
            {"labels", H5T_NATIVE_INT32, H5T_STD_I32LE, 1, {1}, labels}};
        LRC_TRY(lrc_h5_write_sharded(comm, save, good, offset, kept, sets, 2));
    }
    if (rank == 0) {
        printf("%s: %" PRId64 " images of %" PRId64 "x%" PRId64 "x%" PRId64,
               spec, total, chw[0], chw[1], chw[2]);
        if (good > 0)
            printf("; images [%" PRId64 ", %" PRId64 ") have labels %d..%d",
                   first, first + limit, (int)lo, (int)hi);
        if (good < limit)
            printf("; %" PRId64 " bad files skipped", limit - good);
        printf("\n");
        if (save)
            printf("saved %" PRId64 " images (pixel units, before "
                   "normalisation) to %s\n", good, save);
    }
cleanup:
    lrc_dataset_destroy(&ds);
    lrc_free(&px);
    lrc_free(&u8);
    lrc_free(&labels);
    return st;
}
