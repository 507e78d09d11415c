/* Private to src/cli: the subcommands and option parsing. */
#ifndef LRC_CLI_H
#define LRC_CLI_H

#include <mpi.h>

#include "lrc/lrc.h"
#include "lrc/config.h"

/* Each subcommand parses argv (argv[0] is the subcommand name) and runs.
 * Collective on comm. */
lrc_status lrc_cmd_eval(MPI_Comm comm, int argc, char **argv);
lrc_status lrc_cmd_inspect(MPI_Comm comm, int argc, char **argv);
lrc_status lrc_cmd_compress(MPI_Comm comm, int argc, char **argv);
lrc_status lrc_cmd_run(MPI_Comm comm, int argc, char **argv);
lrc_status lrc_cmd_data(MPI_Comm comm, int argc, char **argv);

/* Option parsing: `--key value` or `--key=value`. If argv[*i] is option
 * `name`, stores its value in *value, advances *i past it and returns 1;
 * a missing value is an error. */
lrc_status lrc_cli_opt(int argc, char **argv, int *i, const char *name,
                       const char **value, int *matched);
/* One option of a subcommand: `--name VALUE` (value != NULL) or a flag
 * `--name` (flag != NULL). */
typedef struct lrc_cli_option {
    const char *name;
    const char **value;
    int *flag;
} lrc_cli_option;

/* Parses argv[1..] against `opts`; the one positional argument (the model)
 * goes to *positional. Unknown options and extra arguments are errors
 * naming the subcommand `cmd`. */
lrc_status lrc_cli_parse(const char *cmd, int argc, char **argv,
                         const lrc_cli_option *opts, size_t n_opts,
                         const char **positional);

/* Checks on rank 0 that `path` can be written (creating and removing
 * path.tmp), before hours of work. Collective. */
lrc_status lrc_cli_check_writable(MPI_Comm comm, const char *path);

/* Evaluates the original and the compressed net on `spec` and prints both
 * result lines, the accuracy change and the measured speedup (rank 0).
 * Collective. */
lrc_status lrc_cli_eval_both(MPI_Comm comm, const lrc_net *orig,
                             const lrc_net *comp, const char *spec,
                             const lrc_norm *norm, int64_t limit, int quiet,
                             int skip_bad, lrc_backend backend,
                             lrc_eval_result out[2]);

/* A compression job: paths and specs (mean/std/results/eval may be NULL). */
typedef struct lrc_cli_job {
    const char *model, *data, *mean, *std;
    const char *output, *results, *eval;
    int64_t eval_limit;
    const char *stats;
    const char *output_h5;   /* the compressed model as HDF5, or NULL */
    int skip_bad;            /* skip and count bad image files (both sets) */
    lrc_backend eval_backend; /* forward engine of the evaluation */
} lrc_cli_job;

/* Loads, compresses, writes the model (and results), evaluates both models
 * when job->eval is set; rank 0 prints the table. Collective. */
lrc_status lrc_cli_run_job(MPI_Comm comm, const lrc_cli_job *job,
                           const lrc_compress_params *p);

/* Parses a non-negative integer option value. */
lrc_status lrc_cli_int(const char *name, const char *value, int64_t *out);
/* The model's normalisation: --mean/--std when given, else the model's
 * lrc.mean/lrc.std metadata, else none. */
lrc_status lrc_cli_norm(const lrc_net *net, const char *mean, const char *std,
                        lrc_norm *norm);

#endif
