/* lrc method: the low-rank approximation of conv layer responses (Zhang, Zou,
 * He, Sun, CVPR 2015 / TPAMI 2016; equations in docs/METHOD.md).
 *
 * A conv layer's pre-activation response y = W x + b0 (d values per output
 * pixel) is approximated by y' = M yhat + b with M = P Q^T of rank d', where
 * yhat is the response to the input produced by the already-approximated
 * layers below (yhat = y for the symmetric methods). The layer is then
 * replaced by a conv of d' filters (Q^T W, bias Q^T b0) and a 1x1 conv
 * (weights P, bias b). */
#ifndef LRC_METHOD_H
#define LRC_METHOD_H

#include <mpi.h>

#include "lrc/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum lrc_method {
    LRC_METHOD_NONLINEAR_ASYM = 0, /* default: the papers' method */
    LRC_METHOD_NONLINEAR,          /* nonlinear, symmetric (yhat = y) */
    LRC_METHOD_LINEAR_ASYM,        /* reduced-rank regression on yhat */
    LRC_METHOD_LINEAR,             /* response PCA */
    LRC_METHOD_SVD,                /* data-free truncated SVD of W */
    LRC_METHOD_3D                  /* spatial k x 1 / 1 x k, then asym. nonlinear */
} lrc_method;

const char *lrc_method_name(lrc_method m);
/* Parses "nonlinear-asym", "nonlinear", "linear-asym", "linear", "svd",
 * "3d". */
lrc_status lrc_method_parse(const char *s, lrc_method *m);
/* The same without reporting: 1 when s names a method, else 0. */
int lrc_method_lookup(const char *s, lrc_method *m);

/* "mixed" -> 1, "double" -> 0 (lrc_nonlinear_params.mixed_precision). */
lrc_status lrc_precision_parse(const char *s, int *mixed);
/* Whether the method fits on asymmetric inputs (yhat from approximated
 * layers) and whether it runs the nonlinear iterations. */
int lrc_method_is_asym(lrc_method m);
int lrc_method_is_nonlinear(lrc_method m);

/* ---- the factors ---- */

/* y' = P (Qt yhat) + b. P is d x rank, Qt rank x d, both row-major. */
typedef struct lrc_lowrank {
    int64_t d, rank;
    double *P, *Qt, *b;
} lrc_lowrank;

lrc_status lrc_lowrank_alloc(lrc_lowrank *f, int64_t d, int64_t rank);
void lrc_lowrank_free(lrc_lowrank *f);

/* ---- samples of one layer's responses on this rank ---- */

/* n local samples; sample i is the d values y + i*d (and yh + i*d). For the
 * symmetric methods yh == y. */
typedef struct lrc_samples {
    int64_t d, n;
    const double *y;
    const double *yh;
} lrc_samples;

/* ---- statistics (Collective: summed over comm) ---- */

/* Means and centred second moments over all ranks' samples:
 * mean_y, mean_yh (d), A = Yh_c Yh_c^T, B = Y_c Yh_c^T, C = Y_c Y_c^T
 * (d x d row-major; any output may be NULL). total receives the global
 * sample count. Collective. */
lrc_status lrc_stats_reduce(MPI_Comm comm, const lrc_samples *s,
                            double *mean_y, double *mean_yh, double *A,
                            double *B, double *C, int64_t *total);
/* The same means, A and B, exact: formed per chunk of `chunk` samples
 * aligned to the global sample index and added across ranks in fixed point
 * (lrc_xsum), so they are the same bits on any rank count when every
 * rank's samples are whole chunks (mixed precision). Any output may be
 * NULL. Collective. */
lrc_status lrc_stats_reduce_exact(MPI_Comm comm, const lrc_samples *s,
                                  int64_t chunk, double *mean_y,
                                  double *mean_yh, double *A, double *B,
                                  int64_t *total);

/* Eigen-decomposition of a symmetric d x d matrix (row-major), eigenvalues
 * in DESCENDING order; V (may be NULL) receives eigenvectors as columns
 * (row-major d x d: V[i*d + j] is component i of vector j). Not Collective. */
lrc_status lrc_eig_sym(int64_t d, const double *S, double *w, double *V);

/* ---- solvers ---- */

/* The (M, b)-step / linear solution, a reduced-rank regression of Z on Yh:
 * given A = Yh_c Yh_c^T, B = Z_c Yh_c^T and the means, sets f to the rank-d'
 * minimiser of sum ||z - (M yh + b)||^2: U = top d' eigenvectors of
 * B A^+ B^T, P = U, Qt = U^T B A^+, b = zbar - P Qt yhbar. A^+ is the
 * pseudo-inverse (eigenvalues below rel_tol * largest are dropped), so a
 * rank-deficient A (dead filters, few samples) is handled. Not Collective. */
lrc_status lrc_solve_rrr(int64_t d, int64_t rank, const double *A,
                         const double *B, const double *mean_z,
                         const double *mean_yh, double rel_tol,
                         lrc_lowrank *f);

typedef struct lrc_nonlinear_params {
    int iters_small;      /* iterations at lambda_small (default 25) */
    int iters_large;      /* iterations at lambda_large (default 25) */
    double lambda_small;  /* default 0.01 */
    double lambda_large;  /* default 1.0 */
    double rel_tol;       /* pseudo-inverse threshold (default 1e-10) */
    int64_t scalapack_min_d; /* under MPI, layers with d >= this solve their
                                eigen problems with ScaLAPACK on all ranks
                                (default 1024); narrower ones on rank 0
                                with LAPACK (at d = 512, 22 ms per
                                iteration on one core: ScaLAPACK on 2
                                ranks was no faster, and VGG-16's compress
                                took 8% longer with it) */
    int mixed_precision;  /* 1 (default): the iterations' two products over
                             the samples (Z^T Yh and the prediction) in
                             float sgemm and the sweeps on float arrays,
                             every d x d solve in double (on rank 0), and
                             every sum over the samples formed per chunk
                             and added exactly across ranks in fixed point
                             (the samples of a chunk that straddles two
                             ranks are moved to one first): about twice
                             faster than 0, the same errors within 1e-4
                             relative, and the same bits on any rank
                             count. 0: all in double (weights agree across
                             rank counts within about 1e-10). */
    int64_t mixed_chunk;  /* mixed: samples per chunk (default 512),
                             aligned to the global sample index */
} lrc_nonlinear_params;

void lrc_nonlinear_defaults(lrc_nonlinear_params *p);

/* Per-iteration record of the nonlinear solver (all summed over ranks and
 * divided by the global sample count). */
typedef struct lrc_solve_report {
    int64_t samples;        /* global sample count */
    double target_energy;   /* mean ||r(y)||^2: errors relative to it are fractions */
    double linear_error;    /* mean ||r(y) - r(M yh + b)||^2, linear solution */
    double final_error;     /* the same for the returned solution */
    double linear_lsq;      /* mean ||y - (M yh + b)||^2, linear solution */
    int iters;              /* iterations run */
    int best_iter;          /* iteration whose solution is returned (-1: linear) */
    double *lambda;         /* [iters] */
    double *relaxed;        /* [iters] relaxed objective after the z-step */
    double *relaxed_m;      /* [iters] relaxed objective after the (M,b)-step */
    double *nonlinear;      /* [iters] ||r(y) - r(M yh + b)||^2 after (M,b)-step */
    double seconds[4];      /* this rank's time in the iterations: z-step and
                               error sweeps, the Z^T Yh products, the d x d
                               solves (with their waits), the predictions
                               (mixed precision makes them inside the
                               sweeps: counted in the first) */
} lrc_solve_report;

void lrc_solve_report_free(lrc_solve_report *r);

/* The elementwise z-step: argmin_z (t - r(z))^2 + lambda (z - p)^2 for
 * target t = r(y) >= 0 and prediction p. */
double lrc_zstep(double t, double p, double lambda);

/* Solves one layer on the samples spread over comm's ranks: the linear
 * solution (symmetric or asymmetric by what s->yh holds), then, with
 * `nonlinear`, the alternating iterations; the iterate with the lowest
 * nonlinear error (the linear start included) is returned. f receives a new
 * factor (free it with lrc_lowrank_free); every rank returns the same f
 * (rank 0's, broadcast). `report` may be NULL; free it with
 * lrc_solve_report_free. Collective. */
lrc_status lrc_solve_layer(MPI_Comm comm, const lrc_samples *s, int64_t rank,
                           int nonlinear, const lrc_nonlinear_params *p,
                           lrc_lowrank *f, lrc_solve_report *report);

/* Mean errors of a factor on the samples over all ranks: nonlinear
 * ||r(y) - r(M yh + b)||^2 and least-squares ||y - (M yh + b)||^2 per
 * sample; *total receives the global sample count. Collective. */
lrc_status lrc_factor_errors(MPI_Comm comm, const lrc_samples *s,
                             const lrc_lowrank *f, double *nonlinear,
                             double *lsq, double *target, int64_t *total);

/* ---- rank selection ---- */

/* One candidate layer for rank selection. */
typedef struct lrc_rank_layer {
    int64_t d;              /* filters */
    int64_t kkc;            /* k * k * c, the filter size */
    int64_t hw;             /* output pixels per image */
    const double *eig;      /* d eigenvalues of the response covariance, descending */
    /* Optional (0 = the plain channel decomposition): the original cost
     * (default d * kkc * hw) and a rank-independent cost of the decomposed
     * form (the k x 1 layer of the 3d method). Decomposed cost at rank r:
     * extra + r (kkc + d) hw. */
    int64_t orig;
    int64_t extra;
} lrc_rank_layer;

/* Greedy rank selection of the papers: start at d'_l = d_l and lower, one
 * step at a time, the rank of the layer whose relative energy loss per
 * multiply-add saved, (eig[d'-1] / sum_{a<d'} eig[a]) / ((kkc + d) * hw), is
 * smallest, until the whole-model conv cost is within total_cost / speedup.
 * Layers not in the list cost `fixed_cost` (multiply-adds per image). A
 * layer whose decomposed cost d'(kkc + d) hw is not below its original
 * d kkc hw counts at its original cost and keeps d' = d (its original form).
 * ranks[l] receives d'_l (d'_l == d_l means: keep the layer as it is).
 * *achieved receives the theoretical whole-model speedup. A speedup that
 * no ranks can reach (all at 1) is LRC_ERR_ARG. Not Collective. */
lrc_status lrc_select_ranks(const lrc_rank_layer *layers, int64_t n,
                            int64_t fixed_cost, double speedup,
                            int64_t *ranks, double *achieved);

/* Cost (multiply-adds per image) of layer l at rank r under the rule above. */
int64_t lrc_rank_cost(const lrc_rank_layer *l, int64_t r);

/* ---- decomposition ---- */

/* Builds the two layers that replace conv `conv`: `a` (rank filters,
 * kh x kw x c, Qt W, bias Qt b0) and `b` (1x1, weights P, bias f->b). Names
 * are "<name>_lrA" / "<name>_lrB". The caller frees them with
 * lrc_layer_release. Not Collective. */
lrc_status lrc_decompose_conv(const lrc_layer *conv, const lrc_lowrank *f,
                              lrc_layer *a, lrc_layer *b);
void lrc_layer_release(lrc_layer *l);

/* The spatial split of the 3d method (Jaderberg et al.'s second scheme, by
 * SVD of the weights arranged as (c k) x (d k)): a k x k conv becomes `v`, a
 * k x 1 conv of `rank` filters (no bias, the conv's vertical stride and
 * pads), then `h`, a 1 x k conv of d filters (the conv's bias, horizontal
 * stride and pads), named `h_name`. At rank min(c k, d k) it is exact.
 * The caller frees both with lrc_layer_release. Not Collective. */
lrc_status lrc_spatial_split(const lrc_layer *conv, int64_t rank,
                             const char *h_name, lrc_layer *v, lrc_layer *h);

/* Data-free truncated SVD of the conv weights as a rank-d' factorisation:
 * W ~= U U^T W, so P = U, Qt = U^T (applied to y = W x + b0, with
 * b = (I - U U^T) b0 to keep the bias exact). Not Collective. */
lrc_status lrc_svd_factor(const lrc_layer *conv, int64_t rank, lrc_lowrank *f);

#ifdef __cplusplus
}
#endif
#endif
