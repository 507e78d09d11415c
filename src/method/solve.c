/* Response statistics reduced over ranks, and the layer solver: the linear
 * (reduced-rank regression) solution, then the nonlinear alternating
 * iterations of the papers (closed-form z-step, (M, b)-step as a
 * generalized SVD), with the samples staying on the rank that holds them. */
#include <cblas.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "lrc/parallel.h"
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

/* ---- mixed precision: whole chunks on every rank ----
 *
 * The exact sums of mixed precision (below) are the same bits on any rank
 * count only if every chunk of `chunk` samples (aligned to the global
 * sample index) lies on one rank. Callers shard the images evenly, so a
 * chunk may straddle a shard boundary; this moves the samples of each
 * such chunk to the rank that holds its first sample (at most chunk - 1
 * samples per boundary, sent point to point). *out is *in when nothing
 * has to move; otherwise it points at copies in *own (y then yh), which
 * the caller frees. Collective. */
static lrc_status realign_chunks(MPI_Comm comm, const lrc_samples *in,
                                 int64_t chunk, lrc_samples *out, double **own)
{
    lrc_status st = LRC_OK;
    int me = 0, size = 1, nreq = 0;
    int64_t *n = NULL, *off = NULL, *lead = NULL;
    int *owner = NULL;
    MPI_Request *req = NULL;
    const int64_t d = in->d;
    *out = *in;
    *own = NULL;
    LRC_TRY_MPI(MPI_Comm_rank(comm, &me));
    LRC_TRY_MPI(MPI_Comm_size(comm, &size));
    if (chunk < 1)
        LRC_FAIL(LRC_ERR_INTERNAL, "chunk of %" PRId64 " samples", chunk);
    LRC_TRY(lrc_calloc(&n, (size_t)size, sizeof *n, "sample counts"));
    LRC_TRY(lrc_calloc(&off, (size_t)size, sizeof *off, "sample offsets"));
    LRC_TRY(lrc_calloc(&lead, (size_t)size, sizeof *lead, "sample counts"));
    LRC_TRY(lrc_calloc(&owner, (size_t)size, sizeof *owner, "chunk owners"));
    LRC_TRY(lrc_calloc(&req, (size_t)(2 * size), sizeof *req, "requests"));
    int64_t mine = in->n, moved = 0;
    LRC_TRY_MPI(MPI_Allgather(&mine, 1, MPI_INT64_T, n, 1, MPI_INT64_T, comm));
    /* lead[q]: rank q's first samples, those that continue a chunk begun
     * on an earlier rank; owner[q]: the rank holding that chunk's first
     * sample (shards are contiguous and in rank order) */
    for (int q = 0; q < size; q++)
        off[q] = q == 0 ? 0 : off[q - 1] + n[q - 1];
    for (int q = 0; q < size; q++) {
        const int64_t into = off[q] % chunk, base = off[q] - into;
        owner[q] = -1;
        if (into == 0 || n[q] == 0)
            continue;
        for (int p = 0; p < q; p++)
            if (off[p] <= base && base < off[p] + n[p])
                owner[q] = p;
        lead[q] = chunk - into < n[q] ? chunk - into : n[q];
        moved += lead[q];
    }
    if (moved == 0)
        goto cleanup;
    int64_t keep = n[me] - lead[me], m = keep;
    for (int q = me + 1; q < size; q++)
        if (owner[q] == me)
            m += lead[q];
    if (m * d > INT32_MAX || chunk * d > INT32_MAX)
        LRC_FAIL(LRC_ERR_UNSUPPORTED, "%" PRId64 " samples of width %" PRId64
                 " on one rank exceed MPI int counts", m, d);
    LRC_TRY(lrc_calloc(own, (size_t)(2 * m * d) + 1, sizeof **own,
                       "realigned samples"));
    double *y = *own, *yh = *own + m * d;
    memcpy(y, in->y + lead[me] * d, (size_t)(keep * d) * sizeof *y);
    memcpy(yh, in->yh + lead[me] * d, (size_t)(keep * d) * sizeof *yh);
    int64_t at = keep;
    for (int q = me + 1; q < size; q++) {
        if (owner[q] != me || lead[q] == 0)
            continue;
        const int cnt = (int)(lead[q] * d);
        LRC_TRY_MPI(MPI_Irecv(y + at * d, cnt, MPI_DOUBLE, q, 71, comm, &req[nreq++]));
        LRC_TRY_MPI(MPI_Irecv(yh + at * d, cnt, MPI_DOUBLE, q, 72, comm, &req[nreq++]));
        at += lead[q];
    }
    if (lead[me] > 0 && owner[me] >= 0) {
        const int cnt = (int)(lead[me] * d);
        LRC_TRY_MPI(MPI_Send(in->y, cnt, MPI_DOUBLE, owner[me], 71, comm));
        LRC_TRY_MPI(MPI_Send(in->yh, cnt, MPI_DOUBLE, owner[me], 72, comm));
    }
    LRC_TRY_MPI(MPI_Waitall(nreq, req, MPI_STATUSES_IGNORE));
    nreq = 0;
    out->n = m;
    out->y = y;
    out->yh = yh;
cleanup:
    if (nreq > 0) /* an error after posting receives: do not leave them */
        for (int k = 0; k < nreq; k++)
            MPI_Cancel(&req[k]);
    if (st != LRC_OK)
        lrc_free(own);
    lrc_free(&n);
    lrc_free(&off);
    lrc_free(&lead);
    lrc_free(&owner);
    lrc_free(&req);
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
#define LRC_NOINLINE __attribute__((noinline, target_clones("avx512f", "avx2", "default")))
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
 * Mixed: the iterations' two products over the samples, Z^T Yh_c in the
 * (M, b)-step and the prediction Yh_c Qt^T P^T, run as sgemm on float
 * copies (the samples are float activations to begin with), and the sweeps
 * read and write float; the d x d solves are in double, on rank 0. Every
 * sum over the samples (the statistics, Z^T Yh_c, z's column sums, the
 * objective and error sums) is formed per chunk of p->mixed_chunk samples
 * aligned to the global sample index, and the chunks' partial sums are
 * added across ranks exactly, in fixed point (lrc_xsum). A chunk holds the
 * same samples in the same order on any rank count unless a shard boundary
 * splits it (never when the caller shards in whole chunks, as compress
 * does), so every sum, and from them the factor, is the same bits on any
 * rank count. (Summed in double instead, the last-bit differences between
 * rank counts rounded the factor's float copy differently, and the
 * eigen-gap amplified that to about 1e-3 relative in the weights.)
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
    float *yf, *yhcf, *zf;            /* mixed: y, yhc, z in float */
    float *predf, *t1f;               /* mixed: one chunk's prediction
                                         (chunk x d) and scratch (chunk x
                                         rank), made as the sweeps reach
                                         the chunk (predict_chunk) */
    float *out, *Pf, *Qtf;            /* mixed: d x d scratch; the factor */
    double *bias, *q;                 /* d, rank */
    double *c;                        /* d: the centring of yh */
    /* mixed: exact sums over chunks (see exact_chunk_sums) */
    int64_t nck, nck_total;           /* this rank's chunks, all ranks' */
    double maxyh;                     /* max |yh - c| over every rank */
    double *ck;                       /* nck x (d + 5) per-chunk sums */
} iter_ws;

/* Samples of the chunk that starts at local sample a of a rank holding n
 * samples from global index off: chunks are aligned to multiples of
 * `chunk` in the global sample index. */
static int64_t aligned_len(int64_t chunk, int64_t off, int64_t a, int64_t n)
{
    const int64_t len = chunk - (off + a) % chunk;
    return len < n - a ? len : n - a;
}

static int64_t chunk_len(const iter_ws *w, int64_t a)
{
    return aligned_len(w->chunk, w->offset, a, w->n);
}

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
    lrc_free(&w->ck);
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
    LRC_TRY(lrc_calloc(&w->predf, (size_t)(w->chunk * d), sizeof *w->predf,
                       "predictions"));
    LRC_TRY(lrc_calloc(&w->zf, nd, sizeof *w->zf, "auxiliary z"));
    LRC_TRY(lrc_calloc(&w->t1f, (size_t)(w->chunk * rank), sizeof *w->t1f,
                       "scratch"));
    LRC_TRY(lrc_calloc(&w->out, (size_t)(d * d), sizeof *w->out, "scratch"));
    LRC_TRY(lrc_calloc(&w->Pf, (size_t)(d * rank), sizeof *w->Pf, "scratch"));
    LRC_TRY(lrc_calloc(&w->Qtf, (size_t)(d * rank), sizeof *w->Qtf, "scratch"));
    float m = 0.0f;
    for (int64_t i = 0; i < s->n; i++)
        for (int64_t j = 0; j < d; j++) {
            w->yf[i * d + j] = (float)s->y[i * d + j];
            w->yhcf[i * d + j] = (float)(s->yh[i * d + j] - w->c[j]);
            m = fmaxf(m, fabsf(w->yhcf[i * d + j]));
        }
    for (int64_t a = 0, len; a < w->n; a += len, w->nck++)
        len = chunk_len(w, a);
    double mx = (double)m;
    LRC_TRY_MPI(MPI_Allreduce(&w->nck, &w->nck_total, 1, MPI_INT64_T, MPI_SUM, comm));
    LRC_TRY_MPI(MPI_Allreduce(&mx, &w->maxyh, 1, MPI_DOUBLE, MPI_MAX, comm));
    LRC_TRY(lrc_calloc(&w->ck, (size_t)(w->nck * (d + 5)) + 1, sizeof *w->ck,
                       "chunk sums"));
    return LRC_OK;
cleanup:
    ws_free(w);
    return st;
}

/* The prediction of factor f: bias = b + P Qt c and, in double, the
 * products (Yh - c) Qt^T P^T into pred; in mixed precision the factor's
 * float copies, the products being made chunk by chunk by the sweeps
 * (predict_chunk). */
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
}

/* Mixed: the prediction (Yh - c) Qt^T P^T of the len samples of the chunk
 * that starts at local sample a, into predf, just before a sweep reads it
 * (still in cache: the n x d prediction is never stored). One product per
 * chunk: a chunk has the same rows on any rank count, while OpenBLAS may
 * sum a row in another order when the product's size changes (its
 * small-matrix kernels). */
static void predict_chunk(iter_ws *w, int64_t a, int64_t len)
{
    const int64_t d = w->d, r = w->rank;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)len, (int)r,
                (int)d, 1.0f, w->yhcf + a * d, (int)d, w->Qtf, (int)d, 0.0f,
                w->t1f, (int)r);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)len, (int)d,
                (int)r, 1.0f, w->t1f, (int)r, w->Pf, (int)r, 0.0f, w->predf,
                (int)d);
}

/* acc (d x d, double) = Z^T Yh_c over the local samples (double; the mixed
 * path is ws_cross_exact). */
static void ws_cross(iter_ws *w, double *acc)
{
    const int64_t d = w->d;
    if (w->n > 0)
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)d, (int)d,
                    (int)w->n, 1.0, w->z, (int)d, w->yhc, (int)d, 0.0, acc,
                    (int)d);
}

/* ---- mixed precision: sums that do not depend on the rank count ----
 *
 * Every sum over the samples is formed per chunk (chunks aligned to the
 * global sample index, so a chunk holds the same samples in the same order
 * on any rank count when the shards are whole chunks, as compress makes
 * them), and the chunks' partial sums are added exactly across ranks in
 * fixed point (lrc_xsum). The factor then comes out the same bits on 1, 2
 * or 64 ranks: nothing is left for the float copies to round differently. */

/* t: nck rows (stride apart) of m per-chunk partial sums; out: the m
 * totals over every rank's chunks (nck_total in all). Collective. */
static lrc_status exact_chunk_sums(MPI_Comm comm, const double *t, int64_t nck,
                                   int64_t stride, int64_t nck_total,
                                   int64_t m, double *out)
{
    lrc_status st = LRC_OK;
    lrc_xsum x;
    double mx = 0.0;
    memset(&x, 0, sizeof x);
    for (int64_t k = 0; k < nck; k++)
        for (int64_t i = 0; i < m; i++) {
            const double v = fabs(t[k * stride + i]);
            mx = isfinite(v) ? fmax(mx, v) : INFINITY;
        }
    LRC_TRY_MPI(MPI_Allreduce(MPI_IN_PLACE, &mx, 1, MPI_DOUBLE, MPI_MAX, comm));
    LRC_TRY(lrc_xsum_init(&x, m, 2.0 * (double)nck_total * mx));
    for (int64_t k = 0; k < nck; k++)
        lrc_xsum_add(&x, t + k * stride);
    LRC_TRY(lrc_xsum_reduce(comm, &x, out));
cleanup:
    lrc_xsum_free(&x);
    return st;
}

/* The z-step over every chunk (mixed): z's column sums into zsum (d), the
 * relaxed objective and the previous iterate's four error sums into red
 * (5), and max |z| over every rank into *maxz. cols: 7 d scratch. */
static lrc_status ws_zpass_exact(MPI_Comm comm, iter_ws *w, int prev,
                                 double lambda, double *cols, double *zsum,
                                 double red[5], double *maxz)
{
    lrc_status st = LRC_OK;
    const int64_t d = w->d, stride = d + 5;
    double *zm = cols + 6 * d;
    int64_t k = 0;
    memset(zm, 0, (size_t)d * sizeof *zm);
    for (int64_t a = 0, len; a < w->n; a += len, k++) {
        len = chunk_len(w, a);
        memset(cols, 0, (size_t)(6 * d) * sizeof *cols);
        double *acc[7] = {cols, cols + d, cols + 2 * d, cols + 3 * d,
                          cols + 4 * d, cols + 5 * d, zm};
        predict_chunk(w, a, len);
        zpass_f(len, d, w->yf + a * d, w->predf, w->bias,
                w->zf + a * d, prev, lambda, acc);
        double *row = w->ck + k * stride;
        memcpy(row, cols, (size_t)d * sizeof *row);
        for (int q = 0; q < 5; q++) {
            double sum = 0.0;
            for (int64_t j = 0; j < d; j++)
                sum += cols[(q + 1) * d + j];
            row[d + q] = sum;
        }
    }
    double mzd = 0.0;
    for (int64_t j = 0; j < d; j++)
        mzd = isfinite(zm[j]) ? fmax(mzd, zm[j]) : INFINITY;
    LRC_TRY_MPI(MPI_Allreduce(&mzd, maxz, 1, MPI_DOUBLE, MPI_MAX, comm));
    LRC_TRY(exact_chunk_sums(comm, w->ck, w->nck, stride, w->nck_total, d, zsum));
    LRC_TRY(exact_chunk_sums(comm, w->ck + d, w->nck, stride, w->nck_total, 5, red));
cleanup:
    return st;
}

/* Z^T (Yh - c) over every rank's samples (mixed): each chunk's float
 * product added exactly; |terms| <= n_total max|z| max|yh - c|. */
static lrc_status ws_cross_exact(MPI_Comm comm, iter_ws *w, int64_t n_total,
                                 double maxz, double *out)
{
    lrc_status st = LRC_OK;
    const int64_t d = w->d;
    lrc_xsum x;
    memset(&x, 0, sizeof x);
    LRC_TRY(lrc_xsum_init(&x, d * d, 2.0 * (double)n_total * maxz * w->maxyh));
    for (int64_t a = 0, len; a < w->n; a += len) {
        len = chunk_len(w, a);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)d, (int)d,
                    (int)len, 1.0f, w->zf + a * d, (int)d, w->yhcf + a * d,
                    (int)d, 0.0f, w->out, (int)d);
        lrc_xsum_add_f(&x, w->out);
    }
    LRC_TRY(lrc_xsum_reduce(comm, &x, out));
cleanup:
    lrc_xsum_free(&x);
    return st;
}

/* ws_errors over every rank (mixed), and in out[4] the sum of r(y)^2. */
static lrc_status ws_errors_exact(MPI_Comm comm, iter_ws *w, int with_z,
                                  double out[5])
{
    const int64_t d = w->d, stride = d + 5;
    int64_t k = 0;
    for (int64_t a = 0, len; a < w->n; a += len, k++) {
        len = chunk_len(w, a);
        double *row = w->ck + k * stride;
        predict_chunk(w, a, len);
        errors_f(len, d, w->yf + a * d, w->predf, w->bias,
                 with_z ? w->zf + a * d : NULL, row);
        double e = 0.0;
        for (int64_t i = a * d; i < (a + len) * d; i++)
            e += RELU(w->y[i]) * RELU(w->y[i]);
        row[4] = e;
    }
    return exact_chunk_sums(comm, w->ck, w->nck, stride, w->nck_total, 5, out);
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

/* lrc_stats_reduce_exact on samples that are whole chunks on every rank
 * (realign_chunks done). */
static lrc_status stats_exact_aligned(MPI_Comm comm, const lrc_samples *s,
                                      int64_t chunk, double *my, double *myh,
                                      double *A, double *B, int64_t *total)
{
    lrc_status st = LRC_OK;
    const int64_t d = s->d;
    int64_t n = s->n, n_all = 0, off = 0, nck = 0, nck_all = 0;
    int me = 0;
    double *t = NULL, *tot = NULL, *cx = NULL, *cy = NULL, *loc = NULL,
           *my_own = NULL, *myh_own = NULL;
    lrc_xsum xa, xb;
    memset(&xa, 0, sizeof xa);
    memset(&xb, 0, sizeof xb);
    if (!my) {
        LRC_TRY(lrc_calloc(&my_own, (size_t)d, sizeof *my_own, "means"));
        my = my_own;
    }
    if (!myh) {
        LRC_TRY(lrc_calloc(&myh_own, (size_t)d, sizeof *myh_own, "means"));
        myh = myh_own;
    }
    LRC_TRY_MPI(MPI_Comm_rank(comm, &me));
    LRC_TRY_MPI(MPI_Exscan(&n, &off, 1, MPI_INT64_T, MPI_SUM, comm));
    off = me == 0 ? 0 : off;
    LRC_TRY_MPI(MPI_Allreduce(&n, &n_all, 1, MPI_INT64_T, MPI_SUM, comm));
    if (n_all < 1)
        LRC_FAIL(LRC_ERR_ARG, "no response samples on any rank");
    if (chunk < 1)
        LRC_FAIL(LRC_ERR_INTERNAL, "chunk of %" PRId64 " samples", chunk);
    for (int64_t a = 0; a < n; a += aligned_len(chunk, off, a, n))
        nck++;
    LRC_TRY_MPI(MPI_Allreduce(&nck, &nck_all, 1, MPI_INT64_T, MPI_SUM, comm));
    LRC_TRY(lrc_calloc(&t, (size_t)(nck * 2 * d) + 1, sizeof *t, "chunk sums"));
    LRC_TRY(lrc_calloc(&tot, (size_t)(2 * d), sizeof *tot, "sums"));
    int64_t k = 0;
    for (int64_t a = 0, len; a < n; a += len, k++) {
        len = aligned_len(chunk, off, a, n);
        for (int64_t i = a; i < a + len; i++)
            for (int64_t j = 0; j < d; j++) {
                t[k * 2 * d + j] += s->y[i * d + j];
                t[k * 2 * d + d + j] += s->yh[i * d + j];
            }
    }
    LRC_TRY(exact_chunk_sums(comm, t, nck, 2 * d, nck_all, 2 * d, tot));
    double mx[2] = {0.0, 0.0};
    for (int64_t j = 0; j < d; j++) {
        my[j] = tot[j] / (double)n_all;
        myh[j] = tot[d + j] / (double)n_all;
    }
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++) {
            mx[0] = fmax(mx[0], fabs(s->y[i * d + j] - my[j]));
            mx[1] = fmax(mx[1], fabs(s->yh[i * d + j] - myh[j]));
        }
    LRC_TRY_MPI(MPI_Allreduce(MPI_IN_PLACE, mx, 2, MPI_DOUBLE, MPI_MAX, comm));
    LRC_TRY(lrc_xsum_init(&xa, d * d, 2.0 * (double)n_all * mx[1] * mx[1]));
    LRC_TRY(lrc_xsum_init(&xb, d * d, 2.0 * (double)n_all * mx[0] * mx[1]));
    LRC_TRY(lrc_calloc(&cx, (size_t)(chunk * d), sizeof *cx, "scratch"));
    LRC_TRY(lrc_calloc(&cy, (size_t)(chunk * d), sizeof *cy, "scratch"));
    LRC_TRY(lrc_calloc(&loc, (size_t)(d * d), sizeof *loc, "scratch"));
    for (int64_t a = 0, len; a < n; a += len) {
        len = aligned_len(chunk, off, a, n);
        for (int64_t i = 0; i < len; i++)
            for (int64_t j = 0; j < d; j++) {
                cx[i * d + j] = s->yh[(a + i) * d + j] - myh[j];
                cy[i * d + j] = s->y[(a + i) * d + j] - my[j];
            }
        if (A) {
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)d, (int)d,
                        (int)len, 1.0, cx, (int)d, cx, (int)d, 0.0, loc, (int)d);
            lrc_xsum_add(&xa, loc);
        }
        if (B) {
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)d, (int)d,
                        (int)len, 1.0, cy, (int)d, cx, (int)d, 0.0, loc, (int)d);
            lrc_xsum_add(&xb, loc);
        }
    }
    if (A)
        LRC_TRY(lrc_xsum_reduce(comm, &xa, A));
    if (B)
        LRC_TRY(lrc_xsum_reduce(comm, &xb, B));
    *total = n_all;
cleanup:
    lrc_xsum_free(&xa);
    lrc_xsum_free(&xb);
    lrc_free(&t);
    lrc_free(&tot);
    lrc_free(&cx);
    lrc_free(&cy);
    lrc_free(&loc);
    lrc_free(&my_own);
    lrc_free(&myh_own);
    return st;
}

lrc_status lrc_stats_reduce_exact(MPI_Comm comm, const lrc_samples *s,
                                  int64_t chunk, double *my, double *myh,
                                  double *A, double *B, int64_t *total)
{
    lrc_status st = LRC_OK;
    double *moved = NULL;
    lrc_samples al;
    LRC_TRY(realign_chunks(comm, s, chunk, &al, &moved));
    LRC_TRY(stats_exact_aligned(comm, &al, chunk, my, myh, A, B, total));
cleanup:
    lrc_free(&moved);
    return st;
}

lrc_status lrc_solve_layer(MPI_Comm comm, const lrc_samples *s_in,
                           int64_t rank, int nonlinear,
                           const lrc_nonlinear_params *p, lrc_lowrank *f,
                           lrc_solve_report *report)
{
    lrc_status st = LRC_OK;
    const int64_t d = s_in->d;
    const size_t dd = (size_t)(d * d);
    double *A = NULL, *Ap = NULL, *B = NULL, *my = NULL, *myh = NULL,
           *buf = NULL, *zbar = NULL, *cols = NULL, *moved = NULL;
    lrc_samples al = *s_in;
    const lrc_samples *s = &al;
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
    const int64_t chunk = p->mixed_chunk > 0 ? p->mixed_chunk : 512;
    if (p->mixed_precision) /* whole chunks on every rank (see above) */
        LRC_TRY(realign_chunks(comm, s_in, chunk, &al, &moved));
    if (p->mixed_precision)
        LRC_TRY(stats_exact_aligned(comm, s, chunk, my, myh, A, B, &n));
    else
        LRC_TRY(lrc_stats_reduce(comm, s, my, myh, A, B, NULL, &n));
    LRC_TRY(lrc_lowrank_alloc(f, d, rank));
    LRC_TRY(ws_alloc(comm, s, myh, rank, p->mixed_precision, chunk, &w));

    /* Linear solution: Z = Y. A^+ serves every iteration after it. Wide
     * layers are solved by all ranks together with ScaLAPACK; narrow ones
     * by rank 0 alone (a process grid costs more than it saves there). */
    /* (mixed: always rank 0, so that the factor does not depend on the
     * rank count through the process grid either) */
    const int scal = nranks > 1 && d >= p->scalapack_min_d && !p->mixed_precision;
    const MPI_Comm ec = scal ? comm : MPI_COMM_NULL;
    if (scal || myrank == 0) {
        LRC_TRY(lrc_calloc(&Ap, dd, sizeof *Ap, "pseudo-inverse"));
        LRC_TRY(lrc_pinv_sym(ec, d, A, p->rel_tol, Ap));
        LRC_TRY(lrc_solve_rrr_pinv(ec, d, rank, Ap, B, my, myh, f));
    }
    LRC_TRY(bcast_factor(comm, f));
    ws_predict(&w, f);
    double e[5];
    if (w.mixed) {
        LRC_TRY(ws_errors_exact(comm, &w, 0, e));
        e[2] = e[4];
    } else {
        errors_d(w.n, w.d, w.y, w.pred, w.bias, NULL, e);
        e[2] = 0.0;
        for (int64_t i = 0; i < s->n * d; i++)
            e[2] += RELU(s->y[i]) * RELU(s->y[i]);
        LRC_TRY_MPI(MPI_Allreduce(MPI_IN_PLACE, e, 3, MPI_DOUBLE, MPI_SUM, comm));
    }
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
    LRC_TRY(lrc_calloc(&cols, (size_t)(7 * d), sizeof *cols, "column sums"));
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
        double maxz = 0.0;
        if (it < iters && w.mixed) {
            LRC_TRY(ws_zpass_exact(comm, &w, it > 0, lambda, cols, zsum, red,
                                   &maxz));
        } else if (it < iters) {
            double *acc[7] = {zsum, cols, cols + d, cols + 2 * d, cols + 3 * d,
                              cols + 4 * d, NULL};
            memset(cols, 0, (size_t)(5 * d) * sizeof *cols);
            zpass_d(w.n, w.d, w.y, w.pred, w.bias, w.z, it > 0, lambda, acc);
            for (int k = 0; k < 5; k++)
                for (int64_t j = 0; j < d; j++)
                    red[k] += cols[k * d + j];
        } else if (w.mixed) {
            double e5[5];
            LRC_TRY(ws_errors_exact(comm, &w, 1, e5));
            memcpy(red + 1, e5, 4 * sizeof *red);
        } else {
            errors_d(w.n, w.d, w.y, w.pred, w.bias, w.z, red + 1);
        }
        t1 = lrc_wtime();
        if (report)
            report->seconds[0] += t1 - t0;
        if (it < iters) {
            /* (M, b)-step: B = Z_c Yh_c^T = sum_i z_i (yh_i - yhbar)^T. */
            if (w.mixed) {
                LRC_TRY(ws_cross_exact(comm, &w, n, maxz, buf));
            } else {
                ws_cross(&w, buf);
                LRC_TRY_MPI(MPI_Allreduce(MPI_IN_PLACE, buf, (int)nbuf,
                                          MPI_DOUBLE, MPI_SUM, comm));
            }
            if (report)
                report->seconds[1] += lrc_wtime() - t1;
        } else if (!w.mixed) {
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
    lrc_free(&moved);
    if (st != LRC_OK) {
        lrc_lowrank_free(f);
        if (report)
            lrc_solve_report_free(report);
    }
    return st;
}
