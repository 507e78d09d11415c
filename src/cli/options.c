/* Option parsing shared by the subcommands. */
#include <errno.h>
#include <stdio.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

lrc_status lrc_cli_opt(int argc, char **argv, int *i, const char *name,
                       const char **value, int *matched)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    *matched = 0;
    if (strncmp(a, name, n) != 0)
        return LRC_OK;
    if (a[n] == '=') {
        *value = a + n + 1;
    } else if (a[n] == '\0') {
        if (*i + 1 >= argc)
            LRC_RAISE(LRC_ERR_ARG, "option %s needs a value", name);
        *value = argv[++*i];
    } else {
        return LRC_OK;
    }
    *matched = 1;
    return LRC_OK;
}

lrc_status lrc_cli_parse(const char *cmd, int argc, char **argv,
                         const lrc_cli_option *opts, size_t n_opts,
                         const char **positional)
{
    *positional = NULL;
    for (int i = 1; i < argc; i++) {
        int m = 0;
        for (size_t o = 0; o < n_opts && !m; o++) {
            if (opts[o].flag) {
                if (strcmp(argv[i], opts[o].name) == 0) {
                    *opts[o].flag = 1;
                    m = 1;
                }
                continue;
            }
            LRC_CALL(lrc_cli_opt(argc, argv, &i, opts[o].name, opts[o].value, &m));
        }
        if (m)
            continue;
        if (argv[i][0] == '-' || *positional)
            LRC_RAISE(LRC_ERR_ARG, "%s: unexpected argument '%s' (see lrcompress "
                      "--help)", cmd, argv[i]);
        *positional = argv[i];
    }
    return LRC_OK;
}

lrc_status lrc_cli_int(const char *name, const char *value, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(value, &end, 10);
    if (errno != 0 || end == value || *end != '\0' || v < 0)
        LRC_RAISE(LRC_ERR_ARG, "option %s: '%s' is not a non-negative integer",
                  name, value);
    *out = (int64_t)v;
    return LRC_OK;
}

lrc_status lrc_cli_norm(const lrc_net *net, const char *mean, const char *std,
                        lrc_norm *norm)
{
    memset(norm, 0, sizeof *norm);
    if ((mean == NULL) != (std == NULL))
        LRC_RAISE(LRC_ERR_ARG, "--mean and --std go together");
    if (mean)
        return lrc_norm_parse(mean, std, "--mean/--std", norm);
    const char *mm = lrc_net_meta(net, "lrc.mean");
    const char *ms = lrc_net_meta(net, "lrc.std");
    if (mm && ms) {
        char what[512];
        snprintf(what, sizeof what, "%s: metadata lrc.mean/lrc.std",
                 lrc_net_source(net));
        return lrc_norm_parse(mm, ms, what, norm);
    }
    return LRC_OK;
}

/* Checks on rank 0 that the output can be written, before hours of work. */
lrc_status lrc_cli_check_writable(MPI_Comm comm, const char *path)
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

lrc_status lrc_cli_eval_both(MPI_Comm comm, const lrc_net *orig,
                            const lrc_net *comp, const char *spec,
                            const lrc_norm *norm, int64_t limit, int quiet,
                            int skip_bad, lrc_backend backend,
                            lrc_eval_result out[2])
{
    lrc_status st = LRC_OK;
    lrc_dataset *ds = NULL;
    const lrc_eval_params ep = {limit, 64, NULL, quiet, backend};
    lrc_eval_result ro, rc;
    int rank = 0;
    MPI_Comm_rank(comm, &rank);
    LRC_TRY(lrc_dataset_open(spec, &ds));
    if (skip_bad)
        LRC_TRY(lrc_dataset_skip_bad(ds, 1));
    LRC_TRY(lrc_eval(comm, orig, ds, norm, &ep, &ro));
    LRC_TRY(lrc_eval(comm, comp, ds, norm, &ep, &rc));
    out[0] = ro;
    out[1] = rc;
    if (rank == 0) {
        const double n = (double)ro.images;
        if (ro.skipped > 0)
            printf("evaluation: %" PRId64 " bad image files skipped\n",
                   ro.skipped);
        printf("original   top1=%.4f top5=%.4f images=%" PRId64 " (%.1f images/s)\n",
               ro.top1 / n, ro.top5 / n, ro.images, ro.images_per_s);
        printf("compressed top1=%.4f top5=%.4f images=%" PRId64 " (%.1f images/s)\n",
               rc.top1 / n, rc.top5 / n, rc.images, rc.images_per_s);
        printf("accuracy change: top1 %+.2f pp, top5 %+.2f pp; measured speedup "
               "%.2fx (%s backend)\n", 100.0 * (double)(rc.top1 - ro.top1) / n,
               100.0 * (double)(rc.top5 - ro.top5) / n,
               ro.seconds > 0 && rc.seconds > 0 ? ro.seconds / rc.seconds : 0.0,
               lrc_backend_name(backend));
        fflush(stdout);
    }
cleanup:
    lrc_dataset_destroy(&ds);
    return st;
}

