/* Solver benchmark: one layer with d = 512 and 30,000 samples (VGG-16
 * conv4/conv5 width, the papers' sample count), 50 nonlinear iterations
 * (25 at lambda 0.01, 25 at 1.0), samples sharded over the ranks.
 *
 *   mpirun -np 2 build/bench/bench_solver [d] [samples] [rank] [iters]
 *                                         [scalapack_min_d] [mixed 0|1]
 *
 * Prints the wall time and the split between the linear start and the
 * iterations, plus the ratio of the solve time to what the dgemms alone
 * need at this machine's measured dgemm rate. Responses are synthetic:
 * a planted rank-(d/4) structure plus noise, the kind of spectrum conv
 * responses have. */
#include <cblas.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lrc/lrc.h"

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static double unif(uint64_t i) { return (double)(mix(i) >> 11) / 9007199254740992.0 - 0.5; }

/* sgemm (single) or dgemm rate (GFLOP/s) of one rank on a d x d x n
 * product like the (M, b)-step's. */
static double gemm_rate(int64_t d, int64_t n, int single)
{
    const size_t sz = single ? sizeof(float) : sizeof(double);
    void *a = calloc((size_t)(n * d), sz), *c = calloc((size_t)(d * d), sz);
    for (int64_t i = 0; i < n * d; i++) {
        if (single)
            ((float *)a)[i] = (float)unif((uint64_t)i);
        else
            ((double *)a)[i] = unif((uint64_t)i);
    }
    double t0 = lrc_wtime();
    int reps = 3;
    for (int r = 0; r < reps; r++) {
        if (single)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)d, (int)d,
                        (int)n, 1.0f, a, (int)d, a, (int)d, 0.0f, c, (int)d);
        else
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)d, (int)d,
                        (int)n, 1.0, a, (int)d, a, (int)d, 0.0, c, (int)d);
    }
    double t = (lrc_wtime() - t0) / reps;
    free(a);
    free(c);
    return 2.0 * (double)d * (double)d * (double)n / t / 1e9;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    char blas_note[512];
    if (lrc_blas_note(blas_note, sizeof blas_note) && rank == 0)
        fprintf(stderr, "bench_solver: warning: %s\n", blas_note);
    if (size > 1 && !getenv("OPENBLAS_NUM_THREADS"))
        openblas_set_num_threads(1); /* one core per rank, as lrcompress does */
    const int64_t d = argc > 1 ? atoll(argv[1]) : 512;
    const int64_t n = argc > 2 ? atoll(argv[2]) : 30000;
    const int64_t r = argc > 3 ? atoll(argv[3]) : d / 4;
    const int iters = argc > 4 ? atoi(argv[4]) : 50;
    /* 5th argument: the solver's scalapack_min_d (default: the library's) */
    const long long scal_min = argc > 5 ? atoll(argv[5]) : -1;
    /* 6th argument: 1 mixed precision (the default, as in the library), 0 all double */
    const int mixed = argc > 6 ? atoi(argv[6]) : 1;
    int64_t start, count;
    lrc_shard_range(n, rank, size, &start, &count);
    const int64_t planted = d / 4;
    double *y = calloc((size_t)(count * d), sizeof *y);
    double *yh = calloc((size_t)(count * d), sizeof *yh);
    double *g = calloc((size_t)(d * planted), sizeof *g);
    double *h = calloc((size_t)planted, sizeof *h);
    if (!y || !yh || !g || !h) {
        fprintf(stderr, "bench_solver: out of memory\n");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    for (int64_t i = 0; i < d * planted; i++) g[i] = unif(1000000007ULL + (uint64_t)i);
    for (int64_t s = 0; s < count; s++) {
        for (int64_t k = 0; k < planted; k++) h[k] = unif(((uint64_t)(start + s) << 20) + (uint64_t)k);
        for (int64_t j = 0; j < d; j++) {
            double v = 0.1;
            for (int64_t k = 0; k < planted; k++) v += g[j * planted + k] * h[k];
            v += 0.05 * unif(((uint64_t)(start + s) << 32) + (uint64_t)j + 77);
            y[s * d + j] = v;
            yh[s * d + j] = v + 0.05 * unif(((uint64_t)(start + s) << 32) + (uint64_t)j + 99);
        }
    }
    lrc_samples smp = {d, count, y, yh};
    lrc_nonlinear_params p;
    lrc_nonlinear_defaults(&p);
    p.iters_small = iters / 2;
    p.iters_large = iters - iters / 2;
    if (scal_min > 0)
        p.scalapack_min_d = scal_min;
    p.mixed_precision = mixed;
    lrc_lowrank f;
    lrc_solve_report rep;
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = lrc_wtime();
    if (lrc_solve_layer(MPI_COMM_WORLD, &smp, r, 0, &p, &f, &rep) != LRC_OK)
        MPI_Abort(MPI_COMM_WORLD, 1);
    double t_lin = lrc_wtime() - t0;
    lrc_lowrank_free(&f);
    lrc_solve_report_free(&rep);
    MPI_Barrier(MPI_COMM_WORLD);
    t0 = lrc_wtime();
    if (lrc_solve_layer(MPI_COMM_WORLD, &smp, r, 1, &p, &f, &rep) != LRC_OK)
        MPI_Abort(MPI_COMM_WORLD, 1);
    double t_all = lrc_wtime() - t0;
    double rate = gemm_rate(d, count > 0 ? count : 1, mixed);
    if (rank == 0) {
        /* per iteration: z^T yhc (2 d^2 n) and the prediction (4 d r n), on
         * n/size samples per rank; plus the d x d solves */
        double flop = 2.0 * d * d * ((double)n / size) + 4.0 * d * r * ((double)n / size);
        double ideal = iters * flop / (rate * 1e9);
        printf("bench_solver: d=%lld samples=%lld rank=%lld iterations=%d ranks=%d "
               "precision=%s eigen=%s\n", (long long)d, (long long)n, (long long)r,
               iters, size, mixed ? "mixed" : "double",
               size > 1 && d >= p.scalapack_min_d ? "ScaLAPACK" : "LAPACK on rank 0");
        printf("  linear solution        %8.3f s\n", t_lin);
        printf("  linear + %2d iterations %8.3f s  (%.3f s per iteration)\n", iters,
               t_all, (t_all - t_lin) / iters);
        /* mixed makes each chunk's prediction inside the sweeps */
        printf("  rank 0 in the iterations: z-step sweeps%s %.3f s, Z^T Yh %.3f s, "
               "d x d solves %.3f s, predictions %.3f s\n",
               mixed ? " (with the predictions)" : "", rep.seconds[0],
               rep.seconds[1], rep.seconds[2], rep.seconds[3]);
        printf("  error: linear %.5g -> nonlinear %.5g\n", rep.linear_error, rep.final_error);
        printf("  %s rate per rank %.1f GFLOP/s; the iterations' products over the "
               "samples alone need %.3f s at that rate: ratio %.2f\n",
               mixed ? "sgemm" : "dgemm", rate, ideal, (t_all - t_lin) / ideal);
        printf("  target: <= 10 s on 2 ranks\n");
    }
    lrc_lowrank_free(&f);
    lrc_solve_report_free(&rep);
    free(y);
    free(yh);
    free(g);
    free(h);
    MPI_Finalize();
    return 0;
}
