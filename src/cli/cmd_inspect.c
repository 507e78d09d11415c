/* lrcompress inspect MODEL.onnx [--input C,H,W] */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

lrc_status lrc_cmd_inspect(MPI_Comm comm, int argc, char **argv)
{
    lrc_status st = LRC_OK;
    lrc_net *net = NULL;
    const char *model = NULL, *input = NULL;
    int rank = 0;
    MPI_Comm_rank(comm, &rank);
    const lrc_cli_option opts[] = {{"--input", &input, NULL}};
    LRC_TRY(lrc_cli_parse("inspect", argc, argv, opts, 1, &model));
    if (!model)
        LRC_FAIL(LRC_ERR_ARG, "inspect: give a model (lrcompress inspect "
                 "MODEL.onnx)");
    LRC_TRY(lrc_model_load(model, &net));
    int64_t chw[3];
    lrc_net_declared_input(net, chw);
    if (input) {
        long long c, h, w;
        char extra;
        if (sscanf(input, "%lld,%lld,%lld%c", &c, &h, &w, &extra) != 3)
            LRC_FAIL(LRC_ERR_ARG, "--input '%s' is not C,H,W", input);
        chw[0] = c;
        chw[1] = h;
        chw[2] = w;
    } else if (chw[0] <= 0 || chw[1] <= 0 || chw[2] <= 0) {
        LRC_FAIL(LRC_ERR_ARG, "%s: the model's input shape is dynamic; give "
                 "--input C,H,W", model);
    }
    LRC_TRY(lrc_net_set_input(net, chw[0], chw[1], chw[2]));
    if (rank == 0)
        lrc_net_print(net, stdout);
cleanup:
    lrc_net_destroy(&net);
    return st;
}
