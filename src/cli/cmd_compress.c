#define _POSIX_C_SOURCE 200809L
/* lrcompress compress MODEL.onnx --data SPEC --speedup S --output OUT.onnx
 *   [--method M] [--layers a,b] [--ranks r1,r2] [--images N] [--locations L]
 *   [--seed X] [--mean M --std S] [--iters A,B] [--lambda A,B] [--batch B]
 *   [--results RESULTS.h5] [--eval SPEC [--eval-limit N]] [--quiet] */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "lrc/compress.h"

/* Splits a comma-separated list into a new array of new strings. */
static lrc_status split_list(const char *opt, const char *s, char ***out,
                             int64_t *n)
{
    lrc_status st = LRC_OK;
    char *copy = NULL;
    int64_t cnt = 1;
    *out = NULL;
    *n = 0;
    for (const char *q = s; *q; q++)
        cnt += *q == ',';
    LRC_TRY(lrc_strdup(&copy, s));
    LRC_TRY(lrc_calloc(out, (size_t)cnt, sizeof **out, "list"));
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        LRC_TRY(lrc_strdup(&(*out)[(*n)++], tok));
    if (*n != cnt)
        LRC_FAIL(LRC_ERR_ARG, "%s '%s' has an empty item", opt, s);
cleanup:
    lrc_free(&copy);
    return st;
}

static void free_list(char ***l, int64_t n)
{
    for (int64_t i = 0; *l && i < n; i++)
        lrc_free(&(*l)[i]);
    lrc_free(l);
}

static lrc_status parse_double(const char *opt, const char *v, double *out)
{
    char *end = NULL;
    errno = 0;
    *out = strtod(v, &end);
    if (errno != 0 || end == v || *end != '\0')
        LRC_RAISE(LRC_ERR_ARG, "%s: '%s' is not a number", opt, v);
    return LRC_OK;
}

/* Checks on rank 0 that the output can be written, before hours of work. */
static lrc_status check_writable(MPI_Comm comm, const char *path)
{
    int rank = 0, ok = 1;
    MPI_Comm_rank(comm, &rank);
    if (rank == 0) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        FILE *f = fopen(tmp, "wb");
        if (!f) {
            lrc_error_report(LRC_ERR_IO, __FILE__, __LINE__, __func__,
                             "%s: cannot write here: %s", path, strerror(errno));
            ok = 0;
        } else {
            fclose(f);
            remove(tmp);
        }
    }
    MPI_Bcast(&ok, 1, MPI_INT, 0, comm);
    return ok ? LRC_OK : LRC_ERR_IO;
}

static lrc_status eval_both(MPI_Comm comm, const lrc_net *orig,
                            const lrc_net *comp, const char *spec,
                            const lrc_norm *norm, int64_t limit)
{
    lrc_status st = LRC_OK;
    lrc_dataset *ds = NULL;
    lrc_eval_params ep = {limit, 64, NULL};
    lrc_eval_result ro, rc;
    int rank = 0;
    MPI_Comm_rank(comm, &rank);
    LRC_TRY(lrc_dataset_open(spec, &ds));
    LRC_TRY(lrc_eval(comm, orig, ds, norm, &ep, &ro));
    LRC_TRY(lrc_eval(comm, comp, ds, norm, &ep, &rc));
    if (rank == 0) {
        const double n = (double)ro.images;
        printf("original   top1=%.4f top5=%.4f images=%" PRId64 " (%.1f images/s)\n",
               ro.top1 / n, ro.top5 / n, ro.images, ro.images_per_s);
        printf("compressed top1=%.4f top5=%.4f images=%" PRId64 " (%.1f images/s)\n",
               rc.top1 / n, rc.top5 / n, rc.images, rc.images_per_s);
        printf("accuracy change: top1 %+.2f pp, top5 %+.2f pp; measured speedup "
               "%.2fx\n", 100.0 * (double)(rc.top1 - ro.top1) / n,
               100.0 * (double)(rc.top5 - ro.top5) / n,
               ro.seconds > 0 && rc.seconds > 0 ? ro.seconds / rc.seconds : 0.0);
        fflush(stdout);
    }
cleanup:
    lrc_dataset_destroy(&ds);
    return st;
}

lrc_status lrc_cmd_compress(MPI_Comm comm, int argc, char **argv)
{
    lrc_status st = LRC_OK;
    lrc_net *net = NULL, *comp = NULL;
    lrc_dataset *ds = NULL;
    lrc_compress_params p;
    lrc_compress_result res;
    lrc_norm norm;
    char **layers = NULL, **ranks_s = NULL, **pair = NULL;
    int64_t n_layers = 0, n_ranks = 0, n_pair = 0, *ranks = NULL;
    const char *model = NULL, *data = NULL, *speedup = NULL, *method = NULL,
               *layers_s = NULL, *ranks_arg = NULL, *images = NULL,
               *locations = NULL, *seed = NULL, *mean = NULL, *std = NULL,
               *iters = NULL, *lambda = NULL, *batch = NULL, *output = NULL,
               *results = NULL, *eval = NULL, *eval_limit = NULL;
    int rank = 0, quiet = 0;
    memset(&res, 0, sizeof res);
    lrc_compress_defaults(&p);
    MPI_Comm_rank(comm, &rank);
    const lrc_cli_option opts[] = {
        {"--data", &data, NULL}, {"--speedup", &speedup, NULL},
        {"--method", &method, NULL}, {"--layers", &layers_s, NULL},
        {"--ranks", &ranks_arg, NULL}, {"--images", &images, NULL},
        {"--locations", &locations, NULL}, {"--seed", &seed, NULL},
        {"--mean", &mean, NULL}, {"--std", &std, NULL},
        {"--iters", &iters, NULL}, {"--lambda", &lambda, NULL},
        {"--batch", &batch, NULL}, {"--output", &output, NULL},
        {"--results", &results, NULL}, {"--eval", &eval, NULL},
        {"--eval-limit", &eval_limit, NULL}, {"--quiet", NULL, &quiet}};
    LRC_TRY(lrc_cli_parse("compress", argc, argv, opts,
                          sizeof opts / sizeof opts[0], &model));
    if (!model || !data || !output)
        LRC_FAIL(LRC_ERR_ARG, "compress: give a model, --data and --output "
                 "(lrcompress compress MODEL.onnx --data SPEC --speedup S "
                 "--output OUT.onnx)");
    if (!speedup && !ranks_arg)
        LRC_FAIL(LRC_ERR_ARG, "compress: give --speedup S (or --ranks)");
    p.quiet = quiet;
    if (speedup)
        LRC_TRY(parse_double("--speedup", speedup, &p.speedup));
    if (method)
        LRC_TRY(lrc_method_parse(method, &p.method));
    if (layers_s) {
        LRC_TRY(split_list("--layers", layers_s, &layers, &n_layers));
        p.layers = (const char *const *)layers;
        p.n_layers = n_layers;
    }
    if (ranks_arg) {
        LRC_TRY(split_list("--ranks", ranks_arg, &ranks_s, &n_ranks));
        LRC_TRY(lrc_calloc(&ranks, (size_t)n_ranks, sizeof *ranks, "ranks"));
        for (int64_t j = 0; j < n_ranks; j++)
            LRC_TRY(lrc_cli_int("--ranks", ranks_s[j], &ranks[j]));
        p.ranks = ranks;
        p.n_ranks = n_ranks;
    }
    if (images)
        LRC_TRY(lrc_cli_int("--images", images, &p.images));
    if (locations)
        LRC_TRY(lrc_cli_int("--locations", locations, &p.locations));
    if (batch)
        LRC_TRY(lrc_cli_int("--batch", batch, &p.batch));
    if (seed) {
        int64_t v = 0;
        LRC_TRY(lrc_cli_int("--seed", seed, &v));
        p.seed = (uint64_t)v;
    }
    if (iters) {
        int64_t a = 0, b = 0;
        LRC_TRY(split_list("--iters", iters, &pair, &n_pair));
        if (n_pair != 2)
            LRC_FAIL(LRC_ERR_ARG, "--iters takes two counts: SMALL,LARGE (the "
                     "iterations at each lambda)");
        LRC_TRY(lrc_cli_int("--iters", pair[0], &a));
        LRC_TRY(lrc_cli_int("--iters", pair[1], &b));
        p.nl.iters_small = (int)a;
        p.nl.iters_large = (int)b;
        free_list(&pair, n_pair);
    }
    if (lambda) {
        LRC_TRY(split_list("--lambda", lambda, &pair, &n_pair));
        if (n_pair != 2)
            LRC_FAIL(LRC_ERR_ARG, "--lambda takes two values: SMALL,LARGE");
        LRC_TRY(parse_double("--lambda", pair[0], &p.nl.lambda_small));
        LRC_TRY(parse_double("--lambda", pair[1], &p.nl.lambda_large));
        if (!(p.nl.lambda_small > 0) || !(p.nl.lambda_large > 0))
            LRC_FAIL(LRC_ERR_ARG, "--lambda values must be positive");
        free_list(&pair, n_pair);
    }
    int64_t eval_n = 0;
    if (eval_limit)
        LRC_TRY(lrc_cli_int("--eval-limit", eval_limit, &eval_n));

    LRC_TRY(check_writable(comm, output));
    if (results)
        LRC_TRY(check_writable(comm, results));
    LRC_TRY(lrc_onnx_load(model, &net));
    LRC_TRY(lrc_dataset_open(data, &ds));
    int64_t chw[3];
    lrc_dataset_shape(ds, chw);
    LRC_TRY(lrc_net_set_input(net, chw[0], chw[1], chw[2]));
    LRC_TRY(lrc_cli_norm(net, mean, std, &norm));
    LRC_TRY(lrc_norm_check(&norm, chw[0], mean ? "--mean/--std" : model));
    LRC_TRY(lrc_compress(comm, net, ds, &norm, &p, &comp, &res));
    if (mean) {
        LRC_TRY(lrc_net_set_meta(comp, "lrc.mean", mean));
        LRC_TRY(lrc_net_set_meta(comp, "lrc.std", std));
    }
    {
        char desc[256];
        snprintf(desc, sizeof desc, "lrcompress compress --method %s, "
                 "theoretical conv speedup %.2fx", lrc_method_name(p.method),
                 res.speedup);
        LRC_TRY(lrc_net_set_meta(comp, "lrc.compressed", desc));
    }
    int code = LRC_OK;
    if (rank == 0)
        code = (int)lrc_onnx_save(comp, output);
    MPI_Bcast(&code, 1, MPI_INT, 0, comm);
    if (code != LRC_OK)
        LRC_FAIL((lrc_status)code, "%s: the compressed model was not written",
                 output);
    if (results)
        LRC_TRY(lrc_compress_write_results(comm, results, model, data, &p, &res));
    if (rank == 0) {
        lrc_compress_print(&res, stdout);
        printf("compressed model: %s\n", output);
        if (results)
            printf("results: %s\n", results);
        fflush(stdout);
    }
    if (eval)
        LRC_TRY(eval_both(comm, net, comp, eval, &norm, eval_n));
cleanup:
    free_list(&layers, n_layers);
    free_list(&ranks_s, n_ranks);
    free_list(&pair, n_pair);
    lrc_free(&ranks);
    lrc_compress_result_free(&res);
    lrc_net_destroy(&comp);
    lrc_net_destroy(&net);
    lrc_dataset_destroy(&ds);
    return st;
}
