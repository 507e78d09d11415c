/* Private to src/method. */
#ifndef LRC_METHOD_IMPL_H
#define LRC_METHOD_IMPL_H

#include <mpi.h>

#include "lrc/method.h"

/* out (d x d) = sum_i (X_i - mx)(Y_i - my)^T over n samples of d values
 * (sample-major, row i at X + i*d); mx/my may be NULL for zero. chunk_x and
 * chunk_y hold chunk*d doubles of scratch. Not Collective. */
void lrc_gram_centered(int64_t n, int64_t d, const double *X, const double *mx,
                       const double *Y, const double *my, double *out,
                       double *chunk_x, double *chunk_y, int64_t chunk);

/* A^+ of a symmetric d x d matrix: eigenvalues below rel_tol * largest
 * dropped. With eig_comm != MPI_COMM_NULL the eigen-decomposition runs
 * with ScaLAPACK over eig_comm (Collective on it; every rank passes the
 * same A and gets the same A^+); else on this rank (Not Collective). */
lrc_status lrc_pinv_sym(MPI_Comm eig_comm, int64_t d, const double *A,
                        double rel_tol, double *Ap);

/* lrc_solve_rrr with the pseudo-inverse of A given (it does not change over
 * the nonlinear iterations); eig_comm as for lrc_pinv_sym. */
lrc_status lrc_solve_rrr_pinv(MPI_Comm eig_comm, int64_t d, int64_t rank,
                              const double *Ap, const double *B,
                              const double *mean_z, const double *mean_yh,
                              lrc_lowrank *f);

/* Samples per dgemm chunk in lrc_gram_centered. */
#define LRC_GRAM_CHUNK 2048

#endif
