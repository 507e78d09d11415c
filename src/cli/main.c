/* lrcompress: the command-line entry point. Under MPI a failure on any rank
 * ends every rank (MPI_Abort), so a collective never hangs. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: lrcompress COMMAND [options]\n"
            "\n"
            "commands:\n"
            "  run CONFIG.yaml [--set key=value ...] [--quiet | --verbose]\n"
            "      the whole job from a config (docs/CONFIG.md): compress,\n"
            "      write OUTPUT/compressed.onnx, results.h5, stats.h5, evaluate\n"
            "  eval MODEL.onnx|MODEL.h5 --data SPEC [--mean M --std S] [--limit N]\n"
            "       [--batch B] [--save-logits OUT.h5] [--backend openblas|winograd|onednn]\n"
            "      top-1/top-5 accuracy of a model on a labelled data set\n"
            "  compress MODEL.onnx --data SPEC --speedup S --output OUT.onnx\n"
            "       [--method nonlinear-asym|nonlinear|linear-asym|linear|svd]\n"
            "       [--layers a,b,...] [--ranks r1,r2,...] [--images N]\n"
            "       [--locations L] [--seed X] [--mean M --std S]\n"
            "       [--iters SMALL,LARGE] [--lambda SMALL,LARGE] [--batch B]\n"
            "       [--precision mixed|double] [--memory-limit MB [--scratch DIR]]\n"
            "       [--output-h5 OUT.h5] [--results RESULTS.h5] [--stats STATS.h5]\n"
            "       [--eval SPEC [--eval-limit N] [--eval-backend openblas|winograd|onednn]]\n"
            "       [--quiet | --verbose]\n"
            "      low-rank approximation of the conv layers for a whole-model\n"
            "      speedup; writes the compressed ONNX model\n"
            "  inspect MODEL.onnx [--input C,H,W]\n"
            "      the model's layers, shapes, parameters and multiply-adds\n"
            "  data SPEC [--first K] [--limit N] [--save OUT.h5]\n"
            "      reads (decodes) a data set's images; --save writes them as\n"
            "      the network sees them, before normalisation, for h5:OUT.h5\n"
            "\n"
            "data specs: fashion-mnist:train, fashion-mnist:test,\n"
            "  idx:IMAGES.gz,LABELS.gz, h5:FILE.h5,\n"
            "  imagelist:LIST.txt:ROOT[:size=224,resize=256,channels=3,order=rgb]\n"
            "  (\"relative/path.JPEG label\" lines; JPEG or PNG files under ROOT)\n"
            "Run under mpirun to shard the images across ranks.\n");
}

int main(int argc, char **argv)
{
    int rank = 0, size = 1;
    if (MPI_Init(&argc, &argv) != MPI_SUCCESS) {
        fprintf(stderr, "lrcompress error: MPI_Init failed\n");
        return 1;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    /* One BLAS thread per rank unless the user chose otherwise: ranks
     * already use the cores. */
    if (size > 1 && !getenv("OPENBLAS_NUM_THREADS"))
        openblas_set_num_threads(1);
    /* The commands that compute: say when OpenBLAS runs kernels below the
     * CPU's (OPENBLAS_CORETYPE=Haswell on an AVX-512 CPU, say). */
    char blas_note[512];
    if (argc >= 2 &&
        (!strcmp(argv[1], "run") || !strcmp(argv[1], "compress") ||
         !strcmp(argv[1], "eval")) &&
        lrc_blas_note(blas_note, sizeof blas_note) && rank == 0)
        fprintf(stderr, "lrcompress: warning: %s\n", blas_note);

    lrc_status st = LRC_OK;
    int code = 0;
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "help") == 0) {
        if (rank == 0)
            usage(argc < 2 ? stderr : stdout);
        code = argc < 2 ? 2 : 0;
    } else if (strcmp(argv[1], "eval") == 0) {
        st = lrc_cmd_eval(MPI_COMM_WORLD, argc - 1, argv + 1);
    } else if (strcmp(argv[1], "run") == 0) {
        st = lrc_cmd_run(MPI_COMM_WORLD, argc - 1, argv + 1);
    } else if (strcmp(argv[1], "compress") == 0) {
        st = lrc_cmd_compress(MPI_COMM_WORLD, argc - 1, argv + 1);
    } else if (strcmp(argv[1], "inspect") == 0) {
        st = lrc_cmd_inspect(MPI_COMM_WORLD, argc - 1, argv + 1);
    } else if (strcmp(argv[1], "data") == 0) {
        st = lrc_cmd_data(MPI_COMM_WORLD, argc - 1, argv + 1);
    } else {
        if (rank == 0) {
            fprintf(stderr, "lrcompress error: unknown command '%s'\n", argv[1]);
            usage(stderr);
        }
        code = 2;
    }
    if (st == LRC_STOPPED) {
        /* a requested stop, decided alike on every rank: no abort */
        code = 3;
    } else if (st != LRC_OK) {
        code = st == LRC_ERR_ARG ? 2 : 1;
        if (size > 1) {
            /* The message is out; end every rank rather than leave the
             * others waiting in a collective. */
            MPI_Abort(MPI_COMM_WORLD, code);
        }
    }
    MPI_Finalize();
    return code;
}
