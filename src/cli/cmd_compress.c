#define _POSIX_C_SOURCE 200809L
/* lrcompress compress MODEL.onnx --data SPEC --speedup S --output OUT.onnx
 *   [--method M] [--layers a,b] [--ranks r1,r2] [--images N] [--locations L]
 *   [--seed X] [--mean M --std S] [--iters A,B] [--lambda A,B] [--batch B]
 *   [--precision mixed|double] [--memory-limit MB [--scratch DIR]]
 *   [--output-h5 OUT.h5]
 *   [--results RESULTS.h5] [--eval SPEC [--eval-limit N]
 *   [--eval-backend openblas|winograd|onednn]] [--quiet] */
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

lrc_status lrc_cmd_compress(MPI_Comm comm, int argc, char **argv)
{
    lrc_status st = LRC_OK;
    lrc_compress_params p;
    char **layers = NULL, **ranks_s = NULL, **pair = NULL;
    int64_t n_layers = 0, n_ranks = 0, n_pair = 0, *ranks = NULL;
    const char *model = NULL, *data = NULL, *speedup = NULL, *method = NULL,
               *layers_s = NULL, *ranks_arg = NULL, *images = NULL,
               *locations = NULL, *seed = NULL, *mean = NULL, *std = NULL,
               *iters = NULL, *lambda = NULL, *batch = NULL, *output = NULL,
               *results = NULL, *eval = NULL, *eval_limit = NULL,
               *eval_backend = NULL, *stats = NULL, *precision = NULL, *memlimit = NULL,
               *scratch = NULL, *model_h5 = NULL;
    int quiet = 0, verbose = 0;
    lrc_compress_defaults(&p);
    const lrc_cli_option opts[] = {
        {"--data", &data, NULL}, {"--speedup", &speedup, NULL},
        {"--method", &method, NULL}, {"--layers", &layers_s, NULL},
        {"--ranks", &ranks_arg, NULL}, {"--images", &images, NULL},
        {"--locations", &locations, NULL}, {"--seed", &seed, NULL},
        {"--mean", &mean, NULL}, {"--std", &std, NULL},
        {"--iters", &iters, NULL}, {"--lambda", &lambda, NULL},
        {"--batch", &batch, NULL}, {"--output", &output, NULL},
        {"--results", &results, NULL}, {"--stats", &stats, NULL},
        {"--eval", &eval, NULL}, {"--precision", &precision, NULL},
        {"--memory-limit", &memlimit, NULL}, {"--scratch", &scratch, NULL},
        {"--output-h5", &model_h5, NULL},
        {"--eval-limit", &eval_limit, NULL}, {"--quiet", NULL, &quiet},
        {"--eval-backend", &eval_backend, NULL},
        {"--verbose", NULL, &verbose}};
    LRC_TRY(lrc_cli_parse("compress", argc, argv, opts,
                          sizeof opts / sizeof opts[0], &model));
    if (!model || !data || !output)
        LRC_FAIL(LRC_ERR_ARG, "compress: give a model, --data and --output "
                 "(lrcompress compress MODEL.onnx --data SPEC --speedup S "
                 "--output OUT.onnx)");
    if (!speedup && !ranks_arg)
        LRC_FAIL(LRC_ERR_ARG, "compress: give --speedup S (or --ranks)");
    p.quiet = quiet;
    p.verbose = verbose && !quiet;
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
    if (precision)
        LRC_TRY(lrc_precision_parse(precision, &p.nl.mixed_precision));
    if (memlimit) {
        int64_t mb = 0;
        LRC_TRY(lrc_cli_int("--memory-limit", memlimit, &mb));
        if (mb < 0)
            LRC_FAIL(LRC_ERR_ARG, "--memory-limit must not be negative");
        p.memory_limit_mb = mb;
    }
    p.scratch_dir = scratch; /* NULL: the current directory */
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
    lrc_backend backend = LRC_BACKEND_OPENBLAS;
    if (eval_backend)
        LRC_TRY(lrc_backend_parse(eval_backend, &backend));

    {
        const lrc_cli_job job = {model, data, mean, std, output, results, eval,
                                 eval_n, stats, model_h5, 0, backend};
        LRC_TRY(lrc_cli_run_job(comm, &job, &p));
    }
cleanup:
    free_list(&layers, n_layers);
    free_list(&ranks_s, n_ranks);
    free_list(&pair, n_pair);
    lrc_free(&ranks);
    return st;
}
