/* lrcompress eval MODEL.onnx --data SPEC [--mean M --std S] [--limit N]
 *                 [--batch B] [--save-logits OUT.h5]
 *                 [--backend openblas|winograd|onednn] */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

lrc_status lrc_cmd_eval(MPI_Comm comm, int argc, char **argv)
{
    lrc_status st = LRC_OK;
    lrc_net *net = NULL;
    lrc_dataset *ds = NULL;
    const char *model = NULL, *data = NULL, *mean = NULL, *std = NULL,
               *limit = NULL, *batch = NULL, *logits = NULL,
               *backend = NULL;
    lrc_eval_params p = {0, 0, NULL, 0, LRC_BACKEND_OPENBLAS};
    lrc_eval_result r;
    lrc_norm norm;
    int rank = 0, size = 1;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    const lrc_cli_option opts[] = {
        {"--data", &data, NULL}, {"--mean", &mean, NULL}, {"--std", &std, NULL},
        {"--limit", &limit, NULL}, {"--batch", &batch, NULL},
        {"--save-logits", &logits, NULL}, {"--backend", &backend, NULL}};
    LRC_TRY(lrc_cli_parse("eval", argc, argv, opts, sizeof opts / sizeof opts[0],
                          &model));
    if (!model || !data)
        LRC_FAIL(LRC_ERR_ARG, "eval: give a model and --data (lrcompress eval "
                 "MODEL.onnx --data SPEC)");
    if (limit)
        LRC_TRY(lrc_cli_int("--limit", limit, &p.limit));
    if (batch) {
        LRC_TRY(lrc_cli_int("--batch", batch, &p.batch));
        if (p.batch == 0)
            LRC_FAIL(LRC_ERR_ARG, "--batch must be at least 1");
    }
    p.logits_path = logits;
    if (backend)
        LRC_TRY(lrc_backend_parse(backend, &p.backend));

    LRC_TRY(lrc_model_load(model, &net));
    LRC_TRY(lrc_dataset_open(data, &ds));
    int64_t chw[3];
    lrc_dataset_shape(ds, chw);
    LRC_TRY(lrc_net_set_input(net, chw[0], chw[1], chw[2]));
    LRC_TRY(lrc_cli_norm(net, mean, std, &norm));
    LRC_TRY(lrc_norm_check(&norm, chw[0], mean ? "--mean/--std" : model));
    LRC_TRY(lrc_eval(comm, net, ds, &norm, &p, &r));
    if (rank == 0) {
        printf("top1=%.4f top5=%.4f images=%" PRId64,
               (double)r.top1 / (double)r.images,
               (double)r.top5 / (double)r.images, r.images);
        if (r.skipped > 0)
            printf(" skipped=%" PRId64, r.skipped);
        printf("\n");
        fflush(stdout);
        fprintf(stderr, "lrcompress: %" PRId64 " images in %.3f s of forward "
                "time (slowest rank): %.1f images/s on %d rank%s, %s backend\n",
                r.images, r.seconds, r.images_per_s, size, size > 1 ? "s" : "",
                lrc_backend_name(p.backend));
        if (logits)
            fprintf(stderr, "lrcompress: logits written to %s\n", logits);
    }
cleanup:
    lrc_dataset_destroy(&ds);
    lrc_net_destroy(&net);
    return st;
}
