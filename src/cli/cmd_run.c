/* lrcompress run CONFIG.yaml [--set key=value ...] [--quiet]
 * [--verbose]
 * The whole job from a YAML config: compress, write OUTPUT/compressed.onnx
 * and OUTPUT/results.h5, evaluate the original and the compressed model. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"

/* mkdir -p on rank 0, or on every rank (`all`: a node-local directory
 * such as a scratch directory must exist on every node); the outcome is
 * shared. */
static lrc_status make_dirs(MPI_Comm comm, const char *dir, int all)
{
    int rank = 0, ok = 1;
    MPI_Comm_rank(comm, &rank);
    if (rank == 0 || all) {
        char buf[4096];
        if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf) {
            lrc_error_report(LRC_ERR_ARG, __FILE__, __LINE__, __func__,
                             "output directory path too long");
            ok = 0;
        }
        for (char *q = buf + 1; ok; q++) {
            const int end = *q == '\0';
            if (*q != '/' && !end)
                continue;
            *q = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
                lrc_error_report(LRC_ERR_IO, __FILE__, __LINE__, __func__,
                                 "%s: cannot create the output directory: %s",
                                 buf, strerror(errno));
                ok = 0;
            }
            if (end)
                break;
            *q = '/';
        }
    }
    MPI_Allreduce(MPI_IN_PLACE, &ok, 1, MPI_INT, MPI_LAND, comm);
    return ok ? LRC_OK : LRC_ERR_IO;
}

lrc_status lrc_cmd_run(MPI_Comm comm, int argc, char **argv)
{
    lrc_status st = LRC_OK;
    lrc_config *cfg = NULL;
    char **sets = NULL;
    const char *path = NULL;
    int n_sets = 0, quiet = 0, verbose = 0;
    lrc_compress_params p;
    char onnx[4096], model_h5[4096], results[4096], stats[4096], ckpt[4096];
    char *fingerprint = NULL;
    LRC_TRY(lrc_calloc(&sets, (size_t)argc, sizeof *sets, "--set list"));
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int m = 0;
        if (strcmp(argv[i], "--quiet") == 0 || strcmp(argv[i], "--verbose") == 0) {
            *(argv[i][2] == 'q' ? &quiet : &verbose) = 1;
            continue;
        }
        LRC_TRY(lrc_cli_opt(argc, argv, &i, "--set", &v, &m));
        if (m) {
            sets[n_sets++] = (char *)v;
            continue;
        }
        if (argv[i][0] == '-' || path)
            LRC_FAIL(LRC_ERR_ARG, "run: unexpected argument '%s' (lrcompress run "
                     "CONFIG.yaml [--set key=value ...] [--quiet])", argv[i]);
        path = argv[i];
    }
    if (!path)
        LRC_FAIL(LRC_ERR_ARG, "run: give a config file (lrcompress run CONFIG.yaml)");
    LRC_TRY(lrc_config_load(path, sets, n_sets, &cfg));
    LRC_TRY(lrc_config_params(cfg, path, &p));
    p.quiet = quiet;
    p.verbose = verbose && !quiet;
    if (snprintf(onnx, sizeof onnx, "%s/compressed.onnx", cfg->output) >= (int)sizeof onnx ||
        snprintf(model_h5, sizeof model_h5, "%s/compressed.h5", cfg->output) >= (int)sizeof model_h5 ||
        snprintf(results, sizeof results, "%s/results.h5", cfg->output) >= (int)sizeof results ||
        snprintf(stats, sizeof stats, "%s/stats.h5", cfg->output) >= (int)sizeof stats ||
        snprintf(ckpt, sizeof ckpt, "%s/checkpoint.h5", cfg->output) >= (int)sizeof ckpt)
        LRC_FAIL(LRC_ERR_ARG, "%s: key 'output': path too long", path);
    LRC_TRY(make_dirs(comm, cfg->output, 0));
    p.scratch_dir = cfg->scratch_dir ? cfg->scratch_dir : cfg->output;
    if (cfg->scratch_dir)
        LRC_TRY(make_dirs(comm, cfg->scratch_dir, 1));
    if (!cfg->checkpoint || *cfg->checkpoint) {
        LRC_TRY(lrc_config_fingerprint(cfg, &p, &fingerprint));
        p.checkpoint = ckpt;
        p.fingerprint = fingerprint;
    }
    lrc_backend backend = LRC_BACKEND_OPENBLAS;
    if (cfg->evaluation_backend) /* a known name: the config checked it */
        LRC_TRY(lrc_backend_parse(cfg->evaluation_backend, &backend));
    {
        const lrc_cli_job job = {
            cfg->model, cfg->calibration,
            cfg->normalization ? cfg->normalization->mean : NULL,
            cfg->normalization ? cfg->normalization->std : NULL,
            onnx, results, cfg->evaluation,
            cfg->evaluation_limit ? *cfg->evaluation_limit : 0, stats, model_h5,
            cfg->bad_images && strcmp(cfg->bad_images, "skip") == 0,
            backend};
        LRC_TRY(lrc_cli_run_job(comm, &job, &p));
    }
    int rank = 0;
    MPI_Comm_rank(comm, &rank);
    if (rank == 0) {
        printf("outputs: %s, %s, %s\n", onnx, results, stats);
        fflush(stdout);
    }
cleanup:
    lrc_config_destroy(&cfg);
    lrc_free(&sets);
    lrc_free(&fingerprint);
    return st;
}
