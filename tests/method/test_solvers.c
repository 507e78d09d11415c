/* The solvers under mpirun (1, 2, 3 ranks). Samples are generated globally
 * from a seed and sharded, so every rank count must give the same answer
 * as the same solve on one rank (MPI_COMM_SELF with all samples).
 * References: a naive covariance with LAPACKE_dsyevd called directly, a
 * brute-force 1-D minimisation for the z-step, the dense form for the
 * two-conv replacement. */
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

#include "lrc/forward.h"
#include "lrc/method.h"

static int g_rank, g_size;

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* Standard normal from a counter (Box-Muller), so any rank can make any
 * sample without a shared stream. */
static double gauss(uint64_t seed, uint64_t i)
{
    double u = ((double)(mix(seed * 1000003ULL + 2 * i) >> 11) + 0.5) / 9007199254740992.0;
    double v = (double)(mix(seed * 1000003ULL + 2 * i + 1) >> 11) / 9007199254740992.0;
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

/* Planted problem: y = G h + mu + noise, h of dim r; yh = y + shift noise
 * (asymmetric inputs when `asym`). All n x d, sample-major. */
static void planted(int64_t n, int64_t d, int64_t r, double noise, int asym,
                    double *y, double *yh, double *G)
{
    for (int64_t i = 0; i < d * r; i++)
        G[i] = gauss(1, (uint64_t)i);
    for (int64_t s = 0; s < n; s++)
        for (int64_t j = 0; j < d; j++) {
            double v = 0.3 * (double)j / (double)d; /* a non-zero mean */
            for (int64_t k = 0; k < r; k++)
                v += G[j * r + k] * gauss(2, (uint64_t)(s * r + k));
            v += noise * gauss(3, (uint64_t)(s * d + j));
            y[s * d + j] = v;
            yh[s * d + j] = asym ? v + 0.3 * gauss(4, (uint64_t)(s * d + j)) : v;
        }
}

/* Samples per mixed-precision chunk in these tests; shard() splits in whole
 * chunks, as the pipeline does, so results hold across rank counts. */
/* Even shards whose boundaries fall inside chunks (900 samples: 450 or 300
 * per rank against chunks of 64), so mixed precision must move samples. */
enum { CHUNK = 64 };

static lrc_samples shard(int64_t n, int64_t d, const double *y, const double *yh)
{
    int64_t start, count;
    lrc_shard_range(n, g_rank, g_size, &start, &count);
    lrc_samples s = {d, count, y + start * d, yh + start * d};
    return s;
}

/* The solver's defaults with `iters` iterations at each lambda. */
static lrc_nonlinear_params params(int iters, int mixed)
{
    lrc_nonlinear_params p;
    lrc_nonlinear_defaults(&p);
    p.iters_small = iters;
    p.iters_large = iters;
    p.mixed_precision = mixed;
    p.mixed_chunk = CHUNK;
    return p;
}

/* || U1 U1^T - U2 U2^T ||_max for d x r orthonormal bases (row-major). */
static double projector_diff(const double *U1, int64_t ld1, const double *U2,
                             int64_t ld2, int64_t d, int64_t r)
{
    double m = 0;
    for (int64_t i = 0; i < d; i++)
        for (int64_t j = 0; j < d; j++) {
            double a = 0, b = 0;
            for (int64_t k = 0; k < r; k++) {
                a += U1[i * ld1 + k] * U1[j * ld1 + k];
                b += U2[i * ld2 + k] * U2[j * ld2 + k];
            }
            m = fmax(m, fabs(a - b));
        }
    return m;
}

static void test_linear_recovers_planted_subspace(void **state)
{
    (void)state;
    enum { N = 600, D = 12, R = 4 };
    static double y[N * D], yh[N * D], G[D * R];
    planted(N, D, R, 1e-9, 0, y, yh, G);
    lrc_samples s = shard(N, D, y, y);
    lrc_lowrank f;
    lrc_solve_report rep;
    assert_int_equal(lrc_solve_layer(MPI_COMM_WORLD, &s, R, 0, NULL, &f, &rep), LRC_OK);
    assert_int_equal(rep.samples, N);

    /* reference: naive covariance, LAPACKE_dsyevd directly */
    double mean[D] = {0}, C[D * D] = {0}, w[D];
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++)
            mean[j] += y[i * D + j] / N;
    for (int i = 0; i < N; i++)
        for (int a = 0; a < D; a++)
            for (int b = 0; b < D; b++)
                C[a * D + b] += (y[i * D + a] - mean[a]) * (y[i * D + b] - mean[b]);
    assert_int_equal(LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', D, C, D, w), 0);
    /* top R eigenvectors are the last R columns */
    double U[D * R];
    for (int i = 0; i < D; i++)
        for (int k = 0; k < R; k++)
            U[i * R + k] = C[i * D + (D - 1 - k)];
    assert_true(projector_diff(f.P, R, U, R, D, R) < 1e-8);

    /* the planted column space of G: principal angles via the projector */
    double Q[D * R];
    memcpy(Q, G, sizeof Q);
    double tau[R];
    assert_int_equal(LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, D, R, Q, R, tau), 0);
    assert_int_equal(LAPACKE_dorgqr(LAPACK_ROW_MAJOR, D, R, R, Q, R, tau), 0);
    /* sin of the largest principal angle <= projector difference */
    assert_true(projector_diff(f.P, R, Q, R, D, R) < 1e-6);
    /* symmetric linear: M = U U^T, so Qt = P^T */
    for (int i = 0; i < D; i++)
        for (int k = 0; k < R; k++)
            assert_true(fabs(f.Qt[k * D + i] - f.P[i * R + k]) < 1e-8);
    /* b = ybar - M ybar */
    for (int i = 0; i < D; i++) {
        double my = 0;
        for (int j = 0; j < D; j++) {
            double m = 0;
            for (int k = 0; k < R; k++)
                m += f.P[i * R + k] * f.Qt[k * D + j];
            my += m * mean[j];
        }
        assert_true(fabs(f.b[i] - (mean[i] - my)) < 1e-8);
    }
    assert_true(rep.linear_lsq < 1e-12);
    lrc_lowrank_free(&f);
    lrc_solve_report_free(&rep);
}

/* Brute force over a fine grid, refined around the best point. */
static double brute_zstep(double t, double p, double lambda)
{
    double best = 0, bc = INFINITY;
    double lo = fmin(p, 0) - 2, hi = fmax(fmax(p, t), 0) + 2;
    for (int pass = 0; pass < 4; pass++) {
        double step = (hi - lo) / 4000;
        for (int i = 0; i <= 4000; i++) {
            double z = lo + i * step, rz = z > 0 ? z : 0;
            double c = (t - rz) * (t - rz) + lambda * (z - p) * (z - p);
            if (c < bc) {
                bc = c;
                best = z;
            }
        }
        lo = best - 2 * step;
        hi = best + 2 * step;
    }
    return best;
}

static void test_zstep_brute_force(void **state)
{
    (void)state;
    for (uint64_t i = 0; i < 400; i++) {
        double t = fabs(gauss(7, i)) * (i % 5 == 0 ? 0 : 1);
        double p = 2 * gauss(8, i);
        double lambda = (i % 3 == 0) ? 0.01 : (i % 3 == 1 ? 1.0 : 0.3);
        double z = lrc_zstep(t, p, lambda), zb = brute_zstep(t, p, lambda);
        double rz = z > 0 ? z : 0, rb = zb > 0 ? zb : 0;
        double c = (t - rz) * (t - rz) + lambda * (z - p) * (z - p);
        double cb = (t - rb) * (t - rb) + lambda * (zb - p) * (zb - p);
        /* the closed form is never worse than the brute force */
        assert_true(c <= cb + 1e-9);
    }
}

/* Nonlinear: relaxed objective monotone under a fixed lambda, final error
 * below the linear solution's, same answer on 1 rank and on P ranks (in
 * mixed precision, with shards of whole chunks, the same bits). */
static void nonlinear_case(int mixed)
{
    enum { N = 900, D = 10, R = 3 };
    static double y[N * D], yh[N * D], G[D * 6];
    planted(N, D, 6, 0.2, 1, y, yh, G); /* rank 6 planted, fit rank 3 */
    lrc_nonlinear_params p = params(8, mixed);
    lrc_samples s = shard(N, D, y, yh);
    lrc_lowrank f;
    lrc_solve_report rep;
    assert_int_equal(lrc_solve_layer(MPI_COMM_WORLD, &s, R, 1, &p, &f, &rep), LRC_OK);
    assert_int_equal(rep.iters, 16);
    for (int it = 0; it < rep.iters; it++) {
        /* the (M,b)-step does not increase what the z-step reached */
        assert_true(rep.relaxed_m[it] <= rep.relaxed[it] * (1 + 1e-9) + 1e-12);
        /* the next z-step does not increase it either (same lambda) */
        if (it + 1 < rep.iters && rep.lambda[it + 1] == rep.lambda[it])
            assert_true(rep.relaxed[it + 1] <= rep.relaxed_m[it] * (1 + 1e-9) + 1e-12);
    }
    assert_true(rep.final_error < rep.linear_error);
    assert_true(rep.final_error < 0.98 * rep.linear_error); /* a real gain */

    /* one rank with all samples gives the same factor */
    lrc_samples all = {D, N, y, yh};
    lrc_lowrank f1;
    lrc_solve_report rep1;
    assert_int_equal(lrc_solve_layer(MPI_COMM_SELF, &all, R, 1, &p, &f1, &rep1), LRC_OK);
    double scale = 0, diff = 0;
    for (int i = 0; i < D * R; i++) {
        scale = fmax(scale, fabs(f1.P[i]) + fabs(f1.Qt[i]));
        diff = fmax(diff, fabs(f1.P[i] - f.P[i]) + fabs(f1.Qt[i] - f.Qt[i]));
    }
    assert_true(diff <= 1e-7 * scale);
    assert_true(fabs(rep1.final_error - rep.final_error) <= 1e-9 * rep.final_error);
    if (mixed) {
        /* exact sums over aligned chunks (the chunks that straddle a shard
         * boundary moved to one rank): the same bits on any rank count */
        assert_memory_equal(f1.P, f.P, sizeof(double) * D * R);
        assert_memory_equal(f1.Qt, f.Qt, sizeof(double) * D * R);
        assert_memory_equal(f1.b, f.b, sizeof(double) * D);
        assert_true(rep1.final_error == rep.final_error);
        assert_true(rep1.linear_error == rep.linear_error);
    }
    lrc_lowrank_free(&f);
    lrc_lowrank_free(&f1);
    lrc_solve_report_free(&rep);
    lrc_solve_report_free(&rep1);
}

static void test_nonlinear(void **state)
{
    (void)state;
    nonlinear_case(0);
    nonlinear_case(1);
}

/* Mixed precision on shards that cut chunks anywhere: a rank holding only
 * part of one chunk, a rank holding nothing, a rank whose samples continue
 * a chunk begun two ranks back. The factor and errors are the same bits as
 * on one rank holding everything. */
static void test_mixed_uneven_shards(void **state)
{
    (void)state;
    /* wide enough that a product over every sample and one over a few
     * samples take different paths in OpenBLAS (its small-matrix kernels
     * sum in another order) */
    enum { N = 900, D = 96, R = 24 };
    static double y[N * D], yh[N * D], G[D * 32];
    planted(N, D, 32, 0.2, 1, y, yh, G);
    lrc_nonlinear_params p = params(4, 1);
    lrc_samples all = {D, N, y, yh};
    lrc_lowrank f1;
    lrc_solve_report r1;
    assert_int_equal(lrc_solve_layer(MPI_COMM_SELF, &all, R, 1, &p, &f1, &r1), LRC_OK);
    /* shard boundaries per layout: rank q holds [b_q, b_q+1), b_0 = 0, the
     * last rank's end N, the others' ends from the table */
    static const int64_t cut[6][3] = {
        {70, 100, 300}, /* rank 1: 30 samples inside chunk [64, 128) */
        {70, 70, 500},  /* rank 1 empty; rank 2 continues rank 0's chunk */
        {66, 127, 128}, /* ranks 1 and 2 inside one chunk begun on rank 0 */
        {70, 200, 600}, /* rank 1 sends its first samples and receives */
        {450, 860, 896}, /* a few samples on the last rank */
        {N, N, N}};     /* everything on rank 0 */
    for (int k = 0; k < 6; k++) {
        const int64_t a = g_rank == 0 ? 0 : cut[k][g_rank - 1 < 2 ? g_rank - 1 : 2];
        const int64_t hi = g_rank == g_size - 1 ? N : cut[k][g_rank < 2 ? g_rank : 2];
        lrc_samples s = {D, hi - a, y + a * D, yh + a * D};
        lrc_lowrank f;
        lrc_solve_report r;
        assert_int_equal(lrc_solve_layer(MPI_COMM_WORLD, &s, R, 1, &p, &f, &r), LRC_OK);
        assert_memory_equal(f1.P, f.P, sizeof(double) * D * R);
        assert_memory_equal(f1.Qt, f.Qt, sizeof(double) * D * R);
        assert_memory_equal(f1.b, f.b, sizeof(double) * D);
        assert_true(r1.final_error == r.final_error);
        assert_true(r1.linear_error == r.linear_error);
        assert_true(r.samples == N);
        lrc_lowrank_free(&f);
        lrc_solve_report_free(&r);
    }
    lrc_lowrank_free(&f1);
    lrc_solve_report_free(&r1);
}

/* The solver's eigen problems through ScaLAPACK (all ranks, any grid) give
 * the factor that serial LAPACK gives on one rank, within 1e-8 after six
 * nonlinear iterations (the eigen solves alone agree within 1e-10:
 * tests/parallel; here the reductions' rank-count rounding adds in). */
static void scalapack_case(int mixed)
{
    enum { N = 700, D = 40, R = 9 };
    static double y[N * D], yh[N * D], G[D * 12];
    planted(N, D, 12, 0.1, 1, y, yh, G);
    lrc_nonlinear_params p = params(3, mixed);
    lrc_samples s = shard(N, D, y, yh), all = {D, N, y, yh};
    lrc_lowrank fs, fl;
    lrc_nonlinear_params ps = p;
    ps.scalapack_min_d = 1;   /* ScaLAPACK whenever there are 2+ ranks */
    p.scalapack_min_d = 1 << 30; /* never */
    assert_int_equal(lrc_solve_layer(MPI_COMM_WORLD, &s, R, 1, &ps, &fs, NULL), LRC_OK);
    assert_int_equal(lrc_solve_layer(MPI_COMM_SELF, &all, R, 1, &p, &fl, NULL), LRC_OK);
    double scale = 0, diff = 0;
    for (int i = 0; i < D * R; i++) {
        scale = fmax(scale, fabs(fl.P[i]) + fabs(fl.Qt[i]));
        diff = fmax(diff, fabs(fl.P[i] - fs.P[i]) + fabs(fl.Qt[i] - fs.Qt[i]));
    }
    for (int i = 0; i < D; i++)
        diff = fmax(diff, fabs(fl.b[i] - fs.b[i]) / (1 + fabs(fl.b[i])));
    if (diff > 1e-8 * fmax(scale, 1.0))
        fail_msg("ScaLAPACK factor differs from LAPACK's by %g (scale %g)", diff, scale);
    lrc_lowrank_free(&fs);
    lrc_lowrank_free(&fl);
}

static void test_scalapack_vs_lapack(void **state)
{
    (void)state;
    scalapack_case(0);
    scalapack_case(1);
}

/* Mixed precision solves the same problem as double: on a layer the size
 * of a small conv layer the two give the same nonlinear error within 1e-4
 * relative and nearly the same subspace; every iteration's objectives agree
 * within 1e-3 relative. */
static void test_mixed_matches_double(void **state)
{
    (void)state;
    enum { N = 2000, D = 48, R = 12 };
    static double y[N * D], yh[N * D], G[D * 16];
    planted(N, D, 16, 0.1, 1, y, yh, G);
    lrc_nonlinear_params pm, pd;
    lrc_nonlinear_defaults(&pm);
    pm.iters_small = 10;
    pm.iters_large = 10;
    pm.mixed_chunk = CHUNK;
    pd = pm;
    pd.mixed_precision = 0;
    lrc_samples s = shard(N, D, y, yh);
    lrc_lowrank fm, fd;
    lrc_solve_report rm, rd;
    assert_int_equal(lrc_solve_layer(MPI_COMM_WORLD, &s, R, 1, &pm, &fm, &rm), LRC_OK);
    assert_int_equal(lrc_solve_layer(MPI_COMM_WORLD, &s, R, 1, &pd, &fd, &rd), LRC_OK);
    assert_int_equal(rm.iters, rd.iters);
    for (int it = 0; it < rm.iters; it++) {
        assert_true(fabs(rm.nonlinear[it] - rd.nonlinear[it]) <= 1e-3 * rd.nonlinear[it]);
        assert_true(fabs(rm.relaxed[it] - rd.relaxed[it]) <= 1e-3 * rd.relaxed[it]);
    }
    assert_true(fabs(rm.final_error - rd.final_error) <= 1e-4 * rd.final_error);
    assert_true(rm.final_error < rm.linear_error);
    assert_true(projector_diff(fm.P, R, fd.P, R, D, R) < 1e-3);
    lrc_lowrank_free(&fm);
    lrc_lowrank_free(&fd);
    lrc_solve_report_free(&rm);
    lrc_solve_report_free(&rd);
}

/* Two-layer synthetic net: layer 1 is approximated, so layer 2's input
 * differs; the asymmetric fit of layer 2 (on yhat, against y) beats the
 * symmetric one (on y) when both are applied to yhat. */
static void test_asymmetric_beats_symmetric(void **state)
{
    (void)state;
    enum { N = 1200, C = 8, D = 10, R = 4 };
    static double y[N * D], yh[N * D];
    double W1[C * C], W2[D * C];
    for (int i = 0; i < C * C; i++) W1[i] = gauss(11, (uint64_t)i);
    for (int i = 0; i < D * C; i++) W2[i] = gauss(12, (uint64_t)i);
    for (int s = 0; s < N; s++) {
        double x[C], h[C], hh[C];
        for (int j = 0; j < C; j++) x[j] = gauss(13, (uint64_t)(s * C + j));
        for (int j = 0; j < C; j++) {
            double v = 0;
            for (int k = 0; k < C; k++) v += W1[j * C + k] * x[k];
            h[j] = v > 0 ? v : 0;
            /* layer 1 approximated: its output is perturbed */
            double e = v + 0.5 * gauss(14, (uint64_t)(s * C + j)) + 0.3;
            hh[j] = e > 0 ? e : 0;
        }
        for (int j = 0; j < D; j++) {
            double a = 0, b = 0;
            for (int k = 0; k < C; k++) {
                a += W2[j * C + k] * h[k];
                b += W2[j * C + k] * hh[k];
            }
            y[s * D + j] = a;
            yh[s * D + j] = b;
        }
    }
    lrc_samples sym = shard(N, D, y, y), asym = shard(N, D, y, yh);
    lrc_lowrank fs, fa;
    assert_int_equal(lrc_solve_layer(MPI_COMM_WORLD, &sym, R, 0, NULL, &fs, NULL), LRC_OK);
    assert_int_equal(lrc_solve_layer(MPI_COMM_WORLD, &asym, R, 0, NULL, &fa, NULL), LRC_OK);
    double es = 0, ea = 0;
    for (int s = 0; s < N; s++)
        for (int i = 0; i < D; i++) {
            double ps = fs.b[i], pa = fa.b[i];
            for (int k = 0; k < R; k++) {
                double qs = 0, qa = 0;
                for (int j = 0; j < D; j++) {
                    qs += fs.Qt[k * D + j] * yh[s * D + j];
                    qa += fa.Qt[k * D + j] * yh[s * D + j];
                }
                ps += fs.P[i * R + k] * qs;
                pa += fa.P[i * R + k] * qa;
            }
            double t = y[s * D + i] > 0 ? y[s * D + i] : 0;
            es += pow(t - (ps > 0 ? ps : 0), 2);
            ea += pow(t - (pa > 0 ? pa : 0), 2);
        }
    assert_true(ea < 0.9 * es);
    lrc_lowrank_free(&fs);
    lrc_lowrank_free(&fa);
}

/* The two convs compute P (Qt W x + Qt b0) + b = M (W x + b0) + b. */
static void test_decomposition_exact(void **state)
{
    (void)state;
    enum { C = 3, D = 6, R = 2, H = 7, W = 6 };
    float w[D * C * 9], b0[D];
    for (int i = 0; i < D * C * 9; i++) w[i] = (float)gauss(21, (uint64_t)i);
    for (int i = 0; i < D; i++) b0[i] = (float)gauss(22, (uint64_t)i);
    lrc_layer conv;
    memset(&conv, 0, sizeof conv);
    conv.name = "c";
    conv.op = LRC_OP_CONV;
    conv.in_c = C; conv.out_c = D; conv.kh = conv.kw = 3; conv.sh = conv.sw = 2;
    conv.pt = conv.pl = 1; conv.pb = conv.pr = 0;
    conv.weight = w; conv.bias = b0;
    lrc_lowrank f;
    assert_int_equal(lrc_lowrank_alloc(&f, D, R), LRC_OK);
    for (int i = 0; i < D * R; i++) {
        f.P[i] = gauss(23, (uint64_t)i);
        f.Qt[i] = gauss(24, (uint64_t)i);
    }
    for (int i = 0; i < D; i++) f.b[i] = gauss(25, (uint64_t)i);
    lrc_layer la, lb;
    assert_int_equal(lrc_decompose_conv(&conv, &f, &la, &lb), LRC_OK);
    assert_string_equal(la.name, "c_lrA");
    assert_int_equal(la.out_c, R);
    assert_int_equal(lb.kh, 1);
    lrc_net *dense = NULL, *two = NULL;
    assert_int_equal(lrc_net_create(&dense), LRC_OK);
    assert_int_equal(lrc_net_append(dense, &conv), LRC_OK);
    assert_int_equal(lrc_net_set_input(dense, C, H, W), LRC_OK);
    assert_int_equal(lrc_net_create(&two), LRC_OK);
    assert_int_equal(lrc_net_append(two, &la), LRC_OK);
    assert_int_equal(lrc_net_append(two, &lb), LRC_OK);
    assert_int_equal(lrc_net_set_input(two, C, H, W), LRC_OK);
    enum { NI = 2 };
    float x[NI * C * H * W];
    for (int i = 0; i < NI * C * H * W; i++) x[i] = (float)gauss(26, (uint64_t)i);
    int64_t outn = NI * lrc_net_output_size(dense);
    float *yd = calloc((size_t)outn, sizeof *yd), *y2 = calloc((size_t)outn, sizeof *y2);
    lrc_forward *fw = NULL;
    assert_int_equal(lrc_forward_create(dense, 0, 1, NI, &fw), LRC_OK);
    assert_int_equal(lrc_forward_run(fw, x, NI, yd), LRC_OK);
    lrc_forward_destroy(&fw);
    assert_int_equal(lrc_forward_create(two, 0, 2, NI, &fw), LRC_OK);
    assert_int_equal(lrc_forward_run(fw, x, NI, y2), LRC_OK);
    lrc_forward_destroy(&fw);
    const int64_t hw = outn / NI / D;
    for (int n = 0; n < NI; n++)
        for (int64_t p = 0; p < hw; p++)
            for (int i = 0; i < D; i++) {
                double want = f.b[i];
                for (int j = 0; j < D; j++) {
                    double m = 0;
                    for (int k = 0; k < R; k++) m += f.P[i * R + k] * f.Qt[k * D + j];
                    want += m * yd[(n * D + j) * hw + p];
                }
                double got = y2[(n * D + i) * hw + p];
                assert_true(fabs(got - want) <= 1e-5 * (1 + fabs(want)));
            }
    free(yd);
    free(y2);
    lrc_layer_release(&la);
    lrc_layer_release(&lb);
    lrc_lowrank_free(&f);
    lrc_net_destroy(&dense);
    lrc_net_destroy(&two);
}

/* SVD at full rank reproduces y exactly; at rank r it is the best rank-r
 * approximation of W (Eckart-Young: error = tail singular values). */
static void test_svd_factor(void **state)
{
    (void)state;
    enum { C = 2, D = 5, K = C * 9 };
    float w[D * K], b0[D];
    for (int i = 0; i < D * K; i++) w[i] = (float)gauss(31, (uint64_t)i);
    for (int i = 0; i < D; i++) b0[i] = (float)gauss(32, (uint64_t)i);
    lrc_layer conv;
    memset(&conv, 0, sizeof conv);
    conv.name = "c"; conv.op = LRC_OP_CONV; conv.in_c = C; conv.out_c = D;
    conv.kh = conv.kw = 3; conv.weight = w; conv.bias = b0;
    double sv[D], Wd[D * K], u[D * D], vt[K * K], sup[D];
    for (int i = 0; i < D * K; i++) Wd[i] = w[i];
    assert_int_equal(LAPACKE_dgesvd(LAPACK_ROW_MAJOR, 'N', 'N', D, K, Wd, K, sv, u, D, vt, K, sup), 0);
    for (int r = 1; r <= D; r++) {
        lrc_lowrank f;
        assert_int_equal(lrc_svd_factor(&conv, r, &f), LRC_OK);
        /* || W - P Qt W ||_F^2 = sum of the tail squared singular values */
        double err = 0, tail = 0;
        for (int i = 0; i < D; i++)
            for (int k = 0; k < K; k++) {
                double v = 0;
                for (int j = 0; j < D; j++) {
                    double m = 0;
                    for (int q = 0; q < r; q++) m += f.P[i * r + q] * f.Qt[q * D + j];
                    v += m * w[j * K + k];
                }
                err += pow(w[i * K + k] - v, 2);
            }
        for (int q = r; q < D; q++) tail += sv[q] * sv[q];
        assert_true(fabs(err - tail) <= 1e-9 * (1 + tail));
        lrc_lowrank_free(&f);
    }
}

/* The spatial split (3d method) at full rank min(c k, d k) equals the conv,
 * with stride and asymmetric pads; at lower rank it is an approximation
 * whose error falls as the rank grows. */
static void test_spatial_split(void **state)
{
    (void)state;
    enum { C = 3, D = 4, K = 3, H = 9, W = 8, NI = 2 };
    float w[D * C * K * K], b0[D];
    for (int i = 0; i < D * C * K * K; i++) w[i] = (float)gauss(51, (uint64_t)i);
    for (int i = 0; i < D; i++) b0[i] = (float)gauss(52, (uint64_t)i);
    lrc_layer conv;
    memset(&conv, 0, sizeof conv);
    conv.name = "c3"; conv.op = LRC_OP_CONV; conv.in_c = C; conv.out_c = D;
    conv.kh = conv.kw = K; conv.sh = 2; conv.sw = 1;
    conv.pt = 1; conv.pb = 0; conv.pl = 1; conv.pr = 2;
    conv.weight = w; conv.bias = b0;
    float x[NI * C * H * W];
    for (int i = 0; i < NI * C * H * W; i++) x[i] = (float)gauss(53, (uint64_t)i);
    lrc_net *dense = NULL;
    assert_int_equal(lrc_net_create(&dense), LRC_OK);
    assert_int_equal(lrc_net_append(dense, &conv), LRC_OK);
    assert_int_equal(lrc_net_set_input(dense, C, H, W), LRC_OK);
    const int64_t outn = NI * lrc_net_output_size(dense);
    float *yd = calloc((size_t)outn, sizeof *yd), *ys = calloc((size_t)outn, sizeof *ys);
    lrc_forward *fw = NULL;
    assert_int_equal(lrc_forward_create(dense, 0, 1, NI, &fw), LRC_OK);
    assert_int_equal(lrc_forward_run(fw, x, NI, yd), LRC_OK);
    lrc_forward_destroy(&fw);
    double prev = INFINITY;
    for (int r = 1; r <= C * K; r++) { /* min(c k, d k) = 9 */
        lrc_layer v, h;
        assert_int_equal(lrc_spatial_split(&conv, r, "c3h", &v, &h), LRC_OK);
        assert_int_equal(v.kh, K);
        assert_int_equal(v.kw, 1);
        assert_int_equal(h.kh, 1);
        assert_int_equal(h.kw, K);
        lrc_net *two = NULL;
        assert_int_equal(lrc_net_create(&two), LRC_OK);
        assert_int_equal(lrc_net_append(two, &v), LRC_OK);
        assert_int_equal(lrc_net_append(two, &h), LRC_OK);
        assert_int_equal(lrc_net_set_input(two, C, H, W), LRC_OK);
        assert_int_equal(lrc_net_output_size(two), lrc_net_output_size(dense));
        assert_int_equal(lrc_forward_create(two, 0, 2, NI, &fw), LRC_OK);
        assert_int_equal(lrc_forward_run(fw, x, NI, ys), LRC_OK);
        lrc_forward_destroy(&fw);
        double err = 0, scale = 0;
        for (int64_t i = 0; i < outn; i++) {
            err += pow(ys[i] - yd[i], 2);
            scale = fmax(scale, fabs(yd[i]));
        }
        err = sqrt(err / (double)outn);
        assert_true(err <= prev + 1e-6); /* more rank, no more error */
        prev = err;
        if (r == C * K)
            assert_true(err <= 1e-5 * scale);
        else if (r == 1)
            assert_true(err > 1e-2 * scale);
        lrc_net_destroy(&two);
        lrc_layer_release(&v);
        lrc_layer_release(&h);
    }
    free(yd);
    free(ys);
    lrc_net_destroy(&dense);
}

/* A rank-deficient covariance (dead filters, constant channels, fewer
 * samples than d) gives a finite solution, not NaN. */
static void test_rank_deficient(void **state)
{
    (void)state;
    enum { N = 5, D = 8, R = 3 };
    double y[N * D], yh[N * D];
    for (int s = 0; s < N; s++)
        for (int j = 0; j < D; j++) {
            y[s * D + j] = j < 2 ? 0.0 : (j == 2 ? 1.5 : gauss(41, (uint64_t)(s * D + j)));
            yh[s * D + j] = y[s * D + j];
        }
    lrc_samples s = shard(N, D, y, yh);
    lrc_lowrank f;
    lrc_solve_report rep;
    lrc_nonlinear_params p;
    lrc_nonlinear_defaults(&p);
    p.iters_small = p.iters_large = 3;
    assert_int_equal(lrc_solve_layer(MPI_COMM_WORLD, &s, R, 1, &p, &f, &rep), LRC_OK);
    for (int i = 0; i < D * R; i++)
        assert_true(isfinite(f.P[i]) && isfinite(f.Qt[i]));
    for (int i = 0; i < D; i++)
        assert_true(isfinite(f.b[i]));
    assert_true(isfinite(rep.final_error));
    /* dead filters are reproduced exactly (their mean is 0 and M y = 0) */
    assert_true(fabs(f.b[0]) < 1e-12 && fabs(f.b[1]) < 1e-12);
    lrc_lowrank_free(&f);
    lrc_solve_report_free(&rep);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_recovers_planted_subspace),
        cmocka_unit_test(test_zstep_brute_force),
        cmocka_unit_test(test_nonlinear),
        cmocka_unit_test(test_mixed_matches_double),
        cmocka_unit_test(test_mixed_uneven_shards),
        cmocka_unit_test(test_scalapack_vs_lapack),
        cmocka_unit_test(test_asymmetric_beats_symmetric),
        cmocka_unit_test(test_decomposition_exact),
        cmocka_unit_test(test_svd_factor),
        cmocka_unit_test(test_spatial_split),
        cmocka_unit_test(test_rank_deficient),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    if (rc != 0 && g_size > 1)
        MPI_Abort(MPI_COMM_WORLD, 1);
    MPI_Finalize();
    return rc;
}
