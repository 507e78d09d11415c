/* The compression job shared by `compress` and `run`: load the model and
 * the calibration data, compress, write the ONNX model and the results,
 * evaluate both models. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "lrc/compress.h"

lrc_status lrc_cli_run_job(MPI_Comm comm, const lrc_cli_job *job,
                           const lrc_compress_params *params)
{
    lrc_compress_params pp = *params;
    const lrc_compress_params *p = &pp;
    pp.keep_stats = job->stats != NULL;
    lrc_status st = LRC_OK;
    lrc_net *net = NULL, *comp = NULL;
    lrc_dataset *ds = NULL;
    lrc_compress_result res;
    lrc_norm norm;
    int rank = 0;
    memset(&res, 0, sizeof res);
    MPI_Comm_rank(comm, &rank);
    LRC_TRY(lrc_cli_check_writable(comm, job->output));
    if (job->output_h5)
        LRC_TRY(lrc_cli_check_writable(comm, job->output_h5));
    if (job->results)
        LRC_TRY(lrc_cli_check_writable(comm, job->results));
    if (job->stats)
        LRC_TRY(lrc_cli_check_writable(comm, job->stats));
    LRC_TRY(lrc_model_load(job->model, &net));
    LRC_TRY(lrc_dataset_open(job->data, &ds));
    if (job->skip_bad)
        LRC_TRY(lrc_dataset_skip_bad(ds, 1));
    int64_t chw[3];
    lrc_dataset_shape(ds, chw);
    LRC_TRY(lrc_net_set_input(net, chw[0], chw[1], chw[2]));
    LRC_TRY(lrc_cli_norm(net, job->mean, job->std, &norm));
    LRC_TRY(lrc_norm_check(&norm, chw[0], job->mean ? "--mean/--std" : job->model));
    LRC_TRY(lrc_compress(comm, net, ds, &norm, p, &comp, &res));
    if (job->mean) {
        LRC_TRY(lrc_net_set_meta(comp, "lrc.mean", job->mean));
        LRC_TRY(lrc_net_set_meta(comp, "lrc.std", job->std));
    }
    {
        char desc[256];
        snprintf(desc, sizeof desc, "lrcompress --method %s, theoretical conv "
                 "speedup %.2fx", lrc_method_name(p->method), res.speedup);
        LRC_TRY(lrc_net_set_meta(comp, "lrc.compressed", desc));
    }
    int code = LRC_OK;
    if (rank == 0)
        code = (int)lrc_onnx_save(comp, job->output);
    if (rank == 0 && code == LRC_OK && job->output_h5)
        code = (int)lrc_net_save_h5(comp, job->output_h5);
    MPI_Bcast(&code, 1, MPI_INT, 0, comm);
    if (code != LRC_OK && rank == 0) {
        st = (lrc_status)code; /* rank 0 said why */
        goto cleanup;
    }
    if (code != LRC_OK)
        LRC_FAIL((lrc_status)code, "%s: the compressed model was not written",
                 job->output);
    if (job->results)
        LRC_TRY(lrc_compress_write_results(comm, job->results, job->model,
                                           job->data, p, &res));
    if (job->stats)
        LRC_TRY(lrc_compress_write_stats(comm, job->stats, &res));
    if (rank == 0) {
        lrc_compress_print(&res, stdout);
        printf("compressed model: %s\n", job->output);
        if (job->output_h5)
            printf("compressed model (HDF5): %s\n", job->output_h5);
        if (job->results)
            printf("results: %s\n", job->results);
        if (job->stats)
            printf("statistics: %s\n", job->stats);
        fflush(stdout);
    }
    if (job->eval) {
        lrc_eval_result ev[2];
        LRC_TRY(lrc_cli_eval_both(comm, net, comp, job->eval, &norm,
                                  job->eval_limit, p->quiet, job->skip_bad,
                                  job->eval_backend, ev));
        if (job->results)
            LRC_TRY(lrc_results_add_eval(comm, job->results, job->eval, &ev[0],
                                         &ev[1], res.speedup));
    }
cleanup:
    lrc_compress_result_free(&res);
    lrc_net_destroy(&comp);
    lrc_net_destroy(&net);
    lrc_dataset_destroy(&ds);
    return st;
}
