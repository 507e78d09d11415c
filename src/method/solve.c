/* Response statistics reduced over ranks, and the layer solver: the linear
 * (reduced-rank regression) solution, then the nonlinear alternating
 * iterations of the papers (closed-form z-step, (M, b)-step as a
 * generalized SVD), with the samples staying on the rank that holds them. */
#include <cblas.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "method/method_impl.h"

#define RELU(x) ((x) > 0.0 ? (x) : 0.0)

lrc_status lrc_stats_reduce(MPI_Comm comm, const lrc_samples *s,
                            double *mean_y, double *mean_yh, double *A,
                            double *B, double *C, int64_t *total)
{
    lrc_status st = LRC_OK;
    const int64_t d = s->d;
    double *sums = NULL, *cx = NULL, *cy = NULL, *loc = NULL, *my = NULL,
           *myh = NULL;
    if ((size_t)(d * d) > (size_t)INT32_MAX)
        LRC_RAISE(LRC_ERR_UNSUPPORTED, "layer width %" PRId64 " too large for "
                  "one MPI reduction", d);
    LRC_TRY(lrc_calloc(&sums, (size_t)(2 * d + 1), sizeof *sums, "sums"));
    LRC_TRY(lrc_calloc(&my, (size_t)d, sizeof *my, "means"));
    LRC_TRY(lrc_calloc(&myh, (size_t)d, sizeof *myh, "means"));
    for (int64_t i = 0; i < s->n; i++)
        for (int64_t j = 0; j < d; j++) {
            sums[j] += s->y[i * d + j];
            sums[d + j] += s->yh[i * d + j];
        }
    sums[2 * d] = (double)s->n;
    LRC_TRY_MPI(MPI_Allreduce(MPI_IN_PLACE, sums, (int)(2 * d + 1), MPI_DOUBLE,
                              MPI_SUM, comm));
    const int64_t n = (int64_t)sums[2 * d];
    if (n < 1)
        LRC_FAIL(LRC_ERR_ARG, "no response samples on any rank");
    for (int64_t j = 0; j < d; j++) {
        my[j] = sums[j] / (double)n;
        myh[j] = sums[d + j] / (double)n;
    }
    if (mean_y)
        memcpy(mean_y, my, (size_t)d * sizeof *my);
    if (mean_yh)
        memcpy(mean_yh, myh, (size_t)d * sizeof *myh);
    LRC_TRY(lrc_calloc(&cx, (size_t)(LRC_GRAM_CHUNK * d), sizeof *cx, "scratch"));
    LRC_TRY(lrc_calloc(&cy, (size_t)(LRC_GRAM_CHUNK * d), sizeof *cy, "scratch"));
    LRC_TRY(lrc_calloc(&loc, (size_t)(d * d), sizeof *loc, "scratch"));
    struct { double *out; const double *x, *mx, *y, *my; } g[3] = {
        {A, s->yh, myh, s->yh, myh},
        {B, s->y, my, s->yh, myh},
        {C, s->y, my, s->y, my}};
    for (int k = 0; k < 3; k++) {
        if (!g[k].out)
            continue;
        lrc_gram_centered(s->n, d, g[k].x, g[k].mx, g[k].y, g[k].my, loc, cx,
                          cy, LRC_GRAM_CHUNK);
        LRC_TRY_MPI(MPI_Allreduce(loc, g[k].out, (int)(d * d), MPI_DOUBLE,
                                  MPI_SUM, comm));
    }
    if (total)
        *total = n;
cleanup:
    lrc_free(&sums);
    lrc_free(&cx);
    lrc_free(&cy);
    lrc_free(&loc);
    lrc_free(&my);
    lrc_free(&myh);
    return st;
}

double lrc_zstep(double t, double p, double lambda)
{
    const double z0 = p < 0.0 ? p : 0.0;
    const double c0 = t * t + lambda * (z0 - p) * (z0 - p);
    double z1 = (lambda * p + t) / (lambda + 1.0);
    if (z1 < 0.0)
        z1 = 0.0;
    const double c1 = (t - z1) * (t - z1) + lambda * (z1 - p) * (z1 - p);
    return c1 <= c0 ? z1 : z0;
}

/* pred (n x d) = yh Qt^T P^T + b; t1 holds n x rank scratch. */
static void predict(const lrc_samples *s, const lrc_lowrank *f, double *t1,
                    double *pred)
{
    const int n = (int)s->n, d = (int)s->d, r = (int)f->rank;
    if (n == 0)
        return;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, r, d, 1.0, s->yh,
                d, f->Qt, d, 0.0, t1, r);
    for (int64_t i = 0; i < s->n; i++)
        memcpy(pred + i * d, f->b, (size_t)d * sizeof *pred);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, d, r, 1.0, t1, r,
                f->P, r, 1.0, pred, d);
}

/* Makes every rank hold rank 0's factor, so that all ranks return the very
 * same weights whatever rounding the reductions had. */
static lrc_status bcast_factor(MPI_Comm comm, lrc_lowrank *f)
{
    lrc_status st = LRC_OK;
    const int pr = (int)(f->d * f->rank);
    LRC_TRY_MPI(MPI_Bcast(f->P, pr, MPI_DOUBLE, 0, comm));
    LRC_TRY_MPI(MPI_Bcast(f->Qt, pr, MPI_DOUBLE, 0, comm));
    LRC_TRY_MPI(MPI_Bcast(f->b, (int)f->d, MPI_DOUBLE, 0, comm));
cleanup:
    return st;
}

static void copy_factor(lrc_lowrank *dst, const lrc_lowrank *src)
{
    const size_t pr = (size_t)(src->d * src->rank);
    memcpy(dst->P, src->P, pr * sizeof *dst->P);
    memcpy(dst->Qt, src->Qt, pr * sizeof *dst->Qt);
    memcpy(dst->b, src->b, (size_t)src->d * sizeof *dst->b);
}

/* Sums over the local samples: [0] ||r(y) - r(pred)||^2, [1] ||y - pred||^2,
 * and with z: [2] ||r(y) - r(z)||^2, [3] ||z - pred||^2. */
static void local_errors(const lrc_samples *s, const double *pred,
                         const double *z, double out[4])
{
    double e[4] = {0, 0, 0, 0};
    const int64_t m = s->n * s->d;
    for (int64_t i = 0; i < m; i++) {
        const double y = s->y[i], p = pred[i], t = RELU(y);
        const double a = t - RELU(p), b = y - p;
        e[0] += a * a;
        e[1] += b * b;
        if (z) {
            const double c = t - RELU(z[i]), g = z[i] - p;
            e[2] += c * c;
            e[3] += g * g;
        }
    }
    memcpy(out, e, sizeof e);
}

lrc_status lrc_factor_errors(MPI_Comm comm, const lrc_samples *s,
                             const lrc_lowrank *f, double *nonlinear,
                             double *lsq, int64_t *total)
{
    lrc_status st = LRC_OK;
    double *pred = NULL, *t1 = NULL, e[4];
    LRC_TRY(lrc_calloc(&pred, (size_t)(s->n * s->d), sizeof *pred, "predictions"));
    LRC_TRY(lrc_calloc(&t1, (size_t)(s->n * f->rank), sizeof *t1, "scratch"));
    predict(s, f, t1, pred);
    local_errors(s, pred, NULL, e);
    e[2] = (double)s->n;
    LRC_TRY_MPI(MPI_Allreduce(MPI_IN_PLACE, e, 3, MPI_DOUBLE, MPI_SUM, comm));
    if (e[2] < 1)
        LRC_FAIL(LRC_ERR_ARG, "no response samples on any rank");
    *nonlinear = e[0] / e[2];
    *lsq = e[1] / e[2];
    if (total)
        *total = (int64_t)e[2];
cleanup:
    lrc_free(&pred);
    lrc_free(&t1);
    return st;
}

lrc_status lrc_solve_layer(MPI_Comm comm, const lrc_samples *s, int64_t rank,
                           int nonlinear, const lrc_nonlinear_params *p,
                           lrc_lowrank *f, lrc_solve_report *report)
{
    lrc_status st = LRC_OK;
    const int64_t d = s->d;
    const size_t dd = (size_t)(d * d), nd = (size_t)(s->n * d);
    double *A = NULL, *Ap = NULL, *B = NULL, *my = NULL, *myh = NULL,
           *pred = NULL, *t1 = NULL, *z = NULL, *yhc = NULL, *buf = NULL,
           *zbar = NULL;
    lrc_lowrank best;
    lrc_nonlinear_params defaults;
    int myrank = 0;
    int64_t n = 0;
    memset(&best, 0, sizeof best);
    memset(f, 0, sizeof *f);
    if (report)
        memset(report, 0, sizeof *report);
    if (!p) {
        lrc_nonlinear_defaults(&defaults);
        p = &defaults;
    }
    LRC_TRY_MPI(MPI_Comm_rank(comm, &myrank));
    if (rank < 1 || rank > d)
        LRC_FAIL(LRC_ERR_ARG, "rank %" PRId64 " outside 1..%" PRId64, rank, d);
    if (s->n > INT32_MAX)
        LRC_FAIL(LRC_ERR_UNSUPPORTED, "%" PRId64 " samples on one rank exceed "
                 "BLAS int sizes", s->n);
    LRC_TRY(lrc_calloc(&A, dd, sizeof *A, "covariance"));
    LRC_TRY(lrc_calloc(&B, dd, sizeof *B, "cross-covariance"));
    LRC_TRY(lrc_calloc(&my, (size_t)d, sizeof *my, "mean"));
    LRC_TRY(lrc_calloc(&myh, (size_t)d, sizeof *myh, "mean"));
    LRC_TRY(lrc_calloc(&pred, nd, sizeof *pred, "predictions"));
    LRC_TRY(lrc_calloc(&t1, (size_t)(s->n * rank), sizeof *t1, "scratch"));
    LRC_TRY(lrc_stats_reduce(comm, s, my, myh, A, B, NULL, &n));
    LRC_TRY(lrc_lowrank_alloc(f, d, rank));

    /* Linear solution: Z = Y. A^+ serves every iteration after it. Wide
     * layers are solved by all ranks together with ScaLAPACK; narrow ones
     * by rank 0 alone (a process grid costs more than it saves there). */
    int nranks = 1;
    LRC_TRY_MPI(MPI_Comm_size(comm, &nranks));
    const int scal = nranks > 1 && d >= p->scalapack_min_d;
    const MPI_Comm ec = scal ? comm : MPI_COMM_NULL;
    if (scal || myrank == 0) {
        LRC_TRY(lrc_calloc(&Ap, dd, sizeof *Ap, "pseudo-inverse"));
        LRC_TRY(lrc_pinv_sym(ec, d, A, p->rel_tol, Ap));
        LRC_TRY(lrc_solve_rrr_pinv(ec, d, rank, Ap, B, my, myh, f));
    }
    LRC_TRY(bcast_factor(comm, f));
    predict(s, f, t1, pred);
    double e[4];
    local_errors(s, pred, NULL, e);
    e[2] = 0.0;
    for (size_t i = 0; i < nd; i++)
        e[2] += RELU(s->y[i]) * RELU(s->y[i]);
    LRC_TRY_MPI(MPI_Allreduce(MPI_IN_PLACE, e, 3, MPI_DOUBLE, MPI_SUM, comm));
    const double linear_err = e[0] / (double)n;
    if (report) {
        report->samples = n;
        report->target_energy = e[2] / (double)n;
        report->linear_error = linear_err;
        report->linear_lsq = e[1] / (double)n;
        report->final_error = linear_err;
        report->best_iter = -1;
    }
    const int iters = nonlinear ? p->iters_small + p->iters_large : 0;
    if (iters == 0)
        goto cleanup;

    if (report) {
        LRC_TRY(lrc_calloc(&report->lambda, (size_t)iters, sizeof(double), "report"));
        LRC_TRY(lrc_calloc(&report->relaxed, (size_t)iters, sizeof(double), "report"));
        LRC_TRY(lrc_calloc(&report->relaxed_m, (size_t)iters, sizeof(double), "report"));
        LRC_TRY(lrc_calloc(&report->nonlinear, (size_t)iters, sizeof(double), "report"));
    }
    LRC_TRY(lrc_lowrank_alloc(&best, d, rank));
    copy_factor(&best, f);
    double best_err = linear_err;
    LRC_TRY(lrc_calloc(&z, nd, sizeof *z, "auxiliary z"));
    LRC_TRY(lrc_calloc(&yhc, nd, sizeof *yhc, "centred responses"));
    LRC_TRY(lrc_calloc(&buf, dd + (size_t)d + 1, sizeof *buf, "reduction"));
    LRC_TRY(lrc_calloc(&zbar, (size_t)d, sizeof *zbar, "mean of z"));
    for (int64_t i = 0; i < s->n; i++)
        for (int64_t j = 0; j < d; j++)
            yhc[i * d + j] = s->yh[i * d + j] - myh[j];

    for (int it = 0; it < iters; it++) {
        const double lambda = it < p->iters_small ? p->lambda_small
                                                  : p->lambda_large;
        /* z-step, elementwise and local. */
        double relaxed = 0.0;
        for (size_t i = 0; i < nd; i++) {
            const double t = RELU(s->y[i]), q = pred[i];
            const double zi = lrc_zstep(t, q, lambda);
            const double a = t - RELU(zi), g = zi - q;
            z[i] = zi;
            relaxed += a * a + lambda * g * g;
        }
        /* (M, b)-step: B = Z_c Yh_c^T = sum_i z_i (yh_i - yhbar)^T. */
        memset(buf, 0, (dd + (size_t)d + 1) * sizeof *buf);
        if (s->n > 0)
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)d, (int)d,
                        (int)s->n, 1.0, z, (int)d, yhc, (int)d, 0.0, buf,
                        (int)d);
        for (int64_t i = 0; i < s->n; i++)
            for (int64_t j = 0; j < d; j++)
                buf[dd + (size_t)j] += z[i * d + j];
        buf[dd + (size_t)d] = relaxed;
        LRC_TRY_MPI(MPI_Allreduce(MPI_IN_PLACE, buf, (int)(dd + (size_t)d + 1),
                                  MPI_DOUBLE, MPI_SUM, comm));
        for (int64_t j = 0; j < d; j++)
            zbar[j] = buf[dd + (size_t)j] / (double)n;
        if (scal || myrank == 0)
            LRC_TRY(lrc_solve_rrr_pinv(ec, d, rank, Ap, buf, zbar, myh, f));
        LRC_TRY(bcast_factor(comm, f));
        predict(s, f, t1, pred);
        local_errors(s, pred, z, e);
        LRC_TRY_MPI(MPI_Allreduce(MPI_IN_PLACE, e, 4, MPI_DOUBLE, MPI_SUM,
                                  comm));
        const double nl = e[0] / (double)n;
        if (!isfinite(nl))
            LRC_FAIL(LRC_ERR_NUMERIC, "the nonlinear objective became %g at "
                     "iteration %d (lambda %g)", nl, it + 1, lambda);
        if (report) {
            report->lambda[it] = lambda;
            report->relaxed[it] = buf[dd + (size_t)d] / (double)n;
            report->relaxed_m[it] = (e[2] + lambda * e[3]) / (double)n;
            report->nonlinear[it] = nl;
            report->iters = it + 1;
        }
        if (nl < best_err) {
            best_err = nl;
            copy_factor(&best, f);
            if (report)
                report->best_iter = it;
        }
    }
    /* The iterations minimise a relaxation; keep the iterate that is best on
     * the true nonlinear objective (the linear start included). */
    copy_factor(f, &best);
    if (report)
        report->final_error = best_err;
cleanup:
    lrc_lowrank_free(&best);
    lrc_free(&A);
    lrc_free(&Ap);
    lrc_free(&B);
    lrc_free(&my);
    lrc_free(&myh);
    lrc_free(&pred);
    lrc_free(&t1);
    lrc_free(&z);
    lrc_free(&yhc);
    lrc_free(&buf);
    lrc_free(&zbar);
    if (st != LRC_OK) {
        lrc_lowrank_free(f);
        if (report)
            lrc_solve_report_free(report);
    }
    return st;
}
