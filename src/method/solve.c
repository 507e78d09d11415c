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

/* The z-step's two candidates: z0 <= 0 (r(z) = 0) and z1 >= 0 (r(z) = z);
 * inv = 1 / (lambda + 1). Inline: it runs on every sample element of every
 * iteration. */
static inline double zstep(double t, double p, double lambda, double inv)
{
    const double z0 = p < 0.0 ? p : 0.0;
    const double c0 = t * t + lambda * (z0 - p) * (z0 - p);
    double z1 = (lambda * p + t) * inv;
    z1 = z1 < 0.0 ? 0.0 : z1;
    const double c1 = (t - z1) * (t - z1) + lambda * (z1 - p) * (z1 - p);
    return c1 <= c0 ? z1 : z0;
}

double lrc_zstep(double t, double p, double lambda)
{
    return zstep(t, p, lambda, 1.0 / (lambda + 1.0));
}

/* Kept out of line (inlined into the solver, GCC 12 gives up vectorising
 * the sweeps' inner loops), and built twice where the toolchain can choose
 * at load time: for AVX2 and for the base ISA. The two give identical
 * values (no FMA: ISO C mode keeps -ffp-contract=off). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define LRC_NOINLINE __attribute__((noinline, target_clones("avx2", "default")))
#elif defined(__GNUC__)
#define LRC_NOINLINE __attribute__((noinline))
#else
#define LRC_NOINLINE
#endif
#define SWEEP_T double
#define SWEEP_SUF d
#include "method/sweep_tmpl.h"
#undef SWEEP_T
#undef SWEEP_SUF
#define SWEEP_T float
#define SWEEP_SUF f
#include "method/sweep_tmpl.h"
#undef SWEEP_T
#undef SWEEP_SUF

/* The iterations' working set, in one of two precisions.
 *
 * Double: samples, predictions and z in double, products in dgemm.
 *
 * Mixed (the default): the iterations' two products over the samples,
 * Z^T Yh_c in the (M, b)-step and the prediction Yh_c Qt^T P^T, run as
 * sgemm on float copies (the samples are float activations to begin with),
 * and the sweeps read and write float; every sum is accumulated in double,
 * and the d x d solves are in double. Z^T Yh_c runs in chunks of
 * p->mixed_chunk samples, each chunk's float result added into double. The
 * chunks are aligned to the global sample index, so a chunk's float sum is
 * the same whatever the rank count, except for chunks that a shard boundary
 * splits (none when the caller shards in whole chunks, as the tests do).
 * That alone does not make the result independent of the rank count: the
 * double reductions' last-bit differences can round the factor's float copy
 * differently, and the eigen-gap amplifies what follows (see
 * lrc_nonlinear_params.mixed_precision).
 *
 * Either way the prediction arrays leave out a per-column bias (bias), the
 * products run on centred responses Yh - c, and the sweeps add it back.
 * Double centres on the mean, c = mean(yh). Mixed centres on the mean
 * rounded to float: yh is float to begin with, so Yh - c rounds to float
 * the same way whatever rounding the mean's reduction had on this rank
 * count (a float copy of Yh - mean(yh) would not); the (M, b)-step adds
 * back zsum (mean(yh) - c)^T. */
typedef struct iter_ws {
    int mixed;
    int64_t n, d, rank;
    int64_t offset;    /* global index of this rank's first sample */
    int64_t chunk;     /* mixed: samples per aligned chunk */
    const double *y;   /* double: the samples' y (not owned) */
    double *yhc, *pred, *z, *t1;      /* double: n x d, n x d, n x d, n x rank */
    float *yf, *yhcf, *predf, *zf, *t1f; /* mixed: the same in float */
    float *out, *Pf, *Qtf;            /* mixed: d x d scratch; the factor */
    double *bias, *q;                 /* d, rank */
    double *c;                        /* d: the centring of yh */
} iter_ws;

static void ws_free(iter_ws *w)
{
    lrc_free(&w->yhc);
    lrc_free(&w->pred);
    lrc_free(&w->z);
    lrc_free(&w->t1);
    lrc_free(&w->yf);
    lrc_free(&w->yhcf);
    lrc_free(&w->predf);
    lrc_free(&w->zf);
    lrc_free(&w->t1f);
    lrc_free(&w->out);
    lrc_free(&w->Pf);
    lrc_free(&w->Qtf);
    lrc_free(&w->bias);
    lrc_free(&w->q);
    lrc_free(&w->c);
}

static lrc_status ws_alloc(MPI_Comm comm, const lrc_samples *s,
                           const double *myh, int64_t rank, int mixed,
                           int64_t chunk, iter_ws *w)
{
    lrc_status st = LRC_OK;
    const int64_t d = s->d;
    const size_t nd = (size_t)(s->n * d) + 1, nr = (size_t)(s->n * rank) + 1;
    long long n = (long long)s->n, off = 0;
    int me = 0;
    memset(w, 0, sizeof *w);
    w->mixed = mixed;
    w->chunk = chunk > 0 ? chunk : 512;
    w->n = s->n;
    w->d = d;
    w->rank = rank;
    w->y = s->y;
    LRC_TRY_MPI(MPI_Exscan(&n, &off, 1, MPI_LONG_LONG, MPI_SUM, comm));
    LRC_TRY_MPI(MPI_Comm_rank(comm, &me));
    w->offset = me == 0 ? 0 : (int64_t)off;
    LRC_TRY(lrc_calloc(&w->bias, (size_t)d, sizeof *w->bias, "scratch"));
    LRC_TRY(lrc_calloc(&w->q, (size_t)rank, sizeof *w->q, "scratch"));
    LRC_TRY(lrc_calloc(&w->c, (size_t)d, sizeof *w->c, "centring"));
    for (int64_t j = 0; j < d; j++)
        w->c[j] = mixed ? (double)(float)myh[j] : myh[j];
    if (!mixed) {
        LRC_TRY(lrc_calloc(&w->yhc, nd, sizeof *w->yhc, "centred responses"));
        LRC_TRY(lrc_calloc(&w->pred, nd, sizeof *w->pred, "predictions"));
        LRC_TRY(lrc_calloc(&w->z, nd, sizeof *w->z, "auxiliary z"));
        LRC_TRY(lrc_calloc(&w->t1, nr, sizeof *w->t1, "scratch"));
        for (int64_t i = 0; i < s->n; i++)
            for (int64_t j = 0; j < d; j++)
                w->yhc[i * d + j] = s->yh[i * d + j] - w->c[j];
        return LRC_OK;
    }
    LRC_TRY(lrc_calloc(&w->yf, nd, sizeof *w->yf, "float responses"));
    LRC_TRY(lrc_calloc(&w->yhcf, nd, sizeof *w->yhcf, "float responses"));
    LRC_TRY(lrc_calloc(&w->predf, nd, sizeof *w->predf, "predictions"));
    LRC_TRY(lrc_calloc(&w->zf, nd, sizeof *w->zf, "auxiliary z"));
    LRC_TRY(lrc_calloc(&w->t1f, nr, sizeof *w->t1f, "scratch"));
    LRC_TRY(lrc_calloc(&w->out, (size_t)(d * d), sizeof *w->out, "scratch"));
    LRC_TRY(lrc_calloc(&w->Pf, (size_t)(d * rank), sizeof *w->Pf, "scratch"));
    LRC_TRY(lrc_calloc(&w->Qtf, (size_t)(d * rank), sizeof *w->Qtf, "scratch"));
    for (int64_t i = 0; i < s->n; i++)
        for (int64_t j = 0; j < d; j++) {
            w->yf[i * d + j] = (float)s->y[i * d + j];
            w->yhcf[i * d + j] = (float)(s->yh[i * d + j] - w->c[j]);
        }
    return LRC_OK;
cleanup:
    ws_free(w);
    return st;
}

/* The prediction of factor f: products (Yh - c) Qt^T P^T into pred(f),
 * and bias = b + P Qt c. */
static void ws_predict(iter_ws *w, const lrc_lowrank *f)
{
    const int64_t d = w->d, r = w->rank;
    const int n = (int)w->n;
    cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)r, (int)d, 1.0, f->Qt,
                (int)d, w->c, 1, 0.0, w->q, 1);
    cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)d, (int)r, 1.0, f->P,
                (int)r, w->q, 1, 0.0, w->bias, 1);
    for (int64_t j = 0; j < d; j++)
        w->bias[j] += f->b[j];
    if (n == 0)
        return;
    if (!w->mixed) {
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, (int)r, (int)d,
                    1.0, w->yhc, (int)d, f->Qt, (int)d, 0.0, w->t1, (int)r);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, (int)d, (int)r,
                    1.0, w->t1, (int)r, f->P, (int)r, 0.0, w->pred, (int)d);
        return;
    }
    for (int64_t k = 0; k < d * r; k++) {
        w->Pf[k] = (float)f->P[k];
        w->Qtf[k] = (float)f->Qt[k];
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, (int)r, (int)d,
                1.0f, w->yhcf, (int)d, w->Qtf, (int)d, 0.0f, w->t1f, (int)r);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, (int)d, (int)r,
                1.0f, w->t1f, (int)r, w->Pf, (int)r, 0.0f, w->predf, (int)d);
}

/* acc (d x d, double) = Z^T Yh_c over the local samples. */
static void ws_cross(iter_ws *w, double *acc)
{
    const int64_t d = w->d, dd = d * d;
    if (!w->mixed) {
        if (w->n > 0)
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)d, (int)d,
                        (int)w->n, 1.0, w->z, (int)d, w->yhc, (int)d, 0.0, acc,
                        (int)d);
        return;
    }
    for (int64_t a = 0, len; a < w->n; a += len) {
        len = w->chunk - (w->offset + a) % w->chunk;
        len = len < w->n - a ? len : w->n - a;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)d, (int)d,
                    (int)len, 1.0f, w->zf + a * d, (int)d, w->yhcf + a * d,
                    (int)d, 0.0f, w->out, (int)d);
        for (int64_t k = 0; k < dd; k++)
            acc[k] += (double)w->out[k];
    }
}

static void ws_zpass(iter_ws *w, int prev, double lambda, double *acc[6])
{
    if (w->mixed)
        zpass_f(w->n, w->d, w->yf, w->predf, w->bias, w->zf, prev, lambda, acc);
    else
        zpass_d(w->n, w->d, w->y, w->pred, w->bias, w->z, prev, lambda, acc);
}

static void ws_errors(const iter_ws *w, int with_z, double out[4])
{
    if (w->mixed)
        errors_f(w->n, w->d, w->yf, w->predf, w->bias, with_z ? w->zf : NULL,
                 out);
    else
        errors_d(w->n, w->d, w->y, w->pred, w->bias, with_z ? w->z : NULL,
                 out);
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

lrc_status lrc_factor_errors(MPI_Comm comm, const lrc_samples *s,
                             const lrc_lowrank *f, double *nonlinear,
                             double *lsq, double *target, int64_t *total)
{
    lrc_status st = LRC_OK;
    double *pred = NULL, *t1 = NULL, *zero = NULL, e[4];
    const int n = (int)s->n, d = (int)s->d, r = (int)f->rank;
    LRC_TRY(lrc_calloc(&pred, (size_t)(s->n * s->d) + 1, sizeof *pred, "predictions"));
    LRC_TRY(lrc_calloc(&t1, (size_t)(s->n * f->rank) + 1, sizeof *t1, "scratch"));
    LRC_TRY(lrc_calloc(&zero, (size_t)d, sizeof *zero, "scratch"));
    if (n > 0) {
        for (int64_t i = 0; i < s->n; i++)
            memcpy(pred + i * d, f->b, (size_t)d * sizeof *pred);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, r, d, 1.0,
                    s->yh, d, f->Qt, d, 0.0, t1, r);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, d, r, 1.0, t1,
                    r, f->P, r, 1.0, pred, d);
    }
    errors_d(s->n, s->d, s->y, pred, zero, NULL, e);
    e[2] = (double)s->n;
    e[3] = 0.0;
    for (int64_t i = 0; i < s->n * s->d; i++)
        e[3] += RELU(s->y[i]) * RELU(s->y[i]);
    LRC_TRY_MPI(MPI_Allreduce(MPI_IN_PLACE, e, 4, MPI_DOUBLE, MPI_SUM, comm));
    if (e[2] < 1)
        LRC_FAIL(LRC_ERR_ARG, "no response samples on any rank");
    *nonlinear = e[0] / e[2];
    *lsq = e[1] / e[2];
    if (target)
        *target = e[3] / e[2];
    if (total)
        *total = (int64_t)e[2];
cleanup:
    lrc_free(&pred);
    lrc_free(&t1);
    lrc_free(&zero);
    return st;
}

lrc_status lrc_solve_layer(MPI_Comm comm, const lrc_samples *s, int64_t rank,
                           int nonlinear, const lrc_nonlinear_params *p,
                           lrc_lowrank *f, lrc_solve_report *report)
{
    lrc_status st = LRC_OK;
    const int64_t d = s->d;
    const size_t dd = (size_t)(d * d);
    double *A = NULL, *Ap = NULL, *B = NULL, *my = NULL, *myh = NULL,
           *buf = NULL, *zbar = NULL, *cols = NULL;
    lrc_lowrank best;
    lrc_nonlinear_params defaults;
    iter_ws w;
    int myrank = 0, nranks = 1;
    int64_t n = 0;
    memset(&best, 0, sizeof best);
    memset(&w, 0, sizeof w);
    memset(f, 0, sizeof *f);
    if (report)
        memset(report, 0, sizeof *report);
    if (!p) {
        lrc_nonlinear_defaults(&defaults);
        p = &defaults;
    }
    LRC_TRY_MPI(MPI_Comm_rank(comm, &myrank));
    LRC_TRY_MPI(MPI_Comm_size(comm, &nranks));
    if (rank < 1 || rank > d)
        LRC_FAIL(LRC_ERR_ARG, "rank %" PRId64 " outside 1..%" PRId64, rank, d);
    if (s->n > INT32_MAX)
        LRC_FAIL(LRC_ERR_UNSUPPORTED, "%" PRId64 " samples on one rank exceed "
                 "BLAS int sizes", s->n);
    LRC_TRY(lrc_calloc(&A, dd, sizeof *A, "covariance"));
    LRC_TRY(lrc_calloc(&B, dd, sizeof *B, "cross-covariance"));
    LRC_TRY(lrc_calloc(&my, (size_t)d, sizeof *my, "mean"));
    LRC_TRY(lrc_calloc(&myh, (size_t)d, sizeof *myh, "mean"));
    LRC_TRY(lrc_stats_reduce(comm, s, my, myh, A, B, NULL, &n));
    LRC_TRY(lrc_lowrank_alloc(f, d, rank));
    LRC_TRY(ws_alloc(comm, s, myh, rank, p->mixed_precision, p->mixed_chunk,
                     &w));

    /* Linear solution: Z = Y. A^+ serves every iteration after it. Wide
     * layers are solved by all ranks together with ScaLAPACK; narrow ones
     * by rank 0 alone (a process grid costs more than it saves there). */
    const int scal = nranks > 1 && d >= p->scalapack_min_d;
    const MPI_Comm ec = scal ? comm : MPI_COMM_NULL;
    if (scal || myrank == 0) {
        LRC_TRY(lrc_calloc(&Ap, dd, sizeof *Ap, "pseudo-inverse"));
        LRC_TRY(lrc_pinv_sym(ec, d, A, p->rel_tol, Ap));
        LRC_TRY(lrc_solve_rrr_pinv(ec, d, rank, Ap, B, my, myh, f));
    }
    LRC_TRY(bcast_factor(comm, f));
    ws_predict(&w, f);
    double e[4];
    ws_errors(&w, 0, e);
    e[2] = 0.0;
    for (int64_t i = 0; i < s->n * d; i++)
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
    const size_t nbuf = dd + (size_t)d + 5;
    LRC_TRY(lrc_calloc(&buf, nbuf, sizeof *buf, "reduction"));
    LRC_TRY(lrc_calloc(&cols, (size_t)(5 * d), sizeof *cols, "column sums"));
    LRC_TRY(lrc_calloc(&zbar, (size_t)d, sizeof *zbar, "mean of z"));

    /* Each sweep over the samples does the z-step of this iteration and, in
     * the same pass, measures the previous iteration's errors (its
     * prediction against its z), which reach every rank with this
     * iteration's reduction; one last sweep measures the final iteration. */
    for (int it = 0; it <= iters; it++) {
        const double lambda = it < p->iters_small ? p->lambda_small
                                                  : p->lambda_large;
        double *zsum = buf + dd, *red = buf + dd + d;
        double t0 = lrc_wtime(), t1;
        memset(buf, 0, nbuf * sizeof *buf);
        if (it < iters) {
            double *acc[6] = {zsum, cols, cols + d, cols + 2 * d, cols + 3 * d,
                              cols + 4 * d};
            memset(cols, 0, (size_t)(5 * d) * sizeof *cols);
            ws_zpass(&w, it > 0, lambda, acc);
            for (int k = 0; k < 5; k++)
                for (int64_t j = 0; j < d; j++)
                    red[k] += cols[k * d + j];
        } else {
            ws_errors(&w, 1, red + 1);
        }
        t1 = lrc_wtime();
        if (report)
            report->seconds[0] += t1 - t0;
        if (it < iters) {
            /* (M, b)-step: B = Z_c Yh_c^T = sum_i z_i (yh_i - yhbar)^T. */
            ws_cross(&w, buf);
            if (report)
                report->seconds[1] += lrc_wtime() - t1;
            LRC_TRY_MPI(MPI_Allreduce(MPI_IN_PLACE, buf, (int)nbuf, MPI_DOUBLE,
                                      MPI_SUM, comm));
        } else {
            LRC_TRY_MPI(MPI_Allreduce(MPI_IN_PLACE, red, 5, MPI_DOUBLE,
                                      MPI_SUM, comm));
        }
        if (it > 0) {
            /* f is still the previous iteration's factor here. */
            const int k = it - 1;
            const double lk = k < p->iters_small ? p->lambda_small
                                                 : p->lambda_large;
            const double nl = red[1] / (double)n;
            if (!isfinite(nl))
                LRC_FAIL(LRC_ERR_NUMERIC, "the nonlinear objective became %g "
                         "at iteration %d (lambda %g)", nl, k + 1, lk);
            if (report) {
                report->relaxed_m[k] = (red[3] + lk * red[4]) / (double)n;
                report->nonlinear[k] = nl;
                report->iters = k + 1;
            }
            if (nl < best_err) {
                best_err = nl;
                copy_factor(&best, f);
                if (report)
                    report->best_iter = k;
            }
        }
        if (it == iters)
            break;
        if (report) {
            report->lambda[it] = lambda;
            report->relaxed[it] = red[0] / (double)n;
        }
        for (int64_t j = 0; j < d; j++)
            zbar[j] = zsum[j] / (double)n;
        if (w.mixed) /* Z^T (Yh - c) -> Z^T (Yh - mean(yh)) */
            for (int64_t i = 0; i < d; i++)
                for (int64_t j = 0; j < d; j++)
                    buf[i * d + j] += zsum[i] * (myh[j] - w.c[j]);
        t0 = lrc_wtime();
        if (scal || myrank == 0)
            LRC_TRY(lrc_solve_rrr_pinv(ec, d, rank, Ap, buf, zbar, myh, f));
        LRC_TRY(bcast_factor(comm, f));
        t1 = lrc_wtime();
        ws_predict(&w, f);
        if (report) {
            report->seconds[2] += t1 - t0;
            report->seconds[3] += lrc_wtime() - t1;
        }
    }
    /* The iterations minimise a relaxation; keep the iterate that is best on
     * the true nonlinear objective (the linear start included). */
    copy_factor(f, &best);
    if (report)
        report->final_error = best_err;
cleanup:
    ws_free(&w);
    lrc_lowrank_free(&best);
    lrc_free(&A);
    lrc_free(&Ap);
    lrc_free(&B);
    lrc_free(&my);
    lrc_free(&myh);
    lrc_free(&buf);
    lrc_free(&zbar);
    lrc_free(&cols);
    if (st != LRC_OK) {
        lrc_lowrank_free(f);
        if (report)
            lrc_solve_report_free(report);
    }
    return st;
}
