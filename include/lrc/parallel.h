/* lrc parallel: dense linear algebra spread over the ranks of a
 * communicator, with ScaLAPACK on a BLACS process grid.
 *
 * Inputs are replicated (every rank holds the same matrix) and so are the
 * results, so a caller can swap a serial solve (lrc_eig_sym) for its parallel
 * twin without changing what it does with the answer. */
#ifndef LRC_PARALLEL_H
#define LRC_PARALLEL_H

#include <mpi.h>
#include <stdint.h>

#include "lrc/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The sign convention of every eigen-solver of lrcompress (lrc_eig_sym,
 * lrc_peig_sym and the solver's top eigenvectors): eigenvectors have no
 * sign of their own but the exported weights do, so in each column of the
 * row-major rows x cols matrix V the first largest-magnitude component is
 * made positive. The same matrix up to rounding then gives the same
 * weights on any rank count. Not Collective. */
void lrc_eigvec_fix_signs(int64_t rows, int64_t cols, double *V);

/* The block size (rows and columns of one block of the block-cyclic
 * distribution) used when a caller passes nb = 0. */
#define LRC_SCALAPACK_NB 64

/* The process grid lrc_peig_sym uses for a d x d matrix in nb x nb blocks
 * (nb = 0: LRC_SCALAPACK_NB) on `nranks` ranks: the most square
 * nprow x npcol = p (nprow the largest divisor of p not above its square
 * root: 1x1, 1x2, 1x3, 2x2, 2x3, 1x7, 3x4, ...) for the largest p <= nranks
 * whose grid has no more process columns than the matrix has blocks per
 * side, so that every process in the grid holds part of the matrix. Ranks
 * nprow*npcol .. nranks-1 stay outside the grid; that happens for small
 * matrices only (with nb = 64, 3 ranks all take part from d = 129 on, 4
 * from d = 65). Not Collective. */
void lrc_grid_shape(int nranks, int64_t d, int64_t nb, int *nprow, int *npcol);

/* Eigen-decomposition of the symmetric d x d matrix S (row-major; only its
 * upper triangle is read, as lrc_eig_sym does), which every rank of comm
 * holds in an identical copy, with ScaLAPACK's pdsyevd on the grid of
 * lrc_grid_shape(size of comm, d, nb), block-cyclic with nb x nb blocks
 * (nb = 0: LRC_SCALAPACK_NB). Ranks outside the grid wait in the final
 * gathers and return the same results.
 *
 * Every rank returns the same w (d eigenvalues, descending) and, if V is not
 * NULL, the same V (d x d row-major, eigenvector j in column j, the sign of
 * each column chosen so that its largest-magnitude component is positive):
 * the conventions of lrc_eig_sym, bitwise identical on all ranks. With
 * V = NULL the eigenvectors are still computed (pdsyevd has no
 * values-only mode) but not gathered.
 *
 * d, nb and whether V is NULL must agree across ranks; a rank that
 * disagrees makes every rank return LRC_ERR_ARG. Errors: LRC_ERR_ARG (d < 1,
 * d > INT32_MAX, nb < 0 or > INT32_MAX, NULL S or w), LRC_ERR_NUMERIC (a
 * non-finite entry in S), LRC_ERR_LAPACK (pdsyevd did not converge),
 * LRC_ERR_UNSUPPORTED (a rank's share too large for ScaLAPACK's 32-bit
 * indices), LRC_ERR_NOMEM, LRC_ERR_INTERNAL. A failure on any rank is returned on
 * every rank (the rank that saw it prints the message); no rank is left
 * waiting in a collective. Besides V, each grid rank uses about
 * 4 d^2 / (nprow npcol) doubles of scratch. pdsyevd runs with BLACS'
 * repeatable summation order, so the same S on the same grid gives the same
 * bits from run to run. BLACS keeps global state: not thread-safe.
 * Collective on comm. */
lrc_status lrc_peig_sym(MPI_Comm comm, int64_t d, const double *S, double *w,
                        double *V, int64_t nb);

/* Exact sums across ranks, independent of the rank count and of the order
 * of the terms: 64-bit fixed point. Every term is rounded to a multiple of
 * 2^-e (the same e on every rank, from a bound that the caller computes
 * with order-independent reductions: a count and MPI_MAX of magnitudes),
 * and integers add exactly. A term is a partial sum that the caller
 * computes the same way on any rank count (e.g. over a chunk of samples
 * aligned to global indices), so the result is the same bits on 1, 2 or 64
 * ranks. Rounding error: at most half a unit of 2^-e per term, with 2^-e
 * about bound / 2^61. */
typedef struct lrc_xsum {
    int64_t n;      /* values */
    int64_t *acc;   /* n fixed-point sums */
    double scale;   /* 2^e */
} lrc_xsum;

/* n sums whose terms, in absolute value and added over every rank, stay
 * below `bound` (bound <= 0: all terms are zero). The caller frees with
 * lrc_xsum_free. Not Collective. */
lrc_status lrc_xsum_init(lrc_xsum *x, int64_t n, double bound);
void lrc_xsum_free(lrc_xsum *x);
/* acc[i] += v[i] rounded to the fixed point (v holds n values). */
void lrc_xsum_add(lrc_xsum *x, const double *v);
void lrc_xsum_add_f(lrc_xsum *x, const float *v);
/* Sums acc over the ranks (exactly) and writes the n sums as doubles to
 * out. Collective on comm. */
lrc_status lrc_xsum_reduce(MPI_Comm comm, lrc_xsum *x, double *out);

#ifdef __cplusplus
}
#endif
#endif
