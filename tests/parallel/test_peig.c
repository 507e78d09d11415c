/* lrc_peig_sym (ScaLAPACK pdsyevd on a BLACS grid) under mpirun at 1, 2 and
 * 3 ranks. References: LAPACKE_dsyevd called here directly (with the
 * ordering and sign convention re-implemented from their definition) and
 * lrc_eig_sym, the serial solver whose conventions the parallel one must
 * reproduce. Matrices are generated from a seed, identically on every rank.
 *
 * Every assertion is made on every rank on values reduced over all ranks
 * (worst error, worst status): a failure seen by one rank alone would
 * otherwise leave the others waiting in the next collective. */
#include <lapacke.h>
#include <math.h>
#include <mpi.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lrc/method.h"
#include "lrc/parallel.h"
#include "parallel/parallel_impl.h"

static int g_rank, g_size;

/* ---------------------------------------------------------------- helpers */

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* Uniform in [-1, 1) from a counter, the same on every rank. */
static double uni(uint64_t seed, uint64_t i)
{
    return (double)(mix(seed * 0x100000001b3ULL + i) >> 11) / 4503599627370496.0 - 1.0;
}

static double *alloc_d(size_t n)
{
    double *p = calloc(n ? n : 1, sizeof *p);
    assert_non_null(p);
    return p;
}

/* A random symmetric d x d matrix, exactly symmetric. */
static void random_sym(int64_t d, uint64_t seed, double *S)
{
    for (int64_t i = 0; i < d; i++)
        for (int64_t j = 0; j <= i; j++)
            S[i * d + j] = S[j * d + i] = uni(seed, (uint64_t)(i * d + j));
}

/* S = Q diag(lam) Q^T with Q orthogonal (QR of a random matrix),
 * symmetrised exactly. */
static void sym_with_spectrum(int64_t d, uint64_t seed, const double *lam, double *S)
{
    double *Q = alloc_d((size_t)(d * d)), *tau = alloc_d((size_t)d);
    for (int64_t i = 0; i < d * d; i++)
        Q[i] = uni(seed, (uint64_t)i);
    assert_int_equal(LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, (int)d, (int)d, Q, (int)d, tau), 0);
    assert_int_equal(LAPACKE_dorgqr(LAPACK_ROW_MAJOR, (int)d, (int)d, (int)d, Q, (int)d, tau), 0);
    for (int64_t i = 0; i < d; i++)
        for (int64_t j = 0; j <= i; j++) {
            double s = 0;
            for (int64_t k = 0; k < d; k++)
                s += Q[i * d + k] * lam[k] * Q[j * d + k];
            S[i * d + j] = S[j * d + i] = s;
        }
    free(Q);
    free(tau);
}

/* The reference: LAPACKE_dsyevd directly; eigenvalues turned descending,
 * eigenvectors as columns of row-major V, each column's largest-magnitude
 * component (the first, on a tie) made positive. */
static void reference_eig(int64_t d, const double *S, double *w, double *V)
{
    double *a = alloc_d((size_t)(d * d)), *wa = alloc_d((size_t)d);
    memcpy(a, S, (size_t)(d * d) * sizeof *a);
    assert_int_equal(LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', (int)d, a, (int)d, wa), 0);
    for (int64_t j = 0; j < d; j++) {
        w[j] = wa[d - 1 - j];
        int64_t big = 0;
        for (int64_t i = 0; i < d; i++)
            if (fabs(a[i * d + (d - 1 - j)]) > fabs(a[big * d + (d - 1 - j)]))
                big = i;
        const double s = a[big * d + (d - 1 - j)] < 0 ? -1.0 : 1.0;
        for (int64_t i = 0; i < d; i++)
            V[i * d + j] = s * a[i * d + (d - 1 - j)];
    }
    free(a);
    free(wa);
}

/* max |w - wr| / max |wr| (1 if wr is all zero). */
static double eigval_err(int64_t d, const double *w, const double *wr)
{
    double scale = 0, e = 0;
    for (int64_t j = 0; j < d; j++)
        scale = fmax(scale, fabs(wr[j]));
    for (int64_t j = 0; j < d; j++)
        e = fmax(e, fabs(w[j] - wr[j]));
    return e / (scale > 0 ? scale : 1.0);
}

static double max_abs_diff(size_t n, const double *a, const double *b)
{
    double e = 0;
    for (size_t i = 0; i < n; i++)
        e = fmax(e, fabs(a[i] - b[i]));
    return e;
}

/* || V[:, s:e] V[:, s:e]^T - R[:, s:e] R[:, s:e]^T ||_max: the projectors
 * onto the span of columns s..e-1. */
static double projector_err(int64_t d, const double *V, const double *R,
                            int64_t s, int64_t e)
{
    double m = 0;
    for (int64_t i = 0; i < d; i++)
        for (int64_t j = 0; j < d; j++) {
            double a = 0, b = 0;
            for (int64_t k = s; k < e; k++) {
                a += V[i * d + k] * V[j * d + k];
                b += R[i * d + k] * R[j * d + k];
            }
            m = fmax(m, fabs(a - b));
        }
    return m;
}

/* || V^T V - I ||_max */
static double orthonormality_err(int64_t d, const double *V)
{
    double m = 0;
    for (int64_t a = 0; a < d; a++)
        for (int64_t b = 0; b < d; b++) {
            double s = 0;
            for (int64_t i = 0; i < d; i++)
                s += V[i * d + a] * V[i * d + b];
            m = fmax(m, fabs(s - (a == b)));
        }
    return m;
}

/* The largest value over all ranks (NaN counts as infinite). */
static double worst(double x)
{
    double y = 0;
    if (isnan(x))
        x = INFINITY;
    assert_int_equal(MPI_Allreduce(&x, &y, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD), MPI_SUCCESS);
    return y;
}

/* Status codes on all ranks: returns `st` if every rank got it, -1 if the
 * ranks disagree. */
static int common_status(lrc_status st)
{
    int v[2] = {(int)st, -(int)st};
    assert_int_equal(MPI_Allreduce(MPI_IN_PLACE, v, 2, MPI_INT, MPI_MAX, MPI_COMM_WORLD), MPI_SUCCESS);
    return v[0] == -v[1] ? v[0] : -1;
}

/* 1 if n doubles are bitwise identical on every rank of comm (FNV-1a hash of
 * the bytes, compared through MIN and MAX), then agreed over all ranks. */
static int identical_on(MPI_Comm comm, const double *x, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL, lo = 0, hi = 0;
    const unsigned char *b = (const unsigned char *)x;
    for (size_t i = 0; i < n * sizeof *x; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    assert_int_equal(MPI_Allreduce(&h, &lo, 1, MPI_UINT64_T, MPI_MIN, comm), MPI_SUCCESS);
    assert_int_equal(MPI_Allreduce(&h, &hi, 1, MPI_UINT64_T, MPI_MAX, comm), MPI_SUCCESS);
    return worst(lo != hi) == 0;
}

/* Solves S on `comm` (nprow = 0: lrc_peig_sym's own grid) and checks
 * against the LAPACKE reference: values to 1e-10 of the largest, vectors to
 * 1e-8 entrywise, results bitwise identical on the ranks of comm. */
static void check_against_lapacke(MPI_Comm comm, int nprow, int npcol, int64_t d,
                                  const double *S, int64_t nb, const char *what)
{
    double *w = alloc_d((size_t)d), *V = alloc_d((size_t)(d * d));
    double *wr = alloc_d((size_t)d), *Vr = alloc_d((size_t)(d * d));
    lrc_status st = nprow ? lrc_peig_sym_grid(comm, nprow, npcol, d, S, w, V, nb)
                          : lrc_peig_sym(comm, d, S, w, V, nb);
    assert_int_equal(common_status(st), LRC_OK);
    reference_eig(d, S, wr, Vr);
    const double ew = worst(eigval_err(d, w, wr));
    const double ev = worst(max_abs_diff((size_t)(d * d), V, Vr));
    const int same = identical_on(comm, w, (size_t)d) &&
                     identical_on(comm, V, (size_t)(d * d));
    if (g_rank == 0)
        printf("  %-22s d %3d nb %2d: eigenvalues %.1e, eigenvectors %.1e%s\n",
               what, (int)d, (int)nb, ew, ev, same ? "" : ", DIFFER ACROSS RANKS");
    assert_true(ew <= 1e-10);
    assert_true(ev <= 1e-8);
    assert_true(same);
    free(w);
    free(V);
    free(wr);
    free(Vr);
}

/* ------------------------------------------------------------------ tests */

static void test_grid_shape(void **state)
{
    (void)state;
    /* ranks, d, nb -> nprow, npcol */
    static const int64_t want[][5] = {
        {0, 1000, 64, 1, 1}, {1, 1000, 64, 1, 1}, {2, 1000, 64, 1, 2},
        {3, 1000, 64, 1, 3}, {4, 1000, 64, 2, 2}, {6, 1000, 64, 2, 3},
        {7, 1000, 64, 1, 7}, {8, 1000, 64, 2, 4}, {9, 1000, 64, 3, 3},
        {12, 1000, 64, 3, 4}, {16, 1000, 64, 4, 4},
        /* too few blocks for every rank: a smaller grid */
        {3, 128, 64, 1, 2}, {3, 129, 64, 1, 3}, {3, 5, 64, 1, 1},
        {3, 5, 0, 1, 1}, {4, 65, 0, 2, 2}, {4, 64, 0, 1, 1},
        {7, 256, 64, 2, 3}, {5, 128, 64, 2, 2}, {3, 1, 2, 1, 1},
        {3, 5, 2, 1, 3}, {3, 0, 2, 1, 1}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        int r = 0, c = 0;
        lrc_grid_shape((int)want[i][0], want[i][1], want[i][2], &r, &c);
        assert_int_equal(r, want[i][3]);
        assert_int_equal(c, want[i][4]);
    }
}

static void test_random_vs_lapacke(void **state)
{
    (void)state;
    static const int64_t dims[] = {1, 5, 64, 100, 257};
    static const int64_t nbs[] = {2, 16, 64};
    for (size_t a = 0; a < sizeof dims / sizeof dims[0]; a++)
        for (size_t b = 0; b < sizeof nbs / sizeof nbs[0]; b++) {
            const int64_t d = dims[a];
            double *S = alloc_d((size_t)(d * d));
            random_sym(d, 100 + (uint64_t)(a * 10 + b), S);
            check_against_lapacke(MPI_COMM_WORLD, 0, 0, d, S, nbs[b], "random");
            free(S);
        }
}

/* Reference ScaLAPACK issue #74: pdsyevd's workspace query is too small for
 * pdlasrt when a rank holds few columns (n = 128, nb = 70 on 1 x 2 and
 * 1 x 3); and the default block size. */
static void test_workspace_and_default_block(void **state)
{
    (void)state;
    double *S = alloc_d(257 * 257);
    random_sym(128, 7, S);
    check_against_lapacke(MPI_COMM_WORLD, 0, 0, 128, S, 70, "n 128, nb 70");
    random_sym(257, 8, S);
    check_against_lapacke(MPI_COMM_WORLD, 0, 0, 257, S, 0, "default nb");
    check_against_lapacke(MPI_COMM_WORLD, 0, 0, 5, S, 300, "nb > d");
    free(S);
}

/* The conventions of lrc_eig_sym itself, compared with no sign processing:
 * same order, same signs. Eigenvalues alone (V = NULL) come from the same
 * computation and must match the V path bitwise, which also checks that a
 * second run repeats the first (it did not on 3 ranks before the grid used
 * BLACS' repeatable summation order). */
static void test_matches_lrc_eig_sym(void **state)
{
    (void)state;
    enum { D = 100 };
    double *S = alloc_d(D * D), *w = alloc_d(D), *V = alloc_d(D * D);
    double *ws = alloc_d(D), *Vs = alloc_d(D * D), *w0 = alloc_d(D);
    random_sym(D, 42, S);
    assert_int_equal(lrc_eig_sym(D, S, ws, Vs), LRC_OK);
    assert_int_equal(common_status(lrc_peig_sym(MPI_COMM_WORLD, D, S, w, V, 16)), LRC_OK);
    assert_int_equal(common_status(lrc_peig_sym(MPI_COMM_WORLD, D, S, w0, NULL, 16)), LRC_OK);
    const double ew = worst(eigval_err(D, w, ws));
    const double ev = worst(max_abs_diff(D * D, V, Vs));
    const double e0 = worst(memcmp(w, w0, D * sizeof *w) != 0);
    if (g_rank == 0)
        printf("  vs lrc_eig_sym          d %3d nb 16: eigenvalues %.1e, eigenvectors %.1e\n",
               D, ew, ev);
    assert_true(ew <= 1e-10);
    assert_true(ev <= 1e-8);
    assert_true(e0 == 0);
    free(S);
    free(w);
    free(V);
    free(ws);
    free(Vs);
    free(w0);
}

/* Repeated eigenvalues: vectors within an eigenspace are arbitrary, so the
 * projectors onto each eigenspace are compared instead. */
static void test_repeated_eigenvalues(void **state)
{
    (void)state;
    enum { D = 60 };
    /* multiplicities 7, 1, 12, 20 (zero), 3, then 17 simple values */
    double lam[D];
    int64_t k = 0;
    for (int i = 0; i < 7; i++) lam[k++] = 4.0;
    lam[k++] = 2.5;
    for (int i = 0; i < 12; i++) lam[k++] = 1.0;
    for (int i = 0; i < 20; i++) lam[k++] = 0.0;
    for (int i = 0; i < 3; i++) lam[k++] = -1.5;
    for (int i = 0; k < D; i++) lam[k++] = -0.9 + 0.1 * i + 0.013;
    double *S = alloc_d(D * D), *w = alloc_d(D), *V = alloc_d(D * D);
    double *wr = alloc_d(D), *Vr = alloc_d(D * D);
    sym_with_spectrum(D, 5, lam, S);
    reference_eig(D, S, wr, Vr);
    static const int64_t nbs[] = {2, 16};
    for (size_t b = 0; b < 2; b++) {
        assert_int_equal(common_status(lrc_peig_sym(MPI_COMM_WORLD, D, S, w, V, nbs[b])), LRC_OK);
        double ep = 0;
        int clusters = 0;
        for (int64_t s = 0, e; s < D; s = e) {
            for (e = s + 1; e < D && fabs(wr[e] - wr[s]) < 1e-8; e++)
                ;
            ep = fmax(ep, projector_err(D, V, Vr, s, e));
            clusters++;
        }
        const double ew = worst(eigval_err(D, w, wr));
        ep = worst(ep);
        const double eo = worst(orthonormality_err(D, V));
        const int same = identical_on(MPI_COMM_WORLD, V, D * D);
        if (g_rank == 0)
            printf("  repeated (%d spaces)   d %3d nb %2d: eigenvalues %.1e, "
                   "projectors %.1e, orthonormality %.1e\n", clusters, D,
                   (int)nbs[b], ew, ep, eo);
        assert_int_equal(clusters, 22);
        assert_true(ew <= 1e-10);
        assert_true(ep <= 1e-8);
        assert_true(eo <= 1e-12);
        assert_true(same);
    }
    free(S);
    free(w);
    free(V);
    free(wr);
    free(Vr);
}

/* Rank-deficient S = B B^T (rank 10 of 64): the range is compared through
 * its projector, the null space's eigenvalues must be zero to rounding. And
 * the zero matrix: all eigenvalues exactly zero, an orthonormal V. */
static void test_rank_deficient(void **state)
{
    (void)state;
    enum { D = 64, R = 10 };
    double *B = alloc_d(D * R), *S = alloc_d(D * D), *w = alloc_d(D);
    double *V = alloc_d(D * D), *wr = alloc_d(D), *Vr = alloc_d(D * D);
    for (int i = 0; i < D * R; i++)
        B[i] = uni(9, (uint64_t)i);
    for (int i = 0; i < D; i++)
        for (int j = 0; j <= i; j++) {
            double s = 0;
            for (int k = 0; k < R; k++)
                s += B[i * R + k] * B[j * R + k];
            S[i * D + j] = S[j * D + i] = s;
        }
    reference_eig(D, S, wr, Vr);
    assert_int_equal(common_status(lrc_peig_sym(MPI_COMM_WORLD, D, S, w, V, 16)), LRC_OK);
    double null = 0;
    for (int j = R; j < D; j++)
        null = fmax(null, fabs(w[j]));
    const double ew = worst(eigval_err(D, w, wr));
    const double ep = worst(projector_err(D, V, Vr, 0, R));
    null = worst(null / w[0]);
    const int same = identical_on(MPI_COMM_WORLD, V, D * D);
    if (g_rank == 0)
        printf("  rank %d of %d           nb 16: eigenvalues %.1e, range "
               "projector %.1e, null eigenvalues %.1e\n", R, D, ew, ep, null);
    assert_true(ew <= 1e-10);
    assert_true(ep <= 1e-8);
    assert_true(null <= 1e-12);
    assert_true(same);

    memset(S, 0, D * D * sizeof *S);
    assert_int_equal(common_status(lrc_peig_sym(MPI_COMM_WORLD, 20, S, w, V, 4)), LRC_OK);
    double wmax = 0;
    for (int j = 0; j < 20; j++)
        wmax = fmax(wmax, fabs(w[j]));
    assert_true(worst(wmax) == 0);
    assert_true(worst(orthonormality_err(20, V)) <= 1e-14);
    assert_true(identical_on(MPI_COMM_WORLD, V, 20 * 20));
    free(B);
    free(S);
    free(w);
    free(V);
    free(wr);
    free(Vr);
}

/* Every grid that fits, including those that leave ranks out (1 x 1 on 3
 * ranks): the ranks outside the grid must still return the full result.
 * The small cases put grid processes without any rows or columns of the
 * matrix (d = 2, nb = 1 on 3 x 1 overran pdsyevd's workspace in pdlaed1)
 * and a matrix inside one block (d = 5, nb = 16: pdormtr's workspace). */
static void test_all_grids(void **state)
{
    (void)state;
    static const int64_t cases[][2] = {{100, 8}, {2, 1}, {5, 16}, {7, 2}};
    double *S = alloc_d(100 * 100);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const int64_t d = cases[k][0], nb = cases[k][1];
        random_sym(d, 77 + (uint64_t)k, S);
        for (int r = 1; r <= g_size; r++)
            for (int c = 1; r * c <= g_size; c++) {
                char what[64];
                snprintf(what, sizeof what, "grid %d x %d of %d", r, c, g_size);
                check_against_lapacke(MPI_COMM_WORLD, r, c, d, S, nb, what);
            }
    }
    free(S);
}

/* Collective on comm, not on MPI_COMM_WORLD: two halves solve different
 * matrices at the same time. */
static void test_sub_communicator(void **state)
{
    (void)state;
    enum { D = 64 };
    MPI_Comm half;
    const int color = g_rank % 2;
    assert_int_equal(MPI_Comm_split(MPI_COMM_WORLD, color, g_rank, &half), MPI_SUCCESS);
    double *S = alloc_d(D * D);
    random_sym(D, 300 + (uint64_t)color, S);
    check_against_lapacke(half, 0, 0, D, S, 16, color ? "odd ranks" : "even ranks");
    MPI_Comm_free(&half);
    free(S);
}

/* Bad input gives the same error on every rank and no hang, also when only
 * one rank is wrong. The library prints one message per failure. */
static void test_errors(void **state)
{
    (void)state;
    double S[25], w[5], V[25];
    random_sym(5, 1, S);
    if (g_rank == 0)
        printf("  (error messages expected below)\n");
    fflush(stdout);
    assert_int_equal(common_status(lrc_peig_sym(MPI_COMM_WORLD, 0, S, w, V, 2)), LRC_ERR_ARG);
    assert_int_equal(common_status(lrc_peig_sym(MPI_COMM_WORLD, (int64_t)INT32_MAX + 1, S,
                                                w, V, 2)), LRC_ERR_ARG);
    assert_int_equal(common_status(lrc_peig_sym(MPI_COMM_WORLD, 5, S, w, V, -1)), LRC_ERR_ARG);
    assert_int_equal(common_status(lrc_peig_sym(MPI_COMM_WORLD, 5, NULL, w, V, 2)), LRC_ERR_ARG);
    assert_int_equal(common_status(lrc_peig_sym(MPI_COMM_NULL, 5, S, w, V, 2)), LRC_ERR_ARG);
    assert_int_equal(common_status(lrc_peig_sym_grid(MPI_COMM_WORLD, g_size + 1, 1, 5, S, w,
                                                     V, 2)), LRC_ERR_ARG);
    S[3 * 5 + 1] = NAN;
    assert_int_equal(common_status(lrc_peig_sym(MPI_COMM_WORLD, 5, S, w, V, 2)), LRC_ERR_NUMERIC);
    random_sym(5, 1, S);
    /* only the last rank differs */
    const int last = g_rank == g_size - 1;
    if (last)
        S[0] = INFINITY;
    assert_int_equal(common_status(lrc_peig_sym(MPI_COMM_WORLD, 5, S, w, V, 2)), LRC_ERR_NUMERIC);
    random_sym(5, 1, S);
    if (g_size > 1) {
        assert_int_equal(common_status(lrc_peig_sym(MPI_COMM_WORLD, last ? 4 : 5, S, w, V, 2)),
                         LRC_ERR_ARG);
        assert_int_equal(common_status(lrc_peig_sym(MPI_COMM_WORLD, 5, S, w, V, last ? 4 : 2)),
                         LRC_ERR_ARG);
        assert_int_equal(common_status(lrc_peig_sym(MPI_COMM_WORLD, 5, S, w, last ? NULL : V,
                                                    2)), LRC_ERR_ARG);
    }
    /* and the solver still works afterwards */
    check_against_lapacke(MPI_COMM_WORLD, 0, 0, 5, S, 2, "after errors");
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grid_shape),
        cmocka_unit_test(test_random_vs_lapacke),
        cmocka_unit_test(test_workspace_and_default_block),
        cmocka_unit_test(test_matches_lrc_eig_sym),
        cmocka_unit_test(test_repeated_eigenvalues),
        cmocka_unit_test(test_rank_deficient),
        cmocka_unit_test(test_all_grids),
        cmocka_unit_test(test_sub_communicator),
        cmocka_unit_test(test_errors),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    if (rc != 0 && g_size > 1)
        MPI_Abort(MPI_COMM_WORLD, 1);
    MPI_Finalize();
    return rc;
}
