/* The (M, b)-step's eigen problem on one core: the leading r eigenvectors
 * of a d x d symmetric positive semi-definite matrix, by LAPACK's dsyevr
 * (MRRR, just those r) and by dsyevd (divide and conquer, all d), the two
 * routines src/method/linalg.c chooses between (dsyevd when 6 r > d).
 *
 *   build/bench/bench_eig [--d 512] [--ranks 17,64,128,256] [--reps 10]
 *                         [--json bench_eig.json]
 *
 * The matrix is X^T X / n of n = 4 d seeded samples whose columns decay
 * (column j scaled by 1 / (1 + 0.05 j)), a spectrum like a layer's
 * responses. One OpenBLAS thread; best of --reps, each on a fresh copy. */
#include <cblas.h>
#include <lapacke.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

#define MAXR 32

typedef struct {
    int d, r, all;
    const double *S;
    double *A, *w, *Z;
    lapack_int *isuppz;
} eig_run;

static void run_eig(void *p)
{
    eig_run *e = p;
    lapack_int m = 0, info;
    memcpy(e->A, e->S, (size_t)e->d * (size_t)e->d * sizeof *e->A);
    if (e->all)
        info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', e->d, e->A, e->d,
                              e->w);
    else
        info = LAPACKE_dsyevr(LAPACK_ROW_MAJOR, 'V', 'I', 'U', e->d, e->A,
                              e->d, 0.0, 0.0, e->d - e->r + 1, e->d, 0.0, &m,
                              e->w, e->Z, e->r, e->isuppz);
    if (info != 0) {
        fprintf(stderr, "bench_eig: LAPACK failed (info %d)\n", (int)info);
        exit(1);
    }
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_eig [--d D] [--ranks r1,r2,...] [--reps R] "
                    "[--json FILE]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    bench_blas_check("bench_eig");
    long long ranks[MAXR] = {17, 64, 128, 256};
    int nr = 4, reps = 10, d = 512;
    const char *json = "bench_eig.json";
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc)
            usage();
        if (!strcmp(argv[i], "--d"))
            d = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--ranks"))
            nr = bench_parse_list(argv[++i], ranks, MAXR);
        else if (!strcmp(argv[i], "--reps"))
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json"))
            json = argv[++i];
        else
            usage();
    }
    if (d < 2 || nr < 1 || reps < 1)
        usage();
    for (int k = 0; k < nr; k++)
        if (ranks[k] < 1 || ranks[k] > d)
            usage();
    openblas_set_num_threads(1);
    const int n = 4 * d;
    const size_t dd = (size_t)d * (size_t)d;
    double *X = bench_alloc((size_t)n * (size_t)d, sizeof *X, "samples");
    double *S = bench_alloc(dd, sizeof *S, "matrix");
    for (size_t i = 0; i < (size_t)n * (size_t)d; i++)
        X[i] = (double)bench_unif(5, i) / (1.0 + 0.05 * (double)(i % (size_t)d));
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d, d, n, 1.0 / n, X,
                d, X, d, 0.0, S, d);
    eig_run e = {d, d, 1, S, bench_alloc(dd, sizeof(double), "copy"),
                 bench_alloc((size_t)d, sizeof(double), "eigenvalues"),
                 bench_alloc(dd, sizeof(double), "eigenvectors"),
                 bench_alloc(2 * (size_t)d, sizeof(lapack_int), "support")};
    const double t_all = bench_best_of(1, reps, run_eig, &e);

    bench_json j;
    if (bench_json_open(&j, json))
        return 1;
    bench_json_str(&j, "benchmark", "bench_eig");
    bench_json_machine(&j);
    bench_json_int(&j, "d", d);
    bench_json_num(&j, "dsyevd_all_seconds", t_all);
    bench_json_begin_array(&j, "ranks");
    printf("bench_eig: d = %d, one thread, best of %d; dsyevd (all %d): "
           "%.1f ms\n", d, reps, d, 1e3 * t_all);
    printf("  %6s | %12s | %14s | %s\n", "r", "dsyevr (r)", "dsyevr/dsyevd",
           "library uses");
    for (int k = 0; k < nr; k++) {
        e.r = (int)ranks[k];
        e.all = 0;
        const double t = bench_best_of(1, reps, run_eig, &e);
        printf("  %6d | %9.1f ms | %14.2f | %s\n", e.r, 1e3 * t, t / t_all,
               6 * e.r > d ? "dsyevd" : "dsyevr");
        bench_json_begin_object(&j, NULL);
        bench_json_int(&j, "r", e.r);
        bench_json_num(&j, "dsyevr_seconds", t);
        bench_json_str(&j, "library_uses", 6 * e.r > d ? "dsyevd" : "dsyevr");
        bench_json_end_object(&j);
    }
    bench_json_end_array(&j);
    if (bench_json_close(&j))
        return 1;
    printf("  figures written to %s\n", json);
    free(X);
    free(S);
    free(e.A);
    free(e.w);
    free(e.Z);
    free(e.isuppz);
    return 0;
}
